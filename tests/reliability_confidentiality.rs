//! Reliability suite, confidentiality (see RELIABILITY.md):
//! - a full session of every component at trace level (the `sm-emulator` binary, the plugin on
//!   the local backend, the plugin on the aws backend against that emulator, the admin CLI, and a
//!   `migrate` local -> aws) leaves no secret value and no AWS secret key in any log, error,
//!   report, panic message or the emulator's stats (its metrics), and no plaintext value in the
//!   local store's files;
//! - the plugin's Unix socket is not reachable by another user (modes, and a real connection
//!   attempt as `nobody` through `setpriv`, with a control socket proving the probe can succeed);
//! - AutoMTLS refuses clients with the wrong certificate.
//!
//! SigV4 refusals and the loopback default of the emulator are in
//! `emulator/tests/reliability_emulator.rs`.
#![allow(clippy::unwrap_used)]

#[path = "common/mod.rs"]
mod common;
#[path = "plugin_support/mod.rs"]
mod plugin_support;

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::files_containing;
use plugin_support::{
    assert_only_the_host_certificate_answers, delete, get, get_all, get_key, go_plugin_style_cert,
    grafana_command, key, launch, launch_fresh, list, rename, set, set_key, Client, Plugin,
};

const BIN: &str = env!("CARGO_BIN_EXE_secrets-broker");
const CANARY: &str = "Cnf-9d1e-CANARY";
const AWS_SECRET: &str = "confidential-aws-secret-access-key-77";

