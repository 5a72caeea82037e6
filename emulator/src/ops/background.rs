//! The runner of background work beside the operations (the purge sweep, scheduled rotations):
//! a task that calls its job at a fixed interval.

use std::future::Future;
use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::Shared;

/// Calls `job` every `every` until `stop` turns true or the emulator is gone. It holds only a
/// weak reference, so it never keeps the store (and its file lock) alive after shutdown.
pub async fn periodic<F, Fut>(
    shared: Weak<Shared>,
    mut stop: tokio::sync::watch::Receiver<bool>,
    every: Duration,
    mut job: F,
) where
    F: FnMut(Arc<Shared>) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = interval.tick() => {
                let Some(shared) = shared.upgrade() else { break };
                job(shared).await;
            }
        }
    }
}
