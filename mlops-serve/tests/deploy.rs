//! Deployments: traffic strategies, automatic rollback and promotion, hot-swap under load.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{sig, x, y, Probe};
use mlops_core::Signature;
use mlops_serve::deploy::{
    Arm, CheckOutcome, Deployment, DriftGuard, EventKind, RolloutPolicy, RouteOptions, Strategy,
};
use mlops_serve::{
    Engine, EngineBuilder, Error, Metrics, ModelIdentity, Predictor, Result, Tensor, Tensors,
};

/// `y = x + offset`, failing every `fail_every`-th call (0: never) and sleeping `sleep` per call.
#[derive(Debug)]
struct Flaky {
    id: ModelIdentity,
    sig: Signature,
    offset: f32,
    fail_every: u64,
    sleep: Duration,
    calls: AtomicU64,
}

impl Flaky {
    fn new(version: u64, offset: f32, fail_every: u64, sleep: Duration) -> Arc<Self> {
        Arc::new(Self {
            id: ModelIdentity::new("probe", version).unwrap(),
            sig: sig(1, 1),
            offset,
            fail_every,
            sleep,
            calls: AtomicU64::new(0),
        })
    }
}

impl Predictor for Flaky {
    fn identity(&self) -> &ModelIdentity {
        &self.id
    }
    fn signature(&self) -> &Signature {
        &self.sig
    }
    fn predict(&self, inputs: &Tensors) -> Result<Tensors> {
        let n = self.calls.fetch_add(1, Ordering::Relaxed) + 1;
        if !self.sleep.is_zero() {
            std::thread::sleep(self.sleep);
        }
        if self.fail_every > 0 && n % self.fail_every == 0 {
            return Err(Error::Model {
                model: "probe".into(),
                version: self.id.version,
                reason: "injected failure".into(),
            });
        }
        let t = &inputs["x"];
        let out: Vec<f32> = t
            .as_f32()
            .unwrap()
            .iter()
            .map(|a| a + self.offset)
            .collect();
        Ok(Tensors::from([(
            "y".to_owned(),
            Tensor::f32(t.shape().to_vec(), out).unwrap(),
        )]))
    }
}

fn engine(p: Arc<dyn Predictor>, metrics: &Metrics) -> Engine {
    EngineBuilder::new(p)
        .with_max_delay(Duration::ZERO)
        .with_metrics(metrics.clone())
        .build()
        .unwrap()
}

fn one() -> Tensors {
    x(vec![vec![1.0]])
}

fn opts() -> RouteOptions {
    RouteOptions::default()
}

fn keyed(k: &str) -> RouteOptions {
    RouteOptions {
        key: Some(k.to_owned()),
        ..RouteOptions::default()
    }
}

fn quick_policy() -> RolloutPolicy {
    RolloutPolicy {
        min_requests: 50,
        failed_checks: 3,
        checks_per_step: 2,
        ..RolloutPolicy::default()
    }
}

/// Five standard deviations of a binomial count: a correct router fails with p < 1e-6.
fn within_5_sigma(count: usize, n: usize, p: f64) -> bool {
    let mean = n as f64 * p;
    let sd = (n as f64 * p * (1.0 - p)).sqrt();
    (count as f64 - mean).abs() <= 5.0 * sd
}

