//! `mlops snapshot`: filled by the snapshot work.

use std::process::ExitCode;

use anyhow::{bail, Result};

use crate::Format;

/// Arguments of `mlops snapshot`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Reference data (CSV or Parquet).
    #[arg(long)]
    reference: Option<std::path::PathBuf>,
}

/// Runs `mlops snapshot`.
///
/// # Errors
/// Always, until the snapshot work lands.
pub fn run(_args: Args, _format: Format) -> Result<ExitCode> {
    bail!("`mlops snapshot` is not available in this build yet")
}
