//! Persistence: everything survives a restart on the same sled directory, and every acknowledged
//! write survives `kill -9` of the `sm-emulator` binary in the middle of a write load (the test
//! proves the kill landed mid-load: the process was running, died of SIGKILL, and cut off
//! requests in flight).
#![allow(clippy::unwrap_used)]

mod common;
#[path = "../../tests/reliability_support/kill.rs"]
mod kill;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_secretsmanager::types::Tag;
use common::{client, client_for, free_port, spawn_binary, AKID, SECRET_KEY};
use secretsmanager_emulator::Emulator;

#[tokio::test]
async fn state_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let arn;
    {
        let emu = Emulator::builder()
            .data_dir(dir.path())
            .start()
            .await
            .unwrap();
        let c = client(&emu);
        arn = c
            .create_secret()
            .name("keep/me")
            .description("d")
            .tags(Tag::builder().key("k").value("v").build())
            .secret_string("one")
            .send()
            .await
            .unwrap()
            .arn()
            .unwrap()
            .to_string();
        c.put_secret_value()
            .secret_id("keep/me")
            .secret_string("two")
            .send()
            .await
            .unwrap();
        c.put_secret_value()
            .secret_id("keep/me")
            .secret_string("pending")
            .version_stages("AWSPENDING")
            .send()
            .await
            .unwrap();
        c.create_secret()
            .name("bin")
            .secret_binary(aws_sdk_secretsmanager::primitives::Blob::new(vec![0, 1, 2]))
            .send()
            .await
            .unwrap();
        c.create_secret()
            .name("doomed")
            .secret_string("x")
            .send()
            .await
            .unwrap();
        c.delete_secret()
            .secret_id("doomed")
            .recovery_window_in_days(7)
            .send()
            .await
            .unwrap();
        c.create_secret()
            .name("gone")
            .secret_string("x")
            .send()
            .await
            .unwrap();
        c.delete_secret()
            .secret_id("gone")
            .force_delete_without_recovery(true)
            .send()
            .await
            .unwrap();
        let west = client_for(&emu.endpoint(), "eu-west-1", AKID, SECRET_KEY);
        west.create_secret()
            .name("keep/me")
            .secret_string("west")
            .send()
            .await
            .unwrap();
        emu.shutdown().await;
    }
    let emu = Emulator::builder()
        .data_dir(dir.path())
        .start()
        .await
        .unwrap();
    let c = client(&emu);
    let g = c.get_secret_value().secret_id(&arn).send().await.unwrap();
    assert_eq!(g.secret_string(), Some("two"));
    assert_eq!(
        c.get_secret_value()
            .secret_id("keep/me")
            .version_stage("AWSPREVIOUS")
            .send()
            .await
            .unwrap()
            .secret_string(),
        Some("one")
    );
    assert_eq!(
        c.get_secret_value()
            .secret_id("keep/me")
            .version_stage("AWSPENDING")
            .send()
            .await
            .unwrap()
            .secret_string(),
        Some("pending")
    );
    let d = c
        .describe_secret()
        .secret_id("keep/me")
        .send()
        .await
        .unwrap();
    assert_eq!(d.description(), Some("d"));
    assert_eq!(d.tags().len(), 1);
    assert_eq!(d.version_ids_to_stages().unwrap().len(), 3);
    assert_eq!(
        c.get_secret_value()
            .secret_id("bin")
            .send()
            .await
            .unwrap()
            .secret_binary()
            .unwrap()
            .as_ref(),
        &[0, 1, 2]
    );
    assert!(c
        .describe_secret()
        .secret_id("doomed")
        .send()
        .await
        .unwrap()
        .deleted_date()
        .is_some());
    assert!(c.describe_secret().secret_id("gone").send().await.is_err());
    let west = client_for(&emu.endpoint(), "eu-west-1", AKID, SECRET_KEY);
    assert_eq!(
        west.get_secret_value()
            .secret_id("keep/me")
            .send()
            .await
            .unwrap()
            .secret_string(),
        Some("west")
    );
    // writes keep working after the restart (version sequence continues)
    c.put_secret_value()
        .secret_id("keep/me")
        .secret_string("three")
        .send()
        .await
        .unwrap();
    let v = c
        .list_secret_version_ids()
        .secret_id("keep/me")
        .include_deprecated(true)
        .send()
        .await
        .unwrap();
    assert_eq!(v.versions().len(), 4);
    // listed oldest first, as AWS does: the newest version is last
    assert_eq!(
        v.versions().last().map(|v| v.version_stages()),
        Some(&["AWSCURRENT".to_string()][..])
    );
    emu.shutdown().await;
}

