//! The read cache through the built plugin launched as Grafana launches it, `aws` backend against
//! the emulator, with the GetSecretValue calls counted by the emulator's admin endpoint
//! (`GET /_emulator/stats`): 1,000 GetSecret calls over 10 data sources within one TTL make at
//! most 10 calls reach the emulator; with `cache_ttl = 0` every call reaches it; a write through
//! the plugin is read back at once; the cache is on by default for `aws`.
#![allow(clippy::unwrap_used)]

#[path = "plugin_support/mod.rs"]
mod plugin_support;

use std::path::Path;
use std::time::{Duration, Instant};

use plugin_support::{get, grafana_command, launch, set, Plugin};
use secretsmanager_emulator::Emulator;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const DATA_SOURCES: usize = 10;

/// The plugin with `backend = aws` pointed at `endpoint`, plus `cache` settings.
fn plugin(data: &Path, sockets: &Path, endpoint: &str, cache: &[(&str, &str)]) -> Plugin {
    let aws = [
        ("GF_PLUGIN_BACKEND", "aws"),
        ("GF_PLUGIN_AWS_ENDPOINT_URL", endpoint),
        ("GF_PLUGIN_AWS_REGION", "us-west-2"),
        ("GF_PLUGIN_AWS_ACCESS_KEY_ID", "AKIDCACHETEST"),
        (
            "GF_PLUGIN_AWS_SECRET_ACCESS_KEY",
            "cache-test-secret-access-key",
        ),
    ];
    launch(grafana_command(data, sockets, &[&aws[..], cache].concat()))
}

/// GetSecretValue calls the emulator has answered, from `GET /_emulator/stats` over HTTP.
/// A fresh in-memory emulator, its endpoint, and fresh plugin data and socket folders.
async fn emulator_and_folders() -> (Emulator, String, tempfile::TempDir, tempfile::TempDir) {
    let emu = Emulator::builder().in_memory().start().await.unwrap();
    let endpoint = emu.endpoint();
    let (data, sockets) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    (emu, endpoint, data, sockets)
}

async fn get_secret_value_calls(endpoint: &str) -> u64 {
    let authority = endpoint.strip_prefix("http://").unwrap();
    let mut stream = tokio::net::TcpStream::connect(authority).await.unwrap();
    let request =
        format!("GET /_emulator/stats HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let stats: serde_json::Value = serde_json::from_str(body.trim()).unwrap_or_else(|e| {
        panic!("stats body is not JSON ({e}): {body}");
    });
    stats["calls"]["GetSecretValue"].as_u64().unwrap_or(0)
}

fn data_source(i: usize) -> String {
    format!("cached data source {i}")
}

fn secret_of(i: usize, generation: u32) -> String {
    format!("{{\"password\":\"p{i}-g{generation}\"}}")
}

