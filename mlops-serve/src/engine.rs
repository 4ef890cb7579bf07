//! The real-time engine: admission control, dynamic batching on dedicated worker threads,
//! per-request deadlines, response cache and hot-swap.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::task::{Context, Poll, Waker};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError, TrySendError};
use mlops_core::Signature;

use crate::cache::{CacheKey, Lru};
use crate::error::{Error, Result};
use crate::metrics::{Metrics, MetricsSnapshot, ModelMetrics};
use crate::predictor::{
    is_batchable, predict_guarded, validate_inputs, validate_request, ModelIdentity,
    NonFinitePolicy, Predictor,
};
use crate::tensor::{digest, Tensor, Tensors};

/// Engine settings. Build with [`EngineBuilder`].
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Most rows in one batch; larger requests are rejected at admission with [`Error::TooLarge`].
    pub max_batch_size: usize,
    /// How long a batch may wait for more requests, counted from its first request's admission.
    /// `0` means: take what is already queued, never wait.
    pub max_delay: Duration,
    /// Most requests waiting in the queue; beyond it, [`Error::Overloaded`] at once.
    pub queue_capacity: usize,
    /// Dedicated inference threads. candle also splits one matmul over `RAYON_NUM_THREADS`
    /// threads (all cores by default, and it re-reads the CPU count on every matmul); a server
    /// with one worker per core is usually faster with `RAYON_NUM_THREADS=1` set in the
    /// process environment (a library must not set it).
    pub workers: usize,
    /// Deadline applied to requests that set none (`None`: no deadline).
    pub default_timeout: Option<Duration>,
    /// Response-cache entries (`0`: no cache).
    pub cache_capacity: usize,
    /// What to do with NaN/±inf inputs.
    pub non_finite: NonFinitePolicy,
    /// What to do with NaN/±inf in a request's outputs: `Reject` (the default) answers that
    /// request with [`Error::Model`] instead of returning garbage (other requests of the same
    /// batch are unaffected); `Allow` returns them.
    pub non_finite_outputs: NonFinitePolicy,
    /// How long an idle worker, and a caller blocked in [`Pending::wait`], poll (yielding the
    /// CPU between polls) before they sleep on the OS. Can save the wake-up latency of a
    /// sleeping thread on a machine with idle cores; on a busy machine it only burns CPU.
    /// Default `0`: sleep at once.
    pub idle_spin: Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            max_batch_size: 64,
            max_delay: Duration::from_millis(1),
            queue_capacity: 1024,
            workers: 1,
            default_timeout: None,
            cache_capacity: 0,
            non_finite: NonFinitePolicy::Reject,
            non_finite_outputs: NonFinitePolicy::Reject,
            idle_spin: Duration::ZERO,
        }
    }
}

/// Builds an [`Engine`]: `EngineBuilder::new(predictor).with_max_batch_size(32).build()?`.
#[derive(Debug)]
pub struct EngineBuilder {
    predictor: Arc<dyn Predictor>,
    config: EngineConfig,
    metrics: Option<Metrics>,
}

