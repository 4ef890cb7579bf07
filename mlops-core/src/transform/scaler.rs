//! `StandardScaler` and `MinMaxScaler`, equal to scikit-learn's.
//!
//! Both scale every column of the input frame independently, and both require numeric,
//! finite columns: `NaN` (missing) and infinities are rejected with an error naming the column.

use serde::{Deserialize, Serialize};

use super::{num_column, require_finite, require_fit_data, RawColumn, RawFrame};
use crate::{Error, Result};

/// Hyper-parameters of [`StandardScaler`] (scikit-learn's `StandardScaler(with_mean, with_std)`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StandardScalerSpec {
    /// Subtract the mean (default `true`).
    pub with_mean: bool,
    /// Divide by the population standard deviation (default `true`).
    pub with_std: bool,
}

impl Default for StandardScalerSpec {
    fn default() -> Self {
        StandardScalerSpec {
            with_mean: true,
            with_std: true,
        }
    }
}

/// One fitted column of a [`StandardScaler`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScaledColumn {
    /// Input (and output) column name.
    pub name: String,
    /// What is subtracted: the mean, or 0 when `with_mean` is false.
    pub offset: f64,
    /// What the centred value is divided by: the standard deviation (1 for a constant column),
    /// or 1 when `with_std` is false.
    pub scale: f64,
}

/// A fitted standard scaler: `z = (x - offset) / scale` per column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StandardScaler {
    columns: Vec<ScaledColumn>,
}

impl StandardScalerSpec {
    /// Learns mean and standard deviation of every column of `frame`.
    ///
    /// # Formula
    /// As scikit-learn 1.9's `_incremental_mean_and_var` from zero samples:
    /// `mean = Σx / n`, `var = (Σ(x - mean)² - (Σ(x - mean))² / n) / n` (population variance,
    /// ddof = 0, with the corrected two-pass term), `scale = sqrt(var)`; a column is constant
    /// and gets `scale = 1` when `var <= n·ε·var + (n·mean·ε)²` (ε = `f64::EPSILON`).
    ///
    /// # Errors
    /// [`Error::Empty`] for a frame without columns or rows; [`Error::SchemaMismatch`] for a
    /// string column; [`Error::InvalidInput`] naming the column for a `NaN` or infinite value.
    pub fn fit(&self, frame: &RawFrame) -> Result<StandardScaler> {
        require_fit_data(frame, "StandardScaler fit")?;
        let mut columns = Vec::with_capacity(frame.n_columns());
        for c in frame.columns() {
            let x = num_column(frame, &c.name, "StandardScaler")?;
            require_finite(&c.name, x, "StandardScaler")?;
            let n = x.len() as f64;
            let mean = x.iter().sum::<f64>() / n;
            let (mut correction, mut sq) = (0.0, 0.0);
            for v in x {
                let d = v - mean;
                correction += d;
                sq += d * d;
            }
            let var = (sq - correction * correction / n) / n;
            let constant = var <= n * f64::EPSILON * var + (n * mean * f64::EPSILON).powi(2);
            let std = if constant { 1.0 } else { var.sqrt() };
            columns.push(ScaledColumn {
                name: c.name.clone(),
                offset: if self.with_mean { mean } else { 0.0 },
                scale: if self.with_std { std } else { 1.0 },
            });
        }
        Ok(StandardScaler { columns })
    }
}

impl StandardScaler {
    /// The fitted columns, in output order.
    pub fn columns(&self) -> &[ScaledColumn] {
        &self.columns
    }

    /// Scales the fitted columns of `frame` (looked up by name; others are ignored).
    ///
    /// # Errors
    /// [`Error::SchemaMismatch`] for a missing or string column; [`Error::InvalidInput`] for a
    /// `NaN` or infinite value, or a fitted scale that is not finite and positive (a corrupt file).
    pub fn transform(&self, frame: &RawFrame) -> Result<RawFrame> {
        let mut out = Vec::with_capacity(self.columns.len());
        for c in &self.columns {
            check_scale(&c.name, c.scale)?;
            let x = num_column(frame, &c.name, "StandardScaler")?;
            require_finite(&c.name, x, "StandardScaler")?;
            let z = x.iter().map(|v| (v - c.offset) / c.scale).collect();
            out.push(RawColumn::num(c.name.clone(), z));
        }
        RawFrame::new(out)
    }
}

