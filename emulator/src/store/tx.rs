//! [`Tx`]: the set of changes one operation hands to [`Store::commit`](super::Store::commit),
//! and its conversion into the records the commit writes.

use sled_sync::wal::Op;

use super::record::{
    corrupt, encode_version_record, secret_key, split_version_record, version_key, SecretRecordOut,
    VersionHeader, VersionState,
};
use super::StoreError;
use crate::model::{Secret, SecretData, Version};

/// A set of changes applied atomically by [`Store::commit`](super::Store::commit). Its Debug
/// output shows counts and names only (it holds secret values).
#[derive(Default)]
pub struct Tx {
    /// Secret records and removals, in order.
    ops: Vec<Op>,
    len: usize,
    /// Version records to write, merged per version: the immutable part and the value share one
    /// record, so a new version is one record however the operation reports it.
    versions: Vec<PendingVersion>,
    /// (region, name) of every secret record written (replication propagates these).
    touched: Vec<(String, String)>,
    /// (region, name) of every secret removed (replication forgets removed replicas).
    removed: Vec<(String, String)>,
}

/// One version record being written.
struct PendingVersion {
    /// The record's key (`e` kind).
    key: Vec<u8>,
    /// JSON of the version's immutable part, when it is new or changed.
    header: Option<Vec<u8>>,
    /// Whether the version carries a value (so a header-only write must keep the stored value).
    has_value: bool,
    /// The value, when this transaction writes it.
    value: Option<Vec<u8>>,
}

impl std::fmt::Debug for Tx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tx")
            .field("changes", &self.ops.len())
            .field("versions", &self.versions.len())
            .field("touched", &self.touched)
            .field("removed", &self.removed)
            .finish()
    }
}

impl Tx {
    /// Writes the secret's record: its metadata and the labels and LastAccessedDate of its
    /// versions (each version's immutable part and value are a separate record).
    pub fn put_secret(&mut self, account: &str, region: &str, s: &Secret) {
        let version_state = s
            .versions
            .iter()
            .filter(|v| !v.stages.is_empty() || v.last_accessed.is_some())
            .map(|v| VersionState {
                id: v.id.clone(),
                stages: v.stages.clone(),
                last_accessed: v.last_accessed,
            })
            .collect();
        let rec = serde_json::to_vec(&SecretRecordOut {
            secret: s,
            version_state,
        })
        .unwrap_or_default();
        self.ops
            .push((secret_key(account, region, &s.name), Some(rec)));
        self.len += 1;
        if !self
            .touched
            .iter()
            .any(|(r, n)| r == region && *n == s.name)
        {
            self.touched.push((region.to_string(), s.name.clone()));
        }
    }
    /// Names of the secrets of `region` whose records this transaction writes.
    pub fn touched<'a>(&'a self, region: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        names_in(&self.touched, region)
    }
    /// The pending record of the version under `k`, added if this transaction has none yet.
    fn pending(&mut self, k: Vec<u8>) -> &mut PendingVersion {
        let i = match self.versions.iter().position(|p| p.key == k) {
            Some(i) => i,
            None => {
                self.versions.push(PendingVersion {
                    key: k,
                    header: None,
                    has_value: false,
                    value: None,
                });
                self.len += 1;
                self.versions.len() - 1
            }
        };
        &mut self.versions[i]
    }
    /// Writes a version's immutable part if it is new or changed since it was stored. Its labels
    /// and LastAccessedDate are written by [`Tx::put_secret`], which every caller also calls.
    pub fn put_version(&mut self, account: &str, region: &str, name: &str, v: &Version) {
        if v.stored.mark() {
            return;
        }
        let header = serde_json::to_vec(&VersionHeader {
            name,
            id: &v.id,
            seq: v.seq,
            created: v.created,
            digest: v.digest,
            kms_key_id: v.kms_key_id.as_deref(),
        })
        .unwrap_or_default();
        let p = self.pending(version_key(account, region, v.rec));
        p.header = Some(header);
        p.has_value = v.has_value();
    }
    /// Writes the value of the version with record number `rec`.
    pub fn put_value(&mut self, account: &str, region: &str, rec: u64, data: &SecretData) {
        let p = self.pending(version_key(account, region, rec));
        p.value = Some(data.encode());
        p.has_value = true;
    }
    /// Removes the record of the version with record number `rec`.
    pub fn del_version(&mut self, account: &str, region: &str, rec: u64) {
        let k = version_key(account, region, rec);
        self.versions.retain(|p| p.key != k);
        self.ops.push((k, None));
        self.len += 1;
    }
    /// Removes a secret with all its versions and values.
    pub fn del_secret(&mut self, account: &str, region: &str, s: &Secret) {
        self.ops.push((secret_key(account, region, &s.name), None));
        for v in &s.versions {
            self.del_version(account, region, v.rec);
        }
        self.len += 1;
        self.removed.push((region.to_string(), s.name.clone()));
    }
    /// Names of the secrets of `region` this transaction removes.
    pub fn removed<'a>(&'a self, region: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        names_in(&self.removed, region)
    }
    /// Whether the transaction holds no change.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The changes in order: secret records and removals, then one record per version written. A
    /// version whose immutable part or value is written alone keeps the other half from the
    /// stored record, read through `get`.
    pub(super) fn into_ops(
        self,
        get: impl Fn(&[u8]) -> Result<Option<Vec<u8>>, StoreError>,
    ) -> Result<Vec<Op>, StoreError> {
        let mut ops = self.ops;
        for p in self.versions {
            let rec = match (p.header, p.value) {
                (Some(h), v @ Some(_)) => encode_version_record(&h, v.as_deref()),
                (Some(h), None) if !p.has_value => encode_version_record(&h, None),
                (Some(h), None) => {
                    let old = get(&p.key)?;
                    let value = match old.as_deref().map(split_version_record) {
                        Some(Some((_, v))) => v.map(<[u8]>::to_vec),
                        Some(None) => return Err(corrupt(&p.key, "bad version record")),
                        None => None,
                    };
                    encode_version_record(&h, value.as_deref())
                }
                (None, Some(v)) => {
                    let old = get(&p.key)?;
                    match old.as_deref().map(split_version_record) {
                        Some(Some((Some(h), _))) => encode_version_record(h, Some(&v)),
                        Some(None) => return Err(corrupt(&p.key, "bad version record")),
                        // the immutable part is in an older separate version record
                        _ => v,
                    }
                }
                (None, None) => continue,
            };
            ops.push((p.key, Some(rec)));
        }
        Ok(ops)
    }
}

/// The names of `region` in a list of (region, name).
fn names_in<'a>(
    list: &'a [(String, String)],
    region: &'a str,
) -> impl Iterator<Item = &'a str> + 'a {
    list.iter()
        .filter(move |(r, _)| r == region)
        .map(|(_, n)| n.as_str())
}