#[test]
fn canary_split_matches_the_weight_and_changes_at_run_time() {
    let m = Metrics::new();
    let d = Deployment::new(engine(Probe::new(1, 0.0), &m)).unwrap();
    d.set_candidate(
        engine(Probe::new(2, 1.0), &m),
        Strategy::Canary { weight: 0.1 },
        "test",
    )
    .unwrap();
    let n = 10_000;
    let mut to_candidate = 0;
    for _ in 0..n {
        let r = d.predict(one(), &opts()).unwrap();
        // The answer is computed by the version the router says answered it.
        let want = if r.arm == Arm::Candidate { 2.0 } else { 1.0 };
        assert_eq!(y(&r.outputs), vec![want]);
        assert_eq!(r.model.version, if r.arm == Arm::Candidate { 2 } else { 1 });
        to_candidate += usize::from(r.arm == Arm::Candidate);
    }
    assert!(
        within_5_sigma(to_candidate, n, 0.1),
        "{to_candidate} of {n}"
    );

    d.set_strategy(Strategy::Canary { weight: 0.5 }, "test")
        .unwrap();
    let to_candidate = (0..4000)
        .filter(|_| d.predict(one(), &opts()).unwrap().arm == Arm::Candidate)
        .count();
    assert!(within_5_sigma(to_candidate, 4000, 0.5), "{to_candidate}");

    for w in [0.0, 1.0] {
        d.set_strategy(Strategy::Canary { weight: w }, "test")
            .unwrap();
        let c = (0..500)
            .filter(|_| d.predict(one(), &opts()).unwrap().arm == Arm::Candidate)
            .count();
        assert_eq!(c, if w == 0.0 { 0 } else { 500 });
    }
    // Per-arm counters in the Prometheus export.
    let text = m.encode().unwrap();
    assert!(
        text.contains(
            "mlops_serve_routed_requests_total{model=\"probe\",arm=\"candidate\",version=\"2\"}"
        ),
        "{text}"
    );
    assert!(
        text.contains("mlops_serve_candidate_weight_ratio{model=\"probe\"} 1.0"),
        "{text}"
    );
    // Bad weights are refused and change nothing.
    for bad in [f64::NAN, -0.1, 1.5, f64::INFINITY] {
        assert!(matches!(
            d.set_strategy(Strategy::Canary { weight: bad }, "t"),
            Err(Error::Config { .. })
        ));
    }
    assert_eq!(d.candidate().unwrap().1, Strategy::Canary { weight: 1.0 });
}

#[test]
fn ab_assignment_is_sticky_per_key_and_splits_keys_by_weight() {
    let m = Metrics::new();
    let d = Deployment::new(engine(Probe::new(1, 0.0), &m)).unwrap();
    d.set_candidate(
        engine(Probe::new(2, 1.0), &m),
        Strategy::AbTest { weight: 0.3 },
        "test",
    )
    .unwrap();
    let keys: Vec<String> = (0..3000).map(|i| format!("user-{i}")).collect();
    let first: Vec<Arm> = keys
        .iter()
        .map(|k| d.predict(one(), &keyed(k)).unwrap().arm)
        .collect();
    // Same key, same arm, every time.
    for (k, a) in keys.iter().zip(&first).take(200) {
        for _ in 0..5 {
            assert_eq!(d.predict(one(), &keyed(k)).unwrap().arm, *a, "{k}");
        }
    }
    let in_b = first.iter().filter(|a| **a == Arm::Candidate).count();
    assert!(within_5_sigma(in_b, keys.len(), 0.3), "{in_b}");
    // Unicode and empty keys route too.
    for k in ["", "ünïcødé-用户", "\u{0}"] {
        let a = d.predict(one(), &keyed(k)).unwrap().arm;
        assert_eq!(d.predict(one(), &keyed(k)).unwrap().arm, a);
    }
    // A new experiment (another candidate version) reshuffles the assignment.
    d.set_candidate(
        engine(Probe::new(3, 2.0), &m),
        Strategy::AbTest { weight: 0.3 },
        "test",
    )
    .unwrap();
    let moved = keys
        .iter()
        .zip(&first)
        .filter(|(k, a)| d.predict(one(), &keyed(k)).unwrap().arm != **a)
        .count();
    assert!(moved > 300, "only {moved} of 3000 keys changed arm");
}

