//! Migration progress as Prometheus gauges: secrets planned for copying, skipped (already in the
//! destination), verified and failed, and the retries of transient errors, updated by the engine
//! with atomics and written by [`MigrationMetrics::render`] (served by `migrate --metrics-listen`).

use prom_text::{Counter, Exposition, Kind};

/// Counts of one migration run.
#[derive(Debug, Default)]
pub struct MigrationMetrics {
    planned: Counter,
    skipped: Counter,
    verified: Counter,
    failed: Counter,
    retries: Counter,
}

impl MigrationMetrics {
    /// All counts at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// One more secret to copy.
    pub fn planned(&self) {
        self.planned.inc();
    }

    /// One secret already in the destination.
    pub fn skipped(&self) {
        self.skipped.inc();
    }

    /// One copy read back and verified.
    pub fn verified(&self) {
        self.verified.inc();
    }

    /// One secret that could not be copied.
    pub fn failed(&self) {
        self.failed.inc();
    }

    /// One retry of a transient error.
    pub fn retried(&self) {
        self.retries.inc();
    }

    /// `(planned, skipped, verified, failed)` so far.
    pub fn counts(&self) -> (u64, u64, u64, u64) {
        (
            self.planned.get(),
            self.skipped.get(),
            self.verified.get(),
            self.failed.get(),
        )
    }

    /// The counts in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = Exposition::new();
        out.family(
            "secrets_broker_migration_secrets",
            "Secrets of the running migration by state: planned (to copy), skipped (already in the destination), verified (copied and read back), failed.",
            Kind::Gauge,
        );
        let (planned, skipped, verified, failed) = self.counts();
        for (state, n) in [
            ("planned", planned),
            ("skipped", skipped),
            ("verified", verified),
            ("failed", failed),
        ] {
            out.sample("secrets_broker_migration_secrets", &[("state", state)], n);
        }
        out.family(
            "secrets_broker_migration_retries_total",
            "Retries of transient backend errors during the migration.",
            Kind::Counter,
        );
        out.sample(
            "secrets_broker_migration_retries_total",
            &[],
            self.retries.get(),
        );
        out.finish()
    }
}
