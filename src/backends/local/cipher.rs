//! Encryption of stored values: AES-256-GCM with a random 96-bit nonce per write and the encoded
//! sled key as associated data, so a value copied or moved to another key fails to decrypt.
//!
//! Stored format: `[VALUE_FORMAT][12-byte nonce][ciphertext and 16-byte tag]`.

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use rand::RngCore;
use zeroize::Zeroizing;

use super::keyfile::EncryptionKey;

/// First byte of every stored value; bump it if the format ever changes.
pub const VALUE_FORMAT: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// Associated data of the key check value, distinct from every encoded key (those start with
/// the key format byte 1).
const CHECK_AAD: &[u8] = b"\0secrets-broker key check";
const CHECK_PLAINTEXT: &[u8] = b"secrets-broker local store key check v1";

/// Why a stored value could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// Too short, or an unknown format byte: the bytes are not a value we wrote.
    #[error("stored value has an unknown format or is truncated")]
    Malformed,
    /// Authentication failed: a different key, a value moved from another key, or tampering.
    #[error("stored value does not decrypt with this encryption key (wrong key or tampered data)")]
    Authentication,
    /// Decrypted, but not UTF-8 text.
    #[error("stored value is not UTF-8 text")]
    NotUtf8,
}

/// Encryption itself failed (AES-GCM refuses only absurdly long messages).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("AES-256-GCM encryption failed")]
pub struct SealError;

/// The AES-256-GCM cipher of one store.
pub struct Cipher(Aes256Gcm);

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cipher(AES-256-GCM, <key redacted>)")
    }
}

impl Cipher {
    /// A cipher using `key`.
    pub fn new(key: &EncryptionKey) -> Self {
        Self(Aes256Gcm::new(key.bytes().into()))
    }

    /// Encrypts `plaintext` for storage under the encoded key `aad`.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ct = self
            .0
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| SealError)?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
        out.push(VALUE_FORMAT);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// Decrypts a value stored under the encoded key `aad`.
    pub fn open(&self, stored: &[u8], aad: &[u8]) -> Result<Zeroizing<String>, OpenError> {
        if stored.len() < 1 + NONCE_LEN + TAG_LEN || stored[0] != VALUE_FORMAT {
            return Err(OpenError::Malformed);
        }
        let (nonce, ct) = stored[1..].split_at(NONCE_LEN);
        let plain = self
            .0
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad })
            .map_err(|_| OpenError::Authentication)?;
        match String::from_utf8(plain) {
            Ok(s) => Ok(Zeroizing::new(s)),
            Err(e) => {
                drop(Zeroizing::new(e.into_bytes()));
                Err(OpenError::NotUtf8)
            }
        }
    }

    /// The key check value stored beside the data: proves at start-up that the key is right.
    pub fn key_check(&self) -> Result<Vec<u8>, SealError> {
        self.seal(CHECK_PLAINTEXT, CHECK_AAD)
    }

    /// Whether `stored` is a key check value made with this cipher's key.
    pub fn verify_key_check(&self, stored: &[u8]) -> bool {
        self.open(stored, CHECK_AAD)
            .is_ok_and(|p| p.as_bytes() == CHECK_PLAINTEXT)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn cipher(byte: u8) -> Cipher {
        Cipher::new(&EncryptionKey::from_bytes([byte; 32]))
    }

    #[test]
    fn seal_open_round_trip_with_fresh_nonces() {
        let c = cipher(7);
        let a = c.seal(b"hello", b"k1").unwrap();
        let b = c.seal(b"hello", b"k1").unwrap();
        assert_ne!(a, b, "nonces must differ per write");
        assert_eq!(a.len(), 1 + NONCE_LEN + 5 + TAG_LEN);
        assert!(!a.windows(5).any(|w| w == b"hello"));
        assert_eq!(c.open(&a, b"k1").map(|s| s.to_string()), Ok("hello".into()));
        assert_eq!(
            c.open(&c.seal(b"", b"k").unwrap(), b"k").map(|s| s.len()),
            Ok(0)
        );
    }

    #[test]
    fn other_key_other_aad_and_tampering_fail() {
        let c = cipher(7);
        let sealed = c.seal(b"hello", b"k1").unwrap();
        assert_eq!(c.open(&sealed, b"k2"), Err(OpenError::Authentication));
        assert_eq!(
            cipher(8).open(&sealed, b"k1"),
            Err(OpenError::Authentication)
        );
        let mut flipped = sealed.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert_eq!(c.open(&flipped, b"k1"), Err(OpenError::Authentication));
        assert_eq!(c.open(&sealed[..10], b"k1"), Err(OpenError::Malformed));
        let mut wrong_format = sealed;
        wrong_format[0] = 9;
        assert_eq!(c.open(&wrong_format, b"k1"), Err(OpenError::Malformed));
    }

    #[test]
    fn key_check_detects_wrong_key() {
        let check = cipher(1).key_check().unwrap();
        assert!(cipher(1).verify_key_check(&check));
        assert!(!cipher(2).verify_key_check(&check));
    }
}
