//! `plugin-driver`: launches the built plugin binary as Grafana does and measures SetSecret, GetSecret and
//! GetAllSecrets over gRPC, sequentially and concurrently. Prints one JSON line per phase.

use anyhow::Context;
use bench::plugin::{Client, Key, Plugin};
use bench::stats::{Recorder, RunResult};
use clap::Parser;
use rand::Rng;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// gRPC driver for Grafana's secretsmanager plugin protocol.
#[derive(Debug, Parser)]
#[command(name = "plugin-driver")]
struct Args {
    /// The plugin binary (e.g. target/release/secrets-broker).
    #[arg(long)]
    plugin: String,
    /// A plugin setting `key=value`, passed as GF_PLUGIN_<KEY> (repeatable), e.g. `backend=local`.
    #[arg(long = "setting", value_parser = parse_setting)]
    settings: Vec<(String, String)>,
    /// Label in the output (e.g. plugin-local).
    #[arg(long, default_value = "plugin")]
    target: String,
    /// Secrets written by the sequential SetSecret phase (and read by the others).
    #[arg(long, default_value_t = 1000)]
    n: u64,
    /// Sequential GetSecret calls (0 = n).
    #[arg(long, default_value_t = 0)]
    gets: u64,
    /// Tasks in the concurrent phases (sharing one HTTP/2 connection, as Grafana's client does).
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Length of each concurrent phase in seconds.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Comma-separated phases: set_seq, get_seq, get_all, set_conc, get_conc.
    #[arg(long, default_value = "set_seq,get_seq,get_all,set_conc,get_conc")]
    phases: String,
    /// Namespace prefix of the written secrets.
    #[arg(long, default_value = "bench-ds")]
    prefix: String,
    /// Where the plugin's stderr goes (default: discarded).
    #[arg(long)]
    stderr: Option<String>,
}

fn parse_setting(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("setting {s:?} is not key=value"))?;
    if k.is_empty() {
        return Err(format!("setting {s:?} has an empty key"));
    }
    Ok((k.to_owned(), v.to_owned()))
}

fn key(prefix: &str, i: u64) -> Key {
    Key {
        org_id: 1,
        namespace: format!("{prefix}-{i}"),
        r#type: "datasource".into(),
    }
}

fn value(rng: &mut impl Rng) -> String {
    let pw: u128 = rng.gen();
    format!("{{\"password\":\"{pw:032x}\",\"basicAuthPassword\":\"bench\"}}")
}

async fn set_one(c: &mut Client, k: Key, v: String, rec: &mut Recorder) {
    let t = Instant::now();
    match c.set(k, v).await {
        Ok(r) if r.user_friendly_error.is_empty() => rec.ok(t.elapsed()),
        Ok(_) => rec.error("userFriendlyError"),
        Err(_) => rec.error("grpc"),
    }
}

async fn get_one(c: &mut Client, k: Key, rec: &mut Recorder) {
    let t = Instant::now();
    match c.get(k).await {
        Ok(r) if !r.user_friendly_error.is_empty() => rec.error("userFriendlyError"),
        Ok(r) if !r.exists => rec.error("absent"),
        Ok(_) => rec.ok(t.elapsed()),
        Err(_) => rec.error("grpc"),
    }
}

async fn concurrent(
    client: &Client,
    args: &Args,
    write: bool,
) -> anyhow::Result<(Recorder, Duration)> {
    let deadline = Instant::now() + Duration::from_secs_f64(args.duration);
    let started = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..args.concurrency.max(1) {
        let mut c = client.clone();
        let prefix = args.prefix.clone();
        let n = args.n.max(1);
        handles.push(tokio::spawn(async move {
            let mut rng = rand::rngs::StdRng::from_entropy();
            let mut rec = Recorder::default();
            while Instant::now() < deadline {
                let k = key(&prefix, rng.gen_range(0..n));
                if write {
                    let v = value(&mut rng);
                    set_one(&mut c, k, v, &mut rec).await;
                } else {
                    get_one(&mut c, k, &mut rec).await;
                }
            }
            rec
        }));
    }
    let mut all = Recorder::default();
    for h in handles {
        all.merge(h.await.context("task panicked")?);
    }
    Ok((all, started.elapsed()))
}

use rand::SeedableRng;

async fn run(args: Args) -> anyhow::Result<()> {
    let stderr = match &args.stderr {
        Some(p) => Stdio::from(std::fs::File::create(p).with_context(|| format!("creating {p}"))?),
        None => Stdio::null(),
    };
    let plugin = Plugin::launch(&args.plugin, &args.settings, stderr).await?;
    let mut client = plugin.client.clone();
    let mut rng = rand::rngs::StdRng::from_entropy();
    let emit = |mut r: RunResult, plugin: &Plugin| {
        if let Some(kib) = plugin.peak_rss_kib() {
            r.extra.insert("peak_rss_kib".into(), kib as f64);
        }
        println!("{}", r.to_line());
    };
    for phase in args
        .phases
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        match phase {
            "set_seq" => {
                let mut rec = Recorder::default();
                let t = Instant::now();
                for i in 0..args.n {
                    set_one(&mut client, key(&args.prefix, i), value(&mut rng), &mut rec).await;
                }
                emit(rec.summary(&args.target, phase, 1, t.elapsed()), &plugin);
            }
            "get_seq" => {
                let gets = if args.gets == 0 { args.n } else { args.gets };
                let mut rec = Recorder::default();
                let t = Instant::now();
                for _ in 0..gets {
                    let k = key(&args.prefix, rng.gen_range(0..args.n.max(1)));
                    get_one(&mut client, k, &mut rec).await;
                }
                emit(rec.summary(&args.target, phase, 1, t.elapsed()), &plugin);
            }
            "get_all" => {
                let mut rec = Recorder::default();
                let t = Instant::now();
                let mut items = 0usize;
                match client.get_all().await {
                    Ok(r) if r.user_friendly_error.is_empty() => {
                        items = r.items.len();
                        if (items as u64) < args.n {
                            rec.error("missing_items");
                        } else {
                            rec.ok(t.elapsed());
                        }
                    }
                    Ok(_) => rec.error("userFriendlyError"),
                    Err(_) => rec.error("grpc"),
                }
                let mut r = rec.summary(&args.target, phase, 1, t.elapsed());
                r.extra.insert("items".into(), items as f64);
                // For GetAllSecrets the rate of interest is items per second (e.g. decryptions).
                if r.ok > 0 && r.seconds > 0.0 {
                    r.rps = items as f64 / r.seconds;
                }
                emit(r, &plugin);
            }
            "set_conc" | "get_conc" => {
                let (rec, elapsed) = concurrent(&client, &args, phase == "set_conc").await?;
                emit(
                    rec.summary(&args.target, phase, args.concurrency.max(1), elapsed),
                    &plugin,
                );
            }
            other => anyhow::bail!(
                "unknown phase {other:?} (set_seq, get_seq, get_all, set_conc, get_conc)"
            ),
        }
    }
    plugin.stop().await
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the runtime")?
        .block_on(run(args))
}
