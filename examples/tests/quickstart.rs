//! The quickstart runs as a test: its story must hold, not just run.

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
    // Blobs 1.5σ apart on 4 axes are separable well above chance.
    assert!(s.report.accuracy > 0.85, "accuracy {}", s.report.accuracy);
    assert!(s.roc_auc > 0.9, "auc {}", s.roc_auc);
    assert!(s.log_loss < 0.4, "log loss {}", s.log_loss);
    // Registry: v1 and v2 registered, production promoted to v2 then rolled back to v1.
    assert_eq!(s.versions, vec![1, 2]);
    assert_eq!(s.production, 1);
    assert_eq!(s.history_len, 3, "set v1, set v2, rollback");
    // Serving: the engine answers with the registered model's probabilities (f32 precision).
    assert!(
        s.max_serving_diff < 1e-5,
        "served diff {}",
        s.max_serving_diff
    );
    assert!(s.served_requests >= 100);
    // Drift: the shifted features are flagged, the unshifted ones are not.
    assert_eq!(s.drifted_columns, vec!["f0".to_string(), "f1".to_string()]);
    // Same seed, same data: the snapshot digest is reproducible.
    let dir2 = tempfile::tempdir().unwrap();
    let s2 = mlops_examples::quickstart::run(dir2.path(), &mut Vec::new()).unwrap();
    assert_eq!(s.train.digest, s2.train.digest);
}