#[test]
fn shadow_never_answers_and_its_answers_are_compared() {
    let m = Metrics::new();
    let d = Deployment::new(engine(Probe::new(1, 0.0), &m)).unwrap();
    d.set_candidate(
        engine(Probe::new(2, 0.5), &m),
        Strategy::Shadow { mirror: 1.0 },
        "test",
    )
    .unwrap();
    for i in 0..200 {
        let r = d.predict(x(vec![vec![i as f32]]), &opts()).unwrap();
        assert_eq!(r.arm, Arm::Stable);
        assert_eq!(y(&r.outputs), vec![i as f32]);
    }
    // The comparisons run on a background thread: wait for them.
    let mut shadow = d.status().candidate.unwrap().shadow;
    for _ in 0..200 {
        if shadow.compared + shadow.dropped + shadow.errors == 200 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
        shadow = d.status().candidate.unwrap().shadow;
    }
    assert_eq!(shadow.compared + shadow.dropped, 200, "{shadow:?}");
    assert!(shadow.compared > 0);
    assert_eq!(
        shadow.mismatched, shadow.compared,
        "every answer differs by 0.5"
    );
    assert!((shadow.mean_abs_diff - 0.5).abs() < 1e-6, "{shadow:?}");

    // An identical shadow matches; a 0 mirror share sends nothing.
    let d = Deployment::new(engine(Probe::new(1, 0.0), &m)).unwrap();
    d.set_candidate(
        engine(Probe::new(2, 0.0), &m),
        Strategy::Shadow { mirror: 1.0 },
        "test",
    )
    .unwrap();
    for _ in 0..50 {
        d.predict(one(), &opts()).unwrap();
    }
    let mut s = d.status().candidate.unwrap().shadow;
    for _ in 0..200 {
        if s.compared + s.dropped == 50 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
        s = d.status().candidate.unwrap().shadow;
    }
    assert_eq!(s.mismatched, 0, "{s:?}");
    d.set_strategy(Strategy::Shadow { mirror: 0.0 }, "test")
        .unwrap();
    let before = d.status().candidate.unwrap().arm.requests;
    for _ in 0..50 {
        d.predict(one(), &opts()).unwrap();
    }
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(d.status().candidate.unwrap().arm.requests, before);
}

#[test]
fn failing_shadow_never_fails_the_primary() {
    let m = Metrics::new();
    let d = Deployment::new(engine(Probe::new(1, 0.0), &m)).unwrap();
    d.set_candidate(
        engine(Flaky::new(2, 0.0, 1, Duration::ZERO), &m),
        Strategy::Shadow { mirror: 1.0 },
        "test",
    )
    .unwrap();
    for _ in 0..100 {
        assert_eq!(d.predict(one(), &opts()).unwrap().arm, Arm::Stable);
    }
    let mut s = d.status().candidate.unwrap().shadow;
    for _ in 0..200 {
        if s.errors + s.dropped == 100 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
        s = d.status().candidate.unwrap().shadow;
    }
    assert_eq!(s.errors + s.dropped, 100, "{s:?}");
    assert_eq!(s.compared, 0);
}

#[test]
fn blue_green_switches_atomically_and_back() {
    let m = Metrics::new();
    let d = Deployment::new(engine(Probe::new(1, 0.0), &m)).unwrap();
    d.set_candidate(engine(Probe::new(2, 1.0), &m), Strategy::BlueGreen, "ops")
        .unwrap();
    for _ in 0..100 {
        assert_eq!(d.predict(one(), &opts()).unwrap().model.version, 1);
    }
    let ev = d.promote("ops", "release 2").unwrap();
    assert_eq!(ev.kind, EventKind::Promoted { from: 1, to: 2 });
    assert!(!ev.automatic);
    for _ in 0..100 {
        assert_eq!(d.predict(one(), &opts()).unwrap().model.version, 2);
    }
    assert_eq!(d.versions(), vec![(2, Arm::Stable), (1, Arm::Previous)]);
    // The previous version still answers when addressed explicitly.
    let r = common::block_on(d.predict_version_async(1, one(), &opts())).unwrap();
    assert_eq!((r.model.version, r.arm), (1, Arm::Previous));
    assert!(matches!(
        common::block_on(d.predict_version_async(9, one(), &opts())),
        Err(Error::NotFound { .. })
    ));
    let ev = d.rollback("ops", "switch back").unwrap();
    assert_eq!(ev.kind, EventKind::RolledBack { from: 2, to: 1 });
    assert_eq!(d.predict(one(), &opts()).unwrap().model.version, 1);
    assert!(matches!(
        d.rollback("ops", "again"),
        Err(Error::Conflict { .. })
    ));
    assert!(matches!(
        d.promote("ops", "nothing"),
        Err(Error::Conflict { .. })
    ));
    let kinds: Vec<&str> = d.events().iter().map(|e| e.kind.label()).collect();
    assert_eq!(kinds, ["candidate_set", "promoted", "rolled_back"]);
    let seqs: Vec<u64> = d.events().iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [1, 2, 3]);
}

