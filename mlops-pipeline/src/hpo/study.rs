//! A crash-safe study: trials recorded in a [`Journal`], worker threads, leases, and a
//! deterministic schedule.
//!
//! ```no_run
//! use mlops_pipeline::hpo::study::{Study, StudySpec};
//! use mlops_pipeline::hpo::{Distribution, ParamSpec, SearchSpace};
//! let space = SearchSpace {
//!     params: vec![ParamSpec {
//!         name: "x".into(),
//!         distribution: Distribution::Float { low: -5.0, high: 5.0, log: false, step: None },
//!         condition: None,
//!     }],
//! };
//! let study = Study::open_or_create("study.journal", StudySpec::new("demo", space))?;
//! study.run(&|t| Ok(t.param_f64("x")?.powi(2)), 20, 2)?;
//! println!("best: {:?}", study.best()?);
//! # Ok::<(), mlops_pipeline::Error>(())
//! ```
//!
//! # Trial numbers, attempts and re-queues
//! Trial numbers are dense from 0 and are handed out in increasing order. A trial whose
//! writer died while it ran (a `Running` trial found at open) is **re-run under the same
//! number with the same params and seed**: the dead run is an *attempt*, recorded by a
//! [`Record::TrialRequeued`] that marks it failed, and never a trial of its own. So a study
//! that is killed and resumed ends with the same trials (params, values, states by number) as
//! one that never stopped, provided the objective depends only on its params and seed.
//!
//! Because a writer holds the journal's exclusive lock until it dies, a `Running` trial found
//! by the next writer's open belongs to a dead process whatever its lease says; it is
//! re-queued at once. Leases (renewed by a heartbeat thread every third of the lease) are what
//! lock-free readers ([`Journal::read`], `mlops hpo show`) use to tell a live trial from a
//! stale one.
//!
//! # Deterministic mode
//! With [`StudySpec::deterministic`], trial `k` is suggested from the finished trials numbered
//! below `k − workers` only (`workers` being the recorded [`StudySpec::workers`], not the
//! number of threads), waiting for them when they are not finished yet; `running` is empty.
//! Its seed is [`trial_seed`]`(seed, k)` and the sampler's is [`sampler_seed`]`(seed, k)`.
//! The pruner sees the same trials. So the history is a function of the spec alone: the
//! same on 1, 2 or 4 threads, and across kills. Without it, a trial sees every finished
//! trial and gets the running ones as `running` (the sampler's constant liar).

use std::collections::{BTreeMap, BTreeSet};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::journal::{Entry, Journal, Record};
use super::{
    Direction, Distribution, FrozenTrial, ParamValue, Params, Pruner, Sampler, SearchSpace,
    TrialState,
};
use crate::error::{Error, Result};

/// The default lease of a running trial.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);

/// What a study is; recorded as the journal's first record and checked on every resume.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudySpec {
    /// The study's name.
    pub name: String,
    /// Minimise or maximise.
    pub direction: Direction,
    /// The search space.
    pub space: SearchSpace,
    /// The study seed.
    pub seed: u64,
    /// The parallelism the deterministic schedule is laid out for (≥ 1): trial `k` waits for
    /// trials below `k − workers`. Threads given to [`Study::run`] may differ.
    pub workers: u32,
    /// See the module docs.
    pub deterministic: bool,
    /// The sampler's name: `random` is built in ([`SimpleRandom`]); any other needs
    /// [`Study::with_sampler`].
    pub sampler: String,
    /// The pruner's name: `none`, or any name given a pruner with [`Study::with_pruner`].
    pub pruner: String,
}

impl StudySpec {
    /// A spec named `name` over `space`: minimise, seed 0, one worker, deterministic,
    /// `random` sampler, no pruner.
    pub fn new(name: impl Into<String>, space: SearchSpace) -> Self {
        StudySpec {
            name: name.into(),
            direction: Direction::Minimize,
            space,
            seed: 0,
            workers: 1,
            deterministic: true,
            sampler: "random".into(),
            pruner: "none".into(),
        }
    }

    /// Checks the spec: a name, `workers ≥ 1`, and a valid, non-empty space.
    ///
    /// # Errors
    /// [`Error::InvalidSpec`] naming the field.
    pub fn validate(&self) -> Result<()> {
        if self.name.trim().is_empty() {
            return Err(Error::spec("name", "is empty"));
        }
        if self.workers == 0 {
            return Err(Error::spec("workers", "must be at least 1"));
        }
        if self.sampler.is_empty() {
            return Err(Error::spec("sampler", "is empty"));
        }
        if self.pruner.is_empty() {
            return Err(Error::spec("pruner", "is empty"));
        }
        validate_space(&self.space)
    }

    fn to_record(&self) -> Record {
        Record::StudyCreated {
            name: self.name.clone(),
            direction: self.direction,
            space: self.space.clone(),
            seed: self.seed,
            workers: self.workers,
            deterministic: self.deterministic,
            sampler: self.sampler.clone(),
            pruner: self.pruner.clone(),
        }
    }

