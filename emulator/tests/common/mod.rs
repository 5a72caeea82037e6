//! Helpers shared by the emulator's integration tests: an in-process emulator and SDK clients for it,
//! the few SDK calls every test makes, error-code and message checks, a minimal raw HTTP/1.1 client
//! with SigV4 signing (and raw JSON 1.1 calls for operations newer than the pinned SDK), and the
//! `sm-emulator` binary started on a data directory (for the kill -9 tests).
#![allow(dead_code, clippy::unwrap_used)]

#[path = "../../../tests/reliability_support/kill.rs"]
pub mod kill;

use std::collections::HashMap;

use aws_sdk_secretsmanager::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use aws_sdk_secretsmanager::error::SdkError;
use aws_sdk_secretsmanager::operation::create_secret::builders::CreateSecretFluentBuilder;
use aws_sdk_secretsmanager::operation::delete_secret::{DeleteSecretError, DeleteSecretOutput};
use aws_sdk_secretsmanager::operation::describe_secret::{
    DescribeSecretError, DescribeSecretOutput,
};
use aws_sdk_secretsmanager::operation::get_secret_value::{
    GetSecretValueError, GetSecretValueOutput,
};
use aws_sdk_secretsmanager::operation::put_secret_value::builders::PutSecretValueFluentBuilder;
use aws_sdk_secretsmanager::operation::put_secret_value::{
    PutSecretValueError, PutSecretValueOutput,
};
use aws_sdk_secretsmanager::Client;
use secretsmanager_emulator::Emulator;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const AKID: &str = "AKIDEMULATORTEST";
pub const SECRET_KEY: &str = "emulator-test-secret-key";
/// The default region of the tests.
pub const REGION: &str = "us-east-1";

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

/// An SDK client for an emulator in [`REGION`].
pub fn client(emu: &Emulator) -> Client {
    client_in(&emu.endpoint(), REGION)
}

/// An SDK client for `endpoint` in `region` (the default account).
pub fn client_in(endpoint: &str, region: &str) -> Client {
    client_for(endpoint, region, AKID, SECRET_KEY)
}

/// A fresh in-memory emulator.
pub async fn emulator() -> Emulator {
    Emulator::builder().in_memory().start().await.unwrap()
}

/// A fresh in-memory emulator and a client for it in [`REGION`].
pub async fn start() -> (Emulator, Client) {
    let emu = emulator().await;
    let c = client(&emu);
    (emu, c)
}

/// A CreateSecret of `name` with string `value`, ready to send.
pub fn create_request(
    c: &Client,
    name: &str,
    value: impl Into<String>,
) -> CreateSecretFluentBuilder {
    c.create_secret().name(name).secret_string(value)
}

/// Creates a secret with a string value and returns its ARN.
pub async fn create(c: &Client, name: &str, value: impl Into<String>) -> String {
    let out = create_request(c, name, value).send().await;
    out.expect("create_secret").arn().expect("ARN").to_string()
}

/// The error code and message of a failed SDK call.
#[track_caller]
pub fn err<T: std::fmt::Debug, E: ProvideErrorMetadata + std::fmt::Debug>(
    r: Result<T, E>,
) -> (String, String) {
    let e = r.expect_err("the call should fail");
    (code(&e), message(&e))
}

/// Asserts that a call failed with the AWS error `code`; returns the error's message.
#[track_caller]
pub fn assert_code<T: std::fmt::Debug, E: ProvideErrorMetadata + std::fmt::Debug>(
    r: Result<T, E>,
    code: &str,
) -> String {
    let (c, m) = err(r);
    assert_eq!(c, code, "message: {m}");
    m
}

/// Asserts that a call failed with `code` and a message containing `needle`.
#[track_caller]
pub fn assert_err<T: std::fmt::Debug, E: ProvideErrorMetadata + std::fmt::Debug>(
    r: Result<T, E>,
    code: &str,
    needle: &str,
) {
    assert_case(code, r, code, needle);
}

/// Asserts that the call named `case` failed with `code` and a message containing `needle`.
#[track_caller]
pub fn assert_case<T: std::fmt::Debug, E: ProvideErrorMetadata + std::fmt::Debug>(
    case: &str,
    r: Result<T, E>,
    code: &str,
    needle: &str,
) {
    let (c, m) = err(r);
    assert_eq!(c, code, "{case}: {m}");
    assert!(m.contains(needle), "{case}: message {m:?} lacks {needle:?}");
}

