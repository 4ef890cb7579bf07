//! The built-in steps end to end, then the gate and registration: split → fit_transform →
//! tune → train_logreg → gate against `churn@production` → register with lineage.
//!
//! - a first model passes on value thresholds only and gets `first_alias`;
//! - an unchanged rerun executes 0 steps and registers nothing new;
//! - a worse config (the informative column left out) is refused, naming the threshold;
//! - a retrain on new data beats the champion, is registered with the champion as parent and
//!   the trigger in its tags, and gets the candidate alias;
//! - the champion is scored through the registry on raw columns (its transform.json).

use std::fs;
use std::path::{Path, PathBuf};

use mlops_core::{AliasName, ModelName, ModelRef, SnapshotBuilder};
use mlops_pipeline::gate::GateReport;
use mlops_pipeline::{Pipeline, RunOptions, Runner, StepStatus, TriggerCause};
use mlops_registry::{FileRegistry, Registry};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Rows of `id,f0,f1,plan,y`: y ~ Bernoulli(sigmoid(2·f0 − f1 + plan effect)); some f1 missing.
fn write_data(path: &Path, n: usize, seed: u64, shift: f64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut text = String::from("id,f0,f1,plan,y\n");
    for i in 0..n {
        let f0: f64 = rng.gen::<f64>() * 4.0 - 2.0 + shift;
        let f1: f64 = rng.gen::<f64>() * 4.0 - 2.0;
        let plan = ["basic", "pro", "enterprise"][rng.gen_range(0..3)];
        let effect = match plan {
            "basic" => -0.5,
            "pro" => 0.3,
            _ => 1.0,
        };
        let z = 2.0 * (f0 - shift) - f1 + effect;
        let y = u8::from(rng.gen::<f64>() < 1.0 / (1.0 + (-z).exp()));
        let f1s = if i % 17 == 0 {
            String::new()
        } else {
            format!("{f1:.4}")
        };
        text.push_str(&format!("{seed}-{i},{f0:.4},{f1s},{plan},{y}\n"));
    }
    fs::write(path, text).unwrap();
}

fn spec(groups: &str, min_change: f64) -> String {
    format!(
        r#"
name = "churn"
seed = 11

[[steps]]
name = "split"
kind = "split"
inputs = {{ data = "${{DATA}}" }}
outputs = {{ train = "work/train.csv", holdout = "work/holdout.csv" }}
params = {{ holdout_fraction = 0.3, id_column = "id" }}

[[steps]]
name = "prep"
kind = "fit_transform"
inputs = {{ train = "@split.train" }}
outputs = {{ transform = "work/transform.json" }}
params = {{ groups = {groups} }}

[[steps]]
name = "tune"
kind = "tune"
inputs = {{ train = "@split.train", transform = "@prep.transform" }}
outputs = {{ best = "work/best.json", journal = "work/study.journal" }}
params = {{ trainer = "logreg", label = "y", drop = ["id"], n_trials = 6, space = {{ c = {{ type = "float", low = 0.001, high = 10.0, log = true }} }} }}

[[steps]]
name = "train"
kind = "train_logreg"
inputs = {{ train = "@split.train", transform = "@prep.transform", params = "@tune.best" }}
outputs = {{ model = "work/model" }}
params = {{ label = "y", drop = ["id"] }}

[gate]
candidate = "@train.model"
heldout = "@split.holdout"
label = "y"
id = "id"
champion = "production"
output = "y"

[gate.metrics.roc_auc]
threshold = 0.75

[gate.metrics.log_loss]
threshold = 0.7
min_absolute_change = {min_change}

[register]
model = "churn"
alias = "candidate"
first_alias = "production"
"#
    )
}

const GOOD: &str = r#"[
  { name = "num", columns = ["f0", "f1"], steps = [{ step = "simple_imputer", strategy = "mean" }, { step = "standard_scaler" }] },
  { name = "cat", columns = ["plan"], steps = [{ step = "onehot_encoder", handle_unknown = "ignore" }] },
]"#;

/// Leaves out f0, the informative feature.
const WORSE: &str = r#"[
  { name = "num", columns = ["f1"], steps = [{ step = "simple_imputer", strategy = "mean" }, { step = "standard_scaler" }] },
  { name = "cat", columns = ["plan"], steps = [{ step = "onehot_encoder", handle_unknown = "ignore" }] },
]"#;

