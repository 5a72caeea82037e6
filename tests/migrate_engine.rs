//! The migration engine against in-memory stores and a fault-injecting decorator: copy,
//! idempotence, dry run, throttling, per-secret failures, verification, delete-source,
//! checkpoint resume and the lease guard.

#![allow(clippy::unwrap_used)]

mod migrate_support;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use migrate_support::{contents, fill, mem_store, sample, Faulty};
use secrets_broker::backends::SecretStore;
use secrets_broker::domain::{SecretKey, SecretValue};
use secrets_broker::migrate::guard::Lease;
use secrets_broker::migrate::report::Stage;
use secrets_broker::migrate::{self, drift, lease_key, Error, ManualClock, Options};

fn opts() -> Options {
    Options::new("src", "dst")
}

#[tokio::test]
async fn copies_everything_then_is_idempotent_and_copies_only_changes() {
    let (src, dst) = (mem_store(), mem_store());
    let items = sample(300);
    fill(src.as_ref(), &items).await;
    let r = migrate::migrate(src.clone(), dst.clone(), &opts())
        .await
        .unwrap();
    assert_eq!(
        (r.total, r.copied, r.skipped, r.failed, r.verified),
        (300, 300, 0, 0, 300)
    );
    assert_eq!(contents(src.as_ref()).await, contents(dst.as_ref()).await);
    assert_eq!(dst.get(&lease_key()).await.unwrap(), None, "lease released");

    let again = migrate::migrate(src.clone(), dst.clone(), &opts())
        .await
        .unwrap();
    assert_eq!((again.copied, again.skipped, again.verified), (0, 300, 300));

    // Change three, add two, and one only in the destination.
    for (k, _) in &items[..3] {
        src.set(k, &SecretValue::new("rotated").unwrap())
            .await
            .unwrap();
    }
    fill(src.as_ref(), &sample(302)[300..]).await;
    let only_dst = SecretKey::new(9, "only-here", "t").unwrap();
    dst.set(&only_dst, &SecretValue::new("x").unwrap())
        .await
        .unwrap();
    let dry = migrate::migrate(
        src.clone(),
        dst.clone(),
        &Options {
            dry_run: true,
            ..opts()
        },
    )
    .await
    .unwrap();
    let count = |a: &str| dry.plan.iter().filter(|p| p.action == a).count();
    assert_eq!(
        (
            count("copy_new"),
            count("copy_changed"),
            count("skip_unchanged"),
            count("leave_only_in_destination")
        ),
        (2, 3, 297, 1)
    );
    assert_eq!(dry.copied, 0);
    assert_eq!(dst.len(), 301, "a dry run writes nothing");

    let third = migrate::migrate(src.clone(), dst.clone(), &opts())
        .await
        .unwrap();
    assert_eq!(
        (third.copied, third.skipped, third.extra_in_destination),
        (5, 297, 1)
    );
    let mut expected = contents(src.as_ref()).await;
    expected.push((only_dst, "x".into()));
    expected.sort();
    assert_eq!(contents(dst.as_ref()).await, expected);
}

#[tokio::test(start_paused = true)]
async fn adapts_to_a_50_per_second_quota_without_failures() {
    let (src, inner) = (mem_store(), mem_store());
    fill(src.as_ref(), &sample(1000)).await;
    let dst = Arc::new(Faulty::new(inner.clone()).with_quota(50.0));
    let r = migrate::migrate(
        src.clone(),
        dst.clone(),
        &Options {
            workers: 16,
            ..opts()
        },
    )
    .await
    .unwrap();
    assert_eq!((r.copied, r.failed), (1000, 0), "{}", r.to_json());
    assert!(
        dst.throttled.load(Ordering::SeqCst) > 0,
        "the quota was hit"
    );
    // Virtual time: the sustained rate is close to the quota (the first burst of 50 is free).
    assert!(
        r.copied_per_sec >= 45.0 && r.copied_per_sec <= 55.0,
        "rate {}",
        r.copied_per_sec
    );
    assert_eq!(contents(src.as_ref()).await, contents(inner.as_ref()).await);
}

