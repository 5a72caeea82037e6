//! `sm-emulator`: runs the offline AWS Secrets Manager emulator.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use secretsmanager_emulator::{Emulator, FaultRule, FaultSettings};

/// Offline AWS Secrets Manager (AWS JSON 1.1 on POST /, admin on /_emulator/).
#[derive(Debug, Parser)]
#[command(name = "sm-emulator", version)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:4566", env = "SM_EMULATOR_LISTEN")]
    listen: SocketAddr,
    /// Persist secrets in this directory (sled). Without it, or with --in-memory, nothing is kept.
    #[arg(long, env = "SM_EMULATOR_DATA_DIR", conflicts_with = "in_memory")]
    data_dir: Option<PathBuf>,
    /// Keep everything in memory.
    #[arg(long)]
    in_memory: bool,
    /// Account id used when the access key id is not a 12-digit account id.
    #[arg(long, default_value = "123456789012", env = "SM_EMULATOR_ACCOUNT_ID")]
    account_id: String,
    /// Verify SigV4 signatures for ACCESS_KEY_ID:SECRET_ACCESS_KEY (repeatable). Without it, any
    /// well-formed SigV4 request is accepted.
    #[arg(long = "credentials", value_name = "AKID:SECRET")]
    credentials: Vec<String>,
    /// Token that authorizes admin requests (`/_emulator/*`) in the `X-Emulator-Admin-Token`
    /// header. With it or --credentials, admin requests need the token or a SigV4 signature.
    #[arg(long, env = "SM_EMULATOR_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// A dotted host name (besides loopback names, IP addresses and single-label names) by which clients may send
    /// state-changing admin requests, e.g. a container's service name (repeatable).
    #[arg(long = "allowed-host", value_name = "NAME")]
    allowed_hosts: Vec<String>,
    /// A KMS key id / key ARN / alias / alias ARN the emulator knows besides the default (repeatable).
    #[arg(long = "kms-key")]
    kms_keys: Vec<String>,
    /// Throttle like AWS's request quotas.
    #[arg(long)]
    aws_quotas: bool,
    /// Rate limit for all operations, requests per second.
    #[arg(long)]
    rate_limit: Option<f64>,
    /// Probability of an injected ThrottlingException (0..1), independent of load.
    #[arg(long)]
    throttle_rate: Option<f64>,
    /// Probability of an injected InternalServiceError (0..1).
    #[arg(long)]
    error_rate: Option<f64>,
    /// Probability of an injected ServiceUnavailable (0..1).
    #[arg(long)]
    unavailable_rate: Option<f64>,
    /// Added latency per request, in milliseconds.
    #[arg(long)]
    latency_ms: Option<u64>,
    /// Seed for the injected-fault RNG (deterministic runs).
    #[arg(long)]
    fault_seed: Option<u64>,
    /// Map a rotation Lambda ARN to a local HTTP endpoint that receives the four rotation steps:
    /// ARN=http://host:port/path (repeatable).
    #[arg(long = "rotation-hook", value_name = "ARN=URL")]
    rotation_hooks: Vec<String>,
    /// moto-compatible rotation: RotateSecret without a usable rotation function (none configured, or
    /// an ARN neither mapped with --rotation-hook nor built-in) copies the current value into a new
    /// AWSCURRENT version (default: AWS's InvalidRequestException / AccessDeniedException).
    #[arg(long)]
    moto_rotation: bool,
    /// AWS's rotation errors, the default; accepted so that callers which ask for them still start
    /// (the Python wrapper's `strict_rotation=True`). Conflicts with --moto-rotation.
    #[arg(long, conflicts_with = "moto_rotation")]
    strict_rotation: bool,
    /// sled cache size in MiB.
    #[arg(long, default_value_t = 2)]
    cache_mib: u64,
    /// Memory in MiB for values read from disk (a durable emulator whose data outgrows sled's
    /// page cache reads its hot values from here).
    #[arg(long, default_value_t = secretsmanager_emulator::store::DEFAULT_VALUE_CACHE_BYTES >> 20)]
    value_cache_mib: usize,
}

