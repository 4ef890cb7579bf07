//! Drift statistics at 1e4–1e7 values per side (throughput in elements/s, both
//! samples counted). Run: `cargo bench -p mlops-benches --bench drift`.
//! Set `DRIFT_BENCH_MAX=1000000` to skip the 1e7 cases.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mlops_benches::normal;
use mlops_drift::binning::divergences_from_counts;
use mlops_drift::io::{Column, Table};
use mlops_drift::numeric::*;
use mlops_drift::profile::NumericProfile;
use mlops_drift::{DriftConfig, DriftReport, ProfileConfig, ReferenceProfile};

fn sizes() -> Vec<usize> {
    let max: usize = std::env::var("DRIFT_BENCH_MAX")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000_000);
    [10_000, 100_000, 1_000_000, 10_000_000]
        .into_iter()
        .filter(|&n| n <= max)
        .collect()
}

fn two_sample(c: &mut Criterion) {
    for n in sizes() {
        let a = normal(1, n, 0.0);
        let b = normal(2, n, 0.05);
        let mut g = c.benchmark_group("drift_two_sample");
        g.sample_size(if n >= 1_000_000 { 10 } else { 20 });
        g.throughput(Throughput::Elements(2 * n as u64));
        g.bench_with_input(BenchmarkId::new("sort_both", n), &n, |bch, _| {
            bch.iter(|| {
                let (mut x, mut y) = (a.clone(), b.clone());
                mlops_drift::sample::sort_both(&mut x, &mut y);
                x[0] + y[0]
            })
        });
        g.bench_with_input(BenchmarkId::new("ks_2samp_auto", n), &n, |bch, _| {
            bch.iter(|| ks_2samp(&a, &b, KsMethod::Auto))
        });
        g.bench_with_input(BenchmarkId::new("wasserstein", n), &n, |bch, _| {
            bch.iter(|| wasserstein(&a, &b))
        });
        if n <= 1_000_000 {
            g.bench_with_input(BenchmarkId::new("energy", n), &n, |bch, _| {
                bch.iter(|| energy_distance(&a, &b))
            });
            g.bench_with_input(BenchmarkId::new("cramer_von_mises", n), &n, |bch, _| {
                bch.iter(|| cramer_von_mises(&a, &b, CvmMethod::Auto))
            });
            g.bench_with_input(BenchmarkId::new("anderson_ksamp", n), &n, |bch, _| {
                bch.iter(|| anderson_ksamp(&[&a[..], &b[..]]))
            });
        }
        g.finish();
    }
}

fn binned(c: &mut Criterion) {
    let reference = normal(3, 1_000_000, 0.0);
    let Ok(profile) = NumericProfile::fit(&reference, &ProfileConfig::default(), "x") else {
        return;
    };
    let nb = profile.bin_counts.len();
    for n in sizes() {
        let cur = normal(4, n, 0.1);
        let mut g = c.benchmark_group("drift_binned_vs_profile");
        g.sample_size(if n >= 1_000_000 { 10 } else { 30 });
        g.throughput(Throughput::Bytes(8 * n as u64));
        g.bench_with_input(BenchmarkId::new("histogram", n), &n, |bch, _| {
            bch.iter(|| profile.binning.histogram(&cur))
        });
        g.bench_with_input(BenchmarkId::new("psi_kl_js", n), &n, |bch, _| {
            bch.iter(|| {
                let h = profile.binning.histogram(&cur);
                divergences_from_counts(&profile.bin_counts, &h[..nb], 1e-4)
            })
        });
        g.finish();
    }
}

fn report(c: &mut Criterion) {
    // 100 features x 1e5 rows (1e6 rows: set DRIFT_BENCH_REPORT_ROWS=1000000).
    let rows: usize = std::env::var("DRIFT_BENCH_REPORT_ROWS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let mk = |seed: u64, shift: f64| Table {
        columns: (0..100)
            .map(|i| {
                (
                    format!("f{i}"),
                    Column::Numeric(normal(seed + i, rows, shift)),
                )
            })
            .collect(),
    };
    let reference = mk(1000, 0.0);
    let current = mk(2000, 0.02);
    let Ok(profile) = ReferenceProfile::fit_table(&reference, ProfileConfig::default()) else {
        return;
    };
    let mut g = c.benchmark_group("drift_report");
    g.sample_size(10);
    g.throughput(Throughput::Elements(100 * rows as u64));
    g.bench_function(BenchmarkId::new("100_features_vs_profile", rows), |bch| {
        bch.iter(|| DriftReport::compare(&profile, &current, &DriftConfig::default()))
    });
    g.finish();
}

criterion_group!(benches, two_sample, binned, report);
criterion_main!(benches);
