//! Helpers shared by the tests that run a real `mlops serve` process over a file registry.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mlops_core::{AliasName, ModelName};
use mlops_registry::{Change, FileRegistry, NewVersion, Registry};
use mlops_serve::candle_core;
use serde_json::{json, Value};

pub const BIN: &str = env!("CARGO_BIN_EXE_mlops");

pub fn name() -> ModelName {
    "scorer".parse().unwrap()
}

pub fn alias(a: &str) -> AliasName {
    a.parse().unwrap()
}

/// Registers `y = w0·x0 + w1·x1` in the built-in feed-forward format.
pub fn register(reg: &dyn Registry, dir: &Path, w: [f32; 2]) -> u64 {
    let path = dir.join(format!("w-{}-{}.safetensors", w[0], w[1]));
    let t = candle_core::Tensor::new(&[w], &candle_core::Device::Cpu).unwrap();
    candle_core::safetensors::save(&HashMap::from([("w".to_owned(), t)]), &path).unwrap();
    reg.register(
        NewVersion::new(name())
            .with_format("safetensors")
            .with_artifact_bytes("model.safetensors", std::fs::read(&path).unwrap())
            .with_artifact_bytes(
                "spec.json",
                br#"{"input": "x", "output": "y", "layers": [{"weight": "w"}]}"#.to_vec(),
            ),
    )
    .unwrap()
    .version
    .version
}

pub struct Server {
    pub child: Child,
    pub addr: String,
    pub banner: Value,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn start(store: &Path, extra: &[&str]) -> Server {
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--store",
            store.to_str().unwrap(),
            "--model",
            "scorer@production",
        ])
        .args([
            "--addr",
            "127.0.0.1:0",
            "--format",
            "json",
            "--poll-ms",
            "50",
        ])
        .args(extra)
        .env("MLOPS_TEST_TOKEN", "s3cret-token")
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
    let addr = banner["addr"].as_str().unwrap().to_owned();
    Server {
        child,
        addr,
        banner,
    }
}

pub struct Response {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`).
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_nodelay(true).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !body.is_empty() {
        req.push_str("Content-Type: application/json\r\n");
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .get("transfer-encoding")
        .is_some_and(|v| v == "chunked")
    {
        body = dechunk(&body);
    }
    Response {
        status,
        headers,
        body,
    }
}

pub fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let eol = b.windows(2).position(|w| w == b"\r\n").unwrap();
        let n = usize::from_str_radix(std::str::from_utf8(&b[..eol]).unwrap().trim(), 16).unwrap();
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + n]);
        b = &b[eol + 4 + n..];
    }
}

pub fn infer(addr: &str, x: [f32; 2]) -> Response {
    let body = json!({"id": "req-1", "inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP32", "data": x}]});
    http(
        addr,
        "POST",
        "/v2/models/scorer/infer",
        &[],
        body.to_string().as_bytes(),
    )
}

pub fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A file registry under `dir/reg` holding `y = w·x` for each of `weights` (versions 1, 2, …),
/// with `production` → v1. Returns the store path and the registry.
pub fn store_with(dir: &Path, weights: &[[f32; 2]]) -> (std::path::PathBuf, FileRegistry) {
    let store = dir.join("reg");
    let reg = FileRegistry::open(&store).unwrap();
    for (i, w) in weights.iter().enumerate() {
        assert_eq!(register(&reg, dir, *w), i as u64 + 1);
    }
    reg.set_alias(&name(), &alias("production"), 1, &ci())
        .unwrap();
    (store, reg)
}

pub fn ci() -> Change {
    Change::new("ci", "test")
}
