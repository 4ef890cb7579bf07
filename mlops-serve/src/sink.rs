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
use std::time::{Duration, SystemTime};

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
    /// The record of a request to `model` that arrived at `timestamp`.
    pub(crate) fn into_record(
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

/// A new prediction id: 128 random bits as 32 lower-case hex digits.
pub fn new_prediction_id() -> String {
    use rand_id::next;
    let (a, b) = next();
    format!("{a:016x}{b:016x}")
}

mod rand_id {
    //! A cheap per-thread generator (SplitMix64 seeded from the clock, the thread and a
    //! global counter): ids need to be unique, not secret.
    use std::cell::Cell;
    use std::sync::atomic::{AtomicU64, Ordering};

    static SEED: AtomicU64 = AtomicU64::new(0x9e37_79b9_7f4a_7c15);

    thread_local! {
        static STATE: Cell<u64> = Cell::new(seed());
    }

    fn seed() -> u64 {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let c = SEED.fetch_add(0x6a09_e667_f3bc_c909, Ordering::Relaxed);
        let local = 0u8;
        t ^ c ^ (&local as *const u8 as u64).rotate_left(32)
    }

    fn splitmix(state: &Cell<u64>) -> u64 {
        let mut z = state.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
        state.set(z);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub(super) fn next() -> (u64, u64) {
        STATE.with(|s| (splitmix(s), splitmix(s)))
    }
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
