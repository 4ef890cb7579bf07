//! NaN, ±inf, empty, constant and single-sample inputs: defined values or typed errors.
mod common;
use common::*;
use mlops_drift::binning::{Binning, BinningStrategy};
use mlops_drift::categorical::{chi2_contingency, compare_categories, count_categories};
use mlops_drift::numeric::*;
use mlops_drift::{Error, MissingPolicy, SortedSample};

#[test]
fn nan_and_inf_are_omitted_by_the_slice_functions() {
    let a = [1.0, f64::NAN, 2.0, 3.0, f64::INFINITY];
    let b = [1.5, 2.5, f64::NEG_INFINITY, 3.5];
    let clean_a = [1.0, 2.0, 3.0];
    let clean_b = [1.5, 2.5, 3.5];
    assert_eq!(
        ks_2samp(&a, &b, KsMethod::Auto).unwrap(),
        ks_2samp(&clean_a, &clean_b, KsMethod::Auto).unwrap()
    );
    assert_eq!(
        wasserstein(&a, &b).unwrap(),
        wasserstein(&clean_a, &clean_b).unwrap()
    );
}

#[test]
fn empty_inputs_are_typed_errors() {
    let e: [f64; 0] = [];
    assert!(matches!(
        ks_2samp(&e, &[1.0], KsMethod::Auto),
        Err(Error::TooFewValues { .. })
    ));
    assert!(matches!(
        wasserstein(&[1.0], &e),
        Err(Error::TooFewValues { .. })
    ));
    assert!(matches!(
        energy_distance(&[f64::NAN], &[1.0]),
        Err(Error::TooFewValues { .. })
    ));
    assert!(matches!(
        cramer_von_mises(&[1.0], &[1.0, 2.0], CvmMethod::Auto),
        Err(Error::TooFewValues { .. })
    ));
    assert!(matches!(
        anderson_ksamp(&[&[1.0, 2.0][..], &e[..]]),
        Err(Error::TooFewValues { .. })
    ));
    assert!(matches!(
        anderson_ksamp(&[&[1.0, 2.0][..]]),
        Err(Error::InvalidInput { .. })
    ));
    assert!(Binning::fit(&SortedSample::default(), BinningStrategy::default()).is_err());
}

#[test]
fn constant_inputs_have_defined_values() {
    let a = [2.0; 50];
    let b = [2.0; 40];
    let ks = ks_2samp(&a, &b, KsMethod::Auto).unwrap();
    assert_eq!(ks.statistic, 0.0);
    assert_eq!(ks.p_value, 1.0);
    assert_eq!(wasserstein(&a, &b).unwrap(), 0.0);
    assert_eq!(energy_distance(&a, &b).unwrap(), 0.0);
    // Different constants: maximal KS distance.
    let c = [3.0; 40];
    let ks = ks_2samp(&a, &c, KsMethod::Auto).unwrap();
    assert_eq!(ks.statistic, 1.0);
    assert!(ks.p_value < 1e-10);
    close(wasserstein(&a, &c).unwrap(), 1.0, 1e-15);
    // AD is undefined with a single distinct pooled value.
    assert!(matches!(
        anderson_ksamp(&[&a[..], &b[..]]),
        Err(Error::Undefined { .. })
    ));
    // A constant reference gives a single bin.
    let s = sorted(&a);
    let binning = Binning::fit(&s, BinningStrategy::Quantile { bins: 10 }).unwrap();
    assert_eq!(binning.edges(), &[2.0]);
    let eq = Binning::fit(&s, BinningStrategy::EqualWidth { bins: 10 }).unwrap();
    assert_eq!(eq.edges(), &[2.0]);
    // normalised Wasserstein with a zero std uses the 0.001 floor
    close(
        wasserstein_norm_sorted(&s, &sorted(&c)).unwrap(),
        1000.0,
        1e-12,
    );
}

#[test]
fn single_samples() {
    let ks = ks_2samp(&[1.0], &[2.0], KsMethod::Auto).unwrap();
    assert_eq!(ks.statistic, 1.0);
    // scipy.stats.ks_2samp([1.0], [2.0]).pvalue == 1.0
    assert_eq!(ks.p_value, 1.0);
    close(wasserstein(&[1.0], &[2.0]).unwrap(), 1.0, 1e-15);
}

#[test]
fn error_policy_reports_the_first_offender() {
    let err =
        SortedSample::from_values(&[1.0, 2.0, f64::NAN], MissingPolicy::Error, "ref").unwrap_err();
    match err {
        Error::NonFinite { index, what, .. } => {
            assert_eq!(index, 2);
            assert_eq!(what, "ref");
        }
        e => panic!("unexpected {e}"),
    }
    let (s, missing) = SortedSample::from_values(
        &[1.0, f64::NEG_INFINITY, 2.0, f64::NAN],
        MissingPolicy::Omit,
        "r",
    )
    .unwrap();
    assert_eq!(missing, 2);
    assert_eq!(s.len(), 2);
}

