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
        .credentials_provider(Credentials::new(access_key, "test-secret-key", None, None, "extra-tests"))
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
    let emu = Emulator::builder().in_memory().start().await.expect("emulator starts");
    let c = client(&emu.endpoint(), REGION);
    (emu, c)
}

/// The error code and message of a failed SDK call.
pub fn err<T: std::fmt::Debug, E: ProvideErrorMetadata + std::fmt::Debug>(r: Result<T, E>) -> (String, String) {
    let e = r.expect_err("the call should fail");
    (e.code().unwrap_or("<no code>").to_string(), e.message().unwrap_or("").to_string())
}

/// Asserts that a call failed with `code` and a message containing `needle`.
#[track_caller]
pub fn assert_err<T: std::fmt::Debug, E: ProvideErrorMetadata + std::fmt::Debug>(r: Result<T, E>, code: &str, needle: &str) {
    let (c, m) = err(r);
    assert_eq!(c, code, "message: {m}");
    assert!(m.contains(needle), "{code} message {m:?} lacks {needle:?}");
}

/// Creates a secret with a string value and returns its ARN.
pub async fn create(c: &Client, name: &str, value: &str) -> String {
    let out = c.create_secret().name(name).secret_string(value).send().await.expect("create_secret");
    out.arn().expect("ARN").to_string()
}
