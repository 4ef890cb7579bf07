//! The Open Inference Protocol v2 gRPC service `inference.GRPCInferenceService` (KServe's
//! `grpc_predict_v2.proto`, and the part of Triton's `grpc_service.proto` that
//! `tritonclient[grpc]` calls by default) over a [`ModelSet`] (feature `grpc`, tonic + prost).
//!
//! | RPC | what |
//! |---|---|
//! | `ServerLive`, `ServerReady` | live while the process runs; ready while serving a model and not shutting down |
//! | `ServerMetadata` | name, version, [`EXTENSIONS`] |
//! | `ModelReady`, `ModelMetadata` | as the REST routes (`version` empty: the model) |
//! | `ModelInfer` | routed by the deployment's strategy, or one loaded version when `model_version` is set; inputs from `raw_input_contents` (all inputs, in order) or typed `contents`; outputs always in `raw_output_contents` |
//! | `ModelStreamInfer` | one `ModelStreamInferResponse` per request, in order; an error is its `error_message`, the stream goes on |
//! | `ModelStatistics`, `RepositoryIndex` | as `GET /v2/models/…/stats` and `POST /v2/repository/index` |
//!
//! Other RPCs of Triton's service (model config, shared memory, trace, log settings, repository
//! load/unload) answer `UNIMPLEMENTED`: the admin operations are on the REST API only, behind
//! its token. Inference, as over REST, needs no credential. Request metadata
//! `x-mlops-routing-key` is the sticky A/B key; response metadata `x-mlops-arm` names the arm.
//!
//! Errors map to gRPC codes: invalid input, oversize request and invalid configuration
//! `INVALID_ARGUMENT`; unknown model or version `NOT_FOUND`; state conflict
//! `FAILED_PRECONDITION`; overload and shutdown `UNAVAILABLE` (overload with metadata
//! `retry-after`, seconds); deadline `DEADLINE_EXCEEDED`; model failures `INTERNAL`.
//!
//! The Rust code under `generated/` is written by `tools/grpc-codegen` from
//! `mlops-serve/proto/inference.proto` (protox + tonic-prost-build, pure Rust): building this
//! crate never needs `protoc`.
//!
//! ```no_run
//! use mlops_serve::deploy::ModelSet;
//! use mlops_serve::grpc::{serve, GrpcConfig};
//!
//! # async fn run() -> std::io::Result<()> {
//! let models = ModelSet::new(); // insert deployments, now or later
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8001").await?;
//! serve(listener, models, GrpcConfig::new(), async {
//!     let _ = tokio::signal::ctrl_c().await;
//! })
//! .await
//! # }
//! ```

mod convert;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tonic::codegen::tokio_stream::{self, Stream, StreamExt};
use tonic::metadata::MetadataValue;
use tonic::{Request, Response, Status};
use tracing::Instrument;

use crate::deploy::{Deployment, ModelSet, RouteOptions};
use crate::engine::RequestOptions;
use crate::error::Error;
use crate::http::{Readiness, ARM_HEADER, EXTENSIONS, ROUTING_KEY_HEADER};
use crate::metrics::Metrics;
use crate::repository;
use crate::sink::{PendingLog, PredictionSink};

/// The messages and the tonic server generated from `proto/inference.proto` (package
/// `inference`).
#[allow(missing_docs, clippy::all, clippy::pedantic, unreachable_pub)]
pub mod proto {
    include!("generated/inference.rs");
}

use proto::grpc_inference_service_server::{GrpcInferenceService, GrpcInferenceServiceServer};

/// Settings of the gRPC service: `GrpcConfig::new().with_request_timeout(t)`.
#[derive(Clone)]
pub struct GrpcConfig {
    max_message_bytes: usize,
    request_timeout: Option<Duration>,
    readiness: Readiness,
    metrics: Option<Metrics>,
    sink: Option<Arc<dyn PredictionSink>>,
}

impl std::fmt::Debug for GrpcConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcConfig")
            .field("max_message_bytes", &self.max_message_bytes)
            .field("request_timeout", &self.request_timeout)
            .field("readiness", &self.readiness)
            .field("metrics", &self.metrics.is_some())
            .field("prediction_sink", &self.sink.is_some())
            .finish()
    }
}

impl Default for GrpcConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl GrpcConfig {
    /// Default [`GrpcConfig::with_max_message_bytes`]: 16 MiB, as the REST body limit.
    pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 16 << 20;

