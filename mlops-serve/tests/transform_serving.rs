//! Serving a model behind its fitted preprocessing chain (`transform.json`): raw columns in,
//! strings included, unknown categories counted per column.
//!
//! Expected values: the chain's own `transform` output (the chain is pinned to scikit-learn by
//! mlops-core's fixture tests) pushed through the test's chosen weights by plain arithmetic
//! here, independent of the serving code under test.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use mlops_core::transform::{
    ChainSpec, GroupSpec, HandleUnknown, ImputeStrategy, OneHotEncoderSpec, RawColumn, RawFrame,
    SimpleImputerSpec, StandardScalerSpec, StepSpec, TransformChain,
};
use mlops_core::{DType, Schema, Signature, TensorSpec};
use mlops_serve::{
    conformance, load_model_dir, validate_request, EngineBuilder, Error, FeedForward, Metrics,
    ModelIdentity, NonFinitePolicy, Predictor, Tensor, TensorData, Tensors, TransformPredictor,
    UnknownStat, TRANSFORM_ARTIFACT,
};

const W: [f32; 4] = [0.5, -1.0, 2.0, 0.25];
const B: f32 = 0.1;
const FEATURES: [&str; 4] = ["age", "color_blue", "color_red", "color_nan"];

/// age with a missing value (mean imputer + standard scaler), color with a missing value
/// (one-hot: blue, red, nan).
fn chain(handle: HandleUnknown) -> TransformChain {
    let train = RawFrame::new(vec![
        RawColumn::num("age", vec![20.0, f64::NAN, 40.0, 30.0, 50.0]),
        RawColumn::str(
            "color",
            vec![
                Some("red".into()),
                Some("blue".into()),
                Some("red".into()),
                None,
                Some("blue".into()),
            ],
        ),
    ])
    .unwrap();
    let spec = ChainSpec::new(vec![
        GroupSpec::new(
            "num",
            ["age"],
            vec![
                StepSpec::SimpleImputer(SimpleImputerSpec::new(ImputeStrategy::Mean)),
                StepSpec::StandardScaler(StandardScalerSpec::default()),
            ],
        ),
        GroupSpec::new(
            "cat",
            ["color"],
            vec![StepSpec::OneHotEncoder(
                OneHotEncoderSpec::default().with_handle_unknown(handle),
            )],
        ),
    ]);
    let c = TransformChain::fit(&spec, &train).unwrap();
    assert_eq!(c.feature_names(), FEATURES);
    c
}

/// A feed-forward spec `p = sigmoid(x · W + B)` over the chain's 4 features, written to `dir`.
fn write_model(dir: &Path) {
    let dev = mlops_serve::candle_core::Device::Cpu;
    let tensors = HashMap::from([
        (
            "l0.weight".to_owned(),
            mlops_serve::candle_core::Tensor::new(&[W], &dev).unwrap(),
        ),
        (
            "l0.bias".to_owned(),
            mlops_serve::candle_core::Tensor::new(&[B], &dev).unwrap(),
        ),
    ]);
    mlops_serve::candle_core::safetensors::save(&tensors, dir.join("model.safetensors")).unwrap();
    let spec = serde_json::json!({
        "input": "x", "output": "p", "feature_names": FEATURES,
        "layers": [{"weight": "l0.weight", "bias": "l0.bias", "activation": "sigmoid"}]
    });
    std::fs::write(dir.join("model.json"), spec.to_string()).unwrap();
}

fn model(dir: &Path) -> Arc<dyn Predictor> {
    write_model(dir);
    Arc::new(
        FeedForward::load(
            ModelIdentity::new("churn", 1).unwrap(),
            &dir.join("model.json"),
            &dir.join("model.safetensors"),
        )
        .unwrap(),
    )
}

fn served(handle: HandleUnknown) -> (TransformPredictor, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let p = TransformPredictor::new(chain(handle), model(dir.path())).unwrap();
    (p, dir)
}

fn num(v: &[f64]) -> Tensor {
    Tensor::new(vec![v.len()], TensorData::F64(v.to_vec())).unwrap()
}

