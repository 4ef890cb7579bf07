//! The prediction log: every served row (or a sample) as a [`LoggedPrediction`], appended to
//! segmented, CRC-framed files by one writer thread behind a bounded queue.
//!
//! # Guarantees
//! - **Logging never blocks or fails a request.** [`PredictionLog::try_log`] and
//!   [`PredictionLog::try_log_with`] push onto a bounded queue with `try_send`; when the
//!   writer falls behind (queue full) or the log is closed, the hand-over is refused,
//!   counted in [`LogStats::dropped`], and `false` is returned. Nothing else happens on the
//!   caller's thread (`try_log_with`'s closure runs on the writer thread).
//! - **A kill loses at most the unflushed tail.** The writer buffers and hands its buffer to
//!   the OS every [`LogConfig::flush_interval`] (default 1 s), on [`PredictionLog::flush`],
//!   when a segment is sealed and on close/drop. A process killed in between loses what was
//!   still buffered or queued; [`LogStats::flushed`] counts the records the OS has.
//! - **A torn tail is cut, never reported as corruption.** On open, the active segment is
//!   scanned and everything from its first bad frame (short, CRC mismatch, undecodable) is
//!   truncated away; [`PredictionLog::recovery`] says what was cut. A bad frame inside a
//!   *sealed* segment is real damage (sealed segments are flushed, fsynced and renamed
//!   atomically, so they are never torn) and is [`Error::Corrupt`] with the path and byte
//!   offset, from both [`PredictionLog::open`] and [`LogReader`]: move the damaged segment
//!   away (or restore it) to go on. The log does not repair it silently.
//! - **One writer per directory.** An exclusive `flock(2)` on `<dir>/LOCK`; a second writer
//!   gets [`Error::Io`] of kind `WouldBlock` naming the lock file and the holder's pid.
//!   Readers take no lock and may read while the writer appends.
//!
//! # Segments
//! The active segment `seg-<seq>-<created_ms>.open` is sealed (renamed `seg-<seq>.log`) when
//! it reaches [`LogConfig::segment_max_bytes`] or is older than
//! [`LogConfig::segment_max_age`] (measured from its creation time, kept in its name, so a
//! restart does not reset it). With feature `parquet`, each sealed segment is also written
//! as `seg-<seq>.parquet` (columns: see [`table`]); a sealed segment that lacks its Parquet
//! file (a crash in between) gets it at the next open. After each seal (and at open),
//! retention deletes sealed segments last modified more than
//! [`LogConfig::retention_max_age`] ago, then the oldest ones while the directory's
//! segments exceed [`LogConfig::retention_max_bytes`]; the active segment is never deleted.
//! The directory layout is described in the `dir` module source.
//!
//! ```
//! use mlops_monitor::log::{LogConfig, LogReader, PredictionLog};
//! use mlops_monitor::{LoggedPrediction, Value};
//! # fn main() -> mlops_monitor::Result<()> {
//! let dir = tempfile::tempdir().map_err(|e| mlops_monitor::Error::io("tmp", e))?;
//! let log = PredictionLog::open(LogConfig::new(dir.path()))?;
//! let row = LoggedPrediction {
//!     id: "req-1".into(), timestamp_ms: 1_764_000_000_000, model: "churn".into(), version: 3,
//!     arm: "stable".into(), features: vec![("age".into(), Value::Num(41.0))],
//!     prediction: Some(Value::Num(1.0)), scores: vec![0.2, 0.8], segments: vec![],
//!     kpis: vec![], latency_s: Some(0.004), error: None,
//! };
//! assert!(log.try_log(row));
//! log.close()?;
//! let back = LogReader::open(dir.path())?.read_all()?;
//! assert_eq!(back[0].id, "req-1");
//! # Ok(()) }
//! ```

mod dir;
mod index;
mod reader;
pub mod table;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Sender, TrySendError};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::record::LoggedPrediction;

pub use index::IdIndex;
pub use reader::LogReader;

pub(crate) use dir::DirLock;

