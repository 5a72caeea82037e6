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
//! Setting `data_dir`, else the default ([`default_data_dir`]):
//! 1. `$GF_PATHS_DATA/secrets-broker` when `GF_PATHS_DATA` is set (Grafana's Docker image sets it
//!    to its data directory; the deb/rpm packages do not);
//! 2. otherwise the first of these that already exists, else the first that can be created
//!    (its nearest existing ancestor is writable by this user):
//!    - `<grafana data>/secrets-broker` when this binary is installed as a Grafana plugin:
//!      it sits beside its `plugin.json` in `<plugins dir>/<plugin folder>/` (or one folder
//!      deeper), and the plugins directory is called `plugins`, as in every Grafana layout
//!      (deb/rpm `/var/lib/grafana/plugins`, Docker, tarball `<install>/data/plugins`, Windows
//!      `<install>\data\plugins`): Grafana's data directory is the one holding it. Derived
//!      from the executable's real path (symlinks resolved), never inside the plugin's own
//!      folder, which an upgrade replaces;
//!    - `$XDG_DATA_HOME/secrets-broker`, `$HOME/.local/share/secrets-broker`,
//!      `./secrets-broker-data` (the defaults of earlier versions, still used where a store
//!      already exists).
//!
//! When none is usable, start-up stops with an error that lists each place tried and why, and
//! asks for `data_dir`.
//!
//! The directory is created with mode 0700; an existing one that group or others can access is
//! made 0700 when it holds nothing but the store (otherwise a warning names the other files and
//! its mode is left). It holds `db/` (sled), `wal/` (the write-ahead log), both 0700 with their
//! files made 0600 at every open, `broker.lock` (held while a broker runs: a second process gets
//! a clear "in use" error) and, unless a key is configured, `broker.key`.
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
//! - `diagnose`: `secrets-broker doctor`'s checks of the directory, the key and the store.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;

#[cfg(unix)]
use crate::backends::diagnosis::{Finding, Probe};
use crate::backends::settings::{ConfigError, Settings};
use crate::backends::{Backend, BackendSettings, SecretStore};

pub mod cipher;
pub mod codec;
#[cfg(unix)]
mod diagnose;
pub mod keyfile;
mod store;

pub use keyfile::EncryptionKey;
pub use store::LocalStore;

/// Settings keys this backend reads.
pub const KEYS: &[&str] = &["data_dir", "encryption_key", "encryption_key_file", "fsync"];

/// This backend's entry in [`crate::backends::BACKENDS`].
pub static BACKEND: Backend = Backend {
    name: "local",
    description: "embedded sled database in a data directory, encrypted at rest",
    keys: KEYS,
    decorator: false,
    migration_rate: None,
    configure: |settings| Ok(Arc::new(LocalConfig::from_settings(settings)?)),
};

#[async_trait]
impl BackendSettings for LocalConfig {
    async fn open(&self) -> crate::backends::Result<Arc<dyn SecretStore>> {
        Ok(Arc::new(LocalStore::open(self)?))
    }

    #[cfg(unix)]
    async fn diagnose(&self, probe: &Probe) -> Vec<Finding> {
        diagnose::diagnose(self, probe).await
    }
}

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
    /// see [`default_data_dir`] and the module documentation.
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
            None => {
                let dir = default_data_dir(settings)
                    .map_err(|e| settings.error("data_dir", e.to_string()))?;
                tracing::info!(
                    data_dir = %dir.display(),
                    "data directory (the default; setting data_dir chooses another)"
                );
                dir
            }
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

/// Why no default data directory could be used: each place tried and what was wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "is not set, and no default location can hold the store: {}. Set data_dir (in grafana.ini's \
     [plugin.<plugin id>] section, or GF_PLUGIN_DATA_DIR) to a directory this user can write",
    .tried.iter().map(|(p, why)| format!("{} ({why})", p.display())).collect::<Vec<_>>().join("; ")
)]
pub struct NoDataDir {
    /// Each candidate and why it was passed over.
    pub tried: Vec<(PathBuf, String)>,
}

/// The default data directory for this process (see the module documentation): from the
/// environment the settings were loaded with, the executable's location and what exists on disk.
pub fn default_data_dir(settings: &Settings) -> Result<PathBuf, NoDataDir> {
    let exe = std::env::current_exe().ok();
    default_data_dir_from(
        |name| settings.env_var(name).map(PathBuf::from),
        exe.as_deref(),
        &probe_disk,
    )
}

/// What a candidate directory is on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Candidate {
    /// It exists as a directory (a store, or a place made for one).
    Exists,
    /// It does not exist, and this user can create it.
    Creatable,
    /// It cannot be used; why.
    Unusable(String),
}