struct Setup {
    _dir: tempfile::TempDir,
    root: PathBuf,
    registry: FileRegistry,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    fs::create_dir_all(root.join("data")).unwrap();
    let registry = FileRegistry::open(root.join("registry")).unwrap();
    Setup {
        _dir: dir,
        root,
        registry,
    }
}

fn load(root: &Path, file: &str, text: &str, data: &Path) -> Pipeline {
    let p = root.join(file);
    fs::write(&p, text).unwrap();
    let data = data.display().to_string();
    Pipeline::from_spec(toml::from_str(text).unwrap(), root, &|k: &str| {
        (k == "DATA").then(|| data.clone())
    })
    .unwrap()
}

fn opts(root: &Path, trigger: TriggerCause) -> RunOptions {
    RunOptions {
        cache_dir: Some(root.join("cache")),
        jobs: 2,
        trigger,
        ..RunOptions::default()
    }
}

fn gate_reasons(r: &mlops_pipeline::RunReport) -> Vec<String> {
    r.gate.as_ref().unwrap()["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn first_model_rerun_worse_config_and_retrain() {
    let s = setup();
    let runner = Runner::new().with_builtins();
    let name = ModelName::new("churn").unwrap();
    let production = AliasName::new("production").unwrap();
    let data1 = s.root.join("data/day1.csv");
    write_data(&data1, 1200, 1, 0.0);

    // 1. The first model: no champion, value thresholds only, `first_alias`.
    let p = load(&s.root, "pipeline.toml", &spec(GOOD, 0.01), &data1);
    let r1 = runner
        .run_and_register(&p, &opts(&s.root, TriggerCause::Manual), Some(&s.registry))
        .unwrap();
    assert!(r1.steps_ok(), "{r1:#?}");
    assert_eq!(r1.ran(), ["split", "prep", "tune", "train"]);
    let g1 = r1.gate.as_ref().unwrap();
    assert_eq!(g1["passed"], true, "{g1:#}");
    assert_eq!(g1["has_champion"], false);
    let reg1 = r1.registered.clone().unwrap();
    assert_eq!(
        (reg1.version, reg1.alias.as_deref()),
        (1, Some("production"))
    );
    assert_eq!(
        s.registry.aliases(&name).unwrap().get(&production),
        Some(&1)
    );
    let v1 = s.registry.version(&name, 1).unwrap().version;
    // Lineage: the snapshot of the input data, no parent; the run, trigger, study and steps.
    let snap = SnapshotBuilder::new().path(&data1).build().unwrap();
    assert_eq!(v1.lineage.datasets, vec![snap.digest]);
    assert_eq!(v1.lineage.parent_version, None);
    assert_eq!(v1.tags["mlops.run_id"], r1.run_id);
    assert_eq!(v1.tags["mlops.trigger"], "manual");
    assert_eq!(v1.tags["mlops.blessed"], "true");
    assert_eq!(
        v1.tags["mlops.study.tune"],
        r1.step("tune").unwrap().outputs["journal"]
    );
    assert!(v1.tags.contains_key("mlops.trial.tune"));
    assert!(v1.params.contains_key("tune.best.c"), "{:?}", v1.params);
    assert!(v1.metrics["roc_auc"] > 0.8, "{:?}", v1.metrics);
    assert_eq!(v1.format, "feedforward");
    let names: Vec<&str> = v1.artifacts.iter().map(|a| a.name.as_str()).collect();
    for want in [
        "model.json",
        "model.safetensors",
        "transform.json",
        "blessing.json",
        "run.json",
    ] {
        assert!(names.contains(&want), "{names:?}");
    }
    let blessing = s.registry.read_artifact(&name, 1, "blessing.json").unwrap();
    let blessing = GateReport::from_json(std::str::from_utf8(&blessing).unwrap()).unwrap();
    assert!(blessing.passed);
    // The served signature takes raw columns: the plan as a string.
    let sig = v1.signature.clone().unwrap();
    let plan = sig.inputs.field("plan").expect("raw column input");
    assert_eq!(plan.dtype, mlops_core::DType::Bytes);

    // 2. Unchanged rerun: 0 steps, the same version found, nothing new.
    let r2 = runner
        .run_and_register(&p, &opts(&s.root, TriggerCause::Manual), Some(&s.registry))
        .unwrap();
    assert!(r2.ran().is_empty(), "{:?}", r2.ran());
    assert!(r2.steps.iter().all(|s| s.status == StepStatus::Cached));
    let reg2 = r2.registered.clone().unwrap();
    assert_eq!((reg2.version, reg2.alias), (1, None));
    // The gate is not run against itself: the version's blessing is reported.
    let g2 = r2.gate.as_ref().unwrap();
    assert_eq!(g2["already_registered"], 1);
    assert_eq!(g2["passed"], true);
    assert_eq!(s.registry.versions(&name).unwrap().len(), 1);

    // 3. A worse config: refused against the champion, naming log_loss with its numbers.
    let pw = load(&s.root, "worse.toml", &spec(WORSE, 0.01), &data1);
    let rw = runner
        .run_and_register(&pw, &opts(&s.root, TriggerCause::Manual), Some(&s.registry))
        .unwrap();
    assert!(rw.steps_ok());
    let gw = rw.gate.as_ref().unwrap();
    assert_eq!(gw["passed"], false, "{gw:#}");
    assert_eq!(gw["has_champion"], true);
    assert_eq!(gw["champion"]["version"], 1);
    let reasons = gate_reasons(&rw);
    assert!(
        reasons
            .iter()
            .any(|r| r.starts_with("log_loss") && r.contains("0.")),
        "{reasons:?}"
    );
    assert!(rw.registered.is_none());
    assert_eq!(s.registry.versions(&name).unwrap().len(), 1);
    assert_eq!(
        s.registry.aliases(&name).unwrap().get(&production),
        Some(&1)
    );

    // 4. New data where P(y|x) moved: the retrained model's log loss beats the champion's by
    //    more than 0.01 on the same held-out rows → v2, parent v1, aliased `candidate`.
    let data2 = s.root.join("data/day2.csv");
    write_data(&data2, 1500, 2, 0.5);
    let p2 = load(&s.root, "pipeline.toml", &spec(GOOD, 0.01), &data2);
    let alert = TriggerCause::Alert {
        rule: "accuracy_drop".into(),
        key: "churn/stable/all".into(),
        value: 0.61,
        at_ms: 1_700_000_000_000,
    };
    let r3 = runner
        .run_and_register(&p2, &opts(&s.root, alert), Some(&s.registry))
        .unwrap();
    assert_eq!(r3.ran(), ["split", "prep", "tune", "train"]);
    let g3 = r3.gate.as_ref().unwrap();
    assert_eq!(g3["passed"], true, "{g3:#}");
    assert_eq!(g3["has_champion"], true);
    let reg3 = r3.registered.clone().unwrap();
    assert_eq!(
        (reg3.version, reg3.alias.as_deref()),
        (2, Some("candidate"))
    );
    let v2 = s.registry.version(&name, 2).unwrap().version;
    assert_eq!(v2.lineage.parent_version, Some(1));
    assert_eq!(v2.tags["mlops.trigger"], "alert:accuracy_drop");
    assert!(v2.tags["mlops.trigger.detail"].contains("churn/stable/all"));
    let cand = ModelRef::alias(name.clone(), AliasName::new("candidate").unwrap());
    assert_eq!(s.registry.resolve(&cand).unwrap().version.version, 2);
    assert_eq!(
        s.registry.aliases(&name).unwrap().get(&production),
        Some(&1)
    );
}

#[test]
fn bad_gate_and_register_tables_are_spec_errors() {
    let s = setup();
    let data = s.root.join("data/d.csv");
    write_data(&data, 100, 3, 0.0);
    let base = spec(GOOD, 0.01);
    let cases = [
        (
            base.replace(
                "candidate = \"@train.model\"",
                "candidate = \"@train.nope\"",
            ),
            "gate.candidate",
        ),
        (base.replace("label = \"y\"\nid", "id"), "gate.label"),
        (
            base.replace("[gate.metrics.roc_auc]", "[gate.metrics.roc_aucc]"),
            "gate.metrics.roc_aucc",
        ),
        (
            base.replace("model = \"churn\"", "model = \"bad name!\""),
            "register.model",
        ),
        (
            base.replace("alias = \"candidate\"", "alias = \"candidate\"\ncolour = 1"),
            "register",
        ),
    ];
    for (text, at) in cases {
        let p = load(&s.root, "p.toml", &text, &data);
        let e = Runner::new()
            .with_builtins()
            .run_and_register(&p, &opts(&s.root, TriggerCause::Manual), Some(&s.registry))
            .unwrap_err();
        match e {
            mlops_pipeline::Error::InvalidSpec { at: got, .. } => {
                assert!(got.starts_with(at), "{got} vs {at}")
            }
            other => panic!("{at}: {other}"),
        }
    }
    // No step ran for a bad spec.
    assert!(!s.root.join("work").exists());
}
