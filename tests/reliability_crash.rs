//! Reliability suite, crash part (see RELIABILITY.md): `kill -9` at random moments of
//! - the plugin binary (launched as Grafana launches it, local backend) under a concurrent
//!   SetSecret/DeleteSecret load: after each restart every acknowledged write is present and
//!   intact, nothing half-written or stray is visible (GetAllSecrets holds exactly the known keys);
//! - a running `secrets-broker migrate` (local -> aws backend on the emulator): the rerun finishes
//!   with the destination equal to the source, nothing lost, and nothing written twice (every
//!   destination secret has exactly one version in the emulator).
//!
//! `RELIABILITY_TRIALS` sets the trials per test (default 5; the long form runs 50).
#![allow(clippy::unwrap_used)]

#[path = "reliability_support/fuzz.rs"]
mod fuzz;
#[path = "migrate_support/mod.rs"]
mod migrate_support;
#[path = "plugin_support/mod.rs"]
mod plugin_support;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use plugin_support::{grafana_command, key, launch};
use secrets_broker::backends::SecretStore;
use secrets_broker::config::{backend_from_settings, Settings};
use secrets_broker::server::proto::secretsmanager as pb;
use secretsmanager_emulator::Emulator;

/// The state of one key as the load generator knows it: the acknowledged value (`None` =
/// absent) and the operation in flight when the process died (`Some(None)` = a delete).
#[derive(Debug, Clone, Default)]
struct Known {
    acked: Option<String>,
    in_flight: Option<Option<String>>,
}

fn value_for(worker: usize, ns: usize, seq: usize) -> String {
    format!(
        "{{\"password\":\"w{worker}-n{ns}-q{seq}-{}\"}}",
        "p".repeat(100 + (seq * 53) % 4000)
    )
}

