//! The `validate` step: checks a table against an `mlops-validate` schema and stops the run
//! before training when the data fails.
//!
//! | inputs | outputs | params |
//! |---|---|---|
//! | `data`, `schema` (TOML), `reference`? (data for skew) | `report` (JSON) | `fail_on` (`error`\|`warning`, default `error`), `now` (RFC 3339, for `freshness`; default: the clock) |
//!
//! The schema is an input, so editing it invalidates the cached result like a data change.
//! The report is written before the verdict, so a failed run leaves it for inspection; the
//! step's error names the failing expectations with their counts and first rows. Metrics:
//! `rows`, `errors`, `warnings`, `rows_with_unexpected`.

use std::collections::BTreeMap;

use mlops_validate::{CheckOptions, Schema, Severity};

use crate::builtin::{input, no_more, output, params_obj, take_str, write_file};
use crate::error::{Error, Result};
use crate::step::{Step, StepContext, StepOutcome};

/// `validate`: see the module doc.
#[derive(Debug)]
pub(crate) struct Validate;

impl Step for Validate {
    fn kind(&self) -> &str {
        "validate"
    }
    fn version(&self) -> &str {
        "1"
    }
    fn run(&self, ctx: &StepContext) -> Result<StepOutcome> {
        let mut p = params_obj(ctx)?;
        let at = |k: &str| format!("steps.{}.params.{k}", ctx.name);
        let fail_on: Severity = match take_str(&mut p, ctx, "fail_on")? {
            None => Severity::Error,
            Some(s) => s
                .parse()
                .map_err(|e: mlops_validate::Error| Error::spec(at("fail_on"), e.to_string()))?,
        };
        let mut options = CheckOptions::default();
        if let Some(now) = take_str(&mut p, ctx, "now")? {
            options.now_ms = mlops_validate::value::parse_timestamp_ms(&now).ok_or_else(|| {
                Error::spec(at("now"), format!("{now:?} is not an RFC 3339 timestamp"))
            })?;
        }
        no_more(&p, ctx, "fail_on, now")?;
        let schema_path = input(ctx, "schema")?;
        let schema = Schema::load(schema_path)
            .map_err(|e| Error::spec(format!("steps.{}.inputs.schema", ctx.name), e.to_string()))?;
        let reference = match ctx.inputs.get("reference") {
            Some(path) => Some(
                mlops_validate::fit_reference(&schema, path)
                    .map_err(|e| Error::invalid("validate reference", e.to_string()))?,
            ),
            None => None,
        };
        let report = mlops_validate::check_file(
            &schema,
            input(ctx, "data")?,
            &options,
            reference.as_ref(),
            None,
        )
        .map_err(|e| Error::invalid("validate data", e.to_string()))?;
        let json = serde_json::to_vec_pretty(&report.to_json()).map_err(|e| Error::Json {
            what: "the validation report".into(),
            source: e,
        })?;
        write_file(output(ctx, "report")?, &json)?;
        let (errors, warnings) = report.counts();
        if report.fails(fail_on) {
            let lines: Vec<String> = report
                .anomalies()
                .filter(|a| a.severity >= fail_on)
                .take(10)
                .map(|a| {
                    let rows: Vec<String> = a.examples.iter().map(|e| e.row.to_string()).collect();
                    format!(
                        "{} {}: {} of {} unexpected (observed {}; expected {}){}",
                        a.column.as_deref().unwrap_or("<table>"),
                        a.kind.as_str(),
                        a.unexpected_count,
                        a.element_count,
                        a.observed,
                        a.expected,
                        if rows.is_empty() {
                            String::new()
                        } else {
                            format!("; rows {}", rows.join(", "))
                        }
                    )
                })
                .collect();
            return Err(Error::StepFailed {
                step: ctx.name.clone(),
                reason: format!(
                    "the data failed validation ({errors} error(s), {warnings} warning(s), fail_on = {fail_on}):\n{}",
                    lines.join("\n")
                ),
            });
        }
        let mut metrics = BTreeMap::new();
        metrics.insert("rows".into(), report.rows as f64);
        metrics.insert("errors".into(), errors as f64);
        metrics.insert("warnings".into(), warnings as f64);
        metrics.insert(
            "rows_with_unexpected".into(),
            report.rows_with_unexpected as f64,
        );
        Ok(StepOutcome { metrics })
    }
}
