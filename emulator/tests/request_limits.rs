//! One request cannot hurt the others: oversized tag lists are refused before any per-tag work
//! and outside the global lock, validation messages stay bounded, and the binary's peak memory
//! stays bounded under a body of 640,000 empty tags.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{assert_peak_rss_bounded, aws_call, peak_rss_kib, spawn_fresh_binary};

async fn create(a: SocketAddr) {
    let r = aws_call(
        a,
        "secretsmanager.CreateSecret",
        r#"{"Name":"s","SecretString":"v","ClientRequestToken":"00000000-0000-4000-8000-000000000001"}"#,
    )
    .await;
    r.assert_status(200, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_huge_tag_resource_does_not_hold_up_other_callers() {
    let (_dir, child, a) = spawn_fresh_binary().await;
    create(a).await;

    let tags: Vec<String> = (0..64_000)
        .map(|i| format!(r#"{{"Key":"k{i:06}","Value":"v"}}"#))
        .collect();
    let body = format!(r#"{{"SecretId":"s","Tags":[{}]}}"#, tags.join(","));
    assert!(
        body.len() > 1_900_000 && body.len() < 2 << 20,
        "{}",
        body.len()
    );
    let sent = body.len();
    let big = tokio::spawn(async move {
        let started = Instant::now();
        let r = tokio::time::timeout(
            Duration::from_secs(60),
            aws_call(a, "secretsmanager.TagResource", &body),
        )
        .await
        .expect("the 64,000-tag TagResource got no answer within 60 s");
        (r, started.elapsed())
    });
    // other callers, for as long as the big request runs
    let mut worst = Duration::ZERO;
    let mut calls = 0;
    while !big.is_finished() {
        let t = Instant::now();
        let r = aws_call(a, "secretsmanager.GetSecretValue", r#"{"SecretId":"s"}"#).await;
        assert_eq!(r.status, 200);
        worst = worst.max(t.elapsed());
        calls += 1;
    }
    let (r, took) = big.await.unwrap();
    r.assert_status(400, "");
    assert_eq!(
        r.json()["__type"],
        "InvalidParameterException",
        "{sent} bytes sent"
    );
    assert_eq!(
        r.json()["Message"],
        "Number of tags exceeds the limit of 50 tags per secret."
    );
    assert!(took < Duration::from_secs(5), "the refusal took {took:?}");
    assert!(calls > 0);
    assert!(
        worst < Duration::from_secs(1),
        "a GetSecretValue waited {worst:?} behind the big TagResource"
    );
    // nothing was tagged
    let d = aws_call(a, "secretsmanager.DescribeSecret", r#"{"SecretId":"s"}"#).await;
    assert!(d.json().get("Tags").is_none(), "{}", d.json());
    drop(child);
}

#[tokio::test]
async fn six_hundred_forty_thousand_empty_tags_keep_memory_bounded() {
    let (_dir, child, a) = spawn_fresh_binary().await;
    let pid = child.id().unwrap();
    create(a).await;
    let before = peak_rss_kib(pid);
    let body = format!(
        r#"{{"SecretId":"s","Tags":[{}]}}"#,
        vec!["{}"; 640_000].join(",")
    );
    for _ in 0..3 {
        let r = aws_call(a, "secretsmanager.TagResource", &body).await;
        r.assert_status(400, "");
        assert!(r.body.len() < 4096, "a {} byte error answer", r.body.len());
    }
    assert_peak_rss_bounded(pid, before, "empty_tags", "640,000 empty tags");
    drop(child);
}

#[tokio::test]
async fn validation_messages_list_a_bounded_number_of_violations() {
    let emu = common::emulator().await;
    let a = emu.addr();
    create(a).await;
    // 50 tags without keys: 50 violations, counted in full, the first 10 listed
    let body = format!(
        r#"{{"SecretId":"s","Tags":[{}]}}"#,
        [r#"{"Value":"x"}"#; 50].join(",")
    );
    let r = aws_call(a, "secretsmanager.TagResource", &body).await;
    assert_eq!(r.json()["__type"], "ValidationException");
    let m = r.json()["Message"].as_str().unwrap().to_string();
    assert!(m.starts_with("50 validation errors detected: "), "{m}");
    assert_eq!(m.matches("failed to satisfy constraint").count(), 10, "{m}");
    // ListSecrets: more than 10 filters or filter values fail on the length alone
    let values: Vec<String> = (0..50_000).map(|i| format!("\"v{i}\"")).collect();
    let body = format!(
        r#"{{"Filters":[{{"Key":"name","Values":[{}]}}]}}"#,
        values.join(",")
    );
    let r = aws_call(a, "secretsmanager.ListSecrets", &body).await;
    assert_eq!(r.json()["__type"], "ValidationException");
    assert_eq!(
        r.json()["Message"],
        "1 validation error detected: Value at 'filters.1.member.values' failed to satisfy constraint: Member must have length less than or equal to 10"
    );
    let filters = [r#"{"Key":"name","Values":["a"]}"#; 11].join(",");
    let r = aws_call(
        a,
        "secretsmanager.ListSecrets",
        &format!(r#"{{"Filters":[{filters}]}}"#),
    )
    .await;
    assert_eq!(
        r.json()["Message"],
        "1 validation error detected: Value at 'filters' failed to satisfy constraint: Member must have length less than or equal to 10"
    );
    for n in ["0", "101"] {
        let r = aws_call(
            a,
            "secretsmanager.ListSecrets",
            &format!(r#"{{"MaxResults":{n}}}"#),
        )
        .await;
        assert_eq!(r.json()["__type"], "ValidationException", "{n}");
    }
    emu.shutdown().await;
}
