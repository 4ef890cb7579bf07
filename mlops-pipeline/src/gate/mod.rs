//! The evaluation gate: may a candidate model replace the champion?
//!
//! Both models are scored on the *same* held-out rows ([`EvalInput`]); the gate computes each
//! metric of the [`GateSpec`] by name ([`GateMetric`], from [`mlops_core::metrics`]) for both,
//! checks MLflow-style thresholds on the whole set and on each segment (TFX's slices), and can
//! bootstrap the difference of one metric. The [`GateReport`] is the "blessing" stored on the
//! registered version: it names every failure with its numbers.
//!
//! - [`threshold`]: one metric's [`MetricThreshold`] (MLflow's), checked criterion by criterion;
//!   the module doc lists where we deliberately differ from MLflow.
//! - [`bootstrap`]: the paired percentile bootstrap and a numpy-equal percentile.
//! - [`report`]: [`GateReport`] and its parts.
//!
//! ```
//! use std::collections::BTreeMap;
//! use mlops_pipeline::gate::{evaluate, EvalInput, GateSpec, MetricThreshold};
//!
//! let mut metrics = BTreeMap::new();
//! metrics.insert("accuracy".to_owned(), MetricThreshold::new(true).with_threshold(0.7)
//!     .with_min_absolute_change(0.1));
//! let spec = GateSpec::new(metrics);
//! let y = vec![1.0, 0.0, 1.0, 1.0, 0.0];
//! let candidate = EvalInput::new(y.clone(), vec![0.9, 0.2, 0.8, 0.7, 0.4]);
//! let champion = EvalInput::new(y, vec![0.9, 0.6, 0.3, 0.7, 0.4]);
//! let report = evaluate(&spec, &candidate, Some(&champion))?;
//! assert!(report.passed); // accuracy 1.0 ≥ 0.7 and ≥ 0.6 + 0.1
//! # Ok::<(), mlops_pipeline::Error>(())
//! ```
//!
//! # First model
//! With no champion, [`FirstModelPolicy`] decides: by default only `threshold` criteria are
//! checked and change criteria are reported as skipped.

pub mod bootstrap;
pub mod report;
pub mod threshold;

use std::collections::{BTreeMap, HashSet};

use mlops_core::metrics;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

pub use bootstrap::{paired_bootstrap, percentile, BootstrapSpec};
pub use report::{BootstrapResult, GateReport, SegmentReport};
pub use threshold::{Criterion, CriterionOutcome, MetricThreshold, Status, ThresholdResult};

/// What the gate does when there is no champion to compare with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FirstModelPolicy {
    /// Check only the `threshold` criteria; change criteria are reported as skipped.
    #[default]
    ValueThresholdsOnly,
    /// Fail: a first model must be registered by hand. The value thresholds are still
    /// checked and reported.
    Reject,
    /// Pass without checks; every criterion is reported as skipped, with the values seen.
    Accept,
}

/// The gate's configuration (the `[gate]` table of a pipeline).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateSpec {
    /// Thresholds on the whole held-out set, by metric name.
    #[serde(default)]
    pub metrics: BTreeMap<String, MetricThreshold>,
    /// Thresholds per segment: segment label → metric name → thresholds, computed on the rows
    /// whose [`EvalInput::segments`] label equals the key.
    #[serde(default)]
    pub segments: BTreeMap<String, BTreeMap<String, MetricThreshold>>,
    /// A paired bootstrap of one metric's difference (only run when there is a champion).
    #[serde(default)]
    pub bootstrap: Option<BootstrapSpec>,
    /// What to do without a champion.
    #[serde(default)]
    pub first_model: FirstModelPolicy,
}

impl GateSpec {
    /// A spec with these whole-set thresholds, no segments, no bootstrap and the default
    /// first-model policy.
    pub fn new(metrics: BTreeMap<String, MetricThreshold>) -> Self {
        GateSpec {
            metrics,
            segments: BTreeMap::new(),
            bootstrap: None,
            first_model: FirstModelPolicy::default(),
        }
    }

    /// Checks every name and threshold.
    ///
    /// # Errors
    /// [`Error::InvalidSpec`] when the spec checks nothing (`gate.metrics`), names an unknown
    /// metric (`gate.metrics.<name>`, `gate.segments.<segment>.<name>`), sets
    /// `greater_is_better` against the metric's direction, has an invalid threshold
    /// ([`MetricThreshold::validate`]), an empty segment, an invalid bootstrap
    /// ([`BootstrapSpec::validate`]), or mixes classification and regression metrics.
    pub fn validate(&self) -> Result<()> {
        if self.metrics.is_empty() && self.segments.is_empty() {
            return Err(Error::spec(
                "gate.metrics",
                "the gate checks no metric; a gate that checks nothing would bless any model",
            ));
        }
        let mut kinds: Vec<(String, GateMetric)> = Vec::new();
        for (name, th) in &self.metrics {
            let at = format!("gate.metrics.{name}");
            kinds.push((at.clone(), check_metric(&at, name, th)?));
        }
        for (segment, metrics) in &self.segments {
            if metrics.is_empty() {
                return Err(Error::spec(
                    format!("gate.segments.{segment}"),
                    "the segment has no metric",
                ));
            }
            for (name, th) in metrics {
                let at = format!("gate.segments.{segment}.{name}");
                kinds.push((at.clone(), check_metric(&at, name, th)?));
            }
        }
        if let Some(b) = &self.bootstrap {
            kinds.push(("gate.bootstrap.metric".into(), b.validate()?));
        }
        if let (Some((a, ma)), Some((b, mb))) = (
            kinds.iter().find(|(_, m)| m.is_classification()),
            kinds.iter().find(|(_, m)| !m.is_classification()),
        ) {
            return Err(Error::spec(
                b.clone(),
                format!(
                    "{} is a regression metric but {a} is the classification metric {}; one gate \
                     scores one kind of model",
                    mb.name(),
                    ma.name()
                ),
            ));
        }
        Ok(())
    }

