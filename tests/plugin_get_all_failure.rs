//! GetAllSecrets through the built plugin, launched as Grafana launches it, while its backend
//! really fails (the `aws` backend against the emulator answering every call with 503): the call
//! must end with a non-OK gRPC status, because Grafana's from-plugin migration looks only at the
//! gRPC error and would otherwise copy nothing and delete its "plugin required" flag. GetSecret
//! keeps answering OK with a `userFriendlyError`.
#![allow(clippy::unwrap_used)]

#[path = "plugin_support/mod.rs"]
mod plugin_support;

use plugin_support::{get, get_all, grafana_command, launch, set};
use secrets_broker::server::proto::secretsmanager as pb;
use secretsmanager_emulator::{Emulator, FaultRule, FaultSettings};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_backend_makes_get_all_secrets_fail_with_a_status_and_get_secret_stay_ok() {
    let emu = Emulator::builder().in_memory().start().await.unwrap();
    let (data, sockets) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let endpoint = emu.endpoint().to_string();
    let mut plugin = launch(grafana_command(
        data.path(),
        sockets.path(),
        &[
            ("GF_PLUGIN_BACKEND", "aws"),
            ("GF_PLUGIN_AWS_ENDPOINT_URL", endpoint.as_str()),
            ("GF_PLUGIN_AWS_REGION", "eu-west-1"),
            ("GF_PLUGIN_AWS_ACCESS_KEY_ID", "AKIDPLUGINTEST"),
            (
                "GF_PLUGIN_AWS_SECRET_ACCESS_KEY",
                "plugin-test-secret-access-key",
            ),
            ("GF_PLUGIN_SECRET_NAME_PREFIX", "grafana-test/"),
            ("GF_PLUGIN_AWS_MAX_ATTEMPTS", "2"),
            ("GF_PLUGIN_AWS_RETRY_INITIAL_BACKOFF_MS", "2"),
        ],
    ));
    let mut c = plugin.client().await;
    let value = r#"{"password":"get-all-failure-canary-7f3a"}"#;
    assert_eq!(set(&mut c, 1, "prod db", value).await, "");
    assert_eq!(get_all(&mut c).await.items.len(), 1);

    // The backend goes down: every AWS call answers 503 ServiceUnavailable.
    emu.faults().set(FaultSettings {
        seed: Some(1),
        rules: vec![FaultRule {
            unavailable_rate: Some(1.0),
            ..FaultRule::default()
        }],
    });
    let injected_before = emu.faults().stats()["injected_errors"].as_u64().unwrap();
    let status = c
        .get_all_secrets(pb::GetAllSecretsRequest {})
        .await
        .expect_err("GetAllSecrets answered OK while the backend failed");
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    let message = status.message();
    assert!(
        message.contains("could not read all secrets") && message.contains("try again"),
        "{message}"
    );
    assert!(!message.contains("canary"), "{message}");
    let injected_after = emu.faults().stats()["injected_errors"].as_u64().unwrap();
    assert!(
        injected_after > injected_before,
        "the emulator injected no failure ({injected_before} -> {injected_after})"
    );

    // GetSecret on the same failing backend: gRPC OK, the failure in userFriendlyError.
    let r = get(&mut c, 1, "prod db").await;
    assert!(!r.exists && r.decrypted_value.is_empty(), "{r:?}");
    assert!(
        r.user_friendly_error.contains("could not read the secret")
            && r.user_friendly_error.contains("\"prod db\""),
        "{r:?}"
    );

    // Back up: the same call returns the secret again (the failure was the backend's).
    emu.faults().set(FaultSettings::default());
    let all = c
        .get_all_secrets(pb::GetAllSecretsRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!((all.items.len(), all.items[0].value.as_str()), (1, value));

    drop(c);
    let (_, exit) = plugin.shutdown(plugin.channel().await).await;
    assert!(exit.success(), "{exit}");
    let stderr = plugin.stderr_lines().join("\n");
    assert!(!stderr.contains("canary"), "a value reached the log");
    emu.shutdown().await;
}
