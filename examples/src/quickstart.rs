//! The end-to-end quickstart: the life of a model on the embedded file registry, with the loop
//! (detect → retrain → gate → canary) running by itself.
//!
//! 1. generate customer data (four numeric columns, one text column `plan`) and snapshot it;
//! 2. run the training pipeline (`pipeline.toml`, built-in steps): split, fit the
//!    preprocessing, tune an MLP for a few trials, train, gate, and register v1 — the first
//!    model, gated on value thresholds only, aliased `production`;
//! 3. serve `churn@production` through a registry-driven deployment: clients send raw columns
//!    (the text column as OIP BYTES), the version's fitted transform runs before the model;
//! 4. traffic shifts; a drift report flags it; late labels show live accuracy falling;
//! 5. the alert rules fire, and the alert's hook runs the pipeline on the newly landed data:
//!    it gates the retrained candidate against the champion on the same held-out rows,
//!    registers v2 with lineage (trigger included) and points `canary` at it; the watcher
//!    deploys it at 10 %, the controller steps it to 50 % and promotes it;
//! 6. a deliberately worse config (the two most informative columns left out) is refused by
//!    the gate, which names the failed threshold with its numbers;
//! 7. v3 (one-hot `handle_unknown = "error"`) passes a lenient gate, goes out as a canary, and
//!    fails online when a new plan appears in the traffic: the controller rolls it back;
//! 8. print the registry's audit log, the deployment's events and the serving metrics.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use mlops_core::{AliasName, DatasetSnapshot, ModelName, SnapshotBuilder};
use mlops_drift::io::{Column, Table};
use mlops_drift::{DriftConfig, DriftReport, ProfileConfig, ReferenceProfile};
use mlops_monitor::alert::{AlertEngine, AlertSink, AlertState, RuleSet, WebhookSink};
use mlops_monitor::cbpe::Cbpe;
use mlops_monitor::labels::LabelStore;
use mlops_monitor::log::{LogConfig, LogReader, PredictionLog};
use mlops_monitor::record::{now_ms, Value};
use mlops_monitor::report::{build_states, MonitorReport, ReportConfig};
use mlops_monitor::serve_sink::{LogSink, SinkConfig};
use mlops_monitor::window::WindowSpec;
use mlops_pipeline::on_alert::{AlertTrigger, AlertTriggerConfig, TriggerOutcome};
use mlops_pipeline::{Pipeline, RunOptions, RunReport, Runner, StepStatus, TriggerCause};
use mlops_registry::{EventKind, FileRegistry, Registry};
use mlops_serve::deploy::Routed;
use mlops_serve::deploy::{
    Deployment, DeploymentEvent, EventKind as DeployEvent, RolloutPolicy, RouteOptions, Strategy,
};
use mlops_serve::sink::{PredictionRecord, PredictionSink};
use mlops_serve::{
    EngineConfig, Metrics, ModelIdentity, RegistryDeployment, Tensor, TensorData, Tensors,
    WatchConfig,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const FEATURES: usize = 4;
const PLANS: [&str; 3] = ["basic", "pro", "enterprise"];

/// What the quickstart produced, for the test to check.
#[derive(Debug)]
pub struct Summary {
    /// Snapshot of the first day's data.
    pub day1: DatasetSnapshot,
    /// Snapshot of the data that landed after the shift.
    pub day2: DatasetSnapshot,
    /// The pipeline runs: v1 (manual), v2 (triggered by the alert), the worse config, v3.
    pub runs: Vec<RunReport>,
    /// What the alert trigger did with each alert that started firing.
    pub trigger_outcomes: Vec<String>,
    /// Versions registered, in order.
    pub versions: Vec<u64>,
    /// Version the `production` alias points to at the end.
    pub production: u64,
    /// Whether the `canary` alias still exists at the end.
    pub canary_alias_left: bool,
    /// The registry's audit log.
    pub history: Vec<mlops_registry::Event>,
    /// Each registered version's tags.
    pub tags: BTreeMap<u64, BTreeMap<String, String>>,
    /// Each registered version's parent.
    pub parents: BTreeMap<u64, Option<u64>>,
    /// The deployment's events.
    pub events: Vec<DeploymentEvent>,
    /// Largest absolute difference between served probabilities and the pipeline's model
    /// directory scored locally on the same rows.
    pub max_serving_diff: f64,
    /// Columns the drift report flagged on the shifted traffic.
    pub drifted_columns: Vec<String>,
    /// Client-visible failures while v2 was a canary (expected: none).
    pub failures_during_v2: u64,
    /// Requests answered by each version while v2 was a canary.
    pub v2_phase_by_version: BTreeMap<u64, u64>,
    /// Client-visible failures while v3 was a canary, before its rollback.
    pub failures_during_v3: u64,
    /// Requests served in the whole run.
    pub served_requests: u64,
    /// Live accuracy of v1 per 500-row window of logged traffic (first the unshifted
    /// evaluation traffic, then the shifted traffic), from labels that arrived late.
    pub window_accuracy: Vec<f64>,
    /// CBPE's label-free accuracy estimate per window.
    pub window_estimated_accuracy: Vec<f64>,
    /// Input drift share per window.
    pub window_drift_share: Vec<f64>,
    /// Labels that joined a logged prediction.
    pub labels_matched: u64,
    /// Rules whose alerts fired, as the local webhook received them.
    pub alerts_fired: Vec<String>,
    /// The serving metrics' unknown-category ratio of `plan`, per version, at the end.
    pub unknown_plan_ratio: BTreeMap<u64, f64>,
}

/// One customer: four numeric features and a plan.
#[derive(Debug, Clone)]
struct Row {
    f: [f64; FEATURES],
    plan: String,
    label: usize,
}

/// Two Gaussian blobs in 4 dimensions (class 1 shifted by `shift` on every axis), and a plan
/// that leans towards `enterprise` for class 1.
fn customers(rng: &mut StdRng, n: usize, shift: f64) -> Vec<Row> {
    (0..n)
        .map(|_| {
            let label = usize::from(rng.gen_bool(0.5));
            let mut f = [0.0; FEATURES];
            for v in &mut f {
                // Box–Muller: a standard normal from two uniforms.
                let (u1, u2): (f64, f64) = (rng.gen_range(1e-12..1.0), rng.gen());
                let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
                *v = z + shift * label as f64;
            }
            let plan = if label == 1 && rng.gen_bool(0.3) {
                "enterprise"
            } else {
                PLANS[rng.gen_range(0..3)]
            };
            Row {
                f,
                plan: plan.to_owned(),
                label,
            }
        })
        .collect()
}

fn write_csv(path: &Path, rows: &[Row], prefix: &str) -> Result<()> {
    let mut out = String::from("id,f0,f1,f2,f3,plan,churned\n");
    for (i, r) in rows.iter().enumerate() {
        out.push_str(&format!("{prefix}{i}"));
        for v in &r.f {
            out.push_str(&format!(",{v:.6}"));
        }
        out.push_str(&format!(",{},{}\n", r.plan, r.label));
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, out).with_context(|| format!("writing {}", path.display()))
}

/// The raw-column request for `rows`: f0..f3 as FP64, plan as BYTES. The CSV keeps six
/// decimals; the requests send the same rounded values, so served and offline scores agree.
fn to_inputs(rows: &[Row]) -> Result<Tensors> {
    let n = rows.len();
    let mut t = Tensors::new();
    for j in 0..FEATURES {
        let v: Vec<f64> = rows
            .iter()
            .map(|r| format!("{:.6}", r.f[j]).parse::<f64>().unwrap_or(f64::NAN))
            .collect();
        t.insert(format!("f{j}"), Tensor::new(vec![n], TensorData::F64(v))?);
    }
    let plans = rows.iter().map(|r| r.plan.clone().into_bytes()).collect();
    t.insert(
        "plan".into(),
        Tensor::new(vec![n], TensorData::Bytes(plans))?,
    );
    Ok(t)
}

fn to_table(rows: &[Row]) -> Table {
    Table {
        columns: (0..FEATURES)
            .map(|j| {
                (
                    format!("f{j}"),
                    Column::Numeric(rows.iter().map(|r| r.f[j]).collect()),
                )
            })
            .collect(),
    }
}

/// P(churn) of each row from a `[n, 2]` probability output.
fn proba(r: &Routed) -> Result<Vec<f64>> {
    let t = r.outputs.get("y").context("output y")?;
    let n = t.shape().first().copied().unwrap_or(0);
    (0..n)
        .map(|i| t.data().get_f64(i * 2 + 1).context("a numeric output"))
        .collect()
}

/// One served request, logged as `mlops serve --log-predictions` logs it: the request goes
/// through the deployment, then its record is offered to the prediction log's sink (which
/// never blocks).
fn predict_logged(d: &Deployment, sink: &LogSink, id: String, rows: &[Row]) -> Result<Routed> {
    let arrived = std::time::SystemTime::now();
    let started = Instant::now();
    let inputs = to_inputs(rows)?;
    let logged = sink.sampled("churn").then(|| inputs.clone());
    let r = d.predict(inputs, &RouteOptions::default())?;
    if let Some(inputs) = logged {
        sink.offer(PredictionRecord {
            id,
            timestamp: arrived,
            model: "churn".into(),
            version: r.model.version,
            arm: r.arm.as_str().to_owned(),
            inputs,
            outputs: r.outputs.clone(),
            parameters: BTreeMap::new(),
            latency: started.elapsed(),
            error: None,
        });
    }
    Ok(r)
}

struct Traffic {
    requests: u64,
    failures: u64,
    by_version: BTreeMap<u64, u64>,
}

/// Sends single-row requests for `rows` from `threads` client threads, round after round,
/// until `done` holds (checked between requests) or `timeout` passes.
fn drive(
    d: &Deployment,
    rows: &[Row],
    threads: usize,
    done: &(dyn Fn(&Deployment) -> bool + Sync),
    timeout: Duration,
) -> Result<Traffic> {
    let stop = AtomicBool::new(false);
    let requests = AtomicU64::new(0);
    let failures = AtomicU64::new(0);
    let by_version = Mutex::new(BTreeMap::<u64, u64>::new());
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let (stop, requests, failures, by_version) = (&stop, &requests, &failures, &by_version);
            s.spawn(move || {
                let mut i = t;
                let mut local = BTreeMap::<u64, u64>::new();
                while !stop.load(Ordering::Relaxed) {
                    let row = &rows[i % rows.len()];
                    i += threads;
                    let Ok(x) = to_inputs(std::slice::from_ref(row)) else {
                        break;
                    };
                    match d.predict(x, &RouteOptions::default()) {
                        Ok(r) => *local.entry(r.model.version).or_default() += 1,
                        Err(_) => {
                            failures.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    requests.fetch_add(1, Ordering::Relaxed);
                }
                let mut all = by_version.lock().unwrap_or_else(|p| p.into_inner());
                for (v, n) in local {
                    *all.entry(v).or_default() += n;
                }
            });
        }
        while !done(d) && start.elapsed() < timeout {
            std::thread::sleep(Duration::from_millis(5));
        }
        stop.store(true, Ordering::Relaxed);
    });
    if !done(d) {
        bail!("timed out after {timeout:?} waiting for the deployment");
    }
    Ok(Traffic {
        requests: requests.into_inner(),
        failures: failures.into_inner(),
        by_version: by_version.into_inner().unwrap_or_else(|p| p.into_inner()),
    })
}

