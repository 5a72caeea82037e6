//! The modes of the `local` store's files, with the key from `encryption_key` (so the key file
//! code, which locks the directory down for a generated key, does not run): the plugin launched
//! as Grafana launches it on an existing data directory with mode 0755 makes it 0700 when it
//! holds nothing but the store, leaves it (with a warning naming the foreign file) when it holds
//! other files, and makes sled's and the log's directories 0700 and their files 0600 either way.
#![cfg(unix)]
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod plugin_support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use plugin_support::*;

const KEY: &str = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// Every directory and file of sled and the log, with its mode.
fn store_modes(data: &Path) -> Vec<(String, u32)> {
    let mut out = Vec::new();
    for sub in ["db", "db/blobs", "wal"] {
        let dir = data.join(sub);
        if !dir.exists() {
            continue;
        }
        out.push((sub.to_string(), mode(&dir)));
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            if e.file_type().unwrap().is_file() {
                out.push((
                    format!("{sub}/{}", e.file_name().to_string_lossy()),
                    mode(&e.path()),
                ));
            }
        }
    }
    out
}

/// Launches the plugin on `data` with the key from the settings, writes a secret and reads it
/// back; returns the plugin's stderr.
async fn run_plugin(data: &Path) -> Vec<String> {
    let sockets = tempfile::tempdir().unwrap();
    let mut plugin = launch(grafana_command(
        data,
        sockets.path(),
        &[("GF_PLUGIN_ENCRYPTION_KEY", KEY)],
    ));
    let mut c = plugin.client().await;
    assert_eq!(set(&mut c, 1, "ds", "a-value").await, "");
    assert_eq!(get(&mut c, 1, "ds").await.decrypted_value, "a-value");
    let lines = plugin.stderr_lines();
    plugin.child.kill().unwrap();
    plugin.child.wait().unwrap();
    lines
}

fn assert_store_files_private(data: &Path) {
    let modes = store_modes(data);
    assert!(
        modes.iter().any(|(n, _)| n == "db/db") && modes.iter().any(|(n, _)| n == "wal"),
        "sled's files and the log exist: {modes:?}"
    );
    for (name, m) in &modes {
        let want = if ["db", "db/blobs", "wal"].contains(&name.as_str()) {
            0o700
        } else {
            0o600
        };
        assert_eq!(*m, want, "{name} has mode {m:04o}: {modes:?}");
    }
}

#[tokio::test]
async fn a_loose_data_directory_holding_only_the_store_becomes_0700() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("store");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    run_plugin(&data).await;
    assert_eq!(mode(&data), 0o700);
    assert_store_files_private(&data);

    // An existing store whose directory and files were loosened (an old version, a restore):
    // the next start locks them down again.
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    for sub in ["db", "wal"] {
        std::fs::set_permissions(data.join(sub), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::set_permissions(data.join("db/db"), std::fs::Permissions::from_mode(0o644)).unwrap();
    run_plugin(&data).await;
    assert_eq!(mode(&data), 0o700);
    assert_store_files_private(&data);
}

#[tokio::test]
async fn a_shared_data_directory_keeps_its_mode_with_a_warning() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("shared");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("notes.txt"), "not the store's").unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let stderr = run_plugin(&data).await;
    assert_eq!(
        mode(&data),
        0o755,
        "a directory shared with other files is left as it is"
    );
    let warned = assert_hclog(&stderr).iter().any(|l| {
        l["@level"] == "warn" && l["@message"].as_str().unwrap_or("").contains("notes.txt")
    });
    assert!(warned, "a warning names the foreign file: {stderr:?}");
    assert_store_files_private(&data);
}
