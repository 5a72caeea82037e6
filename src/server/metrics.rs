//! The broker's metrics: [`RpcMetrics`] (per RPC: calls by outcome, failures by error kind,
//! latency), the [`Registry`] that writes them with the backend's, the read cache's and the AWS
//! SDK's counters in the Prometheus text format, and its two ways out: the
//! `pluginv2.Diagnostics` service Grafana calls for `/metrics/plugins/<id>` ([`Diagnostics`]), and
//! a plain HTTP listener answering `GET /metrics` ([`serve_http`]).
//!
//! Recording is atomics only (no lock, no allocation per call); the text is built when scraped.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use prom_text::{Counter, Exposition, Histogram, Kind};
use tokio::net::TcpListener;

use super::errors::Operation;
use super::proto::diagnostics as pb;
use crate::backends::cache::ReadCache;
use crate::backends::metrics::BackendCalls;
use crate::backends::{aws, ERROR_KINDS};

/// The RPCs counted, in [`RpcMetrics`] index order.
const RPCS: [Operation; 6] = [
    Operation::Get,
    Operation::Set,
    Operation::Delete,
    Operation::List,
    Operation::Rename,
    Operation::GetAll,
];

/// The `outcome` label values of `secrets_broker_rpc_requests_total`, in [`RpcOutcome`] order.
const OUTCOMES: [&str; 4] = ["ok", "rejected", "error", "audit_failed"];

/// How one RPC ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RpcOutcome {
    /// Answered.
    Ok,
    /// The request was invalid (bad key or value); the store was not called.
    Rejected,
    /// The store call failed with the error kind at this index of [`ERROR_KINDS`].
    Failed(usize),
    /// The audit line could not be written, so the call was reported as failed.
    AuditFailed,
}

fn rpc_index(op: Operation) -> usize {
    RPCS.iter().position(|o| *o == op).unwrap_or(0)
}

/// Calls, failures by kind and latency of each RPC since the server started.
#[derive(Debug)]
pub struct RpcMetrics {
    calls: [[Counter; OUTCOMES.len()]; RPCS.len()],
    errors: [[Counter; ERROR_KINDS.len()]; RPCS.len()],
    latency: [Histogram; RPCS.len()],
}

impl Default for RpcMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl RpcMetrics {
    /// An empty table.
    pub fn new() -> Self {
        Self {
            calls: std::array::from_fn(|_| std::array::from_fn(|_| Counter::new())),
            errors: std::array::from_fn(|_| std::array::from_fn(|_| Counter::new())),
            latency: std::array::from_fn(|_| Histogram::new()),
        }
    }

    /// Counts one call of `op` that ended with `outcome` after `elapsed`.
    pub fn record(&self, op: Operation, outcome: RpcOutcome, elapsed: Duration) {
        let rpc = rpc_index(op);
        let slot = match outcome {
            RpcOutcome::Ok => 0,
            RpcOutcome::Rejected => 1,
            RpcOutcome::Failed(kind) => {
                if let Some(counter) = self.errors[rpc].get(kind) {
                    counter.inc();
                }
                2
            }
            RpcOutcome::AuditFailed => 3,
        };
        self.calls[rpc][slot].inc();
        self.latency[rpc].observe(elapsed);
    }

    /// Calls of `op` that ended with `outcome` (`ok`, `rejected`, `error`, `audit_failed`).
    pub fn calls(&self, op: Operation, outcome: &str) -> u64 {
        OUTCOMES
            .iter()
            .position(|o| *o == outcome)
            .map_or(0, |slot| self.calls[rpc_index(op)][slot].get())
    }

