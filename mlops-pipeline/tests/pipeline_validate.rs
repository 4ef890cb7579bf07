//! The `validate` step stops a run before training when the data fails its schema, and lets
//! it through when the data is clean.

use std::fs;
use std::path::Path;

use mlops_pipeline::{Pipeline, RunOptions, Runner, StepStatus};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Rows of `id,f0,f1,plan,y`; `f1` is missing in a fraction `missing` of the rows.
fn write_data(path: &Path, n: usize, seed: u64, missing: f64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut text = String::from("id,f0,f1,plan,y\n");
    for i in 0..n {
        let f0: f64 = rng.gen::<f64>() * 4.0 - 2.0;
        let f1: f64 = rng.gen::<f64>() * 4.0 - 2.0;
        let plan = ["basic", "pro", "enterprise"][rng.gen_range(0..3)];
        let y = u8::from(rng.gen::<f64>() < 1.0 / (1.0 + (-(2.0 * f0 - f1)).exp()));
        let f1s = if rng.gen::<f64>() < missing {
            String::new()
        } else {
            format!("{f1:.4}")
        };
        text.push_str(&format!("{seed}-{i},{f0:.4},{f1s},{plan},{y}\n"));
    }
    fs::write(path, text).unwrap();
}

const SPEC: &str = r#"
name = "churn"
seed = 3

[[steps]]
name = "check"
kind = "validate"
inputs = { data = "${DATA}", schema = "schema.toml" }
outputs = { report = "work/validation.json" }

[[steps]]
name = "split"
kind = "split"
after = ["check"]
inputs = { data = "${DATA}" }
outputs = { train = "work/train.csv", holdout = "work/holdout.csv" }
params = { holdout_fraction = 0.3, id_column = "id" }

[[steps]]
name = "prep"
kind = "fit_transform"
inputs = { train = "@split.train" }
outputs = { transform = "work/transform.json" }
params = { groups = [
  { name = "num", columns = ["f0", "f1"], steps = [{ step = "simple_imputer", strategy = "mean" }] },
  { name = "cat", columns = ["plan"], steps = [{ step = "onehot_encoder", handle_unknown = "ignore" }] },
] }

[[steps]]
name = "train"
kind = "train_logreg"
inputs = { train = "@split.train", transform = "@prep.transform" }
outputs = { model = "work/model" }
params = { label = "y", drop = ["id"] }
"#;

fn load(root: &Path, data: &Path) -> Pipeline {
    let data = data.display().to_string();
    Pipeline::from_spec(toml::from_str(SPEC).unwrap(), root, &|k: &str| {
        (k == "DATA").then(|| data.clone())
    })
    .unwrap()
}

#[test]
fn a_bad_batch_stops_the_run_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let reference = root.join("reference.csv");
    write_data(&reference, 2_000, 1, 0.05);
    let schema =
        mlops_validate::infer_file(&reference, &mlops_validate::InferOptions::default(), None)
            .unwrap();
    schema.save(&root.join("schema.toml")).unwrap();
    let runner = Runner::new().with_builtins();
    let opts = RunOptions {
        cache_dir: Some(root.join("cache")),
        jobs: 2,
        ..RunOptions::default()
    };

    // Clean data from the same distribution: validated, then trained.
    let good = root.join("good.csv");
    write_data(&good, 2_000, 2, 0.05);
    let r = runner.run(&load(root, &good), &opts).unwrap();
    assert!(r.steps_ok(), "{r:#?}");
    assert_eq!(r.ran(), ["check", "split", "prep", "train"]);
    let check = r.step("check").unwrap();
    assert_eq!(check.metrics["rows"], 2_000.0);
    assert_eq!(check.metrics["errors"], 0.0);
    let report: serde_json::Value =
        serde_json::from_slice(&fs::read(root.join("work/validation.json")).unwrap()).unwrap();
    assert_eq!(report["errors"], 0);

    // f1 went 30 % null: the check fails, nothing downstream runs.
    let bad = root.join("bad.csv");
    write_data(&bad, 2_000, 3, 0.30);
    let r = runner.run(&load(root, &bad), &opts).unwrap();
    assert!(!r.steps_ok());
    let check = r.step("check").unwrap();
    assert_eq!(check.status, StepStatus::Failed);
    let error = check.error.as_deref().unwrap();
    assert!(
        error.contains("f1 missing_values") && error.contains("failed validation"),
        "{error}"
    );
    for s in ["split", "prep", "train"] {
        assert_eq!(r.step(s).unwrap().status, StepStatus::Skipped, "{s}");
    }

    // Editing the schema (allowing 40 % missing) reruns the check: the schema is an input.
    let mut relaxed = schema.clone();
    relaxed.columns.get_mut("f1").unwrap().not_null = Some(mlops_validate::schema::NotNull {
        tolerance: mlops_validate::schema::Tolerance {
            mostly: 0.6,
            severity: mlops_validate::Severity::Error,
        },
    });
    relaxed.save(&root.join("schema.toml")).unwrap();
    let r = runner.run(&load(root, &bad), &opts).unwrap();
    assert!(r.steps_ok(), "{r:#?}");
    assert_eq!(r.step("check").unwrap().status, StepStatus::Ran);
}

#[test]
fn bad_validate_params_are_spec_errors() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let data = root.join("d.csv");
    write_data(&data, 50, 1, 0.0);
    fs::write(root.join("schema.toml"), "version = 1\n").unwrap();
    let spec = SPEC.replace(
        "outputs = { report = \"work/validation.json\" }",
        "outputs = { report = \"work/validation.json\" }\nparams = { fail_on = \"fatal\" }",
    );
    let data_s = data.display().to_string();
    let p = Pipeline::from_spec(toml::from_str(&spec).unwrap(), root, &|k: &str| {
        (k == "DATA").then(|| data_s.clone())
    })
    .unwrap();
    let r = Runner::new()
        .with_builtins()
        .run(&p, &RunOptions::default())
        .unwrap();
    let e = r.step("check").unwrap().error.clone().unwrap();
    assert!(e.contains("fail_on") && e.contains("fatal"), "{e}");
}
