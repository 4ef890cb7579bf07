//! The ONNX conformance matrix: models exported by skl2onnx, onnxmltools (LightGBM) and
//! `torch.onnx.export`, run by our ONNX runtime, equal onnxruntime's outputs on the same inputs.
//!
//! Fixtures and reference outputs: `tools/reference/onnx_models.py` (pinned versions in
//! `tools/reference/requirements-onnx.txt`). Each `<model>.json` holds the test inputs, the
//! outputs of `onnxruntime.InferenceSession(path, providers=['CPUExecutionProvider']).run(None,
//! feeds)` (its `reference_call` field) and the tolerance `|got − ref| ≤ 1e-5 + 1e-6·|ref|` (the
//! relative part only matters for the CNN's ±1e6 rows, whose logits reach 4.5e6, where one f32
//! step is 0.5).
#![cfg(feature = "onnx")]

mod common;

use std::path::PathBuf;

use mlops_serve::{
    conformance, ClassLabels, Error, ModelIdentity, OnnxPredictor, Predictor, Tensor, TensorData,
    Tensors,
};
use serde_json::Value;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/onnx")
}

fn load(name: &str) -> (OnnxPredictor, Value) {
    let json: Value =
        serde_json::from_slice(&std::fs::read(dir().join(format!("{name}.json"))).unwrap())
            .unwrap();
    let p = OnnxPredictor::load(
        ModelIdentity::new(name.replace('_', "-"), 1).unwrap(),
        &dir().join(format!("{name}.onnx")),
    )
    .unwrap_or_else(|e| panic!("{name}: {e}"));
    (p, json)
}

