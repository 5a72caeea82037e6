//! Every operation the core owns, driven by the real `aws-sdk-secretsmanager` client against an
//! in-process emulator: success paths and declared errors.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use aws_sdk_secretsmanager::operation::create_secret::builders::CreateSecretFluentBuilder;
use aws_sdk_secretsmanager::operation::put_secret_value::builders::PutSecretValueFluentBuilder;
use aws_sdk_secretsmanager::operation::update_secret::builders::UpdateSecretFluentBuilder;
use aws_sdk_secretsmanager::operation::update_secret_version_stage::{
    UpdateSecretVersionStageError, UpdateSecretVersionStageOutput,
};
use aws_sdk_secretsmanager::primitives::Blob;
use aws_sdk_secretsmanager::types::Tag;
use aws_sdk_secretsmanager::Client;
use common::{
    all_pages, assert_code, client, client_in, code, create, create_request, current, delete,
    describe, err, get, get_at, put, put_request, stages, start, value_at, Sdk,
};

const T1: &str = "11111111-1111-1111-1111-111111111111";
const T2: &str = "22222222-2222-2222-2222-222222222222";
const T3: &str = "33333333-3333-3333-3333-333333333333";

/// CreateSecret of `name` with string `value` under idempotency `token`, ready to send.
fn create_with(c: &Client, name: &str, value: &str, token: &str) -> CreateSecretFluentBuilder {
    create_request(c, name, value).client_request_token(token)
}

/// PutSecretValue of string `value` to `id` under idempotency `token`, ready to send.
fn put_with(c: &Client, id: &str, value: &str, token: &str) -> PutSecretValueFluentBuilder {
    put_request(c, id, value).client_request_token(token)
}

/// UpdateSecret of `id` to string `value` under idempotency `token`, ready to send.
fn update_with(c: &Client, id: &str, value: &str, token: &str) -> UpdateSecretFluentBuilder {
    c.update_secret()
        .secret_id(id)
        .secret_string(value)
        .client_request_token(token)
}

/// UpdateSecretVersionStage: moves label `stage` of `id` to version `to` and/or off version `from`.
async fn move_stage(
    c: &Client,
    id: &str,
    stage: impl Into<String>,
    to: Option<&str>,
    from: Option<&str>,
) -> Sdk<UpdateSecretVersionStageOutput, UpdateSecretVersionStageError> {
    c.update_secret_version_stage()
        .secret_id(id)
        .version_stage(stage)
        .set_move_to_version_id(to.map(str::to_string))
        .set_remove_from_version_id(from.map(str::to_string))
        .send()
        .await
}

#[tokio::test]
async fn create_get_put_describe_lifecycle() {
    let (_emu, c) = start().await;
    let created = create_with(&c, "app/db", "v1", T1)
        .description("Main DB")
        .send()
        .await
        .unwrap();
    let arn = created.arn().unwrap().to_string();
    assert!(arn.starts_with("arn:aws:secretsmanager:us-east-1:123456789012:secret:app/db-"));
    let suffix = &arn[arn.len() - 6..];
    assert!(
        suffix.chars().all(|c| c.is_ascii_alphanumeric()),
        "{suffix}"
    );
    assert_eq!(created.version_id(), Some(T1));

    let got = get(&c, "app/db").await.unwrap();
    assert_eq!(got.secret_string(), Some("v1"));
    assert_eq!(got.version_stages(), ["AWSCURRENT"]);
    assert!(got.created_date().is_some());

    let put = put_with(&c, &arn, "v2", T2).send().await.unwrap();
    assert_eq!(put.version_stages(), ["AWSCURRENT"]);
    let prev = get_at(&c, "app/db", Some("AWSPREVIOUS")).await.unwrap();
    assert_eq!(prev.secret_string(), Some("v1"));
    assert_eq!(prev.version_id(), Some(T1));

    // third write: v1 loses AWSPREVIOUS and becomes deprecated
    put_with(&c, "app/db", "v3", T3).send().await.unwrap();
    let d = describe(&c, "app/db").await.unwrap();
    let map = d.version_ids_to_stages().unwrap();
    assert_eq!(map.len(), 2);
    assert_eq!(map[T3], vec!["AWSCURRENT".to_string()]);
    assert_eq!(map[T2], vec!["AWSPREVIOUS".to_string()]);
    assert_eq!(d.description(), Some("Main DB"));
    assert!(d.created_date().is_some() && d.last_changed_date().is_some());
    assert!(
        d.last_accessed_date().is_some(),
        "GetSecretValue sets LastAccessedDate"
    );
    let la = d.last_accessed_date().unwrap().secs();
    assert_eq!(la % 86_400, 0, "LastAccessedDate is kept to the day");
    // by version id, and mismatched id/stage
    let version = |id: &str| c.get_secret_value().secret_id("app/db").version_id(id);
    let old = version(T1).send().await.unwrap();
    assert_eq!(old.secret_string(), Some("v1"));
    let mismatched = version(T1).version_stage("AWSCURRENT").send().await;
    assert_code(mismatched, "InvalidRequestException");
    let unknown = version("99999999-9999-9999-9999-999999999999").send().await;
    assert_code(unknown, "ResourceNotFoundException");
    assert_code(
        get_at(&c, "app/db", Some("NOPE")).await,
        "ResourceNotFoundException",
    );
    let msg = assert_code(get(&c, "missing").await, "ResourceNotFoundException");
    assert_eq!(msg, "Secrets Manager can't find the specified secret.");
    assert_code(describe(&c, "missing").await, "ResourceNotFoundException");
}