/// The default data directory given an environment lookup (empty variables count as unset), the
/// executable's path and a disk probe. Pure apart from `probe`, for tests.
pub fn default_data_dir_from(
    env: impl Fn(&str) -> Option<PathBuf>,
    exe: Option<&Path>,
    probe: &dyn Fn(&Path) -> Candidate,
) -> Result<PathBuf, NoDataDir> {
    let var = |name: &str| env(name).filter(|p| !p.as_os_str().is_empty());
    if let Some(grafana) = var("GF_PATHS_DATA") {
        return Ok(grafana.join(DIR_NAME));
    }
    let mut candidates = Vec::new();
    if let Some(grafana) = exe.and_then(grafana_data_dir_of) {
        candidates.push(grafana.join(DIR_NAME));
    }
    if let Some(xdg) = var("XDG_DATA_HOME") {
        candidates.push(xdg.join(DIR_NAME));
    }
    if let Some(home) = var("HOME") {
        candidates.push(home.join(".local").join("share").join(DIR_NAME));
    }
    candidates.push(Path::new(".").join("secrets-broker-data"));
    let probed: Vec<(PathBuf, Candidate)> = candidates
        .into_iter()
        .map(|c| {
            let state = probe(&c);
            (c, state)
        })
        .collect();
    if let Some((dir, _)) = probed.iter().find(|(_, s)| *s == Candidate::Exists) {
        return Ok(dir.clone());
    }
    if let Some((dir, _)) = probed.iter().find(|(_, s)| *s == Candidate::Creatable) {
        return Ok(dir.clone());
    }
    Err(NoDataDir {
        tried: probed
            .into_iter()
            .map(|(dir, state)| match state {
                Candidate::Unusable(why) => (dir, why),
                _ => (dir, "unusable".to_string()),
            })
            .collect(),
    })
}

/// Grafana's data directory when `exe` is installed as a Grafana plugin: the executable's folder
/// holds `plugin.json`, and that folder's parent or grandparent is a directory called `plugins`
/// (Grafana's default `<data>/plugins` in every layout); the data directory is the one holding
/// it. `None` for any other location (a build tree, `/usr/local/bin`, a plugins directory
/// configured under another name).
pub fn grafana_data_dir_of(exe: &Path) -> Option<PathBuf> {
    let plugin_folder = exe.parent()?;
    if !plugin_folder.join("plugin.json").is_file() {
        return None;
    }
    let plugins_dir = plugin_folder.ancestors().skip(1).take(2).find(|d| {
        d.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.eq_ignore_ascii_case("plugins"))
    })?;
    plugins_dir.parent().map(Path::to_path_buf)
}

/// Whether `dir` exists, can be created by this user (its nearest existing ancestor is a
/// writable, searchable directory), or neither.
pub fn probe_disk(dir: &Path) -> Candidate {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => return Candidate::Exists,
        Ok(_) => return Candidate::Unusable("exists and is not a directory".into()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Candidate::Unusable(e.to_string()),
    }
    let absolute = if dir.is_absolute() {
        dir.to_path_buf()
    } else {
        match std::env::current_dir() {
            Ok(cwd) => cwd.join(dir),
            Err(e) => return Candidate::Unusable(format!("no working directory: {e}")),
        }
    };
    let Some(ancestor) = absolute.ancestors().skip(1).find(|a| a.exists()) else {
        return Candidate::Unusable("no existing parent directory".into());
    };
    match writable_dir(ancestor) {
        Ok(()) => Candidate::Creatable,
        Err(why) => {
            Candidate::Unusable(format!("cannot create it in {}: {why}", ancestor.display()))
        }
    }
}

#[cfg(unix)]
fn writable_dir(dir: &Path) -> Result<(), String> {
    use rustix::fs::{access, Access};
    if !dir.is_dir() {
        return Err("not a directory".into());
    }
    access(dir, Access::WRITE_OK | Access::EXEC_OK).map_err(|e| std::io::Error::from(e).to_string())
}

