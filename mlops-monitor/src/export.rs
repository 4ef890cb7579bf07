//! The monitor's values as Prometheus gauges, so that a user's Prometheus can alert on them.
//!
//! [`render_gauges`] writes text exposition (the OpenMetrics subset that Prometheus's text
//! parser also reads): `# HELP` and `# TYPE` once per family, every family's samples together,
//! no `# EOF` — the shape `mlops_serve::metrics::Metrics::add_exporter` appends before its
//! final `# EOF`. For each key only its latest window (largest `end_ms`) is published.
//!
//! | window value | family | extra labels |
//! |---|---|---|
//! | `n_predictions`, `n_labelled` (the window's counts) | `mlops_monitor_n_predictions`, `mlops_monitor_n_labelled` | |
//! | a fixed metric `m` (`accuracy`, `value.realised`, …) | `mlops_monitor_<m>`, `.` → `_` | |
//! | `drift.<col>.statistic`, `drift.<col>.p_value` | `mlops_monitor_drift_statistic`, `mlops_monitor_drift_p_value` | `column` |
//! | `unknown_rate.<col>` | `mlops_monitor_unknown_rate` | `column` |
//! | `kpi.<k>.sum`, `kpi.<k>.mean` | `mlops_monitor_kpi` | `kpi`, `aggregation` = `sum`/`mean` |
//! | `latency_p50_s`, `latency_p99_s`, `latency_mean_s` | `mlops_monitor_latency_p50_seconds`, … | |
//! | `class.<c>.<m>` | `mlops_monitor_class_<m>` | `class` |
//! | `estimated.<m>`, `.lower`, `.upper` | `mlops_monitor_estimated` | `metric`, `bound` = `value`/`lower`/`upper` |
//! | the window's end | `mlops_monitor_window_end_timestamp_seconds` | |
//! | firing alerts | `mlops_monitor_alerts_firing` | `alertname`, `severity` only |
//!
//! Every window sample has `model`, `version`, `arm` and, for a segment window, `segment` (the
//! field) and `segment_value` — the labels the alert engine puts on its alerts. Never a
//! prediction id. Names that [`crate::values::is_known_metric`] rejects are not published.
//! Label values are escaped (`\\`, `\"`, `\n`); values print as Prometheus floats (`+Inf`).
//!
//! ```
//! use mlops_monitor::export::render_gauges;
//! use mlops_monitor::values::{WindowKey, WindowValues};
//! let w = WindowValues {
//!     key: WindowKey { model: "churn".into(), version: 3, arm: "stable".into(), segment: None },
//!     start_ms: 0, end_ms: 60_000, n_predictions: 10, n_labelled: 4,
//!     values: [("accuracy".to_string(), 0.75)].into_iter().collect(),
//! };
//! let mut out = String::new();
//! render_gauges(&[w], &[], &mut out);
//! assert!(out.contains("mlops_monitor_accuracy{model=\"churn\",version=\"3\",arm=\"stable\"} 0.75\n"));
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

use crate::alert::{prom_float, Alert, AlertState};
use crate::values::{is_known_metric, WindowKey, WindowValues, ESTIMATED_METRICS};

/// Escapes a label value for the text format.
fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn help_of(family: &str) -> String {
    let base = family.trim_start_matches("mlops_monitor_");
    match base {
        "n_predictions" => "Predictions in the latest window".into(),
        "quality_column_missing_rate" => "Missing cells of an input column, latest window".into(),
        "quality_column_type_error_rate" => {
            "Cells of an input column that do not parse as its schema type, latest window".into()
        }
        "quality_column_out_of_range_rate" => {
            "Values of an input column outside its schema range, latest window".into()
        }
        "quality_column_unknown_rate" => {
            "Values of an input column outside its schema domain, latest window".into()
        }
        "n_labelled" => "Predictions with a joined label in the latest window".into(),
        "window_end_timestamp_seconds" => "End of the latest window (Unix seconds)".into(),
        "drift_statistic" => {
            "Drift statistic of an input column against the reference, latest window".into()
        }
        "drift_p_value" => {
            "Drift p-value of an input column against the reference, latest window".into()
        }
        "unknown_rate" => "Share of categories unseen in the reference, latest window".into(),
        "kpi" => {
            "A KPI field logged with predictions (aggregation: sum, mean), latest window".into()
        }
        "estimated" => {
            "CBPE estimate of a metric without labels (bound: value, lower, upper), latest window"
                .into()
        }
        "alerts_firing" => "Alerts of the monitor's alert engine that are firing".into(),
        b if b.starts_with("class_") => format!("Per-class {} in the latest window", &b[6..]),
        b => format!("Monitor metric {b} of the latest window"),
    }
}

