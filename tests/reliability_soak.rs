//! Reliability suite, fault soak (see RELIABILITY.md): the plugin binary with the `aws` backend
//! against the emulator while the emulator throttles 30% of calls (its `throttle_rate` fault, a
//! fixed share independent of load), fails 5% more with 500/503, and adds latency; a mixed
//! workload (SetSecret, GetSecret, DeleteSecret, ListSecrets, GetAllSecrets) of bounded length
//! (`RELIABILITY_SOAK_OPS`, default 400). Proves: no lost or wrong value (every read returns the
//! acknowledged value or one whose write was reported failed), every failure the caller saw was
//! in-band (`userFriendlyError`, gRPC OK: no RPC but GetAllSecrets ever answered non-OK, and that
//! one only with UNAVAILABLE), and no value reached the
//! plugin's trace-level log.
#![allow(clippy::unwrap_used)]

#[path = "common/mod.rs"]
mod common;
#[path = "reliability_support/fuzz.rs"]
mod fuzz;
#[path = "plugin_support/mod.rs"]
mod plugin_support;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use plugin_support::{delete_key, get, get_key, grafana_command, key, launch, set_key};
use secrets_broker::server::proto::secretsmanager as pb;
use secretsmanager_emulator::{Emulator, FaultRule, FaultSettings};

const CANARY: &str = "SOAK-CANARY-7f3a";

/// One key's state: acknowledged value (`None` = absent) and values (or deletes) whose outcome
/// is unknown because the caller saw an in-band failure since the last acknowledgement.
#[derive(Debug, Default, Clone)]
struct Known {
    acked: Option<String>,
    uncertain: HashSet<Option<String>>,
}

impl Known {
    fn allows(&self, v: &Option<String>) -> bool {
        *v == self.acked || self.uncertain.contains(v)
    }
}

#[derive(Debug, Default)]
struct Tally {
    ops: usize,
    in_band_failures: usize,
    reads_checked: usize,
    by_method: HashMap<&'static str, usize>,
}

