//! `mlops serve`: the Open Inference Protocol v2 HTTP (and gRPC) server over registry versions
//! of one or more models, each following its alias moves while it runs, with its own canary /
//! shadow rollout and automatic rollback.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use mlops_core::{AliasName, ModelRef, VersionSelector};
use mlops_registry::Registry;
use mlops_serve::deploy::{DriftGuard, ModelSet, RolloutPolicy, Strategy};
use mlops_serve::grpc::GrpcConfig;
use mlops_serve::http::{router, serve_with, HttpConfig, ServeOptions};
use mlops_serve::{EngineConfig, Metrics, RegistryDeployment, WatchConfig};

use crate::Format;

/// Arguments of `mlops serve`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Registry store URI (directory path, `file://PATH`, `s3://bucket/prefix`).
    #[arg(long, default_value = "./mlops-registry")]
    store: String,
    /// Model to serve, as NAME@ALIAS (e.g. `churn@production`); the server follows the alias.
    /// Repeat it to serve several models from one process, each with its own deployment.
    #[arg(long, required = true)]
    model: Vec<String>,
    /// A candidate to canary, as NAME@ALIAS of one of the served models (e.g. `churn@canary`);
    /// deployed whenever the alias exists, removed when it is removed. Repeatable, one per model.
    #[arg(long)]
    canary: Vec<String>,
    /// Percentage of requests sent to the canary.
    #[arg(long, default_value_t = 10.0, value_name = "PCT")]
    canary_weight: f64,
    /// Sticky A/B split instead of a random canary split (key: header `x-mlops-routing-key`).
    #[arg(long, requires = "canary")]
    ab: bool,
    /// A candidate to shadow, as NAME@ALIAS: it computes a copy of the requests, its answers
    /// are compared with the stable ones and never returned. Repeatable, one per model.
    #[arg(long)]
    shadow: Vec<String>,
    /// Percentage of requests mirrored to the shadow.
    #[arg(long, default_value_t = 100.0, value_name = "PCT")]
    shadow_mirror: f64,
    /// Address to listen on (port 0 picks a free port; the address is printed at start).
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: String,
    /// Also serve the Open Inference Protocol's gRPC service (`inference.GRPCInferenceService`,
    /// what `tritonclient[grpc]` speaks) on this address, same models and routing; port 0 picks
    /// a free port (printed at start as `grpc_addr`).
    #[arg(long, value_name = "HOST:PORT")]
    grpc_addr: Option<String>,
    /// Most rows in one batch.
    #[arg(long, default_value_t = 64)]
    max_batch: usize,
    /// Longest a batch waits for more requests, in milliseconds. The default 0 still batches
    /// whatever is queued when a worker frees up (TF Serving's advice for CPUs); on this
    /// project's 2-core VM it beat 1 ms at every concurrency (see the README's figures).
    #[arg(long, default_value_t = 0.0)]
    max_delay_ms: f64,
    /// Microseconds an idle inference thread polls (yielding the CPU) for the next request
    /// before it sleeps. Saves a sleeping thread's wake-up latency under steady traffic (on
    /// the 2-core VM: p50 0.13 → 0.06 ms, 2× the requests/s at concurrency 1); costs CPU only
    /// while requests keep arriving within the window. 0 sleeps at once.
    #[arg(long, default_value_t = 200)]
    idle_spin_us: u64,
    /// Requests queued per version before 503 Overloaded.
    #[arg(long, default_value_t = 1024)]
    queue: usize,
    /// Inference threads per version.
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// Name of the environment variable holding the admin bearer token. Without it the admin
    /// API is disabled; naming a variable that is unset or empty is an error.
    #[arg(long, value_name = "VAR")]
    admin_token_env: Option<String>,
    /// Where verified artifacts are cached (default: a temporary directory).
    #[arg(long)]
    cache_dir: Option<PathBuf>,
    /// How often the aliases are re-read, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    poll_ms: u64,
    /// How often the rollout controller checks the candidate, in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    check_interval_ms: u64,
    /// Candidate requests a check needs before it judges.
    #[arg(long, default_value_t = 100)]
    min_requests: u64,
    /// A check fails above this candidate error rate (0..1).
    #[arg(long, default_value_t = 0.01)]
    max_error_rate: f64,
    /// A check fails above this candidate p99 latency, in milliseconds.
    #[arg(long, default_value_t = 500.0)]
    max_p99_ms: f64,
    /// Consecutive failed checks that roll the candidate back.
    #[arg(long, default_value_t = 3)]
    failed_checks: u32,
    /// Canary percentages to step through on passing checks, e.g. `50,100` (100 promotes).
    /// Empty: no automatic promotion.
    #[arg(long, value_delimiter = ',', value_name = "PCT,...")]
    steps: Vec<f64>,
    /// Consecutive passed checks before the next step.
    #[arg(long, default_value_t = 3)]
    checks_per_step: u32,
    /// Also fail a check when the candidate's predictions drift from the stable arm's: PSI of
    /// one output column (OUTPUT or OUTPUT:COLUMN, e.g. `probs:1`) over the check window,
    /// bins fitted on the stable arm's values.
    #[arg(long, value_name = "OUTPUT[:COLUMN]")]
    drift_guard: Option<String>,
    /// PSI above which the drift guard fails a check (> 0.25 is the industry's "significant").
    #[arg(long, default_value_t = 0.25)]
    drift_max_psi: f64,
    /// Do not write promotions and rollbacks back to the registry aliases.
    #[arg(long)]
    no_write_back: bool,
    /// Seconds to keep accepting connections with readiness 503 after SIGTERM, before draining.
    #[arg(long, default_value_t = 0.0)]
    drain_delay_s: f64,
    /// Seconds to wait for in-flight requests after the listener closes; then exit anyway.
    #[arg(long, default_value_t = 30.0)]
    drain_timeout_s: f64,
    /// Log served predictions (inputs, outputs, id, version, arm, segment.* / kpi.* request
    /// parameters) to this prediction log directory, or to `s3://bucket/prefix` (sealed
    /// segments are uploaded; a local staging directory holds the active one). Also enables
    /// `POST /v2/models/{name}/labels` for delayed ground truth. Logging never blocks a
    /// request: when the writer falls behind, records are dropped and counted in /metrics.
    #[arg(long, value_name = "DIR|s3://BUCKET/PREFIX")]
    log_predictions: Option<String>,
    /// Fraction of requests to log, in [0, 1].
    #[arg(long, default_value_t = 1.0, requires = "log_predictions")]
    log_sample: f64,
    /// Input columns to log (logged names: a `[N,F]` input `x` gives `x_0 … x_{F-1}`); all when
    /// not given.
    #[arg(long, value_delimiter = ',', requires = "log_predictions")]
    log_columns: Vec<String>,
    /// How often the log writer hands buffered records to the OS, in milliseconds: what a
    /// process killed with SIGKILL can lose at most.
    #[arg(long, default_value_t = 1000, requires = "log_predictions")]
    log_flush_ms: u64,
    /// Seal the active log segment at this size (MiB) …
    #[arg(long, default_value_t = 64, requires = "log_predictions")]
    log_segment_mb: u64,
    /// … or at this age (e.g. `1h`, `30m`).
    #[arg(long, default_value = "1h", requires = "log_predictions")]
    log_segment_age: String,
    /// Delete sealed segments older than this (e.g. `30d`).
    #[arg(long, requires = "log_predictions")]
    log_retention: Option<String>,
    /// Delete the oldest sealed segments while the log is larger than this (MiB).
    #[arg(long, requires = "log_predictions")]
    log_retention_mb: Option<u64>,
    /// Local staging directory for an `s3://` log (default: under --cache-dir).
    #[arg(long, requires = "log_predictions")]
    log_staging_dir: Option<PathBuf>,
    /// Evaluate these alert rules (TOML, see `mlops monitor watch`) over the prediction log
    /// every --monitor-interval, send alerts, and publish the monitor's values as
    /// `mlops_monitor_*` gauges on /metrics.
    #[arg(long, value_name = "RULES.toml", requires = "log_predictions")]
    monitor_rules: Option<PathBuf>,
    /// How often the monitor evaluates its rules (e.g. `60s`, `5m`).
    #[arg(long, default_value = "60s", requires = "monitor_rules")]
    monitor_interval: String,
    /// Window options, alert sinks, …: as `mlops monitor watch`.
    #[command(flatten)]
    monitor: crate::monitor::ServeMonitorArgs,
    /// Also serve the web console under `/ui` (models from --store, these deployments, the
    /// monitoring report of --log-predictions with --monitor-rules' alerts, pipeline runs and
    /// studies); admin forms appear when --admin-token-env is given.
    #[arg(long)]
    ui: bool,
    /// A pipeline cache directory whose runs the console lists (repeatable).
    #[arg(long, value_name = "DIR", requires = "ui")]
    pipeline_cache: Vec<PathBuf>,
    /// An HPO study journal the console shows (repeatable).
    #[arg(long, value_name = "FILE", requires = "ui")]
    study: Vec<PathBuf>,
}

