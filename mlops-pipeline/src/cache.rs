//! The step cache: content digests of inputs and outputs, cache keys and step records.
//!
//! A record lives at `<cache>/steps/<key>.json` and lists every output with its digest. A hit
//! needs the record **and** every output present with that digest, so a deleted or edited
//! output reruns its step. Files are hashed in full each time (no mtime shortcut): an edit that
//! keeps size and mtime is still seen.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use mlops_core::Sha256Digest;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};
use crate::spec::{Step, StepRun};
use crate::trigger::write_atomic;

/// What a path held when it was hashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    /// A regular file: the digest of its bytes.
    File,
    /// A directory: the digest of its sorted `relative path NUL file digest LF` lines (empty
    /// directories inside count as entries too).
    Dir,
}

/// A path's content digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathDigest {
    /// File or directory.
    pub kind: EntryKind,
    /// The digest.
    pub digest: Sha256Digest,
    /// Bytes hashed.
    pub bytes: u64,
}

/// Hashes files and directories in full (rayon across a directory's files) and counts the bytes.
#[derive(Debug, Default)]
pub struct Hasher {
    bytes: Mutex<u64>,
}

impl Hasher {
    /// A new hasher.
    pub fn new() -> Self {
        Self::default()
    }

    /// Total bytes hashed so far.
    pub fn bytes_hashed(&self) -> u64 {
        self.bytes.lock().map_or(0, |b| *b)
    }

    /// The content digest of a file or a directory (recursively; symbolic links are followed
    /// for files and refused for directories, so a link loop cannot hang the run).
    ///
    /// # Errors
    /// [`Error::Io`] naming the path that could not be read (a missing path included).
    pub fn digest(&self, path: &Path) -> Result<PathDigest> {
        let meta = fs::metadata(path).map_err(|e| Error::io(path, e))?;
        let d = if meta.is_dir() {
            let mut files = Vec::new();
            collect(path, Path::new(""), &mut files)?;
            let hashed: Vec<(String, Option<(Sha256Digest, u64)>)> = files
                .par_iter()
                .map(|(rel, is_dir)| {
                    if *is_dir {
                        Ok((rel.clone(), None))
                    } else {
                        hash_file(&path.join(rel)).map(|d| (rel.clone(), Some(d)))
                    }
                })
                .collect::<Result<_>>()?;
            let mut h = Sha256::new();
            let mut bytes = 0;
            for (rel, d) in &hashed {
                h.update(rel.as_bytes());
                h.update([0]);
                match d {
                    Some((d, n)) => {
                        h.update(d.to_hex().as_bytes());
                        bytes += n;
                    }
                    None => h.update(b"dir"),
                }
                h.update(b"\n");
            }
            PathDigest {
                kind: EntryKind::Dir,
                digest: Sha256Digest::from_bytes(h.finalize().into()),
                bytes,
            }
        } else {
            let (digest, bytes) = hash_file(path)?;
            PathDigest {
                kind: EntryKind::File,
                digest,
                bytes,
            }
        };
        if let Ok(mut b) = self.bytes.lock() {
            *b += d.bytes;
        }
        Ok(d)
    }
}

fn hash_file(path: &Path) -> Result<(Sha256Digest, u64)> {
    let f = fs::File::open(path).map_err(|e| Error::io(path, e))?;
    Sha256Digest::of_reader(f).map_err(|e| Error::io(path, e))
}

/// Lists `dir` recursively as (relative path with `/`, is_dir) sorted by path.
fn collect(root: &Path, rel: &Path, out: &mut Vec<(String, bool)>) -> Result<()> {
    let dir = root.join(rel);
    let mut entries: Vec<_> = fs::read_dir(&dir)
        .map_err(|e| Error::io(&dir, e))?
        .collect::<std::io::Result<_>>()
        .map_err(|e| Error::io(&dir, e))?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name();
        let child_rel = rel.join(&name);
        let ft = e.file_type().map_err(|err| Error::io(e.path(), err))?;
        let text = child_rel.to_string_lossy().replace('\\', "/");
        if ft.is_dir() {
            out.push((text, true));
            collect(root, &child_rel, out)?;
        } else if ft.is_symlink() {
            let meta = fs::metadata(e.path()).map_err(|err| Error::io(e.path(), err))?;
            if meta.is_dir() {
                return Err(Error::io(
                    e.path(),
                    std::io::Error::other(
                        "a symbolic link to a directory inside a hashed directory is not followed",
                    ),
                ));
            }
            out.push((text, false));
        } else {
            out.push((text, false));
        }
    }
    Ok(())
}

