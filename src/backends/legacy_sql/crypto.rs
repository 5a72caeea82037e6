//! Grafana's encryption format, byte for byte: PBKDF2 key derivation, the `*alg*` marker, aes-cfb
//! and aes-gcm payloads, the `#keyId#` envelope prefix, Grafana's salt alphabet and the base64
//! flavours it writes.
//!
//! Layout (see `pkg/services/encryption` and `pkg/services/secrets/manager` in Grafana):
//! - inner blob: optional `'*' + b64raw(algorithm) + '*'`, then `salt(8)`, then for aes-cfb
//!   `iv(16) | ciphertext` and for aes-gcm `nonce(12) | ciphertext | tag(16)`. The AES-256 key is
//!   PBKDF2-HMAC-SHA256(password, salt, 10,000 rounds, 32 bytes).
//! - envelope: `'#' + b64raw(dataKeyId) + '#'` then an inner blob encrypted with the raw data key;
//!   a blob without the leading `#` is pre-envelope and encrypted directly with the secret_key.

use aes_gcm::aead::{Aead, KeyInit};
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use cfb_mode::cipher::{AsyncStreamCipher, KeyIvInit};
use rand::rngs::OsRng;
use rand::RngCore;
use zeroize::Zeroizing;

/// Salt length in bytes (Grafana's `encryption.SaltLength`).
pub const SALT_LEN: usize = 8;
/// AES block size, the CFB IV length.
pub const IV_LEN: usize = 16;
/// AES-GCM nonce length.
pub const NONCE_LEN: usize = 12;
/// AES-GCM tag length.
pub const TAG_LEN: usize = 16;
/// PBKDF2 rounds (Grafana's `encryption.KeyToBytes`).
pub const PBKDF2_ROUNDS: u32 = 10_000;
/// Algorithm name Grafana writes for aes-cfb.
pub const AES_CFB: &str = "aes-cfb";
/// Algorithm name Grafana writes for aes-gcm.
pub const AES_GCM: &str = "aes-gcm";
/// The alphabet of Grafana's `util.GetRandomString` (used for salts).
pub const SALT_ALPHABET: &[u8; 62] =
    b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Why a blob could not be decrypted. Never contains plaintext or key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// The blob is shorter than its header says it must be.
    #[error("the encrypted value is truncated ({0} bytes)")]
    Truncated(usize),
    /// The `*alg*` marker names an algorithm Grafana does not have.
    #[error("unknown encryption algorithm {0:?}")]
    UnknownAlgorithm(String),
    /// A base64 part (marker, key id or value) is not valid base64.
    #[error("the {0} is not valid base64")]
    Base64(&'static str),
    /// The `#keyId#` prefix has no closing `#`.
    #[error("the envelope has no closing '#' after the data key id")]
    Envelope,
    /// AES-GCM authentication failed: wrong key or altered data.
    #[error("aes-gcm authentication failed (wrong key or altered data)")]
    Authentication,
}

/// Standard alphabet, written without padding, read with or without it (`secrets.value`,
/// markers and key ids; Grafana's `base64.RawStdEncoding`).
pub const B64_RAW: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Standard alphabet, written with padding, read with or without it (`secure_json_data`
/// entries; Go's JSON encoding of `[]byte`).
pub const B64_PADDED: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// PBKDF2 rounds as a non-zero count.
const ROUNDS: std::num::NonZeroU32 = match std::num::NonZeroU32::new(PBKDF2_ROUNDS) {
    Some(n) => n,
    None => panic!("PBKDF2_ROUNDS is not zero"),
};

/// PBKDF2-HMAC-SHA256(password, salt, 10,000, 32): the AES-256 key for one value.
pub fn derive_key(password: &[u8], salt: &[u8]) -> Zeroizing<[u8; 32]> {
    broker_kdf::derive(password, salt, ROUNDS)
}

/// A fresh salt as Grafana makes it: 8 characters drawn uniformly from [`SALT_ALPHABET`]
/// (bytes ≥ 248 are rejected so that every character is equally likely, as Grafana does).
pub fn random_salt() -> [u8; SALT_LEN] {
    let limit = (255 / SALT_ALPHABET.len() * SALT_ALPHABET.len()) as u8;
    let mut out = [0u8; SALT_LEN];
    let mut filled = 0;
    let mut buf = [0u8; 16];
    while filled < SALT_LEN {
        OsRng.fill_bytes(&mut buf);
        for &b in &buf {
            if filled == SALT_LEN {
                break;
            }
            if b < limit {
                out[filled] = SALT_ALPHABET[usize::from(b) % SALT_ALPHABET.len()];
                filled += 1;
            }
        }
    }
    out
}

/// Encrypts like current OSS Grafana: `*YWVzLWNmYg*` + salt + random IV + AES-256-CFB.
pub fn encrypt_cfb(payload: &[u8], password: &[u8]) -> Vec<u8> {
    let mut iv = [0u8; IV_LEN];
    OsRng.fill_bytes(&mut iv);
    encrypt_cfb_with(payload, password, &random_salt(), &iv)
}

/// [`encrypt_cfb`] with a given salt and IV (deterministic; used to check stored bytes).
pub fn encrypt_cfb_with(
    payload: &[u8],
    password: &[u8],
    salt: &[u8; SALT_LEN],
    iv: &[u8; IV_LEN],
) -> Vec<u8> {
    let key = derive_key(password, salt);
    let mut out = algorithm_marker(AES_CFB);
    out.extend_from_slice(salt);
    out.extend_from_slice(iv);
    let start = out.len();
    out.extend_from_slice(payload);
    cfb_mode::Encryptor::<aes::Aes256>::new(key.as_ref().into(), iv.into())
        .encrypt(&mut out[start..]);
    out
}

/// `'*' + b64raw(name) + '*'`.
pub fn algorithm_marker(name: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len() * 2 + 2);
    out.push(b'*');
    out.extend_from_slice(B64_RAW.encode(name).as_bytes());
    out.push(b'*');
    out
}

