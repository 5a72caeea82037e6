//! The SQL side of the `legacy_sql` backend: one sqlx pool per dialect (SQLite, PostgreSQL,
//! MySQL/MariaDB), the queries on Grafana's `secrets`, `data_keys` and `data_source` tables, and
//! the locked write transactions that keep two writers from losing an update.
//!
//! Grafana's own migration declares a unique index on `secrets (org_id, namespace, type)` but
//! never creates it, so correctness cannot rest on the index: every write runs in a transaction
//! that first takes a per-key lock (SQLite: `BEGIN IMMEDIATE` plus a busy timeout; PostgreSQL:
//! `pg_advisory_xact_lock`; MySQL: `GET_LOCK` on the transaction's connection).

use std::time::Duration;

use chrono::NaiveDateTime;
use sha2::{Digest, Sha256};
use sqlx::mysql::MySqlPool;
use sqlx::postgres::PgPool;
use sqlx::sqlite::SqlitePool;
use sqlx::Connection;

use super::schema::Queries;

use super::ops::{mysql_ops, pg_ops, sqlite_ops, DataKeyBy};
use super::rows::{DataKeyInsert, DataKeyRow, DataSourceRow, KeyParts, SecretRow};

/// How long a writer waits for another writer's lock before giving up.
pub const LOCK_WAIT: Duration = Duration::from_secs(30);

/// A failed database call.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The driver's error.
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
    /// A MySQL named lock was not granted in time.
    #[error("timed out after {0:?} waiting for another writer's lock")]
    LockTimeout(Duration),
}

/// An open pool on one of the three dialects.
#[derive(Debug)]
pub enum Db {
    /// SQLite.
    Sqlite(SqlitePool, Queries),
    /// PostgreSQL.
    Postgres(PgPool, Queries),
    /// MySQL or MariaDB.
    MySql(MySqlPool, Queries),
}

/// The name of the lock guarding one secret.
pub fn secret_lock(key: KeyParts<'_>) -> String {
    format!("secret\0{}\0{}\0{}", key.0, key.1, key.2)
}

/// The name of the lock guarding the creation of the data key for `label`.
pub fn data_key_lock(label: &str) -> String {
    format!("datakey\0{label}")
}

fn lock_digest(name: &str) -> [u8; 32] {
    Sha256::digest(format!("grafana-secrets-broker\0{name}").as_bytes()).into()
}

fn pg_lock_id(name: &str) -> i64 {
    let d = lock_digest(name);
    i64::from_be_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
}

fn mysql_lock_name(name: &str) -> String {
    format!("gsb-{}", hex::encode(&lock_digest(name)[..16]))
}

/// Runs `$call` on a pooled connection (reads).
macro_rules! read {
    ($db:expr, $call:ident ( $($arg:expr),* )) => {
        match $db {
            Db::Sqlite(p, q) => { let mut c = p.acquire().await?; Ok(sqlite_ops::$call(&mut c, q, $($arg),*).await?) }
            Db::Postgres(p, q) => { let mut c = p.acquire().await?; Ok(pg_ops::$call(&mut c, q, $($arg),*).await?) }
            Db::MySql(p, q) => { let mut c = p.acquire().await?; Ok(mysql_ops::$call(&mut c, q, $($arg),*).await?) }
        }
    };
}

/// Runs `$call` in a transaction holding the named locks, and commits.
macro_rules! locked {
    ($db:expr, $locks:expr, $call:ident ( $($arg:expr),* )) => {
        match $db {
            Db::Sqlite(p, q) => {
                let mut tx = p.begin_with("BEGIN IMMEDIATE").await?;
                let out = sqlite_ops::$call(&mut tx, q, $($arg),*).await?;
                tx.commit().await?;
                Ok(out)
            }
            Db::Postgres(p, q) => {
                let mut tx = p.begin().await?;
                for name in sorted($locks) {
                    sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(pg_lock_id(&name)).execute(&mut *tx).await?;
                }
                let out = pg_ops::$call(&mut tx, q, $($arg),*).await?;
                tx.commit().await?;
                Ok(out)
            }
            Db::MySql(p, q) => {
                let mut conn = p.acquire().await?;
                let names: Vec<String> = sorted($locks).iter().map(|n| mysql_lock_name(n)).collect();
                let res = async {
                    for name in &names {
                        let got: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK(?, ?)")
                            .bind(name).bind(LOCK_WAIT.as_secs() as i64).fetch_one(&mut *conn).await?;
                        if got != Some(1) {
                            return Err(DbError::LockTimeout(LOCK_WAIT));
                        }
                    }
                    let mut tx = conn.begin().await?;
                    let out = mysql_ops::$call(&mut tx, q, $($arg),*).await?;
                    tx.commit().await?;
                    Ok(out)
                }.await;
                let mut released = true;
                for name in &names {
                    released &= sqlx::query("SELECT RELEASE_LOCK(?)").bind(name).execute(&mut *conn).await.is_ok();
                }
                if !released {
                    // A connection that may still hold a lock must not go back to the pool.
                    let _ = conn.detach().close().await;
                }
                res
            }
        }
    };
}

