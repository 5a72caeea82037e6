//! The `mirror` backend: a dual-write decorator over two other backends (`mirror_primary`,
//! `mirror_secondary`, both configured from the same settings), with read fallback and
//! reconciliation of out-of-band changes (such as an AWS rotation) into the secondary.
//!
//! # Writes (`set`, `delete`, `rename`)
//! Serialized per key inside this process. Each first reads the primary's current value(s), then
//! applies the change to the primary, then to the secondary. It succeeds only when both did.
//! - Primary fails: nothing was changed; its error is returned.
//! - Primary succeeds, secondary fails: the primary is **rolled back** to the value(s) read before
//!   (re-set, or deleted if the key was absent) and the secondary's error is returned (same kind,
//!   so a throttled secondary is still reported as transient and Grafana may retry). No write is
//!   lost (the caller is told it failed) and the stores do not diverge.
//! - The rollback fails too: the error says so and names `reconcile`; the key is recorded as
//!   diverged ([`MirrorStore::diverged`]) and logged; its next read compares both sides and
//!   copies the primary's value to the secondary.
//! - A secondary failure that actually landed (a timeout after the write) leaves the secondary
//!   ahead of the rolled-back primary; the next read of the key or `reconcile` sets it back to the
//!   primary's value (the primary is the source of truth).
//!
//! # Reads
//! `get`, `list` and `get_all` read the primary. Only `get` falls back to the secondary, and only
//! to a value known to be the primary's: when the primary fails with a transient error
//! (throttled, unavailable), the secondary is read once, bounded by `mirror_fallback_timeout_ms`
//! (default 2000), and its value is answered only if it equals the last value this process read
//! from or wrote to the primary for that key (compared by digest). Otherwise (nothing known for
//! the key, e.g. after a restart; the secondary holds another value or none) the primary's
//! transient error is returned: Grafana updates a data source by read, merge, write, so a stale
//! or missing answer would be written back over the primary. A fallback never answers "absent".
//! `list` and `get_all` never fall back (a partial or stale list cannot be checked, and
//! GetAllSecrets feeds Grafana's from-plugin migration, which deletes what it copied).
//!
//! What the mirror knows of the primary is one SHA-256 per key (over the key and the value,
//! never the value itself), at most [`KNOWN_LIMIT`] keys (about 50 bytes each, ~5 MB at the
//! limit; beyond it an arbitrary key is forgotten, which only disables its fallback). A write
//! forgets the key while it runs and records the new value once the primary took it; a read
//! records what it saw only if no write started meanwhile.
//!
//! # Reconciliation
//! A digest cache remembers, per key, the SHA-256 that both sides are known to hold. A `get` whose
//! primary value has another digest (or an uncached key) re-reads the primary under the key's
//! lock, reads the secondary and, if they differ, writes the primary's value to the secondary.
//! `get_all` repairs cached keys whose digest changed. [`MirrorStore::reconcile`] (the `reconcile`
//! command) compares everything and repairs missing and different secrets; secrets only in the
//! secondary are reported, and deleted only with `prune`. A read never deletes from the secondary.

use std::collections::{HashMap, HashSet};
use std::fmt::Display;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use super::backend_named;
use super::reconcile::{self, CompareError, Reconciled};
use super::settings::{ConfigError, Settings};
use super::{Backend, BackendConfig, BackendSettings, Error, Result, SecretStore};
use crate::domain::{Item, ListFilter, Rename, SecretKey, SecretValue};

/// Settings keys this backend reads.
pub const KEYS: &[&str] = &[
    "mirror_primary",
    "mirror_secondary",
    "mirror_fallback_timeout_ms",
];

/// This backend's entry in [`crate::backends::BACKENDS`].
pub static BACKEND: Backend = Backend {
    name: "mirror",
    description: "writes to two other backends at once (for moving between them)",
    keys: KEYS,
    decorator: true,
    migration_rate: None,
    configure: |settings| Ok(Arc::new(MirrorConfig::from_settings(settings)?)),
};

#[async_trait]
impl BackendSettings for MirrorConfig {
    async fn open(&self) -> Result<Arc<dyn SecretStore>> {
        Ok(Arc::new(MirrorStore::open(self).await?))
    }

    /// Reads come from the primary: cached by default when the primary's reads are.
    fn read_cache_by_default(&self) -> bool {
        self.primary.read_cache_by_default()
    }