    fn write(&self, out: &mut Exposition) {
        counter_grid(
            out,
            "secrets_broker_rpc_requests_total",
            "Plugin API calls answered, by RPC and outcome (ok, rejected: invalid request, error: the backend failed, audit_failed: the audit line could not be written).",
            ("outcome", &OUTCOMES),
            &self.calls,
            |_| true,
        );
        counter_grid(
            out,
            "secrets_broker_rpc_errors_total",
            "Plugin API calls whose backend call failed, by RPC and error kind.",
            ("kind", &ERROR_KINDS),
            &self.errors,
            |kind| kind == "unavailable",
        );
        out.family(
            "secrets_broker_rpc_duration_seconds",
            "Time from a plugin API request's arrival to its answer (audit line included), by RPC.",
            Kind::Histogram,
        );
        for (op, histogram) in RPCS.iter().zip(&self.latency) {
            out.histogram(
                "secrets_broker_rpc_duration_seconds",
                &[("rpc", op.rpc())],
                histogram,
            );
        }
    }
}

/// One counter family over every RPC and each value of a second label (`table[rpc][value]`); a
/// sample is written when its count is above zero or `always(value)` (so that the family's
/// common series exist from the start).
fn counter_grid<const N: usize>(
    out: &mut Exposition,
    name: &str,
    help: &str,
    (label, values): (&str, &[&str; N]),
    table: &[[Counter; N]],
    always: impl Fn(&str) -> bool,
) {
    out.family(name, help, Kind::Counter);
    for (op, row) in RPCS.iter().zip(table) {
        for (value, counter) in values.iter().zip(row) {
            let n = counter.get();
            if n > 0 || always(value) {
                out.sample(name, &[("rpc", op.rpc()), (label, value)], n);
            }
        }
    }
}

/// Everything one broker process exports.
#[derive(Debug)]
pub struct Registry {
    rpc: Arc<RpcMetrics>,
    backend: Option<Arc<BackendCalls>>,
    cache: Option<Arc<ReadCache>>,
    aws: bool,
    started: Instant,
}

impl Registry {
    /// A registry of `rpc`'s counters, with the backend's calls and read cache when given, and
    /// the AWS SDK's attempts when `aws` (the backend or a mirror side is `aws`).
    pub fn new(
        rpc: Arc<RpcMetrics>,
        backend: Option<Arc<BackendCalls>>,
        cache: Option<Arc<ReadCache>>,
        aws: bool,
    ) -> Self {
        Self {
            rpc,
            backend,
            cache,
            aws,
            started: Instant::now(),
        }
    }

    /// The metrics in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = Exposition::new();
        out.family(
            "secrets_broker_uptime_seconds",
            "Seconds since the broker started serving.",
            Kind::Gauge,
        );
        out.sample_f64(
            "secrets_broker_uptime_seconds",
            &[],
            self.started.elapsed().as_secs_f64(),
        );
        self.rpc.write(&mut out);
        if let Some(backend) = &self.backend {
            backend.write(&mut out);
        }
        if let Some(cache) = &self.cache {
            write_cache(&mut out, cache);
        }
        if self.aws {
            aws::attempts::write(&mut out);
        }
        out.finish()
    }
}

fn write_cache(out: &mut Exposition, cache: &ReadCache) {
    let s = cache.stats();
    let counters = [
        (
            "secrets_broker_cache_hits_total",
            "GetSecret calls answered from a fresh cache entry.",
            s.hits,
        ),
        (
            "secrets_broker_cache_misses_total",
            "GetSecret calls that found no fresh cache entry.",
            s.misses,
        ),
        (
            "secrets_broker_cache_joined_total",
            "Cache misses that joined a backend read already in flight.",
            s.joined,
        ),
        (
            "secrets_broker_cache_backend_reads_total",
            "Backend reads the cache made.",
            s.backend_reads,
        ),
        (
            "secrets_broker_cache_stale_answers_total",
            "Expired entries answered because their refresh failed (within cache_max_stale).",
            s.stale_answers,
        ),
        (
            "secrets_broker_cache_evictions_total",
            "Entries evicted to stay within cache_max_bytes.",
            s.evictions,
        ),
    ];
    for (name, help, value) in counters {
        out.family(name, help, Kind::Counter);
        out.sample(name, &[], value);
    }
    out.family(
        "secrets_broker_cache_entries",
        "Entries held in the read cache.",
        Kind::Gauge,
    );
    out.sample("secrets_broker_cache_entries", &[], s.entries);
    out.family(
        "secrets_broker_cache_bytes",
        "Bytes held in the read cache, as counted against cache_max_bytes.",
        Kind::Gauge,
    );
    out.sample("secrets_broker_cache_bytes", &[], s.bytes);
}

