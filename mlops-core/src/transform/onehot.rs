//! `OneHotEncoder`, equal to scikit-learn's `OneHotEncoder(sparse_output=False, drop=None)`.
//!
//! String columns only. Categories are sorted as scikit-learn's `categories='auto'` (strings by
//! code point, the missing value `None` last). A missing value is one more category, named
//! `<column>_nan` like scikit-learn's `np.nan`. With `min_frequency`, the categories seen fewer
//! times are grouped into one output column `<column>_infrequent_sklearn`, placed after the
//! frequent ones.
//!
//! An unknown value at transform (one not seen at fit, including a missing value when none was
//! seen) is handled by [`HandleUnknown`]; [`OneHotEncoder::transform_counting`] also reports how
//! many values of each column were unknown.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::{require_fit_data, str_column, RawColumn, RawFrame};
use crate::{Error, Result};

/// What to do with a category not seen at fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HandleUnknown {
    /// Fail with [`Error::SchemaMismatch`] naming the column and the value (the default).
    #[default]
    Error,
    /// Encode as all zeros.
    Ignore,
    /// Encode in the `<column>_infrequent_sklearn` column if the column has infrequent
    /// categories, else as all zeros.
    InfrequentIfExist,
}

/// scikit-learn's `min_frequency`: an absolute count (`int >= 1`) or a fraction of the rows
/// (`float` in `(0, 1)`). A category is infrequent when its count is below it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MinFrequency {
    /// Infrequent when `count < n`.
    Count(u64),
    /// Infrequent when `count < fraction · n_rows`.
    Fraction(f64),
}

/// Hyper-parameters of [`OneHotEncoder`].
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OneHotEncoderSpec {
    /// What to do with unknown categories at transform.
    pub handle_unknown: HandleUnknown,
    /// Group rare categories into one infrequent column (`None`: no grouping).
    pub min_frequency: Option<MinFrequency>,
}

impl OneHotEncoderSpec {
    /// Sets [`OneHotEncoderSpec::handle_unknown`].
    pub fn with_handle_unknown(mut self, h: HandleUnknown) -> Self {
        self.handle_unknown = h;
        self
    }

    /// Sets [`OneHotEncoderSpec::min_frequency`].
    pub fn with_min_frequency(mut self, m: MinFrequency) -> Self {
        self.min_frequency = Some(m);
        self
    }
}

/// One fitted column of a [`OneHotEncoder`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EncodedColumn {
    /// Input column name.
    pub name: String,
    /// Frequent categories in output order (`None` = the missing value).
    pub frequent: Vec<Option<String>>,
    /// Infrequent categories (sorted); non-empty means an `_infrequent_sklearn` output column.
    pub infrequent: Vec<Option<String>>,
}

impl EncodedColumn {
    /// Output names: `<name>_<category>` (`<name>_nan` for `None`), then
    /// `<name>_infrequent_sklearn` when there are infrequent categories.
    pub fn feature_names(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .frequent
            .iter()
            .map(|c| format!("{}_{}", self.name, c.as_deref().unwrap_or("nan")))
            .collect();
        if !self.infrequent.is_empty() {
            out.push(format!("{}_infrequent_sklearn", self.name));
        }
        out
    }

    fn n_outputs(&self) -> usize {
        self.frequent.len() + usize::from(!self.infrequent.is_empty())
    }
}

/// A fitted one-hot encoder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OneHotEncoder {
    handle_unknown: HandleUnknown,
    columns: Vec<EncodedColumn>,
}

