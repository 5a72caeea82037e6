//! The `memory` backend: secrets held in this process's memory only, lost when it exits. For
//! trying the broker out, for tests that need a real store without files or services, and as a
//! throwaway side of a `mirror`. It reads no settings.
//!
//! Values are [`SecretValue`]s, whose buffers are wiped when they drop: on delete, on overwrite
//! (the replaced value is dropped), on rename onto an existing key, and when the store drops.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;

use super::{Backend, BackendSettings, Result, SecretStore};
use crate::domain::{Item, ListFilter, Rename, SecretKey, SecretValue};

/// Settings keys this backend reads (none).
pub const KEYS: &[&str] = &[];

/// This backend's entry in [`crate::backends::BACKENDS`].
pub static BACKEND: Backend = Backend {
    name: "memory",
    description: "in this process's memory only; everything is lost when it exits",
    keys: KEYS,
    decorator: false,
    migration_rate: None,
    configure: |_| Ok(Arc::new(MemoryConfig)),
};

/// Settings of the memory backend: there are none; each open is a new, empty store.
#[derive(Debug, Clone, Copy, Default)]
pub struct MemoryConfig;

#[async_trait]
impl BackendSettings for MemoryConfig {
    async fn open(&self) -> Result<Arc<dyn SecretStore>> {
        Ok(Arc::new(MemoryStore::new()))
    }

    async fn diagnose(&self, _probe: &super::diagnosis::Probe) -> Vec<super::diagnosis::Finding> {
        vec![super::diagnosis::Finding::warning(
            "memory",
            "backend memory",
            "keeps secrets only in the plugin's memory: Grafana's secrets are lost whenever the \
             plugin or Grafana restarts",
            "backend = local   (or aws / legacy_sql, in [plugin.secretsbroker-secretsmanager])",
        )]
    }
}

/// An in-process store: a sorted map from key to value behind a read-write lock (never held
/// across an `await`).
#[derive(Default)]
pub struct MemoryStore {
    secrets: RwLock<BTreeMap<SecretKey, SecretValue>>,
}

/// Shows only how many secrets it holds (no keys, no values).
impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("secrets", &self.len())
            .finish()
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many secrets it holds.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether it holds no secret.
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    // A panic while the lock was held cannot leave the map half-changed (every change is one
    // map call), so a poisoned lock is used as it is.
    fn read(&self) -> RwLockReadGuard<'_, BTreeMap<SecretKey, SecretValue>> {
        self.secrets.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, BTreeMap<SecretKey, SecretValue>> {
        self.secrets.write().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl SecretStore for MemoryStore {
    fn name(&self) -> &'static str {
        BACKEND.name
    }

    async fn get(&self, key: &SecretKey) -> Result<Option<SecretValue>> {
        Ok(self.read().get(key).cloned())
    }

    async fn set(&self, key: &SecretKey, value: &SecretValue) -> Result<()> {
        // The replaced value, if any, drops (and is wiped) here.
        self.write().insert(key.clone(), value.clone());
        Ok(())
    }

    async fn delete(&self, key: &SecretKey) -> Result<()> {
        self.write().remove(key);
        Ok(())
    }

    async fn list(&self, filter: &ListFilter) -> Result<Vec<SecretKey>> {
        Ok(self
            .read()
            .keys()
            .filter(|key| filter.matches(key))
            .cloned()
            .collect())
    }

    async fn rename_key(&self, rename: &Rename) -> Result<()> {
        if rename.is_noop() {
            return Ok(());
        }
        let mut secrets = self.write();
        if let Some(value) = secrets.remove(rename.source()) {
            secrets.insert(rename.target().clone(), value);
        }
        Ok(())
    }

    async fn get_all(&self) -> Result<Vec<Item>> {
        Ok(self
            .read()
            .iter()
            .map(|(key, value)| Item {
                key: key.clone(),
                value: value.clone(),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(ns: &str) -> SecretKey {
        SecretKey::new(1, ns, "datasource").unwrap()
    }

    #[tokio::test]
    async fn debug_shows_neither_keys_nor_values() {
        let store = MemoryStore::new();
        store
            .set(&key("db-name"), &SecretValue::new("hunter2").unwrap())
            .await
            .unwrap();
        let shown = format!("{store:?}");
        assert_eq!(shown, "MemoryStore { secrets: 1 }");
    }

    #[tokio::test]
    async fn each_open_is_a_new_empty_store() {
        let config = super::super::settings::Settings::default();
        let config = super::super::BackendConfig::from_settings(&BACKEND, &config).unwrap();
        let a = super::super::build(&config).await.unwrap();
        a.set(&key("a"), &SecretValue::new("v").unwrap())
            .await
            .unwrap();
        let b = super::super::build(&config).await.unwrap();
        assert_eq!(b.get(&key("a")).await.unwrap(), None);
        assert_eq!(a.name(), "memory");
    }
}
