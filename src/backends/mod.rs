//! The storage seam: the [`SecretStore`] trait every backend implements, the backend error type,
//! and [`build`], the one place that turns a [`BackendConfig`] into a running store.
//!
//! Backends: [`local`] (embedded sled, the default), [`aws`] (AWS Secrets Manager) and
//! [`legacy_sql`] (Grafana's own `secrets` table). Cross-cutting behaviour is a decorator that
//! implements the same trait ([`mirror`]).

use std::sync::Arc;

use async_trait::async_trait;

use crate::domain::{InvalidInput, Item, ListFilter, SecretKey, SecretValue};

pub mod aws;
pub mod legacy_sql;
pub mod local;
pub mod mirror;
#[cfg(feature = "test-util")]
pub mod testing;

/// What a backend can fail with. Messages name the key and what to do; they never contain a
/// secret value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The caller's key or value was rejected before anything was written.
    #[error(transparent)]
    InvalidInput(#[from] InvalidInput),
    /// The backend is configured wrongly (bad key, unusable region, missing table …).
    #[error("configuration problem: {0}")]
    Config(String),
    /// The backend refused for lack of permission (IAM, file mode, database grants).
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// The backend asked us to slow down; retrying later succeeds.
    #[error("throttled: {0}")]
    Throttled(String),
    /// The backend could not be reached or failed temporarily; retrying may succeed.
    #[error("backend unavailable: {0}")]
    Unavailable(String),
    /// Another writer changed the same secret concurrently, or the target is in a state (such as
    /// AWS's recovery window) that blocks the write.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The secret exists but was not created by this broker, so we will not change it.
    #[error("not owned by this broker: {0}")]
    NotOwned(String),
    /// Encryption or decryption failed (wrong key, KMS key disabled, tampered data).
    #[error("encryption problem: {0}")]
    Crypto(String),
    /// Stored data could not be parsed.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// Any other storage failure (I/O error, SQL error).
    #[error("storage error: {0}")]
    Storage(String),
}

impl Error {
    /// Whether retrying the same call later may succeed (throttling, network, 5xx). Drives the
    /// retry and fallback decisions of decorators and of migration.
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Throttled(_) | Error::Unavailable(_))
    }
}

/// Result alias for store operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A place that keeps Grafana's secrets. The six methods mirror the six RPCs of Grafana's
/// `secretsmanagerplugin.SecretsManager` service.
///
/// Every implementation must pass the conformance suite in `backends::testing`.
#[async_trait]
pub trait SecretStore: Send + Sync + std::fmt::Debug {
    /// Short backend name for logs and errors (`local`, `aws`, `legacy_sql`, `mirror`).
    fn name(&self) -> &'static str;

    /// The value stored under `key`, or `Ok(None)` when there is none. Absent is not an error.
    async fn get(&self, key: &SecretKey) -> Result<Option<SecretValue>>;

    /// Stores `value` under `key`, replacing any previous value. Returns only once the value is
    /// durable in the backend (on disk, committed, or acknowledged by the service).
    async fn set(&self, key: &SecretKey, value: &SecretValue) -> Result<()>;

    /// Removes the secret. Deleting a key that does not exist succeeds.
    async fn delete(&self, key: &SecretKey) -> Result<()>;

    /// Keys matching `filter` exactly (namespace and type; org unless `filter.org_id` is `None`).
    /// The order is unspecified.
    async fn list(&self, filter: &ListFilter) -> Result<Vec<SecretKey>>;

    /// Moves the secret at `key` to the same org and type under `new_namespace`.
    ///
    /// - A missing source is a no-op that succeeds (Grafana renames before it sets).
    /// - Renaming onto an existing key **replaces** the target's value with the source's and
    ///   removes the source: Grafana keeps data-source names unique per org, so an existing
    ///   target can only be a stale leftover (for example of an interrupted rename), and the
    ///   renamed data source's secret must win.
    /// - Renaming to the same namespace is a no-op.
    async fn rename(&self, key: &SecretKey, new_namespace: &str) -> Result<()>;

    /// Every secret the backend holds, in every org, in one answer (Grafana's from-plugin
    /// migration reads them all in one call with no paging).
    async fn get_all(&self) -> Result<Vec<Item>>;

    /// The values under `keys`, in the same order (`None` where absent): bulk reads of known
    /// keys, such as the migration's read-back of what it wrote. The default calls
    /// [`get`](Self::get) for each; `aws` batches them (BatchGetSecretValue, 20 names a call).
    async fn get_many(&self, keys: &[SecretKey]) -> Result<Vec<Option<SecretValue>>> {
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            out.push(self.get(key).await?);
        }
        Ok(out)
    }

    /// The same secrets as [`get_all`](Self::get_all), handed to `sink` in batches as they
    /// become readable, in no particular order, so that a consumer (the migration) works while a
    /// slow backend is still reading: `legacy_sql` pays a PBKDF2 per value.
    ///
    /// On `Err`, batches already sent are valid but the read is incomplete. A closed `sink` (the
    /// consumer stopped) ends the read early with `Ok`. The default sends one batch from
    /// `get_all`.
    async fn get_all_batched(&self, sink: tokio::sync::mpsc::Sender<Vec<Item>>) -> Result<()> {
        let items = self.get_all().await?;
        let _ = sink.send(items).await;
        Ok(())
    }
}

/// Which backend to run, with its settings. Adding a backend is one variant here, one module and
/// one arm in [`build`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum BackendConfig {
    /// Embedded sled store (the default).
    Local(local::LocalConfig),
    /// AWS Secrets Manager (or anything speaking its protocol, such as the emulator).
    Aws(Box<aws::AwsConfig>),
    /// Grafana's legacy SQL `secrets` table.
    LegacySql(legacy_sql::LegacySqlConfig),
    /// Dual-write decorator over two other backends.
    Mirror(mirror::MirrorConfig),
}

/// Opens the configured backend.
pub async fn build(config: &BackendConfig) -> Result<Arc<dyn SecretStore>> {
    match config {
        BackendConfig::Local(c) => Ok(Arc::new(local::LocalStore::open(c)?)),
        BackendConfig::Aws(c) => Ok(Arc::new(aws::AwsStore::connect(c).await?)),
        BackendConfig::LegacySql(c) => Ok(Arc::new(legacy_sql::LegacySqlStore::open(c).await?)),
        BackendConfig::Mirror(c) => Ok(Arc::new(mirror::MirrorStore::open(c).await?)),
    }
}
