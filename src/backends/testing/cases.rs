//! Conformance cases for the core contract: absent get, round trip, overwrite, delete, rename,
//! org isolation, listing, `get_all` and the bulk reads (`get_many`, `get_all_batched`).

use std::collections::BTreeMap;

use super::{describe, Case};
use crate::backends::SecretStore;
use crate::domain::{SecretKey, SecretValue};

const T: &str = "datasource";

/// Getting a key that was never written is `Ok(None)`, not an error.
pub async fn absent_get(store: &dyn SecretStore) {
    let c = Case::new("absent_get", store);
    c.expect(&c.key(c.org_a, "never-written", T), None, "fresh key")
        .await;
    c.expect(&c.key(0, "never-written", T), None, "fresh key in org 0")
        .await;
}

/// A value set is the value got back.
pub async fn set_get_round_trip(store: &dyn SecretStore) {
    let mut c = Case::new("set_get_round_trip", store);
    let k = c.key(c.org_a, "db", T);
    let v = c.set_unique(&k, "round-trip").await;
    c.expect(&k, Some(&v), "after set").await;
    c.cleanup().await;
}

/// A second set replaces the first value.
pub async fn overwrite(store: &dyn SecretStore) {
    let mut c = Case::new("overwrite", store);
    let k = c.key(c.org_a, "db", T);
    let (v1, v2) = (c.unique_value("first"), c.unique_value("second"));
    c.set(&k, &v1).await;
    c.set(&k, &v2).await;
    c.expect(&k, Some(&v2), "after overwrite").await;
    c.expect_list(Some(c.org_a), &c.ns("db"), T, &[&k]).await;
    c.cleanup().await;
}

/// Deleting an absent key succeeds; a deleted key is gone; deleting twice succeeds.
pub async fn idempotent_delete(store: &dyn SecretStore) {
    let mut c = Case::new("idempotent_delete", store);
    let k = c.key(c.org_a, "db", T);
    c.delete(&c.key(c.org_a, "never-written", T)).await;
    c.set(&k, &c.unique_value("doomed")).await;
    c.delete(&k).await;
    c.expect(&k, None, "after delete").await;
    c.delete(&k).await;
    c.expect(&k, None, "after a second delete").await;
    c.expect_list(Some(c.org_a), &c.ns("db"), T, &[]).await;
}

/// Rename moves the value to the new namespace (same org and type) and removes the old key.
pub async fn rename_moves_value(store: &dyn SecretStore) {
    let mut c = Case::new("rename_moves_value", store);
    let old = c.key(c.org_a, "old", T);
    let new = c.key(c.org_a, "new", T);
    let other_org = c.key(c.org_b, "old", T);
    let v = c.set_unique(&old, "moving").await;
    let v_other = c.set_unique(&other_org, "stays").await;
    c.rename(&old, &c.ns("new")).await;
    c.expect(&old, None, "source after rename").await;
    c.expect(&new, Some(&v), "target after rename").await;
    c.expect(
        &other_org,
        Some(&v_other),
        "same namespace in another org after rename",
    )
    .await;
    c.expect_list(Some(c.org_a), &c.ns("old"), T, &[]).await;
    c.expect_list(Some(c.org_a), &c.ns("new"), T, &[&new]).await;
    c.cleanup().await;
}

/// Renaming a key that does not exist succeeds and creates nothing.
pub async fn rename_missing_source_is_noop(store: &dyn SecretStore) {
    let mut c = Case::new("rename_missing_source_is_noop", store);
    let src = c.key(c.org_a, "missing", T);
    let dst = c.key(c.org_a, "target", T);
    c.rename(&src, &c.ns("target")).await;
    c.expect(&src, None, "missing source after rename").await;
    c.expect(&dst, None, "target of renaming a missing source")
        .await;
}

