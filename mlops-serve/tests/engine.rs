//! Engine behaviour: batching and order, deadlines, overload and oversize rejection, input
//! validation, panic isolation, cache, hot-swap, async API, shutdown. Assertions are about
//! behaviour (which requests were computed, in which batches, with what result), never timing.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{block_on, sig, x, y, Probe};
use mlops_core::DType;
use mlops_serve::{
    EngineBuilder, Error, NonFinitePolicy, Predictor, RequestOptions, Tensor, TensorData, Tensors,
};

fn one(v: f32) -> Tensors {
    x(vec![vec![v]])
}

#[test]
fn queued_requests_are_batched_and_split_back_in_order() {
    let (p, gate) = Probe::gated(1, 0.5);
    let engine = EngineBuilder::new(p.clone())
        .with_max_batch_size(8)
        .with_max_delay(Duration::ZERO)
        .build()
        .unwrap();
    // The first request occupies the only worker...
    let first = engine.submit(one(0.0), RequestOptions::default()).unwrap();
    gate.wait_started();
    // ...so these queue up: 1 + 2 + 3 + 1 rows, and 4 more rows that no longer fit in 8.
    let sizes = [1usize, 2, 3, 1, 4];
    let mut pending = Vec::new();
    for (i, &n) in sizes.iter().enumerate() {
        let rows: Vec<Vec<f32>> = (0..n).map(|r| vec![(i * 10 + r) as f32]).collect();
        pending.push((
            rows.clone(),
            engine.submit(x(rows), RequestOptions::default()).unwrap(),
        ));
    }
    gate.release_n(3);
    assert_eq!(y(&first.wait().unwrap()), vec![0.5]);
    for (rows, p) in pending {
        let want: Vec<f32> = rows.iter().map(|r| r[0] + 0.5).collect();
        assert_eq!(
            y(&p.wait().unwrap()),
            want,
            "each caller gets its own rows back, in order"
        );
    }
    // One call for the first request, one stacked batch of 1+2+3+1 = 7 rows, then the 4-row one.
    assert_eq!(p.calls(), vec![1, 7, 4]);
    let snap = engine.snapshot();
    assert_eq!(snap.batches, 3);
    assert_eq!(snap.batched_rows, 12);
    assert_eq!(snap.requests, 6);
    assert_eq!(snap.errors, 0);
    assert_eq!(snap.in_flight, 0);
    assert_eq!(snap.queue_depth, 0);
}

#[test]
fn many_concurrent_callers_each_get_their_own_answer() {
    let p = Probe::new(1, 1.0);
    let engine = EngineBuilder::new(p.clone())
        .with_max_batch_size(16)
        .with_max_delay(Duration::from_millis(2))
        .with_workers(2)
        .build()
        .unwrap();
    std::thread::scope(|s| {
        for t in 0..16 {
            let e = engine.clone();
            s.spawn(move || {
                for i in 0..50 {
                    let v = (t * 1000 + i) as f32;
                    assert_eq!(y(&e.predict(one(v)).unwrap()), vec![v + 1.0]);
                }
            });
        }
    });
    let snap = engine.snapshot();
    assert_eq!(snap.requests, 800);
    assert_eq!(snap.batched_rows, 800);
    assert!(p.calls().iter().all(|&n| n <= 16));
}

#[test]
fn expired_requests_are_dropped_before_compute() {
    let (p, gate) = Probe::gated(1, 0.0);
    let engine = EngineBuilder::new(p.clone())
        .with_max_delay(Duration::ZERO)
        .build()
        .unwrap();
    let first = engine.submit(one(1.0), RequestOptions::default()).unwrap();
    gate.wait_started();
    let short = RequestOptions {
        timeout: Some(Duration::from_millis(1)),
        ..Default::default()
    };
    let doomed = engine.submit(one(2.0), short).unwrap();
    let fine = engine.submit(one(3.0), RequestOptions::default()).unwrap();
    // The worker is held by the gate, so the 1 ms deadline has surely passed after this sleep.
    std::thread::sleep(Duration::from_millis(20));
    gate.release_n(2);
    assert!(first.wait().is_ok());
    match doomed.wait() {
        Err(Error::DeadlineExceeded { waited }) => assert!(waited >= Duration::from_millis(1)),
        other => panic!("expected DeadlineExceeded, got {other:?}"),
    }
    assert_eq!(y(&fine.wait().unwrap()), vec![3.0]);
    assert_eq!(
        p.calls(),
        vec![1, 1],
        "the expired request never reached the model"
    );
    let snap = engine.snapshot();
    assert_eq!(snap.deadline_exceeded, 1);
    assert_eq!(snap.errors, 1);
}

