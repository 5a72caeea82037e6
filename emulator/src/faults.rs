//! Fault injection and call accounting: per-operation (or operation-group) token-bucket rate
//! limits answering ThrottlingException like AWS request quotas, random InternalServiceError (500)
//! and ServiceUnavailable (503) rates, added latency, and per-operation call counts for tests.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// One random fault of a rule: its probability, the counter it adds to, and the error it answers.
type Chance<'a> = (Option<f64>, &'a AtomicU64, fn() -> ApiError);

/// One fault rule. It applies to the listed operations (empty = every operation); the listed
/// operations share one rate-limit bucket, like AWS's combined request quotas.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "snake_case", deny_unknown_fields)]
pub struct FaultRule {
    /// Operation names (e.g. `GetSecretValue`); empty means all operations.
    pub operations: Vec<String>,
    /// Sustained requests per second allowed; beyond it ThrottlingException.
    pub rate_limit: Option<f64>,
    /// Bucket size (default: `rate_limit`, at least 1).
    pub burst: Option<f64>,
    /// Probability (0..=1) of answering ThrottlingException regardless of load: a fixed share
    /// of throttled calls, independent of how fast the machine is (unlike `rate_limit`).
    pub throttle_rate: Option<f64>,
    /// Probability (0..=1) of answering InternalServiceError (500).
    pub error_rate: Option<f64>,
    /// Probability (0..=1) of answering ServiceUnavailable (503).
    pub unavailable_rate: Option<f64>,
    /// Latency added before answering, in milliseconds.
    pub latency_ms: Option<u64>,
}

/// All fault settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "snake_case", deny_unknown_fields)]
pub struct FaultSettings {
    /// Seed for the random error decisions (deterministic runs); None = from entropy.
    pub seed: Option<u64>,
    /// Rules, all applied.
    pub rules: Vec<FaultRule>,
}

impl FaultRule {
    /// A rule limiting `operations` (sharing one bucket; empty: every operation) to `rate`
    /// requests per second.
    pub fn limiting(operations: &[&str], rate: f64) -> FaultRule {
        FaultRule {
            operations: operations.iter().map(|s| s.to_string()).collect(),
            rate_limit: Some(rate),
            ..FaultRule::default()
        }
    }
}

impl FaultSettings {
    /// The settings applying `rules`, their random decisions drawn from `seed`.
    pub fn seeded(seed: u64, rules: Vec<FaultRule>) -> Self {
        FaultSettings {
            seed: Some(seed),
            rules,
        }
    }

    /// AWS's documented per-region request quotas as rate-limit rules.
    pub fn aws_quotas() -> Self {
        let group = FaultRule::limiting;
        FaultSettings {
            seed: None,
            rules: vec![
                group(&["GetSecretValue", "DescribeSecret"], 10_000.0),
                group(&["ListSecrets"], 100.0),
                group(&["BatchGetSecretValue"], 100.0),
                group(
                    &[
                        "PutSecretValue",
                        "RemoveRegionsFromReplication",
                        "ReplicateSecretToRegions",
                        "StopReplicationToReplica",
                        "UpdateSecret",
                        "UpdateSecretVersionStage",
                    ],
                    50.0,
                ),
                group(
                    &[
                        "DeleteResourcePolicy",
                        "GetResourcePolicy",
                        "PutResourcePolicy",
                        "ValidateResourcePolicy",
                    ],
                    50.0,
                ),
                group(&["RestoreSecret"], 50.0),
                group(&["RotateSecret", "CancelRotateSecret"], 50.0),
                group(&["TagResource", "UntagResource"], 50.0),
                group(&["CreateSecret"], 50.0),
                group(&["DeleteSecret"], 50.0),
                group(&["GetRandomPassword"], 50.0),
                group(&["ListSecretVersionIds"], 50.0),
            ],
        }
    }

    /// Checks probabilities and rates.
    pub fn validate(&self) -> Result<(), String> {
        for (i, r) in self.rules.iter().enumerate() {
            for (name, p) in [
                ("throttle_rate", r.throttle_rate),
                ("error_rate", r.error_rate),
                ("unavailable_rate", r.unavailable_rate),
            ] {
                if let Some(p) = p {
                    if !(0.0..=1.0).contains(&p) {
                        return Err(format!(
                            "rules[{i}].{name} must be between 0 and 1, got {p}"
                        ));
                    }
                }
            }
            if let Some(rate) = r.rate_limit {
                if !(rate > 0.0 && rate.is_finite()) {
                    return Err(format!(
                        "rules[{i}].rate_limit must be a positive number, got {rate}"
                    ));
                }
            }
            if let Some(b) = r.burst {
                if !(b >= 1.0 && b.is_finite()) {
                    return Err(format!("rules[{i}].burst must be at least 1, got {b}"));
                }
            }
        }
        Ok(())
    }
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

#[derive(Debug)]
struct Inner {
    settings: FaultSettings,
    buckets: Vec<Option<Bucket>>,
    rng: StdRng,
}

/// What to do with one request.
#[derive(Debug, Default)]
pub struct Decision {
    /// Latency to add before answering.
    pub latency: Duration,
    /// An injected error to answer instead of running the operation.
    pub error: Option<ApiError>,
}

/// Live fault state plus call counters.
#[derive(Debug)]
pub struct Faults {
    active: AtomicBool,
    inner: Mutex<Inner>,
    calls: Mutex<HashMap<String, u64>>,
    throttled: AtomicU64,
    injected: AtomicU64,
}

fn rng_for(seed: Option<u64>) -> StdRng {
    match seed {
        Some(s) => StdRng::seed_from_u64(s),
        None => StdRng::from_entropy(),
    }
}

impl Faults {
    /// Starts with `settings`.
    pub fn new(settings: FaultSettings) -> Faults {
        let f = Faults {
            active: AtomicBool::new(false),
            inner: Mutex::new(Inner {
                settings: FaultSettings::default(),
                buckets: Vec::new(),
                rng: rng_for(None),
            }),
            calls: Mutex::new(HashMap::new()),
            throttled: AtomicU64::new(0),
            injected: AtomicU64::new(0),
        };
        f.set(settings);
        f
    }