/// Canonical bytes of a JSON value for hashing: keys sorted, integers as `i:<n>`, floats by
/// their IEEE-754 bits (`f:<16 hex>`), so `0.1` and `0.1000000000000000055` are the same key
/// and `1` and `1.0` are not.
pub fn canonical_json(v: &serde_json::Value, out: &mut Vec<u8>) {
    match v {
        serde_json::Value::Null => out.extend_from_slice(b"n"),
        serde_json::Value::Bool(b) => out.extend_from_slice(if *b { b"t" } else { b"f" }),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                out.extend_from_slice(format!("i:{i};").as_bytes());
            } else if let Some(u) = n.as_u64() {
                out.extend_from_slice(format!("i:{u};").as_bytes());
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                out.extend_from_slice(format!("f:{:016x};", f.to_bits()).as_bytes());
            }
        }
        serde_json::Value::String(s) => {
            out.extend_from_slice(format!("s{}:", s.len()).as_bytes());
            out.extend_from_slice(s.as_bytes());
        }
        serde_json::Value::Array(a) => {
            out.extend_from_slice(format!("[{}:", a.len()).as_bytes());
            for x in a {
                canonical_json(x, out);
            }
            out.push(b']');
        }
        serde_json::Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.extend_from_slice(format!("{{{}:", m.len()).as_bytes());
            for k in keys {
                out.extend_from_slice(format!("k{}:", k.len()).as_bytes());
                out.extend_from_slice(k.as_bytes());
                if let Some(x) = m.get(k) {
                    canonical_json(x, out);
                }
            }
            out.push(b'}');
        }
    }
}

/// The cache key of a step: SHA-256 over its name, how it runs (the exact argv, or the built-in
/// kind with the implementation's version), its explicit version, canonical params, each
/// input's name and content digest, each output's name and path, and its seed.
pub fn step_key(
    step: &Step,
    builtin_version: Option<&str>,
    inputs: &BTreeMap<String, PathDigest>,
) -> Sha256Digest {
    let mut h = Sha256::new();
    let mut field = |tag: &str, bytes: &[u8]| {
        h.update(tag.as_bytes());
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    };
    field("mlops.step/1", b"");
    field("name", step.name.as_bytes());
    match &step.run {
        StepRun::Command(argv) => {
            for a in argv {
                field("argv", a.as_bytes());
            }
        }
        StepRun::Builtin(kind) => {
            field("kind", kind.as_bytes());
            field("impl_version", builtin_version.unwrap_or("").as_bytes());
        }
    }
    field("version", step.version.as_deref().unwrap_or("").as_bytes());
    let mut params = Vec::new();
    canonical_json(&step.params, &mut params);
    field("params", &params);
    for (name, d) in inputs {
        field("input", name.as_bytes());
        field("digest", d.digest.as_bytes());
    }
    for (name, path) in &step.output_rel {
        field("output", name.as_bytes());
        field("path", path.as_bytes());
    }
    field("seed", &step.seed.to_le_bytes());
    Sha256Digest::from_bytes(h.finalize().into())
}

/// What the cache remembers of a step that ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// Format tag, `mlops.step-record/1`.
    pub format: String,
    /// The step's name.
    pub step: String,
    /// Its cache key.
    pub key: Sha256Digest,
    /// Its inputs' digests when it ran.
    pub inputs: BTreeMap<String, PathDigest>,
    /// Its outputs' digests.
    pub outputs: BTreeMap<String, PathDigest>,
    /// The metrics it reported.
    pub metrics: BTreeMap<String, f64>,
    /// How long it ran, seconds.
    pub duration_s: f64,
    /// The run that produced it.
    pub run_id: String,
    /// When it finished (RFC 3339).
    pub finished_at: String,
}

const RECORD_FORMAT: &str = "mlops.step-record/1";

/// The cache directory.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

