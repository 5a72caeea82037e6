//! Proof that a crash test's `kill -9` landed while work was in flight: per-trial evidence (the
//! process was still running when the signal was sent and died of it, work was acknowledged
//! before it, and the load's writers were still writing: their last request failed only after
//! it) and the `killed_mid_run` tally that every
//! crash test prints in its `FIGURES` line and asserts on.
#![allow(dead_code)]

use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ExitStatus};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use secrets_broker::server::proto::secretsmanager as pb;
use secrets_broker::server::proto::secretsmanager::secrets_manager_client::SecretsManagerClient;
use tonic::transport::Channel;

/// SIGKILL's number on Linux.
const SIGKILL: i32 = 9;

/// Whether `status` is the one of a process killed by SIGKILL (not one that exited by itself).
pub fn died_of_sigkill(status: ExitStatus) -> bool {
    status.signal() == Some(SIGKILL)
}

/// When the last request of a load generator's worker was sent and when it failed (the process
/// under test died).
#[derive(Debug, Clone, Copy)]
pub struct FailedRequest {
    /// When the request was sent.
    pub sent: Instant,
    /// When its failure was seen.
    pub failed: Instant,
}

impl FailedRequest {
    /// Whether the worker was still writing when the kill was sent at `kill`: its last request
    /// failed only after it (a worker that failed before the kill had stopped by itself).
    pub fn writing_at(&self, kill: Instant) -> bool {
        self.failed >= kill
    }

    /// Whether the request was in flight when the kill was sent at `kill`: sent before it, failed
    /// after it. (A request that was almost done may still be answered while the signal is being
    /// delivered; its worker's next request then fails instead, so this is reported, not required.)
    pub fn in_flight_at(&self, kill: Instant) -> bool {
        self.sent <= kill && self.failed >= kill
    }
}

/// What one trial's kill hit.
#[derive(Debug, Clone, Copy, Default)]
pub struct KillEvidence {
    /// The process had not exited by itself when the signal was sent.
    pub running_at_kill: bool,
    /// It died of SIGKILL.
    pub died_of_sigkill: bool,
    /// Operations acknowledged in this trial before the kill.
    pub acked_before_kill: usize,
    /// Workers still writing at the kill: their last request failed after it was sent.
    pub writing_at_kill: usize,
    /// Of those, requests already sent when the kill was sent.
    pub in_flight_at_kill: usize,
}

impl KillEvidence {
    /// Evidence from the load generator's side: `acked` operations acknowledged in the trial
    /// and the failed request each worker ended on (`None`: the worker ended without one).
    pub fn new(
        running_at_kill: bool,
        status: ExitStatus,
        kill: Instant,
        acked: usize,
        failures: &[Option<FailedRequest>],
    ) -> Self {
        let count = |f: fn(&FailedRequest, Instant) -> bool| {
            failures.iter().flatten().filter(|r| f(r, kill)).count()
        };
        Self {
            running_at_kill,
            died_of_sigkill: died_of_sigkill(status),
            acked_before_kill: acked,
            writing_at_kill: count(FailedRequest::writing_at),
            in_flight_at_kill: count(FailedRequest::in_flight_at),
        }
    }

    /// The kill hit a running process that had done work and was doing more.
    pub fn landed_mid_run(&self) -> bool {
        self.running_at_kill
            && self.died_of_sigkill
            && self.acked_before_kill > 0
            && self.writing_at_kill > 0
    }
}

/// The kills of one crash test, over all its trials.
#[derive(Debug, Default, Clone)]
pub struct MidRunTally {
    /// Trials run.
    pub trials: usize,
    /// Trials whose kill landed mid-run.
    pub killed_mid_run: usize,
    /// Operations acknowledged before the kills, summed.
    pub acked_before_kill: usize,
    /// Workers still writing at the kills, summed.
    pub writing_at_kill: usize,
    /// Requests in flight at the kills, summed.
    pub in_flight_at_kill: usize,
}

impl MidRunTally {
    /// Counts one trial; returns whether its kill landed mid-run.
    pub fn record(&mut self, e: &KillEvidence) -> bool {
        self.trials += 1;
        self.acked_before_kill += e.acked_before_kill;
        self.writing_at_kill += e.writing_at_kill;
        self.in_flight_at_kill += e.in_flight_at_kill;
        let mid_run = e.landed_mid_run();
        self.killed_mid_run += usize::from(mid_run);
        mid_run
    }

    /// The tally as `FIGURES` fields.
    pub fn figures(&self) -> String {
        format!(
            "trials={} killed_mid_run={} acked_before_kill={} writing_at_kill={} in_flight_at_kill={}",
            self.trials,
            self.killed_mid_run,
            self.acked_before_kill,
            self.writing_at_kill,
            self.in_flight_at_kill
        )
    }
}

/// Whether `hits` of `trials` reach `min_percent` percent (and at least one trial ran).
pub fn enough(hits: usize, trials: usize, min_percent: usize) -> bool {
    trials > 0 && hits * 100 >= trials * min_percent
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enough_needs_the_share_and_a_trial() {
        assert!(!enough(0, 0, 80));
        assert!(enough(4, 5, 80));
        assert!(!enough(3, 5, 80));
        assert!(enough(40, 50, 80));
        assert!(!enough(39, 50, 80));
    }
}