/// Splits the optional `*alg*` marker off an inner blob, as Grafana's
/// `deriveEncryptionAlgorithm` does: no marker (or no closing `*`, or an empty name) means
/// aes-cfb.
pub fn split_algorithm(blob: &[u8]) -> Result<(&'static str, &[u8]), CryptoError> {
    let Some(rest) = blob.strip_prefix(b"*") else {
        return Ok((AES_CFB, blob));
    };
    let Some(end) = rest.iter().position(|&b| b == b'*') else {
        return Ok((AES_CFB, rest));
    };
    let name = B64_RAW
        .decode(&rest[..end])
        .map_err(|_| CryptoError::Base64("algorithm marker"))?;
    let payload = &rest[end + 1..];
    match name.as_slice() {
        b"" | b"aes-cfb" => Ok((AES_CFB, payload)),
        b"aes-gcm" => Ok((AES_GCM, payload)),
        other => Err(CryptoError::UnknownAlgorithm(
            String::from_utf8_lossy(other).chars().take(40).collect(),
        )),
    }
}

/// Decrypts an inner blob (with or without its `*alg*` marker) with `password`.
pub fn decrypt(blob: &[u8], password: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let (algorithm, payload) = split_algorithm(blob)?;
    decrypt_as(algorithm, payload, password)
}

/// Decrypts a payload without marker (`salt | …`) with the named algorithm.
pub fn decrypt_as(
    algorithm: &str,
    payload: &[u8],
    password: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let sealed = Sealed::new(algorithm, payload)?;
    sealed.open(&derive_key(password, sealed.salt))
}

/// Decrypts many inner blobs, each with its own password, in order. The PBKDF2s run several at
/// a time ([`broker_kdf::derive_many`]), so this is the bulk path: call it once per core.
pub fn decrypt_many(jobs: &[(&[u8], &[u8])]) -> Vec<Result<Zeroizing<Vec<u8>>, CryptoError>> {
    let sealed: Vec<Result<Sealed<'_>, CryptoError>> = jobs
        .iter()
        .map(|(blob, _)| split_algorithm(blob).and_then(|(alg, payload)| Sealed::new(alg, payload)))
        .collect();
    let inputs: Vec<(&[u8], &[u8])> = sealed
        .iter()
        .zip(jobs)
        .filter_map(|(s, (_, pw))| s.as_ref().ok().map(|s| (*pw, s.salt)))
        .collect();
    let mut keys = broker_kdf::derive_many(&inputs, ROUNDS).into_iter();
    sealed
        .into_iter()
        .map(|s| {
            let s = s?;
            let key = keys.next().ok_or(CryptoError::Truncated(0))?;
            s.open(&key)
        })
        .collect()
}

/// A payload split into its salt and the rest, length-checked for its algorithm: everything
/// but the key.
#[derive(Debug, Clone, Copy)]
struct Sealed<'a> {
    gcm: bool,
    salt: &'a [u8],
    /// IV or nonce, then the ciphertext (and the GCM tag).
    body: &'a [u8],
}

impl<'a> Sealed<'a> {
    fn new(algorithm: &str, payload: &'a [u8]) -> Result<Self, CryptoError> {
        let gcm = algorithm == AES_GCM;
        let min = if gcm {
            SALT_LEN + NONCE_LEN + TAG_LEN
        } else {
            SALT_LEN + IV_LEN
        };
        if payload.len() < min {
            return Err(CryptoError::Truncated(payload.len()));
        }
        Ok(Self {
            gcm,
            salt: &payload[..SALT_LEN],
            body: &payload[SALT_LEN..],
        })
    }

