//! The web console (`mlops serve --ui`, `mlops ui --store REG`): server-rendered pages over
//! the registry, the live deployments, the prediction log's monitoring report, pipeline runs
//! and HPO studies.
//!
//! Pages live under `/ui`; assets (the stylesheet and script of [`crate::html`]) are served
//! from `/ui/assets`, embedded in the binary. Pages are plain HTML with inline SVG, so they
//! work without JavaScript except for sorting, self-refreshing panels and the admin forms.
//! Admin actions go through the existing admin API (`/v2/admin/...`) with the bearer token
//! the user types in; the console itself never holds a token.
//!
//! Every handler that reads the registry, the log or a journal runs on tokio's blocking
//! pool ([`ConsoleState::blocking`]), never on the runtime's threads.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use maud::{html, Markup};
use mlops_registry::Registry;
use mlops_serve::deploy::ModelSet;

use crate::html::{document, Assets, CONSOLE_CSP, CSS, JS};

mod deployments;
mod models;
mod monitoring;
mod pipelines;

/// Computes the latest monitoring report on demand (the CLI builds it from the prediction
/// log, window settings and alert rules it was given). Runs on the blocking pool.
pub type MonitorSource =
    Arc<dyn Fn() -> Result<mlops_monitor::report::MonitorReport, String> + Send + Sync>;

/// What the console shows. Every part is optional: a page whose source is absent says so.
#[derive(Clone, Default)]
pub struct ConsoleConfig {
    /// The model registry (models, versions, aliases, audit log, lineage).
    pub registry: Option<Arc<dyn Registry>>,
    /// The live deployments (`mlops serve --ui`).
    pub models: Option<ModelSet>,
    /// Whether the server's admin API is enabled (a token is configured); admin forms are
    /// shown only then.
    pub admin_enabled: bool,
    /// The monitoring report source (`--log` with window settings).
    pub monitor: Option<MonitorSource>,
    /// Pipeline cache directories whose run reports are listed.
    pub pipeline_caches: Vec<PathBuf>,
    /// HPO study journals.
    pub studies: Vec<PathBuf>,
}

impl std::fmt::Debug for ConsoleConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleConfig")
            .field("registry", &self.registry.is_some())
            .field("models", &self.models.as_ref().map(ModelSet::names))
            .field("admin_enabled", &self.admin_enabled)
            .field("monitor", &self.monitor.is_some())
            .field("pipeline_caches", &self.pipeline_caches)
            .field("studies", &self.studies)
            .finish()
    }
}

/// The console's shared state (cheap to clone).
#[derive(Clone, Debug)]
pub struct ConsoleState {
    config: Arc<ConsoleConfig>,
    /// The last `(instant, requests)` seen per model × arm × version (request rates between
    /// two polls of the deployments page).
    rates: Arc<Mutex<RateMemory>>,
}

/// `(model, arm, version)` → the instant and request count of the last poll.
type RateMemory = HashMap<(String, String, u64), (Instant, u64)>;

impl ConsoleState {
    /// The configuration.
    pub fn config(&self) -> &ConsoleConfig {
        &self.config
    }

    /// Runs blocking work (registry or file I/O) on tokio's blocking pool.
    ///
    /// # Errors
    /// The closure's error as a 500 page, or a 500 page when the task panicked.
    pub async fn blocking<T, F>(&self, f: F) -> Result<T, PageError>
    where
        T: Send + 'static,
        F: FnOnce(&ConsoleConfig) -> Result<T, PageError> + Send + 'static,
    {
        let config = self.config.clone();
        tokio::task::spawn_blocking(move || f(&config))
            .await
            .map_err(|e| PageError::internal(format!("console task failed: {e}")))?
    }
}

/// An error answered as an HTML page with its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageError {
    /// The HTTP status.
    pub status: StatusCode,
    /// What went wrong, shown to the user.
    pub message: String,
}

impl PageError {
    /// 404 with `message`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }

    /// 400 with `message`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    /// 500 with `message`.
    pub fn internal(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: message.into(),
        }
    }
}

impl From<mlops_registry::Error> for PageError {
    fn from(e: mlops_registry::Error) -> Self {
        let msg = e.to_string();
        if matches!(
            e,
            mlops_registry::Error::ModelNotFound { .. }
                | mlops_registry::Error::VersionNotFound { .. }
                | mlops_registry::Error::AliasNotFound { .. }
        ) {
            Self::not_found(msg)
        } else {
            Self::internal(msg)
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let title = format!(
            "{} — {}",
            self.status.as_u16(),
            self.status.canonical_reason().unwrap_or("error")
        );
        let body = html! {
            h1 { (title) }
            p role="alert" { (self.message) }
            p { a href="/ui" { "Back to the console" } }
        };
        (self.status, page(&title, body)).into_response()
    }
}

/// Percent-encodes one URL path segment (model names are `[A-Za-z0-9._-]`, but be safe).
pub(crate) fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The console URL of one model version.
pub(crate) fn version_href(model: &str, version: u64) -> String {
    format!("/ui/models/{}/versions/{version}", path_segment(model))
}

/// The top navigation, the same on every page.
fn nav() -> Markup {
    html! {
        nav aria-label="Console" {
            a href="/ui/models" { "Models" }
            a href="/ui/deployments" { "Deployments" }
            a href="/ui/monitoring" { "Monitoring" }
            a href="/ui/pipelines" { "Pipelines" }
        }
    }
}

/// A full console page: shell, navigation, the console's CSP header.
pub fn page(title: &str, body: Markup) -> Response {
    let doc = document(title, Assets::Linked("/ui/assets"), nav(), body);
    (
        [
            (header::CONTENT_SECURITY_POLICY, CONSOLE_CSP),
            (header::CACHE_CONTROL, "no-store"),
        ],
        Html(doc),
    )
        .into_response()
}

/// A fragment (a self-refreshing panel's content): HTML without the shell.
pub fn fragment(body: Markup) -> Response {
    (
        [(header::CACHE_CONTROL, "no-store")],
        Html(body.into_string()),
    )
        .into_response()
}

async fn home(State(s): State<ConsoleState>) -> Response {
    let c = s.config();
    let body = html! {
        h1 { "mlops console" }
        ul {
            li { a href="/ui/models" { "Models" } " — " (if c.registry.is_some() { "the registry's models, versions, aliases and lineage" } else { "no registry configured" }) }
            li { a href="/ui/deployments" { "Deployments" } " — " (if c.models.is_some() { "live traffic split, request rate, errors and p99 per arm" } else { "not serving (use mlops serve --ui)" }) }
            li { a href="/ui/monitoring" { "Monitoring" } " — " (if c.monitor.is_some() { "window metrics, alerts and drift" } else { "no prediction log configured" }) }
            li { a href="/ui/pipelines" { "Pipelines" } " — pipeline runs and HPO studies" }
        }
    };
    page("mlops console", body)
}

async fn css() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], CSS)
}

async fn js() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        JS,
    )
}

async fn favicon() -> impl IntoResponse {
    StatusCode::NO_CONTENT
}

/// The console's routes (`/ui/...`, plus `/favicon.ico` answered empty so that a browser's
/// automatic request does not fail). Merge it into a server's router.
pub fn router(config: ConsoleConfig) -> Router {
    let state = ConsoleState {
        config: Arc::new(config),
        rates: Arc::default(),
    };
    let r = Router::new()
        .route("/ui", get(home))
        .route("/ui/", get(home))
        .route("/ui/assets/style.css", get(css))
        .route("/ui/assets/ui.js", get(js))
        .route("/favicon.ico", get(favicon));
    let r = models::routes(r);
    let r = deployments::routes(r);
    let r = monitoring::routes(r);
    let r = pipelines::routes(r);
    r.with_state(state)
}
