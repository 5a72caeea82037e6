//! Tests of the store: durability without a checkpoint, paced and interrupted checkpoints, the
//! older layouts' upgrade, the value cache's coherence, Debug output, removals and reset, and
//! per-store record numbers.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::record::{encode_version_record, key, version_key};
use super::{lock, Store, Tx};
use crate::model::{Secret, SecretData, Version, AWSCURRENT, AWSPREVIOUS};

fn secret(name: &str) -> Secret {
    Secret {
        name: name.into(),
        arn: format!("arn:aws:secretsmanager:us-east-1:1:secret:{name}-abcdef"),
        ..Secret::default()
    }
}

fn value(s: &str) -> SecretData {
    SecretData::String(s.into())
}

/// Adds a version holding `v` as AWSCURRENT, recording it in `tx` as the operations do.
fn put(store: &Store, tx: &mut Tx, s: &mut Secret, vid: &str, v: &SecretData) {
    let i = s.add_version(
        store.new_record_number(),
        vid.into(),
        1.0,
        Some(v.digest()),
        None,
    );
    s.attach_label(AWSCURRENT, i).unwrap();
    tx.put_value("1", "us-east-1", s.versions[i].rec, v);
    for v in &s.versions {
        tx.put_version("1", "us-east-1", &s.name, v);
    }
    tx.put_secret("1", "us-east-1", s);
}

/// Commits the changes `record` makes, in one transaction; returns its sequence number.
fn commit_with(store: &Store, record: impl FnOnce(&mut Tx)) -> u64 {
    let mut tx = Tx::default();
    record(&mut tx);
    store.commit(tx).unwrap()
}

/// Commits version `vid` of `s` holding `v` in one transaction; returns its sequence number.
fn commit_version(store: &Store, s: &mut Secret, vid: &str, v: &str) -> u64 {
    commit_with(store, |tx| put(store, tx, s, vid, &value(v)))
}

/// A store in a fresh directory (stopped, as [`open`] does, if `stopped`), and the directory.
fn fresh(stopped: bool) -> (tempfile::TempDir, Arc<Store>) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, stopped);
    (dir, store)
}

fn open(dir: &tempfile::TempDir, stopped: bool) -> Arc<Store> {
    let store = Store::open(Some(dir.path()), 1 << 20, 1 << 20).unwrap();
    if stopped {
        store.stop();
    }
    store
}

/// The stored value of version `vid` of `s`.
fn val(store: &Store, s: &Secret, vid: &str) -> Option<SecretData> {
    let rec = s.version(vid).unwrap().rec;
    store.value("1", "us-east-1", rec).unwrap()
}

/// The stored value of version `vid` of the secret `name`, as loaded from sled.
fn loaded_val(store: &Store, name: &str, vid: &str) -> Option<SecretData> {
    let all = loaded(store);
    val(store, all.iter().find(|s| s.name == name).unwrap(), vid)
}

fn loaded(store: &Store) -> Vec<Secret> {
    let mut all = store.load().unwrap();
    all.remove("1")
        .and_then(|mut r| r.remove("us-east-1"))
        .unwrap_or_default()
}

#[tokio::test]
async fn acknowledged_commits_survive_without_a_checkpoint() {
    let (dir, store) = fresh(true); // no checkpoint: sled never sees the commits
    let mut s = secret("a");
    commit_version(&store, &mut s, "v1", "one");
    let seq = commit_version(&store, &mut s, "v2", "two");
    // readers see the commit before any checkpoint
    let got = val(&store, &s, "v2");
    assert_eq!(got, Some(value("two")));
    assert_eq!(store.files.as_ref().unwrap().wal.sync().unwrap(), seq);
    drop(store);

    let store = open(&dir, false);
    let secrets = loaded(&store);
    assert_eq!(secrets.len(), 1);
    let vs = &secrets[0].versions;
    assert_eq!(vs.len(), 2);
    assert_eq!(vs[0].stages, vec![AWSPREVIOUS]);
    assert_eq!(vs[1].stages, vec![AWSCURRENT]);
    assert_eq!(val(&store, &secrets[0], "v1"), Some(value("one")));
    // after a checkpoint the log is cut and sled alone holds the same state
    store.checkpoint().unwrap();
    store.shutdown().await;
    drop(store);
    let store = open(&dir, false);
    assert_eq!(loaded(&store)[0].versions.len(), 2);
    store.shutdown().await;
}

