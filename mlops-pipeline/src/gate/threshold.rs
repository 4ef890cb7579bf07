//! One metric's thresholds, MLflow's `MetricThreshold`, and the per-criterion verdict.
//!
//! # Semantics
//! A [`MetricThreshold`] holds up to three criteria; the metric passes when every criterion
//! that is set passes (MLflow's `_validate`, mlflow-skinny 2.17.2 and 3.18.0). With `g` =
//! `greater_is_better`, candidate `c` and baseline `b`:
//!
//! | criterion | passes when (`g`) | passes when (`!g`) |
//! |---|---|---|
//! | `threshold` `t` | `c >= t` | `c <= t` |
//! | `min_absolute_change` `a` | `c >= b + a` | `c <= b - a` |
//! | `min_relative_change` `r` | `(c - b) / \|b\| >= r` | `(b - c) / \|b\| >= r` |
//!
//! The absolute check compares against `b ± a` computed in `f64`, exactly as MLflow does
//! (`Decimal(c) >= Decimal(b + a)`): `0.80 + 0.05` is `0.8500000000000001`, so a candidate of
//! `0.85` does *not* clear a `0.05` improvement over `0.80`, in MLflow and here.
//!
//! # Where we differ from MLflow (each difference is a case in `tests/gate_mlflow.rs`)
//! - **Negative baseline.** MLflow 2.x divides by the signed baseline, so for an R² of `-1.0`
//!   an improvement to `-0.5` reads as a change of `-50%` and fails, and a regression passes.
//!   We divide by `|b|`, as MLflow 3.18.0 now does.
//! - **Zero baseline.** The relative change is undefined. MLflow falls back to "better by at
//!   least `1e-10`", an absolute margin that ignores the metric's scale. We take the limit of
//!   `(c - b) / |b|`: `+inf` when the candidate is strictly better (passes any
//!   `min_relative_change`), `-inf` when it is worse (fails), undefined when equal (fails).
//!   The verdicts agree except for candidates within `1e-10` of zero.
//! - **NaN or ±inf** candidate or baseline: every criterion that involves the value fails with
//!   a message saying so. MLflow fails a NaN candidate's `threshold`, raises
//!   `decimal.InvalidOperation` on its `min_absolute_change` and *passes* its
//!   `min_relative_change` (`nan < r` is false).
//! - **Validation.** `min_absolute_change` must be finite and `> 0` (as MLflow);
//!   `min_relative_change` a fraction in `(0, 1]` (MLflow accepts `0.0`, which its
//!   missing-baseline test then reads as unset); `threshold` must be finite.
//!
//! # Missing baseline
//! [`MetricThreshold::check`] with `baseline = None` fails the change criteria, as MLflow's
//! `missing_baseline`. [`MetricThreshold::check_without_baseline`] reports them as
//! [`Status::Skipped`] instead; the gate uses it for a first model (see
//! [`super::FirstModelPolicy`]).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Thresholds for one metric (MLflow's `mlflow.models.MetricThreshold`).
///
/// At least one of `threshold`, `min_absolute_change`, `min_relative_change` must be set;
/// `min_relative_change` is a fraction (`0.05` = 5%).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricThreshold {
    /// The value the candidate must reach (`>=` when greater is better, else `<=`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// The least improvement over the baseline, in the metric's units (`> 0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_absolute_change: Option<f64>,
    /// The least improvement over the baseline as a fraction of `|baseline|`, in `(0, 1]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_relative_change: Option<f64>,
    /// Whether a greater value of the metric is better.
    pub greater_is_better: bool,
}

/// Which criterion of a [`MetricThreshold`] an outcome belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Criterion {
    /// The value threshold.
    Threshold,
    /// The minimum absolute change over the baseline.
    MinAbsoluteChange,
    /// The minimum relative change over the baseline.
    MinRelativeChange,
}

impl Criterion {
    /// The criterion's name as MLflow spells the parameter (`threshold`, `min_absolute_change`,
    /// `min_relative_change`).
    pub fn name(self) -> &'static str {
        match self {
            Criterion::Threshold => "threshold",
            Criterion::MinAbsoluteChange => "min_absolute_change",
            Criterion::MinRelativeChange => "min_relative_change",
        }
    }
}

/// What became of one criterion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The criterion was checked and holds.
    Passed,
    /// The criterion was checked and does not hold (or could not be checked: NaN, no baseline).
    Failed,
    /// The criterion was deliberately not checked (no champion for a first model); it does not
    /// count against the gate.
    Skipped,
}

