//! Several models in one `mlops serve` process: each with its own deployment (aliases, canary,
//! controller, metrics), a model that fails to load reported in the repository index while the
//! others serve, and a real skl2onnx pipeline with string columns served over OIP JSON.

mod common;

use std::path::Path;

use common::*;
use mlops_core::ModelName;
use mlops_registry::{NewVersion, Registry};
use serde_json::{json, Value};

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../mlops-serve/tests/fixtures/onnx")
        .join(name)
}

fn register_as(reg: &dyn Registry, model: &str, format: &str, file: &str, bytes: Vec<u8>) {
    let m: ModelName = model.parse().unwrap();
    let v = reg
        .register(
            NewVersion::new(m.clone())
                .with_format(format)
                .with_artifact_bytes(file, bytes),
        )
        .unwrap()
        .version
        .version;
    reg.set_alias(&m, &alias("production"), v, &ci()).unwrap();
}

#[test]
fn one_server_serves_several_models_and_reports_the_one_that_fails() {
    let dir = tempfile::tempdir().unwrap();
    let (store, reg) = store_with(dir.path(), &[[1.0, 0.0], [2.0, 0.0]]);
    reg.set_alias(&name(), &alias("canary"), 2, &ci()).unwrap();
    register_as(
        &reg,
        "pipeline",
        "onnx",
        "model.onnx",
        std::fs::read(fixture("skl_pipeline_mixed.onnx")).unwrap(),
    );
    register_as(
        &reg,
        "broken",
        "onnx",
        "model.onnx",
        b"not an onnx model".to_vec(),
    );

    let srv = start(
        &store,
        &[
            "--model",
            "pipeline@production",
            "--model",
            "broken@production",
            "--canary",
            "scorer@canary",
            "--canary-weight",
            "50",
        ],
    );
    let a = srv.addr.as_str();
    let served: Vec<&str> = srv.banner["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["model"].as_str().unwrap())
        .collect();
    assert_eq!(served, ["scorer", "pipeline"]);
    assert_eq!(srv.banner["unavailable"][0]["model"], "broken");

    // The repository index lists all three; the broken one with its reason.
    let r = http(a, "POST", "/v2/repository/index", &[], b"{}");
    assert_eq!(r.status, 200);
    let index = r.json();
    let state = |m: &str| -> Value {
        index
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == m)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(state("scorer")["state"], "READY");
    assert_eq!(state("pipeline")["state"], "READY");
    assert_eq!(state("broken")["state"], "UNAVAILABLE");
    assert!(
        state("broken")["reason"].as_str().unwrap().contains("ONNX"),
        "{index}"
    );
    assert_eq!(
        http(a, "GET", "/v2/models/broken/ready", &[], b"").status,
        404
    );

    // The scorer's canary splits its traffic; the pipeline is untouched by it.
    let mut arms = std::collections::BTreeSet::new();
    for _ in 0..60 {
        let r = infer(a, [1.0, 1.0]);
        assert_eq!(r.status, 200);
        arms.insert(r.json()["model_version"].as_str().unwrap().to_string());
    }
    assert_eq!(arms.into_iter().collect::<Vec<_>>(), ["1", "2"]);

    // The skl2onnx pipeline (string columns as OIP BYTES) equals onnxruntime.
    let fx: Value =
        serde_json::from_slice(&std::fs::read(fixture("skl_pipeline_mixed.json")).unwrap())
            .unwrap();
    let rows = 8;
    let inputs: Vec<Value> = fx["test_inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let datatype = if i["dtype"] == "str" { "BYTES" } else { "FP32" };
            json!({"name": i["name"], "shape": [rows, 1], "datatype": datatype,
                   "data": i["data"].as_array().unwrap()[..rows]})
        })
        .collect();
    let r = http(
        a,
        "POST",
        "/v2/models/pipeline/infer",
        &[],
        json!({"inputs": inputs}).to_string().as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let out = r.json();
    let output = |n: &str| {
        out["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == n)
            .unwrap()
            .clone()
    };
    let refs = fx["reference_outputs"].as_array().unwrap();
    assert_eq!(output("output_label")["datatype"], "BYTES");
    assert_eq!(
        output("output_label")["data"],
        json!(refs[0]["data"].as_array().unwrap()[..rows])
    );
    let probs = output("output_probability");
    assert_eq!(probs["shape"], json!([rows, 3]));
    let keys = refs[1]["keys"].as_array().unwrap();
    for (i, row) in refs[1]["data"].as_array().unwrap()[..rows]
        .iter()
        .enumerate()
    {
        for (j, k) in keys.iter().enumerate() {
            let got = probs["data"][i * 3 + j].as_f64().unwrap();
            let want = row[k.as_str().unwrap()].as_f64().unwrap();
            assert!(
                (got - want).abs() <= 1e-5,
                "row {i} {k}: {got} vs onnxruntime {want}"
            );
        }
    }

    // Each model keeps its own metrics series.
    let m = String::from_utf8(http(a, "GET", "/metrics", &[], b"").body).unwrap();
    assert!(m.contains("model=\"pipeline\"") && m.contains("model=\"scorer\""));
}

#[test]
fn a_model_given_twice_or_a_candidate_of_no_served_model_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _reg) = store_with(dir.path(), &[[1.0, 0.0]]);
    let s = store.to_str().unwrap();
    for (extra, needle) in [
        (
            &["--model", "scorer@production", "--model", "scorer@staging"][..],
            "twice",
        ),
        (
            &["--model", "scorer@production", "--shadow", "other@x"][..],
            "served --model",
        ),
        (
            &[
                "--model",
                "scorer@production",
                "--canary",
                "scorer@a",
                "--shadow",
                "scorer@b",
            ][..],
            "already has a candidate",
        ),
    ] {
        let out = std::process::Command::new(BIN)
            .args(["serve", "--store", s, "--addr", "127.0.0.1:0"])
            .args(extra)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{extra:?} succeeded");
        assert!(err.contains(needle), "{extra:?}: {err}");
    }
}
