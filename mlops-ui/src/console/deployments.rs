//! The deployments pages: every served model with its arms and traffic split, and per model
//! the live split, a self-refreshing per-arm table (request rate, error rate, p99), the
//! rollout event log and, when the server's admin API is enabled, admin forms.
//!
//! - `GET /ui/deployments`: the list.
//! - `GET /ui/deployments/{name}`: one model.
//! - `GET /ui/deployments/{name}/live`: the per-arm table alone (the panel's refresh).
//!
//! Request rates are requests per second between two polls of the same arm (the console keeps
//! the last `(instant, requests)` per model × arm × version); on the first poll, the arm's
//! requests since it took its role over the time since then, when the event log says when
//! that was, otherwise `–`.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use maud::{html, Markup};
use mlops_serve::deploy::{ArmStatus, Deployment, DeploymentEvent, EventKind, ModelSet, Strategy};

use super::{fragment, page, ConsoleState, PageError};
use crate::html::{num_td, sort_th};
use crate::svg::{fmt_num, fmt_pct, fmt_time};

/// Adds this module's routes.
pub(super) fn routes(r: Router<ConsoleState>) -> Router<ConsoleState> {
    r.route("/ui/deployments", get(list))
        .route("/ui/deployments/{name}", get(detail))
        .route("/ui/deployments/{name}/live", get(live))
}

fn models(s: &ConsoleState) -> Result<&ModelSet, PageError> {
    s.config().models.as_ref().ok_or_else(|| {
        PageError::not_found(
            "This console is not attached to a server: start it with `mlops serve --ui` to see live deployments.",
        )
    })
}

fn deployment(s: &ConsoleState, name: &str) -> Result<Deployment, PageError> {
    models(s)?
        .get(name)
        .ok_or_else(|| PageError::not_found(format!("no deployment serves model {name:?}")))
}

fn strategy_text(st: &Strategy) -> String {
    match *st {
        Strategy::Canary { weight } => format!("canary {}", fmt_pct(weight)),
        Strategy::AbTest { weight } => format!("A/B {}", fmt_pct(weight)),
        Strategy::Shadow { mirror } => format!("shadow (mirrors {})", fmt_pct(mirror)),
        Strategy::BlueGreen => "blue-green (standby)".to_string(),
    }
}

/// The answered-traffic split bar: stable and candidate shares.
fn split(d: &Deployment) -> Markup {
    let cand = d.candidate();
    let share = cand.as_ref().map_or(0.0, |(_, st)| st.answer_share());
    let stable = 1.0 - share;
    html! {
        div.split role="img" aria-label={ "traffic split: stable " (fmt_pct(stable)) ", candidate " (fmt_pct(share)) } {
            @if stable > 0.0 {
                span.arm-stable data-share=(stable) { "stable v" (d.stable_version().version) " · " (fmt_pct(stable)) }
            }
            @if let Some((id, _)) = &cand {
                @if share > 0.0 {
                    span.arm-candidate data-share=(share) { "candidate v" (id.version) " · " (fmt_pct(share)) }
                }
            }
        }
    }
}

