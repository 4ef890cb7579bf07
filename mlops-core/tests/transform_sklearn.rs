//! `mlops_core::transform` against scikit-learn 1.9.1 (numpy 2.4.6, pandas 3.1.1).
//!
//! Expected outputs come from `tools/reference/transform_reference.py`, which writes
//! `tests/data/transform_reference.json`; each case there records the exact scikit-learn call
//! (`"python"` per case and per transformed frame) and the equivalent mlops-core spec. Values
//! are compared with tolerance `1e-12 · max(|want|, 1)` (relative, with an absolute floor of
//! 1e-12 for values near zero such as a centred mean).
//!
//! The second half holds edge cases scikit-learn does not decide for us (errors, JSON round trip).

use mlops_core::transform::{
    ChainSpec, ColumnKind, ColumnValues, GroupSpec, HandleUnknown, ImputeStrategy, InputColumn,
    MinMaxScalerSpec, OneHotEncoderSpec, RawColumn, RawFrame, SimpleImputerSpec,
    StandardScalerSpec, StepSpec, TransformChain,
};
use mlops_core::Error;
use serde_json::Value;

const FIXTURE: &str = include_str!("data/transform_reference.json");

fn close(got: f64, want: f64, what: &str) {
    let tol = 1e-12 * want.abs().max(1.0);
    assert!(
        (got - want).abs() <= tol,
        "{what}: got {got:?}, want {want:?} (tolerance {tol:e})"
    );
}

fn num(v: &Value) -> f64 {
    match v {
        Value::Null => f64::NAN,
        Value::String(s) if s == "inf" => f64::INFINITY,
        Value::String(s) if s == "-inf" => f64::NEG_INFINITY,
        v => v.as_f64().expect("number"),
    }
}

fn parse_frame(v: &Value) -> RawFrame {
    let cols = v["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .map(|c| {
            let name = c["name"].as_str().expect("name").to_owned();
            if let Some(xs) = c.get("num") {
                RawColumn::num(name, xs.as_array().unwrap().iter().map(num).collect())
            } else {
                let xs = c["str"].as_array().expect("str column");
                RawColumn::str(
                    name,
                    xs.iter().map(|s| s.as_str().map(str::to_owned)).collect(),
                )
            }
        })
        .collect();
    RawFrame::new(cols).expect("valid fixture frame")
}

