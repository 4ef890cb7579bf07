//! Paired bootstrap of a metric difference between candidate and champion.
//!
//! # Formula
//! With `n` held-out rows, `B` resamples and a metric `M`: resample `b` draws `n` row indices
//! `I_b` uniformly with replacement, and `d_b = M(y[I_b], ŷ_cand[I_b]) − M(y[I_b], ŷ_champ[I_b])`
//! — both models on the *same* rows, so the row-to-row noise that both share cancels. The
//! interval is the percentile interval `[P_{α/2}(d), P_{1−α/2}(d)]` with `α = 1 − confidence`
//! and `P` as `numpy.percentile(d, 100·q)` (method `"linear"`, see [`percentile`]).
//! Efron & Tibshirani, *An Introduction to the Bootstrap* (1993), §13.3.
//!
//! Resample `b` draws its indices from ChaCha20 seeded with `seed`, stream `b`, so the result
//! depends on `seed` only (not on the number of threads). A resample on which the metric is
//! undefined for either model (ROC AUC of a resample with one class) is left out and counted
//! in [`BootstrapResult::n_skipped`].

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::report::BootstrapResult;
use super::GateMetric;
use crate::error::{Error, Result};

/// How the gate bootstraps the difference of one metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BootstrapSpec {
    /// The metric to bootstrap (a name [`GateMetric::from_name`] knows).
    pub metric: String,
    /// Number of resamples (default 1000).
    #[serde(default = "default_resamples")]
    pub n_resamples: usize,
    /// Confidence level of the percentile interval, in `(0, 1)` (default 0.95).
    #[serde(default = "default_confidence")]
    pub confidence: f64,
    /// Seed of the ChaCha20 generator (default 0).
    #[serde(default)]
    pub seed: u64,
    /// When true, the gate fails unless the interval lies strictly on the better side of 0.
    #[serde(default)]
    pub require_positive: bool,
}

fn default_resamples() -> usize {
    1000
}

fn default_confidence() -> f64 {
    0.95
}

/// Most resamples a spec may ask for (each keeps one `f64`).
pub const MAX_RESAMPLES: usize = 10_000_000;

impl BootstrapSpec {
    /// A spec for `metric` with the defaults (1000 resamples, 95%, seed 0, not required).
    pub fn new(metric: impl Into<String>) -> Self {
        BootstrapSpec {
            metric: metric.into(),
            n_resamples: default_resamples(),
            confidence: default_confidence(),
            seed: 0,
            require_positive: false,
        }
    }

    /// Checks the spec.
    ///
    /// # Errors
    /// [`Error::InvalidSpec`] at `gate.bootstrap.<field>` for an unknown metric, `n_resamples`
    /// of 0 or above [`MAX_RESAMPLES`], or a confidence outside `(0, 1)`.
    pub fn validate(&self) -> Result<GateMetric> {
        let metric = GateMetric::from_name(&self.metric).ok_or_else(|| {
            Error::spec(
                "gate.bootstrap.metric",
                format!(
                    "unknown metric {:?}; known: {}",
                    self.metric,
                    GateMetric::known_names()
                ),
            )
        })?;
        if self.n_resamples == 0 || self.n_resamples > MAX_RESAMPLES {
            return Err(Error::spec(
                "gate.bootstrap.n_resamples",
                format!("must be in 1..={MAX_RESAMPLES}, not {}", self.n_resamples),
            ));
        }
        if !(self.confidence > 0.0 && self.confidence < 1.0) {
            return Err(Error::spec(
                "gate.bootstrap.confidence",
                format!("must be in (0, 1), not {}", self.confidence),
            ));
        }
        Ok(metric)
    }
}

