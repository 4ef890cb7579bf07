//! The HPO journal: frame format against Python references, torn tails, corruption, locking.

use std::collections::BTreeMap;
use std::path::Path;

use mlops_pipeline::hpo::journal::{encode_frame, Journal, Record};
use mlops_pipeline::hpo::study::{sampler_seed, trial_seed};
use mlops_pipeline::hpo::{
    Direction, Distribution, ParamSpec, ParamValue, SearchSpace, TrialState,
};
use mlops_pipeline::Error;
use serde_json::Value;

fn fixture() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/hpo_study_reference.json"
    ))
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

fn space() -> SearchSpace {
    SearchSpace {
        params: vec![ParamSpec {
            name: "x".into(),
            distribution: Distribution::Float {
                low: -1.0,
                high: 1.0,
                log: false,
                step: None,
            },
            condition: None,
        }],
    }
}

fn created() -> Record {
    Record::StudyCreated {
        name: "s".into(),
        direction: Direction::Minimize,
        space: space(),
        seed: 7,
        workers: 2,
        deterministic: true,
        sampler: "random".into(),
        pruner: "none".into(),
    }
}

fn some_records() -> Vec<Record> {
    let mut v = vec![created()];
    for n in 0..4u64 {
        v.push(Record::TrialStarted {
            number: n,
            params: BTreeMap::from([("x".to_string(), ParamValue::Float(0.1 * n as f64))]),
            seed: n,
            worker: 0,
            lease_until_ms: 1000,
        });
        v.push(Record::Intermediate {
            number: n,
            step: 0,
            value: 1.0 / (n as f64 + 1.0),
        });
        v.push(Record::TrialFinished {
            number: n,
            state: TrialState::Complete,
            value: Some(n as f64 * 0.5),
        });
    }
    v
}

/// Writes `records` one commit each; returns the offset where each frame starts, and the end.
fn write(path: &Path, records: &[Record]) -> (Vec<u64>, u64) {
    let mut j = Journal::open(path).unwrap().journal;
    let mut starts = Vec::new();
    for r in records {
        starts.push(j.len());
        j.append(std::slice::from_ref(r)).unwrap();
    }
    (starts, j.len())
}

fn records(entries: &[mlops_pipeline::hpo::journal::Entry]) -> Vec<Record> {
    entries.iter().map(|e| e.record.clone()).collect()
}

#[test]
fn frames_match_python_reference_bytes() {
    let f = fixture();
    // crc32c.crc32c(b'123456789') (crc32c==2.7.1)
    assert_eq!(
        u64::from(crc32c::crc32c(b"123456789")),
        f["crc32c_check"]["value"].as_u64().unwrap()
    );
    let frames = f["frames"].as_array().unwrap();
    assert_eq!(frames.len(), 6);
    for fr in frames {
        let record: Record = serde_json::from_value(fr["record"].clone()).unwrap();
        let mut buf = Vec::new();
        encode_frame(&record, &mut buf).unwrap();
        // struct.pack('<II', len(p), crc32c.crc32c(p)) + p, p = json.dumps(record, separators=(',', ':'))
        assert_eq!(
            hex::encode(&buf),
            fr["frame_hex"].as_str().unwrap(),
            "{record:?}"
        );
    }
}

#[test]
fn trial_seeds_match_python_sha256() {
    let f = fixture();
    for s in f["seeds"].as_array().unwrap() {
        let seed = s["seed"].as_u64().unwrap();
        let number = s["number"].as_u64().unwrap();
        // int.from_bytes(hashlib.sha256(tag + struct.pack('<QQ', seed, number)).digest()[:8], 'little')
        let want = s["value"].as_u64().unwrap();
        let got = match s["tag"].as_str().unwrap() {
            "mlops-hpo/trial" => trial_seed(seed, number),
            "mlops-hpo/sample" => sampler_seed(seed, number),
            t => panic!("unknown tag {t}"),
        };
        assert_eq!(got, want, "{s}");
    }
}

#[test]
fn roundtrip_and_reopen_appends_after() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j");
    let recs = some_records();
    let (_, end) = write(&path, &recs);
    let opened = Journal::open(&path).unwrap();
    assert_eq!(opened.cut_bytes, 0);
    assert_eq!(opened.journal.len(), end);
    assert_eq!(records(&opened.entries), recs);
    let mut j = opened.journal;
    let more = Record::TrialRequeued {
        number: 9,
        attempt: 0,
    };
    j.append(&[more.clone(), more.clone()]).unwrap();
    j.append(&[]).unwrap();
    drop(j);
    let again = Journal::open(&path).unwrap();
    assert_eq!(again.entries.len(), recs.len() + 2);
    assert_eq!(again.entries.last().unwrap().record, more);
}

#[test]
fn new_and_empty_journal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new");
    let o = Journal::open(&path).unwrap();
    assert!(o.entries.is_empty());
    assert!(o.journal.is_empty());
    assert!(path.exists());
    drop(o);
    let ro = Journal::read(&path).unwrap();
    assert!(ro.entries.is_empty());
    assert_eq!(ro.torn_tail_bytes, 0);
    // A missing file is an I/O error for the reader, never an empty study.
    assert!(matches!(
        Journal::read(dir.path().join("missing")),
        Err(Error::Io { .. })
    ));
    // The parent directory must exist.
    assert!(matches!(
        Journal::open(dir.path().join("no/such/dir/j")),
        Err(Error::Io { .. })
    ));
}

