//! The binary encoding of a [`SecretKey`] as a sled key: order-preserving and unambiguous.
//!
//! Layout: a format byte ([`KEY_FORMAT`]), the namespace, the type, then the org id:
//!
//! - each string is its UTF-8 bytes with every `0x00` written as `0x00 0xFF`, followed by the
//!   terminator `0x00 0x01`, so no string's encoding is a prefix of another's and byte order of
//!   encodings equals byte order of the strings;
//! - the org id is 8 bytes big-endian with the sign bit flipped, so numeric order is byte order.
//!
//! Namespace and type come first because both list shapes then become a prefix scan:
//! `list` with an org is the one exact key, and `list` over all organizations is the prefix
//! `format, namespace, type` (see [`list_prefix`]). Keys are not secret; values never appear here.

use crate::domain::SecretKey;

/// First byte of every encoded key; bump it if the layout ever changes.
pub const KEY_FORMAT: u8 = 1;

const ESCAPE: u8 = 0x00;
const ESCAPED_NUL: u8 = 0xFF;
const TERMINATOR: u8 = 0x01;
const SIGN: u64 = 1 << 63;

/// Why bytes read from the store are not an encoded key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The first byte is not [`KEY_FORMAT`].
    #[error("unknown key format byte {0:#04x}")]
    UnknownFormat(u8),
    /// The bytes ended before the key was complete.
    #[error("truncated key")]
    Truncated,
    /// An escape byte was followed by something other than `0xFF` or the terminator.
    #[error("invalid escape sequence")]
    BadEscape,
    /// A string was not valid UTF-8.
    #[error("key part is not UTF-8")]
    NotUtf8,
    /// Bytes followed the org id.
    #[error("trailing bytes after the key")]
    Trailing,
    /// The decoded parts do not form a valid key.
    #[error("invalid key: {0}")]
    Invalid(#[from] crate::domain::InvalidInput),
}

fn push_str(out: &mut Vec<u8>, s: &str) {
    for &b in s.as_bytes() {
        if b == ESCAPE {
            out.extend_from_slice(&[ESCAPE, ESCAPED_NUL]);
        } else {
            out.push(b);
        }
    }
    out.extend_from_slice(&[ESCAPE, TERMINATOR]);
}

fn org_bytes(org_id: i64) -> [u8; 8] {
    ((org_id as u64) ^ SIGN).to_be_bytes()
}

/// The sled key of `key`.
pub fn encode(key: &SecretKey) -> Vec<u8> {
    let mut out = list_prefix(key.namespace(), key.kind());
    out.extend_from_slice(&org_bytes(key.org_id()));
    out
}

/// The prefix shared by every org's key with this namespace and type.
pub fn list_prefix(namespace: &str, kind: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(namespace.len() + kind.len() + 13);
    out.push(KEY_FORMAT);
    push_str(&mut out, namespace);
    push_str(&mut out, kind);
    out
}

