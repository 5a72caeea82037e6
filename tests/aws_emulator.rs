//! The `aws` backend against the in-process `secretsmanager-emulator`: the conformance suite,
//! ownership with a foreign secret created through the SDK, the recovery window, API calls per
//! operation counted on the emulator's side, and a 1,000-secret workload under throttling and
//! injected 5xx errors.

#[path = "common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_secretsmanager::types::Tag;
use secrets_broker::backends::aws::naming::{OWNER_VALUE, TAG_INSTANCE, TAG_OWNER};
use secrets_broker::backends::aws::{AwsConfig, AwsStore};
use secrets_broker::backends::{testing, Error, SecretStore};
use secrets_broker::domain::{ListFilter, SecretKey, SecretValue};
use secretsmanager_emulator::{Emulator, FaultSettings};

fn config(emu: &Emulator, prefix: &str) -> AwsConfig {
    AwsConfig {
        access_key_id: Some("AKIDEMULATOR".into()),
        secret_access_key: Some("emulator-secret".into()),
        region: Some("us-east-1".into()),
        endpoint_url: Some(emu.endpoint()),
        prefix: prefix.into(),
        max_attempts: 10,
        retry_initial_backoff: Duration::from_millis(5),
        ..AwsConfig::default()
    }
}

async fn emulator() -> Emulator {
    Emulator::builder()
        .in_memory()
        .start()
        .await
        .expect("emulator")
}

/// A fresh emulator and a store on it with secret names under `prefix` (and the store's config).
async fn emulator_and_store(prefix: &str) -> (Emulator, AwsConfig, AwsStore) {
    let emu = emulator().await;
    let cfg = config(&emu, prefix);
    let store = AwsStore::connect(&cfg).await.expect("store");
    (emu, cfg, store)
}

fn key(org: i64, ns: &str) -> SecretKey {
    SecretKey::new(org, ns, "datasource").expect("key")
}

fn value(s: &str) -> SecretValue {
    SecretValue::new(s).expect("value")
}

fn calls(emu: &Emulator, op: &str) -> u64 {
    emu.faults().stats()["calls"][op].as_u64().unwrap_or(0)
}

fn total(emu: &Emulator) -> u64 {
    emu.faults().stats()["total"].as_u64().unwrap_or(0)
}

#[tokio::test]
async fn conformance_suite_passes() {
    let (emu, _, store) = emulator_and_store("grafana/").await;
    testing::run_all(&store).await;
    emu.shutdown().await;
}

/// The value `store` holds at `k` (the read must succeed).
async fn value_at(store: &dyn SecretStore, k: &SecretKey) -> Option<String> {
    let got = store.get(k).await.expect("get");
    got.map(|v| v.expose().to_string())
}

/// Setting `k` is refused because the secret of its name is not ours; returns the error.
async fn set_refused_as_not_owned(store: &AwsStore, k: &SecretKey) -> Error {
    let err = store.set(k, &value("ours")).await.expect_err("set refused");
    assert!(matches!(err, Error::NotOwned(_)), "{err:?}");
    err
}

#[tokio::test]
async fn foreign_secret_is_refused_by_name() {
    let (emu, cfg, store) = emulator_and_store("grafana/").await;
    let k = key(1, "payments-db");
    let name = store.naming().name(&k);
    let sdk = cfg.client().await.expect("client");
    sdk.create_secret()
        .name(&name)
        .secret_string("theirs")
        .send()
        .await
        .expect("foreign create");

    let err = set_refused_as_not_owned(&store, &k).await;
    assert!(err.to_string().contains(&name), "{err}");
    let err = store.delete(&k).await.expect_err("delete refused");
    assert!(matches!(err, Error::NotOwned(_)), "{err:?}");
    let err = store
        .rename(&k, "elsewhere")
        .await
        .expect_err("rename refused");
    assert!(matches!(err, Error::NotOwned(_)), "{err:?}");
    // Still there, unchanged, and not listed as ours.
    let v = sdk
        .get_secret_value()
        .secret_id(&name)
        .send()
        .await
        .expect("get");
    assert_eq!(v.secret_string(), Some("theirs"));
    assert!(store.get_all().await.expect("get_all").is_empty());
    assert_eq!(store.get(&key(1, "elsewhere")).await.expect("get"), None);

    // A secret with our owner marker but another instance's prefix tag is foreign too.
    let k2 = key(2, "shared-name");
    let name2 = store.naming().name(&k2);
    sdk.create_secret()
        .name(&name2)
        .secret_string("other instance")
        .tags(Tag::builder().key(TAG_OWNER).value(OWNER_VALUE).build())
        .tags(Tag::builder().key(TAG_INSTANCE).value("staging/").build())
        .send()
        .await
        .expect("other instance's create");
    set_refused_as_not_owned(&store, &k2).await;
    emu.shutdown().await;
}

