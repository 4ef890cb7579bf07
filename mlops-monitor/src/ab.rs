//! A/B results: per arm, each rate metric and KPI mean with a 95 % confidence interval, a
//! two-sample test of every arm against the baseline arm, and a winner.
//!
//! # Tests
//! - rates (accuracy, error rate, label coverage): [`two_proportion_z`], the pooled two-proportion
//!   z-test of statsmodels' `proportions_ztest` (two-sided p from the normal);
//! - means (KPIs, absolute error of a regressor): [`welch_t`], Welch's unequal-variance t-test
//!   (`scipy.stats.ttest_ind(a, b, equal_var=False)`), Welch–Satterthwaite degrees of freedom.
//!
//! # Intervals (95 % unless asked otherwise)
//! - a proportion: Wilson score interval ([`wilson_interval`]);
//! - a difference of proportions: the unpooled Wald interval `p1 − p2 ± z·√(p1q1/n1 + p2q2/n2)`;
//! - a mean: `x̄ ± t(n−1)·s/√n` ([`mean_interval`]);
//! - a difference of means: Welch's `x̄1 − x̄2 ± t(df)·√(s1²/n1 + s2²/n2)`.
//!
//! # Degenerate inputs
//! `n = 0` (and `n < 2` for a t-test), counts above `n`, negative or non-finite variances are
//! [`Error::InvalidInput`]. When both proportions are 0 (or both 1) the pooled standard error is
//! 0: the result is documented as `z = 0, p = 1` (no evidence of a difference), never NaN. Two
//! samples that both have zero variance are refused ([`Error::InvalidInput`]): scipy returns NaN
//! there, and a constant KPI has nothing to test.
//!
//! # Winner
//! Per model, the baseline arm is `stable` when present, otherwise the first arm in name order.
//! The deciding metric is `accuracy` for classifiers (higher is better) and `mae` for
//! regressors (lower is better), or [`AbConfig::metric`] (a `kpi.<name>` is higher-is-better).
//! A challenger wins when its test against the baseline has `p < α` (0.05) and it is better (the
//! best of those when several are); the baseline wins when every challenger is significantly
//! worse; otherwise there is no winner.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Normal, StudentsT};

use crate::error::{Error, Result};
use crate::record::{LoggedPrediction, Value};

/// The result of a two-sample test.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TestResult {
    /// z or t statistic (sample 1 minus sample 2).
    pub statistic: f64,
    /// Two-sided p-value.
    pub p_value: f64,
    /// Degrees of freedom (Welch's t), `None` for the z-test.
    pub df: Option<f64>,
}

/// A confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// Lower bound.
    pub lower: f64,
    /// Upper bound.
    pub upper: f64,
}

fn check_level(confidence: f64) -> Result<()> {
    if !(confidence > 0.0 && confidence < 1.0) {
        return Err(Error::invalid(
            "confidence",
            format!("{confidence} is not in (0, 1)"),
        ));
    }
    Ok(())
}

fn check_count(what: &str, x: u64, n: u64) -> Result<()> {
    if n == 0 {
        return Err(Error::invalid(what, "n is 0: a proportion needs a sample"));
    }
    if x > n {
        return Err(Error::invalid(what, format!("{x} successes out of {n}")));
    }
    Ok(())
}

fn std_normal() -> Result<Normal> {
    Normal::new(0.0, 1.0).map_err(|e| Error::invalid("normal distribution", e.to_string()))
}

fn students_t(df: f64) -> Result<StudentsT> {
    StudentsT::new(0.0, 1.0, df).map_err(|e| Error::invalid("t distribution", e.to_string()))
}

/// The normal quantile for a two-sided interval at `confidence`.
fn z_crit(confidence: f64) -> Result<f64> {
    check_level(confidence)?;
    Ok(std_normal()?.inverse_cdf(0.5 + confidence / 2.0))
}

