//! The file backend: a local directory, crash-safe by construction.
//!
//! Layout under the root:
//! ```text
//! registry.json                                   layout marker
//! models/<name>/versions/<v:020>.json             one immutable record per version
//! models/<name>/events/<seq:020>.json             append-only alias/archive/delete log
//! blobs/sha256/<hh>/<hex>                         content-addressed artifacts
//! staging/<token>                                 in-flight writes (removed by gc)
//! ```
//! Every record is written to `staging/`, fsynced, then hard-linked into place
//! (`link(2)` fails with `EEXIST` when the name is taken, which is the create-if-absent
//! primitive), and the directory is fsynced. A crash leaves at most a staging file.

use std::fs::{self, File};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use chrono::{DateTime, Utc};
use mlops_core::Sha256Digest;

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::storage::{hash_into_file, unique_token, BlobMeta, Storage};

const MARKER: &str = "registry.json";
const LAYOUT: &str = r#"{"format":"mlops-registry","layout":1}"#;

#[derive(Debug, Clone)]
pub(crate) struct FileStorage {
    root: PathBuf,
    fsync: bool,
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))
}

fn open_nofollow(path: &Path, write: bool) -> std::io::Result<File> {
    let mut o = fs::OpenOptions::new();
    o.read(true).custom_flags(libc::O_NOFOLLOW);
    if write {
        o.write(true);
    }
    o.open(path)
}

fn to_utc(t: SystemTime) -> DateTime<Utc> {
    DateTime::<Utc>::from(t)
}

impl FileStorage {
    fn unsafe_path(path: &Path, reason: &str) -> Error {
        Error::UnsafePath {
            path: path.to_owned(),
            reason: reason.to_owned(),
        }
    }

    /// Maps a key to a path, refusing `..`, absolute keys and symlinked directories.
    fn path(&self, key: &str) -> Result<PathBuf> {
        let rel = Path::new(key);
        let mut cur = self.root.clone();
        let comps: Vec<Component<'_>> = rel.components().collect();
        for (i, c) in comps.iter().enumerate() {
            let Component::Normal(part) = c else {
                return Err(Self::unsafe_path(
                    rel,
                    "keys are relative paths without '.' or '..'",
                ));
            };
            cur.push(part);
            if i + 1 < comps.len() {
                match fs::symlink_metadata(&cur) {
                    Ok(m) if m.file_type().is_symlink() => {
                        return Err(Self::unsafe_path(&cur, "is a symbolic link"))
                    }
                    Ok(m) if !m.is_dir() => {
                        return Err(Self::unsafe_path(&cur, "is not a directory"))
                    }
                    Ok(_) => {}
                    Err(e) if e.kind() == ErrorKind::NotFound => {}
                    Err(e) => return Err(Error::io(&cur, e)),
                }
            }
        }
        Ok(cur)
    }

    /// Creates the directories leading to `dir` (inside the root), fsyncing each new entry.
    fn ensure_dir(&self, dir: &Path) -> Result<()> {
        let rel = dir
            .strip_prefix(&self.root)
            .map_err(|_| Self::unsafe_path(dir, "outside the registry root"))?;
        let mut cur = self.root.clone();
        for c in rel.components() {
            let parent = cur.clone();
            cur.push(c);
            match fs::create_dir(&cur) {
                Ok(()) => {
                    if self.fsync {
                        sync_dir(&parent)?;
                    }
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                    let m = fs::symlink_metadata(&cur).map_err(|e| Error::io(&cur, e))?;
                    if !m.is_dir() {
                        return Err(Self::unsafe_path(
                            &cur,
                            "is a symbolic link or not a directory",
                        ));
                    }
                }
                Err(e) => return Err(Error::io(&cur, e)),
            }
        }
        Ok(())
    }

    fn staging_file(&self) -> Result<(PathBuf, File)> {
        let path = self.root.join("staging").join(unique_token());
        let file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        Ok((path, file))
    }

    fn blob_path(&self, d: &Sha256Digest) -> PathBuf {
        let hex = d.to_hex();
        self.root.join("blobs/sha256").join(&hex[..2]).join(hex)
    }

