//! The library path of `mlops validate infer|check`, without building the whole CLI: used by
//! `tools/bench/validate_compare.py` to time a check against Great Expectations.
//!
//! ```text
//! cargo build --release -p mlops-validate --example validate_file
//! validate_file infer DATA SCHEMA_OUT
//! validate_file check SCHEMA DATA [--now RFC3339]
//! ```
//!
//! Prints one line of JSON: `{"command", "rows", "seconds", ...}`; for `check` also the number
//! of expectations evaluated (and by kind), the number that failed and each failure as `[column, GE name,
//! unexpected_count]`. Exit status: 0 ok (even with anomalies), 2 usage or I/O error.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use mlops_validate::{check_file, infer_file, CheckOptions, InferOptions, Schema};
use serde_json::json;

const USAGE: &str = "usage: validate_file infer DATA SCHEMA_OUT\n       validate_file check SCHEMA DATA [--now RFC3339]";

fn infer(data: &Path, out: &Path) -> Result<serde_json::Value> {
    let start = Instant::now();
    let mut rows = 0u64;
    let mut progress = |r: u64, _bytes: u64, _total: Option<u64>| rows = r;
    let schema = infer_file(data, &InferOptions::default(), Some(&mut progress))
        .with_context(|| format!("inferring from {}", data.display()))?;
    let seconds = start.elapsed().as_secs_f64();
    schema
        .save(out)
        .with_context(|| format!("writing {}", out.display()))?;
    Ok(json!({
        "command": "infer",
        "rows": rows,
        "columns": schema.columns.len(),
        "seconds": seconds,
    }))
}

fn check(schema_path: &Path, data: &Path, now: Option<&str>) -> Result<serde_json::Value> {
    let schema =
        Schema::load(schema_path).with_context(|| format!("reading {}", schema_path.display()))?;
    let mut options = CheckOptions::default();
    if let Some(now) = now {
        let t = chrono::DateTime::parse_from_rfc3339(now)
            .with_context(|| format!("--now {now:?} is not RFC 3339"))?;
        options.now_ms = t.timestamp_millis();
    }
    let start = Instant::now();
    let report = check_file(&schema, data, &options, None, None)
        .with_context(|| format!("checking {}", data.display()))?;
    let seconds = start.elapsed().as_secs_f64();
    let failed: Vec<serde_json::Value> = report
        .anomalies()
        .map(|a| json!([a.column, a.expectation, a.unexpected_count]))
        .collect();
    let mut by_kind = std::collections::BTreeMap::<&str, usize>::new();
    for a in &report.outcomes {
        *by_kind.entry(a.kind.as_str()).or_default() += 1;
    }
    Ok(json!({
        "command": "check",
        "by_kind": by_kind,
        "rows": report.rows,
        "seconds": seconds,
        "expectations": report.outcomes.len(),
        "anomalies": failed.len(),
        "failed": failed,
    }))
}

fn run(args: &[String]) -> Result<serde_json::Value> {
    match args {
        [cmd, data, out] if cmd == "infer" => infer(Path::new(data), Path::new(out)),
        [cmd, schema, data] if cmd == "check" => check(Path::new(schema), Path::new(data), None),
        [cmd, schema, data, flag, now] if cmd == "check" && flag == "--now" => {
            check(Path::new(schema), Path::new(data), Some(now))
        }
        _ => bail!("{USAGE}"),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("validate_file: {e:#}");
            ExitCode::from(2)
        }
    }
}
