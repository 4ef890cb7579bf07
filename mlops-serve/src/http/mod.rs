//! The Open Inference Protocol v2 REST API (KServe, Triton, MLServer) over a [`ModelSet`], with
//! an admin API for the deployments' rollouts (feature `http`).
//!
//! [`router`] builds an [`axum::Router`] an application can mount or serve; [`serve`] runs it
//! on a listener with graceful shutdown.
//!
//! | route | what |
//! |---|---|
//! | `GET /v2/health/live` | 200 while the process runs |
//! | `GET /v2/health/ready` | 200 when serving; 503 once shutdown starts, or with no model loaded |
//! | `GET /v2` | server metadata |
//! | `GET /v2/models/{name}[/versions/{version}]` | model metadata: versions, inputs, outputs (`-1`: free dimension) |
//! | `GET /v2/models/{name}[/versions/{version}]/ready` | 200 `{"name","ready":true}`, 404 when not loaded |
//! | `POST /v2/models/{name}/infer` | inference routed by the deployment's strategy; header `x-mlops-routing-key` is the sticky A/B key |
//! | `POST /v2/models/{name}/versions/{version}/infer` | inference on one loaded version, whatever the strategy |
//! | `POST /v2/repository/index` | every served version (`READY`), then models that failed to load or were unloaded (`UNAVAILABLE`, with `reason`); body `{"ready": true}` lists only the former |
//! | `POST /v2/repository/models/{name}/load`, `.../unload` | admin token; unload stops serving the model (kept), load serves it again; a served model's load is a no-op (it follows its registry alias); others 404 / 409 |
//! | `GET /v2/models/stats`, `/v2/models/{name}[/versions/{version}]/stats` | Triton's `model_stats` document (what each field counts: `repository` module of the source) |
//! | `GET /metrics` | [`Metrics::encode`] (OpenMetrics text) |
//! | `GET /v2/admin/models/{name}` | [`Deployment::status`] |
//! | `GET /v2/admin/models/{name}/events` | [`Deployment::events`] |
//! | `PUT /v2/admin/models/{name}/strategy` | body: a [`Strategy`] (`{"mode":"canary","weight":0.1}`) → the event |
//! | `PUT /v2/admin/models/{name}/policy` | body: a [`RolloutPolicy`] → the policy now in force |
//! | `POST /v2/admin/models/{name}/promote`, `.../rollback` | optional body `{"reason":"..."}` → the event |
//!
//! Binary tensor data (Triton's extension, what `tritonclient` sends by default): a request body
//! may be a JSON header of [`INFERENCE_HEADER_CONTENT_LENGTH`] bytes followed by raw tensors,
//! one per input with `parameters.binary_data_size`, in input order (little-endian, one byte per
//! `BOOL`, `BYTES` as 4-byte little-endian lengths each followed by the bytes). Outputs asked
//! with `parameters.binary_data: true`, or all outputs when the request sets
//! `parameters.binary_data_output: true`, come back the same way (`application/octet-stream`,
//! header [`INFERENCE_HEADER_CONTENT_LENGTH`]). Every datatype of the protocol is accepted
//! (`BOOL`, `UINT8`…`UINT64`, `INT8`…`INT64`, `FP16`, `FP32`, `FP64`, `BYTES`); JSON `BOOL` data
//! are `true`/`false`, JSON `BYTES` data are strings. Request parameter `timeout` (µs) bounds
//! the wait in the queue; `sequence_id`, output `classification` and `shared_memory_region` are
//! refused with 400 naming them; a compressed body (`Content-Encoding`) is 415.
//!
//! Inference responses carry the header `x-mlops-arm` (`stable`, `candidate` or `previous`) and
//! the answering version as `model_version`. Admin routes need `Authorization: Bearer <token>`
//! ([`HttpConfig::with_admin_token`]; 401 with `WWW-Authenticate: Bearer` when missing or
//! wrong, 403 when no token is configured); the actor recorded in events is the `x-mlops-actor`
//! header (default `admin`).
//!
//! Every error is `{"error": "<message>"}` with a status from [`Error`]: invalid input, oversize
//! request and invalid configuration 400, unknown model or version 404, state conflict 409,
//! overload 503 with `Retry-After`, shutdown 503, deadline 504, model failures 500; a body over
//! [`HttpConfig::max_body_bytes`] is 413, an unknown route 404, a wrong method 405.
//!
//! Inference runs on the engines' worker threads ([`Deployment::predict_async`]); admin
//! operations that may block (they drop engines and run event hooks) run on tokio's blocking
//! pool. Request bodies are parsed without an intermediate JSON tree (large bodies on the
//! blocking pool too).
//!
//! [`Strategy`]: crate::deploy::Strategy
//! [`RolloutPolicy`]: crate::deploy::RolloutPolicy
//! [`Deployment::status`]: crate::deploy::Deployment::status
//! [`Deployment::events`]: crate::deploy::Deployment::events
//! [`Deployment::predict_async`]: crate::deploy::Deployment::predict_async
//!
//! ```no_run
//! use mlops_serve::deploy::ModelSet;
//! use mlops_serve::http::{router, serve, HttpConfig};
//! use mlops_serve::Metrics;
//!
//! # async fn run() -> std::io::Result<()> {
//! let metrics = Metrics::new(); // build every engine `with_metrics(metrics.clone())`
//! let models = ModelSet::new(); // insert deployments, now or later
//! let app = router(models, HttpConfig::new(metrics).with_admin_token("s3cret"));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! serve(listener, app, async {
//!     let _ = tokio::signal::ctrl_c().await;
//! })
//! .await
//! # }
//! ```

