//! `bench-report`: reads the JSON result lines of a benchmark run and prints the Markdown tables
//! (medians over rounds, ratios, targets).

use anyhow::Context;
use bench::report;
use bench::stats::RunResult;
use clap::Parser;
use std::collections::BTreeMap;

/// Prints the benchmark tables from result lines.
#[derive(Debug, Parser)]
#[command(name = "bench-report")]
struct Args {
    /// Files of JSON lines (other lines are ignored).
    files: Vec<String>,
    /// Concurrencies of the emulator table.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    concurrency: Vec<usize>,
    /// `target=reason` for figures not measured (repeatable), e.g. `migrate=pending: no migrate command`.
    #[arg(long = "pending")]
    pending: Vec<String>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut results = Vec::new();
    for f in &args.files {
        let text = std::fs::read_to_string(f).with_context(|| format!("reading {f}"))?;
        results.extend(
            text.lines()
                .filter_map(|l| serde_json::from_str::<RunResult>(l).ok()),
        );
    }
    let pending: BTreeMap<String, String> = args
        .pending
        .iter()
        .filter_map(|p| p.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect();
    let agg = report::aggregate(&results);
    let rounds = agg.values().map(|a| a.rounds).max().unwrap_or(0);
    println!("### AWS JSON 1.1: emulator vs peers (median of {rounds} round(s))\n");
    println!("{}", report::emulator_table(&agg, &args.concurrency));
    println!("### Peak RSS (per server lifetime, median over rounds)\n");
    println!("{}", report::rss_table(&agg, &args.concurrency));
    println!("### Plugin, migration and legacy figures\n");
    println!("{}", report::headline_table(&agg, &pending));
    if let Some(t) = bench::side_by_side::reference_table(&agg, &args.concurrency) {
        println!(
            "### The emulator beside the reference build (BENCH_REFERENCE_EMULATOR), same rounds\n"
        );
        println!("{t}");
    }
    println!("Side by side in this run (medians over the alternated rounds):\n");
    println!("{}", report::ratio_table(&agg));
    Ok(())
}