    /// The first field in which `other` differs from `self`, as (field, recorded, given).
    fn first_difference(&self, given: &StudySpec) -> Option<(&'static str, String, String)> {
        let d = |f: &'static str, a: &dyn std::fmt::Debug, b: &dyn std::fmt::Debug| {
            Some((f, format!("{a:?}"), format!("{b:?}")))
        };
        if self.name != given.name {
            return d("name", &self.name, &given.name);
        }
        if self.direction != given.direction {
            return d("direction", &self.direction, &given.direction);
        }
        if self.space != given.space {
            return d("space", &self.space, &given.space);
        }
        if self.seed != given.seed {
            return d("seed", &self.seed, &given.seed);
        }
        if self.workers != given.workers {
            return d("workers", &self.workers, &given.workers);
        }
        if self.deterministic != given.deterministic {
            return d("deterministic", &self.deterministic, &given.deterministic);
        }
        if self.sampler != given.sampler {
            return d("sampler", &self.sampler, &given.sampler);
        }
        if self.pruner != given.pruner {
            return d("pruner", &self.pruner, &given.pruner);
        }
        None
    }
}

/// Checks a search space: non-empty, unique names, finite ordered bounds, `log` with a
/// positive low, positive steps, non-empty choices, parents declared before their children.
///
/// # Errors
/// [`Error::InvalidSpec`] at `space.<name>`.
pub fn validate_space(space: &SearchSpace) -> Result<()> {
    if space.params.is_empty() {
        return Err(Error::spec("space", "has no parameters"));
    }
    let mut seen = BTreeSet::new();
    for p in &space.params {
        let at = format!("space.{}", p.name);
        if p.name.is_empty() {
            return Err(Error::spec("space", "a parameter has an empty name"));
        }
        if let Some(c) = &p.condition {
            if !seen.contains(c.parent.as_str()) {
                return Err(Error::spec(
                    &at,
                    format!("parent {:?} is not declared before it", c.parent),
                ));
            }
        }
        if !seen.insert(p.name.as_str()) {
            return Err(Error::spec(&at, "is declared twice"));
        }
        match &p.distribution {
            Distribution::Float {
                low,
                high,
                log,
                step,
            } => {
                if !low.is_finite() || !high.is_finite() {
                    return Err(Error::spec(&at, "bounds must be finite"));
                }
                if low > high {
                    return Err(Error::spec(&at, format!("low {low} > high {high}")));
                }
                if *log && *low <= 0.0 {
                    return Err(Error::spec(&at, "log needs low > 0"));
                }
                if let Some(s) = step {
                    if *log {
                        return Err(Error::spec(&at, "step cannot be used with log"));
                    }
                    if !s.is_finite() || *s <= 0.0 {
                        return Err(Error::spec(&at, "step must be finite and > 0"));
                    }
                }
            }
            Distribution::Int {
                low,
                high,
                log,
                step,
            } => {
                if low > high {
                    return Err(Error::spec(&at, format!("low {low} > high {high}")));
                }
                if *step < 1 {
                    return Err(Error::spec(&at, "step must be ≥ 1"));
                }
                if *log && (*low < 1 || *step != 1) {
                    return Err(Error::spec(&at, "log needs low ≥ 1 and step 1"));
                }
            }
            Distribution::Categorical { choices } => {
                if choices.is_empty() {
                    return Err(Error::spec(&at, "has no choices"));
                }
            }
        }
    }
    Ok(())
}

fn derive_seed(tag: &[u8], seed: u64, number: u64) -> u64 {
    let mut h = Sha256::new();
    h.update(tag);
    h.update(seed.to_le_bytes());
    h.update(number.to_le_bytes());
    let d = h.finalize();
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    u64::from_le_bytes(b)
}

/// The seed given to trial `number`'s objective.
///
/// # Formula
/// The first 8 bytes, little endian, of
/// `SHA-256(b"mlops-hpo/trial\0" ‖ seed as u64 LE ‖ number as u64 LE)`.
pub fn trial_seed(seed: u64, number: u64) -> u64 {
    derive_seed(b"mlops-hpo/trial\0", seed, number)
}

/// The seed given to the sampler for trial `number`: as [`trial_seed`] with the tag
/// `b"mlops-hpo/sample\0"`, so the objective's and the sampler's streams differ.
pub fn sampler_seed(seed: u64, number: u64) -> u64 {
    derive_seed(b"mlops-hpo/sample\0", seed, number)
}

/// A uniform random sampler: each active parameter is drawn independently from its
/// distribution with a ChaCha8 generator seeded by `seed`; history is ignored.
///
/// A fallback for the `random` sampler name until the full samplers (random, TPE) are wired
/// in; its suggestions are a pure function of (space, seed), as the [`Sampler`] contract asks.
#[derive(Debug, Clone, Copy, Default)]
pub struct SimpleRandom;

impl Sampler for SimpleRandom {
    fn sample(
        &self,
        space: &SearchSpace,
        _direction: Direction,
        _history: &[FrozenTrial],
        _running: &[FrozenTrial],
        seed: u64,
    ) -> Result<Params> {
        validate_space(space)?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut out = Params::new();
        for p in &space.params {
            if let Some(c) = &p.condition {
                let active = out.get(&c.parent).is_some_and(|v| c.values.contains(v));
                if !active {
                    continue;
                }
            }
            let v = match &p.distribution {
                Distribution::Float {
                    low,
                    high,
                    log,
                    step,
                } => ParamValue::Float(sample_float(&mut rng, *low, *high, *log, *step)),
                Distribution::Int {
                    low,
                    high,
                    log,
                    step,
                } => ParamValue::Int(sample_int(&mut rng, *low, *high, *log, *step)),
                Distribution::Categorical { choices } => {
                    let i = rng.gen_range(0..choices.len());
                    ParamValue::Str(choices[i].clone())
                }
            };
            out.insert(p.name.clone(), v);
        }
        Ok(out)
    }
}

