//! Answers compared with what real AWS answered, as recorded in public AWS-validated snapshots
//! (LocalStack's `tests/aws/services/secretsmanager/test_secretsmanager.snapshot.json`) and in
//! botocore's service model: refused names on every operation, the order of checks (a request's
//! own members before the secret lookup), error bodies, members present or left out, labels after
//! PutSecretValue, rotation without a usable function, version order, GetRandomPassword limits,
//! the ListSecrets filter-key enumeration and the replication conflict codes.

#![allow(clippy::unwrap_used)]

mod common;

use aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput;
use aws_sdk_secretsmanager::primitives::Blob;
use aws_sdk_secretsmanager::types::{
    Filter, FilterNameStringType, ReplicaRegionType, RotationRulesType, Tag,
};
use aws_sdk_secretsmanager::Client;
use common::{aws_call, client, code, emulator, message};
use secretsmanager_emulator::rotation::RotationSettings;
use secretsmanager_emulator::Emulator;
use serde_json::Value;

const INVALID_NAME: &str = "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!";
const TOKEN_REQUIRED: &str =
    "You must provide a ClientRequestToken value. We recommend a UUID-type value.";
const LAMBDA_DENIED: &str = "Secrets Manager cannot invoke the specified Lambda function. Ensure that the function policy grants access to the principal secretsmanager.amazonaws.com.";
const NOT_FOUND: &str = "Secrets Manager can't find the specified secret.";
const USER_FN: &str = "arn:aws:lambda:us-east-1:123456789012:function:not-mapped";

/// Asserts that an SDK call failed with `want_code` and, unless `want_message` is empty, exactly
/// that message.
#[track_caller]
fn refused<T, E>(r: Result<T, E>, want_code: &str, want_message: &str)
where
    T: std::fmt::Debug,
    E: aws_sdk_secretsmanager::error::ProvideErrorMetadata,
{
    let e = r.expect_err("the call should fail");
    assert_eq!(code(&e), want_code, "{}", message(&e));
    if !want_message.is_empty() {
        assert_eq!(message(&e), want_message);
    }
}

async fn create(c: &Client, name: &str, value: &str) -> String {
    c.create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .expect("create")
        .version_id()
        .expect("version id")
        .to_string()
}

/// PutSecretValue of `value` with the given labels (AWSCURRENT when none); the new version's id.
async fn put(c: &Client, id: &str, value: &str, stages: &[&str]) -> String {
    let labels = (!stages.is_empty()).then(|| stages.iter().map(|s| s.to_string()).collect());
    let p = c.put_secret_value().secret_id(id).secret_string(value);
    let p = p.set_version_stages(labels).send().await.expect("put");
    p.version_id().expect("version id").to_string()
}

/// A secret `id` with `n` versions written back to back, each later one taking AWSCURRENT, or a
/// label of its own (`L1`, `L2`, ...) when `labelled`; their ids in creation order.
async fn back_to_back(c: &Client, id: &str, n: usize, labelled: bool) -> Vec<String> {
    let mut ids = vec![create(c, id, "v0").await];
    for i in 1..n {
        let label = format!("L{i}");
        let stages: &[&str] = if labelled { &[&label] } else { &[] };
        ids.push(put(c, id, &format!("v{i}"), stages).await);
    }
    ids
}

/// Moves AWSCURRENT from version `from` to version `to`.
async fn move_current(c: &Client, id: &str, from: &str, to: &str) {
    let u = c.update_secret_version_stage().secret_id(id);
    let u = u.version_stage("AWSCURRENT").remove_from_version_id(from);
    u.move_to_version_id(to)
        .send()
        .await
        .expect("move AWSCURRENT");
}

