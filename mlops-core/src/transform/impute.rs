//! `SimpleImputer`, equal to scikit-learn's (`missing_values=np.nan`).
//!
//! Numeric columns treat `NaN` as missing, string columns treat `None` as missing. With
//! `add_indicator`, one 0/1 column `missingindicator_<name>` is appended (after all imputed
//! columns, in input order) for every column that had a missing value at fit, exactly like
//! scikit-learn's `MissingIndicator(features="missing-only", error_on_new=False)`: a column
//! without missing values at fit gets no indicator, even if values are missing later.

use serde::{Deserialize, Serialize};

use super::{
    num_column, require_fit_data, str_column, ColumnKind, ColumnValues, RawColumn, RawFrame,
};
use crate::{Error, Result};

/// How a missing value is replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImputeStrategy {
    /// Mean of the observed values (numeric columns only).
    Mean,
    /// Median of the observed values (numeric columns only); the mean of the two middle
    /// values for an even count, as `np.ma.median`.
    Median,
    /// Most frequent observed value; ties go to the smallest value (numbers by value, strings
    /// by code point), as scikit-learn.
    MostFrequent,
    /// A constant: `fill_value`, by default 0 for numeric and `"missing_value"` for string
    /// columns.
    Constant,
}

/// A fill value: a number for numeric columns, a string for string columns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FillValue {
    /// For numeric columns.
    Num(f64),
    /// For string columns.
    Str(String),
}

/// Hyper-parameters of [`SimpleImputer`]
/// (scikit-learn's `SimpleImputer(strategy, fill_value, add_indicator)`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimpleImputerSpec {
    /// The strategy.
    pub strategy: ImputeStrategy,
    /// The constant for [`ImputeStrategy::Constant`] (ignored otherwise); `None` = the default.
    #[serde(default)]
    pub fill_value: Option<FillValue>,
    /// Append missing-indicator columns (default `false`).
    #[serde(default)]
    pub add_indicator: bool,
}

impl SimpleImputerSpec {
    /// A spec with `strategy`, the default fill value and no indicator.
    pub fn new(strategy: ImputeStrategy) -> Self {
        SimpleImputerSpec {
            strategy,
            fill_value: None,
            add_indicator: false,
        }
    }

    /// Sets the constant of [`ImputeStrategy::Constant`].
    pub fn with_fill_value(mut self, fill: FillValue) -> Self {
        self.fill_value = Some(fill);
        self
    }

    /// Appends missing-indicator columns when `on`.
    pub fn with_indicator(mut self, on: bool) -> Self {
        self.add_indicator = on;
        self
    }
}

/// One fitted column of a [`SimpleImputer`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImputedColumn {
    /// Input (and output) column name.
    pub name: String,
    /// What replaces a missing value (scikit-learn's `statistics_`); its kind is the column's.
    pub fill: FillValue,
    /// Whether the column had a missing value at fit (so it gets an indicator column).
    pub had_missing: bool,
}

/// A fitted imputer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimpleImputer {
    add_indicator: bool,
    columns: Vec<ImputedColumn>,
}

/// Prefix of scikit-learn's missing-indicator feature names.
pub const INDICATOR_PREFIX: &str = "missingindicator_";

impl SimpleImputerSpec {
    /// Learns the fill value of every column of `frame`.
    ///
    /// # Errors
    /// [`Error::Empty`] for a frame without columns or rows. [`Error::InvalidInput`] naming the
    /// column for: an infinite value; `mean`/`median` on a string column; a `fill_value` of
    /// the wrong kind or not finite; a column with no observed value under
    /// `mean`/`median`/`most_frequent` (scikit-learn drops such a column from its output,
    /// which would silently change the feature count, so it is an error here).
    pub fn fit(&self, frame: &RawFrame) -> Result<SimpleImputer> {
        require_fit_data(frame, "SimpleImputer fit")?;
        let mut columns = Vec::with_capacity(frame.n_columns());
        for c in frame.columns() {
            let (fill, had_missing) = match &c.values {
                ColumnValues::Num(x) => {
                    check_no_inf(&c.name, x)?;
                    let mut obs: Vec<f64> = x.iter().copied().filter(|v| !v.is_nan()).collect();
                    let had_missing = obs.len() < x.len();
                    let fill = match self.strategy {
                        ImputeStrategy::Constant => match &self.fill_value {
                            None => 0.0,
                            Some(FillValue::Num(v)) if v.is_finite() => *v,
                            Some(other) => return Err(bad_fill(&c.name, ColumnKind::Num, other)),
                        },
                        _ if obs.is_empty() => return Err(no_observed(&c.name, self.strategy)),
                        ImputeStrategy::Mean => obs.iter().sum::<f64>() / obs.len() as f64,
                        ImputeStrategy::Median => {
                            obs.sort_by(f64::total_cmp);
                            median_sorted(&obs)
                        }
                        ImputeStrategy::MostFrequent => {
                            obs.sort_by(f64::total_cmp);
                            mode_sorted(&obs, |a, b| a == b).copied().unwrap_or(0.0)
                        }
                    };
                    (FillValue::Num(fill), had_missing)
                }
                ColumnValues::Str(x) => {
                    let mut obs: Vec<&str> = x.iter().flatten().map(String::as_str).collect();
                    let had_missing = obs.len() < x.len();
                    let fill = match self.strategy {
                        ImputeStrategy::Constant => match &self.fill_value {
                            None => "missing_value".to_owned(),
                            Some(FillValue::Str(s)) => s.clone(),
                            Some(other) => return Err(bad_fill(&c.name, ColumnKind::Str, other)),
                        },
                        ImputeStrategy::Mean | ImputeStrategy::Median => {
                            return Err(Error::invalid_input(
                                format!("column {:?}", c.name),
                                format!(
                                    "strategy {:?} needs a numeric column, got a string column",
                                    self.strategy
                                ),
                            ))
                        }
                        _ if obs.is_empty() => return Err(no_observed(&c.name, self.strategy)),
                        ImputeStrategy::MostFrequent => {
                            obs.sort_unstable();
                            mode_sorted(&obs, |a, b| a == b)
                                .map(|s| (*s).to_owned())
                                .unwrap_or_default()
                        }
                    };
                    (FillValue::Str(fill), had_missing)
                }
            };
            columns.push(ImputedColumn {
                name: c.name.clone(),
                fill,
                had_missing,
            });
        }
        Ok(SimpleImputer {
            add_indicator: self.add_indicator,
            columns,
        })
    }
}

