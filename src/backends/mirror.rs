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
//! `get`, `list` and `get_all` read the primary. When the primary fails with a transient error
//! (throttled, unavailable), the secondary is tried once, bounded by `mirror_fallback_timeout_ms`
//! (default 2000), and a warning is logged; other errors are returned as they are.
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
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use super::{BackendConfig, Error, Result, SecretStore};
use crate::config::{backend_named, ConfigError, Settings};
use crate::domain::{Item, ListFilter, SecretKey, SecretValue};
use crate::migrate::drift::{self, Reconciled};

/// Settings keys this backend reads.
pub const KEYS: &[&str] = &[
    "mirror_primary",
    "mirror_secondary",
    "mirror_fallback_timeout_ms",
];

const STRIPES: usize = 64;
const CACHE_LIMIT: usize = 100_000;

/// Settings of the mirror backend.
#[derive(Debug, Clone)]
pub struct MirrorConfig {
    /// The backend reads come from and that wins on drift.
    pub primary: Box<BackendConfig>,
    /// The backend that is kept equal to the primary.
    pub secondary: Box<BackendConfig>,
    /// Bound of a read fallback to the secondary.
    pub fallback_timeout: Duration,
}

impl MirrorConfig {
    /// Reads `mirror_primary`, `mirror_secondary` (two different backends among local, aws,
    /// legacy_sql) and `mirror_fallback_timeout_ms`; each side reads its own keys.
    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        let why = "when backend = mirror (one of local, aws, legacy_sql)";
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
            primary: Box::new(backend_named(settings, "mirror_primary", &p)?),
            secondary: Box::new(backend_named(settings, "mirror_secondary", &s)?),
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
    diverged: Mutex<HashSet<SecretKey>>,
    fallbacks: AtomicU64,
    repairs: AtomicU64,
}

type BuildFuture<'a> = Pin<Box<dyn Future<Output = Result<Arc<dyn SecretStore>>> + Send + 'a>>;

fn build_boxed(config: &BackendConfig) -> BuildFuture<'_> {
    Box::pin(super::build(config))
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
        let primary = build_boxed(&config.primary).await?;
        let secondary = build_boxed(&config.secondary).await?;
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

    /// Reads answered by the secondary because the primary was unavailable.
    pub fn fallbacks(&self) -> u64 {
        self.fallbacks.load(Ordering::Relaxed)
    }

    /// Secondary values repaired by reads.
    pub fn repairs_on_read(&self) -> u64 {
        self.repairs.load(Ordering::Relaxed)
    }

    /// Compares both sides and (unless `dry_run`) writes the primary's missing and different
    /// secrets into the secondary; with `prune`, deletes secrets only in the secondary.
    pub async fn reconcile(
        &self,
        dry_run: bool,
        prune: bool,
    ) -> Result<Reconciled, crate::migrate::Error> {
        let out = drift::reconcile(
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

    async fn fallback<T, F, Fut>(&self, what: &str, primary_err: Error, op: F) -> Result<T>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        if !primary_err.is_transient() {
            return Err(primary_err);
        }
        self.fallbacks.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(error = %primary_err, secondary = self.secondary.name(),
            "mirror: primary unavailable for {what}; reading the secondary");
        match tokio::time::timeout(self.fallback_timeout, op()).await {
            Ok(Ok(v)) => Ok(v),
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
        "mirror"
    }

    async fn get(&self, key: &SecretKey) -> Result<Option<SecretValue>> {
        match self.primary.get(key).await {
            Ok(Some(v)) => {
                if !self.is_synced(key, &v.digest()) {
                    self.repair(key).await;
                }
                Ok(Some(v))
            }
            Ok(None) => Ok(None),
            Err(e) => self.fallback("get", e, || self.secondary.get(key)).await,
        }
    }

    async fn set(&self, key: &SecretKey, value: &SecretValue) -> Result<()> {
        let _g = self.locks[self.stripe(key)].lock().await;
        let prev = self
            .primary
            .get(key)
            .await
            .map_err(|e| context(e, "mirror: reading the primary before writing"))?;
        self.primary.set(key, value).await?;
        match self.secondary.set(key, value).await {
            Ok(()) => {
                self.remember(key, value.digest());
                Ok(())
            }
            Err(e) => Err(self.undo(vec![(key.clone(), prev)], e, "the write").await),
        }
    }

    async fn delete(&self, key: &SecretKey) -> Result<()> {
        let _g = self.locks[self.stripe(key)].lock().await;
        let prev = self
            .primary
            .get(key)
            .await
            .map_err(|e| context(e, "mirror: reading the primary before deleting"))?;
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
        match self.primary.list(filter).await {
            Ok(v) => Ok(v),
            Err(e) => {
                self.fallback("list", e, || self.secondary.list(filter))
                    .await
            }
        }
    }

    async fn rename(&self, key: &SecretKey, new_namespace: &str) -> Result<()> {
        if key.namespace() == new_namespace {
            return Ok(());
        }
        let target = key.with_namespace(new_namespace)?;
        let (a, b) = (self.stripe(key), self.stripe(&target));
        let _g1 = self.locks[a.min(b)].lock().await;
        let _g2 = if a != b {
            Some(self.locks[a.max(b)].lock().await)
        } else {
            None
        };
        let ctx = |e| context(e, "mirror: reading the primary before renaming");
        let prev_src = self.primary.get(key).await.map_err(ctx)?;
        let prev_dst = self.primary.get(&target).await.map_err(ctx)?;
        self.primary.rename(key, new_namespace).await?;
        match self.secondary.rename(key, new_namespace).await {
            Ok(()) => {
                let moved = lock(&self.synced).remove(key);
                match moved {
                    Some(d) => self.remember(&target, d),
                    None => self.forget(&target),
                }
                Ok(())
            }
            Err(e) => {
                let before = vec![(target, prev_dst), (key.clone(), prev_src)];
                Err(self.undo(before, e, "the rename").await)
            }
        }
    }

    async fn get_all(&self) -> Result<Vec<Item>> {
        let items = match self.primary.get_all().await {
            Ok(v) => v,
            Err(e) => {
                return self
                    .fallback("get_all", e, || self.secondary.get_all())
                    .await
            }
        };
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
