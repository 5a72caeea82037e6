//! [`LocalStore`]: opening the data directory (lock, key, key check) and the six operations on
//! sled. Every write is durable before it returns: in fsync mode it is applied to sled and logged
//! in a write-ahead log ([`sled_sync::wal`], one group `fdatasync` for concurrent writers), and sled
//! is flushed and synced at checkpoints (every second while there are writes), after which the log
//! is cut; start-up replays the log. Without fsync every write flushes sled. On a full disk writes
//! fail with the I/O error and nothing acknowledged is lost; the log recovers by itself once
//! there is room, but sled 0.34 refuses every write after one of its own writes failed, so the
//! store takes writes again after it is reopened (the plugin restarted).

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use async_trait::async_trait;

use super::cipher::{Cipher, OpenError};
use super::keyfile::{self, KEY_FILE_NAME};
use super::{codec, KeySource, LocalConfig};
use crate::backends::{Error, Result, SecretStore};
use crate::domain::{Item, ListFilter, SecretKey, SecretValue};
use sled_sync::wal::{Op, Wal};
use sled_sync::SledFiles;

const LOCK_FILE_NAME: &str = "broker.lock";
const DB_DIR_NAME: &str = "db";
const SECRETS_TREE: &[u8] = b"secrets";
const KEY_CHECK: &[u8] = b"key_check";
/// sled's page cache; the store is small and the plugin should stay lean.
const CACHE_BYTES: u64 = 64 * 1024 * 1024;
const WAL_DIR_NAME: &str = "wal";
/// How often the checkpointer looks for logged writes to flush into sled (never, in unit tests,
/// which look at the log; closing the store still checkpoints).
#[cfg(not(test))]
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);
#[cfg(test)]
const CHECKPOINT_EVERY: Duration = Duration::from_secs(3600);
/// First byte of a logged key: the change is to the secrets tree (the only tree the log covers).
const SECRETS_OP: u8 = 1;

/// The embedded, encrypted, durable store. Cloning shares the open database.
#[derive(Clone)]
pub struct LocalStore {
    inner: Arc<Inner>,
}

struct Inner {
    db: sled::Db,
    secrets: sled::Tree,
    cipher: Cipher,
    dir: PathBuf,
    /// `Some` in fsync mode: sled's log file, fdatasynced after every sled flush, and the blob
    /// files already synced.
    fsync: Option<SledFiles>,
    /// `Some` in fsync mode: the write-ahead log of the secrets tree.
    wal: Option<Wal>,
    /// Serializes writes, so sled and the log see them in one order; holds the last logged
    /// sequence number.
    order: Mutex<u64>,
    /// Held (flock) for as long as the store is open; dropped last.
    _lock: fs::File,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn wal_error(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Storage(format!("{what}: {e}"))
}

fn logged_key(k: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(k.len() + 1);
    out.push(SECRETS_OP);
    out.extend_from_slice(k);
    out
}

/// Applies the log's records to the secrets tree in one atomic batch. Replaying every record since
/// the last checkpoint in order gives the logged state whatever part of them sled had already made
/// durable (each change sets a key to a value), and one batch, where the last change of a key
/// wins, is the same as applying them one by one.
fn replay(secrets: &sled::Tree, records: Vec<(u64, Vec<Op>)>) -> Result<usize> {
    let n = records.len();
    let mut batch = sled::Batch::default();
    for (seq, ops) in records {
        for (k, v) in ops {
            let Some((&SECRETS_OP, key)) = k.split_first() else {
                return Err(Error::Corrupt(format!(
                    "write-ahead log record {seq} names no known tree"
                )));
            };
            match v {
                Some(v) => batch.insert(key, v),
                None => batch.remove(key),
            }
        }
    }
    if n > 0 {
        secrets
            .apply_batch(batch)
            .map_err(|e| sled_error("cannot replay the write-ahead log", e))?;
    }
    Ok(n)
}

/// Flushes logged writes into sled in the background while the store is open.
fn checkpointer(store: Weak<Inner>) {
    loop {
        std::thread::sleep(CHECKPOINT_EVERY);
        let Some(inner) = store.upgrade() else { return };
        if let Err(e) = inner.checkpoint() {
            tracing::warn!(error = %e, "local store checkpoint failed; the log is kept");
        }
    }
}

impl std::fmt::Debug for LocalStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalStore")
            .field("data_dir", &self.inner.dir)
            .finish_non_exhaustive()
    }
}