mod admin;
mod oip;
mod repository;

use std::future::{Future, IntoFuture};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Path, Request, State};
use axum::http::header::{CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Extension, Router};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tracing::Instrument;

use crate::deploy::{Deployment, ModelSet, RouteOptions};
use crate::engine::RequestOptions;
use crate::error::Error;
use crate::metrics::Metrics;
use crate::sink::{PendingLog, PredictionSink};

/// Request header carrying the sticky A/B routing key (a user or session id).
pub const ROUTING_KEY_HEADER: &str = "x-mlops-routing-key";
/// Response header naming the arm that answered (`stable`, `candidate`, `previous`).
pub const ARM_HEADER: &str = "x-mlops-arm";
/// Admin request header naming who acts (recorded in deployment events; default `admin`).
pub const ACTOR_HEADER: &str = "x-mlops-actor";
/// Content type of `GET /metrics`.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The protocol extensions this server implements, as `GET /v2` lists them.
pub const EXTENSIONS: &[&str] = &["binary_tensor_data", "model_repository", "statistics"];

/// Bodies above this size are parsed on tokio's blocking pool rather than on a runtime thread.
const PARSE_INLINE_MAX: usize = 64 * 1024;

/// Whether a server still takes traffic: `GET /v2/health/ready` answers 503 once
/// [`Readiness::start_draining`] has been called. Cheap to clone; clones share the flag.
///
/// [`serve`] flips a readiness of its own when its shutdown future resolves, so a router run by
/// [`serve`] needs nothing more. An application that runs the router on its own server keeps a
/// clone of [`HttpConfig::readiness`] and calls [`Readiness::start_draining`] when it begins to
/// shut down.
#[derive(Debug, Clone, Default)]
pub struct Readiness {
    draining: Arc<AtomicBool>,
}

impl Readiness {
    /// A readiness that reports ready.
    pub fn new() -> Self {
        Self::default()
    }

    /// From now on, readiness reports 503 (irreversible).
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Release);
    }

    /// Whether [`Readiness::start_draining`] was called.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }
}

/// Settings of the HTTP layer: `HttpConfig::new(metrics).with_admin_token(token)`.
#[derive(Clone)]
pub struct HttpConfig {
    admin_token: Option<String>,
    metrics: Metrics,
    max_body_bytes: usize,
    request_timeout: Option<Duration>,
    readiness: Readiness,
    sink: Option<Arc<dyn PredictionSink>>,
}

