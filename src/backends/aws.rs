//! The `aws` backend. Placeholder until it lands.

use std::path::PathBuf;

use async_trait::async_trait;

use super::{Error, Result, SecretStore};
use crate::config::{ConfigError, Settings};
use crate::domain::{Item, ListFilter, SecretKey, SecretValue};

/// Settings keys this backend reads.
pub const KEYS: &[&str] = &[];

/// Settings of the aws backend.
#[derive(Debug, Clone)]
pub struct AwsConfig {
    /// Directory holding the sled database and the key file.
    pub data_dir: PathBuf,
}

impl AwsConfig {
    /// Reads this backend's keys.
    pub fn from_settings(_settings: &Settings) -> Result<Self, ConfigError> {
        Ok(Self {
            data_dir: PathBuf::new(),
        })
    }
}

/// The local store.
#[derive(Debug)]
pub struct AwsStore;

impl AwsStore {
    /// Opens the store.
    pub async fn connect(_config: &AwsConfig) -> Result<Self> {
        Err(Error::Config("the aws backend is not built yet".into()))
    }
}

#[async_trait]
impl SecretStore for AwsStore {
    fn name(&self) -> &'static str {
        "aws"
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
