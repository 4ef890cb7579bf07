//! Model-performance metrics that equal scikit-learn (checked against pinned sklearn 1.9 values).
//!
//! # Conventions
//! - **Labels** are any `Ord + Clone` type. As in sklearn's `unique_labels`, the label set of a
//!   classification metric is the sorted union of the labels in `y_true` and `y_pred`.
//! - **`zero_division`**: we follow sklearn with `zero_division=0`: precision of a class that is
//!   never predicted, recall of a class that never occurs, and F1 when precision + recall has a
//!   zero denominator are `0.0` (sklearn's default `"warn"` returns the same value with a warning).
//! - **Empty input** is [`Error::Empty`]; inputs of different lengths, NaN or ±inf are
//!   [`Error::InvalidInput`] (sklearn raises `ValueError` on all of them). A metric that is
//!   mathematically undefined for the data (ROC AUC with a single class, R² of one sample) is
//!   [`Error::Undefined`].
//!
//! ```
//! use mlops_core::metrics;
//! let y_true = ["cat", "dog", "dog", "bird"];
//! let y_pred = ["cat", "dog", "cat", "bird"];
//! let report = metrics::classification_report(&y_true, &y_pred)?;
//! assert_eq!(report.accuracy, 0.75);
//! assert_eq!(report.labels, vec!["bird", "cat", "dog"]);
//! assert_eq!(report.per_class[2].recall, 0.5); // dog: 1 of 2 found
//! # Ok::<(), mlops_core::Error>(())
//! ```

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

fn check_pair_len<A, B>(what: &str, a: &[A], b: &[B]) -> Result<()> {
    if a.is_empty() {
        return Err(Error::Empty {
            what: format!("{what} input"),
        });
    }
    if a.len() != b.len() {
        return Err(Error::invalid_input(
            what,
            format!(
                "y_true has {} samples but the prediction has {}",
                a.len(),
                b.len()
            ),
        ));
    }
    Ok(())
}

fn check_finite(what: &str, field: &str, xs: &[f64]) -> Result<()> {
    if let Some(i) = xs.iter().position(|x| !x.is_finite()) {
        return Err(Error::invalid_input(
            what,
            format!("{field}[{i}] is {} (NaN and ±inf are refused)", xs[i]),
        ));
    }
    Ok(())
}

/// Fraction of samples whose prediction equals the truth (`sklearn.metrics.accuracy_score`).
///
/// # Errors
/// [`Error::Empty`] for empty input; [`Error::InvalidInput`] when the lengths differ.
pub fn accuracy<T: PartialEq>(y_true: &[T], y_pred: &[T]) -> Result<f64> {
    check_pair_len("accuracy", y_true, y_pred)?;
    let hits = y_true.iter().zip(y_pred).filter(|(a, b)| a == b).count();
    Ok(hits as f64 / y_true.len() as f64)
}

/// A confusion matrix: `counts[i][j]` is the number of samples whose true label is
/// `labels[i]` and whose predicted label is `labels[j]` (sklearn's orientation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfusionMatrix<T> {
    /// Sorted union of true and predicted labels.
    pub labels: Vec<T>,
    /// Row = true label, column = predicted label.
    pub counts: Vec<Vec<u64>>,
}

/// Computes the confusion matrix (`sklearn.metrics.confusion_matrix(y_true, y_pred)`).
///
/// # Errors
/// [`Error::Empty`] for empty input; [`Error::InvalidInput`] when the lengths differ.
pub fn confusion_matrix<T: Ord + Clone>(y_true: &[T], y_pred: &[T]) -> Result<ConfusionMatrix<T>> {
    check_pair_len("confusion_matrix", y_true, y_pred)?;
    let mut labels: Vec<T> = y_true.iter().chain(y_pred).cloned().collect();
    labels.sort();
    labels.dedup();
    let k = labels.len();
    let mut counts = vec![vec![0u64; k]; k];
    for (t, p) in y_true.iter().zip(y_pred) {
        // Both labels are in `labels` by construction, so the searches succeed.
        if let (Ok(i), Ok(j)) = (labels.binary_search(t), labels.binary_search(p)) {
            counts[i][j] += 1;
        }
    }
    Ok(ConfusionMatrix { labels, counts })
}

