//! Pruners: [`MedianPruner`] (Optuna's `MedianPruner`, a `PercentilePruner` at 50 %) and
//! [`SuccessiveHalvingPruner`] (Optuna's asynchronous successive halving, ASHA).
//!
//! Both are stateless, as the [`Pruner`] contract asks: every decision is recomputed from the
//! recorded intermediate values in the history. Where Optuna keeps state (the successive-halving
//! rung values in trial system attributes, the estimated minimum resource on the pruner), it is
//! rebuilt from those values; the rebuild matches Optuna when every trial asks the pruner after
//! each reported step, which is how a study drives it.

use super::{Direction, FrozenTrial, Pruner, TrialState};
use crate::error::{Error, Result};

/// Prunes a trial whose best intermediate value so far is worse than the median of the completed
/// trials' intermediate values at the same step.
///
/// # Formula
/// At step `s` (the trial's last reported step, at most the `step` argument), with `b` the
/// trial's best intermediate value over its steps `≤ s` (NaNs ignored, as `np.nanmin` /
/// `np.nanmax`) and `m` the median of `{v_t(s)}` over the *completed* trials `t` that reported
/// step `s` (NaNs ignored, even counts averaged, as `np.nanpercentile(.., 50)`), the trial is
/// pruned when `b > m` (minimise) or `b < m` (maximise). Nothing is pruned while fewer than
/// `n_startup_trials` trials completed, before `n_warmup_steps`, off the `interval_steps` grid
/// (the first report at or after each grid step counts), or when fewer than `n_min_trials`
/// completed trials reported step `s`. A trial whose values are all NaN is pruned.
///
/// Reference: `optuna.pruners.MedianPruner` / `PercentilePruner.prune` (Optuna 5.1.0). Like
/// Optuna, only `Complete` trials form the median (pruned ones do not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MedianPruner {
    n_startup_trials: usize,
    n_warmup_steps: u64,
    interval_steps: u64,
    n_min_trials: usize,
}

impl Default for MedianPruner {
    /// Optuna's defaults: `n_startup_trials = 5`, `n_warmup_steps = 0`, `interval_steps = 1`,
    /// `n_min_trials = 1`.
    fn default() -> Self {
        MedianPruner {
            n_startup_trials: 5,
            n_warmup_steps: 0,
            interval_steps: 1,
            n_min_trials: 1,
        }
    }
}

impl MedianPruner {
    /// A median pruner with explicit settings (see the type's formula).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when `interval_steps` or `n_min_trials` is 0.
    pub fn new(
        n_startup_trials: usize,
        n_warmup_steps: u64,
        interval_steps: u64,
        n_min_trials: usize,
    ) -> Result<Self> {
        if interval_steps < 1 {
            return Err(Error::invalid(
                "interval_steps",
                "pruning interval steps must be at least 1",
            ));
        }
        if n_min_trials < 1 {
            return Err(Error::invalid(
                "n_min_trials",
                "the number of trials for pruning must be at least 1",
            ));
        }
        Ok(MedianPruner {
            n_startup_trials,
            n_warmup_steps,
            interval_steps,
            n_min_trials,
        })
    }
}

impl Pruner for MedianPruner {
    fn should_prune(
        &self,
        direction: Direction,
        trial: &FrozenTrial,
        step: u64,
        history: &[FrozenTrial],
    ) -> bool {
        let completed: Vec<&FrozenTrial> = history
            .iter()
            .filter(|t| t.state == TrialState::Complete && t.number != trial.number)
            .collect();
        if completed.is_empty() || completed.len() < self.n_startup_trials {
            return false;
        }
        let own: Vec<(u64, f64)> = trial
            .intermediate
            .range(..=step)
            .map(|(k, v)| (*k, *v))
            .collect();
        let Some(&(last_step, _)) = own.last() else {
            return false;
        };
        if last_step < self.n_warmup_steps {
            return false;
        }
        // Optuna's `_is_first_in_interval_step`: prune only on the first report at or after the
        // nearest grid step `warmup + k·interval`.
        let nearest_lower = (last_step - self.n_warmup_steps) / self.interval_steps
            * self.interval_steps
            + self.n_warmup_steps;
        let second_last = own.iter().rev().nth(1).map(|(k, _)| *k);
        if second_last.is_some_and(|k| k >= nearest_lower) {
            return false;
        }
        let best =
            own.iter()
                .map(|(_, v)| *v)
                .filter(|v| !v.is_nan())
                .reduce(|a, b| match direction {
                    Direction::Minimize => a.min(b),
                    Direction::Maximize => a.max(b),
                });
        let Some(best) = best else {
            return true; // every value NaN: Optuna prunes
        };
        let at_step: Vec<f64> = completed
            .iter()
            .filter_map(|t| t.intermediate.get(&last_step).copied())
            .collect();
        if at_step.len() < self.n_min_trials {
            return false;
        }
        let mut finite: Vec<f64> = at_step.into_iter().filter(|v| !v.is_nan()).collect();
        if finite.is_empty() {
            return false;
        }
        finite.sort_by(f64::total_cmp);
        let median = percentile_linear(&finite, 50.0);
        match direction {
            Direction::Minimize => best > median,
            Direction::Maximize => best < median,
        }
    }
}

