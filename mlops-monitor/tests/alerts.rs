//! The alert engine, its rules file, the webhook sink and the gauge exporter.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mlops_monitor::alert::{
    sink::signature, Alert, AlertEngine, AlertEvent, AlertSink, AlertState, AlertmanagerSink,
    Condition, Hold, RuleSet, WebhookSink,
};
use mlops_monitor::export::render_gauges;
use mlops_monitor::values::{WindowKey, WindowValues};
use mlops_monitor::Error;

const MIN: i64 = 60_000;

fn key(model: &str, version: u64, arm: &str) -> WindowKey {
    WindowKey {
        model: model.into(),
        version,
        arm: arm.into(),
        segment: None,
    }
}

/// Window `i` (minutes `[i, i+1)`) of `key` with `n` predictions, `n` labels and `values`.
fn win(key: &WindowKey, i: i64, n: u64, values: &[(&str, f64)]) -> WindowValues {
    WindowValues {
        key: key.clone(),
        start_ms: i * MIN,
        end_ms: (i + 1) * MIN,
        n_predictions: n,
        n_labelled: n,
        values: values.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
    }
}

fn acc(key: &WindowKey, i: i64, v: f64) -> WindowValues {
    win(key, i, 1000, &[("accuracy", v)])
}

fn rules(text: &str) -> RuleSet {
    RuleSet::parse(text, "test.toml").unwrap()
}

fn engine(dir: &Path, text: &str) -> AlertEngine {
    AlertEngine::open(rules(text), dir.join("state.json")).unwrap()
}

fn transitions(events: &[AlertEvent]) -> Vec<(AlertState, AlertState)> {
    events.iter().map(|e| (e.from, e.to)).collect()
}

const ACC_RULE: &str = r#"
[[rule]]
name = "accuracy_drop"
metric = "accuracy"
condition = { below = 0.8 }
for = 2
keep_firing_for = 1
min_samples = 100
severity = "critical"
labels = { team = "risk" }
annotations = { summary = "accuracy below 0.8" }
"#;

use AlertState::{Firing, Inactive, Pending, Resolved};

#[test]
fn rules_file_parses() {
    let set =
        RuleSet::load(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/alerts_rules.toml"))
            .unwrap();
    assert_eq!(set.rules().len(), 4);
    let r = set.get("accuracy_drop").unwrap();
    assert_eq!(r.condition, Condition::Below(0.8));
    assert_eq!(r.hold_for, Hold::Windows(2));
    assert_eq!(r.keep_firing_for, Hold::Windows(1));
    assert_eq!(r.min_samples, 100);
    assert_eq!(r.line, 3);
    assert_eq!(r.labels["team"], "risk");
    assert_eq!(
        set.get("accuracy_off_reference").unwrap().condition,
        Condition::ReferenceBand { sigma: 3.0 }
    );
    assert_eq!(
        set.get("high_error_rate").unwrap().hold_for,
        Hold::Duration(Duration::from_secs(1800))
    );
    assert_eq!(set.get("high_error_rate").unwrap().severity, "warning");
    assert_eq!(
        set.get("drift_by_country").unwrap().condition,
        Condition::Outside {
            low: 0.0,
            high: 0.3
        }
    );
}

fn parse_err(text: &str) -> String {
    match RuleSet::parse(text, "bad.toml") {
        Err(e @ Error::InvalidInput { .. }) => e.to_string(),
        other => panic!("expected InvalidInput, got {other:?}"),
    }
}

#[test]
fn malformed_toml_names_the_line() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/alerts_malformed.toml");
    let e = RuleSet::load(&path).unwrap_err().to_string();
    assert!(e.contains("alerts_malformed.toml"), "{e}");
    assert!(e.contains("line 9"), "{e}");
    // A wrong type, an unknown field.
    let e =
        parse_err("[[rule]]\nname = \"a\"\nmetric = \"accuracy\"\ncondition = { below = \"x\" }\n");
    assert!(e.contains("line 4"), "{e}");
    let e = parse_err(
        "[[rule]]\nname = \"a\"\nmetric = \"accuracy\"\ncondition = { below = 0.8 }\nfour = 2\n",
    );
    assert!(e.contains("line 5") && e.contains("four"), "{e}");
    // Not TOML at all, or no rule.
    assert!(parse_err("[[rule]\n").contains("line 1"));
    assert!(parse_err("").contains("no [[rule]]"));
}

#[test]
fn unknown_metric_names_the_line() {
    let e = parse_err(
        "[[rule]]\nname = \"ok\"\nmetric = \"accuracy\"\ncondition = { below = 0.8 }\n\n\
         [[rule]]\nname = \"typo\"\nmetric = \"acuracy\"\ncondition = { below = 0.8 }\n",
    );
    assert!(
        e.contains("line 8") && e.contains("acuracy") && e.contains("typo"),
        "{e}"
    );
    let e = parse_err("[[rule]]\nname = \"a\"\nmetric = \"Accuracy\"\ncondition = { below = 1 }\n");
    assert!(e.contains("did you mean \"accuracy\""), "{e}");
}

