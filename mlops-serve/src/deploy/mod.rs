//! Deployments: a router over a stable model version and an optional candidate, with canary,
//! A/B, shadow and blue-green strategies, automatic rollback and stepwise promotion.
//!
//! A [`Deployment`] owns one [`Engine`] per arm. Each request is routed once, under a
//! read lock that only clones the chosen engine handle; inference runs on the engines' own
//! threads. Every routing decision is counted per arm (`mlops_serve_routed_*` in
//! [`crate::Metrics`]) and every state change is a [`DeploymentEvent`] in a bounded log.
//!
//! | strategy | who answers | candidate's share |
//! |---|---|---|
//! | [`Strategy::Canary`] | the arm drawn at random per request | `weight` |
//! | [`Strategy::AbTest`] | the arm the request's routing key hashes to (sticky); random without a key | `weight` |
//! | [`Strategy::Shadow`] | always the stable arm; a `mirror` share is also sent to the candidate, compared, never returned | 0 (mirrors `mirror`) |
//! | [`Strategy::BlueGreen`] | always the stable arm until [`Deployment::promote`] switches atomically | 0 |
//!
//! After [`Deployment::promote`] the old stable version stays loaded as the *previous* arm,
//! so [`Deployment::rollback`] switches back instantly (blue-green's switch back).
//!
//! The [`RolloutPolicy`] is evaluated by [`Deployment::check`] (or every
//! [`RolloutPolicy::interval`] by [`Deployment::start_controller`]): over the requests since the
//! last evaluation, once the candidate has answered at least
//! [`RolloutPolicy::min_requests`], a check fails when the candidate's server-side error rate
//! exceeds [`RolloutPolicy::max_error_rate`], its p99 latency exceeds
//! [`RolloutPolicy::max_p99`] (or [`RolloutPolicy::max_p99_ratio`] × the stable arm's), or,
//! with a [`DriftGuard`], the PSI of its predictions against the stable arm's exceeds the
//! guard's threshold. [`RolloutPolicy::failed_checks`] consecutive failed checks roll back;
//! [`RolloutPolicy::checks_per_step`] consecutive passed checks move a canary or A/B weight to
//! the next of [`RolloutPolicy::steps`], and the step reaching 1.0 promotes.

mod window;

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use mlops_core::{ModelName, Signature};
use serde::{Deserialize, Serialize};

use crate::engine::{Engine, Pending, RequestOptions};
use crate::error::{Error, Result};
use crate::metrics::{ArmMetrics, Metrics};
use crate::predictor::ModelIdentity;
use crate::tensor::{Tensor, Tensors};

pub use window::WindowStats;
use window::{psi_between, ArmWindow};

/// Durations as milliseconds (f64) in JSON.
mod ms {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64() * 1e3)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let v = f64::deserialize(d)?;
        if !(v.is_finite() && (0.0..1e15).contains(&v)) {
            return Err(serde::de::Error::custom(format!(
                "{v} is not a duration in milliseconds (finite, ≥ 0)"
            )));
        }
        Ok(Duration::from_secs_f64(v / 1e3))
    }

    pub(super) mod option {
        use serde::{Deserialize, Deserializer, Serializer};
        use std::time::Duration;

        pub(in super::super) fn serialize<S: Serializer>(
            d: &Option<Duration>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match d {
                Some(d) => s.serialize_some(&(d.as_secs_f64() * 1e3)),
                None => s.serialize_none(),
            }
        }

        pub(in super::super) fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<Duration>, D::Error> {
            #[derive(Deserialize)]
            struct W(#[serde(with = "super")] Duration);
            Ok(Option::<W>::deserialize(d)?.map(|W(d)| d))
        }
    }
}

/// Which arm of a deployment answered (or, for a shadow, computed) a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arm {
    /// The version serving most traffic.
    Stable,
    /// The version under evaluation (canary, A/B arm, shadow or blue-green standby).
    Candidate,
    /// The version that was stable before the last promotion (kept loaded for an instant
    /// switch back); it answers only requests addressed to its version explicitly.
    Previous,
}

impl Arm {
    /// The label used in metrics and HTTP headers.
    pub fn as_str(self) -> &'static str {
        match self {
            Arm::Stable => "stable",
            Arm::Candidate => "candidate",
            Arm::Previous => "previous",
        }
    }
}

/// How the candidate takes traffic. Weights are shares in `[0, 1]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Strategy {
    /// Each request goes to the candidate with probability `weight`.
    Canary {
        /// Candidate share of requests.
        weight: f64,
    },
    /// Sticky split: a request's routing key always maps to the same arm for one candidate
    /// version (the hash is salted with the candidate's version, so a new experiment
    /// reshuffles); requests without a key are split at random.
    #[serde(rename = "ab")]
    AbTest {
        /// Candidate share of routing keys.
        weight: f64,
    },
    /// The stable arm answers everything; a `mirror` share of requests is also computed by the
    /// candidate, whose answer is compared with the stable one and never returned.
    Shadow {
        /// Share of requests mirrored to the candidate.
        mirror: f64,
    },
    /// The candidate is loaded and warm but takes no traffic until [`Deployment::promote`].
    BlueGreen,
}

impl Strategy {
    fn validate(&self) -> Result<()> {
        let share = match *self {
            Strategy::Canary { weight } | Strategy::AbTest { weight } => weight,
            Strategy::Shadow { mirror } => mirror,
            Strategy::BlueGreen => 0.0,
        };
        if !(share.is_finite() && (0.0..=1.0).contains(&share)) {
            return Err(Error::Config {
                what: "strategy".into(),
                reason: format!("share {share} must be a finite number in [0, 1]"),
            });
        }
        Ok(())
    }

    /// The candidate's share of answered requests (0 for shadow and blue-green).
    pub fn answer_share(&self) -> f64 {
        match *self {
            Strategy::Canary { weight } | Strategy::AbTest { weight } => weight,
            Strategy::Shadow { .. } | Strategy::BlueGreen => 0.0,
        }
    }

    fn gauge(&self) -> f64 {
        match *self {
            Strategy::Shadow { mirror } => mirror,
            other => other.answer_share(),
        }
    }
}

/// Compares a candidate's predictions with the stable arm's: the PSI of one output column,
/// with bins fitted on the stable arm's values (reference-quantile bins, ε = 1e-4 as in
/// `mlops-drift`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftGuard {
    /// The output tensor to watch.
    pub output: String,
    /// Column of that output (for `[n, k]` outputs; 0 for `[n]` or `[n, 1]`).
    pub column: usize,
    /// A check fails when the PSI exceeds this (industry band: > 0.25 is significant).
    pub max_psi: f64,
    /// Values each arm needs in the window before the guard is evaluated.
    pub min_samples: usize,
    /// Most recent values kept per arm.
    pub max_samples: usize,
}

