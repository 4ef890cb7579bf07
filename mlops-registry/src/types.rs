//! Inputs and outputs of [`crate::Registry`] operations.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use chrono::{DateTime, Utc};
use mlops_core::{AliasName, Lineage, ModelName, ModelVersion, Sha256Digest, Signature};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One artifact file to stream into a new version.
pub struct ArtifactInput {
    /// File name inside the version (one path component, e.g. `model.onnx`).
    pub name: String,
    /// Where the bytes come from; read once, to the end, in constant memory.
    pub reader: Box<dyn Read + Send>,
}

impl fmt::Debug for ArtifactInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArtifactInput")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Everything needed to register a new version; the registry assigns the number.
///
/// ```
/// use mlops_registry::NewVersion;
/// let new = NewVersion::new("fraud".parse()?)
///     .with_artifact_bytes("model.onnx", b"graph".to_vec())
///     .with_metric("auc", 0.93)
///     .with_tag("team", "risk");
/// assert_eq!(new.artifacts.len(), 1);
/// # Ok::<(), mlops_registry::Error>(())
/// ```
#[derive(Debug)]
pub struct NewVersion {
    /// The model.
    pub name: ModelName,
    /// Free-text description.
    pub description: String,
    /// String tags.
    pub tags: BTreeMap<String, String>,
    /// Hyper-parameters.
    pub params: BTreeMap<String, String>,
    /// Metrics; must be finite.
    pub metrics: BTreeMap<String, f64>,
    /// Input/output signature.
    pub signature: Option<Signature>,
    /// Artifact format; inferred from the first artifact's extension when `None`.
    pub format: Option<String>,
    /// Data, code and parent lineage; a parent version must exist.
    pub lineage: Lineage,
    /// The files, streamed in order.
    pub artifacts: Vec<ArtifactInput>,
}

impl NewVersion {
    /// A version of `name` with no metadata and no artifacts.
    pub fn new(name: ModelName) -> Self {
        Self {
            name,
            description: String::new(),
            tags: BTreeMap::new(),
            params: BTreeMap::new(),
            metrics: BTreeMap::new(),
            signature: None,
            format: None,
            lineage: Lineage::default(),
            artifacts: Vec::new(),
        }
    }

    /// Adds an artifact read from `reader`.
    pub fn with_artifact(mut self, name: impl Into<String>, reader: Box<dyn Read + Send>) -> Self {
        self.artifacts.push(ArtifactInput {
            name: name.into(),
            reader,
        });
        self
    }

    /// Adds an in-memory artifact.
    pub fn with_artifact_bytes(self, name: impl Into<String>, bytes: Vec<u8>) -> Self {
        self.with_artifact(name, Box::new(std::io::Cursor::new(bytes)))
    }

    /// Adds the file at `path` as an artifact named after its file name (streamed, not loaded).
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be opened; [`Error::InvalidInput`] when the path
    /// has no UTF-8 file name.
    pub fn with_artifact_file(self, path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| {
                Error::invalid(
                    "artifact",
                    format!("{} has no UTF-8 file name", path.display()),
                )
            })?
            .to_owned();
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        Ok(self.with_artifact(name, Box::new(file)))
    }

    /// Sets the description.
    pub fn with_description(mut self, text: impl Into<String>) -> Self {
        self.description = text.into();
        self
    }

    /// Adds a tag.
    pub fn with_tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.tags.insert(key.into(), value.into());
        self
    }

    /// Adds a parameter.
    pub fn with_param(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.params.insert(key.into(), value.into());
        self
    }

    /// Adds a metric.
    pub fn with_metric(mut self, key: impl Into<String>, value: f64) -> Self {
        self.metrics.insert(key.into(), value);
        self
    }

    /// Sets the artifact format explicitly.
    pub fn with_format(mut self, format: impl Into<String>) -> Self {
        self.format = Some(format.into());
        self
    }

    /// Sets the lineage.
    pub fn with_lineage(mut self, lineage: Lineage) -> Self {
        self.lineage = lineage;
        self
    }

    /// Sets the signature.
    pub fn with_signature(mut self, signature: Signature) -> Self {
        self.signature = Some(signature);
        self
    }
}

/// A stored version with its current state (archived, aliases).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionEntry {
    /// The immutable record written at registration.
    pub version: ModelVersion,
    /// Whether the version is archived (still readable, hidden from `search` by default).
    pub archived: bool,
    /// Aliases that currently point to this version.
    pub aliases: Vec<AliasName>,
}

/// Who made a change and why; recorded in the event log.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// Who (user, service account).
    pub who: String,
    /// Why (free text).
    pub reason: String,
}

impl Change {
    /// A change by `who` for `reason`.
    pub fn new(who: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            who: who.into(),
            reason: reason.into(),
        }
    }
}

