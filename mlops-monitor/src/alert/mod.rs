//! Alerts on window values: rules in a TOML file, a persisted state machine, sinks.
//!
//! - [`rules`]: the rules file ([`RuleSet::load`]) and the typed [`Rule`];
//! - [`engine`]: [`AlertEngine`] walks [`WindowValues`](crate::values::WindowValues) in time
//!   order through inactive → pending → firing → resolved, persists its state after each
//!   evaluation and calls the hooks set with [`AlertEngine::on_event`] on every transition;
//! - [`sink`]: [`AlertSink`] with a signed, retrying [`WebhookSink`] and an
//!   [`AlertmanagerSink`] for Prometheus Alertmanager's v2 API.
//!
//! Times are window times (milliseconds since the Unix epoch), not wall-clock times: a backfill
//! of last week's windows raises and resolves last week's alerts.
//!
//! ```
//! use mlops_monitor::alert::{AlertEngine, AlertState, RuleSet};
//! use mlops_monitor::values::{WindowKey, WindowValues};
//!
//! let rules = RuleSet::parse(r#"
//! [[rule]]
//! name = "accuracy_drop"
//! metric = "accuracy"
//! condition = { below = 0.8 }
//! "#, "rules.toml")?;
//! let dir = std::env::temp_dir().join(format!("mlops-alert-doc-{}", std::process::id()));
//! let mut engine = AlertEngine::open(rules, dir.join("state.json"))?;
//! let key = WindowKey { model: "churn".into(), version: 1, arm: "stable".into(), segment: None };
//! let window = WindowValues {
//!     key, start_ms: 0, end_ms: 60_000, n_predictions: 500, n_labelled: 400,
//!     values: [("accuracy".to_string(), 0.7)].into_iter().collect(),
//! };
//! let events = engine.evaluate(&[window], &[], 60_000)?;
//! assert_eq!(events[0].to, AlertState::Firing);
//! assert_eq!(engine.active()[0].labels["alertname"], "accuracy_drop");
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok::<(), mlops_monitor::Error>(())
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::values::WindowKey;

pub mod engine;
pub mod rules;
pub mod sink;

pub use engine::{AlertEngine, AlertHook};
pub use rules::{Condition, Hold, Rule, RuleSet, SamplesField};
pub use sink::{AlertSink, AlertmanagerSink, WebhookSink};

/// Where an alert stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    /// The condition does not hold (or never was evaluated).
    Inactive,
    /// The condition holds, not yet for `for`.
    Pending,
    /// The condition held for `for` (and has not been clear for longer than `keep_firing_for`).
    Firing,
    /// It was firing and has resolved; a new breach starts a new alert.
    Resolved,
}

/// One alert: a rule on one window key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// The rule's name.
    pub rule: String,
    /// The series the alert is about.
    pub key: WindowKey,
    /// Its state.
    pub state: AlertState,
    /// The metric's value in the last evaluated window that had it.
    #[serde(with = "number")]
    pub value: f64,
    /// The bound it is compared with, readable (`"< 0.8"`, `"outside [0.81, 0.93]"`).
    pub bound: String,
    /// The same bound for machines: the lowest value that does not breach it (absent when
    /// unbounded below, and in states written before this field existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_min: Option<f64>,
    /// The highest value that does not breach the bound (absent when unbounded above).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_max: Option<f64>,
    /// The rule's labels plus `alertname`, `severity`, `model`, `version`, `arm` and, for a
    /// segment window, `segment` (the field) and `segment_value`.
    pub labels: BTreeMap<String, String>,
    /// The rule's annotations plus `metric`, `value`, `bound`, `window_start`, `window_end`
    /// (RFC 3339) of the last evaluated window.
    pub annotations: BTreeMap<String, String>,
    /// End of the first breaching window of this alert (ms since the epoch; Prometheus's
    /// `activeAt`, sent as Alertmanager's `startsAt`).
    pub starts_at_ms: i64,
    /// End of the window that made it fire, once it fired.
    pub fired_at_ms: Option<i64>,
    /// End of the window that resolved it, once resolved.
    pub ends_at_ms: Option<i64>,
}

/// A transition of one alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertEvent {
    /// State before.
    pub from: AlertState,
    /// State after.
    pub to: AlertState,
    /// End of the window that caused it (ms since the epoch); the evaluation time for an alert
    /// resolved because its rule was removed.
    pub at_ms: i64,
    /// The alert after the transition.
    pub alert: Alert,
}

/// Serializes an `f64` as a JSON number when finite and as `"+Inf"`, `"-Inf"` or `"NaN"`
/// otherwise (serde_json would write `null` and fail to read it back).
pub(crate) mod number {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
        if x.is_finite() {
            s.serialize_f64(*x)
        } else {
            s.serialize_str(&super::prom_float(*x))
        }
    }

    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Repr {
        Num(f64),
        Text(String),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        match Repr::deserialize(d)? {
            Repr::Num(x) => Ok(x),
            Repr::Text(t) => match t.as_str() {
                "+Inf" => Ok(f64::INFINITY),
                "-Inf" => Ok(f64::NEG_INFINITY),
                "NaN" => Ok(f64::NAN),
                other => Err(serde::de::Error::custom(format!(
                    "expected a number, \"+Inf\", \"-Inf\" or \"NaN\", got {other:?}"
                ))),
            },
        }
    }
}

/// A float in Prometheus's text form (`+Inf`, `-Inf`, `NaN`, otherwise Rust's shortest
/// round-trip form).
pub(crate) fn prom_float(x: f64) -> String {
    if x.is_nan() {
        "NaN".into()
    } else if x == f64::INFINITY {
        "+Inf".into()
    } else if x == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{x}")
    }
}

/// RFC 3339 (UTC, milliseconds) of a time in ms since the epoch; the number itself when out of
/// chrono's range.
pub(crate) fn rfc3339(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_else(|| ms.to_string())
}