fn check_scale(name: &str, scale: f64) -> Result<()> {
    if scale.is_finite() && scale > 0.0 {
        Ok(())
    } else {
        Err(Error::invalid_input(
            format!("fitted scale of column {name:?}"),
            format!("must be finite and positive, got {scale}"),
        ))
    }
}

/// Hyper-parameters of [`MinMaxScaler`] (scikit-learn's `MinMaxScaler(feature_range, clip)`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MinMaxScalerSpec {
    /// `(low, high)` of the output on the training data, `low < high` (default `(0, 1)`).
    pub feature_range: (f64, f64),
    /// Clip transformed values to `feature_range` (default `false`).
    pub clip: bool,
}

impl Default for MinMaxScalerSpec {
    fn default() -> Self {
        MinMaxScalerSpec {
            feature_range: (0.0, 1.0),
            clip: false,
        }
    }
}

/// One fitted column of a [`MinMaxScaler`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MinMaxColumn {
    /// Input (and output) column name.
    pub name: String,
    /// Minimum seen at fit.
    pub data_min: f64,
    /// Maximum seen at fit.
    pub data_max: f64,
    /// `(high - low) / (data_max - data_min)`, with a range below `10·ε` taken as 1.
    pub scale: f64,
    /// `low - data_min · scale`.
    pub min: f64,
}

/// A fitted min-max scaler: `y = x · scale + min` per column, optionally clipped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MinMaxScaler {
    feature_range: (f64, f64),
    clip: bool,
    columns: Vec<MinMaxColumn>,
}

impl MinMaxScalerSpec {
    /// Learns minimum and maximum of every column of `frame`.
    ///
    /// # Formula
    /// As scikit-learn: `scale = (high - low) / r` with `r = data_max - data_min`, or `r = 1`
    /// when `r < 10·ε` (a constant column then maps to `low`); `min = low - data_min · scale`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when `feature_range` is not finite with `low < high`, or a column
    /// holds `NaN` or infinity; [`Error::Empty`] for a frame without columns or rows;
    /// [`Error::SchemaMismatch`] for a string column.
    pub fn fit(&self, frame: &RawFrame) -> Result<MinMaxScaler> {
        let (low, high) = self.feature_range;
        if !(low.is_finite() && high.is_finite() && low < high) {
            return Err(Error::invalid_input(
                "MinMaxScaler feature_range",
                format!("needs finite low < high, got ({low}, {high})"),
            ));
        }
        require_fit_data(frame, "MinMaxScaler fit")?;
        let mut columns = Vec::with_capacity(frame.n_columns());
        for c in frame.columns() {
            let x = num_column(frame, &c.name, "MinMaxScaler")?;
            require_finite(&c.name, x, "MinMaxScaler")?;
            let data_min = x.iter().copied().fold(f64::INFINITY, f64::min);
            let data_max = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let mut range = data_max - data_min;
            if range < 10.0 * f64::EPSILON {
                range = 1.0;
            }
            let scale = (high - low) / range;
            columns.push(MinMaxColumn {
                name: c.name.clone(),
                data_min,
                data_max,
                scale,
                min: low - data_min * scale,
            });
        }
        Ok(MinMaxScaler {
            feature_range: self.feature_range,
            clip: self.clip,
            columns,
        })
    }
}

impl MinMaxScaler {
    /// The fitted columns, in output order.
    pub fn columns(&self) -> &[MinMaxColumn] {
        &self.columns
    }

