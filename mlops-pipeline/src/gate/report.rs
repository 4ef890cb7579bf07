//! The gate's verdict, [`GateReport`]: the "blessing" stored on a registered version.
//!
//! It is plain serde JSON. Non-finite metric values (which only reach a report through
//! [`super::MetricThreshold::check`] called by hand) are written as `"NaN"`, `"inf"`, `"-inf"`.

use serde::{Deserialize, Serialize};

use super::threshold::ThresholdResult;
use crate::error::{Error, Result};

/// The gate's verdict on one candidate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateReport {
    /// True when nothing failed: every metric, every segment, the bootstrap (when it is
    /// required) and the first-model policy. Equivalent to `reasons.is_empty()`.
    pub passed: bool,
    /// Whether a champion was compared with.
    pub has_champion: bool,
    /// Number of held-out rows both models were scored on.
    pub n_rows: usize,
    /// SHA-256 (hex) of the row ids, when ids were given (see [`super::EvalInput::rows_digest`]).
    pub rows_digest: Option<String>,
    /// One result per metric of [`super::GateSpec::metrics`], in name order.
    pub metrics: Vec<ThresholdResult>,
    /// One entry per segment of [`super::GateSpec::segments`], in segment order.
    pub segments: Vec<SegmentReport>,
    /// The paired bootstrap, when the spec asks for one and there is a champion.
    pub bootstrap: Option<BootstrapResult>,
    /// Every failure with its numbers, e.g. `roc_auc: candidate 0.812 < threshold 0.85`;
    /// segment failures start with `segment <name>: `.
    pub reasons: Vec<String>,
    /// What was deliberately not checked and why (no champion, a skipped bootstrap).
    pub notes: Vec<String>,
}

impl GateReport {
    /// The report as pretty-printed JSON.
    ///
    /// # Errors
    /// [`Error::Json`] if serialisation fails (it does not for reports the gate builds).
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self).map_err(|source| Error::Json {
            what: "gate report".into(),
            source,
        })
    }

    /// Reads a report written by [`GateReport::to_json`].
    ///
    /// # Errors
    /// [`Error::Json`] when `text` is not a gate report.
    pub fn from_json(text: &str) -> Result<Self> {
        serde_json::from_str(text).map_err(|source| Error::Json {
            what: "gate report".into(),
            source,
        })
    }
}

/// The thresholds of one segment (TFX's slice), computed on that segment's rows only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentReport {
    /// The segment's label.
    pub segment: String,
    /// Number of rows in it.
    pub n_rows: usize,
    /// True when none of its metrics failed.
    pub passed: bool,
    /// One result per metric of the segment, in name order.
    pub metrics: Vec<ThresholdResult>,
}

/// A paired bootstrap of `metric(candidate) − metric(champion)` on the same resampled rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BootstrapResult {
    /// The metric.
    pub metric: String,
    /// Whether greater is better for it (the direction `require_positive` tests).
    pub greater_is_better: bool,
    /// `metric(candidate) − metric(champion)` on the rows as they are.
    pub observed_diff: f64,
    /// Mean of the differences over the resamples.
    pub diff_mean: f64,
    /// Lower percentile bound of the difference (`100·(1 − confidence)/2`).
    pub ci_low: f64,
    /// Upper percentile bound (`100·(1 + confidence)/2`).
    pub ci_high: f64,
    /// The confidence level of the interval.
    pub confidence: f64,
    /// Resamples asked for.
    pub n_resamples: usize,
    /// Resamples on which the metric was undefined for a model (e.g. ROC AUC with one class)
    /// and which were left out of the interval.
    pub n_skipped: usize,
    /// The seed of the ChaCha20 generator that drew the rows.
    pub seed: u64,
    /// True when the interval lies strictly on the better side of 0 (`ci_low > 0` when greater
    /// is better, `ci_high < 0` otherwise).
    pub improvement_significant: bool,
}
