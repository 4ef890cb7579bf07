//! The conformance suite: the assertions every [`Registry`] backend must pass.
//!
//! Every backend's tests call [`run_all`] with a factory of fresh, empty registries.
//! Capabilities that differ between backends are arguments of the [`Harness`]
//! (`race_free`), never silently skipped checks. Failures panic with a message naming
//! the check, as test assertions do.

use std::collections::BTreeSet;
use std::io::Read;
use std::time::Duration;

use mlops_core::{AliasName, Lineage, ModelName, ModelRef, Sha256Digest};

use crate::{Change, Error, EventKind, NewVersion, Registry, VersionQuery};

/// One named check of the suite.
type Check = fn(&Harness);

type Tamper = Box<dyn Fn(&Sha256Digest, &[u8]) -> bool + Send + Sync>;

/// A registry under test plus the backend-specific abilities the suite needs.
pub struct Harness {
    /// The registry, fresh and empty.
    pub registry: Box<dyn Registry>,
    /// Overwrites a stored blob's bytes behind the registry's back; returns whether it did.
    pub tamper: Tamper,
    /// Whether the store's create-if-absent is atomic under heavy concurrency (true for
    /// memory and file; false for moto, the S3 emulator, whose check is not atomic).
    pub race_free: bool,
}

impl std::fmt::Debug for Harness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Harness")
            .field("registry", &self.registry)
            .field("race_free", &self.race_free)
            .finish_non_exhaustive()
    }
}

impl Harness {
    /// Harness for an in-memory registry.
    pub fn memory(reg: crate::MemoryRegistry) -> Self {
        let storage = reg.storage.clone();
        Self {
            registry: Box::new(reg),
            tamper: Box::new(move |d, b| storage.overwrite_blob(d, b.to_vec())),
            race_free: true,
        }
    }

    /// Harness for a file registry.
    pub fn file(reg: crate::FileRegistry) -> Self {
        let handle = reg.clone();
        Self {
            registry: Box::new(reg),
            tamper: Box::new(move |d, b| handle.overwrite_blob(d, b)),
            race_free: true,
        }
    }

    /// Harness for an S3 registry; `race_free` is false for emulators such as moto.
    #[cfg(feature = "s3")]
    pub fn s3(reg: crate::S3Registry, race_free: bool) -> Self {
        let handle = reg.clone();
        Self {
            registry: Box::new(reg),
            tamper: Box::new(move |d, b| handle.overwrite_blob(d, b)),
            race_free,
        }
    }
}

fn name(s: &str) -> ModelName {
    ModelName::new(s).expect("valid test name")
}

fn alias(s: &str) -> AliasName {
    AliasName::new(s).expect("valid test alias")
}

fn r(s: &str) -> ModelRef {
    s.parse().expect("valid test ref")
}

fn who() -> Change {
    Change::new("tester", "conformance")
}

/// Runs every check, each on a fresh registry from `make`.
pub fn run_all(make: &dyn Fn() -> Harness) {
    let checks: &[(&str, Check)] = &[
        ("register_and_read_back", register_and_read_back),
        (
            "versions_are_dense_and_listed",
            versions_are_dense_and_listed,
        ),
        ("invalid_input_writes_nothing", invalid_input_writes_nothing),
        ("not_found_errors_are_typed", not_found_errors_are_typed),
        ("aliases_history_and_rollback", aliases_history_and_rollback),
        ("archive_and_delete", archive_and_delete),
        ("search_and_compare", search_and_compare),
        ("tampered_blobs_are_detected", tampered_blobs_are_detected),
        (
            "gc_respects_references_and_grace",
            gc_respects_references_and_grace,
        ),
        ("large_streamed_artifact", large_streamed_artifact),
        ("concurrent_registrations", concurrent_registrations),
        (
            "concurrent_alias_moves_fold_consistently",
            concurrent_alias_moves,
        ),
    ];
    for (label, check) in checks {
        let h = make();
        eprintln!("conformance: {label}");
        check(&h);
    }
}

