//! Monitoring for served models: know when a model degrades.
//!
//! The pieces, each usable alone:
//! - [`log`]: the prediction log. It is segmented, append-only and CRC-framed, behind a bounded
//!   queue that never blocks. A torn tail is cut on open, sealed segments are copied to Parquet,
//!   retention works by age and by size, and sealed segments can be uploaded to S3 (feature
//!   `s3`).
//! - [`labels`]: delayed ground truth by prediction id, with a TTL. Matched, late, duplicate and
//!   unknown labels are counted, and all of them are stored.
//! - [`window`] and [`report`]: mergeable window states per model × version × arm (× segment).
//!   Realised metrics come from `mlops-core` and equal sklearn; drift comes from `mlops-drift`;
//!   KPIs and a value matrix are included. [`ab`] holds the A/B tests, which equal scipy.
//!   [`quality`]: per-window data quality of the logged inputs against an `mlops-validate`
//!   schema (missing, out-of-range, unknown-category and schema-violation rates).
//! - [`cbpe`] and [`threshold`]: label-free estimates (CBPE) and mean ± 3σ bands, both equal to
//!   NannyML 0.13.1.
//! - [`alert`] and [`export`]: TOML rules and a persisted state machine, with an HMAC webhook and
//!   Alertmanager v2 as sinks, plus Prometheus gauges.
//! - `serve_sink` (feature `serve`) and `http` (feature `http`): the adapter to
//!   `mlops_serve::sink::PredictionSink` and the labels endpoint.
//!
//! The serving crate does not depend on this one. It emits records through its own sink trait,
//! and the CLI or the application wires the two together.
//!
//! ```
//! use mlops_monitor::record::{row_id, Value};
//! assert_eq!(row_id("req-7", 2, 4), "req-7/2");
//! assert_eq!(Value::Num(1.0).class_key(), Value::Str("1".into()).class_key());
//! ```
#![deny(missing_docs)]

pub mod ab;
pub mod alert;
pub mod cbpe;
mod error;
pub mod export;
pub mod frame;
#[cfg(feature = "http")]
pub mod http;
pub mod labels;
pub mod log;
pub mod quality;
pub mod record;
pub mod report;
#[cfg(feature = "s3")]
pub mod s3;
#[cfg(feature = "serve")]
pub mod serve_sink;
pub mod threshold;
pub mod values;
pub mod window;

pub use error::{Error, Result};
pub use record::{LabelRecord, LoggedPrediction, Value};
pub use values::{Estimate, LabelFreeEstimator, WindowKey, WindowValues};
