//! The data directory holds plaintext values: the `sm-emulator` binary creates it 0700 and its
//! files 0600, and tightens a directory left with looser modes (by an older version or a umask)
//! when it holds only the emulator's files.
#![cfg(unix)]
#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use common::{aws_call, free_port, spawn_binary};

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
}

/// Every entry under `dir` (and `dir` itself) with its mode.
fn modes(dir: &Path) -> Vec<(String, u32)> {
    let mut out = vec![(dir.display().to_string(), mode(dir))];
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(modes(&p));
        } else {
            out.push((p.display().to_string(), mode(&p)));
        }
    }
    out
}

fn assert_private(dir: &Path) {
    let all = modes(dir);
    assert!(all.len() > 3, "{all:?}");
    for (p, m) in &all {
        let want = if Path::new(p).is_dir() { 0o700 } else { 0o600 };
        assert_eq!(*m, want, "{p} has mode {m:o}; all: {all:?}");
    }
}

async fn write_a_secret(port: u16, name: &str) {
    let a = format!("127.0.0.1:{port}").parse().unwrap();
    let body = format!(
        r#"{{"Name":"{name}","SecretString":"plaintext","ClientRequestToken":"00000000-0000-4000-8000-00000000000{}"}}"#,
        name.len() % 10
    );
    let r = aws_call(a, "secretsmanager.CreateSecret", &body).await;
    r.assert_status(200, "");
}

/// Starts the binary on `dir`, writes the secret `name`, stops it, and checks the modes.
async fn write_once_and_check(dir: &Path, name: &str) {
    let port = free_port();
    let mut child = spawn_binary(dir, port).await;
    write_a_secret(port, name).await;
    child.kill().await.unwrap();
    let _ = child.wait().await;
    assert_private(dir);
}

#[tokio::test]
async fn the_data_directory_and_its_files_are_private() {
    let t = tempfile::tempdir().unwrap();
    std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let dir = t.path().join("data");
    // a fresh directory
    write_once_and_check(&dir, "one").await;

    // an existing directory whose modes were loosened: tightened at the next start
    for (p, _) in modes(&dir) {
        let loose = if Path::new(&p).is_dir() { 0o755 } else { 0o644 };
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(loose)).unwrap();
    }
    write_once_and_check(&dir, "second").await;
}