/// The training pipeline, as `mlops pipeline run` reads it. `work` is its output directory,
/// `groups` its preprocessing, `log_loss_change` the improvement over the champion the gate
/// asks for (none: value thresholds only).
fn pipeline_toml(work: &str, groups: &str, log_loss_change: Option<f64>) -> String {
    let change = log_loss_change
        .map(|c| format!("min_absolute_change = {c}\n"))
        .unwrap_or_default();
    format!(
        r#"name = "churn"
seed = 7

[[steps]]
name = "split"
kind = "split"
inputs = {{ data = "data/current.csv" }}
outputs = {{ train = "{work}/train.csv", holdout = "{work}/holdout.csv" }}
params = {{ holdout_fraction = 0.2, id_column = "id" }}

[[steps]]
name = "prep"
kind = "fit_transform"
inputs = {{ train = "@split.train" }}
outputs = {{ transform = "{work}/transform.json" }}
params = {{ groups = {groups} }}

[[steps]]
name = "tune"
kind = "tune"
inputs = {{ train = "@split.train", transform = "@prep.transform" }}
outputs = {{ best = "{work}/best.json", journal = "{work}/study.journal" }}
params = {{ trainer = "mlp", label = "churned", drop = ["id"], n_trials = 4, sampler = "tpe", fixed = {{ hidden = 16, epochs = 40, batch_size = 200 }}, space = {{ lr = {{ type = "float", low = 0.003, high = 0.1, log = true }}, weight_decay = {{ type = "float", low = 1e-6, high = 1e-2, log = true }} }} }}

[[steps]]
name = "train"
kind = "train_mlp"
inputs = {{ train = "@split.train", transform = "@prep.transform", params = "@tune.best" }}
outputs = {{ model = "{work}/model" }}
params = {{ label = "churned", drop = ["id"] }}

[gate]
candidate = "@train.model"
heldout = "@split.holdout"
label = "churned"
id = "id"
champion = "production"

[gate.metrics.roc_auc]
threshold = 0.85

[gate.metrics.log_loss]
threshold = 0.5
{change}
[register]
model = "churn"
alias = "canary"
first_alias = "production"
"#
    )
}

