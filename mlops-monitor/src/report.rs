//! The monitoring report: predictions (with their joined labels) streamed into window states,
//! finalized into [`WindowReport`]s, plus the A/B results ([`AbReport`]).
//!
//! ```
//! use mlops_monitor::report::{build_report, ReportConfig};
//! use mlops_monitor::window::WindowSpec;
//! use mlops_monitor::{LoggedPrediction, Value};
//! let row = |i: i64, pred: f64, label: f64| LoggedPrediction {
//!     id: format!("r{i}"), timestamp_ms: i * 60_000, model: "churn".into(), version: 1,
//!     arm: "stable".into(), features: vec![], prediction: Some(Value::Num(pred)),
//!     scores: vec![1.0 - label, label], segments: vec![], kpis: vec![], latency_s: None, error: None,
//! };
//! let rows = vec![row(0, 1.0, 1.0), row(1, 0.0, 1.0), row(2, 0.0, 0.0), row(3, 1.0, 0.0)];
//! let labels = |id: &str| Some(Value::Num(if id == "r0" || id == "r1" { 1.0 } else { 0.0 }));
//! let cfg = ReportConfig::new(WindowSpec::parse("1h")?);
//! let report = build_report(rows, &labels, &cfg)?;
//! assert_eq!(report.windows.len(), 1);
//! assert_eq!(report.windows[0].metrics["accuracy"], 0.5);
//! # Ok::<(), mlops_monitor::Error>(())
//! ```
//!
//! # Windows and keys
//! Every row goes to the window of its key `(model, version, arm)` holding its timestamp (period
//! windows) or to its key's current row-count window. Labels are looked up when the row is read,
//! so a late label lands in its prediction's (past) window. With [`ReportConfig::segment`] every
//! row also goes to a per-segment window; after the pass, the [`ReportConfig::top_k`] segment
//! values with the most rows (ties by name) keep their windows and the others are merged into
//! `"other"` (exactly, by [`WindowState::merge`]). At most [`ReportConfig::max_tracked_segments`]
//! distinct values are tracked per key while streaming; later new values go straight to
//! `"other"`. A row without the segment field is in segment `"other"` too.
//!
//! # Memory
//! The report does not keep records: it keeps window states (columns of the rows' values, see
//! [`crate::window`]) and one A/B accumulator per arm.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, SecondsFormat};
use mlops_drift::{DriftConfig, ReferenceProfile};
use serde::{Deserialize, Serialize};

use crate::ab::{AbConfig, AbReport, ArmAccumulator};
use crate::error::{Error, Result};
use crate::record::{LoggedPrediction, Value};
use crate::values::{LabelFreeEstimator, WindowKey, WindowValues};
use crate::window::{FinalizeContext, Task, WindowSpec, WindowState};

/// The segment value for rows outside the top-K.
pub const OTHER_SEGMENT: &str = "other";

/// What the report computes.
#[derive(Clone)]
pub struct ReportConfig<'a> {
    /// How rows are cut into windows.
    pub window: WindowSpec,
    /// Segment field for per-segment windows (in addition to the per-key windows).
    pub segment: Option<String>,
    /// Segment values kept (default 10); the others are `"other"`.
    pub top_k: usize,
    /// Distinct segment values tracked per key while streaming (default 1000).
    pub max_tracked_segments: usize,
    /// Gains of `[tp, fp, fn, tn]` for the business value.
    pub value_matrix: Option<[f64; 4]>,
    /// Reference profile for drift.
    pub reference: Option<&'a ReferenceProfile>,
    /// Drift settings.
    pub drift: DriftConfig,
    /// The profile feature the predictions are compared with (default `"prediction"`).
    pub prediction_column: String,
    /// Label-free estimator (CBPE).
    pub estimator: Option<&'a dyn LabelFreeEstimator>,
    /// Classification, regression or decide per window.
    pub task: Task,
    /// A/B settings.
    pub ab: AbConfig,
    /// Data-quality schema of the logged inputs (`quality.*`, see [`crate::quality`]).
    pub schema: Option<&'a mlops_validate::Schema>,
}

