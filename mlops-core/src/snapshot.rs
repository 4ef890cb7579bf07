//! Dataset snapshots: a content digest of files or rows, with schema and lineage.
//!
//! # The digest rule
//! Each part of a snapshot (a file, or a block of in-memory rows) is hashed on its own with
//! SHA-256, streaming through a fixed 256 KiB buffer (constant memory whatever the file size).
//! The snapshot digest is then
//!
//! ```text
//! SHA-256( "mlops-snapshot-v1\n" ++ for each part, sorted by (digest, size): "<hex digest> <size>\n" )
//! ```
//!
//! So the digest depends only on the **multiset of part contents**: not on the order the files
//! were given in, not on their names or directories (two copies of a dataset in different
//! places have one digest), and not on timestamps. A file given twice under the same path is
//! counted once. Directories are walked recursively; symbolic links to directories are not
//! descended into (so a link cycle cannot loop), links to files are read.
//!
//! In-memory rows are hashed as `"mlops-rows-v1\n"`, the column count and names
//! (length-prefixed, little-endian u64), then every value as little-endian `f64` bits, all NaNs
//! written as the one canonical quiet NaN.

use std::collections::BTreeSet;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::signature::{DType, Schema, TensorSpec};

/// One part of a snapshot: a file (or a block of in-memory rows) and its content digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotFile {
    /// The path as given (informational: it is not part of the digest). `<rows>` for rows.
    pub path: String,
    /// SHA-256 of the content.
    pub digest: Sha256Digest,
    /// Content size in bytes.
    pub size: u64,
}

/// A dataset identified by the digest of its content, with schema and lineage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetSnapshot {
    /// The content digest (see the module docs for the rule).
    pub digest: Sha256Digest,
    /// The parts, sorted by (digest, size, path).
    pub files: Vec<SnapshotFile>,
    /// Total content size in bytes.
    pub total_bytes: u64,
    /// Column schema, when known.
    pub schema: Option<Schema>,
    /// Number of data rows, when known (given, counted from rows, or counted in CSV files).
    pub row_count: Option<u64>,
    /// Where the data came from (`s3://…`, `file:///…`, a table name).
    pub source_uri: Option<String>,
    /// When the snapshot was taken (UTC).
    pub created_at: DateTime<Utc>,
    /// Digests of the snapshots this one was derived from.
    pub parents: Vec<Sha256Digest>,
    /// Git commit of the working tree the snapshot was taken in, when available.
    pub git_commit: Option<String>,
}

/// Builds a [`DatasetSnapshot`] from files, directories and in-memory rows.
///
/// ```
/// use mlops_core::SnapshotBuilder;
/// let dir = tempfile::tempdir()?;
/// std::fs::write(dir.path().join("a.csv"), "x,y\n1,2\n3,4\n")?;
/// std::fs::write(dir.path().join("b.csv"), "x,y\n5,6\n")?;
/// let one = SnapshotBuilder::new()
///     .path(dir.path().join("a.csv"))
///     .path(dir.path().join("b.csv"))
///     .build()?;
/// let two = SnapshotBuilder::new()
///     .path(dir.path().join("b.csv"))
///     .path(dir.path().join("a.csv"))
///     .build()?;
/// assert_eq!(one.digest, two.digest);
/// assert_eq!(one.row_count, Some(3));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct SnapshotBuilder {
    paths: Vec<PathBuf>,
    rows: Vec<SnapshotFile>,
    row_total: u64,
    schema: Option<Schema>,
    row_count: Option<u64>,
    source_uri: Option<String>,
    parents: Vec<Sha256Digest>,
    git_commit: Option<String>,
    detect_git_in: Option<PathBuf>,
    error: Option<Error>,
}

