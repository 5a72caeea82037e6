//! The plan: which source secrets must be copied (new or changed in the destination) and which
//! are already there with the same value (same SHA-256 digest) and are skipped.

use std::collections::HashMap;

use serde::Serialize;

use super::checkpoint::{Checkpoint, KeyRecord};
use super::is_reserved;
use crate::domain::{Item, SecretKey};

/// Why a secret is copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CopyReason {
    /// Not in the destination.
    New,
    /// In the destination with another value.
    Changed,
}

/// One secret to copy.
#[derive(Debug)]
pub struct CopyStep {
    /// The secret (key and value) as read from the source.
    pub item: Item,
    /// Its digest.
    pub digest: String,
    /// Why.
    pub reason: CopyReason,
}

/// One secret already in the destination with the same value.
#[derive(Debug)]
pub struct SkipStep {
    /// The key (the value is kept only for `--delete-source`).
    pub item: Item,
    /// Its digest (equal in both stores).
    pub digest: String,
    /// Whether a previous run had recorded it in the checkpoint.
    pub from_checkpoint: bool,
}

/// Everything the migration will do.
#[derive(Debug, Default)]
pub struct Plan {
    /// Secrets to copy.
    pub copy: Vec<CopyStep>,
    /// Secrets already identical in the destination.
    pub skip: Vec<SkipStep>,
    /// Keys in the destination but not in the source (left alone).
    pub extra_in_destination: Vec<SecretKey>,
}

impl Plan {
    /// Compares the source's items with the destination's; reserved keys are ignored.
    pub fn build(
        source: Vec<Item>,
        destination: Vec<Item>,
        checkpoint: Option<&Checkpoint>,
    ) -> Plan {
        let mut dest: HashMap<SecretKey, String> = destination
            .into_iter()
            .filter(|i| !is_reserved(&i.key))
            .map(|i| (i.key, i.value.digest()))
            .collect();
        let mut plan = Plan::default();
        let mut source = source;
        source.retain(|i| !is_reserved(&i.key));
        source.sort_by(|a, b| a.key.cmp(&b.key));
        for item in source {
            let digest = item.value.digest();
            match dest.remove(&item.key) {
                Some(d) if d == digest => {
                    let from_checkpoint = checkpoint
                        .and_then(|c| c.get(&item.key))
                        .is_some_and(|done| done.digest == digest);
                    plan.skip.push(SkipStep {
                        item,
                        digest,
                        from_checkpoint,
                    })
                }
                Some(_) => plan.copy.push(CopyStep {
                    item,
                    digest,
                    reason: CopyReason::Changed,
                }),
                None => plan.copy.push(CopyStep {
                    item,
                    digest,
                    reason: CopyReason::New,
                }),
            }
        }
        let mut extra: Vec<SecretKey> = dest.into_keys().collect();
        extra.sort();
        plan.extra_in_destination = extra;
        plan
    }

    /// The plan as printed by `--dry-run`: one line per secret, keys only.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        for c in &self.copy {
            let why = match c.reason {
                CopyReason::New => "new",
                CopyReason::Changed => "changed",
            };
            out.push_str(&format!("copy ({why}): {}\n", c.item.key));
        }
        for s in &self.skip {
            out.push_str(&format!("skip (unchanged): {}\n", s.item.key));
        }
        for k in &self.extra_in_destination {
            out.push_str(&format!("leave (only in destination): {k}\n"));
        }
        out.push_str(&format!(
            "plan: {} to copy ({} new, {} changed), {} unchanged, {} only in the destination\n",
            self.copy.len(),
            self.copy
                .iter()
                .filter(|c| c.reason == CopyReason::New)
                .count(),
            self.copy
                .iter()
                .filter(|c| c.reason == CopyReason::Changed)
                .count(),
            self.skip.len(),
            self.extra_in_destination.len()
        ));
        out
    }
}

/// A key in report form.
pub fn record(key: &SecretKey) -> KeyRecord {
    KeyRecord::from(key)
}
