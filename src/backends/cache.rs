//! The read cache: a [`SecretStore`] decorator over any backend that answers `get` from memory
//! for up to `cache_ttl`, bounded by bytes (`cache_max_bytes`, least recently used first out),
//! with one backend call per key however many callers miss it at once, and read-your-writes for
//! every write made through it. Its settings ([`KEYS`]) and their defaults are in
//! [`CacheConfig`]; the plugin and `serve` put it in front of their store ([`wrap`]).
//!
//! # What is cached
//! Only single-secret reads (`get`), present and absent alike (an absent secret costs a backend
//! call just like a present one; Grafana asks for data sources without secrets too). `list`,
//! `get_all`, `get_all_batched` and `get_many` always go to the backend: a list cannot be kept
//! exactly coherent with per-key invalidation, and GetAllSecrets feeds Grafana's from-plugin
//! migration, which deletes what it copied.
//!
//! # Coherence with writes through this process
//! `set`, `delete` and `rename` (both keys) remove the key's entry when they start and again when
//! they end (success or failure: a failed write may have landed), and detach any backend read of
//! the key in flight: later callers start a new read instead of joining one that may predate the
//! write, and a read that overlapped a write never fills the cache. So a `get` that starts after
//! a write was acknowledged always sees it (or a later write), and the next `get` after a write
//! pays one backend call. Writes are never cached from the written value (the backend's answer
//! is the truth, and a failed write's outcome is unknown).
//!
//! # Staleness from other writers
//! Changes made elsewhere (another Grafana replica's plugin, an AWS rotation, `reconcile`, the
//! AWS console) are seen once the entry is older than `cache_ttl`. A refresh that fails with a
//! transient error (throttled, unavailable) answers the expired value only while it is younger
//! than `cache_ttl + cache_max_stale` (default 0: never); any other failure, and any failure
//! past that age, is returned as the backend's error. Failures are never cached.
//!
//! # Memory
//! Each entry counts its key's and value's bytes plus [`ENTRY_OVERHEAD`]; an entry bigger than
//! `cache_max_bytes` is not kept. Values are [`SecretValue`]s, whose buffers are wiped when they
//! drop: on eviction, on expiry (a sweep every quarter of `cache_ttl + cache_max_stale`, and on
//! access), on invalidation and when the cache drops.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use super::call_notes::{note_cache, CacheOutcome};
use super::settings::{ConfigError, Settings};
use super::{BackendConfig, Result, SecretStore};
use crate::domain::{Item, ListFilter, Rename, SecretKey, SecretValue};

/// Settings keys of the read cache.
pub const KEYS: &[&str] = &["cache_ttl", "cache_max_bytes", "cache_max_stale"];

/// Default `cache_ttl` in front of a backend whose reads leave the process (see
/// [`super::BackendSettings::read_cache_by_default`]): Grafana's own kvstore cache keeps secrets
/// 5 s, so an HA Grafana's replicas and an AWS rotation see the staleness Grafana already had,
/// while a dashboard's queries cost one backend read per data source per 5 s instead of one each.
pub const DEFAULT_TTL: Duration = Duration::from_secs(5);

/// Default `cache_max_bytes`: 16 MiB, every secret of an install with ~15,000 typical (1 KiB)
/// data-source secrets, or 250 of the largest (64 KiB).
pub const DEFAULT_MAX_BYTES: usize = 16 << 20;

/// Bytes counted per entry besides its key and value (the map slots, the recency index and the
/// entry's bookkeeping), so that absent entries count too.
pub const ENTRY_OVERHEAD: usize = 128;

/// The read cache's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheConfig {
    /// How long an entry answers `get` (`cache_ttl`); zero turns the cache off.
    pub ttl: Duration,
    /// Bound of the entries' bytes (`cache_max_bytes`); zero turns the cache off.
    pub max_bytes: usize,
    /// How much older than `ttl` an entry may be when a transient refresh failure answers it
    /// (`cache_max_stale`); zero: never.
    pub max_stale: Duration,
}

