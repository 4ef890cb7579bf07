//! Fault injection: a clean generated table, a schema inferred from another sample of the
//! same distribution, then one fault at a time, each detected with its exact count and rows.
//! Also: fresh samples raise no error (and the warning rate is reported), malformed files
//! are typed errors naming row and column, and a type error deep in a big file is an anomaly
//! with its row number.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use mlops_validate::{
    check_file, infer_file, AnomalyKind, CheckOptions, Error, InferOptions, Report, Schema,
    Severity,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, LogNormal, Normal};

const HEADER: [&str; 8] = ["id", "age", "price", "city", "email", "code", "ts", "score"];
/// 2026-11-01T00:00:00Z.
const T0_MS: i64 = 1_793_491_200_000;
const N: usize = 5_000;

/// One row per Vec: `id` unique, `age` int with 2 % missing, `price` log-normal (≥ 0),
/// `city` one of four, `email` unique addresses, `code` `AB-dddd`, `ts` one minute apart
/// (increasing), `score` normal.
fn sample(seed: u64, n: usize) -> Vec<Vec<String>> {
    let mut rng = StdRng::seed_from_u64(seed);
    let price = LogNormal::new(3.0, 0.5).unwrap();
    let score = Normal::new(0.0, 1.0).unwrap();
    let cities = ["Tokyo", "Osaka", "Kyoto", "Nagoya"];
    (0..n)
        .map(|i| {
            let id = seed * 1_000_000 + i as u64;
            vec![
                id.to_string(),
                if rng.gen::<f64>() < 0.02 {
                    String::new()
                } else {
                    rng.gen_range(18..=90).to_string()
                },
                format!("{:.2}", price.sample(&mut rng)),
                cities[rng.gen_range(0..4)].to_string(),
                format!("user{id}@example.com"),
                format!("AB-{}", rng.gen_range(1000..=9999)),
                mlops_validate::value::format_timestamp_ms(T0_MS + i as i64 * 60_000),
                format!("{:.4}", score.sample(&mut rng)),
            ]
        })
        .collect()
}

fn write(path: &Path, header: &[&str], rows: &[Vec<String>]) {
    let mut s = header.join(",");
    s.push('\n');
    for r in rows {
        s.push_str(&r.join(","));
        s.push('\n');
    }
    std::fs::write(path, s).unwrap();
}

/// "Now" at the end of a sample: its last timestamp plus a minute.
fn options() -> CheckOptions {
    CheckOptions {
        now_ms: T0_MS + N as i64 * 60_000,
        ..CheckOptions::default()
    }
}

struct Fixture {
    dir: tempfile::TempDir,
    schema: Schema,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let reference = dir.path().join("reference.csv");
    write(&reference, &HEADER, &sample(1, N));
    let schema = infer_file(&reference, &InferOptions::default(), None).unwrap();
    // The schema survives a TOML round trip unchanged.
    let text = schema.to_toml().unwrap();
    assert_eq!(Schema::from_toml(&text).unwrap(), schema, "{text}");
    Fixture { dir, schema }
}

fn check(f: &Fixture, header: &[&str], rows: &[Vec<String>]) -> Report {
    let path = f.dir.path().join("batch.csv");
    write(&path, header, rows);
    check_file(&f.schema, &path, &options(), None, None).unwrap()
}

/// The failed expectations as (column, kind, unexpected count, example rows).
fn failures(r: &Report) -> Vec<(String, AnomalyKind, u64, Vec<u64>)> {
    r.anomalies()
        .map(|a| {
            (
                a.column.clone().unwrap_or_default(),
                a.kind,
                a.unexpected_count,
                a.examples.iter().map(|e| e.row).collect(),
            )
        })
        .collect()
}

fn col(name: &str) -> usize {
    HEADER.iter().position(|h| *h == name).unwrap()
}