impl OneHotEncoderSpec {
    /// Learns the categories of every column of `frame`.
    ///
    /// # Errors
    /// [`Error::Empty`] for a frame without columns or rows; [`Error::SchemaMismatch`] for a
    /// numeric column; [`Error::InvalidInput`] for a `min_frequency` count of 0 or a fraction
    /// outside `(0, 1)`.
    pub fn fit(&self, frame: &RawFrame) -> Result<OneHotEncoder> {
        match self.min_frequency {
            Some(MinFrequency::Count(0)) => {
                return Err(Error::invalid_input(
                    "OneHotEncoder min_frequency",
                    "a count must be at least 1",
                ))
            }
            Some(MinFrequency::Fraction(f)) if !(f > 0.0 && f < 1.0) => {
                return Err(Error::invalid_input(
                    "OneHotEncoder min_frequency",
                    format!("a fraction must lie in (0, 1), got {f}"),
                ))
            }
            _ => {}
        }
        require_fit_data(frame, "OneHotEncoder fit")?;
        let n_rows = frame.n_rows();
        let mut columns = Vec::with_capacity(frame.n_columns());
        for c in frame.columns() {
            let x = str_column(frame, &c.name, "OneHotEncoder")?;
            let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
            let mut n_missing = 0u64;
            for v in x {
                match v {
                    Some(s) => *counts.entry(s.as_str()).or_insert(0) += 1,
                    None => n_missing += 1,
                }
            }
            let sorted = counts
                .into_iter()
                .map(|(s, n)| (Some(s.to_owned()), n))
                .chain((n_missing > 0).then_some((None, n_missing)));
            let is_infrequent = |n: u64| match self.min_frequency {
                None => false,
                Some(MinFrequency::Count(m)) => n < m,
                Some(MinFrequency::Fraction(f)) => (n as f64) < f * n_rows as f64,
            };
            let (mut frequent, mut infrequent) = (Vec::new(), Vec::new());
            for (cat, n) in sorted {
                if is_infrequent(n) {
                    infrequent.push(cat);
                } else {
                    frequent.push(cat);
                }
            }
            let col = EncodedColumn {
                name: c.name.clone(),
                frequent,
                infrequent,
            };
            let names = col.feature_names();
            let mut seen = std::collections::HashSet::new();
            if let Some(dup) = names.iter().find(|n| !seen.insert(n.as_str())) {
                return Err(Error::invalid_input(
                    format!("column {:?}", c.name),
                    format!("two categories both map to output feature {dup:?} (e.g. the string \"nan\" and a missing value)"),
                ));
            }
            columns.push(col);
        }
        Ok(OneHotEncoder {
            handle_unknown: self.handle_unknown,
            columns,
        })
    }
}

impl OneHotEncoder {
    /// The fitted columns, in output order.
    pub fn columns(&self) -> &[EncodedColumn] {
        &self.columns
    }

    /// How unknown categories are handled.
    pub fn handle_unknown(&self) -> HandleUnknown {
        self.handle_unknown
    }

    /// Output column names, as scikit-learn's `get_feature_names_out()`.
    pub fn feature_names(&self) -> Vec<String> {
        self.columns
            .iter()
            .flat_map(EncodedColumn::feature_names)
            .collect()
    }

    /// Encodes the fitted columns of `frame` (looked up by name) as 0/1 numeric columns.
    ///
    /// # Errors
    /// As [`OneHotEncoder::transform_counting`].
    pub fn transform(&self, frame: &RawFrame) -> Result<RawFrame> {
        self.transform_counting(frame).map(|(f, _)| f)
    }

