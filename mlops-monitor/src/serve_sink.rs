//! The adapter between serving and the prediction log (feature `serve`): a
//! [`mlops_serve::sink::PredictionSink`] that samples requests and hands them to a
//! [`PredictionLog`](crate::log::PredictionLog) (through its [`LogHandle`]) without blocking.
//!
//! `mlops-serve` never depends on this crate; this module depends on serve's sink trait, and
//! the CLI (or an application) installs it with `HttpConfig::with_prediction_sink`.
//!
//! # How a request becomes rows
//! A request with `N` rows and id `abc` becomes `N` [`LoggedPrediction`]s (ids per
//! [`row_id`]):
//! - **features**: every input tensor, by name: `[N]` or `[N,1]` gives a column named after
//!   the tensor, `[N,F]` (or more dimensions, flattened) gives `t_0 … t_{F-1}`; `BYTES`
//!   elements become text. [`SinkConfig::columns`] keeps a subset.
//! - **scores**: the output named [`SinkConfig::scores_output`], or else the first `[N,C≥2]`
//!   float output whose rows are probabilities (in [0, 1], summing to 1 ± 1e-3).
//! - **prediction**: the output named [`SinkConfig::prediction_output`], or else an `[N]` /
//!   `[N,1]` output named `label`, `class`, `prediction`, `predictions` or `y`, or else the
//!   arg-max class index of the scores, or else the only `[N]` / `[N,1]` numeric output (a
//!   regressor).
//! - **segments / KPIs**: request parameters `segment.<field>` (text or number) and
//!   `kpi.<name>` (numbers); other parameters are ignored.
//! - a failed request logs one row per input row (or one row) with its error text.
//!
//! The conversion runs on the log's writer thread ([`LogHandle::try_log_with`]), so a
//! sampled request pays for moving its record into the queue and nothing more.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use mlops_serve::sink::{PredictionRecord, PredictionSink};
use mlops_serve::{Tensor, TensorData};

use crate::log::LogHandle;
use crate::record::{row_id, LoggedPrediction, Value};

/// What to log of each request.
#[derive(Debug, Clone)]
pub struct SinkConfig {
    /// Fraction of requests logged, in [0, 1] (default 1: all).
    pub sample: f64,
    /// Input columns to keep (by logged column name); all when `None`.
    pub columns: Option<Vec<String>>,
    /// The output holding the predicted class or value (see the module doc for the default).
    pub prediction_output: Option<String>,
    /// The output holding class probabilities (see the module doc for the default).
    pub scores_output: Option<String>,
}

impl Default for SinkConfig {
    fn default() -> Self {
        SinkConfig {
            sample: 1.0,
            columns: None,
            prediction_output: None,
            scores_output: None,
        }
    }
}

/// A [`PredictionSink`] writing to a prediction log through its [`LogHandle`].
pub struct LogSink {
    log: LogHandle,
    config: Arc<SinkConfig>,
    /// Sampling state: a counter hashed into a uniform number (cheap, lock-free, and spreads
    /// the sample evenly over time).
    ticket: AtomicU64,
    threshold: u64,
}

impl std::fmt::Debug for LogSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogSink")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl LogSink {
    /// A sink writing through `log` (from [`PredictionLog::handle`](crate::log::PredictionLog::handle)).
    ///
    /// # Errors
    /// [`crate::Error::InvalidInput`] when `config.sample` is not in [0, 1].
    pub fn new(log: LogHandle, config: SinkConfig) -> crate::Result<LogSink> {
        if !(config.sample.is_finite() && (0.0..=1.0).contains(&config.sample)) {
            return Err(crate::Error::invalid(
                "sample",
                format!("{} is not a fraction in [0, 1]", config.sample),
            ));
        }
        let threshold = if config.sample >= 1.0 {
            u64::MAX
        } else {
            (config.sample * u64::MAX as f64) as u64
        };
        Ok(LogSink {
            log,
            config: Arc::new(config),
            ticket: AtomicU64::new(0),
            threshold,
        })
    }

    /// The handle this sink writes through.
    pub fn log(&self) -> &LogHandle {
        &self.log
    }
}

