//! The command line: global settings flags, plugin mode (what Grafana runs: no subcommand, magic
//! cookie present), `serve` (the same gRPC API on a TCP address), the admin commands and
//! `doctor` (checks of a setup).
//!
//! Settings come from `--config FILE`, `GF_PLUGIN_*` environment variables and the flags below,
//! merged by [`secrets_broker::config::Settings::load`] (flags > environment > file).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use secrets_broker::backends;
use secrets_broker::config::{Config, ConfigError, LogLevel, Settings};
use secrets_broker::server::{handshake, logging};

mod admin;
mod audit;
mod doctor;
mod migrate;
mod plugin;

const ABOUT: &str = "Grafana secrets-manager plugin and secrets broker";

const LONG_ABOUT: &str = "Grafana secrets-manager plugin and secrets broker.

Without a subcommand it runs as a Grafana plugin: Grafana starts it with the go-plugin magic \
cookie (grafana_plugin_type=datasource) and its settings as GF_PLUGIN_* variables; started by \
hand without the cookie it prints go-plugin's hint and exits 1.

For local use: `serve` runs the same gRPC API on a loopback TCP address (every call must send \
the bearer token from the file it names on stdout); get/set/delete/list/rename/export work \
directly on the configured backend (by default the embedded, encrypted \
`local` store).

Every setting key (see README, section Configuration) can be given as GF_PLUGIN_<KEY> in the \
environment, as `key = value` in the --config TOML file, or as --set key=value (flags win over \
the environment, which wins over the file). Keep credentials out of --set: command lines are \
visible to other users in `ps`.";

/// The whole command line.
#[derive(Debug, Parser)]
#[command(name = "secrets-broker", version, about = ABOUT, long_about = LONG_ABOUT)]
pub struct Cli {
    #[command(flatten)]
    global: GlobalOpts,
    #[command(subcommand)]
    command: Option<Command>,
}

/// Flags every command accepts; they become settings with the highest precedence.
#[derive(Debug, Args)]
pub struct GlobalOpts {
    /// TOML settings file (`key = "value"` lines; same keys as GF_PLUGIN_*).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Backend (help text: [`backend_help`]).
    #[arg(long, global = true, value_name = "NAME", help = backend_help(), long_help = backend_long_help())]
    backend: Option<String>,
    /// Data directory of the local backend.
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Log level: trace, debug, info, warn or error (logs go to stderr as JSON lines).
    #[arg(long, global = true, value_name = "LEVEL")]
    log_level: Option<String>,
    /// Any setting, as KEY=VALUE (repeatable), e.g. --set aws_region=eu-west-1.
    #[arg(long = "set", global = true, value_name = "KEY=VALUE", value_parser = parse_key_value)]
    set: Vec<(String, String)>,
}

/// `--backend`'s short help: the backends' names from the registry.
fn backend_help() -> String {
    let names: Vec<&str> = backends::BACKENDS.iter().map(|b| b.name).collect();
    format!(
        "Backend: {} (default {})",
        names.join(", "),
        backends::DEFAULT_BACKEND.name
    )
}

/// `--backend`'s long help: one line per backend from the registry.
fn backend_long_help() -> String {
    let mut text = backend_help();
    text.push('.');
    for b in backends::BACKENDS {
        text.push_str(&format!("\n  {}: {}", b.name, b.description));
    }
    text
}

fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_ascii_lowercase(), v.to_string())),
        _ => Err("expected KEY=VALUE".to_string()),
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the plugin's gRPC API standalone on a TCP address (plain gRPC, loopback by default).
    Serve(plugin::ServeArgs),
    /// Print a secret's value to stdout.
    Get(admin::KeyArgs),
    /// Store a secret; the value is read from stdin or --value-file (never from the command line).
    Set(admin::SetArgs),
    /// Delete a secret (succeeds when it does not exist).
    Delete(admin::KeyArgs),
    /// List the keys with a namespace and type, in one org or in all of them.
    List(admin::ListArgs),
    /// Move a secret to another namespace in the same org and type.
    Rename(admin::RenameArgs),
    /// Write every secret's key (and, only with --include-values, its value) as JSON.
    Export(admin::ExportArgs),
    /// Copy every secret from one backend to another (see src/cli/migrate.rs).
    Migrate(migrate::MigrateArgs),
    /// Compare two backends: missing / extra / different (exit 0 = no drift, 1 = drift, 2 = error).
    Verify(migrate::VerifyArgs),
    /// Make the mirror backend's secondary match its primary (the configured backend must be mirror).
    Reconcile(migrate::ReconcileArgs),
    /// Check the settings, the backend and (with --grafana-home/--grafana-config) the Grafana
    /// install: one finding per check with its fix; exit 0 = no problem, 1 = a problem.
    Doctor(doctor::DoctorArgs),
    /// Audit log tools: `audit verify FILE...` checks its hash chain.
    Audit(audit::AuditArgs),
}