/// The allocator: mimalloc. glibc's malloc needed a single arena (`MALLOC_ARENA_MAX=1`) to keep
/// peak RSS down, and every allocation of every thread then queued on that arena's lock: at 64
/// requests in flight a quarter of the CPU went to waking lock waiters, and GetSecretValue's p99
/// was 4.4 ms (1.7 ms with mimalloc, same run; BENCHMARKS.md).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's defaults commit whole arena chunks up front and return freed pages after a delay:
/// peak RSS over the equal-data benchmark pass was 81 MiB, against 28 MiB with eager arena commit
/// off and immediate purging. Its options are read from the environment at its first allocation,
/// before `main`, so the binary re-executes itself once (same process id) with both set, unless
/// the caller chose any `MIMALLOC_` option.
#[cfg(unix)]
fn tune_allocator() {
    use std::os::unix::process::CommandExt as _;
    const MARK: &str = "MIMALLOC_ARENA_EAGER_COMMIT";
    if std::env::vars_os().any(|(k, _)| k.to_string_lossy().starts_with("MIMALLOC_")) {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let err = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env(MARK, "0")
        .env("MIMALLOC_PURGE_DELAY", "0")
        .exec();
    // exec only returns on failure: go on with mimalloc's defaults.
    eprintln!("sm-emulator: could not re-execute with {MARK}=0 ({err}); continuing");
}

fn main() -> anyhow::Result<()> {
    #[cfg(unix)]
    tune_allocator();
    // Files and directories the emulator creates later (log segments, sled snapshots) are for
    // its user only: they hold plaintext secret values.
    #[cfg(unix)]
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?
        .block_on(run())
}

async fn run() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_target(false)
        .init();
    let args = Args::parse();
    let mut faults = if args.aws_quotas {
        FaultSettings::aws_quotas()
    } else {
        FaultSettings::default()
    };
    faults.seed = args.fault_seed;
    if args.rate_limit.is_some()
        || args.throttle_rate.is_some()
        || args.error_rate.is_some()
        || args.unavailable_rate.is_some()
        || args.latency_ms.is_some()
    {
        faults.rules.push(FaultRule {
            rate_limit: args.rate_limit,
            throttle_rate: args.throttle_rate,
            error_rate: args.error_rate,
            unavailable_rate: args.unavailable_rate,
            latency_ms: args.latency_ms,
            ..FaultRule::default()
        });
    }
    faults
        .validate()
        .map_err(anyhow::Error::msg)
        .context("invalid fault flags")?;
    let mut b = Emulator::builder()
        .listen(args.listen)
        .account_id(args.account_id)
        .faults(faults)
        .cache_bytes(args.cache_mib << 20)
        .value_cache_bytes(args.value_cache_mib << 20);
    if let Some(d) = args.data_dir.filter(|_| !args.in_memory) {
        // mode 0700 (its files 0600): it holds plaintext values
        secretsmanager_emulator::data_dir::restrict(&d)
            .with_context(|| format!("creating data dir {}", d.display()))?;
        b = b.data_dir(d);
    }
    for c in &args.credentials {
        let (k, s) = c
            .split_once(':')
            .context("--credentials must be ACCESS_KEY_ID:SECRET_ACCESS_KEY")?;
        b = b.credentials(k, s);
    }
    if let Some(t) = args.admin_token.filter(|t| !t.is_empty()) {
        b = b.admin_token(t);
    }
    for h in args.allowed_hosts {
        b = b.allowed_host(h);
    }
    let rotation = secretsmanager_emulator::rotation::RotationSettings::default();
    for h in &args.rotation_hooks {
        let (arn, url) = secretsmanager_emulator::rotation::hook::parse_mapping(h)
            .map_err(anyhow::Error::msg)
            .context("invalid --rotation-hook")?;
        rotation.set_hook(arn, url).map_err(anyhow::Error::msg)?;
    }
    rotation.set_moto(args.moto_rotation && !args.strict_rotation);
    b = b.rotation(rotation);
    for k in args.kms_keys {
        b = b.kms_key(k);
    }
    let emu = b.start().await.context("starting the emulator")?;
    println!("sm-emulator listening on {}", emu.endpoint());
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    tracing::info!("shutting down");
    emu.shutdown().await;
    Ok(())
}
