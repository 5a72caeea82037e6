//! `doctor`'s checks of the `legacy_sql` backend, read-only: the database can be reached and
//! logged in to, Grafana's `secrets` and `data_keys` tables exist with the columns the backend
//! uses (the checks the store runs at start, each reported on its own), and the secret_key
//! decrypts the first rows.

use std::sync::Arc;

use chrono::Utc;
use zeroize::Zeroizing;

use super::datakeys::DataKeyCache;
use super::errors::connect_error;
use super::{connect, schema, LegacySqlConfig, LegacySqlStore};
use crate::backends::diagnosis::Finding;
use crate::backends::Error;

/// Every finding about the database of `config`.
pub(super) async fn diagnose(config: &LegacySqlConfig) -> Vec<Finding> {
    let mut out = Vec::new();
    let target = format!("{:?}", config.target);
    let subject = format!("database {target}");
    let db = match connect::connect(&config.target, true, false).await {
        Ok(db) => db,
        Err(e) => {
            let e = connect_error(&target, e);
            let fix = match e {
                Error::PermissionDenied(_) => {
                    "correct the database user and password (legacy_database_url, or [database] in \
                     the file named by legacy_grafana_ini), and grant that user access to the \
                     database"
                }
                _ => {
                    "check legacy_database_url (or legacy_grafana_ini), that the database server \
                     runs and this host may connect to it"
                }
            };
            out.push(Finding::problem(
                "legacy_sql.connect",
                subject,
                e.to_string(),
                fix,
            ));
            return out;
        }
    };
    out.push(Finding::ok(
        "legacy_sql.connect",
        subject,
        "connected and logged in",
    ));
    let store = LegacySqlStore {
        db,
        secret_key: Arc::new(Zeroizing::new(config.secret_key.as_bytes().to_vec())),
        read_only: true,
        cache: DataKeyCache::default(),
        clock: Arc::new(Utc::now),
        target: target.clone(),
    };
    let mut schema_ok = true;
    for (table, cols) in schema::REQUIRED {
        let check = format!("legacy_sql.schema.{table}");
        let subject = format!("table `{table}`");
        let absent = store.db.columns(table).await.is_ok_and(|c| c.is_empty());
        if absent && config.create_tables {
            out.push(Finding::ok(
                &check,
                subject,
                "does not exist yet; the plugin creates it at start (legacy_create_tables = true)",
            ));
            continue;
        }
        match store.check_table(table, cols).await {
            Ok(()) => out.push(Finding::ok(
                &check,
                subject,
                format!(
                    "exists with the columns the backend uses ({})",
                    cols.join(", ")
                ),
            )),
            Err(e) => {
                schema_ok = false;
                out.push(Finding::problem(
                    &check,
                    subject,
                    e.to_string(),
                    "point legacy_database_url (or legacy_grafana_ini) at Grafana's own database, \
                     after Grafana has started once and migrated it (for a standalone database: \
                     legacy_create_tables = true)",
                ))
            }
        }
    }
    if schema_ok {
        out.push(match store.probe_secret_key().await {
            Ok(()) => Finding::ok(
                "legacy_sql.secret_key",
                "secret_key",
                "decrypts the stored secrets (or there are none yet)",
            ),
            Err(e) => Finding::problem(
                "legacy_sql.secret_key",
                "secret_key",
                e.to_string(),
                "set legacy_secret_key to Grafana's [security] secret_key (or legacy_grafana_ini \
                 to the ini file that holds it)",
            ),
        });
    }
    out
}
