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

/// Keys that are not a backend's: which backend, the config file, the log level.
pub const GENERAL_KEYS: &[&str] = &["backend", "config_file", "log_level"];

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

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

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
