//! Settings: raw key/value pairs from a config file, `GF_PLUGIN_*` environment variables and
//! command-line flags, merged with a known precedence and validated into a typed [`Config`].
//!
//! Keys are the ini keys of Grafana's `[plugin.<id>]` section, lower-case (`aws_region`); Grafana
//! passes each as `GF_PLUGIN_<KEY UPPER-CASED>`. Precedence, highest first: flags, environment,
//! config file. An unknown key is a warning (Grafana passes keys meant for itself); an invalid
//! value is an error that names the key and where it came from.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::backends::{self, BackendConfig, BACKENDS};

/// Prefix of the environment variables Grafana sets from `[plugin.<id>]`.
pub const ENV_PREFIX: &str = "GF_PLUGIN_";

/// Keys that are not a backend's: which backend, the config file, the log level.
pub const GENERAL_KEYS: &[&str] = &["backend", "config_file", "log_level"];

/// Where a setting came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A key in the config file.
    File(PathBuf),
    /// An environment variable (its name).
    Env(String),
    /// A command-line flag.
    Flag,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::File(p) => write!(f, "config file {}", p.display()),
            Source::Env(v) => write!(f, "environment variable {v}"),
            Source::Flag => write!(f, "command line"),
        }
    }
}

/// A setting that could not be used. Its text names the key and its source, never its value
/// (a value might be a credential).
#[derive(Debug, thiserror::Error)]
#[error("invalid setting `{key}`{}: {message}", origin.as_ref().map(|s| format!(" (from {s})")).unwrap_or_default())]
pub struct ConfigError {
    /// The offending key.
    pub key: String,
    /// Where its value came from, if it was set.
    pub origin: Option<Source>,
    /// What is wrong and what is expected.
    pub message: String,
}

#[derive(Debug, Clone)]
struct Entry {
    value: String,
    source: Source,
}

/// Raw, merged settings: lower-case key → value, with the source of each.
#[derive(Clone, Default)]
pub struct Settings {
    entries: BTreeMap<String, Entry>,
}

/// Values may be credentials: `Debug` lists only keys and sources.
impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.entries.iter().map(|(k, e)| (k, e.source.to_string())))
            .finish()
    }
}

