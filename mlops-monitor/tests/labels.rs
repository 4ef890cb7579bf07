//! Delayed labels: classification counts, the TTL boundary, late backfill, restart, torn
//! tails, label files and the join's speed.

use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, Instant};

use mlops_monitor::labels::{
    join, parse_labels_json, prediction_times, read_labels, read_labels_file, IngestSummary,
    LabelConfig, LabelStore, DEFAULT_TTL,
};
use mlops_monitor::log::{LogConfig, LogReader, PredictionLog};
use mlops_monitor::{Error, LabelRecord, LoggedPrediction, Value};

const DAY: i64 = 24 * 3600 * 1000;
const T0: i64 = 1_764_000_000_000;

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn pred(id: &str, t: i64) -> LoggedPrediction {
    LoggedPrediction {
        id: id.into(),
        timestamp_ms: t,
        model: "m".into(),
        version: 1,
        arm: "stable".into(),
        features: vec![],
        prediction: Some(Value::Num(1.0)),
        scores: vec![0.3, 0.7],
        segments: vec![],
        kpis: vec![],
        latency_s: None,
        error: None,
    }
}

fn l(id: &str, v: f64) -> (String, Value) {
    (id.into(), Value::Num(v))
}

#[test]
fn counts_matched_late_duplicate_unknown_and_the_ttl_boundary() {
    let d = tmp();
    let preds: HashMap<String, i64> = [("a", T0), ("b", T0), ("c", T0), ("é✓", T0)]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    let mut store = LabelStore::open(d.path()).unwrap();
    assert_eq!(store.config().ttl, Duration::from_secs(14 * 24 * 3600));
    // Exactly the TTL after the prediction: on time.
    let s = store
        .ingest(&[l("a", 1.0), l("é✓", 0.0)], T0 + 14 * DAY, &preds)
        .unwrap();
    assert_eq!(
        s,
        IngestSummary {
            received: 2,
            matched: 2,
            ..Default::default()
        }
    );
    // One millisecond past it: late. A second label for `a`: duplicate. `zz`: unknown.
    let s = store
        .ingest(
            &[
                l("b", 1.0),
                l("a", 0.0),
                l("zz", 1.0),
                l("zz", 0.0),
                (String::from("c"), Value::Str("yes".into())),
            ],
            T0 + 14 * DAY + 1,
            &preds,
        )
        .unwrap();
    assert_eq!(
        s,
        IngestSummary {
            received: 5,
            matched: 0,
            late: 2,
            duplicate: 2,
            unknown: 1
        }
    );
    assert_eq!(store.len(), 7, "every label is stored");
    assert_eq!(store.label("a"), Some(&Value::Num(1.0)), "the first wins");
    assert_eq!(store.totals().received, 7);
    // The HTTP answer.
    assert_eq!(
        serde_json::to_value(s).unwrap(),
        serde_json::json!({"received": 5, "matched": 0, "late": 2, "duplicate": 2, "unknown": 1})
    );

    // The join agrees with ingestion.
    let labels = read_labels(d.path()).unwrap();
    assert_eq!(labels.len(), 7);
    let j = join(&preds, &labels, DEFAULT_TTL);
    assert_eq!(
        j.counts(),
        IngestSummary {
            received: 7,
            matched: 2,
            late: 2,
            duplicate: 2,
            unknown: 1
        }
    );
    assert_eq!(j.label("a"), Some(&Value::Num(1.0)));
    assert_eq!(j.label("é✓"), Some(&Value::Num(0.0)));
    assert_eq!(j.label("b"), None, "late: not joined");
    assert_eq!(j.len(), 2);
    // A longer TTL at report time joins the late ones.
    let j = join(&preds, &labels, Duration::from_secs(15 * 24 * 3600));
    assert_eq!(j.counts().matched, 4);
    assert_eq!(j.label("c"), Some(&Value::Str("yes".into())));
}

