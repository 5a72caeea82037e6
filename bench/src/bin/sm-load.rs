//! `sm-load`: the AWS Secrets Manager load generator; prints one JSON line per run (see `bench::load`).

use anyhow::Context;
use bench::load::{self, LoadConfig, Workload};
use clap::Parser;
use std::time::Duration;

/// AWS JSON 1.1 load generator with SigV4 signatures and keep-alive connections.
#[derive(Debug, Parser)]
#[command(name = "sm-load")]
struct Args {
    /// Server address (host:port or http://host:port).
    #[arg(long)]
    endpoint: String,
    /// seed | read | write | mixed | create | migrate
    #[arg(long)]
    workload: Workload,
    /// Workers (connections), each with one request in flight. `migrate` always uses 1.
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    /// Stop after this many seconds (0 = no time bound; seed then runs until N are created).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Stop after this many requests in total (0 = unbounded).
    #[arg(long, default_value_t = 0)]
    requests: u64,
    /// Keyspace size: names `<prefix>-0` .. `<prefix>-(N-1)`.
    #[arg(long, default_value_t = 1000)]
    n: u64,
    /// Secret name prefix.
    #[arg(long, default_value = "bench")]
    prefix: String,
    /// Bytes per SecretString.
    #[arg(long, default_value_t = 64)]
    value_size: usize,
    /// Region in the SigV4 credential scope.
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// Label of the server in the output.
    #[arg(long, default_value = "server")]
    target: String,
    /// Runtime worker threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let addr = args
        .endpoint
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    if !(args.duration >= 0.0 && args.duration.is_finite()) {
        anyhow::bail!("--duration must be a non-negative number of seconds");
    }
    let cfg = LoadConfig {
        addr,
        target: args.target,
        workload: args.workload,
        concurrency: args.concurrency,
        duration: Duration::from_secs_f64(args.duration),
        max_requests: args.requests,
        n: args.n,
        prefix: args.prefix,
        value_size: args.value_size,
        region: args.region,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let result = rt.block_on(load::run(cfg))?;
    println!("{}", result.to_line());
    Ok(())
}