fn alias_ref(text: &str, flag: &str) -> Result<(mlops_core::ModelName, AliasName)> {
    let r: ModelRef = text
        .parse()
        .with_context(|| format!("{flag} {text:?} is not NAME@ALIAS"))?;
    match r.selector {
        VersionSelector::Alias(a) => Ok((r.name, a)),
        other => {
            bail!("{flag} {text:?} selects {other:?}; the server follows an alias: give NAME@ALIAS")
        }
    }
}

fn pct(v: f64, flag: &str) -> Result<f64> {
    if !(v.is_finite() && (0.0..=100.0).contains(&v)) {
        bail!("{flag} {v} must be a percentage in [0, 100]");
    }
    Ok(v / 100.0)
}

fn seconds(v: f64, flag: &str) -> Result<Duration> {
    if !(v.is_finite() && (0.0..1e6).contains(&v)) {
        bail!("{flag} {v} must be a finite number of seconds ≥ 0");
    }
    Ok(Duration::from_secs_f64(v))
}

fn millis(v: f64, flag: &str) -> Result<Duration> {
    if !(v.is_finite() && (0.0..1e9).contains(&v)) {
        bail!("{flag} {v} must be a finite number of milliseconds ≥ 0");
    }
    Ok(Duration::from_secs_f64(v / 1e3))
}