impl Cache {
    /// Opens (creating) a cache directory.
    ///
    /// # Errors
    /// [`Error::Io`] when the directory cannot be created.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self> {
        let dir = dir.into();
        for sub in ["steps", "runs", "logs", "locks"] {
            let d = dir.join(sub);
            fs::create_dir_all(&d).map_err(|e| Error::io(&d, e))?;
        }
        Ok(Self { dir })
    }

    /// The cache's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn record_path(&self, key: &Sha256Digest) -> PathBuf {
        self.dir.join("steps").join(format!("{key}.json"))
    }

    /// The record stored under `key`, if any. A record that does not parse (a torn write from
    /// an older version, a hand edit) is treated as absent and reported as a warning: the
    /// step reruns and overwrites it.
    ///
    /// # Errors
    /// [`Error::Io`] when the record exists but cannot be read.
    pub fn get(&self, key: &Sha256Digest) -> Result<Option<StepRecord>> {
        let path = self.record_path(key);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(&path, e)),
        };
        match serde_json::from_slice::<StepRecord>(&bytes) {
            Ok(r) if r.format == RECORD_FORMAT && &r.key == key => Ok(Some(r)),
            Ok(_) | Err(_) => {
                tracing::warn!(path = %path.display(), "ignoring an unreadable cache record");
                Ok(None)
            }
        }
    }

    /// Stores a record (atomically).
    ///
    /// # Errors
    /// [`Error::Io`] or [`Error::Json`].
    pub fn put(&self, record: &StepRecord) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(record).map_err(|source| Error::Json {
            what: "step record".into(),
            source,
        })?;
        write_atomic(&self.record_path(&record.key), &bytes)
    }

    /// The log file of a step in a run.
    ///
    /// # Errors
    /// [`Error::Io`] when its directory cannot be created.
    pub fn log_path(&self, run_id: &str, step: &str) -> Result<PathBuf> {
        let d = self.dir.join("logs").join(run_id);
        fs::create_dir_all(&d).map_err(|e| Error::io(&d, e))?;
        Ok(d.join(format!("{step}.log")))
    }

    /// Stores a run's report as `<cache>/runs/<run_id>.json`.
    ///
    /// # Errors
    /// [`Error::Io`] or [`Error::Json`].
    pub fn put_run<T: Serialize>(&self, run_id: &str, report: &T) -> Result<PathBuf> {
        let path = self.dir.join("runs").join(format!("{run_id}.json"));
        let bytes = serde_json::to_vec_pretty(report).map_err(|source| Error::Json {
            what: "run report".into(),
            source,
        })?;
        write_atomic(&path, &bytes)?;
        Ok(path)
    }
}

/// The new record's key in `StepRecord::format`.
pub(crate) fn record_format() -> String {
    RECORD_FORMAT.to_string()
}

/// Appends a line to a log file (best effort: a failing log never fails a step).
pub(crate) fn append_log(path: &Path, text: &str) {
    if let Ok(mut f) = fs::OpenOptions::new().create(true).append(true).open(path) {
        let _ = f.write_all(text.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_floats_by_bits_and_sorted_keys() {
        let a: serde_json::Value = serde_json::json!({"b": 0.1, "a": [1, 1.0, "x"]});
        let b: serde_json::Value =
            serde_json::from_str(r#"{"a":[1,1.0,"x"],"b":0.1000000000000000055}"#).unwrap();
        let (mut x, mut y) = (Vec::new(), Vec::new());
        canonical_json(&a, &mut x);
        canonical_json(&b, &mut y);
        assert_eq!(x, y);
        let c = serde_json::json!({"b": 0.1, "a": [1.0, 1.0, "x"]});
        let mut z = Vec::new();
        canonical_json(&c, &mut z);
        assert_ne!(x, z, "1 and 1.0 are different params");
    }

    #[test]
    fn directory_digest_sees_renames_and_content() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("x");
        fs::create_dir_all(dir.join("sub")).unwrap();
        fs::write(dir.join("a.txt"), "1").unwrap();
        fs::write(dir.join("sub/b.txt"), "2").unwrap();
        let h = Hasher::new();
        let d1 = h.digest(&dir).unwrap();
        fs::rename(dir.join("a.txt"), dir.join("c.txt")).unwrap();
        let d2 = h.digest(&dir).unwrap();
        assert_ne!(d1.digest, d2.digest);
        fs::rename(dir.join("c.txt"), dir.join("a.txt")).unwrap();
        assert_eq!(h.digest(&dir).unwrap(), d1);
        fs::write(dir.join("sub/b.txt"), "3").unwrap();
        assert_ne!(h.digest(&dir).unwrap().digest, d1.digest);
        assert!(matches!(
            h.digest(&d.path().join("nope")),
            Err(Error::Io { .. })
        ));
    }
}
