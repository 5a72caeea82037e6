//! Cross-client sessions: boto3, the AWS CLI (v1, from PyPI) and the JavaScript SDK v3 (from npm) each run a
//! create/get/put/describe/list/tag/delete/restore/rotate session with assertions (including an error's code
//! and message as that client reads it) against an emulator started in-process on port 0.
//!
//! The clients are installed by `tests/clients/setup.sh` into `<target>/tmp/client-cache` (a venv and a
//! node_modules), once; later runs reuse them. Without python3 or node the matching test prints
//! "skipped: ..." and passes.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use secretsmanager_emulator::Emulator;
use tokio::process::Command;

fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("clients")
}

fn cache_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("client-cache")
}

async fn available(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success())
}

async fn run(cmd: &mut Command, what: &str) -> String {
    let out = cmd
        .output()
        .await
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    stdout
}

async fn setup(kind: &str) {
    let mut cmd = Command::new("bash");
    cmd.arg(clients_dir().join("setup.sh"))
        .arg(cache_dir())
        .arg(kind);
    run(&mut cmd, &format!("installing the {kind} clients")).await;
}

fn session(cmd: &mut Command, endpoint: &str) {
    cmd.env("SM_ENDPOINT", endpoint)
        .env("AWS_REGION", "us-east-1")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_SESSION_TOKEN");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_and_aws_cli_sessions() {
    if !available("python3").await {
        println!("skipped: python3 is not installed");
        return;
    }
    setup("python").await;
    let emu = Emulator::builder()
        .in_memory()
        .start()
        .await
        .expect("emulator starts");
    let venv = cache_dir().join("venv").join("bin");

    let mut boto = Command::new(venv.join("python"));
    boto.arg(clients_dir().join("boto3_session.py"));
    session(&mut boto, &emu.endpoint());
    let out = run(&mut boto, "boto3 session").await;
    assert!(out.contains("boto3 session: ok"), "{out}");

    let mut cli = Command::new(venv.join("python"));
    cli.arg(clients_dir().join("awscli_session.py"))
        .env("AWS_CLI", venv.join("aws"));
    session(&mut cli, &emu.endpoint());
    let out = run(&mut cli, "aws cli session").await;
    assert!(out.contains("aws cli session: ok"), "{out}");
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn javascript_sdk_v3_session() {
    if !available("node").await || !available("npm").await {
        println!("skipped: node or npm is not installed");
        return;
    }
    setup("node").await;
    // ES modules resolve packages from the script's directory: run a copy next to node_modules.
    let script = cache_dir().join("node").join("js_session.mjs");
    std::fs::copy(clients_dir().join("js_session.mjs"), &script)
        .expect("copy the JS session script");
    let emu = Emulator::builder()
        .in_memory()
        .start()
        .await
        .expect("emulator starts");
    let mut node = Command::new("node");
    node.arg(&script);
    session(&mut node, &emu.endpoint());
    let out = run(&mut node, "js sdk v3 session").await;
    assert!(out.contains("js sdk v3 session: ok"), "{out}");
    emu.shutdown().await;
}