impl SnapshotBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a file or a directory (walked recursively).
    pub fn path(mut self, path: impl Into<PathBuf>) -> Self {
        self.paths.push(path.into());
        self
    }

    /// Adds several files or directories.
    pub fn paths<I, P>(mut self, paths: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<PathBuf>,
    {
        self.paths.extend(paths.into_iter().map(Into::into));
        self
    }

    /// Adds a block of numeric rows with the given column names. Also sets the schema
    /// (one `F64` column of shape `[-1]` per name) unless one is set explicitly.
    ///
    /// A row whose length differs from the number of columns makes [`Self::build`] fail
    /// with [`Error::InvalidInput`].
    pub fn rows<I, R>(mut self, columns: &[&str], rows: I) -> Self
    where
        I: IntoIterator<Item = R>,
        R: AsRef<[f64]>,
    {
        if self.error.is_some() {
            return self;
        }
        let mut h = Sha256::new();
        h.update(b"mlops-rows-v1\n");
        h.update((columns.len() as u64).to_le_bytes());
        for c in columns {
            h.update((c.len() as u64).to_le_bytes());
            h.update(c.as_bytes());
        }
        let mut n = 0u64;
        let mut bytes = 0u64;
        for (i, row) in rows.into_iter().enumerate() {
            let row = row.as_ref();
            if row.len() != columns.len() {
                self.error = Some(Error::invalid_input(
                    "rows",
                    format!(
                        "row {i} has {} values but there are {} columns",
                        row.len(),
                        columns.len()
                    ),
                ));
                return self;
            }
            for v in row {
                let v = if v.is_nan() { f64::NAN } else { *v };
                h.update(v.to_le_bytes());
            }
            bytes += 8 * row.len() as u64;
            n += 1;
        }
        self.rows.push(SnapshotFile {
            path: "<rows>".into(),
            digest: Sha256Digest::from_bytes(h.finalize().into()),
            size: bytes,
        });
        self.row_total += n;
        if self.schema.is_none() {
            self.schema = Some(Schema::new(
                columns
                    .iter()
                    .map(|c| TensorSpec::new(*c, DType::F64, vec![-1]))
                    .collect(),
            ));
        }
        self
    }

    /// Sets the schema.
    pub fn with_schema(mut self, schema: Schema) -> Self {
        self.schema = Some(schema);
        self
    }

    /// Sets the row count (overrides counting).
    pub fn with_row_count(mut self, rows: u64) -> Self {
        self.row_count = Some(rows);
        self
    }

    /// Sets the source URI.
    pub fn with_source_uri(mut self, uri: impl Into<String>) -> Self {
        self.source_uri = Some(uri.into());
        self
    }

    /// Records a parent snapshot (lineage).
    pub fn with_parent(mut self, digest: Sha256Digest) -> Self {
        self.parents.push(digest);
        self
    }

    /// Sets the git commit explicitly.
    pub fn with_git_commit(mut self, commit: impl Into<String>) -> Self {
        self.git_commit = Some(commit.into());
        self
    }

    /// Records the `HEAD` commit of the git work tree containing `dir`, if there is one
    /// and `git` is installed (silently absent otherwise: git is optional).
    pub fn detect_git_commit(mut self, dir: impl Into<PathBuf>) -> Self {
        self.detect_git_in = Some(dir.into());
        self
    }

    /// Hashes everything and returns the snapshot.
    ///
    /// Row count: the explicit one if set; else the number of in-memory rows plus, when every
    /// file is a `.csv`, the CSV records in them (lines outside double quotes, less one header
    /// line per file); else unknown.
    ///
    /// # Errors
    /// [`Error::Empty`] when nothing was added; [`Error::Io`] naming the path that could not
    /// be read (missing, unreadable, not a regular file); [`Error::InvalidInput`] for a
    /// ragged row.
    #[tracing::instrument(skip_all, fields(paths = self.paths.len()), err)]
    pub fn build(self) -> Result<DatasetSnapshot> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if self.paths.is_empty() && self.rows.is_empty() {
            return Err(Error::Empty {
                what: "snapshot (no files or rows)".into(),
            });
        }
        let mut files = BTreeSet::new();
        for p in &self.paths {
            collect_files(p, &mut files)?;
        }
        let all_csv = !files.is_empty()
            && files.iter().all(|p| {
                p.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
            });
        let mut parts = self.rows;
        let mut csv_rows = 0u64;
        for path in &files {
            let f = fs::File::open(path).map_err(|e| Error::io(path, e))?;
            let mut counter = CsvRecordCounter::default();
            let reader = CountingReader {
                inner: f,
                counter: all_csv.then_some(&mut counter),
            };
            let (digest, size) = Sha256Digest::of_reader(reader).map_err(|e| Error::io(path, e))?;
            csv_rows += counter.records().saturating_sub(1);
            parts.push(SnapshotFile {
                path: path.display().to_string(),
                digest,
                size,
            });
        }
        parts.sort_by(|a, b| (a.digest, a.size, &a.path).cmp(&(b.digest, b.size, &b.path)));
        let mut h = Sha256::new();
        h.update(b"mlops-snapshot-v1\n");
        for p in &parts {
            h.update(format!("{} {}\n", p.digest, p.size).as_bytes());
        }
        let row_count = self.row_count.or(if files.is_empty() || all_csv {
            Some(self.row_total + csv_rows)
        } else {
            None
        });
        let git_commit = self
            .git_commit
            .or_else(|| self.detect_git_in.as_deref().and_then(git_head));
        Ok(DatasetSnapshot {
            digest: Sha256Digest::from_bytes(h.finalize().into()),
            total_bytes: parts.iter().map(|p| p.size).sum(),
            files: parts,
            schema: self.schema,
            row_count,
            source_uri: self.source_uri,
            created_at: Utc::now(),
            parents: self.parents,
            git_commit,
        })
    }
}

