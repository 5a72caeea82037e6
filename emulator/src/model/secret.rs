//! A secret: its metadata, rotation settings and versions, with the rules for adding versions,
//! moving staging labels, pruning old versions and merging tags.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::replica::{CrossAccountLinks, RegionStatus};
use super::{
    is_zero, Digest, Stored, Version, AWSCURRENT, AWSPREVIOUS, MAX_LABELS_PER_VERSION,
    MAX_VERSIONS, PRUNE_MIN_AGE_SECS,
};

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
    /// ReplicationStatus entries on a primary (owned by `ops::replication`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replication: Vec<RegionStatus>,
    /// Named resource policies (owned by policy.rs); `default` is the classic one.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub policies: BTreeMap<String, String>,
    /// OwningService (managed secrets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owning_service: Option<String>,
    /// Cross-account replication links (record member `extra`; boxed, as few secrets have one).
    #[serde(rename = "extra", default, skip_serializing_if = "Option::is_none")]
    pub cross_account: Option<Box<CrossAccountLinks>>,
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
