//! Confidence-based performance estimation (CBPE) for binary classifiers, as NannyML 0.13
//! does it (`nannyml/performance_estimation/confidence_based/`).
//!
//! # What is computed
//! - **Fit** ([`Cbpe::fit`]) on a labelled reference: per metric, the sampling-error components
//!   of `nannyml/sampling_error/binary_classification.py` (a standard deviation of
//!   observation-level values and a fraction of relevant rows), the metric *realised* on each
//!   reference chunk (on the **uncalibrated** scores, nannyml#98) and from those the alert band
//!   ([`crate::threshold`], mean ± 3σ clipped to `[0, 1]`); then NannyML's calibration check
//!   ([`needs_calibration`]) and, when it says so, an isotonic calibrator fitted on the whole
//!   reference.
//! - **Estimate** on a window without labels: the scores calibrated (if kept), then the
//!   expected confusion matrix `TP = Σ p·[ŷ=1]`, `FP = Σ (1−p)·[ŷ=1]`, `FN = Σ p·[ŷ=0]`,
//!   `TN = Σ (1−p)·[ŷ=0]` gives F1 `TP / (TP + ½(FP+FN))`, precision, recall and accuracy
//!   (0 where a denominator is 0, as NannyML); ROC AUC is estimated from the calibrated
//!   scores ordered by the uncalibrated ones (NannyML's `estimate_roc_auc`, whose curve points
//!   are rounded to 5 decimals). Each estimate carries its sampling error
//!   `σ / √(n · fraction)` and the band `value ∓ 3·SE` clipped to `[0, 1]`.
//! - **Business value** ([`BusinessValue`]): `Σ value-matrix ⊙ confusion-matrix`, with the
//!   matrix written `[[TN, FP], [FN, TP]]` as NannyML's `business_value_matrix`; optionally
//!   normalised `per_prediction`, which in NannyML divides each *predicted-class column* of
//!   the confusion matrix by its sum (so the value is a sum of two per-column averages, not a
//!   value per row).
//!
//! # Reproducibility
//! The arithmetic follows NumPy's (pairwise sums, the same operation order), so on the same
//! data the estimates, sampling errors, bands and the calibration decision equal NannyML's
//! (see `tests/cbpe.rs`). Where NumPy sorts with its unstable default `argsort` we sort
//! stably; this only matters for tied scores (see [`calibration`] and the ROC AUC sampling
//! error, which ranks the reference scores).
//!
//! # Defined behaviour where NannyML yields NaN or raises
//! A reference with one class only, no positive (or no negative) prediction, fewer than 11
//! rows or fewer than 2 rows of a class is a typed error at fit (NannyML returns NaN sampling
//! errors or raises in the stratified split). A metric that cannot be estimated on a window
//! (ROC AUC when every calibrated score is 0 or every one is 1) is absent from the result,
//! never NaN.

pub mod calibration;

use std::collections::BTreeMap;
use std::ops::Range;

use serde::{Deserialize, Serialize};

pub use calibration::{
    needs_calibration, stratified_shuffle_split, CalibrationCheck, IsotonicCalibrator,
};

use crate::error::{Error, Result};
use crate::threshold::{np_mean, np_std, np_sum, Band, Threshold};
use crate::values::{Estimate, LabelFreeEstimator};

/// NannyML's `SAMPLING_ERROR_RANGE`: the confidence band is ± this many sampling errors.
pub const SAMPLING_ERROR_RANGE: f64 = 3.0;

/// How rows are cut into chunks (NannyML's `SizeBasedChunker` / `CountBasedChunker`, both with
/// `incomplete='keep'`: a shorter last chunk is kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Chunking {
    /// Chunks of this many rows (`chunk_size=`).
    Size(usize),
    /// `n / k` rows per chunk (`chunk_number=k`; NannyML's default chunker is `Number(10)`).
    Number(usize),
}

impl Default for Chunking {
    fn default() -> Self {
        Chunking::Number(10)
    }
}