#[test]
fn duplicate_names_refused() {
    let text = format!("{ACC_RULE}\n{ACC_RULE}");
    let e = parse_err(&text);
    assert!(e.contains("duplicate rule name \"accuracy_drop\""), "{e}");
    assert!(e.contains("line 14") && e.contains("line 2"), "{e}");
}

#[test]
fn bad_conditions_and_fields_refused() {
    let base = "[[rule]]\nname = \"a\"\nmetric = \"accuracy\"\n";
    for (extra, want) in [
        ("condition = { below = 0.8, above = 0.9 }", "exactly one"),
        ("condition = {}", "exactly one"),
        ("condition = { below = nan }", "finite"),
        ("condition = { above = inf }", "finite"),
        ("condition = { outside = [0.9, 0.1] }", "low > high"),
        ("condition = { outside = [0.1] }", "two numbers"),
        ("condition = { band = \"yesterday\" }", "only band"),
        ("condition = { band = \"reference\", sigma = 0 }", "sigma"),
        ("condition = { below = 0.8, sigma = 2 }", "sigma"),
        (
            "condition = { below = 0.8 }\nfor = \"5parsecs\"",
            "unknown unit",
        ),
        ("condition = { below = 0.8 }\nfor = -1", "windows must be"),
        ("condition = { below = 0.8 }\nmin_samples = -5", "line 5"),
        (
            "condition = { below = 0.8 }\nlabels = { alertname = \"x\" }",
            "set by the engine",
        ),
        (
            "condition = { below = 0.8 }\nlabels = { \"bad-name\" = \"x\" }",
            "label name",
        ),
        ("condition = { below = 0.8 }\nseverity = \" \"", "severity"),
    ] {
        let e = parse_err(&format!("{base}{extra}\n"));
        assert!(e.contains(want), "{extra}: {e}");
        assert!(
            e.contains("bad.toml: line") || e.contains("bad.toml"),
            "{e}"
        );
    }
    let e = parse_err("[[rule]]\nname = \"\"\nmetric = \"accuracy\"\ncondition = { below = 1 }\n");
    assert!(e.contains("line 2") && e.contains("empty"), "{e}");
}

#[test]
fn for_and_keep_firing_for_in_windows() {
    let dir = tempfile::tempdir().unwrap();
    let mut eng = engine(dir.path(), ACC_RULE);
    let k = key("churn", 3, "stable");
    let now = 100 * MIN;
    // Window 0 fine; 1 breaches → pending; 2 breaches → firing (for = 2).
    let ev = eng.evaluate(&[acc(&k, 0, 0.9)], &[], now).unwrap();
    assert!(ev.is_empty());
    let ev = eng.evaluate(&[acc(&k, 1, 0.7)], &[], now).unwrap();
    assert_eq!(transitions(&ev), [(Inactive, Pending)]);
    assert_eq!(eng.active()[0].state, Pending);
    let ev = eng.evaluate(&[acc(&k, 2, 0.75)], &[], now).unwrap();
    assert_eq!(transitions(&ev), [(Pending, Firing)]);
    let a = &ev[0].alert;
    assert_eq!(
        a.starts_at_ms,
        2 * MIN,
        "activeAt is the first breaching window's end"
    );
    assert_eq!(a.fired_at_ms, Some(3 * MIN));
    assert_eq!(a.value, 0.75);
    assert_eq!(a.bound, "< 0.8");
    // The same bound, structured: values at or above 0.8 are allowed.
    assert_eq!((a.allowed_min, a.allowed_max), (Some(0.8), None));
    assert_eq!(a.labels["alertname"], "accuracy_drop");
    assert_eq!(a.labels["severity"], "critical");
    assert_eq!(a.labels["team"], "risk");
    assert_eq!(a.labels["model"], "churn");
    assert_eq!(a.labels["version"], "3");
    assert_eq!(a.labels["arm"], "stable");
    assert!(!a.labels.contains_key("segment"));
    assert_eq!(a.annotations["summary"], "accuracy below 0.8");
    assert_eq!(a.annotations["value"], "0.75");
    assert_eq!(a.annotations["bound"], "< 0.8");
    assert_eq!(a.annotations["window_end"], "1970-01-01T00:03:00.000Z");
    // keep_firing_for = 1: one clear window keeps it firing, the second resolves it.
    let ev = eng.evaluate(&[acc(&k, 3, 0.9)], &[], now).unwrap();
    assert!(ev.is_empty());
    assert_eq!(eng.firing().len(), 1);
    // A breach in between resets the clear count.
    assert!(eng
        .evaluate(&[acc(&k, 4, 0.7)], &[], now)
        .unwrap()
        .is_empty());
    assert!(eng
        .evaluate(&[acc(&k, 5, 0.9)], &[], now)
        .unwrap()
        .is_empty());
    let ev = eng.evaluate(&[acc(&k, 6, 0.95)], &[], now).unwrap();
    assert_eq!(transitions(&ev), [(Firing, Resolved)]);
    assert_eq!(ev[0].alert.ends_at_ms, Some(7 * MIN));
    assert_eq!(ev[0].alert.value, 0.95);
    assert!(eng.active().is_empty());
    // A pending alert that clears goes back to inactive without firing.
    let ev = eng
        .evaluate(&[acc(&k, 7, 0.7), acc(&k, 8, 0.9)], &[], now)
        .unwrap();
    assert_eq!(transitions(&ev), [(Resolved, Pending), (Pending, Inactive)]);
    // A new alert starts afresh.
    let ev = eng
        .evaluate(&[acc(&k, 9, 0.7), acc(&k, 10, 0.7)], &[], now)
        .unwrap();
    assert_eq!(transitions(&ev), [(Inactive, Pending), (Pending, Firing)]);
    assert_eq!(ev[1].alert.starts_at_ms, 10 * MIN);
}

