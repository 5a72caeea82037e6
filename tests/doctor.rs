//! `secrets-broker doctor` run as an operator runs it, on real setups: a local store (healthy,
//! then with loose modes and a missing key), the aws backend against the emulator (healthy, the
//! write probe, wrong credentials, an unreachable endpoint), legacy_sql on PostgreSQL (with and
//! without Grafana's tables, a wrong secret_key; skipped with a reason when
//! `BROKER_TEST_POSTGRES_URL` is unset) and a Grafana install rebuilt in a temporary directory
//! (right, then without `use_plugin`, without the unsigned-plugin line, with a non-executable
//! binary and with a bad plugin setting). Each checks the exit status and the finding with its fix.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

#[path = "legacy_support/mod.rs"]
mod legacy_support;

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Output;

use secretsmanager_emulator::Emulator;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_secrets-broker");

/// The doctor's exit code and its JSON report.
struct Report {
    code: Option<i32>,
    json: Value,
    text: String,
}

impl Report {
    fn findings(&self, check: &str) -> Vec<&Value> {
        self.json["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["check"] == check)
            .collect()
    }

    /// The one finding of `check`, which must exist.
    fn finding(&self, check: &str) -> &Value {
        let found = self.findings(check);
        assert_eq!(found.len(), 1, "one {check} finding in {}", self.text);
        found[0]
    }

    fn status(&self, check: &str) -> &str {
        self.finding(check)["status"].as_str().unwrap()
    }

    fn detail(&self, check: &str) -> &str {
        self.finding(check)["detail"].as_str().unwrap()
    }

    fn fix(&self, check: &str) -> &str {
        self.finding(check)["fix"].as_str().unwrap_or("")
    }

    /// Asserts that doctor failed (exit 1) with a `problem` finding of `check`; returns its fix.
    fn problem_fix(&self, check: &str) -> &str {
        assert_eq!(self.code, Some(1), "{}", self.text);
        assert_eq!(self.status(check), "problem", "{}", self.text);
        self.fix(check)
    }
}

/// A command with only the given environment (plus PATH), so that no GF_* or AWS_* variable of
/// the test's own environment leaks in.
fn command(home: &Path, env: &[(&str, &str)], args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new(BIN);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(env.iter().copied())
        .args(args);
    cmd
}

fn doctor(home: &Path, env: &[(&str, &str)], args: &[&str]) -> Report {
    let mut all = vec!["doctor", "--json"];
    all.extend_from_slice(args);
    report(command(home, env, &all).output().unwrap())
}

async fn doctor_async(home: &Path, env: &[(&str, &str)], args: &[&str]) -> Report {
    let mut all = vec!["doctor", "--json"];
    all.extend_from_slice(args);
    let mut cmd = tokio::process::Command::from(command(home, env, &all));
    report(cmd.output().await.unwrap())
}

fn report(out: Output) -> Report {
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let json = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("doctor --json printed no JSON ({e}): {text}"));
    Report {
        code: out.status.code(),
        json,
        text,
    }
}

