//! [`LocalStore`]: opening the data directory (lock, key, key check) and the six operations on
//! sled. Every write is durable before it returns: in fsync mode it is applied to sled and logged
//! in a write-ahead log ([`sled_sync::wal`], one group `fdatasync` for concurrent writers), and sled
//! is flushed and synced at checkpoints (every second while there are writes), after which the log
//! is cut; start-up replays the log. Without fsync every write flushes sled. On a full disk writes
//! fail with the I/O error and nothing acknowledged is lost. The log recovers by itself once
//! there is room; sled 0.34 refuses every write after one of its own writes failed, so then the
//! store closes sled and opens it again the way start-up does (sled from disk, then the log
//! replayed), at most once a second and only once the log can be written again and the disk has
//! room, with every operation kept out meanwhile. Until then reads go on from the failed sled.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard, Weak};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::cipher::{Cipher, OpenError};
use super::keyfile::{self, KEY_FILE_NAME};
use super::{codec, KeySource, LocalConfig};
use crate::backends::{Error, Result, SecretStore};
use crate::domain::{Item, ListFilter, Rename, SecretKey, SecretValue};
use sled_sync::wal::{Op, Wal};
use sled_sync::SledFiles;

pub(super) const LOCK_FILE_NAME: &str = "broker.lock";
pub(super) const DB_DIR_NAME: &str = "db";
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
/// At most one attempt per this interval to reopen sled after it failed.
const REOPEN_EVERY: Duration = Duration::from_secs(1);
/// Free space the data directory's file system must have before a failed sled is closed and
/// reopened (sled writes a new 512 KiB segment as it opens): below it, the old handle is kept so
/// reads go on working.
const REOPEN_MIN_FREE_BYTES: u64 = 4 * 1024 * 1024;
/// How long a reopen waits for the closed sled to release its file lock (its background threads
/// finishing).
const RELEASE_WAIT: Duration = Duration::from_secs(3);
/// First byte of a logged key: the change is to the secrets tree (the only tree the log covers).
const SECRETS_OP: u8 = 1;

/// The embedded, encrypted, durable store. Cloning shares the open database.
#[derive(Clone)]
pub struct LocalStore {
    inner: Arc<Shared>,
}

/// The store as long as it is open: the data directory's lock, the key, and the sled handle,
/// which is replaced when sled has failed (see the module documentation).
struct Shared {
    cipher: Arc<Cipher>,
    dir: PathBuf,
    fsync: bool,
    /// The open sled database and its log; `None` after a reopen failed (the next operation
    /// tries again). Operations hold it shared; a reopen holds it exclusively, so no operation
    /// uses the old handle once the reopen has started.
    state: RwLock<Option<Inner>>,
    /// When a reopen was last tried.
    last_reopen: Mutex<Option<Instant>>,
    /// Why the last reopen failed, for the error operations get while the store is closed.
    reopen_error: Mutex<String>,
    /// Held (flock) for as long as the store is open; dropped last.
    _lock: fs::File,
}

