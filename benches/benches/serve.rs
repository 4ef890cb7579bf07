//! mlops-serve benchmarks.
//!
//! 1. `serve_overhead` (criterion): one request of one row through an MLP 64→256→256→10,
//!    (a) candle called directly (tensor in, forward, vec out), (b) `FeedForward::predict`,
//!    (c) `Engine::predict` (queue + worker thread + response), (d) the same with a 50 µs idle
//!    spin, (e) with the cache on and a repeated input; `serve_predictor_rows`: the predictor
//!    alone at 1, 16 and 64 rows (what batching saves in compute).
//!    Also printed: the batch-1 latency distribution (p50/p90/p99), direct vs engine.
//! 2. Load benchmark (printed table, not criterion): 64 closed-loop caller threads, engine with
//!    dynamic batching vs the same engine with `max_batch_size = 1`; throughput and p50/p99.
//! 3. Overload: open-loop arrivals at 10× the measured batched capacity against a bounded
//!    queue; admitted p99 vs the p99 at 0.5× capacity, rejection latency, RSS.
//!
//! Run: `cargo bench -p mlops-benches --bench serve`. Without `--bench` (e.g. `cargo test
//! --benches`) the load and overload parts run for a few milliseconds only, as a smoke test.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use mlops_benches::percentile;
use mlops_serve::candle_core::{Device, Tensor as CTensor};
use mlops_serve::{
    Activation, EngineBuilder, Error, FeedForward, FeedForwardSpec, LayerSpec, ModelIdentity,
    Predictor, RequestOptions, Tensor, Tensors,
};

const IN: usize = 64;

/// Writes an MLP 64→h→h→10 (relu, relu, softmax) with fixed pseudo-random weights.
fn mlp(dir: &std::path::Path, h: usize) -> Arc<FeedForward> {
    let dev = Device::Cpu;
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut rnd = |n: usize| -> Vec<f32> {
        (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.2
            })
            .collect()
    };
    let dims = [(h, IN), (h, h), (10, h)];
    let mut tensors = HashMap::new();
    let mut layers = Vec::new();
    for (i, &(o, n)) in dims.iter().enumerate() {
        tensors.insert(
            format!("w{i}"),
            CTensor::from_vec(rnd(o * n), (o, n), &dev).unwrap(),
        );
        tensors.insert(format!("b{i}"), CTensor::from_vec(rnd(o), o, &dev).unwrap());
        layers.push(LayerSpec {
            weight: format!("w{i}"),
            bias: Some(format!("b{i}")),
            activation: if i + 1 == dims.len() {
                Activation::Softmax
            } else {
                Activation::Relu
            },
        });
    }
    let path = dir.join(format!("mlp{h}.safetensors"));
    mlops_serve::candle_core::safetensors::save(&tensors, &path).unwrap();
    let spec = FeedForwardSpec {
        input: "x".into(),
        output: "y".into(),
        feature_names: None,
        layers,
    };
    Arc::new(
        FeedForward::from_spec(ModelIdentity::new("bench-mlp", 1).unwrap(), &spec, &path).unwrap(),
    )
}

fn row(seed: usize) -> Vec<f32> {
    (0..IN)
        .map(|j| ((seed * 31 + j * 7) % 97) as f32 / 97.0 - 0.5)
        .collect()
}

fn request(seed: usize) -> Tensors {
    Tensors::from([("x".to_owned(), Tensor::f32(vec![1, IN], row(seed)).unwrap())])
}