    /// Links the complete staged file into place; `Ok(false)` when `dst` exists.
    fn commit(&self, staged: &Path, dst: &Path) -> Result<bool> {
        let parent = dst
            .parent()
            .ok_or_else(|| Self::unsafe_path(dst, "has no parent"))?;
        self.ensure_dir(parent)?;
        let linked = fs::hard_link(staged, dst);
        let _ = fs::remove_file(staged);
        match linked {
            Ok(()) => {
                if self.fsync {
                    sync_dir(parent)?;
                }
                Ok(true)
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(Error::io(dst, e)),
        }
    }

    fn meta_of(&self, digest: Sha256Digest, path: &Path) -> Result<Option<BlobMeta>> {
        match fs::symlink_metadata(path) {
            Ok(m) if m.file_type().is_symlink() => {
                Err(Self::unsafe_path(path, "is a symbolic link"))
            }
            Ok(m) => Ok(Some(BlobMeta {
                digest,
                size: m.len(),
                modified: to_utc(m.modified().map_err(|e| Error::io(path, e))?),
            })),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(path, e)),
        }
    }
}

impl Storage for FileStorage {
    fn create(&self, key: &str, bytes: &[u8]) -> Result<bool> {
        let dst = self.path(key)?;
        let (staged, mut f) = self.staging_file()?;
        let written = f
            .write_all(bytes)
            .and_then(|()| if self.fsync { f.sync_all() } else { Ok(()) });
        drop(f);
        if let Err(e) = written {
            let _ = fs::remove_file(&staged);
            return Err(Error::io(&staged, e));
        }
        self.commit(&staged, &dst)
    }

