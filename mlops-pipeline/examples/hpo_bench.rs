//! Our TPE and random search on Branin, Hartmann-6 and a small-MLP objective: best-so-far
//! values at half and all of the trials over several seeds, and the per-trial overhead of a
//! 1000-trial study with a cheap objective. Prints one JSON object, the same shape as
//! `tools/reference/optuna_bench.py`.
//!
//! `cargo run --release -p mlops-pipeline --example hpo_bench -- [--seeds 20] [--trials 100]
//! [--overhead-trials 1000] [--problems branin,hartmann6,mlp]`
//!
//! `… --example hpo_bench -- --serve-mlp` instead evaluates the MLP objective for another
//! process (Optuna in `tools/reference/optuna_bench.py`), so that both samplers optimise the
//! identical function: one JSON object of params per stdin line
//! (`{"lr": 0.001, "weight_decay": 1e-5, "hidden": 16, "activation": "relu"}`), one JSON
//! object per stdout line: `{"value": v, "params": <the params as parsed>}` or
//! `{"error": "…"}`.
//!
//! The MLP objective ([`MlpObjective`]): the validation log loss of a one-hidden-layer MLP
//! (`mlops_pipeline::train::MlpSpec`, seed 0, [`MLP_EPOCHS`] epochs of batches of
//! [`MLP_BATCH`]) on a fixed synthetic 2-class problem (6 standard-normal features, a noisy
//! non-linear boundary, 500 train and 500 validation rows, drawn from ChaCha8 seeded with
//! [`MLP_DATA_SEED`]). Hyperparameters: `lr` log-uniform in [1e-4, 1e-1], `weight_decay`
//! log-uniform in [1e-6, 1e-1], `hidden` int log-uniform in [2, 64], `activation` in
//! {relu, tanh}. Its optimum is unknown: regret is taken against the best value any run found
//! (tools/bench/hpo_vs_optuna.sh does that), so this example reports best values, not regret.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::time::Instant;

use anyhow::{anyhow, bail, Context};
use mlops_pipeline::hpo::objectives::{
    branin_params, branin_space, hartmann6_params, hartmann6_space, BRANIN_MIN, HARTMANN6_MIN,
};
use mlops_pipeline::hpo::{
    Direction, Distribution, FrozenTrial, ParamSpec, ParamValue, Params, RandomSampler, Sampler,
    SearchSpace, TpeSampler, TrialState,
};
use mlops_pipeline::train::{MlpActivation, MlpSpec};
use rand::RngCore;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::json;

type Objective<'a> = &'a dyn Fn(&Params) -> anyhow::Result<f64>;

/// Seed of the ChaCha8 stream that draws the MLP problem's data.
const MLP_DATA_SEED: u64 = 20_261_203;
/// Features of the MLP problem (the label depends on the first four).
const MLP_FEATURES: usize = 6;
/// Training rows; as many validation rows follow them in the stream.
const MLP_ROWS: usize = 500;
/// Epochs per evaluation.
const MLP_EPOCHS: usize = 20;
/// Batch size per gradient step.
const MLP_BATCH: usize = 50;
/// Probabilities are clipped to `[EPS, 1 − EPS]` before the log (a saturated wrong answer
/// costs `−ln EPS ≈ 34.5`, not infinity).
const EPS: f64 = 1e-15;

/// The MLP objective's fixed data.
struct MlpObjective {
    x_train: Vec<f64>,
    y_train: Vec<i64>,
    x_val: Vec<f64>,
    y_val: Vec<i64>,
}

