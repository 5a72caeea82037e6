//! The data model: secrets, versions, staging labels, ARNs and names, with the label-moving rules of
//! AWS Secrets Manager (AWSCURRENT / AWSPREVIOUS / AWSPENDING and custom labels).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

/// The label of the current version.
pub const AWSCURRENT: &str = "AWSCURRENT";
/// The label of the previous current version.
pub const AWSPREVIOUS: &str = "AWSPREVIOUS";
/// The label of a rotation candidate.
pub const AWSPENDING: &str = "AWSPENDING";
/// Maximum number of versions AWS keeps before pruning unlabelled ones (older than 24 h).
pub const MAX_VERSIONS: usize = 100;
/// Versions younger than this are never pruned.
pub const PRUNE_MIN_AGE_SECS: f64 = 86_400.0;
/// Maximum number of staging labels on one version.
pub const MAX_LABELS_PER_VERSION: usize = 20;
/// Maximum number of tags on a secret.
pub const MAX_TAGS: usize = 50;
/// The default KMS key alias of Secrets Manager.
pub const DEFAULT_KMS_ALIAS: &str = "alias/aws/secretsmanager";

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

/// Whether a version's immutable part (id, order, date, digest, key) is in the store. The store
/// writes that part once, when the version is created or receives its value; labels and
/// LastAccessedDate change often and travel with the secret's record instead (store/record.rs).
#[derive(Debug, Default)]
pub struct Stored(AtomicBool);

impl Stored {
    /// Marks the version as stored; returns whether it already was.
    pub fn mark(&self) -> bool {
        self.0.swap(true, Ordering::Relaxed)
    }
    /// Marks the version as changed since it was stored.
    pub fn reset(&self) {
        self.0.store(false, Ordering::Relaxed);
    }
}

impl Clone for Stored {
    fn clone(&self) -> Self {
        Stored(AtomicBool::new(self.0.load(Ordering::Relaxed)))
    }
}

impl PartialEq for Stored {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// One version of a secret (its value lives in the store, keyed by version id).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Version {
    /// VersionId (the ClientRequestToken that created it, or a UUID).
    pub id: String,
    /// Per-secret creation order (for paging).
    pub seq: u64,
    /// Staging labels on this version (stored in the secret's record, see store/record.rs).
    #[serde(default)]
    pub stages: Vec<String>,
    /// CreatedDate, epoch seconds.
    pub created: f64,
    /// LastAccessedDate (midnight UTC of the last GetSecretValue), epoch seconds.
    #[serde(default)]
    pub last_accessed: Option<f64>,
    /// Digest of the value (None for a version without a value, e.g. an AWSPENDING placeholder).
    #[serde(default)]
    pub digest: Option<Digest>,
    /// KMS key the value was encrypted with (None = the default key).
    #[serde(default)]
    pub kms_key_id: Option<String>,
    /// Whether the immutable part is in the store (never serialized).
    #[serde(skip)]
    pub stored: Stored,
    /// Number of the version's record in the store (its key; see store/record.rs). Unique within
    /// its store, increasing: a replica's copy of a version keeps the number, under its own region.
    #[serde(skip)]
    pub rec: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Version {
    /// Whether the version carries a value.
    pub fn has_value(&self) -> bool {
        self.digest.is_some()
    }
    /// Whether it carries `label`.
    pub fn has(&self, label: &str) -> bool {
        self.stages.iter().any(|s| s == label)
    }
    /// For a copy of a version about to be written under another account or region: marks it
    /// stored only if `held` (that destination's version with the same id) has the same record. A
    /// copy carries its source's flag, which says nothing about the destination's records.
    pub fn mark_stored_as(&self, held: Option<&Version>) {
        if held.is_some_and(|o| o.same_record(self)) {
            self.stored.mark();
        } else {
            self.stored.reset();
        }
    }
    /// Whether `other` has the same stored immutable part (the store's version record).
    pub fn same_record(&self, other: &Version) -> bool {
        self.rec == other.rec
            && self.id == other.id
            && self.seq == other.seq
            && self.created == other.created
            && self.digest == other.digest
            && self.kms_key_id == other.kms_key_id
    }
}

/// A secret's metadata and versions (values are stored separately).
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Secret {
    /// Friendly name (unique per account and region).
    pub name: String,
    /// Full ARN including the 6-character suffix.
    pub arn: String,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// KmsKeyId as given (None = default key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
    /// `Type` (managed external secrets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_type: Option<String>,
    /// Tags in insertion order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<(String, String)>,
    /// Whether the secret ever had tags: AWS then answers `"Tags": []` once they are all removed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tagged: bool,
    /// CreatedDate.
    pub created: f64,
    /// Creation order among all secrets (a record number from the store's
    /// `Store::new_record_number`; 0 in records written before it was kept): ListSecrets puts
    /// secrets created in the same millisecond in creation order.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub created_order: u64,
    /// LastChangedDate.
    pub last_changed: f64,
    /// LastAccessedDate (day precision).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_accessed: Option<f64>,
    /// DeletedDate: when DeleteSecret was called (None = not scheduled for deletion).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted: Option<f64>,
    /// When a secret scheduled for deletion is purged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purge_at: Option<f64>,
    /// Versions in creation order (persisted as separate records, see store/record.rs).
    #[serde(skip)]
    pub versions: Vec<Version>,
    /// Next version sequence number.
    #[serde(default)]
    pub next_seq: u64,
    /// Rotation settings and state (owned by rotation.rs).
    #[serde(default, skip_serializing_if = "Rotation::is_unset")]
    pub rotation: Rotation,
    /// PrimaryRegion: set on replicas (to the primary's region) and on primaries that have replicas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_region: Option<String>,
    /// ReplicationStatus entries on a primary (owned by replication.rs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replication: Vec<Value>,
    /// Named resource policies (owned by policy.rs); `default` is the classic one.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub policies: BTreeMap<String, String>,
    /// OwningService (managed secrets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owning_service: Option<String>,
    /// Anything else other modules need to persist (cross-account replicas, ...).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub extra: serde_json::Map<String, Value>,
}

/// Rotation configuration and state of a secret.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct Rotation {
    /// RotationEnabled (None = never configured, left out of responses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// RotationLambdaARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lambda_arn: Option<String>,
    /// RotationRules as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules: Option<Value>,
    /// LastRotatedDate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_rotated: Option<f64>,
    /// NextRotationDate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_rotation: Option<f64>,
    /// ExternalSecretRotationMetadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_metadata: Option<Value>,
    /// ExternalSecretRotationRoleArn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_role_arn: Option<String>,
}

