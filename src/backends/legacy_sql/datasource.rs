//! Data-source secrets for migration. Grafana keeps them in two places: the `secrets` table
//! (namespace = data-source name, type `datasource`, value = JSON object of the decrypted
//! fields) and, before its kvstore migration, `data_source.secure_json_data` (a JSON map of
//! field → padded-base64 encrypted blob). As in Grafana, the `secrets` row wins when both exist.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::codec::{self, Expect, RowName};
use super::errors::sql_error;
use super::schema::DATA_SOURCE_COLUMNS;
use super::{crypto, LegacySqlStore};
use crate::backends::{Error, Result};
use crate::domain::{Item, SecretKey, SecretValue};

/// Type of the `secrets` rows holding data-source secrets.
pub const DATASOURCE_TYPE: &str = "datasource";

/// One item per data source that has secrets: key (org, data-source name, `datasource`),
/// value the JSON object of its decrypted fields as Grafana's secrets plugin stores it.
/// Data sources without any secret are left out.
pub async fn read(store: &LegacySqlStore) -> Result<Vec<Item>> {
    store
        .check_table("data_source", DATA_SOURCE_COLUMNS)
        .await?;
    let sources = store
        .db
        .data_sources()
        .await
        .map_err(|e| sql_error("reading the data_source table", e))?;
    let rows = store.secrets_rows().await?;
    let mut by_name = HashMap::new();
    for row in rows.iter().filter(|r| r.kind == DATASOURCE_TYPE) {
        by_name
            .entry((row.org_id, row.namespace.as_str()))
            .or_insert(row);
    }
    let mut out = Vec::new();
    for ds in &sources {
        let key = SecretKey::new(ds.org_id, ds.name.clone(), DATASOURCE_TYPE).map_err(|e| {
            Error::Corrupt(format!(
                "data_source id {} (org {}) has a name this broker cannot use as a key: {e}",
                ds.id, ds.org_id
            ))
        })?;
        let text = if let Some(row) = by_name.get(&(ds.org_id, ds.name.as_str())) {
            store.decode(row, true).await?
        } else {
            match legacy_fields(store, ds).await? {
                Some(json) => json,
                None => continue,
            }
        };
        out.push(Item {
            key,
            value: SecretValue::new(text)?,
        });
    }
    Ok(out)
}

/// Decrypts `secure_json_data`; `None` when it holds no field.
async fn legacy_fields(
    store: &LegacySqlStore,
    ds: &super::rows::DataSourceRow,
) -> Result<Option<String>> {
    let what = format!(
        "data_source id {} (org {}, name {:?})",
        ds.id, ds.org_id, ds.name
    );
    let Some(raw) = ds
        .secure_json_data
        .as_deref()
        .filter(|s| !s.trim().is_empty())
    else {
        return Ok(None);
    };
    let fields: Option<BTreeMap<String, String>> = serde_json::from_str(raw).map_err(|_| {
        Error::Corrupt(format!(
            "{what}: secure_json_data is not a JSON object of base64 strings"
        ))
    })?;
    let Some(fields) = fields.filter(|f| !f.is_empty()) else {
        return Ok(None);
    };
    let mut jobs = Vec::new();
    for (field, blob) in &fields {
        let row = RowName(format!("{what}, secure_json_data field {field:?}"));
        let parsed = codec::parse(row, Some(blob), &crypto::B64_PADDED, Expect::Text)?;
        let key = match &parsed.key_id {
            Some(id) => Some(store.data_key(id, &parsed.row).await?),
            None => None,
        };
        jobs.push(codec::Job { parsed, key });
    }
    let results = codec::open_all(jobs, Arc::clone(&store.secret_key)).await?;
    let mut plain = BTreeMap::new();
    for (field, res) in fields.keys().zip(results) {
        plain.insert(field.clone(), res?);
    }
    codec::go_json(&plain).map(Some)
}
