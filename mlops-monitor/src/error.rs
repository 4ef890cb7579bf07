//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong in `mlops-monitor`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Stored data failed its checksum or could not be decoded (and could not be cut as a
    /// torn tail: the damage is before the last record).
    #[error("{path}: corrupt at byte {offset}: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Byte offset of the damaged record.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// An argument or a record is not acceptable.
    #[error("invalid {what}: {reason}")]
    InvalidInput {
        /// What was invalid.
        what: String,
        /// Why.
        reason: String,
    },
    /// A metric from `mlops-core` failed (mismatched lengths, empty input, …).
    #[error(transparent)]
    Metrics(#[from] mlops_core::Error),
    /// A drift statistic or profile failed.
    #[error(transparent)]
    Drift(#[from] mlops_drift::Error),
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

    /// An [`Error::InvalidInput`].
    pub fn invalid(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidInput {
            what: what.into(),
            reason: reason.into(),
        }
    }
}
