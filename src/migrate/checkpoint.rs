//! The checkpoint: which secrets a migration has copied and verified (by digest) and which it
//! has deleted from the source, so a rerun after a crash resumes instead of starting over.
//!
//! Written atomically: the whole file goes to a temporary file in the same directory, which is
//! fsynced and renamed over the old one, then the directory is fsynced. A crash leaves either the
//! old or the new checkpoint, never a torn one. It holds keys and SHA-256 digests, never values;
//! a digest of a short password can be brute-forced, so the file is mode 0600 (a missing
//! directory is created 0700), also when it replaces an older, more open file.
//! A checkpoint that is missing or lags behind only costs re-reading: the engine always reads the
//! destination and skips values whose digest already matches, so resuming never copies twice.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Error;
pub use crate::domain::KeyRecord;
use crate::domain::SecretKey;

const VERSION: u32 = 1;

/// What the checkpoint knows about one key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Done {
    /// SHA-256 of the value verified in the destination.
    pub digest: String,
    /// Whether it was then deleted from the source.
    #[serde(default)]
    pub deleted_from_source: bool,
}

#[derive(Debug, Serialize, Deserialize)]
struct FileFormat {
    version: u32,
    source: String,
    destination: String,
    done: Vec<(KeyRecord, Done)>,
}

/// The in-memory checkpoint of one migration.
#[derive(Debug)]
pub struct Checkpoint {
    path: PathBuf,
    source: String,
    destination: String,
    done: BTreeMap<KeyRecord, Done>,
    dirty: bool,
}

impl Checkpoint {
    /// Loads `path` if it exists (it must belong to the same source and destination), otherwise
    /// starts empty.
    pub fn load_or_new(path: &Path, source: &str, destination: &str) -> Result<Self, Error> {
        let err = |message: String| Error::Checkpoint {
            path: path.to_path_buf(),
            message,
        };
        let mut cp = Self {
            path: path.to_path_buf(),
            source: source.to_string(),
            destination: destination.to_string(),
            done: BTreeMap::new(),
            dirty: false,
        };
        let text = match fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(cp),
            Err(e) => return Err(err(format!("cannot read: {e}"))),
        };
        let file: FileFormat = serde_json::from_str(&text).map_err(|e| {
            err(format!(
                "not a checkpoint of this tool ({e}); delete it to start over"
            ))
        })?;
        if file.version != VERSION {
            return Err(err(format!(
                "unsupported checkpoint version {}",
                file.version
            )));
        }
        if file.source != source || file.destination != destination {
            return Err(err(format!(
                "belongs to a migration from {} to {}, not from {source} to {destination}; \
                 pass another --checkpoint or delete it",
                file.source, file.destination
            )));
        }
        cp.done = file.done.into_iter().collect();
        Ok(cp)
    }

    /// Where it is written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What is recorded for `key`.
    pub fn get(&self, key: &SecretKey) -> Option<&Done> {
        self.done.get(&KeyRecord::from(key))
    }

    /// Number of keys recorded.
    pub fn len(&self) -> usize {
        self.done.len()
    }

    /// Whether nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.done.is_empty()
    }

    /// Records that `key` holds a value with `digest` in the destination, verified.
    pub fn mark_verified(&mut self, key: &SecretKey, digest: String) {
        self.done.insert(
            KeyRecord::from(key),
            Done {
                digest,
                deleted_from_source: false,
            },
        );
        self.dirty = true;
    }

    /// Records that `key` was deleted from the source.
    pub fn mark_deleted(&mut self, key: &SecretKey) {
        if let Some(d) = self.done.get_mut(&KeyRecord::from(key)) {
            d.deleted_from_source = true;
            self.dirty = true;
        }
    }

    /// Whether there are unsaved changes.
    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// The serialized file and clears the dirty flag (the caller then [`write_atomically`]).
    pub fn snapshot(&mut self) -> Result<Vec<u8>, Error> {
        let file = FileFormat {
            version: VERSION,
            source: self.source.clone(),
            destination: self.destination.clone(),
            done: self
                .done
                .iter()
                .map(|(k, d)| (k.clone(), d.clone()))
                .collect(),
        };
        self.dirty = false;
        serde_json::to_vec(&file).map_err(|e| Error::Checkpoint {
            path: self.path.clone(),
            message: format!("cannot serialize: {e}"),
        })
    }

    /// Saves now (snapshot + atomic write).
    pub fn save(&mut self) -> Result<(), Error> {
        let bytes = self.snapshot()?;
        write_atomically(&self.path, &bytes)
    }
}