/// What an [`Event`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventKind {
    /// An alias was set or moved.
    AliasSet {
        /// The alias.
        alias: AliasName,
        /// Its new target.
        version: u64,
        /// Its target before, if it was set.
        previous: Option<u64>,
    },
    /// An alias was moved back to its previous target.
    AliasRolledBack {
        /// The alias.
        alias: AliasName,
        /// The target it left.
        from: u64,
        /// The target it returned to.
        to: u64,
    },
    /// An alias was removed.
    AliasRemoved {
        /// The alias.
        alias: AliasName,
        /// Its target before removal.
        previous: u64,
    },
    /// A version was archived.
    Archived {
        /// The version.
        version: u64,
    },
    /// A version was taken out of the archive.
    Restored {
        /// The version.
        version: u64,
    },
    /// A version was deleted (its number is never reused; its blobs become garbage).
    Deleted {
        /// The version.
        version: u64,
    },
}

/// One entry of a model's append-only event log (the audit trail).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Position in the log, from 1, dense.
    pub seq: u64,
    /// When it was written (UTC).
    pub at: DateTime<Utc>,
    /// Who and why.
    pub change: Change,
    /// What happened.
    pub kind: EventKind,
}

/// Filters for [`crate::Registry::search`]; every set field must match.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VersionQuery {
    /// Tags that must be present with these values.
    pub tags: BTreeMap<String, String>,
    /// Metrics that must be present and `>=` the threshold.
    pub metric_at_least: BTreeMap<String, f64>,
    /// Metrics that must be present and `<=` the threshold.
    pub metric_at_most: BTreeMap<String, f64>,
    /// Only the version this alias points to.
    pub alias: Option<AliasName>,
    /// Created at or after.
    pub created_after: Option<DateTime<Utc>>,
    /// Created at or before.
    pub created_before: Option<DateTime<Utc>>,
    /// Include archived versions (excluded by default).
    pub include_archived: bool,
}

impl VersionQuery {
    /// Whether `entry` matches every filter except `alias`.
    pub fn matches(&self, entry: &VersionEntry) -> bool {
        let v = &entry.version;
        (self.include_archived || !entry.archived)
            && self.tags.iter().all(|(k, val)| v.tags.get(k) == Some(val))
            && self
                .metric_at_least
                .iter()
                .all(|(k, t)| v.metrics.get(k).is_some_and(|m| m >= t))
            && self
                .metric_at_most
                .iter()
                .all(|(k, t)| v.metrics.get(k).is_some_and(|m| m <= t))
            && self.created_after.is_none_or(|t| v.created_at >= t)
            && self.created_before.is_none_or(|t| v.created_at <= t)
            && self
                .alias
                .as_ref()
                .is_none_or(|a| entry.aliases.contains(a))
    }
}

/// One metric or parameter of a [`Comparison`], side by side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Side<T> {
    /// Name of the metric or parameter.
    pub key: String,
    /// Value in version A, if present.
    pub a: Option<T>,
    /// Value in version B, if present.
    pub b: Option<T>,
}

/// Two versions' metrics and params side by side (`b - a` deltas for metrics present in both).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// Version A (`name/version`).
    pub a: String,
    /// Version B.
    pub b: String,
    /// Every metric of either version, sorted by name.
    pub metrics: Vec<Side<f64>>,
    /// Every parameter of either version, sorted by name.
    pub params: Vec<Side<String>>,
}

impl Comparison {
    /// Builds the side-by-side view of `a` and `b`.
    pub fn of(a: &ModelVersion, b: &ModelVersion) -> Self {
        fn sides<T: Clone>(x: &BTreeMap<String, T>, y: &BTreeMap<String, T>) -> Vec<Side<T>> {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter()
                .map(|k| Side {
                    key: k.clone(),
                    a: x.get(k).cloned(),
                    b: y.get(k).cloned(),
                })
                .collect()
        }
        Self {
            a: format!("{}/{}", a.name, a.version),
            b: format!("{}/{}", b.name, b.version),
            metrics: sides(&a.metrics, &b.metrics),
            params: sides(&a.params, &b.params),
        }
    }
}

/// What [`crate::Registry::gc`] did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GcReport {
    /// Blobs found in the store.
    pub blobs_scanned: u64,
    /// Blobs referenced by a live (not deleted) version.
    pub blobs_referenced: u64,
    /// Unreferenced blobs kept because they are younger than the grace period.
    pub blobs_in_grace: u64,
    /// Blobs deleted.
    pub deleted: Vec<Sha256Digest>,
    /// Bytes freed by deleting them.
    pub bytes_freed: u64,
    /// Abandoned staging files (interrupted uploads) removed.
    pub staging_removed: u64,
}

/// One problem found by [`crate::Registry::verify`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerifyProblem {
    /// The version (`name/version`) or record key concerned.
    pub location: String,
    /// The artifact file name, when the problem is a blob.
    pub artifact: Option<String>,
    /// What is wrong (the error's message).
    pub problem: String,
}

/// What [`crate::Registry::verify`] found.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VerifyReport {
    /// Live versions checked.
    pub versions: u64,
    /// Artifact blobs re-hashed.
    pub blobs_checked: u64,
    /// Bytes re-hashed.
    pub bytes_checked: u64,
    /// Missing or corrupt blobs and undecodable records.
    pub problems: Vec<VerifyProblem>,
}

impl VerifyReport {
    /// Whether nothing is wrong.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}