impl DriftGuard {
    /// Watches `output[:, column]` with PSI threshold 0.25, 200 to 5000 values per arm.
    pub fn new(output: impl Into<String>, column: usize) -> Self {
        Self {
            output: output.into(),
            column,
            max_psi: 0.25,
            min_samples: 200,
            max_samples: 5000,
        }
    }
}

/// When a candidate is rolled back or promoted automatically.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RolloutPolicy {
    /// Candidate requests a check window needs before it is judged (smaller windows keep
    /// accumulating). Default 100.
    pub min_requests: u64,
    /// Highest acceptable server-side error rate of the candidate (default 0.01: Flagger's
    /// 99 % success rate).
    pub max_error_rate: f64,
    /// Highest acceptable candidate p99 latency, end to end (default 500 ms, as Flagger).
    /// In JSON: `max_p99_ms`.
    #[serde(rename = "max_p99_ms", with = "ms::option", default)]
    pub max_p99: Option<Duration>,
    /// Highest acceptable ratio of candidate p99 to stable p99 over the same window
    /// (`None` by default; both p99s are floored at 1 ms before dividing).
    pub max_p99_ratio: Option<f64>,
    /// Optional prediction-drift guard between the arms.
    pub drift: Option<DriftGuard>,
    /// Consecutive failed checks that roll the candidate back (default 3).
    pub failed_checks: u32,
    /// Canary / A/B weights to step through on passing checks, ascending; a step ≥ 1.0
    /// promotes. Empty (the default): no automatic promotion.
    pub steps: Vec<f64>,
    /// Consecutive passed checks before the next step (default 3).
    pub checks_per_step: u32,
    /// How often the controller thread evaluates (default 10 s). In JSON: `interval_ms`.
    #[serde(rename = "interval_ms", with = "ms")]
    pub interval: Duration,
}

impl Default for RolloutPolicy {
    fn default() -> Self {
        Self {
            min_requests: 100,
            max_error_rate: 0.01,
            max_p99: Some(Duration::from_millis(500)),
            max_p99_ratio: None,
            drift: None,
            failed_checks: 3,
            steps: Vec::new(),
            checks_per_step: 3,
            interval: Duration::from_secs(10),
        }
    }
}

impl RolloutPolicy {
    fn validate(&self) -> Result<()> {
        let bad = |what: &str, reason: String| {
            Err(Error::Config {
                what: format!("rollout policy {what}"),
                reason,
            })
        };
        if !(self.max_error_rate.is_finite() && (0.0..=1.0).contains(&self.max_error_rate)) {
            return bad(
                "max_error_rate",
                format!("{} not in [0, 1]", self.max_error_rate),
            );
        }
        if let Some(r) = self.max_p99_ratio {
            if !(r.is_finite() && r > 0.0) {
                return bad("max_p99_ratio", format!("{r} must be finite and > 0"));
            }
        }
        if self.failed_checks == 0 || self.checks_per_step == 0 {
            return bad("failed_checks/checks_per_step", "must be at least 1".into());
        }
        if self.min_requests == 0 {
            return bad("min_requests", "must be at least 1".into());
        }
        if self.interval.is_zero() {
            return bad("interval", "must be > 0".into());
        }
        let mut last = 0.0;
        for &s in &self.steps {
            if !(s.is_finite() && s > last && s <= 1.0) {
                return bad(
                    "steps",
                    format!("{:?} must be ascending shares in (0, 1]", self.steps),
                );
            }
            last = s;
        }
        if let Some(g) = &self.drift {
            if !(g.max_psi.is_finite() && g.max_psi >= 0.0) {
                return bad(
                    "drift.max_psi",
                    format!("{} must be finite and ≥ 0", g.max_psi),
                );
            }
            if g.min_samples < 2 || g.max_samples < g.min_samples {
                return bad(
                    "drift samples",
                    "need 2 ≤ min_samples ≤ max_samples".to_owned(),
                );
            }
        }
        Ok(())
    }
}

/// What happened to a deployment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventKind {
    /// A candidate was deployed (replacing `replaced`, if any).
    CandidateSet {
        /// The candidate's version.
        version: u64,
        /// How it takes traffic.
        strategy: Strategy,
        /// The candidate version it replaced.
        replaced: Option<u64>,
    },
    /// The candidate's strategy or weight changed.
    StrategyChanged {
        /// Candidate version.
        version: u64,
        /// Before.
        from: Strategy,
        /// After.
        to: Strategy,
    },
    /// An automatic promotion step raised the candidate's share.
    Step {
        /// Candidate version.
        version: u64,
        /// The new share.
        weight: f64,
    },
    /// The candidate became the stable version; the old stable one is kept as previous.
    Promoted {
        /// Old stable version.
        from: u64,
        /// New stable version.
        to: u64,
    },
    /// Traffic went back: the candidate was removed, or the previous version restored.
    RolledBack {
        /// The version that stopped serving.
        from: u64,
        /// The version serving now.
        to: u64,
    },
    /// The stable version was replaced in place (e.g. its registry alias moved).
    StableReplaced {
        /// Old stable version.
        from: u64,
        /// New stable version.
        to: u64,
    },
    /// The candidate was removed without a verdict.
    CandidateRemoved {
        /// Its version.
        version: u64,
    },
    /// A health check of the candidate failed.
    CheckFailed {
        /// Candidate version.
        version: u64,
        /// Consecutive failures so far.
        consecutive: u32,
    },
    /// Loading or switching to a version failed; serving continues unchanged.
    LoadFailed {
        /// The version that could not be loaded.
        version: u64,
    },
    /// An event could not be written back to the registry (its aliases are unchanged); the
    /// deployment's own state did change.
    WriteBackFailed {
        /// The `seq` of the event that was not written back.
        event_seq: u64,
    },
}

impl EventKind {
    /// A short label (`promoted`, `rolled_back`, ...), used in metrics.
    pub fn label(&self) -> &'static str {
        match self {
            EventKind::CandidateSet { .. } => "candidate_set",
            EventKind::StrategyChanged { .. } => "strategy_changed",
            EventKind::Step { .. } => "step",
            EventKind::Promoted { .. } => "promoted",
            EventKind::RolledBack { .. } => "rolled_back",
            EventKind::StableReplaced { .. } => "stable_replaced",
            EventKind::CandidateRemoved { .. } => "candidate_removed",
            EventKind::CheckFailed { .. } => "check_failed",
            EventKind::LoadFailed { .. } => "load_failed",
            EventKind::WriteBackFailed { .. } => "write_back_failed",
        }
    }
}

/// One entry of a deployment's event log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentEvent {
    /// Increasing sequence number, from 1.
    pub seq: u64,
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// The model.
    pub model: String,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
    /// Who did it: `controller` for automatic decisions, otherwise the caller's actor.
    pub actor: String,
    /// Why (for automatic decisions, the failed or passed criteria with their values).
    pub reason: String,
    /// Whether the deployment's controller decided it on its own.
    pub automatic: bool,
}

