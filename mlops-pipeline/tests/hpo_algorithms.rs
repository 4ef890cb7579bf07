//! HPO samplers and pruners: samples stay inside their distributions, seeds reproduce, TPE beats
//! random search on Branin, and the pruners reach Optuna's decisions on recorded histories.
//!
//! Pruner fixture: `tests/data/hpo_pruners.json`, written by
//! `tools/reference/optuna_pruners_reference.py` (optuna 5.1.0, numpy 2.4.6); each scenario
//! records the exact `optuna.pruners.…(...)` call that produced its decisions.

use std::collections::BTreeMap;

use mlops_pipeline::hpo::objectives::{branin_params, branin_space, BRANIN_MIN};
use mlops_pipeline::hpo::space::{contains, is_active, validate};
use mlops_pipeline::hpo::{
    Condition, Direction, Distribution, FrozenTrial, MedianPruner, MinResource, ParamSpec,
    ParamValue, Params, Pruner, RandomSampler, Sampler, SearchSpace, SuccessiveHalvingPruner,
    TpeSampler, TrialState,
};
use mlops_pipeline::Error;
use proptest::prelude::*;
use serde::Deserialize;

// ---------------------------------------------------------------------------------------------
// Pruners against Optuna.

#[derive(Deserialize)]
struct Fixture {
    optuna: String,
    scenarios: Vec<Scenario>,
}

#[derive(Deserialize)]
struct Scenario {
    name: String,
    direction: String,
    pruner: String,
    trials: Vec<RecordedTrial>,
}

#[derive(Deserialize)]
struct RecordedTrial {
    steps: Vec<u64>,
    values: Vec<Option<f64>>,
    decisions: Vec<bool>,
    state: String,
    value: Option<f64>,
}

fn pruner_for(name: &str) -> Box<dyn Pruner> {
    match name {
        "median_default_min" | "median_default_max" => Box::new(MedianPruner::default()),
        "median_warmup_interval_nan" => Box::new(MedianPruner::new(3, 4, 3, 2).unwrap()),
        "median_even_counts_ties" => Box::new(MedianPruner::new(2, 0, 1, 1).unwrap()),
        "sh_default_min" | "sh_default_max" => Box::new(SuccessiveHalvingPruner::default()),
        "sh_fixed_rf2_rate1_nan" => {
            Box::new(SuccessiveHalvingPruner::new(MinResource::Steps(2), 2, 1).unwrap())
        }
        other => panic!("unknown scenario {other}"),
    }
}

fn trial(number: u64, state: TrialState) -> FrozenTrial {
    FrozenTrial {
        number,
        state,
        params: Params::new(),
        value: None,
        intermediate: BTreeMap::new(),
        seed: number,
    }
}

#[test]
fn pruners_match_optuna_decisions() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/hpo_pruners.json"
    ))
    .unwrap();
    let fixture: Fixture = serde_json::from_str(&text).unwrap();
    assert_eq!(fixture.optuna, "5.1.0");
    let mut checked = 0;
    let mut pruned = 0;
    for sc in &fixture.scenarios {
        let pruner = pruner_for(&sc.name);
        let direction = match sc.direction.as_str() {
            "minimize" => Direction::Minimize,
            _ => Direction::Maximize,
        };
        let mut history: Vec<FrozenTrial> = Vec::new();
        for (i, rec) in sc.trials.iter().enumerate() {
            let mut t = trial(i as u64, TrialState::Running);
            for ((step, v), expected) in rec.steps.iter().zip(&rec.values).zip(&rec.decisions) {
                t.intermediate.insert(*step, v.unwrap_or(f64::NAN));
                let got = pruner.should_prune(direction, &t, *step, &history);
                assert_eq!(
                    got, *expected,
                    "{} ({}): trial {i} step {step}",
                    sc.name, sc.pruner
                );
                checked += 1;
                pruned += usize::from(got);
            }
            t.state = match rec.state.as_str() {
                "complete" => TrialState::Complete,
                "pruned" => TrialState::Pruned,
                other => panic!("unexpected state {other}"),
            };
            t.value = rec.value;
            history.push(t);
        }
    }
    assert!(
        checked > 4000 && pruned > 150,
        "{checked} decisions, {pruned} prunes"
    );
}

