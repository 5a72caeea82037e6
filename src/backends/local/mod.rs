//! The embedded `local` backend, the default: secrets in a sled database in one data directory,
//! values encrypted at rest with AES-256-GCM, every write on disk (fsynced) before it is
//! acknowledged.
//!
//! # Durability
//! Each set, delete and rename flushes sled and then, with setting `fsync` (default `true`),
//! fdatasyncs sled's log file and syncs any large-page files sled wrote: sled 0.34's own flush
//! uses `sync_file_range` on Linux, which does not flush the device's write cache or file
//! metadata. `fsync = false` keeps only sled's flush (faster; survives a killed process, not
//! a power cut). See [`LocalConfig::fsync`].
//!
//! # Data directory
//! Setting `data_dir`, else the first that applies:
//! 1. `$GF_PATHS_DATA/secrets-broker` when `GF_PATHS_DATA` is set: Grafana sets it to its own data
//!    directory (writable by the `grafana` user) for the plugins it launches;
//! 2. `$XDG_DATA_HOME/secrets-broker`;
//! 3. `$HOME/.local/share/secrets-broker`;
//! 4. `./secrets-broker-data`.
//!
//! The directory is created with mode 0700. It holds `db/` (sled), `broker.lock` (held while a
//! broker runs: a second process gets a clear "in use" error) and, unless a key is configured,
//! `broker.key`.
//!
//! # Encryption key
//! Setting `encryption_key` (base64 of 32 bytes) or `encryption_key_file` (a file holding that,
//! mode 0600), else a key generated on first start into `<data_dir>/broker.key` with mode 0600.
//! A key file readable by group or others, or a key that does not decrypt the existing data
//! (checked against a stored key check value), stops start-up with an error.
//!
//! # Layout
//! - [`codec`]: the sled key encoding.
//! - [`cipher`]: value encryption and the key check value.
//! - [`keyfile`]: the encryption key and key files.
//! - the fsync of sled's files after each flush is the `sled-sync` crate (shared with the emulator).
//! - `store`: [`LocalStore`], the [`crate::backends::SecretStore`] implementation.

use std::path::{Path, PathBuf};

use crate::config::{ConfigError, Settings};

pub mod cipher;
pub mod codec;
pub mod keyfile;
mod store;

pub use keyfile::EncryptionKey;
pub use store::LocalStore;

/// Settings keys this backend reads.
pub const KEYS: &[&str] = &["data_dir", "encryption_key", "encryption_key_file", "fsync"];

/// Directory name used under Grafana's or the user's data directory.
pub const DIR_NAME: &str = "secrets-broker";

/// Where the encryption key comes from.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum KeySource {
    /// `<data_dir>/broker.key`, generated on first start.
    Generated,
    /// Given directly (setting `encryption_key`).
    Inline(EncryptionKey),
    /// A file holding base64 of 32 bytes (setting `encryption_key_file`).
    File(PathBuf),
}

/// Settings of the local backend. `Debug` never shows a key.
#[derive(Debug, Clone)]
pub struct LocalConfig {
    /// Directory holding the sled database, the lock file and the generated key file. Default:
    /// `$GF_PATHS_DATA/secrets-broker`, else `$XDG_DATA_HOME/secrets-broker`, else
    /// `$HOME/.local/share/secrets-broker`, else `./secrets-broker-data` (see [`default_data_dir`]).
    pub data_dir: PathBuf,
    /// Where the encryption key comes from.
    pub key: KeySource,
    /// Setting `fsync` (default `true`): after sled's flush, fdatasync its log and sync the
    /// files it keeps large pages in, so an acknowledged write survives a power cut. With
    /// `false`, a write is acknowledged after sled's own flush, which on Linux is
    /// `sync_file_range`: the data has been written to the device, so it survives the broker
    /// being killed, but neither the device's write cache nor the file's metadata is flushed,
    /// so a power cut or kernel crash can lose the latest writes.
    pub fsync: bool,
}

