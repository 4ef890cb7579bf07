//! The end-to-end quickstart: the life of a model on the embedded file registry.
//!
//! 1. generate a dataset and snapshot it (content digest, lineage);
//! 2. train a small candle classifier (an MLP, candle-nn's AdamW) and score it with
//!    scikit-learn-equal metrics;
//! 3. register v1 with its metrics, signature and lineage, and alias it `production`;
//! 4. serve `churn@production` through a registry-driven deployment (dynamic batching,
//!    rollout controller, alias watcher) and check it answers with the trained probabilities;
//! 5. drive traffic whose distribution shifts, and let a drift report flag it;
//! 6. retrain v2 on the newer data, point the `canary` alias at it: the watcher deploys it at
//!    10 %, the controller steps it to 50 % and promotes it, moving `production` in the registry;
//! 7. a deliberately faulty v3 goes out as a canary and is rolled back automatically, its
//!    alias removed with the reason;
//! 8. print the registry's audit log, the deployment's events and the serving metrics.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use candle_core::{DType, Device, Module, D};
use candle_nn::{Optimizer, VarBuilder, VarMap};
use mlops_core::metrics::{self, ClassificationReport};
use mlops_core::{AliasName, DatasetSnapshot, Lineage, ModelName, SnapshotBuilder};
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
use mlops_registry::{Change, EventKind, FileRegistry, NewVersion, Registry};
use mlops_serve::deploy::Routed;
use mlops_serve::deploy::{
    Deployment, DeploymentEvent, EventKind as DeployEvent, RolloutPolicy, RouteOptions, Strategy,
};
use mlops_serve::sink::{PredictionRecord, PredictionSink};
use mlops_serve::{
    EngineConfig, FeedForward, Metrics, ModelIdentity, Predictor, RegistryDeployment, Tensor,
    Tensors, WatchConfig,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const FEATURES: usize = 4;
const HIDDEN: usize = 16;

/// What the quickstart produced, for the test to check.
#[derive(Debug)]
pub struct Summary {
    /// Snapshot of the training data.
    pub train: DatasetSnapshot,
    /// Snapshot of the evaluation data.
    pub eval: DatasetSnapshot,
    /// Metrics of v1 on the evaluation data.
    pub report: ClassificationReport<usize>,
    /// ROC AUC of v1 on the evaluation data.
    pub roc_auc: f64,
    /// Log loss of v1 on the evaluation data.
    pub log_loss: f64,
    /// Training loss of v1, first and last epoch.
    pub train_loss: (f32, f32),
    /// Versions registered (v1, v2, v3).
    pub versions: Vec<u64>,
    /// Version the `production` alias points to at the end.
    pub production: u64,
    /// Whether the `canary` alias still exists at the end.
    pub canary_alias_left: bool,
    /// The registry's audit log.
    pub history: Vec<mlops_registry::Event>,
    /// The deployment's events.
    pub events: Vec<DeploymentEvent>,
    /// Largest absolute difference between served and training-time probabilities.
    pub max_serving_diff: f64,
    /// Columns the drift report flagged on the shifted traffic.
    pub drifted_columns: Vec<String>,
    /// Client-visible failures while v2 was a canary (expected: none).
    pub failures_during_v2: u64,
    /// Requests answered by each version while v2 was a canary.
    pub v2_phase_by_version: BTreeMap<u64, u64>,
    /// Client-visible failures while faulty v3 was a canary, before its rollback.
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
}

/// One served request, logged as `mlops serve --log-predictions` logs it: the request goes
/// through the deployment, then its record is offered to the prediction log's sink (which
/// never blocks).
fn predict_logged(d: &Deployment, sink: &LogSink, id: String, rows: &[Vec<f64>]) -> Result<Routed> {
    let arrived = std::time::SystemTime::now();
    let started = Instant::now();
    let inputs = Tensors::from([("x".to_owned(), to_tensor(rows)?)]);
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

/// Two Gaussian blobs in `dim` dimensions; class 1 is shifted by `shift` on every axis.
fn blobs(rng: &mut StdRng, n: usize, dim: usize, shift: f64) -> (Vec<Vec<f64>>, Vec<usize>) {
    let mut x = Vec::with_capacity(n);
    let mut y = Vec::with_capacity(n);
    for _ in 0..n {
        let label = usize::from(rng.gen_bool(0.5));
        let row = (0..dim)
            .map(|_| {
                // Box–Muller: a standard normal from two uniforms.
                let (u1, u2): (f64, f64) = (rng.gen_range(1e-12..1.0), rng.gen());
                let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
                z + shift * label as f64
            })
            .collect();
        x.push(row);
        y.push(label);
    }
    (x, y)
}

fn write_csv(path: &Path, x: &[Vec<f64>], y: &[usize]) -> Result<()> {
    let mut out = String::new();
    let dim = x.first().map_or(0, Vec::len);
    let header: Vec<String> = (0..dim).map(|i| format!("f{i}")).collect();
    out.push_str(&header.join(","));
    out.push_str(",label\n");
    for (row, label) in x.iter().zip(y) {
        for v in row {
            out.push_str(&format!("{v:.6},"));
        }
        out.push_str(&format!("{label}\n"));
    }
    std::fs::write(path, out).with_context(|| format!("writing {}", path.display()))
}

/// A 4 → 16 (ReLU) → 2 MLP trained with candle-nn's AdamW on the cross-entropy loss.
struct Trained {
    varmap: VarMap,
    /// P(class 1) on the evaluation rows, computed by the training graph.
    eval_proba: Vec<f64>,
    loss: (f32, f32),
}

fn train_mlp(
    rng: &mut StdRng,
    x: &[Vec<f64>],
    y: &[usize],
    x_eval: &[Vec<f64>],
    epochs: usize,
) -> Result<Trained> {
    let dev = Device::Cpu;
    let mut varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &dev);
    let l0 = candle_nn::linear(FEATURES, HIDDEN, vb.pp("l0"))?;
    let l1 = candle_nn::linear(HIDDEN, 2, vb.pp("l1"))?;
    // candle's CPU initialiser cannot be seeded: overwrite it with PyTorch's default
    // (uniform ±1/sqrt(fan_in)) drawn from the quickstart's seeded generator.
    for (name, shape, fan_in) in [
        ("l0.weight", (HIDDEN, FEATURES), FEATURES),
        ("l0.bias", (HIDDEN, 1), FEATURES),
        ("l1.weight", (2, HIDDEN), HIDDEN),
        ("l1.bias", (2, 1), HIDDEN),
    ] {
        let k = 1.0 / (fan_in as f32).sqrt();
        let n = shape.0 * shape.1;
        let v: Vec<f32> = (0..n).map(|_| rng.gen_range(-k..k)).collect();
        let t = if name.ends_with("bias") {
            candle_core::Tensor::from_vec(v, shape.0, &dev)?
        } else {
            candle_core::Tensor::from_vec(v, shape, &dev)?
        };
        varmap.set_one(name, t)?;
    }
    let xs = to_candle(x)?;
    let labels: Vec<u32> = y.iter().map(|&l| l as u32).collect();
    let ys = candle_core::Tensor::from_vec(labels, y.len(), &dev)?;
    let params = candle_nn::ParamsAdamW {
        lr: 0.05,
        ..Default::default()
    };
    let mut opt = candle_nn::AdamW::new(varmap.all_vars(), params)?;
    let forward = |t: &candle_core::Tensor| -> candle_core::Result<candle_core::Tensor> {
        l1.forward(&l0.forward(t)?.relu()?)
    };
    let mut first = f32::NAN;
    let mut last = f32::NAN;
    for epoch in 0..epochs {
        let loss = candle_nn::loss::cross_entropy(&forward(&xs)?, &ys)?;
        opt.backward_step(&loss)?;
        last = loss.to_scalar::<f32>()?;
        if epoch == 0 {
            first = last;
        }
    }
    let probs = candle_nn::ops::softmax(&forward(&to_candle(x_eval)?)?, D::Minus1)?;
    let eval_proba: Vec<f64> = probs
        .to_vec2::<f32>()?
        .iter()
        .map(|r| f64::from(r[1]))
        .collect();
    Ok(Trained {
        varmap,
        eval_proba,
        loss: (first, last),
    })
}

fn to_candle(rows: &[Vec<f64>]) -> Result<candle_core::Tensor> {
    let data: Vec<f32> = rows.iter().flatten().map(|&v| v as f32).collect();
    Ok(candle_core::Tensor::from_vec(
        data,
        (rows.len(), FEATURES),
        &Device::Cpu,
    )?)
}

/// Writes the model in mlops-serve's feed-forward format: the VarMap's safetensors (PyTorch's
/// `[out, in]` layout, names `l0.weight`, ...) and a JSON spec naming the layers.
fn save_model(dir: &Path, varmap: &VarMap) -> Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(dir)?;
    let spec = dir.join("model.json");
    let weights = dir.join("model.safetensors");
    std::fs::write(
        &spec,
        r#"{"input": "x", "output": "probs", "feature_names": ["f0", "f1", "f2", "f3"],
 "layers": [{"weight": "l0.weight", "bias": "l0.bias", "activation": "relu"},
            {"weight": "l1.weight", "bias": "l1.bias", "activation": "softmax"}]}"#,
    )?;
    varmap.save(&weights)?;
    Ok((spec, weights))
}