/// The outcome of one criterion for one metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CriterionOutcome {
    /// Which criterion.
    pub criterion: Criterion,
    /// The candidate's metric value.
    #[serde(with = "nonfinite")]
    pub candidate: f64,
    /// The baseline's metric value, if there is a baseline.
    #[serde(with = "nonfinite_opt")]
    pub baseline: Option<f64>,
    /// The criterion's parameter (`threshold`, `min_absolute_change` or `min_relative_change`).
    pub required: f64,
    /// The candidate value the criterion asks for: the threshold, `baseline ± min_absolute_change`
    /// or `baseline ± min_relative_change·|baseline|` (informational for the relative check,
    /// which compares [`CriterionOutcome::change`]); `None` when it cannot be computed.
    #[serde(with = "nonfinite_opt")]
    pub bound: Option<f64>,
    /// The observed improvement the change criteria compare: `±(candidate − baseline)` for the
    /// absolute check, that over `|baseline|` for the relative one (`±inf` for a zero baseline);
    /// `None` for the value threshold or when it is undefined.
    #[serde(with = "nonfinite_opt")]
    pub change: Option<f64>,
    /// Passed, failed or skipped.
    pub status: Status,
    /// A one-line explanation with the numbers, e.g. `roc_auc: candidate 0.812 < threshold 0.85`.
    pub message: String,
}

impl CriterionOutcome {
    /// Whether this criterion failed.
    pub fn is_failed(&self) -> bool {
        self.status == Status::Failed
    }
}

/// The verdict of one [`MetricThreshold`] on one metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdResult {
    /// The metric's name.
    pub metric: String,
    /// Whether greater is better for it.
    pub greater_is_better: bool,
    /// The candidate's value.
    #[serde(with = "nonfinite")]
    pub candidate: f64,
    /// The baseline's value, if any.
    #[serde(with = "nonfinite_opt")]
    pub baseline: Option<f64>,
    /// True when no criterion failed (skipped criteria do not count).
    pub passed: bool,
    /// One outcome per criterion that is set, in the order threshold, absolute, relative.
    pub criteria: Vec<CriterionOutcome>,
}

impl ThresholdResult {
    /// The failed criteria.
    pub fn failures(&self) -> impl Iterator<Item = &CriterionOutcome> {
        self.criteria.iter().filter(|c| c.is_failed())
    }

    /// The messages of the failed criteria, one per failure.
    pub fn reasons(&self) -> Vec<String> {
        self.failures().map(|c| c.message.clone()).collect()
    }
}

impl MetricThreshold {
    /// A threshold with only `greater_is_better` set; add criteria with the `with_` methods.
    /// (It is invalid until one criterion is set.)
    pub fn new(greater_is_better: bool) -> Self {
        MetricThreshold {
            threshold: None,
            min_absolute_change: None,
            min_relative_change: None,
            greater_is_better,
        }
    }

    /// Sets the value threshold.
    pub fn with_threshold(mut self, threshold: f64) -> Self {
        self.threshold = Some(threshold);
        self
    }

    /// Sets the minimum absolute change.
    pub fn with_min_absolute_change(mut self, change: f64) -> Self {
        self.min_absolute_change = Some(change);
        self
    }

    /// Sets the minimum relative change (a fraction).
    pub fn with_min_relative_change(mut self, change: f64) -> Self {
        self.min_relative_change = Some(change);
        self
    }

    /// Whether a change criterion (absolute or relative) is set; those need a baseline.
    pub fn has_change_criteria(&self) -> bool {
        self.min_absolute_change.is_some() || self.min_relative_change.is_some()
    }

    /// Checks the thresholds as MLflow's `MetricThreshold` constructor does (see the module
    /// doc for where we are stricter).
    ///
    /// # Errors
    /// [`Error::InvalidSpec`] at `at` (or `at.<field>`) when no criterion is set, `threshold`
    /// is not finite, `min_absolute_change` is not a finite number `> 0`, or
    /// `min_relative_change` is not in `(0, 1]`.
    pub fn validate(&self, at: &str) -> Result<()> {
        if self.threshold.is_none()
            && self.min_absolute_change.is_none()
            && self.min_relative_change.is_none()
        {
            return Err(Error::spec(
                at,
                "no threshold was specified: set threshold, min_absolute_change or \
                 min_relative_change",
            ));
        }
        if let Some(t) = self.threshold {
            if !t.is_finite() {
                return Err(Error::spec(
                    format!("{at}.threshold"),
                    format!("must be a finite number, not {t}"),
                ));
            }
        }
        if let Some(a) = self.min_absolute_change {
            if !(a.is_finite() && a > 0.0) {
                return Err(Error::spec(
                    format!("{at}.min_absolute_change"),
                    format!("must be a positive finite number, not {a}"),
                ));
            }
        }
        if let Some(r) = self.min_relative_change {
            if !(r > 0.0 && r <= 1.0) {
                return Err(Error::spec(
                    format!("{at}.min_relative_change"),
                    format!("must be a fraction in (0, 1] (0.05 = 5%), not {r}"),
                ));
            }
        }
        Ok(())
    }

