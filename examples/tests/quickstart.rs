//! The quickstart runs as a test: its story must hold, not just run. The loop (alert →
//! pipeline → gate → canary → promotion) is asserted end to end.

use mlops_registry::EventKind as RegEvent;
use mlops_serve::deploy::EventKind;

fn gate(r: &mlops_pipeline::RunReport) -> &serde_json::Value {
    r.gate.as_ref().expect("the run has a gate report")
}

#[test]
fn quickstart_runs_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let mut out = Vec::new();
    let s = mlops_examples::quickstart::run(dir.path(), &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("digest"), "{text}");
    assert_eq!(s.day1.row_count, Some(5000));
    assert_eq!(s.day2.row_count, Some(4000));
    assert_eq!(s.day2.parents, vec![s.day1.digest]);
    assert_eq!(s.runs.len(), 4, "{text}");

    // 1. The first model: every step ran, the gate checked value thresholds only, and v1 got
    //    `production` (first_alias).
    let r1 = &s.runs[0];
    assert_eq!(r1.ran(), ["split", "prep", "tune", "train"]);
    assert_eq!(gate(r1)["passed"], true, "{text}");
    assert_eq!(gate(r1)["has_champion"], false);
    let reg1 = r1.registered.as_ref().unwrap();
    assert_eq!(
        (reg1.version, reg1.alias.as_deref()),
        (1, Some("production"))
    );
    let auc1 = gate(r1)["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["metric"] == "roc_auc")
        .unwrap()["candidate"]
        .as_f64()
        .unwrap();
    // Blobs 1.5σ apart on 4 axes: ROC AUC Φ(3/√2) ≈ 0.98 for the Bayes classifier.
    assert!(auc1 > 0.95, "{auc1}");
    // Serving runs the version's fitted transform before the model: raw columns in, the
    // same probabilities as the pipeline's model directory (f32).
    assert!(
        s.max_serving_diff < 1e-5,
        "served diff {}",
        s.max_serving_diff
    );
    // Drift: the shifted features are flagged, the unshifted ones are not.
    assert_eq!(s.drifted_columns, vec!["f0".to_string(), "f1".to_string()]);

    // 2. The alerts fired; the hook ran the pipeline once, the second alert was debounced.
    assert!(
        s.alerts_fired.contains(&"accuracy_drop".to_string()),
        "{:?}",
        s.alerts_fired
    );
    assert!(
        s.alerts_fired.contains(&"input_drift".to_string()),
        "{:?}",
        s.alerts_fired
    );
    let ran: Vec<&String> = s
        .trigger_outcomes
        .iter()
        .filter(|o| o.starts_with("ran:alert:"))
        .collect();
    assert_eq!(ran.len(), 1, "{:?}", s.trigger_outcomes);
    assert!(
        s.trigger_outcomes
            .iter()
            .any(|o| o.starts_with("debounced:alert:")),
        "{:?}",
        s.trigger_outcomes
    );
    let r2 = &s.runs[1];
    assert!(r2.trigger.label().starts_with("alert:"), "{:?}", r2.trigger);
    // The data changed, so the split and everything after it reran.
    assert_eq!(r2.ran(), ["split", "prep", "tune", "train"]);
    let g2 = gate(r2);
    assert_eq!(g2["passed"], true, "{text}");
    assert_eq!(g2["has_champion"], true);
    assert_eq!(g2["champion"]["version"], 1);
    let reg2 = r2.registered.as_ref().unwrap();
    assert_eq!((reg2.version, reg2.alias.as_deref()), (2, Some("canary")));
    // Lineage: the trigger, the parent, the study and the run are on the version.
    assert!(s.tags[&2]["mlops.trigger"].starts_with("alert:"));
    assert_eq!(s.tags[&2]["mlops.run_id"], r2.run_id);
    assert!(s.tags[&2].contains_key("mlops.study.tune"));
    assert_eq!(s.parents[&2], Some(1));
    assert_eq!(s.parents[&1], None);

    // v2 was canaried, stepped and promoted by the controller, with no failed request.
    let kinds: Vec<&EventKind> = s.events.iter().map(|e| &e.kind).collect();
    assert!(
        kinds.contains(&&EventKind::Step {
            version: 2,
            weight: 0.5
        }),
        "{kinds:?}"
    );
    let promoted = s
        .events
        .iter()
        .find(|e| e.kind == EventKind::Promoted { from: 1, to: 2 })
        .expect("v2 promoted");
    assert!(promoted.automatic);
    assert_eq!(s.failures_during_v2, 0);
    assert!(s.v2_phase_by_version.get(&1).copied().unwrap_or(0) > 0);
    assert!(s.v2_phase_by_version.get(&2).copied().unwrap_or(0) > 0);

    // 3. The worse config was refused, naming log_loss with its numbers; nothing registered.
    let rw = &s.runs[2];
    assert_eq!(gate(rw)["passed"], false, "{text}");
    assert_eq!(gate(rw)["champion"]["version"], 2);
    let reasons: Vec<&str> = gate(rw)["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(
        reasons.iter().any(|r| r.starts_with("log_loss")),
        "{reasons:?}"
    );
    assert!(rw.registered.is_none());

    // 4. v3 passed its (lenient) gate, went out as a canary, refused the new plan online and
    //    was rolled back automatically; clients saw its failures.
    let r3 = &s.runs[3];
    assert_eq!(gate(r3)["passed"], true, "{text}");
    assert_eq!(r3.registered.as_ref().unwrap().version, 3);
    assert_eq!(s.versions, vec![1, 2, 3]);
    let rolled = s
        .events
        .iter()
        .find(|e| e.kind == EventKind::RolledBack { from: 3, to: 2 })
        .expect("v3 rolled back");
    assert!(rolled.automatic);
    assert!(rolled.reason.contains("error rate"), "{}", rolled.reason);
    assert!(s.failures_during_v3 > 0);
    // v2 served the unknown plan (handle_unknown = ignore) and counted it: about 1 row in 10
    // of the launch traffic it answered.
    let ratio = s.unknown_plan_ratio.get(&2).copied().unwrap_or(0.0);
    assert!(ratio > 0.0 && ratio < 0.2, "{:?}", s.unknown_plan_ratio);

    // The registry tells the same story: production is v2, the canary alias is gone, and the
    // controller's decisions are in the audit log with their reasons.
    assert_eq!(s.production, 2);
    assert!(!s.canary_alias_left);
    let by_controller: Vec<&mlops_registry::Event> = s
        .history
        .iter()
        .filter(|e| e.change.who == "controller")
        .collect();
    assert!(by_controller.iter().any(|e| matches!(&e.kind,
        RegEvent::AliasSet { alias, version: 2, .. } if alias.as_str() == "production")));
    assert!(by_controller.iter().any(|e| matches!(&e.kind,
        RegEvent::AliasRemoved { alias, .. } if alias.as_str() == "canary")
        && e.change.reason.contains("automatic rollback")));
    let by_pipeline: Vec<&mlops_registry::Event> = s
        .history
        .iter()
        .filter(|e| e.change.who == "mlops-pipeline")
        .collect();
    assert_eq!(by_pipeline.len(), 3, "v1 production, v2 canary, v3 canary");
    assert!(s.served_requests > 1000);

    // Monitoring: every served row was logged and labelled late; live accuracy fell on the
    // shifted traffic and the inputs drifted.
    assert_eq!(s.labels_matched, 3000);
    assert_eq!(s.window_accuracy.len(), 6, "{:?}", s.window_accuracy);
    let reference = (s.window_accuracy[0] + s.window_accuracy[1]) / 2.0;
    let shifted = s.window_accuracy[2..].iter().sum::<f64>() / 4.0;
    assert!(
        reference > 0.9 && shifted < reference - 0.03,
        "{:?}",
        s.window_accuracy
    );
    assert!(
        s.window_drift_share[..2].iter().all(|&d| d <= 0.25),
        "{:?}",
        s.window_drift_share
    );
    assert!(
        s.window_drift_share[2..].iter().all(|&d| d >= 0.5),
        "{:?}",
        s.window_drift_share
    );
    assert!(s
        .window_estimated_accuracy
        .iter()
        .all(|e| (0.5..=1.0).contains(e)));
}