fn shape(v: &Value) -> Vec<usize> {
    v["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect()
}

fn tensor(v: &Value) -> Tensor {
    let data = v["data"].as_array().unwrap();
    let d = match v["dtype"].as_str().unwrap() {
        "float32" => TensorData::F32(data.iter().map(|x| x.as_f64().unwrap() as f32).collect()),
        "float64" => TensorData::F64(data.iter().map(|x| x.as_f64().unwrap()).collect()),
        "int64" => TensorData::I64(data.iter().map(|x| x.as_i64().unwrap()).collect()),
        "str" => TensorData::Bytes(
            data.iter()
                .map(|x| x.as_str().unwrap().as_bytes().to_vec())
                .collect(),
        ),
        other => panic!("fixture dtype {other}"),
    };
    Tensor::new(shape(v), d).unwrap()
}

fn inputs(json: &Value) -> Tensors {
    json["test_inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["name"].as_str().unwrap().to_string(), tensor(i)))
        .collect()
}

fn floats(t: &Tensor) -> Vec<f64> {
    match t.data() {
        TensorData::F32(v) => v.iter().map(|&x| f64::from(x)).collect(),
        TensorData::F64(v) => v.clone(),
        other => panic!("not a float tensor: {:?}", other.dtype()),
    }
}

/// Asserts every output equals onnxruntime's; returns the largest absolute difference.
fn assert_matches(name: &str) -> f64 {
    let (p, json) = load(name);
    let out = p
        .predict(&inputs(&json))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let tol = &json["tolerance"];
    let (abs, rel) = (tol["abs"].as_f64().unwrap(), tol["rel"].as_f64().unwrap());
    let mut worst = 0f64;
    let mut close = |what: &str, got: f64, want: f64| {
        let d = (got - want).abs();
        worst = worst.max(d);
        assert!(
            d <= abs + rel * want.abs(),
            "{name} {what}: {got} vs onnxruntime {want}"
        );
    };
    for r in json["reference_outputs"].as_array().unwrap() {
        let oname = r["name"].as_str().unwrap();
        let got = out
            .get(oname)
            .unwrap_or_else(|| panic!("{name}: no output {oname}"));
        match r["kind"].as_str().unwrap() {
            "tensor" => {
                assert_eq!(got.shape(), shape(r).as_slice(), "{name} {oname} shape");
                let want = r["data"].as_array().unwrap();
                match r["dtype"].as_str().unwrap() {
                    "float32" | "float64" => {
                        for (i, (g, w)) in floats(got).iter().zip(want).enumerate() {
                            close(&format!("{oname}[{i}]"), *g, w.as_f64().unwrap());
                        }
                    }
                    "int64" => {
                        let w: Vec<i64> = want.iter().map(|x| x.as_i64().unwrap()).collect();
                        assert_eq!(got.data(), &TensorData::I64(w), "{name} {oname}");
                    }
                    "str" => {
                        let w: Vec<&str> = want.iter().map(|x| x.as_str().unwrap()).collect();
                        assert_eq!(got.to_strings().unwrap(), w, "{name} {oname}");
                    }
                    other => panic!("{other}"),
                }
            }
            "seq(map)" => {
                // ZipMap: served as FP32 [N, C], column j = the probability of label j.
                let labels = p.class_labels().get(oname).expect("ZipMap labels");
                let keys: Vec<String> = r["keys"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|k| match k {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect();
                let ours: Vec<String> = (0..labels.len())
                    .map(|j| labels.label(j).unwrap())
                    .collect();
                assert_eq!(ours, keys, "{name} {oname} labels");
                match (labels, r["key_type"].as_str().unwrap()) {
                    (ClassLabels::Int64(_), "int64") | (ClassLabels::Strings(_), "string") => {}
                    (l, k) => panic!("{name}: label type {l:?} vs key type {k}"),
                }
                let c = keys.len();
                let rows = r["data"].as_array().unwrap();
                assert_eq!(
                    got.shape(),
                    [rows.len(), c].as_slice(),
                    "{name} {oname} shape"
                );
                let g = floats(got);
                for (i, row) in rows.iter().enumerate() {
                    for (j, k) in keys.iter().enumerate() {
                        close(
                            &format!("{oname}[{i}][{k}]"),
                            g[i * c + j],
                            row[k].as_f64().unwrap(),
                        );
                    }
                }
            }
            other => panic!("{other}"),
        }
    }
    // The predictor contract: batched equals one by one, every output, thread-safe. Rows 6..
    // are the fixture's ordinary rows (0..6 hold the ±1e6 edge rows, checked above).
    let all = inputs(&json);
    let samples: Vec<Tensors> = (6..12)
        .map(|i| {
            all.iter()
                .map(|(k, t)| (k.clone(), t.slice_rows(i..i + 1).unwrap()))
                .collect()
        })
        .collect();
    conformance::check_predictor(&p, &samples, 1e-5).unwrap_or_else(|e| panic!("{name}: {e}"));
    println!("{name}: max |ours - onnxruntime| = {worst:e}");
    worst
}

#[test]
fn sklearn_logistic_regression_with_zipmap() {
    assert_matches("skl_logreg");
}

#[test]
fn sklearn_logistic_regression_without_zipmap() {
    assert_matches("skl_logreg_nozipmap");
}

#[test]
fn sklearn_random_forest() {
    assert_matches("skl_random_forest");
}

#[test]
fn sklearn_gradient_boosting() {
    assert_matches("skl_gradient_boosting");
}

#[test]
fn sklearn_pipeline_with_string_columns() {
    assert_matches("skl_pipeline_mixed");
}

#[test]
fn lightgbm_classifier() {
    assert_matches("lgbm_classifier");
}

#[test]
fn lightgbm_classifier_without_zipmap() {
    assert_matches("lgbm_classifier_nozipmap");
}

#[test]
fn lightgbm_regressor() {
    assert_matches("lgbm_regressor");
}

#[test]
fn pytorch_mlp() {
    assert_matches("torch_mlp");
}

#[test]
fn pytorch_cnn() {
    assert_matches("torch_cnn");
}

#[test]
fn signatures_come_from_the_graph() {
    let (p, _) = load("skl_pipeline_mixed");
    let sig = p.signature();
    let names: Vec<&str> = sig.inputs.fields.iter().map(|f| f.name.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, ["color", "num_a", "num_b", "num_c", "size"]);
    let color = sig
        .inputs
        .fields
        .iter()
        .find(|f| f.name == "color")
        .unwrap();
    assert_eq!(color.dtype, mlops_core::DType::Bytes);
    assert_eq!(color.shape, vec![-1, 1]);
    let prob = sig
        .outputs
        .fields
        .iter()
        .find(|f| f.name == "output_probability")
        .unwrap();
    assert_eq!(prob.dtype, mlops_core::DType::F32);
    assert_eq!(prob.shape, vec![-1, 3]);
    // onnxmltools declares LightGBM's label as [1]; it has one row per input row.
    let (p, _) = load("lgbm_classifier");
    let label = p
        .signature()
        .outputs
        .fields
        .iter()
        .find(|f| f.name == "label")
        .unwrap();
    assert_eq!(label.shape, vec![-1]);
}

/// An op the runtime lacks is a typed, one-line error at load, never a panic or a protobuf dump.
#[test]
fn unsupported_operators_are_named_at_load() {
    use prost::Message;
    let decode = |b: &[u8]| mlops_serve::onnx_proto::ModelProto::decode(b).unwrap();
    let encode = |m: &mlops_serve::onnx_proto::ModelProto| m.encode_to_vec();
    let bytes = std::fs::read(dir().join("skl_logreg_nozipmap.onnx")).unwrap();
    for (op, domain, shown) in [
        ("SVMClassifier", "ai.onnx.ml", "ai.onnx.ml"),
        ("FancyOp", "com.example", "com.example"),
        ("NotAnOnnxOp", "", "ai.onnx"),
    ] {
        let mut m = decode(&bytes);
        m.graph.as_mut().unwrap().node[0].op_type = op.into();
        m.graph.as_mut().unwrap().node[0].domain = domain.into();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.onnx");
        std::fs::write(&path, encode(&m)).unwrap();
        match OnnxPredictor::load(ModelIdentity::new("m", 1).unwrap(), &path) {
            Err(e @ Error::Unsupported { .. }) => {
                let msg = e.to_string();
                assert_eq!(
                    msg,
                    format!("unsupported ONNX operator {op} (domain {shown})")
                );
            }
            other => panic!("{op}: expected Unsupported, got {other:?}"),
        }
    }
}

/// Truncated, tampered and empty files are load errors, never panics.
#[test]
fn damaged_files_are_load_errors() {
    let bytes = std::fs::read(dir().join("lgbm_regressor.onnx")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let id = ModelIdentity::new("m", 1).unwrap();
    for (what, data) in [
        ("empty", Vec::new()),
        ("truncated", bytes[..bytes.len() / 3].to_vec()),
        ("garbage", vec![0xff; 4096]),
    ] {
        let path = tmp.path().join(what);
        std::fs::write(&path, &data).unwrap();
        match OnnxPredictor::load(id.clone(), &path) {
            Err(Error::Load { reason, .. }) => {
                assert!(
                    !reason.contains('\n') && reason.len() < 400,
                    "{what}: {reason}"
                )
            }
            other => panic!("{what}: {other:?}"),
        }
    }
}

/// Bad requests are typed input errors: a string where numbers are expected, non-UTF-8 bytes
/// for a string column, and NaN rows go through the trees' missing-value branches.
#[test]
fn bad_inputs_are_typed_errors() {
    let (p, json) = load("skl_pipeline_mixed");
    let mut x = inputs(&json);
    x.insert(
        "color".into(),
        Tensor::new(vec![64, 1], TensorData::Bytes(vec![vec![0xff, 0xfe]; 64])).unwrap(),
    );
    assert!(matches!(p.predict(&x), Err(Error::InvalidInput { field, .. }) if field == "color"));
    let mut x = inputs(&json);
    x.insert(
        "num_a".into(),
        Tensor::new(vec![64, 1], TensorData::I64(vec![1; 64])).unwrap(),
    );
    assert!(matches!(p.predict(&x), Err(Error::InvalidInput { field, .. }) if field == "num_a"));

    let (p, _) = load("lgbm_regressor");
    let nan = Tensor::f32(vec![2, 8], vec![f32::NAN; 16]).unwrap();
    let out = p.predict(&Tensors::from([("input".into(), nan)])).unwrap();
    assert!(floats(&out["variable"]).iter().all(|v| v.is_finite()));
}