#[test]
fn a_late_label_joins_its_own_past_prediction_through_the_log() {
    let d = tmp();
    let log = PredictionLog::open(LogConfig::new(d.path())).unwrap();
    assert!(log.try_log(pred("old", T0)));
    assert!(log.try_log(pred("new", T0 + 10 * DAY)));
    log.flush().unwrap();
    let ids = log.ids();
    let mut store = LabelStore::open(d.path()).unwrap();
    // Twelve days later, a label for the first day's prediction, and one for an id that is
    // not logged yet.
    let s = store
        .ingest(&[l("old", 1.0), l("pending", 0.0)], T0 + 12 * DAY, &*ids)
        .unwrap();
    assert_eq!((s.matched, s.unknown), (1, 1));
    // The prediction arrives after its label.
    assert!(log.try_log(pred("pending", T0 + 11 * DAY)));
    log.close().unwrap();

    let preds = LogReader::open(d.path()).unwrap().read_all().unwrap();
    let times = prediction_times(preds.iter().map(|p| (p.id.as_str(), p.timestamp_ms)));
    let labels = read_labels(d.path()).unwrap();
    let j = join(&times, &labels, DEFAULT_TTL);
    assert_eq!(j.counts().matched, 2);
    assert_eq!(
        j.counts().unknown,
        0,
        "unknown at ingest, joined at report time"
    );
    // The label belongs to the prediction's own (past) time.
    let old = preds.iter().find(|p| p.id == "old").unwrap();
    assert_eq!(old.timestamp_ms, T0);
    assert_eq!(j.label("old"), Some(&Value::Num(1.0)));
    assert_eq!(j.label("pending"), Some(&Value::Num(0.0)));
}

#[test]
fn restart_keeps_labels_and_duplicates_across_restarts() {
    let d = tmp();
    let preds: HashMap<String, i64> = [("a".to_string(), T0)].into();
    {
        let mut store = LabelStore::open(d.path()).unwrap();
        store
            .ingest(&[l("a", 1.0), l("ghost", 1.0)], T0 + 1, &preds)
            .unwrap();
        // A second store on the same directory is refused while the first is open.
        match LabelStore::open(d.path()) {
            Err(Error::Io { source, .. }) => {
                assert_eq!(source.kind(), std::io::ErrorKind::WouldBlock)
            }
            other => panic!("{other:?}"),
        }
    }
    let mut store = LabelStore::open(d.path()).unwrap();
    assert_eq!(store.len(), 2);
    assert_eq!(store.recovery().records, 2);
    assert_eq!(store.label("a"), Some(&Value::Num(1.0)));
    let s = store
        .ingest(&[l("a", 0.0), l("ghost", 0.0)], T0 + 2, &preds)
        .unwrap();
    assert_eq!(s.duplicate, 2);
    let all = store.read_all().unwrap();
    assert_eq!(
        all,
        vec![
            LabelRecord {
                id: "a".into(),
                label: Value::Num(1.0),
                received_ms: T0 + 1
            },
            LabelRecord {
                id: "ghost".into(),
                label: Value::Num(1.0),
                received_ms: T0 + 1
            },
            LabelRecord {
                id: "a".into(),
                label: Value::Num(0.0),
                received_ms: T0 + 2
            },
            LabelRecord {
                id: "ghost".into(),
                label: Value::Num(0.0),
                received_ms: T0 + 2
            },
        ]
    );
}

#[test]
fn a_torn_label_tail_is_cut_at_every_offset() {
    let d = tmp();
    let preds: HashMap<String, i64> = HashMap::new();
    {
        let mut store = LabelStore::open(d.path()).unwrap();
        store
            .ingest(&[l("a", 1.0), l("b", 0.0), l("ccc", 1.0)], T0, &preds)
            .unwrap();
    }
    let path = d.path().join("labels/labels.log");
    let full = std::fs::read(&path).unwrap();
    let mut last = Vec::new();
    mlops_monitor::frame::encode(
        &LabelRecord {
            id: "ccc".into(),
            label: Value::Num(1.0),
            received_ms: T0,
        },
        &mut last,
    )
    .unwrap();
    let start = full.len() - last.len();
    for cut in start + 1..full.len() {
        std::fs::write(&path, &full[..cut]).unwrap();
        assert_eq!(
            read_labels(d.path()).unwrap().len(),
            2,
            "readers skip the tail"
        );
        let store = LabelStore::open(d.path()).unwrap();
        assert_eq!(store.len(), 2);
        assert_eq!(store.recovery().cut_bytes, (cut - start) as u64);
        assert_eq!(store.recovery().cut_offset, Some(start as u64));
        drop(store);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), start as u64);
    }
    // Garbage appended after valid labels is cut too.
    std::fs::write(&path, &full).unwrap();
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(b"not a frame")
        .unwrap();
    let mut store = LabelStore::open(d.path()).unwrap();
    assert_eq!(store.len(), 3);
    store.ingest(&[l("d", 1.0)], T0, &preds).unwrap();
    drop(store);
    assert_eq!(read_labels(d.path()).unwrap().len(), 4);
}

