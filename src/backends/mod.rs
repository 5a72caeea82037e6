//! The storage seam: the [`SecretStore`] trait every backend implements, the backend error type,
//! and [`BACKENDS`], the registry of backends that settings, help texts, error messages and the
//! migration's pacing read. [`build`] turns a [`BackendConfig`] into a running store.
//!
//! Backends: [`local`] (embedded sled, the default), [`aws`] (AWS Secrets Manager),
//! [`legacy_sql`] (Grafana's own `secrets` table) and [`memory`] (this process's memory). Cross-cutting behaviour is a decorator that
//! implements the same trait ([`mirror`], the read [`cache`]).
//! [`settings`] holds the raw settings every backend reads; [`reconcile`] compares and repairs two
//! stores (the mirror and the migration's `verify`/`reconcile`); [`diagnosis`] is what each
//! backend's checks report to `secrets-broker doctor` ([`diagnose`]).

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use crate::domain::{InvalidInput, Item, ListFilter, Rename, SecretKey, SecretValue};
pub use settings::{ConfigError, Settings};

pub mod aws;
pub mod cache;
pub mod call_notes;
pub mod diagnosis;
pub mod legacy_sql;
pub mod local;
pub mod memory;
pub mod metrics;
pub mod mirror;
pub mod reconcile;
pub mod settings;
#[cfg(feature = "test-util")]
pub mod testing;

/// What a backend can fail with. Messages name the key and what to do; they never contain a
/// secret value. Cloneable so that one failed read can answer every caller waiting for it.
#[derive(Debug, Clone, thiserror::Error)]
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

/// The names of [`Error`]'s kinds, in [`Error::kind_index`] order (audit lines and metric labels).
pub const ERROR_KINDS: [&str; 10] = [
    "invalid_input",
    "config",
    "permission_denied",
    "throttled",
    "unavailable",
    "conflict",
    "not_owned",
    "crypto",
    "corrupt",
    "storage",
];

impl Error {
    /// The position of this error's kind in [`ERROR_KINDS`].
    pub fn kind_index(&self) -> usize {
        match self {
            Error::InvalidInput(_) => 0,
            Error::Config(_) => 1,
            Error::PermissionDenied(_) => 2,
            Error::Throttled(_) => 3,
            Error::Unavailable(_) => 4,
            Error::Conflict(_) => 5,
            Error::NotOwned(_) => 6,
            Error::Crypto(_) => 7,
            Error::Corrupt(_) => 8,
            Error::Storage(_) => 9,
        }
    }

    /// The name of this error's kind (`throttled`, `unavailable` …), from [`ERROR_KINDS`].
    pub fn kind_name(&self) -> &'static str {
        ERROR_KINDS[self.kind_index()]
    }

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
    /// Short backend name for logs and errors: its [`Backend::name`] in [`BACKENDS`].
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

    /// Moves the secret at `rename.source()` to `rename.target()` (the same org and type under
    /// another namespace, already validated).
    ///
    /// - A missing source is a no-op that succeeds (Grafana renames before it sets).
    /// - Renaming onto an existing key **replaces** the target's value with the source's and
    ///   removes the source: Grafana keeps data-source names unique per org, so an existing
    ///   target can only be a stale leftover (for example of an interrupted rename), and the
    ///   renamed data source's secret must win.
    /// - Renaming to the same namespace ([`Rename::is_noop`]) is a no-op.
    async fn rename_key(&self, rename: &Rename) -> Result<()>;

    /// Validates the move of `key` to `new_namespace` and does it with
    /// [`rename_key`](Self::rename_key); an invalid namespace is [`Error::InvalidInput`].
    async fn rename(&self, key: &SecretKey, new_namespace: &str) -> Result<()> {
        self.rename_key(&Rename::new(key.clone(), new_namespace)?)
            .await
    }

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

