//! `secrets-broker doctor`: checks everything that can stop the plugin or Grafana, from the same
//! settings Grafana passes, and prints one finding per check (status, what was checked, what is
//! wrong, the fix), or JSON with `--json`. Exit status 0 when nothing is a problem (warnings
//! allowed), 1 otherwise.
//!
//! Given a Grafana install (`--grafana-home` / `--grafana-config`), the ini lines and the plugin
//! folder are checked too ([`grafana`]), and the backend is checked with the settings of the
//! ini's `[plugin.secretsbroker-secretsmanager]` section, passed as Grafana passes them (as
//! `GF_PLUGIN_*` variables over this process's environment; flags still win). Without
//! `data_dir`, the data directory is the one the installed plugin would choose.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use secrets_broker::backends::diagnosis::{permits, Account, Finding, Probe, Status};
use secrets_broker::backends::{self, local};
use secrets_broker::config::{self, Settings, Source};
use serde::Serialize;

use super::GlobalOpts;

mod accounts;
mod grafana;

/// `doctor`'s options (the settings come from the global options, as for every command).
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Print the findings as one JSON document (for scripts).
    #[arg(long)]
    json: bool,
    /// Grafana's home (homepath), e.g. /usr/share/grafana or a tarball's folder: check its
    /// conf/custom.ini (or conf/grafana.ini) and its plugin folder.
    #[arg(long, value_name = "DIR")]
    grafana_home: Option<PathBuf>,
    /// The ini file Grafana starts with (custom.ini or grafana.ini).
    #[arg(long, value_name = "FILE")]
    grafana_config: Option<PathBuf>,
    /// Grafana's plugins directory, when it is not found from the ini or the home.
    #[arg(long, value_name = "DIR")]
    grafana_plugins: Option<PathBuf>,
    /// The account Grafana runs as (default: `grafana` when a Grafana install is checked and that
    /// account exists, else the account running doctor).
    #[arg(long, value_name = "NAME")]
    grafana_user: Option<String>,
    /// Let the aws backend's checks write: create, read back and force-delete one probe secret
    /// under the prefix (checks CreateSecret, TagResource and the KMS key's encrypt permission).
    #[arg(long)]
    write_probe: bool,
}

/// The whole report, as `--json` prints it.
#[derive(Debug, Serialize)]
struct Report {
    /// No finding is a problem.
    healthy: bool,
    ok: usize,
    warnings: usize,
    problems: usize,
    findings: Vec<Finding>,
}

