//! Helpers shared by the integration tests.
#![allow(dead_code)]

use mlops_drift::{MissingPolicy, SortedSample};

/// The LCG of tools/reference/drift_reference.py, bit for bit.
pub fn lcg_uniform(seed: u64, n: usize) -> Vec<f64> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((x >> 11) as f64 + 0.5) / 9007199254740992.0
        })
        .collect()
}

/// `gen(kind, seed, n, a, b)` of the reference script.
pub fn gen(kind: &str, seed: u64, n: usize, a: f64, b: f64) -> Vec<f64> {
    let u = lcg_uniform(seed, n);
    match kind {
        "unif" => u.iter().map(|u| a + b * u).collect(),
        "exp" => u.iter().map(|u| a - b * u.ln()).collect(),
        "round" => u.iter().map(|u| (a + b * u).floor()).collect(),
        _ => panic!("unknown kind {kind}"),
    }
}

/// Relative closeness (absolute for a zero expectation).
#[track_caller]
pub fn close(got: f64, want: f64, rtol: f64) {
    let tol = if want == 0.0 { rtol } else { rtol * want.abs() };
    assert!(
        (got - want).abs() <= tol,
        "got {got:e}, want {want:e} (rel err {:e})",
        ((got - want) / want).abs()
    );
}

/// Sorted sample of finite values.
pub fn sorted(x: &[f64]) -> SortedSample {
    SortedSample::from_values(x, MissingPolicy::Omit, "test")
        .unwrap()
        .0
}
