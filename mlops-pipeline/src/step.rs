//! The built-in step interface: a Rust step the pipeline runs and caches like a command step.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::error::Result;

/// What a built-in step gets when it runs.
#[derive(Debug, Clone)]
pub struct StepContext {
    /// The step's name in the pipeline.
    pub name: String,
    /// Its params (the spec's `params` table as JSON).
    pub params: serde_json::Value,
    /// Its inputs by name: files or directories (other steps' outputs are resolved to their paths).
    pub inputs: BTreeMap<String, PathBuf>,
    /// Its declared outputs by name: the paths it must write (under the run's work directory).
    pub outputs: BTreeMap<String, PathBuf>,
    /// A scratch directory, empty at start.
    pub work_dir: PathBuf,
    /// The step's seed (the pipeline seed unless the step sets its own).
    pub seed: u64,
}

/// What a built-in step reports.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepOutcome {
    /// Metrics to record with the run (and to gate on).
    pub metrics: BTreeMap<String, f64>,
}

/// A built-in Rust step.
///
/// # Contract
/// - `run` writes every path in `ctx.outputs` (or fails); it reads only `ctx.inputs`, `ctx.params`
///   and `ctx.seed`, so the cache key (kind, version, params, input digests, seed) determines its
///   outputs.
/// - `version` changes whenever the step's behaviour changes, which invalidates cached results.
pub trait Step: Send + Sync + std::fmt::Debug {
    /// The step kind as written in `pipeline.toml` (`kind = "train_logreg"`).
    fn kind(&self) -> &str;
    /// The step implementation's version (part of the cache key).
    fn version(&self) -> &str;
    /// Runs the step.
    ///
    /// # Errors
    /// Any error; the pipeline reports it as the step's failure.
    fn run(&self, ctx: &StepContext) -> Result<StepOutcome>;
}
