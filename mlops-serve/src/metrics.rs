//! Per-model, per-version serving metrics, exported in Prometheus text format
//! (`prometheus-client`) and readable as a [`MetricsSnapshot`].

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::error::{Error, Result};
use crate::predictor::ModelIdentity;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabels {
    model: String,
    version: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelLabels {
    model: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ArmLabels {
    model: String,
    arm: String,
    version: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ColumnLabels {
    model: String,
    version: String,
    group: String,
    column: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    model: String,
    kind: String,
}

type HistFamily = Family<VersionLabels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 10 µs .. ~5.2 s, factor 2.
    Histogram::new(exponential_buckets(1e-5, 2.0, 20))
}

fn batch_histogram() -> Histogram {
    // 1, 2, 4, … 4096 rows.
    Histogram::new(exponential_buckets(1.0, 2.0, 13))
}

struct Families {
    requests: Family<VersionLabels, Counter>,
    errors: Family<VersionLabels, Counter>,
    rejected_overload: Family<VersionLabels, Counter>,
    rejected_too_large: Family<VersionLabels, Counter>,
    deadline_exceeded: Family<VersionLabels, Counter>,
    cache_hits: Family<VersionLabels, Counter>,
    cache_misses: Family<VersionLabels, Counter>,
    queue_seconds: HistFamily,
    compute_seconds: HistFamily,
    batch_rows: HistFamily,
    queue_depth: Family<ModelLabels, Gauge>,
    in_flight: Family<ModelLabels, Gauge>,
    routed: Family<ArmLabels, Counter>,
    routed_failures: Family<ArmLabels, Counter>,
    routed_seconds: Family<ArmLabels, Histogram, fn() -> Histogram>,
    shadow_compared: Family<VersionLabels, Counter>,
    shadow_mismatched: Family<VersionLabels, Counter>,
    shadow_dropped: Family<VersionLabels, Counter>,
    candidate_weight: Family<ModelLabels, Gauge<f64, AtomicU64>>,
    deploy_events: Family<KindLabels, Counter>,
    request_seconds: Family<ProtocolLabels, Histogram, fn() -> Histogram>,
    log_queued: Family<ModelLabels, Counter>,
    log_dropped: Family<ModelLabels, Counter>,
    transform_rows: Family<VersionLabels, Counter>,
    unknown_category: Family<ColumnLabels, Counter>,
    unknown_ratio: Family<ColumnLabels, Gauge<f64, AtomicU64>>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProtocolLabels {
    model: String,
    protocol: String,
}

/// Writes extra metric families into `/metrics` (text exposition format: `# HELP`, `# TYPE`
/// and samples, without `# EOF`). `mlops-monitor`'s gauges come in through one.
pub type TextExporter = Arc<dyn Fn(&mut String) + Send + Sync>;

/// A metrics registry shared by any number of engines (cheap to clone). A server creates one,
/// hands it to every engine, and serves [`Metrics::encode`] on `/metrics`.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<MetricsInner>,
}

struct MetricsInner {
    registry: Registry,
    families: Families,
    models: Mutex<HashMap<ModelIdentity, ModelMetrics>>,
    exporters: Mutex<Vec<TextExporter>>,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every `mlops_serve_*` family registered.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("mlops_serve");
        let hist = |f: fn() -> Histogram| -> HistFamily { Family::new_with_constructor(f) };
        let families = Families {
            requests: Family::default(),
            errors: Family::default(),
            rejected_overload: Family::default(),
            rejected_too_large: Family::default(),
            deadline_exceeded: Family::default(),
            cache_hits: Family::default(),
            cache_misses: Family::default(),
            queue_seconds: hist(latency_histogram),
            compute_seconds: hist(latency_histogram),
            batch_rows: hist(batch_histogram),
            queue_depth: Family::default(),
            in_flight: Family::default(),
            routed: Family::default(),
            routed_failures: Family::default(),
            routed_seconds: Family::new_with_constructor(latency_histogram),
            shadow_compared: Family::default(),
            shadow_mismatched: Family::default(),
            shadow_dropped: Family::default(),
            candidate_weight: Family::default(),
            deploy_events: Family::default(),
            request_seconds: Family::new_with_constructor(latency_histogram),
            log_queued: Family::default(),
            log_dropped: Family::default(),
            transform_rows: Family::default(),
            unknown_category: Family::default(),
            unknown_ratio: Family::default(),
        };
        let f = &families;
        registry.register(
            "requests",
            "Requests received (admitted, rejected or answered from cache)",
            f.requests.clone(),
        );
        registry.register(
            "request_errors",
            "Requests answered with an error of any kind",
            f.errors.clone(),
        );
        registry.register(
            "rejected_overload",
            "Requests rejected because the queue was full",
            f.rejected_overload.clone(),
        );
        registry.register(
            "rejected_too_large",
            "Requests rejected for exceeding max_batch_size",
            f.rejected_too_large.clone(),
        );
        registry.register(
            "deadline_exceeded",
            "Requests dropped before compute because their deadline passed",
            f.deadline_exceeded.clone(),
        );
        registry.register(
            "cache_hits",
            "Requests answered from the response cache",
            f.cache_hits.clone(),
        );
        registry.register(
            "cache_misses",
            "Cache look-ups that missed",
            f.cache_misses.clone(),
        );
        registry.register(
            "queue_duration_seconds",
            "Time from admission to the start of the batch's compute",
            f.queue_seconds.clone(),
        );
        registry.register(
            "compute_duration_seconds",
            "Model compute time per batch",
            f.compute_seconds.clone(),
        );
        registry.register(
            "batch_size_rows",
            "Rows per executed batch",
            f.batch_rows.clone(),
        );
        registry.register(
            "queue_depth",
            "Requests waiting in the queue",
            f.queue_depth.clone(),
        );
        registry.register(
            "in_flight",
            "Requests admitted and not yet answered",
            f.in_flight.clone(),
        );
        registry.register(
            "routed_requests",
            "Requests a deployment routed to an arm (stable, candidate; shadow copies count on the shadow arm)",
            f.routed.clone(),
        );
        registry.register(
            "routed_failures",
            "Routed requests that failed on the server side (model error, panic, overload, deadline)",
            f.routed_failures.clone(),
        );
        registry.register(
            "routed_duration_seconds",
            "End-to-end time of a routed request (admission to answer), per arm",
            f.routed_seconds.clone(),
        );
        registry.register(
            "shadow_compared",
            "Shadow answers compared with the primary's",
            f.shadow_compared.clone(),
        );
        registry.register(
            "shadow_mismatched",
            "Shadow answers that differed from the primary's beyond the tolerance",
            f.shadow_mismatched.clone(),
        );
        registry.register(
            "shadow_dropped",
            "Mirrored requests not compared (comparison queue full or shadow failed to admit)",
            f.shadow_dropped.clone(),
        );
        registry.register(
            "candidate_weight_ratio",
            "Share of requests routed to the candidate (0 when there is none; the mirror share for shadow)",
            f.candidate_weight.clone(),
        );
        registry.register(
            "deployment_events",
            "Deployment events by kind (promoted, rolled_back, step, check_failed, ...)",
            f.deploy_events.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "End-to-end request latency, from the server receiving the request body to the response built, by protocol (http, grpc)",
            f.request_seconds.clone(),
        );
        registry.register(
            "prediction_log_queued",
            "Prediction records handed to the prediction log",
            f.log_queued.clone(),
        );
        registry.register(
            "prediction_log_dropped",
            "Prediction records dropped because the prediction log's queue was full (requests never wait for the log)",
            f.log_dropped.clone(),
        );
        registry.register(
            "transform_rows",
            "Rows a model's fitted preprocessing chain (transform.json) transformed in calls that succeeded",
            f.transform_rows.clone(),
        );
        registry.register(
            "unknown_category",
            "Values of a one-hot encoded input column not seen at fit, in the rows of transform_rows",
            f.unknown_category.clone(),
        );
        registry.register(
            "unknown_category_ratio",
            "unknown_category / transform_rows since the process started (use rate() of the counters for a window)",
            f.unknown_ratio.clone(),
        );
        Self {
            inner: Arc::new(MetricsInner {
                registry,
                families,
                models: Mutex::new(HashMap::new()),
                exporters: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Records one request's end-to-end latency (`protocol`: `http` or `grpc`).
    pub fn observe_request(&self, model: &str, protocol: &str, latency: Duration) {
        self.inner
            .families
            .request_seconds
            .get_or_create(&ProtocolLabels {
                model: model.to_owned(),
                protocol: protocol.to_owned(),
            })
            .observe(latency.as_secs_f64());
    }

    /// Counts a prediction record offered to the prediction log: queued, or dropped when the
    /// log's queue was full.
    pub fn count_logged(&self, model: &str, queued: bool) {
        let labels = ModelLabels {
            model: model.to_owned(),
        };
        let f = &self.inner.families;
        if queued {
            f.log_queued.get_or_create(&labels).inc();
        } else {
            f.log_dropped.get_or_create(&labels).inc();
        }
    }

    /// Adds families of another component to `/metrics` (see [`TextExporter`]); they are
    /// written after this registry's, before the final `# EOF`.
    pub fn add_exporter(&self, exporter: TextExporter) {
        self.inner
            .exporters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(exporter);
    }

    /// Everything in Prometheus text exposition format (ends with `# EOF`).
    ///
    /// # Errors
    /// [`Error::Config`] if the encoder fails (it writes to a `String`, so only on a bug in
    /// the encoder).
    pub fn encode(&self) -> Result<String> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.inner.registry).map_err(|e| {
            Error::Config {
                what: "metrics encoding".into(),
                reason: e.to_string(),
            }
        })?;
        // The registry's text ends with "# EOF\n": the process metrics and the exporters go
        // before it.
        if out.ends_with("# EOF\n") {
            out.truncate(out.len() - "# EOF\n".len());
        }
        crate::process::encode(&mut out);
        let exporters: Vec<TextExporter> = self
            .inner
            .exporters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for e in exporters {
            e(&mut out);
        }
        out.push_str("# EOF\n");
        Ok(out)
    }

    /// The handles for one model version, created on first use.
    pub(crate) fn for_model(&self, id: &ModelIdentity) -> ModelMetrics {
        let mut models = self.inner.models.lock().unwrap_or_else(|p| p.into_inner());
        models
            .entry(id.clone())
            .or_insert_with(|| {
                let f = &self.inner.families;
                let v = VersionLabels {
                    model: id.name.to_string(),
                    version: id.version.to_string(),
                };
                let m = ModelLabels {
                    model: id.name.to_string(),
                };
                ModelMetrics {
                    identity: id.clone(),
                    requests: f.requests.get_or_create(&v).clone(),
                    errors: f.errors.get_or_create(&v).clone(),
                    rejected_overload: f.rejected_overload.get_or_create(&v).clone(),
                    rejected_too_large: f.rejected_too_large.get_or_create(&v).clone(),
                    deadline_exceeded: f.deadline_exceeded.get_or_create(&v).clone(),
                    cache_hits: f.cache_hits.get_or_create(&v).clone(),
                    cache_misses: f.cache_misses.get_or_create(&v).clone(),
                    queue_seconds: f.queue_seconds.get_or_create(&v).clone(),
                    compute_seconds: f.compute_seconds.get_or_create(&v).clone(),
                    batch_rows: f.batch_rows.get_or_create(&v).clone(),
                    queue_depth: f.queue_depth.get_or_create(&m).clone(),
                    in_flight: f.in_flight.get_or_create(&m).clone(),
                    sums: Arc::new(Sums::default()),
                }
            })
            .clone()
    }

    /// Handles for one arm of a deployment.
    pub(crate) fn for_arm(&self, id: &ModelIdentity, arm: &str) -> ArmMetrics {
        let f = &self.inner.families;
        let a = ArmLabels {
            model: id.name.to_string(),
            arm: arm.to_owned(),
            version: id.version.to_string(),
        };
        let v = VersionLabels {
            model: id.name.to_string(),
            version: id.version.to_string(),
        };
        ArmMetrics {
            routed: f.routed.get_or_create(&a).clone(),
            failures: f.routed_failures.get_or_create(&a).clone(),
            seconds: f.routed_seconds.get_or_create(&a).clone(),
            shadow_compared: f.shadow_compared.get_or_create(&v).clone(),
            shadow_mismatched: f.shadow_mismatched.get_or_create(&v).clone(),
            shadow_dropped: f.shadow_dropped.get_or_create(&v).clone(),
        }
    }

    /// Sets the candidate-weight gauge of a deployment.
    pub(crate) fn set_candidate_weight(&self, model: &str, w: f64) {
        self.inner
            .families
            .candidate_weight
            .get_or_create(&ModelLabels {
                model: model.to_owned(),
            })
            .set(w);
    }

    /// Counts one deployment event.
    pub(crate) fn count_event(&self, model: &str, kind: &str) {
        self.inner
            .families
            .deploy_events
            .get_or_create(&KindLabels {
                model: model.to_owned(),
                kind: kind.to_owned(),
            })
            .inc();
    }

    /// Whether `self` and `other` are clones of the same registry.
    pub(crate) fn same_registry(&self, other: &Metrics) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// The transform-chain handles of one model version, for its one-hot encoded
    /// `(group, column)` pairs (series created at 0 so a rate exists from the start).
    pub(crate) fn for_transform(
        &self,
        id: &ModelIdentity,
        columns: &[(String, String)],
    ) -> TransformMetrics {
        let f = &self.inner.families;
        let v = VersionLabels {
            model: id.name.to_string(),
            version: id.version.to_string(),
        };
        let columns = columns
            .iter()
            .map(|(group, column)| {
                let l = ColumnLabels {
                    model: v.model.clone(),
                    version: v.version.clone(),
                    group: group.clone(),
                    column: column.clone(),
                };
                (
                    f.unknown_category.get_or_create(&l).clone(),
                    f.unknown_ratio.get_or_create(&l).clone(),
                )
            })
            .collect();
        TransformMetrics {
            registry: self.clone(),
            rows: f.transform_rows.get_or_create(&v).clone(),
            columns,
        }
    }

    /// A snapshot of one model version's metrics, if that version has been served.
    pub fn snapshot(&self, id: &ModelIdentity) -> Option<MetricsSnapshot> {
        let models = self.inner.models.lock().unwrap_or_else(|p| p.into_inner());
        models.get(id).map(ModelMetrics::snapshot)
    }
}

/// Prometheus handles of one model version's transform chain (see [`Metrics::for_transform`]).
#[derive(Clone, Debug)]
pub(crate) struct TransformMetrics {
    /// The registry the handles belong to (to attach once per registry).
    pub(crate) registry: Metrics,
    rows: Counter,
    /// Per encoded `(group, column)`, in the order given to `for_transform`.
    columns: Vec<(Counter, Gauge<f64, AtomicU64>)>,
}

impl TransformMetrics {
    /// Adds `rows` transformed rows and, per column (same order as at creation), its unknown
    /// values; refreshes the ratio gauges from the counters.
    pub(crate) fn add(&self, rows: u64, unknown: &[u64]) {
        self.rows.inc_by(rows);
        let total = self.rows.get();
        for ((counter, ratio), &u) in self.columns.iter().zip(unknown) {
            counter.inc_by(u);
            if total > 0 {
                ratio.set(counter.get() as f64 / total as f64);
            }
        }
    }
}

/// Prometheus handles for one arm of a deployment.
#[derive(Clone, Debug)]
pub(crate) struct ArmMetrics {
    pub(crate) routed: Counter,
    pub(crate) failures: Counter,
    pub(crate) seconds: Histogram,
    pub(crate) shadow_compared: Counter,
    pub(crate) shadow_mismatched: Counter,
    pub(crate) shadow_dropped: Counter,
}

#[derive(Default, Debug)]
struct Sums {
    batches: AtomicU64,
    batch_rows: AtomicU64,
    queue_nanos: AtomicU64,
    compute_nanos: AtomicU64,
    queued: AtomicU64,
    answered_ok: AtomicU64,
    ok_nanos: AtomicU64,
    answered_err: AtomicU64,
    err_nanos: AtomicU64,
    /// Milliseconds since the Unix epoch at the end of the last batch (0: none yet).
    last_batch_ms: AtomicU64,
}

/// Metric handles for one model version (clones share the same values).
#[derive(Clone, Debug)]
pub(crate) struct ModelMetrics {
    identity: ModelIdentity,
    pub(crate) requests: Counter,
    pub(crate) errors: Counter,
    pub(crate) rejected_overload: Counter,
    pub(crate) rejected_too_large: Counter,
    pub(crate) deadline_exceeded: Counter,
    pub(crate) cache_hits: Counter,
    pub(crate) cache_misses: Counter,
    queue_seconds: Histogram,
    compute_seconds: Histogram,
    batch_rows: Histogram,
    pub(crate) queue_depth: Gauge,
    pub(crate) in_flight: Gauge,
    sums: Arc<Sums>,
}

impl ModelMetrics {
    pub(crate) fn observe_queue(&self, d: Duration) {
        self.queue_seconds.observe(d.as_secs_f64());
        self.sums
            .queue_nanos
            .fetch_add(d.as_nanos() as u64, Ordering::Relaxed);
        self.sums.queued.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn observe_batch(&self, rows: usize, compute: Duration) {
        self.compute_seconds.observe(compute.as_secs_f64());
        self.batch_rows.observe(rows as f64);
        self.sums.batches.fetch_add(1, Ordering::Relaxed);
        self.sums
            .batch_rows
            .fetch_add(rows as u64, Ordering::Relaxed);
        self.sums
            .compute_nanos
            .fetch_add(compute.as_nanos() as u64, Ordering::Relaxed);
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        self.sums.last_batch_ms.fetch_max(now_ms, Ordering::Relaxed);
    }

    /// Records one request answered by a worker (computed, failed or expired), `total` after
    /// its admission.
    pub(crate) fn observe_answer(&self, ok: bool, total: Duration) {
        let (count, nanos) = if ok {
            (&self.sums.answered_ok, &self.sums.ok_nanos)
        } else {
            (&self.sums.answered_err, &self.sums.err_nanos)
        };
        count.fetch_add(1, Ordering::Relaxed);
        nanos.fetch_add(total.as_nanos() as u64, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> MetricsSnapshot {
        let s = &self.sums;
        MetricsSnapshot {
            model: self.identity.name.to_string(),
            version: self.identity.version,
            requests: self.requests.get(),
            errors: self.errors.get(),
            rejected_overload: self.rejected_overload.get(),
            rejected_too_large: self.rejected_too_large.get(),
            deadline_exceeded: self.deadline_exceeded.get(),
            cache_hits: self.cache_hits.get(),
            cache_misses: self.cache_misses.get(),
            batches: s.batches.load(Ordering::Relaxed),
            batched_rows: s.batch_rows.load(Ordering::Relaxed),
            queue_time_total: Duration::from_nanos(s.queue_nanos.load(Ordering::Relaxed)),
            queued_requests: s.queued.load(Ordering::Relaxed),
            compute_time_total: Duration::from_nanos(s.compute_nanos.load(Ordering::Relaxed)),
            answered_ok: s.answered_ok.load(Ordering::Relaxed),
            answered_ok_time_total: Duration::from_nanos(s.ok_nanos.load(Ordering::Relaxed)),
            answered_err: s.answered_err.load(Ordering::Relaxed),
            answered_err_time_total: Duration::from_nanos(s.err_nanos.load(Ordering::Relaxed)),
            last_batch_unix_ms: match s.last_batch_ms.load(Ordering::Relaxed) {
                0 => None,
                ms => Some(ms),
            },
            queue_depth: self.queue_depth.get(),
            in_flight: self.in_flight.get(),
        }
    }
}

/// A point-in-time copy of one model version's counters.
///
/// `queue_depth` and `in_flight` are per model name (they belong to the engine, across swaps).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct MetricsSnapshot {
    /// Model name.
    pub model: String,
    /// Model version.
    pub version: u64,
    /// Requests received.
    pub requests: u64,
    /// Requests answered with an error (all kinds, rejections included).
    pub errors: u64,
    /// Requests rejected because the queue was full.
    pub rejected_overload: u64,
    /// Requests rejected for exceeding `max_batch_size`.
    pub rejected_too_large: u64,
    /// Requests dropped because their deadline passed before compute.
    pub deadline_exceeded: u64,
    /// Cache hits.
    pub cache_hits: u64,
    /// Cache misses.
    pub cache_misses: u64,
    /// Batches executed.
    pub batches: u64,
    /// Rows over all executed batches.
    pub batched_rows: u64,
    /// Sum of queue times of the requests that reached compute.
    pub queue_time_total: Duration,
    /// Requests that reached compute (the count behind `queue_time_total`).
    pub queued_requests: u64,
    /// Sum of batch compute times.
    pub compute_time_total: Duration,
    /// Requests a worker answered successfully (cache hits are not among them).
    pub answered_ok: u64,
    /// Sum of admission-to-answer times of `answered_ok`.
    pub answered_ok_time_total: Duration,
    /// Admitted requests a worker answered with an error (model error, panic, non-finite
    /// output, deadline); rejections at admission are not among them.
    pub answered_err: u64,
    /// Sum of admission-to-answer times of `answered_err`.
    pub answered_err_time_total: Duration,
    /// When the last batch finished, in milliseconds since the Unix epoch.
    pub last_batch_unix_ms: Option<u64>,
    /// Requests waiting in the queue now.
    pub queue_depth: i64,
    /// Requests admitted and not yet answered now.
    pub in_flight: i64,
}

impl MetricsSnapshot {
    /// All zeros: a version that has not been served yet.
    #[cfg(any(feature = "http", feature = "grpc"))]
    pub(crate) fn empty(model: &str, version: u64) -> Self {
        Self {
            model: model.to_owned(),
            version,
            requests: 0,
            errors: 0,
            rejected_overload: 0,
            rejected_too_large: 0,
            deadline_exceeded: 0,
            cache_hits: 0,
            cache_misses: 0,
            batches: 0,
            batched_rows: 0,
            queue_time_total: Duration::ZERO,
            queued_requests: 0,
            compute_time_total: Duration::ZERO,
            answered_ok: 0,
            answered_ok_time_total: Duration::ZERO,
            answered_err: 0,
            answered_err_time_total: Duration::ZERO,
            last_batch_unix_ms: None,
            queue_depth: 0,
            in_flight: 0,
        }
    }

    /// Mean rows per executed batch (0 when none ran).
    pub fn mean_batch_size(&self) -> f64 {
        if self.batches == 0 {
            0.0
        } else {
            self.batched_rows as f64 / self.batches as f64
        }
    }
}
