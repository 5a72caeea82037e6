//! Proof that a crash test's `kill -9` landed while work was in flight: per-trial evidence (the
//! process was still running when the signal was sent and died of it, work was acknowledged
//! before it, and the load's writers were still writing: their last request failed only after
//! it) and the `killed_mid_run` tally that every
//! crash test prints in its `FIGURES` line and asserts on.
#![allow(dead_code)]

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::Instant;

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