    fn read(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let path = self.path(key)?;
        match open_nofollow(&path, false) {
            Ok(mut f) => {
                let mut buf = Vec::new();
                f.read_to_end(&mut buf).map_err(|e| Error::io(&path, e))?;
                Ok(Some(buf))
            }
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                Err(Self::unsafe_path(&path, "is a symbolic link"))
            }
            Err(e) => Err(Error::io(&path, e)),
        }
    }

    fn list(&self, dir: &str) -> Result<Vec<String>> {
        let path = self.path(dir)?;
        match fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(Self::unsafe_path(&path, "is a symbolic link"))
            }
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            _ => {}
        }
        let rd = fs::read_dir(&path).map_err(|e| Error::io(&path, e))?;
        let mut out = Vec::new();
        for entry in rd {
            let entry = entry.map_err(|e| Error::io(&path, e))?;
            if let Ok(name) = entry.file_name().into_string() {
                out.push(name);
            }
        }
        Ok(out)
    }

    fn put_blob(&self, reader: &mut dyn Read) -> Result<(Sha256Digest, u64)> {
        let (staged, mut f) = self.staging_file()?;
        let result = hash_into_file(reader, &mut f, self.fsync, &staged);
        drop(f);
        let (digest, size) = match result {
            Ok(r) => r,
            Err(e) => {
                let _ = fs::remove_file(&staged);
                return Err(e);
            }
        };
        let dst = self.blob_path(&digest);
        match self.meta_of(digest, &dst)? {
            // A blob of the wrong size is damaged: atomically replace it with the good bytes.
            Some(m) if m.size != size => {
                fs::rename(&staged, &dst).map_err(|e| Error::io(&dst, e))?;
                if let Some(parent) = dst.parent().filter(|_| self.fsync) {
                    sync_dir(parent)?;
                }
            }
            Some(_) => {
                let _ = fs::remove_file(&staged);
                // Refresh the age so a concurrent gc keeps it.
                open_nofollow(&dst, true)
                    .and_then(|f| f.set_modified(SystemTime::now()))
                    .map_err(|e| Error::io(&dst, e))?;
            }
            None => {
                if !self.commit(&staged, &dst)? {
                    open_nofollow(&dst, true)
                        .and_then(|f| f.set_modified(SystemTime::now()))
                        .map_err(|e| Error::io(&dst, e))?;
                }
            }
        }
        Ok((digest, size))
    }

    fn open_blob(&self, digest: &Sha256Digest) -> Result<Option<Box<dyn Read + Send>>> {
        let path = self.blob_path(digest);
        self.path(&format!("blobs/sha256/{}/x", &digest.to_hex()[..2]))?;
        match open_nofollow(&path, false) {
            Ok(f) => Ok(Some(Box::new(f))),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                Err(Self::unsafe_path(&path, "is a symbolic link"))
            }
            Err(e) => Err(Error::io(&path, e)),
        }
    }

    fn blobs(&self) -> Result<Vec<BlobMeta>> {
        let mut out = Vec::new();
        for shard in self.list("blobs/sha256")? {
            for name in self.list(&format!("blobs/sha256/{shard}"))? {
                // Only well-formed digests in their right shard are blobs; anything else is ignored.
                let Ok(d) = name.parse::<Sha256Digest>() else {
                    continue;
                };
                if name[..2] != shard {
                    continue;
                }
                if let Some(m) = self.meta_of(d, &self.blob_path(&d))? {
                    out.push(m);
                }
            }
        }
        Ok(out)
    }

    fn blob_meta(&self, digest: &Sha256Digest) -> Result<Option<BlobMeta>> {
        self.meta_of(*digest, &self.blob_path(digest))
    }

    fn delete_blob(&self, digest: &Sha256Digest) -> Result<()> {
        let path = self.blob_path(digest);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(&path, e)),
        }
    }

    fn clean_staging(&self, before: DateTime<Utc>) -> Result<u64> {
        let mut removed = 0;
        for name in self.list("staging")? {
            let path = self.root.join("staging").join(&name);
            let Ok(m) = fs::symlink_metadata(&path) else {
                continue;
            };
            let old = m.modified().map(to_utc).is_ok_and(|t| t <= before);
            if old && fs::remove_file(&path).is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// Options for opening a [`FileRegistry`].
#[derive(Debug, Clone)]
pub struct FileRegistryBuilder {
    root: PathBuf,
    fsync: bool,
}

impl FileRegistryBuilder {
    /// Options for the registry at `root` (created if missing); fsync is on.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            fsync: true,
        }
    }

    /// Turns fsync of files and directories on (default) or off. Off keeps atomicity
    /// and concurrency safety but not durability across power loss.
    pub fn with_fsync(mut self, fsync: bool) -> Self {
        self.fsync = fsync;
        self
    }

    /// Opens (creating if needed) the registry.
    ///
    /// # Errors
    /// [`Error::Io`] when the directory cannot be created or read;
    /// [`Error::UnsafePath`] when a registry directory is a symbolic link;
    /// [`Error::CorruptRecord`] when `registry.json` is not an mlops registry marker.
    pub fn build(self) -> Result<FileRegistry> {
        let root = self.root;
        fs::create_dir_all(&root).map_err(|e| Error::io(&root, e))?;
        let storage = FileStorage {
            root: root.clone(),
            fsync: self.fsync,
        };
        for dir in ["staging", "models", "blobs/sha256"] {
            storage.ensure_dir(&root.join(dir))?;
        }
        // Read first: opening an existing registry writes (and fsyncs) nothing.
        let existing = match storage.read(MARKER)? {
            Some(found) => Some(found),
            None if storage.create(MARKER, LAYOUT.as_bytes())? => None,
            None => storage.read(MARKER)?,
        };
        if let Some(found) = existing {
            let v: serde_json::Value = serde_json::from_slice(&found)
                .map_err(|e| Error::corrupt(MARKER, e.to_string()))?;
            if v.get("format").and_then(|f| f.as_str()) != Some("mlops-registry")
                || v.get("layout").and_then(|l| l.as_u64()) != Some(1)
            {
                return Err(Error::corrupt(
                    MARKER,
                    format!("unsupported registry marker {v}"),
                ));
            }
        }
        Ok(FileRegistry {
            root,
            engine: Arc::new(Engine::new(Box::new(storage.clone()))),
            storage,
        })
    }
}