fn sample_float(rng: &mut ChaCha8Rng, low: f64, high: f64, log: bool, step: Option<f64>) -> f64 {
    if low == high {
        return low;
    }
    if log {
        let x = rng.gen_range(low.ln()..=high.ln()).exp();
        return x.clamp(low, high);
    }
    match step {
        Some(s) => {
            // Bounds and step were validated finite and positive, so the count is finite.
            let n = ((high - low) / s + 1e-9).floor() as u64;
            let k = rng.gen_range(0..=n);
            (low + k as f64 * s).min(high)
        }
        None => rng.gen_range(low..=high),
    }
}

fn sample_int(rng: &mut ChaCha8Rng, low: i64, high: i64, log: bool, step: i64) -> i64 {
    if log {
        // low ≥ 1 (validated): uniform in log space over [low, high + 1), floored.
        let x = rng
            .gen_range((low as f64).ln()..((high as f64) + 1.0).ln())
            .exp();
        return (x.floor() as i64).clamp(low, high);
    }
    let n = (high - low) / step;
    low + rng.gen_range(0..=n) * step
}

/// One trial as replayed from the journal, with its bookkeeping.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrialRecord {
    /// The trial. A queued trial (re-queued, not re-run yet) shows `Fail`, its last attempt's
    /// fate.
    pub trial: FrozenTrial,
    /// Attempts started (1 for a trial that ran once).
    pub attempts: u32,
    /// Re-queued after its writer died and not started again yet.
    pub queued: bool,
    /// The worker of the last attempt.
    pub worker: u32,
    /// The last attempt's lease end (ms since the Unix epoch).
    pub lease_until_ms: u64,
}

impl TrialRecord {
    fn is_finished(&self) -> bool {
        !self.queued && self.trial.state != TrialState::Running
    }
}

/// A study's history as replayed from its journal.
#[derive(Debug, Clone, PartialEq)]
pub struct History {
    /// The recorded spec.
    pub spec: StudySpec,
    /// Every trial, by number.
    pub trials: BTreeMap<u64, TrialRecord>,
}

impl History {
    /// The best complete trial (lowest number on ties), if any.
    pub fn best(&self) -> Option<&FrozenTrial> {
        best_of(self.spec.direction, self.trials.values().map(|r| &r.trial))
    }
}

fn best_of<'a>(
    direction: Direction,
    trials: impl Iterator<Item = &'a FrozenTrial>,
) -> Option<&'a FrozenTrial> {
    let mut best: Option<(&FrozenTrial, f64)> = None;
    for t in trials {
        let (TrialState::Complete, Some(v)) = (t.state, t.value) else {
            continue;
        };
        let better = match best {
            None => true,
            Some((_, b)) => match direction {
                Direction::Minimize => v < b,
                Direction::Maximize => v > b,
            },
        };
        if better {
            best = Some((t, v));
        }
    }
    best.map(|(t, _)| t)
}

/// Replays journal entries into a [`History`].
///
/// # Errors
/// [`Error::Corrupt`] (at the offending record's offset, `path` naming the journal) when the
/// records are not a history this crate writes: no leading `StudyCreated`, a trial started
/// twice, a record for a trial that is not running, a re-queue with other params.
pub fn replay(path: &Path, entries: &[Entry]) -> Result<History> {
    let bad = |offset: u64, reason: String| Error::Corrupt {
        path: path.to_path_buf(),
        offset,
        reason,
    };
    let Some(first) = entries.first() else {
        return Err(bad(0, "the journal holds no record".into()));
    };
    let Record::StudyCreated {
        name,
        direction,
        space,
        seed,
        workers,
        deterministic,
        sampler,
        pruner,
    } = &first.record
    else {
        return Err(bad(0, "the first record is not study_created".into()));
    };
    let spec = StudySpec {
        name: name.clone(),
        direction: *direction,
        space: space.clone(),
        seed: *seed,
        workers: *workers,
        deterministic: *deterministic,
        sampler: sampler.clone(),
        pruner: pruner.clone(),
    };
    let mut trials: BTreeMap<u64, TrialRecord> = BTreeMap::new();
    for e in &entries[1..] {
        let at = e.offset;
        match &e.record {
            Record::StudyCreated { .. } => {
                return Err(bad(at, "a second study_created record".into()))
            }
            Record::TrialStarted {
                number,
                params,
                seed,
                worker,
                lease_until_ms,
            } => match trials.get_mut(number) {
                None => {
                    trials.insert(
                        *number,
                        TrialRecord {
                            trial: FrozenTrial {
                                number: *number,
                                state: TrialState::Running,
                                params: params.clone(),
                                value: None,
                                intermediate: BTreeMap::new(),
                                seed: *seed,
                            },
                            attempts: 1,
                            queued: false,
                            worker: *worker,
                            lease_until_ms: *lease_until_ms,
                        },
                    );
                }
                Some(r) if r.queued => {
                    if r.trial.params != *params || r.trial.seed != *seed {
                        return Err(bad(
                            at,
                            format!("trial {number} re-ran with other params or seed"),
                        ));
                    }
                    r.queued = false;
                    r.attempts += 1;
                    r.trial.state = TrialState::Running;
                    r.trial.intermediate.clear();
                    r.worker = *worker;
                    r.lease_until_ms = *lease_until_ms;
                }
                Some(_) => return Err(bad(at, format!("trial {number} started twice"))),
            },
            Record::Heartbeat {
                number,
                lease_until_ms,
            } => {
                let r = running(&mut trials, *number).map_err(|m| bad(at, m))?;
                r.lease_until_ms = *lease_until_ms;
            }
            Record::Intermediate {
                number,
                step,
                value,
            } => {
                let r = running(&mut trials, *number).map_err(|m| bad(at, m))?;
                if r.trial.intermediate.insert(*step, *value).is_some() {
                    return Err(bad(
                        at,
                        format!("trial {number} reported step {step} twice"),
                    ));
                }
            }
            Record::TrialFinished {
                number,
                state,
                value,
            } => {
                if *state == TrialState::Running {
                    return Err(bad(at, format!("trial {number} finished as running")));
                }
                let r = running(&mut trials, *number).map_err(|m| bad(at, m))?;
                r.trial.state = *state;
                r.trial.value = *value;
            }
            Record::TrialRequeued { number, attempt } => {
                let r = running(&mut trials, *number).map_err(|m| bad(at, m))?;
                if *attempt + 1 != r.attempts {
                    return Err(bad(
                        at,
                        format!(
                            "trial {number}: re-queue of attempt {attempt}, but {} started",
                            r.attempts
                        ),
                    ));
                }
                r.queued = true;
                r.trial.state = TrialState::Fail;
                r.trial.intermediate.clear();
            }
        }
    }
    Ok(History { spec, trials })
}

