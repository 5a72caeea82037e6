//! Bad input gives a clear error naming the row and writes nothing: wrong secret_key, unknown
//! data key id, truncated and non-base64 values, a damaged data key, missing tables and an
//! unexpected schema.
#![allow(clippy::unwrap_used)] // tests unwrap: a failure is a test failure

mod legacy_support;

use base64::Engine;
use legacy_support::*;
use secrets_broker::backends::legacy_sql::{crypto, LegacySqlConfig, LegacySqlStore};
use secrets_broker::backends::{Error, SecretStore};
use secrets_broker::domain::{SecretKey, SecretValue};
use sqlx::Connection;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD_NO_PAD;

async fn conn(url: &str) -> sqlx::SqliteConnection {
    sqlx::SqliteConnection::connect(url).await.unwrap()
}

async fn insert_raw(url: &str, ns: &str, value: &str) {
    sqlx::query(
        "INSERT INTO secrets (org_id, namespace, type, value, created, updated) \
         VALUES (1, ?, 'bad', ?, '2024-01-01 00:00:00', '2024-01-01 00:00:00')",
    )
    .bind(ns)
    .bind(value)
    .execute(&mut conn(url).await)
    .await
    .unwrap();
}

async fn dump(url: &str) -> Vec<(i64, String, Option<String>, String)> {
    sqlx::query_as("SELECT id, namespace, value, updated FROM secrets ORDER BY id")
        .fetch_all(&mut conn(url).await)
        .await
        .unwrap()
}

#[tokio::test]
async fn damaged_rows_are_named_and_others_still_read() {
    let (_dir, cfg, url) = fresh_sqlite("k");
    let store = LegacySqlStore::open(&cfg).await.unwrap();
    let good = SecretKey::new(1, "good", "t").unwrap();
    store
        .set(&good, &SecretValue::new("fine").unwrap())
        .await
        .unwrap();

    let marker = "*YWVzLWNmYg*";
    insert_raw(&url, "not-base64", "!!! this is not base64 !!!").await;
    insert_raw(
        &url,
        "truncated",
        &B64.encode(crypto::wrap_envelope(
            "x",
            format!("{marker}abc").as_bytes(),
        )),
    )
    .await;
    let mut unknown = crypto::wrap_envelope("nosuchkey", marker.as_bytes());
    unknown.extend_from_slice(&[7u8; 40]);
    insert_raw(&url, "unknown-key", &B64.encode(unknown)).await;
    let before = dump(&url).await;

    let cases = [
        ("not-base64", "not valid base64"),
        ("truncated", "truncated"),
        (
            "unknown-key",
            "data key \"nosuchkey\", which is not in the data_keys table",
        ),
    ];
    for (ns, want) in cases {
        let key = SecretKey::new(1, ns, "bad").unwrap();
        let err = store.get(&key).await.unwrap_err().to_string();
        assert!(err.contains(want), "{ns}: {err}");
        assert!(
            err.contains("secrets row id") && err.contains(&format!("namespace \"{ns}\"")),
            "{ns}: {err}"
        );
    }
    let err = store.get_all().await.unwrap_err().to_string();
    assert!(err.contains("not-base64"), "{err}");
    let report = store.scan().await.unwrap();
    assert_eq!(report.items.len(), 1);
    assert_eq!(report.items[0].key, good);
    assert_eq!(report.failures.len(), 3);
    assert_eq!(dump(&url).await, before, "reads wrote nothing");
}

#[tokio::test]
async fn a_wrong_data_key_is_caught_at_the_row() {
    // A data key encrypted under another secret_key decrypts (CFB has no check) to a wrong key;
    // the value it opens is then not text, and the error says so instead of returning garbage.
    let (_dir, cfg, url) = fresh_sqlite("right");
    let store = LegacySqlStore::open(&cfg).await.unwrap();
    let dk = [9u8; 16];
    sqlx::query(
        "INSERT INTO data_keys (name, label, active, scope, provider, encrypted_data, created, \
         updated) VALUES ('foreign', 'x', 0, 'root', 'secretKey.v1', ?, '2024-01-01 00:00:00', \
         '2024-01-01 00:00:00')",
    )
    .bind(crypto::encrypt_cfb(&dk, b"wrong"))
    .execute(&mut conn(&url).await)
    .await
    .unwrap();
    let inner = crypto::encrypt_cfb(b"a long enough secret value to be checked ok", &dk);
    insert_raw(
        &url,
        "foreign",
        &B64.encode(crypto::wrap_envelope("foreign", &inner)),
    )
    .await;
    let err = store
        .get(&SecretKey::new(1, "foreign", "bad").unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Crypto(_)), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("the secret_key does not match this database"),
        "{msg}"
    );
    assert!(msg.contains("namespace \"foreign\""), "{msg}");
    // Reopening fails early: the only row cannot be read with this key.
    let err = LegacySqlStore::open(&cfg).await.unwrap_err().to_string();
    assert!(
        err.contains("the secret_key does not match this database"),
        "{err}"
    );
}