#[test]
fn full_queue_rejects_at_once_with_retry_hint() {
    let (p, gate) = Probe::gated(1, 0.0);
    let engine = EngineBuilder::new(p.clone())
        .with_queue_capacity(2)
        .with_max_delay(Duration::ZERO)
        .build()
        .unwrap();
    let a = engine.submit(one(1.0), RequestOptions::default()).unwrap();
    gate.wait_started(); // a left the queue; the worker is busy
    let b = engine.submit(one(2.0), RequestOptions::default()).unwrap();
    let c = engine.submit(one(3.0), RequestOptions::default()).unwrap();
    let err = engine
        .submit(one(4.0), RequestOptions::default())
        .unwrap_err();
    match &err {
        Error::Overloaded {
            queue_capacity,
            retry_after,
        } => {
            assert_eq!(*queue_capacity, 2);
            assert!(*retry_after > Duration::ZERO);
        }
        other => panic!("expected Overloaded, got {other:?}"),
    }
    assert!(err.is_retryable());
    assert!(err.retry_after().is_some());
    assert_eq!(engine.snapshot().queue_depth, 2);
    gate.release_n(2);
    for (p, v) in [(a, 1.0), (b, 2.0), (c, 3.0)] {
        assert_eq!(y(&p.wait().unwrap()), vec![v]);
    }
    let snap = engine.snapshot();
    assert_eq!(snap.rejected_overload, 1);
    assert_eq!(snap.requests, 4);
    assert_eq!(snap.in_flight, 0);
    assert!(!p.calls().contains(&0));
}

#[test]
fn oversize_requests_are_rejected_at_admission() {
    let p = Probe::new(1, 0.0);
    let engine = EngineBuilder::new(p.clone())
        .with_max_batch_size(4)
        .build()
        .unwrap();
    let big = x((0..5).map(|i| vec![i as f32]).collect());
    match engine.predict(big) {
        Err(Error::TooLarge {
            rows,
            max_batch_size,
        }) => assert_eq!((rows, max_batch_size), (5, 4)),
        other => panic!("expected TooLarge, got {other:?}"),
    }
    assert!(p.calls().is_empty(), "the model never saw it");
    let exact = x((0..4).map(|i| vec![i as f32]).collect());
    assert_eq!(y(&engine.predict(exact).unwrap()), vec![0.0, 1.0, 2.0, 3.0]);
    assert_eq!(engine.snapshot().rejected_too_large, 1);
}

fn field_of(r: mlops_serve::Result<Tensors>) -> String {
    match r {
        Err(Error::InvalidInput { field, .. }) => field,
        other => panic!("expected InvalidInput, got {other:?}"),
    }
}

