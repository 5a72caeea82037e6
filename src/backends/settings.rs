//! Raw settings as backends read them: lower-case key → value, each with where it came from
//! (config file, `GF_PLUGIN_*` environment variable or flag), merged with a known precedence
//! (flags > environment > file), and the error naming a key that could not be used.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Prefix of the environment variables Grafana sets from `[plugin.<id>]`.
pub const ENV_PREFIX: &str = "GF_PLUGIN_";

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
    /// The process environment as the binary read it (every variable, not only `GF_PLUGIN_*`),
    /// for backends that follow other variables (Grafana's `GF_*` ini overrides, `HOME`).
    environment: BTreeMap<String, String>,
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
    /// The whole of `env` is kept as [`Settings::environment`].
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        flags: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let environment: BTreeMap<String, String> = env.into_iter().collect();
        let mut env_layer = Settings::default();
        for (name, value) in &environment {
            if let Some(key) = name.strip_prefix(ENV_PREFIX) {
                env_layer.insert(
                    key.to_ascii_lowercase(),
                    value.clone(),
                    Source::Env(name.clone()),
                );
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
        merged.environment = environment;
        Ok(merged)
    }

    /// The environment variable `name` as given to [`Settings::load`], if set and not empty.
    pub fn env_var(&self, name: &str) -> Option<&str> {
        self.environment
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// Every environment variable given to [`Settings::load`].
    pub fn environment(&self) -> impl Iterator<Item = (String, String)> + '_ {
        self.environment.iter().map(|(k, v)| (k.clone(), v.clone()))
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

    /// Every key that is set, with its source (never its value).
    pub fn keys(&self) -> impl Iterator<Item = (&str, &Source)> {
        self.entries.iter().map(|(k, e)| (k.as_str(), &e.source))
    }
}

/// Settings and environments written as literal pairs, for the unit tests of the modules that
/// read settings.
#[cfg(test)]
pub(crate) mod test_pairs {
    use super::{Settings, Source};

    /// `pairs` as owned (name, value) pairs: the form `Settings::load` takes the environment
    /// and the flags in.
    pub(crate) fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// Settings holding `pairs`, each as if it came from its `GF_PLUGIN_` variable.
    pub(crate) fn from_plugin_env(pairs: &[(&str, &str)]) -> Settings {
        let mut s = Settings::default();
        for (k, v) in pairs {
            s.insert(
                *k,
                *v,
                Source::Env(format!("GF_PLUGIN_{}", k.to_uppercase())),
            );
        }
        s
    }
}
