//! The on-disk layout of a log directory: segment names, the marker, the writer lock.
//!
//! ```text
//! <dir>/MLOPS_LOG                          marker: this is a prediction log (format version)
//! <dir>/LOCK                               flock(2)ed by the one writer; holds its pid
//! <dir>/seg-0000000001.log                 sealed segments, in write order
//! <dir>/seg-0000000001.parquet             the same records as Parquet (feature `parquet`)
//! <dir>/seg-0000000002-1764000000000.open  the active segment (created at that Unix ms)
//! <dir>/labels/                            the label log (see `labels`)
//! ```

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The marker file's name.
pub(crate) const MARKER: &str = "MLOPS_LOG";
/// The marker file's content.
pub(crate) const MARKER_TEXT: &str = "mlops-monitor prediction log, format 1\n";
/// The lock file's name.
pub(crate) const LOCK: &str = "LOCK";

/// A segment's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SegKind {
    /// Complete and immutable.
    Sealed,
    /// Being appended to; created at this Unix ms.
    Active {
        /// When the segment was created (Unix ms), for sealing by age.
        created_ms: i64,
    },
}

/// One segment file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SegFile {
    /// Sequence number (write order).
    pub seq: u64,
    /// Sealed or active.
    pub kind: SegKind,
    /// Full path.
    pub path: PathBuf,
}

pub(crate) fn sealed_name(seq: u64) -> String {
    format!("seg-{seq:010}.log")
}

pub(crate) fn active_name(seq: u64, created_ms: i64) -> String {
    format!("seg-{seq:010}-{created_ms}.open")
}

pub(crate) fn parquet_name(seq: u64) -> String {
    format!("seg-{seq:010}.parquet")
}

/// Parses a segment file name.
pub(crate) fn parse_name(name: &str) -> Option<(u64, SegKind)> {
    let rest = name.strip_prefix("seg-")?;
    if let Some(seq) = rest.strip_suffix(".log") {
        if seq.len() == 10 && seq.bytes().all(|b| b.is_ascii_digit()) {
            return seq.parse().ok().map(|s| (s, SegKind::Sealed));
        }
        return None;
    }
    let body = rest.strip_suffix(".open")?;
    let (seq, created) = body.split_once('-')?;
    if seq.len() != 10 || !seq.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if created.is_empty() || !created.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((
        seq.parse().ok()?,
        SegKind::Active {
            created_ms: created.parse().ok()?,
        },
    ))
}

/// Whether a directory entry belongs to a log (anything else in a directory without a
/// marker means it is someone else's directory).
pub(crate) fn is_ours(name: &str) -> bool {
    name == MARKER
        || name == LOCK
        || name == "labels"
        || name.ends_with(".tmp")
        || (name.starts_with("seg-") && (name.ends_with(".parquet") || parse_name(name).is_some()))
}

/// The segments of `dir`, by sequence number.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<SegFile>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some((seq, kind)) = parse_name(name) {
            out.push(SegFile {
                seq,
                kind,
                path: entry.path(),
            });
        }
    }
    out.sort_by_key(|s| (s.seq, matches!(s.kind, SegKind::Active { .. })));
    Ok(out)
}

/// Errors unless `dir` is a log directory (has the marker).
pub(crate) fn check_marker(dir: &Path) -> Result<()> {
    let meta = std::fs::metadata(dir).map_err(|e| Error::io(dir, e))?;
    if !meta.is_dir() {
        return Err(Error::invalid(
            "prediction log",
            format!("{} is not a directory", dir.display()),
        ));
    }
    let marker = dir.join(MARKER);
    match std::fs::read_to_string(&marker) {
        Ok(text) if text == MARKER_TEXT => Ok(()),
        Ok(_) => Err(Error::invalid(
            "prediction log",
            format!("{}: unknown log format in {MARKER}", dir.display()),
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::invalid(
            "prediction log",
            format!(
                "{} is not a prediction log directory (no {MARKER} file)",
                dir.display()
            ),
        )),
        Err(e) => Err(Error::io(marker, e)),
    }
}

/// Creates `dir` and its marker if needed; refuses a directory that holds other things.
pub(crate) fn init_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    if dir.join(MARKER).exists() {
        return check_marker(dir);
    }
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name();
        if !name.to_str().is_some_and(is_ours) {
            return Err(Error::invalid(
                "prediction log",
                format!(
                    "{} is not empty and not a prediction log (found {:?})",
                    dir.display(),
                    name
                ),
            ));
        }
    }
    write_atomic(&dir.join(MARKER), MARKER_TEXT.as_bytes())
}

/// Writes a small file atomically (temp file, fsync, rename).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    f.write_all(bytes).map_err(|e| Error::io(&tmp, e))?;
    f.sync_all().map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))?;
    if let Some(parent) = path.parent() {
        sync_dir(parent);
    }
    Ok(())
}

/// fsyncs a directory (best effort: a rename's durability; some filesystems refuse it).
pub(crate) fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// An exclusive `flock(2)` on `<dir>/<name>`, released when dropped (or when the process
/// dies, however it dies).
#[derive(Debug)]
pub(crate) struct DirLock {
    _file: File,
}

impl DirLock {
    /// Takes the lock without waiting.
    ///
    /// Errors: [`Error::Io`] on the lock file with kind `WouldBlock` when another writer
    /// (in this process or another) holds it.
    pub(crate) fn acquire(dir: &Path, name: &str, what: &str) -> Result<DirLock> {
        use std::os::unix::io::AsRawFd;
        let path = dir.join(name);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        // SAFETY: `flock` only reads the descriptor, which `file` keeps open.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let err = std::io::Error::last_os_error();
            if err.kind() == std::io::ErrorKind::WouldBlock {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                return Err(Error::io(
                    &path,
                    std::io::Error::new(
                        std::io::ErrorKind::WouldBlock,
                        format!(
                            "{what} {} is already open for writing (by pid {})",
                            dir.display(),
                            if holder.is_empty() { "?" } else { holder }
                        ),
                    ),
                ));
            }
            return Err(Error::io(&path, err));
        }
        // Best effort: the pid helps whoever is refused.
        let _ = file.set_len(0);
        let _ = file.rewind();
        let _ = write!(file, "{}", std::process::id());
        let _ = file.flush();
        Ok(DirLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sort_in_write_order() {
        assert_eq!(parse_name(&sealed_name(7)), Some((7, SegKind::Sealed)));
        assert_eq!(
            parse_name(&active_name(8, 1_764_000_000_000)),
            Some((
                8,
                SegKind::Active {
                    created_ms: 1_764_000_000_000
                }
            ))
        );
        assert!(sealed_name(9) < sealed_name(10));
        for bad in [
            "seg-1.log",
            "seg-000000000a.log",
            "seg-0000000001-.open",
            "seg-0000000001-x.open",
            "seg-0000000001.parquet",
            "other",
        ] {
            assert_eq!(parse_name(bad), None, "{bad}");
        }
        assert!(is_ours("seg-0000000001.parquet"));
        assert!(!is_ours("notes.txt"));
    }
}
