//! Opening the sqlx pool for a [`DbTarget`]: URL or field-wise settings, per dialect, with
//! read-only connections where the driver allows and SQLite's busy timeout. A URL's `password`
//! query parameter is taken out and given to the driver as the password (MySQL's driver would
//! ignore it), and query parameters the driver does not use are dropped before it sees them:
//! sqlx logs an unknown PostgreSQL parameter with its value, which could be a password (say
//! `passwd=…`, or the tail of a password holding an unencoded `&`).

use std::str::FromStr;
use std::time::Duration;

use sqlx::mysql::MySqlConnectOptions;
use sqlx::postgres::{PgConnectOptions, PgSslMode};
use sqlx::sqlite::SqliteConnectOptions;
use zeroize::Zeroizing;

use super::db::{Db, DbError, LOCK_WAIT};
use super::schema::{Dialect, Queries};
use super::settings::{is_password_param, DbTarget, ServerKind};

/// Opens a pool. `read_only` also makes the connection itself read-only where the driver can;
/// `create` lets SQLite create a missing file.
pub async fn connect(target: &DbTarget, read_only: bool, create: bool) -> Result<Db, DbError> {
    match target {
        DbTarget::Url(url) => match url.split(':').next().unwrap_or("") {
            "sqlite" => {
                connect_sqlite(SqliteConnectOptions::from_str(url)?, read_only, create).await
            }
            "postgres" | "postgresql" => {
                let q = DriverQuery::split(url, |name| PG_PARAMS.contains(&name));
                let mut o = PgConnectOptions::from_str(&q.url)?;
                if let Some(pw) = &q.password {
                    o = o.password(pw);
                }
                connect_pg(o, read_only).await
            }
            _ => {
                let url = url.replacen("mariadb://", "mysql://", 1);
                // sqlx ignores MySQL parameters it does not know, without logging them.
                let q = DriverQuery::split(&url, |name| !is_password_param(name));
                let mut o = MySqlConnectOptions::from_str(&q.url)?;
                if let Some(pw) = &q.password {
                    o = o.password(pw);
                }
                connect_mysql(o, read_only).await
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

/// The PostgreSQL URL parameters sqlx 0.8 uses (besides `password`, which we take out).
const PG_PARAMS: &[&str] = &[
    "sslmode",
    "ssl-mode",
    "sslrootcert",
    "ssl-root-cert",
    "ssl-ca",
    "sslcert",
    "ssl-cert",
    "sslkey",
    "ssl-key",
    "statement-cache-capacity",
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "application_name",
    "options",
];

/// A database URL prepared for the driver: its query holds only parameters the driver uses.
struct DriverQuery {
    /// The URL without the password parameter and without dropped parameters.
    url: Zeroizing<String>,
    /// The last `password` parameter, decoded.
    password: Option<Zeroizing<String>>,
}

impl DriverQuery {
    /// Splits `url`'s query (everything after the first `?`, up to a `#`): a `password`
    /// parameter is taken out, others are kept when `keep` accepts their name (or it starts
    /// with `options[`), and the rest are dropped with a warning that shows only their number
    /// (a dropped name may be the tail of a password that holds an unencoded `&`).
    fn split(url: &str, keep: impl Fn(&str) -> bool) -> Self {
        let Some(q) = url
            .find('?')
            .filter(|q| url.find('#').is_none_or(|h| *q < h))
        else {
            return Self {
                url: Zeroizing::new(url.to_string()),
                password: None,
            };
        };
        let query = &url[q + 1..];
        let query = query.split_once('#').map_or(query, |(before, _)| before);
        let mut kept: Vec<&str> = Vec::new();
        let mut password = None;
        let mut dropped = 0usize;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (raw_name, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = form_decode(raw_name);
            if name.eq_ignore_ascii_case("password") {
                password = Some(form_decode(raw_value));
            } else if keep(&name) || name.starts_with("options[") {
                kept.push(pair);
            } else {
                dropped += 1;
            }
        }
        if dropped > 0 {
            tracing::warn!(
                dropped,
                "ignoring database URL parameters the driver does not use (names not shown: \
                 one may hold part of a password)"
            );
        }
        let mut out = Zeroizing::new(url[..q].to_string());
        if !kept.is_empty() {
            out.push('?');
            out.push_str(&kept.join("&"));
        }
        Self { url: out, password }
    }
}

/// `application/x-www-form-urlencoded` decoding (`+` is a space, `%XX` a byte); malformed
/// escapes are kept as they are.
fn form_decode(s: &str) -> Zeroizing<String> {
    let bytes = s.as_bytes();
    let mut out = Zeroizing::new(Vec::with_capacity(bytes.len()));
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = |b: u8| (b as char).to_digit(16);
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    Zeroizing::new(String::from_utf8_lossy(&out).into_owned())
}

const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// The pool settings every dialect shares: 4 connections, 30 s to get one.
fn pool_options<DB: sqlx::Database>() -> sqlx::pool::PoolOptions<DB> {
    sqlx::pool::PoolOptions::new()
        .max_connections(4)
        .acquire_timeout(ACQUIRE_TIMEOUT)
}

async fn connect_sqlite(
    opts: SqliteConnectOptions,
    read_only: bool,
    create: bool,
) -> Result<Db, DbError> {
    let opts = opts
        .read_only(read_only)
        .create_if_missing(create && !read_only)
        .busy_timeout(LOCK_WAIT);
    let pool = pool_options().connect_with(opts).await?;
    Ok(Db::Sqlite(pool, Queries::new(Dialect::Sqlite)))
}

async fn connect_pg(opts: PgConnectOptions, read_only: bool) -> Result<Db, DbError> {
    let opts = if read_only {
        opts.options([("default_transaction_read_only", "on")])
    } else {
        opts
    };
    let pool = pool_options().connect_with(opts).await?;
    Ok(Db::Postgres(pool, Queries::new(Dialect::Postgres)))
}

async fn connect_mysql(opts: MySqlConnectOptions, read_only: bool) -> Result<Db, DbError> {
    let mut pool = pool_options::<sqlx::MySql>();
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_driver_sees_only_parameters_it_uses_and_the_password_is_taken_out() {
        let q = DriverQuery::split(
            "postgres://g@h:5432/db?sslmode=disable&password=p%2Fa%26s+s&passwd=x&ss&options[a]=b#frag",
            |n| PG_PARAMS.contains(&n),
        );
        assert_eq!(
            q.url.as_str(),
            "postgres://g@h:5432/db?sslmode=disable&options[a]=b"
        );
        assert_eq!(q.password.as_deref().map(String::as_str), Some("p/a&s s"));
        let q = DriverQuery::split("mysql://r@h/db?charset=utf8mb4&PASSWORD=pw", |n| {
            !is_password_param(n)
        });
        assert_eq!(q.url.as_str(), "mysql://r@h/db?charset=utf8mb4");
        assert_eq!(q.password.as_deref().map(String::as_str), Some("pw"));
        let q = DriverQuery::split("postgres://g:pw@h/db", |_| true);
        assert_eq!(
            (q.url.as_str(), q.password.is_none()),
            ("postgres://g:pw@h/db", true)
        );
        assert_eq!(form_decode("%zz%4").as_str(), "%zz%4");
    }
}