/// Precision, recall, F1 and support of one class or one average.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClassScores {
    /// tp / (tp + fp), 0 when nothing was predicted as this class.
    pub precision: f64,
    /// tp / (tp + fn), 0 when the class never occurs.
    pub recall: f64,
    /// Harmonic mean of precision and recall, 0 when both are 0.
    pub f1: f64,
    /// Number of true samples of the class (for averages: all samples).
    pub support: u64,
}

/// Everything `sklearn.metrics.classification_report` shows, plus the confusion matrix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassificationReport<T> {
    /// Sorted union of true and predicted labels; `per_class[i]` belongs to `labels[i]`.
    pub labels: Vec<T>,
    /// Per-class scores (`average=None`).
    pub per_class: Vec<ClassScores>,
    /// Unweighted mean over classes (`average='macro'`).
    pub macro_avg: ClassScores,
    /// Global counts of tp, fp, fn (`average='micro'`).
    pub micro_avg: ClassScores,
    /// Mean weighted by support (`average='weighted'`).
    pub weighted_avg: ClassScores,
    /// Fraction of correct predictions.
    pub accuracy: f64,
    /// The confusion matrix behind the scores.
    pub confusion: ConfusionMatrix<T>,
}

impl<T: PartialEq> ClassificationReport<T> {
    /// The scores of one class, as `average='binary', pos_label=label` gives them.
    pub fn class(&self, label: &T) -> Option<&ClassScores> {
        self.labels
            .iter()
            .position(|l| l == label)
            .map(|i| &self.per_class[i])
    }
}

fn ratio(num: u64, den: u64) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

fn scores(tp: u64, fp: u64, fneg: u64, support: u64) -> ClassScores {
    let precision = ratio(tp, tp + fp);
    let recall = ratio(tp, tp + fneg);
    // sklearn >= 1.3 computes F1 as 2tp / (2tp + fp + fn), zero_division when that is 0/0.
    let f1 = ratio(2 * tp, 2 * tp + fp + fneg);
    ClassScores {
        precision,
        recall,
        f1,
        support,
    }
}

/// Per-class precision, recall, F1 and their macro, micro and weighted averages
/// (`sklearn.metrics.precision_recall_fscore_support` with `zero_division=0`).
///
/// # Errors
/// [`Error::Empty`] for empty input; [`Error::InvalidInput`] when the lengths differ.
pub fn classification_report<T: Ord + Clone>(
    y_true: &[T],
    y_pred: &[T],
) -> Result<ClassificationReport<T>> {
    let confusion = confusion_matrix(y_true, y_pred)?;
    let k = confusion.labels.len();
    let n = y_true.len() as u64;
    let mut per_class = Vec::with_capacity(k);
    let (mut tp_sum, mut fp_sum, mut fn_sum) = (0u64, 0u64, 0u64);
    for i in 0..k {
        let tp = confusion.counts[i][i];
        let support: u64 = confusion.counts[i].iter().sum();
        let predicted: u64 = confusion.counts.iter().map(|row| row[i]).sum();
        let (fp, fneg) = (predicted - tp, support - tp);
        tp_sum += tp;
        fp_sum += fp;
        fn_sum += fneg;
        per_class.push(scores(tp, fp, fneg, support));
    }
    let mean = |f: fn(&ClassScores) -> f64| per_class.iter().map(f).sum::<f64>() / k as f64;
    let weighted = |f: fn(&ClassScores) -> f64| {
        per_class
            .iter()
            .map(|c| f(c) * c.support as f64)
            .sum::<f64>()
            / n as f64
    };
    let macro_avg = ClassScores {
        precision: mean(|c| c.precision),
        recall: mean(|c| c.recall),
        f1: mean(|c| c.f1),
        support: n,
    };
    let weighted_avg = ClassScores {
        precision: weighted(|c| c.precision),
        recall: weighted(|c| c.recall),
        f1: weighted(|c| c.f1),
        support: n,
    };
    let micro_avg = scores(tp_sum, fp_sum, fn_sum, n);
    Ok(ClassificationReport {
        labels: confusion.labels.clone(),
        per_class,
        macro_avg,
        micro_avg,
        weighted_avg,
        accuracy: ratio(tp_sum, n),
        confusion,
    })
}

