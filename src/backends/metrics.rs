//! Backend call metrics: [`Metered`], a [`SecretStore`] decorator that counts every call by
//! operation and outcome (`ok` or the [`Error`](super::Error) kind) and times it, into a
//! [`BackendCalls`] table of atomics (no lock, no allocation per call), and the table's lines in
//! the Prometheus text format.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use prom_text::{Counter, Exposition, Histogram, Kind};

use super::{Result, SecretStore, ERROR_KINDS};
use crate::domain::{Item, ListFilter, Rename, SecretKey, SecretValue};

/// The store operations counted, in [`BackendCalls`] index order (the `operation` label).
pub const OPERATIONS: [&str; 8] = [
    "get",
    "set",
    "delete",
    "list",
    "rename",
    "get_all",
    "get_many",
    "get_all_batched",
];

/// Outcomes per operation: `ok`, then one per [`ERROR_KINDS`].
const OUTCOMES: usize = ERROR_KINDS.len() + 1;

/// Counts and latencies of one backend's calls since the broker started.
#[derive(Debug)]
pub struct BackendCalls {
    backend: &'static str,
    calls: [[Counter; OUTCOMES]; OPERATIONS.len()],
    latency: [Histogram; OPERATIONS.len()],
}

impl BackendCalls {
    /// An empty table for the backend named `backend`.
    pub fn new(backend: &'static str) -> Self {
        Self {
            backend,
            calls: std::array::from_fn(|_| std::array::from_fn(|_| Counter::new())),
            latency: std::array::from_fn(|_| Histogram::new()),
        }
    }

    fn record<T>(&self, op: usize, started: Instant, result: &Result<T>) {
        let outcome = match result {
            Ok(_) => 0,
            Err(e) => 1 + e.kind_index(),
        };
        self.calls[op][outcome].inc();
        self.latency[op].observe(started.elapsed());
    }

    /// Calls of `operation` that ended with `outcome` (`ok` or an error kind) so far.
    pub fn calls(&self, operation: &str, outcome: &str) -> u64 {
        let op = OPERATIONS.iter().position(|o| *o == operation);
        let out = std::iter::once("ok")
            .chain(ERROR_KINDS)
            .position(|o| o == outcome);
        match (op, out) {
            (Some(op), Some(out)) => self.calls[op][out].get(),
            _ => 0,
        }
    }

    /// Writes `secrets_broker_backend_calls_total` and `secrets_broker_backend_call_duration_seconds`
    /// (only the operation/outcome pairs that happened, so a scrape stays short).
    pub fn write(&self, out: &mut Exposition) {
        out.family(
            "secrets_broker_backend_calls_total",
            "Calls made to the backend, by operation and outcome (ok or the error kind).",
            Kind::Counter,
        );
        for (op, row) in OPERATIONS.iter().zip(&self.calls) {
            for (outcome, counter) in std::iter::once("ok").chain(ERROR_KINDS).zip(row) {
                let n = counter.get();
                if n > 0 || outcome == "ok" {
                    out.sample(
                        "secrets_broker_backend_calls_total",
                        &[
                            ("backend", self.backend),
                            ("operation", op),
                            ("outcome", outcome),
                        ],
                        n,
                    );
                }
            }
        }
        out.family(
            "secrets_broker_backend_call_duration_seconds",
            "Time the backend took to answer, by operation.",
            Kind::Histogram,
        );
        for (op, histogram) in OPERATIONS.iter().zip(&self.latency) {
            out.histogram(
                "secrets_broker_backend_call_duration_seconds",
                &[("backend", self.backend), ("operation", op)],
                histogram,
            );
        }
    }
}

/// A store whose calls are counted in a [`BackendCalls`].
#[derive(Debug)]
pub struct Metered {
    inner: Arc<dyn SecretStore>,
    calls: Arc<BackendCalls>,
}

impl Metered {
    /// `inner`, counted in a new table (returned too, for the metrics endpoint).
    pub fn wrap(inner: Arc<dyn SecretStore>) -> (Arc<dyn SecretStore>, Arc<BackendCalls>) {
        let calls = Arc::new(BackendCalls::new(inner.name()));
        let store = Arc::new(Self {
            inner,
            calls: Arc::clone(&calls),
        });
        (store, calls)
    }

    async fn timed<T>(
        &self,
        op: usize,
        call: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        let started = Instant::now();
        let result = call.await;
        self.calls.record(op, started, &result);
        result
    }
}

#[async_trait]
impl SecretStore for Metered {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    async fn get(&self, key: &SecretKey) -> Result<Option<SecretValue>> {
        self.timed(0, self.inner.get(key)).await
    }

    async fn set(&self, key: &SecretKey, value: &SecretValue) -> Result<()> {
        self.timed(1, self.inner.set(key, value)).await
    }

    async fn delete(&self, key: &SecretKey) -> Result<()> {
        self.timed(2, self.inner.delete(key)).await
    }

    async fn list(&self, filter: &ListFilter) -> Result<Vec<SecretKey>> {
        self.timed(3, self.inner.list(filter)).await
    }

    async fn rename_key(&self, rename: &Rename) -> Result<()> {
        self.timed(4, self.inner.rename_key(rename)).await
    }

    async fn get_all(&self) -> Result<Vec<Item>> {
        self.timed(5, self.inner.get_all()).await
    }

    async fn get_many(&self, keys: &[SecretKey]) -> Result<Vec<Option<SecretValue>>> {
        self.timed(6, self.inner.get_many(keys)).await
    }

    async fn get_all_batched(&self, sink: tokio::sync::mpsc::Sender<Vec<Item>>) -> Result<()> {
        self.timed(7, self.inner.get_all_batched(sink)).await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::backends::memory::MemoryStore;

    #[tokio::test]
    async fn calls_are_counted_by_operation_and_outcome() {
        let (store, calls) = Metered::wrap(Arc::new(MemoryStore::new()));
        let key = SecretKey::new(1, "loki-ns-7".to_string(), "t".to_string()).unwrap();
        store.get(&key).await.unwrap();
        store
            .set(&key, &SecretValue::new("v".to_string()).unwrap())
            .await
            .unwrap();
        store.get(&key).await.unwrap();
        assert!(
            store.rename(&key, "").await.is_err(),
            "empty namespace is invalid"
        );
        assert_eq!(calls.calls("get", "ok"), 2);
        assert_eq!(calls.calls("set", "ok"), 1);
        assert_eq!(calls.calls("delete", "ok"), 0);
        let mut out = Exposition::new();
        calls.write(&mut out);
        let text = out.finish();
        assert!(
            text.contains("secrets_broker_backend_calls_total{backend=\"memory\",operation=\"get\",outcome=\"ok\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("secrets_broker_backend_call_duration_seconds_count{backend=\"memory\",operation=\"set\"} 1\n"),
            "{text}"
        );
        assert!(!text.contains("loki-ns-7"), "no key in the metrics: {text}");
    }
}
