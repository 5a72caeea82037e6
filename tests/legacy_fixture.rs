//! The real Grafana 11.1 database and Grafana-produced vectors: every secret decrypts, a copy
//! opened through a generated grafana.ini reads both secrets and takes a new one in Grafana's
//! format, and the store refuses wrong keys and writes in read-only mode.
#![allow(clippy::unwrap_used)] // tests unwrap: a failure is a test failure

mod legacy_support;

use base64::Engine;
use legacy_support::*;
use secrets_broker::backends::legacy_sql::{crypto, GrafanaIni, LegacySqlConfig, LegacySqlStore};
use secrets_broker::backends::{Error, SecretStore};
use secrets_broker::domain::{SecretKey, SecretValue};

const TOKEN_NS: &str = "grafana-appwithserviceaccount-app";

#[test]
fn every_vector_decrypts_and_reencrypts_to_the_same_bytes() {
    let text = std::fs::read_to_string(fixtures().join("vectors.json")).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let vectors = doc["vectors"].as_array().unwrap();
    assert_eq!(vectors.len(), 8);
    for (i, v) in vectors.iter().enumerate() {
        let sk = v["secret_key"].as_str().unwrap().as_bytes();
        let expected = v["plaintext"].as_str().unwrap().as_bytes();
        let format = v["format"].as_str().unwrap();
        let plain = if let Some(h) = v["ciphertext_hex"].as_str() {
            let blob = hex::decode(h).unwrap();
            if format.contains("decrypt as aes-gcm") {
                crypto::decrypt_as(crypto::AES_GCM, &blob, sk)
                    .unwrap()
                    .to_vec()
            } else {
                crypto::decrypt(&blob, sk).unwrap().to_vec()
            }
        } else {
            let blob = crypto::B64_PADDED
                .decode(v["ciphertext"].as_str().unwrap())
                .unwrap();
            match crypto::split_envelope(&blob).unwrap() {
                crypto::Envelope::SecretKey(inner) => crypto::decrypt(inner, sk).unwrap().to_vec(),
                crypto::Envelope::DataKey { id, payload } => {
                    let dk =
                        hex::decode(v["data_keys"][&id]["encrypted_data_hex"].as_str().unwrap())
                            .unwrap();
                    let key = crypto::decrypt(&dk, sk).unwrap();
                    assert_eq!(key.len(), 16, "vector {i}: data key length");
                    crypto::decrypt(payload, &key).unwrap().to_vec()
                }
            }
        };
        assert_eq!(plain, expected, "vector {i} ({format})");
    }
}

#[test]
fn cfb_vectors_reencrypt_with_their_salt_and_iv() {
    // Vector 3 (no marker, aes-cfb) and the CVE values: same salt + IV => same bytes.
    let text = std::fs::read_to_string(fixtures().join("vectors.json")).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    for v in doc["vectors"].as_array().unwrap() {
        let sk = v["secret_key"].as_str().unwrap().as_bytes();
        let plain = v["plaintext"].as_str().unwrap().as_bytes();
        let blob = match (v["ciphertext_hex"].as_str(), v["ciphertext"].as_str()) {
            (Some(h), _) if v["format"].as_str().unwrap().contains("as aes-cfb") => {
                hex::decode(h).unwrap()
            }
            (None, Some(c)) if !c.starts_with("I1") => crypto::B64_PADDED.decode(c).unwrap(),
            _ => continue,
        };
        let salt: [u8; 8] = blob[..8].try_into().unwrap();
        let iv: [u8; 16] = blob[8..24].try_into().unwrap();
        let again = crypto::encrypt_cfb_with(plain, sk, &salt, &iv);
        assert_eq!(&again[12..], &blob[..], "marker-less body must match");
    }
}

#[tokio::test]
async fn fixture_database_decrypts_completely() {
    let (_dir, path) = fixture_copy();
    let mut cfg = LegacySqlConfig::new(sqlite_url(&path), DEFAULT_KEY);
    cfg.read_only = true;
    let store = LegacySqlStore::open(&cfg).await.unwrap();
    let mut all = store.get_all().await.unwrap();
    all.sort_by(|a, b| a.key.cmp(&b.key));
    assert_eq!(all.len(), 2);
    assert_eq!(
        all[1].key,
        SecretKey::new(1, TOKEN_NS, "extsvc-token").unwrap()
    );
    let token = all[1].value.expose();
    assert!(
        token.starts_with("glgrafana-appwithserviceaccount-app_"),
        "token prefix"
    );
    // SHA-256 of the token as decrypted independently (Python `cryptography`, see the fixture
    // README); the digest keeps the token itself out of the test source.
    assert_eq!(
        all[1].value.digest(),
        "a72cef43e69215a9b0d71c160332d0bdf45dbf08c6df090d04d2ad54565544cb"
    );
    assert_eq!(
        all[0].key,
        SecretKey::new(1, "gdev-testdata", "datasource").unwrap()
    );
    assert_eq!(all[0].value.expose(), "{}");
    // The independent decoder agrees on the raw row.
    let mut c = <sqlx::SqliteConnection as sqlx::Connection>::connect(&sqlite_url(&path))
        .await
        .unwrap();
    let (value,): (String,) = sqlx::query_as("SELECT value FROM secrets WHERE id = 1")
        .fetch_one(&mut c)
        .await
        .unwrap();
    let blob = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(&value)
        .unwrap();
    let (id, inner) = spec_split_envelope(&blob);
    assert_eq!(id, "ddupgsivkv5z4c");
    let (dk,): (Vec<u8>,) = sqlx::query_as("SELECT encrypted_data FROM data_keys WHERE name = ?")
        .bind(&id)
        .fetch_one(&mut c)
        .await
        .unwrap();
    let key = spec_decrypt_cfb(&dk, DEFAULT_KEY.as_bytes());
    assert_eq!(spec_decrypt_cfb(&inner, &key), token.as_bytes());
    // Data-source view: the secrets row wins over the (empty) secure_json_data.
    let ds = store.read_grafana_datasource_secrets().await.unwrap();
    assert_eq!(ds.len(), 1);
    assert_eq!(ds[0].key, all[0].key);
    assert_eq!(ds[0].value.expose(), "{}");
}

