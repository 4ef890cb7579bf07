//! The logged data model: one [`LoggedPrediction`] per served row, one [`LabelRecord`] per
//! ground-truth value, both keyed by the prediction id.
//!
//! A request with `N` rows and id `abc` logs `N` rows: id `abc` when `N == 1`, otherwise
//! `abc/0 … abc/{N-1}` (see [`row_id`]). Labels name the same ids.

use serde::{Deserialize, Serialize};

/// A cell: a number or a text (class labels, categorical features, segment values).
///
/// Serialized with serde's default (externally tagged) form so that bincode can read it back;
/// JSON at the edges (labels over HTTP, reports) goes through [`Value::from_json`] /
/// [`Value::to_json`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Value {
    /// A number (NaN allowed: a missing numeric cell).
    Num(f64),
    /// A text.
    Str(String),
}

impl Value {
    /// The number, if this is one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Num(x) => Some(*x),
            Value::Str(_) => None,
        }
    }

    /// The text, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Num(_) => None,
            Value::Str(s) => Some(s),
        }
    }

    /// A class key: texts as they are, integral numbers without a fraction (`1.0` → `"1"`),
    /// other numbers in Rust's shortest round-trip form. Used to compare labels with
    /// predictions whatever their JSON type.
    pub fn class_key(&self) -> String {
        match self {
            Value::Str(s) => s.clone(),
            Value::Num(x) if x.fract() == 0.0 && x.abs() < 9.0e15 => format!("{}", *x as i64),
            Value::Num(x) => format!("{x}"),
        }
    }

    /// From a JSON number, string or boolean (`true` → 1, `false` → 0); `None` for anything
    /// else (null, arrays, objects).
    pub fn from_json(v: &serde_json::Value) -> Option<Value> {
        match v {
            serde_json::Value::Number(n) => n.as_f64().map(Value::Num),
            serde_json::Value::String(s) => Some(Value::Str(s.clone())),
            serde_json::Value::Bool(b) => Some(Value::Num(if *b { 1.0 } else { 0.0 })),
            _ => None,
        }
    }

    /// As JSON (a non-finite number becomes `null`).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Num(x) => serde_json::Number::from_f64(*x)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            Value::Str(s) => serde_json::Value::String(s.clone()),
        }
    }
}

/// One served row, as the prediction log stores it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoggedPrediction {
    /// The prediction id labels are joined on (see the module doc).
    pub id: String,
    /// When it was served, milliseconds since the Unix epoch (UTC).
    pub timestamp_ms: i64,
    /// Model name.
    pub model: String,
    /// Model version that answered.
    pub version: u64,
    /// Deployment arm (`stable`, `candidate`, `shadow`, `a`, `b`, …).
    pub arm: String,
    /// Input columns, in model order: a `[N]` or `[N,1]` tensor `t` gives column `t`, a
    /// `[N,F]` tensor gives `t_0 … t_{F-1}`.
    pub features: Vec<(String, Value)>,
    /// The predicted class (classifiers) or value (regressors).
    pub prediction: Option<Value>,
    /// Class probabilities, in class order (classifiers that output them); for a binary
    /// classifier `scores[1]` is the positive class's probability.
    pub scores: Vec<f64>,
    /// Segment fields sent as request parameters (`segment.country = "fr"` → `("country","fr")`).
    pub segments: Vec<(String, String)>,
    /// KPI fields sent as request parameters (`kpi.amount = 12.5` → `("amount", 12.5)`).
    pub kpis: Vec<(String, f64)>,
    /// End-to-end serving latency in seconds, when known.
    pub latency_s: Option<f64>,
    /// Set when the request failed: the error text (then `prediction` is `None` and
    /// `scores` is empty). Counted by the windows' `error_rate`.
    pub error: Option<String>,
}

impl LoggedPrediction {
    /// The positive-class probability of a binary classifier (`scores[1]`), if logged.
    pub fn positive_score(&self) -> Option<f64> {
        if self.scores.len() == 2 {
            Some(self.scores[1])
        } else {
            None
        }
    }

    /// A feature by name.
    pub fn feature(&self, name: &str) -> Option<&Value> {
        self.features
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    /// A segment value by field name.
    pub fn segment(&self, name: &str) -> Option<&str> {
        self.segments
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One ground-truth value for a prediction id, as the label log stores it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelRecord {
    /// The prediction id.
    pub id: String,
    /// The true class or value.
    pub label: Value,
    /// When the label was received, milliseconds since the Unix epoch (UTC).
    pub received_ms: i64,
}

/// The id of row `row` of a request with id `request_id` and `rows` rows.
pub fn row_id(request_id: &str, row: usize, rows: usize) -> String {
    if rows == 1 {
        request_id.to_owned()
    } else {
        format!("{request_id}/{row}")
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_keys_unify_json_types() {
        assert_eq!(Value::Num(1.0).class_key(), "1");
        assert_eq!(Value::Str("1".into()).class_key(), "1");
        assert_eq!(Value::Num(0.5).class_key(), "0.5");
        assert_eq!(
            Value::from_json(&serde_json::json!(true)),
            Some(Value::Num(1.0))
        );
        assert_eq!(Value::from_json(&serde_json::json!(null)), None);
    }

    #[test]
    fn records_round_trip_through_bincode_with_unicode_and_nan() {
        let p = LoggedPrediction {
            id: "réq-✓/0".into(),
            timestamp_ms: 1_764_000_000_000,
            model: "churn".into(),
            version: 3,
            arm: "candidate".into(),
            features: vec![
                ("x_0".into(), Value::Num(f64::NAN)),
                ("pays".into(), Value::Str("Côte d’Ivoire".into())),
            ],
            prediction: Some(Value::Num(1.0)),
            scores: vec![0.25, 0.75],
            segments: vec![("country".into(), "fr".into())],
            kpis: vec![("amount".into(), 12.5)],
            latency_s: Some(0.002),
            error: None,
        };
        let bytes = bincode::serialize(&p).unwrap();
        let back: LoggedPrediction = bincode::deserialize(&bytes).unwrap();
        assert_eq!(back.id, p.id);
        assert!(back.features[0].1.as_f64().unwrap().is_nan());
        assert_eq!(back.features[1], p.features[1]);
        assert_eq!(back.positive_score(), Some(0.75));
        assert_eq!(back.segment("country"), Some("fr"));
        // A truncated record is an error, not garbage.
        assert!(bincode::deserialize::<LoggedPrediction>(&bytes[..bytes.len() - 3]).is_err());
    }

    #[test]
    fn row_ids() {
        assert_eq!(row_id("a", 0, 1), "a");
        assert_eq!(row_id("a", 2, 3), "a/2");
    }
}
