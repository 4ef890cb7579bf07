//! The crate's error type.

/// Everything that can go wrong in `mlops-drift`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An input had no (usable) values where a statistic needs at least `needed`.
    #[error("{what}: need at least {needed} value(s), got {got}")]
    TooFewValues {
        /// Which input (e.g. `"reference"`, `"current"`).
        what: String,
        /// The minimum the statistic needs.
        needed: usize,
        /// How many usable values there were.
        got: usize,
    },
    /// A value was NaN or infinite while the policy was [`crate::MissingPolicy::Error`].
    #[error("{what}: non-finite value {value} at index {index} (missing policy is `error`)")]
    NonFinite {
        /// Which input.
        what: String,
        /// Position of the first offending value.
        index: usize,
        /// The value, as text (`NaN`, `inf`, `-inf`).
        value: String,
    },
    /// The statistic is undefined for this input (e.g. all values identical for a
    /// test that needs two distinct values).
    #[error("{statistic} is undefined: {reason}")]
    Undefined {
        /// The statistic's name.
        statistic: String,
        /// Why.
        reason: String,
    },
    /// An argument was invalid.
    #[error("invalid {what}: {reason}")]
    InvalidInput {
        /// Which argument.
        what: String,
        /// Why it is invalid.
        reason: String,
    },
    /// Two profiles (or a profile and data) do not fit together.
    #[error("incompatible {what}: {reason}")]
    Incompatible {
        /// What did not match.
        what: String,
        /// Details.
        reason: String,
    },
    /// Reading or writing a file failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A table file (CSV, Parquet) was malformed.
    #[error("cannot read {path}: {reason}")]
    Table {
        /// The file.
        path: String,
        /// What went wrong (line/column included where known).
        reason: String,
    },
    /// A requested column does not exist.
    #[error("column {column:?} not found in {path} (available: {available})")]
    ColumnNotFound {
        /// The column asked for.
        column: String,
        /// The file.
        path: String,
        /// Comma-separated available column names.
        available: String,
    },
    /// (De)serialisation of a profile or report failed.
    #[error("serialisation error ({format}): {reason}")]
    Serde {
        /// `json` or `bincode`.
        format: String,
        /// Details.
        reason: String,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn too_few(what: &str, needed: usize, got: usize) -> Error {
    Error::TooFewValues {
        what: what.to_string(),
        needed,
        got,
    }
}

pub(crate) fn invalid(what: &str, reason: impl Into<String>) -> Error {
    Error::InvalidInput {
        what: what.to_string(),
        reason: reason.into(),
    }
}
