//! Checkpoints: the changes committed since the last one ([`Pending`]) written into sled, paced,
//! in key order, then the sequence marker; for a durable store sled is then flushed and its files
//! synced ([`sled_sync::SledFiles`]: sled 0.34's own flush only calls `sync_file_range` on Linux)
//! and the log segments the changes came from are deleted.
//!
//! A failed checkpoint keeps its changes and the log segments. sled 0.34 refuses writes after one
//! of its own failed, so checkpoints then resume after a restart, which replays the log.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::record::SEQ_KEY;
use super::{lock, Store, StoreError};

/// Changes by key (None = removed).
pub(super) type Changes = HashMap<Vec<u8>, Option<Vec<u8>>>;

/// Changes committed since the last checkpoint, by key (None = removed): what reads see before
/// sled does. Its Debug output shows counts only (it holds secret values).
#[derive(Default)]
pub(super) struct Pending {
    /// Receiving new commits.
    pub active: Changes,
    /// Being written to sled by a checkpoint (older than `active`).
    pub flushing: Arc<Changes>,
}

impl Pending {
    /// The pending change of `k`, newest first: `Some(None)` when `k` is removed, None when `k`
    /// has no pending change.
    pub fn get(&self, k: &[u8]) -> Option<&Option<Vec<u8>>> {
        self.active.get(k).or_else(|| self.flushing.get(k))
    }
    /// Whether `k` has a pending change.
    pub fn contains(&self, k: &[u8]) -> bool {
        self.active.contains_key(k) || self.flushing.contains_key(k)
    }
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("active", &self.active.len())
            .field("flushing", &self.flushing.len())
            .finish()
    }
}

/// How often changes are checkpointed into sled (while there are any). This bounds the memory
/// the pending changes take and the length of the log to replay after a crash.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);

/// A background checkpoint spreads its writes into sled over this much of the interval instead
/// of writing them as fast as it can: sled's writes compete with the log's `fdatasync` for the
/// disk and with requests for the CPU, so a burst of them delays the acknowledgements of the
/// commits waiting meanwhile. When sled is slower than this pace, a checkpoint takes as long as
/// sled needs.
pub(super) const CHECKPOINT_SPREAD: Duration = Duration::from_millis(180);

/// Writes between two checks of the pace.
const PACE_CHECK_EVERY: usize = 64;

impl Store {
    /// Writes the pending changes into sled as fast as it can and, for a durable store, flushes
    /// and syncs sled, then deletes the log segments that held those changes.
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        self.checkpoint_within(Duration::ZERO)
    }

    /// A checkpoint whose writes into sled are spread over `spread` ([`CHECKPOINT_SPREAD`]).
    pub(super) fn checkpoint_within(&self, spread: Duration) -> Result<(), StoreError> {
        let _one = lock(&self.checkpoint_lock);
        let (changes, seq, old_segments) = {
            // no commit in between: the log's segment boundary is the pending changes' boundary
            let _order = lock(&self.commit_lock);
            let mut p = lock(&self.pending);
            if p.active.is_empty() {
                return Ok(());
            }
            let old = match &self.files {
                Some(files) => files.wal.rotate()?.1,
                None => Vec::new(),
            };
            let changes = Arc::new(std::mem::take(&mut p.active));
            p.flushing = changes.clone();
            (changes, self.last_seq(), old)
        };
        let res = self.write_checkpoint(&changes, seq, spread);
        let mut c = lock(&self.values);
        let mut p = lock(&self.pending);
        p.flushing = Arc::default();
        c.changed();
        drop(c);
        if let Err(e) = res {
            // keep the changes for the next checkpoint (newer ones win) and the log segments
            for (k, v) in changes.iter() {
                p.active.entry(k.clone()).or_insert_with(|| v.clone());
            }
            return Err(e);
        }
        drop(p);
        if let Some(files) = &self.files {
            files.wal.forget(&old_segments)?;
        }
        Ok(())
    }

    /// Writes `changes` into sled in key order, keeping to the pace that ends the writes after
    /// `spread`, then the sequence marker `seq`; for a durable store, flushes and syncs sled.
    fn write_checkpoint(
        &self,
        changes: &Changes,
        seq: u64,
        spread: Duration,
    ) -> Result<(), StoreError> {
        // One insert at a time, not one batch: a sled batch pins the memory of every node version
        // it replaces until it ends (about 4 KB per change). A crash part-way leaves sled with
        // some of these changes but the old sequence marker; replaying the log from that marker
        // rewrites every key they touched, in order, so the end state is the same.
        // In key order, so consecutive inserts walk the same path down sled's tree.
        let mut ordered: Vec<_> = changes.iter().collect();
        ordered.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let start = Instant::now();
        let n = ordered.len();
        for (i, (k, v)) in ordered.into_iter().enumerate() {
            if i % PACE_CHECK_EVERY == PACE_CHECK_EVERY - 1 {
                let due = spread.mul_f64((i + 1) as f64 / n as f64);
                if let Some(ahead) = due.checked_sub(start.elapsed()) {
                    std::thread::sleep(ahead);
                }
            }
            match v {
                Some(v) => self.db.insert(k.as_slice(), v.as_slice())?,
                None => self.db.remove(k.as_slice())?,
            };
        }
        // last: sled recovers a prefix of its log, so a recovered marker means all of the above
        self.db.insert(SEQ_KEY, &seq.to_be_bytes())?;
        self.sync_sled()
    }
}

/// Checkpoints in the background while there are changes. A failed checkpoint keeps the changes
/// and the log; the next one retries.
pub(super) async fn checkpoint_loop(store: std::sync::Weak<Store>) {
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(s) = store.upgrade() else { return };
        if lock(&s.pending).active.is_empty() {
            continue;
        }
        match tokio::task::spawn_blocking(move || s.checkpoint_within(CHECKPOINT_SPREAD)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::error!(error = %e, "checkpoint failed; changes kept for the next")
            }
            Err(e) => tracing::error!(error = %e, "checkpoint task failed"),
        }
    }
}
