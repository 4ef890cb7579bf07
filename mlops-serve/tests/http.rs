//! The Open Inference Protocol v2 HTTP layer: every route through `tower::ServiceExt::oneshot`,
//! and graceful shutdown and connection reuse over a real socket.
#![cfg(feature = "http")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::Router;
use mlops_core::{DType, Schema, Signature, TensorSpec};
use mlops_serve::candle_core::{Device, Tensor as CandleTensor};
use mlops_serve::deploy::{sticky_unit, Deployment, ModelSet, Strategy};
use mlops_serve::http::{router, serve_with, HttpConfig, ServeOptions};
use mlops_serve::{
    EngineBuilder, Error, Metrics, ModelIdentity, ModulePredictor, Predictor, Result, Tensor,
    Tensors,
};
use serde_json::{json, Value};
use tower::ServiceExt;

const TOKEN: &str = "s3cret-token";

fn spec(name: &str, dtype: DType, shape: Vec<i64>) -> TensorSpec {
    TensorSpec::new(name, dtype, shape)
}

/// `x: FP32 [-1, 1]` → `y: FP32 [-1, 1]`.
fn sig_xy() -> Signature {
    Signature {
        inputs: Schema::new(vec![spec("x", DType::F32, vec![-1, 1])]),
        outputs: Schema::new(vec![spec("y", DType::F32, vec![-1, 1])]),
    }
}

/// A candle `Linear` without bias: `y = w·x`.
fn linear(name: &str, version: u64, w: f32, metrics: &Metrics) -> mlops_serve::Engine {
    let weight = CandleTensor::new(&[[w]], &Device::Cpu).unwrap();
    let lin = mlops_serve::candle_nn::Linear::new(weight, None);
    let p =
        ModulePredictor::new(ModelIdentity::new(name, version).unwrap(), sig_xy(), lin).unwrap();
    EngineBuilder::new(p.into_shared())
        .with_metrics(metrics.clone())
        .build()
        .unwrap()
}

fn engine(p: impl Predictor + 'static, metrics: &Metrics) -> mlops_serve::Engine {
    EngineBuilder::new(std::sync::Arc::new(p))
        .with_metrics(metrics.clone())
        .build()
        .unwrap()
}

/// Fails every request (or panics, with `panic`).
#[derive(Debug)]
struct Failing {
    id: ModelIdentity,
    sig: Signature,
    panic: bool,
}

impl Failing {
    fn new(name: &str, panic: bool) -> Self {
        Self {
            id: ModelIdentity::new(name, 1).unwrap(),
            sig: sig_xy(),
            panic,
        }
    }
}

impl Predictor for Failing {
    fn identity(&self) -> &ModelIdentity {
        &self.id
    }
    fn signature(&self) -> &Signature {
        &self.sig
    }
    fn predict(&self, _: &Tensors) -> Result<Tensors> {
        if self.panic {
            panic!("the model panicked on purpose");
        }
        Err(Error::Model {
            model: self.id.name.to_string(),
            version: 1,
            reason: "always fails".into(),
        })
    }
}

/// Two outputs: `y = 2·x`, `z = −x`.
#[derive(Debug)]
struct TwoOut {
    id: ModelIdentity,
    sig: Signature,
}

impl Predictor for TwoOut {
    fn identity(&self) -> &ModelIdentity {
        &self.id
    }
    fn signature(&self) -> &Signature {
        &self.sig
    }
    fn predict(&self, inputs: &Tensors) -> Result<Tensors> {
        let x = &inputs["x"];
        let v = x.as_f32().unwrap_or_default();
        let shape = x.shape().to_vec();
        Ok(Tensors::from([
            (
                "y".to_owned(),
                Tensor::f32(shape.clone(), v.iter().map(|a| 2.0 * a).collect())?,
            ),
            (
                "z".to_owned(),
                Tensor::f32(shape, v.iter().map(|a| -a).collect())?,
            ),
        ]))
    }
}

/// Returns its input `x` as `y`, any dtype, shape `[-1, -1]`.
#[derive(Debug)]
struct Echo {
    id: ModelIdentity,
    sig: Signature,
}

impl Echo {
    fn new(name: &str, dtype: DType) -> Self {
        Self {
            id: ModelIdentity::new(name, 1).unwrap(),
            sig: Signature {
                inputs: Schema::new(vec![spec("x", dtype, vec![-1, -1])]),
                outputs: Schema::new(vec![spec("y", dtype, vec![-1, -1])]),
            },
        }
    }
}

impl Predictor for Echo {
    fn identity(&self) -> &ModelIdentity {
        &self.id
    }
    fn signature(&self) -> &Signature {
        &self.sig
    }
    fn predict(&self, inputs: &Tensors) -> Result<Tensors> {
        Ok(Tensors::from([("y".to_owned(), inputs["x"].clone())]))
    }
}

/// `y = 2·x`, but each call first reports that it started and then waits for the test to
/// release it (at most 10 s, then it fails).
#[derive(Debug)]
struct Gated {
    id: ModelIdentity,
    sig: Signature,
    started: tokio::sync::mpsc::UnboundedSender<()>,
    release: Mutex<mpsc::Receiver<()>>,
}

struct Gate {
    started: tokio::sync::mpsc::UnboundedReceiver<()>,
    release: mpsc::Sender<()>,
}

impl Gate {
    async fn wait_started(&mut self) {
        tokio::time::timeout(Duration::from_secs(10), self.started.recv())
            .await
            .expect("the model never started")
            .unwrap();
    }
    fn release(&self) {
        self.release.send(()).unwrap();
    }
}

fn gated(name: &str) -> (Gated, Gate) {
    let (stx, srx) = tokio::sync::mpsc::unbounded_channel();
    let (rtx, rrx) = mpsc::channel();
    (
        Gated {
            id: ModelIdentity::new(name, 1).unwrap(),
            sig: sig_xy(),
            started: stx,
            release: Mutex::new(rrx),
        },
        Gate {
            started: srx,
            release: rtx,
        },
    )
}

impl Predictor for Gated {
    fn identity(&self) -> &ModelIdentity {
        &self.id
    }
    fn signature(&self) -> &Signature {
        &self.sig
    }
    fn predict(&self, inputs: &Tensors) -> Result<Tensors> {
        let _ = self.started.send(());
        let released = self
            .release
            .lock()
            .unwrap()
            .recv_timeout(Duration::from_secs(10));
        if released.is_err() {
            return Err(Error::Model {
                model: "gated".into(),
                version: 1,
                reason: "never released".into(),
            });
        }
        let x = &inputs["x"];
        let v: Vec<f32> = x
            .as_f32()
            .unwrap_or_default()
            .iter()
            .map(|a| 2.0 * a)
            .collect();
        Ok(Tensors::from([(
            "y".to_owned(),
            Tensor::f32(x.shape().to_vec(), v)?,
        )]))
    }
}

/// Model `m`: stable v1 (`y = 2·x`) and candidate v2 (`y = 3·x`) as a canary at weight 0.
struct Fx {
    app: Router,
    models: ModelSet,
    metrics: Metrics,
    m: Deployment,
}

fn fixture_with(config: impl FnOnce(HttpConfig) -> HttpConfig) -> Fx {
    let metrics = Metrics::new();
    let m = Deployment::new(linear("m", 1, 2.0, &metrics)).unwrap();
    m.set_candidate(
        linear("m", 2, 3.0, &metrics),
        Strategy::Canary { weight: 0.0 },
        "test",
    )
    .unwrap();
    let models = ModelSet::new();
    models.insert(m.clone());
    let app = router(models.clone(), config(HttpConfig::new(metrics.clone())));
    Fx {
        app,
        models,
        metrics,
        m,
    }
}

