//! On-demand measurement (ignored by default): sequential SetSecret then GetSecret through the
//! plugin over one connection, local backend (durable), printing secrets/s and p50/p99.
//! Run: `BROKER_PLUGIN_BIN=dist/secretsbroker-secretsmanager/secrets_plugin_start_linux_amd64
//! BROKER_BENCH_N=2000 cargo test --test plugin_throughput -- --ignored --nocapture`
//! (without BROKER_PLUGIN_BIN it measures the test build of the binary).

mod common;
mod plugin_support;

use std::time::{Duration, Instant};

use plugin_support::*;

fn summary(name: &str, mut lat: Vec<Duration>, total: Duration) {
    lat.sort();
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    println!(
        "{name}: {} calls, {:.0}/s, p50 {:?}, p99 {:?}",
        lat.len(),
        lat.len() as f64 / total.as_secs_f64(),
        pct(0.50),
        pct(0.99)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement, run on demand"]
async fn sequential_set_and_get_rates() {
    let n = common::env_count("BROKER_BENCH_N", 2_000);
    let data = tempfile::tempdir().unwrap();
    let sockets = tempfile::tempdir().unwrap();
    let mut cmd = grafana_command(data.path(), sockets.path(), &[]);
    if let Ok(bin) = std::env::var("BROKER_PLUGIN_BIN") {
        let mut c = std::process::Command::new(bin);
        c.envs(cmd.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))));
        c.stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        cmd = c;
    }
    let mut plugin = launch(cmd);
    let mut c = plugin.client().await;
    let value = r#"{"password":"p4ssw0rd-for-benchmark","basicAuthPassword":"another-one"}"#;
    let mut lat = Vec::with_capacity(n);
    let started = Instant::now();
    for i in 0..n {
        let t = Instant::now();
        assert_eq!(set(&mut c, 1, &format!("ds-{i}"), value).await, "");
        lat.push(t.elapsed());
    }
    summary("SetSecret", lat, started.elapsed());
    let mut lat = Vec::with_capacity(n);
    let started = Instant::now();
    for i in 0..n {
        let t = Instant::now();
        assert!(get(&mut c, 1, &format!("ds-{i}")).await.exists);
        lat.push(t.elapsed());
    }
    summary("GetSecret", lat, started.elapsed());
    let (_, status) = plugin.shutdown(plugin.channel().await).await;
    assert!(status.success());
}
