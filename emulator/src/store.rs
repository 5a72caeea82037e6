//! Persistence in sled (the only module that touches sled): secret records, version records and
//! values under prefixed keys, atomic batches per write, and group commit (concurrent writers share
//! one flush + fdatasync; a write is acknowledged only after the flush that covers it).
//!
//! sled 0.34's `flush()` on Linux only calls `sync_file_range` on its log: that neither flushes the
//! device's write cache nor persists file metadata, and sled never syncs the separate files it
//! writes for large pages (`blobs/`) nor its `conf` file. So a durable store also fdatasyncs the
//! log and syncs new blob files (and their directory) after every flush ([`SledFiles`]).

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use sled_sync::SledFiles;
use tokio::sync::{watch, Notify};

use crate::model::{Secret, SecretData, Version};

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
    /// Syncing sled's files to disk failed.
    #[error("cannot sync the database files: {0}")]
    Sync(#[from] std::io::Error),
}

/// Everything loaded at start: account -> region -> name -> secret.
pub type Loaded = HashMap<String, HashMap<String, Vec<Secret>>>;

#[derive(Debug)]
struct Durability {
    written: AtomicU64,
    /// (highest flushed sequence, whether the last flush failed)
    flushed: watch::Sender<(u64, bool)>,
    wake: Notify,
}

