//! `mlops monitor report|labels|watch`, and the monitoring half of `mlops serve`
//! (`--log-predictions`, the labels endpoint, `--monitor-rules`).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use mlops_drift::io::{Column, Table};
use mlops_drift::{ProfileConfig, ReferenceProfile};
use mlops_monitor::alert::{
    AlertEngine, AlertEvent, AlertSink, AlertmanagerSink, RuleSet, WebhookSink,
};
use mlops_monitor::cbpe::Cbpe;
use mlops_monitor::labels::{self, LabelStore};
use mlops_monitor::log::{LogConfig, LogReader, PredictionLog};
use mlops_monitor::record::{LoggedPrediction, Value};
use mlops_monitor::report::{build_states_with, MonitorReport, ReportConfig};
use mlops_monitor::serve_sink::{LogSink, SinkConfig};
use mlops_monitor::window::{Task, WindowSpec};
use mlops_monitor::WindowValues;
use serde::Serialize;

use crate::output::{print_json, write_report, Output};
use crate::{Format, FormatWords};

/// Arguments of `mlops monitor`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
// Parsed once per process: the size difference of the variants does not matter.
#[allow(clippy::large_enum_variant)]
enum Action {
    /// Windowed performance, label coverage, CBPE estimates, drift, KPIs and A/B results over a
    /// prediction log.
    Report(ReportArgs),
    /// Ingest delayed ground truth (a CSV or Parquet file with columns `id,label`).
    Labels(LabelsArgs),
    /// Evaluate alert rules over the log every interval and send alerts.
    Watch(WatchArgs),
}

/// How the log is cut into windows and what each window computes (shared by `report`,
/// `watch` and `serve --monitor-rules`).
#[derive(Debug, Clone, clap::Args)]
pub struct WindowArgs {
    /// Window length: `15m`, `1h`, `1d`, … (epoch-aligned, UTC).
    #[arg(long, default_value = "1h", conflicts_with = "window_rows")]
    window: String,
    /// Windows of this many rows per model × version × arm instead of time windows.
    #[arg(long, value_name = "N")]
    window_rows: Option<u64>,
    /// Reference profile for input drift (`mlops drift profile`); by default one is fitted on
    /// the reference period's features when --reference-until is given.
    #[arg(long, value_name = "FILE")]
    reference_profile: Option<PathBuf>,
    /// Rows before this time (RFC 3339, e.g. `2026-01-02T00:00:00Z`) are the reference
    /// period: CBPE is fitted on them (binary classifiers with labels and scores), a drift
    /// profile is fitted on their features (unless --reference-profile), and alert bands come
    /// from their windows.
    #[arg(long, value_name = "TIME")]
    reference_until: Option<String>,
    /// Also report per value of this segment field (top --top-k values, the rest "other").
    #[arg(long, value_name = "FIELD")]
    segment: Option<String>,
    /// Segment values kept per model.
    #[arg(long, default_value_t = 10)]
    top_k: usize,
    /// Business value of a true positive, false positive, false negative, true negative.
    #[arg(long, value_delimiter = ',', value_name = "TP,FP,FN,TN")]
    value_matrix: Vec<f64>,
    /// `classification`, `regression`, or `auto` (per window: classification when class
    /// scores or text predictions are logged).
    #[arg(long, default_value = "auto")]
    task: String,
    /// Labels received longer than this after their prediction are late: counted, not
    /// joined.
    #[arg(long, default_value = "14d")]
    label_ttl: String,
    /// Only this model.
    #[arg(long, value_name = "NAME")]
    only_model: Option<String>,
    /// Which drift test decides per column: `auto` (Evidently's rule: KS / χ² up to 1000 rows,
    /// Wasserstein / Jensen–Shannon distance above) or `ks` (KS for numeric, χ² for
    /// categorical columns at every size, as NannyML's univariate drift).
    #[arg(long, default_value = "auto")]
    drift_test: String,
    /// Data-quality schema of the logged inputs (`mlops validate infer`): every window gets
    /// `quality.*` values (missing, out-of-range, unknown-category and schema-violation
    /// rates), which alert rules can name.
    #[arg(long, value_name = "SCHEMA.toml")]
    schema: Option<PathBuf>,
}

/// Loads `--schema`, when given.
fn load_schema(w: &WindowArgs) -> Result<Option<mlops_validate::Schema>> {
    w.schema
        .as_deref()
        .map(|p| {
            mlops_validate::Schema::load(p)
                .with_context(|| format!("loading --schema {}", p.display()))
        })
        .transpose()
}

