//! Triton's model repository and statistics extensions over HTTP: `POST /v2/repository/index`,
//! `POST /v2/repository/models/{name}/load|unload` (behind the admin token) and
//! `GET /v2/models[/{name}[/versions/{version}]]/stats`.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{json, loaded_version, ApiError, AppState, Body, PathParams};
use crate::error::Error;
use crate::repository::{self, Stat, VersionStats};

/// Body of `POST /v2/repository/index` (optional).
#[derive(Debug, Default, Deserialize)]
struct IndexRequest {
    #[serde(default)]
    ready: bool,
}

#[derive(Debug, Serialize)]
struct IndexEntry<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    version: &'a str,
    state: &'static str,
    #[serde(skip_serializing_if = "str::is_empty")]
    reason: &'a str,
}

fn optional_body<T: Default + serde::de::DeserializeOwned>(
    body: &[u8],
    what: &str,
) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("invalid {what} body: {e}")))
}

pub(super) async fn index(
    State(s): State<AppState>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let req: IndexRequest = optional_body(&body, "repository index")?;
    let rows = repository::index(&s.inner.models, req.ready);
    let out: Vec<IndexEntry<'_>> = rows
        .iter()
        .map(|r| IndexEntry {
            name: &r.name,
            version: &r.version,
            state: r.state.as_str(),
            reason: &r.reason,
        })
        .collect();
    Ok(json(StatusCode::OK, &out))
}

/// Body of load and unload: `{"parameters": {...}}` (optional).
#[derive(Debug, Default, Deserialize)]
struct ControlRequest {
    #[serde(default)]
    parameters: BTreeMap<String, Value>,
}

/// Reason recorded for a model unloaded through the API.
const UNLOADED: &str = "unloaded";

/// `load`: a served model is left as it is (it already follows its registry alias); a model
/// unloaded through this API is served again; any other is 404 (a known model that failed to
/// load at start: 409 with the reason). Model configuration overrides are refused (400).
pub(super) async fn load(
    State(s): State<AppState>,
    PathParams(name): PathParams<String>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let req: ControlRequest = optional_body(&body, "load")?;
    if let Some(key) = req
        .parameters
        .keys()
        .find(|k| *k == "config" || k.starts_with("file:"))
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "load parameter {key:?}: model configuration overrides are not supported (models \
                 are registry versions, loaded as their aliases name them)"
            ),
        ));
    }
    let _span = tracing::info_span!("repository", op = "load", model = %name).entered();
    let models = &s.inner.models;
    if models.get(&name).is_some() {
        return Ok(json(StatusCode::OK, &serde_json::json!({})));
    }
    let parked = s.unloaded().remove(&name);
    if let Some(d) = parked {
        models.insert(d);
        tracing::info!("model loaded again");
        return Ok(json(StatusCode::OK, &serde_json::json!({})));
    }
    match models.unavailable().into_iter().find(|(n, _)| *n == name) {
        Some((_, reason)) => Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "model {name:?} is unavailable: {reason}; it cannot be loaded through the API \
                 (the server loads the versions its registry aliases name)"
            ),
        )),
        None => Err(ApiError::from(Error::NotFound {
            what: format!(
                "model {name:?} is not in this server's repository (models are chosen at start: \
                 mlops serve --model NAME@ALIAS)"
            ),
        })),
    }
}

/// `unload`: stops serving the model (in-flight requests finish) and keeps it, so that `load`
/// serves it again; the index lists it as UNAVAILABLE, reason `unloaded`.
pub(super) async fn unload(
    State(s): State<AppState>,
    PathParams(name): PathParams<String>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let _req: ControlRequest = optional_body(&body, "unload")?;
    let _span = tracing::info_span!("repository", op = "unload", model = %name).entered();
    let models = &s.inner.models;
    match models.remove(&name) {
        Some(d) => {
            s.unloaded().insert(name.clone(), d);
            models.mark_unavailable(&name, UNLOADED);
            tracing::info!("model unloaded");
            Ok(json(StatusCode::OK, &serde_json::json!({})))
        }
        None if s.unloaded().contains_key(&name) => {
            Ok(json(StatusCode::OK, &serde_json::json!({})))
        }
        None => Err(ApiError::from(Error::NotFound {
            what: format!("model {name:?} is not loaded"),
        })),
    }
}

#[derive(Debug, Serialize)]
struct StatJson {
    count: u64,
    ns: u64,
}

impl From<Stat> for StatJson {
    fn from(s: Stat) -> Self {
        Self {
            count: s.count,
            ns: s.ns,
        }
    }
}

#[derive(Debug, Serialize)]
struct InferenceStats {
    success: StatJson,
    fail: StatJson,
    queue: StatJson,
    compute_input: StatJson,
    compute_infer: StatJson,
    compute_output: StatJson,
    cache_hit: StatJson,
    cache_miss: StatJson,
}

#[derive(Debug, Serialize)]
struct ModelStats {
    name: String,
    version: String,
    last_inference: u64,
    inference_count: u64,
    execution_count: u64,
    inference_stats: InferenceStats,
    batch_stats: [(); 0],
    memory_usage: [(); 0],
}

impl From<VersionStats> for ModelStats {
    fn from(v: VersionStats) -> Self {
        Self {
            name: v.name,
            version: v.version,
            last_inference: v.last_inference_ms,
            inference_count: v.inference_count,
            execution_count: v.execution_count,
            inference_stats: InferenceStats {
                success: v.success.into(),
                fail: v.fail.into(),
                queue: v.queue.into(),
                compute_input: v.compute_input.into(),
                compute_infer: v.compute_infer.into(),
                compute_output: v.compute_output.into(),
                cache_hit: v.cache_hit.into(),
                cache_miss: v.cache_miss.into(),
            },
            batch_stats: [],
            memory_usage: [],
        }
    }
}

fn stats_response(rows: Vec<VersionStats>) -> Response {
    #[derive(Serialize)]
    struct Doc {
        model_stats: Vec<ModelStats>,
    }
    json(
        StatusCode::OK,
        &Doc {
            model_stats: rows.into_iter().map(ModelStats::from).collect(),
        },
    )
}

pub(super) async fn all_stats(State(s): State<AppState>) -> Response {
    stats_response(repository::all_stats(&s.inner.models))
}

pub(super) async fn model_stats(
    State(s): State<AppState>,
    PathParams(name): PathParams<String>,
) -> Result<Response, ApiError> {
    let d = s.deployment(&name)?;
    Ok(stats_response(repository::stats(&d, None)))
}

pub(super) async fn version_stats(
    State(s): State<AppState>,
    PathParams((name, version)): PathParams<(String, String)>,
) -> Result<Response, ApiError> {
    let d = s.deployment(&name)?;
    let v = loaded_version(&d, &version)?;
    Ok(stats_response(repository::stats(&d, Some(v))))
}
