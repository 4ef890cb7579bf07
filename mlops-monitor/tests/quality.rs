//! Per-window data quality (`quality.*`) of the logged inputs against an `mlops-validate`
//! schema: exact rates for injected faults, no values without a schema, alert rules on them.
//!
//! The expected values are counts of the faults each test injects (k missing cells of n, …),
//! written out by hand; nothing is computed with the code under test.

use std::collections::BTreeMap;

use mlops_monitor::alert::{AlertEngine, AlertState, RuleSet};
use mlops_monitor::report::{build_report, ReportConfig};
use mlops_monitor::values::{is_known_metric, WindowKey};
use mlops_monitor::window::{FinalizeContext, Finalized, WindowSpec, WindowState};
use mlops_monitor::{Error, LoggedPrediction, Value};
use mlops_validate::Schema;

const BASE: i64 = 1_764_547_200_000; // 2025-12-01T00:00:00Z
const HOUR: i64 = 3_600_000;
const N: usize = 20;

const SCHEMA: &str = r#"
version = 1

[table]
required_columns = ["age", "city", "income"]
extra_columns = "warning"

[columns.age]
type = "float"
not_null = { mostly = 0.5 }
range = { min = 0.0, max = 120.0 }

[columns.city]
type = "string"
domain = { values = ["Osaka", "Tōkyō"], severity = "warning" }

[columns.n]
type = "int"
range = { min = 0, max = 10 }

[columns.flag]
type = "bool"

[columns.income]
type = "float"
"#;

fn schema() -> Schema {
    Schema::from_toml(SCHEMA).unwrap()
}

fn key() -> WindowKey {
    WindowKey {
        model: "m".into(),
        version: 1,
        arm: "stable".into(),
        segment: None,
    }
}

fn pred(i: usize, ts: i64, features: Vec<(&str, Value)>) -> LoggedPrediction {
    LoggedPrediction {
        id: format!("r{i}"),
        timestamp_ms: ts,
        model: "m".into(),
        version: 1,
        arm: "stable".into(),
        features: features
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
        prediction: Some(Value::Num(1.0)),
        scores: vec![0.3, 0.7],
        segments: vec![],
        kpis: vec![],
        latency_s: None,
        error: None,
    }
}

/// A clean row: every value valid (`n` an integer logged as a float, `flag` a JSON boolean
/// logged as 1/0), plus the extra column `note`.
fn clean(i: usize) -> Vec<(&'static str, Value)> {
    vec![
        ("age", Value::Num(20.0 + i as f64 + 0.5)),
        (
            "city",
            Value::Str(if i % 2 == 0 { "Osaka" } else { "Tōkyō" }.into()),
        ),
        ("n", Value::Num((i % 10) as f64)),
        ("flag", Value::Num((i % 2) as f64)),
        ("note", Value::Str("x".into())),
    ]
}

