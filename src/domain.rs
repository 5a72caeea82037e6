//! Domain types shared by every layer: the secret key, the secret value (never printed) and an item.

use std::fmt;

use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

/// Largest secret value any backend accepts, in bytes of UTF-8.
///
/// 65,536 bytes is AWS Secrets Manager's own limit for `SecretString`; enforcing the same limit on
/// every backend means a secret stored in one backend can always be migrated to any other.
pub const MAX_VALUE_BYTES: usize = 65_536;

/// Longest namespace or type, in characters. Grafana's `secrets` table declares both columns as
/// `varchar(255)`, so a longer one could not round-trip through Grafana's own store.
pub const MAX_KEY_PART_CHARS: usize = 255;

/// Why a key or a value was rejected before reaching any backend.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidInput {
    /// The organization id was negative.
    #[error("organization id {0} is negative; Grafana organization ids are 0 or greater")]
    NegativeOrgId(i64),
    /// A key part was empty.
    #[error("the {0} must not be empty")]
    Empty(&'static str),
    /// A key part was longer than [`MAX_KEY_PART_CHARS`].
    #[error("the {part} is {len} characters long; at most {max} are allowed")]
    TooLong {
        /// "namespace" or "type".
        part: &'static str,
        /// Its length in characters.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A key part contained a control character (such as NUL or a newline).
    #[error("the {0} contains a control character")]
    ControlCharacter(&'static str),
    /// The value was larger than [`MAX_VALUE_BYTES`].
    #[error("the value is {size} bytes; at most {max} bytes are allowed")]
    ValueTooLarge {
        /// Size of the rejected value in bytes.
        size: usize,
        /// The limit.
        max: usize,
    },
}

/// Identifies one secret: Grafana's (org id, namespace, type) triple.
///
/// For data-source secrets Grafana uses the data source's org, its *name* as namespace and
/// `datasource` as type. Construct with [`SecretKey::new`], which validates every part.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SecretKey {
    org_id: i64,
    namespace: String,
    kind: String,
}

impl SecretKey {
    /// Validates and builds a key: org id ≥ 0, namespace and type non-empty, at most
    /// [`MAX_KEY_PART_CHARS`] characters, no control characters. Any other Unicode, spaces and
    /// `/` are allowed.
    pub fn new(
        org_id: i64,
        namespace: impl Into<String>,
        kind: impl Into<String>,
    ) -> Result<Self, InvalidInput> {
        let namespace = namespace.into();
        let kind = kind.into();
        if org_id < 0 {
            return Err(InvalidInput::NegativeOrgId(org_id));
        }
        check_part("namespace", &namespace)?;
        check_part("type", &kind)?;
        Ok(Self {
            org_id,
            namespace,
            kind,
        })
    }

    /// The Grafana organization id.
    pub fn org_id(&self) -> i64 {
        self.org_id
    }

    /// The namespace (for data sources, the data source's name).
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The type (Grafana's `type` column; `datasource` for data sources).
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The same key under another namespace, validated like [`SecretKey::new`].
    pub fn with_namespace(&self, namespace: impl Into<String>) -> Result<Self, InvalidInput> {
        Self::new(self.org_id, namespace, self.kind.clone())
    }
}

fn check_part(part: &'static str, s: &str) -> Result<(), InvalidInput> {
    if s.is_empty() {
        return Err(InvalidInput::Empty(part));
    }
    let len = s.chars().count();
    if len > MAX_KEY_PART_CHARS {
        return Err(InvalidInput::TooLong {
            part,
            len,
            max: MAX_KEY_PART_CHARS,
        });
    }
    if s.chars().any(char::is_control) {
        return Err(InvalidInput::ControlCharacter(part));
    }
    Ok(())
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({self})")
    }
}

/// `org 1, namespace "my-db", type "datasource"`: the form used in every error message.
impl fmt::Display for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "org {}, namespace {:?}, type {:?}",
            self.org_id, self.namespace, self.kind
        )
    }
}

/// A secret value. Its memory is wiped on drop and it has no `Display`; `Debug` prints only the
/// length, so a value cannot reach a log line or an error message by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(Zeroizing<String>);

