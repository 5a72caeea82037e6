//! Comparing and repairing two stores: drift (keys missing from the second, extra in the second,
//! and present in both with different values, compared by SHA-256 digest, never printed) and
//! `reconcile` (make the second match the first). The mirror backend and the migration's
//! `verify`/`reconcile` commands both use it; the migration's lease key is never compared.
//! Also the retry of transient backend errors both use.

use std::collections::HashMap;
use std::time::Duration;

use serde::Serialize;

use super::{Error, Result, SecretStore};
use crate::domain::{Item, KeyRecord, SecretKey, SecretValue};

/// Namespace of the migration's reserved lease key.
pub const LEASE_NAMESPACE: &str = "__secrets_broker_migration__";
/// Type of the migration's reserved lease key.
pub const LEASE_TYPE: &str = "lease";

/// Whether `key` is the migration's lease key (not a secret: never copied, compared or deleted).
pub fn is_reserved(key: &SecretKey) -> bool {
    key.org_id() == 0 && key.namespace() == LEASE_NAMESPACE && key.kind() == LEASE_TYPE
}

/// A comparison that could not read one of the two stores.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    /// Reading the reference store failed.
    #[error("reading the source ({store}) failed: {source}")]
    Source {
        /// Backend name.
        store: &'static str,
        /// The backend's error.
        #[source]
        source: Error,
    },
    /// Reading the other store failed.
    #[error("the destination ({store}) failed: {source}")]
    Destination {
        /// Backend name.
        store: &'static str,
        /// The backend's error.
        #[source]
        source: Error,
    },
}

/// Exponential backoff with jitter: 50 ms · 2^attempt, at most 5 s.
pub async fn backoff(attempt: u32) {
    let base = 50u64.saturating_mul(1 << attempt.min(7)).min(5_000);
    let jitter = rand::random::<f64>() * 0.5 + 0.5;
    tokio::time::sleep(Duration::from_millis((base as f64 * jitter) as u64)).await;
}

/// Retries `op` on transient errors (up to `attempts` tries), backing off between tries.
pub async fn with_retries<T, F, Fut>(attempts: u32, mut op: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut attempt = 0;
    loop {
        match op().await {
            Err(e) if e.is_transient() && attempt + 1 < attempts => {
                attempt += 1;
                backoff(attempt).await;
            }
            other => return other,
        }
    }
}

const ATTEMPTS: u32 = 8;

/// The differences between a reference store `a` and another store `b`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Drift {
    /// Secrets compared (in `a` or `b`, reserved keys excluded).
    pub compared: usize,
    /// In `a`, not in `b`.
    pub missing: Vec<KeyRecord>,
    /// In `b`, not in `a`.
    pub extra: Vec<KeyRecord>,
    /// In both, with different values.
    pub different: Vec<KeyRecord>,
}

impl Drift {
    /// Whether the stores hold the same secrets with the same values.
    pub fn is_clean(&self) -> bool {
        self.missing.is_empty() && self.extra.is_empty() && self.different.is_empty()
    }

    /// One line per difference, then a summary line.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        for (what, keys) in [
            ("missing", &self.missing),
            ("extra", &self.extra),
            ("different", &self.different),
        ] {
            for k in keys {
                out.push_str(&format!(
                    "{what}: org {}, namespace {:?}, type {:?}\n",
                    k.org_id, k.namespace, k.kind
                ));
            }
        }
        out.push_str(&format!(
            "compared {}: {} missing, {} extra, {} different\n",
            self.compared,
            self.missing.len(),
            self.extra.len(),
            self.different.len()
        ));
        out
    }
}

/// Compares every secret of `a` with `b`.
pub async fn compare(a: &dyn SecretStore, b: &dyn SecretStore) -> Result<Drift, CompareError> {
    Ok(compare_items(a, b).await?.0)
}

type Values = HashMap<SecretKey, SecretValue>;

/// Every item of `store` (retried), or the failure as the side of the comparison `side` makes it.
async fn all_items(
    store: &dyn SecretStore,
    side: impl FnOnce(&'static str, Error) -> CompareError,
) -> Result<Vec<Item>, CompareError> {
    with_retries(ATTEMPTS, || store.get_all())
        .await
        .map_err(|source| side(store.name(), source))
}

async fn compare_items(
    a: &dyn SecretStore,
    b: &dyn SecretStore,
) -> Result<(Drift, Values), CompareError> {
    let a_items = all_items(a, |store, source| CompareError::Source { store, source }).await?;
    let b_items = all_items(b, |store, source| CompareError::Destination {
        store,
        source,
    })
    .await?;
    let mut b_digests: HashMap<SecretKey, String> = b_items
        .into_iter()
        .filter(|i| !is_reserved(&i.key))
        .map(|i| (i.key, i.value.digest()))
        .collect();
    let mut drift = Drift::default();
    let mut values = HashMap::new();
    for item in a_items.into_iter().filter(|i| !is_reserved(&i.key)) {
        drift.compared += 1;
        match b_digests.remove(&item.key) {
            None => drift.missing.push(KeyRecord::from(&item.key)),
            Some(d) if d != item.value.digest() => drift.different.push(KeyRecord::from(&item.key)),
            Some(_) => continue,
        }
        values.insert(item.key, item.value);
    }
    drift.compared += b_digests.len();
    drift.extra = b_digests.keys().map(KeyRecord::from).collect();
    drift.missing.sort();
    drift.extra.sort();
    drift.different.sort();
    Ok((drift, values))
}

/// What `reconcile` found and did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Reconciled {
    /// The drift found before repairing.
    pub drift: Drift,
    /// Whether this was a dry run (nothing changed).
    pub dry_run: bool,
    /// Secrets written to `b` (missing or different).
    pub repaired: usize,
    /// Extra secrets deleted from `b` (`prune` only).
    pub pruned: usize,
    /// Repairs that failed, with the reason.
    pub failures: Vec<(KeyRecord, String)>,
}

/// Makes `b` match `a`: writes missing and different secrets from `a` into `b`; deletes secrets
/// only in `b` when `prune` is set (otherwise they are reported only). With `dry_run`, reports
/// and changes nothing.
pub async fn reconcile(
    a: &dyn SecretStore,
    b: &dyn SecretStore,
    dry_run: bool,
    prune: bool,
) -> Result<Reconciled, CompareError> {
    let (drift, values) = compare_items(a, b).await?;
    let mut out = Reconciled {
        dry_run,
        ..Reconciled::default()
    };
    if !dry_run {
        let mut keys: Vec<&SecretKey> = values.keys().collect();
        keys.sort();
        for key in keys {
            let value = &values[key];
            match with_retries(ATTEMPTS, || b.set(key, value)).await {
                Ok(()) => out.repaired += 1,
                Err(e) => out.failures.push((KeyRecord::from(key), e.to_string())),
            }
        }
        if prune {
            for rec in &drift.extra {
                let key = match SecretKey::new(rec.org_id, rec.namespace.clone(), rec.kind.clone())
                {
                    Ok(k) => k,
                    Err(e) => {
                        out.failures.push((rec.clone(), e.to_string()));
                        continue;
                    }
                };
                match with_retries(ATTEMPTS, || b.delete(&key)).await {
                    Ok(()) => out.pruned += 1,
                    Err(e) => out.failures.push((rec.clone(), e.to_string())),
                }
            }
        }
    }
    out.drift = drift;
    Ok(out)
}
