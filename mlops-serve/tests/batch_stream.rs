//! Batch inference (chunks, retries, progress, CSV) and streaming inference (order,
//! backpressure, overload).

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{fixture, sig, x, y, Probe};
use mlops_serve::{
    predict_stream, BatchJob, CsvPredictionWriter, EngineBuilder, Error, FeedForward,
    ModelIdentity, Predictor, RequestOptions, Result, Tensor, Tensors,
};

/// Fails the first `fail_first` calls that touch a row ≥ `from_row`, then behaves like `y = x`.
#[derive(Debug)]
struct Flaky {
    id: ModelIdentity,
    sig: mlops_core::Signature,
    from_row: f32,
    fail_first: usize,
    failures: AtomicUsize,
}

impl Predictor for Flaky {
    fn identity(&self) -> &ModelIdentity {
        &self.id
    }
    fn signature(&self) -> &mlops_core::Signature {
        &self.sig
    }
    fn predict(&self, inputs: &Tensors) -> Result<Tensors> {
        let v = inputs["x"].as_f32().unwrap();
        if v.iter().any(|&a| a >= self.from_row)
            && self.failures.fetch_add(1, Ordering::SeqCst) < self.fail_first
        {
            return Err(Error::Model {
                model: "flaky".into(),
                version: 1,
                reason: "transient".into(),
            });
        }
        Ok(Tensors::from([("y".to_owned(), inputs["x"].clone())]))
    }
}

fn flaky(from_row: f32, fail_first: usize) -> Arc<Flaky> {
    Arc::new(Flaky {
        id: ModelIdentity::new("flaky", 1).unwrap(),
        sig: sig(1, 1),
        from_row,
        fail_first,
        failures: AtomicUsize::new(0),
    })
}

fn column(n: usize) -> Tensors {
    x((0..n).map(|i| vec![i as f32]).collect())
}

#[test]
fn batch_job_matches_direct_prediction_in_row_order() {
    let m = Arc::new(
        FeedForward::load(
            ModelIdentity::new("mlp", 1).unwrap(),
            &fixture("mlp.json"),
            &fixture("mlp.safetensors"),
        )
        .unwrap(),
    );
    let n = 103;
    let rows =
        ndarray::Array2::from_shape_fn((n, 4), |(i, j)| ((i * 7 + j * 3) % 11) as f32 / 5.0 - 1.0);
    let direct = m
        .predict(&Tensors::from([(
            "x".into(),
            Tensor::f32(vec![n, 4], rows.iter().copied().collect()).unwrap(),
        )]))
        .unwrap();
    let mut got: Vec<f32> = Vec::new();
    let mut firsts = Vec::new();
    let mut progress = Vec::new();
    let report = BatchJob::new(m)
        .with_chunk_rows(10)
        .with_parallel_chunks(3)
        .run_array(
            rows.view(),
            &mut |first, out| {
                firsts.push(first);
                got.extend_from_slice(out["probs"].as_f32().unwrap());
                Ok(())
            },
            &mut |p| progress.push((p.chunks_done, p.rows_done)),
        )
        .unwrap();
    assert_eq!(report.rows, n);
    assert_eq!(report.chunks, 11);
    assert!(report.retried.is_empty());
    assert_eq!(firsts, (0..n).step_by(10).collect::<Vec<_>>());
    assert_eq!(progress.last(), Some(&(11, n)));
    let want = direct["probs"].as_f32().unwrap();
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 1e-6);
    }
}

#[test]
fn failed_chunks_are_retried_and_reported() {
    // Chunk 2 (rows 20..30) fails twice, then succeeds on its third attempt.
    let report = BatchJob::new(flaky(20.0, 2))
        .with_chunk_rows(10)
        .with_parallel_chunks(1)
        .with_retries(2)
        .run(&column(35), &mut |_, _| Ok(()), &mut |_| {})
        .unwrap();
    assert_eq!(report.rows, 35);
    assert_eq!(report.retried, vec![(2, 3)]);
}

