//! sled's own footprint on an emulator data directory: opens it as the emulator does (no periodic
//! flush, a given page-cache size), then either reads every secret record (`scan`, what an
//! index built at start-up reads; `index` also keeps each secret's name and 48 bytes beside it in
//! a B-tree, the size of a summary an index would hold) or gets random version records (`get`,
//! reads on demand), and
//! prints the seconds and the process's RSS and peak RSS after each step as JSON lines. Run it with
//! the emulator's allocator settings (`MIMALLOC_ARENA_EAGER_COMMIT=0 MIMALLOC_PURGE_DELAY=0`) on
//! a stopped emulator's directory; it changes nothing there.

use std::time::Instant;

use anyhow::{bail, Context as _};
use clap::{Parser, ValueEnum};

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(about = "sled's own memory and time on an emulator data directory")]
struct Args {
    /// The emulator's data directory (stopped).
    dir: std::path::PathBuf,
    /// What to read after opening.
    #[arg(long, value_enum, default_value_t = Step::Scan)]
    step: Step,
    /// sled page-cache size in bytes (the emulator's default is 2 MiB).
    #[arg(long, default_value_t = 2 << 20)]
    cache_bytes: u64,
    /// Random version-record gets for `--step get`.
    #[arg(long, default_value_t = 300_000)]
    gets: u64,
}

#[derive(Clone, Copy, ValueEnum)]
enum Step {
    /// Every secret record (`s` keys).
    Scan,
    /// Every secret record, keeping each name with a 48-byte summary.
    Index,
    /// Random version records (`e` keys) of the first account and region.
    Get,
}

/// VmRSS and VmHWM of this process in KiB.
fn memory_kib() -> anyhow::Result<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let field = |name: &str| -> anyhow::Result<u64> {
        let line = status
            .lines()
            .find(|l| l.starts_with(name))
            .with_context(|| format!("{name} missing from /proc/self/status"))?;
        Ok(line
            .split_whitespace()
            .nth(1)
            .context("no value")?
            .parse()?)
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

fn report(step: &str, started: Instant, extra: serde_json::Value) -> anyhow::Result<()> {
    let (rss, hwm) = memory_kib()?;
    let line = serde_json::json!({
        "step": step,
        "seconds": started.elapsed().as_secs_f64(),
        "rss_mib": rss as f64 / 1024.0,
        "peak_rss_mib": hwm as f64 / 1024.0,
        "extra": extra,
    });
    println!("{line}");
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if !args.dir.join("conf").is_file() {
        bail!("{} holds no sled database", args.dir.display());
    }
    let started = Instant::now();
    let db = sled::Config::new()
        .path(&args.dir)
        .cache_capacity(args.cache_bytes)
        .flush_every_ms(None)
        .open()
        .with_context(|| format!("cannot open {}", args.dir.display()))?;
    report("open", started, serde_json::json!({}))?;
    let started = Instant::now();
    match args.step {
        Step::Scan => {
            let (mut records, mut bytes) = (0u64, 0u64);
            for item in db.scan_prefix([b's', 0]) {
                let (k, v) = item?;
                records += 1;
                bytes += (k.len() + v.len()) as u64;
            }
            report(
                "scan secret records",
                started,
                serde_json::json!({"records": records, "bytes": bytes}),
            )?;
        }
        Step::Index => {
            let mut index: std::collections::BTreeMap<Box<str>, [u64; 6]> =
                std::collections::BTreeMap::new();
            for item in db.scan_prefix([b's', 0]) {
                let (k, v) = item?;
                let name = k.rsplit(|b| *b == 0).next().unwrap_or_default();
                let summary = [v.len() as u64; 6];
                index.insert(String::from_utf8_lossy(name).into(), summary);
            }
            report(
                "index of the secret records",
                started,
                serde_json::json!({"secrets": index.len()}),
            )?;
        }
        Step::Get => {
            let mut versions = db.scan_prefix([b'e', 0]);
            let first = versions.next().context("no version records")??.0;
            let last = versions.next_back().context("no version records")??.0;
            let number = |k: &[u8]| -> anyhow::Result<u64> {
                let tail = k.len().checked_sub(8).context("short key")?;
                Ok(u64::from_be_bytes(k[tail..].try_into()?))
            };
            let (low, high) = (number(&first)?, number(&last)?);
            let prefix = &first[..first.len() - 8];
            let mut found = 0u64;
            let mut key = prefix.to_vec();
            let mut rng = rand::thread_rng();
            for _ in 0..args.gets {
                let n = rand::Rng::gen_range(&mut rng, low..=high);
                key.truncate(prefix.len());
                key.extend_from_slice(&n.to_be_bytes());
                if db.get(&key)?.is_some() {
                    found += 1;
                }
            }
            report(
                "random version-record gets",
                started,
                serde_json::json!({"gets": args.gets, "found": found}),
            )?;
        }
    }
    Ok(())
}
