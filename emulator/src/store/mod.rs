//! Persistence, the only module that touches sled: the [`Store`] API (open, load, commit, read a
//! value, checkpoint, clear, stop) over a sled database, a write-ahead log and a value cache.
//!
//! A commit ([`Tx`], `tx.rs`) is visible to readers at once (its records pending in memory),
//! appended to the write-ahead log and acknowledged once a sync of the log covers it
//! (`durability.rs`). Every 200 ms a checkpoint writes the changes since the last one into sled
//! and deletes the log segments they came from (`checkpoint.rs`). At start the log is replayed
//! into sled and the records are read back, older layouts first rewritten in the current one
//! (`load.rs`). Keys and record encodings are in `record.rs`; values read from sled are cached
//! (`value_cache.rs`); each store numbers its own records (`numbers.rs`).
//!
//! Commits go to the log rather than into sled one batch at a time because sled 0.34 seals and
//! writes its I/O buffer on every batch, through a thread pool that wakes all its idle threads
//! per job: on two cores that costs several times the rest of a write.

mod checkpoint;
mod durability;
mod load;
mod numbers;
mod record;
mod tx;
mod value_cache;

pub use value_cache::DEFAULT_BUDGET as DEFAULT_VALUE_CACHE_BYTES;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use sled_sync::wal::WalError;

use crate::model::{Secret, SecretData};
use checkpoint::Pending;
use durability::{Durability, Files};
use numbers::RecordNumbers;
use record::{corrupt, split_version_record, version_key, SEQ_KEY};
use value_cache::ValueCache;

pub use tx::Tx;

