//! The alert state machine over windows, persisted after each evaluation.
//!
//! # Contract
//! - One series per (rule, [`WindowKey`]) that the rule [matches](Rule::matches). A series
//!   walks its windows in order of `end_ms`; a window whose end is not after the last window
//!   the series evaluated is skipped, so evaluating the same windows twice changes nothing,
//!   and windows that end after `now_ms` (still open) wait for a later call.
//! - A window under the rule's `min_samples`, or without the metric (or with a NaN value),
//!   counts for nothing: the state stays as it is, streaks are neither extended nor broken.
//! - inactive/resolved → pending on a breach, → firing once the breach held for `for`
//!   (directly when `for` is 0); pending → inactive on a clear window; firing → resolved once
//!   clear for longer than `keep_firing_for`. Every transition is one [`AlertEvent`].
//! - The state is written to the state file (temporary file, fsync, rename, fsync of the
//!   directory) before `evaluate` returns and before the hooks run, whenever the evaluation
//!   changed it (a call that changes nothing writes nothing), so a restart neither
//!   re-fires a firing alert nor forgets it. One engine per state file: two processes sharing
//!   one overwrite each other.
//! - A series whose rule has left the rules file is dropped at the next evaluation; if it was
//!   firing, it resolves first (one event at `now_ms`, annotation `resolved_reason`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::rules::{samples_field, Condition, Hold, Rule, RuleSet, SamplesField};
use super::{rfc3339, Alert, AlertEvent, AlertState};
use crate::values::{metric_range, WindowKey, WindowValues};
use crate::{Error, Result};

/// Called with every transition (after the state is persisted). A pipeline that retrains on
/// an alert sets one; it must not block for long, `evaluate` waits for it.
pub type AlertHook = Box<dyn Fn(&AlertEvent) + Send + Sync>;

const STATE_FORMAT: u32 = 1;

#[derive(Debug, Deserialize)]
struct StateFile {
    format: u32,
    series: Vec<Series>,
}

#[derive(Serialize)]
struct StateOut<'a> {
    format: u32,
    series: &'a [&'a Series],
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Series {
    rule: String,
    key: WindowKey,
    state: AlertState,
    /// End of the last window this series evaluated (`None`: none yet).
    last_end_ms: Option<i64>,
    /// Consecutive breaching windows in the current streak.
    breach_windows: u32,
    /// Start of the first window of the current breach streak.
    breach_start_ms: i64,
    /// End of the last breaching window.
    last_breach_end_ms: i64,
    /// Consecutive clear windows while firing.
    clear_windows: u32,
    /// The alert (pending, firing or the last resolved one).
    alert: Option<Alert>,
}

impl Series {
    fn new(rule: &str, key: &WindowKey) -> Self {
        Series {
            rule: rule.to_owned(),
            key: key.clone(),
            state: AlertState::Inactive,
            last_end_ms: None,
            breach_windows: 0,
            breach_start_ms: 0,
            last_breach_end_ms: 0,
            clear_windows: 0,
            alert: None,
        }
    }
}

/// Evaluates a [`RuleSet`] over windows and keeps each alert's state (see the module doc).
pub struct AlertEngine {
    rules: RuleSet,
    state_path: PathBuf,
    series: BTreeMap<(String, WindowKey), Series>,
    hooks: Vec<AlertHook>,
}

impl fmt::Debug for AlertEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlertEngine")
            .field("rules", &self.rules.rules().len())
            .field("state_path", &self.state_path)
            .field("series", &self.series.len())
            .field("hooks", &self.hooks.len())
            .finish()
    }
}

fn corrupt(path: &Path, text: &str, e: &serde_json::Error) -> Error {
    // serde_json reports line/column; turn them into a byte offset.
    let offset: usize = text
        .split_inclusive('\n')
        .take(e.line().saturating_sub(1))
        .map(str::len)
        .sum::<usize>()
        + e.column().saturating_sub(1);
    Error::Corrupt {
        path: path.to_owned(),
        offset: offset as u64,
        reason: format!("alert state: {e}"),
    }
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory, fsync, rename,
/// fsync of the directory.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "alert-state".into());
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        f.write_all(bytes).map_err(|e| Error::io(&tmp, e))?;
        f.sync_all().map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))?;
        // The rename is durable once the directory is synced (not possible everywhere: best effort).
        if let Ok(d) = std::fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// NannyML's threshold: `mean ± sigma·std` (population std) of the reference values, clipped