fn token(worker: usize, i: usize) -> String {
    format!("{worker:08}-0000-4000-8000-{i:012}")
}

#[tokio::test]
async fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = spawn_binary(dir.path(), port).await;
    let endpoint = format!("http://127.0.0.1:{port}");
    // (worker, last acknowledged index)
    let acked: Arc<Mutex<Vec<Option<usize>>>> = Arc::new(Mutex::new(vec![None; 8]));
    let acked_count = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for w in 0..8 {
        let acked = acked.clone();
        let acked_count = acked_count.clone();
        let c = client_for(&endpoint, "us-east-1", AKID, SECRET_KEY);
        tasks.push(tokio::spawn(async move {
            let name = format!("load/{w}");
            let sent = Instant::now();
            if c.create_secret()
                .name(&name)
                .secret_string("0")
                .client_request_token(token(w, 0))
                .send()
                .await
                .is_err()
            {
                let failed = Instant::now();
                return kill::FailedRequest { sent, failed };
            }
            acked.lock().unwrap()[w] = Some(0);
            acked_count.fetch_add(1, Ordering::SeqCst);
            for i in 1.. {
                let sent = Instant::now();
                let r = c
                    .put_secret_value()
                    .secret_id(&name)
                    .secret_string(i.to_string())
                    .client_request_token(token(w, i))
                    .send()
                    .await;
                if r.is_err() {
                    let failed = Instant::now();
                    return kill::FailedRequest { sent, failed };
                }
                acked.lock().unwrap()[w] = Some(i);
                acked_count.fetch_add(1, Ordering::SeqCst);
            }
            unreachable!("the load runs until the server dies")
        }));
    }
    // Kill once the load has made progress (every worker past its CreateSecret and more),
    // while the eight writers keep writing.
    let deadline = Instant::now() + Duration::from_secs(60);
    while acked_count.load(Ordering::SeqCst) < 80 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the emulator exited by itself under load"
        );
        assert!(Instant::now() < deadline, "the load made no progress");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let running_at_kill = child.try_wait().unwrap().is_none();
    let acked_before_kill = acked_count.load(Ordering::SeqCst);
    let killed_at = Instant::now();
    child.start_kill().unwrap(); // SIGKILL
    let status = child.wait().await.unwrap();
    let mut failures = Vec::new();
    for t in tasks {
        failures.push(Some(t.await.unwrap()));
    }
    let evidence = kill::KillEvidence::new(
        running_at_kill,
        status,
        killed_at,
        acked_before_kill,
        &failures,
    );
    assert!(
        evidence.landed_mid_run() && evidence.writing_at_kill == 8,
        "the kill did not land mid-run with all 8 writers writing: {evidence:?}"
    );
    eprintln!("killed mid-run: {evidence:?}");
    let acked = acked.lock().unwrap().clone();

    let mut child = spawn_binary(dir.path(), port).await;
    let c = client_for(&endpoint, "us-east-1", AKID, SECRET_KEY);
    for (w, last) in acked.iter().enumerate() {
        let Some(last) = *last else { continue };
        let name = format!("load/{w}");
        for i in 0..=last {
            let g = c
                .get_secret_value()
                .secret_id(&name)
                .version_id(token(w, i))
                .send()
                .await
                .unwrap();
            assert_eq!(
                g.secret_string(),
                Some(i.to_string().as_str()),
                "worker {w} write {i}"
            );
        }
        // AWSCURRENT is the last acknowledged write or the one in flight at the kill
        let cur: usize = c
            .get_secret_value()
            .secret_id(&name)
            .send()
            .await
            .unwrap()
            .secret_string()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            cur == last || cur == last + 1,
            "worker {w}: current {cur}, last acknowledged {last}"
        );
    }
    child.start_kill().unwrap();
    child.wait().await.unwrap();
}
