//! The broker's metrics through the real binary: in plugin mode (launched as Grafana launches
//! it) `pluginv2.Diagnostics/CollectMetrics` answers the Prometheus text Grafana serves at
//! `/metrics/plugins/<id>`, and `metrics_listen` adds a loopback `GET /metrics`; `serve
//! --metrics-listen` answers `GET /metrics` without the bearer token. The text counts the calls
//! made and never holds a key or a value.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod plugin_support;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use plugin_support::*;
use secrets_broker::server::proto::diagnostics as diag;

/// The body of `GET http://{addr}{path}` and its status code (HTTP/1.0, read to the end).
pub fn http_get(addr: &str, path: &str) -> (u16, String) {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, body.to_string())
}

/// Checks a scrape of `GET /metrics`: HTTP 200, one SetSecret counted, no key or value.
fn assert_scrape_counts_one_set(addr: &str) {
    let (status, text) = http_get(addr, "/metrics");
    assert_eq!(status, 200);
    assert!(
        text.contains("secrets_broker_rpc_requests_total{rpc=\"SetSecret\",outcome=\"ok\"} 1\n"),
        "{text}"
    );
    assert_no_secret(&text);
}

fn assert_no_secret(text: &str) {
    for secret in ["metrics-secret-value", "loki-ns"] {
        assert!(!text.contains(secret), "{secret} in the metrics:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grafana_collects_the_plugins_metrics_over_diagnostics_and_the_loopback_listener() {
    let mut plugin = launch_fresh(&[
        ("GF_PLUGIN_BACKEND", "memory"),
        ("GF_PLUGIN_METRICS_LISTEN", "127.0.0.1:0"),
    ]);
    let mut c = plugin.client().await;
    assert_eq!(set(&mut c, 1, "loki-ns", "metrics-secret-value").await, "");
    assert!(get(&mut c, 1, "loki-ns").await.exists);
    assert!(get(&mut c, 1, "loki-ns").await.exists);
    assert!(!get(&mut c, 2, "loki-ns").await.exists);
    // Rejected before the store: an invalid namespace.
    let bad = get(&mut c, 1, "").await;
    assert!(!bad.user_friendly_error.is_empty());

    let channel = plugin.channel().await;
    let mut diagnostics = diag::diagnostics_client::DiagnosticsClient::new(channel.clone());
    let text = diagnostics
        .collect_metrics(diag::CollectMetricsRequest {})
        .await
        .unwrap()
        .into_inner()
        .metrics
        .unwrap()
        .prometheus;
    let text = String::from_utf8(text).unwrap();
    for line in [
        "secrets_broker_rpc_requests_total{rpc=\"GetSecret\",outcome=\"ok\"} 3\n",
        "secrets_broker_rpc_requests_total{rpc=\"GetSecret\",outcome=\"rejected\"} 1\n",
        "secrets_broker_rpc_requests_total{rpc=\"SetSecret\",outcome=\"ok\"} 1\n",
        "secrets_broker_rpc_duration_seconds_count{rpc=\"GetSecret\"} 4\n",
        "secrets_broker_backend_calls_total{backend=\"memory\",operation=\"get\",outcome=\"ok\"} 3\n",
        "secrets_broker_backend_calls_total{backend=\"memory\",operation=\"set\",outcome=\"ok\"} 1\n",
        "# TYPE secrets_broker_rpc_duration_seconds histogram\n",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    assert_no_secret(&text);
    let health = diagnostics
        .check_health(diag::CheckHealthRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        health.status,
        diag::check_health_response::HealthStatus::Ok as i32
    );

    // The loopback listener: its address is in the start-up log.
    let deadline = Instant::now() + Duration::from_secs(10);
    let addr = loop {
        let found = plugin.stderr_lines().iter().find_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).ok()?;
            (v["@message"] == "serving metrics at /metrics")
                .then(|| v["address"].as_str().unwrap().to_string())
        });
        if let Some(a) = found {
            break a;
        }
        assert!(Instant::now() < deadline, "{:?}", plugin.stderr_lines());
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    assert_scrape_counts_one_set(&addr);
    assert_eq!(http_get(&addr, "/other").0, 404);

    let (_, status) = plugin.shutdown(channel).await;
    assert!(status.success(), "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_metrics_port_leaves_the_plugin_serving_and_says_so() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().to_string();
    let mut plugin = launch_fresh(&[
        ("GF_PLUGIN_BACKEND", "memory"),
        ("GF_PLUGIN_METRICS_LISTEN", port.as_str()),
    ]);
    let mut c = plugin.client().await;
    assert_eq!(set(&mut c, 1, "loki-ns", "metrics-secret-value").await, "");
    let errors: Vec<String> = plugin
        .stderr_lines()
        .into_iter()
        .filter(|l| {
            l.contains("\"key\":\"metrics_listen\"") && l.contains("without the metrics listener")
        })
        .collect();
    assert_eq!(errors.len(), 1, "{:?}", plugin.stderr_lines());
    let channel = plugin.channel().await;
    let (_, status) = plugin.shutdown(channel).await;
    assert!(status.success(), "{status:?}");
    drop(busy);
}

#[test]
fn a_non_loopback_metrics_listener_stops_start_up_naming_the_setting() {
    let data = tempfile::tempdir().unwrap();
    let sockets = tempfile::tempdir().unwrap();
    let out = grafana_command(
        data.path(),
        sockets.path(),
        &[("GF_PLUGIN_METRICS_LISTEN", "0.0.0.0:0")],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "no handshake line");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("\"key\":\"metrics_listen\"") && stderr.contains("not a loopback"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_answers_metrics_on_its_own_listener_without_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .env("TMPDIR", dir.path())
        .env_remove("XDG_RUNTIME_DIR")
        .args(["--backend", "memory", "serve", "--listen", "127.0.0.1:0"])
        .args(["--metrics-listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next = || lines.next().unwrap().unwrap();
    let addr = next().strip_prefix("listening on ").unwrap().to_string();
    let token_file = next().strip_prefix("token file ").unwrap().to_string();
    let metrics = next()
        .strip_prefix("metrics on http://")
        .unwrap()
        .trim_end_matches("/metrics")
        .to_string();
    let token = std::fs::read_to_string(token_file).unwrap();

    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut c = secrets_broker::server::proto::secretsmanager::secrets_manager_client::SecretsManagerClient::new(channel);
    let mut request = tonic::Request::new(
        secrets_broker::server::proto::secretsmanager::SetSecretRequest {
            key_descriptor: key(1, "loki-ns", "datasource"),
            value: "metrics-secret-value".into(),
        },
    );
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", token.trim()).parse().unwrap(),
    );
    let answer = c.set_secret(request).await.unwrap().into_inner();
    assert_eq!(answer.user_friendly_error, "");

    assert_scrape_counts_one_set(&metrics);
    let _ = child.kill();
    let _ = child.wait();

    // A non-loopback metrics address needs --metrics-allow-remote.
    let refused = Command::new(BIN)
        .env("TMPDIR", dir.path())
        .env_remove("XDG_RUNTIME_DIR")
        .args(["--backend", "memory", "serve", "--listen", "127.0.0.1:0"])
        .args(["--metrics-listen", "0.0.0.0:0"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("metrics-allow-remote"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}
