//! The pipelines pages: pipeline runs (the reports `mlops_pipeline` stores as
//! `<cache>/runs/<run_id>.json`) and HPO studies (read from their journals without taking
//! the study's lock, so a running study is shown as it goes).
//!
//! - `GET /ui/pipelines`: every run of every configured cache, and the studies
//! - `GET /ui/pipelines/runs/{id}`: one run's steps, gate report and registered version
//! - `GET /ui/studies/{index}`: one study's trials and a chart of values and best-so-far

use std::path::{Path as FsPath, PathBuf};

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use maud::{html, Markup, PreEscaped};
use mlops_pipeline::hpo::journal::Journal;
use mlops_pipeline::hpo::study::{replay, History};
use mlops_pipeline::hpo::{Direction, ParamValue, TrialState};
use mlops_pipeline::{RunReport, StepStatus, TriggerCause};

use super::{page, ConsoleConfig, ConsoleState, PageError};
use crate::html::{num_td, sort_th};
use crate::svg::{Chart, Role};

/// Adds this module's routes.
pub(super) fn routes(r: Router<ConsoleState>) -> Router<ConsoleState> {
    r.route("/ui/pipelines", get(list))
        .route("/ui/pipelines/runs/{id}", get(run))
        .route("/ui/studies/{index}", get(study))
}

/// One run file: its report, or why it could not be read.
struct RunFile {
    path: PathBuf,
    report: Result<RunReport, String>,
}

/// Every `runs/*.json` of every cache; a cache whose `runs` folder cannot be listed is one
/// error entry.
fn scan_runs(c: &ConsoleConfig) -> (Vec<RunFile>, Vec<String>) {
    let mut files = Vec::new();
    let mut problems = Vec::new();
    for cache in &c.pipeline_caches {
        let dir = cache.join("runs");
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) => {
                problems.push(format!("{}: {e}", dir.display()));
                continue;
            }
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().and_then(|x| x.to_str()) != Some("json") {
                continue;
            }
            let report = read_run(&path);
            files.push(RunFile { path, report });
        }
    }
    files.sort_by(|a, b| match (&a.report, &b.report) {
        (Ok(x), Ok(y)) => y.started_at.cmp(&x.started_at),
        (Ok(_), Err(_)) => std::cmp::Ordering::Less,
        (Err(_), Ok(_)) => std::cmp::Ordering::Greater,
        (Err(_), Err(_)) => a.path.cmp(&b.path),
    });
    (files, problems)
}

fn read_run(path: &FsPath) -> Result<RunReport, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("not a run report: {e}"))
}

fn trigger(t: &TriggerCause) -> String {
    t.label()
}

fn gate_verdict(g: Option<&serde_json::Value>) -> Markup {
    match g
        .and_then(|g| g.get("passed"))
        .and_then(serde_json::Value::as_bool)
    {
        Some(true) => html! { span.ok data-gate="passed" { "passed" } },
        Some(false) => html! { span.bad data-gate="failed" { "failed" } },
        None => html! { span.muted data-gate="none" { "–" } },
    }
}

fn count(r: &RunReport, s: StepStatus) -> usize {
    r.steps.iter().filter(|x| x.status == s).count()
}

fn status_label(s: StepStatus) -> &'static str {
    match s {
        StepStatus::Ran => "ran",
        StepStatus::Cached => "cached",
        StepStatus::Failed => "failed",
        StepStatus::Skipped => "skipped",
    }
}

fn registered_link(r: &RunReport) -> Markup {
    match &r.registered {
        Some(reg) => html! {
            a href=(super::version_href(&reg.name, reg.version)) { (reg.name) "/" (reg.version) }
            @if let Some(a) = &reg.alias { " " span.tag { (a) } }
        },
        None => html! { "–" },
    }
}

/// A study journal's name and trials, or why it could not be read.
fn read_study(path: &FsPath) -> Result<History, String> {
    let read = Journal::read(path).map_err(|e| e.to_string())?;
    replay(path, &read.entries).map_err(|e| e.to_string())
}

