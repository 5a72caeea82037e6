//! The `aws` backend: Grafana's secrets in AWS Secrets Manager (or anything speaking its
//! protocol, such as the `secretsmanager-emulator` crate), on `aws-sdk-secretsmanager`.
//!
//! - [`config`]: settings (`GF_PLUGIN_*` keys in [`KEYS`]) and the SDK client (credentials,
//!   assume-role, region, endpoint, retries, timeouts).
//! - [`naming`]: the reversible (org, namespace, type) → secret-name scheme and ownership tags.
//! - [`attempts`]: the SDK's attempts, retries and throttled attempts (for the metrics).
//! - [`errors`]: typed SDK errors → [`backends::Error`](crate::backends::Error).
//! - `write` / `read`: the operations.
//! - `diagnose`: `secrets-broker doctor`'s harmless probes (reachability, credentials, IAM, KMS).
//!
//! # Ownership
//!
//! Every secret we create carries the tags of [`naming::Naming::tags`]. Before the first write or
//! delete of a name that this process did not create, DescribeSecret checks that the secret
//! carries our owner tag *and* this instance's prefix; otherwise the call fails with
//! [`Error::NotOwned`](crate::backends::Error::NotOwned) naming the secret. A name, once verified
//! (or created by us, or listed with our tags), is cached for the life of the process. Reads do
//! not check ownership (that would double their cost); the prefix keeps foreign secrets away.
//!
//! # API calls per Grafana operation
//!
//! | Grafana RPC | Steady state | First time / unusual path |
//! |---|---|---|
//! | GetSecret | 1: GetSecretValue | — (absent or scheduled for deletion: 1, answers "not found") |
//! | SetSecret, new secret | 1: CreateSecret | race lost to another writer: + DescribeSecret + PutSecretValue |
//! | SetSecret, existing secret | 1: PutSecretValue (name cached) | not yet cached: CreateSecret (ResourceExists) + DescribeSecret + PutSecretValue = 3, once per name per process |
//! | SetSecret, name in its recovery window | — | CreateSecret + DescribeSecret + RestoreSecret + PutSecretValue (policy `restore`), or + DeleteSecret(force) + CreateSecret (policy `recreate`) |
//! | DelSecret | 1: DeleteSecret (name cached) | not cached: DescribeSecret + DeleteSecret; absent: DescribeSecret only |
//! | ListSecrets | ⌈matches / 100⌉ ListSecrets (name-prefix filter) | — |
//! | GetAllSecrets | ⌈n / 100⌉ ListSecrets + ⌈n / 20⌉ BatchGetSecretValue | — |
//! | (migration read-back, `get_many`) | ⌈n / 20⌉ BatchGetSecretValue | — |
//! | RenameSecret | GetSecretValue + (DescribeSecret if source not cached) + SetSecret's calls for the target + DeleteSecret | missing source: 1 |
//!
//! Each call may be retried by the SDK (throttling, 5xx, timeouts) up to `aws_max_attempts`.
//!
//! # Retries, timeouts, values
//!
//! The SDK's standard retry mode: exponential backoff with jitter from
//! `aws_retry_initial_backoff_ms` (default 100 ms) up to 20 s, at most `aws_max_attempts`
//! (default 5) attempts, on throttling, 5xx and transient network errors; `aws_connect_timeout_ms`
//! (default 3 s) and `aws_operation_timeout_ms` (default 30 s, retries included). The SDK's
//! process-wide retry quota is replaced by an unlimited one in its own retry partition: the default
//! quota stops every retry once a throttling burst has drained it, which under sustained
//! throttling turns into an error on every Grafana call; attempts and backoff still bound the
//! retries. Errors left after retrying are mapped by [`errors`]; `is_transient()` is true for
//! throttling, timeouts and 5xx.
//!
//! Values are stored as plain `SecretString`s, readable by any AWS client. AWS rejects an empty
//! string, so the empty value (which Grafana may store) is the one-byte `SecretBinary` `0x00`.
//!
//! # Deletion and the recovery window
//!
//! DeleteSecret uses `aws_recovery_window_days`, default **7**, AWS's minimum. Grafana deletes a
//! data source's secret when the data source is deleted; a name in its recovery window blocks
//! CreateSecret of the same name, and a data source re-created under the same name is common. A
//! short window keeps that state short while still allowing a week to recover a secret deleted by
//! mistake. `0` deletes without recovery. When `set` meets a name in its window,
//! `aws_deleted_name_policy` decides: `restore` (default) restores it and puts the new value as
//! AWSCURRENT; `recreate` force-deletes it and creates it afresh (its old versions are lost).
//!
//! # Rename: copy, then delete
//!
//! 1. GetSecretValue of the source (absent: done, nothing to rename);
//! 2. ownership of the source is verified (so a foreign secret is never copied or deleted);
//! 3. the target is written like SetSecret (created with the extra tag
//!    `grafana-secrets-broker:renamed-from` = source name, or a new version put);
//! 4. DeleteSecret of the source.
//!
//! A crash after 1–2 leaves only the source; after 3, both with the same value; after 4, only
//! the target. There is never a state with neither. A retry of the same rename completes it from
//! any of these states: step 3 is idempotent (it writes the same value) and step 4 treats an
//! already deleted source as success; once the source is gone the rename is a no-op.

