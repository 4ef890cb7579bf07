//! The drift report as one self-contained HTML file (`mlops drift compare --format html`).
//!
//! What it shows, per the report's own numbers (nothing is recomputed here):
//! - a dataset summary: drifted columns, their share against the threshold, the verdict, and
//!   the multiple-testing correction used;
//! - a sortable table, one row per column: kind, deciding test, statistic, (adjusted)
//!   p-value, threshold, verdict, missing shares;
//! - per column: for numbers, reference and current histograms on the reference's bins (as
//!   shares) and both ECDFs with the KS distance marked where it is largest (needs
//!   [`DriftConfig::ecdf_points`](mlops_drift::DriftConfig::ecdf_points) > 0); for
//!   categories, side-by-side bars with categories unseen in the reference highlighted; for
//!   every column, the missing share of each side.

use maud::{html, Markup, PreEscaped};
use mlops_drift::report::{ColumnReport, TestOutput};
use mlops_drift::{Correction, DriftReport};

use crate::html::{document, num_td, sort_th, Assets};
use crate::svg::{fmt_num, fmt_pct, Bar, Chart, Role};

/// ECDF points a report asks `mlops-drift` for per numeric column: enough for a smooth step
/// at 480 px, small enough that 100 columns stay far under 3 MB.
pub const ECDF_POINTS: usize = 160;

/// Renders `report` as a complete HTML document titled `title`.
///
/// `subtitle` says what was compared (file names, row counts); it is shown under the title.
pub fn drift_report_html(report: &DriftReport, title: &str, subtitle: &str) -> String {
    let d = &report.dataset;
    let correction = match d.correction {
        Correction::None => "none",
        Correction::Bonferroni => "Bonferroni",
        Correction::BenjaminiHochberg => "Benjamini–Hochberg (FDR)",
    };
    let body = html! {
        h1 { (title) }
        @if !subtitle.is_empty() { p.muted { (subtitle) } }
        section aria-labelledby="summary-h" {
            h2 id="summary-h" { "Dataset" }
            ul.summary id="dataset-summary" data-drifted=(d.drifted) {
                li { "Verdict" b class=(if d.drifted { "verdict-drift" } else { "verdict-ok" }) { (if d.drifted { "drift" } else { "no drift" }) } }
                li { "Drifted columns" b { (d.n_drifted) " / " (d.n_columns) } }
                li { "Drift share" b { (fmt_pct(d.share_drifted)) } span.muted { "threshold " (fmt_pct(d.drift_share_threshold)) } }
                li { "p-value correction" b { (correction) } }
            }
        }
        section aria-labelledby="columns-h" {
            h2 id="columns-h" { "Columns" }
            div.table-wrap {
                table.sortable id="columns" {
                    thead { tr {
                        (sort_th("column", false)) (sort_th("kind", false)) (sort_th("test", false))
                        (sort_th("statistic", true)) (sort_th("p-value", true)) (sort_th("threshold", true))
                        (sort_th("verdict", false)) (sort_th("missing ref", true)) (sort_th("missing cur", true))
                    } }
                    tbody {
                        @for (i, c) in report.columns.iter().enumerate() { (column_row(i, c)) }
                    }
                }
            }
        }
        section aria-labelledby="plots-h" {
            h2 id="plots-h" { "Per column" }
            @for (i, c) in report.columns.iter().enumerate() { (column_details(i, c)) }
        }
    };
    document(title, Assets::Inline, html! {}, body)
}

fn column_row(i: usize, c: &ColumnReport) -> Markup {
    let (test, stat, p, thr) = match &c.decision {
        Some(dec) => {
            let t = c.tests.get(&dec.test);
            (
                dec.test.as_str(),
                t.map_or(f64::NAN, |t| t.statistic),
                dec.p_value_adjusted
                    .or(t.and_then(|t| t.p_value))
                    .unwrap_or(f64::NAN),
                dec.threshold,
            )
        }
        None => ("-", f64::NAN, f64::NAN, f64::NAN),
    };
    html! {
        tr data-column=(c.column) data-drifted=(c.drifted) {
            td { a href={ "#col-" (i) } { (c.column) } }
            td { (c.kind) }
            td { (test) }
            (num_td(stat)) (num_td(p)) (num_td(thr))
            td class=(if c.drifted { "verdict-drift" } else { "verdict-ok" }) { (if c.drifted { "drift" } else { "ok" }) }
            (num_td(c.missing_share_ref)) (num_td(c.missing_share_cur))
        }
    }
}

fn column_details(i: usize, c: &ColumnReport) -> Markup {
    let mut charts = Vec::new();
    if c.kind == "numeric" {
        if let Some(svg) = histogram(c) {
            charts.push(svg);
        }
        if let Some(svg) = ecdf(c) {
            charts.push(svg);
        }
    } else if let Some(svg) = categories(c) {
        charts.push(svg);
    }
    charts.push(missing(c));
    html! {
        details.column id={ "col-" (i) } data-column=(c.column) open[c.drifted] {
            summary {
                (c.column) " · " (c.kind) " · "
                span class=(if c.drifted { "verdict-drift" } else { "verdict-ok" }) { (if c.drifted { "drift" } else { "ok" }) }
            }
            @if !c.unseen_categories.is_empty() {
                p { "Unseen in the reference: " @for u in &c.unseen_categories { span.tag { (u) } } }
            }
            @for (k, why) in &c.skipped { p.muted { (k) " skipped: " (why) } }
            div.charts { @for svg in &charts { (PreEscaped(svg)) } }
        }
    }
}

