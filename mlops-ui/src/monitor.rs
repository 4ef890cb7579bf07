//! The monitoring report as HTML (`mlops monitor report --format html`, and the console's
//! monitoring page).
//!
//! What it shows, per the report's own numbers (nothing is recomputed here):
//! - a summary: windows, series (model × version × arm), label join counts, firing alerts;
//! - the alerts as a table (rule, state, series, metric, value, bound, since);
//! - per series (model, version, arm; per-segment windows are left out of the charts):
//!   label coverage over windows; each CBPE estimate (`estimated.<m>`) with its sampling
//!   band (`estimated.<m>.lower`/`.upper`) against the realised `m`; every other metric over
//!   windows (`class.*` and per-column `quality.<col>.*` are left out: too many). A metric an
//!   alert rule watches gets the rule's bound as a shaded band (the allowed region) and the
//!   windows where the alert was pending or firing as rings;
//! - A/B per model: a table of each arm's rates and means with their confidence intervals, the
//!   tests of each challenger against the baseline, and a chart of the deciding metric per arm
//!   with its interval;
//! - [`feature_drift_body`]: per input column, the deciding drift statistic
//!   (`drift.<col>.statistic`) and its p-value over windows, plus the drift share.
//!
//! Every series is a `data-series` named by the full metric name with as many points as the
//! series has windows with that value.

use std::collections::BTreeMap;

use maud::{html, Markup, PreEscaped};
use mlops_monitor::ab::ModelAb;
use mlops_monitor::labels::IngestSummary;
use mlops_monitor::report::{MonitorReport, WindowReport};

use crate::html::{document, num_td, sort_th, Assets};
use crate::svg::{fmt_num, fmt_time, Chart, Role};

const W: u32 = 460;
const H: u32 = 240;

/// A series of windows: model, version, arm.
type Key = (String, u64, String);

/// One alert of `report.alerts`, read from its JSON form (fields of
/// `mlops_monitor::alert::Alert`).
#[derive(Debug, Clone)]
struct AlertView {
    rule: String,
    state: String,
    key: Key,
    segment: Option<String>,
    metric: String,
    value: f64,
    bound: String,
    /// The allowed region `[lo, hi]` (infinite on an unbounded side).
    allowed: Option<(f64, f64)>,
    starts_at_ms: i64,
    ends_at_ms: Option<i64>,
}

fn alert_views(report: &MonitorReport) -> Vec<AlertView> {
    report
        .alerts
        .iter()
        .filter_map(|a| {
            let key = a.get("key")?;
            let segment = key.get("segment").and_then(|s| {
                let s = s.as_array()?;
                Some(format!(
                    "{}={}",
                    s.first()?.as_str()?,
                    s.get(1)?.as_str().unwrap_or("")
                ))
            });
            let value = match a.get("value") {
                Some(serde_json::Value::Number(n)) => n.as_f64().unwrap_or(f64::NAN),
                Some(serde_json::Value::String(s)) => s.parse().unwrap_or(f64::NAN),
                _ => f64::NAN,
            };
            let bound = a
                .get("bound")
                .and_then(|b| b.as_str())
                .unwrap_or("")
                .to_string();
            let side = |k: &str| a.get(k).and_then(serde_json::Value::as_f64);
            let allowed = match (side("allowed_min"), side("allowed_max")) {
                (None, None) => allowed_region(&bound),
                (lo, hi) => Some((lo.unwrap_or(f64::NEG_INFINITY), hi.unwrap_or(f64::INFINITY))),
            };
            Some(AlertView {
                rule: a.get("rule")?.as_str()?.to_string(),
                state: a.get("state")?.as_str().unwrap_or("").to_string(),
                key: (
                    key.get("model")?.as_str()?.to_string(),
                    key.get("version")?.as_u64()?,
                    key.get("arm")?.as_str()?.to_string(),
                ),
                segment,
                metric: a
                    .get("annotations")
                    .and_then(|n| n.get("metric"))
                    .and_then(|m| m.as_str())
                    .unwrap_or("")
                    .to_string(),
                value,
                bound,
                allowed,
                starts_at_ms: a.get("starts_at_ms").and_then(|v| v.as_i64()).unwrap_or(0),
                ends_at_ms: a.get("ends_at_ms").and_then(|v| v.as_i64()),
            })
        })
        .collect()
}

