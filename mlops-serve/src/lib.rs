//! `mlops-serve`: the serving core that real-time, batch and streaming inference share.
//!
//! - [`Predictor`]: one object-safe trait for every model kind — any candle
//!   [`Module`](candle_core::Module) ([`ModulePredictor`]), the built-in feed-forward model
//!   loaded from JSON + safetensors ([`FeedForward`]), and ONNX graphs (`OnnxPredictor`,
//!   feature `onnx`). Inputs are validated against the model's [`Signature`](mlops_core::Signature)
//!   before they reach it ([`validate_inputs`]); a model error or panic fails that request only.
//! - [`Engine`]: dynamic batching on dedicated worker threads, a bounded queue that answers
//!   [`Error::Overloaded`] at once when full, rejection of oversize requests at admission,
//!   per-request deadlines, an optional LRU response cache, hot-swap with warm-up, and a
//!   blocking and a runtime-agnostic async API. Cheap to clone.
//! - [`BatchJob`]: offline inference over a dataset in parallel chunks with retries and progress;
//!   [`predict_stream`]: an iterator of records to an iterator of predictions with bounded
//!   in-flight work.
//! - [`conformance::check_predictor`]: the suite every [`Predictor`] implementation should pass
//!   (always compiled: it has no dependencies).
//! - [`TransformPredictor`]: a model behind its fitted preprocessing chain (`transform.json`),
//!   taking raw columns (numbers and strings) and counting unknown categories per column;
//!   [`load_model_dir`] and `load_from_registry` wrap automatically.
//! - [`Metrics`]: per model and version counters and histograms (queue time, compute time,
//!   batch size), Prometheus text via `prometheus-client`, and [`MetricsSnapshot`].
//!
//! ```
//! use std::time::Duration;
//! use mlops_core::{DType, Schema, Signature, TensorSpec};
//! use mlops_serve::{EngineBuilder, Error, ModelIdentity, ModulePredictor, Tensor, Tensors};
//!
//! // y = 2·x0 + 3·x1, served through the batching engine.
//! let w = candle_core::Tensor::new(&[[2f32, 3.0]], &candle_core::Device::Cpu).unwrap();
//! let sig = Signature {
//!     inputs: Schema::new(vec![TensorSpec::new("x", DType::F32, vec![-1, 2])]),
//!     outputs: Schema::new(vec![TensorSpec::new("y", DType::F32, vec![-1, 1])]),
//! };
//! let model = ModulePredictor::new(ModelIdentity::new("linear", 1)?, sig, candle_nn::Linear::new(w, None))?;
//! let engine = EngineBuilder::new(model.into_shared())
//!     .with_max_batch_size(32)
//!     .with_max_delay(Duration::from_micros(200))
//!     .build()?;
//! let x = Tensor::f32(vec![2, 2], vec![1.0, 1.0, 0.0, 2.0])?;
//! let y = engine.predict(Tensors::from([("x".to_owned(), x)]))?;
//! assert_eq!(y["y"].as_f32(), Some(&[5.0f32, 6.0][..]));
//!
//! // A wrong feature count is a typed error naming the field.
//! let bad = Tensor::f32(vec![1, 3], vec![1.0, 2.0, 3.0])?;
//! match engine.predict(Tensors::from([("x".to_owned(), bad)])) {
//!     Err(Error::InvalidInput { field, .. }) => assert_eq!(field, "x"),
//!     other => panic!("{other:?}"),
//! }
//! assert!(engine.metrics().encode()?.contains("mlops_serve_requests_total"));
//! # Ok::<(), mlops_serve::Error>(())
//! ```
//!
//! | feature | what it adds |
//! |---------|--------------|
//! | `onnx`  | `OnnxPredictor` over `tract-onnx` (ai.onnx and the ai.onnx.ml ops exporters emit; pure Rust, no `protoc`) |
//! | `data`  | `BatchJob::run_file`: batch inference over CSV files read by `mlops_drift::io` |
//! | `parquet` | `data` plus Parquet files |
//! | `registry` | `load_from_registry`: fetch a registry version's verified artifacts and load the predictor its format names |
//! | `http` | `http::router` / `http::serve`: the Open Inference Protocol v2 REST API and the admin API over a `deploy::ModelSet` (axum, tokio) |
//! | `grpc` | `http` plus `grpc::service` / `grpc::serve`: the OIP v2 gRPC service `inference.GRPCInferenceService` (tonic, prost; generated code committed, no `protoc`) |
#![deny(missing_docs)]
#![deny(unsafe_code)]
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod batch;
mod cache;
pub mod conformance;
pub mod deploy;
mod engine;
mod error;
mod feedforward;
#[cfg(feature = "grpc")]
pub mod grpc;
#[cfg(feature = "http")]
pub mod http;
mod metrics;
#[cfg(feature = "onnx")]
mod onnx;
mod predictor;
mod process;
#[cfg(any(feature = "http", feature = "grpc"))]
mod raw;
#[cfg(feature = "registry")]
mod registry;
#[cfg(any(feature = "http", feature = "grpc"))]
mod repository;
pub mod sink;
mod stream;
mod tensor;
pub mod transform;
#[cfg(feature = "registry")]
mod watch;

pub use batch::{BatchJob, BatchProgress, BatchReport, CsvPredictionWriter};
pub use engine::{Engine, EngineBuilder, EngineConfig, Pending, RequestOptions};
pub use error::{Error, Result};
pub use feedforward::{Activation, FeedForward, FeedForwardSpec, LayerSpec};
pub use metrics::{Metrics, MetricsSnapshot, TextExporter};
#[cfg(feature = "onnx")]
pub use onnx::{ClassLabels, OnnxPredictor};
pub use predictor::{
    is_batchable, predict_guarded, validate_inputs, validate_request, warmup_inputs, ModelIdentity,
    ModulePredictor, NonFinitePolicy, Predictor,
};
#[cfg(feature = "registry")]
pub use registry::{load_from_registry, SIDECAR_ARTIFACTS};
pub use stream::{predict_stream, PredictionStream};
pub use tensor::{Tensor, TensorData, Tensors};
/// The ONNX protobuf messages (`ModelProto`, `GraphProto`, …), the generated code tract-onnx
/// ships, for [`OnnxPredictor::from_proto`].
#[cfg(feature = "onnx")]
pub use tract_onnx::pb as onnx_proto;
pub use transform::{load_model_dir, TransformPredictor, UnknownStat, TRANSFORM_ARTIFACT};
#[cfg(feature = "registry")]
pub use watch::{RegistryDeployment, WatchConfig, WATCHER_ACTOR};

/// Re-exports of the candle crates this crate's API uses, so users need not match versions.
pub use candle_core;
pub use candle_nn;
/// Re-export of the `half` crate ([`TensorData::F16`] holds `half::f16`).
pub use half;