impl Chunking {
    /// The row ranges of `n` rows, in order.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a zero size or count, or a count larger than `n` (a chunk
    /// size of 0, which NannyML refuses).
    pub fn split(&self, n: usize) -> Result<Vec<Range<usize>>> {
        let size = match *self {
            Chunking::Size(0) => {
                return Err(Error::invalid("chunking", "chunk size must be at least 1"));
            }
            Chunking::Size(s) => s,
            Chunking::Number(0) => {
                return Err(Error::invalid(
                    "chunking",
                    "chunk number must be at least 1",
                ));
            }
            Chunking::Number(_) if n == 0 => return Ok(Vec::new()),
            Chunking::Number(k) => {
                if n / k == 0 {
                    return Err(Error::invalid(
                        "chunking",
                        format!("{n} rows cannot be cut into {k} chunks"),
                    ));
                }
                n / k
            }
        };
        Ok((0..n).step_by(size).map(|s| s..(s + size).min(n)).collect())
    }
}

/// A metric CBPE estimates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CbpeMetric {
    /// ROC AUC.
    RocAuc,
    /// F1 of the positive class.
    F1,
    /// Precision of the positive class.
    Precision,
    /// Recall of the positive class.
    Recall,
    /// Accuracy.
    Accuracy,
}

impl CbpeMetric {
    /// Every metric, in [`crate::values::ESTIMATED_METRICS`] order.
    pub const ALL: [CbpeMetric; 5] = [
        CbpeMetric::RocAuc,
        CbpeMetric::F1,
        CbpeMetric::Accuracy,
        CbpeMetric::Precision,
        CbpeMetric::Recall,
    ];

    /// The metric's name (`roc_auc`, `f1`, `accuracy`, `precision`, `recall`).
    pub fn name(self) -> &'static str {
        match self {
            CbpeMetric::RocAuc => "roc_auc",
            CbpeMetric::F1 => "f1",
            CbpeMetric::Precision => "precision",
            CbpeMetric::Recall => "recall",
            CbpeMetric::Accuracy => "accuracy",
        }
    }
}

/// How business value is normalised (NannyML's `normalize_business_value`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueNormalization {
    /// `None`: the total value of the window.
    #[default]
    Total,
    /// `'per_prediction'`: each predicted-class column of the confusion matrix divided by its
    /// sum (an empty column contributes 0).
    PerPrediction,
}

/// A value matrix: the gain (or, negative, the cost) of each confusion-matrix cell.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BusinessValue {
    /// `[[TN, FP], [FN, TP]]` (row: true class, column: predicted class), NannyML's
    /// `business_value_matrix`.
    pub matrix: [[f64; 2]; 2],
    /// Normalisation.
    pub normalize: ValueNormalization,
}

impl BusinessValue {
    fn check(&self) -> Result<()> {
        if self.matrix.iter().flatten().any(|v| !v.is_finite()) {
            return Err(Error::invalid(
                "business value matrix",
                "every entry must be finite",
            ));
        }
        Ok(())
    }

    /// `Σ matrix ⊙ cm` for a confusion matrix `[tp, fp, fn, tn]` (counts or expected counts),
    /// normalised as configured (NannyML's `(bv_array * cm).sum()`).
    pub fn value(&self, confusion: [f64; 4]) -> f64 {
        let [tp, fp, fneg, tn] = confusion;
        let mut cm = [[tn, fp], [fneg, tp]];
        if self.normalize == ValueNormalization::PerPrediction {
            for col in 0..2 {
                let s = cm[0][col] + cm[1][col];
                for row in &mut cm {
                    let v = row[col] / s;
                    // np.nan_to_num: 0/0 → 0 (x/0 with x ≠ 0 cannot happen: counts are ≥ 0).
                    row[col] = if v.is_nan() { 0.0 } else { v };
                }
            }
        }
        let m = self.matrix;
        let mut sum = 0.0;
        for (r, row) in cm.iter().enumerate() {
            for (c, v) in row.iter().enumerate() {
                sum += m[r][c] * v;
            }
        }
        sum
    }

    /// The realised value of a labelled window.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for slices of different lengths or a non-finite matrix entry.
    pub fn realised(&self, labels: &[bool], predicted: &[bool]) -> Result<f64> {
        self.check()?;
        check_len("labels", labels.len(), predicted.len())?;
        Ok(self.value(counts(labels, predicted)))
    }
}

fn counts(labels: &[bool], predicted: &[bool]) -> [f64; 4] {
    let mut c = [0u64; 4];
    for (&t, &p) in labels.iter().zip(predicted) {
        c[match (t, p) {
            (true, true) => 0,
            (false, true) => 1,
            (true, false) => 2,
            (false, false) => 3,
        }] += 1;
    }
    c.map(|v| v as f64)
}