/// SplitMix64: a counter mapped to a well-spread 64-bit number.
fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl PredictionSink for LogSink {
    fn sampled(&self, _model: &str) -> bool {
        if self.threshold == u64::MAX {
            return true;
        }
        let t = self.ticket.fetch_add(1, Ordering::Relaxed);
        splitmix(t) < self.threshold
    }

    fn offer(&self, record: PredictionRecord) -> bool {
        let config = Arc::clone(&self.config);
        self.log.try_log_with(move || to_logged(&record, &config))
    }
}

/// The rows a record logs (see the module doc).
pub fn to_logged(record: &PredictionRecord, config: &SinkConfig) -> Vec<LoggedPrediction> {
    let rows = record
        .inputs
        .values()
        .next()
        .map(|t| t.shape().first().copied().unwrap_or(1))
        .unwrap_or(1)
        .max(usize::from(record.error.is_some()));
    let timestamp_ms = record
        .timestamp
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let mut segments = Vec::new();
    let mut kpis = Vec::new();
    for (k, v) in &record.parameters {
        if let Some(field) = k.strip_prefix("segment.") {
            let text = match v {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Number(n) => Some(n.to_string()),
                serde_json::Value::Bool(b) => Some(b.to_string()),
                _ => None,
            };
            if let Some(t) = text {
                segments.push((field.to_owned(), t));
            }
        } else if let Some(name) = k.strip_prefix("kpi.") {
            if let Some(x) = v.as_f64() {
                kpis.push((name.to_owned(), x));
            }
        }
    }
    let columns = feature_columns(record, rows, config);
    let scores = scores_output(record, rows, config);
    let predicted = prediction_output(record, rows, config, scores.as_ref());
    let latency_s = Some(record.latency.as_secs_f64());
    (0..rows)
        .map(|i| LoggedPrediction {
            id: row_id(&record.id, i, rows),
            timestamp_ms,
            model: record.model.clone(),
            version: record.version,
            arm: record.arm.clone(),
            features: columns
                .iter()
                .map(|(name, values)| {
                    (
                        name.clone(),
                        values.get(i).cloned().unwrap_or(Value::Num(f64::NAN)),
                    )
                })
                .collect(),
            prediction: predicted.as_ref().and_then(|p| p.get(i).cloned()),
            scores: scores
                .as_ref()
                .and_then(|(c, s)| s.get(i * c..(i + 1) * c))
                .map(<[f64]>::to_vec)
                .unwrap_or_default(),
            segments: segments.clone(),
            kpis: kpis.clone(),
            latency_s,
            error: record.error.clone(),
        })
        .collect()
}

/// Element `i` of a tensor as a [`Value`].
fn cell(t: &Tensor, i: usize) -> Value {
    match t.data() {
        TensorData::Bytes(b) => Value::Str(
            b.get(i)
                .map(|x| String::from_utf8_lossy(x).into_owned())
                .unwrap_or_default(),
        ),
        d => Value::Num(d.get_f64(i).unwrap_or(f64::NAN)),
    }
}

/// Elements per row of a tensor with `rows` rows, when its first dimension is `rows`.
fn width(t: &Tensor, rows: usize) -> Option<usize> {
    let shape = t.shape();
    if shape.first() != Some(&rows) {
        return None;
    }
    Some(shape.iter().skip(1).product::<usize>().max(1))
}

fn feature_columns(
    record: &PredictionRecord,
    rows: usize,
    config: &SinkConfig,
) -> Vec<(String, Vec<Value>)> {
    let mut out = Vec::new();
    for (name, t) in &record.inputs {
        let Some(w) = width(t, rows) else { continue };
        let names: Vec<String> = if t.shape().len() <= 1 || w == 1 {
            vec![name.clone()]
        } else {
            (0..w).map(|j| format!("{name}_{j}")).collect()
        };
        for (j, col) in names.into_iter().enumerate() {
            if let Some(keep) = &config.columns {
                if !keep.contains(&col) {
                    continue;
                }
            }
            let values = (0..rows).map(|i| cell(t, i * w + j)).collect();
            out.push((col, values));
        }
    }
    out
}