fn take_str(bytes: &[u8]) -> Result<(String, &[u8]), DecodeError> {
    let mut raw = Vec::new();
    let mut i = 0;
    loop {
        match bytes.get(i) {
            None => return Err(DecodeError::Truncated),
            Some(&ESCAPE) => match bytes.get(i + 1) {
                Some(&ESCAPED_NUL) => raw.push(ESCAPE),
                Some(&TERMINATOR) => break,
                Some(_) => return Err(DecodeError::BadEscape),
                None => return Err(DecodeError::Truncated),
            },
            Some(&b) => {
                raw.push(b);
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    let s = String::from_utf8(raw).map_err(|_| DecodeError::NotUtf8)?;
    Ok((s, &bytes[i + 2..]))
}

/// The key encoded in `bytes`, validated like [`SecretKey::new`].
pub fn decode(bytes: &[u8]) -> Result<SecretKey, DecodeError> {
    let (&format, rest) = bytes.split_first().ok_or(DecodeError::Truncated)?;
    if format != KEY_FORMAT {
        return Err(DecodeError::UnknownFormat(format));
    }
    let (namespace, rest) = take_str(rest)?;
    let (kind, rest) = take_str(rest)?;
    let org: [u8; 8] = rest
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .ok_or(DecodeError::Truncated)?;
    if rest.len() > 8 {
        return Err(DecodeError::Trailing);
    }
    let org_id = (u64::from_be_bytes(org) ^ SIGN) as i64;
    Ok(SecretKey::new(org_id, namespace, kind)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(org: i64, ns: &str, kind: &str) -> SecretKey {
        SecretKey::new(org, ns, kind).expect("valid test key")
    }

    #[test]
    fn round_trips() {
        for key in [
            k(0, "a", "b"),
            k(1, "my db/🔑 prod", "datasource"),
            k(i64::MAX, "ünï", "tÿpe/x"),
            k(42, "x~", "y"),
            k(7, "ÿÿ", "\u{FFFF}"),
        ] {
            let enc = encode(&key);
            assert_eq!(decode(&enc), Ok(key.clone()), "{key}");
            assert!(enc.starts_with(&list_prefix(key.namespace(), key.kind())));
        }
    }

    #[test]
    fn order_matches_namespace_type_org() {
        let mut keys = vec![
            k(2, "a", "t"),
            k(1, "a", "t"),
            k(1, "a", "u"),
            k(1, "a", "tt"),
            k(1, "ab", "t"),
            k(0, "b", "t"),
            k(300, "a", "t"),
            k(1, "a b", "t"),
            k(1, "é", "t"),
            k(1, "A", "t"),
        ];
        let mut by_bytes = keys.clone();
        by_bytes.sort_by_key(encode);
        keys.sort_by(|x, y| {
            (x.namespace().as_bytes(), x.kind().as_bytes(), x.org_id()).cmp(&(
                y.namespace().as_bytes(),
                y.kind().as_bytes(),
                y.org_id(),
            ))
        });
        assert_eq!(by_bytes, keys);
    }

    #[test]
    fn org_bytes_preserve_numeric_order_including_negatives() {
        let orgs = [i64::MIN, -1, 0, 1, 255, 256, i64::MAX];
        for w in orgs.windows(2) {
            assert!(org_bytes(w[0]) < org_bytes(w[1]), "{} < {}", w[0], w[1]);
        }
    }

    #[test]
    fn no_ambiguity_between_splits() {
        // The same concatenated text split differently must give different encodings, and no
        // namespace/type pair's prefix may be a prefix of another pair's.
        let a = encode(&k(1, "ab", "c"));
        let b = encode(&k(1, "a", "bc"));
        assert_ne!(a, b);
        let p1 = list_prefix("a", "b");
        let p2 = list_prefix("a", "bc");
        let p3 = list_prefix("ab", "c");
        assert!(!p2.starts_with(&p1) && !p3.starts_with(&p1) && !p1.starts_with(&p2));
        assert!(!encode(&k(1, "a", "bc")).starts_with(&p1));
    }

    #[test]
    fn nul_bytes_are_escaped_unambiguously() {
        // Validated keys cannot hold NUL, but the encoding must still be injective.
        let mut with_nul = Vec::new();
        push_str(&mut with_nul, "a\0b");
        let mut plain = Vec::new();
        push_str(&mut plain, "a");
        assert!(!with_nul.starts_with(&plain));
        assert_eq!(take_str(&with_nul).map(|(s, _)| s), Ok("a\0b".into()));
    }

    #[test]
    fn garbage_is_rejected_not_panicking() {
        assert_eq!(decode(&[]), Err(DecodeError::Truncated));
        assert_eq!(decode(&[9, b'a']), Err(DecodeError::UnknownFormat(9)));
        assert_eq!(decode(&[1, b'a', 0]), Err(DecodeError::Truncated));
        assert_eq!(decode(&[1, b'a', 0, 7]), Err(DecodeError::BadEscape));
        let mut enc = encode(&k(1, "a", "b"));
        enc.push(0);
        assert_eq!(decode(&enc), Err(DecodeError::Trailing));
        let enc = encode(&k(1, "a", "b"));
        assert_eq!(decode(&enc[..enc.len() - 1]), Err(DecodeError::Truncated));
        let mut neg = list_prefix("a", "b");
        neg.extend_from_slice(&org_bytes(-5));
        assert!(matches!(decode(&neg), Err(DecodeError::Invalid(_))));
        assert_eq!(
            decode(&[1, 0xC3, 0, 1, b'b', 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]),
            Err(DecodeError::NotUtf8)
        );
    }
}
