//! Mergeable windows: [`WindowSpec`] (by period or by row count), [`WindowState`] (everything
//! a window's metrics need, exactly, serde-serialisable and mergeable) and
//! [`WindowState::finalize`] (the window's [`WindowValues`]).
//!
//! # Exactness of merges
//! A state keeps its rows column by column (timestamps, errors, latencies, predictions, labels,
//! scores, KPI fields, feature cells), not running sums: [`WindowState::merge`] concatenates, and
//! [`WindowState::finalize`] first orders the rows by timestamp (a stable sort, so rows with the
//! same timestamp keep their arrival order). Hourly states merged into a day therefore finalize
//! to the same values, bit for bit, as the day computed directly ([`roll_up`]).
//!
//! # Task
//! [`Task::Classification`] or [`Task::Regression`] from the configuration; with [`Task::Auto`]
//! a window is a classification window when any row logged class scores or any prediction or
//! label is a text, and a regression window otherwise. Set the task explicitly for a classifier
//! that logs numeric classes without scores.
//!
//! # Classification conventions
//! - Classes are compared by [`Value::class_key`] (`1.0` and `"1"` are the same class); the
//!   class set is the sorted union of the labelled rows' labels and predictions (as sklearn).
//! - Realised metrics use the labelled rows that have a prediction (failed requests excluded).
//! - Binary: the positive class is `"1"` when it occurs, otherwise the second of exactly two
//!   classes; `scores[1]` is its probability. `precision`, `recall`, `f1` are the positive
//!   class's; `roc_auc` and `log_loss` use the labelled rows that logged two scores.
//! - Multiclass (scores of width `k > 2`): score column `j` belongs to the class whose key is the
//!   integer `j` when every class key is an integer below `k`, otherwise to the `j`-th class in
//!   sorted order when exactly `k` classes occur; otherwise `roc_auc` / `log_loss` are absent.
//! - The label-free estimator sees every scored binary row of the window (labelled or not), as
//!   NannyML's CBPE estimates on the whole chunk.
//!
//! # Regression
//! `mae`, `rmse`, `mape`, `r2` (two rows or more) over labelled rows whose prediction and label
//! are both finite numbers.
//!
//! # Drift
//! With a reference profile, every feature column the profile knows is compared with
//! [`DriftReport::compare`] (columns absent from the profile are ignored). The kind comes from
//! the profile: against a numeric profile a text cell is missing; against a categorical one a
//! number is its class key. `drift.<col>.statistic` is the deciding test's statistic and
//! `drift.<col>.p_value` its p-value, or, for a distance that decides, the KS (numeric) / χ²
//! (categorical) p-value. `drift_share` is the report's share of drifted columns;
//! `unknown_rate.<col>` the share of a categorical column's non-missing cells whose category the
//! reference never saw. The prediction is compared with the profile's feature named
//! [`FinalizeContext::prediction_column`] (`prediction_drift.*`), which is then not an input column.
//!
//! # Data quality
//! With [`FinalizeContext::schema`], the rows' input columns are checked against the schema
//! (`quality.*`, see [`crate::quality`]).
//!
//! Values that cannot be computed (no labels, one class, too few rows, a score row that does not
//! sum to 1, …) are absent; [`Finalized::skipped`] says why.

use std::collections::{BTreeMap, HashMap};

use mlops_core::metrics;
use mlops_drift::io::{Column, Table};
use mlops_drift::profile::FeatureProfile;
use mlops_drift::{DriftConfig, DriftReport, ReferenceProfile};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::record::{LoggedPrediction, Value};
use crate::values::{LabelFreeEstimator, WindowKey, WindowValues};

/// Parses a duration as Prometheus writes them: one or more `<integer><unit>`, units `ms`, `s`,
/// `m`, `h`, `d`, `w` (`"90s"`, `"1h30m"`). Shared by window lengths, alert rules (`for`,
/// `keep_firing_for`) and the CLI's duration flags.
///
/// # Errors
/// [`Error::InvalidInput`] for an empty text, a missing number or unit, an unknown unit, a
/// fraction or a sign, or an overflow.
pub fn parse_duration(s: &str) -> Result<std::time::Duration> {
    let s = s.trim();
    let bad = |why: String| Error::invalid("duration", why);
    if s.is_empty() {
        return Err(bad("empty duration".into()));
    }
    let mut total_ms: u64 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.chars().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return Err(bad(format!("{s:?}: expected a number before {rest:?}")));
        }
        let n: u64 = rest[..digits]
            .parse()
            .map_err(|_| bad(format!("{s:?}: number too large")))?;
        rest = &rest[digits..];
        let unit_len = rest.chars().take_while(|c| c.is_ascii_alphabetic()).count();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let ms_per: u64 = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            "" => return Err(bad(format!("{s:?}: missing unit (ms, s, m, h, d, w)"))),
            other => {
                return Err(bad(format!(
                    "{s:?}: unknown unit {other:?} (ms, s, m, h, d, w)"
                )))
            }
        };
        total_ms = n
            .checked_mul(ms_per)
            .and_then(|x| total_ms.checked_add(x))
            .ok_or_else(|| bad(format!("{s:?}: duration too large")))?;
    }
    Ok(std::time::Duration::from_millis(total_ms))
}

/// How rows are cut into windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowSpec {
    /// Fixed periods of this many milliseconds, aligned to the Unix epoch (UTC): hourly windows
    /// nest into daily ones.
    Period(i64),
    /// Every `n` consecutive rows of a key (in arrival order) form a window.
    Rows(u64),
}