fn t_crit(confidence: f64, df: f64) -> Result<f64> {
    check_level(confidence)?;
    Ok(students_t(df)?.inverse_cdf(0.5 + confidence / 2.0))
}

/// Pooled two-proportion z-test of `x1/n1` against `x2/n2` (statsmodels'
/// `proportions_ztest([x1, x2], [n1, n2])`):
/// `z = (p1 − p2) / √(p(1−p)(1/n1 + 1/n2))` with `p = (x1 + x2)/(n1 + n2)`,
/// two-sided `p_value = 2·Φ(−|z|)`.
///
/// When the pooled proportion is 0 or 1 (both samples all failures or all successes) the
/// result is `z = 0, p = 1`.
///
/// # Errors
/// [`Error::InvalidInput`] when `n1` or `n2` is 0 or a count exceeds its `n`.
pub fn two_proportion_z(x1: u64, n1: u64, x2: u64, n2: u64) -> Result<TestResult> {
    check_count("two_proportion_z sample 1", x1, n1)?;
    check_count("two_proportion_z sample 2", x2, n2)?;
    let (p1, p2) = (x1 as f64 / n1 as f64, x2 as f64 / n2 as f64);
    let p = (x1 + x2) as f64 / (n1 + n2) as f64;
    let se = (p * (1.0 - p) * (1.0 / n1 as f64 + 1.0 / n2 as f64)).sqrt();
    if se == 0.0 {
        return Ok(TestResult {
            statistic: 0.0,
            p_value: 1.0,
            df: None,
        });
    }
    let z = (p1 - p2) / se;
    // 2·Φ(−|z|) = erfc(|z|/√2); libm's erfc (musl, ~1 ulp) rather than statrs' (off by up to
    // ~1e-10 relative in the tail).
    let p_value = libm::erfc(z.abs() / std::f64::consts::SQRT_2).min(1.0);
    Ok(TestResult {
        statistic: z,
        p_value,
        df: None,
    })
}

fn check_moments(what: &str, mean: f64, var: f64, n: u64) -> Result<()> {
    if n < 2 {
        return Err(Error::invalid(
            what,
            format!("n = {n}: a variance needs at least two values"),
        ));
    }
    if !mean.is_finite() {
        return Err(Error::invalid(what, format!("mean is {mean}")));
    }
    if !(var.is_finite() && var >= 0.0) {
        return Err(Error::invalid(what, format!("variance is {var}")));
    }
    Ok(())
}

fn welch_parts(
    (mean1, var1, n1): (f64, f64, u64),
    (mean2, var2, n2): (f64, f64, u64),
) -> Result<(f64, f64, f64)> {
    check_moments("welch_t sample 1", mean1, var1, n1)?;
    check_moments("welch_t sample 2", mean2, var2, n2)?;
    let (a, b) = (var1 / n1 as f64, var2 / n2 as f64);
    let se2 = a + b;
    if se2 == 0.0 {
        return Err(Error::invalid(
            "welch_t",
            "both samples have zero variance: the t statistic is undefined",
        ));
    }
    let df = se2 * se2 / (a * a / (n1 as f64 - 1.0) + b * b / (n2 as f64 - 1.0));
    Ok((mean1 - mean2, se2.sqrt(), df))
}

/// Welch's t-test from summary statistics (`var` is the unbiased sample variance, `ddof=1`);
/// equals `scipy.stats.ttest_ind(a, b, equal_var=False)`: `t = (m1 − m2)/√(v1/n1 + v2/n2)`,
/// Welch–Satterthwaite `df`, two-sided `p = 2·T_df.sf(|t|)`.
///
/// # Errors
/// [`Error::InvalidInput`] when `n < 2` on a side, a mean or variance is non-finite or a
/// variance negative, or both variances are 0.
pub fn welch_t(
    mean1: f64,
    var1: f64,
    n1: u64,
    mean2: f64,
    var2: f64,
    n2: u64,
) -> Result<TestResult> {
    let (diff, se, df) = welch_parts((mean1, var1, n1), (mean2, var2, n2))?;
    let t = diff / se;
    let p_value = (2.0 * students_t(df)?.sf(t.abs())).min(1.0);
    Ok(TestResult {
        statistic: t,
        p_value,
        df: Some(df),
    })
}