    /// Checks `candidate` against every criterion that is set; with `baseline = None` the change
    /// criteria fail (MLflow's `missing_baseline`).
    ///
    /// The thresholds are assumed valid ([`MetricThreshold::validate`]); a criterion with an
    /// invalid parameter is still evaluated by its formula.
    pub fn check(&self, metric: &str, candidate: f64, baseline: Option<f64>) -> ThresholdResult {
        self.evaluate(metric, candidate, Baseline::from(baseline))
    }

    /// Checks only the value threshold; change criteria are reported as [`Status::Skipped`]
    /// (a first model has nothing to improve on).
    pub fn check_without_baseline(&self, metric: &str, candidate: f64) -> ThresholdResult {
        self.evaluate(metric, candidate, Baseline::Skip)
    }

    /// Reports every criterion as [`Status::Skipped`] with `why` (a gate that accepts a first
    /// model unchecked still records the values it saw).
    pub fn skip_all(&self, metric: &str, candidate: f64, why: &str) -> ThresholdResult {
        let mut result = self.evaluate(metric, candidate, Baseline::Skip);
        for c in &mut result.criteria {
            c.status = Status::Skipped;
            c.message = format!("{metric}: {} skipped: {why}", c.criterion.name());
        }
        result.passed = true;
        result
    }

    fn evaluate(&self, metric: &str, candidate: f64, baseline: Baseline) -> ThresholdResult {
        let mut criteria = Vec::with_capacity(3);
        if let Some(t) = self.threshold {
            criteria.push(self.check_value(metric, candidate, t, baseline.value()));
        }
        if let Some(a) = self.min_absolute_change {
            criteria.push(self.check_change(
                metric,
                Criterion::MinAbsoluteChange,
                candidate,
                a,
                baseline,
            ));
        }
        if let Some(r) = self.min_relative_change {
            criteria.push(self.check_change(
                metric,
                Criterion::MinRelativeChange,
                candidate,
                r,
                baseline,
            ));
        }
        ThresholdResult {
            metric: metric.to_owned(),
            greater_is_better: self.greater_is_better,
            candidate,
            baseline: baseline.value(),
            passed: !criteria.iter().any(CriterionOutcome::is_failed),
            criteria,
        }
    }

    fn check_value(
        &self,
        metric: &str,
        candidate: f64,
        t: f64,
        baseline: Option<f64>,
    ) -> CriterionOutcome {
        let gib = self.greater_is_better;
        let (status, message) = if !candidate.is_finite() {
            (
                Status::Failed,
                format!("{metric}: candidate is {candidate}; threshold {t} cannot be checked"),
            )
        } else {
            let ok = if gib { candidate >= t } else { candidate <= t };
            let op = match (gib, ok) {
                (true, true) => ">=",
                (true, false) => "<",
                (false, true) => "<=",
                (false, false) => ">",
            };
            (
                status_of(ok),
                format!("{metric}: candidate {candidate} {op} threshold {t}"),
            )
        };
        CriterionOutcome {
            criterion: Criterion::Threshold,
            candidate,
            baseline,
            required: t,
            bound: Some(t),
            change: None,
            status,
            message,
        }
    }