/// A rule's bound (`"> 1"`, `"< 0.8"`, `"outside [a, b]"`, `"outside reference band [a, b]"`)
/// as the allowed region `[lo, hi]`: only for alerts written before the engine recorded
/// `allowed_min`/`allowed_max` (older alert state files).
fn allowed_region(bound: &str) -> Option<(f64, f64)> {
    let b = bound.trim();
    if let Some(x) = b.strip_prefix("> ") {
        return Some((f64::NEG_INFINITY, x.trim().parse().ok()?));
    }
    if let Some(x) = b.strip_prefix("< ") {
        return Some((x.trim().parse().ok()?, f64::INFINITY));
    }
    let inner = b.rsplit_once('[')?.1.strip_suffix(']')?;
    let (lo, hi) = inner.split_once(',')?;
    Some((lo.trim().parse().ok()?, hi.trim().parse().ok()?))
}

fn breaches(bound: Option<(f64, f64)>, v: f64) -> bool {
    match bound {
        Some((lo, hi)) => v < lo || v > hi,
        None => true,
    }
}

/// The per-key windows (segment windows left out), in the report's order (by start).
fn series(report: &MonitorReport) -> BTreeMap<Key, Vec<&WindowReport>> {
    let mut out: BTreeMap<Key, Vec<&WindowReport>> = BTreeMap::new();
    for w in report.windows.iter().filter(|w| w.segment.is_none()) {
        out.entry((w.model.clone(), w.version, w.arm.clone()))
            .or_default()
            .push(w);
    }
    out
}

fn key_label(k: &Key) -> String {
    format!("{} v{} · {}", k.0, k.1, k.2)
}

fn value_of(w: &WindowReport, name: &str) -> Option<f64> {
    if name == "label_coverage" {
        return w.label_coverage;
    }
    w.metrics
        .get(name)
        .or_else(|| w.estimated.get(name))
        .or_else(|| w.drift.get(name))
        .or_else(|| w.kpi.get(name))
        .or_else(|| w.quality.get(name))
        .copied()
}

fn xs(ws: &[&WindowReport]) -> Vec<f64> {
    ws.iter().map(|w| w.start_ms as f64).collect()
}

fn ys(ws: &[&WindowReport], name: &str) -> Vec<f64> {
    ws.iter()
        .map(|w| value_of(w, name).unwrap_or(f64::NAN))
        .collect()
}

/// The charted metrics of a series, in name order: realised metrics (not `class.*`), KPIs,
/// aggregate quality values, the drift share and prediction drift.
fn charted_metrics(ws: &[&WindowReport]) -> Vec<String> {
    let mut names = std::collections::BTreeSet::new();
    for w in ws {
        names.extend(
            w.metrics
                .keys()
                .filter(|n| !n.starts_with("class."))
                .cloned(),
        );
        names.extend(w.kpi.keys().cloned());
        names.extend(
            w.quality
                .keys()
                .filter(|n| n.matches('.').count() == 1)
                .cloned(),
        );
        names.extend(
            w.drift
                .keys()
                .filter(|n| *n == "drift_share" || n.starts_with("prediction_drift."))
                .cloned(),
        );
    }
    names.into_iter().collect()
}