/// Which arm answered a routed request, and its outputs.
#[derive(Debug, Clone)]
pub struct Routed {
    /// The outputs.
    pub outputs: Tensors,
    /// The model version that computed them.
    pub model: ModelIdentity,
    /// The arm it serves as.
    pub arm: Arm,
}

/// Per-request routing options.
#[derive(Debug, Clone, Default)]
pub struct RouteOptions {
    /// Sticky routing key for A/B tests (a user or session id).
    pub key: Option<String>,
    /// Engine options (deadline, cache bypass).
    pub request: RequestOptions,
}

/// Shadow comparison totals for the current candidate.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ShadowStats {
    /// Mirrored requests whose answers were compared.
    pub compared: u64,
    /// Compared answers that differed beyond `atol + rtol·|stable|` (1e-5, 1e-4) in any element,
    /// or in shape.
    pub mismatched: u64,
    /// Mirrored requests the candidate failed.
    pub errors: u64,
    /// Mirrored requests not compared (comparison queue full, or the candidate refused them).
    pub dropped: u64,
    /// Mean absolute difference per compared element.
    pub mean_abs_diff: f64,
}

/// One arm's state in a [`DeploymentStatus`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ArmStatus {
    /// Model version.
    pub version: u64,
    /// Requests answered (or, for a shadow, computed) since the arm was deployed.
    pub requests: u64,
    /// Server-side failures since the arm was deployed.
    pub failures: u64,
    /// The current check window.
    pub window: WindowStats,
}

/// A deployment's state, as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeploymentStatus {
    /// The model.
    pub model: String,
    /// The stable arm.
    pub stable: ArmStatus,
    /// The candidate arm and its strategy.
    pub candidate: Option<CandidateStatus>,
    /// The version kept loaded for an instant switch back.
    pub previous: Option<u64>,
    /// The rollout policy.
    pub policy: RolloutPolicy,
    /// Consecutive failed checks of the current candidate.
    pub consecutive_failures: u32,
    /// Consecutive passed checks at the current step.
    pub consecutive_passes: u32,
}

/// The candidate part of a [`DeploymentStatus`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CandidateStatus {
    /// The arm.
    #[serde(flatten)]
    pub arm: ArmStatus,
    /// How it takes traffic.
    pub strategy: Strategy,
    /// Shadow comparison totals (all zero unless the strategy is shadow).
    pub shadow: ShadowStats,
}

/// The outcome of one [`Deployment::check`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum CheckOutcome {
    /// No candidate is deployed.
    NoCandidate,
    /// The window has fewer candidate requests than `min_requests`; it keeps accumulating.
    Insufficient {
        /// Candidate requests so far.
        requests: u64,
    },
    /// Every criterion held.
    Passed {
        /// The candidate's window.
        candidate: WindowStats,
        /// What was done: nothing, a step or a promotion.
        action: Option<EventKind>,
    },
    /// At least one criterion failed.
    Failed {
        /// The candidate's window.
        candidate: WindowStats,
        /// Each failed criterion, with its measured value and the limit.
        reasons: Vec<String>,
        /// Consecutive failures so far.
        consecutive: u32,
        /// Whether this failure rolled the candidate back.
        rolled_back: bool,
    },
}

type Hook = Arc<dyn Fn(&DeploymentEvent) + Send + Sync>;

#[derive(Clone)]
struct Slot {
    engine: Engine,
    identity: ModelIdentity,
    window: Arc<ArmWindow>,
    metrics: ArmMetrics,
    shadow: Arc<ShadowTotals>,
}

#[derive(Default)]
struct ShadowTotals {
    compared: AtomicU64,
    mismatched: AtomicU64,
    errors: AtomicU64,
    dropped: AtomicU64,
    elements: AtomicU64,
    /// Sum of absolute differences, in units of 1e-9.
    abs_diff_nano: AtomicU64,
}

struct State {
    stable: Slot,
    candidate: Option<(Slot, Strategy)>,
    previous: Option<Slot>,
}

#[derive(Default)]
struct Control {
    failures: u32,
    passes: u32,
}

struct Inner {
    name: ModelName,
    signature: Signature,
    metrics: Metrics,
    state: RwLock<State>,
    policy: RwLock<Arc<RolloutPolicy>>,
    control: Mutex<Control>,
    events: Mutex<EventLog>,
    hooks: RwLock<Vec<Hook>>,
    seed: AtomicU64,
    shadow_tx: Sender<ShadowJob>,
    shadow_thread: Mutex<Option<JoinHandle<()>>>,
}

struct EventLog {
    next: u64,
    capacity: usize,
    events: VecDeque<DeploymentEvent>,
}

/// A model served as a stable arm plus an optional candidate. Cheap to clone.
///
/// ```
/// use std::sync::Arc;
/// use mlops_core::{DType, Schema, Signature, TensorSpec};
/// use mlops_serve::deploy::{Arm, Deployment, Strategy};
/// use mlops_serve::{EngineBuilder, ModelIdentity, ModulePredictor, Tensor, Tensors};
///
/// let sig = Signature {
///     inputs: Schema::new(vec![TensorSpec::new("x", DType::F32, vec![-1, 1])]),
///     outputs: Schema::new(vec![TensorSpec::new("y", DType::F32, vec![-1, 1])]),
/// };
/// let engine = |version: u64, w: f32| {
///     let lin = candle_nn::Linear::new(
///         candle_core::Tensor::new(&[[w]], &candle_core::Device::Cpu).unwrap(), None);
///     let p = ModulePredictor::new(ModelIdentity::new("m", version)?, sig.clone(), lin)?;
///     EngineBuilder::new(p.into_shared()).build()
/// };
/// let d = Deployment::new(engine(1, 1.0)?)?;
/// d.set_candidate(engine(2, 2.0)?, Strategy::Canary { weight: 1.0 }, "docs")?;
/// let x = Tensors::from([("x".to_owned(), Tensor::f32(vec![1, 1], vec![3.0])?)]);
/// let r = d.predict(x.clone(), &Default::default())?;
/// assert_eq!((r.arm, r.model.version), (Arm::Candidate, 2));
/// d.rollback("docs", "looked wrong")?;
/// assert_eq!(d.predict(x, &Default::default())?.model.version, 1);
/// # Ok::<(), mlops_serve::Error>(())
/// ```
#[derive(Clone)]
pub struct Deployment {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Deployment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deployment")
            .field("model", &self.inner.name)
            .finish_non_exhaustive()
    }
}

const SHADOW_QUEUE: usize = 1024;
const EVENT_CAPACITY: usize = 1024;

impl Deployment {
    /// Serves `stable` alone, with the default [`RolloutPolicy`]. Its metrics registry
    /// ([`Engine::metrics`]) receives the deployment's metrics too; build candidate engines
    /// with the same [`Metrics`] (`EngineBuilder::with_metrics`) to see all arms in one export.
    ///
    /// # Errors
    /// [`Error::Config`] when the shadow comparison thread cannot be spawned.
    pub fn new(stable: Engine) -> Result<Self> {
        Self::with_policy(stable, RolloutPolicy::default())
    }