    fn check_change(
        &self,
        metric: &str,
        criterion: Criterion,
        candidate: f64,
        required: f64,
        baseline: Baseline,
    ) -> CriterionOutcome {
        let name = criterion.name();
        let mut out = CriterionOutcome {
            criterion,
            candidate,
            baseline: baseline.value(),
            required,
            bound: None,
            change: None,
            status: Status::Failed,
            message: String::new(),
        };
        let b = match baseline {
            Baseline::Skip => {
                out.status = Status::Skipped;
                out.message = format!("{metric}: {name} {required} skipped: no baseline");
                return out;
            }
            Baseline::Missing => {
                out.message =
                    format!("{metric}: {name} {required} needs a baseline, and there is none");
                return out;
            }
            Baseline::Value(b) => b,
        };
        let gib = self.greater_is_better;
        // `sign` turns "better" into "positive": +1 when greater is better.
        let sign = if gib { 1.0 } else { -1.0 };
        if !candidate.is_finite() || !b.is_finite() {
            out.message = format!(
                "{metric}: {name} {required} cannot be checked: candidate {candidate}, baseline {b} \
                 (NaN and ±inf are not metric values)"
            );
            return out;
        }
        match criterion {
            Criterion::MinAbsoluteChange => {
                // MLflow: comparator(Decimal(c), Decimal(operator(b, a))), the bound in f64.
                let bound = if gib { b + required } else { b - required };
                let ok = if gib {
                    candidate >= bound
                } else {
                    candidate <= bound
                };
                out.bound = Some(bound);
                out.change = Some(sign * (candidate - b));
                out.status = status_of(ok);
                let (pm, op) = match (gib, ok) {
                    (true, true) => ("+", ">="),
                    (true, false) => ("+", "<"),
                    (false, true) => ("-", "<="),
                    (false, false) => ("-", ">"),
                };
                out.message = format!(
                    "{metric}: candidate {candidate} {op} baseline {b} {pm} {name} {required} \
                     (= {bound})"
                );
            }
            // `Threshold` never reaches here (`check_value` handles it); it shares this arm
            // so that the match needs no panic.
            Criterion::MinRelativeChange | Criterion::Threshold => {
                out.bound = Some(b + sign * required * b.abs());
                if b == 0.0 {
                    let better = sign * (candidate - b);
                    let (ok, change, word) = if better > 0.0 {
                        (true, Some(f64::INFINITY), "better: relative change +inf")
                    } else if better < 0.0 {
                        (
                            false,
                            Some(f64::NEG_INFINITY),
                            "worse: relative change -inf",
                        )
                    } else {
                        (false, None, "not better: relative change undefined")
                    };
                    out.change = change;
                    out.status = status_of(ok);
                    out.message = format!(
                        "{metric}: baseline is 0 and candidate {candidate} is {word} \
                         ({name} {required})"
                    );
                } else {
                    // (c - b) / |b| when greater is better, (b - c) / |b| otherwise.
                    let (num, text) = if gib {
                        (candidate - b, format!("({candidate} - {b})"))
                    } else {
                        (b - candidate, format!("({b} - {candidate})"))
                    };
                    let rel = num / b.abs();
                    let ok = rel >= required;
                    out.change = Some(rel);
                    out.status = status_of(ok);
                    let op = if ok { ">=" } else { "<" };
                    out.message = format!(
                        "{metric}: relative change {text} / |{b}| = {rel} {op} {name} {required}"
                    );
                }
            }
        }
        out
    }
}

fn status_of(ok: bool) -> Status {
    if ok {
        Status::Passed
    } else {
        Status::Failed
    }
}

#[derive(Debug, Clone, Copy)]
enum Baseline {
    /// A baseline value.
    Value(f64),
    /// No baseline: change criteria fail.
    Missing,
    /// No baseline: change criteria are skipped.
    Skip,
}

impl Baseline {
    fn value(self) -> Option<f64> {
        match self {
            Baseline::Value(b) => Some(b),
            Baseline::Missing | Baseline::Skip => None,
        }
    }
}

impl From<Option<f64>> for Baseline {
    fn from(b: Option<f64>) -> Self {
        b.map_or(Baseline::Missing, Baseline::Value)
    }
}

/// Serde for an `f64` that may be NaN or ±inf: JSON has no such numbers, so they are written as
/// the strings `"NaN"`, `"inf"`, `"-inf"` (and read back from them); finite values stay numbers.
pub(crate) mod nonfinite {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    #[serde(untagged)]
    pub(crate) enum Repr {
        Num(f64),
        Text(String),
    }

    pub(crate) fn to_repr(x: f64) -> Repr {
        if x.is_finite() {
            Repr::Num(x)
        } else if x.is_nan() {
            Repr::Text("NaN".into())
        } else if x > 0.0 {
            Repr::Text("inf".into())
        } else {
            Repr::Text("-inf".into())
        }
    }

    pub(crate) fn from_repr<E: serde::de::Error>(r: Repr) -> Result<f64, E> {
        match r {
            Repr::Num(x) => Ok(x),
            Repr::Text(s) => match s.as_str() {
                "NaN" => Ok(f64::NAN),
                "inf" => Ok(f64::INFINITY),
                "-inf" => Ok(f64::NEG_INFINITY),
                other => Err(E::custom(format!(
                    "expected a number, \"NaN\", \"inf\" or \"-inf\", not {other:?}"
                ))),
            },
        }
    }

    pub(crate) fn serialize<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
        to_repr(*x).serialize(s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        from_repr(Repr::deserialize(d)?)
    }
}

/// As [`nonfinite`], for `Option<f64>` (`null` is `None`).
pub(crate) mod nonfinite_opt {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::nonfinite::{from_repr, to_repr, Repr};

