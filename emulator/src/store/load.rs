//! Reading a store at start: every secret with its versions from the current layout, after the
//! version records of the two older layouts have been rewritten in it.
//!
//! The layouts, oldest first (keys in `record.rs`):
//! 1. `v` records (a version's immutable part and its labels, by secret name and version id) and
//!    `d` records (the bare value, same key);
//! 2. `d` records holding the immutable part and the value ([`super::record::VERSION_RECORD`]),
//!    labels in the secret's record (`version_state`);
//! 3. the current one: the same version records keyed by record number (`e`).

use std::collections::{BTreeMap, HashMap};

use super::record::{
    corrupt, decode, encode_version_record, parse_version_key, secret_key, split_version_record,
    version_key, MigratedHeader, SecretRecordIn, VersionRecordIn,
};
use super::{Loaded, Store, StoreError};
use crate::model::Version;

/// A version found in an older layout: its immutable part (from its `v` or `d` record) and its
/// encoded value, by its `d` key.
type OldVersion = (Option<Version>, Option<Vec<u8>>);

impl Store {
    /// Loads every secret with its versions, and notes every record number found so that new
    /// ones are larger. Version records of the older layouts are first rewritten in the current
    /// one ([`Store::upgrade_old_layouts`]).
    pub fn load(&self) -> Result<Loaded, StoreError> {
        self.upgrade_old_layouts()?;
        let mut out: Loaded = HashMap::new();
        // secret key -> its versions
        let mut versions: HashMap<Vec<u8>, Vec<Version>> = HashMap::new();
        for item in self.db.scan_prefix([b'e', 0]) {
            let (k, raw) = item?;
            let (account, region, rec) =
                parse_version_key(&k).ok_or_else(|| corrupt(&k, "bad key"))?;
            let Some((Some(header), _)) = split_version_record(&raw) else {
                return Err(corrupt(&k, "bad version record"));
            };
            let VersionRecordIn { name, mut version } = decode(&k, header)?;
            version.rec = rec;
            self.records.note(rec);
            versions
                .entry(secret_key(account, region, &name))
                .or_default()
                .push(version);
        }
        for item in self.db.scan_prefix([b's', 0]) {
            let (k, v) = item?;
            let rec: SecretRecordIn = decode(&k, &v)?;
            let mut secret = rec.secret;
            self.records.note(secret.created_order);
            let parts: Vec<&[u8]> = k[2..].splitn(3, |b| *b == 0).collect();
            if parts.len() != 3 {
                return Err(corrupt(&k, "bad key"));
            }
            let account = String::from_utf8_lossy(parts[0]).into_owned();
            let region = String::from_utf8_lossy(parts[1]).into_owned();
            let mut vs = versions.remove(k.as_ref()).unwrap_or_default();
            vs.sort_by_key(|v| v.seq);
            if let Some(states) = rec.version_state {
                for v in &mut vs {
                    v.stages.clear();
                    v.last_accessed = None;
                }
                for st in states {
                    if let Some(v) = vs.iter_mut().find(|v| v.id == st.id) {
                        v.stages = st.stages;
                        v.last_accessed = st.last_accessed;
                    }
                }
            }
            for v in &vs {
                v.stored.mark();
            }
            secret.versions = vs;
            secret.shrink();
            out.entry(account)
                .or_default()
                .entry(region)
                .or_default()
                .push(secret);
        }
        Ok(out)
    }

    /// Rewrites the version records of the older layouts (`v` and `d`, keyed by secret name and
    /// version id) as `e` records with new record numbers, in one batch that is durable before
    /// the store is read. In the oldest layout a version's labels are in its `v` record (its
    /// secret's record has no `version_state`); the rewritten record keeps them.
    pub(super) fn upgrade_old_layouts(&self) -> Result<(), StoreError> {
        let mut old: BTreeMap<Vec<u8>, OldVersion> = BTreeMap::new();
        let mut batch = sled::Batch::default();
        for item in self.db.scan_prefix([b'v', 0]) {
            let (k, raw) = item?;
            let ver: Version = decode(&k, &raw)?;
            let mut d = k.to_vec();
            d[0] = b'd';
            old.entry(d).or_default().0 = Some(ver);
            batch.remove(k);
        }
        for item in self.db.scan_prefix([b'd', 0]) {
            let (k, raw) = item?;
            let Some((header, value)) = split_version_record(&raw) else {
                return Err(corrupt(&k, "bad version record"));
            };
            let slot = old.entry(k.to_vec()).or_default();
            if let Some(h) = header {
                slot.0 = Some(decode(&k, h)?);
            }
            slot.1 = value.map(<[u8]>::to_vec);
        }
        if old.is_empty() {
            return Ok(());
        }
        for k in self.db.scan_prefix([b'e', 0]).keys() {
            if let Some((_, _, rec)) = parse_version_key(&k?) {
                self.records.note(rec);
            }
        }
        let n = old.len();
        for (k, (ver, value)) in old {
            batch.remove(k.as_slice());
            // a value without its version's metadata belongs to nothing
            let Some(mut ver) = ver else { continue };
            let parts: Vec<&[u8]> = k[2..].splitn(4, |b| *b == 0).collect();
            let [account, region, name, _vid] = parts[..] else {
                return Err(corrupt(&k, "bad key"));
            };
            let (Ok(account), Ok(region), Ok(name)) = (
                std::str::from_utf8(account),
                std::str::from_utf8(region),
                std::str::from_utf8(name),
            ) else {
                return Err(corrupt(&k, "bad key"));
            };
            ver.rec = self.records.next();
            let header = serde_json::to_vec(&MigratedHeader {
                name,
                version: &ver,
            })
            .map_err(|e| corrupt(&k, &e.to_string()))?;
            batch.insert(
                version_key(account, region, ver.rec),
                encode_version_record(&header, value.as_deref()),
            );
        }
        self.db.apply_batch(batch)?;
        self.db.flush()?;
        if let Some(files) = &self.files {
            files.sled.sync()?;
        }
        tracing::info!(records = n, "rewrote version records in the current layout");
        Ok(())
    }
}
