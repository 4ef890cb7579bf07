//! `mlops pipeline run`: run a training pipeline's DAG of cached steps.

use std::collections::BTreeSet;
use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use mlops_pipeline::{Pipeline, Progress, RunOptions, Runner, StepStatus, TriggerCause};

use crate::output::print_json;
use crate::Format;

/// Arguments of `mlops pipeline`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(Debug, clap::Subcommand)]
enum Sub {
    /// Run a pipeline: steps whose cache key and outputs are unchanged are not executed.
    Run(RunArgs),
}

/// Arguments of `mlops pipeline run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The pipeline specification (`pipeline.toml`).
    spec: PathBuf,
    /// The registry a passing candidate is registered in (a directory or s3:// URI).
    #[arg(long)]
    store: Option<String>,
    /// The cache directory (default: `.mlops-cache` next to the spec).
    #[arg(long)]
    cache: Option<PathBuf>,
    /// Run this step even when its cache entry is valid (repeatable).
    #[arg(long = "force", value_name = "STEP")]
    force: Vec<String>,
    /// Steps run at once (default: the machine's cores).
    #[arg(long)]
    jobs: Option<usize>,
    /// Why this run starts, recorded with it: `manual` (default) or `schedule:<interval>`.
    #[arg(long, default_value = "manual")]
    trigger: String,
}

/// Runs `mlops pipeline`.
///
/// # Errors
/// A bad spec (naming the spot), an unknown `--force` step, a held lock or an unwritable
/// cache. A failing step is not an error: the report is printed and the exit code is 1.
pub fn run(args: Args, format: Format) -> Result<ExitCode> {
    match args.command {
        Sub::Run(a) => run_pipeline(a, format),
    }
}

fn parse_trigger(text: &str) -> Result<TriggerCause> {
    if text == "manual" {
        return Ok(TriggerCause::Manual);
    }
    if let Some(interval) = text.strip_prefix("schedule:") {
        if interval.is_empty() {
            bail!("--trigger schedule:<interval> needs an interval");
        }
        return Ok(TriggerCause::Schedule {
            interval: interval.to_string(),
        });
    }
    bail!("invalid --trigger {text:?}: expected manual or schedule:<interval>")
}

fn run_pipeline(a: RunArgs, format: Format) -> Result<ExitCode> {
    let pipeline = Pipeline::load(&a.spec)?;
    if pipeline.gate.is_some() || pipeline.register.is_some() {
        bail!(
            "{}: [gate] and [register] are not supported by `mlops pipeline run` yet (issue 12 is \
             in progress); run the gate from the library",
            a.spec.display()
        );
    }
    let _ = a.store;
    let trigger = parse_trigger(&a.trigger)?;
    let mut opts = RunOptions {
        cache_dir: a.cache,
        force: a.force.into_iter().collect::<BTreeSet<_>>(),
        trigger,
        ..RunOptions::default()
    };
    if let Some(j) = a.jobs {
        if j == 0 {
            bail!("--jobs must be at least 1");
        }
        opts.jobs = j;
    }
    if std::io::stderr().is_terminal() {
        opts.progress = Some(Box::new(|p: Progress<'_>| match p {
            Progress::Started { step } => eprintln!("  started  {step}"),
            Progress::Finished {
                report,
                done,
                total,
            } => eprintln!(
                "[{done}/{total}] {:<7} {} ({:.2}s)",
                status_word(report.status),
                report.name,
                report.duration_s
            ),
        }));
    }
    let report = Runner::new()
        .run(&pipeline, &opts)
        .with_context(|| format!("running {}", a.spec.display()))?;
    match format {
        Format::Json => print_json(&report)?,
        Format::Text => {
            println!("run {} ({})", report.run_id, report.trigger.label());
            for s in &report.steps {
                println!(
                    "{:<7} {:<24} {:>8.2}s",
                    status_word(s.status),
                    s.name,
                    s.duration_s
                );
                if let Some(e) = &s.error {
                    println!("        {}", e.replace('\n', "\n        "));
                }
            }
            println!(
                "{} ran, {} cached, {} failed, {} skipped in {:.2}s ({} bytes hashed)",
                count(&report, StepStatus::Ran),
                count(&report, StepStatus::Cached),
                count(&report, StepStatus::Failed),
                count(&report, StepStatus::Skipped),
                report.duration_s,
                report.hashed_bytes
            );
        }
    }
    Ok(if report.steps_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn count(r: &mlops_pipeline::RunReport, s: StepStatus) -> usize {
    r.steps.iter().filter(|x| x.status == s).count()
}

fn status_word(s: StepStatus) -> &'static str {
    match s {
        StepStatus::Ran => "ran",
        StepStatus::Cached => "cached",
        StepStatus::Failed => "failed",
        StepStatus::Skipped => "skipped",
    }
}
