//! Delayed ground truth: the label log, ingestion by prediction id, and the label join.
//!
//! Labels arrive late, by prediction id: over HTTP ([`parse_labels_json`]), from a CSV or
//! Parquet file with columns `id,label` ([`read_labels_file`]), or from the library. A
//! [`LabelStore`] appends **every** label it receives to its own CRC-framed log under
//! `<log_dir>/labels/labels.log` (unknown, late and duplicate ones too: nothing is lost) and
//! answers how each one was classified ([`IngestSummary`]). Reports then [`join`] the label
//! log with the prediction log, so a label is attributed to the *prediction's* time window (a
//! late label backfills its past window).
//!
//! # Classification (ingest and join agree)
//! Labels are taken in arrival order; for each one, with `ttl` the [`LabelConfig::ttl`]
//! (default 14 days, as Arize's lookback):
//! 1. **duplicate** when its id already had a label (the first label wins, whatever it was
//!    classified as);
//! 2. else **unknown** when no prediction with that id is known;
//! 3. else **late** when it was received more than `ttl` after the prediction
//!    (`received_ms − timestamp_ms > ttl`; exactly `ttl` is on time);
//! 4. else **matched**.
//!
//! A label that was *unknown* at ingest (its prediction was still queued, or arrived later)
//! is stored all the same and joins at report time if the prediction is in the log by then.
//!
//! A torn tail of the label log (a kill during an append) is cut at the next open, as in the
//! prediction log; [`LabelStore::recovery`] says what was cut.
//!
//! ```
//! use std::collections::HashMap;
//! use mlops_monitor::labels::{join, LabelStore, DEFAULT_TTL};
//! use mlops_monitor::Value;
//! # fn main() -> mlops_monitor::Result<()> {
//! let dir = tempfile::tempdir().map_err(|e| mlops_monitor::Error::io("tmp", e))?;
//! let predictions: HashMap<String, i64> = [("a".to_string(), 1_000)].into();
//! let mut store = LabelStore::open(dir.path())?;
//! let s = store.ingest(&[("a".into(), Value::Num(1.0)), ("zz".into(), Value::Num(0.0))], 2_000, &predictions)?;
//! assert_eq!((s.matched, s.unknown), (1, 1));
//! let labels = store.read_all()?;
//! let joined = join(&predictions, &labels, DEFAULT_TTL);
//! assert_eq!(joined.label("a"), Some(&Value::Num(1.0)));
//! # Ok(()) }
//! ```

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::frame;
use crate::log::{DirLock, IdIndex};
use crate::record::{LabelRecord, Value};

/// The default label TTL: 14 days.
pub const DEFAULT_TTL: Duration = Duration::from_secs(14 * 24 * 3600);

const LABEL_DIR: &str = "labels";

/// The hasher of the join's maps: foldhash, randomly seeded per map (fast on short ids, and
/// not predictable from outside).
pub type JoinHasher = foldhash::fast::RandomState;
const LABEL_FILE: &str = "labels.log";

/// How labels are joined and stored.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LabelConfig {
    /// A label received more than this after its prediction is late (default 14 days).
    pub ttl: Duration,
    /// fsync the label log after each ingest (default false: flushed to the OS only).
    pub fsync: bool,
}

impl Default for LabelConfig {
    fn default() -> Self {
        LabelConfig {
            ttl: DEFAULT_TTL,
            fsync: false,
        }
    }
}

impl LabelConfig {
    /// Sets [`LabelConfig::ttl`].
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Sets [`LabelConfig::fsync`].
    pub fn with_fsync(mut self, on: bool) -> Self {
        self.fsync = on;
        self
    }
}

/// How a batch of labels was classified (the HTTP answer); see the module doc.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestSummary {
    /// Labels received.
    pub received: u64,
    /// Joined to a known prediction within the TTL.
    pub matched: u64,
    /// Known prediction, received past the TTL (stored, not joined).
    pub late: u64,
    /// The id already had a label (stored, the first one wins).
    pub duplicate: u64,
    /// No prediction with that id is known (stored; may join later).
    pub unknown: u64,
}

