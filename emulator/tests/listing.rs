//! ListSecrets (filters, sorting, paging stable under inserts), BatchGetSecretValue and tags,
//! driven by the real `aws-sdk-secretsmanager` client.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use aws_sdk_secretsmanager::types::{
    Filter, FilterNameStringType as K, SortByType, SortOrderType, Tag,
};
use common::{all_pages, assert_code, aws_call, code, create, describe, err, start};

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
    let (emu, c) = start().await;
    let described = [
        ("prod/db", "Main database password", tag("team", "Payments")),
        ("prod/cache", "cache", tag("env", "prod")),
    ];
    for (name, description, tag) in described {
        c.create_secret()
            .name(name)
            .description(description)
            .tags(tag)
            .secret_string("x")
            .send()
            .await
            .unwrap();
    }
    create(&c, "dev/MyApiKey", "x").await;
    let none: &[&str] = &[];
    let (db, key) = (&["prod/db"][..], &["dev/MyApiKey"][..]);
    let prod: &[&str] = &["prod/cache", "prod/db"];
    // (case, key, values, the names listed)
    let cases = [
        ("name prefix", K::Name, &["prod/"][..], prod),
        ("name is case-sensitive", K::Name, &["Prod/"], none),
        ("negated name", K::Name, &["!prod"], key),
        (
            "OR within a key",
            K::Name,
            &["dev", "prod/c"],
            &["dev/MyApiKey", "prod/cache"],
        ),
        ("tag value prefix", K::TagValue, &["Pay"], db),
        (
            "description is word-wise",
            K::Description,
            &["database"],
            db,
        ),
        ("and case-insensitive", K::Description, &["DATA"], db),
        ("all splits CamelCase", K::All, &["api"], key),
        ("all matches tag values", K::All, &["payments"], db),
        ("primary region", K::PrimaryRegion, &["us-"], none),
    ];
    for (case, k, values, want) in cases {
        assert_eq!(names(&c, vec![filter(k, values)]).await, want, "{case}");
    }
    let both = vec![filter(K::Name, &["prod"]), filter(K::TagKey, &["team"])];
    assert_eq!(names(&c, both).await, db, "AND across keys");
    // raw ListSecrets calls the SDK would not send
    let list = |body: &'static str| aws_call(emu.addr(), "secretsmanager.ListSecrets", body);
    // an unknown key fails enum validation
    let raw = list(r#"{"Filters":[{"Key":"colour","Values":["x"]}]}"#).await;
    assert_eq!(raw.status, 400);
    assert_eq!(raw.json()["__type"], "ValidationException");
    assert!(raw.json()["Message"]
        .as_str()
        .unwrap()
        .contains("filters.1.member.key"));
    let raw = list(r#"{"Filters":[{"Values":["x"]}]}"#).await;
    assert_eq!(raw.json()["__type"], "InvalidParameterException");
    let raw = list(r#"{"Filters":[{"Key":"name"}]}"#).await;
    assert_eq!(raw.json()["Message"], "Invalid filter values for key: name");
    assert_code(
        c.list_secrets().max_results(101).send().await,
        "ValidationException",
    );
}

#[tokio::test]
async fn list_sorting_and_paging_stable_under_inserts() {
    let (emu, c) = start().await;
    for n in ["c", "a", "e", "b", "d"] {
        create(&c, n, "x").await;
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
    let sorted = |by: SortByType, order: Option<SortOrderType>| {
        c.list_secrets().sort_by(by).set_sort_order(order)
    };
    let desc = Some(SortOrderType::Desc);
    for (case, request, want) in [
        (
            "by name",
            sorted(SortByType::Name, None),
            ["a", "b", "c", "d", "e"],
        ),
        (
            "by name, descending",
            sorted(SortByType::Name, desc.clone()),
            ["e", "d", "c", "b", "a"],
        ),
        (
            "by creation, descending",
            sorted(SortByType::CreatedDate, desc.clone()),
            ["d", "b", "e", "a", "c"],
        ),
    ] {
        let r = request.send().await.unwrap();
        assert_eq!(all(&r), want, "{case}");
    }
    c.update_secret()
        .secret_id("c")
        .description("touched")
        .send()
        .await
        .unwrap();
    let r = sorted(SortByType::LastChangedDate, desc)
        .send()
        .await
        .unwrap();
    assert_eq!(all(&r)[0], "c");

    // paging by name, 2 per page, inserting before and after the cursor between pages
    let two_by_name = || c.list_secrets().sort_by(SortByType::Name).max_results(2);
    let p1 = two_by_name().send().await.unwrap();
    assert_eq!(all(&p1), ["a", "b"]);
    create(&c, "aa", "x").await; // before the cursor: not seen
    create(&c, "cc", "x").await; // after: seen once
    let mut seen = all(&p1);
    let mut token = p1.next_token().map(str::to_string);
    while let Some(t) = token {
        let p = two_by_name().next_token(t).send().await.unwrap();
        seen.extend(all(&p));
        token = p.next_token().map(str::to_string);
    }
    assert_eq!(seen, ["a", "b", "c", "cc", "d", "e"]);
    // a token is bound to its query; garbage is rejected
    assert_code(
        c.list_secrets()
            .sort_by(SortByType::CreatedDate)
            .next_token(p1.next_token().unwrap())
            .send()
            .await,
        "InvalidNextTokenException",
    );
    assert_code(
        c.list_secrets().next_token("bm90LWEtdG9rZW4").send().await,
        "InvalidNextTokenException",
    );
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
    let (_emu, c) = start().await;
    for i in 0..5 {
        create(&c, &format!("batch/{i}"), format!("v{i}")).await;
    }
    create(&c, "gone", "x").await;
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
    let batch = || c.batch_get_secret_value();
    let got = all_pages(|token| async move {
        let by_name = filter(K::Name, &["batch/"]);
        let r = batch()
            .filters(by_name)
            .max_results(2)
            .set_next_token(token)
            .send()
            .await
            .unwrap();
        let names = r
            .secret_values()
            .iter()
            .map(|v| v.name().unwrap().to_string());
        (names.collect(), r.next_token().map(str::to_string))
    })
    .await;
    assert_eq!(got, ["batch/0", "batch/1", "batch/2", "batch/3", "batch/4"]);
    let msg = assert_code(
        batch()
            .secret_id_list("a")
            .filters(filter(K::Name, &["b"]))
            .send()
            .await,
        "InvalidParameterException",
    );
    assert_eq!(
        msg,
        "Either 'SecretIdList' or 'Filters' must be provided, but not both."
    );
    let bad_token = batch()
        .filters(filter(K::Name, &["batch/"]))
        .next_token("xyz");
    for (case, request, want) in [
        (
            "ids with MaxResults",
            batch().secret_id_list("a").max_results(2),
            "InvalidParameterException",
        ),
        (
            "neither ids nor filters",
            batch(),
            "InvalidParameterException",
        ),
        ("unknown NextToken", bad_token, "InvalidNextTokenException"),
    ] {
        let (code, message) = err(request.send().await);
        assert_eq!(code, want, "{case}: {message}");
    }
    // filters matching a secret without a value: the call fails
    c.create_secret().name("batch/empty").send().await.unwrap();
    assert_code(
        batch().filters(filter(K::Name, &["batch/"])).send().await,
        "ResourceNotFoundException",
    );
}

#[tokio::test]
async fn tags_merge_untag_and_limits() {
    let (_emu, c) = start().await;
    let tagging = |id: &str| c.tag_resource().secret_id(id);
    let untagging = |id: &str| c.untag_resource().secret_id(id);
    c.create_secret()
        .name("t")
        .tags(tag("a", "1"))
        .secret_string("x")
        .send()
        .await
        .unwrap();
    tagging("t")
        .tags(tag("a", "2"))
        .tags(tag("b", "3"))
        .send()
        .await
        .unwrap();
    let d = describe(&c, "t").await.unwrap();
    let tags: Vec<(&str, &str)> = d
        .tags()
        .iter()
        .map(|t| (t.key().unwrap(), t.value().unwrap()))
        .collect();
    assert_eq!(tags, [("a", "2"), ("b", "3")]);
    untagging("t")
        .tag_keys("a")
        .tag_keys("not-there")
        .send()
        .await
        .unwrap();
    untagging("t").tag_keys("a").send().await.unwrap();
    let d = describe(&c, "t").await.unwrap();
    assert_eq!(d.tags().len(), 1);
    assert_code(
        tagging("t").tags(tag("aws:reserved", "x")).send().await,
        "InvalidParameterException",
    );
    let many: Vec<Tag> = (0..50).map(|i| tag(&format!("k{i}"), "v")).collect();
    let e = tagging("t")
        .set_tags(Some(many.clone()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidParameterException", "51 tags");
    untagging("t").tag_keys("b").send().await.unwrap();
    tagging("t").set_tags(Some(many)).send().await.unwrap();
    assert_code(
        tagging("nope").tags(tag("a", "b")).send().await,
        "ResourceNotFoundException",
    );
    assert_code(
        untagging("nope").tag_keys("a").send().await,
        "ResourceNotFoundException",
    );
    assert_code(
        tagging("t").tags(tag(&"k".repeat(129), "v")).send().await,
        "ValidationException",
    );
}