/// Runs `produce` with a channel of `capacity` batches and collects every batch it sends, in
/// order: `produce`'s result and all the items (the batched reads' way back to one list).
pub async fn collect_batches<T, F>(
    capacity: usize,
    produce: impl FnOnce(tokio::sync::mpsc::Sender<Vec<T>>) -> F,
) -> (F::Output, Vec<T>)
where
    F: std::future::Future,
{
    let (tx, mut rx) = tokio::sync::mpsc::channel(capacity);
    let collect = async move {
        let mut all = Vec::new();
        while let Some(batch) = rx.recv().await {
            all.extend(batch);
        }
        all
    };
    tokio::join!(produce(tx), collect)
}

/// Every backend the broker can run, in the order help texts and error messages list them.
/// Adding a backend is one module (with its `BACKEND` entry and its [`SecretStore`]) and one line
/// here.
pub static BACKENDS: &[&Backend] = &[
    &local::BACKEND,
    &aws::BACKEND,
    &legacy_sql::BACKEND,
    &memory::BACKEND,
    &mirror::BACKEND,
];

/// The backend run when setting `backend` is not set.
pub static DEFAULT_BACKEND: &Backend = &local::BACKEND;

/// One backend's entry in [`BACKENDS`]: everything the rest of the broker needs to know to offer
/// it, configure it and open it.
pub struct Backend {
    /// The value of setting `backend` (and of `mirror_primary` / `mirror_secondary`) that
    /// selects it; also what its store's [`SecretStore::name`] returns.
    pub name: &'static str,
    /// One line for help texts and logs.
    pub description: &'static str,
    /// The settings keys it reads (every other key is reported as unknown at start-up).
    pub keys: &'static [&'static str],
    /// Whether it wraps other backends (`mirror`): such a backend is only valid as the top-level
    /// `backend`, never as one of a mirror's sides.
    pub decorator: bool,
    /// The request rate (per second) a migration into or out of it keeps to by default
    /// (`--max-write-rate auto`); `None` means unlimited. Throttling lowers the rate either way.
    pub migration_rate: Option<f64>,
    /// Validates its keys from `settings`; the error names the offending key.
    pub configure: fn(&Settings) -> Result<Arc<dyn BackendSettings>, ConfigError>,
}

impl fmt::Debug for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Backend")
            .field("name", &self.name)
            .field("keys", &self.keys)
            .field("decorator", &self.decorator)
            .field("migration_rate", &self.migration_rate)
            .finish_non_exhaustive()
    }
}

/// The backend called `name` in [`BACKENDS`].
pub fn named(name: &str) -> Option<&'static Backend> {
    BACKENDS.iter().copied().find(|b| b.name == name)
}

/// The names of the backends that store secrets themselves (every one but the decorators), for
/// messages such as the mirror's "one of …".
pub fn store_names() -> Vec<&'static str> {
    BACKENDS
        .iter()
        .filter(|b| !b.decorator)
        .map(|b| b.name)
        .collect()
}

/// Every backend's name, and which of them are top-level only: `local, aws, legacy_sql, memory,
/// mirror (mirror only as the top-level backend)`. For errors that ask for a backend name.
pub fn choices() -> String {
    let all: Vec<&str> = BACKENDS.iter().map(|b| b.name).collect();
    let decorators: Vec<&str> = BACKENDS
        .iter()
        .filter(|b| b.decorator)
        .map(|b| b.name)
        .collect();
    let mut text = all.join(", ");
    if !decorators.is_empty() {
        text.push_str(&format!(
            " ({} only as the top-level backend)",
            decorators.join(", ")
        ));
    }
    text
}

/// Lets [`BackendConfig::settings`] recover a backend's own settings type.
pub trait AsAny {
    /// `self` as [`Any`].
    fn as_any(&self) -> &dyn Any;
}

impl<T: Any> AsAny for T {
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A backend's validated settings: what opens its store.
#[async_trait]
pub trait BackendSettings: AsAny + fmt::Debug + Send + Sync {
    /// Opens the store these settings describe.
    async fn open(&self) -> Result<Arc<dyn SecretStore>>;

    /// Whether the read cache ([`cache`]) is on by default in front of this store: `true` when a
    /// read leaves the process or costs real work (a network service, a database server).
    fn read_cache_by_default(&self) -> bool {
        false
    }