impl IngestSummary {
    fn add(&mut self, o: Outcome) {
        self.received += 1;
        match o {
            Outcome::Matched => self.matched += 1,
            Outcome::Late => self.late += 1,
            Outcome::Duplicate => self.duplicate += 1,
            Outcome::Unknown => self.unknown += 1,
        }
    }
}

/// Where prediction times come from: the live [`IdIndex`], or a map built from the log.
pub trait PredictionTimes {
    /// The time (Unix ms) of the prediction with this id, if known.
    fn time_of(&self, id: &str) -> Option<i64>;
}

impl PredictionTimes for IdIndex {
    fn time_of(&self, id: &str) -> Option<i64> {
        self.get(id)
    }
}

impl<S: std::hash::BuildHasher> PredictionTimes for HashMap<String, i64, S> {
    fn time_of(&self, id: &str) -> Option<i64> {
        self.get(id).copied()
    }
}

impl<S: std::hash::BuildHasher> PredictionTimes for HashMap<&str, i64, S> {
    fn time_of(&self, id: &str) -> Option<i64> {
        self.get(id).copied()
    }
}

impl<T: PredictionTimes + ?Sized> PredictionTimes for &T {
    fn time_of(&self, id: &str) -> Option<i64> {
        (**self).time_of(id)
    }
}

/// Prediction id → time, first occurrence wins (as the log's [`IdIndex`] does).
pub fn prediction_times<'a, I>(predictions: I) -> HashMap<&'a str, i64, JoinHasher>
where
    I: IntoIterator<Item = (&'a str, i64)>,
{
    let it = predictions.into_iter();
    let mut m = HashMap::with_capacity_and_hasher(it.size_hint().0, JoinHasher::default());
    for (id, t) in it {
        m.entry(id).or_insert(t);
    }
    m
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Matched,
    Late,
    Duplicate,
    Unknown,
}

fn ttl_ms(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX)
}

/// Steps 2–4 of the classification (the caller has ruled out a duplicate).
fn classify_first(
    times: &impl PredictionTimes,
    id: &str,
    received_ms: i64,
    ttl_ms: i64,
) -> Outcome {
    match times.time_of(id) {
        None => Outcome::Unknown,
        Some(t) if received_ms.saturating_sub(t) > ttl_ms => Outcome::Late,
        Some(_) => Outcome::Matched,
    }
}

/// What [`LabelStore::open`] found and cut.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LabelRecovery {
    /// Valid labels found.
    pub records: u64,
    /// Bytes cut from the torn tail (0 when the log ended cleanly).
    pub cut_bytes: u64,
    /// Offset where the cut began.
    pub cut_offset: Option<u64>,
    /// Why (the first bad frame).
    pub cut_reason: Option<String>,
}

/// The label log of one log directory, with the ids already labelled (for duplicates).
#[derive(Debug)]
pub struct LabelStore {
    path: PathBuf,
    file: File,
    _lock: DirLock,
    config: LabelConfig,
    /// Id → the first label (and its arrival), for duplicates and [`LabelStore::label`].
    first: HashMap<String, (Value, i64)>,
    records: u64,
    /// Bytes of whole frames in the file.
    valid_len: u64,
    recovery: LabelRecovery,
    totals: IngestSummary,
}

impl LabelStore {
    /// Opens (or creates) `<log_dir>/labels/` with the default [`LabelConfig`].
    ///
    /// # Errors
    /// As [`LabelStore::open_with`].
    pub fn open(log_dir: impl AsRef<Path>) -> Result<LabelStore> {
        Self::open_with(log_dir, LabelConfig::default())
    }

