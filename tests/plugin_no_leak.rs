//! A whole session at trace level leaves no secret value in stderr or in the data directory's
//! files, while trace lines do record each call (method, key, duration, outcome).
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod plugin_support;

use plugin_support::*;
use secrets_broker::server::proto::secretsmanager as pb;

const MARKER: &str = "Zq7-SECRET-CANARY-0042";

fn files_contain(dir: &std::path::Path, needle: &[u8]) -> Vec<std::path::PathBuf> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                if bytes.windows(needle.len()).any(|w| w == needle) {
                    hits.push(path);
                }
            }
        }
    }
    hits
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_session_leaks_no_value() {
    let data = tempfile::tempdir().unwrap();
    let sockets = tempfile::tempdir().unwrap();
    let mut plugin = launch(grafana_command(
        data.path(),
        sockets.path(),
        &[("GF_PLUGIN_LOG_LEVEL", "trace")],
    ));
    let mut c = plugin.client().await;
    let value = format!("{{\"password\":\"{MARKER}\"}}");
    assert_eq!(set(&mut c, 1, "leaky-ds", &value).await, "");
    assert_eq!(get(&mut c, 1, "leaky-ds").await.decrypted_value, value);
    // A rejected value (too large) must not be echoed either.
    let huge = MARKER.repeat(65_536 / MARKER.len() + 1);
    assert!(!set(&mut c, 1, "leaky-ds", &huge).await.is_empty());
    c.rename_secret(pb::RenameSecretRequest {
        key_descriptor: key(1, "leaky-ds", "datasource"),
        new_namespace: "leaky-2".into(),
    })
    .await
    .unwrap();
    c.list_secrets(pb::ListSecretsRequest {
        key_descriptor: key(1, "leaky-2", "datasource"),
        all_organizations: true,
    })
    .await
    .unwrap();
    let all = c
        .get_all_secrets(pb::GetAllSecretsRequest {})
        .await
        .unwrap();
    assert_eq!(all.into_inner().items[0].value, value);
    let (_, status) = plugin.shutdown(plugin.channel().await).await;
    assert!(status.success());

    let stderr = plugin.stderr_lines();
    let lines = assert_hclog(&stderr);
    let traces: Vec<_> = lines
        .iter()
        .filter(|l| l["@level"] == "trace" && l["method"].is_string())
        .collect();
    for method in [
        "SetSecret",
        "GetSecret",
        "RenameSecret",
        "ListSecrets",
        "GetAllSecrets",
    ] {
        let t = traces
            .iter()
            .find(|l| l["method"] == method)
            .unwrap_or_else(|| panic!("trace line for {method}: {stderr:?}"));
        assert!(t["duration_us"].is_u64() && t["outcome"].is_string(), "{t}");
    }
    let all_text = stderr.join("\n");
    assert!(all_text.contains("leaky-ds"), "keys are logged");
    assert!(!all_text.contains(MARKER), "value leaked into stderr");
    assert!(
        files_contain(data.path(), MARKER.as_bytes()).is_empty(),
        "value on disk in plaintext"
    );
    assert!(plugin.extra_stdout.lock().unwrap().is_empty());
}