fn register_and_read_back(h: &Harness) {
    let reg = &*h.registry;
    let ds = Sha256Digest::of_bytes(b"dataset");
    let new = NewVersion::new(name("churn"))
        .with_artifact_bytes("model.ONNX", b"graph-bytes".to_vec())
        .with_artifact_bytes("tokenizer.json", b"{}".to_vec())
        .with_artifact_bytes("empty.bin", Vec::new())
        .with_description("grüße, 模型")
        .with_tag("team", "risk")
        .with_param("lr", "0.01")
        .with_metric("auc", 0.91)
        .with_lineage(Lineage {
            datasets: vec![ds],
            code_commit: Some("abc123".into()),
            parent_version: None,
        });
    let e = reg.register(new).expect("register");
    let v = &e.version;
    assert_eq!(v.version, 1);
    assert_eq!(v.format, "onnx", "format inferred from the first artifact");
    assert_eq!(v.artifacts.len(), 3);
    assert_eq!(
        v.artifacts[0].digest,
        Sha256Digest::of_bytes(b"graph-bytes")
    );
    assert_eq!(v.artifacts[0].size, 11);
    assert_eq!(v.artifacts[2].size, 0);
    let got = reg.version(&name("churn"), 1).expect("get");
    assert_eq!(&got.version, v, "stored record equals the returned one");
    assert_eq!(got.version.description, "grüße, 模型");
    assert_eq!(got.version.lineage.datasets, vec![ds]);
    for reference in ["churn", "churn@latest", "churn/1"] {
        assert_eq!(
            reg.resolve(&r(reference)).expect(reference).version.version,
            1
        );
    }
    assert_eq!(
        reg.read_artifact(&name("churn"), 1, "model.ONNX")
            .expect("read"),
        b"graph-bytes"
    );
    assert_eq!(
        reg.read_artifact(&name("churn"), 1, "empty.bin")
            .expect("read"),
        b""
    );
    // Explicit format, a parent, and a version with no artifacts.
    let e2 = reg
        .register(
            NewVersion::new(name("churn"))
                .with_format("safetensors")
                .with_lineage(Lineage {
                    parent_version: Some(1),
                    ..Lineage::default()
                }),
        )
        .expect("register 2");
    assert_eq!(e2.version.version, 2);
    assert_eq!(e2.version.format, "safetensors");
    assert_eq!(e2.version.lineage.parent_version, Some(1));
    let dir = tempfile::tempdir().expect("tempdir");
    let files = reg.download(&r("churn/1"), dir.path()).expect("download");
    assert_eq!(files.len(), 3);
    assert_eq!(
        std::fs::read(dir.path().join("tokenizer.json")).expect("file"),
        b"{}"
    );
    assert!(reg.verify().expect("verify").is_clean());
}

fn versions_are_dense_and_listed(h: &Harness) {
    let reg = &*h.registry;
    for i in 0..5u8 {
        let e = reg
            .register(NewVersion::new(name("a")).with_artifact_bytes("w.bin", vec![i]))
            .expect("register");
        assert_eq!(e.version.version, u64::from(i) + 1);
    }
    reg.register(NewVersion::new(name("b")))
        .expect("register b");
    let vs: Vec<u64> = reg
        .versions(&name("a"))
        .expect("versions")
        .iter()
        .map(|e| e.version.version)
        .collect();
    assert_eq!(vs, vec![1, 2, 3, 4, 5]);
    assert_eq!(reg.models().expect("models"), vec![name("a"), name("b")]);
    assert_eq!(reg.resolve(&r("a")).expect("latest").version.version, 5);
}

fn invalid_input_writes_nothing(h: &Harness) {
    let reg = &*h.registry;
    let m = || NewVersion::new(name("m"));
    let cases: Vec<(&str, NewVersion)> = vec![
        ("NaN metric", m().with_metric("auc", f64::NAN)),
        ("+inf metric", m().with_metric("auc", f64::INFINITY)),
        ("-inf metric", m().with_metric("loss", f64::NEG_INFINITY)),
        ("empty metric name", m().with_metric("", 1.0)),
        ("dot-dot artifact", m().with_artifact_bytes("..", vec![1])),
        (
            "traversal artifact",
            m().with_artifact_bytes("../x", vec![1]),
        ),
        ("nested artifact", m().with_artifact_bytes("a/b", vec![1])),
        (
            "backslash artifact",
            m().with_artifact_bytes("a\\b", vec![1]),
        ),
        ("NUL artifact", m().with_artifact_bytes("a\0b", vec![1])),
        ("empty artifact name", m().with_artifact_bytes("", vec![1])),
        (
            "duplicate artifact",
            m().with_artifact_bytes("w", vec![1])
                .with_artifact_bytes("w", vec![2]),
        ),
        ("empty format", m().with_format(" ")),
        (
            "missing parent",
            m().with_lineage(Lineage {
                parent_version: Some(3),
                ..Lineage::default()
            }),
        ),
    ];
    for (label, new) in cases {
        match reg.register(new) {
            Err(Error::InvalidInput { .. }) => {}
            other => panic!("{label}: expected InvalidInput, got {other:?}"),
        }
    }
    assert!(
        reg.models().expect("models").is_empty(),
        "nothing was registered"
    );
    // A failing reader aborts the registration without creating a version.
    struct Failing;
    impl Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk on fire"))
        }
    }
    let err = reg
        .register(m().with_artifact("w.bin", Box::new(Failing)))
        .expect_err("failing reader");
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    assert!(reg.models().expect("models").is_empty());
}

