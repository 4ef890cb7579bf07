//! Metrics pinned to scikit-learn 1.9.1. Every value comes from
//! `python3 tools/reference/metrics_reference.py`; the exact call is above each number.

use mlops_core::metrics::{self, AucAverage};
use mlops_core::Error;

fn close(got: f64, want: f64) {
    let tol = 1e-12 * want.abs().max(1.0);
    assert!((got - want).abs() <= tol, "got {got}, want {want}");
}

const A_TRUE: [u8; 10] = [0, 1, 2, 2, 1, 0, 2, 3, 3, 1];
const A_PRED: [u8; 10] = [0, 2, 2, 2, 1, 0, 1, 0, 0, 1];

#[test]
fn multiclass_with_a_class_never_predicted() {
    let r = metrics::classification_report(&A_TRUE, &A_PRED).unwrap();
    // M.accuracy_score(A_true, A_pred)
    close(r.accuracy, 0.6);
    // M.confusion_matrix(A_true, A_pred).tolist()
    assert_eq!(
        r.confusion.counts,
        vec![
            vec![2, 0, 0, 0],
            vec![0, 2, 1, 0],
            vec![0, 1, 2, 0],
            vec![2, 0, 0, 0]
        ]
    );
    assert_eq!(r.labels, vec![0, 1, 2, 3]);
    // M.precision_recall_fscore_support(A_true, A_pred, average=None, zero_division=0)
    let p = [0.5, 0.6666666666666666, 0.6666666666666666, 0.0];
    let rc = [1.0, 0.6666666666666666, 0.6666666666666666, 0.0];
    let f = [
        0.6666666666666666,
        0.6666666666666666,
        0.6666666666666666,
        0.0,
    ];
    let s = [2, 3, 3, 2];
    for i in 0..4 {
        close(r.per_class[i].precision, p[i]);
        close(r.per_class[i].recall, rc[i]);
        close(r.per_class[i].f1, f[i]);
        assert_eq!(r.per_class[i].support, s[i]);
    }
    // M.precision_recall_fscore_support(A_true, A_pred, average='macro', zero_division=0)
    close(r.macro_avg.precision, 0.45833333333333326);
    close(r.macro_avg.recall, 0.5833333333333333);
    close(r.macro_avg.f1, 0.5);
    // ... average='micro'
    close(r.micro_avg.precision, 0.6);
    close(r.micro_avg.recall, 0.6);
    close(r.micro_avg.f1, 0.6);
    // ... average='weighted'
    close(r.weighted_avg.precision, 0.5);
    close(r.weighted_avg.recall, 0.6);
    close(r.weighted_avg.f1, 0.5333333333333333);
    close(metrics::accuracy(&A_TRUE, &A_PRED).unwrap(), 0.6);
}

#[test]
fn string_labels_and_a_class_never_true() {
    let t = ["b", "a", "a", "c", "b", "a"];
    let p = ["b", "a", "z", "c", "a", "a"];
    let r = metrics::classification_report(&t, &p).unwrap();
    assert_eq!(r.labels, vec!["a", "b", "c", "z"]);
    // M.precision_recall_fscore_support(B_true, B_pred, average=None, zero_division=0)
    let want_p = [0.6666666666666666, 1.0, 1.0, 0.0];
    let want_r = [0.6666666666666666, 0.5, 1.0, 0.0];
    let want_f = [0.6666666666666666, 0.6666666666666666, 1.0, 0.0];
    for i in 0..4 {
        close(r.per_class[i].precision, want_p[i]);
        close(r.per_class[i].recall, want_r[i]);
        close(r.per_class[i].f1, want_f[i]);
    }
    // ... average='macro'
    close(r.macro_avg.precision, 0.6666666666666666);
    close(r.macro_avg.recall, 0.5416666666666666);
    close(r.macro_avg.f1, 0.5833333333333333);
    // ... average='weighted'
    close(r.weighted_avg.precision, 0.8333333333333334);
    close(r.weighted_avg.recall, 0.6666666666666666);
    close(r.weighted_avg.f1, 0.7222222222222222);
    assert_eq!(r.class(&"z").unwrap().support, 0);
}

#[test]
fn single_class() {
    let c = [1, 1, 1];
    let r = metrics::classification_report(&c, &c).unwrap();
    // M.precision_recall_fscore_support([1,1,1], [1,1,1], average=None, zero_division=0)
    // -> ([1.], [1.], [1.], [3])
    assert_eq!(r.per_class.len(), 1);
    close(r.per_class[0].precision, 1.0);
    close(r.per_class[0].recall, 1.0);
    close(r.per_class[0].f1, 1.0);
    assert_eq!(r.per_class[0].support, 3);
    // M.roc_auc_score([1,1,1], [0.2,0.3,0.4]) raises ValueError (only one class present)
    assert!(matches!(
        metrics::roc_auc(&[true, true, true], &[0.2, 0.3, 0.4]),
        Err(Error::Undefined { .. })
    ));
}

#[test]
fn binary_auc_with_ties_and_log_loss_with_clipping() {
    let t: Vec<bool> = [0, 0, 1, 1, 0, 1, 1, 0, 1, 0]
        .iter()
        .map(|&x| x == 1)
        .collect();
    let score = [0.1, 0.4, 0.35, 0.8, 0.4, 0.4, 0.9, 0.05, 0.6, 0.7];
    // M.roc_auc_score(D_true, D_score)
    close(metrics::roc_auc(&t, &score).unwrap(), 0.76);
    let p = [0.0, 0.2, 0.9, 1.0, 0.3, 0.5, 0.99, 0.01, 0.7, 1.0];
    // M.log_loss(D_true, D_p)
    close(metrics::log_loss_binary(&t, &p).unwrap(), 3.77987551962336);
}