fn sled_error(what: &str, e: sled::Error) -> Error {
    match e {
        sled::Error::Corruption { .. } => Error::Corrupt(format!("{what}: {e}")),
        sled::Error::Io(io) => Error::Storage(format!("{what}: I/O error: {io}")),
        other => Error::Storage(format!("{what}: {other}")),
    }
}

fn open_error(key: &SecretKey, e: OpenError) -> Error {
    match e {
        OpenError::Authentication => Error::Crypto(format!("the value of {key}: {e}")),
        _ => Error::Corrupt(format!("the value of {key}: {e}")),
    }
}

fn create_dir(dir: &Path) -> Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|e| {
        Error::Storage(format!(
            "cannot create the data directory {} (setting data_dir): {e}",
            dir.display()
        ))
    })
}

fn lock_dir(dir: &Path) -> Result<fs::File> {
    use fs2::FileExt;
    let path = dir.join(LOCK_FILE_NAME);
    let mut options = fs::OpenOptions::new();
    options.create(true).truncate(false).write(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(&path).map_err(|e| {
        Error::Storage(format!("cannot open the lock file {}: {e}", path.display()))
    })?;
    match file.try_lock_exclusive() {
        Ok(()) => Ok(file),
        Err(e) if e.kind() == fs2::lock_contended_error().kind() => Err(Error::Storage(format!(
            "data directory {} is in use by another process (it holds {LOCK_FILE_NAME}); stop \
             that broker or set a different data_dir",
            dir.display()
        ))),
        Err(e) => Err(Error::Storage(format!(
            "cannot lock {}: {e}",
            path.display()
        ))),
    }
}

impl LocalStore {
    /// Opens (creating on first start) the store in `config.data_dir`. Fails with a clear error
    /// when another process uses the directory, a key file is readable by others, or the key
    /// does not decrypt the existing data. Blocking: call from start-up code or
    /// `spawn_blocking`.
    pub fn open(config: &LocalConfig) -> Result<Self> {
        let dir = config.data_dir.clone();
        create_dir(&dir)?;
        let lock = lock_dir(&dir)?;
        let (key, generated) = match &config.key {
            KeySource::Generated => keyfile::load_or_create(&dir)?,
            KeySource::Inline(k) => (k.clone(), false),
            KeySource::File(p) => (keyfile::read_key_file(p, "encryption_key_file")?, false),
        };
        let cipher = Cipher::new(&key);
        drop(key);
        let db = sled::Config::new()
            .path(dir.join(DB_DIR_NAME))
            .cache_capacity(CACHE_BYTES)
            .open()
            .map_err(|e| {
                sled_error(&format!("cannot open the database in {}", dir.display()), e)
            })?;
        let secrets = db
            .open_tree(SECRETS_TREE)
            .map_err(|e| sled_error("cannot open the secrets tree", e))?;
        let fsync = if config.fsync {
            let db_dir = dir.join(DB_DIR_NAME);
            Some(SledFiles::open(&db_dir).map_err(|e| {
                Error::Storage(format!(
                    "cannot sync the database files in {}: {e}",
                    db_dir.display()
                ))
            })?)
        } else {
            None
        };
        // The log is replayed whenever one exists, even when fsync is now off: its records are
        // acknowledged writes. They are made durable in sled before their segments are deleted.
        let wal_dir = dir.join(WAL_DIR_NAME);
        let wal = if config.fsync || wal_dir.exists() {
            let (records, segments) =
                Wal::open(&wal_dir).map_err(|e| wal_error("cannot read the write-ahead log", e))?;
            let replayed = replay(&secrets, records)?;
            if replayed > 0 {
                db.flush()
                    .map_err(|e| sled_error("cannot flush the replayed log", e))?;
                if let Some(files) = &fsync {
                    files
                        .sync()
                        .map_err(|e| Error::Storage(format!("cannot fsync the database: {e}")))?;
                }
                tracing::info!(records = replayed, "replayed the write-ahead log");
            }
            let wal = Wal::start(&wal_dir, &segments, 0)
                .map_err(|e| wal_error("cannot start the write-ahead log", e))?;
            config.fsync.then_some(wal)
        } else {
            None
        };
        let logging = wal.is_some();
        let inner = Inner {
            db,
            secrets,
            cipher,
            dir,
            fsync,
            wal,
            order: Mutex::new(0),
            _lock: lock,
        };
        inner.check_key(generated)?;
        let inner = Arc::new(inner);
        if logging {
            let weak = Arc::downgrade(&inner);
            std::thread::Builder::new()
                .name("local-checkpoint".into())
                .spawn(move || checkpointer(weak))
                .map_err(|e| Error::Storage(format!("cannot start the checkpoint thread: {e}")))?;
        }
        Ok(Self { inner })
    }

    /// The data directory in use.
    pub fn data_dir(&self) -> &Path {
        &self.inner.dir
    }

    async fn blocking<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> Result<T> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || f(&inner))
            .await
            .map_err(|e| Error::Storage(format!("local store worker failed: {e}")))?
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Err(e) = self.checkpoint() {
            tracing::warn!(error = %e, "local store: final checkpoint failed; the log is kept");
        }
    }
}