fn fixture() -> Fx {
    fixture_with(|c| c.with_admin_token(TOKEN))
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn error(&self) -> &str {
        self.body["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error message in {}", self.body))
    }
}

/// One request with a raw body: status, headers and the raw response body.
async fn call_raw(
    app: &Router,
    method: &str,
    uri: &str,
    body: Vec<u8>,
    headers: &[(&str, &str)],
) -> (StatusCode, HeaderMap, Vec<u8>) {
    let mut req = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Body::from(body)).unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, headers, bytes.to_vec())
}

async fn call(
    app: &Router,
    method: &str,
    uri: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> Reply {
    let (status, headers, bytes) =
        call_raw(app, method, uri, body.as_bytes().to_vec(), headers).await;
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    Reply {
        status,
        headers,
        body,
    }
}

async fn get(app: &Router, uri: &str) -> Reply {
    call(app, "GET", uri, "", &[]).await
}

async fn post(app: &Router, uri: &str, body: &Value) -> Reply {
    call(app, "POST", uri, &body.to_string(), &[]).await
}

async fn admin(app: &Router, method: &str, uri: &str, body: &str) -> Reply {
    let auth = format!("Bearer {TOKEN}");
    call(
        app,
        method,
        uri,
        body,
        &[("authorization", &auth), ("x-mlops-actor", "alice")],
    )
    .await
}

/// An infer request with one FP32 input `x` of shape `[n, 1]`.
fn xs(values: &[f32]) -> Value {
    json!({"inputs": [{"name": "x", "shape": [values.len(), 1], "datatype": "FP32", "data": values}]})
}

fn output<'a>(reply: &'a Reply, name: &str) -> &'a Value {
    reply.body["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == name)
        .unwrap_or_else(|| panic!("no output {name} in {}", reply.body))
}

#[tokio::test]
async fn health_and_server_metadata() {
    let fx = fixture();
    let r = get(&fx.app, "/v2/health/live").await;
    assert_eq!(r.status, StatusCode::OK);
    let r = get(&fx.app, "/v2/health/ready").await;
    assert_eq!(
        (r.status, &r.body),
        (StatusCode::OK, &json!({"ready": true}))
    );
    let r = get(&fx.app, "/v2").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.body,
        json!({"name": "mlops-rs", "version": env!("CARGO_PKG_VERSION"),
            "extensions": ["binary_tensor_data", "model_repository", "statistics"]})
    );
    assert_eq!(r.header("content-type"), Some("application/json"));

    // No model loaded: not ready.
    fx.models.remove("m");
    let r = get(&fx.app, "/v2/health/ready").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.error().contains("no model"), "{}", r.body);
    assert_eq!(get(&fx.app, "/v2/health/live").await.status, StatusCode::OK);
}

#[tokio::test]
async fn readiness_follows_the_configured_handle() {
    let readiness = mlops_serve::http::Readiness::new();
    let fx = fixture_with(|c| c.with_readiness(readiness.clone()));
    assert_eq!(
        get(&fx.app, "/v2/health/ready").await.status,
        StatusCode::OK
    );
    readiness.start_draining();
    let r = get(&fx.app, "/v2/health/ready").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.error(), "server is shutting down");
    // Liveness and inference still work while draining.
    assert_eq!(get(&fx.app, "/v2/health/live").await.status, StatusCode::OK);
    let r = post(&fx.app, "/v2/models/m/infer", &xs(&[1.0])).await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn model_metadata_and_readiness() {
    let fx = fixture();
    let io = json!([{"name": "x", "datatype": "FP32", "shape": [-1, 1]}]);
    let r = get(&fx.app, "/v2/models/m").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.body,
        json!({
            "name": "m",
            "versions": ["1", "2"],
            "platform": "mlops-rs",
            "inputs": io,
            "outputs": [{"name": "y", "datatype": "FP32", "shape": [-1, 1]}],
        })
    );
    let r = get(&fx.app, "/v2/models/m/versions/2").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["versions"], json!(["2"]));
    assert_eq!(r.body["inputs"], io);

    for uri in [
        "/v2/models/nope",
        "/v2/models/m/versions/3",
        "/v2/models/m/versions/abc",
        "/v2/models/nope/ready",
        "/v2/models/m/versions/3/ready",
        "/v2/models/nope/versions/1/ready",
    ] {
        let r = get(&fx.app, uri).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{uri}");
        assert!(r.error().contains("not"), "{uri}: {}", r.body);
    }

    let r = get(&fx.app, "/v2/models/m/ready").await;
    assert_eq!(
        (r.status, r.body),
        (StatusCode::OK, json!({"name": "m", "ready": true}))
    );
    let r = get(&fx.app, "/v2/models/m/versions/1/ready").await;
    assert_eq!(
        (r.status, r.body),
        (StatusCode::OK, json!({"name": "m", "ready": true}))
    );
}

#[tokio::test]
async fn infer_returns_exact_values_with_id_and_arm() {
    let fx = fixture();
    let mut body = xs(&[1.0, 2.5, -3.0]);
    body["id"] = json!("req-42");
    body["parameters"] = json!({"anything": [1, 2]});
    let r = post(&fx.app, "/v2/models/m/infer", &body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.body,
        json!({
            "model_name": "m",
            "model_version": "1",
            "id": "req-42",
            "outputs": [{"name": "y", "shape": [3, 1], "datatype": "FP32", "data": [2.0, 5.0, -6.0]}],
        })
    );
    assert_eq!(r.header("x-mlops-arm"), Some("stable"));

    // Without an id, none is echoed.
    let r = post(&fx.app, "/v2/models/m/infer", &xs(&[1.0])).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.get("id").is_none(), "{}", r.body);
}

#[tokio::test]
async fn nested_data_equals_flat_data() {
    let fx = fixture();
    let nested = json!({"inputs": [{"name": "x", "shape": [3, 1], "datatype": "FP32", "data": [[1], [2], [3]]}]});
    let r = post(&fx.app, "/v2/models/m/infer", &nested).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(output(&r, "y")["data"], json!([2.0, 4.0, 6.0]));
    let flat = post(&fx.app, "/v2/models/m/infer", &xs(&[1.0, 2.0, 3.0])).await;
    assert_eq!(flat.body, r.body);
}

#[tokio::test]
async fn outputs_filter_returns_only_what_was_asked() {
    let metrics = Metrics::new();
    let two = TwoOut {
        id: ModelIdentity::new("two", 1).unwrap(),
        sig: Signature {
            inputs: Schema::new(vec![spec("x", DType::F32, vec![-1, 1])]),
            outputs: Schema::new(vec![
                spec("y", DType::F32, vec![-1, 1]),
                spec("z", DType::F32, vec![-1, 1]),
            ]),
        },
    };
    let models = ModelSet::new();
    models.insert(Deployment::new(engine(two, &metrics)).unwrap());
    let app = router(models, HttpConfig::new(metrics));

    let r = post(&app, "/v2/models/two/infer", &xs(&[1.0, 2.0])).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["outputs"].as_array().unwrap().len(), 2);
    assert_eq!(output(&r, "y")["data"], json!([2.0, 4.0]));
    assert_eq!(output(&r, "z")["data"], json!([-1.0, -2.0]));

    let mut body = xs(&[1.0, 2.0]);
    body["outputs"] = json!([{"name": "z"}]);
    let r = post(&app, "/v2/models/two/infer", &body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.body["outputs"],
        json!([{"name": "z", "shape": [2, 1], "datatype": "FP32", "data": [-1.0, -2.0]}])
    );

    body["outputs"] = json!([{"name": "w"}]);
    let r = post(&app, "/v2/models/two/infer", &body).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.error().contains("\"w\""), "{}", r.body);
}