#[test]
fn multiclass_ovr_auc_and_log_loss() {
    let t = [0usize, 1, 2, 2, 1, 0, 1, 2];
    #[rustfmt::skip]
    let proba = [
        0.7, 0.2, 0.1,
        0.2, 0.5, 0.3,
        0.1, 0.3, 0.6,
        0.3, 0.4, 0.3,
        0.25, 0.25, 0.5,
        0.5, 0.4, 0.1,
        0.1, 0.8, 0.1,
        0.0, 0.0, 1.0,
    ];
    // M.roc_auc_score(E_true, E_proba, multi_class='ovr', average='macro')
    close(
        metrics::roc_auc_ovr(&t, &proba, 3, AucAverage::Macro).unwrap(),
        0.9,
    );
    // M.roc_auc_score(E_true, E_proba, multi_class='ovr', average='weighted')
    close(
        metrics::roc_auc_ovr(&t, &proba, 3, AucAverage::Weighted).unwrap(),
        0.8875,
    );
    // M.log_loss(E_true, E_proba, labels=[0, 1, 2])
    close(
        metrics::log_loss(&t, &proba, 3).unwrap(),
        0.6334007056980813,
    );
}

#[test]
fn regression_metrics() {
    let t = [3.0, -0.5, 2.0, 7.0, 4.2, 0.0, 1e-3];
    let p = [2.5, 0.0, 2.0, 8.0, 4.0, 0.1, 2e-3];
    let r = metrics::regression_report(&t, &p).unwrap();
    // M.mean_absolute_error(F_true, F_pred)
    close(r.mae, 0.32871428571428574);
    // M.mean_squared_error(F_true, F_pred)
    close(r.mse, 0.22142871428571428);
    // M.root_mean_squared_error(F_true, F_pred)
    close(r.rmse, 0.4705621258513208);
    // M.r2_score(F_true, F_pred)
    close(r.r2, 0.9653031391147578);
    // M.mean_absolute_percentage_error(F_true, F_pred)  (y_true holds 0: divided by eps)
    close(r.mape, 64337137533864.57);
    // M.r2_score([2,2,2], [2,2,2]) -> 1.0 ; M.r2_score([2,2,2], [2,2,2.5]) -> 0.0
    close(metrics::r2_score(&[2.0; 3], &[2.0; 3]).unwrap(), 1.0);
    close(metrics::r2_score(&[2.0; 3], &[2.0, 2.0, 2.5]).unwrap(), 0.0);
}

#[test]
fn bad_input_is_a_typed_error() {
    let empty: [u8; 0] = [];
    assert!(matches!(
        metrics::accuracy(&empty, &empty),
        Err(Error::Empty { .. })
    ));
    assert!(matches!(
        metrics::classification_report(&[1, 2], &[1]),
        Err(Error::InvalidInput { .. })
    ));
    assert!(matches!(
        metrics::r2_score(&[], &[]),
        Err(Error::Empty { .. })
    ));
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        assert!(matches!(
            metrics::mean_absolute_error(&[1.0, bad], &[1.0, 2.0]),
            Err(Error::InvalidInput { .. })
        ));
        assert!(matches!(
            metrics::roc_auc(&[true, false], &[bad, 0.1]),
            Err(Error::InvalidInput { .. })
        ));
    }
    assert!(matches!(
        metrics::r2_score(&[1.0], &[1.0]),
        Err(Error::Undefined { .. })
    ));
    // Probabilities outside [0, 1], rows not summing to one, labels out of range.
    assert!(metrics::log_loss(&[0], &[1.2, -0.2], 2).is_err());
    assert!(metrics::log_loss(&[0], &[0.5, 0.4], 2).is_err());
    assert!(metrics::log_loss(&[2], &[0.5, 0.5], 2).is_err());
    assert!(metrics::log_loss(&[0], &[0.5, 0.5, 0.0], 2).is_err());
    assert!(metrics::roc_auc_ovr(&[0, 1], &[0.5, 0.5, 0.5, 0.5], 1, AucAverage::Macro).is_err());
    // A class absent from y_true makes OvR AUC undefined, as in sklearn.
    assert!(matches!(
        metrics::roc_auc_ovr(
            &[0, 1, 0],
            &[0.5, 0.3, 0.2, 0.1, 0.8, 0.1, 0.6, 0.2, 0.2],
            3,
            AucAverage::Macro
        ),
        Err(Error::Undefined { .. })
    ));
}

#[test]
fn reports_round_trip_through_serde() {
    let r = metrics::classification_report(&A_TRUE, &A_PRED).unwrap();
    let j = serde_json::to_string(&r).unwrap();
    assert_eq!(
        serde_json::from_str::<metrics::ClassificationReport<u8>>(&j).unwrap(),
        r
    );
    let b = bincode::serialize(&r).unwrap();
    assert_eq!(
        bincode::deserialize::<metrics::ClassificationReport<u8>>(&b).unwrap(),
        r
    );
    let rr = metrics::regression_report(&[1.0, 2.0, 3.0], &[1.5, 2.0, 2.0]).unwrap();
    let b = bincode::serialize(&rr).unwrap();
    assert_eq!(
        bincode::deserialize::<metrics::RegressionReport>(&b).unwrap(),
        rr
    );
}