fn collect_files(path: &Path, out: &mut BTreeSet<PathBuf>) -> Result<()> {
    let meta = fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if meta.is_file() {
        let canonical = fs::canonicalize(path).map_err(|e| Error::io(path, e))?;
        out.insert(canonical);
        return Ok(());
    }
    if !meta.is_dir() {
        return Err(Error::io(
            path,
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not a regular file or directory",
            ),
        ));
    }
    let mut entries: Vec<_> = fs::read_dir(path)
        .map_err(|e| Error::io(path, e))?
        .collect::<std::io::Result<_>>()
        .map_err(|e| Error::io(path, e))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let p = entry.path();
        let ft = entry.file_type().map_err(|e| Error::io(&p, e))?;
        if ft.is_dir() {
            collect_files(&p, out)?;
        } else if ft.is_symlink() {
            // Follow links to files, never links to directories (no cycles).
            if fs::metadata(&p).map(|m| m.is_file()).unwrap_or(false) {
                collect_files(&p, out)?;
            }
        } else if ft.is_file() {
            collect_files(&p, out)?;
        }
    }
    Ok(())
}

/// Counts CSV records: newlines outside double-quoted fields (RFC 4180), plus a final
/// unterminated line.
#[derive(Debug, Default)]
struct CsvRecordCounter {
    newlines: u64,
    in_quotes: bool,
    last: Option<u8>,
}

impl CsvRecordCounter {
    fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if b == b'"' {
                self.in_quotes = !self.in_quotes;
            } else if b == b'\n' && !self.in_quotes {
                self.newlines += 1;
            }
        }
        if let Some(&l) = bytes.last() {
            self.last = Some(l);
        }
    }

    fn records(&self) -> u64 {
        match self.last {
            None => 0,
            Some(b'\n') => self.newlines,
            Some(_) => self.newlines + 1,
        }
    }
}

struct CountingReader<'a, R> {
    inner: R,
    counter: Option<&'a mut CsvRecordCounter>,
}

