//! `mlops registry`: filled by the registry issue.

use std::process::ExitCode;

use anyhow::{bail, Result};

/// Arguments of `mlops registry`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Registry store URI.
    #[arg(long)]
    store: Option<String>,
}

/// Runs `mlops registry`.
///
/// # Errors
/// Always, until the registry issue lands.
pub fn run(_args: Args, _format: crate::FormatWords) -> Result<ExitCode> {
    bail!("`mlops registry` is not available in this build yet")
}