impl CacheConfig {
    /// No cache.
    pub const OFF: CacheConfig = CacheConfig {
        ttl: Duration::ZERO,
        max_bytes: DEFAULT_MAX_BYTES,
        max_stale: Duration::ZERO,
    };

    /// Whether a cache is put in front of the store.
    pub fn is_on(&self) -> bool {
        !self.ttl.is_zero() && self.max_bytes > 0
    }

    /// Reads [`KEYS`]: `cache_ttl` defaults to [`DEFAULT_TTL`] in front of `backend` when its
    /// reads leave the process ([`BackendConfig::read_cache_by_default`]) and to 0 (off)
    /// otherwise; `cache_max_bytes` to [`DEFAULT_MAX_BYTES`]; `cache_max_stale` to 0.
    pub fn from_settings(
        settings: &Settings,
        backend: &BackendConfig,
    ) -> Result<Self, ConfigError> {
        let default_ttl = if backend.read_cache_by_default() {
            DEFAULT_TTL
        } else {
            Duration::ZERO
        };
        Ok(Self {
            ttl: duration(settings, "cache_ttl")?.unwrap_or(default_ttl),
            max_bytes: bytes(settings, "cache_max_bytes")?.unwrap_or(DEFAULT_MAX_BYTES),
            max_stale: duration(settings, "cache_max_stale")?.unwrap_or(Duration::ZERO),
        })
    }
}

/// `key`'s value split into its leading digits and the (trimmed) rest, `None` when unset.
fn number_and_unit<'a>(settings: &'a Settings, key: &str) -> Option<(&'a str, &'a str)> {
    let raw = settings.get(key)?.trim();
    let split = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (number, unit) = raw.split_at(split);
    Some((number, unit.trim()))
}

/// `key` as a duration: a whole number with unit `ms`, `s`, `m` or `h` (`5s`, `500ms`), or a
/// bare number of seconds.
fn duration(settings: &Settings, key: &str) -> Result<Option<Duration>, ConfigError> {
    let Some((number, unit)) = number_and_unit(settings, key) else {
        return Ok(None);
    };
    let per_unit = match unit {
        "ms" => Duration::from_millis(1),
        "" | "s" => Duration::from_secs(1),
        "m" => Duration::from_secs(60),
        "h" => Duration::from_secs(3600),
        _ => return Err(duration_error(settings, key)),
    };
    number
        .parse::<u32>()
        .ok()
        .and_then(|n| per_unit.checked_mul(n))
        .map(Some)
        .ok_or_else(|| duration_error(settings, key))
}

fn duration_error(settings: &Settings, key: &str) -> ConfigError {
    settings.error(
        key,
        "expected a duration: a whole number with unit ms, s, m or h (5s, 500ms, 2m), or 0 for none",
    )
}

/// `key` as a byte count: a whole number, optionally with unit `KiB`, `MiB` or `GiB`.
fn bytes(settings: &Settings, key: &str) -> Result<Option<usize>, ConfigError> {
    let Some((number, unit)) = number_and_unit(settings, key) else {
        return Ok(None);
    };
    let shift = match unit {
        "" => 0,
        "KiB" => 10,
        "MiB" => 20,
        "GiB" => 30,
        _ => 64,
    };
    number
        .parse::<usize>()
        .ok()
        .filter(|_| shift < 64)
        .and_then(|n| n.checked_mul(1 << shift))
        .map(Some)
        .ok_or_else(|| {
            settings.error(
                key,
                "expected a number of bytes, optionally with unit KiB, MiB or GiB (16MiB)",
            )
        })
}

/// `store` behind a read cache configured by `config`, or `store` itself when the cache is off.
pub fn wrap(store: Arc<dyn SecretStore>, config: CacheConfig) -> Arc<dyn SecretStore> {
    if config.is_on() {
        Arc::new(ReadCache::new(store, config))
    } else {
        store
    }
}