    /// Opens (or creates) `<log_dir>/labels/`, cuts a torn tail, loads the labelled ids.
    ///
    /// # Errors
    /// [`Error::Io`] for I/O failures, or (kind `WouldBlock`) when another `LabelStore`
    /// holds the directory; [`Error::InvalidInput`] for a zero TTL.
    #[tracing::instrument(skip_all, fields(dir = %log_dir.as_ref().display()), err)]
    pub fn open_with(log_dir: impl AsRef<Path>, config: LabelConfig) -> Result<LabelStore> {
        if config.ttl.is_zero() {
            return Err(Error::invalid("label ttl", "must be greater than zero"));
        }
        let dir = log_dir.as_ref().join(LABEL_DIR);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let lock = DirLock::acquire(&dir, "LOCK", "label log")?;
        let path = dir.join(LABEL_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(Error::io(&path, e)),
        };
        let mut first: HashMap<String, (Value, i64)> = HashMap::new();
        let mut records = 0u64;
        let (valid, bad) = frame::scan_with(&bytes, |r: LabelRecord| {
            records += 1;
            first.entry(r.id).or_insert((r.label, r.received_ms));
        });
        let mut recovery = LabelRecovery {
            records,
            ..LabelRecovery::default()
        };
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        if let Some(b) = bad {
            let cut = bytes.len() as u64 - valid;
            tracing::warn!(path = %path.display(), offset = b.offset, cut_bytes = cut,
                reason = %b.reason, "cutting the torn tail of the label log");
            file.set_len(valid).map_err(|e| Error::io(&path, e))?;
            file.sync_all().map_err(|e| Error::io(&path, e))?;
            recovery.cut_bytes = cut;
            recovery.cut_offset = Some(b.offset);
            recovery.cut_reason = Some(b.reason.to_string());
        }
        Ok(LabelStore {
            path,
            file,
            _lock: lock,
            config,
            first,
            records,
            valid_len: valid,
            recovery,
            totals: IngestSummary::default(),
        })
    }

    /// What open found and cut.
    pub fn recovery(&self) -> &LabelRecovery {
        &self.recovery
    }

    /// The label log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The configuration.
    pub fn config(&self) -> &LabelConfig {
        &self.config
    }

    /// Labels stored (all of them, duplicates included).
    pub fn len(&self) -> u64 {
        self.records
    }

    /// True when no label is stored.
    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// The first label stored for `id`.
    pub fn label(&self, id: &str) -> Option<&Value> {
        self.first.get(id).map(|(v, _)| v)
    }

    /// Totals of every [`LabelStore::ingest`] since open.
    pub fn totals(&self) -> IngestSummary {
        self.totals
    }

    /// Stores `labels` (received at `now_ms`) and classifies each one against `predictions`
    /// (see the module doc). The whole batch is validated first, then appended and flushed
    /// to the OS (fsynced with [`LabelConfig::fsync`]) before this returns.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the position and id for an empty id or a non-finite
    /// numeric label (nothing of the batch is stored then); [`Error::Io`] when the append
    /// fails.
    #[tracing::instrument(skip_all, fields(n = labels.len()), err)]
    pub fn ingest(
        &mut self,
        labels: &[(String, Value)],
        now_ms: i64,
        predictions: &impl PredictionTimes,
    ) -> Result<IngestSummary> {
        for (i, (id, label)) in labels.iter().enumerate() {
            validate(i, id, label)?;
        }
        let mut buf = Vec::with_capacity(labels.len() * 32);
        for (id, label) in labels {
            frame::encode(
                &LabelRecord {
                    id: id.clone(),
                    label: label.clone(),
                    received_ms: now_ms,
                },
                &mut buf,
            )?;
        }
        if let Err(e) = self.file.write_all(&buf) {
            // Cut a partial append, so that later appends never follow a torn frame.
            let _ = self.file.set_len(self.valid_len);
            return Err(Error::io(&self.path, e));
        }
        self.valid_len += buf.len() as u64;
        if self.config.fsync {
            self.file
                .sync_data()
                .map_err(|e| Error::io(&self.path, e))?;
        }
        let ttl = ttl_ms(self.config.ttl);
        let mut summary = IngestSummary::default();
        for (id, label) in labels {
            let outcome = match self.first.entry(id.clone()) {
                Entry::Occupied(_) => Outcome::Duplicate,
                Entry::Vacant(slot) => {
                    slot.insert((label.clone(), now_ms));
                    classify_first(predictions, id, now_ms, ttl)
                }
            };
            summary.add(outcome);
        }
        self.records += labels.len() as u64;
        let t = &mut self.totals;
        t.received += summary.received;
        t.matched += summary.matched;
        t.late += summary.late;
        t.duplicate += summary.duplicate;
        t.unknown += summary.unknown;
        Ok(summary)
    }

