//! The values a window yields, by metric name: what alert rules name, what the Prometheus
//! exporter publishes and what reports print.
//!
//! # Metric names
//! | name | meaning | range |
//! |---|---|---|
//! | `n_predictions`, `n_labelled` | rows in the window, rows with a joined label | ≥ 0 |
//! | `label_coverage` | `n_labelled / n_predictions` | [0, 1] |
//! | `error_rate` | failed requests / rows | [0, 1] |
//! | `latency_p50_s`, `latency_p99_s`, `latency_mean_s` | serving latency | ≥ 0 |
//! | `accuracy`, `precision_macro`, `recall_macro`, `f1_macro`, `precision_weighted`, `recall_weighted`, `f1_weighted`, `roc_auc` | realised classification metrics | [0, 1] |
//! | `precision`, `recall`, `f1` | binary classifiers: of the positive class | [0, 1] |
//! | `log_loss` | realised | ≥ 0 |
//! | `class.<c>.precision`, `class.<c>.recall`, `class.<c>.f1`, `class.<c>.support` | per class | [0, 1] |
//! | `mae`, `rmse`, `mape` | realised regression metrics | ≥ 0 |
//! | `r2` | realised | (−∞, 1] |
//! | `estimated.<m>` for `m` in `roc_auc`, `f1`, `accuracy`, `precision`, `recall` | CBPE estimate | [0, 1] |
//! | `estimated.<m>.lower`, `estimated.<m>.upper` | the ±3 sampling-error band | [0, 1] |
//! | `value.realised`, `value.estimated` | business value from the value matrix | any |
//! | `kpi.<name>.sum`, `kpi.<name>.mean` | KPI fields logged with predictions | any |
//! | `drift_share` | drifted input columns / columns | [0, 1] |
//! | `drift.<col>.statistic`, `drift.<col>.p_value` | per column against the reference profile | ≥ 0 / [0, 1] |
//! | `unknown_rate.<col>` | categories unseen in the reference | [0, 1] |
//! | `prediction_drift.statistic`, `prediction_drift.p_value` | the prediction's distribution | ≥ 0 / [0, 1] |
//! | `quality.missing_rate` | with a schema ([`crate::quality`]): missing cells / cells of the schema columns logged | [0, 1] |
//! | `quality.out_of_range_rate`, `quality.unknown_rate` | out-of-range / unknown-category cells over the non-missing cells of the columns with a `range` / `domain` | [0, 1] |
//! | `quality.violation_rate` | rows with an unexpected cell / rows | [0, 1] |
//! | `quality.errors`, `quality.warnings` | failed schema expectations by severity | ≥ 0 |
//! | `quality.missing_columns` | required schema columns absent from the logged inputs | ≥ 0 |
//! | `quality.<col>.missing_rate` | missing cells / rows | [0, 1] |
//! | `quality.<col>.type_error_rate`, `quality.<col>.out_of_range_rate`, `quality.<col>.unknown_rate` | over the column's non-missing cells | [0, 1] |

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What a window is about: one model version on one arm, optionally one segment value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct WindowKey {
    /// Model name.
    pub model: String,
    /// Model version.
    pub version: u64,
    /// Deployment arm.
    pub arm: String,
    /// `(field, value)` when the window is per segment (`value` may be `"other"`).
    pub segment: Option<(String, String)>,
}

/// One window's values for one key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowValues {
    /// What the window is about.
    pub key: WindowKey,
    /// Start, milliseconds since the Unix epoch (inclusive).
    pub start_ms: i64,
    /// End, milliseconds since the Unix epoch (exclusive).
    pub end_ms: i64,
    /// Rows in the window.
    pub n_predictions: u64,
    /// Rows with a joined label.
    pub n_labelled: u64,
    /// Metric name → value (see the module doc). A metric that cannot be computed for this
    /// window (no labels, one class only, …) is absent, never NaN.
    pub values: BTreeMap<String, f64>,
}

/// Base names (without a `<col>`/`<name>`/`<c>` part) of every metric, for validating rules.
pub const FIXED_METRICS: &[&str] = &[
    "n_predictions",
    "n_labelled",
    "label_coverage",
    "error_rate",
    "latency_p50_s",
    "latency_p99_s",
    "latency_mean_s",
    "accuracy",
    "precision",
    "recall",
    "f1",
    "precision_macro",
    "recall_macro",
    "f1_macro",
    "precision_weighted",
    "recall_weighted",
    "f1_weighted",
    "roc_auc",
    "log_loss",
    "mae",
    "rmse",
    "mape",
    "r2",
    "value.realised",
    "value.estimated",
    "drift_share",
    "prediction_drift.statistic",
    "prediction_drift.p_value",
    "quality.missing_rate",
    "quality.out_of_range_rate",
    "quality.unknown_rate",
    "quality.violation_rate",
    "quality.errors",
    "quality.warnings",
    "quality.missing_columns",
];

/// Fixed metrics computed from joined labels (realised performance): a window's sample size for
/// them is `n_labelled`, not `n_predictions`. `class.<c>.*` metrics are label-based too.
pub const LABELLED_METRICS: &[&str] = &[
    "accuracy",
    "precision",
    "recall",
    "f1",
    "precision_macro",
    "recall_macro",
    "f1_macro",
    "precision_weighted",
    "recall_weighted",
    "f1_weighted",
    "roc_auc",
    "log_loss",
    "mae",
    "rmse",
    "mape",
    "r2",
    "value.realised",
];

