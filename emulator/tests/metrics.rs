//! The emulator's Prometheus metrics through the SDK and raw HTTP: `GET /metrics` (and
//! `/_emulator/metrics`) count requests per operation, error answers by code, injected faults
//! and durable-sync waits; with credentials configured they need a signature or the admin token,
//! like `/_emulator/stats`.
#![allow(clippy::unwrap_used)]

mod common;

use common::{client, create, get, raw, AKID, SECRET_KEY};
use secretsmanager_emulator::{Emulator, FaultRule, FaultSettings};

fn assert_has(text: &str, line: &str) {
    assert!(text.contains(line), "missing {line:?} in\n{text}");
}

/// The value of the sample named exactly `series` (name and labels).
fn sample(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn requests_errors_faults_and_durable_syncs_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let emu = Emulator::builder()
        .data_dir(dir.path())
        .start()
        .await
        .unwrap();
    let c = client(&emu);
    create(&c, "metrics-secret-name", "metrics-secret-value").await;
    get(&c, "metrics-secret-name").await.unwrap();
    get(&c, "metrics-secret-name").await.unwrap();
    assert!(get(&c, "missing-name").await.is_err());
    emu.faults().set(FaultSettings {
        seed: Some(1),
        rules: vec![FaultRule {
            operations: vec!["DescribeSecret".into()],
            throttle_rate: Some(1.0),
            ..FaultRule::default()
        }],
    });
    assert!(common::describe(&c, "metrics-secret-name").await.is_err());
    emu.faults().set(FaultSettings::default());

    let r = raw(emu.addr(), "GET", "/metrics", &[], b"").await;
    r.assert_status(200, "metrics");
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = r.text();
    assert_has(
        &text,
        "secretsmanager_emulator_requests_total{operation=\"CreateSecret\"} 1\n",
    );
    assert_has(
        &text,
        "secretsmanager_emulator_requests_total{operation=\"GetSecretValue\"} 3\n",
    );
    assert_has(
        &text,
        "secretsmanager_emulator_request_errors_total{operation=\"GetSecretValue\",code=\"ResourceNotFoundException\"} 1\n",
    );
    assert_has(
        &text,
        "secretsmanager_emulator_request_errors_total{operation=\"DescribeSecret\",code=\"ThrottlingException\"} 1\n",
    );
    assert_has(
        &text,
        "secretsmanager_emulator_injected_faults_total{operation=\"DescribeSecret\",kind=\"throttle\"} 1\n",
    );
    assert_has(
        &text,
        "secretsmanager_emulator_request_duration_seconds_count{operation=\"GetSecretValue\"} 3\n",
    );
    assert!(
        sample(
            &text,
            "secretsmanager_emulator_durable_sync_duration_seconds_count"
        ) >= 1,
        "the create waited for its sync"
    );
    for secret in [
        "metrics-secret-name",
        "metrics-secret-value",
        "missing-name",
    ] {
        assert!(!text.contains(secret), "{secret} in\n{text}");
    }
    // The admin path answers the same families; stats resets do not reset them.
    raw(emu.addr(), "POST", "/_emulator/stats/reset", &[], b"")
        .await
        .assert_status(200, "stats reset");
    let admin = raw(emu.addr(), "GET", "/_emulator/metrics", &[], b"").await;
    admin.assert_status(200, "admin metrics");
    assert_has(
        &admin.text(),
        "secretsmanager_emulator_requests_total{operation=\"CreateSecret\"} 1\n",
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn with_credentials_metrics_need_the_admin_token() {
    let emu = Emulator::builder()
        .in_memory()
        .credentials(AKID, SECRET_KEY)
        .admin_token("scrape-token")
        .start()
        .await
        .unwrap();
    for path in ["/metrics", "/_emulator/metrics"] {
        let refused = raw(emu.addr(), "GET", path, &[], b"").await;
        refused.assert_status(403, path);
        let allowed = raw(
            emu.addr(),
            "GET",
            path,
            &[("X-Emulator-Admin-Token", "scrape-token")],
            b"",
        )
        .await;
        allowed.assert_status(200, path);
        assert!(allowed
            .text()
            .contains("# TYPE secretsmanager_emulator_requests_total counter"));
    }
    emu.shutdown().await;
}
