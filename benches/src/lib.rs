//! Criterion benchmarks across the mlops-rs crates live in `benches/benches/*.rs`
//! (`cargo bench -p mlops-benches --bench <core|drift|registry|serve>`). This library holds the
//! small helpers they share — data generators and the percentile used for reported latencies —
//! so that those helpers are tested like any other code.

use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;

/// `n` draws of a normal distribution with mean `shift` and unit variance, from a fixed seed.
pub fn normal(seed: u64, n: usize, shift: f64) -> Vec<f64> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..n)
        .map(|_| rng.sample::<f64, _>(StandardNormal) + shift)
        .collect()
}

/// The `p`-quantile (0 ≤ p ≤ 1) of ascending-sorted durations, by rounding the rank
/// `(len − 1)·p` to the nearest index, ties to even (numpy's `quantile(..., method="nearest")`).
/// `Duration::ZERO` for an empty slice.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p.clamp(0.0, 1.0)).round_ties_even() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_matches_numpy_nearest() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_micros).collect();
        // numpy.quantile(np.arange(1, 101), 0.99, method="nearest") == 99
        assert_eq!(percentile(&v, 0.99), Duration::from_micros(99));
        // numpy.quantile(np.arange(1, 101), 0.5, method="nearest") == 51
        assert_eq!(percentile(&v, 0.5), Duration::from_micros(51));
        // numpy.quantile(np.arange(1, 99), 0.5, method="nearest") == 49 (rank 48.5: ties to even)
        assert_eq!(percentile(&v[..98], 0.5), Duration::from_micros(49));
        assert_eq!(percentile(&v, 0.0), Duration::from_micros(1));
        assert_eq!(percentile(&v, 1.0), Duration::from_micros(100));
        assert_eq!(percentile(&[], 0.99), Duration::ZERO);
        assert_eq!(percentile(&v[..1], 0.99), Duration::from_micros(1));
    }

    #[test]
    fn normal_has_the_requested_moments_and_is_reproducible() {
        let x = normal(1, 200_000, 3.0);
        let mean = x.iter().sum::<f64>() / x.len() as f64;
        let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / x.len() as f64;
        // Standard error of the mean is 1/sqrt(2e5) ≈ 0.0022: 0.02 is ~9 SE.
        assert!((mean - 3.0).abs() < 0.02, "mean {mean}");
        assert!((var - 1.0).abs() < 0.02, "var {var}");
        assert_eq!(x[..10], normal(1, 10, 3.0)[..]);
        assert_ne!(x[..10], normal(2, 10, 3.0)[..]);
    }
}
