//! The writer thread: recovery at open, framing, flushing, sealing, Parquet, retention.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{Receiver, RecvTimeoutError};

use super::dir::{self, DirLock, SegFile, SegKind};
use super::{Counters, IdIndex, LogConfig, Msg, RecoveryReport};
use crate::error::{Error, Result};
use crate::frame;
use crate::record::{now_ms, LoggedPrediction};

const BUFFER_BYTES: usize = 64 * 1024;

pub(crate) struct Writer {
    config: LogConfig,
    _lock: DirLock,
    ids: Arc<IdIndex>,
    counters: Arc<Counters>,
    out: Option<BufWriter<File>>,
    active_path: PathBuf,
    active_seq: u64,
    active_created_ms: i64,
    /// Bytes of whole frames in the active segment (written or buffered).
    active_bytes: u64,
    active_records: u64,
    unflushed_records: u64,
    buf: Vec<u8>,
    #[cfg(feature = "s3")]
    uploader: Option<Uploader>,
}

#[cfg(feature = "s3")]
struct Uploader {
    client: crate::s3::S3Client,
    uploaded: std::collections::HashSet<String>,
}

/// Reads a whole segment; `None` when it vanished (retention, or sealed meanwhile).
pub(crate) fn read_segment(path: &Path) -> Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Scans a sealed segment, which must be intact.
pub(crate) fn scan_sealed(
    path: &Path,
    bytes: &[u8],
    f: impl FnMut(LoggedPrediction),
) -> Result<u64> {
    let (_, bad) = frame::scan_with(bytes, f);
    match bad {
        None => Ok(0),
        Some(b) => Err(Error::Corrupt {
            path: path.to_owned(),
            offset: b.offset,
            reason: format!("sealed segment: {}", b.reason),
        }),
    }
}

fn open_append(path: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| Error::io(path, e))
}

/// Cuts `path` to `len` bytes and makes the cut durable.
fn cut(path: &Path, len: u64) -> Result<()> {
    let f = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    f.set_len(len).map_err(|e| Error::io(path, e))?;
    f.sync_all().map_err(|e| Error::io(path, e))
}

impl Writer {
    /// Scans the directory, cuts the active segment's torn tail, fills the id index and
    /// applies retention; the writer then appends to the (possibly new) active segment.
    pub(crate) fn recover(
        config: LogConfig,
        lock: DirLock,
        ids: Arc<IdIndex>,
        counters: Arc<Counters>,
    ) -> Result<(Writer, RecoveryReport)> {
        let d = config.dir.clone();
        let segs = dir::list_segments(&d)?;
        let mut report = RecoveryReport {
            segments: segs.len(),
            ..RecoveryReport::default()
        };
        let last_seq = segs.last().map_or(0, |s| s.seq);
        let mut active: Option<(SegFile, i64, u64, u64)> = None;
        for seg in segs {
            let Some(bytes) = read_segment(&seg.path)? else {
                continue;
            };
            let mut n = 0u64;
            let mut add = |r: LoggedPrediction| {
                ids.insert(&r.id, r.timestamp_ms);
                n += 1;
            };
            match seg.kind {
                SegKind::Sealed => {
                    scan_sealed(&seg.path, &bytes, &mut add)?;
                }
                SegKind::Active { created_ms } => {
                    let (valid, bad) = frame::scan_with(&bytes, &mut add);
                    if let Some(b) = bad {
                        let cut_bytes = bytes.len() as u64 - valid;
                        tracing::warn!(path = %seg.path.display(), offset = b.offset, cut_bytes,
                            reason = %b.reason, "cutting the torn tail of the active segment");
                        cut(&seg.path, valid)?;
                        report.cut_bytes += cut_bytes;
                        report.cut_path = Some(seg.path.clone());
                        report.cut_offset = Some(b.offset);
                        report.cut_reason = Some(b.reason.to_string());
                    }
                    if seg.seq == last_seq {
                        active = Some((seg.clone(), created_ms, valid, n));
                    } else {
                        // An older active segment (cannot happen unless a seal was
                        // interrupted oddly): seal it now, or drop it if empty.
                        let sealed = d.join(dir::sealed_name(seg.seq));
                        if valid == 0 {
                            let _ = std::fs::remove_file(&seg.path);
                        } else {
                            std::fs::rename(&seg.path, &sealed)
                                .map_err(|e| Error::io(&sealed, e))?;
                        }
                    }
                }
            }
            report.records += n;
        }
        let (active_seq, active_created_ms, active_path, active_bytes, active_records) =
            match active {
                Some((seg, created, valid, n)) => (seg.seq, created, seg.path, valid, n),
                None => {
                    let created = now_ms();
                    let seq = last_seq + 1;
                    (seq, created, d.join(dir::active_name(seq, created)), 0, 0)
                }
            };
        let file = open_append(&active_path)?;
        dir::sync_dir(&d);
        #[cfg_attr(not(feature = "s3"), allow(unused_mut))]
        let mut w = Writer {
            config,
            _lock: lock,
            ids,
            counters,
            out: Some(BufWriter::with_capacity(BUFFER_BYTES, file)),
            active_path,
            active_seq,
            active_created_ms,
            active_bytes,
            active_records,
            unflushed_records: 0,
            buf: Vec::with_capacity(4096),
            #[cfg(feature = "s3")]
            uploader: None,
        };
        w.backfill_parquet();
        #[cfg(feature = "s3")]
        if let Some(target) = w.config.upload.clone() {
            let client = crate::s3::S3Client::new(&target)?;
            let uploaded = match client.list() {
                Ok(names) => names.into_iter().map(|(n, _)| n).collect(),
                Err(e) => {
                    w.counters
                        .set_error(format!("listing the upload target: {e}"));
                    Default::default()
                }
            };
            w.uploader = Some(Uploader { client, uploaded });
            w.upload_pending();
        }
        report.retained_away = w.retention()?;
        w.count_segments();
        Ok((w, report))
    }

