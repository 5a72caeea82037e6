//! The in-memory state of every account and region, and the only way to change it: a
//! [`Transaction`] hands out write handles ([`Writer`], [`AccountWrite`], [`RegionWrite`],
//! [`SecretMut`]) that record what they change, and turns that record into the store's records
//! when it finishes, after the replicas of the primaries it changed have followed them.

mod changes;
mod replicas;
mod write;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::model::Secret;
use crate::store::Tx;

use changes::Changes;
pub use replicas::{mirror, secret_by_arn, write_replica};
pub use write::{AccountWrite, RegionWrite, SecretMut, Writer};

/// The secrets of one account in one region, by name. Boxed: a `Secret` is about 500 bytes and a
/// B-tree node keeps room for eleven values, so unboxed secrets left a third of that room empty.
pub type Region = BTreeMap<String, Box<Secret>>;
/// account -> region -> secrets.
pub type Accounts = HashMap<String, HashMap<String, Region>>;

/// The in-memory state (the store holds the durable copy).
#[derive(Debug, Default)]
pub struct State {
    /// All secrets.
    pub accounts: RwLock<Accounts>,
    /// The earliest end of a recovery window that may still be pending (the bits of an epoch-second
    /// f64; 0 until the first sweep has looked): the purge sweep scans the secrets only once the
    /// clock has reached it, instead of every second under the lock that writers need.
    next_purge: AtomicU64,
}

impl State {
    /// The read lock on every account's secrets, taken even if a panicking writer poisoned it.
    pub fn read_accounts(&self) -> RwLockReadGuard<'_, Accounts> {
        self.accounts.read().unwrap_or_else(|e| e.into_inner())
    }
    /// The write lock on every account's secrets, taken even if a panicking writer poisoned it.
    pub fn write_accounts(&self) -> RwLockWriteGuard<'_, Accounts> {
        self.accounts.write().unwrap_or_else(|e| e.into_inner())
    }
    /// A transaction: the write lock plus the record of what is changed under it.
    pub fn begin(&self) -> Transaction<'_> {
        Transaction {
            accounts: self.write_accounts(),
            changes: Changes::default(),
        }
    }
    /// Records that a secret's recovery window ends at `at` (called under the write lock).
    pub fn note_purge(&self, at: f64) {
        // epoch seconds are non-negative, and non-negative f64s order like their bits
        self.next_purge
            .fetch_min(at.max(0.0).to_bits(), Ordering::SeqCst);
    }
    /// Whether a recovery window may have ended by `now`.
    pub fn purge_due(&self, now: f64) -> bool {
        f64::from_bits(self.next_purge.load(Ordering::SeqCst)) <= now
    }
    /// Sets the earliest pending end of a recovery window (after a sweep over every secret, under
    /// the write lock; `f64::INFINITY` when none is pending) or 0 to make the next sweep look.
    pub fn set_next_purge(&self, at: f64) {
        self.next_purge.store(at.to_bits(), Ordering::SeqCst);
    }
}

/// Where a change was asked for: the replicas of the primaries it changed there follow it.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    /// The caller's account.
    pub account: &'a str,
    /// The caller's region.
    pub region: &'a str,
    /// The time of the change (LastChangedDate of the records it changes).
    pub now: f64,
    /// Whether the regional replicas of the primaries changed in the caller's region follow them
    /// (writes to one region; a write over several regions places the replicas itself). A
    /// cross-account replica in sync always follows.
    pub regional: bool,
}

/// Changes made under the write lock, held until the transaction is dropped (so the store
/// receives commits in the order the state changed).
#[derive(Debug)]
pub struct Transaction<'s> {
    accounts: RwLockWriteGuard<'s, Accounts>,
    changes: Changes,
}

impl Transaction<'_> {
    /// The handle every change goes through.
    pub fn writer(&mut self) -> Writer<'_> {
        Writer {
            accounts: &mut self.accounts,
            changes: &mut self.changes,
        }
    }

    /// The store's records of everything changed so far. With an `origin`, the replicas of the
    /// primaries changed there first follow them (regional replicas, when the origin says so,
    /// with replicas removed there leaving their primary's ReplicationStatus; then a
    /// cross-account replica in sync).
    pub fn finish(&mut self, origin: Option<Origin<'_>>) -> Tx {
        if let Some(o) = origin {
            let mut w = self.writer();
            if o.regional {
                replicas::propagate(&mut w.account(o.account), o);
            }
            replicas::propagate_cross_account(&mut w, o);
        }
        std::mem::take(&mut self.changes).into_tx(&self.accounts)
    }
}