fn is_probability_rows(t: &Tensor, rows: usize, c: usize) -> bool {
    let d = t.data();
    (0..rows).all(|i| {
        let mut sum = 0.0;
        for j in 0..c {
            match d.get_f64(i * c + j) {
                Some(p) if (0.0..=1.0).contains(&p) => sum += p,
                _ => return false,
            }
        }
        (sum - 1.0).abs() <= 1e-3
    })
}

/// `(classes, row-major scores)`.
fn scores_output(
    record: &PredictionRecord,
    rows: usize,
    config: &SinkConfig,
) -> Option<(usize, Vec<f64>)> {
    let pick = |t: &Tensor| -> Option<(usize, Vec<f64>)> {
        let c = width(t, rows)?;
        let d = t.data();
        let v: Option<Vec<f64>> = (0..rows * c).map(|k| d.get_f64(k)).collect();
        v.map(|v| (c, v))
    };
    if let Some(name) = &config.scores_output {
        return record.outputs.get(name).and_then(pick);
    }
    record.outputs.values().find_map(|t| {
        let c = width(t, rows)?;
        let float = matches!(
            t.data(),
            TensorData::F32(_) | TensorData::F64(_) | TensorData::F16(_)
        );
        if t.shape().len() == 2 && c >= 2 && float && is_probability_rows(t, rows, c) {
            pick(t)
        } else {
            None
        }
    })
}