fn not_found_errors_are_typed(h: &Harness) {
    let reg = &*h.registry;
    assert!(matches!(
        reg.versions(&name("nope")),
        Err(Error::ModelNotFound { .. })
    ));
    assert!(matches!(
        reg.resolve(&r("nope")),
        Err(Error::ModelNotFound { .. })
    ));
    reg.register(NewVersion::new(name("m")).with_artifact_bytes("w", vec![1]))
        .expect("register");
    assert!(matches!(
        reg.version(&name("m"), 9),
        Err(Error::VersionNotFound {
            version: 9,
            deleted: false,
            ..
        })
    ));
    assert!(matches!(
        reg.resolve(&r("m@prod")),
        Err(Error::AliasNotFound { .. })
    ));
    assert!(matches!(
        reg.open_artifact(&name("m"), 1, "other"),
        Err(Error::ArtifactNotFound { .. })
    ));
    assert!(matches!(
        reg.set_alias(&name("m"), &alias("prod"), 2, &who()),
        Err(Error::VersionNotFound { .. })
    ));
    assert!(matches!(
        reg.set_alias(&name("nope"), &alias("prod"), 1, &who()),
        Err(Error::ModelNotFound { .. })
    ));
}

fn aliases_history_and_rollback(h: &Harness) {
    let reg = &*h.registry;
    let m = name("m");
    for i in 0..3u8 {
        reg.register(NewVersion::new(m.clone()).with_artifact_bytes("w", vec![i]))
            .expect("register");
    }
    let champ = alias("champion");
    let e1 = reg
        .set_alias(&m, &champ, 1, &Change::new("alice", "first model"))
        .expect("set");
    assert_eq!(
        e1.kind,
        EventKind::AliasSet {
            alias: champ.clone(),
            version: 1,
            previous: None
        }
    );
    reg.set_alias(&m, &champ, 3, &Change::new("bob", "better auc"))
        .expect("move");
    reg.set_alias(&m, &alias("production"), 2, &who())
        .expect("set prod");
    assert_eq!(
        reg.resolve(&r("m@champion"))
            .expect("resolve")
            .version
            .version,
        3
    );
    assert_eq!(reg.version(&m, 3).expect("v3").aliases, vec![champ.clone()]);
    let rb = reg
        .rollback(&m, &champ, &Change::new("carol", "regression"))
        .expect("rollback");
    assert_eq!(
        rb.kind,
        EventKind::AliasRolledBack {
            alias: champ.clone(),
            from: 3,
            to: 1
        }
    );
    assert_eq!(
        reg.resolve(&r("m@champion"))
            .expect("resolve")
            .version
            .version,
        1
    );
    assert!(matches!(
        reg.rollback(&m, &champ, &who()),
        Err(Error::Conflict { .. })
    ));
    let map = reg.aliases(&m).expect("aliases");
    assert_eq!(map.get(&champ), Some(&1));
    assert_eq!(map.get(&alias("production")), Some(&2));
    reg.remove_alias(&m, &alias("production"), &who())
        .expect("remove");
    assert!(matches!(
        reg.resolve(&r("m@production")),
        Err(Error::AliasNotFound { .. })
    ));
    assert!(matches!(
        reg.remove_alias(&m, &alias("production"), &who()),
        Err(Error::AliasNotFound { .. })
    ));
    let hist = reg.history(&m).expect("history");
    let seqs: Vec<u64> = hist.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, vec![1, 2, 3, 4, 5]);
    assert_eq!(hist[1].change, Change::new("bob", "better auc"));
    assert_eq!(hist[3].change.who, "carol");
    assert!(hist.windows(2).all(|w| w[0].at <= w[1].at));
}

