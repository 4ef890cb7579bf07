//! Data validation for production ML: a schema of expectations inferred from reference data,
//! checked on every batch in one streaming pass.
//!
//! Drift says that a distribution moved; validation says that a column went 30 % null, that
//! an id stopped being unique, that a price turned negative or that a new category appeared.
//! The expectations follow Great Expectations' semantics (`mostly`, `unexpected_count`,
//! partial unexpected lists with row numbers) and TFDV's skew comparators (L∞ for
//! categorical columns, Jensen–Shannon distance for numeric ones, against a
//! `mlops-drift` reference profile).
//!
//! ```
//! use mlops_validate::source::MemoryReader;
//! use mlops_validate::{check_reader, infer_reader, AnomalyKind, CheckOptions, InferOptions};
//! # fn main() -> mlops_validate::Result<()> {
//! let header = vec!["id".to_string(), "price".to_string()];
//! let rows = |v: &[(&str, &str)]| v.iter().map(|(a, b)| vec![a.to_string(), b.to_string()]).collect();
//! let reference = MemoryReader::new(header.clone(), rows(&[("1", "9.5"), ("2", "12.0"), ("3", "10.25")]));
//! let schema = infer_reader(Box::new(reference), &InferOptions::default(), None)?;
//! let batch = MemoryReader::new(header, rows(&[("4", "11.0"), ("4", "-3.0")]));
//! let report = check_reader(&schema, Box::new(batch), &CheckOptions::default(), None, None)?;
//! let kinds: Vec<AnomalyKind> = report.anomalies().map(|a| a.kind).collect();
//! assert_eq!(kinds, [AnomalyKind::NotUnique, AnomalyKind::OutOfRange, AnomalyKind::Negative]);
//! # Ok(()) }
//! ```
//!
//! # Modules
//! | module | what |
//! |---|---|
//! | [`schema`] | the TOML schema and its semantics |
//! | [`infer`] | inferring a schema from reference data |
//! | [`check`] | the streaming [`Validator`] |
//! | [`report`] | anomalies; JSON, text and HTML |
//! | [`source`] | chunked CSV/Parquet readers |
//! | [`value`] | how cells parse as types |
//!
//! # Features
//! | feature | default | enables |
//! |---|---|---|
//! | `parquet` | no | Parquet input |
#![deny(missing_docs)]

pub mod check;
mod error;
pub mod infer;
pub mod report;
pub mod schema;
pub mod source;
pub mod value;

pub use check::{check_file, check_reader, fit_reference, CheckOptions, Validator};
pub use error::{Error, Result};
pub use infer::{infer_file, infer_reader, InferOptions};
pub use report::{Anomaly, AnomalyKind, ColumnCounts, Example, Report};
pub use schema::{ColumnSchema, DataType, Schema, Severity};
