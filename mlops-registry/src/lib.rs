//! A model registry that never loses a version.
//!
//! `mlops-registry` stores immutable model versions with their artifacts, metrics, tags,
//! signature and lineage; moves aliases (`champion`, `production`) with who/when/why in an
//! append-only audit log; and verifies every artifact's SHA-256 on read. The same
//! [`Registry`] contract is implemented by three backends:
//!
//! | backend | type | feature |
//! |---|---|---|
//! | local directory (default) | [`FileRegistry`] | – |
//! | in memory | [`MemoryRegistry`] | – |
//! | S3 and S3-compatible stores | `S3Registry` | `s3` |
//!
//! | feature | enables |
//! |---|---|
//! | `s3` | `S3Registry` on the `object_store` crate (`If-None-Match: *` creates, multipart uploads) |
//! | `conformance` | [`conformance`]: the suite every backend passes, for testing your own |
//!
//! ```
//! use mlops_registry::{Change, FileRegistry, NewVersion, Registry};
//!
//! let dir = tempfile::tempdir()?;
//! let reg = FileRegistry::open(dir.path())?;
//! let new = NewVersion::new("fraud".parse()?)
//!     .with_artifact_bytes("model.onnx", b"onnx bytes".to_vec())
//!     .with_metric("auc", 0.91);
//! let v = reg.register(new)?;
//! reg.set_alias(&v.version.name, &"champion".parse()?, v.version.version, &Change::new("ci", "best auc"))?;
//! let champion = reg.resolve(&"fraud@champion".parse()?)?;
//! assert_eq!(champion.version.version, 1);
//! let bytes = reg.read_artifact(&champion.version.name, 1, "model.onnx")?; // SHA-256 checked
//! assert_eq!(bytes, b"onnx bytes");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Design
//! Every record is written once and never modified. The only primitive a backend needs is
//! *create if absent* (a staged, fsynced file hard-linked into place; S3 `If-None-Match: *`).
//! A version number is claimed by creating its record, and the loser of a race retries with
//! the next number, so versions are dense, unique and never reused. Alias moves, archive and
//! delete are events appended to a per-model log claimed the same way; the current alias map
//! is the fold of the log and the log is the audit trail. Artifacts are content-addressed
//! blobs uploaded (and fsynced) before the version record that points to them.
#![deny(missing_docs)]

mod engine;
mod error;
mod file;
mod memory;
#[cfg(feature = "s3")]
mod s3;
mod storage;
mod types;

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use mlops_core::{AliasName, ModelName, ModelRef};

pub use error::{Error, Result};
pub use file::{FileRegistry, FileRegistryBuilder};
pub use memory::MemoryRegistry;
#[cfg(feature = "s3")]
pub use s3::S3Registry;
pub use storage::ArtifactReader;
pub use types::{
    ArtifactInput, Change, Comparison, Event, EventKind, GcReport, NewVersion, Side, VerifyProblem,
    VerifyReport, VersionEntry, VersionQuery,
};

/// A model registry.
///
/// # Contract
/// Every backend guarantees:
/// - **Atomic, write-once records.** A version becomes visible whole (record and every
///   artifact blob) or not at all, even if the writer is killed at any point; nothing that
///   was visible is ever modified. A crashed writer leaves at most unreferenced staging data,
///   which [`Registry::gc`] removes.
/// - **Unique, dense version numbers.** Concurrent [`Registry::register`] calls (threads or
///   processes) get distinct numbers `1, 2, 3, …` with no gaps and no reuse, even after
///   delete. (On S3 this relies on the store's atomic `If-None-Match`; real S3 provides it.)
/// - **Linearisable event log.** Alias moves, rollbacks, archive and delete are appended to a
///   per-model log with dense sequence numbers; each event is validated against the fold of
///   all events before it, so the log is consistent under concurrent writers and is the
///   audit trail (who, when, why).
/// - **Verified reads.** Artifact bytes are checked against their registered SHA-256 and
///   size; a tampered, truncated or missing blob is [`Error::DigestMismatch`] or
///   [`Error::MissingBlob`], never silently wrong data.
/// - **Read-your-writes.** Once a call returns `Ok`, every later call on any handle sees it.
///
/// Errors mean: `*NotFound` — the thing does not exist (nothing is wrong with the store);
/// [`Error::InvalidInput`] / [`Error::InvalidName`] — rejected before anything was written;
/// [`Error::Conflict`] — not allowed in the current state; [`Error::Contention`] — lost too
/// many races, nothing written; integrity errors (see [`Error::is_integrity`]) — the store's
/// content is damaged; [`Error::Io`] / [`Error::Backend`] — the storage failed and the
/// operation may or may not have taken effect (retrying `register` may create a second version).
///
/// The trait is object-safe (`Box<dyn Registry>`) and synchronous: the file backend is
/// blocking I/O, and the S3 backend runs its own runtime. Do not call it from an async task
/// without `spawn_blocking`.
pub trait Registry: Send + Sync + fmt::Debug {
    /// Streams the artifacts into blobs, then claims the next version number.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for bad artifact names (not one path component, duplicated),
    /// non-finite metrics, empty keys or a parent version that does not exist;
    /// [`Error::Io`] / [`Error::Backend`] when reading an artifact or writing fails.
    fn register(&self, new: NewVersion) -> Result<VersionEntry>;

