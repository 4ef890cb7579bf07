//! Registry-driven deployments: alias moves hot-swap with zero failed requests; the
//! controller's rollbacks and promotions are written back to the aliases (feature `registry`).
#![cfg(feature = "registry")]

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mlops_core::{AliasName, ModelName};
use mlops_registry::{Change, EventKind as RegEvent, FileRegistry, NewVersion, Registry};
use mlops_serve::deploy::{Arm, CheckOutcome, EventKind, RolloutPolicy, RouteOptions, Strategy};
use mlops_serve::{Error, RegistryDeployment, Tensor, Tensors, WatchConfig, WATCHER_ACTOR};

fn name() -> ModelName {
    "scorer".parse().unwrap()
}

fn alias(a: &str) -> AliasName {
    a.parse().unwrap()
}

/// Registers `y = w0·x0 + w1·x1` in the built-in feed-forward format.
fn register(reg: &dyn Registry, dir: &std::path::Path, w: [f32; 2]) -> u64 {
    let weights = dir.join(format!("w-{}-{}.safetensors", w[0], w[1]));
    let t = candle_core::Tensor::new(&[w], &candle_core::Device::Cpu).unwrap();
    candle_core::safetensors::save(&HashMap::from([("w".to_owned(), t)]), &weights).unwrap();
    let spec = r#"{"input": "x", "output": "y", "layers": [{"weight": "w"}]}"#;
    reg.register(
        NewVersion::new(name())
            .with_format("safetensors")
            .with_artifact_bytes("model.safetensors", std::fs::read(&weights).unwrap())
            .with_artifact_bytes("spec.json", spec.as_bytes().to_vec()),
    )
    .unwrap()
    .version
    .version
}

fn x(a: f32, b: f32) -> Tensors {
    Tensors::from([("x".to_owned(), Tensor::f32(vec![1, 2], vec![a, b]).unwrap())])
}

fn config(
    dir: &std::path::Path,
    candidate: Option<Strategy>,
    policy: RolloutPolicy,
) -> WatchConfig {
    WatchConfig {
        candidate: candidate.map(|s| (alias("canary"), s)),
        policy,
        controller: false,
        poll_interval: Duration::from_secs(3600),
        ..WatchConfig::new(name(), alias("production"), dir.join("cache"))
    }
}

/// A file registry under `dir` with `y = x0` (v1) and `y = 2·x0` (v2), `production` → v1.
fn two_versions(dir: &std::path::Path) -> (Arc<dyn Registry>, u64, u64) {
    let reg: Arc<dyn Registry> = Arc::new(FileRegistry::open(dir.join("reg")).unwrap());
    let v1 = register(reg.as_ref(), dir, [1.0, 0.0]);
    let v2 = register(reg.as_ref(), dir, [2.0, 0.0]);
    reg.set_alias(&name(), &alias("production"), v1, &ci())
        .unwrap();
    (reg, v1, v2)
}

fn ci() -> Change {
    Change::new("ci", "test")
}

#[test]
fn stable_alias_moves_are_followed_with_zero_failed_requests() {
    let dir = tempfile::tempdir().unwrap();
    let (reg, v1, v2) = two_versions(dir.path());
    let rd = RegistryDeployment::start(
        reg.clone(),
        config(dir.path(), None, RolloutPolicy::default()),
    )
    .unwrap();
    let d = rd.deployment().clone();
    assert_eq!(d.stable_version().version, v1);

    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicU64::new(0));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (d, stop, served) = (d.clone(), stop.clone(), served.clone());
            std::thread::spawn(move || {
                let mut errors = Vec::new();
                let mut versions = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    match d.predict(x(1.0, 5.0), &RouteOptions::default()) {
                        Ok(r) => {
                            let y = r.outputs["y"].as_f32().unwrap()[0];
                            assert_eq!(
                                y, r.model.version as f32,
                                "v{} answered {y}",
                                r.model.version
                            );
                            versions.push(r.model.version);
                            served.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => errors.push(e.to_string()),
                    }
                }
                (errors, versions)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(50));
    reg.set_alias(&name(), &alias("production"), v2, &ci())
        .unwrap();
    let events = rd.poll_once().unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        events[0].kind,
        EventKind::StableReplaced { from: v1, to: v2 }
    );
    assert_eq!(events[0].actor, WATCHER_ACTOR);
    std::thread::sleep(Duration::from_millis(50));
    // And back: the old version is loaded again from the registry.
    reg.set_alias(&name(), &alias("production"), v1, &ci())
        .unwrap();
    assert_eq!(rd.poll_once().unwrap().len(), 1);
    std::thread::sleep(Duration::from_millis(50));
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for c in clients {
        let (errors, versions) = c.join().unwrap();
        assert!(errors.is_empty(), "{errors:?}");
        all.extend(versions);
    }
    assert!(all.contains(&v1) && all.contains(&v2));
    assert_eq!(*all.last().unwrap(), v1);
    // Nothing moved: nothing happens.
    assert!(rd.poll_once().unwrap().is_empty());
}