#[tokio::test]
async fn create_errors_and_idempotency() {
    let (_emu, c) = start().await;
    let a = create_with(&c, "idem", "x", T1).send().await.unwrap();
    // same token, same value: the same answer
    let b = create_with(&c, "idem", "x", T1).send().await.unwrap();
    assert_eq!(a.arn(), b.arn());
    assert_eq!(b.version_id(), Some(T1));
    // same token, other value
    let msg = assert_code(
        create_with(&c, "idem", "y", T1).send().await,
        "ResourceExistsException",
    );
    assert_eq!(
        msg,
        format!("You can't use ClientRequestToken {T1} because that value is already in use for a version of secret {}.", a.arn().unwrap())
    );
    // other token
    let msg = assert_code(
        create_with(&c, "idem", "x", T2).send().await,
        "ResourceExistsException",
    );
    assert_eq!(
        msg,
        "The operation failed because the secret idem already exists."
    );
    let named = |name: &str| c.create_secret().name(name);
    let bin = |b: &[u8]| Blob::new(b.to_vec());
    let long_name = "x".repeat(513);
    // (case, request, expected error code, text its message contains)
    let refusals = [
        // a string then a binary under the same token count as different values
        (
            "same token, binary value",
            named("idem")
                .secret_binary(bin(b"x"))
                .client_request_token(T1),
            "ResourceExistsException",
            "",
        ),
        (
            "both values",
            named("both").secret_string("x").secret_binary(bin(&[1])),
            "InvalidParameterException",
            "",
        ),
        (
            "name with a space",
            named("has space").secret_string("x"),
            "ValidationException",
            "",
        ),
        (
            "name of 513 characters",
            named(&long_name).secret_string("x"),
            "ValidationException",
            "Member must have length less than or equal to 512",
        ),
        (
            "unknown KMS key",
            named("k").kms_key_id("alias/nope").secret_string("x"),
            "InvalidParameterException",
            "",
        ),
    ];
    for (case, request, want, needle) in refusals {
        let (code, message) = err(request.send().await);
        assert_eq!(code, want, "{case}: {message}");
        assert!(message.contains(needle), "{case}: {message}");
    }
    // known default alias
    named("k")
        .kms_key_id("alias/aws/secretsmanager")
        .secret_string("x")
        .send()
        .await
        .unwrap();
    // no value: no version, GetSecretValue fails
    c.create_secret().name("empty").send().await.unwrap();
    let d = describe(&c, "empty").await.unwrap();
    assert!(d.version_ids_to_stages().is_none());
    let msg = assert_code(get(&c, "empty").await, "ResourceNotFoundException");
    assert!(msg.contains("staging label: AWSCURRENT"));
    // first PutSecretValue on an empty secret gets AWSCURRENT even with custom stages
    let p = put_request(&c, "empty", "z")
        .version_stages("CUSTOM")
        .send()
        .await
        .unwrap();
    assert_eq!(p.version_stages(), ["CUSTOM", "AWSCURRENT"]);
}

