//! The write-ahead log's side of durability: replaying the log into sled at start, the group
//! commit that syncs the log before a commit is acknowledged, and waiting for that sync.
//!
//! A commit is appended to the log ([`sled_sync::wal`]) and acknowledged once a group `fdatasync`
//! of the log covers it. At start, log records newer than sled's sequence marker are replayed into
//! sled, which also repairs a checkpoint cut short by a crash; the log then holds every
//! acknowledged commit after the marker.
//!
//! On a full disk a commit whose log sync fails is answered with an error (never as durable); the
//! log keeps its record and writes it with the next sync that succeeds, so once the disk has room
//! commits are acknowledged again without a restart.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use sled_sync::wal::Wal;
use sled_sync::SledFiles;
use tokio::sync::{watch, Notify};

use super::record::{corrupt, SEQ_KEY};
use super::{Store, StoreError};

/// A durable store's files: sled's (flushed at checkpoints) and the write-ahead log (synced
/// before every acknowledgement).
#[derive(Debug)]
pub(super) struct Files {
    pub sled: SledFiles,
    pub wal: Wal,
}

/// Sequence numbers of commits and of the log syncs that made them durable.
#[derive(Debug)]
pub(super) struct Durability {
    /// Sequence number of the last committed transaction.
    pub written: AtomicU64,
    /// (highest sequence on disk, number of failed syncs so far)
    pub flushed: watch::Sender<(u64, u64)>,
    /// Woken by a waiter whose commit is not synced yet.
    pub wake: Notify,
}

impl Durability {
    /// The state after opening a store whose last commit is `last_seq`.
    pub fn new(last_seq: u64) -> Self {
        let (flushed, _) = watch::channel((last_seq, 0));
        Durability {
            written: AtomicU64::new(last_seq),
            flushed,
            wake: Notify::new(),
        }
    }
}

/// Opens the write-ahead log in `dir/wal`, replays the records newer than sled's marker into
/// `db` and makes the result durable. Returns the files and the sequence number of the last
/// commit.
pub(super) fn open_and_replay(db: &sled::Db, dir: &Path) -> Result<(Files, u64), StoreError> {
    let sled_files = SledFiles::open(dir)?;
    let wal_dir = dir.join("wal");
    let (records, segments) = Wal::open(&wal_dir)?;
    let applied = match db.get(SEQ_KEY)? {
        Some(raw) => u64::from_be_bytes(
            raw.as_ref()
                .try_into()
                .map_err(|_| corrupt(SEQ_KEY, "bad sequence number"))?,
        ),
        None => 0,
    };
    let mut last_seq = applied;
    let mut replay = sled::Batch::default();
    let mut replayed = 0usize;
    for (seq, ops) in records {
        if seq > applied {
            for (k, v) in ops {
                match v {
                    Some(v) => replay.insert(k, v),
                    None => replay.remove(k),
                }
            }
            replayed += 1;
        }
        last_seq = last_seq.max(seq);
    }
    if replayed > 0 {
        replay.insert(SEQ_KEY, &last_seq.to_be_bytes());
        db.apply_batch(replay)?;
        tracing::info!(records = replayed, "replayed the write-ahead log");
    }
    db.flush()?;
    sled_files.sync()?;
    let wal = Wal::start(&wal_dir, &segments, last_seq)?;
    let files = Files {
        sled: sled_files,
        wal,
    };
    Ok((files, last_seq))
}

impl Store {
    /// Waits until the write with sequence `seq` is on disk (immediately for in-memory stores).
    /// Fails when a sync of the log fails after the wait began: the write may or may not reach
    /// the disk later (the log keeps it, see [`sled_sync::wal`]), but it is not reported durable.
    /// A wait that begins while the disk is full triggers a new attempt and waits for it.
    pub async fn wait_durable(&self, seq: u64) -> Result<(), StoreError> {
        if self.files.is_none() || seq == 0 {
            return Ok(());
        }
        let mut rx = self.dur.flushed.subscribe();
        let failures_before = {
            let state = rx.borrow();
            if state.0 >= seq {
                return Ok(());
            }
            state.1
        };
        self.dur.wake.notify_one();
        let res = rx
            .wait_for(|(done, failures)| *done >= seq || *failures > failures_before)
            .await;
        match res {
            Ok(state) if state.0 >= seq => Ok(()),
            _ => Err(StoreError::FlushFailed),
        }
    }
}

/// The group-commit loop: waits for unsynced writes, then writes and fdatasyncs the log once for
/// all of them. Writes that arrive while a sync runs leave a wake-up permit and are covered by the
/// next sync, so under load syncs run back to back, each covering everything that queued during
/// the previous one. A failed sync fails its waiters; the log keeps their records, and the next
/// waiter's sync tries again (once the disk has room it succeeds and covers them).
pub(super) async fn flush_loop(files: Arc<Files>, dur: Arc<Durability>) {
    loop {
        dur.wake.notified().await;
        if dur.written.load(Ordering::SeqCst) <= dur.flushed.borrow().0 {
            continue;
        }
        let f = files.clone();
        let res = tokio::task::spawn_blocking(move || f.wal.sync()).await;
        match res {
            Ok(Ok(seq)) => {
                dur.flushed.send_if_modified(|state| {
                    let changed = seq > state.0;
                    state.0 = seq.max(state.0);
                    changed
                });
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, "syncing the write-ahead log failed");
                dur.flushed.send_modify(|state| state.1 += 1);
            }
            Err(e) => {
                tracing::error!(error = %e, "log sync task failed");
                dur.flushed.send_modify(|state| state.1 += 1);
            }
        }
    }
}