#[test]
fn for_zero_fires_at_once_and_durations_count_window_time() {
    let dir = tempfile::tempdir().unwrap();
    let text = r#"
[[rule]]
name = "now"
metric = "error_rate"
condition = { above = 0.05 }

[[rule]]
name = "slow"
metric = "error_rate"
condition = { above = 0.05 }
for = "3m"
keep_firing_for = "2m"
"#;
    let mut eng = engine(dir.path(), text);
    let k = key("m", 1, "a");
    let er = |i, v| win(&k, i, 10, &[("error_rate", v)]);
    let ev = eng.evaluate(&[er(0, 0.1)], &[], 100 * MIN).unwrap();
    let names: Vec<_> = ev
        .iter()
        .map(|e| (e.alert.rule.as_str(), e.from, e.to))
        .collect();
    assert_eq!(
        names,
        [("now", Inactive, Firing), ("slow", Inactive, Pending)]
    );
    let ev = eng.evaluate(&[er(1, 0.1)], &[], 100 * MIN).unwrap();
    assert!(ev.is_empty(), "2 minutes of breach < for = 3m");
    let ev = eng.evaluate(&[er(2, 0.1)], &[], 100 * MIN).unwrap();
    assert_eq!(transitions(&ev), [(Pending, Firing)]);
    assert_eq!(ev[0].alert.rule, "slow");
    // Clear: "now" resolves at once; "slow" keeps firing 2 minutes past the last breach.
    let ev = eng
        .evaluate(&[er(3, 0.0), er(4, 0.0)], &[], 100 * MIN)
        .unwrap();
    assert_eq!(ev.len(), 1);
    assert_eq!((ev[0].alert.rule.as_str(), ev[0].to), ("now", Resolved));
    let ev = eng.evaluate(&[er(5, 0.0)], &[], 100 * MIN).unwrap();
    assert_eq!((ev[0].alert.rule.as_str(), ev[0].to), ("slow", Resolved));
}

#[test]
fn same_windows_twice_change_nothing_and_open_windows_wait() {
    let dir = tempfile::tempdir().unwrap();
    let mut eng = engine(dir.path(), ACC_RULE);
    let k = key("churn", 3, "stable");
    let ws = [acc(&k, 0, 0.7), acc(&k, 1, 0.7), acc(&k, 2, 0.7)];
    // Window 2 ends at 3 min: still open at now = 2.5 min.
    let ev = eng.evaluate(&ws, &[], 2 * MIN + MIN / 2).unwrap();
    assert_eq!(transitions(&ev), [(Inactive, Pending), (Pending, Firing)]);
    let before = std::fs::read(dir.path().join("state.json")).unwrap();
    let ev = eng.evaluate(&ws[..2], &[], 3 * MIN).unwrap();
    assert!(ev.is_empty());
    assert_eq!(
        std::fs::read(dir.path().join("state.json")).unwrap(),
        before
    );
    // Window 2 is evaluated once closed: firing continues, no event.
    let ev = eng.evaluate(&ws, &[], 3 * MIN).unwrap();
    assert!(ev.is_empty());
    assert_eq!(
        eng.firing()[0].annotations["window_end"],
        "1970-01-01T00:03:00.000Z"
    );
    // Windows given in any order are walked in time order.
    let dir2 = tempfile::tempdir().unwrap();
    let mut eng2 = engine(dir2.path(), ACC_RULE);
    let mut rev = ws.to_vec();
    rev.reverse();
    let ev = eng2.evaluate(&rev, &[], 10 * MIN).unwrap();
    assert_eq!(transitions(&ev), [(Inactive, Pending), (Pending, Firing)]);
    assert_eq!(ev[1].at_ms, 2 * MIN);
}

