//! ReferenceProfile (fit, merge, serde) and DriftReport (decisions, corrections).
mod common;
use common::*;
use mlops_drift::io::{Column, Table};
use mlops_drift::numeric::{ks_2samp, ks_2samp_sorted, KsMethod};
use mlops_drift::profile::FeatureProfile;
use mlops_drift::{
    Correction, DriftConfig, DriftReport, MissingPolicy, ProfileConfig, ReferenceProfile, TestKind,
};

fn table(x: Vec<f64>, c: Vec<Option<String>>) -> Table {
    Table {
        columns: vec![
            ("x".into(), Column::Numeric(x)),
            ("c".into(), Column::Categorical(c)),
        ],
    }
}

fn cats(seed: u64, n: usize, skew: f64) -> Vec<Option<String>> {
    lcg_uniform(seed, n)
        .into_iter()
        .map(|u| {
            let u = u.powf(skew);
            if u < 0.05 {
                None
            } else {
                Some(["red", "green", "blue", "ünïcode"][((u * 4.0) as usize).min(3)].to_string())
            }
        })
        .collect()
}

#[test]
fn merged_partitions_equal_the_whole() {
    let mut x = gen("round", 1, 3000, 0.0, 50.0);
    x[7] = f64::NAN;
    x[100] = f64::INFINITY;
    let c = cats(2, 3000, 1.0);
    let whole = ReferenceProfile::fit_table(&table(x.clone(), c.clone()), ProfileConfig::default())
        .unwrap();
    let parts: Vec<ReferenceProfile> = [(0, 1000), (1000, 1700), (1700, 3000)]
        .iter()
        .map(|&(a, b)| {
            ReferenceProfile::fit_table(
                &table(x[a..b].to_vec(), c[a..b].to_vec()),
                ProfileConfig::default(),
            )
            .unwrap()
        })
        .collect();
    let merged = parts[0].merge(&parts[1]).unwrap().merge(&parts[2]).unwrap();
    assert!(merged == whole, "merged profile differs");
    // merge order does not matter
    let merged2 = parts[2].merge(&parts[0]).unwrap().merge(&parts[1]).unwrap();
    assert!(merged2 == whole, "merged profile differs");
    let FeatureProfile::Numeric(n) = &whole.features["x"] else {
        panic!("numeric expected")
    };
    assert_eq!(n.missing, 2);
    assert_eq!(n.bin_counts.iter().sum::<u64>(), 2998);
}

#[test]
fn merge_refuses_incompatible_profiles() {
    let a = ReferenceProfile::fit_table(
        &table(vec![1.0, 2.0], cats(1, 2, 1.0)),
        ProfileConfig::default(),
    )
    .unwrap();
    let other_cfg = ProfileConfig {
        binning: mlops_drift::binning::BinningStrategy::EqualWidth { bins: 4 },
        ..ProfileConfig::default()
    };
    let b =
        ReferenceProfile::fit_table(&table(vec![1.0, 2.0], cats(1, 2, 1.0)), other_cfg).unwrap();
    assert!(a.merge(&b).is_err());
    let swapped = Table {
        columns: vec![
            ("x".into(), Column::Categorical(vec![Some("a".into())])),
            ("c".into(), Column::Numeric(vec![1.0])),
        ],
    };
    let c = ReferenceProfile::fit_table(&swapped, ProfileConfig::default()).unwrap();
    assert!(a.merge(&c).is_err());
}

#[test]
fn profile_round_trips_and_compares_like_raw_data() {
    let x = gen("exp", 3, 5000, 0.0, 1.0);
    let cur = gen("exp", 4, 4000, 0.0, 1.1);
    let p = ReferenceProfile::fit_table(
        &table(x.clone(), cats(5, 5000, 1.0)),
        ProfileConfig::default(),
    )
    .unwrap();
    let json = p.to_json().unwrap();
    let bin = p.to_bincode().unwrap();
    assert!(
        ReferenceProfile::from_json(&json).unwrap() == p,
        "JSON round trip changed the profile"
    );
    assert!(
        ReferenceProfile::from_bincode(&bin).unwrap() == p,
        "bincode round trip changed the profile"
    );
    assert!(ReferenceProfile::from_bincode(&bin[..bin.len() / 2]).is_err());
    let dir = tempfile::tempdir().unwrap();
    for name in ["p.json", "p.bin"] {
        let path = dir.path().join(name);
        p.save(&path).unwrap();
        assert!(
            ReferenceProfile::load(&path).unwrap() == p,
            "save/load changed the profile"
        );
    }
    // KS against the profile equals KS against the raw reference.
    let FeatureProfile::Numeric(n) = &p.features["x"] else {
        panic!()
    };
    let via_profile = ks_2samp_sorted(&n.sample, &sorted(&cur), KsMethod::Auto).unwrap();
    assert_eq!(via_profile, ks_2samp(&x, &cur, KsMethod::Auto).unwrap());
}

