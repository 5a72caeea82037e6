//! ListSecrets (filters, sorting, paging stable under inserts), BatchGetSecretValue and tags,
//! driven by the real `aws-sdk-secretsmanager` client.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use aws_sdk_secretsmanager::types::{
    Filter, FilterNameStringType as K, SortByType, SortOrderType, Tag,
};
use common::{client, code, emulator, message};

fn filter(key: K, values: &[&str]) -> Filter {
    Filter::builder()
        .key(key)
        .set_values(Some(values.iter().map(|s| s.to_string()).collect()))
        .build()
}

fn tag(k: &str, v: &str) -> Tag {
    Tag::builder().key(k).value(v).build()
}

async fn names(c: &aws_sdk_secretsmanager::Client, filters: Vec<Filter>) -> Vec<String> {
    let r = c
        .list_secrets()
        .set_filters(Some(filters))
        .send()
        .await
        .unwrap();
    let mut n: Vec<String> = r
        .secret_list()
        .iter()
        .map(|s| s.name().unwrap().to_string())
        .collect();
    n.sort();
    n
}

#[tokio::test]
async fn list_filters() {
    let emu = emulator().await;
    let c = client(&emu);
    c.create_secret()
        .name("prod/db")
        .description("Main database password")
        .tags(tag("team", "Payments"))
        .secret_string("x")
        .send()
        .await
        .unwrap();
    c.create_secret()
        .name("prod/cache")
        .description("cache")
        .tags(tag("env", "prod"))
        .secret_string("x")
        .send()
        .await
        .unwrap();
    c.create_secret()
        .name("dev/MyApiKey")
        .secret_string("x")
        .send()
        .await
        .unwrap();
    assert_eq!(
        names(&c, vec![filter(K::Name, &["prod/"])]).await,
        ["prod/cache", "prod/db"]
    );
    assert_eq!(
        names(&c, vec![filter(K::Name, &["Prod/"])]).await,
        Vec::<String>::new(),
        "name is case-sensitive"
    );
    assert_eq!(
        names(&c, vec![filter(K::Name, &["!prod"])]).await,
        ["dev/MyApiKey"]
    );
    assert_eq!(
        names(&c, vec![filter(K::Name, &["dev", "prod/c"])]).await,
        ["dev/MyApiKey", "prod/cache"],
        "OR within a key"
    );
    assert_eq!(
        names(
            &c,
            vec![filter(K::Name, &["prod"]), filter(K::TagKey, &["team"])]
        )
        .await,
        ["prod/db"],
        "AND across keys"
    );
    assert_eq!(
        names(&c, vec![filter(K::TagValue, &["Pay"])]).await,
        ["prod/db"]
    );
    assert_eq!(
        names(&c, vec![filter(K::Description, &["database"])]).await,
        ["prod/db"],
        "description is word-wise"
    );
    assert_eq!(
        names(&c, vec![filter(K::Description, &["DATA"])]).await,
        ["prod/db"],
        "and case-insensitive"
    );
    assert_eq!(
        names(&c, vec![filter(K::All, &["api"])]).await,
        ["dev/MyApiKey"],
        "all splits CamelCase"
    );
    assert_eq!(
        names(&c, vec![filter(K::All, &["payments"])]).await,
        ["prod/db"]
    );
    assert_eq!(
        names(&c, vec![filter(K::PrimaryRegion, &["us-"])]).await,
        Vec::<String>::new()
    );
    // an unknown key fails enum validation
    let raw = common::aws_call(
        emu.addr(),
        "secretsmanager.ListSecrets",
        r#"{"Filters":[{"Key":"colour","Values":["x"]}]}"#,
    )
    .await;
    assert_eq!(raw.status, 400);
    assert_eq!(raw.json()["__type"], "ValidationException");
    assert!(raw.json()["Message"]
        .as_str()
        .unwrap()
        .contains("filters.1.member.key"));
    let raw = common::aws_call(
        emu.addr(),
        "secretsmanager.ListSecrets",
        r#"{"Filters":[{"Values":["x"]}]}"#,
    )
    .await;
    assert_eq!(raw.json()["__type"], "InvalidParameterException");
    let raw = common::aws_call(
        emu.addr(),
        "secretsmanager.ListSecrets",
        r#"{"Filters":[{"Key":"name"}]}"#,
    )
    .await;
    assert_eq!(raw.json()["Message"], "Invalid filter values for key: name");
    let e = c.list_secrets().max_results(101).send().await.unwrap_err();
    assert_eq!(code(&e), "ValidationException");
}

