//! The built-in steps: split, validate, fit the preprocessing, tune, train.
//!
//! [`Runner::with_builtins`] registers them all. Each reads CSV (or Parquet) tables through
//! [`crate::data`]; labels are binary (`0`/`1`).
//!
//! | kind | inputs | outputs | params |
//! |---|---|---|---|
//! | `split` | `data` | `train`, `holdout` (CSV) | `holdout_fraction` (0.2), `id_column` |
//! | `validate` | `data`, `schema`, `reference`? | `report` (JSON) | `fail_on` (`error`), `now` — see [`crate::validation`] |
//! | `fit_transform` | `train` | `transform` (`transform.json`) | a [`ChainSpec`]: `groups`, `verbose_feature_names` |
//! | `tune` | `train`, `transform`? | `best` (JSON params), `journal` | `trainer` (`logreg`\|`mlp`), `label`, `drop`, `n_trials` (20), `sampler` (`tpe`\|`random`), `validation_fraction` (0.25), `metric` (`log_loss`\|`roc_auc`), `space`, `fixed` |
//! | `train_logreg` | `train`, `transform`?, `params`? | `model` (a directory) | `label`, `drop`, and [`LogisticRegression`]'s options |
//! | `train_mlp` | `train`, `transform`?, `params`? | `model` | `label`, `drop`, and [`MlpSpec`]'s options |
//!
//! - Without a `transform` input, every feature column must be numeric.
//! - `drop` lists columns that are not features (row ids); the label is never one.
//! - A `params` input (the `best` output of a `tune` step) is merged over the step's params.
//! - The `model` directory holds `model.json` + `model.safetensors` (mlops-serve's feed-forward
//!   format) and, with a transform, a copy of `transform.json`: `mlops_serve::load_model_dir`
//!   serves it on raw columns.
//! - `tune`'s validation rows are drawn from `train` by the step's seed, never from the holdout
//!   the gate uses. Its journal is the crash-safe HPO journal; the trials' params and values
//!   are in it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use mlops_core::metrics;
use mlops_core::transform::{ChainSpec, TransformChain};
use serde_json::{Map, Value};

use crate::data;
use crate::error::{Error, Result};
use crate::hpo::study::{Study, StudySpec};
use crate::hpo::{Direction, Distribution, ParamSpec, SearchSpace, TpeSampler};
use crate::run::Runner;
use crate::step::{Step, StepContext, StepOutcome};
use crate::train::export::{save_logistic, save_mlp};
use crate::train::logreg::LogisticRegression;
use crate::train::mlp::MlpSpec;

/// Every built-in step.
pub fn all() -> Vec<Arc<dyn Step>> {
    vec![
        Arc::new(Split),
        Arc::new(crate::validation::Validate),
        Arc::new(FitTransform),
        Arc::new(Tune),
        Arc::new(Train {
            trainer: Trainer::Logreg,
        }),
        Arc::new(Train {
            trainer: Trainer::Mlp,
        }),
    ]
}

impl Runner {
    /// This runner with every built-in step of [`crate::builtin`].
    pub fn with_builtins(self) -> Self {
        all().into_iter().fold(self, Runner::with_step)
    }
}

pub(crate) fn input<'a>(ctx: &'a StepContext, name: &str) -> Result<&'a PathBuf> {
    ctx.inputs.get(name).ok_or_else(|| {
        Error::spec(
            format!("steps.{}.inputs.{name}", ctx.name),
            "is required by this step kind",
        )
    })
}

pub(crate) fn output<'a>(ctx: &'a StepContext, name: &str) -> Result<&'a PathBuf> {
    ctx.outputs.get(name).ok_or_else(|| {
        Error::spec(
            format!("steps.{}.outputs.{name}", ctx.name),
            "is required by this step kind",
        )
    })
}

pub(crate) fn params_obj(ctx: &StepContext) -> Result<Map<String, Value>> {
    match &ctx.params {
        Value::Object(m) => Ok(m.clone()),
        Value::Null => Ok(Map::new()),
        other => Err(Error::spec(
            format!("steps.{}.params", ctx.name),
            format!("is {other}, not a table"),
        )),
    }
}

pub(crate) fn take_str(
    m: &mut Map<String, Value>,
    ctx: &StepContext,
    key: &str,
) -> Result<Option<String>> {
    match m.remove(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(Error::spec(
            format!("steps.{}.params.{key}", ctx.name),
            format!("{other} is not a string"),
        )),
    }
}

