//! The purge sweep: background work that removes secrets whose recovery window has ended on the
//! emulator clock (lookups already treat them as gone; the sweep reclaims their space).

use std::sync::Weak;
use std::time::Duration;

use crate::clock::Clock as _;
use crate::ops::background::periodic;
use crate::Shared;

/// Removes the secrets whose recovery window has ended (memory and store). Until the clock
/// reaches the earliest pending end of a recovery window, this costs nothing.
pub fn purge_expired(shared: &Shared) {
    let now = shared.clock.now();
    if !shared.state.purge_due(now) {
        return;
    }
    let mut purged = 0usize;
    {
        let mut t = shared.state.begin();
        let mut w = t.writer();
        let mut next = f64::INFINITY;
        let mut expired = Vec::new();
        for (account, regions) in w.iter() {
            for (region, secrets) in regions {
                for s in secrets.values() {
                    match s.purge_at {
                        Some(at) if at <= now => {
                            expired.push((account.clone(), region.clone(), s.name.clone()))
                        }
                        Some(at) => next = next.min(at),
                        None => {}
                    }
                }
            }
        }
        for (account, region, name) in &expired {
            if w.region(account, region).remove(name).is_some() {
                purged += 1;
            }
        }
        shared.state.set_next_purge(next);
        if purged > 0 {
            if let Err(e) = shared.store.commit(t.finish(None)) {
                tracing::warn!(error = %e, "purging expired secrets failed");
            }
        }
    }
    if purged > 0 {
        tracing::info!(purged, "secrets past their recovery window removed");
    }
}

/// Background task: runs the purge sweep every `every` until `stop` turns true or the emulator is
/// gone (see [`periodic`]).
pub async fn sweeper(
    shared: Weak<Shared>,
    stop: tokio::sync::watch::Receiver<bool>,
    every: Duration,
) {
    periodic(shared, stop, every, |shared| async move {
        purge_expired(&shared)
    })
    .await;
}
