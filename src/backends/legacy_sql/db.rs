//! The SQL side of the `legacy_sql` backend: one sqlx pool per dialect (SQLite, PostgreSQL,
//! MySQL/MariaDB), the queries on Grafana's `secrets`, `data_keys` and `data_source` tables, and
//! the locked write transactions that keep two writers from losing an update.
//!
//! Grafana's own migration declares a unique index on `secrets (org_id, namespace, type)` but
//! never creates it, so correctness cannot rest on the index: every write runs in a transaction
//! that first takes a per-key lock (SQLite: `BEGIN IMMEDIATE` plus a busy timeout; PostgreSQL:
//! `pg_advisory_xact_lock`; MySQL: `GET_LOCK` on the transaction's connection).

use std::str::FromStr;
use std::time::Duration;

use chrono::NaiveDateTime;
use sha2::{Digest, Sha256};
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgSslMode};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use sqlx::{Connection, Row};

use super::schema::{Dialect, Queries};
use super::settings::{DbTarget, ServerKind};

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

/// One `secrets` row.
#[derive(Debug, Clone)]
pub struct SecretRow {
    /// `id`.
    pub id: i64,
    /// `org_id`.
    pub org_id: i64,
    /// `namespace`.
    pub namespace: String,
    /// `type`.
    pub kind: String,
    /// `value` (base64 of the envelope blob); `None` for SQL NULL.
    pub value: Option<String>,
}

/// One `data_keys` row (the columns decryption needs).
#[derive(Debug, Clone)]
pub struct DataKeyRow {
    /// `name`: the data key id.
    pub name: String,
    /// `provider`.
    pub provider: String,
    /// `encrypted_data`.
    pub encrypted: Vec<u8>,
}

/// A data key to insert.
#[derive(Debug)]
pub struct DataKeyInsert<'a> {
    /// `name`.
    pub name: &'a str,
    /// `label`.
    pub label: &'a str,
    /// `scope`.
    pub scope: &'a str,
    /// `provider`.
    pub provider: &'a str,
    /// `encrypted_data`.
    pub encrypted: &'a [u8],
}

/// One `data_source` row (the columns migration needs).
#[derive(Debug, Clone)]
pub struct DataSourceRow {
    /// `id`.
    pub id: i64,
    /// `org_id`.
    pub org_id: i64,
    /// `name`.
    pub name: String,
    /// `secure_json_data` (JSON map of padded-base64 blobs), if any.
    pub secure_json_data: Option<String>,
}

/// A (org, namespace, type) triple as stored.
pub type KeyParts<'a> = (i64, &'a str, &'a str);

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

/// Opens a pool. `read_only` also makes the connection itself read-only where the driver can;
/// `create` lets SQLite create a missing file.
pub async fn connect(target: &DbTarget, read_only: bool, create: bool) -> Result<Db, DbError> {
    match target {
        DbTarget::Url(url) => match url.split(':').next().unwrap_or("") {
            "sqlite" => {
                connect_sqlite(SqliteConnectOptions::from_str(url)?, read_only, create).await
            }
            "postgres" | "postgresql" => {
                connect_pg(PgConnectOptions::from_str(url)?, read_only).await
            }
            _ => {
                let url = url.replacen("mariadb://", "mysql://", 1);
                connect_mysql(MySqlConnectOptions::from_str(&url)?, read_only).await
            }
        },
        DbTarget::Sqlite(path) => {
            connect_sqlite(
                SqliteConnectOptions::new().filename(path),
                read_only,
                create,
            )
            .await
        }
        DbTarget::Server(s) if s.kind == ServerKind::Postgres => {
            let mut o = PgConnectOptions::new()
                .host(&s.host)
                .port(s.port)
                .username(&s.user)
                .password(&s.password)
                .database(&s.name)
                .ssl_mode(PgSslMode::Disable);
            if let Some(mode) = &s.ssl_mode {
                o = o.ssl_mode(PgSslMode::from_str(mode)?);
            }
            connect_pg(o, read_only).await
        }
        DbTarget::Server(s) => {
            let o = MySqlConnectOptions::new()
                .username(&s.user)
                .password(&s.password)
                .database(&s.name);
            let o = if s.host.starts_with('/') {
                o.socket(&s.host)
            } else {
                o.host(&s.host).port(s.port)
            };
            connect_mysql(o, read_only).await
        }
    }
}

const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

async fn connect_sqlite(
    opts: SqliteConnectOptions,
    read_only: bool,
    create: bool,
) -> Result<Db, DbError> {
    let opts = opts
        .read_only(read_only)
        .create_if_missing(create && !read_only)
        .busy_timeout(LOCK_WAIT);
    let pool = SqlitePoolOptions::new()
        .max_connections(4)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(opts)
        .await?;
    Ok(Db::Sqlite(pool, Queries::new(Dialect::Sqlite)))
}

async fn connect_pg(opts: PgConnectOptions, read_only: bool) -> Result<Db, DbError> {
    let opts = if read_only {
        opts.options([("default_transaction_read_only", "on")])
    } else {
        opts
    };
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(opts)
        .await?;
    Ok(Db::Postgres(pool, Queries::new(Dialect::Postgres)))
}