#[tokio::test]
async fn a_paced_checkpoint_keeps_to_its_pace_and_writes_everything() {
    let (dir, store) = fresh(true);
    let mut names = Vec::new();
    for i in 0..200 {
        let mut s = secret(&format!("s{i:03}"));
        commit_version(&store, &mut s, "v1", &format!("value {i}"));
        names.push(s);
    }
    // 400 records: the pace is checked after every 64, so the last check (at 384) is due
    // at 96 % of the spread
    let spread = Duration::from_millis(300);
    let t = Instant::now();
    store.checkpoint_within(spread).unwrap();
    assert!(t.elapsed() >= spread.mul_f64(0.9), "{:?}", t.elapsed());
    assert!(lock(&store.pending).active.is_empty());
    assert!(lock(&store.pending).flushing.is_empty());
    for (i, n) in names.iter().enumerate() {
        let k = version_key("1", "us-east-1", n.version("v1").unwrap().rec);
        assert!(
            store.db.get(&k).unwrap().is_some(),
            "{} not in sled",
            n.name
        );
        let got = val(&store, n, "v1");
        assert_eq!(got, Some(value(&format!("value {i}"))));
    }
    drop(store);
    let store = open(&dir, false);
    assert_eq!(loaded(&store).len(), 200);
    store.shutdown().await;
}

#[tokio::test]
async fn a_checkpoint_cut_short_is_repaired_by_the_log() {
    let (dir, store) = fresh(true);
    let mut a = secret("a");
    commit_version(&store, &mut a, "a1", "a1");
    store.checkpoint().unwrap();
    let mut tx = Tx::default();
    put(&store, &mut tx, &mut a, "a2", &value("a2"));
    let mut b = secret("b");
    put(&store, &mut tx, &mut b, "b1", &value("b1"));
    store.commit(tx).unwrap();
    store.files.as_ref().unwrap().wal.sync().unwrap();
    // a crash part-way through the next checkpoint: one change in sled, the marker old
    let partial = version_key("1", "us-east-1", a.version("a2").unwrap().rec);
    let rec = store.get(&partial).unwrap().unwrap();
    store.db.insert(partial, rec).unwrap();
    store.db.flush().unwrap();
    drop(store);

    let store = open(&dir, false);
    let secrets = loaded(&store);
    assert_eq!(secrets.len(), 2);
    let labels: Vec<_> = secrets[0]
        .versions
        .iter()
        .map(|v| v.stages.clone())
        .collect();
    assert_eq!(labels, vec![vec![AWSPREVIOUS], vec![AWSCURRENT]]);
    assert_eq!(loaded_val(&store, "b", "b1"), Some(value("b1")));
    store.shutdown().await;
}

#[tokio::test]
async fn older_layout_loads_and_takes_new_writes() {
    let dir = tempfile::tempdir().unwrap();
    {
        // the layout written before version records merged: labels in `v`, bare values in `d`
        let db = sled::open(dir.path()).unwrap();
        let mut s = secret("old");
        s.next_seq = 1;
        db.insert(
            key(b's', "1", "us-east-1", "old", None),
            serde_json::to_vec(&s).unwrap(),
        )
        .unwrap();
        let mut v = Version {
            id: "v0".into(),
            seq: 0,
            stages: vec![AWSCURRENT.into()],
            created: 1.0,
            last_accessed: Some(0.0),
            digest: Some(value("zero").digest()),
            kms_key_id: None,
            stored: Default::default(),
            rec: 0,
        };
        v.stages.shrink_to_fit();
        db.insert(
            key(b'v', "1", "us-east-1", "old", Some("v0")),
            serde_json::to_vec(&v).unwrap(),
        )
        .unwrap();
        db.insert(
            key(b'd', "1", "us-east-1", "old", Some("v0")),
            value("zero").encode(),
        )
        .unwrap();
        db.flush().unwrap();
    }
    let store = open(&dir, false);
    let mut s = loaded(&store).remove(0);
    assert_eq!(s.versions[0].stages, vec![AWSCURRENT]);
    assert_eq!(s.versions[0].last_accessed, Some(0.0));
    assert_eq!(val(&store, &s, "v0"), Some(value("zero")));
    commit_version(&store, &mut s, "v1", "one");
    store.checkpoint().unwrap();
    store.shutdown().await;
    drop(store);

    let store = open(&dir, false);
    let s = loaded(&store).remove(0);
    let labels: Vec<_> = s.versions.iter().map(|v| v.stages.clone()).collect();
    assert_eq!(labels, vec![vec![AWSPREVIOUS], vec![AWSCURRENT]]);
    assert_eq!(val(&store, &s, "v0"), Some(value("zero")));
    // the old records are gone: everything is in the current layout
    assert_eq!(store.db.scan_prefix([b'v', 0]).count(), 0);
    assert_eq!(store.db.scan_prefix([b'd', 0]).count(), 0);
    assert_eq!(store.db.scan_prefix([b'e', 0]).count(), 2);
    store.shutdown().await;
}

