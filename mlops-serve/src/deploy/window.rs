//! Per-arm check windows: request and failure counts, a log-bucket latency histogram and a
//! bounded sample of one prediction column, all lock-free except the sample.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use mlops_drift::binning::{divergences_from_counts, Binning, BinningStrategy, DEFAULT_EPSILON};
use mlops_drift::{MissingPolicy, SortedSample};
use serde::Serialize;

use super::DriftGuard;
use crate::tensor::Tensors;

/// Buckets per doubling of latency: a reported percentile is at most 2^(1/4) − 1 ≈ 19 % above
/// the true value.
const PER_OCTAVE: f64 = 4.0;
/// 1 µs · 2^(96/4) ≈ 16.8 s; slower requests land in the last bucket.
const BUCKETS: usize = 96;

/// One arm's counters since the last judged check.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct WindowStats {
    /// Requests answered (or failed on the server side).
    pub requests: u64,
    /// Server-side failures: model errors and panics, overload, deadline, shutdown (not
    /// client errors such as invalid input).
    pub failures: u64,
    /// `failures / requests` (0 with no requests).
    pub error_rate: f64,
    /// Median end-to-end latency (upper edge of its log bucket, ≤ 19 % high).
    #[serde(rename = "p50_ms", serialize_with = "opt_ms")]
    pub p50: Option<Duration>,
    /// 99th percentile end-to-end latency (upper edge of its log bucket, ≤ 19 % high).
    #[serde(rename = "p99_ms", serialize_with = "opt_ms")]
    pub p99: Option<Duration>,
    /// Prediction values sampled for the drift guard.
    pub samples: usize,
}

fn opt_ms<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_some(&(d.as_secs_f64() * 1e3)),
        None => s.serialize_none(),
    }
}

pub(crate) struct ArmWindow {
    requests: AtomicU64,
    failures: AtomicU64,
    buckets: Vec<AtomicU64>,
    samples: Mutex<VecDeque<f64>>,
}

impl Default for ArmWindow {
    fn default() -> Self {
        Self {
            requests: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            samples: Mutex::new(VecDeque::new()),
        }
    }
}

fn bucket_of(d: Duration) -> usize {
    let us = d.as_secs_f64() * 1e6;
    if us <= 1.0 {
        return 0;
    }
    ((us.log2() * PER_OCTAVE).floor() as usize).min(BUCKETS - 1)
}

fn upper_edge(i: usize) -> Duration {
    Duration::from_secs_f64(2f64.powf((i + 1) as f64 / PER_OCTAVE) * 1e-6)
}

impl ArmWindow {
    pub(crate) fn record(&self, latency: Duration, ok: bool) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if !ok {
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
        self.buckets[bucket_of(latency)].fetch_add(1, Ordering::Relaxed);
    }

    /// Keeps the most recent `max_samples` values of `outputs[g.output][:, g.column]`.
    pub(crate) fn sample(&self, outputs: &Tensors, g: &DriftGuard) {
        let Some(t) = outputs.get(&g.output) else {
            return;
        };
        let rows = t.rows();
        if rows == 0 {
            return;
        }
        let width = t.shape().iter().skip(1).product::<usize>();
        if g.column >= width.max(1) {
            return;
        }
        let width = width.max(1);
        let at = |r: usize| r * width + g.column;
        let mut s = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        for r in 0..rows {
            let v = t.data().get_f64(at(r));
            if let Some(v) = v.filter(|v| v.is_finite()) {
                if s.len() == g.max_samples {
                    s.pop_front();
                }
                s.push_back(v);
            }
        }
    }

    pub(crate) fn samples(&self) -> Vec<f64> {
        self.samples
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .copied()
            .collect()
    }

    pub(crate) fn peek(&self) -> WindowStats {
        let requests = self.requests.load(Ordering::Relaxed);
        let failures = self.failures.load(Ordering::Relaxed);
        let counts: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        let quantile = |q: f64| -> Option<Duration> {
            if total == 0 {
                return None;
            }
            let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
            let mut acc = 0;
            for (i, c) in counts.iter().enumerate() {
                acc += c;
                if acc >= rank {
                    return Some(upper_edge(i));
                }
            }
            Some(upper_edge(BUCKETS - 1))
        };
        WindowStats {
            requests,
            failures,
            error_rate: if requests == 0 {
                0.0
            } else {
                failures as f64 / requests as f64
            },
            p50: quantile(0.5),
            p99: quantile(0.99),
            samples: self.samples.lock().unwrap_or_else(|p| p.into_inner()).len(),
        }
    }

    pub(crate) fn reset(&self) {
        self.requests.store(0, Ordering::Relaxed);
        self.failures.store(0, Ordering::Relaxed);
        for b in &self.buckets {
            b.store(0, Ordering::Relaxed);
        }
        self.samples
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}

/// PSI of `current` against `reference`, on 10 quantile bins fitted on `reference`
/// (the same binning and ε = 1e-4 smoothing as `mlops-drift`'s reports).
pub(crate) fn psi_between(reference: &[f64], current: &[f64]) -> mlops_drift::Result<f64> {
    let (r, _) = SortedSample::from_values(reference, MissingPolicy::Omit, "stable predictions")?;
    let (c, _) = SortedSample::from_values(current, MissingPolicy::Omit, "candidate predictions")?;
    let bins = Binning::fit(&r, BinningStrategy::Quantile { bins: 10 })?;
    let d = divergences_from_counts(
        &bins.histogram_sorted(&r),
        &bins.histogram_sorted(&c),
        DEFAULT_EPSILON,
    )?;
    Ok(d.psi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_the_right_bucket() {
        let w = ArmWindow::default();
        for _ in 0..98 {
            w.record(Duration::from_micros(100), true);
        }
        w.record(Duration::from_millis(50), false);
        w.record(Duration::from_millis(50), true);
        let s = w.peek();
        assert_eq!((s.requests, s.failures), (100, 1));
        let p50 = s.p50.unwrap();
        assert!(
            p50 >= Duration::from_micros(100) && p50 <= Duration::from_micros(119),
            "{p50:?}"
        );
        let p99 = s.p99.unwrap();
        assert!(
            p99 >= Duration::from_millis(50) && p99 <= Duration::from_micros(59_500),
            "{p99:?}"
        );
        w.reset();
        assert_eq!(w.peek(), WindowStats::default());
    }

    #[test]
    fn huge_and_zero_latencies_are_clamped() {
        let w = ArmWindow::default();
        w.record(Duration::ZERO, true);
        w.record(Duration::from_secs(3600), true);
        let s = w.peek();
        assert_eq!(s.requests, 2);
        assert!(s.p99.unwrap() >= Duration::from_secs(16));
    }

    #[test]
    fn psi_of_identical_samples_is_small_and_of_shifted_is_large() {
        let a: Vec<f64> = (0..1000).map(|i| f64::from(i) / 1000.0).collect();
        let b: Vec<f64> = a.iter().map(|x| x + 0.5).collect();
        assert!(psi_between(&a, &a).unwrap() < 1e-9);
        assert!(psi_between(&a, &b).unwrap() > 1.0);
        assert!(psi_between(&[], &a).is_err());
    }
}