impl SecretValue {
    /// Wraps a value, rejecting one larger than [`MAX_VALUE_BYTES`]. A rejected value is wiped
    /// (its whole buffer, on drop) like an accepted one.
    pub fn new(value: impl Into<String>) -> Result<Self, InvalidInput> {
        let mut value = Zeroizing::new(value.into());
        check_size(&mut value)?;
        Ok(Self(value))
    }

    /// The plaintext. Call only where the value must leave the process (an RPC answer, an
    /// encryption call, an explicit export).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the value is the empty string (allowed: Grafana may store `{}` or nothing).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// SHA-256 of the value, hex: used to compare values across backends without showing them.
    pub fn digest(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }
}

/// Its only field is a `Zeroizing` buffer, wiped when the value drops.
impl zeroize::ZeroizeOnDrop for SecretValue {}

/// Rejects a value larger than [`MAX_VALUE_BYTES`], overwriting its bytes with zeros first (the
/// caller's `Zeroizing` then also wipes the spare capacity when it drops the buffer).
fn check_size(value: &mut String) -> Result<(), InvalidInput> {
    let size = value.len();
    if size > MAX_VALUE_BYTES {
        value.as_mut_str().zeroize();
        return Err(InvalidInput::ValueTooLarge {
            size,
            max: MAX_VALUE_BYTES,
        });
    }
    Ok(())
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretValue(<redacted, {} bytes>)", self.0.len())
    }
}

/// One stored secret: a key and its value.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Item {
    /// The key.
    pub key: SecretKey,
    /// The value.
    pub value: SecretValue,
}

/// A validated rename: a source key and its target, the same org and type under another
/// namespace (validated like any key). Built once where the request arrives; backends take it as
/// it is.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Rename {
    source: SecretKey,
    target: SecretKey,
}

impl Rename {
    /// The rename of `source` to `new_namespace` (same org and type); rejects an invalid
    /// namespace.
    pub fn new(source: SecretKey, new_namespace: impl Into<String>) -> Result<Self, InvalidInput> {
        let target = source.with_namespace(new_namespace)?;
        Ok(Self { source, target })
    }

    /// The key moved from.
    pub fn source(&self) -> &SecretKey {
        &self.source
    }

    /// The key moved to.
    pub fn target(&self) -> &SecretKey {
        &self.target
    }

    /// Whether source and target are the same key (a rename to the same namespace).
    pub fn is_noop(&self) -> bool {
        self.source == self.target
    }
}

/// Which keys a list call returns: exact namespace and type, in one org or in all of them.
/// Validated when built ([`ListFilter::new`]), so a backend never sees a bad one.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ListFilter {
    org_id: Option<i64>,
    namespace: String,
    kind: String,
}

impl ListFilter {
    /// Keys in org `org_id` (every org when `None`, Grafana's `allOrganizations`) with exactly
    /// this namespace and type, which are validated like [`SecretKey::new`]'s (an org id is
    /// checked only when given).
    pub fn new(
        org_id: Option<i64>,
        namespace: impl Into<String>,
        kind: impl Into<String>,
    ) -> Result<Self, InvalidInput> {
        let probe = SecretKey::new(org_id.unwrap_or(0), namespace, kind)?;
        Ok(Self {
            org_id,
            namespace: probe.namespace,
            kind: probe.kind,
        })
    }

    /// Only this org, or every org when `None`.
    pub fn org_id(&self) -> Option<i64> {
        self.org_id
    }

    /// The exact namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The exact type.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The one key this filter can select when it names an org; `None` for all organizations.
    pub fn key(&self) -> Option<SecretKey> {
        self.org_id.map(|org_id| SecretKey {
            org_id,
            namespace: self.namespace.clone(),
            kind: self.kind.clone(),
        })
    }

    /// Whether `key` is selected by this filter.
    pub fn matches(&self, key: &SecretKey) -> bool {
        self.org_id.is_none_or(|o| o == key.org_id())
            && key.namespace() == self.namespace
            && key.kind() == self.kind
    }
}

/// A key as written in checkpoints and reports (serialisable; `kind` is written as `type`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct KeyRecord {
    /// Grafana org id.
    pub org_id: i64,
    /// Namespace.
    pub namespace: String,
    /// Type.
    #[serde(rename = "type")]
    pub kind: String,
}