fn assert_frame_eq(got: &RawFrame, want: &RawFrame, what: &str) {
    let names = |f: &RawFrame| {
        f.columns()
            .iter()
            .map(|c| c.name.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(got), names(want), "{what}: feature names");
    for (g, w) in got.columns().iter().zip(want.columns()) {
        match (&g.values, &w.values) {
            (ColumnValues::Num(g), ColumnValues::Num(w)) => {
                assert_eq!(g.len(), w.len(), "{what}: rows of {}", w.len());
                for (i, (a, b)) in g.iter().zip(w).enumerate() {
                    close(*a, *b, &format!("{what}: column {} row {i}", w.len()));
                }
            }
            (ColumnValues::Str(g), ColumnValues::Str(w)) => assert_eq!(g, w, "{what}"),
            _ => panic!("{what}: column {} has the wrong kind", g.name),
        }
    }
}

/// A fitted single transform, behind one `transform` signature.
enum Fitted {
    Standard(mlops_core::transform::StandardScaler),
    MinMax(mlops_core::transform::MinMaxScaler),
    Imputer(mlops_core::transform::SimpleImputer),
    OneHot(mlops_core::transform::OneHotEncoder),
}

impl Fitted {
    fn fit(kind: &str, spec: &Value, frame: &RawFrame) -> Fitted {
        let spec = spec.clone();
        match kind {
            "standard_scaler" => Fitted::Standard(
                serde_json::from_value::<StandardScalerSpec>(spec)
                    .unwrap()
                    .fit(frame)
                    .unwrap(),
            ),
            "minmax_scaler" => Fitted::MinMax(
                serde_json::from_value::<MinMaxScalerSpec>(spec)
                    .unwrap()
                    .fit(frame)
                    .unwrap(),
            ),
            "simple_imputer" => Fitted::Imputer(
                serde_json::from_value::<SimpleImputerSpec>(spec)
                    .unwrap()
                    .fit(frame)
                    .unwrap(),
            ),
            "onehot_encoder" => Fitted::OneHot(
                serde_json::from_value::<OneHotEncoderSpec>(spec)
                    .unwrap()
                    .fit(frame)
                    .unwrap(),
            ),
            other => panic!("unknown transform {other}"),
        }
    }

    fn transform(&self, frame: &RawFrame) -> mlops_core::Result<RawFrame> {
        match self {
            Fitted::Standard(t) => t.transform(frame),
            Fitted::MinMax(t) => t.transform(frame),
            Fitted::Imputer(t) => t.transform(frame),
            Fitted::OneHot(t) => t.transform(frame),
        }
    }
}

fn cases() -> Vec<Value> {
    let doc: Value = serde_json::from_str(FIXTURE).unwrap();
    assert_eq!(doc["versions"]["scikit-learn"], "1.9.1");
    doc["cases"].as_array().unwrap().clone()
}

fn run_single_cases(prefix: &str) -> usize {
    let mut n = 0;
    for case in cases()
        .iter()
        .filter(|c| c["transform"] != "chain" && c["name"].as_str().unwrap().starts_with(prefix))
    {
        let name = case["name"].as_str().unwrap();
        let fitted = Fitted::fit(
            case["transform"].as_str().unwrap(),
            &case["spec"],
            &parse_frame(&case["fit"]),
        );
        for apply in case["applies"].as_array().unwrap() {
            // The scikit-learn call is in apply["python"], e.g.
            // StandardScaler(with_mean=True, with_std=True).fit(..._fit).transform(..._test)
            let what = format!("{name}/{}: {}", apply["label"], apply["python"]);
            let got = fitted.transform(&parse_frame(&apply["input"]));
            if apply["error"] == true {
                let e = got.expect_err(&what);
                assert!(
                    matches!(e, Error::SchemaMismatch { .. } | Error::InvalidInput { .. }),
                    "{what}: {e}"
                );
            } else {
                let got = got.unwrap_or_else(|e| panic!("{what}: {e}"));
                assert_frame_eq(&got, &parse_frame(&apply["expected"]), &what);
            }
            n += 1;
        }
    }
    n
}

#[test]
fn standard_scaler_matches_sklearn() {
    // with_mean/with_std on/off, a constant column, a near-constant one (0.1 six times, whose
    // computed variance is not exactly 0), large offsets, one sample.
    assert_eq!(run_single_cases("standard_scaler"), 8);
}

#[test]
fn minmax_scaler_matches_sklearn() {
    // feature_range (0, 1) and (-1, 2), clip on/off, a constant column, one sample.
    assert_eq!(run_single_cases("minmax_scaler"), 8);
}

#[test]
fn simple_imputer_matches_sklearn() {
    // Numeric: mean, median (even count), most_frequent (tie -> smallest), constant (default 0
    // and -1.5), each with and without add_indicator, a column missing only at transform (no
    // indicator), inf rejected. Strings: most_frequent (tie -> smallest), constant (default
    // "missing_value" and "?"), with and without add_indicator.
    assert_eq!(run_single_cases("impute_"), 2 * 10 + 1 + 2 * 6);
}

#[test]
fn onehot_encoder_matches_sklearn() {
    // handle_unknown error / ignore / infrequent_if_exist x min_frequency None / 2 / 0.25 /
    // 100 (all infrequent); a missing value at fit (category "nan"), and at transform a
    // known missing value, an unknown string and an unknown value in the second column.
    assert_eq!(run_single_cases("onehot_"), 12 * 3);
}

#[test]
fn column_transformer_chains_match_sklearn() {
    let mut n = 0;
    for case in cases().iter().filter(|c| c["transform"] == "chain") {
        let name = case["name"].as_str().unwrap();
        let spec: ChainSpec = serde_json::from_value(case["spec"].clone()).unwrap();
        let chain = TransformChain::fit(&spec, &parse_frame(&case["fit"])).unwrap();
        // The JSON round trip must not change a single bit of the output.
        let reloaded = TransformChain::from_json(&chain.to_json().unwrap()).unwrap();
        assert_eq!(reloaded, chain, "{name}: JSON round trip");
        for apply in case["applies"].as_array().unwrap() {
            // e.g. (ColumnTransformer([...], remainder='drop', verbose_feature_names_out=False))
            //      .fit(chain_verbose0_fit).transform(chain_verbose0_test)
            let what = format!("{name}/{}: {}", apply["label"], apply["python"]);
            let input = parse_frame(&apply["input"]);
            let got = chain.transform(&input);
            if apply["error"] == true {
                let e = got.expect_err(&what);
                assert!(
                    matches!(&e, Error::SchemaMismatch { field, reason } if field == "color" && reason.contains("\"pink\"")),
                    "{what}: {e}"
                );
                n += 1;
                continue;
            }
            let got = got.unwrap_or_else(|e| panic!("{what}: {e}"));
            let want = &apply["expected"];
            let names: Vec<String> = serde_json::from_value(want["feature_names"].clone()).unwrap();
            assert_eq!(got.feature_names, names, "{what}");
            assert_eq!(
                got.n_rows as u64,
                want["n_rows"].as_u64().unwrap(),
                "{what}"
            );
            let data = want["data"].as_array().unwrap();
            assert_eq!(got.data.len(), data.len(), "{what}");
            for (i, (g, w)) in got.data.iter().zip(data).enumerate() {
                let (r, c) = (i / got.n_cols(), i % got.n_cols());
                close(*g, num(w), &format!("{what}: row {r} {}", names[c]));
            }
            let counts: Vec<(String, String, usize)> = want["unknown_counts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| {
                    (
                        u["group"].as_str().unwrap().to_owned(),
                        u["column"].as_str().unwrap().to_owned(),
                        u["count"].as_u64().unwrap() as usize,
                    )
                })
                .collect();
            let got_counts: Vec<(String, String, usize)> = got
                .unknown_counts
                .iter()
                .map(|u| (u.group.clone(), u.column.clone(), u.count))
                .collect();
            assert_eq!(got_counts, counts, "{what}: unknown counts");
            assert_eq!(
                reloaded.transform(&input).unwrap(),
                got,
                "{what}: reloaded chain"
            );
            n += 1;
        }
    }
    assert_eq!(n, 6);
}

