//! The `legacy_sql` backend. Placeholder until it lands.

use std::path::PathBuf;

use async_trait::async_trait;

use super::{Error, Result, SecretStore};
use crate::config::{ConfigError, Settings};
use crate::domain::{Item, ListFilter, SecretKey, SecretValue};

/// Settings keys this backend reads.
pub const KEYS: &[&str] = &[];

/// Settings of the legacy_sql backend.
#[derive(Debug, Clone)]
pub struct LegacySqlConfig {
    /// Directory holding the sled database and the key file.
    pub data_dir: PathBuf,
}

impl LegacySqlConfig {
    /// Reads this backend's keys.
    pub fn from_settings(_settings: &Settings) -> Result<Self, ConfigError> {
        Ok(Self {
            data_dir: PathBuf::new(),
        })
    }
}

/// The local store.
#[derive(Debug)]
pub struct LegacySqlStore;

impl LegacySqlStore {
    /// Opens the store.
    pub async fn open(_config: &LegacySqlConfig) -> Result<Self> {
        Err(Error::Config(
            "the legacy_sql backend is not built yet".into(),
        ))
    }
}

#[async_trait]
impl SecretStore for LegacySqlStore {
    fn name(&self) -> &'static str {
        "legacy_sql"
    }
    async fn get(&self, _key: &SecretKey) -> Result<Option<SecretValue>> {
        unreachable!()
    }
    async fn set(&self, _key: &SecretKey, _value: &SecretValue) -> Result<()> {
        unreachable!()
    }
    async fn delete(&self, _key: &SecretKey) -> Result<()> {
        unreachable!()
    }
    async fn list(&self, _filter: &ListFilter) -> Result<Vec<SecretKey>> {
        unreachable!()
    }
    async fn rename(&self, _key: &SecretKey, _new_namespace: &str) -> Result<()> {
        unreachable!()
    }
    async fn get_all(&self) -> Result<Vec<Item>> {
        unreachable!()
    }
}