impl EngineBuilder {
    /// Starts from [`EngineConfig::default`].
    pub fn new(predictor: Arc<dyn Predictor>) -> Self {
        Self {
            predictor,
            config: EngineConfig::default(),
            metrics: None,
        }
    }
    /// Replaces the whole configuration.
    pub fn with_config(mut self, config: EngineConfig) -> Self {
        self.config = config;
        self
    }
    /// See [`EngineConfig::max_batch_size`].
    pub fn with_max_batch_size(mut self, rows: usize) -> Self {
        self.config.max_batch_size = rows;
        self
    }
    /// See [`EngineConfig::max_delay`].
    pub fn with_max_delay(mut self, d: Duration) -> Self {
        self.config.max_delay = d;
        self
    }
    /// See [`EngineConfig::queue_capacity`].
    pub fn with_queue_capacity(mut self, n: usize) -> Self {
        self.config.queue_capacity = n;
        self
    }
    /// See [`EngineConfig::workers`].
    pub fn with_workers(mut self, n: usize) -> Self {
        self.config.workers = n;
        self
    }
    /// See [`EngineConfig::default_timeout`].
    pub fn with_default_timeout(mut self, t: Duration) -> Self {
        self.config.default_timeout = Some(t);
        self
    }
    /// See [`EngineConfig::cache_capacity`].
    pub fn with_cache_capacity(mut self, n: usize) -> Self {
        self.config.cache_capacity = n;
        self
    }
    /// See [`EngineConfig::non_finite`].
    pub fn with_non_finite(mut self, p: NonFinitePolicy) -> Self {
        self.config.non_finite = p;
        self
    }
    /// See [`EngineConfig::non_finite_outputs`].
    pub fn with_non_finite_outputs(mut self, p: NonFinitePolicy) -> Self {
        self.config.non_finite_outputs = p;
        self
    }
    /// See [`EngineConfig::idle_spin`].
    pub fn with_idle_spin(mut self, d: Duration) -> Self {
        self.config.idle_spin = d;
        self
    }
    /// Records into a shared registry instead of a private one.
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Starts the worker threads.
    ///
    /// # Errors
    /// [`Error::Config`] when `max_batch_size`, `queue_capacity` or `workers` is 0, or a
    /// thread cannot be spawned.
    #[tracing::instrument(skip_all, fields(model = %self.predictor.identity()), err)]
    pub fn build(self) -> Result<Engine> {
        let c = &self.config;
        for (what, v) in [
            ("max_batch_size", c.max_batch_size),
            ("queue_capacity", c.queue_capacity),
            ("workers", c.workers),
        ] {
            if v == 0 {
                return Err(Error::Config {
                    what: what.into(),
                    reason: "must be at least 1".into(),
                });
            }
        }
        let metrics = self.metrics.unwrap_or_default();
        self.predictor.attach_metrics(&metrics);
        let (tx, rx) = crossbeam_channel::bounded(c.queue_capacity);
        let model_metrics = metrics.for_model(self.predictor.identity());
        let shared = Arc::new(Shared {
            signature: self.predictor.signature().clone(),
            current: RwLock::new(Current {
                batchable: is_batchable(self.predictor.signature()),
                predictor: self.predictor,
                metrics: model_metrics,
                generation: 0,
            }),
            cache: (c.cache_capacity > 0).then(|| Mutex::new(Lru::new(c.cache_capacity))),
            config: self.config,
            rx,
            metrics,
            ewma_batch_nanos: AtomicU64::new(0),
        });
        let mut workers = Vec::with_capacity(shared.config.workers);
        for i in 0..shared.config.workers {
            let s = Arc::clone(&shared);
            let handle = std::thread::Builder::new()
                .name(format!("mlops-serve-{i}"))
                .spawn(move || worker_loop(&s))
                .map_err(|e| Error::Config {
                    what: "workers".into(),
                    reason: format!("cannot spawn a worker thread: {e}"),
                })?;
            workers.push(handle);
        }
        Ok(Engine {
            inner: Arc::new(Inner {
                tx: Some(tx),
                shared,
                workers,
            }),
        })
    }
}

/// Options for one request.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestOptions {
    /// Give up if compute has not started within this time (overrides the engine default).
    pub timeout: Option<Duration>,
    /// Skip the response cache for this request.
    pub bypass_cache: bool,
}

#[derive(Clone)]
struct Current {
    predictor: Arc<dyn Predictor>,
    metrics: ModelMetrics,
    generation: u64,
    batchable: bool,
}

struct Shared {
    signature: Signature,
    current: RwLock<Current>,
    cache: Option<Mutex<Lru>>,
    config: EngineConfig,
    rx: Receiver<Job>,
    metrics: Metrics,
    ewma_batch_nanos: AtomicU64,
}

impl Shared {
    fn current(&self) -> Current {
        // A poisoned lock only means a writer panicked between statements that cannot panic;
        // the value is a plain Arc swap, always consistent.
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

struct Inner {
    tx: Option<Sender<Job>>,
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing the channel lets workers finish what is queued, then exit.
        self.tx.take();
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

/// A running engine. Cheap to clone (all clones share the queue, workers, model and cache);
/// the workers stop after the last clone is dropped, once the queued requests are answered.
///
/// ```
/// use mlops_core::{DType, Schema, Signature, TensorSpec};
/// use mlops_serve::{EngineBuilder, ModelIdentity, ModulePredictor, Tensor, Tensors};
/// let w = candle_core::Tensor::new(&[[1f32, 1.0]], &candle_core::Device::Cpu).unwrap();
/// let sig = Signature {
///     inputs: Schema::new(vec![TensorSpec::new("x", DType::F32, vec![-1, 2])]),
///     outputs: Schema::new(vec![TensorSpec::new("y", DType::F32, vec![-1, 1])]),
/// };
/// let p = ModulePredictor::new(ModelIdentity::new("sum", 1)?, sig, candle_nn::Linear::new(w, None))?;
/// let engine = EngineBuilder::new(p.into_shared()).build()?;
/// let y = engine.predict(Tensors::from([("x".into(), Tensor::f32(vec![1, 2], vec![2.0, 3.0])?)]))?;
/// assert_eq!(y["y"].as_f32(), Some(&[5.0f32][..]));
/// # Ok::<(), mlops_serve::Error>(())
/// ```
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("model", &self.identity())
            .field("config", &self.inner.shared.config)
            .finish()
    }
}

impl Engine {
    /// The identity of the model being served now.
    pub fn identity(&self) -> ModelIdentity {
        self.inner.shared.current().predictor.identity().clone()
    }