// ---------------------------------------------------------------- edges (no sklearn value)

fn s(v: &str) -> Option<String> {
    Some(v.to_owned())
}

fn train() -> RawFrame {
    RawFrame::new(vec![
        RawColumn::num("age", vec![20.0, f64::NAN, 40.0, 35.0]),
        RawColumn::num("income", vec![1.0, 2.0, 3.0, 4.0]),
        RawColumn::str("color", vec![s("red"), s("blue"), None, s("red")]),
        RawColumn::num("unused", vec![f64::INFINITY; 4]),
    ])
    .unwrap()
}

fn spec() -> ChainSpec {
    ChainSpec::new(vec![
        GroupSpec::new(
            "num",
            ["age", "income"],
            vec![
                StepSpec::SimpleImputer(
                    SimpleImputerSpec::new(ImputeStrategy::Median).with_indicator(true),
                ),
                StepSpec::StandardScaler(StandardScalerSpec::default()),
            ],
        ),
        GroupSpec::new(
            "cat",
            ["color"],
            vec![
                StepSpec::SimpleImputer(SimpleImputerSpec::new(ImputeStrategy::MostFrequent)),
                StepSpec::OneHotEncoder(
                    OneHotEncoderSpec::default().with_handle_unknown(HandleUnknown::Ignore),
                ),
            ],
        ),
    ])
}