async fn list(State(s): State<ConsoleState>) -> Response {
    let Some(set) = s.config().models.as_ref() else {
        let body = html! {
            h1 { "Deployments" }
            p id="not-attached" { "This console is not attached to a server: start it with " code { "mlops serve --ui" } " to see live deployments." }
        };
        return page("Deployments", body);
    };
    let all = set.all();
    let unavailable = set.unavailable();
    let body = html! {
        h1 { "Deployments" }
        @if all.is_empty() { p.muted { "No model is being served." } }
        @else {
            div.table-wrap {
                table.sortable id="deployments" {
                    thead { tr {
                        (sort_th("model", false)) (sort_th("stable", true)) (sort_th("candidate", true))
                        (sort_th("strategy", false)) th scope="col" { "traffic split" }
                    } }
                    tbody {
                        @for d in &all {
                            @let cand = d.candidate();
                            tr data-model=(d.name().as_str()) {
                                td { a href={ "/ui/deployments/" (d.name().as_str()) } { (d.name().as_str()) } }
                                td.num data-v=(d.stable_version().version) { "v" (d.stable_version().version) }
                                @match &cand {
                                    Some((id, st)) => {
                                        td.num data-v=(id.version) { "v" (id.version) }
                                        td { (strategy_text(st)) }
                                    }
                                    None => { td.num data-v="" { "–" } td { "stable only" } }
                                }
                                td { (split(d)) }
                            }
                        }
                    }
                }
            }
        }
        @if !unavailable.is_empty() {
            h2 { "Not loaded" }
            ul { @for (name, why) in &unavailable { li { b { (name) } ": " (why) } } }
        }
    };
    page("Deployments", body)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// When `version` took the `arm` role, from the event log (newest matching event).
fn since_ms(events: &[DeploymentEvent], arm: &str, version: u64) -> Option<u64> {
    events
        .iter()
        .rev()
        .find(|e| match (&e.kind, arm) {
            (EventKind::CandidateSet { version: v, .. }, "candidate") => *v == version,
            (
                EventKind::Promoted { to, .. }
                | EventKind::RolledBack { to, .. }
                | EventKind::StableReplaced { to, .. },
                "stable",
            ) => *to == version,
            _ => false,
        })
        .map(|e| e.at_ms)
}

/// Requests per second of one arm since the last poll (see the module doc).
fn rate(
    s: &ConsoleState,
    model: &str,
    arm: &str,
    a: &ArmStatus,
    first: Option<f64>,
) -> Option<f64> {
    let now = Instant::now();
    let mut last = s
        .rates
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let key = (model.to_string(), arm.to_string(), a.version);
    let prev = last.insert(key, (now, a.requests));
    match prev {
        Some((t, n)) if a.requests >= n => {
            let dt = now.duration_since(t).as_secs_f64();
            (dt > 0.0).then(|| (a.requests - n) as f64 / dt)
        }
        _ => first,
    }
}

fn live_table(s: &ConsoleState, d: &Deployment) -> Markup {
    let status = d.status();
    let events = d.events();
    let now = now_ms();
    let model = status.model.clone();
    let mut arms: Vec<(&str, &ArmStatus)> = vec![("stable", &status.stable)];
    if let Some(c) = &status.candidate {
        arms.push(("candidate", &c.arm));
    }
    let rows: Vec<(&str, &ArmStatus, Option<f64>)> = arms
        .into_iter()
        .map(|(arm, a)| {
            let first = since_ms(&events, arm, a.version)
                .filter(|&t| now > t)
                .map(|t| a.requests as f64 / ((now - t) as f64 / 1000.0));
            (arm, a, rate(s, &model, arm, a, first))
        })
        .collect();
    html! {
        div.table-wrap {
            table.sortable id="arms" {
                thead { tr {
                    (sort_th("arm", false)) (sort_th("version", true)) (sort_th("requests", true))
                    (sort_th("requests/s", true)) (sort_th("failures", true)) (sort_th("error rate", true))
                    (sort_th("p99 (check window)", true))
                } }
                tbody {
                    @for (arm, a, r) in &rows {
                        tr data-arm=(arm) data-version=(a.version) data-requests=(a.requests) {
                            td { (arm) }
                            td.num data-v=(a.version) { "v" (a.version) }
                            td.num data-v=(a.requests) { (a.requests) }
                            (num_td(r.unwrap_or(f64::NAN)))
                            td.num data-v=(a.failures) { (a.failures) }
                            (num_td(if a.requests == 0 { f64::NAN } else { a.failures as f64 / a.requests as f64 }))
                            @match a.window.p99 {
                                Some(p) => { td.num data-v=(p.as_secs_f64() * 1e3) { (fmt_num(p.as_secs_f64() * 1e3)) " ms" } }
                                None => { td.num data-v="" { "–" } }
                            }
                        }
                    }
                }
            }
        }
        @if let Some(c) = &status.candidate {
            @if matches!(c.strategy, Strategy::Shadow { .. }) {
                p id="shadow-stats" { "Shadow: " (c.shadow.compared) " compared, " (c.shadow.mismatched) " mismatched, "
                    (c.shadow.errors) " errors, " (c.shadow.dropped) " dropped, mean |Δ| " (fmt_num(c.shadow.mean_abs_diff)) }
            }
        }
        p.muted { "Updated " (fmt_time(now as f64)) " UTC" }
    }
}

fn event_detail(kind: &EventKind) -> String {
    match serde_json::to_value(kind) {
        Ok(serde_json::Value::Object(mut m)) => {
            m.remove("kind");
            m.iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
        _ => String::new(),
    }
}

fn admin_forms(name: &str, d: &Deployment) -> Markup {
    let base = format!("/v2/admin/models/{name}");
    let (mode, weight) = match d.candidate().map(|(_, st)| st) {
        Some(Strategy::Canary { weight }) => ("canary", weight),
        Some(Strategy::AbTest { weight }) => ("ab", weight),
        Some(Strategy::Shadow { mirror }) => ("shadow", mirror),
        Some(Strategy::BlueGreen) => ("blue_green", 0.0),
        None => ("canary", 0.0),
    };
    html! {
        section aria-labelledby="admin-h" id="admin" {
            h2 id="admin-h" { "Admin" }
            p { label for="admin-token" { "Admin token " } input id="admin-token" type="password" autocomplete="off"; }
            form.admin data-admin="strategy" action={ (base) "/strategy" } data-method="PUT" {
                label { "Mode" select name="mode" {
                    @for (v, text) in [("canary", "canary"), ("ab", "A/B"), ("shadow", "shadow"), ("blue_green", "blue-green")] {
                        option value=(v) selected[v == mode] { (text) }
                    }
                } }
                label { "Candidate weight (%)" input name="weight" type="number" min="0" max="100" step="0.1" value=(fmt_num(100.0 * weight)); }
                button.act type="submit" { "Set strategy" }
                output {}
            }
            form.admin data-admin="promote" action={ (base) "/promote" } data-method="POST" {
                label { "Promotion reason" input name="reason" type="text" required; }
                button.act type="submit" { "Promote candidate" }
                output {}
            }
            form.admin data-admin="rollback" action={ (base) "/rollback" } data-method="POST" {
                label { "Rollback reason" input name="reason" type="text" required; }
                button.act type="submit" { "Roll back" }
                output {}
            }
        }
    }
}

async fn detail(
    State(s): State<ConsoleState>,
    Path(name): Path<String>,
) -> Result<Response, PageError> {
    let d = deployment(&s, &name)?;
    let cand = d.candidate();
    let mut events = d.events();
    events.reverse();
    let live_url = format!("/ui/deployments/{name}/live");
    let body = html! {
        h1 { "Deployment " (name) }
        p { "Stable " b { "v" (d.stable_version().version) }
            @if let Some((id, st)) = &cand { " · candidate " b { "v" (id.version) } " · " (strategy_text(st)) }
            @else { " · no candidate" }
        }
        section aria-labelledby="split-h" {
            h2 id="split-h" { "Traffic split" }
            (split(&d))
        }
        section aria-labelledby="arms-h" {
            h2 id="arms-h" { "Arms" }
            div.panel id="live" data-refresh=(live_url) data-interval="2000" aria-live="polite" {
                (live_table(&s, &d))
            }
        }
        section aria-labelledby="events-h" {
            h2 id="events-h" { "Rollout events" }
            @if events.is_empty() { p.muted { "No events yet." } }
            @else {
                div.table-wrap {
                    table.sortable id="events" {
                        thead { tr {
                            (sort_th("seq", true)) (sort_th("time (UTC)", false)) (sort_th("kind", false))
                            th scope="col" { "detail" }
                            (sort_th("actor", false)) (sort_th("reason", false)) (sort_th("automatic", false))
                        } }
                        tbody {
                            @for e in &events {
                                tr data-seq=(e.seq) data-kind=(e.kind.label()) {
                                    td.num data-v=(e.seq) { (e.seq) }
                                    td data-v=(e.at_ms) { (fmt_time(e.at_ms as f64)) }
                                    td { (e.kind.label()) }
                                    td { (event_detail(&e.kind)) }
                                    td { (e.actor) }
                                    td { (e.reason) }
                                    td { (if e.automatic { "yes" } else { "no" }) }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if s.config().admin_enabled {
            (admin_forms(&name, &d))
        } @else {
            p.muted id="admin-disabled" { "Admin actions are disabled: the server has no admin token configured." }
        }
    };
    Ok(page(&format!("Deployment {name}"), body))
}

async fn live(
    State(s): State<ConsoleState>,
    Path(name): Path<String>,
) -> Result<Response, PageError> {
    let d = deployment(&s, &name)?;
    Ok(fragment(live_table(&s, &d)))
}