impl std::fmt::Debug for HttpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpConfig")
            .field(
                "admin_token",
                &self.admin_token.as_ref().map(|_| "<redacted>"),
            )
            .field("max_body_bytes", &self.max_body_bytes)
            .field("request_timeout", &self.request_timeout)
            .field("readiness", &self.readiness)
            .field("prediction_sink", &self.sink.is_some())
            .finish_non_exhaustive()
    }
}

impl HttpConfig {
    /// Default [`HttpConfig::max_body_bytes`]: 16 MiB.
    pub const DEFAULT_MAX_BODY_BYTES: usize = 16 << 20;

    /// Serves `GET /metrics` from `metrics` (the registry the deployments' engines record into:
    /// build them `with_metrics(metrics.clone())`); admin API disabled, 16 MiB body limit, no
    /// request timeout beyond the engines' own.
    pub fn new(metrics: Metrics) -> Self {
        Self {
            admin_token: None,
            metrics,
            max_body_bytes: Self::DEFAULT_MAX_BODY_BYTES,
            request_timeout: None,
            readiness: Readiness::new(),
            sink: None,
        }
    }

    /// Logs served predictions into `sink` (see [`crate::sink`]): every inference request the
    /// sink samples becomes a [`PredictionRecord`], with the request's `id` (or one the server
    /// generates and returns in the response's `id`) and its non-protocol `parameters`.
    /// Logging never fails or delays a request; records the sink refuses are counted in
    /// `mlops_serve_prediction_log_dropped_total`.
    pub fn with_prediction_sink(mut self, sink: Arc<dyn PredictionSink>) -> Self {
        self.sink = Some(sink);
        self
    }

    /// Enables the admin API for requests bearing `token`. An empty (or all-whitespace) token
    /// leaves the API disabled: it would otherwise match an empty credential.
    pub fn with_admin_token(mut self, token: impl Into<String>) -> Self {
        let token = token.into();
        self.admin_token = (!token.trim().is_empty()).then_some(token);
        self
    }

    /// Largest request body accepted; larger ones get 413.
    pub fn with_max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// Deadline for an inference request to start computing (overrides the engine's default);
    /// a request still queued after it gets 504.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = Some(timeout);
        self
    }

    /// Shares a [`Readiness`] with the application (see there).
    pub fn with_readiness(mut self, readiness: Readiness) -> Self {
        self.readiness = readiness;
        self
    }

    /// Whether the admin API is enabled.
    pub fn admin_enabled(&self) -> bool {
        self.admin_token.is_some()
    }

    /// The registry `GET /metrics` serves.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Largest request body accepted.
    pub fn max_body_bytes(&self) -> usize {
        self.max_body_bytes
    }

    /// The inference deadline, if any.
    pub fn request_timeout(&self) -> Option<Duration> {
        self.request_timeout
    }

    /// The readiness `GET /v2/health/ready` reports.
    pub fn readiness(&self) -> &Readiness {
        &self.readiness
    }
}

/// How [`serve_with`] shuts down.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServeOptions {
    /// After the shutdown future resolves, how long to keep accepting connections while
    /// readiness reports 503, so that load balancers (a Kubernetes Service) stop routing here
    /// before the listener closes. Default 0: close at once.
    pub drain_delay: Duration,
    /// Longest to wait for in-flight requests once the listener has closed; after it, the
    /// call returns with requests still in flight. Their connections close when the runtime
    /// shuts down (`mlops serve` shuts it down right after). `None` (the default): wait for
    /// every request.
    pub drain_timeout: Option<Duration>,
}

impl ServeOptions {
    /// Sets [`ServeOptions::drain_delay`].
    pub fn with_drain_delay(mut self, delay: Duration) -> Self {
        self.drain_delay = delay;
        self
    }

    /// Sets [`ServeOptions::drain_timeout`].
    pub fn with_drain_timeout(mut self, timeout: Duration) -> Self {
        self.drain_timeout = Some(timeout);
        self
    }
}

/// The readiness of the [`serve`] call running a router, handed to it as a request extension.
#[derive(Debug, Clone)]
struct ServerReadiness(Readiness);

