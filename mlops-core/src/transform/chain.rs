//! A fitted chain of transforms per column group, like scikit-learn's `ColumnTransformer` of
//! `Pipeline`s with `remainder='drop'`.
//!
//! Each [`GroupSpec`] selects columns by name and runs its steps in order, each step fitted on
//! the previous step's output (so a scaler after an imputer with `add_indicator` also scales
//! the indicator columns, as in scikit-learn). The groups' outputs are concatenated in order
//! into a dense row-major matrix; columns named by no group are dropped.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::{
    require_finite, require_fit_data, ColumnKind, ColumnSelector, ColumnSelectorSpec, ColumnValues,
    MinMaxScaler, MinMaxScalerSpec, OneHotEncoder, OneHotEncoderSpec, RawFrame, SimpleImputer,
    SimpleImputerSpec, StandardScaler, StandardScalerSpec,
};
use crate::{Error, Result};

/// The format tag of [`TransformChain::to_json`]; [`TransformChain::from_json`] rejects others.
pub const FORMAT: &str = "mlops.transform/1";

/// One step of a group. Serialised with a `"step"` tag: `{"step": "standard_scaler", ...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum StepSpec {
    /// A [`SimpleImputerSpec`].
    SimpleImputer(SimpleImputerSpec),
    /// A [`StandardScalerSpec`].
    StandardScaler(StandardScalerSpec),
    /// A [`MinMaxScalerSpec`].
    #[serde(rename = "minmax_scaler")]
    MinMaxScaler(MinMaxScalerSpec),
    /// A [`OneHotEncoderSpec`].
    #[serde(rename = "onehot_encoder")]
    OneHotEncoder(OneHotEncoderSpec),
}

/// A named group of columns and the steps applied to them (one `ColumnTransformer` entry).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSpec {
    /// Group name: the prefix `<name>__` of its feature names when verbose.
    pub name: String,
    /// Input columns, in order.
    pub columns: Vec<String>,
    /// Steps, applied in order; none = passthrough (numeric columns only).
    #[serde(default)]
    pub steps: Vec<StepSpec>,
}

impl GroupSpec {
    /// A group `name` over `columns` with `steps`.
    pub fn new<S: Into<String>>(
        name: impl Into<String>,
        columns: impl IntoIterator<Item = S>,
        steps: Vec<StepSpec>,
    ) -> Self {
        GroupSpec {
            name: name.into(),
            columns: columns.into_iter().map(Into::into).collect(),
            steps,
        }
    }
}

/// The hyper-parameters of a [`TransformChain`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainSpec {
    /// The groups, in output order.
    pub groups: Vec<GroupSpec>,
    /// Prefix feature names with `<group>__` (scikit-learn's `verbose_feature_names_out`;
    /// default `false`, which requires the names to be unique without the prefix).
    #[serde(default)]
    pub verbose_feature_names: bool,
}

impl ChainSpec {
    /// A chain of `groups`, without name prefixes.
    pub fn new(groups: Vec<GroupSpec>) -> Self {
        ChainSpec {
            groups,
            verbose_feature_names: false,
        }
    }

    /// Sets [`ChainSpec::verbose_feature_names`].
    pub fn with_verbose_feature_names(mut self, on: bool) -> Self {
        self.verbose_feature_names = on;
        self
    }
}

/// A fitted step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum FittedStep {
    /// A fitted [`SimpleImputer`].
    SimpleImputer(SimpleImputer),
    /// A fitted [`StandardScaler`].
    StandardScaler(StandardScaler),
    /// A fitted [`MinMaxScaler`].
    #[serde(rename = "minmax_scaler")]
    MinMaxScaler(MinMaxScaler),
    /// A fitted [`OneHotEncoder`].
    #[serde(rename = "onehot_encoder")]
    OneHotEncoder(OneHotEncoder),
}

/// A fitted group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FittedGroup {
    name: String,
    selector: ColumnSelector,
    steps: Vec<FittedStep>,
}

impl FittedGroup {
    /// Group name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The fitted steps, in order.
    pub fn steps(&self) -> &[FittedStep] {
        &self.steps
    }

    /// Runs the group on `frame`; also returns (column, unknown count) for every one-hot input.
    fn run(&self, frame: &RawFrame) -> Result<(RawFrame, Vec<(String, usize)>)> {
        let mut cur = self.selector.transform(frame)?;
        let mut unknown = Vec::new();
        for step in &self.steps {
            cur = match step {
                FittedStep::SimpleImputer(s) => s.transform(&cur)?,
                FittedStep::StandardScaler(s) => s.transform(&cur)?,
                FittedStep::MinMaxScaler(s) => s.transform(&cur)?,
                FittedStep::OneHotEncoder(s) => {
                    let (out, counts) = s.transform_counting(&cur)?;
                    unknown.extend(s.columns().iter().map(|c| c.name.clone()).zip(counts));
                    out
                }
            };
        }
        check_group_output(&self.name, &cur)?;
        Ok((cur, unknown))
    }
}