    /// Replaces the settings (buckets start full, the RNG is reseeded).
    pub fn set(&self, settings: FaultSettings) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        self.active
            .store(!settings.rules.is_empty(), Ordering::SeqCst);
        g.rng = rng_for(settings.seed);
        g.buckets = settings.rules.iter().map(|_| None).collect();
        g.settings = settings;
    }

    /// The current settings.
    pub fn settings(&self) -> FaultSettings {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .settings
            .clone()
    }

    /// Counts a call of `op` and decides whether a fault applies to it.
    pub fn on_request(&self, op: &str) -> Decision {
        {
            let mut c = self.calls.lock().unwrap_or_else(|e| e.into_inner());
            match c.get_mut(op) {
                Some(n) => *n += 1,
                None => {
                    c.insert(op.to_string(), 1);
                }
            }
        }
        if !self.active.load(Ordering::Relaxed) {
            return Decision::default();
        }
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let inner = &mut *g;
        let now = Instant::now();
        let mut d = Decision::default();
        for (i, rule) in inner.settings.rules.iter().enumerate() {
            if !rule.operations.is_empty() && !rule.operations.iter().any(|o| o == op) {
                continue;
            }
            if let Some(ms) = rule.latency_ms {
                d.latency += Duration::from_millis(ms);
            }
            if d.error.is_some() {
                continue;
            }
            if let Some(rate) = rule.rate_limit {
                let cap = rule.burst.unwrap_or(rate).max(1.0);
                let b = inner.buckets[i].get_or_insert(Bucket {
                    tokens: cap,
                    last: now,
                });
                let elapsed = now.duration_since(b.last).as_secs_f64();
                b.tokens = (b.tokens + elapsed * rate).min(cap);
                b.last = now;
                if b.tokens >= 1.0 {
                    b.tokens -= 1.0;
                } else {
                    self.throttled.fetch_add(1, Ordering::Relaxed);
                    d.error = Some(ApiError::throttled());
                    continue;
                }
            }
            // the random faults, drawn in this order; the first that strikes answers
            let chances: [Chance; 3] = [
                (rule.throttle_rate, &self.throttled, ApiError::throttled),
                (rule.error_rate, &self.injected, || {
                    ApiError::internal("An error occurred on the server side (injected fault).")
                }),
                (rule.unavailable_rate, &self.injected, || {
                    ApiError::unavailable("The service is unavailable (injected fault).")
                }),
            ];
            for (chance, counter, error) in chances {
                if chance.is_some_and(|p| p > 0.0 && inner.rng.gen_bool(p)) {
                    counter.fetch_add(1, Ordering::Relaxed);
                    d.error = Some(error());
                    break;
                }
            }
        }
        d
    }

    /// Per-operation call counts and fault totals, as JSON.
    pub fn stats(&self) -> serde_json::Value {
        let calls: BTreeMap<String, u64> = self
            .calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        let total: u64 = calls.values().sum();
        serde_json::json!({
            "calls": calls,
            "total": total,
            "throttled": self.throttled.load(Ordering::Relaxed),
            "injected_errors": self.injected.load(Ordering::Relaxed),
        })
    }

    /// Zeroes the counters.
    pub fn reset_stats(&self) {
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).clear();
        self.throttled.store(0, Ordering::Relaxed);
        self.injected.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn bucket_throttles_after_burst() {
        let rule = FaultRule {
            burst: Some(2.0),
            ..FaultRule::limiting(&["A"], 0.001)
        };
        let f = Faults::new(FaultSettings::seeded(1, vec![rule]));
        assert!(f.on_request("A").error.is_none());
        assert!(f.on_request("A").error.is_none());
        assert_eq!(
            f.on_request("A").error.map(|e| e.code),
            Some("ThrottlingException")
        );
        assert!(f.on_request("B").error.is_none());
    }

    #[test]
    fn throttle_rate_throttles_a_fixed_share() {
        let rule = FaultRule {
            throttle_rate: Some(0.3),
            ..Default::default()
        };
        let f = Faults::new(FaultSettings::seeded(3, vec![rule]));
        let throttled = (0..10_000)
            .filter(|_| {
                f.on_request("GetSecretValue").error.map(|e| e.code) == Some("ThrottlingException")
            })
            .count();
        assert!((2_700..3_300).contains(&throttled), "{throttled}");
    }

    #[test]
    fn seeded_errors_are_deterministic() {
        let rule = FaultRule {
            error_rate: Some(0.5),
            ..Default::default()
        };
        let s = FaultSettings::seeded(7, vec![rule]);
        let run = || {
            let f = Faults::new(s.clone());
            (0..64)
                .map(|_| f.on_request("X").error.is_some())
                .collect::<Vec<_>>()
        };
        let a = run();
        assert_eq!(a, run());
        assert!(a.iter().any(|x| *x) && a.iter().any(|x| !*x));
    }
}
