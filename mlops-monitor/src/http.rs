//! The delayed-label endpoint (feature `http`): `POST /v2/models/{name}/labels`, an axum
//! router that a server merges into its own (the CLI merges it into `mlops serve`'s).
//!
//! Body: `{"labels": [{"id": "…", "label": <number | string | bool>}, …]}`. Answer (200):
//! the [`IngestSummary`] — how many were received, matched, late (past the TTL), duplicate and
//! unknown. Every label is stored before the answer, whatever its outcome.
//!
//! Errors: 404 when `name` is not a served model; 400 for a body that is not that JSON (the
//! reason names the first bad entry); 500 when the label log cannot be written (nothing is
//! acknowledged then).

use std::sync::{Arc, Mutex, PoisonError};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};

use crate::labels::{IngestSummary, LabelStore};
use crate::log::IdIndex;
use crate::record::{now_ms, Value};

/// Which model names the endpoint accepts labels for.
pub type ModelFilter = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// What the endpoint needs: the label store, the log's id index, and the served models.
pub struct LabelService {
    store: Mutex<LabelStore>,
    ids: Arc<IdIndex>,
    models: ModelFilter,
}

impl std::fmt::Debug for LabelService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LabelService").finish_non_exhaustive()
    }
}

impl LabelService {
    /// A service over `store`, answering matched/unknown from `ids` (the prediction log's
    /// index, [`PredictionLog::ids`](crate::log::PredictionLog::ids)), for the models `models`
    /// accepts.
    pub fn new(store: LabelStore, ids: Arc<IdIndex>, models: ModelFilter) -> Self {
        LabelService {
            store: Mutex::new(store),
            ids,
            models,
        }
    }

    /// Ingests labels (as the endpoint does).
    ///
    /// # Errors
    /// What [`LabelStore::ingest`] returns (an I/O failure writing the label log).
    pub fn ingest(&self, labels: &[(String, Value)]) -> crate::Result<IngestSummary> {
        let mut store = self.store.lock().unwrap_or_else(PoisonError::into_inner);
        store.ingest(labels, now_ms(), self.ids.as_ref())
    }
}

/// Parses a labels body (see the module doc).
///
/// # Errors
/// [`crate::Error::InvalidInput`] naming the first bad entry: not JSON, no `labels` array, an
/// entry without a non-empty string `id`, or a `label` that is not a number, string or bool.
pub fn parse_labels(body: &[u8]) -> crate::Result<Vec<(String, Value)>> {
    let v: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| crate::Error::invalid("labels body", format!("not JSON: {e}")))?;
    let Some(items) = v.get("labels").and_then(serde_json::Value::as_array) else {
        return Err(crate::Error::invalid(
            "labels body",
            "expected {\"labels\": [{\"id\": …, \"label\": …}, …]}",
        ));
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let id = match item.get("id").and_then(serde_json::Value::as_str) {
            Some(id) if !id.is_empty() => id.to_owned(),
            _ => {
                return Err(crate::Error::invalid(
                    format!("labels[{i}]"),
                    "needs a non-empty string \"id\"",
                ))
            }
        };
        let label = item
            .get("label")
            .and_then(Value::from_json)
            .filter(|l| l.as_f64().is_none_or(f64::is_finite))
            .ok_or_else(|| {
                crate::Error::invalid(
                    format!("labels[{i}] (id {id:?})"),
                    "\"label\" must be a finite number, a string or a bool",
                )
            })?;
        out.push((id, label));
    }
    Ok(out)
}

fn error(status: StatusCode, message: String) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

#[tracing::instrument(skip_all, fields(model = %name))]
async fn labels(
    State(service): State<Arc<LabelService>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    if !(service.models)(&name) {
        return error(
            StatusCode::NOT_FOUND,
            format!("model {name:?} is not served here"),
        );
    }
    let parsed = match parse_labels(&body) {
        Ok(p) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let svc = Arc::clone(&service);
    match tokio::task::spawn_blocking(move || svc.ingest(&parsed)).await {
        Ok(Ok(summary)) => Json(summary).into_response(),
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("label ingestion stopped: {e}"),
        ),
    }
}

/// The router: `POST /v2/models/{name}/labels`.
pub fn labels_router(service: Arc<LabelService>) -> Router {
    Router::new()
        .route("/v2/models/{name}/labels", post(labels))
        .with_state(service)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_parsed_or_refused_with_the_entry_named() {
        let ok = parse_labels(br#"{"labels":[{"id":"a","label":1},{"id":"b/2","label":"yes"},{"id":"c","label":true}]}"#)
            .unwrap();
        assert_eq!(
            ok,
            vec![
                ("a".into(), Value::Num(1.0)),
                ("b/2".into(), Value::Str("yes".into())),
                ("c".into(), Value::Num(1.0)),
            ]
        );
        assert!(parse_labels(br#"{"labels":[]}"#).unwrap().is_empty());
        for (body, needle) in [
            (&b"nope"[..], "not JSON"),
            (br#"{"label":[]}"#, "expected"),
            (
                br#"{"labels":[{"id":"a","label":1},{"label":2}]}"#,
                "labels[1]",
            ),
            (br#"{"labels":[{"id":"","label":2}]}"#, "labels[0]"),
            (br#"{"labels":[{"id":"x","label":null}]}"#, "\"x\""),
            (br#"{"labels":[{"id":"x","label":[1]}]}"#, "label"),
        ] {
            let e = parse_labels(body).unwrap_err().to_string();
            assert!(e.contains(needle), "{e}");
        }
    }
}