/// Numbers imputed and standardised; the plan one-hot encoded (`handle_unknown` as given).
fn groups(numeric: &[&str], handle_unknown: &str) -> String {
    let cols: Vec<String> = numeric.iter().map(|c| format!("\"{c}\"")).collect();
    format!(
        r#"[{{ name = "num", columns = [{}], steps = [{{ step = "simple_imputer", strategy = "mean" }}, {{ step = "standard_scaler" }}] }}, {{ name = "cat", columns = ["plan"], steps = [{{ step = "onehot_encoder", handle_unknown = "{handle_unknown}" }}] }}]"#,
        cols.join(", ")
    )
}

fn print_run(out: &mut impl Write, r: &RunReport) -> Result<()> {
    writeln!(out, "   run {} ({}):", &r.run_id[..12], r.trigger.label())?;
    for s in &r.steps {
        let status = match s.status {
            StepStatus::Ran => "ran",
            StepStatus::Cached => "cached",
            StepStatus::Failed => "FAILED",
            StepStatus::Skipped => "skipped",
        };
        let metrics: Vec<String> = s
            .metrics
            .iter()
            .filter(|(k, _)| {
                k.starts_with("best_") || k.starts_with("rows") || *k == "train_log_loss"
            })
            .map(|(k, v)| format!("{k} {v:.4}"))
            .collect();
        writeln!(
            out,
            "     {status:<7} {:<6} {:>6.2}s  {}",
            s.name,
            s.duration_s,
            metrics.join(", ")
        )?;
        if let Some(e) = &s.error {
            writeln!(out, "             {e}")?;
        }
    }
    if let Some(g) = &r.gate {
        let passed = g["passed"].as_bool() == Some(true);
        let vs = match g["champion"]["version"].as_u64() {
            Some(v) => format!("against production = v{v}"),
            None => "first model: value thresholds only".into(),
        };
        let mut cells = Vec::new();
        for m in g["metrics"].as_array().into_iter().flatten() {
            let base = m["baseline"]
                .as_f64()
                .map(|b| format!(" (champion {b:.4})"))
                .unwrap_or_default();
            cells.push(format!(
                "{} {:.4}{base}",
                m["metric"].as_str().unwrap_or("?"),
                m["candidate"].as_f64().unwrap_or(f64::NAN)
            ));
        }
        writeln!(
            out,
            "     gate {} ({vs}; {} held-out rows): {}",
            if passed { "passed" } else { "REFUSED" },
            g["n_rows"],
            cells.join(", ")
        )?;
        for reason in g["reasons"].as_array().into_iter().flatten() {
            writeln!(out, "       - {}", reason.as_str().unwrap_or("?"))?;
        }
    }
    match &r.registered {
        Some(reg) => writeln!(
            out,
            "     registered churn/{}{}",
            reg.version,
            reg.alias
                .as_ref()
                .map(|a| format!(" and set {a} -> v{}", reg.version))
                .unwrap_or_default()
        )?,
        None => writeln!(out, "     not registered")?,
    }
    Ok(())
}

