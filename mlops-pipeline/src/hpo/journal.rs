//! The append-only, checksummed journal a study lives in.
//!
//! # Format
//! A journal file is a sequence of frames
//! `[u32 LE payload length][u32 LE CRC-32C (Castagnoli) of the payload][payload]`, the payload
//! being one [`Record`] as JSON. One [`Journal::append`] is one commit: every frame of the
//! call is written with one `pwrite` and made durable with one `fdatasync`.
//!
//! # Recovery
//! [`Journal::open`] reads every frame. When it meets a frame that is not whole and intact
//! (short header, short payload, bad CRC, zero or absurd length) it looks for any valid frame after
//! it:
//! - none: the bad bytes are a torn tail (a crash inside the last commit); they are cut
//!   (`ftruncate` + `fsync`) and the number of bytes cut is reported in [`Opened::cut_bytes`];
//! - one or more: the damage is in the middle of the history and [`Error::Corrupt`] names the
//!   offset of the bad frame. Nothing is ever skipped silently.
//!
//! A frame whose CRC matches but whose payload is not a [`Record`] is always
//! [`Error::Corrupt`]: it was written that way, so it is not a torn write.
//!
//! # Locking
//! A writer holds an exclusive `flock(2)` on `<journal>.lock` for as long as its [`Journal`]
//! lives; a second writer (another process, or another open in the same process) gets
//! [`Error::Locked`]. The kernel drops the lock when the holder dies, so whoever gets the lock
//! knows that no other writer is alive. [`Journal::read`] takes no lock and never cuts
//! anything: it is for observers (`mlops hpo show`) that may run beside a live writer.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Direction, Params, SearchSpace, TrialState};
use crate::error::{Error, Result};

/// Bytes of a frame header (length + CRC).
pub const HEADER_BYTES: usize = 8;

/// The largest payload a frame may declare (16 MiB); a longer declared length is damage.
pub const MAX_PAYLOAD_BYTES: u32 = 16 * 1024 * 1024;

/// One journal record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    /// The study's specification; always the first record, exactly once.
    StudyCreated {
        /// The study's name.
        name: String,
        /// Minimise or maximise.
        direction: Direction,
        /// The search space.
        space: SearchSpace,
        /// The study seed (trial seeds derive from it).
        seed: u64,
        /// The parallelism the deterministic schedule is laid out for.
        workers: u32,
        /// Whether trial `k` only sees trials numbered below `k − workers`.
        deterministic: bool,
        /// The sampler's name (`random`, `tpe`, …).
        sampler: String,
        /// The pruner's name (`none`, `median`, `asha`, …).
        pruner: String,
    },
    /// An attempt at trial `number` began with these params and seed.
    TrialStarted {
        /// The trial number.
        number: u64,
        /// The suggested params.
        params: Params,
        /// The seed given to the objective.
        seed: u64,
        /// The worker (thread index within the writing process) running it.
        worker: u32,
        /// The attempt's lease: milliseconds since the Unix epoch.
        lease_until_ms: u64,
    },
    /// The attempt at trial `number` is alive; its lease is extended.
    Heartbeat {
        /// The trial number.
        number: u64,
        /// The new lease end, milliseconds since the Unix epoch.
        lease_until_ms: u64,
    },
    /// An intermediate value of the running attempt.
    Intermediate {
        /// The trial number.
        number: u64,
        /// The step (epoch, iteration, …).
        step: u64,
        /// The value (finite).
        value: f64,
    },
    /// The running attempt ended; the trial is final.
    TrialFinished {
        /// The trial number.
        number: u64,
        /// `complete`, `pruned` or `fail`.
        state: TrialState,
        /// The value (complete trials; the last intermediate of pruned ones; none when failed).
        value: Option<f64>,
    },
    /// The running attempt at trial `number` died with its writer (found at open): the attempt
    /// is marked failed and the trial is queued to run again under the same number with the
    /// same params and seed. One record does both, so no torn write can leave a dead attempt
    /// looking like a trial that failed on its own.
    TrialRequeued {
        /// The trial number (kept: the re-run is the same trial).
        number: u64,
        /// The failed attempt, counted from 0.
        attempt: u32,
    },
}

