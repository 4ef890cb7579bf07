//! The evaluation gate: may a candidate model replace the champion?
//!
//! - [`threshold`]: one metric's [`MetricThreshold`] (MLflow's), checked criterion by criterion.
pub mod threshold;

pub use threshold::{Criterion, CriterionOutcome, MetricThreshold, Status, ThresholdResult};
