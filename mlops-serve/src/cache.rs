//! A bounded LRU response cache keyed by model generation + SHA-256 of the request.

use std::collections::{BTreeMap, HashMap};

use crate::tensor::Tensors;

/// (model generation, SHA-256 of names, dtypes, shapes and element bits).
pub(crate) type CacheKey = (u64, [u8; 32]);

/// Least-recently-used map with `capacity` entries; `get` and `put` are O(log n).
#[derive(Debug)]
pub(crate) struct Lru {
    capacity: usize,
    tick: u64,
    map: HashMap<CacheKey, (Tensors, u64)>,
    order: BTreeMap<u64, CacheKey>,
}

impl Lru {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            tick: 0,
            map: HashMap::with_capacity(capacity.min(1 << 16)),
            order: BTreeMap::new(),
        }
    }

    pub(crate) fn get(&mut self, key: &CacheKey) -> Option<Tensors> {
        self.tick += 1;
        let tick = self.tick;
        let entry = self.map.get_mut(key)?;
        self.order.remove(&entry.1);
        entry.1 = tick;
        self.order.insert(tick, *key);
        Some(entry.0.clone())
    }

    pub(crate) fn put(&mut self, key: CacheKey, value: Tensors) {
        if self.capacity == 0 {
            return;
        }
        self.tick += 1;
        let tick = self.tick;
        if let Some(old) = self.map.insert(key, (value, tick)) {
            self.order.remove(&old.1);
        } else if self.map.len() > self.capacity {
            if let Some((_, evict)) = self.order.pop_first() {
                self.map.remove(&evict);
            }
        }
        self.order.insert(tick, key);
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u8) -> CacheKey {
        (0, [i; 32])
    }

    #[test]
    fn evicts_least_recently_used() {
        let mut c = Lru::new(2);
        c.put(key(1), Tensors::new());
        c.put(key(2), Tensors::new());
        assert!(c.get(&key(1)).is_some()); // 2 is now the oldest
        c.put(key(3), Tensors::new());
        assert_eq!(c.len(), 2);
        assert!(c.get(&key(2)).is_none());
        assert!(c.get(&key(1)).is_some());
        assert!(c.get(&key(3)).is_some());
        c.put(key(3), Tensors::new()); // update in place keeps the size
        assert_eq!(c.len(), 2);
        assert!(c.get(&(1, [1; 32])).is_none()); // other generation
        let mut off = Lru::new(0);
        off.put(key(1), Tensors::new());
        assert!(off.get(&key(1)).is_none());
    }
}