/// The output of every group must be numeric and finite: it becomes the dense matrix.
fn check_group_output(group: &str, frame: &RawFrame) -> Result<()> {
    for c in frame.columns() {
        match &c.values {
            ColumnValues::Num(v) => {
                require_finite(&c.name, v, &format!("the output of group {group:?}"))?
            }
            ColumnValues::Str(_) => {
                return Err(Error::invalid_input(
                    format!("group {group:?}"),
                    format!(
                        "outputs the string column {:?}; end the group with a onehot_encoder",
                        c.name
                    ),
                ))
            }
        }
    }
    Ok(())
}

/// An input column of a chain: its name and the kind it must have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputColumn {
    /// Column name.
    pub name: String,
    /// Numeric or string.
    pub kind: ColumnKind,
}

/// How many values of one one-hot encoded column were unknown (not seen at fit).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnknownCount {
    /// The group.
    pub group: String,
    /// The column, as it enters the encoder.
    pub column: String,
    /// Unknown values in this batch (out of [`Transformed::n_rows`]).
    pub count: usize,
}

/// The output of [`TransformChain::transform`].
#[derive(Debug, Clone, PartialEq)]
pub struct Transformed {
    /// Row-major `n_rows × feature_names.len()` values.
    pub data: Vec<f64>,
    /// Number of rows.
    pub n_rows: usize,
    /// Output column names, as scikit-learn's `get_feature_names_out()`.
    pub feature_names: Vec<String>,
    /// Per one-hot encoded column, how many values were unknown.
    pub unknown_counts: Vec<UnknownCount>,
}

impl Transformed {
    /// Number of output columns.
    pub fn n_cols(&self) -> usize {
        self.feature_names.len()
    }

    /// Row `i`, if it exists.
    pub fn row(&self, i: usize) -> Option<&[f64]> {
        let n = self.n_cols();
        self.data
            .get(i.checked_mul(n)?..i.checked_add(1)?.checked_mul(n)?)
    }

    /// The data as `f32` (rounded to nearest), for models that take single precision.
    pub fn to_f32(&self) -> Vec<f32> {
        self.data.iter().map(|&v| v as f32).collect()
    }
}

/// A fitted chain: per-group fitted steps, serialisable to JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransformChain {
    format: String,
    verbose_feature_names: bool,
    groups: Vec<FittedGroup>,
    feature_names: Vec<String>,
}

impl TransformChain {
    /// Fits every group of `spec` on `frame`, each step on the previous step's output.
    ///
    /// # Errors
    /// [`Error::Empty`] for no groups, a group without columns, or a frame without rows or
    /// columns; [`Error::InvalidInput`] for a repeated group name, a `NaN` or infinite value
    /// that reaches a scaler or the output (impute first), a group whose output holds strings,
    /// or output feature names that are not unique; [`Error::SchemaMismatch`] for a missing
    /// column or a column of the wrong kind for a step; and every error of the steps' `fit`.
    #[tracing::instrument(level = "debug", skip_all, fields(groups = spec.groups.len(), rows = frame.n_rows()), err)]
    pub fn fit(spec: &ChainSpec, frame: &RawFrame) -> Result<TransformChain> {
        if spec.groups.is_empty() {
            return Err(Error::Empty {
                what: "chain spec groups".to_owned(),
            });
        }
        require_fit_data(frame, "TransformChain fit")?;
        let mut names = HashSet::new();
        let mut groups = Vec::with_capacity(spec.groups.len());
        let mut feature_names = Vec::new();
        for g in &spec.groups {
            if !names.insert(g.name.as_str()) {
                return Err(Error::invalid_input(
                    format!("group {:?}", g.name),
                    "group names must be unique",
                ));
            }
            let selector = ColumnSelectorSpec {
                columns: g.columns.clone(),
            }
            .fit(frame)?;
            let mut cur = selector.transform(frame)?;
            let mut steps = Vec::with_capacity(g.steps.len());
            for s in &g.steps {
                let fitted = match s {
                    StepSpec::SimpleImputer(s) => FittedStep::SimpleImputer(s.fit(&cur)?),
                    StepSpec::StandardScaler(s) => FittedStep::StandardScaler(s.fit(&cur)?),
                    StepSpec::MinMaxScaler(s) => FittedStep::MinMaxScaler(s.fit(&cur)?),
                    StepSpec::OneHotEncoder(s) => FittedStep::OneHotEncoder(s.fit(&cur)?),
                };
                cur = match &fitted {
                    FittedStep::SimpleImputer(s) => s.transform(&cur)?,
                    FittedStep::StandardScaler(s) => s.transform(&cur)?,
                    FittedStep::MinMaxScaler(s) => s.transform(&cur)?,
                    FittedStep::OneHotEncoder(s) => s.transform(&cur)?,
                };
                steps.push(fitted);
            }
            check_group_output(&g.name, &cur)?;
            feature_names.extend(
                cur.columns()
                    .iter()
                    .map(|c| output_name(spec.verbose_feature_names, &g.name, &c.name)),
            );
            groups.push(FittedGroup {
                name: g.name.clone(),
                selector,
                steps,
            });
        }
        let mut seen = HashSet::with_capacity(feature_names.len());
        if let Some(dup) = feature_names.iter().find(|n| !seen.insert(n.as_str())) {
            return Err(Error::invalid_input(
                format!("feature name {dup:?}"),
                "produced by two columns; rename them or set verbose_feature_names",
            ));
        }
        Ok(TransformChain {
            format: FORMAT.to_owned(),
            verbose_feature_names: spec.verbose_feature_names,
            groups,
            feature_names,
        })
    }