#[tokio::test]
async fn kms_configured_keys() {
    let emu = secretsmanager_emulator::Emulator::builder()
        .kms_key("1234abcd-12ab-34cd-56ef-1234567890ab")
        .kms_key("alias/team")
        .start()
        .await
        .unwrap();
    let c = client(&emu);
    c.create_secret()
        .name("a")
        .kms_key_id("arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab")
        .secret_string("x")
        .send()
        .await
        .unwrap();
    c.create_secret()
        .name("b")
        .kms_key_id("alias/team")
        .secret_string("x")
        .send()
        .await
        .unwrap();
    let d = describe(&c, "b").await.unwrap();
    assert_eq!(d.kms_key_id(), Some("alias/team"));
    assert_code(
        c.update_secret()
            .secret_id("b")
            .kms_key_id("other-key")
            .send()
            .await,
        "InvalidParameterException",
    );
    let v = c
        .list_secret_version_ids()
        .secret_id("a")
        .send()
        .await
        .unwrap();
    assert!(v.versions()[0].kms_key_ids()[0].contains("1234abcd"));
}

#[tokio::test]
async fn names_with_every_allowed_punctuation_and_binary_limits() {
    let (_emu, c) = start().await;
    let name = "a/b_c+d=e.f@g-h";
    c.create_secret()
        .name(name)
        .secret_binary(Blob::new(vec![0u8]))
        .send()
        .await
        .unwrap();
    let g = get(&c, name).await.unwrap();
    assert_eq!(g.secret_binary().unwrap().as_ref(), &[0u8]);
    assert!(g.secret_string().is_none());
    let big: Vec<u8> = (0..65_536u32).map(|i| (i % 251) as u8).collect();
    c.put_secret_value()
        .secret_id(name)
        .secret_binary(Blob::new(big.clone()))
        .send()
        .await
        .unwrap();
    let g = get(&c, name).await.unwrap();
    assert_eq!(g.secret_binary().unwrap().as_ref(), big.as_slice());
    let mut too_big = big.clone();
    too_big.push(1);
    let msg = assert_code(
        c.put_secret_value()
            .secret_id(name)
            .secret_binary(Blob::new(too_big))
            .send()
            .await,
        "ValidationException",
    );
    assert!(msg.contains("65536"));
    let msg = assert_code(
        put(&c, name, "s".repeat(65_537)).await,
        "ValidationException",
    );
    assert!(!msg.contains("sss"), "the value must not be echoed");
    put(&c, name, "s".repeat(65_536)).await.unwrap();
}

#[tokio::test]
async fn partial_arn_lookup_and_ambiguity() {
    let (_emu, c) = start().await;
    let foo_arn = create(&c, "foo", "1").await;
    let partial = foo_arn[..foo_arn.len() - 7].to_string();
    let g = get(&c, &partial).await.unwrap();
    assert_eq!(g.secret_string(), Some("1"));
    assert_eq!(g.arn(), Some(foo_arn.as_str()));
    // a secret whose name is "foo-" + foo's suffix makes foo's full ARN ambiguous
    let clash_name = format!("foo-{}", &foo_arn[foo_arn.len() - 6..]);
    let clash = create(&c, &clash_name, "2").await;
    let msg = assert_code(get(&c, &foo_arn).await, "InvalidParameterException");
    assert!(msg.contains("ambiguous"));
    // the clashing secret's own full ARN and both names still work
    let g = get(&c, clash.as_str()).await.unwrap();
    assert_eq!(g.secret_string(), Some("2"));
    assert_eq!(current(&c, "foo").await.as_deref(), Some("1"));
    // wrong suffix, other region or account: not found
    let wrong = format!("{partial}-ZZZZZZ");
    assert_code(get(&c, &wrong).await, "ResourceNotFoundException");
    let other = foo_arn.replace("us-east-1", "eu-west-1");
    assert_code(get(&c, &other).await, "ResourceNotFoundException");
}