#[test]
fn bad_labels_are_refused_and_nothing_of_the_batch_is_stored() {
    let d = tmp();
    let preds: HashMap<String, i64> = HashMap::new();
    let mut store = LabelStore::open(d.path()).unwrap();
    for bad in [
        vec![l("a", 1.0), l("", 1.0)],
        vec![l("a", f64::NAN)],
        vec![l("a", f64::INFINITY)],
    ] {
        match store.ingest(&bad, T0, &preds) {
            Err(Error::InvalidInput { reason, .. }) => {
                assert!(reason.contains("label"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(store.is_empty());
    assert!(read_labels(d.path()).unwrap().is_empty());
    let s = store.ingest(&[], T0, &preds).unwrap();
    assert_eq!(s, IngestSummary::default());
    assert!(matches!(
        LabelStore::open_with(
            d.path().join("x"),
            LabelConfig::default().with_ttl(Duration::ZERO)
        ),
        Err(Error::InvalidInput { .. })
    ));
    assert!(matches!(
        read_labels(d.path().join("missing")),
        Err(Error::Io { .. })
    ));
}

#[test]
fn label_files_csv_and_their_errors() {
    let d = tmp();
    let p = d.path().join("labels.csv");
    std::fs::write(&p, "id,label,extra\n007,1,x\nréq-✓/1,0,y\n12,1,z\n").unwrap();
    let got = read_labels_file(&p).unwrap();
    assert_eq!(
        got,
        vec![l("007", 1.0), l("réq-✓/1", 0.0), l("12", 1.0)],
        "ids stay text (007 keeps its zeros)"
    );
    let p2 = d.path().join("text.csv");
    std::fs::write(&p2, "label,id\nyes,a\nno,b\n").unwrap();
    assert_eq!(
        read_labels_file(&p2).unwrap(),
        vec![
            ("a".to_string(), Value::Str("yes".into())),
            ("b".to_string(), Value::Str("no".into()))
        ]
    );
    let missing = d.path().join("nolabel.csv");
    std::fs::write(&missing, "id,target\na,1\n").unwrap();
    match read_labels_file(&missing) {
        Err(Error::Drift(mlops_drift::Error::ColumnNotFound { column, path, .. })) => {
            assert_eq!(column, "label");
            assert!(path.contains("nolabel.csv"));
        }
        other => panic!("{other:?}"),
    }
    let noid = d.path().join("noid.csv");
    std::fs::write(&noid, "label\n1\n").unwrap();
    match read_labels_file(&noid) {
        Err(Error::Drift(mlops_drift::Error::ColumnNotFound { column, .. })) => {
            assert_eq!(column, "id")
        }
        other => panic!("{other:?}"),
    }
    let empty_id = d.path().join("empty.csv");
    std::fs::write(&empty_id, "id,label\na,1\n,0\n").unwrap();
    match read_labels_file(&empty_id) {
        Err(Error::InvalidInput { reason, .. }) => {
            assert!(reason.contains("empty.csv row 2: empty id"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    let empty_label = d.path().join("emptylabel.csv");
    std::fs::write(&empty_label, "id,label\na,1\nb,\n").unwrap();
    match read_labels_file(&empty_label) {
        Err(Error::InvalidInput { reason, .. }) => {
            assert!(reason.contains("row 2: empty label"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    let header_only = d.path().join("header.csv");
    std::fs::write(&header_only, "id,label\n").unwrap();
    assert!(read_labels_file(&header_only).unwrap().is_empty());
}

#[cfg(feature = "parquet")]
#[test]
fn label_files_parquet() {
    use mlops_drift::io::{write_parquet, Column, Table};
    let d = tmp();
    let p = d.path().join("labels.parquet");
    write_parquet(
        &p,
        &Table {
            columns: vec![
                (
                    "id".into(),
                    Column::Categorical(vec![Some("a".into()), Some("b✓".into())]),
                ),
                ("label".into(), Column::Numeric(vec![1.0, 0.0])),
            ],
        },
    )
    .unwrap();
    assert_eq!(
        read_labels_file(&p).unwrap(),
        vec![l("a", 1.0), l("b✓", 0.0)]
    );
    let bad = d.path().join("bad.parquet");
    std::fs::write(&bad, b"PAR1 not really").unwrap();
    assert!(matches!(read_labels_file(&bad), Err(Error::Drift(_))));
}

#[test]
fn http_bodies() {
    let body = serde_json::json!([{"id": "a", "label": 1}, {"id": "b", "label": "yes"}, {"id": "c", "label": true}]);
    assert_eq!(
        parse_labels_json(&body).unwrap(),
        vec![
            l("a", 1.0),
            ("b".to_string(), Value::Str("yes".into())),
            l("c", 1.0)
        ]
    );
    let wrapped = serde_json::json!({"labels": [{"id": "a", "label": 0.5}]});
    assert_eq!(parse_labels_json(&wrapped).unwrap(), vec![l("a", 0.5)]);
    for (bad, needle) in [
        (serde_json::json!([{"id": "a", "label": null}]), "entry 0"),
        (
            serde_json::json!([{"id": "a", "label": 1}, {"label": 1}]),
            "entry 1",
        ),
        (serde_json::json!([{"id": 5, "label": 1}]), "entry 0"),
        (serde_json::json!({"x": 1}), "expected"),
        (serde_json::json!("a"), "expected"),
    ] {
        match parse_labels_json(&bad) {
            Err(Error::InvalidInput { reason, .. }) => assert!(reason.contains(needle), "{reason}"),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn join_of_a_million_labels_against_a_million_predictions() {
    let n = 1_000_000usize;
    let ids: Vec<String> = (0..n).map(|i| format!("req-{i:08x}/0")).collect();
    let times = prediction_times(
        ids.iter()
            .enumerate()
            .map(|(i, id)| (id.as_str(), T0 + i as i64)),
    );
    // Labels in a different order; every 10th is late, every 100th unknown, every 1000th
    // a duplicate of the previous one.
    let mut labels = Vec::with_capacity(n);
    for k in 0..n {
        let i = (k * 7919) % n;
        let id = if k % 100 == 99 {
            format!("nope-{k}")
        } else if k % 1000 == 998 {
            labels
                .last()
                .map_or_else(|| ids[i].clone(), |x: &LabelRecord| x.id.clone())
        } else {
            ids[i].clone()
        };
        let late = k % 10 == 3;
        labels.push(LabelRecord {
            id,
            label: Value::Num((k % 2) as f64),
            received_ms: T0 + i as i64 + if late { 15 * DAY } else { DAY },
        });
    }
    let start = Instant::now();
    let j = join(&times, &labels, DEFAULT_TTL);
    let secs = start.elapsed().as_secs_f64();
    let c = j.counts();
    eprintln!(
        "label join: {n} labels against {n} predictions in {:.3} s = {:.2} M labels/s",
        secs,
        n as f64 / secs / 1e6
    );
    assert_eq!(c.received, n as u64);
    assert_eq!(c.unknown, (n / 100) as u64);
    assert_eq!(c.duplicate, (n / 1000) as u64);
    assert_eq!(c.late, (n / 10) as u64);
    assert_eq!(c.matched + c.late + c.duplicate + c.unknown, n as u64);
    assert_eq!(j.len() as u64, c.matched);
    assert_eq!(j.iter().count() as u64, c.matched);
    assert_eq!(j.label(&ids[0]), Some(&Value::Num(0.0)));
}
