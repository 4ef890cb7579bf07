//! Reference-output tests for the three model kinds, values pinned from numpy/scipy/onnx
//! (tools/reference/serve_reference.py), plus load-error edges.

mod common;

use common::fixture;
use mlops_core::{DType, Schema, Signature, TensorSpec};
use mlops_serve::{Error, FeedForward, ModelIdentity, ModulePredictor, Predictor, Tensor, Tensors};

const TOL: f64 = 1e-5;

fn x4() -> Tensor {
    // X4 in serve_reference.py
    Tensor::from_rows(&[
        vec![0.5, -1.0, 2.0, 0.0],
        vec![1.5, 0.25, -0.75, 3.0],
        vec![-2.0, 0.0, 0.1, -0.3],
    ])
    .unwrap()
}

fn x3() -> Tensor {
    // X3 in serve_reference.py
    Tensor::from_rows(&[vec![0.2, -0.4, 1.0], vec![3.0, 1.0, -2.0]]).unwrap()
}

fn assert_close(got: &[f32], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (*g as f64 - w).abs() <= TOL,
            "element {i}: got {g}, want {w}"
        );
    }
}

fn load(name: &str) -> FeedForward {
    FeedForward::load(
        ModelIdentity::new(name, 1).unwrap(),
        &fixture(&format!("{name}.json")),
        &fixture(&format!("{name}.safetensors")),
    )
    .unwrap()
}

#[test]
fn mlp_matches_numpy() {
    let m = load("mlp");
    let sig = m.signature();
    assert_eq!(sig.inputs.fields[0].name, "x");
    assert_eq!(sig.inputs.fields[0].shape, vec![-1, 4]);
    assert_eq!(
        sig.inputs.fields[0].feature_names.as_ref().unwrap().len(),
        4
    );
    assert_eq!(sig.outputs.fields[0].name, "probs");
    assert_eq!(sig.outputs.fields[0].shape, vec![-1, 3]);
    let out = m.predict(&Tensors::from([("x".into(), x4())])).unwrap();
    assert_eq!(out["probs"].shape(), &[3, 3]);
    // softmax(np.maximum(X4 @ W0.T + b0, 0) @ W1.T + b1, axis=1)  (scipy.special.softmax)
    assert_close(
        out["probs"].as_f32().unwrap(),
        &[
            0.007299178936978644,
            0.08335843960771323,
            0.9093423814553081,
            0.28079849544502095,
            0.42310691661566646,
            0.2960945879393126,
            0.2667731195375468,
            0.17582197730396273,
            0.5574049031584905,
        ],
    );
}

#[test]
fn logistic_matches_scipy_expit() {
    let m = load("logistic");
    let out = m.predict(&Tensors::from([("x".into(), x3())])).unwrap();
    // scipy.special.expit(X3 @ Wl.T + bl)
    assert_close(
        out["y"].as_f32().unwrap(),
        &[0.7755640199234765, 0.5744425142617601],
    );
}

#[test]
fn deep_tanh_gelu_sigmoid_matches_numpy() {
    let m = load("deep");
    let out = m
        .predict(&Tensors::from([("features".into(), x3())]))
        .unwrap();
    // expit(gelu_erf(np.tanh(X3 @ D0.T + c0) @ D1.T) @ D2.T + c2), gelu_erf(z) = z*0.5*(1+erf(z/sqrt(2)))
    assert_close(
        out["score"].as_f32().unwrap(),
        &[
            0.6522920381850017,
            0.5073509734748703,
            0.7352574134309571,
            0.711563399500664,
        ],
    );
}

#[test]
fn module_predictor_matches_numpy() {
    let dev = candle_core::Device::Cpu;
    let w = candle_core::Tensor::new(&[[2f32, -1.0, 0.5], [0.0, 1.0, 1.0]], &dev).unwrap();
    let b = candle_core::Tensor::new(&[0.5f32, -0.5], &dev).unwrap();
    let sig = Signature {
        inputs: Schema::new(vec![TensorSpec::new("x", DType::F32, vec![-1, 3])]),
        outputs: Schema::new(vec![TensorSpec::new("y", DType::F32, vec![-1, 2])]),
    };
    let p = ModulePredictor::new(
        ModelIdentity::new("lin", 3).unwrap(),
        sig.clone(),
        candle_nn::Linear::new(w, Some(b)),
    )
    .unwrap()
    .into_shared();
    assert_eq!(p.identity().version, 3);
    let out = p.predict(&Tensors::from([("x".into(), x3())])).unwrap();
    // X3 @ Wm.T + bm
    assert_close(
        out["y"].as_f32().unwrap(),
        &[1.800000011920929, 0.09999999403953552, 4.5, -1.5],
    );
    // Two outputs is not a Module.
    let mut two = sig;
    two.outputs
        .fields
        .push(TensorSpec::new("z", DType::F32, vec![-1, 1]));
    let w = candle_core::Tensor::new(&[[1f32]], &candle_core::Device::Cpu).unwrap();
    assert!(matches!(
        ModulePredictor::new(
            ModelIdentity::new("bad", 1).unwrap(),
            two,
            candle_nn::Linear::new(w, None)
        ),
        Err(Error::Config { .. })
    ));
}