#[tokio::test]
async fn canary_weight_decides_arm_and_version() {
    let fx = fixture();
    // Weight 0: the stable v1 (y = 2x) answers.
    for _ in 0..5 {
        let r = post(&fx.app, "/v2/models/m/infer", &xs(&[1.0])).await;
        assert_eq!(r.header("x-mlops-arm"), Some("stable"));
        assert_eq!(r.body["model_version"], "1");
        assert_eq!(output(&r, "y")["data"], json!([2.0]));
    }
    fx.m.set_strategy(Strategy::Canary { weight: 1.0 }, "test")
        .unwrap();
    for _ in 0..5 {
        let r = post(&fx.app, "/v2/models/m/infer", &xs(&[1.0])).await;
        assert_eq!(r.header("x-mlops-arm"), Some("candidate"));
        assert_eq!(r.body["model_version"], "2");
        assert_eq!(output(&r, "y")["data"], json!([3.0]));
    }
}

#[tokio::test]
async fn ab_routing_key_is_sticky() {
    let fx = fixture();
    fx.m.set_strategy(Strategy::AbTest { weight: 0.5 }, "test")
        .unwrap();
    let mut arms = std::collections::BTreeSet::new();
    for i in 0..16 {
        let key = format!("user-{i}");
        let expected = if sticky_unit(&key, 2) < 0.5 {
            "candidate"
        } else {
            "stable"
        };
        arms.insert(expected);
        for _ in 0..2 {
            let r = call(
                &fx.app,
                "POST",
                "/v2/models/m/infer",
                &xs(&[1.0]).to_string(),
                &[("x-mlops-routing-key", &key)],
            )
            .await;
            assert_eq!(r.status, StatusCode::OK);
            assert_eq!(r.header("x-mlops-arm"), Some(expected), "{key}");
        }
    }
    assert_eq!(arms.len(), 2, "16 keys should land on both arms");
}

#[tokio::test]
async fn version_addressed_infer_ignores_the_strategy() {
    let fx = fixture();
    let r = post(&fx.app, "/v2/models/m/versions/2/infer", &xs(&[2.0])).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.header("x-mlops-arm"), Some("candidate"));
    assert_eq!(r.body["model_version"], "2");
    assert_eq!(output(&r, "y")["data"], json!([6.0]));
    let r = post(&fx.app, "/v2/models/m/versions/1/infer", &xs(&[2.0])).await;
    assert_eq!(r.header("x-mlops-arm"), Some("stable"));
    assert_eq!(output(&r, "y")["data"], json!([4.0]));

    for uri in [
        "/v2/models/m/versions/3/infer",
        "/v2/models/m/versions/x/infer",
        "/v2/models/nope/infer",
        "/v2/models/nope/versions/1/infer",
    ] {
        let r = post(&fx.app, uri, &xs(&[2.0])).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{uri}");
        assert!(r.body["error"].is_string(), "{uri}");
    }
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let fx = fixture();
    let r = get(&fx.app, "/v2/nowhere").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.error(), "no such route");
    let r = get(&fx.app, "/v2/models/m/infer").await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(r.body["error"].is_string());
}

#[tokio::test]
async fn malformed_requests_are_400_with_a_message() {
    let fx = fixture();
    let infer = "/v2/models/m/infer";
    let cases: Vec<(&str, String, &str)> = vec![
        ("bad JSON", "{\"inputs\": [".into(), "invalid request body"),
        ("not an object", "[1, 2]".into(), "invalid request body"),
        ("missing inputs", json!({"id": "a"}).to_string(), "missing field `inputs`"),
        (
            "inputs of the wrong type",
            json!({"inputs": {"x": 1}}).to_string(),
            "invalid request body",
        ),
        (
            "shape of the wrong type",
            json!({"inputs": [{"name": "x", "shape": "1,1", "datatype": "FP32", "data": [1]}]})
                .to_string(),
            "invalid request body",
        ),
        (
            "missing datatype",
            json!({"inputs": [{"name": "x", "shape": [1, 1], "data": [1]}]}).to_string(),
            "missing field `datatype`",
        ),
        (
            "a datatype the model does not take",
            json!({"inputs": [{"name": "x", "shape": [1, 1], "datatype": "BOOL", "data": [true]}]})
                .to_string(),
            "invalid input \"x\": dtype BOOL where the signature expects FP32",
        ),
        (
            "unknown datatype",
            json!({"inputs": [{"name": "x", "shape": [1, 1], "datatype": "FLOAT", "data": [1]}]})
                .to_string(),
            "invalid input \"x\": datatype \"FLOAT\"",
        ),
        (
            "shape product differs from the element count",
            json!({"inputs": [{"name": "x", "shape": [2, 1], "datatype": "FP32", "data": [1, 2, 3]}]})
                .to_string(),
            "invalid input \"x\": shape [2, 1] needs 2 elements, data has 3",
        ),
        (
            "wrong feature count",
            json!({"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP32", "data": [1, 2]}]})
                .to_string(),
            "invalid input \"x\"",
        ),
        (
            "NaN as a string",
            json!({"inputs": [{"name": "x", "shape": [2, 1], "datatype": "FP32", "data": [1, "NaN"]}]})
                .to_string(),
            "invalid input \"x\": data element 1 is a string, not a number",
        ),
        (
            "NaN literal",
            r#"{"inputs": [{"name": "x", "shape": [1, 1], "datatype": "FP32", "data": [NaN]}]}"#
                .into(),
            "invalid request body",
        ),
        (
            "fractional INT64",
            json!({"inputs": [{"name": "x", "shape": [1, 1], "datatype": "INT64", "data": [1.5]}]})
                .to_string(),
            "invalid input \"x\": data element 0 (1.5) is not a valid INT64 value",
        ),
        (
            "FP32 out of range",
            json!({"inputs": [{"name": "x", "shape": [1, 1], "datatype": "FP32", "data": [1e39]}]})
                .to_string(),
            "invalid input \"x\": data element 0 (1000000000000000000000000000000000000000) is not a valid FP32 value",
        ),
        (
            "unknown input",
            json!({"inputs": [{"name": "q", "shape": [1, 1], "datatype": "FP32", "data": [1]}]})
                .to_string(),
            "invalid input \"q\"",
        ),
        (
            "no inputs",
            json!({"inputs": []}).to_string(),
            "invalid input \"x\": missing",
        ),
        (
            "FP64 where the model takes FP32",
            json!({"inputs": [{"name": "x", "shape": [1, 1], "datatype": "FP64", "data": [1]}]})
                .to_string(),
            "invalid input \"x\": dtype FP64",
        ),
    ];
    for (what, body, needle) in cases {
        let r = call(&fx.app, "POST", infer, &body, &[]).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{what}: {}", r.body);
        assert!(
            r.error().contains(needle),
            "{what}: {:?} lacks {needle:?}",
            r.error()
        );
    }
    // The routing key must be text.
    let mut req = Request::builder()
        .method("POST")
        .uri(infer)
        .body(Body::from(xs(&[1.0]).to_string()))
        .unwrap();
    req.headers_mut().insert(
        "x-mlops-routing-key",
        axum::http::HeaderValue::from_bytes(b"\xff\xfe").unwrap(),
    );
    let resp = fx.app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    // The server keeps serving.
    let r = post(&fx.app, infer, &xs(&[1.0])).await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn integer_datatypes_round_trip_exactly() {
    let metrics = Metrics::new();
    let models = ModelSet::new();
    models.insert(Deployment::new(engine(Echo::new("ids", DType::I64), &metrics)).unwrap());
    models.insert(Deployment::new(engine(Echo::new("bytes", DType::U8), &metrics)).unwrap());
    models.insert(Deployment::new(engine(Echo::new("wide", DType::F64), &metrics)).unwrap());
    let app = router(models, HttpConfig::new(metrics));

    let big = 9_007_199_254_740_993_i64; // 2^53 + 1: not representable in f64
    let body = json!({"inputs": [{"name": "x", "shape": [2, 2], "datatype": "INT64", "data": [[big, -7], [0, i64::MIN]]}]});
    let r = post(&app, "/v2/models/ids/infer", &body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.body["outputs"][0],
        json!({"name": "y", "shape": [2, 2], "datatype": "INT64", "data": [big, -7, 0, i64::MIN]})
    );

    let body = json!({"inputs": [{"name": "x", "shape": [1, 3], "datatype": "UINT8", "data": [0, 128, 255]}]});
    let r = post(&app, "/v2/models/bytes/infer", &body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["outputs"][0]["data"], json!([0, 128, 255]));
    assert_eq!(r.body["outputs"][0]["datatype"], "UINT8");
    let body =
        json!({"inputs": [{"name": "x", "shape": [1, 1], "datatype": "UINT8", "data": [256]}]});
    let r = post(&app, "/v2/models/bytes/infer", &body).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.error().contains("\"x\""), "{}", r.body);

    let body = json!({"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP64", "data": [0.1, 1e300]}]});
    let r = post(&app, "/v2/models/wide/infer", &body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["outputs"][0]["data"], json!([0.1, 1e300]));
}