/// How a [`PredictionLog`] writes, seals and retains.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct LogConfig {
    /// The log directory (created if missing).
    pub dir: PathBuf,
    /// How often buffered records are handed to the OS (default 1 s).
    pub flush_interval: Duration,
    /// Seal the active segment once it holds this many bytes (default 64 MiB).
    pub segment_max_bytes: u64,
    /// Seal the active segment once it is this old (default 1 h).
    pub segment_max_age: Duration,
    /// Delete sealed segments last modified longer ago than this (default: keep).
    pub retention_max_age: Option<Duration>,
    /// Delete the oldest sealed segments while all segments (and their Parquet files)
    /// together exceed this many bytes (default: no limit).
    pub retention_max_bytes: Option<u64>,
    /// Bounded queue between callers and the writer, in hand-overs (default 65 536).
    pub queue_capacity: usize,
    /// fsync a segment before sealing it (default true: a sealed segment then survives a
    /// power loss too).
    pub fsync_on_seal: bool,
    /// Write `seg-<seq>.parquet` next to each sealed segment (default true; only with
    /// feature `parquet`).
    pub write_parquet: bool,
    /// Upload sealed segments (and their Parquet files) here (feature `s3`; default none).
    #[cfg(feature = "s3")]
    pub upload: Option<crate::s3::S3Target>,
}

impl LogConfig {
    /// The defaults for `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        LogConfig {
            dir: dir.into(),
            flush_interval: Duration::from_secs(1),
            segment_max_bytes: 64 * 1024 * 1024,
            segment_max_age: Duration::from_secs(3600),
            retention_max_age: None,
            retention_max_bytes: None,
            queue_capacity: 65_536,
            fsync_on_seal: true,
            write_parquet: true,
            #[cfg(feature = "s3")]
            upload: None,
        }
    }

    /// Sets [`LogConfig::upload`].
    #[cfg(feature = "s3")]
    pub fn with_upload(mut self, target: Option<crate::s3::S3Target>) -> Self {
        self.upload = target;
        self
    }

    /// Sets [`LogConfig::flush_interval`].
    pub fn with_flush_interval(mut self, d: Duration) -> Self {
        self.flush_interval = d;
        self
    }

    /// Sets [`LogConfig::segment_max_bytes`].
    pub fn with_segment_max_bytes(mut self, n: u64) -> Self {
        self.segment_max_bytes = n;
        self
    }

    /// Sets [`LogConfig::segment_max_age`].
    pub fn with_segment_max_age(mut self, d: Duration) -> Self {
        self.segment_max_age = d;
        self
    }

    /// Sets [`LogConfig::retention_max_age`].
    pub fn with_retention_max_age(mut self, d: Option<Duration>) -> Self {
        self.retention_max_age = d;
        self
    }

    /// Sets [`LogConfig::retention_max_bytes`].
    pub fn with_retention_max_bytes(mut self, n: Option<u64>) -> Self {
        self.retention_max_bytes = n;
        self
    }

    /// Sets [`LogConfig::queue_capacity`].
    pub fn with_queue_capacity(mut self, n: usize) -> Self {
        self.queue_capacity = n;
        self
    }

    /// Sets [`LogConfig::fsync_on_seal`].
    pub fn with_fsync_on_seal(mut self, on: bool) -> Self {
        self.fsync_on_seal = on;
        self
    }

    /// Sets [`LogConfig::write_parquet`].
    pub fn with_write_parquet(mut self, on: bool) -> Self {
        self.write_parquet = on;
        self
    }

    /// Checks the settings.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the setting when an interval, age, size or capacity
    /// is zero.
    pub fn validate(&self) -> Result<()> {
        let zero = |name: &str| {
            Err(Error::invalid(
                format!("log config {name}"),
                "must be greater than zero",
            ))
        };
        if self.flush_interval.is_zero() {
            return zero("flush_interval");
        }
        if self.segment_max_bytes == 0 {
            return zero("segment_max_bytes");
        }
        if self.segment_max_age.is_zero() {
            return zero("segment_max_age");
        }
        if self.queue_capacity == 0 {
            return zero("queue_capacity");
        }
        if self.retention_max_age.is_some_and(|d| d.is_zero()) {
            return zero("retention_max_age");
        }
        if self.retention_max_bytes == Some(0) {
            return zero("retention_max_bytes");
        }
        Ok(())
    }
}

/// What [`PredictionLog::open`] found and repaired.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RecoveryReport {
    /// Segments found (sealed and active).
    pub segments: usize,
    /// Valid records found in them.
    pub records: u64,
    /// Bytes cut from the active segment's tail (0 when it ended cleanly).
    pub cut_bytes: u64,
    /// The segment that was cut, if any.
    pub cut_path: Option<PathBuf>,
    /// Offset in that segment where the cut began.
    pub cut_offset: Option<u64>,
    /// Why (the first bad frame).
    pub cut_reason: Option<String>,
    /// Sealed segments deleted by retention at open.
    pub retained_away: usize,
}

