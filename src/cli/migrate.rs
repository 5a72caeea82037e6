//! The `migrate`, `verify` and `reconcile` subcommands: their arguments and what they run.
//!
//! Exit statuses: `migrate` 0 = every secret migrated, 1 = some secrets failed (listed in the
//! report), 2 = the migration could not run. `verify` 0 = no drift, 1 = drift, 2 = error.
//! `reconcile` 0 = in sync (or repaired), 1 = drift left (dry run, or repairs failed), 2 = error.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};
use sha2::{Digest, Sha256};

use secrets_broker::backends::{
    self, legacy_sql, mirror, mirror::MirrorStore, Backend, SecretStore,
};
use secrets_broker::config::LogLevel;
use secrets_broker::config::{backend_from_settings, Settings};
use secrets_broker::migrate::{self, drift, pacing::PacerConfig, progress::Mode, Options};
use secrets_broker::server::logging;

use super::GlobalOpts;

/// One side of a migration or comparison.
#[derive(Debug, Args, Clone)]
pub struct Endpoints {
    /// Source: a settings TOML file (`backend = "..."` plus that backend's keys).
    #[arg(
        long,
        value_name = "FILE.toml",
        required_unless_present = "from_grafana",
        conflicts_with = "from_grafana"
    )]
    pub from: Option<PathBuf>,
    /// Source: a Grafana instance, by its ini file (database and secret_key read from it).
    #[arg(long, value_name = "grafana.ini")]
    pub from_grafana: Option<PathBuf>,
    /// Destination: a settings TOML file.
    #[arg(
        long,
        value_name = "FILE.toml",
        required_unless_present = "to_grafana",
        conflicts_with = "to_grafana"
    )]
    pub to: Option<PathBuf>,
    /// Destination: a Grafana instance, by its ini file (writes Grafana's `secrets` table).
    #[arg(long, value_name = "grafana.ini")]
    pub to_grafana: Option<PathBuf>,
}

/// How to show progress.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ProgressArg {
    /// A bar on a terminal, plain lines otherwise.
    Auto,
    /// Plain lines.
    Plain,
    /// Nothing.
    None,
}

/// `migrate`: copy every secret from one backend to another.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub endpoints: Endpoints,
    /// Concurrent copy workers. Many writes in flight are what a durable destination needs to
    /// batch its disk flushes; `--max-write-rate` (not this) is what keeps AWS within its quota.
    #[arg(long, default_value_t = 32)]
    pub workers: usize,
    /// Ceiling on destination writes per second (help text: [`max_write_rate_help`]).
    #[arg(long, default_value = "auto", help = max_write_rate_help())]
    pub max_write_rate: String,
    /// Print the plan (JSON) and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Delete each secret from the source once its copy is verified.
    #[arg(long)]
    pub delete_source: bool,
    /// Checkpoint file (default: `secrets-broker-migrate-<hash of both endpoints>.json` in the
    /// current directory). Removed when the migration completes without failures.
    #[arg(long, value_name = "FILE")]
    pub checkpoint: Option<PathBuf>,
    /// Lease time to live in seconds (renewed every third of it; stealable after it).
    #[arg(long, default_value_t = 30)]
    pub lease_ttl_secs: u64,
    /// Also write the JSON report to this file.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Progress display on stderr.
    #[arg(long, value_enum, default_value = "auto")]
    pub progress: ProgressArg,
    /// While the migration runs, answer `GET /metrics` on this address with its progress
    /// (secrets planned, skipped, verified, failed; retries) for Prometheus; the address is
    /// printed on stderr.
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// Allow a non-loopback --metrics-listen address.
    #[arg(long)]
    pub metrics_allow_remote: bool,
}

/// `verify`: compare two backends (`--from` is the reference).
#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub endpoints: Endpoints,
    /// Print JSON instead of lines.
    #[arg(long)]
    pub json: bool,
}

/// `reconcile`: make a mirror's secondary match its primary. The mirror is the configured
/// backend (global `--config FILE`, `GF_PLUGIN_*`, `--set`): `backend = "mirror"`.
#[derive(Debug, Args)]
pub struct ReconcileArgs {
    /// Report drift only.
    #[arg(long)]
    pub dry_run: bool,
    /// Also delete secrets that exist only in the secondary.
    #[arg(long)]
    pub prune: bool,
}

/// An opened endpoint.
struct Opened {
    store: Arc<dyn SecretStore>,
    id: String,
    backend: &'static Backend,
    grafana: Option<migrate::grafana::GrafanaDb>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Source,
    Destination,
}

