//! The admin API: deployment status and events, strategy and policy changes, promotion and
//! rollback, behind a bearer token.

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tracing::Instrument;

use super::{header_str, json, ApiError, AppState, Body, PathParams, ACTOR_HEADER};
use crate::deploy::{Deployment, DeploymentEvent, RolloutPolicy, Strategy};
use crate::error::Result;

/// Longest accepted `x-mlops-actor`.
const MAX_ACTOR_LEN: usize = 256;

pub(super) fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Compares two digests in time independent of where they differ.
fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Middleware on every admin route: 403 when no token is configured, 401 (with
/// `WWW-Authenticate: Bearer`) when the bearer token is missing or wrong.
pub(super) async fn require_token(
    State(s): State<AppState>,
    req: Request,
    next: Next,
) -> std::result::Result<Response, ApiError> {
    let Some(expected) = &s.inner.token_digest else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "admin API disabled: no token configured",
        ));
    };
    let given = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
    match given {
        None => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing bearer token (Authorization: Bearer <token>)",
        )),
        Some(token) if same(&digest(token), expected) => Ok(next.run(req).await),
        Some(_) => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid bearer token",
        )),
    }
}

fn actor(headers: &HeaderMap) -> std::result::Result<String, ApiError> {
    let actor = header_str(headers, ACTOR_HEADER)?.map_or("", str::trim);
    if actor.len() > MAX_ACTOR_LEN {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("header {ACTOR_HEADER} is longer than {MAX_ACTOR_LEN} bytes"),
        ));
    }
    Ok(if actor.is_empty() { "admin" } else { actor }.to_owned())
}

fn parse<T: DeserializeOwned>(body: &[u8], what: &str) -> std::result::Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("invalid {what} body: {e}")))
}

/// Runs a deployment operation that may block (it drops engines and runs event hooks, which
/// may do registry I/O) on tokio's blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> std::result::Result<T, ApiError> {
    let span = tracing::Span::current();
    match tokio::task::spawn_blocking(move || span.in_scope(f)).await {
        Ok(r) => r.map_err(ApiError::from),
        Err(e) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("admin operation failed: {e}"),
        )),
    }
}

fn event(ev: &DeploymentEvent) -> Response {
    json(StatusCode::OK, ev)
}

fn admin_span(op: &'static str, name: &str, actor: &str) -> tracing::Span {
    tracing::info_span!("admin", op, model = %name, actor)
}

pub(super) async fn status(
    State(s): State<AppState>,
    PathParams(name): PathParams<String>,
) -> std::result::Result<Response, ApiError> {
    let d = s.deployment(&name)?;
    Ok(json(StatusCode::OK, &d.status()))
}

pub(super) async fn events(
    State(s): State<AppState>,
    PathParams(name): PathParams<String>,
) -> std::result::Result<Response, ApiError> {
    let d = s.deployment(&name)?;
    Ok(json(StatusCode::OK, &d.events()))
}

/// Looks the model up and reads the actor: what every mutating admin route starts with.
fn target(
    s: &AppState,
    name: &str,
    headers: &HeaderMap,
) -> std::result::Result<(Deployment, String), ApiError> {
    Ok((s.deployment(name)?, actor(headers)?))
}

pub(super) async fn strategy(
    State(s): State<AppState>,
    PathParams(name): PathParams<String>,
    headers: HeaderMap,
    Body(body): Body,
) -> std::result::Result<Response, ApiError> {
    let (d, actor) = target(&s, &name, &headers)?;
    let strategy: Strategy = parse(&body, "strategy")?;
    let span = admin_span("strategy", &name, &actor);
    let ev = blocking(move || d.set_strategy(strategy, &actor))
        .instrument(span)
        .await?;
    Ok(event(&ev))
}

pub(super) async fn policy(
    State(s): State<AppState>,
    PathParams(name): PathParams<String>,
    headers: HeaderMap,
    Body(body): Body,
) -> std::result::Result<Response, ApiError> {
    let (d, actor) = target(&s, &name, &headers)?;
    let policy: RolloutPolicy = parse(&body, "rollout policy")?;
    let span = admin_span("policy", &name, &actor);
    let now = blocking(move || {
        d.set_policy(policy)?;
        tracing::info!("rollout policy replaced");
        Ok(d.policy())
    })
    .instrument(span)
    .await?;
    Ok(json(StatusCode::OK, &now))
}

/// Optional body of promote and rollback.
#[derive(Debug, Default, Deserialize)]
struct Reason {
    #[serde(default)]
    reason: Option<String>,
}

fn reason(body: &[u8], default: &str) -> std::result::Result<String, ApiError> {
    let r: Reason = if body.iter().all(u8::is_ascii_whitespace) {
        Reason::default()
    } else {
        parse(body, "reason")?
    };
    Ok(r.reason.unwrap_or_else(|| default.to_owned()))
}

pub(super) async fn promote(
    State(s): State<AppState>,
    PathParams(name): PathParams<String>,
    headers: HeaderMap,
    Body(body): Body,
) -> std::result::Result<Response, ApiError> {
    let why = reason(&body, "promoted through the admin API")?;
    transition(&s, &name, &headers, "promote", why, Deployment::promote).await
}

pub(super) async fn rollback(
    State(s): State<AppState>,
    PathParams(name): PathParams<String>,
    headers: HeaderMap,
    Body(body): Body,
) -> std::result::Result<Response, ApiError> {
    let why = reason(&body, "rolled back through the admin API")?;
    transition(&s, &name, &headers, "rollback", why, Deployment::rollback).await
}

/// Runs a promotion or rollback on the blocking pool and answers with its event.
async fn transition(
    s: &AppState,
    name: &str,
    headers: &HeaderMap,
    op: &'static str,
    why: String,
    f: fn(&Deployment, &str, &str) -> Result<DeploymentEvent>,
) -> std::result::Result<Response, ApiError> {
    let (d, actor) = target(s, name, headers)?;
    let span = admin_span(op, name, &actor);
    let ev = blocking(move || f(&d, &actor, &why))
        .instrument(span)
        .await?;
    Ok(event(&ev))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_compare_equal_only_for_equal_tokens() {
        assert!(same(&digest("abc"), &digest("abc")));
        assert!(!same(&digest("abc"), &digest("abd")));
        assert!(!same(&digest("abc"), &digest("")));
    }
}