impl Rotation {
    /// Whether nothing about rotation was ever set (left out of the stored record).
    pub fn is_unset(&self) -> bool {
        *self == Rotation::default()
    }
}

/// Error from a label operation (mapped to AWS errors by the caller).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LabelError {
    /// A version would carry more than 20 labels.
    TooManyLabels(String),
}

impl Secret {
    /// Whether the secret is a replica when seen from `region`.
    pub fn is_replica_in(&self, region: &str) -> bool {
        self.primary_region.as_deref().is_some_and(|p| p != region)
    }
    // Lookups search from the newest version: ids and labels are unique within a secret, and
    // writes and reads mostly concern the latest versions of secrets that may hold a hundred.

    /// Index of the version with this id.
    pub fn version_index(&self, id: &str) -> Option<usize> {
        self.versions.iter().rposition(|v| v.id == id)
    }
    /// The version with this id.
    pub fn version(&self, id: &str) -> Option<&Version> {
        self.versions.iter().rev().find(|v| v.id == id)
    }
    /// Index of the version carrying `label`.
    pub fn holder(&self, label: &str) -> Option<usize> {
        self.versions.iter().rposition(|v| v.has(label))
    }
    /// Appends a new version (without labels) with record number `rec` (from the store's
    /// `Store::new_record_number`) and returns its index.
    pub fn add_version(
        &mut self,
        rec: u64,
        id: String,
        now: f64,
        digest: Option<Digest>,
        kms: Option<String>,
    ) -> usize {
        let seq = self.next_seq;
        self.next_seq += 1;
        // Exact growth while the list is short: most secrets have one to three versions, and a
        // default-grown Vec would keep room for four (4 x 128 bytes) in memory for every secret.
        // Longer lists grow by doubling, or every new version would copy all the others.
        if self.versions.len() < 4 {
            self.versions.reserve_exact(1);
        }
        self.versions.push(Version {
            id,
            seq,
            stages: Vec::new(),
            created: now,
            last_accessed: None,
            digest,
            kms_key_id: kms,
            stored: Stored::default(),
            rec,
        });
        self.versions.len() - 1
    }

