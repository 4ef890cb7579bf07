//! The S3 backend (feature `s3`), on the `object_store` crate.
//!
//! Records are created with `PutMode::Create` (`If-None-Match: *`; HTTP 412 means the slot
//! was taken). Artifacts are streamed in 8 MiB parts to a staging key with a multipart
//! upload while hashing (constant memory), then copied server-side to
//! `blobs/sha256/<hh>/<hex>` (a copy refreshes the object's age for `gc`) and the staging
//! key is deleted. The trait is synchronous: this backend owns a small tokio runtime and
//! blocks on it (from inside another runtime it blocks on a helper thread instead).

use std::future::Future;
use std::io::Read;
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use futures::StreamExt;
use mlops_core::Sha256Digest;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use tokio::runtime::Runtime;

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::storage::{hash_stream, unique_token, BlobMeta, Storage};

const PART: usize = 8 * 1024 * 1024;

/// The backend's own runtime. Dropped with `shutdown_background`, so the last handle may be
/// dropped anywhere, including inside another runtime's task (a plain drop would panic there).
#[derive(Debug)]
struct OwnRuntime(Option<Runtime>);

impl Drop for OwnRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct S3Storage {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    rt: Arc<OwnRuntime>,
}

fn backend(key: &str, e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::Backend {
        key: key.to_owned(),
        source: Box::new(e),
    }
}

impl S3Storage {
    fn block_on<F>(&self, f: F) -> Result<F::Output>
    where
        F: Future + Send,
        F::Output: Send,
    {
        let Some(rt) = self.rt.0.as_ref() else {
            return Err(Error::Unsupported {
                what: "the S3 runtime was shut down".into(),
            });
        };
        if tokio::runtime::Handle::try_current().is_ok() {
            std::thread::scope(|s| s.spawn(|| rt.block_on(f)).join()).map_err(|_| {
                Error::Unsupported {
                    what: "the S3 helper thread panicked".into(),
                }
            })
        } else {
            Ok(rt.block_on(f))
        }
    }

    fn path(&self, key: &str) -> ObjPath {
        ObjPath::from(format!("{}{key}", self.prefix))
    }

    fn blob_key(d: &Sha256Digest) -> String {
        let hex = d.to_hex();
        format!("blobs/sha256/{}/{hex}", &hex[..2])
    }
}

struct StreamReader {
    storage: S3Storage,
    stream: Option<BoxStream<'static, object_store::Result<Bytes>>>,
    buf: Bytes,
    key: String,
}

impl Read for StreamReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.buf.is_empty() {
            let Some(mut stream) = self.stream.take() else {
                return Ok(0);
            };
            let next = self
                .storage
                .block_on(async { (stream.next().await, stream) })
                .map_err(std::io::Error::other)?;
            match next {
                (None, _) => return Ok(0),
                (Some(Err(e)), _) => {
                    return Err(std::io::Error::other(backend(&self.key, e)));
                }
                (Some(Ok(b)), s) => {
                    self.buf = b;
                    self.stream = Some(s);
                }
            }
        }
        let n = out.len().min(self.buf.len());
        out[..n].copy_from_slice(&self.buf[..n]);
        self.buf = self.buf.slice(n..);
        Ok(n)
    }
}

impl Storage for S3Storage {
    fn create(&self, key: &str, bytes: &[u8]) -> Result<bool> {
        let path = self.path(key);
        let payload = PutPayload::from(bytes.to_vec());
        let opts = PutOptions::from(PutMode::Create);
        match self.block_on(self.store.put_opts(&path, payload, opts))? {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(backend(key, e)),
        }
    }

