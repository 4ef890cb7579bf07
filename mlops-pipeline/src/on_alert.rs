//! The loop's first link: a monitor alert that starts firing starts a pipeline run.
//!
//! [`AlertTrigger::start`] spawns one worker thread per pipeline; [`AlertTrigger::hook`] is an
//! [`mlops_monitor::alert::AlertHook`] to give [`mlops_monitor::alert::AlertEngine::on_event`].
//! The hook only queues (the alert engine is never blocked by a training run); the worker:
//! 1. ignores every transition other than *→ firing*, and rules not in the trigger's list;
//! 2. asks the [`Debouncer`] (persisted, so a restarted watcher does not fire again);
//! 3. runs the pipeline with [`Runner::run_and_register`], whose lock keeps one run at a time per
//!    pipeline even across processes; the alert is the run's [`TriggerCause`], recorded in the
//!    registered version's lineage tags (`mlops.trigger`, `mlops.trigger.detail`).
//!
//! Every queued alert ends as one [`TriggerOutcome`], readable with
//! [`AlertTrigger::outcomes`]; [`AlertTrigger::wait_idle`] waits for the queue to drain.

use std::path::PathBuf;
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use mlops_monitor::alert::{AlertEvent, AlertHook, AlertState};
use mlops_registry::Registry;

use crate::error::{Error, Result};
use crate::run::{RunOptions, RunReport, Runner};
use crate::spec::Pipeline;
use crate::trigger::{Debouncer, TriggerCause};

/// What an alert trigger is for.
pub struct AlertTriggerConfig {
    /// The pipeline to run.
    pub pipeline: Pipeline,
    /// The runner (with its built-in steps).
    pub runner: Runner,
    /// The registry a passing candidate goes to.
    pub registry: Option<Arc<dyn Registry>>,
    /// The alert rules that trigger it; empty means any rule.
    pub rules: Vec<String>,
    /// The run's options (cache directory, jobs); `trigger` is replaced by the alert.
    pub options: RunOptions,
    /// At most one run per this window.
    pub debounce: Duration,
    /// Where the debounce state lives (default `<cache>/debounce.json`).
    pub debounce_state: Option<PathBuf>,
}

impl std::fmt::Debug for AlertTriggerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertTriggerConfig")
            .field("pipeline", &self.pipeline.name)
            .field("rules", &self.rules)
            .field("debounce", &self.debounce)
            .finish_non_exhaustive()
    }
}

/// How one queued alert ended.
#[derive(Debug, Clone)]
pub enum TriggerOutcome {
    /// The pipeline ran (its steps may still have failed, or its gate refused the candidate).
    Ran(Box<RunReport>),
    /// A run was allowed less than the debounce window ago.
    Debounced {
        /// The alert's cause.
        cause: TriggerCause,
    },
    /// Another process was running the pipeline.
    Locked {
        /// The alert's cause.
        cause: TriggerCause,
    },
    /// The run could not start or the gate could not be evaluated.
    Error {
        /// The alert's cause.
        cause: TriggerCause,
        /// The error, as text.
        error: String,
    },
}

#[derive(Default)]
struct Shared {
    stopped: bool,
    queued: usize,
    outcomes: Vec<TriggerOutcome>,
}

/// A running alert trigger (see the module docs). Dropping it stops the worker after the
/// run in progress.
pub struct AlertTrigger {
    tx: Option<mpsc::Sender<TriggerCause>>,
    rules: Arc<Vec<String>>,
    shared: Arc<(Mutex<Shared>, Condvar)>,
    worker: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for AlertTrigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertTrigger")
            .field("rules", &self.rules)
            .finish_non_exhaustive()
    }
}

/// The [`TriggerCause`] of an alert event, when it is a transition to firing.
pub fn cause_of(e: &AlertEvent) -> Option<TriggerCause> {
    if e.to != AlertState::Firing || e.from == AlertState::Firing {
        return None;
    }
    let k = &e.alert.key;
    let mut key = format!("{}/{}", k.model, k.arm);
    if let Some((col, val)) = &k.segment {
        key.push_str(&format!("/{col}={val}"));
    }
    Some(TriggerCause::Alert {
        rule: e.alert.rule.clone(),
        key,
        value: e.alert.value,
        at_ms: e.at_ms,
    })
}

