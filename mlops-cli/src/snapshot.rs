//! `mlops snapshot PATH...`: digest files into a dataset snapshot.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use mlops_core::{Sha256Digest, SnapshotBuilder};

use crate::output::print_json;
use crate::Format;

/// Arguments of `mlops snapshot`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Files or directories (walked recursively). Order does not change the digest.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Where the data came from (recorded, not read).
    #[arg(long)]
    source_uri: Option<String>,
    /// Digest of a parent snapshot (repeatable): lineage.
    #[arg(long = "parent", value_name = "DIGEST")]
    parents: Vec<Sha256Digest>,
}

/// Runs `mlops snapshot`.
///
/// # Errors
/// When a path cannot be read (the message names it).
pub fn run(args: Args, format: Format) -> Result<ExitCode> {
    let cwd = std::env::current_dir().context("reading the current directory")?;
    let mut b = SnapshotBuilder::new()
        .paths(args.paths)
        .detect_git_commit(cwd);
    if let Some(uri) = args.source_uri {
        b = b.with_source_uri(uri);
    }
    for p in args.parents {
        b = b.with_parent(p);
    }
    let snap = b.build()?;
    match format {
        Format::Json => print_json(&snap)?,
        Format::Text => {
            println!("digest      {}", snap.digest);
            println!("files       {}", snap.files.len());
            println!("bytes       {}", snap.total_bytes);
            if let Some(r) = snap.row_count {
                println!("rows        {r}");
            }
            if let Some(c) = &snap.git_commit {
                println!("git commit  {c}");
            }
            for f in &snap.files {
                println!("  {}  {:>12}  {}", f.digest, f.size, f.path);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
