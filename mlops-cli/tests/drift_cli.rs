//! End-to-end tests of `mlops drift` on CSV and Parquet files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mlops_drift::io::{write_parquet, Column, Table};

fn mlops(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mlops"))
        .args(args)
        .env("MLOPS_LOG", "error")
        .output()
        .expect("run mlops")
}

/// Deterministic uniforms (64-bit LCG).
fn uniforms(seed: u64, n: usize) -> Vec<f64> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((x >> 11) as f64 + 0.5) / 9007199254740992.0
        })
        .collect()
}

fn table(seed: u64, n: usize, shift: f64) -> Table {
    let u = uniforms(seed, n);
    let v = uniforms(seed + 100, n);
    let x: Vec<f64> = u.iter().map(|u| u + shift).collect();
    let y: Vec<f64> = v.iter().map(|v| v * 10.0).collect();
    let city: Vec<Option<String>> = u
        .iter()
        .zip(&v)
        .map(|(u, v)| {
            if *v < 0.02 {
                None
            } else {
                let t = if shift > 0.0 { u * u } else { *u };
                Some(["Zürich", "Paris", "Lima"][((t * 3.0) as usize).min(2)].to_string())
            }
        })
        .collect();
    Table {
        columns: vec![
            ("x".into(), Column::Numeric(x)),
            ("y".into(), Column::Numeric(y)),
            ("city".into(), Column::Categorical(city)),
        ],
    }
}

fn write_csv(path: &Path, t: &Table) {
    let mut s = String::from("x,y,city\n");
    let n = t.columns[0].1.len();
    for i in 0..n {
        let mut cells = Vec::new();
        for (_, c) in &t.columns {
            cells.push(match c {
                Column::Numeric(v) => format!("{}", v[i]),
                Column::Categorical(v) => v[i].clone().unwrap_or_default(),
            });
        }
        s.push_str(&cells.join(","));
        s.push('\n');
    }
    std::fs::write(path, s).unwrap();
}

struct Files {
    _dir: tempfile::TempDir,
    ref_csv: PathBuf,
    same_csv: PathBuf,
    drift_csv: PathBuf,
    ref_pq: PathBuf,
    drift_pq: PathBuf,
}

