//! The store's 256-bit encryption key: parsed from base64 (setting `encryption_key`), read from a
//! file (setting `encryption_key_file`), or generated on first start into `<data_dir>/broker.key`.
//!
//! A key file must be readable by its owner only (mode 0600 or stricter); the generated one is
//! created with that mode in the same `open` call, so it is never readable by others, not even
//! briefly.

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

/// The key in `<data_dir>/broker.key`, generating it (mode 0600, fsynced) on first start.
/// Returns the key and whether it was just created.
pub fn load_or_create(data_dir: &Path) -> Result<(EncryptionKey, bool), Error> {
    let path = data_dir.join(KEY_FILE_NAME);
    let setting = "generated key, no encryption_key or encryption_key_file set";
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(&path) {
        Ok(mut file) => {
            let key = EncryptionKey::generate();
            let write = |file: &mut fs::File| -> std::io::Result<()> {
                file.write_all(key.to_base64().as_bytes())?;
                file.write_all(b"\n")?;
                file.sync_all()?;
                fs::File::open(data_dir)?.sync_all()
            };
            if let Err(e) = write(&mut file) {
                // Leave no half-written key behind to be mistaken for the real one next start.
                let _ = fs::remove_file(&path);
                return Err(Error::Storage(format!(
                    "cannot write the generated key file {}: {e}",
                    path.display()
                )));
            }
            Ok((key, true))
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Ok((read_key_file(&path, setting)?, false))
        }
        Err(e) => Err(Error::Storage(format!(
            "cannot create the key file {}: {e}",
            path.display()
        ))),
    }
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
}