fn strs(v: &[&str]) -> Tensor {
    Tensor::new(
        vec![v.len()],
        TensorData::Bytes(v.iter().map(|s| s.as_bytes().to_vec()).collect()),
    )
    .unwrap()
}

fn request(age: &[f64], color: &[&str]) -> Tensors {
    Tensors::from([
        ("age".to_owned(), num(age)),
        ("color".to_owned(), strs(color)),
    ])
}

/// The chain's transform of the same rows (`""` = missing), through `W` and `B` by hand.
fn expected(chain: &TransformChain, age: &[f64], color: &[&str]) -> Vec<f32> {
    let frame = RawFrame::new(vec![
        RawColumn::num("age", age.to_vec()),
        RawColumn::str(
            "color",
            color
                .iter()
                .map(|s| (!s.is_empty()).then(|| (*s).to_owned()))
                .collect(),
        ),
    ])
    .unwrap();
    let t = chain.transform(&frame).unwrap();
    (0..t.n_rows)
        .map(|i| {
            let row = t.row(i).unwrap();
            let z: f32 = row.iter().zip(W).map(|(&x, w)| x as f32 * w).sum::<f32>() + B;
            1.0 / (1.0 + (-z).exp())
        })
        .collect()
}

fn assert_close(got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() <= 1e-6, "{got:?} vs {want:?}");
    }
}

fn invalid_field(e: &Error) -> &str {
    match e {
        Error::InvalidInput { field, .. } => field,
        other => panic!("expected InvalidInput, got {other:?}"),
    }
}

#[test]
fn signature_takes_raw_columns_and_predictions_follow_the_chain() {
    let (p, _dir) = served(HandleUnknown::Ignore);
    let sig = p.signature();
    assert_eq!(
        sig.inputs,
        Schema::new(vec![
            TensorSpec::new("age", DType::F64, vec![-1]),
            TensorSpec::new("color", DType::Bytes, vec![-1]),
        ])
    );
    assert_eq!(p.identity(), &ModelIdentity::new("churn", 1).unwrap());
    assert_eq!(sig.outputs, p.inner().signature().outputs);
    // A missing age (NaN, imputed) and a missing color ("" → the color_nan category).
    let (age, color) = ([20.0, f64::NAN, 47.5, 35.0], ["blue", "red", "", "red"]);
    let out = p.predict(&request(&age, &color)).unwrap();
    let want = expected(p.chain(), &age, &color);
    assert_close(out["p"].as_f32().unwrap(), &want);
    // The missing color is the color_nan feature: its row differs from an unknown one
    // (all zeros under `ignore`).
    let unknown = p.predict(&request(&[47.5], &["green"])).unwrap();
    assert_ne!(unknown["p"].as_f32().unwrap()[0], want[2]);
    assert_close(
        unknown["p"].as_f32().unwrap(),
        &expected(p.chain(), &[47.5], &["green"]),
    );
    let samples = [
        request(&age, &color),
        request(&[1.0], &["blue"]),
        p.warmup_request().unwrap(),
    ];
    conformance::check_predictor(&p, &samples, 1e-6).unwrap();
}

#[test]
fn unknown_categories_are_counted_and_exported() {
    let (p, _dir) = served(HandleUnknown::Ignore);
    let metrics = Metrics::new();
    let engine = EngineBuilder::new(Arc::new(p))
        .with_metrics(metrics.clone())
        .build()
        .unwrap();
    // NaN is a missing value for a numeric raw column, even under the default Reject policy.
    assert_eq!(engine.config().non_finite, NonFinitePolicy::Reject);
    let out = engine
        .predict(request(
            &[30.0, f64::NAN, 41.0],
            &["green", "red", "purple"],
        ))
        .unwrap();
    assert_eq!(out["p"].rows(), 3);
    engine.predict(request(&[25.0], &["blue"])).unwrap();
    // Infinity is not a missing value.
    let e = engine
        .predict(request(&[f64::INFINITY], &["blue"]))
        .unwrap_err();
    assert_eq!(invalid_field(&e), "age");
    let text = metrics.encode().unwrap();
    for line in [
        r#"mlops_serve_unknown_category_total{model="churn",version="1",group="cat",column="color"} 2"#,
        r#"mlops_serve_transform_rows_total{model="churn",version="1"} 4"#,
        r#"mlops_serve_unknown_category_ratio{model="churn",version="1",group="cat",column="color"} 0.5"#,
    ] {
        assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
    }
}

