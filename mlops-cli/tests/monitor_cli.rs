//! `mlops serve --log-predictions`, the labels endpoint and `mlops monitor …`, as a user runs
//! them: a real server process, real HTTP, the log read back by the CLI.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

fn mlops(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("MLOPS_LOG")
        .output()
        .unwrap()
}

fn ok_json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// `mlops monitor labels --log LOG --file FILE --format json`.
fn labels_cli(log: &std::path::Path, file: &std::path::Path) -> Output {
    mlops(&[
        "monitor",
        "labels",
        "--log",
        log.to_str().unwrap(),
        "--file",
        file.to_str().unwrap(),
        "--format",
        "json",
    ])
}

fn infer_with(addr: &str, id: &str, x: [f32; 2], params: Value) -> Value {
    let mut body = json!({
        "parameters": params,
        "inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP32", "data": x}]
    });
    // An empty `id` means: send none, let the server generate one.
    if !id.is_empty() {
        body["id"] = json!(id);
    }
    let r = http(
        addr,
        "POST",
        "/v2/models/scorer/infer",
        &[],
        body.to_string().as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()
}

/// SIGTERM, as an operator stops a server: it drains and flushes the log.
fn stop(mut server: Server) {
    let pid = server.child.id() as i32;
    // SAFETY: kill(2) with a child pid we own and a valid signal number.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
    let status = server.child.wait().unwrap();
    assert!(status.success(), "mlops serve exited with {status:?}");
}

fn report(log: &str, extra: &[&str]) -> Value {
    let mut args = vec!["monitor", "report", "--log", log, "--format", "json"];
    args.extend_from_slice(extra);
    ok_json(&mlops(&args))
}

