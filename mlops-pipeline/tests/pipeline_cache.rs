//! The step cache, end to end on real processes: unchanged rerun → 0 steps, one byte → exactly
//! the downstream steps, deleted or tampered outputs rerun, an input changed mid-run is caught,
//! failures stop only their downstream and a rerun resumes from the cache.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use mlops_pipeline::{
    Error, Pipeline, RunOptions, RunReport, Runner, Step, StepContext, StepOutcome, StepStatus,
};

/// A five-step DAG of shell commands: prep_a and prep_b are independent, join reads both, train
/// writes a directory and metrics, report reads the model. Every execution appends the step's
/// name to `executions.log` (outside every output), so the tests see what really ran.
const PIPELINE: &str = r#"
name = "five"
seed = 7

[[steps]]
name = "prep_a"
command = ["sh", "-c", "echo prep_a >> executions.log; tr a-z A-Z < \"$MLOPS_INPUT_RAW\" > ${outputs.out}"]
inputs = { raw = "data/a.csv" }
outputs = { out = "work/a.csv" }

[[steps]]
name = "prep_b"
command = ["sh", "-c", "echo prep_b >> executions.log; tr a-z A-Z < ${inputs.raw} > ${outputs.out}"]
inputs = { raw = "data/b.csv" }
outputs = { out = "work/b.csv" }

[[steps]]
name = "join"
command = ["sh", "-c", "echo join >> executions.log; cat ${inputs.a} ${inputs.b} > ${outputs.out}"]
inputs = { a = "@prep_a.out", b = "work/b.csv" }
outputs = { out = "work/joined.csv" }

[[steps]]
name = "train"
command = ["sh", "-c", "echo train >> executions.log; mkdir -p ${outputs.model} && cksum < ${inputs.data} > ${outputs.model}/weights && cat ${params_file} > ${outputs.model}/params.json && echo '{\"rows\": 4, \"eval\": {\"auc\": 0.75}}' > ${metrics_file}"]
inputs = { data = "@join.out" }
outputs = { model = "work/model" }
params = { lr = 0.1, layers = [8, 4], name = "ünïcode" }

[[steps]]
name = "report"
command = ["sh", "-c", "echo report >> executions.log; cat ${inputs.model}/weights > ${outputs.out}"]
inputs = { model = "@train.model" }
outputs = { out = "work/report.txt" }
"#;

fn setup(spec: &str) -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    fs::create_dir_all(d.path().join("data")).unwrap();
    fs::write(d.path().join("data/a.csv"), "x,y\n1,2\n").unwrap();
    fs::write(d.path().join("data/b.csv"), "x,y\n3,4\n").unwrap();
    let p = d.path().join("pipeline.toml");
    fs::write(&p, spec).unwrap();
    (d, p)
}

fn run(path: &Path) -> RunReport {
    run_with(path, RunOptions::default())
}

fn run_with(path: &Path, opts: RunOptions) -> RunReport {
    let p = Pipeline::load(path).unwrap();
    Runner::new().run(&p, &opts).unwrap()
}

