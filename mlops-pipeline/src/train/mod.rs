//! Built-in deterministic trainers.
//!
//! * [`lbfgs`]: a limited-memory BFGS minimiser that follows scipy's `L-BFGS-B` without bounds
//!   (Moré–Thuente line search, the same stopping rules).
//! * [`logreg`]: L2-regularised logistic regression (binary and multinomial) that minimises
//!   exactly scikit-learn's `LogisticRegression(solver="lbfgs")` objective, so its `coef_` and
//!   `intercept_` match sklearn's.
//! * [`mlp`]: a multi-layer perceptron (classifier or regressor) trained with candle-nn on the
//!   CPU from a seeded ChaCha8 stream; [`MlpModel::weights_digest`] fingerprints the result.
//! * [`export`]: both models in mlops-serve's feed-forward format (JSON spec + safetensors).
//!
//! Every trainer is deterministic: the same data and options give bit-identical parameters.

use crate::error::{Error, Result};

pub mod export;
pub mod lbfgs;
pub mod logreg;
pub mod mlp;

pub use export::{save_logistic, save_mlp, ExportOptions, FeedForwardExport};
pub use lbfgs::{minimize, LbfgsOptions, LbfgsResult, Termination};
pub use logreg::{LogisticModel, LogisticRegression};
pub use mlp::{DenseLayer, MlpActivation, MlpModel, MlpSpec};

/// Checks a row-major matrix: `n_features > 0`, a whole number of rows, all values finite.
pub(crate) fn check_matrix(x: &[f64], n_features: usize) -> Result<()> {
    if n_features == 0 {
        return Err(Error::invalid("n_features", "must be at least 1"));
    }
    if x.len() % n_features != 0 {
        return Err(Error::invalid(
            "x",
            format!(
                "{} values are not a whole number of rows of {n_features}",
                x.len()
            ),
        ));
    }
    if let Some(i) = x.iter().position(|v| !v.is_finite()) {
        return Err(Error::invalid(
            "x",
            format!(
                "row {} column {} is not finite ({})",
                i / n_features,
                i % n_features,
                x[i]
            ),
        ));
    }
    Ok(())
}
