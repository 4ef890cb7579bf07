//! `mlops serve` end to end: a real server process over a file registry, driven over HTTP.

mod common;

use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::*;
use mlops_registry::{EventKind, FileRegistry, NewVersion, Registry};
use serde_json::{json, Value};

const AUTH: (&str, &str) = ("Authorization", "Bearer s3cret-token");

#[test]
fn the_oip_contract_over_a_real_server() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _reg) = store_with(dir.path(), &[[1.0, 0.0]]);
    let srv = start(&store, &["--admin-token-env", "MLOPS_TEST_TOKEN"]);
    assert_eq!(srv.banner["stable_version"], 1);
    assert_eq!(srv.banner["admin"], true);
    let a = srv.addr.as_str();

    assert_eq!(http(a, "GET", "/v2/health/live", &[], b"").status, 200);
    assert_eq!(http(a, "GET", "/v2/health/ready", &[], b"").status, 200);
    let meta = http(a, "GET", "/v2/models/scorer", &[], b"").json();
    assert_eq!(meta["name"], "scorer");
    assert_eq!(meta["versions"], json!(["1"]));
    assert_eq!(meta["inputs"][0]["datatype"], "FP32");
    assert_eq!(meta["inputs"][0]["shape"], json!([-1, 2]));
    assert_eq!(
        http(a, "GET", "/v2/models/scorer/ready", &[], b"").status,
        200
    );

    let r = infer(a, [3.5, 9.0]);
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["x-mlops-arm"], "stable");
    let v = r.json();
    assert_eq!(v["model_name"], "scorer");
    assert_eq!(v["model_version"], "1");
    assert_eq!(v["id"], "req-1");
    assert_eq!(v["outputs"][0]["name"], "y");
    assert_eq!(v["outputs"][0]["data"], json!([3.5]));
    // Addressed by version; unknown version, model and route.
    let body = json!({"inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP32", "data": [[1, 2], [3, 4]]}]});
    let r = http(
        a,
        "POST",
        "/v2/models/scorer/versions/1/infer",
        &[],
        body.to_string().as_bytes(),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["outputs"][0]["data"], json!([1.0, 3.0]));
    for path in [
        "/v2/models/scorer/versions/9/infer",
        "/v2/models/nope/infer",
    ] {
        let r = http(a, "POST", path, &[], body.to_string().as_bytes());
        assert_eq!(r.status, 404, "{path}");
        assert!(r.json()["error"].is_string());
    }
    assert_eq!(http(a, "GET", "/nowhere", &[], b"").status, 404);

    // Malformed and schema-violating bodies: 400 naming the problem; the server keeps serving.
    for (bad, needle) in [
        (&b"{not json"[..], ""),
        (br#"{"inputs": []}"#, ""),
        (br#"{"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]}"#, "x"),
        (br#"{"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP32", "data": [1]}]}"#, "x"),
        (br#"{"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP32", "data": [1, "NaN"]}]}"#, "x"),
        (br#"{"inputs": [{"name": "z", "shape": [1, 2], "datatype": "FP32", "data": [1, 2]}]}"#, ""),
        (&[0xff, 0xfe, 0x00][..], ""),
    ] {
        let r = http(a, "POST", "/v2/models/scorer/infer", &[], bad);
        assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(bad));
        let msg = r.json()["error"].as_str().unwrap().to_owned();
        assert!(msg.contains(needle), "{msg}");
        assert_eq!(infer(a, [1.0, 0.0]).status, 200);
    }

    // Metrics.
    let m = http(a, "GET", "/metrics", &[], b"");
    assert_eq!(m.status, 200);
    let text = String::from_utf8(m.body).unwrap();
    assert!(
        text.contains(
            "mlops_serve_routed_requests_total{model=\"scorer\",arm=\"stable\",version=\"1\"}"
        ),
        "{text}"
    );

    // Admin: refused without or with a wrong token; status with it; 409 with no candidate.
    let r = http(a, "GET", "/v2/admin/models/scorer", &[], b"");
    assert_eq!(r.status, 401);
    assert!(r.headers["www-authenticate"].starts_with("Bearer"));
    let wrong = ("Authorization", "Bearer nope");
    assert_eq!(
        http(a, "GET", "/v2/admin/models/scorer", &[wrong], b"").status,
        401
    );
    let st = http(a, "GET", "/v2/admin/models/scorer", &[AUTH], b"");
    assert_eq!(st.status, 200);
    assert_eq!(st.json()["stable"]["version"], 1);
    let r = http(
        a,
        "PUT",
        "/v2/admin/models/scorer/strategy",
        &[AUTH],
        br#"{"mode": "canary", "weight": 0.5}"#,
    );
    assert_eq!(r.status, 409);
}

#[test]
fn follows_aliases_and_rolls_back_a_faulty_canary_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let (store, reg) = store_with(dir.path(), &[[1.0, 0.0], [2.0, 0.0], [3e38, 3e38]]);
    let (v2, bad) = (2, 3);
    let srv = start(
        &store,
        &[
            "--canary",
            "scorer@canary",
            "--canary-weight",
            "50",
            "--check-interval-ms",
            "100",
            "--min-requests",
            "20",
            "--failed-checks",
            "2",
        ],
    );
    let a = srv.addr.as_str();
    assert_eq!(infer(a, [1.0, 0.0]).json()["model_version"], "1");

    // The stable alias moves: the server follows, and no request fails meanwhile.
    reg.set_alias(&name(), &alias("production"), v2, &ci())
        .unwrap();
    wait_until("v2 to serve", Duration::from_secs(10), || {
        let r = infer(a, [1.0, 0.0]);
        assert_eq!(r.status, 200);
        r.json()["model_version"] == "2"
    });
    assert_eq!(
        infer(a, [1.0, 0.0]).json()["outputs"][0]["data"],
        json!([2.0])
    );

    // A faulty canary: the server deploys it, its failures fail the checks, and it is rolled
    // back with the canary alias removed in the registry.
    reg.set_alias(&name(), &alias("canary"), bad, &ci())
        .unwrap();
    let (mut ok, mut failed) = (0, 0);
    wait_until("the automatic rollback", Duration::from_secs(30), || {
        let r = infer(a, [1.0, 2.0]);
        match r.status {
            200 => {
                assert_eq!(r.json()["model_version"], "2");
                ok += 1;
            }
            500 => {
                let msg = r.json()["error"].as_str().unwrap().to_owned();
                assert!(msg.contains("NaN or infinite"), "{msg}");
                failed += 1;
            }
            other => panic!("status {other}"),
        }
        !reg.aliases(&name()).unwrap().contains_key(&alias("canary"))
    });
    assert!(failed > 0 && ok > 0, "ok {ok}, failed {failed}");
    let last = reg.history(&name()).unwrap().pop().unwrap();
    assert!(
        matches!(last.kind, EventKind::AliasRemoved { .. }),
        "{last:?}"
    );
    assert_eq!(last.change.who, "controller");
    assert!(
        last.change.reason.contains("automatic rollback"),
        "{}",
        last.change.reason
    );
    for _ in 0..30 {
        let r = infer(a, [1.0, 2.0]);
        assert_eq!(
            (r.status, r.json()["model_version"].clone()),
            (200, json!("2"))
        );
    }
}

#[test]
fn admin_promotion_moves_the_registry_alias_and_sigterm_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let (store, reg) = store_with(dir.path(), &[[1.0, 0.0], [2.0, 0.0]]);
    let v2 = 2;
    reg.set_alias(&name(), &alias("canary"), v2, &ci()).unwrap();
    let mut srv = start(
        &store,
        &[
            "--canary",
            "scorer@canary",
            "--canary-weight",
            "0",
            "--admin-token-env",
            "MLOPS_TEST_TOKEN",
            "--drift-guard",
            "y:0",
        ],
    );
    assert_eq!(srv.banner["candidate"]["version"], 2);
    let a = srv.addr.clone();
    let a = a.as_str();
    for _ in 0..20 {
        assert_eq!(infer(a, [1.0, 0.0]).json()["model_version"], "1");
    }
    // Full weight through the admin API: every answer comes from the candidate.
    let r = http(
        a,
        "PUT",
        "/v2/admin/models/scorer/strategy",
        &[AUTH],
        br#"{"mode": "canary", "weight": 1.0}"#,
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    for _ in 0..20 {
        let r = infer(a, [1.0, 0.0]);
        assert_eq!(r.headers["x-mlops-arm"], "candidate");
        assert_eq!(r.json()["model_version"], "2");
    }
    let r = http(
        a,
        "POST",
        "/v2/admin/models/scorer/promote",
        &[AUTH, ("x-mlops-actor", "alice")],
        br#"{"reason": "canary looked good"}"#,
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["kind"], "promoted");
    let aliases = reg.aliases(&name()).unwrap();
    assert_eq!(aliases[&alias("production")], v2);
    assert!(!aliases.contains_key(&alias("canary")));
    let history = reg.history(&name()).unwrap();
    assert!(history
        .iter()
        .any(|e| e.change.who == "alice" && e.change.reason == "canary looked good"));
    let status = http(a, "GET", "/v2/admin/models/scorer", &[AUTH], b"").json();
    assert_eq!(status["policy"]["drift"]["output"], "y");
    assert_eq!(status["policy"]["drift"]["max_psi"], 0.25);
    let events = http(a, "GET", "/v2/admin/models/scorer/events", &[AUTH], b"").json();
    let kinds: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["candidate_set", "strategy_changed", "promoted"]);

    // SIGTERM: graceful shutdown, exit status 0, port closed.
    let pid = srv.child.id() as libc::pid_t;
    // SAFETY: sending a signal to our own child process.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let start = Instant::now();
    let status = loop {
        if let Some(s) = srv.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "server did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
    assert!(TcpStream::connect(a).is_err());
}

fn mlops(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(BIN)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

#[test]
fn bad_arguments_fail_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _reg) = store_with(dir.path(), &[[1.0, 0.0]]);
    let s = store.to_str().unwrap();
    let base = ["serve", "--store", s];
    for (extra, env, needle) in [
        (&["--model", "scorer/1"][..], &[][..], "alias"),
        (&["--model", "Bad Name@x"], &[], "--model"),
        (&["--model", "scorer@missing"], &[], "missing"),
        (
            &["--model", "scorer@production", "--canary", "other@canary"],
            &[],
            "must be a version of a served --model (scorer)",
        ),
        (
            &[
                "--model",
                "scorer@production",
                "--canary",
                "scorer@production",
            ],
            &[],
            "must differ",
        ),
        (
            &[
                "--model",
                "scorer@production",
                "--canary",
                "scorer@c",
                "--canary-weight",
                "150",
            ],
            &[],
            "percentage",
        ),
        (
            &[
                "--model",
                "scorer@production",
                "--admin-token-env",
                "MLOPS_UNSET_VAR_XYZ",
            ],
            &[],
            "unset or empty",
        ),
        (
            &[
                "--model",
                "scorer@production",
                "--admin-token-env",
                "EMPTY_TOKEN",
            ],
            &[("EMPTY_TOKEN", " ")],
            "unset or empty",
        ),
        (
            &["--model", "scorer@production", "--drift-guard", "nope"],
            &[],
            "no output \"nope\"",
        ),
        (
            &["--model", "scorer@production", "--drift-guard", "y:5"],
            &[],
            "column 5 does not exist",
        ),
        (
            &["--model", "scorer@production", "--drift-guard", "y:x"],
            &[],
            "not a number",
        ),
        (
            &[
                "--model",
                "scorer@production",
                "--drift-guard",
                "y",
                "--drift-max-psi=-1",
            ],
            &[],
            "max_psi",
        ),
        (
            &["--model", "scorer@production", "--drain-timeout-s", "NaN"],
            &[],
            "--drain-timeout-s",
        ),
        (
            &["--model", "scorer@production", "--drain-delay-s=-1"],
            &[],
            "--drain-delay-s",
        ),
        (
            &["--model", "scorer@production", "--addr", "256.0.0.1:1"],
            &[],
            "binding",
        ),
    ] {
        let mut args: Vec<&str> = base.to_vec();
        args.extend_from_slice(extra);
        let out = mlops(&args, env);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {err}");
        assert!(err.contains(needle), "{extra:?}: {err}");
    }
}

#[test]
fn serves_an_onnx_version_from_the_registry() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("reg");
    let reg = FileRegistry::open(&store).unwrap();
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../mlops-serve/tests/fixtures/mlp.onnx");
    let v = reg
        .register(
            NewVersion::new(name())
                .with_format("onnx")
                .with_artifact_bytes("model.onnx", std::fs::read(fixture).unwrap()),
        )
        .unwrap()
        .version
        .version;
    reg.set_alias(&name(), &alias("production"), v, &ci())
        .unwrap();
    let srv = start(&store, &[]);
    let a = srv.addr.as_str();
    let meta = http(a, "GET", "/v2/models/scorer", &[], b"").json();
    assert_eq!(meta["inputs"][0]["name"], "input");
    // X4 of tools/reference/serve_reference.py.
    let body = json!({"inputs": [{"name": "input", "shape": [3, 4], "datatype": "FP32",
        "data": [[0.5, -1.0, 2.0, 0.0], [1.5, 0.25, -0.75, 3.0], [-2.0, 0.0, 0.1, -0.3]]}]});
    let r = http(
        a,
        "POST",
        "/v2/models/scorer/infer",
        &[],
        body.to_string().as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let v = r.json();
    assert_eq!(v["outputs"][0]["name"], "probs");
    assert_eq!(v["outputs"][0]["shape"], json!([3, 3]));
    let got: Vec<f64> = v["outputs"][0]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    // onnx.reference.ReferenceEvaluator(mlp.onnx).run(None, {"input": X4}) (serve_reference.py)
    let want = [
        0.00729917548596859,
        0.08335840702056885,
        0.9093424081802368,
        0.2807985246181488,
        0.4231069087982178,
        0.2960945665836334,
        0.26677313446998596,
        0.17582200467586517,
        0.5574048757553101,
    ];
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() <= 1e-5, "{got:?}");
    }
}