#[tokio::test]
async fn deleted_name_is_restored_on_set() {
    let (emu, _, store) = emulator_and_store("g/").await;
    let k = key(1, "db");
    store.set(&k, &value("one")).await.expect("set");
    store.delete(&k).await.expect("delete");
    assert_eq!(store.get(&k).await.expect("get"), None);
    assert!(store
        .list(&ListFilter::new(None, "db", "datasource").expect("valid filter"))
        .await
        .expect("list")
        .is_empty());
    // A fresh process (empty cache) sets the name again while it is in its recovery window.
    let fresh = AwsStore::connect(&config(&emu, "g/")).await.expect("store");
    fresh.set(&k, &value("two")).await.expect("set in window");
    assert_eq!(value_at(&fresh, &k).await.as_deref(), Some("two"));
    emu.shutdown().await;
}

#[tokio::test]
async fn api_calls_per_operation_from_the_emulator_side() {
    let (emu, cfg, store) = emulator_and_store("grafana/").await;
    let k = key(1, "db");

    let before = total(&emu);
    store.set(&k, &value("v1")).await.expect("set new");
    assert_eq!(total(&emu) - before, 1, "new secret: one CreateSecret");
    assert_eq!(calls(&emu, "CreateSecret"), 1);

    let before = total(&emu);
    store.set(&k, &value("v2")).await.expect("set existing");
    assert_eq!(
        total(&emu) - before,
        1,
        "existing secret: one PutSecretValue"
    );
    assert_eq!(calls(&emu, "PutSecretValue"), 1);

    let before = total(&emu);
    assert_eq!(value_at(&store, &k).await.as_deref(), Some("v2"));
    assert_eq!(total(&emu) - before, 1, "get: one GetSecretValue");

    // A new process: first set of an existing name costs 3, then 1.
    let fresh = AwsStore::connect(&cfg).await.expect("store");
    let before = total(&emu);
    fresh.set(&k, &value("v3")).await.expect("set");
    assert_eq!(total(&emu) - before, 3, "create (exists) + describe + put");
    let before = total(&emu);
    fresh.set(&k, &value("v4")).await.expect("set");
    assert_eq!(total(&emu) - before, 1);

    // get_all over 45 secrets: 1 ListSecrets page + 3 BatchGetSecretValue calls.
    for i in 0..44 {
        store
            .set(&key(2, &format!("ds-{i}")), &value("x"))
            .await
            .expect("set");
    }
    let (l, b) = (
        calls(&emu, "ListSecrets"),
        calls(&emu, "BatchGetSecretValue"),
    );
    let all = store.get_all().await.expect("get_all");
    assert_eq!(all.len(), 45);
    assert_eq!(calls(&emu, "ListSecrets") - l, 1);
    assert_eq!(calls(&emu, "BatchGetSecretValue") - b, 3);

    // Cached delete: one DeleteSecret.
    let before = total(&emu);
    store.delete(&k).await.expect("delete");
    assert_eq!(total(&emu) - before, 1);
    emu.shutdown().await;
}

#[tokio::test]
async fn thousand_secrets_under_throttling_and_5xx() {
    let emu = emulator().await;
    let cfg = AwsConfig {
        max_attempts: 15,
        retry_initial_backoff: Duration::from_millis(2),
        ..config(&emu, "load/")
    };
    let store = Arc::new(AwsStore::connect(&cfg).await.expect("store"));
    emu.faults().set(common::throttle_30_and_5xx_5(7));
    let n = 1000usize;
    common::striped(n, 16, |_, items| {
        let store = Arc::clone(&store);
        async move {
            for i in items {
                let k = key(1 + (i % 3) as i64, &format!("ds {i}/ü"));
                let v = value(&format!("value-{i}-{}", "x".repeat(i % 50)));
                store.set(&k, &v).await.expect("set");
                assert_eq!(store.get(&k).await.expect("get").as_ref(), Some(&v));
                store
                    .set(&k, &value(&format!("second-{i}")))
                    .await
                    .expect("set 2");
                let renamed = format!("renamed {i}");
                store.rename(&k, &renamed).await.expect("rename");
                let r = k.with_namespace(renamed).expect("key");
                assert_eq!(store.get(&k).await.expect("get old"), None);
                let got = store.get(&r).await.expect("get new");
                assert_eq!(
                    got.map(|v| v.expose().to_string()),
                    Some(format!("second-{i}"))
                );
                if i % 2 == 0 {
                    store.delete(&r).await.expect("delete");
                    assert_eq!(store.get(&r).await.expect("get deleted"), None);
                }
            }
        }
    })
    .await;
    let stats = emu.faults().stats();
    emu.faults().set(FaultSettings::default());
    let all = store.get_all().await.expect("get_all");
    assert_eq!(all.len(), n / 2);
    for item in &all {
        let i: usize = item
            .key
            .namespace()
            .trim_start_matches("renamed ")
            .parse()
            .expect("index");
        assert_eq!(i % 2, 1);
        assert_eq!(item.value.expose(), format!("second-{i}"));
    }
    // 30% throttled and 5% 5xx, as the issue asks; the shares are of all calls, retries included.
    common::assert_throttle_30_and_5xx_5(&stats);
    emu.shutdown().await;
}

