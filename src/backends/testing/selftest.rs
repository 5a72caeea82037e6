//! Tests of the suite itself: a correct in-memory store passes [`run_all`], and each planted bug
//! makes it fail.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::run_all;
use crate::backends::{Result, SecretStore};
use crate::domain::{Item, ListFilter, Rename, SecretKey, SecretValue};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bug {
    None,
    RenameKeepsSource,
    RenameOntoExistingKeepsTarget,
    ListMatchesNamespacePrefix,
    ListIgnoresType,
    ListIgnoresOrg,
    GetIgnoresOrg,
    CaseInsensitive,
    EmptyValueIsAbsent,
    DeleteAbsentFails,
    GetAllSkipsOrgZero,
    TruncatesLargeValues,
}

#[derive(Debug)]
struct MemStore {
    bug: Bug,
    map: Mutex<BTreeMap<(i64, String, String), SecretValue>>,
}

impl MemStore {
    fn id(&self, k: &SecretKey) -> (i64, String, String) {
        let org = if self.bug == Bug::GetIgnoresOrg {
            0
        } else {
            k.org_id()
        };
        let fold = |s: &str| {
            if self.bug == Bug::CaseInsensitive {
                s.to_lowercase()
            } else {
                s.to_string()
            }
        };
        (org, fold(k.namespace()), fold(k.kind()))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(i64, String, String), SecretValue>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl SecretStore for MemStore {
    fn name(&self) -> &'static str {
        "selftest-memory"
    }
    async fn get(&self, key: &SecretKey) -> Result<Option<SecretValue>> {
        let v = self.lock().get(&self.id(key)).cloned();
        Ok(v.filter(|v| !(self.bug == Bug::EmptyValueIsAbsent && v.is_empty())))
    }
    async fn set(&self, key: &SecretKey, value: &SecretValue) -> Result<()> {
        let mut value = value.clone();
        if self.bug == Bug::TruncatesLargeValues && value.len() > 60_000 {
            let text = value.expose();
            let cut = (0..=60_000)
                .rev()
                .find(|&i| text.is_char_boundary(i))
                .unwrap_or(0);
            value = SecretValue::new(&text[..cut]).map_err(crate::backends::Error::from)?;
        }
        self.lock().insert(self.id(key), value);
        Ok(())
    }
    async fn delete(&self, key: &SecretKey) -> Result<()> {
        let removed = self.lock().remove(&self.id(key));
        if removed.is_none() && self.bug == Bug::DeleteAbsentFails {
            return Err(crate::backends::Error::Storage("no such key".into()));
        }
        Ok(())
    }
    async fn list(&self, f: &ListFilter) -> Result<Vec<SecretKey>> {
        let map = self.lock();
        let mut out = Vec::new();
        for (org, ns, kind) in map.keys() {
            let ns_ok = match self.bug {
                Bug::ListMatchesNamespacePrefix => ns.starts_with(f.namespace()),
                _ => ns == f.namespace(),
            };
            let kind_ok = self.bug == Bug::ListIgnoresType || kind == f.kind();
            let org_ok = self.bug == Bug::ListIgnoresOrg || f.org_id().is_none_or(|o| o == *org);
            if ns_ok && kind_ok && org_ok {
                out.push(SecretKey::new(*org, ns.clone(), f.kind())?);
            }
        }
        Ok(out)
    }
    async fn rename_key(&self, rename: &Rename) -> Result<()> {
        let mut map = self.lock();
        let (src, dst) = (self.id(rename.source()), self.id(rename.target()));
        if src == dst {
            return Ok(());
        }
        let Some(v) = map.get(&src).cloned() else {
            return Ok(());
        };
        if self.bug != Bug::RenameKeepsSource {
            map.remove(&src);
        }
        if self.bug == Bug::RenameOntoExistingKeepsTarget && map.contains_key(&dst) {
            return Ok(());
        }
        map.insert(dst, v);
        Ok(())
    }
    async fn get_all(&self) -> Result<Vec<Item>> {
        let map = self.lock();
        let mut out = Vec::new();
        for ((org, ns, kind), v) in map.iter() {
            if self.bug == Bug::GetAllSkipsOrgZero && *org == 0 {
                continue;
            }
            out.push(Item {
                key: SecretKey::new(*org, ns.clone(), kind.clone())?,
                value: v.clone(),
            });
        }
        Ok(out)
    }
}

async fn passes(bug: Bug) -> bool {
    let store = Arc::new(MemStore {
        bug,
        map: Mutex::new(BTreeMap::new()),
    });
    tokio::spawn(async move { run_all(store.as_ref()).await })
        .await
        .is_ok()
}

#[tokio::test]
async fn correct_store_passes_and_every_planted_bug_fails() {
    assert!(
        passes(Bug::None).await,
        "a correct store must pass the suite"
    );
    for bug in [
        Bug::RenameKeepsSource,
        Bug::RenameOntoExistingKeepsTarget,
        Bug::ListMatchesNamespacePrefix,
        Bug::ListIgnoresType,
        Bug::ListIgnoresOrg,
        Bug::GetIgnoresOrg,
        Bug::CaseInsensitive,
        Bug::EmptyValueIsAbsent,
        Bug::DeleteAbsentFails,
        Bug::GetAllSkipsOrgZero,
        Bug::TruncatesLargeValues,
    ] {
        assert!(
            !passes(bug).await,
            "the suite missed the planted bug {bug:?}"
        );
    }
}