/// numpy's default (`linear`) percentile of sorted, NaN-free, non-empty `v`, with numpy's lerp
/// (`b − (b − a)(1 − t)` when `t ≥ ½`) so that ties resolve bit for bit as in numpy.
fn percentile_linear(v: &[f64], q: f64) -> f64 {
    let n = v.len();
    if n == 1 {
        return v[0];
    }
    let idx = q / 100.0 * (n - 1) as f64;
    let lo = (idx.floor() as usize).min(n - 1);
    let hi = (lo + 1).min(n - 1);
    let t = idx - lo as f64;
    let (a, b) = (v[lo], v[hi]);
    let d = b - a;
    if t >= 0.5 {
        b - d * (1.0 - t)
    } else {
        a + d * t
    }
}

/// The minimum resource of successive halving: the first rung's step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MinResource {
    /// Estimated as Optuna does: `max(last_step / 100, 1)` of a completed trial (here the
    /// lowest-numbered completed trial in the history, which is the one Optuna sees first in a
    /// sequential study); no pruning until a trial completed.
    #[default]
    Auto,
    /// A fixed number of steps (at least 1).
    Steps(u64),
}

/// Asynchronous successive halving (ASHA), as Optuna's `SuccessiveHalvingPruner`.
///
/// # Formula
/// With `r` the minimum resource, `η` the reduction factor and `s` the minimum early-stopping
/// rate, rung `k` sits at step `r·η^(s+k)`. A trial's value at rung `k` is its intermediate value
/// at its first reported step `≥ r·η^(s+k)`. When the trial reaches a rung's step, it competes
/// with every other trial's value at that rung (any state) plus its own, `n` values in all: it is
/// promoted when its value is at most the `max(⌊n/η⌋, 1)`-th smallest (minimise; largest for
/// maximise), else pruned. A NaN value at a rung prunes. Several rungs reached at once are
/// checked in order. With `"auto"`, trials numbered up to the first completed one hold no rung
/// values (Optuna could not place rungs before that trial completed).
///
/// Reference: `optuna.pruners.SuccessiveHalvingPruner.prune` (Optuna 5.1.0), with
/// `bootstrap_count = 0`; the rung values Optuna stores as `completed_rung_k` system attributes
/// are rebuilt from the intermediate values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SuccessiveHalvingPruner {
    min_resource: MinResource,
    reduction_factor: u64,
    min_early_stopping_rate: u32,
}

impl Default for SuccessiveHalvingPruner {
    /// Optuna's defaults: `min_resource = "auto"`, `reduction_factor = 4`,
    /// `min_early_stopping_rate = 0`.
    fn default() -> Self {
        SuccessiveHalvingPruner {
            min_resource: MinResource::Auto,
            reduction_factor: 4,
            min_early_stopping_rate: 0,
        }
    }
}

impl SuccessiveHalvingPruner {
    /// A successive-halving pruner with explicit settings.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when `min_resource` is `Steps(0)` or `reduction_factor < 2`.
    pub fn new(
        min_resource: MinResource,
        reduction_factor: u64,
        min_early_stopping_rate: u32,
    ) -> Result<Self> {
        if min_resource == MinResource::Steps(0) {
            return Err(Error::invalid(
                "min_resource",
                "must be 'auto' or at least 1 step",
            ));
        }
        if reduction_factor < 2 {
            return Err(Error::invalid(
                "reduction_factor",
                format!("must be at least 2, got {reduction_factor}"),
            ));
        }
        Ok(SuccessiveHalvingPruner {
            min_resource,
            reduction_factor,
            min_early_stopping_rate,
        })
    }