    /// The signature every request is validated against (fixed for the engine's life).
    pub fn signature(&self) -> &Signature {
        &self.inner.shared.signature
    }

    /// The configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.shared.config
    }

    /// The metrics registry this engine records into.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.shared.metrics
    }

    /// A snapshot of the current model version's metrics.
    pub fn snapshot(&self) -> MetricsSnapshot {
        self.inner.shared.current().metrics.snapshot()
    }

    /// Runs one request and blocks the calling thread until it is answered.
    ///
    /// # Errors
    /// See [`Engine::submit`], plus [`Error::DeadlineExceeded`], the model's errors
    /// ([`Error::Model`], [`Error::ModelPanicked`]) and [`Error::ShutDown`].
    pub fn predict(&self, inputs: Tensors) -> Result<Tensors> {
        self.submit(inputs, RequestOptions::default())?.wait()
    }

    /// Runs one request asynchronously; the future is runtime-agnostic (no executor needed
    /// beyond the caller's) and inference runs on the engine's own threads.
    ///
    /// # Errors
    /// As [`Engine::predict`].
    pub async fn predict_async(&self, inputs: Tensors, options: RequestOptions) -> Result<Tensors> {
        self.submit(inputs, options)?.await
    }

    /// Validates and enqueues a request without waiting. Dropping the returned [`Pending`]
    /// cancels the request if it has not started computing.
    ///
    /// # Errors
    /// - [`Error::InvalidInput`] naming the field that fails the signature or NaN policy;
    /// - [`Error::TooLarge`] when the request has more rows than `max_batch_size`;
    /// - [`Error::Overloaded`] at once when the queue is full (with a retry hint);
    /// - [`Error::ShutDown`] when the workers are gone.
    pub fn submit(&self, inputs: Tensors, options: RequestOptions) -> Result<Pending> {
        self.admit(inputs, options).map_err(|(e, _)| e)
    }

    /// [`Engine::submit`] that hands the inputs back when the queue is full, so a caller that
    /// waits and retries (the stream adapter) need not copy every request up front.
    pub(crate) fn admit(
        &self,
        inputs: Tensors,
        options: RequestOptions,
    ) -> std::result::Result<Pending, (Error, Option<Tensors>)> {
        let shared = &self.inner.shared;
        let cur = shared.current();
        let m = &cur.metrics;
        m.requests.inc();
        let fail = |e: Error| {
            m.errors.inc();
            tracing::debug!(model = %cur.predictor.identity(), error = %e, "request rejected");
            e
        };
        let Some(tx) = &self.inner.tx else {
            return Err((fail(Error::ShutDown), None));
        };
        // The current predictor's signature equals `shared.signature` (`swap` checks it); it
        // also says which inputs take NaN as a missing value.
        let rows = match validate_request(cur.predictor.as_ref(), &inputs, shared.config.non_finite)
        {
            Ok(rows) => rows,
            Err(e) => return Err((fail(e), None)),
        };
        if cur.batchable && rows > shared.config.max_batch_size {
            m.rejected_too_large.inc();
            let e = Error::TooLarge {
                rows,
                max_batch_size: shared.config.max_batch_size,
            };
            return Err((fail(e), None));
        }
        let mut key = None;
        if let (Some(cache), false) = (&shared.cache, options.bypass_cache) {
            let d = digest(&inputs);
            let hit = cache
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&(cur.generation, d));
            if let Some(out) = hit {
                m.cache_hits.inc();
                return Ok(Pending::ready(Ok(out)));
            }
            m.cache_misses.inc();
            key = Some(d);
        }
        let enqueued = Instant::now();
        let slot = Arc::new(Slot {
            spin: shared.config.idle_spin,
            ..Slot::default()
        });
        let job = Job {
            inputs,
            rows,
            enqueued,
            deadline: options
                .timeout
                .or(shared.config.default_timeout)
                .map(|t| enqueued + t),
            digest: key,
            responder: Responder {
                slot: Arc::clone(&slot),
                in_flight: m.in_flight.clone(),
                done: false,
            },
        };
        // Alone in flight: the answer comes back within one compute, so a first poll may spin
        // for it; under concurrency the runtime thread has other requests to serve instead.
        let alone = m.in_flight.inc() == 0;
        m.queue_depth.inc();
        let (mut job, e) = match tx.try_send(job) {
            Ok(()) => {
                return Ok(Pending {
                    slot: Some(slot),
                    polled: !alone,
                })
            }
            Err(TrySendError::Full(job)) => {
                m.rejected_overload.inc();
                let e = Error::Overloaded {
                    queue_capacity: shared.config.queue_capacity,
                    retry_after: self.retry_hint(),
                };
                (job, e)
            }
            Err(TrySendError::Disconnected(job)) => (job, Error::ShutDown),
        };
        m.queue_depth.dec();
        m.in_flight.dec();
        job.responder.done = true;
        let inputs = std::mem::take(&mut job.inputs);
        Err((fail(e), Some(inputs)))
    }

    /// Time to drain a full queue: batches in the queue × mean batch compute time / workers
    /// (at least 1 ms).
    fn retry_hint(&self) -> Duration {
        let s = &self.inner.shared;
        let c = &s.config;
        let batches = c.queue_capacity.div_ceil(c.max_batch_size) as u64;
        let per = s.ewma_batch_nanos.load(Ordering::Relaxed).max(1);
        let nanos = batches.saturating_mul(per) / c.workers as u64;
        Duration::from_nanos(nanos).max(Duration::from_millis(1))
    }

    /// Replaces the model. Batches already running finish on the old model; requests
    /// admitted afterwards are computed by the new one; no request fails because of the swap.
    /// When `warmup` is given, the new model runs on it first, and an error leaves the old
    /// model in place.
    ///
    /// # Errors
    /// [`Error::Incompatible`] when the new model's signature differs from the engine's,
    /// or the warm-up's validation or model error.
    #[tracing::instrument(skip_all, fields(from = %self.identity(), to = %predictor.identity()), err)]
    pub fn swap(&self, predictor: Arc<dyn Predictor>, warmup: Option<&Tensors>) -> Result<()> {
        let shared = &self.inner.shared;
        if predictor.signature() != &shared.signature {
            return Err(Error::Incompatible {
                reason: format!(
                    "signature {:?} differs from the served {:?}",
                    predictor.signature(),
                    shared.signature
                ),
            });
        }
        if let Some(w) = warmup {
            let rows = validate_inputs(predictor.signature(), w, NonFinitePolicy::Allow)?;
            predict_guarded(predictor.as_ref(), w, rows)?;
        }
        predictor.attach_metrics(&shared.metrics);
        let metrics = shared.metrics.for_model(predictor.identity());
        let mut cur = shared.current.write().unwrap_or_else(|p| p.into_inner());
        cur.generation += 1;
        cur.predictor = predictor;
        cur.metrics = metrics;
        Ok(())
    }
}