    /// Every model with at least one version record, sorted.
    ///
    /// # Errors
    /// Storage failures.
    fn models(&self) -> Result<Vec<ModelName>>;

    /// Every live (not deleted) version of `name`, ascending, archived ones included.
    ///
    /// # Errors
    /// [`Error::ModelNotFound`]; [`Error::CorruptRecord`] for an undecodable record.
    fn versions(&self, name: &ModelName) -> Result<Vec<VersionEntry>>;

    /// One version.
    ///
    /// # Errors
    /// [`Error::VersionNotFound`] (with `deleted` set for deleted versions).
    fn version(&self, name: &ModelName, version: u64) -> Result<VersionEntry>;

    /// Resolves `name`, `name@latest` (highest live version), `name/7` or `name@alias`.
    ///
    /// # Errors
    /// [`Error::ModelNotFound`], [`Error::VersionNotFound`], [`Error::AliasNotFound`].
    fn resolve(&self, reference: &ModelRef) -> Result<VersionEntry>;

    /// The current alias map of `name` (the fold of its event log).
    ///
    /// # Errors
    /// Storage failures; [`Error::CorruptRecord`] for an undecodable event.
    fn aliases(&self, name: &ModelName) -> Result<BTreeMap<AliasName, u64>>;

    /// The model's event log, oldest first.
    ///
    /// # Errors
    /// [`Error::ModelNotFound`].
    fn history(&self, name: &ModelName) -> Result<Vec<Event>>;

    /// Points `alias` at `version` (setting or moving it).
    ///
    /// # Errors
    /// [`Error::ModelNotFound`], [`Error::VersionNotFound`] (deleted versions cannot be aliased).
    fn set_alias(
        &self,
        name: &ModelName,
        alias: &AliasName,
        version: u64,
        change: &Change,
    ) -> Result<Event>;

    /// Removes `alias`.
    ///
    /// # Errors
    /// [`Error::ModelNotFound`], [`Error::AliasNotFound`].
    fn remove_alias(&self, name: &ModelName, alias: &AliasName, change: &Change) -> Result<Event>;

    /// Moves `alias` back to its previous target (undoing the last set or rollback step).
    ///
    /// # Errors
    /// [`Error::AliasNotFound`]; [`Error::Conflict`] when the alias has no previous target
    /// or that target was deleted.
    fn rollback(&self, name: &ModelName, alias: &AliasName, change: &Change) -> Result<Event>;

    /// Archives (`true`) or restores (`false`) a version.
    ///
    /// # Errors
    /// [`Error::VersionNotFound`]; [`Error::Conflict`] when already in that state.
    fn set_archived(
        &self,
        name: &ModelName,
        version: u64,
        archived: bool,
        change: &Change,
    ) -> Result<Event>;

    /// Deletes a version: it disappears from reads, its number is never reused, its blobs
    /// become garbage for [`Registry::gc`].
    ///
    /// # Errors
    /// [`Error::VersionNotFound`]; [`Error::Conflict`] while an alias points to it.
    fn delete_version(&self, name: &ModelName, version: u64, change: &Change) -> Result<Event>;

    /// Opens an artifact for streaming; the reader fails at the end when the bytes do not
    /// match the registered digest (see [`ArtifactReader`]).
    ///
    /// # Errors
    /// [`Error::VersionNotFound`], [`Error::ArtifactNotFound`], [`Error::MissingBlob`].
    fn open_artifact(
        &self,
        name: &ModelName,
        version: u64,
        artifact: &str,
    ) -> Result<ArtifactReader>;

    /// Deletes blobs that no live version references and that are older than `grace`, and
    /// staging leftovers older than `grace`. A blob uploaded by a registration in flight is
    /// younger than `grace` (uploads refresh the age of existing blobs), so it is kept.
    ///
    /// # Errors
    /// Storage failures; [`Error::CorruptRecord`] when a version record cannot be read
    /// (gc refuses to guess what it references).
    fn gc(&self, grace: Duration) -> Result<GcReport>;