    /// Both sides' checks, each finding named after its side.
    async fn diagnose(&self, probe: &super::diagnosis::Probe) -> Vec<super::diagnosis::Finding> {
        let mut out = Vec::new();
        for (side, config) in [("primary", &self.primary), ("secondary", &self.secondary)] {
            let label = format!("mirror {side} ({})", config.name());
            out.extend(
                super::diagnose(config, probe)
                    .await
                    .into_iter()
                    .map(|f| f.within(&format!("mirror_{side}"), &label)),
            );
        }
        out
    }
}

const STRIPES: usize = 64;
const CACHE_LIMIT: usize = 100_000;
/// Most keys whose primary value the mirror remembers (by digest) for fallback reads.
pub const KNOWN_LIMIT: usize = 100_000;

/// The digest of the primary's last known value of each key (a slot per key: a 64-bit hash of
/// the key; the digest covers key and value, so two keys sharing a slot can never match each
/// other's value, they only forget each other).
#[derive(Debug, Default)]
struct KnownPrimary {
    digests: HashMap<u64, [u8; 32]>,
    /// Advanced whenever a write starts or ends, so a read that raced a write records nothing.
    epoch: u64,
}

fn slot(key: &SecretKey) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    h.finish()
}

/// SHA-256 of the key and the value (length-prefixed parts, so no two pairs collide by
/// concatenation).
fn keyed_digest(key: &SecretKey, value: &SecretValue) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(key.org_id().to_le_bytes());
    for part in [key.namespace(), key.kind(), value.expose()] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    h.finalize().into()
}

/// Settings of the mirror backend.
#[derive(Debug, Clone)]
pub struct MirrorConfig {
    /// The backend reads come from and that wins on drift.
    pub primary: BackendConfig,
    /// The backend that is kept equal to the primary.
    pub secondary: BackendConfig,
    /// Bound of a read fallback to the secondary.
    pub fallback_timeout: Duration,
}

impl MirrorConfig {
    /// Reads `mirror_primary`, `mirror_secondary` (two different backends that are not
    /// decorators, see [`super::store_names`]) and `mirror_fallback_timeout_ms`; each side reads
    /// its own keys.
    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        let why = format!(
            "when backend = mirror (one of {})",
            super::store_names().join(", ")
        );
        let why = why.as_str();
        let p = settings.require("mirror_primary", why)?.trim().to_string();
        let s = settings
            .require("mirror_secondary", why)?
            .trim()
            .to_string();
        if p == s {
            return Err(settings.error(
                "mirror_secondary",
                "must name another backend than mirror_primary (both sides read the same settings)",
            ));
        }
        let ms: u64 = settings
            .parse("mirror_fallback_timeout_ms", "a number of milliseconds")?
            .unwrap_or(2000);
        Ok(Self {
            primary: backend_named(settings, "mirror_primary", &p)?,
            secondary: backend_named(settings, "mirror_secondary", &s)?,
            fallback_timeout: Duration::from_millis(ms),
        })
    }
}

/// Dual-write store over a primary and a secondary.
#[derive(Debug)]
pub struct MirrorStore {
    primary: Arc<dyn SecretStore>,
    secondary: Arc<dyn SecretStore>,
    fallback_timeout: Duration,
    locks: Vec<tokio::sync::Mutex<()>>,
    synced: Mutex<HashMap<SecretKey, String>>,
    known: Mutex<KnownPrimary>,
    diverged: Mutex<HashSet<SecretKey>>,
    fallbacks: AtomicU64,
    repairs: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The same kind of error with `ctx` in front of its message (keeps `is_transient`).
fn context(e: Error, ctx: impl Display) -> Error {
    match e {
        Error::InvalidInput(i) => Error::InvalidInput(i),
        Error::Config(m) => Error::Config(format!("{ctx}: {m}")),
        Error::PermissionDenied(m) => Error::PermissionDenied(format!("{ctx}: {m}")),
        Error::Throttled(m) => Error::Throttled(format!("{ctx}: {m}")),
        Error::Unavailable(m) => Error::Unavailable(format!("{ctx}: {m}")),
        Error::Conflict(m) => Error::Conflict(format!("{ctx}: {m}")),
        Error::NotOwned(m) => Error::NotOwned(format!("{ctx}: {m}")),
        Error::Crypto(m) => Error::Crypto(format!("{ctx}: {m}")),
        Error::Corrupt(m) => Error::Corrupt(format!("{ctx}: {m}")),
        Error::Storage(m) => Error::Storage(format!("{ctx}: {m}")),
    }
}

impl MirrorStore {
    /// Opens both configured backends.
    pub async fn open(config: &MirrorConfig) -> Result<Self> {
        let primary = super::build(&config.primary).await?;
        let secondary = super::build(&config.secondary).await?;
        Ok(Self::new(primary, secondary, config.fallback_timeout))
    }

