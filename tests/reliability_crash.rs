//! Reliability suite, crash part (see RELIABILITY.md): `kill -9` in the middle of
//! - the plugin binary (launched as Grafana launches it, local backend) under a concurrent
//!   SetSecret/DeleteSecret load, killed once k operations of the trial were acknowledged: after
//!   each restart every acknowledged write is present and intact, nothing half-written or stray is
//!   visible (GetAllSecrets holds exactly the known keys);
//! - a running `secrets-broker migrate` (local -> aws backend on the emulator), paced and killed
//!   once its checkpoint records k of n secrets: the rerun resumes (its report counts exactly the
//!   checkpoint's entries as resumed and skips everything the dead run wrote), finishes with the
//!   destination equal to the source, nothing lost, and nothing written twice (every destination
//!   secret has exactly one version in the emulator).
//!
//! Every trial proves its kill landed mid-run (the process was still running and died of SIGKILL,
//! work was done before it and remained after it); the plugin test requires that of every trial,
//! the migration test of at least 80% of trials, which must also resume from a checkpoint.
//! `RELIABILITY_TRIALS` sets the trials per test (default 5; the long form runs 50).
#![allow(clippy::unwrap_used)]

#[path = "reliability_support/fuzz.rs"]
mod fuzz;
#[path = "reliability_support/kill.rs"]
mod kill;
#[path = "migrate_support/mod.rs"]
mod migrate_support;
#[path = "plugin_support/mod.rs"]
mod plugin_support;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use migrate_support::{checkpoint_entries, open};
use plugin_support::{get, get_all, grafana_command, key, launch};
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
    let mut tally = kill::MidRunTally::default();
    let mut checks = 0usize;
    for trial in 0..trials {
        let mut plugin = launch(grafana_command(data.path(), sockets.path(), &[]));
        let acked_in_trial = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for w in 0..3 {
            let client = plugin.client().await;
            let known = known.clone();
            let acked_in_trial = acked_in_trial.clone();
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
                    let sent = Instant::now();
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
                            acked_in_trial.fetch_add(1, Ordering::SeqCst);
                        }
                        Ok(e) => panic!("in-band error under load: {e}"),
                        // The process died: the operation stays in flight.
                        Err(_) => {
                            let failed = Instant::now();
                            return (n, kill::FailedRequest { sent, failed });
                        }
                    }
                }
            }));
        }
        // Kill on a progress signal: once this trial has k acknowledged operations (k chosen
        // per trial), while the three clients keep writing.
        let target = 1 + rng.below(250);
        let deadline = Instant::now() + Duration::from_secs(60);
        while acked_in_trial.load(Ordering::SeqCst) < target {
            assert!(
                plugin.child.try_wait().unwrap().is_none(),
                "trial {trial}: the plugin exited by itself under load"
            );
            assert!(
                Instant::now() < deadline,
                "trial {trial}: fewer than {target} operations acknowledged in 60 s"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let running_at_kill = plugin.child.try_wait().unwrap().is_none();
        let acked_before_kill = acked_in_trial.load(Ordering::SeqCst);
        let killed_at = Instant::now();
        plugin.child.kill().unwrap(); // SIGKILL
        let status = plugin.child.wait().unwrap();
        let mut failures = Vec::new();
        for t in tasks {
            let (_, failure) = t.await.unwrap();
            failures.push(Some(failure));
        }
        let evidence = kill::KillEvidence::new(
            running_at_kill,
            status,
            killed_at,
            acked_before_kill,
            &failures,
        );
        assert!(
            tally.record(&evidence) && evidence.writing_at_kill == 3,
            "trial {trial}: the kill did not land mid-run with all 3 writers writing: {evidence:?}"
        );
        drop(plugin);

        let plugin = launch(grafana_command(data.path(), sockets.path(), &[]));
        let mut c = plugin.client().await;
        let snapshot = known.lock().unwrap().clone();
        for (&(w, ns), k) in &snapshot {
            let r = get(&mut c, w as i64 + 1, &format!("crash-ds-{ns}")).await;
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
        let all = get_all(&mut c).await;
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
        "FIGURES plugin_crash {} checks={checks} lost=0",
        tally.figures()
    );
    assert_eq!(tally.killed_mid_run, trials, "{}", tally.figures());
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

/// Secrets (the lease excluded) in the destination once no write of the killed run is still
/// arriving: a request the run sent just before it died may land in the emulator just after.
async fn settled_count(dst_toml: &Path) -> usize {
    let dst = open(dst_toml).await;
    let mut last = None;
    loop {
        let now = dst
            .get_all()
            .await
            .unwrap()
            .iter()
            .filter(|i| !secrets_broker::migrate::is_reserved(&i.key))
            .count();
        if last == Some(now) {
            return now;
        }
        last = Some(now);
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

/// Writes per second of the run that is killed: slow enough that 300 secrets take about 3 s, so
/// the checkpoint (saved every 500 ms) is written several times before the end.
const PACED_WRITE_RATE: &str = "100";
/// Share of trials (percent) that must be killed mid-run and resume from their checkpoint.
const MIN_RESUMED_PERCENT: usize = 80;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migration_kill_9_then_rerun_loses_and_duplicates_nothing() {
    const BIN: &str = env!("CARGO_BIN_EXE_secrets-broker");
    let trials = fuzz::trials(5);
    let mut rng = fuzz::Rng::new(fuzz::seed());
    let dir = tempfile::tempdir().unwrap();
    let emu = Emulator::builder().in_memory().start().await.unwrap();
    let items = migrate_support::sample(300);
    let n = items.len();
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
    let mut killed_mid_run = 0usize;
    let mut resumed_from_checkpoint = 0usize;
    let (mut resumed_secrets, mut written_before_kill, mut beyond_checkpoint) = (0, 0, 0);
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
        let args = |rate: &str| -> Vec<String> {
            let more = [
                "--max-write-rate",
                rate,
                "--lease-ttl-secs",
                "1",
                "--progress",
                "none",
            ];
            migrate_support::checkpointed_migration(&src_toml, &dst_toml, &cp, &more)
        };
        let mut child = Command::new(BIN)
            .args(args(PACED_WRITE_RATE))
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // The progress signal: the checkpoint records k of n secrets verified in the destination
        // (k chosen per trial). Then a random pause of up to one checkpoint interval, so the kill
        // lands anywhere between two checkpoint saves, with writes the checkpoint does not record
        // yet done or in flight.
        let target = 1 + rng.below(n / 2);
        let deadline = Instant::now() + Duration::from_secs(60);
        while checkpoint_entries(&cp) < target && child.try_wait().unwrap().is_none() {
            assert!(
                Instant::now() < deadline,
                "trial {trial}: the checkpoint never reached {target}"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        tokio::time::sleep(Duration::from_millis(rng.below(500) as u64)).await;
        let running_at_kill = child.try_wait().unwrap().is_none();
        let _ = child.kill(); // SIGKILL
        let status = child.wait().unwrap();
        // What the dead run left: its checkpoint and the secrets it had written.
        let checkpointed = checkpoint_entries(&cp);
        let written = settled_count(&dst_toml).await;
        let mid_run =
            running_at_kill && kill::died_of_sigkill(status) && written > 0 && written < n;
        // Rerun until it completes (the dead holder's lease expires after 1 s).
        let deadline = Instant::now() + Duration::from_secs(20);
        let report = loop {
            let out = Command::new(BIN)
                .args(args("unlimited"))
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
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let count = |field: &str| report[field].as_u64().unwrap() as usize;
        assert_eq!(count("failed"), 0, "trial {trial}: {report}");
        assert_eq!(count("total"), n, "trial {trial}");
        // The rerun resumed: everything the checkpoint recorded counts as resumed, everything
        // the dead run had written is skipped, and only the rest is copied.
        assert_eq!(
            count("resumed"),
            checkpointed,
            "trial {trial}: resumed vs checkpoint entries at the kill: {report}"
        );
        assert_eq!(
            count("skipped"),
            written,
            "trial {trial}: skipped vs secrets written before the kill: {report}"
        );
        assert_eq!(count("copied"), n - written, "trial {trial}: {report}");
        if mid_run {
            killed_mid_run += 1;
            written_before_kill += written;
            beyond_checkpoint += written - checkpointed.min(written);
            if checkpointed > 0 {
                resumed_from_checkpoint += 1;
                resumed_secrets += checkpointed;
            }
        }
        eprintln!(
            "trial {trial}: target {target}, running at kill {running_at_kill}, {status}, \
             written {written}/{n}, checkpointed {checkpointed}, rerun copied {}",
            count("copied")
        );
        let dst = open(&dst_toml).await;
        assert_eq!(
            migrate_support::contents(dst.as_ref()).await,
            expected,
            "trial {trial}: destination differs"
        );
        let versions = versions_under(&emu, &prefix).await;
        assert_eq!(
            versions.len(),
            n,
            "trial {trial}: secret count in the emulator"
        );
        let dup: Vec<_> = versions.iter().filter(|(_, &n)| n != 1).collect();
        assert!(
            dup.is_empty(),
            "trial {trial}: written more than once: {dup:?}"
        );
    }
    eprintln!(
        "FIGURES migration_crash trials={trials} killed_mid_run={killed_mid_run} \
         resumed_from_checkpoint={resumed_from_checkpoint} secrets_per_trial={n} \
         written_before_kill={written_before_kill} resumed_secrets={resumed_secrets} \
         written_after_last_checkpoint={beyond_checkpoint} lost=0 duplicated=0"
    );
    assert!(
        kill::enough(resumed_from_checkpoint, trials, MIN_RESUMED_PERCENT),
        "only {resumed_from_checkpoint} of {trials} trials were killed mid-run and resumed from \
         their checkpoint (killed mid-run: {killed_mid_run}); at least {MIN_RESUMED_PERCENT}% must"
    );
    emu.shutdown().await;
}