pub mod attempts;
pub mod config;
mod diagnose;
pub mod errors;
pub mod naming;
mod read;
mod write;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;

pub use self::config::{AwsConfig, DeletedNamePolicy, KEYS};
use self::errors::Ctx;
use self::naming::Naming;
use super::{Backend, BackendSettings, Result, SecretStore};
use crate::domain::{Item, ListFilter, Rename, SecretKey, SecretValue};

/// AWS Secrets Manager's write quota per account and region (not raisable): the default rate of
/// a migration into or out of this backend.
pub const WRITES_PER_SEC: f64 = 50.0;

/// This backend's entry in [`crate::backends::BACKENDS`].
pub static BACKEND: Backend = Backend {
    name: "aws",
    description: "AWS Secrets Manager (or anything speaking its API, such as the emulator)",
    keys: KEYS,
    decorator: false,
    migration_rate: Some(WRITES_PER_SEC),
    configure: |settings| Ok(Arc::new(AwsConfig::from_settings(settings)?)),
};

#[async_trait]
impl BackendSettings for AwsConfig {
    async fn open(&self) -> Result<Arc<dyn SecretStore>> {
        Ok(Arc::new(AwsStore::connect(self).await?))
    }

    /// Every read is a paid API call over the network.
    fn read_cache_by_default(&self) -> bool {
        true
    }

    async fn diagnose(&self, probe: &super::diagnosis::Probe) -> Vec<super::diagnosis::Finding> {
        diagnose::diagnose(self, probe).await
    }
}

/// Most names kept in the ownership cache before it is cleared (bounds memory).
const OWNED_CACHE_MAX: usize = 200_000;

/// The AWS Secrets Manager store.
#[derive(Debug)]
pub struct AwsStore {
    client: Client,
    naming: Naming,
    config: AwsConfig,
    region: String,
    owned: Mutex<HashSet<String>>,
}

impl AwsStore {
    /// Builds the SDK client from `config` (no API call is made yet).
    pub async fn connect(config: &AwsConfig) -> Result<Self> {
        let client = config.client().await?;
        Ok(Self::with_client(client, config.clone()))
    }

    /// A store over a ready client (used by tests with mocked or emulator clients). Retries and
    /// timeouts are those of the client; credentials, region and endpoint settings in `config`
    /// are ignored.
    pub fn with_client(client: Client, config: AwsConfig) -> Self {
        let region = client
            .config()
            .region()
            .map(|r| r.to_string())
            .or_else(|| config.region.clone())
            .unwrap_or_else(|| "(unset)".into());
        Self {
            client,
            naming: Naming::new(config.prefix.clone()),
            config,
            region,
            owned: Mutex::new(HashSet::new()),
        }
    }

    /// The naming scheme in use.
    pub fn naming(&self) -> &Naming {
        &self.naming
    }

    fn ctx<'a>(&'a self, name: &'a str) -> Ctx<'a> {
        Ctx {
            name,
            kms_key_id: self.config.kms_key_id.as_deref(),
            region: &self.region,
        }
    }

    fn is_cached(&self, name: &str) -> bool {
        self.owned.lock().map(|s| s.contains(name)).unwrap_or(false)
    }

    fn remember(&self, name: &str) {
        if let Ok(mut s) = self.owned.lock() {
            if s.len() >= OWNED_CACHE_MAX {
                s.clear();
            }
            s.insert(name.to_string());
        }
    }

    fn forget(&self, name: &str) {
        if let Ok(mut s) = self.owned.lock() {
            s.remove(name);
        }
    }
}

#[async_trait]
impl SecretStore for AwsStore {
    fn name(&self) -> &'static str {
        BACKEND.name
    }

    async fn get(&self, key: &SecretKey) -> Result<Option<SecretValue>> {
        self.get_named(&self.naming.name(key)).await
    }

    async fn set(&self, key: &SecretKey, value: &SecretValue) -> Result<()> {
        self.write(write::SecretWrite {
            name: &self.naming.name(key),
            key,
            value,
            renamed_from: None,
        })
        .await
    }

    async fn delete(&self, key: &SecretKey) -> Result<()> {
        self.delete_named(&self.naming.name(key)).await
    }

    async fn list(&self, filter: &ListFilter) -> Result<Vec<SecretKey>> {
        let prefix = match filter.key() {
            Some(key) => self.naming.name(&key),
            None => self.naming.group_prefix(filter.namespace(), filter.kind()),
        };
        let entries = self.list_owned(Some(&prefix)).await?;
        Ok(entries
            .into_iter()
            .map(|(_, key)| key)
            .filter(|k| filter.matches(k))
            .collect())
    }

    async fn rename_key(&self, rename: &Rename) -> Result<()> {
        self.rename_impl(rename).await
    }

    async fn get_all(&self) -> Result<Vec<Item>> {
        self.get_all_impl().await
    }

    async fn get_many(&self, keys: &[SecretKey]) -> Result<Vec<Option<SecretValue>>> {
        self.get_many_impl(keys).await
    }
}
