//! Running a pipeline's DAG: parallel steps, the cache, command and built-in steps.
//!
//! For every step, in dependency order with up to `jobs` steps at once:
//! 1. hash its inputs; compute its key ([`crate::cache::step_key`]);
//! 2. unless the step is `volatile` or forced: a record under that key whose outputs are all
//!    present with their recorded digests is a **hit** (`cached`), and nothing runs;
//! 3. otherwise remove its old outputs, run it (a process, or a built-in [`crate::Step`]),
//!    hash its inputs again (a change while it ran fails it: DVC #11058), check and hash every
//!    declared output, read its metrics, and store the record.
//!
//! A failed step stops its downstream steps (`skipped`); independent branches go on, and
//! every finished step stays cached, so a rerun resumes where the failure was.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc};
use std::time::Instant;

use rand::RngCore as _;
use serde::{Deserialize, Serialize};

use crate::cache::{self, append_log, Cache, Hasher, PathDigest, StepRecord};
use crate::error::{Error, Result};
use crate::lock::RunLock;
use crate::spec::{is_runner_var, Pipeline, Step, StepRun};
use crate::step::{Step as BuiltinStep, StepContext};
use crate::trigger::TriggerCause;

/// How a step ended in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepStatus {
    /// It executed and succeeded.
    Ran,
    /// Its cached result was valid; nothing executed.
    Cached,
    /// It executed and failed (or its inputs could not be read).
    Failed,
    /// It did not run because a step it depends on failed.
    Skipped,
}

/// One step's line in a run report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepReport {
    /// The step's name.
    pub name: String,
    /// How it ended.
    pub status: StepStatus,
    /// Wall time of this run's work on it (hashing included), seconds.
    pub duration_s: f64,
    /// Its cache key (absent when it was skipped or its inputs could not be hashed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Output name → content digest.
    pub outputs: BTreeMap<String, String>,
    /// Input name → content digest.
    #[serde(default)]
    pub inputs: BTreeMap<String, String>,
    /// Metrics it reported (from the cache record when cached).
    #[serde(default)]
    pub metrics: BTreeMap<String, f64>,
    /// Why it failed or was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Why it ran instead of hitting the cache (`no record`, `forced`, `output … changed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Its log file (command steps' stdout and stderr).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<PathBuf>,
}

/// Registration of a passing candidate, as the run reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Registered {
    /// The model's name.
    pub name: String,
    /// The new version.
    pub version: u64,
    /// The alias it was pointed at, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
}

/// The result of a pipeline run (`mlops pipeline run --format json` prints it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// A fresh 32-hex-digit id.
    pub run_id: String,
    /// The pipeline's name.
    pub pipeline: String,
    /// Why it ran.
    pub trigger: TriggerCause,
    /// When it started (RFC 3339).
    pub started_at: String,
    /// Wall time, seconds.
    pub duration_s: f64,
    /// Steps in topological order.
    pub steps: Vec<StepReport>,
    /// Bytes hashed (inputs before and after each step, outputs).
    pub hashed_bytes: u64,
    /// The gate's report, when the pipeline has a `[gate]` and the steps succeeded.
    pub gate: Option<serde_json::Value>,
    /// The registered version, when the gate passed and the pipeline has a `[register]`.
    pub registered: Option<Registered>,
}

impl RunReport {
    /// Whether every step ran or was cached.
    pub fn steps_ok(&self) -> bool {
        self.steps
            .iter()
            .all(|s| matches!(s.status, StepStatus::Ran | StepStatus::Cached))
    }

    /// The steps that executed (`ran`).
    pub fn ran(&self) -> Vec<&str> {
        self.steps
            .iter()
            .filter(|s| s.status == StepStatus::Ran)
            .map(|s| s.name.as_str())
            .collect()
    }

    /// A step's report.
    pub fn step(&self, name: &str) -> Option<&StepReport> {
        self.steps.iter().find(|s| s.name == name)
    }
}

