//! Standard test functions for hyperparameter optimisation (Branin, Hartmann-6) with their search
//! spaces and known global minima, used by the tests and the benchmark example.
//!
//! Definitions follow Surjanovic & Bingham, *Virtual Library of Simulation Experiments*
//! (<https://www.sfu.ca/~ssurjano/branin.html>, <https://www.sfu.ca/~ssurjano/hart6.html>).

use std::f64::consts::PI;

use super::{Distribution, ParamSpec, ParamValue, Params, SearchSpace};
use crate::error::{Error, Result};

/// Branin's global minimum, `0.397887…`, reached at `(−π, 12.275)`, `(π, 2.275)` and
/// `(9.42478, 2.475)`.
pub const BRANIN_MIN: f64 = 0.397_887_357_729_738;

/// Hartmann-6's global minimum, reached at
/// `(0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573)`.
pub const HARTMANN6_MIN: f64 = -3.322_368_011_415_51;

/// The Branin–Hoo function on `x1 ∈ [−5, 10]`, `x2 ∈ [0, 15]`.
///
/// # Formula
/// `f(x1, x2) = a (x2 − b x1² + c x1 − r)² + s (1 − t) cos x1 + s` with `a = 1`,
/// `b = 5.1/(4π²)`, `c = 5/π`, `r = 6`, `s = 10`, `t = 1/(8π)`.
pub fn branin(x1: f64, x2: f64) -> f64 {
    let b = 5.1 / (4.0 * PI * PI);
    let c = 5.0 / PI;
    let t = 1.0 / (8.0 * PI);
    let q = x2 - b * x1 * x1 + c * x1 - 6.0;
    q * q + 10.0 * (1.0 - t) * x1.cos() + 10.0
}

const HART_ALPHA: [f64; 4] = [1.0, 1.2, 3.0, 3.2];
const HART_A: [[f64; 6]; 4] = [
    [10.0, 3.0, 17.0, 3.5, 1.7, 8.0],
    [0.05, 10.0, 17.0, 0.1, 8.0, 14.0],
    [3.0, 3.5, 1.7, 10.0, 17.0, 8.0],
    [17.0, 8.0, 0.05, 10.0, 0.1, 14.0],
];
const HART_P: [[f64; 6]; 4] = [
    [0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886],
    [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
    [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650],
    [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381],
];

/// The six-dimensional Hartmann function on `[0, 1]⁶`.
///
/// # Formula
/// `f(x) = −Σᵢ αᵢ exp(−Σⱼ Aᵢⱼ (xⱼ − Pᵢⱼ)²)` with the standard `α`, `A` and `P` (`P` already
/// scaled by `10⁻⁴`).
pub fn hartmann6(x: &[f64; 6]) -> f64 {
    let mut f = 0.0;
    for i in 0..4 {
        let mut inner = 0.0;
        for j in 0..6 {
            let d = x[j] - HART_P[i][j];
            inner += HART_A[i][j] * d * d;
        }
        f -= HART_ALPHA[i] * (-inner).exp();
    }
    f
}

fn float_spec(name: &str, low: f64, high: f64) -> ParamSpec {
    ParamSpec {
        name: name.to_string(),
        distribution: Distribution::Float {
            low,
            high,
            log: false,
            step: None,
        },
        condition: None,
    }
}

/// Branin's space: floats `x1 ∈ [−5, 10]`, `x2 ∈ [0, 15]`.
pub fn branin_space() -> SearchSpace {
    SearchSpace {
        params: vec![float_spec("x1", -5.0, 10.0), float_spec("x2", 0.0, 15.0)],
    }
}

/// Hartmann-6's space: floats `x0 … x5 ∈ [0, 1]`.
pub fn hartmann6_space() -> SearchSpace {
    SearchSpace {
        params: (0..6)
            .map(|j| float_spec(&format!("x{j}"), 0.0, 1.0))
            .collect(),
    }
}

fn float_param(params: &Params, name: &str) -> Result<f64> {
    match params.get(name) {
        Some(ParamValue::Float(v)) => Ok(*v),
        Some(other) => Err(Error::invalid(
            format!("params.{name}"),
            format!("expected a float, got {other:?}"),
        )),
        None => Err(Error::invalid(format!("params.{name}"), "missing")),
    }
}

/// [`branin`] evaluated on params from [`branin_space`].
///
/// # Errors
/// [`Error::InvalidInput`] when `x1` or `x2` is missing or not a float.
pub fn branin_params(params: &Params) -> Result<f64> {
    Ok(branin(
        float_param(params, "x1")?,
        float_param(params, "x2")?,
    ))
}

/// [`hartmann6`] evaluated on params from [`hartmann6_space`].
///
/// # Errors
/// [`Error::InvalidInput`] when one of `x0 … x5` is missing or not a float.
pub fn hartmann6_params(params: &Params) -> Result<f64> {
    let mut x = [0.0; 6];
    for (j, xj) in x.iter_mut().enumerate() {
        *xj = float_param(params, &format!("x{j}"))?;
    }
    Ok(hartmann6(&x))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_minima() {
        for (x1, x2) in [(-PI, 12.275), (PI, 2.275), (9.42478, 2.475)] {
            assert!((branin(x1, x2) - BRANIN_MIN).abs() < 1e-5);
        }
        let xs = [0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573];
        assert!((hartmann6(&xs) - HARTMANN6_MIN).abs() < 1e-5);
        assert!(branin_params(&Params::new()).is_err());
    }
}
