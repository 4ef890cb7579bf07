//! Triggers that start a pipeline run from outside: a monitor alert, a schedule, a person.
//!
//! The trigger knows nothing of the monitor (this crate sits beside it, not above it); the caller
//! (the CLI's `mlops monitor watch --on-alert RULE=pipeline.toml`, or an application that wires
//! `mlops_monitor::AlertEngine::on_event`) turns an alert into a [`TriggerCause`] and asks the
//! [`Debouncer`] whether a run may start. The run itself takes the pipeline's lock, so one run at a
//! time per pipeline holds even across processes; the debouncer only keeps a flapping alert from
//! starting a run per evaluation round.
//!
//! The debounce state is a small JSON file written atomically (temp file, fsync, rename), so a
//! restarted watcher does not fire again for an alert it already acted on.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Why a pipeline run started; recorded in the run's lineage (`mlops.trigger` on the version).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TriggerCause {
    /// Started by hand (`mlops pipeline run`).
    Manual,
    /// Started by a scheduler for a data interval (Airflow's `data_interval_start`).
    Schedule {
        /// The interval's label (e.g. `2026-12-01T00:00:00Z`).
        interval: String,
    },
    /// Started by a monitor alert that began firing.
    Alert {
        /// The alert rule's name.
        rule: String,
        /// The series it fired for (`model/arm/segment`).
        key: String,
        /// The value that crossed the bound.
        value: f64,
        /// End of the window that fired it (ms since the epoch).
        at_ms: i64,
    },
}

impl TriggerCause {
    /// A one-line label (`manual`, `schedule:<interval>`, `alert:<rule>`), used as the
    /// `mlops.trigger` tag.
    pub fn label(&self) -> String {
        match self {
            TriggerCause::Manual => "manual".into(),
            TriggerCause::Schedule { interval } => format!("schedule:{interval}"),
            TriggerCause::Alert { rule, .. } => format!("alert:{rule}"),
        }
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct DebounceState {
    format: u32,
    /// Pipeline key → last time (ms since the epoch) a run was allowed to start.
    last_fired_ms: BTreeMap<String, i64>,
}

/// Allows at most one trigger per pipeline per `window`, remembered across restarts.
#[derive(Debug)]
pub struct Debouncer {
    path: PathBuf,
    window: Duration,
    state: DebounceState,
}

impl Debouncer {
    /// Opens (or starts) the state file at `path`.
    ///
    /// # Errors
    /// [`Error::Io`] when the file exists but cannot be read, [`Error::Corrupt`] when it does not
    /// parse (a torn write cannot happen: writes are atomic renames).
    pub fn open(path: impl Into<PathBuf>, window: Duration) -> Result<Self> {
        let path = path.into();
        let state = match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
                path: path.clone(),
                offset: 0,
                reason: format!("debounce state does not parse: {e}"),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => DebounceState {
                format: 1,
                ..DebounceState::default()
            },
            Err(e) => return Err(Error::io(&path, e)),
        };
        Ok(Debouncer {
            path,
            window,
            state,
        })
    }

    /// When the last allowed trigger for `pipeline` was (ms since the epoch).
    pub fn last_fired_ms(&self, pipeline: &str) -> Option<i64> {
        self.state.last_fired_ms.get(pipeline).copied()
    }

    /// Whether a trigger for `pipeline` at `now_ms` is allowed; if it is, the time is recorded
    /// (durably) before this returns, so a crash right after does not fire twice.
    ///
    /// # Errors
    /// [`Error::Io`] when the state cannot be written.
    pub fn try_fire(&mut self, pipeline: &str, now_ms: i64) -> Result<bool> {
        let window_ms = i64::try_from(self.window.as_millis()).unwrap_or(i64::MAX);
        if let Some(last) = self.last_fired_ms(pipeline) {
            if now_ms.saturating_sub(last) < window_ms {
                return Ok(false);
            }
        }
        self.state
            .last_fired_ms
            .insert(pipeline.to_string(), now_ms);
        self.save()?;
        Ok(true)
    }

    fn save(&self) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(&self.state).map_err(|e| Error::Json {
            what: "debounce state".into(),
            source: e,
        })?;
        write_atomic(&self.path, &bytes)
    }
}

/// Writes `bytes` to `path` by a temp file in the same directory, fsync, rename, fsync of the
/// directory.
///
/// # Errors
/// [`Error::Io`] naming the file that failed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
    let dir = dir.unwrap_or_else(|| Path::new("."));
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "state".into());
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let mut f = fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    f.write_all(bytes).map_err(|e| Error::io(&tmp, e))?;
    f.sync_all().map_err(|e| Error::io(&tmp, e))?;
    drop(f);
    fs::rename(&tmp, path).map_err(|e| Error::io(path, e))?;
    if let Ok(d) = fs::File::open(dir) {
        // A directory fsync makes the rename durable; some filesystems refuse it, which
        // leaves the rename as durable as the filesystem makes it.
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debounce_allows_one_per_window_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("debounce.json");
        let mut d = Debouncer::open(&path, Duration::from_secs(60)).unwrap();
        assert!(d.try_fire("churn", 1_000).unwrap());
        assert!(!d.try_fire("churn", 30_000).unwrap());
        assert!(d.try_fire("other", 30_000).unwrap());
        drop(d);
        let mut d = Debouncer::open(&path, Duration::from_secs(60)).unwrap();
        assert_eq!(d.last_fired_ms("churn"), Some(1_000));
        assert!(!d.try_fire("churn", 60_999).unwrap());
        assert!(d.try_fire("churn", 61_000).unwrap());
    }

    #[test]
    fn corrupt_state_is_a_typed_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("debounce.json");
        fs::write(&path, b"{not json").unwrap();
        let err = Debouncer::open(&path, Duration::from_secs(1)).unwrap_err();
        assert!(matches!(err, Error::Corrupt { .. }), "{err}");
    }

    #[test]
    fn cause_labels() {
        assert_eq!(TriggerCause::Manual.label(), "manual");
        let a = TriggerCause::Alert {
            rule: "accuracy_drop".into(),
            key: "m/stable/".into(),
            value: 0.6,
            at_ms: 5,
        };
        assert_eq!(a.label(), "alert:accuracy_drop");
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(serde_json::from_str::<TriggerCause>(&json).unwrap(), a);
    }
}