/// Maps a window value name to (family, extra labels); `None` when not published.
fn family_of(name: &str) -> Option<(String, Vec<(&'static str, String)>)> {
    if !is_known_metric(name) || name == "n_predictions" || name == "n_labelled" {
        return None;
    }
    let fam = |s: &str| format!("mlops_monitor_{s}");
    // `quality.<col>.<m>`: the column (which may hold dots or any character) is a label.
    if crate::quality::is_column_metric(name) {
        if let Some((col, m)) = name["quality.".len()..].rsplit_once('.') {
            return Some((
                fam(&format!("quality_column_{m}")),
                vec![("column", col.to_owned())],
            ));
        }
    }
    let parts: Vec<&str> = name.split('.').collect();
    Some(match parts.as_slice() {
        ["drift", col, stat] => (
            fam(&format!("drift_{stat}")),
            vec![("column", (*col).to_owned())],
        ),
        ["unknown_rate", col] => (fam("unknown_rate"), vec![("column", (*col).to_owned())]),
        // Not `mlops_monitor_kpi_sum`: promtool reserves `_sum` for histograms and summaries.
        ["kpi", k, agg] => (
            fam("kpi"),
            vec![("kpi", (*k).to_owned()), ("aggregation", (*agg).to_owned())],
        ),
        ["class", c, m] => (fam(&format!("class_{m}")), vec![("class", (*c).to_owned())]),
        ["estimated", m] if ESTIMATED_METRICS.contains(m) => (
            fam("estimated"),
            vec![("metric", (*m).to_owned()), ("bound", "value".into())],
        ),
        ["estimated", m, b] => (
            fam("estimated"),
            vec![("metric", (*m).to_owned()), ("bound", (*b).to_owned())],
        ),
        // `latency_p99_s` → `mlops_monitor_latency_p99_seconds` (Prometheus spells units out).
        _ => match name.strip_suffix("_s") {
            Some(stem) => (fam(&format!("{stem}_seconds")), Vec::new()),
            None => (fam(&name.replace('.', "_")), Vec::new()),
        },
    })
}

fn key_labels(key: &WindowKey) -> Vec<(&'static str, String)> {
    let mut l = vec![
        ("model", key.model.clone()),
        ("version", key.version.to_string()),
        ("arm", key.arm.clone()),
    ];
    if let Some((field, value)) = &key.segment {
        l.push(("segment", field.clone()));
        l.push(("segment_value", value.clone()));
    }
    l
}

fn sample(labels: &[(&'static str, String)], value: f64) -> String {
    let mut s = String::from("{");
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, "{k}=\"{}\"", escape(v));
    }
    s.push('}');
    let _ = write!(s, " {}", prom_float(value));
    s
}

/// Appends the gauges of the latest window per key of `windows`, and the count of `firing`
/// alerts by `alertname` and `severity` (alerts in another state are not counted), to `out`
/// (see the module doc). Writes nothing when both are empty.
pub fn render_gauges(windows: &[WindowValues], firing: &[Alert], out: &mut String) {
    let mut latest: HashMap<&WindowKey, &WindowValues> = HashMap::new();
    for w in windows {
        latest
            .entry(&w.key)
            .and_modify(|cur| {
                if w.end_ms > cur.end_ms {
                    *cur = w;
                }
            })
            .or_insert(w);
    }
    let mut keys: Vec<&&WindowKey> = latest.keys().collect();
    keys.sort();
    // family → samples (BTreeMap: a stable order; a family's samples stay together).
    let mut families: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for key in keys {
        let w = latest[*key];
        let base = key_labels(key);
        let mut push = |family: String, extra: Vec<(&'static str, String)>, v: f64| {
            let mut labels = base.clone();
            labels.extend(extra);
            families.entry(family).or_default().push(sample(&labels, v));
        };
        push(
            "mlops_monitor_n_predictions".into(),
            Vec::new(),
            w.n_predictions as f64,
        );
        push(
            "mlops_monitor_n_labelled".into(),
            Vec::new(),
            w.n_labelled as f64,
        );
        push(
            "mlops_monitor_window_end_timestamp_seconds".into(),
            Vec::new(),
            w.end_ms as f64 / 1000.0,
        );
        for (name, v) in &w.values {
            if let Some((family, extra)) = family_of(name) {
                push(family, extra, *v);
            }
        }
    }
    let mut counts: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    for a in firing.iter().filter(|a| a.state == AlertState::Firing) {
        let name = a
            .labels
            .get("alertname")
            .map_or(a.rule.as_str(), String::as_str);
        let sev = a.labels.get("severity").map_or("", String::as_str);
        *counts.entry((name, sev)).or_default() += 1;
    }
    for ((name, sev), n) in counts {
        families
            .entry("mlops_monitor_alerts_firing".into())
            .or_default()
            .push(sample(
                &[("alertname", name.to_owned()), ("severity", sev.to_owned())],
                n as f64,
            ));
    }
    for (family, samples) in families {
        let _ = writeln!(out, "# HELP {family} {}.", help_of(&family));
        let _ = writeln!(out, "# TYPE {family} gauge");
        for s in samples {
            let _ = writeln!(out, "{family}{s}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(escape("Zürich"), "Zürich");
    }

    #[test]
    fn families() {
        assert_eq!(family_of("accuracy").unwrap().0, "mlops_monitor_accuracy");
        assert_eq!(
            family_of("value.realised").unwrap().0,
            "mlops_monitor_value_realised"
        );
        let (f, l) = family_of("estimated.roc_auc.lower").unwrap();
        assert_eq!(f, "mlops_monitor_estimated");
        assert_eq!(
            l,
            vec![
                ("metric", "roc_auc".to_owned()),
                ("bound", "lower".to_owned())
            ]
        );
        assert_eq!(
            family_of("latency_p99_s").unwrap().0,
            "mlops_monitor_latency_p99_seconds"
        );
        let (f, l) = family_of("kpi.amount.sum").unwrap();
        assert_eq!(f, "mlops_monitor_kpi");
        assert_eq!(
            l,
            vec![
                ("kpi", "amount".to_owned()),
                ("aggregation", "sum".to_owned())
            ]
        );
        assert_eq!(family_of("drift.a.b.p_value"), None);
        assert_eq!(family_of("n_predictions"), None);
        assert_eq!(family_of("bogus"), None);
    }
}
