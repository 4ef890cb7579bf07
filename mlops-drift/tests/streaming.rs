//! Streaming detectors.
mod common;
use common::*;
use mlops_drift::binning::divergences_from_counts;
use mlops_drift::profile::NumericProfile;
use mlops_drift::stream::*;
use mlops_drift::ProfileConfig;

#[test]
fn windowed_psi_equals_batch_psi() {
    let reference = gen("unif", 1, 5000, 0.0, 1.0);
    let p = NumericProfile::fit(&reference, &ProfileConfig::default(), "x").unwrap();
    let stream = gen("unif", 2, 3000, 0.2, 1.0);
    for mode in [WindowMode::Sliding, WindowMode::Tumbling] {
        let mut m = WindowedMonitor::new(&p, 500, mode, 0.2).unwrap();
        let mut last = None;
        for (i, &x) in stream.iter().enumerate() {
            if let Some(r) = m.push(x) {
                last = Some((i, r));
            }
        }
        let (i, r) = last.unwrap();
        assert_eq!(i, 2999);
        let window = &stream[2500..3000];
        let mut cc = p.binning.histogram_sorted(&sorted(window));
        cc.push(0);
        let mut rc = p.bin_counts.clone();
        rc.push(0);
        let d = divergences_from_counts(&rc, &cc, 1e-4).unwrap();
        close(r.psi, d.psi, 1e-9);
        assert!(r.drifted);
    }
}

#[test]
fn adwin_detects_a_mean_shift_and_not_noise() {
    let u = lcg_uniform(3, 4000);
    let mut a = Adwin::default();
    let mut first = None;
    for (i, &x) in u.iter().enumerate() {
        let bit = if i < 2000 { x < 0.2 } else { x < 0.6 };
        if a.update(f64::from(u8::from(bit))) == DetectorState::Drift && first.is_none() {
            first = Some(i);
        }
    }
    let i = first.expect("ADWIN should detect the shift");
    assert!((2000..2300).contains(&i), "detected at {i}");
    assert!(a.width() < 2500);

    let mut a = Adwin::default();
    let noise = lcg_uniform(4, 4000);
    let hits = noise
        .iter()
        .filter(|&&x| a.update(f64::from(u8::from(x < 0.3))) == DetectorState::Drift)
        .count();
    assert_eq!(hits, 0);
}

#[test]
fn page_hinkley_detects_an_increase() {
    let u = lcg_uniform(5, 3000);
    let mut ph = PageHinkley::default();
    let mut first = None;
    for (i, &x) in u.iter().enumerate() {
        let v = if i < 1500 { x } else { x + 2.0 };
        if ph.update(v) == DetectorState::Drift && first.is_none() {
            first = Some(i);
        }
    }
    let i = first.expect("should detect");
    assert!((1500..1600).contains(&i), "{i}");
    let mut ph = PageHinkley::default();
    assert!(u.iter().all(|&x| ph.update(x) == DetectorState::Stable));
}

#[test]
fn ddm_warns_then_detects() {
    let u = lcg_uniform(6, 4000);
    let mut d = Ddm::default();
    let mut states = Vec::new();
    for (i, &x) in u.iter().enumerate() {
        let err = if i < 2000 { x < 0.1 } else { x < 0.5 };
        states.push(d.update(err));
    }
    // The error rate jumps from 10% to 50% at 2000: DDM warns, then detects, soon after.
    let drift = (2000..4000)
        .find(|&i| states[i] == DetectorState::Drift)
        .expect("drift");
    assert!(drift < 2200, "drift at {drift}");
    let warn = (2000..drift)
        .find(|&i| states[i] == DetectorState::Warning)
        .expect("warning first");
    assert!(warn < drift);
    // A stationary 10% error stream after warm-up: at most a handful of false alarms.
    let mut d = Ddm::default();
    let false_alarms = lcg_uniform(7, 4000)
        .iter()
        .filter(|&&x| d.update(x < 0.1) == DetectorState::Drift)
        .count();
    assert!(false_alarms <= 3, "{false_alarms}");
}