#[test]
fn restart_neither_refires_nor_forgets() {
    let dir = tempfile::tempdir().unwrap();
    let k = key("churn", 3, "stable");
    let ws = [acc(&k, 0, 0.7), acc(&k, 1, 0.7)];
    let firing_before;
    {
        let mut eng = engine(dir.path(), ACC_RULE);
        let ev = eng.evaluate(&ws, &[], 10 * MIN).unwrap();
        assert_eq!(ev.last().unwrap().to, Firing);
        firing_before = eng.firing();
    }
    // A new process: the same windows again do not re-fire, the alert is still there.
    let mut eng = engine(dir.path(), ACC_RULE);
    assert_eq!(eng.firing(), firing_before);
    let ev = eng.evaluate(&ws, &[], 10 * MIN).unwrap();
    assert!(ev.is_empty(), "{ev:?}");
    // And it resolves from where it was (keep_firing_for = 1: two clear windows).
    let ev = eng
        .evaluate(&[acc(&k, 2, 0.9), acc(&k, 3, 0.9)], &[], 10 * MIN)
        .unwrap();
    assert_eq!(transitions(&ev), [(Firing, Resolved)]);
    assert_eq!(ev[0].alert.starts_at_ms, firing_before[0].starts_at_ms);
    drop(eng);
    let eng = engine(dir.path(), ACC_RULE);
    assert!(eng.active().is_empty());
}

#[test]
fn corrupt_or_truncated_state_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let k = key("churn", 3, "stable");
    {
        let mut eng = engine(dir.path(), ACC_RULE);
        eng.evaluate(&[acc(&k, 0, 0.7)], &[], 10 * MIN).unwrap();
    }
    let path = dir.path().join("state.json");
    let good = std::fs::read_to_string(&path).unwrap();
    for bad in [
        good[..good.len() / 2].to_owned(),
        good.replace("\"pending\"", "\"exploded\""),
        good.replace("\"format\":1", "\"format\":9"),
        "not json".to_owned(),
        String::new(),
    ] {
        assert_ne!(bad, good, "the tampering must change the file");
        std::fs::write(&path, &bad).unwrap();
        match AlertEngine::open(rules(ACC_RULE), &path) {
            Err(Error::Corrupt {
                path: p, reason, ..
            }) => {
                assert_eq!(p, path);
                assert!(reason.contains("alert state"), "{reason}");
            }
            other => panic!("expected Corrupt for {bad:?}, got {other:?}"),
        }
    }
    // The bad file is left alone (never silently reset).
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "");
    // A state file that is a directory: an I/O error.
    let d = dir.path().join("dir");
    std::fs::create_dir(&d).unwrap();
    assert!(matches!(
        AlertEngine::open(rules(ACC_RULE), &d),
        Err(Error::Io { .. })
    ));
}

#[test]
fn min_samples_and_missing_metric_leave_the_state() {
    let dir = tempfile::tempdir().unwrap();
    let mut eng = engine(dir.path(), ACC_RULE);
    let k = key("churn", 3, "stable");
    let ev = eng
        .evaluate(
            &[
                acc(&k, 0, 0.7),                             // pending
                win(&k, 1, 99, &[("accuracy", 0.9)]),        // too few labels: not a clear window
                win(&k, 2, 1000, &[]),                       // no accuracy: nothing
                win(&k, 3, 1000, &[("accuracy", f64::NAN)]), // NaN: as missing
                acc(&k, 4, 0.7),                             // second breaching window: firing
            ],
            &[],
            10 * MIN,
        )
        .unwrap();
    assert_eq!(transitions(&ev), [(Inactive, Pending), (Pending, Firing)]);
    assert_eq!(ev[1].at_ms, 5 * MIN);
    // min_samples counts labels for a realised metric: many predictions, few labels.
    let dir = tempfile::tempdir().unwrap();
    let mut eng = engine(dir.path(), ACC_RULE);
    let mut w = acc(&k, 0, 0.1);
    w.n_labelled = 50;
    assert!(eng.evaluate(&[w], &[], 10 * MIN).unwrap().is_empty());
    // ... and predictions for a serving metric.
    let text = "[[rule]]\nname = \"e\"\nmetric = \"error_rate\"\ncondition = { above = 0.1 }\nmin_samples = 100\n";
    let dir = tempfile::tempdir().unwrap();
    let mut eng = engine(dir.path(), text);
    let mut w = win(&k, 0, 100, &[("error_rate", 0.5)]);
    w.n_labelled = 0;
    assert_eq!(eng.evaluate(&[w], &[], 10 * MIN).unwrap().len(), 1);
}