impl Settings {
    /// Merges the sources: `file` (a TOML table of keys, if given; otherwise the file named by
    /// `config_file` in the environment or flags), then `env` (only `GF_PLUGIN_*`), then `flags`.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        flags: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut env_layer = Settings::default();
        for (name, value) in env {
            if let Some(key) = name.strip_prefix(ENV_PREFIX) {
                env_layer.insert(key.to_ascii_lowercase(), value, Source::Env(name.clone()));
            }
        }
        let mut flag_layer = Settings::default();
        for (key, value) in flags {
            flag_layer.insert(key.to_ascii_lowercase(), value, Source::Flag);
        }
        let file = file.map(Path::to_path_buf).or_else(|| {
            flag_layer
                .get("config_file")
                .or_else(|| env_layer.get("config_file"))
                .map(PathBuf::from)
        });
        let mut merged = match file {
            Some(path) => Settings::from_toml_file(&path)?,
            None => Settings::default(),
        };
        merged.entries.extend(env_layer.entries);
        merged.entries.extend(flag_layer.entries);
        Ok(merged)
    }

    /// Settings from the process environment only (what Grafana gives a plugin).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::load(None, std::env::vars(), std::iter::empty())
    }

    /// Reads a TOML file of `key = value` pairs (strings, numbers, booleans).
    pub fn from_toml_file(path: &Path) -> Result<Self, ConfigError> {
        let err = |message: String| ConfigError {
            key: "config_file".into(),
            origin: None,
            message,
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| err(format!("cannot read {}: {e}", path.display())))?;
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            err(format!(
                "{} is not valid TOML: {}",
                path.display(),
                e.message()
            ))
        })?;
        let mut out = Settings::default();
        for (key, value) in table {
            let value = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                toml::Value::Float(f) => f.to_string(),
                _ => {
                    return Err(ConfigError {
                        key,
                        origin: Some(Source::File(path.to_path_buf())),
                        message: "must be a string, number or boolean".into(),
                    })
                }
            };
            out.insert(
                key.to_ascii_lowercase(),
                value,
                Source::File(path.to_path_buf()),
            );
        }
        Ok(out)
    }

    /// Sets a key (used by flags and tests).
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>, source: Source) {
        self.entries.insert(
            key.into(),
            Entry {
                value: value.into(),
                source,
            },
        );
    }

    /// The raw value of `key`, if set to a non-empty string (Grafana passes empty ini values as
    /// empty variables; they mean "not set").
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .get(key)
            .map(|e| e.value.as_str())
            .filter(|v| !v.is_empty())
    }

    /// Where `key` came from, if set.
    pub fn source(&self, key: &str) -> Option<&Source> {
        self.entries.get(key).map(|e| &e.source)
    }

    /// An error about `key`, carrying its source.
    pub fn error(&self, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError {
            key: key.to_string(),
            origin: self.source(key).cloned(),
            message: message.into(),
        }
    }

    /// `key` parsed as `T`, `None` when unset; `expected` describes valid values for the error.
    pub fn parse<T: FromStr>(&self, key: &str, expected: &str) -> Result<Option<T>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| self.error(key, format!("expected {expected}"))),
        }
    }

    /// `key` as a boolean (`true/false/1/0/yes/no/on/off`), `default` when unset.
    pub fn bool(&self, key: &str, default: bool) -> Result<bool, ConfigError> {
        match self.get(key).map(|v| v.trim().to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) => match v.as_str() {
                "true" | "1" | "yes" | "on" => Ok(true),
                "false" | "0" | "no" | "off" => Ok(false),
                _ => Err(self.error(key, "expected true or false")),
            },
        }
    }

    /// A required key.
    pub fn require(&self, key: &str, why: &str) -> Result<&str, ConfigError> {
        self.get(key)
            .ok_or_else(|| self.error(key, format!("is required {why}")))
    }

    /// Keys that no part of the broker knows, for a start-up warning.
    pub fn unknown_keys(&self) -> Vec<String> {
        self.entries
            .keys()
            .filter(|k| !known_keys().any(|known| known == k.as_str()))
            .cloned()
            .collect()
    }

    /// Every key that is set, with its source (never its value).
    pub fn keys(&self) -> impl Iterator<Item = (&str, &Source)> {
        self.entries.iter().map(|(k, e)| (k.as_str(), &e.source))
    }
}

fn known_keys() -> impl Iterator<Item = &'static str> {
    GENERAL_KEYS
        .iter()
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

/// Validated configuration of the broker.
#[derive(Debug, Clone)]
pub struct Config {
    /// The backend to run.
    pub backend: BackendConfig,
    /// Log verbosity.
    pub log_level: LogLevel,
}

impl Config {
    /// Validates settings into a config. The first invalid setting stops with an error naming it.
    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        let log_level = settings
            .parse("log_level", "one of trace, debug, info, warn, error")?
            .unwrap_or(LogLevel::Info);
        Ok(Config {
            backend: backend_from_settings(settings)?,
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

/// The backend called `name` (as given by setting `key`), with its settings.
pub fn backend_named(
    settings: &Settings,
    key: &str,
    name: &str,
) -> Result<BackendConfig, ConfigError> {
    // A decorator (mirror) is valid only as the top-level backend, not as one of its sides.
    match backends::named(name.trim()) {
        Some(backend) if key == "backend" || !backend.decorator => {
            BackendConfig::from_settings(backend, settings)
        }
        _ => Err(settings.error(key, format!("expected one of {}", backends::choices()))),
    }
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
        assert_eq!(s.unknown_keys(), vec!["something_else".to_string()]);
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
        assert_eq!(s.unknown_keys(), Vec::<String>::new());
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