fn run_pipeline(
    runner: &Runner,
    dir: &Path,
    file: &str,
    text: &str,
    registry: &dyn Registry,
    trigger: TriggerCause,
) -> Result<RunReport> {
    let path = dir.join(file);
    std::fs::write(&path, text)?;
    let p = Pipeline::load(&path)?;
    let opts = RunOptions {
        cache_dir: Some(dir.join("pipeline-cache")),
        trigger,
        ..RunOptions::default()
    };
    let r = runner.run_and_register(&p, &opts, Some(registry))?;
    ensure!(r.steps_ok(), "a pipeline step failed: {r:#?}");
    Ok(r)
}

/// A webhook receiver on loopback: every POSTed JSON body, in order.
fn webhook_receiver() -> Result<(String, Arc<Mutex<Vec<serde_json::Value>>>)> {
    use std::io::{BufRead, BufReader, Read};
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}/alerts", listener.local_addr()?);
    let got: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let sink = Arc::clone(&got);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let Ok(clone) = s.try_clone() else { continue };
            let mut reader = BufReader::new(clone);
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                    break;
                }
                if let Some((k, v)) = line.split_once(':') {
                    if k.eq_ignore_ascii_case("content-length") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                }
            }
            let mut body = vec![0; len];
            if reader.read_exact(&mut body).is_ok() {
                if let Ok(v) = serde_json::from_slice(&body) {
                    if let Ok(mut g) = sink.lock() {
                        g.push(v);
                    }
                }
            }
            let _ =
                s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    Ok((url, got))
}

const QUICKSTART_RULES: &str = r#"
# Live accuracy outside the band of the reference windows (mean +- 3 sigma, NannyML's rule).
[[rule]]
name = "accuracy_drop"
metric = "accuracy"
condition = { band = "reference", sigma = 3.0 }
min_samples = 100
severity = "critical"
annotations = { summary = "live accuracy left its reference band" }

# Half the input columns or more drifted against the training profile.
[[rule]]
name = "input_drift"
metric = "drift_share"
condition = { above = 0.25 }
severity = "warning"
"#;

