//! Where served predictions go to be logged: a small trait the servers call, implemented
//! elsewhere (`mlops-monitor`'s prediction log, wired by the CLI or the application).
//!
//! The serving crate does not know what a sink does with a record. It asks
//! [`PredictionSink::sampled`] first, so that an unsampled request costs nothing (no copy of
//! its inputs), and hands the record over with [`PredictionSink::offer`], which must never
//! block: a sink that falls behind refuses the record, and the server counts it in
//! `mlops_serve_prediction_log_dropped_total`.
//!
//! ```
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicU64, Ordering};
//! use mlops_serve::sink::{PredictionRecord, PredictionSink};
//!
//! #[derive(Default)]
//! struct Count(AtomicU64);
//! impl PredictionSink for Count {
//!     fn sampled(&self, _model: &str) -> bool { true }
//!     fn offer(&self, _record: PredictionRecord) -> bool {
//!         self.0.fetch_add(1, Ordering::Relaxed);
//!         true
//!     }
//! }
//! let sink: Arc<dyn PredictionSink> = Arc::new(Count::default());
//! # let _ = sink;
//! ```

use std::collections::BTreeMap;
#[cfg(any(feature = "http", feature = "grpc"))]
use std::sync::Arc;
#[cfg(any(feature = "http", feature = "grpc"))]
use std::time::Instant;
use std::time::{Duration, SystemTime};

#[cfg(any(feature = "http", feature = "grpc"))]
use crate::metrics::Metrics;
use crate::Tensors;

/// One served (or failed) request, as a sink receives it.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictionRecord {
    /// The prediction id: the request's OIP `id`, or one the server generated and returned in
    /// the response's `id`.
    pub id: String,
    /// When the request arrived.
    pub timestamp: SystemTime,
    /// Model name.
    pub model: String,
    /// The version that answered (`0` when the request failed before a version was chosen).
    pub version: u64,
    /// The deployment arm that answered (`stable`, `candidate`, `shadow`, `a`, `b`; empty when
    /// the request failed before routing).
    pub arm: String,
    /// The request's input tensors.
    pub inputs: Tensors,
    /// The model's outputs (empty when the request failed).
    pub outputs: Tensors,
    /// The request's `parameters` that the protocol does not define itself (segment and KPI
    /// fields a client sends, e.g. `{"segment.country": "fr", "kpi.amount": 12.5}`).
    pub parameters: BTreeMap<String, serde_json::Value>,
    /// Time from the request's arrival to its answer.
    pub latency: Duration,
    /// The error the client got, when the request failed.
    pub error: Option<String>,
}

/// Receives served predictions. Implementations must be cheap and must never block.
///
/// # Contract
/// - [`sampled`](Self::sampled) is called once per request before anything is copied; `false`
///   means the request is not logged and costs nothing more.
/// - [`offer`](Self::offer) returns `false` when the record was dropped (a full queue); the
///   server counts it. It never blocks and never fails the request.
pub trait PredictionSink: Send + Sync + 'static {
    /// Whether a request to `model` is to be logged (sampling).
    fn sampled(&self, model: &str) -> bool;
    /// Hands a record over; `false` when it was dropped.
    fn offer(&self, record: PredictionRecord) -> bool;
}

/// Request parameters the Open Inference Protocol (and Triton/KServe) define; everything else
/// is passed to the sink as a user parameter.
pub const PROTOCOL_PARAMETERS: [&str; 8] = [
    "binary_data_output",
    "binary_data",
    "binary_data_size",
    "timeout",
    "priority",
    "sequence_id",
    "sequence_start",
    "sequence_end",
];

/// What a logged request collects on its way through a server, turned into a
/// [`PredictionRecord`] once it is answered.
#[cfg(any(feature = "http", feature = "grpc"))]
#[derive(Default)]
pub(crate) struct PendingLog {
    pub(crate) id: Option<String>,
    pub(crate) version: u64,
    pub(crate) arm: String,
    pub(crate) inputs: Tensors,
    pub(crate) outputs: Tensors,
    pub(crate) parameters: BTreeMap<String, serde_json::Value>,
}

#[cfg(any(feature = "http", feature = "grpc"))]
impl PendingLog {
    /// Starts the log of a request to `model` in `slot` when there is a sink and it samples the
    /// request (call it once the model is known to be served); `None` otherwise.
    pub(crate) fn begin<'a>(
        slot: &'a mut Option<PendingLog>,
        sink: Option<&Arc<dyn PredictionSink>>,
        model: &str,
    ) -> Option<&'a mut PendingLog> {
        if sink.is_some_and(|s| s.sampled(model)) {
            Some(slot.insert(PendingLog::default()))
        } else {
            None
        }
    }

    /// The end of every inference request, answered or failed: records its end-to-end latency
    /// and, when it was logged, offers its record to the sink and counts the outcome.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn finish(
        log: Option<PendingLog>,
        sink: Option<&Arc<dyn PredictionSink>>,
        metrics: Option<&Metrics>,
        protocol: &str,
        model: &str,
        arrived: SystemTime,
        started: Instant,
        error: Option<String>,
    ) {
        let latency = started.elapsed();
        if let Some(m) = metrics {
            m.observe_request(model, protocol, latency);
        }
        if let (Some(sink), Some(log)) = (sink, log) {
            let queued = sink.offer(log.into_record(model, arrived, latency, error));
            if let Some(m) = metrics {
                m.count_logged(model, queued);
            }
        }
    }

    /// The record of a request to `model` that arrived at `timestamp`.
    fn into_record(
        self,
        model: &str,
        timestamp: SystemTime,
        latency: Duration,
        error: Option<String>,
    ) -> PredictionRecord {
        PredictionRecord {
            id: self.id.unwrap_or_else(new_prediction_id),
            timestamp,
            model: model.to_owned(),
            version: self.version,
            arm: self.arm,
            inputs: self.inputs,
            outputs: self.outputs,
            parameters: self.parameters,
            latency,
            error,
        }
    }
}

/// A new prediction id: 128 random bits (`rand`'s thread-local generator) as 32 lower-case hex
/// digits.
pub fn new_prediction_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Whether a request parameter is the client's own (not one of [`PROTOCOL_PARAMETERS`]).
#[cfg(any(feature = "http", feature = "grpc"))]
pub(crate) fn is_user_parameter(name: &str) -> bool {
    !PROTOCOL_PARAMETERS.contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_32_hex_digits_and_distinct() {
        let ids: std::collections::HashSet<String> =
            (0..10_000).map(|_| new_prediction_id()).collect();
        assert_eq!(ids.len(), 10_000);
        assert!(ids
            .iter()
            .all(|i| i.len() == 32 && i.bytes().all(|b| b.is_ascii_hexdigit())));
        let other = std::thread::spawn(new_prediction_id).join().unwrap();
        assert!(!ids.contains(&other));
    }
}
