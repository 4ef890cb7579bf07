//! Writes benchmark data into a prediction log, as `mlops serve --log-predictions` would,
//! for `tools/bench/monitor_compare.py`:
//!
//! ```text
//! monitor_ingest --log DIR --csv reference.csv [--csv analysis.csv …] [--labels labels.csv]
//! ```
//!
//! Each CSV has columns `id,timestamp_ms,<features…>,y_pred_proba,y_pred[,y_true]`; every other
//! column is a feature. Rows become `LoggedPrediction`s of model `model` v1 on arm `stable`
//! (scores `[1 − p, p]`, prediction `y_pred`), written through the log's queue without
//! dropping any; `--labels` (`id,label`) is then ingested into the label store, as received one
//! hour after the last prediction.

use std::path::PathBuf;
use std::time::Instant;

use mlops_drift::io::{read_csv, Column, ColumnKind, ReadOptions};
use mlops_monitor::labels::LabelStore;
use mlops_monitor::log::{LogConfig, PredictionLog};
use mlops_monitor::record::{now_ms, LoggedPrediction, Value};

fn fail(msg: String) -> ! {
    eprintln!("monitor_ingest: {msg}");
    std::process::exit(2)
}

fn main() {
    let mut log = None;
    let mut csvs: Vec<PathBuf> = Vec::new();
    let mut labels = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || {
            args.next()
                .unwrap_or_else(|| fail(format!("{a} needs a value")))
        };
        match a.as_str() {
            "--log" => log = Some(PathBuf::from(val())),
            "--csv" => csvs.push(PathBuf::from(val())),
            "--labels" => labels = Some(PathBuf::from(val())),
            other => fail(format!("unknown argument {other:?}")),
        }
    }
    let log_dir = log.unwrap_or_else(|| fail("--log DIR is required".into()));
    let plog = PredictionLog::open(LogConfig::new(&log_dir))
        .unwrap_or_else(|e| fail(format!("opening {}: {e}", log_dir.display())));
    let start = Instant::now();
    let mut rows = 0usize;
    let mut last_ts = i64::MIN;
    for path in &csvs {
        let opts = ReadOptions::default().with_kind("id", ColumnKind::Categorical);
        let table =
            read_csv(path, &opts).unwrap_or_else(|e| fail(format!("{}: {e}", path.display())));
        let num = |name: &str| match table.column(name) {
            Some(Column::Numeric(v)) => v.clone(),
            _ => fail(format!("{}: no numeric column {name:?}", path.display())),
        };
        let ids = match table.column("id") {
            Some(Column::Categorical(v)) => v.clone(),
            _ => fail(format!("{}: no id column", path.display())),
        };
        let ts = num("timestamp_ms");
        let proba = num("y_pred_proba");
        let pred = num("y_pred");
        let skip = ["id", "timestamp_ms", "y_pred_proba", "y_pred", "y_true"];
        let features: Vec<(String, Vec<f64>)> = table
            .columns
            .iter()
            .filter(|(n, _)| !skip.contains(&n.as_str()))
            .map(|(n, c)| match c {
                Column::Numeric(v) => (n.clone(), v.clone()),
                Column::Categorical(_) => fail(format!("feature {n:?} is not numeric")),
            })
            .collect();
        for i in 0..ids.len() {
            last_ts = last_ts.max(ts[i] as i64);
            let rec = LoggedPrediction {
                id: ids[i].clone().unwrap_or_default(),
                timestamp_ms: ts[i] as i64,
                model: "model".into(),
                version: 1,
                arm: "stable".into(),
                features: features
                    .iter()
                    .map(|(n, v)| (n.clone(), Value::Num(v[i])))
                    .collect(),
                prediction: Some(Value::Num(pred[i])),
                scores: vec![1.0 - proba[i], proba[i]],
                segments: Vec::new(),
                kpis: Vec::new(),
                latency_s: None,
                error: None,
            };
            plog.log_blocking(rec)
                .unwrap_or_else(|e| fail(format!("logging: {e}")));
        }
        rows += ids.len();
    }
    let stats = plog
        .close()
        .unwrap_or_else(|e| fail(format!("closing the log: {e}")));
    let log_s = start.elapsed().as_secs_f64();
    let mut out = serde_json::json!({
        "rows": rows,
        "dropped": stats.dropped,
        "log_s": log_s,
        "rows_per_s": rows as f64 / log_s,
    });
    if let Some(path) = labels {
        let ls = mlops_monitor::labels::read_labels_file(&path)
            .unwrap_or_else(|e| fail(format!("{}: {e}", path.display())));
        let index = mlops_monitor::log::IdIndex::new();
        mlops_monitor::log::LogReader::open(&log_dir)
            .and_then(|r| {
                r.for_each(|p| {
                    index.insert(&p.id, p.timestamp_ms);
                })
            })
            .unwrap_or_else(|e| fail(format!("reading the log back: {e}")));
        let t = Instant::now();
        let mut store =
            LabelStore::open(&log_dir).unwrap_or_else(|e| fail(format!("label store: {e}")));
        // The labels arrive an hour after the last prediction (the data's own clock, not the
        // wall clock: the benchmark's predictions are dated 2026-01-01).
        let arrival = if last_ts == i64::MIN {
            now_ms()
        } else {
            last_ts + 3_600_000
        };
        let summary = store
            .ingest(&ls, arrival, &index)
            .unwrap_or_else(|e| fail(format!("ingesting labels: {e}")));
        let label_s = t.elapsed().as_secs_f64();
        out["labels"] = serde_json::to_value(summary).unwrap_or_default();
        out["labels_s"] = label_s.into();
        out["labels_per_s"] = (ls.len() as f64 / label_s).into();
    }
    println!("{out}");
}
