//! `mlops`: the command-line face of mlops-rs.
//!
//! Conventions shared by every subcommand:
//! - `--format json|text` (global, default `text`) selects the output form;
//! - results go to stdout, errors to stderr, and any failure exits non-zero.

mod drift;
mod hpo;
mod monitor;
mod output;
mod pipeline;
mod registry;
mod serve;
mod snapshot;
mod ui;
mod validate;

use std::process::ExitCode;

/// mimalloc instead of glibc's malloc: reading a prediction log allocates a few small strings per
/// record, and `mlops monitor report` over 1.25M logged rows spent ~30 % of its time in
/// malloc/free (perf); see ARCHITECTURE.md.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};

pub use output::{Format, FormatWords};

/// Run, version, monitor and serve machine-learning models.
#[derive(Debug, Parser)]
#[command(name = "mlops", version, about, long_about = None)]
struct Cli {
    /// Output format: `json` or `text`; reports also take `html` (`mlops drift`, `mlops monitor report`). (`mlops registry register` also accepts an
    /// artifact format here, e.g. `--format onnx`.)
    #[arg(long, global = true, value_name = "FORMAT", action = clap::ArgAction::Append)]
    format: Vec<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
// Parsed once per process: the size difference of the variants does not matter.
#[allow(clippy::large_enum_variant)]
enum Command {
    /// Digest files into a dataset snapshot (order-independent SHA-256 of their contents).
    Snapshot(snapshot::Args),
    /// Compare a current dataset with a reference and report drift.
    Drift(drift::Args),
    /// Work with a model registry (register, list, aliases, rollback, gc, verify).
    Registry(registry::Args),
    /// Serve registry models over HTTP (Open Inference Protocol v2).
    Serve(Box<serve::Args>),
    /// Monitor served models: windowed performance, delayed labels, CBPE estimates, drift,
    /// KPIs, A/B results and alerts over a prediction log.
    Monitor(monitor::Args),
    /// Hyperparameter optimisation on a crash-safe journal (run, resume, show).
    Hpo(hpo::Args),
    /// Training pipelines: a DAG of cached steps (`run`).
    Pipeline(pipeline::Args),
    /// Data validation: infer a schema of expectations, check batches against it.
    Validate(validate::Args),
    /// The web console alone (models, monitoring, pipelines) over a registry and a prediction
    /// log; `mlops serve --ui` serves it next to live deployments.
    Ui(ui::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MLOPS_LOG")
                // Library functions report failures twice over: as the error they return
                // (printed once below) and as an `err` event of their span. Only the first
                // is shown unless MLOPS_LOG asks for more.
                .unwrap_or_else(|_| {
                    tracing_subscriber::EnvFilter::new(
                        "warn,mlops_core=off,mlops_drift=off,mlops_registry=off,mlops_monitor=off,mlops_pipeline=off,mlops_validate=off",
                    )
                }),
        )
        .with_writer(std::io::stderr)
        .init();
    let words = FormatWords::new(cli.format);
    let result = match cli.command {
        Command::Snapshot(args) => words.output_only().and_then(|f| snapshot::run(args, f)),
        Command::Drift(args) => drift::run(args, &words),
        Command::Registry(args) => registry::run(args, words),
        Command::Serve(args) => words.output_only().and_then(|f| serve::run(*args, f)),
        Command::Monitor(args) => monitor::run(args, &words),
        Command::Hpo(args) => words.output_only().and_then(|f| hpo::run(args, f)),
        Command::Pipeline(args) => words.output_only().and_then(|f| pipeline::run(args, f)),
        Command::Validate(args) => validate::run(args, words),
        Command::Ui(args) => words.output_only().and_then(|f| ui::run(args, f)),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", plain(&e));
            ExitCode::from(2)
        }
    }
}

/// The error and its causes on one line, each said once: library errors often repeat their
/// source in their own message (`{path}: {source}`), which `{:#}` would print twice.
fn plain(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}
