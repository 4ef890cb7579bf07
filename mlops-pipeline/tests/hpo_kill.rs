//! The study on its journal: deterministic histories on any thread count, and crashes.
//!
//! A kill -9 leaves the journal at a commit boundary (each commit is one write + fsync), so
//! resuming from every commit prefix of an uninterrupted run is every crash point there is;
//! `resume_from_every_commit_prefix_gives_the_uninterrupted_history` checks them all. The
//! real-process kill test (the `mlops` binary killed 50 times) lives in
//! `mlops-cli/tests/hpo_cli.rs`, where the binary's path is known.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mlops_pipeline::hpo::journal::{Journal, Record};
use mlops_pipeline::hpo::study::{replay, SimpleRandom, Study, StudySpec};
use mlops_pipeline::hpo::{
    Condition, Direction, Distribution, FrozenTrial, ParamSpec, ParamValue, Params, Pruner,
    Sampler, SearchSpace, TrialState,
};
use mlops_pipeline::{Error, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The tiny sampler of this test: uniform in each float range from a ChaCha RNG seeded by
/// `seed`; it also records how many running trials it was shown.
#[derive(Debug, Default)]
struct Uniform {
    saw_running: AtomicUsize,
}

impl Sampler for Uniform {
    fn sample(
        &self,
        space: &SearchSpace,
        _direction: Direction,
        _history: &[FrozenTrial],
        running: &[FrozenTrial],
        seed: u64,
    ) -> Result<Params> {
        self.saw_running.fetch_add(running.len(), Ordering::SeqCst);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut p = Params::new();
        for s in &space.params {
            let Distribution::Float { low, high, .. } = s.distribution else {
                return Err(Error::spec(&s.name, "test sampler: floats only"));
            };
            p.insert(s.name.clone(), ParamValue::Float(rng.gen_range(low..=high)));
        }
        Ok(p)
    }
}

/// Prunes when the value at `step` is worse than the median of the history's values there.
#[derive(Debug)]
struct Median;

impl Pruner for Median {
    fn should_prune(
        &self,
        direction: Direction,
        trial: &FrozenTrial,
        step: u64,
        history: &[FrozenTrial],
    ) -> bool {
        let mut seen: Vec<f64> = history
            .iter()
            .filter_map(|t| t.intermediate.get(&step).copied())
            .collect();
        if seen.len() < 3 {
            return false;
        }
        seen.sort_by(f64::total_cmp);
        let median = seen[seen.len() / 2];
        let v = trial.intermediate[&step];
        match direction {
            Direction::Minimize => v > median,
            Direction::Maximize => v < median,
        }
    }
}

fn float(name: &str, low: f64, high: f64) -> ParamSpec {
    ParamSpec {
        name: name.into(),
        distribution: Distribution::Float {
            low,
            high,
            log: false,
            step: None,
        },
        condition: None,
    }
}

fn branin_space() -> SearchSpace {
    SearchSpace {
        params: vec![float("x", -5.0, 10.0), float("y", 0.0, 15.0)],
    }
}

fn branin(x: f64, y: f64) -> f64 {
    use std::f64::consts::PI;
    let b = 5.1 / (4.0 * PI * PI);
    let c = 5.0 / PI;
    let t = 1.0 / (8.0 * PI);
    (y - b * x * x + c * x - 6.0).powi(2) + 10.0 * (1.0 - t) * x.cos() + 10.0
}

fn spec(workers: u32, deterministic: bool) -> StudySpec {
    StudySpec {
        workers,
        deterministic,
        seed: 42,
        ..StudySpec::new("branin", branin_space())
    }
}

/// Branin with three intermediate reports (and, with `jitter`, a seed-dependent sleep so
/// that threads finish out of order).
fn objective(
    jitter: bool,
) -> impl Fn(&mlops_pipeline::hpo::study::TrialCtx<'_>) -> Result<f64> + Sync {
    move |t| {
        let (x, y) = (t.param_f64("x")?, t.param_f64("y")?);
        let v = branin(x, y);
        if jitter {
            std::thread::sleep(Duration::from_millis(t.seed() % 7));
        }
        for step in 0..3u64 {
            if t.report(step, v * (3 - step) as f64)? {
                return Ok(f64::NAN); // ignored: the trial is pruned
            }
        }
        Ok(v)
    }
}

type Outcome = BTreeMap<u64, (TrialState, Option<f64>, Params, u64)>;

fn outcome(trials: &[FrozenTrial]) -> Outcome {
    trials
        .iter()
        .map(|t| (t.number, (t.state, t.value, t.params.clone(), t.seed)))
        .collect()
}

fn run_study(path: &Path, spec: StudySpec, threads: usize, n: u64, pruned: bool) -> Outcome {
    let mut s = Study::open_or_create(path, spec)
        .unwrap()
        .with_sampler(Arc::new(Uniform::default()));
    if pruned {
        s = s.with_pruner(Arc::new(Median));
    }
    s.run(&objective(true), n, threads).unwrap();
    outcome(&s.trials())
}

#[test]
fn deterministic_history_is_the_same_on_1_2_and_4_threads() {
    let dir = tempfile::tempdir().unwrap();
    for pruned in [false, true] {
        let sp = StudySpec {
            pruner: if pruned { "median" } else { "none" }.into(),
            ..spec(4, true)
        };
        let runs: Vec<Outcome> = [1usize, 2, 4]
            .iter()
            .map(|&threads| {
                let path = dir.path().join(format!("det-{pruned}-{threads}"));
                run_study(&path, sp.clone(), threads, 24, pruned)
            })
            .collect();
        assert_eq!(runs[0].len(), 24);
        assert!(runs[0].values().all(|o| o.0 != TrialState::Running));
        assert_eq!(runs[0], runs[1], "1 vs 2 threads (pruner {pruned})");
        assert_eq!(runs[0], runs[2], "1 vs 4 threads (pruner {pruned})");
        if pruned {
            let n = runs[0]
                .values()
                .filter(|o| o.0 == TrialState::Pruned)
                .count();
            assert!(n > 0, "the pruner never fired");
            // A pruned trial's value is its last intermediate value.
            for o in runs[0].values().filter(|o| o.0 == TrialState::Pruned) {
                assert!(o.1.is_some());
            }
        }
    }
}

#[test]
fn different_seed_or_lag_gives_a_different_history() {
    let dir = tempfile::tempdir().unwrap();
    let a = run_study(&dir.path().join("a"), spec(2, true), 2, 8, false);
    let b = run_study(
        &dir.path().join("b"),
        StudySpec {
            seed: 43,
            ..spec(2, true)
        },
        2,
        8,
        false,
    );
    assert_ne!(a, b);
}

#[test]
fn resume_from_every_commit_prefix_gives_the_uninterrupted_history() {
    let dir = tempfile::tempdir().unwrap();
    let full_path = dir.path().join("full");
    let sp = StudySpec {
        pruner: "median".into(),
        ..spec(2, true)
    };
    let want = run_study(&full_path, sp.clone(), 2, 12, true);
    let bytes = std::fs::read(&full_path).unwrap();
    let entries = Journal::read(&full_path).unwrap().entries;
    let mut cuts: Vec<u64> = entries.iter().map(|e| e.offset).collect();
    cuts.push(bytes.len() as u64);
    let mut requeued_total = 0;
    for (i, &cut) in cuts.iter().enumerate().skip(1) {
        let path = dir.path().join(format!("cut-{i}"));
        std::fs::write(&path, &bytes[..cut as usize]).unwrap();
        let before = replay(&path, &Journal::read(&path).unwrap().entries).unwrap();
        let study = Study::open_or_create(&path, sp.clone())
            .unwrap()
            .with_sampler(Arc::new(Uniform::default()))
            .with_pruner(Arc::new(Median));
        requeued_total += study.recovery().requeued.len();
        // Threads differ from the first run's: the schedule, not the threads, decides.
        study.run(&objective(true), 12, 1 + i % 3).unwrap();
        let got = outcome(&study.trials());
        assert_eq!(got, want, "resumed after {i} records");
        // Every trial that had ended before the "crash" kept its value.
        for r in before.trials.values() {
            if r.trial.state != TrialState::Running && !r.queued {
                assert_eq!(got[&r.trial.number].1, r.trial.value);
            }
        }
        // A re-run trial counts its attempts; the dead attempt is not a trial.
        for rec in study.records() {
            let died = before
                .trials
                .get(&rec.trial.number)
                .is_some_and(|b| b.trial.state == TrialState::Running);
            assert_eq!(rec.attempts, if died { 2 } else { 1 });
        }
        drop(study);
        // The journal replays to the same history, and is never corrupt.
        let h = replay(&path, &Journal::read(&path).unwrap().entries).unwrap();
        let trials: Vec<FrozenTrial> = h.trials.values().map(|r| r.trial.clone()).collect();
        assert_eq!(outcome(&trials), want);
    }
    assert!(requeued_total > 0, "no prefix ended inside a running trial");
}

#[test]
fn requeue_is_journaled_once_and_keeps_number_params_and_seed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j");
    let sp = spec(1, true);
    {
        // A writer that dies inside trial 0: StudyCreated + TrialStarted, nothing else.
        let mut j = Journal::open(&path).unwrap().journal;
        let s = Study::open_or_create(dir.path().join("scratch"), sp.clone()).unwrap();
        drop(s);
        let created = Journal::read(dir.path().join("scratch")).unwrap().entries[0]
            .record
            .clone();
        j.append(&[
            created,
            Record::TrialStarted {
                number: 0,
                params: Params::from([
                    ("x".into(), ParamValue::Float(1.0)),
                    ("y".into(), ParamValue::Float(2.0)),
                ]),
                seed: 77,
                worker: 0,
                lease_until_ms: u64::MAX, // a lease that never expires: the lock decides
            },
            Record::Intermediate {
                number: 0,
                step: 0,
                value: 5.0,
            },
        ])
        .unwrap();
    }
    let study = Study::open_or_create(&path, sp.clone()).unwrap();
    assert_eq!(study.recovery().requeued, vec![0]);
    // Queued, not listed as a trial until it runs again.
    assert!(study.trials().is_empty());
    let recs = study.records();
    assert!(recs[0].queued && recs[0].trial.intermediate.is_empty());
    study.run(&objective(false), 1, 1).unwrap();
    let t = &study.trials()[0];
    assert_eq!(t.number, 0);
    assert_eq!(t.seed, 77);
    assert_eq!(t.value, Some(branin(1.0, 2.0)));
    assert_eq!(t.intermediate.len(), 3);
    drop(study);
    let kinds: Vec<&'static str> = Journal::read(&path)
        .unwrap()
        .entries
        .iter()
        .map(|e| match e.record {
            Record::StudyCreated { .. } => "created",
            Record::TrialStarted { .. } => "started",
            Record::Heartbeat { .. } => "heartbeat",
            Record::Intermediate { .. } => "intermediate",
            Record::TrialFinished { .. } => "finished",
            Record::TrialRequeued { .. } => "requeued",
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "created",
            "started",
            "intermediate",
            "requeued",
            "started",
            "intermediate",
            "intermediate",
            "intermediate",
            "finished"
        ]
    );
    // Reopening does not re-queue again.
    let again = Study::open_or_create(&path, sp).unwrap();
    assert!(again.recovery().requeued.is_empty());
}