impl WindowSpec {
    /// Parses a period ([`parse_duration`]: `15s`, `30m`, `1h`, `1d`, `1w`, `250ms`) or a row
    /// count (`1000rows`).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an unknown unit, a missing or zero count, or an overflow.
    pub fn parse(s: &str) -> Result<Self> {
        let t = s.trim();
        let bad = |why: &str| Error::invalid("window", format!("{s:?}: {why}"));
        if let Some(num) = t.strip_suffix("rows").or_else(|| t.strip_suffix("row")) {
            return match num.trim().parse::<u64>() {
                Ok(0) => Err(bad("the count must be positive")),
                Ok(n) => Ok(WindowSpec::Rows(n)),
                Err(_) => Err(bad("expected a count then a unit (e.g. 1h, 30m, 1000rows)")),
            };
        }
        let d = parse_duration(t).map_err(|e| match e {
            Error::InvalidInput { reason, .. } => bad(&reason),
            other => other,
        })?;
        match i64::try_from(d.as_millis()) {
            Ok(0) => Err(bad("the period must be positive")),
            Ok(ms) => Ok(WindowSpec::Period(ms)),
            Err(_) => Err(bad("too large")),
        }
    }

    /// The `[start, end)` period holding `ts` (`None` for row-count windows).
    pub fn period_of(&self, ts: i64) -> Option<(i64, i64)> {
        match *self {
            WindowSpec::Period(p) if p > 0 => {
                let start = ts.div_euclid(p) * p;
                Some((start, start.saturating_add(p)))
            }
            _ => None,
        }
    }
}

/// What the windows' rows are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// Decide per window (see the module doc).
    #[default]
    Auto,
    /// Predictions and labels are classes.
    Classification,
    /// Predictions and labels are numbers.
    Regression,
}

/// A cell of a stored column.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
enum Cell {
    Missing,
    Num(f64),
    Cat(u32),
}

/// Interned strings (texts of features, predictions and labels).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "Vec<String>", into = "Vec<String>")]
struct Dict {
    names: Vec<String>,
    index: HashMap<String, u32>,
}

impl From<Vec<String>> for Dict {
    fn from(names: Vec<String>) -> Self {
        let index = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i as u32))
            .collect();
        Dict { names, index }
    }
}

impl From<Dict> for Vec<String> {
    fn from(d: Dict) -> Self {
        d.names
    }
}

impl Dict {
    fn intern(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = self.names.len() as u32;
        self.names.push(s.to_owned());
        self.index.insert(s.to_owned(), i);
        i
    }

    fn name(&self, i: u32) -> &str {
        self.names.get(i as usize).map_or("", String::as_str)
    }

    fn cell(&mut self, v: &Value) -> Cell {
        match v {
            Value::Num(x) if !x.is_finite() => Cell::Missing,
            Value::Num(x) => Cell::Num(*x),
            Value::Str(s) => Cell::Cat(self.intern(s)),
        }
    }
}

/// Everything a window's values need, kept exactly (see the module doc). Serde-serialisable
/// (JSON or bincode) and mergeable.
///
/// Non-finite feature and label cells are stored as missing. Non-finite scores, latencies and
/// KPI values are kept as they are in memory; serialised, they become `null` and read back as
/// NaN (JSON has no NaN/±inf), so a score of `inf` reads back as `NaN` (refused either way).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowState {
    /// What the window is about.
    pub key: WindowKey,
    /// Start, milliseconds since the Unix epoch (inclusive).
    pub start_ms: i64,
    /// End, milliseconds since the Unix epoch (exclusive).
    pub end_ms: i64,
    dict: Dict,
    ts: Vec<i64>,
    error: Vec<bool>,
    #[serde(with = "nan_as_null")]
    latency: Vec<f64>,
    prediction: Vec<Cell>,
    label: Vec<Cell>,
    #[serde(with = "nan_as_null")]
    scores: Vec<f64>,
    score_len: Vec<u32>,
    columns: Vec<String>,
    features: Vec<Vec<Cell>>,
    kpi_names: Vec<String>,
    #[serde(with = "nan_as_null::nested")]
    kpis: Vec<Vec<f64>>,
}

/// Non-finite floats as `None` (JSON has no NaN/±inf); read back as NaN.
mod nan_as_null {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    fn opt(v: &[f64]) -> Vec<Option<f64>> {
        v.iter().map(|x| x.is_finite().then_some(*x)).collect()
    }

    fn back(v: Vec<Option<f64>>) -> Vec<f64> {
        v.into_iter().map(|x| x.unwrap_or(f64::NAN)).collect()
    }

    pub fn serialize<S: Serializer>(v: &[f64], s: S) -> Result<S::Ok, S::Error> {
        opt(v).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        Ok(back(Vec::<Option<f64>>::deserialize(d)?))
    }

    pub mod nested {
        use super::*;