    fn read(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let path = self.path(key);
        let got = self.block_on(async {
            match self.store.get(&path).await {
                Ok(r) => r.bytes().await.map(Some),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        })?;
        got.map(|o| o.map(|b| b.to_vec()))
            .map_err(|e| backend(key, e))
    }

    fn list(&self, dir: &str) -> Result<Vec<String>> {
        let path = self.path(dir);
        let res = self
            .block_on(self.store.list_with_delimiter(Some(&path)))?
            .map_err(|e| backend(dir, e))?;
        let mut out: Vec<String> = res
            .common_prefixes
            .iter()
            .chain(res.objects.iter().map(|o| &o.location))
            .filter_map(|p| p.filename().map(str::to_owned))
            .collect();
        out.sort();
        out.dedup();
        Ok(out)
    }

    fn put_blob(&self, reader: &mut dyn Read) -> Result<(Sha256Digest, u64)> {
        let staging_key = format!("staging/{}", unique_token());
        let staging = self.path(&staging_key);
        let mut upload = None;
        let mut pending: Vec<u8> = Vec::with_capacity(PART);
        let hashed = hash_stream(
            reader,
            1 << 20,
            |chunk| {
                pending.extend_from_slice(chunk);
                if pending.len() >= PART {
                    let part = std::mem::replace(&mut pending, Vec::with_capacity(PART));
                    let up = match upload.as_mut() {
                        Some(u) => u,
                        None => upload.insert(
                            self.block_on(self.store.put_multipart(&staging))?
                                .map_err(|e| backend(&staging_key, e))?,
                        ),
                    };
                    let fut = up.put_part(PutPayload::from(part));
                    self.block_on(fut)?.map_err(|e| backend(&staging_key, e))?;
                }
                Ok(())
            },
            "artifact",
        );
        let (digest, size) = match hashed {
            Ok(r) => r,
            Err(e) => {
                if let Some(mut up) = upload {
                    let _ = self.block_on(up.abort());
                }
                return Err(e);
            }
        };
        let key = Self::blob_key(&digest);
        let dst = self.path(&key);
        match upload {
            None => {
                // Small blob: one atomic PUT (overwriting identical content refreshes its age).
                self.block_on(self.store.put(&dst, PutPayload::from(pending)))?
                    .map_err(|e| backend(&key, e))?;
            }
            Some(mut up) => {
                if !pending.is_empty() {
                    self.block_on(up.put_part(PutPayload::from(pending)))?
                        .map_err(|e| backend(&staging_key, e))?;
                }
                self.block_on(up.complete())?
                    .map_err(|e| backend(&staging_key, e))?;
                self.block_on(self.store.copy(&staging, &dst))?
                    .map_err(|e| backend(&key, e))?;
                let _ = self.block_on(self.store.delete(&staging))?;
            }
        }
        Ok((digest, size))
    }

    fn open_blob(&self, digest: &Sha256Digest) -> Result<Option<Box<dyn Read + Send>>> {
        let key = Self::blob_key(digest);
        let path = self.path(&key);
        match self.block_on(self.store.get(&path))? {
            Ok(r) => Ok(Some(Box::new(StreamReader {
                storage: self.clone(),
                stream: Some(r.into_stream()),
                buf: Bytes::new(),
                key,
            }))),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(backend(&key, e)),
        }
    }

    fn blobs(&self) -> Result<Vec<BlobMeta>> {
        let path = self.path("blobs/sha256");
        let metas: Vec<object_store::Result<object_store::ObjectMeta>> =
            self.block_on(self.store.list(Some(&path)).collect())?;
        let mut out = Vec::new();
        for m in metas {
            let m = m.map_err(|e| backend("blobs/sha256", e))?;
            let Some(Ok(d)) = m.location.filename().map(str::parse::<Sha256Digest>) else {
                continue;
            };
            out.push(BlobMeta {
                digest: d,
                size: m.size,
                modified: m.last_modified,
            });
        }
        Ok(out)
    }

    fn blob_meta(&self, digest: &Sha256Digest) -> Result<Option<BlobMeta>> {
        let key = Self::blob_key(digest);
        match self.block_on(self.store.head(&self.path(&key)))? {
            Ok(m) => Ok(Some(BlobMeta {
                digest: *digest,
                size: m.size,
                modified: m.last_modified,
            })),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(backend(&key, e)),
        }
    }

    fn delete_blob(&self, digest: &Sha256Digest) -> Result<()> {
        let key = Self::blob_key(digest);
        match self.block_on(self.store.delete(&self.path(&key)))? {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(backend(&key, e)),
        }
    }

    fn clean_staging(&self, before: DateTime<Utc>) -> Result<u64> {
        let path = self.path("staging");
        let metas: Vec<object_store::Result<object_store::ObjectMeta>> =
            self.block_on(self.store.list(Some(&path)).collect())?;
        let mut removed = 0;
        for m in metas.into_iter().flatten() {
            if m.last_modified <= before && self.block_on(self.store.delete(&m.location))?.is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// A registry in an S3 (or S3-compatible) bucket under a key prefix.
/// Handles are cheap to clone.
#[derive(Debug, Clone)]
pub struct S3Registry {
    #[cfg_attr(not(any(test, feature = "conformance")), allow(dead_code))]
    pub(crate) storage: S3Storage,
    pub(crate) engine: Arc<Engine>,
}

impl S3Registry {
    /// Opens `bucket/prefix` with endpoint, region and credentials from the standard
    /// `AWS_*` environment variables (`AWS_ENDPOINT_URL`, `AWS_REGION`,
    /// `AWS_ACCESS_KEY_ID`, …). Plain `http://` endpoints are allowed (local emulators).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an empty bucket; [`Error::Backend`] when the client
    /// cannot be configured; [`Error::Io`] when the runtime cannot start.
    pub fn from_env_uri(bucket_and_prefix: &str) -> Result<Self> {
        let (bucket, prefix) = bucket_and_prefix
            .split_once('/')
            .unwrap_or((bucket_and_prefix, ""));
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        let endpoint = std::env::var("AWS_ENDPOINT_URL_S3")
            .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
            .or_else(|_| std::env::var("AWS_ENDPOINT"))
            .ok();
        if let Some(ep) = endpoint {
            builder = builder
                .with_allow_http(ep.starts_with("http://"))
                .with_endpoint(ep);
        }
        if std::env::var("AWS_REGION").is_err() && std::env::var("AWS_DEFAULT_REGION").is_err() {
            builder = builder.with_region("us-east-1");
        } else if let Ok(region) = std::env::var("AWS_REGION") {
            builder = builder.with_region(region);
        }
        Self::from_builder(builder, bucket, prefix)
    }

    /// Opens `bucket/prefix` with an explicit endpoint (e.g. `http://127.0.0.1:9000`),
    /// credentials still from the environment.
    ///
    /// # Errors
    /// As [`S3Registry::from_env_uri`].
    pub fn with_endpoint(endpoint: &str, bucket: &str, prefix: &str) -> Result<Self> {
        let builder = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_endpoint(endpoint)
            .with_allow_http(endpoint.starts_with("http://"))
            .with_region(std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into()));
        Self::from_builder(builder, bucket, prefix)
    }

    fn from_builder(builder: AmazonS3Builder, bucket: &str, prefix: &str) -> Result<Self> {
        if bucket.is_empty() {
            return Err(Error::invalid(
                "s3 uri",
                "the bucket is empty (use s3://bucket/prefix)",
            ));
        }
        let prefix = prefix.trim_matches('/');
        if prefix.split('/').any(|p| p == ".." || p == ".") {
            return Err(Error::invalid(
                "s3 prefix",
                "must not contain '.' or '..' segments",
            ));
        }
        let store = builder.build().map_err(|e| backend(bucket, e))?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| Error::io("tokio runtime", e))?;
        let storage = S3Storage {
            store: Arc::new(store),
            prefix: if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            },
            rt: Arc::new(OwnRuntime(Some(rt))),
        };
        Ok(Self {
            engine: Arc::new(Engine::new(Box::new(storage.clone()))),
            storage,
        })
    }

    #[cfg(any(test, feature = "conformance"))]
    pub(crate) fn overwrite_blob(&self, digest: &Sha256Digest, bytes: &[u8]) -> bool {
        let key = S3Storage::blob_key(digest);
        let path = self.storage.path(&key);
        let payload = PutPayload::from(bytes.to_vec());
        matches!(
            self.storage
                .block_on(self.storage.store.put(&path, payload)),
            Ok(Ok(_))
        )
    }
}

crate::forward_registry!(S3Registry);
