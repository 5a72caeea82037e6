//! Latency recording and the one-JSON-line result every benchmark binary prints.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// Latencies (microseconds) and error counts gathered by one worker; merged at the end.
#[derive(Debug, Default, Clone)]
pub struct Recorder {
    /// One entry per successful request, in microseconds.
    pub latencies_us: Vec<u32>,
    /// Failed requests by kind (e.g. `http400:ResourceNotFoundException`, `io`).
    pub errors: BTreeMap<String, u64>,
}

impl Recorder {
    /// Records a successful request.
    pub fn ok(&mut self, elapsed: Duration) {
        self.latencies_us
            .push(u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX));
    }

    /// Records a failed request of the given kind.
    pub fn error(&mut self, kind: impl Into<String>) {
        *self.errors.entry(kind.into()).or_insert(0) += 1;
    }

    /// Adds another worker's records to this one.
    pub fn merge(&mut self, other: Recorder) {
        self.latencies_us.extend(other.latencies_us);
        for (k, v) in other.errors {
            *self.errors.entry(k).or_insert(0) += v;
        }
    }

    /// Total failed requests.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Summarises the records of a run that lasted `elapsed`.
    pub fn summary(
        mut self,
        target: &str,
        workload: &str,
        concurrency: usize,
        elapsed: Duration,
    ) -> RunResult {
        self.latencies_us.sort_unstable();
        let ok = self.latencies_us.len() as u64;
        let errors = self.error_count();
        let seconds = elapsed.as_secs_f64();
        RunResult {
            target: target.to_owned(),
            workload: workload.to_owned(),
            concurrency,
            requests: ok + errors,
            ok,
            seconds,
            rps: if seconds > 0.0 {
                ok as f64 / seconds
            } else {
                0.0
            },
            p50_ms: percentile_ms(&self.latencies_us, 0.50),
            p99_ms: percentile_ms(&self.latencies_us, 0.99),
            max_ms: self
                .latencies_us
                .last()
                .map_or(0.0, |v| f64::from(*v) / 1000.0),
            errors: self.errors,
            extra: BTreeMap::new(),
        }
    }
}

/// Nearest-rank percentile of sorted microsecond samples, in milliseconds (0 when empty).
pub fn percentile_ms(sorted_us: &[u32], q: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted_us.len() as f64).ceil() as usize;
    let idx = rank.clamp(1, sorted_us.len()) - 1;
    f64::from(sorted_us[idx]) / 1000.0
}

/// One measured run: what every benchmark binary prints as a single JSON line.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunResult {
    /// What was measured (server label such as `emulator-durable`, `moto`, `plugin-local`).
    pub target: String,
    /// Workload name (`seed`, `read`, `write`, `mixed`, `create`, `migrate`, `set_seq`, ...).
    pub workload: String,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Requests sent (successes plus failures).
    pub requests: u64,
    /// Successful requests.
    pub ok: u64,
    /// Wall-clock duration of the measured phase.
    pub seconds: f64,
    /// Successful requests per second.
    pub rps: f64,
    /// Median latency of successful requests, milliseconds.
    pub p50_ms: f64,
    /// 99th percentile latency of successful requests, milliseconds.
    pub p99_ms: f64,
    /// Slowest successful request, milliseconds.
    pub max_ms: f64,
    /// Failures by kind.
    pub errors: BTreeMap<String, u64>,
    /// Additional figures (e.g. `peak_rss_kib`, `items`), when a binary has them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, f64>,
}

impl RunResult {
    /// A run of 10 requests in one second with these figures (p50 half the p99): the report's
    /// tests build their inputs with it.
    #[cfg(test)]
    pub(crate) fn sample(target: &str, workload: &str, c: usize, rps: f64, p99: f64) -> Self {
        RunResult {
            target: target.into(),
            workload: workload.into(),
            concurrency: c,
            requests: 10,
            ok: 10,
            seconds: 1.0,
            rps,
            p50_ms: p99 / 2.0,
            p99_ms: p99,
            max_ms: p99,
            errors: BTreeMap::new(),
            extra: BTreeMap::new(),
        }
    }

    /// The result as one JSON line.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let v: Vec<u32> = (1..=100).map(|i| i * 1000).collect();
        assert_eq!(percentile_ms(&v, 0.50), 50.0);
        assert_eq!(percentile_ms(&v, 0.99), 99.0);
        assert_eq!(percentile_ms(&v, 1.0), 100.0);
        assert_eq!(percentile_ms(&[], 0.5), 0.0);
        assert_eq!(percentile_ms(&[7000], 0.99), 7.0);
    }

    #[test]
    fn summary_counts_errors_and_rate() {
        let mut a = Recorder::default();
        a.ok(Duration::from_millis(2));
        a.error("io");
        let mut b = Recorder::default();
        b.ok(Duration::from_millis(4));
        b.error("io");
        b.error("http500");
        a.merge(b);
        let r = a.summary("t", "read", 2, Duration::from_secs(2));
        assert_eq!((r.requests, r.ok), (5, 2));
        assert_eq!(r.rps, 1.0);
        assert_eq!(r.errors["io"], 2);
        assert_eq!(r.max_ms, 4.0);
        let back: RunResult = serde_json::from_str(&r.to_line()).expect("round trip");
        assert_eq!(back, r);
    }
}
