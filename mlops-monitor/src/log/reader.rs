//! [`LogReader`]: reads a log directory, also while its writer appends.

use std::path::{Path, PathBuf};

use super::dir::{self, SegFile, SegKind};
use super::writer::{read_segment, scan_sealed};
use crate::error::Result;
use crate::frame;
use crate::record::LoggedPrediction;

/// Reads the records of a log directory in segment order (the order they were written).
///
/// It takes no lock and never modifies the directory: the active segment is read up to its
/// last valid record (a torn or half-written tail is skipped, not cut); a sealed segment with
/// a bad record is [`crate::Error::Corrupt`]. A segment that disappears between listing and
/// reading (deleted by retention) is skipped; one that was sealed meanwhile is read under its
/// sealed name.
#[derive(Debug, Clone)]
pub struct LogReader {
    dir: PathBuf,
    segments: Vec<SegFile>,
}

impl LogReader {
    /// Lists the segments of `dir`.
    ///
    /// # Errors
    /// [`crate::Error::Io`] when `dir` cannot be read; [`crate::Error::InvalidInput`] naming
    /// the path when it is not a prediction log directory.
    #[tracing::instrument(skip_all, fields(dir = %dir.as_ref().display()), err)]
    pub fn open(dir: impl AsRef<Path>) -> Result<LogReader> {
        let dir = dir.as_ref();
        dir::check_marker(dir)?;
        Ok(LogReader {
            dir: dir.to_owned(),
            segments: dir::list_segments(dir)?,
        })
    }

    /// Downloads the sealed segments uploaded to `target` into `local` (created if missing;
    /// segments already there with the same size are not downloaded again) and reads them.
    ///
    /// # Errors
    /// [`crate::Error::Io`] naming the object or file when a download or write fails, or
    /// when the store cannot be reached; [`crate::Error::InvalidInput`] when `local` is not
    /// empty and not a log directory.
    #[cfg(feature = "s3")]
    #[tracing::instrument(skip_all, fields(bucket = %target.bucket, prefix = %target.prefix), err)]
    pub fn open_s3(target: &crate::s3::S3Target, local: impl AsRef<Path>) -> Result<LogReader> {
        let local = local.as_ref();
        dir::init_dir(local)?;
        let client = crate::s3::S3Client::new(target)?;
        for (name, size) in client.list()? {
            if !matches!(dir::parse_name(&name), Some((_, SegKind::Sealed))) {
                continue;
            }
            let dst = local.join(&name);
            if std::fs::metadata(&dst).is_ok_and(|m| m.len() == size) {
                continue;
            }
            dir::write_atomic(&dst, &client.get(&name)?)?;
        }
        LogReader::open(local)
    }

    /// The log directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Paths of the segments found at open, in order.
    pub fn segment_paths(&self) -> Vec<&Path> {
        self.segments.iter().map(|s| s.path.as_path()).collect()
    }

    /// Calls `f` with every record, in order; returns how many.
    ///
    /// # Errors
    /// [`crate::Error::Io`] when a segment cannot be read; [`crate::Error::Corrupt`] with
    /// path and offset when a sealed segment is damaged (records before the damage have
    /// been passed to `f`).
    #[tracing::instrument(skip_all, fields(dir = %self.dir.display()), err)]
    pub fn for_each<F>(&self, mut f: F) -> Result<u64>
    where
        F: FnMut(&LoggedPrediction),
    {
        self.visit(|r| f(&r))
    }

    /// [`LogReader::for_each`] handing over owned records (no clone when the caller keeps
    /// them).
    ///
    /// # Errors
    /// As [`LogReader::for_each`].
    pub fn for_each_owned<F>(&self, f: F) -> Result<u64>
    where
        F: FnMut(LoggedPrediction),
    {
        self.visit(f)
    }

    fn visit<F>(&self, mut f: F) -> Result<u64>
    where
        F: FnMut(LoggedPrediction),
    {
        // A vanished directory is an error, not an empty log (segments that vanish one by
        // one are retention's doing and are skipped).
        dir::check_marker(&self.dir)?;
        let mut n = 0u64;
        for seg in &self.segments {
            let mut call = |r: LoggedPrediction| {
                f(r);
                n += 1;
            };
            match seg.kind {
                SegKind::Sealed => {
                    if let Some(bytes) = read_segment(&seg.path)? {
                        scan_sealed(&seg.path, &bytes, &mut call)?;
                    }
                }
                SegKind::Active { .. } => {
                    if let Some(bytes) = read_segment(&seg.path)? {
                        let _ = frame::scan_with(&bytes, &mut call);
                    } else {
                        let sealed = self.dir.join(dir::sealed_name(seg.seq));
                        if let Some(bytes) = read_segment(&sealed)? {
                            scan_sealed(&sealed, &bytes, &mut call)?;
                        }
                    }
                }
            }
        }
        Ok(n)
    }

    /// Every record, in order.
    ///
    /// # Errors
    /// As [`LogReader::for_each`].
    pub fn read_all(&self) -> Result<Vec<LoggedPrediction>> {
        let mut out = Vec::new();
        self.visit(|r| out.push(r))?;
        Ok(out)
    }
}
