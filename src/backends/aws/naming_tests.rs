//! Unit and property-style tests of the naming scheme.

use std::collections::{HashMap, HashSet};

use rand::{Rng, SeedableRng};

use super::*;

fn key(org: i64, ns: &str, kind: &str) -> SecretKey {
    SecretKey::new(org, ns, kind).expect("valid key")
}

fn tag_map(tags: Vec<(String, String)>) -> HashMap<String, String> {
    tags.into_iter().collect()
}

fn round_trip(n: &Naming, k: &SecretKey) {
    let name = n.name(k);
    assert!(is_valid_aws_name(&name), "invalid name {name:?} for {k}");
    let tags = n.naming_tags(k);
    for (tk, tv) in n.tags(k) {
        assert!(tk.len() <= 128, "tag key too long: {tk}");
        assert!(
            tv.chars().count() <= MAX_TAG_VALUE_CHARS,
            "tag value too long"
        );
        assert!(tv
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.:/=+-@ ".contains(c)));
    }
    assert_eq!(
        n.key_of(&name, &tags).as_ref(),
        Some(k),
        "round trip of {name:?}"
    );
}

impl Naming {
    fn naming_tags(&self, k: &SecretKey) -> HashMap<String, String> {
        tag_map(self.tags(k))
    }
}

#[test]
fn plain_names_are_readable() {
    let n = Naming::new("grafana/");
    assert_eq!(
        n.name(&key(1, "my-db", "datasource")),
        "grafana/datasource/my-db/000001"
    );
    assert_eq!(n.name(&key(0, "a b", "t")), "grafana/t/a+b/000000");
    assert_eq!(n.name(&key(7, "x/y", "t")), "grafana/t/x=2Fy/000007");
    assert_eq!(n.name(&key(7, "1+1=2", "t")), "grafana/t/1=2B1=3D2/000007");
    assert_eq!(n.name(&key(2, "é", "t")), "grafana/t/=C3=A9/000002");
}

#[test]
fn escapes_decode_exactly() {
    for s in [
        "",
        "a",
        "a b",
        "x/y",
        "+",
        "=",
        "=41",
        "🔑 prod",
        "a.b@c_d-e",
        "\u{7f}",
    ] {
        assert_eq!(decode_part(&encode_part(s)).as_deref(), Some(s), "{s:?}");
    }
    // Text encode_part never produces is rejected, so each name has exactly one reading.
    for bad in ["=", "=4", "=zz", "=41", "=20", "a/b", "=ff", "=C3", "!"] {
        assert_eq!(decode_part(bad), None, "{bad:?}");
    }
}

#[test]
fn never_looks_like_an_arn_suffix() {
    let n = Naming::new("p/");
    for ns in ["abc-defghi", "-123456", "x-abcdef", "a-", "-1", "--"] {
        let name = n.name(&key(1, ns, "t-abcdef"));
        assert!(is_valid_aws_name(&name), "{name}");
    }
    assert!(!is_valid_aws_name("grafana/x-abcdef"));
}

#[test]
fn long_unicode_keys_use_a_digest_name_and_tags() {
    let n = Naming::new("grafana/");
    let ns = "名".repeat(255);
    let kind = "ü".repeat(255);
    let k = key(42, &ns, &kind);
    let name = n.name(&k);
    assert!(name.starts_with("grafana/=H/"), "{name}");
    assert!(name.ends_with("/000042"));
    assert!(name.len() <= MAX_NAME_CHARS);
    round_trip(&n, &k);
    let tags = n.tags(&k);
    assert!(tags.len() <= 30, "{} tags", tags.len());
    // A digest name whose tags disagree with the digest is not ours.
    let mut wrong = n.naming_tags(&k);
    wrong.insert(TAG_NAMESPACE.into(), "other".into());
    assert_eq!(n.key_of(&name, &wrong), None);
    // Without tags a digest name cannot be resolved.
    assert_eq!(n.key_of(&name, &HashMap::new()), None);
}

#[test]
fn boundary_between_plain_and_digest_names() {
    let n = Naming::new("");
    // 19 digits reserved for the org: plain while prefix + type + ns + 2 + 19 <= 512.
    let fits = key(1, &"a".repeat(255), &"b".repeat(235));
    assert!(!n.name(&fits).contains("=H"));
    let over = key(1, &"a".repeat(255), &"b".repeat(237));
    assert!(n.name(&over).starts_with("=H/"));
    round_trip(&n, &fits);
    round_trip(&n, &over);
    round_trip(&n, &key(i64::MAX, &"a".repeat(255), &"b".repeat(236)));
}

#[test]
fn parse_rejects_foreign_and_non_canonical_names() {
    let n = Naming::new("grafana/");
    for bad in [
        "other/datasource/db/1",
        "grafana/datasource/db",
        "grafana/datasource/db/x",
        "grafana/datasource/db/01",
        "grafana/datasource/db/1",
        "grafana/datasource/db/0000001",
        "grafana/datasource/db/000001/extra",
        "grafana/data=2Dsource/db/000001",
        "grafana/=H/abc/000001",
        "grafana/t//000001",
    ] {
        assert_eq!(n.parse(bad), None, "{bad}");
    }
    // A nested instance prefix is not confused with ours.
    let inner = Naming::new("grafana/1/");
    let theirs = inner.name(&key(1, "db", "datasource"));
    assert_eq!(n.parse(&theirs), None);
}

#[test]
fn ownership_needs_marker_and_same_instance() {
    let a = Naming::new("a/");
    let b = Naming::new("b/");
    let k = key(1, "n", "t");
    assert!(a.is_owned(&a.naming_tags(&k)));
    assert!(!b.is_owned(&a.naming_tags(&k)));
    let mut no_marker = a.naming_tags(&k);
    no_marker.remove(TAG_OWNER);
    assert!(!a.is_owned(&no_marker));
}

#[test]
fn prefixes_are_checked() {
    assert!(check_prefix("grafana/prod-1/").is_ok());
    assert!(check_prefix("").is_ok());
    assert!(check_prefix("a b").is_err());
    assert!(check_prefix("ü").is_err());
    assert!(check_prefix(&"a".repeat(MAX_PREFIX_CHARS + 1)).is_err());
}

fn random_part(rng: &mut impl Rng) -> String {
    const POOL: &[char] = &[
        'a', 'Z', '0', '9', '_', '.', '@', '-', '/', '+', '=', ' ', '%', '~', 'é', '名', '🔑',
        '\u{a0}', 'ß', '\'', '"', '\\', ':',
    ];
    let len = match rng.gen_range(0..10) {
        0 => rng.gen_range(200..=255),
        _ => rng.gen_range(1..12),
    };
    (0..len)
        .map(|_| POOL[rng.gen_range(0..POOL.len())])
        .collect()
}

#[test]
fn property_many_random_keys_round_trip_without_collisions() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
    let prefixes = ["", "grafana/", "g+=.@_-/x/"];
    for prefix in prefixes {
        let n = Naming::new(prefix);
        let mut seen: HashMap<String, SecretKey> = HashMap::new();
        let mut keys = HashSet::new();
        for _ in 0..4000 {
            let org = if rng.gen_bool(0.5) {
                rng.gen_range(0..5)
            } else {
                rng.gen_range(0..i64::MAX)
            };
            let k = key(org, &random_part(&mut rng), &random_part(&mut rng));
            if !keys.insert(k.clone()) {
                continue;
            }
            round_trip(&n, &k);
            let name = n.name(&k);
            if let Some(prev) = seen.insert(name.clone(), k.clone()) {
                panic!("collision: {prev} and {k} both map to {name}");
            }
            // The group prefix selects the name (server-side filter for list).
            assert!(name.starts_with(&n.group_prefix(k.namespace(), k.kind())));
        }
    }
}