/// A record and where its frame starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Byte offset of the frame's header.
    pub offset: u64,
    /// The record.
    pub record: Record,
}

/// What [`Journal::open`] found.
#[derive(Debug)]
pub struct Opened {
    /// The journal, open for appending and locked.
    pub journal: Journal,
    /// Every record, in order.
    pub entries: Vec<Entry>,
    /// Bytes of torn tail that were cut (0 when the file ended on a frame boundary).
    pub cut_bytes: u64,
}

/// What [`Journal::read`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadOnly {
    /// Every valid record, in order.
    pub entries: Vec<Entry>,
    /// Bytes after the last valid frame that a writer's open would cut (a torn tail, or a
    /// commit being written right now).
    pub torn_tail_bytes: u64,
}

/// An append-only journal file, open for writing and locked.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    /// Valid length of the file: where the next commit goes.
    len: u64,
    /// Set when a failed append could not be rolled back: further appends are refused.
    poisoned: bool,
    _lock: LockFile,
}

/// The first non-finite float of a record (JSON would write it as `null` and never read it
/// back as a number).
fn non_finite(record: &Record) -> Option<&'static str> {
    let params_bad = |p: &Params| {
        p.values()
            .any(|v| matches!(v, super::ParamValue::Float(x) if !x.is_finite()))
    };
    match record {
        Record::Intermediate { value, .. } if !value.is_finite() => Some("intermediate value"),
        Record::TrialFinished {
            value: Some(value), ..
        } if !value.is_finite() => Some("trial value"),
        Record::TrialStarted { params, .. } if params_bad(params) => Some("trial params"),
        _ => None,
    }
}

/// Encodes `record` as one frame appended to `out`.
///
/// # Errors
/// [`Error::InvalidInput`] when the record holds a non-finite value or its payload is over
/// [`MAX_PAYLOAD_BYTES`]; [`Error::Json`] when it does not serialise. Nothing is appended then.
pub fn encode_frame(record: &Record, out: &mut Vec<u8>) -> Result<()> {
    if let Some(what) = non_finite(record) {
        return Err(Error::invalid(what, "is not finite (NaN or infinite)"));
    }
    let payload = serde_json::to_vec(record).map_err(|source| Error::Json {
        what: "journal record".into(),
        source,
    })?;
    let len = u32::try_from(payload.len())
        .ok()
        .filter(|l| *l <= MAX_PAYLOAD_BYTES)
        .ok_or_else(|| {
            Error::invalid(
                "journal record",
                format!(
                    "encodes to {} bytes, over the {MAX_PAYLOAD_BYTES}-byte limit",
                    payload.len()
                ),
            )
        })?;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    Ok(())
}

/// Why the frame at some offset is not whole and intact.
enum Bad {
    /// Header or payload shorter than declared, length over the limit, or CRC mismatch.
    Frame(String),
    /// CRC fine, payload not a record: written that way.
    Decode(String),
}

/// The frame at the start of `bytes`: its payload and total length, or why not.
fn frame_at(bytes: &[u8]) -> std::result::Result<(&[u8], usize), String> {
    let (Some(len_bytes), Some(crc_bytes)) = (bytes.get(0..4), bytes.get(4..8)) else {
        return Err(format!(
            "short header ({} of {HEADER_BYTES} bytes)",
            bytes.len()
        ));
    };
    let mut l = [0u8; 4];
    l.copy_from_slice(len_bytes);
    let mut c = [0u8; 4];
    c.copy_from_slice(crc_bytes);
    let declared = u32::from_le_bytes(l);
    let stored = u32::from_le_bytes(c);
    if declared == 0 {
        // A record is never empty; zeros are what a file extended but never written reads
        // as (and the CRC-32C of no bytes is 0, so they would pass the check).
        return Err("zero payload length".into());
    }
    if declared > MAX_PAYLOAD_BYTES {
        return Err(format!(
            "declared length {declared} is over the {MAX_PAYLOAD_BYTES}-byte limit"
        ));
    }
    // `declared` ≤ 16 MiB fits in usize on every supported target.
    let total = HEADER_BYTES + declared as usize;
    let Some(payload) = bytes.get(HEADER_BYTES..total) else {
        return Err(format!(
            "short payload ({} of {declared} bytes)",
            bytes.len() - HEADER_BYTES
        ));
    };
    let actual = crc32c::crc32c(payload);
    if actual != stored {
        return Err(format!(
            "CRC-32C mismatch (stored {stored:08x}, actual {actual:08x})"
        ));
    }
    Ok((payload, total))
}

