//! Two model versions side by side (`mlops registry compare A B --format html`, and the
//! console's compare page).
//!
//! What it shows: metrics with the `b − a` delta and a grouped-bar chart of the metrics
//! both versions have; params, with the rows that differ marked; tags; the signature (every
//! input and output tensor's name, dtype and shape); lineage (dataset snapshot digests, code
//! commit, parent version, the pipeline run from the `mlops.run_id` tag); artifacts (name,
//! size, digest); when each was created; and, from a registry entry, aliases and whether the
//! version is archived. Metrics and params come from
//! [`mlops_registry::Comparison::of`], nothing is recomputed.

use std::collections::BTreeMap;

use maud::{html, Markup, PreEscaped};
use mlops_core::{ArtifactRef, ModelVersion, Signature};
use mlops_registry::{Comparison, VersionEntry};

use crate::html::{document, num_td, Assets};
use crate::svg::{Chart, Role};

/// The tag a pipeline's register step writes with the run's id.
pub const RUN_ID_TAG: &str = "mlops.run_id";

/// The comparison's sections (no `<h1>`), for a report or a console page: the two versions'
/// records plus their registry state (aliases, archived).
pub fn compare_body(a: &VersionEntry, b: &VersionEntry) -> Markup {
    body(a, b)
}

/// The comparison as one self-contained HTML document titled `title`.
pub fn compare_report_html(a: &VersionEntry, b: &VersionEntry, title: &str) -> String {
    document(
        title,
        Assets::Inline,
        html! {},
        html! {
            h1 { (title) }
            (compare_body(a, b))
        },
    )
}

/// `name/version`.
fn label(v: &ModelVersion) -> String {
    format!("{}/{}", v.name, v.version)
}

fn body(ea: &VersionEntry, eb: &VersionEntry) -> Markup {
    let (a, b) = (&ea.version, &eb.version);
    let c = Comparison::of(a, b);
    let (la, lb) = (label(a), label(b));
    html! {
        section aria-labelledby="cmp-overview-h" {
            h2 id="cmp-overview-h" { "Versions" }
            div.table-wrap {
                table id="cmp-overview" {
                    thead { tr { th scope="col" { "" } th scope="col" { "A: " (la) } th scope="col" { "B: " (lb) } } }
                    tbody {
                        tr { th scope="row" { "created" } td { (created(a)) } td { (created(b)) } }
                        tr { th scope="row" { "format" } td { (a.format) } td { (b.format) } }
                        @if !a.description.is_empty() || !b.description.is_empty() {
                            tr { th scope="row" { "description" } td { (a.description) } td { (b.description) } }
                        }
                        tr { th scope="row" { "aliases" } td { (aliases(ea)) } td { (aliases(eb)) } }
                        tr { th scope="row" { "archived" } td { (yes_no(ea.archived)) } td { (yes_no(eb.archived)) } }
                    }
                }
            }
        }
        (metrics(&c))
        (params(&c))
        section aria-labelledby="cmp-tags-h" {
            h2 id="cmp-tags-h" { "Tags" }
            (side_table("cmp-tags", &la, &lb, &a.tags, &b.tags))
        }
        section aria-labelledby="cmp-sig-h" {
            h2 id="cmp-sig-h" { "Signature" }
            div.charts {
                div { h3 { "A: " (la) } (signature_table(a.signature.as_ref())) }
                div { h3 { "B: " (lb) } (signature_table(b.signature.as_ref())) }
            }
        }
        section aria-labelledby="cmp-lineage-h" {
            h2 id="cmp-lineage-h" { "Lineage" }
            div.table-wrap {
                table id="cmp-lineage" {
                    thead { tr { th scope="col" { "" } th scope="col" { "A: " (la) } th scope="col" { "B: " (lb) } } }
                    tbody {
                        tr class=[(a.lineage.datasets != b.lineage.datasets).then_some("differs")] {
                            th scope="row" { "datasets" }
                            td { (digest_list(&a.lineage.datasets)) }
                            td { (digest_list(&b.lineage.datasets)) }
                        }
                        tr class=[(a.lineage.code_commit != b.lineage.code_commit).then_some("differs")] {
                            th scope="row" { "code commit" }
                            td { code { (opt(a.lineage.code_commit.as_deref())) } }
                            td { code { (opt(b.lineage.code_commit.as_deref())) } }
                        }
                        tr class=[(a.lineage.parent_version != b.lineage.parent_version).then_some("differs")] {
                            th scope="row" { "parent version" }
                            td { (opt(a.lineage.parent_version.map(|p| p.to_string()).as_deref())) }
                            td { (opt(b.lineage.parent_version.map(|p| p.to_string()).as_deref())) }
                        }
                        tr {
                            th scope="row" { "pipeline run" }
                            td { code { (opt(a.tags.get(RUN_ID_TAG).map(String::as_str))) } }
                            td { code { (opt(b.tags.get(RUN_ID_TAG).map(String::as_str))) } }
                        }
                    }
                }
            }
        }
        section aria-labelledby="cmp-art-h" {
            h2 id="cmp-art-h" { "Artifacts" }
            div.charts {
                div { h3 { "A: " (la) } (artifacts_table(&a.artifacts)) }
                div { h3 { "B: " (lb) } (artifacts_table(&b.artifacts)) }
            }
        }
    }
}

