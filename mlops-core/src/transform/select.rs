//! Selecting columns by name, as `ColumnTransformer` does for each of its transformers.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::{missing_column, ColumnKind, RawFrame};
use crate::{Error, Result};

/// Which columns to keep, in this order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnSelectorSpec {
    /// Column names, unique, in output order.
    pub columns: Vec<String>,
}

impl ColumnSelectorSpec {
    /// Selects `columns` in this order.
    pub fn new<S: Into<String>>(columns: impl IntoIterator<Item = S>) -> Self {
        ColumnSelectorSpec {
            columns: columns.into_iter().map(Into::into).collect(),
        }
    }

    /// Checks that every named column exists in `frame` and records its kind.
    ///
    /// # Errors
    /// [`Error::Empty`] when no column is named; [`Error::InvalidInput`] when a name repeats;
    /// [`Error::SchemaMismatch`] naming a column that `frame` lacks.
    pub fn fit(&self, frame: &RawFrame) -> Result<ColumnSelector> {
        if self.columns.is_empty() {
            return Err(Error::Empty {
                what: "column selection".to_owned(),
            });
        }
        let mut seen = HashSet::with_capacity(self.columns.len());
        let mut columns = Vec::with_capacity(self.columns.len());
        for name in &self.columns {
            if !seen.insert(name.as_str()) {
                return Err(Error::invalid_input(
                    format!("column {name:?}"),
                    "selected twice",
                ));
            }
            let col = frame
                .column(name)
                .ok_or_else(|| missing_column(name, "column selection"))?;
            columns.push((name.clone(), col.kind()));
        }
        Ok(ColumnSelector { columns })
    }
}

/// A fitted selection: column names with the kind each had at fit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnSelector {
    columns: Vec<(String, ColumnKind)>,
}

impl ColumnSelector {
    /// The selected columns and their kinds, in output order.
    pub fn columns(&self) -> &[(String, ColumnKind)] {
        &self.columns
    }

    /// The selected columns of `frame`, in the fitted order; other columns are dropped.
    ///
    /// # Errors
    /// [`Error::SchemaMismatch`] naming a column that `frame` lacks or whose kind differs
    /// from the one seen at fit.
    pub fn transform(&self, frame: &RawFrame) -> Result<RawFrame> {
        let mut out = Vec::with_capacity(self.columns.len());
        for (name, kind) in &self.columns {
            let col = frame
                .column(name)
                .ok_or_else(|| missing_column(name, "column selection"))?;
            if col.kind() != *kind {
                return Err(Error::SchemaMismatch {
                    field: name.clone(),
                    reason: format!("expected a {kind} column, got a {} column", col.kind()),
                });
            }
            out.push(col.clone());
        }
        RawFrame::new(out)
    }
}

#[cfg(test)]
mod tests {
    use super::super::RawColumn;
    use super::*;

    #[test]
    fn keeps_order_and_rejects_unknown_or_retyped() {
        let f = RawFrame::new(vec![
            RawColumn::num("a", vec![1.0]),
            RawColumn::str("b", vec![None]),
            RawColumn::num("c", vec![3.0]),
        ])
        .unwrap();
        let sel = ColumnSelectorSpec::new(["c", "a"]).fit(&f).unwrap();
        let out = sel.transform(&f).unwrap();
        let names: Vec<_> = out.columns().iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["c", "a"]);
        let e = ColumnSelectorSpec::new(["a", "zz"]).fit(&f).unwrap_err();
        assert!(
            matches!(&e, Error::SchemaMismatch { field, .. } if field == "zz"),
            "{e}"
        );
        let e = ColumnSelectorSpec::new(["a", "a"]).fit(&f).unwrap_err();
        assert!(matches!(e, Error::InvalidInput { .. }), "{e}");
        let e = ColumnSelectorSpec::new(Vec::<String>::new())
            .fit(&f)
            .unwrap_err();
        assert!(matches!(e, Error::Empty { .. }), "{e}");
        let retyped = RawFrame::new(vec![
            RawColumn::str("a", vec![None]),
            RawColumn::num("c", vec![1.0]),
        ])
        .unwrap();
        let e = sel.transform(&retyped).unwrap_err();
        assert!(
            matches!(&e, Error::SchemaMismatch { field, .. } if field == "a"),
            "{e}"
        );
    }
}