#[tokio::test]
async fn regions_are_separate() {
    let (emu, east) = start().await;
    let west = client_in(&emu.endpoint(), "eu-west-1");
    create(&east, "same", "east").await;
    let w = create(&west, "same", "west").await;
    assert!(w.contains(":eu-west-1:"));
    assert_eq!(current(&west, "same").await.as_deref(), Some("west"));
    assert_eq!(current(&east, "same").await.as_deref(), Some("east"));
    // a 12-digit access key id selects the account
    let acct = common::client_for(&emu.endpoint(), "us-east-1", "210987654321", "x");
    let a = create(&acct, "same", "other account").await;
    assert!(a.contains(":210987654321:"));
}

#[tokio::test]
async fn put_idempotency_and_stages() {
    let (_emu, c) = start().await;
    create_with(&c, "s", "v1", T1).send().await.unwrap();
    let p = put_with(&c, "s", "v2", T2).send().await.unwrap();
    let again = put_with(&c, "s", "v2", T2).send().await.unwrap();
    assert_eq!(p.version_id(), again.version_id());
    assert_eq!(again.version_stages(), ["AWSCURRENT"]);
    assert_code(
        put_with(&c, "s", "other", T2).send().await,
        "ResourceExistsException",
    );
    // AWSPENDING without AWSCURRENT: current stays
    put_with(&c, "s", "v3", T3)
        .version_stages("AWSPENDING")
        .send()
        .await
        .unwrap();
    assert_eq!(current(&c, "s").await.as_deref(), Some("v2"));
    assert_eq!(
        value_at(&c, "s", Some("AWSPENDING")).await.as_deref(),
        Some("v3")
    );
    // no value at all
    assert_code(
        c.put_secret_value().secret_id("s").send().await,
        "InvalidParameterException",
    );
    // 21 labels
    let labels: Vec<String> = (0..21).map(|i| format!("L{i}")).collect();
    assert_code(
        put_request(&c, "s", "x")
            .set_version_stages(Some(labels))
            .send()
            .await,
        "ValidationException",
    );
    assert_code(put(&c, "nope", "x").await, "ResourceNotFoundException");
}

#[tokio::test]
async fn update_secret_metadata_and_value() {
    let (_emu, c) = start().await;
    create(&c, "u", "v1").await;
    let before = describe(&c, "u").await.unwrap();
    let r = c
        .update_secret()
        .secret_id("u")
        .description("d2")
        .send()
        .await
        .unwrap();
    assert!(
        r.version_id().is_none(),
        "metadata-only update creates no version"
    );
    let r = update_with(&c, "u", "v2", T2).send().await.unwrap();
    assert_eq!(r.version_id(), Some(T2));
    let again = update_with(&c, "u", "v2", T2).send().await.unwrap();
    assert_eq!(again.version_id(), Some(T2));
    assert_code(
        update_with(&c, "u", "v9", T2).send().await,
        "ResourceExistsException",
    );
    let d = describe(&c, "u").await.unwrap();
    assert_eq!(d.description(), Some("d2"));
    assert_eq!(d.created_date(), before.created_date());
    assert_eq!(d.version_ids_to_stages().unwrap().len(), 2);
    assert_eq!(current(&c, "u").await.as_deref(), Some("v2"));
    assert_code(
        c.update_secret()
            .secret_id("nope")
            .description("x")
            .send()
            .await,
        "ResourceNotFoundException",
    );
}