/// The `sm-emulator` binary next to ours (another package's binary: built on demand).
fn emulator_binary() -> PathBuf {
    let path = Path::new(BIN).with_file_name("sm-emulator");
    if !path.exists() {
        let ok = Command::new(env!("CARGO"))
            .args([
                "build",
                "-p",
                "secretsmanager-emulator",
                "--bin",
                "sm-emulator",
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok && path.exists(),
            "could not build sm-emulator ({})",
            path.display()
        );
    }
    path
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Every RPC once, with values carrying the canary, plus the error paths that echo input.
async fn six_rpc_session(c: &mut Client, tag: &str) -> usize {
    let value = format!("{{\"password\":\"{CANARY}-{tag}\"}}");
    let mut in_band = 0;
    assert_eq!(set(c, 1, "conf-ds", &value).await, "", "{tag}");
    let g = get(c, 1, "conf-ds").await;
    assert_eq!(g.decrypted_value, value, "{tag}");
    // Errors that could echo a value: too large, bad key with a value.
    let huge = CANARY.repeat(70_000 / CANARY.len() + 1);
    for (k, v) in [
        (key(1, "conf-ds", "datasource"), huge),
        (key(-1, "", "datasource"), value.clone()),
        (None, value.clone()),
    ] {
        let r = set_key(c, k, &v).await;
        assert!(
            !r.user_friendly_error.is_empty(),
            "{tag}: bad input accepted"
        );
        assert!(
            !r.user_friendly_error.contains(CANARY),
            "{tag}: error echoes the value"
        );
        in_band += 1;
    }
    list(c, 1, "conf-ds", true).await;
    let r = rename(c, 1, "conf-ds", "conf-ds-2").await;
    assert_eq!(r.user_friendly_error, "", "{tag}");
    let all = get_all(c).await;
    assert!(all.items.iter().any(|i| i.value == value), "{tag}");
    let r = delete(c, 1, "conf-ds-2").await;
    assert_eq!(r.user_friendly_error, "", "{tag}");
    // Leave one value behind for the store-file check.
    set(c, 2, "kept", &value).await;
    in_band
}

async fn stop(mut plugin: Plugin) -> Vec<String> {
    let ch = plugin.channel().await;
    let (_, status) = plugin.shutdown(ch).await;
    assert!(status.success());
    plugin.stderr_lines()
}

fn cli(args: &[&str], stdin: Option<&str>, cwd: &Path) -> (i32, String, String) {
    let mut cmd = Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("GF_") {
            cmd.env_remove(k);
        }
    }
    let mut child = cmd
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(s) = stdin {
        child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_session_of_every_component_leaks_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let sockets = tempfile::tempdir().unwrap();
    let mut transcripts: Vec<(String, String)> = Vec::new();

    // The emulator binary at trace level, logs to files.
    let port = free_port();
    let emu_dir = dir.path().join("emu-data");
    let emu_log = std::fs::File::create(dir.path().join("emu.log")).unwrap();
    let mut emu = Command::new(emulator_binary())
        .args([
            "--data-dir",
            emu_dir.to_str().unwrap(),
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .env("RUST_LOG", "trace")
        .stdout(emu_log.try_clone().unwrap())
        .stderr(emu_log)
        .spawn()
        .unwrap();
    let endpoint = format!("http://127.0.0.1:{port}");
    for _ in 0..400 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }

    // 1. Plugin, local backend.
    let local_data = dir.path().join("plugin-local");
    std::fs::create_dir_all(&local_data).unwrap();
    let plugin = launch(grafana_command(
        &local_data,
        sockets.path(),
        &[("GF_PLUGIN_LOG_LEVEL", "trace")],
    ));
    let mut c = plugin.client().await;
    let mut in_band = six_rpc_session(&mut c, "local").await;
    drop(c);
    transcripts.push(("plugin(local) stderr".into(), stop(plugin).await.join("\n")));

    // 2. Plugin, aws backend -> the emulator.
    let aws_settings = [
        ("GF_PLUGIN_LOG_LEVEL", "trace"),
        ("GF_PLUGIN_BACKEND", "aws"),
        ("GF_PLUGIN_AWS_ENDPOINT_URL", endpoint.as_str()),
        ("GF_PLUGIN_AWS_REGION", "us-east-1"),
        ("GF_PLUGIN_AWS_ACCESS_KEY_ID", "AKIDCONFIDENTIAL"),
        ("GF_PLUGIN_AWS_SECRET_ACCESS_KEY", AWS_SECRET),
        ("GF_PLUGIN_AWS_RECOVERY_WINDOW_DAYS", "0"),
    ];
    let aws_data = dir.path().join("plugin-aws");
    std::fs::create_dir_all(&aws_data).unwrap();
    let plugin = launch(grafana_command(&aws_data, sockets.path(), &aws_settings));
    let mut c = plugin.client().await;
    in_band += six_rpc_session(&mut c, "aws").await;
    drop(c);
    transcripts.push(("plugin(aws) stderr".into(), stop(plugin).await.join("\n")));

    // 3. The admin CLI on a local store, at trace level.
    let cli_data = dir.path().join("cli-data");
    let d = cli_data.to_str().unwrap();
    let common = ["--data-dir", d, "--log-level", "trace"];
    let value = format!("{{\"password\":\"{CANARY}-cli\"}}");
    let steps: Vec<(Vec<&str>, Option<&str>, bool)> = vec![
        (vec!["set", "cli-ds"], Some(value.as_str()), false),
        (vec!["get", "cli-ds"], None, true), // prints the value on stdout: that is its job
        (vec!["list", "cli-ds"], None, false),
        (vec!["export"], None, false),
        (vec!["rename", "cli-ds", "cli-ds-2"], None, false),
        (vec!["get", "no-such"], None, false),
        (
            vec!["set", "cli-ds-3", "--org", "-4"],
            Some(value.as_str()),
            false,
        ),
    ];
    for (args, stdin, stdout_may_hold_value) in steps {
        let mut a = args.clone();
        a.extend_from_slice(&common);
        let (code, out, err) = cli(&a, stdin, dir.path());
        let what = format!("cli {}", args.join(" "));
        if !stdout_may_hold_value {
            transcripts.push((format!("{what} stdout (exit {code})"), out));
        } else {
            assert!(out.contains(CANARY), "{what}: get must print the value");
        }
        transcripts.push((format!("{what} stderr (exit {code})"), err));
    }

    // 4. migrate: the CLI store -> the emulator, at trace level, with a JSON report.
    let from = dir.path().join("from.toml");
    std::fs::write(&from, format!("backend = \"local\"\ndata_dir = {:?}\n", d)).unwrap();
    let to = dir.path().join("to.toml");
    std::fs::write(&to, format!("backend = \"aws\"\naws_endpoint_url = {endpoint:?}\naws_region = \"us-east-1\"\naws_access_key_id = \"AKIDCONFIDENTIAL\"\naws_secret_access_key = {AWS_SECRET:?}\nsecret_name_prefix = \"migrated/\"\n")).unwrap();
    let report = dir.path().join("report.json");
    // migrate, then verify, between the same two stores at trace level.
    let stores = [
        "--from",
        from.to_str().unwrap(),
        "--to",
        to.to_str().unwrap(),
        "--log-level",
        "trace",
    ];
    let migrate = [
        "migrate",
        "--progress",
        "plain",
        "--report",
        report.to_str().unwrap(),
    ];
    let (code, out, err) = cli(&[&migrate[..], &stores].concat(), None, dir.path());
    assert_eq!(code, 0, "{err}");
    transcripts.push(("migrate stdout".into(), out));
    transcripts.push(("migrate stderr".into(), err));
    transcripts.push((
        "migrate report".into(),
        std::fs::read_to_string(&report).unwrap(),
    ));
    let (code, out, err) = cli(&[&["verify"][..], &stores].concat(), None, dir.path());
    assert_eq!(code, 0, "{out}{err}");
    transcripts.push(("verify".into(), out + &err));

    // The emulator's metrics, then its log.
    let stats = {
        use std::io::Read as _;
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(
            s,
            "GET /_emulator/stats HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
        )
        .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        text
    };
    assert!(stats.contains("\"calls\""), "{stats}");
    transcripts.push(("emulator stats".into(), stats));
    let _ = emu.kill();
    let _ = emu.wait();
    transcripts.push((
        "emulator log".into(),
        std::fs::read_to_string(dir.path().join("emu.log")).unwrap(),
    ));

    let mut bytes = 0usize;
    for (what, text) in &transcripts {
        bytes += text.len();
        assert!(!text.contains(CANARY), "a secret value leaked into: {what}");
        assert!(
            !text.contains(AWS_SECRET),
            "the AWS secret key leaked into: {what}"
        );
        assert!(!text.contains("panicked"), "a panic in: {what}: {text}");
    }
    // The logs are real: trace lines were written (else the test could not fail).
    let plugin_log = &transcripts[0].1;
    assert!(
        plugin_log.contains("\"@level\":\"trace\""),
        "no trace lines from the plugin"
    );
    assert!(
        transcripts
            .iter()
            .any(|(w, t)| w == "emulator log" && (t.contains("TRACE") || t.contains("DEBUG"))),
        "no debug/trace lines from the emulator"
    );
    // No plaintext value in the local stores' files.
    for d in [&local_data, &cli_data] {
        let hits = files_containing(d, CANARY.as_bytes());
        assert!(hits.is_empty(), "plaintext value on disk: {hits:?}");
    }
    assert!(
        !files_containing(&cli_data, b"password")
            .iter()
            .any(|_| true),
        "plaintext JSON on disk"
    );
    // The emulator stores AWS's model (plaintext, as AWS itself returns it): report, not assert.
    let emu_hits = files_containing(&emu_dir, CANARY.as_bytes()).len();
    eprintln!(
        "FIGURES confidentiality transcripts={} bytes_scanned={bytes} in_band_errors_checked={in_band} leaks=0 emulator_data_files_with_plaintext={emu_hits}",
        transcripts.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plugin_socket_is_not_reachable_by_other_users() {
    let data = tempfile::tempdir().unwrap();
    // A socket parent like /tmp: world-writable and sticky, so only the plugin's own modes protect it.
    let parent = tempfile::tempdir().unwrap();
    std::fs::set_permissions(parent.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
    let plugin = launch(grafana_command(data.path(), parent.path(), &[]));
    let sock = PathBuf::from(&plugin.handshake.address);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode(sock.parent().unwrap()), 0o700, "socket directory mode");
    assert_eq!(mode(&sock) & 0o077, 0, "socket mode {:o}", mode(&sock));
    // Our user can connect.
    let mut c = plugin.client().await;
    get_key(&mut c, key(1, "x", "datasource")).await;

    let is_root = std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false);
    let probe = |path: &Path| -> Option<bool> {
        let out = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-c"])
            .arg("import socket,sys\ns=socket.socket(socket.AF_UNIX)\ntry:\n s.connect(sys.argv[1]); print('CONNECTED')\nexcept OSError as e: print('REFUSED', e.errno)")
            .arg(path)
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        if text.contains("CONNECTED") {
            Some(true)
        } else if text.contains("REFUSED") {
            Some(false)
        } else {
            None
        }
    };
    if !is_root || probe(Path::new("/nonexistent")).is_none() {
        eprintln!("skipped: the connect-as-nobody probe needs root, setpriv and python3 (modes checked above)");
        return;
    }
    // Control: a world-accessible socket in the same kind of directory IS reachable by nobody.
    let control_dir = parent.path().join("control");
    std::fs::create_dir(&control_dir).unwrap();
    std::fs::set_permissions(&control_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let control = control_dir.join("open.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&control).unwrap();
    std::fs::set_permissions(&control, std::fs::Permissions::from_mode(0o777)).unwrap();
    assert_eq!(
        probe(&control),
        Some(true),
        "the probe cannot connect even to an open socket"
    );
    assert_eq!(
        probe(&sock),
        Some(false),
        "user nobody connected to the plugin's socket"
    );
    eprintln!("FIGURES socket_isolation dir_mode=700 socket_mode={:o} nobody_connect=refused control=connected", mode(&sock));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn automtls_refuses_a_client_with_the_wrong_certificate() {
    let (host_pem, host_der, host_key) = go_plugin_style_cert("HashiCorp");
    let plugin = launch_fresh(&[("PLUGIN_CLIENT_CERT", &host_pem)]);
    // Another certificate: same subject, different key (an impostor).
    let (_, impostor, none) =
        assert_only_the_host_certificate_answers(&plugin, (host_der, host_key)).await;
    eprintln!("FIGURES automtls refused=2 impostor=\"{impostor}\" none=\"{none}\"");
}