/// Progress as steps start and end (the CLI prints it on a terminal).
#[derive(Debug, Clone)]
pub enum Progress<'a> {
    /// A step started (hashing its inputs).
    Started {
        /// The step.
        step: &'a str,
    },
    /// A step ended.
    Finished {
        /// Its report.
        report: &'a StepReport,
        /// Steps ended so far.
        done: usize,
        /// Steps in the pipeline.
        total: usize,
    },
}

/// A progress callback.
pub type ProgressFn = Box<dyn Fn(Progress<'_>) + Send + Sync>;

/// How to run.
pub struct RunOptions {
    /// The cache directory (default `<pipeline dir>/.mlops-cache`).
    pub cache_dir: Option<PathBuf>,
    /// Steps that run even on a valid cache record (their downstream reruns only if their
    /// outputs change).
    pub force: BTreeSet<String>,
    /// Steps at once (default: the machine's cores).
    pub jobs: usize,
    /// Why this run started.
    pub trigger: TriggerCause,
    /// Called as steps start and end.
    pub progress: Option<ProgressFn>,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            cache_dir: None,
            force: BTreeSet::new(),
            jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
            trigger: TriggerCause::Manual,
            progress: None,
        }
    }
}

impl std::fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunOptions")
            .field("cache_dir", &self.cache_dir)
            .field("force", &self.force)
            .field("jobs", &self.jobs)
            .field("trigger", &self.trigger)
            .finish_non_exhaustive()
    }
}

/// Runs pipelines; holds the built-in step kinds.
#[derive(Debug, Default, Clone)]
pub struct Runner {
    builtins: BTreeMap<String, Arc<dyn BuiltinStep>>,
}

impl Runner {
    /// A runner with no built-in steps.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a built-in step kind.
    pub fn with_step(mut self, step: Arc<dyn BuiltinStep>) -> Self {
        self.builtins.insert(step.kind().to_string(), step);
        self
    }

    /// The registered built-in kinds.
    pub fn kinds(&self) -> Vec<&str> {
        self.builtins.keys().map(String::as_str).collect()
    }

    /// The cache directory a run of `pipeline` with `opts` uses.
    pub fn cache_dir(pipeline: &Pipeline, opts: &RunOptions) -> PathBuf {
        opts.cache_dir
            .clone()
            .unwrap_or_else(|| pipeline.root.join(".mlops-cache"))
    }

    /// Runs the DAG (not the gate) under the pipeline's lock.
    ///
    /// # Errors
    /// [`Error::InvalidSpec`] for an unknown built-in kind or an unknown `--force` step;
    /// [`Error::Locked`] when another run of this pipeline holds the lock; [`Error::Io`] when
    /// the cache cannot be written. A failing step is not an error: it is reported in the
    /// [`RunReport`] (see [`RunReport::steps_ok`]).
    pub fn run(&self, pipeline: &Pipeline, opts: &RunOptions) -> Result<RunReport> {
        let cache = Cache::open(Self::cache_dir(pipeline, opts))?;
        let lock_path = cache
            .dir()
            .join("locks")
            .join(format!("{}.lock", pipeline.name));
        let _lock = RunLock::try_acquire(&lock_path)?;
        self.run_locked(pipeline, opts, &cache)
    }

