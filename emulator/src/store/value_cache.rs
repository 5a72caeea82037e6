//! The cache of values read from sled, bounded in bytes: it keeps the values a workload reads again
//! in memory when the data set outgrows sled's page cache, where each cached value holds a whole
//! page. Only the value part of a version record is kept (the immutable part beside it is in
//! memory already). The store invalidates a key whenever a commit changes it.

use std::collections::HashMap;
use std::sync::Arc;

/// Bytes of keys and values the cache holds before it evicts: the current values of 100,000
/// secrets of 64 bytes each (BENCHMARKS.md, step 4b).
pub const DEFAULT_BUDGET: usize = 16 << 20;
/// Rough per-entry overhead (hash slot, Arc header, allocations), counted against the budget.
const ENTRY_OVERHEAD: usize = 64;

/// Cached values by their version record's key. Eviction drops entries in the map's (arbitrary) order until a quarter
/// of the budget is free: random eviction, which keeps a hot set that fits. Its Debug output
/// shows sizes only (it holds secret values).
pub struct ValueCache {
    map: HashMap<Vec<u8>, Arc<[u8]>>,
    bytes: usize,
    budget: usize,
    /// Bumped whenever the store's view of any key changes (a commit, the end of a checkpoint):
    /// a reader caches what it read from sled only if no change happened since it looked.
    generation: u64,
}

impl std::fmt::Debug for ValueCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ValueCache")
            .field("entries", &self.map.len())
            .field("bytes", &self.bytes)
            .field("budget", &self.budget)
            .finish()
    }
}

impl ValueCache {
    /// An empty cache holding at most about `budget` bytes.
    pub fn new(budget: usize) -> Self {
        ValueCache {
            map: HashMap::new(),
            bytes: 0,
            budget,
            generation: 0,
        }
    }

    fn cost(k: &[u8], v: &[u8]) -> usize {
        k.len() + v.len() + ENTRY_OVERHEAD
    }

    /// The cached record of `k`.
    pub fn get(&self, k: &[u8]) -> Option<Arc<[u8]>> {
        self.map.get(k).cloned()
    }

    /// Caches a record (records larger than an eighth of the budget are not cached).
    pub fn insert(&mut self, k: &[u8], v: Arc<[u8]>) {
        let cost = Self::cost(k, &v);
        if cost > self.budget / 8 {
            return;
        }
        if self.bytes + cost > self.budget {
            let target = self.budget * 3 / 4;
            let mut drop = Vec::new();
            let mut left = self.bytes;
            for (key, val) in &self.map {
                if left + cost <= target {
                    break;
                }
                left -= Self::cost(key, val);
                drop.push(key.clone());
            }
            for key in drop {
                self.map.remove(&key);
            }
            self.bytes = left;
        }
        if let Some(old) = self.map.insert(k.to_vec(), v) {
            self.bytes -= Self::cost(k, &old);
        }
        self.bytes += cost;
    }

    /// Forgets `k` (its record changed).
    pub fn remove(&mut self, k: &[u8]) {
        if let Some(old) = self.map.remove(k) {
            self.bytes -= Self::cost(k, &old);
        }
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        self.map.clear();
        self.bytes = 0;
        self.changed();
    }

    /// Records that some key changed (see `generation`).
    pub fn changed(&mut self) {
        self.generation += 1;
    }

    /// The current generation.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Bytes counted against the budget.
    #[cfg(test)]
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn stays_within_budget_and_forgets_changed_keys() {
        let mut c = ValueCache::new(10_000);
        for i in 0..1000u32 {
            c.insert(&i.to_be_bytes(), Arc::from(vec![0u8; 36]));
            assert!(c.bytes() <= 10_000, "{}", c.bytes());
        }
        assert!(c.map.len() > 50, "{}", c.map.len());
        let last = 999u32.to_be_bytes();
        assert_eq!(c.get(&last).as_deref(), Some(&[0u8; 36][..]));
        c.remove(&last);
        assert!(c.get(&last).is_none());
        // replacing an entry keeps the count exact
        c.insert(b"k", Arc::from(vec![1u8; 10]));
        c.insert(b"k", Arc::from(vec![2u8; 20]));
        let before = c.bytes();
        c.remove(b"k");
        assert_eq!(before - c.bytes(), 1 + 20 + ENTRY_OVERHEAD);
        // too large to cache
        c.insert(b"big", Arc::from(vec![0u8; 5_000]));
        assert!(c.get(b"big").is_none());
        c.clear();
        assert_eq!(c.bytes(), 0);
    }
}