/// `calls` GetSecret calls spread evenly over the data sources, from 10 concurrent connections;
/// each answer must be the data source's `generation` value.
async fn read_all(plugin: &Plugin, calls: usize, generation: u32) {
    let mut tasks = Vec::new();
    for task in 0..10 {
        let mut c = plugin.client().await;
        tasks.push(tokio::spawn(async move {
            for n in 0..calls / 10 {
                let i = (task + n) % DATA_SOURCES;
                let r = get(&mut c, 1, &data_source(i)).await;
                assert_eq!(r.user_friendly_error, "");
                assert!(r.exists, "{} is missing", data_source(i));
                assert_eq!(r.decrypted_value, secret_of(i, generation));
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

async fn set_all(plugin: &Plugin, generation: u32) {
    let mut c = plugin.client().await;
    for i in 0..DATA_SOURCES {
        assert_eq!(
            set(&mut c, 1, &data_source(i), &secret_of(i, generation)).await,
            ""
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_reads_within_one_ttl_cost_at_most_one_call_per_data_source() {
    let (emu, endpoint, data, sockets) = emulator_and_folders().await;
    // One TTL long enough that the whole run fits in it on a loaded machine.
    let cached = plugin(
        data.path(),
        sockets.path(),
        &endpoint,
        &[("GF_PLUGIN_CACHE_TTL", "10m")],
    );
    set_all(&cached, 1).await;

    let before = get_secret_value_calls(&endpoint).await;
    read_all(&cached, 1_000, 1).await;
    let reached = get_secret_value_calls(&endpoint).await - before;
    assert!(
        (1..=DATA_SOURCES as u64).contains(&reached),
        "1,000 GetSecret calls over {DATA_SOURCES} data sources made {reached} GetSecretValue calls"
    );

    // Read-your-writes through the plugin: new values are answered at once, each costing one
    // read of the backend after the write.
    set_all(&cached, 2).await;
    let before = get_secret_value_calls(&endpoint).await;
    read_all(&cached, 1_000, 2).await;
    let reached = get_secret_value_calls(&endpoint).await - before;
    assert!((1..=DATA_SOURCES as u64).contains(&reached), "{reached}");

    // A deleted data source is absent at once.
    let mut c = cached.client().await;
    let r = c
        .delete_secret(
            secrets_broker::server::proto::secretsmanager::DeleteSecretRequest {
                key_descriptor: plugin_support::key(1, &data_source(0), "datasource"),
            },
        )
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.user_friendly_error, "");
    assert!(!get(&mut c, 1, &data_source(0)).await.exists);
    set(&mut c, 1, &data_source(0), &secret_of(0, 2)).await;
    drop(cached);

    // cache_ttl = 0: every GetSecret reaches the emulator.
    let uncached = plugin(
        data.path(),
        sockets.path(),
        &endpoint,
        &[("GF_PLUGIN_CACHE_TTL", "0")],
    );
    let before = get_secret_value_calls(&endpoint).await;
    read_all(&uncached, 1_000, 2).await;
    assert_eq!(get_secret_value_calls(&endpoint).await - before, 1_000);
    drop(uncached);
    emu.shutdown().await;
}

/// Without any cache setting the `aws` backend is cached (default TTL 5 s): every data source is
/// read from the emulator at most once per TTL that the run spans.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_is_on_by_default_for_aws() {
    let (emu, endpoint, data, sockets) = emulator_and_folders().await;
    let plugin = plugin(data.path(), sockets.path(), &endpoint, &[]);
    set_all(&plugin, 1).await;
    let before = get_secret_value_calls(&endpoint).await;
    let started = Instant::now();
    read_all(&plugin, 200, 1).await;
    let ttls_spanned = 1 + started.elapsed().as_millis() / Duration::from_secs(5).as_millis();
    let reached = get_secret_value_calls(&endpoint).await - before;
    assert!(
        reached <= DATA_SOURCES as u64 * ttls_spanned as u64,
        "200 GetSecret calls over {DATA_SOURCES} data sources made {reached} GetSecretValue calls"
    );
    drop(plugin);
    emu.shutdown().await;
}

/// With an audit log, each GetSecret's line says whether the cache answered it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_lines_say_whether_the_cache_answered() {
    let (emu, endpoint, data, sockets) = emulator_and_folders().await;
    let audit = data.path().join("audit.log");
    let plugin = plugin(
        data.path(),
        sockets.path(),
        &endpoint,
        &[
            ("GF_PLUGIN_CACHE_TTL", "10m"),
            ("GF_PLUGIN_AUDIT_LOG", audit.to_str().unwrap()),
        ],
    );
    let mut c = plugin.client().await;
    assert_eq!(set(&mut c, 1, &data_source(0), &secret_of(0, 1)).await, "");
    for _ in 0..2 {
        assert!(get(&mut c, 1, &data_source(0)).await.exists);
    }
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&audit)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let seen: Vec<(&str, Option<&str>)> = lines
        .iter()
        .map(|l| (l["operation"].as_str().unwrap(), l["cache"].as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            ("SetSecret", None),
            ("GetSecret", Some("miss")),
            ("GetSecret", Some("hit"))
        ]
    );
    drop(plugin);
    emu.shutdown().await;
}