/// One open sled database and its write-ahead log.
struct Inner {
    db: sled::Db,
    secrets: sled::Tree,
    cipher: Arc<Cipher>,
    dir: PathBuf,
    /// `Some` in fsync mode: sled's log file, fdatasynced after every sled flush, and the blob
    /// files already synced.
    fsync: Option<SledFiles>,
    /// `Some` in fsync mode: the write-ahead log of the secrets tree.
    wal: Option<Wal>,
    /// Serializes writes, so sled and the log see them in one order; holds the last logged
    /// sequence number.
    order: Mutex<u64>,
    /// Set when sled reported an I/O error: it then refuses every write until it is reopened.
    failed: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn read<T>(m: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(m: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(|e| e.into_inner())
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

/// Flushes logged writes into sled in the background while the store is open, and reopens a
/// failed sled when it can.
fn checkpointer(store: Weak<Shared>) {
    loop {
        std::thread::sleep(CHECKPOINT_EVERY);
        let Some(shared) = store.upgrade() else {
            return;
        };
        shared.recover_if_due();
        let state = read(&shared.state);
        let Some(inner) = state.as_ref() else {
            continue;
        };
        if let Err(e) = inner.checkpoint() {
            tracing::warn!(error = %e, "local store checkpoint failed; the log is kept");
        }
    }
}

/// Whether sled refuses writes after this error (its process-wide error state, set when one of
/// its writes failed).
fn sled_failed_by(e: &sled::Error) -> bool {
    matches!(e, sled::Error::Io(_) | sled::Error::ReportableBug(_))
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

/// Creates the data directory (mode 0700) and, when it exists with access for group or others,
/// makes it 0700 if it holds nothing but the store (else warns: a directory shared with other
/// files is not the store's to lock down). Whatever the key source: the database is in it.
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
    })?;
    restrict_data_dir(dir)
}

/// Whether `name` in the data directory belongs to the store.
#[cfg(unix)]
pub(super) fn is_store_entry(name: &str) -> bool {
    [LOCK_FILE_NAME, KEY_FILE_NAME, DB_DIR_NAME, WAL_DIR_NAME].contains(&name)
        || (name.starts_with(".broker.key.") && name.ends_with(".tmp"))
}

#[cfg(unix)]
fn restrict_data_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(dir)
        .map_err(|e| {
            Error::Storage(format!(
                "cannot read the data directory {}: {e}",
                dir.display()
            ))
        })?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 == 0 {
        return Ok(());
    }
    let mut foreign: Vec<String> = fs::read_dir(dir)
        .map_err(|e| {
            Error::Storage(format!(
                "cannot list the data directory {}: {e}",
                dir.display()
            ))
        })?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !is_store_entry(n))
        .collect();
    if !foreign.is_empty() {
        foreign.sort();
        tracing::warn!(
            data_dir = %dir.display(),
            "the data directory has mode {mode:04o} and holds files that are not the store's \
             ({}), so its mode is left as it is; set data_dir to a directory of its own to keep \
             the database private",
            foreign.join(", ")
        );
        return Ok(());
    }
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(|e| {
        Error::PermissionDenied(format!(
            "data directory {} has mode {mode:04o} (group or others can access it) and cannot \
             be changed to 0700: {e}; run `chmod 700 {}`",
            dir.display(),
            dir.display()
        ))
    })?;
    tracing::warn!(
        data_dir = %dir.display(),
        "the data directory had mode {mode:04o}; changed to 0700 (it holds the database)"
    );
    Ok(())
}

#[cfg(not(unix))]
fn restrict_data_dir(_dir: &Path) -> Result<()> {
    Ok(())
}

/// Makes sled's directory and the log's 0700 and the files in them 0600 (sled creates them with
/// the process's umask). Best effort: a failure is logged.
#[cfg(unix)]
fn restrict_files(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let db = dir.join(DB_DIR_NAME);
    for sub in [db.clone(), db.join("blobs"), dir.join(WAL_DIR_NAME)] {
        let Ok(entries) = fs::read_dir(&sub) else {
            continue;
        };
        let mut paths = vec![(sub.clone(), 0o700)];
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_file()) {
                paths.push((entry.path(), 0o600));
            }
        }
        for (path, want) in paths {
            let Ok(meta) = fs::metadata(&path) else {
                continue; // removed by sled meanwhile
            };
            if meta.permissions().mode() & 0o777 == want {
                continue;
            }
            if let Err(e) = fs::set_permissions(&path, fs::Permissions::from_mode(want)) {
                tracing::warn!(path = %path.display(), error = %e, "cannot restrict the mode of a store file");
            }
        }
    }
}

#[cfg(not(unix))]
fn restrict_files(_dir: &Path) {}

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
        let cipher = Arc::new(Cipher::new(&key));
        drop(key);
        let inner = Inner::open(&dir, Arc::clone(&cipher), config.fsync)?;
        inner.check_key(generated)?;
        let logging = inner.wal.is_some();
        let shared = Arc::new(Shared {
            cipher,
            dir,
            fsync: config.fsync,
            state: RwLock::new(Some(inner)),
            last_reopen: Mutex::new(None),
            reopen_error: Mutex::new(String::new()),
            _lock: lock,
        });
        if logging {
            let weak = Arc::downgrade(&shared);
            std::thread::Builder::new()
                .name("local-checkpoint".into())
                .spawn(move || checkpointer(weak))
                .map_err(|e| Error::Storage(format!("cannot start the checkpoint thread: {e}")))?;
        }
        Ok(Self { inner: shared })
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
        let shared = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || shared.with(f))
            .await
            .map_err(|e| Error::Storage(format!("local store worker failed: {e}")))?
    }
}

impl Shared {
    /// Runs `f` on the open sled, after reopening it if it failed and a reopen is due.
    fn with<T>(&self, f: impl FnOnce(&Inner) -> Result<T>) -> Result<T> {
        self.recover_if_due();
        let state = read(&self.state);
        match state.as_ref() {
            Some(inner) => f(inner),
            None => Err(Error::Storage(format!(
                "the local store in {} is closed after a storage failure and reopens once the \
                 disk accepts writes again: {}",
                self.dir.display(),
                lock(&self.reopen_error)
            ))),
        }
    }

