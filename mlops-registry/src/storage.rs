//! The storage primitive every backend implements, and the verifying artifact reader.

use std::fmt;
use std::io::{self, Read};

use chrono::{DateTime, Utc};
use mlops_core::Sha256Digest;
use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};

/// Metadata of one content blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BlobMeta {
    pub digest: Sha256Digest,
    pub size: u64,
    pub modified: DateTime<Utc>,
}

/// The few primitives the registry engine needs from a backend.
///
/// Keys are `/`-separated, built only from validated names and numbers.
pub(crate) trait Storage: Send + Sync + fmt::Debug + 'static {
    /// Durably creates `key` with `bytes` if absent; `Ok(false)` if it already existed.
    /// Atomic: readers see either nothing or the whole record.
    fn create(&self, key: &str, bytes: &[u8]) -> Result<bool>;
    /// Reads a whole record; `Ok(None)` when absent.
    fn read(&self, key: &str) -> Result<Option<Vec<u8>>>;
    /// Names of the entries directly below `dir` (no trailing `/`), unsorted.
    fn list(&self, dir: &str) -> Result<Vec<String>>;
    /// Streams `reader` into a content-addressed blob; when the blob already exists its
    /// modification time is refreshed (so `gc` sees it as young).
    fn put_blob(&self, reader: &mut dyn Read) -> Result<(Sha256Digest, u64)>;
    /// Opens a blob for reading (unverified); `Ok(None)` when absent.
    fn open_blob(&self, digest: &Sha256Digest) -> Result<Option<Box<dyn Read + Send>>>;
    /// Every blob with its metadata.
    fn blobs(&self) -> Result<Vec<BlobMeta>>;
    /// One blob's metadata; `Ok(None)` when absent.
    fn blob_meta(&self, digest: &Sha256Digest) -> Result<Option<BlobMeta>>;
    /// Deletes a blob (absent is fine).
    fn delete_blob(&self, digest: &Sha256Digest) -> Result<()>;
    /// Removes staging leftovers (interrupted uploads) last modified before `before`.
    fn clean_staging(&self, before: DateTime<Utc>) -> Result<u64>;
}

/// A unique token for staging names: pid, time and a process-wide counter.
pub(crate) fn unique_token() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = Utc::now().timestamp_nanos_opt().unwrap_or_default();
    format!("{}-{nanos:x}-{n}", std::process::id())
}

/// Reads a stream to the end through SHA-256, calling `sink` with every chunk.
pub(crate) fn hash_stream(
    reader: &mut dyn Read,
    chunk: usize,
    mut sink: impl FnMut(&[u8]) -> Result<()>,
    what: &str,
) -> Result<(Sha256Digest, u64)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; chunk];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io(what, e)),
        };
        hasher.update(&buf[..n]);
        sink(&buf[..n])?;
        total += n as u64;
    }
    Ok((Sha256Digest::from_bytes(hasher.finalize().into()), total))
}

/// Copies `reader` into `file` with the reading and hashing on this thread and the writing
/// (plus the final fsync when `fsync`) on a helper thread, so the two overlap; four reused
/// 1 MiB buffers circulate between them (constant memory, no allocation per chunk).
/// Returns the digest of the bytes and their count.
pub(crate) fn hash_into_file(
    reader: &mut dyn Read,
    file: &mut std::fs::File,
    fsync: bool,
    what: &std::path::Path,
) -> Result<(Sha256Digest, u64)> {
    use std::io::Write;
    use std::sync::mpsc::sync_channel;
    const CHUNK: usize = 1 << 20;
    const IN_FLIGHT: usize = 4;
    std::thread::scope(|s| {
        // Buffers circulate between the two threads instead of being allocated per chunk:
        // a fresh 1 MiB allocation is a fresh mmap, and its page faults cost more kernel time
        // than the write itself.
        let (full_tx, full_rx) = sync_channel::<(Vec<u8>, usize)>(IN_FLIGHT);
        let (free_tx, free_rx) = sync_channel::<Vec<u8>>(IN_FLIGHT);
        let writer = s.spawn(move || -> io::Result<()> {
            for (chunk, n) in full_rx {
                file.write_all(&chunk[..n])?;
                // The reader may already be done; then the buffer is simply dropped.
                let _ = free_tx.send(chunk);
            }
            if fsync {
                file.sync_all()?;
            }
            Ok(())
        });
        let mut spare: Vec<Vec<u8>> = (0..IN_FLIGHT).map(|_| vec![0u8; CHUNK]).collect();
        let mut hasher = Sha256::new();
        let mut total = 0u64;
        let hashed = (|| -> Result<(Sha256Digest, u64)> {
            loop {
                let mut buf = match spare.pop() {
                    Some(b) => b,
                    // Every buffer is in flight: wait for the writer to hand one back.
                    None => free_rx
                        .recv()
                        .map_err(|_| Error::io(what, io::Error::other("writer stopped")))?,
                };
                let n = loop {
                    match reader.read(&mut buf) {
                        Ok(n) => break n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(Error::io("artifact", e)),
                    }
                };
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                total += n as u64;
                // A send fails only when the writer stopped on an error, reported below.
                full_tx
                    .send((buf, n))
                    .map_err(|_| Error::io(what, io::Error::other("writer stopped")))?;
            }
            Ok((Sha256Digest::from_bytes(hasher.finalize().into()), total))
        })();
        drop(full_tx);
        drop(free_rx);
        let written = match writer.join() {
            Ok(r) => r.map_err(|e| Error::io(what, e)),
            Err(_) => Err(Error::io(what, io::Error::other("writer thread panicked"))),
        };
        match (hashed, written) {
            (_, Err(e)) => Err(e),
            (Err(e), Ok(())) => Err(e),
            (Ok(r), Ok(())) => Ok(r),
        }
    })
}