fn archive_and_delete(h: &Harness) {
    let reg = &*h.registry;
    let m = name("m");
    for i in 0..3u8 {
        reg.register(NewVersion::new(m.clone()).with_artifact_bytes("w", vec![i]))
            .expect("register");
    }
    reg.set_archived(&m, 1, true, &who()).expect("archive");
    assert!(reg.version(&m, 1).expect("v1").archived);
    assert!(matches!(
        reg.set_archived(&m, 1, true, &who()),
        Err(Error::Conflict { .. })
    ));
    let live: Vec<u64> = reg
        .search(&m, &VersionQuery::default())
        .expect("search")
        .iter()
        .map(|e| e.version.version)
        .collect();
    assert_eq!(
        live,
        vec![2, 3],
        "archived versions are hidden from search by default"
    );
    let all = VersionQuery {
        include_archived: true,
        ..VersionQuery::default()
    };
    assert_eq!(reg.search(&m, &all).expect("search").len(), 3);
    reg.set_archived(&m, 1, false, &who()).expect("restore");
    assert!(!reg.version(&m, 1).expect("v1").archived);

    reg.set_alias(&m, &alias("prod"), 3, &who()).expect("alias");
    assert!(matches!(
        reg.delete_version(&m, 3, &who()),
        Err(Error::Conflict { .. })
    ));
    reg.set_alias(&m, &alias("prod"), 2, &who()).expect("move");
    reg.delete_version(&m, 3, &who()).expect("delete");
    assert!(matches!(
        reg.version(&m, 3),
        Err(Error::VersionNotFound { deleted: true, .. })
    ));
    assert!(matches!(
        reg.delete_version(&m, 3, &who()),
        Err(Error::VersionNotFound { .. })
    ));
    assert_eq!(
        reg.resolve(&r("m")).expect("latest").version.version,
        2,
        "latest skips deleted"
    );
    let e = reg
        .register(NewVersion::new(m.clone()))
        .expect("register after delete");
    assert_eq!(e.version.version, 4, "deleted numbers are never reused");
    assert_eq!(reg.versions(&m).expect("versions").len(), 3);
    // Rolling back onto a deleted version is refused.
    reg.set_alias(&m, &alias("canary"), 1, &who())
        .expect("canary 1");
    reg.set_alias(&m, &alias("canary"), 4, &who())
        .expect("canary 4");
    reg.delete_version(&m, 1, &who())
        .expect("no alias points at 1 any more");
    assert!(matches!(
        reg.rollback(&m, &alias("canary"), &who()),
        Err(Error::Conflict { .. })
    ));
}

fn search_and_compare(h: &Harness) {
    let reg = &*h.registry;
    let m = name("m");
    let before = chrono::Utc::now();
    for (auc, team) in [(0.7, "a"), (0.9, "b"), (0.8, "b")] {
        reg.register(
            NewVersion::new(m.clone())
                .with_metric("auc", auc)
                .with_tag("team", team)
                .with_param("depth", format!("{}", (auc * 10.0) as u32)),
        )
        .expect("register");
    }
    reg.set_alias(&m, &alias("champion"), 2, &who())
        .expect("alias");
    let q = |f: &dyn Fn(&mut VersionQuery)| {
        let mut q = VersionQuery::default();
        f(&mut q);
        reg.search(&m, &q)
            .expect("search")
            .iter()
            .map(|e| e.version.version)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        q(&|q| {
            q.tags.insert("team".into(), "b".into());
        }),
        vec![2, 3]
    );
    assert_eq!(
        q(&|q| {
            q.metric_at_least.insert("auc".into(), 0.8);
        }),
        vec![2, 3]
    );
    assert_eq!(
        q(&|q| {
            q.metric_at_most.insert("auc".into(), 0.8);
        }),
        vec![1, 3]
    );
    assert_eq!(
        q(&|q| {
            q.metric_at_least.insert("loss".into(), 0.0);
        }),
        Vec::<u64>::new()
    );
    assert_eq!(q(&|q| q.alias = Some(alias("champion"))), vec![2]);
    assert_eq!(q(&|q| q.created_after = Some(before)), vec![1, 2, 3]);
    assert_eq!(
        q(&|q| q.created_before = Some(before - chrono::Duration::seconds(1))),
        Vec::<u64>::new()
    );
    let c = reg.compare(&r("m/1"), &r("m@champion")).expect("compare");
    assert_eq!(c.a, "m/1");
    assert_eq!(c.b, "m/2");
    assert_eq!(c.metrics.len(), 1);
    assert_eq!((c.metrics[0].a, c.metrics[0].b), (Some(0.7), Some(0.9)));
    assert_eq!(c.params[0].key, "depth");
    assert_eq!(c.params[0].b.as_deref(), Some("9"));
}