impl<R: Read> Read for CountingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(c) = self.counter.as_deref_mut() {
            c.feed(&buf[..n]);
        }
        Ok(n)
    }
}

fn git_head(dir: &Path) -> Option<String> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "--verify", "--quiet", "HEAD"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (!s.is_empty()).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_and_location_do_not_matter() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        for d in [a.path(), b.path()] {
            fs::write(d.join("x.csv"), "h\n1\n2\n").unwrap();
            fs::write(d.join("y.csv"), "h\n\"multi\nline\"\n").unwrap();
        }
        let s1 = SnapshotBuilder::new()
            .path(a.path().join("x.csv"))
            .path(a.path().join("y.csv"))
            .build()
            .unwrap();
        let s2 = SnapshotBuilder::new()
            .path(b.path().join("y.csv"))
            .path(b.path().join("x.csv"))
            .build()
            .unwrap();
        assert_eq!(s1.digest, s2.digest);
        assert_eq!(s1.row_count, Some(3), "quoted newline is one record");
        let whole_dir = SnapshotBuilder::new().path(b.path()).build().unwrap();
        assert_eq!(whole_dir.digest, s1.digest);
        // Same path twice counts once.
        let dup = SnapshotBuilder::new()
            .path(a.path().join("x.csv"))
            .path(a.path().join("x.csv"))
            .path(a.path().join("y.csv"))
            .build()
            .unwrap();
        assert_eq!(dup.digest, s1.digest);
    }

    #[test]
    fn content_change_changes_digest() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("x.bin"), b"abc").unwrap();
        let s1 = SnapshotBuilder::new().path(d.path()).build().unwrap();
        fs::write(d.path().join("x.bin"), b"abd").unwrap();
        let s2 = SnapshotBuilder::new().path(d.path()).build().unwrap();
        assert_ne!(s1.digest, s2.digest);
        assert_eq!(s1.row_count, None, "not CSV: unknown row count");
    }

    #[test]
    fn rows_hash_and_validate() {
        let r1 = SnapshotBuilder::new()
            .rows(&["a", "b"], [[1.0, 2.0], [3.0, f64::NAN]])
            .build()
            .unwrap();
        let nan2 = f64::from_bits(0x7ff8_0000_0000_0001);
        let r2 = SnapshotBuilder::new()
            .rows(&["a", "b"], [[1.0, 2.0], [3.0, nan2]])
            .build()
            .unwrap();
        assert_eq!(r1.digest, r2.digest, "NaN payloads are canonicalised");
        assert_eq!(r1.row_count, Some(2));
        let r3 = SnapshotBuilder::new()
            .rows(&["a", "c"], [[1.0, 2.0], [3.0, f64::NAN]])
            .build()
            .unwrap();
        assert_ne!(r1.digest, r3.digest, "column names are part of the content");
        let ragged = SnapshotBuilder::new()
            .rows(&["a", "b"], [vec![1.0, 2.0], vec![3.0]])
            .build();
        assert!(matches!(ragged, Err(Error::InvalidInput { .. })));
    }

    #[test]
    fn errors_are_typed() {
        assert!(matches!(
            SnapshotBuilder::new().build(),
            Err(Error::Empty { .. })
        ));
        let missing = SnapshotBuilder::new().path("/definitely/not/here").build();
        match missing {
            Err(Error::Io { path, .. }) => assert_eq!(path, PathBuf::from("/definitely/not/here")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn serde_round_trip() {
        let s = SnapshotBuilder::new()
            .rows(&["a"], [[1.0]])
            .with_source_uri("mem://x")
            .with_parent(Sha256Digest::of_bytes(b"p"))
            .with_git_commit("deadbeef")
            .build()
            .unwrap();
        let j = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<DatasetSnapshot>(&j).unwrap(), s);
        let b = bincode::serialize(&s).unwrap();
        assert_eq!(bincode::deserialize::<DatasetSnapshot>(&b).unwrap(), s);
    }
}
