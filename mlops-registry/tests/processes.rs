//! Real processes against one file registry: concurrent writers and writers killed with
//! SIGKILL. The test binary re-executes itself as the worker (`worker` test, ignored unless
//! `MLOPS_REG_WORKER` is set by the parent).

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use mlops_core::{AliasName, ModelName};
use mlops_registry::{Change, EventKind, FileRegistry, NewVersion, Registry};

// libtest prints `test worker ... ` before the test's own output on the same line, so the
// worker marks its lines with `@@V ` and the parent looks for that marker anywhere.

/// Entry point of the worker processes; does nothing unless spawned by a test below.
#[test]
#[ignore = "worker process entry point, run by the other tests"]
fn worker() {
    let Ok(spec) = std::env::var("MLOPS_REG_WORKER") else {
        return;
    };
    let parts: Vec<&str> = spec.splitn(4, '|').collect();
    let (mode, root, count, id) = (parts[0], parts[1], parts[2], parts[3]);
    let count: usize = count.parse().expect("count");
    let reg = FileRegistry::open(root).expect("open");
    let m: ModelName = "model".parse().expect("name");
    match mode {
        "register" => {
            for i in 0..count {
                let e = reg
                    .register(
                        NewVersion::new(m.clone())
                            .with_artifact_bytes("w.bin", format!("{id}-{i}").into_bytes())
                            .with_metric("i", i as f64),
                    )
                    .expect("register");
                println!("@@V {}", e.version.version);
            }
        }
        "alias" => {
            for i in 0..count {
                let v = (i % 3 + 1) as u64;
                reg.set_alias(
                    &m,
                    &"champion".parse().expect("alias"),
                    v,
                    &Change::new(id, "race"),
                )
                .expect("set alias");
            }
        }
        "forever" => {
            // Register (4 MiB artifacts, fsync on) and move aliases until killed.
            for i in 0u32.. {
                let salt = id
                    .bytes()
                    .fold(i, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
                let payload: Vec<u8> = (0..4 << 20)
                    .map(|j: u32| (j.wrapping_mul(2654435761) ^ salt) as u8)
                    .collect();
                let e = reg
                    .register(
                        NewVersion::new(m.clone()).with_artifact_bytes("weights.bin", payload),
                    )
                    .expect("register");
                reg.set_alias(
                    &m,
                    &"prod".parse().expect("alias"),
                    e.version.version,
                    &Change::new(id, "x"),
                )
                .expect("alias");
                println!("@@V {}", e.version.version);
            }
        }
        other => panic!("unknown worker mode {other}"),
    }
}

fn spawn(mode: &str, root: &Path, count: usize, id: usize) -> Child {
    Command::new(std::env::current_exe().expect("current exe"))
        .args([
            "--exact",
            "worker",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(
            "MLOPS_REG_WORKER",
            format!("{mode}|{}|{count}|w{id}", root.display()),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn worker")
}

fn versions_printed(child: Child) -> Vec<u64> {
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "worker failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.rsplit_once("@@V ").map(|(_, v)| v.to_owned()))
        .map(|v| v.parse().expect("version"))
        .collect()
}

#[test]
fn eight_processes_register_200_distinct_versions() {
    let dir = tempfile::tempdir().expect("tempdir");
    FileRegistry::open(dir.path()).expect("create");
    let children: Vec<Child> = (0..8)
        .map(|id| spawn("register", dir.path(), 25, id))
        .collect();
    let mut all: Vec<u64> = children.into_iter().flat_map(versions_printed).collect();
    all.sort_unstable();
    assert_eq!(
        all,
        (1..=200).collect::<Vec<u64>>(),
        "200 distinct versions 1..200, none lost"
    );
    let reg = FileRegistry::open(dir.path()).expect("open");
    let m: ModelName = "model".parse().expect("name");
    let listed = reg.versions(&m).expect("versions");
    assert_eq!(listed.len(), 200);
    // Every stored record carries the content its writer registered.
    let contents: BTreeSet<Vec<u8>> = listed
        .iter()
        .map(|e| {
            reg.read_artifact(&m, e.version.version, "w.bin")
                .expect("read")
        })
        .collect();
    assert_eq!(contents.len(), 200, "no registration overwrote another");
    assert!(reg.verify().expect("verify").is_clean());
}

#[test]
fn concurrent_alias_moves_leave_a_consistent_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = FileRegistry::open(dir.path()).expect("create");
    let m: ModelName = "model".parse().expect("name");
    for _ in 0..3 {
        reg.register(NewVersion::new(m.clone())).expect("register");
    }
    let children: Vec<Child> = (0..4)
        .map(|id| spawn("alias", dir.path(), 20, id))
        .collect();
    for c in children {
        versions_printed(c);
    }
    let hist = reg.history(&m).expect("history");
    assert_eq!(hist.len(), 80, "every move is in the log");
    let mut current = None;
    let mut writers = BTreeSet::new();
    for (i, ev) in hist.iter().enumerate() {
        assert_eq!(ev.seq, i as u64 + 1);
        let EventKind::AliasSet {
            version, previous, ..
        } = &ev.kind
        else {
            panic!("unexpected event {ev:?}")
        };
        assert_eq!(
            *previous, current,
            "event {} saw the fold of the log before it",
            ev.seq
        );
        current = Some(*version);
        writers.insert(ev.change.who.clone());
    }
    assert_eq!(writers.len(), 4);
    let champion: AliasName = "champion".parse().expect("alias");
    assert_eq!(
        reg.aliases(&m).expect("aliases").get(&champion).copied(),
        current
    );
}

/// A tiny deterministic generator so a failing round can be replayed from its seed.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn sigkill_never_leaves_a_partial_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    FileRegistry::open(dir.path()).expect("create");
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
        | 1;
    eprintln!("seed {seed}");
    let m: ModelName = "model".parse().expect("name");
    let mut acknowledged = BTreeSet::new();
    for round in 0..24 {
        let mut child = spawn("forever", dir.path(), 0, round);
        let stdout = child.stdout.take().expect("stdout");
        // Kill at a random point: after 0-3 acknowledged registrations plus 0-40 ms.
        let wait_for = next(&mut seed) % 4;
        let mut lines = BufReader::new(stdout).lines();
        for _ in 0..wait_for {
            if let Some(Ok(l)) = lines.next() {
                if let Some((_, v)) = l.rsplit_once("@@V ") {
                    acknowledged.insert(v.parse::<u64>().expect("version"));
                }
            }
        }
        std::thread::sleep(Duration::from_millis(next(&mut seed) % 40));
        child.kill().expect("SIGKILL");
        let _ = child.wait();
        // The store opens, every visible version is complete, and no acknowledged one is lost.
        let reg = FileRegistry::open(dir.path()).expect("store still opens");
        if let Ok(vs) = reg.versions(&m) {
            let numbers: Vec<u64> = vs.iter().map(|e| e.version.version).collect();
            assert_eq!(
                numbers,
                (1..=numbers.len() as u64).collect::<Vec<_>>(),
                "round {round}: dense"
            );
            for a in &acknowledged {
                assert!(
                    numbers.contains(a),
                    "round {round}: acknowledged version {a} lost"
                );
            }
        }
        let report = reg.verify().expect("verify");
        assert!(report.is_clean(), "round {round}: {report:?}");
        reg.history(&m).ok();
        reg.aliases(&m).expect("event log decodes");
    }
    let reg = FileRegistry::open(dir.path()).expect("open");
    let gc = reg.gc(Duration::ZERO).expect("gc");
    eprintln!("gc after kills: {gc:?}");
    assert!(reg.verify().expect("verify after gc").is_clean());
    assert_eq!(
        std::fs::read_dir(dir.path().join("staging"))
            .expect("staging")
            .count(),
        0,
        "gc removed every interrupted upload"
    );
    for e in reg.versions(&m).expect("versions") {
        let bytes = reg
            .read_artifact(&m, e.version.version, "weights.bin")
            .expect("read");
        assert_eq!(bytes.len(), 4 << 20);
    }
}