/// Area under the ROC curve of a binary problem (`sklearn.metrics.roc_auc_score(y_true, y_score)`).
///
/// # Formula
/// With `P` positives, `N` negatives and `r_i` the average rank (ties share the mean rank) of
/// positive `i` among all scores: `AUC = (Σ r_i − P(P+1)/2) / (P·N)`, the Mann–Whitney form,
/// which equals the trapezoidal area under sklearn's ROC curve.
///
/// # Errors
/// [`Error::Empty`] for empty input; [`Error::InvalidInput`] for different lengths or a
/// non-finite score; [`Error::Undefined`] when `y_true` holds a single class.
pub fn roc_auc(y_true: &[bool], y_score: &[f64]) -> Result<f64> {
    check_pair_len("roc_auc", y_true, y_score)?;
    check_finite("roc_auc", "y_score", y_score)?;
    let pos = y_true.iter().filter(|&&t| t).count();
    let neg = y_true.len() - pos;
    if pos == 0 || neg == 0 {
        return Err(Error::Undefined {
            metric: "roc_auc".into(),
            reason: "only one class is present in y_true".into(),
        });
    }
    let mut idx: Vec<usize> = (0..y_score.len()).collect();
    idx.sort_by(|&a, &b| y_score[a].total_cmp(&y_score[b]));
    let mut rank_sum_pos = 0.0;
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && y_score[idx[j + 1]] == y_score[idx[i]] {
            j += 1;
        }
        // Ranks i+1 ..= j+1 share their mean.
        let mean_rank = (i + j) as f64 / 2.0 + 1.0;
        let positives = idx[i..=j].iter().filter(|&&k| y_true[k]).count();
        rank_sum_pos += mean_rank * positives as f64;
        i = j + 1;
    }
    let (p, n) = (pos as f64, neg as f64);
    Ok((rank_sum_pos - p * (p + 1.0) / 2.0) / (p * n))
}

/// How one-vs-rest ROC AUCs are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AucAverage {
    /// Unweighted mean over classes (`average='macro'`, sklearn's default).
    Macro,
    /// Mean weighted by each class's prevalence in `y_true` (`average='weighted'`).
    Weighted,
}

fn check_proba(what: &str, y_proba: &[f64], n: usize, n_classes: usize) -> Result<()> {
    if n_classes < 2 {
        return Err(Error::invalid_input(
            what,
            format!("n_classes is {n_classes}; at least 2 are needed"),
        ));
    }
    if y_proba.len() != n * n_classes {
        return Err(Error::invalid_input(
            what,
            format!(
                "y_proba has {} values; expected {n} samples × {n_classes} classes",
                y_proba.len()
            ),
        ));
    }
    check_finite(what, "y_proba", y_proba)?;
    if let Some(i) = y_proba.iter().position(|p| !(0.0..=1.0).contains(p)) {
        return Err(Error::invalid_input(
            what,
            format!("y_proba[{i}] = {} is outside [0, 1]", y_proba[i]),
        ));
    }
    Ok(())
}

/// Multiclass ROC AUC, one-vs-rest
/// (`roc_auc_score(y_true, y_proba, multi_class='ovr', average=…)`).
///
/// `y_proba` is row-major `n_samples × n_classes`; column `c` scores class `c`, and `y_true`
/// holds class indices `0..n_classes`. As in sklearn, every row must sum to 1
/// (`np.allclose` tolerance: |s − 1| ≤ 1e-8 + 1e-5) and every class must occur in `y_true`.
///
/// # Errors
/// [`Error::Empty`] for no samples; [`Error::InvalidInput`] for a shape mismatch, a label
/// `≥ n_classes`, a value outside `[0, 1]` or non-finite, or a row not summing to 1;
/// [`Error::Undefined`] when a class is absent from `y_true`.
pub fn roc_auc_ovr(
    y_true: &[usize],
    y_proba: &[f64],
    n_classes: usize,
    average: AucAverage,
) -> Result<f64> {
    const WHAT: &str = "roc_auc_ovr";
    if y_true.is_empty() {
        return Err(Error::Empty {
            what: "roc_auc_ovr input".into(),
        });
    }
    check_proba(WHAT, y_proba, y_true.len(), n_classes)?;
    if let Some(i) = y_true.iter().position(|&t| t >= n_classes) {
        return Err(Error::invalid_input(
            WHAT,
            format!(
                "y_true[{i}] = {} is not below n_classes {n_classes}",
                y_true[i]
            ),
        ));
    }
    for (r, row) in y_proba.chunks_exact(n_classes).enumerate() {
        let s: f64 = row.iter().sum();
        if (s - 1.0).abs() > 1e-8 + 1e-5 {
            return Err(Error::invalid_input(
                WHAT,
                format!("row {r} of y_proba sums to {s}, not 1"),
            ));
        }
    }
    let mut total = 0.0;
    let mut weight_sum = 0.0;
    for c in 0..n_classes {
        let is_c: Vec<bool> = y_true.iter().map(|&t| t == c).collect();
        let score: Vec<f64> = y_proba.iter().skip(c).step_by(n_classes).copied().collect();
        let prevalence = is_c.iter().filter(|&&b| b).count() as f64;
        let auc = roc_auc(&is_c, &score).map_err(|_| Error::Undefined {
            metric: WHAT.into(),
            reason: format!("class {c} is absent from y_true (or is the only class)"),
        })?;
        let w = match average {
            AucAverage::Macro => 1.0,
            AucAverage::Weighted => prevalence,
        };
        total += w * auc;
        weight_sum += w;
    }
    Ok(total / weight_sum)
}