fn take_f64(m: &mut Map<String, Value>, ctx: &StepContext, key: &str, default: f64) -> Result<f64> {
    match m.remove(key) {
        None => Ok(default),
        Some(v) => v.as_f64().ok_or_else(|| {
            Error::spec(
                format!("steps.{}.params.{key}", ctx.name),
                format!("{v} is not a number"),
            )
        }),
    }
}

fn take_strings(m: &mut Map<String, Value>, ctx: &StepContext, key: &str) -> Result<Vec<String>> {
    match m.remove(key) {
        None => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s),
                other => Err(Error::spec(
                    format!("steps.{}.params.{key}", ctx.name),
                    format!("{other} is not a string"),
                )),
            })
            .collect(),
        Some(other) => Err(Error::spec(
            format!("steps.{}.params.{key}", ctx.name),
            format!("{other} is not a list of column names"),
        )),
    }
}

pub(crate) fn no_more(m: &Map<String, Value>, ctx: &StepContext, known: &str) -> Result<()> {
    match m.keys().next() {
        None => Ok(()),
        Some(k) => Err(Error::spec(
            format!("steps.{}.params.{k}", ctx.name),
            format!("unknown param (known: {known})"),
        )),
    }
}

pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    crate::trigger::write_atomic(path, bytes)
}

/// `split`: a per-row, seeded holdout split ([`data::split_csv`]).
#[derive(Debug)]
struct Split;

impl Step for Split {
    fn kind(&self) -> &str {
        "split"
    }
    fn version(&self) -> &str {
        "1"
    }
    fn run(&self, ctx: &StepContext) -> Result<StepOutcome> {
        let mut p = params_obj(ctx)?;
        let fraction = take_f64(&mut p, ctx, "holdout_fraction", 0.2)?;
        let id = take_str(&mut p, ctx, "id_column")?;
        no_more(&p, ctx, "holdout_fraction, id_column")?;
        let counts = data::split_csv(
            input(ctx, "data")?,
            output(ctx, "train")?,
            output(ctx, "holdout")?,
            fraction,
            ctx.seed,
            id.as_deref(),
        )?;
        let mut metrics = BTreeMap::new();
        metrics.insert("rows_train".into(), counts.train as f64);
        metrics.insert("rows_holdout".into(), counts.holdout as f64);
        Ok(StepOutcome { metrics })
    }
}

/// `fit_transform`: fits a [`TransformChain`] on the training table.
#[derive(Debug)]
struct FitTransform;

impl Step for FitTransform {
    fn kind(&self) -> &str {
        "fit_transform"
    }
    fn version(&self) -> &str {
        "1"
    }
    fn run(&self, ctx: &StepContext) -> Result<StepOutcome> {
        let spec: ChainSpec = serde_json::from_value(ctx.params.clone()).map_err(|e| {
            Error::spec(
                format!("steps.{}.params", ctx.name),
                format!("not a transform chain (groups = [{{name, columns, steps}}]): {e}"),
            )
        })?;
        let table = data::read(input(ctx, "train")?)?;
        let frame = data::to_frame(&table)?;
        let chain = TransformChain::fit(&spec, &frame)?;
        write_file(output(ctx, "transform")?, chain.to_json()?.as_bytes())?;
        let mut metrics = BTreeMap::new();
        metrics.insert("n_features_out".into(), chain.feature_names().len() as f64);
        metrics.insert("rows".into(), frame.n_rows() as f64);
        Ok(StepOutcome { metrics })
    }
}

/// The built-in trainers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trainer {
    Logreg,
    Mlp,
}

impl Trainer {
    fn parse(s: &str, at: &str) -> Result<Self> {
        match s {
            "logreg" => Ok(Trainer::Logreg),
            "mlp" => Ok(Trainer::Mlp),
            other => Err(Error::spec(
                at,
                format!("unknown trainer {other:?} (logreg, mlp)"),
            )),
        }
    }
}

/// Features and binary labels of a table, through the chain when there is one.
struct Xy {
    x: Vec<f64>,
    n_features: usize,
    y: Vec<i64>,
    feature_names: Vec<String>,
}