impl GlobalOpts {
    /// The merged settings: --config file, then GF_PLUGIN_* environment, then flags.
    pub fn settings(&self) -> Result<Settings, ConfigError> {
        self.settings_from(std::env::vars())
    }

    /// The merged settings with `env` as the environment.
    pub fn settings_from(
        &self,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Settings, ConfigError> {
        let mut flags = Vec::new();
        if let Some(b) = &self.backend {
            flags.push(("backend".to_string(), b.clone()));
        }
        if let Some(d) = &self.data_dir {
            flags.push(("data_dir".to_string(), d.display().to_string()));
        }
        if let Some(l) = &self.log_level {
            flags.push(("log_level".to_string(), l.clone()));
        }
        flags.extend(self.set.iter().cloned());
        Settings::load(self.config.as_deref(), env, flags)
    }
}

/// Loads and validates settings and starts logging at the configured level (`default_level`
/// when unset). Every problem is logged as an hclog error line naming the key; the caller exits 1.
pub fn start(global: &GlobalOpts, default_level: LogLevel) -> Option<Config> {
    let settings = match global.settings() {
        Ok(s) => s,
        Err(e) => return fail_early(default_level, &e),
    };
    let level = match secrets_broker::config::log_level(&settings) {
        Ok(l) => l.unwrap_or(default_level),
        Err(e) => return fail_early(default_level, &e),
    };
    logging::init(level);
    for key in secrets_broker::config::unknown_keys(&settings) {
        let source = settings
            .source(&key)
            .map(ToString::to_string)
            .unwrap_or_default();
        tracing::warn!(key, source, "unknown setting; ignored");
    }
    match Config::at_level(&settings, level) {
        Ok(config) => Some(config),
        Err(e) => {
            tracing::error!(key = e.key, "{e}");
            None
        }
    }
}

fn fail_early(level: LogLevel, e: &ConfigError) -> Option<Config> {
    logging::init(level);
    tracing::error!(key = e.key, "{e}");
    None
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}

/// Parses the command line and runs it; the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.command.is_none() {
        let env = |k: &str| std::env::var(k).ok();
        if !handshake::cookie_present(&env) {
            eprint!("{}", handshake::HINT);
            eprintln!("(To use secrets-broker by hand, run `secrets-broker --help`.)");
            return ExitCode::FAILURE;
        }
    }
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = rt.block_on(async {
        match cli.command {
            None => plugin::run_plugin(&cli.global).await,
            Some(Command::Serve(args)) => plugin::run_serve(&cli.global, &args).await,
            Some(Command::Get(a)) => admin::run(&cli.global, admin::Admin::Get(a)).await,
            Some(Command::Set(a)) => admin::run(&cli.global, admin::Admin::Set(a)).await,
            Some(Command::Delete(a)) => admin::run(&cli.global, admin::Admin::Delete(a)).await,
            Some(Command::List(a)) => admin::run(&cli.global, admin::Admin::List(a)).await,
            Some(Command::Rename(a)) => admin::run(&cli.global, admin::Admin::Rename(a)).await,
            Some(Command::Export(a)) => admin::run(&cli.global, admin::Admin::Export(a)).await,
            Some(Command::Migrate(a)) => migrate::run_migrate(&cli.global, a).await,
            Some(Command::Verify(a)) => migrate::run_verify(&cli.global, a).await,
            Some(Command::Reconcile(a)) => migrate::run_reconcile(&cli.global, a).await,
            Some(Command::Doctor(a)) => doctor::run(&cli.global, &a).await,
            Some(Command::Audit(a)) => audit::run(a),
        }
    });
    // Do not wait for stray blocking tasks (a backend call stuck on the network) at exit.
    rt.shutdown_timeout(std::time::Duration::from_millis(200));
    code
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn key_value_flags() {
        assert_eq!(
            parse_key_value("AWS_Region=eu-west-1=x").unwrap(),
            ("aws_region".to_string(), "eu-west-1=x".to_string())
        );
        assert!(parse_key_value("novalue").is_err());
        assert!(parse_key_value("=v").is_err());
    }
}