#[derive(Debug, clap::Args)]
struct ReportArgs {
    /// The prediction log directory (`mlops serve --log-predictions`).
    #[arg(long)]
    log: PathBuf,
    #[command(flatten)]
    windows: WindowArgs,
    /// Evaluate these alert rules over the windows (no state kept, nothing sent) and list the
    /// alerts that would be pending or firing.
    #[arg(long, value_name = "RULES.toml")]
    rules: Option<PathBuf>,
    /// Write the report to this file instead of stdout (through a temporary file, renamed).
    /// With `--format html`, one self-contained page with plots (needs `--format json` or
    /// `--format html`).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct LabelsArgs {
    /// The prediction log directory.
    #[arg(long)]
    log: PathBuf,
    /// CSV or Parquet with columns `id` and `label`.
    #[arg(long)]
    file: PathBuf,
    /// As `monitor report --label-ttl`.
    #[arg(long, default_value = "14d")]
    label_ttl: String,
}

/// Where alerts go.
#[derive(Debug, Clone, clap::Args)]
pub struct SinkArgs {
    /// Prometheus Alertmanager base URL (alerts are POSTed to /api/v2/alerts).
    #[arg(long, value_name = "URL")]
    alertmanager: Option<String>,
    /// Webhook URL for alert transitions (JSON; repeatable).
    #[arg(long, value_name = "URL")]
    webhook: Vec<String>,
    /// Name of the environment variable holding the webhook's HMAC-SHA256 secret (header
    /// `X-Mlops-Signature: sha256=<hex>`).
    #[arg(long, value_name = "VAR")]
    webhook_secret_env: Option<String>,
}

#[derive(Debug, clap::Args)]
struct WatchArgs {
    /// The prediction log directory.
    #[arg(long)]
    log: PathBuf,
    /// Alert rules (TOML).
    #[arg(long, value_name = "RULES.toml")]
    rules: PathBuf,
    #[command(flatten)]
    windows: WindowArgs,
    #[command(flatten)]
    sinks: SinkArgs,
    /// How often to evaluate (e.g. `30s`, `5m`).
    #[arg(long, default_value = "60s")]
    interval: String,
    /// Evaluate once and exit (for cron jobs and tests).
    #[arg(long)]
    once: bool,
    /// Where the alert state is kept (default: `<log>/monitor/alert-state.json`).
    #[arg(long)]
    state: Option<PathBuf>,
    /// When alert RULE starts firing, run the pipeline (`RULE=pipeline.toml`, repeatable;
    /// `*=pipeline.toml` for any rule). One run at a time per pipeline, debounced.
    #[arg(long = "on-alert", value_name = "RULE=PIPELINE")]
    on_alert: Vec<String>,
    /// The registry a triggered pipeline registers its candidate in.
    #[arg(long)]
    store: Option<String>,
    /// The triggered pipelines' cache directory (default: `.mlops-cache` next to each spec).
    #[arg(long)]
    pipeline_cache: Option<PathBuf>,
    /// At most one triggered run per pipeline per this long (e.g. `30m`).
    #[arg(long, default_value = "10m")]
    debounce: String,
}

/// `mlops serve`'s monitor options (windows and sinks, as `mlops monitor watch`).
#[derive(Debug, Clone, clap::Args)]
pub struct ServeMonitorArgs {
    #[command(flatten)]
    windows: WindowArgs,
    #[command(flatten)]
    sinks: SinkArgs,
}

impl ServeMonitorArgs {
    /// The window options.
    pub fn windows(&self) -> &WindowArgs {
        &self.windows
    }
}

/// The console's monitoring source over the prediction log in `log`: each call reads the log
/// again ([`report_with_alerts`] with `windows` and, when given, the alert `rules`).
pub fn monitor_source(
    log: PathBuf,
    windows: WindowArgs,
    rules: Option<PathBuf>,
) -> mlops_ui::console::MonitorSource {
    Arc::new(move || {
        report_with_alerts(&log, &windows, rules.as_deref())
            .map(|(report, _)| report)
            .map_err(|e| format!("{e:#}"))
    })
}

/// Runs `mlops monitor …`.
///
/// # Errors
/// Bad arguments, a path that is not a prediction log, an unreadable labels file, a rules
/// file that does not parse (the message names the line), an unknown metric.
pub fn run(args: Args, words: &FormatWords) -> Result<ExitCode> {
    match args.action {
        Action::Report(a) => run_report(a, words.output_or_html()?),
        Action::Labels(a) => run_labels(a, words.output_only()?),
        Action::Watch(a) => run_watch(a, words.output_only()?),
    }
}