/// Cross-entropy of predicted class probabilities
/// (`sklearn.metrics.log_loss(y_true, y_proba, labels=range(n_classes))`), natural log.
///
/// # Formula
/// `L = −(1/n) Σ_i ln(clip(p_{i, y_i}, ε, 1 − ε))` with `ε = f64::EPSILON`, as sklearn clips
/// with the machine epsilon of the input dtype.
///
/// Stricter than sklearn, which only warns: a row that does not sum to 1 within
/// `√ε` relative is refused rather than silently scored.
///
/// # Errors
/// [`Error::Empty`] for no samples; [`Error::InvalidInput`] for a shape mismatch, a label
/// `≥ n_classes`, a probability outside `[0, 1]` or non-finite, or a row not summing to 1.
pub fn log_loss(y_true: &[usize], y_proba: &[f64], n_classes: usize) -> Result<f64> {
    const WHAT: &str = "log_loss";
    if y_true.is_empty() {
        return Err(Error::Empty {
            what: "log_loss input".into(),
        });
    }
    check_proba(WHAT, y_proba, y_true.len(), n_classes)?;
    let eps = f64::EPSILON;
    let mut total = 0.0;
    for (i, (row, &t)) in y_proba.chunks_exact(n_classes).zip(y_true).enumerate() {
        if t >= n_classes {
            return Err(Error::invalid_input(
                WHAT,
                format!("y_true[{i}] = {t} is not below n_classes {n_classes}"),
            ));
        }
        let s: f64 = row.iter().sum();
        if (s - 1.0).abs() > eps.sqrt() {
            return Err(Error::invalid_input(
                WHAT,
                format!("row {i} of y_proba sums to {s}, not 1"),
            ));
        }
        total -= row[t].clamp(eps, 1.0 - eps).ln();
    }
    Ok(total / y_true.len() as f64)
}

/// Binary log loss from the probability of the positive class
/// (`sklearn.metrics.log_loss(y_true, p)` with a 1-D `p`).
///
/// # Errors
/// As [`log_loss`].
pub fn log_loss_binary(y_true: &[bool], p_positive: &[f64]) -> Result<f64> {
    check_pair_len("log_loss", y_true, p_positive)?;
    check_finite("log_loss", "p_positive", p_positive)?;
    let labels: Vec<usize> = y_true.iter().map(|&b| usize::from(b)).collect();
    let proba: Vec<f64> = p_positive.iter().flat_map(|&p| [1.0 - p, p]).collect();
    log_loss(&labels, &proba, 2)
}

/// Regression metrics of one prediction vector.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RegressionReport {
    /// Mean absolute error.
    pub mae: f64,
    /// Mean squared error.
    pub mse: f64,
    /// Root mean squared error.
    pub rmse: f64,
    /// Coefficient of determination.
    pub r2: f64,
    /// Mean absolute percentage error (a fraction, not ×100).
    pub mape: f64,
}

fn check_regression(what: &str, y_true: &[f64], y_pred: &[f64]) -> Result<()> {
    check_pair_len(what, y_true, y_pred)?;
    check_finite(what, "y_true", y_true)?;
    check_finite(what, "y_pred", y_pred)
}

