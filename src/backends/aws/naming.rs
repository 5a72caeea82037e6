//! The secret-name scheme: a reversible, collision-free mapping from Grafana's (org id,
//! namespace, type) to an AWS Secrets Manager name, and the ownership tags we put on each secret.
//!
//! # Names
//!
//! `{prefix}{type}/{namespace}/{org}`, each of type and namespace escaped by [`encode_part`]:
//!
//! - `A-Z a-z 0-9 _ . @ -` stand for themselves;
//! - a space becomes `+`;
//! - every other byte of the UTF-8 text (including `/`, `+`, `=` and all non-ASCII) becomes `=HH`
//!   (two upper-case hex digits).
//!
//! The result uses only AWS's name characters (`A-Za-z0-9/_+=.@-`), never contains `/` inside a
//! part, so the three parts split unambiguously, and decoding is the exact inverse. The org id
//! comes last, zero-padded to at least six digits (`…/000001`), so the last seven characters are
//! always `/` or digits: a name can never end in a hyphen plus six characters, which AWS would
//! confuse with the random suffix of an ARN. Putting type and
//! namespace first lets a list of one (namespace, type) in *all* orgs use a server-side name
//! prefix filter (`{prefix}{type}/{namespace}/`).
//!
//! When that name would exceed AWS's 512 characters (a 255-character non-ASCII namespace encodes
//! to up to 3,060), the name is `{prefix}=H/{sha256 hex of "{type}/{namespace}" encoded}/{org}`.
//! `=H` cannot come out of [`encode_part`] (an escape is always followed by hex digits), so digest
//! names never collide with ordinary ones; the full key is then recovered from the tags.
//!
//! # Tags
//!
//! Every secret we create carries [`TAG_OWNER`] = [`OWNER_VALUE`], [`TAG_INSTANCE`] = the prefix,
//! [`TAG_ORG`], and the escaped namespace and type under [`TAG_NAMESPACE`] and [`TAG_TYPE`]. AWS
//! limits a tag value to 256 characters, so a longer escaped part is split over `…namespace`,
//! `…namespace.1`, `…namespace.2` and so on (at most 12 chunks each, well under AWS's 50 tags).

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use crate::domain::SecretKey;

/// AWS's longest secret name.
pub const MAX_NAME_CHARS: usize = 512;
/// Longest prefix we accept: leaves room for a digest name (`=H/` + 64 + `/` + 19 digits).
pub const MAX_PREFIX_CHARS: usize = MAX_NAME_CHARS - 3 - 64 - 1 - 19;
/// AWS's longest tag value.
pub const MAX_TAG_VALUE_CHARS: usize = 256;

/// Tag key marking a secret as created by this broker.
pub const TAG_OWNER: &str = "grafana-secrets-broker:owner";
/// Value of [`TAG_OWNER`].
pub const OWNER_VALUE: &str = "grafana-secrets-broker";
/// Tag key holding the instance's name prefix.
pub const TAG_INSTANCE: &str = "grafana-secrets-broker:instance";
/// Tag key holding the org id.
pub const TAG_ORG: &str = "grafana-secrets-broker:org";
/// Tag key (first chunk) holding the escaped namespace.
pub const TAG_NAMESPACE: &str = "grafana-secrets-broker:namespace";
/// Tag key (first chunk) holding the escaped type.
pub const TAG_TYPE: &str = "grafana-secrets-broker:type";
/// Tag key set on a rename target: the source name it was copied from.
pub const TAG_RENAMED_FROM: &str = "grafana-secrets-broker:renamed-from";
/// Every tag key we reserve; user-supplied extra tags may not start with this.
pub const RESERVED_TAG_PREFIX: &str = "grafana-secrets-broker:";

const DIGEST_MARK: &str = "=H";

fn is_plain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'@' | b'-')
}

/// Escapes one key part (see the module doc).
pub fn encode_part(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if is_plain(b) {
            out.push(b as char);
        } else if b == b' ' {
            out.push('+');
        } else {
            out.push('=');
            out.push_str(&format!("{b:02X}"));
        }
    }
    out
}

/// Inverse of [`encode_part`]; `None` for text [`encode_part`] cannot produce.
pub fn decode_part(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'=' => {
                let hex = bytes.get(i + 1..i + 3)?;
                if !hex.iter().all(|c| matches!(c, b'0'..=b'9' | b'A'..=b'F')) {
                    return None;
                }
                let v = u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
                if is_plain(v) || v == b' ' {
                    return None; // not canonical: encode_part never escapes these
                }
                out.push(v);
                i += 2;
            }
            b if is_plain(b) => out.push(b),
            _ => return None,
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Whether `prefix` is usable: AWS name characters only and short enough.
pub fn check_prefix(prefix: &str) -> Result<(), String> {
    if prefix.chars().count() > MAX_PREFIX_CHARS {
        return Err(format!("is longer than {MAX_PREFIX_CHARS} characters"));
    }
    if let Some(c) = prefix
        .chars()
        .find(|c| !(c.is_ascii() && (is_plain(*c as u8) || matches!(c, '/' | '+' | '='))))
    {
        return Err(format!(
            "contains {c:?}; AWS secret names allow only A-Z a-z 0-9 and / _ + = . @ -"
        ));
    }
    Ok(())
}

/// Maps keys to names for one instance prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Naming {
    prefix: String,
}

