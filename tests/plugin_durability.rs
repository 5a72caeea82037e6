//! A value acknowledged by SetSecret survives `kill -9` of the plugin and a restart, also when the
//! kill cuts off a writer in the middle of its load (the test proves it did: the plugin was
//! running, died of SIGKILL, and a SetSecret in flight failed because of it).
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

#[path = "reliability_support/kill.rs"]
mod kill;
mod plugin_support;

use plugin_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_set_survives_kill_9() {
    let data = tempfile::tempdir().unwrap();
    let sockets = tempfile::tempdir().unwrap();
    let mut plugin = launch(grafana_command(data.path(), sockets.path(), &[]));
    let mut c = plugin.client().await;
    for i in 0..20 {
        assert_eq!(
            set(&mut c, 1, &format!("ds-{i}"), &format!("value-{i}")).await,
            ""
        );
    }
    assert_eq!(set(&mut c, 1, "ds-0", "overwritten").await, "");
    // A writer that keeps setting fresh keys (org 2) until the plugin dies: the kill lands in
    // the middle of its load.
    let load_client = plugin.client().await;
    let (loaded, _) = kill::kill_mid_set_load(&mut plugin.child, load_client, 2, 20).await;
    drop(c);
    drop(plugin);

    let plugin = launch(grafana_command(data.path(), sockets.path(), &[]));
    let mut c = plugin.client().await;
    assert_eq!(get(&mut c, 1, "ds-0").await.decrypted_value, "overwritten");
    for i in 1..20 {
        let r = get(&mut c, 1, &format!("ds-{i}")).await;
        assert!(r.exists, "ds-{i} lost");
        assert_eq!(r.decrypted_value, format!("value-{i}"));
    }
    for i in 0..loaded {
        let r = get(&mut c, 2, &format!("load-{i}")).await;
        assert!(r.exists, "load-{i} (acknowledged before the kill) lost");
        assert_eq!(r.decrypted_value, format!("load-value-{i}"));
    }
    // The write in flight at the kill is there whole or not at all.
    let r = get(&mut c, 2, &format!("load-{loaded}")).await;
    assert!(
        !r.exists || r.decrypted_value == format!("load-value-{loaded}"),
        "the write in flight at the kill is half there"
    );
}
