//! `mlops registry --store URI <subcommand>`: the model registry from the shell.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use mlops_core::{AliasName, Lineage, ModelName, ModelRef, Sha256Digest, VersionSelector};
use mlops_registry::{Change, Event, EventKind, NewVersion, Registry, VersionEntry};
use serde::Serialize;

use crate::output::{print_json, write_report, Output};
use crate::Format;

/// Arguments of `mlops registry`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Registry store: a directory, `file://PATH`, `s3://bucket/prefix` (endpoint and
    /// credentials from the AWS_* environment, including AWS_ENDPOINT_URL) or `memory:`.
    #[arg(
        long,
        env = "MLOPS_REGISTRY",
        default_value = "./mlops-registry",
        global = true
    )]
    store: String,
    /// Who is making the change (recorded in the audit log); defaults to $USER.
    #[arg(long, global = true)]
    actor: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Register a new version; prints its number.
    Register {
        /// Model name.
        name: String,
        /// Artifact file (repeatable), streamed in.
        #[arg(long = "artifact", required = true, value_name = "FILE")]
        artifacts: Vec<PathBuf>,
        /// Metrics, `k=v,k=v` (finite numbers).
        #[arg(long)]
        metrics: Option<String>,
        /// Tags, `k=v,k=v`.
        #[arg(long)]
        tags: Option<String>,
        /// Parameters, `k=v,k=v`.
        #[arg(long)]
        params: Option<String>,
        /// Dataset snapshot digest (repeatable): lineage.
        #[arg(long = "dataset", value_name = "DIGEST")]
        datasets: Vec<Sha256Digest>,
        /// Git commit of the training code.
        #[arg(long)]
        commit: Option<String>,
        /// Version this one derives from.
        #[arg(long)]
        parent: Option<u64>,
        /// Free-text description.
        #[arg(long)]
        description: Option<String>,
    },
    /// List a model's versions (or every model when NAME is omitted).
    List {
        /// Model name.
        name: Option<String>,
        /// Include archived versions.
        #[arg(long)]
        all: bool,
    },
    /// Show one version: NAME/VERSION, NAME@ALIAS or NAME.
    Show {
        /// Model reference.
        reference: String,
    },
    /// Set, move or remove aliases.
    #[command(subcommand)]
    Alias(AliasCommand),
    /// Move an alias back to its previous target.
    Rollback {
        /// Model name.
        name: String,
        /// Alias.
        alias: String,
        /// Why (recorded).
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Print a model's full history: registrations and every alias/archive/delete event.
    History {
        /// Model name.
        name: String,
    },
    /// Compare metrics and params of two versions side by side. With `--format html`, one
    /// self-contained page: metrics with deltas and a chart, params, tags, signature,
    /// lineage and artifacts of both versions.
    Compare {
        /// First version reference.
        a: String,
        /// Second version reference.
        b: String,
        /// Write the report to this file instead of stdout (json or html; written to a
        /// temporary file and renamed, so a reader never sees half of it).
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Download every artifact of a version into DIR (verified before it appears).
    Download {
        /// Model reference.
        reference: String,
        /// Target directory (created if missing).
        dir: PathBuf,
    },
    /// Archive a version (hidden from listings by default).
    Archive {
        /// NAME/VERSION.
        reference: String,
        /// Restore instead of archiving.
        #[arg(long)]
        restore: bool,
        /// Why (recorded).
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Delete a version (its number is never reused; run gc to free its blobs).
    Delete {
        /// NAME/VERSION.
        reference: String,
        /// Why (recorded).
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Remove unreferenced blobs older than the grace period.
    Gc {
        /// Grace period: `0`, `90s`, `30m`, `24h`, `7d`.
        #[arg(long, default_value = "1h")]
        grace: String,
    },
    /// Re-hash every referenced blob; exits 1 when something is missing or corrupt.
    Verify,
}

#[derive(Debug, clap::Subcommand)]
enum AliasCommand {
    /// Point ALIAS at VERSION.
    Set {
        /// Model name.
        name: String,
        /// Alias.
        alias: String,
        /// Version number.
        version: u64,
        /// Why (recorded).
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Remove ALIAS.
    Remove {
        /// Model name.
        name: String,
        /// Alias.
        alias: String,
        /// Why (recorded).
        #[arg(long, default_value = "")]
        reason: String,
    },
}

fn parse_pairs(what: &str, text: Option<&str>) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let Some(text) = text else { return Ok(out) };
    for pair in text.split(',').filter(|p| !p.trim().is_empty()) {
        let Some((k, v)) = pair.split_once('=') else {
            bail!("--{what}: {pair:?} is not key=value");
        };
        let k = k.trim();
        if k.is_empty() {
            bail!("--{what}: empty key in {pair:?}");
        }
        if out.insert(k.to_owned(), v.trim().to_owned()).is_some() {
            bail!("--{what}: key {k:?} given twice");
        }
    }
    Ok(out)
}

fn parse_metrics(text: Option<&str>) -> Result<BTreeMap<String, f64>> {
    parse_pairs("metrics", text)?
        .into_iter()
        .map(|(k, v)| {
            let x: f64 = v
                .parse()
                .with_context(|| format!("--metrics: {k}={v:?} is not a number"))?;
            if !x.is_finite() {
                bail!("--metrics: {k}={v} is not finite");
            }
            Ok((k, x))
        })
        .collect()
}

/// Parses `0`, `90s`, `30m`, `24h`, `7d` (a bare number is seconds).
fn parse_duration(text: &str) -> Result<Duration> {
    let t = text.trim();
    let (num, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let n: u64 = num
        .parse()
        .with_context(|| format!("--grace {text:?}: expected e.g. 0, 90s, 30m, 24h, 7d"))?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => bail!("--grace {text:?}: unit must be s, m, h or d"),
    };
    n.checked_mul(secs)
        .map(Duration::from_secs)
        .with_context(|| format!("--grace {text:?} is too large"))
}

fn exact_version(reference: &str) -> Result<(ModelName, u64)> {
    let r: ModelRef = reference.parse()?;
    match r.selector {
        VersionSelector::Version(v) => Ok((r.name, v)),
        _ => bail!("{reference:?}: expected NAME/VERSION"),
    }
}

fn print_entry(e: &VersionEntry) {
    let v = &e.version;
    println!("{}/{}", v.name, v.version);
    println!("  created      {}", v.created_at.to_rfc3339());
    if !v.format.is_empty() {
        println!("  format       {}", v.format);
    }
    if e.archived {
        println!("  archived     yes");
    }
    if !e.aliases.is_empty() {
        let a: Vec<&str> = e.aliases.iter().map(AliasName::as_str).collect();
        println!("  aliases      {}", a.join(", "));
    }
    if !v.description.is_empty() {
        println!("  description  {}", v.description);
    }
    for (k, x) in &v.metrics {
        println!("  metric       {k} = {x}");
    }
    for (k, x) in &v.params {
        println!("  param        {k} = {x}");
    }
    for (k, x) in &v.tags {
        println!("  tag          {k} = {x}");
    }
    for d in &v.lineage.datasets {
        println!("  dataset      {d}");
    }
    if let Some(c) = &v.lineage.code_commit {
        println!("  commit       {c}");
    }
    if let Some(p) = v.lineage.parent_version {
        println!("  parent       {}/{p}", v.name);
    }
    for a in &v.artifacts {
        println!("  artifact     {}  {:>12}  {}", a.digest, a.size, a.name);
    }
}

fn describe(ev: &Event) -> String {
    match &ev.kind {
        EventKind::AliasSet {
            alias,
            version,
            previous: Some(p),
        } => {
            format!("alias {alias} moved {p} -> {version}")
        }
        EventKind::AliasSet {
            alias,
            version,
            previous: None,
        } => {
            format!("alias {alias} set -> {version}")
        }
        EventKind::AliasRolledBack { alias, from, to } => {
            format!("alias {alias} rolled back {from} -> {to}")
        }
        EventKind::AliasRemoved { alias, previous } => {
            format!("alias {alias} removed (was {previous})")
        }
        EventKind::Archived { version } => format!("version {version} archived"),
        EventKind::Restored { version } => format!("version {version} restored"),
        EventKind::Deleted { version } => format!("version {version} deleted"),
        other => format!("{other:?}"),
    }
}

#[derive(Serialize)]
struct Registered<'a> {
    name: &'a ModelName,
    version: u64,
    format: &'a str,
    artifacts: &'a [mlops_core::ArtifactRef],
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum HistoryItem<'a> {
    Registered {
        at: chrono::DateTime<chrono::Utc>,
        version: u64,
    },
    Event(&'a Event),
}

/// Runs `mlops registry`.
///
/// # Errors
/// Any registry failure (message names the model, version or file), bad arguments, and
/// `--format` words other than json/text (except an artifact format for `register`).
pub fn run(args: Args, words: crate::FormatWords) -> Result<ExitCode> {
    let who = args
        .actor
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "unknown".into());
    let change = |reason: &str| Change::new(who.clone(), reason);
    let open = || -> Result<Box<dyn Registry>> {
        mlops_registry::open(&args.store)
            .with_context(|| format!("opening registry store {:?}", args.store))
    };
    match &args.command {
        Command::Register {
            name,
            artifacts,
            metrics,
            tags,
            params,
            datasets,
            commit,
            parent,
            description,
        } => {
            let (format, other) = words.split()?;
            let artifact_format = match other.as_slice() {
                [] => None,
                [f] => Some(f.clone()),
                more => bail!("--format: several artifact formats given: {more:?}"),
            };
            let mut new = NewVersion::new(name.parse()?);
            for path in artifacts {
                new = new
                    .with_artifact_file(path)
                    .with_context(|| format!("artifact {}", path.display()))?;
            }
            new.metrics = parse_metrics(metrics.as_deref())?;
            new.tags = parse_pairs("tags", tags.as_deref())?;
            new.params = parse_pairs("params", params.as_deref())?;
            new.format = artifact_format;
            new.description = description.clone().unwrap_or_default();
            new.lineage = Lineage {
                datasets: datasets.clone(),
                code_commit: commit.clone(),
                parent_version: *parent,
            };
            let e = open()?.register(new)?;
            let v = &e.version;
            match format {
                Format::Json => print_json(&Registered {
                    name: &v.name,
                    version: v.version,
                    format: &v.format,
                    artifacts: &v.artifacts,
                })?,
                Format::Text => println!("{}", v.version),
            }
        }
        Command::Compare { a, b, output } => {
            let out = words.output_or_html()?;
            return run_compare(&*open()?, a, b, output.as_deref(), out);
        }
        cmd => {
            let format = words.output_only()?;
            return run_other(cmd, format, &*open()?, &change);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `mlops registry compare A B`: text and json as before, or an HTML report.
fn run_compare(
    reg: &dyn Registry,
    a: &str,
    b: &str,
    path: Option<&std::path::Path>,
    out: Output,
) -> Result<ExitCode> {
    let (ra, rb): (ModelRef, ModelRef) = (a.parse()?, b.parse()?);
    match (out, path) {
        (Output::Text, Some(_)) => {
            bail!("-o/--output writes a json or html report: add --format json or --format html")
        }
        (Output::Json, None) => print_json(&reg.compare(&ra, &rb)?)?,
        (Output::Json, Some(path)) => write_report(
            Some(path),
            &format!(
                "{}\n",
                serde_json::to_string_pretty(&reg.compare(&ra, &rb)?)?
            ),
        )?,
        (Output::Text, None) => {
            let c = reg.compare(&ra, &rb)?;
            println!("{:<24} {:>14} {:>14} {:>14}", "metric", c.a, c.b, "delta");
            let show = |x: Option<f64>| x.map_or("-".to_string(), |x| format!("{x}"));
            for m in &c.metrics {
                let delta = match (m.a, m.b) {
                    (Some(a), Some(b)) => format!("{:+.6}", b - a),
                    _ => "-".into(),
                };
                println!(
                    "{:<24} {:>14} {:>14} {:>14}",
                    m.key,
                    show(m.a),
                    show(m.b),
                    delta
                );
            }
            for p in &c.params {
                println!(
                    "{:<24} {:>14} {:>14}",
                    format!("param {}", p.key),
                    p.a.as_deref().unwrap_or("-"),
                    p.b.as_deref().unwrap_or("-")
                );
            }
        }
        (Output::Html, path) => {
            let (ea, eb) = (reg.resolve(&ra)?, reg.resolve(&rb)?);
            let title = format!(
                "{}/{} vs {}/{}",
                ea.version.name, ea.version.version, eb.version.name, eb.version.version
            );
            let html = mlops_ui::compare::compare_report_html(&ea, &eb, &title);
            write_report(path, &html)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn run_other(
    cmd: &Command,
    format: Format,
    reg: &dyn Registry,
    change: &dyn Fn(&str) -> Change,
) -> Result<ExitCode> {
    match cmd {
        Command::Register { .. } => bail!("internal error: register is handled by run"),
        Command::List { name: None, .. } => {
            let models = reg.models()?;
            match format {
                Format::Json => print_json(&models)?,
                Format::Text => models.iter().for_each(|m| println!("{m}")),
            }
        }
        Command::List {
            name: Some(name),
            all,
        } => {
            let list: Vec<VersionEntry> = reg
                .versions(&name.parse()?)?
                .into_iter()
                .filter(|e| *all || !e.archived)
                .collect();
            match format {
                Format::Json => print_json(&list)?,
                Format::Text => {
                    for e in &list {
                        let v = &e.version;
                        let aliases: Vec<&str> = e.aliases.iter().map(AliasName::as_str).collect();
                        let metrics: Vec<String> =
                            v.metrics.iter().map(|(k, x)| format!("{k}={x}")).collect();
                        println!(
                            "{:>6}  {}  {:<12} {}{}  {}",
                            v.version,
                            v.created_at.format("%Y-%m-%d %H:%M:%S"),
                            v.format,
                            if e.archived { "[archived] " } else { "" },
                            aliases.join(","),
                            metrics.join(" ")
                        );
                    }
                }
            }
        }
        Command::Show { reference } => {
            let e = reg.resolve(&reference.parse()?)?;
            match format {
                Format::Json => print_json(&e)?,
                Format::Text => print_entry(&e),
            }
        }
        Command::Alias(AliasCommand::Set {
            name,
            alias,
            version,
            reason,
        }) => {
            let ev = reg.set_alias(&name.parse()?, &alias.parse()?, *version, &change(reason))?;
            match format {
                Format::Json => print_json(&ev)?,
                Format::Text => println!("{name}: {}", describe(&ev)),
            }
        }
        Command::Alias(AliasCommand::Remove {
            name,
            alias,
            reason,
        }) => {
            let ev = reg.remove_alias(&name.parse()?, &alias.parse()?, &change(reason))?;
            match format {
                Format::Json => print_json(&ev)?,
                Format::Text => println!("{name}: {}", describe(&ev)),
            }
        }
        Command::Rollback {
            name,
            alias,
            reason,
        } => {
            let ev = reg.rollback(&name.parse()?, &alias.parse()?, &change(reason))?;
            match format {
                Format::Json => print_json(&ev)?,
                Format::Text => println!("{name}: {}", describe(&ev)),
            }
        }
        Command::History { name } => {
            let name: ModelName = name.parse()?;
            let versions = reg.versions(&name)?;
            let events = reg.history(&name)?;
            let mut items: Vec<(chrono::DateTime<chrono::Utc>, HistoryItem<'_>)> = versions
                .iter()
                .map(|e| {
                    (
                        e.version.created_at,
                        HistoryItem::Registered {
                            at: e.version.created_at,
                            version: e.version.version,
                        },
                    )
                })
                .chain(events.iter().map(|ev| (ev.at, HistoryItem::Event(ev))))
                .collect();
            items.sort_by_key(|(t, _)| *t);
            match format {
                Format::Json => print_json(&items.iter().map(|(_, i)| i).collect::<Vec<_>>())?,
                Format::Text => {
                    for (t, item) in &items {
                        let t = t.to_rfc3339();
                        match item {
                            HistoryItem::Registered { version, .. } => {
                                println!("{t}  version {version} registered")
                            }
                            HistoryItem::Event(ev) => println!(
                                "{t}  #{} {}  by {}{}",
                                ev.seq,
                                describe(ev),
                                ev.change.who,
                                if ev.change.reason.is_empty() {
                                    String::new()
                                } else {
                                    format!(": {}", ev.change.reason)
                                }
                            ),
                        }
                    }
                }
            }
        }
        Command::Compare { .. } => bail!("internal error: compare is handled by run"),
        Command::Download { reference, dir } => {
            let files = reg.download(&reference.parse()?, dir)?;
            match format {
                Format::Json => print_json(&files)?,
                Format::Text => files.iter().for_each(|f| println!("{}", f.display())),
            }
        }
        Command::Archive {
            reference,
            restore,
            reason,
        } => {
            let (name, v) = exact_version(reference)?;
            let ev = reg.set_archived(&name, v, !restore, &change(reason))?;
            match format {
                Format::Json => print_json(&ev)?,
                Format::Text => println!("{name}: {}", describe(&ev)),
            }
        }
        Command::Delete { reference, reason } => {
            let (name, v) = exact_version(reference)?;
            let ev = reg.delete_version(&name, v, &change(reason))?;
            match format {
                Format::Json => print_json(&ev)?,
                Format::Text => println!("{name}: {}", describe(&ev)),
            }
        }
        Command::Gc { grace } => {
            let report = reg.gc(parse_duration(grace)?)?;
            match format {
                Format::Json => print_json(&report)?,
                Format::Text => println!(
                    "scanned {} blobs: {} referenced, {} in grace, {} deleted ({} bytes), {} staging files removed",
                    report.blobs_scanned,
                    report.blobs_referenced,
                    report.blobs_in_grace,
                    report.deleted.len(),
                    report.bytes_freed,
                    report.staging_removed
                ),
            }
        }
        Command::Verify => {
            let report = reg.verify()?;
            match format {
                Format::Json => print_json(&report)?,
                Format::Text => {
                    println!(
                        "{} versions, {} blobs ({} bytes) re-hashed, {} problems",
                        report.versions,
                        report.blobs_checked,
                        report.bytes_checked,
                        report.problems.len()
                    );
                    for p in &report.problems {
                        eprintln!(
                            "problem: {} {}: {}",
                            p.location,
                            p.artifact.as_deref().unwrap_or(""),
                            p.problem
                        );
                    }
                }
            }
            if !report.is_clean() {
                return Ok(ExitCode::from(1));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_duration("7d").unwrap(), Duration::from_secs(604_800));
        for bad in ["", "h", "1w", "-1s", "1.5h", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn pairs_parse() {
        let m = parse_metrics(Some("auc=0.9, loss=1e-3")).unwrap();
        assert_eq!(m["auc"], 0.9);
        assert_eq!(m["loss"], 1e-3);
        for bad in ["auc", "auc=x", "auc=nan", "auc=inf", "=1", "a=1,a=2"] {
            assert!(parse_metrics(Some(bad)).is_err(), "{bad}");
        }
    }
}
