//! Sealed log segments on S3 (feature `s3`), with `object_store`.
//!
//! The local log directory is the staging area: the writer thread uploads each sealed
//! segment (and its Parquet file) after sealing, to `s3://<bucket>/<prefix>/<name>`. An upload
//! that fails is retried at the next seal (and at the next open); retention never deletes a
//! local segment that is not uploaded yet, so a failure never loses data. The active segment
//! stays local. Uploads run on the writer thread: while one is in flight (at most three
//! short retries, 15 s in all) records wait in the queue, and are dropped if it fills.
//! [`crate::log::LogReader::open_s3`] downloads the sealed segments into a local
//! directory and reads them.
//!
//! Credentials and endpoint come from the environment as in `mlops-registry`'s S3 backend:
//! `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` (…, via `AmazonS3Builder::from_env`),
//! the endpoint from `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL` or `AWS_ENDPOINT` (plain HTTP
//! allowed for an `http://` endpoint), the region from `AWS_REGION` (default `us-east-1`).

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use futures::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use tokio::runtime::Runtime;

use crate::error::{Error, Result};

/// Where sealed segments go: a bucket and a key prefix, optionally an explicit endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Target {
    /// Bucket name.
    pub bucket: String,
    /// Key prefix (no leading or trailing `/`; may be empty).
    pub prefix: String,
    /// Endpoint URL (S3-compatible stores, emulators); `None` = from the environment.
    pub endpoint: Option<String>,
}

impl S3Target {
    /// Parses `s3://bucket/prefix` (the prefix may be empty or have several parts).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for another scheme, an empty bucket, or a `.`/`..` prefix part.
    pub fn parse(uri: &str) -> Result<S3Target> {
        let Some(rest) = uri.strip_prefix("s3://") else {
            return Err(Error::invalid(
                "s3 uri",
                format!("{uri:?}: expected s3://bucket/prefix"),
            ));
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let prefix = prefix.trim_matches('/');
        if bucket.is_empty() {
            return Err(Error::invalid(
                "s3 uri",
                format!("{uri:?}: the bucket is empty"),
            ));
        }
        if prefix.split('/').any(|p| p == "." || p == "..") {
            return Err(Error::invalid(
                "s3 uri",
                format!("{uri:?}: the prefix must not contain '.' or '..' parts"),
            ));
        }
        Ok(S3Target {
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
            endpoint: None,
        })
    }

    /// Sets an explicit endpoint.
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    fn uri(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            format!("s3://{}/{name}", self.bucket)
        } else {
            format!("s3://{}/{}/{name}", self.bucket, self.prefix)
        }
    }
}

/// A blocking client for one target (owns a small runtime).
pub(crate) struct S3Client {
    store: Arc<dyn ObjectStore>,
    target: S3Target,
    rt: Option<Runtime>,
}

impl std::fmt::Debug for S3Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Client")
            .field("target", &self.target)
            .finish()
    }
}

impl Drop for S3Client {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

fn s3_err(uri: String, e: impl std::fmt::Display) -> Error {
    Error::io(uri, std::io::Error::other(e.to_string()))
}

impl S3Client {
    pub(crate) fn new(target: &S3Target) -> Result<S3Client> {
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(&target.bucket);
        let endpoint = target.endpoint.clone().or_else(|| {
            std::env::var("AWS_ENDPOINT_URL_S3")
                .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
                .or_else(|_| std::env::var("AWS_ENDPOINT"))
                .ok()
        });
        if let Some(ep) = endpoint {
            builder = builder
                .with_allow_http(ep.starts_with("http://"))
                .with_endpoint(ep);
        }
        // Few, short retries: the writer thread waits for an upload, and a failed one is
        // retried at the next seal anyway.
        let retry = object_store::RetryConfig {
            max_retries: 3,
            retry_timeout: std::time::Duration::from_secs(15),
            ..Default::default()
        };
        builder = builder
            .with_region(std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into()))
            .with_retry(retry);
        let store = builder.build().map_err(|e| s3_err(target.uri(""), e))?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| Error::io("tokio runtime", e))?;
        Ok(S3Client {
            store: Arc::new(store),
            target: target.clone(),
            rt: Some(rt),
        })
    }

    fn block_on<F>(&self, f: F) -> Result<F::Output>
    where
        F: Future + Send,
        F::Output: Send,
    {
        let Some(rt) = self.rt.as_ref() else {
            return Err(Error::invalid("s3", "the runtime was shut down"));
        };
        if tokio::runtime::Handle::try_current().is_ok() {
            std::thread::scope(|s| s.spawn(|| rt.block_on(f)).join())
                .map_err(|_| Error::invalid("s3", "the S3 helper thread panicked"))
        } else {
            Ok(rt.block_on(f))
        }
    }

    fn path(&self, name: &str) -> ObjPath {
        if self.target.prefix.is_empty() {
            ObjPath::from(name)
        } else {
            ObjPath::from(format!("{}/{name}", self.target.prefix))
        }
    }

    /// Uploads a local file as `<prefix>/<name>`.
    #[tracing::instrument(skip_all, fields(name), err)]
    pub(crate) fn put_file(&self, name: &str, local: &Path) -> Result<()> {
        let bytes = std::fs::read(local).map_err(|e| Error::io(local, e))?;
        let path = self.path(name);
        self.block_on(self.store.put(&path, PutPayload::from(bytes)))?
            .map_err(|e| s3_err(self.target.uri(name), e))?;
        Ok(())
    }

    /// Object names (the last key part) and sizes under the prefix.
    #[tracing::instrument(skip_all, err)]
    pub(crate) fn list(&self) -> Result<Vec<(String, u64)>> {
        let prefix =
            (!self.target.prefix.is_empty()).then(|| ObjPath::from(self.target.prefix.as_str()));
        let metas: Vec<object_store::Result<object_store::ObjectMeta>> =
            self.block_on(self.store.list(prefix.as_ref()).collect())?;
        let mut out = Vec::new();
        for m in metas {
            let m = m.map_err(|e| s3_err(self.target.uri(""), e))?;
            if let Some(name) = m.location.filename() {
                out.push((name.to_owned(), m.size));
            }
        }
        out.sort();
        Ok(out)
    }

    /// Downloads `<prefix>/<name>`.
    #[tracing::instrument(skip_all, fields(name), err)]
    pub(crate) fn get(&self, name: &str) -> Result<Vec<u8>> {
        let path = self.path(name);
        let got = self.block_on(async {
            match self.store.get(&path).await {
                Ok(r) => r.bytes().await,
                Err(e) => Err(e),
            }
        })?;
        got.map(|b| b.to_vec())
            .map_err(|e| s3_err(self.target.uri(name), e))
    }
}