#[test]
fn a_swapped_in_version_exports_its_own_series_including_its_warm_up() {
    let dir = tempfile::tempdir().unwrap();
    write_model(dir.path());
    let load = |version: u64| -> Arc<TransformPredictor> {
        let inner = FeedForward::load(
            ModelIdentity::new("churn", version).unwrap(),
            &dir.path().join("model.json"),
            &dir.path().join("model.safetensors"),
        )
        .unwrap();
        Arc::new(TransformPredictor::new(chain(HandleUnknown::Ignore), Arc::new(inner)).unwrap())
    };
    let (v1, v2) = (load(1), load(2));
    let metrics = Metrics::new();
    let engine = EngineBuilder::new(v1.clone())
        .with_metrics(metrics.clone())
        .build()
        .unwrap();
    let warm = v2.warmup_request().unwrap();
    engine.swap(v2.clone(), Some(&warm)).unwrap();
    engine.predict(request(&[1.0], &["green"])).unwrap();
    // Attaching twice (another engine on the same registry) does not double-count.
    v2.attach_metrics(&metrics);
    assert_eq!(v2.rows_seen(), 2, "warm-up row + one request");
    assert_eq!(v1.rows_seen(), 0);
    let text = metrics.encode().unwrap();
    for line in [
        r#"mlops_serve_transform_rows_total{model="churn",version="2"} 2"#,
        r#"mlops_serve_unknown_category_total{model="churn",version="2",group="cat",column="color"} 1"#,
        r#"mlops_serve_transform_rows_total{model="churn",version="1"} 0"#,
    ] {
        assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
    }
}

#[test]
fn unknown_stats_accumulate_per_column() {
    let (p, _dir) = served(HandleUnknown::Ignore);
    assert_eq!(p.unknown_stats()[0].rate(), 0.0);
    p.predict(&request(&[1.0, 2.0, 3.0], &["green", "red", "über"]))
        .unwrap();
    p.predict(&request(&[1.0], &["blue"])).unwrap();
    let want = vec![UnknownStat {
        group: "cat".into(),
        column: "color".into(),
        unknown: 2,
        rows: 4,
    }];
    assert_eq!(p.unknown_stats(), want);
    assert_eq!(p.unknown_stats()[0].rate(), 0.5);
    assert_eq!(p.rows_seen(), 4);
    // A failed call counts nothing.
    assert!(p.predict(&request(&[f64::INFINITY], &["green"])).is_err());
    assert_eq!(p.unknown_stats(), want);
}

#[test]
fn unknown_category_under_error_fails_that_call_only() {
    let (p, _dir) = served(HandleUnknown::Error);
    let p = Arc::new(p);
    let metrics = Metrics::new();
    let engine = EngineBuilder::new(p.clone())
        .with_metrics(metrics.clone())
        .build()
        .unwrap();
    let e = engine
        .predict(request(&[30.0, 31.0], &["red", "green"]))
        .unwrap_err();
    // A well-formed value this version refuses: the version's failure (it counts against
    // its health in a deployment), naming the column and the value.
    assert!(matches!(&e, Error::Model { .. }), "{e:?}");
    assert!(e.to_string().contains("color"), "{e}");
    assert!(e.to_string().contains("green"), "{e}");
    assert!(!e.is_client_error());
    let (age, color) = ([30.0], ["red"]);
    let out = engine.predict(request(&age, &color)).unwrap();
    assert_close(
        out["p"].as_f32().unwrap(),
        &expected(p.chain(), &age, &color),
    );
    assert_eq!(p.unknown_stats()[0].unknown, 0);
    assert_eq!(p.rows_seen(), 1);
    // Concurrent requests, one bad: the engine may batch them; only the bad one fails.
    let pending: Vec<_> = (0..8)
        .map(|i| {
            let c = if i == 3 { "teal" } else { "blue" };
            engine
                .submit(request(&[i as f64], &[c]), Default::default())
                .unwrap()
        })
        .collect();
    for (i, r) in pending.into_iter().map(|p| p.wait()).enumerate() {
        assert_eq!(r.is_err(), i == 3, "request {i}: {r:?}");
    }
    // The warm-up request uses known categories, so it passes under `error` too.
    let warm = p.warmup_request().unwrap();
    engine.predict(warm).unwrap();
}