/// Errors of the persistence layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// sled failed (I/O, corruption).
    #[error("storage error: {0}")]
    Sled(#[from] sled::Error),
    /// A stored record could not be decoded.
    #[error("corrupt record under key {key}: {reason}")]
    Corrupt {
        /// The key (printable form).
        key: String,
        /// Why decoding failed.
        reason: String,
    },
    /// The flush that would make a write durable failed.
    #[error("flush to disk failed")]
    FlushFailed,
    /// The data directory's permissions could not be restricted.
    #[error(transparent)]
    DataDir(#[from] crate::data_dir::DataDirError),
    /// Syncing sled's files to disk failed.
    #[error("cannot sync the database files: {0}")]
    Sync(#[from] std::io::Error),
    /// sled's settings file could not be read or written.
    #[error("cannot check or write the database settings file (conf): {0}")]
    Settings(std::io::Error),
    /// The write-ahead log failed.
    #[error(transparent)]
    Wal(#[from] WalError),
}

/// Everything loaded at start: account -> region -> name -> secret.
pub type Loaded = HashMap<String, HashMap<String, Vec<Secret>>>;

/// The sled database, the changes not yet in it, and the write-ahead log with its group commit.
/// Its Debug output leaves the database out (sled's own Debug prints every record).
pub struct Store {
    db: sled::Db,
    files: Option<Arc<Files>>,
    dur: Arc<Durability>,
    pending: std::sync::Mutex<Pending>,
    /// Version records read from sled. Lock order: `values`, then `pending`.
    values: std::sync::Mutex<ValueCache>,
    /// Orders commits: sequence numbers, pending changes and log records follow one order.
    commit_lock: std::sync::Mutex<()>,
    /// One checkpoint at a time.
    checkpoint_lock: std::sync::Mutex<()>,
    /// The numbers of this store's version records and secrets.
    records: RecordNumbers,
    tasks: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

/// Locks `m`, taking the data of a mutex a panicking holder poisoned.
fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The encoded value of a version record (None: no record, or a version without a value).
fn value_part<'a>(k: &[u8], raw: Option<&'a [u8]>) -> Result<Option<&'a [u8]>, StoreError> {
    match raw.map(split_version_record) {
        None => Ok(None),
        Some(Some((_, v))) => Ok(v),
        Some(None) => Err(corrupt(k, "bad version record")),
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("durable", &self.files.is_some())
            .field("written", &self.last_seq())
            .field("pending", &*lock(&self.pending))
            .field("values", &*lock(&self.values))
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (or creates) a store in `dir`; `None` keeps everything in memory (no flushes).
    /// `cache_bytes` bounds sled's page cache and `value_cache_bytes` the cache of values read
    /// from sled. A durable store first replays the write-ahead log into sled and makes the
    /// result durable.
    pub fn open(
        dir: Option<&Path>,
        cache_bytes: u64,
        value_cache_bytes: usize,
    ) -> Result<Arc<Store>, StoreError> {
        if let Some(d) = dir {
            crate::data_dir::restrict(d)?;
            // sled's own write of its settings file can be torn by a crash
            if sled_sync::config::prepare(d).map_err(StoreError::Settings)?
                == sled_sync::config::ConfigState::Repaired
            {
                tracing::warn!(dir = %d.display(), "replaced a torn sled settings file (conf)");
            }
        }
        let cfg = sled::Config::new().cache_capacity(cache_bytes);
        let cfg = match dir {
            // sled is flushed at checkpoints; between them the log makes writes durable
            Some(d) => cfg.path(d).flush_every_ms(None),
            None => cfg.temporary(true),
        };
        // A previous instance in this process may still be releasing the directory lock.
        let mut attempt = 0;
        let db = loop {
            match cfg.open() {
                Ok(db) => break db,
                Err(sled::Error::Io(e))
                    if e.to_string().contains("could not acquire lock") && attempt < 100 =>
                {
                    attempt += 1;
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => return Err(e.into()),
            }
        };
        let (files, last_seq) = match dir {
            None => (None, 0),
            Some(d) => {
                let (files, last_seq) = durability::open_and_replay(&db, d)?;
                // the files sled and the log just created
                crate::data_dir::restrict(d)?;
                (Some(Arc::new(files)), last_seq)
            }
        };
        let store = Arc::new(Store {
            db,
            files: files.clone(),
            dur: Arc::new(Durability::new(last_seq)),
            pending: std::sync::Mutex::new(Pending::default()),
            values: std::sync::Mutex::new(ValueCache::new(value_cache_bytes)),
            commit_lock: std::sync::Mutex::new(()),
            checkpoint_lock: std::sync::Mutex::new(()),
            records: RecordNumbers::default(),
            tasks: std::sync::Mutex::new(Vec::new()),
        });
        let mut tasks = vec![tokio::spawn(checkpoint::checkpoint_loop(Arc::downgrade(
            &store,
        )))];
        if let Some(files) = files {
            tasks.push(tokio::spawn(durability::flush_loop(
                files,
                store.dur.clone(),
            )));
        }
        lock(&store.tasks).extend(tasks);
        Ok(store)
    }

    /// Whether acknowledged writes are flushed to disk.
    pub fn is_durable(&self) -> bool {
        self.files.is_some()
    }

    /// A new record number for a version ([`crate::model::Version::rec`]) or a secret's creation
    /// order, larger than every one this store handed out or loaded before.
    pub fn new_record_number(&self) -> u64 {
        self.records.next()
    }

    /// Sequence number of the last commit.
    fn last_seq(&self) -> u64 {
        self.dur.written.load(Ordering::SeqCst)
    }

    /// Reads the value of the version with record number `rec`.
    pub fn value(
        &self,
        account: &str,
        region: &str,
        rec: u64,
    ) -> Result<Option<SecretData>, StoreError> {
        let k = version_key(account, region, rec);
        let Some(encoded) = self.value_bytes(&k)? else {
            return Ok(None);
        };
        SecretData::decode(&encoded)
            .map(Some)
            .ok_or_else(|| corrupt(&k, "bad value encoding"))
    }

    /// The current value of a key: pending changes first, then sled.
    fn get(&self, k: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(v) = lock(&self.pending).get(k) {
            return Ok(v.clone());
        }
        Ok(self.db.get(k)?.map(|v| v.to_vec()))
    }

    /// The encoded value in the version record under `k` (None: no such record, or a version
    /// without a value): the pending changes first, then the value cache, then sled, whose
    /// answer is cached.
    fn value_bytes(&self, k: &[u8]) -> Result<Option<Arc<[u8]>>, StoreError> {
        if let Some(raw) = lock(&self.pending).get(k) {
            return Ok(value_part(k, raw.as_deref())?.map(Arc::from));
        }
        let seen = {
            let c = lock(&self.values);
            if let Some(v) = c.get(k) {
                return Ok(Some(v));
            }
            c.generation()
        };
        let Some(raw) = self.db.get(k)? else {
            return Ok(None);
        };
        let Some(v) = value_part(k, Some(&raw))? else {
            return Ok(None);
        };
        let v: Arc<[u8]> = Arc::from(v);
        let mut c = lock(&self.values);
        // cache it only if nothing changed since the lookup above: a commit or checkpoint in
        // between may have made what sled returned stale
        let p = lock(&self.pending);
        if c.generation() == seen && !p.contains(k) {
            c.insert(k, v.clone());
        }
        Ok(Some(v))
    }

    /// Applies a transaction atomically (for readers at once; in sled at the next checkpoint);
    /// returns the sequence number to wait on for durability ([`Store::wait_durable`]).
    pub fn commit(&self, tx: Tx) -> Result<u64, StoreError> {
        if tx.is_empty() {
            return Ok(0);
        }
        let _order = lock(&self.commit_lock);
        let ops = tx.into_ops(|k| self.get(k))?;
        let seq = self.last_seq() + 1;
        if let Some(files) = &self.files {
            files.wal.append(seq, &ops);
        }
        let keys: Vec<Vec<u8>> = {
            let mut p = lock(&self.pending);
            ops.into_iter()
                .map(|(k, v)| {
                    p.active.insert(k.clone(), v);
                    k
                })
                .collect()
        };
        {
            let mut c = lock(&self.values);
            for k in &keys {
                c.remove(k);
            }
            c.changed();
        }
        self.dur.written.store(seq, Ordering::SeqCst);
        Ok(seq)
    }

    /// Deletes everything (admin reset) and makes that durable.
    pub fn clear(&self) -> Result<(), StoreError> {
        let _one = lock(&self.checkpoint_lock);
        let _order = lock(&self.commit_lock);
        let old = match &self.files {
            Some(files) => files.wal.rotate()?.1,
            None => Vec::new(),
        };
        {
            let mut c = lock(&self.values);
            *lock(&self.pending) = Pending::default();
            c.clear();
        }
        self.db.clear()?;
        // keep the sequence so the log's older records are not replayed over the empty store
        self.db.insert(SEQ_KEY, &self.last_seq().to_be_bytes())?;
        self.sync_sled()?;
        if let Some(files) = &self.files {
            files.wal.forget(&old)?;
        }
        Ok(())
    }

    /// For a durable store: flushes sled and syncs its files.
    fn sync_sled(&self) -> Result<(), StoreError> {
        if let Some(files) = &self.files {
            self.db.flush()?;
            files.sled.sync()?;
        }
        Ok(())
    }

    /// A checkpoint, synchronously (shutdown).
    pub fn flush(&self) -> Result<(), StoreError> {
        self.checkpoint()
    }

    /// Stops the background tasks and waits until they have released the database.
    pub async fn shutdown(&self) {
        let handles: Vec<_> = self
            .tasks
            .lock()
            .map(|mut g| g.drain(..).collect())
            .unwrap_or_default();
        for h in handles {
            h.abort();
            let _ = h.await;
        }
    }

    /// Stops the background tasks.
    pub fn stop(&self) {
        if let Ok(mut g) = self.tasks.lock() {
            for h in g.drain(..) {
                h.abort();
            }
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.stop();
    }
}
