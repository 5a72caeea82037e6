//! The migration guard: a lease stored in the destination itself, through the [`SecretStore`]
//! trait, so it works on every backend (a row in Grafana's `secrets` table, a secret in AWS, a
//! sled key) and is seen by every process that migrates into the same destination.
//!
//! - The lease is the reserved key ([`super::lease_key`]: org 0, namespace
//!   [`LEASE_NAMESPACE`], type [`LEASE_TYPE`]) holding JSON `{holder, expires_at_ms, pid, host}`
//!   (no secret).
//! - Acquire: read it; if it is absent, expired, unreadable, or ours, write ours with
//!   `expires_at = now + ttl`, then read it back: if another holder's id is there, we lost a
//!   race and back off. If an unexpired lease of another holder is there: [`Error::GuardHeld`].
//! - Renew: while the migration runs, [`Lease::renew`] every `ttl / 3` re-reads the lease and
//!   rewrites it with a new expiry; if another holder took it (ours had expired), the engine stops
//!   writing ([`Error::GuardLost`]).
//! - Release: at the end the lease is deleted if it is still ours. A holder killed with `kill -9`
//!   never releases: its lease expires `ttl` after its last renewal and the next migration
//!   steals it. So the guard never stays stuck for longer than one `ttl`.
//!
//! Limit: the trait has no compare-and-swap, so two processes that read an expired lease in the
//! same instant both write; the read-back makes the later writer win and the earlier one see the
//! other's id on its next renewal (at most `ttl / 3` later) and stop.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{dst_err, lease_key, Clock, Error};

/// Attempts per lease call on transient errors (throttling must not strand the lease).
const ATTEMPTS: u32 = 8;
use crate::backends::reconcile::with_retries;
use crate::backends::SecretStore;
use crate::domain::SecretValue;

pub use crate::backends::reconcile::{LEASE_NAMESPACE, LEASE_TYPE};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct LeaseRecord {
    holder: String,
    expires_at_ms: u64,
    #[serde(default)]
    pid: u32,
    #[serde(default)]
    host: String,
}

/// A held lease on one destination.
#[derive(Debug)]
pub struct Lease {
    store: Arc<dyn SecretStore>,
    clock: Arc<dyn Clock>,
    holder: String,
    ttl: Duration,
}

impl Lease {
    /// Takes the destination's lease for `ttl`, or fails with [`Error::GuardHeld`].
    pub async fn acquire(
        store: Arc<dyn SecretStore>,
        clock: Arc<dyn Clock>,
        ttl: Duration,
    ) -> Result<Self, Error> {
        let lease = Self {
            store,
            clock,
            holder: uuid::Uuid::new_v4().to_string(),
            ttl,
        };
        if let Some(other) = lease.read().await? {
            let now = lease.clock.now_ms();
            if other.holder != lease.holder && other.expires_at_ms > now {
                return Err(Error::GuardHeld {
                    remaining_secs: (other.expires_at_ms - now).div_ceil(1000),
                    holder: other.holder,
                });
            }
            if other.holder != lease.holder {
                tracing::warn!(
                    previous_holder = %other.holder,
                    "taking over an expired migration lease (its holder stopped renewing it)"
                );
            }
        }
        lease.write().await?;
        lease.check_ours().await?;
        Ok(lease)
    }

    /// Our holder id.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// The lease's time to live.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Extends the lease; fails with [`Error::GuardLost`] if another holder took it.
    pub async fn renew(&self) -> Result<(), Error> {
        self.check_ours().await?;
        self.write().await
    }

    /// Deletes the lease if it is still ours.
    pub async fn release(&self) -> Result<(), Error> {
        match self.read().await? {
            Some(r) if r.holder == self.holder => {
                let key = lease_key();
                with_retries(ATTEMPTS, || self.store.delete(&key))
                    .await
                    .map_err(dst_err(self.store.as_ref()))
            }
            _ => Ok(()),
        }
    }

    async fn check_ours(&self) -> Result<(), Error> {
        match self.read().await? {
            Some(r) if r.holder != self.holder => Err(Error::GuardLost { holder: r.holder }),
            _ => Ok(()),
        }
    }

    async fn read(&self) -> Result<Option<LeaseRecord>, Error> {
        let key = lease_key();
        let v = with_retries(ATTEMPTS, || self.store.get(&key))
            .await
            .map_err(dst_err(self.store.as_ref()))?;
        Ok(v.and_then(|v| match serde_json::from_str(v.expose()) {
            Ok(r) => Some(r),
            Err(_) => {
                tracing::warn!("the migration lease marker is unreadable; treating it as expired");
                None
            }
        }))
    }

    async fn write(&self) -> Result<(), Error> {
        let rec = LeaseRecord {
            holder: self.holder.clone(),
            expires_at_ms: self.clock.now_ms() + self.ttl.as_millis() as u64,
            pid: std::process::id(),
            host: host_name(),
        };
        let json = serde_json::to_string(&rec).map_err(|e| Error::Options(e.to_string()))?;
        let value = SecretValue::new(json).map_err(|e| Error::Options(e.to_string()))?;
        let key = lease_key();
        with_retries(ATTEMPTS, || self.store.set(&key, &value))
            .await
            .map_err(dst_err(self.store.as_ref()))
    }
}

/// This machine's host name as the kernel reports it (for the lease record; empty where unknown).
#[cfg(unix)]
fn host_name() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}

/// This machine's host name (for the lease record; empty where unknown).
#[cfg(not(unix))]
fn host_name() -> String {
    String::new()
}
