//! [`LocalStore`]: opening the data directory (lock, key, key check) and the six operations on
//! sled, each run on tokio's blocking pool; every write is flushed (fsynced) before it returns.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use sled::transaction::ConflictableTransactionError;

use super::cipher::{Cipher, OpenError};
use super::keyfile::{self, KEY_FILE_NAME};
use super::{codec, KeySource, LocalConfig};
use crate::backends::{Error, Result, SecretStore};
use crate::domain::{Item, ListFilter, SecretKey, SecretValue};
use sled_sync::SledFiles;

const LOCK_FILE_NAME: &str = "broker.lock";
const DB_DIR_NAME: &str = "db";
const SECRETS_TREE: &[u8] = b"secrets";
const KEY_CHECK: &[u8] = b"key_check";
/// sled's page cache; the store is small and the plugin should stay lean.
const CACHE_BYTES: u64 = 64 * 1024 * 1024;

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
    /// Held (flock) for as long as the store is open; dropped last.
    _lock: fs::File,
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
        let inner = Inner {
            db,
            secrets,
            cipher,
            dir,
            fsync,
            _lock: lock,
        };
        inner.check_key(generated)?;
        Ok(Self {
            inner: Arc::new(inner),
        })
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

impl Inner {
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
            inner
                .secrets
                .insert(k, sealed)
                .map_err(|e| sled_error(&format!("cannot write {key}"), e))?;
            inner.flush()
        })
        .await
    }

    async fn delete(&self, key: &SecretKey) -> Result<()> {
        let key = key.clone();
        self.blocking(move |inner| {
            let removed = inner
                .secrets
                .remove(codec::encode(&key))
                .map_err(|e| sled_error(&format!("cannot delete {key}"), e))?;
            match removed {
                Some(_) => inner.flush(),
                None => Ok(()),
            }
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
            let moved = inner.secrets.transaction(|tx| {
                let Some(stored) = tx.get(&src)? else {
                    return Ok(false);
                };
                let plain = inner
                    .cipher
                    .open(&stored, &src)
                    .map_err(|e| ConflictableTransactionError::Abort(open_error(&key, e)))?;
                let sealed = inner.cipher.seal(plain.as_bytes(), &dst).map_err(|e| {
                    ConflictableTransactionError::Abort(Error::Crypto(format!(
                        "cannot encrypt the value for {target}: {e}"
                    )))
                })?;
                tx.remove(src.as_slice())?;
                tx.insert(dst.as_slice(), sealed)?;
                Ok(true)
            });
            match moved {
                Ok(true) => inner.flush(),
                Ok(false) => Ok(()),
                Err(sled::transaction::TransactionError::Abort(e)) => Err(e),
                Err(sled::transaction::TransactionError::Storage(e)) => {
                    Err(sled_error(&format!("cannot rename {key}"), e))
                }
            }
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
