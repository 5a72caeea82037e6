//! Throughput of `get_all` on SQLite (ignored by default; run with
//! `cargo test -p secrets-broker --test legacy_bench -- --ignored --nocapture`, count from
//! `LEGACY_BENCH_N`, default 2,000). Every value costs one PBKDF2 of 10,000 rounds, as in Grafana.
#![allow(clippy::unwrap_used)] // tests unwrap: a failure is a test failure

mod common;
mod legacy_support;

use std::sync::Arc;
use std::time::Instant;

use legacy_support::*;
use secrets_broker::backends::legacy_sql::codec::seal_for_secrets_table;
use secrets_broker::backends::legacy_sql::crypto;
use secrets_broker::backends::legacy_sql::datakeys::DataKey;
use secrets_broker::backends::legacy_sql::LegacySqlStore;
use secrets_broker::backends::SecretStore;
use secrets_broker::domain::{SecretKey, SecretValue};
use sqlx::Connection;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark"]
async fn get_all_throughput_sqlite() {
    let n = common::env_count("LEGACY_BENCH_N", 2_000);
    let (_dir, cfg, url) = fresh_sqlite("bench-key");
    let store = LegacySqlStore::open(&cfg).await.unwrap();
    let first = SecretKey::new(1, "bench-0", "datasource").unwrap();
    store
        .set(&first, &SecretValue::new(r#"{"password":"0"}"#).unwrap())
        .await
        .unwrap();
    drop(store);

    let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let (id, enc): (String, Vec<u8>) = sqlx::query_as("SELECT name, encrypted_data FROM data_keys")
        .fetch_one(&mut c)
        .await
        .unwrap();
    let dk = DataKey {
        id,
        key: Arc::new(crypto::decrypt(&enc, b"bench-key").unwrap()),
    };
    let t = Instant::now();
    let values: Vec<String> = std::thread::scope(|s| {
        let halves: Vec<_> = [(1, n / 2), (n / 2, n)]
            .into_iter()
            .map(|(a, b)| {
                let dk = &dk;
                s.spawn(move || {
                    (a..b)
                        .map(|i| {
                            seal_for_secrets_table(
                                format!(r#"{{"password":"{i}"}}"#).as_bytes(),
                                dk,
                            )
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        halves.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let mut tx = c.begin().await.unwrap();
    for (i, v) in values.iter().enumerate() {
        sqlx::query(
            "INSERT INTO secrets (org_id, namespace, type, value, created, updated) \
             VALUES (1, ?, 'datasource', ?, '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
        )
        .bind(format!("bench-{}", i + 1))
        .bind(v)
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    println!("prepared {n} secrets in {:.2?}", t.elapsed());

    let t = Instant::now();
    let sample = 100.min(n);
    for i in 0..sample {
        let _ = crypto::derive_key(b"password", format!("salt{i:04}").as_bytes());
    }
    println!(
        "one PBKDF2 (10,000 rounds) on one core: {:.2?}",
        t.elapsed() / sample as u32
    );

    let store = LegacySqlStore::open(&cfg).await.unwrap(); // cold data-key cache
    let cpu0 = cpu_seconds();
    let t = Instant::now();
    let all = store.get_all().await.unwrap();
    let secs = t.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    assert_eq!(all.len(), n);
    let cores = std::thread::available_parallelism()
        .map(|c| c.get())
        .unwrap_or(1);
    println!(
        "get_all over {n} secrets (SQLite): {secs:.3} s wall = {:.0} secrets/s on {cores} cores \
         (shared machine); {cpu:.2} CPU-s = {:.0} secrets per CPU-second, i.e. {:.0} secrets/s \
         on {cores} idle cores",
        n as f64 / secs,
        n as f64 / cpu,
        n as f64 / cpu * cores as f64
    );
}

/// User + system CPU time of this process so far (from /proc/self/stat, 100 ticks per second).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // Fields after the command name: state is index 0, utime 11, stime 12.
    (ticks(11) + ticks(12)) / 100.0
}