#[test]
fn nan_reaching_a_scaler_without_imputer_is_a_chain_error() {
    let train = RawFrame::new(vec![
        RawColumn::num("income", vec![1.0, 2.0, 4.0]),
        RawColumn::num("age", vec![1.0, f64::NAN, 3.0]),
    ])
    .unwrap();
    let spec = ChainSpec::new(vec![
        GroupSpec::new(
            "scaled",
            ["income"],
            vec![StepSpec::StandardScaler(StandardScalerSpec::default())],
        ),
        GroupSpec::new(
            "imputed",
            ["age"],
            vec![StepSpec::SimpleImputer(SimpleImputerSpec::new(
                ImputeStrategy::Median,
            ))],
        ),
    ]);
    let chain = TransformChain::fit(&spec, &train).unwrap();
    let sig = Signature {
        inputs: Schema::new(vec![TensorSpec::new("x", DType::F64, vec![-1, 2])]),
        outputs: Schema::new(vec![TensorSpec::new("y", DType::F64, vec![-1, 2])]),
    };
    let inner = Arc::new(Echo {
        id: ModelIdentity::new("echo", 3).unwrap(),
        sig,
    });
    let p = Arc::new(TransformPredictor::new(chain.clone(), inner).unwrap());
    let engine = EngineBuilder::new(p.clone()).build().unwrap();
    let req = |income: f64, age: f64| {
        Tensors::from([
            ("income".to_owned(), num(&[income])),
            ("age".to_owned(), num(&[age])),
        ])
    };
    // FP64 model: the chain's values arrive unrounded.
    let out = engine.predict(req(2.0, f64::NAN)).unwrap();
    let want = chain
        .transform(
            &RawFrame::new(vec![
                RawColumn::num("income", vec![2.0]),
                RawColumn::num("age", vec![f64::NAN]),
            ])
            .unwrap(),
        )
        .unwrap();
    assert_eq!(out["y"].data(), &TensorData::F64(want.data));
    assert_eq!(want.feature_names, ["income", "age"]);
    // NaN passes admission (the chain decides) and the scaler refuses it, naming the column.
    let e = engine.predict(req(f64::NAN, 1.0)).unwrap_err();
    assert_eq!(invalid_field(&e), "income");
    assert!(e.to_string().contains("impute"), "{e}");
    engine.predict(req(1.0, 1.0)).unwrap();
}

/// Returns its input `x` as `y` (FP64).
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
    fn predict(&self, inputs: &Tensors) -> mlops_serve::Result<Tensors> {
        Ok(Tensors::from([("y".to_owned(), inputs["x"].clone())]))
    }
}

