//! The official Triton clients (`tritonclient[http]`, `tritonclient[grpc]`, default settings)
//! against this project's servers: a real `mlops serve` process with a canary (REST and
//! `--grpc-addr`), and an in-process
//! server with one echo model per Open Inference Protocol datatype (the CLI's model formats do
//! not take every datatype, so that part runs the same router over test predictors).
//!
//! The Python side is `tests/triton/clients.py`, run with `MLOPS_TRITON_PYTHON` (set by
//! `source scripts/triton.sh`). Without the variable these tests print that they skipped; under
//! `CI=true` they fail instead.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use mlops_core::{DType, Schema, Signature, TensorSpec};
use mlops_registry::Registry;
use mlops_serve::deploy::{Deployment, ModelSet, RouteOptions};
use mlops_serve::grpc::GrpcConfig;
use mlops_serve::http::{router, HttpConfig};
use mlops_serve::{
    EngineBuilder, Error, Metrics, ModelIdentity, Predictor, Result, Tensor, Tensors,
};

/// The venv's python, or `None` (skip) when `MLOPS_TRITON_PYTHON` is unset outside CI.
fn triton_python(test: &str) -> Option<String> {
    match std::env::var("MLOPS_TRITON_PYTHON") {
        Ok(p) if !p.trim().is_empty() => Some(p),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => panic!(
            "{test}: MLOPS_TRITON_PYTHON is not set under CI=true; `source scripts/triton.sh` \
             installs the Triton clients and sets it"
        ),
        _ => {
            eprintln!("{test}: skipped: MLOPS_TRITON_PYTHON is not set (source scripts/triton.sh)");
            None
        }
    }
}

