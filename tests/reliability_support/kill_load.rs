//! A kill -9 in the middle of a plugin's SetSecret load: the writer that loads it, the kill once
//! enough writes are acknowledged, and the evidence that it landed mid-load (the broker's crash
//! tests; the evidence types are in `kill.rs`, which the emulator's tests share).
#![allow(dead_code)]

use std::process::Child;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use secrets_broker::server::proto::secretsmanager as pb;
use secrets_broker::server::proto::secretsmanager::secrets_manager_client::SecretsManagerClient;
use tonic::transport::Channel;

use crate::kill::{FailedRequest, KillEvidence};

/// Spawns a load's writer: it writes 0, 1, 2, ... with `write` (`Ok` once the write is
/// acknowledged, counted in `acked`) until a write fails because the process under test died;
/// its result is that failed request.
pub fn spawn_writer<W, Fut, E>(
    acked: Arc<AtomicUsize>,
    mut write: W,
) -> tokio::task::JoinHandle<FailedRequest>
where
    W: FnMut(usize) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<(), E>> + Send,
    E: Send,
{
    tokio::spawn(async move {
        for i in 0.. {
            let sent = Instant::now();
            match write(i).await {
                Ok(()) => acked.store(i + 1, Ordering::SeqCst),
                Err(_) => {
                    let failed = Instant::now();
                    return FailedRequest { sent, failed };
                }
            }
        }
        unreachable!("the writer runs until the process dies")
    })
}

/// A load's writer through the plugin's gRPC API: SetSecret of the `datasource` key `load-{i}` in
/// `org` to `load-value-{i}` for i = 0, 1, ... (each must succeed) until the plugin dies (see
/// [`spawn_writer`]).
pub fn spawn_set_writer(
    client: SecretsManagerClient<Channel>,
    org: i64,
    acked: Arc<AtomicUsize>,
) -> tokio::task::JoinHandle<FailedRequest> {
    spawn_writer(acked, move |i| {
        let mut c = client.clone();
        async move {
            let request = pb::SetSecretRequest {
                key_descriptor: Some(pb::Key {
                    org_id: org,
                    namespace: format!("load-{i}"),
                    r#type: "datasource".into(),
                }),
                value: format!("load-value-{i}"),
            };
            let r = c.set_secret(request).await?.into_inner();
            assert_eq!(r.user_friendly_error, "", "load-{i}");
            Ok::<(), tonic::Status>(())
        }
    })
}

/// Lets a load run until its writer has `at_least` acknowledged writes (`acked`; within 60 s, the
/// process staying up), then sends SIGKILL to `child` mid-load: the evidence of the kill, with
/// the request of `writer` that failed because of it.
pub async fn kill_mid_load(
    child: &mut Child,
    acked: &AtomicUsize,
    at_least: usize,
    writer: tokio::task::JoinHandle<FailedRequest>,
) -> KillEvidence {
    let deadline = Instant::now() + Duration::from_secs(60);
    while acked.load(Ordering::SeqCst) < at_least {
        let exited = child.try_wait().expect("process status");
        assert!(exited.is_none(), "the process exited by itself: {exited:?}");
        assert!(Instant::now() < deadline, "the writer made no progress");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    // SIGKILL: no shutdown path runs, nothing is flushed at exit.
    let running_at_kill = child.try_wait().expect("process status").is_none();
    let acked_before_kill = acked.load(Ordering::SeqCst);
    let killed_at = Instant::now();
    child.kill().expect("SIGKILL sent");
    let status = child.wait().expect("process status");
    let failure = writer.await.expect("the writer ended");
    KillEvidence::new(
        running_at_kill,
        status,
        killed_at,
        acked_before_kill,
        &[Some(failure)],
    )
}

/// A load of SetSecret writes through the plugin (see [`spawn_set_writer`]) that `child`, the
/// plugin, is killed in with SIGKILL once `at_least` writes are acknowledged; asserts that the kill
/// landed mid-load; returns how many writes were acknowledged before it, and the evidence.
pub async fn kill_mid_set_load(
    child: &mut Child,
    client: SecretsManagerClient<Channel>,
    org: i64,
    at_least: usize,
) -> (usize, KillEvidence) {
    let acked = Arc::new(AtomicUsize::new(0));
    let writer = spawn_set_writer(client, org, acked.clone());
    let evidence = kill_mid_load(child, &acked, at_least, writer).await;
    assert!(
        evidence.landed_mid_run(),
        "the kill did not land mid-load: {evidence:?}"
    );
    (acked.load(Ordering::SeqCst), evidence)
}