/// The sled database plus the group-commit machinery.
#[derive(Debug)]
pub struct Store {
    db: sled::Db,
    durable: bool,
    sync: Option<Arc<SledFiles>>,
    dur: Arc<Durability>,
    flusher: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// A set of changes applied atomically by [`Store::commit`].
#[derive(Debug, Default)]
pub struct Tx {
    batch: sled::Batch,
    len: usize,
    /// (region, name) of every secret record written (replication propagates these).
    touched: Vec<(String, String)>,
    /// (region, name) of every secret removed (replication forgets removed replicas).
    removed: Vec<(String, String)>,
}

fn key(kind: u8, account: &str, region: &str, name: &str, vid: Option<&str>) -> Vec<u8> {
    let mut k = Vec::with_capacity(4 + account.len() + region.len() + name.len() + 40);
    k.push(kind);
    k.push(0);
    k.extend_from_slice(account.as_bytes());
    k.push(0);
    k.extend_from_slice(region.as_bytes());
    k.push(0);
    k.extend_from_slice(name.as_bytes());
    if let Some(v) = vid {
        k.push(0);
        k.extend_from_slice(v.as_bytes());
    }
    k
}

impl Tx {
    /// Writes the secret's metadata record (versions are separate records).
    pub fn put_secret(&mut self, account: &str, region: &str, s: &Secret) {
        let rec = serde_json::to_vec(s).unwrap_or_default();
        self.batch
            .insert(key(b's', account, region, &s.name, None), rec);
        self.len += 1;
        if !self
            .touched
            .iter()
            .any(|(r, n)| r == region && *n == s.name)
        {
            self.touched.push((region.to_string(), s.name.clone()));
        }
    }
    /// Names of the secrets of `region` whose records this transaction writes.
    pub fn touched<'a>(&'a self, region: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.touched
            .iter()
            .filter(move |(r, _)| r == region)
            .map(|(_, n)| n.as_str())
    }
    /// Writes one version record.
    pub fn put_version(&mut self, account: &str, region: &str, name: &str, v: &Version) {
        let rec = serde_json::to_vec(v).unwrap_or_default();
        self.batch
            .insert(key(b'v', account, region, name, Some(&v.id)), rec);
        self.len += 1;
    }
    /// Writes a version's value.
    pub fn put_value(
        &mut self,
        account: &str,
        region: &str,
        name: &str,
        vid: &str,
        data: &SecretData,
    ) {
        self.batch
            .insert(key(b'd', account, region, name, Some(vid)), data.encode());
        self.len += 1;
    }
    /// Removes a version record and its value.
    pub fn del_version(&mut self, account: &str, region: &str, name: &str, vid: &str) {
        self.batch
            .remove(key(b'v', account, region, name, Some(vid)));
        self.batch
            .remove(key(b'd', account, region, name, Some(vid)));
        self.len += 2;
    }
    /// Removes a secret with all its versions and values.
    pub fn del_secret(&mut self, account: &str, region: &str, s: &Secret) {
        self.batch.remove(key(b's', account, region, &s.name, None));
        for v in &s.versions {
            self.del_version(account, region, &s.name, &v.id);
        }
        self.len += 1;
        self.removed.push((region.to_string(), s.name.clone()));
    }
    /// Names of the secrets of `region` this transaction removes.
    pub fn removed<'a>(&'a self, region: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.removed
            .iter()
            .filter(move |(r, _)| r == region)
            .map(|(_, n)| n.as_str())
    }
    /// Whether the transaction holds no change.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Store {
    /// Opens (or creates) a store in `dir`; `None` keeps everything in memory (no flushes).
    /// `cache_bytes` bounds sled's page cache.
    pub fn open(dir: Option<&Path>, cache_bytes: u64) -> Result<Arc<Store>, StoreError> {
        let cfg = sled::Config::new().cache_capacity(cache_bytes);
        let cfg = match dir {
            Some(d) => cfg.path(d),
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
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(e) => return Err(e.into()),
            }
        };
        let (tx, _) = watch::channel((0u64, false));
        let dur = Arc::new(Durability {
            written: AtomicU64::new(0),
            flushed: tx,
            wake: Notify::new(),
        });
        let sync = match dir {
            Some(d) => Some(Arc::new(SledFiles::open(d)?)),
            None => None,
        };
        let store = Arc::new(Store {
            db,
            durable: dir.is_some(),
            sync: sync.clone(),
            dur,
            flusher: std::sync::Mutex::new(None),
        });
        if let Some(sync) = sync {
            let handle = tokio::spawn(flush_loop(store.db.clone(), sync, store.dur.clone()));
            if let Ok(mut g) = store.flusher.lock() {
                *g = Some(handle);
            }
        }
        Ok(store)
    }

    /// Whether acknowledged writes are flushed to disk.
    pub fn is_durable(&self) -> bool {
        self.durable
    }

    /// Loads every secret with its versions.
    pub fn load(&self) -> Result<Loaded, StoreError> {
        let mut out: Loaded = HashMap::new();
        let mut versions: HashMap<Vec<u8>, Vec<Version>> = HashMap::new();
        for item in self.db.scan_prefix([b'v', 0]) {
            let (k, v) = item?;
            let ver: Version = decode(&k, &v)?;
            // the secret key is the version key without its last component
            let cut = k.iter().rposition(|b| *b == 0).unwrap_or(k.len());
            let mut sk = k[..cut].to_vec();
            sk[0] = b's';
            versions.entry(sk).or_default().push(ver);
        }
        for item in self.db.scan_prefix([b's', 0]) {
            let (k, v) = item?;
            let mut secret: Secret = decode(&k, &v)?;
            let parts: Vec<&[u8]> = k[2..].splitn(3, |b| *b == 0).collect();
            if parts.len() != 3 {
                return Err(StoreError::Corrupt {
                    key: printable(&k),
                    reason: "bad key".into(),
                });
            }
            let account = String::from_utf8_lossy(parts[0]).into_owned();
            let region = String::from_utf8_lossy(parts[1]).into_owned();
            let mut vs = versions.remove(k.as_ref()).unwrap_or_default();
            vs.sort_by_key(|v| v.seq);
            secret.versions = vs;
            secret.shrink();
            out.entry(account)
                .or_default()
                .entry(region)
                .or_default()
                .push(secret);
        }
        Ok(out)
    }

    /// Reads a version's value.
    pub fn value(
        &self,
        account: &str,
        region: &str,
        name: &str,
        vid: &str,
    ) -> Result<Option<SecretData>, StoreError> {
        let k = key(b'd', account, region, name, Some(vid));
        match self.db.get(&k)? {
            None => Ok(None),
            Some(raw) => SecretData::decode(&raw)
                .map(Some)
                .ok_or_else(|| StoreError::Corrupt {
                    key: printable(&k),
                    reason: "bad value encoding".into(),
                }),
        }
    }

    /// Applies a transaction atomically; returns the sequence number to wait on for durability.
    pub fn commit(&self, tx: Tx) -> Result<u64, StoreError> {
        if tx.is_empty() {
            return Ok(0);
        }
        self.db.apply_batch(tx.batch)?;
        Ok(self.dur.written.fetch_add(1, Ordering::SeqCst) + 1)
    }

    /// Waits until the write with sequence `seq` is on disk (immediately for in-memory stores).
    pub async fn wait_durable(&self, seq: u64) -> Result<(), StoreError> {
        if !self.durable || seq == 0 {
            return Ok(());
        }
        let mut rx = self.dur.flushed.subscribe();
        self.dur.wake.notify_one();
        let res = rx.wait_for(|(done, failed)| *done >= seq || *failed).await;
        match res {
            Ok(state) if state.0 >= seq => Ok(()),
            _ => Err(StoreError::FlushFailed),
        }
    }

    /// Deletes everything (admin reset) and flushes.
    pub fn clear(&self) -> Result<(), StoreError> {
        self.db.clear()?;
        self.flush()
    }

    /// Flushes and fsyncs synchronously (admin reset, shutdown).
    pub fn flush(&self) -> Result<(), StoreError> {
        if let Some(sync) = &self.sync {
            self.db.flush()?;
            sync.sync()?;
        }
        Ok(())
    }

    /// Stops the background flusher and waits until it has released the database.
    pub async fn shutdown(&self) {
        let handle = self.flusher.lock().ok().and_then(|mut g| g.take());
        if let Some(h) = handle {
            h.abort();
            let _ = h.await;
        }
    }

    /// Stops the background flusher.
    pub fn stop(&self) {
        if let Ok(mut g) = self.flusher.lock() {
            if let Some(h) = g.take() {
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

/// The group-commit loop: waits for unflushed writes, then flushes sled and fdatasyncs its files
/// for every write applied so far. Writes that arrive while a flush runs leave a wake-up permit and
/// are covered by the next flush, so under load flushes run back to back, each covering everything
/// that queued during the previous one.
async fn flush_loop(db: sled::Db, sync: Arc<SledFiles>, dur: Arc<Durability>) {
    loop {
        dur.wake.notified().await;
        let target = dur.written.load(Ordering::SeqCst);
        if target <= dur.flushed.borrow().0 {
            continue;
        }
        let db2 = db.clone();
        let sync2 = sync.clone();
        let res = tokio::task::spawn_blocking(move || -> Result<(), StoreError> {
            db2.flush()?;
            sync2.sync()?;
            Ok(())
        })
        .await;
        match res {
            Ok(Ok(())) => {
                dur.flushed.send_replace((target, false));
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, "flush to disk failed");
                let done = dur.flushed.borrow().0;
                dur.flushed.send_replace((done, true));
            }
            Err(e) => {
                tracing::error!(error = %e, "flush task failed");
                let done = dur.flushed.borrow().0;
                dur.flushed.send_replace((done, true));
            }
        }
    }
}

fn decode<T: serde::de::DeserializeOwned>(k: &[u8], v: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(v).map_err(|e| StoreError::Corrupt {
        key: printable(k),
        reason: e.to_string(),
    })
}

fn printable(k: &[u8]) -> String {
    String::from_utf8_lossy(k).replace('\0', "/")
}
