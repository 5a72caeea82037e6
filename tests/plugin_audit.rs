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

use plugin_support::*;
use secrets_broker::server::proto::secretsmanager as pb;

/// Fresh data, socket and log folders, and the audit log's path in the last.
struct AuditedFolders {
    data: tempfile::TempDir,
    sockets: tempfile::TempDir,
    _logs: tempfile::TempDir,
    audit: PathBuf,
}

impl AuditedFolders {
    fn new() -> Self {
        let logs = tempfile::tempdir().unwrap();
        Self {
            data: tempfile::tempdir().unwrap(),
            sockets: tempfile::tempdir().unwrap(),
            audit: logs.path().join("audit.log"),
            _logs: logs,
        }
    }

    /// The plugin on these folders (started again after a stop, it continues the same log).
    fn launch(&self) -> Plugin {
        launch_audited(self.data.path(), self.sockets.path(), &self.audit)
    }
}

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
    let folders = AuditedFolders::new();
    let audit = folders.audit.clone();
    let plugin = folders.launch();
    let mut c = plugin.client().await;

    assert_eq!(set(&mut c, 1, "ds-a", "s3cret-value-a").await, "");
    assert_eq!(
        get(&mut c, 1, "ds-a").await.decrypted_value,
        "s3cret-value-a"
    );
    assert!(!get(&mut c, 1, "ds-missing").await.exists);
    assert_eq!(list(&mut c, 1, "ds-a", false).await.keys.len(), 1);
    let renamed = rename(&mut c, 1, "ds-a", "ds-b").await;
    assert_eq!(renamed.user_friendly_error, "");
    assert_eq!(get_all(&mut c).await.items.len(), 1);
    assert_eq!(delete(&mut c, 1, "ds-b").await.user_friendly_error, "");
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
    let plugin = folders.launch();
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
    let folders = AuditedFolders::new();
    let audit = folders.audit.clone();
    let mut plugin = folders.launch();
    let load_client = plugin.client().await;
    let (acked, evidence) = kill::kill_mid_set_load(&mut plugin.child, load_client, 1, 50).await;
    drop(plugin);

    // Grafana restarts the plugin; the reopened log continues the chain.
    let plugin = folders.launch();
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
