//! The store's 256-bit encryption key: parsed from base64 (setting `encryption_key`), read from a
//! file (setting `encryption_key_file`), or generated on first start into `<data_dir>/broker.key`.
//!
//! A key file must be readable by its owner only (mode 0600 or stricter). The generated one is
//! created atomically with that mode in a 0700 directory: written to a temporary file, fsynced,
//! then linked into place, so a crash never leaves an empty or partial `broker.key` behind (see
//! [`load_or_create`]).

use std::fs;
use std::io::Write;
use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::RngCore;
use zeroize::Zeroizing;

use crate::backends::Error;

/// File name of the generated key inside the data directory.
pub const KEY_FILE_NAME: &str = "broker.key";

/// A 256-bit AES key. Wiped on drop; `Debug` never prints it.
#[derive(Clone)]
pub struct EncryptionKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EncryptionKey(<redacted>)")
    }
}

impl EncryptionKey {
    /// A key from raw bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// A fresh key from the operating system's CSPRNG.
    pub fn generate() -> Self {
        let mut key = Self::from_bytes([0; 32]);
        rand::rngs::OsRng.fill_bytes(&mut *key.0);
        key
    }

    /// Parses standard base64 of exactly 32 bytes (surrounding whitespace ignored). The error
    /// says what is wrong, never the text.
    pub fn from_base64(text: &str) -> Result<Self, String> {
        let bytes = Zeroizing::new(
            STANDARD
                .decode(text.trim())
                .map_err(|_| "is not valid base64 (expected the base64 of 32 random bytes, for example from `openssl rand -base64 32`)".to_string())?,
        );
        let arr: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
            format!(
                "decodes to {} bytes; an AES-256 key is exactly 32 bytes (for example `openssl rand -base64 32`)",
                bytes.len()
            )
        })?;
        Ok(Self::from_bytes(arr))
    }

    /// The key as base64.
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(STANDARD.encode(*self.0))
    }

    /// The raw key bytes.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// Refuses a key file that group or others may read or write.