/// What to fit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CbpeOptions {
    /// How the reference (and [`Cbpe::estimate_chunks`]'s input) is chunked.
    pub chunking: Chunking,
    /// The metrics to estimate.
    pub metrics: Vec<CbpeMetric>,
    /// The alert threshold rule (NannyML's default: mean ± 3σ).
    pub threshold: Threshold,
    /// A value matrix, to estimate business value too.
    pub business_value: Option<BusinessValue>,
}

impl Default for CbpeOptions {
    fn default() -> Self {
        CbpeOptions {
            chunking: Chunking::default(),
            metrics: CbpeMetric::ALL.to_vec(),
            threshold: Threshold::default(),
            business_value: None,
        }
    }
}

/// One metric's fitted state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FittedMetric {
    /// The metric.
    pub metric: CbpeMetric,
    /// Sampling-error component: standard deviation of the observation-level values.
    pub std: f64,
    /// Sampling-error component: fraction of relevant rows (1 for accuracy).
    pub fraction: f64,
    /// The metric realised on each reference chunk (`None` where undefined: one class).
    pub reference_realised: Vec<Option<f64>>,
    /// The alert band.
    pub band: Band,
}

impl FittedMetric {
    /// The sampling error of an estimate on `n` rows: `std / √(n · fraction)`.
    pub fn sampling_error(&self, n: usize) -> f64 {
        self.std / (n as f64 * self.fraction).sqrt()
    }
}

/// The business value's fitted state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FittedBusinessValue {
    /// The value matrix.
    pub value: BusinessValue,
    /// Standard deviation of the observation-level value on the reference.
    pub std: f64,
    /// Realised value of each reference chunk.
    pub reference_realised: Vec<f64>,
    /// The alert band (not clipped: business value is unbounded).
    pub band: Band,
}

impl FittedBusinessValue {
    /// The sampling error of the value on `n` rows (NannyML's `business_value_sampling_error`:
    /// `std·n / √n` for the total, `std / √n` per prediction).
    pub fn sampling_error(&self, n: usize) -> f64 {
        let nf = n as f64;
        match self.value.normalize {
            ValueNormalization::Total => self.std * nf / nf.sqrt(),
            ValueNormalization::PerPrediction => self.std / nf.sqrt(),
        }
    }
}

/// One estimated metric on one window, with its alert band.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MetricEstimate {
    /// Value, sampling error and the ±3 SE confidence band.
    pub estimate: Estimate,
    /// The alert band fitted on the reference.
    pub band: Band,
    /// Whether the estimated value is strictly outside the band.
    pub alert: bool,
}

/// The estimates of one chunk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkEstimate {
    /// Rows `start..end` of the input.
    pub rows: Range<usize>,
    /// Metric name (`roc_auc`, …, and `business_value` when configured) → estimate. A metric
    /// that cannot be estimated on this chunk is absent.
    pub metrics: BTreeMap<String, MetricEstimate>,
}