/// to the metric's range. `None` without values.
fn reference_band(values: &[f64], sigma: f64, range: (f64, f64)) -> Option<(f64, f64)> {
    // NannyML's StandardDeviationThreshold (population std, NaN ignored, clipped to the
    // metric's range), as `threshold.rs` computes it.
    let band = crate::threshold::StdThreshold {
        lower_multiplier: sigma,
        upper_multiplier: sigma,
    }
    .band(values, range)
    .ok()?;
    Some((
        band.lower.unwrap_or(f64::NEG_INFINITY),
        band.upper.unwrap_or(f64::INFINITY),
    ))
}

/// A bound for people: at most 6 significant digits (`0.9240000000000002` → `0.924`).
fn short(x: f64) -> String {
    if !x.is_finite() || x == 0.0 {
        return format!("{x}");
    }
    let digits = (5 - x.abs().log10().floor() as i32).clamp(0, 15) as usize;
    let t = format!("{x:.digits$}");
    if t.contains('.') {
        t.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        t
    }
}

/// The bound of one series: a static condition, or a band resolved from the reference.
#[derive(Debug, Clone, Copy)]
enum Bound {
    Above(f64),
    Below(f64),
    Outside(f64, f64),
    Band(f64, f64),
}

impl Bound {
    fn breached(self, v: f64) -> bool {
        match self {
            Bound::Above(b) => v > b,
            Bound::Below(b) => v < b,
            Bound::Outside(lo, hi) | Bound::Band(lo, hi) => v < lo || v > hi,
        }
    }

    fn describe(self) -> String {
        match self {
            Bound::Above(b) => format!("> {}", short(b)),
            Bound::Below(b) => format!("< {}", short(b)),
            Bound::Outside(lo, hi) => format!("outside [{}, {}]", short(lo), short(hi)),
            Bound::Band(lo, hi) => {
                format!("outside reference band [{}, {}]", short(lo), short(hi))
            }
        }
    }

    /// The allowed region `(min, max)`; `None` on an unbounded side.
    fn allowed(self) -> (Option<f64>, Option<f64>) {
        match self {
            Bound::Above(b) => (None, Some(b)),
            Bound::Below(b) => (Some(b), None),
            Bound::Outside(lo, hi) | Bound::Band(lo, hi) => (Some(lo), Some(hi)),
        }
    }
}

fn series_labels(rule: &Rule, key: &WindowKey) -> BTreeMap<String, String> {
    let mut labels = rule.labels.clone();
    labels.insert("alertname".into(), rule.name.clone());
    labels.insert("severity".into(), rule.severity.clone());
    labels.insert("model".into(), key.model.clone());
    labels.insert("version".into(), key.version.to_string());
    labels.insert("arm".into(), key.arm.clone());
    if let Some((field, value)) = &key.segment {
        labels.insert("segment".into(), field.clone());
        labels.insert("segment_value".into(), value.clone());
    }
    labels
}

fn held(hold: Hold, count: u32, covered_ms: i64) -> bool {
    match hold {
        Hold::Windows(n) => count >= n.max(1),
        Hold::Duration(d) => {
            i128::from(covered_ms) >= i128::try_from(d.as_millis()).unwrap_or(i128::MAX)
        }
    }
}

fn exceeded(hold: Hold, count: u32, covered_ms: i64) -> bool {
    match hold {
        Hold::Windows(k) => count > k,
        Hold::Duration(d) => {
            i128::from(covered_ms) > i128::try_from(d.as_millis()).unwrap_or(i128::MAX)
        }
    }
}

