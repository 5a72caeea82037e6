//! The `legacy_sql` backend: Grafana's own `secrets` table (SQLite, PostgreSQL, MySQL/MariaDB),
//! read and written in Grafana's envelope-encryption format with its `data_keys`, so that a
//! Grafana instance can be migrated without Grafana running.
//!
//! - [`settings`]: `legacy_*` keys and Grafana ini files; [`crypto`]: the byte format;
//!   [`datakeys`]: data key naming and caching; [`codec`]: stored text ↔ plaintext;
//!   `db`/`rows`/`ops`/`schema`/`connect` (private): SQL per dialect and locked writes, reached
//!   from outside only through [`LegacySqlStore`] and [`delete_grafana_kv_store_row`];
//!   [`errors`]: database errors → backend errors; [`datasource`]: legacy `secure_json_data`;
//!   `diagnose`: `secrets-broker doctor`'s read-only checks (connection, schema, secret_key).
//! - Writes happen in locked transactions and never alter the schema; `legacy_read_only`
//!   refuses them; `legacy_create_tables` creates the two tables for standalone use.

pub mod codec;
mod connect;
pub mod crypto;
pub mod datakeys;
pub mod datasource;
mod db;
mod diagnose;
pub mod errors;
mod ops;
mod rows;
mod schema;
pub mod settings;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Timelike, Utc};
use zeroize::Zeroizing;

use super::{Backend, BackendSettings, Error, Result, SecretStore};
use crate::domain::{Item, ListFilter, Rename, SecretKey, SecretValue};
use codec::{Expect, Job, Parsed, RowName};
use datakeys::{DataKey, DataKeyCache};
use db::Db;
use errors::{connect_error, sql_error};
use rows::SecretRow;

pub use settings::{DbTarget, GrafanaIni, LegacySqlConfig, ServerKind, ServerTarget, KEYS};

/// The clock deciding the data key's day and the `created`/`updated` timestamps.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// This backend's entry in [`crate::backends::BACKENDS`].
pub static BACKEND: Backend = Backend {
    name: "legacy_sql",
    description:
        "Grafana's own `secrets` table (SQLite, PostgreSQL, MySQL) in Grafana's encryption format",
    keys: KEYS,
    decorator: false,
    migration_rate: None,
    configure: |settings| Ok(Arc::new(LegacySqlConfig::from_settings(settings)?)),
};

#[async_trait]
impl BackendSettings for LegacySqlConfig {
    async fn open(&self) -> Result<Arc<dyn SecretStore>> {
        Ok(Arc::new(LegacySqlStore::open(self).await?))
    }

    /// Every read is a database query plus a key derivation (Grafana cached the same table 5 s).
    fn read_cache_by_default(&self) -> bool {
        true
    }

    async fn diagnose(&self, _probe: &super::diagnosis::Probe) -> Vec<super::diagnosis::Finding> {
        diagnose::diagnose(self).await
    }
}

/// Deletes the row (`namespace`, `key`) of Grafana's `kv_store` table in the database of
/// `config`, on a writable connection of its own (also when the store itself is read-only).
/// `Ok(None)` when the database has no `kv_store` table (looked up in its schema catalogue);
/// otherwise how many rows were deleted.
pub async fn delete_grafana_kv_store_row(
    config: &LegacySqlConfig,
    namespace: &str,
    key: &str,
) -> Result<Option<u64>> {
    let target = format!("{:?}", config.target);
    let db = connect::connect(&config.target, false, false)
        .await
        .map_err(|e| connect_error(&target, e))?;
    let what = "looking up Grafana's kv_store table";
    if db
        .columns("kv_store")
        .await
        .map_err(|e| sql_error(what, e))?
        .is_empty()
    {
        return Ok(None);
    }
    let what = format!("deleting kv_store row ({namespace}, {key})");
    let deleted = db
        .delete_kv_store_row(namespace, key)
        .await
        .map_err(|e| sql_error(&what, e))?;
    Ok(Some(deleted))
}

/// How many rows `open` decrypts to check the secret_key.
const PROBE_ROWS: usize = 5;

