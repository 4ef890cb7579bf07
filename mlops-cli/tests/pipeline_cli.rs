//! `mlops pipeline run` with built-in steps, the gate and registration, as a user runs it:
//! exit 0 and a registered version; an unchanged rerun executes 0 steps and adds no version;
//! a worse config exits 1 naming the failed threshold; a bad `[gate]` exits 2 naming the key.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::BIN;
use serde_json::Value;

fn mlops(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_remove("MLOPS_LOG")
        .output()
        .unwrap()
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// `id,x0,x1,plan,y` with y depending on x0 (strongly) and x1; a deterministic LCG.
fn write_data(path: &Path, n: usize) {
    let mut s: u64 = 42;
    let mut u = || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut text = String::from("id,x0,x1,plan,y\n");
    for i in 0..n {
        let (x0, x1) = (u() * 4.0 - 2.0, u() * 4.0 - 2.0);
        let plan = ["a", "b", "c"][(u() * 3.0) as usize % 3];
        let z = 3.0 * x0 - x1;
        let y = u8::from(u() < 1.0 / (1.0 + (-z).exp()));
        text.push_str(&format!("r{i},{x0:.5},{x1:.5},{plan},{y}\n"));
    }
    std::fs::write(path, text).unwrap();
}

fn spec(work: &str, numeric: &str, change: &str) -> String {
    format!(
        r#"name = "cli"
seed = 3
[[steps]]
name = "split"
kind = "split"
inputs = {{ data = "data.csv" }}
outputs = {{ train = "{work}/train.csv", holdout = "{work}/holdout.csv" }}
params = {{ id_column = "id" }}
[[steps]]
name = "prep"
kind = "fit_transform"
inputs = {{ train = "@split.train" }}
outputs = {{ transform = "{work}/transform.json" }}
params = {{ groups = [{{ name = "num", columns = [{numeric}], steps = [{{ step = "standard_scaler" }}] }}, {{ name = "cat", columns = ["plan"], steps = [{{ step = "onehot_encoder", handle_unknown = "ignore" }}] }}] }}
[[steps]]
name = "train"
kind = "train_logreg"
inputs = {{ train = "@split.train", transform = "@prep.transform" }}
outputs = {{ model = "{work}/model" }}
params = {{ label = "y", drop = ["id"], c = 1.0 }}
[gate]
candidate = "@train.model"
heldout = "@split.holdout"
label = "y"
champion = "production"
[gate.metrics.roc_auc]
threshold = 0.7
{change}
[register]
model = "cli-model"
first_alias = "production"
"#
    )
}

#[test]
fn run_gate_register_rerun_refuse_and_bad_spec() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    write_data(&dir.join("data.csv"), 800);
    let store = dir.join("reg");
    let store = store.to_str().unwrap();
    std::fs::write(
        dir.join("good.toml"),
        spec("good", "\"x0\", \"x1\"", "min_absolute_change = 0.01"),
    )
    .unwrap();
    let run = |file: &str| {
        mlops(
            dir,
            &[
                "pipeline", "run", file, "--store", store, "--format", "json",
            ],
        )
    };

    let first = run("good.toml");
    assert_eq!(
        first.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let r = json(&first);
    assert_eq!(r["registered"]["name"], "cli-model");
    assert_eq!(r["registered"]["version"], 1);
    assert_eq!(r["registered"]["alias"], "production");
    assert_eq!(r["gate"]["passed"], true);
    let statuses: Vec<&str> = r["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["ran", "ran", "ran"]);
    for s in r["steps"].as_array().unwrap() {
        assert!(!s["outputs"].as_object().unwrap().is_empty(), "{s}");
    }

    // Unchanged: 0 steps run, the same version reported, nothing registered.
    let again = json(&run("good.toml"));
    let statuses: Vec<&str> = again["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["cached", "cached", "cached"]);
    assert_eq!(again["registered"]["version"], 1);
    assert_eq!(again["gate"]["already_registered"], 1);

    // A worse config (x0 left out): the gate refuses it against production = v1, exit 1.
    std::fs::write(
        dir.join("worse.toml"),
        spec("worse", "\"x1\"", "min_absolute_change = 0.01"),
    )
    .unwrap();
    let worse = run("worse.toml");
    assert_eq!(worse.status.code(), Some(1));
    let w = json(&worse);
    assert_eq!(w["gate"]["passed"], false);
    assert_eq!(w["gate"]["champion"]["version"], 1);
    assert!(w["registered"].is_null());
    let reasons = w["gate"]["reasons"].to_string();
    assert!(reasons.contains("roc_auc"), "{reasons}");
    // The text format names the failure too.
    let text = mlops(dir, &["pipeline", "run", "worse.toml", "--store", store]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("gate: FAILED") && text.contains("not registered"),
        "{text}"
    );

    // A bad [gate] is refused before any step runs: exit 2 naming the key.
    std::fs::write(
        dir.join("bad.toml"),
        spec("bad", "\"x0\"", "").replace(
            "candidate = \"@train.model\"",
            "candidate = \"@train.weights\"",
        ),
    )
    .unwrap();
    let bad = run("bad.toml");
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("gate.candidate") && err.contains("weights"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    // [register] without --store is an error too.
    let no_store = mlops(dir, &["pipeline", "run", "good.toml"]);
    assert_eq!(no_store.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&no_store.stderr).contains("--store"));
}