fn shares(counts: &[u64]) -> Vec<f64> {
    let n: u64 = counts.iter().sum();
    counts
        .iter()
        .map(|&k| if n == 0 { 0.0 } else { k as f64 / n as f64 })
        .collect()
}

/// Histograms on the reference bins. The outer bins are open-ended; they are drawn out to
/// the smallest and largest value seen (from the ECDF summary) or one inner width further.
fn histogram(c: &ColumnReport) -> Option<String> {
    let t: &TestOutput = c.tests.get("psi")?;
    let edges = t.edges.as_ref()?;
    let (rc, cc) = (t.ref_counts.as_ref()?, t.cur_counts.as_ref()?);
    let nb = edges.len() + 1;
    if rc.len() < nb || cc.len() < nb || edges.is_empty() {
        return None;
    }
    let width = if edges.len() > 1 {
        (edges[edges.len() - 1] - edges[0]) / (edges.len() - 1) as f64
    } else {
        edges[0].abs().max(1.0)
    };
    let (lo, hi) = c.ecdf.as_ref().map_or((f64::NAN, f64::NAN), |e| {
        (
            e.x.first().copied().unwrap_or(f64::NAN),
            e.x.last().copied().unwrap_or(f64::NAN),
        )
    });
    let lo = if lo.is_finite() && lo < edges[0] {
        lo
    } else {
        edges[0] - width
    };
    let last = edges[edges.len() - 1];
    let hi = if hi.is_finite() && hi > last {
        hi
    } else {
        last + width
    };
    let mut bounds = Vec::with_capacity(nb + 1);
    bounds.push(lo);
    bounds.extend_from_slice(edges);
    bounds.push(hi);
    // Density (share / bin width), so that unequal (quantile) bins keep the shape.
    let bars = |s: &[f64]| -> Vec<Bar> {
        (0..nb)
            .map(|i| {
                let w = bounds[i + 1] - bounds[i];
                Bar {
                    x0: bounds[i],
                    x1: bounds[i + 1],
                    y: if w > 0.0 { s[i] / w } else { 0.0 },
                }
            })
            .collect()
    };
    let (rs, cs) = (shares(&rc[..nb]), shares(&cc[..nb]));
    Some(
        Chart::new(
            &format!("{} — histogram on reference bins", c.column),
            480,
            260,
        )
        .labels(&c.column, "density (share / width)")
        .bars("reference", Role::Reference, &bars(&rs))
        .bars("current", Role::Current, &bars(&cs))
        .render(),
    )
}

fn ecdf(c: &ColumnReport) -> Option<String> {
    let e = c.ecdf.as_ref()?;
    let ks = (e.ks_reference - e.ks_current).abs();
    Some(
        Chart::new(
            &format!("{} — ECDF, KS = {}", c.column, fmt_num(ks)),
            480,
            260,
        )
        .labels(&c.column, "F(x)")
        .y_range(0.0, 1.0)
        .step("reference", Role::Reference, &e.x, &e.reference)
        .step("current", Role::Current, &e.x, &e.current)
        .vsegment(
            "KS distance",
            Role::Alert,
            e.ks_x,
            e.ks_reference.min(e.ks_current),
            e.ks_reference.max(e.ks_current),
        )
        .render(),
    )
}

fn categories(c: &ColumnReport) -> Option<String> {
    let t = c.tests.get("chi2").or_else(|| c.tests.get("psi"))?;
    let cats = t.categories.as_ref()?;
    let (rc, cc) = (t.ref_counts.as_ref()?, t.cur_counts.as_ref()?);
    let n = cats.len().min(rc.len()).min(cc.len());
    let unseen: Vec<bool> = cats[..n]
        .iter()
        .map(|k| c.unseen_categories.iter().any(|u| u == k))
        .collect();
    Some(
        Chart::new(&format!("{} — category shares", c.column), 480, 260)
            .labels("", "share of rows")
            .category_bars(
                &cats[..n],
                &[
                    ("reference", Role::Reference, shares(&rc[..n])),
                    ("current", Role::Current, shares(&cc[..n])),
                ],
                &unseen,
            )
            .render(),
    )
}

fn missing(c: &ColumnReport) -> String {
    Chart::new(&format!("{} — missing share", c.column), 240, 200)
        .y_range(0.0, c.missing_share_ref.max(c.missing_share_cur).max(0.05))
        .category_bars(
            &["missing".to_string()],
            &[
                ("reference", Role::Reference, vec![c.missing_share_ref]),
                ("current", Role::Current, vec![c.missing_share_cur]),
            ],
            &[false],
        )
        .render()
}
