//! Fitted preprocessing transforms that equal scikit-learn's.
//!
//! A [`RawFrame`] holds named columns, numeric ([`ColumnValues::Num`], `NaN` = missing) or
//! string ([`ColumnValues::Str`], `None` = missing). Each transform has a serde `*Spec` of
//! hyper-parameters whose `fit` learns a fitted struct (also serde) whose `transform` maps a
//! frame to a frame:
//!
//! | module | spec | fitted | scikit-learn |
//! |---|---|---|---|
//! | [`scaler`] | [`StandardScalerSpec`] | [`StandardScaler`] | `StandardScaler` |
//! | [`scaler`] | [`MinMaxScalerSpec`] | [`MinMaxScaler`] | `MinMaxScaler` |
//! | [`impute`] | [`SimpleImputerSpec`] | [`SimpleImputer`] | `SimpleImputer` |
//! | [`onehot`] | [`OneHotEncoderSpec`] | [`OneHotEncoder`] | `OneHotEncoder(sparse_output=False)` |
//! | [`select`] | [`ColumnSelectorSpec`] | [`ColumnSelector`] | column selection of `ColumnTransformer` |
//! | [`chain`] | [`ChainSpec`] | [`TransformChain`] | `ColumnTransformer` of `Pipeline`s, `remainder='drop'` |
//!
//! A [`TransformChain`] ends in a dense row-major matrix ([`Transformed`]) with
//! scikit-learn's `get_feature_names_out()` names (`age`, `missingindicator_age`, `color_red`,
//! `color_infrequent_sklearn`), and serialises to JSON tagged `"format": "mlops.transform/1"`.
//!
//! # Missing values
//! A missing string (`None`) is scikit-learn's `np.nan` in an object column, which is what
//! `pandas.read_csv` produces: [`SimpleImputer`] imputes it, and [`OneHotEncoder`] treats it as
//! one more category, sorted last and named `<column>_nan`. (A Python `None` object behaves
//! differently in scikit-learn 1.9 — `SimpleImputer(missing_values=np.nan)` leaves it alone and
//! the encoder names it `<column>_None`; that variant is not reproduced.)
//!
//! Scalers reject `NaN` (scikit-learn would pass it through) so that a missing value never
//! reaches a model silently: put a [`SimpleImputer`] first. Infinity is rejected everywhere.
//!
//! ```
//! use mlops_core::transform::{
//!     ChainSpec, GroupSpec, RawColumn, RawFrame, SimpleImputerSpec, ImputeStrategy,
//!     StandardScalerSpec, OneHotEncoderSpec, StepSpec, TransformChain,
//! };
//!
//! let train = RawFrame::new(vec![
//!     RawColumn::num("age", vec![20.0, f64::NAN, 40.0]),
//!     RawColumn::str("color", vec![Some("red".into()), Some("blue".into()), None]),
//! ])?;
//! let spec = ChainSpec::new(vec![
//!     GroupSpec::new("num", ["age"], vec![
//!         StepSpec::SimpleImputer(SimpleImputerSpec::new(ImputeStrategy::Median).with_indicator(true)),
//!         StepSpec::StandardScaler(StandardScalerSpec::default()),
//!     ]),
//!     GroupSpec::new("cat", ["color"], vec![StepSpec::OneHotEncoder(OneHotEncoderSpec::default())]),
//! ]);
//! let chain = TransformChain::fit(&spec, &train)?;
//! let out = chain.transform(&train)?;
//! assert_eq!(out.feature_names, ["age", "missingindicator_age", "color_blue", "color_red", "color_nan"]);
//! // Row 2 has a missing color: one-hot in the `color_nan` column.
//! assert_eq!(out.row(2).map(|r| &r[2..]), Some(&[0.0, 0.0, 1.0][..]));
//! let again = TransformChain::from_json(&chain.to_json()?)?;
//! assert_eq!(again.transform(&train)?, out);
//! # Ok::<(), mlops_core::Error>(())
//! ```

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

pub mod chain;
pub mod impute;
pub mod onehot;
pub mod scaler;
pub mod select;

pub use chain::{
    ChainSpec, GroupSpec, InputColumn, StepSpec, TransformChain, Transformed, UnknownCount,
};
pub use impute::{FillValue, ImputeStrategy, SimpleImputer, SimpleImputerSpec};
pub use onehot::{HandleUnknown, MinFrequency, OneHotEncoder, OneHotEncoderSpec};
pub use scaler::{MinMaxScaler, MinMaxScalerSpec, StandardScaler, StandardScalerSpec};
pub use select::{ColumnSelector, ColumnSelectorSpec};

/// The kind of a column: numeric or string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnKind {
    /// `f64` values, `NaN` = missing.
    Num,
    /// Optional strings, `None` = missing.
    Str,
}

impl std::fmt::Display for ColumnKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ColumnKind::Num => "numeric",
            ColumnKind::Str => "string",
        })
    }
}

/// The values of one column.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnValues {
    /// Numbers; `NaN` marks a missing value.
    Num(Vec<f64>),
    /// Strings; `None` marks a missing value.
    Str(Vec<Option<String>>),
}

