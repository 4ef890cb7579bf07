//! Alert rules: the TOML file, its validation and the typed [`Rule`].
//!
//! ```toml
//! [[rule]]
//! name = "accuracy_drop"          # unique in the file
//! metric = "accuracy"             # any name `values::is_known_metric` accepts
//! condition = { below = 0.8 }     # { above = x }, { outside = [lo, hi] }, { band = "reference", sigma = 3.0 }
//! for = 2                         # consecutive windows, or a duration in window time: "30m"
//! keep_firing_for = 1             # windows or a duration
//! min_samples = 100               # see `Rule::samples_field`
//! severity = "critical"           # default "warning"
//! model = "churn"                 # optional filters: model, version, arm, segment
//! labels = { team = "risk" }
//! annotations = { summary = "accuracy below 0.8" }
//! ```
//!
//! Data-quality values (`quality.missing_rate`, `quality.<col>.unknown_rate`, …, see
//! [`crate::quality`]) are metrics like any other; windows have them only when finalized with
//! a schema (`--schema`), and a rule over a metric a window lacks leaves its state as it is.
//!
//! Every error names the file and the line of the offending rule or field.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::values::{is_known_metric, FIXED_METRICS};
use crate::{Error, Result};

/// Labels every alert gets from the engine; a rule may not set them itself.
pub const RESERVED_LABELS: &[&str] = &[
    "alertname",
    "severity",
    "model",
    "version",
    "arm",
    "segment",
    "segment_value",
];

/// When a window's value breaches a rule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Condition {
    /// `value > bound`.
    Above(f64),
    /// `value < bound`.
    Below(f64),
    /// `value < low` or `value > high`.
    Outside {
        /// Lower bound (inclusive: equal is inside).
        low: f64,
        /// Upper bound (inclusive).
        high: f64,
    },
    /// Strictly outside `mean ± sigma·std` of the reference windows' values of the metric
    /// (population std), clipped to the metric's range, as NannyML's thresholds.
    ReferenceBand {
        /// Multiplier of the standard deviation (NannyML's default is 3).
        sigma: f64,
    },
}

/// How long a condition must hold (`for`) or keep holding after it cleared (`keep_firing_for`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// A number of evaluated windows.
    Windows(u32),
    /// A span of window time.
    Duration(Duration),
}

impl Hold {
    /// No wait at all (`0`).
    pub const ZERO: Hold = Hold::Windows(0);
}

/// One validated rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Unique name; the alerts' `alertname` label.
    pub name: String,
    /// Metric name, as in [`crate::values`].
    pub metric: String,
    /// When a value breaches.
    pub condition: Condition,
    /// How long the condition must hold before the alert fires (pending until then).
    ///
    /// `Windows(n)`: it fires on the `n`-th consecutive breaching window (`0` and `1` fire on
    /// the first). `Duration(d)`: it fires on the first breaching window whose end is at least
    /// `d` after the start of the first window of the streak, so `for = "30m"` over 10-minute
    /// windows fires on the third, like `for = 3`.
    pub hold_for: Hold,
    /// How long a firing alert keeps firing once the condition cleared.
    ///
    /// `Windows(k)`: it resolves on the `(k+1)`-th consecutive clear window. `Duration(d)`: it
    /// resolves on the first clear window whose end is more than `d` after the end of the last
    /// breaching window. A breaching window in between resets the count.
    pub keep_firing_for: Hold,
    /// Windows with fewer samples (see [`Rule::samples_field`]) leave the state as it is.
    pub min_samples: u64,
    /// The alerts' `severity` label.
    pub severity: String,
    /// Only windows of this model.
    pub model: Option<String>,
    /// Only windows of this model version.
    pub version: Option<u64>,
    /// Only windows of this arm.
    pub arm: Option<String>,
    /// `None`: only whole-traffic windows (no segment). `Some(field)`: only the per-segment
    /// windows of that segment field, one alert per segment value.
    pub segment: Option<String>,
    /// Extra labels.
    pub labels: BTreeMap<String, String>,
    /// Extra annotations (the engine adds `value`, `bound`, `metric`, `window_start`, `window_end`).
    pub annotations: BTreeMap<String, String>,
    /// 1-based line of the rule's `[[rule]]` header in its file.
    pub line: usize,
}