fn executions(dir: &Path) -> Vec<String> {
    let text = fs::read_to_string(dir.join("executions.log")).unwrap_or_default();
    let out: Vec<String> = text.lines().map(str::to_string).collect();
    fs::write(dir.join("executions.log"), "").unwrap();
    out
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn ran(r: &RunReport) -> BTreeSet<String> {
    r.ran().into_iter().map(str::to_string).collect()
}

#[test]
fn unchanged_rerun_executes_zero_steps() {
    let (d, p) = setup(PIPELINE);
    let first = run(&p);
    assert!(first.steps_ok(), "{first:#?}");
    assert_eq!(ran(&first).len(), 5);
    assert_eq!(executions(d.path()).len(), 5);
    assert_eq!(first.step("train").unwrap().metrics["eval.auc"], 0.75);
    let weights = fs::read_to_string(d.path().join("work/model/weights")).unwrap();
    assert_eq!(
        fs::read_to_string(d.path().join("work/report.txt")).unwrap(),
        weights
    );
    let second = run(&p);
    assert!(ran(&second).is_empty(), "{second:#?}");
    assert!(second.steps.iter().all(|s| s.status == StepStatus::Cached));
    assert!(executions(d.path()).is_empty());
    // Cached steps report the digests and metrics they recorded.
    for (a, b) in first.steps.iter().zip(&second.steps) {
        assert_eq!(a.outputs, b.outputs);
        assert_eq!(a.key, b.key);
        assert_eq!(a.metrics, b.metrics);
    }
    assert_ne!(first.run_id, second.run_id);
    assert_eq!(first.run_id.len(), 32);
    // The run report is stored under its id.
    assert!(d
        .path()
        .join(".mlops-cache/runs")
        .join(format!("{}.json", second.run_id))
        .exists());
}

#[test]
fn one_byte_reruns_exactly_the_downstream_steps() {
    let (d, p) = setup(PIPELINE);
    run(&p);
    executions(d.path());
    fs::write(d.path().join("data/b.csv"), "x,y\n3,5\n").unwrap();
    let r = run(&p);
    let want = set(&["prep_b", "join", "train", "report"]);
    assert_eq!(ran(&r), want);
    assert_eq!(r.step("prep_a").unwrap().status, StepStatus::Cached);
    assert_eq!(
        executions(d.path()).into_iter().collect::<BTreeSet<_>>(),
        want
    );
    // The pipeline itself says the same: the changed input's downstream.
    let pl = Pipeline::load(&p).unwrap();
    let mut expected = pl.downstream("prep_b");
    expected.insert("prep_b".into());
    assert_eq!(expected, want);
}

#[test]
fn a_change_that_leaves_an_output_identical_stops_there() {
    let (d, p) = setup(PIPELINE);
    run(&p);
    executions(d.path());
    // Upper-casing hides this change: prep_a's output is byte-identical, so join is cached.
    fs::write(d.path().join("data/a.csv"), "X,Y\n1,2\n").unwrap();
    let r = run(&p);
    assert_eq!(ran(&r), set(&["prep_a"]));
}

#[test]
fn deleted_or_tampered_outputs_rerun_their_step() {
    let (d, p) = setup(PIPELINE);
    run(&p);
    executions(d.path());
    // A deleted directory output: train reruns; it writes the same bytes, so report is cached.
    fs::remove_dir_all(d.path().join("work/model")).unwrap();
    let r = run(&p);
    assert_eq!(ran(&r), set(&["train"]), "{r:#?}");
    assert!(r
        .step("train")
        .unwrap()
        .reason
        .as_deref()
        .unwrap()
        .contains("missing"));
    // A file inside a directory output edited by hand: train reruns.
    fs::write(d.path().join("work/model/weights"), "5\n").unwrap();
    let r = run(&p);
    assert_eq!(ran(&r), set(&["train"]));
    assert!(r
        .step("train")
        .unwrap()
        .reason
        .as_deref()
        .unwrap()
        .contains("changed"));
    // An extra file in a directory output is a change too.
    fs::write(d.path().join("work/model/extra"), "").unwrap();
    assert_eq!(ran(&run(&p)), set(&["train"]));
    assert!(
        !d.path().join("work/model/extra").exists(),
        "old outputs are removed first"
    );
    // A tampered last output.
    fs::write(d.path().join("work/report.txt"), "9\n").unwrap();
    assert_eq!(ran(&run(&p)), set(&["report"]));
    assert_eq!(
        fs::read_to_string(d.path().join("work/report.txt")).unwrap(),
        fs::read_to_string(d.path().join("work/model/weights")).unwrap()
    );
    // A cache record torn or edited by hand is ignored (with a warning), never trusted.
    let key = run(&p).step("report").unwrap().key.clone().unwrap();
    let rec = d
        .path()
        .join(".mlops-cache/steps")
        .join(format!("{key}.json"));
    let text = fs::read_to_string(&rec).unwrap();
    fs::write(&rec, &text[..text.len() / 2]).unwrap();
    assert_eq!(ran(&run(&p)), set(&["report"]));
    assert_eq!(ran(&run(&p)), set(&[]));
}

#[test]
fn an_input_changed_while_its_step_runs_is_detected_and_not_cached() {
    let spec = r#"
name = "midrun"
[[steps]]
name = "slow"
command = ["sh", "-c", "touch started; while [ ! -e go ]; do sleep 0.02; done; cp ${inputs.raw} ${outputs.out}"]
inputs = { raw = "data/a.csv" }
outputs = { out = "work/a.csv" }
[[steps]]
name = "after"
command = ["sh", "-c", "cp ${inputs.x} ${outputs.out}"]
inputs = { x = "@slow.out" }
outputs = { out = "work/after.csv" }
"#;
    let (d, p) = setup(spec);
    let root = d.path().to_path_buf();
    let writer = std::thread::spawn(move || {
        while !root.join("started").exists() {
            std::thread::sleep(Duration::from_millis(10));
        }
        fs::write(root.join("data/a.csv"), "x,y\n1,3\n").unwrap();
        fs::write(root.join("go"), "").unwrap();
    });
    let r = run(&p);
    writer.join().unwrap();
    let slow = r.step("slow").unwrap();
    assert_eq!(slow.status, StepStatus::Failed);
    let err = slow.error.as_deref().unwrap();
    assert!(err.contains("changed while the step ran"), "{err}");
    assert_eq!(r.step("after").unwrap().status, StepStatus::Skipped);
    // Nothing was cached: the next run executes `slow` again (and now succeeds).
    fs::remove_file(d.path().join("started")).unwrap();
    let r = run(&p);
    assert!(r.steps_ok(), "{r:#?}");
    assert_eq!(ran(&r), set(&["slow", "after"]));
}

#[test]
fn a_failed_step_stops_its_downstream_and_a_rerun_resumes() {
    let spec = PIPELINE.replace(
        "echo join >> executions.log;",
        "echo join >> executions.log; test -e allow_join || { echo 'join: not allowed yet' >&2; exit 3; };",
    );
    let (d, p) = setup(&spec);
    let r = run(&p);
    assert!(!r.steps_ok());
    let join = r.step("join").unwrap();
    assert_eq!(join.status, StepStatus::Failed);
    let err = join.error.as_deref().unwrap();
    assert!(
        err.contains("exit status: 3") && err.contains("join: not allowed yet"),
        "{err}"
    );
    assert!(join.log.as_ref().unwrap().exists());
    assert_eq!(r.step("train").unwrap().status, StepStatus::Skipped);
    assert_eq!(r.step("report").unwrap().status, StepStatus::Skipped);
    assert_eq!(r.step("prep_a").unwrap().status, StepStatus::Ran);
    assert_eq!(r.step("prep_b").unwrap().status, StepStatus::Ran);
    executions(d.path());
    fs::write(d.path().join("allow_join"), "").unwrap();
    let r = run(&p);
    assert!(r.steps_ok());
    assert_eq!(ran(&r), set(&["join", "train", "report"]));
}

#[test]
fn a_step_that_forgets_an_output_fails() {
    let spec = r#"
name = "forget"
[[steps]]
name = "a"
command = ["sh", "-c", "echo hi > ${outputs.one}"]
outputs = { one = "work/one", two = "work/two" }
"#;
    let (_d, p) = setup(spec);
    let r = run(&p);
    let a = r.step("a").unwrap();
    assert_eq!(a.status, StepStatus::Failed);
    assert!(a.error.as_deref().unwrap().contains("\"two\""));
}

#[test]
fn volatile_steps_always_run_and_force_reruns_one_step() {
    let spec = PIPELINE.replace(
        "name = \"report\"\n",
        "name = \"report\"\nvolatile = true\n",
    );
    let (d, p) = setup(&spec);
    run(&p);
    executions(d.path());
    assert_eq!(ran(&run(&p)), set(&["report"]));
    // --force train: it reruns; its output is unchanged, so only volatile report follows.
    let r = run_with(
        &p,
        RunOptions {
            force: set(&["train"]),
            ..RunOptions::default()
        },
    );
    assert_eq!(ran(&r), set(&["train", "report"]));
    assert_eq!(r.step("train").unwrap().reason.as_deref(), Some("forced"));
    let bad = Runner::new().run(
        &Pipeline::load(&p).unwrap(),
        &RunOptions {
            force: set(&["nope"]),
            ..RunOptions::default()
        },
    );
    assert!(matches!(bad, Err(Error::InvalidSpec { .. })));
}

#[test]
fn params_are_part_of_the_key_by_their_bits() {
    let (d, p) = setup(PIPELINE);
    run(&p);
    // The same float written differently is the same key.
    fs::write(
        &p,
        PIPELINE.replace("lr = 0.1,", "lr = 0.1000000000000000055,"),
    )
    .unwrap();
    assert!(ran(&run(&p)).is_empty());
    // A different value reruns train (its params file lands in the model dir) and report.
    fs::write(&p, PIPELINE.replace("lr = 0.1,", "lr = 0.2,")).unwrap();
    let r = run(&p);
    assert_eq!(ran(&r), set(&["train", "report"]));
    let params = fs::read_to_string(d.path().join("work/model/params.json")).unwrap();
    assert!(
        params.contains("0.2") && params.contains("ünïcode"),
        "{params}"
    );
    // The seed is part of the key.
    fs::write(
        &p,
        PIPELINE
            .replace("lr = 0.1,", "lr = 0.2,")
            .replace("seed = 7", "seed = 8"),
    )
    .unwrap();
    assert_eq!(ran(&run(&p)).len(), 5);
}

#[test]
fn one_run_at_a_time_per_pipeline() {
    let spec = r#"
name = "locked"
[[steps]]
name = "wait"
command = ["sh", "-c", "touch started; while [ ! -e go ]; do sleep 0.02; done; echo > ${outputs.o}"]
outputs = { o = "work/o" }
"#;
    let (d, p) = setup(spec);
    let p2 = p.clone();
    let first = std::thread::spawn(move || run(&p2));
    while !d.path().join("started").exists() {
        std::thread::sleep(Duration::from_millis(10));
    }
    let second = Runner::new().run(&Pipeline::load(&p).unwrap(), &RunOptions::default());
    assert!(matches!(second, Err(Error::Locked { .. })), "{second:?}");
    fs::write(d.path().join("go"), "").unwrap();
    assert!(first.join().unwrap().steps_ok());
}

#[test]
fn independent_steps_run_in_parallel() {
    // Each of a and b waits until the other has started: only parallel execution finishes.
    let spec = r#"
name = "par"
[[steps]]
name = "a"
command = ["sh", "-c", "touch a.started; i=0; while [ ! -e b.started ]; do sleep 0.02; i=$((i+1)); [ $i -gt 500 ] && exit 9; done; echo a > ${outputs.o}"]
outputs = { o = "work/a" }
[[steps]]
name = "b"
command = ["sh", "-c", "touch b.started; i=0; while [ ! -e a.started ]; do sleep 0.02; i=$((i+1)); [ $i -gt 500 ] && exit 9; done; echo b > ${outputs.o}"]
outputs = { o = "work/b" }
"#;
    let (_d, p) = setup(spec);
    let r = run_with(
        &p,
        RunOptions {
            jobs: 2,
            ..RunOptions::default()
        },
    );
    assert!(r.steps_ok(), "{r:#?}");
}

#[derive(Debug)]
struct Upper;

impl Step for Upper {
    fn kind(&self) -> &str {
        "upper"
    }
    fn version(&self) -> &str {
        "1"
    }
    fn run(&self, ctx: &StepContext) -> mlops_pipeline::Result<StepOutcome> {
        let text =
            fs::read_to_string(&ctx.inputs["raw"]).map_err(|e| Error::io(&ctx.inputs["raw"], e))?;
        let out = &ctx.outputs["out"];
        fs::write(out, text.to_uppercase()).map_err(|e| Error::io(out, e))?;
        let mut o = StepOutcome::default();
        o.metrics.insert("bytes".into(), text.len() as f64);
        o.metrics.insert("seed".into(), ctx.seed as f64);
        Ok(o)
    }
}

#[test]
fn builtin_steps_are_cached_like_commands() {
    let spec = r#"
name = "builtin"
seed = 3
[[steps]]
name = "up"
kind = "upper"
inputs = { raw = "data/a.csv" }
outputs = { out = "work/up.csv" }
[[steps]]
name = "copy"
command = ["cp", "${inputs.x}", "${outputs.o}"]
inputs = { x = "@up.out" }
outputs = { o = "work/copy.csv" }
"#;
    let (d, p) = setup(spec);
    let runner = Runner::new().with_step(Arc::new(Upper));
    let pl = Pipeline::load(&p).unwrap();
    let r = runner.run(&pl, &RunOptions::default()).unwrap();
    assert!(r.steps_ok(), "{r:#?}");
    assert_eq!(r.step("up").unwrap().metrics["seed"], 3.0);
    assert_eq!(
        fs::read_to_string(d.path().join("work/copy.csv")).unwrap(),
        "X,Y\n1,2\n"
    );
    assert!(runner
        .run(&pl, &RunOptions::default())
        .unwrap()
        .ran()
        .is_empty());
    // Unknown kinds are refused before anything runs.
    let e = Runner::new().run(&pl, &RunOptions::default()).unwrap_err();
    assert!(e.to_string().contains("unknown built-in step kind"), "{e}");
}