fn check_no_inf(name: &str, x: &[f64]) -> Result<()> {
    if let Some(row) = x.iter().position(|v| v.is_infinite()) {
        return Err(Error::invalid_input(
            format!("column {name:?}"),
            format!("infinite value at row {row}; only NaN marks a missing value"),
        ));
    }
    Ok(())
}

fn bad_fill(name: &str, kind: ColumnKind, fill: &FillValue) -> Error {
    Error::invalid_input(
        format!("fill_value for column {name:?}"),
        format!(
            "a {kind} column needs a {} fill value, got {fill:?}",
            match kind {
                ColumnKind::Num => "finite numeric",
                ColumnKind::Str => "string",
            }
        ),
    )
}

fn no_observed(name: &str, strategy: ImputeStrategy) -> Error {
    Error::invalid_input(
        format!("column {name:?}"),
        format!("has no observed value at fit, so strategy {strategy:?} has nothing to compute"),
    )
}

/// Median of sorted, non-empty `v`: the middle value, or `(a + b) / 2` of the two middle ones.
fn median_sorted(v: &[f64]) -> f64 {
    let n = v.len();
    let at = |i: usize| v.get(i).copied().unwrap_or(f64::NAN);
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        at(n / 2)
    } else {
        (at(n / 2 - 1) + at(n / 2)) / 2.0
    }
}

/// The value of the longest run of equal values in sorted `v`; the first (smallest) on ties.
fn mode_sorted<T>(v: &[T], eq: impl Fn(&T, &T) -> bool) -> Option<&T> {
    let mut best: Option<(&T, usize)> = None;
    let mut i = 0;
    while let Some(first) = v.get(i) {
        let run = v[i..].iter().take_while(|x| eq(x, first)).count();
        if best.is_none_or(|(_, n)| run > n) {
            best = Some((first, run));
        }
        i += run.max(1);
    }
    best.map(|(x, _)| x)
}

impl SimpleImputer {
    /// The fitted columns, in output order.
    pub fn columns(&self) -> &[ImputedColumn] {
        &self.columns
    }

    /// Whether missing-indicator columns are appended.
    pub fn add_indicator(&self) -> bool {
        self.add_indicator
    }

