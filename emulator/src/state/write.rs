//! Write handles over the state: every account ([`Writer`]), one account ([`AccountWrite`]), one
//! region ([`RegionWrite`]) and one secret ([`SecretMut`]). They read like the maps they wrap;
//! every change through them is recorded in the transaction's change set, so nothing changes
//! without reaching the store.

use std::collections::btree_map::Entry;
use std::collections::HashMap;
use std::ops::{Deref, DerefMut};

use crate::model::{Secret, SecretData};

use super::changes::Changes;
use super::{Accounts, Region};

/// Write access to every account.
#[derive(Debug)]
pub struct Writer<'a> {
    pub(super) accounts: &'a mut Accounts,
    pub(super) changes: &'a mut Changes,
}

/// Write access to the regions of one account.
#[derive(Debug)]
pub struct AccountWrite<'a> {
    regions: &'a mut HashMap<String, Region>,
    account: &'a str,
    changes: &'a mut Changes,
}

/// Write access to the secrets of one account in one region.
#[derive(Debug)]
pub struct RegionWrite<'a> {
    secrets: &'a mut Region,
    account: &'a str,
    region: &'a str,
    changes: &'a mut Changes,
}

/// Write access to one secret: reading is free, and the first mutable access records the secret
/// as changed (its record is written when the transaction finishes).
#[derive(Debug)]
pub struct SecretMut<'a> {
    secret: &'a mut Secret,
    account: &'a str,
    region: &'a str,
    changes: &'a mut Changes,
    marked: bool,
}

impl Deref for Writer<'_> {
    type Target = Accounts;
    fn deref(&self) -> &Accounts {
        self.accounts
    }
}

impl Writer<'_> {
    /// The regions of `account` (created if new).
    pub fn account<'s>(&'s mut self, account: &'s str) -> AccountWrite<'s> {
        let regions = self.accounts.entry(account.to_string()).or_default();
        AccountWrite {
            regions,
            account,
            changes: self.changes,
        }
    }

    /// The secrets of `account` in `region` (created if new).
    pub fn region<'s>(&'s mut self, account: &'s str, region: &'s str) -> RegionWrite<'s> {
        let Writer { accounts, changes } = self;
        let regions = accounts.entry(account.to_string()).or_default();
        region_in(regions, account, region, changes)
    }

    /// Secret `name` of `account` in `region`, if it exists.
    pub fn secret_mut<'s>(
        &'s mut self,
        account: &'s str,
        region: &'s str,
        name: &str,
    ) -> Option<SecretMut<'s>> {
        let secret = self
            .accounts
            .get_mut(account)?
            .get_mut(region)?
            .get_mut(name)?;
        Some(SecretMut::new(secret, account, region, self.changes))
    }
}

fn region_in<'s>(
    regions: &'s mut HashMap<String, Region>,
    account: &'s str,
    region: &'s str,
    changes: &'s mut Changes,
) -> RegionWrite<'s> {
    let secrets = regions.entry(region.to_string()).or_default();
    RegionWrite {
        secrets,
        account,
        region,
        changes,
    }
}

impl Deref for AccountWrite<'_> {
    type Target = HashMap<String, Region>;
    fn deref(&self) -> &HashMap<String, Region> {
        self.regions
    }
}

impl AccountWrite<'_> {
    /// What the transaction changed so far.
    pub(super) fn changes(&self) -> &Changes {
        self.changes
    }

    /// The secrets of this account in `region` (created if new).
    pub fn region<'s>(&'s mut self, region: &'s str) -> RegionWrite<'s> {
        region_in(self.regions, self.account, region, self.changes)
    }

    /// Secret `name` of this account in `region`, if it exists.
    pub fn secret_mut<'s>(&'s mut self, region: &'s str, name: &str) -> Option<SecretMut<'s>> {
        let secret = self.regions.get_mut(region)?.get_mut(name)?;
        Some(SecretMut::new(secret, self.account, region, self.changes))
    }
}

impl Deref for RegionWrite<'_> {
    type Target = Region;
    fn deref(&self) -> &Region {
        self.secrets
    }
}

impl RegionWrite<'_> {
    /// Secret `name`, if it exists.
    pub fn secret_mut(&mut self, name: &str) -> Option<SecretMut<'_>> {
        let secret = self.secrets.get_mut(name)?;
        Some(SecretMut::new(
            secret,
            self.account,
            self.region,
            self.changes,
        ))
    }

    /// Puts `s` under its name, in place of any secret of that name; returns it, changed.
    pub fn insert(&mut self, s: Secret) -> SecretMut<'_> {
        let (secret, old) = match self.secrets.entry(s.name.clone()) {
            Entry::Occupied(e) => {
                let slot = e.into_mut();
                let old = std::mem::replace(slot, Box::new(s));
                (slot, Some(old))
            }
            Entry::Vacant(e) => (e.insert(Box::new(s)), None),
        };
        self.changes
            .replaced(self.account, self.region, &secret.name, old.as_deref());
        SecretMut {
            secret,
            account: self.account,
            region: self.region,
            changes: self.changes,
            marked: true,
        }
    }

    /// Removes secret `name` with its versions and values.
    pub fn remove(&mut self, name: &str) -> Option<Box<Secret>> {
        let s = self.secrets.remove(name)?;
        self.changes.remove(self.account, self.region, &s);
        Some(s)
    }
}

impl<'a> SecretMut<'a> {
    fn new(
        secret: &'a mut Secret,
        account: &'a str,
        region: &'a str,
        changes: &'a mut Changes,
    ) -> SecretMut<'a> {
        SecretMut {
            secret,
            account,
            region,
            changes,
            marked: false,
        }
    }

    /// Writes the value of the version with record number `rec` (in this secret's account and
    /// region: a replica that stops following its primary takes its values in).
    pub fn set_value(&mut self, rec: u64, data: &SecretData) {
        let _ = self.deref_mut();
        self.changes.put_value(self.account, self.region, rec, data);
    }
}

impl Deref for SecretMut<'_> {
    type Target = Secret;
    fn deref(&self) -> &Secret {
        self.secret
    }
}

impl DerefMut for SecretMut<'_> {
    fn deref_mut(&mut self) -> &mut Secret {
        if !self.marked {
            self.changes.mark(self.account, self.region, self.secret);
            self.marked = true;
        }
        self.secret
    }
}
