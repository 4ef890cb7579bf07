//! Logged predictions as a flat table (the Parquet form of a sealed segment).
//!
//! Columns, in this order: `id`, `timestamp_ms`, `model`, `version`, `arm`, `prediction`
//! (text: a class or a number in [`crate::Value::class_key`] form), `prediction_num` (the
//! number, when the prediction is one), `score_0 … score_{k-1}`, `f_<feature>`,
//! `segment_<field>`, `kpi_<name>`, `latency_s`, `error`. Feature, segment and KPI columns
//! are the union of the names inside the table's records, in first-seen order; a record
//! without one has a null cell. A feature column is numeric when every value it holds is a
//! number, text otherwise (numbers then written in `class_key` form). Names are sanitised to
//! `[A-Za-z0-9_]` (every other character becomes `_`), and a name that collides after
//! sanitising gets a `_2`, `_3`, … suffix. Numeric NaN cells are written as null.

use std::collections::{HashMap, HashSet};

use mlops_drift::io::{Column, Table};

use crate::record::{LoggedPrediction, Value};

/// `[A-Za-z0-9_]` only.
pub fn sanitize_column_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

struct Names {
    used: HashSet<String>,
}

impl Names {
    fn unique(&mut self, wanted: String) -> String {
        if self.used.insert(wanted.clone()) {
            return wanted;
        }
        let mut k = 2usize;
        loop {
            let cand = format!("{wanted}_{k}");
            if self.used.insert(cand.clone()) {
                return cand;
            }
            k += 1;
        }
    }
}

/// First-seen order of the names produced by `names_of` across `records`.
fn union<'a, F, I>(records: &'a [LoggedPrediction], names_of: F) -> Vec<&'a str>
where
    F: Fn(&'a LoggedPrediction) -> I,
    I: Iterator<Item = &'a str>,
{
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for r in records {
        for n in names_of(r) {
            if seen.insert(n) {
                out.push(n);
            }
        }
    }
    out
}

fn text(v: Vec<Option<String>>) -> Column {
    Column::Categorical(v)
}

/// The records as a table (see the module doc for the columns).
pub fn to_table(records: &[LoggedPrediction]) -> Table {
    let mut names = Names {
        used: HashSet::new(),
    };
    let mut columns: Vec<(String, Column)> = Vec::new();
    let mut push = |names: &mut Names, wanted: String, col: Column| {
        let name = names.unique(sanitize_column_name(&wanted));
        columns.push((name, col));
    };
    push(
        &mut names,
        "id".into(),
        text(records.iter().map(|r| Some(r.id.clone())).collect()),
    );
    push(
        &mut names,
        "timestamp_ms".into(),
        Column::Numeric(records.iter().map(|r| r.timestamp_ms as f64).collect()),
    );
    push(
        &mut names,
        "model".into(),
        text(records.iter().map(|r| Some(r.model.clone())).collect()),
    );
    push(
        &mut names,
        "version".into(),
        Column::Numeric(records.iter().map(|r| r.version as f64).collect()),
    );
    push(
        &mut names,
        "arm".into(),
        text(records.iter().map(|r| Some(r.arm.clone())).collect()),
    );
    push(
        &mut names,
        "prediction".into(),
        text(
            records
                .iter()
                .map(|r| r.prediction.as_ref().map(Value::class_key))
                .collect(),
        ),
    );
    push(
        &mut names,
        "prediction_num".into(),
        Column::Numeric(
            records
                .iter()
                .map(|r| {
                    r.prediction
                        .as_ref()
                        .and_then(Value::as_f64)
                        .unwrap_or(f64::NAN)
                })
                .collect(),
        ),
    );
    let k = records.iter().map(|r| r.scores.len()).max().unwrap_or(0);
    for j in 0..k {
        push(
            &mut names,
            format!("score_{j}"),
            Column::Numeric(
                records
                    .iter()
                    .map(|r| r.scores.get(j).copied().unwrap_or(f64::NAN))
                    .collect(),
            ),
        );
    }
    let feats = union(records, |r| r.features.iter().map(|(n, _)| n.as_str()));
    for f in feats {
        let cells: Vec<Option<&Value>> = records.iter().map(|r| r.feature(f)).collect();
        let numeric = cells.iter().flatten().all(|v| v.as_f64().is_some());
        let col = if numeric {
            Column::Numeric(
                cells
                    .iter()
                    .map(|c| c.and_then(Value::as_f64).unwrap_or(f64::NAN))
                    .collect(),
            )
        } else {
            text(cells.iter().map(|c| c.map(Value::class_key)).collect())
        };
        push(&mut names, format!("f_{f}"), col);
    }
    let segs = union(records, |r| r.segments.iter().map(|(n, _)| n.as_str()));
    for s in segs {
        push(
            &mut names,
            format!("segment_{s}"),
            text(
                records
                    .iter()
                    .map(|r| r.segment(s).map(str::to_owned))
                    .collect(),
            ),
        );
    }
    let kpis = union(records, |r| r.kpis.iter().map(|(n, _)| n.as_str()));
    for name in kpis {
        let col = records
            .iter()
            .map(|r| {
                r.kpis
                    .iter()
                    .find(|(n, _)| n == name)
                    .map_or(f64::NAN, |(_, v)| *v)
            })
            .collect();
        push(&mut names, format!("kpi_{name}"), Column::Numeric(col));
    }
    push(
        &mut names,
        "latency_s".into(),
        Column::Numeric(
            records
                .iter()
                .map(|r| r.latency_s.unwrap_or(f64::NAN))
                .collect(),
        ),
    );
    push(
        &mut names,
        "error".into(),
        text(records.iter().map(|r| r.error.clone()).collect()),
    );
    Table { columns }
}

/// Column name → index, for readers of [`to_table`]'s output.
pub fn column_index(table: &Table) -> HashMap<&str, usize> {
    table
        .columns
        .iter()
        .enumerate()
        .map(|(i, (n, _))| (n.as_str(), i))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: &str, feats: Vec<(&str, Value)>) -> LoggedPrediction {
        LoggedPrediction {
            id: id.into(),
            timestamp_ms: 1,
            model: "m".into(),
            version: 1,
            arm: "stable".into(),
            features: feats.into_iter().map(|(n, v)| (n.into(), v)).collect(),
            prediction: Some(Value::Str("yes".into())),
            scores: vec![0.5],
            segments: vec![],
            kpis: vec![],
            latency_s: None,
            error: None,
        }
    }

    #[test]
    fn union_of_names_sanitised_and_deduplicated() {
        let t = to_table(&[
            rec(
                "a",
                vec![("x-1", Value::Num(1.0)), ("pays", Value::Num(2.0))],
            ),
            rec(
                "b",
                vec![("x_1", Value::Num(3.0)), ("pays", Value::Str("fr".into()))],
            ),
        ]);
        let names = t.names();
        assert!(
            names.contains(&"f_x_1") && names.contains(&"f_x_1_2"),
            "{names:?}"
        );
        match t.column("f_x_1") {
            Some(Column::Numeric(v)) => assert!(v[0] == 1.0 && v[1].is_nan()),
            other => panic!("{other:?}"),
        }
        match t.column("f_x_1_2") {
            Some(Column::Numeric(v)) => assert!(v[0].is_nan() && v[1] == 3.0),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            t.column("f_pays"),
            Some(&Column::Categorical(vec![
                Some("2".into()),
                Some("fr".into())
            ]))
        );
        assert_eq!(sanitize_column_name("é.b c"), "__b_c");
    }
}