#[tokio::test]
async fn update_secret_version_stage_rules() {
    let (_emu, c) = start().await;
    create_with(&c, "st", "cur", T1).send().await.unwrap();
    put_with(&c, "st", "new", T2)
        .version_stages("AWSPENDING")
        .send()
        .await
        .unwrap();
    // moving AWSCURRENT without RemoveFromVersionId
    let msg = assert_code(
        move_stage(&c, "st", "AWSCURRENT", Some(T2), None).await,
        "InvalidParameterException",
    );
    assert!(msg.contains("RemoveFromVersionId can't be empty"), "{msg}");
    // the AWS-verified worked example
    move_stage(&c, "st", "AWSCURRENT", Some(T2), Some(T1))
        .await
        .unwrap();
    let map = stages(&c, "st").await;
    let mut new_stages = map[T2].clone();
    new_stages.sort();
    assert_eq!(new_stages, vec!["AWSCURRENT", "AWSPENDING"]);
    assert_eq!(map[T1], vec!["AWSPREVIOUS"]);
    // custom label: add, then remove
    move_stage(&c, "st", "BLUE", Some(T1), None).await.unwrap();
    move_stage(&c, "st", "BLUE", None, Some(T1)).await.unwrap();
    let map = stages(&c, "st").await;
    assert_eq!(map[T1], vec!["AWSPREVIOUS"]);
    assert_code(
        move_stage(
            &c,
            "st",
            "X",
            Some("99999999-9999-9999-9999-999999999999"),
            None,
        )
        .await,
        "InvalidParameterException",
    );
    assert_code(
        move_stage(&c, "st", "AWSPENDING", None, Some(T1)).await,
        "InvalidParameterException",
    );
    assert_code(
        move_stage(&c, "nope", "X", Some(T1), None).await,
        "ResourceNotFoundException",
    );
    // 20 labels max on a version (T1 already carries AWSPREVIOUS)
    for i in 0..19 {
        move_stage(&c, "st", format!("L{i}"), Some(T1), None)
            .await
            .unwrap();
    }
    assert_code(
        move_stage(&c, "st", "L99", Some(T1), None).await,
        "LimitExceededException",
    );
}

#[tokio::test]
async fn delete_restore_and_recovery_window() {
    let (emu, c) = start().await;
    create(&c, "del", "x").await;
    assert_code(
        delete(&c, "del", Some(6)).await,
        "InvalidParameterException",
    );
    assert_code(
        c.delete_secret()
            .secret_id("del")
            .recovery_window_in_days(7)
            .force_delete_without_recovery(true)
            .send()
            .await,
        "InvalidParameterException",
    );
    let d = delete(&c, "del", Some(7)).await.unwrap();
    let deletion = d.deletion_date().unwrap().secs();
    let now = emu.clock().now() as i64;
    assert!(
        (deletion - now - 7 * 86_400).abs() <= 2,
        "{deletion} vs {now}"
    );
    // while scheduled
    for e in [
        code(&get(&c, "del").await.unwrap_err()),
        code(&put(&c, "del", "y").await.unwrap_err()),
        code(
            &c.update_secret()
                .secret_id("del")
                .description("y")
                .send()
                .await
                .unwrap_err(),
        ),
        code(
            &c.tag_resource()
                .secret_id("del")
                .tags(Tag::builder().key("k").value("v").build())
                .send()
                .await
                .unwrap_err(),
        ),
        code(
            &c.untag_resource()
                .secret_id("del")
                .tag_keys("k")
                .send()
                .await
                .unwrap_err(),
        ),
        code(&create_request(&c, "del", "x").send().await.unwrap_err()),
        code(&c.delete_secret().secret_id("del").send().await.unwrap_err()),
    ] {
        assert_eq!(e, "InvalidRequestException");
    }
    let desc = describe(&c, "del").await.unwrap();
    assert!(desc.deleted_date().is_some());
    c.list_secret_version_ids()
        .secret_id("del")
        .send()
        .await
        .unwrap();
    assert!(c
        .list_secrets()
        .send()
        .await
        .unwrap()
        .secret_list()
        .is_empty());
    assert_eq!(
        c.list_secrets()
            .include_planned_deletion(true)
            .send()
            .await
            .unwrap()
            .secret_list()
            .len(),
        1
    );
    // restore
    c.restore_secret().secret_id("del").send().await.unwrap();
    assert_eq!(current(&c, "del").await.as_deref(), Some("x"));
    c.restore_secret().secret_id("del").send().await.unwrap(); // not deleted: still fine
    assert_code(
        c.restore_secret().secret_id("nope").send().await,
        "ResourceNotFoundException",
    );
    // window expiry on the controllable clock, then the name is reusable
    delete(&c, "del", Some(7)).await.unwrap();
    emu.clock().advance(Duration::from_secs(6 * 86_400));
    assert!(describe(&c, "del").await.is_ok());
    emu.clock().advance(Duration::from_secs(86_400 + 10));
    assert_code(describe(&c, "del").await, "ResourceNotFoundException");
    assert_code(
        c.restore_secret().secret_id("del").send().await,
        "ResourceNotFoundException",
    );
    create(&c, "del", "new").await;
    assert_eq!(current(&c, "del").await.as_deref(), Some("new"));
    // force delete: immediate, also for a missing secret, also for a scheduled one
    delete(&c, "del", None).await.unwrap();
    assert_code(describe(&c, "del").await, "ResourceNotFoundException");
    let r = delete(&c, "never", None).await.unwrap();
    assert_eq!(r.name(), Some("never"));
    create(&c, "sched", "x").await;
    c.delete_secret().secret_id("sched").send().await.unwrap();
    delete(&c, "sched", None).await.unwrap();
    create(&c, "sched", "x").await;
    assert_code(
        c.delete_secret().secret_id("nope").send().await,
        "ResourceNotFoundException",
    );
}

