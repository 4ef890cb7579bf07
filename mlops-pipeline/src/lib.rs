//! Training pipelines for mlops-rs.
//!
//! A pipeline is a DAG of cached steps (built-in Rust [`Step`]s and command steps), followed by
//! an evaluation gate against the champion and registration with full lineage. Hyperparameter
//! optimisation ([`hpo`]) runs on a crash-safe journal.
#![deny(missing_docs)]

pub mod error;
pub mod hpo;
pub mod step;
pub mod trigger;

pub use error::{Error, Result};
pub use step::{Step, StepContext, StepOutcome};