    /// Whether sled has failed (or a reopen failed), so the next operation should try a reopen.
    fn needs_recovery(&self) -> bool {
        read(&self.state)
            .as_ref()
            .is_none_or(|inner| inner.failed.load(Ordering::Acquire))
    }

    /// When sled has failed and no reopen was tried in the last [`REOPEN_EVERY`]: once the log
    /// can be written again and the disk has room, closes sled and the log and opens them again
    /// as start-up does (sled from disk, the log replayed into it). Holds the state exclusively
    /// throughout, so no operation runs on the old handle or sees a half-open store. Every
    /// acknowledged write is in the log on disk (that is when it was acknowledged), so the
    /// replay restores it; a write that was reported failed may or may not be there.
    fn recover_if_due(&self) {
        if !self.needs_recovery() {
            return;
        }
        {
            let mut last = lock(&self.last_reopen);
            if last.is_some_and(|t| t.elapsed() < REOPEN_EVERY) {
                return;
            }
            *last = Some(Instant::now());
        }
        let mut state = write(&self.state);
        if let Some(inner) = state.as_ref() {
            if !inner.failed.load(Ordering::Acquire) {
                return; // another thread reopened it meanwhile
            }
            // Keep the failed handle (reads work on it) until a reopen can succeed: the log's
            // queued records written, and room for sled's files.
            if let Some(wal) = &inner.wal {
                if let Err(e) = wal.sync() {
                    tracing::debug!(error = %e, "local store: not reopening yet, the log cannot be written");
                    return;
                }
            }
            match fs2::available_space(&self.dir) {
                Ok(free) if free >= REOPEN_MIN_FREE_BYTES => {}
                Ok(free) => {
                    tracing::debug!(free, "local store: not reopening yet, the disk is full");
                    return;
                }
                Err(e) => {
                    tracing::debug!(error = %e, "local store: not reopening yet");
                    return;
                }
            }
        }
        tracing::warn!(
            data_dir = %self.dir.display(),
            "local store: sled refuses writes after a failed write; reopening it"
        );
        // Closing runs a last checkpoint (its sled flush fails; the log is kept) and joins
        // sled's background threads; its file lock is released once the last of them is done.
        drop(state.take());
        let started = Instant::now();
        let reopened = loop {
            match Inner::open(&self.dir, Arc::clone(&self.cipher), self.fsync) {
                Err(Error::Storage(e))
                    if e.contains("could not acquire lock") && started.elapsed() < RELEASE_WAIT =>
                {
                    std::thread::sleep(Duration::from_millis(50));
                }
                other => break other,
            }
        };
        match reopened {
            Ok(inner) => {
                *state = Some(inner);
                lock(&self.reopen_error).clear();
                tracing::warn!(data_dir = %self.dir.display(), "local store reopened; writes work again");
            }
            Err(e) => {
                tracing::warn!(error = %e, "local store: reopening failed; trying again on the next operation");
                *lock(&self.reopen_error) = e.to_string();
            }
        }
    }
}

