//! One version of a secret: its immutable part (id, order, date, digest, key, record number), its
//! labels and LastAccessedDate, and whether its immutable part is in the store.

use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};

use super::Digest;

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
