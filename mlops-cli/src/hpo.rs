//! `mlops hpo run|show`: hyperparameter optimisation on a crash-safe journal.
//!
//! `mlops hpo run STUDY.toml --journal FILE` creates the study or resumes it (a killed run
//! picks up where it stopped; trials that were running are re-run under their own numbers).
//! The objective is a built-in test function (`branin`, `hartmann6`) or a command run once
//! per trial:
//! - it gets `MLOPS_TRIAL_PARAMS` (the path of a JSON file with the params),
//!   `MLOPS_TRIAL_SEED` and `MLOPS_TRIAL_NUMBER`;
//! - it may print `{"step": k, "value": v}` lines (intermediate values; when the pruner says
//!   stop, the process is killed and the trial is pruned);
//! - its last stdout line is `{"value": v}`; a non-zero exit fails the trial.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use mlops_pipeline::hpo::journal::Journal;
use mlops_pipeline::hpo::study::{replay, ObjectiveSpec, Study, StudyFile, TrialCtx, TrialRecord};
use mlops_pipeline::hpo::{FrozenTrial, ParamValue, SearchSpace, TrialState};
use serde::Serialize;

use crate::output::print_json;
use crate::Format;

/// Arguments of `mlops hpo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Run (or resume) a study until it has its trials.
    Run(RunArgs),
    /// Print a study's trials and its best trial (reads the journal, takes no lock).
    Show(ShowArgs),
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// The study file (name, direction, seed, n_trials, sampler, pruner, [space], objective).
    #[arg(value_name = "STUDY.toml")]
    study: PathBuf,
    /// The journal: created when missing, resumed otherwise.
    #[arg(long, value_name = "FILE")]
    journal: PathBuf,
    /// Worker threads (default: the study file's `workers`). In deterministic mode the
    /// history does not depend on this.
    #[arg(long, value_name = "N")]
    workers: Option<usize>,
    /// Trials in the whole study (default: the study file's `n_trials`).
    #[arg(long, value_name = "N")]
    trials: Option<u64>,
}

#[derive(Debug, clap::Args)]
struct ShowArgs {
    /// The journal.
    #[arg(value_name = "FILE")]
    journal: PathBuf,
}

/// Runs `mlops hpo`.
///
/// # Errors
/// Bad study files, unknown samplers/pruners/objectives, a locked or corrupt journal, a spec
/// that differs from the journal's, I/O failures.
pub fn run(args: Args, format: Format) -> Result<ExitCode> {
    match args.action {
        Action::Run(a) => run_study(a, format),
        Action::Show(a) => show(a, format),
    }
}

