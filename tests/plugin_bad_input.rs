//! Bad input through gRPC: each case is a clear userFriendlyError (status OK) or a correct round
//! trip; never a crash, never a partial write (a rejected set leaves the previous value).
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod plugin_support;

use plugin_support::*;
use secrets_broker::server::proto::secretsmanager as pb;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_keys_and_values_are_clear_errors_or_round_trips() {
    let mut plugin = launch_fresh(&[]);
    let mut c = plugin.client().await;

    // Invalid keys: each error names the problem.
    let cases: Vec<(Option<pb::Key>, &str)> = vec![
        (key(1, "", "datasource"), "namespace must not be empty"),
        (key(1, "ds", ""), "type must not be empty"),
        (key(-5, "ds", "datasource"), "negative"),
        (key(1, "bad\nname", "datasource"), "control character"),
        (key(1, &"n".repeat(256), "datasource"), "at most 255"),
        (None, "keyDescriptor"),
    ];
    for (k, expected) in &cases {
        let e = set_key(&mut c, k.clone(), "v").await.user_friendly_error;
        assert!(e.contains(expected), "set {k:?}: {e}");
    }
    for (k, expected) in &cases {
        let r = get_key(&mut c, k.clone()).await;
        assert!(
            r.user_friendly_error.contains(expected) && !r.exists,
            "get {k:?}: {r:?}"
        );
        let r = delete_key(&mut c, k.clone()).await;
        assert!(
            r.user_friendly_error.contains(expected),
            "delete {k:?}: {r:?}"
        );
    }

    // Value limit: exactly 65,536 bytes round-trips, one byte more is refused and the previous
    // value stays.
    let max = "x".repeat(65_536);
    assert_eq!(set(&mut c, 1, "big", &max).await, "");
    assert_eq!(get(&mut c, 1, "big").await.decrypted_value.len(), 65_536);
    let e = set(&mut c, 1, "big", &"y".repeat(65_537)).await;
    assert!(e.contains("65537 bytes") && e.contains("65536"), "{e}");
    assert!(!e.contains("yyyy"), "value must not appear in the error");
    assert_eq!(get(&mut c, 1, "big").await.decrypted_value, max);
    // Multi-byte characters count in bytes.
    let e = set(&mut c, 1, "big", &"é".repeat(32_769)).await;
    assert!(e.contains("bytes"), "{e}");

    // Unusual but valid namespaces round-trip, including listing and renaming.
    let names = [
        "my data source",
        "team/prod/postgres",
        "🔑 secrets ✓",
        "  leading and trailing  ",
        "%2F..%00-not-an-escape",
        "\\back\\slash",
        "ünïcödé",
    ];
    for (i, ns) in names.iter().enumerate() {
        let value = format!("{{\"password\":\"p{i}\"}}");
        assert_eq!(set(&mut c, 1, ns, &value).await, "", "{ns:?}");
        let r = get(&mut c, 1, ns).await;
        assert_eq!((r.exists, r.decrypted_value), (true, value), "{ns:?}");
        let listed = list(&mut c, 1, ns, false).await;
        assert_eq!(
            listed.keys,
            vec![key(1, ns, "datasource").unwrap()],
            "{ns:?}"
        );
    }
    // Namespaces sharing a prefix stay apart.
    assert!(!get(&mut c, 1, "team/prod").await.exists);
    assert!(!get(&mut c, 1, "team").await.exists);
    // Empty value is a value.
    assert_eq!(set(&mut c, 1, "empty", "").await, "");
    let r = get(&mut c, 1, "empty").await;
    assert_eq!((r.exists, r.decrypted_value.as_str()), (true, ""));

    // Rename onto an invalid namespace: refused, source intact.
    let r = rename(&mut c, 1, "team/prod/postgres", "").await;
    assert!(
        r.user_friendly_error
            .contains("namespace must not be empty"),
        "{r:?}"
    );
    assert!(get(&mut c, 1, "team/prod/postgres").await.exists);
    // Rename to an emoji namespace works.
    let r = rename(&mut c, 1, "team/prod/postgres", "🐘 prod").await;
    assert_eq!(r.user_friendly_error, "");
    assert_eq!(
        get(&mut c, 1, "🐘 prod").await.decrypted_value,
        "{\"password\":\"p1\"}"
    );

    // List with an empty namespace: a clear error, not an empty success.
    let r = list(&mut c, 1, "", true).await;
    assert!(r.user_friendly_error.contains("namespace"), "{r:?}");

    // The plugin is still alive and everything is intact.
    assert!(plugin.child.try_wait().unwrap().is_none(), "plugin crashed");
    let all = get_all(&mut c).await;
    assert_eq!(all.items.len(), names.len() + 2);
    let channel = plugin.channel().await;
    let (_, status) = plugin.shutdown(channel).await;
    assert!(status.success());
    let lines = assert_hclog(&plugin.stderr_lines());
    assert!(
        lines.iter().any(|l| l["@level"] == "warn"),
        "rejections are logged"
    );
}