    /// Checks everything that can stop this backend, without changing it (unless `probe.write`):
    /// `secrets-broker doctor`. The default opens the store and reports whether that worked.
    async fn diagnose(&self, probe: &diagnosis::Probe) -> Vec<diagnosis::Finding> {
        let _ = probe;
        vec![match self.open().await {
            Ok(_) => diagnosis::Finding::ok("open", "the store", "opened"),
            Err(e) => diagnosis::Finding::problem(
                "open",
                "the store",
                format!("cannot be opened: {e}"),
                "correct what the message names, then run doctor again",
            ),
        }]
    }
}

/// Which backend to run, with its validated settings.
#[derive(Clone)]
pub struct BackendConfig {
    backend: &'static Backend,
    settings: Arc<dyn BackendSettings>,
}

impl BackendConfig {
    /// Validates `backend`'s keys from `settings`.
    pub fn from_settings(
        backend: &'static Backend,
        settings: &Settings,
    ) -> Result<Self, ConfigError> {
        Ok(Self {
            backend,
            settings: (backend.configure)(settings)?,
        })
    }

    /// `backend` with settings already validated (`settings` must be the type its
    /// [`Backend::configure`] produces).
    pub fn new(backend: &'static Backend, settings: impl BackendSettings + 'static) -> Self {
        Self {
            backend,
            settings: Arc::new(settings),
        }
    }

    /// The backend's registry entry.
    pub fn backend(&self) -> &'static Backend {
        self.backend
    }

    /// The backend's name (`local`, `aws` …).
    pub fn name(&self) -> &'static str {
        self.backend.name
    }

    /// Whether the read cache is on by default in front of this backend
    /// ([`BackendSettings::read_cache_by_default`]).
    pub fn read_cache_by_default(&self) -> bool {
        self.settings.read_cache_by_default()
    }

    /// The backend's own settings, if they are of type `T` (e.g. `mirror::MirrorConfig`).
    pub fn settings<T: Any>(&self) -> Option<&T> {
        (*self.settings).as_any().downcast_ref()
    }
}

impl fmt::Debug for BackendConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackendConfig")
            .field("backend", &self.backend.name)
            .field("settings", &self.settings)
            .finish()
    }
}

/// Runs the configured backend's checks (see [`BackendSettings::diagnose`]).
pub async fn diagnose(config: &BackendConfig, probe: &diagnosis::Probe) -> Vec<diagnosis::Finding> {
    config.settings.diagnose(probe).await
}

/// Opens the configured backend.
pub async fn build(config: &BackendConfig) -> Result<Arc<dyn SecretStore>> {
    config.settings.open().await
}

/// The backend called `name` (as given by setting `key`), with its settings.
pub fn backend_named(
    settings: &Settings,
    key: &str,
    name: &str,
) -> Result<BackendConfig, ConfigError> {
    // A decorator (mirror) is valid only as the top-level backend, not as one of its sides.
    match named(name.trim()) {
        Some(backend) if key == "backend" || !backend.decorator => {
            BackendConfig::from_settings(backend, settings)
        }
        _ => Err(settings.error(key, format!("expected one of {}", choices()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_names_are_unique_and_found() {
        for (i, backend) in BACKENDS.iter().enumerate() {
            assert!(
                BACKENDS[..i].iter().all(|b| b.name != backend.name),
                "{} registered twice",
                backend.name
            );
            assert!(std::ptr::eq(named(backend.name).unwrap(), *backend));
            assert!(!backend.description.is_empty());
        }
        assert!(named("redis").is_none());
        assert!(BACKENDS.iter().any(|b| std::ptr::eq(*b, DEFAULT_BACKEND)));
        assert!(!DEFAULT_BACKEND.decorator);
        assert!(!store_names().contains(&"mirror"));
        assert_eq!(
            choices(),
            format!(
                "{} (mirror only as the top-level backend)",
                BACKENDS
                    .iter()
                    .map(|b| b.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        );
    }

    #[test]
    fn migration_into_aws_is_paced_by_default() {
        assert_eq!(
            named("aws").unwrap().migration_rate,
            Some(aws::WRITES_PER_SEC)
        );
        assert_eq!(named("local").unwrap().migration_rate, None);
    }
}
