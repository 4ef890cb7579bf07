//! Data quality of a window's logged inputs against an `mlops-validate` [`Schema`]:
//! per-window rates of missing values, out-of-range values, unknown categories, type errors
//! and schema violations, as `quality.*` window values (see [`crate::values`]).
//!
//! [`crate::window::WindowState::finalize`] computes them when
//! [`crate::window::FinalizeContext::schema`] is set. The window's rows (in time order) are
//! checked by [`mlops_validate::Validator`] with the window's input columns as the header and
//! the window's end as "now" (for `freshness`). Cells are read as text:
//! - a number as Rust's `{}` of the `f64`: `3.0` reads as `3` (an `int` column's logged
//!   integers pass), `0.5` as `0.5`; a non-finite number is stored by the window as missing;
//! - in a `bool` column, the numbers `1` and `0` read as `true` and `false` (JSON booleans are
//!   logged as numbers, see [`crate::Value::from_json`]);
//! - a category as its text; a missing cell (absent from a row's features, or NaN) as `""`,
//!   which is missing for every schema (`""` is added to `null_values` when a schema leaves it
//!   out, so a logged empty text is missing too).
//!
//! # Values
//! Per schema column present in the window's inputs (over the window's rows for
//! `missing_rate`, over the column's non-missing cells for the others; absent when the
//! column has no non-missing cell, and `out_of_range_rate` / `unknown_rate` only for columns
//! with a `range` / `domain` expectation):
//! `quality.<col>.missing_rate`, `quality.<col>.type_error_rate`,
//! `quality.<col>.out_of_range_rate`, `quality.<col>.unknown_rate`.
//!
//! Per window:
//! - `quality.missing_rate`: missing cells / cells of the schema columns present;
//! - `quality.out_of_range_rate`: out-of-range cells / non-missing cells of the present
//!   columns with a `range`; `quality.unknown_rate` likewise over the columns with a `domain`;
//! - `quality.violation_rate`: rows with at least one unexpected cell / rows
//!   ([`mlops_validate::Report::rows_with_unexpected`]; a missing cell is unexpected only in
//!   a `not_null` column);
//! - `quality.errors`, `quality.warnings`: failed expectations by severity
//!   ([`mlops_validate::Report::counts`]; an absent required column is one error, a column the
//!   schema does not describe one anomaly of the `extra_columns` severity);
//! - `quality.missing_columns`: `table.required_columns` absent from the window's inputs.
//!
//! A schema column that no row of the window logged is not in the header: it has no
//! per-column values and does not count in `quality.missing_rate`; list it in
//! `table.required_columns` to see it in `quality.missing_columns` (and `quality.errors`).
//! An empty window has no `quality.*` value.

use mlops_validate::source::Chunk;
use mlops_validate::{CheckOptions, DataType, Schema, Validator};

use crate::error::{Error, Result};

/// Rows per chunk handed to the validator.
const CHUNK_ROWS: usize = 4096;

/// The per-column value suffixes (`quality.<col>.<suffix>`).
pub const COLUMN_METRICS: &[&str] = &[
    "missing_rate",
    "type_error_rate",
    "out_of_range_rate",
    "unknown_rate",
];

/// Whether `name` is a per-column quality value `quality.<col>.<m>` (`<col>` non-empty, dots
/// allowed) for `m` in [`COLUMN_METRICS`].
pub fn is_column_metric(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("quality.") else {
        return false;
    };
    COLUMN_METRICS.iter().any(|m| {
        rest.strip_suffix(m)
            .and_then(|c| c.strip_suffix('.'))
            .is_some_and(|c| !c.is_empty())
    })
}

/// One logged input cell, as the window stores it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum InputCell<'a> {
    /// Absent or not a finite number.
    Missing,
    /// A number.
    Num(f64),
    /// A text (category).
    Text(&'a str),
}

/// What [`window_quality`] yields: values to put and metrics to mark skipped.
#[derive(Debug, Default)]
pub(crate) struct QualityValues {
    pub(crate) values: Vec<(String, f64)>,
    pub(crate) skipped: Vec<(String, String)>,
}

fn text_of(cell: InputCell<'_>, t: Option<DataType>, buf: &mut String) {
    use std::fmt::Write;
    buf.clear();
    match cell {
        InputCell::Missing => {}
        InputCell::Text(s) => buf.push_str(s),
        InputCell::Num(x) if t == Some(DataType::Bool) && x == 1.0 => buf.push_str("true"),
        InputCell::Num(x) if t == Some(DataType::Bool) && x == 0.0 => buf.push_str("false"),
        InputCell::Num(x) => {
            let _ = write!(buf, "{x}");
        }
    }
}

fn rate(num: u64, den: u64) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

