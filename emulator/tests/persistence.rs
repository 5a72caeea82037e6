//! Persistence: everything survives a restart on the same sled directory, and every acknowledged
//! write survives `kill -9` of the `sm-emulator` binary in the middle of a write load (the test
//! proves the kill landed mid-load: the process was running, died of SIGKILL, and cut off
//! requests in flight). A database settings file torn by a crash does not keep the emulator from
//! starting.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_secretsmanager::types::Tag;
use common::{
    client, client_for, client_in, create, create_request, current, delete, describe, free_port,
    get, kill, kill_9_mid_load, put, put_request, spawn_binary, value_at, AKID, SECRET_KEY,
};
use secretsmanager_emulator::Emulator;

/// The emulator on the data directory `dir` and a client for it.
async fn open(dir: &std::path::Path) -> (Emulator, aws_sdk_secretsmanager::Client) {
    let emu = Emulator::builder().data_dir(dir).start().await.unwrap();
    let c = client(&emu);
    (emu, c)
}

#[tokio::test]
async fn state_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let arn;
    {
        let (emu, c) = open(dir.path()).await;
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
        put(&c, "keep/me", "two").await.unwrap();
        put_request(&c, "keep/me", "pending")
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
        create(&c, "doomed", "x").await;
        delete(&c, "doomed", Some(7)).await.unwrap();
        create(&c, "gone", "x").await;
        delete(&c, "gone", None).await.unwrap();
        let west = client_in(&emu.endpoint(), "eu-west-1");
        create(&west, "keep/me", "west").await;
        emu.shutdown().await;
    }
    let (emu, c) = open(dir.path()).await;
    let g = get(&c, &arn).await.unwrap();
    assert_eq!(g.secret_string(), Some("two"));
    assert_eq!(
        value_at(&c, "keep/me", Some("AWSPREVIOUS"))
            .await
            .as_deref(),
        Some("one")
    );
    assert_eq!(
        value_at(&c, "keep/me", Some("AWSPENDING")).await.as_deref(),
        Some("pending")
    );
    let d = describe(&c, "keep/me").await.unwrap();
    assert_eq!(d.description(), Some("d"));
    assert_eq!(d.tags().len(), 1);
    assert_eq!(d.version_ids_to_stages().unwrap().len(), 3);
    assert_eq!(
        get(&c, "bin")
            .await
            .unwrap()
            .secret_binary()
            .unwrap()
            .as_ref(),
        &[0, 1, 2]
    );
    assert!(describe(&c, "doomed")
        .await
        .unwrap()
        .deleted_date()
        .is_some());
    assert!(describe(&c, "gone").await.is_err());
    let west = client_in(&emu.endpoint(), "eu-west-1");
    assert_eq!(current(&west, "keep/me").await.as_deref(), Some("west"));
    // writes keep working after the restart (version sequence continues)
    put(&c, "keep/me", "three").await.unwrap();
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

/// sled writes its settings file (`conf`) in two writes without a sync; a kill between them leaves
/// the settings without their checksum, and sled alone then refuses to open the directory. (The
/// emulator is started in process, on a port of its own choosing: two tests here that pick free
/// ports for the binary at the same moment can be given the same one.)
#[tokio::test]
async fn a_settings_file_torn_by_a_crash_does_not_keep_the_emulator_from_starting() {
    let dir = tempfile::tempdir().unwrap();
    let (emu, c) = open(dir.path()).await;
    create(&c, "kept", "value").await;
    emu.shutdown().await;
    let conf = dir.path().join("conf");
    let whole = std::fs::read(&conf).unwrap();
    std::fs::write(&conf, &whole[..whole.len() - 4]).unwrap();
    let (emu, c) = open(dir.path()).await;
    let read = get(&c, "kept").await.unwrap();
    assert_eq!(read.secret_string(), Some("value"));
    assert_eq!(
        std::fs::read(&conf).unwrap(),
        whole,
        "the whole file is back"
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
            if create_request(&c, &name, "0")
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
                let r = put_request(&c, &name, i.to_string())
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
    let evidence = kill_9_mid_load(&mut child, &acked_count, tasks, |f| f).await;
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
        let cur: usize = current(&c, &name)
            .await
            .as_deref()
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