fn run_study(args: RunArgs, format: Format) -> Result<ExitCode> {
    let file = StudyFile::load(&args.study)
        .with_context(|| format!("reading {}", args.study.display()))?;
    check_components(&file.sampler, &file.pruner)?;
    let objective = file.objective()?;
    if let ObjectiveSpec::Builtin(name) = &objective {
        Builtin::from_name(name)?.check_space(&file.space)?;
    }
    let workers = args.workers.unwrap_or(file.workers as usize);
    if workers == 0 {
        bail!("--workers must be at least 1");
    }
    let n_trials = args.trials.unwrap_or(file.n_trials);
    let study = with_components(
        Study::open_or_create(&args.journal, file.spec())?.with_lease(file.lease()),
        &file.sampler,
        &file.pruner,
    );
    let delay = Duration::from_millis(file.objective_delay_ms);
    let summary = match &objective {
        ObjectiveSpec::Builtin(name) => {
            let f = Builtin::from_name(name)?;
            study.run(
                &|t: &TrialCtx<'_>| {
                    std::thread::sleep(delay);
                    report_failure(t, f.eval(t))
                },
                n_trials,
                workers,
            )?
        }
        ObjectiveSpec::Command(argv) => {
            let dir = tempfile::tempdir().context("creating a directory for trial params")?;
            study.run(
                &|t: &TrialCtx<'_>| report_failure(t, run_command(argv, dir.path(), t)),
                n_trials,
                workers,
            )?
        }
    };
    let best = study.best().ok();
    match format {
        Format::Json => {
            #[derive(Serialize)]
            struct Out<'a> {
                study: &'a str,
                journal: &'a Path,
                recovery: &'a mlops_pipeline::hpo::study::Recovery,
                summary: &'a mlops_pipeline::hpo::study::RunSummary,
                n_trials: usize,
                best: Option<TrialOut>,
            }
            print_json(&Out {
                study: &study.spec().name,
                journal: &args.journal,
                recovery: study.recovery(),
                summary: &summary,
                n_trials: study.trials().len(),
                best: best.as_ref().map(TrialOut::from_frozen),
            })?;
        }
        Format::Text => {
            let r = study.recovery();
            if r.cut_bytes > 0 {
                println!("cut a torn journal tail of {} bytes", r.cut_bytes);
            }
            if !r.requeued.is_empty() {
                println!("re-queued trials of a dead run: {:?}", r.requeued);
            }
            println!(
                "study {}: ran {} trials ({} complete, {} pruned, {} failed); {} in the journal",
                study.spec().name,
                summary.ran,
                summary.complete,
                summary.pruned,
                summary.failed,
                study.trials().len()
            );
            match &best {
                Some(b) => println!(
                    "best: trial {} value {} params {}",
                    b.number,
                    fmt_value(b.value),
                    fmt_params(&b.params)
                ),
                None => println!("best: none (no trial is complete)"),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Says on stderr why a trial failed (the journal records only that it did).
fn report_failure(t: &TrialCtx<'_>, r: mlops_pipeline::Result<f64>) -> mlops_pipeline::Result<f64> {
    match &r {
        Err(e) => eprintln!("trial {} failed: {e}", t.number()),
        Ok(v) if !v.is_finite() => {
            eprintln!("trial {} failed: value {v} is not finite", t.number())
        }
        Ok(_) => {}
    }
    r
}

/// Checks the sampler and pruner names before any journal is touched.
fn check_components(sampler: &str, pruner: &str) -> Result<()> {
    match sampler {
        "random" | "tpe" => {}
        other => bail!("unknown sampler {other:?}: expected \"random\" or \"tpe\""),
    }
    match pruner {
        "none" | "median" | "asha" => Ok(()),
        other => bail!("unknown pruner {other:?}: expected \"none\", \"median\" or \"asha\""),
    }
}

/// Attaches the sampler and pruner the study file names (`random` is the study's built-in).
fn with_components(study: Study, sampler: &str, pruner: &str) -> Study {
    let study = match sampler {
        "tpe" => study.with_sampler(std::sync::Arc::new(
            mlops_pipeline::hpo::TpeSampler::default(),
        )),
        _ => study,
    };
    match pruner {
        "median" => study.with_pruner(std::sync::Arc::new(
            mlops_pipeline::hpo::MedianPruner::default(),
        )),
        "asha" => study.with_pruner(std::sync::Arc::new(
            mlops_pipeline::hpo::SuccessiveHalvingPruner::default(),
        )),
        _ => study,
    }
}

/// The built-in test functions (minimised), as in Surjanovic & Bingham's "Virtual Library of
/// Simulation Experiments" (sfu.ca/~ssurjano).
#[derive(Debug, Clone, Copy)]
enum Builtin {
    /// Branin–Hoo on `x1 ∈ [−5, 10]`, `x2 ∈ [0, 15]`; minimum 0.397887 at (−π, 12.275),
    /// (π, 2.275), (9.42478, 2.475).
    Branin,
    /// Hartmann 6-D on `x1..x6 ∈ [0, 1]`; minimum −3.32237 at (0.20169, 0.150011, 0.476874,
    /// 0.275332, 0.311652, 0.6573).
    Hartmann6,
}

impl Builtin {
    fn from_name(name: &str) -> Result<Builtin> {
        match name {
            "branin" => Ok(Builtin::Branin),
            "hartmann6" => Ok(Builtin::Hartmann6),
            other => bail!("unknown objective {other:?}: expected \"branin\" or \"hartmann6\""),
        }
    }

    fn params(self) -> &'static [&'static str] {
        match self {
            Builtin::Branin => &["x1", "x2"],
            Builtin::Hartmann6 => &["x1", "x2", "x3", "x4", "x5", "x6"],
        }
    }

    fn check_space(self, space: &SearchSpace) -> Result<()> {
        for p in self.params() {
            if !space.params.iter().any(|s| s.name == *p) {
                bail!(
                    "objective {self:?} needs parameters {:?} in [space]; {p:?} is missing",
                    self.params()
                );
            }
        }
        Ok(())
    }

    fn eval(self, t: &TrialCtx<'_>) -> mlops_pipeline::Result<f64> {
        let x: Vec<f64> = self
            .params()
            .iter()
            .map(|p| t.param_f64(p))
            .collect::<mlops_pipeline::Result<_>>()?;
        Ok(match self {
            Builtin::Branin => branin(x[0], x[1]),
            Builtin::Hartmann6 => hartmann6(&x),
        })
    }
}

fn branin(x1: f64, x2: f64) -> f64 {
    use std::f64::consts::PI;
    let (a, b, c, r, s, t) = (
        1.0,
        5.1 / (4.0 * PI * PI),
        5.0 / PI,
        6.0,
        10.0,
        1.0 / (8.0 * PI),
    );
    a * (x2 - b * x1 * x1 + c * x1 - r).powi(2) + s * (1.0 - t) * x1.cos() + s
}

fn hartmann6(x: &[f64]) -> f64 {
    const ALPHA: [f64; 4] = [1.0, 1.2, 3.0, 3.2];
    const A: [[f64; 6]; 4] = [
        [10.0, 3.0, 17.0, 3.5, 1.7, 8.0],
        [0.05, 10.0, 17.0, 0.1, 8.0, 14.0],
        [3.0, 3.5, 1.7, 10.0, 17.0, 8.0],
        [17.0, 8.0, 0.05, 10.0, 0.1, 14.0],
    ];
    const P: [[f64; 6]; 4] = [
        [1312.0, 1696.0, 5569.0, 124.0, 8283.0, 5886.0],
        [2329.0, 4135.0, 8307.0, 3736.0, 1004.0, 9991.0],
        [2348.0, 1451.0, 3522.0, 2883.0, 3047.0, 6650.0],
        [4047.0, 8828.0, 8732.0, 5743.0, 1091.0, 381.0],
    ];
    -(0..4)
        .map(|i| {
            let inner: f64 = (0..6)
                .map(|j| A[i][j] * (x[j] - 1e-4 * P[i][j]).powi(2))
                .sum();
            ALPHA[i] * (-inner).exp()
        })
        .sum::<f64>()
}

/// Runs one trial as a process (see the module docs).
fn run_command(argv: &[String], dir: &Path, t: &TrialCtx<'_>) -> mlops_pipeline::Result<f64> {
    let fail = |reason: String| mlops_pipeline::Error::StepFailed {
        step: format!("trial {}", t.number()),
        reason,
    };
    let params_path = dir.join(format!("trial-{}.json", t.number()));
    let json = serde_json::to_vec(t.params()).map_err(|source| mlops_pipeline::Error::Json {
        what: "trial params".into(),
        source,
    })?;
    std::fs::File::create(&params_path)
        .and_then(|mut f| f.write_all(&json))
        .map_err(|e| mlops_pipeline::Error::io(&params_path, e))?;
    let (prog, rest) = argv
        .split_first()
        .ok_or_else(|| fail("the command is empty".into()))?;
    let mut child = Command::new(prog)
        .args(rest)
        .env("MLOPS_TRIAL_PARAMS", &params_path)
        .env("MLOPS_TRIAL_SEED", t.seed().to_string())
        .env("MLOPS_TRIAL_NUMBER", t.number().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| fail(format!("cannot start {prog:?}: {e}")))?;
    let Some(stdout) = child.stdout.take() else {
        return Err(fail("no stdout pipe".into()));
    };
    let mut last_value: Option<f64> = None;
    let mut last_line_was_value = false;
    let mut read_err = None;
    for line in BufReader::new(stdout).lines() {
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                read_err = Some(e);
                break;
            }
        };
        last_line_was_value = false;
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line.trim()) else {
            continue; // free-form output (logging) is allowed
        };
        let value = v.get("value").and_then(serde_json::Value::as_f64);
        match (v.get("step").and_then(serde_json::Value::as_u64), value) {
            (Some(step), Some(value)) => match t.report(step, value) {
                Ok(false) => {}
                // Pruned (its last intermediate is the value), or a report that cannot be
                // journaled: stop the process now, and reap it. Errors of kill/wait only
                // mean that it already exited.
                Ok(true) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Ok(value);
                }
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(e);
                }
            },
            (None, Some(value)) => {
                last_value = Some(value);
                last_line_was_value = true;
            }
            _ => {}
        }
    }
    let status = child
        .wait()
        .map_err(|e| fail(format!("waiting for {prog:?}: {e}")))?;
    if let Some(e) = read_err {
        return Err(fail(format!("reading its stdout: {e}")));
    }
    if !status.success() {
        return Err(fail(format!("{prog:?} exited with {status}")));
    }
    match (last_value, last_line_was_value) {
        (Some(v), true) => Ok(v),
        _ => Err(fail(format!(
            "{prog:?} did not print {{\"value\": v}} as its last line"
        ))),
    }
}

