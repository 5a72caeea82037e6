//! The migration engine: copies every secret from one [`SecretStore`] to another, concurrently
//! and paced to the destination, idempotently, resumably, verifying each copy by digest before
//! anything is deleted from the source; plus `verify` (drift between two stores) and the lease
//! that keeps two migrations off the same destination.
//!
//! # Layout
//! - [`engine`]: [`engine::migrate`], the whole run: guard → plan → copy → verify → delete → report.
//! - [`plan`]: what to copy and what to skip, by comparing digests of source and destination.
//! - [`pacing`]: the AIMD write pacer that adapts to throttling.
//! - [`checkpoint`]: what is done, written atomically, for resuming after a crash.
//! - [`guard`]: the lease marker stored in the destination (holder id + expiry, renewed, stealable).
//! - [`drift`]: missing / extra / different between two stores, and repairing them (`reconcile`).
//! - [`report`]: the final JSON report (counts and per-secret failures, never a value).
//! - [`metrics`]: the run's progress as Prometheus gauges (`migrate --metrics-listen`).
//! - [`progress`]: a progress bar on a terminal, plain lines otherwise.
//! - [`grafana`]: the `--from-grafana` / `--to-grafana` presets (Grafana's own database).
//!
//! The engine knows only the [`SecretStore`] trait, so it works between any two backends.

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::backends::{self, SecretStore};
use crate::domain::SecretKey;

pub mod checkpoint;
pub mod drift;
pub mod engine;
pub mod grafana;
pub mod guard;
pub mod metrics;
pub mod pacing;
pub mod plan;
pub mod progress;
pub mod report;

pub use engine::{migrate, Options};
pub use report::Report;

/// Why a migration (or a verify/reconcile) stopped as a whole. Per-secret failures do not stop a
/// migration: they are listed in the [`Report`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading the source failed.
    #[error("reading the source ({store}) failed: {source}")]
    Source {
        /// Backend name.
        store: &'static str,
        /// The backend's error.
        #[source]
        source: backends::Error,
    },
    /// Reading or writing the destination failed outside a per-secret step.
    #[error("the destination ({store}) failed: {source}")]
    Destination {
        /// Backend name.
        store: &'static str,
        /// The backend's error.
        #[source]
        source: backends::Error,
    },
    /// Another migration holds the destination's lease.
    #[error(
        "another migration (holder {holder}) holds the lease on the destination for {remaining_secs} more seconds; \
         wait for it to finish, or for the lease to expire if its process died"
    )]
    GuardHeld {
        /// The other holder's id.
        holder: String,
        /// Seconds until the lease expires unless renewed.
        remaining_secs: u64,
    },
    /// Our lease was taken over by another migration while we ran (we had stopped renewing it in
    /// time); we stopped writing.
    #[error("the destination's lease was taken over by {holder}; stopped writing")]
    GuardLost {
        /// The new holder.
        holder: String,
    },
    /// The checkpoint file could not be read, written, or belongs to another migration.
    #[error("checkpoint {path}: {message}")]
    Checkpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// Bad options.
    #[error("invalid option: {0}")]
    Options(String),
}

/// The reserved key of the migration lease. The engine, `verify` and `reconcile` never copy,
/// compare or delete it as a secret.
pub fn lease_key() -> SecretKey {
    // Valid by construction (org 0, non-empty parts without control characters).
    SecretKey::new(0, guard::LEASE_NAMESPACE, guard::LEASE_TYPE)
        .unwrap_or_else(|_| unreachable!("the reserved lease key is valid"))
}

pub use crate::backends::reconcile::is_reserved;

/// Wall-clock milliseconds since the Unix epoch, behind a trait so that lease expiry is tested on
/// a controllable clock.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Now, in milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }
}

/// A clock that moves only when told to (tests).
#[derive(Debug, Default)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    /// A clock reading `start_ms`.
    pub fn new(start_ms: u64) -> Self {
        Self(AtomicU64::new(start_ms))
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: std::time::Duration) {
        self.0.fetch_add(by.as_millis() as u64, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Short helper for error mapping at the source.
pub(crate) fn src_err(store: &dyn SecretStore) -> impl FnOnce(backends::Error) -> Error + '_ {
    move |source| Error::Source {
        store: store.name(),
        source,
    }
}

/// Short helper for error mapping at the destination.
pub(crate) fn dst_err(store: &dyn SecretStore) -> impl FnOnce(backends::Error) -> Error + '_ {
    move |source| Error::Destination {
        store: store.name(),
        source,
    }
}
