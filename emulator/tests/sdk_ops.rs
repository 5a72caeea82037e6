//! Every operation the core owns, driven by the real `aws-sdk-secretsmanager` client against an
//! in-process emulator: success paths and declared errors.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use aws_sdk_secretsmanager::primitives::Blob;
use aws_sdk_secretsmanager::types::Tag;
use common::{client, code, emulator, message};

const T1: &str = "11111111-1111-1111-1111-111111111111";
const T2: &str = "22222222-2222-2222-2222-222222222222";
const T3: &str = "33333333-3333-3333-3333-333333333333";

#[tokio::test]
async fn create_get_put_describe_lifecycle() {
    let emu = emulator().await;
    let c = client(&emu);
    let created = c
        .create_secret()
        .name("app/db")
        .secret_string("v1")
        .client_request_token(T1)
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

    let got = c
        .get_secret_value()
        .secret_id("app/db")
        .send()
        .await
        .unwrap();
    assert_eq!(got.secret_string(), Some("v1"));
    assert_eq!(got.version_stages(), ["AWSCURRENT"]);
    assert!(got.created_date().is_some());

    let put = c
        .put_secret_value()
        .secret_id(&arn)
        .secret_string("v2")
        .client_request_token(T2)
        .send()
        .await
        .unwrap();
    assert_eq!(put.version_stages(), ["AWSCURRENT"]);
    let prev = c
        .get_secret_value()
        .secret_id("app/db")
        .version_stage("AWSPREVIOUS")
        .send()
        .await
        .unwrap();
    assert_eq!(prev.secret_string(), Some("v1"));
    assert_eq!(prev.version_id(), Some(T1));

    // third write: v1 loses AWSPREVIOUS and becomes deprecated
    c.put_secret_value()
        .secret_id("app/db")
        .secret_string("v3")
        .client_request_token(T3)
        .send()
        .await
        .unwrap();
    let d = c
        .describe_secret()
        .secret_id("app/db")
        .send()
        .await
        .unwrap();
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
    let old = c
        .get_secret_value()
        .secret_id("app/db")
        .version_id(T1)
        .send()
        .await
        .unwrap();
    assert_eq!(old.secret_string(), Some("v1"));
    let e = c
        .get_secret_value()
        .secret_id("app/db")
        .version_id(T1)
        .version_stage("AWSCURRENT")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidRequestException");
    let e = c
        .get_secret_value()
        .secret_id("app/db")
        .version_id("99999999-9999-9999-9999-999999999999")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ResourceNotFoundException");
    let e = c
        .get_secret_value()
        .secret_id("app/db")
        .version_stage("NOPE")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ResourceNotFoundException");
    let e = c
        .get_secret_value()
        .secret_id("missing")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ResourceNotFoundException");
    assert_eq!(
        message(&e),
        "Secrets Manager can't find the specified secret."
    );
    let e = c
        .describe_secret()
        .secret_id("missing")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ResourceNotFoundException");
}

