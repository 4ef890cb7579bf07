//! The one error type of `mlops-core`.

use std::path::PathBuf;

/// Everything that can go wrong in `mlops-core`.
///
/// Every variant carries named fields saying *what* was wrong, so a caller can
/// report the offending field or file without parsing the message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A model, alias or feature name failed validation.
    #[error("invalid name {name:?}: {reason}")]
    InvalidName {
        /// The rejected name (may contain control characters; printed escaped).
        name: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A model reference (`name`, `name/7`, `name@alias`) could not be parsed.
    #[error("invalid model reference {input:?}: {reason}")]
    InvalidRef {
        /// The text that was parsed.
        input: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A digest string was not 64 lowercase hexadecimal characters.
    #[error("invalid sha256 digest {input:?}: {reason}")]
    InvalidDigest {
        /// The text that was parsed.
        input: String,
        /// Why it was rejected.
        reason: String,
    },
    /// An input value is outside what the function accepts.
    #[error("invalid input {what}: {reason}")]
    InvalidInput {
        /// Which argument or field.
        what: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A batch does not match a [`crate::Signature`]: `field` names the offending input.
    #[error("schema mismatch on field {field:?}: {reason}")]
    SchemaMismatch {
        /// The input (or output) name that failed.
        field: String,
        /// What did not match.
        reason: String,
    },
    /// An input that must not be empty was empty.
    #[error("{what} is empty")]
    Empty {
        /// What was empty.
        what: String,
    },
    /// A metric is undefined for the given data (e.g. ROC AUC with one class).
    #[error("{metric} is undefined: {reason}")]
    Undefined {
        /// The metric name.
        metric: String,
        /// Why it is undefined.
        reason: String,
    },
    /// Reading a file failed.
    #[error("i/o error on {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn invalid_input(what: impl Into<String>, reason: impl Into<String>) -> Self {
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
}

/// `Result` with [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
