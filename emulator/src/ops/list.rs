//! ListSecrets: filters (name / tag-key / tag-value / primary-region / owning-service by prefix,
//! description and `all` word-wise with AWS's word splitter, `!` negation, AND across filters and
//! OR within one), IncludePlannedDeletion, SortBy/SortOrder and cursor-based NextToken paging.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use crate::ctx::{Ctx, Region};
use crate::error::ApiError;
use crate::model::Secret;
use crate::ops::describe::{metadata, Metadata, Shape};
use crate::ops::paging;
use crate::protocol::shapes::{Filter, ListSecretsRequest};

/// Splits a string into words the way AWS's `all`/`description` filters do: on the one special
/// character `/ - _ + = . @` it contains (a string with two different ones is one word), then on
/// case changes (a run of lower-case letters starts at the character before it).
pub fn split_words(s: &str) -> Vec<String> {
    const SPECIAL: [char; 7] = ['/', '-', '_', '+', '=', '.', '@'];
    if s.chars().count() == 1 && SPECIAL.contains(&s.chars().next().unwrap_or(' ')) {
        return Vec::new();
    }
    let present: Vec<char> = SPECIAL.iter().copied().filter(|c| s.contains(*c)).collect();
    match present.len() {
        0 => split_case(s),
        1 => s.split(present[0]).flat_map(split_case).collect(),
        _ => vec![s.to_string()],
    }
}

fn split_case(s: &str) -> Vec<String> {
    // Equivalent of splitting on the capturing pattern `([^a-z][a-z]+)` and dropping empty pieces.
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut piece = String::new();
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_lowercase()
            && i + 1 < chars.len()
            && chars[i + 1].is_ascii_lowercase()
        {
            if !piece.is_empty() {
                out.push(piece.trim().to_string());
                piece.clear();
            }
            let mut word = String::new();
            word.push(chars[i]);
            i += 1;
            while i < chars.len() && chars[i].is_ascii_lowercase() {
                word.push(chars[i]);
                i += 1;
            }
            out.push(word.trim().to_string());
        } else {
            piece.push(chars[i]);
            i += 1;
        }
    }
    if !piece.is_empty() {
        out.push(piece.trim().to_string());
    }
    out
}

fn match_one(pattern: &str, value: &str, prefix: bool, case_sensitive: bool) -> bool {
    if prefix {
        return if case_sensitive {
            value.starts_with(pattern)
        } else {
            value.to_lowercase().starts_with(&pattern.to_lowercase())
        };
    }
    let pw: Vec<String> = split_words(pattern)
        .into_iter()
        .map(|w| w.to_lowercase())
        .collect();
    if pw.is_empty() {
        return false;
    }
    let vw: Vec<String> = split_words(value)
        .into_iter()
        .map(|w| w.to_lowercase())
        .collect();
    pw.iter()
        .all(|p| vw.iter().any(|v| v.starts_with(p.as_str())))
}

/// One filter's values against a secret's attribute strings: a negated value matches when some
/// attribute does not match it; otherwise some value must match some attribute.
fn matcher(values: &[&str], strings: &[&str], prefix: bool, case_sensitive: bool) -> bool {
    for v in values.iter().filter(|v| v.starts_with('!')) {
        if strings
            .iter()
            .any(|s| !match_one(&v[1..], s, prefix, case_sensitive))
        {
            return true;
        }
    }
    values.iter().filter(|v| !v.starts_with('!')).any(|v| {
        strings
            .iter()
            .any(|s| match_one(v, s, prefix, case_sensitive))
    })
}

