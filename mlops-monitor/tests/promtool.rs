//! `deploy/prometheus/` checked and unit-tested with Prometheus's `promtool`, and the gauge
//! exporter's text linted by `promtool check metrics`.
//!
//! `promtool` comes from `MLOPS_PROMTOOL` (exported by `scripts/alertmanager.sh`, which
//! `./scripts/test.sh` sources and which installs the Debian package `prometheus`), else from
//! `PATH`. Missing, the tests fail saying so; `MLOPS_SKIP_PROMTOOL=1` skips them deliberately.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use mlops_monitor::export::render_gauges;
use mlops_monitor::values::{WindowKey, WindowValues};

fn promtool(test: &str) -> Option<PathBuf> {
    if let Ok(p) = std::env::var("MLOPS_PROMTOOL") {
        if !p.is_empty() {
            return Some(PathBuf::from(p));
        }
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("promtool"))
            .find(|p| p.is_file())
    });
    match on_path {
        Some(p) => Some(p),
        None if std::env::var("MLOPS_SKIP_PROMTOOL").is_ok_and(|v| v == "1") => {
            eprintln!("{test}: skipped: MLOPS_SKIP_PROMTOOL=1");
            None
        }
        None => panic!(
            "{test}: promtool not found (MLOPS_PROMTOOL unset, none on PATH): run ./scripts/test.sh \
             (it installs the Debian package `prometheus`); MLOPS_SKIP_PROMTOOL=1 skips this test"
        ),
    }
}

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/prometheus")
}

fn check(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn rules_pass_promtool_check_and_unit_tests() {
    let Some(promtool) = promtool("rules_pass_promtool_check_and_unit_tests") else {
        return;
    };
    let dir = deploy_dir();
    let out = Command::new(&promtool)
        .arg("check")
        .arg("rules")
        .arg(dir.join("mlops-rules.yml"))
        .output()
        .unwrap();
    check("promtool check rules", &out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("SUCCESS: 15 rules found"), "{text}");
    let out = Command::new(&promtool)
        .current_dir(&dir)
        .args(["test", "rules", "mlops-rules.test.yml"])
        .output()
        .unwrap();
    check("promtool test rules", &out);
}

#[test]
fn rules_use_the_metric_names_that_are_exported() {
    // Names the rules rely on: serve's families (as prometheus-client writes them) and the
    // exporter's (checked against render_gauges' output below).
    let rules = std::fs::read_to_string(deploy_dir().join("mlops-rules.yml")).unwrap();
    let serve = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../mlops-serve/src/metrics.rs"),
    )
    .unwrap();
    for (in_rules, registered) in [
        ("mlops_serve_requests_total", "\"requests\""),
        ("mlops_serve_request_errors_total", "\"request_errors\""),
        (
            "mlops_serve_request_duration_seconds_bucket",
            "\"request_duration_seconds\"",
        ),
        (
            "mlops_serve_prediction_log_dropped_total",
            "\"prediction_log_dropped\"",
        ),
        (
            "mlops_serve_prediction_log_queued_total",
            "\"prediction_log_queued\"",
        ),
    ] {
        assert!(rules.contains(in_rules), "{in_rules} not in the rules");
        assert!(
            serve.contains(registered),
            "{registered} not registered by mlops-serve"
        );
    }
    let mut out = String::new();
    render_gauges(&[sample_window()], &[], &mut out);
    for name in [
        "mlops_monitor_drift_share",
        "mlops_monitor_accuracy",
        "mlops_monitor_estimated",
        "mlops_monitor_label_coverage",
        "mlops_monitor_window_end_timestamp_seconds",
    ] {
        assert!(rules.contains(name), "{name} not in the rules");
        assert!(
            out.contains(&format!("# TYPE {name} gauge")),
            "{name} not exported:\n{out}"
        );
    }
}

#[test]
fn per_column_quality_values_are_one_family_with_a_column_label() {
    let mut out = String::new();
    render_gauges(&[sample_window()], &[], &mut out);
    for family in [
        "mlops_monitor_quality_column_missing_rate",
        "mlops_monitor_quality_column_out_of_range_rate",
        "mlops_monitor_quality_missing_rate",
        "mlops_monitor_quality_errors",
    ] {
        assert!(
            out.contains(&format!("# TYPE {family} gauge")),
            "{family}:\n{out}"
        );
    }
    assert!(out.contains("column=\"prix-€\""), "{out}");
    assert!(out.contains("column=\"a.b\""), "{out}");
    assert!(!out.contains("quality_prix"), "{out}");
}

fn sample_window() -> WindowValues {
    WindowValues {
        key: WindowKey {
            model: "churn".into(),
            version: 3,
            arm: "stable".into(),
            segment: Some(("country".into(), "Zürich \"CH\"\\".into())),
        },
        start_ms: 0,
        end_ms: 3_600_000,
        n_predictions: 1000,
        n_labelled: 400,
        values: [
            ("accuracy", 0.91),
            ("label_coverage", 0.4),
            ("drift_share", 0.25),
            ("drift.age.statistic", 0.12),
            ("drift.age.p_value", 0.03),
            ("estimated.roc_auc", 0.8),
            ("estimated.roc_auc.lower", 0.75),
            ("estimated.roc_auc.upper", 0.85),
            ("kpi.amount.sum", 1234.5),
            ("class.yes.recall", 0.7),
            ("latency_p99_s", 0.02),
            ("quality.prix-€.missing_rate", 0.1),
            ("quality.a.b.out_of_range_rate", 0.02),
            ("quality.missing_rate", 0.05),
            ("quality.errors", 1.0),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), *v))
        .collect(),
    }
}

#[test]
fn exported_gauges_pass_promtool_check_metrics() {
    let Some(promtool) = promtool("exported_gauges_pass_promtool_check_metrics") else {
        return;
    };
    let mut out = String::new();
    let mut whole = sample_window();
    whole.key.segment = None;
    render_gauges(&[sample_window(), whole], &[], &mut out);
    let mut child = Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(out.as_bytes())
        .unwrap();
    let res = child.wait_with_output().unwrap();
    check(&format!("promtool check metrics on\n{out}"), &res);
    // promtool prints lint findings and may still exit 0 for some: require none.
    assert!(
        res.stdout.is_empty() && res.stderr.is_empty(),
        "promtool check metrics found problems:\n{}{}\n{out}",
        String::from_utf8_lossy(&res.stdout),
        String::from_utf8_lossy(&res.stderr)
    );
}
