//! A whole session at trace level leaves no secret value in stderr or in the data directory's
//! files, while trace lines do record each call (method, key, duration, outcome).
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;
mod plugin_support;

use common::files_containing;
use plugin_support::*;

const MARKER: &str = "Zq7-SECRET-CANARY-0042";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_session_leaks_no_value() {
    let mut plugin = launch_fresh(&[("GF_PLUGIN_LOG_LEVEL", "trace")]);
    let mut c = plugin.client().await;
    let value = format!("{{\"password\":\"{MARKER}\"}}");
    assert_eq!(set(&mut c, 1, "leaky-ds", &value).await, "");
    assert_eq!(get(&mut c, 1, "leaky-ds").await.decrypted_value, value);
    // A rejected value (too large) must not be echoed either.
    let huge = MARKER.repeat(65_536 / MARKER.len() + 1);
    assert!(!set(&mut c, 1, "leaky-ds", &huge).await.is_empty());
    rename(&mut c, 1, "leaky-ds", "leaky-2").await;
    list(&mut c, 1, "leaky-2", true).await;
    assert_eq!(get_all(&mut c).await.items[0].value, value);
    let channel = plugin.channel().await;
    let (_, status) = plugin.shutdown(channel).await;
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
        files_containing(plugin.data.path(), MARKER.as_bytes()).is_empty(),
        "value on disk in plaintext"
    );
    assert!(plugin.extra_stdout.lock().unwrap().is_empty());
}