/// ListSecretVersionIds as (id, VersionStages) pairs, one page; labels sorted (the recordings show
/// them sorted, which may be the snapshot's doing, so their order is not compared).
async fn versions(c: &Client, id: &str, deprecated: bool) -> Vec<(String, Option<Vec<String>>)> {
    let l = c
        .list_secret_version_ids()
        .secret_id(id)
        .include_deprecated(deprecated);
    let l = l.send().await.expect("list versions");
    l.versions()
        .iter()
        .map(|v| {
            let mut stages = v.version_stages.clone();
            stages.iter_mut().for_each(|l| l.sort());
            (v.version_id().unwrap().to_string(), stages)
        })
        .collect()
}

/// Labels as [`versions`] answers them.
fn labels(s: &[&str]) -> Option<Vec<String>> {
    let mut l: Vec<String> = s.iter().map(|x| x.to_string()).collect();
    l.sort();
    Some(l)
}

/// DescribeSecret's raw JSON answer.
async fn describe_raw(emu: &Emulator, id: &str) -> Value {
    let body = serde_json::json!({ "SecretId": id }).to_string();
    aws_call(emu.addr(), "secretsmanager.DescribeSecret", &body)
        .await
        .json()
}

/// The names of LocalStack's recorded `test_invalid_secret_name` cases.
const BAD_NAMES: [&str; 4] = ["Inv Name", " Inv Name", " Inv*Name? ", " Inv *?!]Name\\-"];

