//! What the backend writes is Grafana's format, checked with an independent decoder written
//! from the spec (tests/legacy_support): one active data key per day created as Grafana does,
//! `#id#` + aes-cfb values, unpadded base64, and re-encrypting with the stored salt and IV
//! reproduces the stored bytes. Time comes from a controllable clock.
#![allow(clippy::unwrap_used)] // tests unwrap: a failure is a test failure

mod legacy_support;

use std::sync::{Arc, Mutex};

use base64::Engine;
use chrono::{DateTime, Duration, TimeZone, Utc};
use legacy_support::*;
use secrets_broker::backends::legacy_sql::{LegacySqlConfig, LegacySqlStore};
use secrets_broker::backends::SecretStore;
use secrets_broker::domain::{SecretKey, SecretValue};
use sqlx::Connection;

struct TestClock(Mutex<DateTime<Utc>>);

impl TestClock {
    fn new(t: DateTime<Utc>) -> Arc<Self> {
        Arc::new(Self(Mutex::new(t)))
    }
    fn advance(&self, d: Duration) {
        *self.0.lock().unwrap() += d;
    }
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

async fn open(cfg: &LegacySqlConfig, clock: &Arc<TestClock>) -> LegacySqlStore {
    let c = Arc::clone(clock);
    LegacySqlStore::open_with_clock(cfg, Arc::new(move || c.now()))
        .await
        .unwrap()
}

/// A fresh SQLite file with secret_key `key` and a store on it whose clock starts at `t`: (the
/// folder, the config, the file's URL, the clock, the store).
async fn fresh_at(
    key: &str,
    t: DateTime<Utc>,
) -> (
    tempfile::TempDir,
    LegacySqlConfig,
    String,
    Arc<TestClock>,
    LegacySqlStore,
) {
    let (dir, cfg, url) = fresh_sqlite(key);
    let clock = TestClock::new(t);
    let store = open(&cfg, &clock).await;
    (dir, cfg, url, clock, store)
}

/// Sets `k` to `value` (which must succeed).
async fn set(store: &LegacySqlStore, k: &SecretKey, value: &str) {
    store
        .set(k, &SecretValue::new(value).unwrap())
        .await
        .unwrap();
}

type DataKeyRow = (
    String,
    String,
    bool,
    String,
    String,
    Vec<u8>,
    String,
    String,
);

async fn data_keys(url: &str) -> Vec<DataKeyRow> {
    let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
    sqlx::query_as(
        "SELECT name, label, active, scope, provider, encrypted_data, created, updated \
         FROM data_keys ORDER BY created",
    )
    .fetch_all(&mut c)
    .await
    .unwrap()
}

#[tokio::test]
async fn one_data_key_per_day_created_like_grafana() {
    let start = Utc.with_ymd_and_hms(2026, 3, 1, 23, 0, 0).unwrap();
    let (_dir, cfg, url, clock, store) = fresh_at("my-secret-key", start).await;
    let k1 = SecretKey::new(1, "a", "t").unwrap();
    let k2 = SecretKey::new(1, "b", "t").unwrap();
    set(&store, &k1, "one").await;
    set(&store, &k2, "two").await;
    let keys = data_keys(&url).await;
    assert_eq!(keys.len(), 1, "one key for the day");
    clock.advance(Duration::hours(2)); // next day
    set(&store, &k2, "two-b").await;
    let keys = data_keys(&url).await;
    assert_eq!(keys.len(), 2, "a new key on the next day");
    let labels: Vec<&str> = keys.iter().map(|k| k.1.as_str()).collect();
    assert_eq!(
        labels,
        [
            "2026-03-01/root@secretKey.v1",
            "2026-03-02/root@secretKey.v1"
        ]
    );
    for (name, _, active, scope, provider, enc, created, updated) in &keys {
        assert!(*active);
        assert_eq!(
            (scope.as_str(), provider.as_str()),
            ("root", "secretKey.v1")
        );
        assert_eq!(created, updated);
        assert_eq!(enc.len(), 12 + 8 + 16 + 16);
        assert!(enc.starts_with(b"*YWVzLWNmYg*"));
        assert_eq!(spec_decrypt_cfb(enc, b"my-secret-key").len(), 16);
        // Grafana short UID: [a-f] + base36 snowflake + [a-f].
        let b = name.as_bytes();
        assert!(
            b"abcdef".contains(&b[0]) && b"abcdef".contains(&b[b.len() - 1]),
            "{name}"
        );
        assert!(name
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
    }
    // A fresh process (empty cache) reads values under both keys.
    let again = open(&cfg, &clock).await;
    assert_eq!(again.get(&k1).await.unwrap().unwrap().expose(), "one");
    assert_eq!(again.get(&k2).await.unwrap().unwrap().expose(), "two-b");
}

#[tokio::test]
async fn written_values_decode_independently_and_reencrypt_to_the_same_bytes() {
    let start = Utc.with_ymd_and_hms(2026, 5, 6, 7, 8, 9).unwrap();
    let (_dir, _, url, clock, store) = fresh_at("another key", start).await;
    let key = SecretKey::new(3, "my db/🔑", "datasource").unwrap();
    let plain = r#"{"password":"pä$$ <&> wörd","token":"x"}"#;
    set(&store, &key, plain).await;
    clock.advance(Duration::minutes(5));
    let plain2 = "second value, same key";
    set(&store, &key, plain2).await;

    let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let rows: Vec<(i64, String, String, String)> =
        sqlx::query_as("SELECT org_id, namespace, value, created || '|' || updated FROM secrets")
            .fetch_all(&mut c)
            .await
            .unwrap();
    assert_eq!(rows.len(), 1, "updated in place");
    let (org, ns, value, times) = &rows[0];
    assert_eq!((*org, ns.as_str()), (3, "my db/🔑"));
    assert_eq!(times, "2026-05-06 07:08:09|2026-05-06 07:13:09");
    assert!(!value.contains('='), "secrets.value is unpadded base64");
    let blob = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(value)
        .unwrap();
    let (id, inner) = spec_split_envelope(&blob);
    let keys = data_keys(&url).await;
    assert_eq!(keys[0].0, id);
    let dk = spec_decrypt_cfb(&keys[0].5, b"another key");
    assert_eq!(spec_decrypt_cfb(&inner, &dk), plain2.as_bytes());
    // Same salt and IV => the same bytes.
    let salt = &inner[12..20];
    let iv = &inner[20..36];
    assert!(
        salt.iter().all(|c| c.is_ascii_alphanumeric()),
        "Grafana salt alphabet"
    );
    assert_eq!(spec_encrypt_cfb(plain2.as_bytes(), &dk, salt, iv), inner);
    // And the data key itself.
    let enc = &keys[0].5;
    assert_eq!(
        spec_encrypt_cfb(&dk, b"another key", &enc[12..20], &enc[20..36]),
        *enc
    );
}