    /// [`Deployment::new`] with a rollout policy.
    ///
    /// # Errors
    /// [`Error::Config`] for an invalid policy or when the shadow thread cannot be spawned.
    pub fn with_policy(stable: Engine, policy: RolloutPolicy) -> Result<Self> {
        policy.validate()?;
        let identity = stable.identity();
        let metrics = stable.metrics().clone();
        let (shadow_tx, shadow_rx) = crossbeam_channel::bounded::<ShadowJob>(SHADOW_QUEUE);
        let slot = new_slot(&metrics, stable, Arm::Stable);
        let inner = Arc::new(Inner {
            name: identity.name.clone(),
            signature: slot.engine.signature().clone(),
            metrics,
            state: RwLock::new(State {
                stable: slot,
                candidate: None,
                previous: None,
            }),
            policy: RwLock::new(Arc::new(policy)),
            control: Mutex::new(Control::default()),
            events: Mutex::new(EventLog {
                next: 1,
                capacity: EVENT_CAPACITY,
                events: VecDeque::new(),
            }),
            hooks: RwLock::new(Vec::new()),
            seed: AtomicU64::new(seed_from_clock()),
            shadow_tx,
            shadow_thread: Mutex::new(None),
        });
        let handle = std::thread::Builder::new()
            .name(format!("mlops-shadow-{}", identity.name))
            .spawn(move || shadow_loop(&shadow_rx))
            .map_err(|e| Error::Config {
                what: "shadow thread".into(),
                reason: e.to_string(),
            })?;
        *lock(&inner.shadow_thread) = Some(handle);
        inner
            .metrics
            .set_candidate_weight(identity.name.as_str(), 0.0);
        Ok(Self { inner })
    }

    /// The model's name.
    pub fn name(&self) -> &ModelName {
        &self.inner.name
    }

    /// The signature every arm serves.
    pub fn signature(&self) -> &Signature {
        &self.inner.signature
    }

    /// The metrics registry shared by the arms.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The stable version.
    pub fn stable_version(&self) -> ModelIdentity {
        read(&self.inner.state).stable.identity.clone()
    }

    /// The candidate version and its strategy, if any.
    pub fn candidate(&self) -> Option<(ModelIdentity, Strategy)> {
        read(&self.inner.state)
            .candidate
            .as_ref()
            .map(|(s, st)| (s.identity.clone(), *st))
    }

    /// Every loaded version with the arm it serves as (stable first).
    pub fn versions(&self) -> Vec<(u64, Arm)> {
        let s = read(&self.inner.state);
        let mut v = vec![(s.stable.identity.version, Arm::Stable)];
        if let Some((c, _)) = &s.candidate {
            v.push((c.identity.version, Arm::Candidate));
        }
        if let Some(p) = &s.previous {
            v.push((p.identity.version, Arm::Previous));
        }
        v
    }

    /// The rollout policy.
    pub fn policy(&self) -> RolloutPolicy {
        RolloutPolicy::clone(&read(&self.inner.policy))
    }

    /// Replaces the rollout policy (check counters restart).
    ///
    /// # Errors
    /// [`Error::Config`] for an invalid policy.
    pub fn set_policy(&self, policy: RolloutPolicy) -> Result<()> {
        policy.validate()?;
        *write(&self.inner.policy) = Arc::new(policy);
        *lock(&self.inner.control) = Control::default();
        Ok(())
    }

    /// Calls `hook` after every event, on the thread that caused it (outside the deployment's
    /// locks). The registry driver uses this to move aliases when the controller decides.
    pub fn on_event(&self, hook: impl Fn(&DeploymentEvent) + Send + Sync + 'static) {
        write(&self.inner.hooks).push(Arc::new(hook));
    }

    /// The most recent events (at most 1024), oldest first.
    pub fn events(&self) -> Vec<DeploymentEvent> {
        lock(&self.inner.events).events.iter().cloned().collect()
    }

    /// Routes one request and blocks until it is answered.
    ///
    /// # Errors
    /// As [`Engine::predict`] for the arm that answers.
    pub fn predict(&self, inputs: Tensors, options: &RouteOptions) -> Result<Routed> {
        let d = self.dispatch(inputs, options)?;
        let r = d.pending.wait();
        d.meta.finish(r)
    }

    /// Routes one request; the future is runtime-agnostic and inference runs on the engines'
    /// threads.
    ///
    /// # Errors
    /// As [`Deployment::predict`].
    pub async fn predict_async(&self, inputs: Tensors, options: &RouteOptions) -> Result<Routed> {
        let d = self.dispatch(inputs, options)?;
        let r = d.pending.await;
        d.meta.finish(r)
    }

    /// Sends a request to one loaded version, whatever the strategy (OIP's
    /// `/versions/{v}/infer`). Counts in that arm's metrics but not in its check window.
    ///
    /// # Errors
    /// [`Error::NotFound`] when `version` is not loaded; otherwise as [`Engine::predict`].
    pub async fn predict_version_async(
        &self,
        version: u64,
        inputs: Tensors,
        options: &RouteOptions,
    ) -> Result<Routed> {
        let (slot, arm) = {
            let s = read(&self.inner.state);
            if s.stable.identity.version == version {
                (s.stable.clone(), Arm::Stable)
            } else if let Some((c, _)) = s
                .candidate
                .as_ref()
                .filter(|(c, _)| c.identity.version == version)
            {
                (c.clone(), Arm::Candidate)
            } else if let Some(p) = s
                .previous
                .as_ref()
                .filter(|p| p.identity.version == version)
            {
                (p.clone(), Arm::Previous)
            } else {
                return Err(Error::NotFound {
                    what: format!(
                        "model {:?} version {version} is not loaded",
                        self.inner.name.as_str()
                    ),
                });
            }
        };
        let start = Instant::now();
        let pending = slot.engine.submit(inputs, options.request)?;
        let meta = Meta {
            slot,
            arm,
            start,
            shadow: None,
            record_window: false,
            policy: Arc::clone(&read(&self.inner.policy)),
        };
        meta.finish(pending.await)
    }

