//! The embedded `local` backend on sled (the default). Placeholder until the backend lands.

use std::path::PathBuf;

use async_trait::async_trait;

use super::{Error, Result, SecretStore};
use crate::config::{ConfigError, Settings};
use crate::domain::{Item, ListFilter, SecretKey, SecretValue};

/// Settings keys this backend reads.
pub const KEYS: &[&str] = &["data_dir", "encryption_key", "encryption_key_file"];

/// Settings of the local backend.
#[derive(Debug, Clone)]
pub struct LocalConfig {
    /// Directory holding the sled database and the key file.
    pub data_dir: PathBuf,
}

impl LocalConfig {
    /// Reads this backend's keys.
    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        Ok(Self {
            data_dir: settings
                .get("data_dir")
                .map(PathBuf::from)
                .unwrap_or_default(),
        })
    }
}

/// The local store.
#[derive(Debug)]
pub struct LocalStore;

impl LocalStore {
    /// Opens the store.
    pub fn open(_config: &LocalConfig) -> Result<Self> {
        Err(Error::Config("the local backend is not built yet".into()))
    }
}

#[async_trait]
impl SecretStore for LocalStore {
    fn name(&self) -> &'static str {
        "local"
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
