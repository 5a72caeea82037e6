//! Mapping database failures onto `backends::Error`: unreachable servers and lock waits are
//! transient, bad logins are permission problems, everything names what was being done.

use super::db::DbError;
use crate::backends::Error;

pub(crate) fn connect_error(target: &str, e: DbError) -> Error {
    match &e {
        DbError::Sql(sqlx::Error::Database(d)) => {
            let code = d.code().unwrap_or_default();
            if matches!(code.as_ref(), "28P01" | "28000" | "1045" | "1044" | "42501") {
                return Error::PermissionDenied(format!("cannot log in to {target}: {d}"));
            }
            Error::Config(format!("cannot open {target}: {d}"))
        }
        DbError::Sql(sqlx::Error::Configuration(c)) => {
            Error::Config(format!("invalid database settings for {target}: {c}"))
        }
        _ => match sql_error("connecting", e) {
            Error::Storage(m) => Error::Config(format!("cannot open {target}: {m}")),
            other => other,
        },
    }
}

pub(crate) fn sql_error(what: &str, e: DbError) -> Error {
    match e {
        DbError::LockTimeout(_) => Error::Unavailable(format!("{what}: {e}")),
        DbError::Sql(ref s) => match s {
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => {
                Error::Unavailable(format!("{what}: {e}"))
            }
            sqlx::Error::Database(d) => {
                let msg = d.message().to_ascii_lowercase();
                let code = d.code().unwrap_or_default();
                if code == "22001" || msg.contains("too long") {
                    Error::Storage(format!(
                        "{what}: the encrypted value is too long for this database's \
                         secrets.value column (on MySQL, Grafana's TEXT column holds 65,535 \
                         bytes, about 48 KB of secret)"
                    ))
                } else if msg.contains("locked") || msg.contains("busy") || code == "40P01" {
                    Error::Unavailable(format!("{what}: {e}"))
                } else if msg.contains("read-only") || msg.contains("readonly") || code == "25006" {
                    Error::PermissionDenied(format!("{what}: {e}"))
                } else {
                    Error::Storage(format!("{what}: {e}"))
                }
            }
            _ => Error::Storage(format!("{what}: {e}")),
        },
    }
}
