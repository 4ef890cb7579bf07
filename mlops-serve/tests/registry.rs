//! Loading predictors from registry versions (feature `registry`).
#![cfg(feature = "registry")]

mod common;

use common::fixture;
use mlops_registry::{MemoryRegistry, NewVersion, Registry};
use mlops_serve::{
    load_from_registry, Error, FeedForward, ModelIdentity, Predictor, Tensor, Tensors,
};

fn registry_with_mlp(format: &str, signature: Option<mlops_core::Signature>) -> MemoryRegistry {
    let reg = MemoryRegistry::new();
    let mut new = NewVersion::new("churn".parse().unwrap())
        .with_artifact_bytes(
            "model.safetensors",
            std::fs::read(fixture("mlp.safetensors")).unwrap(),
        )
        .with_artifact_bytes("spec.json", std::fs::read(fixture("mlp.json")).unwrap());
    if !format.is_empty() {
        new = new.with_format(format);
    }
    if let Some(s) = signature {
        new = new.with_signature(s);
    }
    reg.register(new).unwrap();
    reg
}

fn direct() -> FeedForward {
    FeedForward::load(
        ModelIdentity::new("churn", 1).unwrap(),
        &fixture("mlp.json"),
        &fixture("mlp.safetensors"),
    )
    .unwrap()
}

#[test]
fn loads_feedforward_from_a_registry_version() {
    let want_sig = direct().signature().clone();
    let reg = registry_with_mlp("safetensors", Some(want_sig.clone()));
    let cache = tempfile::tempdir().unwrap();
    let p = load_from_registry(&reg, &"churn@latest".parse().unwrap(), cache.path()).unwrap();
    assert_eq!(p.identity(), &ModelIdentity::new("churn", 1).unwrap());
    assert_eq!(p.signature(), &want_sig);
    let x = Tensors::from([(
        "x".to_owned(),
        Tensor::f32(vec![1, 4], vec![0.5, -1.0, 2.0, 0.0]).unwrap(),
    )]);
    assert_eq!(p.predict(&x).unwrap(), direct().predict(&x).unwrap());
    assert!(cache.path().join("churn/1/model.safetensors").exists());
    // No explicit format: chosen from the artifact names.
    let reg = registry_with_mlp("", None);
    assert!(load_from_registry(&reg, &"churn/1".parse().unwrap(), cache.path()).is_ok());
}

#[test]
fn registry_load_errors_are_typed() {
    let cache = tempfile::tempdir().unwrap();
    let reg = registry_with_mlp("safetensors", None);
    assert!(matches!(
        load_from_registry(&reg, &"nope@latest".parse().unwrap(), cache.path()),
        Err(Error::Registry { .. })
    ));
    let reg = registry_with_mlp("pt", None);
    assert!(matches!(
        load_from_registry(&reg, &"churn/1".parse().unwrap(), cache.path()),
        Err(Error::Config { .. })
    ));
    let mut wrong = direct().signature().clone();
    wrong.inputs.fields[0].shape = vec![-1, 5];
    let reg = registry_with_mlp("safetensors", Some(wrong));
    assert!(matches!(
        load_from_registry(&reg, &"churn/1".parse().unwrap(), cache.path()),
        Err(Error::Incompatible { .. })
    ));
    let reg = MemoryRegistry::new();
    reg.register(
        NewVersion::new("onlyweights".parse().unwrap())
            .with_artifact_bytes("w.safetensors", vec![0; 8]),
    )
    .unwrap();
    assert!(matches!(
        load_from_registry(&reg, &"onlyweights/1".parse().unwrap(), cache.path()),
        Err(Error::Load { .. })
    ));
}

#[cfg(feature = "onnx")]
#[test]
fn loads_onnx_from_a_registry_version() {
    let reg = MemoryRegistry::new();
    reg.register(
        NewVersion::new("mlp-onnx".parse().unwrap())
            .with_artifact_bytes("model.onnx", std::fs::read(fixture("mlp.onnx")).unwrap()),
    )
    .unwrap();
    let cache = tempfile::tempdir().unwrap();
    let p = load_from_registry(&reg, &"mlp-onnx@latest".parse().unwrap(), cache.path()).unwrap();
    assert_eq!(p.signature().inputs.fields[0].name, "input");
    let x = Tensors::from([(
        "input".to_owned(),
        Tensor::f32(vec![1, 4], vec![0.5, -1.0, 2.0, 0.0]).unwrap(),
    )]);
    let out = p.predict(&x).unwrap();
    // Row 0 of ReferenceEvaluator(mlp.onnx).run(None, {"input": X4}) (serve_reference.py)
    let want = [0.00729917548596859, 0.08335840702056885, 0.9093424081802368];
    for (g, w) in out["probs"].as_f32().unwrap().iter().zip(want) {
        assert!((*g as f64 - w).abs() < 1e-5);
    }
}