/// A positive duration flag (`30s`, `15m`, `1h`, `2d`, `500ms`, `1h30m`), parsed as
/// [`mlops_monitor::window::parse_duration`] parses window lengths and rule durations.
pub fn parse_duration(text: &str, flag: &str) -> Result<Duration> {
    let d =
        mlops_monitor::window::parse_duration(text).with_context(|| format!("{flag} {text:?}"))?;
    if d.is_zero() {
        bail!("{flag} {text:?} must be a positive duration");
    }
    Ok(d)
}

fn parse_time_ms(text: &str, flag: &str) -> Result<i64> {
    let t = chrono::DateTime::parse_from_rfc3339(text).with_context(|| {
        format!("{flag} {text:?} is not an RFC 3339 time (e.g. 2026-01-02T00:00:00Z)")
    })?;
    Ok(t.timestamp_millis())
}

/// The report, the windows' values and the reference period's windows.
pub struct Computed {
    /// The report (alerts not filled).
    pub report: MonitorReport,
    /// Every window's values.
    pub values: Vec<WindowValues>,
    /// The values of the windows inside the reference period (for band rules).
    pub reference: Vec<WindowValues>,
    /// Label join counts.
    pub labels: LabelCounts,
}

/// How the stored labels joined: the label log's own counts (received, matched, late,
/// duplicate, unknown), as its ingest endpoint reports them.
pub type LabelCounts = labels::IngestSummary;

/// What the reference period yields.
#[derive(Default)]
struct ReferenceRows {
    scores: Vec<f64>,
    labels: Vec<bool>,
    predicted: Vec<bool>,
    features: BTreeMap<String, Column>,
    rows: usize,
}

impl ReferenceRows {
    fn push(&mut self, p: &LoggedPrediction, label: Option<&Value>) {
        for (name, v) in &p.features {
            let col = self
                .features
                .entry(name.clone())
                .or_insert_with(|| match v {
                    Value::Num(_) => Column::Numeric(vec![f64::NAN; self.rows]),
                    Value::Str(_) => Column::Categorical(vec![None; self.rows]),
                });
            match (col, v) {
                (Column::Numeric(c), Value::Num(x)) => c.push(*x),
                (Column::Numeric(c), Value::Str(s)) => c.push(s.parse().unwrap_or(f64::NAN)),
                (Column::Categorical(c), v) => c.push(Some(v.class_key())),
            }
        }
        self.rows += 1;
        for col in self.features.values_mut() {
            match col {
                Column::Numeric(c) if c.len() < self.rows => c.push(f64::NAN),
                Column::Categorical(c) if c.len() < self.rows => c.push(None),
                _ => {}
            }
        }
        if let (Some(score), Some(label), Some(pred)) = (p.positive_score(), label, &p.prediction) {
            if score.is_finite() {
                self.scores.push(score);
                self.labels.push(label.class_key() == "1");
                self.predicted.push(pred.class_key() == "1");
            }
        }
    }
}

/// Labels by id: the first one received, when, and whether a prediction has used it (0 no,
/// 1 joined, 2 late).
struct LabelIndex {
    first: HashMap<String, (Value, i64, std::cell::Cell<u8>)>,
    counts: LabelCounts,
}

fn load_labels(log: &Path) -> Result<LabelIndex> {
    let stored = labels::read_labels(log)
        .with_context(|| format!("reading the labels of {}", log.display()))?;
    let mut first: HashMap<String, (Value, i64, std::cell::Cell<u8>)> =
        HashMap::with_capacity(stored.len());
    let mut counts = LabelCounts::default();
    for l in stored {
        counts.received += 1;
        match first.entry(l.id) {
            std::collections::hash_map::Entry::Occupied(_) => counts.duplicate += 1,
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert((l.label, l.received_ms, std::cell::Cell::new(0)));
            }
        }
    }
    Ok(LabelIndex { first, counts })
}