/// Counters of a [`ReadCache`] since it was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// `get`s answered from a fresh entry.
    pub hits: u64,
    /// `get`s that found no fresh entry (they started or joined a backend read).
    pub misses: u64,
    /// Misses that joined a backend read another caller had started.
    pub joined: u64,
    /// Backend reads made.
    pub backend_reads: u64,
    /// Expired entries answered because their refresh failed (within `cache_max_stale`).
    pub stale_answers: u64,
    /// Entries removed to stay within `cache_max_bytes`.
    pub evictions: u64,
    /// Entries held now.
    pub entries: u64,
    /// Bytes held now, as counted against `cache_max_bytes`.
    pub bytes: u64,
}

/// The read cache over one store (see the module documentation).
pub struct ReadCache {
    shared: Arc<Shared>,
}

struct Shared {
    inner: Arc<dyn SecretStore>,
    config: CacheConfig,
    state: Mutex<State>,
    hits: AtomicU64,
    misses: AtomicU64,
    joined: AtomicU64,
    backend_reads: AtomicU64,
    stale_answers: AtomicU64,
    evictions: AtomicU64,
}

/// One cached answer of the backend.
struct Entry {
    value: Option<SecretValue>,
    /// When the backend read that produced it started (its age counts from there).
    fetched: Instant,
    bytes: usize,
    /// Its position in [`State::recency`].
    tick: u64,
}

/// A backend read of one key, shared by every caller that missed while it ran.
struct Flight {
    id: u64,
    started: Instant,
    /// Whether its answer may fill the cache: no write of the key was running when it started.
    /// (A write that starts later detaches the flight, which also stops it filling the cache.)
    may_fill: bool,
    answer: tokio::sync::OnceCell<Result<Option<SecretValue>>>,
}

#[derive(Default)]
struct State {
    entries: HashMap<SecretKey, Entry>,
    /// Entries by last use, oldest first.
    recency: BTreeMap<u64, SecretKey>,
    bytes: usize,
    next_tick: u64,
    /// Backend reads callers may still join, by key.
    flights: HashMap<SecretKey, Arc<Flight>>,
    next_flight: u64,
    /// Writes in progress, by key.
    writing: HashMap<SecretKey, usize>,
}

fn entry_bytes(key: &SecretKey, value: Option<&SecretValue>) -> usize {
    key.namespace().len() + key.kind().len() + value.map_or(0, SecretValue::len) + ENTRY_OVERHEAD
}

impl State {
    fn remove(&mut self, key: &SecretKey) -> Option<Entry> {
        let entry = self.entries.remove(key)?;
        self.recency.remove(&entry.tick);
        self.bytes -= entry.bytes;
        Some(entry)
    }

    fn touch(&mut self, key: &SecretKey) {
        let tick = self.next_tick;
        if let Some(entry) = self.entries.get_mut(key) {
            // The key moves to its new place in the recency order (no copy of it on a hit).
            let key = self
                .recency
                .remove(&entry.tick)
                .unwrap_or_else(|| key.clone());
            entry.tick = tick;
            self.recency.insert(tick, key);
            self.next_tick += 1;
        }
    }

    /// Inserts an entry, evicting the least recently used ones until it fits; returns how many
    /// were evicted. An entry larger than `max_bytes` is not kept.
    fn insert(
        &mut self,
        key: &SecretKey,
        value: Option<SecretValue>,
        fetched: Instant,
        max_bytes: usize,
    ) -> u64 {
        self.remove(key);
        let bytes = entry_bytes(key, value.as_ref());
        if bytes > max_bytes {
            return 0;
        }
        let mut evicted = 0;
        while self.bytes + bytes > max_bytes {
            let Some((_, oldest)) = self.recency.pop_first() else {
                break;
            };
            if let Some(entry) = self.entries.remove(&oldest) {
                self.bytes -= entry.bytes;
                evicted += 1;
            }
        }
        let tick = self.next_tick;
        self.next_tick += 1;
        self.recency.insert(tick, key.clone());
        self.bytes += bytes;
        self.entries.insert(
            key.clone(),
            Entry {
                value,
                fetched,
                bytes,
                tick,
            },
        );
        evicted
    }