    fn open(&self, key: &[u8; 32]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if self.gcm {
            let (nonce, sealed) = self.body.split_at(NONCE_LEN);
            return aes_gcm::Aes256Gcm::new(key.into())
                .decrypt(nonce.into(), sealed)
                .map(Zeroizing::new)
                .map_err(|_| CryptoError::Authentication);
        }
        let (iv, ciphertext) = self.body.split_at(IV_LEN);
        let mut out = Zeroizing::new(ciphertext.to_vec());
        cfb_mode::Decryptor::<aes::Aes256>::new(key.into(), iv.into()).decrypt(&mut out);
        Ok(out)
    }
}

/// What an outer blob is encrypted with.
#[derive(Debug, PartialEq, Eq)]
pub enum Envelope<'a> {
    /// `#id#` prefix: `payload` is encrypted with the data key `id`.
    DataKey {
        /// The data key's id (`data_keys.name`).
        id: String,
        /// The inner blob.
        payload: &'a [u8],
    },
    /// No prefix: pre-envelope value encrypted directly with the secret_key.
    SecretKey(&'a [u8]),
}

/// Reads the `#b64(id)#` prefix of an outer blob.
pub fn split_envelope(blob: &[u8]) -> Result<Envelope<'_>, CryptoError> {
    let Some(rest) = blob.strip_prefix(b"#") else {
        return Ok(Envelope::SecretKey(blob));
    };
    let end = rest
        .iter()
        .position(|&b| b == b'#')
        .ok_or(CryptoError::Envelope)?;
    let id = B64_RAW
        .decode(&rest[..end])
        .map_err(|_| CryptoError::Base64("data key id"))?;
    let id = String::from_utf8(id).map_err(|_| CryptoError::Base64("data key id"))?;
    Ok(Envelope::DataKey {
        id,
        payload: &rest[end + 1..],
    })
}

/// `'#' + b64raw(id) + '#' + inner`.
pub fn wrap_envelope(id: &str, inner: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(inner.len() + id.len() * 2 + 2);
    out.push(b'#');
    out.extend_from_slice(B64_RAW.encode(id).as_bytes());
    out.push(b'#');
    out.extend_from_slice(inner);
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn decrypt_many_matches_one_at_a_time() {
        // Eleven blobs (two full groups of interleaved lanes and a remainder), each under its
        // own password, with a truncated and an unknown-algorithm blob among them.
        let passwords: Vec<Vec<u8>> = (0..11).map(|i| format!("pw-{i}").into_bytes()).collect();
        let mut blobs: Vec<Vec<u8>> = passwords
            .iter()
            .enumerate()
            .map(|(i, pw)| encrypt_cfb(format!("value {i}").as_bytes(), pw))
            .collect();
        blobs[3].truncate(15);
        blobs[8] = [
            algorithm_marker("rot13"),
            b"saltsaltxxxxxxxxxxxxxxxx".to_vec(),
        ]
        .concat();
        let jobs: Vec<(&[u8], &[u8])> = blobs
            .iter()
            .zip(&passwords)
            .map(|(b, p)| (b.as_slice(), p.as_slice()))
            .collect();
        let many = decrypt_many(&jobs);
        assert_eq!(many.len(), jobs.len());
        for ((blob, pw), got) in jobs.iter().zip(many) {
            assert_eq!(got, decrypt(blob, pw));
        }
        assert!(matches!(
            decrypt(&blobs[3], &passwords[3]),
            Err(CryptoError::Truncated(_))
        ));
        assert_eq!(
            decrypt(&blobs[5], &passwords[5]).unwrap().as_slice(),
            b"value 5"
        );
    }

    #[test]
    fn cfb_round_trip_and_layout() {
        let blob = encrypt_cfb(b"hello grafana", b"pw");
        assert!(blob.starts_with(b"*YWVzLWNmYg*"));
        assert_eq!(blob.len(), 12 + SALT_LEN + IV_LEN + 13);
        let salt = &blob[12..20];
        assert!(salt.iter().all(|b| SALT_ALPHABET.contains(b)));
        assert_eq!(decrypt(&blob, b"pw").unwrap().as_slice(), b"hello grafana");
    }

    #[test]
    fn salts_use_the_whole_alphabet() {
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..200 {
            seen.extend(random_salt());
        }
        assert_eq!(seen.len(), SALT_ALPHABET.len());
    }

    #[test]
    fn envelope_and_errors() {
        let blob = wrap_envelope("ddupgsivkv5z4c", b"*YWVzLWNmYg*x");
        assert!(blob.starts_with(b"#ZGR1cGdzaXZrdjV6NGM#"));
        match split_envelope(&blob).unwrap() {
            Envelope::DataKey { id, payload } => {
                assert_eq!(id, "ddupgsivkv5z4c");
                assert_eq!(payload, b"*YWVzLWNmYg*x");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(split_envelope(b"#abc"), Err(CryptoError::Envelope));
        assert_eq!(decrypt(b"short", b"pw"), Err(CryptoError::Truncated(5)));
        assert!(matches!(
            decrypt(b"*Zm9v*12345678", b"pw"),
            Err(CryptoError::UnknownAlgorithm(_))
        ));
    }
}