fn running(
    trials: &mut BTreeMap<u64, TrialRecord>,
    number: u64,
) -> std::result::Result<&mut TrialRecord, String> {
    match trials.get_mut(&number) {
        Some(r) if !r.queued && r.trial.state == TrialState::Running => Ok(r),
        Some(_) => Err(format!("trial {number} is not running")),
        None => Err(format!("trial {number} was never started")),
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn lease_ms(lease: Duration) -> u64 {
    u64::try_from(lease.as_millis()).unwrap_or(u64::MAX)
}

/// What [`Study::open_or_create`] recovered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Recovery {
    /// Bytes of torn journal tail cut at open.
    pub cut_bytes: u64,
    /// Trials whose attempt died with its writer, re-queued at open.
    pub requeued: Vec<u64>,
    /// True when the journal was new.
    pub created: bool,
}

/// What one [`Study::run`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RunSummary {
    /// Trials this call ran to an end.
    pub ran: u64,
    /// Of those, complete.
    pub complete: u64,
    /// Of those, pruned.
    pub pruned: u64,
    /// Of those, failed (the objective errored, panicked or returned a non-finite value).
    pub failed: u64,
}

struct State {
    journal: Journal,
    trials: BTreeMap<u64, TrialRecord>,
    /// Trial numbers a worker has taken but not yet journaled as started.
    claimed: BTreeSet<u64>,
    /// Set when a worker hit an error that stops the run (a journal write, the sampler).
    fatal: Option<Error>,
}

/// A study open for running: it holds the journal's lock.
#[derive(Debug)]
pub struct Study {
    spec: StudySpec,
    path: PathBuf,
    state: Mutex<State>,
    changed: Condvar,
    sampler: Option<Arc<dyn Sampler>>,
    pruner: Option<Arc<dyn Pruner>>,
    lease: Duration,
    recovery: Recovery,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("journal", &self.journal.path())
            .field("trials", &self.trials.len())
            .finish_non_exhaustive()
    }
}

/// What a worker does next.
struct Job {
    number: u64,
    /// Known params (a re-queued trial) or none (to be sampled).
    params: Option<(Params, u64)>,
}

impl Study {
    /// Opens the study in `journal_path`, creating it with `spec` when the journal is new or
    /// empty; resuming otherwise. On resume, every trial left running by a dead writer is
    /// re-queued (see the module docs).
    ///
    /// The `random` sampler and the `none` pruner are built in; other names need
    /// [`Study::with_sampler`] / [`Study::with_pruner`] before [`Study::run`].
    ///
    /// # Errors
    /// [`Error::InvalidSpec`] when `spec` is invalid or differs from the recorded one (`at`
    /// names the field); [`Error::Locked`], [`Error::Corrupt`], [`Error::Io`] from
    /// [`Journal::open`] and [`replay`].
    #[tracing::instrument(skip_all, fields(path = %journal_path.as_ref().display(), study = %spec.name), err)]
    pub fn open_or_create(journal_path: impl AsRef<Path>, spec: StudySpec) -> Result<Study> {
        spec.validate()?;
        let path = journal_path.as_ref().to_path_buf();
        let opened = Journal::open(&path)?;
        let mut journal = opened.journal;
        let mut recovery = Recovery {
            cut_bytes: opened.cut_bytes,
            ..Recovery::default()
        };
        let trials = if opened.entries.is_empty() {
            journal.append(&[spec.to_record()])?;
            recovery.created = true;
            BTreeMap::new()
        } else {
            let history = replay(&path, &opened.entries)?;
            if let Some((field, recorded, given)) = history.spec.first_difference(&spec) {
                return Err(Error::spec(
                    field,
                    format!("the journal records {recorded}, the spec given says {given}"),
                ));
            }
            let mut trials = history.trials;
            let mut requeue = Vec::new();
            for r in trials.values_mut() {
                if !r.queued && r.trial.state == TrialState::Running {
                    requeue.push(Record::TrialRequeued {
                        number: r.trial.number,
                        attempt: r.attempts - 1,
                    });
                    recovery.requeued.push(r.trial.number);
                    r.queued = true;
                    r.trial.state = TrialState::Fail;
                    r.trial.intermediate.clear();
                }
            }
            if !requeue.is_empty() {
                tracing::warn!(trials = ?recovery.requeued, "re-queueing trials of a dead writer");
                journal.append(&requeue)?;
            }
            trials
        };
        let sampler: Option<Arc<dyn Sampler>> = match spec.sampler.as_str() {
            "random" => Some(Arc::new(SimpleRandom)),
            _ => None,
        };
        Ok(Study {
            spec,
            path,
            state: Mutex::new(State {
                journal,
                trials,
                claimed: BTreeSet::new(),
                fatal: None,
            }),
            changed: Condvar::new(),
            sampler,
            pruner: None,
            lease: DEFAULT_LEASE,
            recovery,
        })
    }