#[test]
fn reference_band_as_nannyml() {
    let text = r#"
[[rule]]
name = "acc_band"
metric = "accuracy"
condition = { band = "reference" }
"#;
    let dir = tempfile::tempdir().unwrap();
    let mut eng = engine(dir.path(), text);
    let k = key("churn", 3, "stable");
    let ref_key = key("churn", 3, "reference");
    // Reference chunks of the same model (another arm: matched by model and segment).
    let reference: Vec<_> = [0.90, 0.91, 0.89, 0.92, 0.88, 0.90]
        .iter()
        .enumerate()
        .map(|(i, v)| acc(&ref_key, i as i64, *v))
        .collect();
    // tools/reference/alerts_reference.py, case "accuracy_ref":
    // calculate_threshold_values(StandardDeviationThreshold(std_lower_multiplier=3,
    //   std_upper_multiplier=3), np.array([0.90, 0.91, 0.89, 0.92, 0.88, 0.90]), 0.0, 1.0)
    //   = (0.8612701665379259, 0.9387298334620742)
    let (lo, hi) = (0.8612701665379259, 0.9387298334620742);
    let ev = eng
        .evaluate(
            &[acc(&k, 0, lo + 1e-6), acc(&k, 1, hi - 1e-6)],
            &reference,
            10 * MIN,
        )
        .unwrap();
    assert!(ev.is_empty(), "inside the band");
    let ev = eng
        .evaluate(&[acc(&k, 2, lo - 1e-6)], &reference, 10 * MIN)
        .unwrap();
    assert_eq!(transitions(&ev), [(Inactive, Firing)]);
    let bound = &ev[0].alert.bound;
    assert!(
        bound.starts_with("outside reference band [0.86127"),
        "{bound}"
    );
    // 6 significant digits for people; the pinned values above are what the engine compares.
    assert!(bound.contains("0.93873"), "{bound}");
    let ev = eng
        .evaluate(
            &[acc(&k, 3, 0.9), acc(&k, 4, hi + 1e-6)],
            &reference,
            10 * MIN,
        )
        .unwrap();
    assert_eq!(transitions(&ev), [(Firing, Resolved), (Resolved, Firing)]);
    // Reference windows with the exact key win over the model's other ones.
    let exact: Vec<_> = [0.5, 0.5]
        .iter()
        .enumerate()
        .map(|(i, v)| acc(&k, i as i64, *v))
        .collect();
    let mut all = reference.clone();
    all.extend(exact);
    let ev = eng.evaluate(&[acc(&k, 5, 0.5)], &all, 10 * MIN).unwrap();
    assert_eq!(
        transitions(&ev),
        [(Firing, Resolved)],
        "band [0.5, 0.5] holds 0.5"
    );
    // No reference for this model: an error, and nothing changes.
    let other = key("fraud", 1, "stable");
    let before = eng.active();
    let e = eng
        .evaluate(
            &[acc(&k, 6, 0.1), acc(&other, 0, 0.9)],
            &reference,
            10 * MIN,
        )
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("acc_band") && e.contains("fraud") && e.contains("line 2"),
        "{e}"
    );
    assert_eq!(eng.active(), before);
    let ev = eng
        .evaluate(&[acc(&k, 6, 0.1)], &reference, 10 * MIN)
        .unwrap();
    assert_eq!(
        transitions(&ev),
        [(Resolved, Firing)],
        "window 6 was not consumed by the failed call"
    );
}

#[test]
fn filters_select_series() {
    let text = r#"
[[rule]]
name = "only_churn_v2_canary"
metric = "accuracy"
condition = { below = 0.8 }
model = "churn"
version = 2
arm = "canary"

[[rule]]
name = "by_country"
metric = "accuracy"
condition = { below = 0.8 }
segment = "country"
"#;
    let dir = tempfile::tempdir().unwrap();
    let mut eng = engine(dir.path(), text);
    let mut fr = key("churn", 2, "canary");
    fr.segment = Some(("country".into(), "Zürich \"CH\"".into()));
    let mut dev = key("churn", 2, "canary");
    dev.segment = Some(("device".into(), "ios".into()));
    let ws = [
        acc(&key("churn", 2, "canary"), 0, 0.5),
        acc(&key("churn", 2, "stable"), 0, 0.5),
        acc(&key("churn", 1, "canary"), 0, 0.5),
        acc(&key("fraud", 2, "canary"), 0, 0.5),
        acc(&fr, 0, 0.5),
        acc(&dev, 0, 0.5),
    ];
    let ev = eng.evaluate(&ws, &[], 10 * MIN).unwrap();
    let got: Vec<_> = ev
        .iter()
        .map(|e| (e.alert.rule.as_str(), e.alert.key.clone()))
        .collect();
    assert_eq!(
        got,
        [
            ("only_churn_v2_canary", key("churn", 2, "canary")),
            ("by_country", fr.clone()),
        ]
    );
    let a = &ev[1].alert;
    assert_eq!(a.labels["segment"], "country");
    assert_eq!(a.labels["segment_value"], "Zürich \"CH\"");
}

