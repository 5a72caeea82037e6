//! The mirror backend over real local stores (and a fault-injecting decorator): conformance,
//! dual writes with rollback, bounded read fallback only to a value known to be the primary's,
//! reconciliation on read and by `reconcile`.

#![allow(clippy::unwrap_used)]

mod migrate_support;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use migrate_support::{contents, Faulty};
use secrets_broker::backends::local::{LocalConfig, LocalStore};
use secrets_broker::backends::mirror::{MirrorConfig, MirrorStore};
use secrets_broker::backends::{Error, SecretStore};
use secrets_broker::config::{Settings, Source};
use secrets_broker::domain::{SecretKey, SecretValue};

fn local(dir: &std::path::Path) -> Arc<dyn SecretStore> {
    let mut s = Settings::default();
    s.insert("data_dir", dir.display().to_string(), Source::Flag);
    Arc::new(LocalStore::open(&LocalConfig::from_settings(&s).unwrap()).unwrap())
}

fn v(s: &str) -> SecretValue {
    SecretValue::new(s).unwrap()
}

fn key(ns: &str) -> SecretKey {
    SecretKey::new(1, ns, "datasource").unwrap()
}

struct Fixture {
    _dirs: (tempfile::TempDir, tempfile::TempDir),
    primary: Arc<Faulty>,
    secondary: Arc<Faulty>,
    mirror: MirrorStore,
}

impl Fixture {
    /// Setting `db` to `value` through the mirror fails with a transient error.
    async fn assert_setting_db_fails_transiently(&self, value: &str) {
        let e = self.mirror.set(&key("db"), &v(value)).await.unwrap_err();
        assert!(e.is_transient(), "{e}");
    }

    /// Sets `db` to `value` through the mirror, takes the primary down, and checks that a read of
    /// `db` falls back to the secondary's copy (the first fallback).
    async fn set_db_then_read_it_with_the_primary_down(&self, value: &str) {
        self.mirror.set(&key("db"), &v(value)).await.unwrap();
        self.primary.unavailable.store(true, Ordering::SeqCst);
        assert_eq!(self.mirror.get(&key("db")).await.unwrap(), Some(v(value)));
        assert_eq!(self.mirror.fallbacks(), 1);
    }

    /// Brings the primary back and reads `key` through the mirror (so it knows the value).
    async fn mirror_primary_up_and_read(&self, key: &SecretKey) {
        self.primary.unavailable.store(false, Ordering::SeqCst);
        self.mirror.get(key).await.unwrap();
    }
}

fn fixture() -> Fixture {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let primary = Arc::new(Faulty::new(local(a.path())));
    let secondary = Arc::new(Faulty::new(local(b.path())));
    let mirror = MirrorStore::new(primary.clone(), secondary.clone(), Duration::from_secs(2));
    Fixture {
        _dirs: (a, b),
        primary,
        secondary,
        mirror,
    }
}

#[tokio::test]
async fn passes_the_conformance_suite_and_keeps_both_sides_equal() {
    let f = fixture();
    secrets_broker::backends::testing::run_all(&f.mirror).await;
    f.mirror.set(&key("a"), &v("1")).await.unwrap();
    f.mirror.rename(&key("a"), "b").await.unwrap();
    assert_eq!(
        contents(f.primary.as_ref()).await,
        contents(f.secondary.as_ref()).await
    );
    assert_eq!(contents(f.secondary.as_ref()).await.len(), 1);
}

#[tokio::test]
async fn a_failed_secondary_write_is_rolled_back_on_the_primary() {
    let f = fixture();
    f.mirror.set(&key("db"), &v("old")).await.unwrap();
    f.secondary.fail_writes_to("db");
    f.secondary.fail_writes_to("new");
    let e = f.mirror.set(&key("db"), &v("new")).await.unwrap_err();
    assert!(matches!(e, Error::PermissionDenied(_)), "{e}");
    assert!(e.to_string().contains("undone on the primary"), "{e}");
    assert_eq!(f.primary.get(&key("db")).await.unwrap(), Some(v("old")));
    // A new key is removed again from the primary.
    assert!(f.mirror.set(&key("new"), &v("x")).await.is_err());
    assert_eq!(f.primary.get(&key("new")).await.unwrap(), None);
    // Delete and rename are undone too.
    assert!(f.mirror.delete(&key("db")).await.is_err());
    assert_eq!(f.primary.get(&key("db")).await.unwrap(), Some(v("old")));
    assert!(f.mirror.rename(&key("db"), "renamed").await.is_err());
    assert_eq!(f.primary.get(&key("db")).await.unwrap(), Some(v("old")));
    assert_eq!(f.primary.get(&key("renamed")).await.unwrap(), None);
    assert!(f.mirror.diverged().is_empty());
    // A transient secondary failure stays transient for the caller.
    f.secondary.stop_failing_writes();
    f.secondary.unavailable.store(true, Ordering::SeqCst);
    f.assert_setting_db_fails_transiently("n2").await;
    f.secondary.unavailable.store(false, Ordering::SeqCst);
    assert_eq!(
        contents(f.primary.as_ref()).await,
        contents(f.secondary.as_ref()).await
    );
}

