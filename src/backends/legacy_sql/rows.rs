//! The rows of Grafana's `secrets`, `data_keys` and `data_source` tables as the `legacy_sql`
//! backend reads and writes them, shared by the per-dialect queries and the pools that run them.

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