#[tokio::test]
async fn name_keyed_version_records_are_rewritten_by_record_number() {
    let dir = tempfile::tempdir().unwrap();
    {
        // the layout before record numbers: `d` records keyed by name and version id, holding
        // the immutable part and the value; labels in the secret's record
        let db = sled::open(dir.path()).unwrap();
        let s = secret("named");
        let rec = serde_json::json!({
            "name": "named", "arn": s.arn, "created": 1.0, "last_changed": 1.0,
            "next_seq": 2,
            "version_state": [
                {"id": "v0", "stages": [AWSPREVIOUS]},
                {"id": "v1", "stages": [AWSCURRENT], "last_accessed": 0.0}
            ]
        });
        db.insert(
            key(b's', "1", "us-east-1", "named", None),
            serde_json::to_vec(&rec).unwrap(),
        )
        .unwrap();
        for (seq, vid) in ["v0", "v1"].into_iter().enumerate() {
            let data = value(&format!("value of {vid}"));
            let header = serde_json::json!({
                "id": vid, "seq": seq, "created": 1.0, "digest": data.digest()
            });
            db.insert(
                key(b'd', "1", "us-east-1", "named", Some(vid)),
                encode_version_record(&serde_json::to_vec(&header).unwrap(), Some(&data.encode())),
            )
            .unwrap();
        }
        db.flush().unwrap();
    }
    let store = open(&dir, false);
    let s = loaded(&store).remove(0);
    let ids: Vec<_> = s.versions.iter().map(|v| v.id.as_str()).collect();
    assert_eq!(ids, ["v0", "v1"]);
    assert_eq!(s.versions[0].stages, vec![AWSPREVIOUS]);
    assert_eq!(s.versions[1].stages, vec![AWSCURRENT]);
    assert_eq!(s.versions[1].last_accessed, Some(0.0));
    assert!(s.versions[0].rec < s.versions[1].rec);
    assert_eq!(val(&store, &s, "v0"), Some(value("value of v0")));
    assert_eq!(val(&store, &s, "v1"), Some(value("value of v1")));
    assert_eq!(store.db.scan_prefix([b'd', 0]).count(), 0);
    // a new version's record number is above the rewritten ones
    let mut s = s;
    let mut tx = Tx::default();
    put(&store, &mut tx, &mut s, "v2", &value("two"));
    assert!(s.versions[2].rec > s.versions[1].rec);
    store.commit(tx).unwrap();
    store.checkpoint().unwrap();
    store.shutdown().await;
    drop(store);
    let store = open(&dir, false);
    let s = loaded(&store).remove(0);
    assert_eq!(s.versions.len(), 3);
    assert_eq!(val(&store, &s, "v2"), Some(value("two")));
    assert_eq!(val(&store, &s, "v0"), Some(value("value of v0")));
    store.shutdown().await;
}

