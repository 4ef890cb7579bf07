//! The one error type of `mlops-serve`.

use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong while loading a model or serving a request.
///
/// Variants carry named fields so a server can map them to status codes without
/// parsing messages: [`Error::Overloaded`] → 503 with `Retry-After`,
/// [`Error::InvalidInput`] / [`Error::TooLarge`] → 400/413,
/// [`Error::DeadlineExceeded`] → 504, [`Error::Model`] / [`Error::ModelPanicked`] → 500,
/// [`Error::NotFound`] → 404, [`Error::Conflict`] → 409.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An input tensor does not match the model's signature or input policy.
    #[error("invalid input {field:?}: {reason}")]
    InvalidInput {
        /// The offending input name (or `"<request>"` for the request as a whole).
        field: String,
        /// What was wrong.
        reason: String,
    },
    /// The request queue is full: the request was not admitted. Retry after `retry_after`.
    #[error("overloaded: queue of {queue_capacity} requests is full; retry after {retry_after:?}")]
    Overloaded {
        /// The queue bound that was hit.
        queue_capacity: usize,
        /// A hint for when capacity is likely to be available again.
        retry_after: Duration,
    },
    /// The request has more rows than one batch may hold; it is rejected at admission.
    #[error("request of {rows} rows exceeds max_batch_size {max_batch_size}")]
    TooLarge {
        /// Rows in the request.
        rows: usize,
        /// The engine's `max_batch_size`.
        max_batch_size: usize,
    },
    /// The request's deadline passed before it reached the model; it was never computed.
    #[error("deadline exceeded after {waited:?} in the queue")]
    DeadlineExceeded {
        /// How long the request waited before it was dropped.
        waited: Duration,
    },
    /// The model returned an error for this request.
    #[error("model {model} v{version} failed: {reason}")]
    Model {
        /// Model name.
        model: String,
        /// Model version.
        version: u64,
        /// The model's error message.
        reason: String,
    },
    /// The model panicked on this request; the panic was contained and the predictor keeps serving.
    #[error("model {model} v{version} panicked: {message}")]
    ModelPanicked {
        /// Model name.
        model: String,
        /// Model version.
        version: u64,
        /// The panic payload, when it was a string.
        message: String,
    },
    /// A model file or spec could not be loaded.
    #[error("cannot load model from {path}: {reason}")]
    Load {
        /// The file that failed.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A model uses an operator this build cannot run; reported when the model is loaded.
    #[error("unsupported ONNX operator {op} (domain {domain})")]
    Unsupported {
        /// The operator type, e.g. `LinearClassifier`.
        op: String,
        /// The operator's domain: `ai.onnx` for the default domain, `ai.onnx.ml`, or a custom one.
        domain: String,
    },
    /// A configuration value is outside what the engine accepts.
    #[error("invalid configuration {what}: {reason}")]
    Config {
        /// The option.
        what: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A replacement model's signature differs from the one being served.
    #[error("incompatible model for hot-swap: {reason}")]
    Incompatible {
        /// What differs.
        reason: String,
    },
    /// A chunk of a batch job failed after all its retries; the job stopped there.
    #[error("batch chunk {chunk} (rows {first_row}..{end_row}) failed after {attempts} attempts: {reason}")]
    ChunkFailed {
        /// Index of the chunk.
        chunk: usize,
        /// First row of the chunk.
        first_row: usize,
        /// One past the last row of the chunk.
        end_row: usize,
        /// Attempts made (1 + retries).
        attempts: usize,
        /// Rows already written to the sink, all before `first_row`.
        rows_written: usize,
        /// The last error's message.
        reason: String,
    },
    /// The model registry could not resolve the reference or deliver an artifact.
    #[error("registry error for {model}: {reason}")]
    Registry {
        /// The model reference.
        model: String,
        /// The registry's error message.
        reason: String,
    },
    /// No such model or version is being served (HTTP 404).
    #[error("not found: {what}")]
    NotFound {
        /// What was looked up, e.g. `model "churn" version 7`.
        what: String,
    },
    /// The deployment's state does not allow the operation, e.g. promoting with no candidate
    /// (HTTP 409).
    #[error("conflict: {reason}")]
    Conflict {
        /// Why the operation cannot be done now.
        reason: String,
    },
    /// The engine has shut down (its workers are gone) or the request was cancelled.
    #[error("engine is shut down")]
    ShutDown,
    /// An I/O error while reading or writing `path`.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file involved (empty for a writer without a path).
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// An error from `mlops-core` (names, signatures).
    #[error(transparent)]
    Core {
        /// The core error.
        #[from]
        source: mlops_core::Error,
    },
}

impl Error {
    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidInput {
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn load(path: impl Into<PathBuf>, reason: impl ToString) -> Self {
        Error::Load {
            path: path.into(),
            reason: reason.to_string(),
        }
    }

    /// Whether retrying the same request later may succeed (overload, deadline); input and
    /// model errors are not retryable.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::Overloaded { .. } | Error::DeadlineExceeded { .. }
        )
    }

    /// Whether the error is the client's fault (bad input, oversize request, unknown
    /// model): such errors do not count against a model version's health.
    pub fn is_client_error(&self) -> bool {
        matches!(
            self,
            Error::InvalidInput { .. } | Error::TooLarge { .. } | Error::NotFound { .. }
        )
    }

    /// The retry hint of an [`Error::Overloaded`], for a `Retry-After` header.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Overloaded { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