/// Writes `bytes` to `path` atomically and readable by the owner only (see
/// [`write_private_atomically`]); errors name the checkpoint.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    write_private_atomically(path, bytes).map_err(|e| Error::Checkpoint {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// Writes `bytes` to `path` for files that hold secrets or their digests: a new temporary file
/// in the same directory (created exclusively under a random name, mode 0600 on Unix), fsynced
/// and renamed over `path`, then the directory is fsynced. A missing directory is created with
/// mode 0700. An existing file at `path` is replaced, so its old mode (say 0644) never applies
/// to the new contents, and a reader that opened the old file never sees them.
pub fn write_private_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let step =
        |what: &str, e: std::io::Error| std::io::Error::new(e.kind(), format!("{what}: {e}"));
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.exists() {
        create_private_dir(&dir).map_err(|e| step("cannot create the directory", e))?;
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    let tmp = dir.join(format!(".{name}.tmp-{}", uuid::Uuid::new_v4().simple()));
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let written = options
        .open(&tmp)
        .map_err(|e| step("cannot create temporary file", e))
        .and_then(|mut f| {
            f.write_all(bytes).map_err(|e| step("cannot write", e))?;
            f.sync_all().map_err(|e| step("cannot fsync", e))
        })
        .and_then(|()| fs::rename(&tmp, path).map_err(|e| step("cannot rename into place", e)));
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    if let Ok(d) = File::open(&dir) {
        // Directory fsync makes the rename durable; not supported everywhere, so best effort.
        let _ = d.sync_all();
    }
    Ok(())
}

/// Creates `dir` (and missing parents) with mode 0700 on Unix.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_identity_check() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cp.json");
        let k = SecretKey::new(1, "ns", "t").unwrap();
        let mut cp = Checkpoint::load_or_new(&path, "a", "b").unwrap();
        cp.mark_verified(&k, "d1".into());
        cp.mark_deleted(&k);
        cp.save().unwrap();
        let cp2 = Checkpoint::load_or_new(&path, "a", "b").unwrap();
        assert_eq!(
            cp2.get(&k),
            Some(&Done {
                digest: "d1".into(),
                deleted_from_source: true
            })
        );
        let e = Checkpoint::load_or_new(&path, "a", "c")
            .unwrap_err()
            .to_string();
        assert!(e.contains("belongs to a migration from a to b"), "{e}");
        fs::write(&path, "{garbage").unwrap();
        assert!(Checkpoint::load_or_new(&path, "a", "b").is_err());
        // No temporary file is left behind.
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn private_files_replace_open_ones_and_get_a_private_directory() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let dir = tempfile::tempdir().unwrap();
        let open = dir.path().join("open.json");
        fs::write(&open, "old").unwrap();
        fs::set_permissions(&open, fs::Permissions::from_mode(0o644)).unwrap();
        write_private_atomically(&open, b"new").unwrap();
        assert_eq!(
            (mode(&open), fs::read(&open).unwrap()),
            (0o600, b"new".to_vec())
        );
        let nested = dir.path().join("a").join("b").join("cp.json");
        write_private_atomically(&nested, b"x").unwrap();
        assert_eq!(mode(&nested), 0o600);
        assert_eq!(mode(nested.parent().unwrap()), 0o700);
        assert_eq!(mode(&dir.path().join("a")), 0o700);
    }
}