fn wait_for(what: &str, timeout: Duration, cond: impl Fn() -> bool) -> Result<()> {
    let start = Instant::now();
    while !cond() {
        if start.elapsed() > timeout {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

fn print_events(out: &mut impl Write, events: &[DeploymentEvent]) -> Result<()> {
    for e in events {
        let what = match &e.kind {
            DeployEvent::CandidateSet {
                version, strategy, ..
            } => format!(
                "candidate v{version} deployed, {}",
                match strategy {
                    Strategy::Canary { weight } => format!("canary at {:.0}%", weight * 100.0),
                    other => format!("{other:?}"),
                }
            ),
            DeployEvent::Step { version, weight } => {
                format!("v{version} stepped to {:.0}% of traffic", weight * 100.0)
            }
            DeployEvent::Promoted { from, to } => format!("promoted v{to} (was v{from})"),
            DeployEvent::RolledBack { from, to } => {
                format!("rolled back v{from}; v{to} serves everything")
            }
            DeployEvent::CheckFailed {
                version,
                consecutive,
            } => format!("check of v{version} failed ({consecutive} in a row)"),
            other => other.label().to_owned(),
        };
        writeln!(
            out,
            "   [{}] {what} — {}{}",
            e.actor,
            e.reason,
            if e.automatic { " (automatic)" } else { "" }
        )?;
    }
    Ok(())
}

/// One line per audit-log event.
fn describe(kind: &EventKind) -> String {
    match kind {
        EventKind::AliasSet {
            alias,
            version,
            previous,
        } => match previous {
            Some(p) => format!("{alias}: v{p} -> v{version}"),
            None => format!("{alias}: set to v{version}"),
        },
        EventKind::AliasRolledBack { alias, from, to } => {
            format!("{alias}: rolled back v{from} -> v{to}")
        }
        EventKind::AliasRemoved { alias, previous } => {
            format!("{alias}: removed (was v{previous})")
        }
        other => format!("{other:?}"),
    }
}

/// Runs the quickstart in `dir`, telling the story on `out`.
///
/// # Errors
/// When a file cannot be written, a pipeline run or a metric fails, or the deployment does
/// not reach the expected state within its time limit.
pub fn run(dir: &Path, out: &mut impl Write) -> Result<Summary> {
    let mut rng = StdRng::seed_from_u64(7);
    writeln!(out, "mlops-rs quickstart in {}", dir.display())?;
    let runner = Runner::new().with_builtins();
    let registry: Arc<dyn Registry> = Arc::new(FileRegistry::open(dir.join("registry"))?);
    let name = ModelName::new("churn")?;
    let production = AliasName::new("production")?;
    let canary = AliasName::new("canary")?;
    let mut runs = Vec::new();

    writeln!(out, "\n1. Customer data lands: snapshot it")?;
    let day1_rows = customers(&mut rng, 5000, 1.5);
    let current = dir.join("data/current.csv");
    write_csv(&current, &day1_rows, "d1-")?;
    let day1 = SnapshotBuilder::new()
        .path(&current)
        .with_source_uri(format!("file://{}", current.display()))
        .build()?;
    writeln!(
        out,
        "   data/current.csv: {} rows, {} bytes, digest {}",
        day1.row_count.unwrap_or(0),
        day1.total_bytes,
        day1.digest
    )?;

    writeln!(
        out,
        "\n2. Run the training pipeline: split, fit the preprocessing, tune an MLP (TPE), train, gate, register"
    )?;
    let all = ["f0", "f1", "f2", "f3"];
    let spec = pipeline_toml("work", &groups(&all, "ignore"), Some(0.01));
    let r1 = run_pipeline(
        &runner,
        dir,
        "pipeline.toml",
        &spec,
        registry.as_ref(),
        TriggerCause::Manual,
    )?;
    print_run(out, &r1)?;
    let v1 = r1
        .registered
        .as_ref()
        .map(|r| r.version)
        .context("v1 registered")?;
    runs.push(r1);

    writeln!(
        out,
        "\n3. Serve churn@production: a registry-driven deployment that follows `production` and `canary`"
    )?;
    let policy = RolloutPolicy {
        min_requests: 200,
        max_error_rate: 0.01,
        max_p99: Some(Duration::from_millis(500)),
        failed_checks: 3,
        steps: vec![0.5, 1.0],
        checks_per_step: 2,
        interval: Duration::from_millis(200),
        ..RolloutPolicy::default()
    };
    writeln!(
        out,
        "   rollout policy: a check every {:?} over >= {} canary requests; fail when error rate > {} or p99 > {:?}; \
         {} failed checks in a row roll back; {} passed checks step the canary through {:?}",
        policy.interval, policy.min_requests, policy.max_error_rate, Duration::from_millis(500),
        policy.failed_checks, policy.checks_per_step, policy.steps
    )?;
    let metrics = Metrics::new();
    let config = WatchConfig {
        candidate: Some((canary.clone(), Strategy::Canary { weight: 0.1 })),
        engine: EngineConfig {
            max_batch_size: 32,
            max_delay: Duration::from_micros(500),
            ..EngineConfig::default()
        },
        metrics: metrics.clone(),
        policy,
        poll_interval: Duration::from_millis(50),
        ..WatchConfig::new(name.clone(), production.clone(), dir.join("serve-cache"))
    };
    let watched = RegistryDeployment::start(registry.clone(), config)?;
    let d = watched.deployment().clone();
    let sig = registry
        .version(&name, v1)?
        .version
        .signature
        .context("v1 records its signature")?;
    writeln!(
        out,
        "   v{} takes raw columns: {}",
        d.stable_version().version,
        sig.inputs
            .fields
            .iter()
            .map(|f| format!("{} {:?}", f.name, f.dtype))
            .collect::<Vec<_>>()
            .join(", ")
    )?;
    // Every served prediction goes to a prediction log, as `mlops serve --log-predictions`.
    let log = PredictionLog::open(
        LogConfig::new(dir.join("predictions")).with_flush_interval(Duration::from_millis(50)),
    )?;
    let sink = LogSink::new(log.handle(), SinkConfig::default())?;
    let sink = &sink;
    let eval_rows = customers(&mut rng, 1000, 1.5);
    let served: Vec<f64> = std::thread::scope(|s| -> Result<Vec<f64>> {
        let handles: Vec<_> = eval_rows
            .chunks(10)
            .enumerate()
            .map(|(k, chunk)| {
                let d = d.clone();
                s.spawn(move || -> Result<Vec<f64>> {
                    proba(&predict_logged(&d, sink, format!("eval-{k}"), chunk)?)
                })
            })
            .collect();
        let mut all = Vec::new();
        for h in handles {
            all.extend(
                h.join()
                    .map_err(|_| anyhow::anyhow!("client thread panicked"))??,
            );
        }
        Ok(all)
    })?;
    // The pipeline's model directory, scored here on the same rows.
    let local =
        mlops_serve::load_model_dir(ModelIdentity::new("churn", v1)?, &dir.join("work/model"))?;
    let local_out = local.predict(&to_inputs(&eval_rows)?)?;
    let local_t = local_out.get("y").context("output y")?;
    ensure!(served.len() == eval_rows.len(), "one prediction per row");
    let max_serving_diff = served
        .iter()
        .enumerate()
        .map(|(i, &p)| (p - local_t.data().get_f64(i * 2 + 1).unwrap_or(f64::NAN)).abs())
        .fold(0.0, f64::max);
    writeln!(
        out,
        "   100 concurrent requests of 10 rows: v{} answered; max |served - pipeline's model| = {max_serving_diff:.1e}",
        d.stable_version().version
    )?;

    writeln!(out, "\n4. Traffic shifts: customers now look different")?;
    // f0 and f1 move by +0.8 for everyone: the inputs drift and P(churn | x) changes.
    let mut new_rows = customers(&mut rng, 4000, 1.5);
    for r in &mut new_rows {
        r.f[0] += 0.8;
        r.f[1] += 0.8;
    }
    let window = &new_rows[..2000];
    let mut sent = 0u64;
    for (k, chunk) in window.chunks(20).enumerate() {
        predict_logged(&d, sink, format!("shift-{k}"), chunk)?;
        sent += 1;
    }
    let profile = ReferenceProfile::fit_table(&to_table(&day1_rows), ProfileConfig::default())?;
    let drift = DriftReport::compare(&profile, &to_table(window), &DriftConfig::default())?;
    writeln!(
        out,
        "   served {} rows in {sent} requests; drift report of the served inputs against the training data:",
        window.len()
    )?;
    for c in &drift.columns {
        if let Some(dec) = &c.decision {
            let psi = c.tests.get("psi").map_or(f64::NAN, |t| t.value);
            writeln!(
                out,
                "   {:<3} {:<17} = {:.3} (threshold {}), PSI {psi:.3}  {}",
                c.column,
                dec.test,
                dec.value,
                dec.threshold,
                if c.drifted { "DRIFT" } else { "ok" }
            )?;
        }
    }
    let drifted_columns: Vec<String> = drift
        .columns
        .iter()
        .filter(|c| c.drifted)
        .map(|c| c.column.clone())
        .collect();
    writeln!(
        out,
        "   {}/{} columns drifted",
        drift.dataset.n_drifted, drift.dataset.n_columns
    )?;

    writeln!(
        out,
        "\n   Ground truth arrives late: join it to the logged predictions, watch every window"
    )?;
    log.flush()?;
    let stats = log.stats();
    let mut labels: Vec<(String, Value)> = Vec::new();
    for (k, chunk) in eval_rows.chunks(10).enumerate() {
        for (i, r) in chunk.iter().enumerate() {
            labels.push((format!("eval-{k}/{i}"), Value::Num(r.label as f64)));
        }
    }
    for (k, chunk) in window.chunks(20).enumerate() {
        for (i, r) in chunk.iter().enumerate() {
            labels.push((format!("shift-{k}/{i}"), Value::Num(r.label as f64)));
        }
    }
    // A label sent twice and one for an id nobody served: counted and kept, never lost.
    labels.push((
        "eval-0/0".to_owned(),
        Value::Num(1.0 - eval_rows[0].label as f64),
    ));
    labels.push(("no-such-prediction".to_owned(), Value::Num(1.0)));
    let mut store = LabelStore::open(log.dir())?;
    let ingest = store.ingest(&labels, now_ms(), log.ids().as_ref())?;
    writeln!(
        out,
        "   {} predictions logged ({} dropped); {} labels: {} matched, {} duplicate, {} unknown",
        stats.written,
        stats.dropped,
        ingest.received,
        ingest.matched,
        ingest.duplicate,
        ingest.unknown
    )?;
    let logged = LogReader::open(log.dir())?.read_all()?;
    let label_truth: std::collections::HashMap<String, Value> = labels
        .iter()
        .rev()
        .map(|(id, v)| (id.clone(), v.clone()))
        .collect();
    // The evaluation traffic (the first 1000 logged rows) is the reference period: CBPE is
    // fitted on its scores and labels, the alert band on its windows' accuracy.
    let (mut ref_scores, mut ref_labels, mut ref_pred) = (Vec::new(), Vec::new(), Vec::new());
    for p in logged.iter().filter(|p| p.id.starts_with("eval-")) {
        if let (Some(score), Some(label), Some(pred)) =
            (p.positive_score(), label_truth.get(&p.id), &p.prediction)
        {
            ref_scores.push(score);
            ref_labels.push(label.class_key() == "1");
            ref_pred.push(pred.class_key() == "1");
        }
    }
    let cbpe = Cbpe::fit(&ref_scores, &ref_labels, &ref_pred, &Default::default())?;
    let logged_profile =
        ReferenceProfile::fit_table(&to_table(&day1_rows), ProfileConfig::default())?;
    let mut cfg = ReportConfig::new(WindowSpec::Rows(500));
    cfg.reference = Some(&logged_profile);
    cfg.estimator = Some(&cbpe);
    let (mut eval_logged, shifted_logged): (Vec<_>, Vec<_>) =
        logged.into_iter().partition(|p| p.id.starts_with("eval-"));
    // The 100 client threads reach the log in any order; the reference windows are the
    // evaluation rows in the order they were drawn (`eval-{chunk}/{row}`), so that the same
    // seed always gives the same windows.
    let order = |id: &str| -> (u64, u64) {
        let rest = id.trim_start_matches("eval-");
        let (k, i) = rest.split_once('/').unwrap_or((rest, "0"));
        (k.parse().unwrap_or(u64::MAX), i.parse().unwrap_or(u64::MAX))
    };
    eval_logged.sort_by_key(|p| order(&p.id));
    let label_of = |id: &str| label_truth.get(id).cloned();
    let set = build_states(
        eval_logged.into_iter().chain(shifted_logged),
        &label_of,
        &cfg,
    )?;
    let monitor = MonitorReport::from_states(&set, &cfg)?;
    let values = monitor.values();
    let n_ref = 1000 / 500;
    writeln!(
        out,
        "   window  rows  labelled  accuracy  CBPE accuracy [±3 SE]     drift share"
    )?;
    let (mut window_accuracy, mut window_estimated, mut window_drift) =
        (Vec::new(), Vec::new(), Vec::new());
    for (i, v) in values.iter().enumerate() {
        let get = |k: &str| v.values.get(k).copied().unwrap_or(f64::NAN);
        window_accuracy.push(get("accuracy"));
        window_estimated.push(get("estimated.accuracy"));
        window_drift.push(get("drift_share"));
        writeln!(
            out,
            "   {:>6}  {:>4}  {:>8}  {:>8.3}  {:.3} [{:.3}, {:.3}]    {:>5.2}  {}",
            i + 1,
            v.n_predictions,
            v.n_labelled,
            get("accuracy"),
            get("estimated.accuracy"),
            get("estimated.accuracy.lower"),
            get("estimated.accuracy.upper"),
            get("drift_share"),
            if i < n_ref {
                "reference"
            } else {
                "shifted traffic"
            }
        )?;
    }

    writeln!(
        out,
        "\n5. The alerts fire and the loop runs by itself: alert -> pipeline -> gate -> canary -> promotion"
    )?;
    // The labelled shifted customers land as the pipeline's new data.
    write_csv(&current, &new_rows, "d2-")?;
    let day2 = SnapshotBuilder::new()
        .path(&current)
        .with_parent(day1.digest)
        .build()?;
    writeln!(
        out,
        "   data/current.csv now holds the {} labelled customers of the shifted period (digest {}, parent {})",
        day2.row_count.unwrap_or(0),
        &day2.digest.to_hex()[..12],
        &day1.digest.to_hex()[..12]
    )?;
    let trigger = AlertTrigger::start(AlertTriggerConfig {
        pipeline: Pipeline::load(&dir.join("pipeline.toml"))?,
        runner: runner.clone(),
        registry: Some(registry.clone()),
        rules: vec!["accuracy_drop".into(), "input_drift".into()],
        options: RunOptions {
            cache_dir: Some(dir.join("pipeline-cache")),
            ..RunOptions::default()
        },
        debounce: Duration::from_secs(600),
        debounce_state: None,
    })?;
    let (url, received) = webhook_receiver()?;
    let rules = RuleSet::parse(QUICKSTART_RULES, "quickstart rules")?;
    let mut engine = AlertEngine::open(rules, dir.join("alert-state.json"))?;
    engine.on_event(trigger.hook());
    let seen = d.events().len();
    let events = engine.evaluate(&values, &values[..n_ref.min(values.len())], now_ms())?;
    WebhookSink::new(url).send(&events, &engine.active())?;
    let mut alerts_fired: Vec<String> = Vec::new();
    if let Ok(bodies) = received.lock() {
        for body in bodies.iter() {
            for e in body["events"].as_array().into_iter().flatten() {
                if e["to"] == "firing" {
                    let rule = e["alert"]["rule"].as_str().unwrap_or("?").to_owned();
                    writeln!(
                        out,
                        "   webhook got: {rule} firing ({} = {}, bound {})",
                        e["alert"]["annotations"]["metric"].as_str().unwrap_or("?"),
                        e["alert"]["annotations"]["value"].as_str().unwrap_or("?"),
                        e["alert"]["bound"].as_str().unwrap_or("?"),
                    )?;
                    if !alerts_fired.contains(&rule) {
                        alerts_fired.push(rule);
                    }
                }
            }
        }
    }
    let firing = engine
        .active()
        .iter()
        .filter(|a| a.state == AlertState::Firing)
        .count();
    writeln!(
        out,
        "   {firing} alert(s) firing; the hook queued a pipeline run for each (one run at a time, debounced 10 min)"
    )?;
    ensure!(
        trigger.wait_idle(Duration::from_secs(600)),
        "the triggered pipeline run did not finish"
    );
    let mut trigger_outcomes = Vec::new();
    for o in trigger.outcomes() {
        match o {
            TriggerOutcome::Ran(r) => {
                trigger_outcomes.push(format!("ran:{}", r.trigger.label()));
                print_run(out, &r)?;
                runs.push(*r);
            }
            TriggerOutcome::Debounced { cause } => {
                writeln!(
                    out,
                    "   {}: debounced (a run started moments ago)",
                    cause.label()
                )?;
                trigger_outcomes.push(format!("debounced:{}", cause.label()));
            }
            TriggerOutcome::Locked { cause } => {
                trigger_outcomes.push(format!("locked:{}", cause.label()))
            }
            TriggerOutcome::Error { cause, error } => {
                bail!("the run triggered by {} failed: {error}", cause.label())
            }
        }
    }
    drop(trigger);
    let v2 = runs
        .last()
        .and_then(|r| r.registered.as_ref())
        .and_then(|r| r.alias.is_some().then_some(r.version))
        .context("the triggered run registered v2")?;
    wait_for("the watcher to deploy v2", Duration::from_secs(10), || {
        d.candidate().is_some_and(|(id, _)| id.version == v2)
    })?;
    let v2_phase = drive(
        &d,
        &new_rows,
        4,
        &|d| d.stable_version().version == v2,
        Duration::from_secs(60),
    )?;
    print_events(out, &d.events()[seen..])?;
    writeln!(
        out,
        "   clients sent {} requests: {:?} by version, {} failed",
        v2_phase.requests, v2_phase.by_version, v2_phase.failures
    )?;
    wait_for("production to move to v2", Duration::from_secs(5), || {
        registry
            .aliases(&name)
            .is_ok_and(|a| a.get(&production) == Some(&v2))
    })?;
    writeln!(
        out,
        "   the controller moved production -> v{v2} in the registry"
    )?;

    writeln!(
        out,
        "\n6. A deliberately worse config (f0 and f1 left out) is refused by the gate"
    )?;
    let worse = pipeline_toml("work-worse", &groups(&["f2", "f3"], "ignore"), Some(0.01));
    let rw = run_pipeline(
        &runner,
        dir,
        "worse.toml",
        &worse,
        registry.as_ref(),
        TriggerCause::Manual,
    )?;
    print_run(out, &rw)?;
    ensure!(rw.registered.is_none(), "the worse config was registered");
    runs.push(rw);

    writeln!(
        out,
        "\n7. v3 refuses unknown plans (handle_unknown = \"error\"); a lenient gate passes it, the traffic does not"
    )?;
    let v3_spec = pipeline_toml("work-v3", &groups(&all, "error"), None);
    let r3 = run_pipeline(
        &runner,
        dir,
        "v3.toml",
        &v3_spec,
        registry.as_ref(),
        TriggerCause::Manual,
    )?;
    print_run(out, &r3)?;
    let v3 = r3
        .registered
        .as_ref()
        .and_then(|r| r.alias.is_some().then_some(r.version))
        .context("v3 registered")?;
    runs.push(r3);
    let seen = d.events().len();
    wait_for("the watcher to deploy v3", Duration::from_secs(10), || {
        d.candidate().is_some_and(|(id, _)| id.version == v3)
    })?;
    // A new plan launches: one customer in ten is on "trial", a value no model was fitted on.
    let mut launch = customers(&mut rng, 2000, 1.5);
    for (i, r) in launch.iter_mut().enumerate() {
        if i % 10 == 0 {
            r.plan = "trial".into();
        }
    }
    let v3_phase = drive(
        &d,
        &launch,
        4,
        &|d| d.candidate().is_none(),
        Duration::from_secs(60),
    )?;
    print_events(out, &d.events()[seen..])?;
    writeln!(
        out,
        "   clients sent {} requests: {:?} by version, {} failed (v3 refused the \"trial\" plan; v2 encodes it as all-zero)",
        v3_phase.requests, v3_phase.by_version, v3_phase.failures
    )?;
    wait_for(
        "the canary alias to be removed",
        Duration::from_secs(5),
        || {
            registry
                .aliases(&name)
                .is_ok_and(|a| !a.contains_key(&canary))
        },
    )?;
    let aliases = registry.aliases(&name)?;
    writeln!(
        out,
        "   aliases now: {}",
        aliases
            .iter()
            .map(|(a, v)| format!("{a} -> v{v}"))
            .collect::<Vec<_>>()
            .join(", ")
    )?;

    writeln!(
        out,
        "\n8. The registry's audit log, lineage and the serving metrics"
    )?;
    let history = registry.history(&name)?;
    for e in &history {
        writeln!(
            out,
            "   #{} {} {} by {} ({})",
            e.seq,
            e.at.format("%H:%M:%S"),
            describe(&e.kind),
            e.change.who,
            e.change.reason
        )?;
    }
    let mut tags = BTreeMap::new();
    let mut parents = BTreeMap::new();
    let mut versions = Vec::new();
    for v in registry.versions(&name)? {
        let mv = v.version;
        writeln!(
            out,
            "   v{}: trigger {}, parent {}, datasets {}, lr {}",
            mv.version,
            mv.tags.get("mlops.trigger").map_or("?", String::as_str),
            mv.lineage
                .parent_version
                .map_or("-".to_owned(), |p| format!("v{p}")),
            mv.lineage
                .datasets
                .iter()
                .map(|d| d.to_hex()[..12].to_owned())
                .collect::<Vec<_>>()
                .join(", "),
            mv.params.get("tune.best.lr").map_or("?", String::as_str)
        )?;
        versions.push(mv.version);
        parents.insert(mv.version, mv.lineage.parent_version);
        tags.insert(mv.version, mv.tags);
    }
    let text = metrics.encode()?;
    let mut unknown_plan_ratio = BTreeMap::new();
    for line in text.lines() {
        if line.starts_with("mlops_serve_routed_requests_total")
            || line.starts_with("mlops_serve_routed_failures_total")
            || line.starts_with("mlops_serve_unknown_category_ratio")
        {
            writeln!(out, "   {line}")?;
        }
        if line.starts_with("mlops_serve_unknown_category_ratio")
            && line.contains("column=\"plan\"")
        {
            let version = line
                .split("version=\"")
                .nth(1)
                .and_then(|s| s.split('"').next())
                .and_then(|s| s.parse::<u64>().ok());
            let value = line.rsplit(' ').next().and_then(|s| s.parse::<f64>().ok());
            if let (Some(v), Some(x)) = (version, value) {
                unknown_plan_ratio.insert(v, x);
            }
        }
    }
    let served_requests: u64 = text
        .lines()
        .filter(|l| l.starts_with("mlops_serve_requests_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    writeln!(out, "   {served_requests} requests served in all")?;
    writeln!(out, "\ndone.")?;
    let events = d.events();
    drop(watched);
    log.close()?;
    Ok(Summary {
        day1,
        day2,
        runs,
        trigger_outcomes,
        versions,
        production: aliases.get(&production).copied().unwrap_or(0),
        canary_alias_left: aliases.contains_key(&canary),
        history,
        tags,
        parents,
        events,
        max_serving_diff,
        drifted_columns,
        failures_during_v2: v2_phase.failures,
        v2_phase_by_version: v2_phase.by_version,
        failures_during_v3: v3_phase.failures,
        served_requests,
        window_accuracy,
        window_estimated_accuracy: window_estimated,
        window_drift_share: window_drift,
        labels_matched: ingest.matched,
        alerts_fired,
        unknown_plan_ratio,
    })
}