#[test]
fn torn_tail_at_every_byte_of_the_last_frame_is_cut() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j");
    let recs = some_records();
    let (starts, end) = write(&path, &recs);
    let full = std::fs::read(&path).unwrap();
    let last = *starts.last().unwrap();
    for cut_at in last..end {
        std::fs::write(&path, &full[..cut_at as usize]).unwrap();
        // The reader reports the tail but leaves it.
        let ro = Journal::read(&path).unwrap();
        assert_eq!(ro.torn_tail_bytes, cut_at - last, "cut at {cut_at}");
        assert_eq!(std::fs::metadata(&path).unwrap().len(), cut_at);
        // The writer cuts it, durably.
        let o = Journal::open(&path).unwrap();
        assert_eq!(o.cut_bytes, cut_at - last, "cut at {cut_at}");
        assert_eq!(records(&o.entries), recs[..recs.len() - 1]);
        assert_eq!(o.journal.len(), last);
        drop(o);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), last);
        // Reopening finds a clean file, and appending works.
        let mut o = Journal::open(&path).unwrap();
        assert_eq!(o.cut_bytes, 0);
        o.journal
            .append(std::slice::from_ref(recs.last().unwrap()))
            .unwrap();
        drop(o);
        let o = Journal::open(&path).unwrap();
        assert_eq!(records(&o.entries), recs);
    }
}

#[test]
fn garbage_tail_after_last_frame_is_cut() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j");
    let recs = some_records();
    let (_, end) = write(&path, &recs);
    let mut bytes = std::fs::read(&path).unwrap();
    // Zeros (a file extended but not written), then random-ish junk.
    bytes.extend_from_slice(&[0u8; 13]);
    bytes.extend_from_slice(b"\xff\xff\xff\xff junk");
    std::fs::write(&path, &bytes).unwrap();
    let o = Journal::open(&path).unwrap();
    assert_eq!(o.cut_bytes, bytes.len() as u64 - end);
    assert_eq!(records(&o.entries), recs);
}

#[test]
fn bit_flip_in_the_middle_is_corrupt_with_offset() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j");
    let recs = some_records();
    let (starts, end) = write(&path, &recs);
    let full = std::fs::read(&path).unwrap();
    // Every bit of a frame in the middle: its length, CRC or payload.
    let victim = recs.len() / 2;
    let (from, to) = (starts[victim], starts[victim + 1]);
    for byte in from..to {
        for bit in 0..8 {
            let mut bytes = full.clone();
            bytes[byte as usize] ^= 1 << bit;
            std::fs::write(&path, &bytes).unwrap();
            for result in [
                Journal::open(&path).map(|o| o.entries.len()),
                Journal::read(&path).map(|r| r.entries.len()),
            ] {
                match result {
                    Err(Error::Corrupt { offset, reason, .. }) => {
                        assert_eq!(offset, from, "byte {byte} bit {bit}: {reason}")
                    }
                    other => panic!("byte {byte} bit {bit}: expected Corrupt, got {other:?}"),
                }
            }
            // Never cut: the file is as it was.
            assert_eq!(std::fs::metadata(&path).unwrap().len(), end);
        }
    }
}

#[test]
fn good_crc_but_not_a_record_is_corrupt_even_at_the_tail() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j");
    let (_, end) = write(&path, &some_records());
    let mut bytes = std::fs::read(&path).unwrap();
    let payload = br#"{"type":"no_such_record"}"#;
    bytes.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&crc32c::crc32c(payload).to_le_bytes());
    bytes.extend_from_slice(payload);
    std::fs::write(&path, &bytes).unwrap();
    match Journal::open(&path) {
        Err(Error::Corrupt { offset, .. }) => assert_eq!(offset, end),
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[test]
fn second_writer_is_locked_out_until_the_first_closes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j");
    let first = Journal::open(&path).unwrap();
    match Journal::open(&path) {
        Err(Error::Locked { path: p }) => assert!(p.to_string_lossy().ends_with("j.lock")),
        other => panic!("expected Locked, got {other:?}"),
    }
    // A reader does not need the lock.
    assert!(Journal::read(&path).is_ok());
    drop(first);
    assert!(Journal::open(&path).is_ok());
}

#[test]
fn second_writer_in_another_thread_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j");
    let _first = Journal::open(&path).unwrap();
    let p = path.clone();
    let r = std::thread::spawn(move || Journal::open(&p).map(|_| ()))
        .join()
        .unwrap();
    assert!(matches!(r, Err(Error::Locked { .. })), "{r:?}");
}

#[test]
fn non_finite_records_are_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j");
    let mut j = Journal::open(&path).unwrap().journal;
    j.append(&[created()]).unwrap();
    let len = j.len();
    for bad in [
        Record::Intermediate {
            number: 0,
            step: 0,
            value: f64::NAN,
        },
        Record::TrialFinished {
            number: 0,
            state: TrialState::Complete,
            value: Some(f64::NEG_INFINITY),
        },
        Record::TrialStarted {
            number: 0,
            params: BTreeMap::from([("x".to_string(), ParamValue::Float(f64::INFINITY))]),
            seed: 0,
            worker: 0,
            lease_until_ms: 0,
        },
    ] {
        // A good record before the bad one in the same commit: the whole commit is refused.
        let err = j.append(&[created(), bad]).unwrap_err();
        assert!(matches!(err, Error::InvalidInput { .. }), "{err}");
        assert_eq!(j.len(), len);
    }
    drop(j);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), len);
    assert_eq!(Journal::open(&path).unwrap().entries.len(), 1);
}