        pub fn serialize<S: Serializer>(v: &[Vec<f64>], s: S) -> Result<S::Ok, S::Error> {
            v.iter().map(|c| opt(c)).collect::<Vec<_>>().serialize(s)
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<f64>>, D::Error> {
            Ok(Vec::<Vec<Option<f64>>>::deserialize(d)?
                .into_iter()
                .map(back)
                .collect())
        }
    }
}

/// What [`WindowState::finalize`] needs beyond the rows.
#[derive(Clone, Copy)]
pub struct FinalizeContext<'a> {
    /// Classification, regression or decide per window.
    pub task: Task,
    /// Reference profile for input and prediction drift.
    pub reference: Option<&'a ReferenceProfile>,
    /// Drift settings (`None`: [`DriftConfig::default`]).
    pub drift: Option<&'a DriftConfig>,
    /// The profile feature the predictions are compared with (default `"prediction"`).
    pub prediction_column: &'a str,
    /// Gains of `[tp, fp, fn, tn]` (binary classifiers) for `value.realised` / `value.estimated`.
    pub value_matrix: Option<[f64; 4]>,
    /// Label-free estimator (CBPE) for `estimated.*`.
    pub estimator: Option<&'a dyn LabelFreeEstimator>,
    /// Data-quality schema of the logged inputs, for `quality.*` ([`crate::quality`]).
    pub schema: Option<&'a mlops_validate::Schema>,
}

impl Default for FinalizeContext<'_> {
    fn default() -> Self {
        Self {
            task: Task::Auto,
            reference: None,
            drift: None,
            prediction_column: "prediction",
            value_matrix: None,
            estimator: None,
            schema: None,
        }
    }
}

impl std::fmt::Debug for FinalizeContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FinalizeContext")
            .field("task", &self.task)
            .field("reference", &self.reference.map(|r| r.features.len()))
            .field("prediction_column", &self.prediction_column)
            .field("value_matrix", &self.value_matrix)
            .field("estimator", &self.estimator.is_some())
            .field("schema", &self.schema.map(|s| s.columns.len()))
            .finish()
    }
}

/// A finalized window: its values and why some could not be computed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finalized {
    /// The values (names as in [`crate::values`]).
    pub values: WindowValues,
    /// Metric (or group) → why it is absent, for metrics that were attempted.
    pub skipped: BTreeMap<String, String>,
}

fn column_index(
    names: &mut Vec<String>,
    cols_len: usize,
    hint: usize,
    name: &str,
) -> Option<usize> {
    if names.get(hint).is_some_and(|n| n == name) {
        return Some(hint);
    }
    let found = names.iter().position(|n| n == name);
    if found.is_none() && names.len() == cols_len {
        names.push(name.to_owned());
        return None;
    }
    found
}

impl WindowState {
    /// An empty state for `key` over `[start_ms, end_ms)`.
    pub fn new(key: WindowKey, start_ms: i64, end_ms: i64) -> Self {
        Self {
            key,
            start_ms,
            end_ms,
            dict: Dict::default(),
            ts: Vec::new(),
            error: Vec::new(),
            latency: Vec::new(),
            prediction: Vec::new(),
            label: Vec::new(),
            scores: Vec::new(),
            score_len: Vec::new(),
            columns: Vec::new(),
            features: Vec::new(),
            kpi_names: Vec::new(),
            kpis: Vec::new(),
        }
    }

    /// Rows in the window.
    pub fn len(&self) -> usize {
        self.ts.len()
    }

