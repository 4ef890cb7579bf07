//! `mlops hpo run|show` as a user runs them, and the study surviving `kill -9`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use mlops_pipeline::hpo::journal::{Journal, Record};
use mlops_pipeline::hpo::study::{replay, trial_seed, History};
use mlops_pipeline::hpo::{ParamValue, Params, TrialState};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_mlops");

fn mlops(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("MLOPS_LOG")
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

fn ok_json(out: &Output) -> Value {
    let s = ok(out);
    serde_json::from_str(&s).unwrap_or_else(|e| panic!("{e}: {s}"))
}

/// Exit 2 with `needle` in the error message.
fn bad(out: &Output, needle: &str) {
    assert_eq!(
        out.status.code(),
        Some(2),
        "stdout: {}\nstderr: {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let err = text(&out.stderr);
    assert!(err.contains(needle), "{needle:?} not in {err:?}");
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

const BRANIN_SPACE: &str = r#"
[[space.params]]
name = "x1"
distribution = { type = "float", low = -5.0, high = 10.0 }

[[space.params]]
name = "x2"
distribution = { type = "float", low = 0, high = 15 }
"#;

fn branin_toml(n_trials: u64, workers: u32, delay_ms: u64) -> String {
    format!(
        "name = \"branin\"\nseed = 42\nn_trials = {n_trials}\nworkers = {workers}\n\
         deterministic = true\nsampler = \"random\"\npruner = \"none\"\nobjective = \"branin\"\n\
         objective_delay_ms = {delay_ms}\n{BRANIN_SPACE}"
    )
}

fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    path
}

fn history(journal: &Path) -> History {
    let read = Journal::read(journal).unwrap();
    replay(journal, &read.entries).unwrap()
}

type Outcome = BTreeMap<u64, (TrialState, Option<f64>, Params, u64)>;

fn outcome(h: &History) -> Outcome {
    h.trials
        .values()
        .map(|r| {
            let t = &r.trial;
            (t.number, (t.state, t.value, t.params.clone(), t.seed))
        })
        .collect()
}

#[test]
fn run_show_and_resume() {
    let dir = tempfile::tempdir().unwrap();
    let study = write(dir.path(), "study.toml", &branin_toml(6, 2, 0));
    let journal = dir.path().join("study.journal");
    let out = ok(&mlops(&["hpo", "run", p(&study), "--journal", p(&journal)]));
    assert!(out.contains("ran 6 trials (6 complete"), "{out}");
    assert!(out.contains("best: trial"), "{out}");

    let shown = ok_json(&mlops(&["hpo", "show", p(&journal), "--format", "json"]));
    let trials = shown["trials"].as_array().unwrap();
    assert_eq!(trials.len(), 6);
    assert_eq!(shown["study"]["name"], "branin");
    assert_eq!(shown["torn_tail_bytes"], 0);
    let best = &shown["best"];
    let min = trials
        .iter()
        .map(|t| t["value"].as_f64().unwrap())
        .fold(f64::INFINITY, f64::min);
    assert_eq!(best["value"].as_f64().unwrap(), min);
    for (i, t) in trials.iter().enumerate() {
        assert_eq!(t["number"], i as u64);
        assert_eq!(t["state"], "complete");
        assert_eq!(t["attempts"], 1);
        let x1 = t["params"]["x1"].as_f64().unwrap();
        assert!((-5.0..=10.0).contains(&x1));
    }
    let text_out = ok(&mlops(&["hpo", "show", p(&journal)]));
    assert!(text_out.contains("study branin"), "{text_out}");
    assert_eq!(text_out.matches("complete").count(), 6, "{text_out}");

    // Resume to 9 trials with a different thread count; the first 6 are untouched.
    let before = outcome(&history(&journal));
    let res = ok_json(&mlops(&[
        "hpo",
        "run",
        p(&study),
        "--journal",
        p(&journal),
        "--trials",
        "9",
        "--workers",
        "3",
        "--format",
        "json",
    ]));
    assert_eq!(res["summary"]["ran"], 3);
    assert_eq!(res["n_trials"], 9);
    assert_eq!(res["recovery"]["created"], false);
    let after = outcome(&history(&journal));
    assert_eq!(after.len(), 9);
    for (k, v) in &before {
        assert_eq!(&after[k], v);
    }
    // A torn tail (half a frame): `show` reports it and leaves it, `run` cuts it and says so.
    let mut bytes = std::fs::read(&journal).unwrap();
    let clean_len = bytes.len() as u64;
    bytes.extend_from_slice(&[40, 0, 0, 0, 1, 2, 3, 4, b'{', b'"']);
    std::fs::write(&journal, &bytes).unwrap();
    let shown = ok_json(&mlops(&["hpo", "show", p(&journal), "--format", "json"]));
    assert_eq!(shown["torn_tail_bytes"], 10);
    assert_eq!(shown["trials"].as_array().unwrap().len(), 9);
    let cut = ok(&mlops(&[
        "hpo",
        "run",
        p(&study),
        "--journal",
        p(&journal),
        "--trials",
        "9",
    ]));
    assert!(cut.contains("cut a torn journal tail of 10 bytes"), "{cut}");
    assert_eq!(std::fs::metadata(&journal).unwrap().len(), clean_len);
    assert_eq!(outcome(&history(&journal)), after);
    // Nothing left to do.
    let again = ok_json(&mlops(&[
        "hpo",
        "run",
        p(&study),
        "--journal",
        p(&journal),
        "--trials",
        "9",
        "--format",
        "json",
    ]));
    assert_eq!(again["summary"]["ran"], 0);
}

#[test]
fn builtins_hit_their_published_minima() {
    // Surjanovic & Bingham, Virtual Library of Simulation Experiments (sfu.ca/~ssurjano):
    // Branin f(π, 2.275) = 0.397887; Hartmann 6-D f(x*) = −3.32237 at
    // x* = (0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573).
    let dir = tempfile::tempdir().unwrap();
    let point = |names: &[&str], xs: &[f64]| {
        names
            .iter()
            .zip(xs)
            .map(|(n, x)| {
                format!(
                    "[[space.params]]\nname = \"{n}\"\ndistribution = {{ type = \"float\", low = {x:?}, high = {x:?} }}\n"
                )
            })
            .collect::<String>()
    };
    let cases = [
        (
            "branin",
            point(&["x1", "x2"], &[std::f64::consts::PI, 2.275]),
            0.397887,
        ),
        (
            "hartmann6",
            point(
                &["x1", "x2", "x3", "x4", "x5", "x6"],
                &[0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573],
            ),
            -3.32237,
        ),
    ];
    for (name, space, want) in cases {
        let study = write(
            dir.path(),
            &format!("{name}.toml"),
            &format!("name = \"{name}\"\nn_trials = 1\nobjective = \"{name}\"\n{space}"),
        );
        let journal = dir.path().join(format!("{name}.journal"));
        let res = ok_json(&mlops(&[
            "hpo",
            "run",
            p(&study),
            "--journal",
            p(&journal),
            "--format",
            "json",
        ]));
        let got = res["best"]["value"].as_f64().unwrap();
        // Published to 6 significant digits.
        assert!((got - want).abs() < 1e-5, "{name}: {got} vs {want}");
    }
}

#[test]
fn bad_input_exits_2_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("j");
    let j = p(&journal);
    let good = branin_toml(3, 1, 0);
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "sampler",
            good.replace("\"random\"", "\"grid\""),
            "unknown sampler",
        ),
        (
            "pruner",
            good.replace("pruner = \"none\"", "pruner = \"hyperband\""),
            "unknown pruner",
        ),
        (
            "objective",
            good.replace("\"branin\"\nobjective_delay", "\"rosen\"\nobjective_delay"),
            "unknown objective",
        ),
        (
            "hartmann needs x3",
            good.replace("objective = \"branin\"", "objective = \"hartmann6\""),
            "\"x3\" is missing",
        ),
        ("typo", good.replace("n_trials", "n_trails"), "n_trails"),
        (
            "zero trials",
            good.replace("n_trials = 3", "n_trials = 0"),
            "n_trials",
        ),
        (
            "zero workers",
            good.replace("workers = 1", "workers = 0"),
            "workers",
        ),
        ("both", format!("command = [\"true\"]\n{good}"), "not both"),
        (
            "neither",
            good.replace("objective = \"branin\"\n", ""),
            "objective",
        ),
        (
            "empty command",
            good.replace("objective = \"branin\"", "command = []"),
            "objective",
        ),
        (
            "inverted bounds",
            good.replace("low = -5.0, high = 10.0", "low = 10.0, high = -5.0"),
            "space.x1",
        ),
        (
            "no space",
            good.split("[[space").next().unwrap().to_string() + "[space]\nparams = []\n",
            "no parameters",
        ),
        ("not toml", "name = ".into(), "study file"),
    ];
    for (what, body, needle) in cases {
        let study = write(dir.path(), "bad.toml", &body);
        let out = mlops(&["hpo", "run", p(&study), "--journal", j]);
        assert_eq!(out.status.code(), Some(2), "{what}: {}", text(&out.stderr));
        bad(&out, needle);
        assert!(
            !journal.exists(),
            "{what}: a refused study must not create a journal"
        );
    }
    let study = write(dir.path(), "good.toml", &good);
    bad(
        &mlops(&["hpo", "run", p(&study), "--journal", j, "--workers", "0"]),
        "--workers",
    );
    bad(
        &mlops(&[
            "hpo",
            "run",
            p(&dir.path().join("missing.toml")),
            "--journal",
            j,
        ]),
        "missing.toml",
    );
    bad(
        &mlops(&["hpo", "show", p(&dir.path().join("nope"))]),
        "nope",
    );
    bad(
        &mlops(&[
            "hpo",
            "run",
            p(&study),
            "--journal",
            p(&dir.path().join("no/dir/j")),
        ]),
        "no/dir/j",
    );
    // A spec that differs from the journal's.
    ok(&mlops(&["hpo", "run", p(&study), "--journal", j]));
    let other = write(
        dir.path(),
        "other.toml",
        &good.replace("seed = 42", "seed = 7"),
    );
    bad(
        &mlops(&["hpo", "run", p(&other), "--journal", j]),
        "invalid spec at seed",
    );
    // Damage in the middle of the journal: an error naming the offset, nothing cut.
    let mut bytes = std::fs::read(&journal).unwrap();
    let len = bytes.len();
    bytes[len / 2] ^= 0x10;
    std::fs::write(&journal, &bytes).unwrap();
    bad(&mlops(&["hpo", "show", j]), "corrupt at byte");
    bad(
        &mlops(&["hpo", "run", p(&study), "--journal", j]),
        "corrupt at byte",
    );
    assert_eq!(std::fs::metadata(&journal).unwrap().len(), len as u64);
}