#[test]
fn a_shadow_is_compared_and_never_answers() {
    let dir = tempfile::tempdir().unwrap();
    let (store, reg) = store_with(dir.path(), &[[1.0, 0.0], [2.0, 0.0]]);
    let v2 = 2;
    let srv = start(
        &store,
        &[
            "--shadow",
            "scorer@shadow",
            "--admin-token-env",
            "MLOPS_TEST_TOKEN",
        ],
    );
    let a = srv.addr.as_str();
    // The shadow alias appears while the server runs.
    reg.set_alias(&name(), &alias("shadow"), v2, &ci()).unwrap();
    wait_until("the shadow to be deployed", Duration::from_secs(10), || {
        let st = http(a, "GET", "/v2/admin/models/scorer", &[AUTH], b"").json();
        st["candidate"]["version"] == v2
    });
    for i in 0..50 {
        let r = infer(a, [i as f32, 0.0]);
        assert_eq!(r.headers["x-mlops-arm"], "stable");
        let v = r.json();
        assert_eq!(v["model_version"], "1");
        assert_eq!(v["outputs"][0]["data"], json!([i as f64]));
    }
    let mut shadow = Value::Null;
    wait_until("the comparisons", Duration::from_secs(10), || {
        let st = http(a, "GET", "/v2/admin/models/scorer", &[AUTH], b"").json();
        shadow = st["candidate"]["shadow"].clone();
        shadow["compared"].as_u64().unwrap() + shadow["dropped"].as_u64().unwrap() == 50
    });
    assert_eq!(shadow["errors"], 0);
    // y = 2·x0 against y = x0: every comparison with x0 ≠ 0 differs.
    assert!(shadow["mismatched"].as_u64().unwrap() >= shadow["compared"].as_u64().unwrap() - 1);
    let text = String::from_utf8(http(a, "GET", "/metrics", &[], b"").body).unwrap();
    assert!(
        text.contains("mlops_serve_shadow_compared_total{model=\"scorer\",version=\"2\"}"),
        "{text}"
    );
}
