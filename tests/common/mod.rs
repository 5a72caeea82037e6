//! Helpers for any root integration test, whatever it exercises: sizes read from the
//! environment, searching a folder's files for bytes, a workload striped over concurrent
//! tasks, and the emulator's throttling-and-5xx fault mix with the check of its shares.
#![allow(dead_code, clippy::unwrap_used)]

use std::future::Future;
use std::path::{Path, PathBuf};

use secretsmanager_emulator::{FaultRule, FaultSettings};

/// A size a measurement or soak test reads from the environment variable `var` (unset or not
/// a number: `default`).
pub fn env_count(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The files below `dir` (recursively) whose bytes contain `needle`.
pub fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                if bytes.windows(needle.len()).any(|w| w == needle) {
                    hits.push(path);
                }
            }
        }
    }
    hits
}

/// Runs items `0..n` on `workers` concurrent tasks: task `w` gets its index and the items `w`,
/// `w + workers`, ... Waits for all of them; a panic in one fails the test.
pub async fn striped<F, Fut>(n: usize, workers: usize, work: F)
where
    F: Fn(usize, std::iter::StepBy<std::ops::Range<usize>>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let tasks: Vec<_> = (0..workers)
        .map(|w| tokio::spawn(work(w, (w..n).step_by(workers))))
        .collect();
    for t in tasks {
        t.await.expect("worker");
    }
}

/// The emulator throttles 30% of calls and fails 5% of all calls with a 500 or 503 (drawn on the
/// 70% not throttled: 0.043 + 0.029 of those is 5% of all calls).
pub fn throttle_30_and_5xx_5(seed: u64) -> FaultSettings {
    FaultSettings {
        seed: Some(seed),
        rules: vec![FaultRule {
            throttle_rate: Some(0.30),
            error_rate: Some(0.043),
            unavailable_rate: Some(0.029),
            ..FaultRule::default()
        }],
    }
}

/// Prints the shares of throttled and 5xx calls in the emulator's `stats` and checks they are
/// those of [`throttle_30_and_5xx_5`] (of all calls, retries included).
pub fn assert_throttle_30_and_5xx_5(stats: &serde_json::Value) {
    let (total, throttled, injected) = fault_counts(stats);
    let share = |n: u64| n as f64 / total as f64;
    println!(
        "calls {total}, throttled {throttled} ({:.1}%), injected 5xx {injected} ({:.1}%)",
        100.0 * share(throttled),
        100.0 * share(injected)
    );
    for (what, n, expected) in [
        ("throttled", throttled, 0.25..0.35),
        ("5xx", injected, 0.03..0.07),
    ] {
        assert!(expected.contains(&share(n)), "{what} share off: {stats}");
    }
}

/// The emulator's fault statistics (its `stats()` JSON): (calls, throttled, injected 5xx).
pub fn fault_counts(stats: &serde_json::Value) -> (u64, u64, u64) {
    let count = |field: &str| {
        stats[field]
            .as_u64()
            .unwrap_or_else(|| panic!("no count {field} in {stats}"))
    };
    (count("total"), count("throttled"), count("injected_errors"))
}