/// The legacy SQL store. See the module docs.
pub struct LegacySqlStore {
    db: Db,
    secret_key: Arc<Zeroizing<Vec<u8>>>,
    read_only: bool,
    cache: DataKeyCache,
    clock: Clock,
    target: String,
}

impl std::fmt::Debug for LegacySqlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LegacySqlStore")
            .field("target", &self.target)
            .field("read_only", &self.read_only)
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

/// Every secret that could be read, and a named error for each row that could not.
#[derive(Debug, Default)]
pub struct ScanReport {
    /// Decrypted secrets (one per key: the lowest row id wins, as in [`SecretStore::get`]).
    pub items: Vec<Item>,
    /// One error per unreadable row, naming it.
    pub failures: Vec<Error>,
}

impl LegacySqlStore {
    /// Opens the store with the system clock.
    pub async fn open(config: &LegacySqlConfig) -> Result<Self> {
        Self::open_with_clock(config, Arc::new(Utc::now)).await
    }

    /// Opens the store: connects, creates the tables if asked to, checks the schema and checks
    /// that the secret_key decrypts the first rows.
    pub async fn open_with_clock(config: &LegacySqlConfig, clock: Clock) -> Result<Self> {
        let target = format!("{:?}", config.target);
        if config.read_only && config.create_tables {
            return Err(Error::Config(
                "legacy_create_tables cannot be combined with legacy_read_only".into(),
            ));
        }
        let db = connect::connect(&config.target, config.read_only, config.create_tables)
            .await
            .map_err(|e| connect_error(&target, e))?;
        if config.create_tables {
            db.create_tables()
                .await
                .map_err(|e| sql_error("creating the secrets and data_keys tables", e))?;
        }
        let store = Self {
            db,
            secret_key: Arc::new(Zeroizing::new(config.secret_key.as_bytes().to_vec())),
            read_only: config.read_only,
            cache: DataKeyCache::default(),
            clock,
            target,
        };
        for (table, cols) in schema::REQUIRED {
            store.check_table(table, cols).await?;
        }
        store.probe_secret_key().await?;
        Ok(store)
    }

    async fn check_table(&self, table: &str, required: &[&str]) -> Result<()> {
        let have: BTreeSet<String> = self
            .db
            .columns(table)
            .await
            .map_err(|e| sql_error(&format!("reading the columns of table `{table}`"), e))?
            .into_iter()
            .map(|c| c.to_ascii_lowercase())
            .collect();
        if have.is_empty() {
            return Err(Error::Config(format!(
                "table `{table}` does not exist in {}: this is not a Grafana database (or \
                 Grafana has not migrated it yet); for a standalone database set \
                 legacy_create_tables = true",
                self.target
            )));
        }
        let missing: Vec<&str> = required
            .iter()
            .copied()
            .filter(|c| !have.contains(*c))
            .collect();
        if !missing.is_empty() {
            return Err(Error::Config(format!(
                "table `{table}` in {} lacks the columns {}: not the schema Grafana uses; \
                 refusing to touch it",
                self.target,
                missing.join(", ")
            )));
        }
        Ok(())
    }

    /// Every row of Grafana's `secrets` table.
    async fn secrets_rows(&self) -> Result<Vec<rows::SecretRow>> {
        self.db
            .all_secrets()
            .await
            .map_err(|e| sql_error("reading the secrets table", e))
    }

    /// Decrypts up to [`PROBE_ROWS`] rows; when none of them yields plausible plaintext the
    /// secret_key is wrong, and opening fails instead of returning garbage later.
    async fn probe_secret_key(&self) -> Result<()> {
        let rows = self.secrets_rows().await?;
        let mut last_mismatch = None;
        let mut probed = 0;
        for row in rows.iter().take(PROBE_ROWS) {
            probed += 1;
            match self.decode(row, true).await {
                Ok(_) => return Ok(()),
                Err(Error::Crypto(m)) => last_mismatch = Some(m),
                Err(_) => {} // corrupt rows are reported when read
            }
        }
        match last_mismatch {
            Some(m) if probed > 0 => Err(Error::Crypto(format!(
                "the secret_key does not match this database ({} row(s) checked; last: {m})",
                probed
            ))),
            _ => Ok(()),
        }
    }

    fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }

    fn now_naive(&self) -> NaiveDateTime {
        let n = self.now().naive_utc();
        n.with_nanosecond(0).unwrap_or(n)
    }

    fn check_writable(&self, what: &str, key: &SecretKey) -> Result<()> {
        if self.read_only {
            return Err(Error::PermissionDenied(format!(
                "the legacy_sql backend is read-only (legacy_read_only = true); refused to {what} \
                 {key}"
            )));
        }
        Ok(())
    }

    /// The decrypted data key `id`, from the cache or the `data_keys` table.
    async fn data_key(&self, id: &str, row: &RowName) -> Result<DataKey> {
        if let Some(k) = self.cache.get(id) {
            return Ok(k);
        }
        let dk = self
            .db
            .data_key(id)
            .await
            .map_err(|e| sql_error("reading the data_keys table", e))?
            .ok_or_else(|| {
                Error::Crypto(format!(
                    "{row} is encrypted with data key {id:?}, which is not in the data_keys table"
                ))
            })?;
        let key = self.decrypt_data_key(dk).await?;
        self.cache.insert(key.clone());
        Ok(key)
    }

    async fn decrypt_data_key(&self, dk: rows::DataKeyRow) -> Result<DataKey> {
        if !datakeys::is_secret_key_provider(&dk.provider) {
            return Err(Error::Config(format!(
                "data key {:?} uses encryption provider {:?}; only {} (the secret_key) can be \
                 decrypted without Grafana",
                dk.name,
                dk.provider,
                datakeys::PROVIDER
            )));
        }
        let sk = Arc::clone(&self.secret_key);
        let name = dk.name.clone();
        let plain = tokio::task::spawn_blocking(move || crypto::decrypt(&dk.encrypted, &sk))
            .await
            .map_err(|e| Error::Storage(format!("a decryption task failed: {e}")))?
            .map_err(|e| match e {
                crypto::CryptoError::Authentication => Error::Crypto(format!(
                    "data key {name:?}: {e}: the secret_key does not match this database"
                )),
                other => Error::Corrupt(format!("data key {name:?}: {other}")),
            })?;
        if plain.len() != datakeys::DATA_KEY_LEN {
            return Err(Error::Corrupt(format!(
                "data key {name:?} decrypts to {} bytes instead of {}: its encrypted_data is \
                 damaged",
                plain.len(),
                datakeys::DATA_KEY_LEN
            )));
        }
        Ok(DataKey {
            id: name,
            key: Arc::new(plain),
        })
    }

    /// Today's active data key, created as Grafana creates it when there is none.
    async fn current_data_key(&self) -> Result<DataKey> {
        let now = self.now();
        let label = datakeys::label_for(now.date_naive());
        if let Some(k) = self.cache.current(&label) {
            return Ok(k);
        }
        let existing = self
            .db
            .current_data_key(&label)
            .await
            .map_err(|e| sql_error("reading the data_keys table", e))?;
        let key = match existing {
            Some(row) => self.decrypt_data_key(row).await?,
            None => {
                let sk = Arc::clone(&self.secret_key);
                let l = label.clone();
                let fresh =
                    tokio::task::spawn_blocking(move || datakeys::new_data_key(&l, &sk, now))
                        .await
                        .map_err(|e| Error::Storage(format!("data key creation failed: {e}")))?;
                let insert = rows::DataKeyInsert {
                    name: &fresh.key.id,
                    label: &fresh.label,
                    scope: datakeys::SCOPE,
                    provider: datakeys::PROVIDER,
                    encrypted: &fresh.encrypted,
                };
                let winner = self
                    .db
                    .insert_data_key(&insert, self.now_naive())
                    .await
                    .map_err(|e| sql_error(&format!("creating data key {label:?}"), e))?;
                match winner {
                    Some(row) => self.decrypt_data_key(row).await?,
                    None => fresh.key,
                }
            }
        };
        self.cache.set_current(&label, key.clone());
        Ok(key)
    }

    fn parse_row(row: &SecretRow) -> Result<Parsed> {
        let expect = if row.kind == "datasource" {
            Expect::JsonObject
        } else {
            Expect::Text
        };
        let name = RowName::secret(row.id, row.org_id, &row.namespace, &row.kind);
        codec::parse(name, row.value.as_deref(), &crypto::B64_RAW, expect)
    }

    /// Decrypts one row. With `strict`, a data-source value must be a JSON object (as Grafana
    /// writes it); otherwise any text is accepted, because the broker itself may have written
    /// another value under type `datasource`.
    async fn decode(&self, row: &SecretRow, strict: bool) -> Result<String> {
        let mut parsed = Self::parse_row(row)?;
        if !strict {
            parsed.expect = Expect::Text;
        }
        let key = match &parsed.key_id {
            Some(id) => Some(self.data_key(id, &parsed.row).await?),
            None => None,
        };
        let sk = Arc::clone(&self.secret_key);
        tokio::task::spawn_blocking(move || {
            let pw: &[u8] = key.as_ref().map(|k| k.key.as_slice()).unwrap_or(&sk);
            codec::open(&parsed, pw)
        })
        .await
        .map_err(|e| Error::Storage(format!("a decryption task failed: {e}")))?
    }

    fn item(row: &SecretRow, text: String) -> Result<Item> {
        let key =
            SecretKey::new(row.org_id, row.namespace.clone(), row.kind.clone()).map_err(|e| {
                Error::Corrupt(format!(
                    "secrets row id {} has a key this broker cannot represent: {e}",
                    row.id
                ))
            })?;
        Ok(Item {
            key,
            value: SecretValue::new(text)?,
        })
    }

    /// Reads and decrypts the whole `secrets` table (all cores), reporting unreadable rows
    /// instead of stopping at the first one; items and failures in table order.
    pub async fn scan(&self) -> Result<ScanReport> {
        let (done, mut all) =
            crate::backends::collect_batches(16, |tx| self.scan_batched(tx)).await;
        done?;
        all.sort_by_key(|(ordinal, _)| *ordinal);
        let mut report = ScanReport::default();
        for (_, res) in all {
            match res {
                Ok(item) => report.items.push(item),
                Err(e) => report.failures.push(e),
            }
        }
        Ok(report)
    }

    /// [`scan`](Self::scan) as batches of `(row ordinal, item or failure)`, sent as each chunk
    /// of values is decrypted. Ends early (with `Ok`) when `sink` closes.
    async fn scan_batched(
        &self,
        sink: tokio::sync::mpsc::Sender<Vec<(usize, Result<Item>)>>,
    ) -> Result<()> {
        let rows = self.secrets_rows().await?;
        let mut seen = BTreeSet::new();
        let mut failures = Vec::new();
        let mut parsed = Vec::new();
        for (ordinal, row) in rows.iter().enumerate() {
            if !seen.insert((row.org_id, row.namespace.as_str(), row.kind.as_str())) {
                continue; // duplicate row of a key (Grafana has no unique index): first wins
            }
            match Self::parse_row(row) {
                Ok(mut p) => {
                    p.expect = Expect::Text;
                    parsed.push((ordinal, p));
                }
                Err(e) => failures.push((ordinal, Err(e))),
            }
        }
        let mut keys: HashMap<String, Result<DataKey>> = HashMap::new();
        let mut jobs = Vec::new();
        let mut job_rows = Vec::new();
        for (ordinal, p) in parsed {
            let key = match &p.key_id {
                None => None,
                Some(id) => {
                    if !keys.contains_key(id) {
                        let k = self.data_key(id, &p.row).await;
                        keys.insert(id.clone(), k);
                    }
                    match &keys[id] {
                        Ok(k) => Some(k.clone()),
                        Err(_) => {
                            // Ask again so that the error names this row.
                            if let Err(e) = self.data_key(id, &p.row).await {
                                failures.push((ordinal, Err(e)));
                            }
                            continue;
                        }
                    }
                }
            };
            jobs.push(Job { parsed: p, key });
            job_rows.push(ordinal);
        }
        if !failures.is_empty() && sink.send(failures).await.is_err() {
            return Ok(());
        }
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<(usize, Result<String>)>>(4);
        let forward = async {
            while let Some(batch) = rx.recv().await {
                let out: Vec<(usize, Result<Item>)> = batch
                    .into_iter()
                    .map(|(job, res)| {
                        let ordinal = job_rows[job];
                        (
                            ordinal,
                            res.and_then(|text| Self::item(&rows[ordinal], text)),
                        )
                    })
                    .collect();
                if sink.send(out).await.is_err() {
                    return; // dropping `rx` stops the decryption workers
                }
            }
        };
        let (done, ()) = tokio::join!(
            codec::open_all_batched(jobs, Arc::clone(&self.secret_key), tx),
            forward
        );
        done
    }

    /// Data-source secrets for migration, with Grafana's precedence: see [`datasource`].
    pub async fn read_grafana_datasource_secrets(&self) -> Result<Vec<Item>> {
        datasource::read(self).await
    }
}