fn tampered_blobs_are_detected(h: &Harness) {
    let reg = &*h.registry;
    let m = name("m");
    let e = reg
        .register(
            NewVersion::new(m.clone())
                .with_artifact_bytes("a.bin", b"0123456789".to_vec())
                .with_artifact_bytes("b.bin", b"abcdefghij".to_vec()),
        )
        .expect("register");
    let [a, b] = [&e.version.artifacts[0], &e.version.artifacts[1]];
    assert!(
        (h.tamper)(&a.digest, b"0123456780"),
        "same length, different bytes"
    );
    assert!((h.tamper)(&b.digest, b"abcde"), "truncated");
    for art in ["a.bin", "b.bin"] {
        match reg.read_artifact(&m, 1, art) {
            Err(Error::DigestMismatch { .. }) => {}
            other => panic!("{art}: expected DigestMismatch, got {other:?}"),
        }
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let err = reg
        .download(&r("m/1"), dir.path())
        .expect_err("download corrupt");
    assert!(err.is_integrity(), "{err:?}");
    assert!(
        !dir.path().join("a.bin").exists(),
        "a corrupt file never appears under its name"
    );
    // Overlong and truncated blobs fail a download too, and leave no file behind.
    let m2 = name("m2");
    let e2 = reg
        .register(NewVersion::new(m2.clone()).with_artifact_bytes("c.bin", b"klmnopqrst".to_vec()))
        .expect("register m2");
    let c = &e2.version.artifacts[0];
    for (bytes, what) in [
        (&b"klmnopqrstEXTRA"[..], "overlong"),
        (&b"klmno"[..], "truncated"),
    ] {
        assert!((h.tamper)(&c.digest, bytes), "{what}");
        let dir2 = tempfile::tempdir().expect("tempdir");
        let err = reg
            .download(&r("m2/1"), dir2.path())
            .expect_err("download tampered");
        assert!(err.is_integrity(), "{what}: {err:?}");
        let left: Vec<_> = std::fs::read_dir(dir2.path()).expect("ls").collect();
        assert!(
            left.is_empty(),
            "{what}: nothing is left behind, found {left:?}"
        );
    }
    assert!((h.tamper)(&c.digest, b"klmnopqrst"), "restore m2");
    let report = reg.verify().expect("verify");
    assert_eq!(report.problems.len(), 2, "{report:?}");
    // Registering the true bytes again repairs a truncated blob (size differs).
    reg.register(NewVersion::new(m.clone()).with_artifact_bytes("b.bin", b"abcdefghij".to_vec()))
        .expect("re-register");
    assert_eq!(
        reg.read_artifact(&m, 1, "b.bin").expect("repaired"),
        b"abcdefghij"
    );
}

fn gc_respects_references_and_grace(h: &Harness) {
    let reg = &*h.registry;
    let m = name("m");
    reg.register(NewVersion::new(m.clone()).with_artifact_bytes("w", b"shared".to_vec()))
        .expect("v1");
    reg.register(
        NewVersion::new(m.clone())
            .with_artifact_bytes("w", b"shared".to_vec())
            .with_artifact_bytes("x", b"only-in-2".to_vec()),
    )
    .expect("v2");
    reg.register(NewVersion::new(m.clone()).with_artifact_bytes("w", b"only-in-3".to_vec()))
        .expect("v3");
    reg.delete_version(&m, 2, &who()).expect("delete 2");
    reg.delete_version(&m, 3, &who()).expect("delete 3");
    let kept = reg.gc(Duration::from_secs(3600)).expect("gc in grace");
    assert!(kept.deleted.is_empty(), "young blobs are kept: {kept:?}");
    assert_eq!(kept.blobs_in_grace, 2);
    let report = reg.gc(Duration::ZERO).expect("gc");
    let mut deleted: Vec<_> = report.deleted.clone();
    deleted.sort();
    let mut expected = vec![
        Sha256Digest::of_bytes(b"only-in-2"),
        Sha256Digest::of_bytes(b"only-in-3"),
    ];
    expected.sort();
    assert_eq!(deleted, expected);
    assert_eq!(report.bytes_freed, 18);
    assert_eq!(
        reg.read_artifact(&m, 1, "w").expect("shared blob kept"),
        b"shared"
    );
    assert!(reg.verify().expect("verify").is_clean());
    assert!(reg.gc(Duration::ZERO).expect("gc again").deleted.is_empty());
}

/// A reader that yields `len` pseudo-random bytes in odd-sized chunks.
struct Pattern {
    left: usize,
    state: u64,
}

impl Read for Pattern {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.left).min(70_001);
        for b in &mut buf[..n] {
            self.state = self
                .state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            *b = (self.state >> 33) as u8;
        }
        self.left -= n;
        Ok(n)
    }
}