#[test]
fn json_round_trip_gives_identical_output() {
    let chain = TransformChain::fit(&spec(), &train()).unwrap();
    let json = chain.to_json().unwrap();
    assert!(json.contains("\"format\": \"mlops.transform/1\""), "{json}");
    let back = TransformChain::from_json(&json).unwrap();
    let a = chain.transform(&train()).unwrap();
    let b = back.transform(&train()).unwrap();
    assert_eq!(a, b);
    assert_eq!(
        a.data.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        b.data.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
    assert_eq!(
        a.feature_names,
        [
            "age",
            "income",
            "missingindicator_age",
            "color_blue",
            "color_red"
        ]
    );
    assert_eq!(a.to_f32().len(), a.data.len());
    assert_eq!(a.row(1).map(<[f64]>::len), Some(5));
    assert_eq!(a.row(4), None);
    assert_eq!(
        chain.input_columns(),
        [
            InputColumn {
                name: "age".into(),
                kind: ColumnKind::Num
            },
            InputColumn {
                name: "income".into(),
                kind: ColumnKind::Num
            },
            InputColumn {
                name: "color".into(),
                kind: ColumnKind::Str
            },
        ]
    );
}

#[test]
fn from_json_rejects_other_formats_and_garbage() {
    let json = TransformChain::fit(&spec(), &train())
        .unwrap()
        .to_json()
        .unwrap();
    let other = json.replace("mlops.transform/1", "mlops.transform/2");
    let e = TransformChain::from_json(&other).unwrap_err();
    assert!(
        matches!(&e, Error::InvalidInput { reason, .. } if reason.contains("mlops.transform/2")),
        "{e}"
    );
    let mut v: Value = serde_json::from_str(&json).unwrap();
    v.as_object_mut().unwrap().remove("format");
    let e = TransformChain::from_json(&v.to_string()).unwrap_err();
    assert!(
        matches!(&e, Error::InvalidInput { reason, .. } if reason.contains("missing")),
        "{e}"
    );
    for bad in ["", "{", "[]", r#"{"format": "mlops.transform/1"}"#] {
        assert!(
            matches!(
                TransformChain::from_json(bad),
                Err(Error::InvalidInput { .. })
            ),
            "{bad}"
        );
    }
    // A tampered scale (0) is caught at transform time instead of producing inf.
    let mut v: Value = serde_json::from_str(&json).unwrap();
    let step = &mut v["groups"][0]["steps"][1];
    assert_eq!(step["step"], "standard_scaler");
    step["columns"][0]["scale"] = 0.0.into();
    let chain = TransformChain::from_json(&v.to_string()).unwrap();
    let e = chain.transform(&train()).unwrap_err();
    assert!(
        matches!(&e, Error::InvalidInput { what, .. } if what.contains("\"age\"")),
        "{e}"
    );
}

#[test]
fn nan_without_imputer_names_the_column() {
    let spec = ChainSpec::new(vec![GroupSpec::new(
        "num",
        ["income", "age"],
        vec![StepSpec::StandardScaler(StandardScalerSpec::default())],
    )]);
    let e = TransformChain::fit(&spec, &train()).unwrap_err();
    assert!(
        matches!(&e, Error::InvalidInput { what, reason } if what.contains("\"age\"") && reason.contains("NaN")),
        "{e}"
    );
    // A passthrough group (no steps) must not let NaN through either.
    let spec = ChainSpec::new(vec![GroupSpec::new("raw", ["age"], vec![])]);
    let e = TransformChain::fit(&spec, &train()).unwrap_err();
    assert!(
        matches!(&e, Error::InvalidInput { what, .. } if what.contains("\"age\"")),
        "{e}"
    );
    // inf is an error even with an imputer in front.
    let spec = ChainSpec::new(vec![GroupSpec::new(
        "u",
        ["unused"],
        vec![StepSpec::SimpleImputer(SimpleImputerSpec::new(
            ImputeStrategy::Mean,
        ))],
    )]);
    let e = TransformChain::fit(&spec, &train()).unwrap_err();
    assert!(
        matches!(&e, Error::InvalidInput { what, reason } if what.contains("\"unused\"") && reason.contains("infinite")),
        "{e}"
    );
    // ... and a NaN arriving at transform time in a column the imputer did not see missing is
    // imputed, while one reaching a bare scaler is an error.
    let chain = TransformChain::fit(&super_spec_scaler_only(), &train()).unwrap();
    let t = RawFrame::new(vec![RawColumn::num("income", vec![f64::NAN])]).unwrap();
    let e = chain.transform(&t).unwrap_err();
    assert!(
        matches!(&e, Error::InvalidInput { what, .. } if what.contains("\"income\"")),
        "{e}"
    );
}

fn super_spec_scaler_only() -> ChainSpec {
    ChainSpec::new(vec![GroupSpec::new(
        "num",
        ["income"],
        vec![StepSpec::MinMaxScaler(MinMaxScalerSpec::default())],
    )])
}

#[test]
fn empty_missing_and_mistyped_inputs() {
    let e = TransformChain::fit(&spec(), &RawFrame::default()).unwrap_err();
    assert!(matches!(e, Error::Empty { .. }), "{e}");
    let no_rows = RawFrame::new(vec![
        RawColumn::num("age", vec![]),
        RawColumn::num("income", vec![]),
        RawColumn::str("color", vec![]),
    ])
    .unwrap();
    let e = TransformChain::fit(&spec(), &no_rows).unwrap_err();
    assert!(matches!(e, Error::Empty { .. }), "{e}");
    let e = TransformChain::fit(&ChainSpec::new(vec![]), &train()).unwrap_err();
    assert!(matches!(e, Error::Empty { .. }), "{e}");

    let chain = TransformChain::fit(&spec(), &train()).unwrap();
    // Zero rows at transform are fine: an empty batch.
    let out = chain.transform(&no_rows).unwrap();
    assert_eq!((out.n_rows, out.data.len(), out.n_cols()), (0, 0, 5));
    // A missing column.
    let t = RawFrame::new(vec![
        RawColumn::num("age", vec![1.0]),
        RawColumn::str("color", vec![None]),
    ])
    .unwrap();
    let e = chain.transform(&t).unwrap_err();
    assert!(
        matches!(&e, Error::SchemaMismatch { field, .. } if field == "income"),
        "{e}"
    );
    // A string column where a number is expected.
    let t = RawFrame::new(vec![
        RawColumn::str("age", vec![s("20")]),
        RawColumn::num("income", vec![1.0]),
        RawColumn::str("color", vec![None]),
    ])
    .unwrap();
    let e = chain.transform(&t).unwrap_err();
    assert!(
        matches!(&e, Error::SchemaMismatch { field, .. } if field == "age"),
        "{e}"
    );
    // A string group without an encoder cannot produce the dense matrix.
    let spec = ChainSpec::new(vec![GroupSpec::new("c", ["color"], vec![])]);
    let e = TransformChain::fit(&spec, &train()).unwrap_err();
    assert!(
        matches!(&e, Error::InvalidInput { reason, .. } if reason.contains("onehot_encoder")),
        "{e}"
    );
    // Repeated group names and colliding feature names.
    let g = || GroupSpec::new("g", ["income"], vec![]);
    let e = TransformChain::fit(&ChainSpec::new(vec![g(), g()]), &train()).unwrap_err();
    assert!(matches!(e, Error::InvalidInput { .. }), "{e}");
    let two = ChainSpec::new(vec![
        GroupSpec::new("a", ["income"], vec![]),
        GroupSpec::new("b", ["income"], vec![]),
    ]);
    let e = TransformChain::fit(&two, &train()).unwrap_err();
    assert!(
        matches!(&e, Error::InvalidInput { what, .. } if what.contains("income")),
        "{e}"
    );
    let out = TransformChain::fit(&two.with_verbose_feature_names(true), &train())
        .unwrap()
        .transform(&train())
        .unwrap();
    assert_eq!(out.feature_names, ["a__income", "b__income"]);
}

#[test]
fn raw_frame_validation() {
    let e = RawFrame::new(vec![
        RawColumn::num("a", vec![1.0]),
        RawColumn::num("a", vec![2.0]),
    ])
    .unwrap_err();
    assert!(matches!(e, Error::InvalidInput { .. }), "{e}");
    let e = RawFrame::new(vec![
        RawColumn::num("a", vec![1.0]),
        RawColumn::num("b", vec![]),
    ])
    .unwrap_err();
    assert!(
        matches!(&e, Error::InvalidInput { what, .. } if what.contains("\"b\"")),
        "{e}"
    );
    let f = RawFrame::new(vec![RawColumn::num("a", vec![1.0, 2.0])]).unwrap();
    assert_eq!((f.n_rows(), f.n_columns()), (2, 1));
    assert_eq!(RawFrame::default().n_rows(), 0);
}

#[test]
fn spec_json_is_stable() {
    let json = serde_json::to_value(spec()).unwrap();
    assert_eq!(json["groups"][0]["steps"][0]["step"], "simple_imputer");
    assert_eq!(json["groups"][1]["steps"][1]["step"], "onehot_encoder");
    assert_eq!(json["groups"][1]["steps"][1]["handle_unknown"], "ignore");
    let back: ChainSpec = serde_json::from_value(json).unwrap();
    assert_eq!(back, spec());
    let bad = r#"{"groups": [{"name": "g", "columns": ["a"], "steps": [{"step": "standard_scaler", "with_means": true}]}]}"#;
    assert!(serde_json::from_str::<ChainSpec>(bad).is_err());
}
