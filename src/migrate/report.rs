//! The final report of a migration, printed as JSON: counts, rate and per-secret failures with
//! their reasons. It holds keys and counts only, never a value.

use serde::Serialize;

use super::checkpoint::KeyRecord;

/// At which step a secret failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Writing it to the destination.
    Copy,
    /// Reading it back and comparing digests.
    Verify,
    /// Deleting it from the source.
    DeleteSource,
}

/// One secret that could not be migrated.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    /// The key.
    pub key: KeyRecord,
    /// The step.
    pub stage: Stage,
    /// The error text (backend errors never contain values).
    pub reason: String,
}

/// The outcome of one migration run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// Description of the source.
    pub source: String,
    /// Description of the destination.
    pub destination: String,
    /// Whether this was a dry run (nothing written).
    pub dry_run: bool,
    /// Secrets in the source (reserved keys excluded).
    pub total: usize,
    /// Secrets written to the destination in this run.
    pub copied: usize,
    /// Secrets already identical in the destination (same digest), not written.
    pub skipped: usize,
    /// Of those skipped, how many a previous run had recorded in the checkpoint.
    pub resumed: usize,
    /// Secrets that failed (see `failures`).
    pub failed: usize,
    /// Destination values confirmed equal to the source by SHA-256 digest: every copy read back,
    /// plus every skipped secret (compared when planning).
    pub verified: usize,
    /// Secrets deleted from the source (`--delete-source` only; only verified ones).
    pub deleted: usize,
    /// Keys present only in the destination (left alone).
    pub extra_in_destination: usize,
    /// Throttling or transient answers absorbed by retrying.
    pub retries: u64,
    /// Write rate at the end, in writes/s (`null` when never paced).
    pub final_write_rate: Option<f64>,
    /// Wall time in seconds.
    pub elapsed_secs: f64,
    /// Secrets copied per second of wall time.
    pub copied_per_sec: f64,
    /// Per-secret failures.
    pub failures: Vec<Failure>,
    /// The plan, one entry per key (`--dry-run` only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub plan: Vec<PlannedStep>,
}

/// One planned action (`--dry-run`).
#[derive(Debug, Clone, Serialize)]
pub struct PlannedStep {
    /// The key.
    pub key: KeyRecord,
    /// `copy_new`, `copy_changed`, `skip_unchanged` or `leave_only_in_destination`.
    pub action: &'static str,
}

impl Report {
    /// The report as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}