/// A fitted CBPE estimator. Serialisable, so it can be saved next to a reference profile;
/// deserialisation re-checks its invariants.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "CbpeParts", into = "CbpeParts")]
pub struct Cbpe {
    parts: CbpeParts,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct CbpeParts {
    chunking: Chunking,
    reference_rows: usize,
    calibration: CalibrationCheck,
    calibrator: Option<IsotonicCalibrator>,
    metrics: Vec<FittedMetric>,
    business_value: Option<FittedBusinessValue>,
}

impl From<Cbpe> for CbpeParts {
    fn from(c: Cbpe) -> Self {
        c.parts
    }
}

fn nonneg(x: f64) -> bool {
    x.is_finite() && x >= 0.0
}

fn band_ok(b: &Band) -> bool {
    b.lower.is_none_or(f64::is_finite) && b.upper.is_none_or(f64::is_finite)
}

impl TryFrom<CbpeParts> for Cbpe {
    type Error = Error;
    fn try_from(p: CbpeParts) -> Result<Self> {
        let bad = |reason: String| Err(Error::invalid("fitted CBPE", reason));
        if p.calibration.needed != p.calibrator.is_some() {
            return bad("calibrator presence disagrees with the calibration decision".into());
        }
        for m in &p.metrics {
            let valid = nonneg(m.std) && m.fraction > 0.0 && m.fraction <= 1.0 && band_ok(&m.band);
            if !valid {
                return bad(format!("metric {} has invalid components", m.metric.name()));
            }
        }
        if let Some(b) = &p.business_value {
            b.value.check()?;
            if !(nonneg(b.std) && band_ok(&b.band)) {
                return bad("business value has invalid components".into());
            }
        }
        Ok(Cbpe { parts: p })
    }
}

fn check_len(what: &str, a: usize, b: usize) -> Result<()> {
    if a != b {
        return Err(Error::invalid(
            what,
            format!("{a} values but {b} predictions (the lengths must match)"),
        ));
    }
    Ok(())
}

fn check_scores(what: &str, scores: &[f64], predicted: &[bool]) -> Result<()> {
    if scores.is_empty() {
        return Err(Error::invalid(what, "no rows"));
    }
    check_len(what, scores.len(), predicted.len())?;
    check_probabilities(what, scores)
}

fn check_probabilities(what: &str, scores: &[f64]) -> Result<()> {
    if let Some(i) = scores
        .iter()
        .position(|s| !(s.is_finite() && (0.0..=1.0).contains(s)))
    {
        return Err(Error::invalid(
            what,
            format!(
                "score [{i}] is {} (must be a probability in [0, 1])",
                scores[i]
            ),
        ));
    }
    Ok(())
}

/// The expected confusion matrix `[tp, fp, fn, tn]` of (calibrated) positive-class
/// probabilities and predicted classes: `tp = Σ p` and `fp = Σ (1 − p)` over rows predicted
/// positive, `fn = Σ p` and `tn = Σ (1 − p)` over rows predicted negative.
///
/// # Errors
/// [`Error::InvalidInput`] for empty input, different lengths, or a probability outside
/// `[0, 1]` or NaN.
pub fn expected_confusion(probabilities: &[f64], predicted: &[bool]) -> Result<[f64; 4]> {
    check_scores("expected confusion", probabilities, predicted)?;
    Ok(expected_sums(probabilities, predicted))
}

/// Column arrays as NumPy builds them (`np.where(y_pred == 1, p, 0)`, …): full length, zeros
/// in place, so that the pairwise sums equal NumPy's.
fn where_arrays(p: &[f64], predicted: &[bool]) -> [Vec<f64>; 4] {
    let pick = |cond: bool, v: f64| if cond { v } else { 0.0 };
    let tp = p.iter().zip(predicted).map(|(&x, &y)| pick(y, x)).collect();
    let fp = p
        .iter()
        .zip(predicted)
        .map(|(&x, &y)| pick(y, 1.0 - x))
        .collect();
    let fneg = p
        .iter()
        .zip(predicted)
        .map(|(&x, &y)| pick(!y, x))
        .collect();
    let tn = p
        .iter()
        .zip(predicted)
        .map(|(&x, &y)| pick(!y, 1.0 - x))
        .collect();
    [tp, fp, fneg, tn]
}

fn expected_sums(p: &[f64], predicted: &[bool]) -> [f64; 4] {
    where_arrays(p, predicted).map(|a| np_sum(&a))
}

fn ratio(num: f64, den: f64) -> f64 {
    if den != 0.0 {
        num / den
    } else {
        0.0
    }
}

/// NannyML's `estimate_roc_auc(calibrated, uncalibrated)`; `None` where it yields NaN.
fn estimate_roc_auc(calibrated: &[f64], uncalibrated: &[f64]) -> Option<f64> {
    let n = calibrated.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| uncalibrated[a].total_cmp(&uncalibrated[b]));
    order.reverse();
    let round5 = |x: f64| (x * 100_000.0).round_ties_even() / 100_000.0;
    let mut tps = Vec::with_capacity(n + 1);
    let mut fps = Vec::with_capacity(n + 1);
    tps.push(0.0);
    fps.push(0.0);
    let mut cum = 0.0;
    for (i, &k) in order.iter().enumerate() {
        cum += calibrated[k];
        tps.push(round5(cum));
        fps.push(round5((1 + i) as f64 - cum));
    }
    let (tl, fl) = (tps[n], fps[n]);
    let tpr: Vec<f64> = tps.iter().map(|t| t / tl).collect();
    let fpr: Vec<f64> = fps.iter().map(|f| f / fl).collect();
    let dx: Vec<f64> = fpr.windows(2).map(|w| w[1] - w[0]).collect();
    let direction = if dx.iter().any(|&d| d < 0.0) {
        if dx.iter().all(|&d| d <= 0.0) {
            -1.0
        } else {
            return None; // sklearn.metrics.auc raises; NannyML reports NaN
        }
    } else {
        1.0
    };
    let terms: Vec<f64> = dx
        .iter()
        .enumerate()
        .map(|(i, d)| d * (tpr[i + 1] + tpr[i]) / 2.0)
        .collect();
    let area = direction * np_sum(&terms);
    area.is_finite().then_some(area)
}

