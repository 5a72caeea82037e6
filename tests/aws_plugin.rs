//! The built plugin launched as Grafana launches it, with `GF_PLUGIN_*` settings pointing the `aws`
//! backend at the emulator: the six RPCs end to end with the API calls they cost, and a
//! 1,000-secret set/get/rename/delete workload while the emulator throttles 30% of calls and fails
//! 5% with 5xx, which must finish with every value correct.
#![allow(clippy::unwrap_used)]

#[path = "plugin_support/mod.rs"]
mod plugin_support;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use plugin_support::{get, grafana_command, key, launch, set, Plugin};
use secrets_broker::server::proto::secretsmanager as pb;
use secretsmanager_emulator::{Emulator, FaultRule, FaultSettings};

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
    let list = |org: i64, all: bool| pb::ListSecretsRequest {
        key_descriptor: key(org, "prod db", "datasource"),
        all_organizations: all,
    };
    let one = c.list_secrets(list(1, false)).await.unwrap().into_inner();
    assert_eq!(one.user_friendly_error, "");
    assert_eq!(one.keys, vec![key(1, "prod db", "datasource").unwrap()]);
    let all = c.list_secrets(list(1, true)).await.unwrap().into_inner();
    let mut orgs: Vec<i64> = all.keys.iter().map(|k| k.org_id).collect();
    orgs.sort();
    assert_eq!(orgs, vec![1, 2]);

    // Rename moves the value; the old name is gone.
    let r = c
        .rename_secret(pb::RenameSecretRequest {
            key_descriptor: key(1, "prod db", "datasource"),
            new_namespace: "prod db / renamed 🚀".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.user_friendly_error, "");
    assert!(!get(&mut c, 1, "prod db").await.exists);
    assert_eq!(
        get(&mut c, 1, "prod db / renamed 🚀").await.decrypted_value,
        r#"{"password":"p2"}"#
    );

    // GetAllSecrets: everything in one answer.
    let all = c
        .get_all_secrets(pb::GetAllSecretsRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.user_friendly_error, "");
    let mut items: Vec<(i64, String, String)> = all
        .items
        .into_iter()
        .map(|i| {
            let k = i.key.unwrap();
            (k.org_id, k.namespace, i.value)
        })
        .collect();
    items.sort();
    assert_eq!(
        items,
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
        let r = c
            .delete_secret(pb::DeleteSecretRequest {
                key_descriptor: key(2, "prod db", "datasource"),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.user_friendly_error, "");
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
        .faults(FaultSettings {
            seed: Some(11),
            rules: vec![FaultRule {
                throttle_rate: Some(0.30),
                // Drawn on the 70% not throttled: 0.043 + 0.029 of those is 5% of all calls.
                error_rate: Some(0.043),
                unavailable_rate: Some(0.029),
                ..FaultRule::default()
            }],
        })
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
    let workers = 8usize;
    let mut tasks = Vec::new();
    for w in 0..workers {
        let plugin = Arc::clone(&plugin);
        tasks.push(tokio::spawn(async move {
            let mut c = plugin.client().await;
            for i in (w..n).step_by(workers) {
                let ns = format!("ds {i}");
                let value = format!(r#"{{"password":"value-{i}"}}"#);
                assert_eq!(set(&mut c, 1, &ns, &value).await, "", "set {ns}");
                let r = get(&mut c, 1, &ns).await;
                assert_eq!(r.user_friendly_error, "", "get {ns}");
                assert_eq!(r.decrypted_value, value, "get {ns}");
                if i % 2 == 1 {
                    let r = c
                        .rename_secret(pb::RenameSecretRequest {
                            key_descriptor: key(1, &ns, "datasource"),
                            new_namespace: format!("renamed {i}"),
                        })
                        .await
                        .unwrap()
                        .into_inner();
                    assert_eq!(r.user_friendly_error, "", "rename {ns}");
                } else if i % 4 == 0 {
                    let r = c
                        .delete_secret(pb::DeleteSecretRequest {
                            key_descriptor: key(1, &ns, "datasource"),
                        })
                        .await
                        .unwrap()
                        .into_inner();
                    assert_eq!(r.user_friendly_error, "", "delete {ns}");
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let stats = emu.faults().stats();
    emu.faults().set(FaultSettings::default());
    let (total, throttled, injected) = (
        stats["total"].as_f64().unwrap(),
        stats["throttled"].as_f64().unwrap(),
        stats["injected_errors"].as_f64().unwrap(),
    );
    println!(
        "calls {total}, throttled {:.1}%, injected 5xx {:.1}%",
        100.0 * throttled / total,
        100.0 * injected / total
    );
    assert!((0.25..0.35).contains(&(throttled / total)), "{stats}");
    assert!((0.03..0.07).contains(&(injected / total)), "{stats}");

    // Faults off: exactly the expected secrets, each with its value.
    let mut c = plugin.client().await;
    let all = c
        .get_all_secrets(pb::GetAllSecretsRequest {})
        .await
        .unwrap()
        .into_inner();
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
