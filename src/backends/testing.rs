//! The conformance suite every backend runs (feature `test-util`): [`run_all`] and each case as
//! its own `pub async fn`.
//!
//! The suite is safe on a store that is not empty and is shared with other runs (the AWS
//! emulator, a SQL database): every case uses a fresh random namespace prefix and random org ids
//! of one million and up, checks only the keys it wrote (containment in `get_all` and in
//! all-organizations listings, exact membership in listings of its own unique namespaces), and
//! deletes what it wrote when it passes. A failing case panics with the case name, the backend
//! name and what was wrong; messages show keys and value lengths, never values.
//!
//! The whole of [`run_all`] makes well under 250 store calls, so it stays quick on network
//! backends.

use std::collections::BTreeMap;
use std::fmt::Display;

use rand::Rng;

use super::SecretStore;
use crate::domain::{Item, ListFilter, SecretKey, SecretValue};

mod cases;
mod names;
#[cfg(test)]
mod selftest;

pub use cases::*;
pub use names::*;

/// Runs every case in order and panics on the first failure.
pub async fn run_all(store: &dyn SecretStore) {
    absent_get(store).await;
    set_get_round_trip(store).await;
    overwrite(store).await;
    idempotent_delete(store).await;
    rename_moves_value(store).await;
    rename_missing_source_is_noop(store).await;
    rename_onto_existing_replaces(store).await;
    rename_same_namespace_is_noop(store).await;
    org_isolation(store).await;
    exact_match_listing(store).await;
    all_organizations_listing(store).await;
    get_all_exact(store).await;
    bulk_reads(store).await;
    unicode_and_slashes(store).await;
    empty_value(store).await;
    max_size_value(store).await;
    multiline_json_value(store).await;
    case_sensitive_keys(store).await;
}

/// Per-case context: a unique namespace prefix, two random orgs, and helpers that panic with a
/// clear message on any error.
#[derive(Debug)]
pub struct Case<'a> {
    name: &'static str,
    store: &'a dyn SecretStore,
    prefix: String,
    /// A random org id ≥ 1,000,000.
    pub org_a: i64,
    /// Another random org id, distinct from `org_a`.
    pub org_b: i64,
    written: Vec<SecretKey>,
}

impl<'a> Case<'a> {
    /// Starts case `name` on `store` with a fresh prefix and fresh orgs.
    pub fn new(name: &'static str, store: &'a dyn SecretStore) -> Self {
        let mut rng = rand::thread_rng();
        let org_a = 1_000_000 + rng.gen_range(0..1_000_000_000i64);
        let id = uuid::Uuid::new_v4().simple().to_string();
        Self {
            name,
            store,
            prefix: format!("conformance-{}-", &id[..12]),
            org_a,
            org_b: org_a + 1 + rng.gen_range(0..1_000i64),
            written: Vec::new(),
        }
    }

    /// Panics with the case and backend named.
    #[track_caller]
    pub fn fail(&self, msg: impl Display) -> ! {
        panic!(
            "conformance case `{}` failed on backend `{}`: {msg}",
            self.name,
            self.store.name()
        )
    }