/// Wilson score interval of the proportion `x/n` at `confidence` (0.95 for 95 %)
/// (statsmodels' `proportion_confint(x, n, alpha, method='wilson')`).
///
/// # Errors
/// [`Error::InvalidInput`] when `n` is 0, `x > n` or `confidence` is not in (0, 1).
pub fn wilson_interval(x: u64, n: u64, confidence: f64) -> Result<Interval> {
    check_count("wilson_interval", x, n)?;
    let z = z_crit(confidence)?;
    let (nf, p) = (n as f64, x as f64 / n as f64);
    let z2 = z * z;
    let denom = 1.0 + z2 / nf;
    let centre = (p + z2 / (2.0 * nf)) / denom;
    let half = z * (p * (1.0 - p) / nf + z2 / (4.0 * nf * nf)).sqrt() / denom;
    Ok(Interval {
        lower: (centre - half).max(0.0),
        upper: (centre + half).min(1.0),
    })
}

/// The unpooled Wald interval of `x1/n1 − x2/n2`.
///
/// # Errors
/// As [`wilson_interval`].
pub fn proportion_diff_interval(
    x1: u64,
    n1: u64,
    x2: u64,
    n2: u64,
    confidence: f64,
) -> Result<Interval> {
    check_count("proportion_diff_interval sample 1", x1, n1)?;
    check_count("proportion_diff_interval sample 2", x2, n2)?;
    let z = z_crit(confidence)?;
    let (p1, p2) = (x1 as f64 / n1 as f64, x2 as f64 / n2 as f64);
    let half = z * (p1 * (1.0 - p1) / n1 as f64 + p2 * (1.0 - p2) / n2 as f64).sqrt();
    Ok(Interval {
        lower: p1 - p2 - half,
        upper: p1 - p2 + half,
    })
}

/// The t interval of a mean: `mean ± t(n−1)·√(var/n)` (`scipy.stats.t.interval(confidence,
/// n−1, loc=mean, scale=sem)`). A zero variance gives the degenerate interval `[mean, mean]`.
///
/// # Errors
/// [`Error::InvalidInput`] when `n < 2`, the mean or variance is non-finite, the variance is
/// negative or `confidence` is not in (0, 1).
pub fn mean_interval(mean: f64, var: f64, n: u64, confidence: f64) -> Result<Interval> {
    check_moments("mean_interval", mean, var, n)?;
    let half = t_crit(confidence, n as f64 - 1.0)? * (var / n as f64).sqrt();
    Ok(Interval {
        lower: mean - half,
        upper: mean + half,
    })
}

/// Welch's interval of `mean1 − mean2` with the Welch–Satterthwaite degrees of freedom.
///
/// # Errors
/// As [`welch_t`], plus a `confidence` outside (0, 1).
pub fn mean_diff_interval(
    mean1: f64,
    var1: f64,
    n1: u64,
    mean2: f64,
    var2: f64,
    n2: u64,
    confidence: f64,
) -> Result<Interval> {
    let (diff, se, df) = welch_parts((mean1, var1, n1), (mean2, var2, n2))?;
    let half = t_crit(confidence, df)? * se;
    Ok(Interval {
        lower: diff - half,
        upper: diff + half,
    })
}

/// Streaming mean and variance (Welford).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Moments {
    /// Values seen.
    pub n: u64,
    /// Running mean.
    pub mean: f64,
    /// Sum of squared deviations from the mean.
    pub m2: f64,
}