    /// Scales the fitted columns of `frame` (looked up by name; others are ignored).
    ///
    /// # Errors
    /// [`Error::SchemaMismatch`] for a missing or string column; [`Error::InvalidInput`] for a
    /// `NaN` or infinite value, or non-finite fitted parameters (a corrupt file).
    pub fn transform(&self, frame: &RawFrame) -> Result<RawFrame> {
        let (low, high) = self.feature_range;
        let mut out = Vec::with_capacity(self.columns.len());
        for c in &self.columns {
            if !(c.scale.is_finite() && c.min.is_finite() && low <= high) {
                return Err(Error::invalid_input(
                    format!("fitted MinMaxScaler column {:?}", c.name),
                    "scale, min and feature_range must be finite with low <= high",
                ));
            }
            let x = num_column(frame, &c.name, "MinMaxScaler")?;
            require_finite(&c.name, x, "MinMaxScaler")?;
            let y = x
                .iter()
                .map(|v| {
                    let y = v * c.scale + c.min;
                    if self.clip {
                        y.clamp(low, high)
                    } else {
                        y
                    }
                })
                .collect();
            out.push(RawColumn::num(c.name.clone(), y));
        }
        RawFrame::new(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(cols: Vec<RawColumn>) -> RawFrame {
        RawFrame::new(cols).unwrap()
    }

    #[test]
    fn nan_and_inf_name_the_column() {
        let f = frame(vec![RawColumn::num("a", vec![1.0, f64::NAN])]);
        let e = StandardScalerSpec::default().fit(&f).unwrap_err();
        assert!(
            matches!(&e, Error::InvalidInput { what, reason } if what.contains("\"a\"") && reason.contains("NaN")),
            "{e}"
        );
        let f = frame(vec![RawColumn::num("b", vec![1.0, f64::INFINITY])]);
        let e = MinMaxScalerSpec::default().fit(&f).unwrap_err();
        assert!(
            matches!(&e, Error::InvalidInput { what, reason } if what.contains("\"b\"") && reason.contains("infinite")),
            "{e}"
        );
        // ... and at transform time as well.
        let fitted = StandardScalerSpec::default()
            .fit(&frame(vec![RawColumn::num("a", vec![1.0, 2.0])]))
            .unwrap();
        let e = fitted
            .transform(&frame(vec![RawColumn::num("a", vec![f64::NAN])]))
            .unwrap_err();
        assert!(matches!(e, Error::InvalidInput { .. }), "{e}");
    }

    #[test]
    fn empty_and_type_errors() {
        let e = StandardScalerSpec::default()
            .fit(&RawFrame::default())
            .unwrap_err();
        assert!(matches!(e, Error::Empty { .. }), "{e}");
        let e = MinMaxScalerSpec::default()
            .fit(&frame(vec![RawColumn::num("a", vec![])]))
            .unwrap_err();
        assert!(matches!(e, Error::Empty { .. }), "{e}");
        let e = StandardScalerSpec::default()
            .fit(&frame(vec![RawColumn::str("s", vec![Some("x".into())])]))
            .unwrap_err();
        assert!(
            matches!(&e, Error::SchemaMismatch { field, .. } if field == "s"),
            "{e}"
        );
        let fitted = StandardScalerSpec::default()
            .fit(&frame(vec![RawColumn::num("a", vec![1.0, 2.0])]))
            .unwrap();
        let e = fitted
            .transform(&frame(vec![RawColumn::num("b", vec![1.0])]))
            .unwrap_err();
        assert!(
            matches!(&e, Error::SchemaMismatch { field, .. } if field == "a"),
            "{e}"
        );
    }

    #[test]
    fn bad_feature_range() {
        let f = frame(vec![RawColumn::num("a", vec![1.0, 2.0])]);
        for r in [
            (1.0, 1.0),
            (2.0, 1.0),
            (f64::NAN, 1.0),
            (0.0, f64::INFINITY),
        ] {
            let spec = MinMaxScalerSpec {
                feature_range: r,
                clip: false,
            };
            assert!(matches!(spec.fit(&f), Err(Error::InvalidInput { .. })));
        }
    }
}