/// Which count of a window `min_samples` compares against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SamplesField {
    /// `WindowValues::n_predictions`: inputs, serving, drift, KPIs, estimates, coverage.
    Predictions,
    /// `WindowValues::n_labelled`: metrics computed from joined labels.
    Labelled,
}

impl Rule {
    /// Which count `min_samples` applies to: `n_labelled` for realised metrics (computed from
    /// joined labels: `accuracy`, `precision*`, `recall*`, `f1*`, `roc_auc`, `log_loss`,
    /// `class.*`, `mae`, `rmse`, `mape`, `r2`, `value.realised`), `n_predictions` otherwise
    /// (serving metrics, drift, KPIs, CBPE estimates, `label_coverage`, counts).
    pub fn samples_field(&self) -> SamplesField {
        samples_field(&self.metric)
    }

    /// Whether this rule looks at windows with `key`.
    pub fn matches(&self, key: &crate::values::WindowKey) -> bool {
        self.model.as_ref().is_none_or(|m| *m == key.model)
            && self.version.is_none_or(|v| v == key.version)
            && self.arm.as_ref().is_none_or(|a| *a == key.arm)
            && match (&self.segment, &key.segment) {
                (None, None) => true,
                (Some(field), Some((f, _))) => field == f,
                _ => false,
            }
    }
}

pub(crate) fn samples_field(metric: &str) -> SamplesField {
    if crate::values::is_labelled_metric(metric) {
        SamplesField::Labelled
    } else {
        SamplesField::Predictions
    }
}

/// A validated rules file.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSet {
    rules: Vec<Rule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    rule: Vec<Spanned<RawRule>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: Spanned<String>,
    metric: Spanned<String>,
    condition: Spanned<RawCondition>,
    #[serde(rename = "for", default)]
    hold_for: Option<Spanned<RawHold>>,
    #[serde(default)]
    keep_firing_for: Option<Spanned<RawHold>>,
    #[serde(default)]
    min_samples: Option<u64>,
    #[serde(default)]
    severity: Option<Spanned<String>>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    version: Option<u64>,
    #[serde(default)]
    arm: Option<String>,
    #[serde(default)]
    segment: Option<String>,
    #[serde(default)]
    labels: Option<Spanned<BTreeMap<String, String>>>,
    #[serde(default)]
    annotations: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCondition {
    above: Option<f64>,
    below: Option<f64>,
    outside: Option<Vec<f64>>,
    band: Option<String>,
    sigma: Option<f64>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawHold {
    Windows(i64),
    Duration(String),
}

/// 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Whether `s` is a valid Prometheus label name (and not reserved by Prometheus: `__*`).
pub(crate) fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !s.starts_with("__")
}

/// [`crate::window::parse_duration`], with its reason as the rule error's text.
pub(crate) fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    crate::window::parse_duration(s).map_err(|e| match e {
        Error::InvalidInput { reason, .. } => reason,
        other => other.to_string(),
    })
}