#[test]
fn faulty_canary_is_rolled_back_and_its_alias_removed_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let reg: Arc<dyn Registry> = Arc::new(FileRegistry::open(dir.path().join("reg")).unwrap());
    let v1 = register(reg.as_ref(), dir.path(), [1.0, 0.0]);
    // Diverged training: finite on the all-zero warm-up, ±inf on real rows.
    let bad = register(reg.as_ref(), dir.path(), [3e38, 3e38]);
    reg.set_alias(&name(), &alias("production"), v1, &ci())
        .unwrap();
    let policy = RolloutPolicy {
        min_requests: 30,
        failed_checks: 2,
        ..RolloutPolicy::default()
    };
    let rd = RegistryDeployment::start(
        reg.clone(),
        config(dir.path(), Some(Strategy::Canary { weight: 0.5 }), policy),
    )
    .unwrap();
    let d = rd.deployment().clone();
    assert!(d.candidate().is_none(), "no canary alias yet");
    reg.set_alias(&name(), &alias("canary"), bad, &ci())
        .unwrap();
    let ev = rd.poll_once().unwrap();
    assert!(
        matches!(ev[0].kind, EventKind::CandidateSet { version, .. } if version == bad),
        "{ev:?}"
    );

    let mut rolled_back = false;
    for _ in 0..2 {
        let mut model_errors = 0;
        for _ in 0..120 {
            match d.predict(x(1.0, 2.0), &RouteOptions::default()) {
                Ok(r) => assert_eq!(r.model.version, v1),
                Err(Error::Model {
                    version, reason, ..
                }) => {
                    assert_eq!(version, bad);
                    assert!(reason.contains("NaN or infinite"), "{reason}");
                    model_errors += 1;
                }
                Err(e) => panic!("{e}"),
            }
        }
        assert!(model_errors > 0);
        if let CheckOutcome::Failed { rolled_back: r, .. } = d.check() {
            rolled_back = r;
        }
    }
    assert!(rolled_back);
    assert!(d.candidate().is_none());
    // Written back: the canary alias is gone, with the controller's reason in the audit log.
    let aliases = reg.aliases(&name()).unwrap();
    assert!(!aliases.contains_key(&alias("canary")), "{aliases:?}");
    assert_eq!(aliases[&alias("production")], v1);
    let last = reg.history(&name()).unwrap().pop().unwrap();
    assert!(
        matches!(&last.kind, RegEvent::AliasRemoved { alias: a, .. } if a.as_str() == "canary"),
        "{last:?}"
    );
    assert_eq!(last.change.who, "controller");
    assert!(
        last.change.reason.contains("automatic rollback"),
        "{}",
        last.change.reason
    );
    assert!(
        last.change.reason.contains("error rate"),
        "{}",
        last.change.reason
    );
    // The next poll does not bring it back; every request is served by v1.
    assert!(rd.poll_once().unwrap().is_empty());
    for _ in 0..50 {
        assert_eq!(
            d.predict(x(1.0, 2.0), &RouteOptions::default())
                .unwrap()
                .model
                .version,
            v1
        );
    }
}

