//! `mlops drift`: filled by the drift issue.

use std::process::ExitCode;

use anyhow::{bail, Result};

use crate::Format;

/// Arguments of `mlops drift`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Reference data (CSV or Parquet).
    #[arg(long)]
    reference: Option<std::path::PathBuf>,
}

/// Runs `mlops drift`.
///
/// # Errors
/// Always, until the drift issue lands.
pub fn run(_args: Args, _format: Format) -> Result<ExitCode> {
    bail!("`mlops drift` is not available in this build yet")
}