/// Walks `bytes`; returns the valid entries, the valid length, and the first bad frame.
fn scan(bytes: &[u8]) -> (Vec<Entry>, u64, Option<(u64, Bad)>) {
    let mut entries = Vec::new();
    let mut pos = 0usize;
    while pos < bytes.len() {
        let rest = &bytes[pos..];
        match frame_at(rest) {
            Err(reason) => return (entries, pos as u64, Some((pos as u64, Bad::Frame(reason)))),
            Ok((payload, total)) => match serde_json::from_slice::<Record>(payload) {
                Ok(record) => {
                    entries.push(Entry {
                        offset: pos as u64,
                        record,
                    });
                    pos += total;
                }
                Err(e) => {
                    return (
                        entries,
                        pos as u64,
                        Some((
                            pos as u64,
                            Bad::Decode(format!("payload is not a record: {e}")),
                        )),
                    )
                }
            },
        }
    }
    (entries, pos as u64, None)
}

/// The offset of the first valid frame (CRC and record both good) starting after `from`.
fn valid_frame_after(bytes: &[u8], from: usize) -> Option<u64> {
    (from + 1..bytes.len().saturating_sub(HEADER_BYTES - 1)).find_map(|pos| {
        let rest = &bytes[pos..];
        // Cheap filter before the CRC: a record's JSON payload starts with `{`.
        if rest.get(HEADER_BYTES) != Some(&b'{') {
            return None;
        }
        let (payload, _) = frame_at(rest).ok()?;
        serde_json::from_slice::<Record>(payload).ok()?;
        Some(pos as u64)
    })
}

/// Classifies the scan of a whole file: the entries and the length of a torn tail, or
/// [`Error::Corrupt`].
fn classify(path: &Path, bytes: &[u8]) -> Result<(Vec<Entry>, u64, u64)> {
    let (entries, valid_len, bad) = scan(bytes);
    let Some((offset, bad)) = bad else {
        return Ok((entries, valid_len, 0));
    };
    let reason = match bad {
        Bad::Decode(reason) => {
            return Err(Error::Corrupt {
                path: path.to_path_buf(),
                offset,
                reason,
            })
        }
        Bad::Frame(reason) => reason,
    };
    // `offset` came from a position inside `bytes`, so it fits in usize.
    if let Some(next) = valid_frame_after(bytes, offset as usize) {
        return Err(Error::Corrupt {
            path: path.to_path_buf(),
            offset,
            reason: format!("{reason}, and a valid frame follows at byte {next}"),
        });
    }
    Ok((entries, valid_len, bytes.len() as u64 - valid_len))
}

fn lock_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(".lock");
    PathBuf::from(s)
}

/// Makes a new directory entry durable: fsync of the parent directory.
fn sync_parent(path: &Path) -> Result<()> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(parent)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(parent, e))
}

impl Journal {
    /// Opens (creating when missing) the journal at `path` for writing: takes the lock on
    /// `<path>.lock`, reads every record, and cuts a torn tail.
    ///
    /// # Errors
    /// [`Error::Locked`] when another writer holds the lock; [`Error::Corrupt`] when a bad
    /// frame is followed by valid ones, or a frame with a good CRC is not a record;
    /// [`Error::Io`] when the file cannot be created, read, cut or synced.
    #[tracing::instrument(skip_all, fields(path = %path.as_ref().display()), err)]
    pub fn open(path: impl AsRef<Path>) -> Result<Opened> {
        let path = path.as_ref().to_path_buf();
        let lock = LockFile::acquire(&lock_path(&path))?;
        let existed = path.exists();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        if !existed {
            sync_parent(&path)?;
        }
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        let (entries, valid_len, cut_bytes) = classify(&path, &bytes)?;
        if cut_bytes > 0 {
            tracing::warn!(cut_bytes, at = valid_len, "cutting a torn journal tail");
            file.set_len(valid_len)
                .and_then(|()| file.sync_all())
                .map_err(|e| Error::io(&path, e))?;
        }
        Ok(Opened {
            journal: Journal {
                path,
                file,
                len: valid_len,
                poisoned: false,
                _lock: lock,
            },
            entries,
            cut_bytes,
        })
    }

