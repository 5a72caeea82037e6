//! A value acknowledged by SetSecret survives `kill -9` of the plugin and a restart.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

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
    // SIGKILL: no shutdown path runs, nothing is flushed at exit.
    plugin.child.kill().unwrap();
    plugin.child.wait().unwrap();
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
}
