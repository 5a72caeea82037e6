//! The web console (`/_emulator/ui`) and the admin endpoints it reads: the page's static assets
//! (compiled into the binary), a snapshot of the secrets without values, one version's value on
//! request, the request log and its per-second totals. Everything here is read-only except the
//! log, which the server writes once per API request ([`RequestLog::record`]).
//!
//! - `GET  /_emulator/ui` (and `/_emulator/ui/console.js`, `/_emulator/ui/console.css`): the page
//! - `GET  /_emulator/state?account=&region=&filter=&limit=`: every account/region holding
//!   secrets with its count, and the secrets of one of them (by default the one holding the most;
//!   metadata, no values)
//! - `GET  /_emulator/state/secret?account=&region=&name=`: one secret with its versions, stage
//!   labels, tags, policies, replication and rotation (no values)
//! - `POST /_emulator/state/reveal` `{"account","region","name","version_id"}`: that version's value
//! - `GET  /_emulator/requests?after=SEQ&limit=N`: logged requests after SEQ, oldest first
//! - `GET  /_emulator/rates`: per-second requests, errors, throttles, latency and durable-sync
//!   waits of the last two minutes, and whether the store syncs to disk

pub mod log;

use std::collections::BTreeMap;
use std::sync::Arc;

use hyper::header::{HeaderValue, CACHE_CONTROL};
use hyper::Method;
use serde_json::{json, Value};

use crate::clock::Clock as _;
use crate::ctx::Ctx;
use crate::http::{json_response, Resp};
use crate::model::{Secret, SecretData, Version};
use crate::sigv4::percent_decode;
use crate::Shared;

pub use log::{RequestLog, RequestNote};

const INDEX_HTML: &str = include_str!("assets/index.html");
const CONSOLE_JS: &str = include_str!("assets/console.js");
const CONSOLE_CSS: &str = include_str!("assets/console.css");

/// Default and largest number of secrets `GET /_emulator/state` lists.
const DEFAULT_LIST_LIMIT: usize = 500;
const MAX_LIST_LIMIT: usize = 5000;

/// The paths this module answers (for the admin router and its 405 answers).
pub fn owns(path: &str) -> bool {
    is_static_asset(path)
        || matches!(
            path,
            "/_emulator/state"
                | "/_emulator/state/secret"
                | "/_emulator/state/reveal"
                | "/_emulator/requests"
                | "/_emulator/rates"
        )
}

/// The console's static page and assets (no data: served without admin credentials).
pub fn is_static_asset(path: &str) -> bool {
    matches!(
        path,
        "/_emulator/ui"
            | "/_emulator/ui/"
            | "/_emulator/ui/console.js"
            | "/_emulator/ui/console.css"
    )
}

/// Answers one console request (`owns(path)` is true). `body` is the parsed JSON body or the
/// answer to send when it was not valid JSON.
pub fn handle(
    shared: &Arc<Shared>,
    method: &Method,
    path: &str,
    query: &str,
    body: Result<Value, Box<Resp>>,
) -> Resp {
    let q = Query::parse(query);
    match (method, path) {
        (&Method::GET, "/_emulator/ui" | "/_emulator/ui/") => {
            asset(INDEX_HTML, "text/html; charset=utf-8")
        }
        (&Method::GET, "/_emulator/ui/console.js") => {
            asset(CONSOLE_JS, "text/javascript; charset=utf-8")
        }
        (&Method::GET, "/_emulator/ui/console.css") => {
            asset(CONSOLE_CSS, "text/css; charset=utf-8")
        }
        (&Method::GET, "/_emulator/state") => state(shared, &q),
        (&Method::GET, "/_emulator/state/secret") => {
            let (Some(account), Some(region), Some(name)) =
                (q.get("account"), q.get("region"), q.get("name"))
            else {
                return err(
                    400,
                    "expected the query parameters account, region and name",
                );
            };
            match secret_detail(shared, account, region, name) {
                Some(v) => ok(v),
                None => err(
                    404,
                    format!("no secret {name} in account {account}, region {region}"),
                ),
            }
        }
        (&Method::POST, "/_emulator/state/reveal") => match body {
            Ok(v) => reveal(shared, &v),
            Err(r) => *r,
        },
        (&Method::GET, "/_emulator/requests") => {
            let after = match q.number("after", 0) {
                Ok(n) => n,
                Err(m) => return err(400, m),
            };
            let limit = match q.number("limit", log::LOG_CAPACITY as u64) {
                Ok(n) => n as usize,
                Err(m) => return err(400, m),
            };
            ok(serde_json::to_value(shared.requests.page(after, limit)).unwrap_or_default())
        }
        (&Method::GET, "/_emulator/rates") => {
            let mut v = serde_json::to_value(shared.requests.series()).unwrap_or_default();
            v["durable"] = json!(shared.store.is_durable());
            ok(v)
        }
        (_, p) => err(405, format!("method not allowed on {p}")),
    }
}

