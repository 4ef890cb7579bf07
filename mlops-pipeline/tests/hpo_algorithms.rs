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
    TrialState,
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
    assert!(checked > 4000 && pruned > 150, "{checked} decisions, {pruned} prunes");
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
    assert!(!MedianPruner::new(1, 0, 1, 1)
        .unwrap()
        .should_prune(Direction::Minimize, &late, 7, &history));
    // All-NaN values are pruned, as in Optuna.
    let mut nan = trial(12, TrialState::Running);
    nan.intermediate.insert(0, f64::NAN);
    assert!(MedianPruner::new(1, 0, 1, 1)
        .unwrap()
        .should_prune(Direction::Minimize, &nan, 0, &history));
}
