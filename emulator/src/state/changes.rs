//! The record of what a transaction changed: secrets whose record must be written (with the
//! record numbers their versions had before, so removed versions are deleted), values written and
//! secrets removed. This is the only code that writes into a store transaction.

use crate::model::{Secret, SecretData};
use crate::store::Tx;

use super::Accounts;

/// What a transaction changed so far.
#[derive(Debug, Default)]
pub(super) struct Changes {
    /// Values written and secrets removed, in order.
    tx: Tx,
    /// Secrets changed (their records are written when the transaction finishes).
    dirty: Vec<Dirty>,
    /// (account, region, name) of every secret removed.
    removed: Vec<(String, String, String)>,
}

/// A secret changed by the transaction.
#[derive(Debug)]
struct Dirty {
    account: String,
    region: String,
    name: String,
    /// Record numbers of its versions when it was first changed (or of the secret it replaced).
    recs_before: Vec<u64>,
}

fn recs(s: &Secret) -> Vec<u64> {
    s.versions.iter().map(|v| v.rec).collect()
}

impl Changes {
    fn dirty_index(&self, account: &str, region: &str, name: &str) -> Option<usize> {
        self.dirty
            .iter()
            .position(|d| d.name == name && d.region == region && d.account == account)
    }

    /// Notes that `s` is about to change (before the change).
    pub(super) fn mark(&mut self, account: &str, region: &str, s: &Secret) {
        if self.dirty_index(account, region, &s.name).is_none() {
            self.push_dirty(account, region, &s.name, recs(s));
        }
    }

    fn push_dirty(&mut self, account: &str, region: &str, name: &str, recs_before: Vec<u64>) {
        self.dirty.push(Dirty {
            account: account.to_string(),
            region: region.to_string(),
            name: name.to_string(),
            recs_before,
        });
    }

    /// Notes that secret `name` was put in place of `old` (None: a new name here).
    pub(super) fn replaced(
        &mut self,
        account: &str,
        region: &str,
        name: &str,
        old: Option<&Secret>,
    ) {
        if self.dirty_index(account, region, name).is_none() {
            self.push_dirty(account, region, name, old.map(recs).unwrap_or_default());
        }
    }

    /// Writes the value of the version with record number `rec`.
    pub(super) fn put_value(&mut self, account: &str, region: &str, rec: u64, data: &SecretData) {
        self.tx.put_value(account, region, rec, data);
    }

    /// Removes secret `s` with all its versions and values (and versions it lost earlier in the
    /// transaction).
    pub(super) fn remove(&mut self, account: &str, region: &str, s: &Secret) {
        if let Some(i) = self.dirty_index(account, region, &s.name) {
            let d = self.dirty.remove(i);
            for rec in dropped(&d.recs_before, s) {
                self.tx.del_version(account, region, rec);
            }
        }
        self.tx.del_secret(account, region, s);
        self.removed
            .push((account.to_string(), region.to_string(), s.name.clone()));
    }

    /// Names of the secrets of `account` in `region` changed so far.
    pub(super) fn dirty_in(&self, account: &str, region: &str) -> Vec<String> {
        self.dirty
            .iter()
            .filter(|d| d.account == account && d.region == region)
            .map(|d| d.name.clone())
            .collect()
    }

    /// Names of the secrets of `account` removed from `region` so far.
    pub(super) fn removed_in(&self, account: &str, region: &str) -> Vec<String> {
        self.removed
            .iter()
            .filter(|(a, r, _)| a == account && r == region)
            .map(|(_, _, n)| n.clone())
            .collect()
    }

    /// The store transaction: values and removals as they happened, then the record of every
    /// changed secret as it is now (its versions' immutable parts when new or changed, and the
    /// deletion of versions it lost).
    pub(super) fn into_tx(self, accounts: &Accounts) -> Tx {
        let mut tx = self.tx;
        for d in self.dirty {
            let Some(s) = accounts
                .get(&d.account)
                .and_then(|a| a.get(&d.region))
                .and_then(|r| r.get(&d.name))
            else {
                continue;
            };
            for rec in dropped(&d.recs_before, s) {
                tx.del_version(&d.account, &d.region, rec);
            }
            tx.put_secret(&d.account, &d.region, s);
            for v in &s.versions {
                tx.put_version(&d.account, &d.region, &s.name, v);
            }
        }
        tx
    }
}

/// The record numbers in `before` that `s` no longer has.
fn dropped(before: &[u64], s: &Secret) -> Vec<u64> {
    if before.is_empty() {
        return Vec::new();
    }
    let mut now = recs(s);
    now.sort_unstable();
    before
        .iter()
        .copied()
        .filter(|r| now.binary_search(r).is_err())
        .collect()
}