    fn dispatch(&self, inputs: Tensors, options: &RouteOptions) -> Result<Dispatched> {
        let (slot, arm, shadow) = {
            let s = read(&self.inner.state);
            match &s.candidate {
                None => (s.stable.clone(), Arm::Stable, None),
                Some((c, strategy)) => match *strategy {
                    Strategy::Canary { weight } => {
                        if self.draw() < weight {
                            (c.clone(), Arm::Candidate, None)
                        } else {
                            (s.stable.clone(), Arm::Stable, None)
                        }
                    }
                    Strategy::AbTest { weight } => {
                        let u = match &options.key {
                            Some(k) => sticky_unit(k, c.identity.version),
                            None => self.draw(),
                        };
                        if u < weight {
                            (c.clone(), Arm::Candidate, None)
                        } else {
                            (s.stable.clone(), Arm::Stable, None)
                        }
                    }
                    Strategy::Shadow { mirror } => {
                        let mirrored = mirror > 0.0 && self.draw() < mirror;
                        (s.stable.clone(), Arm::Stable, mirrored.then(|| c.clone()))
                    }
                    Strategy::BlueGreen => (s.stable.clone(), Arm::Stable, None),
                },
            }
        };
        let policy = Arc::clone(&read(&self.inner.policy));
        let start = Instant::now();
        let shadow = match shadow {
            Some(c) => {
                let copy = inputs.clone();
                match c.engine.submit(copy, options.request) {
                    Ok(pending) => Some(ShadowCopy {
                        slot: c,
                        pending,
                        tx: self.inner.shadow_tx.clone(),
                    }),
                    Err(e) => {
                        if !e.is_client_error() {
                            c.shadow.dropped.fetch_add(1, Ordering::Relaxed);
                            c.metrics.shadow_dropped.inc();
                        }
                        None
                    }
                }
            }
            None => None,
        };
        let meta = Meta {
            slot,
            arm,
            start,
            shadow,
            record_window: true,
            policy,
        };
        match meta.slot.engine.submit(inputs, options.request) {
            Ok(pending) => Ok(Dispatched { pending, meta }),
            Err(e) => {
                meta.record(Err(&e));
                Err(e)
            }
        }
    }

    /// A uniform draw in `[0, 1)` (splitmix64 over a shared counter: cheap, lock-free, and
    /// good enough for traffic splitting).
    fn draw(&self) -> f64 {
        let x = self
            .inner
            .seed
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
        unit(splitmix64(x))
    }

    /// Deploys `engine` as the candidate with `strategy`, replacing any candidate. The engine
    /// should be warm (see [`crate::warmup_inputs`]); check counters restart.
    ///
    /// # Errors
    /// [`Error::Incompatible`] when the engine serves another model or signature;
    /// [`Error::Config`] for a share outside `[0, 1]`; [`Error::Conflict`] when the engine
    /// serves the stable version.
    pub fn set_candidate(
        &self,
        engine: Engine,
        strategy: Strategy,
        actor: &str,
    ) -> Result<DeploymentEvent> {
        strategy.validate()?;
        self.compatible(&engine)?;
        let id = engine.identity();
        let slot = new_slot(&self.inner.metrics, engine, Arm::Candidate);
        let old = {
            let mut s = write(&self.inner.state);
            if s.stable.identity.version == id.version {
                return Err(Error::Conflict {
                    reason: format!("version {} is already the stable version", id.version),
                });
            }
            s.candidate.replace((slot, strategy))
        };
        let replaced = old.as_ref().map(|(s, _)| s.identity.version);
        let ev = self.settle(
            strategy.gauge(),
            EventKind::CandidateSet {
                version: id.version,
                strategy,
                replaced,
            },
            actor,
            "candidate deployed",
            false,
        );
        drop(old);
        Ok(ev)
    }

    /// Changes the candidate's strategy or weight at run time.
    ///
    /// # Errors
    /// [`Error::Conflict`] when there is no candidate; [`Error::Config`] for a share outside
    /// `[0, 1]`.
    pub fn set_strategy(&self, strategy: Strategy, actor: &str) -> Result<DeploymentEvent> {
        strategy.validate()?;
        let (version, from) = {
            let mut s = write(&self.inner.state);
            let Some((c, st)) = s.candidate.as_mut() else {
                return Err(no_candidate());
            };
            let from = *st;
            *st = strategy;
            (c.identity.version, from)
        };
        Ok(self.settle(
            strategy.gauge(),
            EventKind::StrategyChanged {
                version,
                from,
                to: strategy,
            },
            actor,
            "strategy changed",
            false,
        ))
    }

    /// Makes the candidate the stable version at once (blue-green's switch, a canary's final
    /// step). The old stable version stays loaded as *previous* for [`Deployment::rollback`].
    ///
    /// # Errors
    /// [`Error::Conflict`] when there is no candidate.
    pub fn promote(&self, actor: &str, reason: &str) -> Result<DeploymentEvent> {
        self.promote_inner(actor, reason, false)
    }

    fn promote_inner(&self, actor: &str, reason: &str, automatic: bool) -> Result<DeploymentEvent> {
        let (from, to, dropped) = {
            let mut s = write(&self.inner.state);
            let Some((c, _)) = s.candidate.take() else {
                return Err(no_candidate());
            };
            let old =
                std::mem::replace(&mut s.stable, relabel(&self.inner.metrics, c, Arm::Stable));
            let from = old.identity.version;
            let dropped = s
                .previous
                .replace(relabel(&self.inner.metrics, old, Arm::Previous));
            (from, s.stable.identity.version, dropped)
        };
        let ev = self.settle(
            0.0,
            EventKind::Promoted { from, to },
            actor,
            reason,
            automatic,
        );
        drop(dropped);
        Ok(ev)
    }

    /// Sends all traffic back: removes the candidate if there is one, otherwise switches back
    /// to the previous version (which then becomes the only version loaded).
    ///
    /// # Errors
    /// [`Error::Conflict`] when there is neither a candidate nor a previous version.
    pub fn rollback(&self, actor: &str, reason: &str) -> Result<DeploymentEvent> {
        self.rollback_inner(actor, reason, false)
    }

    fn rollback_inner(
        &self,
        actor: &str,
        reason: &str,
        automatic: bool,
    ) -> Result<DeploymentEvent> {
        let (from, to, dropped) = {
            let mut s = write(&self.inner.state);
            if let Some((c, _)) = s.candidate.take() {
                let to = s.stable.identity.version;
                (c.identity.version, to, Some(c))
            } else if let Some(p) = s.previous.take() {
                let old =
                    std::mem::replace(&mut s.stable, relabel(&self.inner.metrics, p, Arm::Stable));
                (old.identity.version, s.stable.identity.version, Some(old))
            } else {
                return Err(Error::Conflict {
                    reason: "nothing to roll back: no candidate and no previous version".into(),
                });
            }
        };
        let ev = self.settle(
            0.0,
            EventKind::RolledBack { from, to },
            actor,
            reason,
            automatic,
        );
        drop(dropped);
        Ok(ev)
    }

    /// Removes the candidate without a verdict (e.g. its registry alias was removed).
    ///
    /// # Errors
    /// [`Error::Conflict`] when there is no candidate.
    pub fn remove_candidate(&self, actor: &str, reason: &str) -> Result<DeploymentEvent> {
        let c = write(&self.inner.state)
            .candidate
            .take()
            .ok_or_else(no_candidate)?;
        let ev = self.settle(
            0.0,
            EventKind::CandidateRemoved {
                version: c.0.identity.version,
            },
            actor,
            reason,
            false,
        );
        drop(c);
        Ok(ev)
    }