impl Moments {
    /// Adds one value.
    pub fn push(&mut self, x: f64) {
        self.n += 1;
        let d = x - self.mean;
        self.mean += d / self.n as f64;
        self.m2 += d * (x - self.mean);
    }

    /// The unbiased sample variance (`ddof=1`), `None` under two values.
    pub fn variance(&self) -> Option<f64> {
        (self.n >= 2).then(|| self.m2 / (self.n as f64 - 1.0))
    }
}

/// What the A/B report needs of one arm, accumulated row by row.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ArmAccumulator {
    /// Rows.
    pub n: u64,
    /// Failed requests.
    pub errors: u64,
    /// Rows with a joined label.
    pub labelled: u64,
    /// Labelled rows whose predicted class equals the label.
    pub correct: u64,
    /// Labelled rows with a prediction (the accuracy denominator).
    pub judged: u64,
    /// Absolute error of numeric predictions against numeric labels.
    pub abs_error: Moments,
    /// Whether the rows look like a classifier's (scores logged, or a text prediction/label).
    pub classifier: bool,
    /// Per KPI field.
    pub kpis: BTreeMap<String, Moments>,
}

/// Whether two cells name the same class (`Value::class_key` equality, without allocating in
/// the common cases).
pub(crate) fn same_class(a: &Value, b: &Value) -> bool {
    match (a, b) {
        // Distinct non-NaN numbers have distinct class keys (shortest round-trip form).
        (Value::Num(x), Value::Num(y)) => x == y || (x.is_nan() && y.is_nan()),
        (Value::Str(x), Value::Str(y)) => x == y,
        _ => a.class_key() == b.class_key(),
    }
}

impl ArmAccumulator {
    /// Adds one row and its label.
    pub fn push(&mut self, p: &LoggedPrediction, label: Option<&Value>) {
        self.n += 1;
        if p.error.is_some() {
            self.errors += 1;
        }
        if !p.scores.is_empty()
            || matches!(p.prediction, Some(Value::Str(_)))
            || matches!(label, Some(Value::Str(_)))
        {
            self.classifier = true;
        }
        if let Some(l) = label {
            self.labelled += 1;
            if let (Some(pred), None) = (&p.prediction, &p.error) {
                self.judged += 1;
                if same_class(pred, l) {
                    self.correct += 1;
                }
                if let (Value::Num(y), Value::Num(yh)) = (l, pred) {
                    let e = (y - yh).abs();
                    if e.is_finite() {
                        self.abs_error.push(e);
                    }
                }
            }
        }
        for (name, v) in &p.kpis {
            if v.is_finite() {
                match self.kpis.get_mut(name) {
                    Some(m) => m.push(*v),
                    None => {
                        let mut m = Moments::default();
                        m.push(*v);
                        self.kpis.insert(name.clone(), m);
                    }
                }
            }
        }
    }
}

/// A rate of one arm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RateSummary {
    /// Successes.
    pub x: u64,
    /// Trials.
    pub n: u64,
    /// `x / n`.
    pub value: f64,
    /// 95 % Wilson interval.
    pub ci: Interval,
}

/// A mean of one arm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeanSummary {
    /// Values.
    pub n: u64,
    /// Mean.
    pub mean: f64,
    /// Unbiased variance.
    pub variance: f64,
    /// 95 % t interval.
    pub ci: Interval,
}

/// One arm's results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArmSummary {
    /// Arm name.
    pub arm: String,
    /// Model version on this arm.
    pub version: u64,
    /// Rows.
    pub n: u64,
    /// Rates by name (`accuracy`, `error_rate`, `label_coverage`).
    pub rates: BTreeMap<String, RateSummary>,
    /// Means by name (`mae`, `kpi.<name>`).
    pub means: BTreeMap<String, MeanSummary>,
}

/// One metric of one challenger against the baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricComparison {
    /// `challenger − baseline`.
    pub difference: f64,
    /// 95 % interval of the difference.
    pub ci: Interval,
    /// The test (challenger as sample 1).
    pub test: TestResult,
}