impl RuleSet {
    /// Parses and validates a rules file's text; `origin` (the file name) prefixes every error.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming `origin` and the line when the TOML is malformed, a
    /// field is unknown or has the wrong type, a metric is unknown, a condition is not exactly
    /// one of `above`/`below`/`outside`/`band` or holds a non-finite bound, a duration does not
    /// parse, a label name is invalid or reserved ([`RESERVED_LABELS`]), two rules share a
    /// name, or there is no rule at all.
    pub fn parse(text: &str, origin: &str) -> Result<RuleSet> {
        let raw: RawFile = toml::from_str(text).map_err(|e| {
            let at = e
                .span()
                .map(|s| format!("line {}", line_of(text, s.start)))
                .unwrap_or_else(|| "unknown line".into());
            Error::invalid(
                format!("rules file {origin}"),
                format!("{at}: {}", e.message().trim()),
            )
        })?;
        if raw.rule.is_empty() {
            return Err(Error::invalid(
                format!("rules file {origin}"),
                "no [[rule]] table",
            ));
        }
        let mut rules: Vec<Rule> = Vec::with_capacity(raw.rule.len());
        for spanned in raw.rule {
            let rule_line = line_of(text, spanned.span().start);
            let rule = validate(spanned.into_inner(), text, origin, rule_line)?;
            if let Some(prev) = rules.iter().find(|r| r.name == rule.name) {
                return Err(Error::invalid(
                    format!("rules file {origin}"),
                    format!(
                        "line {}: duplicate rule name {:?} (first defined at line {})",
                        rule.line, rule.name, prev.line
                    ),
                ));
            }
            rules.push(rule);
        }
        Ok(RuleSet { rules })
    }

    /// Reads and parses a rules file.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be read; otherwise as [`RuleSet::parse`].
    #[tracing::instrument(skip_all, fields(path = %path.as_ref().display()))]
    pub fn load(path: impl AsRef<Path>) -> Result<RuleSet> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        RuleSet::parse(&text, &path.display().to_string())
    }

    /// The rules, in file order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The rule called `name`.
    pub fn get(&self, name: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.name == name)
    }
}

