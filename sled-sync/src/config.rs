//! sled 0.34's settings file (`conf`), written here atomically before sled opens a database.
//!
//! sled writes `conf` in place, in two writes and without a sync, when it creates a database. A
//! kill between or during those writes leaves a torn file, and every later open fails: sled warns
//! that the file's checksum is wrong and then cannot parse what precedes the checksum. Writing the
//! file first, complete or not at all, leaves sled nothing to write; a torn file left by an
//! earlier crash is replaced by the complete one.

use std::fs;
use std::io::{self, Write as _};
use std::path::Path;

/// The settings sled 0.34 writes for the configuration every store here uses: 512 KiB segments,
/// no compression, format version 0.34 (sled then appends their CRC-32, little-endian).
const SETTINGS: &[u8] = b"segment_size: 524288\nuse_compression: false\nversion: 0.34\n";

/// The name of the settings file in a sled database directory.
const CONF: &str = "conf";
/// The file the settings are written to before they are renamed into place (sled ignores it).
const CONF_PARTIAL: &str = "conf.partial";

/// What [`prepare`] found in a database directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigState {
    /// A complete settings file was there; it was left alone.
    Kept,
    /// There was none (a new database): it was written.
    Created,
    /// A torn one (its checksum does not match) was replaced.
    Repaired,
}

/// The complete settings file: [`SETTINGS`] and their checksum.
pub fn settings_file() -> Vec<u8> {
    let mut out = SETTINGS.to_vec();
    out.extend_from_slice(&crc32fast::hash(SETTINGS).to_le_bytes());
    out
}

/// Whether `bytes` is a whole settings file: some settings followed by their checksum.
fn is_whole(bytes: &[u8]) -> bool {
    match bytes.len().checked_sub(4) {
        Some(n) if n > 0 => {
            let (body, crc) = bytes.split_at(n);
            crc32fast::hash(body).to_le_bytes() == crc
        }
        _ => false,
    }
}

/// Makes sure the sled database directory `db_dir` holds a whole settings file before sled opens
/// it: writes one when there is none (creating `db_dir`, mode 0700, if needed) and replaces a torn
/// one. A whole file is left alone, also with other settings (sled then judges them).
pub fn prepare(db_dir: &Path) -> io::Result<ConfigState> {
    let _ = fs::remove_file(db_dir.join(CONF_PARTIAL));
    let state = match fs::read(db_dir.join(CONF)) {
        Ok(bytes) if is_whole(&bytes) => return Ok(ConfigState::Kept),
        Ok(_) => ConfigState::Repaired,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            create_private_dir(db_dir)?;
            ConfigState::Created
        }
        Err(e) => return Err(e),
    };
    write_atomically(db_dir, &settings_file())?;
    Ok(state)
}

fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Writes `bytes` as `db_dir/conf`: a new file, synced, renamed into place, the rename synced.
fn write_atomically(db_dir: &Path, bytes: &[u8]) -> io::Result<()> {
    let partial = db_dir.join(CONF_PARTIAL);
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(&partial)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    fs::rename(&partial, db_dir.join(CONF))?;
    fs::File::open(db_dir)?.sync_all()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_settings_are_those_sled_writes() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path()).unwrap();
        drop(db);
        assert_eq!(fs::read(dir.path().join(CONF)).unwrap(), settings_file());
        assert_eq!(prepare(dir.path()).unwrap(), ConfigState::Kept);
    }

    #[test]
    fn a_torn_settings_file_is_replaced_and_sled_opens() {
        let whole = settings_file();
        // torn after the settings (checksum missing), inside the checksum, inside the settings
        for cut in [whole.len() - 4, whole.len() - 2, 30] {
            let dir = tempfile::tempdir().unwrap();
            let db_dir = dir.path().join("db");
            fs::create_dir(&db_dir).unwrap();
            fs::write(db_dir.join(CONF), &whole[..cut]).unwrap();
            assert!(
                sled::open(&db_dir).is_err(),
                "cut at {cut}: sled refuses the torn file by itself"
            );
            assert_eq!(prepare(&db_dir).unwrap(), ConfigState::Repaired);
            assert_eq!(fs::read(db_dir.join(CONF)).unwrap(), whole);
            let db = sled::open(&db_dir).unwrap();
            db.insert(b"k", b"v".to_vec()).unwrap();
        }
    }

    #[test]
    fn a_new_database_gets_a_private_directory_and_settings_file() {
        let dir = tempfile::tempdir().unwrap();
        let db_dir = dir.path().join("new").join("db");
        assert_eq!(prepare(&db_dir).unwrap(), ConfigState::Created);
        assert_eq!(fs::read(db_dir.join(CONF)).unwrap(), settings_file());
        assert!(!db_dir.join(CONF_PARTIAL).exists());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&db_dir), 0o700);
            assert_eq!(mode(&db_dir.join(CONF)), 0o600);
        }
        sled::open(&db_dir).unwrap();
        // a second look keeps the file and removes a partial one an earlier crash left
        fs::write(db_dir.join(CONF_PARTIAL), b"segment_si").unwrap();
        assert_eq!(prepare(&db_dir).unwrap(), ConfigState::Kept);
        assert!(!db_dir.join(CONF_PARTIAL).exists());
    }
}