    /// Reads the journal at `path` without locking or changing it.
    ///
    /// # Errors
    /// [`Error::Io`] when it cannot be read (a missing file included); [`Error::Corrupt`] as
    /// for [`Journal::open`].
    #[tracing::instrument(skip_all, fields(path = %path.as_ref().display()), err)]
    pub fn read(path: impl AsRef<Path>) -> Result<ReadOnly> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let (entries, _, torn_tail_bytes) = classify(path, &bytes)?;
        Ok(ReadOnly {
            entries,
            torn_tail_bytes,
        })
    }

    /// The journal's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The journal's valid length in bytes (where the next commit goes).
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when the journal holds no record.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends `records` as one commit: one write of all their frames, then `fdatasync`.
    /// An empty slice writes nothing.
    ///
    /// If the write or the sync fails, the file is cut back to its length before the call so
    /// that no partial commit stays in front of later ones; if even that fails, the journal
    /// refuses every later append (reopening it recovers).
    ///
    /// # Errors
    /// [`Error::Json`]/[`Error::InvalidInput`] when a record does not encode (nothing is
    /// written then); [`Error::Io`] when writing or syncing fails, or the journal refused
    /// appends after an earlier failure.
    pub fn append(&mut self, records: &[Record]) -> Result<()> {
        if self.poisoned {
            return Err(Error::io(
                &self.path,
                std::io::Error::other("an earlier failed append could not be rolled back"),
            ));
        }
        if records.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::new();
        for r in records {
            encode_frame(r, &mut buf)?;
        }
        let written = self
            .file
            .write_all_at(&buf, self.len)
            .and_then(|()| self.file.sync_data());
        if let Err(e) = written {
            if self
                .file
                .set_len(self.len)
                .and_then(|()| self.file.sync_all())
                .is_err()
            {
                self.poisoned = true;
            }
            return Err(Error::io(&self.path, e));
        }
        self.len += buf.len() as u64;
        Ok(())
    }
}

/// An exclusive `flock(2)` on a lock file, released when dropped (or when the process dies).
#[derive(Debug)]
struct LockFile {
    _file: File,
}

impl LockFile {
    fn acquire(path: &Path) -> Result<LockFile> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        // SAFETY: `flock` only reads the descriptor, which `file` keeps open.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
                return Err(Error::Locked {
                    path: path.to_path_buf(),
                });
            }
            return Err(Error::io(path, e));
        }
        Ok(LockFile { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_layout_is_len_crc_payload() {
        let r = Record::Heartbeat {
            number: 3,
            lease_until_ms: 10,
        };
        let mut buf = Vec::new();
        encode_frame(&r, &mut buf).unwrap();
        let payload = &buf[8..];
        assert_eq!(
            u32::from_le_bytes(buf[0..4].try_into().unwrap()) as usize,
            payload.len()
        );
        assert_eq!(
            u32::from_le_bytes(buf[4..8].try_into().unwrap()),
            crc32c::crc32c(payload)
        );
        assert_eq!(serde_json::from_slice::<Record>(payload).unwrap(), r);
    }

    #[test]
    fn non_finite_value_does_not_encode() {
        let r = Record::Intermediate {
            number: 0,
            step: 0,
            value: f64::NAN,
        };
        let mut buf = Vec::new();
        // serde_json would write NaN as null, which never reads back as f64: refused.
        let err = encode_frame(&r, &mut buf).unwrap_err();
        assert!(matches!(err, Error::InvalidInput { .. }), "{err}");
        assert!(buf.is_empty());
        let r = Record::TrialFinished {
            number: 0,
            state: TrialState::Complete,
            value: Some(f64::INFINITY),
        };
        assert!(encode_frame(&r, &mut buf).is_err());
    }
}