    /// Re-hashes every blob referenced by a live version and reports missing or corrupt ones.
    ///
    /// # Errors
    /// Storage failures only; integrity problems are in the report.
    fn verify(&self) -> Result<VerifyReport>;

    /// Live versions of `name` matching `query`, ascending.
    ///
    /// # Errors
    /// As [`Registry::versions`].
    fn search(&self, name: &ModelName, query: &VersionQuery) -> Result<Vec<VersionEntry>> {
        Ok(self
            .versions(name)?
            .into_iter()
            .filter(|e| query.matches(e))
            .collect())
    }

    /// Metrics and params of two versions side by side.
    ///
    /// # Errors
    /// As [`Registry::resolve`] for either reference.
    fn compare(&self, a: &ModelRef, b: &ModelRef) -> Result<Comparison> {
        let a = self.resolve(a)?;
        let b = self.resolve(b)?;
        Ok(Comparison::of(&a.version, &b.version))
    }

    /// Reads a whole artifact into memory, verified.
    ///
    /// # Errors
    /// As [`Registry::open_artifact`], plus [`Error::DigestMismatch`].
    fn read_artifact(&self, name: &ModelName, version: u64, artifact: &str) -> Result<Vec<u8>> {
        let mut r = self.open_artifact(name, version, artifact)?;
        let mut buf = Vec::with_capacity(usize::try_from(r.size()).unwrap_or(0).min(1 << 30));
        r.read_to_end(&mut buf)
            .map_err(ArtifactReader::into_registry_error)?;
        Ok(buf)
    }

    /// Downloads every artifact of the resolved version into `dir` (created if missing).
    /// Each file is streamed to a temporary name, verified, then renamed into place, so a
    /// corrupt blob never appears under its real name. Returns the written paths.
    ///
    /// # Errors
    /// As [`Registry::resolve`] and [`Registry::open_artifact`]; [`Error::DigestMismatch`];
    /// [`Error::Io`] on `dir`.
    fn download(&self, reference: &ModelRef, dir: &Path) -> Result<Vec<PathBuf>> {
        let entry = self.resolve(reference)?;
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let mut out = Vec::new();
        for a in &entry.version.artifacts {
            // Records are data: re-check the name before it becomes a path.
            engine::check_artifact_name(&a.name)?;
            let reader = self.open_artifact(&entry.version.name, entry.version.version, &a.name)?;
            // The copy loop hashes every byte anyway: take the raw stream and compare its
            // digest once at the end instead of verifying twice.
            let (raw, expected, expected_size) = reader.into_parts();
            // One byte past the registered size is enough to see an overlong blob.
            let mut raw = raw.take(expected_size.saturating_add(1));
            let dst = dir.join(&a.name);
            let tmp = dir.join(format!(".{}.partial-{}", a.name, std::process::id()));
            let mut file = fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
            // Read and hash on this thread, write and fsync on another (overlapped).
            let copied = storage::hash_into_file(&mut raw, &mut file, true, &tmp);
            drop(file);
            let checked = copied.and_then(|(actual, actual_size)| {
                if actual == expected && actual_size == expected_size {
                    Ok(())
                } else {
                    Err(Error::DigestMismatch {
                        expected,
                        actual,
                        expected_size,
                        actual_size,
                    })
                }
            });
            if let Err(e) = checked {
                let _ = fs::remove_file(&tmp);
                return Err(e);
            }
            fs::rename(&tmp, &dst).map_err(|e| Error::io(&dst, e))?;
            out.push(dst);
        }
        Ok(out)
    }
}