/// Every operation that takes a SecretId, with a request that is valid but for the id `{id}`.
const WITH_SECRET_ID: [(&str, &str); 22] = [
    ("DeleteSecret", r#""ForceDeleteWithoutRecovery":true"#),
    ("DescribeSecret", ""),
    ("GetSecretValue", ""),
    ("ListSecretVersionIds", r#""IncludeDeprecated":true"#),
    (
        "PutSecretValue",
        r#""SecretString":"s","ClientRequestToken":"TOKEN""#,
    ),
    (
        "TagResource",
        r#""Tags":[{"Key":"FirstTag","Value":"SomeValue"}]"#,
    ),
    ("UntagResource", r#""TagKeys":["FirstTag"]"#),
    ("UpdateSecret", r#""Description":"MyNewDescription""#),
    ("ValidateResourcePolicy", r#""ResourcePolicy":"POLICY""#),
    ("RestoreSecret", ""),
    ("RotateSecret", r#""ClientRequestToken":"TOKEN""#),
    ("CancelRotateSecret", ""),
    (
        "UpdateSecretVersionStage",
        r#""VersionStage":"AWSCURRENT","MoveToVersionId":"TOKEN""#,
    ),
    ("PutResourcePolicy", r#""ResourcePolicy":"POLICY""#),
    ("GetResourcePolicy", ""),
    ("DeleteResourcePolicy", ""),
    ("ListResourcePolicies", ""),
    (
        "ReplicateSecretToRegions",
        r#""AddReplicaRegions":[{"Region":"eu-west-1"}]"#,
    ),
    (
        "RemoveRegionsFromReplication",
        r#""RemoveReplicaRegions":["eu-west-1"]"#,
    ),
    ("StopReplicationToReplica", ""),
    (
        "AssociateCrossAccountReplica",
        r#""CrossAccountReplicaARN":"REPLICA""#,
    ),
    (
        "DisassociateCrossAccountReplica",
        r#""CrossAccountReplicaARN":"REPLICA""#,
    ),
];

const POLICY: &str = r#"{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::123456789012:root\"},\"Action\":\"secretsmanager:GetSecretValue\",\"Resource\":\"*\"}]}"#;

/// The raw request of `op` for secret `id` (see [`WITH_SECRET_ID`]).
fn request_for(id: &str, members: &str) -> String {
    let id = serde_json::to_string(id).unwrap();
    let members = members
        .replace("TOKEN", &"a".repeat(36))
        .replace("POLICY", POLICY)
        .replace(
            "REPLICA",
            "arn:aws:secretsmanager:us-east-1:210987654321:secret:replica-AbCdEf",
        );
    let sep = if members.is_empty() { "" } else { "," };
    format!(r#"{{"SecretId":{id}{sep}{members}}}"#)
}

#[tokio::test]
async fn invalid_names_are_refused_on_every_operation_before_the_lookup_and_valid_ones_work() {
    let emu = emulator().await;
    let c = client(&emu);
    for name in BAD_NAMES {
        // through the SDK, as recorded (test_invalid_secret_name)
        let create = c.create_secret().name(name).secret_string("s");
        refused(create.send().await, "ValidationException", INVALID_NAME);
        let get = c.get_secret_value().secret_id(name).send().await;
        refused(get, "ValidationException", INVALID_NAME);
        let restore = c.restore_secret().secret_id(name).send().await;
        refused(restore, "ValidationException", INVALID_NAME);
        // BatchGetSecretValue answers it for that id alone, among its Errors
        let batch = c.batch_get_secret_value().secret_id_list(name);
        let batch = batch.secret_id_list("missing").send().await.unwrap();
        let errors: Vec<(&str, &str)> = batch
            .errors()
            .iter()
            .map(|e| (e.error_code().unwrap_or(""), e.message().unwrap_or("")))
            .collect();
        assert_eq!(
            errors,
            [
                ("ValidationException", INVALID_NAME),
                ("ResourceNotFoundException", NOT_FOUND)
            ]
        );
        // on the wire, every operation that takes a SecretId
        for (op, members) in WITH_SECRET_ID {
            let r = aws_call(
                emu.addr(),
                &format!("secretsmanager.{op}"),
                &request_for(name, members),
            )
            .await;
            let v = r.json();
            assert_eq!(
                (r.status, &v["__type"], &v["Message"]),
                (
                    400,
                    &Value::from("ValidationException"),
                    &Value::from(INVALID_NAME)
                ),
                "{op} with {name:?}: {v}"
            );
        }
    }
    // the same requests with a valid name of a missing secret reach the lookup
    for (op, members) in WITH_SECRET_ID {
        let r = aws_call(
            emu.addr(),
            &format!("secretsmanager.{op}"),
            &request_for("missing", members),
        )
        .await;
        let v = r.json();
        let code = v["__type"].as_str().unwrap_or_default();
        let ok = match op {
            // a forced deletion of a missing secret succeeds, as in AWS
            "DeleteSecret" => r.status == 200,
            _ => code == "ResourceNotFoundException",
        };
        assert!(ok, "{op}: {} {v}", r.status);
    }
    // an ARN is looked up, not checked as a name (its ':' are not name characters)
    let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:missing-AbCdEf";
    assert_eq!(describe_raw(&emu, arn).await["Message"], NOT_FOUND);
    // as recorded (test_create_and_update_secret[Valid/_+=.@-Name-a1b2c3-])
    let name = "Valid/_+=.@-Name-a1b2c3-";
    create(&c, name, "my_secret").await;
    for (op, members) in WITH_SECRET_ID.iter().skip(1).take(3) {
        let r = aws_call(
            emu.addr(),
            &format!("secretsmanager.{op}"),
            &request_for(name, members),
        )
        .await;
        assert_eq!(r.status, 200, "{op}: {}", r.json());
    }
    emu.shutdown().await;
}

/// The members of an error body, comma-separated in sorted order.
fn members(v: &Value) -> String {
    let mut names: Vec<&str> = match v.as_object() {
        Some(m) => m.keys().map(String::as_str).collect(),
        None => Vec::new(),
    };
    names.sort_unstable();
    names.join(",")
}

#[tokio::test]
async fn a_raw_request_without_client_request_token_is_refused_before_the_lookup() {
    let emu = emulator().await;
    // as recorded (test_no_client_request_token): SecretString and Description, no token, a
    // secret that does not exist
    let members_sent = r#""SecretString":"thisisthesecret","Description":"My secret string""#;
    for (op, id, want) in [
        ("CreateSecret", "Name", "InvalidRequestException"),
        ("UpdateSecret", "SecretId", "InvalidRequestException"),
        ("PutSecretValue", "SecretId", "InvalidRequestException"),
        ("RotateSecret", "SecretId", "InvalidParameterException"),
    ] {
        let body = format!(r#"{{"{id}":"tok-missing",{members_sent}}}"#);
        let r = aws_call(emu.addr(), &format!("secretsmanager.{op}"), &body).await;
        let v = r.json();
        assert_eq!(
            (r.status, members(&v)),
            (400, "Message,__type".into()),
            "{op}"
        );
        assert_eq!(
            (&v["__type"], &v["Message"]),
            (&Value::from(want), &Value::from(TOKEN_REQUIRED)),
            "{op}"
        );
        assert_eq!(r.header("x-amzn-errortype"), Some(want), "{op}");
    }
    emu.shutdown().await;
}

#[tokio::test]
async fn error_bodies_carry_type_and_message_only_and_every_sdk_reads_them() {
    let emu = emulator().await;
    let missing = describe_raw(&emu, "nope").await;
    assert_eq!(members(&missing), "Message,__type", "{missing}");
    assert_eq!(missing["Message"], NOT_FOUND);
    // a front-end validation error has the same two members
    let r = aws_call(emu.addr(), "secretsmanager.DescribeSecret", "{}").await;
    assert_eq!(members(&r.json()), "Message,__type");
    // the Rust SDK (the broker's aws backend uses it) still reads the message
    let c = client(&emu);
    let d = c.describe_secret().secret_id("nope").send().await;
    refused(d, "ResourceNotFoundException", NOT_FOUND);
    emu.shutdown().await;
}

#[tokio::test]
async fn request_members_are_checked_before_the_secret_is_looked_up() {
    let emu = emulator().await;
    let c = client(&emu);
    let id = "missing";
    // DeleteSecret: both deletion options, or a window outside 7-30, on a missing secret
    let delete = || c.delete_secret().secret_id(id);
    let both = delete().recovery_window_in_days(7);
    let both = both.force_delete_without_recovery(true);
    refused(both.send().await, "InvalidParameterException", "");
    let short = delete().recovery_window_in_days(3);
    refused(short.send().await, "InvalidParameterException", "");
    // PutResourcePolicy: a policy that is not a policy, on a missing secret
    let policy = c.put_resource_policy().secret_id(id);
    let policy = policy.resource_policy("{not json");
    refused(policy.send().await, "MalformedPolicyDocumentException", "");
    // PutSecretValue: both kinds of value, on a missing secret
    let put = c.put_secret_value().secret_id(id).secret_string("s");
    let put = put.secret_binary(Blob::new(vec![1]));
    refused(put.send().await, "InvalidParameterException", "");
    // RotateSecret: rules out of range, on a missing secret
    let rules = RotationRulesType::builder().automatically_after_days(0);
    let rotate = c.rotate_secret().secret_id(id);
    let rotate = rotate.rotation_rules(rules.build());
    refused(rotate.send().await, "InvalidParameterException", "");
    // a well-formed request on a missing secret is a ResourceNotFoundException
    let found = delete().send().await;
    refused(found, "ResourceNotFoundException", NOT_FOUND);
    emu.shutdown().await;
}

/// DescribeSecret through the SDK.
async fn describe(c: &Client, id: &str) -> DescribeSecretOutput {
    let d = c.describe_secret().secret_id(id);
    d.send().await.expect("describe")
}

#[tokio::test]
async fn tags_are_an_empty_list_once_all_are_removed_and_absent_before() {
    let emu = emulator().await;
    let c = client(&emu);
    create(&c, "tagged", "v").await;
    assert!(describe(&c, "tagged").await.tags.is_none(), "never tagged");
    let tag = Tag::builder().key("tag1").value("value1").build();
    let t = c.tag_resource().secret_id("tagged").tags(tag);
    t.send().await.expect("tag");
    let untag = c.untag_resource().secret_id("tagged").tag_keys("tag1");
    untag.send().await.expect("untag");
    // as recorded (test_secret_tags): "Tags": [] in DescribeSecret, and in a ListSecrets entry
    let tags = describe(&c, "tagged").await.tags;
    assert_eq!(tags.as_deref(), Some(&[][..]), "all removed: Tags is []");
    let raw = describe_raw(&emu, "tagged").await;
    assert_eq!(raw["Tags"], serde_json::json!([]));
    let l = c.list_secrets().send().await.unwrap();
    assert_eq!(l.secret_list()[0].tags.as_deref(), Some(&[][..]));
    emu.shutdown().await;
}

#[tokio::test]
async fn an_empty_description_is_left_out() {
    let emu = emulator().await;
    let c = client(&emu);
    let create = c.create_secret().name("nodesc").description("");
    create.secret_string("v").send().await.unwrap();
    let d = describe(&c, "nodesc").await;
    assert!(d.description.is_none(), "{:?}", d.description);
    for text in ["set", ""] {
        let u = c.update_secret().secret_id("nodesc").description(text);
        u.send().await.unwrap();
    }
    let raw = describe_raw(&emu, "nodesc").await;
    assert!(raw.get("Description").is_none(), "{raw}");
    let l = c.list_secrets().send().await.unwrap();
    assert!(l.secret_list()[0].description.is_none());
    emu.shutdown().await;
}

#[tokio::test]
async fn versions_list_oldest_first_and_deprecated_ones_have_no_version_stages() {
    let emu = emulator().await;
    let c = client(&emu);
    // as recorded (test_deprecated_secret_version_stage): four values, the first two deprecated
    let ids = back_to_back(&c, "dep", 4, false).await;
    assert_eq!(
        versions(&c, "dep", true).await,
        vec![
            (ids[0].clone(), None),
            (ids[1].clone(), None),
            (ids[2].clone(), labels(&["AWSPREVIOUS"])),
            (ids[3].clone(), labels(&["AWSCURRENT"])),
        ]
    );
    // on the wire the key is absent, not null or []
    let r = aws_call(
        emu.addr(),
        "secretsmanager.ListSecretVersionIds",
        r#"{"SecretId":"dep","IncludeDeprecated":true}"#,
    )
    .await;
    let first = &r.json()["Versions"][0];
    assert!(first.get("VersionStages").is_none(), "{first}");
    // versions written back to back (most in the same millisecond) keep their creation order
    // across pages; custom labels keep them all listed
    let ids = back_to_back(&c, "fast", 8, true).await;
    let pages = c.list_secret_version_ids().secret_id("fast").max_results(3);
    let pages: Vec<_> = pages.into_paginator().send().collect().await;
    assert_eq!(pages.len(), 3, "three pages of at most three");
    let listed: Vec<String> = pages
        .into_iter()
        .flat_map(|p| p.unwrap().versions)
        .flatten()
        .filter_map(|v| v.version_id)
        .collect();
    assert_eq!(listed, ids);
    emu.shutdown().await;
}

#[tokio::test]
async fn put_secret_value_leaves_the_version_it_takes_current_from_with_previous_only() {
    let emu = emulator().await;
    let c = client(&emu);
    // as recorded (test_update_secret_version_stages_current_pending)
    let v0 = create(&c, "stages", "Something1").await;
    let v1 = put(&c, "stages", "Something2", &["AWSPENDING"]).await;
    move_current(&c, "stages", &v0, &v1).await;
    assert_eq!(
        versions(&c, "stages", false).await,
        vec![
            (v0.clone(), labels(&["AWSPREVIOUS"])),
            (v1.clone(), labels(&["AWSCURRENT", "AWSPENDING"])),
        ]
    );
    let v2 = put(&c, "stages", "SS3", &[]).await;
    assert_eq!(
        versions(&c, "stages", false).await,
        vec![
            (v1.clone(), labels(&["AWSPREVIOUS"])),
            (v2.clone(), labels(&["AWSCURRENT"])),
        ]
    );
    // UpdateSecret with a value moves the labels the same way
    let v3 = put(&c, "stages", "S4", &["AWSPENDING"]).await;
    move_current(&c, "stages", &v2, &v3).await;
    let u = c.update_secret().secret_id("stages").secret_string("S5");
    u.send().await.unwrap();
    let listed = versions(&c, "stages", false).await;
    assert_eq!(listed[0], (v3, labels(&["AWSPREVIOUS"])));
    emu.shutdown().await;
}

#[tokio::test]
async fn rotation_without_a_usable_function_is_refused_as_aws_does_by_default() {
    let emu = emulator().await;
    let c = client(&emu);
    assert!(emu.rotation().strict(), "AWS's behaviour is the default");
    create(&c, "rot", "v").await;
    let no_function = c.rotate_secret().secret_id("rot").send().await;
    refused(
        no_function,
        "InvalidRequestException",
        "No Lambda rotation function ARN is associated with this secret.",
    );
    // as recorded (test_rotate_secret_invalid_lambda_arn): AWS's message, no emulator hint in it
    let unmapped = c
        .rotate_secret()
        .secret_id("rot")
        .rotation_lambda_arn(USER_FN);
    refused(
        unmapped.send().await,
        "AccessDeniedException",
        LAMBDA_DENIED,
    );
    let body = format!(
        r#"{{"SecretId":"rot","RotationLambdaARN":"{USER_FN}","ClientRequestToken":"{}"}}"#,
        "b".repeat(36)
    );
    let r = aws_call(emu.addr(), "secretsmanager.RotateSecret", &body).await;
    assert_eq!(
        (r.status, members(&r.json())),
        (400, "Message,__type".into())
    );
    // the refused calls changed nothing (as recorded: no rotation members, one version)
    let d = describe_raw(&emu, "rot").await;
    assert!(
        d.get("RotationEnabled").is_none() && d.get("RotationLambdaARN").is_none(),
        "{d}"
    );
    assert_eq!(
        d["VersionIdsToStages"].as_object().map(|m| m.len()),
        Some(1)
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn moto_compatible_rotation_is_a_flag() {
    let settings = RotationSettings::default();
    settings.set_moto(true);
    let builder = Emulator::builder().in_memory().rotation(settings);
    let emu = builder.start().await.unwrap();
    let c = client(&emu);
    create(&c, "rot", "keep").await;
    let out = c.rotate_secret().secret_id("rot").send().await.unwrap();
    let g = c.get_secret_value().secret_id("rot").send().await.unwrap();
    assert_eq!(
        (g.secret_string(), g.version_id()),
        (Some("keep"), out.version_id())
    );
    let rotate = c.rotate_secret().secret_id("rot");
    let unmapped = rotate.rotation_lambda_arn(USER_FN).send().await;
    assert!(unmapped.is_ok(), "an unmapped function is promoted too");
    emu.shutdown().await;
}

#[tokio::test]
async fn the_binary_takes_moto_rotation_as_a_flag_and_strict_rotation_as_the_default() {
    let dir = tempfile::tempdir().unwrap();
    for (flag, rotates) in [("--moto-rotation", true), ("--strict-rotation", false)] {
        let port = common::free_port();
        let data = dir.path().join(flag.trim_start_matches('-'));
        let mut child = common::spawn_binary_with(&data, port, &[flag]).await;
        let endpoint = format!("http://127.0.0.1:{port}");
        let c = common::client_for(&endpoint, "us-east-1", common::AKID, common::SECRET_KEY);
        create(&c, "rot", "v").await;
        let r = c.rotate_secret().secret_id("rot").send().await;
        assert_eq!(r.is_ok(), rotates, "{flag}: {r:?}");
        child.kill().await.unwrap();
    }
    // the two contradict each other
    let both = std::process::Command::new(env!("CARGO_BIN_EXE_sm-emulator"))
        .args(["--in-memory", "--moto-rotation", "--strict-rotation"])
        .output()
        .unwrap();
    assert!(!both.status.success());
    assert!(String::from_utf8_lossy(&both.stderr).contains("cannot be used with"));
}

/// GetRandomPassword with `length` characters and the character types `excluded` (l, u, n, p)
/// left out; the password or the error's code and message.
async fn password(
    c: &Client,
    length: i64,
    excluded: &str,
    space: bool,
) -> Result<String, (String, String)> {
    let g = c
        .get_random_password()
        .password_length(length)
        .include_space(space);
    let g = g
        .exclude_lowercase(excluded.contains('l'))
        .exclude_uppercase(excluded.contains('u'));
    let g = g
        .exclude_numbers(excluded.contains('n'))
        .exclude_punctuation(excluded.contains('p'));
    match g.send().await {
        Ok(p) => Ok(p.random_password().unwrap_or_default().to_string()),
        Err(e) => Err((code(&e), message(&e))),
    }
}

#[tokio::test]
async fn get_random_password_limits_and_character_sets() {
    let emu = emulator().await;
    let c = client(&emu);
    for (len, bound) in [
        (0, "greater than or equal to 1"),
        (4097, "less than or equal to 4096"),
    ] {
        let want = format!("1 validation error detected: Value '{len}' at 'passwordLength' failed to satisfy constraint: Member must have value {bound}");
        assert_eq!(
            password(&c, len, "", false).await,
            Err(("ValidationException".into(), want))
        );
    }
    for len in [4, 4096] {
        let p = password(&c, len, "", false).await.unwrap();
        assert_eq!(p.chars().count(), len as usize);
    }
    assert_eq!(
        password(&c, 32, "lunp", false).await,
        Err((
            "InvalidParameterException".into(),
            "All characters have been excluded from selection.".into()
        ))
    );
    // IncludeSpace adds the space to the choices (never a required type)
    assert_eq!(password(&c, 12, "lunp", true).await, Ok(" ".repeat(12)));
    let short = password(&c, 3, "", false).await.unwrap_err();
    assert_eq!(
        short.0, "InvalidParameterException",
        "4 required types, 3 places"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn list_secrets_names_the_filter_keys_of_the_model() {
    let emu = emulator().await;
    let c = client(&emu);
    let key = FilterNameStringType::from("invalid");
    let filter = Filter::builder().key(key).values("foo").build();
    // the enumeration in the order of the model's FilterNameStringType
    refused(
        c.list_secrets().filters(filter).send().await,
        "ValidationException",
        "1 validation error detected: Value 'invalid' at 'filters.1.member.key' failed to satisfy constraint: Member must satisfy enum value set: [description, name, tag-key, tag-value, primary-region, owning-service, all]",
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn replication_conflicts_answer_codes_of_the_model() {
    let emu = emulator().await;
    let c = client(&emu);
    create(&c, "rep", "v").await;
    let region = |r: &str| ReplicaRegionType::builder().region(r).build();
    let first = c.replicate_secret_to_regions().secret_id("rep");
    first
        .add_replica_regions(region("eu-west-1"))
        .send()
        .await
        .unwrap();
    // ReplicateSecretToRegions and RemoveRegionsFromReplication declare ResourceNotFound,
    // InvalidRequest, InvalidParameter and InternalServiceError only
    for again in ["eu-west-1", "us-east-1"] {
        let r = c.replicate_secret_to_regions().secret_id("rep");
        let r = r.add_replica_regions(region(again)).send().await;
        refused(r, "InvalidParameterException", "");
    }
    let remove = c.remove_regions_from_replication().secret_id("rep");
    let remove = remove.remove_replica_regions("ap-south-1").send().await;
    refused(remove, "InvalidParameterException", "");
    emu.shutdown().await;
}
