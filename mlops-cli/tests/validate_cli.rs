//! `mlops validate infer|check` as a user runs them: exit 0 clean, 1 on anomalies at or
//! above --fail-on, 2 on bad input; JSON, text and HTML reports; skew against a reference.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

fn mlops(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mlops"))
        .args(args)
        .output()
        .unwrap()
}

fn write(path: &Path, rows: impl Iterator<Item = String>) {
    let mut s = String::from("id,amount,country,ts\n");
    for r in rows {
        s.push_str(&r);
        s.push('\n');
    }
    fs::write(path, s).unwrap();
}

/// `n` rows; `share_jp` of them in JP, the rest split between US and DE.
fn rows(n: usize, share_jp: f64, offset: usize) -> impl Iterator<Item = String> {
    (0..n).map(move |i| {
        let u = (i * 7919 % 1000) as f64 / 1000.0;
        let country = if u < share_jp {
            "JP"
        } else if i % 2 == 0 {
            "US"
        } else {
            "DE"
        };
        let amount = 10.0 + (i * 37 % 500) as f64 / 10.0;
        format!(
            "{},{amount:.1},{country},2026-11-01T{:02}:{:02}:00Z",
            offset + i,
            i / 60 % 24,
            i % 60
        )
    })
}

#[test]
fn infer_then_check_clean_faulty_and_skewed_batches() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let reference = d.join("ref.csv");
    write(&reference, rows(1_000, 0.3, 0));
    let schema = d.join("schema.toml");
    let out = mlops(&[
        "validate",
        "infer",
        reference.to_str().unwrap(),
        "-o",
        schema.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = fs::read_to_string(&schema).unwrap();
    assert!(text.contains("[columns.country.domain]"), "{text}");
    assert!(text.contains("[columns.id.unique]"), "{text}");

    let now = "--now=2026-11-02T00:00:00Z";
    let s = schema.to_str().unwrap();
    // A clean batch: exit 0, no anomaly.
    let clean = d.join("clean.csv");
    write(&clean, rows(1_000, 0.3, 5_000));
    let out = mlops(&[
        "validate",
        "check",
        "--schema",
        s,
        clean.to_str().unwrap(),
        now,
        "--format",
        "json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["anomalies"].as_array().unwrap().len(), 0);

    // A faulty batch: a negative amount and a new country at known rows → exit 1.
    let bad = d.join("bad.csv");
    write(
        &bad,
        rows(1_000, 0.3, 9_000).enumerate().map(|(i, r)| match i {
            4 => r
                .replace(",JP,", ",FR,")
                .replace(",US,", ",FR,")
                .replace(",DE,", ",FR,"),
            9 => {
                let mut f: Vec<String> = r.split(',').map(str::to_owned).collect();
                f[1] = "-3.0".into();
                f.join(",")
            }
            _ => r,
        }),
    );
    let out = mlops(&[
        "validate",
        "check",
        "--schema",
        s,
        bad.to_str().unwrap(),
        now,
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let found: Vec<(String, String, u64)> = j["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["column"].as_str().unwrap().to_owned(),
                a["kind"].as_str().unwrap().to_owned(),
                a["examples"][0]["row"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            ("amount".into(), "negative".into(), 10),
            ("country".into(), "unknown_category".into(), 5)
        ]
    );
    // Text and HTML say the same; the HTML is one self-contained file.
    let out = mlops(&[
        "validate",
        "check",
        "--schema",
        s,
        bad.to_str().unwrap(),
        now,
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("unknown_category") && text.contains("row 5: \"FR\""),
        "{text}"
    );
    let html = d.join("report.html");
    let out = mlops(&[
        "validate",
        "check",
        "--schema",
        s,
        bad.to_str().unwrap(),
        now,
        "--format",
        "html",
        "-o",
        html.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let page = fs::read_to_string(&html).unwrap();
    assert!(
        page.starts_with("<!doctype html>") && page.contains("FAIL"),
        "{page}"
    );
    assert!(!page.contains("http://") && !page.contains("https://"));

    // Skew: JP goes from 30 % to 80 % of rows: L∞ 0.5 > 0.1, a warning; --fail-on warning
    // turns it into exit 1.
    let skewed = d.join("skewed.csv");
    write(&skewed, rows(1_000, 0.8, 20_000));
    let args = |fail_on: &'static str| {
        vec![
            "validate".to_string(),
            "check".into(),
            "--schema".into(),
            s.to_owned(),
            skewed.display().to_string(),
            now.into(),
            "--reference".into(),
            reference.display().to_string(),
            "--fail-on".into(),
            fail_on.into(),
            "--format".into(),
            "json".into(),
        ]
    };
    let run = |a: Vec<String>| {
        Command::new(env!("CARGO_BIN_EXE_mlops"))
            .args(a)
            .output()
            .unwrap()
    };
    let out = run(args("error"));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let a = &j["anomalies"][0];
    assert_eq!(
        (a["column"].as_str(), a["kind"].as_str()),
        (Some("country"), Some("skew"))
    );
    assert_eq!(a["severity"], "warning");
    assert!(
        a["observed"]
            .as_str()
            .unwrap()
            .starts_with("L∞ distance 0.5"),
        "{a}"
    );
    assert_eq!(run(args("warning")).status.code(), Some(1));
}

#[test]
fn bad_input_exits_2_with_one_plain_error() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let schema = d.join("schema.toml");
    fs::write(&schema, "version = 1\n[columns.x]\ntype = \"int\"\n").unwrap();
    let data = d.join("d.csv");
    fs::write(&data, "x\n1\n2,3\n").unwrap();
    let s = schema.to_str().unwrap();
    let out = mlops(&["validate", "check", "--schema", s, data.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.starts_with("error: ") && err.contains("row 2"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");

    fs::write(&schema, "version = 1\n[columns.x]\ntype = \"integer\"\n").unwrap();
    let out = mlops(&["validate", "check", "--schema", s, data.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("integer"));

    let out = mlops(&[
        "validate",
        "check",
        "--schema",
        s,
        data.to_str().unwrap(),
        "--format",
        "pdf",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let out = mlops(&["validate", "infer", d.join("missing.csv").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
}
