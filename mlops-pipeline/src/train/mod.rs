//! Built-in deterministic trainers.
//!
//! * [`lbfgs`]: a limited-memory BFGS minimiser that follows scipy's `L-BFGS-B` without bounds
//!   (Moré–Thuente line search, the same stopping rules).
//! * [`logreg`]: L2-regularised logistic regression (binary and multinomial) that minimises
//!   exactly scikit-learn's `LogisticRegression(solver="lbfgs")` objective, so its `coef_` and
//!   `intercept_` match sklearn's.
//!
//! Every trainer is deterministic: the same data and options give bit-identical parameters.

pub mod lbfgs;
pub mod logreg;

pub use lbfgs::{minimize, LbfgsOptions, LbfgsResult, Termination};
pub use logreg::{LogisticModel, LogisticRegression};