    /// 16 MiB messages, no request timeout beyond the engines' own, ready.
    pub fn new() -> Self {
        Self {
            max_message_bytes: Self::DEFAULT_MAX_MESSAGE_BYTES,
            request_timeout: None,
            readiness: Readiness::new(),
            metrics: None,
            sink: None,
        }
    }

    /// Records each call's end-to-end latency in `metrics`
    /// (`mlops_serve_request_duration_seconds{protocol="grpc"}`) and counts logged records.
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Logs served predictions into `sink`, as [`crate::http::HttpConfig::with_prediction_sink`]
    /// does for REST: the request's `id` (or a generated one, returned in the response's `id`)
    /// and its non-protocol `parameters` go with the record.
    pub fn with_prediction_sink(mut self, sink: Arc<dyn PredictionSink>) -> Self {
        self.sink = Some(sink);
        self
    }

    /// Largest request and response message; larger requests get `RESOURCE_EXHAUSTED`.
    pub fn with_max_message_bytes(mut self, bytes: usize) -> Self {
        self.max_message_bytes = bytes;
        self
    }

    /// Deadline for an inference request to start computing (a request's own `timeout`
    /// parameter, in µs, may shorten it); a request still queued after it gets
    /// `DEADLINE_EXCEEDED`.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = Some(timeout);
        self
    }

    /// Shares a [`Readiness`] (e.g. the REST API's) so that `ServerReady` turns false with it.
    pub fn with_readiness(mut self, readiness: Readiness) -> Self {
        self.readiness = readiness;
        self
    }
}

/// The service over `models`, to add to a tonic server of the application's own. Models
/// inserted into or removed from `models` later are served or dropped at once.
pub fn service(models: ModelSet, config: GrpcConfig) -> GrpcInferenceServiceServer<Service> {
    let max = config.max_message_bytes;
    GrpcInferenceServiceServer::new(Service { models, config })
        .max_decoding_message_size(max)
        .max_encoding_message_size(max)
}

/// Serves [`service`] (HTTP/2) on `listener` until `shutdown` resolves; then `ServerReady`
/// answers false, the listener closes and the call returns once in-flight calls are answered.
///
/// # Errors
/// [`std::io::Error`] when the tonic server fails (it retries accept errors itself).
pub async fn serve(
    listener: tokio::net::TcpListener,
    models: ModelSet,
    config: GrpcConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let readiness = config.readiness.clone();
    let addr = listener.local_addr().ok();
    let signal = async move {
        shutdown.await;
        readiness.start_draining();
        tracing::info!(?addr, "gRPC server shutting down");
    };
    tonic::transport::Server::builder()
        .add_service(service(models, config))
        .serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
            signal,
        )
        .await
        .map_err(std::io::Error::other)
}

/// The `inference.GRPCInferenceService` implementation (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct Service {
    models: ModelSet,
    config: GrpcConfig,
}

/// The gRPC status for an [`Error`].
pub(crate) fn status_of(e: &Error) -> Status {
    let msg = e.to_string();
    let mut s = match e {
        Error::InvalidInput { .. } | Error::TooLarge { .. } | Error::Config { .. } => {
            Status::invalid_argument(msg)
        }
        Error::NotFound { .. } => Status::not_found(msg),
        Error::Conflict { .. } => Status::failed_precondition(msg),
        Error::Overloaded { .. } | Error::ShutDown => Status::unavailable(msg),
        Error::DeadlineExceeded { .. } => Status::deadline_exceeded(msg),
        _ => {
            tracing::warn!(error = %e, "request failed");
            Status::internal(msg)
        }
    };
    if let Some(d) = e.retry_after() {
        let secs = (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1);
        s.metadata_mut()
            .insert("retry-after", MetadataValue::from(secs));
    }
    s
}

impl Service {
    fn deployment(&self, name: &str) -> Result<Deployment, Status> {
        self.models.get(name).ok_or_else(|| {
            status_of(&Error::NotFound {
                what: format!("model {name:?} is not served"),
            })
        })
    }

    /// The loaded version `version` names (`None` for an empty string), or `NOT_FOUND`.
    fn version(d: &Deployment, version: &str) -> Result<Option<u64>, Status> {
        if version.is_empty() {
            return Ok(None);
        }
        version
            .parse::<u64>()
            .ok()
            .filter(|v| d.versions().iter().any(|(x, _)| x == v))
            .map(Some)
            .ok_or_else(|| {
                status_of(&Error::NotFound {
                    what: format!(
                        "model {:?} version {version:?} is not loaded",
                        d.name().as_str()
                    ),
                })
            })
    }

