//! The `sm-emulator` binary on a disk that fills up: on a real 8 MiB tmpfs, CreateSecret from
//! concurrent SDK clients until the emulator answers errors because the disk is full (its log
//! says "No space left on device"). Then the file system is grown: the running emulator takes
//! writes again, and after `kill -9` and a restart every acknowledged secret is there with its
//! value and new writes succeed. Needs root (to mount); prints a skip reason otherwise.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;
#[path = "../../tests/reliability_support/small_disk.rs"]
mod small_disk;

use std::path::Path;
use std::sync::{Arc, Mutex};

use aws_sdk_secretsmanager::Client;
use common::{
    binary_command, client_for, code, comes_up, create, create_request, free_port, get, AKID,
    SECRET_KEY,
};
use small_disk::SmallDisk;

/// Starts `sm-emulator` on `data` with its output appended to `log` and waits until it answers.
async fn spawn_logged(data: &Path, port: u16, log: &Path) -> tokio::process::Child {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let child = binary_command(data, port)
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    if comes_up(port).await {
        return child;
    }
    panic!(
        "sm-emulator did not come up on port {port}; its log: {}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

/// A value of about 2 KiB, different for every secret.
fn value_for(name: &str) -> String {
    let mut v = format!("{name}:");
    while v.len() < 2000 {
        v.push_str(&format!("{:08x}", v.len() * 2_654_435_761 % 4_294_967_291));
    }
    v
}

async fn value_of(c: &Client, name: &str) -> Option<String> {
    match get(c, name).await {
        Ok(r) => r.secret_string().map(str::to_string),
        Err(e) => {
            let e = e.into_service_error();
            assert_eq!(code(&e), "ResourceNotFoundException", "{name}: {e:?}");
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_costs_writes_only_while_it_is_full() {
    let Some(disk) =
        SmallDisk::mount_or_skip("8m", "a_full_disk_costs_writes_only_while_it_is_full")
    else {
        return;
    };
    let data = disk.path().join("emulator-data");
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("sm-emulator.log");
    let port = free_port();
    let mut emulator = spawn_logged(&data, port, &log).await;
    let endpoint = format!("http://127.0.0.1:{port}");
    let c = client_for(&endpoint, "us-east-1", AKID, SECRET_KEY);

    // Four concurrent writers, each until it has seen 5 failures.
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let errors = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut writers = Vec::new();
    for w in 0..4 {
        let (c, acknowledged, errors) = (c.clone(), acknowledged.clone(), errors.clone());
        writers.push(tokio::spawn(async move {
            let mut failures = 0;
            for i in 0..20_000 {
                let name = format!("app/{w}/{i}");
                let res = create_request(&c, &name, value_for(&name)).send().await;
                match res {
                    Ok(_) => acknowledged.lock().unwrap().push(name),
                    Err(e) => {
                        errors.lock().unwrap().push(code(&e.into_service_error()));
                        failures += 1;
                        if failures == 5 {
                            return;
                        }
                    }
                }
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    let errors = errors.lock().unwrap().clone();
    let logged = std::fs::read_to_string(&log).unwrap();
    let enospc = logged.matches("No space left on device").count();
    println!(
        "FIGURES emulator_full_disk acknowledged={} failed={} enospc_log_lines={enospc}",
        acknowledged.len(),
        errors.len()
    );
    // the fault really happened: the disk filled after writes had been acknowledged
    assert!(
        enospc > 0,
        "the emulator never hit ENOSPC; its log: {logged}"
    );
    assert!(
        errors.iter().all(|e| e == "InternalServiceError"),
        "{errors:?}"
    );
    assert!(
        !acknowledged.is_empty(),
        "nothing acknowledged before the disk filled"
    );

    // The disk is grown: the running emulator takes writes again.
    disk.grow("64m");
    for i in 0..20 {
        let name = format!("grown/{i}");
        create_request(&c, &name, value_for(&name))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{name} after the disk was grown: {e:?}"));
    }

    // kill -9 and a restart: everything acknowledged is there.
    emulator.kill().await.unwrap();
    let _ = emulator.wait().await;
    let _emulator = spawn_logged(&data, port, &log).await;
    let c = client_for(&endpoint, "us-east-1", AKID, SECRET_KEY);
    let grown: Vec<String> = (0..20).map(|i| format!("grown/{i}")).collect();
    for name in acknowledged.iter().chain(&grown) {
        let got = value_of(&c, name).await;
        assert!(got.is_some(), "{name} was acknowledged but is lost");
        assert!(got.unwrap() == value_for(name), "{name} has a wrong value");
    }
    for i in 0..20 {
        let name = format!("after/{i}");
        create(&c, &name, value_for(&name)).await;
    }
    assert_eq!(
        value_of(&c, "after/19").await.unwrap(),
        value_for("after/19")
    );
}