    /// Every stored label, in arrival order.
    ///
    /// # Errors
    /// As [`read_labels`].
    pub fn read_all(&self) -> Result<Vec<LabelRecord>> {
        read_label_file(&self.path)
    }
}

fn validate(i: usize, id: &str, label: &Value) -> Result<()> {
    if id.is_empty() {
        return Err(Error::invalid(
            "label",
            format!("label {i}: the prediction id is empty"),
        ));
    }
    if let Value::Num(x) = label {
        if !x.is_finite() {
            return Err(Error::invalid(
                "label",
                format!("label {i} (id {id:?}): the label {x} is not a finite number"),
            ));
        }
    }
    Ok(())
}

fn read_label_file(path: &Path) -> Result<Vec<LabelRecord>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(path, e)),
    };
    Ok(frame::scan::<LabelRecord>(&bytes).records)
}

/// Reads the label log of `log_dir` (up to its last valid record; a torn tail is skipped,
/// not cut, so this is safe while a [`LabelStore`] appends).
///
/// # Errors
/// [`Error::Io`] when `log_dir` does not exist or the log cannot be read (a log directory
/// without labels yields an empty list).
#[tracing::instrument(skip_all, fields(dir = %log_dir.as_ref().display()), err)]
pub fn read_labels(log_dir: impl AsRef<Path>) -> Result<Vec<LabelRecord>> {
    let log_dir = log_dir.as_ref();
    std::fs::metadata(log_dir).map_err(|e| Error::io(log_dir, e))?;
    read_label_file(&log_dir.join(LABEL_DIR).join(LABEL_FILE))
}

/// The labels joined to their predictions (see the module doc for the classification). It
/// borrows the labels it was built from: a join is one hash insert and one lookup per label,
/// nothing is copied ([`LabelJoin::to_owned_map`] copies).
#[derive(Debug, Clone, Default)]
pub struct LabelJoin<'a> {
    /// Id → its first label when that one matched, `None` when it was late or unknown.
    first: HashMap<&'a str, Option<&'a Value>, JoinHasher>,
    counts: IngestSummary,
}

impl<'a> LabelJoin<'a> {
    /// The joined label of prediction `id` (matched labels only).
    pub fn label(&self, id: &str) -> Option<&'a Value> {
        self.first.get(id).copied().flatten()
    }

    /// How the labels were classified.
    pub fn counts(&self) -> IngestSummary {
        self.counts
    }

    /// Joined labels.
    pub fn len(&self) -> usize {
        // Every matched label is a distinct first label.
        usize::try_from(self.counts.matched).unwrap_or(usize::MAX)
    }

    /// True when no label joined.
    pub fn is_empty(&self) -> bool {
        self.counts.matched == 0
    }

    /// `(id, label)` of every joined label, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, &'a Value)> + '_ {
        self.first.iter().filter_map(|(k, v)| v.map(|v| (*k, v)))
    }

    /// The joined labels as an owned map.
    pub fn to_owned_map(&self) -> HashMap<String, Value> {
        self.iter()
            .map(|(k, v)| (k.to_owned(), v.clone()))
            .collect()
    }
}

/// Joins `labels` (in arrival order) to `predictions` with a TTL: the first label per id
/// wins, later ones count as duplicate; late and unknown ones are counted, not joined.
pub fn join<'a>(
    predictions: &impl PredictionTimes,
    labels: &'a [LabelRecord],
    ttl: Duration,
) -> LabelJoin<'a> {
    let ttl = ttl_ms(ttl);
    let mut first: HashMap<&'a str, Option<&'a Value>, JoinHasher> =
        HashMap::with_capacity_and_hasher(labels.len(), JoinHasher::default());
    let mut counts = IngestSummary::default();
    for l in labels {
        let outcome = match first.entry(l.id.as_str()) {
            Entry::Occupied(_) => Outcome::Duplicate,
            Entry::Vacant(slot) => {
                let o = classify_first(predictions, &l.id, l.received_ms, ttl);
                slot.insert((o == Outcome::Matched).then_some(&l.label));
                o
            }
        };
        counts.add(outcome);
    }
    LabelJoin { first, counts }
}

