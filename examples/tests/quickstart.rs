//! The quickstart runs as a test: its story must hold, not just run.

use mlops_registry::EventKind as RegEvent;
use mlops_serve::deploy::EventKind;

#[test]
fn quickstart_runs_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let mut out = Vec::new();
    let s = mlops_examples::quickstart::run(dir.path(), &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("digest"), "{text}");
    assert_eq!(s.train.row_count, Some(4000));
    assert_eq!(s.eval.row_count, Some(1000));
    assert_eq!(s.eval.parents, vec![s.train.digest]);
    // The candle MLP learned: blobs 1.5σ apart on 4 axes are separable well above chance.
    assert!(
        s.train_loss.1 < s.train_loss.0 * 0.6,
        "loss {:?}",
        s.train_loss
    );
    assert!(s.report.accuracy > 0.85, "accuracy {}", s.report.accuracy);
    assert!(s.roc_auc > 0.9, "auc {}", s.roc_auc);
    assert!(s.log_loss < 0.4, "log loss {}", s.log_loss);
    // Serving answers with the trained graph's probabilities (f32 precision).
    assert!(
        s.max_serving_diff < 1e-5,
        "served diff {}",
        s.max_serving_diff
    );
    // Drift: the shifted features are flagged, the unshifted ones are not.
    assert_eq!(s.drifted_columns, vec!["f0".to_string(), "f1".to_string()]);

    assert_eq!(s.versions, vec![1, 2, 3]);
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
    // v3 failed its checks and was rolled back automatically; clients saw its failures.
    let rolled = s
        .events
        .iter()
        .find(|e| e.kind == EventKind::RolledBack { from: 3, to: 2 })
        .expect("v3 rolled back");
    assert!(rolled.automatic);
    assert!(rolled.reason.contains("error rate"), "{}", rolled.reason);
    assert!(s.failures_during_v3 > 0);
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
    assert!(s.served_requests > 1000);
    // Monitoring: every served row was logged and labelled late; live accuracy fell on the
    // shifted traffic, the inputs drifted, and both alerts reached the local webhook.
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
    // Same seed, same data: the snapshot digest is reproducible.
    let dir2 = tempfile::tempdir().unwrap();
    let s2 = mlops_examples::quickstart::run(dir2.path(), &mut Vec::new()).unwrap();
    assert_eq!(s.train.digest, s2.train.digest);
}
