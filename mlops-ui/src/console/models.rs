//! The models pages: the registry's models, one model's versions and alias history, one
//! version (metrics, params, tags, signature, artifacts, lineage), and two versions compared.
//!
//! - `GET /ui/models`
//! - `GET /ui/models/{name}`
//! - `GET /ui/models/{name}/versions/{v}`
//! - `GET /ui/models/{name}/compare?a=V&b=V`

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use maud::{html, Markup};
use mlops_core::ModelName;
use mlops_registry::{Event, EventKind, Registry, VersionEntry};

use super::{page, ConsoleState, PageError};
use crate::compare::{artifacts_table, compare_body, created, opt, signature_table, RUN_ID_TAG};
use crate::html::{num_td, sort_th};

/// Adds this module's routes.
pub(super) fn routes(r: Router<ConsoleState>) -> Router<ConsoleState> {
    r.route("/ui/models", get(list))
        .route("/ui/models/{name}", get(model))
        .route("/ui/models/{name}/versions/{v}", get(version))
        .route("/ui/models/{name}/compare", get(compare))
}

/// The page shown (200) when the console has no registry.
fn no_registry() -> Response {
    page(
        "Models",
        html! {
            h1 { "Models" }
            p role="status" { "No registry is configured. Start the console with a registry store (for example " code { "mlops ui --store DIR" } ")." }
        },
    )
}

/// A registry page: `None` without a registry, else the rendered `(title, body)`.
async fn with_registry<F>(s: &ConsoleState, f: F) -> Result<Response, PageError>
where
    F: FnOnce(&dyn Registry) -> Result<(String, Markup), PageError> + Send + 'static,
{
    if s.config().registry.is_none() {
        return Ok(no_registry());
    }
    let (title, body) = s
        .blocking(move |c| match &c.registry {
            Some(reg) => f(reg.as_ref()),
            None => Err(PageError::internal("no registry")),
        })
        .await?;
    Ok(page(&title, body))
}

fn model_name(name: &str) -> Result<ModelName, PageError> {
    ModelName::new(name)
        .map_err(|e| PageError::bad_request(format!("invalid model name {name:?}: {e}")))
}

fn version_number(what: &str, v: &str) -> Result<u64, PageError> {
    match v.trim().parse::<u64>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(PageError::bad_request(format!(
            "{what} must be a version number (1, 2, …), got {v:?}"
        ))),
    }
}

fn model_href(name: &ModelName) -> String {
    format!("/ui/models/{}", super::path_segment(name.as_str()))
}

fn version_href(name: &ModelName, v: u64) -> String {
    super::version_href(name.as_str(), v)
}

