//! `kdf-rate`: PBKDF2-HMAC-SHA256 (10,000 rounds, Grafana's per-value cost) derivations per
//! second, one at a time on one thread and interleaved on every core, as result lines.

use std::num::NonZeroU32;
use std::time::Instant;

use anyhow::Context as _;
use bench::stats::RunResult;
use clap::Parser;

#[derive(Debug, Parser)]
#[command(
    about = "PBKDF2 (10,000 rounds) derivations per second: one lane vs interleaved, one core vs all"
)]
struct Args {
    /// Derivations per measurement.
    #[arg(long, default_value_t = 400)]
    n: usize,
}

/// A result line; `threads` 0 means one thread per core (the count goes into `extra.threads`).
fn line(workload: &str, threads: usize, n: usize, seconds: f64) -> String {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut extra = std::collections::BTreeMap::new();
    extra.insert(
        "threads".to_string(),
        if threads == 0 { cores } else { threads } as f64,
    );
    RunResult {
        target: "kdf".into(),
        workload: workload.into(),
        concurrency: threads,
        requests: n as u64,
        ok: n as u64,
        seconds,
        rps: n as f64 / seconds.max(1e-9),
        p50_ms: seconds * 1e3 / n.max(1) as f64,
        p99_ms: 0.0,
        max_ms: 0.0,
        errors: Default::default(),
        extra,
    }
    .to_line()
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let rounds = NonZeroU32::new(10_000).context("rounds")?;
    let password = b"0123456789abcdefghijklmnopqrstuv".to_vec();
    let salts: Vec<[u8; 8]> = (0..args.n)
        .map(|i| {
            let mut s = *b"saltsalt";
            s[..4].copy_from_slice(&(i as u32).to_le_bytes());
            s
        })
        .collect();

    let t = Instant::now();
    for s in &salts {
        std::hint::black_box(broker_kdf::derive(&password, s, rounds));
    }
    println!(
        "{}",
        line("derive_one_at_a_time", 1, args.n, t.elapsed().as_secs_f64())
    );

    let inputs: Vec<(&[u8], &[u8])> = salts.iter().map(|s| (&password[..], &s[..])).collect();
    let t = Instant::now();
    std::hint::black_box(broker_kdf::derive_many(&inputs, rounds));
    println!(
        "{}",
        line("derive_many", 1, args.n, t.elapsed().as_secs_f64())
    );

    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = inputs.len().div_ceil(cores);
    let t = Instant::now();
    std::thread::scope(|scope| {
        for part in inputs.chunks(chunk) {
            scope.spawn(move || std::hint::black_box(broker_kdf::derive_many(part, rounds)));
        }
    });
    println!(
        "{}",
        line("derive_many", 0, args.n, t.elapsed().as_secs_f64())
    );
    Ok(())
}