/// Runs `mlops serve` until SIGINT or SIGTERM, then drains in-flight requests.
///
/// # Errors
/// Invalid arguments, an unreadable store, a missing alias, a model that does not load, an
/// address that cannot be bound, or an admin token variable that is unset.
pub fn run(args: Args, format: Format) -> Result<ExitCode> {
    let plans = plan_models(&args)?;
    let admin_token = match &args.admin_token_env {
        Some(var) => match std::env::var(var) {
            Ok(t) if !t.trim().is_empty() => Some(t),
            _ => bail!("--admin-token-env {var}: the variable is unset or empty"),
        },
        None => None,
    };
    let steps = args
        .steps
        .iter()
        .map(|&s| pct(s, "--steps"))
        .collect::<Result<Vec<f64>>>()?;
    let drift = match &args.drift_guard {
        None => None,
        Some(spec) => {
            let (output, column) = match spec.split_once(':') {
                Some((o, c)) => (
                    o,
                    c.parse::<usize>().with_context(|| {
                        format!("--drift-guard {spec:?}: column {c:?} is not a number")
                    })?,
                ),
                None => (spec.as_str(), 0),
            };
            if output.is_empty() {
                bail!("--drift-guard {spec:?}: give OUTPUT or OUTPUT:COLUMN");
            }
            Some(DriftGuard {
                max_psi: args.drift_max_psi,
                ..DriftGuard::new(output, column)
            })
        }
    };
    let policy = RolloutPolicy {
        drift,
        min_requests: args.min_requests,
        max_error_rate: args.max_error_rate,
        max_p99: Some(millis(args.max_p99_ms, "--max-p99-ms")?),
        failed_checks: args.failed_checks,
        steps,
        checks_per_step: args.checks_per_step,
        interval: Duration::from_millis(args.check_interval_ms.max(1)),
        ..RolloutPolicy::default()
    };
    let engine = EngineConfig {
        max_batch_size: args.max_batch,
        max_delay: millis(args.max_delay_ms, "--max-delay-ms")?,
        queue_capacity: args.queue,
        workers: args.workers,
        idle_spin: Duration::from_micros(args.idle_spin_us.min(1_000_000)),
        ..EngineConfig::default()
    };
    let registry: Arc<dyn Registry> = Arc::from(
        mlops_registry::open(&args.store)
            .with_context(|| format!("opening registry {:?}", args.store))?,
    );
    let temp_cache;
    let cache_dir = match &args.cache_dir {
        Some(d) => d.clone(),
        None => {
            temp_cache = tempfile::Builder::new().prefix("mlops-serve-").tempdir()?;
            temp_cache.path().to_owned()
        }
    };
    let metrics = Metrics::new();
    let models = ModelSet::new();
    let mut watched = Vec::with_capacity(plans.len());
    for plan in plans {
        let config = WatchConfig {
            candidate: plan.candidate.clone(),
            engine: engine.clone(),
            metrics: metrics.clone(),
            policy: policy.clone(),
            controller: true,
            poll_interval: Duration::from_millis(args.poll_ms.max(1)),
            write_back: !args.no_write_back,
            ..WatchConfig::new(
                plan.name.clone(),
                plan.stable.clone(),
                cache_dir.join(plan.name.as_str()),
            )
        };
        let shown = format!("{}@{}", plan.name, plan.stable);
        let started = RegistryDeployment::start(registry.clone(), config)
            .with_context(|| format!("deploying {shown}"))
            .and_then(|w| {
                check_drift_guard(w.deployment())?;
                Ok(w)
            });
        match started {
            Ok(w) => {
                models.insert(w.deployment().clone());
                watched.push((plan, w));
            }
            // With several models, one that fails to load is reported in the model
            // repository index and the others serve; alone, it is the command's error.
            Err(e) if args.model.len() > 1 => {
                let reason = format!("{e:#}");
                eprintln!("mlops serve: {shown} is unavailable: {reason}");
                models.mark_unavailable(plan.name.as_str(), reason);
            }
            Err(e) => return Err(e),
        }
    }
    if watched.is_empty() {
        bail!("no model could be loaded");
    }
    let mut grpc_config = GrpcConfig::new().with_metrics(metrics.clone());
    let mut http = HttpConfig::new(metrics.clone());
    if let Some(t) = admin_token {
        http = http.with_admin_token(t);
    }
    let prediction_log = match &args.log_predictions {
        Some(target) => Some(crate::monitor::ServedLog::open(
            target,
            &crate::monitor::ServedLogOptions {
                sample: args.log_sample,
                columns: args.log_columns.clone(),
                flush_ms: args.log_flush_ms,
                segment_mb: args.log_segment_mb,
                segment_age: args.log_segment_age.clone(),
                retention: args.log_retention.clone(),
                retention_mb: args.log_retention_mb,
                staging: args
                    .log_staging_dir
                    .clone()
                    .unwrap_or_else(|| cache_dir.join("prediction-log")),
            },
        )?),
        None => None,
    };
    if let Some(log) = &prediction_log {
        let sink = log.sink();
        http = http.with_prediction_sink(sink.clone());
        grpc_config = grpc_config.with_prediction_sink(sink);
    }
    let watcher = match (&prediction_log, &args.monitor_rules) {
        (Some(log), Some(rules)) => Some(crate::monitor::ServeWatch::start(
            log.local_dir(),
            rules,
            &args.monitor_interval,
            &args.monitor,
            &metrics,
        )?),
        _ => None,
    };
    let grpc_models = models.clone();
    let label_models = models.clone();
    let console = args.ui.then(|| mlops_ui::console::ConsoleConfig {
        registry: Some(registry.clone()),
        models: Some(models.clone()),
        admin_enabled: args.admin_token_env.is_some(),
        monitor: prediction_log.as_ref().map(|log| {
            crate::monitor::monitor_source(
                log.local_dir().to_owned(),
                args.monitor.windows().clone(),
                args.monitor_rules.clone(),
            )
        }),
        pipeline_caches: args.pipeline_cache.clone(),
        studies: args.study.clone(),
    });
    let mut app = router(models, http);
    if let Some(config) = console {
        app = app.merge(mlops_ui::console::router(config));
    }
    if let Some(log) = &prediction_log {
        app = app.merge(log.labels_router(std::sync::Arc::new(move |name: &str| {
            label_models.get(name).is_some()
        }))?);
    }
    let drain = seconds(args.drain_delay_s, "--drain-delay-s")?;
    let drain_timeout = seconds(args.drain_timeout_s, "--drain-timeout-s")?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("mlops-http")
        .build()
        .context("starting the HTTP runtime")?;
    let serving = &watched;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&args.addr)
            .await
            .with_context(|| format!("binding {}", args.addr))?;
        let addr = listener.local_addr()?;
        let grpc_listener = match &args.grpc_addr {
            Some(a) => Some(
                tokio::net::TcpListener::bind(a)
                    .await
                    .with_context(|| format!("binding --grpc-addr {a}"))?,
            ),
            None => None,
        };
        let grpc_addr = grpc_listener
            .as_ref()
            .map(tokio::net::TcpListener::local_addr)
            .transpose()?;
        let served: Vec<serde_json::Value> = serving
            .iter()
            .map(|(plan, w)| {
                let d = w.deployment();
                serde_json::json!({
                    "model": plan.name.as_str(),
                    "alias": plan.stable.as_str(),
                    "stable_version": d.stable_version().version,
                    "candidate": d.candidate().map(|(id, s)| serde_json::json!({"version": id.version, "strategy": s})),
                })
            })
            .collect();
        let unavailable: Vec<serde_json::Value> = grpc_models
            .unavailable()
            .into_iter()
            .map(|(m, reason)| serde_json::json!({"model": m, "reason": reason}))
            .collect();
        {
            let mut out = std::io::stdout().lock();
            match format {
                Format::Json => {
                    // `model`, `stable_version` and `candidate` describe the first model (the
                    // line's shape before several models); `models` lists them all.
                    let first = &served[0];
                    let line = serde_json::json!({
                        "event": "listening",
                        "addr": addr.to_string(),
                        "grpc_addr": grpc_addr.map(|a| a.to_string()),
                        "model": first["model"],
                        "stable_version": first["stable_version"],
                        "candidate": first["candidate"],
                        "models": served,
                        "unavailable": unavailable,
                        "admin": args.admin_token_env.is_some(),
                        "ui": args.ui.then(|| format!("http://{addr}/ui")),
                    });
                    writeln!(out, "{line}")?;
                }
                Format::Text => {
                    for (plan, w) in serving {
                        let d = w.deployment();
                        writeln!(
                            out,
                            "serving {}@{} (v{}){} on http://{addr}",
                            plan.name,
                            plan.stable,
                            d.stable_version().version,
                            d.candidate()
                                .map(|(id, s)| format!(" with candidate v{} ({s:?})", id.version))
                                .unwrap_or_default()
                        )?;
                    }
                    for u in &unavailable {
                        writeln!(out, "unavailable: {} ({})", u["model"], u["reason"])?;
                    }
                    if let Some(g) = grpc_addr {
                        writeln!(out, "gRPC (inference.GRPCInferenceService) on {g}")?;
                    }
                    if args.ui {
                        writeln!(out, "console on http://{addr}/ui")?;
                    }
                }
            }
            out.flush()?;
        }
        // One signal stops both servers.
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let grpc = grpc_listener.map(|l| {
            let mut stop = stop_rx.clone();
            tokio::spawn(mlops_serve::grpc::serve(l, grpc_models, grpc_config, async move {
                let _ = stop.wait_for(|s| *s).await;
            }))
        });
        serve_with(
            listener,
            app,
            async move {
                shutdown_signal().await;
                let _ = stop_tx.send(true);
            },
            ServeOptions::default()
                .with_drain_delay(drain)
                .with_drain_timeout(drain_timeout),
        )
        .await
        .context("serving")?;
        if let Some(g) = grpc {
            // The HTTP drain has run; the gRPC server drains in the same window.
            match tokio::time::timeout(drain_timeout, g).await {
                Ok(Ok(r)) => r.context("serving gRPC")?,
                Ok(Err(e)) => bail!("the gRPC server task failed: {e}"),
                Err(_) => tracing::warn!("gRPC drain timeout: exiting with calls in flight"),
            }
        }
        anyhow::Ok(())
    })?;
    drop(watcher);
    drop(watched);
    if let Some(log) = prediction_log {
        // Everything queued reaches the log (and, for s3://, the bucket) before exit.
        log.close().context("closing the prediction log")?;
    }
    tracing::info!("server stopped");
    Ok(ExitCode::SUCCESS)
}

