//! Conformance cases for unusual names and values: Unicode, spaces, emoji and `/` in namespaces
//! and types, keys differing only in case, the empty value, the largest value, multi-line JSON.

use super::Case;
use crate::backends::SecretStore;
use crate::domain::{MAX_KEY_PART_CHARS, MAX_VALUE_BYTES};

const T: &str = "datasource";

/// Namespaces and types with Unicode, spaces, emoji and `/` round-trip and list exactly; a rename
/// into such a namespace works.
pub async fn unicode_and_slashes(store: &dyn SecretStore) {
    let mut c = Case::new("unicode_and_slashes", store);
    let org = c.org_a;
    let names = [
        ("ünïcödé 名前 данные", T),
        ("with spaces  inside", T),
        ("emoji 🔑🚀 db", T),
        ("a/b/c", T),
        ("/leading and trailing/", "type/with/slash"),
        ("plain", "tÿpe 🔥 x"),
    ];
    let mut stored = Vec::new();
    for (suffix, kind) in names {
        let k = c.key(org, suffix, kind);
        let v = c.unique_value(suffix);
        c.set(&k, &v).await;
        stored.push((k, v));
    }
    for (k, v) in &stored {
        c.expect(k, Some(v), "unusual names").await;
        c.expect_list(Some(org), k.namespace(), k.kind(), &[k])
            .await;
    }
    let (src, v) = &stored[5];
    let target_ns = c.ns("renamed/ü 🔑");
    c.rename(src, &target_ns).await;
    let target = c.key(org, "renamed/ü 🔑", "tÿpe 🔥 x");
    c.expect(src, None, "source of a rename into a Unicode namespace")
        .await;
    c.expect(&target, Some(v), "rename into a Unicode namespace")
        .await;
    c.cleanup().await;
}

/// Keys that differ only in letter case are distinct secrets.
pub async fn case_sensitive_keys(store: &dyn SecretStore) {
    let mut c = Case::new("case_sensitive_keys", store);
    let org = c.org_a;
    let keys = [
        c.key(org, "MyDB", T),
        c.key(org, "mydb", T),
        c.key(org, "mydb", "Datasource"),
    ];
    let values: Vec<String> = keys.iter().map(|_| c.unique_value("case")).collect();
    for (k, v) in keys.iter().zip(&values) {
        c.set(k, v).await;
    }
    for (k, v) in keys.iter().zip(&values) {
        c.expect(k, Some(v), "keys differing only in case").await;
    }
    c.expect_list(Some(org), &c.ns("mydb"), T, &[&keys[1]])
        .await;
    c.expect_list(Some(org), &c.ns("MyDB"), T, &[&keys[0]])
        .await;
    c.delete(&keys[1]).await;
    c.expect(
        &keys[0],
        Some(&values[0]),
        "after deleting the lower-case twin",
    )
    .await;
    c.cleanup().await;
}

/// The empty string is a value (present, not absent).
pub async fn empty_value(store: &dyn SecretStore) {
    let mut c = Case::new("empty_value", store);
    let k = c.key(c.org_a, "empty", T);
    c.set(&k, "").await;
    c.expect(&k, Some(""), "empty value").await;
    c.expect_list(Some(c.org_a), &c.ns("empty"), T, &[&k]).await;
    c.cleanup().await;
}

/// A value of exactly [`MAX_VALUE_BYTES`] bytes, with multi-byte characters, round-trips.
pub async fn max_size_value(store: &dyn SecretStore) {
    let mut c = Case::new("max_size_value", store);
    let k = c.key(c.org_a, "largest", T);
    let v = max_value(&c.unique_value("max"));
    c.set(&k, &v).await;
    c.expect(&k, Some(&v), "value of MAX_VALUE_BYTES").await;
    c.cleanup().await;
}

/// A string of exactly [`MAX_VALUE_BYTES`] bytes starting with `seed`, mixing 1- to 4-byte
/// characters.
pub fn max_value(seed: &str) -> String {
    let mut v = String::with_capacity(MAX_VALUE_BYTES);
    v.push_str(seed);
    let pattern = ["a", "é", "€", "🔑", "\"", "\\", "\n", " "];
    let mut i = 0usize;
    while v.len() + 4 <= MAX_VALUE_BYTES {
        v.push_str(pattern[(i * 7 + i / 3) % pattern.len()]);
        i += 1;
    }
    while v.len() < MAX_VALUE_BYTES {
        v.push('z');
    }
    v
}

/// Multi-line JSON (Grafana's secure JSON data) with quotes, backslashes, tabs and Unicode
/// round-trips byte for byte.
pub async fn multiline_json_value(store: &dyn SecretStore) {
    let mut c = Case::new("multiline_json_value", store);
    let k = c.key(c.org_a, "json", T);
    let v = format!(
        "{{\n  \"password\": \"p@ss\\\"w0rd\\\\ \\u00e9\",\n\t\"token\": \"{}\",\n  \
         \"note\": \"ünï 🔑\"\r\n}}\n",
        uuid::Uuid::new_v4()
    );
    c.set(&k, &v).await;
    c.expect(&k, Some(&v), "multi-line JSON value").await;
    c.cleanup().await;
}

/// Namespace and type of [`MAX_KEY_PART_CHARS`] characters each, with multi-byte characters.
///
/// Not part of [`super::run_all`]: backends whose names are length-limited (AWS secret names are
/// at most 512 characters) must map such keys deliberately; run it where that is done.
pub async fn longest_key_parts(store: &dyn SecretStore) {
    let mut c = Case::new("longest_key_parts", store);
    let ns_fill = MAX_KEY_PART_CHARS - c.ns("").chars().count();
    let ns_suffix: String = "🔑é/".chars().cycle().take(ns_fill).collect();
    let kind: String = "ü🔥".chars().cycle().take(MAX_KEY_PART_CHARS).collect();
    let k = c.key(c.org_a, &ns_suffix, &kind);
    let v = c.unique_value("long-key");
    c.set(&k, &v).await;
    c.expect(&k, Some(&v), "longest key parts").await;
    c.expect_list(Some(c.org_a), k.namespace(), &kind, &[&k])
        .await;
    c.cleanup().await;
}