fn key_parts(key: &SecretKey) -> rows::KeyParts<'_> {
    (key.org_id(), key.namespace(), key.kind())
}

#[async_trait]
impl SecretStore for LegacySqlStore {
    fn name(&self) -> &'static str {
        BACKEND.name
    }

    async fn get(&self, key: &SecretKey) -> Result<Option<SecretValue>> {
        let row = self
            .db
            .one_secret(key_parts(key))
            .await
            .map_err(|e| sql_error(&format!("reading {key}"), e))?;
        match row {
            None => Ok(None),
            Some(row) => Ok(Some(SecretValue::new(self.decode(&row, false).await?)?)),
        }
    }

    async fn set(&self, key: &SecretKey, value: &SecretValue) -> Result<()> {
        self.check_writable("set", key)?;
        let dk = self.current_data_key().await?;
        let plain = Zeroizing::new(value.expose().as_bytes().to_vec());
        let text = tokio::task::spawn_blocking(move || codec::seal_for_secrets_table(&plain, &dk))
            .await
            .map_err(|e| Error::Storage(format!("an encryption task failed: {e}")))?;
        self.db
            .upsert(key_parts(key), &text, self.now_naive())
            .await
            .map_err(|e| sql_error(&format!("writing {key}"), e))
    }

    async fn delete(&self, key: &SecretKey) -> Result<()> {
        self.check_writable("delete", key)?;
        self.db
            .delete(key_parts(key))
            .await
            .map(|_| ())
            .map_err(|e| sql_error(&format!("deleting {key}"), e))
    }

    async fn list(&self, filter: &ListFilter) -> Result<Vec<SecretKey>> {
        let rows = self
            .db
            .list(filter.org_id(), filter.namespace(), filter.kind())
            .await
            .map_err(|e| sql_error("listing secrets", e))?;
        rows.into_iter()
            .map(|(org, ns, kind)| {
                SecretKey::new(org, ns, kind)
                    .map_err(|e| Error::Corrupt(format!("a stored key cannot be represented: {e}")))
            })
            .collect()
    }

    async fn rename_key(&self, rename: &Rename) -> Result<()> {
        let (key, target) = (rename.source(), rename.target());
        self.check_writable("rename", key)?;
        if rename.is_noop() {
            return Ok(());
        }
        self.db
            .rename(key_parts(key), target.namespace(), self.now_naive())
            .await
            .map_err(|e| sql_error(&format!("renaming {key} to {target}"), e))
    }

    async fn get_all(&self) -> Result<Vec<Item>> {
        let report = self.scan().await?;
        match report.failures.into_iter().next() {
            Some(e) => Err(e),
            None => Ok(report.items),
        }
    }

    /// Batches as values are decrypted; the first unreadable row stops the read and is the
    /// error (as in `get_all`, but not necessarily the first in table order).
    async fn get_all_batched(&self, sink: tokio::sync::mpsc::Sender<Vec<Item>>) -> Result<()> {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<(usize, Result<Item>)>>(4);
        let forward = async move {
            while let Some(batch) = rx.recv().await {
                let mut items = Vec::with_capacity(batch.len());
                for (_, res) in batch {
                    items.push(res?);
                }
                if sink.send(items).await.is_err() {
                    break;
                }
            }
            Ok(())
        };
        let (scanned, forwarded) = tokio::join!(self.scan_batched(tx), forward);
        forwarded.and(scanned)
    }
}
