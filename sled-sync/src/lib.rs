//! Durability for sled 0.34, shared by the broker's `local` backend and the emulator: sled's
//! flush is not enough on its own for "acknowledged means on disk", so a store calls
//! [`SledFiles::sync`] after every flush; and a flush per write is slow, so a store can log its
//! writes in a [`wal::Wal`] (one group `fdatasync` per batch of writers) and flush sled only at
//! checkpoints. sled's settings file is written here, atomically, before sled opens a database
//! ([`config::prepare`]).

pub mod config;
pub mod wal;

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// sled 0.34's flush on Linux only calls `sync_file_range` on its log (which neither flushes the
/// device's write cache nor persists file metadata) and never syncs the separate files it writes
/// for large pages (`blobs/`): this fdatasyncs the log and syncs each new blob file (and the
/// directory naming it) once. Opening it syncs `conf` and the directories too.
#[derive(Debug)]
pub struct SledFiles {
    log: fs::File,
    blobs_dir: PathBuf,
    synced_blobs: Mutex<HashSet<OsString>>,
}

impl SledFiles {
    /// Opens the files of the sled database in `db_dir` (after sled has opened it) and syncs
    /// what sled created without syncing.
    pub fn open(db_dir: &Path) -> std::io::Result<Self> {
        let state = Self {
            log: fs::File::open(db_dir.join("db"))?,
            blobs_dir: db_dir.join("blobs"),
            synced_blobs: Mutex::new(HashSet::new()),
        };
        // sled writes its `conf` file and creates its files without syncing them or the
        // directories that name them.
        fs::File::open(db_dir.join("conf"))?.sync_all()?;
        fs::File::open(db_dir)?.sync_all()?;
        if let Some(parent) = db_dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::File::open(parent)?.sync_all()?;
        }
        state.sync()?;
        Ok(state)
    }

    /// Makes everything sled has flushed so far durable. Call after `Db::flush`.
    pub fn sync(&self) -> std::io::Result<()> {
        self.log.sync_data()?;
        let entries = match fs::read_dir(&self.blobs_dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let mut synced = self.synced_blobs.lock().unwrap_or_else(|p| p.into_inner());
        let mut present = HashSet::new();
        let mut new_files = false;
        for entry in entries {
            let name = entry?.file_name();
            if !synced.contains(&name) {
                match fs::File::open(self.blobs_dir.join(&name)) {
                    Ok(f) => f.sync_all()?,
                    // Garbage-collected by sled between the listing and the open.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                }
                new_files = true;
            }
            present.insert(name);
        }
        if new_files {
            fs::File::open(&self.blobs_dir)?.sync_all()?;
        }
        *synced = present;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syncs_a_flushed_database_and_its_new_blob_files() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path()).unwrap();
        let files = SledFiles::open(dir.path()).unwrap();
        db.insert(b"small", b"v".to_vec()).unwrap();
        // Large values go to their own file under blobs/.
        db.insert(b"large", vec![7u8; 200_000]).unwrap();
        db.flush().unwrap();
        files.sync().unwrap();
        let blobs = fs::read_dir(dir.path().join("blobs")).unwrap().count();
        assert!(blobs >= 1, "expected a blob file");
        assert_eq!(files.synced_blobs.lock().unwrap().len(), blobs);
    }

    #[test]
    fn a_directory_without_a_sled_database_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(SledFiles::open(dir.path()).is_err());
    }
}