/// The outcome of one SDK call.
pub type Sdk<O, E> = Result<O, SdkError<E>>;

/// GetSecretValue of `id`: its version labelled `stage`, or (None) its current one.
pub async fn get_at(
    c: &Client,
    id: &str,
    stage: Option<&str>,
) -> Sdk<GetSecretValueOutput, GetSecretValueError> {
    c.get_secret_value()
        .secret_id(id)
        .set_version_stage(stage.map(str::to_string))
        .send()
        .await
}

/// GetSecretValue of `id` (its current version).
pub async fn get(c: &Client, id: &str) -> Sdk<GetSecretValueOutput, GetSecretValueError> {
    c.get_secret_value().secret_id(id).send().await
}

/// DescribeSecret of `id`.
pub async fn describe(c: &Client, id: &str) -> Sdk<DescribeSecretOutput, DescribeSecretError> {
    c.describe_secret().secret_id(id).send().await
}

/// A PutSecretValue of string `value` to secret `id`, ready to send.
pub fn put_request(c: &Client, id: &str, value: impl Into<String>) -> PutSecretValueFluentBuilder {
    c.put_secret_value().secret_id(id).secret_string(value)
}

/// PutSecretValue of string `value` to secret `id` (default stages).
pub async fn put(
    c: &Client,
    id: &str,
    value: impl Into<String>,
) -> Sdk<PutSecretValueOutput, PutSecretValueError> {
    put_request(c, id, value).send().await
}

/// DeleteSecret of `id`: with a recovery window of `days`, or (None) at once without recovery.
pub async fn delete(
    c: &Client,
    id: &str,
    days: Option<i64>,
) -> Sdk<DeleteSecretOutput, DeleteSecretError> {
    let force = days.is_none().then_some(true);
    c.delete_secret()
        .secret_id(id)
        .set_recovery_window_in_days(days)
        .set_force_delete_without_recovery(force)
        .send()
        .await
}

/// The string value of secret `id` (GetSecretValue), at `stage` or (None) the default AWSCURRENT.
pub async fn value_at(c: &Client, id: &str, stage: Option<&str>) -> Option<String> {
    let out = get_at(c, id, stage).await.expect("get_secret_value");
    out.secret_string().map(str::to_string)
}

/// The current (AWSCURRENT) string value of secret `id`.
pub async fn current(c: &Client, id: &str) -> Option<String> {
    value_at(c, id, None).await
}

/// The version id to staging labels map of secret `id` (DescribeSecret).
pub async fn stages(c: &Client, id: &str) -> HashMap<String, Vec<String>> {
    let d = describe(c, id).await.expect("describe_secret");
    d.version_ids_to_stages().cloned().unwrap_or_default()
}

/// The AWS error code of an SDK error.
pub fn code<E: ProvideErrorMetadata>(e: &E) -> String {
    e.code().unwrap_or("<no code>").to_string()
}

/// The AWS error message of an SDK error.
pub fn message<E: ProvideErrorMetadata>(e: &E) -> String {
    e.message().unwrap_or("").to_string()
}

