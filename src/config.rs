//! The broker's validated configuration: the general keys (`backend`, `config_file`, `log_level`)
//! and the chosen backend, read from the raw [`Settings`] (file, `GF_PLUGIN_*` environment and
//! flags; see [`crate::backends::settings`]) into a typed [`Config`].
//!
//! Keys are the ini keys of Grafana's `[plugin.<id>]` section, lower-case (`aws_region`); Grafana
//! passes each as `GF_PLUGIN_<KEY UPPER-CASED>`. An unknown key is a warning (Grafana passes keys
//! meant for itself); an invalid value is an error that names the key and where it came from.

use std::str::FromStr;

pub use crate::backends::backend_named;
use crate::backends::cache::CacheConfig;
pub use crate::backends::settings::{ConfigError, Settings, Source, ENV_PREFIX};
use crate::backends::{self, BackendConfig, BACKENDS};

/// Keys that are not a backend's: which backend, the config file, the log level, the audit log.
pub const GENERAL_KEYS: &[&str] = &[
    "backend",
    "config_file",
    "log_level",
    "audit_log",
    "audit_log_max_bytes",
    "audit_log_keep",
];

/// Default size at which the audit log file is rotated.
pub const AUDIT_LOG_DEFAULT_MAX_BYTES: u64 = 64 * 1024 * 1024;
/// Default number of rotated audit files kept beside the current one.
pub const AUDIT_LOG_DEFAULT_KEEP: u32 = 10;

/// Where the audit log goes (`audit_log`): unset or `off` keeps none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditTarget {
    /// hclog-shaped lines on stderr (in plugin mode Grafana copies them into its own log).
    Stderr,
    /// A file (0600), rotated to `FILE.1` … `FILE.<keep>` when the next line would pass `max_bytes`.
    File {
        /// Absolute path of the current file.
        path: std::path::PathBuf,
        /// Rotation size.
        max_bytes: u64,
        /// Rotated files kept.
        keep: u32,
    },
}

/// A byte size: a whole number with an optional `KiB`, `MiB` or `GiB`.
fn byte_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let (digits, unit) = t
        .find(|c: char| !c.is_ascii_digit())
        .map_or((t, ""), |i| t.split_at(i));
    let n: u64 = digits.parse().ok()?;
    let factor = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" | "k" => 1 << 10,
        "mib" | "m" => 1 << 20,
        "gib" | "g" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(factor)
}

/// The `audit_log` settings; `None` when no audit log is configured.
pub fn audit_target(settings: &Settings) -> Result<Option<AuditTarget>, ConfigError> {
    let Some(value) = settings.get("audit_log").map(str::trim) else {
        return Ok(None);
    };
    match value.to_ascii_lowercase().as_str() {
        "" | "off" | "none" | "false" => return Ok(None),
        "stderr" => return Ok(Some(AuditTarget::Stderr)),
        _ => {}
    }
    let path = std::path::PathBuf::from(value);
    if !path.is_absolute() {
        return Err(settings.error(
            "audit_log",
            "expected stderr, off or an absolute file path (Grafana starts the plugin in its own folder, so a relative path would land there)",
        ));
    }
    let max_bytes = match settings.get("audit_log_max_bytes") {
        None => AUDIT_LOG_DEFAULT_MAX_BYTES,
        Some(v) => byte_size(v).filter(|n| *n >= 4096).ok_or_else(|| {
            settings.error(
                "audit_log_max_bytes",
                "expected a size of at least 4096 bytes, e.g. 67108864 or 64MiB",
            )
        })?,
    };
    let keep = settings
        .parse::<u32>(
            "audit_log_keep",
            "a whole number of rotated files to keep (0 or more)",
        )?
        .unwrap_or(AUDIT_LOG_DEFAULT_KEEP);
    Ok(Some(AuditTarget::File {
        path,
        max_bytes,
        keep,
    }))
}

/// Keys that no part of the broker knows, for a start-up warning.
pub fn unknown_keys(settings: &Settings) -> Vec<String> {
    settings
        .keys()
        .map(|(key, _)| key)
        .filter(|k| !known_keys().any(|known| known == *k))
        .map(str::to_string)
        .collect()
}

fn known_keys() -> impl Iterator<Item = &'static str> {
    GENERAL_KEYS
        .iter()
        .chain(backends::cache::KEYS)
        .chain(BACKENDS.iter().flat_map(|b| b.keys))
        .copied()
}

/// Log verbosity, in hclog's level names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Everything, including per-call traces (never values).
    Trace,
    /// Diagnostic detail.
    Debug,
    /// Start-up, shutdown and notable events (the default).
    Info,
    /// Problems that did not stop the call.
    Warn,
    /// Failures.
    Error,
}

impl FromStr for LogLevel {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s.to_ascii_lowercase().as_str() {
            "trace" => Ok(LogLevel::Trace),
            "debug" => Ok(LogLevel::Debug),
            "info" => Ok(LogLevel::Info),
            "warn" | "warning" => Ok(LogLevel::Warn),
            "error" => Ok(LogLevel::Error),
            _ => Err(()),
        }
    }
}

/// The `log_level` setting, `None` when unset.
pub fn log_level(settings: &Settings) -> Result<Option<LogLevel>, ConfigError> {
    settings.parse("log_level", "one of trace, debug, info, warn, error")
}

/// Validated configuration of the broker.
#[derive(Debug, Clone)]
pub struct Config {
    /// The backend to run.
    pub backend: BackendConfig,
    /// Log verbosity.
    pub log_level: LogLevel,
    /// The read cache in front of the backend (plugin and `serve`).
    pub cache: CacheConfig,
    /// The audit log, if one is configured.
    pub audit: Option<AuditTarget>,
}