#[test]
fn automatic_promotion_moves_the_stable_alias() {
    let dir = tempfile::tempdir().unwrap();
    let (reg, v1, v2) = two_versions(dir.path());
    reg.set_alias(&name(), &alias("canary"), v2, &ci()).unwrap();
    let policy = RolloutPolicy {
        min_requests: 20,
        steps: vec![0.5, 1.0],
        checks_per_step: 1,
        ..RolloutPolicy::default()
    };
    let rd = RegistryDeployment::start(
        reg.clone(),
        config(dir.path(), Some(Strategy::Canary { weight: 0.1 }), policy),
    )
    .unwrap();
    let d = rd.deployment().clone();
    assert_eq!(d.candidate().unwrap().0.version, v2);
    for _ in 0..4 {
        while d.candidate().is_some() && d.status().candidate.unwrap().arm.window.requests < 20 {
            d.predict(x(1.0, 0.0), &RouteOptions::default()).unwrap();
        }
        d.check();
    }
    assert_eq!(d.stable_version().version, v2);
    let aliases = reg.aliases(&name()).unwrap();
    assert_eq!(aliases[&alias("production")], v2);
    assert!(!aliases.contains_key(&alias("canary")));
    assert!(rd.poll_once().unwrap().is_empty());
    assert_eq!(d.versions(), vec![(v2, Arm::Stable), (v1, Arm::Previous)]);
    // An operator's switch back through the deployment moves the alias back too.
    d.rollback("alice", "latency regression seen by users")
        .unwrap();
    assert_eq!(reg.aliases(&name()).unwrap()[&alias("production")], v1);
    let last = reg.history(&name()).unwrap().pop().unwrap();
    assert_eq!(last.change.who, "alice");
}

#[test]
fn a_version_that_fails_to_load_is_recorded_and_serving_continues() {
    let dir = tempfile::tempdir().unwrap();
    let reg: Arc<dyn Registry> = Arc::new(FileRegistry::open(dir.path().join("reg")).unwrap());
    let v1 = register(reg.as_ref(), dir.path(), [1.0, 0.0]);
    // A version with another signature (3 inputs) cannot replace the served one.
    let t = candle_core::Tensor::new(&[[1f32, 1.0, 1.0]], &candle_core::Device::Cpu).unwrap();
    let path = dir.path().join("w3.safetensors");
    candle_core::safetensors::save(&HashMap::from([("w".to_owned(), t)]), &path).unwrap();
    let v2 = reg
        .register(
            NewVersion::new(name())
                .with_format("safetensors")
                .with_artifact_bytes("model.safetensors", std::fs::read(&path).unwrap())
                .with_artifact_bytes(
                    "spec.json",
                    br#"{"input": "x", "output": "y", "layers": [{"weight": "w"}]}"#.to_vec(),
                ),
        )
        .unwrap()
        .version
        .version;
    reg.set_alias(&name(), &alias("production"), v1, &ci())
        .unwrap();
    // No stable alias at all: a typed error at start.
    let missing = WatchConfig::new(name(), alias("nope"), dir.path().join("c"));
    assert!(matches!(
        RegistryDeployment::start(reg.clone(), missing),
        Err(Error::NotFound { .. })
    ));
    let rd = RegistryDeployment::start(
        reg.clone(),
        config(dir.path(), None, RolloutPolicy::default()),
    )
    .unwrap();
    reg.set_alias(&name(), &alias("production"), v2, &ci())
        .unwrap();
    let ev = rd.poll_once().unwrap();
    assert_eq!(ev[0].kind, EventKind::LoadFailed { version: v2 });
    assert!(ev[0].reason.contains("signature"), "{}", ev[0].reason);
    let d = rd.deployment();
    assert_eq!(
        d.predict(x(3.0, 0.0), &RouteOptions::default())
            .unwrap()
            .model
            .version,
        v1
    );
    // It is not retried on every poll.
    assert!(rd.poll_once().unwrap().is_empty());
}

#[test]
fn a_failed_write_back_is_recorded_as_an_event() {
    let dir = tempfile::tempdir().unwrap();
    let (reg, v1, v2) = two_versions(dir.path());
    reg.set_alias(&name(), &alias("canary"), v2, &ci()).unwrap();
    let rd = RegistryDeployment::start(
        reg.clone(),
        config(
            dir.path(),
            Some(Strategy::Canary { weight: 0.5 }),
            RolloutPolicy::default(),
        ),
    )
    .unwrap();
    let d = rd.deployment().clone();
    assert_eq!(d.candidate().unwrap().0.version, v2);
    // The registry loses v2 behind the server's back: the alias cannot be moved to it.
    reg.remove_alias(&name(), &alias("canary"), &ci()).unwrap();
    reg.delete_version(&name(), v2, &ci()).unwrap();
    let promoted = d.promote("alice", "looks good").unwrap();
    let last = d.events().pop().unwrap();
    assert_eq!(
        last.kind,
        EventKind::WriteBackFailed {
            event_seq: promoted.seq
        }
    );
    assert_eq!(last.actor, WATCHER_ACTOR);
    assert!(!last.reason.is_empty());
    // Serving follows the deployment; the registry keeps its own state.
    assert_eq!(d.stable_version().version, v2);
    assert_eq!(reg.aliases(&name()).unwrap()[&alias("production")], v1);
}
