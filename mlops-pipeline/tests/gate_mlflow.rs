//! The gate's verdicts against MLflow's own validation code.
//!
//! `tests/data/gate_mlflow_cases.json` is written by `tools/reference/gate_reference.py`
//! (mlflow-skinny 2.17.2 and 3.18.0, numpy 1.26.4; install lines in its header). Each case
//! records the exact MLflow call (`mlflow.<version>.call`), MLflow's verdict in both versions,
//! our documented verdict (`ours`, written by hand in the script) and the MLflow versions we
//! deliberately differ from (`differs_from`, with `why`). This test checks that
//! 1. our `check` gives `ours` for every case, and
//! 2. MLflow's verdict equals `ours` exactly for the versions not in `differs_from`, and differs
//!    for those in it, so the table proves agreement and the documented differences alike.

use std::collections::BTreeMap;

use mlops_pipeline::gate::{percentile, Criterion, MetricThreshold, Status};
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Deserialize)]
struct Fixture {
    versions: Value,
    cases: Vec<Case>,
    spec_cases: Vec<SpecCase>,
    percentiles: Vec<PercentileCase>,
}

#[derive(Debug, Deserialize)]
struct PercentileCase {
    values: Vec<f64>,
    q: f64,
    expected: f64,
    call: String,
}

#[derive(Debug, Deserialize)]
struct Verdict {
    passed: bool,
    failed: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct MlflowVerdict {
    call: String,
    passed: Option<bool>,
    failed: Vec<String>,
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Case {
    name: String,
    spec: MetricThreshold,
    candidate: Value,
    baseline: Value,
    ours: Verdict,
    differs_from: Vec<String>,
    why: Option<String>,
    mlflow: BTreeMap<String, MlflowVerdict>,
}

#[derive(Debug, Deserialize)]
struct SpecCase {
    name: String,
    spec: Value,
    ours_ok: bool,
    differs_from: Vec<String>,
    mlflow: BTreeMap<String, SpecVerdict>,
}

#[derive(Debug, Deserialize)]
struct SpecVerdict {
    ok: bool,
    call: String,
}

fn num(v: &Value) -> f64 {
    match v {
        Value::Number(n) => n.as_f64().expect("f64"),
        Value::String(s) if s == "NaN" => f64::NAN,
        Value::String(s) if s == "inf" => f64::INFINITY,
        Value::String(s) if s == "-inf" => f64::NEG_INFINITY,
        other => panic!("not a number: {other}"),
    }
}

fn fixture() -> Fixture {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/gate_mlflow_cases.json"
    ))
    .expect("fixture (run tools/reference/gate_reference.py)");
    serde_json::from_str(&text).expect("fixture parses")
}

const VERSIONS: [&str; 2] = ["2.17.2", "3.18.0"];

#[test]
fn check_matches_mlflow_where_documented() {
    let f = fixture();
    println!("reference versions: {}", f.versions);
    assert!(f.cases.len() >= 30, "{} cases", f.cases.len());
    let mut agree = 0;
    for c in &f.cases {
        c.spec.validate(&c.name).expect("fixture specs are valid");
        let baseline = (!c.baseline.is_null()).then(|| num(&c.baseline));
        let r = c.spec.check("m", num(&c.candidate), baseline);
        let failed: Vec<String> = r
            .failures()
            .map(|o| o.criterion.name().to_owned())
            .collect();
        assert_eq!(
            (r.passed, &failed),
            (c.ours.passed, &c.ours.failed),
            "case {}: ours {:?}",
            c.name,
            r.criteria
        );
        // With a baseline, nothing is skipped; every failure explains itself.
        assert!(r.criteria.iter().all(|o| o.status != Status::Skipped));
        for o in r.failures() {
            assert!(o.message.starts_with("m: "), "{}", o.message);
        }
        for v in VERSIONS {
            let m = &c.mlflow[v];
            let same = m.error.is_none() && m.passed == Some(c.ours.passed) && m.failed == failed;
            let expect_same = !c.differs_from.iter().any(|d| d == v);
            assert_eq!(
                same, expect_same,
                "case {} vs mlflow {v} ({}): mlflow {:?}, ours {:?}; why: {:?}",
                c.name, m.call, m, c.ours, c.why
            );
            agree += usize::from(same);
        }
    }
    println!("{agree} of {} verdicts equal MLflow's", 2 * f.cases.len());
}

