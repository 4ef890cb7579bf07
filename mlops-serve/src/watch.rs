//! Registry-driven deployments (feature `registry`): follow a stable alias and a candidate
//! alias, load, verify and warm up each new version before it takes traffic, and write the
//! controller's decisions back to the registry's aliases with their reasons.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{RecvTimeoutError, Sender};
use mlops_core::{AliasName, ModelName, ModelRef};
use mlops_registry::{Change, Registry};

use crate::deploy::{Controller, Deployment, DeploymentEvent, EventKind, RolloutPolicy, Strategy};
use crate::engine::{Engine, EngineBuilder, EngineConfig};
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::predictor::{predict_guarded, validate_inputs, NonFinitePolicy};
use crate::registry::load_from_registry;

/// The actor recorded for changes the watcher makes on its own.
pub const WATCHER_ACTOR: &str = "registry-watch";

/// What a [`RegistryDeployment`] follows and how it serves.
#[derive(Debug, Clone)]
pub struct WatchConfig {
    /// The model.
    pub model: ModelName,
    /// The alias the stable arm follows (e.g. `production`).
    pub stable_alias: AliasName,
    /// The alias the candidate arm follows (e.g. `canary`) and how it takes traffic.
    pub candidate: Option<(AliasName, Strategy)>,
    /// Where verified artifacts are written before loading.
    pub cache_dir: PathBuf,
    /// Settings of every arm's engine.
    pub engine: EngineConfig,
    /// The shared metrics registry.
    pub metrics: Metrics,
    /// When the controller rolls back or promotes.
    pub policy: RolloutPolicy,
    /// Whether to run the rollout controller thread (every `policy.interval`).
    pub controller: bool,
    /// How often the aliases are re-read (default 1 s).
    pub poll_interval: Duration,
    /// Runs of the warm-up request before a version takes traffic (default 3).
    pub warmup_runs: usize,
    /// Write promotions and rollbacks back to the aliases (default `true`): a promotion moves
    /// the stable alias to the new version and removes the candidate alias; a candidate
    /// rollback removes the candidate alias; a switch back moves the stable alias back.
    pub write_back: bool,
}

impl WatchConfig {
    /// Follows `model@stable_alias` with default engine settings, a fresh metrics registry,
    /// the default policy and controller, 1 s polling.
    pub fn new(model: ModelName, stable_alias: AliasName, cache_dir: impl Into<PathBuf>) -> Self {
        Self {
            model,
            stable_alias,
            candidate: None,
            cache_dir: cache_dir.into(),
            engine: EngineConfig::default(),
            metrics: Metrics::new(),
            policy: RolloutPolicy::default(),
            controller: true,
            poll_interval: Duration::from_secs(1),
            warmup_runs: 3,
            write_back: true,
        }
    }
}

struct Seen {
    stable: u64,
    candidate: Option<u64>,
}

struct Shared {
    registry: Arc<dyn Registry>,
    config: WatchConfig,
    seen: Mutex<Seen>,
    /// Held by a whole poll and by a write-back, so neither acts on the other's stale view.
    poll_lock: Mutex<()>,
}

/// A [`Deployment`] that follows registry aliases. Dropping it stops the watcher and the
/// controller; the deployment itself lives on while clones of it exist.
pub struct RegistryDeployment {
    deployment: Deployment,
    shared: Arc<Shared>,
    stop: Option<Sender<()>>,
    watcher: Option<JoinHandle<()>>,
    controller: Option<Controller>,
}

impl std::fmt::Debug for RegistryDeployment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryDeployment")
            .field("deployment", &self.deployment)
            .finish_non_exhaustive()
    }
}

fn reg_err(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Registry {
        model: what.to_owned(),
        reason: e.to_string(),
    }
}

impl Shared {
    fn resolve(&self, alias: &AliasName) -> Result<Option<u64>> {
        let r = ModelRef::alias(self.config.model.clone(), alias.clone());
        match self.registry.resolve(&r) {
            Ok(entry) => Ok(Some(entry.version.version)),
            Err(mlops_registry::Error::AliasNotFound { .. }) => Ok(None),
            Err(e) => Err(reg_err(&r.to_string(), e)),
        }
    }