    /// Output column names: the input columns, then `missingindicator_<name>` for each column
    /// that had a missing value at fit (when `add_indicator`).
    pub fn feature_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.columns.iter().map(|c| c.name.clone()).collect();
        if self.add_indicator {
            names.extend(
                self.columns
                    .iter()
                    .filter(|c| c.had_missing)
                    .map(|c| format!("{INDICATOR_PREFIX}{}", c.name)),
            );
        }
        names
    }

    /// Replaces missing values in the fitted columns of `frame` (looked up by name).
    ///
    /// # Errors
    /// [`Error::SchemaMismatch`] for a missing column or one of the other kind than at fit;
    /// [`Error::InvalidInput`] for an infinite value.
    pub fn transform(&self, frame: &RawFrame) -> Result<RawFrame> {
        let mut out = Vec::with_capacity(self.columns.len() * 2);
        let mut indicators = Vec::new();
        for c in &self.columns {
            let (values, missing): (ColumnValues, Vec<f64>) = match &c.fill {
                FillValue::Num(fill) => {
                    let x = num_column(frame, &c.name, "SimpleImputer")?;
                    check_no_inf(&c.name, x)?;
                    let missing = x.iter().map(|v| f64::from(u8::from(v.is_nan()))).collect();
                    let filled = x
                        .iter()
                        .map(|v| if v.is_nan() { *fill } else { *v })
                        .collect();
                    (ColumnValues::Num(filled), missing)
                }
                FillValue::Str(fill) => {
                    let x = str_column(frame, &c.name, "SimpleImputer")?;
                    let missing = x.iter().map(|v| f64::from(u8::from(v.is_none()))).collect();
                    let filled = x
                        .iter()
                        .map(|v| Some(v.clone().unwrap_or_else(|| fill.clone())))
                        .collect();
                    (ColumnValues::Str(filled), missing)
                }
            };
            out.push(RawColumn {
                name: c.name.clone(),
                values,
            });
            if self.add_indicator && c.had_missing {
                indicators.push(RawColumn::num(
                    format!("{INDICATOR_PREFIX}{}", c.name),
                    missing,
                ));
            }
        }
        out.extend(indicators);
        RawFrame::new(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Option<String> {
        Some(v.to_owned())
    }

    #[test]
    fn mode_and_median_helpers() {
        assert_eq!(
            mode_sorted(&[1.0, 1.0, 3.0, 3.0], |a, b| a == b),
            Some(&1.0)
        );
        assert_eq!(mode_sorted(&[1.0, 3.0, 3.0], |a, b| a == b), Some(&3.0));
        assert_eq!(mode_sorted::<f64>(&[], |a, b| a == b), None);
        // -0.0 and 0.0 are one value, as in numpy.
        assert_eq!(mode_sorted(&[-0.0, 0.0, 1.0], |a, b| a == b), Some(&-0.0));
        assert_eq!(median_sorted(&[1.0]), 1.0);
        assert_eq!(median_sorted(&[1.0, 2.0]), 1.5);
        assert_eq!(median_sorted(&[1.0, 2.0, 9.0]), 2.0);
    }

    #[test]
    fn edge_errors() {
        let all_nan = RawFrame::new(vec![RawColumn::num("a", vec![f64::NAN, f64::NAN])]).unwrap();
        for st in [
            ImputeStrategy::Mean,
            ImputeStrategy::Median,
            ImputeStrategy::MostFrequent,
        ] {
            let e = SimpleImputerSpec::new(st).fit(&all_nan).unwrap_err();
            assert!(
                matches!(&e, Error::InvalidInput { what, .. } if what.contains("\"a\"")),
                "{e}"
            );
        }
        // A constant still works on an all-missing column.
        let imp = SimpleImputerSpec::new(ImputeStrategy::Constant)
            .fit(&all_nan)
            .unwrap();
        assert_eq!(
            imp.transform(&all_nan).unwrap().columns()[0].values,
            ColumnValues::Num(vec![0.0, 0.0])
        );
        let strs = RawFrame::new(vec![RawColumn::str("c", vec![s("x"), None])]).unwrap();
        let e = SimpleImputerSpec::new(ImputeStrategy::Mean)
            .fit(&strs)
            .unwrap_err();
        assert!(matches!(e, Error::InvalidInput { .. }), "{e}");
        let e = SimpleImputerSpec::new(ImputeStrategy::Constant)
            .with_fill_value(FillValue::Num(1.0))
            .fit(&strs)
            .unwrap_err();
        assert!(matches!(e, Error::InvalidInput { .. }), "{e}");
        let e = SimpleImputerSpec::new(ImputeStrategy::Constant)
            .with_fill_value(FillValue::Num(f64::NAN))
            .fit(&all_nan)
            .unwrap_err();
        assert!(matches!(e, Error::InvalidInput { .. }), "{e}");
        let e = SimpleImputerSpec::new(ImputeStrategy::Mean)
            .fit(&RawFrame::default())
            .unwrap_err();
        assert!(matches!(e, Error::Empty { .. }), "{e}");
        // Kind changes between fit and transform.
        let imp = SimpleImputerSpec::new(ImputeStrategy::MostFrequent)
            .fit(&strs)
            .unwrap();
        let nums = RawFrame::new(vec![RawColumn::num("c", vec![1.0])]).unwrap();
        let e = imp.transform(&nums).unwrap_err();
        assert!(
            matches!(&e, Error::SchemaMismatch { field, .. } if field == "c"),
            "{e}"
        );
    }

    #[test]
    fn one_sample() {
        let f = RawFrame::new(vec![RawColumn::num("a", vec![2.5])]).unwrap();
        let imp = SimpleImputerSpec::new(ImputeStrategy::Median)
            .with_indicator(true)
            .fit(&f)
            .unwrap();
        assert_eq!(imp.feature_names(), ["a"]);
        let t = RawFrame::new(vec![RawColumn::num("a", vec![f64::NAN])]).unwrap();
        assert_eq!(
            imp.transform(&t).unwrap().columns()[0].values,
            ColumnValues::Num(vec![2.5])
        );
    }
}