#[test]
fn report_decides_by_documented_rule_and_corrects() {
    let reference = table(gen("unif", 10, 5000, 0.0, 1.0), cats(11, 5000, 1.0));
    let same = table(gen("unif", 12, 4000, 0.0, 1.0), cats(13, 4000, 1.0));
    let shifted = table(gen("unif", 14, 4000, 0.4, 1.0), cats(15, 4000, 3.0));
    let cfg = DriftConfig::default();
    let r = DriftReport::from_tables(&reference, &same, ProfileConfig::default(), &cfg).unwrap();
    assert!(!r.dataset.drifted, "{}", r.to_json().unwrap());
    assert_eq!(
        r.columns[0].decision.as_ref().unwrap().test,
        "wasserstein_norm"
    );
    assert_eq!(r.columns[1].decision.as_ref().unwrap().test, "js");
    let r = DriftReport::from_tables(&reference, &shifted, ProfileConfig::default(), &cfg).unwrap();
    assert!(r.dataset.drifted);
    assert_eq!(r.dataset.n_drifted, 2);
    for key in [
        "ks",
        "psi",
        "kl",
        "js",
        "hellinger",
        "wasserstein",
        "cvm",
        "anderson",
        "energy",
    ] {
        assert!(r.columns[0].tests.contains_key(key), "missing {key}");
    }
    assert!(r.columns[1].tests.contains_key("chi2"));
    let psi = &r.columns[0].tests["psi"];
    assert_eq!(
        psi.edges.as_ref().unwrap().len() + 1,
        psi.ref_counts.as_ref().unwrap().len()
    );
    assert_eq!(
        r.columns[1].missing_ref as usize,
        reference
            .column("c")
            .map(|c| match c {
                Column::Categorical(v) => v.iter().filter(|x| x.is_none()).count(),
                Column::Numeric(_) => 0,
            })
            .unwrap()
    );

    // Override to KS and compare corrections on a weak shift.
    let weak = table(gen("unif", 16, 4000, 0.03, 1.0), cats(17, 4000, 1.0));
    let mut cfg = DriftConfig::default();
    cfg.overrides.insert("x".into(), TestKind::Ks);
    cfg.overrides.insert("c".into(), TestKind::Chi2);
    let raw_p = {
        let mut c = cfg.clone();
        c.correction = Correction::None;
        let r = DriftReport::from_tables(&reference, &weak, ProfileConfig::default(), &c).unwrap();
        r.columns[0]
            .decision
            .clone()
            .unwrap()
            .p_value_adjusted
            .unwrap()
    };
    cfg.correction = Correction::Bonferroni;
    let r = DriftReport::from_tables(&reference, &weak, ProfileConfig::default(), &cfg).unwrap();
    let d = r.columns[0].decision.clone().unwrap();
    close(d.p_value_adjusted.unwrap(), (raw_p * 2.0).min(1.0), 1e-12);
}

#[test]
fn report_errors_are_typed() {
    let reference = table(vec![1.0, 2.0, 3.0], cats(1, 3, 1.0));
    let p = ReferenceProfile::fit_table(&reference, ProfileConfig::default()).unwrap();
    let unknown = Table {
        columns: vec![("nope".into(), Column::Numeric(vec![1.0]))],
    };
    assert!(DriftReport::compare(&p, &unknown, &DriftConfig::default()).is_err());
    let wrong_kind = Table {
        columns: vec![("x".into(), Column::Categorical(vec![Some("a".into())]))],
    };
    assert!(DriftReport::compare(&p, &wrong_kind, &DriftConfig::default()).is_err());
    let cfg = DriftConfig {
        missing: MissingPolicy::Error,
        ..DriftConfig::default()
    };
    let nan = Table {
        columns: vec![("x".into(), Column::Numeric(vec![f64::NAN]))],
    };
    assert!(matches!(
        DriftReport::compare(&p, &nan, &cfg),
        Err(mlops_drift::Error::NonFinite { .. })
    ));
    // Empty current column: tests are skipped with a reason, no panic.
    let empty = Table {
        columns: vec![("x".into(), Column::Numeric(vec![]))],
    };
    let r = DriftReport::compare(&p, &empty, &DriftConfig::default()).unwrap();
    assert!(r.columns[0].skipped.contains_key("ks"));
    assert!(!r.columns[0].drifted);
}