    fn count_segments(&self) {
        let n = dir::list_segments(&self.config.dir).map_or(0, |s| s.len() as u64);
        self.counters.segments.store(n, Ordering::Relaxed);
    }

    pub(crate) fn run(mut self, rx: Receiver<Msg>) -> std::result::Result<(), String> {
        let interval = self.config.flush_interval;
        let mut next_tick = Instant::now() + interval;
        loop {
            match rx.recv_deadline(next_tick) {
                Ok(Msg::One(r)) => self.write(&r),
                Ok(Msg::Many(f)) => {
                    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
                        Ok(records) => {
                            for r in &records {
                                self.write(r);
                            }
                        }
                        Err(_) => {
                            self.counters.failed.fetch_add(1, Ordering::Relaxed);
                            self.counters
                                .set_error("a try_log_with closure panicked".into());
                        }
                    }
                }
                Ok(Msg::Flush(ack)) => {
                    let r = self.flush().map_err(|e| e.to_string());
                    let _ = ack.send(r);
                }
                Ok(Msg::Close) | Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {}
            }
            let now = Instant::now();
            if now >= next_tick {
                if let Err(e) = self.flush() {
                    self.counters.set_error(e.to_string());
                }
                if self.active_records > 0 && self.age_exceeded() {
                    self.seal();
                }
                next_tick = now + interval;
            }
        }
        self.flush().map_err(|e| e.to_string())
    }

    fn age_exceeded(&self) -> bool {
        let age_ms = now_ms().saturating_sub(self.active_created_ms);
        u128::try_from(age_ms).is_ok_and(|a| a >= self.config.segment_max_age.as_millis())
    }

    fn write(&mut self, r: &LoggedPrediction) {
        self.buf.clear();
        if let Err(e) = frame::encode(r, &mut self.buf) {
            self.counters.failed.fetch_add(1, Ordering::Relaxed);
            self.counters.set_error(format!("record {:?}: {e}", r.id));
            return;
        }
        let Some(out) = self.out.as_mut() else {
            self.counters.failed.fetch_add(1, Ordering::Relaxed);
            return;
        };
        if let Err(e) = out.write_all(&self.buf) {
            self.counters.failed.fetch_add(1, Ordering::Relaxed);
            self.counters
                .set_error(format!("{}: {e}", self.active_path.display()));
            self.repair();
            return;
        }
        let n = self.buf.len() as u64;
        self.active_bytes += n;
        self.active_records += 1;
        self.unflushed_records += 1;
        self.counters.written.fetch_add(1, Ordering::Relaxed);
        self.counters.bytes_written.fetch_add(n, Ordering::Relaxed);
        self.ids.insert(&r.id, r.timestamp_ms);
        if self.active_bytes >= self.config.segment_max_bytes {
            self.seal();
        }
    }

    /// After a failed write: drop the buffer (its records are lost and counted), cut the
    /// file back to its last whole frame so later appends never follow garbage, reopen.
    fn repair(&mut self) {
        if let Some(out) = self.out.take() {
            let (_file, _lost_buffer) = out.into_parts();
        }
        self.counters
            .failed
            .fetch_add(self.unflushed_records, Ordering::Relaxed);
        self.unflushed_records = 0;
        let result = (|| -> Result<()> {
            let bytes = read_segment(&self.active_path)?.unwrap_or_default();
            let mut n = 0u64;
            let (valid, _) = frame::scan_with::<LoggedPrediction, _>(&bytes, |_| n += 1);
            cut(&self.active_path, valid)?;
            self.active_bytes = valid;
            self.active_records = n;
            self.out = Some(BufWriter::with_capacity(
                BUFFER_BYTES,
                open_append(&self.active_path)?,
            ));
            Ok(())
        })();
        if let Err(e) = result {
            self.counters
                .set_error(format!("repairing the active segment: {e}"));
        }
    }

    fn flush(&mut self) -> Result<()> {
        let Some(out) = self.out.as_mut() else {
            self.repair();
            return Err(Error::io(
                &self.active_path,
                std::io::Error::other("the active segment is not open"),
            ));
        };
        if let Err(e) = out.flush() {
            let err = Error::io(&self.active_path, e);
            self.repair();
            return Err(err);
        }
        self.counters
            .flushed
            .fetch_add(self.unflushed_records, Ordering::Relaxed);
        self.unflushed_records = 0;
        Ok(())
    }

    /// Seals the active segment and starts the next one; errors are counted, the writer goes on.
    fn seal(&mut self) {
        if let Err(e) = self.try_seal() {
            self.counters.set_error(format!("sealing: {e}"));
        }
        self.count_segments();
    }

    #[tracing::instrument(skip_all, fields(seq = self.active_seq))]
    fn try_seal(&mut self) -> Result<()> {
        self.flush()?;
        if let Some(out) = self.out.as_ref() {
            if self.config.fsync_on_seal {
                out.get_ref()
                    .sync_data()
                    .map_err(|e| Error::io(&self.active_path, e))?;
            }
        }
        let d = self.config.dir.clone();
        let sealed = d.join(dir::sealed_name(self.active_seq));
        std::fs::rename(&self.active_path, &sealed).map_err(|e| Error::io(&sealed, e))?;
        let seq = self.active_seq + 1;
        let created = now_ms();
        let path = d.join(dir::active_name(seq, created));
        let file = open_append(&path)?;
        dir::sync_dir(&d);
        self.out = Some(BufWriter::with_capacity(BUFFER_BYTES, file));
        self.active_path = path;
        self.active_seq = seq;
        self.active_created_ms = created;
        self.active_bytes = 0;
        self.active_records = 0;
        if let Err(e) = self.write_parquet(&sealed, seq - 1) {
            self.counters.set_error(format!("parquet: {e}"));
        }
        #[cfg(feature = "s3")]
        self.upload_pending();
        self.retention()?;
        Ok(())
    }

    #[cfg(feature = "parquet")]
    fn write_parquet(&self, sealed: &Path, seq: u64) -> Result<()> {
        if !self.config.write_parquet {
            return Ok(());
        }
        let Some(bytes) = read_segment(sealed)? else {
            return Ok(());
        };
        let mut records = Vec::new();
        scan_sealed(sealed, &bytes, |r| records.push(r))?;
        let table = super::table::to_table(&records);
        let dst = self.config.dir.join(dir::parquet_name(seq));
        let tmp = dst.with_extension("parquet.tmp");
        mlops_drift::io::write_parquet(&tmp, &table)?;
        std::fs::rename(&tmp, &dst).map_err(|e| Error::io(&dst, e))?;
        Ok(())
    }

    #[cfg(not(feature = "parquet"))]
    fn write_parquet(&self, _sealed: &Path, _seq: u64) -> Result<()> {
        Ok(())
    }

    /// Writes the Parquet file of every sealed segment that lacks one (a crash between the
    /// seal and the Parquet write).
    fn backfill_parquet(&self) {
        if !cfg!(feature = "parquet") || !self.config.write_parquet {
            return;
        }
        let Ok(segs) = dir::list_segments(&self.config.dir) else {
            return;
        };
        for s in segs.iter().filter(|s| s.kind == SegKind::Sealed) {
            if !self.config.dir.join(dir::parquet_name(s.seq)).exists() {
                if let Err(e) = self.write_parquet(&s.path, s.seq) {
                    self.counters.set_error(format!("parquet: {e}"));
                }
            }
        }
    }

    /// Uploads every local sealed segment (and Parquet file) not uploaded yet, oldest first;
    /// stops at the first failure (retried at the next seal).
    #[cfg(feature = "s3")]
    fn upload_pending(&mut self) {
        let Some(up) = self.uploader.as_mut() else {
            return;
        };
        let Ok(segs) = dir::list_segments(&self.config.dir) else {
            return;
        };
        for s in segs.iter().filter(|s| s.kind == SegKind::Sealed) {
            // The Parquet file first: once the segment is marked uploaded, retention may
            // delete both.
            for name in [dir::parquet_name(s.seq), dir::sealed_name(s.seq)] {
                let local = self.config.dir.join(&name);
                if up.uploaded.contains(&name) || !local.exists() {
                    continue;
                }
                match up.client.put_file(&name, &local) {
                    Ok(()) => {
                        up.uploaded.insert(name);
                    }
                    Err(e) => {
                        self.counters.set_error(format!("upload: {e}"));
                        return;
                    }
                }
            }
        }
    }

    /// Whether retention may delete this sealed segment (with an upload target: once it is
    /// uploaded).
    fn may_delete(&self, seq: u64) -> bool {
        #[cfg(feature = "s3")]
        if let Some(up) = self.uploader.as_ref() {
            return up.uploaded.contains(&dir::sealed_name(seq));
        }
        let _ = seq;
        true
    }

    fn delete_segment(&self, seg: &SegFile) -> Result<()> {
        if let Some(bytes) = read_segment(&seg.path)? {
            // Forget its ids; a damaged segment is deleted all the same.
            let _ = frame::scan_with::<LoggedPrediction, _>(&bytes, |r| self.ids.remove(&r.id));
        }
        for p in [
            seg.path.clone(),
            self.config.dir.join(dir::parquet_name(seg.seq)),
        ] {
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(&p, e)),
            }
        }
        tracing::info!(path = %seg.path.display(), "retention deleted a sealed segment");
        Ok(())
    }

    /// Applies retention; returns how many sealed segments were deleted.
    fn retention(&self) -> Result<usize> {
        let (max_age, max_bytes) = (
            self.config.retention_max_age,
            self.config.retention_max_bytes,
        );
        if max_age.is_none() && max_bytes.is_none() {
            return Ok(0);
        }
        let d = &self.config.dir;
        let segs = dir::list_segments(d)?;
        let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
        let mut sealed: Vec<(SegFile, u64, SystemTime)> = Vec::new();
        let mut total = 0u64;
        for s in segs {
            let bytes = size(&s.path)
                + if s.kind == SegKind::Sealed {
                    size(&d.join(dir::parquet_name(s.seq)))
                } else {
                    0
                };
            total += bytes;
            if s.kind == SegKind::Sealed && self.may_delete(s.seq) {
                let modified = std::fs::metadata(&s.path)
                    .and_then(|m| m.modified())
                    .unwrap_or_else(|_| SystemTime::now());
                sealed.push((s, bytes, modified));
            }
        }
        let mut deleted = 0usize;
        let now = SystemTime::now();
        let mut keep = Vec::new();
        for (s, bytes, modified) in sealed {
            let age = now.duration_since(modified).unwrap_or(Duration::ZERO);
            if max_age.is_some_and(|m| age > m) {
                self.delete_segment(&s)?;
                total = total.saturating_sub(bytes);
                deleted += 1;
            } else {
                keep.push((s, bytes));
            }
        }
        if let Some(limit) = max_bytes {
            for (s, bytes) in keep {
                if total <= limit {
                    break;
                }
                self.delete_segment(&s)?;
                total = total.saturating_sub(bytes);
                deleted += 1;
            }
        }
        Ok(deleted)
    }
}