    /// As [`Runner::run`], for a caller that already holds the lock.
    ///
    /// # Errors
    /// As [`Runner::run`], without [`Error::Locked`].
    pub fn run_locked(
        &self,
        pipeline: &Pipeline,
        opts: &RunOptions,
        cache: &Cache,
    ) -> Result<RunReport> {
        let run_id = new_run_id();
        let _span =
            tracing::info_span!("pipeline_run", pipeline = %pipeline.name, run_id = %run_id)
                .entered();
        for f in &opts.force {
            if pipeline.step(f).is_none() {
                return Err(Error::spec(
                    format!("--force {f}"),
                    format!("the pipeline has no step {f:?}"),
                ));
            }
        }
        for s in &pipeline.steps {
            if let StepRun::Builtin(kind) = &s.run {
                if !self.builtins.contains_key(kind) {
                    return Err(Error::spec(
                        format!("steps.{}.kind", s.name),
                        format!(
                            "unknown built-in step kind {kind:?} (known: {})",
                            self.kinds().join(", ")
                        ),
                    ));
                }
            }
        }
        let started = Instant::now();
        let started_at = chrono::Utc::now().to_rfc3339();
        let hasher = Hasher::new();
        let total = pipeline.steps.len();
        let mut reports: BTreeMap<String, StepReport> = BTreeMap::new();
        let mut running: BTreeSet<String> = BTreeSet::new();
        let jobs = opts.jobs.max(1);
        let (tx, rx) = mpsc::channel::<StepReport>();
        std::thread::scope(|scope| {
            loop {
                // Skip whatever depends on a failure; start whatever is ready.
                for s in &pipeline.steps {
                    if reports.contains_key(&s.name) || running.contains(&s.name) {
                        continue;
                    }
                    let bad = s.deps.iter().find(|d| {
                        reports.get(*d).is_some_and(|r| {
                            matches!(r.status, StepStatus::Failed | StepStatus::Skipped)
                        })
                    });
                    if let Some(bad) = bad {
                        let r = StepReport {
                            name: s.name.clone(),
                            status: StepStatus::Skipped,
                            duration_s: 0.0,
                            key: None,
                            outputs: BTreeMap::new(),
                            inputs: BTreeMap::new(),
                            metrics: BTreeMap::new(),
                            error: Some(format!("upstream step {bad:?} did not succeed")),
                            reason: None,
                            log: None,
                        };
                        if let Some(p) = &opts.progress {
                            p(Progress::Finished {
                                report: &r,
                                done: reports.len() + 1,
                                total,
                            });
                        }
                        reports.insert(s.name.clone(), r);
                        continue;
                    }
                    let ready = s.deps.iter().all(|d| reports.contains_key(d));
                    if ready && running.len() < jobs {
                        running.insert(s.name.clone());
                        if let Some(p) = &opts.progress {
                            p(Progress::Started { step: &s.name });
                        }
                        let tx = tx.clone();
                        let ctx = Exec {
                            runner: self,
                            pipeline,
                            cache,
                            hasher: &hasher,
                            run_id: &run_id,
                            forced: opts.force.contains(&s.name),
                        };
                        scope.spawn(move || {
                            let r = ctx.step(s);
                            let _ = tx.send(r);
                        });
                    }
                }
                if reports.len() == total {
                    break;
                }
                if running.is_empty() {
                    // Nothing running and nothing startable: cannot happen for a validated DAG.
                    break;
                }
                match rx.recv() {
                    Ok(r) => {
                        running.remove(&r.name);
                        if let Some(p) = &opts.progress {
                            p(Progress::Finished {
                                report: &r,
                                done: reports.len() + 1,
                                total,
                            });
                        }
                        reports.insert(r.name.clone(), r);
                    }
                    Err(_) => break,
                }
            }
        });
        let steps: Vec<StepReport> = pipeline
            .steps
            .iter()
            .filter_map(|s| reports.remove(&s.name))
            .collect();
        let report = RunReport {
            run_id: run_id.clone(),
            pipeline: pipeline.name.clone(),
            trigger: opts.trigger.clone(),
            started_at,
            duration_s: started.elapsed().as_secs_f64(),
            steps,
            hashed_bytes: hasher.bytes_hashed(),
            gate: None,
            registered: None,
        };
        cache.put_run(&run_id, &report)?;
        Ok(report)
    }
}

struct Exec<'a> {
    runner: &'a Runner,
    pipeline: &'a Pipeline,
    cache: &'a Cache,
    hasher: &'a Hasher,
    run_id: &'a str,
    forced: bool,
}