/// A metric realised on labelled rows as NannyML's `_realized_performance` computes it (on the
/// uncalibrated scores): `None` where NannyML returns NaN — ROC AUC with one class in
/// `labels`; F1, precision and recall with one class in `labels` or in `predicted`.
///
/// # Errors
/// [`Error::InvalidInput`] for empty input, different lengths, or a score outside `[0, 1]`.
pub fn realised_metric(
    metric: CbpeMetric,
    labels: &[bool],
    scores: &[f64],
    predicted: &[bool],
) -> Result<Option<f64>> {
    check_scores("labelled window", scores, predicted)?;
    check_len("labels", labels.len(), predicted.len())?;
    Ok(realised(metric, labels, scores, predicted))
}

fn realised(
    metric: CbpeMetric,
    labels: &[bool],
    scores: &[f64],
    predicted: &[bool],
) -> Option<f64> {
    if labels.is_empty() {
        return None;
    }
    let one_class = |v: &[bool]| v.iter().all(|&x| x == v[0]);
    match metric {
        CbpeMetric::RocAuc => {
            if one_class(labels) {
                return None;
            }
            mlops_core::metrics::roc_auc(labels, scores).ok()
        }
        CbpeMetric::Accuracy => mlops_core::metrics::accuracy(labels, predicted).ok(),
        CbpeMetric::F1 | CbpeMetric::Precision | CbpeMetric::Recall => {
            if one_class(labels) || one_class(predicted) {
                return None;
            }
            let report = mlops_core::metrics::classification_report(labels, predicted).ok()?;
            let c = report.class(&true)?;
            Some(match metric {
                CbpeMetric::F1 => c.f1,
                CbpeMetric::Precision => c.precision,
                _ => c.recall,
            })
        }
    }
}

/// The sampling-error components `(std, fraction)` of `nannyml.sampling_error.
/// binary_classification.<metric>_sampling_error_components`.
fn components(
    metric: CbpeMetric,
    labels: &[bool],
    scores: &[f64],
    predicted: &[bool],
) -> Result<(f64, f64)> {
    let n = labels.len();
    let [tp, fp, fneg, _tn] = counts(labels, predicted).map(|c| c as usize);
    let ones = |k: usize, v: f64| std::iter::repeat_n(v, k);
    let undefined = |why: &str| {
        Err(Error::invalid(
            "reference",
            format!("{} sampling error is undefined: {why}", metric.name()),
        ))
    };
    match metric {
        CbpeMetric::RocAuc => {
            let as_f = |b: bool| if b { 1.0 } else { 0.0 };
            let y: Vec<f64> = labels.iter().map(|&b| as_f(b)).collect();
            let (y, s): (Vec<f64>, Vec<f64>) = if np_mean(&y) > 0.5 {
                (
                    y.iter().map(|v| (v - 1.0).abs()).collect(),
                    scores.iter().map(|p| 1.0 - p).collect(),
                )
            } else {
                (y, scores.to_vec())
            };
            let mut order: Vec<usize> = (0..n).collect();
            order.sort_by(|&a, &b| s[a].total_cmp(&s[b]));
            // np.unique(y * rank)[1:]: ranks of positives, without rank 0.
            let ranks: Vec<usize> = order
                .iter()
                .enumerate()
                .filter(|&(r, &k)| y[k] == 1.0 && r > 0)
                .map(|(r, _)| r)
                .collect();
            let n_pos = y.iter().filter(|&&v| v == 1.0).count();
            let n_neg = n - n_pos;
            if ranks.is_empty() || n_neg == 0 {
                return undefined("the reference has a single class");
            }
            let ser: Vec<f64> = ranks
                .iter()
                .enumerate()
                .map(|(i, &r)| (r - i) as f64 / n_neg as f64)
                .collect();
            Ok((np_std(&ser), n_pos as f64 / n as f64))
        }
        CbpeMetric::F1 => {
            let len = tp + fneg + fp;
            if len == 0 {
                return undefined("no true positive, false positive or false negative");
            }
            let cf = len as f64 / ((fneg + fp) as f64 * 0.5 + tp as f64);
            let obs: Vec<f64> = ones(tp, cf).chain(ones(fneg + fp, 0.0)).collect();
            Ok((np_std(&obs), len as f64 / n as f64))
        }
        CbpeMetric::Precision => {
            if tp + fp == 0 {
                return undefined("the reference has no positive prediction");
            }
            let obs: Vec<f64> = ones(tp, 1.0).chain(ones(fp, 0.0)).collect();
            Ok((np_std(&obs), (tp + fp) as f64 / n as f64))
        }
        CbpeMetric::Recall => {
            if tp + fneg == 0 {
                return undefined("the reference has no positive label");
            }
            let obs: Vec<f64> = ones(tp, 1.0).chain(ones(fneg, 0.0)).collect();
            Ok((np_std(&obs), (tp + fneg) as f64 / n as f64))
        }
        CbpeMetric::Accuracy => {
            let correct: Vec<f64> = labels
                .iter()
                .zip(predicted)
                .map(|(a, b)| if a == b { 1.0 } else { 0.0 })
                .collect();
            Ok((np_std(&correct), 1.0))
        }
    }
}

