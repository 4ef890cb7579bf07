//! The one error type of `mlops-registry`.

use std::path::PathBuf;

use mlops_core::{AliasName, ModelName, Sha256Digest};

/// Everything that can go wrong in a registry operation.
///
/// Variants carry named fields so callers can react without parsing messages:
/// [`Error::VersionNotFound`] means "no such version" (never "the store is broken"),
/// [`Error::DigestMismatch`] means the bytes read are not the bytes registered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The model has no versions in this registry.
    #[error("model {name} not found")]
    ModelNotFound {
        /// The model.
        name: ModelName,
    },
    /// The version does not exist (or was deleted, see `deleted`).
    #[error("model {name} has no version {version}{}", if *deleted { " (it was deleted)" } else { "" })]
    VersionNotFound {
        /// The model.
        name: ModelName,
        /// The requested version.
        version: u64,
        /// Whether the version existed and was deleted.
        deleted: bool,
    },
    /// The alias is not set on the model.
    #[error("model {name} has no alias {alias}")]
    AliasNotFound {
        /// The model.
        name: ModelName,
        /// The alias.
        alias: AliasName,
    },
    /// The version has no artifact with that file name.
    #[error("{name}/{version} has no artifact {artifact:?}")]
    ArtifactNotFound {
        /// The model.
        name: ModelName,
        /// The version.
        version: u64,
        /// The requested artifact file name.
        artifact: String,
    },
    /// A referenced content blob is missing from the store.
    #[error("blob sha256:{digest} is missing from the store")]
    MissingBlob {
        /// The digest of the missing blob.
        digest: Sha256Digest,
    },
    /// The bytes read back do not hash to the registered digest (tampered or truncated blob).
    #[error("blob sha256:{expected} is corrupt: read {actual_size} bytes hashing to {actual}, expected {expected_size} bytes")]
    DigestMismatch {
        /// The digest recorded at registration.
        expected: Sha256Digest,
        /// The digest of what was read.
        actual: Sha256Digest,
        /// The size recorded at registration.
        expected_size: u64,
        /// How many bytes were read.
        actual_size: u64,
    },
    /// A stored record could not be decoded or does not match its key.
    #[error("corrupt record {key}: {reason}")]
    CorruptRecord {
        /// The record's key inside the store.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An argument was rejected before anything was written.
    #[error("invalid {what}: {reason}")]
    InvalidInput {
        /// Which argument or field.
        what: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A model or alias name (or model reference) failed `mlops-core` validation.
    #[error(transparent)]
    InvalidName {
        /// The validation error.
        #[from]
        source: mlops_core::Error,
    },
    /// The operation is valid in general but not in the model's current state
    /// (deleting a version an alias points to, rolling back an alias without history).
    #[error("conflict on {what}: {reason}")]
    Conflict {
        /// What the operation was about.
        what: String,
        /// Why it cannot be done now.
        reason: String,
    },
    /// Too many concurrent writers won the same slot; nothing was written.
    #[error("gave up on {what} after {attempts} attempts lost to concurrent writers")]
    Contention {
        /// What was being claimed.
        what: String,
        /// How many attempts were made.
        attempts: u32,
    },
    /// A path inside the store is a symbolic link or otherwise escapes the registry root.
    #[error("refusing unsafe path {path}: {reason}")]
    UnsafePath {
        /// The offending path.
        path: PathBuf,
        /// Why it is unsafe.
        reason: String,
    },
    /// A filesystem operation failed.
    #[error("i/o error on {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The object store (S3) failed.
    #[error("object store error on {key}: {source}")]
    Backend {
        /// The key being accessed.
        key: String,
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The store URI or operation is not supported by this build or backend.
    #[error("unsupported: {what}")]
    Unsupported {
        /// What is not supported.
        what: String,
    },
}

impl Error {
    pub(crate) fn invalid(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidInput {
            what: what.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn conflict(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Conflict {
            what: what.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn corrupt(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::CorruptRecord {
            key: key.into(),
            reason: reason.into(),
        }
    }

    /// Whether this error says the stored bytes are not what was registered
    /// (a tampered, truncated or missing blob, or an undecodable record).
    pub fn is_integrity(&self) -> bool {
        matches!(
            self,
            Error::DigestMismatch { .. } | Error::MissingBlob { .. } | Error::CorruptRecord { .. }
        )
    }
}

/// `Result` with [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