    fn all_metrics(&self) -> impl Iterator<Item = &str> {
        self.metrics
            .keys()
            .chain(self.segments.values().flat_map(|m| m.keys()))
            .map(String::as_str)
            .chain(self.bootstrap.iter().map(|b| b.metric.as_str()))
    }
}

fn check_metric(at: &str, name: &str, th: &MetricThreshold) -> Result<GateMetric> {
    let metric = GateMetric::from_name(name).ok_or_else(|| {
        Error::spec(
            at,
            format!(
                "unknown metric {name:?}; known: {}",
                GateMetric::known_names()
            ),
        )
    })?;
    if th.greater_is_better != metric.greater_is_better() {
        return Err(Error::spec(
            format!("{at}.greater_is_better"),
            format!(
                "{name} is {}-is-better, so greater_is_better must be {}",
                if metric.greater_is_better() {
                    "greater"
                } else {
                    "lower"
                },
                metric.greater_is_better()
            ),
        ));
    }
    th.validate(at)?;
    Ok(metric)
}

/// A metric the gate can compute, by the name a spec uses.
///
/// Classification metrics are binary: `y_true` is `0.0`/`1.0` and `y_pred` the probability of
/// class 1. Hard labels (for accuracy, F1, precision, recall) are `y_pred > 0.5`, as
/// `predict` of a scikit-learn binary classifier (`argmax` picks class 0 on a tie).
/// Regression metrics take `y_pred` as the prediction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GateMetric {
    /// `accuracy` ([`metrics::accuracy`]).
    Accuracy,
    /// `roc_auc` ([`metrics::roc_auc`]; `y_pred` may be any score).
    RocAuc,
    /// `f1` of class 1 ([`metrics::classification_report`], `zero_division=0`).
    F1,
    /// `precision` of class 1.
    Precision,
    /// `recall` of class 1.
    Recall,
    /// `log_loss` ([`metrics::log_loss_binary`]).
    LogLoss,
    /// `mae` ([`metrics::mean_absolute_error`]).
    Mae,
    /// `mse` ([`metrics::mean_squared_error`]).
    Mse,
    /// `rmse` ([`metrics::root_mean_squared_error`]).
    Rmse,
    /// `r2` ([`metrics::r2_score`]).
    R2,
    /// `mape` ([`metrics::mean_absolute_percentage_error`], a fraction).
    Mape,
}

const ALL_METRICS: [GateMetric; 11] = [
    GateMetric::Accuracy,
    GateMetric::RocAuc,
    GateMetric::F1,
    GateMetric::Precision,
    GateMetric::Recall,
    GateMetric::LogLoss,
    GateMetric::Mae,
    GateMetric::Mse,
    GateMetric::Rmse,
    GateMetric::R2,
    GateMetric::Mape,
];

impl GateMetric {
    /// The metric of that name (`accuracy`, `roc_auc`, `f1`, `precision`, `recall`,
    /// `log_loss`, `mae`, `mse`, `rmse`, `r2`, `mape`), or `None`.
    pub fn from_name(name: &str) -> Option<Self> {
        ALL_METRICS.into_iter().find(|m| m.name() == name)
    }

    /// The names [`GateMetric::from_name`] knows, comma-separated.
    pub fn known_names() -> String {
        ALL_METRICS.map(GateMetric::name).join(", ")
    }