/// `pluginv2.Diagnostics`: Grafana's `CollectMetrics` (what it serves at `/metrics/plugins/<id>`)
/// and `CheckHealth`.
#[derive(Debug)]
pub struct Diagnostics {
    registry: Arc<Registry>,
}

impl Diagnostics {
    /// The service over `registry`.
    pub fn new(registry: Arc<Registry>) -> Self {
        Self { registry }
    }
}

#[tonic::async_trait]
impl pb::diagnostics_server::Diagnostics for Diagnostics {
    async fn check_health(
        &self,
        _request: tonic::Request<pb::CheckHealthRequest>,
    ) -> Result<tonic::Response<pb::CheckHealthResponse>, tonic::Status> {
        Ok(tonic::Response::new(pb::CheckHealthResponse {
            status: pb::check_health_response::HealthStatus::Ok as i32,
            message: "secrets broker serving".to_string(),
            json_details: Vec::new(),
        }))
    }

    async fn collect_metrics(
        &self,
        _request: tonic::Request<pb::CollectMetricsRequest>,
    ) -> Result<tonic::Response<pb::CollectMetricsResponse>, tonic::Status> {
        Ok(tonic::Response::new(pb::CollectMetricsResponse {
            metrics: Some(pb::collect_metrics_response::Payload {
                prometheus: self.registry.render().into_bytes(),
            }),
        }))
    }
}

/// The metrics listener could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MetricsListenError {
    /// The address is not a loopback one and remote scraping was not allowed.
    #[error("refusing to serve metrics on non-loopback address {0}; allow it explicitly (metrics_listen_allow_remote / --metrics-allow-remote)")]
    NotLoopback(std::net::SocketAddr),
    /// Binding failed.
    #[error("cannot listen for metrics on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// Binds the metrics listener on `addr` (loopback only unless `allow_remote`).
pub async fn bind(
    addr: std::net::SocketAddr,
    allow_remote: bool,
) -> Result<TcpListener, MetricsListenError> {
    if !addr.ip().is_loopback() && !allow_remote {
        return Err(MetricsListenError::NotLoopback(addr));
    }
    TcpListener::bind(addr)
        .await
        .map_err(|source| MetricsListenError::Bind { addr, source })
}

/// Answers `GET /metrics` on `listener` with `render()`'s text (404 for other paths, 405 for
/// other methods) until the task is dropped. No authentication: the text holds counts and the
/// names of RPCs, backends, operations and error kinds, never a key or a value.
pub async fn serve_http(listener: TcpListener, render: Arc<dyn Fn() -> String + Send + Sync>) {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "metrics listener: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let render = Arc::clone(&render);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                let render = Arc::clone(&render);
                async move { Ok::<_, Infallible>(answer(&request, render.as_ref())) }
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, service)
                .await;
        });
    }
}

fn answer(
    request: &Request<Incoming>,
    render: &(dyn Fn() -> String + Send + Sync),
) -> Response<Full<Bytes>> {
    let (status, content_type, body) = if request.uri().path() != "/metrics" {
        (
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found: the metrics are at /metrics\n".to_string(),
        )
    } else if request.method() != Method::GET && request.method() != Method::HEAD {
        (
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "use GET\n".to_string(),
        )
    } else {
        (StatusCode::OK, prom_text::CONTENT_TYPE, render())
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(value) = hyper::header::HeaderValue::from_str(content_type) {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, value);
    }
    response
}