/// Whether a secret passes every filter.
pub fn matches(s: &Secret, filters: &[Filter]) -> bool {
    filters.iter().all(|f| {
        let vals = &f.values;
        match f.key {
            "name" => matcher(vals, &[&s.name], true, true),
            "description" => s
                .description
                .as_deref()
                .is_some_and(|d| matcher(vals, &[d], false, false)),
            "tag-key" => {
                let ks: Vec<&str> = s.tags.iter().map(|(k, _)| k.as_str()).collect();
                !ks.is_empty() && matcher(vals, &ks, true, true)
            }
            "tag-value" => {
                let vs: Vec<&str> = s.tags.iter().map(|(_, v)| v.as_str()).collect();
                !vs.is_empty() && matcher(vals, &vs, true, true)
            }
            "primary-region" => s
                .primary_region
                .as_deref()
                .is_some_and(|r| matcher(vals, &[r], true, true)),
            "owning-service" => s
                .owning_service
                .as_deref()
                .is_some_and(|o| matcher(vals, &[o], true, true)),
            "all" => {
                let mut attrs: Vec<&str> = vec![&s.name];
                if let Some(d) = &s.description {
                    attrs.push(d);
                }
                attrs.extend(s.tags.iter().map(|(k, _)| k.as_str()));
                attrs.extend(s.tags.iter().map(|(_, v)| v.as_str()));
                matcher(vals, &attrs, false, false)
            }
            _ => false,
        }
    })
}

/// The sort key of a secret for `sort_by`: the date, then the creation order (secrets created,
/// changed or read in the same millisecond keep the order they were created in); by name alone
/// for `name`. Names are unique, so the key is total.
fn sort_key<'a>(s: &'a Secret, sort_by: &str) -> Key<'a> {
    let (date, order) = match sort_by {
        "last-accessed-date" => (s.last_accessed.unwrap_or(0.0), s.created_order),
        "last-changed-date" => (s.last_changed, s.created_order),
        "name" => (0.0, 0),
        _ => (s.created, s.created_order),
    };
    Key {
        date,
        order,
        name: &s.name,
    }
}

/// Where a secret sorts in ListSecrets (see [`sort_key`]); a page's cursor is the last one's key.
#[derive(Debug, Clone, Copy)]
struct Key<'a> {
    date: f64,
    order: u64,
    name: &'a str,
}

impl Key<'_> {
    fn cmp(&self, other: &Key<'_>) -> Ordering {
        self.date
            .total_cmp(&other.date)
            .then(self.order.cmp(&other.order))
            .then_with(|| self.name.cmp(other.name))
    }
}

/// A page cursor: the sort key of the last secret of the page, as `[date bits, creation order,
/// name]` (the date travels as its exact bit pattern: a decimal float may not parse back
/// identically).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cursor(u64, u64, String);

impl Cursor {
    fn key(&self) -> Key<'_> {
        Key {
            date: f64::from_bits(self.0),
            order: self.1,
            name: &self.2,
        }
    }
}

/// Selects one page of secrets in `region`: matching `filters`, hidden if scheduled for deletion
/// unless `include_deleted`, ordered by `sort_by`/`desc`, after the cursor. Returns the secrets
/// and the cursor of the last one if more remain.
#[allow(clippy::too_many_arguments)]
pub fn page<'a>(
    ctx: &Ctx,
    region: &'a Region,
    filters: &[Filter],
    include_deleted: bool,
    sort_by: &str,
    desc: bool,
    after: Option<Cursor>,
    max: usize,
) -> (Vec<&'a Secret>, Option<Cursor>) {
    let mut items: Vec<(Key<'a>, &'a Secret)> = region
        .values()
        .filter(|s| !ctx.expired(s))
        .filter(|s| include_deleted || s.deleted.is_none())
        .filter(|s| matches(s, filters))
        .map(|s| (sort_key(s, sort_by), &**s))
        .collect();
    items.sort_by(|a, b| a.0.cmp(&b.0));
    if desc {
        items.reverse();
    }
    if let Some(c) = &after {
        items.retain(|(k, _)| {
            let o = k.cmp(&c.key());
            if desc {
                o == Ordering::Less
            } else {
                o == Ordering::Greater
            }
        });
    }
    let more = items.len() > max;
    items.truncate(max);
    let cursor = if more {
        items
            .last()
            .map(|(k, _)| Cursor(k.date.to_bits(), k.order, k.name.to_string()))
    } else {
        None
    };
    (items.into_iter().map(|(_, s)| s).collect(), cursor)
}