impl AlertTrigger {
    /// Opens the debounce state and starts the worker.
    ///
    /// # Errors
    /// [`Error::Io`] / [`Error::Corrupt`] from [`Debouncer::open`]; [`Error::InvalidSpec`] from
    /// [`crate::register::PostRun::from_pipeline`] (a bad `[gate]` is refused before any alert).
    pub fn start(cfg: AlertTriggerConfig) -> Result<AlertTrigger> {
        crate::register::PostRun::from_pipeline(&cfg.pipeline)?;
        let cache = Runner::cache_dir(&cfg.pipeline, &cfg.options);
        let state = cfg
            .debounce_state
            .clone()
            .unwrap_or_else(|| cache.join("debounce.json"));
        let mut debouncer = Debouncer::open(state, cfg.debounce)?;
        let (tx, rx) = mpsc::channel::<TriggerCause>();
        let shared = Arc::new((Mutex::new(Shared::default()), Condvar::new()));
        let rules = Arc::new(cfg.rules.clone());
        let sh = Arc::clone(&shared);
        let worker = std::thread::Builder::new()
            .name(format!("mlops-trigger-{}", cfg.pipeline.name))
            .spawn(move || {
                let AlertTriggerConfig {
                    pipeline,
                    runner,
                    registry,
                    options,
                    ..
                } = cfg;
                let mut options = options;
                loop {
                    let cause = match rx.recv_timeout(Duration::from_millis(100)) {
                        Ok(c) => c,
                        Err(mpsc::RecvTimeoutError::Timeout) => {
                            let (m, _) = &*sh;
                            if m.lock().map_or(true, |g| g.stopped) {
                                break;
                            }
                            continue;
                        }
                        Err(mpsc::RecvTimeoutError::Disconnected) => break,
                    };
                    let _span = tracing::info_span!("alert_trigger", pipeline = %pipeline.name, cause = %cause.label()).entered();
                    let at = match &cause {
                        TriggerCause::Alert { at_ms, .. } => *at_ms,
                        _ => 0,
                    };
                    let outcome = match debouncer.try_fire(&pipeline.name, at) {
                        Ok(false) => TriggerOutcome::Debounced {
                            cause: cause.clone(),
                        },
                        Err(e) => TriggerOutcome::Error {
                            cause: cause.clone(),
                            error: e.to_string(),
                        },
                        Ok(true) => {
                            options.trigger = cause.clone();
                            match runner.run_and_register(&pipeline, &options, registry.as_deref())
                            {
                                Ok(r) => TriggerOutcome::Ran(Box::new(r)),
                                Err(Error::Locked { .. }) => TriggerOutcome::Locked {
                                    cause: cause.clone(),
                                },
                                Err(e) => TriggerOutcome::Error {
                                    cause: cause.clone(),
                                    error: e.to_string(),
                                },
                            }
                        }
                    };
                    let (m, cv) = &*sh;
                    let mut g = m.lock().unwrap_or_else(|p| p.into_inner());
                    g.outcomes.push(outcome);
                    g.queued = g.queued.saturating_sub(1);
                    cv.notify_all();
                }
            })
            .map_err(|e| Error::io("thread", e))?;
        Ok(AlertTrigger {
            tx: Some(tx),
            rules,
            shared,
            worker: Some(worker),
        })
    }

    /// Queues a run for `cause` (what the hook does for a matching alert).
    pub fn trigger(&self, cause: TriggerCause) {
        enqueue(&self.shared, self.tx.as_ref(), cause);
    }

    /// The hook for [`mlops_monitor::alert::AlertEngine::on_event`].
    pub fn hook(&self) -> AlertHook {
        let tx = self.tx.clone();
        let rules = Arc::clone(&self.rules);
        let shared = Arc::clone(&self.shared);
        Box::new(move |e: &AlertEvent| {
            let Some(cause) = cause_of(e) else { return };
            if !rules.is_empty() && !rules.contains(&e.alert.rule) {
                return;
            }
            enqueue(&shared, tx.as_ref(), cause);
        })
    }

    /// Waits until every queued alert has its outcome, or `timeout`; true when idle.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        let (m, cv) = &*self.shared;
        let deadline = Instant::now() + timeout;
        let mut g = m.lock().unwrap_or_else(|p| p.into_inner());
        while g.queued > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            g = match cv.wait_timeout(g, left) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
        true
    }

    /// The outcomes so far, oldest first.
    pub fn outcomes(&self) -> Vec<TriggerOutcome> {
        let (m, _) = &*self.shared;
        m.lock().unwrap_or_else(|p| p.into_inner()).outcomes.clone()
    }
}

/// Sends `cause` to the worker and counts it as queued, under the lock the worker takes to
/// count it done (so [`AlertTrigger::wait_idle`] never sees the count go below the truth).
fn enqueue(
    shared: &(Mutex<Shared>, Condvar),
    tx: Option<&mpsc::Sender<TriggerCause>>,
    cause: TriggerCause,
) {
    let mut g = shared.0.lock().unwrap_or_else(|p| p.into_inner());
    if tx.is_some_and(|tx| tx.send(cause).is_ok()) {
        g.queued += 1;
    }
}

impl Drop for AlertTrigger {
    fn drop(&mut self) {
        self.tx = None;
        {
            let (m, _) = &*self.shared;
            let mut g = m.lock().unwrap_or_else(|p| p.into_inner());
            g.stopped = true;
        }
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}
