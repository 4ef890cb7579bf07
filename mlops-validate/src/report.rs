//! What a check finds: one [`Anomaly`] per expectation, and how to print them.

use serde::{Deserialize, Serialize};

use crate::schema::Severity;

/// What kind of expectation an outcome is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnomalyKind {
    /// Missing cells beyond `not_null`'s allowance.
    MissingValues,
    /// Cells that do not parse as the column's type.
    TypeMismatch,
    /// Values outside the range.
    OutOfRange,
    /// Negative values in a non-negative column.
    Negative,
    /// Values outside the domain.
    UnknownCategory,
    /// Repeated values in a unique column.
    NotUnique,
    /// Text length outside the bounds.
    Length,
    /// Values not matching the pattern.
    Pattern,
    /// Timestamps older than `max_age`.
    Stale,
    /// Values below their predecessor.
    NotMonotonic,
    /// A required column is absent.
    MissingColumn,
    /// A column the schema does not describe.
    ExtraColumn,
    /// The row count is outside the range.
    RowCount,
    /// Training–serving skew above its threshold.
    Skew,
}

impl AnomalyKind {
    /// The snake_case name.
    pub fn as_str(&self) -> &'static str {
        match self {
            AnomalyKind::MissingValues => "missing_values",
            AnomalyKind::TypeMismatch => "type_mismatch",
            AnomalyKind::OutOfRange => "out_of_range",
            AnomalyKind::Negative => "negative",
            AnomalyKind::UnknownCategory => "unknown_category",
            AnomalyKind::NotUnique => "not_unique",
            AnomalyKind::Length => "length",
            AnomalyKind::Pattern => "pattern",
            AnomalyKind::Stale => "stale",
            AnomalyKind::NotMonotonic => "not_monotonic",
            AnomalyKind::MissingColumn => "missing_column",
            AnomalyKind::ExtraColumn => "extra_column",
            AnomalyKind::RowCount => "row_count",
            AnomalyKind::Skew => "skew",
        }
    }
}

/// One offending cell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Example {
    /// 1-based data row (the CSV header is row 0).
    pub row: u64,
    /// The cell as read.
    pub value: String,
}

/// The outcome of one expectation (an anomaly when `success` is false).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Anomaly {
    /// The column, or `None` for table-level expectations.
    pub column: Option<String>,
    /// What was checked.
    pub kind: AnomalyKind,
    /// The Great Expectations name of the same check (`expect_column_values_to_be_between`).
    pub expectation: String,
    /// The expectation's severity.
    pub severity: Severity,
    /// Whether the expectation held.
    pub success: bool,
    /// What was observed (e.g. `min -3.5, max 210`).
    pub observed: String,
    /// What was expected (e.g. `[0, 120], mostly 0.999`).
    pub expected: String,
    /// Cells the expectation was evaluated on (rows for `not_null`, non-missing cells for the
    /// others; 0 for table-level expectations).
    pub element_count: u64,
    /// Cells that did not satisfy it.
    pub unexpected_count: u64,
    /// `unexpected_count / element_count` (0 when nothing was evaluated).
    pub unexpected_fraction: f64,
    /// The first offending cells (by row), at most [`crate::CheckOptions::examples`].
    pub examples: Vec<Example>,
}

/// Per-column counts, for rates (the monitor's `quality.*` values).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ColumnCounts {
    /// Rows seen.
    pub rows: u64,
    /// Missing cells.
    pub missing: u64,
    /// Cells of the wrong type.
    pub type_mismatch: u64,
    /// Values outside the range.
    pub out_of_range: u64,
    /// Values outside the domain.
    pub unknown: u64,
}

/// The result of checking one dataset against a schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Rows checked.
    pub rows: u64,
    /// Rows with at least one unexpected cell, whether or not its expectation failed
    /// overall under `mostly` (a repeated value counts from its second occurrence).
    pub rows_with_unexpected: u64,
    /// Every expectation's outcome, table-level first, then by column.
    pub outcomes: Vec<Anomaly>,
    /// Per-column counts.
    pub columns: std::collections::BTreeMap<String, ColumnCounts>,
    /// Notes (e.g. a skew threshold with no reference feature to compare with).
    pub notes: Vec<String>,
}

impl Report {
    /// The failed expectations.
    pub fn anomalies(&self) -> impl Iterator<Item = &Anomaly> {
        self.outcomes.iter().filter(|a| !a.success)
    }