impl std::fmt::Debug for ReportConfig<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReportConfig")
            .field("window", &self.window)
            .field("segment", &self.segment)
            .field("top_k", &self.top_k)
            .field("value_matrix", &self.value_matrix)
            .field("reference", &self.reference.is_some())
            .field("estimator", &self.estimator.is_some())
            .field("task", &self.task)
            .field("schema", &self.schema.is_some())
            .finish()
    }
}

impl<'a> ReportConfig<'a> {
    /// Defaults: no segment, top 10, no value matrix, no reference, no estimator, task decided
    /// per window, no schema.
    pub fn new(window: WindowSpec) -> Self {
        Self {
            window,
            segment: None,
            top_k: 10,
            max_tracked_segments: 1000,
            value_matrix: None,
            reference: None,
            drift: DriftConfig::default(),
            prediction_column: "prediction".into(),
            estimator: None,
            task: Task::Auto,
            ab: AbConfig::default(),
            schema: None,
        }
    }

    fn context(&self) -> FinalizeContext<'_> {
        FinalizeContext {
            task: self.task,
            reference: self.reference,
            drift: Some(&self.drift),
            prediction_column: &self.prediction_column,
            value_matrix: self.value_matrix,
            estimator: self.estimator,
            schema: self.schema,
        }
    }

    fn check(&self) -> Result<()> {
        match self.window {
            WindowSpec::Period(p) if p <= 0 => {
                return Err(Error::invalid("window", "the period must be positive"))
            }
            WindowSpec::Rows(0) => return Err(Error::invalid("window", "rows must be positive")),
            _ => {}
        }
        if let Some(m) = self.value_matrix {
            if m.iter().any(|g| !g.is_finite()) {
                return Err(Error::invalid("value_matrix", "gains must be finite"));
            }
        }
        Ok(())
    }
}

/// A segment in a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    /// Segment field.
    pub field: String,
    /// Its value (or `"other"`).
    pub value: String,
}

/// One window of the report (the JSON the CLI prints).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowReport {
    /// Start, RFC 3339 UTC.
    pub start: String,
    /// End (exclusive), RFC 3339 UTC.
    pub end: String,
    /// Start, ms since the epoch.
    pub start_ms: i64,
    /// End, ms since the epoch.
    pub end_ms: i64,
    /// Model name.
    pub model: String,
    /// Model version.
    pub version: u64,
    /// Deployment arm.
    pub arm: String,
    /// The segment, for per-segment windows.
    #[serde(default)]
    pub segment: Option<Segment>,
    /// Rows.
    pub n_predictions: u64,
    /// Rows with a label.
    pub n_labelled: u64,
    /// `n_labelled / n_predictions` (absent for an empty window).
    #[serde(default)]
    pub label_coverage: Option<f64>,
    /// Realised metrics, error rate and latencies (full metric names).
    pub metrics: BTreeMap<String, f64>,
    /// `estimated.*` (full names).
    pub estimated: BTreeMap<String, f64>,
    /// `drift.*`, `drift_share`, `unknown_rate.*`, `prediction_drift.*` (full names).
    pub drift: BTreeMap<String, f64>,
    /// `kpi.*` and `value.*` (full names).
    pub kpi: BTreeMap<String, f64>,
    /// `quality.*` (full names; only with a schema, and then not empty).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub quality: BTreeMap<String, f64>,
    /// Metric → why it could not be computed.
    #[serde(default)]
    pub skipped: BTreeMap<String, String>,
}

fn rfc3339(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(|d| d.to_rfc3339_opts(SecondsFormat::Millis, true))
        .unwrap_or_else(|| ms.to_string())
}