impl LocalConfig {
    /// A store in `data_dir` with a generated key file.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            key: KeySource::Generated,
            fsync: true,
        }
    }

    /// The same config with an explicit key.
    pub fn with_key(mut self, key: EncryptionKey) -> Self {
        self.key = KeySource::Inline(key);
        self
    }

    /// Reads `data_dir`, `encryption_key` and `encryption_key_file`. An invalid key, or both key
    /// settings at once, is an error naming the setting (never showing its value).
    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        let data_dir = match settings.get("data_dir") {
            Some(d) => PathBuf::from(d.trim()),
            None => default_data_dir(),
        };
        let key = match (
            settings.get("encryption_key"),
            settings.get("encryption_key_file"),
        ) {
            (Some(_), Some(_)) => {
                return Err(settings.error(
                    "encryption_key",
                    "set either encryption_key or encryption_key_file, not both",
                ))
            }
            (Some(text), None) => KeySource::Inline(
                EncryptionKey::from_base64(text)
                    .map_err(|why| settings.error("encryption_key", why))?,
            ),
            (None, Some(path)) => KeySource::File(PathBuf::from(path.trim())),
            (None, None) => KeySource::Generated,
        };
        let fsync = settings.bool("fsync", true)?;
        Ok(Self {
            data_dir,
            key,
            fsync,
        })
    }
}

/// The default data directory, from the process environment (see [`LocalConfig::data_dir`]).
pub fn default_data_dir() -> PathBuf {
    default_data_dir_from(|name| std::env::var_os(name).map(PathBuf::from))
}

/// The default data directory given an environment lookup; empty variables count as unset.
pub fn default_data_dir_from(env: impl Fn(&str) -> Option<PathBuf>) -> PathBuf {
    let var = |name: &str| env(name).filter(|p| !p.as_os_str().is_empty());
    if let Some(grafana) = var("GF_PATHS_DATA") {
        return grafana.join(DIR_NAME);
    }
    if let Some(xdg) = var("XDG_DATA_HOME") {
        return xdg.join(DIR_NAME);
    }
    if let Some(home) = var("HOME") {
        return home.join(".local").join("share").join(DIR_NAME);
    }
    Path::new(".").join("secrets-broker-data")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Source;

    fn settings(pairs: &[(&str, &str)]) -> Settings {
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

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<PathBuf> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| PathBuf::from(v))
        }
    }

    #[test]
    fn default_dir_prefers_grafana_then_xdg_then_home() {
        let all = [
            ("GF_PATHS_DATA", "/var/lib/grafana"),
            ("XDG_DATA_HOME", "/x"),
            ("HOME", "/h"),
        ];
        assert_eq!(
            default_data_dir_from(env(&all)),
            PathBuf::from("/var/lib/grafana/secrets-broker")
        );
        let no_gf = [
            ("GF_PATHS_DATA", ""),
            ("XDG_DATA_HOME", "/x"),
            ("HOME", "/h"),
        ];
        assert_eq!(
            default_data_dir_from(env(&no_gf)),
            PathBuf::from("/x/secrets-broker")
        );
        assert_eq!(
            default_data_dir_from(env(&[("HOME", "/h")])),
            PathBuf::from("/h/.local/share/secrets-broker")
        );
        assert_eq!(
            default_data_dir_from(env(&[])),
            PathBuf::from("./secrets-broker-data")
        );
    }

    #[test]
    fn settings_are_validated_and_named() {
        let c = LocalConfig::from_settings(&settings(&[("data_dir", "/d")])).expect("valid");
        assert_eq!(c.data_dir, PathBuf::from("/d"));
        assert!(matches!(c.key, KeySource::Generated));

        let good = EncryptionKey::generate().to_base64();
        let c = LocalConfig::from_settings(&settings(&[("encryption_key", good.as_str())]))
            .expect("valid key");
        assert!(matches!(c.key, KeySource::Inline(_)));
        assert!(!format!("{c:?}").contains(good.as_str()));

        let e = LocalConfig::from_settings(&settings(&[("encryption_key", "s3cr3t-not-b64!")]))
            .expect_err("bad base64")
            .to_string();
        assert!(
            e.contains("encryption_key") && e.contains("base64") && !e.contains("s3cr3t"),
            "{e}"
        );
        let e = LocalConfig::from_settings(&settings(&[("encryption_key", "AAAA")]))
            .expect_err("short key")
            .to_string();
        assert!(e.contains("encryption_key") && e.contains("3 bytes"), "{e}");
        let e = LocalConfig::from_settings(&settings(&[
            ("encryption_key", good.as_str()),
            ("encryption_key_file", "/k"),
        ]))
        .expect_err("both")
        .to_string();
        assert!(e.contains("not both"), "{e}");
        assert!(
            LocalConfig::from_settings(&settings(&[]))
                .expect("defaults")
                .fsync
        );
        let c = LocalConfig::from_settings(&settings(&[("fsync", "false")])).expect("valid");
        assert!(!c.fsync);
        let e = LocalConfig::from_settings(&settings(&[("fsync", "sometimes")]))
            .expect_err("bad bool")
            .to_string();
        assert!(e.contains("`fsync`"), "{e}");
    }
}