    /// Replaces the stable version in place (its registry alias moved). Requests already
    /// admitted finish on the old engine; the old version becomes *previous*. When the new
    /// version is the candidate's, the candidate is removed. Warm the engine up first.
    ///
    /// # Errors
    /// [`Error::Incompatible`] for another model or signature.
    pub fn replace_stable(
        &self,
        engine: Engine,
        actor: &str,
        reason: &str,
    ) -> Result<DeploymentEvent> {
        self.compatible(&engine)?;
        let slot = new_slot(&self.inner.metrics, engine, Arm::Stable);
        let (from, to, dropped) = {
            let mut s = write(&self.inner.state);
            let to = slot.identity.version;
            let old = std::mem::replace(&mut s.stable, slot);
            let from = old.identity.version;
            let cand = if s
                .candidate
                .as_ref()
                .is_some_and(|(c, _)| c.identity.version == to)
            {
                s.candidate.take()
            } else {
                None
            };
            let prev = s
                .previous
                .replace(relabel(&self.inner.metrics, old, Arm::Previous));
            (from, to, (cand, prev))
        };
        if dropped.0.is_some() {
            self.inner
                .metrics
                .set_candidate_weight(self.inner.name.as_str(), 0.0);
            *lock(&self.inner.control) = Control::default();
        }
        let ev = self.emit(EventKind::StableReplaced { from, to }, actor, reason, false);
        drop(dropped);
        Ok(ev)
    }

    /// Records that a version could not be loaded (serving continues unchanged).
    pub fn record_load_failure(&self, version: u64, actor: &str, reason: &str) -> DeploymentEvent {
        self.emit(EventKind::LoadFailed { version }, actor, reason, false)
    }

    /// Records that event `event_seq` could not be written back to an external store (the
    /// registry's aliases); `reason` is the error.
    pub fn record_write_back_failure(
        &self,
        event_seq: u64,
        actor: &str,
        reason: &str,
    ) -> DeploymentEvent {
        self.emit(
            EventKind::WriteBackFailed { event_seq },
            actor,
            reason,
            false,
        )
    }

    /// A handle that does not keep the deployment alive (for hooks that refer back to it).
    pub fn downgrade(&self) -> WeakDeployment {
        WeakDeployment {
            inner: Arc::downgrade(&self.inner),
        }
    }

    fn compatible(&self, engine: &Engine) -> Result<()> {
        let id = engine.identity();
        if id.name != self.inner.name {
            return Err(Error::Incompatible {
                reason: format!(
                    "engine serves {:?}, the deployment {:?}",
                    id.name.as_str(),
                    self.inner.name.as_str()
                ),
            });
        }
        if engine.signature() != &self.inner.signature {
            return Err(Error::Incompatible {
                reason: format!(
                    "version {} has signature {:?}, the deployment serves {:?}",
                    id.version,
                    engine.signature(),
                    self.inner.signature
                ),
            });
        }
        Ok(())
    }

    /// The current state: arms, windows, strategy, policy and check counters.
    pub fn status(&self) -> DeploymentStatus {
        let s = read(&self.inner.state);
        let arm = |slot: &Slot| ArmStatus {
            version: slot.identity.version,
            requests: slot.metrics.routed.get(),
            failures: slot.metrics.failures.get(),
            window: slot.window.peek(),
        };
        let control = lock(&self.inner.control);
        DeploymentStatus {
            model: self.inner.name.to_string(),
            stable: arm(&s.stable),
            candidate: s.candidate.as_ref().map(|(c, st)| CandidateStatus {
                arm: arm(c),
                strategy: *st,
                shadow: c.shadow.stats(),
            }),
            previous: s.previous.as_ref().map(|p| p.identity.version),
            policy: RolloutPolicy::clone(&read(&self.inner.policy)),
            consecutive_failures: control.failures,
            consecutive_passes: control.passes,
        }
    }

    /// Evaluates the rollout policy once over the current window and acts on it: rolls back
    /// after `failed_checks` consecutive failures, steps up or promotes after
    /// `checks_per_step` consecutive passes. Windows restart after every judged check.
    pub fn check(&self) -> CheckOutcome {
        let policy = read(&self.inner.policy).clone();
        let (stable, cand, strategy) = {
            let s = read(&self.inner.state);
            match &s.candidate {
                None => return CheckOutcome::NoCandidate,
                Some((c, st)) => (s.stable.clone(), c.clone(), *st),
            }
        };
        let cw = cand.window.peek();
        if cw.requests < policy.min_requests {
            return CheckOutcome::Insufficient {
                requests: cw.requests,
            };
        }
        let sw = stable.window.peek();
        let mut reasons = Vec::new();
        if cw.error_rate > policy.max_error_rate {
            reasons.push(format!(
                "error rate {:.4} ({} of {}) > {}",
                cw.error_rate, cw.failures, cw.requests, policy.max_error_rate
            ));
        }
        if let (Some(limit), Some(p99)) = (policy.max_p99, cw.p99) {
            if p99 > limit {
                reasons.push(format!("p99 {} > {}", ms(p99), ms(limit)));
            }
        }
        if let (Some(ratio), Some(cp), Some(sp)) = (policy.max_p99_ratio, cw.p99, sw.p99) {
            let floor = Duration::from_millis(1);
            let r = cp.max(floor).as_secs_f64() / sp.max(floor).as_secs_f64();
            if sw.requests >= policy.min_requests && r > ratio {
                reasons.push(format!(
                    "p99 {} is {r:.2}× the stable p99 {} (limit {ratio}×)",
                    ms(cp),
                    ms(sp)
                ));
            }
        }
        if let Some(g) = &policy.drift {
            let (a, b) = (stable.window.samples(), cand.window.samples());
            if a.len() >= g.min_samples && b.len() >= g.min_samples {
                match psi_between(&a, &b) {
                    Ok(psi) if psi > g.max_psi => reasons.push(format!(
                        "prediction drift: PSI of {}[:, {}] vs stable {psi:.4} > {} ({} vs {} values)",
                        g.output,
                        g.column,
                        g.max_psi,
                        b.len(),
                        a.len()
                    )),
                    Ok(_) => {}
                    Err(e) => reasons.push(format!("prediction drift could not be computed: {e}")),
                }
            }
        }
        cand.window.reset();
        stable.window.reset();
        if !reasons.is_empty() {
            let consecutive = {
                let mut c = lock(&self.inner.control);
                c.passes = 0;
                c.failures += 1;
                c.failures
            };
            let reason = reasons.join("; ");
            self.emit(
                EventKind::CheckFailed {
                    version: cand.identity.version,
                    consecutive,
                },
                "controller",
                &reason,
                true,
            );
            let mut rolled_back = false;
            if consecutive >= policy.failed_checks {
                let why = format!(
                    "automatic rollback of v{} after {consecutive} failed checks: {reason}",
                    cand.identity.version
                );
                // Only roll back the candidate that was judged.
                if self.candidate().is_some_and(|(id, _)| id == cand.identity) {
                    rolled_back = self.rollback_inner("controller", &why, true).is_ok();
                }
            }
            return CheckOutcome::Failed {
                candidate: cw,
                reasons,
                consecutive,
                rolled_back,
            };
        }
        let passes = {
            let mut c = lock(&self.inner.control);
            c.failures = 0;
            c.passes += 1;
            c.passes
        };
        let mut action = None;
        let current = strategy.answer_share();
        let steppable = matches!(strategy, Strategy::Canary { .. } | Strategy::AbTest { .. });
        if steppable && passes >= policy.checks_per_step {
            if let Some(&next) = policy.steps.iter().find(|&&s| s > current) {
                let why = format!(
                    "{passes} passed checks (error rate {:.4}, p99 {}, {} requests)",
                    cw.error_rate,
                    cw.p99.map_or_else(|| "n/a".to_owned(), ms),
                    cw.requests
                );
                if next >= 1.0 {
                    if let Ok(ev) = self.promote_inner(
                        "controller",
                        &format!("automatic promotion after {why}"),
                        true,
                    ) {
                        action = Some(ev.kind);
                    }
                } else {
                    let to = match strategy {
                        Strategy::AbTest { .. } => Strategy::AbTest { weight: next },
                        _ => Strategy::Canary { weight: next },
                    };
                    let stepped = {
                        let mut s = write(&self.inner.state);
                        match s.candidate.as_mut() {
                            Some((c, st)) if c.identity == cand.identity => {
                                *st = to;
                                true
                            }
                            _ => false,
                        }
                    };
                    if stepped {
                        lock(&self.inner.control).passes = 0;
                        self.inner
                            .metrics
                            .set_candidate_weight(self.inner.name.as_str(), next);
                        let ev = self.emit(
                            EventKind::Step {
                                version: cand.identity.version,
                                weight: next,
                            },
                            "controller",
                            &format!("step to {next} after {why}"),
                            true,
                        );
                        action = Some(ev.kind);
                    }
                }
            }
        }
        CheckOutcome::Passed {
            candidate: cw,
            action,
        }
    }