impl Inner {
    /// Runs `apply` (which changes the secrets tree and returns the changes it made) under the
    /// write order and makes the changes durable before returning: logged and synced in fsync
    /// mode, a sled flush otherwise. When the sync fails (a full disk) the caller gets the error;
    /// the change stays in sled and in the log's queue, which writes it once it can (so sled and
    /// the log agree), but it is never reported durable.
    fn write<T>(&self, apply: impl FnOnce(&Self) -> Result<(T, Vec<Op>)>) -> Result<T> {
        let mut seq = lock(&self.order);
        let (out, ops) = apply(self)?;
        if ops.is_empty() {
            return Ok(out);
        }
        match &self.wal {
            Some(wal) => {
                *seq += 1;
                wal.append(*seq, &ops);
                drop(seq);
                wal.sync()
                    .map_err(|e| wal_error("cannot sync the write-ahead log", e))?;
            }
            None => {
                drop(seq);
                self.flush()?;
            }
        }
        Ok(out)
    }

    /// For changes to several keys (a rename): under the write order, logs the changes `plan`
    /// returns and syncs the log first, then applies them to sled in one batch. Logged first so
    /// sled can never hold the change without the log (replaying older records over it would
    /// leave both keys). If sled then fails, the change is applied at the next start. If the
    /// sync fails, the record is withdrawn from the log and the change has no effect; only when
    /// it cannot be withdrawn (another writer's sync took it) is it applied, still reported as
    /// failed.
    fn write_ahead(&self, plan: impl FnOnce(&Self) -> Result<Vec<Op>>) -> Result<()> {
        let mut seq = lock(&self.order);
        let ops = plan(self)?;
        if ops.is_empty() {
            return Ok(());
        }
        let mut failed = None;
        if let Some(wal) = &self.wal {
            *seq += 1;
            wal.append(*seq, &ops);
            if let Err(e) = wal.sync() {
                let e = wal_error("cannot sync the write-ahead log", e);
                if wal.withdraw(*seq) {
                    // never written: the change has no effect
                    return Err(e);
                }
                // the log keeps the change (or another writer's sync made it durable
                // meanwhile): sled follows the log, and the caller is told it failed
                failed = Some(e);
            }
        }
        let mut batch = sled::Batch::default();
        for (k, v) in ops {
            let key = k.get(1..).unwrap_or_default().to_vec();
            match v {
                Some(v) => batch.insert(key, v),
                None => batch.remove(key),
            }
        }
        self.secrets
            .apply_batch(batch)
            .map_err(|e| sled_error("cannot apply the change", e))?;
        drop(seq);
        if let Some(e) = failed {
            return Err(e);
        }
        if self.wal.is_none() {
            self.flush()?;
        }
        Ok(())
    }

    /// Flushes and syncs sled, then deletes the log segments it covers.
    fn checkpoint(&self) -> Result<()> {
        let Some(wal) = &self.wal else { return Ok(()) };
        if wal.pending_bytes() == 0 {
            return Ok(());
        }
        let old = {
            // every logged write is applied to sled before its record is appended
            let _order = lock(&self.order);
            wal.rotate()
                .map_err(|e| wal_error("cannot rotate the write-ahead log", e))?
                .1
        };
        self.flush()?;
        wal.forget(&old)
            .map_err(|e| wal_error("cannot cut the write-ahead log", e))
    }

    fn flush(&self) -> Result<()> {
        self.db
            .flush()
            .map_err(|e| sled_error("cannot flush the database to disk", e))?;
        match &self.fsync {
            Some(state) => state
                .sync()
                .map_err(|e| Error::Storage(format!("cannot fsync the database to disk: {e}"))),
            None => Ok(()),
        }
    }