#[test]
fn hooks_see_every_transition() {
    let dir = tempfile::tempdir().unwrap();
    let mut eng = engine(dir.path(), ACC_RULE);
    let seen: Arc<Mutex<Vec<(String, AlertState)>>> = Arc::default();
    let s = seen.clone();
    let state_path = dir.path().join("state.json");
    eng.on_event(Box::new(move |e: &AlertEvent| {
        // The state is persisted before the hook runs.
        let state = std::fs::read_to_string(&state_path).unwrap();
        assert!(state.contains(&e.alert.rule));
        s.lock().unwrap().push((e.alert.rule.clone(), e.to));
    }));
    let retrain = Arc::new(AtomicU32::new(0));
    let r = retrain.clone();
    eng.on_event(Box::new(move |e: &AlertEvent| {
        if e.to == Firing {
            r.fetch_add(1, Ordering::SeqCst);
        }
    }));
    let k = key("churn", 3, "stable");
    eng.evaluate(&[acc(&k, 0, 0.7), acc(&k, 1, 0.7)], &[], 10 * MIN)
        .unwrap();
    eng.evaluate(&[acc(&k, 2, 0.9), acc(&k, 3, 0.9)], &[], 10 * MIN)
        .unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        [
            ("accuracy_drop".to_owned(), Pending),
            ("accuracy_drop".to_owned(), Firing),
            ("accuracy_drop".to_owned(), Resolved),
        ]
    );
    assert_eq!(retrain.load(Ordering::SeqCst), 1);
}

#[test]
fn removed_rule_resolves_its_firing_alert() {
    let dir = tempfile::tempdir().unwrap();
    let k = key("churn", 3, "stable");
    {
        let mut eng = engine(dir.path(), ACC_RULE);
        eng.evaluate(&[acc(&k, 0, 0.7), acc(&k, 1, 0.7)], &[], 10 * MIN)
            .unwrap();
        assert_eq!(eng.firing().len(), 1);
    }
    let other = "[[rule]]\nname = \"e\"\nmetric = \"error_rate\"\ncondition = { above = 0.1 }\n";
    let mut eng = engine(dir.path(), other);
    // Until the next evaluation the orphan is still listed (nothing is forgotten silently).
    assert_eq!(eng.firing().len(), 1);
    assert_eq!(eng.firing()[0].rule, "accuracy_drop");
    let ev = eng.evaluate(&[], &[], 20 * MIN).unwrap();
    assert_eq!(transitions(&ev), [(Firing, Resolved)]);
    assert_eq!(ev[0].alert.ends_at_ms, Some(20 * MIN));
    assert_eq!(ev[0].alert.annotations["resolved_reason"], "rule removed");
    assert!(eng.active().is_empty());
    assert!(eng.evaluate(&[], &[], 21 * MIN).unwrap().is_empty());
}

#[test]
fn bad_windows_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut eng = engine(dir.path(), ACC_RULE);
    let k = key("churn", 3, "stable");
    let mut w = acc(&k, 0, 0.7);
    w.end_ms = w.start_ms;
    assert!(matches!(
        eng.evaluate(&[w], &[], 10 * MIN),
        Err(Error::InvalidInput { .. })
    ));
    let e = eng
        .evaluate(&[acc(&k, 0, 0.7), acc(&k, 0, 0.9)], &[], 10 * MIN)
        .unwrap_err();
    assert!(e.to_string().contains("two windows"), "{e}");
    assert!(!dir.path().join("state.json").exists());
    // ±inf values compare as numbers and survive the state file.
    let ev = eng
        .evaluate(
            &[win(&k, 0, 1000, &[("accuracy", f64::NEG_INFINITY)])],
            &[],
            10 * MIN,
        )
        .unwrap();
    assert_eq!(transitions(&ev), [(Inactive, Pending)]);
    let eng = engine(dir.path(), ACC_RULE);
    assert_eq!(eng.active()[0].value, f64::NEG_INFINITY);
    assert_eq!(eng.active()[0].annotations["value"], "-Inf");
}

// --- the gauge exporter ---