async fn connect_mysql(opts: MySqlConnectOptions, read_only: bool) -> Result<Db, DbError> {
    let mut pool = MySqlPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(ACQUIRE_TIMEOUT);
    if read_only {
        pool = pool.after_connect(|conn, _| {
            Box::pin(async move {
                sqlx::query("SET SESSION TRANSACTION READ ONLY")
                    .execute(conn)
                    .await
                    .map(|_| ())
            })
        });
    }
    let pool = pool.connect_with(opts).await?;
    Ok(Db::MySql(pool, Queries::new(Dialect::MySql)))
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

macro_rules! dialect_ops {
    ($modname:ident, $conn:ty, $ts:ty, $to_ts:expr) => {
        /// Queries on one concrete dialect (generated once per dialect).
        pub mod $modname {
            use super::*;

            fn ts(now: NaiveDateTime) -> $ts {
                ($to_ts)(now)
            }

            type DbRow = <<$conn as Connection>::Database as sqlx::Database>::Row;

            /// A text column. MySQL reports columns with a binary collation (`utf8mb4_bin`) as
            /// VARBINARY/BLOB, so fall back to bytes that must be UTF-8.
            fn opt_text(r: &DbRow, i: usize) -> Result<Option<String>, sqlx::Error> {
                match r.try_get::<Option<String>, _>(i) {
                    Ok(s) => Ok(s),
                    Err(e) => match r.try_get::<Option<Vec<u8>>, _>(i) {
                        Ok(b) => b
                            .map(String::from_utf8)
                            .transpose()
                            .map_err(|u| sqlx::Error::Decode(Box::new(u))),
                        Err(_) => Err(e),
                    },
                }
            }

            fn text(r: &DbRow, i: usize) -> Result<String, sqlx::Error> {
                opt_text(r, i)?.ok_or_else(|| sqlx::Error::ColumnDecode {
                    index: i.to_string(),
                    source: "unexpected NULL".into(),
                })
            }

            fn secret_row(r: &DbRow) -> Result<SecretRow, sqlx::Error> {
                Ok(SecretRow {
                    id: r.try_get(0)?,
                    org_id: r.try_get(1)?,
                    namespace: text(r, 2)?,
                    kind: text(r, 3)?,
                    value: opt_text(r, 4)?,
                })
            }

            fn data_key_row(r: &DbRow) -> Result<DataKeyRow, sqlx::Error> {
                Ok(DataKeyRow {
                    name: text(r, 0)?,
                    provider: text(r, 1)?,
                    encrypted: r.try_get(2)?,
                })
            }

            pub async fn all_secrets(
                c: &mut $conn,
                q: &Queries,
            ) -> Result<Vec<SecretRow>, sqlx::Error> {
                let rows = sqlx::query(&q.select_all).fetch_all(&mut *c).await?;
                rows.iter().map(secret_row).collect()
            }

            pub async fn one_secret(
                c: &mut $conn,
                q: &Queries,
                k: KeyParts<'_>,
            ) -> Result<Option<SecretRow>, sqlx::Error> {
                let row = sqlx::query(&q.select_one)
                    .bind(k.0)
                    .bind(k.1)
                    .bind(k.2)
                    .fetch_optional(&mut *c)
                    .await?;
                row.as_ref().map(secret_row).transpose()
            }

            pub async fn list(
                c: &mut $conn,
                q: &Queries,
                org: Option<i64>,
                ns: &str,
                kind: &str,
            ) -> Result<Vec<(i64, String, String)>, sqlx::Error> {
                let rows = match org {
                    Some(o) => {
                        sqlx::query(&q.list_org)
                            .bind(ns)
                            .bind(kind)
                            .bind(o)
                            .fetch_all(&mut *c)
                            .await?
                    }
                    None => {
                        sqlx::query(&q.list_all)
                            .bind(ns)
                            .bind(kind)
                            .fetch_all(&mut *c)
                            .await?
                    }
                };
                rows.iter()
                    .map(|r| Ok((r.try_get(0)?, text(r, 1)?, text(r, 2)?)))
                    .collect()
            }

            pub async fn data_key(
                c: &mut $conn,
                q: &Queries,
                id: &str,
            ) -> Result<Option<DataKeyRow>, sqlx::Error> {
                let row = sqlx::query(&q.data_key_by_id)
                    .bind(id)
                    .fetch_optional(&mut *c)
                    .await?;
                row.as_ref().map(data_key_row).transpose()
            }

            pub async fn current_data_key(
                c: &mut $conn,
                q: &Queries,
                label: &str,
            ) -> Result<Option<DataKeyRow>, sqlx::Error> {
                let row = sqlx::query(&q.data_key_current)
                    .bind(label)
                    .fetch_optional(&mut *c)
                    .await?;
                row.as_ref().map(data_key_row).transpose()
            }

            pub async fn data_sources(
                c: &mut $conn,
                q: &Queries,
            ) -> Result<Vec<DataSourceRow>, sqlx::Error> {
                let rows = sqlx::query(&q.data_sources).fetch_all(&mut *c).await?;
                rows.iter()
                    .map(|r| {
                        Ok(DataSourceRow {
                            id: r.try_get(0)?,
                            org_id: r.try_get(1)?,
                            name: text(r, 2)?,
                            secure_json_data: opt_text(r, 3)?,
                        })
                    })
                    .collect()
            }

            pub async fn columns(
                c: &mut $conn,
                q: &Queries,
                table: &str,
            ) -> Result<Vec<String>, sqlx::Error> {
                let rows = sqlx::query(&q.columns)
                    .bind(table)
                    .fetch_all(&mut *c)
                    .await?;
                rows.iter().map(|r| text(r, 0)).collect()
            }

            pub async fn create_tables(c: &mut $conn, q: &Queries) -> Result<(), sqlx::Error> {
                for stmt in q.create_tables {
                    sqlx::query(stmt).execute(&mut *c).await?;
                }
                Ok(())
            }

            /// Replaces the value of every row of `k`, or inserts one row.
            pub async fn upsert(
                c: &mut $conn,
                q: &Queries,
                k: KeyParts<'_>,
                value: &str,
                now: NaiveDateTime,
            ) -> Result<(), sqlx::Error> {
                let updated = sqlx::query(&q.update_value)
                    .bind(value)
                    .bind(ts(now))
                    .bind(k.0)
                    .bind(k.1)
                    .bind(k.2)
                    .execute(&mut *c)
                    .await?;
                if updated.rows_affected() == 0 {
                    sqlx::query(&q.insert_secret)
                        .bind(k.0)
                        .bind(k.1)
                        .bind(k.2)
                        .bind(value)
                        .bind(ts(now))
                        .bind(ts(now))
                        .execute(&mut *c)
                        .await?;
                }
                Ok(())
            }

            pub async fn delete(
                c: &mut $conn,
                q: &Queries,
                k: KeyParts<'_>,
            ) -> Result<u64, sqlx::Error> {
                Ok(sqlx::query(&q.delete_secret)
                    .bind(k.0)
                    .bind(k.1)
                    .bind(k.2)
                    .execute(&mut *c)
                    .await?
                    .rows_affected())
            }

            /// Moves `from` to namespace `to_ns`, replacing any row already there.
            pub async fn rename(
                c: &mut $conn,
                q: &Queries,
                from: KeyParts<'_>,
                to_ns: &str,
                now: NaiveDateTime,
            ) -> Result<(), sqlx::Error> {
                if one_secret(&mut *c, q, from).await?.is_none() {
                    return Ok(());
                }
                sqlx::query(&q.delete_secret)
                    .bind(from.0)
                    .bind(to_ns)
                    .bind(from.2)
                    .execute(&mut *c)
                    .await?;
                sqlx::query(&q.rename_secret)
                    .bind(to_ns)
                    .bind(ts(now))
                    .bind(from.0)
                    .bind(from.1)
                    .bind(from.2)
                    .execute(&mut *c)
                    .await?;
                Ok(())
            }

            /// Inserts `dk` unless an active key for its label appeared meanwhile; returns that
            /// key instead when one did.
            pub async fn insert_data_key(
                c: &mut $conn,
                q: &Queries,
                dk: &DataKeyInsert<'_>,
                now: NaiveDateTime,
            ) -> Result<Option<DataKeyRow>, sqlx::Error> {
                if let Some(existing) = current_data_key(&mut *c, q, dk.label).await? {
                    return Ok(Some(existing));
                }
                sqlx::query(&q.insert_data_key)
                    .bind(dk.name)
                    .bind(dk.label)
                    .bind(true)
                    .bind(dk.scope)
                    .bind(dk.provider)
                    .bind(dk.encrypted)
                    .bind(ts(now))
                    .bind(ts(now))
                    .execute(&mut *c)
                    .await?;
                Ok(None)
            }
        }
    };
}

dialect_ops!(
    sqlite_ops,
    sqlx::SqliteConnection,
    String,
    |t: NaiveDateTime| t.format("%Y-%m-%d %H:%M:%S").to_string()
);
dialect_ops!(
    pg_ops,
    sqlx::PgConnection,
    NaiveDateTime,
    |t: NaiveDateTime| t
);
dialect_ops!(
    mysql_ops,
    sqlx::MySqlConnection,
    NaiveDateTime,
    |t: NaiveDateTime| t
);

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
    /// Which dialect this is.
    pub fn dialect(&self) -> Dialect {
        match self {
            Db::Sqlite(..) => Dialect::Sqlite,
            Db::Postgres(..) => Dialect::Postgres,
            Db::MySql(..) => Dialect::MySql,
        }
    }

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
        read!(self, data_key(id))
    }

    /// The active data key labelled `label`.
    pub async fn current_data_key(&self, label: &str) -> Result<Option<DataKeyRow>, DbError> {
        read!(self, current_data_key(label))
    }

    /// Every `data_source` row, by id.
    pub async fn data_sources(&self) -> Result<Vec<DataSourceRow>, DbError> {
        read!(self, data_sources())
    }

    /// Column names of `table` (empty when the table does not exist).
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