    /// The metric's name.
    pub fn name(self) -> &'static str {
        match self {
            GateMetric::Accuracy => "accuracy",
            GateMetric::RocAuc => "roc_auc",
            GateMetric::F1 => "f1",
            GateMetric::Precision => "precision",
            GateMetric::Recall => "recall",
            GateMetric::LogLoss => "log_loss",
            GateMetric::Mae => "mae",
            GateMetric::Mse => "mse",
            GateMetric::Rmse => "rmse",
            GateMetric::R2 => "r2",
            GateMetric::Mape => "mape",
        }
    }

    /// Whether a greater value is better (false for the losses and errors).
    pub fn greater_is_better(self) -> bool {
        !matches!(
            self,
            GateMetric::LogLoss
                | GateMetric::Mae
                | GateMetric::Mse
                | GateMetric::Rmse
                | GateMetric::Mape
        )
    }

    /// Whether it is a (binary) classification metric.
    pub fn is_classification(self) -> bool {
        matches!(
            self,
            GateMetric::Accuracy
                | GateMetric::RocAuc
                | GateMetric::F1
                | GateMetric::Precision
                | GateMetric::Recall
                | GateMetric::LogLoss
        )
    }

    /// Computes the metric of `y_pred` against `y_true`.
    ///
    /// # Errors
    /// The metric's own errors ([`mlops_core::Error::Empty`], `InvalidInput` for a length
    /// mismatch or non-finite value, `Undefined` for ROC AUC with one class or R² of one row);
    /// `InvalidInput` for a classification label other than 0 or 1.
    pub fn compute(self, y_true: &[f64], y_pred: &[f64]) -> mlops_core::Result<f64> {
        if !self.is_classification() {
            return match self {
                GateMetric::Mae => metrics::mean_absolute_error(y_true, y_pred),
                GateMetric::Mse => metrics::mean_squared_error(y_true, y_pred),
                GateMetric::Rmse => metrics::root_mean_squared_error(y_true, y_pred),
                GateMetric::R2 => metrics::r2_score(y_true, y_pred),
                _ => metrics::mean_absolute_percentage_error(y_true, y_pred),
            };
        }
        let labels = binary_labels(y_true)?;
        match self {
            GateMetric::RocAuc => metrics::roc_auc(&labels, y_pred),
            GateMetric::LogLoss => metrics::log_loss_binary(&labels, y_pred),
            _ => {
                if let Some(i) = y_pred.iter().position(|p| !(0.0..=1.0).contains(p)) {
                    return Err(mlops_core::Error::InvalidInput {
                        what: self.name().into(),
                        reason: format!(
                            "y_pred[{i}] = {} is not a probability of class 1 in [0, 1]",
                            y_pred[i]
                        ),
                    });
                }
                let hard: Vec<bool> = y_pred.iter().map(|&p| p > 0.5).collect();
                if self == GateMetric::Accuracy {
                    return metrics::accuracy(&labels, &hard);
                }
                let report = metrics::classification_report(&labels, &hard)?;
                // Class 1 absent from both truth and prediction: every score is 0
                // (sklearn's zero_division=0).
                let scores = report
                    .class(&true)
                    .copied()
                    .unwrap_or(metrics::ClassScores {
                        precision: 0.0,
                        recall: 0.0,
                        f1: 0.0,
                        support: 0,
                    });
                Ok(match self {
                    GateMetric::F1 => scores.f1,
                    GateMetric::Precision => scores.precision,
                    _ => scores.recall,
                })
            }
        }
    }
}

fn binary_labels(y_true: &[f64]) -> mlops_core::Result<Vec<bool>> {
    y_true
        .iter()
        .enumerate()
        .map(|(i, &y)| {
            if y == 1.0 {
                Ok(true)
            } else if y == 0.0 {
                Ok(false)
            } else {
                Err(mlops_core::Error::InvalidInput {
                    what: "y_true".into(),
                    reason: format!("y_true[{i}] = {y}; binary labels are 0 or 1"),
                })
            }
        })
        .collect()
}

/// One model's predictions on the held-out rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalInput {
    /// The true values (0/1 labels for classification).
    pub y_true: Vec<f64>,
    /// The model's predictions: probability of class 1, or the regression prediction.
    pub y_pred: Vec<f64>,
    /// The segment label of each row, if the spec has segments.
    #[serde(default)]
    pub segments: Option<Vec<String>>,
    /// A stable id per row; when given for both models they must be identical, in order.
    #[serde(default)]
    pub row_ids: Option<Vec<String>>,
}

impl EvalInput {
    /// Predictions without segments or row ids.
    pub fn new(y_true: Vec<f64>, y_pred: Vec<f64>) -> Self {
        EvalInput {
            y_true,
            y_pred,
            segments: None,
            row_ids: None,
        }
    }

    /// Adds a segment label per row.
    pub fn with_segments(mut self, segments: Vec<String>) -> Self {
        self.segments = Some(segments);
        self
    }

    /// Adds a row id per row.
    pub fn with_row_ids(mut self, ids: Vec<String>) -> Self {
        self.row_ids = Some(ids);
        self
    }

    /// SHA-256 (hex) over the row ids in order, each as its byte length (u64, little-endian)
    /// followed by its UTF-8 bytes; `None` without ids.
    pub fn rows_digest(&self) -> Option<String> {
        self.row_ids.as_ref().map(|ids| {
            let mut h = Sha256::new();
            for id in ids {
                h.update((id.len() as u64).to_le_bytes());
                h.update(id.as_bytes());
            }
            hex::encode(h.finalize())
        })
    }

    fn check(&self, who: &str) -> Result<()> {
        let n = self.y_true.len();
        if n == 0 {
            return Err(Error::invalid(format!("{who}.y_true"), "no rows"));
        }
        let len = |field: &str, m: usize| -> Result<()> {
            if m == n {
                Ok(())
            } else {
                Err(Error::invalid(
                    format!("{who}.{field}"),
                    format!("{m} values for {n} rows of y_true"),
                ))
            }
        };
        len("y_pred", self.y_pred.len())?;
        for (field, xs) in [("y_true", &self.y_true), ("y_pred", &self.y_pred)] {
            if let Some(i) = xs.iter().position(|x| !x.is_finite()) {
                return Err(Error::invalid(
                    format!("{who}.{field}"),
                    format!("row {i} is {} (NaN and ±inf are refused)", xs[i]),
                ));
            }
        }
        if let Some(s) = &self.segments {
            len("segments", s.len())?;
        }
        if let Some(ids) = &self.row_ids {
            len("row_ids", ids.len())?;
            let mut seen = HashSet::with_capacity(n);
            if let Some(i) = ids.iter().position(|id| !seen.insert(id.as_str())) {
                return Err(Error::invalid(
                    format!("{who}.row_ids"),
                    format!("row id {:?} (row {i}) appears twice", ids[i]),
                ));
            }
        }
        Ok(())
    }
}