#[tokio::test]
async fn create_errors_and_idempotency() {
    let emu = emulator().await;
    let c = client(&emu);
    let a = c
        .create_secret()
        .name("idem")
        .secret_string("x")
        .client_request_token(T1)
        .send()
        .await
        .unwrap();
    // same token, same value: the same answer
    let b = c
        .create_secret()
        .name("idem")
        .secret_string("x")
        .client_request_token(T1)
        .send()
        .await
        .unwrap();
    assert_eq!(a.arn(), b.arn());
    assert_eq!(b.version_id(), Some(T1));
    // same token, other value
    let e = c
        .create_secret()
        .name("idem")
        .secret_string("y")
        .client_request_token(T1)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ResourceExistsException");
    assert_eq!(
        message(&e),
        format!("You can't use ClientRequestToken {T1} because that value is already in use for a version of secret {}.", a.arn().unwrap())
    );
    // other token
    let e = c
        .create_secret()
        .name("idem")
        .secret_string("x")
        .client_request_token(T2)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ResourceExistsException");
    assert_eq!(
        message(&e),
        "The operation failed because the secret idem already exists."
    );
    // a string then a binary under the same token count as different values
    let e = c
        .create_secret()
        .name("idem")
        .secret_binary(Blob::new(b"x".to_vec()))
        .client_request_token(T1)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ResourceExistsException");
    // both values
    let e = c
        .create_secret()
        .name("both")
        .secret_string("x")
        .secret_binary(Blob::new(vec![1]))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidParameterException");
    // bad names
    let e = c
        .create_secret()
        .name("has space")
        .secret_string("x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ValidationException");
    let e = c
        .create_secret()
        .name("x".repeat(513))
        .secret_string("x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ValidationException");
    assert!(
        message(&e).contains("Member must have length less than or equal to 512"),
        "{}",
        message(&e)
    );
    // unknown KMS key, known default alias and configured key
    let e = c
        .create_secret()
        .name("k")
        .kms_key_id("alias/nope")
        .secret_string("x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidParameterException");
    c.create_secret()
        .name("k")
        .kms_key_id("alias/aws/secretsmanager")
        .secret_string("x")
        .send()
        .await
        .unwrap();
    // no value: no version, GetSecretValue fails
    c.create_secret().name("empty").send().await.unwrap();
    let d = c.describe_secret().secret_id("empty").send().await.unwrap();
    assert!(d.version_ids_to_stages().is_none());
    let e = c
        .get_secret_value()
        .secret_id("empty")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ResourceNotFoundException");
    assert!(message(&e).contains("staging label: AWSCURRENT"));
    // first PutSecretValue on an empty secret gets AWSCURRENT even with custom stages
    let p = c
        .put_secret_value()
        .secret_id("empty")
        .secret_string("z")
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
    let d = c.describe_secret().secret_id("b").send().await.unwrap();
    assert_eq!(d.kms_key_id(), Some("alias/team"));
    let e = c
        .update_secret()
        .secret_id("b")
        .kms_key_id("other-key")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidParameterException");
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
    let emu = emulator().await;
    let c = client(&emu);
    let name = "a/b_c+d=e.f@g-h";
    c.create_secret()
        .name(name)
        .secret_binary(Blob::new(vec![0u8]))
        .send()
        .await
        .unwrap();
    let g = c.get_secret_value().secret_id(name).send().await.unwrap();
    assert_eq!(g.secret_binary().unwrap().as_ref(), &[0u8]);
    assert!(g.secret_string().is_none());
    let big: Vec<u8> = (0..65_536u32).map(|i| (i % 251) as u8).collect();
    c.put_secret_value()
        .secret_id(name)
        .secret_binary(Blob::new(big.clone()))
        .send()
        .await
        .unwrap();
    let g = c.get_secret_value().secret_id(name).send().await.unwrap();
    assert_eq!(g.secret_binary().unwrap().as_ref(), big.as_slice());
    let mut too_big = big.clone();
    too_big.push(1);
    let e = c
        .put_secret_value()
        .secret_id(name)
        .secret_binary(Blob::new(too_big))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ValidationException");
    assert!(message(&e).contains("65536"));
    let e = c
        .put_secret_value()
        .secret_id(name)
        .secret_string("s".repeat(65_537))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ValidationException");
    assert!(!message(&e).contains("sss"), "the value must not be echoed");
    c.put_secret_value()
        .secret_id(name)
        .secret_string("s".repeat(65_536))
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn partial_arn_lookup_and_ambiguity() {
    let emu = emulator().await;
    let c = client(&emu);
    let foo = c
        .create_secret()
        .name("foo")
        .secret_string("1")
        .send()
        .await
        .unwrap();
    let foo_arn = foo.arn().unwrap().to_string();
    let partial = foo_arn[..foo_arn.len() - 7].to_string();
    let g = c
        .get_secret_value()
        .secret_id(&partial)
        .send()
        .await
        .unwrap();
    assert_eq!(g.secret_string(), Some("1"));
    assert_eq!(g.arn(), Some(foo_arn.as_str()));
    // a secret whose name is "foo-" + foo's suffix makes foo's full ARN ambiguous
    let clash_name = format!("foo-{}", &foo_arn[foo_arn.len() - 6..]);
    let clash = c
        .create_secret()
        .name(&clash_name)
        .secret_string("2")
        .send()
        .await
        .unwrap();
    let e = c
        .get_secret_value()
        .secret_id(&foo_arn)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidParameterException");
    assert!(message(&e).contains("ambiguous"));
    // the clashing secret's own full ARN and both names still work
    let g = c
        .get_secret_value()
        .secret_id(clash.arn().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(g.secret_string(), Some("2"));
    assert_eq!(
        c.get_secret_value()
            .secret_id("foo")
            .send()
            .await
            .unwrap()
            .secret_string(),
        Some("1")
    );
    // wrong suffix, other region or account: not found
    let wrong = format!("{partial}-ZZZZZZ");
    assert_eq!(
        code(
            &c.get_secret_value()
                .secret_id(&wrong)
                .send()
                .await
                .unwrap_err()
        ),
        "ResourceNotFoundException"
    );
    let other = foo_arn.replace("us-east-1", "eu-west-1");
    assert_eq!(
        code(
            &c.get_secret_value()
                .secret_id(&other)
                .send()
                .await
                .unwrap_err()
        ),
        "ResourceNotFoundException"
    );
}

#[tokio::test]
async fn regions_are_separate() {
    let emu = emulator().await;
    let east = client(&emu);
    let west = common::client_for(
        &emu.endpoint(),
        "eu-west-1",
        common::AKID,
        common::SECRET_KEY,
    );
    east.create_secret()
        .name("same")
        .secret_string("east")
        .send()
        .await
        .unwrap();
    let w = west
        .create_secret()
        .name("same")
        .secret_string("west")
        .send()
        .await
        .unwrap();
    assert!(w.arn().unwrap().contains(":eu-west-1:"));
    assert_eq!(
        west.get_secret_value()
            .secret_id("same")
            .send()
            .await
            .unwrap()
            .secret_string(),
        Some("west")
    );
    assert_eq!(
        east.get_secret_value()
            .secret_id("same")
            .send()
            .await
            .unwrap()
            .secret_string(),
        Some("east")
    );
    // a 12-digit access key id selects the account
    let acct = common::client_for(&emu.endpoint(), "us-east-1", "210987654321", "x");
    let a = acct
        .create_secret()
        .name("same")
        .secret_string("other account")
        .send()
        .await
        .unwrap();
    assert!(a.arn().unwrap().contains(":210987654321:"));
}

#[tokio::test]
async fn put_idempotency_and_stages() {
    let emu = emulator().await;
    let c = client(&emu);
    c.create_secret()
        .name("s")
        .secret_string("v1")
        .client_request_token(T1)
        .send()
        .await
        .unwrap();
    let p = c
        .put_secret_value()
        .secret_id("s")
        .secret_string("v2")
        .client_request_token(T2)
        .send()
        .await
        .unwrap();
    let again = c
        .put_secret_value()
        .secret_id("s")
        .secret_string("v2")
        .client_request_token(T2)
        .send()
        .await
        .unwrap();
    assert_eq!(p.version_id(), again.version_id());
    assert_eq!(again.version_stages(), ["AWSCURRENT"]);
    let e = c
        .put_secret_value()
        .secret_id("s")
        .secret_string("other")
        .client_request_token(T2)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ResourceExistsException");
    // AWSPENDING without AWSCURRENT: current stays
    c.put_secret_value()
        .secret_id("s")
        .secret_string("v3")
        .client_request_token(T3)
        .version_stages("AWSPENDING")
        .send()
        .await
        .unwrap();
    assert_eq!(
        c.get_secret_value()
            .secret_id("s")
            .send()
            .await
            .unwrap()
            .secret_string(),
        Some("v2")
    );
    assert_eq!(
        c.get_secret_value()
            .secret_id("s")
            .version_stage("AWSPENDING")
            .send()
            .await
            .unwrap()
            .secret_string(),
        Some("v3")
    );
    // no value at all
    let e = c
        .put_secret_value()
        .secret_id("s")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidParameterException");
    // 21 labels
    let labels: Vec<String> = (0..21).map(|i| format!("L{i}")).collect();
    let e = c
        .put_secret_value()
        .secret_id("s")
        .secret_string("x")
        .set_version_stages(Some(labels))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ValidationException");
    let e = c
        .put_secret_value()
        .secret_id("nope")
        .secret_string("x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ResourceNotFoundException");
}

#[tokio::test]
async fn update_secret_metadata_and_value() {
    let emu = emulator().await;
    let c = client(&emu);
    c.create_secret()
        .name("u")
        .secret_string("v1")
        .send()
        .await
        .unwrap();
    let before = c.describe_secret().secret_id("u").send().await.unwrap();
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
    let r = c
        .update_secret()
        .secret_id("u")
        .secret_string("v2")
        .client_request_token(T2)
        .send()
        .await
        .unwrap();
    assert_eq!(r.version_id(), Some(T2));
    let again = c
        .update_secret()
        .secret_id("u")
        .secret_string("v2")
        .client_request_token(T2)
        .send()
        .await
        .unwrap();
    assert_eq!(again.version_id(), Some(T2));
    let e = c
        .update_secret()
        .secret_id("u")
        .secret_string("v9")
        .client_request_token(T2)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ResourceExistsException");
    let d = c.describe_secret().secret_id("u").send().await.unwrap();
    assert_eq!(d.description(), Some("d2"));
    assert_eq!(d.created_date(), before.created_date());
    assert_eq!(d.version_ids_to_stages().unwrap().len(), 2);
    assert_eq!(
        c.get_secret_value()
            .secret_id("u")
            .send()
            .await
            .unwrap()
            .secret_string(),
        Some("v2")
    );
    let e = c
        .update_secret()
        .secret_id("nope")
        .description("x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ResourceNotFoundException");
}

#[tokio::test]
async fn update_secret_version_stage_rules() {
    let emu = emulator().await;
    let c = client(&emu);
    c.create_secret()
        .name("st")
        .secret_string("cur")
        .client_request_token(T1)
        .send()
        .await
        .unwrap();
    c.put_secret_value()
        .secret_id("st")
        .secret_string("new")
        .client_request_token(T2)
        .version_stages("AWSPENDING")
        .send()
        .await
        .unwrap();
    // moving AWSCURRENT without RemoveFromVersionId
    let e = c
        .update_secret_version_stage()
        .secret_id("st")
        .version_stage("AWSCURRENT")
        .move_to_version_id(T2)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidParameterException");
    assert!(
        message(&e).contains("RemoveFromVersionId can't be empty"),
        "{}",
        message(&e)
    );
    // the AWS-verified worked example
    c.update_secret_version_stage()
        .secret_id("st")
        .version_stage("AWSCURRENT")
        .move_to_version_id(T2)
        .remove_from_version_id(T1)
        .send()
        .await
        .unwrap();
    let map = c
        .describe_secret()
        .secret_id("st")
        .send()
        .await
        .unwrap()
        .version_ids_to_stages()
        .unwrap()
        .clone();
    let mut new_stages = map[T2].clone();
    new_stages.sort();
    assert_eq!(new_stages, vec!["AWSCURRENT", "AWSPENDING"]);
    assert_eq!(map[T1], vec!["AWSPREVIOUS"]);
    // custom label: add, then remove
    c.update_secret_version_stage()
        .secret_id("st")
        .version_stage("BLUE")
        .move_to_version_id(T1)
        .send()
        .await
        .unwrap();
    c.update_secret_version_stage()
        .secret_id("st")
        .version_stage("BLUE")
        .remove_from_version_id(T1)
        .send()
        .await
        .unwrap();
    let map = c
        .describe_secret()
        .secret_id("st")
        .send()
        .await
        .unwrap()
        .version_ids_to_stages()
        .unwrap()
        .clone();
    assert_eq!(map[T1], vec!["AWSPREVIOUS"]);
    let e = c
        .update_secret_version_stage()
        .secret_id("st")
        .version_stage("X")
        .move_to_version_id("99999999-9999-9999-9999-999999999999")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidParameterException");
    let e = c
        .update_secret_version_stage()
        .secret_id("st")
        .version_stage("AWSPENDING")
        .remove_from_version_id(T1)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidParameterException");
    let e = c
        .update_secret_version_stage()
        .secret_id("nope")
        .version_stage("X")
        .move_to_version_id(T1)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ResourceNotFoundException");
    // 20 labels max on a version (T1 already carries AWSPREVIOUS)
    for i in 0..19 {
        c.update_secret_version_stage()
            .secret_id("st")
            .version_stage(format!("L{i}"))
            .move_to_version_id(T1)
            .send()
            .await
            .unwrap();
    }
    let e = c
        .update_secret_version_stage()
        .secret_id("st")
        .version_stage("L99")
        .move_to_version_id(T1)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "LimitExceededException");
}

#[tokio::test]
async fn delete_restore_and_recovery_window() {
    let emu = emulator().await;
    let c = client(&emu);
    c.create_secret()
        .name("del")
        .secret_string("x")
        .send()
        .await
        .unwrap();
    let e = c
        .delete_secret()
        .secret_id("del")
        .recovery_window_in_days(6)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidParameterException");
    let e = c
        .delete_secret()
        .secret_id("del")
        .recovery_window_in_days(7)
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidParameterException");
    let d = c
        .delete_secret()
        .secret_id("del")
        .recovery_window_in_days(7)
        .send()
        .await
        .unwrap();
    let deletion = d.deletion_date().unwrap().secs();
    let now = emu.clock().now() as i64;
    assert!(
        (deletion - now - 7 * 86_400).abs() <= 2,
        "{deletion} vs {now}"
    );
    // while scheduled
    for e in [
        code(
            &c.get_secret_value()
                .secret_id("del")
                .send()
                .await
                .unwrap_err(),
        ),
        code(
            &c.put_secret_value()
                .secret_id("del")
                .secret_string("y")
                .send()
                .await
                .unwrap_err(),
        ),
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
        code(
            &c.create_secret()
                .name("del")
                .secret_string("x")
                .send()
                .await
                .unwrap_err(),
        ),
        code(&c.delete_secret().secret_id("del").send().await.unwrap_err()),
    ] {
        assert_eq!(e, "InvalidRequestException");
    }
    let desc = c.describe_secret().secret_id("del").send().await.unwrap();
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
    assert_eq!(
        c.get_secret_value()
            .secret_id("del")
            .send()
            .await
            .unwrap()
            .secret_string(),
        Some("x")
    );
    c.restore_secret().secret_id("del").send().await.unwrap(); // not deleted: still fine
    assert_eq!(
        code(
            &c.restore_secret()
                .secret_id("nope")
                .send()
                .await
                .unwrap_err()
        ),
        "ResourceNotFoundException"
    );
    // window expiry on the controllable clock, then the name is reusable
    c.delete_secret()
        .secret_id("del")
        .recovery_window_in_days(7)
        .send()
        .await
        .unwrap();
    emu.clock().advance(Duration::from_secs(6 * 86_400));
    assert!(c.describe_secret().secret_id("del").send().await.is_ok());
    emu.clock().advance(Duration::from_secs(86_400 + 10));
    assert_eq!(
        code(
            &c.describe_secret()
                .secret_id("del")
                .send()
                .await
                .unwrap_err()
        ),
        "ResourceNotFoundException"
    );
    assert_eq!(
        code(
            &c.restore_secret()
                .secret_id("del")
                .send()
                .await
                .unwrap_err()
        ),
        "ResourceNotFoundException"
    );
    c.create_secret()
        .name("del")
        .secret_string("new")
        .send()
        .await
        .unwrap();
    assert_eq!(
        c.get_secret_value()
            .secret_id("del")
            .send()
            .await
            .unwrap()
            .secret_string(),
        Some("new")
    );
    // force delete: immediate, also for a missing secret, also for a scheduled one
    c.delete_secret()
        .secret_id("del")
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap();
    assert_eq!(
        code(
            &c.describe_secret()
                .secret_id("del")
                .send()
                .await
                .unwrap_err()
        ),
        "ResourceNotFoundException"
    );
    let r = c
        .delete_secret()
        .secret_id("never")
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap();
    assert_eq!(r.name(), Some("never"));
    c.create_secret()
        .name("sched")
        .secret_string("x")
        .send()
        .await
        .unwrap();
    c.delete_secret().secret_id("sched").send().await.unwrap();
    c.delete_secret()
        .secret_id("sched")
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap();
    c.create_secret()
        .name("sched")
        .secret_string("x")
        .send()
        .await
        .unwrap();
    assert_eq!(
        code(
            &c.delete_secret()
                .secret_id("nope")
                .send()
                .await
                .unwrap_err()
        ),
        "ResourceNotFoundException"
    );
}

#[tokio::test]
async fn version_pruning_with_the_clock() {
    let emu = emulator().await;
    let c = client(&emu);
    c.create_secret()
        .name("gc")
        .secret_string("v0")
        .send()
        .await
        .unwrap();
    // 60 old versions
    for i in 0..60 {
        c.put_secret_value()
            .secret_id("gc")
            .secret_string(format!("old{i}"))
            .send()
            .await
            .unwrap();
    }
    emu.clock().advance(Duration::from_secs(86_400 + 1));
    // 60 young versions: total 121, all old unlabelled ones may go but never young ones
    for i in 0..60 {
        c.put_secret_value()
            .secret_id("gc")
            .secret_string(format!("young{i}"))
            .send()
            .await
            .unwrap();
    }
    let mut all = Vec::new();
    let mut token = None;
    loop {
        let r = c
            .list_secret_version_ids()
            .secret_id("gc")
            .include_deprecated(true)
            .max_results(7)
            .set_next_token(token)
            .send()
            .await
            .unwrap();
        all.extend(
            r.versions()
                .iter()
                .map(|v| v.version_id().unwrap().to_string()),
        );
        token = r.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(all.len(), 100, "pruned down to 100 versions");
    let mut dedup = all.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(dedup.len(), 100, "paging returns each version once");
    // all 60 young versions survive; so does every labelled one
    let labelled = c
        .list_secret_version_ids()
        .secret_id("gc")
        .send()
        .await
        .unwrap();
    assert_eq!(
        labelled.versions().len(),
        2,
        "without IncludeDeprecated only labelled versions"
    );
    // 70 more young versions: the first 40 each push out one of the 40 remaining old ones, then
    // nothing is old enough to prune, so the secret grows to 130 versions
    for i in 0..70 {
        c.put_secret_value()
            .secret_id("gc")
            .secret_string(format!("more{i}"))
            .send()
            .await
            .unwrap();
    }
    let r = c
        .list_secret_version_ids()
        .secret_id("gc")
        .include_deprecated(true)
        .max_results(100)
        .send()
        .await
        .unwrap();
    assert_eq!(r.versions().len(), 100);
    let r2 = c
        .list_secret_version_ids()
        .secret_id("gc")
        .include_deprecated(true)
        .max_results(100)
        .next_token(r.next_token().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r2.versions().len(), 30);
    assert!(r2.next_token().is_none());
    let e = c
        .list_secret_version_ids()
        .secret_id("gc")
        .next_token("garbage")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidNextTokenException");
}

#[tokio::test]
async fn expired_secrets_are_purged_in_the_background() {
    let emu = emulator().await;
    let c = client(&emu);
    // two windows: the sweep purges the first, then waits for the second's end
    for (name, days) in [("sweep", 7), ("later", 10)] {
        c.create_secret()
            .name(name)
            .secret_string("x")
            .send()
            .await
            .unwrap();
        c.delete_secret()
            .secret_id(name)
            .recovery_window_in_days(days)
            .send()
            .await
            .unwrap();
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