fn short(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(|s| &s[..s.len().min(30)])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_kill_9_under_load_keeps_every_acknowledged_write() {
    let trials = fuzz::trials(5);
    let mut rng = fuzz::Rng::new(fuzz::seed());
    let data = tempfile::tempdir().unwrap();
    let sockets = tempfile::tempdir().unwrap();
    let known: Arc<Mutex<HashMap<(usize, usize), Known>>> = Arc::default();
    let (mut acked_ops, mut checks) = (0usize, 0usize);
    for trial in 0..trials {
        let plugin = launch(grafana_command(data.path(), sockets.path(), &[]));
        let mut tasks = Vec::new();
        for w in 0..3 {
            let client = plugin.client().await;
            let known = known.clone();
            let seed = rng.next_u64();
            tasks.push(tokio::spawn(async move {
                let mut c = client;
                let mut r = fuzz::Rng::new(seed);
                let mut n = 0usize;
                loop {
                    let ns = r.below(10);
                    let k = key(w as i64 + 1, &format!("crash-ds-{ns}"), "datasource");
                    let value = (!r.chance(0.15)).then(|| value_for(w, ns, trial * 1_000_000 + n));
                    known.lock().unwrap().entry((w, ns)).or_default().in_flight =
                        Some(value.clone());
                    let answer = match &value {
                        Some(v) => c
                            .set_secret(pb::SetSecretRequest {
                                key_descriptor: k,
                                value: v.clone(),
                            })
                            .await
                            .map(|r| r.into_inner().user_friendly_error),
                        None => c
                            .delete_secret(pb::DeleteSecretRequest { key_descriptor: k })
                            .await
                            .map(|r| r.into_inner().user_friendly_error),
                    };
                    match answer {
                        Ok(e) if e.is_empty() => {
                            let mut g = known.lock().unwrap();
                            let s = g.get_mut(&(w, ns)).unwrap();
                            s.acked = value;
                            s.in_flight = None;
                            n += 1;
                        }
                        Ok(e) => panic!("in-band error under load: {e}"),
                        Err(_) => return n, // the process died: the operation stays in flight
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(30 + rng.below(400) as u64)).await;
        let mut plugin = plugin;
        plugin.child.kill().unwrap(); // SIGKILL
        plugin.child.wait().unwrap();
        for t in tasks {
            acked_ops += t.await.unwrap();
        }
        drop(plugin);

        let plugin = launch(grafana_command(data.path(), sockets.path(), &[]));
        let mut c = plugin.client().await;
        let snapshot = known.lock().unwrap().clone();
        for (&(w, ns), k) in &snapshot {
            let r = c
                .get_secret(pb::GetSecretRequest {
                    key_descriptor: key(w as i64 + 1, &format!("crash-ds-{ns}"), "datasource"),
                })
                .await
                .expect("GetSecret answers OK after restart")
                .into_inner();
            assert_eq!(r.user_friendly_error, "", "trial {trial}");
            let found = r.exists.then_some(r.decrypted_value);
            let ok = found == k.acked || k.in_flight.as_ref().is_some_and(|f| *f == found);
            assert!(
                ok,
                "trial {trial}: key ({w},{ns}): found {:?}, acknowledged {:?}, in flight {:?}",
                short(&found),
                short(&k.acked),
                k.in_flight.as_ref().map(short)
            );
            checks += 1;
            let mut g = known.lock().unwrap();
            let e = g.get_mut(&(w, ns)).unwrap();
            e.acked = found;
            e.in_flight = None;
        }
        // Nothing stray or half-written: GetAllSecrets holds exactly the present keys.
        let all = c
            .get_all_secrets(pb::GetAllSecretsRequest {})
            .await
            .expect("GetAllSecrets answers OK")
            .into_inner();
        assert_eq!(all.user_friendly_error, "");
        let g = known.lock().unwrap();
        let present = g.values().filter(|k| k.acked.is_some()).count();
        assert_eq!(
            all.items.len(),
            present,
            "trial {trial}: GetAllSecrets count"
        );
        for item in &all.items {
            let kd = item.key.as_ref().unwrap();
            let ns: usize = kd
                .namespace
                .trim_start_matches("crash-ds-")
                .parse()
                .unwrap();
            let w = (kd.org_id - 1) as usize;
            assert_eq!(
                g[&(w, ns)].acked.as_deref(),
                Some(item.value.as_str()),
                "trial {trial}"
            );
        }
        drop(g);
        drop(c);
        drop(plugin);
    }
    eprintln!(
        "FIGURES plugin_crash trials={trials} acknowledged_ops={acked_ops} checks={checks} lost=0"
    );
    assert!(acked_ops > 0, "the load never ran");
}

fn checkpoint_entries(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v["done"].as_array().map(Vec::len))
        .unwrap_or(0)
}

async fn open(path: &Path) -> Arc<dyn SecretStore> {
    let s = Settings::from_toml_file(path).unwrap();
    secrets_broker::backends::build(&backend_from_settings(&s).unwrap())
        .await
        .unwrap()
}

/// Every secret name under `prefix` in the emulator with its number of versions.
async fn versions_under(emu: &Emulator, prefix: &str) -> HashMap<String, usize> {
    use aws_sdk_secretsmanager::config::{BehaviorVersion, Credentials, Region};
    let conf = aws_sdk_secretsmanager::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(emu.endpoint())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            "AKIDEXAMPLE",
            "test-secret-key",
            None,
            None,
            "t",
        ))
        .build();
    let c = aws_sdk_secretsmanager::Client::from_conf(conf);
    let mut out = HashMap::new();
    let mut token = None;
    loop {
        let page = c
            .list_secrets()
            .filters(
                aws_sdk_secretsmanager::types::Filter::builder()
                    .key(aws_sdk_secretsmanager::types::FilterNameStringType::Name)
                    .values(prefix)
                    .build(),
            )
            .max_results(100)
            .set_next_token(token)
            .send()
            .await
            .unwrap();
        for s in page.secret_list() {
            let n = s.secret_versions_to_stages().map(|m| m.len()).unwrap_or(0);
            out.insert(s.name().unwrap().to_string(), n);
        }
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migration_kill_9_then_rerun_loses_and_duplicates_nothing() {
    const BIN: &str = env!("CARGO_BIN_EXE_secrets-broker");
    let trials = fuzz::trials(5);
    let mut rng = fuzz::Rng::new(fuzz::seed());
    let dir = tempfile::tempdir().unwrap();
    let emu = Emulator::builder().in_memory().start().await.unwrap();
    let items = migrate_support::sample(300);
    let src_toml = dir.path().join("src.toml");
    std::fs::write(
        &src_toml,
        format!(
            "backend = \"local\"\ndata_dir = {:?}\n",
            dir.path().join("src-data").display().to_string()
        ),
    )
    .unwrap();
    {
        let src = open(&src_toml).await;
        migrate_support::fill(src.as_ref(), &items).await;
    }
    let expected = {
        let src = open(&src_toml).await;
        migrate_support::contents(src.as_ref()).await
    };
    let (mut killed_mid_run, mut resumed_total) = (0usize, 0u64);
    for trial in 0..trials {
        let prefix = format!("t{trial}/");
        let dst_toml = dir.path().join(format!("dst{trial}.toml"));
        std::fs::write(
            &dst_toml,
            format!(
                "backend = \"aws\"\naws_endpoint_url = {:?}\naws_region = \"us-east-1\"\naws_access_key_id = \"AKIDEXAMPLE\"\naws_secret_access_key = \"test-secret-key\"\nsecret_name_prefix = {prefix:?}\n",
                emu.endpoint()
            ),
        )
        .unwrap();
        let cp = dir.path().join(format!("cp{trial}.json"));
        let args = |extra: &[&str]| -> Vec<String> {
            let mut a: Vec<String> = [
                "migrate",
                "--from",
                src_toml.to_str().unwrap(),
                "--to",
                dst_toml.to_str().unwrap(),
                "--checkpoint",
                cp.to_str().unwrap(),
                "--max-write-rate",
                "unlimited",
                "--lease-ttl-secs",
                "1",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            a.extend(extra.iter().map(|s| s.to_string()));
            a
        };
        let mut child = Command::new(BIN)
            .args(args(&["--progress", "none"]))
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Kill when the checkpoint reaches a random count (0 = right away).
        let target = rng.below(250);
        let deadline = Instant::now() + Duration::from_secs(30);
        while checkpoint_entries(&cp) < target && child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "trial {trial}: no progress");
            std::thread::sleep(Duration::from_millis(2));
        }
        let _ = child.kill(); // SIGKILL
        let status = child.wait().unwrap();
        if status.code().is_none() {
            killed_mid_run += 1;
        }
        // Rerun until it completes (the dead holder's lease expires after 1 s).
        let deadline = Instant::now() + Duration::from_secs(20);
        let report = loop {
            let out = Command::new(BIN)
                .args(args(&["--progress", "none"]))
                .current_dir(dir.path())
                .output()
                .unwrap();
            if out.status.success() {
                break serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap();
            }
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                err.contains("holds the lease"),
                "trial {trial}: rerun failed: {err}"
            );
            assert!(
                Instant::now() < deadline,
                "trial {trial}: the lease was never released"
            );
            std::thread::sleep(Duration::from_millis(200));
        };
        assert_eq!(report["failed"], 0, "trial {trial}: {report}");
        assert_eq!(report["total"], items.len() as u64, "trial {trial}");
        resumed_total += report["resumed"].as_u64().unwrap_or(0);
        let dst = open(&dst_toml).await;
        assert_eq!(
            migrate_support::contents(dst.as_ref()).await,
            expected,
            "trial {trial}: destination differs"
        );
        let versions = versions_under(&emu, &prefix).await;
        assert_eq!(
            versions.len(),
            items.len(),
            "trial {trial}: secret count in the emulator"
        );
        let dup: Vec<_> = versions.iter().filter(|(_, &n)| n != 1).collect();
        assert!(
            dup.is_empty(),
            "trial {trial}: written more than once: {dup:?}"
        );
    }
    eprintln!(
        "FIGURES migration_crash trials={trials} killed_mid_run={killed_mid_run} secrets_per_trial={} resumed_from_checkpoint={resumed_total} lost=0 duplicated=0",
        items.len()
    );
    emu.shutdown().await;
}