impl Inner {
    /// Opens sled in `dir` and, in fsync mode or when a log exists, replays the write-ahead log
    /// into it, makes that durable and starts a new log segment: start-up, and a reopen after
    /// sled failed.
    fn open(dir: &Path, cipher: Arc<Cipher>, fsync_mode: bool) -> Result<Self> {
        // sled's own write of its settings file can be torn by a crash
        let db_dir = dir.join(DB_DIR_NAME);
        let conf = sled_sync::config::prepare(&db_dir).map_err(|e| {
            Error::Storage(format!(
                "cannot check or write the database settings file (conf) in {}: {e}",
                db_dir.display()
            ))
        })?;
        if conf == sled_sync::config::ConfigState::Repaired {
            tracing::warn!(dir = %db_dir.display(), "replaced a torn sled settings file (conf)");
        }
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
        let fsync = if fsync_mode {
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
        let wal = if fsync_mode || wal_dir.exists() {
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
            fsync_mode.then_some(wal)
        } else {
            None
        };
        restrict_files(dir);
        Ok(Inner {
            db,
            secrets,
            cipher,
            dir: dir.to_path_buf(),
            fsync,
            wal,
            order: Mutex::new(0),
            failed: AtomicBool::new(false),
        })
    }

    /// [`sled_error`], noting when sled has failed.
    fn sled_error(&self, what: &str, e: sled::Error) -> Error {
        if sled_failed_by(&e) {
            self.failed.store(true, Ordering::Release);
        }
        sled_error(what, e)
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
            .map_err(|e| self.sled_error("cannot apply the change", e))?;
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
            .map_err(|e| self.sled_error("cannot flush the database to disk", e))?;
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
            .map_err(|e| self.sled_error("cannot read the key check value", e))?;
        if let Some(check) = stored {
            return if self.cipher.verify_key_check(&check) {
                Ok(())
            } else {
                Err(wrong_key())
            };
        }
        if let Some(first) = self.secrets.iter().next() {
            let (k, v) = first.map_err(|e| self.sled_error("cannot read the database", e))?;
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
            .map_err(|e| self.sled_error("cannot store the key check value", e))?;
        self.flush()
    }

    fn get(&self, key: &SecretKey) -> Result<Option<SecretValue>> {
        let k = codec::encode(key);
        let Some(stored) = self
            .secrets
            .get(&k)
            .map_err(|e| self.sled_error(&format!("cannot read {key}"), e))?
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
        super::BACKEND.name
    }

    async fn get(&self, key: &SecretKey) -> Result<Option<SecretValue>> {
        // Inline, not on the blocking pool: a sled read is a lookup in its page cache (at worst
        // one page read from the OS cache) and an AES-GCM open, a few microseconds; the hop to a
        // blocking thread and back cost more than the read itself. After sled failed, on the
        // blocking pool, where a due reopen runs.
        {
            let state = read(&self.inner.state);
            if let Some(inner) = state
                .as_ref()
                .filter(|inner| !inner.failed.load(Ordering::Acquire))
            {
                return inner.get(key);
            }
        }
        let key = key.clone();
        self.blocking(move |inner| inner.get(&key)).await
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
                    .map_err(|e| inner.sled_error(&format!("cannot write {key}"), e))?;
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
                    .map_err(|e| inner.sled_error(&format!("cannot delete {key}"), e))?;
                Ok(match removed {
                    Some(_) => ((), vec![(logged_key(&k), None)]),
                    None => ((), Vec::new()),
                })
            })
        })
        .await
    }

    async fn list(&self, filter: &ListFilter) -> Result<Vec<SecretKey>> {
        let filter = filter.clone();
        self.blocking(move |inner| {
            if let Some(key) = filter.key() {
                let found = inner
                    .secrets
                    .contains_key(codec::encode(&key))
                    .map_err(|e| inner.sled_error("cannot list", e))?;
                return Ok(if found { vec![key] } else { Vec::new() });
            }
            inner
                .secrets
                .scan_prefix(codec::list_prefix(filter.namespace(), filter.kind()))
                .keys()
                .map(|k| Inner::decode_key(&k.map_err(|e| inner.sled_error("cannot list", e))?))
                .collect()
        })
        .await
    }

    async fn rename_key(&self, rename: &Rename) -> Result<()> {
        if rename.is_noop() {
            return Ok(());
        }
        let (key, target) = (rename.source().clone(), rename.target().clone());
        self.blocking(move |inner| {
            let (src, dst) = (codec::encode(&key), codec::encode(&target));
            inner.write_ahead(|inner| {
                let Some(stored) = inner
                    .secrets
                    .get(&src)
                    .map_err(|e| inner.sled_error(&format!("cannot read {key}"), e))?
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
                let (k, v) = entry.map_err(|e| inner.sled_error("cannot read the database", e))?;
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

    #[cfg(unix)]
    fn file_mode(p: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[cfg(unix)]
    #[test]
    fn loose_modes_the_directory_is_fixed_a_readable_key_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
        restrict_data_dir(dir.path()).expect("restrict");
        keyfile::load_or_create(dir.path()).expect("create");
        assert_eq!(file_mode(dir.path()), 0o700);
        let path = dir.path().join(KEY_FILE_NAME);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
        let e = keyfile::load_or_create(dir.path())
            .expect_err("refused")
            .to_string();
        assert!(e.contains("0644") && e.contains("chmod 600"), "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn a_loose_directory_shared_with_other_files_is_left_alone() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o750)).expect("chmod");
        fs::write(dir.path().join("grafana.db"), "").expect("write");
        restrict_data_dir(dir.path()).expect("restrict");
        keyfile::load_or_create(dir.path()).expect("create");
        assert_eq!(file_mode(dir.path()), 0o750);
        assert_eq!(file_mode(&dir.path().join(KEY_FILE_NAME)), 0o600);
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