    /// Runs [`Deployment::check`] every [`RolloutPolicy::interval`] on a background thread
    /// until the returned handle is dropped (or the deployment is).
    ///
    /// # Errors
    /// [`Error::Config`] when the thread cannot be spawned.
    pub fn start_controller(&self) -> Result<Controller> {
        let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(0);
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        let handle = std::thread::Builder::new()
            .name(format!("mlops-rollout-{}", self.inner.name))
            .spawn(move || loop {
                let interval = match weak.upgrade() {
                    Some(inner) => read(&inner.policy).interval,
                    None => return,
                };
                match stop_rx.recv_timeout(interval) {
                    Err(RecvTimeoutError::Timeout) => {}
                    _ => return,
                }
                let Some(inner) = weak.upgrade() else { return };
                let d = Deployment { inner };
                let outcome = d.check();
                tracing::debug!(model = %d.inner.name, ?outcome, "rollout check");
            })
            .map_err(|e| Error::Config {
                what: "controller thread".into(),
                reason: e.to_string(),
            })?;
        Ok(Controller {
            stop: Some(stop_tx),
            handle: Some(handle),
        })
    }

    /// After a change of the candidate: restarts the check counters, sets the weight gauge and
    /// records the event.
    fn settle(
        &self,
        weight: f64,
        kind: EventKind,
        actor: &str,
        reason: &str,
        automatic: bool,
    ) -> DeploymentEvent {
        *lock(&self.inner.control) = Control::default();
        self.inner
            .metrics
            .set_candidate_weight(self.inner.name.as_str(), weight);
        self.emit(kind, actor, reason, automatic)
    }

    fn emit(&self, kind: EventKind, actor: &str, reason: &str, automatic: bool) -> DeploymentEvent {
        let ev = {
            let mut log = lock(&self.inner.events);
            let ev = DeploymentEvent {
                seq: log.next,
                at_ms: SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_millis() as u64)
                    .unwrap_or(0),
                model: self.inner.name.to_string(),
                kind,
                actor: actor.to_owned(),
                reason: reason.to_owned(),
                automatic,
            };
            log.next += 1;
            if log.events.len() == log.capacity {
                log.events.pop_front();
            }
            log.events.push_back(ev.clone());
            ev
        };
        self.inner
            .metrics
            .count_event(self.inner.name.as_str(), ev.kind.label());
        tracing::info!(model = %ev.model, kind = ev.kind.label(), actor, automatic, reason, "deployment event");
        let hooks: Vec<Hook> = read(&self.inner.hooks).clone();
        for h in hooks {
            h(&ev);
        }
        ev
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The shadow thread exits when the sender is gone; the sender is a field, so close it by
        // swapping in a disconnected one before joining.
        let (tx, _) = crossbeam_channel::bounded(0);
        drop(std::mem::replace(&mut self.shadow_tx, tx));
        if let Some(h) = lock(&self.shadow_thread).take() {
            let _ = h.join();
        }
    }
}

/// A [`Deployment`] handle that does not keep it alive: [`WeakDeployment::upgrade`] gives the
/// deployment back while another handle exists.
#[derive(Clone, Debug)]
pub struct WeakDeployment {
    inner: Weak<Inner>,
}

impl WeakDeployment {
    /// The deployment, if it still exists.
    pub fn upgrade(&self) -> Option<Deployment> {
        self.inner.upgrade().map(|inner| Deployment { inner })
    }
}

/// Stops the rollout controller thread when dropped.
#[derive(Debug)]
pub struct Controller {
    stop: Option<Sender<()>>,
    handle: Option<JoinHandle<()>>,
}

impl Drop for Controller {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

struct Dispatched {
    pending: Pending,
    meta: Meta,
}

struct Meta {
    slot: Slot,
    arm: Arm,
    start: Instant,
    shadow: Option<ShadowCopy>,
    record_window: bool,
    /// The policy in force at dispatch (its drift guard says what to sample).
    policy: Arc<RolloutPolicy>,
}

impl Meta {
    fn record(&self, r: std::result::Result<&Tensors, &Error>) {
        let elapsed = self.start.elapsed();
        let m = &self.slot.metrics;
        match r {
            Err(e) if e.is_client_error() => {}
            Err(_) => {
                m.routed.inc();
                m.failures.inc();
                m.seconds.observe(elapsed.as_secs_f64());
                if self.record_window {
                    self.slot.window.record(elapsed, false);
                }
            }
            Ok(out) => {
                m.routed.inc();
                m.seconds.observe(elapsed.as_secs_f64());
                if self.record_window {
                    self.slot.window.record(elapsed, true);
                    if let Some(g) = &self.policy.drift {
                        self.slot.window.sample(out, g);
                    }
                }
            }
        }
    }