impl Config {
    /// Validates settings into a config. The first invalid setting stops with an error naming it.
    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        let log_level = log_level(settings)?.unwrap_or(LogLevel::Info);
        Self::at_level(settings, log_level)
    }

    /// Validates settings into a config logging at `log_level` (already read from them).
    pub fn at_level(settings: &Settings, log_level: LogLevel) -> Result<Self, ConfigError> {
        let backend = backend_from_settings(settings)?;
        Ok(Config {
            cache: CacheConfig::from_settings(settings, &backend)?,
            backend,
            log_level,
            audit: audit_target(settings)?,
        })
    }
}

/// The backend named by the `backend` key (default [`backends::DEFAULT_BACKEND`], `local`),
/// with its settings.
pub fn backend_from_settings(settings: &Settings) -> Result<BackendConfig, ConfigError> {
    backend_named(
        settings,
        "backend",
        settings
            .get("backend")
            .unwrap_or(backends::DEFAULT_BACKEND.name),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backends::settings::test_pairs::owned as env;

    #[test]
    fn precedence_and_sources() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "aws_region = \"eu-west-1\"\nlog_level = \"debug\"\n").unwrap();
        let s = Settings::load(
            Some(&file),
            env(&[("GF_PLUGIN_AWS_REGION", "us-east-2"), ("HOME", "/x")]),
            env(&[("log_level", "trace")]),
        )
        .unwrap();
        assert_eq!(s.get("aws_region"), Some("us-east-2"));
        assert_eq!(s.get("log_level"), Some("trace"));
        assert_eq!(s.get("home"), None);
        assert_eq!(
            s.source("aws_region"),
            Some(&Source::Env("GF_PLUGIN_AWS_REGION".into()))
        );
    }

    #[test]
    fn audit_log_settings() {
        let load = |pairs: &[(&str, &str)]| Settings::load(None, [], env(pairs)).unwrap();
        assert_eq!(audit_target(&load(&[])).unwrap(), None);
        assert_eq!(audit_target(&load(&[("audit_log", "off")])).unwrap(), None);
        assert_eq!(
            audit_target(&load(&[("audit_log", "stderr")])).unwrap(),
            Some(AuditTarget::Stderr)
        );
        assert_eq!(
            audit_target(&load(&[
                ("audit_log", "/var/log/broker/audit.log"),
                ("audit_log_max_bytes", "8MiB"),
                ("audit_log_keep", "3"),
            ]))
            .unwrap(),
            Some(AuditTarget::File {
                path: "/var/log/broker/audit.log".into(),
                max_bytes: 8 << 20,
                keep: 3
            })
        );
        let relative = audit_target(&load(&[("audit_log", "audit.log")])).unwrap_err();
        assert_eq!(relative.key, "audit_log");
        assert!(relative.to_string().contains("absolute"), "{relative}");
        let size = audit_target(&load(&[
            ("audit_log", "/a.log"),
            ("audit_log_max_bytes", "12 parsecs"),
        ]))
        .unwrap_err();
        assert_eq!(size.key, "audit_log_max_bytes");
    }

    #[test]
    fn invalid_value_names_key_and_source_not_value() {
        let s = Settings::load(None, env(&[("GF_PLUGIN_LOG_LEVEL", "loud-s3cr3t")]), []).unwrap();
        let e = Config::from_settings(&s).unwrap_err().to_string();
        assert!(
            e.contains("log_level") && e.contains("GF_PLUGIN_LOG_LEVEL"),
            "{e}"
        );
        assert!(!e.contains("s3cr3t"), "{e}");
    }

    #[test]
    fn unknown_keys_are_reported() {
        let s = Settings::load(None, env(&[("GF_PLUGIN_SOMETHING_ELSE", "1")]), []).unwrap();
        assert_eq!(unknown_keys(&s), vec!["something_else".to_string()]);
    }

    #[test]
    fn backend_errors_list_every_registered_backend() {
        let s = Settings::load(None, env(&[("GF_PLUGIN_BACKEND", "redis")]), []).unwrap();
        let e = Config::from_settings(&s).unwrap_err().to_string();
        assert!(
            e.contains("expected one of local, aws, legacy_sql, ")
                && e.contains("(mirror only as the top-level backend)"),
            "{e}"
        );
        for backend in BACKENDS {
            assert!(e.contains(backend.name), "{e}");
        }
        // A decorator is refused as a mirror side, with the same list.
        let s = Settings::load(
            None,
            env(&[
                ("GF_PLUGIN_BACKEND", "mirror"),
                ("GF_PLUGIN_MIRROR_PRIMARY", "mirror"),
                ("GF_PLUGIN_MIRROR_SECONDARY", "local"),
            ]),
            [],
        )
        .unwrap();
        let e = Config::from_settings(&s).unwrap_err();
        assert_eq!(e.key, "mirror_primary");
        assert!(e.message.starts_with("expected one of local"), "{e}");
    }

    #[test]
    fn every_backend_key_is_known() {
        let s = Settings::load(
            None,
            BACKENDS.iter().flat_map(|b| b.keys).map(|k| {
                (
                    format!("GF_PLUGIN_{}", k.to_ascii_uppercase()),
                    "x".to_string(),
                )
            }),
            [],
        )
        .unwrap();
        assert_eq!(unknown_keys(&s), Vec::<String>::new());
    }

    #[test]
    fn unknown_backend_is_an_error() {
        let s = Settings::load(None, env(&[("GF_PLUGIN_BACKEND", "redis")]), []).unwrap();
        assert!(Config::from_settings(&s)
            .unwrap_err()
            .to_string()
            .contains("backend"));
    }
}