fn features(
    table: &mlops_drift::io::Table,
    label: &str,
    drop: &[String],
    chain: Option<&TransformChain>,
) -> Result<Xy> {
    let y: Vec<i64> = data::binary_labels(table, label)?
        .into_iter()
        .map(|v| v as i64)
        .collect();
    let mut skip: Vec<&str> = vec![label];
    skip.extend(drop.iter().map(String::as_str));
    let frame = data::without(&data::to_frame(table)?, &skip)?;
    Ok(match chain {
        Some(c) => {
            let t = c.transform(&frame)?;
            Xy {
                n_features: t.n_cols(),
                x: t.data,
                y,
                feature_names: t.feature_names,
            }
        }
        None => {
            let (x, k, names) = data::numeric_matrix(&frame)?;
            Xy {
                x,
                n_features: k,
                y,
                feature_names: names,
            }
        }
    })
}

fn load_chain(ctx: &StepContext) -> Result<Option<TransformChain>> {
    match ctx.inputs.get("transform") {
        None => Ok(None),
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| Error::io(p, e))?;
            Ok(Some(TransformChain::from_json(&text)?))
        }
    }
}

/// A fitted built-in model, enough to score and save it.
enum Fitted {
    Logreg(crate::train::logreg::LogisticModel),
    Mlp(crate::train::mlp::MlpModel),
}

impl Fitted {
    fn proba1(&self, x: &[f64]) -> Result<Vec<f64>> {
        let p = match self {
            Fitted::Logreg(m) => m.predict_proba(x)?,
            Fitted::Mlp(m) => m.predict_proba(x)?,
        };
        Ok(p.chunks(2)
            .map(|r| r.get(1).copied().unwrap_or(f64::NAN))
            .collect())
    }
}

/// Trainer options from a JSON object (the step's params without the reserved keys, the
/// tuned params merged over them). `hidden` may be an integer (one hidden layer).
fn fit(
    trainer: Trainer,
    opts: &Map<String, Value>,
    seed: u64,
    xy: &Xy,
    at: &str,
) -> Result<Fitted> {
    match trainer {
        Trainer::Logreg => {
            check_keys(opts, &LogisticRegression::default(), at)?;
            let lr: LogisticRegression = serde_json::from_value(Value::Object(opts.clone()))
                .map_err(|e| Error::spec(at, format!("logistic regression options: {e}")))?;
            Ok(Fitted::Logreg(lr.fit(&xy.x, xy.n_features, &xy.y)?))
        }
        Trainer::Mlp => {
            let mut o = opts.clone();
            if let Some(Value::Number(n)) = o.get("hidden").cloned() {
                o.insert("hidden".into(), Value::Array(vec![Value::Number(n)]));
            }
            if !o.contains_key("seed") {
                o.insert("seed".into(), Value::from(seed));
            }
            check_keys(&o, &MlpSpec::default(), at)?;
            let spec: MlpSpec = serde_json::from_value(Value::Object(o))
                .map_err(|e| Error::spec(at, format!("MLP options: {e}")))?;
            Ok(Fitted::Mlp(spec.fit_classifier(
                &xy.x,
                xy.n_features,
                &xy.y,
            )?))
        }
    }
}

fn check_keys<T: serde::Serialize>(opts: &Map<String, Value>, default: &T, at: &str) -> Result<()> {
    let known = match serde_json::to_value(default) {
        Ok(Value::Object(m)) => m,
        _ => return Ok(()),
    };
    for k in opts.keys() {
        if !known.contains_key(k) {
            let names: Vec<&String> = known.keys().collect();
            return Err(Error::spec(
                format!("{at}.{k}"),
                format!("unknown option (known: {names:?})"),
            ));
        }
    }
    Ok(())
}

/// `train_logreg` / `train_mlp`.
#[derive(Debug)]
struct Train {
    trainer: Trainer,
}