#[tokio::test]
async fn bodies_over_the_limit_are_413() {
    let fx = fixture_with(|c| c.with_max_body_bytes(1024));
    let values = vec![1.0f32; 400];
    let body = xs(&values);
    assert!(body.to_string().len() > 1024);
    let r = post(&fx.app, "/v2/models/m/infer", &body).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(r.error().contains("1024 bytes"), "{}", r.body);
    let r = post(&fx.app, "/v2/models/m/infer", &xs(&[1.0; 10])).await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn large_bodies_are_parsed_correctly() {
    // 64 rows x 16 floats (parsed inline) and 64 x 2048 (over the inline-parse threshold).
    let metrics = Metrics::new();
    let models = ModelSet::new();
    models.insert(Deployment::new(engine(Echo::new("echo", DType::F32), &metrics)).unwrap());
    let app = router(models, HttpConfig::new(metrics));
    for cols in [16usize, 2048] {
        let values: Vec<f32> = (0..64 * cols).map(|i| i as f32 * 0.25).collect();
        let rows: Vec<&[f32]> = values.chunks(cols).collect();
        let body = json!({"id": "big", "inputs": [{"name": "x", "shape": [64, cols], "datatype": "FP32", "data": rows}]});
        let r = post(&app, "/v2/models/echo/infer", &body).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["outputs"][0]["shape"], json!([64, cols]));
        assert_eq!(r.body["outputs"][0]["data"], json!(values));
        assert_eq!(r.body["id"], "big");
    }
    // More rows than one batch holds: 400.
    let fx = fixture();
    let r = post(&fx.app, "/v2/models/m/infer", &xs(&[1.0; 65])).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.error().contains("exceeds max_batch_size 64"),
        "{}",
        r.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overload_is_503_with_retry_after() {
    let metrics = Metrics::new();
    let (p, mut gate) = gated("slow");
    let e = EngineBuilder::new(std::sync::Arc::new(p))
        .with_metrics(metrics.clone())
        .with_queue_capacity(1)
        .with_max_batch_size(1)
        .with_workers(1)
        .build()
        .unwrap();
    let models = ModelSet::new();
    models.insert(Deployment::new(e).unwrap());
    let app = router(models, HttpConfig::new(metrics));

    let first = {
        let app = app.clone();
        tokio::spawn(async move { post(&app, "/v2/models/slow/infer", &xs(&[1.0])).await })
    };
    gate.wait_started().await; // the only worker is busy; the queue is empty

    // Five at once: one fits in the queue, four are refused at once.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for i in 0..5 {
        let (app, tx) = (app.clone(), tx.clone());
        tokio::spawn(async move {
            let r = post(&app, "/v2/models/slow/infer", &xs(&[i as f32])).await;
            let _ = tx.send(r);
        });
    }
    for _ in 0..4 {
        let r = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
        assert!(r.error().contains("overloaded"), "{}", r.body);
        let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
        assert!(retry >= 1);
    }
    gate.release();
    gate.release();
    let r = tokio::time::timeout(Duration::from_secs(10), first)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(output(&r, "y")["data"], json!([2.0]));
    let r = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

#[tokio::test]
async fn failing_models_are_500_and_the_server_keeps_serving() {
    let fx = fixture();
    fx.models
        .insert(Deployment::new(engine(Failing::new("bad", false), &fx.metrics)).unwrap());
    fx.models
        .insert(Deployment::new(engine(Failing::new("boom", true), &fx.metrics)).unwrap());
    for _ in 0..2 {
        let r = post(&fx.app, "/v2/models/bad/infer", &xs(&[1.0])).await;
        assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(r.error().contains("always fails"), "{}", r.body);
        let r = post(&fx.app, "/v2/models/boom/infer", &xs(&[1.0])).await;
        assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(r.error().contains("panicked"), "{}", r.body);
        let r = post(&fx.app, "/v2/models/m/infer", &xs(&[1.0])).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(output(&r, "y")["data"], json!([2.0]));
    }
}

#[tokio::test]
async fn admin_needs_the_token() {
    let fx = fixture();
    let uri = "/v2/admin/models/m";
    let r = get(&fx.app, uri).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    assert!(r.body["error"].is_string());
    for auth in [
        "Bearer wrong",
        "Basic czNjcmV0LXRva2Vu",
        "Bearer",
        "s3cret-token",
    ] {
        let r = call(&fx.app, "GET", uri, "", &[("authorization", auth)]).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{auth}");
        assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    }
    // Mutations are refused too, and change nothing.
    let r = call(&fx.app, "POST", "/v2/admin/models/m/promote", "", &[]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(fx.m.stable_version().version, 1);

    let r = admin(&fx.app, "GET", uri, "").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["model"], "m");
    assert_eq!(r.body["stable"]["version"], 1);
    assert_eq!(r.body["candidate"]["version"], 2);
    assert_eq!(
        r.body["candidate"]["strategy"],
        json!({"mode": "canary", "weight": 0.0})
    );
    // Scheme is case-insensitive.
    let auth = format!("bearer {TOKEN}");
    let r = call(&fx.app, "GET", uri, "", &[("authorization", &auth)]).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = admin(&fx.app, "GET", "/v2/admin/models/nope", "").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn admin_is_403_without_a_configured_token() {
    for fx in [
        fixture_with(|c| c),
        fixture_with(|c| c.with_admin_token("  ")),
    ] {
        let r = admin(&fx.app, "GET", "/v2/admin/models/m", "").await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert_eq!(r.error(), "admin API disabled: no token configured");
        let r = call(&fx.app, "POST", "/v2/admin/models/m/rollback", "", &[]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert!(fx.m.candidate().is_some());
    }
}

#[tokio::test]
async fn strategy_change_moves_traffic() {
    let fx = fixture();
    let r = admin(
        &fx.app,
        "PUT",
        "/v2/admin/models/m/strategy",
        r#"{"mode":"canary","weight":1.0}"#,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["kind"], "strategy_changed");
    assert_eq!(r.body["version"], 2);
    assert_eq!(r.body["from"], json!({"mode": "canary", "weight": 0.0}));
    assert_eq!(r.body["to"], json!({"mode": "canary", "weight": 1.0}));
    assert_eq!(r.body["actor"], "alice");
    let r = post(&fx.app, "/v2/models/m/infer", &xs(&[1.0])).await;
    assert_eq!(r.header("x-mlops-arm"), Some("candidate"));
    assert_eq!(r.body["model_version"], "2");

    let r = admin(
        &fx.app,
        "PUT",
        "/v2/admin/models/m/strategy",
        r#"{"mode":"blue_green"}"#,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = post(&fx.app, "/v2/models/m/infer", &xs(&[1.0])).await;
    assert_eq!(r.header("x-mlops-arm"), Some("stable"));

    for (body, status) in [
        (r#"{"mode":"canary","weight":2.0}"#, StatusCode::BAD_REQUEST),
        (r#"{"mode":"sideways"}"#, StatusCode::BAD_REQUEST),
        (r#"{"mode":"canary""#, StatusCode::BAD_REQUEST),
        ("", StatusCode::BAD_REQUEST),
    ] {
        let r = admin(&fx.app, "PUT", "/v2/admin/models/m/strategy", body).await;
        assert_eq!(r.status, status, "{body}: {}", r.body);
        assert!(r.body["error"].is_string());
    }
    assert_eq!(fx.m.candidate().unwrap().1, Strategy::BlueGreen);
}

#[tokio::test]
async fn promote_and_rollback_are_events() {
    let fx = fixture();
    let r = admin(
        &fx.app,
        "POST",
        "/v2/admin/models/m/promote",
        r#"{"reason":"looks good"}"#,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["kind"], "promoted");
    assert_eq!(
        (r.body["from"].clone(), r.body["to"].clone()),
        (json!(1), json!(2))
    );
    assert_eq!(r.body["actor"], "alice");
    assert_eq!(r.body["reason"], "looks good");
    assert_eq!(r.body["automatic"], false);
    assert_eq!(r.body["model"], "m");

    let r = post(&fx.app, "/v2/models/m/infer", &xs(&[1.0])).await;
    assert_eq!(r.header("x-mlops-arm"), Some("stable"));
    assert_eq!(r.body["model_version"], "2");
    // The old stable version is kept loaded as previous and still addressable.
    let r = post(&fx.app, "/v2/models/m/versions/1/infer", &xs(&[1.0])).await;
    assert_eq!(r.header("x-mlops-arm"), Some("previous"));

    // No candidate left: promoting again is a conflict.
    let r = admin(&fx.app, "POST", "/v2/admin/models/m/promote", "").await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.error().contains("no candidate"), "{}", r.body);

    // Rollback without a body uses the default reason; the actor defaults to "admin".
    let auth = format!("Bearer {TOKEN}");
    let r = call(
        &fx.app,
        "POST",
        "/v2/admin/models/m/rollback",
        "",
        &[("authorization", &auth)],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["kind"], "rolled_back");
    assert_eq!(
        (r.body["from"].clone(), r.body["to"].clone()),
        (json!(2), json!(1))
    );
    assert_eq!(r.body["actor"], "admin");
    assert_eq!(r.body["reason"], "rolled back through the admin API");
    let r = post(&fx.app, "/v2/models/m/infer", &xs(&[1.0])).await;
    assert_eq!(r.body["model_version"], "1");

    let r = admin(&fx.app, "POST", "/v2/admin/models/m/rollback", "").await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = admin(&fx.app, "POST", "/v2/admin/models/m/rollback", "{not json").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    let r = admin(&fx.app, "GET", "/v2/admin/models/m/events", "").await;
    assert_eq!(r.status, StatusCode::OK);
    let kinds: Vec<&str> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["candidate_set", "promoted", "rolled_back"]);
    let seqs: Vec<u64> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [1, 2, 3]);
}

#[tokio::test]
async fn policy_is_replaced() {
    let fx = fixture();
    let r = admin(
        &fx.app,
        "PUT",
        "/v2/admin/models/m/policy",
        r#"{"min_requests": 50, "max_error_rate": 0.05, "steps": [0.1, 0.5, 1.0], "interval_ms": 2000}"#,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["min_requests"], 50);
    assert_eq!(r.body["steps"], json!([0.1, 0.5, 1.0]));
    let p = fx.m.policy();
    assert_eq!((p.min_requests, p.max_error_rate), (50, 0.05));
    assert_eq!(p.interval, Duration::from_secs(2));

    let r = admin(
        &fx.app,
        "PUT",
        "/v2/admin/models/m/policy",
        r#"{"max_error_rate": 7}"#,
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.error().contains("max_error_rate"), "{}", r.body);
    assert_eq!(fx.m.policy().min_requests, 50);
}

#[tokio::test]
async fn metrics_are_openmetrics_text() {
    let fx = fixture();
    let r = post(&fx.app, "/v2/models/m/infer", &xs(&[1.0])).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = get(&fx.app, "/metrics").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.header("content-type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    let text = r.body.as_str().unwrap();
    assert!(text.contains("mlops_serve_routed_requests"), "{text}");
    assert!(
        text.contains(r#"mlops_serve_routed_requests_total{model="m",arm="stable",version="1"} 1"#),
        "{text}"
    );
    assert!(text.trim_end().ends_with("# EOF"));
}

// ---- over a real socket ----------------------------------------------------------------------

struct Raw {
    status: u16,
    body: String,
}

/// One HTTP/1.1 exchange on `stream` (keep-alive unless `close`).
fn exchange(
    stream: &mut TcpStream,
    method: &str,
    path: &str,
    body: &str,
    close: bool,
) -> std::io::Result<Raw> {
    let connection = if close { "close" } else { "keep-alive" };
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: {connection}\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()?;
    let mut reader = BufReader::new(&*stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
    let mut length = 0usize;
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().unwrap();
            }
        }
    }
    let mut buf = vec![0; length];
    reader.read_exact(&mut buf)?;
    Ok(Raw {
        status,
        body: String::from_utf8(buf).unwrap(),
    })
}

fn connect(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    Ok(s)
}

fn once(addr: SocketAddr, method: &str, path: &str, body: &str) -> std::io::Result<Raw> {
    exchange(&mut connect(addr)?, method, path, body, true)
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

/// A real server over one engine on a free loopback port: its address, the sender that starts
/// its shutdown, and the task running `serve_with`.
async fn spawn_server(
    engine: mlops_serve::Engine,
    metrics: Metrics,
    options: ServeOptions,
) -> (
    std::net::SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let models = ModelSet::new();
    models.insert(Deployment::new(engine).unwrap());
    let app = router(models, HttpConfig::new(metrics));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve_with(
        listener,
        app,
        async move {
            let _ = stopped.await;
        },
        options,
    ));
    (addr, stop, server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_drains_in_flight_requests_and_readiness_turns_503() {
    let metrics = Metrics::new();
    let (p, mut gate) = gated("slow");
    let (addr, stop, server) = spawn_server(
        engine(p, &metrics),
        metrics,
        ServeOptions::default().with_drain_delay(Duration::from_secs(2)),
    )
    .await;

    let r = blocking(move || once(addr, "GET", "/v2/health/ready", "").unwrap()).await;
    assert_eq!(r.status, 200, "{}", r.body);

    let body =
        json!({"inputs": [{"name": "x", "shape": [2, 1], "datatype": "FP32", "data": [1, 2]}]})
            .to_string();
    let in_flight =
        tokio::task::spawn_blocking(move || once(addr, "POST", "/v2/models/slow/infer", &body));
    gate.wait_started().await;
    stop.send(()).unwrap();

    // During the drain delay the listener still accepts, and readiness says 503.
    let saw_503 = blocking(move || {
        for _ in 0..500 {
            match once(addr, "GET", "/v2/health/ready", "") {
                Ok(r) if r.status == 503 => {
                    assert!(r.body.contains("shutting down"), "{}", r.body);
                    return true;
                }
                Ok(r) => assert_eq!(r.status, 200, "{}", r.body),
                Err(_) => return false,
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    })
    .await;
    assert!(saw_503, "readiness never reported 503 while draining");

    // Then the listener closes, while the in-flight request still holds the server open.
    let closed = blocking(move || {
        (0..2000).any(|_| {
            let refused = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err();
            if !refused {
                std::thread::sleep(Duration::from_millis(5));
            }
            refused
        })
    })
    .await;
    assert!(closed, "the listener never closed");
    assert!(
        !server.is_finished(),
        "serve returned with a request in flight"
    );

    gate.release();
    let r = in_flight.await.unwrap().unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let v: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["outputs"][0]["data"], json!([2.0, 4.0]));
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("serve did not return after draining")
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_body_does_not_break_the_connection_or_the_server() {
    let metrics = Metrics::new();
    let (addr, stop, server) = spawn_server(
        linear("m", 1, 2.0, &metrics),
        metrics,
        ServeOptions::default(),
    )
    .await;

    blocking(move || {
        let mut s = connect(addr).unwrap();
        for bad in [
            "{\"inputs\": [",
            "\u{0}\u{1}garbage",
            "{\"inputs\": [{\"name\": \"x\"}]}",
        ] {
            let r = exchange(&mut s, "POST", "/v2/models/m/infer", bad, false).unwrap();
            assert_eq!(r.status, 400, "{}", r.body);
            let v: Value = serde_json::from_str(&r.body).unwrap();
            assert!(
                v["error"]
                    .as_str()
                    .unwrap()
                    .contains("invalid request body"),
                "{v}"
            );
        }
        // Same connection, next request succeeds.
        let good = xs(&[1.5]).to_string();
        let r = exchange(&mut s, "POST", "/v2/models/m/infer", &good, false).unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
        let v: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(v["outputs"][0]["data"], json!([3.0]));
        // And a fresh connection too.
        let r = once(addr, "POST", "/v2/models/m/infer", &good).unwrap();
        assert_eq!(r.status, 200);
    })
    .await;

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("serve did not return")
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_timeout_bounds_shutdown_with_a_stuck_request() {
    let metrics = Metrics::new();
    let (p, mut gate) = gated("stuck");
    let (addr, stop, server) = spawn_server(
        engine(p, &metrics),
        metrics,
        ServeOptions::default().with_drain_timeout(Duration::from_millis(300)),
    )
    .await;
    let body = json!({"inputs": [{"name": "x", "shape": [1, 1], "datatype": "FP32", "data": [1]}]})
        .to_string();
    let in_flight =
        tokio::task::spawn_blocking(move || once(addr, "POST", "/v2/models/stuck/infer", &body));
    gate.wait_started().await;
    let t0 = std::time::Instant::now();
    stop.send(()).unwrap();
    // The model is still blocked, yet serve returns once the drain timeout has passed.
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("serve ignored its drain timeout")
        .unwrap()
        .unwrap();
    assert!(
        t0.elapsed() >= Duration::from_millis(300),
        "{:?}",
        t0.elapsed()
    );
    // serve's connection tasks live on this runtime until it shuts down (as `mlops serve`'s
    // does right after serve returns); let the model go so the test ends cleanly.
    gate.release();
    let _ = tokio::time::timeout(Duration::from_secs(15), in_flight).await;
}

/// Every datatype as the test sends it: name, the raw little-endian bytes of three elements,
/// and the same elements as JSON.
fn every_datatype() -> Vec<(DType, Vec<u8>, Value)> {
    fn le<T: Copy, const N: usize>(v: &[T], f: fn(T) -> [u8; N]) -> Vec<u8> {
        v.iter().flat_map(|&x| f(x)).collect()
    }
    let f16 = |x: f32| mlops_serve::half::f16::from_f32(x).to_le_bytes();
    let strings = ["a", "", "héllo"];
    let mut bytes = Vec::new();
    for s in strings {
        bytes.extend_from_slice(&(s.len() as u32).to_le_bytes());
        bytes.extend_from_slice(s.as_bytes());
    }
    vec![
        (DType::Bool, vec![1, 0, 1], json!([true, false, true])),
        (DType::U8, vec![0, 7, 255], json!([0, 7, 255])),
        (
            DType::U16,
            le(&[0u16, 7, u16::MAX], u16::to_le_bytes),
            json!([0, 7, u16::MAX]),
        ),
        (
            DType::U32,
            le(&[0u32, 7, u32::MAX], u32::to_le_bytes),
            json!([0, 7, u32::MAX]),
        ),
        (
            DType::U64,
            le(&[0u64, 7, u64::MAX], u64::to_le_bytes),
            json!([0, 7, u64::MAX]),
        ),
        (
            DType::I8,
            le(&[i8::MIN, -1, i8::MAX], i8::to_le_bytes),
            json!([i8::MIN, -1, i8::MAX]),
        ),
        (
            DType::I16,
            le(&[i16::MIN, -1, i16::MAX], i16::to_le_bytes),
            json!([i16::MIN, -1, i16::MAX]),
        ),
        (
            DType::I32,
            le(&[i32::MIN, -1, i32::MAX], i32::to_le_bytes),
            json!([i32::MIN, -1, i32::MAX]),
        ),
        (
            DType::I64,
            le(&[i64::MIN, -1, i64::MAX], i64::to_le_bytes),
            json!([i64::MIN, -1, i64::MAX]),
        ),
        (
            DType::F16,
            le(&[0.5f32, -2.0, 65504.0], f16),
            json!([0.5, -2.0, 65504.0]),
        ),
        (
            DType::F32,
            le(&[0.5f32, -2.0, 0.1], f32::to_le_bytes),
            json!([0.5, -2.0, 0.1]),
        ),
        (
            DType::F64,
            le(&[0.5f64, -2.0, 0.1], f64::to_le_bytes),
            json!([0.5, -2.0, 0.1]),
        ),
        (DType::Bytes, bytes, json!(strings)),
    ]
}

/// Echo servers for every datatype, named after it in lower case (`fp16`, `bytes`, …).
fn echo_app() -> (Router, ModelSet) {
    let metrics = Metrics::new();
    let models = ModelSet::new();
    for d in DType::ALL {
        let name = d.oip_name().to_ascii_lowercase();
        models.insert(Deployment::new(engine(Echo::new(&name, d), &metrics)).unwrap());
    }
    (router(models.clone(), HttpConfig::new(metrics)), models)
}

/// Splits a binary-extension response into its JSON header and binary part.
fn split_binary(headers: &HeaderMap, body: &[u8]) -> (Value, Vec<u8>) {
    assert_eq!(headers["content-type"], "application/octet-stream");
    let n: usize = headers["inference-header-content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    (
        serde_json::from_slice(&body[..n]).unwrap(),
        body[n..].to_vec(),
    )
}

#[tokio::test]
async fn every_datatype_round_trips_in_binary_and_json() {
    let (app, _) = echo_app();
    for (dtype, raw, data) in every_datatype() {
        let dt = dtype.oip_name();
        let uri = format!("/v2/models/{}/infer", dt.to_ascii_lowercase());
        // Binary in, binary out (what tritonclient sends by default).
        let header = json!({"inputs": [{"name": "x", "shape": [1, 3], "datatype": dt,
            "parameters": {"binary_data_size": raw.len()}}],
            "parameters": {"binary_data_output": true}})
        .to_string();
        let len = header.len().to_string();
        let mut body = header.into_bytes();
        body.extend_from_slice(&raw);
        let (status, headers, resp) = call_raw(
            &app,
            "POST",
            &uri,
            body,
            &[("inference-header-content-length", &len)],
        )
        .await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{dt}: {}",
            String::from_utf8_lossy(&resp)
        );
        let (head, tail) = split_binary(&headers, &resp);
        assert_eq!(
            head["outputs"][0],
            json!({"name": "y", "shape": [1, 3], "datatype": dt,
                "parameters": {"binary_data_size": raw.len()}}),
            "{dt}"
        );
        assert_eq!(tail, raw, "{dt}");
        // JSON in, JSON out.
        let body =
            json!({"inputs": [{"name": "x", "shape": [1, 3], "datatype": dt, "data": data}]});
        let r = post(&app, &uri, &body).await;
        assert_eq!(r.status, StatusCode::OK, "{dt}: {}", r.body);
        assert_eq!(r.body["outputs"][0]["data"], data, "{dt}");
        assert_eq!(r.header("content-type"), Some("application/json"));
        // JSON in, binary out by output parameter.
        let body = json!({"inputs": [{"name": "x", "shape": [1, 3], "datatype": dt, "data": data}],
            "outputs": [{"name": "y", "parameters": {"binary_data": true}}]});
        let (status, headers, resp) =
            call_raw(&app, "POST", &uri, body.to_string().into_bytes(), &[]).await;
        assert_eq!(status, StatusCode::OK, "{dt}");
        assert_eq!(split_binary(&headers, &resp).1, raw, "{dt}");
    }
}

#[tokio::test]
async fn malformed_binary_requests_are_clear_400s() {
    let (app, _) = echo_app();
    let uri = "/v2/models/fp32/infer";
    let header = json!({"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP32",
        "parameters": {"binary_data_size": 8}}]})
    .to_string();
    let n = header.len();
    let with = |tail: &[u8]| {
        let mut b = header.clone().into_bytes();
        b.extend_from_slice(tail);
        b
    };
    type Case<'a> = (
        &'a str,
        Vec<u8>,
        Vec<(&'a str, String)>,
        StatusCode,
        &'a str,
    );
    let cases: Vec<Case<'_>> = vec![
        (
            "truncated",
            with(&[0; 5]),
            vec![("inference-header-content-length", n.to_string())],
            StatusCode::BAD_REQUEST,
            "only 5 bytes",
        ),
        (
            "too long",
            with(&[0; 12]),
            vec![("inference-header-content-length", n.to_string())],
            StatusCode::BAD_REQUEST,
            "add up to 8",
        ),
        (
            "header past the body",
            with(&[0; 8]),
            vec![("inference-header-content-length", (n + 100).to_string())],
            StatusCode::BAD_REQUEST,
            "has only",
        ),
        (
            "header not a number",
            with(&[0; 8]),
            vec![("inference-header-content-length", "ten".into())],
            StatusCode::BAD_REQUEST,
            "not a byte count",
        ),
        (
            "header cuts the JSON",
            with(&[0; 8]),
            vec![("inference-header-content-length", (n - 1).to_string())],
            StatusCode::BAD_REQUEST,
            "invalid request body",
        ),
        (
            "no header",
            with(&[0; 8]),
            vec![],
            StatusCode::BAD_REQUEST,
            "invalid request body",
        ),
        (
            "gzip",
            with(&[0; 8]),
            vec![("content-encoding", "gzip".into())],
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Encoding",
        ),
    ];
    for (what, body, headers, status, needle) in cases {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (got, _, resp) = call_raw(&app, "POST", uri, body, &headers).await;
        let v: Value = serde_json::from_slice(&resp).unwrap();
        assert_eq!(got, status, "{what}: {v}");
        assert!(v["error"].as_str().unwrap().contains(needle), "{what}: {v}");
    }
    // Parameters the server does not implement are named.
    for (params, needle) in [
        (json!({"sequence_id": 7}), "sequence_id"),
        (json!({"binary_data_output": 1}), "binary_data_output"),
    ] {
        let body = json!({"inputs": [{"name": "x", "shape": [1, 1], "datatype": "FP32", "data": [1]}], "parameters": params});
        let r = post(&app, uri, &body).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
        assert!(r.error().contains(needle), "{}", r.body);
    }
    let body = json!({"inputs": [{"name": "x", "shape": [1, 1], "datatype": "FP32", "data": [1]}],
        "outputs": [{"name": "y", "parameters": {"classification": 3}}]});
    let r = post(&app, uri, &body).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.error().contains("classification"), "{}", r.body);
    // A BYTES output that is not UTF-8 has no JSON form: 400 pointing at binary_data.
    let body = json!({"inputs": [{"name": "x", "shape": [1, 1], "datatype": "BYTES",
        "parameters": {"binary_data_size": 5}}]})
    .to_string();
    let len = body.len().to_string();
    let mut raw = body.into_bytes();
    raw.extend_from_slice(&[1, 0, 0, 0, 0xff]);
    let (status, _, resp) = call_raw(
        &app,
        "POST",
        "/v2/models/bytes/infer",
        raw,
        &[("inference-header-content-length", &len)],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(String::from_utf8_lossy(&resp).contains("binary_data = true"));
    // The server keeps serving.
    let r = post(
        &app,
        uri,
        &json!({"inputs": [{"name": "x", "shape": [1, 1], "datatype": "FP32", "data": [1]}]}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn repository_index_load_unload_and_statistics() {
    let fx = fixture();
    fx.models
        .mark_unavailable("broken", "no version behind alias production");
    let r = post(&fx.app, "/v2/repository/index", &json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.body,
        json!([
            {"name": "m", "version": "1", "state": "READY"},
            {"name": "m", "version": "2", "state": "READY"},
            {"name": "broken", "state": "UNAVAILABLE", "reason": "no version behind alias production"},
        ])
    );
    // An empty body is allowed; {"ready": true} lists only what serves.
    let r = call(&fx.app, "POST", "/v2/repository/index", "", &[]).await;
    assert_eq!(r.body.as_array().unwrap().len(), 3);
    let r = post(&fx.app, "/v2/repository/index", &json!({"ready": true})).await;
    assert_eq!(r.body.as_array().unwrap().len(), 2);

    // Statistics count what the engines measured: 3 requests of 2 rows, 1 failed at admission.
    for _ in 0..3 {
        assert_eq!(
            post(&fx.app, "/v2/models/m/infer", &xs(&[1.0, 2.0]))
                .await
                .status,
            StatusCode::OK
        );
    }
    let bad =
        json!({"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP32", "data": [1, 2]}]});
    assert_eq!(
        post(&fx.app, "/v2/models/m/infer", &bad).await.status,
        StatusCode::BAD_REQUEST
    );
    let r = get(&fx.app, "/v2/models/m/versions/1/stats").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let st = &r.body["model_stats"];
    assert_eq!(st.as_array().unwrap().len(), 1);
    let s = &st[0];
    assert_eq!(
        (s["name"].as_str(), s["version"].as_str()),
        (Some("m"), Some("1"))
    );
    assert_eq!(s["inference_count"], 6);
    assert_eq!(s["execution_count"], 3);
    let is = &s["inference_stats"];
    assert_eq!(is["success"]["count"], 3);
    assert!(is["success"]["ns"].as_u64().unwrap() > 0);
    assert_eq!(is["fail"]["count"], 1);
    assert_eq!(is["queue"]["count"], 3);
    assert_eq!(is["compute_infer"]["count"], 3);
    assert!(is["compute_infer"]["ns"].as_u64().unwrap() > 0);
    assert_eq!(is["compute_input"], json!({"count": 0, "ns": 0}));
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let last = s["last_inference"].as_u64().unwrap();
    assert!(
        last <= now_ms && now_ms - last < 60_000,
        "{last} vs {now_ms}"
    );
    let r = get(&fx.app, "/v2/models/m/stats").await;
    let versions: Vec<&str> = r.body["model_stats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, ["1", "2"]);
    assert_eq!(r.body["model_stats"][1]["inference_count"], 0);
    assert_eq!(
        get(&fx.app, "/v2/models/stats").await.body["model_stats"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        get(&fx.app, "/v2/models/nope/stats").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(&fx.app, "/v2/models/m/versions/9/stats").await.status,
        StatusCode::NOT_FOUND
    );

    // Load and unload need the admin token.
    let r = post(&fx.app, "/v2/repository/models/m/unload", &json!({})).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = admin(&fx.app, "POST", "/v2/repository/models/m/unload", "").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        post(&fx.app, "/v2/models/m/infer", &xs(&[1.0]))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(&fx.app, "/v2/models/m/ready").await.status,
        StatusCode::NOT_FOUND
    );
    let r = post(&fx.app, "/v2/repository/index", &json!({})).await;
    assert_eq!(
        r.body,
        json!([
            {"name": "broken", "state": "UNAVAILABLE", "reason": "no version behind alias production"},
            {"name": "m", "state": "UNAVAILABLE", "reason": "unloaded"},
        ])
    );
    // Unloading twice is fine; loading serves the same deployment again (canary kept).
    assert_eq!(
        admin(&fx.app, "POST", "/v2/repository/models/m/unload", "")
            .await
            .status,
        StatusCode::OK
    );
    let r = admin(&fx.app, "POST", "/v2/repository/models/m/load", "{}").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        post(&fx.app, "/v2/models/m/infer", &xs(&[1.0]))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(fx.m.versions().len(), 2);
    assert_eq!(
        post(&fx.app, "/v2/repository/index", &json!({}))
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        3
    );
    // Loading a served model is a no-op; others are 404 / 409; config overrides 400.
    assert_eq!(
        admin(&fx.app, "POST", "/v2/repository/models/m/load", "")
            .await
            .status,
        StatusCode::OK
    );
    let r = admin(&fx.app, "POST", "/v2/repository/models/zzz/load", "").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.error().contains("--model"), "{}", r.body);
    let r = admin(&fx.app, "POST", "/v2/repository/models/broken/load", "").await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(
        r.error().contains("no version behind alias production"),
        "{}",
        r.body
    );
    let r = admin(
        &fx.app,
        "POST",
        "/v2/repository/models/m/load",
        r#"{"parameters": {"config": "{}"}}"#,
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.error().contains("config"), "{}", r.body);
    assert_eq!(
        admin(&fx.app, "POST", "/v2/repository/models/zzz/unload", "")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

/// A sink that keeps what it is offered, refusing everything once `capacity` is reached (a
/// full queue).
struct Keep {
    records: std::sync::Mutex<Vec<mlops_serve::sink::PredictionRecord>>,
    capacity: usize,
}

impl mlops_serve::sink::PredictionSink for Keep {
    fn sampled(&self, model: &str) -> bool {
        model == "m"
    }
    fn offer(&self, record: mlops_serve::sink::PredictionRecord) -> bool {
        let mut r = self.records.lock().unwrap();
        if r.len() >= self.capacity {
            return false;
        }
        r.push(record);
        true
    }
}

#[tokio::test]
async fn a_prediction_sink_gets_ids_inputs_outputs_and_parameters_and_drops_are_counted() {
    let sink = Arc::new(Keep {
        records: std::sync::Mutex::new(Vec::new()),
        capacity: 3,
    });
    let fx = fixture_with(|c| c.with_prediction_sink(sink.clone()));

    // The client's id is kept; user parameters go to the sink, protocol ones do not.
    let mut body = xs(&[1.0, 2.5]);
    body["id"] = json!("req-1");
    body["parameters"] =
        json!({"segment.country": "fr", "kpi.amount": 12.5, "binary_data_output": false});
    let r = post(&fx.app, "/v2/models/m/infer", &body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["id"], "req-1");

    // Without an id the server generates one and returns it.
    let r = post(&fx.app, "/v2/models/m/infer", &xs(&[4.0])).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let generated = r.body["id"].as_str().unwrap().to_owned();
    assert_eq!(generated.len(), 32, "{generated}");

    // A failed request is logged with its error.
    let bad = json!({"id": "bad", "inputs": [{"name": "x", "shape": [1, 1], "datatype": "FP32", "data": [1.0, 2.0]}]});
    let r = post(&fx.app, "/v2/models/m/infer", &bad).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);

    // The sink is full now: the next request still succeeds, and the drop is counted.
    let r = post(&fx.app, "/v2/models/m/infer", &xs(&[5.0])).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // A model that is not served is not logged.
    let r = post(&fx.app, "/v2/models/nope/infer", &xs(&[5.0])).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    let records = sink.records.lock().unwrap().clone();
    assert_eq!(records.len(), 3);
    let first = &records[0];
    assert_eq!(
        (
            first.id.as_str(),
            first.model.as_str(),
            first.version,
            first.arm.as_str()
        ),
        ("req-1", "m", 1, "stable")
    );
    assert_eq!(first.inputs["x"].shape(), &[2, 1]);
    assert_eq!(
        first.outputs["y"],
        Tensor::f32(vec![2, 1], vec![2.0, 5.0]).unwrap()
    );
    assert_eq!(
        first.parameters,
        std::collections::BTreeMap::from([
            ("kpi.amount".to_owned(), json!(12.5)),
            ("segment.country".to_owned(), json!("fr")),
        ])
    );
    assert!(first.error.is_none() && first.latency > Duration::ZERO);
    assert_eq!(records[1].id, generated);
    assert_eq!(records[2].id, "bad");
    assert!(records[2].outputs.is_empty());
    assert!(
        records[2].error.as_deref().unwrap().contains("x"),
        "{:?}",
        records[2].error
    );

    let text = fx.metrics.encode().unwrap();
    let line = |prefix: &str| {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in\n{text}"))
            .to_owned()
    };
    assert!(line("mlops_serve_prediction_log_queued_total{model=\"m\"}").ends_with(" 3"));
    assert!(line("mlops_serve_prediction_log_dropped_total{model=\"m\"}").ends_with(" 1"));
    // Four requests for m reached the handler (the 404 one counts under its own name).
    assert!(
        line("mlops_serve_request_duration_seconds_count{model=\"m\",protocol=\"http\"}")
            .ends_with(" 4")
    );
    assert!(line("process_resident_memory_bytes ").len() > "process_resident_memory_bytes ".len());
    assert!(text.ends_with("# EOF\n"));
    assert_eq!(text.matches("# EOF").count(), 1);
}

#[tokio::test]
async fn exporters_add_families_before_eof() {
    let fx = fixture();
    fx.metrics.add_exporter(Arc::new(|out: &mut String| {
        out.push_str(
            "# HELP extra_gauge An extra family.\n# TYPE extra_gauge gauge\nextra_gauge 7\n",
        );
    }));
    let r = call(&fx.app, "GET", "/metrics", "", &[]).await;
    let text = r.body.as_str().unwrap().to_owned();
    let extra = text.find("extra_gauge 7").unwrap();
    assert!(extra < text.find("# EOF").unwrap());
    assert!(text.contains("process_cpu_seconds_total "));
}
