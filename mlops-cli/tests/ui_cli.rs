//! `mlops ui` and `mlops serve --ui` as a user runs them: real processes, real HTTP, a real
//! registry and prediction log.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use serde_json::Value;

/// SIGTERM (what Ctrl-C / an operator sends); the process must exit cleanly.
fn stop(child: &mut Child) {
    // SAFETY: kill(2) with a child pid we own and a valid signal number.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "exited with {status:?}");
}

fn get(addr: &str, path: &str) -> (u16, String, Response) {
    let r = http(addr, "GET", path, &[], b"");
    (r.status, String::from_utf8_lossy(&r.body).into_owned(), r)
}

/// Serves 10 requests with their predictions logged, then stops the server. Returns the store
/// and the log directory.
fn served_log(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (store, _reg) = store_with(dir, &[[2.0, 1.0]]);
    let log = dir.join("log");
    let mut server = start(
        &store,
        &[
            "--log-predictions",
            log.to_str().unwrap(),
            "--log-flush-ms",
            "50",
        ],
    );
    for i in 0..10 {
        assert_eq!(infer(&server.addr, [i as f32, 1.0]).status, 200);
    }
    stop(&mut server.child);
    (store, log)
}

#[test]
fn mlops_ui_serves_the_console_over_a_store_and_a_log_until_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let (store, log) = served_log(dir.path());
    let mut child = Command::new(BIN)
        .args([
            "ui",
            "--store",
            store.to_str().unwrap(),
            "--log",
            log.to_str().unwrap(),
            "--window-rows",
            "5",
            "--addr",
            "127.0.0.1:0",
            "--format",
            "json",
        ])
        .env("MLOPS_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let banner: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
    assert_eq!(banner["event"], "listening");
    let addr = banner["addr"].as_str().unwrap().to_string();
    assert_eq!(banner["url"], format!("http://{addr}/ui"));

    let (status, home, r) = get(&addr, "/ui");
    assert_eq!(status, 200);
    assert!(r.headers["content-security-policy"].contains("default-src 'self'"));
    assert!(
        home.contains("the registry&#39;s models") || home.contains("the registry's models"),
        "{home}"
    );
    assert!(
        home.contains("not serving"),
        "no deployments in `mlops ui`: {home}"
    );

    // 10 logged rows in windows of 5: two windows of scorer v1 on the stable arm.
    let (status, mon, _) = get(&addr, "/ui/monitoring");
    assert_eq!(status, 200, "{mon}");
    assert!(mon.contains(r#"data-windows="2""#), "{mon}");
    assert!(
        mon.contains(r#"data-model="scorer" data-version="1" data-arm="stable""#),
        "{mon}"
    );
    assert!(mon.contains(r#"data-series="label_coverage" data-points="2""#));

    // The models page lists the store's model.
    let (status, models, _) = get(&addr, "/ui/models");
    assert_eq!(status, 200, "{models}");
    assert!(models.contains("scorer"), "{models}");
    let (status, _, _) = get(&addr, "/ui/deployments");
    assert_eq!(status, 200);
    stop(&mut child);

    // A --log that is not a prediction log is refused at start, once, with exit 2.
    let out = Command::new(BIN)
        .args([
            "ui",
            "--store",
            store.to_str().unwrap(),
            "--log",
            dir.path().join("nothing").to_str().unwrap(),
            "--addr",
            "127.0.0.1:0",
        ])
        .env_remove("MLOPS_LOG")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("error:").count(), 1, "printed once: {err}");
    assert!(err.contains("--log") && err.contains("nothing"), "{err}");
}

#[test]
fn serve_ui_shows_the_live_deployment_and_its_log() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _reg) = store_with(dir.path(), &[[2.0, 1.0]]);
    let log = dir.path().join("log");
    let mut server = start(
        &store,
        &[
            "--ui",
            "--log-predictions",
            log.to_str().unwrap(),
            "--log-flush-ms",
            "50",
            "--window-rows",
            "4",
            "--admin-token-env",
            "MLOPS_TEST_TOKEN",
        ],
    );
    assert_eq!(server.banner["ui"], format!("http://{}/ui", server.addr));
    for i in 0..8 {
        assert_eq!(infer(&server.addr, [i as f32, 1.0]).status, 200);
    }
    let (status, page, r) = get(&server.addr, "/ui/deployments/scorer");
    assert_eq!(status, 200, "{page}");
    assert!(r.headers["content-security-policy"].contains("script-src 'self'"));
    assert!(
        page.contains(r#"data-arm="stable" data-version="1" data-requests="8""#),
        "{page}"
    );
    assert!(
        page.contains(r#"data-share="1""#),
        "all traffic on stable: {page}"
    );
    // An admin token is configured: the forms are there.
    assert!(page.contains(r#"data-admin="strategy""#));
    assert!(page.contains(r#"id="admin-token""#));
    // The monitoring page reads the live log (flushed every 50 ms).
    wait_until(
        "two windows on the monitoring page",
        Duration::from_secs(10),
        || {
            get(&server.addr, "/ui/monitoring")
                .1
                .contains(r#"data-windows="2""#)
        },
    );
    // The inference API is unchanged next to the console.
    assert_eq!(get(&server.addr, "/v2/health/ready").0, 200);
    stop(&mut server.child);
}