/// Completes the request exactly once: with the result, or with [`Error::ShutDown`] if the
/// job is dropped unanswered (engine shut down, worker died), so no caller waits forever.
struct Responder {
    slot: Arc<Slot>,
    in_flight: prometheus_client::metrics::gauge::Gauge,
    done: bool,
}

impl Responder {
    fn send(mut self, r: Result<Tensors>) {
        self.done = true;
        self.in_flight.dec();
        self.slot.complete(r);
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        if !self.done {
            self.in_flight.dec();
            self.slot.complete(Err(Error::ShutDown));
        }
    }
}

struct Job {
    inputs: Tensors,
    rows: usize,
    enqueued: Instant,
    deadline: Option<Instant>,
    digest: Option<[u8; 32]>,
    responder: Responder,
}

#[derive(Default)]
struct Slot {
    state: Mutex<SlotState>,
    cv: Condvar,
    cancelled: AtomicBool,
    /// Set after the result is stored; lets a waiter poll without the lock.
    ready: AtomicBool,
    /// How long `wait` polls `ready` before sleeping on the condvar.
    spin: Duration,
}

#[derive(Default)]
struct SlotState {
    result: Option<Result<Tensors>>,
    waker: Option<Waker>,
}

impl Slot {
    fn complete(&self, r: Result<Tensors>) {
        let waker = {
            let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
            s.result = Some(r);
            s.waker.take()
        };
        self.ready.store(true, Ordering::Release);
        self.cv.notify_all();
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// A request in flight: [`Pending::wait`] blocks for the answer, or `.await` it.
/// Dropping it cancels the request if compute has not started.
pub struct Pending {
    slot: Option<Arc<Slot>>,
    /// Whether the future has been polled: the bounded spin happens on the first poll only,
    /// and only for a request that was alone in flight when admitted (set `true` otherwise).
    polled: bool,
}

/// Longest a first `poll` of [`Pending`] spins for the answer (when the engine's `idle_spin`
/// is set) before registering its waker: within tokio's guidance of 10–100 µs between awaits,
/// and it saves the park/unpark of the runtime thread when the model answers quickly.
const ASYNC_SPIN_CAP: Duration = Duration::from_micros(50);

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending").finish_non_exhaustive()
    }
}