#[test]
fn median_pruner_hand_table() {
    // Four completed trials at step 0 report 1, 2, 3, 10: the numpy median is 2.5
    // (np.nanmedian([1, 2, 3, 10]) == 2.5), so 2.6 is pruned and 2.5 is not (minimise).
    let mut history = Vec::new();
    for (i, v) in [1.0, 2.0, 3.0, 10.0].into_iter().enumerate() {
        let mut t = trial(i as u64, TrialState::Complete);
        t.intermediate.insert(0, v);
        t.value = Some(v);
        history.push(t);
    }
    let p = MedianPruner::new(4, 0, 1, 1).unwrap();
    let mut t = trial(9, TrialState::Running);
    t.intermediate.insert(0, 2.6);
    assert!(p.should_prune(Direction::Minimize, &t, 0, &history));
    assert!(!p.should_prune(Direction::Maximize, &t, 0, &history));
    t.intermediate.insert(0, 2.5);
    assert!(!p.should_prune(Direction::Minimize, &t, 0, &history));
    // A pruned trial does not count towards the median nor towards n_startup_trials.
    history[3].state = TrialState::Pruned;
    assert!(!p.should_prune(Direction::Minimize, &t, 0, &history));
    // No intermediate value yet, or a step nobody else reported: never pruned.
    let empty = trial(10, TrialState::Running);
    assert!(!MedianPruner::default().should_prune(Direction::Minimize, &empty, 0, &history));
    let mut late = trial(11, TrialState::Running);
    late.intermediate.insert(7, 100.0);
    assert!(!MedianPruner::new(1, 0, 1, 1).unwrap().should_prune(
        Direction::Minimize,
        &late,
        7,
        &history
    ));
    // All-NaN values are pruned, as in Optuna.
    let mut nan = trial(12, TrialState::Running);
    nan.intermediate.insert(0, f64::NAN);
    assert!(MedianPruner::new(1, 0, 1, 1).unwrap().should_prune(
        Direction::Minimize,
        &nan,
        0,
        &history
    ));
}

// ---------------------------------------------------------------------------------------------
// Samplers.

fn spec(name: &str, distribution: Distribution) -> ParamSpec {
    ParamSpec {
        name: name.into(),
        distribution,
        condition: None,
    }
}

fn child(name: &str, distribution: Distribution, parent: &str, values: &[&str]) -> ParamSpec {
    ParamSpec {
        name: name.into(),
        distribution,
        condition: Some(Condition {
            parent: parent.into(),
            values: values
                .iter()
                .map(|v| ParamValue::Str((*v).into()))
                .collect(),
        }),
    }
}

/// Every kind of parameter: plain, log and stepped floats, plain, stepped and log ints, a
/// categorical, and two conditional children (one of them stepped).
fn rich_space() -> SearchSpace {
    SearchSpace {
        params: vec![
            spec(
                "x",
                Distribution::Float {
                    low: -3.0,
                    high: 2.0,
                    log: false,
                    step: None,
                },
            ),
            spec(
                "lr",
                Distribution::Float {
                    low: 1e-5,
                    high: 1.0,
                    log: true,
                    step: None,
                },
            ),
            spec(
                "frac",
                Distribution::Float {
                    low: 0.1,
                    high: 0.9,
                    log: false,
                    step: Some(0.1),
                },
            ),
            spec(
                "layers",
                Distribution::Int {
                    low: 1,
                    high: 5,
                    log: false,
                    step: 1,
                },
            ),
            spec(
                "width",
                Distribution::Int {
                    low: 16,
                    high: 256,
                    log: false,
                    step: 16,
                },
            ),
            spec(
                "batch",
                Distribution::Int {
                    low: 1,
                    high: 1024,
                    log: true,
                    step: 1,
                },
            ),
            spec(
                "model",
                Distribution::Categorical {
                    choices: vec!["linear".into(), "tree".into(), "mlp".into()],
                },
            ),
            child(
                "depth",
                Distribution::Int {
                    low: 2,
                    high: 12,
                    log: false,
                    step: 2,
                },
                "model",
                &["tree"],
            ),
            child(
                "dropout",
                Distribution::Float {
                    low: 0.0,
                    high: 0.5,
                    log: false,
                    step: Some(0.05),
                },
                "model",
                &["mlp"],
            ),
        ],
    }
}

