//! The built plugin launched as Grafana launches it, with `GF_PLUGIN_*` settings pointing the `aws`
//! backend at the emulator: the six RPCs end to end with the API calls they cost, and a
//! 1,000-secret set/get/rename/delete workload while the emulator throttles 30% of calls and fails
//! 5% with 5xx, which must finish with every value correct.
#![allow(clippy::unwrap_used)]

#[path = "common/mod.rs"]
mod common;
#[path = "plugin_support/mod.rs"]
mod plugin_support;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use plugin_support::{
    all_items, delete, get, get_all, grafana_command, key, launch, list, rename, set, Plugin,
};
use secretsmanager_emulator::{Emulator, FaultSettings};

fn aws_plugin(data: &Path, sockets: &Path, endpoint: &str, extra: &[(&str, &str)]) -> Plugin {
    let mut settings = vec![
        ("GF_PLUGIN_BACKEND", "aws"),
        ("GF_PLUGIN_AWS_ENDPOINT_URL", endpoint),
        ("GF_PLUGIN_AWS_REGION", "eu-west-1"),
        ("GF_PLUGIN_AWS_ACCESS_KEY_ID", "AKIDPLUGINTEST"),
        (
            "GF_PLUGIN_AWS_SECRET_ACCESS_KEY",
            "plugin-test-secret-access-key",
        ),
        ("GF_PLUGIN_SECRET_NAME_PREFIX", "grafana-test/"),
        ("GF_PLUGIN_AWS_RECOVERY_WINDOW_DAYS", "0"),
    ];
    settings.extend_from_slice(extra);
    launch(grafana_command(data, sockets, &settings))
}

fn calls(emu: &Emulator) -> BTreeMap<String, u64> {
    serde_json::from_value(emu.faults().stats()["calls"].clone()).unwrap()
}

fn delta(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    after
        .iter()
        .filter_map(|(op, n)| {
            let d = n - before.get(op).copied().unwrap_or(0);
            (d > 0).then(|| (op.clone(), d))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn six_rpcs_end_to_end_against_the_emulator() {
    let emu = Emulator::builder().in_memory().start().await.unwrap();
    let (data, sockets) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut plugin = aws_plugin(data.path(), sockets.path(), emu.endpoint().as_str(), &[]);
    let mut c = plugin.client().await;

    // Absent, then set (a new secret costs one CreateSecret), then get (one GetSecretValue).
    assert!(!get(&mut c, 1, "prod db").await.exists);
    let before = calls(&emu);
    assert_eq!(set(&mut c, 1, "prod db", r#"{"password":"p1"}"#).await, "");
    assert_eq!(
        delta(&before, &calls(&emu)),
        BTreeMap::from([("CreateSecret".to_string(), 1)])
    );
    let before = calls(&emu);
    let r = get(&mut c, 1, "prod db").await;
    assert!(r.exists && r.user_friendly_error.is_empty());
    assert_eq!(r.decrypted_value, r#"{"password":"p1"}"#);
    assert_eq!(
        delta(&before, &calls(&emu)),
        BTreeMap::from([("GetSecretValue".to_string(), 1)])
    );
    // Overwrite of a name this process created: one PutSecretValue.
    let before = calls(&emu);
    assert_eq!(set(&mut c, 1, "prod db", r#"{"password":"p2"}"#).await, "");
    assert_eq!(
        delta(&before, &calls(&emu)),
        BTreeMap::from([("PutSecretValue".to_string(), 1)])
    );
    assert_eq!(set(&mut c, 2, "prod db", "org two").await, "");

    // List: exact match, one org or all.
    let one = list(&mut c, 1, "prod db", false).await;
    assert_eq!(one.user_friendly_error, "");
    assert_eq!(one.keys, vec![key(1, "prod db", "datasource").unwrap()]);
    let all = list(&mut c, 1, "prod db", true).await;
    let mut orgs: Vec<i64> = all.keys.iter().map(|k| k.org_id).collect();
    orgs.sort();
    assert_eq!(orgs, vec![1, 2]);

    // Rename moves the value; the old name is gone.
    let r = rename(&mut c, 1, "prod db", "prod db / renamed 🚀").await;
    assert_eq!(r.user_friendly_error, "");
    assert!(!get(&mut c, 1, "prod db").await.exists);
    assert_eq!(
        get(&mut c, 1, "prod db / renamed 🚀").await.decrypted_value,
        r#"{"password":"p2"}"#
    );

    // GetAllSecrets: everything in one answer.
    assert_eq!(
        all_items(&mut c).await,
        vec![
            (
                1,
                "prod db / renamed 🚀".to_string(),
                r#"{"password":"p2"}"#.to_string()
            ),
            (2, "prod db".to_string(), "org two".to_string()),
        ]
    );

    // Delete, twice (idempotent), then absent.
    for _ in 0..2 {
        assert_eq!(delete(&mut c, 2, "prod db").await.user_friendly_error, "");
    }
    assert!(!get(&mut c, 2, "prod db").await.exists);
    drop(c);
    let (_, status) = plugin.shutdown(plugin.channel().await).await;
    assert!(status.success(), "{status}");
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_secrets_under_throttling_and_5xx_end_correct() {
    let emu = Emulator::builder()
        .in_memory()
        .faults(common::throttle_30_and_5xx_5(11))
        .start()
        .await
        .unwrap();
    let (data, sockets) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let plugin = Arc::new(aws_plugin(
        data.path(),
        sockets.path(),
        emu.endpoint().as_str(),
        &[
            ("GF_PLUGIN_AWS_MAX_ATTEMPTS", "15"),
            ("GF_PLUGIN_AWS_RETRY_INITIAL_BACKOFF_MS", "2"),
        ],
    ));
    let n = 1000usize;
    common::striped(n, 8, |_, items| {
        let plugin = Arc::clone(&plugin);
        async move {
            let mut c = plugin.client().await;
            for i in items {
                let ns = format!("ds {i}");
                let value = format!(r#"{{"password":"value-{i}"}}"#);
                assert_eq!(set(&mut c, 1, &ns, &value).await, "", "set {ns}");
                let r = get(&mut c, 1, &ns).await;
                assert_eq!(r.user_friendly_error, "", "get {ns}");
                assert_eq!(r.decrypted_value, value, "get {ns}");
                if i % 2 == 1 {
                    let r = rename(&mut c, 1, &ns, &format!("renamed {i}")).await;
                    assert_eq!(r.user_friendly_error, "", "rename {ns}");
                } else if i % 4 == 0 {
                    let r = delete(&mut c, 1, &ns).await;
                    assert_eq!(r.user_friendly_error, "", "delete {ns}");
                }
            }
        }
    })
    .await;
    let stats = emu.faults().stats();
    emu.faults().set(FaultSettings::default());
    common::assert_throttle_30_and_5xx_5(&stats);

    // Faults off: exactly the expected secrets, each with its value.
    let mut c = plugin.client().await;
    let all = get_all(&mut c).await;
    assert_eq!(all.user_friendly_error, "");
    let got: BTreeMap<String, String> = all
        .items
        .into_iter()
        .map(|i| (i.key.unwrap().namespace, i.value))
        .collect();
    let expected: BTreeMap<String, String> = (0..n)
        .filter(|i| i % 4 != 0)
        .map(|i| {
            let ns = if i % 2 == 1 {
                format!("renamed {i}")
            } else {
                format!("ds {i}")
            };
            (ns, format!(r#"{{"password":"value-{i}"}}"#))
        })
        .collect();
    assert_eq!(got.len(), expected.len());
    assert!(got == expected, "some value is missing or wrong");
    emu.shutdown().await;
}
