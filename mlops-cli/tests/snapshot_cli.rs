//! End-to-end tests of `mlops snapshot` and the CLI conventions.

use std::process::Command;

fn mlops() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mlops"))
}

fn digest_of(args: &[&std::path::Path]) -> String {
    let out = mlops()
        .arg("snapshot")
        .args(args)
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["digest"].as_str().unwrap().to_owned()
}

#[test]
fn same_files_in_another_order_and_place_give_the_same_digest() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    for d in [a.path(), b.path()] {
        std::fs::write(d.join("train.csv"), "x,y\n1,2\n3,4\n").unwrap();
        std::fs::write(d.join("test.csv"), "x,y\n5,6\n").unwrap();
        std::fs::write(d.join("notes ü.txt"), "unicode name").unwrap();
    }
    let d1 = digest_of(&[
        &a.path().join("train.csv"),
        &a.path().join("test.csv"),
        &a.path().join("notes ü.txt"),
    ]);
    let d2 = digest_of(&[
        &b.path().join("notes ü.txt"),
        &b.path().join("test.csv"),
        &b.path().join("train.csv"),
    ]);
    assert_eq!(d1, d2);
    assert_eq!(d1.len(), 64);
    std::fs::write(b.path().join("test.csv"), "x,y\n5,7\n").unwrap();
    let d3 = digest_of(&[&b.path().join("train.csv"), &b.path().join("test.csv")]);
    assert_ne!(d1, d3);
}

#[test]
fn text_output_and_errors() {
    let a = tempfile::tempdir().unwrap();
    std::fs::write(a.path().join("d.csv"), "x\n1\n").unwrap();
    let out = mlops().arg("snapshot").arg(a.path()).output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("rows        1"));

    let out = mlops()
        .args(["snapshot", "/no/such/file"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/no/such/file"));

    let out = mlops()
        .args(["snapshot", "--format", "yaml", "x"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("yaml"));

    let out = mlops().arg("snapshot").output().unwrap();
    assert!(!out.status.success(), "PATH is required");
}

#[test]
fn help_and_version() {
    let out = mlops().arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for sub in ["snapshot", "drift", "registry", "serve"] {
        assert!(help.contains(sub), "{sub} missing from --help");
    }
    let out = mlops().arg("--version").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(env!("CARGO_PKG_VERSION")));
}

/// A 2 GiB (sparse) file is digested in constant memory: the child's peak RSS stays under 64 MiB.
#[test]
fn two_gib_file_digests_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.bin");
    let f = std::fs::File::create(&path).unwrap();
    f.set_len(2 * 1024 * 1024 * 1024).unwrap();
    drop(f);
    let out = mlops()
        .args(["snapshot", "--format", "json"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["total_bytes"].as_u64(), Some(2 * 1024 * 1024 * 1024));
    // `head -c 2147483648 /dev/zero | sha256sum`
    assert_eq!(
        v["files"][0]["digest"].as_str(),
        Some("a7c744c13cc101ed66c29f672f92455547889cc586ce6d44fe76ae824958ea51")
    );
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage only writes into the struct we own.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    assert_eq!(rc, 0);
    let peak_kib = usage.ru_maxrss; // kilobytes on Linux
    assert!(peak_kib < 64 * 1024, "peak RSS {peak_kib} KiB");
}