    /// One inference, timed and (with a sink) logged; see [`Self::infer_inner`].
    async fn infer(
        &self,
        req: proto::ModelInferRequest,
        key: Option<String>,
    ) -> Result<(proto::ModelInferResponse, &'static str), Status> {
        let started = Instant::now();
        let arrived = SystemTime::now();
        let name = req.model_name.clone();
        let mut log = None;
        let result = self.infer_inner(req, key, &mut log).await;
        let error = result.as_ref().err().map(|s| s.message().to_owned());
        PendingLog::finish(
            log,
            self.config.sink.as_ref(),
            self.config.metrics.as_ref(),
            "grpc",
            &name,
            arrived,
            started,
            error,
        );
        result
    }

    /// Decode, route, encode. Returns the response and the arm that answered.
    async fn infer_inner(
        &self,
        mut req: proto::ModelInferRequest,
        key: Option<String>,
        slot: &mut Option<PendingLog>,
    ) -> Result<(proto::ModelInferResponse, &'static str), Status> {
        let d = self.deployment(&req.model_name)?;
        let mut log = PendingLog::begin(slot, self.config.sink.as_ref(), &req.model_name);
        if log.is_some() && req.id.is_empty() {
            req.id = crate::sink::new_prediction_id();
        }
        let user_parameters = log.as_ref().map(|_| user_parameters(&req.parameters));
        let version = Self::version(&d, &req.model_version)?;
        let decoded =
            convert::decode_request(req, &d.signature().outputs).map_err(|e| status_of(&e))?;
        let timeout = match (self.config.request_timeout, decoded.timeout) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let options = RouteOptions {
            key,
            request: RequestOptions {
                timeout,
                bypass_cache: false,
            },
        };
        if let Some(log) = log.as_deref_mut() {
            log.id = Some(decoded.id.clone());
            log.inputs = decoded.inputs.clone();
            log.parameters = user_parameters.unwrap_or_default();
        }
        let routed = match version {
            None => d.predict_async(decoded.inputs, &options).await,
            Some(v) => d.predict_version_async(v, decoded.inputs, &options).await,
        }
        .map_err(|e| status_of(&e))?;
        let span = tracing::Span::current();
        span.record("version", routed.model.version);
        span.record("arm", routed.arm.as_str());
        if let Some(log) = log {
            log.version = routed.model.version;
            log.arm = routed.arm.as_str().to_owned();
            log.outputs = routed.outputs.clone();
        }
        let response = convert::encode_response(
            d.name().as_str(),
            routed.model.version,
            decoded.id,
            &routed.outputs,
            decoded.outputs.as_deref(),
        )
        .map_err(|e| status_of(&e))?;
        Ok((response, routed.arm.as_str()))
    }
}

/// A request's parameters the protocol does not define, as JSON values.
fn user_parameters(
    params: &std::collections::HashMap<String, proto::InferParameter>,
) -> std::collections::BTreeMap<String, serde_json::Value> {
    use proto::infer_parameter::ParameterChoice as P;
    params
        .iter()
        .filter(|(k, _)| crate::sink::is_user_parameter(k))
        .filter_map(|(k, v)| {
            let v = match v.parameter_choice.as_ref()? {
                P::BoolParam(b) => serde_json::Value::Bool(*b),
                P::Int64Param(i) => serde_json::Value::from(*i),
                P::Uint64Param(u) => serde_json::Value::from(*u),
                P::DoubleParam(d) => serde_json::Number::from_f64(*d)
                    .map(serde_json::Value::Number)
                    .unwrap_or(serde_json::Value::Null),
                P::StringParam(s) => serde_json::Value::String(s.clone()),
            };
            Some((k.clone(), v))
        })
        .collect()
}

fn routing_key<T>(req: &Request<T>) -> Result<Option<String>, Status> {
    req.metadata()
        .get(ROUTING_KEY_HEADER)
        .map(|v| {
            v.to_str().map(str::to_owned).map_err(|_| {
                Status::invalid_argument(format!(
                    "metadata {ROUTING_KEY_HEADER} is not visible ASCII"
                ))
            })
        })
        .transpose()
}

fn infer_span(model: &str) -> tracing::Span {
    tracing::info_span!(
        "grpc_infer",
        model = %model,
        version = tracing::field::Empty,
        arm = tracing::field::Empty
    )
}