/// Implements [`Registry`] for a backend type with an `engine: Arc<Engine>` field.
macro_rules! forward_registry {
    ($t:ty) => {
        impl $crate::Registry for $t {
            fn register(&self, new: $crate::NewVersion) -> $crate::Result<$crate::VersionEntry> {
                self.engine.register(new)
            }
            fn models(&self) -> $crate::Result<Vec<mlops_core::ModelName>> {
                self.engine.models()
            }
            fn versions(
                &self,
                name: &mlops_core::ModelName,
            ) -> $crate::Result<Vec<$crate::VersionEntry>> {
                self.engine.versions(name)
            }
            fn version(
                &self,
                name: &mlops_core::ModelName,
                version: u64,
            ) -> $crate::Result<$crate::VersionEntry> {
                self.engine.version(name, version)
            }
            fn resolve(
                &self,
                reference: &mlops_core::ModelRef,
            ) -> $crate::Result<$crate::VersionEntry> {
                self.engine.resolve(reference)
            }
            fn aliases(
                &self,
                name: &mlops_core::ModelName,
            ) -> $crate::Result<std::collections::BTreeMap<mlops_core::AliasName, u64>> {
                self.engine.aliases(name)
            }
            fn history(&self, name: &mlops_core::ModelName) -> $crate::Result<Vec<$crate::Event>> {
                self.engine.history(name)
            }
            fn set_alias(
                &self,
                name: &mlops_core::ModelName,
                alias: &mlops_core::AliasName,
                version: u64,
                change: &$crate::Change,
            ) -> $crate::Result<$crate::Event> {
                self.engine.set_alias(name, alias, version, change)
            }
            fn remove_alias(
                &self,
                name: &mlops_core::ModelName,
                alias: &mlops_core::AliasName,
                change: &$crate::Change,
            ) -> $crate::Result<$crate::Event> {
                self.engine.remove_alias(name, alias, change)
            }
            fn rollback(
                &self,
                name: &mlops_core::ModelName,
                alias: &mlops_core::AliasName,
                change: &$crate::Change,
            ) -> $crate::Result<$crate::Event> {
                self.engine.rollback(name, alias, change)
            }
            fn set_archived(
                &self,
                name: &mlops_core::ModelName,
                version: u64,
                archived: bool,
                change: &$crate::Change,
            ) -> $crate::Result<$crate::Event> {
                self.engine.set_archived(name, version, archived, change)
            }
            fn delete_version(
                &self,
                name: &mlops_core::ModelName,
                version: u64,
                change: &$crate::Change,
            ) -> $crate::Result<$crate::Event> {
                self.engine.delete_version(name, version, change)
            }
            fn open_artifact(
                &self,
                name: &mlops_core::ModelName,
                version: u64,
                artifact: &str,
            ) -> $crate::Result<$crate::ArtifactReader> {
                self.engine.open_artifact(name, version, artifact)
            }
            fn gc(&self, grace: std::time::Duration) -> $crate::Result<$crate::GcReport> {
                self.engine.gc(grace)
            }
            fn verify(&self) -> $crate::Result<$crate::VerifyReport> {
                self.engine.verify()
            }
        }
    };
}
pub(crate) use forward_registry;

/// Opens a registry from a store URI: a directory path, `file://PATH`, `memory:` (a fresh
/// in-memory registry) or `s3://bucket/prefix` (feature `s3`; endpoint, region and
/// credentials from the standard `AWS_*` environment variables, including `AWS_ENDPOINT_URL`).
///
/// # Errors
/// [`Error::Unsupported`] for `s3://` without the `s3` feature or an unknown scheme;
/// otherwise as the backend's constructor.
pub fn open(uri: &str) -> Result<Box<dyn Registry>> {
    if uri == "memory:" {
        return Ok(Box::new(MemoryRegistry::new()));
    }
    if let Some(rest) = uri.strip_prefix("s3://") {
        #[cfg(feature = "s3")]
        {
            return Ok(Box::new(S3Registry::from_env_uri(rest)?));
        }
        #[cfg(not(feature = "s3"))]
        {
            let _ = rest;
            return Err(Error::Unsupported {
                what: format!("{uri}: this build has no S3 support (feature `s3`)"),
            });
        }
    }
    let path = uri.strip_prefix("file://").unwrap_or(uri);
    if path.is_empty() {
        return Err(Error::invalid("store", "empty path"));
    }
    if let Some((scheme, _)) = path.split_once("://") {
        return Err(Error::Unsupported {
            what: format!("store scheme {scheme:?} (use a path, file://, s3:// or memory:)"),
        });
    }
    Ok(Box::new(FileRegistry::open(path)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_backend_passes_conformance() {
        conformance::run_all(&|| conformance::Harness::memory(MemoryRegistry::new()));
    }

    #[test]
    fn file_backend_passes_conformance() {
        let dirs = std::sync::Mutex::new(Vec::new());
        conformance::run_all(&|| {
            let dir = tempfile::tempdir().expect("tempdir");
            let reg = FileRegistryBuilder::new(dir.path()).build().expect("open");
            dirs.lock().expect("lock").push(dir);
            conformance::Harness::file(reg)
        });
    }

    #[test]
    fn open_parses_uris() {
        let dir = tempfile::tempdir().expect("tempdir");
        let uri = format!("file://{}", dir.path().join("r").display());
        assert!(open(&uri).is_ok());
        assert!(dir.path().join("r/registry.json").exists());
        assert!(open("memory:").is_ok());
        assert!(matches!(open("gs://x"), Err(Error::Unsupported { .. })));
        assert!(matches!(open(""), Err(Error::InvalidInput { .. })));
    }
}