fn total(rep: &Value, field: &str) -> u64 {
    rep["windows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w[field].as_u64().unwrap())
        .sum()
}

#[test]
fn served_predictions_are_logged_labelled_over_http_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _reg) = store_with(dir.path(), &[[2.0, 1.0]]);
    let log = dir.path().join("log");
    let server = start(
        &store,
        &[
            "--log-predictions",
            log.to_str().unwrap(),
            "--log-flush-ms",
            "50",
        ],
    );
    // 40 requests with ids, a segment and a KPI; y = 2·x0 + x1.
    for i in 0..40 {
        let x0 = i as f32 / 10.0;
        let r = infer_with(
            &server.addr,
            &format!("req-{i}"),
            [x0, 1.0],
            json!({"segment.country": if i % 2 == 0 {"fr"} else {"de"}, "kpi.amount": 10.0}),
        );
        assert_eq!(r["id"], format!("req-{i}"));
    }
    // A request without an id gets one, returned in the response.
    let generated = infer_with(&server.addr, "", [0.0, 0.0], json!({}));
    let generated_id = generated["id"].as_str().unwrap().to_owned();
    assert_eq!(generated_id.len(), 32, "{generated}");

    // Labels: 30 known ids, one twice, one unknown. Truth = prediction + 0.5 for even ids.
    wait_until("the log to hold 41 rows", Duration::from_secs(10), || {
        let r = mlops(&[
            "monitor",
            "report",
            "--log",
            log.to_str().unwrap(),
            "--format",
            "json",
        ]);
        r.status.success()
            && serde_json::from_slice::<Value>(&r.stdout)
                .map(|v| total(&v, "n_predictions") == 41)
                .unwrap_or(false)
    });
    let mut labels: Vec<Value> = (0..30)
        .map(|i| {
            let y = 2.0 * (i as f64 / 10.0) + 1.0;
            json!({"id": format!("req-{i}"), "label": if i % 2 == 0 { y + 0.5 } else { y }})
        })
        .collect();
    labels.push(json!({"id": "req-3", "label": 99.0}));
    labels.push(json!({"id": "no-such-id", "label": 1.0}));
    let r = http(
        &server.addr,
        "POST",
        "/v2/models/scorer/labels",
        &[],
        json!({ "labels": labels }).to_string().as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let summary = r.json();
    assert_eq!(summary["received"], 32, "{summary}");
    assert_eq!(summary["matched"], 30, "{summary}");
    assert_eq!(summary["duplicate"], 1, "{summary}");
    assert_eq!(summary["unknown"], 1, "{summary}");
    assert_eq!(summary["late"], 0, "{summary}");
    // A malformed body is a 400 with a reason, not a crash.
    let bad = http(
        &server.addr,
        "POST",
        "/v2/models/scorer/labels",
        &[],
        br#"{"labels":[{"label":1}]}"#,
    );
    assert_eq!(bad.status, 400, "{}", String::from_utf8_lossy(&bad.body));
    // Labels for a model that is not served: 404.
    let missing = http(
        &server.addr,
        "POST",
        "/v2/models/nope/labels",
        &[],
        br#"{"labels":[]}"#,
    );
    assert_eq!(missing.status, 404);
    stop(server);

    let rep = report(log.to_str().unwrap(), &["--window-rows", "1000"]);
    let windows = rep["windows"].as_array().unwrap();
    assert_eq!(windows.len(), 1, "{rep}");
    let w = &windows[0];
    assert_eq!(w["model"], "scorer");
    assert_eq!(w["version"], 1);
    assert_eq!(w["arm"], "stable");
    assert_eq!(w["n_predictions"], 41);
    assert_eq!(w["n_labelled"], 30);
    let coverage = w["label_coverage"].as_f64().unwrap();
    assert!((coverage - 30.0 / 41.0).abs() < 1e-12, "{coverage}");
    // 15 of the 30 labelled rows are off by exactly 0.5 → MAE 0.25.
    let mae = w["metrics"]["mae"]
        .as_f64()
        .unwrap_or_else(|| panic!("{w}"));
    assert!((mae - 0.25).abs() < 1e-6, "{w}");
    // The KPI: 40 requests sent 10.0 each.
    assert_eq!(w["kpi"]["kpi.amount.sum"].as_f64(), Some(400.0), "{w}");
    assert_eq!(w["kpi"]["kpi.amount.mean"].as_f64(), Some(10.0), "{w}"); // the mean over the rows that carry it

    // Per segment: two segments (+ the request without one).
    let rep = report(
        log.to_str().unwrap(),
        &["--window-rows", "1000", "--segment", "country"],
    );
    let segs: Vec<String> = rep["windows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["segment"].to_string())
        .collect();
    assert!(segs.iter().any(|s| s.contains("fr")), "{segs:?}");
    assert!(segs.iter().any(|s| s.contains("de")), "{segs:?}");

    // The text table prints.
    let out = mlops(&[
        "monitor",
        "report",
        "--log",
        log.to_str().unwrap(),
        "--window-rows",
        "20",
    ]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("scorer"), "{text}");
}

#[test]
fn labels_from_a_csv_file_and_bad_input_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _reg) = store_with(dir.path(), &[[1.0, 1.0]]);
    let log = dir.path().join("log");
    let server = start(
        &store,
        &[
            "--log-predictions",
            log.to_str().unwrap(),
            "--log-flush-ms",
            "50",
        ],
    );
    for i in 0..5 {
        infer_with(&server.addr, &format!("r{i}"), [i as f32, 0.0], json!({}));
    }
    stop(server);
    let csv = dir.path().join("labels.csv");
    std::fs::write(&csv, "id,label\nr0,0\nr1,1.5\nr1,7\nzz,3\n").unwrap();
    let summary = ok_json(&labels_cli(&log, &csv));
    assert_eq!(summary["matched"], 2, "{summary}");
    assert_eq!(summary["duplicate"], 1, "{summary}");
    assert_eq!(summary["unknown"], 1, "{summary}");
    let rep = report(log.to_str().unwrap(), &["--window-rows", "100"]);
    assert_eq!(total(&rep, "n_labelled"), 2, "{rep}");

    let no_id = dir.path().join("noid.csv");
    std::fs::write(&no_id, "key,label\nr0,1\n").unwrap();
    let out = labels_cli(&log, &no_id);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("id"), "{err}");
    assert_eq!(err.matches("error").count(), 1, "printed once: {err}");

    let not_a_log = dir.path().join("nothing-here");
    let out = mlops(&["monitor", "report", "--log", not_a_log.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing-here"));

    let rules = dir.path().join("rules.toml");
    std::fs::write(
        &rules,
        "[[rule]]\nname = \"a\"\nmetric = \"accuracy\"\ncondition = { below = 0.9 }\n\n[[rule]]\nname = \"b\"\nmetric = \"acuracy\"\ncondition = { below = 0.9 }\n",
    )
    .unwrap();
    let out = mlops(&[
        "monitor",
        "watch",
        "--log",
        log.to_str().unwrap(),
        "--rules",
        rules.to_str().unwrap(),
        "--once",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("acuracy") && err.contains("line 8"), "{err}");
    std::fs::write(&rules, "[[rule]\nname = 1\n").unwrap();
    let out = mlops(&[
        "monitor",
        "watch",
        "--log",
        log.to_str().unwrap(),
        "--rules",
        rules.to_str().unwrap(),
        "--once",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("line 1"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// kill -9 of `mlops serve` while it logs: the log reopens (for reading and for a new server)
/// and only the unflushed tail is missing.
#[test]
fn kill_9_while_logging_loses_only_the_unflushed_tail() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _reg) = store_with(dir.path(), &[[1.0, 1.0]]);
    let log = dir.path().join("log");
    let mut server = start(
        &store,
        &[
            "--log-predictions",
            log.to_str().unwrap(),
            "--log-flush-ms",
            "200",
        ],
    );
    for i in 0..300 {
        infer_with(&server.addr, &format!("a{i}"), [i as f32, 1.0], json!({}));
    }
    // Longer than two flush intervals: these 300 are on disk.
    std::thread::sleep(Duration::from_millis(700));
    for i in 0..100 {
        infer_with(&server.addr, &format!("b{i}"), [i as f32, 1.0], json!({}));
    }
    // SIGKILL: no drain, no flush.
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let rep = report(log.to_str().unwrap(), &["--window-rows", "100000"]);
    let n = total(&rep, "n_predictions");
    assert!((300..=400).contains(&n), "{n} rows after kill -9");
    // A new server takes the log over (the dead one's lock is gone) and appends to it.
    let server = start(
        &store,
        &[
            "--log-predictions",
            log.to_str().unwrap(),
            "--log-flush-ms",
            "50",
        ],
    );
    for i in 0..10 {
        infer_with(&server.addr, &format!("c{i}"), [0.0, 0.0], json!({}));
    }
    stop(server);
    wait_until("the new rows", Duration::from_secs(10), || {
        total(
            &report(log.to_str().unwrap(), &["--window-rows", "100000"]),
            "n_predictions",
        ) == n + 10
    });
}

/// A webhook server on loopback that records every POST body.
fn webhook_server() -> (String, Arc<Mutex<Vec<Value>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&got);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut reader = BufReader::new(s.try_clone().unwrap());
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let l = line.trim_end();
                if l.is_empty() {
                    break;
                }
                if let Some((k, v)) = l.split_once(':') {
                    if k.eq_ignore_ascii_case("content-length") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                }
            }
            let mut body = vec![0; len];
            let _ = reader.read_exact(&mut body);
            if let Ok(v) = serde_json::from_slice::<Value>(&body) {
                sink.lock().unwrap().push(v);
            }
            let _ =
                s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    (url, got)
}

/// 60 predictions served and logged, then labelled: the first 30 exact, the last 30 off by
/// 5 → MAE 0 then 5 per 30-row window. Returns the log directory.
fn log_with_mae_jump(dir: &std::path::Path) -> std::path::PathBuf {
    let (store, _reg) = store_with(dir, &[[1.0, 0.0]]);
    let log = dir.join("log");
    let server = start(
        &store,
        &[
            "--log-predictions",
            log.to_str().unwrap(),
            "--log-flush-ms",
            "50",
        ],
    );
    for i in 0..60 {
        infer_with(&server.addr, &format!("p{i}"), [i as f32, 0.0], json!({}));
    }
    stop(server);
    let csv = dir.join("labels.csv");
    let mut text = String::from("id,label\n");
    for i in 0..60 {
        let y = i as f64 + if i < 30 { 0.0 } else { 5.0 };
        text.push_str(&format!("p{i},{y}\n"));
    }
    std::fs::write(&csv, text).unwrap();
    ok_json(&labels_cli(&log, &csv));
    log
}

#[test]
fn watch_fires_an_alert_to_a_webhook_and_does_not_refire_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_with_mae_jump(dir.path());
    let rules = dir.path().join("rules.toml");
    std::fs::write(
        &rules,
        "[[rule]]\nname = \"mae_high\"\nmetric = \"mae\"\ncondition = { above = 1.0 }\nseverity = \"critical\"\n",
    )
    .unwrap();
    let (url, got) = webhook_server();
    let watch = || {
        mlops(&[
            "monitor",
            "watch",
            "--log",
            log.to_str().unwrap(),
            "--rules",
            rules.to_str().unwrap(),
            "--window-rows",
            "30",
            "--webhook",
            &url,
            "--once",
            "--format",
            "json",
        ])
    };
    let first = ok_json(&watch());
    let alerts = first["alerts"].as_array().unwrap();
    assert!(
        alerts
            .iter()
            .any(|a| a.to_string().contains("mae_high") && a.to_string().contains("firing")),
        "{first}"
    );
    let posts = got.lock().unwrap().len();
    assert!(posts >= 1, "the webhook got nothing");
    assert!(got.lock().unwrap()[0].to_string().contains("mae_high"));
    // A second run (a restart) sees the same windows: still firing, no new transition sent.
    let second = ok_json(&watch());
    assert!(second["alerts"].to_string().contains("firing"), "{second}");
    std::thread::sleep(Duration::from_millis(200));
    let events_after: usize = got
        .lock()
        .unwrap()
        .iter()
        .skip(posts)
        .map(|b| b["events"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(
        events_after,
        0,
        "a restart re-fired: {:?}",
        got.lock().unwrap()
    );
}

#[test]
fn serve_with_monitor_rules_publishes_monitor_gauges_on_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _reg) = store_with(dir.path(), &[[1.0, 0.0]]);
    let log = dir.path().join("log");
    let rules = dir.path().join("rules.toml");
    std::fs::write(
        &rules,
        "[[rule]]\nname = \"errors\"\nmetric = \"error_rate\"\ncondition = { above = 0.5 }\n",
    )
    .unwrap();
    let server = start(
        &store,
        &[
            "--log-predictions",
            log.to_str().unwrap(),
            "--log-flush-ms",
            "50",
            "--monitor-rules",
            rules.to_str().unwrap(),
            "--monitor-interval",
            "200ms",
            "--window-rows",
            "10",
        ],
    );
    for i in 0..25 {
        infer_with(&server.addr, &format!("m{i}"), [i as f32, 0.0], json!({}));
    }
    let mut text = String::new();
    wait_until("mlops_monitor_ gauges", Duration::from_secs(20), || {
        let r = http(&server.addr, "GET", "/metrics", &[], b"");
        text = String::from_utf8_lossy(&r.body).into_owned();
        text.contains("mlops_monitor_n_predictions{")
    });
    assert!(text.contains("model=\"scorer\""), "{text}");
    assert!(text.trim_end().ends_with("# EOF"), "{text}");
    stop(server);
}

/// Every JSON document a command printed on stdout, in order.
fn json_stream(out: &Output) -> Vec<Value> {
    serde_json::Deserializer::from_slice(&out.stdout)
        .into_iter::<Value>()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

#[test]
fn watch_on_alert_runs_the_pipeline_once_with_the_alert_as_its_trigger() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_with_mae_jump(dir.path());
    let rules = dir.path().join("rules.toml");
    std::fs::write(
        &rules,
        "[[rule]]\nname = \"mae_high\"\nmetric = \"mae\"\ncondition = { above = 1.0 }\n\n[[rule]]\nname = \"other\"\nmetric = \"mae\"\ncondition = { above = 0.5 }\n",
    )
    .unwrap();
    // A one-step pipeline that appends to a file outside its outputs, so the test sees runs.
    let pdir = dir.path().join("p");
    std::fs::create_dir_all(pdir.join("data")).unwrap();
    std::fs::write(pdir.join("data/in.txt"), "x\n").unwrap();
    std::fs::write(
        pdir.join("pipeline.toml"),
        "name = \"retrain\"\n[[steps]]\nname = \"train\"\ncommand = [\"sh\", \"-c\", \"echo ran >> runs.log; cp ${inputs.data} ${outputs.model}\"]\ninputs = { data = \"data/in.txt\" }\noutputs = { model = \"work/model.txt\" }\nvolatile = true\n",
    )
    .unwrap();
    let spec = pdir.join("pipeline.toml");
    let on_alert = format!("mae_high={}", spec.display());
    let watch = || {
        mlops(&[
            "monitor",
            "watch",
            "--log",
            log.to_str().unwrap(),
            "--rules",
            rules.to_str().unwrap(),
            "--window-rows",
            "30",
            "--on-alert",
            &on_alert,
            "--once",
            "--format",
            "json",
        ])
    };
    let out = watch();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docs = json_stream(&out);
    let runs: Vec<&Value> = docs.iter().filter_map(|d| d.get("triggered_run")).collect();
    // Two rules fire; only mae_high is wired to the pipeline: one run.
    assert_eq!(runs.len(), 1, "{docs:?}");
    assert_eq!(runs[0]["trigger"]["kind"], "alert");
    assert_eq!(runs[0]["trigger"]["rule"], "mae_high");
    assert_eq!(runs[0]["steps"][0]["status"], "ran");
    assert_eq!(
        std::fs::read_to_string(pdir.join("runs.log")).unwrap(),
        "ran\n"
    );
    // A restart sees the alert still firing, not a new transition: no second run.
    let again = watch();
    assert!(again.status.success());
    assert!(json_stream(&again)
        .iter()
        .all(|d| d.get("triggered_run").is_none()));
    assert_eq!(
        std::fs::read_to_string(pdir.join("runs.log")).unwrap(),
        "ran\n"
    );
    // A malformed --on-alert is a usage error.
    let bad = mlops(&[
        "monitor",
        "watch",
        "--log",
        log.to_str().unwrap(),
        "--rules",
        rules.to_str().unwrap(),
        "--on-alert",
        "no-equals-sign",
        "--once",
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("RULE=pipeline.toml"));
}

#[test]
fn report_and_watch_with_a_schema_give_quality_values_and_a_bad_schema_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _reg) = store_with(dir.path(), &[[1.0, 0.0]]);
    let log = dir.path().join("log");
    let server = start(
        &store,
        &[
            "--log-predictions",
            log.to_str().unwrap(),
            "--log-flush-ms",
            "50",
        ],
    );
    // x = [i, 0.5] for i in 0..10: x_0 is out of [0, 5] for i = 6..9 (4 of 10 rows).
    for i in 0..10 {
        infer_with(&server.addr, &format!("q{i}"), [i as f32, 0.5], json!({}));
    }
    stop(server);
    let schema = dir.path().join("schema.toml");
    std::fs::write(
        &schema,
        r#"version = 1
[table]
required_columns = ["x_0", "x_1", "age"]
[columns.x_0]
type = "float"
range = { min = 0.0, max = 5.0 }
[columns.x_1]
type = "float"
not_null = {}
range = { min = 0.0, max = 1.0 }
"#,
    )
    .unwrap();
    let log_s = log.to_str().unwrap();
    let rep = report(
        log_s,
        &["--window-rows", "10", "--schema", schema.to_str().unwrap()],
    );
    let windows = rep["windows"].as_array().unwrap();
    assert_eq!(windows.len(), 1, "{rep}");
    let q = &windows[0]["quality"];
    assert_eq!(q["quality.x_0.out_of_range_rate"], 0.4, "{q}");
    assert_eq!(q["quality.x_1.out_of_range_rate"], 0.0, "{q}");
    assert_eq!(q["quality.x_0.missing_rate"], 0.0, "{q}");
    assert_eq!(q["quality.missing_rate"], 0.0, "{q}");
    // 4 of 20 non-missing cells of the two ranged columns.
    assert_eq!(q["quality.out_of_range_rate"], 0.2, "{q}");
    assert_eq!(q["quality.violation_rate"], 0.4, "{q}");
    // x_0's range and the absent required column `age`.
    assert_eq!(q["quality.errors"], 2.0, "{q}");
    assert_eq!(q["quality.missing_columns"], 1.0, "{q}");

    // Without --schema: no quality values.
    let plain = report(log_s, &["--window-rows", "10"]);
    assert!(plain["windows"][0].get("quality").is_none(), "{plain}");

    // A schema that does not parse is a clear error, exit 2.
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "version = 1\n[columns.x_0]\ntype = \"float\"\nrnage = {}\n",
    )
    .unwrap();
    let out = mlops(&[
        "monitor",
        "report",
        "--log",
        log_s,
        "--schema",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--schema") && err.contains("rnage"), "{err}");

    // `watch` alerts on a quality value, and refuses the bad schema before its first round.
    let rules = dir.path().join("rules.toml");
    std::fs::write(
        &rules,
        "[[rule]]\nname = \"x0_range\"\nmetric = \"quality.x_0.out_of_range_rate\"\n\
         condition = { above = 0.3 }\n",
    )
    .unwrap();
    let watch = |schema: &std::path::Path| {
        mlops(&[
            "monitor",
            "watch",
            "--log",
            log_s,
            "--rules",
            rules.to_str().unwrap(),
            "--window-rows",
            "10",
            "--schema",
            schema.to_str().unwrap(),
            "--state",
            dir.path().join("state.json").to_str().unwrap(),
            "--once",
            "--format",
            "json",
        ])
    };
    let round = ok_json(&watch(&schema));
    let alerts = round["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 1, "{round}");
    assert_eq!(alerts[0]["rule"], "x0_range");
    assert_eq!(alerts[0]["state"], "firing", "{round}");
    assert_eq!(alerts[0]["value"], 0.4, "{round}");
    let out = watch(&bad);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--schema"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The `data-points` of the series `name` in an HTML report (one per chart that draws it).
fn series_points(html: &str, name: &str) -> Vec<usize> {
    let needle = format!("data-series=\"{name}\" data-points=\"");
    html.match_indices(&needle)
        .map(|(i, _)| {
            let rest = &html[i + needle.len()..];
            rest[..rest.find('"').unwrap()].parse().unwrap()
        })
        .collect()
}

#[test]
fn report_as_html_has_a_chart_per_metric_with_a_point_per_window_and_the_alert_marked() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_with_mae_jump(dir.path());
    let rules = dir.path().join("rules.toml");
    std::fs::write(
        &rules,
        "[[rule]]\nname = \"mae_high\"\nmetric = \"mae\"\ncondition = { above = 1.0 }\n",
    )
    .unwrap();
    let common = [
        "monitor",
        "report",
        "--log",
        log.to_str().unwrap(),
        "--window-rows",
        "30",
        "--rules",
        rules.to_str().unwrap(),
    ];
    let mut json_args = common.to_vec();
    json_args.extend(["--format", "json"]);
    let rep = ok_json(&mlops(&json_args));
    let windows = rep["windows"].as_array().unwrap();
    assert_eq!(windows.len(), 2, "{rep}");
    assert!(rep["alerts"].to_string().contains("mae_high"), "{rep}");

    let out_file = dir.path().join("monitor.html");
    let mut html_args = common.to_vec();
    html_args.extend(["--format", "html", "-o", out_file.to_str().unwrap()]);
    let out = mlops(&html_args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty(), "the report went to the file");
    let html = std::fs::read_to_string(&out_file).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("default-src 'none'"), "CSP missing");
    assert!(!html.contains("http://") && !html.contains("https://"));
    // Every metric the windows have gets one chart with one point per window.
    let metrics: Vec<String> = windows[0]["metrics"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert!(metrics.iter().any(|m| m == "mae"), "{metrics:?}");
    for m in &metrics {
        let with_values = windows
            .iter()
            .filter(|w| w["metrics"][m].is_number())
            .count();
        assert_eq!(series_points(&html, m), vec![with_values], "metric {m}");
    }
    assert_eq!(series_points(&html, "label_coverage"), vec![2]);
    // MAE 0 then 5 with `mae > 1`: the second window is marked, and the alert is listed.
    assert_eq!(series_points(&html, "alert: mae_high"), vec![1]);
    assert!(
        html.contains(r#"data-series="mae_high allowed: &gt; 1""#)
            || html.contains("mae_high allowed: &gt; 1")
    );
    assert!(
        html.contains(r#"<tr data-rule="mae_high" data-state="firing">"#),
        "alerts table"
    );
    assert!(html.contains(r#"data-windows="2""#));

    // Text output cannot go to a file; html goes to stdout without -o.
    let mut bad = common.to_vec();
    bad.extend(["-o", out_file.to_str().unwrap()]);
    let out = mlops(&bad);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("error").count(), 1, "{err}");
    let mut to_stdout = common.to_vec();
    to_stdout.extend(["--format", "html"]);
    let out = mlops(&to_stdout);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("data-series=\"mae\""));
}
