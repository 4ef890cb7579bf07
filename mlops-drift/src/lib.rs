//! Drift detection for production ML: statistics that agree with scipy, reusable
//! reference profiles, multi-column reports with multiple-testing correction, and
//! streaming detectors.
//!
//! ```
//! use mlops_drift::numeric::{ks_2samp, KsMethod};
//! # fn main() -> mlops_drift::Result<()> {
//! let reference = [0.1, 0.4, 0.35, 0.8, 0.55, 0.2];
//! let current = [0.9, 1.2, 0.85, 1.4, 1.1, 0.95];
//! let ks = ks_2samp(&reference, &current, KsMethod::Auto)?;
//! assert!(ks.p_value < 0.05);
//! # Ok(()) }
//! ```
//!
//! Fit a profile once, store it, compare new data without the raw reference:
//!
//! ```
//! use mlops_drift::io::{Column, Table};
//! use mlops_drift::{DriftConfig, DriftReport, ProfileConfig, ReferenceProfile};
//! # fn main() -> mlops_drift::Result<()> {
//! let reference = Table { columns: vec![("x".into(), Column::Numeric((0..500).map(f64::from).collect()))] };
//! let current = Table { columns: vec![("x".into(), Column::Numeric((250..750).map(f64::from).collect()))] };
//! let profile = ReferenceProfile::fit_table(&reference, ProfileConfig::default())?;
//! let stored = profile.to_bincode()?;
//! let profile = ReferenceProfile::from_bincode(&stored)?;
//! let report = DriftReport::compare(&profile, &current, &DriftConfig::default())?;
//! assert!(report.columns[0].drifted);
//! # Ok(()) }
//! ```
//!
//! # Modules
//! | module | what |
//! |---|---|
//! | [`numeric`] | KS (exact/asymptotic), Wasserstein, energy, Cramér–von Mises, Anderson–Darling |
//! | [`binning`] | reference-fitted bins; PSI, KL, JS, Hellinger, TVD, L∞ |
//! | [`categorical`] | χ² homogeneity on the union of categories; frequency divergences |
//! | [`profile`] | [`ReferenceProfile`]: fit, merge, JSON/bincode |
//! | [`report`] | [`DriftReport`]: all columns, corrections, dataset verdict |
//! | [`stream`] | windowed PSI monitor, ADWIN, Page–Hinkley, DDM |
//! | [`io`] | read CSV/Parquet columns (shared with `mlops-serve`) |
//! | [`special`] | the distributions behind the p-values |
//!
//! # Features
//! | feature | default | enables |
//! |---|---|---|
//! | `parquet` | no | `io::read_parquet` / `io::write_parquet` (the `parquet` crate, no Arrow) |
//!
//! # NaN and edge cases
//! NaN/±inf follow a [`MissingPolicy`] (omit — the default —, error, or count as a
//! missing category) and are always counted. Empty inputs give
//! [`Error::TooFewValues`]; statistics undefined for an input (e.g. Anderson–Darling
//! on a constant sample) give [`Error::Undefined`]. Nothing panics on input.
#![deny(missing_docs)]

pub mod binning;
pub mod categorical;
mod error;
pub mod io;
pub mod numeric;
pub mod profile;
pub mod report;
pub mod sample;
pub mod special;
pub mod stream;

pub use error::{Error, Result};
pub use profile::{FeatureProfile, ProfileConfig, ReferenceProfile};
pub use report::{Correction, DriftConfig, DriftReport, EcdfSummary, TestKind};
pub use sample::{MissingPolicy, NumericInput, SortedSample};