    /// Verifies the key against the stored key check value, or stores one on first use (after
    /// checking the key against existing data, for stores written before key checks existed).
    fn check_key(&self, generated: bool) -> Result<()> {
        let wrong_key = || {
            let hint = if generated {
                format!(
                    "; {KEY_FILE_NAME} was just generated because none existed, but the data was \
                     written with another key: restore the previous {KEY_FILE_NAME} or set \
                     encryption_key / encryption_key_file"
                )
            } else {
                "; restore the key the data was written with".to_string()
            };
            Error::Crypto(format!(
                "the encryption key does not match the data in {}{hint}",
                self.dir.display()
            ))
        };
        let stored = self
            .db
            .get(KEY_CHECK)
            .map_err(|e| sled_error("cannot read the key check value", e))?;
        if let Some(check) = stored {
            return if self.cipher.verify_key_check(&check) {
                Ok(())
            } else {
                Err(wrong_key())
            };
        }
        if let Some(first) = self.secrets.iter().next() {
            let (k, v) = first.map_err(|e| sled_error("cannot read the database", e))?;
            if let Err(OpenError::Authentication) = self.cipher.open(&v, &k) {
                return Err(wrong_key());
            }
        }
        let check = self
            .cipher
            .key_check()
            .map_err(|e| Error::Crypto(e.to_string()))?;
        self.db
            .insert(KEY_CHECK, check)
            .map_err(|e| sled_error("cannot store the key check value", e))?;
        self.flush()
    }

    fn get(&self, key: &SecretKey) -> Result<Option<SecretValue>> {
        let k = codec::encode(key);
        let Some(stored) = self
            .secrets
            .get(&k)
            .map_err(|e| sled_error(&format!("cannot read {key}"), e))?
        else {
            return Ok(None);
        };
        let plain = self
            .cipher
            .open(&stored, &k)
            .map_err(|e| open_error(key, e))?;
        SecretValue::new(plain.as_str())
            .map(Some)
            .map_err(|e| Error::Corrupt(format!("the value of {key}: {e}")))
    }

    fn decode_key(raw: &[u8]) -> Result<SecretKey> {
        codec::decode(raw).map_err(|e| {
            Error::Corrupt(format!(
                "a stored key ({}) cannot be read: {e}",
                hex::encode(raw)
            ))
        })
    }
}

