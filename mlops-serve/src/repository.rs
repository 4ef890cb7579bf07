//! What the Open Inference Protocol's model repository and statistics extensions report, shared
//! by the HTTP and gRPC front ends: one entry per served version (plus the models that could not
//! be loaded), and per-version statistics in Triton's shape, filled from [`MetricsSnapshot`].
//!
//! Statistics report only what the engines measure:
//!
//! | Triton field | from |
//! |---|---|
//! | `inference_count` | rows computed ([`MetricsSnapshot::batched_rows`]) |
//! | `execution_count` | batches run ([`MetricsSnapshot::batches`]) |
//! | `last_inference` | end of the last batch, ms since the Unix epoch (0: none) |
//! | `success` | count: requests answered without error (cache hits included); ns: admission-to-answer time of the computed ones |
//! | `fail` | count: requests answered with an error (rejections at admission included); ns: admission-to-answer time of the admitted ones |
//! | `queue` | requests that reached compute, and their time from admission to the start of their batch |
//! | `compute_infer` | **batches** (not requests) and their compute time, stacking and splitting included |
//! | `cache_hit`, `cache_miss` | counts; ns 0 (not measured) |
//! | `compute_input`, `compute_output` | 0: not measured apart from `compute_infer` |

use std::time::Duration;

use crate::deploy::{Deployment, ModelSet};
use crate::metrics::MetricsSnapshot;
use crate::predictor::ModelIdentity;

/// State of a model (version) in the repository index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ModelState {
    /// Loaded and serving.
    Ready,
    /// Asked for but not serving (load failure, or unloaded).
    Unavailable,
}

impl ModelState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ModelState::Ready => "READY",
            ModelState::Unavailable => "UNAVAILABLE",
        }
    }
}

/// One row of the repository index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IndexEntry {
    pub(crate) name: String,
    /// Empty for a model without a loaded version.
    pub(crate) version: String,
    pub(crate) state: ModelState,
    /// Why the model is unavailable; empty when ready.
    pub(crate) reason: String,
}

/// Every served version (READY, sorted by name then version), then every model that could not
/// be loaded or was unloaded (UNAVAILABLE with the reason). `ready_only` drops the latter.
pub(crate) fn index(models: &ModelSet, ready_only: bool) -> Vec<IndexEntry> {
    let mut out = Vec::new();
    for d in models.all() {
        let mut versions: Vec<u64> = d.versions().into_iter().map(|(v, _)| v).collect();
        versions.sort_unstable();
        versions.dedup();
        out.extend(versions.into_iter().map(|v| IndexEntry {
            name: d.name().to_string(),
            version: v.to_string(),
            state: ModelState::Ready,
            reason: String::new(),
        }));
    }
    if !ready_only {
        out.extend(
            models
                .unavailable()
                .into_iter()
                .map(|(name, reason)| IndexEntry {
                    name,
                    version: String::new(),
                    state: ModelState::Unavailable,
                    reason,
                }),
        );
    }
    out
}

/// A count and a total duration (Triton's `StatisticDuration`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Stat {
    pub(crate) count: u64,
    pub(crate) ns: u64,
}

impl Stat {
    fn new(count: u64, total: Duration) -> Self {
        Self {
            count,
            ns: u64::try_from(total.as_nanos()).unwrap_or(u64::MAX),
        }
    }
}

/// One version's statistics in Triton's terms (see the [module docs](self)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VersionStats {
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) last_inference_ms: u64,
    pub(crate) inference_count: u64,
    pub(crate) execution_count: u64,
    pub(crate) success: Stat,
    pub(crate) fail: Stat,
    pub(crate) queue: Stat,
    pub(crate) compute_input: Stat,
    pub(crate) compute_infer: Stat,
    pub(crate) compute_output: Stat,
    pub(crate) cache_hit: Stat,
    pub(crate) cache_miss: Stat,
}

impl VersionStats {
    fn of(name: &str, version: u64, m: Option<MetricsSnapshot>) -> Self {
        let m = m.unwrap_or_else(|| MetricsSnapshot::empty(name, version));
        Self {
            name: name.to_owned(),
            version: version.to_string(),
            last_inference_ms: m.last_batch_unix_ms.unwrap_or(0),
            inference_count: m.batched_rows,
            execution_count: m.batches,
            success: Stat::new(
                m.requests.saturating_sub(m.errors),
                m.answered_ok_time_total,
            ),
            fail: Stat::new(m.errors, m.answered_err_time_total),
            queue: Stat::new(m.queued_requests, m.queue_time_total),
            compute_input: Stat::default(),
            compute_infer: Stat::new(m.batches, m.compute_time_total),
            compute_output: Stat::default(),
            cache_hit: Stat::new(m.cache_hits, Duration::ZERO),
            cache_miss: Stat::new(m.cache_misses, Duration::ZERO),
        }
    }
}

/// Statistics of `d`'s loaded versions (only `version` when given), sorted by version.
pub(crate) fn stats(d: &Deployment, version: Option<u64>) -> Vec<VersionStats> {
    let mut versions: Vec<u64> = d.versions().into_iter().map(|(v, _)| v).collect();
    versions.sort_unstable();
    versions.dedup();
    versions
        .into_iter()
        .filter(|v| version.is_none_or(|w| w == *v))
        .map(|v| {
            let snap = ModelIdentity::new(d.name().as_str(), v)
                .ok()
                .and_then(|id| d.metrics().snapshot(&id));
            VersionStats::of(d.name().as_str(), v, snap)
        })
        .collect()
}

/// Statistics of every served model's loaded versions.
pub(crate) fn all_stats(models: &ModelSet) -> Vec<VersionStats> {
    models.all().iter().flat_map(|d| stats(d, None)).collect()
}