/// A static asset. The page loads nothing from elsewhere, which the policy header enforces.
fn asset(text: &'static str, content_type: &'static str) -> Resp {
    let mut r = json_response(200, text.as_bytes().to_vec(), content_type);
    let h = r.headers_mut();
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        ),
    );
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    r
}

/// A JSON answer that no cache keeps (some carry a secret value).
fn ok(v: Value) -> Resp {
    let mut r = json_response(
        200,
        serde_json::to_vec(&v).unwrap_or_default(),
        "application/json",
    );
    r.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn err(status: u16, msg: impl Into<String>) -> Resp {
    json_response(
        status,
        serde_json::to_vec(&json!({"error": msg.into()})).unwrap_or_default(),
        "application/json",
    )
}

/// Decoded query parameters.
struct Query(Vec<(String, String)>);

impl Query {
    fn parse(query: &str) -> Query {
        Query(
            query
                .split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (percent_decode(k), percent_decode(v))
                })
                .collect(),
        )
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The integer parameter `key` (`default` when absent), or the 400 answer's message.
    fn number(&self, key: &str, default: u64) -> Result<u64, String> {
        match self.get(key) {
            None | Some("") => Ok(default),
            Some(v) => v.parse().map_err(|_| {
                format!("query parameter {key} must be a non-negative integer, got {v:?}")
            }),
        }
    }
}

/// Whether a secret still exists at `now` (past its recovery window it is gone for every lookup,
/// even before the sweep removes it).
fn alive(s: &Secret, now: f64) -> bool {
    s.purge_at.is_none_or(|t| t > now)
}

/// `GET /_emulator/state`: the account/region pairs holding secrets and the secrets of the one asked
/// for (or of the first pair).
fn state(shared: &Shared, q: &Query) -> Resp {
    let limit = match q.number("limit", DEFAULT_LIST_LIMIT as u64) {
        Ok(n) => (n as usize).min(MAX_LIST_LIMIT),
        Err(m) => return err(400, m),
    };
    let filter = q.get("filter").unwrap_or("").to_lowercase();
    let now = shared.clock.now();
    let g = shared.state.read_accounts();
    let mut scopes: Vec<(String, String, usize)> = g
        .iter()
        .flat_map(|(account, regions)| {
            regions.iter().map(move |(region, secrets)| {
                let n = secrets.values().filter(|s| alive(s, now)).count();
                (account.clone(), region.clone(), n)
            })
        })
        .filter(|(_, _, n)| *n > 0)
        .collect();
    scopes.sort();
    let chosen = match (q.get("account"), q.get("region")) {
        (Some(a), Some(r)) if !a.is_empty() && !r.is_empty() => {
            Some((a.to_string(), r.to_string()))
        }
        // by default the pair holding the most secrets (the first of those in order)
        _ => scopes
            .iter()
            .fold(None::<&(String, String, usize)>, |best, sc| match best {
                Some(b) if b.2 >= sc.2 => Some(b),
                _ => Some(sc),
            })
            .map(|(a, r, _)| (a.clone(), r.clone())),
    };
    let mut secrets = Vec::new();
    let mut matched = 0usize;
    if let Some((account, region)) = &chosen {
        if let Some(region_secrets) = g.get(account).and_then(|a| a.get(region)) {
            for s in region_secrets.values() {
                if !alive(s, now) || !s.name.to_lowercase().contains(&filter) {
                    continue;
                }
                matched += 1;
                if secrets.len() < limit {
                    secrets.push(summary(s, region));
                }
            }
        }
    }
    drop(g);
    let scopes: Vec<Value> = scopes
        .into_iter()
        .map(|(account, region, n)| json!({"account": account, "region": region, "secrets": n}))
        .collect();
    ok(json!({
        "now": now,
        "scopes": scopes,
        "account": chosen.as_ref().map(|c| c.0.clone()),
        "region": chosen.as_ref().map(|c| c.1.clone()),
        "secrets": secrets,
        "matched": matched,
        "truncated": matched > secrets.len(),
    }))
}

fn opt(v: Option<f64>) -> Value {
    v.map(Value::from).unwrap_or(Value::Null)
}

/// The list entry of a secret (no values).
fn summary(s: &Secret, region: &str) -> Value {
    let current = s.versions.iter().rev().find(|v| v.has("AWSCURRENT"));
    json!({
        "name": s.name,
        "arn": s.arn,
        "description": s.description,
        "created": s.created,
        "last_changed": s.last_changed,
        "last_accessed": opt(s.last_accessed),
        "deleted": opt(s.deleted),
        "purge_at": opt(s.purge_at),
        "versions": s.versions.len(),
        "current_version": current.map(|v| v.id.clone()),
        "tags": s.tags.len(),
        "rotation_enabled": s.rotation.enabled.unwrap_or(false),
        "next_rotation": opt(s.rotation.next_rotation),
        "primary_region": s.primary_region,
        "replica": s.is_replica_in(region) || crate::model::replica::is_replica(s),
        "replicas": s.replication.len(),
        "policies": s.policies.len(),
    })
}

