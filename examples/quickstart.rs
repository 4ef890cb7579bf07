//! `cargo run --release --example quickstart`: the life of a model, end to end.

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            // v3 refusing the "trial" plan is part of the story: its per-request errors are
            // counted by the controller, not printed (MLOPS_LOG=warn shows them).
            tracing_subscriber::EnvFilter::try_from_env("MLOPS_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error,mlops_core=off")),
        )
        // Diagnostics to stderr: stdout is the story, and the story holds stdout's lock.
        .with_writer(std::io::stderr)
        .init();
    let dir = tempfile::Builder::new()
        .prefix("mlops-quickstart-")
        .tempdir()?;
    let mut stdout = std::io::stdout().lock();
    mlops_examples::quickstart::run(dir.path(), &mut stdout)?;
    Ok(())
}