/// A metric chart with the alerts of `key` on `metric`: the rule's allowed band and rings on
/// the windows where the alert was pending or firing.
fn metric_chart(
    title: &str,
    key: &Key,
    ws: &[&WindowReport],
    names: &[(&str, Role)],
    alerts: &[AlertView],
    range: Option<(f64, f64)>,
) -> String {
    let x = xs(ws);
    let mut chart = Chart::new(title, W, H)
        .time_axis()
        .labels("window start (UTC)", "");
    let on_chart: Vec<&AlertView> = alerts
        .iter()
        .filter(|a| {
            &a.key == key && a.segment.is_none() && names.iter().any(|(n, _)| *n == a.metric)
        })
        .collect();
    match range {
        Some((lo, hi)) => chart = chart.y_range(lo, hi),
        None if !on_chart.is_empty() => {
            // The data and the rules' finite bounds, so that a band off the data still shows.
            let values = names
                .iter()
                .flat_map(|(n, _)| ys(ws, n))
                .chain(
                    on_chart
                        .iter()
                        .filter_map(|a| a.allowed)
                        .flat_map(|(lo, hi)| [lo, hi]),
                )
                .filter(|v| v.is_finite());
            let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                (a.min(v), b.max(v))
            });
            if lo.is_finite() && hi.is_finite() {
                let pad = 0.05 * (hi - lo).max(f64::EPSILON);
                chart = chart.y_range(lo - pad, hi + pad);
            }
        }
        None => {}
    }
    for a in &on_chart {
        if let Some((lo, hi)) = a.allowed {
            chart = chart.band(&format!("{} allowed: {}", a.rule, a.bound), lo, hi);
        }
    }
    for (name, role) in names {
        chart = chart.line(name, *role, &x, &ys(ws, name));
    }
    for a in &on_chart {
        let bound = a.allowed;
        let (mut mx, mut my) = (Vec::new(), Vec::new());
        for w in ws {
            let in_alert = w.end_ms >= a.starts_at_ms && a.ends_at_ms.is_none_or(|e| w.end_ms < e);
            if let Some(v) = value_of(w, &a.metric) {
                if in_alert && breaches(bound, v) {
                    mx.push(w.start_ms as f64);
                    my.push(v);
                }
            }
        }
        chart = chart.markers(&format!("alert: {}", a.rule), Role::Alert, &mx, &my);
    }
    chart.render()
}

fn unit_range(name: &str) -> Option<(f64, f64)> {
    let bounded = [
        "accuracy",
        "precision",
        "recall",
        "f1",
        "roc_auc",
        "error_rate",
        "label_coverage",
        "drift_share",
    ];
    (bounded
        .iter()
        .any(|b| name == *b || name.starts_with(&format!("{b}_")))
        || name.starts_with("estimated."))
    .then_some((0.0, 1.0))
}

fn series_section(i: usize, key: &Key, ws: &[&WindowReport], alerts: &[AlertView]) -> Markup {
    let mut charts = vec![metric_chart(
        &format!("label coverage — {}", key_label(key)),
        key,
        ws,
        &[("label_coverage", Role::Other)],
        alerts,
        Some((0.0, 1.0)),
    )];
    let mut estimated: Vec<&str> = Vec::new();
    for w in ws {
        for n in w.estimated.keys() {
            let m = &n["estimated.".len().min(n.len())..];
            if !m.ends_with(".lower") && !m.ends_with(".upper") && !estimated.contains(&m) {
                estimated.push(m);
            }
        }
    }
    for m in &estimated {
        let (e, lo, hi) = (
            format!("estimated.{m}"),
            format!("estimated.{m}.lower"),
            format!("estimated.{m}.upper"),
        );
        charts.push(metric_chart(
            &format!("{m}: estimated (CBPE) vs realised — {}", key_label(key)),
            key,
            ws,
            &[
                (m, Role::Reference),
                (&e, Role::Current),
                (&lo, Role::Other2),
                (&hi, Role::Other2),
            ],
            alerts,
            Some((0.0, 1.0)),
        ));
    }
    for m in charted_metrics(ws)
        .iter()
        .filter(|m| !estimated.contains(&m.as_str()))
    {
        charts.push(metric_chart(
            &format!("{m} — {}", key_label(key)),
            key,
            ws,
            &[(m, Role::Current)],
            alerts,
            unit_range(m),
        ));
    }
    let rows: u64 = ws.iter().map(|w| w.n_predictions).sum();
    let labelled: u64 = ws.iter().map(|w| w.n_labelled).sum();
    html! {
        section.series id={ "series-" (i) } data-model=(key.0) data-version=(key.1) data-arm=(key.2) data-windows=(ws.len()) {
            h3 { (key_label(key)) }
            p.muted { (ws.len()) " windows · " (rows) " predictions · " (labelled) " labelled" }
            div.charts { @for svg in &charts { (PreEscaped(svg)) } }
        }
    }
}