#[test]
fn inputs_are_validated_against_the_signature() {
    let p = Probe::new(1, 0.0);
    let engine = EngineBuilder::new(p.clone()).build().unwrap();
    // Wrong feature count.
    assert_eq!(field_of(engine.predict(x(vec![vec![1.0, 2.0]]))), "x");
    // Wrong dtype.
    let i64s = Tensor::new(vec![1, 1], TensorData::I64(vec![1])).unwrap();
    assert_eq!(
        field_of(engine.predict(Tensors::from([("x".into(), i64s)]))),
        "x"
    );
    // Wrong rank.
    let flat = Tensor::f32(vec![1], vec![1.0]).unwrap();
    assert_eq!(
        field_of(engine.predict(Tensors::from([("x".into(), flat)]))),
        "x"
    );
    // Missing and unknown inputs; a unicode name is reported as is.
    assert_eq!(field_of(engine.predict(Tensors::new())), "x");
    let mut extra = one(1.0);
    extra.insert(
        "ünïcødé".into(),
        Tensor::f32(vec![1, 1], vec![0.0]).unwrap(),
    );
    assert_eq!(field_of(engine.predict(extra)), "ünïcødé");
    // Empty batch.
    assert_eq!(field_of(engine.predict(x(vec![]))), "x");
    let empty = Tensor::f32(vec![0, 1], vec![]).unwrap();
    assert_eq!(
        field_of(engine.predict(Tensors::from([("x".into(), empty)]))),
        "x"
    );
    // NaN and ±inf are rejected by default.
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        assert_eq!(field_of(engine.predict(x(vec![vec![1.0], vec![bad]]))), "x");
    }
    assert!(p.calls().is_empty(), "no invalid input reached the model");
    assert_eq!(engine.snapshot().errors, 10);
    // ...and passed through when the policy allows it; a non-finite *output* is still refused
    // unless the output policy allows it too.
    let lax_in = EngineBuilder::new(Probe::new(1, 0.0))
        .with_non_finite(NonFinitePolicy::Allow)
        .build()
        .unwrap();
    match lax_in.predict(one(f32::NAN)) {
        Err(Error::Model { reason, .. }) => assert!(reason.contains("NaN or infinite"), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(y(&lax_in.predict(one(2.0)).unwrap()), vec![2.0]);
    let lax = EngineBuilder::new(Probe::new(1, 0.0))
        .with_non_finite(NonFinitePolicy::Allow)
        .with_non_finite_outputs(NonFinitePolicy::Allow)
        .build()
        .unwrap();
    assert!(y(&lax.predict(one(f32::NAN)).unwrap())[0].is_nan());
    assert_eq!(lax.signature().inputs.fields[0].dtype, DType::F32);
}

#[test]
fn a_panicking_or_failing_request_fails_alone() {
    let (p, gate) = Probe::gated(1, 1.0);
    let engine = EngineBuilder::new(p.clone())
        .with_max_delay(Duration::ZERO)
        .build()
        .unwrap();
    let first = engine.submit(one(0.0), RequestOptions::default()).unwrap();
    gate.wait_started();
    // These three land in one batch; the batch panics, then each is rerun alone.
    let good = engine.submit(one(1.0), RequestOptions::default()).unwrap();
    let boom = engine
        .submit(one(666.0), RequestOptions::default())
        .unwrap();
    let fail = engine
        .submit(one(777.0), RequestOptions::default())
        .unwrap();
    gate.release_n(5);
    assert!(first.wait().is_ok());
    assert_eq!(y(&good.wait().unwrap()), vec![2.0]);
    match boom.wait() {
        Err(Error::ModelPanicked {
            message, version, ..
        }) => {
            assert!(message.contains("666"));
            assert_eq!(version, 1);
        }
        other => panic!("expected ModelPanicked, got {other:?}"),
    }
    assert!(matches!(fail.wait(), Err(Error::Model { .. })));
    assert_eq!(p.calls(), vec![1, 3, 1, 1, 1]);
    // The engine keeps serving.
    gate.release();
    assert_eq!(y(&engine.predict(one(5.0)).unwrap()), vec![6.0]);
    assert_eq!(engine.snapshot().errors, 2);
}

#[test]
fn cache_hits_skip_the_model_and_miss_after_swap() {
    let p = Probe::new(1, 1.0);
    let engine = EngineBuilder::new(p.clone())
        .with_cache_capacity(2)
        .build()
        .unwrap();
    assert_eq!(y(&engine.predict(one(1.0)).unwrap()), vec![2.0]);
    assert_eq!(y(&engine.predict(one(1.0)).unwrap()), vec![2.0]);
    assert_eq!(p.calls().len(), 1);
    let bypass = RequestOptions {
        bypass_cache: true,
        ..Default::default()
    };
    assert_eq!(
        y(&block_on(engine.predict_async(one(1.0), bypass)).unwrap()),
        vec![2.0]
    );
    assert_eq!(p.calls().len(), 2);
    let snap = engine.snapshot();
    assert_eq!((snap.cache_hits, snap.cache_misses), (1, 1));
    // Same input after a swap: the new model answers.
    let p2 = Probe::new(2, 10.0);
    engine.swap(p2.clone(), None).unwrap();
    assert_eq!(y(&engine.predict(one(1.0)).unwrap()), vec![11.0]);
    assert_eq!(p2.calls().len(), 1);
    // Capacity 2: a third distinct input evicts the least recently used.
    engine.predict(one(2.0)).unwrap();
    engine.predict(one(3.0)).unwrap();
    engine.predict(one(1.0)).unwrap();
    assert_eq!(p2.calls().len(), 4);
}

#[test]
fn async_api_works_without_a_runtime() {
    let engine = EngineBuilder::new(Probe::new(1, 2.0)).build().unwrap();
    let out = block_on(engine.predict_async(one(1.0), RequestOptions::default())).unwrap();
    assert_eq!(y(&out), vec![3.0]);
    let err = block_on(engine.predict_async(x(vec![vec![1.0, 2.0]]), RequestOptions::default()));
    assert!(matches!(err, Err(Error::InvalidInput { .. })));
    // Futures are Send, so a server can spawn them on a multi-threaded runtime.
    fn is_send<T: Send>(_: &T) {}
    is_send(&engine.predict_async(one(1.0), RequestOptions::default()));
}

#[test]
fn in_flight_batch_finishes_on_the_old_model() {
    let (old, gate) = Probe::gated(1, 1.0);
    let engine = EngineBuilder::new(old.clone())
        .with_max_delay(Duration::ZERO)
        .build()
        .unwrap();
    let a = engine.submit(one(0.0), RequestOptions::default()).unwrap();
    gate.wait_started();
    let new = Probe::new(2, 100.0);
    engine.swap(new.clone(), Some(&one(0.0))).unwrap();
    assert_eq!(new.calls(), vec![1], "warm-up ran on the new model");
    gate.release();
    assert_eq!(
        y(&a.wait().unwrap()),
        vec![1.0],
        "a batch already running finishes on v1"
    );
    assert_eq!(y(&engine.predict(one(0.0)).unwrap()), vec![100.0]);
    assert_eq!(engine.identity().version, 2);
}

#[test]
fn swap_rejects_incompatible_models_and_failed_warmups() {
    let engine = EngineBuilder::new(Probe::new(1, 1.0)).build().unwrap();
    #[derive(Debug)]
    struct Wide(mlops_serve::ModelIdentity, mlops_core::Signature);
    impl Predictor for Wide {
        fn identity(&self) -> &mlops_serve::ModelIdentity {
            &self.0
        }
        fn signature(&self) -> &mlops_core::Signature {
            &self.1
        }
        fn predict(&self, _: &Tensors) -> mlops_serve::Result<Tensors> {
            unreachable!()
        }
    }
    let wide = Arc::new(Wide(
        mlops_serve::ModelIdentity::new("probe", 9).unwrap(),
        sig(2, 1),
    ));
    assert!(matches!(
        engine.swap(wide, None),
        Err(Error::Incompatible { .. })
    ));
    // Warm-up that panics: the swap fails and v1 keeps serving.
    let r = engine.swap(Probe::new(2, 5.0), Some(&one(666.0)));
    assert!(matches!(r, Err(Error::ModelPanicked { .. })));
    assert_eq!(engine.identity().version, 1);
    assert_eq!(y(&engine.predict(one(1.0)).unwrap()), vec![2.0]);
}

#[test]
fn hot_swap_under_concurrent_load_fails_no_request() {
    let engine = EngineBuilder::new(Probe::new(1, 1.0))
        .with_max_batch_size(8)
        .with_max_delay(Duration::from_micros(200))
        .with_workers(2)
        .build()
        .unwrap();
    let stop = AtomicBool::new(false);
    let done = AtomicUsize::new(0);
    let seen_v2 = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for t in 0..8 {
            let (e, stop, done, seen_v2) = (engine.clone(), &stop, &done, &seen_v2);
            s.spawn(move || {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let v = (t * 100_000 + i) as f32;
                    let out = y(&e
                        .predict(one(v))
                        .expect("no request may fail during a swap"))[0];
                    // Every answer is exactly v1's or v2's.
                    assert!(out == v + 1.0 || out == v + 2.0, "{v} -> {out}");
                    if out == v + 2.0 {
                        seen_v2.fetch_add(1, Ordering::Relaxed);
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
            });
        }
        while done.load(Ordering::Relaxed) < 300 {
            std::thread::yield_now();
        }
        for version in 2..=4 {
            engine
                .swap(Probe::new(version, 2.0), Some(&one(0.0)))
                .unwrap();
            let target = done.load(Ordering::Relaxed) + 300;
            while done.load(Ordering::Relaxed) < target {
                std::thread::yield_now();
            }
        }
        stop.store(true, Ordering::Relaxed);
    });
    assert!(seen_v2.load(Ordering::Relaxed) > 0);
    let total: u64 = (1..=4)
        .filter_map(|v| {
            engine
                .metrics()
                .snapshot(&mlops_serve::ModelIdentity::new("probe", v).unwrap())
        })
        .map(|s| s.errors)
        .sum();
    assert_eq!(total, 0);
}

#[test]
fn dropping_the_engine_answers_queued_requests() {
    let (p, gate) = Probe::gated(1, 1.0);
    let engine = EngineBuilder::new(p)
        .with_max_delay(Duration::ZERO)
        .build()
        .unwrap();
    let a = engine.submit(one(1.0), RequestOptions::default()).unwrap();
    gate.wait_started();
    let b = engine.submit(one(2.0), RequestOptions::default()).unwrap();
    let dropper = std::thread::spawn(move || drop(engine));
    gate.release_n(2);
    dropper.join().unwrap();
    assert_eq!(y(&a.wait().unwrap()), vec![2.0]);
    assert_eq!(y(&b.wait().unwrap()), vec![3.0]);
}

#[test]
fn config_zeroes_are_rejected() {
    for b in [
        EngineBuilder::new(Probe::new(1, 0.0)).with_max_batch_size(0),
        EngineBuilder::new(Probe::new(1, 0.0)).with_queue_capacity(0),
        EngineBuilder::new(Probe::new(1, 0.0)).with_workers(0),
    ] {
        assert!(matches!(b.build(), Err(Error::Config { .. })));
    }
}