type StreamOf<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl GrpcInferenceService for Service {
    async fn server_live(
        &self,
        _: Request<proto::ServerLiveRequest>,
    ) -> Result<Response<proto::ServerLiveResponse>, Status> {
        Ok(Response::new(proto::ServerLiveResponse { live: true }))
    }

    async fn server_ready(
        &self,
        _: Request<proto::ServerReadyRequest>,
    ) -> Result<Response<proto::ServerReadyResponse>, Status> {
        let ready = !self.config.readiness.is_draining() && !self.models.names().is_empty();
        Ok(Response::new(proto::ServerReadyResponse { ready }))
    }

    async fn model_ready(
        &self,
        req: Request<proto::ModelReadyRequest>,
    ) -> Result<Response<proto::ModelReadyResponse>, Status> {
        let req = req.into_inner();
        let ready = match self.models.get(&req.name) {
            Some(d) => Self::version(&d, &req.version).is_ok(),
            None => false,
        };
        Ok(Response::new(proto::ModelReadyResponse { ready }))
    }

    async fn server_metadata(
        &self,
        _: Request<proto::ServerMetadataRequest>,
    ) -> Result<Response<proto::ServerMetadataResponse>, Status> {
        Ok(Response::new(proto::ServerMetadataResponse {
            name: "mlops-rs".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            extensions: EXTENSIONS.iter().map(|e| (*e).to_owned()).collect(),
        }))
    }

    async fn model_metadata(
        &self,
        req: Request<proto::ModelMetadataRequest>,
    ) -> Result<Response<proto::ModelMetadataResponse>, Status> {
        let req = req.into_inner();
        let d = self.deployment(&req.name)?;
        let versions = match Self::version(&d, &req.version)? {
            Some(v) => vec![v],
            None => {
                let mut v: Vec<u64> = d.versions().into_iter().map(|(v, _)| v).collect();
                v.sort_unstable();
                v.dedup();
                v
            }
        };
        Ok(Response::new(convert::metadata(&d, &versions)))
    }

    async fn model_infer(
        &self,
        req: Request<proto::ModelInferRequest>,
    ) -> Result<Response<proto::ModelInferResponse>, Status> {
        let key = routing_key(&req)?;
        let req = req.into_inner();
        let span = infer_span(&req.model_name);
        let (out, arm) = self.infer(req, key).instrument(span).await?;
        let mut r = Response::new(out);
        r.metadata_mut()
            .insert(ARM_HEADER, MetadataValue::from_static(arm));
        Ok(r)
    }

    type ModelStreamInferStream = StreamOf<proto::ModelStreamInferResponse>;

    async fn model_stream_infer(
        &self,
        req: Request<tonic::Streaming<proto::ModelInferRequest>>,
    ) -> Result<Response<Self::ModelStreamInferStream>, Status> {
        let key = routing_key(&req)?;
        let mut incoming = req.into_inner();
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        let this = self.clone();
        tokio::spawn(async move {
            while let Some(next) = incoming.next().await {
                let item = match next {
                    Ok(r) => {
                        let span = infer_span(&r.model_name);
                        match this.infer(r, key.clone()).instrument(span).await {
                            Ok((resp, _)) => Ok(proto::ModelStreamInferResponse {
                                error_message: String::new(),
                                infer_response: Some(resp),
                            }),
                            Err(s) => Ok(proto::ModelStreamInferResponse {
                                error_message: s.message().to_owned(),
                                infer_response: None,
                            }),
                        }
                    }
                    Err(s) => Err(s),
                };
                let stop = item.is_err();
                if tx.send(item).await.is_err() || stop {
                    break;
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }

    async fn model_statistics(
        &self,
        req: Request<proto::ModelStatisticsRequest>,
    ) -> Result<Response<proto::ModelStatisticsResponse>, Status> {
        let req = req.into_inner();
        let rows = if req.name.is_empty() {
            repository::all_stats(&self.models)
        } else {
            let d = self.deployment(&req.name)?;
            let v = Self::version(&d, &req.version)?;
            repository::stats(&d, v)
        };
        Ok(Response::new(proto::ModelStatisticsResponse {
            model_stats: rows.into_iter().map(convert::stats).collect(),
        }))
    }

    async fn repository_index(
        &self,
        req: Request<proto::RepositoryIndexRequest>,
    ) -> Result<Response<proto::RepositoryIndexResponse>, Status> {
        let req = req.into_inner();
        let models = repository::index(&self.models, req.ready)
            .into_iter()
            .map(|r| proto::repository_index_response::ModelIndex {
                name: r.name,
                version: r.version,
                state: r.state.as_str().to_owned(),
                reason: r.reason,
            })
            .collect();
        Ok(Response::new(proto::RepositoryIndexResponse { models }))
    }
}