fn estimate_with_band(value: f64, se: f64, range: (f64, f64)) -> Estimate {
    Estimate {
        value,
        sampling_error: se,
        lower: (value - SAMPLING_ERROR_RANGE * se).max(range.0),
        upper: (value + SAMPLING_ERROR_RANGE * se).min(range.1),
    }
}

impl Cbpe {
    /// Fits on a labelled reference: positive-class scores in `[0, 1]`, true labels and
    /// predicted classes, one per row.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for empty or mismatched input, a score outside `[0, 1]` or NaN,
    /// no metric requested, invalid chunking or value matrix, a reference on which a sampling
    /// error is undefined (one class only, no positive prediction, …), too small for the
    /// calibration check (fewer than 11 rows or 2 rows of a class), or one whose chunks all
    /// leave a metric undefined (no band can be derived).
    pub fn fit(
        reference_scores: &[f64],
        reference_labels: &[bool],
        reference_predicted: &[bool],
        opts: &CbpeOptions,
    ) -> Result<Cbpe> {
        check_scores("reference", reference_scores, reference_predicted)?;
        check_len(
            "reference labels",
            reference_labels.len(),
            reference_scores.len(),
        )?;
        if opts.metrics.is_empty() && opts.business_value.is_none() {
            return Err(Error::invalid("CBPE options", "no metric to estimate"));
        }
        let mut wanted = opts.metrics.clone();
        wanted.sort();
        wanted.dedup();
        if wanted.len() != opts.metrics.len() {
            return Err(Error::invalid("CBPE options", "a metric is listed twice"));
        }
        let (s, y, p) = (reference_scores, reference_labels, reference_predicted);
        let chunks = opts.chunking.split(s.len())?;
        let mut metrics = Vec::with_capacity(opts.metrics.len());
        for &metric in &opts.metrics {
            let (std, fraction) = components(metric, y, s, p)?;
            let reference_realised: Vec<Option<f64>> = chunks
                .iter()
                .map(|r| realised(metric, &y[r.clone()], &s[r.clone()], &p[r.clone()]))
                .collect();
            let values: Vec<f64> = reference_realised
                .iter()
                .map(|v| v.unwrap_or(f64::NAN))
                .collect();
            let band = opts.threshold.band(&values, (0.0, 1.0)).map_err(|e| {
                Error::invalid(
                    format!("{} thresholds", metric.name()),
                    format!("no band from the reference chunks: {e}"),
                )
            })?;
            metrics.push(FittedMetric {
                metric,
                std,
                fraction,
                reference_realised,
                band,
            });
        }
        let business_value = match opts.business_value {
            None => None,
            Some(bv) => {
                bv.check()?;
                let m = bv.matrix;
                let obs: Vec<f64> = y
                    .iter()
                    .zip(p)
                    .map(|(&t, &q)| {
                        let is = |c: bool| if c { 1.0 } else { 0.0 };
                        is(t && q) * m[1][1]
                            + is(!t && !q) * m[0][0]
                            + is(!t && q) * m[0][1]
                            + is(t && !q) * m[1][0]
                    })
                    .collect();
                let reference_realised: Vec<f64> = chunks
                    .iter()
                    .map(|r| bv.value(counts(&y[r.clone()], &p[r.clone()])))
                    .collect();
                let band = opts
                    .threshold
                    .band(&reference_realised, (f64::NEG_INFINITY, f64::INFINITY))?;
                Some(FittedBusinessValue {
                    value: bv,
                    std: np_std(&obs),
                    reference_realised,
                    band,
                })
            }
        };
        let calibration = needs_calibration(y, s)?;
        let calibrator = if calibration.needed {
            Some(IsotonicCalibrator::fit(s, y)?)
        } else {
            None
        };
        Ok(Cbpe {
            parts: CbpeParts {
                chunking: opts.chunking,
                reference_rows: s.len(),
                calibration,
                calibrator,
                metrics,
                business_value,
            },
        })
    }