#[tokio::test]
async fn version_pruning_with_the_clock() {
    let (emu, c) = start().await;
    create(&c, "gc", "v0").await;
    // 60 old versions
    for i in 0..60 {
        put(&c, "gc", format!("old{i}")).await.unwrap();
    }
    emu.clock().advance(Duration::from_secs(86_400 + 1));
    // 60 young versions: total 121, all old unlabelled ones may go but never young ones
    for i in 0..60 {
        put(&c, "gc", format!("young{i}")).await.unwrap();
    }
    let versions = || c.list_secret_version_ids().secret_id("gc");
    let all: Vec<String> = all_pages(|token| async move {
        let r = versions()
            .include_deprecated(true)
            .max_results(7)
            .set_next_token(token)
            .send()
            .await
            .unwrap();
        let ids = r
            .versions()
            .iter()
            .map(|v| v.version_id().unwrap().to_string());
        (ids.collect(), r.next_token().map(str::to_string))
    })
    .await;
    assert_eq!(all.len(), 100, "pruned down to 100 versions");
    let mut dedup = all.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(dedup.len(), 100, "paging returns each version once");
    // all 60 young versions survive; so does every labelled one
    let labelled = versions().send().await.unwrap();
    assert_eq!(
        labelled.versions().len(),
        2,
        "without IncludeDeprecated only labelled versions"
    );
    // 70 more young versions: the first 40 each push out one of the 40 remaining old ones, then
    // nothing is old enough to prune, so the secret grows to 130 versions
    for i in 0..70 {
        put(&c, "gc", format!("more{i}")).await.unwrap();
    }
    let hundred = || versions().include_deprecated(true).max_results(100);
    let r = hundred().send().await.unwrap();
    assert_eq!(r.versions().len(), 100);
    let r2 = hundred()
        .next_token(r.next_token().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r2.versions().len(), 30);
    assert!(r2.next_token().is_none());
    assert_code(
        versions().next_token("garbage").send().await,
        "InvalidNextTokenException",
    );
}

#[tokio::test]
async fn expired_secrets_are_purged_in_the_background() {
    let (emu, c) = start().await;
    // two windows: the sweep purges the first, then waits for the second's end
    for (name, days) in [("sweep", 7), ("later", 10)] {
        create(&c, name, "x").await;
        delete(&c, name, Some(days)).await.unwrap();
    }
    let present = |name: &str| {
        let g = emu.shared().state.accounts.read().unwrap();
        g.values()
            .flat_map(|r| r.values())
            .any(|s| s.contains_key(name))
    };
    let wait_gone = |name: &'static str| async move {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while present(name) && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    emu.clock().advance(Duration::from_secs(7 * 86_400 + 1));
    wait_gone("sweep").await;
    assert!(!present("sweep"), "the sweeper removed the expired secret");
    // a second and more of sweeps: the secret whose window has not ended stays
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert!(present("later"), "a secret inside its window stays");
    emu.clock().advance(Duration::from_secs(3 * 86_400));
    wait_gone("later").await;
    assert!(
        !present("later"),
        "the sweeper removed the second secret at its window's end"
    );
}