    /// True when the window has no row.
    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }

    /// Rows with a joined label.
    pub fn n_labelled(&self) -> usize {
        self.label.iter().filter(|c| **c != Cell::Missing).count()
    }

    /// The smallest and largest timestamp of the rows.
    pub fn time_span(&self) -> Option<(i64, i64)> {
        let min = self.ts.iter().min()?;
        let max = self.ts.iter().max()?;
        Some((*min, *max))
    }

    /// Sets the bounds to the rows' span, `[min ts, max ts + 1)` (row-count windows).
    pub fn fit_bounds_to_rows(&mut self) {
        if let Some((a, b)) = self.time_span() {
            self.start_ms = a;
            self.end_ms = b.saturating_add(1);
        }
    }

    /// The same rows under another key (segments folded into `"other"`).
    pub fn with_key(mut self, key: WindowKey) -> Self {
        self.key = key;
        self
    }

    /// Adds one row and its joined label (`None`: not labelled yet). The row's key and
    /// timestamp are the caller's business (the report routes rows to their window).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a non-finite numeric label (naming the prediction id).
    pub fn push(&mut self, p: &LoggedPrediction, label: Option<&Value>) -> Result<()> {
        if let Some(Value::Num(x)) = label {
            if !x.is_finite() {
                return Err(Error::invalid(
                    format!("label of prediction {:?}", p.id),
                    format!("{x} is not a finite number"),
                ));
            }
        }
        let row = self.ts.len();
        self.ts.push(p.timestamp_ms);
        self.error.push(p.error.is_some());
        self.latency.push(p.latency_s.unwrap_or(f64::NAN));
        let pred = match (&p.error, &p.prediction) {
            (None, Some(v)) => self.dict.cell(v),
            _ => Cell::Missing,
        };
        self.prediction.push(pred);
        let lab = label.map_or(Cell::Missing, |v| self.dict.cell(v));
        self.label.push(lab);
        self.scores.extend_from_slice(&p.scores);
        self.score_len.push(p.scores.len() as u32);
        for (i, (name, v)) in p.features.iter().enumerate() {
            let cell = self.dict.cell(v);
            match column_index(&mut self.columns, self.features.len(), i, name) {
                Some(c) => {
                    if let Some(col) = self.features.get_mut(c) {
                        if col.len() == row {
                            col.push(cell);
                        }
                    }
                }
                None => {
                    let mut col = vec![Cell::Missing; row];
                    col.push(cell);
                    self.features.push(col);
                }
            }
        }
        for col in &mut self.features {
            if col.len() == row {
                col.push(Cell::Missing);
            }
        }
        for (i, (name, v)) in p.kpis.iter().enumerate() {
            match column_index(&mut self.kpi_names, self.kpis.len(), i, name) {
                Some(c) => {
                    if let Some(col) = self.kpis.get_mut(c) {
                        if col.len() == row {
                            col.push(*v);
                        }
                    }
                }
                None => {
                    let mut col = vec![f64::NAN; row];
                    col.push(*v);
                    self.kpis.push(col);
                }
            }
        }
        for col in &mut self.kpis {
            if col.len() == row {
                col.push(f64::NAN);
            }
        }
        Ok(())
    }

    /// Appends `other`'s rows (the bounds become the union of both spans). Rows are ordered
    /// by timestamp when the state is finalized, so the order of merges does not matter for
    /// rows with distinct timestamps.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when the keys differ or `other` is inconsistent
    /// ([`WindowState::validate`]).
    pub fn merge(&mut self, other: WindowState) -> Result<()> {
        other.validate()?;
        if self.key != other.key {
            return Err(Error::invalid(
                "window merge",
                format!(
                    "keys differ: {:?} vs {:?}",
                    (
                        &self.key.model,
                        self.key.version,
                        &self.key.arm,
                        &self.key.segment
                    ),
                    (
                        &other.key.model,
                        other.key.version,
                        &other.key.arm,
                        &other.key.segment
                    )
                ),
            ));
        }
        let rows = self.ts.len();
        let other_rows = other.ts.len();
        self.start_ms = self.start_ms.min(other.start_ms);
        self.end_ms = self.end_ms.max(other.end_ms);
        let remap: Vec<u32> = other
            .dict
            .names
            .iter()
            .map(|n| self.dict.intern(n))
            .collect();
        let map = |c: Cell| match c {
            Cell::Cat(i) => remap
                .get(i as usize)
                .map_or(Cell::Missing, |&j| Cell::Cat(j)),
            other => other,
        };
        self.ts.extend_from_slice(&other.ts);
        self.error.extend_from_slice(&other.error);
        self.latency.extend_from_slice(&other.latency);
        self.prediction
            .extend(other.prediction.iter().map(|&c| map(c)));
        self.label.extend(other.label.iter().map(|&c| map(c)));
        self.scores.extend_from_slice(&other.scores);
        self.score_len.extend_from_slice(&other.score_len);
        let mut seen = vec![false; self.features.len()];
        for (name, col) in other.columns.iter().zip(other.features) {
            match self.columns.iter().position(|n| n == name) {
                Some(c) => {
                    if let Some(x) = seen.get_mut(c) {
                        *x = true;
                    }
                    if let Some(f) = self.features.get_mut(c) {
                        f.extend(col.into_iter().map(map));
                    }
                }
                None => {
                    let mut v = vec![Cell::Missing; rows];
                    v.extend(col.into_iter().map(map));
                    self.columns.push(name.clone());
                    self.features.push(v);
                }
            }
        }
        for (c, s) in seen.iter().enumerate() {
            if !s {
                self.features[c].extend(std::iter::repeat_n(Cell::Missing, other_rows));
            }
        }
        let mut seen = vec![false; self.kpis.len()];
        for (name, col) in other.kpi_names.iter().zip(other.kpis) {
            match self.kpi_names.iter().position(|n| n == name) {
                Some(c) => {
                    if let Some(x) = seen.get_mut(c) {
                        *x = true;
                    }
                    if let Some(k) = self.kpis.get_mut(c) {
                        k.extend(col);
                    }
                }
                None => {
                    let mut v = vec![f64::NAN; rows];
                    v.extend(col);
                    self.kpi_names.push(name.clone());
                    self.kpis.push(v);
                }
            }
        }
        for (c, s) in seen.iter().enumerate() {
            if !s {
                self.kpis[c].extend(std::iter::repeat_n(f64::NAN, other_rows));
            }
        }
        Ok(())
    }

    /// Splits off the rows from `at` on (in stored order) into a new state with the same key,
    /// bounds and dictionary.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when `at` exceeds the rows or the state is inconsistent.
    pub fn split_off(&mut self, at: usize) -> Result<WindowState> {
        self.validate()?;
        if at > self.ts.len() {
            return Err(Error::invalid(
                "split_off",
                format!("row {at} of {}", self.ts.len()),
            ));
        }
        let score_at: usize = self.score_len[..at].iter().map(|&l| l as usize).sum();
        Ok(WindowState {
            key: self.key.clone(),
            start_ms: self.start_ms,
            end_ms: self.end_ms,
            dict: self.dict.clone(),
            ts: self.ts.split_off(at),
            error: self.error.split_off(at),
            latency: self.latency.split_off(at),
            prediction: self.prediction.split_off(at),
            label: self.label.split_off(at),
            scores: self.scores.split_off(score_at),
            score_len: self.score_len.split_off(at),
            columns: self.columns.clone(),
            features: self.features.iter_mut().map(|c| c.split_off(at)).collect(),
            kpi_names: self.kpi_names.clone(),
            kpis: self.kpis.iter_mut().map(|c| c.split_off(at)).collect(),
        })
    }

    /// Checks the internal invariants (every column as long as the rows) — for states read back
    /// from storage.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the inconsistent part.
    pub fn validate(&self) -> Result<()> {
        let n = self.ts.len();
        let bad = |what: &str| {
            Err(Error::invalid(
                "window state",
                format!("{what} length mismatch"),
            ))
        };
        if self.error.len() != n
            || self.latency.len() != n
            || self.prediction.len() != n
            || self.label.len() != n
            || self.score_len.len() != n
        {
            return bad("row column");
        }
        if self.score_len.iter().map(|&l| l as usize).sum::<usize>() != self.scores.len() {
            return bad("scores");
        }
        if self.columns.len() != self.features.len() || self.features.iter().any(|c| c.len() != n) {
            return bad("feature column");
        }
        if self.kpi_names.len() != self.kpis.len() || self.kpis.iter().any(|c| c.len() != n) {
            return bad("kpi column");
        }
        let nd = self.dict.names.len() as u32;
        let out = |c: &Cell| matches!(c, Cell::Cat(i) if *i >= nd);
        if self.prediction.iter().chain(&self.label).any(out)
            || self.features.iter().flatten().any(out)
        {
            return Err(Error::invalid("window state", "category code out of range"));
        }
        Ok(())
    }

    /// The window's values (see the module doc).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an inconsistent state ([`WindowState::validate`]) or invalid
    /// drift thresholds. Metrics that cannot be computed are absent, not errors.
    pub fn finalize(&self, ctx: &FinalizeContext<'_>) -> Result<Finalized> {
        self.validate()?;
        let mut f = Finalizer::new(self);
        f.counts();
        f.latency();
        let task = match ctx.task {
            Task::Auto => {
                let classy = self.score_len.iter().any(|&l| l > 0)
                    || self
                        .prediction
                        .iter()
                        .chain(&self.label)
                        .any(|c| matches!(c, Cell::Cat(_)));
                if classy {
                    Task::Classification
                } else {
                    Task::Regression
                }
            }
            t => t,
        };
        match task {
            Task::Regression => f.regression(),
            _ => f.classification(ctx),
        }
        f.kpis();
        if let Some(profile) = ctx.reference {
            f.drift(profile, ctx)?;
        }
        if let Some(schema) = ctx.schema {
            f.quality(schema)?;
        }
        Ok(Finalized {
            values: WindowValues {
                key: self.key.clone(),
                start_ms: self.start_ms,
                end_ms: self.end_ms,
                n_predictions: self.ts.len() as u64,
                n_labelled: f.n_labelled,
                values: f.out,
            },
            skipped: f.skipped,
        })
    }
}

