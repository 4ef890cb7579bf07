//! `mlops pipeline run`: run a training pipeline's DAG of cached steps.

use std::collections::BTreeSet;
use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use mlops_pipeline::{Pipeline, Progress, RunOptions, RunReport, Runner, StepStatus, TriggerCause};
use mlops_registry::Registry;

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
    let trigger = parse_trigger(&a.trigger)?;
    let report = run_loaded(
        &pipeline,
        a.store.as_deref(),
        a.cache,
        a.force,
        a.jobs,
        trigger,
    )
    .with_context(|| format!("running {}", a.spec.display()))?;
    print_report(&report, format)?;
    Ok(exit_code(&report))
}

/// The exit code of a run: 0 when every step succeeded and the gate (if any) passed, 1
/// otherwise.
pub(crate) fn exit_code(report: &RunReport) -> ExitCode {
    let gate_ok = report
        .gate
        .as_ref()
        .is_none_or(|g| g.get("passed").and_then(|v| v.as_bool()) == Some(true));
    if report.steps_ok() && gate_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Runs a loaded pipeline with its gate and registration (`--store`), printing progress on a
/// terminal. Also used by `mlops monitor watch --on-alert`.
pub(crate) fn run_loaded(
    pipeline: &Pipeline,
    store: Option<&str>,
    cache: Option<PathBuf>,
    force: Vec<String>,
    jobs: Option<usize>,
    trigger: TriggerCause,
) -> Result<RunReport> {
    if pipeline.register.is_some() && store.is_none() {
        bail!("the pipeline has a [register] table: pass the registry with --store");
    }
    let registry: Option<Box<dyn Registry>> = match store {
        Some(s) => {
            Some(mlops_registry::open(s).with_context(|| format!("opening registry store {s:?}"))?)
        }
        None => None,
    };
    let mut opts = RunOptions {
        cache_dir: cache,
        force: force.into_iter().collect::<BTreeSet<_>>(),
        trigger,
        ..RunOptions::default()
    };
    if let Some(j) = jobs {
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
    Ok(Runner::new()
        .with_builtins()
        .run_and_register(pipeline, &opts, registry.as_deref())?)
}

/// Prints a run report as JSON or text.
pub(crate) fn print_report(report: &RunReport, format: Format) -> Result<()> {
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
                count(report, StepStatus::Ran),
                count(report, StepStatus::Cached),
                count(report, StepStatus::Failed),
                count(report, StepStatus::Skipped),
                report.duration_s,
                report.hashed_bytes
            );
            if let Some(g) = &report.gate {
                let passed = g.get("passed").and_then(|v| v.as_bool()) == Some(true);
                println!("gate: {}", if passed { "passed" } else { "FAILED" });
                for r in g
                    .get("reasons")
                    .and_then(|v| v.as_array())
                    .into_iter()
                    .flatten()
                {
                    println!("  - {}", r.as_str().unwrap_or_default());
                }
            }
            match &report.registered {
                Some(r) => println!(
                    "registered {}/{}{}",
                    r.name,
                    r.version,
                    r.alias
                        .as_ref()
                        .map(|a| format!(" and set {a} -> v{}", r.version))
                        .unwrap_or_else(|| " (already registered)".into())
                ),
                None if report.gate.is_some() => println!("not registered"),
                None => {}
            }
        }
    }
    Ok(())
}

fn count(r: &RunReport, s: StepStatus) -> usize {
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