impl Exec<'_> {
    fn step(&self, step: &Step) -> StepReport {
        let _span = tracing::info_span!("pipeline_step", step = %step.name).entered();
        let t0 = Instant::now();
        let mut report = StepReport {
            name: step.name.clone(),
            status: StepStatus::Failed,
            duration_s: 0.0,
            key: None,
            outputs: BTreeMap::new(),
            inputs: BTreeMap::new(),
            metrics: BTreeMap::new(),
            error: None,
            reason: None,
            log: None,
        };
        match self.step_inner(step, &mut report) {
            Ok(status) => report.status = status,
            Err(e) => {
                tracing::warn!(step = %step.name, error = %e, "step failed");
                report.status = StepStatus::Failed;
                report.error = Some(e.to_string());
            }
        }
        report.duration_s = t0.elapsed().as_secs_f64();
        report
    }

    fn hash_inputs(&self, step: &Step) -> Result<BTreeMap<String, PathDigest>> {
        let mut out = BTreeMap::new();
        for (name, src) in &step.inputs {
            let d = self
                .hasher
                .digest(src.path())
                .map_err(|e| Error::StepFailed {
                    step: step.name.clone(),
                    reason: format!("input {name:?} cannot be read: {e}"),
                })?;
            out.insert(name.clone(), d);
        }
        Ok(out)
    }

    fn step_inner(&self, step: &Step, report: &mut StepReport) -> Result<StepStatus> {
        let before = self.hash_inputs(step)?;
        report.inputs = before
            .iter()
            .map(|(k, d)| (k.clone(), d.digest.to_hex()))
            .collect();
        let builtin = match &step.run {
            StepRun::Builtin(kind) => self.runner.builtins.get(kind).cloned(),
            StepRun::Command(_) => None,
        };
        let key = cache::step_key(step, builtin.as_ref().map(|b| b.version()), &before);
        report.key = Some(key.to_hex());
        let reason = if step.volatile {
            "volatile".to_string()
        } else if self.forced {
            "forced".to_string()
        } else {
            match self.cache.get(&key)? {
                None => "no cache record for this key".to_string(),
                Some(rec) => match self.check_outputs(step, &rec) {
                    Ok(()) => {
                        report.outputs = rec
                            .outputs
                            .iter()
                            .map(|(k, d)| (k.clone(), d.digest.to_hex()))
                            .collect();
                        report.metrics = rec.metrics;
                        return Ok(StepStatus::Cached);
                    }
                    Err(why) => why,
                },
            }
        };
        report.reason = Some(reason);
        // Old outputs go first, so a step that forgets one cannot pass with a stale file.
        for p in step.outputs.values() {
            remove_path(p)?;
            if let Some(dir) = p.parent() {
                std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
            }
        }
        let work = self
            .cache
            .dir()
            .join("work")
            .join(self.run_id)
            .join(&step.name);
        remove_path(&work)?;
        std::fs::create_dir_all(&work).map_err(|e| Error::io(&work, e))?;
        let t_run = Instant::now();
        let metrics = match &builtin {
            Some(b) => {
                let ctx = StepContext {
                    name: step.name.clone(),
                    params: step.params.clone(),
                    inputs: step
                        .inputs
                        .iter()
                        .map(|(k, s)| (k.clone(), s.path().to_path_buf()))
                        .collect(),
                    outputs: step.outputs.clone(),
                    work_dir: work.clone(),
                    seed: step.seed,
                };
                b.run(&ctx)
                    .map_err(|e| Error::StepFailed {
                        step: step.name.clone(),
                        reason: e.to_string(),
                    })?
                    .metrics
            }
            None => {
                let log = self.cache.log_path(self.run_id, &step.name)?;
                report.log = Some(log.clone());
                self.run_command(step, &work, &log)?
            }
        };
        let ran_for = t_run.elapsed().as_secs_f64();
        for (k, v) in &metrics {
            if !v.is_finite() {
                return Err(Error::StepFailed {
                    step: step.name.clone(),
                    reason: format!("metric {k:?} is {v}, not a finite number"),
                });
            }
        }
        let after = self.hash_inputs(step)?;
        for (name, d) in &before {
            if after.get(name) != Some(d) {
                return Err(Error::StepFailed {
                    step: step.name.clone(),
                    reason: format!(
                        "input {name:?} ({}) changed while the step ran (digest {} before, {} after); \
                         nothing was cached",
                        step.inputs
                            .get(name)
                            .map_or_else(String::new, |s| s.path().display().to_string()),
                        d.digest,
                        after
                            .get(name)
                            .map_or_else(|| "none".to_string(), |a| a.digest.to_hex())
                    ),
                });
            }
        }
        let mut outputs = BTreeMap::new();
        for (name, path) in &step.outputs {
            if !path.exists() {
                return Err(Error::StepFailed {
                    step: step.name.clone(),
                    reason: format!("it did not write its output {name:?} ({})", path.display()),
                });
            }
            outputs.insert(name.clone(), self.hasher.digest(path)?);
        }
        report.outputs = outputs
            .iter()
            .map(|(k, d)| (k.clone(), d.digest.to_hex()))
            .collect();
        report.metrics = metrics.clone();
        let rec = StepRecord {
            format: cache::record_format(),
            step: step.name.clone(),
            key,
            inputs: before,
            outputs,
            metrics,
            duration_s: ran_for,
            run_id: self.run_id.to_string(),
            finished_at: chrono::Utc::now().to_rfc3339(),
        };
        if !step.volatile {
            self.cache.put(&rec)?;
        }
        let _ = std::fs::remove_dir_all(&work);
        Ok(StepStatus::Ran)
    }

    /// `Err(reason)` when a recorded output is missing or differs.
    fn check_outputs(&self, step: &Step, rec: &StepRecord) -> std::result::Result<(), String> {
        for (name, path) in &step.outputs {
            let Some(want) = rec.outputs.get(name) else {
                return Err(format!("the record has no output {name:?}"));
            };
            match self.hasher.digest(path) {
                Ok(got) if got.digest == want.digest && got.kind == want.kind => {}
                Ok(_) => return Err(format!("output {name:?} changed since it was cached")),
                Err(_) => return Err(format!("output {name:?} is missing")),
            }
        }
        Ok(())
    }

    fn run_command(&self, step: &Step, work: &Path, log: &Path) -> Result<BTreeMap<String, f64>> {
        let StepRun::Command(argv) = &step.run else {
            return Ok(BTreeMap::new());
        };
        let params_file = work.join("params.json");
        let metrics_file = work.join("metrics.json");
        let params = serde_json::to_vec_pretty(&step.params).map_err(|source| Error::Json {
            what: "step params".into(),
            source,
        })?;
        std::fs::write(&params_file, params).map_err(|e| Error::io(&params_file, e))?;
        let vars = |var: &str| -> Option<String> {
            if let Some(n) = var.strip_prefix("inputs.") {
                return step.inputs.get(n).map(|s| s.path().display().to_string());
            }
            if let Some(n) = var.strip_prefix("outputs.") {
                return step.outputs.get(n).map(|p| p.display().to_string());
            }
            match var {
                "params_file" => Some(params_file.display().to_string()),
                "metrics_file" => Some(metrics_file.display().to_string()),
                "seed" => Some(step.seed.to_string()),
                "run_id" => Some(self.run_id.to_string()),
                _ => None,
            }
        };
        let mut args = Vec::with_capacity(argv.len());
        for (i, a) in argv.iter().enumerate() {
            args.push(substitute_runner(a, &vars).map_err(|var| {
                Error::spec(
                    format!("steps.{}.command[{i}]", step.name),
                    format!("${{{var}}} names no input or output of this step"),
                )
            })?);
        }
        let log_file = std::fs::File::create(log).map_err(|e| Error::io(log, e))?;
        let log_err = log_file.try_clone().map_err(|e| Error::io(log, e))?;
        let mut cmd = Command::new(&args[0]);
        cmd.args(&args[1..])
            .current_dir(&self.pipeline.root)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log_file))
            .stderr(Stdio::from(log_err))
            .env("MLOPS_PARAMS_FILE", &params_file)
            .env("MLOPS_METRICS_FILE", &metrics_file)
            .env("MLOPS_SEED", step.seed.to_string())
            .env("MLOPS_STEP", &step.name)
            .env("MLOPS_RUN_ID", self.run_id)
            .env("MLOPS_WORK_DIR", work);
        for (k, s) in &step.inputs {
            cmd.env(format!("MLOPS_INPUT_{}", env_name(k)), s.path());
        }
        for (k, p) in &step.outputs {
            cmd.env(format!("MLOPS_OUTPUT_{}", env_name(k)), p);
        }
        if let serde_json::Value::Object(m) = &step.params {
            for (k, v) in m {
                let text = match v {
                    serde_json::Value::String(s) => Some(s.clone()),
                    serde_json::Value::Number(n) => Some(n.to_string()),
                    serde_json::Value::Bool(b) => Some(b.to_string()),
                    _ => None,
                };
                if let Some(t) = text {
                    cmd.env(format!("MLOPS_PARAM_{}", env_name(k)), t);
                }
            }
        }
        let status = cmd.status().map_err(|e| Error::StepFailed {
            step: step.name.clone(),
            reason: format!("cannot start {:?}: {e}", args[0]),
        })?;
        if !status.success() {
            let tail = log_tail(log, 15);
            append_log(log, &format!("\n[mlops] step exited with {status}\n"));
            return Err(Error::StepFailed {
                step: step.name.clone(),
                reason: format!(
                    "{} exited with {status}; last lines of {}:\n{tail}",
                    args[0],
                    log.display()
                ),
            });
        }
        read_metrics(&metrics_file, &step.name)
    }
}