#[test]
fn a_chunk_that_keeps_failing_stops_the_job_and_says_where() {
    let mut written = Vec::new();
    let err = BatchJob::new(flaky(20.0, usize::MAX))
        .with_chunk_rows(10)
        .with_parallel_chunks(2)
        .with_retries(1)
        .run(
            &column(35),
            &mut |first, out| {
                written.push((first, out["y"].rows()));
                Ok(())
            },
            &mut |_| {},
        )
        .unwrap_err();
    match err {
        Error::ChunkFailed {
            chunk,
            first_row,
            end_row,
            attempts,
            rows_written,
            ..
        } => {
            assert_eq!(
                (chunk, first_row, end_row, attempts, rows_written),
                (2, 20, 30, 2, 20)
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        written,
        vec![(0, 10), (10, 10)],
        "only the rows before the failed chunk were written"
    );
}

#[test]
fn batch_job_rejects_bad_datasets_before_compute() {
    let p = Probe::new(1, 0.0);
    let mut nan = column(5);
    nan.insert(
        "x".into(),
        Tensor::f32(vec![2, 1], vec![1.0, f32::NAN]).unwrap(),
    );
    let r = BatchJob::new(p.clone()).run(&nan, &mut |_, _| Ok(()), &mut |_| {});
    assert!(matches!(r, Err(Error::InvalidInput { .. })));
    let r = BatchJob::new(p.clone()).run_array(
        ndarray::Array2::<f32>::zeros((3, 2)).view(),
        &mut |_, _| Ok(()),
        &mut |_| {},
    );
    assert!(matches!(r, Err(Error::InvalidInput { .. })));
    assert!(p.calls().is_empty());
}

#[test]
fn csv_writer_writes_a_header_and_one_line_per_row() {
    let mut w = CsvPredictionWriter::new(Vec::new(), "preds.csv");
    let chunk = |first: usize| {
        Tensors::from([
            (
                "p".to_owned(),
                Tensor::f32(vec![2, 2], vec![0.25, 0.75, 1.0, 0.0]).unwrap(),
            ),
            (
                "label".to_owned(),
                Tensor::new(vec![2], mlops_serve::TensorData::I64(vec![first as i64, 1])).unwrap(),
            ),
        ])
    };
    w.write_chunk(0, &chunk(0)).unwrap();
    w.write_chunk(2, &chunk(2)).unwrap();
    let text = String::from_utf8(w.finish().unwrap()).unwrap();
    assert_eq!(
        text,
        "row,label,p_0,p_1\n0,0,0.25,0.75\n1,1,1,0\n2,2,0.25,0.75\n3,1,1,0\n"
    );
}

#[test]
fn stream_preserves_order_and_bounds_in_flight_work() {
    let engine = EngineBuilder::new(Probe::new(1, 1.0))
        .with_max_batch_size(4)
        .with_max_delay(Duration::from_micros(100))
        .build()
        .unwrap();
    let pulled = Arc::new(AtomicUsize::new(0));
    let source = {
        let pulled = pulled.clone();
        (0..200).map(move |i| {
            pulled.fetch_add(1, Ordering::SeqCst);
            x(vec![vec![i as f32]])
        })
    };
    let mut yielded = 0;
    let mut max_ahead = 0;
    for (i, r) in predict_stream(engine, source, 8, RequestOptions::default()).enumerate() {
        assert_eq!(y(&r.unwrap()), vec![i as f32 + 1.0]);
        yielded += 1;
        max_ahead = max_ahead.max(pulled.load(Ordering::SeqCst) - yielded);
    }
    assert_eq!(yielded, 200);
    assert!(
        max_ahead <= 8,
        "at most 8 records ahead of the consumer, saw {max_ahead}"
    );
}

#[test]
fn stream_over_a_channel_survives_overload_and_bad_records() {
    // Queue of 1 request and 8 in flight: the stream must wait and resubmit, never drop.
    let engine = EngineBuilder::new(Probe::new(1, 0.0))
        .with_queue_capacity(1)
        .with_max_batch_size(2)
        .with_max_delay(Duration::ZERO)
        .build()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let producer = std::thread::spawn(move || {
        for i in 0..100 {
            let rec = if i == 50 {
                x(vec![vec![1.0, 2.0]])
            } else {
                x(vec![vec![i as f32]])
            };
            tx.send(rec).unwrap();
        }
    });
    let results: Vec<_> =
        predict_stream(engine.clone(), rx, 8, RequestOptions::default()).collect();
    producer.join().unwrap();
    assert_eq!(results.len(), 100);
    for (i, r) in results.iter().enumerate() {
        if i == 50 {
            assert!(matches!(r, Err(Error::InvalidInput { .. })));
        } else {
            assert_eq!(y(r.as_ref().unwrap()), vec![i as f32]);
        }
    }
}

#[cfg(feature = "data")]
#[test]
fn batch_job_reads_csv_through_the_drift_reader() {
    let m = Arc::new(
        FeedForward::load(
            ModelIdentity::new("mlp", 1).unwrap(),
            &fixture("mlp.json"),
            &fixture("mlp.safetensors"),
        )
        .unwrap(),
    );
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("rows.csv");
    // Extra id column, features out of order: the signature's feature names pick and order them.
    std::fs::write(&csv, "id,d,c,b,a\nu1,0,2,-1,0.5\nu2,3,-0.75,0.25,1.5\n").unwrap();
    let mut got = Vec::new();
    let report = BatchJob::new(m.clone())
        .with_chunk_rows(1)
        .run_file(
            &csv,
            &mut |_, out| {
                got.extend_from_slice(out["probs"].as_f32().unwrap());
                Ok(())
            },
            &mut |_| {},
        )
        .unwrap();
    assert_eq!(report.rows, 2);
    let direct = m
        .predict(&Tensors::from([(
            "x".into(),
            Tensor::f32(vec![2, 4], vec![0.5, -1.0, 2.0, 0.0, 1.5, 0.25, -0.75, 3.0]).unwrap(),
        )]))
        .unwrap();
    assert_eq!(got, direct["probs"].as_f32().unwrap());
    // A missing cell, a text column and a missing column are errors naming the column.
    let field = |body: &str| {
        std::fs::write(&csv, body).unwrap();
        match BatchJob::new(m.clone()).run_file(&csv, &mut |_, _| Ok(()), &mut |_| {}) {
            Err(Error::InvalidInput { field, .. }) => field,
            Err(Error::Load { reason, .. }) => format!("load: {reason}"),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(field("a,b,c,d\n1,2,,4\n"), "c");
    assert_eq!(field("a,b,c,d\n1,2,x,4\n"), "c");
    assert!(field("a,b,c\n1,2,3\n").starts_with("load:"));
    assert!(matches!(
        BatchJob::new(m).run_file(
            &dir.path().join("missing.csv"),
            &mut |_, _| Ok(()),
            &mut |_| {}
        ),
        Err(Error::Load { .. })
    ));
}