#[tokio::test]
async fn a_failed_rollback_is_reported_and_reconciled() {
    let f = fixture();
    f.mirror.set(&key("db"), &v("old")).await.unwrap();
    f.secondary.fail_writes_to("db");
    // The primary accepts exactly one more write (the new value), then breaks: no rollback.
    f.primary.break_after_writes.store(
        f.primary.writes.load(Ordering::SeqCst) + 1,
        Ordering::SeqCst,
    );
    let e = f
        .mirror
        .set(&key("db"), &v("new"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("reconcile") && e.contains("undoing it on the primary failed"),
        "{e}"
    );
    assert_eq!(f.mirror.diverged(), vec![key("db")]);
    f.primary.break_after_writes.store(0, Ordering::SeqCst);
    f.secondary.stop_failing_writes();
    let dry = f.mirror.reconcile(true, false).await.unwrap();
    assert_eq!(dry.drift.different.len(), 1);
    assert_eq!(f.secondary.get(&key("db")).await.unwrap(), Some(v("old")));
    let done = f.mirror.reconcile(false, false).await.unwrap();
    assert_eq!(done.repaired, 1);
    assert_eq!(f.secondary.get(&key("db")).await.unwrap(), Some(v("new")));
    assert!(f.mirror.diverged().is_empty());
}

#[tokio::test]
async fn reads_fall_back_to_the_secondary_only_on_transient_errors() {
    let f = fixture();
    f.set_db_then_read_it_with_the_primary_down("val").await;
    // get_all and list never fall back: the primary's transient error.
    assert!(f.mirror.get_all().await.unwrap_err().is_transient());
    let filter = secrets_broker::domain::ListFilter::new(Some(1), "db", "datasource").unwrap();
    assert!(f.mirror.list(&filter).await.unwrap_err().is_transient());
    assert_eq!(f.mirror.fallbacks(), 1);
    // Writes never fall back: with the primary down they fail and change nothing.
    f.assert_setting_db_fails_transiently("other").await;
    assert_eq!(f.secondary.get(&key("db")).await.unwrap(), Some(v("val")));
    // Both down: the primary's error, naming the failed fallback.
    f.mirror_primary_up_and_read(&key("db")).await;
    f.primary.unavailable.store(true, Ordering::SeqCst);
    f.secondary.unavailable.store(true, Ordering::SeqCst);
    let e = f.mirror.get(&key("db")).await.unwrap_err().to_string();
    assert!(e.contains("fallback failed"), "{e}");
}

#[tokio::test]
async fn no_fallback_to_a_value_the_primary_has_since_rotated() {
    let f = fixture();
    f.mirror.set(&key("db"), &v("v1")).await.unwrap();
    // Rotation behind the mirror's back; the repair of the secondary on read fails.
    f.primary.set(&key("db"), &v("v2-rotated")).await.unwrap();
    f.secondary.fail_writes_to("db");
    assert_eq!(
        f.mirror.get(&key("db")).await.unwrap(),
        Some(v("v2-rotated"))
    );
    assert_eq!(f.secondary.get(&key("db")).await.unwrap(), Some(v("v1")));
    f.secondary.stop_failing_writes();
    // The primary goes down: the secondary's v1 is stale, so the answer is the primary's error.
    f.primary.unavailable.store(true, Ordering::SeqCst);
    let e = f.mirror.get(&key("db")).await.unwrap_err();
    assert!(e.is_transient(), "{e}");
    assert!(e.to_string().contains("holds another value or none"), "{e}");
    assert_eq!(f.mirror.fallbacks(), 0);
}

#[tokio::test]
async fn no_fallback_answers_absent() {
    let f = fixture();
    // A secret the primary has and the secondary lacks (created behind the mirror's back; the
    // repair on read fails).
    f.primary.set(&key("db"), &v("only-primary")).await.unwrap();
    f.secondary.fail_writes_to("db");
    assert_eq!(
        f.mirror.get(&key("db")).await.unwrap(),
        Some(v("only-primary"))
    );
    assert_eq!(f.secondary.get(&key("db")).await.unwrap(), None);
    f.primary.unavailable.store(true, Ordering::SeqCst);
    let e = f.mirror.get(&key("db")).await.unwrap_err();
    assert!(e.is_transient(), "{e}");
    // A key the mirror never saw: the primary's error, not "absent".
    assert!(f
        .mirror
        .get(&key("never-seen"))
        .await
        .unwrap_err()
        .is_transient());
    assert_eq!(f.mirror.fallbacks(), 0);
}

#[tokio::test]
async fn fallback_serves_only_a_value_known_to_match_the_primary_also_after_a_restart() {
    let f = fixture();
    f.set_db_then_read_it_with_the_primary_down("same").await;
    // A restarted mirror knows nothing of the primary yet: no fallback.
    let restarted = MirrorStore::new(
        f.primary.clone(),
        f.secondary.clone(),
        Duration::from_secs(2),
    );
    let e = restarted.get(&key("db")).await.unwrap_err();
    assert!(
        e.is_transient() && e.to_string().contains("not seen"),
        "{e}"
    );
    // Once it has read the primary's value, the matching secondary copy may answer.
    f.primary.unavailable.store(false, Ordering::SeqCst);
    assert_eq!(restarted.get(&key("db")).await.unwrap(), Some(v("same")));
    f.primary.unavailable.store(true, Ordering::SeqCst);
    assert_eq!(restarted.get(&key("db")).await.unwrap(), Some(v("same")));
    assert_eq!(restarted.fallbacks(), 1);
    // A delete through the mirror forgets the value: nothing to fall back to.
    f.primary.unavailable.store(false, Ordering::SeqCst);
    restarted.delete(&key("db")).await.unwrap();
    f.secondary.set(&key("db"), &v("same")).await.unwrap();
    f.primary.unavailable.store(true, Ordering::SeqCst);
    assert!(restarted.get(&key("db")).await.is_err());
}

#[tokio::test]
async fn an_out_of_band_change_on_the_primary_reaches_the_secondary_on_read() {
    let f = fixture();
    f.mirror.set(&key("db"), &v("v1")).await.unwrap();
    f.mirror.set(&key("other"), &v("o1")).await.unwrap();
    // Rotation behind the mirror's back.
    f.primary.set(&key("db"), &v("v2-rotated")).await.unwrap();
    assert_eq!(
        f.mirror.get(&key("db")).await.unwrap(),
        Some(v("v2-rotated"))
    );
    assert_eq!(
        f.secondary.get(&key("db")).await.unwrap(),
        Some(v("v2-rotated"))
    );
    assert_eq!(f.mirror.repairs_on_read(), 1);
    // A cached, unchanged key costs no repair; get_all repairs cached keys that changed.
    assert_eq!(
        f.mirror.get(&key("db")).await.unwrap(),
        Some(v("v2-rotated"))
    );
    f.primary.set(&key("other"), &v("o2")).await.unwrap();
    f.mirror.get_all().await.unwrap();
    assert_eq!(f.secondary.get(&key("other")).await.unwrap(), Some(v("o2")));
    assert_eq!(f.mirror.repairs_on_read(), 2);
    // A fresh mirror (empty cache) still notices: it compares both sides on first read.
    f.primary.set(&key("db"), &v("v3")).await.unwrap();
    let fresh = MirrorStore::new(
        f.primary.clone(),
        f.secondary.clone(),
        Duration::from_secs(1),
    );
    assert_eq!(fresh.get(&key("db")).await.unwrap(), Some(v("v3")));
    assert_eq!(f.secondary.get(&key("db")).await.unwrap(), Some(v("v3")));
}

#[test]
fn settings_are_validated() {
    let with = |pairs: &[(&str, &str)]| {
        let mut s = Settings::default();
        for (k, val) in pairs {
            s.insert(*k, *val, Source::Flag);
        }
        MirrorConfig::from_settings(&s)
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    assert!(with(&[]).unwrap_err().contains("mirror_primary"));
    assert!(
        with(&[("mirror_primary", "local"), ("mirror_secondary", "local")])
            .unwrap_err()
            .contains("another backend")
    );
    assert!(
        with(&[("mirror_primary", "local"), ("mirror_secondary", "mirror")])
            .unwrap_err()
            .contains("mirror_secondary")
    );
    assert!(with(&[
        ("mirror_primary", "local"),
        ("mirror_secondary", "aws"),
        ("mirror_fallback_timeout_ms", "soon")
    ])
    .unwrap_err()
    .contains("mirror_fallback_timeout_ms"));
}
