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
    // Same seed, same data: the snapshot digest is reproducible.
    let dir2 = tempfile::tempdir().unwrap();
    let s2 = mlops_examples::quickstart::run(dir2.path(), &mut Vec::new()).unwrap();
    assert_eq!(s.train.digest, s2.train.digest);
}
