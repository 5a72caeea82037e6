//! The load generator against the real emulator, in process, with SigV4 verification switched on: every
//! request must be accepted with the load generator's keys and rejected with other keys.

use bench::load::{self, LoadConfig, Workload, ACCESS_KEY_ID, SECRET_ACCESS_KEY};
use secretsmanager_emulator::Emulator;
use std::time::Duration;

async fn emulator(secret: &str) -> Emulator {
    Emulator::builder()
        .listen("127.0.0.1:0".parse().expect("addr"))
        .in_memory()
        .credentials(ACCESS_KEY_ID, secret)
        .start()
        .await
        .expect("emulator starts")
}

fn cfg(
    emu: &Emulator,
    workload: Workload,
    concurrency: usize,
    n: u64,
    duration_ms: u64,
) -> LoadConfig {
    LoadConfig {
        addr: emu.addr().to_string(),
        target: "emulator".into(),
        workload,
        concurrency,
        duration: Duration::from_millis(duration_ms),
        max_requests: 0,
        n,
        prefix: "t".into(),
        value_size: 64,
        region: "eu-central-1".into(),
    }
}

/// Runs `workload` against `emu` (see [`cfg`]); the run itself must complete.
async fn run(
    emu: &Emulator,
    workload: Workload,
    concurrency: usize,
    n: u64,
    duration_ms: u64,
) -> bench::stats::RunResult {
    load::run(cfg(emu, workload, concurrency, n, duration_ms))
        .await
        .unwrap_or_else(|e| panic!("{workload:?} run: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_workload_succeeds_with_verified_signatures() {
    let emu = emulator(SECRET_ACCESS_KEY).await;
    let seed = run(&emu, Workload::Seed, 4, 25, 0).await;
    assert_eq!((seed.ok, seed.requests), (25, 25), "{seed:?}");
    for w in [
        Workload::Read,
        Workload::Write,
        Workload::Mixed,
        Workload::Create,
        Workload::Migrate,
    ] {
        let r = run(&emu, w, 3, 25, 200).await;
        assert!(r.ok > 0 && r.errors.is_empty(), "{w:?}: {r:?}");
        assert!(r.p50_ms <= r.p99_ms && r.p99_ms <= r.max_ms, "{r:?}");
    }
    // migrate is one at a time whatever was asked.
    let m = run(&emu, Workload::Migrate, 8, 25, 100).await;
    assert_eq!(m.concurrency, 1);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_counted_by_kind() {
    let emu = emulator(SECRET_ACCESS_KEY).await;
    // Nothing seeded: every read is a ResourceNotFoundException.
    let r = run(&emu, Workload::Read, 2, 10, 150).await;
    assert_eq!(r.ok, 0);
    assert!(
        r.errors
            .get("http400:ResourceNotFoundException")
            .is_some_and(|n| *n > 0),
        "{r:?}"
    );
    emu.shutdown().await;

    // A server that knows another secret key rejects every signature.
    let emu = emulator("some-other-secret").await;
    let r = run(&emu, Workload::Seed, 1, 5, 0).await;
    assert_eq!(r.ok, 0, "{r:?}");
    assert_eq!(r.errors.values().sum::<u64>(), 5, "{r:?}");
    assert!(r.errors.keys().all(|k| k.starts_with("http4")), "{r:?}");
    emu.shutdown().await;
}