/// A uniform in `[0, 1)` from the top 53 bits of one draw (no `rand` distribution code, so the
/// data do not change with a `rand` upgrade).
fn uniform(rng: &mut ChaCha8Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A standard normal by Box–Muller (`1 − u` keeps the log finite).
fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1 = 1.0 - uniform(rng);
    let u2 = uniform(rng);
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

impl MlpObjective {
    /// Draws the data: per row, `MLP_FEATURES` standard normals `x`, then one normal `e`;
    /// the label is `1.5·sin(2·x0) + x1·x2 + 0.5·(x3² − 1) + 0.5·e > 0`. `x4`, `x5` are noise.
    fn new() -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(MLP_DATA_SEED);
        let mut x = Vec::with_capacity(2 * MLP_ROWS * MLP_FEATURES);
        let mut y = Vec::with_capacity(2 * MLP_ROWS);
        for _ in 0..2 * MLP_ROWS {
            let row: Vec<f64> = (0..MLP_FEATURES).map(|_| normal(&mut rng)).collect();
            let e = normal(&mut rng);
            let f = 1.5 * (2.0 * row[0]).sin() + row[1] * row[2] + 0.5 * (row[3] * row[3] - 1.0);
            y.push(i64::from(f + 0.5 * e > 0.0));
            x.extend_from_slice(&row);
        }
        let x_val = x.split_off(MLP_ROWS * MLP_FEATURES);
        let y_val = y.split_off(MLP_ROWS);
        Self {
            x_train: x,
            y_train: y,
            x_val,
            y_val,
        }
    }

    fn space() -> SearchSpace {
        let spec = |name: &str, distribution| ParamSpec {
            name: name.into(),
            distribution,
            condition: None,
        };
        SearchSpace {
            params: vec![
                spec(
                    "lr",
                    Distribution::Float {
                        low: 1e-4,
                        high: 1e-1,
                        log: true,
                        step: None,
                    },
                ),
                spec(
                    "weight_decay",
                    Distribution::Float {
                        low: 1e-6,
                        high: 1e-1,
                        log: true,
                        step: None,
                    },
                ),
                spec(
                    "hidden",
                    Distribution::Int {
                        low: 2,
                        high: 64,
                        log: true,
                        step: 1,
                    },
                ),
                spec(
                    "activation",
                    Distribution::Categorical {
                        choices: vec!["relu".into(), "tanh".into()],
                    },
                ),
            ],
        }
    }

    /// The validation log loss (mean `−ln p(true class)`, `p` clipped to `[EPS, 1 − EPS]`)
    /// after training with `params`.
    fn eval(&self, params: &Params) -> anyhow::Result<f64> {
        let float = |name: &str| match params.get(name) {
            Some(ParamValue::Float(v)) if v.is_finite() && *v > 0.0 => Ok(*v),
            other => Err(anyhow!(
                "{name}: expected a finite float > 0, got {other:?}"
            )),
        };
        let lr = float("lr")?;
        let weight_decay = float("weight_decay")?;
        let hidden = match params.get("hidden") {
            Some(ParamValue::Int(h)) if (1..=4096).contains(h) => *h as usize,
            other => bail!("hidden: expected an int in [1, 4096], got {other:?}"),
        };
        let activation = match params.get("activation") {
            Some(ParamValue::Str(s)) if s == "relu" => MlpActivation::Relu,
            Some(ParamValue::Str(s)) if s == "tanh" => MlpActivation::Tanh,
            other => bail!("activation: expected \"relu\" or \"tanh\", got {other:?}"),
        };
        let spec = MlpSpec {
            hidden: vec![hidden],
            activation,
            lr,
            epochs: MLP_EPOCHS,
            batch_size: MLP_BATCH,
            weight_decay,
            seed: 0,
        };
        let model = spec.fit_classifier(&self.x_train, MLP_FEATURES, &self.y_train)?;
        let proba = model.predict_proba(&self.x_val)?;
        let loss: f64 = proba
            .chunks(2)
            .zip(&self.y_val)
            .map(|(p, &y)| -p[y as usize].clamp(EPS, 1.0 - EPS).ln())
            .sum();
        Ok(loss / self.y_val.len() as f64)
    }
}

/// `--serve-mlp`: evaluate params read from stdin, one JSON object per line.
fn serve_mlp() -> anyhow::Result<()> {
    let objective = MlpObjective::new();
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let reply = match serde_json::from_str::<Params>(&line)
            .context("params line")
            .and_then(|p| objective.eval(&p).map(|v| (p, v)))
        {
            Ok((p, v)) => json!({ "value": v, "params": p }),
            Err(e) => json!({ "error": format!("{e:#}") }),
        };
        writeln!(stdout, "{reply}")?;
        stdout.flush()?;
    }
    Ok(())
}

