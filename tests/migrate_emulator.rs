//! End-to-end migrations through the AWS emulator (started in process on port 0): legacy SQLite →
//! emulator → SQLite with 10,000 secrets, byte-identical; the emulator enforcing AWS's 50 writes/s
//! quota; the real grafana.db fixture → emulator → back into a copy of it; and rotation in the
//! emulator reaching a mirror's secondary through a read and through `reconcile`.

#![allow(clippy::unwrap_used)]

mod common;
mod migrate_support;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use migrate_support::{contents, mem_store, sample};
use secrets_broker::backends::aws::{AwsConfig, AwsStore};
use secrets_broker::backends::legacy_sql::{LegacySqlConfig, LegacySqlStore};
use secrets_broker::backends::local::{LocalConfig, LocalStore};
use secrets_broker::backends::mirror::MirrorStore;
use secrets_broker::backends::SecretStore;
use secrets_broker::config::{Settings, Source};
use secrets_broker::domain::SecretValue;
use secrets_broker::migrate::grafana::{GrafanaDb, FLAG_KEY, FLAG_NAMESPACE};
use secrets_broker::migrate::pacing::PacerConfig;
use secrets_broker::migrate::{self, Options};
use secretsmanager_emulator::{Emulator, FaultSettings};

const BUILTIN_ROTATION: &str =
    "arn:aws:lambda:us-east-1:123456789012:function:emulator-builtin-rotation";

fn settings(pairs: &[(&str, &str)]) -> Settings {
    let mut s = Settings::default();
    for (k, v) in pairs {
        s.insert(*k, *v, Source::Flag);
    }
    s
}

async fn aws(emu: &Emulator) -> Arc<AwsStore> {
    let s = settings(&[
        ("aws_endpoint_url", &emu.endpoint()),
        ("aws_region", "us-east-1"),
        ("aws_access_key_id", "AKIDEXAMPLE"),
        ("aws_secret_access_key", "test-secret-key"),
    ]);
    Arc::new(
        AwsStore::connect(&AwsConfig::from_settings(&s).unwrap())
            .await
            .unwrap(),
    )
}

async fn legacy(path: &Path, create_tables: bool) -> Arc<dyn SecretStore> {
    let mode = if create_tables { "?mode=rwc" } else { "" };
    let mut c = LegacySqlConfig::new(
        format!("sqlite://{}{mode}", path.display()),
        "SW2YcwTIb9zpOOhoPsMm",
    );
    c.create_tables = create_tables;
    Arc::new(LegacySqlStore::open(&c).await.unwrap())
}

/// What the CLI does for an aws destination: pace at AWS's 50 writes/s unless told otherwise.
fn opts(name: &str, max_rate: Option<f64>) -> Options {
    let mut o = Options::new(format!("{name}-src"), format!("{name}-dst"));
    o.destination_pacing = PacerConfig {
        max_rate,
        ..PacerConfig::default()
    };
    o
}

/// Migrates with 16 workers, paced like the CLI for an aws destination (see [`opts`]).
async fn migrate_16_workers(
    src: Arc<dyn SecretStore>,
    dst: Arc<dyn SecretStore>,
    name: &str,
    max_rate: Option<f64>,
) -> migrate::Report {
    let options = Options {
        workers: 16,
        ..opts(name, max_rate)
    };
    migrate::migrate(src, dst, &options).await.unwrap()
}

