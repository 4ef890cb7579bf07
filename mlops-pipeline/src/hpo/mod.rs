//! Hyperparameter optimisation: search spaces, samplers (random, TPE), pruners (median,
//! successive halving / ASHA) and a crash-safe journal-backed study.
//!
//! This file holds the types every part shares; `space.rs`, `sampler/`, `pruner.rs` (the
//! algorithms) and `journal.rs`, `study.rs` (storage and the worker loop) build on them.

use std::collections::BTreeMap;

pub mod objectives;
pub mod pruner;
pub mod random;
pub mod space;
pub mod tpe;

pub use pruner::{MedianPruner, MinResource, SuccessiveHalvingPruner};
pub use random::RandomSampler;
pub use tpe::TpeSampler;

use serde::{Deserialize, Serialize};

use crate::error::Result;

pub mod journal;
pub mod study;

/// One parameter's value in a trial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ParamValue {
    /// An integer parameter.
    Int(i64),
    /// A float parameter.
    Float(f64),
    /// A categorical choice (choices are strings; `"true"`, `"3"` and the like included).
    Str(String),
}

/// A trial's parameters, by name.
pub type Params = BTreeMap<String, ParamValue>;

/// What a parameter may take.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Distribution {
    /// A float in `[low, high]`; `log` samples uniformly in log space (needs `low > 0`);
    /// `step` discretises (not with `log`).
    Float {
        /// Lower bound (inclusive).
        low: f64,
        /// Upper bound (inclusive).
        high: f64,
        /// Sample in log space.
        #[serde(default)]
        log: bool,
        /// Discretisation step.
        #[serde(default)]
        step: Option<f64>,
    },
    /// An integer in `[low, high]` with `step` (default 1); `log` needs `low ≥ 1` and step 1.
    Int {
        /// Lower bound (inclusive).
        low: i64,
        /// Upper bound (inclusive).
        high: i64,
        /// Sample in log space.
        #[serde(default)]
        log: bool,
        /// Step (default 1).
        #[serde(default = "one")]
        step: i64,
    },
    /// One of `choices`.
    Categorical {
        /// The choices, in order.
        choices: Vec<String>,
    },
}

fn one() -> i64 {
    1
}

/// A parameter that exists only when another parameter took one of `values` (a conditional space).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Condition {
    /// The parent parameter's name (declared earlier in the space).
    pub parent: String,
    /// The parent's values for which this parameter is active.
    pub values: Vec<ParamValue>,
}

/// One parameter of a search space.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParamSpec {
    /// The parameter's name.
    pub name: String,
    /// Its distribution.
    pub distribution: Distribution,
    /// Present only when the parent took one of the listed values.
    #[serde(default)]
    pub condition: Option<Condition>,
}

/// A search space: parameters in declaration order (a parent before its children).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SearchSpace {
    /// The parameters.
    pub params: Vec<ParamSpec>,
}

/// Whether the objective is minimised or maximised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Smaller is better.
    #[default]
    Minimize,
    /// Larger is better.
    Maximize,
}

/// A trial's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrialState {
    /// Suggested and being evaluated (holds a lease).
    Running,
    /// Finished with a value.
    Complete,
    /// Stopped early by the pruner; its last intermediate value counts as its value.
    Pruned,
    /// Failed (the objective errored or its worker died); a failed trial may be re-queued.
    Fail,
}

/// A trial as the samplers and pruners see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrozenTrial {
    /// The trial number, dense from 0.
    pub number: u64,
    /// Its state.
    pub state: TrialState,
    /// Its parameters (only the active ones in a conditional space).
    pub params: Params,
    /// Its final value (complete trials; the last intermediate value for pruned ones).
    pub value: Option<f64>,
    /// Intermediate values reported by step.
    pub intermediate: BTreeMap<u64, f64>,
    /// The seed given to the objective, derived from (study seed, number).
    pub seed: u64,
}

/// Suggests parameters for a new trial.
///
/// # Contract
/// - `history` holds the trials the suggestion may depend on (finished ones: complete, pruned,
///   failed); `running` holds trials whose params are known but whose result is not (the
///   constant liar uses them). The study decides which trials go where; in deterministic mode it
///   passes only trials numbered below `k − workers` in `history`.
/// - The result depends only on (`space`, `direction`, `history`, `running`, `seed`): the same
///   arguments give the same params on every run and every machine.
/// - Every returned value lies in its distribution; inactive conditional parameters are absent.
pub trait Sampler: Send + Sync + std::fmt::Debug {
    /// Suggests the params of a new trial.
    ///
    /// # Errors
    /// [`crate::Error::InvalidSpec`] when the space is invalid (empty bounds, `log` with `low ≤ 0`).
    fn sample(
        &self,
        space: &SearchSpace,
        direction: Direction,
        history: &[FrozenTrial],
        running: &[FrozenTrial],
        seed: u64,
    ) -> Result<Params>;
}

/// Decides whether a running trial should stop early.
///
/// # Contract
/// Stateless: the decision depends only on the arguments, so a restarted study rebuilds the
/// pruner's state (rungs, medians) from the recorded intermediate values.
pub trait Pruner: Send + Sync + std::fmt::Debug {
    /// Whether `trial`, having just reported its value at `step`, should be pruned.
    fn should_prune(
        &self,
        direction: Direction,
        trial: &FrozenTrial,
        step: u64,
        history: &[FrozenTrial],
    ) -> bool;
}