fn version_json(v: &Version) -> Value {
    json!({
        "id": v.id,
        "seq": v.seq,
        "stages": v.stages,
        "created": v.created,
        "last_accessed": opt(v.last_accessed),
        "has_value": v.has_value(),
        "kms_key_id": v.kms_key_id,
    })
}

/// One secret in full, without values.
fn secret_detail(shared: &Shared, account: &str, region: &str, name: &str) -> Option<Value> {
    let now = shared.clock.now();
    let g = shared.state.read_accounts();
    let s = g
        .get(account)?
        .get(region)?
        .get(name)
        .filter(|s| alive(s, now))?;
    let mut versions: Vec<&Version> = s.versions.iter().collect();
    versions.sort_by_key(|v| v.seq);
    let policies: BTreeMap<&str, Value> = s
        .policies
        .iter()
        .map(|(k, text)| {
            // shown as parsed JSON when it is JSON (it always is once PutResourcePolicy accepted it)
            let v = serde_json::from_str(text).unwrap_or_else(|_| Value::from(text.as_str()));
            (k.as_str(), v)
        })
        .collect();
    let tags: Vec<Value> = s
        .tags
        .iter()
        .map(|(k, v)| json!({"key": k, "value": v}))
        .collect();
    let r = &s.rotation;
    Some(json!({
        "now": now,
        "account": account,
        "region": region,
        "summary": summary(s, region),
        "kms_key_id": s.kms_key_id,
        "secret_type": s.secret_type,
        "owning_service": s.owning_service,
        "versions": versions.into_iter().map(version_json).collect::<Vec<_>>(),
        "tags": tags,
        "policies": policies,
        "replication": s.replication,
        "cross_account": s.cross_account.as_deref().cloned().unwrap_or_default(),
        "rotation": {
            "enabled": r.enabled,
            "lambda_arn": r.lambda_arn,
            "rules": r.rules,
            "last_rotated": opt(r.last_rotated),
            "next_rotation": opt(r.next_rotation),
        },
    }))
}

/// `POST /_emulator/state/reveal`: the value of one version (the console asks only when the user
/// clicks reveal). Reading it changes nothing (no LastAccessedDate).
fn reveal(shared: &Arc<Shared>, body: &Value) -> Resp {
    let field = |k: &str| body.get(k).and_then(Value::as_str);
    let (Some(account), Some(region), Some(name), Some(version_id)) = (
        field("account"),
        field("region"),
        field("name"),
        field("version_id"),
    ) else {
        return err(
            400,
            "expected {\"account\", \"region\", \"name\", \"version_id\"} (strings)",
        );
    };
    let ctx = Ctx::new(shared.clone(), account.to_string(), region.to_string());
    let found = {
        let g = shared.state.read_accounts();
        g.get(account)
            .and_then(|a| a.get(region))
            .and_then(|r| r.get(name))
            .filter(|s| alive(s, ctx.now))
            .map(|s| {
                let v = s.version(version_id).map(|v| (v.rec, v.has_value()));
                (v, crate::ops::replication::value_home(&ctx, s))
            })
    };
    let Some((version, (home_account, home_region))) = found else {
        return err(
            404,
            format!("no secret {name} in account {account}, region {region}"),
        );
    };
    let Some((rec, true)) = version else {
        return err(
            404,
            format!("secret {name} has no version {version_id} with a value"),
        );
    };
    match ctx.value_at(&home_account, &home_region, rec) {
        Ok(Some(data)) => {
            tracing::info!(
                account,
                region,
                secret = name,
                version = version_id,
                "secret value revealed in the console"
            );
            match data {
                SecretData::String(s) => ok(json!({"kind": "string", "value": s})),
                SecretData::Binary(b) => ok(json!({
                    "kind": "binary",
                    "base64": crate::protocol::b64(&b),
                    "bytes": b.len(),
                })),
            }
        }
        Ok(None) => err(
            404,
            format!("secret {name} has no version {version_id} with a value"),
        ),
        Err(e) => err(500, format!("reading the value failed: {}", e.message)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_percent_decoded_and_plus_kept() {
        let q = Query::parse("name=a%2Fb+c%40d&region=eu-west-1&bad=%zz%4");
        assert_eq!(q.get("name"), Some("a/b+c@d"));
        assert_eq!(q.get("region"), Some("eu-west-1"));
        assert_eq!(q.get("bad"), Some("%zz%4"));
        assert_eq!(q.get("missing"), None);
    }
}