/// Reads the log once: windows, the reference period, the label join.
///
/// # Errors
/// A path that is not a log, unreadable segments, bad window options.
pub fn compute(log: &Path, w: &WindowArgs) -> Result<Computed> {
    let window = match w.window_rows {
        Some(0) => bail!("--window-rows must be at least 1"),
        Some(n) => WindowSpec::Rows(n),
        None => WindowSpec::parse(&w.window).with_context(|| format!("--window {:?}", w.window))?,
    };
    let task = match w.task.as_str() {
        "auto" => Task::Auto,
        "classification" => Task::Classification,
        "regression" => Task::Regression,
        other => bail!("--task {other:?}: use classification, regression or auto"),
    };
    let value_matrix = match w.value_matrix.as_slice() {
        [] => None,
        [tp, fp, fn_, tn] => Some([*tp, *fp, *fn_, *tn]),
        other => bail!(
            "--value-matrix takes 4 numbers (TP,FP,FN,TN), not {}",
            other.len()
        ),
    };
    let ttl_ms = parse_duration(&w.label_ttl, "--label-ttl")?.as_millis() as i64;
    let reference_until = w
        .reference_until
        .as_deref()
        .map(|t| parse_time_ms(t, "--reference-until"))
        .transpose()?;
    let profile_file = w
        .reference_profile
        .as_deref()
        .map(|p| {
            ReferenceProfile::load(p)
                .with_context(|| format!("loading --reference-profile {}", p.display()))
        })
        .transpose()?;
    let schema = load_schema(w)?;

    let reader = LogReader::open(log)?;
    let labels = load_labels(log)?;
    let label_of = |p: &LoggedPrediction| -> Option<Value> {
        let (label, received, used) = labels.first.get(&p.id)?;
        let late = received.saturating_sub(p.timestamp_ms) > ttl_ms;
        if used.get() == 0 {
            used.set(if late { 2 } else { 1 });
        }
        (!late).then(|| label.clone())
    };
    let mut reference_rows = ReferenceRows::default();
    let only = w.only_model.clone();
    let mut cfg = ReportConfig::new(window);
    cfg.segment = w.segment.clone();
    cfg.top_k = w.top_k;
    cfg.value_matrix = value_matrix;
    cfg.task = task;
    cfg.schema = schema.as_ref();
    match w.drift_test.as_str() {
        "auto" => {}
        "ks" => cfg.drift.small_sample_max = u64::MAX,
        other => bail!("--drift-test {other:?}: use auto or ks"),
    }

    // The reader decodes on its own thread; the windows are built here.
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<LoggedPrediction>>(8);
    let set = std::thread::scope(|s| -> Result<_> {
        let reading = s.spawn(move || {
            let mut batch = Vec::with_capacity(1024);
            let r = reader.for_each_owned(|p| {
                batch.push(p);
                if batch.len() == 1024 {
                    let _ = tx.send(std::mem::replace(&mut batch, Vec::with_capacity(1024)));
                }
            });
            if !batch.is_empty() {
                let _ = tx.send(batch);
            }
            r
        });
        let rows = rx
            .into_iter()
            .flatten()
            .filter(|p| only.as_deref().is_none_or(|m| p.model == m))
            .inspect(|p| {
                if reference_until.is_some_and(|t| p.timestamp_ms < t) {
                    let label = label_of(p);
                    reference_rows.push(p, label.as_ref());
                }
            });
        let set = build_states_with(rows, &label_of, &cfg);
        let read = reading
            .join()
            .map_err(|_| anyhow::anyhow!("the log reader thread panicked"))?;
        read?;
        Ok(set?)
    })?;

    let fitted_profile;
    let profile = match (&profile_file, reference_until) {
        (Some(p), _) => Some(p),
        (None, Some(_)) if reference_rows.rows > 0 => {
            let table = Table {
                columns: std::mem::take(&mut reference_rows.features)
                    .into_iter()
                    .collect(),
            };
            fitted_profile = ReferenceProfile::fit_table(&table, ProfileConfig::default())
                .context("fitting a drift profile on the reference period")?;
            Some(&fitted_profile)
        }
        _ => None,
    };
    let cbpe = if reference_rows.scores.len() >= 2 {
        match Cbpe::fit(
            &reference_rows.scores,
            &reference_rows.labels,
            &reference_rows.predicted,
            &Default::default(),
        ) {
            Ok(c) => Some(c),
            Err(e) => {
                eprintln!("mlops monitor: no CBPE estimates: {e}");
                None
            }
        }
    } else {
        None
    };
    cfg.reference = profile;
    cfg.estimator = cbpe
        .as_ref()
        .map(|c| c as &dyn mlops_monitor::LabelFreeEstimator);
    let report = MonitorReport::from_states(&set, &cfg)?;
    let values = report.values();
    let reference = match reference_until {
        Some(t) => values.iter().filter(|v| v.end_ms <= t).cloned().collect(),
        None => Vec::new(),
    };
    let (mut matched, mut late) = (0u64, 0u64);
    for (_, _, used) in labels.first.values() {
        match used.get() {
            1 => matched += 1,
            2 => late += 1,
            _ => {}
        }
    }
    let mut counts = labels.counts;
    counts.matched = matched;
    counts.late = late;
    counts.unknown = counts.received - counts.duplicate - matched - late;
    Ok(Computed {
        report,
        values,
        reference,
        labels: counts,
    })
}