/// The `q`-th percentile of `values` as `numpy.percentile(values, q)` computes it (method
/// `"linear"`, numpy 1.26).
///
/// # Formula
/// Sort the `n` values into `x_0 ≤ … ≤ x_{n−1}`; `h = (n − 1)·q/100`, `i = ⌊h⌋`, `g = h − i`;
/// the result is `x_i + g·(x_{i+1} − x_i)`, evaluated as numpy's `_lerp` does
/// (`x_{i+1} − (x_{i+1} − x_i)·(1 − g)` when `g ≥ 0.5`), with `x_{i+1}` clamped to `x_{n−1}`.
///
/// # Errors
/// [`Error::InvalidInput`] for empty `values`, a NaN or ±inf value, or `q` outside `[0, 100]`.
pub fn percentile(values: &[f64], q: f64) -> Result<f64> {
    if values.is_empty() {
        return Err(Error::invalid("percentile values", "no values"));
    }
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(Error::invalid(
            "percentile values",
            format!("values[{i}] is {}", values[i]),
        ));
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    percentile_sorted(&sorted, q)
}

fn percentile_sorted(sorted: &[f64], q: f64) -> Result<f64> {
    if !(0.0..=100.0).contains(&q) {
        return Err(Error::invalid(
            "percentile q",
            format!("must be in [0, 100], not {q}"),
        ));
    }
    let n = sorted.len();
    let Some(&last) = sorted.last() else {
        return Err(Error::invalid("percentile values", "no values"));
    };
    let h = (n - 1) as f64 * (q / 100.0);
    let lo = h.floor();
    let g = h - lo;
    // `h` lies in [0, n-1], so `lo` does too; the clamp keeps `hi` in range at q = 100.
    let i = (lo as usize).min(n - 1);
    let a = sorted[i];
    let b = sorted.get(i + 1).copied().unwrap_or(last);
    let diff = b - a;
    Ok(if g >= 0.5 {
        b - diff * (1.0 - g)
    } else {
        a + diff * g
    })
}