/// Runs `clients.py` and fails the test, with its output, unless every check passed.
fn run_clients(python: &str, protocol: &str, url: &str, scenario: &str, token: &str) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/triton/clients.py");
    // coreutils `timeout`: a client that hangs fails the test instead of the CI run.
    let out = Command::new("timeout")
        .args(["300", python])
        .arg(&script)
        .args(["--protocol", protocol, "--url", url, "--scenario", scenario])
        .args(["--token", token])
        .output()
        .unwrap_or_else(|e| panic!("running {python}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("ok: "),
        "clients.py {protocol} {scenario} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    eprintln!("{}", stdout.lines().last().unwrap_or_default());
}

#[test]
fn tritonclient_http_and_grpc_against_mlops_serve_with_a_canary() {
    let Some(python) =
        triton_python("tritonclient_http_and_grpc_against_mlops_serve_with_a_canary")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (store, reg) = store_with(dir.path(), &[[1.0, 0.0], [2.0, 0.0]]);
    reg.set_alias(&name(), &alias("canary"), 2, &ci()).unwrap();
    let srv = start(
        &store,
        &[
            "--canary",
            "scorer@canary",
            "--canary-weight",
            "50",
            "--admin-token-env",
            "MLOPS_TEST_TOKEN",
            "--grpc-addr",
            "127.0.0.1:0",
        ],
    );
    assert_eq!(srv.banner["candidate"]["version"], 2);
    let grpc = srv.banner["grpc_addr"].as_str().unwrap().to_owned();
    assert_ne!(grpc, srv.addr);
    run_clients(&python, "http", &srv.addr, "cli", "s3cret-token");
    run_clients(&python, "grpc", &grpc, "cli", "s3cret-token");
}

/// Returns its input `x` as `y`, any shape.
#[derive(Debug)]
struct Echo {
    id: ModelIdentity,
    sig: Signature,
}

impl Predictor for Echo {
    fn identity(&self) -> &ModelIdentity {
        &self.id
    }
    fn signature(&self) -> &Signature {
        &self.sig
    }
    fn predict(&self, inputs: &Tensors) -> Result<Tensors> {
        let x = inputs
            .get("x")
            .ok_or_else(|| Error::NotFound { what: "x".into() })?;
        Ok(Tensors::from([("y".to_owned(), x.clone())]))
    }
}

/// An echo that waits for the test's go-ahead on each call, and says when a call started.
#[derive(Debug)]
struct Gated {
    echo: Echo,
    started: Mutex<mpsc::Sender<()>>,
    release: Mutex<mpsc::Receiver<()>>,
}

impl Predictor for Gated {
    fn identity(&self) -> &ModelIdentity {
        self.echo.identity()
    }
    fn signature(&self) -> &Signature {
        self.echo.signature()
    }
    fn predict(&self, inputs: &Tensors) -> Result<Tensors> {
        let _ = self.started.lock().unwrap().send(());
        let _ = self
            .release
            .lock()
            .unwrap()
            .recv_timeout(Duration::from_secs(60));
        self.echo.predict(inputs)
    }
}

fn echo(name: &str, dtype: DType) -> Echo {
    let spec = |n: &str| TensorSpec::new(n, dtype, vec![-1, -1]);
    Echo {
        id: ModelIdentity::new(name, 1).unwrap(),
        sig: Signature {
            inputs: Schema::new(vec![spec("x")]),
            outputs: Schema::new(vec![spec("y")]),
        },
    }
}

/// One echo model per datatype (named after it in lower case) and `gated`, whose only worker
/// is busy and whose one-slot queue is full once this returns. Dropping the returned sender
/// releases the gated calls.
fn echo_models(metrics: &Metrics) -> (ModelSet, mpsc::Sender<()>) {
    let models = ModelSet::new();
    for d in DType::ALL {
        let p = echo(&d.oip_name().to_ascii_lowercase(), d);
        let e = EngineBuilder::new(Arc::new(p))
            .with_metrics(metrics.clone())
            .build()
            .unwrap();
        models.insert(Deployment::new(e).unwrap());
    }
    let (started_tx, started) = mpsc::channel();
    let (release, release_rx) = mpsc::channel();
    let gated = Gated {
        echo: echo("gated", DType::F32),
        started: Mutex::new(started_tx),
        release: Mutex::new(release_rx),
    };
    let e = EngineBuilder::new(Arc::new(gated))
        .with_metrics(metrics.clone())
        .with_queue_capacity(1)
        .with_max_batch_size(1)
        .with_workers(1)
        .build()
        .unwrap();
    let d = Deployment::new(e).unwrap();
    models.insert(d.clone());
    let one = || Tensors::from([("x".to_owned(), Tensor::f32(vec![1, 1], vec![0.0]).unwrap())]);
    let busy = d.clone();
    std::thread::spawn(move || busy.predict(one(), &RouteOptions::default()));
    started
        .recv_timeout(Duration::from_secs(10))
        .expect("the gated model never started");
    let queued = d.clone();
    std::thread::spawn(move || queued.predict(one(), &RouteOptions::default()));
    let id = ModelIdentity::new("gated", 1).unwrap();
    let t0 = Instant::now();
    while metrics.snapshot(&id).map_or(0, |s| s.queue_depth) < 1 {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the queue never filled"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    (models, release)
}

#[test]
fn tritonclient_http_and_grpc_every_datatype_and_overload() {
    let Some(python) = triton_python("tritonclient_http_and_grpc_every_datatype_and_overload")
    else {
        return;
    };
    let metrics = Metrics::new();
    let (models, release) = echo_models(&metrics);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let grpc_listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let grpc_addr = grpc_listener.local_addr().unwrap().to_string();
    rt.spawn(mlops_serve::grpc::serve(
        grpc_listener,
        models.clone(),
        GrpcConfig::new(),
        std::future::pending(),
    ));
    let app = router(models, HttpConfig::new(metrics));
    rt.spawn(mlops_serve::http::serve(
        listener,
        app,
        std::future::pending(),
    ));
    run_clients(&python, "http", &addr, "dtypes", "");
    run_clients(&python, "grpc", &grpc_addr, "dtypes", "");
    drop(release);
}