/// A deterministic toy objective over the rich space.
fn rich_objective(p: &Params) -> f64 {
    let f = |name: &str| match p.get(name) {
        Some(ParamValue::Float(v)) => *v,
        Some(ParamValue::Int(v)) => *v as f64,
        Some(ParamValue::Str(s)) => s.len() as f64,
        None => 0.0,
    };
    (f("x") - 0.5).powi(2)
        + f("lr").ln().abs() * 0.1
        + (f("frac") - 0.3).abs()
        + (f("layers") - 3.0).abs()
        + f("width") / 256.0
        + f("batch").ln() * 0.05
        + f("depth") * 0.1
        + f("dropout")
}

fn assert_valid(space: &SearchSpace, params: &Params) {
    let mut seen = Params::new();
    for s in &space.params {
        if is_active(s, &seen) {
            let v = params
                .get(&s.name)
                .unwrap_or_else(|| panic!("active {} missing in {params:?}", s.name));
            assert!(
                contains(&s.distribution, v),
                "{} = {v:?} outside {:?}",
                s.name,
                s.distribution
            );
            seen.insert(s.name.clone(), v.clone());
        } else {
            assert!(!params.contains_key(&s.name), "inactive {} present", s.name);
        }
    }
    assert_eq!(seen.len(), params.len(), "extra params in {params:?}");
}

/// A sequential study: trial `k` gets seed `seed·1_000_003 + k`; `mark(k)` may turn a trial
/// pruned/failed/running to exercise the split. Returns the history.
fn run_study(
    sampler: &dyn Sampler,
    space: &SearchSpace,
    direction: Direction,
    n_trials: u64,
    seed: u64,
    objective: &dyn Fn(&Params) -> f64,
    mark: &dyn Fn(u64) -> TrialState,
) -> Vec<FrozenTrial> {
    let mut history = Vec::new();
    let mut running = Vec::new();
    for k in 0..n_trials {
        let s = seed.wrapping_mul(1_000_003).wrapping_add(k);
        let params = sampler
            .sample(space, direction, &history, &running, s)
            .unwrap();
        assert_valid(space, &params);
        let v = objective(&params);
        let mut t = trial(k, mark(k));
        t.params = params;
        match t.state {
            TrialState::Complete => t.value = Some(v),
            TrialState::Pruned => {
                t.intermediate.insert(k % 3, v);
                t.value = Some(v);
            }
            TrialState::Running => {
                running.push(t);
                continue;
            }
            TrialState::Fail => {}
        }
        history.push(t);
    }
    history
}

