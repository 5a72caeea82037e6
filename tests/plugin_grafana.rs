//! The built plugin launched as Grafana launches it: handshake line, the six RPCs over the
//! announced Unix socket, health, hclog JSON on stderr, Shutdown ends the process within 2 s.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod plugin_support;

use std::time::Duration;

use plugin_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn launched_like_grafana_serves_the_six_rpcs_and_stops_on_shutdown() {
    let data = tempfile::tempdir().unwrap();
    let sockets = tempfile::tempdir().unwrap();
    let cmd = grafana_command(
        data.path(),
        sockets.path(),
        &[
            ("GF_PLUGIN_LOG_LEVEL", "debug"),
            ("GF_PLUGIN_SOMETHING_FOR_GRAFANA", "x"),
        ],
    );
    let mut plugin = launch(cmd);
    let hs = plugin.handshake.clone();
    hs.assert_grafana_grpc_over_unix("launched like Grafana");
    assert!(hs.server_cert.is_none(), "no 6th field without AutoMTLS");
    let socket = std::path::PathBuf::from(&hs.address);
    assert!(socket.starts_with(sockets.path()), "{socket:?}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&socket), 0o600);
        assert_eq!(mode(socket.parent().unwrap()), 0o700);
    }

    let channel = plugin.channel().await;
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let status = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "plugin".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .status;
    assert_eq!(
        status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );

    let mut c = plugin.client().await;
    // Absent: exists=false, no error.
    let r = get(&mut c, 1, "prometheus").await;
    assert_eq!((r.exists, r.user_friendly_error.as_str()), (false, ""));
    // Set then get.
    let v1 = r#"{"basicAuthPassword":"pw-1"}"#;
    assert_eq!(set(&mut c, 1, "prometheus", v1).await, "");
    let r = get(&mut c, 1, "prometheus").await;
    assert_eq!((r.exists, r.decrypted_value.as_str()), (true, v1));
    // Overwrite; another org is separate.
    assert_eq!(set(&mut c, 1, "prometheus", "v2").await, "");
    assert_eq!(set(&mut c, 2, "prometheus", "other org").await, "");
    assert_eq!(get(&mut c, 1, "prometheus").await.decrypted_value, "v2");
    // List: exact match in one org, then in all orgs.
    let one = list(&mut c, 1, "prometheus", false).await;
    assert_eq!(one.user_friendly_error, "");
    assert_eq!(one.keys, vec![key(1, "prometheus", "datasource").unwrap()]);
    let mut all = list(&mut c, 1, "prometheus", true).await.keys;
    all.sort_by_key(|k| k.org_id);
    assert_eq!(
        all,
        vec![
            key(1, "prometheus", "datasource").unwrap(),
            key(2, "prometheus", "datasource").unwrap()
        ]
    );
    // Rename: the value moves, the old key is gone; renaming a missing key is a no-op.
    let r = rename(&mut c, 1, "prometheus", "prom-2").await;
    assert_eq!(r.user_friendly_error, "");
    assert!(!get(&mut c, 1, "prometheus").await.exists);
    assert_eq!(get(&mut c, 1, "prom-2").await.decrypted_value, "v2");
    let r = rename(&mut c, 1, "missing", "x").await;
    assert_eq!(r.user_friendly_error, "");
    // GetAllSecrets: everything, every org, in one answer.
    assert_eq!(
        all_items(&mut c).await,
        vec![
            (1, "prom-2".into(), "v2".into()),
            (2, "prometheus".into(), "other org".into())
        ]
    );
    // Delete, twice (idempotent).
    for _ in 0..2 {
        assert_eq!(
            delete(&mut c, 2, "prometheus").await.user_friendly_error,
            ""
        );
    }
    assert!(!get(&mut c, 2, "prometheus").await.exists);

    // Shutdown: the process exits promptly and removes its socket.
    let (took, status) = plugin.shutdown(channel).await;
    assert!(status.success(), "{status:?}");
    assert!(took < Duration::from_secs(2), "exit took {took:?}");
    assert!(!socket.exists());
    assert!(
        plugin.extra_stdout.lock().unwrap().is_empty(),
        "stdout carried more than the handshake"
    );

    let lines = assert_hclog(&plugin.stderr_lines());
    assert!(
        lines
            .iter()
            .any(|l| l["@level"] == "warn" && l["key"] == "something_for_grafana"),
        "unknown GF_PLUGIN_ key warned: {lines:?}"
    );
    assert!(lines.iter().any(|l| l["@level"] == "info"), "{lines:?}");
    assert!(lines.iter().any(|l| l["@level"] == "debug"), "{lines:?}");
    assert!(
        lines.iter().all(|l| l["@level"] != "trace"),
        "trace off at debug"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_all_secrets_is_one_answer_above_grpc_default_limits() {
    let mut plugin = launch_fresh(&[]);
    let mut c = plugin.client().await;
    // 80 x 64 KiB = 5 MiB: more than gRPC's default 4 MiB message limit.
    let value = "v".repeat(65_536);
    for i in 0..80 {
        assert_eq!(set(&mut c, 1, &format!("ds-{i}"), &value).await, "");
    }
    let all = get_all(&mut c).await;
    assert_eq!(all.user_friendly_error, "");
    assert_eq!(all.items.len(), 80);
    assert!(all.items.iter().all(|i| i.value.len() == 65_536));
    let channel = plugin.channel().await;
    let (_, status) = plugin.shutdown(channel).await;
    assert!(status.success());
}

#[test]
fn sigterm_stops_the_plugin_cleanly_and_sigint_is_ignored() {
    let mut plugin = launch_fresh(&[]);
    let pid = plugin.child.id().to_string();
    let kill = |sig: &str| {
        assert!(std::process::Command::new("kill")
            .args([sig, &pid])
            .status()
            .unwrap()
            .success())
    };
    kill("-INT");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        plugin.child.try_wait().unwrap().is_none(),
        "SIGINT must not stop a plugin"
    );
    kill("-TERM");
    let status = plugin.wait_exit(Duration::from_secs(2));
    assert!(status.success(), "{status:?}");
    assert!(!std::path::Path::new(&plugin.handshake.address).exists());
}