#[test]
fn incompatible_candidates_are_refused() {
    let m = Metrics::new();
    let d = Deployment::new(engine(Probe::new(1, 0.0), &m)).unwrap();
    // Same version as stable.
    assert!(matches!(
        d.set_candidate(engine(Probe::new(1, 0.0), &m), Strategy::BlueGreen, "t"),
        Err(Error::Conflict { .. })
    ));
    // Another signature.
    let w = candle_core::Tensor::new(&[[1f32, 1.0]], &candle_core::Device::Cpu).unwrap();
    let other = mlops_serve::ModulePredictor::new(
        ModelIdentity::new("probe", 5).unwrap(),
        sig(2, 1),
        candle_nn::Linear::new(w, None),
    )
    .unwrap();
    assert!(matches!(
        d.set_candidate(engine(other.into_shared(), &m), Strategy::BlueGreen, "t"),
        Err(Error::Incompatible { .. })
    ));
    assert!(d.candidate().is_none());
    assert!(d.events().is_empty());
}

#[test]
fn automatic_rollback_on_injected_error_rate() {
    let m = Metrics::new();
    let d = Deployment::with_policy(engine(Probe::new(1, 0.0), &m), quick_policy()).unwrap();
    // Every 5th call fails: 20 % errors, far above 1 %.
    d.set_candidate(
        engine(Flaky::new(2, 0.0, 5, Duration::ZERO), &m),
        Strategy::Canary { weight: 0.5 },
        "test",
    )
    .unwrap();
    let mut outcomes = Vec::new();
    let mut failures_seen = 0;
    for _ in 0..3 {
        // Enough traffic for the window: ~100 candidate requests.
        for _ in 0..200 {
            if d.predict(one(), &opts()).is_err() {
                failures_seen += 1;
            }
        }
        outcomes.push(d.check());
    }
    assert!(failures_seen > 0);
    for (i, o) in outcomes.iter().enumerate() {
        match o {
            CheckOutcome::Failed {
                reasons,
                consecutive,
                rolled_back,
                ..
            } => {
                assert_eq!(*consecutive, i as u32 + 1);
                assert_eq!(*rolled_back, i == 2, "{o:?}");
                assert!(reasons[0].starts_with("error rate"), "{reasons:?}");
            }
            other => panic!("check {i}: {other:?}"),
        }
    }
    assert!(d.candidate().is_none());
    let last = d.events().pop().unwrap();
    assert_eq!(last.kind, EventKind::RolledBack { from: 2, to: 1 });
    assert!(last.automatic);
    assert_eq!(last.actor, "controller");
    assert!(last.reason.contains("error rate"), "{}", last.reason);
    // All traffic back on the stable version, and no more failures.
    for _ in 0..200 {
        assert_eq!(d.predict(one(), &opts()).unwrap().model.version, 1);
    }
    assert!(m
        .encode()
        .unwrap()
        .contains("mlops_serve_deployment_events_total{model=\"probe\",kind=\"rolled_back\"} 1"));
}