/// An emulator enforcing AWS's request quotas.
async fn emulator_with_aws_quotas() -> Emulator {
    Emulator::builder()
        .in_memory()
        .faults(FaultSettings::aws_quotas())
        .start()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_sqlite_to_emulator_to_sqlite_10000_secrets_byte_identical() {
    // 10,000 is the acceptance size (`MIGRATE_E2E_SECRETS=10000`): every legacy value costs a
    // PBKDF2 of 10,000 rounds per write and per read-back; in a debug build on this 2-core machine
    // the whole 10,000 round trip takes about 2 minutes (measured 125 s), so the default run
    // uses 100.
    let n = common::env_count("MIGRATE_E2E_SECRETS", 100);
    let dir = tempfile::tempdir().unwrap();
    let emu = Emulator::builder().in_memory().start().await.unwrap();
    let (a, b) = (
        legacy(&dir.path().join("a.db"), true).await,
        legacy(&dir.path().join("b.db"), true).await,
    );
    let seed = mem_store();
    migrate_support::fill(seed.as_ref(), &sample(n)).await;
    let r = migrate::migrate(seed.clone(), a.clone(), &opts("seed", None))
        .await
        .unwrap();
    assert_eq!((r.copied, r.failed), (n, 0));

    let dst = aws(&emu).await;
    let there = migrate_16_workers(a.clone(), dst.clone(), "out", None).await;
    assert_eq!(
        (there.copied, there.verified, there.failed),
        (n, n, 0),
        "{}",
        there.to_json()
    );
    let back = migrate_16_workers(dst.clone(), b.clone(), "back", None).await;
    assert_eq!((back.copied, back.verified, back.failed), (n, n, 0));
    eprintln!(
        "legacy SQLite -> emulator: {n} secrets in {:.2}s = {:.0} secrets/s; emulator -> SQLite: {:.0} secrets/s",
        there.elapsed_secs, there.copied_per_sec, back.copied_per_sec
    );
    let (ca, cb) = (contents(a.as_ref()).await, contents(b.as_ref()).await);
    assert_eq!(ca.len(), n);
    assert!(ca == cb, "the round trip changed some value");
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_emulators_50_writes_per_second_quota_gives_zero_failures() {
    let emu = emulator_with_aws_quotas().await;
    let src = mem_store();
    migrate_support::fill(src.as_ref(), &sample(300)).await;
    let dst = aws(&emu).await;
    let r = migrate_16_workers(src.clone(), dst.clone(), "quota", Some(50.0)).await;
    assert_eq!((r.copied, r.failed), (300, 0), "{}", r.to_json());
    eprintln!(
        "under the 50/s quota: {:.1} secrets/s, {} retries",
        r.copied_per_sec, r.retries
    );
    assert!(r.copied_per_sec >= 40.0, "rate {}", r.copied_per_sec);
    assert_eq!(contents(src.as_ref()).await, contents(dst.as_ref()).await);
    emu.shutdown().await;

    // Without the ceiling (`--max-write-rate unlimited`) the pacer must find the quota itself.
    let emu = emulator_with_aws_quotas().await;
    let dst = aws(&emu).await;
    let r = migrate_16_workers(src.clone(), dst.clone(), "quota-adapt", None).await;
    assert_eq!((r.copied, r.failed), (300, 0), "{}", r.to_json());
    eprintln!(
        "unpaced under the 50/s quota: {:.1} secrets/s, {} retries",
        r.copied_per_sec, r.retries
    );
    assert_eq!(contents(src.as_ref()).await, contents(dst.as_ref()).await);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_in_the_emulator_reaches_the_mirrors_secondary() {
    let dir = tempfile::tempdir().unwrap();
    let emu = Emulator::builder().in_memory().start().await.unwrap();
    let primary = aws(&emu).await;
    let secondary: Arc<dyn SecretStore> = Arc::new(
        LocalStore::open(
            &LocalConfig::from_settings(&settings(&[(
                "data_dir",
                &dir.path().display().to_string(),
            )]))
            .unwrap(),
        )
        .unwrap(),
    );
    let mirror = MirrorStore::new(primary.clone(), secondary.clone(), Duration::from_secs(2));
    let key = sample(1).remove(0).0;
    mirror
        .set(&key, &SecretValue::new("plain-token").unwrap())
        .await
        .unwrap();
    let name = primary.naming().name(&key);
    let sm = aws_sdk_secretsmanager::Client::from_conf(
        aws_sdk_secretsmanager::Config::builder()
            .behavior_version(aws_sdk_secretsmanager::config::BehaviorVersion::latest())
            .endpoint_url(emu.endpoint())
            .region(aws_sdk_secretsmanager::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_secretsmanager::config::Credentials::new(
                "AKIDEXAMPLE",
                "k",
                None,
                None,
                "t",
            ))
            .build(),
    );
    let rotate = || async {
        sm.rotate_secret()
            .secret_id(&name)
            .rotation_lambda_arn(BUILTIN_ROTATION)
            .send()
            .await
            .unwrap();
        primary.get(&key).await.unwrap().unwrap()
    };

    // Rotation 1, repaired by `reconcile`.
    let rotated = rotate().await;
    assert_ne!(rotated.expose(), "plain-token");
    let report = mirror.reconcile(true, false).await.unwrap();
    assert_eq!(report.drift.different.len(), 1);
    assert_eq!(
        secondary.get(&key).await.unwrap().unwrap().expose(),
        "plain-token"
    );
    assert_eq!(mirror.reconcile(false, false).await.unwrap().repaired, 1);
    assert_eq!(secondary.get(&key).await.unwrap(), Some(rotated));

    // Rotation 2, noticed by a read through the mirror.
    let rotated2 = rotate().await;
    assert_eq!(mirror.get(&key).await.unwrap(), Some(rotated2.clone()));
    assert_eq!(secondary.get(&key).await.unwrap(), Some(rotated2));
    assert!(mirror
        .reconcile(true, false)
        .await
        .unwrap()
        .drift
        .is_clean());
    emu.shutdown().await;
}

fn grafana_ini(dir: &Path) -> std::path::PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::copy(
        "tests/fixtures/grafana/grafana-11.1.0-envelope.db",
        dir.join("grafana.db"),
    )
    .unwrap();
    let ini = dir.join("grafana.ini");
    std::fs::write(&ini, "[database]\ntype = sqlite3\npath = grafana.db\n").unwrap();
    ini
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grafana_fixture_to_emulator_and_back_into_a_copy() {
    let dir = tempfile::tempdir().unwrap();
    let (src_ini, dst_ini) = (
        grafana_ini(&dir.path().join("src")),
        grafana_ini(&dir.path().join("dst")),
    );
    // The copy we migrate back into: empty its secrets, and set Grafana's fatal flag.
    let url = format!("sqlite://{}", dir.path().join("dst/grafana.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query("DELETE FROM secrets")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("UPDATE data_source SET secure_json_data = '{}'")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO kv_store (org_id, namespace, key, value, created, updated) VALUES (0, ?, ?, 'true', '2024-01-01', '2024-01-01')")
        .bind(FLAG_NAMESPACE)
        .bind(FLAG_KEY)
        .execute(&pool)
        .await
        .unwrap();

    let emu = Emulator::builder().in_memory().start().await.unwrap();
    let src = GrafanaDb::open(&src_ini, true, std::iter::empty())
        .await
        .unwrap();
    let expected = contents(src.store().as_ref()).await;
    assert_eq!(
        expected.len(),
        2,
        "the fixture holds an extsvc token and a data source's secrets"
    );
    assert!(expected.iter().any(|(k, _)| k.kind() == "datasource"));
    let dst = aws(&emu).await;
    let out = migrate::migrate(src.store(), dst.clone(), &opts("g-out", None))
        .await
        .unwrap();
    assert_eq!((out.copied, out.failed), (expected.len(), 0));

    let back = GrafanaDb::open(&dst_ini, false, std::iter::empty())
        .await
        .unwrap();
    let r = migrate::migrate(dst.clone(), back.store(), &opts("g-back", None))
        .await
        .unwrap();
    assert_eq!((r.copied, r.failed), (expected.len(), 0));
    back.clear_plugin_startup_failure_flag().await.unwrap();

    // Read back by the legacy backend on its own, from Grafana's `secrets` table.
    let check = legacy(&dir.path().join("dst/grafana.db"), false).await;
    assert_eq!(contents(check.as_ref()).await, expected);
    let flags: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM kv_store WHERE namespace = ? AND key = ?")
            .bind(FLAG_NAMESPACE)
            .bind(FLAG_KEY)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(flags, 0, "Grafana's fatal flag is cleared");
    emu.shutdown().await;
}