/// Elsewhere (Windows) only "is a directory": the read-only attribute of a folder does not stop
/// creating files in it, and access is decided by ACLs, which creating the directory will test.
#[cfg(not(unix))]
fn writable_dir(dir: &Path) -> Result<(), String> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err("not a directory".into()),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backends::settings::test_pairs::from_plugin_env as settings;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<PathBuf> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| PathBuf::from(v))
        }
    }

    /// A probe that finds `existing` on disk and can create anything under `writable`.
    fn probe<'a>(
        existing: &'a [&'a str],
        writable: &'a [&'a str],
    ) -> impl Fn(&Path) -> Candidate + 'a {
        move |p| {
            if existing.iter().any(|e| Path::new(e) == p) {
                Candidate::Exists
            } else if writable.iter().any(|w| p.starts_with(w)) {
                Candidate::Creatable
            } else {
                Candidate::Unusable("Permission denied".into())
            }
        }
    }

    #[test]
    fn default_dir_prefers_grafana_then_existing_then_creatable() {
        let all = [
            ("GF_PATHS_DATA", "/var/lib/grafana"),
            ("XDG_DATA_HOME", "/x"),
            ("HOME", "/h"),
        ];
        let nothing = probe(&[], &[]);
        assert_eq!(
            default_data_dir_from(env(&all), None, &nothing),
            Ok(PathBuf::from("/var/lib/grafana/secrets-broker"))
        );
        let no_gf = [
            ("GF_PATHS_DATA", ""),
            ("XDG_DATA_HOME", "/x"),
            ("HOME", "/h"),
        ];
        assert_eq!(
            default_data_dir_from(env(&no_gf), None, &probe(&[], &["/x", "/h"])),
            Ok(PathBuf::from("/x/secrets-broker"))
        );
        // An existing store wins over an earlier candidate that would have to be created.
        assert_eq!(
            default_data_dir_from(
                env(&no_gf),
                None,
                &probe(&["/h/.local/share/secrets-broker"], &["/x", "/h"])
            ),
            Ok(PathBuf::from("/h/.local/share/secrets-broker"))
        );
        // deb/rpm: HOME is root's /usr/share/grafana: skipped for the next writable place.
        assert_eq!(
            default_data_dir_from(
                env(&[("HOME", "/usr/share/grafana")]),
                None,
                &probe(&[], &["."])
            ),
            Ok(PathBuf::from("./secrets-broker-data"))
        );
        let e = default_data_dir_from(env(&[("HOME", "/usr/share/grafana")]), None, &nothing)
            .expect_err("nothing writable");
        assert_eq!(e.tried.len(), 2);
        let text = e.to_string();
        assert!(
            text.contains("/usr/share/grafana/.local/share/secrets-broker (Permission denied)")
                && text.contains("./secrets-broker-data")
                && text.contains("Set data_dir"),
            "{text}"
        );
    }

    #[test]
    fn grafana_data_dir_from_the_plugin_executable() {
        let root = tempfile::tempdir().expect("tempdir");
        let layout = |rel: &str| {
            let folder = root.path().join(rel);
            std::fs::create_dir_all(&folder).expect("mkdir");
            std::fs::write(folder.join("plugin.json"), "{}").expect("plugin.json");
            folder.join("secrets_plugin_start_linux_amd64")
        };
        let deb = layout("var/lib/grafana/plugins/secretsbroker-secretsmanager");
        assert_eq!(
            grafana_data_dir_of(&deb),
            Some(root.path().join("var/lib/grafana"))
        );
        let nested = layout("opt/grafana-11.6.0/data/plugins/secretsbroker-secretsmanager/dist");
        assert_eq!(
            grafana_data_dir_of(&nested),
            Some(root.path().join("opt/grafana-11.6.0/data"))
        );
        // A plugins directory under another name, or no plugin.json: not derivable.
        let custom = layout("srv/grafana-extras/secretsbroker-secretsmanager");
        assert_eq!(grafana_data_dir_of(&custom), None);
        let build = root.path().join("plugins/x/target/debug/secrets-broker");
        std::fs::create_dir_all(build.parent().expect("parent")).expect("mkdir");
        assert_eq!(grafana_data_dir_of(&build), None);
        // The derived directory comes before the user's home, GF_PATHS_DATA before both.
        let home = [("HOME", "/h")];
        let writable = [root.path().to_str().expect("utf-8"), "/h"];
        assert_eq!(
            default_data_dir_from(env(&home), Some(&deb), &probe(&[], &writable)),
            Ok(root.path().join("var/lib/grafana/secrets-broker"))
        );
        assert_eq!(
            default_data_dir_from(
                env(&[("GF_PATHS_DATA", "/d"), ("HOME", "/h")]),
                Some(&deb),
                &probe(&[], &writable)
            ),
            Ok(PathBuf::from("/d/secrets-broker"))
        );
    }

    #[cfg(unix)]
    #[test]
    fn probe_sees_existing_creatable_and_not_a_directory() {
        let root = tempfile::tempdir().expect("tempdir");
        assert_eq!(probe_disk(root.path()), Candidate::Exists);
        assert_eq!(probe_disk(&root.path().join("a/b")), Candidate::Creatable);
        let file = root.path().join("f");
        std::fs::write(&file, "").expect("write");
        assert!(matches!(probe_disk(&file), Candidate::Unusable(_)));
        assert!(matches!(
            probe_disk(&file.join("x")),
            Candidate::Unusable(_)
        ));
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