    /// The minimum resource and the trial number from which rung values were recorded (with
    /// `"auto"`, Optuna records nothing until the estimate exists, so the trials up to and
    /// including the first completed one never reached a rung).
    fn resolve_min_resource(
        &self,
        trial: &FrozenTrial,
        history: &[FrozenTrial],
    ) -> Option<(u64, Option<u64>)> {
        match self.min_resource {
            MinResource::Steps(r) => Some((r, None)),
            MinResource::Auto => history
                .iter()
                .filter(|t| t.state == TrialState::Complete && t.number != trial.number)
                .filter_map(|t| t.intermediate.keys().next_back().map(|k| (t.number, *k)))
                .min_by_key(|(number, _)| *number)
                .map(|(number, last)| ((last / 100).max(1), Some(number))),
        }
    }

    /// The step of rung `rung` (saturating at `u64::MAX`).
    fn rung_step(&self, min_resource: u64, rung: u32) -> u64 {
        let exp = self.min_early_stopping_rate.saturating_add(rung);
        self.reduction_factor
            .checked_pow(exp)
            .and_then(|p| p.checked_mul(min_resource))
            .unwrap_or(u64::MAX)
    }
}

impl Pruner for SuccessiveHalvingPruner {
    fn should_prune(
        &self,
        direction: Direction,
        trial: &FrozenTrial,
        step: u64,
        history: &[FrozenTrial],
    ) -> bool {
        let mut own = trial.intermediate.range(..=step).rev();
        let Some((&last_step, &value)) = own.next() else {
            return false;
        };
        let previous_step = own.next().map(|(k, _)| *k);
        let Some((min_resource, recorded_after)) = self.resolve_min_resource(trial, history) else {
            return false;
        };
        // Rungs already passed at earlier reports (Optuna's `_get_current_rung`).
        let mut rung: u32 = 0;
        if let Some(prev) = previous_step {
            while self.rung_step(min_resource, rung) <= prev && rung < u32::MAX {
                rung += 1;
            }
        }
        loop {
            let promotion_step = self.rung_step(min_resource, rung);
            if last_step < promotion_step {
                return false;
            }
            if value.is_nan() {
                return true;
            }
            let mut competing: Vec<f64> = history
                .iter()
                .filter(|t| t.number != trial.number)
                .filter(|t| recorded_after.is_none_or(|first| t.number > first))
                .filter_map(|t| {
                    t.intermediate
                        .range(promotion_step..)
                        .next()
                        .map(|(_, v)| *v)
                        .filter(|v| !v.is_nan())
                })
                .collect();
            competing.push(value);
            if !is_promotable(value, &mut competing, self.reduction_factor, direction) {
                return true;
            }
            rung += 1;
        }
    }
}

/// Optuna's `_is_trial_promotable_to_next_rung`.
fn is_promotable(
    value: f64,
    competing: &mut [f64],
    reduction_factor: u64,
    direction: Direction,
) -> bool {
    let n = competing.len() as u64;
    // For the first `η − 1` trials Optuna promotes only the best (index 0).
    let idx = (n / reduction_factor).saturating_sub(1) as usize;
    competing.sort_by(f64::total_cmp);
    match direction {
        Direction::Minimize => competing.get(idx).is_some_and(|c| value <= *c),
        Direction::Maximize => competing
            .len()
            .checked_sub(idx + 1)
            .and_then(|i| competing.get(i))
            .is_some_and(|c| value >= *c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_matches_numpy_median() {
        assert_eq!(percentile_linear(&[1.0], 50.0), 1.0);
        assert_eq!(percentile_linear(&[1.0, 2.0], 50.0), 1.5);
        assert_eq!(percentile_linear(&[1.0, 2.0, 10.0], 50.0), 2.0);
        assert_eq!(percentile_linear(&[1.0, 2.0, 3.0, 10.0], 50.0), 2.5);
    }

    #[test]
    fn rejects_bad_settings() {
        assert!(MedianPruner::new(5, 0, 0, 1).is_err());
        assert!(MedianPruner::new(5, 0, 1, 0).is_err());
        assert!(SuccessiveHalvingPruner::new(MinResource::Steps(0), 4, 0).is_err());
        assert!(SuccessiveHalvingPruner::new(MinResource::Auto, 1, 0).is_err());
    }
}