    /// Forgets `key` (its entry and any read of it callers could join), at the start and at the
    /// end of a write.
    fn invalidate(&mut self, key: &SecretKey) {
        self.remove(key);
        self.flights.remove(key);
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Every change under the lock is a few map operations that leave the state consistent,
        // so a poisoned lock is used as it is.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The age past which an entry is of no use at all.
    fn keep_for(&self) -> Duration {
        self.config.ttl.saturating_add(self.config.max_stale)
    }

    /// Drops (and so wipes) every entry older than `ttl + max_stale`.
    fn sweep(&self) {
        let now = Instant::now();
        let keep_for = self.keep_for();
        let mut state = self.lock();
        let expired: Vec<SecretKey> = state
            .entries
            .iter()
            .filter(|(_, e)| now.saturating_duration_since(e.fetched) >= keep_for)
            .map(|(k, _)| k.clone())
            .collect();
        for key in expired {
            state.remove(&key);
        }
    }

    /// Records the end of `flight`: it stops being joinable, and its answer fills the cache if
    /// it may and no write detached it meanwhile.
    fn land(&self, key: &SecretKey, flight: &Flight, answer: &Result<Option<SecretValue>>) {
        let mut state = self.lock();
        let attached = state.flights.get(key).is_some_and(|f| f.id == flight.id);
        if !attached {
            return;
        }
        state.flights.remove(key);
        if let (true, Ok(value)) = (flight.may_fill, answer) {
            let evicted = state.insert(key, value.clone(), flight.started, self.config.max_bytes);
            self.evictions.fetch_add(evicted, Ordering::Relaxed);
        }
    }

    fn begin_write(&self, keys: &[&SecretKey]) {
        let mut state = self.lock();
        for key in keys {
            state.invalidate(key);
            *state.writing.entry((*key).clone()).or_default() += 1;
        }
    }

    fn end_write(&self, keys: &[SecretKey]) {
        let mut state = self.lock();
        for key in keys {
            state.invalidate(key);
            if let Some(n) = state.writing.get_mut(key) {
                *n -= 1;
                if *n == 0 {
                    state.writing.remove(key);
                }
            }
        }
    }
}

/// A write in progress: ends it (invalidating again) when dropped, also when the caller stops
/// waiting for it.
struct WriteGuard<'a> {
    shared: &'a Shared,
    keys: Vec<SecretKey>,
}

impl<'a> WriteGuard<'a> {
    fn begin(shared: &'a Shared, keys: &[&SecretKey]) -> Self {
        shared.begin_write(keys);
        Self {
            shared,
            keys: keys.iter().map(|k| (*k).clone()).collect(),
        }
    }
}

impl Drop for WriteGuard<'_> {
    fn drop(&mut self) {
        self.shared.end_write(&self.keys);
    }
}

impl ReadCache {
    /// `inner` behind a cache configured by `config`. Inside a tokio runtime a task sweeps
    /// expired entries (it ends when the cache drops).
    pub fn new(inner: Arc<dyn SecretStore>, config: CacheConfig) -> Self {
        let shared = Arc::new(Shared {
            inner,
            config,
            state: Mutex::new(State::default()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            joined: AtomicU64::new(0),
            backend_reads: AtomicU64::new(0),
            stale_answers: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        });
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let period = (shared.keep_for() / 4).max(Duration::from_millis(50));
            runtime.spawn(sweep_until_dropped(Arc::downgrade(&shared), period));
        }
        Self { shared }
    }

    /// The counters so far.
    pub fn stats(&self) -> CacheStats {
        let s = &self.shared;
        let (entries, bytes) = {
            let state = s.lock();
            (state.entries.len() as u64, state.bytes as u64)
        };
        CacheStats {
            hits: s.hits.load(Ordering::Relaxed),
            misses: s.misses.load(Ordering::Relaxed),
            joined: s.joined.load(Ordering::Relaxed),
            backend_reads: s.backend_reads.load(Ordering::Relaxed),
            stale_answers: s.stale_answers.load(Ordering::Relaxed),
            evictions: s.evictions.load(Ordering::Relaxed),
            entries,
            bytes,
        }
    }
}