/// Bootstraps `metric(candidate) − metric(champion)` over the rows (see the module doc).
///
/// `y_true`, `candidate` and `champion` are the held-out labels and the two models'
/// predictions on the same rows.
///
/// # Errors
/// [`Error::InvalidSpec`] for an invalid `spec` (its metric is ignored: `metric` is used);
/// [`Error::InvalidInput`] when the slices are empty or differ in length, when the metric fails
/// on the rows as they are, or when it is undefined on every resample.
pub fn paired_bootstrap(
    metric: GateMetric,
    y_true: &[f64],
    candidate: &[f64],
    champion: &[f64],
    spec: &BootstrapSpec,
) -> Result<BootstrapResult> {
    spec.validate()?;
    let n = y_true.len();
    if n == 0 {
        return Err(Error::invalid("bootstrap rows", "no rows"));
    }
    if candidate.len() != n || champion.len() != n {
        return Err(Error::invalid(
            "bootstrap rows",
            format!(
                "y_true has {n} rows, the candidate {} and the champion {}",
                candidate.len(),
                champion.len()
            ),
        ));
    }
    let context = |who: &str, e: mlops_core::Error| {
        Error::invalid(format!("bootstrap {who} {}", metric.name()), e.to_string())
    };
    let observed = metric
        .compute(y_true, candidate)
        .map_err(|e| context("candidate", e))?
        - metric
            .compute(y_true, champion)
            .map_err(|e| context("champion", e))?;

    let _span = tracing::debug_span!(
        "paired_bootstrap",
        metric = metric.name(),
        n,
        resamples = spec.n_resamples
    )
    .entered();
    let per_resample: Vec<Result<Option<f64>>> = (0..spec.n_resamples)
        .into_par_iter()
        .map_init(
            || {
                (
                    Vec::with_capacity(n),
                    Vec::with_capacity(n),
                    Vec::with_capacity(n),
                )
            },
            |(t, c, h), b| {
                let mut rng = ChaCha20Rng::seed_from_u64(spec.seed);
                rng.set_stream(b as u64);
                t.clear();
                c.clear();
                h.clear();
                for _ in 0..n {
                    let i = rng.gen_range(0..n);
                    t.push(y_true[i]);
                    c.push(candidate[i]);
                    h.push(champion[i]);
                }
                let diff = match (metric.compute(t, c), metric.compute(t, h)) {
                    (Ok(a), Ok(z)) => Some(a - z),
                    (Err(mlops_core::Error::Undefined { .. }), _)
                    | (_, Err(mlops_core::Error::Undefined { .. })) => None,
                    (Err(e), _) => return Err(context("candidate", e)),
                    (_, Err(e)) => return Err(context("champion", e)),
                };
                Ok(diff)
            },
        )
        .collect();
    let mut diffs = Vec::with_capacity(spec.n_resamples);
    for d in per_resample {
        if let Some(d) = d? {
            diffs.push(d);
        }
    }
    let n_skipped = spec.n_resamples - diffs.len();
    if diffs.is_empty() {
        return Err(Error::invalid(
            format!("bootstrap {}", metric.name()),
            format!(
                "the metric is undefined on all {} resamples",
                spec.n_resamples
            ),
        ));
    }
    let diff_mean = diffs.iter().sum::<f64>() / diffs.len() as f64;
    diffs.sort_by(f64::total_cmp);
    let alpha = 1.0 - spec.confidence;
    let ci_low = percentile_sorted(&diffs, 100.0 * alpha / 2.0)?;
    let ci_high = percentile_sorted(&diffs, 100.0 * (1.0 - alpha / 2.0))?;
    let gib = metric.greater_is_better();
    Ok(BootstrapResult {
        metric: metric.name().to_owned(),
        greater_is_better: gib,
        observed_diff: observed,
        diff_mean,
        ci_low,
        ci_high,
        confidence: spec.confidence,
        n_resamples: spec.n_resamples,
        n_skipped,
        seed: spec.seed,
        improvement_significant: if gib { ci_low > 0.0 } else { ci_high < 0.0 },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_edges() {
        assert!(percentile(&[], 50.0).is_err());
        assert!(percentile(&[1.0, f64::NAN], 50.0).is_err());
        assert!(percentile(&[1.0], 100.5).is_err());
        assert!(percentile(&[1.0], -0.1).is_err());
        assert!(percentile(&[1.0], f64::NAN).is_err());
        assert_eq!(percentile(&[7.0], 97.5).unwrap(), 7.0);
        assert_eq!(percentile(&[2.0, 1.0], 100.0).unwrap(), 2.0);
    }

    #[test]
    fn spec_validation() {
        assert!(BootstrapSpec::new("roc_auc").validate().is_ok());
        assert!(BootstrapSpec::new("auc").validate().is_err());
        let mut s = BootstrapSpec::new("mae");
        s.n_resamples = 0;
        assert!(s.validate().is_err());
        for c in [0.0, 1.0, f64::NAN, 1.5] {
            let mut s = BootstrapSpec::new("mae");
            s.confidence = c;
            assert!(s.validate().is_err(), "{c}");
        }
        let s: BootstrapSpec = serde_json::from_str(r#"{"metric": "r2"}"#).unwrap();
        assert_eq!(s, BootstrapSpec::new("r2"));
    }

    fn spec(metric: &str, n_resamples: usize, seed: u64) -> BootstrapSpec {
        BootstrapSpec {
            n_resamples,
            seed,
            ..BootstrapSpec::new(metric)
        }
    }

    #[test]
    fn identical_models_give_a_zero_interval() {
        let y = [1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0];
        let p = [0.9, 0.2, 0.4, 0.7, 0.6, 0.1, 0.8, 0.3];
        for m in ["accuracy", "roc_auc", "log_loss", "f1"] {
            let metric = GateMetric::from_name(m).unwrap();
            let r = paired_bootstrap(metric, &y, &p, &p, &spec(m, 300, 1)).unwrap();
            assert_eq!((r.ci_low, r.ci_high, r.diff_mean), (0.0, 0.0, 0.0), "{m}");
            assert_eq!(r.observed_diff, 0.0);
            assert!(!r.improvement_significant);
        }
    }

    #[test]
    fn same_seed_same_interval_other_seed_other_draws() {
        let y: Vec<f64> = (0..50).map(|i| f64::from(i % 7)).collect();
        let a: Vec<f64> = y.iter().map(|v| v + 0.5).collect();
        let b: Vec<f64> = y
            .iter()
            .enumerate()
            .map(|(i, v)| v + (i % 3) as f64)
            .collect();
        let r1 = paired_bootstrap(GateMetric::Mae, &y, &a, &b, &spec("mae", 200, 42)).unwrap();
        let r2 = paired_bootstrap(GateMetric::Mae, &y, &a, &b, &spec("mae", 200, 42)).unwrap();
        let r3 = paired_bootstrap(GateMetric::Mae, &y, &a, &b, &spec("mae", 200, 43)).unwrap();
        assert_eq!(r1, r2);
        assert_ne!(r1.diff_mean, r3.diff_mean);
        assert!(r1.ci_low <= r1.diff_mean && r1.diff_mean <= r1.ci_high);
        // Candidate error 0.5 everywhere, champion 1.0 on average: candidate is better (lower).
        assert_eq!(r1.observed_diff, 0.5 - 0.98);
        assert!(r1.improvement_significant, "{r1:?}");
    }

    #[test]
    fn undefined_resamples_are_skipped_and_counted() {
        // One positive in six rows: about (5/6)^6 = 33% of resamples have no positive.
        let y = [1.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        let c = [0.9, 0.1, 0.2, 0.3, 0.4, 0.5];
        let h = [0.3, 0.1, 0.2, 0.6, 0.4, 0.5];
        let r =
            paired_bootstrap(GateMetric::RocAuc, &y, &c, &h, &spec("roc_auc", 1000, 3)).unwrap();
        assert!(
            (200..=450).contains(&r.n_skipped),
            "{} skipped",
            r.n_skipped
        );
        // Undefined on the full set is an error, not a skip.
        let e = paired_bootstrap(
            GateMetric::RocAuc,
            &[1.0, 1.0],
            &[0.1, 0.2],
            &[0.1, 0.2],
            &spec("roc_auc", 10, 0),
        )
        .unwrap_err();
        assert!(e.to_string().contains("bootstrap candidate roc_auc"), "{e}");
    }

    #[test]
    fn bad_inputs_are_errors() {
        let s = spec("mae", 10, 0);
        assert!(paired_bootstrap(GateMetric::Mae, &[], &[], &[], &s).is_err());
        assert!(paired_bootstrap(GateMetric::Mae, &[1.0], &[1.0, 2.0], &[1.0], &s).is_err());
        assert!(paired_bootstrap(GateMetric::Mae, &[1.0], &[f64::NAN], &[1.0], &s).is_err());
        assert!(
            paired_bootstrap(GateMetric::Mae, &[1.0], &[1.0], &[1.0], &spec("mae", 0, 0)).is_err()
        );
    }

    /// Coverage: models whose accuracy truly differs by 0.10 (0.85 vs 0.75, independent
    /// errors), 200 rows per data set; a 90% interval should cover 0.10 in about 90% of 500
    /// data sets (binomial sd 1.3%; the percentile interval runs a little short at n = 200).
    #[test]
    fn interval_covers_a_known_difference() {
        let mut data_rng = ChaCha20Rng::seed_from_u64(2024);
        let (n, reps) = (200, 500);
        let mut covered = 0;
        for rep in 0..reps {
            let y = vec![1.0; n];
            let draw = |rng: &mut ChaCha20Rng, p_right: f64| -> Vec<f64> {
                (0..n)
                    .map(|_| if rng.gen_bool(p_right) { 0.9 } else { 0.1 })
                    .collect()
            };
            let c = draw(&mut data_rng, 0.85);
            let h = draw(&mut data_rng, 0.75);
            let s = BootstrapSpec {
                confidence: 0.9,
                ..spec("accuracy", 300, rep)
            };
            let r = paired_bootstrap(GateMetric::Accuracy, &y, &c, &h, &s).unwrap();
            if r.ci_low <= 0.10 && 0.10 <= r.ci_high {
                covered += 1;
            }
        }
        let rate = f64::from(covered) / reps as f64;
        println!("coverage {rate}");
        // Seeded: 0.884 with these seeds.
        assert!((0.85..=0.95).contains(&rate), "coverage {rate}");
    }
}
