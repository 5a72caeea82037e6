//! A value acknowledged by SetSecret survives `kill -9` of the plugin and a restart, also when the
//! kill cuts off a writer in the middle of its load (the test proves it did: the plugin was
//! running, died of SIGKILL, and a SetSecret in flight failed because of it).
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

#[path = "reliability_support/kill.rs"]
mod kill;
mod plugin_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use plugin_support::*;
use secrets_broker::server::proto::secretsmanager as pb;

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
    let loaded = Arc::new(AtomicUsize::new(0));
    let writer = {
        let mut c = plugin.client().await;
        let loaded = loaded.clone();
        tokio::spawn(async move {
            for i in 0.. {
                let sent = Instant::now();
                let answer = c
                    .set_secret(pb::SetSecretRequest {
                        key_descriptor: key(2, &format!("load-{i}"), "datasource"),
                        value: format!("load-value-{i}"),
                    })
                    .await;
                match answer {
                    Ok(r) => {
                        assert_eq!(r.into_inner().user_friendly_error, "", "load-{i}");
                        loaded.store(i + 1, Ordering::SeqCst);
                    }
                    Err(_) => {
                        let failed = Instant::now();
                        return kill::FailedRequest { sent, failed };
                    }
                }
            }
            unreachable!("the writer runs until the plugin dies")
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while loaded.load(Ordering::SeqCst) < 20 {
        assert!(
            plugin.child.try_wait().unwrap().is_none(),
            "the plugin exited by itself"
        );
        assert!(Instant::now() < deadline, "the writer made no progress");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    // SIGKILL: no shutdown path runs, nothing is flushed at exit.
    let running_at_kill = plugin.child.try_wait().unwrap().is_none();
    let acked_before_kill = loaded.load(Ordering::SeqCst);
    let killed_at = Instant::now();
    plugin.child.kill().unwrap();
    let status = plugin.child.wait().unwrap();
    let failure = writer.await.unwrap();
    let evidence = kill::KillEvidence::new(
        running_at_kill,
        status,
        killed_at,
        acked_before_kill,
        &[Some(failure)],
    );
    assert!(
        evidence.landed_mid_run(),
        "the kill did not land mid-load: {evidence:?}"
    );
    let loaded = loaded.load(Ordering::SeqCst);
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