fn files() -> Files {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    let (r, same, drift) = (
        table(1, 3000, 0.0),
        table(2, 2500, 0.0),
        table(3, 2500, 0.5),
    );
    write_csv(&p("ref.csv"), &r);
    write_csv(&p("same.csv"), &same);
    write_csv(&p("drift.csv"), &drift);
    write_parquet(&p("ref.parquet"), &r).unwrap();
    write_parquet(&p("drift.parquet"), &drift).unwrap();
    Files {
        ref_csv: p("ref.csv"),
        same_csv: p("same.csv"),
        drift_csv: p("drift.csv"),
        ref_pq: p("ref.parquet"),
        drift_pq: p("drift.parquet"),
        _dir: dir,
    }
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "bad JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn json_contract_on_csv() {
    let f = files();
    let out = mlops(&[
        "drift",
        "--reference",
        s(&f.ref_csv),
        "--current",
        s(&f.drift_csv),
        "--format",
        "json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json(&out);
    let cols = v["columns"].as_array().unwrap();
    assert_eq!(cols.len(), 3);
    let x = cols.iter().find(|c| c["column"] == "x").unwrap();
    assert_eq!(x["kind"], "numeric");
    assert_eq!(x["n_ref"], 3000);
    assert_eq!(x["n_cur"], 2500);
    assert_eq!(x["missing_ref"], 0);
    for key in [
        "ks",
        "psi",
        "kl",
        "js",
        "hellinger",
        "wasserstein",
        "cvm",
        "anderson",
        "energy",
    ] {
        let t = &x["tests"][key];
        assert!(t["statistic"].is_number(), "{key}: {t}");
    }
    assert!(x["tests"]["ks"]["p_value"].as_f64().unwrap() < 1e-10);
    let psi = &x["tests"]["psi"];
    let edges = psi["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 9);
    assert_eq!(psi["ref_counts"].as_array().unwrap().len(), 10);
    assert_eq!(
        psi["cur_counts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_u64().unwrap())
            .sum::<u64>(),
        2500
    );
    assert_eq!(x["drifted"], true);
    let y = cols.iter().find(|c| c["column"] == "y").unwrap();
    assert_eq!(y["drifted"], false);
    let city = cols.iter().find(|c| c["column"] == "city").unwrap();
    assert_eq!(city["kind"], "categorical");
    assert!(city["tests"]["chi2"]["p_value"].as_f64().unwrap() < 1e-6);
    assert!(city["missing_ref"].as_u64().unwrap() > 0);
    assert_eq!(city["drifted"], true);
    assert_eq!(v["dataset"]["n_drifted"], 2);
    assert_eq!(v["dataset"]["drifted"], true);
}

#[test]
fn fail_on_drift_exit_codes() {
    let f = files();
    let base = ["drift", "--reference", s(&f.ref_csv), "--fail-on-drift"];
    let out = mlops(&[&base[..], &["--current", s(&f.drift_csv)]].concat());
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("DRIFT"), "{text}");
    let out = mlops(&[&base[..], &["--current", s(&f.same_csv)]].concat());
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn parquet_inputs_and_stored_profiles() {
    let f = files();
    let out = mlops(&[
        "drift",
        "--reference",
        s(&f.ref_pq),
        "--current",
        s(&f.drift_pq),
        "--format",
        "json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let direct = json(&out);
    for ext in ["json", "bin"] {
        let prof = f.ref_csv.with_extension(format!("profile.{ext}"));
        let out = mlops(&["drift", "profile", s(&f.ref_pq), "-o", s(&prof)]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = mlops(&[
            "drift",
            "--reference-profile",
            s(&prof),
            "--current",
            s(&f.drift_csv),
            "--format",
            "json",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let via_profile = json(&out);
        // CSV and Parquet carry the same data; a stored profile gives the same report.
        assert_eq!(via_profile, direct, "profile .{ext}");
    }
}

#[test]
fn column_selection_and_overrides() {
    let f = files();
    let out = mlops(&[
        "drift",
        "--reference",
        s(&f.ref_csv),
        "--current",
        s(&f.drift_csv),
        "--columns",
        "y,x",
        "--test",
        "x=psi",
        "--format",
        "json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json(&out);
    let cols = v["columns"].as_array().unwrap();
    assert_eq!(cols.len(), 2);
    assert_eq!(cols[0]["column"], "y");
    assert_eq!(cols[1]["decision"]["test"], "psi");
}

#[test]
fn bad_inputs_exit_2_with_a_message() {
    let f = files();
    let cases: Vec<Vec<&str>> = vec![
        vec![
            "drift",
            "--reference",
            s(&f.ref_csv),
            "--current",
            "/nonexistent/cur.csv",
        ],
        vec![
            "drift",
            "--reference",
            s(&f.ref_csv),
            "--current",
            s(&f.drift_csv),
            "--columns",
            "nope",
        ],
        vec!["drift", "--reference", s(&f.ref_csv)],
        vec![
            "drift",
            "--reference-profile",
            s(&f.ref_csv),
            "--current",
            s(&f.drift_csv),
        ],
        vec![
            "drift",
            "--reference",
            s(&f.ref_csv),
            "--current",
            s(&f.drift_csv),
            "--test",
            "x=bogus",
        ],
    ];
    for args in cases {
        let out = mlops(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?}");
    }
    // A truncated Parquet file is an error, not a crash.
    let bytes = std::fs::read(&f.drift_pq).unwrap();
    let cut = f.drift_pq.with_file_name("cut.parquet");
    std::fs::write(&cut, &bytes[..bytes.len() / 3]).unwrap();
    let out = mlops(&["drift", "--reference", s(&f.ref_pq), "--current", s(&cut)]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn html_report_is_one_self_contained_file_with_the_json_numbers() {
    let f = files();
    let out_path = f._dir.path().join("report.html");
    let out = mlops(&[
        "drift",
        "--reference",
        s(&f.ref_csv),
        "--current",
        s(&f.drift_csv),
        "--format",
        "html",
        "-o",
        s(&out_path),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stdout.is_empty(),
        "the report goes to the file, not stdout"
    );
    let html = std::fs::read_to_string(&out_path).unwrap();
    let j = json(&mlops(&[
        "drift",
        "--reference",
        s(&f.ref_csv),
        "--current",
        s(&f.drift_csv),
        "--format",
        "json",
    ]));
    // Nothing can load from the network: a CSP that forbids it, and no URL in the page.
    assert!(html.contains("default-src 'none'"), "CSP missing");
    assert!(!html.contains("http://") && !html.contains("https://") && !html.contains("src=\""));
    // The summary and every column's verdict as the JSON report has them.
    let drifted = j["dataset"]["drifted"].as_bool().unwrap();
    assert!(html.contains(&format!(r#"id="dataset-summary" data-drifted="{drifted}""#)));
    for c in j["columns"].as_array().unwrap() {
        let name = c["column"].as_str().unwrap();
        let d = c["drifted"].as_bool().unwrap();
        assert!(
            html.contains(&format!(r#"<tr data-column="{name}" data-drifted="{d}">"#)),
            "{name}"
        );
    }
    // Plots: histograms and ECDFs for numbers, grouped bars for the category.
    assert_eq!(
        html.matches(r#"data-series="KS distance""#).count(),
        2,
        "one KS marker per numeric column"
    );
    assert!(html.matches(r#"class="series s-ref step""#).count() == 2);
    assert!(html.contains("city — category shares"));
    // -o with text is refused plainly; two output formats too.
    let bad = mlops(&[
        "drift",
        "--reference",
        s(&f.ref_csv),
        "--current",
        s(&f.drift_csv),
        "-o",
        s(&out_path),
    ]);
    assert_eq!(bad.status.code(), Some(2));
    let bad = mlops(&[
        "--format",
        "json",
        "--format",
        "html",
        "drift",
        "--reference",
        s(&f.ref_csv),
        "--current",
        s(&f.drift_csv),
    ]);
    assert_eq!(bad.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(stderr.matches("error").count(), 1, "{stderr}");
}
