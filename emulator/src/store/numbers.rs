//! Record numbers of one store: the keys of its version records ([`crate::model::Version::rec`])
//! and the creation order of its secrets ([`crate::model::Secret::created_order`]).

use std::sync::atomic::{AtomicU64, Ordering};

/// Hands out increasing numbers, each larger than every number handed out or noted before by
/// this instance. Each [`Store`](super::Store) has its own, so emulators sharing a process do not
/// number each other's records.
#[derive(Debug)]
pub(super) struct RecordNumbers {
    next: AtomicU64,
}

impl Default for RecordNumbers {
    fn default() -> Self {
        RecordNumbers {
            next: AtomicU64::new(1),
        }
    }
}

impl RecordNumbers {
    /// A new number.
    pub fn next(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }

    /// Notes a number read from the store, so new ones are larger.
    pub fn note(&self, n: u64) {
        self.next.fetch_max(n.saturating_add(1), Ordering::Relaxed);
    }
}