impl WindowReport {
    /// Groups a window's values.
    pub fn from_values(v: &WindowValues, skipped: BTreeMap<String, String>) -> Self {
        let mut metrics = BTreeMap::new();
        let mut estimated = BTreeMap::new();
        let mut drift = BTreeMap::new();
        let mut kpi = BTreeMap::new();
        let mut quality = BTreeMap::new();
        let mut label_coverage = None;
        for (name, &x) in &v.values {
            match name.as_str() {
                "n_predictions" | "n_labelled" => {}
                "label_coverage" => label_coverage = Some(x),
                n if n.starts_with("estimated.") => {
                    estimated.insert(name.clone(), x);
                }
                n if n.starts_with("drift.")
                    || n == "drift_share"
                    || n.starts_with("unknown_rate.")
                    || n.starts_with("prediction_drift.") =>
                {
                    drift.insert(name.clone(), x);
                }
                n if n.starts_with("kpi.") || n.starts_with("value.") => {
                    kpi.insert(name.clone(), x);
                }
                n if n.starts_with("quality.") => {
                    quality.insert(name.clone(), x);
                }
                _ => {
                    metrics.insert(name.clone(), x);
                }
            }
        }
        Self {
            start: rfc3339(v.start_ms),
            end: rfc3339(v.end_ms),
            start_ms: v.start_ms,
            end_ms: v.end_ms,
            model: v.key.model.clone(),
            version: v.key.version,
            arm: v.key.arm.clone(),
            segment: v.key.segment.as_ref().map(|(f, s)| Segment {
                field: f.clone(),
                value: s.clone(),
            }),
            n_predictions: v.n_predictions,
            n_labelled: v.n_labelled,
            label_coverage,
            metrics,
            estimated,
            drift,
            kpi,
            quality,
            skipped,
        }
    }

    /// Back to flat values (what alert rules read).
    pub fn values(&self) -> WindowValues {
        let mut values = BTreeMap::new();
        values.insert("n_predictions".to_string(), self.n_predictions as f64);
        values.insert("n_labelled".to_string(), self.n_labelled as f64);
        if let Some(c) = self.label_coverage {
            values.insert("label_coverage".to_string(), c);
        }
        for m in [
            &self.metrics,
            &self.estimated,
            &self.drift,
            &self.kpi,
            &self.quality,
        ] {
            values.extend(m.iter().map(|(k, v)| (k.clone(), *v)));
        }
        WindowValues {
            key: WindowKey {
                model: self.model.clone(),
                version: self.version,
                arm: self.arm.clone(),
                segment: self
                    .segment
                    .as_ref()
                    .map(|s| (s.field.clone(), s.value.clone())),
            },
            start_ms: self.start_ms,
            end_ms: self.end_ms,
            n_predictions: self.n_predictions,
            n_labelled: self.n_labelled,
            values,
        }
    }
}

/// The whole report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MonitorReport {
    /// Windows by start, then key (model, version, arm, segment; per-key windows before their
    /// segments).
    pub windows: Vec<WindowReport>,
    /// A/B results per model.
    pub ab: AbReport,
    /// Fired alerts (left empty here; the CLI fills it).
    pub alerts: Vec<serde_json::Value>,
}

/// The window states and A/B accumulators of a pass over the predictions, before finalization.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WindowSet {
    /// Every window's state (segments already folded into top-K + `"other"`).
    pub states: Vec<WindowState>,
    /// A/B accumulators by `(model, version, arm)`.
    pub arms: BTreeMap<(String, u64, String), ArmAccumulator>,
}

struct BaseKey {
    model: String,
    version: u64,
    arm: String,
    overall: usize,
    segments: HashMap<String, usize>,
    other: Option<usize>,
}

#[derive(Default)]
struct Router {
    bases: Vec<BaseKey>,
    keys: Vec<WindowKey>,
    last: usize,
}

impl Router {
    fn base(&mut self, p: &LoggedPrediction) -> usize {
        if let Some(b) = self.bases.get(self.last) {
            if b.version == p.version && b.model == p.model && b.arm == p.arm {
                return self.last;
            }
        }
        let found = self
            .bases
            .iter()
            .position(|b| b.version == p.version && b.model == p.model && b.arm == p.arm);
        let i = match found {
            Some(i) => i,
            None => {
                self.keys.push(WindowKey {
                    model: p.model.clone(),
                    version: p.version,
                    arm: p.arm.clone(),
                    segment: None,
                });
                self.bases.push(BaseKey {
                    model: p.model.clone(),
                    version: p.version,
                    arm: p.arm.clone(),
                    overall: self.keys.len() - 1,
                    segments: HashMap::new(),
                    other: None,
                });
                self.bases.len() - 1
            }
        };
        self.last = i;
        i
    }