/// A reader over an artifact that re-hashes what it yields and fails at the end of the
/// stream when the bytes are not the registered ones.
///
/// A mismatch surfaces as an [`io::Error`] of kind [`io::ErrorKind::InvalidData`] whose
/// inner error is [`Error::DigestMismatch`] (use [`ArtifactReader::into_registry_error`]
/// to get it back typed); a stream longer than registered fails as soon as it overruns.
pub struct ArtifactReader {
    inner: Box<dyn Read + Send>,
    hasher: Sha256,
    read: u64,
    expected: Sha256Digest,
    expected_size: u64,
    finished: bool,
}

impl fmt::Debug for ArtifactReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArtifactReader")
            .field("expected", &self.expected)
            .field("expected_size", &self.expected_size)
            .field("read", &self.read)
            .finish_non_exhaustive()
    }
}

impl ArtifactReader {
    pub(crate) fn new(
        inner: Box<dyn Read + Send>,
        expected: Sha256Digest,
        expected_size: u64,
    ) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            read: 0,
            expected,
            expected_size,
            finished: false,
        }
    }

    /// The registered size in bytes.
    pub fn size(&self) -> u64 {
        self.expected_size
    }

    /// The registered digest.
    pub fn digest(&self) -> Sha256Digest {
        self.expected
    }

    /// The underlying stream without verification, with the registered digest and size,
    /// for a caller that hashes every byte itself anyway and compares afterwards (so the
    /// bytes are not hashed twice).
    pub(crate) fn into_parts(self) -> (Box<dyn Read + Send>, Sha256Digest, u64) {
        (self.inner, self.expected, self.expected_size)
    }

    /// Converts an error returned by this reader back into the registry's typed error
    /// ([`Error::DigestMismatch`] for integrity failures, [`Error::Io`] otherwise).
    pub fn into_registry_error(e: io::Error) -> Error {
        if e.get_ref().is_some_and(|inner| inner.is::<Error>()) {
            match e.into_inner().map(|b| b.downcast::<Error>()) {
                Some(Ok(err)) => *err,
                Some(Err(other)) => Error::io("artifact", io::Error::other(other)),
                None => Error::io("artifact", io::Error::other("unknown")),
            }
        } else {
            Error::io("artifact", e)
        }
    }

    fn mismatch(&mut self) -> io::Error {
        let actual = Sha256Digest::from_bytes(self.hasher.clone().finalize().into());
        io::Error::new(
            io::ErrorKind::InvalidData,
            Error::DigestMismatch {
                expected: self.expected,
                actual,
                expected_size: self.expected_size,
                actual_size: self.read,
            },
        )
    }
}

impl Read for ArtifactReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.finished {
            return Ok(0);
        }
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.read += n as u64;
        if self.read > self.expected_size {
            return Err(self.mismatch());
        }
        if n == 0 {
            let actual = Sha256Digest::from_bytes(self.hasher.clone().finalize().into());
            if actual != self.expected || self.read != self.expected_size {
                return Err(self.mismatch());
            }
            self.finished = true;
        }
        Ok(n)
    }
}