#[test]
fn missing_category_policy_makes_missing_share_drift() {
    let x: Vec<f64> = gen("unif", 20, 2000, 0.0, 1.0);
    let mut y = gen("unif", 21, 2000, 0.0, 1.0);
    for v in y.iter_mut().take(800) {
        *v = f64::NAN;
    }
    let pcfg = ProfileConfig {
        missing: MissingPolicy::Category,
        ..ProfileConfig::default()
    };
    let reference = Table {
        columns: vec![("x".into(), Column::Numeric(x))],
    };
    let current = Table {
        columns: vec![("x".into(), Column::Numeric(y))],
    };
    let mut cfg = DriftConfig::default();
    cfg.overrides.insert("x".into(), TestKind::Psi);
    let r = DriftReport::from_tables(&reference, &current, pcfg, &cfg).unwrap();
    assert_eq!(r.columns[0].missing_cur, 800);
    assert!(r.columns[0].drifted, "{}", r.to_json().unwrap());
    // Omit: the same data does not drift by PSI (values are iid).
    let r = DriftReport::from_tables(&reference, &current, ProfileConfig::default(), &cfg).unwrap();
    assert!(!r.columns[0].drifted);
}

#[test]
fn f32_and_ndarray_inputs_fit_the_same_profile() {
    let x64: Vec<f64> = (0..500).map(|i| f64::from(i) * 0.25).collect();
    let x32: Vec<f32> = x64.iter().map(|&v| v as f32).collect();
    let arr = ndarray::Array1::from(x64.clone());
    let strided =
        ndarray::Array2::from_shape_fn((500, 2), |(i, j)| if j == 0 { x64[i] } else { -1.0 });
    let mut p = ReferenceProfile::new(ProfileConfig::default());
    p.add_numeric("a", &x64[..]).unwrap();
    p.add_numeric("b", &x32[..]).unwrap();
    p.add_numeric("c", &arr.view()).unwrap();
    p.add_numeric("d", &strided.column(0)).unwrap();
    let a = &p.features["a"];
    for k in ["b", "c", "d"] {
        assert!(&p.features[k] == a, "{k} differs");
    }
}

#[test]
fn ecdf_summary_marks_the_ks_statistic_and_stays_small() {
    // Ties across samples, a shift, and very different sizes.
    let x: Vec<f64> = gen("exp", 31, 50_000, 0.0, 1.0)
        .into_iter()
        .map(|v| (v * 20.0).round() / 20.0)
        .collect();
    let y: Vec<f64> = gen("exp", 32, 7_000, 0.3, 1.2)
        .into_iter()
        .map(|v| (v * 20.0).round() / 20.0)
        .collect();
    let p = ReferenceProfile::fit_table(
        &table(x.clone(), cats(1, x.len(), 1.0)),
        ProfileConfig::default(),
    )
    .unwrap();
    let cfg = DriftConfig {
        ecdf_points: 64,
        ..DriftConfig::default()
    };
    let r = DriftReport::compare(&p, &table(y.clone(), cats(2, y.len(), 1.0)), &cfg).unwrap();
    let col = r.columns.iter().find(|c| c.column == "x").unwrap();
    let e = col
        .ecdf
        .as_ref()
        .expect("numeric column has an ECDF summary");
    let ks = ks_2samp(&x, &y, KsMethod::Auto).unwrap().statistic;
    assert!(
        ((e.ks_reference - e.ks_current).abs() - ks).abs() < 1e-12,
        "{e:?} vs {ks}"
    );
    assert!(e.x.contains(&e.ks_x));
    assert!(e.x.windows(2).all(|w| w[0] < w[1]));
    assert!(e.x.len() <= 64 + 3, "{}", e.x.len());
    assert_eq!(*e.reference.last().unwrap(), 1.0);
    assert_eq!(*e.current.last().unwrap(), 1.0);
    // Categorical columns, and the default config, carry none.
    assert!(r
        .columns
        .iter()
        .find(|c| c.column == "c")
        .unwrap()
        .ecdf
        .is_none());
    let plain =
        DriftReport::compare(&p, &table(y, cats(2, 7_000, 1.0)), &DriftConfig::default()).unwrap();
    assert!(plain.columns.iter().all(|c| c.ecdf.is_none()));
    assert!(!plain.to_json().unwrap().contains("ecdf"));
}