/// Checks that `champion` was scored on the same rows as `candidate`: same length, same row ids
/// (by digest) when given, same `y_true`, same segment labels where both have them.
fn same_rows(candidate: &EvalInput, champion: &EvalInput) -> Result<()> {
    let n = candidate.y_true.len();
    if champion.y_true.len() != n {
        return Err(Error::invalid(
            "champion.y_true",
            format!(
                "{} rows, the candidate has {n}: the models were not scored on the same rows",
                champion.y_true.len()
            ),
        ));
    }
    match (&candidate.row_ids, &champion.row_ids) {
        (Some(a), Some(b)) => {
            if candidate.rows_digest() != champion.rows_digest() {
                let i = a.iter().zip(b).position(|(x, y)| x != y).unwrap_or(0);
                return Err(Error::invalid(
                    "champion.row_ids",
                    format!(
                        "row digest differs from the candidate's; first difference at row {i}: \
                         {:?} vs the candidate's {:?}",
                        b.get(i),
                        a.get(i)
                    ),
                ));
            }
        }
        (None, None) => {}
        (Some(_), None) | (None, Some(_)) => {
            return Err(Error::invalid(
                "row_ids",
                "given for one model but not the other; give both or neither",
            ));
        }
    }
    if let Some(i) = (0..n).find(|&i| candidate.y_true[i] != champion.y_true[i]) {
        return Err(Error::invalid(
            "champion.y_true",
            format!(
                "row {i} is {} but the candidate's is {}: the models were not scored on the same \
                 rows",
                champion.y_true[i], candidate.y_true[i]
            ),
        ));
    }
    if let (Some(a), Some(b)) = (&candidate.segments, &champion.segments) {
        if let Some(i) = (0..n).find(|&i| a[i] != b[i]) {
            return Err(Error::invalid(
                "champion.segments",
                format!(
                    "row {i} is in segment {:?} but the candidate's is in {:?}",
                    b[i], a[i]
                ),
            ));
        }
    }
    Ok(())
}

fn compute(
    metric: GateMetric,
    who: &str,
    scope: &str,
    y_true: &[f64],
    y_pred: &[f64],
) -> Result<f64> {
    metric
        .compute(y_true, y_pred)
        .map_err(|e| Error::invalid(format!("{who}{scope} {}", metric.name()), e.to_string()))
}

