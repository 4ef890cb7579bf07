//! Times our statistics on two raw little-endian f64 files; used by
//! tools/bench/drift_compare.py, which times scipy/Evidently on the same data.
//!
//! Usage: drift_timing REF.f64 CUR.f64 [REPEATS]
//! Prints one JSON object: best-of-REPEATS seconds per operation.

use std::time::Instant;

use mlops_drift::binning::divergences_from_counts;
use mlops_drift::numeric::{ks_2samp, wasserstein, KsMethod};
use mlops_drift::profile::NumericProfile;
use mlops_drift::ProfileConfig;

fn read_f64(path: &str) -> anyhow::Result<Vec<f64>> {
    let bytes = std::fs::read(path)?;
    Ok(bytes
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
        .collect())
}

fn best<T>(repeats: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut best = f64::INFINITY;
    let mut out = None;
    for _ in 0..repeats {
        let t = Instant::now();
        let r = f();
        best = best.min(t.elapsed().as_secs_f64());
        out = Some(r);
    }
    (best, out.expect("at least one repeat"))
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    anyhow::ensure!(
        args.len() >= 3,
        "usage: drift_timing REF.f64 CUR.f64 [REPEATS]"
    );
    let a = read_f64(&args[1])?;
    let b = read_f64(&args[2])?;
    let repeats: usize = args.get(3).map_or(Ok(3), |s| s.parse())?;

    let (t_sort, _) = best(repeats, || {
        let (mut x, mut y) = (a.clone(), b.clone());
        mlops_drift::sample::sort_both(&mut x, &mut y);
        (x.len(), y.len())
    });
    let (t_sort_std, _) = best(repeats, || {
        let mut x = a.clone();
        x.sort_unstable_by(f64::total_cmp);
        x.len()
    });
    let (t_sort_one, _) = best(repeats, || {
        let mut x = a.clone();
        mlops_drift::sample::sort_values(&mut x);
        x.len()
    });
    let (t_ks, ks) = best(repeats, || ks_2samp(&a, &b, KsMethod::Auto));
    let ks = ks?;
    let (t_w, w) = best(repeats, || wasserstein(&a, &b));
    let w = w?;
    let profile = NumericProfile::fit(&a, &ProfileConfig::default(), "ref")?;
    let (t_hist, hist) = best(repeats, || profile.binning.histogram(&b));
    let nb = profile.bin_counts.len();
    let (t_div, d) = best(repeats, || {
        let h = profile.binning.histogram(&b);
        divergences_from_counts(&profile.bin_counts, &h[..nb], 1e-4)
    });
    let d = d?;
    println!(
        "{}",
        serde_json::json!({
            "n_ref": a.len(), "n_cur": b.len(),
            "sort_both_s": t_sort, "sort_one_std_s": t_sort_std, "sort_one_ours_s": t_sort_one, "ks_s": t_ks, "wasserstein_s": t_w,
            "histogram_s": t_hist, "psi_kl_js_vs_profile_s": t_div,
            "ks": ks.statistic, "ks_p": ks.p_value, "wasserstein": w,
            "psi": d.psi, "kl": d.kl_ref_cur, "js": d.js, "hist_total": hist.iter().sum::<u64>(),
        })
    );
    Ok(())
}
