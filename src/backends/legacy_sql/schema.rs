//! The SQL text of the `legacy_sql` backend per dialect: the queries, the columns Grafana's
//! tables must have, and the DDL used only when `legacy_create_tables` is set (Grafana's own
//! column types, plus the unique index Grafana's migration declares).

/// The three SQL dialects Grafana supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite 3.
    Sqlite,
    /// PostgreSQL.
    Postgres,
    /// MySQL or MariaDB.
    MySql,
}

/// Columns the backend reads or writes, per table.
pub const REQUIRED: &[(&str, &[&str])] = &[
    (
        "secrets",
        &[
            "id",
            "org_id",
            "namespace",
            "type",
            "value",
            "created",
            "updated",
        ],
    ),
    (
        "data_keys",
        &[
            "name",
            "label",
            "active",
            "scope",
            "provider",
            "encrypted_data",
            "created",
            "updated",
        ],
    ),
];

/// Columns `read_grafana_datasource_secrets` needs in `data_source`.
pub const DATA_SOURCE_COLUMNS: &[&str] = &["id", "org_id", "name", "secure_json_data"];

/// Every statement, in the dialect's placeholder syntax.
#[derive(Debug, Clone)]
pub struct Queries {
    /// All secrets by id.
    pub select_all: String,
    /// The first row of one key.
    pub select_one: String,
    /// Distinct keys of a namespace and type in one org.
    pub list_org: String,
    /// Distinct keys of a namespace and type in every org.
    pub list_all: String,
    /// Replace the value of every row of a key.
    pub update_value: String,
    /// Insert one secret.
    pub insert_secret: String,
    /// Delete every row of a key.
    pub delete_secret: String,
    /// Move every row of a key to another namespace.
    pub rename_secret: String,
    /// A data key by id.
    pub data_key_by_id: String,
    /// The active data key of a label.
    pub data_key_current: String,
    /// Insert a data key.
    pub insert_data_key: String,
    /// All data sources.
    pub data_sources: String,
    /// Deletes one `kv_store` row by namespace and key.
    pub delete_kv_store_row: String,
    /// Column names of a table.
    pub columns: String,
    /// DDL for `legacy_create_tables`.
    pub create_tables: &'static [&'static str],
}

impl Queries {
    /// The statements for `dialect`.
    pub fn new(dialect: Dialect) -> Self {
        // MySQL's default collations ignore case and trailing spaces; compare bytes instead so
        // that a key matches exactly as on the other dialects.
        let eq = |col: &str| match dialect {
            Dialect::MySql => format!("CAST({col} AS BINARY) = CAST(? AS BINARY)"),
            _ => format!("{col} = ?"),
        };
        let key = format!("org_id = ? AND {} AND {}", eq("namespace"), eq("type"));
        let active = if dialect == Dialect::Postgres {
            "true"
        } else {
            "1"
        };
        let cols = "id, org_id, namespace, type, value";
        let q = |s: String| match dialect {
            Dialect::Postgres => numbered(&s),
            _ => s,
        };
        Self {
            select_all: q(format!("SELECT {cols} FROM secrets ORDER BY id")),
            select_one: q(format!(
                "SELECT {cols} FROM secrets WHERE {key} ORDER BY id LIMIT 1"
            )),
            list_org: q(format!(
                "SELECT DISTINCT org_id, namespace, type FROM secrets WHERE {} AND {} AND org_id = ?",
                eq("namespace"),
                eq("type")
            )),
            list_all: q(format!(
                "SELECT DISTINCT org_id, namespace, type FROM secrets WHERE {} AND {}",
                eq("namespace"),
                eq("type")
            )),
            update_value: q(format!(
                "UPDATE secrets SET value = ?, updated = ? WHERE {key}"
            )),
            insert_secret: q("INSERT INTO secrets (org_id, namespace, type, value, created, \
                              updated) VALUES (?, ?, ?, ?, ?, ?)"
                .into()),
            delete_secret: q(format!("DELETE FROM secrets WHERE {key}")),
            rename_secret: q(format!(
                "UPDATE secrets SET namespace = ?, updated = ? WHERE {key}"
            )),
            data_key_by_id: q(
                "SELECT name, provider, encrypted_data FROM data_keys WHERE name = ?".into(),
            ),
            data_key_current: q(format!(
                "SELECT name, provider, encrypted_data FROM data_keys WHERE label = ? AND \
                 active = {active} ORDER BY created DESC, name LIMIT 1"
            )),
            insert_data_key: q("INSERT INTO data_keys (name, label, active, scope, provider, \
                                encrypted_data, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                .into()),
            delete_kv_store_row: q(match dialect {
                Dialect::MySql => "DELETE FROM kv_store WHERE namespace = ? AND `key` = ?".into(),
                _ => "DELETE FROM kv_store WHERE namespace = ? AND key = ?".into(),
            }),
            data_sources: q(
                "SELECT id, org_id, name, secure_json_data FROM data_source ORDER BY id".into(),
            ),
            columns: q(match dialect {
                Dialect::Sqlite => "SELECT name FROM pragma_table_info(?)".into(),
                Dialect::Postgres => "SELECT column_name::text FROM information_schema.columns \
                                      WHERE table_schema = current_schema() AND table_name = ?"
                    .into(),
                Dialect::MySql => "SELECT CAST(column_name AS CHAR) FROM \
                                   information_schema.columns WHERE table_schema = DATABASE() \
                                   AND table_name = ?"
                    .into(),
            }),
            create_tables: match dialect {
                Dialect::Sqlite => SQLITE_DDL,
                Dialect::Postgres => POSTGRES_DDL,
                Dialect::MySql => MYSQL_DDL,
            },
        }
    }
}

/// `?` placeholders to PostgreSQL's `$1, $2, …` (the statements above contain no literal `?`).
fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    for ch in sql.chars() {
        if ch == '?' {
            n += 1;
            out.push_str(&format!("${n}"));
        } else {
            out.push(ch);
        }
    }
    out
}