#[test]
fn wrong_dtypes_shapes_and_missing_columns_are_typed_errors() {
    let (p, _dir) = served(HandleUnknown::Ignore);
    let check = |inputs: Tensors, field: &str| {
        // Admission (what the engine runs) and a direct call both name the column.
        let e = validate_request(&p, &inputs, NonFinitePolicy::Reject)
            .and_then(|_| p.predict(&inputs))
            .unwrap_err();
        assert_eq!(invalid_field(&e), field, "{e}");
        if let Err(e) = p.predict(&inputs) {
            assert_eq!(invalid_field(&e), field, "{e}");
        }
    };
    let f32_age = Tensor::f32(vec![1], vec![30.0]).unwrap();
    check(
        Tensors::from([("age".into(), f32_age), ("color".into(), strs(&["red"]))]),
        "age",
    );
    // A string where a number belongs, and a number where a string belongs.
    check(
        Tensors::from([
            ("age".into(), strs(&["30"])),
            ("color".into(), strs(&["red"])),
        ]),
        "age",
    );
    check(
        Tensors::from([("age".into(), num(&[30.0])), ("color".into(), num(&[1.0]))]),
        "color",
    );
    check(Tensors::from([("age".into(), num(&[30.0]))]), "color");
    let not_utf8 = Tensor::new(vec![1], TensorData::Bytes(vec![vec![0xff, 0xfe]])).unwrap();
    check(
        Tensors::from([("age".into(), num(&[30.0])), ("color".into(), not_utf8)]),
        "color",
    );
    let two_d = Tensor::new(vec![1, 1], TensorData::F64(vec![30.0])).unwrap();
    check(
        Tensors::from([("age".into(), two_d), ("color".into(), strs(&["red"]))]),
        "age",
    );
    // Rows that disagree, and an empty batch, fail too.
    assert!(matches!(
        p.predict(&request(&[1.0, 2.0], &["red"])),
        Err(Error::InvalidInput { .. })
    ));
    assert!(matches!(
        p.predict(&request(&[], &[])),
        Err(Error::InvalidInput { .. })
    ));
    // Under Reject, NaN passes only for numeric raw columns; the inner model's FP32 `x` stays
    // strict.
    assert!(validate_request(&p, &request(&[f64::NAN], &["red"]), NonFinitePolicy::Reject).is_ok());
    assert!(p.accepts_nan("age") && !p.accepts_nan("color") && !p.inner().accepts_nan("x"));
}

#[test]
fn incompatible_models_are_rejected_naming_both_widths() {
    let mk = |inputs: Vec<TensorSpec>| -> Arc<dyn Predictor> {
        Arc::new(Echo {
            id: ModelIdentity::new("m", 1).unwrap(),
            sig: Signature {
                inputs: Schema::new(inputs),
                outputs: Schema::new(vec![TensorSpec::new("y", DType::F32, vec![-1, 1])]),
            },
        })
    };
    let reason = |inner| match TransformPredictor::new(chain(HandleUnknown::Ignore), inner) {
        Err(Error::Incompatible { reason }) => reason,
        other => panic!("{other:?}"),
    };
    let r = reason(mk(vec![TensorSpec::new("x", DType::F32, vec![-1, 3])]));
    assert!(r.contains('3') && r.contains('4'), "{r}");
    let r = reason(mk(vec![TensorSpec::new("x", DType::I64, vec![-1, 4])]));
    assert!(r.contains("INT64"), "{r}");
    let r = reason(mk(vec![
        TensorSpec::new("x", DType::F32, vec![-1, 4]),
        TensorSpec::new("z", DType::F32, vec![-1, 4]),
    ]));
    assert!(r.contains("2 inputs"), "{r}");
    let named = TensorSpec::new("x", DType::F32, vec![-1, 4]).with_feature_names(
        ["age", "color_red", "color_blue", "color_nan"]
            .map(String::from)
            .to_vec(),
    );
    let r = reason(mk(vec![named]));
    assert!(r.contains("feature names"), "{r}");
    // A chain that knows "" as a category cannot be served over BYTES ("" = missing).
    let train = RawFrame::new(vec![RawColumn::str(
        "c",
        vec![Some(String::new()), Some("a".into())],
    )])
    .unwrap();
    let spec = ChainSpec::new(vec![GroupSpec::new(
        "cat",
        ["c"],
        vec![StepSpec::OneHotEncoder(OneHotEncoderSpec::default())],
    )]);
    let empty_cat = TransformChain::fit(&spec, &train).unwrap();
    let inner = mk(vec![TensorSpec::new("x", DType::F32, vec![-1, 2])]);
    assert!(matches!(
        TransformPredictor::new(empty_cat, inner),
        Err(Error::Incompatible { reason }) if reason.contains("empty string")
    ));
}

fn write_dir(dir: &Path, handle: HandleUnknown) {
    write_model(dir);
    std::fs::write(
        dir.join(TRANSFORM_ARTIFACT),
        chain(handle).to_json().unwrap(),
    )
    .unwrap();
}