/// [`serve_with`] with the default [`ServeOptions`]: when `shutdown` resolves, readiness turns
/// 503, the listener closes, and the call returns once every in-flight request is answered and
/// its connection closed (idle keep-alive connections close at once).
///
/// # Errors
/// None today (accept errors are retried); the `io::Result` leaves room for listener setup
/// errors.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, app, shutdown, ServeOptions::default()).await
}

/// Serves `app` (HTTP/1.1) on `listener` until `shutdown` resolves, then drains: readiness
/// reports 503 from that moment, new connections are still accepted for
/// [`ServeOptions::drain_delay`], then the listener closes and the call returns once every
/// in-flight request has been answered (or [`ServeOptions::drain_timeout`] has passed).
///
/// # Errors
/// None today (accept errors are retried); the `io::Result` leaves room for listener setup
/// errors.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    options: ServeOptions,
) -> std::io::Result<()> {
    let readiness = Readiness::new();
    let app = app.layer(Extension(ServerReadiness(readiness.clone())));
    let addr = listener.local_addr().ok();
    let (closed_tx, closed_rx) = tokio::sync::oneshot::channel::<()>();
    let signal = async move {
        shutdown.await;
        readiness.start_draining();
        tracing::info!(?addr, drain_delay = ?options.drain_delay, "shutting down: readiness is now 503");
        if !options.drain_delay.is_zero() {
            tokio::time::sleep(options.drain_delay).await;
        }
        tracing::info!(?addr, "listener closed; draining in-flight requests");
        let _ = closed_tx.send(());
    };
    let server = axum::serve(listener, app)
        .with_graceful_shutdown(signal)
        .into_future();
    let Some(timeout) = options.drain_timeout else {
        return server.await;
    };
    let deadline = async move {
        match closed_rx.await {
            Ok(()) => tokio::time::sleep(timeout).await,
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        r = server => r,
        () = deadline => {
            tracing::warn!(?addr, ?timeout, "drain timeout: returning with requests still in flight");
            Ok(())
        }
    }
}

/// The OIP v2 REST API and the admin API over `models` (see the [module docs](self)).
/// Models inserted into or removed from `models` later are served or dropped at once.
pub fn router(models: ModelSet, config: HttpConfig) -> Router {
    let max_body = config.max_body_bytes;
    let state = AppState {
        inner: Arc::new(Shared {
            token_digest: config.admin_token.as_deref().map(admin::digest),
            models,
            config,
            unloaded: std::sync::Mutex::default(),
        }),
    };
    let admin = Router::new()
        .route("/v2/admin/models/{name}", get(admin::status))
        .route("/v2/admin/models/{name}/events", get(admin::events))
        .route("/v2/admin/models/{name}/strategy", put(admin::strategy))
        .route("/v2/admin/models/{name}/policy", put(admin::policy))
        .route("/v2/admin/models/{name}/promote", post(admin::promote))
        .route("/v2/admin/models/{name}/rollback", post(admin::rollback))
        .route("/v2/repository/models/{name}/load", post(repository::load))
        .route(
            "/v2/repository/models/{name}/unload",
            post(repository::unload),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            admin::require_token,
        ));
    Router::new()
        .route("/v2/health/live", get(live))
        .route("/v2/health/ready", get(ready))
        .route("/v2", get(server_metadata))
        .route("/v2/models/{name}", get(model_metadata))
        .route("/v2/models/{name}/ready", get(model_ready))
        .route("/v2/models/{name}/infer", post(infer))
        .route(
            "/v2/models/{name}/versions/{version}",
            get(version_metadata),
        )
        .route(
            "/v2/models/{name}/versions/{version}/ready",
            get(version_ready),
        )
        .route(
            "/v2/models/{name}/versions/{version}/infer",
            post(infer_version),
        )
        .route("/v2/repository/index", post(repository::index))
        .route("/v2/models/stats", get(repository::all_stats))
        .route("/v2/models/{name}/stats", get(repository::model_stats))
        .route(
            "/v2/models/{name}/versions/{version}/stats",
            get(repository::version_stats),
        )
        .route("/metrics", get(metrics))
        .merge(admin)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(state)
}

#[derive(Clone)]
struct AppState {
    inner: Arc<Shared>,
}