/// Runs an admin command (e.g. `set`) with `value` on stdin; panics unless it succeeds.
fn admin(home: &Path, env: &[(&str, &str)], args: &[&str], value: &str) {
    use std::io::Write;
    let mut child = command(home, env, args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(value.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn local_store_healthy_then_loose_modes_and_a_lost_key() {
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("store");
    let data_s = data.to_str().unwrap();
    let env = [("GF_PLUGIN_DATA_DIR", data_s)];

    // Before the first start: nothing exists yet, which is fine.
    let r = doctor(home.path(), &env, &[]);
    assert_eq!(r.code, Some(0), "{}", r.text);
    assert_eq!(r.status("local.data_dir"), "ok");
    assert!(!data.exists(), "doctor must not create the data directory");

    admin(home.path(), &env, &["set", "prod db"], "s3cr3t-value");
    let r = doctor(home.path(), &env, &[]);
    assert_eq!(r.code, Some(0), "{}", r.text);
    assert_eq!(r.json["healthy"], true);
    assert_eq!(r.json["problems"], 0);
    for check in ["settings", "local.data_dir", "local.key", "local.store"] {
        assert_eq!(r.status(check), "ok", "{check}: {}", r.text);
    }
    assert!(
        r.detail("local.store")
            .contains("the key decrypts the data"),
        "{}",
        r.text
    );
    assert!(!r.text.contains("s3cr3t-value"));

    // An audit log in a directory that does not exist: every audited call would fail.
    let audit = home.path().join("no-such-dir/audit.log");
    let audit_env = [env[0], ("GF_PLUGIN_AUDIT_LOG", audit.to_str().unwrap())];
    let r = doctor(home.path(), &audit_env, &[]);
    assert!(
        r.problem_fix("audit.file").starts_with("mkdir -p "),
        "{}",
        r.text
    );
    std::fs::create_dir(audit.parent().unwrap()).unwrap();
    let r = doctor(home.path(), &audit_env, &[]);
    assert_eq!(r.code, Some(0), "{}", r.text);
    assert_eq!(r.status("audit.file"), "ok");

    // A data directory others can enter: a problem, with the command, and doctor leaves it.
    chmod(&data, 0o755);
    let r = doctor(home.path(), &env, &[]);
    assert_eq!(r.code, Some(1), "{}", r.text);
    assert_eq!(r.json["healthy"], false);
    assert_eq!(r.status("local.data_dir.mode"), "problem");
    assert_eq!(r.fix("local.data_dir.mode"), format!("chmod 700 {data_s}"));
    assert!(
        r.findings("local.store").is_empty(),
        "not opened: {}",
        r.text
    );
    assert_eq!(mode(&data), 0o755, "doctor changes nothing");
    // The human output says the same.
    let out = command(home.path(), &env, &["doctor"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text.contains("[PROBLEM] data directory")
            && text.contains(&format!("fix: chmod 700 {data_s}")),
        "{text}"
    );
    chmod(&data, 0o700);

    // A key file others can read: the plugin refuses to start; the fix is chmod 600.
    let key = data.join("broker.key");
    chmod(&key, 0o644);
    let r = doctor(home.path(), &env, &[]);
    assert!(
        r.problem_fix("local.key.mode")
            .starts_with(&format!("chmod 600 {}", key.display())),
        "{}",
        r.text
    );
    chmod(&key, 0o600);
    assert_eq!(doctor(home.path(), &env, &[]).code, Some(0));

    // The key lost while the data remains: the plugin would generate a new one and refuse.
    std::fs::rename(&key, home.path().join("key.bak")).unwrap();
    let r = doctor(home.path(), &env, &[]);
    assert!(r.problem_fix("local.key").contains("restore"), "{}", r.text);
    assert!(!key.exists(), "doctor must not generate a key");

    // A wrong key for the data: found by opening the store as the plugin does.
    std::fs::write(&key, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n").unwrap();
    chmod(&key, 0o600);
    let r = doctor(home.path(), &env, &[]);
    assert_eq!(r.code, Some(1), "{}", r.text);
    assert_eq!(r.status("local.store"), "problem");
    assert!(
        r.detail("local.store").contains("does not match"),
        "{}",
        r.text
    );
}

/// The settings that point the aws backend at `endpoint`.
fn aws_env<'a>(endpoint: &'a str, secret: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("GF_PLUGIN_BACKEND", "aws"),
        ("GF_PLUGIN_AWS_ENDPOINT_URL", endpoint),
        ("GF_PLUGIN_AWS_REGION", "eu-west-1"),
        ("GF_PLUGIN_AWS_ACCESS_KEY_ID", "AKIDDOCTORTEST"),
        ("GF_PLUGIN_AWS_SECRET_ACCESS_KEY", secret),
        ("GF_PLUGIN_SECRET_NAME_PREFIX", "grafana-doctor/"),
        ("GF_PLUGIN_AWS_RECOVERY_WINDOW_DAYS", "0"),
    ]
}

const IAM_ACTIONS: &[&str] = &[
    "ListSecrets",
    "GetSecretValue",
    "BatchGetSecretValue",
    "DescribeSecret",
    "PutSecretValue",
    "DeleteSecret",
    "RestoreSecret",
    "TagResource",
];

fn calls(emu: &Emulator) -> BTreeMap<String, u64> {
    serde_json::from_value(emu.faults().stats()["calls"].clone()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_backend_against_the_emulator() {
    let emu = Emulator::builder()
        .in_memory()
        .credentials("AKIDDOCTORTEST", "the-right-secret")
        .start()
        .await
        .unwrap();
    let endpoint = emu.endpoint();
    let home = tempfile::tempdir().unwrap();
    let good = aws_env(&endpoint, "the-right-secret");

    // Healthy, with no secret yet: every action allowed, CreateSecret not checked (a warning).
    let r = doctor_async(home.path(), &good, &[]).await;
    assert_eq!(r.code, Some(0), "{}", r.text);
    for check in [
        "aws.region",
        "aws.credentials",
        "aws.endpoint",
        "aws.credentials.accepted",
    ] {
        assert_eq!(r.status(check), "ok", "{check}: {}", r.text);
    }
    for action in IAM_ACTIONS {
        assert_eq!(
            r.status(&format!("aws.iam.{action}")),
            "ok",
            "{action}: {}",
            r.text
        );
    }
    assert_eq!(r.status("aws.iam.CreateSecret"), "warning");
    assert!(r.fix("aws.iam.CreateSecret").contains("--write-probe"));
    assert!(!r.text.contains("the-right-secret"), "{}", r.text);
    // Nothing was written.
    assert_eq!(calls(&emu).get("CreateSecret"), None);

    // A broker secret exists: the KMS check decrypts it without showing it.
    let h = home.path().to_path_buf();
    let env_owned: Vec<(String, String)> = good
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let env: Vec<(&str, &str)> = env_owned
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        admin(&h, &env, &["set", "prod db"], "kms-check-value-9");
    })
    .await
    .unwrap();
    let r = doctor_async(home.path(), &good, &[]).await;
    assert_eq!(r.code, Some(0), "{}", r.text);
    assert_eq!(r.status("aws.kms"), "ok", "{}", r.text);
    assert!(!r.text.contains("kms-check-value-9"), "{}", r.text);

    // The write probe creates one secret and force-deletes it.
    let before = calls(&emu);
    let r = doctor_async(home.path(), &good, &["--write-probe"]).await;
    assert_eq!(r.code, Some(0), "{}", r.text);
    assert_eq!(r.status("aws.iam.CreateSecret"), "ok", "{}", r.text);
    let after = calls(&emu);
    let delta = |op: &str| after.get(op).unwrap_or(&0) - before.get(op).unwrap_or(&0);
    assert_eq!(delta("CreateSecret"), 1);
    assert!(delta("DeleteSecret") >= 1);

    // Wrong secret key: the credentials are named as the problem, and the IAM probes skipped.
    let bad = aws_env(&endpoint, "a-wrong-secret");
    let r = doctor_async(home.path(), &bad, &[]).await;
    assert_eq!(r.code, Some(1), "{}", r.text);
    assert_eq!(
        r.status("aws.credentials.accepted"),
        "problem",
        "{}",
        r.text
    );
    assert!(r
        .fix("aws.credentials.accepted")
        .contains("aws_secret_access_key"));
    assert!(r.findings("aws.iam.GetSecretValue").is_empty());
    assert!(!r.text.contains("a-wrong-secret"), "{}", r.text);

    // No region anywhere: a region problem with the ini line.
    let mut no_region = good.clone();
    no_region.retain(|(k, _)| *k != "GF_PLUGIN_AWS_REGION");
    let r = doctor_async(home.path(), &no_region, &[]).await;
    assert!(r.problem_fix("aws.region").starts_with("aws_region = "));

    // Nothing listens at the endpoint: a reachability problem.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let r = doctor_async(home.path(), &aws_env(&closed, "x"), &[]).await;
    assert_eq!(r.code, Some(1), "{}", r.text);
    assert_eq!(r.status("aws.endpoint"), "problem", "{}", r.text);
    assert!(r.fix("aws.endpoint").contains("aws_endpoint_url"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_sql_on_postgres_with_and_without_grafanas_tables() {
    let Some(db) = legacy_support::server_db(legacy_support::Server::Postgres).await else {
        return; // the helper printed why
    };
    let home = tempfile::tempdir().unwrap();
    let url = db.url.clone();
    let env = [
        ("GF_PLUGIN_BACKEND", "legacy_sql"),
        ("GF_PLUGIN_LEGACY_DATABASE_URL", url.as_str()),
        ("GF_PLUGIN_LEGACY_SECRET_KEY", "SW2YcwTIb9zpOOhoPsMm"),
    ];
    // A database without Grafana's tables.
    let r = doctor_async(home.path(), &env, &[]).await;
    assert_eq!(r.code, Some(1), "{}", r.text);
    assert_eq!(r.status("legacy_sql.connect"), "ok", "{}", r.text);
    assert_eq!(r.status("legacy_sql.schema.secrets"), "problem");
    assert!(r
        .detail("legacy_sql.schema.secrets")
        .contains("does not exist"));

    // Grafana's tables (created by the backend's DDL, Grafana's column types) and one secret, a
    // data source's secure JSON as Grafana stores it.
    let h = home.path().to_path_buf();
    let u = url.clone();
    tokio::task::spawn_blocking(move || {
        let env = [
            ("GF_PLUGIN_BACKEND", "legacy_sql"),
            ("GF_PLUGIN_LEGACY_DATABASE_URL", u.as_str()),
            ("GF_PLUGIN_LEGACY_SECRET_KEY", "SW2YcwTIb9zpOOhoPsMm"),
            ("GF_PLUGIN_LEGACY_CREATE_TABLES", "true"),
        ];
        admin(
            &h,
            &env,
            &["set", "prod db"],
            r#"{"password":"pg-value-7"}"#,
        );
    })
    .await
    .unwrap();
    let r = doctor_async(home.path(), &env, &[]).await;
    assert_eq!(r.code, Some(0), "{}", r.text);
    for check in [
        "legacy_sql.schema.secrets",
        "legacy_sql.schema.data_keys",
        "legacy_sql.secret_key",
    ] {
        assert_eq!(r.status(check), "ok", "{check}: {}", r.text);
    }
    // Another Grafana's secret_key does not decrypt the rows.
    let wrong = [
        env[0],
        env[1],
        ("GF_PLUGIN_LEGACY_SECRET_KEY", "not-this-grafanas-key"),
    ];
    let r = doctor_async(home.path(), &wrong, &[]).await;
    assert_eq!(r.code, Some(1), "{}", r.text);
    assert_eq!(r.status("legacy_sql.secret_key"), "problem");
    assert!(!r.text.contains("pg-value-7"));
    // A database that cannot be reached.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("postgres://postgres@{}/test", l.local_addr().unwrap())
    };
    let unreachable = [
        env[0],
        ("GF_PLUGIN_LEGACY_DATABASE_URL", closed.as_str()),
        env[2],
    ];
    let r = doctor_async(home.path(), &unreachable, &[]).await;
    assert_eq!(r.code, Some(1), "{}", r.text);
    assert_eq!(r.status("legacy_sql.connect"), "problem");
    db.drop_db().await;
}

/// The name of the account running the test (for --grafana-user).
fn my_account() -> String {
    let uid = std::fs::metadata("/proc/self").unwrap().uid();
    std::fs::read_to_string("/etc/passwd")
        .unwrap()
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.get(2) == Some(&uid.to_string().as_str())).then(|| f[0].to_string())
        })
        .unwrap()
}

const RIGHT_INI: &str = "[secrets]\nuse_plugin = true\n\n[plugins]\nallow_loading_unsigned_plugins = some-other-plugin, secretsbroker-secretsmanager\n\n[plugin.secretsbroker-secretsmanager]\nbackend = local\nlog_level = info\n";

#[test]
fn grafana_install_right_and_each_way_wrong() {
    let home = tempfile::tempdir().unwrap();
    let grafana = home.path().join("grafana");
    let folder = grafana.join("plugins/secretsbroker-secretsmanager");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::create_dir_all(grafana.join("conf")).unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::copy(repo.join("plugin.json"), folder.join("plugin.json")).unwrap();
    let arch = match std::env::consts::ARCH {
        "aarch64" => "arm64",
        _ => "amd64",
    };
    let exe = folder.join(format!("secrets_plugin_start_linux_{arch}"));
    std::fs::copy(BIN, &exe).unwrap();
    chmod(&exe, 0o755);
    let data = home.path().join("data");
    let ini = grafana.join("conf/custom.ini");
    let write_ini = |text: &str| {
        std::fs::write(&ini, format!("{text}data_dir = {}\n", data.display())).unwrap()
    };
    let user = my_account();
    let grafana_s = grafana.to_str().unwrap();
    let args = ["--grafana-home", grafana_s, "--grafana-user", user.as_str()];

    write_ini(RIGHT_INI);
    let r = doctor(home.path(), &[], &args);
    assert_eq!(r.code, Some(0), "{}", r.text);
    for check in [
        "grafana.config",
        "grafana.use_plugin",
        "grafana.unsigned",
        "grafana.plugins_dir",
        "grafana.plugin_json",
        "grafana.executable",
        "settings",
        "local.data_dir",
    ] {
        assert_eq!(r.status(check), "ok", "{check}: {}", r.text);
    }

    // Without data_dir: the directory the installed plugin would choose, beside its plugins
    // directory (Grafana's data directory), not the one doctor's own location would give.
    std::fs::write(&ini, RIGHT_INI).unwrap();
    let r = doctor(home.path(), &[], &args);
    assert_eq!(r.code, Some(0), "{}", r.text);
    let chosen = grafana.canonicalize().unwrap().join("secrets-broker");
    assert!(
        r.detail("settings.data_dir")
            .ends_with(&format!("uses {}", chosen.display())),
        "{}",
        r.text
    );
    assert_eq!(
        r.finding("local.data_dir")["subject"],
        format!("data directory {}", chosen.display())
    );

    // Without `use_plugin`.
    write_ini(&RIGHT_INI.replace("use_plugin = true\n", ""));
    let r = doctor(home.path(), &[], &args);
    assert_eq!(
        r.problem_fix("grafana.use_plugin"),
        format!("in {}, section [secrets]: use_plugin = true", ini.display())
    );

    // Without the unsigned-plugin line: the fix keeps the other plugin listed.
    write_ini(&RIGHT_INI.replace(", secretsbroker-secretsmanager", ""));
    let r = doctor(home.path(), &[], &args);
    assert_eq!(r.problem_fix("grafana.unsigned"),
        format!(
            "in {}, section [plugins]: allow_loading_unsigned_plugins = some-other-plugin,secretsbroker-secretsmanager",
            ini.display()
        )
    );

    // A bad plugin setting: the message the plugin would log, and where to correct it.
    write_ini(&format!("{RIGHT_INI}fsync = sometimes\n"));
    let r = doctor(home.path(), &[], &args);
    assert_eq!(r.code, Some(1), "{}", r.text);
    let f = r.finding("settings");
    assert_eq!(f["status"], "problem");
    assert!(
        f["detail"].as_str().unwrap().contains(
            "invalid setting `fsync` (from environment variable GF_PLUGIN_FSYNC): expected true or false"
        ),
        "{}",
        r.text
    );
    assert!(r
        .fix("settings")
        .contains("[plugin.secretsbroker-secretsmanager]"));

    // A binary Grafana cannot execute.
    write_ini(RIGHT_INI);
    chmod(&exe, 0o644);
    let r = doctor(home.path(), &[], &args);
    assert_eq!(
        r.problem_fix("grafana.executable.mode"),
        format!("chmod 755 {}", exe.display())
    );

    // No plugin folder at all.
    std::fs::remove_dir_all(&folder).unwrap();
    let r = doctor(home.path(), &[], &args);
    assert!(r
        .problem_fix("grafana.plugin")
        .contains("plugins install secretsbroker-secretsmanager"));
}
