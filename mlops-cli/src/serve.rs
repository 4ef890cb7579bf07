//! `mlops serve`: filled by the serving issue (HTTP server over registry versions).

use std::process::ExitCode;

use anyhow::{bail, Result};

use crate::Format;

/// Arguments of `mlops serve` (the HTTP server lands with the deployment issue).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Registry store URI (directory path, `file://PATH` or `s3://bucket/prefix`).
    #[arg(long, default_value = "./mlops-registry")]
    store: String,
    /// Model to serve, e.g. `churn@production`.
    #[arg(long)]
    model: Option<String>,
}

/// Runs `mlops serve`.
///
/// # Errors
/// Always, for now: this build has no HTTP server yet, and says so instead of pretending.
pub fn run(args: Args, _format: Format) -> Result<ExitCode> {
    bail!(
        "`mlops serve` is not available in this build yet (store {:?}, model {:?}): \
         the HTTP server is tracked by the deployment issue",
        args.store,
        args.model
    )
}