    /// The calibration decision (and the two ECEs behind it).
    pub fn calibration(&self) -> CalibrationCheck {
        self.parts.calibration
    }

    /// The isotonic calibrator, when calibration was kept.
    pub fn calibrator(&self) -> Option<&IsotonicCalibrator> {
        self.parts.calibrator.as_ref()
    }

    /// The fitted metrics (sampling-error components, reference chunks, bands).
    pub fn metrics(&self) -> &[FittedMetric] {
        &self.parts.metrics
    }

    /// The fitted business value, when a value matrix was given.
    pub fn business_value(&self) -> Option<&FittedBusinessValue> {
        self.parts.business_value.as_ref()
    }

    /// The chunking the reference was fitted with (and [`Cbpe::estimate_chunks`] uses).
    pub fn chunking(&self) -> Chunking {
        self.parts.chunking
    }

    /// Rows in the reference.
    pub fn reference_rows(&self) -> usize {
        self.parts.reference_rows
    }

    /// The alert band of `metric`, if it was fitted.
    pub fn band(&self, metric: CbpeMetric) -> Option<Band> {
        self.parts
            .metrics
            .iter()
            .find(|m| m.metric == metric)
            .map(|m| m.band)
    }

    /// The scores calibrated as the estimates use them (unchanged when calibration was not
    /// kept).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a score outside `[0, 1]` or NaN.
    pub fn calibrate(&self, scores: &[f64]) -> Result<Vec<f64>> {
        check_probabilities("window", scores)?;
        Ok(self.calibrated(scores))
    }

    fn calibrated(&self, scores: &[f64]) -> Vec<f64> {
        match &self.parts.calibrator {
            Some(c) => c.calibrate(scores),
            None => scores.to_vec(),
        }
    }

    /// Estimates every fitted metric (and the business value) on one window, with alert flags.
    ///
    /// # Errors
    /// As [`LabelFreeEstimator::estimate`].
    pub fn estimate_chunk(&self, scores: &[f64], predicted: &[bool]) -> Result<ChunkEstimate> {
        check_scores("window", scores, predicted)?;
        Ok(self.estimate_unchecked(scores, predicted, 0..scores.len()))
    }

    /// Cuts the rows with the fitted [`Chunking`] and estimates each chunk (NannyML's
    /// `CBPE.estimate(analysis)`).
    ///
    /// # Errors
    /// As [`LabelFreeEstimator::estimate`], and [`Error::InvalidInput`] when the chunking
    /// cannot cut this many rows.
    pub fn estimate_chunks(
        &self,
        scores: &[f64],
        predicted: &[bool],
    ) -> Result<Vec<ChunkEstimate>> {
        check_scores("window", scores, predicted)?;
        let chunks = self.parts.chunking.split(scores.len())?;
        Ok(chunks
            .into_iter()
            .map(|r| self.estimate_unchecked(&scores[r.clone()], &predicted[r.clone()], r))
            .collect())
    }