#[test]
fn the_inferred_schema_says_what_a_reader_expects() {
    let f = fixture();
    let c = &f.schema.columns;
    use mlops_validate::DataType::*;
    let types: Vec<_> = HEADER.iter().map(|h| c[*h].data_type).collect();
    assert_eq!(
        types,
        [Int, Int, Float, String, String, String, Timestamp, Float]
    );
    assert!(
        c["id"].unique.is_some() && c["id"].range.is_none(),
        "an id has no range"
    );
    assert!(c["email"].unique.is_some());
    assert_eq!(
        c["email"].regex.as_ref().unwrap().pattern,
        mlops_validate::infer::EMAIL_PATTERN
    );
    assert_eq!(
        c["code"].regex.as_ref().unwrap().pattern,
        r"^[A-Z]{2}\-[0-9]{4}$"
    );
    assert_eq!(
        c["city"].domain.as_ref().unwrap().values,
        ["Kyoto", "Nagoya", "Osaka", "Tokyo"]
    );
    assert!(c["price"].non_negative.is_some() && c["score"].non_negative.is_none());
    // age: ~2 % missing observed, so at most ~4 % allowed; the others may not be missing.
    let age_mostly = c["age"].not_null.unwrap().tolerance.mostly;
    assert!((0.95..0.97).contains(&age_mostly), "{age_mostly}");
    assert_eq!(c["price"].not_null.unwrap().tolerance.mostly, 1.0);
    assert_eq!(c["ts"].freshness.as_ref().unwrap().max_age, "4d");
    assert!(c["ts"].monotonic.is_some());
    assert_eq!(f.schema.table.min_rows, Some(2_500));
    assert_eq!(f.schema.table.required_columns.len(), HEADER.len());
}

#[test]
fn each_injected_fault_is_found_with_its_count_and_rows() {
    let f = fixture();
    let clean = sample(2, N);
    assert!(failures(&check(&f, &HEADER, &clean)).is_empty());

    // Nulls where none are allowed: rows 5, 77 and 4000 (1-based) lose their price.
    let mut rows = clean.clone();
    for r in [5, 77, 4000] {
        rows[r - 1][col("price")] = String::new();
    }
    rows[9][col("price")] = "NULL".into();
    assert_eq!(
        failures(&check(&f, &HEADER, &rows)),
        [(
            "price".into(),
            AnomalyKind::MissingValues,
            4,
            vec![5, 10, 77, 4000]
        )]
    );

    // Out of range: a negative price at 3 rows fails the hard bound; a huge one at 8 rows
    // (0.16 % > 0.1 %) fails the statistical range, which also counts the negatives.
    let mut rows = clean.clone();
    for r in [12, 13, 2500] {
        rows[r - 1][col("price")] = "-4.5".into();
    }
    for r in 100..108 {
        rows[r - 1][col("price")] = "1e6".into();
    }
    assert_eq!(
        failures(&check(&f, &HEADER, &rows)),
        [
            (
                "price".into(),
                AnomalyKind::OutOfRange,
                11,
                vec![12, 13, 100, 101, 102]
            ),
            ("price".into(), AnomalyKind::Negative, 3, vec![12, 13, 2500]),
        ]
    );

    // A new category.
    let mut rows = clean.clone();
    for r in [40, 41] {
        rows[r - 1][col("city")] = "Sapporo".into();
    }
    rows[4999][col("city")] = "札幌".into();
    let report = check(&f, &HEADER, &rows);
    assert_eq!(
        failures(&report),
        [(
            "city".into(),
            AnomalyKind::UnknownCategory,
            3,
            vec![40, 41, 5000]
        )]
    );
    let a = report.anomalies().next().unwrap();
    assert_eq!(a.examples[2].value, "札幌");
    assert!(a.observed.contains("\"Sapporo\"×2"), "{}", a.observed);

    // Duplicated ids: row 3's id reappears at rows 10 and 900; every occurrence counts (GE).
    let mut rows = clean.clone();
    let dup = rows[2][col("id")].clone();
    rows[9][col("id")] = dup.clone();
    rows[899][col("id")] = dup;
    assert_eq!(
        failures(&check(&f, &HEADER, &rows)),
        [("id".into(), AnomalyKind::NotUnique, 3, vec![3, 10, 900])]
    );

    // A type change: ages written as words.
    let mut rows = clean.clone();
    for r in [1, 2, 3000] {
        rows[r - 1][col("age")] = "forty".into();
    }
    let report = check(&f, &HEADER, &rows);
    assert_eq!(
        failures(&report),
        [("age".into(), AnomalyKind::TypeMismatch, 3, vec![1, 2, 3000])]
    );
    assert_eq!(report.columns["age"].type_mismatch, 3);

    // A missing column and an extra one.
    let without: Vec<&str> = HEADER.iter().copied().filter(|h| *h != "email").collect();
    let mut rows = clean.clone();
    for r in &mut rows {
        r.remove(col("email"));
        r.push("x".into());
    }
    let mut header = without.clone();
    header.push("debug");
    let report = check(&f, &header, &rows);
    assert_eq!(
        failures(&report),
        [
            ("email".into(), AnomalyKind::MissingColumn, 1, vec![]),
            ("debug".into(), AnomalyKind::ExtraColumn, 1, vec![]),
        ]
    );
    assert_eq!(report.worst(), Some(Severity::Error));
    let extra = report.anomalies().nth(1).unwrap();
    assert_eq!(extra.severity, Severity::Warning);

    // Stale timestamps (a replayed old batch): also a decrease, which is a warning.
    let mut rows = clean.clone();
    for r in [300, 301] {
        rows[r - 1][col("ts")] = "2026-10-01T00:00:00Z".into();
    }
    let report = check(&f, &HEADER, &rows);
    assert_eq!(
        failures(&report),
        [
            ("ts".into(), AnomalyKind::Stale, 2, vec![300, 301]),
            ("ts".into(), AnomalyKind::NotMonotonic, 1, vec![300]),
        ]
    );
    assert!(report.fails(Severity::Error));

    // A row-count collapse.
    let report = check(&f, &HEADER, &clean[..100]);
    assert_eq!(
        failures(&report),
        [("".into(), AnomalyKind::RowCount, 1, vec![])]
    );
    assert_eq!(report.anomalies().next().unwrap().observed, "100 rows");
}