    /// The worst severity among the anomalies.
    pub fn worst(&self) -> Option<Severity> {
        self.anomalies().map(|a| a.severity).max()
    }

    /// True when an anomaly is at or above `fail_on`.
    pub fn fails(&self, fail_on: Severity) -> bool {
        self.worst().is_some_and(|w| w >= fail_on)
    }

    /// `(errors, warnings)` among the anomalies.
    pub fn counts(&self) -> (usize, usize) {
        let e = self
            .anomalies()
            .filter(|a| a.severity == Severity::Error)
            .count();
        (e, self.anomalies().count() - e)
    }

    /// The anomalies in a JSON document: `{rows, rows_with_anomalies, errors, warnings,
    /// expectations, anomalies: […], notes}`.
    pub fn to_json(&self) -> serde_json::Value {
        let (errors, warnings) = self.counts();
        serde_json::json!({
            "rows": self.rows,
            "rows_with_unexpected": self.rows_with_unexpected,
            "expectations": self.outcomes.len(),
            "errors": errors,
            "warnings": warnings,
            "anomalies": self.anomalies().collect::<Vec<_>>(),
            "notes": self.notes,
        })
    }

    /// A plain-text summary, one anomaly per paragraph.
    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        let (errors, warnings) = self.counts();
        let mut s = format!(
            "{} rows, {} expectations: {errors} error(s), {warnings} warning(s)\n",
            self.rows,
            self.outcomes.len()
        );
        for a in self.anomalies() {
            let _ = writeln!(
                s,
                "{:<7} {:<16} {:<18} {} of {} ({:.4}%) · observed {} · expected {}",
                a.severity.to_string(),
                a.column.as_deref().unwrap_or("<table>"),
                a.kind.as_str(),
                a.unexpected_count,
                a.element_count,
                a.unexpected_fraction * 100.0,
                a.observed,
                a.expected
            );
            if !a.examples.is_empty() {
                let ex: Vec<String> = a
                    .examples
                    .iter()
                    .map(|e| format!("row {}: {:?}", e.row, e.value))
                    .collect();
                let _ = writeln!(s, "        e.g. {}", ex.join(", "));
            }
        }
        for n in &self.notes {
            let _ = writeln!(s, "note: {n}");
        }
        s
    }

    /// A self-contained HTML page (no script, no network): a summary line and a table of
    /// every expectation, failed ones first.
    pub fn to_html(&self, title: &str) -> String {
        use std::fmt::Write;
        let (errors, warnings) = self.counts();
        let mut rows: Vec<&Anomaly> = self.outcomes.iter().collect();
        rows.sort_by_key(|a| (a.success, std::cmp::Reverse(a.severity)));
        let mut s = String::new();
        let _ = write!(
            s,
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\
             <style>body{{font:14px system-ui,sans-serif;margin:2em}}table{{border-collapse:collapse}}\
             td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}}\
             tr.error td{{background:#fde2e1}}tr.warning td{{background:#fff4d6}}\
             td.n{{text-align:right;font-variant-numeric:tabular-nums}}</style></head><body>\
             <h1>{t}</h1><p>{} rows · {} expectations · <b>{errors}</b> error(s) · <b>{warnings}</b> \
             warning(s) · {} row(s) with unexpected cells</p><table><thead><tr><th>column</th><th>check</th>\
             <th>severity</th><th>result</th><th>unexpected</th><th>fraction</th><th>observed</th>\
             <th>expected</th><th>examples (row: value)</th></tr></thead><tbody>",
            self.rows,
            self.outcomes.len(),
            self.rows_with_unexpected,
            t = esc(title)
        );
        for a in rows {
            let class = if a.success {
                "ok"
            } else if a.severity == Severity::Error {
                "error"
            } else {
                "warning"
            };
            let ex: Vec<String> = a
                .examples
                .iter()
                .map(|e| format!("{}: {}", e.row, esc(&e.value)))
                .collect();
            let _ = write!(
                s,
                "<tr class=\"{class}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td>\
                 <td class=\"n\">{:.4}%</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(a.column.as_deref().unwrap_or("(table)")),
                a.kind.as_str(),
                a.severity,
                if a.success { "pass" } else { "FAIL" },
                a.unexpected_count,
                a.unexpected_fraction * 100.0,
                esc(&a.observed),
                esc(&a.expected),
                ex.join("<br>")
            );
        }
        s.push_str("</tbody></table>");
        for n in &self.notes {
            let _ = write!(s, "<p>note: {}</p>", esc(n));
        }
        s.push_str("</body></html>\n");
        s
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