fn sorted(locks: Vec<String>) -> Vec<String> {
    let mut locks = locks;
    locks.sort();
    locks.dedup();
    locks
}

impl Db {
    /// Every `secrets` row, by id.
    pub async fn all_secrets(&self) -> Result<Vec<SecretRow>, DbError> {
        read!(self, all_secrets())
    }

    /// The first row of `k`.
    pub async fn one_secret(&self, k: KeyParts<'_>) -> Result<Option<SecretRow>, DbError> {
        read!(self, one_secret(k))
    }

    /// Distinct keys with namespace `ns` and type `kind`, in `org` or every org.
    pub async fn list(
        &self,
        org: Option<i64>,
        ns: &str,
        kind: &str,
    ) -> Result<Vec<(i64, String, String)>, DbError> {
        read!(self, list(org, ns, kind))
    }

    /// The data key `id`.
    pub async fn data_key(&self, id: &str) -> Result<Option<DataKeyRow>, DbError> {
        read!(self, data_key(DataKeyBy::Id(id)))
    }

    /// The active data key labelled `label`.
    pub async fn current_data_key(&self, label: &str) -> Result<Option<DataKeyRow>, DbError> {
        read!(self, data_key(DataKeyBy::CurrentOf(label)))
    }

    /// Every `data_source` row, by id.
    pub async fn data_sources(&self) -> Result<Vec<DataSourceRow>, DbError> {
        read!(self, data_sources())
    }

    /// Deletes the `kv_store` row (`namespace`, `key`); returns how many rows there were.
    pub async fn delete_kv_store_row(&self, namespace: &str, key: &str) -> Result<u64, DbError> {
        // One statement on a pooled connection: atomic on its own, and no secret's lock applies.
        read!(self, delete_kv_store_row(namespace, key))
    }

    /// The columns of `table` from the schema catalogue; empty when there is no such table.
    pub async fn columns(&self, table: &str) -> Result<Vec<String>, DbError> {
        read!(self, columns(table))
    }

    /// Creates `secrets` and `data_keys` when missing.
    pub async fn create_tables(&self) -> Result<(), DbError> {
        locked!(self, Vec::new(), create_tables())
    }

    /// Sets the value of `k` (update every row of the key, or insert one).
    pub async fn upsert(
        &self,
        k: KeyParts<'_>,
        value: &str,
        now: NaiveDateTime,
    ) -> Result<(), DbError> {
        locked!(self, vec![secret_lock(k)], upsert(k, value, now))
    }

    /// Deletes every row of `k`; returns how many there were.
    pub async fn delete(&self, k: KeyParts<'_>) -> Result<u64, DbError> {
        locked!(self, vec![secret_lock(k)], delete(k))
    }

    /// Renames `from` to namespace `to_ns`, replacing the target.
    pub async fn rename(
        &self,
        from: KeyParts<'_>,
        to_ns: &str,
        now: NaiveDateTime,
    ) -> Result<(), DbError> {
        let locks = vec![secret_lock(from), secret_lock((from.0, to_ns, from.2))];
        locked!(self, locks, rename(from, to_ns, now))
    }

    /// Inserts a data key unless one for its label appeared; returns the winner in that case.
    pub async fn insert_data_key(
        &self,
        dk: &DataKeyInsert<'_>,
        now: NaiveDateTime,
    ) -> Result<Option<DataKeyRow>, DbError> {
        locked!(
            self,
            vec![data_key_lock(dk.label)],
            insert_data_key(dk, now)
        )
    }
}