    /// Loads, verifies and warms up one version, then starts its engine.
    fn load(&self, version: u64) -> Result<Engine> {
        let r = ModelRef::version(self.config.model.clone(), version);
        let predictor = load_from_registry(self.registry.as_ref(), &r, &self.config.cache_dir)?;
        let warm = predictor.warmup_request()?;
        let rows = validate_inputs(predictor.signature(), &warm, NonFinitePolicy::Allow)?;
        for _ in 0..self.config.warmup_runs.max(1) {
            let out = predict_guarded(predictor.as_ref(), &warm, rows)?;
            if let Some((name, i)) = out
                .iter()
                .find_map(|(n, t)| t.first_non_finite().map(|i| (n, i)))
            {
                return Err(Error::Model {
                    model: self.config.model.to_string(),
                    version,
                    reason: format!("warm-up output {name:?} element {i} is NaN or infinite"),
                });
            }
        }
        EngineBuilder::new(predictor)
            .with_config(self.config.engine.clone())
            .with_metrics(self.config.metrics.clone())
            .build()
    }

    /// Writes a promotion or rollback back to the aliases.
    fn write_back(&self, ev: &DeploymentEvent) -> Result<()> {
        if !self.config.write_back || ev.actor == WATCHER_ACTOR {
            return Ok(());
        }
        let _poll = self.poll_lock.lock().unwrap_or_else(|p| p.into_inner());
        let name = &self.config.model;
        let aliases = self
            .registry
            .aliases(name)
            .map_err(|e| reg_err(name.as_str(), e))?;
        let change = Change::new(ev.actor.as_str(), ev.reason.as_str());
        let stable = &self.config.stable_alias;
        let cand = self.config.candidate.as_ref().map(|(a, _)| a);
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        match ev.kind {
            EventKind::Promoted { to, .. } => {
                if aliases.get(stable) != Some(&to) {
                    self.registry
                        .set_alias(name, stable, to, &change)
                        .map_err(|e| reg_err(name.as_str(), e))?;
                }
                seen.stable = to;
                if let Some(c) = cand.filter(|c| aliases.get(*c) == Some(&to)) {
                    self.registry
                        .remove_alias(name, c, &change)
                        .map_err(|e| reg_err(name.as_str(), e))?;
                    seen.candidate = None;
                }
            }
            EventKind::RolledBack { from, to } => {
                if let Some(c) = cand.filter(|c| aliases.get(*c) == Some(&from)) {
                    self.registry
                        .remove_alias(name, c, &change)
                        .map_err(|e| reg_err(name.as_str(), e))?;
                    seen.candidate = None;
                } else if aliases.get(stable) == Some(&from) {
                    self.registry
                        .set_alias(name, stable, to, &change)
                        .map_err(|e| reg_err(name.as_str(), e))?;
                    seen.stable = to;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Re-reads both aliases and applies what moved.
    fn poll(&self, d: &Deployment) -> Result<Vec<DeploymentEvent>> {
        let _poll = self.poll_lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut events = Vec::new();
        let stable_now =
            self.resolve(&self.config.stable_alias)?
                .ok_or_else(|| Error::NotFound {
                    what: format!("alias {}@{}", self.config.model, self.config.stable_alias),
                })?;
        let moved = {
            let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            seen.stable != stable_now
        };
        if moved && d.stable_version().version != stable_now {
            let reason = format!("alias {} moved to v{stable_now}", self.config.stable_alias);
            let cand = d.candidate().map(|(id, _)| id.version);
            let r = if cand == Some(stable_now) {
                d.promote(WATCHER_ACTOR, &reason)
            } else {
                self.load(stable_now)
                    .and_then(|e| d.replace_stable(e, WATCHER_ACTOR, &reason))
            };
            match r {
                Ok(ev) => events.push(ev),
                Err(e) => {
                    events.push(d.record_load_failure(stable_now, WATCHER_ACTOR, &e.to_string()));
                }
            }
        }
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).stable = stable_now;

        if let Some((alias, strategy)) = &self.config.candidate {
            let now = self.resolve(alias)?;
            let changed = {
                let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
                seen.candidate != now
            };
            if changed {
                let current = d.candidate().map(|(id, _)| id.version);
                match now {
                    Some(v) if v == d.stable_version().version => {
                        if current.is_some() {
                            let why = format!("alias {alias} points at the stable v{v}");
                            events.extend(d.remove_candidate(WATCHER_ACTOR, &why).ok());
                        }
                    }
                    Some(v) if current != Some(v) => {
                        match self
                            .load(v)
                            .and_then(|e| d.set_candidate(e, *strategy, WATCHER_ACTOR))
                        {
                            Ok(ev) => events.push(ev),
                            Err(e) => {
                                events.push(d.record_load_failure(v, WATCHER_ACTOR, &e.to_string()))
                            }
                        }
                    }
                    Some(_) => {}
                    None => {
                        if current.is_some() {
                            let why = format!("alias {alias} removed");
                            events.extend(d.remove_candidate(WATCHER_ACTOR, &why).ok());
                        }
                    }
                }
                self.seen
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .candidate = now;
            }
        }
        Ok(events)
    }
}

impl RegistryDeployment {
    /// Resolves the aliases, loads and warms up the stable version (and the candidate, if its
    /// alias exists), and starts the watcher (every `poll_interval`) and, when configured, the
    /// rollout controller.
    ///
    /// # Errors
    /// [`Error::NotFound`] when the stable alias does not exist; [`Error::Registry`] when the
    /// registry cannot be read; the loading errors of [`load_from_registry`]; the warm-up's
    /// errors; [`Error::Config`] for an invalid engine configuration or policy, or when a
    /// thread cannot be spawned.
    #[tracing::instrument(skip_all, fields(model = %config.model, alias = %config.stable_alias), err)]
    pub fn start(registry: Arc<dyn Registry>, config: WatchConfig) -> Result<Self> {
        let shared = Arc::new(Shared {
            registry,
            config,
            seen: Mutex::new(Seen {
                stable: 0,
                candidate: None,
            }),
            poll_lock: Mutex::new(()),
        });
        let c = &shared.config;
        let stable = shared
            .resolve(&c.stable_alias)?
            .ok_or_else(|| Error::NotFound {
                what: format!("alias {}@{}", c.model, c.stable_alias),
            })?;
        let engine = shared.load(stable)?;
        let deployment = Deployment::with_policy(engine, c.policy.clone())?;
        shared.seen.lock().unwrap_or_else(|p| p.into_inner()).stable = stable;
        // Write-back hook: holds the shared state weakly so dropping this handle ends it.
        let weak: Weak<Shared> = Arc::downgrade(&shared);
        let me = deployment.downgrade();
        deployment.on_event(move |ev| {
            if let Some(s) = weak.upgrade() {
                if let Err(e) = s.write_back(ev) {
                    tracing::warn!(model = %ev.model, error = %e, "could not write the deployment event back to the registry");
                    if let Some(d) = me.upgrade() {
                        d.record_write_back_failure(ev.seq, WATCHER_ACTOR, &e.to_string());
                    }
                }
            }
        });
        shared.poll(&deployment)?;
        let controller = if c.controller {
            Some(deployment.start_controller()?)
        } else {
            None
        };
        let (stop, stop_rx) = crossbeam_channel::bounded::<()>(0);
        let weak = Arc::downgrade(&shared);
        let d = deployment.clone();
        let interval = c.poll_interval;
        let watcher = std::thread::Builder::new()
            .name(format!("mlops-watch-{}", c.model))
            .spawn(move || loop {
                match stop_rx.recv_timeout(interval) {
                    Err(RecvTimeoutError::Timeout) => {}
                    _ => return,
                }
                let Some(s) = weak.upgrade() else { return };
                if let Err(e) = s.poll(&d) {
                    tracing::warn!(model = %d.name(), error = %e, "registry poll failed; serving continues unchanged");
                }
            })
            .map_err(|e| Error::Config {
                what: "watcher thread".into(),
                reason: e.to_string(),
            })?;
        Ok(Self {
            deployment,
            shared,
            stop: Some(stop),
            watcher: Some(watcher),
            controller,
        })
    }

    /// The deployment (clone it to serve it, e.g. in a [`crate::deploy::ModelSet`]).
    pub fn deployment(&self) -> &Deployment {
        &self.deployment
    }

    /// Re-reads the aliases now and applies what moved (the watcher thread does this every
    /// `poll_interval`); returns the events it caused.
    ///
    /// # Errors
    /// [`Error::Registry`] when an alias cannot be read; [`Error::NotFound`] when the stable
    /// alias was removed (serving continues on the loaded version). A version that fails to
    /// load is not an error: it is recorded as [`EventKind::LoadFailed`] and serving continues.
    pub fn poll_once(&self) -> Result<Vec<DeploymentEvent>> {
        self.shared.poll(&self.deployment)
    }
}

impl Drop for RegistryDeployment {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(h) = self.watcher.take() {
            let _ = h.join();
        }
        self.controller.take();
    }
}
