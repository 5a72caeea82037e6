//! The fsync half of durability: sled 0.34's flush is not enough on its own for "acknowledged
//! means on disk", so in fsync mode the store syncs sled's files itself after every flush.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// What fsync mode needs: sled 0.34's flush on Linux only calls `sync_file_range` on its log
/// (which neither flushes the device's write cache nor persists file metadata) and never syncs
/// the separate files it writes for large pages (`blobs/`), so we sync those ourselves.
pub(super) struct FsyncState {
    log: fs::File,
    blobs_dir: PathBuf,
    synced_blobs: Mutex<HashSet<OsString>>,
}

impl FsyncState {
    pub(super) fn open(db_dir: &Path) -> std::io::Result<Self> {
        let state = Self {
            log: fs::File::open(db_dir.join("db"))?,
            blobs_dir: db_dir.join("blobs"),
            synced_blobs: Mutex::new(HashSet::new()),
        };
        // sled writes its `conf` file and creates its files without syncing them or the
        // directories that name them.
        fs::File::open(db_dir.join("conf"))?.sync_all()?;
        fs::File::open(db_dir)?.sync_all()?;
        if let Some(parent) = db_dir.parent() {
            fs::File::open(parent)?.sync_all()?;
        }
        state.sync()?;
        Ok(state)
    }

    pub(super) fn sync(&self) -> std::io::Result<()> {
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
