//! The Grafana presets of `migrate` (`--from-grafana` / `--to-grafana <grafana.ini>`): the
//! `legacy_sql` backend configured from a Grafana ini file (database, `secret_key`, with
//! Grafana's `GF_<SECTION>_<KEY>` overrides).
//!
//! - As a source (opened read-only): every row of Grafana's `secrets` table plus the data
//!   sources' `secure_json_data`, with Grafana's precedence (a `secrets` row for a data source
//!   wins over its `secure_json_data`; the legacy backend applies it). Writes are refused.
//! - As a destination: writes go into Grafana's `secrets` table in Grafana's own encryption
//!   format; after the migration, Grafana's fatal flag (`kv_store` row, namespace
//!   `secretsmanagerplugin`, key `quit_on_secrets_plugin_startup_failure`) is deleted, as Grafana's
//!   own from-plugin migration does, so Grafana starts without the plugin and never blocks.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;

use crate::backends::legacy_sql::{self, LegacySqlConfig, LegacySqlStore};
use crate::backends::{Error, Result, SecretStore};
use crate::domain::{Item, ListFilter, Rename, SecretKey, SecretValue};

/// `kv_store` namespace of Grafana's secrets-plugin flags.
pub const FLAG_NAMESPACE: &str = "secretsmanagerplugin";
/// `kv_store` key of the flag that makes Grafana quit when the plugin fails to start.
pub const FLAG_KEY: &str = "quit_on_secrets_plugin_startup_failure";

/// A Grafana database opened from its ini file.
#[derive(Debug)]
pub struct GrafanaDb {
    config: LegacySqlConfig,
    store: Arc<GrafanaSource>,
}

impl GrafanaDb {
    /// Opens the database named by `ini` (read-only when it is the migration's source); `env` is
    /// the process environment, for Grafana's `GF_<SECTION>_<KEY>` overrides of the ini file.
    pub async fn open(
        ini: &Path,
        read_only: bool,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self> {
        let parsed =
            crate::backends::legacy_sql::GrafanaIni::load(ini, env).map_err(Error::Config)?;
        let mut config = LegacySqlConfig::new("sqlite::memory:", "");
        config.target = parsed.target;
        config.secret_key = parsed.secret_key;
        config.read_only = read_only;
        let legacy = LegacySqlStore::open(&config).await?;
        Ok(Self {
            config,
            store: Arc::new(GrafanaSource {
                inner: legacy,
                with_datasources: read_only,
            }),
        })
    }

    /// The store to migrate from or into.
    pub fn store(&self) -> Arc<dyn SecretStore> {
        self.store.clone()
    }

    /// Deletes Grafana's fatal flag row from `kv_store` (absent row or table: nothing to do).
    pub async fn clear_plugin_startup_failure_flag(&self) -> Result<()> {
        match legacy_sql::delete_grafana_kv_store_row(&self.config, FLAG_NAMESPACE, FLAG_KEY)
            .await?
        {
            Some(n) => tracing::info!(rows = n, "cleared Grafana's secrets-plugin fatal flag"),
            None => {
                tracing::warn!("Grafana's database has no kv_store table; no fatal flag to clear")
            }
        }
        Ok(())
    }
}

/// The legacy store, plus data-source secrets when used as a migration source.
#[derive(Debug)]
struct GrafanaSource {
    inner: LegacySqlStore,
    with_datasources: bool,
}

#[async_trait]
impl SecretStore for GrafanaSource {
    fn name(&self) -> &'static str {
        "grafana"
    }
    async fn get(&self, key: &SecretKey) -> Result<Option<SecretValue>> {
        if let Some(v) = self.inner.get(key).await? {
            return Ok(Some(v));
        }
        if !self.with_datasources {
            return Ok(None);
        }
        Ok(self
            .inner
            .read_grafana_datasource_secrets()
            .await?
            .into_iter()
            .find(|i| &i.key == key)
            .map(|i| i.value))
    }
    async fn set(&self, key: &SecretKey, value: &SecretValue) -> Result<()> {
        self.inner.set(key, value).await
    }
    async fn delete(&self, key: &SecretKey) -> Result<()> {
        self.inner.delete(key).await
    }
    async fn list(&self, filter: &ListFilter) -> Result<Vec<SecretKey>> {
        self.inner.list(filter).await
    }
    async fn rename_key(&self, rename: &Rename) -> Result<()> {
        self.inner.rename_key(rename).await
    }
    async fn get_all(&self) -> Result<Vec<Item>> {
        let mut all: HashMap<SecretKey, SecretValue> = HashMap::new();
        if self.with_datasources {
            for item in self.inner.read_grafana_datasource_secrets().await? {
                all.insert(item.key, item.value);
            }
        }
        // `secrets` rows win over secure_json_data, as in Grafana.
        for item in self.inner.get_all().await? {
            all.insert(item.key, item.value);
        }
        Ok(all
            .into_iter()
            .map(|(key, value)| Item { key, value })
            .collect())
    }
}
