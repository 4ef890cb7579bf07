//! End-to-end tests of `mlops registry`: the real binary, a real store, real processes.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_mlops");

fn mlops(store: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("registry")
        .arg("--store")
        .arg(store)
        .args(args)
        .env("USER", "tester")
        .output()
        .expect("run mlops")
}

fn ok(store: &str, args: &[&str]) -> String {
    let out = mlops(store, args);
    assert!(
        out.status.success(),
        "mlops registry {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf8 stdout")
}

fn json(store: &str, args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.extend(["--format", "json"]);
    serde_json::from_str(&ok(store, &a)).expect("json output")
}

/// Runs a command that must fail, returning its stderr.
fn fails(store: &str, args: &[&str]) -> String {
    let out = mlops(store, args);
    assert!(
        !out.status.success(),
        "mlops registry {args:?} should have failed"
    );
    String::from_utf8(out.stderr).expect("utf8 stderr")
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write");
    p.display().to_string()
}

#[test]
fn the_cli_contract_end_to_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("reg").display().to_string();
    let onnx = write(dir.path(), "model.onnx", b"onnx-graph");
    let vocab = write(dir.path(), "vocab.txt", b"a\nb\n");
    let ds = "sha256:".to_owned() + &"ab".repeat(32);

    // register (text prints the version; json prints at least name and version).
    let out = ok(
        &store,
        &[
            "register",
            "fraud",
            "--artifact",
            &onnx,
            "--artifact",
            &vocab,
            "--metrics",
            "auc=0.91,loss=0.2",
            "--tags",
            "team=risk",
            "--dataset",
            &ds,
            "--description",
            "first model",
        ],
    );
    assert_eq!(out.trim(), "1");
    let v2 = json(
        &store,
        &[
            "register",
            "fraud",
            "--artifact",
            &onnx,
            "--format",
            "safetensors",
            "--metrics",
            "auc=0.95",
        ],
    );
    assert_eq!(v2["name"], "fraud");
    assert_eq!(v2["version"], 2);
    assert_eq!(
        v2["format"], "safetensors",
        "--format json and an artifact format together"
    );

    // list / show
    let list = json(&store, &["list", "fraud"]);
    assert_eq!(list.as_array().map(Vec::len), Some(2));
    let shown = json(&store, &["show", "fraud/1"]);
    assert_eq!(
        shown["version"]["format"], "onnx",
        "inferred from the extension"
    );
    assert_eq!(shown["version"]["metrics"]["auc"], 0.91);
    assert_eq!(shown["version"]["lineage"]["datasets"][0], "ab".repeat(32));
    assert_eq!(json(&store, &["show", "fraud"])["version"]["version"], 2);

    // aliases, rollback, history with who/why
    ok(
        &store,
        &[
            "alias", "set", "fraud", "champion", "1", "--reason", "baseline",
        ],
    );
    ok(
        &store,
        &[
            "alias",
            "set",
            "fraud",
            "champion",
            "2",
            "--reason",
            "better auc",
        ],
    );
    assert_eq!(
        json(&store, &["show", "fraud@champion"])["version"]["version"],
        2
    );
    let rb = json(
        &store,
        &["rollback", "fraud", "champion", "--reason", "regression"],
    );
    assert_eq!(rb["kind"]["alias_rolled_back"]["to"], 1);
    assert_eq!(
        json(&store, &["show", "fraud@champion"])["version"]["version"],
        1
    );
    let hist = json(&store, &["history", "fraud"]);
    let hist = hist.as_array().expect("array");
    assert_eq!(hist.len(), 5, "2 registrations + 3 alias events: {hist:?}");
    let last = &hist[4];
    assert_eq!(last["type"], "event");
    assert_eq!(last["change"]["who"], "tester");
    assert_eq!(last["change"]["reason"], "regression");
    assert!(ok(&store, &["history", "fraud"]).contains("rolled back 2 -> 1"));

    // compare
    let cmp = json(&store, &["compare", "fraud/1", "fraud/2"]);
    assert_eq!(cmp["metrics"][0]["key"], "auc");
    assert_eq!(cmp["metrics"][0]["a"], 0.91);
    assert_eq!(cmp["metrics"][0]["b"], 0.95);
    assert!(ok(&store, &["compare", "fraud/1", "fraud@champion"]).contains("auc"));

    // download
    let out_dir = dir.path().join("out");
    ok(
        &store,
        &["download", "fraud@champion", &out_dir.display().to_string()],
    );
    assert_eq!(
        std::fs::read(out_dir.join("model.onnx")).expect("downloaded"),
        b"onnx-graph"
    );
    assert_eq!(
        std::fs::read(out_dir.join("vocab.txt")).expect("downloaded"),
        b"a\nb\n"
    );

    // archive, delete, gc, verify
    ok(&store, &["archive", "fraud/2"]);
    assert_eq!(
        json(&store, &["list", "fraud"]).as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(
        json(&store, &["list", "fraud", "--all"])
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    let err = fails(&store, &["delete", "fraud/1"]);
    assert!(
        err.contains("champion"),
        "deleting an aliased version names the alias: {err}"
    );
    ok(&store, &["delete", "fraud/2"]);
    let gc = json(&store, &["gc", "--grace", "0"]);
    assert_eq!(
        gc["deleted"].as_array().map(Vec::len),
        Some(0),
        "v2 shares model.onnx with v1"
    );
    let verify = json(&store, &["verify"]);
    assert_eq!(verify["problems"].as_array().map(Vec::len), Some(0));
    assert_eq!(json(&store, &["list"]), serde_json::json!(["fraud"]));

    // tampering: verify exits 1 and download refuses
    let digest = shown["version"]["artifacts"][0]["digest"]
        .as_str()
        .expect("digest")
        .to_owned();
    let blob = dir
        .path()
        .join("reg/blobs/sha256")
        .join(&digest[..2])
        .join(&digest);
    std::fs::write(&blob, b"onnx-grapX").expect("tamper");
    let out = mlops(&store, &["verify"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "verify exits 1 on a corrupt blob"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("corrupt"));
    let err = fails(
        &store,
        &[
            "download",
            "fraud/1",
            &dir.path().join("out2").display().to_string(),
        ],
    );
    assert!(err.contains("corrupt"), "{err}");
    assert!(!dir.path().join("out2/model.onnx").exists());
}

#[test]
fn compare_writes_a_self_contained_html_report() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("reg").display().to_string();
    let onnx = write(dir.path(), "model.onnx", b"onnx-graph");
    let ds = "sha256:".to_owned() + &"cd".repeat(32);
    ok(
        &store,
        &[
            "register",
            "churn",
            "--artifact",
            &onnx,
            "--metrics",
            "auc=0.8125,loss=0.375",
            "--params",
            "lr=0.1,depth=6",
            "--tags",
            "team=<b>risk</b>",
            "--dataset",
            &ds,
            "--commit",
            "deadbeef",
        ],
    );
    ok(
        &store,
        &[
            "register",
            "churn",
            "--artifact",
            &onnx,
            "--metrics",
            "auc=0.875,loss=0.25",
            "--params",
            "lr=0.01,depth=6",
            "--parent",
            "1",
        ],
    );
    ok(
        &store,
        &["alias", "set", "churn", "champion", "2", "--reason", "x"],
    );
    let file = dir.path().join("cmp.html");
    let out = ok(
        &store,
        &[
            "compare",
            "churn/1",
            "churn@champion",
            "--format",
            "html",
            "-o",
            &file.display().to_string(),
        ],
    );
    assert!(out.is_empty(), "with -o nothing goes to stdout: {out:?}");
    let html = std::fs::read_to_string(&file).expect("report written");
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(
        html.contains("default-src 'none'") || html.contains("default-src &#39;none&#39;"),
        "the report CSP"
    );
    assert!(!html.contains("http://") && !html.contains("https://"));
    assert!(html.contains("churn/1 vs churn/2"));
    for v in [
        "0.8125", "0.375", "0.875", "0.25", "0.1", "0.01", "deadbeef",
    ] {
        assert!(html.contains(v), "report lacks {v}");
    }
    // Deltas b − a, exact in the sort keys.
    assert!(html.contains(&format!("data-v=\"{}\"", 0.875 - 0.8125)));
    assert!(html.contains(&format!("data-v=\"{}\"", 0.25 - 0.375)));
    assert!(html.contains(r#"data-param="lr" data-differs="true""#));
    assert!(html.contains(r#"data-param="depth" data-differs="false""#));
    assert!(html.contains(r#"data-series="churn/1" data-points="2""#));
    assert!(html.contains(&"cd".repeat(32)), "dataset digest");
    assert!(html.contains("champion"), "aliases of B");
    assert!(html.contains("&lt;b&gt;risk"), "tags are escaped");
    // Without -o the page goes to stdout; json and text are unchanged.
    let page = ok(
        &store,
        &["compare", "churn/1", "churn/2", "--format", "html"],
    );
    assert!(page.starts_with("<!DOCTYPE html>") && page.contains("0.8125"));
    let cmp = json(&store, &["compare", "churn/1", "churn/2"]);
    assert_eq!(cmp["metrics"][0]["key"], "auc");
    assert!(ok(&store, &["compare", "churn/1", "churn/2"]).contains("+0.062500"));
    let err = fails(
        &store,
        &[
            "compare",
            "churn/1",
            "churn/2",
            "-o",
            &file.display().to_string(),
        ],
    );
    assert!(err.contains("--format json or --format html"), "{err}");
    let err = fails(
        &store,
        &["compare", "churn/1", "churn/9", "--format", "html"],
    );
    assert!(err.contains("no version 9"), "{err}");
    assert_eq!(
        err.matches("no version 9").count(),
        1,
        "printed once: {err}"
    );
}

#[test]
fn failures_exit_non_zero_with_a_clear_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("reg").display().to_string();
    let f = write(dir.path(), "w.bin", b"w");
    ok(&store, &["register", "m", "--artifact", &f]);
    let cases: &[(&[&str], &str)] = &[
        (&["show", "m/9"], "no version 9"),
        (&["show", "m@prod"], "no alias prod"),
        (&["show", "nope"], "not found"),
        (&["show", "m/0"], "versions start at 1"),
        (&["register", "../x", "--artifact", &f], "invalid name"),
        (
            &["register", "m", "--artifact", "/nonexistent/x.onnx"],
            "x.onnx",
        ),
        (
            &["register", "m", "--artifact", &f, "--metrics", "auc=nan"],
            "not finite",
        ),
        (
            &["register", "m", "--artifact", &f, "--metrics", "auc"],
            "key=value",
        ),
        (
            &[
                "register",
                "m",
                "--artifact",
                &f,
                "--format",
                "json",
                "--format",
                "text",
            ],
            "both",
        ),
        (
            &[
                "register",
                "m",
                "--artifact",
                &f,
                "--format",
                "onnx",
                "--format",
                "pt",
            ],
            "several",
        ),
        (
            &["register", "m", "--artifact", &f, "--parent", "7"],
            "parent",
        ),
        (&["list", "m", "--format", "onnx"], "expected json or text"),
        (&["rollback", "m", "champion"], "no alias"),
        (&["alias", "set", "m", "latest", "1"], "reserved"),
        (&["alias", "set", "m", "prod", "5"], "no version 5"),
        (&["gc", "--grace", "1w"], "unit"),
        (&["delete", "m@latest"], "NAME/VERSION"),
    ];
    for (args, needle) in cases {
        let err = fails(&store, args);
        assert!(
            err.contains(needle),
            "{args:?}: stderr {err:?} lacks {needle:?}"
        );
    }
    let err = fails("gs://bucket/x", &["list"]);
    assert!(err.contains("unsupported"), "{err}");
    // A store path that is a file is an error, not a panic.
    let err = fails(&f, &["list"]);
    assert!(err.contains("w.bin"), "{err}");
}

#[test]
fn eight_cli_processes_register_200_distinct_versions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("reg").display().to_string();
    ok(&store, &["list"]);
    let versions: Vec<u64> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|w| {
                let store = store.clone();
                let dir = dir.path().to_owned();
                s.spawn(move || {
                    (0..25)
                        .map(|i| {
                            let f = write(
                                &dir,
                                &format!("w{w}-{i}.bin"),
                                format!("{w}/{i}").as_bytes(),
                            );
                            let v = json(&store, &["register", "m", "--artifact", &f]);
                            v["version"].as_u64().expect("version")
                        })
                        .collect::<Vec<u64>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("thread"))
            .collect()
    });
    let mut sorted = versions.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        (1..=200).collect::<Vec<u64>>(),
        "200 distinct versions, none lost"
    );
    assert_eq!(
        json(&store, &["list", "m"]).as_array().map(Vec::len),
        Some(200)
    );
    assert_eq!(json(&store, &["verify"])["blobs_checked"], 200);
}

#[test]
fn s3_store_through_the_cli() {
    let (Ok(ep), Ok(bucket)) = (
        std::env::var("MLOPS_S3_TEST_ENDPOINT"),
        std::env::var("MLOPS_S3_TEST_BUCKET"),
    ) else {
        eprintln!("skipped: MLOPS_S3_TEST_ENDPOINT / MLOPS_S3_TEST_BUCKET not set (source scripts/moto.sh)");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let f = write(dir.path(), "m.onnx", b"s3 bytes");
    let store = format!(
        "s3://{bucket}/cli-{}-{}",
        std::process::id(),
        chrono_free_nanos()
    );
    let run = |args: &[&str]| {
        Command::new(BIN)
            .args(["registry", "--store", &store])
            .args(args)
            .env("AWS_ENDPOINT_URL", &ep)
            .output()
            .expect("run")
    };
    let out = run(&["register", "m", "--artifact", &f, "--format", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["version"], 1);
    assert!(run(&["alias", "set", "m", "prod", "1"]).status.success());
    let out_dir = dir.path().join("dl");
    assert!(run(&["download", "m@prod", &out_dir.display().to_string()])
        .status
        .success());
    assert_eq!(
        std::fs::read(out_dir.join("m.onnx")).expect("file"),
        b"s3 bytes"
    );
    assert!(run(&["verify"]).status.success());
}

fn chrono_free_nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}