impl Pending {
    fn ready(r: Result<Tensors>) -> Self {
        let slot = Arc::new(Slot::default());
        slot.complete(r);
        Pending {
            slot: Some(slot),
            polled: false,
        }
    }

    /// Blocks until the request is answered.
    ///
    /// # Errors
    /// The request's error (see [`Engine::predict`]).
    pub fn wait(mut self) -> Result<Tensors> {
        let Some(slot) = self.slot.take() else {
            return Err(Error::ShutDown);
        };
        if !slot.spin.is_zero() {
            let start = Instant::now();
            while !slot.ready.load(Ordering::Acquire) && start.elapsed() < slot.spin {
                std::thread::yield_now();
            }
        }
        let mut s = slot.state.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(r) = s.result.take() {
                return r;
            }
            s = slot.cv.wait(s).unwrap_or_else(|p| p.into_inner());
        }
    }
}

impl Future for Pending {
    type Output = Result<Tensors>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let first = !std::mem::replace(&mut self.polled, true);
        let Some(slot) = self.slot.as_ref() else {
            return Poll::Ready(Err(Error::ShutDown));
        };
        if first && !slot.spin.is_zero() {
            let start = Instant::now();
            let cap = slot.spin.min(ASYNC_SPIN_CAP);
            while !slot.ready.load(Ordering::Acquire) && start.elapsed() < cap {
                std::thread::yield_now();
            }
        }
        let mut s = slot.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(r) = s.result.take() {
            drop(s);
            self.slot = None;
            return Poll::Ready(r);
        }
        s.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(slot) = &self.slot {
            slot.cancelled.store(true, Ordering::Relaxed);
        }
    }
}

fn worker_loop(shared: &Shared) {
    let max = shared.config.max_batch_size;
    let mut carry: Option<Job> = None;
    loop {
        let cur;
        let first = match carry.take() {
            // Already counted out of the queue when it was received.
            Some(j) => {
                cur = shared.current();
                j
            }
            None => match recv_spinning(&shared.rx, shared.config.idle_spin) {
                Ok(j) => {
                    cur = shared.current();
                    cur.metrics.queue_depth.dec();
                    j
                }
                Err(_) => return,
            },
        };
        let mut rows = first.rows;
        let until = first.enqueued + shared.config.max_delay;
        let mut batch = vec![first];
        while cur.batchable && rows < max {
            let next = match shared.rx.try_recv() {
                Ok(j) => j,
                Err(TryRecvError::Disconnected) => break,
                Err(TryRecvError::Empty) => match shared.rx.recv_deadline(until) {
                    Ok(j) => j,
                    Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
                },
            };
            cur.metrics.queue_depth.dec();
            if rows + next.rows > max {
                carry = Some(next);
                break;
            }
            rows += next.rows;
            batch.push(next);
        }
        run_batch(shared, batch);
    }
}

/// `recv`, after polling for up to `spin` (yielding between polls).
fn recv_spinning(rx: &Receiver<Job>, spin: Duration) -> std::result::Result<Job, ()> {
    if !spin.is_zero() {
        let start = Instant::now();
        loop {
            match rx.try_recv() {
                Ok(j) => return Ok(j),
                Err(TryRecvError::Disconnected) => return Err(()),
                Err(TryRecvError::Empty) if start.elapsed() < spin => std::thread::yield_now(),
                Err(TryRecvError::Empty) => break,
            }
        }
    }
    rx.recv().map_err(|_| ())
}

