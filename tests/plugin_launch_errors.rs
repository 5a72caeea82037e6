//! Launches that must fail cleanly: no magic cookie (go-plugin's hint, exit 1, nothing on
//! stdout), a protocol version we do not speak, an invalid setting (exit 1, message names it).
//! And a key file left by a crash: an empty or temporary one does not block the next start
//! (kill -9 during key creation included); an empty one beside existing data stops start-up
//! with an error naming the file. A database settings file torn by a crash does not block the
//! next start either.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod plugin_support;

use std::process::Stdio;

use plugin_support::*;

fn run(cmd: &mut std::process::Command) -> (i32, String, String) {
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn without_the_cookie_prints_the_hint_and_exits_1() {
    let data = tempfile::tempdir().unwrap();
    let mut cmd = grafana_command(data.path(), data.path(), &[]);
    cmd.env_remove("grafana_plugin_type");
    let (code, stdout, stderr) = run(&mut cmd);
    assert_eq!(code, 1);
    assert_eq!(stdout, "", "nothing on stdout");
    assert!(stderr.contains("This binary is a plugin"), "{stderr}");
    // A wrong cookie value is the same as none.
    cmd.env("grafana_plugin_type", "app");
    let (code, stdout, _) = run(&mut cmd);
    assert_eq!((code, stdout.as_str()), (1, ""));
    // Nothing was created in the data directory.
    assert_eq!(std::fs::read_dir(data.path()).unwrap().count(), 0);
}

#[test]
fn help_works_without_the_cookie() {
    let (code, stdout, _) = run(std::process::Command::new(BIN).arg("--help"));
    assert_eq!(code, 0);
    for word in ["serve", "get", "set", "export", "--config", "--set"] {
        assert!(stdout.contains(word), "--help mentions {word}: {stdout}");
    }
}

#[test]
fn an_unsupported_protocol_version_exits_1() {
    let data = tempfile::tempdir().unwrap();
    let mut cmd = grafana_command(data.path(), data.path(), &[]);
    cmd.env("PLUGIN_PROTOCOL_VERSIONS", "1,3");
    let (code, stdout, stderr) = run(&mut cmd);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(stdout, "");
    assert!(stderr.contains("PLUGIN_PROTOCOL_VERSIONS"), "{stderr}");
    assert_hclog(&stderr.lines().map(String::from).collect::<Vec<_>>());
}

#[test]
fn an_invalid_setting_stops_start_up_naming_the_key() {
    let data = tempfile::tempdir().unwrap();
    let cmd = &mut grafana_command(data.path(), data.path(), &[("GF_PLUGIN_LOG_LEVEL", "loud")]);
    let (code, stdout, stderr) = run(cmd);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(stdout, "");
    let lines = assert_hclog(&stderr.lines().map(String::from).collect::<Vec<_>>());
    let err = lines
        .iter()
        .find(|l| l["@level"] == "error")
        .unwrap_or_else(|| panic!("an error line: {stderr}"));
    let msg = err["@message"].as_str().unwrap();
    assert!(
        msg.contains("log_level") && msg.contains("GF_PLUGIN_LOG_LEVEL"),
        "{msg}"
    );

    let cmd = &mut grafana_command(data.path(), data.path(), &[("GF_PLUGIN_BACKEND", "redis")]);
    let (code, stdout, stderr) = run(cmd);
    assert_eq!((code, stdout.as_str()), (1, ""), "{stderr}");
    assert!(stderr.contains("backend"), "{stderr}");
}

/// Names in `dir`.
fn entries(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// An empty file with mode 0600: what a crash between creating the key file (with that mode)
/// and writing it leaves.
fn empty_private_file(path: &std::path::Path) {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).unwrap();
}

fn is_temp_key(name: &str) -> bool {
    name.starts_with(".broker.key.") && name.ends_with(".tmp")
}

/// The plugin starts, stores and reads a secret, and stops; its key file is then 0600.
async fn starts_and_round_trips(data: &std::path::Path, sockets: &std::path::Path) {
    let mut plugin = launch(grafana_command(data, sockets, &[]));
    let mut c = plugin.client().await;
    assert_eq!(set(&mut c, 1, "ds", "value").await, "");
    assert_eq!(get(&mut c, 1, "ds").await.decrypted_value, "value");
    let channel = plugin.channel().await;
    let (_, status) = plugin.shutdown(channel).await;
    assert!(status.success(), "{status:?}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join("broker.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_key_file_left_by_a_crashed_first_start_does_not_block_start_up() {
    let data = tempfile::tempdir().unwrap();
    let sockets = tempfile::tempdir().unwrap();
    // What an older version left when killed between creating broker.key and writing it, and a
    // temporary key file of an interrupted creation.
    empty_private_file(&data.path().join("broker.key"));
    empty_private_file(&data.path().join(".broker.key.00000000deadbeef.tmp"));
    starts_and_round_trips(data.path(), sockets.path()).await;
    assert!(
        !entries(data.path()).iter().any(|n| is_temp_key(n)),
        "leftover removed: {:?}",
        entries(data.path())
    );
    // Restarting with the key it generated reads the secret back.
    let plugin = launch(grafana_command(data.path(), sockets.path(), &[]));
    let mut c = plugin.client().await;
    assert_eq!(get(&mut c, 1, "ds").await.decrypted_value, "value");
}

/// sled writes its settings file (`db/conf`) in two writes without a sync; a kill between them
/// leaves the settings without their checksum, and sled alone then refuses to open the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_settings_file_torn_by_a_crash_does_not_block_start_up() {
    let data = tempfile::tempdir().unwrap();
    let sockets = tempfile::tempdir().unwrap();
    starts_and_round_trips(data.path(), sockets.path()).await;
    let conf = data.path().join("db").join("conf");
    let whole = std::fs::read(&conf).unwrap();
    std::fs::write(&conf, &whole[..whole.len() - 4]).unwrap();
    let plugin = launch(grafana_command(data.path(), sockets.path(), &[]));
    let mut c = plugin.client().await;
    assert_eq!(get(&mut c, 1, "ds").await.decrypted_value, "value");
    assert_eq!(set(&mut c, 1, "ds2", "second").await, "");
    assert_eq!(
        std::fs::read(&conf).unwrap(),
        whole,
        "the whole file is back"
    );
    assert!(
        plugin
            .stderr_lines()
            .iter()
            .any(|l| l.contains("torn sled settings file")),
        "the repair is logged"
    );
}

#[test]
fn an_empty_key_file_beside_data_stops_start_up_naming_the_file() {
    let data = tempfile::tempdir().unwrap();
    let key = data.path().join("broker.key");
    empty_private_file(&key);
    std::fs::create_dir(data.path().join("db")).unwrap();
    let (code, stdout, stderr) = run(&mut grafana_command(data.path(), data.path(), &[]));
    assert_eq!((code, stdout.as_str()), (1, ""), "{stderr}");
    assert!(
        stderr.contains(&key.display().to_string()) && stderr.contains("is empty"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(&key).unwrap(),
        b"",
        "the file is left as it was"
    );
}

/// kill -9 of the plugin while it creates its key: the kill is sent the moment a key file (the
/// temporary one, or `broker.key` itself) shows up in the data directory. A trial "landed
/// mid-creation" when, after the kill, a temporary key file is left or `broker.key` is not a
/// whole key. Every restart must work, and some kills must have landed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_key_creation_never_blocks_the_next_start() {
    const TRIALS: usize = 30;
    let sockets = tempfile::tempdir().unwrap();
    let mut landed = 0;
    for trial in 0..TRIALS {
        let data = tempfile::tempdir().unwrap();
        let dir = data.path().to_path_buf();
        let mut child = grafana_command(&dir, sockets.path(), &[]).spawn().unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            if entries(&dir)
                .iter()
                .any(|n| is_temp_key(n) || n == "broker.key")
            {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "trial {trial}: no key file appeared"
            );
            std::hint::spin_loop();
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let after = entries(&dir);
        let whole_key = std::fs::read_to_string(dir.join("broker.key"))
            .map(|k| k.trim().len() == 44)
            .unwrap_or(false);
        let mid_creation = after.iter().any(|n| is_temp_key(n))
            || (after.iter().any(|n| n == "broker.key") && !whole_key);
        if mid_creation {
            landed += 1;
        }
        starts_and_round_trips(&dir, sockets.path()).await;
        assert!(
            !entries(&dir).iter().any(|n| is_temp_key(n)),
            "trial {trial}: leftover removed"
        );
    }
    eprintln!("trials={TRIALS} killed_mid_key_creation={landed}");
    assert!(
        landed > 0,
        "no kill landed during key creation in {TRIALS} trials: the test proved nothing"
    );
}