/// v3, deliberately broken: v2's first layer multiplied by 3e38, as after training that
/// diverged. On the all-zero warm-up input it answers normally (0 · w = 0); on real rows the
/// products overflow to ±inf and the softmax turns them into NaN.
fn corrupt(v2: &VarMap) -> Result<VarMap> {
    let mut bad = VarMap::new();
    let data = v2.data().lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
    {
        let vb = VarBuilder::from_varmap(&bad, DType::F32, &Device::Cpu);
        candle_nn::linear(FEATURES, HIDDEN, vb.pp("l0"))?;
        candle_nn::linear(HIDDEN, 2, vb.pp("l1"))?;
    }
    for (name, var) in data.iter() {
        let t = var.as_tensor();
        let t = if name == "l0.weight" {
            t.affine(3e38, 0.0)?
        } else {
            t.clone()
        };
        bad.set_one(name, t)?;
    }
    Ok(bad)
}

/// What clients saw while driving traffic.
#[derive(Default)]
struct Traffic {
    requests: u64,
    failures: u64,
    by_version: BTreeMap<u64, u64>,
}

/// Sends single-row requests for `rows` from `threads` client threads, round after round,
/// until `done` holds (checked between requests) or `timeout` passes.
fn drive(
    d: &Deployment,
    rows: &[Vec<f64>],
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
                    let Ok(x) = to_tensor(std::slice::from_ref(row)) else {
                        break;
                    };
                    match d.predict(
                        Tensors::from([("x".to_owned(), x)]),
                        &RouteOptions::default(),
                    ) {
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

fn register_version(
    registry: &dyn Registry,
    name: &ModelName,
    dir: &Path,
    varmap: &VarMap,
    description: &str,
    metrics_: &[(&str, f64)],
    lineage: Lineage,
) -> Result<(u64, mlops_core::Signature)> {
    let (spec, weights) = save_model(dir, varmap)?;
    // The signature the serving model derives from its spec, recorded so that loading it back
    // from the registry checks the two agree.
    let local = FeedForward::load(ModelIdentity::new(name.as_str(), 1)?, &spec, &weights)?;
    let signature = local.signature().clone();
    let mut new = NewVersion::new(name.clone())
        .with_description(description)
        .with_artifact_file(&spec)?
        .with_artifact_file(&weights)?
        .with_format("safetensors")
        .with_signature(signature.clone())
        .with_param("optimizer", "candle-nn AdamW lr=0.05")
        .with_tag("stage", "quickstart")
        .with_lineage(lineage);
    for (k, v) in metrics_ {
        new = new.with_metric(*k, *v);
    }
    Ok((registry.register(new)?.version.version, signature))
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

fn to_table(rows: &[Vec<f64>]) -> Table {
    let dim = rows.first().map_or(0, Vec::len);
    Table {
        columns: (0..dim)
            .map(|j| {
                (
                    format!("f{j}"),
                    Column::Numeric(rows.iter().map(|r| r[j]).collect()),
                )
            })
            .collect(),
    }
}

/// Runs the quickstart in `dir`, telling the story on `out`.
///
/// # Errors
/// When a file cannot be written, a metric cannot be computed, or the deployment does not
/// reach the expected state within its time limit.
pub fn run(dir: &Path, out: &mut impl Write) -> Result<Summary> {
    let mut rng = StdRng::seed_from_u64(7);
    writeln!(out, "mlops-rs quickstart in {}", dir.display())?;

    writeln!(out, "\n1. Generate a dataset and snapshot it")?;
    let (x_train, y_train) = blobs(&mut rng, 4000, FEATURES, 1.5);
    let (x_eval, y_eval) = blobs(&mut rng, 1000, FEATURES, 1.5);
    let train_path = dir.join("train.csv");
    let eval_path = dir.join("eval.csv");
    write_csv(&train_path, &x_train, &y_train)?;
    write_csv(&eval_path, &x_eval, &y_eval)?;
    let train = SnapshotBuilder::new()
        .path(&train_path)
        .with_source_uri(format!("file://{}", train_path.display()))
        .detect_git_commit(dir)
        .build()?;
    let eval = SnapshotBuilder::new()
        .path(&eval_path)
        .with_parent(train.digest)
        .build()?;
    writeln!(
        out,
        "   train.csv: {} rows, {} bytes, digest {}",
        train.row_count.unwrap_or(0),
        train.total_bytes,
        train.digest
    )?;
    writeln!(
        out,
        "   eval.csv:  {} rows, digest {} (parent {})",
        eval.row_count.unwrap_or(0),
        eval.digest,
        &train.digest.to_hex()[..12]
    )?;

    writeln!(
        out,
        "\n2. Train a {FEATURES}-{HIDDEN}-2 MLP with candle-nn (AdamW, cross-entropy) and evaluate it"
    )?;
    let v1_model = train_mlp(&mut rng, &x_train, &y_train, &x_eval, 150)?;
    let proba = &v1_model.eval_proba;
    let pred: Vec<usize> = proba.iter().map(|&p| usize::from(p >= 0.5)).collect();
    let report = metrics::classification_report(&y_eval, &pred)?;
    let truth: Vec<bool> = y_eval.iter().map(|&l| l == 1).collect();
    let roc_auc = metrics::roc_auc(&truth, proba)?;
    let log_loss = metrics::log_loss_binary(&truth, proba)?;
    writeln!(
        out,
        "   training loss {:.4} -> {:.4} over 150 epochs",
        v1_model.loss.0, v1_model.loss.1
    )?;
    writeln!(
        out,
        "   accuracy {:.4}, macro F1 {:.4}, ROC AUC {roc_auc:.4}, log loss {log_loss:.4} (scikit-learn's definitions)",
        report.accuracy, report.macro_avg.f1
    )?;

    writeln!(
        out,
        "\n3. Register v1 in the file registry and alias it `production`"
    )?;
    let registry: Arc<dyn Registry> = Arc::new(FileRegistry::open(dir.join("registry"))?);
    let name = ModelName::new("churn")?;
    let production = AliasName::new("production")?;
    let canary = AliasName::new("canary")?;
    let lineage = Lineage {
        datasets: vec![train.digest, eval.digest],
        code_commit: train.git_commit.clone(),
        parent_version: None,
    };
    let (v1, _) = register_version(
        registry.as_ref(),
        &name,
        &dir.join("build/v1"),
        &v1_model.varmap,
        "MLP on blobs",
        &[
            ("accuracy", report.accuracy),
            ("roc_auc", roc_auc),
            ("log_loss", log_loss),
        ],
        lineage.clone(),
    )?;
    registry.set_alias(
        &name,
        &production,
        v1,
        &Change::new("quickstart", "first model"),
    )?;
    writeln!(
        out,
        "   registered churn/{v1} (datasets {} and {}) and set production -> v{v1}",
        &train.digest.to_hex()[..12],
        &eval.digest.to_hex()[..12]
    )?;

    writeln!(
        out,
        "\n4. Serve churn@production: a registry-driven deployment that follows `production` and `canary`"
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
        ..WatchConfig::new(name.clone(), production.clone(), dir.join("cache"))
    };
    let watched = RegistryDeployment::start(registry.clone(), config)?;
    let d = watched.deployment().clone();
    // Every served prediction goes to a prediction log, as `mlops serve --log-predictions`.
    let log = PredictionLog::open(
        LogConfig::new(dir.join("predictions")).with_flush_interval(Duration::from_millis(50)),
    )?;
    let sink = LogSink::new(log.handle(), SinkConfig::default())?;
    let sink = &sink;
    let served: Vec<f32> = std::thread::scope(|s| -> Result<Vec<f32>> {
        let handles: Vec<_> = x_eval
            .chunks(10)
            .enumerate()
            .map(|(k, chunk)| {
                let d = d.clone();
                s.spawn(move || -> Result<Vec<f32>> {
                    let r = predict_logged(&d, sink, format!("eval-{k}"), chunk)?;
                    let p = r
                        .outputs
                        .get("probs")
                        .and_then(Tensor::as_f32)
                        .context("output probs")?;
                    Ok(p.chunks(2).map(|row| row[1]).collect())
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
    ensure!(served.len() == proba.len(), "one prediction per row");
    let max_serving_diff = served
        .iter()
        .zip(proba)
        .map(|(&s, &p)| (f64::from(s) - p).abs())
        .fold(0.0, f64::max);
    writeln!(
        out,
        "   100 concurrent requests of 10 rows: v{} answered; max |served - training graph| = {max_serving_diff:.1e}",
        d.stable_version().version
    )?;

    writeln!(out, "\n5. Traffic shifts: customers now look different")?;
    // Covariate shift: features f0 and f1 move by +0.8; f2 and f3 keep their distribution.
    let (mut x_new, y_new) = blobs(&mut rng, 4000, FEATURES, 1.5);
    for row in &mut x_new {
        row[0] += 0.8;
        row[1] += 0.8;
    }
    let window = &x_new[..2000];
    let mut sent = 0u64;
    for (k, chunk) in window.chunks(20).enumerate() {
        predict_logged(&d, sink, format!("shift-{k}"), chunk)?;
        sent += 1;
    }
    let profile = ReferenceProfile::fit_table(&to_table(&x_train), ProfileConfig::default())?;
    let drift = DriftReport::compare(&profile, &to_table(window), &DriftConfig::default())?;
    writeln!(
        out,
        "   served {} rows in {sent} requests; drift report of the served inputs against the training profile:",
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
        "   {}/{} columns drifted -> {}",
        drift.dataset.n_drifted,
        drift.dataset.n_columns,
        if drift.dataset.drifted {
            "retrain"
        } else {
            "keep serving"
        }
    )?;

    writeln!(
        out,
        "\n5b. Ground truth arrives late: join it to the logged predictions, watch every window"
    )?;
    log.flush()?;
    let stats = log.stats();
    let mut labels: Vec<(String, Value)> = Vec::new();
    for (k, chunk) in y_eval.chunks(10).enumerate() {
        for (i, &y) in chunk.iter().enumerate() {
            labels.push((format!("eval-{k}/{i}"), Value::Num(y as f64)));
        }
    }
    for (k, chunk) in y_new[..window.len()].chunks(20).enumerate() {
        for (i, &y) in chunk.iter().enumerate() {
            labels.push((format!("shift-{k}/{i}"), Value::Num(y as f64)));
        }
    }
    // A label sent twice and one for an id nobody served: counted and kept, never lost.
    labels.push(("eval-0/0".to_owned(), Value::Num(1.0 - y_eval[0] as f64)));
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
    let mut named = to_table(&x_train);
    for (name, _) in &mut named.columns {
        *name = name.replacen('f', "x_", 1);
    }
    let logged_profile = ReferenceProfile::fit_table(&named, ProfileConfig::default())?;
    let mut cfg = ReportConfig::new(WindowSpec::Rows(500));
    cfg.reference = Some(&logged_profile);
    cfg.estimator = Some(&cbpe);
    let (eval_rows, shifted_rows): (Vec<_>, Vec<_>) =
        logged.into_iter().partition(|p| p.id.starts_with("eval-"));
    let label_of = |id: &str| label_truth.get(id).cloned();
    let set = build_states(eval_rows.into_iter().chain(shifted_rows), &label_of, &cfg)?;
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
        "   live accuracy fell on the shifted traffic; CBPE (label-free) barely moved: this shift \
         changes P(y|x), which no estimate from scores alone can see; the late labels do"
    )?;
    let (url, received) = webhook_receiver()?;
    let rules = RuleSet::parse(QUICKSTART_RULES, "quickstart rules")?;
    let mut engine = AlertEngine::open(rules, dir.join("alert-state.json"))?;
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
    writeln!(out, "   {firing} alert(s) firing -> retrain")?;

    writeln!(
        out,
        "\n6. Retrain v2 on the newer data and canary it at 10%"
    )?;
    let new_path = dir.join("train_v2.csv");
    write_csv(&new_path, &x_new, &y_new)?;
    let new_snap = SnapshotBuilder::new()
        .path(&new_path)
        .with_parent(train.digest)
        .build()?;
    let v2_model = train_mlp(&mut rng, &x_new, &y_new, &x_eval, 150)?;
    let (v2, _) = register_version(
        registry.as_ref(),
        &name,
        &dir.join("build/v2"),
        &v2_model.varmap,
        "retrained on train_v2.csv",
        &[("roc_auc", metrics::roc_auc(&truth, &v2_model.eval_proba)?)],
        Lineage {
            datasets: vec![new_snap.digest],
            code_commit: lineage.code_commit.clone(),
            parent_version: Some(v1),
        },
    )?;
    let seen = d.events().len();
    registry.set_alias(
        &name,
        &canary,
        v2,
        &Change::new("quickstart", "canary the retrained model"),
    )?;
    writeln!(
        out,
        "   registered churn/{v2} (parent v{v1}) and set canary -> v{v2}"
    )?;
    wait_for("the watcher to deploy v2", Duration::from_secs(10), || {
        d.candidate().is_some_and(|(id, _)| id.version == v2)
    })?;
    let v2_phase = drive(
        &d,
        &x_new,
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

    writeln!(out, "\n7. A faulty v3 goes out as a canary")?;
    let v3_vars = corrupt(&v2_model.varmap)?;
    let (v3, _) = register_version(
        registry.as_ref(),
        &name,
        &dir.join("build/v3"),
        &v3_vars,
        "deliberately faulty: v2 with its first layer scaled by 3e38",
        &[],
        Lineage {
            datasets: vec![new_snap.digest],
            code_commit: lineage.code_commit.clone(),
            parent_version: Some(v2),
        },
    )?;
    let seen = d.events().len();
    registry.set_alias(&name, &canary, v3, &Change::new("quickstart", "canary v3"))?;
    wait_for("the watcher to deploy v3", Duration::from_secs(10), || {
        d.candidate().is_some_and(|(id, _)| id.version == v3)
    })?;
    writeln!(
        out,
        "   registered churn/{v3} and set canary -> v{v3}; it passes warm-up (an all-zero row)"
    )?;
    let v3_phase = drive(
        &d,
        &x_new,
        4,
        &|d| d.candidate().is_none(),
        Duration::from_secs(60),
    )?;
    print_events(out, &d.events()[seen..])?;
    writeln!(
        out,
        "   clients sent {} requests: {:?} by version, {} failed (v3 answered NaN; the engine refused to return it)",
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

    writeln!(out, "\n8. The registry's audit log and the serving metrics")?;
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
    let text = metrics.encode()?;
    for line in text.lines().filter(|l| {
        l.starts_with("mlops_serve_routed_requests_total")
            || l.starts_with("mlops_serve_routed_failures_total")
    }) {
        writeln!(out, "   {line}")?;
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
        train,
        eval,
        report,
        roc_auc,
        log_loss,
        train_loss: v1_model.loss,
        versions: vec![v1, v2, v3],
        production: aliases.get(&production).copied().unwrap_or(0),
        canary_alias_left: aliases.contains_key(&canary),
        history,
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
    })
}

fn to_tensor(rows: &[Vec<f64>]) -> Result<Tensor> {
    let dim = rows.first().map_or(0, Vec::len);
    let data: Vec<f32> = rows.iter().flatten().map(|&v| v as f32).collect();
    Ok(Tensor::f32(vec![rows.len(), dim], data)?)
}