#[test]
fn negative_baselines_follow_mlflow_3_not_2() {
    let f = fixture();
    let neg: Vec<&Case> = f
        .cases
        .iter()
        .filter(|c| c.name.starts_with("neg_baseline_rel"))
        .collect();
    assert_eq!(neg.len(), 4);
    for c in neg {
        assert_eq!(c.differs_from, vec!["2.17.2".to_owned()], "{}", c.name);
        // MLflow 2.17.2 gets the direction backwards: its verdict is the opposite of ours.
        assert_eq!(
            c.mlflow["2.17.2"].passed,
            Some(!c.ours.passed),
            "{}",
            c.name
        );
        assert_eq!(c.mlflow["3.18.0"].passed, Some(c.ours.passed), "{}", c.name);
    }
}

#[test]
fn zero_baseline_relative_change_is_the_limit() {
    let gib = MetricThreshold::new(true).with_min_relative_change(0.05);
    let r = gib.check("r2", 0.1, Some(0.0));
    assert!(r.passed);
    assert_eq!(r.criteria[0].change, Some(f64::INFINITY));
    let r = gib.check("r2", 0.0, Some(0.0));
    assert!(!r.passed);
    assert_eq!(r.criteria[0].change, None);
    assert!(
        r.criteria[0].message.contains("relative change undefined"),
        "{}",
        r.criteria[0].message
    );
    let r = gib.check("r2", -0.1, Some(0.0));
    assert_eq!(r.criteria[0].change, Some(f64::NEG_INFINITY));
}

#[test]
fn nan_candidate_fails_every_criterion_with_a_reason() {
    let t = MetricThreshold::new(true)
        .with_threshold(0.5)
        .with_min_absolute_change(0.01)
        .with_min_relative_change(0.01);
    let r = t.check("roc_auc", f64::NAN, Some(0.8));
    assert!(!r.passed);
    assert_eq!(r.failures().count(), 3);
    assert_eq!(r.criteria[0].criterion, Criterion::Threshold);
    assert!(
        r.criteria[0].message.contains("candidate is NaN"),
        "{}",
        r.criteria[0].message
    );
    assert!(r.criteria[1].message.contains("cannot be checked"));
}

#[test]
fn spec_validation_matches_mlflow_constructor_where_documented() {
    let f = fixture();
    for s in &f.spec_cases {
        let spec: MetricThreshold = serde_json::from_value(s.spec.clone()).expect("spec parses");
        let ours = spec.validate(&format!("gate.metrics.{}", s.name));
        assert_eq!(ours.is_ok(), s.ours_ok, "{}: {ours:?}", s.name);
        if let Err(e) = ours {
            assert!(
                e.to_string().starts_with("invalid spec at gate.metrics."),
                "{e}"
            );
        }
        for v in VERSIONS {
            let m = &s.mlflow[v];
            let expect_same = !s.differs_from.iter().any(|d| d == v);
            assert_eq!(m.ok == s.ours_ok, expect_same, "{} ({})", s.name, m.call);
        }
    }
}

#[test]
fn percentile_equals_numpy_linear() {
    let f = fixture();
    assert!(f.percentiles.len() >= 30);
    for p in &f.percentiles {
        let got = percentile(&p.values, p.q).expect("valid input");
        // Evaluated as numpy's `_lerp` does, so equal to the last bit.
        assert!(
            got == p.expected,
            "{}: got {got}, numpy {}",
            p.call,
            p.expected
        );
    }
}