#[tokio::test]
async fn list_sorting_and_paging_stable_under_inserts() {
    let emu = emulator().await;
    let c = client(&emu);
    for n in ["c", "a", "e", "b", "d"] {
        c.create_secret()
            .name(n)
            .secret_string("x")
            .send()
            .await
            .unwrap();
        emu.clock().advance(Duration::from_secs(1));
    }
    let all = |r: &aws_sdk_secretsmanager::operation::list_secrets::ListSecretsOutput| {
        r.secret_list()
            .iter()
            .map(|s| s.name().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let r = c.list_secrets().send().await.unwrap();
    assert_eq!(
        all(&r),
        ["c", "a", "e", "b", "d"],
        "default: by CreatedDate ascending"
    );
    let r = c
        .list_secrets()
        .sort_by(SortByType::Name)
        .send()
        .await
        .unwrap();
    assert_eq!(all(&r), ["a", "b", "c", "d", "e"]);
    let r = c
        .list_secrets()
        .sort_by(SortByType::Name)
        .sort_order(SortOrderType::Desc)
        .send()
        .await
        .unwrap();
    assert_eq!(all(&r), ["e", "d", "c", "b", "a"]);
    let r = c
        .list_secrets()
        .sort_by(SortByType::CreatedDate)
        .sort_order(SortOrderType::Desc)
        .send()
        .await
        .unwrap();
    assert_eq!(all(&r), ["d", "b", "e", "a", "c"]);
    c.update_secret()
        .secret_id("c")
        .description("touched")
        .send()
        .await
        .unwrap();
    let r = c
        .list_secrets()
        .sort_by(SortByType::LastChangedDate)
        .sort_order(SortOrderType::Desc)
        .send()
        .await
        .unwrap();
    assert_eq!(all(&r)[0], "c");

    // paging by name, 2 per page, inserting before and after the cursor between pages
    let p1 = c
        .list_secrets()
        .sort_by(SortByType::Name)
        .max_results(2)
        .send()
        .await
        .unwrap();
    assert_eq!(all(&p1), ["a", "b"]);
    c.create_secret()
        .name("aa")
        .secret_string("x")
        .send()
        .await
        .unwrap(); // before the cursor: not seen
    c.create_secret()
        .name("cc")
        .secret_string("x")
        .send()
        .await
        .unwrap(); // after: seen once
    let mut seen = all(&p1);
    let mut token = p1.next_token().map(str::to_string);
    while let Some(t) = token {
        let p = c
            .list_secrets()
            .sort_by(SortByType::Name)
            .max_results(2)
            .next_token(t)
            .send()
            .await
            .unwrap();
        seen.extend(all(&p));
        token = p.next_token().map(str::to_string);
    }
    assert_eq!(seen, ["a", "b", "c", "cc", "d", "e"]);
    // a token is bound to its query; garbage is rejected
    let e = c
        .list_secrets()
        .sort_by(SortByType::CreatedDate)
        .next_token(p1.next_token().unwrap())
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidNextTokenException");
    let e = c
        .list_secrets()
        .next_token("bm90LWEtdG9rZW4")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidNextTokenException");
    // the SDK paginator walks everything
    let mut count = 0;
    let mut pages = c.list_secrets().max_results(3).into_paginator().send();
    while let Some(p) = pages.next().await {
        count += p.unwrap().secret_list().len();
    }
    assert_eq!(count, 7);
}

#[tokio::test]
async fn batch_get_secret_value() {
    let emu = emulator().await;
    let c = client(&emu);
    for i in 0..5 {
        c.create_secret()
            .name(format!("batch/{i}"))
            .secret_string(format!("v{i}"))
            .send()
            .await
            .unwrap();
    }
    c.create_secret()
        .name("gone")
        .secret_string("x")
        .send()
        .await
        .unwrap();
    c.delete_secret().secret_id("gone").send().await.unwrap();
    let r = c
        .batch_get_secret_value()
        .secret_id_list("batch/0")
        .secret_id_list("batch/3")
        .secret_id_list("missing")
        .secret_id_list("gone")
        .send()
        .await
        .unwrap();
    let vals: Vec<&str> = r
        .secret_values()
        .iter()
        .map(|v| v.secret_string().unwrap())
        .collect();
    assert_eq!(vals, ["v0", "v3"]);
    let errs: Vec<(&str, &str)> = r
        .errors()
        .iter()
        .map(|e| (e.secret_id().unwrap(), e.error_code().unwrap()))
        .collect();
    assert_eq!(
        errs,
        [
            ("missing", "ResourceNotFoundException"),
            ("gone", "InvalidRequestException")
        ]
    );
    assert!(r.errors()[1].message().unwrap().contains("marked deleted"));
    // by filters, paged
    let mut got = Vec::new();
    let mut token = None;
    loop {
        let r = c
            .batch_get_secret_value()
            .filters(filter(K::Name, &["batch/"]))
            .max_results(2)
            .set_next_token(token)
            .send()
            .await
            .unwrap();
        got.extend(
            r.secret_values()
                .iter()
                .map(|v| v.name().unwrap().to_string()),
        );
        token = r.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(got, ["batch/0", "batch/1", "batch/2", "batch/3", "batch/4"]);
    let e = c
        .batch_get_secret_value()
        .secret_id_list("a")
        .filters(filter(K::Name, &["b"]))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidParameterException");
    assert_eq!(
        message(&e),
        "Either 'SecretIdList' or 'Filters' must be provided, but not both."
    );
    let e = c
        .batch_get_secret_value()
        .secret_id_list("a")
        .max_results(2)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidParameterException");
    let e = c.batch_get_secret_value().send().await.unwrap_err();
    assert_eq!(code(&e), "InvalidParameterException");
    let e = c
        .batch_get_secret_value()
        .filters(filter(K::Name, &["batch/"]))
        .next_token("xyz")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidNextTokenException");
    // filters matching a secret without a value: the call fails
    c.create_secret().name("batch/empty").send().await.unwrap();
    let e = c
        .batch_get_secret_value()
        .filters(filter(K::Name, &["batch/"]))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ResourceNotFoundException");
}

#[tokio::test]
async fn tags_merge_untag_and_limits() {
    let emu = emulator().await;
    let c = client(&emu);
    c.create_secret()
        .name("t")
        .tags(tag("a", "1"))
        .secret_string("x")
        .send()
        .await
        .unwrap();
    c.tag_resource()
        .secret_id("t")
        .tags(tag("a", "2"))
        .tags(tag("b", "3"))
        .send()
        .await
        .unwrap();
    let d = c.describe_secret().secret_id("t").send().await.unwrap();
    let tags: Vec<(&str, &str)> = d
        .tags()
        .iter()
        .map(|t| (t.key().unwrap(), t.value().unwrap()))
        .collect();
    assert_eq!(tags, [("a", "2"), ("b", "3")]);
    c.untag_resource()
        .secret_id("t")
        .tag_keys("a")
        .tag_keys("not-there")
        .send()
        .await
        .unwrap();
    c.untag_resource()
        .secret_id("t")
        .tag_keys("a")
        .send()
        .await
        .unwrap();
    let d = c.describe_secret().secret_id("t").send().await.unwrap();
    assert_eq!(d.tags().len(), 1);
    let e = c
        .tag_resource()
        .secret_id("t")
        .tags(tag("aws:reserved", "x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidParameterException");
    let many: Vec<Tag> = (0..50).map(|i| tag(&format!("k{i}"), "v")).collect();
    let e = c
        .tag_resource()
        .secret_id("t")
        .set_tags(Some(many.clone()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidParameterException", "51 tags");
    c.untag_resource()
        .secret_id("t")
        .tag_keys("b")
        .send()
        .await
        .unwrap();
    c.tag_resource()
        .secret_id("t")
        .set_tags(Some(many))
        .send()
        .await
        .unwrap();
    let e = c
        .tag_resource()
        .secret_id("nope")
        .tags(tag("a", "b"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ResourceNotFoundException");
    let e = c
        .untag_resource()
        .secret_id("nope")
        .tag_keys("a")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ResourceNotFoundException");
    let e = c
        .tag_resource()
        .secret_id("t")
        .tags(tag(&"k".repeat(129), "v"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ValidationException");
}
