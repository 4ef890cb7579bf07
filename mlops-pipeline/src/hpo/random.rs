//! Random search: every active parameter drawn uniformly (in log space for `log` parameters) from
//! its distribution, as Optuna's `RandomSampler` does.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

use super::space::{is_active, single_value, validate};
use super::{Direction, Distribution, FrozenTrial, ParamValue, Params, Sampler, SearchSpace};
use crate::error::Result;

/// Uniform random search, seeded per suggestion.
///
/// The generator is ChaCha20 seeded with the `seed` argument of [`Sampler::sample`], so a
/// suggestion depends only on the space and that seed (the history is ignored). Parameters are
/// drawn in declaration order; a conditional parameter is drawn only when active.
///
/// # Formula
/// With `u ~ U[0, 1)`:
/// - float: `low + u (high − low)`; `log`: `exp(ln low + u (ln high − ln low))`;
/// - with `step` (floats and ints): `x = low − step/2 + u (high − low + step)`, then
///   `low + round((x − low)/step)·step`, clipped to `[low, high]` (Optuna's
///   `_SearchSpaceTransform`);
/// - log int: `exp` of a uniform draw on `[ln(low − ½), ln(high + ½)]`, rounded and clipped;
/// - categorical: choice `⌊u·n⌋`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RandomSampler;

impl RandomSampler {
    /// A random sampler.
    pub fn new() -> Self {
        RandomSampler
    }
}

impl Sampler for RandomSampler {
    fn sample(
        &self,
        space: &SearchSpace,
        _direction: Direction,
        _history: &[FrozenTrial],
        _running: &[FrozenTrial],
        seed: u64,
    ) -> Result<Params> {
        validate(space)?;
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let mut params = Params::new();
        for spec in &space.params {
            if !is_active(spec, &params) {
                continue;
            }
            let value = sample_uniform(&spec.distribution, &mut rng);
            params.insert(spec.name.clone(), value);
        }
        Ok(params)
    }
}

/// One uniform draw from a (validated) distribution; see [`RandomSampler`]'s formula.
pub(crate) fn sample_uniform<R: Rng + ?Sized>(dist: &Distribution, rng: &mut R) -> ParamValue {
    if let Some(v) = single_value(dist) {
        return v;
    }
    let u: f64 = rng.gen();
    match dist {
        Distribution::Float {
            low,
            high,
            log,
            step,
        } => {
            let (low, high) = (*low, *high);
            let v = match step {
                Some(step) => {
                    let x = low - step / 2.0 + u * (high - low + step);
                    snap_float(x, low, high, *step)
                }
                None if *log => (low.ln() + u * (high.ln() - low.ln())).exp(),
                None => low + u * (high - low),
            };
            ParamValue::Float(v.clamp(low, high))
        }
        Distribution::Int {
            low,
            high,
            log,
            step,
        } => {
            let (lo, hi) = (*low as f64, *high as f64);
            if *log {
                let (a, b) = ((lo - 0.5).ln(), (hi + 0.5).ln());
                let x = (a + u * (b - a)).exp();
                ParamValue::Int(clamp_round(x, *low, *high))
            } else {
                let s = *step as f64;
                let x = lo - s / 2.0 + u * (hi - lo + s);
                ParamValue::Int(snap_int(x, *low, *high, *step))
            }
        }
        Distribution::Categorical { choices } => {
            let n = choices.len();
            // `u < 1`, so the index is below `n`; `min` guards the rounding of `u * n`.
            let i = ((u * n as f64) as usize).min(n.saturating_sub(1));
            ParamValue::Str(choices.get(i).cloned().unwrap_or_default())
        }
    }
}

/// `x` moved to the nearest point of the grid `low + k·step` inside `[low, high]`.
pub(crate) fn snap_float(x: f64, low: f64, high: f64, step: f64) -> f64 {
    let n = ((high - low) / step).round();
    let k = ((x - low) / step).round().clamp(0.0, n);
    if k >= n {
        high
    } else {
        (low + k * step).clamp(low, high)
    }
}

/// `x` moved to the nearest point of the integer grid `low + k·step` inside `[low, high]`.
pub(crate) fn snap_int(x: f64, low: i64, high: i64, step: i64) -> i64 {
    let n = (i128::from(high) - i128::from(low)) / i128::from(step.max(1));
    let k = ((x - low as f64) / step.max(1) as f64).round();
    let k = if k.is_nan() {
        0
    } else {
        (k as i128).clamp(0, n)
    };
    let v = i128::from(low) + k * i128::from(step.max(1));
    // `v` lies in `[low, high]`, so it fits an i64.
    i64::try_from(v).unwrap_or(high)
}

/// `x` rounded to the nearest integer in `[low, high]`.
pub(crate) fn clamp_round(x: f64, low: i64, high: i64) -> i64 {
    let r = x.round();
    if r.is_nan() || r <= low as f64 {
        low
    } else if r >= high as f64 {
        high
    } else {
        r as i64
    }
}
