//! Test support for the migration and mirror tests: in-memory stores and a fault-injecting
//! decorator (quota throttling, permanent failures, unavailability, corrupted read-back).
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use secrets_broker::backends::memory::MemoryStore;
use secrets_broker::backends::{Error, Result, SecretStore};
use secrets_broker::config::{backend_from_settings, Settings};
use secrets_broker::domain::{Item, ListFilter, Rename, SecretKey, SecretValue};
use tokio::time::Instant;

/// A new, empty store of the `memory` backend (the engine's own tests need a store that is fast
/// and has no files).
pub fn mem_store() -> Arc<MemoryStore> {
    Arc::new(MemoryStore::new())
}

/// A decorator that injects faults into another store.
#[derive(Debug)]
pub struct Faulty {
    pub inner: Arc<dyn SecretStore>,
    /// Writes (set/delete) allowed per second; beyond it `Throttled` (token bucket, burst = rate).
    pub write_quota: Option<f64>,
    bucket: Mutex<(f64, Option<Instant>)>,
    /// Writes to keys in these namespaces fail permanently.
    pub fail_namespaces: Mutex<HashSet<String>>,
    /// Reads of keys in these namespaces return a different value.
    pub corrupt_namespaces: Mutex<HashSet<String>>,
    /// Every call fails with `Unavailable`.
    pub unavailable: AtomicBool,
    /// Every write fails permanently.
    pub writes_broken: AtomicBool,
    /// After this many successful writes, every write fails permanently (0 = never).
    pub break_after_writes: AtomicU64,
    pub writes: AtomicU64,
    pub throttled: AtomicU64,
}

impl Faulty {
    pub fn new(inner: Arc<dyn SecretStore>) -> Self {
        Self {
            inner,
            write_quota: None,
            bucket: Mutex::new((0.0, None)),
            fail_namespaces: Mutex::default(),
            corrupt_namespaces: Mutex::default(),
            unavailable: AtomicBool::new(false),
            writes_broken: AtomicBool::new(false),
            break_after_writes: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            throttled: AtomicU64::new(0),
        }
    }

    pub fn with_quota(mut self, per_sec: f64) -> Self {
        self.write_quota = Some(per_sec);
        self
    }

    /// From now on, writes to keys in `namespace` fail permanently.
    pub fn fail_writes_to(&self, namespace: &str) {
        self.fail_namespaces
            .lock()
            .unwrap()
            .insert(namespace.to_string());
    }

    /// From now on, writes to every namespace succeed again.
    pub fn stop_failing_writes(&self) {
        self.fail_namespaces.lock().unwrap().clear();
    }

    fn check_available(&self) -> Result<()> {
        if self.unavailable.load(Ordering::SeqCst) {
            return Err(Error::Unavailable("injected: store unavailable".into()));
        }
        Ok(())
    }

    fn check_write(&self, key: &SecretKey) -> Result<()> {
        self.check_available()?;
        if self.writes_broken.load(Ordering::SeqCst) {
            return Err(Error::Storage("injected: writes broken".into()));
        }
        let limit = self.break_after_writes.load(Ordering::SeqCst);
        if limit > 0 && self.writes.load(Ordering::SeqCst) >= limit {
            return Err(Error::Storage("injected: store broke".into()));
        }
        if self
            .fail_namespaces
            .lock()
            .unwrap()
            .contains(key.namespace())
        {
            return Err(Error::PermissionDenied(format!(
                "injected: no write access to {key}"
            )));
        }
        if let Some(rate) = self.write_quota {
            let mut b = self.bucket.lock().unwrap();
            let now = Instant::now();
            let tokens = match b.1 {
                None => rate,
                Some(t) => (b.0 + now.duration_since(t).as_secs_f64() * rate).min(rate),
            };
            if tokens < 1.0 {
                *b = (tokens, Some(now));
                self.throttled.fetch_add(1, Ordering::SeqCst);
                return Err(Error::Throttled("injected: rate exceeded".into()));
            }
            *b = (tokens - 1.0, Some(now));
        }
        Ok(())
    }
}

#[async_trait]
impl SecretStore for Faulty {
    fn name(&self) -> &'static str {
        "faulty"
    }
    async fn get(&self, key: &SecretKey) -> Result<Option<SecretValue>> {
        self.check_available()?;
        let v = self.inner.get(key).await?;
        if self
            .corrupt_namespaces
            .lock()
            .unwrap()
            .contains(key.namespace())
        {
            return Ok(Some(SecretValue::new("corrupted").unwrap()));
        }
        Ok(v)
    }
    async fn set(&self, key: &SecretKey, value: &SecretValue) -> Result<()> {
        self.check_write(key)?;
        self.inner.set(key, value).await?;
        self.writes.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
    async fn delete(&self, key: &SecretKey) -> Result<()> {
        self.check_write(key)?;
        self.inner.delete(key).await?;
        self.writes.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
    async fn list(&self, filter: &ListFilter) -> Result<Vec<SecretKey>> {
        self.check_available()?;
        self.inner.list(filter).await
    }
    async fn rename_key(&self, rename: &Rename) -> Result<()> {
        self.check_write(rename.source())?;
        self.inner.rename_key(rename).await
    }
    async fn get_all(&self) -> Result<Vec<Item>> {
        self.check_available()?;
        self.inner.get_all().await
    }
}

/// `n` secrets in a few orgs and namespaces, with distinct values (some unicode, some large).
pub fn sample(n: usize) -> Vec<(SecretKey, String)> {
    (0..n)
        .map(|i| {
            let key = SecretKey::new((i % 3) as i64 + 1, format!("ds-{i:05} é/🔑"), "datasource")
                .unwrap();
            let value = if i % 97 == 0 {
                format!("{{\"password\":\"{}\"}}", "x".repeat(4000 + i))
            } else {
                format!("{{\"password\":\"secret-{i}-ü\"}}")
            };
            (key, value)
        })
        .collect()
}

pub async fn fill(store: &dyn SecretStore, items: &[(SecretKey, String)]) {
    for (k, v) in items {
        store
            .set(k, &SecretValue::new(v.clone()).unwrap())
            .await
            .unwrap();
    }
}

/// Every (key, value) of a store, sorted.
pub async fn contents(store: &dyn SecretStore) -> Vec<(SecretKey, String)> {
    let mut v: Vec<_> = store
        .get_all()
        .await
        .unwrap()
        .into_iter()
        .map(|i| (i.key, i.value.expose().to_string()))
        .collect();
    v.sort();
    v
}

/// The store a TOML settings file describes (as the CLI's `--from`/`--to` open it).
pub async fn open(settings_file: &Path) -> Arc<dyn SecretStore> {
    let s = Settings::from_toml_file(settings_file).unwrap();
    secrets_broker::backends::build(&backend_from_settings(&s).unwrap())
        .await
        .unwrap()
}

/// How many secrets a migration checkpoint file records as done (0 while it does not exist or
/// is being rewritten).
pub fn checkpoint_entries(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v["done"].as_array().map(Vec::len))
        .unwrap_or(0)
}

/// The CLI's arguments for a checkpointed migration between two settings files, followed by
/// `more`.
pub fn checkpointed_migration(
    from: &Path,
    to: &Path,
    checkpoint: &Path,
    more: &[&str],
) -> Vec<String> {
    let path = |p: &Path| p.to_str().expect("a UTF-8 path").to_string();
    let mut args = vec![
        "migrate".to_string(),
        "--from".to_string(),
        path(from),
        "--to".to_string(),
        path(to),
        "--checkpoint".to_string(),
        path(checkpoint),
    ];
    args.extend(more.iter().map(|a| a.to_string()));
    args
}