impl From<&SecretKey> for KeyRecord {
    fn from(k: &SecretKey) -> Self {
        Self {
            org_id: k.org_id(),
            namespace: k.namespace().to_string(),
            kind: k.kind().to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_validation_names_the_problem() {
        assert_eq!(
            SecretKey::new(-1, "a", "b"),
            Err(InvalidInput::NegativeOrgId(-1))
        );
        assert_eq!(
            SecretKey::new(1, "", "b"),
            Err(InvalidInput::Empty("namespace"))
        );
        assert_eq!(SecretKey::new(1, "a", ""), Err(InvalidInput::Empty("type")));
        assert_eq!(
            SecretKey::new(1, "a\0b", "t"),
            Err(InvalidInput::ControlCharacter("namespace"))
        );
        assert!(SecretKey::new(1, "my db/🔑 prod", "datasource").is_ok());
        let long = "é".repeat(MAX_KEY_PART_CHARS + 1);
        assert!(matches!(
            SecretKey::new(1, long, "t"),
            Err(InvalidInput::TooLong {
                part: "namespace",
                ..
            })
        ));
    }

    #[test]
    fn rename_keeps_org_and_type_and_validates_the_namespace() {
        let source = SecretKey::new(3, "a", "datasource").unwrap();
        let r = Rename::new(source.clone(), "b").unwrap();
        assert_eq!(r.source(), &source);
        assert_eq!(r.target(), &SecretKey::new(3, "b", "datasource").unwrap());
        assert!(!r.is_noop());
        assert!(Rename::new(source.clone(), "a").unwrap().is_noop());
        assert_eq!(
            Rename::new(source.clone(), ""),
            Err(InvalidInput::Empty("namespace"))
        );
        assert_eq!(
            Rename::new(source, "x\ny"),
            Err(InvalidInput::ControlCharacter("namespace"))
        );
    }

    #[test]
    fn list_filter_is_validated_like_a_key() {
        let f = ListFilter::new(Some(2), "db", "datasource").unwrap();
        assert_eq!(
            f.key(),
            Some(SecretKey::new(2, "db", "datasource").unwrap())
        );
        assert!(f.matches(&SecretKey::new(2, "db", "datasource").unwrap()));
        assert!(!f.matches(&SecretKey::new(3, "db", "datasource").unwrap()));
        let all = ListFilter::new(None, "db", "datasource").unwrap();
        assert_eq!((all.org_id(), all.key()), (None, None));
        assert!(all.matches(&SecretKey::new(3, "db", "datasource").unwrap()));
        assert_eq!(
            ListFilter::new(Some(-1), "db", "t"),
            Err(InvalidInput::NegativeOrgId(-1))
        );
        assert_eq!(
            ListFilter::new(None, "db", ""),
            Err(InvalidInput::Empty("type"))
        );
    }

    #[test]
    fn value_never_printed() {
        let v = SecretValue::new("hunter2-very-secret").unwrap();
        let dbg = format!(
            "{v:?} {:?}",
            Item {
                key: SecretKey::new(1, "n", "t").unwrap(),
                value: v.clone()
            }
        );
        assert!(!dbg.contains("hunter2"), "{dbg}");
        assert!(SecretValue::new("x".repeat(MAX_VALUE_BYTES)).is_ok());
        assert!(SecretValue::new("x".repeat(MAX_VALUE_BYTES + 1)).is_err());
    }

    #[test]
    fn cipher_key_schedules_are_wiped_on_drop() {
        // Holds only with the crates' zeroize features on (Cargo.toml).
        fn wiped_on_drop<T: zeroize::ZeroizeOnDrop>() {}
        wiped_on_drop::<aes::Aes256>();
        wiped_on_drop::<aes::Aes128>();
        wiped_on_drop::<SecretValue>();
    }

    #[test]
    fn an_oversized_value_is_wiped_when_rejected() {
        let mut big = "secret-".repeat(MAX_VALUE_BYTES / 7 + 1);
        let size = big.len();
        assert_eq!(
            check_size(&mut big),
            Err(InvalidInput::ValueTooLarge {
                size,
                max: MAX_VALUE_BYTES
            })
        );
        assert_eq!(big.len(), size);
        assert!(
            big.bytes().all(|b| b == 0),
            "the rejected bytes were not overwritten"
        );
        // A value within the limit is left as it is.
        let mut ok = "secret".to_string();
        assert!(check_size(&mut ok).is_ok());
        assert_eq!(ok, "secret");
    }
}
