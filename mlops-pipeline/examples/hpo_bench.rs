//! Our TPE and random search on Branin and Hartmann-6: best-so-far regret at half and all of
//! the trials over several seeds, and the per-trial overhead of a 1000-trial study with a cheap
//! objective. Prints one JSON object, the same shape as `tools/reference/optuna_bench.py`.
//!
//! `cargo run --release -p mlops-pipeline --example hpo_bench -- [--seeds 20] [--trials 100]
//! [--overhead-trials 1000]`

use std::collections::BTreeMap;
use std::time::Instant;

use mlops_pipeline::hpo::objectives::{
    branin_params, branin_space, hartmann6_params, hartmann6_space, BRANIN_MIN, HARTMANN6_MIN,
};
use mlops_pipeline::hpo::{
    Direction, FrozenTrial, Params, RandomSampler, Sampler, SearchSpace, TpeSampler, TrialState,
};
use serde_json::json;

type Objective = fn(&Params) -> mlops_pipeline::Result<f64>;

/// A sequential study; trial `k` is sampled with seed `seed·1_000_003 + k`. Returns the values.
fn study(
    sampler: &dyn Sampler,
    space: &SearchSpace,
    objective: Objective,
    n: u64,
    seed: u64,
) -> anyhow::Result<Vec<f64>> {
    let mut history: Vec<FrozenTrial> = Vec::with_capacity(n as usize);
    for k in 0..n {
        let s = seed.wrapping_mul(1_000_003).wrapping_add(k);
        let params = sampler.sample(space, Direction::Minimize, &history, &[], s)?;
        let v = objective(&params)?;
        history.push(FrozenTrial {
            number: k,
            state: TrialState::Complete,
            params,
            value: Some(v),
            intermediate: BTreeMap::new(),
            seed: s,
        });
    }
    Ok(history.iter().filter_map(|t| t.value).collect())
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

fn best(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::INFINITY, f64::min)
}

fn arg(args: &[String], name: &str, default: u64) -> anyhow::Result<u64> {
    match args.iter().position(|a| a == name) {
        Some(i) => Ok(args
            .get(i + 1)
            .ok_or_else(|| anyhow::anyhow!("{name} needs a value"))?
            .parse()?),
        None => Ok(default),
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let seeds = arg(&args, "--seeds", 20)?;
    let trials = arg(&args, "--trials", 100)?;
    let overhead_trials = arg(&args, "--overhead-trials", 1000)?;
    let tpe = TpeSampler::new();
    let random = RandomSampler::new();
    let problems: [(&str, SearchSpace, Objective, f64); 2] = [
        ("branin", branin_space(), branin_params, BRANIN_MIN),
        (
            "hartmann6",
            hartmann6_space(),
            hartmann6_params,
            HARTMANN6_MIN,
        ),
    ];
    let mut out = serde_json::Map::new();
    for (name, space, objective, optimum) in problems {
        let mut per_sampler = serde_json::Map::new();
        for (label, sampler) in [("tpe", &tpe as &dyn Sampler), ("random", &random)] {
            let (mut half, mut end) = (Vec::new(), Vec::new());
            for seed in 0..seeds {
                let vals = study(sampler, &space, objective, trials, seed)?;
                half.push(best(&vals[..(trials / 2) as usize]) - optimum);
                end.push(best(&vals) - optimum);
            }
            per_sampler.insert(
                label.into(),
                json!({
                    "regret_at_half": half,
                    "regret_at_end": end,
                    "median_regret_at_half": median(&half),
                    "median_regret_at_end": median(&end),
                }),
            );
        }
        out.insert(name.into(), serde_json::Value::Object(per_sampler));
    }
    let t0 = Instant::now();
    study(&tpe, &branin_space(), branin_params, overhead_trials, 0)?;
    let dt = t0.elapsed().as_secs_f64();
    let report = json!({
        "tool": "mlops-pipeline",
        "profile": if cfg!(debug_assertions) { "debug" } else { "release" },
        "seeds": seeds,
        "trials": trials,
        "problems": out,
        "overhead": {
            "problem": "branin",
            "trials": overhead_trials,
            "seconds_per_trial": dt / overhead_trials.max(1) as f64,
        },
    });
    println!("{report}");
    Ok(())
}