/// Mean absolute error `Σ|y − ŷ| / n` (`sklearn.metrics.mean_absolute_error`).
///
/// # Errors
/// [`Error::Empty`]; [`Error::InvalidInput`] for different lengths or non-finite values.
pub fn mean_absolute_error(y_true: &[f64], y_pred: &[f64]) -> Result<f64> {
    check_regression("mean_absolute_error", y_true, y_pred)?;
    Ok(y_true
        .iter()
        .zip(y_pred)
        .map(|(a, b)| (a - b).abs())
        .sum::<f64>()
        / y_true.len() as f64)
}

/// Mean squared error `Σ(y − ŷ)² / n` (`sklearn.metrics.mean_squared_error`).
///
/// # Errors
/// As [`mean_absolute_error`].
pub fn mean_squared_error(y_true: &[f64], y_pred: &[f64]) -> Result<f64> {
    check_regression("mean_squared_error", y_true, y_pred)?;
    Ok(y_true
        .iter()
        .zip(y_pred)
        .map(|(a, b)| (a - b) * (a - b))
        .sum::<f64>()
        / y_true.len() as f64)
}

/// Root mean squared error (`sklearn.metrics.root_mean_squared_error`).
///
/// # Errors
/// As [`mean_absolute_error`].
pub fn root_mean_squared_error(y_true: &[f64], y_pred: &[f64]) -> Result<f64> {
    mean_squared_error(y_true, y_pred).map(f64::sqrt)
}

/// Coefficient of determination (`sklearn.metrics.r2_score`, `force_finite=True`).
///
/// # Formula
/// `R² = 1 − SS_res / SS_tot` with `SS_res = Σ(y − ŷ)²` and `SS_tot = Σ(y − ȳ)²`. For a
/// constant `y_true` (`SS_tot = 0`) it is `1.0` when the prediction is perfect and `0.0`
/// otherwise, as sklearn's `force_finite=True`.
///
/// # Errors
/// As [`mean_absolute_error`], plus [`Error::Undefined`] for a single sample (sklearn
/// returns NaN with a warning there).
pub fn r2_score(y_true: &[f64], y_pred: &[f64]) -> Result<f64> {
    check_regression("r2_score", y_true, y_pred)?;
    if y_true.len() < 2 {
        return Err(Error::Undefined {
            metric: "r2_score".into(),
            reason: "R² is not defined for fewer than two samples".into(),
        });
    }
    let mean = y_true.iter().sum::<f64>() / y_true.len() as f64;
    let ss_res: f64 = y_true
        .iter()
        .zip(y_pred)
        .map(|(a, b)| (a - b) * (a - b))
        .sum();
    let ss_tot: f64 = y_true.iter().map(|a| (a - mean) * (a - mean)).sum();
    Ok(if ss_tot == 0.0 {
        if ss_res == 0.0 {
            1.0
        } else {
            0.0
        }
    } else {
        1.0 - ss_res / ss_tot
    })
}

/// Mean absolute percentage error `Σ |y − ŷ| / max(|y|, ε) / n` with `ε = f64::EPSILON`
/// (`sklearn.metrics.mean_absolute_percentage_error`; a fraction, so 0.1 means 10%).
///
/// # Errors
/// As [`mean_absolute_error`].
pub fn mean_absolute_percentage_error(y_true: &[f64], y_pred: &[f64]) -> Result<f64> {
    check_regression("mean_absolute_percentage_error", y_true, y_pred)?;
    Ok(y_true
        .iter()
        .zip(y_pred)
        .map(|(a, b)| (a - b).abs() / a.abs().max(f64::EPSILON))
        .sum::<f64>()
        / y_true.len() as f64)
}

/// All regression metrics at once.
///
/// # Errors
/// As [`r2_score`].
pub fn regression_report(y_true: &[f64], y_pred: &[f64]) -> Result<RegressionReport> {
    let mse = mean_squared_error(y_true, y_pred)?;
    Ok(RegressionReport {
        mae: mean_absolute_error(y_true, y_pred)?,
        mse,
        rmse: mse.sqrt(),
        r2: r2_score(y_true, y_pred)?,
        mape: mean_absolute_percentage_error(y_true, y_pred)?,
    })
}