fn large_streamed_artifact(h: &Harness) {
    let reg = &*h.registry;
    let len = 9 * 1024 * 1024 + 17;
    let mut expected = Vec::new();
    Pattern {
        left: len,
        state: 7,
    }
    .read_to_end(&mut expected)
    .expect("pattern");
    let e = reg
        .register(NewVersion::new(name("big")).with_artifact(
            "weights.safetensors",
            Box::new(Pattern {
                left: len,
                state: 7,
            }),
        ))
        .expect("register");
    assert_eq!(e.version.artifacts[0].size, len as u64);
    assert_eq!(
        e.version.artifacts[0].digest,
        Sha256Digest::of_bytes(&expected)
    );
    assert_eq!(e.version.format, "safetensors");
    let back = reg
        .read_artifact(&name("big"), 1, "weights.safetensors")
        .expect("read");
    assert!(back == expected, "bytes round-trip");
}

fn concurrent_registrations(h: &Harness) {
    let reg = &*h.registry;
    let (threads, each) = if h.race_free { (4, 10) } else { (2, 5) };
    let got: Vec<u64> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    (0..each)
                        .map(|i| {
                            reg.register(
                                NewVersion::new(name("race"))
                                    .with_artifact_bytes("w", format!("{t}-{i}").into_bytes()),
                            )
                            .expect("register")
                            .version
                            .version
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("thread"))
            .collect()
    });
    let total = (threads * each) as u64;
    let listed = reg.versions(&name("race")).expect("versions");
    if h.race_free {
        let distinct: BTreeSet<u64> = got.iter().copied().collect();
        assert_eq!(distinct, (1..=total).collect(), "distinct dense versions");
        assert_eq!(listed.len() as u64, total);
    } else {
        // Emulators may let two racers both win a create; still, every version read back
        // must be a complete record and none may be invented.
        assert!(listed.len() as u64 <= total && !listed.is_empty());
    }
    assert!(reg.verify().expect("verify").is_clean());
}

fn concurrent_alias_moves(h: &Harness) {
    let reg = &*h.registry;
    let m = name("m");
    for _ in 0..4 {
        reg.register(NewVersion::new(m.clone())).expect("register");
    }
    let (threads, each) = if h.race_free { (4, 8) } else { (2, 4) };
    std::thread::scope(|s| {
        for t in 0..threads {
            let m = m.clone();
            s.spawn(move || {
                for i in 0..each {
                    let v = ((t + i) % 4 + 1) as u64;
                    reg.set_alias(
                        &m,
                        &alias("champion"),
                        v,
                        &Change::new(format!("w{t}"), "race"),
                    )
                    .expect("set alias");
                }
            });
        }
    });
    let hist = reg.history(&m).expect("history");
    if h.race_free {
        assert_eq!(hist.len(), threads * each, "every move is in the log");
    }
    let mut current: Option<u64> = None;
    for (i, ev) in hist.iter().enumerate() {
        assert_eq!(ev.seq, i as u64 + 1, "dense log");
        if let EventKind::AliasSet {
            version, previous, ..
        } = &ev.kind
        {
            if h.race_free {
                assert_eq!(*previous, current, "each event saw the fold before it");
            }
            current = Some(*version);
        }
    }
    assert_eq!(
        reg.aliases(&m)
            .expect("aliases")
            .get(&alias("champion"))
            .copied(),
        current
    );
}
