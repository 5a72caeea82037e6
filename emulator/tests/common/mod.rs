//! Helpers shared by the emulator's integration tests: an SDK client for an emulator, error-code
//! extraction, a minimal raw HTTP/1.1 client with SigV4 signing, and the `sm-emulator` binary
//! started on a data directory (for the kill -9 tests).
#![allow(dead_code, clippy::unwrap_used)]

use aws_sdk_secretsmanager::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use aws_sdk_secretsmanager::Client;
use secretsmanager_emulator::Emulator;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const AKID: &str = "AKIDEMULATORTEST";
pub const SECRET_KEY: &str = "emulator-test-secret-key";

/// An SDK client for `endpoint` in `region` with static credentials and no retries.
pub fn client_for(endpoint: &str, region: &str, akid: &str, secret: &str) -> Client {
    let conf = aws_sdk_secretsmanager::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(region.to_string()))
        .credentials_provider(Credentials::new(akid, secret, None, None, "test"))
        .retry_config(aws_sdk_secretsmanager::config::retry::RetryConfig::disabled())
        .build();
    Client::from_conf(conf)
}

/// An SDK client for an emulator in us-east-1.
pub fn client(emu: &Emulator) -> Client {
    client_for(&emu.endpoint(), "us-east-1", AKID, SECRET_KEY)
}

/// A fresh in-memory emulator.
pub async fn emulator() -> Emulator {
    Emulator::builder().in_memory().start().await.unwrap()
}

/// The AWS error code of an SDK error.
pub fn code<E: ProvideErrorMetadata>(e: &E) -> String {
    e.code().unwrap_or("<no code>").to_string()
}

/// The AWS error message of an SDK error.
pub fn message<E: ProvideErrorMetadata>(e: &E) -> String {
    e.message().unwrap_or("").to_string()
}

/// A raw HTTP response.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// Sends one HTTP/1.1 request (Connection: close) and reads the whole answer.
pub async fn raw(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> RawResponse {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&buf[..split]).to_string();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| {
            l.split_once(':')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        })
        .collect();
    let mut body = buf[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    RawResponse {
        status,
        headers,
        body,
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(p) = b.windows(2).position(|w| w == b"\r\n") {
        let n =
            usize::from_str_radix(std::str::from_utf8(&b[..p]).unwrap().trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.extend_from_slice(&b[p + 2..p + 2 + n]);
        b = &b[p + 2 + n + 2..];
    }
    out
}

/// A signed `POST /` AWS request with `target` (e.g. `secretsmanager.CreateSecret`).
pub async fn aws_call(addr: std::net::SocketAddr, target: &str, body: &str) -> RawResponse {
    aws_call_as(addr, target, body, AKID, SECRET_KEY, "us-east-1").await
}

/// Like [`aws_call`] with explicit credentials and region.
pub async fn aws_call_as(
    addr: std::net::SocketAddr,
    target: &str,
    body: &str,
    akid: &str,
    secret: &str,
    region: &str,
) -> RawResponse {
    let host = addr.to_string();
    let (auth, date) = secretsmanager_emulator::sigv4::sign_post(
        akid,
        secret,
        region,
        &host,
        target,
        body.as_bytes(),
        chrono::Utc::now(),
    );
    raw(
        addr,
        "POST",
        "/",
        &[
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-date", &date),
            ("x-amz-target", target),
            ("authorization", &auth),
        ],
        body.as_bytes(),
    )
    .await
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts the `sm-emulator` binary on `dir` and `port` and waits (up to 10 s) until it answers
/// its health check.
pub async fn spawn_binary(dir: &std::path::Path, port: u16) -> tokio::process::Child {
    spawn_binary_with(dir, port, &[]).await
}

/// [`spawn_binary`] with further flags.
pub async fn spawn_binary_with(
    dir: &std::path::Path,
    port: u16,
    flags: &[&str],
) -> tokio::process::Child {
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_sm-emulator"))
        .args(flags)
        .arg("--data-dir")
        .arg(dir)
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    for _ in 0..400 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            let r = raw(addr, "GET", "/_emulator/health", &[], b"").await;
            if r.status == 200 {
                return child;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("sm-emulator did not come up on {addr}");
}