    fn segment(&mut self, base: usize, field: &str, value: Option<&str>, cap: usize) -> usize {
        let Some(b) = self.bases.get_mut(base) else {
            return 0;
        };
        if let Some(v) = value {
            if let Some(&k) = b.segments.get(v) {
                return k;
            }
            if b.segments.len() < cap && v != OTHER_SEGMENT {
                self.keys.push(WindowKey {
                    model: b.model.clone(),
                    version: b.version,
                    arm: b.arm.clone(),
                    segment: Some((field.to_string(), v.to_string())),
                });
                b.segments.insert(v.to_string(), self.keys.len() - 1);
                return self.keys.len() - 1;
            }
        }
        match b.other {
            Some(k) => k,
            None => {
                self.keys.push(WindowKey {
                    model: b.model.clone(),
                    version: b.version,
                    arm: b.arm.clone(),
                    segment: Some((field.to_string(), OTHER_SEGMENT.to_string())),
                });
                b.other = Some(self.keys.len() - 1);
                self.keys.len() - 1
            }
        }
    }
}

enum Windows {
    Period {
        spec: WindowSpec,
        open: HashMap<(usize, i64), WindowState>,
    },
    Rows {
        n: u64,
        current: HashMap<usize, WindowState>,
        done: Vec<WindowState>,
    },
}

impl Windows {
    fn push(
        &mut self,
        keys: &[WindowKey],
        k: usize,
        p: &LoggedPrediction,
        label: Option<&Value>,
    ) -> Result<()> {
        let key = || {
            keys.get(k)
                .cloned()
                .ok_or_else(|| Error::invalid("window key", "lost"))
        };
        match self {
            Windows::Period { spec, open } => {
                let (start, end) = spec
                    .period_of(p.timestamp_ms)
                    .ok_or_else(|| Error::invalid("window", "not a period"))?;
                let state = match open.entry((k, start)) {
                    std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::hash_map::Entry::Vacant(e) => {
                        e.insert(WindowState::new(key()?, start, end))
                    }
                };
                state.push(p, label)
            }
            Windows::Rows { n, current, done } => {
                let state = match current.entry(k) {
                    std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::hash_map::Entry::Vacant(e) => {
                        e.insert(WindowState::new(key()?, p.timestamp_ms, p.timestamp_ms))
                    }
                };
                state.push(p, label)?;
                if state.len() as u64 >= *n {
                    if let Some(mut s) = current.remove(&k) {
                        s.fit_bounds_to_rows();
                        done.push(s);
                    }
                }
                Ok(())
            }
        }
    }

    fn into_states(self) -> Vec<WindowState> {
        match self {
            Windows::Period { open, .. } => open.into_values().collect(),
            Windows::Rows {
                current, mut done, ..
            } => {
                for (_, mut s) in current {
                    s.fit_bounds_to_rows();
                    done.push(s);
                }
                done
            }
        }
    }
}

/// Splits a state's rows into chunks of `n` (row-count windows after folding segments).
fn rechunk(state: WindowState, n: u64) -> Result<Vec<WindowState>> {
    let mut out = Vec::new();
    let mut rest = state;
    while rest.len() as u64 > n {
        let tail = rest.split_off(n as usize)?;
        let mut head = rest;
        head.fit_bounds_to_rows();
        out.push(head);
        rest = tail;
    }
    rest.fit_bounds_to_rows();
    out.push(rest);
    Ok(out)
}

