//! Launches that must fail cleanly: no magic cookie (go-plugin's hint, exit 1, nothing on
//! stdout), a protocol version we do not speak, an invalid setting (exit 1, message names it).
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