    pub(crate) fn serialize<S: Serializer>(x: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
        x.map(to_repr).serialize(s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        Option::<Repr>::deserialize(d)?.map(from_repr).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statuses(r: &ThresholdResult) -> Vec<(Criterion, Status)> {
        r.criteria.iter().map(|c| (c.criterion, c.status)).collect()
    }

    #[test]
    fn message_names_the_numbers() {
        let t = MetricThreshold::new(true).with_threshold(0.85);
        let r = t.check("roc_auc", 0.812, None);
        assert!(!r.passed);
        assert_eq!(
            r.reasons(),
            vec!["roc_auc: candidate 0.812 < threshold 0.85"]
        );
    }

    #[test]
    fn absolute_message_shows_the_bound() {
        let t = MetricThreshold::new(false).with_min_absolute_change(0.1);
        let r = t.check("mae", 0.45, Some(0.5));
        assert_eq!(
            r.reasons(),
            vec!["mae: candidate 0.45 > baseline 0.5 - min_absolute_change 0.1 (= 0.4)"]
        );
        assert_eq!(r.criteria[0].bound, Some(0.4));
    }

    #[test]
    fn without_baseline_skips_change_criteria_only() {
        let t = MetricThreshold::new(true)
            .with_threshold(0.8)
            .with_min_absolute_change(0.01)
            .with_min_relative_change(0.01);
        let r = t.check_without_baseline("f1", 0.9);
        assert!(r.passed);
        assert_eq!(
            statuses(&r),
            vec![
                (Criterion::Threshold, Status::Passed),
                (Criterion::MinAbsoluteChange, Status::Skipped),
                (Criterion::MinRelativeChange, Status::Skipped),
            ]
        );
        let r = t.check_without_baseline("f1", 0.7);
        assert!(!r.passed);
    }

    #[test]
    fn skip_all_passes_and_says_why() {
        let t = MetricThreshold::new(true).with_threshold(0.99);
        let r = t.skip_all("f1", 0.1, "first model accepted");
        assert!(r.passed);
        assert_eq!(r.criteria[0].status, Status::Skipped);
        assert!(r.criteria[0].message.contains("first model accepted"));
    }

    #[test]
    fn infinite_values_fail_with_a_reason() {
        let t = MetricThreshold::new(true)
            .with_threshold(0.5)
            .with_min_relative_change(0.1);
        let r = t.check("r2", f64::INFINITY, Some(0.5));
        assert!(r.criteria.iter().all(CriterionOutcome::is_failed));
        let r = t.check("r2", 0.9, Some(f64::NEG_INFINITY));
        assert_eq!(r.criteria[0].status, Status::Passed);
        assert!(r.criteria[1].message.contains("cannot be checked"));
    }

    #[test]
    fn validate_refuses_non_finite_and_empty() {
        assert!(MetricThreshold::new(true).validate("m").is_err());
        let e = MetricThreshold::new(true)
            .with_threshold(f64::NAN)
            .validate("gate.metrics.f1")
            .unwrap_err();
        assert!(
            matches!(e, Error::InvalidSpec { ref at, .. } if at == "gate.metrics.f1.threshold"),
            "{e}"
        );
        for bad in [f64::NAN, f64::INFINITY, 0.0, -1.0] {
            assert!(MetricThreshold::new(true)
                .with_min_absolute_change(bad)
                .validate("m")
                .is_err());
        }
        for bad in [f64::NAN, 0.0, 1.0 + 1e-12, -0.5] {
            assert!(MetricThreshold::new(true)
                .with_min_relative_change(bad)
                .validate("m")
                .is_err());
        }
    }

    #[test]
    fn json_round_trip_keeps_nan() {
        let t = MetricThreshold::new(true).with_min_relative_change(0.1);
        let r = t.check("r2", f64::NAN, Some(0.0));
        let s = serde_json::to_string(&r).unwrap();
        assert!(s.contains("\"candidate\":\"NaN\""), "{s}");
        let back: ThresholdResult = serde_json::from_str(&s).unwrap();
        assert!(back.candidate.is_nan());
        assert_eq!(back.baseline, Some(0.0));
        let spec: MetricThreshold =
            serde_json::from_str(r#"{"threshold": 0.8, "greater_is_better": true}"#).unwrap();
        assert_eq!(spec, MetricThreshold::new(true).with_threshold(0.8));
        assert!(serde_json::from_str::<MetricThreshold>(
            r#"{"threshold": 0.8, "greater_is_better": true, "treshold": 1}"#
        )
        .is_err());
    }
}