struct Shared {
    models: ModelSet,
    config: HttpConfig,
    /// Models unloaded through `POST /v2/repository/models/{name}/unload`, kept for `load`.
    unloaded: std::sync::Mutex<std::collections::BTreeMap<String, Deployment>>,
    /// SHA-256 of the admin token: comparing digests takes the same time whatever the tokens.
    token_digest: Option<[u8; 32]>,
}

impl AppState {
    fn unloaded(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::BTreeMap<String, Deployment>> {
        self.inner
            .unloaded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn deployment(&self, name: &str) -> Result<Deployment, ApiError> {
        self.inner.models.get(name).ok_or_else(|| {
            ApiError::from(Error::NotFound {
                what: format!("model {name:?} is not served"),
            })
        })
    }
}

/// An error response: `{"error": message}` with a status and, for overload, `Retry-After`.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    message: String,
    retry_after_secs: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            retry_after_secs: None,
        }
    }
}

/// The status an [`Error`] maps to.
fn status_of(e: &Error) -> StatusCode {
    match e {
        Error::InvalidInput { .. } | Error::TooLarge { .. } | Error::Config { .. } => {
            StatusCode::BAD_REQUEST
        }
        Error::NotFound { .. } => StatusCode::NOT_FOUND,
        Error::Conflict { .. } => StatusCode::CONFLICT,
        Error::Overloaded { .. } | Error::ShutDown => StatusCode::SERVICE_UNAVAILABLE,
        Error::DeadlineExceeded { .. } => StatusCode::GATEWAY_TIMEOUT,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let status = status_of(&e);
        let retry_after_secs = e.retry_after().map(|d| {
            let whole = d.as_secs() + u64::from(d.subsec_nanos() > 0);
            whole.max(1)
        });
        // Overload and shutdown are expected under load: only failures are warnings.
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::warn!(error = %e, "request failed");
        } else {
            tracing::debug!(error = %e, status = status.as_u16(), "request refused");
        }
        Self {
            status,
            message: e.to_string(),
            retry_after_secs,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        #[derive(Serialize)]
        struct Body<'a> {
            error: &'a str,
        }
        let mut r = json(
            self.status,
            &Body {
                error: &self.message,
            },
        );
        if let Some(s) = self.retry_after_secs {
            r.headers_mut().insert(RETRY_AFTER, HeaderValue::from(s));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        r
    }
}

/// A JSON response.
fn json<T: Serialize + ?Sized>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (
            status,
            [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
            bytes,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "cannot encode a response");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
                r#"{"error":"cannot encode the response"}"#,
            )
                .into_response()
        }
    }
}

/// [`Path`] whose rejection is a JSON [`ApiError`].
struct PathParams<T>(T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for PathParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(v)) => Ok(Self(v)),
            Err(e) => Err(ApiError::new(e.status(), e.body_text())),
        }
    }
}

/// The raw body, bounded by [`HttpConfig::max_body_bytes`] (413 beyond), with JSON rejections.
struct Body(Bytes);

impl FromRequest<AppState> for Body {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        match Bytes::from_request(req, state).await {
            Ok(b) => Ok(Self(b)),
            Err(e) => Err(body_rejection(&e, state.inner.config.max_body_bytes)),
        }
    }
}

fn body_rejection(e: &BytesRejection, limit: usize) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body exceeds the limit of {limit} bytes"),
        )
    } else {
        ApiError::new(e.status(), e.body_text())
    }
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed on this route",
    )
}

async fn live() -> Response {
    json(StatusCode::OK, &serde_json::json!({ "live": true }))
}

async fn ready(State(s): State<AppState>, server: Option<Extension<ServerReadiness>>) -> Response {
    let draining = s.inner.config.readiness.is_draining()
        || server.is_some_and(|Extension(r)| r.0.is_draining());
    if draining {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "server is shutting down").into_response()
    } else if s.inner.models.names().is_empty() {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "no model is loaded").into_response()
    } else {
        json(StatusCode::OK, &serde_json::json!({ "ready": true }))
    }
}