/// Every item of a paged listing, in order: `page(token)` answers one page's items and the next
/// page's token (none after the last page).
pub async fn all_pages<T, Fut>(mut page: impl FnMut(Option<String>) -> Fut) -> Vec<T>
where
    Fut: std::future::Future<Output = (Vec<T>, Option<String>)>,
{
    let mut all = Vec::new();
    let mut token = None;
    loop {
        let (items, next) = page(token).await;
        all.extend(items);
        token = next;
        if token.is_none() {
            return all;
        }
    }
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
    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// Asserts the status is `want`, showing `what` and the body otherwise.
    #[track_caller]
    pub fn assert_status(&self, want: u16, what: &str) {
        assert_eq!(self.status, want, "{what}: {}", self.text());
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

/// An unsigned admin `POST` of `body` to `path` (e.g. `/_emulator/faults`).
pub async fn admin_post(addr: std::net::SocketAddr, path: &str, body: &[u8]) -> RawResponse {
    raw(addr, "POST", path, &[], body).await
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
    post_signed(addr, target, body.as_bytes(), &auth, &date).await
}

/// The (Authorization, X-Amz-Date) headers of a `POST /` call of `target` with `body` to `addr`,
/// signed at `at` for [`AKID`] in [`REGION`] with `secret`.
pub fn sign(
    addr: std::net::SocketAddr,
    secret: &str,
    target: &str,
    body: &[u8],
    at: chrono::DateTime<chrono::Utc>,
) -> (String, String) {
    let host = addr.to_string();
    secretsmanager_emulator::sigv4::sign_post(AKID, secret, REGION, &host, target, body, at)
}

/// Sends a `POST /` AWS JSON 1.1 call of `target` with `body` and the given Authorization and
/// X-Amz-Date headers (which need not match the body).
pub async fn post_signed(
    addr: std::net::SocketAddr,
    target: &str,
    body: &[u8],
    auth: &str,
    date: &str,
) -> RawResponse {
    let headers = [
        ("content-type", "application/x-amz-json-1.1"),
        ("x-amz-date", date),
        ("x-amz-target", target),
        ("authorization", auth),
    ];
    raw(addr, "POST", "/", &headers, body).await
}

/// An in-memory emulator that verifies SigV4 signatures against [`AKID`] / [`SECRET_KEY`].
pub async fn signed_emulator() -> Emulator {
    Emulator::builder()
        .credentials(AKID, SECRET_KEY)
        .start()
        .await
        .unwrap()
}

/// A raw AWS JSON 1.1 call of `op` (for operations newer than the pinned SDK), signed for `access_key`
/// in `region`. Returns the HTTP status and the JSON body.
pub async fn raw_call(
    addr: std::net::SocketAddr,
    access_key: &str,
    region: &str,
    op: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let target = format!("secretsmanager.{op}");
    let r = aws_call_as(
        addr,
        &target,
        &body.to_string(),
        access_key,
        SECRET_KEY,
        region,
    )
    .await;
    (r.status, r.json())
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The `sm-emulator` binary serving the data directory `dir` on `port` (warnings only in its log),
/// killed when dropped; the caller directs its output and spawns it.
pub fn binary_command(dir: &std::path::Path, port: u16) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_sm-emulator"));
    command
        .arg("--data-dir")
        .arg(dir)
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .kill_on_drop(true);
    command
}

/// Whether the emulator on `port` answers its health check within 10 s.
pub async fn comes_up(port: u16) -> bool {
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    for _ in 0..400 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            let r = raw(addr, "GET", "/_emulator/health", &[], b"").await;
            if r.status == 200 {
                return true;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    false
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
    let child = binary_command(dir, port)
        .args(flags)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    assert!(
        comes_up(port).await,
        "sm-emulator did not come up on port {port}"
    );
    child
}

/// Kills `child` with SIGKILL while `tasks` load it, and gathers what the kill hit: the writes
/// `acked` before it and the failed request each task ended on (`failure` picks it out of the
/// task's output).
pub async fn kill_9_mid_load<T>(
    child: &mut tokio::process::Child,
    acked: &std::sync::atomic::AtomicUsize,
    tasks: Vec<tokio::task::JoinHandle<T>>,
    failure: impl Fn(T) -> kill::FailedRequest,
) -> kill::KillEvidence {
    let running_at_kill = child.try_wait().unwrap().is_none();
    let acked_before_kill = acked.load(std::sync::atomic::Ordering::SeqCst);
    let killed_at = std::time::Instant::now();
    child.start_kill().unwrap(); // SIGKILL
    let status = child.wait().await.unwrap();
    let mut failures = Vec::new();
    for t in tasks {
        failures.push(Some(failure(t.await.unwrap())));
    }
    kill::KillEvidence::new(
        running_at_kill,
        status,
        killed_at,
        acked_before_kill,
        &failures,
    )
}

/// The `sm-emulator` binary on a fresh data directory: the directory (removed when dropped), the
/// running process and its address.
pub async fn spawn_fresh_binary() -> (
    tempfile::TempDir,
    tokio::process::Child,
    std::net::SocketAddr,
) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let child = spawn_binary(dir.path(), port).await;
    (dir, child, format!("127.0.0.1:{port}").parse().unwrap())
}

/// The peak resident set size of process `pid` (its `VmHWM`), in KiB.
pub fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Prints the `FIGURES {figures}` line of process `pid`'s peak RSS before (`before`) and after
/// `what`, and asserts the peak stayed under 96 MiB.
pub fn assert_peak_rss_bounded(pid: u32, before: u64, figures: &str, what: &str) {
    let after = peak_rss_kib(pid);
    eprintln!("FIGURES {figures} peak_rss_kib_before={before} peak_rss_kib_after={after}");
    assert!(
        after < 96 * 1024,
        "peak RSS {after} KiB (before {before} KiB) after {what}"
    );
}