#[tokio::test]
async fn rename_retried_after_a_crash_at_each_step_completes() {
    let (emu, _, store) = emulator_and_store("r/").await;
    let src = key(1, "old name");
    let dst = src.with_namespace("new name").expect("key");
    let v = value("the value");

    // Crash after the copy, before the delete: both exist with the same value.
    store.set(&src, &v).await.expect("set src");
    store.set(&dst, &v).await.expect("copy");
    store.rename(&src, "new name").await.expect("retry");
    assert_eq!(store.get(&src).await.expect("get src"), None);
    assert_eq!(store.get(&dst).await.expect("get dst").as_ref(), Some(&v));

    // Crash after the delete: a retry is a no-op that keeps the target.
    store.rename(&src, "new name").await.expect("retry again");
    assert_eq!(store.get(&dst).await.expect("get dst").as_ref(), Some(&v));

    // A stale target (interrupted earlier rename) is replaced by the source's value.
    let fresh = AwsStore::connect(&config(&emu, "r/")).await.expect("store");
    fresh
        .set(&src, &value("newer"))
        .await
        .expect("set src again");
    fresh
        .rename(&src, "new name")
        .await
        .expect("rename over stale");
    assert_eq!(value_at(&fresh, &dst).await.as_deref(), Some("newer"));
    assert_eq!(fresh.get(&src).await.expect("get src"), None);
    emu.shutdown().await;
}

#[tokio::test]
async fn built_from_gf_plugin_settings() {
    let emu = emulator().await;
    let env = [
        ("GF_PLUGIN_BACKEND", "aws".to_string()),
        ("GF_PLUGIN_AWS_REGION", "eu-west-1".to_string()),
        ("GF_PLUGIN_AWS_ACCESS_KEY_ID", "AKIDSETTINGS".to_string()),
        (
            "GF_PLUGIN_AWS_SECRET_ACCESS_KEY",
            "settings-secret".to_string(),
        ),
        ("GF_PLUGIN_AWS_ENDPOINT_URL", emu.endpoint()),
        ("GF_PLUGIN_SECRET_NAME_PREFIX", "grafana-prod/".to_string()),
        (
            "GF_PLUGIN_SECRET_DESCRIPTION",
            "Grafana data source secret".to_string(),
        ),
        ("GF_PLUGIN_AWS_TAGS", "team=observability".to_string()),
    ]
    .map(|(k, v)| (k.to_string(), v));
    let settings =
        secrets_broker::config::Settings::load(None, env, std::iter::empty()).expect("settings");
    let backend = secrets_broker::config::backend_from_settings(&settings).expect("config");
    let store = secrets_broker::backends::build(&backend)
        .await
        .expect("store");
    let k = key(3, "prometheus");
    store.set(&k, &value("token")).await.expect("set");
    assert_eq!(value_at(store.as_ref(), &k).await.as_deref(), Some("token"));
    // The secret is where the naming scheme says, with the description and the extra tag.
    let sdk = AwsConfig {
        region: Some("eu-west-1".into()),
        ..config(&emu, "grafana-prod/")
    }
    .client()
    .await
    .expect("client");
    let d = sdk
        .describe_secret()
        .secret_id("grafana-prod/datasource/prometheus/000003")
        .send()
        .await
        .expect("describe (region eu-west-1)");
    assert_eq!(d.description(), Some("Grafana data source secret"));
    assert!(d
        .tags()
        .iter()
        .any(|t| t.key() == Some("team") && t.value() == Some("observability")));
    emu.shutdown().await;
}
