//! The Alertmanager sink against a real Prometheus Alertmanager (API v2).
//!
//! `./scripts/test.sh` sources `scripts/alertmanager.sh`, which starts Alertmanager on a
//! loopback port and exports `MLOPS_ALERTMANAGER_URL`. Without it this test fails, saying so;
//! set `MLOPS_SKIP_ALERTMANAGER=1` to skip it deliberately (a machine without Alertmanager).

use std::time::{Duration, Instant};

use mlops_monitor::alert::{AlertEngine, AlertSink, AlertState, AlertmanagerSink, RuleSet};
use mlops_monitor::values::{WindowKey, WindowValues};

/// Alertmanager's URL, or `None` (skip) when `MLOPS_SKIP_ALERTMANAGER=1`.
fn alertmanager_url(test: &str) -> Option<String> {
    match std::env::var("MLOPS_ALERTMANAGER_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("MLOPS_SKIP_ALERTMANAGER").is_ok_and(|v| v == "1") => {
            eprintln!("{test}: skipped: MLOPS_SKIP_ALERTMANAGER=1");
            None
        }
        _ => panic!(
            "{test}: MLOPS_ALERTMANAGER_URL is not set: run ./scripts/test.sh (or \
             `source scripts/alertmanager.sh` first); MLOPS_SKIP_ALERTMANAGER=1 skips this test"
        ),
    }
}

/// The alerts Alertmanager lists for `alertname`.
fn listed(url: &str, alertname: &str) -> Vec<serde_json::Value> {
    let mut resp = ureq::get(format!("{url}/api/v2/alerts"))
        .query("filter", format!("alertname=\"{alertname}\""))
        .call()
        .unwrap();
    let text = resp.body_mut().read_to_string().unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v.as_array().cloned().unwrap_or_default()
}

/// Polls until `pred` holds for the listed alerts (Alertmanager processes posts asynchronously).
fn wait_for(
    url: &str,
    alertname: &str,
    what: &str,
    pred: impl Fn(&[serde_json::Value]) -> bool,
) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = listed(url, alertname);
        if pred(&got) {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "Alertmanager never showed {what} for {alertname}: {got:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn window(key: &WindowKey, end_ms: i64, accuracy: f64) -> WindowValues {
    WindowValues {
        key: key.clone(),
        start_ms: end_ms - 60_000,
        end_ms,
        n_predictions: 500,
        n_labelled: 500,
        values: [("accuracy".to_owned(), accuracy)].into_iter().collect(),
    }
}

#[test]
fn alertmanager_receives_and_resolves_an_alert() {
    let Some(url) = alertmanager_url("alertmanager_receives_and_resolves_an_alert") else {
        return;
    };
    let name = format!(
        "mlops_test_{}_{}",
        std::process::id(),
        chrono::Utc::now().timestamp_micros()
    );
    let rules = RuleSet::parse(
        &format!(
            r#"
[[rule]]
name = "{name}"
metric = "accuracy"
condition = {{ below = 0.8 }}
for = 2
segment = "country"
severity = "critical"
labels = {{ team = "risk" }}
annotations = {{ summary = "accuracy below 0.8 (Zürich)" }}
"#
        ),
        "am.toml",
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut engine = AlertEngine::open(rules, dir.path().join("state.json")).unwrap();
    let sink = AlertmanagerSink::new(&url)
        .with_generator_url("http://127.0.0.1/mlops")
        .with_valid_for(Duration::from_secs(600))
        .with_retries(2, Duration::from_millis(100));
    let key = WindowKey {
        model: "churn".into(),
        version: 7,
        arm: "canary".into(),
        segment: Some(("country".into(), "FR".into())),
    };
    let now = chrono::Utc::now().timestamp_millis();

    // Pending: nothing reaches Alertmanager.
    let ev = engine
        .evaluate(&[window(&key, now - 180_000, 0.7)], &[], now)
        .unwrap();
    assert_eq!(ev[0].to, AlertState::Pending);
    sink.send(&ev, &engine.active()).unwrap();
    assert!(listed(&url, &name).is_empty());

    // Firing.
    let ev = engine
        .evaluate(&[window(&key, now - 120_000, 0.7)], &[], now)
        .unwrap();
    assert_eq!(ev[0].to, AlertState::Firing);
    sink.send(&ev, &engine.active()).unwrap();
    let got = wait_for(&url, &name, "the firing alert", |a| {
        a.len() == 1 && a[0]["status"]["state"] == "active"
    });
    let a = &got[0];
    assert_eq!(a["labels"]["alertname"], name.as_str());
    assert_eq!(a["labels"]["severity"], "critical");
    assert_eq!(a["labels"]["team"], "risk");
    assert_eq!(a["labels"]["model"], "churn");
    assert_eq!(a["labels"]["version"], "7");
    assert_eq!(a["labels"]["arm"], "canary");
    assert_eq!(a["labels"]["segment"], "country");
    assert_eq!(a["labels"]["segment_value"], "FR");
    assert_eq!(a["annotations"]["summary"], "accuracy below 0.8 (Zürich)");
    assert_eq!(a["annotations"]["value"], "0.7");
    assert_eq!(a["annotations"]["bound"], "< 0.8");
    assert_eq!(a["generatorURL"], "http://127.0.0.1/mlops");
    let starts = chrono::DateTime::parse_from_rfc3339(a["startsAt"].as_str().unwrap()).unwrap();
    assert_eq!(starts.timestamp_millis(), now - 180_000);

    // Re-sending (as each evaluation does) keeps one alert, not two.
    sink.send(&[], &engine.active()).unwrap();
    assert_eq!(listed(&url, &name).len(), 1);

    // Resolved: Alertmanager no longer lists it as active.
    let ev = engine
        .evaluate(&[window(&key, now - 60_000, 0.95)], &[], now)
        .unwrap();
    assert_eq!(ev[0].to, AlertState::Resolved);
    assert!(engine.active().is_empty());
    sink.send(&ev, &engine.active()).unwrap();
    wait_for(&url, &name, "the alert resolved", |a| {
        a.iter().all(|x| x["status"]["state"] != "active")
    });
}

#[test]
fn alertmanager_wrong_base_url_is_a_typed_error() {
    let Some(url) = alertmanager_url("alertmanager_wrong_base_url_is_a_typed_error") else {
        return;
    };
    let rules = RuleSet::parse(
        "[[rule]]\nname = \"mlops_test_wrong_url\"\nmetric = \"accuracy\"\ncondition = { below = 0.8 }\n",
        "am.toml",
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut engine = AlertEngine::open(rules, dir.path().join("state.json")).unwrap();
    let key = WindowKey {
        model: "churn".into(),
        version: 1,
        arm: "stable".into(),
        segment: None,
    };
    let now = chrono::Utc::now().timestamp_millis();
    let ev = engine
        .evaluate(&[window(&key, now - 60_000, 0.1)], &[], now)
        .unwrap();
    // A 404 (wrong prefix) is not retried: InvalidInput naming the URL.
    let sink = AlertmanagerSink::new(format!("{url}/no/such/prefix"));
    let e = sink.send(&ev, &engine.active()).unwrap_err();
    assert!(
        matches!(e, mlops_monitor::Error::InvalidInput { .. }),
        "{e:?}"
    );
    assert!(
        e.to_string().contains("/no/such/prefix/api/v2/alerts"),
        "{e}"
    );
}
