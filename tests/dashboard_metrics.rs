//! The shipped Grafana dashboard (`dashboards/secrets-broker.json`) queries only metrics the
//! binaries export: every `expr` in it is parsed for metric names (PromQL identifiers that are
//! not functions, keywords, label names or grouping labels), and each must be a family or
//! histogram series in the text of the broker's registry (RPC, backend, read cache, AWS SDK),
//! the migration's or the emulator's, each rendered after being exercised.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use secrets_broker::backends::cache::{CacheConfig, ReadCache};
use secrets_broker::backends::memory::MemoryStore;
use secrets_broker::backends::metrics::Metered;
use secrets_broker::backends::SecretStore;
use secrets_broker::domain::{SecretKey, SecretValue};
use secrets_broker::migrate::metrics::MigrationMetrics;
use secrets_broker::server::errors::Operation;
use secrets_broker::server::metrics::{Registry, RpcMetrics, RpcOutcome};
use secretsmanager_emulator::metrics::{EmulatorMetrics, FaultKind};

const DASHBOARD: &str = include_str!("../dashboards/secrets-broker.json");

/// PromQL words that take a label list in parentheses (`by (le)`, `on (job)`).
const LABEL_LISTS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// Other PromQL words that are not metric names.
const KEYWORDS: &[&str] = &["bool", "and", "or", "unless", "offset", "inf", "nan"];

/// Every `expr` string anywhere in `value`.
fn exprs(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("expr", serde_json::Value::String(e)) => out.push(e.clone()),
                    _ => exprs(v, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| exprs(v, out)),
        _ => {}
    }
}

/// The metric names a PromQL expression reads.
fn metric_names(expr: &str) -> Vec<String> {
    // Drop label matchers `{…}`, range selectors `[…]` and quoted strings.
    let mut kept = String::new();
    let (mut braces, mut brackets, mut quote) = (0, 0, None);
    for c in expr.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'' | '`') => quote = Some(c),
            (None, '{') => braces += 1,
            (None, '}') => braces -= 1,
            (None, '[') => brackets += 1,
            (None, ']') => brackets -= 1,
            (None, c) if braces == 0 && brackets == 0 => kept.push(c),
            _ => {}
        }
    }
    let chars: Vec<char> = kept.chars().collect();
    let mut names = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_ascii_digit() || c == '.' {
            // A number (0.99, 1e3): skip it whole, exponent letters included.
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
            continue;
        }
        if !(c.is_ascii_alphabetic() || c == '_' || c == ':') {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len()
            && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
        {
            i += 1;
        }
        let word: String = chars[start..i].iter().collect();
        let mut next = i;
        while next < chars.len() && chars[next] == ' ' {
            next += 1;
        }
        let lower = word.to_ascii_lowercase();
        if LABEL_LISTS.contains(&lower.as_str()) && chars.get(next) == Some(&'(') {
            // A label list: skip to its closing parenthesis.
            while i < chars.len() && chars[i] != ')' {
                i += 1;
            }
            continue;
        }
        let rest: String = chars[next..].iter().collect();
        // A function call, or an aggregation written `sum by (…) (…)`.
        let is_call = rest.starts_with('(')
            || ["by", "without"].iter().any(|k| {
                rest.strip_prefix(k)
                    .is_some_and(|after| after.trim_start().starts_with('('))
            });
        if !is_call && !KEYWORDS.contains(&lower.as_str()) {
            names.push(word);
        }
    }
    names
}

/// The metric names the binaries export, from their registries' text after some activity.
async fn exported() -> BTreeSet<String> {
    let (metered, backend_calls) = Metered::wrap(Arc::new(MemoryStore::new()));
    let cache = Arc::new(ReadCache::new(
        metered,
        CacheConfig {
            ttl: Duration::from_secs(60),
            ..CacheConfig::OFF
        },
    ));
    let key = SecretKey::new(1, "dash", "datasource").unwrap();
    cache
        .set(&key, &SecretValue::new("v").unwrap())
        .await
        .unwrap();
    cache.get(&key).await.unwrap();
    cache.get(&key).await.unwrap();
    let rpc = Arc::new(RpcMetrics::new());
    rpc.record(Operation::Get, RpcOutcome::Ok, Duration::from_millis(1));
    rpc.record(
        Operation::Set,
        RpcOutcome::Failed(4),
        Duration::from_millis(3),
    );
    let registry = Registry::new(rpc, Some(backend_calls), Some(cache), true);
    let migration = MigrationMetrics::new();
    migration.planned();
    migration.verified();
    let emulator = EmulatorMetrics::new();
    emulator.request(Some("GetSecretValue"), Duration::from_millis(1), None);
    emulator.fault("GetSecretValue", FaultKind::Throttle);
    emulator.durable_wait(Duration::from_millis(2));
    [registry.render(), migration.render(), emulator.render()]
        .iter()
        .flat_map(|text| prom_text::exported_names(text))
        .collect()
}

#[test]
fn names_are_read_from_promql() {
    assert_eq!(
        metric_names(
            r#"histogram_quantile(0.99, sum by (le, rpc) (rate(a_seconds_bucket{job=~"$job", x="y z"}[$__rate_interval])))"#
        ),
        ["a_seconds_bucket"]
    );
    assert_eq!(
        metric_names("sum(rate(a_total[5m])) / (sum(b_total) + sum(c_total) or on(x) vector(1e3))"),
        ["a_total", "b_total", "c_total"]
    );
    assert_eq!(metric_names("sum(a) without (le) > bool 2"), ["a"]);
}

#[tokio::test]
async fn every_metric_the_dashboard_queries_is_exported() {
    let dashboard: serde_json::Value = serde_json::from_str(DASHBOARD).unwrap();
    let mut all = Vec::new();
    exprs(&dashboard, &mut all);
    assert!(all.len() >= 10, "the dashboard has {} queries", all.len());
    let exported = exported().await;
    let mut unknown = BTreeSet::new();
    let mut queried = BTreeSet::new();
    for expr in &all {
        let names = metric_names(expr);
        assert!(!names.is_empty(), "no metric in {expr:?}");
        for name in names {
            if !exported.contains(&name) {
                unknown.insert(name.clone());
            }
            queried.insert(name);
        }
    }
    assert!(
        unknown.is_empty(),
        "the dashboard queries metrics no binary exports: {unknown:?}\nexported: {exported:?}"
    );
    // Every panel area is covered: RPC, cache, backend, AWS, migration, emulator.
    for prefix in [
        "secrets_broker_rpc_",
        "secrets_broker_cache_",
        "secrets_broker_backend_",
        "secrets_broker_aws_",
        "secrets_broker_migration_",
        "secretsmanager_emulator_",
    ] {
        assert!(
            queried.iter().any(|n| n.starts_with(prefix)),
            "no panel queries {prefix}*"
        );
    }
}