impl Step for Train {
    fn kind(&self) -> &str {
        match self.trainer {
            Trainer::Logreg => "train_logreg",
            Trainer::Mlp => "train_mlp",
        }
    }
    fn version(&self) -> &str {
        "1"
    }
    fn run(&self, ctx: &StepContext) -> Result<StepOutcome> {
        let at = format!("steps.{}.params", ctx.name);
        let mut p = params_obj(ctx)?;
        let label = take_str(&mut p, ctx, "label")?.unwrap_or_else(|| "label".into());
        let drop = take_strings(&mut p, ctx, "drop")?;
        if let Some(path) = ctx.inputs.get("params") {
            let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
            let tuned: Map<String, Value> =
                serde_json::from_str(&text).map_err(|source| Error::Json {
                    what: format!("{}", path.display()),
                    source,
                })?;
            p.extend(tuned);
        }
        let chain = load_chain(ctx)?;
        let table = data::read(input(ctx, "train")?)?;
        let xy = features(&table, &label, &drop, chain.as_ref())?;
        let model = fit(self.trainer, &p, ctx.seed, &xy, &at)?;
        let dir = output(ctx, "model")?;
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let (spec, weights) = (dir.join("model.json"), dir.join("model.safetensors"));
        match &model {
            Fitted::Logreg(m) => save_logistic(m, &spec, &weights)?,
            Fitted::Mlp(m) => save_mlp(m, &spec, &weights)?,
        };
        if let Some(c) = &chain {
            write_file(&dir.join("transform.json"), c.to_json()?.as_bytes())?;
        }
        let truth: Vec<bool> = xy.y.iter().map(|&v| v == 1).collect();
        let proba = model.proba1(&xy.x)?;
        let mut metrics = BTreeMap::new();
        metrics.insert(
            "train_log_loss".into(),
            metrics::log_loss_binary(&truth, &proba)?,
        );
        metrics.insert("n_features".into(), xy.n_features as f64);
        metrics.insert("rows".into(), xy.y.len() as f64);
        if let Fitted::Logreg(m) = &model {
            metrics.insert("n_iter".into(), m.n_iter() as f64);
        }
        tracing::debug!(features = ?xy.feature_names, "trained");
        Ok(StepOutcome { metrics })
    }
}

/// `tune`: an HPO study over a built-in trainer, on a validation split of `train`.
#[derive(Debug)]
struct Tune;

fn space_from(value: Option<Value>, at: &str) -> Result<SearchSpace> {
    let bad = |k: &str, e: String| Error::spec(format!("{at}.space.{k}"), e);
    match value {
        None => Err(Error::spec(format!("{at}.space"), "is required")),
        Some(Value::Array(list)) => {
            let params: Vec<ParamSpec> =
                serde_json::from_value(Value::Array(list)).map_err(|e| bad("", e.to_string()))?;
            Ok(SearchSpace { params })
        }
        Some(Value::Object(m)) => {
            let mut params = Vec::new();
            for (name, v) in m {
                let Value::Object(mut d) = v else {
                    return Err(bad(&name, "is not a table {type, low, high, …}".into()));
                };
                let condition = match d.remove("condition") {
                    None => None,
                    Some(c) => {
                        Some(serde_json::from_value(c).map_err(|e| bad(&name, e.to_string()))?)
                    }
                };
                let distribution: Distribution = serde_json::from_value(Value::Object(d))
                    .map_err(|e| bad(&name, e.to_string()))?;
                params.push(ParamSpec {
                    name,
                    distribution,
                    condition,
                });
            }
            Ok(SearchSpace { params })
        }
        Some(other) => Err(Error::spec(
            format!("{at}.space"),
            format!("{other} is not a table of parameters"),
        )),
    }
}