    /// This case's unique namespace for `suffix`.
    pub fn ns(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.prefix)
    }

    /// A validated key in `org` under this case's namespace `suffix`.
    #[track_caller]
    pub fn key(&self, org: i64, suffix: &str, kind: &str) -> SecretKey {
        SecretKey::new(org, self.ns(suffix), kind)
            .unwrap_or_else(|e| self.fail(format!("building a key failed: {e}")))
    }

    /// A value unique to this case.
    pub fn unique_value(&self, label: &str) -> String {
        format!("{label}-{}", uuid::Uuid::new_v4())
    }

    /// Stores `value` under `key`.
    pub async fn set(&mut self, key: &SecretKey, value: &str) {
        let v = SecretValue::new(value)
            .unwrap_or_else(|e| self.fail(format!("building a value failed: {e}")));
        if let Err(e) = self.store.set(key, &v).await {
            self.fail(format!("set({key}) returned an error: {e}"));
        }
        self.written.push(key.clone());
    }

    /// Stores a new value unique to this case (see [`Case::unique_value`]) under `key`; returns it.
    pub async fn set_unique(&mut self, key: &SecretKey, label: &str) -> String {
        let value = self.unique_value(label);
        self.set(key, &value).await;
        value
    }

    /// The stored value, as a plain string.
    pub async fn get(&self, key: &SecretKey) -> Option<String> {
        match self.store.get(key).await {
            Ok(v) => v.map(|v| v.expose().to_string()),
            Err(e) => self.fail(format!("get({key}) returned an error: {e}")),
        }
    }

    /// Asserts that `key` holds exactly `expected` (`None`: absent).
    pub async fn expect(&self, key: &SecretKey, expected: Option<&str>, when: &str) {
        let got = self.get(key).await;
        if got.as_deref() != expected {
            self.fail(format!(
                "{when}: get({key}) returned {}, expected {}",
                describe(got.as_deref()),
                describe(expected)
            ));
        }
    }

    /// Deletes `key`.
    pub async fn delete(&self, key: &SecretKey) {
        if let Err(e) = self.store.delete(key).await {
            self.fail(format!("delete({key}) returned an error: {e}"));
        }
    }

    /// Renames `key` to namespace `new_ns` (full namespace, not a suffix).
    pub async fn rename(&mut self, key: &SecretKey, new_ns: &str) {
        if let Err(e) = self.store.rename(key, new_ns).await {
            self.fail(format!("rename({key} → {new_ns:?}) returned an error: {e}"));
        }
        if let Ok(k) = key.with_namespace(new_ns) {
            self.written.push(k);
        }
    }

    /// Lists with `org` (None: all organizations), the full namespace `ns` and `kind`.
    pub async fn list(&self, org: Option<i64>, ns: &str, kind: &str) -> Vec<SecretKey> {
        let filter = ListFilter::new(org, ns, kind)
            .unwrap_or_else(|e| self.fail(format!("building a list filter failed: {e}")));
        match self.store.list(&filter).await {
            Ok(keys) => {
                if let Some(k) = keys.iter().find(|k| !filter.matches(k)) {
                    self.fail(format!(
                        "list({filter:?}) returned {k}, which does not match"
                    ));
                }
                keys
            }
            Err(e) => self.fail(format!("list({filter:?}) returned an error: {e}")),
        }
    }

    /// Asserts that the listing equals `expected` as a set (no duplicates).
    pub async fn expect_list(
        &self,
        org: Option<i64>,
        ns: &str,
        kind: &str,
        expected: &[&SecretKey],
    ) {
        let got = self.list(org, ns, kind).await;
        let mut got_sorted = got.clone();
        got_sorted.sort();
        let mut want: Vec<SecretKey> = expected.iter().map(|k| (*k).clone()).collect();
        want.sort();
        if got_sorted != want {
            self.fail(format!(
                "list(org {org:?}, namespace {ns:?}, type {kind:?}) returned {got:?}, expected \
                 exactly {want:?}"
            ));
        }
    }

    /// Every item of the store whose namespace starts with this case's prefix, checking that no
    /// key appears twice.
    pub async fn get_all_mine(&self) -> BTreeMap<SecretKey, String> {
        let all: Vec<Item> = match self.store.get_all().await {
            Ok(items) => items,
            Err(e) => self.fail(format!("get_all() returned an error: {e}")),
        };
        let mut mine = BTreeMap::new();
        for item in all {
            if !item.key.namespace().starts_with(&self.prefix) {
                continue;
            }
            let key = item.key.clone();
            if mine
                .insert(item.key, item.value.expose().to_string())
                .is_some()
            {
                self.fail(format!("get_all() returned {key} more than once"));
            }
        }
        mine
    }

    /// Asserts that `get_all`, restricted to this case's keys, is exactly `expected`.
    pub async fn expect_get_all(&self, expected: &[(&SecretKey, &str)], when: &str) {
        let got = self.get_all_mine().await;
        let want: BTreeMap<SecretKey, String> = expected
            .iter()
            .map(|(k, v)| ((*k).clone(), v.to_string()))
            .collect();
        for (k, v) in &want {
            match got.get(k) {
                None => self.fail(format!("{when}: get_all() is missing {k}")),
                Some(g) if g != v => self.fail(format!(
                    "{when}: get_all() has {} for {k}, expected {}",
                    describe(Some(g)),
                    describe(Some(v))
                )),
                Some(_) => {}
            }
        }
        if let Some(k) = got.keys().find(|k| !want.contains_key(*k)) {
            self.fail(format!("{when}: get_all() has {k}, which should not exist"));
        }
    }

    /// Deletes everything this case wrote (the case passed; leave a shared store tidy).
    pub async fn cleanup(mut self) {
        let mut written = std::mem::take(&mut self.written);
        written.sort();
        written.dedup();
        for key in &written {
            self.delete(key).await;
        }
    }
}

/// A value described by its length and a short digest, never its content.
pub fn describe(v: Option<&str>) -> String {
    match v {
        None => "nothing (absent)".into(),
        Some(s) => {
            let d = SecretValue::new(s)
                .map(|v| v.digest()[..12].to_string())
                .unwrap_or_else(|_| "oversized".into());
            format!("a value of {} bytes (sha256 {d}…)", s.len())
        }
    }
}