#[tokio::test]
async fn cached_values_follow_commits_and_checkpoints() {
    let (_dir, store) = fresh(true);
    let mut s = secret("c");
    commit_version(&store, &mut s, "v1", "first");
    store.checkpoint().unwrap();
    let rec = s.version("v1").unwrap().rec;
    let read = || store.value("1", "us-east-1", rec).unwrap();
    assert_eq!(read(), Some(value("first"))); // from sled, now cached
                                              // the cache holds the value alone (kind byte and text), not the record's immutable part
    let key = super::record::version_key("1", "us-east-1", rec);
    assert_eq!(
        store.values.lock().unwrap().get(&key).as_deref(),
        Some(&b"Sfirst"[..])
    );
    assert_eq!(read(), Some(value("first"))); // from the cache
    commit_with(&store, |tx| {
        tx.put_value("1", "us-east-1", rec, &value("second"))
    });
    assert_eq!(read(), Some(value("second")));
    store.checkpoint().unwrap();
    assert_eq!(read(), Some(value("second")));
    assert_eq!(read(), Some(value("second")));
    commit_with(&store, |tx| tx.del_version("1", "us-east-1", rec));
    assert_eq!(read(), None);
    store.checkpoint().unwrap();
    assert_eq!(read(), None);
    store.shutdown().await;
}

#[tokio::test]
async fn debug_output_never_shows_values() {
    let (_dir, store) = fresh(true);
    let mut s = secret("d");
    let mut tx = Tx::default();
    put(&store, &mut tx, &mut s, "v1", &value("hunter2-secret"));
    assert!(!format!("{tx:?}").contains("hunter2"), "{tx:?}");
    store.commit(tx).unwrap();
    assert_eq!(val(&store, &s, "v1"), Some(value("hunter2-secret")));
    store.checkpoint().unwrap();
    val(&store, &s, "v1"); // now in the value cache
    commit_version(&store, &mut s, "v2", "hunter2-again"); // pending and in the log's buffer
    let shown = format!("{store:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    // nor as the bytes' Debug form
    let bytes = format!("{:?}", b"hunter2");
    assert!(!shown.contains(&bytes[1..bytes.len() - 1]), "{shown}");
    store.shutdown().await;
}

#[tokio::test]
async fn removals_and_reset_reach_sled() {
    let (dir, store) = fresh(false);
    let mut s = secret("gone");
    commit_version(&store, &mut s, "v1", "x");
    store.checkpoint().unwrap();
    commit_with(&store, |tx| tx.del_secret("1", "us-east-1", &s));
    // the removal hides the checkpointed value at once
    assert_eq!(val(&store, &s, "v1"), None);
    store.checkpoint().unwrap();
    assert!(loaded(&store).is_empty());
    commit_version(&store, &mut secret("later"), "v1", "y");
    store.clear().unwrap();
    store.shutdown().await;
    drop(store);
    let store = open(&dir, false);
    assert!(loaded(&store).is_empty());
    store.shutdown().await;
}

#[tokio::test]
async fn each_store_numbers_its_own_records() {
    // a store that loaded high record numbers does not raise another store's numbers
    let (dir, store) = fresh(true);
    let mut s = secret("numbered");
    for i in 0..50 {
        commit_version(&store, &mut s, &format!("v{i}"), "x");
    }
    store.checkpoint().unwrap();
    drop(store);
    let loaded_store = open(&dir, true);
    let highest = loaded(&loaded_store)[0].versions.last().unwrap().rec;
    assert!(loaded_store.new_record_number() > highest);

    let first = Store::open(None, 1 << 20, 1 << 20).unwrap();
    let second = Store::open(None, 1 << 20, 1 << 20).unwrap();
    assert_eq!(first.new_record_number(), 1);
    assert_eq!(first.new_record_number(), 2);
    assert_eq!(second.new_record_number(), 1);
    assert_eq!(first.new_record_number(), 3);
}

#[tokio::test]
async fn loading_notes_creation_orders() {
    let (dir, store) = fresh(true);
    let mut s = secret("ordered");
    s.created_order = 1_000;
    commit_with(&store, |tx| tx.put_secret("1", "us-east-1", &s));
    store.checkpoint().unwrap();
    drop(store);
    let store = open(&dir, true);
    assert_eq!(loaded(&store)[0].created_order, 1_000);
    assert!(store.new_record_number() > 1_000);
}
