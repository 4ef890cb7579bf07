//! Prometheus text output parsed line by line and checked against the snapshot.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{x, Probe};
use mlops_serve::{EngineBuilder, Metrics, ModelIdentity};

#[derive(Debug)]
struct Sample {
    name: String,
    labels: HashMap<String, String>,
    value: f64,
}

/// A strict parser for the subset of the text exposition format that prometheus-client emits.
fn parse(text: &str) -> (HashMap<String, String>, Vec<Sample>) {
    let mut types = HashMap::new();
    let mut samples = Vec::new();
    let mut saw_eof = false;
    for line in text.lines() {
        assert!(!saw_eof, "content after # EOF");
        if line == "# EOF" {
            saw_eof = true;
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, ty) = rest
                .split_once(' ')
                .expect("TYPE line has a name and a type");
            assert!(["counter", "gauge", "histogram"].contains(&ty), "{line}");
            types.insert(name.to_owned(), ty.to_owned());
            continue;
        }
        if line.starts_with("# HELP ") || line.starts_with("# UNIT ") {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("sample has a value");
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line}"));
        let (name, labels) = match series.split_once('{') {
            Some((n, l)) => {
                let l = l.strip_suffix('}').expect("labels close");
                let labels = l
                    .split(',')
                    .filter(|kv| !kv.is_empty())
                    .map(|kv| {
                        let (k, v) = kv.split_once('=').expect("label k=v");
                        (k.to_owned(), v.trim_matches('"').to_owned())
                    })
                    .collect();
                (n.to_owned(), labels)
            }
            None => (series.to_owned(), HashMap::new()),
        };
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "{name}"
        );
        samples.push(Sample {
            name,
            labels,
            value,
        });
    }
    assert!(saw_eof, "exposition ends with # EOF");
    (types, samples)
}

fn value(samples: &[Sample], name: &str, version: &str) -> f64 {
    samples
        .iter()
        .find(|s| s.name == name && s.labels.get("version").map(String::as_str) == Some(version))
        .unwrap_or_else(|| panic!("{name} v{version} missing"))
        .value
}

#[test]
fn prometheus_text_parses_and_agrees_with_the_snapshot() {
    let metrics = Metrics::new();
    let engine = EngineBuilder::new(Probe::new(1, 0.0))
        .with_metrics(metrics.clone())
        .with_max_batch_size(4)
        .with_max_delay(Duration::ZERO)
        .with_cache_capacity(8)
        .build()
        .unwrap();
    for i in 0..5 {
        engine.predict(x(vec![vec![i as f32]])).unwrap();
    }
    engine.predict(x(vec![vec![0.0]])).unwrap(); // cache hit
    assert!(engine.predict(x(vec![vec![1.0, 2.0]])).is_err()); // invalid
    assert!(engine
        .predict(x((0..5).map(|i| vec![i as f32]).collect()))
        .is_err()); // too large
    let text = metrics.encode().unwrap();
    let (types, samples) = parse(&text);
    for (name, ty) in [
        ("mlops_serve_requests", "counter"),
        ("mlops_serve_request_errors", "counter"),
        ("mlops_serve_rejected_overload", "counter"),
        ("mlops_serve_rejected_too_large", "counter"),
        ("mlops_serve_deadline_exceeded", "counter"),
        ("mlops_serve_cache_hits", "counter"),
        ("mlops_serve_cache_misses", "counter"),
        ("mlops_serve_queue_duration_seconds", "histogram"),
        ("mlops_serve_compute_duration_seconds", "histogram"),
        ("mlops_serve_batch_size_rows", "histogram"),
        ("mlops_serve_queue_depth", "gauge"),
        ("mlops_serve_in_flight", "gauge"),
    ] {
        assert_eq!(
            types.get(name).map(String::as_str),
            Some(ty),
            "{name}\n{text}"
        );
    }
    let snap = engine.snapshot();
    assert_eq!(
        value(&samples, "mlops_serve_requests_total", "1"),
        snap.requests as f64
    );
    assert_eq!(snap.requests, 8);
    assert_eq!(
        value(&samples, "mlops_serve_request_errors_total", "1"),
        2.0
    );
    assert_eq!(
        value(&samples, "mlops_serve_rejected_too_large_total", "1"),
        1.0
    );
    assert_eq!(value(&samples, "mlops_serve_cache_hits_total", "1"), 1.0);
    assert_eq!(value(&samples, "mlops_serve_cache_misses_total", "1"), 5.0); // rejected requests never reach the cache
                                                                             // Histogram: buckets cumulative and ending at the count, which equals the batches run.
    let buckets: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.name == "mlops_serve_batch_size_rows_bucket")
        .collect();
    assert!(buckets.windows(2).all(|w| w[0].value <= w[1].value));
    assert_eq!(buckets.last().unwrap().labels["le"], "+Inf");
    let count = value(&samples, "mlops_serve_batch_size_rows_count", "1");
    assert_eq!(buckets.last().unwrap().value, count);
    assert_eq!(count, snap.batches as f64);
    assert_eq!(
        value(&samples, "mlops_serve_batch_size_rows_sum", "1"),
        snap.batched_rows as f64
    );
    assert_eq!(
        value(&samples, "mlops_serve_queue_duration_seconds_count", "1"),
        5.0
    );
    assert!(value(&samples, "mlops_serve_compute_duration_seconds_sum", "1") > 0.0);
    let depth = samples
        .iter()
        .find(|s| s.name == "mlops_serve_queue_depth")
        .unwrap();
    assert_eq!(depth.labels["model"], "probe");
    assert_eq!(depth.value, 0.0);
    // Snapshot through the shared registry, by identity.
    let by_id = metrics
        .snapshot(&ModelIdentity::new("probe", 1).unwrap())
        .unwrap();
    assert_eq!(by_id, snap);
    assert!(metrics
        .snapshot(&ModelIdentity::new("probe", 2).unwrap())
        .is_none());
}