    /// Mirrors over two already open stores.
    pub fn new(
        primary: Arc<dyn SecretStore>,
        secondary: Arc<dyn SecretStore>,
        fallback_timeout: Duration,
    ) -> Self {
        Self {
            primary,
            secondary,
            fallback_timeout,
            locks: (0..STRIPES).map(|_| tokio::sync::Mutex::new(())).collect(),
            synced: Mutex::new(HashMap::new()),
            known: Mutex::new(KnownPrimary::default()),
            diverged: Mutex::new(HashSet::new()),
            fallbacks: AtomicU64::new(0),
            repairs: AtomicU64::new(0),
        }
    }

    /// The primary store.
    pub fn primary(&self) -> &Arc<dyn SecretStore> {
        &self.primary
    }

    /// The secondary store.
    pub fn secondary(&self) -> &Arc<dyn SecretStore> {
        &self.secondary
    }

    /// Keys whose rollback failed, so the two sides may differ until repaired.
    pub fn diverged(&self) -> Vec<SecretKey> {
        lock(&self.diverged).iter().cloned().collect()
    }

    /// Reads answered by the secondary (with a value known to be the primary's) because the
    /// primary was unavailable.
    pub fn fallbacks(&self) -> u64 {
        self.fallbacks.load(Ordering::Relaxed)
    }

    /// Secondary values repaired by reads.
    pub fn repairs_on_read(&self) -> u64 {
        self.repairs.load(Ordering::Relaxed)
    }

    /// Compares both sides and (unless `dry_run`) writes the primary's missing and different
    /// secrets into the secondary; with `prune`, deletes secrets only in the secondary.
    pub async fn reconcile(&self, dry_run: bool, prune: bool) -> Result<Reconciled, CompareError> {
        let out = reconcile::reconcile(
            self.primary.as_ref(),
            self.secondary.as_ref(),
            dry_run,
            prune,
        )
        .await?;
        if !dry_run {
            lock(&self.synced).clear();
            if out.failures.is_empty() {
                lock(&self.diverged).clear();
            }
        }
        Ok(out)
    }

    /// The primary's value of `key` before a write changes it (to undo the write with), read
    /// under the key's lock; `change` names the write in the error ("writing", "deleting").
    async fn before_change(&self, key: &SecretKey, change: &str) -> Result<Option<SecretValue>> {
        self.primary
            .get(key)
            .await
            .map_err(|e| context(e, format!("mirror: reading the primary before {change}")))
    }

    fn stripe(&self, key: &SecretKey) -> usize {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut h);
        (h.finish() as usize) % STRIPES
    }

    fn remember(&self, key: &SecretKey, digest: String) {
        let mut c = lock(&self.synced);
        if c.len() >= CACHE_LIMIT {
            c.clear();
        }
        c.insert(key.clone(), digest);
        lock(&self.diverged).remove(key);
    }

    fn forget(&self, key: &SecretKey) {
        lock(&self.synced).remove(key);
    }

    fn is_synced(&self, key: &SecretKey, digest: &str) -> bool {
        lock(&self.synced).get(key).is_some_and(|d| d == digest)
    }

    /// Brings the secondary to the primary's value for `key` (under the key's lock). Failures
    /// are logged, not returned: the read that noticed the drift already has its answer.
    async fn repair(&self, key: &SecretKey) {
        let _g = self.locks[self.stripe(key)].lock().await;
        let result: Result<()> = async {
            let Some(p) = self.primary.get(key).await? else {
                return Ok(());
            };
            // Read under the key's lock, so no write of this key is in flight.
            self.primary_holds(key, &p);
            let digest = p.digest();
            let s = self.secondary.get(key).await?;
            if s.as_ref().map(SecretValue::digest).as_deref() != Some(digest.as_str()) {
                self.secondary.set(key, &p).await?;
                self.repairs.fetch_add(1, Ordering::Relaxed);
                tracing::info!(%key, secondary = self.secondary.name(),
                    "mirror: the primary's value changed out of band; secondary updated");
            }
            self.remember(key, digest);
            Ok(())
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(%key, error = %e, "mirror: could not reconcile the secondary on read");
        }
    }

    /// The epoch before a primary read, for [`Self::primary_read`].
    fn epoch(&self) -> u64 {
        lock(&self.known).epoch
    }