async fn open_settings_file(path: &Path) -> Result<Opened, String> {
    let settings = Settings::from_toml_file(path).map_err(|e| e.to_string())?;
    for key in secrets_broker::config::unknown_keys(&settings) {
        tracing::warn!(%key, file = %path.display(), "unknown setting ignored");
    }
    let config = backend_from_settings(&settings).map_err(|e| e.to_string())?;
    let store = backends::build(&config)
        .await
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let abs = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    Ok(Opened {
        id: format!("{}:{}", store.name(), abs.display()),
        store,
        backend: config.backend(),
        grafana: None,
    })
}

async fn open(eps: &Endpoints, role: Role) -> Result<Opened, String> {
    let (file, ini) = match role {
        Role::Source => (&eps.from, &eps.from_grafana),
        Role::Destination => (&eps.to, &eps.to_grafana),
    };
    match (file, ini) {
        (Some(f), None) => open_settings_file(f).await,
        (None, Some(ini)) => {
            let g = migrate::grafana::GrafanaDb::open(ini, role == Role::Source, std::env::vars())
                .await
                .map_err(|e| e.to_string())?;
            let abs = std::fs::canonicalize(ini).unwrap_or_else(|_| ini.clone());
            Ok(Opened {
                store: g.store(),
                id: format!("grafana:{}", abs.display()),
                backend: &legacy_sql::BACKEND,
                grafana: Some(g),
            })
        }
        _ => Err("give exactly one of --from/--from-grafana and one of --to/--to-grafana".into()),
    }
}

/// `--max-write-rate`'s help, with each backend's own `auto` rate from the registry.
fn max_write_rate_help() -> String {
    let paced: Vec<String> = backends::BACKENDS
        .iter()
        .filter_map(|b| b.migration_rate.map(|r| format!("{r} for {}", b.name)))
        .collect();
    format!(
        "Ceiling on destination writes per second: a number, `unlimited`, or `auto` ({}; \
         unlimited otherwise). Throttling lowers the rate either way.",
        paced.join(", ")
    )
}

fn rate(arg: &str, backend: &Backend) -> Result<Option<f64>, String> {
    match arg.trim() {
        "auto" => Ok(backend.migration_rate),
        "unlimited" | "0" => Ok(None),
        n => match n.parse::<f64>() {
            Ok(r) if r > 0.0 && r.is_finite() => Ok(Some(r)),
            _ => Err(format!(
                "--max-write-rate: expected a positive number, `auto` or `unlimited`, got {n:?}"
            )),
        },
    }
}

fn default_checkpoint(source: &str, destination: &str) -> PathBuf {
    let h = Sha256::digest(format!("{source}\n{destination}").as_bytes());
    PathBuf::from(format!(
        "secrets-broker-migrate-{}.json",
        &hex::encode(h)[..16]
    ))
}

/// Starts logging (JSON lines on stderr) at the level of the global settings.
fn init_logging(global: &GlobalOpts) {
    let level = global
        .settings()
        .ok()
        .and_then(|s| secrets_broker::config::log_level(&s).ok().flatten())
        .unwrap_or(LogLevel::Info);
    logging::init(level);
}

/// Runs `migrate`: 0 = every secret migrated, 1 = some failed, 2 = could not run.
pub async fn run_migrate(global: &GlobalOpts, args: MigrateArgs) -> ExitCode {
    init_logging(global);
    match migrate_inner(args).await {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("migrate: {e}");
            ExitCode::from(2)
        }
    }
}

