//! mlops-core: snapshot digest throughput and metric costs.
//!
//! `cargo bench -p mlops-benches --bench core`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mlops_core::{metrics, SnapshotBuilder};
use rand::{Rng, SeedableRng};

fn snapshot(c: &mut Criterion) {
    let mut g = c.benchmark_group("snapshot_digest");
    g.sample_size(10);
    let dir = tempfile::tempdir().unwrap();
    for mib in [1usize, 64, 256] {
        let path = dir.path().join(format!("{mib}.csv"));
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let line: String = (0..8)
            .map(|_| format!("{:.6},", rng.gen::<f64>()))
            .collect();
        let line = format!("{line}\n");
        let reps = mib * 1024 * 1024 / line.len();
        std::fs::write(&path, line.repeat(reps)).unwrap();
        let bytes = std::fs::metadata(&path).unwrap().len();
        g.throughput(Throughput::Bytes(bytes));
        g.bench_with_input(
            BenchmarkId::new("csv_file", format!("{mib}MiB")),
            &path,
            |b, p| b.iter(|| SnapshotBuilder::new().path(p).build().unwrap()),
        );
    }
    g.finish();
}

fn classification(c: &mut Criterion) {
    let mut g = c.benchmark_group("metrics");
    for n in [10_000usize, 1_000_000] {
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        let y: Vec<u32> = (0..n).map(|_| rng.gen_range(0..10)).collect();
        let p: Vec<u32> = y
            .iter()
            .map(|&t| {
                if rng.gen_bool(0.8) {
                    t
                } else {
                    rng.gen_range(0..10)
                }
            })
            .collect();
        let truth: Vec<bool> = (0..n).map(|_| rng.gen()).collect();
        let score: Vec<f64> = (0..n).map(|_| rng.gen()).collect();
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(
            BenchmarkId::new("classification_report_10_classes", n),
            &n,
            |b, _| b.iter(|| metrics::classification_report(&y, &p).unwrap()),
        );
        g.bench_with_input(BenchmarkId::new("roc_auc", n), &n, |b, _| {
            b.iter(|| metrics::roc_auc(&truth, &score).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, snapshot, classification);
criterion_main!(benches);