    /// Moves `label` onto version `to`, removing it from any other version. Moving AWSCURRENT also
    /// moves AWSPREVIOUS onto the version AWSCURRENT left. Returns the indices of versions changed.
    pub fn attach_label(&mut self, label: &str, to: usize) -> Result<Vec<usize>, LabelError> {
        let mut changed = Vec::new();
        if self.versions[to].has(label) {
            return Ok(changed);
        }
        if self.versions[to].stages.len() >= MAX_LABELS_PER_VERSION {
            return Err(LabelError::TooManyLabels(self.versions[to].id.clone()));
        }
        let old = self.holder(label);
        if let Some(old) = old {
            self.versions[old].stages.retain(|s| s != label);
            changed.push(old);
        }
        self.versions[to].stages.reserve_exact(1);
        self.versions[to].stages.push(label.to_string());
        changed.push(to);
        if label == AWSCURRENT {
            if let Some(old) = old {
                if let Some(prev) = self.holder(AWSPREVIOUS) {
                    self.versions[prev].stages.retain(|s| s != AWSPREVIOUS);
                    changed.push(prev);
                }
                if !self.versions[old].has(AWSPREVIOUS) {
                    self.versions[old].stages.reserve_exact(1);
                    self.versions[old].stages.push(AWSPREVIOUS.to_string());
                }
            }
        }
        changed.sort_unstable();
        changed.dedup();
        Ok(changed)
    }

    /// Removes `label` from version `from`.
    pub fn detach_label(&mut self, label: &str, from: usize) {
        self.versions[from].stages.retain(|s| s != label);
    }

    /// Releases spare capacity of the version list and label lists (after loading, where
    /// deserialization grows vectors by doubling).
    pub fn shrink(&mut self) {
        self.versions.shrink_to_fit();
        for v in &mut self.versions {
            v.stages.shrink_to_fit();
        }
        self.tags.shrink_to_fit();
    }

    /// Prunes unlabelled versions beyond [`MAX_VERSIONS`], oldest first, never those younger than
    /// 24 hours. Returns the ids and record numbers of those removed.
    pub fn prune_versions(&mut self, now: f64) -> Vec<(String, u64)> {
        let mut removed = Vec::new();
        let mut excess = self.versions.len().saturating_sub(MAX_VERSIONS);
        if excess == 0 {
            return removed;
        }
        self.versions.retain(|v| {
            if excess > 0 && v.stages.is_empty() && now - v.created >= PRUNE_MIN_AGE_SECS {
                excess -= 1;
                removed.push((v.id.clone(), v.rec));
                false
            } else {
                true
            }
        });
        removed
    }

    /// VersionIdsToStages: every version with at least one label.
    pub fn version_stages_map(&self) -> Option<Value> {
        let mut m = serde_json::Map::new();
        for v in &self.versions {
            if !v.stages.is_empty() {
                m.insert(v.id.clone(), Value::from(v.stages.clone()));
            }
        }
        if m.is_empty() {
            None
        } else {
            Some(Value::Object(m))
        }
    }

    /// Tags as the wire's `[{Key, Value}]` list.
    pub fn tags_json(&self) -> Value {
        Value::Array(
            self.tags
                .iter()
                .map(|(k, v)| serde_json::json!({"Key": k, "Value": v}))
                .collect(),
        )
    }

    /// Merges tags (overwriting existing keys, appending new ones).
    pub fn merge_tags(&mut self, tags: &[(String, String)]) {
        self.tagged = true;
        for (k, v) in tags {
            match self.tags.iter_mut().find(|(ek, _)| ek == k) {
                Some(slot) => slot.1 = v.clone(),
                None => self.tags.push((k.clone(), v.clone())),
            }
        }
    }
}

/// Checks a secret name: 1-512 characters from `A-Za-z0-9/_+=.@-`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.chars().count() <= 512 && valid_name_chars(name)
}

/// Whether every character of `name` may appear in a secret name (`A-Za-z0-9/_+=.@-`).
pub fn valid_name_chars(name: &str) -> bool {
    name.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/_+=.@-".contains(c))
}

/// The AWS partition of a region (`aws`, `aws-cn`, `aws-us-gov`).
pub fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// The ARN prefix for secrets in an account and region (`arn:aws:secretsmanager:r:a:secret:`).
pub fn arn_prefix(region: &str, account: &str) -> String {
    format!(
        "arn:{}:secretsmanager:{region}:{account}:secret:",
        partition(region)
    )
}

/// A random 6-character alphanumeric ARN suffix.
pub fn random_suffix() -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    (0..6)
        .map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char)
        .collect()
}

/// A new random version id (UUID v4).
pub fn new_version_id() -> String {
    random_uuid()
}

