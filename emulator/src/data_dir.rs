//! Permissions of the data directory: it holds plaintext secret values, so it is created 0700
//! and the emulator's files in it are made 0600 (its subdirectories 0700), also when it already
//! exists with looser modes. A directory holding anything besides the emulator's own entries
//! keeps its mode (it is not the emulator's to change); only the emulator's entries are tightened.

use std::path::{Path, PathBuf};

/// Errors restricting the data directory.
#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    /// Creating the directory or changing a mode failed.
    #[error("cannot restrict the permissions of {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DataDirError + '_ {
    move |source| DataDirError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Whether a directory entry is one the emulator (sled and the write-ahead log) writes.
fn is_emulator_entry(name: &str) -> bool {
    matches!(name, "conf" | "db" | "blobs" | "wal") || name.starts_with("snap.")
}

/// Creates `dir` (mode 0700) if missing, then restricts it: see the module doc. Returns whether
/// the directory itself was restricted (false: it holds other files and keeps its mode).
pub fn restrict(dir: &Path) -> Result<bool, DataDirError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io(dir))?;
        let mut only_ours = true;
        for entry in std::fs::read_dir(dir).map_err(io(dir))? {
            let entry = entry.map_err(io(dir))?;
            let name = entry.file_name();
            if is_emulator_entry(&name.to_string_lossy()) {
                restrict_tree(&entry.path())?;
            } else {
                only_ours = false;
            }
        }
        if only_ours {
            set_mode(dir, 0o700)?;
        } else {
            tracing::warn!(
                dir = %dir.display(),
                "the data directory holds files that are not the emulator's; its own mode is left as it is"
            );
        }
        Ok(only_ours)
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        Ok(false)
    }
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> Result<(), DataDirError> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(io(path))
}

/// Files 0600, directories 0700, recursively; symbolic links are left alone (never followed).
#[cfg(unix)]
fn restrict_tree(path: &Path) -> Result<(), DataDirError> {
    let meta = std::fs::symlink_metadata(path).map_err(io(path))?;
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    if meta.is_dir() {
        set_mode(path, 0o700)?;
        for entry in std::fs::read_dir(path).map_err(io(path))? {
            restrict_tree(&entry.map_err(io(path))?.path())?;
        }
        Ok(())
    } else {
        set_mode(path, 0o600)
    }
}

#[cfg(all(test, unix))]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn mode(p: &Path) -> u32 {
        std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_foreign_directory_keeps_its_mode_but_the_emulators_files_are_restricted() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("shared");
        std::fs::create_dir(&d).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(d.join("notes.txt"), "x").unwrap();
        std::fs::set_permissions(d.join("notes.txt"), std::fs::Permissions::from_mode(0o644))
            .unwrap();
        std::fs::write(d.join("db"), "x").unwrap();
        std::fs::set_permissions(d.join("db"), std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(!restrict(&d).unwrap());
        assert_eq!(mode(&d), 0o755);
        assert_eq!(mode(&d.join("notes.txt")), 0o644);
        assert_eq!(mode(&d.join("db")), 0o600);
    }
}
