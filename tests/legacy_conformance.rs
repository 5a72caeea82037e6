//! The backend conformance suite and the two-writer test on SQLite (temp file with
//! `legacy_create_tables`), PostgreSQL and MariaDB (fresh database per run from
//! `BROKER_TEST_POSTGRES_URL` / `BROKER_TEST_MYSQL_URL`; skipped with a reason when unset).
#![allow(clippy::unwrap_used)] // tests unwrap: a failure is a test failure

mod legacy_support;

use std::sync::Arc;

use legacy_support::*;
use secrets_broker::backends::legacy_sql::{LegacySqlConfig, LegacySqlStore};
use secrets_broker::backends::{testing, SecretStore};
use secrets_broker::domain::{SecretKey, SecretValue};

fn server_config(db: &ServerDb) -> LegacySqlConfig {
    let mut c = LegacySqlConfig::new(db.url.clone(), "conformance-secret-key");
    c.create_tables = true;
    c
}

#[tokio::test]
async fn conformance_sqlite() {
    let (_dir, cfg, _) = fresh_sqlite("k");
    let store = LegacySqlStore::open(&cfg).await.unwrap();
    testing::run_all(&store).await;
}

/// The conformance suite on a fresh database of `server` (skipped when its URL is not set).
async fn conformance_on(server: Server) {
    let Some(db) = server_db(server).await else {
        return;
    };
    let store = LegacySqlStore::open(&server_config(&db)).await.unwrap();
    testing::run_all(&store).await;
    drop(store);
    db.drop_db().await;
}

#[tokio::test]
async fn conformance_postgres() {
    conformance_on(Server::Postgres).await;
}

#[tokio::test]
async fn conformance_mariadb() {
    conformance_on(Server::MySql).await;
}

/// Two independent stores (separate pools, as two processes would have) write the same three
/// keys and their own keys concurrently. Afterwards there is exactly one row per key (no
/// duplicate insert raced past another), every own key holds its value (no write lost), and
/// each shared key holds the last value one of the writers wrote.
async fn two_writers(cfg: LegacySqlConfig) {
    let a = Arc::new(LegacySqlStore::open(&cfg).await.unwrap());
    let mut cfg_b = cfg.clone();
    cfg_b.create_tables = false;
    let b = Arc::new(LegacySqlStore::open(&cfg_b).await.unwrap());
    let org = 4242;
    let rounds = 12;
    let mut tasks = Vec::new();
    for (w, store) in [(0, a.clone()), (1, b.clone())] {
        tasks.push(tokio::spawn(async move {
            for i in 0..rounds {
                // Both writers write the same shared keys and their own keys.
                for k in 0..3 {
                    let key = SecretKey::new(org, format!("shared-{k}"), "t").unwrap();
                    let v = SecretValue::new(format!("w{w}-{i}")).unwrap();
                    store.set(&key, &v).await.unwrap();
                }
                let own = SecretKey::new(org, format!("own-{w}-{i}"), "t").unwrap();
                store
                    .set(&own, &SecretValue::new(format!("v{i}")).unwrap())
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let all: Vec<_> = a
        .get_all()
        .await
        .unwrap()
        .into_iter()
        .filter(|i| i.key.org_id() == org)
        .collect();
    assert_eq!(all.len(), 3 + 2 * rounds, "one row per key, no update lost");
    for k in 0..3 {
        let key = SecretKey::new(org, format!("shared-{k}"), "t").unwrap();
        let v = b.get(&key).await.unwrap().unwrap();
        let last = format!("{}", rounds - 1);
        assert!(
            v.expose().ends_with(&last),
            "last write of some writer wins"
        );
    }
    for w in 0..2 {
        for i in 0..rounds {
            let own = SecretKey::new(org, format!("own-{w}-{i}"), "t").unwrap();
            assert_eq!(
                b.get(&own).await.unwrap().unwrap().expose(),
                format!("v{i}")
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_writers_sqlite() {
    let (_dir, cfg, _) = fresh_sqlite("k");
    two_writers(cfg).await;
}

/// The two-writer test on a fresh database of `server` (skipped when its URL is not set).
async fn two_writers_on(server: Server) {
    let Some(db) = server_db(server).await else {
        return;
    };
    two_writers(server_config(&db)).await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_writers_postgres() {
    two_writers_on(Server::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_writers_mariadb() {
    two_writers_on(Server::MySql).await;
}