/// Renaming onto an existing key replaces the target's value and removes the source.
pub async fn rename_onto_existing_replaces(store: &dyn SecretStore) {
    let mut c = Case::new("rename_onto_existing_replaces", store);
    let src = c.key(c.org_a, "src", T);
    let dst = c.key(c.org_a, "dst", T);
    let vs = c.set_unique(&src, "source").await;
    c.set_unique(&dst, "stale-target").await;
    c.rename(&src, &c.ns("dst")).await;
    c.expect(&src, None, "source after rename onto an existing key")
        .await;
    c.expect(&dst, Some(&vs), "existing target after rename onto it")
        .await;
    c.expect_list(Some(c.org_a), &c.ns("dst"), T, &[&dst]).await;
    c.cleanup().await;
}

/// Renaming to the namespace a key already has changes nothing.
pub async fn rename_same_namespace_is_noop(store: &dyn SecretStore) {
    let mut c = Case::new("rename_same_namespace_is_noop", store);
    let k = c.key(c.org_a, "same", T);
    let v = c.set_unique(&k, "unchanged").await;
    c.rename(&k, &c.ns("same")).await;
    c.expect(&k, Some(&v), "after renaming to the same namespace")
        .await;
    c.cleanup().await;
}

/// The same namespace and type in two orgs are two secrets; an org filter shows only its org.
pub async fn org_isolation(store: &dyn SecretStore) {
    let mut c = Case::new("org_isolation", store);
    let a = c.key(c.org_a, "shared-name", T);
    let b = c.key(c.org_b, "shared-name", T);
    let va = c.set_unique(&a, "org-a").await;
    let vb = c.set_unique(&b, "org-b").await;
    c.expect(&a, Some(&va), "org A").await;
    c.expect(&b, Some(&vb), "org B").await;
    let ns = c.ns("shared-name");
    c.expect_list(Some(c.org_a), &ns, T, &[&a]).await;
    c.expect_list(Some(c.org_b), &ns, T, &[&b]).await;
    c.delete(&a).await;
    c.expect(&b, Some(&vb), "org B after deleting org A's key")
        .await;
    c.expect_list(Some(c.org_a), &ns, T, &[]).await;
    c.cleanup().await;
}

/// Listing matches namespace and type exactly: a prefix or superstring of the namespace, or
/// another type, does not match.
pub async fn exact_match_listing(store: &dyn SecretStore) {
    let mut c = Case::new("exact_match_listing", store);
    let org = c.org_a;
    let target = c.key(org, "db", T);
    let decoys = [
        c.key(org, "d", T),
        c.key(org, "db2", T),
        c.key(org, "db/x", T),
        c.key(org, "db ", T),
        c.key(org, "db", "datasourc"),
        c.key(org, "db", "datasource2"),
        c.key(org, "db", "other"),
    ];
    c.set(&target, &c.unique_value("target")).await;
    for d in &decoys {
        c.set(d, &c.unique_value("decoy")).await;
    }
    c.expect_list(Some(org), &c.ns("db"), T, &[&target]).await;
    c.expect_list(None, &c.ns("db"), T, &[&target]).await;
    c.expect_list(Some(org), &c.ns("db"), "other", &[&decoys[6]])
        .await;
    c.expect_list(Some(org), &c.ns("nothing-here"), T, &[])
        .await;
    c.cleanup().await;
}

/// Listing without an org returns the key in every org (and in org 0).
pub async fn all_organizations_listing(store: &dyn SecretStore) {
    let mut c = Case::new("all_organizations_listing", store);
    let keys = [
        c.key(c.org_a, "everywhere", T),
        c.key(c.org_b, "everywhere", T),
        c.key(0, "everywhere", T),
    ];
    for k in &keys {
        c.set(k, &c.unique_value("org")).await;
    }
    c.set(&c.key(c.org_a, "everywhere", "other"), "other type")
        .await;
    let ns = c.ns("everywhere");
    c.expect_list(None, &ns, T, &[&keys[0], &keys[1], &keys[2]])
        .await;
    c.expect_list(Some(0), &ns, T, &[&keys[2]]).await;
    c.cleanup().await;
}