/// ListSecrets' answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListSecretsResponse {
    secret_list: Vec<Metadata>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

/// ListSecrets.
pub fn list_secrets(
    ctx: &Ctx,
    req: ListSecretsRequest<'_>,
) -> Result<ListSecretsResponse, ApiError> {
    let include_deleted = req.include_planned_deletion.unwrap_or(false);
    let filters = req.filters.unwrap_or_default();
    let sort_by = req.sort_by.unwrap_or("created-date");
    let desc = req.sort_order == Some("desc");
    let keys: Vec<(&str, &[&str])> = filters.iter().map(|f| (f.key, &f.values[..])).collect();
    let query = paging::query_digest(&("ListSecrets", include_deleted, keys, sort_by, desc));
    let after = match req.next_token {
        Some(t) => Some(paging::decode::<Cursor>(t, &query)?),
        None => None,
    };
    let max = req.max_results.unwrap_or(100) as usize;
    ctx.read(|region| {
        let Some(region) = region else {
            return Ok(ListSecretsResponse {
                secret_list: Vec::new(),
                next_token: None,
            });
        };
        let (items, cursor) = page(
            ctx,
            region,
            &filters,
            include_deleted,
            sort_by,
            desc,
            after,
            max,
        );
        Ok(ListSecretsResponse {
            secret_list: items
                .iter()
                .map(|s| metadata(s, Shape::ListEntry))
                .collect(),
            next_token: cursor.map(|c| paging::encode(&c, &query)),
        })
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn word_splitter() {
        assert_eq!(split_words("MyTest"), vec!["My", "Test"]);
        assert_eq!(split_words("test"), vec!["test"]);
        assert_eq!(
            split_words("my-secret-Value"),
            vec!["my", "secret", "Value"]
        );
        assert_eq!(split_words("my/secret+value"), vec!["my/secret+value"]);
        assert_eq!(split_words("/"), Vec::<String>::new());
        assert_eq!(split_words("ABCdef"), vec!["AB", "Cdef"]);
        assert_eq!(split_words("hello world"), vec!["hello", "world"]);
    }

    #[test]
    fn equal_dates_keep_creation_order_and_names_sort_by_name() {
        let secret = |name: &str, order: u64| Secret {
            name: name.into(),
            created: 5.0,
            last_changed: 5.0,
            created_order: order,
            ..Default::default()
        };
        let (b, a) = (secret("b", 1), secret("a", 2));
        for by in ["created-date", "last-changed-date", "last-accessed-date"] {
            assert_eq!(
                sort_key(&b, by).cmp(&sort_key(&a, by)),
                Ordering::Less,
                "{by}: b was created first"
            );
        }
        assert_eq!(
            sort_key(&a, "name").cmp(&sort_key(&b, "name")),
            Ordering::Less
        );
        let bits = 5.0f64.to_bits();
        let cursor: Cursor = serde_json::from_str(&format!(r#"[{bits},1,"b"]"#)).unwrap();
        assert_eq!(
            sort_key(&a, "created-date").cmp(&cursor.key()),
            Ordering::Greater
        );
        assert!(serde_json::from_str::<Cursor>(&format!(r#"[{bits},"b"]"#)).is_err());
    }

    #[test]
    fn negation_and_words() {
        let s = Secret {
            name: "prod/db-Password".into(),
            description: Some("Main DB".into()),
            ..Default::default()
        };
        let f = |k: &'static str, v: &[&'static str]| Filter {
            key: k,
            values: v.to_vec(),
        };
        assert!(matches(&s, &[f("name", &["prod/"])]));
        assert!(!matches(&s, &[f("name", &["Prod"])]));
        assert!(matches(&s, &[f("name", &["!dev"])]));
        assert!(!matches(&s, &[f("name", &["!prod"])]));
        assert!(matches(&s, &[f("description", &["main"])]));
        assert!(matches(&s, &[f("all", &["db"])]));
        assert!(!matches(&s, &[f("all", &["xyz"])]));
        assert!(!matches(
            &s,
            &[f("name", &["prod"]), f("description", &["other"])]
        ));
    }
}