/// Rolls `states` up into the coarser periods of `spec` (e.g. hourly → daily): each state goes
/// to the period holding its start, states of the same key and period are merged in time order,
/// and each result takes the period's bounds. Sorted by start, then key.
///
/// # Errors
/// [`Error::InvalidInput`] when `spec` is not a period or a state does not fit inside one
/// period of `spec` (the windows do not nest).
pub fn roll_up(
    states: impl IntoIterator<Item = WindowState>,
    spec: &WindowSpec,
) -> Result<Vec<WindowState>> {
    let mut groups: BTreeMap<(i64, WindowKey), Vec<WindowState>> = BTreeMap::new();
    for s in states {
        let (start, end) = spec
            .period_of(s.start_ms)
            .ok_or_else(|| Error::invalid("roll_up", "the target window must be a period"))?;
        if s.end_ms > end {
            return Err(Error::invalid(
                "roll_up",
                format!(
                    "window [{}, {}) does not nest in [{start}, {end})",
                    s.start_ms, s.end_ms
                ),
            ));
        }
        groups.entry((start, s.key.clone())).or_default().push(s);
    }
    let mut out = Vec::with_capacity(groups.len());
    for ((start, _), mut list) in groups {
        list.sort_by_key(|s| s.start_ms);
        let mut it = list.into_iter();
        let Some(mut acc) = it.next() else { continue };
        for s in it {
            acc.merge(s)?;
        }
        acc.start_ms = start;
        acc.end_ms = spec.period_of(start).map_or(acc.end_ms, |(_, e)| e);
        out.push(acc);
    }
    Ok(out)
}

/// Linear-interpolated quantile of sorted values (numpy's default).
fn quantile_sorted(v: &[f64], q: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let pos = q * (v.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let frac = pos - lo as f64;
    let (a, b) = (*v.get(lo)?, *v.get(hi)?);
    Some(a + (b - a) * frac)
}

struct Finalizer<'s> {
    s: &'s WindowState,
    order: Vec<usize>,
    offsets: Vec<usize>,
    n_labelled: u64,
    out: BTreeMap<String, f64>,
    skipped: BTreeMap<String, String>,
}

impl<'s> Finalizer<'s> {
    fn new(s: &'s WindowState) -> Self {
        let mut order: Vec<usize> = (0..s.ts.len()).collect();
        if !s.ts.windows(2).all(|w| w[0] <= w[1]) {
            order.sort_by_key(|&i| s.ts[i]);
        }
        let mut offsets = Vec::with_capacity(s.score_len.len());
        let mut acc = 0usize;
        for &l in &s.score_len {
            offsets.push(acc);
            acc += l as usize;
        }
        Self {
            s,
            order,
            offsets,
            n_labelled: 0,
            out: BTreeMap::new(),
            skipped: BTreeMap::new(),
        }
    }