async fn list(State(s): State<ConsoleState>) -> Result<Response, PageError> {
    with_registry(&s, |reg| {
        let mut rows = Vec::new();
        for name in reg.models()? {
            let versions = reg.versions(&name)?;
            let aliases = reg.aliases(&name)?;
            rows.push((name, versions, aliases));
        }
        let body = html! {
            h1 { "Models" }
            @if rows.is_empty() {
                p { "The registry has no models yet." }
            } @else {
                div.table-wrap {
                    table.sortable id="models" {
                        thead { tr {
                            (sort_th("model", false)) (sort_th("versions", true))
                            (sort_th("aliases", false)) (sort_th("latest version created", false))
                        } }
                        tbody {
                            @for (name, versions, aliases) in &rows {
                                tr data-model=(name) {
                                    td { a href=(model_href(name)) { (name) } }
                                    td.num data-v=(versions.len()) { (versions.len()) }
                                    td {
                                        @if aliases.is_empty() { "–" }
                                        @for (a, v) in aliases { span.tag { (a) " → " (v) } }
                                    }
                                    td {
                                        @match versions.last() {
                                            Some(e) => { "v" (e.version.version) " · " (created(&e.version)) }
                                            None => "–",
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        };
        Ok(("Models".to_string(), body))
    })
    .await
}

async fn model(
    State(s): State<ConsoleState>,
    Path(name): Path<String>,
) -> Result<Response, PageError> {
    let name = model_name(&name)?;
    with_registry(&s, move |reg| {
        let versions = reg.versions(&name)?;
        let history = reg.history(&name)?;
        let title = format!("Model {name}");
        let body = html! {
            h1 { "Model " (name) }
            p { a href="/ui/models" { "All models" } }
            (versions_table(&name, &versions))
            (compare_form(&name, &versions))
            (timeline(&history))
        };
        Ok((title, body))
    })
    .await
}

fn versions_table(name: &ModelName, versions: &[VersionEntry]) -> Markup {
    let metrics: BTreeSet<&String> = versions
        .iter()
        .flat_map(|e| e.version.metrics.keys())
        .collect();
    html! {
        section aria-labelledby="versions-h" {
            h2 id="versions-h" { "Versions" }
            @if versions.is_empty() {
                p { "No live versions." }
            } @else {
                div.table-wrap {
                    table.sortable id="versions" {
                        thead { tr {
                            (sort_th("version", true)) (sort_th("created", false))
                            @for m in &metrics { (sort_th(m, true)) }
                            (sort_th("tags", false)) (sort_th("aliases", false)) (sort_th("archived", false))
                        } }
                        tbody {
                            @for e in versions {
                                @let v = &e.version;
                                tr data-version=(v.version) {
                                    td.num data-v=(v.version) { a href=(version_href(name, v.version)) { (v.version) } }
                                    td data-v=(v.created_at.timestamp_millis()) { (created(v)) }
                                    @for m in &metrics {
                                        @match v.metrics.get(*m) {
                                            Some(x) => (num_td(*x)),
                                            None => td.num data-v="" { "–" },
                                        }
                                    }
                                    td { (tags(&v.tags)) }
                                    td { @for a in &e.aliases { span.tag { (a) } } }
                                    td { (if e.archived { "archived" } else { "" }) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn tags(t: &BTreeMap<String, String>) -> Markup {
    html! { @for (k, v) in t { span.tag { (k) "=" (v) } } }
}

fn compare_form(name: &ModelName, versions: &[VersionEntry]) -> Markup {
    let n = versions.len();
    if n < 2 {
        return html! {};
    }
    let (da, db) = (
        versions[n - 2].version.version,
        versions[n - 1].version.version,
    );
    let select = |id: &str, selected: u64| {
        html! {
            select id=(id) name=(id) {
                @for e in versions {
                    option value=(e.version.version) selected[e.version.version == selected] { "v" (e.version.version) }
                }
            }
        }
    };
    html! {
        section aria-labelledby="compare-h" {
            h2 id="compare-h" { "Compare two versions" }
            form.admin method="get" action={ (model_href(name)) "/compare" } {
                label for="a" { "Version A" (select("a", da)) }
                label for="b" { "Version B" (select("b", db)) }
                button.act type="submit" { "Compare" }
            }
        }
    }
}

/// The model's event log, newest first: alias moves (who, alias, from → to, why), archive
/// and delete events.
fn timeline(history: &[Event]) -> Markup {
    html! {
        section aria-labelledby="history-h" {
            h2 id="history-h" { "Alias and archive history" }
            @if history.is_empty() {
                p.muted { "No alias or archive events yet." }
            } @else {
                ol.timeline id="history" reversed {
                    @for ev in history.iter().rev() {
                        li data-seq=(ev.seq) {
                            time datetime=(ev.at.to_rfc3339()) { (ev.at.format("%Y-%m-%d %H:%M:%S UTC")) }
                            " · " span.actor { (ev.change.who) } " · "
                            (event_what(&ev.kind))
                            @if !ev.change.reason.is_empty() {
                                " — " q.reason { (ev.change.reason) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn event_what(k: &EventKind) -> Markup {
    let v = |x: Option<u64>| x.map_or("(unset)".to_string(), |x| format!("v{x}"));
    match k {
        EventKind::AliasSet {
            alias,
            version,
            previous,
        } => {
            html! { "alias " b.alias { (alias) } " set: " span.move { (v(*previous)) " → v" (version) } }
        }
        EventKind::AliasRolledBack { alias, from, to } => {
            html! { "alias " b.alias { (alias) } " rolled back: " span.move { "v" (from) " → v" (to) } }
        }
        EventKind::AliasRemoved { alias, previous } => {
            html! { "alias " b.alias { (alias) } " removed: " span.move { "v" (previous) " → (unset)" } }
        }
        EventKind::Archived { version } => html! { "v" (version) " archived" },
        EventKind::Restored { version } => html! { "v" (version) " restored" },
        EventKind::Deleted { version } => html! { "v" (version) " deleted" },
        _ => html! { "other event" },
    }
}

async fn version(
    State(s): State<ConsoleState>,
    Path((name, v)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let name = model_name(&name)?;
    let v = version_number("the version", &v)?;
    with_registry(&s, move |reg| {
        let e = reg.version(&name, v)?;
        let run = e
            .version
            .artifacts
            .iter()
            .any(|a| a.name == "run.json")
            .then(|| reg.read_artifact(&name, v, "run.json"));
        let run = match run {
            None => None,
            Some(Ok(bytes)) => Some(
                serde_json::from_slice::<serde_json::Value>(&bytes)
                    .map_err(|e| format!("run.json is not JSON: {e}")),
            ),
            Some(Err(e)) => Some(Err(format!("run.json could not be read: {e}"))),
        };
        let title = format!("{name}/{v}");
        Ok((title, version_body(&e, run)))
    })
    .await
}

fn version_body(e: &VersionEntry, run: Option<Result<serde_json::Value, String>>) -> Markup {
    let v = &e.version;
    let name = &v.name;
    html! {
        h1 { "Model " (name) " · version " (v.version) }
        p { a href=(model_href(name)) { "All versions of " (name) } }
        ul.summary {
            li { "Created" b { (created(v)) } }
            li { "Format" b { (opt((!v.format.is_empty()).then_some(v.format.as_str()))) } }
            li { "Aliases" b { @if e.aliases.is_empty() { "–" } @for a in &e.aliases { span.tag { (a) } } } }
            li { "Archived" b { (if e.archived { "yes" } else { "no" }) } }
        }
        @if !v.description.is_empty() { p { (v.description) } }
        section aria-labelledby="lineage-h" {
            h2 id="lineage-h" { "Lineage" }
            div.lineage {
                @if v.lineage.datasets.is_empty() {
                    div.node.muted { "no dataset recorded" }
                } @else {
                    @for d in &v.lineage.datasets {
                        div.node.dataset { "dataset snapshot" br; code title=(d) { (short(&d.to_string())) } }
                    }
                }
                span.arrow aria-hidden="true" { "→" }
                div.node.this { b { (name) "/" (v.version) } @if let Some(c) = &v.lineage.code_commit { br; "code " code { (c) } } }
                @if let Some(p) = v.lineage.parent_version {
                    span.arrow { "derived from →" }
                    div.node.parent { a href=(version_href(name, p)) { "parent " (name) "/" (p) } }
                }
            }
            (run_panel(v.tags.get(RUN_ID_TAG), run))
        }
        section aria-labelledby="metrics-h" {
            h2 id="metrics-h" { "Metrics" }
            @if v.metrics.is_empty() { p.muted { "None." } } @else {
                div.table-wrap { table.sortable id="metrics" {
                    thead { tr { (sort_th("metric", false)) (sort_th("value", true)) } }
                    tbody { @for (k, x) in &v.metrics { tr data-metric=(k) { td { (k) } (num_td(*x)) } } }
                } }
            }
        }
        section aria-labelledby="params-h" {
            h2 id="params-h" { "Params" }
            (kv_table("params", &v.params))
        }
        section aria-labelledby="tags-h" {
            h2 id="tags-h" { "Tags" }
            (kv_table("tags", &v.tags))
        }
        section aria-labelledby="sig-h" {
            h2 id="sig-h" { "Signature" }
            (signature_table(v.signature.as_ref()))
        }
        section aria-labelledby="art-h" {
            h2 id="art-h" { "Artifacts" }
            (artifacts_table(&v.artifacts))
        }
    }
}

fn short(d: &str) -> String {
    let hex = d.strip_prefix("sha256:").unwrap_or(d);
    hex.chars().take(12).collect()
}

fn kv_table(id: &str, m: &BTreeMap<String, String>) -> Markup {
    html! {
        @if m.is_empty() { p.muted { "None." } } @else {
            div.table-wrap { table id=(id) {
                thead { tr { th scope="col" { "key" } th scope="col" { "value" } } }
                tbody { @for (k, x) in m { tr { td { (k) } td { (x) } } } }
            } }
        }
    }
}

/// The pipeline run that produced a version: its id (tag) and, from `run.json`, its steps.
fn run_panel(run_id: Option<&String>, run: Option<Result<serde_json::Value, String>>) -> Markup {
    if run_id.is_none() && run.is_none() {
        return html! { p.muted { "Not produced by a pipeline run (no " code { (RUN_ID_TAG) } " tag)." } };
    }
    html! {
        div.run id="pipeline-run" {
            h3 { "Pipeline run" }
            @if let Some(id) = run_id {
                p { "Run " a href={ "/ui/pipelines/runs/" (super::path_segment(id)) } { code { (id) } } }
            }
            @match run {
                Some(Ok(j)) => (run_steps(&j)),
                Some(Err(e)) => p.bad { (e) },
                None => {}
            }
        }
    }
}

fn run_steps(j: &serde_json::Value) -> Markup {
    let steps: Vec<(&str, &str, f64)> = j
        .get("steps")
        .and_then(|s| s.as_array())
        .map(|a| {
            a.iter()
                .map(|s| {
                    (
                        s.get("name").and_then(|x| x.as_str()).unwrap_or("?"),
                        s.get("status").and_then(|x| x.as_str()).unwrap_or("?"),
                        s.get("duration_s")
                            .and_then(|x| x.as_f64())
                            .unwrap_or(f64::NAN),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let ran = steps.iter().filter(|s| s.1 == "ran").count();
    let cached = steps.iter().filter(|s| s.1 == "cached").count();
    html! {
        p {
            "From run.json: pipeline " b { (j.get("pipeline").and_then(|x| x.as_str()).unwrap_or("?")) }
            ", started " (j.get("started_at").and_then(|x| x.as_str()).unwrap_or("?"))
            ": " span data-ran=(ran) { (ran) " ran" } ", " span data-cached=(cached) { (cached) " cached" }
            " of " (steps.len()) " steps."
        }
        div.table-wrap { table id="run-steps" {
            thead { tr { th scope="col" { "step" } th scope="col" { "status" } th.num scope="col" { "duration (s)" } } }
            tbody { @for (n, st, d) in &steps { tr { td { (n) } td { (st) } (num_td(*d)) } } }
        } }
    }
}

#[derive(serde::Deserialize)]
struct CompareQuery {
    a: Option<String>,
    b: Option<String>,
}

async fn compare(
    State(s): State<ConsoleState>,
    Path(name): Path<String>,
    q: Result<Query<CompareQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, PageError> {
    let name = model_name(&name)?;
    let Query(q) = q.map_err(|e| PageError::bad_request(format!("bad query: {e}")))?;
    let a = version_number(
        "a",
        q.a.as_deref()
            .ok_or_else(|| PageError::bad_request("missing ?a=VERSION"))?,
    )?;
    let b = version_number(
        "b",
        q.b.as_deref()
            .ok_or_else(|| PageError::bad_request("missing &b=VERSION"))?,
    )?;
    with_registry(&s, move |reg| {
        let (ea, eb) = (reg.version(&name, a)?, reg.version(&name, b)?);
        let title = format!("{name}: v{a} vs v{b}");
        let body = html! {
            h1 { (title) }
            p {
                a href=(model_href(&name)) { "All versions of " (name) } " · "
                a href=(version_href(&name, a)) { "A: v" (a) } " · "
                a href=(version_href(&name, b)) { "B: v" (b) }
            }
            (compare_body(&ea, &eb))
        };
        Ok((title, body))
    })
    .await
}