/// A challenger against the baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// The challenger arm.
    pub arm: String,
    /// Its version.
    pub version: u64,
    /// The baseline arm.
    pub baseline: String,
    /// Per metric; a metric that cannot be tested (too few rows, zero variance) is absent.
    pub metrics: BTreeMap<String, MetricComparison>,
    /// Why a metric was not tested.
    #[serde(default)]
    pub skipped: BTreeMap<String, String>,
}

/// The A/B results of one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelAb {
    /// Arms, baseline first.
    pub arms: Vec<ArmSummary>,
    /// Each challenger against the baseline.
    pub comparisons: Vec<Comparison>,
    /// The deciding metric.
    pub metric: String,
    /// The winning arm, if one is significantly better at α.
    pub winner: Option<String>,
}

/// A/B results of every model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AbReport {
    /// Model name → results.
    pub models: BTreeMap<String, ModelAb>,
}

/// A/B settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AbConfig {
    /// Significance level (default 0.05).
    pub alpha: f64,
    /// Confidence of the intervals (default 0.95).
    pub confidence: f64,
    /// The deciding metric (default: `accuracy` for classifiers, `mae` for regressors).
    pub metric: Option<String>,
}

impl Default for AbConfig {
    fn default() -> Self {
        Self {
            alpha: 0.05,
            confidence: 0.95,
            metric: None,
        }
    }
}

fn rate(x: u64, n: u64, confidence: f64) -> Result<Option<RateSummary>> {
    if n == 0 {
        return Ok(None);
    }
    Ok(Some(RateSummary {
        x,
        n,
        value: x as f64 / n as f64,
        ci: wilson_interval(x, n, confidence)?,
    }))
}

fn summarise(arm: &str, version: u64, acc: &ArmAccumulator, confidence: f64) -> Result<ArmSummary> {
    let mut rates = BTreeMap::new();
    let mut put = |name: &str, r: Option<RateSummary>| {
        if let Some(r) = r {
            rates.insert(name.to_string(), r);
        }
    };
    if acc.classifier {
        put("accuracy", rate(acc.correct, acc.judged, confidence)?);
    }
    put("error_rate", rate(acc.errors, acc.n, confidence)?);
    put("label_coverage", rate(acc.labelled, acc.n, confidence)?);
    let mut means = BTreeMap::new();
    let mut moments: Vec<(String, Moments)> = acc
        .kpis
        .iter()
        .map(|(k, m)| (format!("kpi.{k}"), *m))
        .collect();
    if !acc.classifier {
        moments.push(("mae".into(), acc.abs_error));
    }
    for (name, m) in moments {
        if let Some(var) = m.variance() {
            means.insert(
                name,
                MeanSummary {
                    n: m.n,
                    mean: m.mean,
                    variance: var,
                    ci: mean_interval(m.mean, var, m.n, confidence)?,
                },
            );
        }
    }
    Ok(ArmSummary {
        arm: arm.to_string(),
        version,
        n: acc.n,
        rates,
        means,
    })
}