#[async_trait]
impl SecretStore for LocalStore {
    fn name(&self) -> &'static str {
        "local"
    }

    async fn get(&self, key: &SecretKey) -> Result<Option<SecretValue>> {
        // Inline, not on the blocking pool: a sled read is a lookup in its page cache (at worst
        // one page read from the OS cache) and an AES-GCM open, a few microseconds; the hop to a
        // blocking thread and back cost more than the read itself.
        self.inner.get(key)
    }

    async fn set(&self, key: &SecretKey, value: &SecretValue) -> Result<()> {
        let k = codec::encode(key);
        let sealed = self
            .inner
            .cipher
            .seal(value.expose().as_bytes(), &k)
            .map_err(|e| Error::Crypto(format!("cannot encrypt the value of {key}: {e}")))?;
        let key = key.clone();
        self.blocking(move |inner| {
            inner.write(|inner| {
                inner
                    .secrets
                    .insert(&k, sealed.as_slice())
                    .map_err(|e| sled_error(&format!("cannot write {key}"), e))?;
                Ok(((), vec![(logged_key(&k), Some(sealed))]))
            })
        })
        .await
    }

    async fn delete(&self, key: &SecretKey) -> Result<()> {
        let key = key.clone();
        self.blocking(move |inner| {
            inner.write(|inner| {
                let k = codec::encode(&key);
                let removed = inner
                    .secrets
                    .remove(&k)
                    .map_err(|e| sled_error(&format!("cannot delete {key}"), e))?;
                Ok(match removed {
                    Some(_) => ((), vec![(logged_key(&k), None)]),
                    None => ((), Vec::new()),
                })
            })
        })
        .await
    }

    async fn list(&self, filter: &ListFilter) -> Result<Vec<SecretKey>> {
        // Validate like a key, so a bad filter is a clear error rather than an empty answer.
        let probe = SecretKey::new(
            filter.org_id.unwrap_or(0),
            filter.namespace.clone(),
            filter.kind.clone(),
        )?;
        let all_orgs = filter.org_id.is_none();
        self.blocking(move |inner| {
            if !all_orgs {
                let found = inner
                    .secrets
                    .contains_key(codec::encode(&probe))
                    .map_err(|e| sled_error("cannot list", e))?;
                return Ok(if found { vec![probe] } else { Vec::new() });
            }
            inner
                .secrets
                .scan_prefix(codec::list_prefix(probe.namespace(), probe.kind()))
                .keys()
                .map(|k| Inner::decode_key(&k.map_err(|e| sled_error("cannot list", e))?))
                .collect()
        })
        .await
    }

    async fn rename(&self, key: &SecretKey, new_namespace: &str) -> Result<()> {
        let target = key.with_namespace(new_namespace)?;
        if &target == key {
            return Ok(());
        }
        let key = key.clone();
        self.blocking(move |inner| {
            let (src, dst) = (codec::encode(&key), codec::encode(&target));
            inner.write_ahead(|inner| {
                let Some(stored) = inner
                    .secrets
                    .get(&src)
                    .map_err(|e| sled_error(&format!("cannot read {key}"), e))?
                else {
                    return Ok(Vec::new());
                };
                let plain = inner
                    .cipher
                    .open(&stored, &src)
                    .map_err(|e| open_error(&key, e))?;
                let sealed = inner.cipher.seal(plain.as_bytes(), &dst).map_err(|e| {
                    Error::Crypto(format!("cannot encrypt the value for {target}: {e}"))
                })?;
                Ok(vec![
                    (logged_key(&src), None),
                    (logged_key(&dst), Some(sealed)),
                ])
            })
        })
        .await
    }

    async fn get_all(&self) -> Result<Vec<Item>> {
        self.blocking(|inner| {
            let mut items = Vec::new();
            for entry in inner.secrets.iter() {
                let (k, v) = entry.map_err(|e| sled_error("cannot read the database", e))?;
                let key = Inner::decode_key(&k)?;
                let plain = inner.cipher.open(&v, &k).map_err(|e| open_error(&key, e))?;
                let value = SecretValue::new(plain.as_str())
                    .map_err(|e| Error::Corrupt(format!("the value of {key}: {e}")))?;
                items.push(Item { key, value });
            }
            Ok(items)
        })
        .await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn key(ns: &str) -> SecretKey {
        SecretKey::new(1, ns.to_string(), "datasource".to_string()).unwrap()
    }

    fn value(v: &str) -> SecretValue {
        SecretValue::new(v).unwrap()
    }

    fn log_files(dir: &Path) -> usize {
        fs::read_dir(dir.join(WAL_DIR_NAME))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    #[tokio::test]
    async fn logged_writes_survive_without_a_checkpoint_and_renames_replay_whole() {
        let dir = tempfile::tempdir().unwrap();
        let config = LocalConfig::new(dir.path());
        let store = LocalStore::open(&config).unwrap();
        store.set(&key("a"), &value("one")).await.unwrap();
        store.set(&key("b"), &value("two")).await.unwrap();
        store.rename(&key("b"), "c").await.unwrap();
        store.delete(&key("a")).await.unwrap();
        store.set(&key("d"), &value("four")).await.unwrap();
        // a crash before any checkpoint: sled's unflushed state is whatever it wrote on its own
        let inner = Arc::clone(&store.inner);
        drop(store);
        let records = Wal::open(&dir.path().join(WAL_DIR_NAME)).unwrap().0;
        assert_eq!(records.len(), 5);
        // replaying the log alone into an empty tree gives the acknowledged state
        let scratch = sled::Config::new().temporary(true).open().unwrap();
        let tree = scratch.open_tree("t").unwrap();
        replay(&tree, records).unwrap();
        let keys: Vec<_> = tree
            .iter()
            .keys()
            .map(|k| Inner::decode_key(&k.unwrap()).unwrap())
            .collect();
        assert_eq!(keys, vec![key("c"), key("d")]);
        drop(inner); // close: the final checkpoint cuts the log
        assert!(log_files(dir.path()) <= 1, "{}", log_files(dir.path()));

        let store = LocalStore::open(&config).unwrap();
        let got = store.get(&key("c")).await.unwrap().unwrap();
        assert_eq!(got.expose(), "two");
        assert!(store.get(&key("a")).await.unwrap().is_none());
        assert!(store.get(&key("b")).await.unwrap().is_none());
    }
}
