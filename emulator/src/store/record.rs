//! The record codec: how keys are built and parsed, the byte layout of a version record, the JSON
//! shapes of secret and version records, and the errors for records that do not decode.
//!
//! Keys (parts separated by a 0 byte):
//! - `s \0 account \0 region \0 name`: a secret's metadata plus the labels and LastAccessedDate
//!   of its versions (JSON, [`SecretRecordOut`] / [`SecretRecordIn`]);
//! - `e \0 account \0 region \0 record number` (8 bytes, big-endian): one version, its immutable
//!   part and its value ([`encode_version_record`]). Record numbers only grow
//!   ([`crate::model::Version::rec`]), so a region's new versions sort after its older ones and
//!   sled appends them to the last leaf of that range instead of updating leaves across the tree;
//! - `d` / `v` (`kind \0 account \0 region \0 name \0 version id`): the older layouts' version
//!   records, which `load.rs` rewrites as `e` records;
//! - [`SEQ_KEY`]: the sequence number of the last transaction checkpointed into sled.

use serde::{Deserialize, Serialize};

use super::StoreError;
use crate::model::{Digest, Secret, Version};

/// sled key holding the sequence number of the last transaction applied (big-endian u64); log
/// records up to it are already in sled.
pub(super) const SEQ_KEY: &[u8] = b"\xffseq";

/// First byte of a version record that holds the version's immutable part (then a 4-byte
/// little-endian length, the part as JSON, and the value if the version has one). Records
/// written before this layout hold only the value and start with its kind byte (`S` / `B`).
pub(super) const VERSION_RECORD: u8 = b'M';

/// The immutable part of a version, as stored in its record.
#[derive(Serialize)]
pub(super) struct VersionHeader<'a> {
    /// The secret's name (the key holds account, region and record number).
    pub name: &'a str,
    pub id: &'a str,
    pub seq: u64,
    pub created: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<&'a str>,
}

/// Labels and LastAccessedDate of one version, kept in its secret's record.
#[derive(Serialize, Deserialize)]
pub(super) struct VersionState {
    pub id: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stages: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_accessed: Option<f64>,
}

/// A secret's record: its metadata plus the changing state of its versions.
#[derive(Serialize)]
pub(super) struct SecretRecordOut<'a> {
    #[serde(flatten)]
    pub secret: &'a Secret,
    pub version_state: Vec<VersionState>,
}

/// A version record's immutable part as read back. Records migrated from the oldest layout also
/// carry the version's labels (their secret's record has no `version_state`).
#[derive(Deserialize)]
pub(super) struct VersionRecordIn {
    pub name: String,
    #[serde(flatten)]
    pub version: Version,
}

/// The immutable part of a version migrated from an older layout, with its labels (see
/// [`VersionRecordIn`]).
#[derive(Serialize)]
pub(super) struct MigratedHeader<'a> {
    pub name: &'a str,
    #[serde(flatten)]
    pub version: &'a Version,
}

/// A secret's record as read back. Records written before version state moved here have no
/// `version_state`; their labels are in the version records.
#[derive(Deserialize)]
pub(super) struct SecretRecordIn {
    #[serde(flatten)]
    pub secret: Secret,
    #[serde(default)]
    pub version_state: Option<Vec<VersionState>>,
}

/// A version record: [`VERSION_RECORD`], the length of `header`, `header`, then the value.
pub(super) fn encode_version_record(header: &[u8], value: Option<&[u8]>) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + header.len() + value.map_or(0, <[u8]>::len));
    out.push(VERSION_RECORD);
    out.extend_from_slice(&(header.len() as u32).to_le_bytes());
    out.extend_from_slice(header);
    if let Some(v) = value {
        out.extend_from_slice(v);
    }
    out
}

/// A version record's parts: its immutable part (None for the older value-only records) and its
/// encoded value (None when the version has no value).
pub(super) type VersionParts<'a> = (Option<&'a [u8]>, Option<&'a [u8]>);

/// Splits a version record into its parts; None if the record is malformed.
pub(super) fn split_version_record(raw: &[u8]) -> Option<VersionParts<'_>> {
    if raw.first() != Some(&VERSION_RECORD) {
        return Some((None, Some(raw)));
    }
    let len = u32::from_le_bytes(raw.get(1..5)?.try_into().ok()?) as usize;
    let header = raw.get(5..5 + len)?;
    let rest = &raw[5 + len..];
    Some((Some(header), (!rest.is_empty()).then_some(rest)))
}

/// The key of a version record (`e` kind).
pub(super) fn version_key(account: &str, region: &str, rec: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(12 + account.len() + region.len());
    k.extend_from_slice(&[b'e', 0]);
    k.extend_from_slice(account.as_bytes());
    k.push(0);
    k.extend_from_slice(region.as_bytes());
    k.push(0);
    k.extend_from_slice(&rec.to_be_bytes());
    k
}

/// Account, region and record number of a version record's key.
pub(super) fn parse_version_key(k: &[u8]) -> Option<(&str, &str, u64)> {
    let rest = k.strip_prefix(&[b'e', 0])?;
    let (head, num) = rest.split_at_checked(rest.len().checked_sub(8)?)?;
    let head = head.strip_suffix(&[0])?;
    let mut parts = head.splitn(2, |b| *b == 0);
    let account = std::str::from_utf8(parts.next()?).ok()?;
    let region = std::str::from_utf8(parts.next()?).ok()?;
    Some((account, region, u64::from_be_bytes(num.try_into().ok()?)))
}

/// A name-keyed record's key: `kind`, account, region, name and (for the older layouts' version
/// records) the version id.
pub(super) fn key(kind: u8, account: &str, region: &str, name: &str, vid: Option<&str>) -> Vec<u8> {
    let mut k = Vec::with_capacity(4 + account.len() + region.len() + name.len() + 40);
    k.push(kind);
    k.push(0);
    k.extend_from_slice(account.as_bytes());
    k.push(0);
    k.extend_from_slice(region.as_bytes());
    k.push(0);
    k.extend_from_slice(name.as_bytes());
    if let Some(v) = vid {
        k.push(0);
        k.extend_from_slice(v.as_bytes());
    }
    k
}

/// The key of a secret's record (`s` kind).
pub(super) fn secret_key(account: &str, region: &str, name: &str) -> Vec<u8> {
    key(b's', account, region, name, None)
}

/// Decodes a JSON record stored under `k`.
pub(super) fn decode<T: serde::de::DeserializeOwned>(k: &[u8], v: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(v).map_err(|e| StoreError::Corrupt {
        key: printable(k),
        reason: e.to_string(),
    })
}

/// The error for a record under `k` that does not decode.
pub(super) fn corrupt(k: &[u8], reason: &str) -> StoreError {
    StoreError::Corrupt {
        key: printable(k),
        reason: reason.into(),
    }
}

/// A key as text, its separators shown as `/`.
fn printable(k: &[u8]) -> String {
    String::from_utf8_lossy(k).replace('\0', "/")
}