async fn server_metadata() -> Response {
    json(
        StatusCode::OK,
        &oip::ServerMetadata {
            name: "mlops-rs",
            version: env!("CARGO_PKG_VERSION"),
            extensions: EXTENSIONS,
        },
    )
}

/// The loaded version `version` names, or 404.
fn loaded_version(d: &Deployment, version: &str) -> Result<u64, ApiError> {
    version
        .parse::<u64>()
        .ok()
        .filter(|v| d.versions().iter().any(|(x, _)| x == v))
        .ok_or_else(|| {
            ApiError::from(Error::NotFound {
                what: format!(
                    "model {:?} version {version:?} is not loaded",
                    d.name().as_str()
                ),
            })
        })
}

fn metadata(d: &Deployment, versions: Vec<u64>) -> Response {
    let sig = d.signature();
    json(
        StatusCode::OK,
        &oip::ModelMetadata {
            name: d.name().as_str(),
            versions: versions.iter().map(u64::to_string).collect(),
            platform: "mlops-rs",
            inputs: oip::TensorMetadata::of(&sig.inputs),
            outputs: oip::TensorMetadata::of(&sig.outputs),
        },
    )
}

async fn model_metadata(
    State(s): State<AppState>,
    PathParams(name): PathParams<String>,
) -> Result<Response, ApiError> {
    let d = s.deployment(&name)?;
    let mut versions: Vec<u64> = d.versions().into_iter().map(|(v, _)| v).collect();
    versions.sort_unstable();
    Ok(metadata(&d, versions))
}

async fn version_metadata(
    State(s): State<AppState>,
    PathParams((name, version)): PathParams<(String, String)>,
) -> Result<Response, ApiError> {
    let d = s.deployment(&name)?;
    let v = loaded_version(&d, &version)?;
    Ok(metadata(&d, vec![v]))
}

fn model_is_ready(name: &str) -> Response {
    json(
        StatusCode::OK,
        &serde_json::json!({ "name": name, "ready": true }),
    )
}

async fn model_ready(
    State(s): State<AppState>,
    PathParams(name): PathParams<String>,
) -> Result<Response, ApiError> {
    s.deployment(&name)?;
    Ok(model_is_ready(&name))
}

async fn version_ready(
    State(s): State<AppState>,
    PathParams((name, version)): PathParams<(String, String)>,
) -> Result<Response, ApiError> {
    let d = s.deployment(&name)?;
    loaded_version(&d, &version)?;
    Ok(model_is_ready(&name))
}

async fn metrics(State(s): State<AppState>) -> Result<Response, ApiError> {
    let text = s.inner.config.metrics.encode()?;
    Ok((
        StatusCode::OK,
        [(
            CONTENT_TYPE,
            HeaderValue::from_static(OPENMETRICS_CONTENT_TYPE),
        )],
        text,
    )
        .into_response())
}

async fn infer(
    State(s): State<AppState>,
    PathParams(name): PathParams<String>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let span = tracing::info_span!("infer", model = %name, version = tracing::field::Empty, arm = tracing::field::Empty);
    run_infer(s, name, None, headers, body, Instant::now())
        .instrument(span)
        .await
}

async fn infer_version(
    State(s): State<AppState>,
    PathParams((name, version)): PathParams<(String, String)>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let span = tracing::info_span!("infer", model = %name, version = %version, arm = tracing::field::Empty);
    run_infer(s, name, Some(version), headers, body, Instant::now())
        .instrument(span)
        .await
}

/// Request and response header carrying the JSON header's length in a body with binary
/// tensor data (Triton's binary tensor data extension).
pub const INFERENCE_HEADER_CONTENT_LENGTH: &str = "inference-header-content-length";