    fn estimate_unchecked(
        &self,
        scores: &[f64],
        predicted: &[bool],
        rows: Range<usize>,
    ) -> ChunkEstimate {
        let cal = self.calibrated(scores);
        let n = scores.len();
        let [tp, fp, fneg, tn] = expected_sums(&cal, predicted);
        let mut metrics = BTreeMap::new();
        for m in &self.parts.metrics {
            let value = match m.metric {
                CbpeMetric::RocAuc => estimate_roc_auc(&cal, scores),
                CbpeMetric::F1 => Some(ratio(tp, tp + 0.5 * (fp + fneg))),
                CbpeMetric::Precision => Some(ratio(tp, tp + fp)),
                CbpeMetric::Recall => Some(ratio(tp, tp + fneg)),
                CbpeMetric::Accuracy => Some((tp + tn) / n as f64),
            };
            let Some(value) = value else { continue };
            let estimate = estimate_with_band(value, m.sampling_error(n), (0.0, 1.0));
            metrics.insert(
                m.metric.name().to_string(),
                MetricEstimate {
                    estimate,
                    band: m.band,
                    alert: m.band.breached(value),
                },
            );
        }
        if let Some(b) = &self.parts.business_value {
            let value = business_value_estimate(&b.value, &cal, predicted);
            let estimate = estimate_with_band(
                value,
                b.sampling_error(n),
                (f64::NEG_INFINITY, f64::INFINITY),
            );
            metrics.insert(
                "business_value".to_string(),
                MetricEstimate {
                    estimate,
                    band: b.band,
                    alert: b.band.breached(value),
                },
            );
        }
        ChunkEstimate { rows, metrics }
    }

    /// The estimated business value of a window, with its sampling error (NannyML's
    /// `estimate_business_value`; the band is not clipped).
    ///
    /// # Errors
    /// As [`LabelFreeEstimator::estimate`], and [`Error::InvalidInput`] when no value matrix
    /// was fitted.
    pub fn estimated_business_value(&self, scores: &[f64], predicted: &[bool]) -> Result<Estimate> {
        let b = self.parts.business_value.as_ref().ok_or_else(|| {
            Error::invalid(
                "business value",
                "the estimator was fitted without a value matrix",
            )
        })?;
        check_scores("window", scores, predicted)?;
        let cal = self.calibrated(scores);
        let value = business_value_estimate(&b.value, &cal, predicted);
        Ok(estimate_with_band(
            value,
            b.sampling_error(scores.len()),
            (f64::NEG_INFINITY, f64::INFINITY),
        ))
    }
}

/// `estimate_business_value`: the expected confusion matrix as `np.mean(...) * len`, then
/// [`BusinessValue::value`].
fn business_value_estimate(bv: &BusinessValue, cal: &[f64], predicted: &[bool]) -> f64 {
    let n = cal.len() as f64;
    let cm = where_arrays(cal, predicted).map(|a| np_sum(&a) / n * n);
    bv.value(cm)
}

impl LabelFreeEstimator for Cbpe {
    fn estimate(&self, scores: &[f64], predicted: &[bool]) -> Result<BTreeMap<String, Estimate>> {
        check_scores("window", scores, predicted)?;
        let chunk = self.estimate_unchecked(scores, predicted, 0..scores.len());
        Ok(chunk
            .metrics
            .into_iter()
            .filter(|(k, _)| k != "business_value")
            .map(|(k, v)| (k, v.estimate))
            .collect())
    }

    fn expected_confusion(&self, scores: &[f64], predicted: &[bool]) -> Result<[f64; 4]> {
        check_scores("window", scores, predicted)?;
        Ok(expected_sums(&self.calibrated(scores), predicted))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunking_as_nannyml() {
        assert_eq!(
            Chunking::Size(4).split(10).unwrap(),
            vec![0..4, 4..8, 8..10]
        );
        // CountBasedChunker(3) on 10 rows: size 3, the incomplete chunk kept → 4 chunks.
        assert_eq!(
            Chunking::Number(3).split(10).unwrap(),
            vec![0..3, 3..6, 6..9, 9..10]
        );
        assert!(Chunking::Number(11).split(10).is_err());
        assert!(Chunking::Size(0).split(10).is_err());
        assert!(Chunking::Size(3).split(0).unwrap().is_empty());
    }

    #[test]
    fn roc_auc_estimate_of_perfectly_confident_scores() {
        // Calibrated = uncalibrated ∈ {0, 1}: the curve is a step, AUC 1.
        let p = [1.0, 1.0, 0.0, 0.0];
        assert_eq!(estimate_roc_auc(&p, &p), Some(1.0));
        // All ones: no expected negatives, fpr is 0/0 → undefined.
        assert_eq!(estimate_roc_auc(&[1.0, 1.0], &[1.0, 1.0]), None);
    }
}