async fn migrate_inner(args: MigrateArgs) -> Result<u8, String> {
    if args.delete_source && args.endpoints.from_grafana.is_some() {
        return Err("--delete-source is refused with --from-grafana: Grafana's own tables are never emptied by the broker".into());
    }
    if args.lease_ttl_secs == 0 {
        return Err("--lease-ttl-secs must be at least 1".into());
    }
    let same = |a: &Option<PathBuf>, b: &Option<PathBuf>| match (a, b) {
        (Some(a), Some(b)) => std::fs::canonicalize(a)
            .ok()
            .is_some_and(|a| Some(a) == std::fs::canonicalize(b).ok()),
        _ => false,
    };
    let e = &args.endpoints;
    if same(&e.from, &e.to) || same(&e.from_grafana, &e.to_grafana) {
        return Err("source and destination are the same".into());
    }
    let src = open(&args.endpoints, Role::Source).await?;
    let dst = open(&args.endpoints, Role::Destination).await?;
    let mut opts = Options::new(src.id.clone(), dst.id.clone());
    opts.workers = args.workers;
    opts.destination_pacing = PacerConfig {
        max_rate: rate(&args.max_write_rate, dst.backend)?,
        ..PacerConfig::default()
    };
    opts.source_pacing = PacerConfig {
        max_rate: rate("auto", src.backend)?,
        ..PacerConfig::default()
    };
    opts.dry_run = args.dry_run;
    opts.delete_source = args.delete_source;
    opts.checkpoint = Some(
        args.checkpoint
            .clone()
            .unwrap_or_else(|| default_checkpoint(&src.id, &dst.id)),
    );
    opts.lease_ttl = Duration::from_secs(args.lease_ttl_secs);
    opts.progress = match args.progress {
        ProgressArg::Auto => Mode::Auto,
        ProgressArg::Plain => Mode::Plain,
        ProgressArg::None => Mode::Quiet,
    };
    let _metrics_listener = match args.metrics_listen {
        None => None,
        Some(addr) => {
            let listener = secrets_broker::server::metrics::bind(addr, args.metrics_allow_remote)
                .await
                .map_err(|e| e.to_string())?;
            let bound = listener.local_addr().unwrap_or(addr);
            eprintln!("migrate: metrics on http://{bound}/metrics");
            let metrics = Arc::clone(&opts.metrics);
            Some(AbortOnDrop(tokio::spawn(
                secrets_broker::server::metrics::serve_http(
                    listener,
                    Arc::new(move || metrics.render()),
                ),
            )))
        }
    };
    let report = migrate::migrate(src.store.clone(), dst.store.clone(), &opts)
        .await
        .map_err(|e| e.to_string())?;
    if !args.dry_run {
        if let Some(g) = &dst.grafana {
            g.clear_plugin_startup_failure_flag()
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    let json = report.to_json();
    println!("{json}");
    if let Some(path) = &args.report {
        std::fs::write(path, format!("{json}\n"))
            .map_err(|e| format!("cannot write the report to {}: {e}", path.display()))?;
    }
    eprintln!(
        "migrate: {} copied, {} skipped, {} failed, {} verified, {} deleted in {:.1}s ({:.0} copied/s)",
        report.copied, report.skipped, report.failed, report.verified, report.deleted,
        report.elapsed_secs, report.copied_per_sec
    );
    Ok(if report.failed == 0 { 0 } else { 1 })
}

/// A task stopped when this is dropped (the metrics listener ends with the migration).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs `verify`: 0 = no drift, 1 = drift, 2 = error.
pub async fn run_verify(global: &GlobalOpts, args: VerifyArgs) -> ExitCode {
    init_logging(global);
    let result: Result<drift::Drift, String> = async {
        let a = open(&args.endpoints, Role::Source).await?;
        let b = open(&args.endpoints, Role::Destination).await?;
        drift::compare(a.store.as_ref(), b.store.as_ref())
            .await
            .map_err(|e| e.to_string())
    }
    .await;
    match result {
        Ok(d) => {
            if args.json {
                println!("{}", serde_json::to_string_pretty(&d).unwrap_or_default());
            } else {
                print!("{}", d.describe());
            }
            ExitCode::from(if d.is_clean() { 0 } else { 1 })
        }
        Err(e) => {
            eprintln!("verify: {e}");
            ExitCode::from(2)
        }
    }
}

/// Runs `reconcile`: 0 = in sync or repaired, 1 = drift left, 2 = error.
pub async fn run_reconcile(global: &GlobalOpts, args: ReconcileArgs) -> ExitCode {
    init_logging(global);
    let result: Result<drift::Reconciled, String> = async {
        let settings = global.settings().map_err(|e| e.to_string())?;
        let config = backend_from_settings(&settings).map_err(|e| e.to_string())?;
        let Some(config) = config.settings::<mirror::MirrorConfig>() else {
            return Err(
                "reconcile needs `backend = \"mirror\"` with mirror_primary and mirror_secondary"
                    .into(),
            );
        };
        let mirror = MirrorStore::open(config).await.map_err(|e| e.to_string())?;
        mirror
            .reconcile(args.dry_run, args.prune)
            .await
            .map_err(|e| e.to_string())
    }
    .await;
    match result {
        Ok(r) => {
            eprint!("{}", r.drift.describe());
            println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
            let left = if r.dry_run {
                !r.drift.is_clean()
            } else {
                !r.failures.is_empty()
            };
            ExitCode::from(if left { 1 } else { 0 })
        }
        Err(e) => {
            eprintln!("reconcile: {e}");
            ExitCode::from(2)
        }
    }
}