/// Runs the checks and prints them; the exit status.
pub async fn run(global: &GlobalOpts, args: &DoctorArgs) -> ExitCode {
    let findings = checks(global, args).await;
    let count = |s: Status| findings.iter().filter(|f| f.status == s).count();
    let report = Report {
        healthy: count(Status::Problem) == 0,
        ok: count(Status::Ok),
        warnings: count(Status::Warning),
        problems: count(Status::Problem),
        findings,
    };
    let text = if args.json {
        match serde_json::to_string_pretty(&report) {
            Ok(text) => text + "\n",
            Err(e) => {
                eprintln!("error: cannot write the report as JSON: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        as_text(&report)
    };
    // A closed stdout (`doctor | head`) is not an error of the checks.
    let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes());
    if report.healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn as_text(report: &Report) -> String {
    let mut text = String::new();
    for f in &report.findings {
        text.push_str(&format!(
            "[{}] {}: {}\n",
            f.status.label(),
            f.subject,
            f.detail
        ));
        if let (Some(fix), false) = (&f.fix, f.status == Status::Ok) {
            text.push_str(&format!("    fix: {fix}\n"));
        }
    }
    text.push_str(&format!(
        "{} ok, {} warning(s), {} problem(s)\n",
        report.ok, report.warnings, report.problems
    ));
    text
}

async fn checks(global: &GlobalOpts, args: &DoctorArgs) -> Vec<Finding> {
    let mut out = Vec::new();
    let me = accounts::current();
    let checking_install = args.grafana_home.is_some()
        || args.grafana_config.is_some()
        || args.grafana_plugins.is_some();
    let run_as = match &args.grafana_user {
        Some(name) => match accounts::named(name) {
            Some(a) => Some(a),
            None => {
                out.push(Finding::problem(
                    "grafana.user",
                    format!("account {name}"),
                    "does not exist on this machine",
                    "pass the account Grafana runs as: --grafana-user NAME",
                ));
                me.clone()
            }
        },
        None if checking_install => accounts::named("grafana").or_else(|| me.clone()),
        None => me.clone(),
    };
    let env: Vec<(String, String)> = std::env::vars().collect();
    let mut found = grafana::Found::default();
    if checking_install {
        if let Some(who) = &run_as {
            let install = grafana::Install {
                home: args.grafana_home.clone(),
                config: args.grafana_config.clone(),
                plugins: args.grafana_plugins.clone(),
            };
            found = grafana::check(&install, &env, who, &mut out);
        }
    }
    // The plugin's environment: this process's, then the ini section (Grafana appends it).
    let plugin_env = env.iter().cloned().chain(found.plugin_env.iter().cloned());
    let mut settings = match global.settings_from(plugin_env) {
        Ok(s) => s,
        Err(e) => {
            out.push(setting_problem(&e, found.config_file.as_ref()));
            return out;
        }
    };
    for key in config::unknown_keys(&settings) {
        let source = settings
            .source(&key)
            .map(ToString::to_string)
            .unwrap_or_default();
        out.push(Finding::warning(
            "settings.unknown",
            format!("setting `{key}` (from {source})"),
            "is not a setting of this plugin and is ignored (the plugin logs the same warning)",
            format!("remove `{key}`, or correct its spelling (see README, Configuration)"),
        ));
    }
    if let Some(exe) = &found.executable {
        default_data_dir_of_plugin(&mut settings, exe, &mut out);
    }
    // The validation the plugin runs at start: log level, backend, read cache, audit log.
    let validated = match config::Config::from_settings(&settings) {
        Ok(c) => c,
        Err(e) => {
            out.push(setting_problem(&e, found.config_file.as_ref()));
            return out;
        }
    };
    let backend = validated.backend;
    out.push(Finding::ok(
        "settings",
        "settings",
        format!("valid; backend {}", backend.name()),
    ));
    if let (Some(config::AuditTarget::File { path, .. }), Some(who)) =
        (&validated.audit, run_as.as_ref())
    {
        out.push(audit_file(path, who));
    }
    let probe = Probe {
        run_as,
        checker_uid: me.map(|a| a.uid),
        write: args.write_probe,
    };
    out.extend(backends::diagnose(&backend, &probe).await);
    out
}

/// Without `data_dir`, the directory the plugin installed at `exe` would choose (its default
/// depends on where its executable is), put into `settings` as if given.
fn default_data_dir_of_plugin(
    settings: &mut Settings,
    exe: &std::path::Path,
    out: &mut Vec<Finding>,
) {
    if settings.get("data_dir").is_some() {
        return;
    }
    let env = |name: &str| settings.env_var(name).map(PathBuf::from);
    let real_exe = exe.canonicalize().unwrap_or_else(|_| exe.to_path_buf());
    if let Ok(dir) = local::default_data_dir_from(env, Some(&real_exe), &local::probe_disk) {
        out.push(Finding::ok(
            "settings.data_dir",
            "setting `data_dir`",
            format!(
                "not set: the plugin installed at {} uses {}",
                exe.display(),
                dir.display()
            ),
        ));
        settings.insert("data_dir", dir.display().to_string(), Source::Flag);
    }
}

/// The audit log file: the plugin must be able to create or append to it (a call whose audit
/// line cannot be written fails).
fn audit_file(path: &std::path::Path, who: &Account) -> Finding {
    use std::os::unix::fs::MetadataExt;
    let subject = format!("audit log {} (setting audit_log)", path.display());
    let (target, want, what) = match std::fs::metadata(path) {
        Ok(_) => (path.to_path_buf(), 2, "write to it"),
        Err(_) => (
            path.parent().map(PathBuf::from).unwrap_or_default(),
            3,
            "create it",
        ),
    };
    match std::fs::metadata(&target) {
        Ok(m) if permits(who, m.mode(), m.uid(), m.gid(), want) => Finding::ok(
            "audit.file",
            subject,
            format!("{} can {what}", who.name),
        ),
        Ok(m) => Finding::problem(
            "audit.file",
            subject,
            format!(
                "{} cannot {what} ({} has mode {:04o}, owner uid {}): every call the plugin \
                 cannot audit fails",
                who.name,
                target.display(),
                m.mode() & 0o777,
                m.uid()
            ),
            format!("chown {} {}", who.name, target.display()),
        ),
        Err(e) => Finding::problem(
            "audit.file",
            subject,
            format!("{} does not exist or cannot be examined: {e}", target.display()),
            format!(
                "mkdir -p {d} && chown {} {d}   (or set audit_log to a file in a directory {} can write)",
                who.name,
                who.name,
                d = target.display()
            ),
        ),
    }
}

/// A setting the plugin would refuse, with the message it would log.
fn setting_problem(e: &config::ConfigError, ini: Option<&PathBuf>) -> Finding {
    let fix = match (&e.origin, ini) {
        (Some(Source::Env(var)), Some(ini)) if var.starts_with(config::ENV_PREFIX) => format!(
            "correct `{}` in section [plugin.{}] of {} (or the variable {var})",
            e.key,
            grafana::PLUGIN_ID,
            ini.display()
        ),
        (Some(source), _) => format!("correct `{}` in the {source}", e.key),
        (None, _) => format!(
            "set `{}` (in [plugin.{}] of Grafana's ini, or GF_PLUGIN_{})",
            e.key,
            grafana::PLUGIN_ID,
            e.key.to_ascii_uppercase()
        ),
    };
    Finding::problem(
        "settings",
        format!("setting `{}`", e.key),
        format!("the plugin would refuse to start: {e}"),
        fix,
    )
}