impl AlertEngine {
    /// An engine for `rules`, with its state in `state_path` (read when it exists, created at
    /// the first evaluation otherwise).
    ///
    /// # Errors
    /// [`Error::Io`] when the state file exists but cannot be read; [`Error::Corrupt`] when it
    /// is not a state file of this format (never silently reset: move it away to start over).
    #[tracing::instrument(skip_all, fields(path = %state_path.as_ref().display()))]
    pub fn open(rules: RuleSet, state_path: impl AsRef<Path>) -> Result<AlertEngine> {
        let state_path = state_path.as_ref().to_owned();
        let mut series = BTreeMap::new();
        match std::fs::read_to_string(&state_path) {
            Ok(text) => {
                let file: StateFile =
                    serde_json::from_str(&text).map_err(|e| corrupt(&state_path, &text, &e))?;
                if file.format != STATE_FORMAT {
                    return Err(Error::Corrupt {
                        path: state_path,
                        offset: 0,
                        reason: format!(
                            "alert state format {} (this build reads {STATE_FORMAT})",
                            file.format
                        ),
                    });
                }
                for s in file.series {
                    let id = (s.rule.clone(), s.key.clone());
                    if series.insert(id, s).is_some() {
                        return Err(Error::Corrupt {
                            path: state_path,
                            offset: 0,
                            reason: "alert state: a series appears twice".into(),
                        });
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&state_path, e)),
        }
        Ok(AlertEngine {
            rules,
            state_path,
            series,
            hooks: Vec::new(),
        })
    }

    /// Adds a hook called with every transition, after the state is persisted.
    pub fn on_event(&mut self, hook: AlertHook) {
        self.hooks.push(hook);
    }

    /// The rules.
    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    /// Pending and firing alerts, ordered by rule name then key.
    pub fn active(&self) -> Vec<Alert> {
        self.series
            .values()
            .filter(|s| matches!(s.state, AlertState::Pending | AlertState::Firing))
            .filter_map(|s| s.alert.clone())
            .collect()
    }

    /// Firing alerts only (what [`crate::export::render_gauges`] counts).
    pub fn firing(&self) -> Vec<Alert> {
        self.active()
            .into_iter()
            .filter(|a| a.state == AlertState::Firing)
            .collect()
    }

    /// Evaluates every rule on `windows` (any order, any keys) and returns the transitions, in
    /// rule order then key then time. `reference` holds the reference windows that
    /// `band = "reference"` rules derive their band from: those with the series' exact key,
    /// or, when there are none, those of the same model and segment.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when a window ends before it starts, two windows share a key and
    /// an end, or a band rule finds no reference value of its metric for a series it must
    /// evaluate; [`Error::Io`] when the state cannot be written. On error the state is as before
    /// the call (nothing persisted, no hook called).
    #[tracing::instrument(skip_all, fields(windows = windows.len(), reference = reference.len()))]
    pub fn evaluate(
        &mut self,
        windows: &[WindowValues],
        reference: &[WindowValues],
        now_ms: i64,
    ) -> Result<Vec<AlertEvent>> {
        let mut by_key: HashMap<&WindowKey, Vec<&WindowValues>> = HashMap::new();
        for w in windows {
            if w.end_ms <= w.start_ms {
                return Err(Error::invalid(
                    "window",
                    format!(
                        "{} v{} {}: end {} is not after start {}",
                        w.key.model, w.key.version, w.key.arm, w.end_ms, w.start_ms
                    ),
                ));
            }
            by_key.entry(&w.key).or_default().push(w);
        }
        let mut keys: Vec<&WindowKey> = by_key.keys().copied().collect();
        keys.sort();
        for list in by_key.values_mut() {
            list.sort_by_key(|w| w.end_ms);
            if let Some(pair) = list.windows(2).find(|p| p[0].end_ms == p[1].end_ms) {
                let w = pair[0];
                return Err(Error::invalid(
                    "windows",
                    format!(
                        "two windows of {} v{} {} {:?} end at {}",
                        w.key.model, w.key.version, w.key.arm, w.key.segment, w.end_ms
                    ),
                ));
            }
        }

        // Collect the changes and apply them once persisted: on error nothing changes.
        let mut changed: BTreeMap<(String, WindowKey), Series> = BTreeMap::new();
        let mut events = Vec::new();

        // Series of removed rules: resolve what fires, then forget them.
        let removed: Vec<(String, WindowKey)> = self
            .series
            .keys()
            .filter(|(rule, _)| self.rules.get(rule).is_none())
            .cloned()
            .collect();
        for id in &removed {
            if let Some(s) = self.series.get(id).cloned() {
                if s.state == AlertState::Firing {
                    if let Some(mut alert) = s.alert {
                        alert.state = AlertState::Resolved;
                        alert.ends_at_ms = Some(now_ms);
                        alert
                            .annotations
                            .insert("resolved_reason".into(), "rule removed".into());
                        events.push(AlertEvent {
                            from: AlertState::Firing,
                            to: AlertState::Resolved,
                            at_ms: now_ms,
                            alert,
                        });
                    }
                }
            }
        }

        for rule in self.rules.rules() {
            for key in keys.iter().copied().filter(|k| rule.matches(k)) {
                let id = (rule.name.clone(), key.clone());
                let last_end = self.series.get(&id).and_then(|s| s.last_end_ms);
                let fresh = by_key
                    .get(key)
                    .into_iter()
                    .flatten()
                    .any(|w| w.end_ms <= now_ms && last_end.is_none_or(|e| w.end_ms > e));
                if !fresh {
                    continue;
                }
                let mut series = self
                    .series
                    .get(&id)
                    .cloned()
                    .unwrap_or_else(|| Series::new(&rule.name, key));
                let mut band: Option<Bound> = None;
                for w in by_key.get(key).into_iter().flatten().copied() {
                    if w.end_ms > now_ms || series.last_end_ms.is_some_and(|e| w.end_ms <= e) {
                        continue;
                    }
                    series.last_end_ms = Some(w.end_ms);
                    let samples = match samples_field(&rule.metric) {
                        SamplesField::Predictions => w.n_predictions,
                        SamplesField::Labelled => w.n_labelled,
                    };
                    if samples < rule.min_samples {
                        continue;
                    }
                    let Some(&v) = w.values.get(&rule.metric) else {
                        continue;
                    };
                    if v.is_nan() {
                        tracing::warn!(rule = %rule.name, model = %key.model, "NaN value ignored");
                        continue;
                    }
                    let bound = match rule.condition {
                        Condition::Above(b) => Bound::Above(b),
                        Condition::Below(b) => Bound::Below(b),
                        Condition::Outside { low, high } => Bound::Outside(low, high),
                        Condition::ReferenceBand { sigma } => match band {
                            Some(b) => b,
                            None => {
                                let b = resolve_band(rule, key, reference, sigma)?;
                                band = Some(b);
                                b
                            }
                        },
                    };
                    if let Some(ev) = step(&mut series, rule, w, v, bound) {
                        events.push(ev);
                    }
                }
                if self.series.get(&id) != Some(&series) {
                    changed.insert(id, series);
                }
            }
        }

        if !changed.is_empty() || !removed.is_empty() || !self.state_path.exists() {
            let gone: HashSet<&(String, WindowKey)> = removed.iter().collect();
            let merged: Vec<&Series> = self
                .series
                .iter()
                .filter(|(id, _)| !gone.contains(id) && !changed.contains_key(*id))
                .map(|(_, s)| s)
                .chain(changed.values())
                .collect();
            self.persist(&merged)?;
            for id in &removed {
                self.series.remove(id);
            }
            self.series.extend(changed);
        }
        for ev in &events {
            for hook in &self.hooks {
                hook(ev);
            }
        }
        Ok(events)
    }

    fn persist(&self, series: &[&Series]) -> Result<()> {
        let file = StateOut {
            format: STATE_FORMAT,
            series,
        };
        let bytes =
            serde_json::to_vec(&file).map_err(|e| Error::invalid("alert state", e.to_string()))?;
        write_atomic(&self.state_path, &bytes)
    }
}

fn resolve_band(
    rule: &Rule,
    key: &WindowKey,
    reference: &[WindowValues],
    sigma: f64,
) -> Result<Bound> {
    let values_of = |pred: &dyn Fn(&WindowKey) -> bool| -> Vec<f64> {
        reference
            .iter()
            .filter(|w| pred(&w.key))
            .filter_map(|w| w.values.get(&rule.metric).copied())
            .filter(|v| v.is_finite())
            .collect()
    };
    let mut values = values_of(&|k| k == key);
    if values.is_empty() {
        values = values_of(&|k| k.model == key.model && k.segment == key.segment);
    }
    let (lo, hi) = reference_band(&values, sigma, metric_range(&rule.metric)).ok_or_else(|| {
        Error::invalid(
            format!("rule {:?} (line {})", rule.name, rule.line),
            format!(
                "band = \"reference\" needs reference windows with a finite {:?} for model {:?} segment {:?}; none given",
                rule.metric, key.model, key.segment
            ),
        )
    })?;
    Ok(Bound::Band(lo, hi))
}

/// Advances one series by one window; returns the transition, if any.
fn step(s: &mut Series, rule: &Rule, w: &WindowValues, v: f64, bound: Bound) -> Option<AlertEvent> {
    let breach = bound.breached(v);
    let from = s.state;
    match (s.state, breach) {
        (AlertState::Inactive | AlertState::Resolved, true) => {
            s.breach_windows = 1;
            s.breach_start_ms = w.start_ms;
            s.last_breach_end_ms = w.end_ms;
            s.clear_windows = 0;
            s.alert = Some(Alert {
                rule: rule.name.clone(),
                key: w.key.clone(),
                state: AlertState::Pending,
                value: v,
                bound: String::new(),
                allowed_min: None,
                allowed_max: None,
                labels: series_labels(rule, &w.key),
                annotations: BTreeMap::new(),
                starts_at_ms: w.end_ms,
                fired_at_ms: None,
                ends_at_ms: None,
            });
            s.state = if held(rule.hold_for, 1, w.end_ms - w.start_ms) {
                AlertState::Firing
            } else {
                AlertState::Pending
            };
        }
        (AlertState::Pending, true) => {
            s.breach_windows = s.breach_windows.saturating_add(1);
            s.last_breach_end_ms = w.end_ms;
            if held(
                rule.hold_for,
                s.breach_windows,
                w.end_ms - s.breach_start_ms,
            ) {
                s.state = AlertState::Firing;
            }
        }
        (AlertState::Pending, false) => {
            s.state = AlertState::Inactive;
            s.breach_windows = 0;
        }
        (AlertState::Firing, true) => {
            s.breach_windows = s.breach_windows.saturating_add(1);
            s.last_breach_end_ms = w.end_ms;
            s.clear_windows = 0;
        }
        (AlertState::Firing, false) => {
            s.clear_windows = s.clear_windows.saturating_add(1);
            if exceeded(
                rule.keep_firing_for,
                s.clear_windows,
                w.end_ms - s.last_breach_end_ms,
            ) {
                s.state = AlertState::Resolved;
                s.breach_windows = 0;
            }
        }
        (AlertState::Inactive | AlertState::Resolved, false) => {}
    }
    // The alert shows the latest value while it is pending or firing, and the resolving value.
    let to = s.state;
    if matches!(to, AlertState::Pending | AlertState::Firing) || from != to {
        if let Some(a) = s.alert.as_mut() {
            a.state = to;
            a.value = v;
            a.bound = bound.describe();
            (a.allowed_min, a.allowed_max) = bound.allowed();
            let mut ann = rule.annotations.clone();
            ann.insert("metric".into(), rule.metric.clone());
            ann.insert("value".into(), super::prom_float(v));
            ann.insert("bound".into(), a.bound.clone());
            ann.insert("window_start".into(), rfc3339(w.start_ms));
            ann.insert("window_end".into(), rfc3339(w.end_ms));
            a.annotations = ann;
            if to == AlertState::Firing && a.fired_at_ms.is_none() {
                a.fired_at_ms = Some(w.end_ms);
            }
            if to == AlertState::Resolved {
                a.ends_at_ms = Some(w.end_ms);
            }
        }
    }
    if from == to {
        return None;
    }
    let alert = s.alert.clone()?;
    Some(AlertEvent {
        from,
        to,
        at_ms: w.end_ms,
        alert,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn band_is_population_std_clipped() {
        // tools/reference/alerts_reference.py, case "three":
        // calculate_threshold_values(StandardDeviationThreshold(std_lower_multiplier=3,
        //   std_upper_multiplier=3), np.array([0.9, 0.92, 0.94]), 0.0, 1.0)
        //   = (0.8710102051443365, 0.9689897948556634)
        let (lo, hi) = reference_band(&[0.9, 0.92, 0.94], 3.0, (0.0, 1.0)).unwrap();
        assert!((lo - 0.8710102051443365).abs() < 1e-12, "{lo}");
        assert!((hi - 0.9689897948556634).abs() < 1e-12, "{hi}");
        // Case "clipped": the same call on [0.2, 0.99] = (0.0, 1.0).
        let (lo, hi) = reference_band(&[0.2, 0.99], 3.0, (0.0, 1.0)).unwrap();
        assert_eq!((lo, hi), (0.0, 1.0));
        // One value: a zero-width band.
        assert_eq!(reference_band(&[0.8], 3.0, (0.0, 1.0)), Some((0.8, 0.8)));
        assert_eq!(reference_band(&[], 3.0, (0.0, 1.0)), None);
    }

    #[test]
    fn holds() {
        assert!(held(Hold::Windows(0), 1, 0));
        assert!(!held(Hold::Windows(3), 2, 0));
        assert!(held(Hold::Windows(3), 3, 0));
        let d = Hold::Duration(std::time::Duration::from_secs(60));
        assert!(!held(d, 1, 59_999));
        assert!(held(d, 1, 60_000));
        assert!(!exceeded(d, 1, 60_000));
        assert!(exceeded(d, 1, 60_001));
        assert!(!exceeded(Hold::Windows(1), 1, 0));
        assert!(exceeded(Hold::Windows(1), 2, 0));
    }
}
