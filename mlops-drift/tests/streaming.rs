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

/// Every index where `state` holds, on the stream `f(i, u_i)` of the shared LCG.
fn detections<T>(
    seed: u64,
    n: usize,
    f: impl Fn(usize, f64) -> T,
    mut update: impl FnMut(T) -> DetectorState,
    state: DetectorState,
) -> Vec<usize> {
    lcg_uniform(seed, n)
        .into_iter()
        .enumerate()
        .filter_map(|(i, u)| (update(f(i, u)) == state).then_some(i))
        .collect()
}

fn bit(b: bool) -> f64 {
    f64::from(u8::from(b))
}

// Pinned from river 0.26.0 by tools/reference/detectors_river.py (streams defined there with
// the same closures): `d = drift.ADWIN(); d.update(x); d.drift_detected` per element.
#[test]
fn river_adwin_detection_indices() {
    let adwin = |seed, n, f: &dyn Fn(usize, f64) -> f64| {
        let mut a = Adwin::default();
        detections(seed, n, f, |x| a.update(x), DetectorState::Drift)
    };
    // "bits_0.2_to_0.6_at_2000" (wave 1 gave [2079, 2111, 2143, 3167])
    assert_eq!(
        adwin(3, 4000, &|i, u| bit(u < if i < 2000 { 0.2 } else { 0.6 })),
        [2079]
    );
    // "mean_0_to_1.5_at_3000": one change, one alarm (wave 1 also fired at 3071 and 3135)
    assert_eq!(
        adwin(11, 6000, &|i, u| u + if i >= 3000 { 1.5 } else { 0.0 }),
        [3039]
    );
    // "bits_0.3_noise"
    assert_eq!(adwin(4, 4000, &|_, u| bit(u < 0.3)), Vec::<usize>::new());
    // "up_0.5_at_3000_down_at_6000"
    assert_eq!(
        adwin(12, 9000, &|i, u| u + if (3000..6000).contains(&i) {
            0.5
        } else {
            0.0
        }),
        [3039, 6047]
    );
    // "bits_gradual_0.1_to_0.5_2000_4000"
    assert_eq!(
        adwin(13, 6000, &|i, u| bit(
            u < 0.1 + 0.4 * ((i as f64 - 2000.0) / 2000.0).clamp(0.0, 1.0)
        )),
        [2719, 4031]
    );
}

// river 0.26.0: `d = drift.PageHinkley(); d.update(x); d.drift_detected` (mode "both").
#[test]
fn river_page_hinkley_detection_indices() {
    let ph = |seed, n, f: &dyn Fn(usize, f64) -> f64| {
        let mut d = PageHinkley::default();
        detections(seed, n, f, |x| d.update(x), DetectorState::Drift)
    };
    // "up_2_at_1500"
    assert_eq!(
        ph(5, 3000, &|i, u| u + if i >= 1500 { 2.0 } else { 0.0 }),
        [1525]
    );
    // "down_1_at_1500"
    assert_eq!(
        ph(14, 3000, &|i, u| u - if i >= 1500 { 1.0 } else { 0.0 }),
        [1541]
    );
    // "uniform_noise"
    assert_eq!(ph(5, 3000, &|_, u| u), Vec::<usize>::new());
}

// river 0.26.0: `d = drift.binary.DDM(); d.update(err)`; drifts = indices with
// `d.drift_detected`, warnings = how many elements had `d.warning_detected`.
#[test]
fn river_ddm_detection_indices() {
    let ddm = |seed, n, f: &dyn Fn(usize, f64) -> bool| {
        let mut d = Ddm::default();
        let states: Vec<DetectorState> = lcg_uniform(seed, n)
            .into_iter()
            .enumerate()
            .map(|(i, u)| d.update(f(i, u)))
            .collect();
        let idx = |s| {
            states
                .iter()
                .enumerate()
                .filter(|(_, x)| **x == s)
                .map(|(i, _)| i)
                .collect::<Vec<_>>()
        };
        (idx(DetectorState::Drift), idx(DetectorState::Warning).len())
    };
    // "errors_0.1_to_0.5_at_2000"
    assert_eq!(
        ddm(6, 4000, &|i, u| u < if i < 2000 { 0.1 } else { 0.5 }),
        (vec![73, 152, 2029, 2319], 1792)
    );
    // "errors_0.1_stationary"
    assert_eq!(ddm(7, 4000, &|_, u| u < 0.1), (vec![81, 578], 796));
    // "errors_0.2_to_0.35_at_3000"
    assert_eq!(
        ddm(15, 6000, &|i, u| u < if i < 3000 { 0.2 } else { 0.35 }),
        (vec![3141], 774)
    );
}