impl ColumnValues {
    /// Number of values.
    pub fn len(&self) -> usize {
        match self {
            ColumnValues::Num(v) => v.len(),
            ColumnValues::Str(v) => v.len(),
        }
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Numeric or string.
    pub fn kind(&self) -> ColumnKind {
        match self {
            ColumnValues::Num(_) => ColumnKind::Num,
            ColumnValues::Str(_) => ColumnKind::Str,
        }
    }
}

/// A named column.
#[derive(Debug, Clone, PartialEq)]
pub struct RawColumn {
    /// Column name, unique within a frame.
    pub name: String,
    /// The values.
    pub values: ColumnValues,
}

impl RawColumn {
    /// A numeric column (`NaN` = missing).
    pub fn num(name: impl Into<String>, values: Vec<f64>) -> Self {
        RawColumn {
            name: name.into(),
            values: ColumnValues::Num(values),
        }
    }

    /// A string column (`None` = missing).
    pub fn str(name: impl Into<String>, values: Vec<Option<String>>) -> Self {
        RawColumn {
            name: name.into(),
            values: ColumnValues::Str(values),
        }
    }

    /// Numeric or string.
    pub fn kind(&self) -> ColumnKind {
        self.values.kind()
    }
}

/// Named columns of equal length with unique names.
///
/// Constructed only through [`RawFrame::new`], so the invariants always hold.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RawFrame {
    columns: Vec<RawColumn>,
}

impl RawFrame {
    /// Validates and wraps `columns`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when two columns share a name or the columns differ in length.
    pub fn new(columns: Vec<RawColumn>) -> Result<Self> {
        let mut seen = HashSet::with_capacity(columns.len());
        for c in &columns {
            if !seen.insert(c.name.as_str()) {
                return Err(Error::invalid_input(
                    format!("column {:?}", c.name),
                    "duplicate column name in frame",
                ));
            }
        }
        if let Some(first) = columns.first() {
            let n = first.values.len();
            if let Some(bad) = columns.iter().find(|c| c.values.len() != n) {
                return Err(Error::invalid_input(
                    format!("column {:?}", bad.name),
                    format!(
                        "has {} rows but column {:?} has {n}",
                        bad.values.len(),
                        first.name
                    ),
                ));
            }
        }
        Ok(RawFrame { columns })
    }

    /// Number of rows (0 for a frame without columns).
    pub fn n_rows(&self) -> usize {
        self.columns.first().map_or(0, |c| c.values.len())
    }

    /// Number of columns.
    pub fn n_columns(&self) -> usize {
        self.columns.len()
    }

    /// The columns, in order.
    pub fn columns(&self) -> &[RawColumn] {
        &self.columns
    }

    /// The column called `name`, if any.
    pub fn column(&self, name: &str) -> Option<&RawColumn> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The columns, consuming the frame.
    pub fn into_columns(self) -> Vec<RawColumn> {
        self.columns
    }
}

/// Fails with [`Error::Empty`] when `frame` has no columns or no rows (a fit needs data).
pub(crate) fn require_fit_data(frame: &RawFrame, what: &str) -> Result<()> {
    if frame.n_columns() == 0 {
        return Err(Error::Empty {
            what: format!("{what}: frame (no columns)"),
        });
    }
    if frame.n_rows() == 0 {
        return Err(Error::Empty {
            what: format!("{what}: frame (no rows)"),
        });
    }
    Ok(())
}

/// The column `name` of `frame` as numbers, or a [`Error::SchemaMismatch`] naming it.
pub(crate) fn num_column<'a>(frame: &'a RawFrame, name: &str, what: &str) -> Result<&'a [f64]> {
    match frame.column(name).map(|c| &c.values) {
        Some(ColumnValues::Num(v)) => Ok(v),
        Some(ColumnValues::Str(_)) => Err(Error::SchemaMismatch {
            field: name.to_owned(),
            reason: format!("{what} expects a numeric column, got a string column"),
        }),
        None => Err(missing_column(name, what)),
    }
}

/// The column `name` of `frame` as strings, or a [`Error::SchemaMismatch`] naming it.
pub(crate) fn str_column<'a>(
    frame: &'a RawFrame,
    name: &str,
    what: &str,
) -> Result<&'a [Option<String>]> {
    match frame.column(name).map(|c| &c.values) {
        Some(ColumnValues::Str(v)) => Ok(v),
        Some(ColumnValues::Num(_)) => Err(Error::SchemaMismatch {
            field: name.to_owned(),
            reason: format!("{what} expects a string column, got a numeric column"),
        }),
        None => Err(missing_column(name, what)),
    }
}

pub(crate) fn missing_column(name: &str, what: &str) -> Error {
    Error::SchemaMismatch {
        field: name.to_owned(),
        reason: format!("column is missing from the input frame ({what})"),
    }
}

/// Rejects `NaN` and infinities in a numeric column that reaches a scaler.
pub(crate) fn require_finite(name: &str, values: &[f64], what: &str) -> Result<()> {
    if let Some((row, v)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        let reason = if v.is_nan() {
            format!("missing value (NaN) at row {row}; {what} needs complete data, impute first")
        } else {
            format!("infinite value at row {row}; {what} accepts finite numbers only")
        };
        return Err(Error::invalid_input(format!("column {name:?}"), reason));
    }
    Ok(())
}
