//! Opening the sqlx pool for a [`DbTarget`]: URL or field-wise settings, per dialect, with
//! read-only connections where the driver allows and SQLite's busy timeout.

use std::str::FromStr;
use std::time::Duration;

use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgSslMode};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

use super::db::{Db, DbError, LOCK_WAIT};
use super::schema::{Dialect, Queries};
use super::settings::{DbTarget, ServerKind};

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