fn overhead(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let model = mlp(dir.path(), 256);
    let dev = Device::Cpu;
    let data = row(1);
    let mut g = c.benchmark_group("serve_overhead");
    g.throughput(Throughput::Elements(1));
    g.bench_function(BenchmarkId::new("candle_direct", 1), |b| {
        b.iter(|| {
            let x = CTensor::from_slice(&data, (1, IN), &dev).unwrap();
            let y = model.forward(&x).unwrap();
            y.flatten_all().unwrap().to_vec1::<f32>().unwrap()
        })
    });
    let req = request(1);
    g.bench_function(BenchmarkId::new("predictor", 1), |b| {
        b.iter(|| model.predict(&req).unwrap())
    });
    let engine = EngineBuilder::new(model.clone())
        .with_max_delay(Duration::ZERO)
        .build()
        .unwrap();
    g.bench_function(BenchmarkId::new("engine", 1), |b| {
        b.iter(|| engine.predict(req.clone()).unwrap())
    });
    let spin = EngineBuilder::new(model.clone())
        .with_max_delay(Duration::ZERO)
        .with_idle_spin(Duration::from_micros(50))
        .build()
        .unwrap();
    g.bench_function(BenchmarkId::new("engine_spin_50us", 1), |b| {
        b.iter(|| spin.predict(req.clone()).unwrap())
    });
    let cached = EngineBuilder::new(model.clone())
        .with_max_delay(Duration::ZERO)
        .with_cache_capacity(1024)
        .build()
        .unwrap();
    g.bench_function(BenchmarkId::new("engine_cache_hit", 1), |b| {
        b.iter(|| cached.predict(req.clone()).unwrap())
    });
    g.finish();
    // What batching buys on the compute side: the same predictor at growing batch sizes.
    let mut g = c.benchmark_group("serve_predictor_rows");
    for rows in [1usize, 16, 64] {
        let data: Vec<f32> = (0..rows).flat_map(row).collect();
        let req = Tensors::from([("x".to_owned(), Tensor::f32(vec![rows, IN], data).unwrap())]);
        g.throughput(Throughput::Elements(rows as u64));
        g.bench_function(BenchmarkId::from_parameter(rows), |b| {
            b.iter(|| model.predict(&req).unwrap())
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = overhead
}

struct LoadResult {
    throughput: f64,
    p50: Duration,
    p99: Duration,
    mean_batch: f64,
}

/// `callers` threads, each sending one-row requests back to back for `dur`.
fn closed_loop(engine: &mlops_serve::Engine, callers: usize, dur: Duration) -> LoadResult {
    let start = Instant::now();
    let before = engine.snapshot();
    let mut lat: Vec<Duration> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..callers)
            .map(|t| {
                let e = engine.clone();
                s.spawn(move || {
                    let mut l = Vec::new();
                    let mut i = 0;
                    while start.elapsed() < dur {
                        let r = request(t * 7919 + i);
                        let t0 = Instant::now();
                        e.predict(r).unwrap();
                        l.push(t0.elapsed());
                        i += 1;
                    }
                    l
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let elapsed = start.elapsed();
    let after = engine.snapshot();
    lat.sort();
    let batches = (after.batches - before.batches).max(1);
    LoadResult {
        throughput: lat.len() as f64 / elapsed.as_secs_f64(),
        p50: percentile(&lat, 0.5),
        p99: percentile(&lat, 0.99),
        mean_batch: (after.batched_rows - before.batched_rows) as f64 / batches as f64,
    }
}

struct OpenLoop {
    offered: f64,
    admitted: usize,
    rejected: usize,
    p99: Duration,
    p50: Duration,
    reject_p99: Duration,
    reject_max: Duration,
}

/// Open-loop arrivals at `rate`/s for `dur`: a generator submits on schedule (never waiting for
/// answers), a collector waits for the admitted requests in submission order.
fn open_loop(engine: &mlops_serve::Engine, rate: f64, dur: Duration) -> OpenLoop {
    let (tx, rx) = std::sync::mpsc::channel::<(Instant, mlops_serve::Pending)>();
    let collector = std::thread::spawn(move || {
        let mut lat = Vec::new();
        for (t0, p) in rx {
            let _ = p.wait();
            lat.push(t0.elapsed());
        }
        lat
    });
    let start = Instant::now();
    let mut rejects = Vec::new();
    let mut i = 0usize;
    // Arrivals are released in 100 µs ticks (sleeping between ticks), so the generator does not
    // burn a core spinning; within a tick every due arrival is submitted back to back.
    let tick = Duration::from_micros(100);
    while start.elapsed() < dur {
        let due = (start.elapsed().as_secs_f64() * rate) as usize;
        while i < due {
            let r = request(i);
            let t0 = Instant::now();
            match engine.submit(r, RequestOptions::default()) {
                Ok(p) => tx.send((t0, p)).unwrap(),
                Err(Error::Overloaded { .. }) => rejects.push(t0.elapsed()),
                Err(e) => panic!("{e}"),
            }
            i += 1;
        }
        std::thread::sleep(tick);
    }
    drop(tx);
    let mut lat = collector.join().unwrap();
    lat.sort();
    rejects.sort();
    OpenLoop {
        offered: i as f64 / dur.as_secs_f64(),
        admitted: lat.len(),
        rejected: rejects.len(),
        p50: percentile(&lat, 0.5),
        p99: percentile(&lat, 0.99),
        reject_p99: percentile(&rejects, 0.99),
        reject_max: rejects.last().copied().unwrap_or_default(),
    }
}

fn rss_kib() -> (u64, u64) {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let get = |k: &str| {
        s.lines()
            .find(|l| l.starts_with(k))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (get("VmRSS:"), get("VmHWM:"))
}

/// Batch-1 latency distribution, direct candle call vs the engine, interleaved in rounds of
/// 500 so both see the same machine state.
fn overhead_distribution(model: &Arc<FeedForward>, rounds: usize) {
    let dev = Device::Cpu;
    let engine = EngineBuilder::new(model.clone())
        .with_max_delay(Duration::ZERO)
        .build()
        .unwrap();
    let data = row(1);
    let req = request(1);
    let (mut direct, mut served) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        for _ in 0..500 {
            let t0 = Instant::now();
            let x = CTensor::from_slice(&data, (1, IN), &dev).unwrap();
            let y = model.forward(&x).unwrap();
            std::hint::black_box(y.flatten_all().unwrap().to_vec1::<f32>().unwrap());
            direct.push(t0.elapsed());
        }
        for _ in 0..500 {
            let r = req.clone();
            let t0 = Instant::now();
            std::hint::black_box(engine.predict(r).unwrap());
            served.push(t0.elapsed());
        }
    }
    direct.sort();
    served.sort();
    println!(
        "\n== serve overhead at batch 1: {} sequential requests each, MLP 64-256-256-10, interleaved ==",
        direct.len()
    );
    for (name, l) in [("candle direct", &direct), ("engine.predict", &served)] {
        println!(
            "{name:<15} p50 {:>8.1?}  p90 {:>8.1?}  p99 {:>8.1?}",
            percentile(l, 0.5),
            percentile(l, 0.9),
            percentile(l, 0.99)
        );
    }
    let d50 = percentile(&direct, 0.5).as_secs_f64();
    let s50 = percentile(&served, 0.5).as_secs_f64();
    println!(
        "engine overhead at p50: {:.1} µs ({:+.1}%)",
        (s50 - d50) * 1e6,
        (s50 / d50 - 1.0) * 100.0
    );
}

fn load_benchmarks(full: bool) {
    let dir = tempfile::tempdir().unwrap();
    let dur = if full {
        Duration::from_secs(3)
    } else {
        Duration::from_millis(20)
    };
    let mut best: Option<(f64, usize)> = None;
    let small = mlp(dir.path(), 256);
    overhead_distribution(&small, if full { 40 } else { 1 });
    for h in [1024usize, 256] {
        let model = if h == 256 {
            small.clone()
        } else {
            mlp(dir.path(), h)
        };
        println!("\n== serve load: 64 closed-loop callers, 1-row requests, MLP 64-{h}-{h}-10 ==");
        for workers in [1usize, 2] {
            let batched = EngineBuilder::new(model.clone())
                .with_max_batch_size(64)
                .with_max_delay(Duration::ZERO)
                .with_workers(workers)
                .build()
                .unwrap();
            let unbatched = EngineBuilder::new(model.clone())
                .with_max_batch_size(1)
                .with_workers(workers)
                .build()
                .unwrap();
            closed_loop(&batched, 64, dur / 10); // warm-up
            closed_loop(&unbatched, 64, dur / 10);
            let b = closed_loop(&batched, 64, dur);
            let u = closed_loop(&unbatched, 64, dur);
            for (name, r) in [("batched (max 64, delay 0)", &b), ("unbatched (max 1)", &u)] {
                println!(
                    "workers {workers}  {name:<26} {:>8.0} req/s  p50 {:>9.1?}  p99 {:>9.1?}  mean batch {:>5.1}",
                    r.throughput, r.p50, r.p99, r.mean_batch
                );
            }
            println!(
                "workers {workers}  batched/unbatched throughput = {:.2}x, p99 batched/unbatched = {:.2}",
                b.throughput / u.throughput,
                b.p99.as_secs_f64() / u.p99.as_secs_f64()
            );
            if h == 256 && best.is_none_or(|(t, _)| b.throughput > t) {
                best = Some((b.throughput, workers));
            }
        }
    }
    let (capacity, workers) = best.unwrap();

    println!(
        "\n== serve overload: open-loop 1-row arrivals; engine max_batch 64, delay 0, queue 64, {workers} worker(s); capacity {capacity:.0} req/s =="
    );
    let engine = EngineBuilder::new(small)
        .with_max_batch_size(64)
        .with_max_delay(Duration::ZERO)
        .with_queue_capacity(64)
        .with_workers(workers)
        .build()
        .unwrap();
    let single = closed_loop(&engine, 1, dur);
    println!(
        "1 closed-loop caller (no contention): p50 {:.1?} p99 {:.1?}",
        single.p50, single.p99
    );
    open_loop(&engine, capacity * 0.25, dur / 10); // warm-up
    let light = open_loop(&engine, capacity * 0.25, dur);
    let (rss0, _) = rss_kib();
    let heavy = open_loop(&engine, capacity * 10.0, dur);
    let (rss1, hwm) = rss_kib();
    for (name, r) in [("0.25x capacity", &light), ("10x capacity", &heavy)] {
        println!(
            "{name:<14} offered {:>8.0}/s admitted {:>7} rejected {:>8}  admitted p50 {:>8.1?} p99 {:>8.1?}  reject p99 {:>7.1?} max {:>7.1?}",
            r.offered, r.admitted, r.rejected, r.p50, r.p99, r.reject_p99, r.reject_max
        );
    }
    println!(
        "admitted p99 at 10x / p99 at 0.25x = {:.2}; / p99 of one caller = {:.2}; RSS before overload {rss0} KiB, after {rss1} KiB, peak {hwm} KiB",
        heavy.p99.as_secs_f64() / light.p99.as_secs_f64().max(1e-9),
        heavy.p99.as_secs_f64() / single.p99.as_secs_f64().max(1e-9)
    );
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    benches();
    Criterion::default().configure_from_args().final_summary();
    load_benchmarks(full);
}