#[test]
fn load_model_dir_wraps_when_transform_json_is_present() {
    let dir = tempfile::tempdir().unwrap();
    write_dir(dir.path(), HandleUnknown::Ignore);
    let id = ModelIdentity::new("churn", 7).unwrap();
    let p = load_model_dir(id.clone(), dir.path()).unwrap();
    assert_eq!(p.identity(), &id);
    assert_eq!(
        p.signature()
            .inputs
            .fields
            .iter()
            .map(|f| f.name.as_str())
            .collect::<Vec<_>>(),
        ["age", "color"]
    );
    let (age, color) = ([33.0, f64::NAN], ["", "blue"]);
    let out = p.predict(&request(&age, &color)).unwrap();
    assert_close(
        out["p"].as_f32().unwrap(),
        &expected(&chain(HandleUnknown::Ignore), &age, &color),
    );
    // Without transform.json: the bare feed-forward model.
    std::fs::remove_file(dir.path().join(TRANSFORM_ARTIFACT)).unwrap();
    let bare = load_model_dir(id.clone(), dir.path()).unwrap();
    assert_eq!(bare.signature().inputs.fields[0].name, "x");
}

#[test]
fn load_model_dir_errors_are_typed() {
    let id = || ModelIdentity::new("churn", 1).unwrap();
    let load = |dir: &Path| load_model_dir(id(), dir).map(|_| ());
    let missing = tempfile::tempdir().unwrap();
    assert!(matches!(
        load(&missing.path().join("nope")),
        Err(Error::Io { .. })
    ));
    let empty = tempfile::tempdir().unwrap();
    assert!(matches!(load(empty.path()), Err(Error::Load { .. })));
    // Only transform.json: no model.
    std::fs::write(
        empty.path().join(TRANSFORM_ARTIFACT),
        chain(HandleUnknown::Ignore).to_json().unwrap(),
    )
    .unwrap();
    assert!(matches!(load(empty.path()), Err(Error::Load { .. })));

    let dir = tempfile::tempdir().unwrap();
    write_dir(dir.path(), HandleUnknown::Ignore);
    // A second spec is ambiguous (transform.json never counts as one).
    std::fs::write(dir.path().join("other.json"), "{}").unwrap();
    let e = load(dir.path()).unwrap_err();
    assert!(
        matches!(e, Error::Load { .. }) && e.to_string().contains("other.json"),
        "{e}"
    );
    std::fs::remove_file(dir.path().join("other.json")).unwrap();
    // An ONNX file next to safetensors is ambiguous.
    std::fs::write(dir.path().join("model.onnx"), b"x").unwrap();
    assert!(matches!(load(dir.path()), Err(Error::Load { .. })));
    std::fs::remove_file(dir.path().join("model.onnx")).unwrap();
    // Safetensors without a spec.
    std::fs::rename(dir.path().join("model.json"), dir.path().join("model.txt")).unwrap();
    assert!(matches!(load(dir.path()), Err(Error::Load { .. })));
    std::fs::rename(dir.path().join("model.txt"), dir.path().join("model.json")).unwrap();
    load(dir.path()).unwrap();
    // A transform.json that is not a chain, or that does not fit the model.
    std::fs::write(
        dir.path().join(TRANSFORM_ARTIFACT),
        r#"{"format": "other"}"#,
    )
    .unwrap();
    let e = load(dir.path()).unwrap_err();
    assert!(
        matches!(&e, Error::Load { path, .. } if path.ends_with(TRANSFORM_ARTIFACT)),
        "{e}"
    );
    let narrow = RawFrame::new(vec![RawColumn::num("a", vec![1.0, 2.0])]).unwrap();
    let one = TransformChain::fit(
        &ChainSpec::new(vec![GroupSpec::new(
            "n",
            ["a"],
            vec![StepSpec::StandardScaler(StandardScalerSpec::default())],
        )]),
        &narrow,
    )
    .unwrap();
    std::fs::write(dir.path().join(TRANSFORM_ARTIFACT), one.to_json().unwrap()).unwrap();
    assert!(matches!(load(dir.path()), Err(Error::Incompatible { .. })));
}

