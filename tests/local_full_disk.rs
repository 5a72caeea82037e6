//! The plugin's `local` store on a disk that fills up: launched as Grafana launches it, on a real
//! 8 MiB tmpfs, SetSecrets from concurrent clients until they fail with "No space left on
//! device" (the plugin fills the disk itself, or another file fills it while secrets are being
//! written); the plugin runs on the full disk for a while, then the file system is grown and the
//! running plugin must take writes again within seconds (no restart); then it is killed and
//! started again, and every acknowledged secret must be there with its value and new writes
//! must succeed. Needs root (to mount); prints a skip reason otherwise.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod plugin_support;
#[path = "reliability_support/small_disk.rs"]
mod small_disk;

use std::path::Path;
use std::sync::{Arc, Mutex};

use plugin_support::*;
use small_disk::SmallDisk;

/// A value of about 2 KiB, different for every secret.
fn value_for(name: &str) -> String {
    let mut v = format!("{name}:");
    while v.len() < 2000 {
        v.push_str(&format!("{:08x}", v.len() * 2_654_435_761 % 4_294_967_291));
    }
    v
}

/// Writes secrets from four concurrent clients (Grafana saving data sources) named
/// `{prefix}-{writer}-{i}`, each until it has seen `failures` failures (or wrote `limit`).
/// Returns the acknowledged names and the errors.
async fn write_until_failing(
    plugin: &Plugin,
    prefix: &str,
    failures: usize,
    limit: usize,
) -> (Vec<String>, Vec<String>) {
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let errors = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut writers = Vec::new();
    for w in 0..4 {
        let mut c = plugin.client().await;
        let (acknowledged, errors) = (acknowledged.clone(), errors.clone());
        let prefix = prefix.to_string();
        writers.push(tokio::spawn(async move {
            let mut failed = 0;
            for i in 0..limit {
                let name = format!("{prefix}-{w}-{i}");
                let err = set(&mut c, 1, &name, &value_for(&name)).await;
                if err.is_empty() {
                    acknowledged.lock().unwrap().push(name);
                } else {
                    errors.lock().unwrap().push(err);
                    failed += 1;
                    if failed == failures {
                        return;
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
    (acknowledged, errors)
}

/// Fills the file system holding `dir` with a file until a write fails with ENOSPC.
fn fill(dir: &Path) {
    let mut f = std::fs::File::create(dir.join("filler")).unwrap();
    let block = vec![0x5a; 4096];
    loop {
        match std::io::Write::write(&mut f, &block) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(28) => break,
            Err(e) => panic!("filling the disk: {e}"),
        }
    }
}

/// One round: the disk fills up (by the plugin's own writes, or by `other_file` while the
/// plugin writes), the plugin runs on the full disk, the disk is grown, the plugin is killed and
/// restarted; nothing acknowledged may be lost.
async fn full_disk_round(other_file: bool) {
    let round = if other_file {
        "other_file"
    } else {
        "own_writes"
    };
    let Some(disk) =
        SmallDisk::mount_or_skip("8m", "a_full_disk_costs_writes_only_while_it_is_full")
    else {
        return;
    };
    let data = disk.path().join("plugin-data");
    let sockets = tempfile::tempdir().unwrap();
    let mut plugin = launch(grafana_command(&data, sockets.path(), &[]));

    let (mut acknowledged, mut errors) = if other_file {
        // some secrets, then another file takes the rest of the disk
        let (acknowledged, errors) = write_until_failing(&plugin, "before", 1, 50).await;
        assert!(errors.is_empty(), "{errors:?}");
        fill(disk.path());
        (acknowledged, errors)
    } else {
        (Vec::new(), Vec::new())
    };
    let (more, more_errors) = write_until_failing(&plugin, "ds", 5, 20_000).await;
    acknowledged.extend(more);
    errors.extend(more_errors);
    let enospc = errors
        .iter()
        .filter(|e| e.contains("No space left on device"))
        .count();
    println!(
        "FIGURES local_full_disk round={round} acknowledged={} failed={} enospc={enospc}",
        acknowledged.len(),
        errors.len()
    );
    // the fault really happened: the disk filled after writes had been acknowledged
    assert!(
        enospc > 0,
        "no write failed with ENOSPC; errors: {:?}",
        &errors[..errors.len().min(3)]
    );
    assert!(
        !acknowledged.is_empty(),
        "nothing acknowledged before the disk filled"
    );
    // an error names what went wrong and never carries a value
    for e in &errors {
        assert!(
            !e.contains(&value_for("ds-0-0")[10..40]),
            "a value leaked: {e}"
        );
    }

    // The plugin keeps running on the full disk for a while (its checkpoints, every second,
    // fail), then the disk is grown and Grafana goes on saving data sources.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    // A read while the disk is full answers the acknowledged value or an error, never "absent"
    // or another value (sled 0.34 can answer a read that needs the disk with its stored I/O
    // error once one of its writes failed).
    let mut c = plugin.client().await;
    for name in [&acknowledged[0], &acknowledged[acknowledged.len() - 1]] {
        let r = get(&mut c, 1, name).await;
        let answered = r.exists && r.decrypted_value == value_for(name);
        let refused = !r.exists && !r.user_friendly_error.is_empty();
        assert!(
            answered || refused,
            "{name} on the full disk: exists={} error={:?}",
            r.exists,
            r.user_friendly_error
        );
        println!(
            "read on the full disk: {}",
            if answered {
                "answered"
            } else {
                "refused with an error"
            }
        );
    }
    disk.grow("64m");
    // Writes work again without a restart: the first within a few seconds (after sled failed,
    // the store reopens it at most once a second), then every one.
    let grown_at = std::time::Instant::now();
    let mut attempts = 0;
    let recovered_after = loop {
        let name = format!("grown-{attempts}");
        attempts += 1;
        let last_error = set(&mut c, 1, &name, &value_for(&name)).await;
        if last_error.is_empty() {
            acknowledged.push(name);
            break grown_at.elapsed();
        }
        assert!(
            grown_at.elapsed() < std::time::Duration::from_secs(15),
            "no write succeeded within 15 s of the disk growing (the plugin was not restarted); \
             last error: {last_error}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    for i in 0..20 {
        let name = format!("grown-ok-{i}");
        let err = set(&mut c, 1, &name, &value_for(&name)).await;
        assert_eq!(
            err, "",
            "write {i} after the store took writes again failed"
        );
        acknowledged.push(name);
    }
    let reopened = plugin
        .stderr_lines()
        .iter()
        .filter(|l| l.contains("local store reopened"))
        .count();
    let segments = std::fs::read_dir(data.join("wal")).map_or(0, |d| d.count());
    println!(
        "FIGURES local_full_disk round={round} first_write_after_growth_ms={} attempts={attempts} \
         then 20/20 acknowledged, sled_reopened={reopened} wal_segments_at_kill={segments}",
        recovered_after.as_millis()
    );
    // kill -9 (no shutdown path runs), then Grafana starts the plugin again
    plugin.child.kill().unwrap();
    plugin.child.wait().unwrap();
    drop(c);
    drop(plugin);
    let plugin = launch(grafana_command(&data, sockets.path(), &[]));
    let mut c = plugin.client().await;
    for name in &acknowledged {
        let r = get(&mut c, 1, name).await;
        assert!(
            r.exists,
            "{name} was acknowledged but is lost: {}",
            r.user_friendly_error
        );
        assert!(
            r.decrypted_value == value_for(name),
            "{name} has a wrong value"
        );
    }
    for i in 0..50 {
        let name = format!("after-{i}");
        assert_eq!(set(&mut c, 1, &name, &value_for(&name)).await, "");
    }
    assert_eq!(
        get(&mut c, 1, "after-49").await.decrypted_value,
        value_for("after-49")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_costs_writes_only_while_it_is_full() {
    full_disk_round(false).await;
    full_disk_round(true).await;
}