/// A sequential study; trial `k` is sampled with seed `seed·1_000_003 + k`. Returns the trials.
fn study(
    sampler: &dyn Sampler,
    space: &SearchSpace,
    objective: Objective,
    n: u64,
    seed: u64,
) -> anyhow::Result<Vec<FrozenTrial>> {
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
    Ok(history)
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

/// The trial with the smallest value among `trials`.
fn best(trials: &[FrozenTrial]) -> Option<&FrozenTrial> {
    trials.iter().filter(|t| t.value.is_some()).min_by(|a, b| {
        a.value
            .unwrap_or(f64::INFINITY)
            .total_cmp(&b.value.unwrap_or(f64::INFINITY))
    })
}

fn best_value(trials: &[FrozenTrial]) -> f64 {
    best(trials).and_then(|t| t.value).unwrap_or(f64::INFINITY)
}

fn arg(args: &[String], name: &str, default: u64) -> anyhow::Result<u64> {
    match args.iter().position(|a| a == name) {
        Some(i) => Ok(args
            .get(i + 1)
            .ok_or_else(|| anyhow!("{name} needs a value"))?
            .parse()?),
        None => Ok(default),
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--serve-mlp") {
        return serve_mlp();
    }
    let seeds = arg(&args, "--seeds", 20)?;
    let trials = arg(&args, "--trials", 100)?;
    let overhead_trials = arg(&args, "--overhead-trials", 1000)?;
    let wanted: Vec<String> = match args.iter().position(|a| a == "--problems") {
        Some(i) => args
            .get(i + 1)
            .ok_or_else(|| anyhow!("--problems needs a value"))?
            .split(',')
            .map(str::to_owned)
            .collect(),
        None => vec!["branin".into(), "hartmann6".into(), "mlp".into()],
    };
    if let Some(w) = wanted
        .iter()
        .find(|w| !["branin", "hartmann6", "mlp"].contains(&w.as_str()))
    {
        bail!("unknown problem {w:?} (known: branin, hartmann6, mlp)");
    }
    let tpe = TpeSampler::new();
    let random = RandomSampler::new();
    let mlp = MlpObjective::new();
    let mlp_eval = |p: &Params| mlp.eval(p);
    let branin = |p: &Params| Ok(branin_params(p)?);
    let hartmann6 = |p: &Params| Ok(hartmann6_params(p)?);
    // (name, space, objective, known optimum)
    let problems: [(&str, SearchSpace, Objective, Option<f64>); 3] = [
        ("branin", branin_space(), &branin, Some(BRANIN_MIN)),
        (
            "hartmann6",
            hartmann6_space(),
            &hartmann6,
            Some(HARTMANN6_MIN),
        ),
        ("mlp", MlpObjective::space(), &mlp_eval, None),
    ];
    let mut out = serde_json::Map::new();
    let mut mlp_seconds = (0.0, 0u64);
    for (name, space, objective, optimum) in problems {
        if !wanted.iter().any(|w| w == name) {
            continue;
        }
        let mut per_sampler = serde_json::Map::new();
        for (label, sampler) in [("tpe", &tpe as &dyn Sampler), ("random", &random)] {
            let (mut half, mut end) = (Vec::new(), Vec::new());
            let mut overall: Option<FrozenTrial> = None;
            for seed in 0..seeds {
                let t0 = Instant::now();
                let hist = study(sampler, &space, objective, trials, seed)?;
                if optimum.is_none() {
                    mlp_seconds.0 += t0.elapsed().as_secs_f64();
                    mlp_seconds.1 += trials;
                }
                half.push(best_value(&hist[..(trials / 2) as usize]));
                end.push(best_value(&hist));
                if let Some(b) = best(&hist) {
                    if overall.as_ref().is_none_or(|o| b.value < o.value) {
                        overall = Some(b.clone());
                    }
                }
            }
            let entry = match optimum {
                Some(opt) => {
                    let half: Vec<f64> = half.iter().map(|v| v - opt).collect();
                    let end: Vec<f64> = end.iter().map(|v| v - opt).collect();
                    json!({
                        "regret_at_half": half,
                        "regret_at_end": end,
                        "median_regret_at_half": median(&half),
                        "median_regret_at_end": median(&end),
                    })
                }
                None => json!({
                    "best_at_half": half,
                    "best_at_end": end,
                    "median_best_at_half": median(&half),
                    "median_best_at_end": median(&end),
                    "best_value": overall.as_ref().and_then(|t| t.value),
                    "best_params": overall.as_ref().map(|t| &t.params),
                }),
            };
            per_sampler.insert(label.into(), entry);
        }
        out.insert(name.into(), serde_json::Value::Object(per_sampler));
    }
    let mut report = json!({
        "tool": "mlops-pipeline",
        "profile": if cfg!(debug_assertions) { "debug" } else { "release" },
        "seeds": seeds,
        "trials": trials,
        "problems": out,
    });
    if mlp_seconds.1 > 0 {
        report["mlp_seconds_per_trial"] = json!(mlp_seconds.0 / mlp_seconds.1 as f64);
    }
    if overhead_trials > 0 {
        let t0 = Instant::now();
        study(&tpe, &branin_space(), &branin, overhead_trials, 0)?;
        let dt = t0.elapsed().as_secs_f64();
        report["overhead"] = json!({
            "problem": "branin",
            "trials": overhead_trials,
            "seconds_per_trial": dt / overhead_trials as f64,
        });
    }
    println!("{report}");
    Ok(())
}
