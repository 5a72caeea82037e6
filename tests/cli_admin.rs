//! The admin commands and `serve` through the real binary, on the local backend in a temp dir.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use secrets_broker::server::auth::{BearerAuth, BearerToken};
use secrets_broker::server::proto::secretsmanager as pb;
use secrets_broker::server::proto::secretsmanager::secrets_manager_client::SecretsManagerClient;

const BIN: &str = env!("CARGO_BIN_EXE_secrets-broker");

fn broker(data: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("GF_") || k.starts_with("PLUGIN_") || k == "grafana_plugin_type" {
            cmd.env_remove(k);
        }
    }
    cmd.arg("--data-dir").arg(data);
    cmd
}

fn run(mut cmd: Command, stdin: Option<&str>) -> Output {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(s) = stdin {
        input.write_all(s.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

/// Runs without input; the exit code and everything printed (stdout, then stderr).
fn run_for_text(cmd: Command) -> (Option<i32>, String) {
    let out = run(cmd, None);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

fn ok(cmd: Command, stdin: Option<&str>) -> String {
    let out = run(cmd, stdin);
    assert!(
        out.status.success(),
        "{:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn with(data: &Path, args: &[&str]) -> Command {
    let mut c = broker(data);
    c.args(args);
    c
}

#[test]
fn admin_commands_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let d = data.as_path();
    // set from stdin (one trailing newline dropped), from a file, in another org.
    ok(
        with(d, &["set", "prod db"]),
        Some("{\"password\":\"s3cr3t-value\"}\n"),
    );
    let file = dir.path().join("v.json");
    std::fs::write(&file, "from-file").unwrap();
    ok(
        with(
            d,
            &[
                "set",
                "team/ds",
                "--org",
                "2",
                "--value-file",
                file.to_str().unwrap(),
            ],
        ),
        None,
    );
    ok(with(d, &["set", "prod db", "--org", "3"]), Some("org3"));
    assert_eq!(
        ok(with(d, &["get", "prod db"]), None),
        "{\"password\":\"s3cr3t-value\"}\n"
    );
    assert_eq!(
        ok(with(d, &["get", "team/ds", "--org", "2"]), None),
        "from-file\n"
    );
    // list: one org, then all orgs.
    assert_eq!(
        ok(with(d, &["list", "prod db"]), None),
        "1\tprod db\tdatasource\n"
    );
    assert_eq!(
        ok(with(d, &["list", "prod db", "--all-orgs"]), None),
        "1\tprod db\tdatasource\n3\tprod db\tdatasource\n"
    );
    // export: no values unless asked.
    let plain: serde_json::Value = serde_json::from_str(&ok(with(d, &["export"]), None)).unwrap();
    let rows = plain.as_array().unwrap();
    assert_eq!(rows.len(), 3);
    assert!(rows
        .iter()
        .all(|r| r.get("value").is_none() && r["sha256"].is_string()));
    assert!(!plain.to_string().contains("s3cr3t"));
    let full: serde_json::Value =
        serde_json::from_str(&ok(with(d, &["export", "--include-values"]), None)).unwrap();
    assert!(full
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["value"] == "{\"password\":\"s3cr3t-value\"}" && r["orgId"] == 1));
    // rename, delete, get of a missing key fails with exit 1.
    ok(with(d, &["rename", "prod db", "renamed db"]), None);
    assert_eq!(
        ok(with(d, &["get", "renamed db"]), None),
        "{\"password\":\"s3cr3t-value\"}\n"
    );
    ok(with(d, &["delete", "renamed db"]), None);
    ok(with(d, &["delete", "renamed db"]), None);
    let out = run(with(d, &["get", "renamed db"]), None);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no secret stored"));
}

#[cfg(unix)]
#[test]
fn export_to_a_file_is_private_also_over_an_existing_open_file() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let d = data.as_path();
    ok(with(d, &["set", "prod db"]), Some("export-canary-value"));
    // An existing file readable by everyone (a previous export, or made by hand).
    let out = dir.path().join("export.json");
    std::fs::write(&out, "old contents").unwrap();
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o644)).unwrap();
    ok(
        with(
            d,
            &["export", "--include-values", "-o", out.to_str().unwrap()],
        ),
        None,
    );
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains("export-canary-value"), "{text}");
    assert_eq!(mode(&out), 0o600, "the export kept the old file's mode");
    // Without values it still holds digests: private too, and a missing directory is made 0700.
    let nested = dir.path().join("exports").join("digests.json");
    ok(with(d, &["export", "-o", nested.to_str().unwrap()]), None);
    assert_eq!(mode(&nested), 0o600);
    assert_eq!(mode(nested.parent().unwrap()), 0o700);
    // Nothing else was left in the directory (no temporary file).
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
}

/// A TCP server that accepts connections and closes them at once (a database that hangs up),
/// counting them.
fn hang_up_server() -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = accepted.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(conn);
        }
    });
    (port, accepted)
}

