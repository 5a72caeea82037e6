//! The built `secrets-broker` binary: `migrate` between two local stores, killed with SIGKILL
//! mid-run and rerun (complete, nothing lost or duplicated, the guard stolen after expiry);
//! `--dry-run`; `verify` exit statuses; `reconcile` of a mirror (local → legacy SQLite).

#![allow(clippy::unwrap_used)]

mod migrate_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use migrate_support::{checkpoint_entries, checkpointed_migration, contents, fill, open, sample};
use secrets_broker::backends::local::{LocalConfig, LocalStore};
use secrets_broker::backends::SecretStore;
use secrets_broker::config::Settings;
use secrets_broker::domain::SecretValue;

const BIN: &str = env!("CARGO_BIN_EXE_secrets-broker");

fn settings_file(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p
}

fn local_toml(dir: &Path, name: &str) -> PathBuf {
    let data = dir.join(format!("{name}-data"));
    settings_file(
        dir,
        &format!("{name}.toml"),
        &format!(
            "backend = \"local\"\ndata_dir = {:?}\n",
            data.display().to_string()
        ),
    )
}

fn run(args: &[impl AsRef<std::ffi::OsStr>], cwd: &Path) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn mode(path: &Path) -> u32 {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        0o600
    }
}

fn set_mode(path: &Path, mode: u32) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_mid_migration_then_rerun_completes_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let (from, to) = (local_toml(dir.path(), "src"), local_toml(dir.path(), "dst"));
    let items = sample(2000);
    {
        let src = open(&from).await;
        fill(src.as_ref(), &items).await;
    }
    let cp = dir.path().join("cp.json");
    // A checkpoint of this migration already there, readable by everyone (an older run, or
    // restored from a backup): the new checkpoint must not inherit its mode.
    let id = |p: &Path| format!("local:{}", std::fs::canonicalize(p).unwrap().display());
    std::fs::write(
        &cp,
        serde_json::json!({"version": 1, "source": id(&from), "destination": id(&to), "done": []})
            .to_string(),
    )
    .unwrap();
    set_mode(&cp, 0o644);
    // The same migration, checkpointed, for the killed run and both reruns.
    let migration = checkpointed_migration(&from, &to, &cp, &[]);
    let mut child = Command::new(BIN)
        .args(&migration)
        .args([
            "--max-write-rate",
            "400",
            "--lease-ttl-secs",
            "3",
            "--progress",
            "plain",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while checkpoint_entries(&cp) < 200 {
        assert!(
            Instant::now() < deadline,
            "the checkpoint never reached 200 entries"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "finished before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9),
        "the migration died of the SIGKILL, not on its own: {status:?}"
    );
    let done_before = checkpoint_entries(&cp);
    assert!(done_before < items.len(), "killed mid-run");
    // The checkpoint holds a digest of every copied value: owner-only.
    assert_eq!(mode(&cp), 0o600, "checkpoint mode");

    // Right away: the dead holder's lease is still valid, so the rerun refuses to start.
    let (code, _, err) = run(&migration, dir.path());
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("holds the lease"), "{err}");

    // After the lease expires (3 s after its last renewal) the rerun steals it and completes.
    let deadline = Instant::now() + Duration::from_secs(10);
    let (stdout, stderr) = loop {
        let rerun = checkpointed_migration(&from, &to, &cp, &["--progress", "plain"]);
        let (code, out, err) = run(&rerun, dir.path());
        if code == 0 {
            break (out, err);
        }
        assert_eq!(code, 2, "{err}");
        assert!(err.contains("holds the lease"), "{err}");
        assert!(Instant::now() < deadline, "the lease was never released");
        std::thread::sleep(Duration::from_millis(250));
    };
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    eprintln!(
        "local -> local rerun: {} copied/s unthrottled",
        report["copied_per_sec"]
    );
    assert_eq!(report["failed"], 0, "{stdout}");
    assert_eq!(report["total"], 2000);
    let (copied, skipped) = (
        report["copied"].as_u64().unwrap(),
        report["skipped"].as_u64().unwrap(),
    );
    assert_eq!(copied + skipped, 2000);
    assert!(
        skipped as usize >= done_before,
        "what the checkpoint recorded was not copied again"
    );
    assert!(report["resumed"].as_u64().unwrap() as usize >= done_before);
    assert!(stderr.contains("progress: copy"), "{stderr}");
    assert!(
        !cp.exists(),
        "the checkpoint is removed after a complete run"
    );

    // Exactly the source's secrets, byte for byte, and no lease left behind.
    let (src, dst) = (open(&from).await, open(&to).await);
    assert_eq!(contents(src.as_ref()).await, contents(dst.as_ref()).await);
    assert_eq!(dst.get_all().await.unwrap().len(), 2000);
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_verify_and_exit_statuses() {
    let dir = tempfile::tempdir().unwrap();
    let (from, to) = (local_toml(dir.path(), "a"), local_toml(dir.path(), "b"));
    let items = sample(30);
    fill(open(&from).await.as_ref(), &items).await;
    let (a, b) = (from.to_str().unwrap(), to.to_str().unwrap());

    let (code, out, err) = run(
        &["migrate", "--dry-run", "--from", a, "--to", b],
        dir.path(),
    );
    assert_eq!(code, 0, "{err}");
    let plan: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(plan["plan"].as_array().unwrap().len(), 30);
    assert_eq!(plan["plan"][0]["action"], "copy_new");
    assert_eq!(
        open(&to).await.get_all().await.unwrap().len(),
        0,
        "a dry run writes nothing"
    );

    let (code, out, _) = run(&["verify", "--from", a, "--to", b], dir.path());
    assert_eq!(code, 1);
    assert!(out.contains("30 missing"), "{out}");

    let (code, out, err) = run(
        &["migrate", "--from", a, "--to", b, "--progress", "none"],
        dir.path(),
    );
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains("secret-1-"), "the report never holds a value");
    let (code, out, _) = run(&["verify", "--from", a, "--to", b], dir.path());
    assert_eq!(
        (code, out.trim()),
        (0, "compared 30: 0 missing, 0 extra, 0 different")
    );

    open(&to)
        .await
        .set(&items[3].0, &SecretValue::new("changed").unwrap())
        .await
        .unwrap();
    let (code, out, _) = run(&["verify", "--json", "--from", a, "--to", b], dir.path());
    assert_eq!(code, 1);
    let d: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(d["different"][0]["namespace"], items[3].0.namespace());
    assert!(!out.contains("changed"));

    let bad = settings_file(dir.path(), "bad.toml", "backend = \"redis\"\n");
    let (code, _, err) = run(
        &["verify", "--from", a, "--to", bad.to_str().unwrap()],
        dir.path(),
    );
    assert_eq!(code, 2);
    assert!(err.contains("backend"), "{err}");
    let (code, _, err) = run(&["migrate", "--from", a, "--to", a], dir.path());
    assert_eq!(code, 2);
    assert!(err.contains("same"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn reconcile_repairs_a_mirror_of_local_and_legacy_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("legacy.db");
    let cfg = settings_file(
        dir.path(),
        "mirror.toml",
        &format!(
            "backend = \"mirror\"\nmirror_primary = \"local\"\nmirror_secondary = \"legacy_sql\"\n\
             data_dir = {:?}\nlegacy_database_url = \"sqlite://{}?mode=rwc\"\n\
             legacy_secret_key = \"SW2YcwTIb9zpOOhoPsMm\"\nlegacy_create_tables = true\n",
            dir.path().join("local").display().to_string(),
            db.display()
        ),
    );
    let items = sample(5);
    {
        let mirror = open(&cfg).await;
        fill(mirror.as_ref(), &items).await;
    }
    // Out-of-band change on the primary only.
    {
        let mut s = Settings::default();
        s.insert(
            "data_dir",
            dir.path().join("local").display().to_string(),
            secrets_broker::config::Source::Flag,
        );
        let primary = LocalStore::open(&LocalConfig::from_settings(&s).unwrap()).unwrap();
        primary
            .set(&items[0].0, &SecretValue::new("rotated").unwrap())
            .await
            .unwrap();
    }
    let c = cfg.to_str().unwrap();
    let (code, out, err) = run(&["--config", c, "reconcile", "--dry-run"], dir.path());
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("different: org 1"), "{err}");
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["repaired"], 0);
    let (code, out, err) = run(&["--config", c, "reconcile"], dir.path());
    assert_eq!(code, 0, "{err}");
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["repaired"], 1);
    let (code, _, _) = run(&["--config", c, "reconcile", "--dry-run"], dir.path());
    assert_eq!(code, 0, "in sync after the repair");
}
