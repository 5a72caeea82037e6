//! The audit log through the plugin as Grafana launches it: one line per RPC with its key,
//! outcome and caller and never a value, a chain `secrets-broker audit verify` accepts and that
//! breaks when a line is edited or removed, continued across restarts; every SetSecret
//! acknowledged before a `kill -9` has its line; and a call whose line cannot be written fails.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

#[path = "reliability_support/kill.rs"]
mod kill;
mod plugin_support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use plugin_support::*;
use secrets_broker::server::proto::secretsmanager as pb;

/// A plugin launched as Grafana does, with `audit_log` set to `audit`.
fn launch_audited(data: &Path, sockets: &Path, audit: &Path) -> Plugin {
    launch(grafana_command(
        data,
        sockets,
        &[("GF_PLUGIN_AUDIT_LOG", audit.to_str().unwrap())],
    ))
}

fn audit_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// `secrets-broker audit verify FILES`: exit success and output.
fn verify(files: &[PathBuf]) -> (bool, String) {
    let out = Command::new(BIN)
        .args(["audit", "verify"])
        .args(files)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_has_a_chained_line_without_its_value() {
    let data = tempfile::tempdir().unwrap();
    let sockets = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let audit = logs.path().join("audit.log");
    let plugin = launch_audited(data.path(), sockets.path(), &audit);
    let mut c = plugin.client().await;

    assert_eq!(set(&mut c, 1, "ds-a", "s3cret-value-a").await, "");
    assert_eq!(
        get(&mut c, 1, "ds-a").await.decrypted_value,
        "s3cret-value-a"
    );
    assert!(!get(&mut c, 1, "ds-missing").await.exists);
    let listed = c
        .list_secrets(pb::ListSecretsRequest {
            key_descriptor: key(1, "ds-a", "datasource"),
            all_organizations: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.keys.len(), 1);
    let renamed = c
        .rename_secret(pb::RenameSecretRequest {
            key_descriptor: key(1, "ds-a", "datasource"),
            new_namespace: "ds-b".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(renamed.user_friendly_error, "");
    let all = c
        .get_all_secrets(pb::GetAllSecretsRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.items.len(), 1);
    let deleted = c
        .delete_secret(pb::DeleteSecretRequest {
            key_descriptor: key(1, "ds-b", "datasource"),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(deleted.user_friendly_error, "");
    // A rejected call (empty namespace) is audited too, with the key as it was sent.
    assert_ne!(set(&mut c, 1, "", "s3cret-value-rejected").await, "");

    let text = std::fs::read_to_string(&audit).unwrap();
    assert!(!text.contains("s3cret"), "a value reached the audit log");
    let lines = audit_lines(&audit);
    let summary: Vec<(String, String)> = lines
        .iter()
        .map(|l| {
            (
                l["operation"].as_str().unwrap().to_string(),
                l["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected = [
        ("SetSecret", "ok"),
        ("GetSecret", "found"),
        ("GetSecret", "absent"),
        ("ListSecrets", "1 keys"),
        ("RenameSecret", "ok"),
        ("GetAllSecrets", "1 items"),
        ("DeleteSecret", "ok"),
        ("SetSecret", "rejected"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(o, r)| (o.to_string(), r.to_string()))
        .collect();
    assert_eq!(summary, expected);
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l["seq"], i as u64 + 1, "{l}");
        assert_eq!(l["backend"], "local", "{l}");
        assert_eq!(l["@message"], "audit", "{l}");
        assert!(l["latency_us"].is_u64(), "{l}");
        assert!(l["caller"].as_str().is_some_and(|c| !c.is_empty()), "{l}");
    }
    assert_eq!(lines[0]["namespace"], "ds-a");
    assert_eq!(lines[0]["type"], "datasource");
    assert_eq!(lines[0]["org_id"], 1);
    assert_eq!(lines[4]["new_namespace"], "ds-b");
    assert_eq!(lines[7]["error"], "invalid_input");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&audit).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "audit log mode {mode:o}");
    }

    let (ok, out) = verify(std::slice::from_ref(&audit));
    assert!(ok && out.contains("intact: 8 lines"), "{out}");

    // A restart continues the chain.
    drop(c);
    drop(plugin);
    let plugin = launch_audited(data.path(), sockets.path(), &audit);
    let mut c = plugin.client().await;
    assert!(!get(&mut c, 1, "ds-a").await.exists);
    let lines = audit_lines(&audit);
    assert_eq!(lines.len(), 9);
    assert_eq!(lines[8]["seq"], 9);
    let (ok, out) = verify(std::slice::from_ref(&audit));
    assert!(ok && out.contains("intact: 9 lines"), "{out}");
    drop(c);
    drop(plugin);

    // An edited line and a removed line are both found, by line number.
    let original = std::fs::read_to_string(&audit).unwrap();
    std::fs::write(&audit, original.replacen("\"found\"", "\"absent\"", 1)).unwrap();
    let (ok, out) = verify(std::slice::from_ref(&audit));
    assert!(
        !ok && out.contains(":2:") && out.contains("edited"),
        "{out}"
    );
    let without_third: Vec<&str> = original
        .lines()
        .enumerate()
        .filter(|(i, _)| *i != 2)
        .map(|(_, l)| l)
        .collect();
    std::fs::write(&audit, without_third.join("\n") + "\n").unwrap();
    let (ok, out) = verify(std::slice::from_ref(&audit));
    assert!(
        !ok && out.contains(":3:") && out.contains("removed"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_write_acknowledged_before_kill_9_has_its_line() {
    let data = tempfile::tempdir().unwrap();
    let sockets = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let audit = logs.path().join("audit.log");
    let mut plugin = launch_audited(data.path(), sockets.path(), &audit);
    let acked = Arc::new(AtomicUsize::new(0));
    let writer = {
        let mut c = plugin.client().await;
        let acked = acked.clone();
        tokio::spawn(async move {
            for i in 0.. {
                let sent = Instant::now();
                let answer = c
                    .set_secret(pb::SetSecretRequest {
                        key_descriptor: key(1, &format!("load-{i}"), "datasource"),
                        value: format!("value-{i}"),
                    })
                    .await;
                match answer {
                    Ok(r) => {
                        assert_eq!(r.into_inner().user_friendly_error, "", "load-{i}");
                        acked.store(i + 1, Ordering::SeqCst);
                    }
                    Err(_) => {
                        return kill::FailedRequest {
                            sent,
                            failed: Instant::now(),
                        }
                    }
                }
            }
            unreachable!("the writer runs until the plugin dies")
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while acked.load(Ordering::SeqCst) < 50 {
        assert!(plugin.child.try_wait().unwrap().is_none(), "plugin exited");
        assert!(Instant::now() < deadline, "the writer made no progress");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let running_at_kill = plugin.child.try_wait().unwrap().is_none();
    let acked_before_kill = acked.load(Ordering::SeqCst);
    let killed_at = Instant::now();
    plugin.child.kill().unwrap();
    let status = plugin.child.wait().unwrap();
    let failure = writer.await.unwrap();
    let evidence = kill::KillEvidence::new(
        running_at_kill,
        status,
        killed_at,
        acked_before_kill,
        &[Some(failure)],
    );
    assert!(
        evidence.landed_mid_run(),
        "the kill did not land mid-load: {evidence:?}"
    );
    let acked = acked.load(Ordering::SeqCst);
    drop(plugin);

    // Grafana restarts the plugin; the reopened log continues the chain.
    let plugin = launch_audited(data.path(), sockets.path(), &audit);
    let mut c = plugin.client().await;
    assert!(get(&mut c, 1, "load-0").await.exists);
    let lines = audit_lines(&audit);
    for i in 0..acked {
        let ns = format!("load-{i}");
        assert!(
            lines.iter().any(|l| l["operation"] == "SetSecret"
                && l["namespace"] == ns.as_str()
                && l["outcome"] == "ok"),
            "SetSecret {ns} was acknowledged before the kill but has no audit line"
        );
    }
    let (ok, out) = verify(std::slice::from_ref(&audit));
    assert!(ok, "{out}");
    println!(
        "FIGURES acked_before_kill={acked} audit_lines={} {evidence:?}",
        lines.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_whose_line_cannot_be_written_fails() {
    // /dev/full: every write fails with ENOSPC, as on a full disk.
    let full = Path::new("/dev/full");
    if !full.exists() {
        println!("skipped: this system has no /dev/full");
        return;
    }
    let probe = std::fs::OpenOptions::new().append(true).open(full);
    let write_fails = probe.is_ok_and(|mut f| {
        use std::io::Write;
        f.write_all(b"x").is_err()
    });
    assert!(
        write_fails,
        "/dev/full accepted a write: the fault would not happen"
    );
    let data = tempfile::tempdir().unwrap();
    let sockets = tempfile::tempdir().unwrap();
    let plugin = launch_audited(data.path(), sockets.path(), full);
    let mut c = plugin.client().await;
    let text = set(&mut c, 1, "ds-a", "value-a").await;
    assert!(text.contains("audit log"), "{text}");
    let read = get(&mut c, 1, "ds-a").await;
    assert!(read.user_friendly_error.contains("audit log"), "{read:?}");
    assert_eq!(
        read.decrypted_value, "",
        "a value was answered without its audit line"
    );
    let all = c.get_all_secrets(pb::GetAllSecretsRequest {}).await;
    let status = all.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    assert!(!status.message().contains("value-a"));
}
