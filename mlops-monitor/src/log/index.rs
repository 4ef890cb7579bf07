//! [`IdIndex`]: prediction id → prediction time, shared by the log writer and the label
//! endpoint.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{PoisonError, RwLock};

const SHARDS: usize = 64;

/// A concurrent map prediction id → `timestamp_ms`, sharded so that the writer thread and
/// label ingestion rarely meet on one lock. The first time an id is seen wins (a repeated
/// prediction id keeps its first time, as the label join does).
#[derive(Debug)]
pub struct IdIndex {
    shards: Vec<RwLock<HashMap<String, i64, foldhash::fast::RandomState>>>,
    hasher: std::collections::hash_map::RandomState,
}

impl Default for IdIndex {
    fn default() -> Self {
        Self::new()
    }
}

impl IdIndex {
    /// An empty index.
    pub fn new() -> Self {
        IdIndex {
            shards: (0..SHARDS)
                .map(|_| RwLock::new(HashMap::default()))
                .collect(),
            hasher: std::collections::hash_map::RandomState::new(),
        }
    }

    fn shard(&self, id: &str) -> &RwLock<HashMap<String, i64, foldhash::fast::RandomState>> {
        // The top bits pick the shard (the maps inside use another hasher, so a shard's keys
        // are not clustered); the modulo keeps the index in range.
        &self.shards[((self.hasher.hash_one(id) >> 58) as usize) % SHARDS]
    }

    /// Records `id` at `timestamp_ms` unless it is already known; true when it was new.
    pub fn insert(&self, id: &str, timestamp_ms: i64) -> bool {
        let mut map = self
            .shard(id)
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if map.contains_key(id) {
            return false;
        }
        map.insert(id.to_owned(), timestamp_ms);
        true
    }

    /// The prediction time of `id`, if known.
    pub fn get(&self, id: &str) -> Option<i64> {
        self.shard(id)
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .copied()
    }

    /// Forgets `id` (its segment was deleted by retention).
    pub fn remove(&self, id: &str) {
        self.shard(id)
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
    }

    /// Number of ids.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }

    /// True when no id is known.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_time_wins_and_remove_forgets() {
        let ix = IdIndex::new();
        assert!(ix.is_empty());
        assert!(ix.insert("a/0", 5));
        assert!(!ix.insert("a/0", 9));
        assert_eq!(ix.get("a/0"), Some(5));
        assert_eq!(ix.get("é"), None);
        ix.remove("a/0");
        assert_eq!(ix.get("a/0"), None);
        for i in 0..1000 {
            ix.insert(&format!("id{i}"), i);
        }
        assert_eq!(ix.len(), 1000);
    }
}