#[test]
fn gauges_for_the_latest_window_per_key() {
    let k = key("churn", 3, "stable");
    let mut seg = key("churn", 3, "stable");
    seg.segment = Some(("country".into(), "a\"b\\c\nd".into()));
    let old = win(&k, 0, 10, &[("accuracy", 0.1)]);
    let new = win(
        &k,
        1,
        20,
        &[
            ("accuracy", 0.75),
            ("value.realised", -12.5),
            ("drift.age.statistic", 0.3),
            ("drift.age.p_value", 0.01),
            ("drift.ville.p_value", 0.5),
            ("kpi.amount.sum", f64::INFINITY),
            ("estimated.roc_auc", 0.8),
            ("estimated.roc_auc.lower", 0.7),
            ("estimated.roc_auc.upper", 0.9),
            ("class.yes.recall", 0.6),
            ("not_a_metric", 1.0),
        ],
    );
    let s = win(&seg, 1, 5, &[("accuracy", 0.5)]);
    let firing = vec![
        alert("accuracy_drop", "critical", Firing),
        alert("accuracy_drop", "critical", Firing),
        alert("other", "warning", Pending),
    ];
    let mut out = String::new();
    render_gauges(&[new, old, s], &firing, &mut out);
    let lines: Vec<&str> = out.lines().collect();
    let l = r#"model="churn",version="3",arm="stable""#;
    for want in [
        format!("mlops_monitor_accuracy{{{l}}} 0.75"),
        format!("mlops_monitor_n_predictions{{{l}}} 20"),
        format!("mlops_monitor_n_labelled{{{l}}} 20"),
        format!("mlops_monitor_window_end_timestamp_seconds{{{l}}} 120"),
        format!("mlops_monitor_value_realised{{{l}}} -12.5"),
        format!("mlops_monitor_drift_statistic{{{l},column=\"age\"}} 0.3"),
        format!("mlops_monitor_drift_p_value{{{l},column=\"age\"}} 0.01"),
        format!("mlops_monitor_drift_p_value{{{l},column=\"ville\"}} 0.5"),
        format!("mlops_monitor_kpi{{{l},kpi=\"amount\",aggregation=\"sum\"}} +Inf"),
        format!("mlops_monitor_estimated{{{l},metric=\"roc_auc\",bound=\"value\"}} 0.8"),
        format!("mlops_monitor_estimated{{{l},metric=\"roc_auc\",bound=\"lower\"}} 0.7"),
        format!("mlops_monitor_estimated{{{l},metric=\"roc_auc\",bound=\"upper\"}} 0.9"),
        format!("mlops_monitor_class_recall{{{l},class=\"yes\"}} 0.6"),
        format!("mlops_monitor_accuracy{{{l},segment=\"country\",segment_value=\"a\\\"b\\\\c\\nd\"}} 0.5"),
        "mlops_monitor_alerts_firing{alertname=\"accuracy_drop\",severity=\"critical\"} 2".to_owned(),
        "# TYPE mlops_monitor_accuracy gauge".to_owned(),
    ] {
        assert!(lines.contains(&want.as_str()), "missing {want}\n{out}");
    }
    assert!(!out.contains(" 0.1\n"), "the older window is not published");
    assert!(!out.contains("not_a_metric"));
    assert!(!out.contains("other"), "pending alerts are not counted");
    // HELP and TYPE once per family, each family's samples together.
    let mut seen = std::collections::HashSet::new();
    let mut current = "";
    for line in &lines {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let fam = rest.split(' ').next().unwrap();
            assert!(seen.insert(fam.to_owned()), "family {fam} twice");
            current = fam;
        } else if !line.starts_with('#') {
            let name = line.split(['{', ' ']).next().unwrap();
            assert_eq!(name, current, "{line} outside its family");
        }
    }
    assert_eq!(
        out.matches("# HELP mlops_monitor_drift_p_value ").count(),
        1
    );
    // Nothing in, nothing out.
    let mut empty = String::new();
    render_gauges(&[], &[], &mut empty);
    assert!(empty.is_empty());
}

fn alert(name: &str, severity: &str, state: AlertState) -> Alert {
    Alert {
        rule: name.into(),
        key: key("churn", 3, "stable"),
        state,
        value: 0.5,
        bound: "< 0.8".into(),
        allowed_min: Some(0.8),
        allowed_max: None,
        labels: [("alertname", name), ("severity", severity)]
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        annotations: BTreeMap::new(),
        starts_at_ms: 0,
        fired_at_ms: Some(0),
        ends_at_ms: None,
    }
}

// --- the webhook sink, against a local server ---

struct Request {
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

fn read_request(stream: &mut TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    if line.is_empty() {
        return None;
    }
    let mut headers = BTreeMap::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
    }
    let len: usize = headers.get("content-length")?.parse().ok()?;
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some(Request { headers, body })
}

/// A server that answers each request with the next status of `script` (the last one
/// repeats) and records the requests.
fn server(script: Vec<u16>) -> (String, Arc<Mutex<Vec<Request>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let seen: Arc<Mutex<Vec<Request>>> = Arc::default();
    let s = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let Some(req) = read_request(&mut stream) else {
                continue;
            };
            let n = {
                let mut v = s.lock().unwrap();
                v.push(req);
                v.len()
            };
            let status = script[(n - 1).min(script.len() - 1)];
            let body = if status == 200 { "ok" } else { "try later" };
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (url, seen)
}

fn one_event() -> (Vec<AlertEvent>, Vec<Alert>) {
    let a = alert("accuracy_drop", "critical", Firing);
    let ev = AlertEvent {
        from: Pending,
        to: Firing,
        at_ms: 120_000,
        alert: a.clone(),
    };
    (vec![ev], vec![a])
}

#[test]
fn webhook_retries_and_signs_the_raw_body() {
    let (url, seen) = server(vec![503, 503, 200]);
    let sink = WebhookSink::new(&url)
        .with_secret(b"s3cret".to_vec())
        .with_retries(3)
        .with_backoff(Duration::from_millis(5));
    let (events, active) = one_event();
    sink.send(&events, &active).unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 3, "two 503s, then 200");
    for r in seen.iter() {
        // Independent HMAC over the raw bytes received: RFC 2104 with SHA-256.
        let want = format!("sha256={}", hmac_sha256_hex(b"s3cret", &r.body));
        assert_eq!(r.headers["x-mlops-signature"], want);
        assert_eq!(
            r.headers["x-mlops-signature"],
            signature(b"s3cret", &r.body)
        );
        assert_eq!(r.headers["content-type"], "application/json");
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["version"], "1");
        assert_eq!(v["events"][0]["to"], "firing");
        assert_eq!(
            v["events"][0]["alert"]["labels"]["alertname"],
            "accuracy_drop"
        );
        assert_eq!(v["alerts"][0]["value"], 0.5);
    }
    // No events: nothing posted.
    drop(seen);
}