fn validate(raw: RawRule, text: &str, origin: &str, rule_line: usize) -> Result<Rule> {
    let at = |span: Range<usize>| line_of(text, span.start);
    let err = |line: usize, reason: String| {
        Error::invalid(
            format!("rules file {origin}"),
            format!("line {line}: {reason}"),
        )
    };
    let name_line = at(raw.name.span());
    let name = raw.name.into_inner();
    if name.trim().is_empty() {
        return Err(err(name_line, "rule name is empty".into()));
    }
    let metric_line = at(raw.metric.span());
    let metric = raw.metric.into_inner();
    if !is_known_metric(&metric) {
        let hint = FIXED_METRICS
            .iter()
            .find(|m| m.eq_ignore_ascii_case(&metric))
            .map(|m| format!(" (did you mean {m:?}?)"))
            .unwrap_or_default();
        return Err(err(
            metric_line,
            format!("rule {name:?}: unknown metric {metric:?}{hint}"),
        ));
    }
    let cond_line = at(raw.condition.span());
    let c = raw.condition.into_inner();
    let cerr = |reason: &str| err(cond_line, format!("rule {name:?}: condition: {reason}"));
    let set = [
        c.above.is_some(),
        c.below.is_some(),
        c.outside.is_some(),
        c.band.is_some(),
    ]
    .iter()
    .filter(|&&b| b)
    .count();
    if set != 1 {
        return Err(cerr(
            "give exactly one of `above`, `below`, `outside` or `band`",
        ));
    }
    if c.sigma.is_some() && c.band.is_none() {
        return Err(cerr("`sigma` goes with `band = \"reference\"` only"));
    }
    let finite = |x: f64, what: &str| {
        if x.is_finite() {
            Ok(x)
        } else {
            Err(cerr(&format!("{what} must be a finite number, got {x}")))
        }
    };
    let condition = if let Some(x) = c.above {
        Condition::Above(finite(x, "`above`")?)
    } else if let Some(x) = c.below {
        Condition::Below(finite(x, "`below`")?)
    } else if let Some(v) = c.outside {
        let [low, high] = v.as_slice() else {
            return Err(cerr("`outside` takes two numbers [low, high]"));
        };
        let (low, high) = (finite(*low, "`outside`")?, finite(*high, "`outside`")?);
        if low > high {
            return Err(cerr(&format!("`outside` = [{low}, {high}]: low > high")));
        }
        Condition::Outside { low, high }
    } else {
        let band = c.band.unwrap_or_default();
        if band != "reference" {
            return Err(cerr(&format!(
                "`band` = {band:?}: the only band is \"reference\""
            )));
        }
        let sigma = finite(c.sigma.unwrap_or(3.0), "`sigma`")?;
        if sigma <= 0.0 {
            return Err(cerr(&format!("`sigma` must be > 0, got {sigma}")));
        }
        Condition::ReferenceBand { sigma }
    };
    let hold = |h: Option<Spanned<RawHold>>, field: &str| -> Result<Hold> {
        let Some(h) = h else { return Ok(Hold::ZERO) };
        let line = at(h.span());
        match h.into_inner() {
            RawHold::Windows(n) => u32::try_from(n).map(Hold::Windows).map_err(|_| {
                err(
                    line,
                    format!(
                        "rule {name:?}: `{field}` = {n}: windows must be 0 ..= {}",
                        u32::MAX
                    ),
                )
            }),
            RawHold::Duration(s) => parse_duration(&s)
                .map(Hold::Duration)
                .map_err(|e| err(line, format!("rule {name:?}: `{field}`: {e}"))),
        }
    };
    let hold_for = hold(raw.hold_for, "for")?;
    let keep_firing_for = hold(raw.keep_firing_for, "keep_firing_for")?;
    let severity = match raw.severity {
        None => "warning".to_owned(),
        Some(s) => {
            let line = at(s.span());
            let s = s.into_inner();
            if s.trim().is_empty() {
                return Err(err(line, format!("rule {name:?}: `severity` is empty")));
            }
            s
        }
    };
    let labels = match raw.labels {
        None => BTreeMap::new(),
        Some(l) => {
            let line = at(l.span());
            let l = l.into_inner();
            for k in l.keys() {
                if RESERVED_LABELS.contains(&k.as_str()) {
                    return Err(err(
                        line,
                        format!("rule {name:?}: label {k:?} is set by the engine"),
                    ));
                }
                if !is_label_name(k) {
                    return Err(err(
                        line,
                        format!(
                            "rule {name:?}: label name {k:?} is not [a-zA-Z_][a-zA-Z0-9_]* (or starts with __)"
                        ),
                    ));
                }
            }
            l
        }
    };
    let annotations = raw.annotations.unwrap_or_default();
    for k in annotations.keys() {
        if !is_label_name(k) {
            return Err(err(
                rule_line,
                format!("rule {name:?}: annotation name {k:?} is not [a-zA-Z_][a-zA-Z0-9_]*"),
            ));
        }
    }
    Ok(Rule {
        name,
        metric,
        condition,
        hold_for,
        keep_firing_for,
        min_samples: raw.min_samples.unwrap_or(0),
        severity,
        model: raw.model,
        version: raw.version,
        arm: raw.arm,
        segment: raw.segment,
        labels,
        annotations,
        line: rule_line,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        for bad in ["", "5", "m", "5x", "1.5h", "-1m", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn label_names() {
        assert!(is_label_name("team"));
        assert!(is_label_name("_x1"));
        for bad in ["", "1a", "a-b", "__x", "é"] {
            assert!(!is_label_name(bad), "{bad}");
        }
    }

    #[test]
    fn samples_fields() {
        assert_eq!(samples_field("accuracy"), SamplesField::Labelled);
        assert_eq!(samples_field("class.yes.f1"), SamplesField::Labelled);
        assert_eq!(
            samples_field("estimated.roc_auc"),
            SamplesField::Predictions
        );
        assert_eq!(samples_field("label_coverage"), SamplesField::Predictions);
        assert_eq!(
            samples_field("drift.age.p_value"),
            SamplesField::Predictions
        );
    }
}