#[cfg(feature = "registry")]
mod registry {
    use super::*;
    use mlops_registry::{FileRegistry, NewVersion, Registry};
    use mlops_serve::load_from_registry;

    fn register(reg: &dyn Registry, dir: &Path, signature: Option<Signature>) -> u64 {
        let mut new = NewVersion::new("churn".parse().unwrap()).with_format("safetensors");
        for f in ["model.safetensors", "model.json", TRANSFORM_ARTIFACT] {
            new = new.with_artifact_file(dir.join(f)).unwrap();
        }
        if let Some(s) = signature {
            new = new.with_signature(s);
        }
        reg.register(new).unwrap().version.version
    }

    #[test]
    fn registry_round_trip_serves_raw_columns() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("model");
        std::fs::create_dir(&src).unwrap();
        write_dir(&src, HandleUnknown::Error);
        // What a pipeline records: the signature of the directory it is about to register.
        let raw_sig = load_model_dir(ModelIdentity::new("churn", 1).unwrap(), &src)
            .unwrap()
            .signature()
            .clone();
        let reg = FileRegistry::open(tmp.path().join("reg")).unwrap();
        let v = register(&reg, &src, Some(raw_sig.clone()));
        let cache = tmp.path().join("cache");
        let r = format!("churn/{v}").parse().unwrap();
        let p = load_from_registry(&reg, &r, &cache).unwrap();
        assert_eq!(p.signature(), &raw_sig);
        assert_eq!(p.signature().inputs.fields[1].dtype, DType::Bytes);
        assert!(cache
            .join(format!("churn/{v}/{TRANSFORM_ARTIFACT}"))
            .is_file());
        let (age, color) = ([22.0, f64::NAN], ["red", ""]);
        let out = p.predict(&request(&age, &color)).unwrap();
        assert_close(
            out["p"].as_f32().unwrap(),
            &expected(&chain(HandleUnknown::Error), &age, &color),
        );
        let e = p.predict(&request(&[1.0], &["green"])).unwrap_err();
        assert!(
            matches!(&e, Error::Model { reason, .. } if reason.contains("color") && reason.contains("green")),
            "{e:?}"
        );

        // A recorded signature of the bare model no longer matches the served one.
        let bare = FeedForward::load(
            ModelIdentity::new("churn", 1).unwrap(),
            &src.join("model.json"),
            &src.join("model.safetensors"),
        )
        .unwrap()
        .signature()
        .clone();
        let v2 = register(&reg, &src, Some(bare));
        let r2 = format!("churn/{v2}").parse().unwrap();
        assert!(matches!(
            load_from_registry(&reg, &r2, &cache),
            Err(Error::Incompatible { .. })
        ));
    }

    #[test]
    fn a_registry_deployment_warms_up_with_known_categories() {
        use mlops_serve::deploy::RouteOptions;
        use mlops_serve::{RegistryDeployment, WatchConfig};
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("model");
        std::fs::create_dir(&src).unwrap();
        // `error` mode: the deployment's warm-up must use known categories (the default
        // all-zero request would send "" for color).
        write_dir(&src, HandleUnknown::Error);
        let reg: Arc<dyn Registry> = Arc::new(FileRegistry::open(tmp.path().join("reg")).unwrap());
        let v = register(reg.as_ref(), &src, None);
        let name: mlops_core::ModelName = "churn".parse().unwrap();
        let alias: mlops_core::AliasName = "production".parse().unwrap();
        reg.set_alias(&name, &alias, v, &mlops_registry::Change::new("ci", "test"))
            .unwrap();
        let metrics = Metrics::new();
        let config = WatchConfig {
            metrics: metrics.clone(),
            ..WatchConfig::new(name, alias, tmp.path().join("cache"))
        };
        let rd = RegistryDeployment::start(reg, config).unwrap();
        let r = rd.deployment().predict(
            request(&[30.0, 31.0], &["blue", "green"]),
            &RouteOptions::default(),
        );
        assert!(
            matches!(&r, Err(Error::Model { reason, .. }) if reason.contains("color")),
            "{r:?}"
        );
        let r = rd
            .deployment()
            .predict(request(&[30.0], &["blue"]), &RouteOptions::default())
            .unwrap();
        assert_eq!(r.outputs["p"].rows(), 1);
        let text = metrics.encode().unwrap();
        assert!(
            text.contains(r#"mlops_serve_unknown_category_total{model="churn",version="1",group="cat",column="color"} 0"#),
            "{text}"
        );
    }
}

