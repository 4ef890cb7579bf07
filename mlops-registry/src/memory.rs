//! The in-memory backend: for tests and embedding; same semantics, nothing persisted.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use mlops_core::Sha256Digest;

use crate::engine::Engine;
use crate::error::Result;
use crate::storage::{hash_stream, BlobMeta, Storage};

#[derive(Debug, Default)]
struct Inner {
    records: BTreeMap<String, Arc<Vec<u8>>>,
    blobs: HashMap<Sha256Digest, (Arc<Vec<u8>>, DateTime<Utc>)>,
}

#[derive(Debug, Default, Clone)]
pub(crate) struct MemoryStorage {
    inner: Arc<Mutex<Inner>>,
}

impl MemoryStorage {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every critical section below is a single map operation that cannot leave the
        // maps half-updated, so a poisoned lock still guards consistent data.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    #[cfg(any(test, feature = "conformance"))]
    pub(crate) fn overwrite_blob(&self, digest: &Sha256Digest, bytes: Vec<u8>) -> bool {
        let mut inner = self.lock();
        match inner.blobs.get_mut(digest) {
            Some(slot) => {
                slot.0 = Arc::new(bytes);
                true
            }
            None => false,
        }
    }
}

impl Storage for MemoryStorage {
    fn create(&self, key: &str, bytes: &[u8]) -> Result<bool> {
        let mut inner = self.lock();
        if inner.records.contains_key(key) {
            return Ok(false);
        }
        inner
            .records
            .insert(key.to_owned(), Arc::new(bytes.to_vec()));
        Ok(true)
    }

    fn read(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.lock().records.get(key).map(|b| b.as_ref().clone()))
    }

    fn list(&self, dir: &str) -> Result<Vec<String>> {
        let prefix = format!("{dir}/");
        let inner = self.lock();
        let mut out: Vec<String> = inner
            .records
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter_map(|(k, _)| k[prefix.len()..].split('/').next().map(str::to_owned))
            .collect();
        out.dedup();
        Ok(out)
    }

    fn put_blob(&self, reader: &mut dyn Read) -> Result<(Sha256Digest, u64)> {
        let mut buf = Vec::new();
        let (digest, size) = hash_stream(
            reader,
            64 * 1024,
            |chunk| {
                buf.extend_from_slice(chunk);
                Ok(())
            },
            "artifact",
        )?;
        let mut inner = self.lock();
        let now = Utc::now();
        // Content-addressed: replacing equal bytes is a no-op, and replacing damaged
        // bytes repairs the blob; either way its age is refreshed.
        inner.blobs.insert(digest, (Arc::new(buf), now));
        Ok((digest, size))
    }

    fn open_blob(&self, digest: &Sha256Digest) -> Result<Option<Box<dyn Read + Send>>> {
        let inner = self.lock();
        Ok(inner.blobs.get(digest).map(|(b, _)| {
            let bytes: Vec<u8> = b.as_ref().clone();
            Box::new(std::io::Cursor::new(bytes)) as Box<dyn Read + Send>
        }))
    }

    fn blobs(&self) -> Result<Vec<BlobMeta>> {
        Ok(self
            .lock()
            .blobs
            .iter()
            .map(|(d, (b, t))| BlobMeta {
                digest: *d,
                size: b.len() as u64,
                modified: *t,
            })
            .collect())
    }

    fn blob_meta(&self, digest: &Sha256Digest) -> Result<Option<BlobMeta>> {
        Ok(self.lock().blobs.get(digest).map(|(b, t)| BlobMeta {
            digest: *digest,
            size: b.len() as u64,
            modified: *t,
        }))
    }

    fn delete_blob(&self, digest: &Sha256Digest) -> Result<()> {
        self.lock().blobs.remove(digest);
        Ok(())
    }

    fn clean_staging(&self, _before: DateTime<Utc>) -> Result<u64> {
        Ok(0)
    }
}

/// A registry held in memory: the same contract as the other backends, nothing persisted.
/// Clones share the same contents.
///
/// ```
/// use mlops_registry::{MemoryRegistry, NewVersion, Registry};
/// let reg = MemoryRegistry::new();
/// let v = reg.register(NewVersion::new("m".parse()?).with_artifact_bytes("w.bin", vec![1, 2]))?;
/// assert_eq!(v.version.version, 1);
/// # Ok::<(), mlops_registry::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct MemoryRegistry {
    #[cfg_attr(not(any(test, feature = "conformance")), allow(dead_code))]
    pub(crate) storage: MemoryStorage,
    pub(crate) engine: Arc<Engine>,
}

impl MemoryRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        let storage = MemoryStorage::default();
        Self {
            engine: Arc::new(Engine::new(Box::new(storage.clone()))),
            storage,
        }
    }
}

impl Default for MemoryRegistry {
    fn default() -> Self {
        Self::new()
    }
}

crate::forward_registry!(MemoryRegistry);
