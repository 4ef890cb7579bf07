//! Property tests: invariants of the statistics, and random bytes never panic.
mod common;
use mlops_drift::binning::{divergences_from_counts, Binning, BinningStrategy};
use mlops_drift::numeric::*;
use mlops_drift::{MissingPolicy, ReferenceProfile, SortedSample};
use proptest::prelude::*;

fn finite_vec(max: usize) -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(-1e6f64..1e6, 1..max)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn js_is_symmetric_and_bounded(a in prop::collection::vec(0u64..1000, 2..12), seed in 0u64..1000) {
        let b: Vec<u64> = a.iter().enumerate().map(|(i, x)| (x * 7 + seed + i as u64 * 13) % 997).collect();
        prop_assume!(a.iter().sum::<u64>() > 0 && b.iter().sum::<u64>() > 0);
        let d1 = divergences_from_counts(&a, &b, 1e-4).unwrap();
        let d2 = divergences_from_counts(&b, &a, 1e-4).unwrap();
        prop_assert!((d1.js - d2.js).abs() < 1e-12);
        prop_assert!((d1.hellinger - d2.hellinger).abs() < 1e-12);
        prop_assert!((d1.psi - d2.psi).abs() < 1e-9);
        prop_assert!(d1.js >= 0.0 && d1.js <= 1.0 + 1e-12);
        prop_assert!(d1.psi >= 0.0);
        prop_assert!(d1.kl_ref_cur >= -1e-15 && d1.kl_cur_ref >= -1e-15);
        prop_assert!(d1.tvd <= 1.0 + 1e-12 && d1.linf <= d1.tvd + 1e-12);
    }

    #[test]
    fn identical_inputs_give_zero(a in finite_vec(200)) {
        let ks = ks_2samp(&a, &a, KsMethod::Auto).unwrap();
        prop_assert_eq!(ks.statistic, 0.0);
        prop_assert_eq!(ks.p_value, 1.0);
        prop_assert_eq!(wasserstein(&a, &a).unwrap(), 0.0);
        prop_assert_eq!(energy_distance(&a, &a).unwrap(), 0.0);
        let s = SortedSample::from_values(&a, MissingPolicy::Omit, "a").unwrap().0;
        let bins = Binning::fit(&s, BinningStrategy::Quantile { bins: 10 }).unwrap();
        let h = bins.histogram(&a);
        let d = divergences_from_counts(&h, &h, 1e-4).unwrap();
        prop_assert_eq!(d.psi, 0.0);
        prop_assert_eq!(d.js, 0.0);
        prop_assert_eq!(d.kl_ref_cur, 0.0);
    }

    #[test]
    fn ks_invariant_to_shared_monotone_transform(a in finite_vec(120), b in finite_vec(120)) {
        let f = |x: f64| (x / 1e5).tanh() * 3.0 + 1.0;
        let ta: Vec<f64> = a.iter().map(|&x| f(x)).collect();
        let tb: Vec<f64> = b.iter().map(|&x| f(x)).collect();
        // tanh can merge nearby values into ties; compare only when it did not.
        let distinct = |v: &[f64], t: &[f64]| {
            let mut x = v.to_vec(); x.sort_by(f64::total_cmp); x.dedup();
            let mut y = t.to_vec(); y.sort_by(f64::total_cmp); y.dedup();
            x.len() == y.len()
        };
        let mut all = a.clone(); all.extend(&b);
        let mut tall = ta.clone(); tall.extend(&tb);
        prop_assume!(distinct(&all, &tall));
        let r1 = ks_2samp(&a, &b, KsMethod::Auto).unwrap();
        let r2 = ks_2samp(&ta, &tb, KsMethod::Auto).unwrap();
        prop_assert_eq!(r1.statistic, r2.statistic);
        prop_assert_eq!(r1.p_value, r2.p_value);
    }

    #[test]
    fn statistics_are_symmetric(a in finite_vec(80), b in finite_vec(80)) {
        let r1 = ks_2samp(&a, &b, KsMethod::Auto).unwrap();
        let r2 = ks_2samp(&b, &a, KsMethod::Auto).unwrap();
        prop_assert_eq!(r1.statistic, r2.statistic);
        prop_assert!((r1.p_value - r2.p_value).abs() < 1e-12);
        let w1 = wasserstein(&a, &b).unwrap();
        let w2 = wasserstein(&b, &a).unwrap();
        prop_assert!((w1 - w2).abs() <= 1e-9 * w1.abs().max(1.0));
    }

    #[test]
    fn random_bytes_as_floats_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..800), split in 0usize..100) {
        let vals: Vec<f64> = bytes.chunks_exact(8).map(|c| {
            let mut b = [0u8; 8]; b.copy_from_slice(c); f64::from_le_bytes(b)
        }).collect();
        let k = split.min(vals.len());
        let (a, b) = vals.split_at(k);
        let _ = ks_2samp(a, b, KsMethod::Auto);
        let _ = ks_2samp(a, b, KsMethod::Exact);
        let _ = ks_2samp(a, b, KsMethod::Asymptotic);
        let _ = wasserstein(a, b);
        let _ = energy_distance(a, b);
        let _ = cramer_von_mises(a, b, CvmMethod::Auto);
        let _ = anderson_ksamp(&[a, b]);
        if let Ok((s, _)) = SortedSample::from_values(a, MissingPolicy::Omit, "a") {
            if let Ok(bins) = Binning::fit(&s, BinningStrategy::Quantile { bins: 10 }) {
                let ha = bins.histogram(a);
                let hb = bins.histogram(b);
                let _ = divergences_from_counts(&ha, &hb, 1e-4);
            }
            let _ = Binning::fit(&s, BinningStrategy::EqualWidth { bins: 7 });
        }
        let mut p = ReferenceProfile::new(Default::default());
        let _ = p.add_numeric("x", a);
        // Random bytes as a serialised profile must be rejected, not crash.
        let _ = ReferenceProfile::from_bincode(&bytes);
        let _ = ReferenceProfile::from_json(&String::from_utf8_lossy(&bytes));
    }
}