async fn sweep_until_dropped(shared: Weak<Shared>, period: Duration) {
    loop {
        tokio::time::sleep(period).await;
        match shared.upgrade() {
            Some(shared) => shared.sweep(),
            None => return,
        }
    }
}

/// Shows the settings and the counters, never a key or a value.
impl fmt::Debug for ReadCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadCache")
            .field("inner", &self.shared.inner)
            .field("config", &self.shared.config)
            .field("stats", &self.stats())
            .finish()
    }
}

#[async_trait]
impl SecretStore for ReadCache {
    fn name(&self) -> &'static str {
        self.shared.inner.name()
    }

    async fn get(&self, key: &SecretKey) -> Result<Option<SecretValue>> {
        let s = &*self.shared;
        let now = Instant::now();
        let (flight, expired) = {
            let mut state = s.lock();
            let mut expired = None;
            if let Some(entry) = state.entries.get(key) {
                let age = now.saturating_duration_since(entry.fetched);
                if age < s.config.ttl {
                    let value = entry.value.clone();
                    state.touch(key);
                    s.hits.fetch_add(1, Ordering::Relaxed);
                    note_cache(CacheOutcome::Hit);
                    return Ok(value);
                }
                if age < s.keep_for() {
                    expired = Some(entry.value.clone());
                } else {
                    state.remove(key);
                }
            }
            s.misses.fetch_add(1, Ordering::Relaxed);
            note_cache(CacheOutcome::Miss);
            let flight = match state.flights.get(key) {
                Some(flight) => {
                    s.joined.fetch_add(1, Ordering::Relaxed);
                    flight.clone()
                }
                None => {
                    let flight = Arc::new(Flight {
                        id: state.next_flight,
                        started: now,
                        may_fill: !state.writing.contains_key(key),
                        answer: tokio::sync::OnceCell::new(),
                    });
                    state.next_flight += 1;
                    state.flights.insert(key.clone(), flight.clone());
                    flight
                }
            };
            (flight, expired)
        };
        // The first caller runs the read; the others wait for its answer. If that caller stops
        // waiting, a waiting one runs it instead.
        let answer = flight
            .answer
            .get_or_init(|| async {
                s.backend_reads.fetch_add(1, Ordering::Relaxed);
                let answer = s.inner.get(key).await;
                s.land(key, &flight, &answer);
                answer
            })
            .await
            .clone();
        match (answer, expired) {
            (Err(e), Some(value)) if e.is_transient() => {
                s.stale_answers.fetch_add(1, Ordering::Relaxed);
                note_cache(CacheOutcome::Stale);
                tracing::warn!(key = %key, error = %e, "backend read failed; answering the cached value (within cache_max_stale)");
                Ok(value)
            }
            (answer, _) => answer,
        }
    }

    async fn set(&self, key: &SecretKey, value: &SecretValue) -> Result<()> {
        let _write = WriteGuard::begin(&self.shared, &[key]);
        self.shared.inner.set(key, value).await
    }

    async fn delete(&self, key: &SecretKey) -> Result<()> {
        let _write = WriteGuard::begin(&self.shared, &[key]);
        self.shared.inner.delete(key).await
    }

    async fn list(&self, filter: &ListFilter) -> Result<Vec<SecretKey>> {
        self.shared.inner.list(filter).await
    }

    async fn rename_key(&self, rename: &Rename) -> Result<()> {
        let _write = WriteGuard::begin(&self.shared, &[rename.source(), rename.target()]);
        self.shared.inner.rename_key(rename).await
    }

    async fn get_all(&self) -> Result<Vec<Item>> {
        self.shared.inner.get_all().await
    }

    async fn get_many(&self, keys: &[SecretKey]) -> Result<Vec<Option<SecretValue>>> {
        self.shared.inner.get_many(keys).await
    }

    async fn get_all_batched(&self, sink: tokio::sync::mpsc::Sender<Vec<Item>>) -> Result<()> {
        self.shared.inner.get_all_batched(sink).await
    }
}

#[cfg(test)]
#[path = "cache_tests.rs"]
mod tests;
