//! Shared helpers of the extra_* integration tests: an in-process emulator on port 0 and real
//! aws-sdk-secretsmanager clients pointed at it (static credentials, no retries).

#![allow(dead_code)]

use aws_sdk_secretsmanager::config::retry::RetryConfig;
use aws_sdk_secretsmanager::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use aws_sdk_secretsmanager::Client;
use secretsmanager_emulator::Emulator;

/// The default region of the tests.
pub const REGION: &str = "us-east-1";

/// A client for `endpoint` in `region`, signing with `access_key` (a 12-digit key selects that account).
pub fn client_as(endpoint: &str, region: &str, access_key: &str) -> Client {
    let conf = aws_sdk_secretsmanager::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(region.to_string()))
        .credentials_provider(Credentials::new(
            access_key,
            "test-secret-key",
            None,
            None,
            "extra-tests",
        ))
        .retry_config(RetryConfig::disabled())
        .build();
    Client::from_conf(conf)
}

/// A client for `endpoint` in `region` (default account).
pub fn client(endpoint: &str, region: &str) -> Client {
    client_as(endpoint, region, "AKIDEXAMPLE")
}

/// An in-memory emulator and a client in [`REGION`].
pub async fn start() -> (Emulator, Client) {
    let emu = Emulator::builder()
        .in_memory()
        .start()
        .await
        .expect("emulator starts");
    let c = client(&emu.endpoint(), REGION);
    (emu, c)
}

/// The error code and message of a failed SDK call.
pub fn err<T: std::fmt::Debug, E: ProvideErrorMetadata + std::fmt::Debug>(
    r: Result<T, E>,
) -> (String, String) {
    let e = r.expect_err("the call should fail");
    (
        e.code().unwrap_or("<no code>").to_string(),
        e.message().unwrap_or("").to_string(),
    )
}

/// Asserts that a call failed with `code` and a message containing `needle`.
#[track_caller]
pub fn assert_err<T: std::fmt::Debug, E: ProvideErrorMetadata + std::fmt::Debug>(
    r: Result<T, E>,
    code: &str,
    needle: &str,
) {
    let (c, m) = err(r);
    assert_eq!(c, code, "message: {m}");
    assert!(m.contains(needle), "{code} message {m:?} lacks {needle:?}");
}

/// Creates a secret with a string value and returns its ARN.
pub async fn create(c: &Client, name: &str, value: &str) -> String {
    let out = c
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .expect("create_secret");
    out.arn().expect("ARN").to_string()
}

/// A raw AWS JSON 1.1 call (for operations newer than the pinned SDK): `X-Amz-Target: secretsmanager.<op>`,
/// a well-formed (unverified) SigV4 Authorization header for `access_key` in `region`. Returns the HTTP
/// status and the JSON body.
pub async fn raw_call(
    addr: std::net::SocketAddr,
    access_key: &str,
    region: &str,
    op: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let body = body.to_string();
    let date = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential={access_key}/{}/{region}/secretsmanager/aws4_request, SignedHeaders=host;x-amz-date;x-amz-target, Signature={}",
        &date[..8],
        "0".repeat(64)
    );
    let req = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nX-Amz-Target: secretsmanager.{op}\r\nContent-Type: application/x-amz-json-1.1\r\nX-Amz-Date: {date}\r\nAuthorization: {auth}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(req.as_bytes()).await.expect("write");
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.expect("read");
    let text = String::from_utf8_lossy(&out).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let json = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or_default();
    (
        status,
        serde_json::from_str(json).unwrap_or(serde_json::Value::Null),
    )
}