fn alerts_table(alerts: &[AlertView]) -> Markup {
    html! {
        @if alerts.is_empty() {
            p.muted id="no-alerts" { "No alert is pending or firing (or no rules were given)." }
        } @else {
            div.table-wrap {
                table.sortable id="alerts" {
                    thead { tr {
                        (sort_th("rule", false)) (sort_th("state", false)) (sort_th("model", false))
                        (sort_th("version", true)) (sort_th("arm", false)) (sort_th("segment", false))
                        (sort_th("metric", false)) (sort_th("value", true)) (sort_th("bound", false))
                        (sort_th("since", false))
                    } }
                    tbody {
                        @for a in alerts {
                            tr data-rule=(a.rule) data-state=(a.state) {
                                td { (a.rule) }
                                td class=[(a.state == "firing").then_some("bad")] { (a.state) }
                                td { (a.key.0) }
                                td.num data-v=(a.key.1) { (a.key.1) }
                                td { (a.key.2) }
                                td { (a.segment.as_deref().unwrap_or("–")) }
                                td { (a.metric) }
                                (num_td(a.value))
                                td { (a.bound) }
                                td data-v=(a.starts_at_ms) { (fmt_time(a.starts_at_ms as f64)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn ci(lo: f64, hi: f64) -> String {
    format!("[{}, {}]", fmt_num(lo), fmt_num(hi))
}

fn ab_section(model: &str, ab: &ModelAb) -> Markup {
    let mut names: Vec<String> = Vec::new();
    for a in &ab.arms {
        for n in a.rates.keys().chain(a.means.keys()) {
            if !names.contains(n) {
                names.push(n.clone());
            }
        }
    }
    // The deciding metric per arm with its interval: a point and a vertical segment each.
    let mut chart = Chart::new(
        &format!(
            "{model}: {} per arm ({}), 95 % CI",
            ab.metric,
            ab.arms
                .iter()
                .enumerate()
                .map(|(i, a)| format!("{i} = {} v{}", a.arm, a.version))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        W + 100,
        H,
    )
    .labels("arm", &ab.metric)
    .x_range(-0.5, ab.arms.len() as f64 - 0.5);
    let (mut px, mut py) = (Vec::new(), Vec::new());
    for (i, a) in ab.arms.iter().enumerate() {
        let point = a
            .rates
            .get(&ab.metric)
            .map(|r| (r.value, r.ci.lower, r.ci.upper))
            .or_else(|| {
                a.means
                    .get(&ab.metric)
                    .map(|m| (m.mean, m.ci.lower, m.ci.upper))
            });
        if let Some((v, lo, hi)) = point {
            px.push(i as f64);
            py.push(v);
            chart = chart.vsegment(&format!("{} CI", a.arm), Role::Reference, i as f64, lo, hi);
        }
    }
    let chart = (!px.is_empty()).then(|| {
        chart
            .markers(&format!("{} per arm", ab.metric), Role::Current, &px, &py)
            .render()
    });
    html! {
        section.ab data-model=(model) data-arms=(ab.arms.len()) {
            h3 { "A/B — " (model) }
            p { "Deciding metric " b { (ab.metric) } "; winner: "
                b id={ "winner-" (model) } { (ab.winner.as_deref().unwrap_or("none")) } }
            div.table-wrap {
                table.sortable.ab-arms {
                    thead { tr {
                        (sort_th("arm", false)) (sort_th("version", true)) (sort_th("rows", true))
                        @for n in &names { (sort_th(n, true)) th scope="col" { (n) " 95 % CI" } }
                    } }
                    tbody {
                        @for a in &ab.arms {
                            tr data-arm=(a.arm) {
                                td { (a.arm) }
                                td.num data-v=(a.version) { (a.version) }
                                td.num data-v=(a.n) { (a.n) }
                                @for n in &names {
                                    @if let Some(r) = a.rates.get(n) {
                                        (num_td(r.value)) td { (ci(r.ci.lower, r.ci.upper)) }
                                    } @else if let Some(m) = a.means.get(n) {
                                        (num_td(m.mean)) td { (ci(m.ci.lower, m.ci.upper)) }
                                    } @else {
                                        td.num data-v="" { "–" } td { "–" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if !ab.comparisons.is_empty() {
                div.table-wrap {
                    table.sortable.ab-tests {
                        thead { tr {
                            (sort_th("challenger", false)) (sort_th("baseline", false)) (sort_th("metric", false))
                            (sort_th("difference", true)) th scope="col" { "95 % CI" }
                            (sort_th("statistic", true)) (sort_th("p-value", true))
                        } }
                        tbody {
                            @for c in &ab.comparisons {
                                @for (m, t) in &c.metrics {
                                    tr {
                                        td { (c.arm) " v" (c.version) }
                                        td { (c.baseline) }
                                        td { (m) }
                                        (num_td(t.difference))
                                        td { (ci(t.ci.lower, t.ci.upper)) }
                                        (num_td(t.test.statistic)) (num_td(t.test.p_value))
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @match chart {
                Some(svg) => { div.charts { (PreEscaped(svg)) } }
                None => { p.muted { "No arm has " (ab.metric) " yet (it needs labels)." } }
            }
        }
    }
}

/// The monitoring report's content (no page shell): summary, alerts, per-series charts and
/// A/B results. `labels` are the label join counts, when known.
pub fn monitor_body(report: &MonitorReport, labels: Option<&IngestSummary>) -> Markup {
    let alerts = alert_views(report);
    let firing = alerts.iter().filter(|a| a.state == "firing").count();
    let groups = series(report);
    html! {
        section aria-labelledby="mon-summary-h" {
            h2 id="mon-summary-h" { "Summary" }
            ul.summary id="monitor-summary" data-windows=(report.windows.len()) data-firing=(firing) {
                li { "Windows" b { (report.windows.len()) } }
                li { "Series" b { (groups.len()) } span.muted { "model × version × arm" } }
                li { "Firing alerts" b class=(if firing > 0 { "bad" } else { "ok" }) { (firing) } }
                @if let Some(l) = labels {
                    li { "Labels" b { (l.matched) " / " (l.received) " joined" }
                        span.muted { (l.late) " late · " (l.duplicate) " duplicate · " (l.unknown) " unknown" } }
                }
            }
        }
        section aria-labelledby="mon-alerts-h" {
            h2 id="mon-alerts-h" { "Alerts" }
            (alerts_table(&alerts))
        }
        section aria-labelledby="mon-series-h" {
            h2 id="mon-series-h" { "Metrics over windows" }
            @if groups.is_empty() { p.muted { "The log has no windows yet." } }
            @for (i, (key, ws)) in groups.iter().enumerate() { (series_section(i, key, ws, &alerts)) }
        }
        @if !report.ab.models.is_empty() {
            section aria-labelledby="mon-ab-h" {
                h2 id="mon-ab-h" { "A/B comparison" }
                @for (model, ab) in &report.ab.models { (ab_section(model, ab)) }
            }
        }
    }
}

/// Per input column, the deciding drift statistic and its p-value over windows, per series
/// (`drift.<col>.statistic`, `drift.<col>.p_value`), with the unknown-category rate when the
/// column has one. Empty when the report has no per-column drift (no reference profile).
pub fn feature_drift_body(report: &MonitorReport) -> Markup {
    let groups = series(report);
    let mut parts: Vec<Markup> = Vec::new();
    for (key, ws) in &groups {
        let cols = drift_columns(ws);
        if cols.is_empty() {
            continue;
        }
        let x = xs(ws);
        let mut details = Vec::new();
        for col in &cols {
            let stat = format!("drift.{col}.statistic");
            let p = format!("drift.{col}.p_value");
            let unk = format!("unknown_rate.{col}");
            let mut charts = vec![Chart::new(&format!("{col} — drift statistic"), W, H)
                .time_axis()
                .labels("window start (UTC)", "statistic")
                .line(&stat, Role::Current, &x, &ys(ws, &stat))
                .render()];
            if ws.iter().any(|w| w.drift.contains_key(&p)) {
                charts.push(
                    Chart::new(&format!("{col} — p-value"), W, H)
                        .time_axis()
                        .labels("window start (UTC)", "p-value")
                        .y_range(0.0, 1.0)
                        .line(&p, Role::Reference, &x, &ys(ws, &p))
                        .render(),
                );
            }
            if ws.iter().any(|w| w.drift.contains_key(&unk)) {
                charts.push(
                    Chart::new(&format!("{col} — unseen categories"), W, H)
                        .time_axis()
                        .labels("window start (UTC)", "share")
                        .y_range(0.0, 1.0)
                        .line(&unk, Role::Alert, &x, &ys(ws, &unk))
                        .render(),
                );
            }
            details.push(html! {
                details.column data-column=(col) {
                    summary { (col) }
                    div.charts { @for svg in &charts { (PreEscaped(svg)) } }
                }
            });
        }
        parts.push(html! {
            h3 { (key_label(key)) }
            @for d in &details { (d) }
        });
    }
    html! {
        section aria-labelledby="mon-drift-h" {
            h2 id="mon-drift-h" { "Drift per feature" }
            @if parts.is_empty() {
                p.muted id="no-feature-drift" { "No per-feature drift: the report has no reference profile (give --reference-until or --reference-profile)." }
            }
            @for part in &parts { (part) }
        }
    }
}

fn drift_columns(ws: &[&WindowReport]) -> Vec<String> {
    let mut cols = std::collections::BTreeSet::new();
    for w in ws {
        for n in w.drift.keys() {
            if let Some(c) = n
                .strip_prefix("drift.")
                .and_then(|r| r.strip_suffix(".statistic"))
            {
                cols.insert(c.to_string());
            }
        }
    }
    cols.into_iter().collect()
}

/// The monitoring report as one self-contained HTML document titled `title` (inline assets,
/// the no-network CSP): [`monitor_body`] then [`feature_drift_body`].
pub fn monitor_report_html(
    report: &MonitorReport,
    labels: Option<&IngestSummary>,
    title: &str,
) -> String {
    let body = html! {
        h1 { (title) }
        (monitor_body(report, labels))
        (feature_drift_body(report))
    };
    document(title, Assets::Inline, html! {}, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(i: i64, model: &str, arm: &str, acc: f64, est: f64) -> serde_json::Value {
        serde_json::json!({
            "start": "", "end": "", "start_ms": i * 3_600_000, "end_ms": (i + 1) * 3_600_000,
            "model": model, "version": 1, "arm": arm, "segment": null,
            "n_predictions": 100, "n_labelled": 50, "label_coverage": 0.5,
            "metrics": {"accuracy": acc, "class.a.recall": 0.5},
            "estimated": {"estimated.accuracy": est, "estimated.accuracy.lower": est - 0.05,
                          "estimated.accuracy.upper": est + 0.05},
            "drift": {"drift_share": 0.0, "drift.x.statistic": 0.1 * i as f64, "drift.x.p_value": 0.5},
            "kpi": {}, "skipped": {}
        })
    }

    fn arm(name: &str, acc: f64) -> serde_json::Value {
        serde_json::json!({
            "arm": name, "version": 1, "n": 400,
            "rates": {"accuracy": {"x": (acc * 200.0) as u64, "n": 200, "value": acc,
                                   "ci": {"lower": acc - 0.03, "upper": acc + 0.03}}},
            "means": {}
        })
    }

    fn report() -> MonitorReport {
        let hostile = "<script>x</script>";
        let mut windows: Vec<serde_json::Value> = (0..4)
            .map(|i| window(i, hostile, "stable", 0.9, 0.88))
            .collect();
        windows.extend((0..4).map(|i| window(i, hostile, "candidate", 0.8, 0.85)));
        serde_json::from_value(serde_json::json!({
            "windows": windows,
            "ab": {"models": {hostile: {
                "arms": [arm("stable", 0.9), arm("candidate", 0.8)],
                "comparisons": [{"arm": "candidate", "version": 1, "baseline": "stable",
                    "metrics": {"accuracy": {"difference": -0.1, "ci": {"lower": -0.15, "upper": -0.05},
                                             "test": {"statistic": -3.2, "p_value": 0.001, "df": null}}}}],
                "metric": "accuracy", "winner": "stable"}}},
            "alerts": [{"rule": "acc_low", "state": "firing",
                "key": {"model": hostile, "version": 1, "arm": "candidate", "segment": null},
                "value": 0.8, "bound": "< 0.85", "annotations": {"metric": "accuracy"},
                "starts_at_ms": 3_600_000, "fired_at_ms": 3_600_000, "ends_at_ms": null}]
        }))
        .unwrap()
    }

    fn points(html: &str, series: &str) -> Vec<usize> {
        let needle = format!("data-series=\"{series}\" data-points=\"");
        html.match_indices(&needle)
            .map(|(i, _)| {
                let rest = &html[i + needle.len()..];
                rest[..rest.find('"').unwrap()].parse().unwrap()
            })
            .collect()
    }

    #[test]
    fn estimates_ab_alerts_and_drift_are_drawn_from_the_report() {
        let html = monitor_report_html(&report(), None, "t");
        // Two series (stable, candidate), 4 windows each: the CBPE chart has the realised
        // metric, the estimate and its band, and no separate accuracy chart.
        for s in [
            "accuracy",
            "estimated.accuracy",
            "estimated.accuracy.lower",
            "label_coverage",
            "drift.x.statistic",
        ] {
            assert_eq!(points(&html, s), vec![4, 4], "{s}");
        }
        assert_eq!(points(&html, "estimated.accuracy.upper"), vec![4, 4]);
        assert!(
            !html.contains("class.a.recall"),
            "per-class metrics are not charted"
        );
        // The alert: the candidate's accuracy below 0.85 from the window ending at 1 h on.
        assert_eq!(points(&html, "alert: acc_low"), vec![4]);
        assert!(html
            .contains(r#"data-series="acc_low allowed: &lt; 0.85" data-lo="0.85" data-hi="inf""#));
        // A/B: both arms in the table, the test, one point per arm with its interval.
        assert!(
            html.contains(r#"<tr data-arm="stable">"#)
                && html.contains(r#"<tr data-arm="candidate">"#)
        );
        assert!(html.contains("[-0.15, -0.05]"));
        assert_eq!(points(&html, "accuracy per arm"), vec![2]);
        assert_eq!(points(&html, "candidate CI"), vec![1]);
        // The hostile model name is text everywhere, never markup.
        assert!(!html.contains("<script>x"));
        assert!(html.contains("&lt;script&gt;x&lt;/script&gt; v1 · stable"));
    }

    #[test]
    fn bounds_parse_to_allowed_regions() {
        assert_eq!(allowed_region("> 1"), Some((f64::NEG_INFINITY, 1.0)));
        assert_eq!(allowed_region("< 0.8"), Some((0.8, f64::INFINITY)));
        assert_eq!(allowed_region("outside [0.81, 0.93]"), Some((0.81, 0.93)));
        assert_eq!(
            allowed_region("outside reference band [0.1, 0.2]"),
            Some((0.1, 0.2))
        );
        assert_eq!(allowed_region("weird"), None);
    }
}
