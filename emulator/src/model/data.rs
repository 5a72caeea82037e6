//! Secret values and their digests: the value kinds (string, binary), their storage encoding, and
//! the SHA-256 digest a version keeps instead of its value.

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// A secret value: text or bytes. Its Debug output shows only the kind and length.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretData {
    /// `SecretString`.
    String(String),
    /// `SecretBinary` (raw bytes; base64 only on the wire).
    Binary(Vec<u8>),
}

impl std::fmt::Debug for SecretData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretData::String(s) => write!(f, "SecretString(<{} bytes>)", s.len()),
            SecretData::Binary(b) => write!(f, "SecretBinary(<{} bytes>)", b.len()),
        }
    }
}

impl SecretData {
    /// A digest identifying the value and its kind (string vs binary), for idempotency checks.
    pub fn digest(&self) -> Digest {
        let mut h = Sha256::new();
        match self {
            SecretData::String(s) => {
                h.update(b"S");
                h.update(s.as_bytes());
            }
            SecretData::Binary(b) => {
                h.update(b"B");
                h.update(b);
            }
        }
        Digest(h.finalize().into())
    }
    /// Storage encoding: one kind byte then the raw bytes.
    pub fn encode(&self) -> Vec<u8> {
        let (k, b) = match self {
            SecretData::String(s) => (b'S', s.as_bytes()),
            SecretData::Binary(b) => (b'B', b.as_slice()),
        };
        let mut out = Vec::with_capacity(b.len() + 1);
        out.push(k);
        out.extend_from_slice(b);
        out
    }
    /// Inverse of [`SecretData::encode`].
    pub fn decode(raw: &[u8]) -> Option<SecretData> {
        let (k, rest) = raw.split_first()?;
        match k {
            b'S' => String::from_utf8(rest.to_vec())
                .ok()
                .map(SecretData::String),
            b'B' => Some(SecretData::Binary(rest.to_vec())),
            _ => None,
        }
    }
}

/// SHA-256 of a value and its kind, kept as 32 bytes in memory (a version record is held in memory
/// for every version of every secret) and stored as 64 hex characters, as before.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Digest([u8; 32]);

impl std::fmt::Debug for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Digest({})", hex::encode(self.0))
    }
}

impl Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(self.0))
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(d)?;
        let mut out = [0u8; 32];
        hex::decode_to_slice(text.as_bytes(), &mut out)
            .map_err(|_| serde::de::Error::custom("a digest must be 64 hex characters"))?;
        Ok(Digest(out))
    }
}