const SQLITE_DDL: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS `data_keys` (\"name\" TEXT PRIMARY KEY NOT NULL, `active` INTEGER \
     NOT NULL, `scope` TEXT NOT NULL, `provider` TEXT NOT NULL, `encrypted_data` BLOB NOT NULL, \
     `created` DATETIME NOT NULL, `updated` DATETIME NOT NULL, \"label\" TEXT NOT NULL DEFAULT '')",
    "CREATE TABLE IF NOT EXISTS `secrets` (`id` INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, \
     `org_id` INTEGER NOT NULL, `namespace` TEXT NOT NULL, `type` TEXT NOT NULL, `value` TEXT \
     NULL, `created` DATETIME NOT NULL, `updated` DATETIME NOT NULL)",
    "CREATE UNIQUE INDEX IF NOT EXISTS `UQE_secrets_org_id_namespace_type` ON `secrets` \
     (`org_id`,`namespace`,`type`)",
];

const POSTGRES_DDL: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS \"data_keys\" (\"name\" VARCHAR(100) PRIMARY KEY NOT NULL, \
     \"active\" BOOL NOT NULL, \"scope\" VARCHAR(30) NOT NULL, \"provider\" VARCHAR(50) NOT NULL, \
     \"encrypted_data\" BYTEA NOT NULL, \"created\" TIMESTAMP NOT NULL, \"updated\" TIMESTAMP NOT \
     NULL, \"label\" VARCHAR(100) NOT NULL DEFAULT '')",
    "CREATE TABLE IF NOT EXISTS \"secrets\" (\"id\" BIGSERIAL PRIMARY KEY NOT NULL, \"org_id\" \
     BIGINT NOT NULL, \"namespace\" VARCHAR(255) NOT NULL, \"type\" VARCHAR(255) NOT NULL, \
     \"value\" TEXT NULL, \"created\" TIMESTAMP NOT NULL, \"updated\" TIMESTAMP NOT NULL)",
    "CREATE UNIQUE INDEX IF NOT EXISTS \"UQE_secrets_org_id_namespace_type\" ON \"secrets\" \
     (\"org_id\",\"namespace\",\"type\")",
];

// utf8mb4_bin: exact (case-sensitive) keys. MySQL/MariaDB `_bin` collations are PAD SPACE, so a
// unique index would treat "a" and "a " as the same key; the index is therefore a plain one
// (Grafana's own migration never creates the unique index either) and uniqueness comes from the
// per-key GET_LOCK every write takes. It is part of CREATE TABLE because MySQL has no
// CREATE INDEX IF NOT EXISTS. `value` is MEDIUMTEXT: a 64 KiB secret is about 88 KB once
// encrypted and base64-encoded, more than MySQL's TEXT holds (Grafana's own TEXT column cannot
// store it either; writing one there fails with a clear error).
const MYSQL_DDL: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS `data_keys` (`name` VARCHAR(100) PRIMARY KEY NOT NULL, `active` \
     TINYINT(1) NOT NULL, `scope` VARCHAR(30) NOT NULL, `provider` VARCHAR(50) NOT NULL, \
     `encrypted_data` BLOB NOT NULL, `created` DATETIME NOT NULL, `updated` DATETIME NOT NULL, \
     `label` VARCHAR(100) NOT NULL DEFAULT '') ENGINE=InnoDB DEFAULT CHARSET utf8mb4 COLLATE \
     utf8mb4_bin",
    "CREATE TABLE IF NOT EXISTS `secrets` (`id` BIGINT(20) PRIMARY KEY AUTO_INCREMENT NOT NULL, \
     `org_id` BIGINT(20) NOT NULL, `namespace` VARCHAR(255) NOT NULL, `type` VARCHAR(255) NOT \
     NULL, `value` MEDIUMTEXT NULL, `created` DATETIME NOT NULL, `updated` DATETIME NOT NULL, KEY \
     `IDX_secrets_org_id_namespace_type` (`org_id`,`namespace`,`type`)) ENGINE=InnoDB \
     DEFAULT CHARSET utf8mb4 COLLATE utf8mb4_bin",
];

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn postgres_placeholders_are_numbered() {
        let q = Queries::new(Dialect::Postgres);
        assert_eq!(
            q.update_value,
            "UPDATE secrets SET value = $1, updated = $2 WHERE org_id = $3 AND namespace = $4 \
             AND type = $5"
        );
        assert!(q.data_key_current.contains("active = true"));
        let m = Queries::new(Dialect::MySql);
        assert!(m
            .select_one
            .contains("CAST(namespace AS BINARY) = CAST(? AS BINARY)"));
    }
}