/// Counters of a [`PredictionLog`] (all since open).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LogStats {
    /// Hand-overs accepted into the queue (one per `try_log`, one per `try_log_with`
    /// closure whatever it returns).
    pub queued: u64,
    /// Hand-overs refused: queue full or log closed.
    pub dropped: u64,
    /// Records written (to the writer's buffer, then the active segment).
    pub written: u64,
    /// Records handed to the OS (a lower bound: the buffer may spill earlier).
    pub flushed: u64,
    /// Records the writer could not store (over 64 MiB encoded, an I/O error, a closure
    /// that panicked); see [`PredictionLog::last_error`].
    pub failed: u64,
    /// Framed bytes written.
    pub bytes_written: u64,
    /// Segments in the directory now (sealed and active).
    pub segments: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub queued: AtomicU64,
    pub dropped: AtomicU64,
    pub written: AtomicU64,
    pub flushed: AtomicU64,
    pub failed: AtomicU64,
    pub bytes_written: AtomicU64,
    pub segments: AtomicU64,
    pub closed: AtomicBool,
    pub last_error: Mutex<Option<String>>,
}

impl Counters {
    pub(crate) fn set_error(&self, e: String) {
        tracing::warn!(error = %e, "prediction log writer");
        *self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(e);
    }
}

pub(crate) type Batch = Box<dyn FnOnce() -> Vec<LoggedPrediction> + Send + 'static>;

pub(crate) enum Msg {
    One(Box<LoggedPrediction>),
    Many(Batch),
    Flush(Sender<std::result::Result<(), String>>),
    Close,
}

/// A cheap, cloneable hot-path handle on a [`PredictionLog`] (for the serving sink).
#[derive(Clone)]
pub struct LogHandle {
    tx: Sender<Msg>,
    counters: Arc<Counters>,
}

impl std::fmt::Debug for LogHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogHandle")
            .field("queued", &self.tx.len())
            .finish()
    }
}