fn compare(base: &ArmSummary, arm: &ArmSummary, confidence: f64) -> Comparison {
    let mut metrics = BTreeMap::new();
    let mut skipped = BTreeMap::new();
    for (name, r) in &arm.rates {
        let Some(b) = base.rates.get(name) else {
            continue;
        };
        let res = two_proportion_z(r.x, r.n, b.x, b.n).and_then(|test| {
            Ok(MetricComparison {
                difference: r.value - b.value,
                ci: proportion_diff_interval(r.x, r.n, b.x, b.n, confidence)?,
                test,
            })
        });
        match res {
            Ok(m) => {
                metrics.insert(name.clone(), m);
            }
            Err(e) => {
                skipped.insert(name.clone(), e.to_string());
            }
        }
    }
    for (name, m) in &arm.means {
        let Some(b) = base.means.get(name) else {
            continue;
        };
        let res = welch_t(m.mean, m.variance, m.n, b.mean, b.variance, b.n).and_then(|test| {
            Ok(MetricComparison {
                difference: m.mean - b.mean,
                ci: mean_diff_interval(
                    m.mean, m.variance, m.n, b.mean, b.variance, b.n, confidence,
                )?,
                test,
            })
        });
        match res {
            Ok(c) => {
                metrics.insert(name.clone(), c);
            }
            Err(e) => {
                skipped.insert(name.clone(), e.to_string());
            }
        }
    }
    Comparison {
        arm: arm.arm.clone(),
        version: arm.version,
        baseline: base.arm.clone(),
        metrics,
        skipped,
    }
}

fn higher_is_better(metric: &str) -> bool {
    !matches!(metric, "mae" | "error_rate")
}

impl AbReport {
    /// Builds the report from per-arm accumulators keyed by `(model, version, arm)`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when `alpha` or `confidence` is not in (0, 1).
    pub fn from_accumulators(
        arms: &BTreeMap<(String, u64, String), ArmAccumulator>,
        config: &AbConfig,
    ) -> Result<Self> {
        check_level(config.confidence)?;
        if !(config.alpha > 0.0 && config.alpha < 1.0) {
            return Err(Error::invalid(
                "alpha",
                format!("{} is not in (0, 1)", config.alpha),
            ));
        }
        let mut by_model: BTreeMap<&str, Vec<(&str, u64, &ArmAccumulator)>> = BTreeMap::new();
        for ((model, version, arm), acc) in arms {
            by_model
                .entry(model)
                .or_default()
                .push((arm.as_str(), *version, acc));
        }
        let mut models = BTreeMap::new();
        for (model, mut list) in by_model {
            // Baseline first: `stable`, else the first name.
            list.sort_by(|a, b| (a.0 != "stable", a.0, a.1).cmp(&(b.0 != "stable", b.0, b.1)));
            let summaries = list
                .iter()
                .map(|(arm, v, acc)| summarise(arm, *v, acc, config.confidence))
                .collect::<Result<Vec<_>>>()?;
            let classifier = list.iter().any(|(_, _, a)| a.classifier);
            let metric = config
                .metric
                .clone()
                .unwrap_or_else(|| if classifier { "accuracy" } else { "mae" }.to_string());
            let comparisons: Vec<Comparison> = summaries
                .iter()
                .skip(1)
                .map(|s| compare(&summaries[0], s, config.confidence))
                .collect();
            let winner = decide(&summaries, &comparisons, &metric, config.alpha);
            models.insert(
                model.to_string(),
                ModelAb {
                    arms: summaries,
                    comparisons,
                    metric,
                    winner,
                },
            );
        }
        Ok(Self { models })
    }
}

fn decide(
    arms: &[ArmSummary],
    comparisons: &[Comparison],
    metric: &str,
    alpha: f64,
) -> Option<String> {
    let base = arms.first()?;
    if comparisons.is_empty() {
        return None;
    }
    let sign = if higher_is_better(metric) { 1.0 } else { -1.0 };
    let mut best: Option<(&str, f64)> = None;
    let mut all_worse = true;
    for c in comparisons {
        let Some(m) = c.metrics.get(metric) else {
            all_worse = false;
            continue;
        };
        let significant = m.test.p_value < alpha;
        let gain = sign * m.difference;
        if significant && gain > 0.0 {
            if best.is_none_or(|(_, g)| gain > g) {
                best = Some((c.arm.as_str(), gain));
            }
            all_worse = false;
        } else if !(significant && gain < 0.0) {
            all_worse = false;
        }
    }
    match best {
        Some((arm, _)) => Some(arm.to_string()),
        None if all_worse => Some(base.arm.clone()),
        None => None,
    }
}