#[cfg(feature = "onnx")]
#[test]
fn onnx_matches_onnx_reference_evaluator() {
    let p = mlops_serve::OnnxPredictor::load(
        ModelIdentity::new("mlp-onnx", 1).unwrap(),
        &fixture("mlp.onnx"),
    )
    .unwrap();
    let sig = p.signature();
    assert_eq!(sig.inputs.fields.len(), 1, "initializers are not inputs");
    assert_eq!(sig.inputs.fields[0].name, "input");
    assert_eq!(sig.inputs.fields[0].shape, vec![-1, 4]);
    assert_eq!(sig.outputs.fields[0].shape, vec![-1, 3]);
    let out = p.predict(&Tensors::from([("input".into(), x4())])).unwrap();
    // onnx.reference.ReferenceEvaluator(mlp.onnx).run(None, {"input": X4})
    assert_close(
        out["probs"].as_f32().unwrap(),
        &[
            0.00729917548596859,
            0.08335840702056885,
            0.9093424081802368,
            0.2807985246181488,
            0.4231069087982178,
            0.2960945665836334,
            0.26677313446998596,
            0.17582200467586517,
            0.5574048757553101,
        ],
    );
}

#[cfg(feature = "onnx")]
#[test]
fn onnx_load_errors_are_typed() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(fixture("mlp.onnx")).unwrap();
    let trunc = dir.path().join("t.onnx");
    std::fs::write(&trunc, &bytes[..bytes.len() / 2]).unwrap();
    let id = ModelIdentity::new("m", 1).unwrap();
    assert!(matches!(
        mlops_serve::OnnxPredictor::load(id.clone(), &trunc),
        Err(Error::Load { .. })
    ));
    assert!(matches!(
        mlops_serve::OnnxPredictor::load(id, &dir.path().join("missing.onnx")),
        Err(Error::Load { .. })
    ));
}

fn spec_err(json: &str, weights: &std::path::Path) -> String {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("spec.json");
    std::fs::write(&spec, json).unwrap();
    match FeedForward::load(ModelIdentity::new("m", 1).unwrap(), &spec, weights) {
        Err(Error::Load { reason, .. }) => reason,
        other => panic!("expected a load error, got {other:?}"),
    }
}