/// Runs the gate: computes every metric of `spec` for the candidate (and the champion, on the
/// same rows), checks the thresholds on the whole set and per segment, bootstraps if asked, and
/// applies the first-model policy when `champion` is `None`.
///
/// # Errors
/// [`Error::InvalidSpec`] for an invalid spec ([`GateSpec::validate`]); [`Error::InvalidInput`]
/// when an input has no rows, lengths differ, a value is NaN or ±inf, row ids repeat or differ
/// between the models, the models' `y_true` differ, the spec has segments but the input no
/// labels, a segment has no rows, or a metric cannot be computed (a label other than 0/1, a
/// probability outside `[0, 1]`, ROC AUC of a segment with one class…).
pub fn evaluate(
    spec: &GateSpec,
    candidate: &EvalInput,
    champion: Option<&EvalInput>,
) -> Result<GateReport> {
    let _span = tracing::debug_span!(
        "gate_evaluate",
        rows = candidate.y_true.len(),
        champion = champion.is_some()
    )
    .entered();
    spec.validate()?;
    candidate.check("candidate")?;
    if let Some(ch) = champion {
        ch.check("champion")?;
        same_rows(candidate, ch)?;
    }
    // Validated above: every name is known.
    let resolve = |name: &str| {
        GateMetric::from_name(name)
            .ok_or_else(|| Error::spec(format!("gate.metrics.{name}"), "unknown metric"))
    };
    for name in spec.all_metrics() {
        resolve(name)?;
    }

    let mut reasons = Vec::new();
    let mut notes = Vec::new();
    let policy = spec.first_model;
    if champion.is_none() {
        notes.push(match policy {
            FirstModelPolicy::ValueThresholdsOnly => {
                "no champion: only value thresholds checked (first_model = value_thresholds_only)"
                    .to_owned()
            }
            FirstModelPolicy::Reject => "no champion (first_model = reject)".to_owned(),
            FirstModelPolicy::Accept => {
                "no champion: accepted without checks (first_model = accept)".to_owned()
            }
        });
    }
    let judge = |name: &str, th: &MetricThreshold, c: f64, b: Option<f64>| match b {
        Some(b) => th.check(name, c, Some(b)),
        None => match policy {
            FirstModelPolicy::Accept => th.skip_all(name, c, "no champion, first_model = accept"),
            FirstModelPolicy::ValueThresholdsOnly | FirstModelPolicy::Reject => {
                th.check_without_baseline(name, c)
            }
        },
    };

    let mut metric_results = Vec::with_capacity(spec.metrics.len());
    for (name, th) in &spec.metrics {
        let m = resolve(name)?;
        let c = compute(m, "candidate", "", &candidate.y_true, &candidate.y_pred)?;
        let b = champion
            .map(|ch| compute(m, "champion", "", &ch.y_true, &ch.y_pred))
            .transpose()?;
        let r = judge(name, th, c, b);
        reasons.extend(r.reasons());
        metric_results.push(r);
    }

    let mut segment_reports = Vec::with_capacity(spec.segments.len());
    if !spec.segments.is_empty() {
        let labels = candidate
            .segments
            .as_ref()
            .or_else(|| champion.and_then(|c| c.segments.as_ref()))
            .ok_or_else(|| {
                Error::invalid(
                    "segments",
                    "the spec has segments but neither input labels its rows",
                )
            })?;
        for (segment, metrics) in &spec.segments {
            let rows: Vec<usize> = (0..labels.len())
                .filter(|&i| labels[i] == *segment)
                .collect();
            if rows.is_empty() {
                return Err(Error::invalid(
                    "segments",
                    format!("segment {segment:?} has no rows in the held-out set"),
                ));
            }
            let pick = |xs: &[f64]| rows.iter().map(|&i| xs[i]).collect::<Vec<f64>>();
            let y = pick(&candidate.y_true);
            let cand = pick(&candidate.y_pred);
            let champ = champion.map(|ch| pick(&ch.y_pred));
            let scope = format!(" segment {segment:?}");
            let mut results = Vec::with_capacity(metrics.len());
            for (name, th) in metrics {
                let m = resolve(name)?;
                let c = compute(m, "candidate", &scope, &y, &cand)?;
                let b = champ
                    .as_ref()
                    .map(|p| compute(m, "champion", &scope, &y, p))
                    .transpose()?;
                let r = judge(name, th, c, b);
                reasons.extend(
                    r.reasons()
                        .into_iter()
                        .map(|s| format!("segment {segment}: {s}")),
                );
                results.push(r);
            }
            segment_reports.push(SegmentReport {
                segment: segment.clone(),
                n_rows: rows.len(),
                passed: results.iter().all(|r| r.passed),
                metrics: results,
            });
        }
    }

    let mut boot = None;
    if let Some(bspec) = &spec.bootstrap {
        match champion {
            Some(ch) => {
                let m = resolve(&bspec.metric)?;
                let r =
                    paired_bootstrap(m, &candidate.y_true, &candidate.y_pred, &ch.y_pred, bspec)?;
                if bspec.require_positive && !r.improvement_significant {
                    let side = if r.greater_is_better {
                        "above"
                    } else {
                        "below"
                    };
                    reasons.push(format!(
                        "bootstrap {}: {}% interval of candidate - champion [{}, {}] does not lie \
                         {side} 0 ({} resamples, seed {})",
                        r.metric,
                        100.0 * r.confidence,
                        r.ci_low,
                        r.ci_high,
                        r.n_resamples - r.n_skipped,
                        r.seed
                    ));
                }
                boot = Some(r);
            }
            None => notes.push(format!(
                "bootstrap of {} skipped: no champion",
                bspec.metric
            )),
        }
    }

    if champion.is_none() && policy == FirstModelPolicy::Reject {
        reasons.push(
            "no champion to compare with and first_model = reject: register the first model by \
             hand"
                .to_owned(),
        );
    }

    Ok(GateReport {
        passed: reasons.is_empty(),
        has_champion: champion.is_some(),
        n_rows: candidate.y_true.len(),
        rows_digest: candidate.rows_digest(),
        metrics: metric_results,
        segments: segment_reports,
        bootstrap: boot,
        reasons,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn th(gib: bool) -> MetricThreshold {
        MetricThreshold::new(gib)
    }

    fn spec_of(entries: &[(&str, MetricThreshold)]) -> GateSpec {
        GateSpec::new(entries.iter().map(|(n, t)| ((*n).to_owned(), *t)).collect())
    }

    // y_true and two models; hand-counted: candidate accuracy 5/6 (row 4 wrong), champion 2/6 (rows 0 and 3 right).
    fn pair() -> (EvalInput, EvalInput) {
        let y = vec![1.0, 0.0, 1.0, 0.0, 1.0, 0.0];
        let cand = EvalInput::new(y.clone(), vec![0.9, 0.1, 0.8, 0.2, 0.4, 0.3]);
        let champ = EvalInput::new(y, vec![0.9, 0.6, 0.3, 0.2, 0.4, 0.7]);
        (cand, champ)
    }

    fn invalid_what(e: &Error) -> &str {
        match e {
            Error::InvalidInput { what, .. } => what,
            other => panic!("expected InvalidInput, got {other}"),
        }
    }

    fn spec_at(e: &Error) -> &str {
        match e {
            Error::InvalidSpec { at, .. } => at,
            other => panic!("expected InvalidSpec, got {other}"),
        }
    }

    #[test]
    fn reasons_name_every_failure_with_numbers() {
        let (cand, champ) = pair();
        let spec = spec_of(&[
            (
                "accuracy",
                th(true).with_threshold(0.9).with_min_absolute_change(0.25),
            ),
            ("log_loss", th(false).with_threshold(10.0)),
        ]);
        let r = evaluate(&spec, &cand, Some(&champ)).unwrap();
        assert!(!r.passed);
        assert_eq!(r.metrics[0].candidate, 5.0 / 6.0);
        assert_eq!(r.metrics[0].baseline, Some(2.0 / 6.0));
        assert_eq!(
            r.reasons,
            vec![format!("accuracy: candidate {} < threshold 0.9", 5.0 / 6.0)]
        );
        assert!(r.metrics[1].passed);
        assert!(r.has_champion);
        assert_eq!(r.n_rows, 6);
    }

    #[test]
    fn hard_labels_use_strictly_greater_than_half() {
        // p = 0.5 is class 0, as sklearn's argmax picks the first class on a tie.
        let m = GateMetric::Accuracy;
        assert_eq!(m.compute(&[0.0, 1.0], &[0.5, 0.5]).unwrap(), 0.5);
        assert_eq!(m.compute(&[1.0], &[0.500001]).unwrap(), 1.0);
        // No positive anywhere: precision/recall/f1 are 0 (zero_division=0).
        assert_eq!(
            GateMetric::F1.compute(&[0.0, 0.0], &[0.1, 0.2]).unwrap(),
            0.0
        );
        // tp=1, fp=1, fn=1: precision = recall = f1 = 1/2.
        let (y, p) = ([1.0, 0.0, 1.0, 0.0], [0.9, 0.8, 0.1, 0.2]);
        assert_eq!(GateMetric::Precision.compute(&y, &p).unwrap(), 0.5);
        assert_eq!(GateMetric::Recall.compute(&y, &p).unwrap(), 0.5);
        assert_eq!(GateMetric::F1.compute(&y, &p).unwrap(), 0.5);
        assert!(GateMetric::Accuracy.compute(&[1.0], &[1.5]).is_err());
        assert!(GateMetric::Accuracy.compute(&[2.0], &[0.5]).is_err());
        assert!(GateMetric::RocAuc
            .compute(&[1.0, 1.0], &[0.1, 0.2])
            .is_err());
        for m in ALL_METRICS {
            assert_eq!(GateMetric::from_name(m.name()), Some(m));
        }
    }

    #[test]
    fn first_model_value_thresholds_only() {
        let (cand, _) = pair();
        let spec = spec_of(&[(
            "accuracy",
            th(true).with_threshold(0.8).with_min_relative_change(0.1),
        )]);
        let r = evaluate(&spec, &cand, None).unwrap();
        assert!(r.passed, "{:?}", r.reasons);
        let statuses: Vec<Status> = r.metrics[0].criteria.iter().map(|c| c.status).collect();
        assert_eq!(statuses, vec![Status::Passed, Status::Skipped]);
        assert!(!r.has_champion);
        assert!(
            r.notes[0].contains("value_thresholds_only"),
            "{:?}",
            r.notes
        );
        let strict = spec_of(&[("accuracy", th(true).with_threshold(0.9))]);
        assert!(!evaluate(&strict, &cand, None).unwrap().passed);
    }

    #[test]
    fn first_model_reject_and_accept() {
        let (cand, _) = pair();
        let mut spec = spec_of(&[("accuracy", th(true).with_threshold(0.99))]);
        spec.first_model = FirstModelPolicy::Reject;
        let r = evaluate(&spec, &cand, None).unwrap();
        assert!(!r.passed);
        assert_eq!(r.reasons.len(), 2, "{:?}", r.reasons);
        assert!(r.reasons[1].contains("first_model = reject"));
        spec.first_model = FirstModelPolicy::Accept;
        let r = evaluate(&spec, &cand, None).unwrap();
        assert!(r.passed, "{:?}", r.reasons);
        assert_eq!(r.metrics[0].criteria[0].status, Status::Skipped);
        assert_eq!(r.metrics[0].candidate, 5.0 / 6.0);
    }

    #[test]
    fn spec_errors_name_the_spot() {
        let (cand, _) = pair();
        let e = evaluate(
            &spec_of(&[("auc", th(true).with_threshold(0.5))]),
            &cand,
            None,
        )
        .unwrap_err();
        assert_eq!(spec_at(&e), "gate.metrics.auc");
        assert!(e.to_string().contains("roc_auc"), "{e}");
        let e = spec_of(&[("log_loss", th(true).with_threshold(0.5))])
            .validate()
            .unwrap_err();
        assert_eq!(spec_at(&e), "gate.metrics.log_loss.greater_is_better");
        let e = spec_of(&[]).validate().unwrap_err();
        assert_eq!(spec_at(&e), "gate.metrics");
        let e = spec_of(&[
            ("accuracy", th(true).with_threshold(0.5)),
            ("mae", th(false).with_threshold(0.5)),
        ])
        .validate()
        .unwrap_err();
        assert_eq!(spec_at(&e), "gate.metrics.mae");
        let e = spec_of(&[("mae", th(false).with_min_absolute_change(0.0))])
            .validate()
            .unwrap_err();
        assert_eq!(spec_at(&e), "gate.metrics.mae.min_absolute_change");
        let mut s = spec_of(&[("mae", th(false).with_threshold(1.0))]);
        s.segments.insert("eu".into(), BTreeMap::new());
        assert_eq!(spec_at(&s.validate().unwrap_err()), "gate.segments.eu");
        s.segments.insert(
            "eu".into(),
            [("rmse2".to_owned(), th(false).with_threshold(1.0))].into(),
        );
        assert_eq!(
            spec_at(&s.validate().unwrap_err()),
            "gate.segments.eu.rmse2"
        );
    }

    #[test]
    fn bad_inputs_are_typed_errors() {
        let spec = spec_of(&[("mae", th(false).with_threshold(1.0))]);
        let empty = EvalInput::new(vec![], vec![]);
        assert_eq!(
            invalid_what(&evaluate(&spec, &empty, None).unwrap_err()),
            "candidate.y_true"
        );
        let short = EvalInput::new(vec![1.0, 2.0], vec![1.0]);
        assert_eq!(
            invalid_what(&evaluate(&spec, &short, None).unwrap_err()),
            "candidate.y_pred"
        );
        let nan = EvalInput::new(vec![1.0, 2.0], vec![1.0, f64::NAN]);
        let e = evaluate(&spec, &nan, None).unwrap_err();
        assert_eq!(invalid_what(&e), "candidate.y_pred");
        assert!(e.to_string().contains("row 1 is NaN"), "{e}");
        let inf = EvalInput::new(vec![f64::INFINITY], vec![1.0]);
        assert_eq!(
            invalid_what(&evaluate(&spec, &inf, None).unwrap_err()),
            "candidate.y_true"
        );
        // One row: R² is undefined, said with the metric and the model.
        let one = EvalInput::new(vec![1.0], vec![1.0]);
        let r2 = spec_of(&[("r2", th(true).with_threshold(0.0))]);
        let e = evaluate(&r2, &one, None).unwrap_err();
        assert_eq!(invalid_what(&e), "candidate r2");
        // Constant y_true: R² follows sklearn's force_finite (0 for an imperfect prediction).
        let constant = EvalInput::new(vec![3.0, 3.0], vec![3.0, 2.0]);
        let r = evaluate(&r2, &constant, None).unwrap();
        assert_eq!(r.metrics[0].candidate, 0.0);
    }

    #[test]
    fn rows_must_match() {
        let spec = spec_of(&[("mae", th(false).with_threshold(1.0))]);
        let a = EvalInput::new(vec![1.0, 2.0, 3.0], vec![1.0, 2.0, 3.0]);
        let shorter = EvalInput::new(vec![1.0, 2.0], vec![1.0, 2.0]);
        assert_eq!(
            invalid_what(&evaluate(&spec, &a, Some(&shorter)).unwrap_err()),
            "champion.y_true"
        );
        let other_truth = EvalInput::new(vec![1.0, 2.5, 3.0], vec![1.0, 2.0, 3.0]);
        let e = evaluate(&spec, &a, Some(&other_truth)).unwrap_err();
        assert!(e.to_string().contains("row 1"), "{e}");
        let ids = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let a_ids = a.clone().with_row_ids(ids(&["r1", "r2", "r3"]));
        let b_ids = a.clone().with_row_ids(ids(&["r1", "r3", "r2"]));
        let e = evaluate(&spec, &a_ids, Some(&b_ids)).unwrap_err();
        assert_eq!(invalid_what(&e), "champion.row_ids");
        assert!(e.to_string().contains("row 1"), "{e}");
        assert_eq!(
            invalid_what(&evaluate(&spec, &a_ids, Some(&a)).unwrap_err()),
            "row_ids"
        );
        let dup = a.clone().with_row_ids(ids(&["r1", "r2", "r1"]));
        assert_eq!(
            invalid_what(&evaluate(&spec, &dup, None).unwrap_err()),
            "candidate.row_ids"
        );
        // Same ids: passes, and the digest is recorded.
        let r = evaluate(&spec, &a_ids, Some(&a_ids.clone())).unwrap();
        assert_eq!(r.rows_digest, a_ids.rows_digest());
        assert_eq!(r.rows_digest.as_deref().map(str::len), Some(64));
        // The digest separates ids ("ab","c") from ("a","bc").
        assert_ne!(
            a.clone().with_row_ids(ids(&["ab", "c", "d"])).rows_digest(),
            a.clone().with_row_ids(ids(&["a", "bc", "d"])).rows_digest()
        );
    }

    #[test]
    fn segments_are_checked_on_their_rows() {
        let y = vec![1.0, 2.0, 3.0, 4.0, 10.0, 20.0];
        let seg: Vec<String> = ["eu", "eu", "eu", "us", "us", "us"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        // Candidate: exact on eu, off by 3 on us. Champion: off by 1 everywhere.
        let cand = EvalInput::new(y.clone(), vec![1.0, 2.0, 3.0, 7.0, 13.0, 23.0])
            .with_segments(seg.clone());
        let champ = EvalInput::new(y.clone(), vec![2.0, 3.0, 4.0, 5.0, 11.0, 21.0]);
        let mut spec = spec_of(&[("mae", th(false).with_threshold(5.0))]);
        for s in ["eu", "us"] {
            spec.segments.insert(
                s.to_owned(),
                [("mae".to_owned(), th(false).with_min_absolute_change(0.5))].into(),
            );
        }
        let r = evaluate(&spec, &cand, Some(&champ)).unwrap();
        assert!(r.metrics[0].passed);
        assert_eq!(r.segments.len(), 2);
        assert_eq!(
            (r.segments[0].segment.as_str(), r.segments[0].n_rows),
            ("eu", 3)
        );
        assert!(r.segments[0].passed);
        assert_eq!(r.segments[0].metrics[0].candidate, 0.0);
        assert_eq!(r.segments[0].metrics[0].baseline, Some(1.0));
        assert!(!r.segments[1].passed);
        assert!(!r.passed);
        assert_eq!(
            r.reasons,
            vec!["segment us: mae: candidate 3 > baseline 1 - min_absolute_change 0.5 (= 0.5)"]
        );
        // A segment the held-out set lacks, and labels that disagree, are errors.
        spec.segments.insert(
            "apac".into(),
            [("mae".to_owned(), th(false).with_threshold(1.0))].into(),
        );
        let e = evaluate(&spec, &cand, Some(&champ)).unwrap_err();
        assert!(e.to_string().contains("\"apac\" has no rows"), "{e}");
        spec.segments.remove("apac");
        let mut other = seg.clone();
        other[0] = "us".into();
        let champ2 = champ.clone().with_segments(other);
        assert_eq!(
            invalid_what(&evaluate(&spec, &cand, Some(&champ2)).unwrap_err()),
            "champion.segments"
        );
        let unlabelled = EvalInput::new(y, cand.y_pred.clone());
        assert_eq!(
            invalid_what(&evaluate(&spec, &unlabelled, Some(&champ)).unwrap_err()),
            "segments"
        );
    }

    #[test]
    fn undefined_metric_on_a_segment_names_it() {
        let cand = EvalInput::new(vec![1.0, 1.0, 0.0], vec![0.9, 0.8, 0.1]).with_segments(vec![
            "a".into(),
            "a".into(),
            "b".into(),
        ]);
        let mut spec = spec_of(&[("roc_auc", th(true).with_threshold(0.5))]);
        spec.segments.insert(
            "a".into(),
            [("roc_auc".to_owned(), th(true).with_threshold(0.5))].into(),
        );
        let e = evaluate(&spec, &cand, None).unwrap_err();
        assert_eq!(invalid_what(&e), "candidate segment \"a\" roc_auc");
        assert!(e.to_string().contains("one class"), "{e}");
    }

    #[test]
    fn bootstrap_require_positive() {
        // 400 rows; the candidate errs on 1 in 20, the champion on 1 in 4 (its 5 in 20 include
        // the candidate's one).
        let n = 400;
        let y = vec![1.0; n];
        let cand: Vec<f64> = (0..n)
            .map(|i| if i % 20 == 0 { 0.2 } else { 0.8 })
            .collect();
        let champ: Vec<f64> = (0..n).map(|i| if i % 4 == 0 { 0.2 } else { 0.8 }).collect();
        let mut spec = spec_of(&[("accuracy", th(true).with_threshold(0.5))]);
        spec.bootstrap = Some(BootstrapSpec {
            n_resamples: 500,
            seed: 11,
            require_positive: true,
            ..BootstrapSpec::new("accuracy")
        });
        let a = EvalInput::new(y.clone(), cand);
        let b = EvalInput::new(y, champ);
        let r = evaluate(&spec, &a, Some(&b)).unwrap();
        let boot = r.bootstrap.as_ref().unwrap();
        assert_eq!(boot.observed_diff, 0.95 - 0.75);
        assert!(boot.improvement_significant && r.passed, "{boot:?}");
        // Against itself: the interval is [0, 0], which is not above 0.
        let r = evaluate(&spec, &a, Some(&a.clone())).unwrap();
        assert!(!r.passed);
        assert_eq!(
            r.reasons,
            vec![
                "bootstrap accuracy: 95% interval of candidate - champion [0, 0] does not lie \
                 above 0 (500 resamples, seed 11)"
            ]
        );
        // Without a champion the bootstrap is skipped, and says so.
        let r = evaluate(&spec, &a, None).unwrap();
        assert!(r.passed && r.bootstrap.is_none());
        assert!(r
            .notes
            .iter()
            .any(|n| n.contains("bootstrap of accuracy skipped")));
    }

    #[test]
    fn report_and_spec_round_trip_through_json() {
        let (cand, champ) = pair();
        let spec: GateSpec = serde_json::from_str(
            r#"{"metrics": {"roc_auc": {"threshold": 0.85, "greater_is_better": true},
                            "accuracy": {"min_relative_change": 0.1, "greater_is_better": true}},
                "bootstrap": {"metric": "accuracy", "n_resamples": 200, "seed": 7}}"#,
        )
        .unwrap();
        assert_eq!(spec.first_model, FirstModelPolicy::ValueThresholdsOnly);
        assert_eq!(spec.bootstrap.as_ref().map(|b| b.confidence), Some(0.95));
        let r = evaluate(&spec, &cand, Some(&champ)).unwrap();
        let text = r.to_json().unwrap();
        assert_eq!(GateReport::from_json(&text).unwrap(), r);
        assert!(GateReport::from_json("{}").is_err());
        assert!(serde_json::from_str::<GateSpec>(r#"{"metric": {}}"#).is_err());
        let fm: GateSpec =
            serde_json::from_str(r#"{"metrics": {}, "first_model": "reject"}"#).unwrap();
        assert_eq!(fm.first_model, FirstModelPolicy::Reject);
    }
}
