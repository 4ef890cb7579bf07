//! Does a wide report use every core? Times `DriftReport::compare` on N features × R rows
//! and prints wall time, process CPU time and their ratio (≈ number of busy cores).
//!
//! `cargo run --release -p mlops-drift --example report_cores -- 100 1000000`

use std::time::Instant;

use mlops_drift::io::{Column, Table};
use mlops_drift::{DriftConfig, DriftReport, ProfileConfig, ReferenceProfile};
use rand::{Rng, SeedableRng};

fn cpu_seconds() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes into the struct we own.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime");
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

fn table(rng: &mut rand::rngs::StdRng, features: usize, rows: usize, shift: f64) -> Table {
    Table {
        columns: (0..features)
            .map(|j| {
                let s = if j % 2 == 0 { shift } else { 0.0 };
                let col: Vec<f64> = (0..rows).map(|_| rng.gen::<f64>() + s).collect();
                (format!("f{j}"), Column::Numeric(col))
            })
            .collect(),
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let features = args.first().copied().unwrap_or(100);
    let rows = args.get(1).copied().unwrap_or(1_000_000);
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let reference = table(&mut rng, features, rows, 0.0);
    let current = table(&mut rng, features, rows, 0.05);
    let (w0, c0) = (Instant::now(), cpu_seconds());
    let profile = ReferenceProfile::fit_table(&reference, ProfileConfig::default())?;
    let (w1, c1) = (Instant::now(), cpu_seconds());
    let report = DriftReport::compare(&profile, &current, &DriftConfig::default())?;
    let (w2, c2) = (Instant::now(), cpu_seconds());
    let fit = (w1 - w0).as_secs_f64();
    let cmp = (w2 - w1).as_secs_f64();
    println!(
        "{features} features x {rows} rows, {} threads in rayon's pool",
        rayon::current_num_threads()
    );
    println!(
        "fit profile: wall {fit:.2} s, cpu {:.2} s, cpu/wall {:.2}",
        c1 - c0,
        (c1 - c0) / fit
    );
    println!(
        "compare:     wall {cmp:.2} s, cpu {:.2} s, cpu/wall {:.2}",
        c2 - c1,
        (c2 - c1) / cmp
    );
    println!(
        "drifted columns: {}/{}",
        report.dataset.n_drifted, report.dataset.n_columns
    );
    Ok(())
}
