//! The crate's error type.

/// Everything that can go wrong in `mlops-validate`.
///
/// Anomalies in the data are not errors: they are [`crate::Anomaly`]s in a
/// [`crate::Report`]. Errors are reserved for input that cannot be read at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be opened, read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The data file is malformed (wrong field count, invalid UTF-8, corrupt Parquet).
    #[error("{path}: row {row}{}: {reason}", column.as_ref().map(|c| format!(", column {c:?}")).unwrap_or_default())]
    Malformed {
        /// The file.
        path: String,
        /// 1-based data row (the header is row 0); 0 for the header or the file as a whole.
        row: u64,
        /// The column, when one is to blame.
        column: Option<String>,
        /// What is wrong.
        reason: String,
    },
    /// The schema file is invalid (bad TOML, unknown key, `mostly` outside [0, 1], a regex
    /// that does not compile, …).
    #[error("schema{}: {reason}", at.as_ref().map(|a| format!(" {a}")).unwrap_or_default())]
    Schema {
        /// Where in the schema (`columns.age.range`), when known.
        at: Option<String>,
        /// What is wrong.
        reason: String,
    },
    /// An argument was invalid.
    #[error("invalid {what}: {reason}")]
    InvalidInput {
        /// Which argument.
        what: String,
        /// Why.
        reason: String,
    },
    /// The reference (data or profile) could not be used.
    #[error(transparent)]
    Drift(#[from] mlops_drift::Error),
}

impl Error {
    pub(crate) fn schema(at: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Schema {
            at: Some(at.into()),
            reason: reason.into(),
        }
    }

    pub(crate) fn invalid(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidInput {
            what: what.into(),
            reason: reason.into(),
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