fn faults(seed: u64) -> FaultSettings {
    FaultSettings {
        seed: Some(seed),
        rules: vec![
            FaultRule {
                throttle_rate: Some(0.30),
                ..FaultRule::default()
            },
            // Applied to calls that were not throttled: 0.05 / 0.7 of them fail, 5% of all calls.
            FaultRule {
                error_rate: Some(0.036),
                unavailable_rate: Some(0.036),
                latency_ms: Some(3),
                ..FaultRule::default()
            },
        ],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_workload_under_throttling_errors_and_latency() {
    let total_ops = common::env_count("RELIABILITY_SOAK_OPS", 400);
    let seed = fuzz::seed();
    let emu = Emulator::builder()
        .in_memory()
        .faults(faults(seed))
        .start()
        .await
        .unwrap();
    let data = tempfile::tempdir().unwrap();
    let sockets = tempfile::tempdir().unwrap();
    let endpoint = emu.endpoint();
    let plugin = launch(grafana_command(
        data.path(),
        sockets.path(),
        &[
            ("GF_PLUGIN_BACKEND", "aws"),
            ("GF_PLUGIN_AWS_ENDPOINT_URL", endpoint.as_str()),
            ("GF_PLUGIN_AWS_REGION", "us-east-1"),
            ("GF_PLUGIN_AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("GF_PLUGIN_AWS_SECRET_ACCESS_KEY", "soak-secret-access-key"),
            ("GF_PLUGIN_AWS_RETRY_INITIAL_BACKOFF_MS", "5"),
            ("GF_PLUGIN_AWS_RECOVERY_WINDOW_DAYS", "0"),
            ("GF_PLUGIN_LOG_LEVEL", "trace"),
        ],
    ));
    let known: Arc<Mutex<HashMap<(usize, usize), Known>>> = Arc::default();
    let tally: Arc<Mutex<Tally>> = Arc::default();
    let workers = 4;

    let mut tasks = Vec::new();
    for w in 0..workers {
        let mut c = plugin.client().await;
        let known = known.clone();
        let tally = tally.clone();
        let mut rng = fuzz::Rng::new(seed ^ ((w as u64 + 1) * 0x9E37_79B9));
        let ops = total_ops / workers;
        tasks.push(tokio::spawn(async move {
            for n in 0..ops {
                let ns = rng.below(8);
                let k = key(w as i64 + 1, &format!("soak-ds-{ns}"), "datasource");
                let roll = rng.below(100);
                let (method, err): (&'static str, String) = if roll < 40 {
                    let v = format!("{{\"password\":\"{CANARY}-{w}-{n}-{}\"}}", rng.next_u64());
                    let r = set_key(&mut c, k, &v).await;
                    let mut g = known.lock().unwrap();
                    let e = g.entry((w, ns)).or_default();
                    if r.user_friendly_error.is_empty() {
                        e.acked = Some(v);
                        e.uncertain.clear();
                    } else {
                        e.uncertain.insert(Some(v));
                    }
                    ("SetSecret", r.user_friendly_error)
                } else if roll < 47 {
                    let r = delete_key(&mut c, k).await;
                    let mut g = known.lock().unwrap();
                    let e = g.entry((w, ns)).or_default();
                    if r.user_friendly_error.is_empty() {
                        e.acked = None;
                        e.uncertain.clear();
                    } else {
                        e.uncertain.insert(None);
                    }
                    ("DeleteSecret", r.user_friendly_error)
                } else if roll < 90 {
                    let r = get_key(&mut c, k).await;
                    if r.user_friendly_error.is_empty() {
                        let found = r.exists.then_some(r.decrypted_value);
                        let g = known.lock().unwrap();
                        let e = g.get(&(w, ns)).cloned().unwrap_or_default();
                        assert!(
                            e.allows(&found),
                            "GetSecret ({w},{ns}) returned a value never written or lost one"
                        );
                        tally.lock().unwrap().reads_checked += 1;
                    }
                    ("GetSecret", r.user_friendly_error)
                } else if roll < 98 {
                    let r = c
                        .list_secrets(pb::ListSecretsRequest {
                            key_descriptor: k,
                            all_organizations: false,
                        })
                        .await
                        .expect("ListSecrets answered a non-OK gRPC status")
                        .into_inner();
                    ("ListSecrets", r.user_friendly_error)
                } else {
                    // GetAllSecrets alone fails with a status (Grafana's from-plugin migration
                    // reads only that); under these faults the status must say "retry".
                    match c.get_all_secrets(pb::GetAllSecretsRequest {}).await {
                        Ok(r) => ("GetAllSecrets", r.into_inner().user_friendly_error),
                        Err(s) => {
                            assert_eq!(s.code(), tonic::Code::Unavailable, "{s:?}");
                            ("GetAllSecrets", s.message().to_string())
                        }
                    }
                };
                let mut t = tally.lock().unwrap();
                t.ops += 1;
                *t.by_method.entry(method).or_default() += 1;
                if !err.is_empty() {
                    t.in_band_failures += 1;
                    assert!(
                        !err.contains(CANARY),
                        "an error message holds a value: {err}"
                    );
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let stats = emu.faults().stats();
    emu.faults().set(FaultSettings::default());

    // Faults off: every key holds its acknowledged value (or one of the uncertain ones).
    let mut c = plugin.client().await;
    let snapshot = known.lock().unwrap().clone();
    for (&(w, ns), e) in &snapshot {
        let r = get(&mut c, w as i64 + 1, &format!("soak-ds-{ns}")).await;
        assert_eq!(r.user_friendly_error, "");
        let found = r.exists.then_some(r.decrypted_value);
        assert!(
            e.allows(&found),
            "({w},{ns}): final value is neither acknowledged nor attempted"
        );
    }
    drop(c);
    let lines = plugin.stderr_lines();
    let text = lines.join("\n");
    assert!(!text.contains(CANARY), "a value reached the plugin's log");
    assert!(
        !text.contains("soak-secret-access-key"),
        "the AWS secret key reached the log"
    );

    let t = std::mem::take(&mut *tally.lock().unwrap());
    let (total, throttled, injected) = common::fault_counts(&stats);
    eprintln!(
        "FIGURES fault_soak ops={} by_method={:?} emulator_calls={total} throttled={throttled} ({:.1}%) injected_5xx={injected} ({:.1}%) in_band_failures={} reads_checked={} keys_verified={} non_ok_grpc=0 lost=0 wrong=0 log_lines={}",
        t.ops,
        t.by_method,
        100.0 * throttled as f64 / total as f64,
        100.0 * injected as f64 / total as f64,
        t.in_band_failures,
        t.reads_checked,
        snapshot.len(),
        lines.len()
    );
    assert_eq!(t.ops, (total_ops / workers) * workers);
    assert!(
        throttled > 0 && injected > 0,
        "no fault was injected: {stats}"
    );
    emu.shutdown().await;
}