#[test]
fn histogram_counts_missing_and_out_of_range() {
    let b = Binning::from_edges(vec![0.0, 1.0]).unwrap();
    let h = b.histogram(&[
        -5.0,
        0.0,
        0.5,
        1.0,
        7.0,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ]);
    // bins: (-inf,0) [0,1) [1,inf) missing
    assert_eq!(h, vec![1, 2, 2, 3]);
    assert!(Binning::from_edges(vec![f64::NAN]).is_err());
    // more than 32 edges takes the binary-search path; same answer as bin_of
    let many = Binning::from_edges((0..100).map(f64::from).collect()).unwrap();
    let data: Vec<f64> = (0..1000).map(|i| f64::from(i) * 0.37 - 50.0).collect();
    let h = many.histogram(&data);
    let mut want = vec![0u64; many.n_bins() + 1];
    for &x in &data {
        want[many.bin_of(x)] += 1;
    }
    assert_eq!(h, want);
}

#[test]
fn categorical_unseen_and_missing_category() {
    let (r, rm) = count_categories([Some("a"), Some("b"), None, Some("a")]);
    let (c, cm) = count_categories([Some("a"), Some("ü-new"), None, None]);
    let cmp = compare_categories(&r, &c, Some((rm, cm)), 1e-4).unwrap();
    assert_eq!(cmp.unseen, vec!["ü-new".to_string()]);
    assert_eq!(cmp.categories.last().map(String::as_str), Some("<missing>"));
    assert_eq!(cmp.ref_counts, vec![2, 1, 0, 1]);
    assert_eq!(cmp.cur_counts, vec![1, 0, 1, 2]);
    let empty = mlops_drift::categorical::CategoryCounts::new();
    assert!(compare_categories(&r, &empty, None, 1e-4).is_err());
    // one category only: dof = 0 -> statistic 0, p 1 (scipy behaviour)
    let res = chi2_contingency(&[&[5][..], &[7][..]]).unwrap();
    assert_eq!((res.statistic, res.p_value), (0.0, Some(1.0)));
    assert!(chi2_contingency(&[&[0, 0][..], &[1, 2][..]]).is_err());
    assert!(matches!(
        chi2_contingency(&[&[1, 2][..], &[1, 2, 3][..]]),
        Err(Error::InvalidInput { .. })
    ));
    let big = gen("unif", 1, 50, 0.0, 1.0);
    assert!(matches!(
        cramer_von_mises(&big, &big, CvmMethod::Exact),
        Err(Error::InvalidInput { .. })
    ));
}

#[test]
fn ks_exact_falls_back_for_huge_lattices() {
    // lcm far beyond i32::MAX: scipy switches to asymptotic, so do we.
    let a = gen("unif", 1, 99_991, 0.0, 1.0);
    let b = gen("unif", 2, 99_989, 0.0, 1.0);
    let r = ks_2samp(&a, &b, KsMethod::Exact).unwrap();
    assert_eq!(r.method, KsMethod::Asymptotic);
}

#[test]
fn sort_values_matches_total_cmp() {
    let mut v = gen("exp", 99, 50_000, -3.0, 2.0);
    for (i, x) in v.iter_mut().enumerate() {
        if i % 7 == 0 {
            *x = -*x;
        }
        if i % 1001 == 0 {
            *x = 0.0;
        }
        if i % 1003 == 0 {
            *x = -0.0;
        }
        if i % 997 == 0 {
            *x = f64::MAX * if i % 2 == 0 { 1.0 } else { -1.0 };
        }
        if i % 991 == 0 {
            *x = 5e-324;
        }
    }
    let mut want = v.clone();
    want.sort_by(f64::total_cmp);
    mlops_drift::sample::sort_values(&mut v);
    assert!(v.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()));
}

#[test]
fn large_and_small_paths_build_the_same_sample() {
    // from_values must agree with sorting and run-length encoding by hand.
    let mut v = gen("round", 5, 10_000, -20.0, 40.0);
    v[3] = -0.0;
    v[4] = 0.0;
    v[5] = f64::NAN;
    v[6] = f64::NEG_INFINITY;
    let (big, m1) = SortedSample::from_values(&v, MissingPolicy::Omit, "v").unwrap();
    let mut finite: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    finite.sort_by(f64::total_cmp);
    let small = SortedSample::from_sorted_finite(&finite);
    assert_eq!(m1, 2);
    assert_eq!(big.counts(), small.counts());
    assert!(big.values().iter().zip(small.values()).all(|(a, b)| a == b));
    assert!(matches!(
        SortedSample::from_values(&v, MissingPolicy::Error, "v"),
        Err(Error::NonFinite { index: 5, .. })
    ));
}

#[test]
fn slice_and_profile_paths_agree_on_large_inputs() {
    // The slice functions walk two halves on two threads from 65536 pooled values on;
    // the SortedSample functions walk sequentially. Same answers.
    let a = gen("round", 31, 70_000, 0.0, 500.0);
    let b = gen("exp", 32, 50_000, 0.0, 150.0);
    let (sa, sb) = (sorted(&a), sorted(&b));
    assert_eq!(
        ks_2samp(&a, &b, KsMethod::Auto).unwrap(),
        ks_2samp_sorted(&sa, &sb, KsMethod::Auto).unwrap()
    );
    close(
        wasserstein(&a, &b).unwrap(),
        wasserstein_sorted(&sa, &sb).unwrap(),
        1e-12,
    );
    close(
        energy_distance(&a, &b).unwrap(),
        energy_distance_sorted(&sa, &sb).unwrap(),
        1e-12,
    );
}
