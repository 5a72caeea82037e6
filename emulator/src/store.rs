//! Persistence (the only module that touches sled): the record layout, transactions, and the
//! path of a commit to disk.
//!
//! Records:
//! - `s \0 account \0 region \0 name`: a secret's metadata plus the labels and LastAccessedDate
//!   of its versions (JSON);
//! - `e \0 account \0 region \0 record number` (8 bytes, big-endian): one version: its immutable
//!   part (secret name, id, order, date, digest, key) and its value, written once when the version
//!   is created or receives its value. Record numbers only grow ([`Version::rec`]), so new versions
//!   land at the end of the region's range: sled appends to one leaf instead of updating leaves
//!   all over the tree (in sled alone, at 270,000 versions: a third of the time per insert and
//!   less than half the memory; BENCHMARKS.md).
//! - `d` / `v` (`kind \0 account \0 region \0 name \0 version id`): the older layouts' version
//!   records, rewritten as `e` records when a store holding them is loaded.
//!
//! A commit is visible to readers at once (in memory), appended to the write-ahead log
//! ([`sled_sync::wal`]) and acknowledged once a group `fdatasync` of the log covers it. Every 200 ms
//! a checkpoint writes the changes since the last one into sled (in key order, paced over 180 ms),
//! then a sequence marker; sled is flushed and its files synced ([`SledFiles`]: sled 0.34's own
//! flush only calls `sync_file_range` on Linux), and the log segments the changes came from are
//! deleted. At start, log records newer than sled's marker are replayed into it, which also
//! repairs a checkpoint cut short by a crash. The log holds every acknowledged commit after the
//! marker.
//!
//! On a full disk a commit whose log sync fails is answered with an error (never as durable); the
//! log keeps its record and writes it with the next sync that succeeds, so once the disk has room
//! commits are acknowledged again without a restart. A failed checkpoint keeps its changes and
//! the log segments; sled 0.34 refuses writes after one of its own failed, so checkpoints resume
//! after a restart, which replays the log.
//!
//! Why not a sled batch per commit: sled 0.34 seals and writes its I/O buffer on every batch,
//! through a thread pool that wakes all its idle threads per job; on two cores that cost several
//! times the rest of a write.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sled_sync::SledFiles;
use tokio::sync::{watch, Notify};

use serde::{Deserialize, Serialize};

use crate::model::{self, Digest, Secret, SecretData, Version};
use crate::value_cache::{self, ValueCache};
use sled_sync::wal::{Op, Wal, WalError};

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
    /// The write-ahead log failed.
    #[error(transparent)]
    Wal(#[from] WalError),
}

/// Everything loaded at start: account -> region -> name -> secret.
pub type Loaded = HashMap<String, HashMap<String, Vec<Secret>>>;

#[derive(Debug)]
struct Durability {
    /// Sequence number of the last committed transaction.
    written: AtomicU64,
    /// (highest sequence on disk, number of failed syncs so far)
    flushed: watch::Sender<(u64, u64)>,
    wake: Notify,
}

/// A durable store's files: sled's (flushed at checkpoints) and the write-ahead log (synced
/// before every acknowledgement).
#[derive(Debug)]
struct Files {
    sled: SledFiles,
    wal: Wal,
}

/// Changes committed since the last checkpoint, by key (None = removed): what reads see before
/// sled does. Its Debug output shows counts only (it holds secret values).
#[derive(Default)]
struct Pending {
    /// Receiving new commits.
    active: HashMap<Vec<u8>, Option<Vec<u8>>>,
    /// Being written to sled by a checkpoint (older than `active`).
    flushing: Arc<HashMap<Vec<u8>, Option<Vec<u8>>>>,
}

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
    tasks: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

/// sled key holding the sequence number of the last transaction applied (big-endian u64); log
/// records up to it are already in sled.
const SEQ_KEY: &[u8] = b"\xffseq";

/// How often changes are checkpointed into sled (while there are any). This bounds the memory
/// the pending changes take and the length of the log to replay after a crash.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);

/// A background checkpoint spreads its writes into sled over this much of the interval instead of
/// writing them as fast as it can. In a burst, sled's writes held up the log's fdatasync (its p99
/// under PutSecretValue at 64 in flight: 2.3 ms, against 1.0 ms with the sled writes left out)
/// and took the CPU from requests in one block; PutSecretValue's p99 followed (BENCHMARKS.md).
/// When sled is slower than this pace, a checkpoint takes as long as sled needs, as before.
const CHECKPOINT_SPREAD: Duration = Duration::from_millis(180);

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A set of changes applied atomically by [`Store::commit`]. Its Debug output shows counts and
/// names only (it holds secret values).
#[derive(Default)]
pub struct Tx {
    /// Secret records and removals, in order.
    ops: Vec<Op>,
    len: usize,
    /// Version records to write, merged per version: the immutable part and the value share one
    /// record, so a new version is one record however the operation reports it.
    versions: Vec<PendingVersion>,
    /// (region, name) of every secret record written (replication propagates these).
    touched: Vec<(String, String)>,
    /// (region, name) of every secret removed (replication forgets removed replicas).
    removed: Vec<(String, String)>,
}

