//! The one error type of `mlops-pipeline`.

use std::path::PathBuf;

/// Everything that can go wrong in `mlops-pipeline`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A pipeline, study or gate specification is invalid; `at` names the spot
    /// (`steps.train.inputs[1]`, `space.lr`, …).
    #[error("invalid spec at {at}: {reason}")]
    InvalidSpec {
        /// Where in the spec.
        at: String,
        /// What is wrong.
        reason: String,
    },
    /// An argument or a data value is outside what the function accepts.
    #[error("invalid input {what}: {reason}")]
    InvalidInput {
        /// Which argument or field.
        what: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A file operation failed.
    #[error("i/o error on {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A stored file (cache record, journal) failed its integrity check.
    #[error("{path} is corrupt at byte {offset}: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Byte offset of the bad record.
        offset: u64,
        /// What failed.
        reason: String,
    },
    /// A step failed (non-zero exit, a changed input, a missing output, an error in a built-in step).
    #[error("step {step:?} failed: {reason}")]
    StepFailed {
        /// The step's name.
        step: String,
        /// Why.
        reason: String,
    },
    /// Another process holds the lock on a pipeline or a journal.
    #[error("{path} is locked by another process")]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// Training did not produce a usable model (non-finite loss, no data, singular problem).
    #[error("training failed: {reason}")]
    Train {
        /// Why.
        reason: String,
    },
    /// The study cannot go on (no trial completed, every trial failed, the space is empty).
    #[error("study {study:?}: {reason}")]
    Study {
        /// The study's name.
        study: String,
        /// Why.
        reason: String,
    },
    /// JSON (de)serialisation failed.
    #[error("json error in {what}: {source}")]
    Json {
        /// What was being read or written.
        what: String,
        /// The underlying error.
        #[source]
        source: serde_json::Error,
    },
    /// A registry operation failed.
    #[error(transparent)]
    Registry(#[from] mlops_registry::Error),
    /// A core operation (snapshot, metric, transform) failed.
    #[error(transparent)]
    Core(#[from] mlops_core::Error),
    /// Reading a table failed.
    #[error(transparent)]
    Drift(#[from] mlops_drift::Error),
    /// Loading or running a served model failed.
    #[error(transparent)]
    Serve(#[from] mlops_serve::Error),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
    /// An [`Error::InvalidSpec`].
    pub fn spec(at: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidSpec {
            at: at.into(),
            reason: reason.into(),
        }
    }
    /// An [`Error::InvalidInput`].
    pub fn invalid(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidInput {
            what: what.into(),
            reason: reason.into(),
        }
    }
}