#[cfg(feature = "http")]
mod http {
    use super::*;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use mlops_serve::deploy::{Deployment, ModelSet};
    use mlops_serve::http::{router, HttpConfig};
    use serde_json::{json, Value};
    use tower::ServiceExt;

    async fn call(
        app: &axum::Router,
        method: &str,
        uri: &str,
        body: String,
    ) -> (StatusCode, String) {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::from(body))
            .unwrap();
        let resp = app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn raw_columns_over_oip_v2_and_the_unknown_series_in_metrics() {
        let (p, _dir) = served(HandleUnknown::Ignore);
        let metrics = Metrics::new();
        let engine = EngineBuilder::new(Arc::new(p))
            .with_metrics(metrics.clone())
            .build()
            .unwrap();
        let models = ModelSet::new();
        models.insert(Deployment::new(engine).unwrap());
        let app = router(models, HttpConfig::new(metrics));

        let (status, meta) = call(&app, "GET", "/v2/models/churn", String::new()).await;
        assert_eq!(status, StatusCode::OK, "{meta}");
        let meta: Value = serde_json::from_str(&meta).unwrap();
        assert_eq!(meta["inputs"][1]["datatype"], "BYTES", "{meta}");

        let (age, color) = ([20.0, 35.5, 50.0], ["red", "green", ""]);
        let body = json!({"inputs": [
            {"name": "age", "shape": [3], "datatype": "FP64", "data": age},
            {"name": "color", "shape": [3], "datatype": "BYTES", "data": color},
        ]});
        let (status, text) = call(&app, "POST", "/v2/models/churn/infer", body.to_string()).await;
        assert_eq!(status, StatusCode::OK, "{text}");
        let reply: Value = serde_json::from_str(&text).unwrap();
        let got: Vec<f32> = reply["outputs"][0]["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        assert_close(&got, &expected(&chain(HandleUnknown::Ignore), &age, &color));

        // A string in the numeric column is a 400 naming it.
        let bad = json!({"inputs": [
            {"name": "age", "shape": [1], "datatype": "BYTES", "data": ["old"]},
            {"name": "color", "shape": [1], "datatype": "BYTES", "data": ["red"]},
        ]});
        let (status, text) = call(&app, "POST", "/v2/models/churn/infer", bad.to_string()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
        assert!(text.contains("age"), "{text}");

        let (status, text) = call(&app, "GET", "/metrics", String::new()).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            text.contains(r#"mlops_serve_unknown_category_total{model="churn",version="1",group="cat",column="color"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"mlops_serve_transform_rows_total{model="churn",version="1"} 3"#),
            "{text}"
        );
    }
}

#[cfg(feature = "onnx")]
#[test]
fn load_model_dir_loads_one_onnx_model() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(fixtures.join("mlp.onnx"), dir.path().join("model.onnx")).unwrap();
    // A stray JSON next to an ONNX model is not a spec (only safetensors need one).
    std::fs::write(dir.path().join("notes.json"), "{}").unwrap();
    let id = ModelIdentity::new("mlp", 1).unwrap();
    let p = load_model_dir(id.clone(), dir.path()).unwrap();
    let direct = mlops_serve::OnnxPredictor::load(id.clone(), &fixtures.join("mlp.onnx")).unwrap();
    assert_eq!(p.signature(), direct.signature());
    std::fs::copy(fixtures.join("mlp.onnx"), dir.path().join("other.onnx")).unwrap();
    assert!(matches!(
        load_model_dir(id, dir.path()),
        Err(Error::Load { .. })
    ));
}
