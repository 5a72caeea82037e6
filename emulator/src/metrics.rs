//! The emulator's Prometheus metrics (`GET /metrics` and `GET /_emulator/metrics`): API requests
//! per operation, their latency, error answers by operation and AWS error code, injected faults
//! by operation and kind, and the time requests waited for their write to be durable. Recording is
//! atomics only (no lock, no allocation per request); the text is built when scraped. Unlike
//! `/_emulator/stats` these counters are never reset (Prometheus expects counters to only grow).

use std::time::Duration;

use prom_text::{Counter, Exposition, Histogram, Kind};

use crate::ops::OPERATIONS;

/// Operations in label order: [`OPERATIONS`], then `unknown` (requests that named none).
const LABELS: usize = OPERATIONS.len() + 1;

/// The AWS error codes the emulator answers, in label order; anything else is counted as `other`.
pub const ERROR_CODES: [&str; 20] = [
    "AccessDeniedException",
    "IncompleteSignatureException",
    "InternalServiceError",
    "InvalidNextTokenException",
    "InvalidParameterException",
    "InvalidRequestException",
    "InvalidSignatureException",
    "LimitExceededException",
    "MalformedPolicyDocumentException",
    "MissingAuthenticationTokenException",
    "PublicPolicyException",
    "RequestEntityTooLargeException",
    "ResourceExistsException",
    "ResourceNotFoundException",
    "SerializationException",
    "ThrottlingException",
    "UnknownOperationException",
    "UnrecognizedClientException",
    "ValidationException",
    "other",
];

/// What a fault rule did to a request (the `kind` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// Answered `ThrottlingException`.
    Throttle,
    /// Answered another injected error.
    Error,
    /// Delayed the answer.
    Latency,
}

const FAULT_KINDS: [&str; 3] = ["throttle", "error", "latency"];

/// The emulator's counters since it started.
#[derive(Debug)]
pub struct EmulatorMetrics {
    requests: [Counter; LABELS],
    latency: [Histogram; LABELS],
    errors: [[Counter; ERROR_CODES.len()]; LABELS],
    faults: [[Counter; FAULT_KINDS.len()]; LABELS],
    durable_wait: Histogram,
}

impl Default for EmulatorMetrics {
    fn default() -> Self {
        Self::new()
    }
}

/// The label index of `op` (a name from [`OPERATIONS`]; `None` is `unknown`).
fn slot(op: Option<&str>) -> usize {
    op.and_then(|op| OPERATIONS.iter().position(|o| *o == op))
        .unwrap_or(OPERATIONS.len())
}

fn label(slot: usize) -> &'static str {
    OPERATIONS.get(slot).copied().unwrap_or("unknown")
}

impl EmulatorMetrics {
    /// All counters at zero.
    pub fn new() -> Self {
        Self {
            requests: std::array::from_fn(|_| Counter::new()),
            latency: std::array::from_fn(|_| Histogram::new()),
            errors: std::array::from_fn(|_| std::array::from_fn(|_| Counter::new())),
            faults: std::array::from_fn(|_| std::array::from_fn(|_| Counter::new())),
            durable_wait: Histogram::new(),
        }
    }

    /// Counts one answered API request of `op`, answered after `elapsed`, with the AWS error
    /// code `error` when it failed.
    pub fn request(&self, op: Option<&str>, elapsed: Duration, error: Option<&str>) {
        let s = slot(op);
        self.requests[s].inc();
        self.latency[s].observe(elapsed);
        if let Some(code) = error {
            let c = ERROR_CODES
                .iter()
                .position(|k| *k == code)
                .unwrap_or(ERROR_CODES.len() - 1);
            self.errors[s][c].inc();
        }
    }

    /// Counts a fault injected into a request of `op`.
    pub fn fault(&self, op: &str, kind: FaultKind) {
        let k = match kind {
            FaultKind::Throttle => 0,
            FaultKind::Error => 1,
            FaultKind::Latency => 2,
        };
        self.faults[slot(Some(op))][k].inc();
    }