#[test]
fn fresh_samples_raise_no_error_and_few_warnings() {
    let f = fixture();
    let samples = 40;
    let mut with_warnings = 0;
    let mut kinds = BTreeSet::new();
    for seed in 100..100 + samples {
        let report = check(&f, &HEADER, &sample(seed, N));
        let (errors, warnings) = report.counts();
        assert_eq!(errors, 0, "seed {seed}: {}", report.to_text());
        if warnings > 0 {
            with_warnings += 1;
            kinds.extend(report.anomalies().map(|a| a.kind.as_str()));
        }
    }
    eprintln!(
        "fresh samples: {samples} × {N} rows, 0 errors, {with_warnings} with warnings ({:.1} %), kinds {kinds:?}",
        100.0 * with_warnings as f64 / samples as f64
    );
    assert!(
        with_warnings * 10 <= samples,
        "{with_warnings}/{samples} warned: {kinds:?}"
    );
}

#[test]
fn malformed_files_are_typed_errors_naming_row_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let schema = Schema::default();
    let run = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        check_file(&schema, &p, &CheckOptions::default(), None, None)
    };
    match run("short.csv", b"a,b,c\n1,2,3\n4,5\n") {
        Err(Error::Malformed {
            row,
            column,
            reason,
            ..
        }) => {
            assert_eq!((row, column.as_deref()), (2, Some("c")), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    match run("long.csv", b"a,b\n1,2\n1,2\n1,2,3\n") {
        Err(Error::Malformed { row: 3, .. }) => {}
        other => panic!("{other:?}"),
    }
    match run("utf8.csv", b"a,city\n1,Tokyo\n2,Osaka\n3,\xff\xfe\n") {
        Err(Error::Malformed { row, column, .. }) => {
            assert_eq!((row, column.as_deref()), (3, Some("city")));
        }
        other => panic!("{other:?}"),
    }
    match run("empty.csv", b"") {
        Err(Error::Malformed { row: 0, .. }) => {}
        other => panic!("{other:?}"),
    }
    match run("dup.csv", b"a,a\n1,2\n") {
        Err(Error::Malformed { column, .. }) => assert_eq!(column.as_deref(), Some("a")),
        other => panic!("{other:?}"),
    }
    let missing = check_file(
        &schema,
        &dir.path().join("nope.csv"),
        &CheckOptions::default(),
        None,
        None,
    );
    assert!(matches!(missing, Err(Error::Io { .. })), "{missing:?}");
    // A header without rows is not an error: 0 rows, checked like any batch.
    let r = run("header.csv", b"a,b\n").unwrap();
    assert_eq!(r.rows, 0);
}

#[test]
fn bad_schemas_are_refused_naming_the_key() {
    let bad = |text: &str| match Schema::from_toml(text) {
        Err(Error::Schema { at, reason }) => format!("{} {reason}", at.unwrap_or_default()),
        other => panic!("{other:?}"),
    };
    let base = "version = 1\n[columns.x]\ntype = \"float\"\n";
    assert!(
        bad(&format!("{base}range = {{ min = 1.0, mostly = 1.5 }}\n"))
            .starts_with("columns.x.range")
    );
    assert!(bad(&format!("{base}range = {{ min = 3.0, max = 1.0 }}\n")).contains("min 3 > max 1"));
    assert!(bad(&format!("{base}regex = {{ pattern = \"(\" }}\n")).starts_with("columns.x.regex"));
    assert!(bad(&format!("{base}freshness = {{ max_age = \"3d\" }}\n"))
        .contains("timestamp columns only"));
    assert!(bad(&format!("{base}colour = \"red\"\n")).contains("colour"));
    assert!(bad("version = 2\n").contains("version 2"));
    assert!(bad(&format!("{base}not_null = {{ mostly = -0.1 }}\n")).contains("outside [0, 1]"));
}

#[test]
fn edge_cells_nan_inf_unicode_and_one_row() {
    let dir = tempfile::tempdir().unwrap();
    let reference = dir.path().join("ref.csv");
    std::fs::write(&reference, "x,name\n1.5,Ａ\n2.5,Ｂ\n2.0,Ａ\n2.25,Ｂ\n").unwrap();
    let schema = infer_file(&reference, &InferOptions::default(), None).unwrap();
    assert_eq!(
        schema.columns["name"].domain.as_ref().unwrap().values,
        ["Ａ", "Ｂ"]
    );
    let batch = dir.path().join("b.csv");
    // NaN is missing (pandas' NA strings); inf parses as a float and is out of range.
    std::fs::write(&batch, "x,name\nNaN,Ａ\ninf,Ｂ\n-inf,Ｃ\n").unwrap();
    let r = check_file(&schema, &batch, &CheckOptions::default(), None, None).unwrap();
    assert_eq!(
        failures(&r),
        [
            ("name".into(), AnomalyKind::UnknownCategory, 1, vec![3]),
            ("x".into(), AnomalyKind::MissingValues, 1, vec![1]),
            ("x".into(), AnomalyKind::OutOfRange, 2, vec![2, 3]),
            ("x".into(), AnomalyKind::Negative, 1, vec![3]),
        ]
    );
    // One-row reference: a constant range.
    std::fs::write(&reference, "x\n7\n").unwrap();
    let schema = infer_file(&reference, &InferOptions::default(), None).unwrap();
    let r = schema.columns["x"].range.as_ref().unwrap();
    assert_eq!(
        (r.min.clone(), r.max.clone()),
        (
            Some(mlops_validate::schema::Bound::Number(7.0)),
            Some(mlops_validate::schema::Bound::Number(7.0))
        )
    );
}

/// A type error in row 3,000,001 is an anomaly with its row number, not a crash.
#[test]
fn a_type_error_deep_in_a_big_file_has_its_row_number() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.csv");
    let mut text = String::with_capacity(40_000_000);
    text.push_str("id,x\n");
    for i in 1..=3_000_100u64 {
        if i == 3_000_001 {
            text.push_str("3000001,oops\n");
        } else {
            let _ = writeln!(text, "{i},{}", i % 1000);
        }
    }
    std::fs::write(&path, text).unwrap();
    let schema = Schema::from_toml(
        "version = 1\n[columns.id]\ntype = \"int\"\nunique = {}\n[columns.x]\ntype = \"int\"\nrange = { min = 0, max = 999 }\n",
    )
    .unwrap();
    let r = check_file(&schema, &path, &CheckOptions::default(), None, None).unwrap();
    assert_eq!(r.rows, 3_000_100);
    assert_eq!(
        failures(&r),
        [("x".into(), AnomalyKind::TypeMismatch, 1, vec![3_000_001])]
    );
    assert_eq!(r.anomalies().next().unwrap().examples[0].value, "oops");
}

/// Parquet input reads like CSV: nulls are missing cells, row numbers are the same.
#[cfg(feature = "parquet")]
#[test]
fn parquet_batches_are_checked_like_csv() {
    use mlops_drift::io::{write_parquet, Column, Table};
    let f = fixture();
    let rows = sample(3, N);
    let mut columns = Vec::new();
    for (k, h) in HEADER.iter().enumerate() {
        let cells: Vec<&str> = rows.iter().map(|r| r[k].as_str()).collect();
        let col = if matches!(*h, "price" | "score") {
            Column::Numeric(
                cells
                    .iter()
                    .enumerate()
                    .map(|(i, c)| if i == 41 { -1.0 } else { c.parse().unwrap() })
                    .collect(),
            )
        } else {
            Column::Categorical(
                cells
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        if *h == "city" && i == 6 {
                            None
                        } else {
                            (!c.is_empty()).then(|| c.to_string())
                        }
                    })
                    .collect(),
            )
        };
        columns.push((h.to_string(), col));
    }
    let path = f.dir.path().join("batch.parquet");
    write_parquet(&path, &Table { columns }).unwrap();
    let r = check_file(&f.schema, &path, &options(), None, None).unwrap();
    assert_eq!(r.rows, N as u64);
    assert_eq!(
        failures(&r),
        [
            ("city".into(), AnomalyKind::MissingValues, 1, vec![7]),
            ("price".into(), AnomalyKind::Negative, 1, vec![42]),
        ]
    );
}