impl LogHandle {
    fn offer(&self, msg: Msg) -> bool {
        if self.counters.closed.load(Ordering::Relaxed) {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        match self.tx.try_send(msg) {
            Ok(()) => {
                self.counters.queued.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// Hands one record to the writer without blocking; `false` when it was dropped (queue
    /// full or log closed), which is counted.
    pub fn try_log(&self, rec: LoggedPrediction) -> bool {
        self.offer(Msg::One(Box::new(rec)))
    }

    /// Hands a closure that builds records to the writer without blocking; it runs on the
    /// writer thread, so the caller pays only for the queue push. `false` when dropped.
    pub fn try_log_with<F>(&self, f: F) -> bool
    where
        F: FnOnce() -> Vec<LoggedPrediction> + Send + 'static,
    {
        self.offer(Msg::Many(Box::new(f)))
    }

    /// Hands one record to the writer, waiting while the queue is full: for bulk imports
    /// (batch predictions, benchmarks), never for a serving path.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when the log is closed (the record is counted as dropped).
    pub fn log_blocking(&self, rec: LoggedPrediction) -> Result<()> {
        if !self.counters.closed.load(Ordering::Relaxed)
            && self.tx.send(Msg::One(Box::new(rec))).is_ok()
        {
            self.counters.queued.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        self.counters.dropped.fetch_add(1, Ordering::Relaxed);
        Err(Error::invalid("prediction log", "the log is closed"))
    }

    /// The counters now.
    pub fn stats(&self) -> LogStats {
        let c = &self.counters;
        LogStats {
            queued: c.queued.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            written: c.written.load(Ordering::Relaxed),
            flushed: c.flushed.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
            bytes_written: c.bytes_written.load(Ordering::Relaxed),
            segments: c.segments.load(Ordering::Relaxed),
        }
    }

    /// Hand-overs waiting in the queue now.
    pub fn pending(&self) -> usize {
        self.tx.len()
    }
}

/// The prediction log's writer: a directory, its lock and the writer thread.
///
/// Dropping it closes it (drains the queue, flushes); prefer [`PredictionLog::close`] to see
/// the final error, if any.
#[derive(Debug)]
pub struct PredictionLog {
    handle: LogHandle,
    dir: PathBuf,
    ids: Arc<IdIndex>,
    recovery: RecoveryReport,
    thread: Option<JoinHandle<std::result::Result<(), String>>>,
}

impl PredictionLog {
    /// Opens (or creates) the log in `config.dir`, recovers it and starts the writer.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a bad config or a directory that is not empty and not a
    /// log; [`Error::Io`] (kind `WouldBlock`) when another writer holds the directory, or
    /// for any I/O failure; [`Error::Corrupt`] with path and offset when a sealed segment is
    /// damaged.
    #[tracing::instrument(skip_all, fields(dir = %config.dir.display()), err)]
    pub fn open(config: LogConfig) -> Result<PredictionLog> {
        config.validate()?;
        dir::init_dir(&config.dir)?;
        let lock = DirLock::acquire(&config.dir, dir::LOCK, "prediction log")?;
        let ids = Arc::new(IdIndex::new());
        let counters = Arc::new(Counters::default());
        let (w, recovery) =
            writer::Writer::recover(config.clone(), lock, ids.clone(), counters.clone())?;
        let (tx, rx) = crossbeam_channel::bounded(config.queue_capacity);
        let thread = std::thread::Builder::new()
            .name("mlops-prediction-log".into())
            .spawn(move || w.run(rx))
            .map_err(|e| Error::io(&config.dir, e))?;
        Ok(PredictionLog {
            handle: LogHandle { tx, counters },
            dir: config.dir,
            ids,
            recovery,
            thread: Some(thread),
        })
    }

    /// The log directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What open found and cut.
    pub fn recovery(&self) -> &RecoveryReport {
        &self.recovery
    }

    /// Prediction id → time of every record in the log (filled at open, kept up to date by
    /// the writer as it writes), for answering label ingestion at once. An id enters the
    /// index when the writer has buffered its record, before the flush: a kill may still
    /// lose a record whose label was counted as matched (the label itself is kept, and
    /// counts as unknown in later joins).
    pub fn ids(&self) -> Arc<IdIndex> {
        self.ids.clone()
    }

    /// A cloneable hot-path handle.
    pub fn handle(&self) -> LogHandle {
        self.handle.clone()
    }

    /// See [`LogHandle::try_log`].
    pub fn try_log(&self, rec: LoggedPrediction) -> bool {
        self.handle.try_log(rec)
    }

    /// See [`LogHandle::log_blocking`].
    ///
    /// # Errors
    /// As [`LogHandle::log_blocking`].
    pub fn log_blocking(&self, rec: LoggedPrediction) -> Result<()> {
        self.handle.log_blocking(rec)
    }

    /// See [`LogHandle::try_log_with`].
    pub fn try_log_with<F>(&self, f: F) -> bool
    where
        F: FnOnce() -> Vec<LoggedPrediction> + Send + 'static,
    {
        self.handle.try_log_with(f)
    }

    /// The counters now.
    pub fn stats(&self) -> LogStats {
        self.handle.stats()
    }

    /// The writer's last error (an I/O failure, a record too large, a Parquet file that
    /// could not be written), if any.
    pub fn last_error(&self) -> Option<String> {
        self.handle
            .counters
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Blocks until the writer has written and handed to the OS everything queued before
    /// this call (waits for queue space if the queue is full).
    ///
    /// # Errors
    /// [`Error::Io`] when the flush fails or the writer has stopped.
    #[tracing::instrument(skip_all, fields(dir = %self.dir.display()), err)]
    pub fn flush(&self) -> Result<()> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        let stopped = || {
            Error::io(
                &self.dir,
                std::io::Error::other("the log writer has stopped"),
            )
        };
        self.handle.tx.send(Msg::Flush(tx)).map_err(|_| stopped())?;
        match rx.recv() {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Error::io(&self.dir, std::io::Error::other(e))),
            Err(_) => Err(stopped()),
        }
    }

    fn shutdown(&mut self) -> std::result::Result<(), String> {
        let Some(thread) = self.thread.take() else {
            return Ok(());
        };
        self.handle.counters.closed.store(true, Ordering::Relaxed);
        // A blocking send: waits for queue space, so every record queued before is written.
        let _ = self.handle.tx.send(Msg::Close);
        match thread.join() {
            Ok(r) => r,
            Err(_) => Err("the log writer thread panicked".into()),
        }
    }

    /// Stops accepting records, writes everything queued, flushes, releases the lock.
    ///
    /// # Errors
    /// [`Error::Io`] when the final flush fails or the writer had died.
    #[tracing::instrument(skip_all, fields(dir = %self.dir.display()), err)]
    pub fn close(mut self) -> Result<LogStats> {
        let r = self.shutdown();
        let stats = self.stats();
        r.map_err(|e| Error::io(&self.dir, std::io::Error::other(e)))?;
        Ok(stats)
    }
}

impl Drop for PredictionLog {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown() {
            tracing::error!(error = %e, dir = %self.dir.display(), "closing the prediction log");
        }
    }
}