/// Checks `rows` (indices, in the order to check them) of the columns `columns` against
/// `schema`; `cell(column, row)` reads one cell. `now_ms` is "now" for `freshness`.
///
/// # Errors
/// [`Error::InvalidInput`] for a schema that does not pass [`Schema::check`].
#[tracing::instrument(skip_all, fields(rows = rows.len(), columns = columns.len()))]
pub(crate) fn window_quality<'c>(
    schema: &Schema,
    columns: &[String],
    rows: &[usize],
    cell: &dyn Fn(usize, usize) -> InputCell<'c>,
    now_ms: i64,
) -> Result<QualityValues> {
    let mut out = QualityValues::default();
    if rows.is_empty() {
        out.skipped
            .push(("quality".into(), "no row in the window".into()));
        return Ok(out);
    }
    let options = CheckOptions {
        now_ms,
        examples: 0,
        ..CheckOptions::default()
    };
    // A missing cell is given as "": make sure the schema reads it as missing.
    let with_empty;
    let schema = if schema.table.null_values.iter().any(String::is_empty) {
        schema
    } else {
        let mut s = schema.clone();
        s.table.null_values.push(String::new());
        with_empty = s;
        &with_empty
    };
    let mut v = Validator::new(schema, columns, &options, None)
        .map_err(|e| Error::invalid("schema", e.to_string()))?;
    let types: Vec<Option<DataType>> = columns
        .iter()
        .map(|c| schema.columns.get(c).map(|s| s.data_type))
        .collect();
    let mut bufs: Vec<String> = vec![String::new(); columns.len()];
    for (k, part) in rows.chunks(CHUNK_ROWS).enumerate() {
        let mut chunk = Chunk::new((k * CHUNK_ROWS) as u64 + 1);
        for &r in part {
            for (c, buf) in bufs.iter_mut().enumerate() {
                text_of(cell(c, r), types[c], buf);
            }
            chunk.push_row(bufs.iter().map(String::as_str));
        }
        v.push(&chunk);
    }
    let report = v.finish();

    let (mut cells, mut missing) = (0u64, 0u64);
    let (mut ranged, mut out_of_range) = (0u64, 0u64);
    let (mut domained, mut unknown) = (0u64, 0u64);
    for (name, spec) in &schema.columns {
        let Some(c) = report.columns.get(name) else {
            continue;
        };
        let present = c.rows - c.missing;
        cells += c.rows;
        missing += c.missing;
        let mut put = |m: &str, v: Option<f64>| {
            let key = format!("quality.{name}.{m}");
            match v {
                Some(x) => out.values.push((key, x)),
                None => out
                    .skipped
                    .push((key, "no non-missing cell in the window".into())),
            }
        };
        put("missing_rate", rate(c.missing, c.rows));
        put("type_error_rate", rate(c.type_mismatch, present));
        if spec.range.is_some() {
            ranged += present;
            out_of_range += c.out_of_range;
            put("out_of_range_rate", rate(c.out_of_range, present));
        }
        if spec.domain.is_some() {
            domained += present;
            unknown += c.unknown;
            put("unknown_rate", rate(c.unknown, present));
        }
    }
    let mut put = |m: &str, v: Option<f64>, why: &str| {
        let key = format!("quality.{m}");
        match v {
            Some(x) => out.values.push((key, x)),
            None => out.skipped.push((key, why.into())),
        }
    };
    put(
        "missing_rate",
        rate(missing, cells),
        "no schema column in the logged inputs",
    );
    put(
        "out_of_range_rate",
        rate(out_of_range, ranged),
        "no non-missing cell of a column with a range",
    );
    put(
        "unknown_rate",
        rate(unknown, domained),
        "no non-missing cell of a column with a domain",
    );
    put(
        "violation_rate",
        rate(report.rows_with_unexpected, report.rows),
        "no row",
    );
    let (errors, warnings) = report.counts();
    let absent = schema
        .table
        .required_columns
        .iter()
        .filter(|c| !columns.contains(c))
        .count();
    out.values.push(("quality.errors".into(), errors as f64));
    out.values
        .push(("quality.warnings".into(), warnings as f64));
    out.values
        .push(("quality.missing_columns".into(), absent as f64));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_metric_names() {
        for ok in [
            "quality.age.missing_rate",
            "quality.a.b.unknown_rate",
            "quality.x.type_error_rate",
            "quality.x.out_of_range_rate",
        ] {
            assert!(is_column_metric(ok), "{ok}");
        }
        for bad in [
            "quality.missing_rate",
            "quality..missing_rate",
            "quality.age.missing",
            "quality.agemissing_rate",
            "age.missing_rate",
        ] {
            assert!(!is_column_metric(bad), "{bad}");
        }
    }

    #[test]
    fn cells_as_text() {
        let mut b = String::new();
        text_of(InputCell::Num(3.0), Some(DataType::Int), &mut b);
        assert_eq!(b, "3");
        text_of(InputCell::Num(-0.25), Some(DataType::Float), &mut b);
        assert_eq!(b, "-0.25");
        text_of(InputCell::Num(1.0), Some(DataType::Bool), &mut b);
        assert_eq!(b, "true");
        text_of(InputCell::Num(0.0), Some(DataType::Bool), &mut b);
        assert_eq!(b, "false");
        text_of(InputCell::Num(2.0), Some(DataType::Bool), &mut b);
        assert_eq!(b, "2");
        text_of(InputCell::Text("Tōkyō"), None, &mut b);
        assert_eq!(b, "Tōkyō");
        text_of(InputCell::Missing, Some(DataType::Int), &mut b);
        assert_eq!(b, "");
        text_of(InputCell::Num(1e21), Some(DataType::Int), &mut b);
        assert_eq!(b, "1000000000000000000000");
    }
}