#[test]
fn database_passwords_never_reach_output_or_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (port, accepted) = hang_up_server();
    // Unencoded `/`, `?`, `#` and `@` in the user-info password, the password as a query
    // parameter (PostgreSQL and MySQL), a misspelt parameter sqlx does not know (it logs such
    // parameters with their value), and a query password holding an unencoded `&`.
    let cases = [
        (
            format!("postgres://grafana:pw/Leak1@127.0.0.1:{port}/grafana"),
            "Leak1",
        ),
        (
            format!("postgres://grafana:pw?Leak2@127.0.0.1:{port}/grafana"),
            "Leak2",
        ),
        (
            format!("postgres://grafana:pw#Leak3@127.0.0.1:{port}/grafana"),
            "Leak3",
        ),
        (
            format!("postgres://grafana:pw:/?#Leak4@127.0.0.1:{port}/grafana"),
            "Leak4",
        ),
        (
            format!("postgres://grafana@127.0.0.1:{port}/grafana?password=Leak5&sslmode=disable"),
            "Leak5",
        ),
        (
            format!("postgres://grafana@127.0.0.1:{port}/grafana?sslmode=disable&passwd=Leak6"),
            "Leak6",
        ),
        (
            format!(
                "postgres://grafana@127.0.0.1:{port}/grafana?sslmode=disable&password=pw&Leak7"
            ),
            "Leak7",
        ),
        (
            format!("mysql://root@127.0.0.1:{port}/grafana?password=Leak8"),
            "Leak8",
        ),
        (
            format!("mysql://root:pw/Leak9@127.0.0.1:{port}/grafana"),
            "Leak9",
        ),
    ];
    for (url, secret) in &cases {
        // As a broker setting, and as Grafana's own [database] url in a grafana.ini.
        let ini = dir.path().join("grafana.ini");
        std::fs::write(&ini, format!("[database]\nurl = {url}\n")).unwrap();
        let mut settings = vec![format!("legacy_database_url={url}")];
        // (An ini line may end at `#`, which would leave another URL than the one tested.)
        if !url.contains('#') {
            settings.push(format!("legacy_grafana_ini={}", ini.display()));
        }
        for setting in settings {
            let mut cmd = Command::new(BIN);
            for (k, _) in std::env::vars() {
                if k.starts_with("GF_") || k.starts_with("PLUGIN_") {
                    cmd.env_remove(k);
                }
            }
            cmd.args(["--backend", "legacy_sql", "--log-level", "debug"])
                .args(["--set", &setting, "--set", "legacy_secret_key=sk"])
                .args(["list", "prometheus"]);
            let (code, text) = run_for_text(cmd);
            assert_eq!(code, Some(1), "{url}: {text}");
            assert!(text.contains("legacy_sql"), "{url}: {text}");
            assert!(
                !text.contains(secret),
                "{setting}: the password leaked: {text}"
            );
        }
    }
    // On a real server the URL (with a `?password=` parameter) reaches the message about a
    // missing table: a search_path without Grafana's tables.
    match std::env::var("BROKER_TEST_POSTGRES_URL") {
        Err(_) => eprintln!("skipped the PostgreSQL case: BROKER_TEST_POSTGRES_URL is not set"),
        Ok(base) => {
            let sep = if base.contains('?') { '&' } else { '?' };
            let url =
                format!("{base}{sep}password=Leak10&options[search_path]=no_grafana_tables_here");
            let mut cmd = Command::new(BIN);
            cmd.args(["--backend", "legacy_sql", "--log-level", "debug"])
                .args(["--set", &format!("legacy_database_url={url}")])
                .args(["--set", "legacy_secret_key=sk", "list", "prometheus"]);
            let (code, text) = run_for_text(cmd);
            assert_eq!(code, Some(1), "{text}");
            assert!(text.contains("does not exist in"), "{text}");
            assert!(!text.contains("Leak10"), "the password leaked: {text}");
        }
    }
    // The URLs that parse (4, each given two ways) really reached the (hanging-up) database.
    assert!(
        accepted.load(std::sync::atomic::Ordering::SeqCst) >= 8,
        "{} connections",
        accepted.load(std::sync::atomic::Ordering::SeqCst)
    );
}

#[test]
fn bad_input_and_bad_settings_exit_1_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = run(with(d, &["set", "ds", "--org", "-1"]), Some("v"));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("negative"));
    let out = run(with(d, &["set", "ds"]), Some(&"x".repeat(70_000)));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("65536"));
    let out = run(with(d, &["--set", "log_level=loud", "get", "ds"]), None);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("log_level"));
    // A settings file is read; a bad value in it names the key and the file.
    let cfg = d.join("broker.toml");
    std::fs::write(&cfg, "backend = \"nope\"\n").unwrap();
    let out = run(
        with(d, &["--config", cfg.to_str().unwrap(), "list", "x"]),
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        err.contains("backend") && err.contains("broker.toml"),
        "{err}"
    );
}

/// Where a started `serve` listens and the token it requires (read from the file it announced).
struct Served {
    addr: String,
    token: BearerToken,
}

/// Starts `serve` on a free loopback port; returns it and what it announced.
fn spawn_serve(dir: &Path) -> (std::process::Child, Served) {
    spawn_serve_with(dir, &[])
}