fn metrics(c: &Comparison) -> Markup {
    let both: Vec<(String, f64, f64)> = c
        .metrics
        .iter()
        .filter_map(|m| Some((m.key.clone(), m.a?, m.b?)))
        .collect();
    let chart = (!both.is_empty()).then(|| {
        let cats: Vec<String> = both.iter().map(|(k, _, _)| k.clone()).collect();
        let width = (160 + 90 * cats.len()).min(960) as u32;
        Chart::new("Metrics in both versions", width, 280)
            .labels("", "value")
            .category_bars(
                &cats,
                &[
                    (
                        c.a.as_str(),
                        Role::Reference,
                        both.iter().map(|x| x.1).collect(),
                    ),
                    (
                        c.b.as_str(),
                        Role::Current,
                        both.iter().map(|x| x.2).collect(),
                    ),
                ],
                &vec![false; cats.len()],
            )
            .render()
    });
    html! {
        section aria-labelledby="cmp-metrics-h" {
            h2 id="cmp-metrics-h" { "Metrics" }
            @if c.metrics.is_empty() {
                p.muted { "Neither version has metrics." }
            } @else {
                div.table-wrap {
                    table.sortable id="cmp-metrics" {
                        thead { tr {
                            (crate::html::sort_th("metric", false))
                            (crate::html::sort_th(&format!("A: {}", c.a), true))
                            (crate::html::sort_th(&format!("B: {}", c.b), true))
                            (crate::html::sort_th("delta (B − A)", true))
                        } }
                        tbody {
                            @for m in &c.metrics {
                                tr data-metric=(m.key) {
                                    td { (m.key) }
                                    (opt_num(m.a)) (opt_num(m.b))
                                    @match (m.a, m.b) {
                                        (Some(x), Some(y)) => (delta_td(y - x)),
                                        _ => td.num data-v="" { "–" },
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if let Some(svg) = chart { div.charts { (PreEscaped(svg)) } }
        }
    }
}

fn params(c: &Comparison) -> Markup {
    let differ = c.params.iter().filter(|p| p.a != p.b).count();
    html! {
        section aria-labelledby="cmp-params-h" {
            h2 id="cmp-params-h" { "Params" }
            @if c.params.is_empty() {
                p.muted { "Neither version has params." }
            } @else {
                p.muted { (differ) " of " (c.params.len()) " differ (marked ≠)." }
                div.table-wrap {
                    table id="cmp-params" {
                        thead { tr {
                            th scope="col" { "param" } th scope="col" { "A: " (c.a) } th scope="col" { "B: " (c.b) } th scope="col" { "differs" }
                        } }
                        tbody {
                            @for p in &c.params {
                                @let d = p.a != p.b;
                                tr class=[d.then_some("differs")] data-param=(p.key) data-differs=(d) {
                                    td { (p.key) }
                                    td { (opt(p.a.as_deref())) }
                                    td { (opt(p.b.as_deref())) }
                                    td { @if d { b.warn { "≠" } } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A key/value table of two maps (tags), rows that differ marked.
fn side_table(
    id: &str,
    la: &str,
    lb: &str,
    a: &BTreeMap<String, String>,
    b: &BTreeMap<String, String>,
) -> Markup {
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    html! {
        @if keys.is_empty() {
            p.muted { "None." }
        } @else {
            div.table-wrap {
                table id=(id) {
                    thead { tr { th scope="col" { "key" } th scope="col" { "A: " (la) } th scope="col" { "B: " (lb) } } }
                    tbody {
                        @for k in keys {
                            @let (x, y) = (a.get(k), b.get(k));
                            tr class=[(x != y).then_some("differs")] {
                                td { (k) }
                                td { (opt(x.map(String::as_str))) }
                                td { (opt(y.map(String::as_str))) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `–` for a missing value.
pub(crate) fn opt(s: Option<&str>) -> &str {
    s.unwrap_or("–")
}

fn opt_num(v: Option<f64>) -> Markup {
    match v {
        Some(v) => num_td(v),
        None => html! { td.num data-v="" { "–" } },
    }
}

/// A signed delta: `+0.05`, `-0.1`, `0`; the exact value is the sort key.
fn delta_td(d: f64) -> Markup {
    html! {
        td.num data-v=(d) { @if d > 0.0 { "+" } (crate::svg::fmt_num(d)) }
    }
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// When a version was created, in UTC.
pub(crate) fn created(v: &ModelVersion) -> Markup {
    html! {
        time datetime=(v.created_at.to_rfc3339()) { (v.created_at.format("%Y-%m-%d %H:%M:%S UTC")) }
    }
}

fn aliases(e: &VersionEntry) -> Markup {
    html! {
        @if e.aliases.is_empty() { "–" }
        @for a in &e.aliases { span.tag { (a) } }
    }
}

fn digest_list(d: &[mlops_core::Sha256Digest]) -> Markup {
    html! {
        @if d.is_empty() { "–" } @else {
            ul { @for x in d { li { code { (x) } } } }
        }
    }
}

/// The inputs and outputs of a signature: name, dtype, shape.
pub(crate) fn signature_table(sig: Option<&Signature>) -> Markup {
    let Some(sig) = sig else {
        return html! { p.muted { "No signature." } };
    };
    html! {
        div.table-wrap {
            table.signature {
                thead { tr { th scope="col" { "side" } th scope="col" { "name" } th scope="col" { "dtype" } th scope="col" { "shape" } } }
                tbody {
                    @for (side, schema) in [("input", &sig.inputs), ("output", &sig.outputs)] {
                        @for t in &schema.fields {
                            tr data-tensor=(t.name) {
                                td { (side) }
                                td { (t.name) }
                                td { (t.dtype) }
                                td { code { (shape(&t.shape)) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `[?, 4]`: `-1` (a free dimension) shown as `?`.
fn shape(s: &[i64]) -> String {
    let dims: Vec<String> = s
        .iter()
        .map(|&d| {
            if d < 0 {
                "?".to_string()
            } else {
                d.to_string()
            }
        })
        .collect();
    format!("[{}]", dims.join(", "))
}

/// The artifacts of a version: name, size, digest.
pub(crate) fn artifacts_table(arts: &[ArtifactRef]) -> Markup {
    if arts.is_empty() {
        return html! { p.muted { "No artifacts." } };
    }
    html! {
        div.table-wrap {
            table.artifacts {
                thead { tr { th scope="col" { "name" } th.num scope="col" { "size (bytes)" } th scope="col" { "digest" } } }
                tbody {
                    @for x in arts {
                        tr data-artifact=(x.name) {
                            td { (x.name) }
                            td.num data-v=(x.size) { (x.size) }
                            td { code { (x.digest) } }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlops_core::{DType, Lineage, ModelName, Schema, Sha256Digest, TensorSpec};

    fn version(n: u64, auc: f64, lr: &str) -> ModelVersion {
        let mut v = ModelVersion::new(ModelName::new("fraud").unwrap(), n);
        v.metrics.insert("auc".into(), auc);
        v.metrics.insert(format!("only{n}"), 1.5);
        v.params.insert("lr".into(), lr.into());
        v.params.insert("depth".into(), "6".into());
        v.tags
            .insert("team".into(), "<script>alert(1)</script>".into());
        v.tags.insert(RUN_ID_TAG.into(), format!("run-{n}"));
        v.signature = Some(Signature {
            inputs: Schema::new(vec![TensorSpec::new("x", DType::F32, vec![-1, 4])]),
            outputs: Schema::new(vec![TensorSpec::new("p", DType::F32, vec![-1, 2])]),
        });
        v.artifacts.push(ArtifactRef {
            name: "model.onnx".into(),
            digest: Sha256Digest::of_bytes(b"w"),
            size: 1234,
        });
        v.lineage = Lineage {
            datasets: vec![Sha256Digest::of_bytes(b"d")],
            code_commit: Some("abc123".into()),
            parent_version: (n > 1).then_some(n - 1),
        };
        v
    }

    #[test]
    fn shows_both_sides_deltas_and_differences() {
        let entry = |version| VersionEntry {
            version,
            archived: false,
            aliases: Vec::new(),
        };
        let (a, b) = (
            entry(version(1, 0.9, "0.1")),
            entry(version(2, 0.95, "0.01")),
        );
        let h = compare_report_html(&a, &b, "fraud 1 vs 2");
        assert!(h.starts_with("<!DOCTYPE html>"));
        assert!(h.contains("fraud/1") && h.contains("fraud/2"));
        // The delta of auc, b − a.
        assert!(h.contains(&format!("data-v=\"{}\"", 0.95 - 0.9)), "{h}");
        assert!(h.contains(">+0.05</td>"), "a positive delta is signed");
        // lr differs, depth does not.
        assert!(h.contains(r#"data-param="lr" data-differs="true""#));
        assert!(h.contains(r#"data-param="depth" data-differs="false""#));
        // Only auc is in both: two series of one bar each.
        assert!(
            h.contains(r#"data-series="fraud/1" data-points="1""#),
            "{h}"
        );
        assert!(h.contains(r#"data-series="fraud/2" data-points="1""#));
        assert!(h.contains("run-1") && h.contains("run-2"));
        assert!(h.contains("[?, 4]"));
        assert!(h.contains(&Sha256Digest::of_bytes(b"w").to_string()));
        assert!(!h.contains("<script>alert(1)"));
        assert!(h.contains("&lt;script&gt;alert(1)"));
    }
}