async fn list(State(s): State<ConsoleState>) -> Result<Response, PageError> {
    let body = s
        .blocking(|c| {
            let (runs, problems) = scan_runs(c);
            let studies: Vec<(PathBuf, Result<History, String>)> = c
                .studies
                .iter()
                .map(|p| (p.clone(), read_study(p)))
                .collect();
            Ok(list_body(c, &runs, &problems, &studies))
        })
        .await?;
    Ok(page("Pipelines", body))
}

fn list_body(
    c: &ConsoleConfig,
    runs: &[RunFile],
    problems: &[String],
    studies: &[(PathBuf, Result<History, String>)],
) -> Markup {
    html! {
        h1 { "Pipelines" }
        section aria-labelledby="runs-h" {
            h2 id="runs-h" { "Pipeline runs" }
            @if c.pipeline_caches.is_empty() {
                p { "No pipeline cache is configured." }
            } @else {
                p.muted { "From " @for (i, d) in c.pipeline_caches.iter().enumerate() { @if i > 0 { ", " } code { (d.display()) } } "." }
            }
            @for p in problems { p.warn role="status" { "Cannot list " (p) } }
            @if !runs.is_empty() {
                div.table-wrap {
                    table.sortable id="runs" {
                        thead { tr {
                            (sort_th("run", false)) (sort_th("pipeline", false)) (sort_th("trigger", false))
                            (sort_th("started", false)) (sort_th("duration (s)", true))
                            (sort_th("ran", true)) (sort_th("cached", true)) (sort_th("failed", true))
                            (sort_th("gate", false)) (sort_th("registered", false))
                        } }
                        tbody {
                            @for f in runs {
                                @match &f.report {
                                    Ok(r) => {
                                        tr data-run=(r.run_id) {
                                            td { a href={ "/ui/pipelines/runs/" (super::path_segment(&r.run_id)) } { code { (short_id(&r.run_id)) } } }
                                            td { (r.pipeline) }
                                            td { (trigger(&r.trigger)) }
                                            td { (r.started_at) }
                                            (num_td(r.duration_s))
                                            td.num data-v=(count(r, StepStatus::Ran)) { (count(r, StepStatus::Ran)) }
                                            td.num data-v=(count(r, StepStatus::Cached)) { (count(r, StepStatus::Cached)) }
                                            td.num data-v=(count(r, StepStatus::Failed)) { (count(r, StepStatus::Failed)) }
                                            td { (gate_verdict(r.gate.as_ref())) }
                                            td { (registered_link(r)) }
                                        }
                                    }
                                    Err(e) => {
                                        tr.unreadable data-unreadable=(f.path.display()) {
                                            td { code { (f.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()) } }
                                            td.bad colspan="9" { "unreadable run file " code { (f.path.display()) } ": " (e) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            } @else if !c.pipeline_caches.is_empty() {
                p { "No runs yet." }
            }
        }
        section aria-labelledby="studies-h" {
            h2 id="studies-h" { "HPO studies" }
            @if studies.is_empty() {
                p { "No study journal is configured." }
            } @else {
                div.table-wrap {
                    table id="studies" {
                        thead { tr {
                            th scope="col" { "study" } th scope="col" { "journal" } th scope="col" { "direction" }
                            th.num scope="col" { "trials" } th.num scope="col" { "best value" }
                        } }
                        tbody {
                            @for (i, (p, h)) in studies.iter().enumerate() {
                                @match h {
                                    Ok(h) => tr data-study=(i) {
                                        td { a href={ "/ui/studies/" (i) } { (h.spec.name) } }
                                        td { code { (p.display()) } }
                                        td { (direction(h.spec.direction)) }
                                        td.num { (h.trials.len()) }
                                        (num_td(h.best().and_then(|b| b.value).unwrap_or(f64::NAN)))
                                    },
                                    Err(e) => tr.unreadable data-study=(i) {
                                        td { a href={ "/ui/studies/" (i) } { "study " (i) } }
                                        td { code { (p.display()) } }
                                        td.bad colspan="3" { "unreadable: " (e) }
                                    },
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn short_id(id: &str) -> String {
    id.chars().take(12).collect()
}

fn direction(d: Direction) -> &'static str {
    match d {
        Direction::Minimize => "minimize",
        Direction::Maximize => "maximize",
    }
}

async fn run(State(s): State<ConsoleState>, Path(id): Path<String>) -> Result<Response, PageError> {
    if id.is_empty()
        || id.len() > 128
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(PageError::bad_request(format!("invalid run id {id:?}")));
    }
    let (title, body) = s
        .blocking(move |c| {
            let file = c
                .pipeline_caches
                .iter()
                .map(|d| d.join("runs").join(format!("{id}.json")))
                .find(|p| p.is_file())
                .ok_or_else(|| {
                    PageError::not_found(format!("no pipeline run {id} in the configured caches"))
                })?;
            let r = read_run(&file)
                .map_err(|e| PageError::internal(format!("run file {}: {e}", file.display())))?;
            Ok((
                format!("Run {} of {}", short_id(&r.run_id), r.pipeline),
                run_body(&r),
            ))
        })
        .await?;
    Ok(page(&title, body))
}

fn run_body(r: &RunReport) -> Markup {
    html! {
        h1 { "Pipeline run " code { (r.run_id) } }
        p { a href="/ui/pipelines" { "All runs" } }
        ul.summary {
            li { "Pipeline" b { (r.pipeline) } }
            li { "Trigger" b { (trigger(&r.trigger)) } }
            li { "Started" b { (r.started_at) } }
            li { "Duration" b { (crate::svg::fmt_num(r.duration_s)) " s" } }
            li { "Steps" b { (count(r, StepStatus::Ran)) " ran · " (count(r, StepStatus::Cached)) " cached" } }
            li { "Gate" b { (gate_verdict(r.gate.as_ref())) } }
            li { "Registered" b { (registered_link(r)) } }
        }
        section aria-labelledby="steps-h" {
            h2 id="steps-h" { "Steps" }
            div.table-wrap {
                table.sortable id="steps" {
                    thead { tr {
                        (sort_th("step", false)) (sort_th("status", false)) (sort_th("duration (s)", true))
                        (sort_th("outputs", false)) (sort_th("why", false))
                    } }
                    tbody {
                        @for st in &r.steps {
                            tr data-step=(st.name) data-status=(status_label(st.status)) {
                                td { (st.name) }
                                td class=[matches!(st.status, StepStatus::Failed | StepStatus::Skipped).then_some("bad")] { (status_label(st.status)) }
                                (num_td(st.duration_s))
                                td {
                                    @if st.outputs.is_empty() { "–" }
                                    @for (k, d) in &st.outputs { span.tag title=(d) { (k) ": " code { (d.chars().take(12).collect::<String>()) } } }
                                }
                                td {
                                    @if let Some(e) = &st.error { span.bad { (e) } }
                                    @else if let Some(why) = &st.reason { (why) }
                                }
                            }
                        }
                    }
                }
            }
        }
        section aria-labelledby="gate-h" {
            h2 id="gate-h" { "Gate" }
            @match &r.gate {
                None => p.muted { "No gate report (the pipeline has no [gate], or a step failed)." },
                Some(g) => (gate_body(g)),
            }
        }
    }
}

fn gate_body(g: &serde_json::Value) -> Markup {
    let list = |k: &str| -> Vec<String> {
        g.get(k)
            .and_then(serde_json::Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (reasons, notes) = (list("reasons"), list("notes"));
    let pretty = serde_json::to_string_pretty(g).unwrap_or_default();
    html! {
        p { "Verdict: " (gate_verdict(Some(g))) }
        @if !reasons.is_empty() { h3 { "Why it failed" } ul id="gate-reasons" { @for x in &reasons { li { (x) } } } }
        @if !notes.is_empty() { h3 { "Notes" } ul { @for x in &notes { li { (x) } } } }
        details { summary { "The full gate report (JSON)" } pre { code { (pretty) } } }
    }
}

async fn study(
    State(s): State<ConsoleState>,
    Path(index): Path<String>,
) -> Result<Response, PageError> {
    let i: usize = index.parse().map_err(|_| {
        PageError::bad_request(format!("study index must be a number, got {index:?}"))
    })?;
    let (title, body) = s
        .blocking(move |c| {
            let path = c.studies.get(i).ok_or_else(|| {
                PageError::not_found(format!(
                    "no study {i} (the console has {})",
                    c.studies.len()
                ))
            })?;
            let h = read_study(path).map_err(|e| {
                PageError::internal(format!("study journal {}: {e}", path.display()))
            })?;
            Ok((format!("Study {}", h.spec.name), study_body(path, &h)))
        })
        .await?;
    Ok(page(&title, body))
}

fn param(v: &ParamValue) -> String {
    match v {
        ParamValue::Int(i) => i.to_string(),
        ParamValue::Float(f) => crate::svg::fmt_num(*f),
        ParamValue::Str(s) => s.clone(),
    }
}

fn state_label(s: TrialState) -> &'static str {
    match s {
        TrialState::Running => "running",
        TrialState::Complete => "complete",
        TrialState::Pruned => "pruned",
        TrialState::Fail => "fail",
    }
}

/// The values of complete trials, and the best value so far after each of them.
fn progress(h: &History) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (mut xs, mut ys, mut best) = (Vec::new(), Vec::new(), Vec::new());
    let mut b: Option<f64> = None;
    for r in h.trials.values() {
        let t = &r.trial;
        let (TrialState::Complete, Some(v)) = (t.state, t.value) else {
            continue;
        };
        xs.push(t.number as f64);
        ys.push(v);
        let nb = match (b, h.spec.direction) {
            (None, _) => v,
            (Some(b), Direction::Minimize) => b.min(v),
            (Some(b), Direction::Maximize) => b.max(v),
        };
        b = Some(nb);
        best.push(nb);
    }
    (xs, ys, best)
}

fn study_body(path: &FsPath, h: &History) -> Markup {
    let names: std::collections::BTreeSet<&String> = h
        .trials
        .values()
        .flat_map(|r| r.trial.params.keys())
        .collect();
    let (xs, ys, best) = progress(h);
    let pruned: Vec<(f64, f64)> = h
        .trials
        .values()
        .filter(|r| r.trial.state == TrialState::Pruned)
        .filter_map(|r| Some((r.trial.number as f64, r.trial.value?)))
        .collect();
    let chart = (!xs.is_empty()).then(|| {
        let mut c = Chart::new(
            &format!(
                "{} — trial values and best so far ({})",
                h.spec.name,
                direction(h.spec.direction)
            ),
            640,
            300,
        )
        .labels("trial", "value")
        .markers("trial value", Role::Reference, &xs, &ys)
        .step("best so far", Role::Current, &xs, &best);
        if !pruned.is_empty() {
            let (px, py): (Vec<f64>, Vec<f64>) = pruned.iter().copied().unzip();
            c = c.markers("pruned", Role::Other, &px, &py);
        }
        c.render()
    });
    let best_trial = h.best();
    html! {
        h1 { "Study " (h.spec.name) }
        p { a href="/ui/pipelines" { "Pipelines and studies" } }
        ul.summary {
            li { "Journal" b { code { (path.display()) } } }
            li { "Direction" b { (direction(h.spec.direction)) } }
            li { "Trials" b { (h.trials.len()) } }
            li { "Sampler" b { (h.spec.sampler) } }
            li { "Best" b { @match best_trial {
                Some(t) => { "#" (t.number) " = " (crate::svg::fmt_num(t.value.unwrap_or(f64::NAN))) }
                None => "–",
            } } }
        }
        @if let Some(svg) = chart { div.charts { (PreEscaped(svg)) } }
        section aria-labelledby="trials-h" {
            h2 id="trials-h" { "Trials" }
            div.table-wrap {
                table.sortable id="trials" {
                    thead { tr {
                        (sort_th("trial", true)) (sort_th("state", false)) (sort_th("value", true))
                        @for n in &names { (sort_th(n, false)) }
                    } }
                    tbody {
                        @for r in h.trials.values() {
                            @let t = &r.trial;
                            tr data-trial=(t.number) data-state=(state_label(t.state)) {
                                td.num data-v=(t.number) { (t.number) }
                                td { (state_label(t.state)) @if r.queued { " (queued)" } }
                                (num_td(t.value.unwrap_or(f64::NAN)))
                                @for n in &names {
                                    @match t.params.get(*n) {
                                        Some(ParamValue::Int(i)) => td.num data-v=(i) { (i) },
                                        Some(ParamValue::Float(f)) => (num_td(*f)),
                                        Some(v) => td { (param(v)) },
                                        None => td { "–" },
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