/// `get_all` holds exactly the values written, after overwrite, delete and rename too.
pub async fn get_all_exact(store: &dyn SecretStore) {
    let mut c = Case::new("get_all_exact", store);
    let a = c.key(c.org_a, "a", T);
    let b = c.key(c.org_b, "b", "other-type");
    let gone = c.key(c.org_a, "gone", T);
    let moved_from = c.key(c.org_a, "moved-from", T);
    let moved_to = c.key(c.org_a, "moved-to", T);
    let zero = c.key(0, "zero", T);
    let (va, vb, vg, vm, vz) = (
        c.unique_value("a"),
        c.unique_value("b"),
        c.unique_value("g"),
        c.unique_value("m"),
        c.unique_value("z"),
    );
    c.set(&a, &c.unique_value("a-old")).await;
    c.set(&a, &va).await;
    c.set(&b, &vb).await;
    c.set(&gone, &vg).await;
    c.set(&moved_from, &vm).await;
    c.set(&zero, &vz).await;
    c.expect_get_all(
        &[
            (&a, &va),
            (&b, &vb),
            (&gone, &vg),
            (&moved_from, &vm),
            (&zero, &vz),
        ],
        "after the writes",
    )
    .await;
    c.delete(&gone).await;
    c.rename(&moved_from, &c.ns("moved-to")).await;
    c.expect_get_all(
        &[(&a, &va), (&b, &vb), (&moved_to, &vm), (&zero, &vz)],
        "after delete and rename",
    )
    .await;
    c.cleanup().await;
}

/// `get_many` answers in the order asked with `None` for absent keys (23 keys: more than one
/// AWS batch of 20), and `get_all_batched` delivers the same secrets as `get_all`.
pub async fn bulk_reads(store: &dyn SecretStore) {
    let mut c = Case::new("bulk_reads", store);
    let mut keys = Vec::new();
    let mut values = Vec::new();
    for i in 0..23 {
        let key = c.key(
            if i % 2 == 0 { c.org_a } else { c.org_b },
            &format!("bulk-{i}"),
            T,
        );
        let value = c.set_unique(&key, &format!("v{i}")).await;
        keys.push(key);
        values.push(value);
    }
    let missing = c.key(c.org_a, "bulk-missing", T);
    let mut ask = keys.clone();
    ask.insert(7, missing.clone());
    let got = match store.get_many(&ask).await {
        Ok(v) => v,
        Err(e) => c.fail(format!("get_many() returned an error: {e}")),
    };
    if got.len() != ask.len() {
        c.fail(format!(
            "get_many() of {} keys answered {} values",
            ask.len(),
            got.len()
        ));
    }
    for (key, value) in ask.iter().zip(&got) {
        let want = keys
            .iter()
            .position(|k| k == key)
            .map(|i| values[i].as_str());
        let have = value.as_ref().map(SecretValue::expose);
        if have != want {
            c.fail(format!(
                "get_many() answered {} for {key}, expected {}",
                describe(have),
                describe(want)
            ));
        }
    }

    let (res, batched) = crate::backends::collect_batches(4, |tx| store.get_all_batched(tx)).await;
    if let Err(e) = res {
        c.fail(format!("get_all_batched() returned an error: {e}"));
    }
    let mine: BTreeMap<SecretKey, String> = batched
        .into_iter()
        .filter(|i| keys.contains(&i.key))
        .map(|i| (i.key, i.value.expose().to_string()))
        .collect();
    if mine != c.get_all_mine().await {
        c.fail("get_all_batched() and get_all() disagree on this case's secrets");
    }
    if mine.len() != keys.len() {
        c.fail(format!(
            "get_all_batched() delivered {} of this case's {} secrets",
            mine.len(),
            keys.len()
        ));
    }
    c.cleanup().await;
}
