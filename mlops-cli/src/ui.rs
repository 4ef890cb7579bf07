//! `mlops ui`: the web console alone, over a registry (and optionally a prediction log,
//! pipeline caches and HPO studies), without serving models. `mlops serve --ui` serves the
//! same console next to live deployments.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use mlops_registry::Registry;
use mlops_serve::http::{serve_with, ServeOptions};

use crate::Format;

/// Arguments of `mlops ui`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Registry store URI (directory path, `file://PATH`, `s3://bucket/prefix`).
    #[arg(long, default_value = "./mlops-registry")]
    store: String,
    /// A prediction log directory: the monitoring page shows its report (read again on each
    /// visit).
    #[arg(long, value_name = "DIR")]
    log: Option<PathBuf>,
    /// Alert rules evaluated over the log's windows for the monitoring page (no state kept,
    /// nothing sent).
    #[arg(long, value_name = "RULES.toml", requires = "log")]
    rules: Option<PathBuf>,
    /// Address to listen on (port 0 picks a free port; the URL is printed at start).
    #[arg(long, default_value = "127.0.0.1:8090")]
    addr: String,
    /// A pipeline cache directory whose runs the console lists (repeatable).
    #[arg(long, value_name = "DIR")]
    pipeline_cache: Vec<PathBuf>,
    /// An HPO study journal the console shows (repeatable).
    #[arg(long, value_name = "FILE")]
    study: Vec<PathBuf>,
    /// Window options of the monitoring report: as `mlops monitor report`.
    #[command(flatten)]
    windows: crate::monitor::WindowArgs,
}

/// Runs `mlops ui` until SIGINT or SIGTERM.
///
/// # Errors
/// An unreadable store, a `--log` that is not a prediction log, an address that cannot be
/// bound.
pub fn run(args: Args, format: Format) -> Result<ExitCode> {
    let registry: Arc<dyn Registry> = Arc::from(
        mlops_registry::open(&args.store)
            .with_context(|| format!("opening registry {:?}", args.store))?,
    );
    if let Some(log) = &args.log {
        // Refuse a wrong path now rather than on the first visit of the monitoring page.
        mlops_monitor::log::LogReader::open(log).context("--log")?;
    }
    let config = mlops_ui::console::ConsoleConfig {
        registry: Some(registry),
        models: None,
        admin_enabled: false,
        monitor: args.log.clone().map(|log| {
            crate::monitor::monitor_source(log, args.windows.clone(), args.rules.clone())
        }),
        pipeline_caches: args.pipeline_cache.clone(),
        studies: args.study.clone(),
    };
    let app = mlops_ui::console::router(config);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("mlops-ui")
        .build()
        .context("starting the HTTP runtime")?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&args.addr)
            .await
            .with_context(|| format!("binding {}", args.addr))?;
        let addr = listener.local_addr()?;
        {
            let url = format!("http://{addr}/ui");
            let mut out = std::io::stdout().lock();
            match format {
                Format::Json => writeln!(
                    out,
                    "{}",
                    serde_json::json!({"event": "listening", "addr": addr.to_string(), "url": url})
                )?,
                Format::Text => writeln!(out, "mlops console on {url}")?,
            }
            out.flush()?;
        }
        serve_with(
            listener,
            app,
            crate::serve::shutdown_signal(),
            ServeOptions::default(),
        )
        .await
        .context("serving")
    })?;
    Ok(ExitCode::SUCCESS)
}
