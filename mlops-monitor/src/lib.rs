//! Monitoring for served models: know when a model degrades.
//!
//! **Status: foundation only.** This crate holds the logged data model shared by the
//! prediction log, the label join, the windows and the alerts that issue 11 asks for:
//! [`LoggedPrediction`] (one served row), [`LabelRecord`] (one delayed ground-truth value),
//! [`Value`] (a number or a text) and the prediction-id convention ([`record::row_id`]). The
//! prediction log, label join, windowed metrics, CBPE estimates, A/B results and alerts are not
//! built yet (see ARCHITECTURE.md, "mlops-monitor").
//!
//! The serving crate does not depend on this one: it emits records through its own sink trait
//! (`mlops_serve::sink::PredictionSink`), and the CLI (or the application) wires the two.
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
pub mod record;
pub mod report;
pub mod threshold;
pub mod values;
pub mod window;

pub use error::{Error, Result};
pub use record::{LabelRecord, LoggedPrediction, Value};
pub use values::{Estimate, LabelFreeEstimator, WindowKey, WindowValues};
