//! `cargo run --release --example quickstart`: the life of a model, end to end.

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MLOPS_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let dir = tempfile::Builder::new()
        .prefix("mlops-quickstart-")
        .tempdir()?;
    let mut stdout = std::io::stdout().lock();
    mlops_examples::quickstart::run(dir.path(), &mut stdout)?;
    Ok(())
}