/// What a name says about its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// An ordinary name: the key itself.
    Key(SecretKey),
    /// A digest name: the org and the digest; the key must be read from the tags.
    Digest {
        /// Org id from the name.
        org_id: i64,
        /// Hex digest from the name.
        digest: String,
    },
}

impl Naming {
    /// A naming scheme under `prefix` (checked with [`check_prefix`] by the config).
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }

    /// The instance prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn group(&self, namespace: &str, kind: &str) -> String {
        let (t, n) = (encode_part(kind), encode_part(namespace));
        // The longest org id (i64::MAX) has 19 digits.
        if self.prefix.len() + t.len() + n.len() + 2 + 19 <= MAX_NAME_CHARS {
            format!("{}{t}/{n}/", self.prefix)
        } else {
            let digest = hex::encode(Sha256::digest(format!("{t}/{n}").as_bytes()));
            format!("{}{DIGEST_MARK}/{digest}/", self.prefix)
        }
    }

    /// The secret name of `key`.
    pub fn name(&self, key: &SecretKey) -> String {
        format!(
            "{}{:06}",
            self.group(key.namespace(), key.kind()),
            key.org_id()
        )
    }

    /// The name prefix shared by (namespace, type) in every org, for a server-side filter.
    /// Names that start with it may still belong to a longer namespace: parse each.
    pub fn group_prefix(&self, namespace: &str, kind: &str) -> String {
        self.group(namespace, kind)
    }

    /// Parses a name of this instance; `None` when it is not one we could have produced.
    pub fn parse(&self, name: &str) -> Option<Parsed> {
        let rest = name.strip_prefix(&self.prefix)?;
        let mut parts = rest.split('/');
        let (a, b, org) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || org.is_empty() || !org.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let org_id: i64 = org.parse().ok()?;
        if format!("{org_id:06}") != org {
            return None; // only the canonical padding
        }
        if a == DIGEST_MARK {
            if b.len() != 64 || !b.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
                return None;
            }
            return Some(Parsed::Digest {
                org_id,
                digest: b.to_string(),
            });
        }
        let key = SecretKey::new(org_id, decode_part(b)?, decode_part(a)?).ok()?;
        // Only the canonical (shortest, non-digest) form counts.
        (self.name(&key) == name).then_some(Parsed::Key(key))
    }

    /// The ownership tags of `key`, in order.
    pub fn tags(&self, key: &SecretKey) -> Vec<(String, String)> {
        let mut tags = vec![
            (TAG_OWNER.to_string(), OWNER_VALUE.to_string()),
            (TAG_INSTANCE.to_string(), self.prefix.clone()),
            (TAG_ORG.to_string(), key.org_id().to_string()),
        ];
        push_chunks(&mut tags, TAG_NAMESPACE, &encode_part(key.namespace()));
        push_chunks(&mut tags, TAG_TYPE, &encode_part(key.kind()));
        tags
    }

    /// Whether `tags` mark the secret as ours (owner marker and this instance's prefix).
    pub fn is_owned(&self, tags: &HashMap<String, String>) -> bool {
        tags.get(TAG_OWNER).map(String::as_str) == Some(OWNER_VALUE)
            && tags.get(TAG_INSTANCE).map(String::as_str) == Some(self.prefix.as_str())
    }

    /// The key of an owned secret named `name` with `tags`: from the name, or for a digest name
    /// from the tags (checked against the digest). `None` when the name is not ours.
    pub fn key_of(&self, name: &str, tags: &HashMap<String, String>) -> Option<SecretKey> {
        match self.parse(name)? {
            Parsed::Key(key) => Some(key),
            Parsed::Digest { org_id, .. } => {
                let ns = decode_part(&join_chunks(tags, TAG_NAMESPACE)?)?;
                let kind = decode_part(&join_chunks(tags, TAG_TYPE)?)?;
                let key = SecretKey::new(org_id, ns, kind).ok()?;
                (self.name(&key) == name).then_some(key)
            }
        }
    }
}

fn chunk_key(base: &str, i: usize) -> String {
    if i == 0 {
        base.to_string()
    } else {
        format!("{base}.{i}")
    }
}

fn push_chunks(tags: &mut Vec<(String, String)>, base: &str, value: &str) {
    // Escaped text is ASCII, so byte chunks are character chunks.
    let bytes = value.as_bytes();
    for (i, chunk) in bytes.chunks(MAX_TAG_VALUE_CHARS).enumerate() {
        let text = String::from_utf8_lossy(chunk).into_owned();
        tags.push((chunk_key(base, i), text));
    }
}

fn join_chunks(tags: &HashMap<String, String>, base: &str) -> Option<String> {
    let mut out = tags.get(base)?.clone();
    for i in 1.. {
        match tags.get(&chunk_key(base, i)) {
            Some(v) => out.push_str(v),
            None => break,
        }
    }
    Some(out)
}

/// Whether `name` satisfies AWS's rules for secret names.
pub fn is_valid_aws_name(name: &str) -> bool {
    let ok_chars = name
        .bytes()
        .all(|b| is_plain(b) || matches!(b, b'/' | b'+' | b'='));
    let n = name.len();
    let arn_like = n >= 7 && name.as_bytes()[n - 7] == b'-';
    !name.is_empty() && n <= MAX_NAME_CHARS && ok_chars && !arn_like
}

#[cfg(test)]
#[path = "naming_tests.rs"]
mod tests;