#[cfg(unix)]
fn check_owner_only(path: &Path, setting: &str) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt;
    let meta = fs::metadata(path).map_err(|e| {
        Error::Config(format!(
            "cannot read key file {} ({setting}): {e}",
            path.display()
        ))
    })?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(Error::PermissionDenied(format!(
            "key file {} ({setting}) has mode {mode:04o}, so group or others can access it; \
             refusing to start. Run `chmod 600 {}` and check who may have read it",
            path.display(),
            path.display()
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_owner_only(_path: &Path, _setting: &str) -> Result<(), Error> {
    Ok(())
}

/// Reads a key file holding base64 of 32 bytes; `setting` names where its path came from.
pub fn read_key_file(path: &Path, setting: &str) -> Result<EncryptionKey, Error> {
    check_owner_only(path, setting)?;
    let text = Zeroizing::new(fs::read_to_string(path).map_err(|e| {
        Error::Config(format!(
            "cannot read key file {} ({setting}): {e}",
            path.display()
        ))
    })?);
    EncryptionKey::from_base64(&text)
        .map_err(|why| Error::Config(format!("key file {} ({setting}) {why}", path.display())))
}

/// Name prefix and suffix of the temporary file a new key is written to before it is linked to
/// `broker.key`.
const TEMP_PREFIX: &str = ".broker.key.";
const TEMP_SUFFIX: &str = ".tmp";
/// Entries of the data directory that are not data: the key, its temporary files, the lock.
const NOT_DATA: &[&str] = &[KEY_FILE_NAME, "broker.lock"];

const GENERATED: &str = "generated key, no encryption_key or encryption_key_file set";

/// The key in `<data_dir>/broker.key`, generating it on first start; returns the key and whether
/// it was just created. Call with the data directory's lock held (`LocalStore::open` does):
/// replacing an invalid key file assumes no other process is doing the same. The directory's own
/// mode is the store's to set (its `restrict_data_dir` runs at open, before this is called).
///
/// - A new key is written to a temporary file (mode 0600) in the directory, fsynced, hard-linked
///   to `broker.key` (which fails if that exists, so of two creators only one wins and the other
///   reads the winner's key), and the directory is fsynced. A crash at any point leaves no
///   `broker.key` or a complete one; a temporary file left by a crash is removed here.
/// - An existing `broker.key` that is empty or holds no valid key (an older version could leave
///   an empty one when it crashed between creating and writing it) is replaced by a new key when
///   the directory holds nothing else (no data was ever written with it), and refused otherwise,
///   with an error naming the file: a new key would make the existing secrets unreadable.
/// - An existing valid key readable by group or others is refused (see [`read_key_file`]).
pub fn load_or_create(data_dir: &Path) -> Result<(EncryptionKey, bool), Error> {
    let path = data_dir.join(KEY_FILE_NAME);
    remove_leftover_temp_files(data_dir);
    // A lost creation race is followed by reading the winner's key.
    for _ in 0..8 {
        let text = match fs::read(&path) {
            Ok(bytes) => Zeroizing::new(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                match write_new_key(data_dir, &path, Placement::IfAbsent)? {
                    Some(key) => return Ok((key, true)),
                    None => continue,
                }
            }
            Err(e) => {
                return Err(Error::Config(format!(
                    "cannot read key file {} ({GENERATED}): {e}",
                    path.display()
                )))
            }
        };
        let parsed = std::str::from_utf8(&text)
            .map_err(|_| "is not text (expected base64 of 32 bytes)".to_string())
            .and_then(|t| {
                if t.trim().is_empty() {
                    Err(format!("is empty ({} bytes)", text.len()))
                } else {
                    EncryptionKey::from_base64(t)
                }
            });
        match parsed {
            Ok(key) => {
                check_owner_only(&path, GENERATED)?;
                return Ok((key, false));
            }
            Err(why) => {
                let data = other_entries(data_dir)?;
                if !data.is_empty() {
                    return Err(Error::Config(format!(
                        "key file {} {why}, and {} holds data ({}) that was written with the \
                         key it should hold; refusing to start rather than generate a new key \
                         that cannot read it. Restore {KEY_FILE_NAME} from a backup, or set \
                         encryption_key or encryption_key_file to the key the data was written \
                         with",
                        path.display(),
                        data_dir.display(),
                        data.join(", ")
                    )));
                }
                tracing::warn!(
                    key_file = %path.display(),
                    "the key file {why} and the data directory holds no data (a first start was \
                     interrupted); generating a new key"
                );
                let key = write_new_key(data_dir, &path, Placement::Replace)?;
                return key.map(|k| (k, true)).ok_or_else(|| {
                    Error::Storage(format!("cannot replace the key file {}", path.display()))
                });
            }
        }
    }
    Err(Error::Storage(format!(
        "key file {} keeps appearing and disappearing; is another process changing {}?",
        path.display(),
        data_dir.display()
    )))
}

/// How a new key file is put in place.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Placement {
    /// Only if no `broker.key` exists (hard link).
    IfAbsent,
    /// Over an existing (invalid) one (rename).
    Replace,
}

/// Writes a fresh key to a temporary file, syncs it and puts it in place. `None` when
/// `IfAbsent` found a `broker.key` created meanwhile.
fn write_new_key(
    data_dir: &Path,
    path: &Path,
    placement: Placement,
) -> Result<Option<EncryptionKey>, Error> {
    let storage = |what: &str, p: &Path, e: std::io::Error| {
        Error::Storage(format!("cannot {what} {}: {e}", p.display()))
    };
    let temp = data_dir.join(format!(
        "{TEMP_PREFIX}{:016x}{TEMP_SUFFIX}",
        rand::random::<u64>()
    ));
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&temp)
        .map_err(|e| storage("create the key file", &temp, e))?;
    let key = EncryptionKey::generate();
    let written = file
        .write_all(key.to_base64().as_bytes())
        .and_then(|()| file.write_all(b"\n"))
        .and_then(|()| file.sync_all());
    drop(file);
    if let Err(e) = written {
        let _ = fs::remove_file(&temp);
        return Err(storage("write the key file", &temp, e));
    }
    let placed = match placement {
        Placement::IfAbsent => fs::hard_link(&temp, path),
        Placement::Replace => fs::rename(&temp, path),
    };
    let _ = fs::remove_file(&temp);
    match placed {
        Ok(()) => {}
        // Another creator won, or removed our temporary file as a leftover: read theirs.
        Err(e)
            if placement == Placement::IfAbsent
                && matches!(
                    e.kind(),
                    std::io::ErrorKind::AlreadyExists | std::io::ErrorKind::NotFound
                ) =>
        {
            return Ok(None)
        }
        Err(e) => return Err(storage("create the key file", path, e)),
    }
    sync_dir(data_dir).map_err(|e| storage("sync the data directory", data_dir, e))?;
    Ok(Some(key))
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> std::io::Result<()> {
    Ok(())
}

/// Whether `name` is that of a temporary key file.
fn is_temp_key_name(name: &str) -> bool {
    name.starts_with(TEMP_PREFIX) && name.ends_with(TEMP_SUFFIX)
}

/// Removes temporary key files left by a crash during key creation. They never became the key,
/// so nothing was encrypted with them.
fn remove_leftover_temp_files(data_dir: &Path) {
    let Ok(entries) = fs::read_dir(data_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if is_temp_key_name(&name) {
            match fs::remove_file(entry.path()) {
                Ok(()) => tracing::info!(
                    file = %entry.path().display(),
                    "removed a temporary key file left by an interrupted start"
                ),
                Err(e) => tracing::warn!(
                    file = %entry.path().display(),
                    error = %e,
                    "cannot remove a temporary key file left by an interrupted start"
                ),
            }
        }
    }
}

/// Names of the data directory's entries other than the key file, its temporary files and the
/// lock file, sorted.
fn other_entries(data_dir: &Path) -> Result<Vec<String>, Error> {
    let entries = fs::read_dir(data_dir).map_err(|e| {
        Error::Storage(format!(
            "cannot list the data directory {}: {e}",
            data_dir.display()
        ))
    })?;
    let mut names: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !NOT_DATA.contains(&n.as_str()) && !is_temp_key_name(n))
        .collect();
    names.sort();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_parsing_names_the_problem_not_the_text() {
        let key = EncryptionKey::generate();
        let parsed = EncryptionKey::from_base64(&format!(" {} \n", *key.to_base64()));
        assert_eq!(parsed.map(|k| *k.bytes()).ok(), Some(*key.bytes()));
        let e = EncryptionKey::from_base64("not base64 s3cr3t!")
            .err()
            .unwrap_or_default();
        assert!(
            e.contains("not valid base64") && !e.contains("s3cr3t"),
            "{e}"
        );
        let e = EncryptionKey::from_base64(&STANDARD.encode([1u8; 16]))
            .err()
            .unwrap_or_default();
        assert!(e.contains("16 bytes"), "{e}");
        assert_eq!(format!("{key:?}"), "EncryptionKey(<redacted>)");
    }

    #[cfg(unix)]
    fn mode(p: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(p)
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or(0)
    }

    fn private_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700)).expect("chmod");
        }
        dir
    }

    #[test]
    fn first_start_creates_a_private_key_then_reads_it() {
        let dir = private_dir();
        let (key, created) = load_or_create(dir.path()).expect("create");
        assert!(created);
        let (again, created) = load_or_create(dir.path()).expect("read");
        assert!(!created);
        assert_eq!(key.bytes(), again.bytes());
        #[cfg(unix)]
        assert_eq!(mode(&dir.path().join(KEY_FILE_NAME)), 0o600);
        // Only the key is left: no temporary file.
        let names: Vec<_> = fs::read_dir(dir.path())
            .expect("ls")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from(KEY_FILE_NAME)]);
    }

    #[test]
    fn an_empty_or_partial_key_without_data_is_replaced_and_leftovers_removed() {
        for content in [&b""[..], b"\n", b"q83vASNFZ4mrze8BI0VniavN7wEjRWeJ"] {
            let dir = private_dir();
            let path = dir.path().join(KEY_FILE_NAME);
            fs::write(&path, content).expect("write");
            let leftover = dir
                .path()
                .join(format!("{TEMP_PREFIX}0123456789abcdef{TEMP_SUFFIX}"));
            fs::write(&leftover, "").expect("write");
            fs::write(dir.path().join("broker.lock"), "").expect("write");
            let (key, created) = load_or_create(dir.path()).expect("replaced");
            assert!(created);
            assert!(!leftover.exists(), "leftover temporary file removed");
            let (again, _) = load_or_create(dir.path()).expect("read");
            assert_eq!(key.bytes(), again.bytes());
            #[cfg(unix)]
            assert_eq!(mode(&path), 0o600);
        }
    }

    #[test]
    fn an_empty_key_beside_data_is_refused_naming_the_file() {
        let dir = private_dir();
        let path = dir.path().join(KEY_FILE_NAME);
        fs::write(&path, "").expect("write");
        fs::create_dir(dir.path().join("db")).expect("mkdir");
        let e = load_or_create(dir.path()).expect_err("refused").to_string();
        assert!(
            e.contains(&path.display().to_string()) && e.contains("is empty") && e.contains("db"),
            "{e}"
        );
        assert_eq!(fs::read(&path).expect("still there"), b"");
    }

    #[test]
    fn concurrent_creators_agree_on_one_key() {
        let dir = private_dir();
        let keys: Vec<[u8; 32]> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| load_or_create(dir.path()).map(|(k, _)| *k.bytes())))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("thread").expect("key"))
                .collect()
        });
        assert!(keys.windows(2).all(|w| w[0] == w[1]), "one key for all");
    }
}