/// Reads `(id, label)` pairs from a CSV file, or a Parquet file (`.parquet`/`.pq`, feature
/// `parquet`), with columns `id` (read as text whatever it looks like) and `label` (numbers
/// when every cell is one, text otherwise).
///
/// # Errors
/// [`Error::Drift`] naming the file and the missing column when there is no `id` or `label`
/// column, or when the file cannot be read or parsed; [`Error::InvalidInput`] naming the file
/// and the row (1-based, header excluded) for an empty id or an empty label.
#[tracing::instrument(skip_all, fields(path = %path.as_ref().display()), err)]
pub fn read_labels_file(path: impl AsRef<Path>) -> Result<Vec<(String, Value)>> {
    use mlops_drift::io::{read_table, Column, ColumnKind, ReadOptions};
    let path = path.as_ref();
    let opts = ReadOptions::default()
        .with_columns(["id", "label"])
        .with_kind("id", ColumnKind::Categorical);
    let table = read_table(path, &opts)?;
    let (Some(Column::Categorical(ids)), Some(labels)) =
        (table.column("id"), table.column("label"))
    else {
        return Err(Error::invalid(
            "label file",
            format!("{}: needs columns id and label", path.display()),
        ));
    };
    let bad = |row: usize, what: &str| {
        Error::invalid(
            "label file",
            format!("{} row {}: {what}", path.display(), row + 1),
        )
    };
    let mut out = Vec::with_capacity(ids.len());
    for (row, id) in ids.iter().enumerate() {
        let Some(id) = id.as_deref().filter(|s| !s.is_empty()) else {
            return Err(bad(row, "empty id"));
        };
        let label = match labels {
            Column::Numeric(v) => match v.get(row) {
                Some(x) if x.is_finite() => Value::Num(*x),
                Some(x) if !x.is_nan() => {
                    return Err(bad(row, &format!("label {x} is not finite")))
                }
                _ => return Err(bad(row, "empty label")),
            },
            Column::Categorical(v) => match v.get(row).and_then(|s| s.as_deref()) {
                Some(s) if !s.is_empty() => Value::Str(s.to_owned()),
                _ => return Err(bad(row, "empty label")),
            },
        };
        out.push((id.to_owned(), label));
    }
    Ok(out)
}

/// Parses an HTTP label body: `[{"id": "...", "label": ...}, ...]` or
/// `{"labels": [...]}`; a label is a JSON number, string or boolean (see
/// [`Value::from_json`]).
///
/// # Errors
/// [`Error::InvalidInput`] naming the position for a body of another shape, an entry without
/// a string `id`, or a label that is null, an array or an object.
pub fn parse_labels_json(body: &serde_json::Value) -> Result<Vec<(String, Value)>> {
    let items = match body {
        serde_json::Value::Array(a) => a,
        serde_json::Value::Object(o) => match o.get("labels") {
            Some(serde_json::Value::Array(a)) => a,
            _ => {
                return Err(Error::invalid(
                    "labels",
                    "expected an array of {id, label} or {\"labels\": [...]}",
                ))
            }
        },
        _ => {
            return Err(Error::invalid(
                "labels",
                "expected an array of {id, label} or {\"labels\": [...]}",
            ))
        }
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let id = item
                .get("id")
                .and_then(serde_json::Value::as_str)
                .ok_or_else(|| Error::invalid("labels", format!("entry {i}: no string \"id\"")))?;
            let label = item
                .get("label")
                .and_then(Value::from_json)
                .ok_or_else(|| {
                    Error::invalid(
                        "labels",
                        format!(
                            "entry {i} (id {id:?}): \"label\" must be a number, string or boolean"
                        ),
                    )
                })?;
            Ok((id.to_owned(), label))
        })
        .collect()
}
