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

/// Sorts source secrets one at a time into copy or skip against the destination's digests, so a
/// migration can start copying while the source is still being read.
#[derive(Debug)]
pub struct Classifier {
    /// Destination digests not yet matched by a source secret.
    dest: HashMap<SecretKey, String>,
}

/// What to do with one source secret.
#[derive(Debug)]
pub enum Step {
    /// Copy it.
    Copy(CopyStep),
    /// Already there with the same value.
    Skip(SkipStep),
    /// A reserved key (the migration's own lease marker): neither copied nor counted.
    Ignore,
}

impl Classifier {
    /// Indexes the destination's secrets by key (reserved keys are ignored).
    pub fn new(destination: Vec<Item>) -> Self {
        Self {
            dest: destination
                .into_iter()
                .filter(|i| !is_reserved(&i.key))
                .map(|i| (i.key, i.value.digest()))
                .collect(),
        }
    }

    /// Classifies one source secret; `done` tells whether a previous run's checkpoint recorded
    /// this key with this digest.
    pub fn classify(&mut self, item: Item, done: impl FnOnce(&SecretKey, &str) -> bool) -> Step {
        if is_reserved(&item.key) {
            return Step::Ignore;
        }
        let digest = item.value.digest();
        match self.dest.remove(&item.key) {
            Some(d) if d == digest => {
                let from_checkpoint = done(&item.key, &digest);
                Step::Skip(SkipStep {
                    item,
                    digest,
                    from_checkpoint,
                })
            }
            Some(_) => Step::Copy(CopyStep {
                item,
                digest,
                reason: CopyReason::Changed,
            }),
            None => Step::Copy(CopyStep {
                item,
                digest,
                reason: CopyReason::New,
            }),
        }
    }

    /// Keys in the destination that no source secret matched, sorted.
    pub fn unmatched(self) -> Vec<SecretKey> {
        let mut extra: Vec<SecretKey> = self.dest.into_keys().collect();
        extra.sort();
        extra
    }
}

/// Whether `checkpoint` recorded `key` as verified with `digest`.
pub fn in_checkpoint(checkpoint: Option<&Checkpoint>, key: &SecretKey, digest: &str) -> bool {
    checkpoint
        .and_then(|c| c.get(key))
        .is_some_and(|done| done.digest == digest)
}

impl Plan {
    /// Compares the source's items with the destination's (in key order); reserved keys are
    /// ignored.
    pub fn build(
        source: Vec<Item>,
        destination: Vec<Item>,
        checkpoint: Option<&Checkpoint>,
    ) -> Plan {
        let mut classifier = Classifier::new(destination);
        let mut plan = Plan::default();
        let mut source = source;
        source.sort_by(|a, b| a.key.cmp(&b.key));
        for item in source {
            match classifier.classify(item, |k, d| in_checkpoint(checkpoint, k, d)) {
                Step::Copy(c) => plan.copy.push(c),
                Step::Skip(s) => plan.skip.push(s),
                Step::Ignore => {}
            }
        }
        plan.extra_in_destination = classifier.unmatched();
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