#[tokio::test]
async fn fixture_via_grafana_ini_read_write_round_trip() {
    let (dir, path) = fixture_copy();
    let ini = dir.path().join("grafana.ini");
    std::fs::write(
        &ini,
        "[paths]\ndata = .\n[database]\ntype = sqlite3\npath = grafana.db\n\
         [security]\nsecret_key = SW2YcwTIb9zpOOhoPsMm\n",
    )
    .unwrap();
    let parsed = GrafanaIni::load(&ini, std::iter::empty()).unwrap();
    let mut settings = secrets_broker::config::Settings::default();
    settings.insert(
        "legacy_grafana_ini",
        ini.display().to_string(),
        secrets_broker::config::Source::Flag,
    );
    let cfg = LegacySqlConfig::from_settings(&settings).unwrap();
    assert_eq!(format!("{:?}", cfg.target), format!("{:?}", parsed.target));
    let store = LegacySqlStore::open(&cfg).await.unwrap();
    let token = SecretKey::new(1, TOKEN_NS, "extsvc-token").unwrap();
    assert!(store.get(&token).await.unwrap().is_some());
    let ds = SecretKey::new(1, "gdev-testdata", "datasource").unwrap();
    assert_eq!(store.get(&ds).await.unwrap().unwrap().expose(), "{}");

    let new_key = SecretKey::new(1, "new-ds", "datasource").unwrap();
    let value = SecretValue::new(r#"{"password":"p4ss"}"#).unwrap();
    store.set(&new_key, &value).await.unwrap();
    assert_eq!(store.get(&new_key).await.unwrap().unwrap(), value);
    drop(store);

    // Grafana format, checked with the independent decoder: today's data key was created
    // beside the fixture's, and the new row is '#id#' + aes-cfb, unpadded base64.
    let mut c = <sqlx::SqliteConnection as sqlx::Connection>::connect(&sqlite_url(&path))
        .await
        .unwrap();
    let (value_text, created, updated): (String, String, String) =
        sqlx::query_as("SELECT value, created, updated FROM secrets WHERE namespace = 'new-ds'")
            .fetch_one(&mut c)
            .await
            .unwrap();
    assert!(!value_text.ends_with('='));
    assert_eq!(created, updated);
    assert_eq!(created.len(), "2024-08-13 13:37:51".len());
    let blob = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(&value_text)
        .unwrap();
    let (id, inner) = spec_split_envelope(&blob);
    let (label, active, scope, provider, dk): (String, bool, String, String, Vec<u8>) =
        sqlx::query_as(
            "SELECT label, active, scope, provider, encrypted_data FROM data_keys WHERE name = ?",
        )
        .bind(&id)
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert!(
        label.ends_with("/root@secretKey.v1") && label.len() == 28,
        "{label}"
    );
    assert!(active);
    assert_eq!(
        (scope.as_str(), provider.as_str()),
        ("root", "secretKey.v1")
    );
    let key = spec_decrypt_cfb(&dk, DEFAULT_KEY.as_bytes());
    assert_eq!(key.len(), 16);
    assert_eq!(spec_decrypt_cfb(&inner, &key), value.expose().as_bytes());
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM data_keys")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(n, 2);
}

#[tokio::test]
async fn wrong_secret_key_is_detected_at_open() {
    let (_dir, path) = fixture_copy();
    let mut cfg = LegacySqlConfig::new(sqlite_url(&path), "not-the-key");
    cfg.read_only = true;
    let err = LegacySqlStore::open(&cfg).await.unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Crypto(_)), "{msg}");
    assert!(
        msg.contains("the secret_key does not match this database"),
        "{msg}"
    );
    assert!(msg.contains("secrets row id"), "{msg}");
    assert!(!msg.contains("not-the-key"), "{msg}");
}

#[tokio::test]
async fn read_only_refuses_writes_and_changes_nothing() {
    let (_dir, path) = fixture_copy();
    let before = std::fs::read(&path).unwrap();
    let mut cfg = LegacySqlConfig::new(sqlite_url(&path), DEFAULT_KEY);
    cfg.read_only = true;
    let store = LegacySqlStore::open(&cfg).await.unwrap();
    let k = SecretKey::new(1, "x", "datasource").unwrap();
    let err = store
        .set(&k, &SecretValue::new("{}").unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::PermissionDenied(_)), "{err}");
    assert!(err.to_string().contains("read-only"), "{err}");
    assert!(store.delete(&k).await.is_err());
    assert!(store.rename(&k, "y").await.is_err());
    drop(store);
    assert_eq!(std::fs::read(&path).unwrap(), before, "file unchanged");
}