fn set(row: &mut Vec<(&'static str, Value)>, name: &str, v: Option<Value>) {
    let at = row.iter().position(|(k, _)| *k == name).unwrap();
    match v {
        Some(v) => row[at].1 = v,
        None => {
            row.remove(at);
        }
    }
}

/// 20 rows with faults in distinct rows:
/// - `age` missing in 3 rows (rows 0 and 1 do not log it, row 2 logs NaN), out of range in
///   2 (rows 3, 4: −5 and 150);
/// - `city` unknown in row 5 (`"Kyoto"`), missing in row 9 (no `not_null`: not unexpected);
/// - `n` not a number in row 6 (`"abc"`), out of range in row 7 (11).
fn faulty_rows() -> Vec<LoggedPrediction> {
    (0..N)
        .map(|i| {
            let mut r = clean(i);
            match i {
                0 | 1 => set(&mut r, "age", None),
                2 => set(&mut r, "age", Some(Value::Num(f64::NAN))),
                3 => set(&mut r, "age", Some(Value::Num(-5.0))),
                4 => set(&mut r, "age", Some(Value::Num(150.0))),
                5 => set(&mut r, "city", Some(Value::Str("Kyoto".into()))),
                6 => set(&mut r, "n", Some(Value::Str("abc".into()))),
                7 => set(&mut r, "n", Some(Value::Num(11.0))),
                9 => set(&mut r, "city", None),
                _ => {}
            }
            pred(i, BASE + i as i64 * 1000, r)
        })
        .collect()
}

fn window(rows: &[LoggedPrediction]) -> WindowState {
    let mut w = WindowState::new(key(), BASE, BASE + HOUR);
    for p in rows {
        w.push(p, None).unwrap();
    }
    w
}

fn finalize(w: &WindowState, schema: Option<&Schema>) -> Finalized {
    let ctx = FinalizeContext {
        schema,
        ..FinalizeContext::default()
    };
    w.finalize(&ctx).unwrap()
}

fn quality(f: &Finalized) -> BTreeMap<String, f64> {
    f.values
        .values
        .iter()
        .filter(|(k, _)| k.starts_with("quality."))
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}

#[test]
fn injected_faults_give_exact_rates() {
    let s = schema();
    let f = finalize(&window(&faulty_rows()), Some(&s));
    let q = quality(&f);
    let n = N as f64;
    let expected: BTreeMap<String, f64> = [
        ("quality.age.missing_rate", 3.0 / n),
        ("quality.age.type_error_rate", 0.0),
        ("quality.age.out_of_range_rate", 2.0 / 17.0),
        ("quality.city.missing_rate", 1.0 / n),
        ("quality.city.type_error_rate", 0.0),
        ("quality.city.unknown_rate", 1.0 / 19.0),
        ("quality.n.missing_rate", 0.0),
        // The non-numeric cell is a non-missing cell of the wrong type.
        ("quality.n.type_error_rate", 1.0 / n),
        ("quality.n.out_of_range_rate", 1.0 / n),
        ("quality.flag.missing_rate", 0.0),
        ("quality.flag.type_error_rate", 0.0),
        // 4 missing cells over 4 logged schema columns × 20 rows (`income` is never logged).
        ("quality.missing_rate", 4.0 / 80.0),
        // age 2 of 17, n 1 of 20.
        ("quality.out_of_range_rate", 3.0 / 37.0),
        ("quality.unknown_rate", 1.0 / 19.0),
        // Rows 0–7 (age 0–4, city 5, n 6–7); row 9's missing city is allowed.
        ("quality.violation_rate", 8.0 / n),
        // age range, n type, n range, income absent; city domain (warning) and the extra
        // column `note` (warning). age's not_null holds (3/20 missing, mostly 0.5).
        ("quality.errors", 4.0),
        ("quality.warnings", 2.0),
        ("quality.missing_columns", 1.0),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(q, expected);
    for name in expected.keys() {
        assert!(is_known_metric(name), "{name}");
    }
}

#[test]
fn no_schema_no_quality_values() {
    let f = finalize(&window(&faulty_rows()), None);
    assert!(quality(&f).is_empty(), "{:?}", f.values.values);
    assert!(f.skipped.keys().all(|k| !k.starts_with("quality")));
    // The rest of the window is there.
    assert_eq!(f.values.values["n_predictions"], N as f64);
}

#[test]
fn clean_window_has_zero_rates() {
    let rows: Vec<_> = (0..N).map(|i| pred(i, BASE + i as i64, clean(i))).collect();
    let s = schema();
    let q = quality(&finalize(&window(&rows), Some(&s)));
    for name in [
        "quality.missing_rate",
        "quality.out_of_range_rate",
        "quality.unknown_rate",
        "quality.violation_rate",
        "quality.age.missing_rate",
        "quality.n.type_error_rate",
    ] {
        assert_eq!(q[name], 0.0, "{name}");
    }
    // Still: `income` is absent (one error) and `note` is extra (one warning).
    assert_eq!(q["quality.errors"], 1.0);
    assert_eq!(q["quality.warnings"], 1.0);
    assert_eq!(q["quality.missing_columns"], 1.0);
}

#[test]
fn a_column_with_only_missing_cells_has_no_non_missing_rates() {
    let rows: Vec<_> = (0..4)
        .map(|i| {
            let mut r = clean(i);
            set(&mut r, "n", Some(Value::Num(f64::INFINITY)));
            pred(i, BASE + i as i64, r)
        })
        .collect();
    let s = schema();
    let f = finalize(&window(&rows), Some(&s));
    let q = quality(&f);
    assert_eq!(q["quality.n.missing_rate"], 1.0);
    assert!(!q.contains_key("quality.n.type_error_rate"));
    assert!(!q.contains_key("quality.n.out_of_range_rate"));
    assert!(f.skipped.contains_key("quality.n.out_of_range_rate"));
    // 4 of 16 cells; the window's out-of-range rate is over age's 4 cells only.
    assert_eq!(q["quality.missing_rate"], 0.25);
    assert_eq!(q["quality.out_of_range_rate"], 0.0);
}

#[test]
fn empty_window_has_no_quality_values() {
    let s = schema();
    let f = finalize(&WindowState::new(key(), BASE, BASE + HOUR), Some(&s));
    assert!(quality(&f).is_empty());
    assert!(f.skipped.contains_key("quality"));
}

#[test]
fn invalid_schema_is_an_error() {
    let mut s = schema();
    if let Some(c) = s.columns.get_mut("age") {
        c.type_mostly = 2.0;
    }
    let ctx = FinalizeContext {
        schema: Some(&s),
        ..FinalizeContext::default()
    };
    match window(&faulty_rows()).finalize(&ctx) {
        Err(Error::InvalidInput { what, reason }) => {
            assert_eq!(what, "schema");
            assert!(reason.contains("type_mostly"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_schema_without_the_empty_null_still_reads_absent_cells_as_missing() {
    let text = SCHEMA.replace(
        "extra_columns = \"warning\"",
        "extra_columns = \"warning\"\nnull_values = [\"NA\"]",
    );
    let s = Schema::from_toml(&text).unwrap();
    let q = quality(&finalize(&window(&faulty_rows()), Some(&s)));
    assert_eq!(q["quality.age.missing_rate"], 3.0 / N as f64);
    assert_eq!(q["quality.age.type_error_rate"], 0.0);
}

#[test]
fn freshness_is_judged_at_the_window_end() {
    let text = r#"
version = 1
[columns.ts]
type = "timestamp"
freshness = { max_age = "30m" }
"#;
    let s = Schema::from_toml(text).unwrap();
    // Logged at 00:10Z: 50 minutes old at the end of [00:00, 01:00), 20 at the end of
    // [00:00, 00:30).
    let rows = vec![pred(
        0,
        BASE,
        vec![("ts", Value::Str("2025-12-01T00:10:00Z".into()))],
    )];
    let mut w = window(&rows);
    assert_eq!(quality(&finalize(&w, Some(&s)))["quality.errors"], 1.0);
    w.end_ms = BASE + HOUR / 2;
    assert_eq!(quality(&finalize(&w, Some(&s)))["quality.errors"], 0.0);
}

#[test]
fn unicode_and_dotted_column_names() {
    let text = r#"
version = 1
[columns."prix_€"]
type = "float"
range = { min = 0.0 }
[columns."user.age"]
type = "int"
"#;
    let s = Schema::from_toml(text).unwrap();
    let rows: Vec<_> = [(-1.0, 30.0), (2.0, 31.5), (3.0, 40.0), (4.0, 41.0)]
        .iter()
        .enumerate()
        .map(|(i, &(p, a))| {
            pred(
                i,
                BASE + i as i64,
                vec![("prix_€", Value::Num(p)), ("user.age", Value::Num(a))],
            )
        })
        .collect();
    let q = quality(&finalize(&window(&rows), Some(&s)));
    assert_eq!(q["quality.prix_€.out_of_range_rate"], 0.25);
    // 31.5 is not an integer.
    assert_eq!(q["quality.user.age.type_error_rate"], 0.25);
    let rule = "[[rule]]\nname = \"r\"\nmetric = \"quality.user.age.type_error_rate\"\n\
                condition = { above = 0.1 }\n";
    RuleSet::parse(rule, "rules.toml").unwrap();
    assert!(is_known_metric("quality.prix_€.out_of_range_rate"));
}

const MISSING_RULE: &str = r#"
[[rule]]
name = "inputs_missing"
metric = "quality.missing_rate"
condition = { above = 0.1 }
for = 1

[[rule]]
name = "age_missing"
metric = "quality.age.missing_rate"
condition = { above = 0.4 }
"#;

#[test]
fn rules_accept_quality_metrics() {
    RuleSet::parse(MISSING_RULE, "rules.toml").unwrap();
    for bad in [
        "quality.age.missing",
        "quality.type_error_rate",
        "quality..missing_rate",
    ] {
        let text =
            format!("[[rule]]\nname = \"r\"\nmetric = \"{bad}\"\ncondition = {{ above = 0.1 }}\n");
        let e = RuleSet::parse(&text, "rules.toml").unwrap_err();
        assert!(e.to_string().contains("unknown metric"), "{bad}: {e}");
    }
}

#[test]
fn missing_rate_rule_fires_on_the_bad_window_only() {
    // Hour 0 clean; hour 1 with `age` missing in 10 of 20 rows: 10 / 80 = 0.125 > 0.1.
    let mut rows: Vec<_> = (0..N)
        .map(|i| pred(i, BASE + i as i64 * 1000, clean(i)))
        .collect();
    rows.extend((0..N).map(|i| {
        let mut r = clean(i);
        if i % 2 == 0 {
            set(&mut r, "age", None);
        }
        pred(100 + i, BASE + HOUR + i as i64 * 1000, r)
    }));
    let s = schema();
    let mut cfg = ReportConfig::new(WindowSpec::parse("1h").unwrap());
    cfg.schema = Some(&s);
    let report = build_report(rows, &|_| None, &cfg).unwrap();
    assert_eq!(report.windows.len(), 2);
    assert_eq!(report.windows[0].quality["quality.missing_rate"], 0.0);
    assert_eq!(report.windows[1].quality["quality.missing_rate"], 0.125);
    assert_eq!(report.windows[1].quality["quality.age.missing_rate"], 0.5);
    let values = report.values();
    assert_eq!(values[1].values["quality.missing_rate"], 0.125);

    let now = BASE + 10 * HOUR;
    let dir = tempfile::tempdir().unwrap();
    let rules = || RuleSet::parse(MISSING_RULE, "rules.toml").unwrap();

    // The clean window alone: nothing fires.
    let mut engine = AlertEngine::open(rules(), dir.path().join("clean.json")).unwrap();
    let events = engine.evaluate(&values[..1], &[], now).unwrap();
    assert!(events.is_empty(), "{events:?}");
    assert!(engine.firing().is_empty());

    // Clean then bad: both rules fire on the bad window.
    let mut engine = AlertEngine::open(rules(), dir.path().join("bad.json")).unwrap();
    engine.evaluate(&values, &[], now).unwrap();
    let firing = engine.firing();
    let mut names: Vec<&str> = firing.iter().map(|a| a.rule.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["age_missing", "inputs_missing"]);
    assert!(firing.iter().all(|a| a.state == AlertState::Firing));
    let a = firing.iter().find(|a| a.rule == "inputs_missing").unwrap();
    assert_eq!(a.value, 0.125);
}

/// Cost of the quality pass: `cargo test -p mlops-monitor --test quality -- --ignored
/// --nocapture quality_timing`.
#[test]
#[ignore = "timing, run by hand"]
fn quality_timing() {
    let rows: Vec<_> = (0..100_000)
        .map(|i| pred(i, BASE + i as i64 % HOUR, clean(i)))
        .collect();
    let w = window(&rows);
    let s = schema();
    let time = |schema: Option<&Schema>| {
        let t = std::time::Instant::now();
        for _ in 0..5 {
            finalize(&w, schema);
        }
        t.elapsed().as_secs_f64() / 5.0
    };
    let (without, with) = (time(None), time(Some(&s)));
    println!(
        "100k rows × 5 input columns: finalize {:.1} ms without a schema, {:.1} ms with \
         (quality pass {:.1} ms)",
        without * 1e3,
        with * 1e3,
        (with - without) * 1e3
    );
}