#[tokio::test]
async fn per_secret_failures_are_reported_with_reasons_and_never_values() {
    let (src, inner) = (mem_store(), mem_store());
    let items = sample(50);
    fill(src.as_ref(), &items).await;
    let dst = Arc::new(Faulty::new(inner.clone()));
    dst.fail_writes_to(items[7].0.namespace());
    dst.corrupt_namespaces
        .lock()
        .unwrap()
        .insert(items[8].0.namespace().to_string());
    let r = migrate::migrate(
        src.clone(),
        dst.clone(),
        &Options {
            delete_source: true,
            ..opts()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        (r.copied, r.failed, r.deleted),
        (48, 2, 48),
        "{}",
        r.to_json()
    );
    let stages: Vec<_> = r
        .failures
        .iter()
        .map(|f| (f.key.namespace.clone(), f.stage))
        .collect();
    assert!(stages.contains(&(items[7].0.namespace().to_string(), Stage::Copy)));
    assert!(stages.contains(&(items[8].0.namespace().to_string(), Stage::Verify)));
    assert!(r.failures.iter().all(|f| !f.reason.is_empty()));
    let json = r.to_json();
    for (_, v) in &items {
        assert!(!json.contains(v.as_str()), "a value leaked into the report");
    }
    // Only verified secrets left the source.
    let left: Vec<_> = contents(src.as_ref())
        .await
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    let mut expect = vec![items[7].0.clone(), items[8].0.clone()];
    expect.sort();
    assert_eq!(left, expect);
}

#[tokio::test]
async fn resumes_from_the_checkpoint_after_a_broken_run() {
    let dir = tempfile::tempdir().unwrap();
    let cp = dir.path().join("cp.json");
    let (src, inner) = (mem_store(), mem_store());
    fill(src.as_ref(), &sample(200)).await;
    let dst = Arc::new(Faulty::new(inner.clone()));
    dst.break_after_writes.store(81, Ordering::SeqCst); // 1 lease write + 80 secrets
    let clock = Arc::new(ManualClock::new(5_000_000));
    let o = Options {
        checkpoint: Some(cp.clone()),
        workers: 1,
        clock: clock.clone(),
        ..opts()
    };
    let r = migrate::migrate(src.clone(), dst.clone(), &o)
        .await
        .unwrap();
    assert_eq!((r.copied, r.failed), (80, 120));
    assert!(cp.exists(), "an incomplete run keeps its checkpoint");
    // The broken destination could not even release the lease: it stays until it expires.
    assert!(inner.get(&lease_key()).await.unwrap().is_some());
    let e = migrate::migrate(src.clone(), inner.clone(), &o)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::GuardHeld { .. }), "{e}");
    clock.advance(Duration::from_secs(31));

    let r2 = migrate::migrate(src.clone(), inner.clone(), &o)
        .await
        .unwrap();
    assert_eq!(
        (r2.copied, r2.skipped, r2.resumed, r2.failed),
        (120, 80, 80, 0)
    );
    assert!(!cp.exists(), "a complete run removes its checkpoint");
    assert_eq!(contents(src.as_ref()).await, contents(inner.as_ref()).await);

    // A checkpoint of another migration is refused.
    std::fs::write(
        &cp,
        r#"{"version":1,"source":"a","destination":"b","done":[]}"#,
    )
    .unwrap();
    let e = migrate::migrate(src.clone(), inner.clone(), &o)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Checkpoint { .. }), "{e}");
}

#[tokio::test]
async fn lease_blocks_a_second_migration_until_it_expires() {
    let (src, dst) = (mem_store(), mem_store());
    fill(src.as_ref(), &sample(10)).await;
    let clock = Arc::new(ManualClock::new(1_000_000));
    let ttl = Duration::from_secs(30);
    let first = Lease::acquire(dst.clone(), clock.clone(), ttl)
        .await
        .unwrap();
    let o = Options {
        clock: clock.clone(),
        lease_ttl: ttl,
        ..opts()
    };
    let e = migrate::migrate(src.clone(), dst.clone(), &o)
        .await
        .unwrap_err();
    match e {
        Error::GuardHeld {
            holder,
            remaining_secs,
        } => {
            assert_eq!((holder.as_str(), remaining_secs), (first.holder(), 30))
        }
        other => panic!("{other}"),
    }
    assert_eq!(dst.len(), 1, "nothing copied while the lease is held");
    clock.advance(Duration::from_secs(10));
    first.renew().await.unwrap();
    clock.advance(Duration::from_secs(31));
    // The holder died (no renewal): the lease is stolen, the migration runs and releases it.
    let r = migrate::migrate(src.clone(), dst.clone(), &o)
        .await
        .unwrap();
    assert_eq!(r.copied, 10);
    assert_eq!(dst.get(&lease_key()).await.unwrap(), None);
    // The old holder notices it lost the lease (here: it is gone; a new holder is detected too).
    let second = Lease::acquire(dst.clone(), clock.clone(), ttl)
        .await
        .unwrap();
    assert!(matches!(first.renew().await, Err(Error::GuardLost { .. })));
    second.release().await.unwrap();
}

#[tokio::test]
async fn drift_reports_missing_extra_different_and_reconcile_repairs() {
    let (a, b) = (mem_store(), mem_store());
    let items = sample(20);
    fill(a.as_ref(), &items).await;
    fill(b.as_ref(), &items[2..]).await;
    b.set(&items[5].0, &SecretValue::new("old").unwrap())
        .await
        .unwrap();
    let extra = SecretKey::new(4, "extra", "t").unwrap();
    b.set(&extra, &SecretValue::new("e").unwrap())
        .await
        .unwrap();
    let d = drift::compare(a.as_ref(), b.as_ref()).await.unwrap();
    assert_eq!(
        (
            d.missing.len(),
            d.extra.len(),
            d.different.len(),
            d.compared
        ),
        (2, 1, 1, 21)
    );
    assert!(!d.is_clean());
    let text = d.describe();
    assert!(
        text.contains("different: org") && !text.contains("secret-5"),
        "{text}"
    );

    let dry = drift::reconcile(a.as_ref(), b.as_ref(), true, false)
        .await
        .unwrap();
    assert_eq!(dry.repaired, 0);
    assert_eq!(
        drift::compare(a.as_ref(), b.as_ref())
            .await
            .unwrap()
            .different
            .len(),
        1
    );
    let fixed = drift::reconcile(a.as_ref(), b.as_ref(), false, true)
        .await
        .unwrap();
    assert_eq!((fixed.repaired, fixed.pruned), (3, 1));
    assert!(drift::compare(a.as_ref(), b.as_ref())
        .await
        .unwrap()
        .is_clean());
}