    /// Transforms `frame` (extra columns are ignored; zero rows give an empty matrix).
    ///
    /// # Errors
    /// [`Error::SchemaMismatch`] for a missing column, a column of another kind than at fit,
    /// or an unknown category under `handle_unknown = error` (naming column and value);
    /// [`Error::InvalidInput`] for a `NaN` that reaches a scaler or the output, an infinite
    /// value, or a chain whose output no longer matches its fitted feature names (a corrupt file).
    #[tracing::instrument(level = "debug", skip_all, fields(rows = frame.n_rows()), err)]
    pub fn transform(&self, frame: &RawFrame) -> Result<Transformed> {
        let mut columns: Vec<Vec<f64>> = Vec::with_capacity(self.feature_names.len());
        let mut names = Vec::with_capacity(self.feature_names.len());
        let mut unknown_counts = Vec::new();
        for g in &self.groups {
            let (out, unknown) = g.run(frame)?;
            unknown_counts.extend(unknown.into_iter().map(|(column, count)| UnknownCount {
                group: g.name.clone(),
                column,
                count,
            }));
            for c in out.into_columns() {
                names.push(output_name(self.verbose_feature_names, &g.name, &c.name));
                if let ColumnValues::Num(v) = c.values {
                    columns.push(v);
                }
            }
        }
        if names != self.feature_names || columns.len() != names.len() {
            return Err(Error::invalid_input(
                "transform chain",
                "output features differ from the fitted feature names (corrupt chain file?)",
            ));
        }
        let n_rows = frame.n_rows();
        let mut data = Vec::with_capacity(n_rows * columns.len());
        for i in 0..n_rows {
            // Every column has n_rows values: each came out of a validated RawFrame whose rows
            // are the input frame's rows.
            data.extend(
                columns
                    .iter()
                    .map(|c| c.get(i).copied().unwrap_or(f64::NAN)),
            );
        }
        Ok(Transformed {
            data,
            n_rows,
            feature_names: names,
            unknown_counts,
        })
    }

    /// The output feature names.
    pub fn feature_names(&self) -> &[String] {
        &self.feature_names
    }

    /// The fitted groups.
    pub fn groups(&self) -> &[FittedGroup] {
        &self.groups
    }

    /// The columns an input frame must have, with their kinds, in first-use order.
    pub fn input_columns(&self) -> Vec<InputColumn> {
        let mut seen = HashSet::new();
        self.groups
            .iter()
            .flat_map(|g| g.selector.columns())
            .filter(|(name, _)| seen.insert(name.clone()))
            .map(|(name, kind)| InputColumn {
                name: name.clone(),
                kind: *kind,
            })
            .collect()
    }

    /// Serialises the chain as JSON tagged `"format": "mlops.transform/1"`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] if serialisation fails (a fitted value that JSON cannot hold).
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self)
            .map_err(|e| Error::invalid_input("transform chain", format!("cannot serialise: {e}")))
    }

    /// Reads a chain written by [`TransformChain::to_json`].
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for invalid JSON, a missing or different `"format"` tag, or a
    /// structure that is not a fitted chain.
    #[tracing::instrument(level = "debug", skip_all, fields(bytes = json.len()), err)]
    pub fn from_json(json: &str) -> Result<TransformChain> {
        let value: serde_json::Value = serde_json::from_str(json)
            .map_err(|e| Error::invalid_input("transform chain JSON", e.to_string()))?;
        match value.get("format").and_then(serde_json::Value::as_str) {
            Some(FORMAT) => {}
            Some(other) => {
                return Err(Error::invalid_input(
                    "transform chain format",
                    format!("expected {FORMAT:?}, got {other:?}"),
                ))
            }
            None => {
                return Err(Error::invalid_input(
                    "transform chain format",
                    format!("missing \"format\" tag (expected {FORMAT:?})"),
                ))
            }
        }
        serde_json::from_value(value)
            .map_err(|e| Error::invalid_input("transform chain JSON", e.to_string()))
    }
}

fn output_name(verbose: bool, group: &str, name: &str) -> String {
    if verbose {
        format!("{group}__{name}")
    } else {
        name.to_owned()
    }
}