    /// Like [`OneHotEncoder::transform`], and also returns, per fitted column (in order), how
    /// many values were unknown (not seen at fit), whatever [`HandleUnknown`] did with them.
    ///
    /// # Errors
    /// [`Error::SchemaMismatch`] for a missing or numeric column, and (with
    /// [`HandleUnknown::Error`]) for an unknown value, naming the column and the value.
    pub fn transform_counting(&self, frame: &RawFrame) -> Result<(RawFrame, Vec<usize>)> {
        let n_rows = frame.n_rows();
        let mut out = Vec::new();
        let mut unknown_counts = Vec::with_capacity(self.columns.len());
        for c in &self.columns {
            let x = str_column(frame, &c.name, "OneHotEncoder")?;
            let n_out = c.n_outputs();
            let infrequent_slot = (!c.infrequent.is_empty()).then_some(c.frequent.len());
            let mut slot: HashMap<Option<&str>, usize> = HashMap::new();
            for (i, cat) in c.frequent.iter().enumerate() {
                slot.insert(cat.as_deref(), i);
            }
            if let Some(k) = infrequent_slot {
                for cat in &c.infrequent {
                    slot.insert(cat.as_deref(), k);
                }
            }
            let mut cols = vec![vec![0.0; n_rows]; n_out];
            let mut unknown = 0usize;
            for (row, v) in x.iter().enumerate() {
                let target = match slot.get(&v.as_deref()) {
                    Some(&k) => Some(k),
                    None => {
                        unknown += 1;
                        match self.handle_unknown {
                            HandleUnknown::Error => {
                                return Err(Error::SchemaMismatch {
                                    field: c.name.clone(),
                                    reason: match v {
                                        Some(s) => format!(
                                            "unknown category {s:?} at row {row} (handle_unknown = error)"
                                        ),
                                        None => format!(
                                            "missing value at row {row}, never seen at fit (handle_unknown = error)"
                                        ),
                                    },
                                })
                            }
                            HandleUnknown::Ignore => None,
                            HandleUnknown::InfrequentIfExist => infrequent_slot,
                        }
                    }
                };
                if let Some(cell) = target
                    .and_then(|k| cols.get_mut(k))
                    .and_then(|col| col.get_mut(row))
                {
                    *cell = 1.0;
                }
            }
            unknown_counts.push(unknown);
            out.extend(
                c.feature_names()
                    .into_iter()
                    .zip(cols)
                    .map(|(name, v)| RawColumn::num(name, v)),
            );
        }
        Ok((RawFrame::new(out)?, unknown_counts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(v: &[Option<&str>]) -> RawFrame {
        RawFrame::new(vec![RawColumn::str(
            "c",
            v.iter().map(|s| s.map(str::to_owned)).collect(),
        )])
        .unwrap()
    }

    #[test]
    fn unknown_error_names_column_and_value() {
        let enc = OneHotEncoderSpec::default()
            .fit(&frame(&[Some("a"), Some("b")]))
            .unwrap();
        let e = enc.transform(&frame(&[Some("a"), Some("zz")])).unwrap_err();
        assert!(
            matches!(&e, Error::SchemaMismatch { field, reason } if field == "c" && reason.contains("\"zz\"")),
            "{e}"
        );
        let e = enc.transform(&frame(&[None])).unwrap_err();
        assert!(
            matches!(&e, Error::SchemaMismatch { reason, .. } if reason.contains("missing")),
            "{e}"
        );
    }

    #[test]
    fn counts_unknowns_in_every_mode() {
        let fit = frame(&[Some("a"), Some("b"), Some("b"), Some("c")]);
        let t = frame(&[Some("a"), Some("x"), None, Some("c")]);
        for h in [HandleUnknown::Ignore, HandleUnknown::InfrequentIfExist] {
            let enc = OneHotEncoderSpec::default()
                .with_handle_unknown(h)
                .with_min_frequency(MinFrequency::Count(2))
                .fit(&fit)
                .unwrap();
            assert_eq!(enc.feature_names(), ["c_b", "c_infrequent_sklearn"]);
            let (out, n) = enc.transform_counting(&t).unwrap();
            assert_eq!(n, [2]);
            let infreq = &out.columns()[1].values;
            let want = match h {
                HandleUnknown::Ignore => vec![1.0, 0.0, 0.0, 1.0],
                _ => vec![1.0, 1.0, 1.0, 1.0],
            };
            assert_eq!(infreq, &super::super::ColumnValues::Num(want));
        }
    }

    #[test]
    fn bad_specs_and_kinds() {
        let f = frame(&[Some("a")]);
        for m in [
            MinFrequency::Count(0),
            MinFrequency::Fraction(0.0),
            MinFrequency::Fraction(1.0),
            MinFrequency::Fraction(f64::NAN),
        ] {
            let e = OneHotEncoderSpec::default()
                .with_min_frequency(m)
                .fit(&f)
                .unwrap_err();
            assert!(matches!(e, Error::InvalidInput { .. }), "{e}");
        }
        let nums = RawFrame::new(vec![RawColumn::num("c", vec![1.0])]).unwrap();
        let e = OneHotEncoderSpec::default().fit(&nums).unwrap_err();
        assert!(
            matches!(&e, Error::SchemaMismatch { field, .. } if field == "c"),
            "{e}"
        );
        let e = OneHotEncoderSpec::default().fit(&frame(&[])).unwrap_err();
        assert!(matches!(e, Error::Empty { .. }), "{e}");
    }

    #[test]
    fn min_frequency_serde_forms() {
        let s: OneHotEncoderSpec = serde_json::from_str(r#"{"min_frequency": 3}"#).unwrap();
        assert_eq!(s.min_frequency, Some(MinFrequency::Count(3)));
        let s: OneHotEncoderSpec = serde_json::from_str(r#"{"min_frequency": 0.2}"#).unwrap();
        assert_eq!(s.min_frequency, Some(MinFrequency::Fraction(0.2)));
    }
}