/// Splits a body into its JSON header and binary part, by the
/// [`INFERENCE_HEADER_CONTENT_LENGTH`] header (all JSON without it).
fn split_body(headers: &HeaderMap, body: Bytes) -> Result<(Bytes, Bytes), ApiError> {
    if let Some(enc) = header_str(headers, CONTENT_ENCODING.as_str())? {
        if !enc.trim().eq_ignore_ascii_case("identity") {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "Content-Encoding {enc:?} is not supported; send the request uncompressed \
                     (tritonclient: request_compression_algorithm=None, its default)"
                ),
            ));
        }
    }
    let Some(len) = header_str(headers, INFERENCE_HEADER_CONTENT_LENGTH)? else {
        return Ok((body, Bytes::new()));
    };
    let n = len.trim().parse::<usize>().map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("header Inference-Header-Content-Length {len:?} is not a byte count"),
        )
    })?;
    if n > body.len() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "header Inference-Header-Content-Length is {n} but the body has only {} bytes",
                body.len()
            ),
        ));
    }
    let binary = body.slice(n..);
    Ok((body.slice(..n), binary))
}

/// Runs one inference request, then records its end-to-end latency and, with a prediction
/// sink, offers its record (the failed ones too).
async fn run_infer(
    s: AppState,
    name: String,
    version: Option<String>,
    headers: HeaderMap,
    body: Bytes,
    started: Instant,
) -> Result<Response, ApiError> {
    let arrived = SystemTime::now();
    let mut log = None;
    let result = infer_inner(&s, &name, version, headers, body, &mut log).await;
    let config = &s.inner.config;
    let error = result.as_ref().err().map(|e| e.message.clone());
    PendingLog::finish(
        log,
        config.sink.as_ref(),
        Some(&config.metrics),
        "http",
        &name,
        arrived,
        started,
        error,
    );
    result
}

async fn infer_inner(
    s: &AppState,
    name: &str,
    version: Option<String>,
    headers: HeaderMap,
    body: Bytes,
    slot: &mut Option<PendingLog>,
) -> Result<Response, ApiError> {
    let name = name.to_owned();
    let d = s.deployment(&name)?;
    let mut log = PendingLog::begin(slot, s.inner.config.sink.as_ref(), &name);
    let version = match &version {
        Some(v) => Some(loaded_version(&d, v)?),
        None => None,
    };
    let (header, binary) = split_body(&headers, body)?;
    let request = if header.len() > PARSE_INLINE_MAX {
        tokio::task::spawn_blocking(move || oip::parse_request(&header))
            .await
            .map_err(|e| {
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("request parser failed: {e}"),
                )
            })??
    } else {
        oip::parse_request(&header)?
    };
    let params = oip::RequestOptions::of(&request)?;
    let forms = match &request.outputs {
        Some(requested) => Some(oip::check_requested(
            requested,
            &d.signature().outputs,
            &params,
        )?),
        None => None,
    };
    let key = header_str(&headers, ROUTING_KEY_HEADER)?.map(str::to_owned);
    let timeout = match (s.inner.config.request_timeout, params.timeout_us) {
        (Some(a), Some(us)) => Some(a.min(Duration::from_micros(us))),
        (a, us) => a.or(us.map(Duration::from_micros)),
    };
    let options = RouteOptions {
        key,
        request: RequestOptions {
            timeout,
            bypass_cache: false,
        },
    };
    let mut request_id = request.id.clone();
    if let Some(log) = log.as_deref_mut() {
        let id = request_id.get_or_insert_with(crate::sink::new_prediction_id);
        log.id = Some(id.clone());
        if let Some(p) = &request.parameters {
            log.parameters = p
                .iter()
                .filter(|(k, _)| crate::sink::is_user_parameter(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
        }
    }
    let inputs = oip::to_tensors(request.inputs, &binary)?;
    if let Some(log) = log.as_deref_mut() {
        log.inputs = inputs.clone();
    }
    let routed = match version {
        None => d.predict_async(inputs, &options).await?,
        Some(v) => d.predict_version_async(v, inputs, &options).await?,
    };
    let span = tracing::Span::current();
    span.record("version", routed.model.version);
    span.record("arm", routed.arm.as_str());
    if let Some(log) = log {
        log.version = routed.model.version;
        log.arm = routed.arm.as_str().to_owned();
        log.outputs = routed.outputs.clone();
    }
    let default_form = if params.binary_data_output {
        oip::Form::Binary
    } else {
        oip::Form::Json
    };
    let chosen: Vec<(&String, &crate::Tensor, oip::Form)> = match (&request.outputs, &forms) {
        (Some(requested), Some(forms)) => requested
            .iter()
            .zip(forms)
            .map(|(r, &form)| match routed.outputs.get_key_value(&r.name) {
                Some((n, t)) => Ok((n, t, form)),
                None => Err(ApiError::from(Error::Model {
                    model: name.clone(),
                    version: routed.model.version,
                    reason: format!("the model did not return output {:?}", r.name),
                })),
            })
            .collect::<Result<Vec<_>, _>>()?,
        _ => routed
            .outputs
            .iter()
            .map(|(n, t)| (n, t, default_form))
            .collect(),
    };
    let mut raw = Vec::new();
    let mut binary_out = false;
    let mut outputs = Vec::with_capacity(chosen.len());
    for (n, t, form) in chosen {
        outputs.push(match form {
            oip::Form::Json => oip::OutputTensor::json(n, t)?,
            oip::Form::Binary => {
                binary_out = true;
                oip::OutputTensor::binary(n, t, &mut raw)?
            }
        });
    }
    let response = oip::InferResponse {
        model_name: d.name().as_str(),
        model_version: routed.model.version.to_string(),
        id: request_id.as_deref(),
        outputs,
    };
    let mut r = if binary_out {
        let mut body = serde_json::to_vec(&response).map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot encode the response: {e}"),
            )
        })?;
        let header_len = body.len();
        body.extend_from_slice(&raw);
        let mut r = (
            StatusCode::OK,
            [(
                CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            )],
            body,
        )
            .into_response();
        r.headers_mut().insert(
            HeaderName::from_static(INFERENCE_HEADER_CONTENT_LENGTH),
            HeaderValue::from(header_len),
        );
        r
    } else {
        json(StatusCode::OK, &response)
    };
    r.headers_mut().insert(
        HeaderName::from_static(ARM_HEADER),
        HeaderValue::from_static(routed.arm.as_str()),
    );
    Ok(r)
}