#[tokio::test]
async fn a_damaged_data_key_stops_a_write_before_anything_is_written() {
    let (_dir, cfg, url) = fresh_sqlite("k");
    let store = LegacySqlStore::open(&cfg).await.unwrap();
    let label = format!(
        "{}/root@secretKey.v1",
        chrono::Utc::now().format("%Y-%m-%d")
    );
    sqlx::query(
        "INSERT INTO data_keys (name, label, active, scope, provider, encrypted_data, created, \
         updated) VALUES ('broken', ?, 1, 'root', 'secretKey.v1', ?, '2024-01-01 00:00:00', \
         '2024-01-01 00:00:00')",
    )
    .bind(&label)
    .bind(b"*YWVzLWNmYg*short".to_vec())
    .execute(&mut conn(&url).await)
    .await
    .unwrap();
    let err = store
        .set(
            &SecretKey::new(1, "n", "t").unwrap(),
            &SecretValue::new("v").unwrap(),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("data key \"broken\""), "{err}");
    assert!(dump(&url).await.is_empty(), "nothing written");
}

#[tokio::test]
async fn missing_tables_and_unexpected_schema_are_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.db");
    let url = format!("{}?mode=rwc", sqlite_url(&path));
    sqlx::query("CREATE TABLE unrelated (x INTEGER)")
        .execute(&mut conn(&url).await)
        .await
        .unwrap();
    let schema = |u: String| async move {
        let rows: Vec<(String,)> = sqlx::query_as("SELECT sql FROM sqlite_master ORDER BY name")
            .fetch_all(&mut conn(&u).await)
            .await
            .unwrap();
        rows
    };
    let before = schema(url.clone()).await;
    let cfg = LegacySqlConfig::new(sqlite_url(&path), "k");
    let err = LegacySqlStore::open(&cfg).await.unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("table `secrets` does not exist"), "{msg}");
    assert!(msg.contains("legacy_create_tables"), "{msg}");
    assert_eq!(schema(url.clone()).await, before, "schema untouched");

    sqlx::query("CREATE TABLE secrets (id INTEGER, org_id INTEGER, namespace TEXT, type TEXT)")
        .execute(&mut conn(&url).await)
        .await
        .unwrap();
    let before = schema(url.clone()).await;
    let msg = LegacySqlStore::open(&cfg).await.unwrap_err().to_string();
    assert!(
        msg.contains("lacks the columns value, created, updated"),
        "{msg}"
    );
    assert_eq!(schema(url).await, before, "schema untouched");
}

#[tokio::test]
async fn config_errors_name_the_setting_not_the_value() {
    use secrets_broker::config::{Settings, Source};
    let mut s = Settings::default();
    s.insert("legacy_database_url", "redis://u:hunter2@h", Source::Flag);
    let e = LegacySqlConfig::from_settings(&s).unwrap_err().to_string();
    assert!(
        e.contains("legacy_database_url") && !e.contains("hunter2"),
        "{e}"
    );
    let mut s = Settings::default();
    s.insert("legacy_database_url", "sqlite:///tmp/x.db", Source::Flag);
    let e = LegacySqlConfig::from_settings(&s).unwrap_err().to_string();
    assert!(e.contains("legacy_secret_key"), "{e}");
    s.insert("legacy_secret_key", "sk-do-not-print", Source::Flag);
    let c = LegacySqlConfig::from_settings(&s).unwrap();
    assert!(!format!("{c:?}").contains("sk-do-not-print"));
}