fn fold_segments(states: Vec<WindowState>, cfg: &ReportConfig<'_>) -> Result<Vec<WindowState>> {
    let mut counts: HashMap<String, u64> = HashMap::new();
    for s in &states {
        if let Some((_, v)) = &s.key.segment {
            if v != OTHER_SEGMENT {
                *counts.entry(v.clone()).or_insert(0) += s.len() as u64;
            }
        }
    }
    let mut ranked: Vec<(String, u64)> = counts.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let keep: std::collections::HashSet<String> =
        ranked.into_iter().take(cfg.top_k).map(|(v, _)| v).collect();
    let mut out = Vec::with_capacity(states.len());
    // (key with "other", start) → folded state; row windows fold per key then rechunk.
    let mut folded: BTreeMap<(WindowKey, i64), WindowState> = BTreeMap::new();
    let mut folded_rows: BTreeMap<WindowKey, Vec<WindowState>> = BTreeMap::new();
    for s in states {
        let Some((field, v)) = s.key.segment.clone() else {
            out.push(s);
            continue;
        };
        if keep.contains(&v) {
            out.push(s);
            continue;
        }
        let key = WindowKey {
            segment: Some((field, OTHER_SEGMENT.to_string())),
            ..s.key.clone()
        };
        let s = s.with_key(key.clone());
        match cfg.window {
            WindowSpec::Period(_) => match folded.entry((key, s.start_ms)) {
                std::collections::btree_map::Entry::Occupied(mut e) => e.get_mut().merge(s)?,
                std::collections::btree_map::Entry::Vacant(e) => {
                    e.insert(s);
                }
            },
            WindowSpec::Rows(_) => folded_rows.entry(key).or_default().push(s),
        }
    }
    out.extend(folded.into_values());
    if let WindowSpec::Rows(n) = cfg.window {
        for (_, mut list) in folded_rows {
            list.sort_by_key(|s| s.start_ms);
            let mut it = list.into_iter();
            let Some(mut acc) = it.next() else { continue };
            for s in it {
                acc.merge(s)?;
            }
            out.extend(rechunk(acc, n)?);
        }
    }
    Ok(out)
}

/// Streams `predictions` into window states and A/B accumulators (see the module doc).
/// `label_of` gives the joined label of a prediction id.
///
/// # Errors
/// [`Error::InvalidInput`] for a zero window or a non-finite value-matrix gain, or a
/// non-finite numeric label ([`WindowState::push`]).
pub fn build_states(
    predictions: impl IntoIterator<Item = LoggedPrediction>,
    label_of: &dyn Fn(&str) -> Option<Value>,
    cfg: &ReportConfig<'_>,
) -> Result<WindowSet> {
    build_states_with(predictions, &|p: &LoggedPrediction| label_of(&p.id), cfg)
}

/// [`build_states`] with the label looked up from the whole prediction, so that a join can
/// use the prediction's time (a label TTL, as the CLI applies).
///
/// # Errors
/// As [`build_states`].
#[tracing::instrument(skip_all, fields(window = ?cfg.window))]
pub fn build_states_with(
    predictions: impl IntoIterator<Item = LoggedPrediction>,
    label_of: &dyn Fn(&LoggedPrediction) -> Option<Value>,
    cfg: &ReportConfig<'_>,
) -> Result<WindowSet> {
    cfg.check()?;
    let mut router = Router::default();
    let mut windows = match cfg.window {
        WindowSpec::Period(_) => Windows::Period {
            spec: cfg.window,
            open: HashMap::new(),
        },
        WindowSpec::Rows(n) => Windows::Rows {
            n,
            current: HashMap::new(),
            done: Vec::new(),
        },
    };
    let mut arms: Vec<ArmAccumulator> = Vec::new();
    for p in predictions {
        let label = label_of(&p);
        let b = router.base(&p);
        if arms.len() <= b {
            arms.resize_with(b + 1, ArmAccumulator::default);
        }
        arms[b].push(&p, label.as_ref());
        let overall = router.bases[b].overall;
        windows.push(&router.keys, overall, &p, label.as_ref())?;
        if let Some(field) = &cfg.segment {
            let k = router.segment(b, field, p.segment(field), cfg.max_tracked_segments);
            windows.push(&router.keys, k, &p, label.as_ref())?;
        }
    }
    let mut states = windows.into_states();
    if cfg.segment.is_some() {
        states = fold_segments(states, cfg)?;
    }
    if let WindowSpec::Rows(_) = cfg.window {
        // Row-count windows take their bounds from their rows' times, so under fast traffic
        // two consecutive windows can span the same millisecond. Each window must have its own
        // end (alert rules walk windows by end): a tie moves the later window's end 1 ms on.
        let mut last_end: HashMap<WindowKey, i64> = HashMap::new();
        for s in &mut states {
            if let Some(&prev) = last_end.get(&s.key) {
                if s.end_ms <= prev {
                    s.end_ms = prev + 1;
                    s.start_ms = s.start_ms.min(s.end_ms - 1);
                }
            }
            last_end.insert(s.key.clone(), s.end_ms);
        }
    }
    states.sort_by(|a, b| (a.start_ms, a.end_ms, &a.key).cmp(&(b.start_ms, b.end_ms, &b.key)));
    let arms = router
        .bases
        .iter()
        .zip(arms)
        .map(|(b, a)| ((b.model.clone(), b.version, b.arm.clone()), a))
        .collect();
    Ok(WindowSet { states, arms })
}