#[test]
fn a_second_study_on_the_same_journal_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j");
    let _a = Study::open_or_create(&path, spec(1, true)).unwrap();
    assert!(matches!(
        Study::open_or_create(&path, spec(1, true)),
        Err(Error::Locked { .. })
    ));
}

#[test]
fn a_spec_differing_from_the_recorded_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j");
    drop(Study::open_or_create(&path, spec(2, true)).unwrap());
    let variants: Vec<(&str, StudySpec)> = vec![
        (
            "name",
            StudySpec {
                name: "other".into(),
                ..spec(2, true)
            },
        ),
        (
            "direction",
            StudySpec {
                direction: Direction::Maximize,
                ..spec(2, true)
            },
        ),
        (
            "seed",
            StudySpec {
                seed: 1,
                ..spec(2, true)
            },
        ),
        ("workers", spec(3, true)),
        ("deterministic", spec(2, false)),
        (
            "sampler",
            StudySpec {
                sampler: "tpe".into(),
                ..spec(2, true)
            },
        ),
        (
            "pruner",
            StudySpec {
                pruner: "median".into(),
                ..spec(2, true)
            },
        ),
        (
            "space",
            StudySpec {
                space: SearchSpace {
                    params: vec![float("x", -5.0, 10.0)],
                },
                ..spec(2, true)
            },
        ),
    ];
    for (field, sp) in variants {
        match Study::open_or_create(&path, sp) {
            Err(Error::InvalidSpec { at, reason }) => assert_eq!(at, field, "{reason}"),
            other => panic!("{field}: expected InvalidSpec, got {other:?}"),
        }
    }
    // The same spec resumes.
    assert!(Study::open_or_create(&path, spec(2, true)).is_ok());
}