#[test]
fn healthy_canary_is_not_rolled_back_and_is_promoted_in_steps() {
    let m = Metrics::new();
    let policy = RolloutPolicy {
        steps: vec![0.5, 1.0],
        ..quick_policy()
    };
    let d = Deployment::with_policy(engine(Probe::new(1, 0.0), &m), policy).unwrap();
    d.set_candidate(
        engine(Probe::new(2, 0.0), &m),
        Strategy::Canary { weight: 0.25 },
        "test",
    )
    .unwrap();
    // Too little traffic: the window keeps accumulating, no verdict.
    assert!(matches!(
        d.check(),
        CheckOutcome::Insufficient { requests: 0 }
    ));
    let mut actions = Vec::new();
    for _ in 0..10 {
        for _ in 0..400 {
            d.predict(one(), &opts()).unwrap();
        }
        match d.check() {
            CheckOutcome::Passed { action, .. } => actions.extend(action),
            CheckOutcome::NoCandidate => break,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        actions,
        vec![
            EventKind::Step {
                version: 2,
                weight: 0.5
            },
            EventKind::Promoted { from: 1, to: 2 }
        ]
    );
    assert_eq!(d.stable_version().version, 2);
    assert!(d.events().iter().all(|e| e.kind.label() != "rolled_back"));
}

#[test]
fn slow_candidate_fails_the_latency_check() {
    let m = Metrics::new();
    let policy = RolloutPolicy {
        min_requests: 20,
        max_p99: Some(Duration::from_millis(2)),
        failed_checks: 1,
        ..RolloutPolicy::default()
    };
    let d = Deployment::with_policy(engine(Probe::new(1, 0.0), &m), policy).unwrap();
    d.set_candidate(
        engine(Flaky::new(2, 0.0, 0, Duration::from_millis(5)), &m),
        Strategy::Canary { weight: 1.0 },
        "test",
    )
    .unwrap();
    for _ in 0..20 {
        d.predict(one(), &opts()).unwrap();
    }
    match d.check() {
        CheckOutcome::Failed {
            reasons,
            rolled_back,
            ..
        } => {
            assert!(rolled_back);
            assert!(reasons.iter().any(|r| r.starts_with("p99")), "{reasons:?}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn prediction_drift_between_arms_fails_the_check() {
    let m = Metrics::new();
    let policy = RolloutPolicy {
        min_requests: 200,
        failed_checks: 1,
        max_p99: None,
        drift: Some(DriftGuard {
            min_samples: 100,
            ..DriftGuard::new("y", 0)
        }),
        ..RolloutPolicy::default()
    };
    // Same inputs, but the candidate's predictions are shifted by 3 (a broken feature scaler).
    for (offset, should_fail) in [(3.0, true), (0.0, false)] {
        let d = Deployment::with_policy(engine(Probe::new(1, 0.0), &m), policy.clone()).unwrap();
        d.set_candidate(
            engine(Probe::new(2, offset), &m),
            Strategy::Canary { weight: 0.5 },
            "test",
        )
        .unwrap();
        let mut i = 0u32;
        while d.status().candidate.unwrap().arm.window.requests < 200 {
            let v = (i % 97) as f32 / 97.0;
            d.predict(x(vec![vec![v]]), &opts()).unwrap();
            i += 1;
        }
        match (d.check(), should_fail) {
            (CheckOutcome::Failed { reasons, .. }, true) => {
                assert!(reasons[0].contains("prediction drift"), "{reasons:?}")
            }
            (CheckOutcome::Passed { .. }, false) => {}
            (other, _) => panic!("offset {offset}: {other:?}"),
        }
    }
}

#[test]
fn invalid_policies_are_refused() {
    let m = Metrics::new();
    let d = Deployment::new(engine(Probe::new(1, 0.0), &m)).unwrap();
    for bad in [
        RolloutPolicy {
            max_error_rate: f64::NAN,
            ..RolloutPolicy::default()
        },
        RolloutPolicy {
            steps: vec![0.5, 0.2],
            ..RolloutPolicy::default()
        },
        RolloutPolicy {
            steps: vec![1.5],
            ..RolloutPolicy::default()
        },
        RolloutPolicy {
            failed_checks: 0,
            ..RolloutPolicy::default()
        },
        RolloutPolicy {
            interval: Duration::ZERO,
            ..RolloutPolicy::default()
        },
    ] {
        assert!(matches!(d.set_policy(bad), Err(Error::Config { .. })));
    }
    // JSON round trip in milliseconds.
    let p = RolloutPolicy {
        steps: vec![0.1, 0.5, 1.0],
        ..RolloutPolicy::default()
    };
    let json = serde_json::to_string(&p).unwrap();
    assert!(json.contains("\"max_p99_ms\":500.0"), "{json}");
    let back: RolloutPolicy = serde_json::from_str(&json).unwrap();
    assert_eq!(back, p);
    assert!(serde_json::from_str::<RolloutPolicy>(r#"{"interval_ms": -5}"#).is_err());
    let partial: RolloutPolicy = serde_json::from_str(r#"{"failed_checks": 5}"#).unwrap();
    assert_eq!(partial.failed_checks, 5);
    assert_eq!(partial.min_requests, 100);
}

#[test]
fn controller_thread_rolls_back_on_its_own() {
    let m = Metrics::new();
    let policy = RolloutPolicy {
        min_requests: 20,
        failed_checks: 2,
        interval: Duration::from_millis(20),
        ..RolloutPolicy::default()
    };
    let d = Deployment::with_policy(engine(Probe::new(1, 0.0), &m), policy).unwrap();
    d.set_candidate(
        engine(Flaky::new(2, 0.0, 2, Duration::ZERO), &m),
        Strategy::Canary { weight: 0.5 },
        "test",
    )
    .unwrap();
    let controller = d.start_controller().unwrap();
    let mut waited = 0;
    while d.candidate().is_some() && waited < 1000 {
        let _ = d.predict(one(), &opts());
        std::thread::sleep(Duration::from_millis(1));
        waited += 1;
    }
    drop(controller);
    assert!(d.candidate().is_none(), "controller never rolled back");
    assert!(d
        .events()
        .iter()
        .any(|e| e.automatic && e.kind.label() == "rolled_back"));
}

#[test]
fn swaps_under_load_fail_no_request() {
    let m = Metrics::new();
    let d = Deployment::new(engine(Probe::new(1, 0.0), &m)).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let clients: Vec<_> = (0..4)
        .map(|t| {
            let (d, stop, ok) = (d.clone(), stop.clone(), ok.clone());
            std::thread::spawn(move || {
                let mut errors = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let key = format!("k{t}");
                    match d.predict(one(), &keyed(&key)) {
                        Ok(r) => {
                            // y = 1 + offset, offset = version - 1 for every probe below.
                            assert_eq!(y(&r.outputs), vec![r.model.version as f32]);
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => errors.push(e.to_string()),
                    }
                }
                errors
            })
        })
        .collect();
    let mut v = 1;
    for round in 0..30 {
        v += 1;
        let e = engine(Probe::new(v, (v - 1) as f32), &m);
        match round % 3 {
            0 => {
                d.set_candidate(e, Strategy::Canary { weight: 0.5 }, "t")
                    .unwrap();
                std::thread::sleep(Duration::from_millis(5));
                d.promote("t", "r").unwrap();
            }
            1 => {
                d.replace_stable(e, "t", "alias moved").unwrap();
            }
            _ => {
                d.set_candidate(e, Strategy::AbTest { weight: 0.5 }, "t")
                    .unwrap();
                std::thread::sleep(Duration::from_millis(5));
                d.rollback("t", "r").unwrap();
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        let errors = c.join().unwrap();
        assert!(errors.is_empty(), "{errors:?}");
    }
    assert!(ok.load(Ordering::Relaxed) > 100);
}