impl MonitorReport {
    /// Finalizes a [`WindowSet`] (windows in parallel).
    ///
    /// # Errors
    /// As [`WindowState::finalize`] and [`AbReport::from_accumulators`].
    #[tracing::instrument(skip_all, fields(windows = set.states.len()))]
    pub fn from_states(set: &WindowSet, cfg: &ReportConfig<'_>) -> Result<Self> {
        use rayon::prelude::*;
        let ctx = cfg.context();
        let windows = set
            .states
            .par_iter()
            .map(|s| {
                let f = s.finalize(&ctx)?;
                Ok(WindowReport::from_values(&f.values, f.skipped))
            })
            .collect::<Result<Vec<_>>>()?;
        let ab = AbReport::from_accumulators(&set.arms, &cfg.ab)?;
        Ok(Self {
            windows,
            ab,
            alerts: Vec::new(),
        })
    }

    /// Every window's flat values (for alert rules).
    pub fn values(&self) -> Vec<WindowValues> {
        self.windows.iter().map(WindowReport::values).collect()
    }

    /// A readable window table: start, model, version, arm (and segment), rows, labelled,
    /// coverage, accuracy (or RMSE), the estimate of the same metric, drift share.
    pub fn render_text(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<24} {:<16} {:>7} {:<12} {:>9} {:>9} {:>8} {:>14} {:>9} {:>11}",
            "start",
            "model",
            "version",
            "arm",
            "n",
            "labelled",
            "coverage",
            "metric",
            "estimated",
            "drift_share"
        );
        let num = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |x| format!("{x:.4}"));
        for w in &self.windows {
            let arm = match &w.segment {
                Some(s) => format!("{}[{}={}]", w.arm, s.field, s.value),
                None => w.arm.clone(),
            };
            let (name, value) = if let Some(a) = w.metrics.get("accuracy") {
                ("accuracy", Some(*a))
            } else if let Some(r) = w.metrics.get("rmse") {
                ("rmse", Some(*r))
            } else {
                ("accuracy", None)
            };
            let metric = match value {
                Some(v) => format!("{name}={v:.4}"),
                None => "-".to_string(),
            };
            let est = w.estimated.get(&format!("estimated.{name}")).copied();
            let _ = writeln!(
                out,
                "{:<24} {:<16} {:>7} {:<12} {:>9} {:>9} {:>8} {:>14} {:>9} {:>11}",
                w.start,
                w.model,
                w.version,
                arm,
                w.n_predictions,
                w.n_labelled,
                num(w.label_coverage),
                metric,
                num(est),
                num(w.drift.get("drift_share").copied()),
            );
        }
        for (model, ab) in &self.ab.models {
            let _ = writeln!(
                out,
                "A/B {model}: metric {}, winner {}",
                ab.metric,
                ab.winner.as_deref().unwrap_or("none")
            );
        }
        out
    }
}

/// Streams `predictions` into windows and finalizes them: [`build_states`] then
/// [`MonitorReport::from_states`]. Empty input gives an empty report.
///
/// # Errors
/// As [`build_states`] and [`MonitorReport::from_states`].
pub fn build_report(
    predictions: impl IntoIterator<Item = LoggedPrediction>,
    label_of: &dyn Fn(&str) -> Option<Value>,
    cfg: &ReportConfig<'_>,
) -> Result<MonitorReport> {
    let set = build_states(predictions, label_of, cfg)?;
    MonitorReport::from_states(&set, cfg)
}