/// A header's value as text (`None` when absent).
fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, ApiError> {
    headers
        .get(name)
        .map(|v| {
            v.to_str().map_err(|_| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("header {name} is not visible ASCII"),
                )
            })
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_map_to_statuses() {
        let cases = [
            (Error::invalid("x", "bad"), StatusCode::BAD_REQUEST),
            (
                Error::TooLarge {
                    rows: 9,
                    max_batch_size: 8,
                },
                StatusCode::BAD_REQUEST,
            ),
            (
                Error::Config {
                    what: "w".into(),
                    reason: "r".into(),
                },
                StatusCode::BAD_REQUEST,
            ),
            (Error::NotFound { what: "m".into() }, StatusCode::NOT_FOUND),
            (Error::Conflict { reason: "r".into() }, StatusCode::CONFLICT),
            (Error::ShutDown, StatusCode::SERVICE_UNAVAILABLE),
            (
                Error::DeadlineExceeded {
                    waited: Duration::from_millis(5),
                },
                StatusCode::GATEWAY_TIMEOUT,
            ),
            (
                Error::ModelPanicked {
                    model: "m".into(),
                    version: 1,
                    message: "boom".into(),
                },
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
            (
                Error::Incompatible { reason: "r".into() },
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
        ];
        for (e, status) in cases {
            let api = ApiError::from(e);
            assert_eq!(api.status, status, "{}", api.message);
            assert_eq!(api.retry_after_secs, None);
        }
    }

    #[test]
    fn retry_after_is_whole_seconds_rounded_up_at_least_one() {
        for (hint, secs) in [
            (Duration::from_millis(1), 1),
            (Duration::from_millis(999), 1),
            (Duration::from_secs(1), 1),
            (Duration::from_millis(1001), 2),
            (Duration::from_secs(7), 7),
        ] {
            let api = ApiError::from(Error::Overloaded {
                queue_capacity: 4,
                retry_after: hint,
            });
            assert_eq!(api.status, StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(api.retry_after_secs, Some(secs), "{hint:?}");
            let r = api.into_response();
            assert_eq!(r.headers()[RETRY_AFTER], secs.to_string().as_str());
        }
    }
}
