//! `mlops validate`: infer a schema of expectations from reference data, check batches
//! against it.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use mlops_drift::ReferenceProfile;
use mlops_validate::{CheckOptions, InferOptions, Report, Schema, Severity};

use crate::FormatWords;

/// `mlops validate …`
#[derive(Debug, Parser)]
pub struct Args {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Infer a schema (types, missing bounds, ranges, domains, uniqueness, lengths, patterns,
    /// freshness, row count) from reference data, as editable TOML.
    Infer(InferArgs),
    /// Check data against a schema (and, with a reference, training–serving skew).
    /// Exit 0 clean, 1 on anomalies at or above --fail-on, 2 on bad input.
    Check(CheckArgs),
}

#[derive(Debug, Parser)]
struct InferArgs {
    /// Reference data (CSV or Parquet).
    data: PathBuf,
    /// Where to write the schema (default: stdout).
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Range widening as a fraction of the observed span, each side.
    #[arg(long, default_value_t = 0.1)]
    range_margin: f64,
    /// `mostly` of the inferred ranges.
    #[arg(long, default_value_t = 0.999)]
    range_mostly: f64,
    /// Most distinct values for a text column to get a domain.
    #[arg(long, default_value_t = 50)]
    max_domain: usize,
    /// Allowed fraction of unknown categories in a domain.
    #[arg(long, default_value_t = 0.0)]
    unknown_fraction: f64,
}

#[derive(Debug, Parser)]
struct CheckArgs {
    /// The schema (TOML, from `mlops validate infer` or written by hand).
    #[arg(long)]
    schema: PathBuf,
    /// The data to check (CSV or Parquet).
    data: PathBuf,
    /// Reference data for skew (L∞ for categorical, JS distance for numeric columns).
    #[arg(long, conflicts_with = "reference_profile")]
    reference: Option<PathBuf>,
    /// A reference profile (`mlops drift profile`) for skew.
    #[arg(long)]
    reference_profile: Option<PathBuf>,
    /// Lowest severity that makes the exit status 1.
    #[arg(long, default_value = "error")]
    fail_on: String,
    /// "Now" for freshness (RFC 3339; default: the clock).
    #[arg(long)]
    now: Option<String>,
    /// Offending cells shown per anomaly.
    #[arg(long, default_value_t = 5)]
    examples: usize,
    /// Write the report here instead of stdout.
    #[arg(short, long)]
    output: Option<PathBuf>,
}

/// Runs `mlops validate`.
///
/// # Errors
/// Unreadable or malformed input, or an invalid schema (exit 2 via main).
pub fn run(args: Args, words: FormatWords) -> Result<ExitCode> {
    match args.command {
        Cmd::Infer(a) => {
            words.output_only()?;
            infer(a)
        }
        Cmd::Check(a) => {
            let (format, other) = words.split()?;
            let html = match other.as_slice() {
                [] => false,
                [w] if w == "html" => true,
                [w, ..] => bail!("invalid --format {w:?}: expected json, text or html"),
            };
            check(a, if html { Out::Html } else { Out::from(format) })
        }
    }
}

#[derive(Clone, Copy)]
enum Out {
    Text,
    Json,
    Html,
}

impl From<crate::Format> for Out {
    fn from(f: crate::Format) -> Self {
        match f {
            crate::Format::Json => Out::Json,
            crate::Format::Text => Out::Text,
        }
    }
}

/// A progress line on stderr when it is a terminal: rows, rows/s, percent and ETA.
pub(crate) struct Progress {
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    pub(crate) fn new(what: &str) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{msg} [{bar:30}] {percent:>3}% · {prefix} · ETA {eta}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_message(what.to_owned());
            bar
        });
        Self { bar }
    }

    pub(crate) fn update(&mut self, rows: u64, bytes: u64, total: Option<u64>) {
        if let Some(bar) = &self.bar {
            if let Some(t) = total {
                bar.set_length(t);
            }
            bar.set_position(bytes);
            let secs = bar.elapsed().as_secs_f64().max(1e-9);
            bar.set_prefix(format!("{rows} rows, {:.0} rows/s", rows as f64 / secs));
        }
    }

    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

fn infer(a: InferArgs) -> Result<ExitCode> {
    let options = InferOptions {
        range_margin: a.range_margin,
        range_mostly: a.range_mostly,
        max_domain: a.max_domain,
        unknown_fraction: a.unknown_fraction,
        ..InferOptions::default()
    };
    let mut progress = Progress::new("inferring");
    let mut cb = |r, b, t| progress.update(r, b, t);
    let schema = mlops_validate::infer_file(&a.data, &options, Some(&mut cb))?;
    progress.finish();
    match a.output {
        Some(p) => {
            schema
                .save(&p)
                .with_context(|| format!("writing {}", p.display()))?;
            eprintln!("wrote {} ({} columns)", p.display(), schema.columns.len());
        }
        None => print!("{}", schema.to_toml()?),
    }
    Ok(ExitCode::SUCCESS)
}

fn check(a: CheckArgs, out: Out) -> Result<ExitCode> {
    let fail_on: Severity = a.fail_on.parse()?;
    let schema = Schema::load(&a.schema)?;
    let mut options = CheckOptions {
        examples: a.examples,
        ..CheckOptions::default()
    };
    if let Some(now) = &a.now {
        options.now_ms = mlops_validate::value::parse_timestamp_ms(now).with_context(|| {
            format!("--now {now:?} is not a timestamp (RFC 3339 or YYYY-MM-DD)")
        })?;
    }
    let reference = match (&a.reference, &a.reference_profile) {
        (Some(path), _) => Some(
            mlops_validate::fit_reference(&schema, path)
                .with_context(|| format!("reading the reference {}", path.display()))?,
        ),
        (None, Some(p)) => Some(ReferenceProfile::load(p)?),
        (None, None) => None,
    };
    let mut progress = Progress::new("checking");
    let mut cb = |r, b, t| progress.update(r, b, t);
    let report = mlops_validate::check_file(
        &schema,
        &a.data,
        &options,
        reference.as_ref(),
        Some(&mut cb),
    )?;
    progress.finish();
    let text = render(&report, out, &a.data.display().to_string())?;
    match &a.output {
        Some(p) => std::fs::write(p, text).with_context(|| format!("writing {}", p.display()))?,
        None => print!("{text}"),
    }
    Ok(if report.fails(fail_on) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn render(report: &Report, out: Out, title: &str) -> Result<String> {
    Ok(match out {
        Out::Text => report.to_text(),
        Out::Json => format!("{}\n", serde_json::to_string_pretty(&report.to_json())?),
        Out::Html => report.to_html(&format!("Validation: {title}")),
    })
}