#[test]
fn bad_specs_and_arguments_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let bad_space = |p: ParamSpec| StudySpec::new("s", SearchSpace { params: vec![p] });
    let cases: Vec<(&str, StudySpec)> = vec![
        ("workers", spec(0, true)),
        (
            "name",
            StudySpec {
                name: " ".into(),
                ..spec(1, true)
            },
        ),
        ("space", StudySpec::new("s", SearchSpace::default())),
        ("space.x", bad_space(float("x", 1.0, 0.0))),
        ("space.x", bad_space(float("x", f64::NAN, 1.0))),
        ("space.x", bad_space(float("x", 0.0, f64::INFINITY))),
        (
            "space.x",
            bad_space(ParamSpec {
                distribution: Distribution::Float {
                    low: 0.0,
                    high: 1.0,
                    log: true,
                    step: None,
                },
                ..float("x", 0.0, 1.0)
            }),
        ),
        (
            "space.x",
            bad_space(ParamSpec {
                distribution: Distribution::Float {
                    low: 0.0,
                    high: 1.0,
                    log: false,
                    step: Some(0.0),
                },
                ..float("x", 0.0, 1.0)
            }),
        ),
        (
            "space.x",
            bad_space(ParamSpec {
                distribution: Distribution::Int {
                    low: 0,
                    high: 5,
                    log: true,
                    step: 1,
                },
                ..float("x", 0.0, 1.0)
            }),
        ),
        (
            "space.x",
            bad_space(ParamSpec {
                distribution: Distribution::Categorical { choices: vec![] },
                ..float("x", 0.0, 1.0)
            }),
        ),
        (
            "space.x",
            bad_space(ParamSpec {
                condition: Some(Condition {
                    parent: "later".into(),
                    values: vec![],
                }),
                ..float("x", 0.0, 1.0)
            }),
        ),
        (
            "space.x",
            StudySpec::new(
                "s",
                SearchSpace {
                    params: vec![float("x", 0.0, 1.0), float("x", 0.0, 1.0)],
                },
            ),
        ),
    ];
    for (i, (at_want, sp)) in cases.into_iter().enumerate() {
        let path = dir.path().join(format!("bad-{i}"));
        match Study::open_or_create(&path, sp) {
            Err(Error::InvalidSpec { at, .. }) => assert_eq!(at, at_want, "case {i}"),
            other => panic!("case {i}: expected InvalidSpec, got {other:?}"),
        }
        // Nothing was written for a refused spec.
        assert!(!path.exists(), "case {i}");
    }
    let s = Study::open_or_create(dir.path().join("ok"), spec(1, true)).unwrap();
    assert!(matches!(
        s.run(&objective(false), 1, 0),
        Err(Error::InvalidInput { .. })
    ));
    let s = s.with_lease(Duration::ZERO);
    assert!(matches!(
        s.run(&objective(false), 1, 1),
        Err(Error::InvalidInput { .. })
    ));
    // No study, no best.
    assert!(matches!(s.best(), Err(Error::Study { .. })));
}

