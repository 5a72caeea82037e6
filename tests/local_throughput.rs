//! Quick throughput figure of the local backend: sequential durable writes, then reads, in both
//! durability modes. Ignored by default; run with
//! `cargo test -p secrets-broker --test local_throughput -- --ignored --nocapture`.
//! (The benchmark of record, through the plugin, is another harness's job.)

use std::time::Instant;

use secrets_broker::backends::local::{LocalConfig, LocalStore};
use secrets_broker::backends::SecretStore;
use secrets_broker::domain::{SecretKey, SecretValue};

const N: usize = 2_000;

async fn measure(fsync: bool) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = LocalConfig::new(dir.path());
    config.fsync = fsync;
    let store = LocalStore::open(&config).expect("open");
    let keys: Vec<SecretKey> = (0..N)
        .map(|i| SecretKey::new(1, format!("datasource-{i}"), "datasource").expect("key"))
        .collect();
    let value = SecretValue::new(r#"{"password":"correct horse battery staple"}"#).expect("value");

    let start = Instant::now();
    for k in &keys {
        store.set(k, &value).await.expect("set");
    }
    let set_secs = start.elapsed().as_secs_f64();

    let start = Instant::now();
    for k in &keys {
        assert!(store.get(k).await.expect("get").is_some());
    }
    let get_secs = start.elapsed().as_secs_f64();

    println!(
        "local backend (fsync = {fsync}), {N} sequential sets: {:.0} secrets/s ({:.3} ms each); \
         {N} gets: {:.0} secrets/s ({:.1} µs each)",
        N as f64 / set_secs,
        set_secs * 1e3 / N as f64,
        N as f64 / get_secs,
        get_secs * 1e6 / N as f64
    );
}

#[tokio::test]
#[ignore = "measurement, not a check; run explicitly with --ignored --nocapture"]
async fn sequential_sets_and_gets() {
    measure(true).await;
    measure(false).await;
}