/// Skew against the reference's profile on fresh samples stays under the default thresholds;
/// a shifted sample crosses them.
#[test]
fn skew_of_fresh_and_shifted_samples() {
    use mlops_drift::io::{read_table, ColumnKind, ReadOptions};
    use mlops_drift::{ProfileConfig, ReferenceProfile};
    let f = fixture();
    let reference = f.dir.path().join("reference.csv");
    let opts = ReadOptions::default()
        .with_columns(["price", "score", "city"])
        .with_kind("city", ColumnKind::Categorical);
    let profile = ReferenceProfile::fit_table(
        &read_table(&reference, &opts).unwrap(),
        ProfileConfig::default(),
    )
    .unwrap();
    let path = f.dir.path().join("batch.csv");
    let mut worst: f64 = 0.0;
    for seed in 200..210 {
        write(&path, &HEADER, &sample(seed, N));
        let r = check_file(&f.schema, &path, &options(), Some(&profile), None).unwrap();
        let skews: Vec<_> = r
            .outcomes
            .iter()
            .filter(|a| a.kind == AnomalyKind::Skew)
            .collect();
        assert_eq!(skews.len(), 3);
        assert!(skews.iter().all(|a| a.success), "{}", r.to_text());
        for a in skews {
            let v: f64 = a.observed.rsplit(' ').next().unwrap().parse().unwrap();
            worst = worst.max(v);
        }
    }
    eprintln!("fresh samples: worst skew statistic {worst:.4} (threshold 0.1)");
    // Shift score by one standard deviation: JS distance on the reference's deciles > 0.1.
    let mut rows = sample(300, N);
    for r in &mut rows {
        let v: f64 = r[col("score")].parse().unwrap();
        r[col("score")] = format!("{:.4}", v + 1.0);
    }
    write(&path, &HEADER, &rows);
    let r = check_file(&f.schema, &path, &options(), Some(&profile), None).unwrap();
    let a = r.anomalies().next().unwrap();
    assert_eq!(
        (a.column.as_deref(), a.kind),
        (Some("score"), AnomalyKind::Skew)
    );
    assert_eq!(a.severity, Severity::Warning);
}