/// A random UUID (v4) from the thread's CSPRNG: request ids and version ids need uniqueness, and
/// `Uuid::new_v4` costs a `getrandom` system call on every request.
pub fn random_uuid() -> String {
    uuid::Builder::from_random_bytes(rand::random())
        .into_uuid()
        .to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn secret_with(n: usize) -> Secret {
        let mut s = Secret::default();
        for i in 0..n {
            let d = SecretData::String("d".into()).digest();
            s.add_version(i as u64 + 1, format!("v{i}"), i as f64, Some(d), None);
        }
        s
    }

    #[test]
    fn current_move_shifts_previous() {
        let mut s = secret_with(3);
        s.attach_label(AWSCURRENT, 0).unwrap();
        s.attach_label(AWSCURRENT, 1).unwrap();
        assert_eq!(s.versions[0].stages, vec![AWSPREVIOUS]);
        s.attach_label(AWSCURRENT, 2).unwrap();
        assert!(s.versions[0].stages.is_empty());
        assert_eq!(s.versions[1].stages, vec![AWSPREVIOUS]);
        assert_eq!(s.versions[2].stages, vec![AWSCURRENT]);
    }

    #[test]
    fn worked_example_keeps_pending() {
        let mut s = secret_with(2);
        s.attach_label(AWSCURRENT, 0).unwrap();
        s.attach_label(AWSPENDING, 1).unwrap();
        s.attach_label(AWSCURRENT, 1).unwrap();
        assert_eq!(s.versions[1].stages, vec![AWSPENDING, AWSCURRENT]);
        assert_eq!(s.versions[0].stages, vec![AWSPREVIOUS]);
    }

    #[test]
    fn prune_only_old_unlabelled() {
        let mut s = secret_with(105);
        s.attach_label(AWSCURRENT, 104).unwrap();
        // versions 0..=2 are old, the rest young
        let now = 2.0 + PRUNE_MIN_AGE_SECS;
        let removed: Vec<String> = s
            .prune_versions(now)
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        assert_eq!(removed, vec!["v0", "v1", "v2"]);
        assert_eq!(s.versions.len(), 102);
    }

    #[test]
    fn stored_record_leaves_out_unset_fields_and_round_trips() {
        let mut s = Secret {
            name: "n".into(),
            arn: "a".into(),
            created: 1.0,
            last_changed: 2.0,
            ..Default::default()
        };
        let bare = serde_json::to_value(&s).unwrap();
        let mut keys: Vec<&str> = bare
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        keys.sort_unstable();
        assert_eq!(keys, ["arn", "created", "last_changed", "name", "next_seq"]);
        s.description = Some("d".into());
        s.kms_key_id = Some("alias/k".into());
        s.secret_type = Some("t".into());
        s.tags = vec![("k".into(), "v".into())];
        s.last_accessed = Some(3.0);
        s.deleted = Some(4.0);
        s.purge_at = Some(5.0);
        s.next_seq = 7;
        s.rotation = Rotation {
            enabled: Some(false),
            lambda_arn: Some("arn:l".into()),
            rules: Some(serde_json::json!({"AutomaticallyAfterDays": 1})),
            last_rotated: Some(6.0),
            next_rotation: Some(8.0),
            external_metadata: Some(serde_json::json!([{"Key": "a", "Value": "b"}])),
            external_role_arn: Some("arn:r".into()),
        };
        s.primary_region = Some("eu-west-1".into());
        s.replication = vec![serde_json::json!({"Region": "eu-west-1"})];
        s.policies.insert("default".into(), "{}".into());
        s.owning_service = Some("svc".into());
        s.extra.insert("x".into(), serde_json::json!(1));
        let full = serde_json::to_value(&s).unwrap();
        let back: Secret = serde_json::from_value(full.clone()).unwrap();
        assert_eq!(serde_json::to_value(&back).unwrap(), full);
        assert_eq!(back.rotation, s.rotation);
        // a record written before unset fields were left out reads the same
        let mut old = bare.as_object().unwrap().clone();
        for k in [
            "description",
            "kms_key_id",
            "deleted",
            "purge_at",
            "owning_service",
        ] {
            old.insert(k.into(), Value::Null);
        }
        old.insert("tags".into(), serde_json::json!([]));
        old.insert(
            "rotation".into(),
            serde_json::json!({"enabled": null, "rules": null}),
        );
        let back: Secret = serde_json::from_value(Value::Object(old)).unwrap();
        assert_eq!(serde_json::to_value(&back).unwrap(), bare);
    }

    #[test]
    fn names() {
        assert!(valid_name("a/b_c+d=e.f@g-h"));
        assert!(!valid_name("a b"));
        assert!(!valid_name(""));
        assert!(!valid_name(&"x".repeat(513)));
        assert_eq!(random_suffix().len(), 6);
    }
}
