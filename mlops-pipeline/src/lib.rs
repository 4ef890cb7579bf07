//! Training pipelines for mlops-rs.
//!
//! A pipeline is a DAG of cached steps (built-in Rust [`Step`]s and command steps), followed by
//! an evaluation gate against the champion and registration with full lineage. Hyperparameter
//! optimisation ([`hpo`]) runs on a crash-safe journal.
#![deny(missing_docs)]

pub mod builtin;
pub mod cache;
pub mod data;
pub mod error;
pub mod gate;
pub mod hpo;
pub mod lock;
pub mod on_alert;
pub mod register;
pub mod run;
pub mod score;
pub mod spec;
pub mod step;
pub mod train;
pub mod trigger;
pub mod validation;

pub use error::{Error, Result};
pub use run::{Progress, Registered, RunOptions, RunReport, Runner, StepReport, StepStatus};
pub use spec::Pipeline;
pub use step::{Step, StepContext, StepOutcome};
pub use trigger::TriggerCause;