fn run_batch(shared: &Shared, mut batch: Vec<Job>) {
    let now = Instant::now();
    let cur = shared.current();
    let m = &cur.metrics;
    let mut live = Vec::with_capacity(batch.len());
    for job in batch.drain(..) {
        if job.responder.slot.cancelled.load(Ordering::Relaxed) {
            // Nobody waits for it: dropping the responder answers ShutDown into the void.
            continue;
        }
        if job.deadline.is_some_and(|d| d <= now) {
            m.deadline_exceeded.inc();
            m.errors.inc();
            let waited = now - job.enqueued;
            m.observe_answer(false, waited);
            job.responder.send(Err(Error::DeadlineExceeded { waited }));
            continue;
        }
        m.observe_queue(now - job.enqueued);
        live.push(job);
    }
    if live.is_empty() {
        return;
    }
    let _span =
        tracing::debug_span!("batch", model = %cur.predictor.identity(), requests = live.len())
            .entered();
    let rows: usize = live.iter().map(|j| j.rows).sum();
    let started = Instant::now();
    let result = if live.len() == 1 {
        predict_guarded(cur.predictor.as_ref(), &live[0].inputs, rows).map(|o| vec![o])
    } else {
        predict_stacked(&cur, &live, rows)
    };
    let elapsed = started.elapsed();
    m.observe_batch(rows, elapsed);
    let nanos = elapsed.as_nanos() as u64;
    let old = shared.ewma_batch_nanos.load(Ordering::Relaxed);
    let ewma = if old == 0 {
        nanos
    } else {
        old - old / 8 + nanos / 8
    };
    shared.ewma_batch_nanos.store(ewma, Ordering::Relaxed);
    match result {
        Ok(outs) => {
            for (job, out) in live.into_iter().zip(outs) {
                finish(shared, &cur, job, Ok(out));
            }
        }
        Err(e) if live.len() == 1 => {
            if let Some(job) = live.pop() {
                finish(shared, &cur, job, Err(e));
            }
        }
        Err(e) => {
            // Isolate the failure: rerun each request alone so only the culprit fails.
            tracing::warn!(model = %cur.predictor.identity(), error = %e, "batch failed; retrying its requests one by one");
            for job in live {
                let started = Instant::now();
                let r = predict_guarded(cur.predictor.as_ref(), &job.inputs, job.rows);
                m.observe_batch(job.rows, started.elapsed());
                finish(shared, &cur, job, r);
            }
        }
    }
}

fn finish(shared: &Shared, cur: &Current, job: Job, r: Result<Tensors>) {
    let r = match r {
        Ok(out) if shared.config.non_finite_outputs == NonFinitePolicy::Reject => {
            match out
                .iter()
                .find_map(|(n, t)| t.first_non_finite().map(|i| (n, i)))
            {
                Some((name, i)) => {
                    let id = cur.predictor.identity();
                    Err(Error::Model {
                        model: id.name.to_string(),
                        version: id.version,
                        reason: format!("output {name:?} element {i} is NaN or infinite"),
                    })
                }
                None => Ok(out),
            }
        }
        other => other,
    };
    match &r {
        Ok(out) => {
            if let (Some(cache), Some(d)) = (&shared.cache, job.digest) {
                let key: CacheKey = (cur.generation, d);
                cache
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .put(key, out.clone());
            }
        }
        Err(_) => {
            cur.metrics.errors.inc();
        }
    }
    cur.metrics
        .observe_answer(r.is_ok(), job.enqueued.elapsed());
    job.responder.send(r);
}

/// Stacks the requests' inputs along the leading axis, runs one forward pass, splits the outputs.
fn predict_stacked(cur: &Current, jobs: &[Job], rows: usize) -> Result<Vec<Tensors>> {
    let mut stacked = Tensors::new();
    for name in jobs[0].inputs.keys() {
        let parts: Vec<&Tensor> = jobs.iter().filter_map(|j| j.inputs.get(name)).collect();
        if parts.len() != jobs.len() {
            return Err(Error::invalid(name, "missing from a request in the batch"));
        }
        stacked.insert(name.clone(), Tensor::concat_rows(&parts)?);
    }
    let out = predict_guarded(cur.predictor.as_ref(), &stacked, rows)?;
    let counts: Vec<usize> = jobs.iter().map(|j| j.rows).collect();
    let mut per_job: Vec<Tensors> = vec![Tensors::new(); jobs.len()];
    for (name, t) in out {
        for (dst, piece) in per_job.iter_mut().zip(t.split_rows(&counts)?) {
            dst.insert(name.clone(), piece);
        }
    }
    Ok(per_job)
}