/// One version record being written.
struct PendingVersion {
    /// The record's key (`d` kind).
    key: Vec<u8>,
    /// JSON of the version's immutable part, when it is new or changed.
    header: Option<Vec<u8>>,
    /// Whether the version carries a value (so a header-only write must keep the stored value).
    has_value: bool,
    /// The value, when this transaction writes it.
    value: Option<Vec<u8>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("durable", &self.files.is_some())
            .field("written", &self.dur.written.load(Ordering::Relaxed))
            .field("pending", &*lock(&self.pending))
            .field("values", &*lock(&self.values))
            .finish_non_exhaustive()
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

impl std::fmt::Debug for Tx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tx")
            .field("changes", &self.ops.len())
            .field("versions", &self.versions.len())
            .field("touched", &self.touched)
            .field("removed", &self.removed)
            .finish()
    }
}

/// The immutable part of a version, as stored in its record.
#[derive(Serialize)]
struct VersionHeader<'a> {
    /// The secret's name (the key holds account, region and record number).
    name: &'a str,
    id: &'a str,
    seq: u64,
    created: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    digest: Option<Digest>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kms_key_id: Option<&'a str>,
}

/// Labels and LastAccessedDate of one version, kept in its secret's record.
#[derive(Serialize, Deserialize)]
struct VersionState {
    id: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    stages: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_accessed: Option<f64>,
}

/// A secret's record: its metadata plus the changing state of its versions.
#[derive(Serialize)]
struct SecretRecordOut<'a> {
    #[serde(flatten)]
    secret: &'a Secret,
    version_state: Vec<VersionState>,
}

/// A version record's immutable part as read back. Records migrated from the oldest layout also
/// carry the version's labels (their secret's record has no `version_state`).
#[derive(Deserialize)]
struct VersionRecordIn {
    name: String,
    #[serde(flatten)]
    version: Version,
}

/// The immutable part of a version migrated from an older layout, with its labels (see
/// [`VersionRecordIn`]).
#[derive(Serialize)]
struct MigratedHeader<'a> {
    name: &'a str,
    #[serde(flatten)]
    version: &'a Version,
}

/// A secret's record as read back. Records written before version state moved here have no
/// `version_state`; their labels are in the version records.
#[derive(Deserialize)]
struct SecretRecordIn {
    #[serde(flatten)]
    secret: Secret,
    #[serde(default)]
    version_state: Option<Vec<VersionState>>,
}

/// First byte of a version record that holds the version's immutable part (then a 4-byte
/// little-endian length, the part as JSON, and the value if the version has one). Records
/// written before this layout hold only the value and start with its kind byte (`S` / `B`).
const VERSION_RECORD: u8 = b'M';

fn encode_version_record(header: &[u8], value: Option<&[u8]>) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + header.len() + value.map_or(0, <[u8]>::len));
    out.push(VERSION_RECORD);
    out.extend_from_slice(&(header.len() as u32).to_le_bytes());
    out.extend_from_slice(header);
    if let Some(v) = value {
        out.extend_from_slice(v);
    }
    out
}

/// A version record's parts: its immutable part (None for the older value-only records) and its
/// encoded value (None when the version has no value).
type VersionParts<'a> = (Option<&'a [u8]>, Option<&'a [u8]>);

/// Splits a version record into its parts; None if the record is malformed.
fn split_version_record(raw: &[u8]) -> Option<VersionParts<'_>> {
    if raw.first() != Some(&VERSION_RECORD) {
        return Some((None, Some(raw)));
    }
    let len = u32::from_le_bytes(raw.get(1..5)?.try_into().ok()?) as usize;
    let header = raw.get(5..5 + len)?;
    let rest = &raw[5 + len..];
    Some((Some(header), (!rest.is_empty()).then_some(rest)))
}

/// A version found in an older layout: its immutable part (from its `v` or `d` record) and its
/// encoded value, by its `d` key.
type OldVersion = (Option<Version>, Option<Vec<u8>>);

/// The key of a version record (`e` kind).
fn version_key(account: &str, region: &str, rec: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(12 + account.len() + region.len());
    k.extend_from_slice(&[b'e', 0]);
    k.extend_from_slice(account.as_bytes());
    k.push(0);
    k.extend_from_slice(region.as_bytes());
    k.push(0);
    k.extend_from_slice(&rec.to_be_bytes());
    k
}