/// Starts `serve` with the global flags `global` on a free loopback port.
fn spawn_serve_with(dir: &Path, global: &[&str]) -> (std::process::Child, Served) {
    let mut cmd = broker(dir);
    cmd.args(global).args(["serve", "--listen", "127.0.0.1:0"]);
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::null())
        .stdin(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut announced = |prefix: &str| {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        line.trim()
            .strip_prefix(prefix)
            .unwrap_or_else(|| panic!("{line:?}"))
            .to_string()
    };
    let addr = announced("listening on ");
    let token = BearerToken::load(Path::new(&announced("token file "))).unwrap();
    (child, Served { addr, token })
}

/// Sends `sig` (e.g. `-TERM`) and asserts that `serve` exits successfully within 3 s.
fn signal_and_expect_clean_exit(child: &mut std::process::Child, sig: &str) {
    assert!(Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{status:?}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "serve did not stop");
        std::thread::sleep(Duration::from_millis(10));
    }
}

type Client = SecretsManagerClient<
    tonic::service::interceptor::InterceptedService<tonic::transport::Channel, BearerAuth>,
>;

/// A client of `served` that sends its bearer token.
async fn client(served: &Served) -> Client {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", served.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    SecretsManagerClient::with_interceptor(channel, BearerAuth::new(&served.token))
}

fn grpc_key(ns: &str) -> Option<pb::Key> {
    Some(pb::Key {
        org_id: 1,
        namespace: ns.into(),
        r#type: "datasource".into(),
    })
}

/// SetSecret; its `userFriendlyError` must be empty.
async fn grpc_set(c: &mut Client, ns: &str, value: &str) {
    let r = c
        .set_secret(pb::SetSecretRequest {
            key_descriptor: grpc_key(ns),
            value: value.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.user_friendly_error, "");
}

/// GetSecret: the value, `None` when it does not exist.
async fn grpc_get(c: &mut Client, ns: &str) -> Option<String> {
    let r = c
        .get_secret(pb::GetSecretRequest {
            key_descriptor: grpc_key(ns),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.user_friendly_error, "");
    r.exists.then_some(r.decrypted_value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_answers_grpc_on_tcp_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr) = spawn_serve(dir.path());
    let mut c = client(&addr).await;
    grpc_set(&mut c, "ds", "v").await;
    assert_eq!(grpc_get(&mut c, "ds").await.as_deref(), Some("v"));
    signal_and_expect_clean_exit(&mut child, "-TERM");
}

/// `serve --backend memory`: set, get, list, rename and delete through gRPC; nothing is written
/// to the data directory, and a restarted broker starts empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_on_the_memory_backend() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut child, addr) = spawn_serve_with(&data, &["--backend", "memory"]);
    let mut c = client(&addr).await;
    let value = "{\"password\":\"p\"}";
    grpc_set(&mut c, "db", value).await;
    assert_eq!(grpc_get(&mut c, "db").await.as_deref(), Some(value));
    let r = c
        .rename_secret(pb::RenameSecretRequest {
            key_descriptor: grpc_key("db"),
            new_namespace: "db2".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.user_friendly_error, "");
    let r = c
        .list_secrets(pb::ListSecretsRequest {
            key_descriptor: grpc_key("db2"),
            all_organizations: false,
        })
        .await
        .unwrap()
        .into_inner();
    let listed: Vec<_> = r.keys.iter().map(|k| k.namespace.as_str()).collect();
    assert_eq!(listed, ["db2"]);
    assert_eq!(
        grpc_get(&mut c, "db").await,
        None,
        "the rename left its source"
    );
    assert_eq!(grpc_get(&mut c, "db2").await.as_deref(), Some(value));
    c.delete_secret(pb::DeleteSecretRequest {
        key_descriptor: grpc_key("db2"),
    })
    .await
    .unwrap();
    let r = c
        .get_all_secrets(pb::GetAllSecretsRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(r.items.is_empty(), "{} left after delete", r.items.len());
    // Kept until exit, and only in memory.
    grpc_set(&mut c, "kept", "v").await;
    signal_and_expect_clean_exit(&mut child, "-TERM");
    assert!(
        !data.exists(),
        "the memory backend wrote to the data directory"
    );
    let (mut child, addr) = spawn_serve_with(&data, &["--backend", "memory"]);
    let mut c = client(&addr).await;
    assert_eq!(
        grpc_get(&mut c, "kept").await,
        None,
        "a new process starts empty"
    );
    signal_and_expect_clean_exit(&mut child, "-TERM");
}

/// Ctrl-C right after `serve` has announced its address is a clean stop, not the default
/// SIGINT action: the handlers are in place before the address is printed.
#[test]
fn serve_stops_cleanly_on_sigint_right_after_announcing() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, _) = spawn_serve(dir.path());
    signal_and_expect_clean_exit(&mut child, "-INT");
}

#[test]
fn serve_refuses_a_non_loopback_address_without_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(with(dir.path(), &["serve", "--listen", "0.0.0.0:0"]), None);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--allow-remote"));
}