/// One model to serve: its name, the alias it follows, and its candidate, if any.
struct ModelPlan {
    name: mlops_core::ModelName,
    stable: AliasName,
    candidate: Option<(AliasName, Strategy)>,
}

/// Pairs each `--model` with its `--canary` or `--shadow` (matched by model name).
fn plan_models(args: &Args) -> Result<Vec<ModelPlan>> {
    let mut plans: Vec<ModelPlan> = Vec::with_capacity(args.model.len());
    for m in &args.model {
        let (name, stable) = alias_ref(m, "--model")?;
        if plans.iter().any(|p| p.name == name) {
            bail!("--model {m}: {name} is given twice; each model is served once");
        }
        plans.push(ModelPlan {
            name,
            stable,
            candidate: None,
        });
    }
    if args.ab && args.canary.is_empty() {
        bail!("--ab needs --canary");
    }
    let canaries = args.canary.iter().map(|c| (c, "--canary"));
    let shadows = args.shadow.iter().map(|c| (c, "--shadow"));
    for (text, flag) in canaries.chain(shadows) {
        let (name, alias) = alias_ref(text, flag)?;
        let Some(plan) = plans.iter_mut().find(|p| p.name == name) else {
            let served: Vec<&str> = plans.iter().map(|p| p.name.as_str()).collect();
            bail!(
                "{flag} {text}: the candidate must be a version of a served --model ({}), not of {name}",
                served.join(", ")
            );
        };
        if alias == plan.stable {
            bail!(
                "the candidate alias must differ from the stable alias {}",
                plan.stable
            );
        }
        if plan.candidate.is_some() {
            bail!("{flag} {text}: {name} already has a candidate (one --canary or --shadow per model)");
        }
        let strategy = if flag == "--shadow" {
            Strategy::Shadow {
                mirror: pct(args.shadow_mirror, "--shadow-mirror")?,
            }
        } else {
            let weight = pct(args.canary_weight, "--canary-weight")?;
            if args.ab {
                Strategy::AbTest { weight }
            } else {
                Strategy::Canary { weight }
            }
        };
        plan.candidate = Some((alias, strategy));
    }
    Ok(plans)
}

/// Refuses a `--drift-guard` naming an output or column the model does not have.
fn check_drift_guard(deployment: &mlops_serve::deploy::Deployment) -> Result<()> {
    let Some(g) = &deployment.policy().drift else {
        return Ok(());
    };
    let outputs = &deployment.signature().outputs.fields;
    match outputs.iter().find(|f| f.name == g.output) {
        None => bail!(
            "--drift-guard: the model has no output {:?} (outputs: {:?})",
            g.output,
            outputs.iter().map(|f| f.name.as_str()).collect::<Vec<_>>()
        ),
        Some(f) => {
            let width: i64 = f.shape.iter().skip(1).product();
            if width > 0 && g.column as i64 >= width {
                bail!(
                    "--drift-guard: output {:?} has {width} columns, column {} does not exist",
                    g.output,
                    g.column
                );
            }
        }
    }
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
