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

/// Milliseconds as a float, for printing.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// What a closed-loop load run reports: successful requests, their rate over the measured
/// window, and their latency mean, p50/p90/p99 ([`percentile`]) and max.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatencySummary {
    /// Successful requests in the measured window.
    pub requests: u64,
    /// `requests` per second of the window.
    pub rps: f64,
    /// Mean latency.
    pub mean: Duration,
    /// Median latency.
    pub p50: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Slowest request.
    pub max: Duration,
}

impl LatencySummary {
    /// Summarises the latencies of a window of `secs` seconds (any order).
    pub fn new(mut latencies: Vec<Duration>, secs: f64) -> Self {
        latencies.sort_unstable();
        let requests = latencies.len() as u64;
        let mean = if latencies.is_empty() {
            Duration::ZERO
        } else {
            latencies.iter().sum::<Duration>() / latencies.len() as u32
        };
        LatencySummary {
            requests,
            rps: requests as f64 / secs,
            mean,
            p50: percentile(&latencies, 0.50),
            p90: percentile(&latencies, 0.90),
            p99: percentile(&latencies, 0.99),
            max: latencies.last().copied().unwrap_or(Duration::ZERO),
        }
    }
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
    fn latency_summary_of_a_window() {
        let v: Vec<Duration> = (1..=100).rev().map(Duration::from_millis).collect();
        let s = LatencySummary::new(v, 2.0);
        assert_eq!((s.requests, s.rps), (100, 50.0));
        assert_eq!(s.mean, Duration::from_micros(50_500));
        assert_eq!(
            (s.p50, s.p99, s.max),
            (
                Duration::from_millis(51),
                Duration::from_millis(99),
                Duration::from_millis(100)
            )
        );
        let empty = LatencySummary::new(Vec::new(), 1.0);
        assert_eq!(
            (empty.requests, empty.mean, empty.max),
            (0, Duration::ZERO, Duration::ZERO)
        );
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