impl Step for Tune {
    fn kind(&self) -> &str {
        "tune"
    }
    fn version(&self) -> &str {
        "1"
    }
    fn run(&self, ctx: &StepContext) -> Result<StepOutcome> {
        let at = format!("steps.{}.params", ctx.name);
        let mut p = params_obj(ctx)?;
        let trainer = Trainer::parse(
            &take_str(&mut p, ctx, "trainer")?.unwrap_or_else(|| "logreg".into()),
            &format!("{at}.trainer"),
        )?;
        let label = take_str(&mut p, ctx, "label")?.unwrap_or_else(|| "label".into());
        let drop = take_strings(&mut p, ctx, "drop")?;
        let n_trials = take_f64(&mut p, ctx, "n_trials", 20.0)?;
        if !(n_trials >= 1.0 && n_trials.fract() == 0.0 && n_trials <= 1e6) {
            return Err(Error::spec(
                format!("{at}.n_trials"),
                format!("{n_trials} is not a count ≥ 1"),
            ));
        }
        let sampler = take_str(&mut p, ctx, "sampler")?.unwrap_or_else(|| "tpe".into());
        let vf = take_f64(&mut p, ctx, "validation_fraction", 0.25)?;
        if !(vf > 0.0 && vf < 1.0) {
            return Err(Error::spec(
                format!("{at}.validation_fraction"),
                format!("{vf} is not in (0, 1)"),
            ));
        }
        let metric = take_str(&mut p, ctx, "metric")?.unwrap_or_else(|| "log_loss".into());
        let direction = match metric.as_str() {
            "log_loss" => Direction::Minimize,
            "roc_auc" => Direction::Maximize,
            other => {
                return Err(Error::spec(
                    format!("{at}.metric"),
                    format!("unknown metric {other:?} (log_loss, roc_auc)"),
                ))
            }
        };
        let space = space_from(p.remove("space"), &at)?;
        let fixed = match p.remove("fixed") {
            None => Map::new(),
            Some(Value::Object(m)) => m,
            Some(other) => {
                return Err(Error::spec(
                    format!("{at}.fixed"),
                    format!("{other} is not a table"),
                ))
            }
        };
        no_more(
            &p,
            ctx,
            "trainer, label, drop, n_trials, sampler, validation_fraction, metric, space, fixed",
        )?;

        let chain = load_chain(ctx)?;
        let table = data::read(input(ctx, "train")?)?;
        let xy = features(&table, &label, &drop, chain.as_ref())?;
        // A seeded per-row validation split of the training rows.
        let (fit_xy, val_xy) = split_rows(&xy, vf, ctx.seed)?;
        let val_truth: Vec<bool> = val_xy.y.iter().map(|&v| v == 1).collect();

        let mut spec = StudySpec::new(ctx.name.clone(), space);
        spec.direction = direction;
        spec.seed = ctx.seed;
        spec.sampler = sampler.clone();
        let journal = output(ctx, "journal")?;
        if let Some(dir) = journal.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let mut study = Study::open_or_create(journal, spec)?;
        match sampler.as_str() {
            "tpe" => study = study.with_sampler(Arc::new(TpeSampler::default())),
            "random" => {}
            other => {
                return Err(Error::spec(
                    format!("{at}.sampler"),
                    format!("unknown sampler {other:?} (tpe, random)"),
                ))
            }
        }
        let objective = |t: &crate::hpo::study::TrialCtx<'_>| -> Result<f64> {
            let mut opts = fixed.clone();
            for (k, v) in t.params() {
                opts.insert(k.clone(), param_json(v));
            }
            let model = fit(trainer, &opts, t.seed(), &fit_xy, &at)?;
            let proba = model.proba1(&val_xy.x)?;
            Ok(match direction {
                Direction::Minimize => metrics::log_loss_binary(&val_truth, &proba)?,
                Direction::Maximize => metrics::roc_auc(&val_truth, &proba)?,
            })
        };
        study.run(&objective, n_trials as u64, 1)?;
        let best = study.best()?;
        let mut out = fixed.clone();
        for (k, v) in &best.params {
            out.insert(k.clone(), param_json(v));
        }
        let text =
            serde_json::to_string_pretty(&Value::Object(out)).map_err(|source| Error::Json {
                what: "best params".into(),
                source,
            })?;
        write_file(output(ctx, "best")?, text.as_bytes())?;
        let mut metrics = BTreeMap::new();
        metrics.insert(format!("best_{metric}"), best.value.unwrap_or(f64::NAN));
        metrics.insert("best_trial".into(), best.number as f64);
        metrics.insert("n_trials".into(), study.trials().len() as f64);
        Ok(StepOutcome { metrics })
    }
}

fn param_json(v: &crate::hpo::ParamValue) -> Value {
    match v {
        crate::hpo::ParamValue::Int(i) => Value::from(*i),
        crate::hpo::ParamValue::Float(f) => Value::from(*f),
        crate::hpo::ParamValue::Str(s) => Value::from(s.clone()),
    }
}

fn split_rows(xy: &Xy, fraction: f64, seed: u64) -> Result<(Xy, Xy)> {
    use sha2::{Digest, Sha256};
    let k = xy.n_features;
    let mut a = Xy {
        x: Vec::new(),
        n_features: k,
        y: Vec::new(),
        feature_names: xy.feature_names.clone(),
    };
    let mut b = Xy {
        x: Vec::new(),
        n_features: k,
        y: Vec::new(),
        feature_names: xy.feature_names.clone(),
    };
    for (i, &label) in xy.y.iter().enumerate() {
        let mut h = Sha256::new();
        h.update(b"validation");
        h.update(seed.to_le_bytes());
        h.update((i as u64).to_le_bytes());
        let d = h.finalize();
        let u = f64::from(d[0]) / 256.0 + f64::from(d[1]) / 65536.0;
        let dst = if u < fraction { &mut b } else { &mut a };
        dst.x.extend_from_slice(&xy.x[i * k..(i + 1) * k]);
        dst.y.push(label);
    }
    if a.y.len() < 2 || b.y.len() < 2 {
        return Err(Error::invalid(
            "validation_fraction",
            format!(
                "{} training rows split into {} fit and {} validation rows",
                xy.y.len(),
                a.y.len(),
                b.y.len()
            ),
        ));
    }
    Ok((a, b))
}