fn mixed_states(k: u64) -> TrialState {
    match k % 7 {
        3 => TrialState::Pruned,
        5 => TrialState::Fail,
        6 if k < 30 => TrialState::Running,
        _ => TrialState::Complete,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn tpe_and_random_samples_lie_in_their_distributions(
        seed in any::<u64>(),
        n in 0u64..45,
        maximize in any::<bool>(),
    ) {
        let space = rich_space();
        let direction = if maximize { Direction::Maximize } else { Direction::Minimize };
        // run_study asserts every suggestion (random start, then TPE with pruned, failed and
        // running trials in the history) against the space.
        let tpe = TpeSampler::new();
        let h = run_study(&tpe, &space, direction, n, seed, &rich_objective, &mixed_states);
        prop_assert!(h.len() as u64 <= n);
        run_study(&RandomSampler::new(), &space, direction, n.min(10), seed, &rich_objective,
            &mixed_states);
        let indep = TpeSampler::new().with_multivariate(false).with_constant_liar(false);
        run_study(&indep, &space, direction, n, seed, &rich_objective, &mixed_states);
    }

    #[test]
    fn single_distribution_samples_in_bounds(
        low in -1e6f64..1e6,
        width in 1e-3f64..1e6,
        log in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let (low, high) = if log { (width * 1e-3, width * 1e-3 + width) } else { (low, low + width) };
        let space = SearchSpace { params: vec![spec("p", Distribution::Float { low, high, log, step: None })] };
        let h = run_study(&TpeSampler::new(), &space, Direction::Minimize, 14, seed,
            &|p| match p.get("p") { Some(ParamValue::Float(v)) => (v - low).abs(), _ => 0.0 },
            &|_| TrialState::Complete);
        prop_assert_eq!(h.len(), 14);
    }
}

#[test]
fn same_seed_same_suggestions() {
    let space = rich_space();
    for sampler in [
        &TpeSampler::new() as &dyn Sampler,
        &RandomSampler::new() as &dyn Sampler,
    ] {
        let a = run_study(
            sampler,
            &space,
            Direction::Minimize,
            30,
            7,
            &rich_objective,
            &mixed_states,
        );
        let b = run_study(
            sampler,
            &space,
            Direction::Minimize,
            30,
            7,
            &rich_objective,
            &mixed_states,
        );
        assert_eq!(a, b);
        let c = run_study(
            sampler,
            &space,
            Direction::Minimize,
            30,
            8,
            &rich_objective,
            &mixed_states,
        );
        assert_ne!(a, c);
    }
    // The history's order does not matter to TPE (it sorts by trial number).
    let h = run_study(
        &TpeSampler::new(),
        &space,
        Direction::Minimize,
        25,
        3,
        &rich_objective,
        &|_| TrialState::Complete,
    );
    let mut rev = h.clone();
    rev.reverse();
    let tpe = TpeSampler::new();
    assert_eq!(
        tpe.sample(&space, Direction::Minimize, &h, &[], 99)
            .unwrap(),
        tpe.sample(&space, Direction::Minimize, &rev, &[], 99)
            .unwrap()
    );
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

fn best_regret(h: &[FrozenTrial], optimum: f64) -> f64 {
    h.iter()
        .filter_map(|t| t.value)
        .fold(f64::INFINITY, f64::min)
        - optimum
}

#[test]
fn tpe_beats_random_on_branin() {
    let space = branin_space();
    let obj = |p: &Params| branin_params(p).unwrap();
    let mut tpe_regret = Vec::new();
    let mut rnd_regret = Vec::new();
    for seed in 0..10 {
        let h = run_study(
            &TpeSampler::new(),
            &space,
            Direction::Minimize,
            60,
            seed,
            &obj,
            &|_| TrialState::Complete,
        );
        tpe_regret.push(best_regret(&h, BRANIN_MIN));
        let h = run_study(
            &RandomSampler::new(),
            &space,
            Direction::Minimize,
            60,
            seed,
            &obj,
            &|_| TrialState::Complete,
        );
        rnd_regret.push(best_regret(&h, BRANIN_MIN));
    }
    let (t, r) = (median(tpe_regret), median(rnd_regret));
    eprintln!("median regret at 60 trials over 10 seeds: tpe {t:.4}, random {r:.4}");
    assert!(t < r, "tpe {t} vs random {r}");
}

#[test]
fn maximize_direction_is_respected() {
    let space = branin_space();
    let obj = |p: &Params| -branin_params(p).unwrap();
    let mut regrets = Vec::new();
    for seed in 0..5 {
        let h = run_study(
            &TpeSampler::new(),
            &space,
            Direction::Maximize,
            50,
            seed,
            &obj,
            &|_| TrialState::Complete,
        );
        let best = h
            .iter()
            .filter_map(|t| t.value)
            .fold(f64::NEG_INFINITY, f64::max);
        regrets.push(-best - BRANIN_MIN);
    }
    assert!(median(regrets) < 1.0);
}

#[test]
fn samplers_reject_bad_input() {
    let bad = SearchSpace {
        params: vec![spec(
            "lr",
            Distribution::Float {
                low: 0.0,
                high: 1.0,
                log: true,
                step: None,
            },
        )],
    };
    for s in [
        &TpeSampler::new() as &dyn Sampler,
        &RandomSampler::new() as &dyn Sampler,
    ] {
        match s.sample(&bad, Direction::Minimize, &[], &[], 0) {
            Err(Error::InvalidSpec { at, .. }) => assert_eq!(at, "space.lr"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            s.sample(&SearchSpace::default(), Direction::Minimize, &[], &[], 0),
            Err(Error::InvalidSpec { .. })
        ));
    }
    assert!(validate(&rich_space()).is_ok());
    // A complete trial without a value (or with NaN) is rejected, not silently used.
    let space = branin_space();
    let mut h = run_study(
        &RandomSampler::new(),
        &space,
        Direction::Minimize,
        12,
        1,
        &|p| branin_params(p).unwrap(),
        &|_| TrialState::Complete,
    );
    h[4].value = Some(f64::NAN);
    assert!(matches!(
        TpeSampler::new().sample(&space, Direction::Minimize, &h, &[], 0),
        Err(Error::InvalidInput { .. })
    ));
    h[4].value = None;
    assert!(TpeSampler::new()
        .sample(&space, Direction::Minimize, &h, &[], 0)
        .is_err());
    // Infinite values are legal and one complete trial among failures is fine.
    h[4].value = Some(f64::INFINITY);
    TpeSampler::new()
        .sample(&space, Direction::Minimize, &h, &[], 0)
        .unwrap();
    assert!(TpeSampler::new().with_n_ei_candidates(0).is_err());
}

#[test]
fn constant_liar_steers_away_from_running_trials() {
    // The two best trials sit at x = 0.1 and x = 0.9 and the others on a grid, leaving a gap
    // in g(x) around 0.58 where TPE then suggests; a crowd of running trials there fills the
    // gap with the liar, so fewer suggestions land there than without it.
    let space = SearchSpace {
        params: vec![spec(
            "x",
            Distribution::Float {
                low: 0.0,
                high: 1.0,
                log: false,
                step: None,
            },
        )],
    };
    let mut history = Vec::new();
    for k in 0..20u64 {
        let mut t = trial(k, TrialState::Complete);
        let x = match k {
            3 => 0.1,
            11 => 0.9,
            _ => (k as f64 + 0.5) / 20.0,
        };
        t.params.insert("x".into(), ParamValue::Float(x));
        t.value = Some(if k == 3 || k == 11 { 0.0 } else { 1.0 });
        history.push(t);
    }
    let running: Vec<FrozenTrial> = (0..30u64)
        .map(|k| {
            let mut t = trial(100 + k, TrialState::Running);
            t.params
                .insert("x".into(), ParamValue::Float(0.56 + 0.001 * k as f64));
            t
        })
        .collect();
    let near = |s: &TpeSampler| {
        (0..200u64)
            .filter(|seed| {
                let p = s
                    .sample(&space, Direction::Minimize, &history, &running, *seed)
                    .unwrap();
                matches!(p["x"], ParamValue::Float(x) if (x - 0.58).abs() < 0.05)
            })
            .count()
    };
    let with = near(&TpeSampler::new());
    let without = near(&TpeSampler::new().with_constant_liar(false));
    assert!(with * 2 < without, "with liar {with}, without {without}");
}
