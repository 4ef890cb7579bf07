//! Model registry: durable registrations per second (file backend, fsync on, one and four
//! writer threads), resolve latency (`name@alias`, `name/N`, `name@latest` over 1000
//! versions) and verified artifact reads (bytes/s).
//! Run: `cargo bench -p mlops-benches --bench registry`.
//!
//! Anchor (ANCHORS.md): MLflow registers 18 versions/s on its file store and 96/s on SQLite
//! on this kind of machine; the goal here is ≥ 1000 durable registrations/s.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mlops_core::{ModelName, ModelRef};
use mlops_registry::{
    Change, FileRegistry, FileRegistryBuilder, MemoryRegistry, NewVersion, Registry,
};

fn name() -> ModelName {
    ModelName::new("bench").expect("valid name")
}

/// One registration: a 1 KiB artifact unique to `i`, two metrics, one tag.
fn new_version(i: u64) -> NewVersion {
    let mut bytes = vec![0u8; 1024];
    bytes[..8].copy_from_slice(&i.to_le_bytes());
    NewVersion::new(name())
        .with_artifact_bytes("model.onnx", bytes)
        .with_metric("auc", 0.9)
        .with_metric("loss", 0.1)
        .with_tag("team", "bench")
}

fn register(c: &mut Criterion) {
    let mut g = c.benchmark_group("registry_register");
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(5));
    g.throughput(Throughput::Elements(1));
    let dir = tempfile::tempdir().expect("tempdir");
    let durable = FileRegistry::open(dir.path().join("fsync")).expect("open");
    let mut i = 0u64;
    g.bench_function("file_fsync_1_thread", |b| {
        b.iter(|| {
            i += 1;
            durable.register(new_version(i)).expect("register")
        })
    });
    let nosync = FileRegistryBuilder::new(dir.path().join("nosync"))
        .with_fsync(false)
        .build()
        .expect("open");
    g.bench_function("file_no_fsync_1_thread", |b| {
        b.iter(|| {
            i += 1;
            nosync.register(new_version(i)).expect("register")
        })
    });
    let mem = MemoryRegistry::new();
    g.bench_function("memory_1_thread", |b| {
        b.iter(|| {
            i += 1;
            mem.register(new_version(i)).expect("register")
        })
    });
    g.finish();

    // Four writer threads on one store: elements = registrations completed.
    let mut g = c.benchmark_group("registry_register_concurrent");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(8));
    const THREADS: u64 = 4;
    g.throughput(Throughput::Elements(THREADS));
    let shared = FileRegistry::open(dir.path().join("fsync4")).expect("open");
    g.bench_function(
        BenchmarkId::new("file_fsync", format!("{THREADS}_threads")),
        |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                std::thread::scope(|s| {
                    for t in 0..THREADS {
                        let reg = &shared;
                        s.spawn(move || {
                            for k in 0..iters {
                                reg.register(new_version((k << 8) | t)).expect("register");
                            }
                        });
                    }
                });
                start.elapsed()
            })
        },
    );
    g.finish();
}

fn resolve(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = FileRegistryBuilder::new(dir.path())
        .with_fsync(false)
        .build()
        .expect("open");
    for i in 1..=1000 {
        reg.register(new_version(i)).expect("register");
    }
    for v in [10, 500, 990] {
        reg.set_alias(
            &name(),
            &"champion".parse().expect("alias"),
            v,
            &Change::new("bench", ""),
        )
        .expect("alias");
    }
    let mut g = c.benchmark_group("registry_resolve_1000_versions");
    g.throughput(Throughput::Elements(1));
    for (label, reference) in [
        ("alias", "bench@champion"),
        ("exact", "bench/777"),
        ("latest", "bench@latest"),
    ] {
        let r: ModelRef = reference.parse().expect("ref");
        g.bench_function(BenchmarkId::new("file", label), |b| {
            b.iter(|| reg.resolve(&r).expect("resolve"))
        });
        // A fresh handle pays for listing and folding the log once.
        g.bench_function(BenchmarkId::new("file_cold_handle", label), |b| {
            b.iter(|| {
                FileRegistry::open(dir.path())
                    .expect("open")
                    .resolve(&r)
                    .expect("resolve")
            })
        });
    }
    g.finish();
}

fn read_artifact(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = FileRegistry::open(dir.path()).expect("open");
    let size = 64 << 20;
    let bytes: Vec<u8> = (0..size)
        .map(|i: usize| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    reg.register(NewVersion::new(name()).with_artifact_bytes("weights.safetensors", bytes))
        .expect("register");
    let mut g = c.benchmark_group("registry_read_artifact");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(size as u64));
    g.bench_function("file_64MiB_verified", |b| {
        b.iter(|| {
            let mut r = reg
                .open_artifact(&name(), 1, "weights.safetensors")
                .expect("open");
            std::io::copy(&mut r, &mut std::io::sink()).expect("read")
        })
    });
    g.finish();
}

criterion_group!(benches, register, resolve, read_artifact);
criterion_main!(benches);