    fn finish(self, r: Result<Tensors>) -> Result<Routed> {
        self.record(r.as_ref());
        let outputs = r?;
        if let Some(shadow) = self.shadow {
            let job = ShadowJob {
                primary: outputs.clone(),
                slot: shadow.slot,
                pending: shadow.pending,
                start: self.start,
                policy: self.policy,
            };
            if let Err(TrySendError::Full(job) | TrySendError::Disconnected(job)) =
                shadow.tx.try_send(job)
            {
                job.slot.shadow.dropped.fetch_add(1, Ordering::Relaxed);
                job.slot.metrics.shadow_dropped.inc();
            }
        }
        Ok(Routed {
            outputs,
            model: self.slot.identity,
            arm: self.arm,
        })
    }
}

struct ShadowCopy {
    slot: Slot,
    pending: Pending,
    tx: Sender<ShadowJob>,
}

struct ShadowJob {
    primary: Tensors,
    slot: Slot,
    pending: Pending,
    start: Instant,
    /// The policy in force at dispatch (its drift guard says what to sample).
    policy: Arc<RolloutPolicy>,
}

const ATOL: f64 = 1e-5;
const RTOL: f64 = 1e-4;

fn shadow_loop(rx: &Receiver<ShadowJob>) {
    for job in rx.iter() {
        let r = job.pending.wait();
        let elapsed = job.start.elapsed();
        let slot = &job.slot;
        let m = &slot.metrics;
        match r {
            Err(e) if e.is_client_error() => {}
            Err(e) => {
                m.routed.inc();
                m.failures.inc();
                m.seconds.observe(elapsed.as_secs_f64());
                slot.window.record(elapsed, false);
                slot.shadow.errors.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(model = %slot.identity, error = %e, "shadow request failed");
            }
            Ok(out) => {
                m.routed.inc();
                m.seconds.observe(elapsed.as_secs_f64());
                slot.window.record(elapsed, true);
                if let Some(g) = &job.policy.drift {
                    slot.window.sample(&out, g);
                }
                let (mismatch, elements, abs_sum) = compare(&job.primary, &out);
                let t = &slot.shadow;
                t.compared.fetch_add(1, Ordering::Relaxed);
                m.shadow_compared.inc();
                if mismatch {
                    t.mismatched.fetch_add(1, Ordering::Relaxed);
                    m.shadow_mismatched.inc();
                }
                t.elements.fetch_add(elements, Ordering::Relaxed);
                t.abs_diff_nano.fetch_add(
                    (abs_sum * 1e9).min(u64::MAX as f64) as u64,
                    Ordering::Relaxed,
                );
            }
        }
    }
}

/// Compares two predictions: (any mismatch, elements compared, sum of |a − b|).
fn compare(primary: &Tensors, shadow: &Tensors) -> (bool, u64, f64) {
    let mut mismatch = false;
    let (mut n, mut sum) = (0u64, 0.0f64);
    for (name, a) in primary {
        let Some(b) = shadow.get(name) else {
            mismatch = true;
            continue;
        };
        if a.shape() != b.shape() {
            mismatch = true;
            continue;
        }
        let (Some(x), Some(y)) = (as_f64(a), as_f64(b)) else {
            mismatch |= a != b;
            continue;
        };
        for (p, q) in x.iter().zip(&y) {
            let d = (p - q).abs();
            if d.is_finite() {
                sum += d;
            }
            if d.is_nan() || d > ATOL + RTOL * p.abs() {
                mismatch = true;
            }
            n += 1;
        }
    }
    (mismatch, n, sum)
}

fn as_f64(t: &Tensor) -> Option<Vec<f64>> {
    let d = t.data();
    (0..d.len()).map(|i| d.get_f64(i)).collect()
}

impl ShadowTotals {
    fn stats(&self) -> ShadowStats {
        let elements = self.elements.load(Ordering::Relaxed);
        ShadowStats {
            compared: self.compared.load(Ordering::Relaxed),
            mismatched: self.mismatched.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            mean_abs_diff: if elements == 0 {
                0.0
            } else {
                self.abs_diff_nano.load(Ordering::Relaxed) as f64 / 1e9 / elements as f64
            },
        }
    }
}

fn new_slot(metrics: &Metrics, engine: Engine, arm: Arm) -> Slot {
    let identity = engine.identity();
    Slot {
        metrics: metrics.for_arm(&identity, arm.as_str()),
        identity,
        engine,
        window: Arc::new(ArmWindow::default()),
        shadow: Arc::new(ShadowTotals::default()),
    }
}

/// The same engine serving as another arm: new metric labels and a fresh window.
fn relabel(metrics: &Metrics, slot: Slot, arm: Arm) -> Slot {
    Slot {
        metrics: metrics.for_arm(&slot.identity, arm.as_str()),
        window: Arc::new(ArmWindow::default()),
        ..slot
    }
}

/// `1.23 ms`.
fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn no_candidate() -> Error {
    Error::Conflict {
        reason: "no candidate is deployed".into(),
    }
}

fn seed_from_clock() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0x1234_5678)
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn unit(x: u64) -> f64 {
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// A routing key's position in `[0, 1)`: FNV-1a of the key, salted with the candidate's
/// version, finished with splitmix64. Stable across processes and restarts.
pub fn sticky_unit(key: &str, salt: u64) -> f64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ splitmix64(salt);
    for b in key.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    unit(splitmix64(h))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn read<T>(m: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(m: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(|p| p.into_inner())
}

/// The deployments a server serves, by model name. Cheap to clone.
#[derive(Clone, Default, Debug)]
pub struct ModelSet {
    inner: Arc<RwLock<BTreeMap<String, Deployment>>>,
    /// Models the server was asked to serve but could not load, with the reason.
    unavailable: Arc<RwLock<BTreeMap<String, String>>>,
}

impl ModelSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces the deployment of its model; returns the one it replaced. A model
    /// marked unavailable is no longer.
    pub fn insert(&self, d: Deployment) -> Option<Deployment> {
        write(&self.unavailable).remove(d.name().as_str());
        write(&self.inner).insert(d.name().to_string(), d)
    }

    /// Records that `name` was asked for but could not be loaded (the model repository index
    /// lists it as unavailable with `reason`); other models keep serving.
    pub fn mark_unavailable(&self, name: &str, reason: impl Into<String>) {
        write(&self.unavailable).insert(name.to_string(), reason.into());
    }

    /// The models that could not be loaded, with their reasons, sorted by name.
    pub fn unavailable(&self) -> Vec<(String, String)> {
        read(&self.unavailable)
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// The deployment serving `name`.
    pub fn get(&self, name: &str) -> Option<Deployment> {
        read(&self.inner).get(name).cloned()
    }

    /// Removes a model.
    pub fn remove(&self, name: &str) -> Option<Deployment> {
        write(&self.inner).remove(name)
    }

    /// The model names, sorted.
    pub fn names(&self) -> Vec<String> {
        read(&self.inner).keys().cloned().collect()
    }

    /// Every deployment, by name.
    pub fn all(&self) -> Vec<Deployment> {
        read(&self.inner).values().cloned().collect()
    }
}