/// `metrics.json`: an object of name → number (nested objects are flattened with `.`).
fn read_metrics(path: &Path, step: &str) -> Result<BTreeMap<String, f64>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(Error::io(path, e)),
    };
    let v: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| Error::StepFailed {
        step: step.to_string(),
        reason: format!("its metrics file {} is not JSON: {e}", path.display()),
    })?;
    let mut out = BTreeMap::new();
    flatten_metrics("", &v, &mut out).map_err(|what| Error::StepFailed {
        step: step.to_string(),
        reason: format!("metric {what:?} in {} is not a number", path.display()),
    })?;
    Ok(out)
}

fn flatten_metrics(
    prefix: &str,
    v: &serde_json::Value,
    out: &mut BTreeMap<String, f64>,
) -> std::result::Result<(), String> {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                let name = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten_metrics(&name, x, out)?;
            }
            Ok(())
        }
        serde_json::Value::Number(n) => {
            out.insert(prefix.to_string(), n.as_f64().unwrap_or(f64::NAN));
            Ok(())
        }
        _ => Err(prefix.to_string()),
    }
}

fn substitute_runner(
    text: &str,
    vars: &dyn Fn(&str) -> Option<String>,
) -> std::result::Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return Ok(out);
        };
        let var = &after[..end];
        if is_runner_var(var) {
            out.push_str(&vars(var).ok_or_else(|| var.to_string())?);
        } else {
            out.push_str(&rest[start..start + 2 + end + 1]);
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn env_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn remove_path(p: &Path) -> Result<()> {
    match std::fs::symlink_metadata(p) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(p, e)),
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(p).map_err(|e| Error::io(p, e)),
        Ok(_) => std::fs::remove_file(p).map_err(|e| Error::io(p, e)),
    }
}

/// A fresh run id: 32 hex digits (128 random bits).
pub fn new_run_id() -> String {
    let mut b = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut b);
    hex::encode(b)
}
