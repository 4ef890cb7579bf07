//! The monitoring page over a real prediction log: rows written through `PredictionLog`, the
//! report computed by the console's `MonitorSource` on each request.
#![cfg(feature = "console")]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use mlops_drift::io::{Column, Table};
use mlops_drift::{ProfileConfig, ReferenceProfile};
use mlops_monitor::log::{LogConfig, LogReader, PredictionLog};
use mlops_monitor::report::{build_report, ReportConfig};
use mlops_monitor::window::WindowSpec;
use mlops_monitor::{LoggedPrediction, Value};
use mlops_ui::console::{router, ConsoleConfig, MonitorSource};
use tower::ServiceExt;

const HOUR: i64 = 3_600_000;

/// 3 hours × 50 rows of churn v1 on the stable arm; feature `x` shifts by 5 in hour 3.
fn write_log(dir: &std::path::Path) {
    let log = PredictionLog::open(LogConfig::new(dir)).unwrap();
    for h in 0..3i64 {
        for i in 0..50i64 {
            let x = (i % 10) as f64 + if h == 2 { 5.0 } else { 0.0 };
            log.log_blocking(LoggedPrediction {
                id: format!("r{h}-{i}"),
                timestamp_ms: 1_767_225_600_000 + h * HOUR + i * 1000,
                model: "churn".into(),
                version: 1,
                arm: "stable".into(),
                features: vec![("x".into(), Value::Num(x))],
                prediction: Some(Value::Num(x * 2.0)),
                scores: vec![],
                segments: vec![],
                kpis: vec![],
                latency_s: Some(0.01),
                error: None,
            })
            .unwrap();
        }
    }
    log.close().unwrap();
}

/// Reads the log, fits a drift profile on its first hour and builds hourly windows.
fn source(dir: std::path::PathBuf) -> MonitorSource {
    Arc::new(move || {
        let rows = LogReader::open(&dir)
            .and_then(|r| r.read_all())
            .map_err(|e| e.to_string())?;
        let first = rows[0].timestamp_ms;
        let reference: Vec<f64> = rows
            .iter()
            .filter(|p| p.timestamp_ms < first + HOUR)
            .filter_map(|p| match p.features.first() {
                Some((_, Value::Num(x))) => Some(*x),
                _ => None,
            })
            .collect();
        let table = Table {
            columns: vec![("x".into(), Column::Numeric(reference))],
        };
        let profile = ReferenceProfile::fit_table(&table, ProfileConfig::default())
            .map_err(|e| e.to_string())?;
        let mut cfg = ReportConfig::new(WindowSpec::parse("1h").map_err(|e| e.to_string())?);
        cfg.reference = Some(&profile);
        build_report(rows, &|_| None, &cfg).map_err(|e| e.to_string())
    })
}

async fn get(app: &axum::Router, uri: &str) -> (StatusCode, String) {
    let r = app
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = r.status();
    let body = r.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

fn points(html: &str, series: &str) -> Vec<usize> {
    let needle = format!("data-series=\"{series}\" data-points=\"");
    html.match_indices(&needle)
        .map(|(i, _)| {
            let rest = &html[i + needle.len()..];
            rest[..rest.find('"').unwrap()].parse().unwrap()
        })
        .collect()
}

#[tokio::test]
async fn the_page_shows_the_windows_and_the_feature_drift_of_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    write_log(&log);
    let report = source(log.clone())().unwrap();
    assert_eq!(report.windows.len(), 3);
    let app = router(ConsoleConfig {
        monitor: Some(source(log)),
        ..ConsoleConfig::default()
    });
    let (status, page) = get(&app, "/ui/monitoring").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains(r#"data-windows="3""#), "{page}");
    assert!(page.contains(r#"data-model="churn" data-version="1" data-arm="stable""#));
    // A line per metric with a point per window: coverage, latency, error rate.
    assert_eq!(points(&page, "label_coverage"), vec![3]);
    assert_eq!(points(&page, "latency_p99_s"), vec![3]);
    assert_eq!(points(&page, "error_rate"), vec![3]);
    // Per-feature drift: the statistic of x in every window, highest in the shifted hour.
    assert_eq!(points(&page, "drift.x.statistic"), vec![3]);
    let stats: Vec<f64> = report
        .windows
        .iter()
        .map(|w| w.drift["drift.x.statistic"])
        .collect();
    assert!(stats[2] > stats[0] && stats[2] > stats[1], "{stats:?}");
    assert!(page.contains(r#"<details class="column" data-column="x">"#));
    assert!(
        !page.contains("<script>"),
        "no inline script in the console"
    );
}

#[tokio::test]
async fn without_a_log_the_page_says_so_and_a_failing_source_is_a_500() {
    let (status, page) = get(&router(ConsoleConfig::default()), "/ui/monitoring").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(r#"id="no-monitor""#));
    let failing: MonitorSource = Arc::new(|| Err("the log <is> gone".to_string()));
    let app = router(ConsoleConfig {
        monitor: Some(failing),
        ..ConsoleConfig::default()
    });
    let (status, page) = get(&app, "/ui/monitoring").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(page.contains("the log &lt;is&gt; gone"), "{page}");
}