    fn put(&mut self, name: impl Into<String>, v: f64) {
        let name = name.into();
        if v.is_finite() {
            self.out.insert(name, v);
        } else {
            self.skipped.insert(name, format!("not finite ({v})"));
        }
    }

    fn skip(&mut self, name: &str, why: impl std::fmt::Display) {
        self.skipped.insert(name.to_string(), why.to_string());
    }

    fn scores(&self, i: usize) -> &'s [f64] {
        let s = self.s;
        let a = self.offsets[i];
        &s.scores[a..a + s.score_len[i] as usize]
    }

    fn counts(&mut self) {
        let n = self.s.ts.len() as u64;
        self.n_labelled = self.s.n_labelled() as u64;
        self.put("n_predictions", n as f64);
        self.put("n_labelled", self.n_labelled as f64);
        if n > 0 {
            let errors = self.s.error.iter().filter(|e| **e).count();
            self.put("label_coverage", self.n_labelled as f64 / n as f64);
            self.put("error_rate", errors as f64 / n as f64);
        }
    }

    fn latency(&mut self) {
        let vals: Vec<f64> = self
            .order
            .iter()
            .map(|&i| self.s.latency[i])
            .filter(|x| x.is_finite())
            .collect();
        if vals.is_empty() {
            return;
        }
        let mean = vals.iter().sum::<f64>() / vals.len() as f64;
        let mut sorted = vals;
        sorted.sort_by(f64::total_cmp);
        if let Some(p) = quantile_sorted(&sorted, 0.5) {
            self.put("latency_p50_s", p);
        }
        if let Some(p) = quantile_sorted(&sorted, 0.99) {
            self.put("latency_p99_s", p);
        }
        self.put("latency_mean_s", mean);
    }

    fn regression(&mut self) {
        let (mut yt, mut yp) = (Vec::new(), Vec::new());
        for &i in &self.order {
            if let (Cell::Num(t), Cell::Num(p)) = (self.s.label[i], self.s.prediction[i]) {
                if t.is_finite() && p.is_finite() && !self.s.error[i] {
                    yt.push(t);
                    yp.push(p);
                }
            }
        }
        if yt.is_empty() {
            if self.n_labelled > 0 {
                self.skip("mae", "no labelled row has numeric prediction and label");
            }
            return;
        }
        let r = (
            metrics::mean_absolute_error(&yt, &yp),
            metrics::root_mean_squared_error(&yt, &yp),
            metrics::mean_absolute_percentage_error(&yt, &yp),
            metrics::r2_score(&yt, &yp),
        );
        for (name, v) in [("mae", r.0), ("rmse", r.1), ("mape", r.2), ("r2", r.3)] {
            match v {
                Ok(x) => self.put(name, x),
                Err(e) => self.skip(name, e),
            }
        }
    }

    fn classification(&mut self, ctx: &FinalizeContext<'_>) {
        let s = self.s;
        // Class ids shared by predictions and labels, by class key.
        let mut class_ids: HashMap<String, u32> = HashMap::new();
        let mut class_names: Vec<String> = Vec::new();
        let mut by_code: Vec<Option<u32>> = vec![None; s.dict.names.len()];
        let mut by_num: HashMap<u64, u32> = HashMap::new();
        let mut class_of = |c: Cell| -> Option<u32> {
            let mut intern = |key: String| -> u32 {
                if let Some(&i) = class_ids.get(&key) {
                    return i;
                }
                let i = class_names.len() as u32;
                class_names.push(key.clone());
                class_ids.insert(key, i);
                i
            };
            match c {
                Cell::Missing => None,
                Cell::Cat(code) => {
                    let slot = by_code.get_mut(code as usize)?;
                    if slot.is_none() {
                        *slot = Some(intern(s.dict.name(code).to_owned()));
                    }
                    *slot
                }
                Cell::Num(x) => {
                    if x.is_nan() {
                        return None;
                    }
                    if let Some(&i) = by_num.get(&x.to_bits()) {
                        return Some(i);
                    }
                    let i = intern(Value::Num(x).class_key());
                    by_num.insert(x.to_bits(), i);
                    Some(i)
                }
            }
        };
        // Per row (time order): predicted class, true class.
        let mut pred: Vec<Option<u32>> = Vec::with_capacity(self.order.len());
        let mut truth: Vec<Option<u32>> = Vec::with_capacity(self.order.len());
        for &i in &self.order {
            pred.push(class_of(s.prediction[i]));
            truth.push(class_of(s.label[i]));
        }
        // Sorted union of classes seen in predictions and labels.
        let mut sorted: Vec<u32> = (0..class_names.len() as u32).collect();
        sorted.sort_by(|&a, &b| class_names[a as usize].cmp(&class_names[b as usize]));
        let positive: Option<u32> = class_ids.get("1").copied().or_else(|| {
            if sorted.len() == 2 {
                Some(sorted[1])
            } else {
                None
            }
        });
        let widths: Vec<u32> = {
            let mut w: Vec<u32> = s.score_len.iter().copied().filter(|&l| l > 0).collect();
            w.sort_unstable();
            w.dedup();
            w
        };
        let binary = positive.is_some() && sorted.len() <= 2 && widths.iter().all(|&w| w == 2);

        // Labelled rows with a prediction, in time order.
        let mut lab_rows: Vec<usize> = Vec::new(); // positions in `order`
        for (k, (p, t)) in pred.iter().zip(&truth).enumerate() {
            if p.is_some() && t.is_some() {
                lab_rows.push(k);
            }
        }
        if !lab_rows.is_empty() {
            let yt: Vec<&str> = lab_rows
                .iter()
                .filter_map(|&k| truth[k].map(|c| class_names[c as usize].as_str()))
                .collect();
            let yp: Vec<&str> = lab_rows
                .iter()
                .filter_map(|&k| pred[k].map(|c| class_names[c as usize].as_str()))
                .collect();
            match metrics::classification_report(&yt, &yp) {
                Ok(r) => {
                    self.put("accuracy", r.accuracy);
                    self.put("precision_macro", r.macro_avg.precision);
                    self.put("recall_macro", r.macro_avg.recall);
                    self.put("f1_macro", r.macro_avg.f1);
                    self.put("precision_weighted", r.weighted_avg.precision);
                    self.put("recall_weighted", r.weighted_avg.recall);
                    self.put("f1_weighted", r.weighted_avg.f1);
                    for (label, c) in r.labels.iter().zip(&r.per_class) {
                        self.put(format!("class.{label}.precision"), c.precision);
                        self.put(format!("class.{label}.recall"), c.recall);
                        self.put(format!("class.{label}.f1"), c.f1);
                        self.put(format!("class.{label}.support"), c.support as f64);
                    }
                    if let Some(pos) = positive.filter(|_| binary) {
                        let name = class_names[pos as usize].as_str();
                        if let Some(c) = r.class(&name) {
                            self.put("precision", c.precision);
                            self.put("recall", c.recall);
                            self.put("f1", c.f1);
                        }
                    }
                }
                Err(e) => self.skip("accuracy", e),
            }
        }

        if binary {
            let Some(pos) = positive else { return };
            // ROC AUC and log loss on labelled rows with two scores.
            let (mut yb, mut sc) = (Vec::new(), Vec::new());
            let mut confusion = [0u64; 4];
            for &k in &lab_rows {
                let i = self.order[k];
                let (t, p) = (truth[k] == Some(pos), pred[k] == Some(pos));
                confusion[match (p, t) {
                    (true, true) => 0,
                    (true, false) => 1,
                    (false, true) => 2,
                    (false, false) => 3,
                }] += 1;
                let row = self.scores(i);
                if row.len() == 2 {
                    yb.push(t);
                    sc.push(row[1]);
                }
            }
            if !sc.is_empty() {
                match metrics::roc_auc(&yb, &sc) {
                    Ok(v) => self.put("roc_auc", v),
                    Err(e) => self.skip("roc_auc", e),
                }
                match metrics::log_loss_binary(&yb, &sc) {
                    Ok(v) => self.put("log_loss", v),
                    Err(e) => self.skip("log_loss", e),
                }
            }
            if let (Some(m), false) = (ctx.value_matrix, lab_rows.is_empty()) {
                let v: f64 = confusion.iter().zip(m).map(|(&c, g)| c as f64 * g).sum();
                self.put("value.realised", v);
            }
            if let Some(est) = ctx.estimator {
                let (mut es, mut ep) = (Vec::new(), Vec::new());
                for (k, &i) in self.order.iter().enumerate() {
                    let row = self.scores(i);
                    if let (2, Some(p)) = (row.len(), pred[k]) {
                        es.push(row[1]);
                        ep.push(p == pos);
                    }
                }
                if es.is_empty() {
                    self.skip("estimated", "no scored row");
                } else {
                    match est.estimate(&es, &ep) {
                        Ok(map) => {
                            for (m, e) in map {
                                self.put(format!("estimated.{m}"), e.value);
                                self.put(format!("estimated.{m}.lower"), e.lower);
                                self.put(format!("estimated.{m}.upper"), e.upper);
                            }
                        }
                        Err(e) => self.skip("estimated", e),
                    }
                    if let Some(m) = ctx.value_matrix {
                        match est.expected_confusion(&es, &ep) {
                            Ok(c) => {
                                let v: f64 = c.iter().zip(m).map(|(c, g)| c * g).sum();
                                self.put("value.estimated", v);
                            }
                            Err(e) => self.skip("value.estimated", e),
                        }
                    }
                }
            }
        } else if let [k] = widths[..] {
            let k = k as usize;
            // Multiclass: map score columns to classes.
            let as_int: Option<Vec<usize>> = class_names
                .iter()
                .map(|n| n.parse::<usize>().ok().filter(|&j| j < k))
                .collect();
            let column_of: Option<Vec<usize>> = match as_int {
                Some(v) => Some(v),
                None if sorted.len() == k => {
                    let mut v = vec![0; class_names.len()];
                    for (rank, &c) in sorted.iter().enumerate() {
                        v[c as usize] = rank;
                    }
                    Some(v)
                }
                None => None,
            };
            let Some(column_of) = column_of else {
                self.skip(
                    "roc_auc",
                    "score columns cannot be matched to the classes (see the module doc)",
                );
                return;
            };
            let (mut yt, mut proba) = (Vec::new(), Vec::new());
            for &kk in &lab_rows {
                let i = self.order[kk];
                let row = self.scores(i);
                if let (true, Some(t)) = (row.len() == k, truth[kk]) {
                    yt.push(column_of[t as usize]);
                    proba.extend_from_slice(row);
                }
            }
            if !yt.is_empty() {
                match metrics::roc_auc_ovr(&yt, &proba, k, metrics::AucAverage::Macro) {
                    Ok(v) => self.put("roc_auc", v),
                    Err(e) => self.skip("roc_auc", e),
                }
                match metrics::log_loss(&yt, &proba, k) {
                    Ok(v) => self.put("log_loss", v),
                    Err(e) => self.skip("log_loss", e),
                }
            }
        }
    }

    fn kpis(&mut self) {
        let s = self.s;
        for (name, col) in s.kpi_names.iter().zip(&s.kpis) {
            let (mut sum, mut n) = (0.0, 0u64);
            for &i in &self.order {
                let v = col[i];
                if v.is_finite() {
                    sum += v;
                    n += 1;
                }
            }
            if n > 0 {
                self.put(format!("kpi.{name}.sum"), sum);
                self.put(format!("kpi.{name}.mean"), sum / n as f64);
            }
        }
    }

    fn column_for(&self, cells: &[Cell], prof: &FeatureProfile) -> Column {
        let s = self.s;
        match prof {
            FeatureProfile::Numeric(_) => Column::Numeric(
                self.order
                    .iter()
                    .map(|&i| match cells[i] {
                        Cell::Num(x) => x,
                        _ => f64::NAN,
                    })
                    .collect(),
            ),
            FeatureProfile::Categorical(_) => Column::Categorical(
                self.order
                    .iter()
                    .map(|&i| match cells[i] {
                        Cell::Num(x) if !x.is_nan() => Some(Value::Num(x).class_key()),
                        Cell::Cat(c) => Some(s.dict.name(c).to_owned()),
                        _ => None,
                    })
                    .collect(),
            ),
        }
    }

    fn quality(&mut self, schema: &mlops_validate::Schema) -> Result<()> {
        use crate::quality::InputCell;
        let s = self.s;
        let cell = |c: usize, r: usize| match s.features[c][r] {
            Cell::Missing => InputCell::Missing,
            Cell::Num(x) => InputCell::Num(x),
            Cell::Cat(i) => InputCell::Text(s.dict.name(i)),
        };
        let q = crate::quality::window_quality(schema, &s.columns, &self.order, &cell, s.end_ms)?;
        for (name, v) in q.values {
            self.put(name, v);
        }
        for (name, why) in q.skipped {
            self.skip(&name, why);
        }
        Ok(())
    }

    fn drift(&mut self, profile: &ReferenceProfile, ctx: &FinalizeContext<'_>) -> Result<()> {
        let s = self.s;
        if s.ts.is_empty() {
            return Ok(());
        }
        let default_cfg = DriftConfig::default();
        let cfg = ctx.drift.unwrap_or(&default_cfg);
        let mut table = Table::default();
        for (name, cells) in s.columns.iter().zip(&s.features) {
            if name == ctx.prediction_column {
                continue;
            }
            let Some(prof) = profile.features.get(name) else {
                continue;
            };
            let col = self.column_for(cells, prof);
            let usable = match &col {
                Column::Numeric(v) => v.iter().any(|x| x.is_finite()),
                Column::Categorical(v) => v.iter().any(Option::is_some),
            };
            if let (FeatureProfile::Categorical(p), Column::Categorical(v)) = (prof, &col) {
                let (mut seen, mut unknown) = (0u64, 0u64);
                for c in v.iter().flatten() {
                    seen += 1;
                    if !p.counts.contains_key(c) {
                        unknown += 1;
                    }
                }
                if seen > 0 {
                    self.put(format!("unknown_rate.{name}"), unknown as f64 / seen as f64);
                }
            }
            if usable {
                table.columns.push((name.clone(), col));
            } else {
                self.skip(
                    &format!("drift.{name}"),
                    "no non-missing value in the window",
                );
            }
        }
        if !table.columns.is_empty() {
            match DriftReport::compare(profile, &table, cfg) {
                Ok(r) => {
                    for c in &r.columns {
                        put_column(self, &format!("drift.{}", c.column), c);
                    }
                    self.put("drift_share", r.dataset.share_drifted);
                }
                Err(mlops_drift::Error::InvalidInput { what, reason }) => {
                    return Err(Error::invalid(what, reason))
                }
                Err(e) => self.skip("drift_share", e),
            }
        }
        if let Some(prof) = profile.features.get(ctx.prediction_column) {
            let col = self.column_for(&s.prediction, prof);
            let t = Table {
                columns: vec![(ctx.prediction_column.to_string(), col)],
            };
            match DriftReport::compare(profile, &t, cfg) {
                Ok(r) => {
                    if let Some(c) = r.columns.first() {
                        put_column(self, "prediction_drift", c);
                    }
                }
                Err(e) => self.skip("prediction_drift", e),
            }
        }
        Ok(())
    }
}

fn put_column(f: &mut Finalizer<'_>, prefix: &str, c: &mlops_drift::report::ColumnReport) {
    let Some(d) = &c.decision else {
        f.skip(prefix, "the deciding test could not be computed");
        return;
    };
    let Some(t) = c.tests.get(&d.test) else {
        return;
    };
    f.put(format!("{prefix}.statistic"), t.statistic);
    let p = t.p_value.or_else(|| {
        let fallback = if c.kind == "numeric" { "ks" } else { "chi2" };
        c.tests.get(fallback).and_then(|t| t.p_value)
    });
    if let Some(p) = p {
        f.put(format!("{prefix}.p_value"), p);
    }
}
