//! The registry algorithm, written once over [`Storage`]: write-once records, versions
//! claimed by create-if-absent, an append-only event log folded into aliases and states.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use chrono::Utc;
use mlops_core::{infer_format, AliasName, ModelName, ModelRef, ModelVersion, VersionSelector};
use tracing::instrument;

use crate::error::{Error, Result};
use crate::storage::{ArtifactReader, Storage};
use crate::types::{
    Change, Event, EventKind, GcReport, NewVersion, VerifyProblem, VerifyReport, VersionEntry,
};

/// How many times a writer retries a slot lost to concurrent writers before giving up.
const MAX_ATTEMPTS: u32 = 100_000;

fn versions_dir(name: &ModelName) -> String {
    format!("models/{name}/versions")
}

fn version_key(name: &ModelName, v: u64) -> String {
    format!("models/{name}/versions/{v:020}.json")
}

fn event_key(name: &ModelName, seq: u64) -> String {
    format!("models/{name}/events/{seq:020}.json")
}

/// Parses a `{number:020}.json` record file name.
fn parse_seq(file: &str) -> Option<u64> {
    let digits = file.strip_suffix(".json")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// An artifact with the `name/version` that references it.
type Located = (String, mlops_core::ArtifactRef);

/// The fold of a model's event log.
#[derive(Debug, Clone, Default)]
pub(crate) struct State {
    /// Alias → stack of targets (last = current). Rollback pops.
    aliases: BTreeMap<AliasName, Vec<u64>>,
    archived: BTreeSet<u64>,
    deleted: BTreeSet<u64>,
}

impl State {
    fn apply(&mut self, kind: &EventKind) {
        match kind {
            EventKind::AliasSet { alias, version, .. } => self
                .aliases
                .entry(alias.clone())
                .or_default()
                .push(*version),
            EventKind::AliasRolledBack { alias, .. } => {
                if let Some(stack) = self.aliases.get_mut(alias) {
                    stack.pop();
                }
            }
            EventKind::AliasRemoved { alias, .. } => {
                self.aliases.remove(alias);
            }
            EventKind::Archived { version } => {
                self.archived.insert(*version);
            }
            EventKind::Restored { version } => {
                self.archived.remove(version);
            }
            EventKind::Deleted { version } => {
                self.deleted.insert(*version);
                self.archived.remove(version);
            }
        }
    }

    fn alias(&self, alias: &AliasName) -> Option<u64> {
        self.aliases.get(alias).and_then(|s| s.last().copied())
    }

    fn aliases_of(&self, version: u64) -> Vec<AliasName> {
        self.aliases
            .iter()
            .filter(|(_, s)| s.last() == Some(&version))
            .map(|(a, _)| a.clone())
            .collect()
    }

    /// The current alias map.
    pub(crate) fn alias_map(&self) -> BTreeMap<AliasName, u64> {
        self.aliases
            .iter()
            .filter_map(|(a, s)| s.last().map(|v| (a.clone(), *v)))
            .collect()
    }
}

#[derive(Debug, Default)]
struct ModelCache {
    /// Highest version number known to exist (versions are dense from 1).
    max_version: Option<u64>,
    events: Vec<Event>,
    state: State,
}

/// The backend-independent registry.
#[derive(Debug)]
pub(crate) struct Engine {
    store: Box<dyn Storage>,
    cache: Mutex<HashMap<ModelName, ModelCache>>,
}

/// Checks that an artifact file name is one safe path component.
pub(crate) fn check_artifact_name(name: &str) -> Result<()> {
    let bad = |reason: &str| Err(Error::invalid(format!("artifact name {name:?}"), reason));
    if name.is_empty() {
        return bad("must not be empty");
    }
    if name.len() > 255 {
        return bad("is longer than 255 bytes");
    }
    if name == "." || name == ".." {
        return bad("must not be '.' or '..'");
    }
    if name
        .chars()
        .any(|c| c == '/' || c == '\\' || c.is_control())
    {
        return bad("must be one path component without '/', '\\' or control characters");
    }
    Ok(())
}

impl Engine {
    pub(crate) fn new(store: Box<dyn Storage>) -> Self {
        Self {
            store,
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ModelName, ModelCache>> {
        // A poisoned cache only means another thread panicked mid-update of a hint;
        // hints are re-validated against the store, so the data is still usable.
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn read_version(&self, name: &ModelName, v: u64) -> Result<Option<ModelVersion>> {
        let key = version_key(name, v);
        let Some(bytes) = self.store.read(&key)? else {
            return Ok(None);
        };
        let mv: ModelVersion =
            serde_json::from_slice(&bytes).map_err(|e| Error::corrupt(&key, e.to_string()))?;
        if &mv.name != name || mv.version != v {
            return Err(Error::corrupt(
                &key,
                format!("record says {}/{}", mv.name, mv.version),
            ));
        }
        Ok(Some(mv))
    }

    /// Highest existing version number (0 when none), refreshing the cached hint.
    fn max_version(&self, name: &ModelName) -> Result<u64> {
        let hint = self.lock().get(name).and_then(|c| c.max_version);
        let mut max = match hint {
            Some(v) => v,
            None => self
                .store
                .list(&versions_dir(name))?
                .iter()
                .filter_map(|f| parse_seq(f))
                .max()
                .unwrap_or(0),
        };
        while self.store.read(&version_key(name, max + 1))?.is_some() {
            max += 1;
        }
        self.note_version(name, max);
        Ok(max)
    }

    fn note_version(&self, name: &ModelName, v: u64) {
        let mut cache = self.lock();
        let entry = cache.entry(name.clone()).or_default();
        if entry.max_version.is_none_or(|m| m < v) {
            entry.max_version = Some(v);
        }
    }

    /// Reads events past the cached ones and returns the folded state and the log length.
    fn refresh(&self, name: &ModelName) -> Result<(State, u64)> {
        let mut next = self
            .lock()
            .get(name)
            .map_or(1, |c| c.events.len() as u64 + 1);
        let mut fresh = Vec::new();
        while let Some(bytes) = self.store.read(&event_key(name, next))? {
            let key = event_key(name, next);
            let ev: Event =
                serde_json::from_slice(&bytes).map_err(|e| Error::corrupt(&key, e.to_string()))?;
            if ev.seq != next {
                return Err(Error::corrupt(&key, format!("record says seq {}", ev.seq)));
            }
            fresh.push(ev);
            next += 1;
        }
        let mut cache = self.lock();
        let entry = cache.entry(name.clone()).or_default();
        // Another thread may have advanced the cache meanwhile; keep the longer log.
        for ev in fresh {
            if ev.seq == entry.events.len() as u64 + 1 {
                entry.state.apply(&ev.kind);
                entry.events.push(ev);
            }
        }
        Ok((entry.state.clone(), entry.events.len() as u64))
    }

    fn events_snapshot(&self, name: &ModelName) -> Result<Vec<Event>> {
        self.refresh(name)?;
        Ok(self
            .lock()
            .get(name)
            .map(|c| c.events.clone())
            .unwrap_or_default())
    }

    fn entry(&self, mv: ModelVersion, state: &State) -> VersionEntry {
        let v = mv.version;
        VersionEntry {
            archived: state.archived.contains(&v),
            aliases: state.aliases_of(v),
            version: mv,
        }
    }

    fn live_version(&self, name: &ModelName, v: u64, state: &State) -> Result<ModelVersion> {
        if state.deleted.contains(&v) {
            return Err(Error::VersionNotFound {
                name: name.clone(),
                version: v,
                deleted: true,
            });
        }
        self.read_version(name, v)?
            .ok_or_else(|| Error::VersionNotFound {
                name: name.clone(),
                version: v,
                deleted: false,
            })
    }

    /// Appends an event computed from the current state; retries on lost races.
    fn append(
        &self,
        name: &ModelName,
        change: &Change,
        what: &str,
        mut decide: impl FnMut(&State) -> Result<EventKind>,
    ) -> Result<Event> {
        // Every event is about an existing model: a typed not-found before any log is read.
        self.require_model(name)?;
        for _ in 0..MAX_ATTEMPTS {
            let (state, len) = self.refresh(name)?;
            let kind = decide(&state)?;
            let ev = Event {
                seq: len + 1,
                at: Utc::now(),
                change: change.clone(),
                kind,
            };
            let bytes = serde_json::to_vec_pretty(&ev)
                .map_err(|e| Error::invalid("event", e.to_string()))?;
            if self.store.create(&event_key(name, ev.seq), &bytes)? {
                self.refresh(name)?;
                return Ok(ev);
            }
        }
        Err(Error::Contention {
            what: format!("{what} on {name}"),
            attempts: MAX_ATTEMPTS,
        })
    }

    fn require_model(&self, name: &ModelName) -> Result<u64> {
        let max = self.max_version(name)?;
        if max == 0 {
            return Err(Error::ModelNotFound { name: name.clone() });
        }
        Ok(max)
    }
}

/// The registry operations, implemented once; each backend type forwards to these.
impl Engine {
    #[instrument(skip_all, fields(model = %new.name), err(level = "debug"))]
    pub(crate) fn register(&self, mut new: NewVersion) -> Result<VersionEntry> {
        let mut seen = HashSet::new();
        for a in &new.artifacts {
            check_artifact_name(&a.name)?;
            if !seen.insert(a.name.clone()) {
                return Err(Error::invalid(
                    format!("artifact name {:?}", a.name),
                    "given twice",
                ));
            }
        }
        for (k, v) in &new.metrics {
            if k.is_empty() {
                return Err(Error::invalid("metric name", "must not be empty"));
            }
            if !v.is_finite() {
                return Err(Error::invalid(
                    format!("metric {k:?}"),
                    format!("{v} is not finite"),
                ));
            }
        }
        if new
            .tags
            .keys()
            .chain(new.params.keys())
            .any(|k| k.is_empty())
        {
            return Err(Error::invalid("tag or param key", "must not be empty"));
        }
        let format = match new.format.take() {
            Some(f) if f.trim().is_empty() || f.chars().any(char::is_control) => {
                return Err(Error::invalid(
                    "format",
                    format!("{f:?} is empty or has control characters"),
                ))
            }
            Some(f) => f,
            None => new
                .artifacts
                .iter()
                .find_map(|a| infer_format(&a.name))
                .unwrap_or_default(),
        };
        if let Some(p) = new.lineage.parent_version {
            let (state, _) = self.refresh(&new.name)?;
            self.live_version(&new.name, p, &state)
                .map_err(|e| Error::invalid("parent version", e.to_string()))?;
        }
        // Blobs first: a version record never points at a blob that was not fully written.
        let mut artifacts = Vec::with_capacity(new.artifacts.len());
        for a in &mut new.artifacts {
            let (digest, size) = self.store.put_blob(&mut *a.reader)?;
            artifacts.push(mlops_core::ArtifactRef {
                name: a.name.clone(),
                digest,
                size,
            });
        }
        // A concurrent `gc` only deletes blobs older than its grace period, and uploading
        // refreshed every blob's age; check they are all still there before committing.
        for a in &artifacts {
            if self.store.blob_meta(&a.digest)?.is_none() {
                return Err(Error::MissingBlob { digest: a.digest });
            }
        }
        let mut record = ModelVersion::new(new.name.clone(), 0);
        record.description = new.description;
        record.tags = new.tags;
        record.params = new.params;
        record.metrics = new.metrics;
        record.signature = new.signature;
        record.format = format;
        record.artifacts = artifacts;
        record.lineage = new.lineage;
        let first = self.max_version(&record.name)? + 1;
        // The loser of a race for number `v` tries `v + 1`.
        for v in (first..).take(MAX_ATTEMPTS as usize) {
            record.version = v;
            record.created_at = Utc::now();
            let bytes = serde_json::to_vec_pretty(&record)
                .map_err(|e| Error::invalid("version record", e.to_string()))?;
            if self.store.create(&version_key(&record.name, v), &bytes)? {
                self.note_version(&record.name, v);
                tracing::debug!(version = v, "registered");
                let (state, _) = self.refresh(&record.name)?;
                return Ok(self.entry(record, &state));
            }
        }
        Err(Error::Contention {
            what: format!("a version number of {}", record.name),
            attempts: MAX_ATTEMPTS,
        })
    }

    pub(crate) fn models(&self) -> Result<Vec<ModelName>> {
        let mut out: Vec<ModelName> = self
            .store
            .list("models")?
            .into_iter()
            .filter_map(|n| ModelName::new(n).ok())
            .collect();
        out.sort();
        out.dedup();
        Ok(out)
    }

    pub(crate) fn versions(&self, name: &ModelName) -> Result<Vec<VersionEntry>> {
        let max = self.require_model(name)?;
        let (state, _) = self.refresh(name)?;
        let mut out = Vec::new();
        for v in 1..=max {
            if state.deleted.contains(&v) {
                continue;
            }
            if let Some(mv) = self.read_version(name, v)? {
                out.push(self.entry(mv, &state));
            }
        }
        Ok(out)
    }

    pub(crate) fn version(&self, name: &ModelName, v: u64) -> Result<VersionEntry> {
        let (state, _) = self.refresh(name)?;
        let mv = self.live_version(name, v, &state)?;
        Ok(self.entry(mv, &state))
    }

    #[instrument(skip_all, fields(reference = %r), err(level = "debug"))]
    pub(crate) fn resolve(&self, r: &ModelRef) -> Result<VersionEntry> {
        let name = &r.name;
        match &r.selector {
            VersionSelector::Version(v) => self.version(name, *v),
            VersionSelector::Alias(a) => {
                let (state, _) = self.refresh(name)?;
                let v = state.alias(a).ok_or_else(|| Error::AliasNotFound {
                    name: name.clone(),
                    alias: a.clone(),
                })?;
                let mv = self.live_version(name, v, &state)?;
                Ok(self.entry(mv, &state))
            }
            VersionSelector::Latest => {
                let max = self.require_model(name)?;
                let (state, _) = self.refresh(name)?;
                let v = (1..=max)
                    .rev()
                    .find(|v| !state.deleted.contains(v))
                    .ok_or_else(|| Error::VersionNotFound {
                        name: name.clone(),
                        version: max,
                        deleted: true,
                    })?;
                let mv = self.live_version(name, v, &state)?;
                Ok(self.entry(mv, &state))
            }
        }
    }

    pub(crate) fn aliases(&self, name: &ModelName) -> Result<BTreeMap<AliasName, u64>> {
        Ok(self.refresh(name)?.0.alias_map())
    }

    pub(crate) fn history(&self, name: &ModelName) -> Result<Vec<Event>> {
        self.require_model(name)?;
        self.events_snapshot(name)
    }

    #[instrument(skip_all, fields(model = %name, alias = %alias, version = version), err(level = "debug"))]
    pub(crate) fn set_alias(
        &self,
        name: &ModelName,
        alias: &AliasName,
        version: u64,
        change: &Change,
    ) -> Result<Event> {
        self.append(name, change, "alias set", |state| {
            self.live_version(name, version, state)?;
            Ok(EventKind::AliasSet {
                alias: alias.clone(),
                version,
                previous: state.alias(alias),
            })
        })
    }

    pub(crate) fn remove_alias(
        &self,
        name: &ModelName,
        alias: &AliasName,
        change: &Change,
    ) -> Result<Event> {
        self.append(name, change, "alias remove", |state| {
            let previous = state.alias(alias).ok_or_else(|| Error::AliasNotFound {
                name: name.clone(),
                alias: alias.clone(),
            })?;
            Ok(EventKind::AliasRemoved {
                alias: alias.clone(),
                previous,
            })
        })
    }

    pub(crate) fn rollback(
        &self,
        name: &ModelName,
        alias: &AliasName,
        change: &Change,
    ) -> Result<Event> {
        self.append(name, change, "rollback", |state| {
            let stack = state
                .aliases
                .get(alias)
                .ok_or_else(|| Error::AliasNotFound {
                    name: name.clone(),
                    alias: alias.clone(),
                })?;
            let (from, to) = match stack.as_slice() {
                [.., to, from] => (*from, *to),
                _ => {
                    return Err(Error::conflict(
                        format!("{name}@{alias}"),
                        "the alias has no previous target to roll back to",
                    ))
                }
            };
            if state.deleted.contains(&to) {
                return Err(Error::conflict(
                    format!("{name}@{alias}"),
                    format!("its previous target {to} was deleted"),
                ));
            }
            Ok(EventKind::AliasRolledBack {
                alias: alias.clone(),
                from,
                to,
            })
        })
    }

    pub(crate) fn set_archived(
        &self,
        name: &ModelName,
        version: u64,
        archived: bool,
        change: &Change,
    ) -> Result<Event> {
        self.append(name, change, "archive", |state| {
            self.live_version(name, version, state)?;
            if state.archived.contains(&version) == archived {
                return Err(Error::conflict(
                    format!("{name}/{version}"),
                    if archived {
                        "already archived"
                    } else {
                        "not archived"
                    },
                ));
            }
            Ok(if archived {
                EventKind::Archived { version }
            } else {
                EventKind::Restored { version }
            })
        })
    }

    pub(crate) fn delete_version(
        &self,
        name: &ModelName,
        version: u64,
        change: &Change,
    ) -> Result<Event> {
        self.append(name, change, "delete", |state| {
            self.live_version(name, version, state)?;
            let aliases = state.aliases_of(version);
            if !aliases.is_empty() {
                let list: Vec<&str> = aliases.iter().map(AliasName::as_str).collect();
                return Err(Error::conflict(
                    format!("{name}/{version}"),
                    format!(
                        "aliases {} point to it; move or remove them first",
                        list.join(", ")
                    ),
                ));
            }
            Ok(EventKind::Deleted { version })
        })
    }

    pub(crate) fn open_artifact(
        &self,
        name: &ModelName,
        version: u64,
        artifact: &str,
    ) -> Result<ArtifactReader> {
        let entry = self.version(name, version)?;
        let a = entry
            .version
            .artifacts
            .iter()
            .find(|a| a.name == artifact)
            .ok_or_else(|| Error::ArtifactNotFound {
                name: name.clone(),
                version,
                artifact: artifact.to_owned(),
            })?;
        let inner = self
            .store
            .open_blob(&a.digest)?
            .ok_or(Error::MissingBlob { digest: a.digest })?;
        Ok(ArtifactReader::new(inner, a.digest, a.size))
    }

    /// Digests referenced by live versions, plus the problems met while reading records.
    fn referenced(&self) -> Result<(Vec<Located>, u64, Vec<VerifyProblem>)> {
        let mut refs = Vec::new();
        let mut problems = Vec::new();
        let mut versions = 0;
        for name in self.models()? {
            let max = self.max_version(&name)?;
            let (state, _) = self.refresh(&name)?;
            for v in 1..=max {
                if state.deleted.contains(&v) {
                    continue;
                }
                match self.read_version(&name, v) {
                    Ok(Some(mv)) => {
                        versions += 1;
                        for a in mv.artifacts {
                            refs.push((format!("{name}/{v}"), a));
                        }
                    }
                    Ok(None) => {}
                    Err(e @ Error::CorruptRecord { .. }) => problems.push(VerifyProblem {
                        location: format!("{name}/{v}"),
                        artifact: None,
                        problem: e.to_string(),
                    }),
                    Err(e) => return Err(e),
                }
            }
        }
        Ok((refs, versions, problems))
    }

    #[instrument(skip_all, err(level = "debug"))]
    pub(crate) fn gc(&self, grace: Duration) -> Result<GcReport> {
        let started = Utc::now();
        let grace = chrono::Duration::from_std(grace)
            .map_err(|e| Error::invalid("grace period", e.to_string()))?;
        let cutoff = started - grace;
        // List blobs before reading versions: a blob uploaded after this listing is not a
        // candidate, and one listed here but re-uploaded since is re-checked below.
        let blobs = self.store.blobs()?;
        let (refs, _, problems) = self.referenced()?;
        if let Some(p) = problems.first() {
            return Err(Error::corrupt(
                &p.location,
                format!(
                    "gc refuses to run while a version record is unreadable: {}",
                    p.problem
                ),
            ));
        }
        let referenced: HashSet<_> = refs.iter().map(|(_, a)| a.digest).collect();
        let mut report = GcReport {
            blobs_scanned: blobs.len() as u64,
            ..GcReport::default()
        };
        for b in blobs {
            if referenced.contains(&b.digest) {
                report.blobs_referenced += 1;
                continue;
            }
            // Re-read the age right before deleting: a registration that re-uploaded this
            // content since the listing refreshed it.
            match self.store.blob_meta(&b.digest)? {
                Some(m) if m.modified <= cutoff => {
                    self.store.delete_blob(&b.digest)?;
                    report.bytes_freed += m.size;
                    report.deleted.push(b.digest);
                }
                Some(_) => report.blobs_in_grace += 1,
                None => {}
            }
        }
        report.staging_removed = self.store.clean_staging(cutoff)?;
        Ok(report)
    }

    #[instrument(skip_all, err(level = "debug"))]
    pub(crate) fn verify(&self) -> Result<VerifyReport> {
        let (refs, versions, mut problems) = self.referenced()?;
        let mut report = VerifyReport {
            versions,
            ..VerifyReport::default()
        };
        let mut checked: HashMap<mlops_core::Sha256Digest, Option<String>> = HashMap::new();
        for (location, a) in refs {
            let outcome = match checked.get(&a.digest) {
                Some(o) => o.clone(),
                None => {
                    let o = match self.store.open_blob(&a.digest)? {
                        None => Some(Error::MissingBlob { digest: a.digest }.to_string()),
                        Some(inner) => {
                            let mut r = ArtifactReader::new(inner, a.digest, a.size);
                            match std::io::copy(&mut r, &mut std::io::sink()) {
                                Ok(n) => {
                                    report.blobs_checked += 1;
                                    report.bytes_checked += n;
                                    None
                                }
                                Err(e) => Some(ArtifactReader::into_registry_error(e).to_string()),
                            }
                        }
                    };
                    checked.insert(a.digest, o.clone());
                    o
                }
            };
            if let Some(problem) = outcome {
                problems.push(VerifyProblem {
                    location,
                    artifact: Some(a.name),
                    problem,
                });
            }
        }
        report.problems = problems;
        Ok(report)
    }
}