fn prediction_output(
    record: &PredictionRecord,
    rows: usize,
    config: &SinkConfig,
    scores: Option<&(usize, Vec<f64>)>,
) -> Option<Vec<Value>> {
    let column = |t: &Tensor| -> Option<Vec<Value>> {
        (width(t, rows)? == 1).then(|| (0..rows).map(|i| cell(t, i)).collect())
    };
    if let Some(name) = &config.prediction_output {
        return record.outputs.get(name).and_then(column);
    }
    for name in ["label", "class", "prediction", "predictions", "y"] {
        if let Some(v) = record.outputs.get(name).and_then(column) {
            return Some(v);
        }
    }
    if let Some((c, s)) = scores {
        return Some(
            (0..rows)
                .map(|i| {
                    let row = &s[i * c..(i + 1) * c];
                    let mut best = 0;
                    for (j, &p) in row.iter().enumerate() {
                        if p > row[best] {
                            best = j;
                        }
                    }
                    Value::Num(best as f64)
                })
                .collect(),
        );
    }
    let singles: Vec<&Tensor> = record
        .outputs
        .values()
        .filter(|t| width(t, rows) == Some(1) && !matches!(t.data(), TensorData::Bytes(_)))
        .collect();
    match singles.as_slice() {
        [one] => column(one),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::{Duration, SystemTime};

    use super::*;

    fn record(inputs: Vec<(&str, Tensor)>, outputs: Vec<(&str, Tensor)>) -> PredictionRecord {
        PredictionRecord {
            id: "req".into(),
            timestamp: UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
            model: "churn".into(),
            version: 2,
            arm: "stable".into(),
            inputs: inputs.into_iter().map(|(k, v)| (k.into(), v)).collect(),
            outputs: outputs.into_iter().map(|(k, v)| (k.into(), v)).collect(),
            parameters: BTreeMap::from([
                ("segment.country".into(), serde_json::json!("fr")),
                ("segment.tier".into(), serde_json::json!(3)),
                ("kpi.amount".into(), serde_json::json!(12.5)),
                ("kpi.bad".into(), serde_json::json!("x")),
                ("other".into(), serde_json::json!(1)),
            ]),
            latency: Duration::from_millis(3),
            error: None,
        }
    }

    #[test]
    fn rows_features_scores_and_argmax_prediction() {
        let x = Tensor::f32(vec![2, 2], vec![1.0, 2.0, 3.0, f32::NAN]).unwrap();
        let probs = Tensor::f32(vec![2, 2], vec![0.25, 0.75, 0.9, 0.1]).unwrap();
        let rows = to_logged(
            &record(vec![("x", x)], vec![("probs", probs)]),
            &SinkConfig::default(),
        );
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].id, "req/0");
        assert_eq!(rows[1].id, "req/1");
        assert_eq!(rows[0].timestamp_ms, 1_700_000_000_123);
        assert_eq!(rows[0].features[0], ("x_0".into(), Value::Num(1.0)));
        assert_eq!(rows[1].features[0], ("x_0".into(), Value::Num(3.0)));
        assert!(rows[1].features[1].1.as_f64().unwrap().is_nan());
        assert_eq!(rows[0].scores, vec![0.25, 0.75]);
        assert_eq!(rows[0].prediction, Some(Value::Num(1.0)));
        assert_eq!(rows[1].prediction, Some(Value::Num(0.0)));
        assert_eq!(
            rows[0].segments,
            vec![("country".into(), "fr".into()), ("tier".into(), "3".into())]
        );
        assert_eq!(rows[0].kpis, vec![("amount".into(), 12.5)]);
        assert_eq!(rows[0].latency_s, Some(0.003));
    }

    #[test]
    fn a_one_row_request_keeps_its_id_and_a_regressor_logs_its_value() {
        let x = Tensor::f32(vec![1, 3], vec![1.0, 2.0, 3.0]).unwrap();
        let y = Tensor::new(vec![1], TensorData::F64(vec![4.5])).unwrap();
        let config = SinkConfig {
            columns: Some(vec!["x_2".into()]),
            ..SinkConfig::default()
        };
        let rows = to_logged(&record(vec![("x", x)], vec![("out", y)]), &config);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].id, "req");
        assert_eq!(rows[0].features, vec![("x_2".into(), Value::Num(3.0))]);
        assert_eq!(rows[0].prediction, Some(Value::Num(4.5)));
        assert!(rows[0].scores.is_empty());
    }

    #[test]
    fn logits_are_not_taken_for_probabilities_and_text_inputs_are_kept() {
        let text = Tensor::new(
            vec![1],
            TensorData::Bytes(vec!["Zürich ✓".as_bytes().to_vec()]),
        )
        .unwrap();
        let logits = Tensor::f32(vec![1, 2], vec![2.0, -1.0]).unwrap();
        let label = Tensor::new(vec![1], TensorData::I64(vec![1])).unwrap();
        let rows = to_logged(
            &record(
                vec![("city", text)],
                vec![("logits", logits), ("label", label)],
            ),
            &SinkConfig::default(),
        );
        assert_eq!(rows[0].features[0].1, Value::Str("Zürich ✓".into()));
        assert!(rows[0].scores.is_empty());
        assert_eq!(rows[0].prediction, Some(Value::Num(1.0)));
    }

    #[test]
    fn a_failed_request_logs_its_error() {
        let mut r = record(vec![], vec![]);
        r.error = Some("bad input".into());
        let rows = to_logged(&r, &SinkConfig::default());
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].error.as_deref(), Some("bad input"));
        assert_eq!(rows[0].prediction, None);
    }

    #[test]
    fn sampling_takes_about_the_configured_fraction() {
        let dir = tempfile::tempdir().unwrap();
        let log = crate::log::PredictionLog::open(crate::log::LogConfig::new(dir.path())).unwrap();
        let sink = LogSink::new(
            log.handle(),
            SinkConfig {
                sample: 0.1,
                ..SinkConfig::default()
            },
        )
        .unwrap();
        let n = (0..100_000).filter(|_| sink.sampled("m")).count();
        assert!((9_000..11_000).contains(&n), "{n}");
        assert!(LogSink::new(
            sink.log().clone(),
            SinkConfig {
                sample: 1.5,
                ..SinkConfig::default()
            }
        )
        .is_err());
        let _ = SystemTime::now();
    }
}