#[derive(Debug, Serialize)]
struct TrialOut {
    number: u64,
    state: TrialState,
    value: Option<f64>,
    params: mlops_pipeline::hpo::Params,
    #[serde(skip_serializing_if = "Option::is_none")]
    attempts: Option<u32>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    queued: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    lease_expired: Option<bool>,
}

impl TrialOut {
    fn from_frozen(t: &FrozenTrial) -> TrialOut {
        TrialOut {
            number: t.number,
            state: t.state,
            value: t.value,
            params: t.params.clone(),
            attempts: None,
            queued: false,
            lease_expired: None,
        }
    }

    fn from_record(r: &TrialRecord, now_ms: u64) -> TrialOut {
        TrialOut {
            attempts: Some(r.attempts),
            queued: r.queued,
            lease_expired: (r.trial.state == TrialState::Running && !r.queued)
                .then_some(r.lease_until_ms < now_ms),
            ..TrialOut::from_frozen(&r.trial)
        }
    }
}

fn show(args: ShowArgs, format: Format) -> Result<ExitCode> {
    let read = Journal::read(&args.journal)?;
    let history = replay(&args.journal, &read.entries)?;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let trials: Vec<TrialOut> = history
        .trials
        .values()
        .map(|r| TrialOut::from_record(r, now_ms))
        .collect();
    let best = history.best().map(TrialOut::from_frozen);
    match format {
        Format::Json => {
            #[derive(Serialize)]
            struct Out<'a> {
                study: &'a mlops_pipeline::hpo::study::StudySpec,
                torn_tail_bytes: u64,
                trials: &'a [TrialOut],
                best: Option<TrialOut>,
            }
            print_json(&Out {
                study: &history.spec,
                torn_tail_bytes: read.torn_tail_bytes,
                trials: &trials,
                best,
            })?;
        }
        Format::Text => {
            let s = &history.spec;
            println!(
                "study {} ({:?}, seed {}, sampler {}, pruner {}, {})",
                s.name,
                s.direction,
                s.seed,
                s.sampler,
                s.pruner,
                if s.deterministic {
                    format!("deterministic over {} workers", s.workers)
                } else {
                    "not deterministic".into()
                }
            );
            if read.torn_tail_bytes > 0 {
                println!(
                    "journal ends in {} bytes of torn tail (cut by the next run)",
                    read.torn_tail_bytes
                );
            }
            println!("{:>6}  {:<9}  {:>14}  params", "trial", "state", "value");
            for t in &trials {
                let mut state = format!("{:?}", t.state).to_lowercase();
                if t.queued {
                    state = "queued".into();
                } else if t.lease_expired == Some(true) {
                    state = "stale".into();
                }
                println!(
                    "{:>6}  {:<9}  {:>14}  {}",
                    t.number,
                    state,
                    fmt_value(t.value),
                    fmt_params(&t.params)
                );
            }
            match &best {
                Some(b) => println!(
                    "best: trial {} value {} params {}",
                    b.number,
                    fmt_value(b.value),
                    fmt_params(&b.params)
                ),
                None => println!("best: none (no trial is complete)"),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn fmt_value(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.6}"))
}

fn fmt_params(p: &mlops_pipeline::hpo::Params) -> String {
    p.iter()
        .map(|(k, v)| match v {
            ParamValue::Float(x) => format!("{k}={x:.6}"),
            ParamValue::Int(i) => format!("{k}={i}"),
            ParamValue::Str(s) => format!("{k}={s}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}
