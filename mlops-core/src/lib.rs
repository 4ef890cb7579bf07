//! Domain types shared by every mlops-rs crate.
//!
//! `mlops-core` knows no network, no registry and no model runtime. It defines:
//!
//! - [`ModelName`], [`AliasName`] and [`ModelRef`] (`name`, `name/7`, `name@alias`, `name@latest`):
//!   validated so that a name is always one safe path component;
//! - [`ModelVersion`] with its [`ArtifactRef`]s, metrics, [`Signature`] and [`Lineage`];
//! - [`Signature`] / [`Schema`] / [`TensorSpec`] and batch validation that names the offending field;
//! - [`DatasetSnapshot`]: a streamed, order-independent SHA-256 content digest of files or rows;
//! - [`metrics`]: classification and regression metrics that equal scikit-learn;
//! - [`transform`]: fitted preprocessing (scalers, imputer, one-hot encoder, column chains)
//!   that equals scikit-learn, serialisable to JSON.
//!
//! ```
//! use mlops_core::{metrics, ModelRef};
//!
//! let r: ModelRef = "fraud@champion".parse()?;
//! assert_eq!(r.to_string(), "fraud@champion");
//!
//! let acc = metrics::accuracy(&[0, 1, 1, 0], &[0, 1, 0, 0])?;
//! assert_eq!(acc, 0.75);
//! # Ok::<(), mlops_core::Error>(())
//! ```
//!
//! This crate has no optional features.
#![deny(missing_docs)]

mod digest;
mod error;
pub mod metrics;
mod name;
mod signature;
mod snapshot;
pub mod transform;
mod version;

pub use digest::Sha256Digest;
pub use error::{Error, Result};
pub use name::{AliasName, ModelName, ModelRef, VersionSelector, MAX_NAME_LEN};
pub use signature::{DType, Schema, Signature, TensorSpec};
pub use snapshot::{DatasetSnapshot, SnapshotBuilder, SnapshotFile};
pub use version::{infer_format, ArtifactRef, Lineage, ModelVersion};