    /// Records how long a request waited for its write to be durable.
    pub fn durable_wait(&self, waited: Duration) {
        self.durable_wait.observe(waited);
    }

    /// The metrics in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = Exposition::new();
        out.family(
            "secretsmanager_emulator_requests_total",
            "AWS API requests answered, by operation (unknown: the request named none).",
            Kind::Counter,
        );
        for (s, counter) in self.requests.iter().enumerate() {
            out.sample(
                "secretsmanager_emulator_requests_total",
                &[("operation", label(s))],
                counter.get(),
            );
        }
        out.family(
            "secretsmanager_emulator_request_errors_total",
            "AWS API requests answered with an error, by operation and AWS error code.",
            Kind::Counter,
        );
        for (s, row) in self.errors.iter().enumerate() {
            for (code, counter) in ERROR_CODES.iter().zip(row) {
                let n = counter.get();
                if n > 0 || (*code == "ThrottlingException" && s < OPERATIONS.len()) {
                    out.sample(
                        "secretsmanager_emulator_request_errors_total",
                        &[("operation", label(s)), ("code", code)],
                        n,
                    );
                }
            }
        }
        out.family(
            "secretsmanager_emulator_request_duration_seconds",
            "Time from an AWS API request's arrival to its answer, by operation.",
            Kind::Histogram,
        );
        for (s, histogram) in self.latency.iter().enumerate() {
            if histogram.count() > 0 {
                out.histogram(
                    "secretsmanager_emulator_request_duration_seconds",
                    &[("operation", label(s))],
                    histogram,
                );
            }
        }
        out.family(
            "secretsmanager_emulator_injected_faults_total",
            "Faults the fault rules injected, by operation and kind (throttle, error, latency).",
            Kind::Counter,
        );
        for (s, row) in self.faults.iter().enumerate() {
            for (kind, counter) in FAULT_KINDS.iter().zip(row) {
                let n = counter.get();
                if n > 0 {
                    out.sample(
                        "secretsmanager_emulator_injected_faults_total",
                        &[("operation", label(s)), ("kind", kind)],
                        n,
                    );
                }
            }
        }
        out.family(
            "secretsmanager_emulator_durable_sync_duration_seconds",
            "Time a write request waited for its change to be durable (fsync, group commit).",
            Kind::Histogram,
        );
        out.histogram(
            "secretsmanager_emulator_durable_sync_duration_seconds",
            &[],
            &self.durable_wait,
        );
        out.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_errors_faults_and_syncs_are_counted() {
        let m = EmulatorMetrics::new();
        m.request(Some("GetSecretValue"), Duration::from_millis(2), None);
        m.request(
            Some("GetSecretValue"),
            Duration::from_millis(1),
            Some("ResourceNotFoundException"),
        );
        m.request(None, Duration::from_millis(1), Some("SomethingNew"));
        m.fault("CreateSecret", FaultKind::Throttle);
        m.durable_wait(Duration::from_micros(700));
        let text = m.render();
        for line in [
            "secretsmanager_emulator_requests_total{operation=\"GetSecretValue\"} 2\n",
            "secretsmanager_emulator_requests_total{operation=\"unknown\"} 1\n",
            "secretsmanager_emulator_request_errors_total{operation=\"GetSecretValue\",code=\"ResourceNotFoundException\"} 1\n",
            "secretsmanager_emulator_request_errors_total{operation=\"unknown\",code=\"other\"} 1\n",
            "secretsmanager_emulator_request_duration_seconds_count{operation=\"GetSecretValue\"} 2\n",
            "secretsmanager_emulator_injected_faults_total{operation=\"CreateSecret\",kind=\"throttle\"} 1\n",
            "secretsmanager_emulator_durable_sync_duration_seconds_bucket{le=\"0.001\"} 1\n",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
    }
}