#[test]
fn webhook_gives_up_after_the_retries() {
    let (url, seen) = server(vec![500]);
    let sink = WebhookSink::new(&url)
        .with_retries(2)
        .with_backoff(Duration::from_millis(1));
    let (events, active) = one_event();
    let e = sink.send(&events, &active).unwrap_err();
    assert!(matches!(e, Error::Io { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains("after 3 attempts") && msg.contains("HTTP 500"),
        "{msg}"
    );
    assert!(msg.contains(&url), "{msg}");
    assert_eq!(seen.lock().unwrap().len(), 3);
    // Nothing to send: no request.
    sink.send(&[], &active).unwrap();
    assert_eq!(seen.lock().unwrap().len(), 3);
}

#[test]
fn webhook_does_not_retry_a_client_error() {
    let (url, seen) = server(vec![400]);
    let sink = WebhookSink::new(&url).with_backoff(Duration::from_millis(1));
    let (events, active) = one_event();
    let e = sink.send(&events, &active).unwrap_err();
    assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}");
    assert!(e.to_string().contains("HTTP 400"), "{e}");
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[test]
fn webhook_times_out_a_silent_server() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicU32::new(0));
    let a = accepted.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming() {
            a.fetch_add(1, Ordering::SeqCst);
            held.push(s); // never answer
        }
    });
    let sink = WebhookSink::new(&url)
        .with_timeout(Duration::from_millis(200))
        .with_retries(1)
        .with_backoff(Duration::from_millis(1));
    let (events, active) = one_event();
    match sink.send(&events, &active) {
        Err(Error::Io { source, .. }) => {
            assert_eq!(source.kind(), std::io::ErrorKind::TimedOut, "{source}");
            assert!(source.to_string().contains("after 2 attempts"), "{source}");
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

#[test]
fn webhook_connection_refused_and_bad_url() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let sink = WebhookSink::new(format!("http://127.0.0.1:{port}/hook"))
        .with_retries(1)
        .with_backoff(Duration::from_millis(1));
    let (events, active) = one_event();
    let e = sink.send(&events, &active).unwrap_err();
    assert!(matches!(e, Error::Io { .. }), "{e:?}");
    let e = WebhookSink::new("not a url")
        .send(&events, &active)
        .unwrap_err();
    assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}");
}

/// Without the `tls` feature an `https` URL is refused at once, not retried.
#[cfg(not(feature = "tls"))]
#[test]
fn https_without_tls_is_refused() {
    let (events, active) = one_event();
    let e = WebhookSink::new("https://127.0.0.1:9/hook")
        .with_retries(1)
        .with_backoff(Duration::from_millis(1))
        .send(&events, &active)
        .unwrap_err();
    assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}");
    assert!(e.to_string().contains("`tls` feature"), "{e}");
}

#[test]
fn alertmanager_body_resends_firing_and_resolves() {
    let sink = AlertmanagerSink::new("http://am:9093/")
        .with_generator_url("http://grafana/d/1")
        .with_valid_for(Duration::from_secs(60));
    let firing = alert("a", "critical", Firing);
    let pending = alert("p", "warning", Pending);
    let mut resolved = alert("r", "warning", Resolved);
    resolved.starts_at_ms = 60_000;
    resolved.ends_at_ms = Some(180_000);
    let ev = AlertEvent {
        from: Firing,
        to: Resolved,
        at_ms: 180_000,
        alert: resolved,
    };
    let body = sink.body(&[ev], &[firing, pending], 1_000_000).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let arr = v.as_array().unwrap();
    assert_eq!(arr.len(), 2, "pending alerts are not sent: {v}");
    assert_eq!(arr[0]["labels"]["alertname"], "a");
    assert_eq!(arr[0]["startsAt"], "1970-01-01T00:00:00.000Z");
    assert_eq!(
        arr[0]["endsAt"], "1970-01-01T00:17:40.000Z",
        "now + valid_for"
    );
    assert_eq!(arr[0]["generatorURL"], "http://grafana/d/1");
    assert_eq!(arr[1]["labels"]["alertname"], "r");
    assert_eq!(arr[1]["endsAt"], "1970-01-01T00:03:00.000Z");
}

/// HMAC-SHA256 written out from RFC 2104 (ipad/opad over SHA-256), independent of `hmac`.
fn hmac_sha256_hex(key: &[u8], msg: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let ipad: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
    let opad: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
    let inner = Sha256::new()
        .chain_update(&ipad)
        .chain_update(msg)
        .finalize();
    let outer = Sha256::new()
        .chain_update(&opad)
        .chain_update(inner)
        .finalize();
    hex::encode(outer)
}