#[test]
fn a_second_writer_process_is_locked_out() {
    let dir = tempfile::tempdir().unwrap();
    let study = write(dir.path(), "study.toml", &branin_toml(50, 1, 100));
    let journal = dir.path().join("j");
    let mut first = Command::new(BIN)
        .args(["hpo", "run", p(&study), "--journal", p(&journal)])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while !journal.exists() || Journal::read(&journal).map_or(true, |r| r.entries.len() < 2) {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "first run never started"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    bad(
        &mlops(&["hpo", "run", p(&study), "--journal", p(&journal)]),
        "locked",
    );
    // A reader needs no lock, and sees a live lease (polled: between two trials of the
    // first run, for a few ms, none is running).
    let mut live = None;
    for _ in 0..50 {
        let shown = ok_json(&mlops(&["hpo", "show", p(&journal), "--format", "json"]));
        let running: Vec<Value> = shown["trials"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["state"] == "running")
            .cloned()
            .collect();
        assert!(running.len() <= 1, "{shown}");
        if let Some(r) = running.into_iter().next() {
            live = Some(r);
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(live.expect("no running trial seen")["lease_expired"], false);
    kill9(&mut first);
    // Once the holder is dead, the lock is free and the running trial is re-queued.
    let res = ok_json(&mlops(&[
        "hpo",
        "run",
        p(&study),
        "--journal",
        p(&journal),
        "--trials",
        "3",
        "--format",
        "json",
    ]));
    assert_eq!(res["recovery"]["requeued"].as_array().unwrap().len(), 1);
}

#[test]
fn command_objectives_get_params_seed_and_number() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    // Trial 1 exits non-zero, trial 2 forgets its final line; the others report two steps
    // and a value of number + 0.5.
    let script = write(
        dir.path(),
        "train.sh",
        r#"set -e
n="$MLOPS_TRIAL_NUMBER"
cp "$MLOPS_TRIAL_PARAMS" "$OUT/params-$n.json"
echo "$MLOPS_TRIAL_SEED" > "$OUT/seed-$n"
echo "a log line that is not JSON"
echo '{"step": 0, "value": 5.0}'
echo "{\"step\": 1, \"value\": $n.25}"
if [ "$n" = 1 ]; then exit 3; fi
if [ "$n" = 2 ]; then exit 0; fi
echo "{\"value\": $n.5}"
"#,
    );
    let body = format!(
        "name = \"cmd\"\nseed = 9\nn_trials = 4\ncommand = [\"sh\", \"{}\"]\n{BRANIN_SPACE}",
        p(&script)
    );
    let study = write(dir.path(), "study.toml", &body);
    let journal = dir.path().join("j");
    let res = Command::new(BIN)
        .args([
            "hpo",
            "run",
            p(&study),
            "--journal",
            p(&journal),
            "--format",
            "json",
        ])
        .env("OUT", &out)
        .output()
        .unwrap();
    let v = ok_json(&res);
    assert_eq!(v["summary"]["complete"], 2);
    assert_eq!(v["summary"]["failed"], 2);
    let err = text(&res.stderr);
    assert!(
        err.contains("trial 1 failed") && err.contains("exit status: 3"),
        "{err}"
    );
    assert!(
        err.contains("trial 2 failed") && err.contains("last line"),
        "{err}"
    );
    let h = history(&journal);
    for (n, r) in &h.trials {
        let t = &r.trial;
        let params: Params =
            serde_json::from_slice(&std::fs::read(out.join(format!("params-{n}.json"))).unwrap())
                .unwrap();
        assert_eq!(params, t.params);
        assert!(matches!(params["x1"], ParamValue::Float(_)));
        let seed: u64 = std::fs::read_to_string(out.join(format!("seed-{n}")))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert_eq!(seed, t.seed);
        assert_eq!(seed, trial_seed(9, *n));
        assert_eq!(
            t.intermediate,
            BTreeMap::from([(0, 5.0), (1, *n as f64 + 0.25)])
        );
        match n {
            1 | 2 => assert_eq!((t.state, t.value), (TrialState::Fail, None)),
            _ => assert_eq!(
                (t.state, t.value),
                (TrialState::Complete, Some(*n as f64 + 0.5))
            ),
        }
    }
}

fn kill9(child: &mut Child) {
    // SAFETY: kill(2) with a child pid we own and a valid signal number.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGKILL);
    }
    let _ = child.wait();
}

/// A small deterministic generator for kill times (xorshift64*).
struct Xorshift(u64);

impl Xorshift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

#[test]
fn kill_9_fifty_times_then_the_history_equals_an_uninterrupted_run() {
    let t_start = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let study = write(dir.path(), "study.toml", &branin_toml(40, 2, 20));

    // The uninterrupted run.
    let clean = dir.path().join("clean.journal");
    ok(&mlops(&["hpo", "run", p(&study), "--journal", p(&clean)]));
    let want = outcome(&history(&clean));
    assert_eq!(want.len(), 40);

    // How long a run takes to start and find nothing to do: kills land half that long plus
    // 0–40 ms after the spawn, so that most of them hit the study at work however loaded
    // the machine is.
    let t0 = Instant::now();
    ok(&mlops(&["hpo", "run", p(&study), "--journal", p(&clean)]));
    let startup = t0.elapsed().as_millis() as u64;

    let journal = dir.path().join("killed.journal");
    let mut rng = Xorshift(0x9E37_79B9_7F4A_7C15);
    let mut finished: BTreeMap<u64, (TrialState, Option<f64>, Params)> = BTreeMap::new();
    let mut kills_mid_study = 0;
    for i in 0..50 {
        let mut child = Command::new(BIN)
            .args(["hpo", "run", p(&study), "--journal", p(&journal)])
            // Threads vary between runs: the schedule, not the threads, decides.
            .args(["--workers", &(1 + i % 3).to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(startup / 2 + rng.next() % 41));
        kill9(&mut child);

        // The journal always opens as a writer would open it (never Corrupt) …
        if journal.exists() {
            let opened = Journal::open(&journal)
                .unwrap_or_else(|e| panic!("kill {i}: journal does not open: {e}"));
            drop(opened);
        } else {
            continue;
        }
        // … and every trial that had ended is still there, unchanged. (A run killed before
        // its first commit leaves an empty journal: nothing to check yet.)
        if Journal::read(&journal).unwrap().entries.is_empty() {
            continue;
        }
        let h = history(&journal);
        let running = h
            .trials
            .values()
            .any(|r| r.trial.state == TrialState::Running && !r.queued);
        if running {
            kills_mid_study += 1;
        }
        for (n, want_t) in &finished {
            let r = &h.trials[n];
            assert_eq!(
                (&r.trial.state, &r.trial.value, &r.trial.params),
                (&want_t.0, &want_t.1, &want_t.2),
                "kill {i}: trial {n} changed"
            );
        }
        for r in h.trials.values() {
            if !r.queued && r.trial.state != TrialState::Running {
                finished.insert(
                    r.trial.number,
                    (r.trial.state, r.trial.value, r.trial.params.clone()),
                );
            }
        }
    }
    // Let it finish, then compare with the uninterrupted run trial by trial.
    ok(&mlops(&["hpo", "run", p(&study), "--journal", p(&journal)]));
    let h = history(&journal);
    assert_eq!(outcome(&h), want);
    for (n, t) in &finished {
        assert_eq!(want[n].1, t.1, "trial {n}");
    }
    let requeues = Journal::read(&journal)
        .unwrap()
        .entries
        .iter()
        .filter(|e| matches!(e.record, Record::TrialRequeued { .. }))
        .count();
    eprintln!(
        "{kills_mid_study} of 50 kills left a running trial; {requeues} re-queues; {} trials \
         had ended before the last kill; start-up {startup} ms; {:.1} s",
        finished.len(),
        t_start.elapsed().as_secs_f64()
    );
    assert!(
        kills_mid_study >= 10,
        "only {kills_mid_study} kills hit a running trial"
    );
    assert!(requeues > 0);
}

#[test]
fn tpe_with_a_median_pruner_runs_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("tpe.journal");
    let study = dir.path().join("study.toml");
    let text = branin_toml(14, 1, 0)
        .replace("\"random\"", "\"tpe\"")
        .replace("pruner = \"none\"", "pruner = \"median\"");
    std::fs::write(&study, &text).unwrap();
    ok_json(&mlops(&[
        "hpo",
        "run",
        p(&study),
        "--journal",
        p(&journal),
        "--format",
        "json",
    ]));
    let shown = ok_json(&mlops(&["hpo", "show", p(&journal), "--format", "json"]));
    let trials = shown["trials"].as_array().unwrap();
    assert_eq!(trials.len(), 14);
    // Past its 10 random startup trials TPE proposes from the history; every trial completes.
    assert!(trials.iter().all(|t| t["state"] == "complete"), "{shown}");
    assert!(shown["best"]["value"].as_f64().unwrap().is_finite());
}