/// Account, region and record number of a version record's key.
fn parse_version_key(k: &[u8]) -> Option<(&str, &str, u64)> {
    let rest = k.strip_prefix(&[b'e', 0])?;
    let (head, num) = rest.split_at_checked(rest.len().checked_sub(8)?)?;
    let head = head.strip_suffix(&[0])?;
    let mut parts = head.splitn(2, |b| *b == 0);
    let account = std::str::from_utf8(parts.next()?).ok()?;
    let region = std::str::from_utf8(parts.next()?).ok()?;
    Some((account, region, u64::from_be_bytes(num.try_into().ok()?)))
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
    /// Writes the secret's record: its metadata and the labels and LastAccessedDate of its
    /// versions (each version's immutable part and value are a separate record).
    pub fn put_secret(&mut self, account: &str, region: &str, s: &Secret) {
        let version_state = s
            .versions
            .iter()
            .filter(|v| !v.stages.is_empty() || v.last_accessed.is_some())
            .map(|v| VersionState {
                id: v.id.clone(),
                stages: v.stages.clone(),
                last_accessed: v.last_accessed,
            })
            .collect();
        let rec = serde_json::to_vec(&SecretRecordOut {
            secret: s,
            version_state,
        })
        .unwrap_or_default();
        self.ops
            .push((key(b's', account, region, &s.name, None), Some(rec)));
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
    fn pending(&mut self, k: Vec<u8>) -> &mut PendingVersion {
        let i = match self.versions.iter().position(|p| p.key == k) {
            Some(i) => i,
            None => {
                self.versions.push(PendingVersion {
                    key: k,
                    header: None,
                    has_value: false,
                    value: None,
                });
                self.len += 1;
                self.versions.len() - 1
            }
        };
        &mut self.versions[i]
    }
    /// Writes a version's immutable part if it is new or changed since it was stored. Its labels
    /// and LastAccessedDate are written by [`Tx::put_secret`], which every caller also calls.
    pub fn put_version(&mut self, account: &str, region: &str, name: &str, v: &Version) {
        if v.stored.mark() {
            return;
        }
        let header = serde_json::to_vec(&VersionHeader {
            name,
            id: &v.id,
            seq: v.seq,
            created: v.created,
            digest: v.digest,
            kms_key_id: v.kms_key_id.as_deref(),
        })
        .unwrap_or_default();
        let p = self.pending(version_key(account, region, v.rec));
        p.header = Some(header);
        p.has_value = v.has_value();
    }
    /// Writes the value of the version with record number `rec`.
    pub fn put_value(&mut self, account: &str, region: &str, rec: u64, data: &SecretData) {
        let p = self.pending(version_key(account, region, rec));
        p.value = Some(data.encode());
        p.has_value = true;
    }
    /// Removes the record of the version with record number `rec`.
    pub fn del_version(&mut self, account: &str, region: &str, rec: u64) {
        let k = version_key(account, region, rec);
        self.versions.retain(|p| p.key != k);
        self.ops.push((k, None));
        self.len += 1;
    }
    /// Removes a secret with all its versions and values.
    pub fn del_secret(&mut self, account: &str, region: &str, s: &Secret) {
        self.ops
            .push((key(b's', account, region, &s.name, None), None));
        for v in &s.versions {
            self.del_version(account, region, v.rec);
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

    /// The changes in order: secret records and removals, then one record per version written. A
    /// version whose immutable part or value is written alone keeps the other half from the
    /// stored record.
    fn into_ops(
        self,
        get: impl Fn(&[u8]) -> Result<Option<Vec<u8>>, StoreError>,
    ) -> Result<Vec<Op>, StoreError> {
        let mut ops = self.ops;
        for p in self.versions {
            let rec = match (p.header, p.value) {
                (Some(h), v @ Some(_)) => encode_version_record(&h, v.as_deref()),
                (Some(h), None) if !p.has_value => encode_version_record(&h, None),
                (Some(h), None) => {
                    let old = get(&p.key)?;
                    let value = match old.as_deref().map(split_version_record) {
                        Some(Some((_, v))) => v.map(<[u8]>::to_vec),
                        Some(None) => return Err(corrupt(&p.key, "bad version record")),
                        None => None,
                    };
                    encode_version_record(&h, value.as_deref())
                }
                (None, Some(v)) => {
                    let old = get(&p.key)?;
                    match old.as_deref().map(split_version_record) {
                        Some(Some((Some(h), _))) => encode_version_record(h, Some(&v)),
                        Some(None) => return Err(corrupt(&p.key, "bad version record")),
                        // the immutable part is in an older separate version record
                        _ => v,
                    }
                }
                (None, None) => continue,
            };
            ops.push((p.key, Some(rec)));
        }
        Ok(ops)
    }
}

impl Store {
    /// Opens (or creates) a store in `dir`; `None` keeps everything in memory (no flushes).
    /// `cache_bytes` bounds sled's page cache. A durable store first replays the write-ahead log
    /// into sled and makes the result durable.
    pub fn open(dir: Option<&Path>, cache_bytes: u64) -> Result<Arc<Store>, StoreError> {
        if let Some(d) = dir {
            crate::data_dir::restrict(d)?;
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
        let mut last_seq = 0;
        let files = match dir {
            None => None,
            Some(d) => {
                let sled_files = SledFiles::open(d)?;
                let wal_dir = d.join("wal");
                let (records, segments) = Wal::open(&wal_dir)?;
                let applied = match db.get(SEQ_KEY)? {
                    Some(raw) => u64::from_be_bytes(
                        raw.as_ref()
                            .try_into()
                            .map_err(|_| corrupt(SEQ_KEY, "bad sequence number"))?,
                    ),
                    None => 0,
                };
                last_seq = applied;
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
                // the files sled and the log just created
                crate::data_dir::restrict(d)?;
                Some(Arc::new(Files {
                    sled: sled_files,
                    wal,
                }))
            }
        };
        let (tx, _) = watch::channel((last_seq, 0));
        let dur = Arc::new(Durability {
            written: AtomicU64::new(last_seq),
            flushed: tx,
            wake: Notify::new(),
        });
        let store = Arc::new(Store {
            db,
            files: files.clone(),
            dur,
            pending: std::sync::Mutex::new(Pending::default()),
            values: std::sync::Mutex::new(ValueCache::new(value_cache::DEFAULT_BUDGET)),
            commit_lock: std::sync::Mutex::new(()),
            checkpoint_lock: std::sync::Mutex::new(()),
            tasks: std::sync::Mutex::new(Vec::new()),
        });
        let mut tasks = vec![tokio::spawn(checkpoint_loop(Arc::downgrade(&store)))];
        if let Some(files) = files {
            tasks.push(tokio::spawn(flush_loop(files, store.dur.clone())));
        }
        lock(&store.tasks).extend(tasks);
        Ok(store)
    }

    /// Whether acknowledged writes are flushed to disk.
    pub fn is_durable(&self) -> bool {
        self.files.is_some()
    }

    /// Loads every secret with its versions. Version records of the older layouts are first
    /// rewritten in the current one ([`Store::upgrade_old_layouts`]).
    pub fn load(&self) -> Result<Loaded, StoreError> {
        self.upgrade_old_layouts()?;
        let mut out: Loaded = HashMap::new();
        // secret key -> its versions
        let mut versions: HashMap<Vec<u8>, Vec<Version>> = HashMap::new();
        for item in self.db.scan_prefix([b'e', 0]) {
            let (k, raw) = item?;
            let (account, region, rec) =
                parse_version_key(&k).ok_or_else(|| corrupt(&k, "bad key"))?;
            let Some((Some(header), _)) = split_version_record(&raw) else {
                return Err(corrupt(&k, "bad version record"));
            };
            let VersionRecordIn { name, mut version } = decode(&k, header)?;
            version.rec = rec;
            model::note_record_number(rec);
            versions
                .entry(key(b's', account, region, &name, None))
                .or_default()
                .push(version);
        }
        for item in self.db.scan_prefix([b's', 0]) {
            let (k, v) = item?;
            let rec: SecretRecordIn = decode(&k, &v)?;
            let mut secret = rec.secret;
            let parts: Vec<&[u8]> = k[2..].splitn(3, |b| *b == 0).collect();
            if parts.len() != 3 {
                return Err(corrupt(&k, "bad key"));
            }
            let account = String::from_utf8_lossy(parts[0]).into_owned();
            let region = String::from_utf8_lossy(parts[1]).into_owned();
            let mut vs = versions.remove(k.as_ref()).unwrap_or_default();
            vs.sort_by_key(|v| v.seq);
            if let Some(states) = rec.version_state {
                for v in &mut vs {
                    v.stages.clear();
                    v.last_accessed = None;
                }
                for st in states {
                    if let Some(v) = vs.iter_mut().find(|v| v.id == st.id) {
                        v.stages = st.stages;
                        v.last_accessed = st.last_accessed;
                    }
                }
            }
            for v in &vs {
                v.stored.mark();
            }
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

    /// Rewrites the version records of the older layouts (`v` and `d`, keyed by secret name and
    /// version id) as `e` records with new record numbers, in one batch that is durable before
    /// the store is read. In the oldest layout a version's labels are in its `v` record (its
    /// secret's record has no `version_state`); the rewritten record keeps them.
    fn upgrade_old_layouts(&self) -> Result<(), StoreError> {
        let mut old: BTreeMap<Vec<u8>, OldVersion> = BTreeMap::new();
        let mut batch = sled::Batch::default();
        for item in self.db.scan_prefix([b'v', 0]) {
            let (k, raw) = item?;
            let ver: Version = decode(&k, &raw)?;
            let mut d = k.to_vec();
            d[0] = b'd';
            old.entry(d).or_default().0 = Some(ver);
            batch.remove(k);
        }
        for item in self.db.scan_prefix([b'd', 0]) {
            let (k, raw) = item?;
            let Some((header, value)) = split_version_record(&raw) else {
                return Err(corrupt(&k, "bad version record"));
            };
            let slot = old.entry(k.to_vec()).or_default();
            if let Some(h) = header {
                slot.0 = Some(decode(&k, h)?);
            }
            slot.1 = value.map(<[u8]>::to_vec);
        }
        if old.is_empty() {
            return Ok(());
        }
        for k in self.db.scan_prefix([b'e', 0]).keys() {
            if let Some((_, _, rec)) = parse_version_key(&k?) {
                model::note_record_number(rec);
            }
        }
        let n = old.len();
        for (k, (ver, value)) in old {
            batch.remove(k.as_slice());
            // a value without its version's metadata belongs to nothing
            let Some(mut ver) = ver else { continue };
            let parts: Vec<&[u8]> = k[2..].splitn(4, |b| *b == 0).collect();
            let [account, region, name, _vid] = parts[..] else {
                return Err(corrupt(&k, "bad key"));
            };
            let (Ok(account), Ok(region), Ok(name)) = (
                std::str::from_utf8(account),
                std::str::from_utf8(region),
                std::str::from_utf8(name),
            ) else {
                return Err(corrupt(&k, "bad key"));
            };
            ver.rec = model::new_record_number();
            let header = serde_json::to_vec(&MigratedHeader {
                name,
                version: &ver,
            })
            .map_err(|e| corrupt(&k, &e.to_string()))?;
            batch.insert(
                version_key(account, region, ver.rec),
                encode_version_record(&header, value.as_deref()),
            );
        }
        self.db.apply_batch(batch)?;
        self.db.flush()?;
        if let Some(files) = &self.files {
            files.sled.sync()?;
        }
        tracing::info!(records = n, "rewrote version records in the current layout");
        Ok(())
    }

    /// Reads the value of the version with record number `rec`.
    pub fn value(
        &self,
        account: &str,
        region: &str,
        rec: u64,
    ) -> Result<Option<SecretData>, StoreError> {
        let k = version_key(account, region, rec);
        let Some(raw) = self.get_cached(&k)? else {
            return Ok(None);
        };
        match split_version_record(&raw) {
            Some((_, None)) => Ok(None),
            Some((_, Some(v))) => SecretData::decode(v)
                .map(Some)
                .ok_or_else(|| corrupt(&k, "bad value encoding")),
            None => Err(corrupt(&k, "bad version record")),
        }
    }

    /// The current value of a key: pending changes first, then sled.
    fn get(&self, k: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        {
            let p = lock(&self.pending);
            if let Some(v) = p.active.get(k).or_else(|| p.flushing.get(k)) {
                return Ok(v.clone());
            }
        }
        Ok(self.db.get(k)?.map(|v| v.to_vec()))
    }

    /// Like [`Store::get`], through the value cache.
    fn get_cached(&self, k: &[u8]) -> Result<Option<Arc<[u8]>>, StoreError> {
        {
            let p = lock(&self.pending);
            if let Some(v) = p.active.get(k).or_else(|| p.flushing.get(k)) {
                return Ok(v.as_deref().map(Arc::from));
            }
        }
        let seen = {
            let c = lock(&self.values);
            if let Some(v) = c.get(k) {
                return Ok(Some(v));
            }
            c.generation()
        };
        let Some(v) = self.db.get(k)? else {
            return Ok(None);
        };
        let v: Arc<[u8]> = Arc::from(&v[..]);
        let mut c = lock(&self.values);
        // cache it only if nothing changed since the lookup above: a commit or checkpoint in
        // between may have made what sled returned stale
        let p = lock(&self.pending);
        if c.generation() == seen && !p.active.contains_key(k) && !p.flushing.contains_key(k) {
            c.insert(k, v.clone());
        }
        Ok(Some(v))
    }

    /// Applies a transaction atomically (for readers at once; in sled at the next checkpoint);
    /// returns the sequence number to wait on for durability.
    pub fn commit(&self, tx: Tx) -> Result<u64, StoreError> {
        if tx.is_empty() {
            return Ok(0);
        }
        let _order = lock(&self.commit_lock);
        let ops = tx.into_ops(|k| self.get(k))?;
        let seq = self.dur.written.load(Ordering::SeqCst) + 1;
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

    /// Writes the pending changes into sled as fast as it can and, for a durable store, flushes
    /// and syncs sled, then deletes the log segments that held those changes.
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        self.checkpoint_within(Duration::ZERO)
    }

    /// A checkpoint whose writes into sled are spread over `spread` ([`CHECKPOINT_SPREAD`]).
    fn checkpoint_within(&self, spread: Duration) -> Result<(), StoreError> {
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
            (changes, self.dur.written.load(Ordering::SeqCst), old)
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

    fn write_checkpoint(
        &self,
        changes: &HashMap<Vec<u8>, Option<Vec<u8>>>,
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
            if i % 64 == 63 {
                // keep to the pace that ends the writes after `spread`
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
        if let Some(files) = &self.files {
            self.db.flush()?;
            files.sled.sync()?;
        }
        Ok(())
    }

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
        let seq = self.dur.written.load(Ordering::SeqCst);
        self.db.insert(SEQ_KEY, &seq.to_be_bytes())?;
        if let Some(files) = &self.files {
            self.db.flush()?;
            files.sled.sync()?;
            files.wal.forget(&old)?;
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

/// The group-commit loop: waits for unsynced writes, then writes and fdatasyncs the log once for
/// all of them. Writes that arrive while a sync runs leave a wake-up permit and are covered by the
/// next sync, so under load syncs run back to back, each covering everything that queued during
/// the previous one. A failed sync fails its waiters; the log keeps their records, and the next
/// waiter's sync tries again (once the disk has room it succeeds and covers them).
async fn flush_loop(files: Arc<Files>, dur: Arc<Durability>) {
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

/// Checkpoints in the background while there are changes. A failed checkpoint keeps the changes
/// and the log; the next one retries.
async fn checkpoint_loop(store: std::sync::Weak<Store>) {
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

fn decode<T: serde::de::DeserializeOwned>(k: &[u8], v: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(v).map_err(|e| StoreError::Corrupt {
        key: printable(k),
        reason: e.to_string(),
    })
}

fn corrupt(k: &[u8], reason: &str) -> StoreError {
    StoreError::Corrupt {
        key: printable(k),
        reason: reason.into(),
    }
}

fn printable(k: &[u8]) -> String {
    String::from_utf8_lossy(k).replace('\0', "/")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::model::{AWSCURRENT, AWSPREVIOUS};

    fn secret(name: &str) -> Secret {
        Secret {
            name: name.into(),
            arn: format!("arn:aws:secretsmanager:us-east-1:1:secret:{name}-abcdef"),
            ..Secret::default()
        }
    }

    fn value(s: &str) -> SecretData {
        SecretData::String(s.into())
    }

    /// Adds a version holding `v` as AWSCURRENT, recording it in `tx` as the operations do.
    fn put(tx: &mut Tx, s: &mut Secret, vid: &str, v: &SecretData) {
        let i = s.add_version(vid.into(), 1.0, Some(v.digest()), None);
        s.attach_label(AWSCURRENT, i).unwrap();
        tx.put_value("1", "us-east-1", s.versions[i].rec, v);
        for v in &s.versions {
            tx.put_version("1", "us-east-1", &s.name, v);
        }
        tx.put_secret("1", "us-east-1", s);
    }

    /// A durable store in `dir`, optionally with its background tasks stopped (no checkpoint
    /// unless a test asks for one).
    /// Commits the changes `record` makes, in one transaction; returns its sequence number.
    fn commit_with(store: &Store, record: impl FnOnce(&mut Tx)) -> u64 {
        let mut tx = Tx::default();
        record(&mut tx);
        store.commit(tx).unwrap()
    }

    /// Commits version `vid` of `s` holding `v` in one transaction; returns its sequence number.
    fn commit_version(store: &Store, s: &mut Secret, vid: &str, v: &str) -> u64 {
        commit_with(store, |tx| put(tx, s, vid, &value(v)))
    }

    /// A store in a fresh directory (stopped, as [`open`] does, if `stopped`), and the directory.
    fn fresh(stopped: bool) -> (tempfile::TempDir, Arc<Store>) {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir, stopped);
        (dir, store)
    }

    fn open(dir: &tempfile::TempDir, stopped: bool) -> Arc<Store> {
        let store = Store::open(Some(dir.path()), 1 << 20).unwrap();
        if stopped {
            store.stop();
        }
        store
    }

    /// The stored value of version `vid` of `s`.
    fn val(store: &Store, s: &Secret, vid: &str) -> Option<SecretData> {
        let rec = s.version(vid).unwrap().rec;
        store.value("1", "us-east-1", rec).unwrap()
    }

    /// The stored value of version `vid` of the secret `name`, as loaded from sled.
    fn loaded_val(store: &Store, name: &str, vid: &str) -> Option<SecretData> {
        let all = loaded(store);
        val(store, all.iter().find(|s| s.name == name).unwrap(), vid)
    }

    fn loaded(store: &Store) -> Vec<Secret> {
        let mut all = store.load().unwrap();
        all.remove("1")
            .and_then(|mut r| r.remove("us-east-1"))
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn acknowledged_commits_survive_without_a_checkpoint() {
        let (dir, store) = fresh(true); // no checkpoint: sled never sees the commits
        let mut s = secret("a");
        commit_version(&store, &mut s, "v1", "one");
        let seq = commit_version(&store, &mut s, "v2", "two");
        // readers see the commit before any checkpoint
        let got = val(&store, &s, "v2");
        assert_eq!(got, Some(value("two")));
        assert_eq!(store.files.as_ref().unwrap().wal.sync().unwrap(), seq);
        drop(store);

        let store = open(&dir, false);
        let secrets = loaded(&store);
        assert_eq!(secrets.len(), 1);
        let vs = &secrets[0].versions;
        assert_eq!(vs.len(), 2);
        assert_eq!(vs[0].stages, vec![AWSPREVIOUS]);
        assert_eq!(vs[1].stages, vec![AWSCURRENT]);
        assert_eq!(val(&store, &secrets[0], "v1"), Some(value("one")));
        // after a checkpoint the log is cut and sled alone holds the same state
        store.checkpoint().unwrap();
        store.shutdown().await;
        drop(store);
        let store = open(&dir, false);
        assert_eq!(loaded(&store)[0].versions.len(), 2);
        store.shutdown().await;
    }

    #[tokio::test]
    async fn a_paced_checkpoint_keeps_to_its_pace_and_writes_everything() {
        let (dir, store) = fresh(true);
        let mut names = Vec::new();
        for i in 0..200 {
            let mut s = secret(&format!("s{i:03}"));
            commit_version(&store, &mut s, "v1", &format!("value {i}"));
            names.push(s);
        }
        // 400 records: the pace is checked after every 64, so the last check (at 384) is due
        // at 96 % of the spread
        let spread = Duration::from_millis(300);
        let t = Instant::now();
        store.checkpoint_within(spread).unwrap();
        assert!(t.elapsed() >= spread.mul_f64(0.9), "{:?}", t.elapsed());
        assert!(lock(&store.pending).active.is_empty());
        assert!(lock(&store.pending).flushing.is_empty());
        for (i, n) in names.iter().enumerate() {
            let k = version_key("1", "us-east-1", n.version("v1").unwrap().rec);
            assert!(
                store.db.get(&k).unwrap().is_some(),
                "{} not in sled",
                n.name
            );
            let got = val(&store, n, "v1");
            assert_eq!(got, Some(value(&format!("value {i}"))));
        }
        drop(store);
        let store = open(&dir, false);
        assert_eq!(loaded(&store).len(), 200);
        store.shutdown().await;
    }

    #[tokio::test]
    async fn a_checkpoint_cut_short_is_repaired_by_the_log() {
        let (dir, store) = fresh(true);
        let mut a = secret("a");
        commit_version(&store, &mut a, "a1", "a1");
        store.checkpoint().unwrap();
        let mut tx = Tx::default();
        put(&mut tx, &mut a, "a2", &value("a2"));
        let mut b = secret("b");
        put(&mut tx, &mut b, "b1", &value("b1"));
        store.commit(tx).unwrap();
        store.files.as_ref().unwrap().wal.sync().unwrap();
        // a crash part-way through the next checkpoint: one change in sled, the marker old
        let partial = version_key("1", "us-east-1", a.version("a2").unwrap().rec);
        let rec = store.get(&partial).unwrap().unwrap();
        store.db.insert(partial, rec).unwrap();
        store.db.flush().unwrap();
        drop(store);

        let store = open(&dir, false);
        let secrets = loaded(&store);
        assert_eq!(secrets.len(), 2);
        let labels: Vec<_> = secrets[0]
            .versions
            .iter()
            .map(|v| v.stages.clone())
            .collect();
        assert_eq!(labels, vec![vec![AWSPREVIOUS], vec![AWSCURRENT]]);
        assert_eq!(loaded_val(&store, "b", "b1"), Some(value("b1")));
        store.shutdown().await;
    }

    #[tokio::test]
    async fn older_layout_loads_and_takes_new_writes() {
        let dir = tempfile::tempdir().unwrap();
        {
            // the layout written before version records merged: labels in `v`, bare values in `d`
            let db = sled::open(dir.path()).unwrap();
            let mut s = secret("old");
            s.next_seq = 1;
            db.insert(
                key(b's', "1", "us-east-1", "old", None),
                serde_json::to_vec(&s).unwrap(),
            )
            .unwrap();
            let mut v = Version {
                id: "v0".into(),
                seq: 0,
                stages: vec![AWSCURRENT.into()],
                created: 1.0,
                last_accessed: Some(0.0),
                digest: Some(value("zero").digest()),
                kms_key_id: None,
                stored: Default::default(),
                rec: 0,
            };
            v.stages.shrink_to_fit();
            db.insert(
                key(b'v', "1", "us-east-1", "old", Some("v0")),
                serde_json::to_vec(&v).unwrap(),
            )
            .unwrap();
            db.insert(
                key(b'd', "1", "us-east-1", "old", Some("v0")),
                value("zero").encode(),
            )
            .unwrap();
            db.flush().unwrap();
        }
        let store = open(&dir, false);
        let mut s = loaded(&store).remove(0);
        assert_eq!(s.versions[0].stages, vec![AWSCURRENT]);
        assert_eq!(s.versions[0].last_accessed, Some(0.0));
        assert_eq!(val(&store, &s, "v0"), Some(value("zero")));
        commit_version(&store, &mut s, "v1", "one");
        store.checkpoint().unwrap();
        store.shutdown().await;
        drop(store);

        let store = open(&dir, false);
        let s = loaded(&store).remove(0);
        let labels: Vec<_> = s.versions.iter().map(|v| v.stages.clone()).collect();
        assert_eq!(labels, vec![vec![AWSPREVIOUS], vec![AWSCURRENT]]);
        assert_eq!(val(&store, &s, "v0"), Some(value("zero")));
        // the old records are gone: everything is in the current layout
        assert_eq!(store.db.scan_prefix([b'v', 0]).count(), 0);
        assert_eq!(store.db.scan_prefix([b'd', 0]).count(), 0);
        assert_eq!(store.db.scan_prefix([b'e', 0]).count(), 2);
        store.shutdown().await;
    }

    #[tokio::test]
    async fn name_keyed_version_records_are_rewritten_by_record_number() {
        let dir = tempfile::tempdir().unwrap();
        {
            // the layout before record numbers: `d` records keyed by name and version id, holding
            // the immutable part and the value; labels in the secret's record
            let db = sled::open(dir.path()).unwrap();
            let s = secret("named");
            let rec = serde_json::json!({
                "name": "named", "arn": s.arn, "created": 1.0, "last_changed": 1.0,
                "next_seq": 2,
                "version_state": [
                    {"id": "v0", "stages": [AWSPREVIOUS]},
                    {"id": "v1", "stages": [AWSCURRENT], "last_accessed": 0.0}
                ]
            });
            db.insert(
                key(b's', "1", "us-east-1", "named", None),
                serde_json::to_vec(&rec).unwrap(),
            )
            .unwrap();
            for (seq, vid) in ["v0", "v1"].into_iter().enumerate() {
                let data = value(&format!("value of {vid}"));
                let header = serde_json::json!({
                    "id": vid, "seq": seq, "created": 1.0, "digest": data.digest()
                });
                db.insert(
                    key(b'd', "1", "us-east-1", "named", Some(vid)),
                    encode_version_record(
                        &serde_json::to_vec(&header).unwrap(),
                        Some(&data.encode()),
                    ),
                )
                .unwrap();
            }
            db.flush().unwrap();
        }
        let store = open(&dir, false);
        let s = loaded(&store).remove(0);
        let ids: Vec<_> = s.versions.iter().map(|v| v.id.as_str()).collect();
        assert_eq!(ids, ["v0", "v1"]);
        assert_eq!(s.versions[0].stages, vec![AWSPREVIOUS]);
        assert_eq!(s.versions[1].stages, vec![AWSCURRENT]);
        assert_eq!(s.versions[1].last_accessed, Some(0.0));
        assert!(s.versions[0].rec < s.versions[1].rec);
        assert_eq!(val(&store, &s, "v0"), Some(value("value of v0")));
        assert_eq!(val(&store, &s, "v1"), Some(value("value of v1")));
        assert_eq!(store.db.scan_prefix([b'd', 0]).count(), 0);
        // a new version's record number is above the rewritten ones
        let mut s = s;
        let mut tx = Tx::default();
        put(&mut tx, &mut s, "v2", &value("two"));
        assert!(s.versions[2].rec > s.versions[1].rec);
        store.commit(tx).unwrap();
        store.checkpoint().unwrap();
        store.shutdown().await;
        drop(store);
        let store = open(&dir, false);
        let s = loaded(&store).remove(0);
        assert_eq!(s.versions.len(), 3);
        assert_eq!(val(&store, &s, "v2"), Some(value("two")));
        assert_eq!(val(&store, &s, "v0"), Some(value("value of v0")));
        store.shutdown().await;
    }

    #[tokio::test]
    async fn cached_values_follow_commits_and_checkpoints() {
        let (_dir, store) = fresh(true);
        let mut s = secret("c");
        commit_version(&store, &mut s, "v1", "first");
        store.checkpoint().unwrap();
        let rec = s.version("v1").unwrap().rec;
        let read = || store.value("1", "us-east-1", rec).unwrap();
        assert_eq!(read(), Some(value("first"))); // from sled, now cached
        assert_eq!(read(), Some(value("first"))); // from the cache
        commit_with(&store, |tx| {
            tx.put_value("1", "us-east-1", rec, &value("second"))
        });
        assert_eq!(read(), Some(value("second")));
        store.checkpoint().unwrap();
        assert_eq!(read(), Some(value("second")));
        assert_eq!(read(), Some(value("second")));
        commit_with(&store, |tx| tx.del_version("1", "us-east-1", rec));
        assert_eq!(read(), None);
        store.checkpoint().unwrap();
        assert_eq!(read(), None);
        store.shutdown().await;
    }

    #[tokio::test]
    async fn debug_output_never_shows_values() {
        let (_dir, store) = fresh(true);
        let mut s = secret("d");
        let mut tx = Tx::default();
        put(&mut tx, &mut s, "v1", &value("hunter2-secret"));
        assert!(!format!("{tx:?}").contains("hunter2"), "{tx:?}");
        store.commit(tx).unwrap();
        assert_eq!(val(&store, &s, "v1"), Some(value("hunter2-secret")));
        store.checkpoint().unwrap();
        val(&store, &s, "v1"); // now in the value cache
        commit_version(&store, &mut s, "v2", "hunter2-again"); // pending and in the log's buffer
        let shown = format!("{store:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        // nor as the bytes' Debug form
        let bytes = format!("{:?}", b"hunter2");
        assert!(!shown.contains(&bytes[1..bytes.len() - 1]), "{shown}");
        store.shutdown().await;
    }

    #[tokio::test]
    async fn removals_and_reset_reach_sled() {
        let (dir, store) = fresh(false);
        let mut s = secret("gone");
        commit_version(&store, &mut s, "v1", "x");
        store.checkpoint().unwrap();
        commit_with(&store, |tx| tx.del_secret("1", "us-east-1", &s));
        // the removal hides the checkpointed value at once
        assert_eq!(val(&store, &s, "v1"), None);
        store.checkpoint().unwrap();
        assert!(loaded(&store).is_empty());
        commit_version(&store, &mut secret("later"), "v1", "y");
        store.clear().unwrap();
        store.shutdown().await;
        drop(store);
        let store = open(&dir, false);
        assert!(loaded(&store).is_empty());
        store.shutdown().await;
    }
}