    /// A write on `keys` starts: the primary's value is unknown until it ends.
    fn write_started(&self, keys: &[&SecretKey]) {
        let mut k = lock(&self.known);
        k.epoch += 1;
        for key in keys {
            k.digests.remove(&slot(key));
        }
    }

    /// The primary now holds `value` for `key` (written, or read under the key's lock).
    fn primary_holds(&self, key: &SecretKey, value: &SecretValue) {
        let digest = keyed_digest(key, value);
        let mut k = lock(&self.known);
        k.epoch += 1;
        Self::put_known(&mut k, key, digest);
    }

    fn put_known(k: &mut KnownPrimary, key: &SecretKey, digest: [u8; 32]) {
        let s = slot(key);
        if k.digests.len() >= KNOWN_LIMIT && !k.digests.contains_key(&s) {
            if let Some(evict) = k.digests.keys().next().copied() {
                k.digests.remove(&evict);
            }
        }
        k.digests.insert(s, digest);
    }

    /// A read of the primary that started at `epoch` saw `value`: remembered only if no write
    /// started or ended since (the read may have seen a value the write then replaced).
    fn primary_read(&self, key: &SecretKey, value: Option<&SecretValue>, epoch: u64) {
        let mut k = lock(&self.known);
        match value {
            None => {
                k.digests.remove(&slot(key));
            }
            Some(v) if k.epoch == epoch => Self::put_known(&mut k, key, keyed_digest(key, v)),
            Some(_) => {}
        }
    }

    /// Answers `get` from the secondary after the primary failed with `primary_err`, but only
    /// with a value known to equal the primary's last one; otherwise `primary_err`.
    async fn fallback_get(
        &self,
        key: &SecretKey,
        primary_err: Error,
    ) -> Result<Option<SecretValue>> {
        if !primary_err.is_transient() {
            return Err(primary_err);
        }
        let Some(expected) = lock(&self.known).digests.get(&slot(key)).copied() else {
            return Err(context(
                primary_err,
                "mirror: primary failed; no fallback to the secondary because this process has \
                 not seen the primary's current value of this secret",
            ));
        };
        let side = self.secondary.name();
        match tokio::time::timeout(self.fallback_timeout, self.secondary.get(key)).await {
            Ok(Ok(Some(v))) if keyed_digest(key, &v) == expected => {
                self.fallbacks.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%key, error = %primary_err, secondary = side,
                    "mirror: primary unavailable; answered from the secondary (same value as the primary's last)");
                Ok(Some(v))
            }
            Ok(Ok(_)) => {
                tracing::warn!(%key, error = %primary_err, secondary = side,
                    "mirror: primary unavailable and the secondary's copy differs from the primary's last value; no fallback");
                Err(context(
                    primary_err,
                    format_args!(
                        "mirror: primary failed; the secondary ({side}) holds another value or none, \
                         so it cannot answer for the primary"
                    ),
                ))
            }
            Ok(Err(e)) => Err(context(
                primary_err,
                format_args!("mirror: primary failed and the secondary fallback failed too ({e})"),
            )),
            Err(_) => Err(context(
                primary_err,
                format_args!(
                    "mirror: primary failed and the secondary did not answer within {:?}",
                    self.fallback_timeout
                ),
            )),
        }
    }

    /// Restores the primary to `before` (key → previous value or absent) after the secondary
    /// failed with `err`; returns the error to give the caller.
    async fn undo(
        &self,
        before: Vec<(SecretKey, Option<SecretValue>)>,
        err: Error,
        op: &str,
    ) -> Error {
        let mut undo_err = None;
        for (key, prev) in &before {
            let r = match prev {
                Some(v) => self.primary.set(key, v).await,
                None => self.primary.delete(key).await,
            };
            if let Err(e) = r {
                undo_err.get_or_insert(e);
            }
        }
        let side = self.secondary.name();
        match undo_err {
            None => context(
                err,
                format_args!(
                    "mirror: {op} failed on the secondary ({side}) and was undone on the primary"
                ),
            ),
            Some(e2) => {
                for (key, _) in &before {
                    self.forget(key);
                    lock(&self.diverged).insert(key.clone());
                }
                tracing::error!(keys = ?before.iter().map(|(k, _)| k).collect::<Vec<_>>(), error = %e2,
                    "mirror: undoing a write on the primary failed; the sides differ until reconciled");
                context(
                    err,
                    format_args!(
                        "mirror: {op} failed on the secondary ({side}) and undoing it on the primary failed too ({e2}); \
                         the primary holds the new value: run `secrets-broker reconcile`"
                    ),
                )
            }
        }
    }
}