    /// Uses `sampler` for the spec's sampler name.
    pub fn with_sampler(mut self, sampler: Arc<dyn Sampler>) -> Self {
        self.sampler = Some(sampler);
        self
    }

    /// Uses `pruner` for the spec's pruner name (ignored when the name is `none`).
    pub fn with_pruner(mut self, pruner: Arc<dyn Pruner>) -> Self {
        self.pruner = Some(pruner);
        self
    }

    /// Sets the lease of running trials (default [`DEFAULT_LEASE`]); heartbeats come every
    /// third of it.
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// The spec.
    pub fn spec(&self) -> &StudySpec {
        &self.spec
    }

    /// The journal's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What the open recovered.
    pub fn recovery(&self) -> &Recovery {
        &self.recovery
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock means a panic in this module's own bookkeeping (objectives run
        // outside it); the state is still consistent with the journal, so carry on.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every trial, by number, except re-queued ones not yet re-run.
    pub fn trials(&self) -> Vec<FrozenTrial> {
        self.lock()
            .trials
            .values()
            .filter(|r| !r.queued)
            .map(|r| r.trial.clone())
            .collect()
    }

    /// Every trial with its bookkeeping (attempts, lease, queued), by number.
    pub fn records(&self) -> Vec<TrialRecord> {
        self.lock().trials.values().cloned().collect()
    }

    /// The best complete trial (lowest number on ties).
    ///
    /// # Errors
    /// [`Error::Study`] when no trial is complete.
    pub fn best(&self) -> Result<FrozenTrial> {
        let st = self.lock();
        best_of(self.spec.direction, st.trials.values().map(|r| &r.trial))
            .cloned()
            .ok_or_else(|| Error::Study {
                study: self.spec.name.clone(),
                reason: "no trial is complete".into(),
            })
    }

    /// Runs trials until trials `0..n_trials` have all ended, on `workers` threads.
    /// `n_trials` counts the whole study, resumed trials included: a second call with the
    /// same number does nothing.
    ///
    /// The objective gets a [`TrialCtx`] (params, seed, [`TrialCtx::report`]). An `Err`,
    /// a panic or a non-finite value make the trial `Fail`; after `report` returned `true`
    /// the trial is `Pruned` (its last intermediate value counts) whatever it returns.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for `workers == 0` or a zero lease; [`Error::InvalidSpec`]
    /// when the spec's sampler or pruner has no implementation here; errors of the sampler,
    /// and [`Error::Io`] when the journal cannot be written (the run stops; finished trials
    /// stay recorded).
    #[tracing::instrument(skip_all, fields(study = %self.spec.name, n_trials, workers), err)]
    pub fn run(
        &self,
        objective: &(dyn Fn(&TrialCtx<'_>) -> Result<f64> + Sync),
        n_trials: u64,
        workers: usize,
    ) -> Result<RunSummary> {
        if workers == 0 {
            return Err(Error::invalid("workers", "must be at least 1"));
        }
        if self.lease < Duration::from_millis(3) {
            return Err(Error::invalid("lease", "must be at least 3 ms"));
        }
        let sampler = self.sampler.clone().ok_or_else(|| {
            Error::spec(
                "sampler",
                format!(
                    "no implementation of {:?} in this build (only \"random\" is built in; pass one with Study::with_sampler)",
                    self.spec.sampler
                ),
            )
        })?;
        let pruner = match (self.spec.pruner.as_str(), &self.pruner) {
            ("none", _) => None,
            (_, Some(p)) => Some(Arc::clone(p)),
            (name, None) => {
                return Err(Error::spec(
                    "pruner",
                    format!("no implementation of {name:?} in this build (pass one with Study::with_pruner)"),
                ))
            }
        };
        {
            let mut st = self.lock();
            st.fatal = None;
        }
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let results: Vec<Result<RunSummary>> = std::thread::scope(|s| {
            s.spawn(move || self.heartbeats(&stop_rx));
            let handles: Vec<_> = (0..workers)
                .map(|w| {
                    let sampler = Arc::clone(&sampler);
                    let pruner = pruner.clone();
                    s.spawn(move || {
                        // Worker indices are small: the thread count fits in u32 in practice.
                        let worker = u32::try_from(w).unwrap_or(u32::MAX);
                        let r =
                            self.worker(worker, objective, &*sampler, pruner.as_deref(), n_trials);
                        if let Err(e) = &r {
                            tracing::error!(worker, error = %e, "worker stopped");
                        }
                        r
                    })
                })
                .collect();
            let results = handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(Error::Study {
                            study: self.spec.name.clone(),
                            reason: "a worker thread panicked".into(),
                        })
                    })
                })
                .collect();
            drop(stop_tx);
            results
        });
        let mut total = RunSummary::default();
        let mut first_err = None;
        for r in results {
            match r {
                Ok(s) => {
                    total.ran += s.ran;
                    total.complete += s.complete;
                    total.pruned += s.pruned;
                    total.failed += s.failed;
                }
                Err(e) => {
                    if first_err.is_none() {
                        first_err = Some(e);
                    }
                }
            }
        }
        let mut st = self.lock();
        if let Some(e) = st.fatal.take().or(first_err) {
            return Err(e);
        }
        Ok(total)
    }

    /// Extends the lease of every running trial every third of the lease until `stop` closes.
    fn heartbeats(&self, stop: &mpsc::Receiver<()>) {
        let every = self.lease / 3;
        loop {
            match stop.recv_timeout(every) {
                Err(RecvTimeoutError::Timeout) => {}
                Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
            }
            let until = now_ms().saturating_add(lease_ms(self.lease));
            let mut st = self.lock();
            let beats: Vec<Record> = st
                .trials
                .values()
                .filter(|r| !r.queued && r.trial.state == TrialState::Running)
                .map(|r| Record::Heartbeat {
                    number: r.trial.number,
                    lease_until_ms: until,
                })
                .collect();
            if beats.is_empty() {
                continue;
            }
            match st.journal.append(&beats) {
                Ok(()) => {
                    for r in st.trials.values_mut() {
                        if !r.queued && r.trial.state == TrialState::Running {
                            r.lease_until_ms = until;
                        }
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "heartbeat failed; stopping the run");
                    if st.fatal.is_none() {
                        st.fatal = Some(e);
                    }
                    self.changed.notify_all();
                    return;
                }
            }
        }
    }

    /// Takes the next job: the lowest re-queued trial, else the lowest number never started.
    fn claim(st: &mut State, n_trials: u64) -> Option<Job> {
        let queued = st
            .trials
            .values()
            .find(|r| {
                r.queued && r.trial.number < n_trials && !st.claimed.contains(&r.trial.number)
            })
            .map(|r| Job {
                number: r.trial.number,
                params: Some((r.trial.params.clone(), r.trial.seed)),
            });
        if let Some(job) = queued {
            st.claimed.insert(job.number);
            return Some(job);
        }
        let next = (0..n_trials).find(|k| !st.trials.contains_key(k) && !st.claimed.contains(k))?;
        st.claimed.insert(next);
        Some(Job {
            number: next,
            params: None,
        })
    }

    fn worker(
        &self,
        worker: u32,
        objective: &(dyn Fn(&TrialCtx<'_>) -> Result<f64> + Sync),
        sampler: &dyn Sampler,
        pruner: Option<&dyn Pruner>,
        n_trials: u64,
    ) -> Result<RunSummary> {
        let mut summary = RunSummary::default();
        let lag = u64::from(self.spec.workers);
        loop {
            // Claim a job and, in deterministic mode, wait for the trials it may see.
            let mut st = self.lock();
            if st.fatal.is_some() {
                return Ok(summary);
            }
            let Some(job) = Self::claim(&mut st, n_trials) else {
                return Ok(summary);
            };
            let k = job.number;
            let (history, running) = if self.spec.deterministic {
                let horizon = k.saturating_sub(lag);
                loop {
                    if st.fatal.is_some() {
                        st.claimed.remove(&k);
                        return Ok(summary);
                    }
                    let ready = (0..horizon)
                        .all(|j| st.trials.get(&j).is_some_and(TrialRecord::is_finished));
                    if ready {
                        break;
                    }
                    st = self
                        .changed
                        .wait(st)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                let h: Vec<FrozenTrial> = st
                    .trials
                    .range(..horizon)
                    .map(|(_, r)| r.trial.clone())
                    .collect();
                (h, Vec::new())
            } else {
                let h = st
                    .trials
                    .values()
                    .filter(|r| r.is_finished())
                    .map(|r| r.trial.clone())
                    .collect();
                let run = st
                    .trials
                    .values()
                    .filter(|r| !r.queued && r.trial.state == TrialState::Running)
                    .map(|r| r.trial.clone())
                    .collect();
                (h, run)
            };
            drop(st);

            let (params, seed) = match job.params {
                Some(p) => p,
                None => {
                    let sampled = sampler.sample(
                        &self.spec.space,
                        self.spec.direction,
                        &history,
                        &running,
                        sampler_seed(self.spec.seed, k),
                    );
                    match sampled {
                        Ok(p) => (p, trial_seed(self.spec.seed, k)),
                        Err(e) => return Err(self.stop(k, e)),
                    }
                }
            };
            let until = now_ms().saturating_add(lease_ms(self.lease));
            {
                let mut st = self.lock();
                let started = Record::TrialStarted {
                    number: k,
                    params: params.clone(),
                    seed,
                    worker,
                    lease_until_ms: until,
                };
                if let Err(e) = st.journal.append(&[started]) {
                    drop(st);
                    return Err(self.stop(k, e));
                }
                st.claimed.remove(&k);
                let attempts = st.trials.get(&k).map_or(0, |r| r.attempts) + 1;
                st.trials.insert(
                    k,
                    TrialRecord {
                        trial: FrozenTrial {
                            number: k,
                            state: TrialState::Running,
                            params: params.clone(),
                            value: None,
                            intermediate: BTreeMap::new(),
                            seed,
                        },
                        attempts,
                        queued: false,
                        worker,
                        lease_until_ms: until,
                    },
                );
            }
            self.changed.notify_all();

            let ctx = TrialCtx {
                study: self,
                number: k,
                params,
                seed,
                pruner,
                history: if self.spec.deterministic {
                    Some(history)
                } else {
                    None
                },
                intermediate: Mutex::new(BTreeMap::new()),
                pruned: std::sync::atomic::AtomicBool::new(false),
            };
            let outcome = catch_unwind(AssertUnwindSafe(|| objective(&ctx)));
            let (state, value) = if ctx.is_pruned() {
                let last = ctx
                    .intermediate
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .values()
                    .next_back()
                    .copied();
                (TrialState::Pruned, last)
            } else {
                match outcome {
                    Ok(Ok(v)) if v.is_finite() => (TrialState::Complete, Some(v)),
                    Ok(Ok(v)) => {
                        tracing::warn!(
                            trial = k,
                            value = v,
                            "objective returned a non-finite value"
                        );
                        (TrialState::Fail, None)
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(trial = k, error = %e, "objective failed");
                        (TrialState::Fail, None)
                    }
                    Err(_) => {
                        tracing::warn!(trial = k, "objective panicked");
                        (TrialState::Fail, None)
                    }
                }
            };
            {
                let mut st = self.lock();
                let fin = Record::TrialFinished {
                    number: k,
                    state,
                    value,
                };
                if let Err(e) = st.journal.append(&[fin]) {
                    drop(st);
                    return Err(self.stop(k, e));
                }
                if let Some(r) = st.trials.get_mut(&k) {
                    r.trial.state = state;
                    r.trial.value = value;
                }
            }
            self.changed.notify_all();
            summary.ran += 1;
            match state {
                TrialState::Complete => summary.complete += 1,
                TrialState::Pruned => summary.pruned += 1,
                _ => summary.failed += 1,
            }
        }
    }

    /// Records a fatal error for every worker to see; returns a copy-free marker error.
    fn stop(&self, k: u64, e: Error) -> Error {
        let mut st = self.lock();
        st.claimed.remove(&k);
        let msg = e.to_string();
        if st.fatal.is_none() {
            st.fatal = Some(e);
        }
        drop(st);
        self.changed.notify_all();
        Error::Study {
            study: self.spec.name.clone(),
            reason: format!("trial {k}: {msg}"),
        }
    }
}

/// What the objective sees of its trial.
#[derive(Debug)]
pub struct TrialCtx<'a> {
    study: &'a Study,
    number: u64,
    params: Params,
    seed: u64,
    pruner: Option<&'a dyn Pruner>,
    /// The deterministic snapshot the pruner sees; `None`: the live finished trials.
    history: Option<Vec<FrozenTrial>>,
    intermediate: Mutex<BTreeMap<u64, f64>>,
    pruned: std::sync::atomic::AtomicBool,
}

impl TrialCtx<'_> {
    /// The trial number.
    pub fn number(&self) -> u64 {
        self.number
    }

    /// The trial's params.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// The seed for the objective's own randomness ([`trial_seed`]).
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The float (or integer, widened) param `name`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when it is absent or categorical.
    pub fn param_f64(&self, name: &str) -> Result<f64> {
        match self.params.get(name) {
            Some(ParamValue::Float(x)) => Ok(*x),
            // Search-space integers are far below 2^53 in practice; widening is the intent.
            Some(ParamValue::Int(i)) => Ok(*i as f64),
            Some(ParamValue::Str(s)) => Err(Error::invalid(
                format!("param {name}"),
                format!("is categorical ({s:?}), not a number"),
            )),
            None => Err(Error::invalid(
                format!("param {name}"),
                "is not in this trial",
            )),
        }
    }

    /// True once [`TrialCtx::report`] has returned `true`.
    pub fn is_pruned(&self) -> bool {
        self.pruned.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Journals the intermediate `value` at `step` and asks the pruner whether to stop.
    /// Returns `true` when the trial should stop now (it will be recorded `Pruned`).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a non-finite value or a step already reported;
    /// [`Error::Io`] when the journal cannot be written.
    pub fn report(&self, step: u64, value: f64) -> Result<bool> {
        if !value.is_finite() {
            return Err(Error::invalid(
                "intermediate value",
                format!("{value} at step {step} is not finite"),
            ));
        }
        if self.is_pruned() {
            return Ok(true);
        }
        let snapshot = {
            let mut mine = self
                .intermediate
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if mine.contains_key(&step) {
                return Err(Error::invalid(
                    "step",
                    format!("{step} was already reported for trial {}", self.number),
                ));
            }
            let mut st = self.study.lock();
            st.journal.append(&[Record::Intermediate {
                number: self.number,
                step,
                value,
            }])?;
            if let Some(r) = st.trials.get_mut(&self.number) {
                r.trial.intermediate.insert(step, value);
            }
            mine.insert(step, value);
            let live = match (&self.history, self.pruner) {
                (None, Some(_)) => Some(
                    st.trials
                        .values()
                        .filter(|r| r.is_finished())
                        .map(|r| r.trial.clone())
                        .collect::<Vec<_>>(),
                ),
                _ => None,
            };
            (mine.clone(), live)
        };
        let Some(pruner) = self.pruner else {
            return Ok(false);
        };
        let (intermediate, live) = snapshot;
        let me = FrozenTrial {
            number: self.number,
            state: TrialState::Running,
            params: self.params.clone(),
            value: None,
            intermediate,
            seed: self.seed,
        };
        let history: &[FrozenTrial] = match (&self.history, &live) {
            (Some(h), _) => h,
            (None, Some(l)) => l,
            (None, None) => &[],
        };
        let prune = pruner.should_prune(self.study.spec.direction, &me, step, history);
        if prune {
            self.pruned.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        Ok(prune)
    }
}

/// How a study file names its objective.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ObjectiveSpec {
    /// A built-in function (`branin`, `hartmann6`, …); the runner resolves the name.
    Builtin(String),
    /// A program run once per trial (argv; the runner defines the protocol).
    Command(Vec<String>),
}

/// A study file (`study.toml`): the [`StudySpec`], the trial budget and the objective.
///
/// ```toml
/// name = "branin"
/// direction = "minimize"      # default
/// seed = 42                   # default 0
/// n_trials = 40               # the study's total
/// deterministic = true        # default
/// workers = 2                 # the deterministic schedule's width, default 1
/// sampler = "random"          # default
/// pruner = "none"             # default
/// objective = "branin"        # or: command = ["python3", "train.py"]
/// objective_delay_ms = 0      # built-ins sleep this long per trial (tests)
/// lease_ms = 30000            # default
///
/// [[space.params]]
/// name = "x1"
/// distribution = { type = "float", low = -5.0, high = 10.0 }
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StudyFile {
    /// See [`StudySpec::name`].
    pub name: String,
    /// See [`StudySpec::direction`].
    #[serde(default)]
    pub direction: Direction,
    /// See [`StudySpec::seed`].
    #[serde(default)]
    pub seed: u64,
    /// Trials in the whole study.
    pub n_trials: u64,
    /// See [`StudySpec::deterministic`].
    #[serde(default = "yes")]
    pub deterministic: bool,
    /// See [`StudySpec::workers`].
    #[serde(default = "one_worker")]
    pub workers: u32,
    /// See [`StudySpec::sampler`].
    #[serde(default = "random_name")]
    pub sampler: String,
    /// See [`StudySpec::pruner`].
    #[serde(default = "none_name")]
    pub pruner: String,
    /// The search space.
    pub space: SearchSpace,
    /// A built-in objective's name.
    #[serde(default)]
    pub objective: Option<String>,
    /// A command objective's argv.
    #[serde(default)]
    pub command: Option<Vec<String>>,
    /// Milliseconds a built-in objective sleeps per trial.
    #[serde(default)]
    pub objective_delay_ms: u64,
    /// The lease of running trials in milliseconds.
    #[serde(default)]
    pub lease_ms: Option<u64>,
}

fn yes() -> bool {
    true
}
fn one_worker() -> u32 {
    1
}
fn random_name() -> String {
    "random".into()
}
fn none_name() -> String {
    "none".into()
}

impl StudyFile {
    /// Parses and checks a study file's text.
    ///
    /// # Errors
    /// [`Error::InvalidSpec`] for TOML that does not parse or has unknown keys, an invalid
    /// spec, `n_trials = 0`, `lease_ms < 3`, or not exactly one of `objective` / a non-empty
    /// `command`.
    pub fn from_toml_str(text: &str) -> Result<StudyFile> {
        let f: StudyFile = toml::from_str(text)
            .map_err(|e| Error::spec("study file", e.to_string().trim_end().to_string()))?;
        f.spec().validate()?;
        if f.n_trials == 0 {
            return Err(Error::spec("n_trials", "must be at least 1"));
        }
        if f.lease_ms.is_some_and(|l| l < 3) {
            return Err(Error::spec("lease_ms", "must be at least 3"));
        }
        f.objective()?;
        Ok(f)
    }

    /// Reads and checks the study file at `path`.
    ///
    /// # Errors
    /// [`Error::Io`] when it cannot be read; as [`StudyFile::from_toml_str`] otherwise.
    #[tracing::instrument(skip_all, fields(path = %path.as_ref().display()), err)]
    pub fn load(path: impl AsRef<Path>) -> Result<StudyFile> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        StudyFile::from_toml_str(&text)
    }

    /// The study's spec.
    pub fn spec(&self) -> StudySpec {
        StudySpec {
            name: self.name.clone(),
            direction: self.direction,
            space: self.space.clone(),
            seed: self.seed,
            workers: self.workers,
            deterministic: self.deterministic,
            sampler: self.sampler.clone(),
            pruner: self.pruner.clone(),
        }
    }

    /// The lease ([`DEFAULT_LEASE`] unless `lease_ms` is given).
    pub fn lease(&self) -> Duration {
        self.lease_ms.map_or(DEFAULT_LEASE, Duration::from_millis)
    }

    /// The objective.
    ///
    /// # Errors
    /// [`Error::InvalidSpec`] unless exactly one of `objective` and a non-empty `command` is
    /// given.
    pub fn objective(&self) -> Result<ObjectiveSpec> {
        match (&self.objective, &self.command) {
            (Some(name), None) if !name.is_empty() => Ok(ObjectiveSpec::Builtin(name.clone())),
            (None, Some(argv)) if argv.first().is_some_and(|p| !p.is_empty()) => {
                Ok(ObjectiveSpec::Command(argv.clone()))
            }
            (Some(_), Some(_)) => Err(Error::spec(
                "objective",
                "give either `objective` (a built-in) or `command`, not both",
            )),
            (None, None) => Err(Error::spec(
                "objective",
                "missing: give `objective = \"branin\"` or `command = [\"prog\", …]`",
            )),
            _ => Err(Error::spec("objective", "is empty")),
        }
    }
}
