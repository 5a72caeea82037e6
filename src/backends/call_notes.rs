//! What a decorator learned about the store call in progress (whether the read cache answered
//! it), handed to the server for its audit line without changing the [`super::SecretStore`]
//! trait: a task-local slot that [`observe`] opens around one call and decorators fill.

use std::cell::Cell;
use std::future::Future;

/// How the read cache took part in a GetSecret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Answered from the cache.
    Hit,
    /// Read from the backend (alone or sharing another caller's read).
    Miss,
    /// The backend failed transiently and an expired value was answered (`cache_max_stale`).
    Stale,
}

impl CacheOutcome {
    /// The audit log's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheOutcome::Hit => "hit",
            CacheOutcome::Miss => "miss",
            CacheOutcome::Stale => "stale",
        }
    }
}

tokio::task_local! {
    static CACHE: Cell<Option<CacheOutcome>>;
}

/// Records the cache's part in the current call (nothing when no [`observe`] is open).
pub fn note_cache(outcome: CacheOutcome) {
    let _ = CACHE.try_with(|slot| slot.set(Some(outcome)));
}

/// Runs `call` and returns its output with what decorators noted about it.
pub async fn observe<F: Future>(call: F) -> (F::Output, Option<CacheOutcome>) {
    CACHE
        .scope(Cell::new(None), async {
            let output = call.await;
            (output, CACHE.with(Cell::get))
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_note_reaches_only_its_own_call() {
        let (_, none) = observe(async {}).await;
        assert_eq!(none, None);
        let (_, hit) = observe(async { note_cache(CacheOutcome::Hit) }).await;
        assert_eq!(hit, Some(CacheOutcome::Hit));
        // Outside any call a note goes nowhere (and does not panic).
        note_cache(CacheOutcome::Miss);
    }
}