#[async_trait]
impl SecretStore for MirrorStore {
    fn name(&self) -> &'static str {
        BACKEND.name
    }

    async fn get(&self, key: &SecretKey) -> Result<Option<SecretValue>> {
        let epoch = self.epoch();
        match self.primary.get(key).await {
            Ok(Some(v)) => {
                self.primary_read(key, Some(&v), epoch);
                if !self.is_synced(key, &v.digest()) {
                    self.repair(key).await;
                }
                Ok(Some(v))
            }
            Ok(None) => {
                self.primary_read(key, None, epoch);
                Ok(None)
            }
            Err(e) => self.fallback_get(key, e).await,
        }
    }

    async fn set(&self, key: &SecretKey, value: &SecretValue) -> Result<()> {
        let _g = self.locks[self.stripe(key)].lock().await;
        let prev = self.before_change(key, "writing").await?;
        self.write_started(&[key]);
        self.primary.set(key, value).await?;
        self.primary_holds(key, value);
        match self.secondary.set(key, value).await {
            Ok(()) => {
                self.remember(key, value.digest());
                Ok(())
            }
            Err(e) => {
                self.write_started(&[key]);
                Err(self.undo(vec![(key.clone(), prev)], e, "the write").await)
            }
        }
    }

    async fn delete(&self, key: &SecretKey) -> Result<()> {
        let _g = self.locks[self.stripe(key)].lock().await;
        let prev = self.before_change(key, "deleting").await?;
        self.write_started(&[key]);
        self.primary.delete(key).await?;
        match self.secondary.delete(key).await {
            Ok(()) => {
                self.forget(key);
                Ok(())
            }
            Err(e) => Err(self.undo(vec![(key.clone(), prev)], e, "the delete").await),
        }
    }

    async fn list(&self, filter: &ListFilter) -> Result<Vec<SecretKey>> {
        self.primary.list(filter).await
    }

    async fn rename_key(&self, rename: &Rename) -> Result<()> {
        if rename.is_noop() {
            return Ok(());
        }
        let (key, target) = (rename.source(), rename.target());
        let (a, b) = (self.stripe(key), self.stripe(target));
        let _g1 = self.locks[a.min(b)].lock().await;
        let _g2 = if a != b {
            Some(self.locks[a.max(b)].lock().await)
        } else {
            None
        };
        let prev_src = self.before_change(key, "renaming").await?;
        let prev_dst = self.before_change(target, "renaming").await?;
        self.write_started(&[key, target]);
        self.primary.rename_key(rename).await?;
        match self.secondary.rename_key(rename).await {
            Ok(()) => {
                // Under both keys' locks: the primary now holds the source's old value (if any)
                // under the new name.
                if let Some(v) = &prev_src {
                    self.primary_holds(target, v);
                } else if let Some(v) = &prev_dst {
                    self.primary_holds(target, v);
                }
                let moved = lock(&self.synced).remove(key);
                match moved {
                    Some(d) => self.remember(target, d),
                    None => self.forget(target),
                }
                Ok(())
            }
            Err(e) => {
                self.write_started(&[key, target]);
                let before = vec![(target.clone(), prev_dst), (key.clone(), prev_src)];
                Err(self.undo(before, e, "the rename").await)
            }
        }
    }

    async fn get_all(&self) -> Result<Vec<Item>> {
        let epoch = self.epoch();
        let items = self.primary.get_all().await?;
        for i in &items {
            self.primary_read(&i.key, Some(&i.value), epoch);
        }
        let stale: Vec<SecretKey> = {
            let c = lock(&self.synced);
            items
                .iter()
                .filter(|i| c.get(&i.key).is_some_and(|d| *d != i.value.digest()))
                .map(|i| i.key.clone())
                .collect()
        };
        for key in stale {
            self.repair(&key).await;
        }
        Ok(items)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn known_primary_values_stay_bounded_and_keyed() {
        let mut known = KnownPrimary::default();
        let value = SecretValue::new("v").unwrap();
        for i in 0..KNOWN_LIMIT + 10 {
            let key = SecretKey::new(1, format!("ds {i}"), "datasource").unwrap();
            MirrorStore::put_known(&mut known, &key, keyed_digest(&key, &value));
        }
        assert_eq!(known.digests.len(), KNOWN_LIMIT);
        // The same value under two keys has two digests: a slot shared by two keys never
        // vouches for the other key's value.
        let a = SecretKey::new(1, "a", "datasource").unwrap();
        let b = SecretKey::new(1, "b", "datasource").unwrap();
        assert_ne!(keyed_digest(&a, &value), keyed_digest(&b, &value));
    }
}