/// Whether `name` is computed from joined labels (see [`LABELLED_METRICS`]).
pub fn is_labelled_metric(name: &str) -> bool {
    LABELLED_METRICS.contains(&name) || name.starts_with("class.")
}

/// Metrics CBPE estimates (`estimated.<m>`).
pub const ESTIMATED_METRICS: &[&str] = &["roc_auc", "f1", "accuracy", "precision", "recall"];

/// Whether `name` is a metric some window can yield (see the module doc).
pub fn is_known_metric(name: &str) -> bool {
    if FIXED_METRICS.contains(&name) {
        return true;
    }
    if name.starts_with("quality.") {
        return crate::quality::is_column_metric(name);
    }
    let parts: Vec<&str> = name.split('.').collect();
    match parts.as_slice() {
        ["estimated", m] => ESTIMATED_METRICS.contains(m),
        ["estimated", m, "lower" | "upper"] => ESTIMATED_METRICS.contains(m),
        ["kpi", n, "sum" | "mean"] => !n.is_empty(),
        ["drift", c, "statistic" | "p_value"] => !c.is_empty(),
        ["unknown_rate", c] => !c.is_empty(),
        ["class", c, "precision" | "recall" | "f1" | "support"] => !c.is_empty(),
        _ => false,
    }
}

/// The range a metric's values can take, for clipping reference bands (NannyML clips its
/// mean ± 3σ thresholds to the metric's range). `(−∞, ∞)` when unbounded.
pub fn metric_range(name: &str) -> (f64, f64) {
    let unit = (0.0, 1.0);
    let nonneg = (0.0, f64::INFINITY);
    let any = (f64::NEG_INFINITY, f64::INFINITY);
    let last = name.rsplit('.').next().unwrap_or(name);
    if name.starts_with("kpi.") || name.starts_with("value.") {
        return any;
    }
    if name == "r2" {
        return (f64::NEG_INFINITY, 1.0);
    }
    match last {
        "label_coverage" | "error_rate" | "accuracy" | "precision" | "recall" | "f1"
        | "precision_macro" | "recall_macro" | "f1_macro" | "precision_weighted"
        | "recall_weighted" | "f1_weighted" | "roc_auc" | "p_value" | "drift_share" | "lower"
        | "upper" | "missing_rate" | "out_of_range_rate" | "unknown_rate" | "type_error_rate"
        | "violation_rate" => unit,
        _ if name.starts_with("estimated.") || name.starts_with("unknown_rate.") => unit,
        _ => nonneg,
    }
}

/// A label-free estimate of one metric with its sampling-error band.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// The estimated value.
    pub value: f64,
    /// One sampling error (standard error) of the estimate.
    pub sampling_error: f64,
    /// `value − 3·sampling_error`, clipped to the metric's range.
    pub lower: f64,
    /// `value + 3·sampling_error`, clipped to the metric's range.
    pub upper: f64,
}

/// Estimates a binary classifier's performance on a window without labels (CBPE implements
/// it); the windows call it with the window's positive-class scores and predicted classes.
pub trait LabelFreeEstimator: Send + Sync {
    /// Metric name (from [`ESTIMATED_METRICS`]) → estimate.
    ///
    /// # Errors
    /// [`crate::Error::InvalidInput`] when the slices differ in length, are empty, or hold a
    /// score outside [0, 1] or NaN.
    fn estimate(
        &self,
        scores: &[f64],
        predicted: &[bool],
    ) -> crate::Result<BTreeMap<String, Estimate>>;

    /// The expected confusion matrix `[tp, fp, fn, tn]` from the calibrated scores, for the
    /// estimated business value.
    ///
    /// # Errors
    /// As [`LabelFreeEstimator::estimate`].
    fn expected_confusion(&self, scores: &[f64], predicted: &[bool]) -> crate::Result<[f64; 4]>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_metrics() {
        for ok in [
            "accuracy",
            "estimated.roc_auc",
            "estimated.f1.lower",
            "kpi.amount.sum",
            "drift.age.p_value",
            "class.yes.recall",
            "unknown_rate.city",
            "quality.missing_rate",
            "quality.missing_columns",
            "quality.age.missing_rate",
            "quality.a.b.out_of_range_rate",
        ] {
            assert!(is_known_metric(ok), "{ok}");
        }
        for bad in [
            "acuracy",
            "estimated.mae",
            "kpi.amount",
            "drift..p_value",
            "quality.type_error_rate",
            "quality.age.errors",
            "quality",
            "",
        ] {
            assert!(!is_known_metric(bad), "{bad}");
        }
    }

    #[test]
    fn ranges() {
        assert_eq!(metric_range("accuracy"), (0.0, 1.0));
        assert_eq!(metric_range("estimated.roc_auc"), (0.0, 1.0));
        assert_eq!(metric_range("rmse"), (0.0, f64::INFINITY));
        assert_eq!(metric_range("r2").1, 1.0);
        assert_eq!(metric_range("kpi.amount.sum").0, f64::NEG_INFINITY);
        assert_eq!(metric_range("quality.violation_rate"), (0.0, 1.0));
        assert_eq!(metric_range("quality.age.unknown_rate"), (0.0, 1.0));
        assert_eq!(metric_range("quality.errors"), (0.0, f64::INFINITY));
    }
}
