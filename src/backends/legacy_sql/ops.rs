//! The statements of the `legacy_sql` backend run on one connection, generated once per
//! dialect (`sqlite_ops`, `pg_ops`, `mysql_ops`) from the same source by a macro, because sqlx
//! types differ per database while the logic does not.

use chrono::NaiveDateTime;
use sqlx::{Connection, Row};

use super::rows::{DataKeyInsert, DataKeyRow, DataSourceRow, KeyParts, SecretRow};
use super::schema::Queries;

/// Which data key to read.
#[derive(Debug, Clone, Copy)]
pub enum DataKeyBy<'a> {
    /// The key with this name (id).
    Id(&'a str),
    /// The active key of this label.
    CurrentOf(&'a str),
}

macro_rules! dialect_ops {
    ($modname:ident, $conn:ty, $ts:ty, $to_ts:expr) => {
        /// Queries on one concrete dialect (generated once per dialect).
        pub mod $modname {
            use super::*;

            fn ts(now: NaiveDateTime) -> $ts {
                ($to_ts)(now)
            }

            type Db = <$conn as Connection>::Database;
            type DbRow = <Db as sqlx::Database>::Row;
            type Query<'q> = sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments<'q>>;

            /// `query` with the key's org, namespace and type bound as its next three parameters.
            fn bind_key<'q>(query: Query<'q>, k: KeyParts<'q>) -> Query<'q> {
                query.bind(k.0).bind(k.1).bind(k.2)
            }

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
                let row = bind_key(sqlx::query(&q.select_one), k)
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

            /// The data key `by` names, if there is one.
            pub async fn data_key(
                c: &mut $conn,
                q: &Queries,
                by: DataKeyBy<'_>,
            ) -> Result<Option<DataKeyRow>, sqlx::Error> {
                let (sql, param) = match by {
                    DataKeyBy::Id(id) => (&q.data_key_by_id, id),
                    DataKeyBy::CurrentOf(label) => (&q.data_key_current, label),
                };
                let row = sqlx::query(sql).bind(param).fetch_optional(&mut *c).await?;
                row.as_ref().map(data_key_row).transpose()
            }

            pub async fn delete_kv_store_row(
                c: &mut $conn,
                q: &Queries,
                namespace: &str,
                key: &str,
            ) -> Result<u64, sqlx::Error> {
                Ok(sqlx::query(&q.delete_kv_store_row)
                    .bind(namespace)
                    .bind(key)
                    .execute(&mut *c)
                    .await?
                    .rows_affected())
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
                let updated = bind_key(sqlx::query(&q.update_value).bind(value).bind(ts(now)), k)
                    .execute(&mut *c)
                    .await?;
                if updated.rows_affected() == 0 {
                    bind_key(sqlx::query(&q.insert_secret), k)
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
                Ok(bind_key(sqlx::query(&q.delete_secret), k)
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
                bind_key(
                    sqlx::query(&q.rename_secret).bind(to_ns).bind(ts(now)),
                    from,
                )
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
                if let Some(existing) = data_key(&mut *c, q, DataKeyBy::CurrentOf(dk.label)).await?
                {
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