#[test]
fn feedforward_load_errors_are_typed() {
    let w = fixture("mlp.safetensors");
    let l0 = r#"{"weight":"l0.weight","bias":"l0.bias","activation":"relu"}"#;
    let l1 = r#"{"weight":"l1.weight","bias":"l1.bias","activation":"softmax"}"#;
    assert!(spec_err(r#"{"layers": []}"#, &w).contains("no layers"));
    assert!(spec_err(&format!(r#"{{"layers": [{l1}, {l0}]}}"#), &w).contains("softmax on hidden"));
    assert!(spec_err(&format!(r#"{{"layers": [{l0}, {l0}]}}"#), &w).contains("takes 4 inputs"));
    assert!(spec_err(r#"{"layers": [{"weight": "nope"}]}"#, &w).contains("nope"));
    assert!(spec_err(
        r#"{"layers": [{"weight": "l0.weight", "bias": "l1.bias"}]}"#,
        &w
    )
    .contains("bias"));
    assert!(spec_err(r#"{"layers": [{"weight": "l0.bias"}]}"#, &w).contains("2-D"));
    assert!(spec_err(
        &format!(r#"{{"feature_names": ["a"], "layers": [{l0}]}}"#),
        &w
    )
    .contains("feature names"));
    assert!(!spec_err(
        r#"{"layers": [{"weight": "l0.weight", "activation": "swish"}]}"#,
        &w
    )
    .is_empty());
    assert!(!spec_err("{not json", &w).is_empty());
    // Truncated and empty weight files.
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(&w).unwrap();
    for (name, len) in [
        ("trunc.safetensors", bytes.len() - 7),
        ("empty.safetensors", 0),
        ("hdr.safetensors", 5),
    ] {
        let p = dir.path().join(name);
        std::fs::write(&p, &bytes[..len]).unwrap();
        assert!(
            spec_err(&format!(r#"{{"layers": [{l0}]}}"#), &p).contains("safetensors"),
            "{name}"
        );
    }
    assert!(spec_err(
        &format!(r#"{{"layers": [{l0}]}}"#),
        &dir.path().join("missing")
    )
    .contains("safetensors"));
    // Missing spec file is an I/O error naming the path.
    let missing = dir.path().join("nope.json");
    match FeedForward::load(ModelIdentity::new("m", 1).unwrap(), &missing, &w) {
        Err(Error::Io { path, .. }) => assert_eq!(path, missing),
        other => panic!("{other:?}"),
    }
}

/// Every model kind passes the Predictor conformance suite (row independence under batching,
/// output dtypes and shapes, concurrent calls).
#[test]
fn all_model_kinds_pass_the_conformance_suite() {
    use mlops_serve::conformance::check_predictor;
    let rows = |t: Tensor, name: &str| -> Vec<Tensors> {
        (0..t.rows())
            .map(|i| Tensors::from([(name.to_owned(), t.slice_rows(i..i + 1).unwrap())]))
            .chain(std::iter::once(Tensors::from([(
                name.to_owned(),
                t.clone(),
            )])))
            .collect()
    };
    check_predictor(&load("mlp"), &rows(x4(), "x"), 1e-6).unwrap();
    check_predictor(&load("logistic"), &rows(x3(), "x"), 1e-6).unwrap();
    check_predictor(&load("deep"), &rows(x3(), "features"), 1e-6).unwrap();
    let w = candle_core::Tensor::new(&[[2f32, -1.0, 0.5]], &candle_core::Device::Cpu).unwrap();
    let sig = Signature {
        inputs: Schema::new(vec![TensorSpec::new("x", DType::F32, vec![-1, 3])]),
        outputs: Schema::new(vec![TensorSpec::new("y", DType::F32, vec![-1, 1])]),
    };
    let m = ModulePredictor::new(
        ModelIdentity::new("lin", 1).unwrap(),
        sig,
        candle_nn::Linear::new(w, None),
    )
    .unwrap();
    check_predictor(&m, &rows(x3(), "x"), 1e-6).unwrap();
    #[cfg(feature = "onnx")]
    {
        let p = mlops_serve::OnnxPredictor::load(
            ModelIdentity::new("o", 1).unwrap(),
            &fixture("mlp.onnx"),
        )
        .unwrap();
        check_predictor(&p, &rows(x4(), "input"), 1e-6).unwrap();
    }
    // A model that mixes rows (normalises over the batch) is caught.
    #[derive(Debug)]
    struct BatchNorm(ModelIdentity, Signature);
    impl Predictor for BatchNorm {
        fn identity(&self) -> &ModelIdentity {
            &self.0
        }
        fn signature(&self) -> &Signature {
            &self.1
        }
        fn predict(&self, inputs: &Tensors) -> mlops_serve::Result<Tensors> {
            let x = inputs["x"].as_f32().unwrap();
            let mean = x.iter().sum::<f32>() / x.len() as f32;
            let y = x.iter().map(|v| v - mean).collect();
            Ok(Tensors::from([(
                "y".into(),
                Tensor::f32(inputs["x"].shape().to_vec(), y).unwrap(),
            )]))
        }
    }
    let sig = Signature {
        inputs: Schema::new(vec![TensorSpec::new("x", DType::F32, vec![-1, 1])]),
        outputs: Schema::new(vec![TensorSpec::new("y", DType::F32, vec![-1, 1])]),
    };
    let bn = BatchNorm(ModelIdentity::new("bn", 1).unwrap(), sig);
    let samples = rows(Tensor::f32(vec![2, 1], vec![1.0, 3.0]).unwrap(), "x");
    assert!(matches!(
        check_predictor(&bn, &samples, 1e-6),
        Err(Error::Incompatible { .. })
    ));
}

#[cfg(feature = "onnx")]
#[test]
fn onnx_model_serves_through_the_batching_engine() {
    let p =
        mlops_serve::OnnxPredictor::load(ModelIdentity::new("o", 1).unwrap(), &fixture("mlp.onnx"))
            .unwrap();
    let engine = mlops_serve::EngineBuilder::new(std::sync::Arc::new(p))
        .with_max_delay(std::time::Duration::from_millis(5))
        .build()
        .unwrap();
    let all = x4();
    let outs: Vec<Vec<f32>> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..3)
            .map(|i| {
                let (e, row) = (engine.clone(), all.slice_rows(i..i + 1).unwrap());
                s.spawn(move || {
                    e.predict(Tensors::from([("input".into(), row)])).unwrap()["probs"]
                        .as_f32()
                        .unwrap()
                        .to_vec()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    // Rows of ReferenceEvaluator(mlp.onnx).run(None, {"input": X4})
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
    for (i, o) in outs.iter().enumerate() {
        assert_close(o, &want[i * 3..i * 3 + 3]);
    }
}