/// [`compute`], then the alert rules in `rules` (when given) evaluated over the windows
/// with no state kept and nothing sent: the pending and firing alerts go into
/// `report.alerts`.
///
/// # Errors
/// As [`compute`], and a rules file that does not load.
pub fn report_with_alerts(
    log: &Path,
    w: &WindowArgs,
    rules: Option<&Path>,
) -> Result<(MonitorReport, LabelCounts)> {
    let mut c = compute(log, w)?;
    if let Some(rules) = rules {
        let rules = RuleSet::load(rules)?;
        let tmp = tempfile::tempdir()?;
        let mut engine = AlertEngine::open(rules, tmp.path().join("state.json"))?;
        engine.evaluate(&c.values, &c.reference, mlops_monitor::record::now_ms())?;
        c.report.alerts = engine
            .active()
            .iter()
            .map(serde_json::to_value)
            .collect::<std::result::Result<_, _>>()?;
    }
    Ok((c.report, c.labels))
}

fn run_report(a: ReportArgs, format: Output) -> Result<ExitCode> {
    if format == Output::Text && a.output.is_some() {
        bail!("-o/--output writes a json or html report: add --format json or --format html");
    }
    let (report, label_counts) = report_with_alerts(&a.log, &a.windows, a.rules.as_deref())?;
    match format {
        Output::Json => {
            let mut v = serde_json::to_value(&report)?;
            v["labels"] = serde_json::to_value(label_counts)?;
            match &a.output {
                None => print_json(&v)?,
                Some(path) => write_report(
                    Some(path),
                    &format!("{}\n", serde_json::to_string_pretty(&v)?),
                )?,
            }
        }
        Output::Html => {
            let title = format!("Monitoring report — {}", a.log.display());
            let html = mlops_ui::monitor_report_html(&report, Some(&label_counts), &title);
            write_report(a.output.as_deref(), &html)?;
        }
        Output::Text => {
            print!("{}", report.render_text());
            let l = &label_counts;
            println!(
                "labels: {} received, {} matched, {} late, {} duplicate, {} unknown",
                l.received, l.matched, l.late, l.duplicate, l.unknown
            );
            for alert in &report.alerts {
                println!("alert: {alert}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn run_labels(a: LabelsArgs, format: Format) -> Result<ExitCode> {
    LogReader::open(&a.log)?;
    let rows = labels::read_labels_file(&a.file)?;
    let ttl = parse_duration(&a.label_ttl, "--label-ttl")?;
    // The ids the log holds now, for the answer (the join itself runs at report time).
    let index = mlops_monitor::log::IdIndex::new();
    LogReader::open(&a.log)?.for_each(|p| {
        index.insert(&p.id, p.timestamp_ms);
    })?;
    let mut store = LabelStore::open_with(&a.log, labels::LabelConfig::default().with_ttl(ttl))?;
    let summary = store.ingest(&rows, mlops_monitor::record::now_ms(), &index)?;
    match format {
        Format::Json => print_json(&summary)?,
        Format::Text => println!(
            "{} labels: {} matched, {} late, {} duplicate, {} unknown",
            summary.received, summary.matched, summary.late, summary.duplicate, summary.unknown
        ),
    }
    Ok(ExitCode::SUCCESS)
}

fn sinks(a: &SinkArgs) -> Result<Vec<Box<dyn AlertSink>>> {
    let mut out: Vec<Box<dyn AlertSink>> = Vec::new();
    let secret = match &a.webhook_secret_env {
        Some(var) => match std::env::var(var) {
            Ok(s) if !s.is_empty() => Some(s.into_bytes()),
            _ => bail!("--webhook-secret-env {var}: the variable is unset or empty"),
        },
        None => None,
    };
    for url in &a.webhook {
        let mut s = WebhookSink::new(url.clone());
        if let Some(k) = &secret {
            s = s.with_secret(k.clone());
        }
        out.push(Box::new(s));
    }
    if let Some(url) = &a.alertmanager {
        out.push(Box::new(AlertmanagerSink::new(url.clone())));
    }
    Ok(out)
}

/// One evaluation: the log's windows through the rules, then the sinks.
struct Watcher {
    log: PathBuf,
    windows: WindowArgs,
    engine: AlertEngine,
    sinks: Vec<Box<dyn AlertSink>>,
    /// Transitions not yet delivered (a sink failed): sent with the next round.
    undelivered: Vec<AlertEvent>,
}

#[derive(Serialize)]
struct Round {
    windows: usize,
    events: Vec<AlertEvent>,
    alerts: Vec<mlops_monitor::alert::Alert>,
    delivery_errors: Vec<String>,
}

impl Watcher {
    fn new(
        log: &Path,
        rules: &Path,
        windows: &WindowArgs,
        sinks_args: &SinkArgs,
        state: Option<PathBuf>,
    ) -> Result<Watcher> {
        LogReader::open(log)?;
        let rules = RuleSet::load(rules)?;
        // A bad schema fails here, not at the first round.
        load_schema(windows)?;
        let state = state.unwrap_or_else(|| log.join("monitor").join("alert-state.json"));
        if let Some(parent) = state.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        Ok(Watcher {
            log: log.to_owned(),
            windows: windows.clone(),
            engine: AlertEngine::open(rules, &state)?,
            sinks: sinks(sinks_args)?,
            undelivered: Vec::new(),
        })
    }

    fn round(&mut self) -> Result<(Round, Vec<WindowValues>)> {
        let c = compute(&self.log, &self.windows)?;
        let events =
            self.engine
                .evaluate(&c.values, &c.reference, mlops_monitor::record::now_ms())?;
        let mut pending = std::mem::take(&mut self.undelivered);
        pending.extend(events.iter().cloned());
        let active = self.engine.active();
        let mut delivery_errors = Vec::new();
        for s in &self.sinks {
            if let Err(e) = s.send(&pending, &active) {
                delivery_errors.push(e.to_string());
            }
        }
        if !delivery_errors.is_empty() {
            self.undelivered = pending;
        }
        Ok((
            Round {
                windows: c.values.len(),
                events,
                alerts: active,
                delivery_errors,
            },
            c.values,
        ))
    }
}

fn run_watch(a: WatchArgs, format: Format) -> Result<ExitCode> {
    let interval = parse_duration(&a.interval, "--interval")?;
    let mut w = Watcher::new(&a.log, &a.rules, &a.windows, &a.sinks, a.state.clone())?;
    let triggers = start_triggers(&a)?;
    let hooks: Vec<_> = triggers.iter().map(|t| t.hook()).collect();
    let mut seen_outcomes = vec![0usize; triggers.len()];
    loop {
        let (round, _) = w.round()?;
        for e in &round.events {
            for h in &hooks {
                h(e);
            }
        }
        match format {
            Format::Json => print_json(&round)?,
            Format::Text => {
                println!(
                    "{} windows evaluated, {} transitions, {} active alerts",
                    round.windows,
                    round.events.len(),
                    round.alerts.len()
                );
                for e in &round.events {
                    println!(
                        "  {} {:?} -> {:?} ({} {} = {} {})",
                        e.alert.rule,
                        e.from,
                        e.to,
                        e.alert.key.model,
                        e.alert.key.arm,
                        e.alert.value,
                        e.alert.bound
                    );
                }
            }
        }
        for err in &round.delivery_errors {
            eprintln!("mlops monitor watch: delivery failed (retried next round): {err}");
        }
        let mut pipeline_failed = false;
        for (t, seen) in triggers.iter().zip(seen_outcomes.iter_mut()) {
            // A triggered run finishes before the next round is evaluated.
            t.wait_idle(Duration::from_secs(24 * 3600));
            let outcomes = t.outcomes();
            for o in &outcomes[*seen..] {
                pipeline_failed |= report_outcome(o, format)?;
            }
            *seen = outcomes.len();
        }
        if a.once {
            if pipeline_failed {
                return Ok(ExitCode::from(1));
            }
            return Ok(if round.delivery_errors.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            });
        }
        std::thread::sleep(interval);
    }
}

/// One `--on-alert` trigger per pipeline.
fn start_triggers(a: &WatchArgs) -> Result<Vec<mlops_pipeline::on_alert::AlertTrigger>> {
    use mlops_pipeline::on_alert::{AlertTrigger, AlertTriggerConfig};
    let mut by_spec: std::collections::BTreeMap<PathBuf, Vec<String>> = Default::default();
    for item in &a.on_alert {
        let (rule, spec) = item
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--on-alert {item:?}: expected RULE=pipeline.toml"))?;
        if rule.is_empty() || spec.is_empty() {
            bail!("--on-alert {item:?}: expected RULE=pipeline.toml");
        }
        let rules = by_spec.entry(PathBuf::from(spec)).or_default();
        if rule != "*" {
            rules.push(rule.to_owned());
        }
    }
    if by_spec.is_empty() {
        return Ok(Vec::new());
    }
    let debounce = parse_duration(&a.debounce, "--debounce")?;
    let registry: Option<std::sync::Arc<dyn mlops_registry::Registry>> = match &a.store {
        Some(s) => Some(std::sync::Arc::from(
            mlops_registry::open(s).with_context(|| format!("opening registry store {s:?}"))?,
        )),
        None => None,
    };
    let mut out = Vec::new();
    for (spec, rules) in by_spec {
        let pipeline = mlops_pipeline::Pipeline::load(&spec)
            .with_context(|| format!("--on-alert {}", spec.display()))?;
        if pipeline.register.is_some() && registry.is_none() {
            bail!(
                "--on-alert {}: the pipeline has a [register] table: pass the registry with --store",
                spec.display()
            );
        }
        let options = mlops_pipeline::RunOptions {
            cache_dir: a.pipeline_cache.clone(),
            ..mlops_pipeline::RunOptions::default()
        };
        let t = AlertTrigger::start(AlertTriggerConfig {
            pipeline,
            runner: mlops_pipeline::Runner::new().with_builtins(),
            registry: registry.clone(),
            rules,
            options,
            debounce,
            debounce_state: None,
        })
        .with_context(|| format!("--on-alert {}", spec.display()))?;
        out.push(t);
    }
    Ok(out)
}

/// Prints a triggered run's outcome; true when it failed (a step, the gate or an error).
fn report_outcome(o: &mlops_pipeline::on_alert::TriggerOutcome, format: Format) -> Result<bool> {
    use mlops_pipeline::on_alert::TriggerOutcome;
    match o {
        TriggerOutcome::Ran(r) => {
            let failed = crate::pipeline::exit_code(r) != ExitCode::SUCCESS;
            match format {
                Format::Json => print_json(&serde_json::json!({ "triggered_run": r }))?,
                Format::Text => {
                    println!("triggered pipeline {} ({}):", r.pipeline, r.trigger.label());
                    crate::pipeline::print_report(r, format)?;
                }
            }
            Ok(failed)
        }
        TriggerOutcome::Debounced { cause } => {
            eprintln!(
                "mlops monitor watch: {} debounced (a run started recently)",
                cause.label()
            );
            Ok(false)
        }
        TriggerOutcome::Locked { cause } => {
            eprintln!(
                "mlops monitor watch: {}: the pipeline is already running elsewhere",
                cause.label()
            );
            Ok(false)
        }
        TriggerOutcome::Error { cause, error } => {
            eprintln!(
                "mlops monitor watch: triggered run ({}) failed: {error}",
                cause.label()
            );
            Ok(true)
        }
    }
}

/// What `mlops serve --log-predictions` opened.
pub struct ServedLogOptions {
    /// `--log-sample`.
    pub sample: f64,
    /// `--log-columns`.
    pub columns: Vec<String>,
    /// `--log-flush-ms`.
    pub flush_ms: u64,
    /// `--log-segment-mb`.
    pub segment_mb: u64,
    /// `--log-segment-age`.
    pub segment_age: String,
    /// `--log-retention`.
    pub retention: Option<String>,
    /// `--log-retention-mb`.
    pub retention_mb: Option<u64>,
    /// Local staging directory for `s3://` targets.
    pub staging: PathBuf,
}

/// The prediction log of a running server.
pub struct ServedLog {
    log: PredictionLog,
    sink: Arc<dyn mlops_serve::sink::PredictionSink>,
}

impl ServedLog {
    /// Opens the log at `target` (a directory or `s3://bucket/prefix`).
    ///
    /// # Errors
    /// Bad options, a directory that is another kind of thing or is held by another server.
    pub fn open(target: &str, o: &ServedLogOptions) -> Result<ServedLog> {
        let (dir, upload) = match target.strip_prefix("s3://") {
            Some(_) => (o.staging.clone(), Some(target.to_owned())),
            None => (PathBuf::from(target), None),
        };
        let mut config = LogConfig::new(&dir)
            .with_flush_interval(Duration::from_millis(o.flush_ms.max(1)))
            .with_segment_max_bytes(o.segment_mb.max(1) * 1024 * 1024)
            .with_segment_max_age(parse_duration(&o.segment_age, "--log-segment-age")?)
            .with_retention_max_age(
                o.retention
                    .as_deref()
                    .map(|r| parse_duration(r, "--log-retention"))
                    .transpose()?,
            )
            .with_retention_max_bytes(o.retention_mb.map(|m| m * 1024 * 1024))
            .with_write_parquet(true);
        if let Some(url) = upload {
            let target = mlops_monitor::s3::S3Target::parse(&url)
                .with_context(|| format!("--log-predictions {url}"))?;
            config = config.with_upload(Some(target));
        }
        let log = PredictionLog::open(config)
            .with_context(|| format!("opening the prediction log {target}"))?;
        let sink = LogSink::new(
            log.handle(),
            SinkConfig {
                sample: o.sample,
                columns: (!o.columns.is_empty()).then(|| o.columns.clone()),
                ..SinkConfig::default()
            },
        )
        .context("--log-sample")?;
        Ok(ServedLog {
            log,
            sink: Arc::new(sink),
        })
    }

    /// The sink to install in the servers.
    pub fn sink(&self) -> Arc<dyn mlops_serve::sink::PredictionSink> {
        Arc::clone(&self.sink)
    }

    /// The local log directory (the staging directory for `s3://`).
    pub fn local_dir(&self) -> &Path {
        self.log.dir()
    }

    /// `POST /v2/models/{name}/labels` over this log, for the models `served` accepts.
    ///
    /// # Errors
    /// The label store cannot be opened.
    pub fn labels_router(&self, served: mlops_monitor::http::ModelFilter) -> Result<axum::Router> {
        let store = LabelStore::open(self.log.dir())
            .with_context(|| format!("opening the label store of {}", self.log.dir().display()))?;
        let service = mlops_monitor::http::LabelService::new(store, self.log.ids(), served);
        Ok(mlops_monitor::http::labels_router(Arc::new(service)))
    }

    /// Drains the queue and flushes (and seals/uploads for `s3://`).
    ///
    /// # Errors
    /// The writer's last I/O error.
    pub fn close(self) -> Result<()> {
        drop(self.sink);
        self.log.close()?;
        Ok(())
    }
}

/// `mlops serve --monitor-rules`: a thread evaluating the rules every interval, publishing
/// `mlops_monitor_*` gauges on /metrics.
pub struct ServeWatch {
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ServeWatch {
    /// Starts it.
    ///
    /// # Errors
    /// A rules file that does not parse, an unknown metric, bad window options.
    pub fn start(
        log: &Path,
        rules: &Path,
        interval: &str,
        args: &ServeMonitorArgs,
        metrics: &mlops_serve::Metrics,
    ) -> Result<ServeWatch> {
        let interval = parse_duration(interval, "--monitor-interval")?;
        let mut watcher = Watcher::new(log, rules, &args.windows, &args.sinks, None)?;
        let gauges: Arc<Mutex<String>> = Arc::default();
        let shown = Arc::clone(&gauges);
        metrics.add_exporter(Arc::new(move |out: &mut String| {
            out.push_str(&shown.lock().unwrap_or_else(PoisonError::into_inner));
        }));
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("mlops-monitor".into())
            .spawn(move || loop {
                match watcher.round() {
                    Ok((round, values)) => {
                        let mut text = String::new();
                        mlops_monitor::export::render_gauges(
                            &values,
                            &watcher.engine.firing(),
                            &mut text,
                        );
                        *gauges.lock().unwrap_or_else(PoisonError::into_inner) = text;
                        for e in &round.events {
                            tracing::warn!(rule = %e.alert.rule, from = ?e.from, to = ?e.to, model = %e.alert.key.model, "alert");
                        }
                        for err in &round.delivery_errors {
                            tracing::warn!(error = %err, "alert delivery failed (retried next round)");
                        }
                    }
                    Err(e) => tracing::warn!(error = %format!("{e:#}"), "monitor round failed"),
                }
                match rx.recv_timeout(interval) {
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                    _ => return,
                }
            })
            .context("starting the monitor thread")?;
        Ok(ServeWatch {
            stop: Some(tx),
            thread: Some(thread),
        })
    }
}

impl Drop for ServeWatch {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