/// A registry in a local directory (the embedded default). Handles are cheap to clone;
/// any number of handles and processes may use one directory at once.
///
/// ```
/// use mlops_registry::{FileRegistry, NewVersion, Registry};
/// let dir = tempfile::tempdir()?;
/// let reg = FileRegistry::open(dir.path())?;
/// let v = reg.register(NewVersion::new("m".parse()?).with_artifact_bytes("w.onnx", vec![1]))?;
/// assert_eq!(v.version.format, "onnx");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct FileRegistry {
    root: PathBuf,
    #[cfg_attr(not(any(test, feature = "conformance")), allow(dead_code))]
    pub(crate) storage: FileStorage,
    pub(crate) engine: Arc<Engine>,
}

impl FileRegistry {
    /// Opens (creating if needed) the registry at `root`, with fsync on.
    ///
    /// # Errors
    /// As [`FileRegistryBuilder::build`].
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        FileRegistryBuilder::new(root).build()
    }

    /// The registry's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    #[cfg(any(test, feature = "conformance"))]
    pub(crate) fn overwrite_blob(&self, digest: &Sha256Digest, bytes: &[u8]) -> bool {
        let path = self.storage.blob_path(digest);
        path.exists() && fs::write(path, bytes).is_ok()
    }
}

crate::forward_registry!(FileRegistry);

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;
    use std::time::Duration;

    use super::*;
    use crate::{Change, NewVersion, Registry};

    fn name(s: &str) -> mlops_core::ModelName {
        s.parse().unwrap()
    }

    #[test]
    fn symlinks_out_of_the_root_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let reg = FileRegistry::open(dir.path().join("r")).unwrap();
        symlink(outside.path(), dir.path().join("r/models/evil")).unwrap();
        let err = reg
            .register(NewVersion::new(name("evil")).with_artifact_bytes("w", vec![1]))
            .unwrap_err();
        assert!(matches!(err, Error::UnsafePath { .. }), "{err:?}");
        assert_eq!(
            fs::read_dir(outside.path()).unwrap().count(),
            0,
            "nothing written outside"
        );
        assert!(matches!(
            reg.versions(&name("evil")),
            Err(Error::UnsafePath { .. })
        ));

        // A blob replaced by a symlink to a file outside is not followed.
        let e = reg
            .register(NewVersion::new(name("ok")).with_artifact_bytes("w", b"secret?".to_vec()))
            .unwrap();
        let target = outside.path().join("passwd");
        fs::write(&target, b"root:x:0:0").unwrap();
        let blob = reg.storage.blob_path(&e.version.artifacts[0].digest);
        fs::remove_file(&blob).unwrap();
        symlink(&target, &blob).unwrap();
        let err = reg.read_artifact(&name("ok"), 1, "w").unwrap_err();
        assert!(matches!(err, Error::UnsafePath { .. }), "{err:?}");
        // A version record replaced by a symlink is refused too.
        let rec = dir
            .path()
            .join("r/models/ok/versions/00000000000000000001.json");
        fs::remove_file(&rec).unwrap();
        symlink(&target, &rec).unwrap();
        assert!(matches!(
            reg.version(&name("ok"), 1),
            Err(Error::UnsafePath { .. })
        ));
    }

    #[test]
    fn malformed_records_are_typed_errors_and_verify_reports_them() {
        let dir = tempfile::tempdir().unwrap();
        let reg = FileRegistry::open(dir.path()).unwrap();
        reg.register(NewVersion::new(name("m")).with_artifact_bytes("w", vec![1]))
            .unwrap();
        let rec = dir
            .path()
            .join("models/m/versions/00000000000000000001.json");
        let text = fs::read(&rec).unwrap();
        fs::write(&rec, &text[..text.len() / 2]).unwrap();
        let fresh = FileRegistry::open(dir.path()).unwrap();
        assert!(matches!(
            fresh.version(&name("m"), 1),
            Err(Error::CorruptRecord { .. })
        ));
        let report = fresh.verify().unwrap();
        assert_eq!(report.problems.len(), 1, "{report:?}");
        assert!(
            matches!(fresh.gc(Duration::ZERO), Err(Error::CorruptRecord { .. })),
            "gc refuses to guess"
        );
        // A record whose content names another version is caught as well.
        fs::write(&rec, text.clone()).unwrap();
        let other = dir
            .path()
            .join("models/m/versions/00000000000000000002.json");
        fs::write(&other, &text).unwrap();
        assert!(matches!(
            FileRegistry::open(dir.path())
                .unwrap()
                .version(&name("m"), 2),
            Err(Error::CorruptRecord { .. })
        ));
    }

    #[test]
    fn a_doctored_record_cannot_make_download_escape_its_directory() {
        let dir = tempfile::tempdir().unwrap();
        let reg = FileRegistry::open(dir.path().join("r")).unwrap();
        reg.register(NewVersion::new(name("m")).with_artifact_bytes("w", vec![1]))
            .unwrap();
        let rec = dir
            .path()
            .join("r/models/m/versions/00000000000000000001.json");
        let text = fs::read_to_string(&rec)
            .unwrap()
            .replace("\"name\": \"w\"", "\"name\": \"../escaped\"");
        assert!(text.contains("../escaped"));
        fs::write(&rec, text).unwrap();
        let out = dir.path().join("out");
        let err = FileRegistry::open(dir.path().join("r"))
            .unwrap()
            .download(&"m/1".parse().unwrap(), &out)
            .unwrap_err();
        assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
        assert!(!dir.path().join("escaped").exists());
    }

    #[test]
    fn foreign_marker_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(MARKER), br#"{"format":"something-else"}"#).unwrap();
        assert!(matches!(
            FileRegistry::open(dir.path()),
            Err(Error::CorruptRecord { .. })
        ));
    }

    #[test]
    fn reuploading_an_old_unreferenced_blob_protects_it_from_gc() {
        let dir = tempfile::tempdir().unwrap();
        let reg = FileRegistry::open(dir.path()).unwrap();
        let m = name("m");
        let e = reg
            .register(NewVersion::new(m.clone()).with_artifact_bytes("w", b"weights".to_vec()))
            .unwrap();
        reg.delete_version(&m, 1, &Change::default()).unwrap();
        // Age the now-unreferenced blob past the grace period.
        let blob = reg.storage.blob_path(&e.version.artifacts[0].digest);
        let old = SystemTime::now() - Duration::from_secs(7200);
        File::options()
            .write(true)
            .open(&blob)
            .unwrap()
            .set_modified(old)
            .unwrap();
        // A registration of the same bytes (as one in flight would) refreshes its age...
        reg.storage.put_blob(&mut &b"weights"[..]).unwrap();
        // ...so a gc that runs before the version record exists keeps it.
        let report = reg.gc(Duration::from_secs(3600)).unwrap();
        assert!(report.deleted.is_empty(), "{report:?}");
        assert!(blob.exists());
        // Without the refresh the same gc deletes it.
        File::options()
            .write(true)
            .open(&blob)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let report = reg.gc(Duration::from_secs(3600)).unwrap();
        assert_eq!(report.deleted.len(), 1);
    }

    #[test]
    fn interrupted_staging_files_are_collected_after_grace() {
        let dir = tempfile::tempdir().unwrap();
        let reg = FileRegistry::open(dir.path()).unwrap();
        fs::write(dir.path().join("staging/123-abc-0"), b"half a blob").unwrap();
        assert_eq!(
            reg.gc(Duration::from_secs(3600)).unwrap().staging_removed,
            0
        );
        assert_eq!(reg.gc(Duration::ZERO).unwrap().staging_removed, 1);
    }

    #[test]
    fn without_fsync_the_semantics_are_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let reg = FileRegistryBuilder::new(dir.path())
            .with_fsync(false)
            .build()
            .unwrap();
        for i in 0..3u8 {
            let e = reg
                .register(NewVersion::new(name("m")).with_artifact_bytes("w", vec![i]))
                .unwrap();
            assert_eq!(e.version.version, u64::from(i) + 1);
        }
        assert!(reg.verify().unwrap().is_clean());
    }
}
