//! `mlops drift`: compare a current dataset with a reference (raw data or a stored
//! profile), and `mlops drift profile`: fit and store a reference profile.
//!
//! Exit codes: 0 success, 1 dataset drift with `--fail-on-drift`, 2 error.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Subcommand, ValueEnum};
use mlops_drift::binning::BinningStrategy;
use mlops_drift::io::{read_table, ColumnKind, ReadOptions};
use mlops_drift::{
    Correction, DriftConfig, DriftReport, FeatureProfile, MissingPolicy, ProfileConfig,
    ReferenceProfile, TestKind,
};

use crate::output::{write_report, Output};
use crate::Format;

/// Arguments of `mlops drift`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    action: Option<Action>,
    #[command(flatten)]
    compare: CompareArgs,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Fit a reference profile on DATA and write it to FILE (`.json` → JSON, else bincode).
    Profile(ProfileArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum BinningArg {
    Quantile,
    EqualWidth,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum MissingArg {
    Omit,
    Error,
    Category,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum CorrectionArg {
    None,
    Bonferroni,
    Bh,
}

#[derive(Debug, clap::Args)]
struct FitArgs {
    /// Number of bins for binned divergences.
    #[arg(long, default_value_t = 10)]
    bins: usize,
    /// How bin edges are fitted on the reference.
    #[arg(long, value_enum, default_value_t = BinningArg::Quantile)]
    binning: BinningArg,
    /// NaN/inf/empty cells: omit (counted), error, or count as a missing category.
    #[arg(long, value_enum, default_value_t = MissingArg::Omit)]
    missing: MissingArg,
}

#[derive(Debug, clap::Args)]
struct ProfileArgs {
    /// Reference data (CSV or Parquet).
    data: PathBuf,
    /// Where to write the profile.
    #[arg(short, long)]
    output: PathBuf,
    /// Only these columns (comma-separated).
    #[arg(long, value_delimiter = ',')]
    columns: Option<Vec<String>>,
    #[command(flatten)]
    fit: FitArgs,
}

#[derive(Debug, clap::Args)]
struct CompareArgs {
    /// Reference data (CSV or Parquet).
    #[arg(long, conflicts_with = "reference_profile")]
    reference: Option<PathBuf>,
    /// A profile written by `mlops drift profile` (instead of --reference).
    #[arg(long)]
    reference_profile: Option<PathBuf>,
    /// Current data (CSV or Parquet).
    #[arg(long)]
    current: Option<PathBuf>,
    /// Only these columns (comma-separated).
    #[arg(long, value_delimiter = ',')]
    columns: Option<Vec<String>>,
    /// Exit with status 1 when the dataset drifts.
    #[arg(long)]
    fail_on_drift: bool,
    /// p-value threshold for test-based decisions.
    #[arg(long, default_value_t = 0.05)]
    p_threshold: f64,
    /// Threshold for distance-based decisions.
    #[arg(long, default_value_t = 0.1)]
    distance_threshold: f64,
    /// Dataset drifts when at least this share of columns drift.
    #[arg(long, default_value_t = 0.5)]
    drift_share: f64,
    /// Multiple-testing correction across columns.
    #[arg(long, value_enum, default_value_t = CorrectionArg::Bh)]
    correction: CorrectionArg,
    /// Deciding test for a column, e.g. `--test age=ks` (repeatable). Tests: ks, cvm,
    /// anderson, wasserstein_norm, energy, chi2, psi, kl, js, hellinger, tvd.
    #[arg(long = "test", value_name = "COLUMN=TEST")]
    tests: Vec<String>,
    /// Write the report to this file instead of stdout (written to a temporary file and
    /// renamed, so a reader never sees half of it). With `--format html`, one
    /// self-contained page with plots.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    #[command(flatten)]
    fit: FitArgs,
}

fn profile_config(fit: &FitArgs) -> Result<ProfileConfig> {
    if fit.bins == 0 {
        bail!("--bins must be at least 1");
    }
    Ok(ProfileConfig {
        binning: match fit.binning {
            BinningArg::Quantile => BinningStrategy::Quantile { bins: fit.bins },
            BinningArg::EqualWidth => BinningStrategy::EqualWidth { bins: fit.bins },
        },
        missing: missing(fit.missing),
    })
}

fn missing(m: MissingArg) -> MissingPolicy {
    match m {
        MissingArg::Omit => MissingPolicy::Omit,
        MissingArg::Error => MissingPolicy::Error,
        MissingArg::Category => MissingPolicy::Category,
    }
}

fn read(
    path: &std::path::Path,
    columns: Option<&[String]>,
    kinds: BTreeMap<String, ColumnKind>,
) -> Result<mlops_drift::io::Table> {
    let mut opts = ReadOptions {
        kinds,
        ..ReadOptions::default()
    };
    if let Some(c) = columns {
        opts = opts.with_columns(c.iter().cloned());
    }
    read_table(path, &opts).with_context(|| format!("reading {}", path.display()))
}

/// Runs `mlops drift`.
///
/// # Errors
/// Unreadable or malformed inputs, unknown columns, invalid options.
pub fn run(args: Args, words: &crate::FormatWords) -> Result<ExitCode> {
    match args.action {
        Some(Action::Profile(p)) => run_profile(p, words.output_only()?),
        None => run_compare(args.compare, words.output_or_html()?),
    }
}

fn run_profile(p: ProfileArgs, format: Format) -> Result<ExitCode> {
    let cfg = profile_config(&p.fit)?;
    let table = read(&p.data, p.columns.as_deref(), BTreeMap::new())?;
    let profile = ReferenceProfile::fit_table(&table, cfg)?;
    profile
        .save(&p.output)
        .with_context(|| format!("writing {}", p.output.display()))?;
    match format {
        Format::Json => crate::output::print_json(&serde_json::json!({
            "profile": p.output.display().to_string(),
            "columns": profile.features.keys().collect::<Vec<_>>(),
        }))?,
        Format::Text => println!(
            "wrote profile of {} column(s) to {}",
            profile.features.len(),
            p.output.display()
        ),
    }
    Ok(ExitCode::SUCCESS)
}

fn run_compare(a: CompareArgs, format: Output) -> Result<ExitCode> {
    let Some(current_path) = a.current.as_ref() else {
        bail!("--current is required (or use `mlops drift profile DATA -o FILE`)");
    };
    let profile = match (&a.reference, &a.reference_profile) {
        (Some(r), None) => {
            let t = read(r, a.columns.as_deref(), BTreeMap::new())?;
            ReferenceProfile::fit_table(&t, profile_config(&a.fit)?)?
        }
        (None, Some(p)) => {
            ReferenceProfile::load(p).with_context(|| format!("loading profile {}", p.display()))?
        }
        _ => bail!("give exactly one of --reference or --reference-profile"),
    };
    let columns: Vec<String> = match &a.columns {
        Some(c) => c.clone(),
        None => profile.features.keys().cloned().collect(),
    };
    let mut kinds = BTreeMap::new();
    for c in &columns {
        match profile.features.get(c) {
            Some(FeatureProfile::Numeric(_)) => kinds.insert(c.clone(), ColumnKind::Numeric),
            Some(FeatureProfile::Categorical(_)) => {
                kinds.insert(c.clone(), ColumnKind::Categorical)
            }
            None => bail!("column {c:?} is not in the reference"),
        };
    }
    let current = read(current_path, Some(&columns), kinds)?;
    let mut cfg = DriftConfig {
        p_threshold: a.p_threshold,
        distance_threshold: a.distance_threshold,
        drift_share: a.drift_share,
        correction: match a.correction {
            CorrectionArg::None => Correction::None,
            CorrectionArg::Bonferroni => Correction::Bonferroni,
            CorrectionArg::Bh => Correction::BenjaminiHochberg,
        },
        missing: missing(a.fit.missing),
        ecdf_points: if format == Output::Html {
            mlops_ui::drift::ECDF_POINTS
        } else {
            0
        },
        ..DriftConfig::default()
    };
    for t in &a.tests {
        let Some((col, test)) = t.split_once('=') else {
            bail!("--test expects COLUMN=TEST, got {t:?}");
        };
        let Some(kind) = TestKind::from_key(test) else {
            bail!("unknown test {test:?} in --test {t:?}");
        };
        cfg.overrides.insert(col.to_string(), kind);
    }
    let report = DriftReport::compare(&profile, &current, &cfg)?;
    match (format, &a.output) {
        (Output::Json, None) => crate::output::print_json(&report)?,
        (Output::Json, Some(path)) => {
            write_report(
                Some(path),
                &format!("{}\n", serde_json::to_string_pretty(&report)?),
            )?;
        }
        (Output::Text, None) => print_text(&report),
        (Output::Text, Some(_)) => {
            bail!("-o/--output writes a json or html report: add --format json or --format html")
        }
        (Output::Html, path) => {
            let subtitle = format!(
                "reference: {} · current: {} ({} rows)",
                a.reference
                    .as_ref()
                    .or(a.reference_profile.as_ref())
                    .map_or(String::new(), |p| p.display().to_string()),
                current_path.display(),
                report.columns.first().map_or(0, |c| c.n_cur),
            );
            let html = mlops_ui::drift_report_html(&report, "Data drift report", &subtitle);
            write_report(path.as_deref(), &html)?;
        }
    }
    if a.fail_on_drift && report.dataset.drifted {
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn print_text(r: &DriftReport) {
    println!(
        "{:<24} {:<12} {:>9} {:>9} {:<17} {:>12} {:>10}  drift",
        "column", "kind", "n_ref", "n_cur", "test", "value", "threshold"
    );
    for c in &r.columns {
        let (test, value, thr) =
            c.decision
                .as_ref()
                .map_or(("-".to_string(), f64::NAN, f64::NAN), |d| {
                    (
                        d.test.clone(),
                        d.p_value_adjusted.unwrap_or(d.value),
                        d.threshold,
                    )
                });
        println!(
            "{:<24} {:<12} {:>9} {:>9} {:<17} {:>12.6} {:>10.4}  {}",
            c.column,
            c.kind,
            c.n_ref,
            c.n_cur,
            test,
            value,
            thr,
            if c.drifted { "DRIFT" } else { "ok" }
        );
        if !c.unseen_categories.is_empty() {
            println!("    unseen categories: {}", c.unseen_categories.join(", "));
        }
        for (k, why) in &c.skipped {
            println!("    {k} skipped: {why}");
        }
    }
    println!(
        "dataset: {}/{} columns drifted ({:.1}%, threshold {:.1}%) -> {}",
        r.dataset.n_drifted,
        r.dataset.n_columns,
        100.0 * r.dataset.share_drifted,
        100.0 * r.dataset.drift_share_threshold,
        if r.dataset.drifted {
            "DRIFT"
        } else {
            "no drift"
        }
    );
}