#[test]
fn samplers_and_pruners_without_an_implementation_are_spec_errors() {
    let dir = tempfile::tempdir().unwrap();
    let tpe = Study::open_or_create(
        dir.path().join("tpe"),
        StudySpec {
            sampler: "tpe".into(),
            ..spec(1, true)
        },
    )
    .unwrap();
    match tpe.run(&objective(false), 1, 1) {
        Err(Error::InvalidSpec { at, reason }) => {
            assert_eq!(at, "sampler");
            assert!(reason.contains("tpe"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    let median = Study::open_or_create(
        dir.path().join("median"),
        StudySpec {
            pruner: "median".into(),
            ..spec(1, true)
        },
    )
    .unwrap();
    assert!(matches!(
        median.run(&objective(false), 1, 1),
        Err(Error::InvalidSpec { at, .. }) if at == "pruner"
    ));
    // Nothing ran.
    assert!(tpe.trials().is_empty() && median.trials().is_empty());
}

#[test]
fn failing_objectives_fail_their_trial_and_the_study_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let study = Study::open_or_create(dir.path().join("j"), spec(1, true)).unwrap();
    let f = |t: &mlops_pipeline::hpo::study::TrialCtx<'_>| -> Result<f64> {
        match t.number() {
            0 => Err(Error::invalid("x", "boom")),
            1 => Ok(f64::NAN),
            2 => Ok(f64::INFINITY),
            3 => panic!("objective panics"),
            4 => {
                // Bad reports are typed errors, the trial may go on.
                assert!(matches!(
                    t.report(0, f64::NAN),
                    Err(Error::InvalidInput { .. })
                ));
                t.report(0, 1.0)?;
                assert!(matches!(t.report(0, 2.0), Err(Error::InvalidInput { .. })));
                assert!(t.param_f64("nope").is_err());
                Ok(3.0)
            }
            _ => Ok(10.0 - t.number() as f64),
        }
    };
    let sum = study.run(&f, 7, 2).unwrap();
    assert_eq!(
        (sum.ran, sum.complete, sum.failed, sum.pruned),
        (7, 3, 4, 0)
    );
    let trials = study.trials();
    let states: Vec<TrialState> = trials.iter().map(|t| t.state).collect();
    use TrialState::*;
    assert_eq!(
        states,
        [Fail, Fail, Fail, Fail, Complete, Complete, Complete]
    );
    assert!(trials[..4].iter().all(|t| t.value.is_none()));
    assert_eq!(trials[4].intermediate, BTreeMap::from([(0, 1.0)]));
    assert_eq!(study.best().unwrap().number, 4);
    // n_trials is the study's total: running again to 7 does nothing.
    assert_eq!(study.run(&f, 7, 2).unwrap().ran, 0);
    // Maximize picks the other end; ties go to the lower number.
    let max = Study::open_or_create(
        dir.path().join("max"),
        StudySpec {
            direction: Direction::Maximize,
            ..spec(1, true)
        },
    )
    .unwrap();
    max.run(&|t| Ok(if t.number() < 2 { 1.0 } else { 0.0 }), 4, 1)
        .unwrap();
    assert_eq!(max.best().unwrap().number, 0);
}

#[test]
fn heartbeats_extend_the_lease_of_running_trials() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j");
    let study = Study::open_or_create(&path, spec(1, true))
        .unwrap()
        .with_lease(Duration::from_millis(30));
    study
        .run(
            &|_| {
                std::thread::sleep(Duration::from_millis(120));
                Ok(1.0)
            },
            1,
            1,
        )
        .unwrap();
    drop(study);
    let entries = Journal::read(&path).unwrap().entries;
    let started = entries
        .iter()
        .find_map(|e| match e.record {
            Record::TrialStarted { lease_until_ms, .. } => Some(lease_until_ms),
            _ => None,
        })
        .unwrap();
    let beats: Vec<u64> = entries
        .iter()
        .filter_map(|e| match e.record {
            Record::Heartbeat { lease_until_ms, .. } => Some(lease_until_ms),
            _ => None,
        })
        .collect();
    assert!(beats.len() >= 2, "{} heartbeats", beats.len());
    assert!(beats.windows(2).all(|w| w[0] <= w[1]));
    assert!(beats[0] > started);
}

#[test]
fn non_deterministic_mode_shows_running_trials_to_the_sampler() {
    let dir = tempfile::tempdir().unwrap();
    let sampler = Arc::new(Uniform::default());
    let study = Study::open_or_create(dir.path().join("j"), spec(4, false))
        .unwrap()
        .with_sampler(sampler.clone());
    let sum = study
        .run(
            &|_| {
                std::thread::sleep(Duration::from_millis(20));
                Ok(1.0)
            },
            12,
            4,
        )
        .unwrap();
    assert_eq!(sum.complete, 12);
    assert!(sampler.saw_running.load(Ordering::SeqCst) > 0);
    let numbers: Vec<u64> = study.trials().iter().map(|t| t.number).collect();
    assert_eq!(numbers, (0..12).collect::<Vec<_>>());
}

#[test]
fn sampler_errors_stop_the_run_with_that_error() {
    #[derive(Debug)]
    struct Broken;
    impl Sampler for Broken {
        fn sample(
            &self,
            _: &SearchSpace,
            _: Direction,
            _: &[FrozenTrial],
            _: &[FrozenTrial],
            _: u64,
        ) -> Result<Params> {
            Err(Error::spec("space", "broken sampler"))
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let study = Study::open_or_create(dir.path().join("j"), spec(2, true))
        .unwrap()
        .with_sampler(Arc::new(Broken));
    let seen = Mutex::new(0);
    let r = study.run(
        &|_| {
            *seen.lock().unwrap() += 1;
            Ok(0.0)
        },
        5,
        3,
    );
    assert!(matches!(r, Err(Error::InvalidSpec { .. })), "{r:?}");
    assert_eq!(*seen.lock().unwrap(), 0);
}

#[test]
fn simple_random_stays_in_its_distributions() {
    let space = SearchSpace {
        params: vec![
            ParamSpec {
                name: "lr".into(),
                distribution: Distribution::Float {
                    low: 1e-5,
                    high: 1e-1,
                    log: true,
                    step: None,
                },
                condition: None,
            },
            ParamSpec {
                name: "drop".into(),
                distribution: Distribution::Float {
                    low: 0.0,
                    high: 0.5,
                    log: false,
                    step: Some(0.1),
                },
                condition: None,
            },
            ParamSpec {
                name: "units".into(),
                distribution: Distribution::Int {
                    low: 8,
                    high: 512,
                    log: true,
                    step: 1,
                },
                condition: None,
            },
            ParamSpec {
                name: "layers".into(),
                distribution: Distribution::Int {
                    low: 1,
                    high: 9,
                    log: false,
                    step: 2,
                },
                condition: None,
            },
            ParamSpec {
                name: "opt".into(),
                distribution: Distribution::Categorical {
                    choices: vec!["sgd".into(), "adam".into()],
                },
                condition: None,
            },
            ParamSpec {
                name: "momentum".into(),
                distribution: Distribution::Float {
                    low: 0.0,
                    high: 1.0,
                    log: false,
                    step: None,
                },
                condition: Some(Condition {
                    parent: "opt".into(),
                    values: vec![ParamValue::Str("sgd".into())],
                }),
            },
        ],
    };
    let mut saw_momentum = [false, false];
    for seed in 0..300 {
        let p = SimpleRandom
            .sample(&space, Direction::Minimize, &[], &[], seed)
            .unwrap();
        assert_eq!(
            p,
            SimpleRandom
                .sample(&space, Direction::Minimize, &[], &[], seed)
                .unwrap()
        );
        let ParamValue::Float(lr) = p["lr"] else {
            panic!()
        };
        assert!((1e-5..=1e-1).contains(&lr));
        let ParamValue::Float(d) = p["drop"] else {
            panic!()
        };
        assert!((0.0..=0.5).contains(&d));
        assert!(((d / 0.1) - (d / 0.1).round()).abs() < 1e-9, "{d}");
        let ParamValue::Int(u) = p["units"] else {
            panic!()
        };
        assert!((8..=512).contains(&u));
        let ParamValue::Int(l) = p["layers"] else {
            panic!()
        };
        assert!([1, 3, 5, 7, 9].contains(&l));
        let ParamValue::Str(o) = &p["opt"] else {
            panic!()
        };
        assert_eq!(p.contains_key("momentum"), o == "sgd");
        saw_momentum[usize::from(p.contains_key("momentum"))] = true;
    }
    assert_eq!(saw_momentum, [true, true]);
    // A degenerate range gives its one value.
    let one = SearchSpace {
        params: vec![float("x", 2.0, 2.0)],
    };
    let p = SimpleRandom
        .sample(&one, Direction::Minimize, &[], &[], 1)
        .unwrap();
    assert_eq!(p["x"], ParamValue::Float(2.0));
    assert!(SimpleRandom
        .sample(&SearchSpace::default(), Direction::Minimize, &[], &[], 1)
        .is_err());
}
