//! Answers compared with what real AWS answered, as recorded in public AWS-validated snapshots
//! (LocalStack's `tests/aws/services/secretsmanager/test_secretsmanager.snapshot.json`) and in
//! botocore's service model: refused names on every operation, the order of checks (a request's
//! own members before the secret lookup), error bodies, members present or left out, labels after
//! PutSecretValue, rotation without a usable function, version order, GetRandomPassword limits,
//! the ListSecrets filter-key enumeration and the replication conflict codes.

#![allow(clippy::unwrap_used)]

mod common;

use aws_sdk_secretsmanager::primitives::Blob;
use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType, ReplicaRegionType, Tag};
use aws_sdk_secretsmanager::Client;
use common::{aws_call, client, code, emulator, message};
use secretsmanager_emulator::rotation::RotationSettings;
use secretsmanager_emulator::Emulator;
use serde_json::Value;

const INVALID_NAME: &str = "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!";
const TOKEN_REQUIRED: &str =
    "You must provide a ClientRequestToken value. We recommend a UUID-type value.";
const LAMBDA_DENIED: &str = "Secrets Manager cannot invoke the specified Lambda function. Ensure that the function policy grants access to the principal secretsmanager.amazonaws.com.";
const USER_FN: &str = "arn:aws:lambda:us-east-1:123456789012:function:not-mapped";

/// The code and message of a failed SDK call.
fn failure<T: std::fmt::Debug, E: aws_sdk_secretsmanager::error::ProvideErrorMetadata>(
    r: Result<T, E>,
) -> (String, String) {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => (code(&e), message(&e)),
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
async fn invalid_names_are_refused_on_every_operation_before_the_lookup() {
    let emu = emulator().await;
    let c = client(&emu);
    for name in BAD_NAMES {
        // through the SDK, as recorded (test_invalid_secret_name)
        let answers = [
            failure(c.create_secret().name(name).secret_string("s").send().await),
            failure(c.describe_secret().secret_id(name).send().await),
            failure(c.get_secret_value().secret_id(name).send().await),
            failure(c.restore_secret().secret_id(name).send().await),
        ];
        for (code, msg) in answers {
            assert_eq!(
                (code.as_str(), msg.as_str()),
                ("ValidationException", INVALID_NAME),
                "{name:?}"
            );
        }
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
    let (code, _) = failure(
        c.describe_secret()
            .secret_id("arn:aws:secretsmanager:us-east-1:123456789012:secret:missing-AbCdEf")
            .send()
            .await,
    );
    assert_eq!(code, "ResourceNotFoundException");
    emu.shutdown().await;
}

#[tokio::test]
async fn a_valid_name_with_every_allowed_punctuation_works_everywhere() {
    let emu = emulator().await;
    let c = client(&emu);
    let name = "Valid/_+=.@-Name-a1b2c3-";
    create(&c, name, "my_secret").await;
    let g = c.get_secret_value().secret_id(name).send().await.unwrap();
    assert_eq!(g.secret_string(), Some("my_secret"));
    c.delete_secret()
        .secret_id(name)
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap();
    emu.shutdown().await;
}

/// The members of an error body, sorted.
fn body_keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    k.sort();
    k
}

#[tokio::test]
async fn a_raw_request_without_client_request_token_is_refused_before_the_lookup() {
    let emu = emulator().await;
    let a = emu.addr();
    // as recorded (test_no_client_request_token): SecretString and Description, no token, a
    // secret that does not exist
    let cases = [
        (
            "CreateSecret",
            r#"{"Name":"tok-missing","SecretString":"thisisthesecret","Description":"My secret string"}"#,
            "InvalidRequestException",
        ),
        (
            "UpdateSecret",
            r#"{"SecretId":"tok-missing","SecretString":"thisisthesecret","Description":"My secret string"}"#,
            "InvalidRequestException",
        ),
        (
            "PutSecretValue",
            r#"{"SecretId":"tok-missing","SecretString":"thisisthesecret","Description":"My secret string"}"#,
            "InvalidRequestException",
        ),
        (
            "RotateSecret",
            r#"{"SecretId":"tok-missing","SecretString":"thisisthesecret","Description":"My secret string"}"#,
            "InvalidParameterException",
        ),
    ];
    for (op, body, want) in cases {
        let r = aws_call(a, &format!("secretsmanager.{op}"), body).await;
        assert_eq!(r.status, 400, "{op}");
        let v = r.json();
        assert_eq!(v["__type"], want, "{op}: {v}");
        assert_eq!(v["Message"], TOKEN_REQUIRED, "{op}: {v}");
        assert_eq!(body_keys(&v), ["Message", "__type"], "{op}: {v}");
        assert_eq!(r.header("x-amzn-errortype"), Some(want), "{op}");
    }
    emu.shutdown().await;
}

#[tokio::test]
async fn error_bodies_carry_type_and_message_only_and_every_sdk_reads_them() {
    let emu = emulator().await;
    let r = aws_call(
        emu.addr(),
        "secretsmanager.DescribeSecret",
        r#"{"SecretId":"nope"}"#,
    )
    .await;
    let v = r.json();
    assert_eq!(body_keys(&v), ["Message", "__type"], "{v}");
    assert_eq!(
        v["Message"],
        "Secrets Manager can't find the specified secret."
    );
    // a front-end validation error has the same two members
    let r = aws_call(emu.addr(), "secretsmanager.DescribeSecret", "{}").await;
    assert_eq!(body_keys(&r.json()), ["Message", "__type"]);
    // the Rust SDK (the broker's aws backend uses it) still reads the message
    let c = client(&emu);
    let (code, msg) = failure(c.describe_secret().secret_id("nope").send().await);
    assert_eq!(
        (code.as_str(), msg.as_str()),
        (
            "ResourceNotFoundException",
            "Secrets Manager can't find the specified secret."
        )
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn request_members_are_checked_before_the_secret_is_looked_up() {
    let emu = emulator().await;
    let c = client(&emu);
    // DeleteSecret: the two deletion options together, or a window outside 7-30, on a missing secret
    let (code, msg) = failure(
        c.delete_secret()
            .secret_id("missing")
            .force_delete_without_recovery(true)
            .recovery_window_in_days(7)
            .send()
            .await,
    );
    assert_eq!(code, "InvalidParameterException", "{msg}");
    let (code, _) = failure(
        c.delete_secret()
            .secret_id("missing")
            .recovery_window_in_days(3)
            .send()
            .await,
    );
    assert_eq!(code, "InvalidParameterException");
    // PutResourcePolicy: a policy that is not a policy, on a missing secret
    let (code, _) = failure(
        c.put_resource_policy()
            .secret_id("missing")
            .resource_policy("{not json")
            .send()
            .await,
    );
    assert_eq!(code, "MalformedPolicyDocumentException");
    // PutSecretValue: both kinds of value, on a missing secret
    let (code, _) = failure(
        c.put_secret_value()
            .secret_id("missing")
            .secret_string("s")
            .secret_binary(Blob::new(vec![1]))
            .send()
            .await,
    );
    assert_eq!(code, "InvalidParameterException");
    // RotateSecret: rules out of range, on a missing secret
    let (code, _) = failure(
        c.rotate_secret()
            .secret_id("missing")
            .rotation_rules(
                aws_sdk_secretsmanager::types::RotationRulesType::builder()
                    .automatically_after_days(0)
                    .build(),
            )
            .send()
            .await,
    );
    assert_eq!(code, "InvalidParameterException");
    // a well-formed request on a missing secret is a ResourceNotFoundException
    let (code, _) = failure(c.delete_secret().secret_id("missing").send().await);
    assert_eq!(code, "ResourceNotFoundException");
    emu.shutdown().await;
}

#[tokio::test]
async fn tags_are_an_empty_list_once_all_are_removed_and_absent_before() {
    let emu = emulator().await;
    let c = client(&emu);
    create(&c, "tagged", "v").await;
    let d = c
        .describe_secret()
        .secret_id("tagged")
        .send()
        .await
        .unwrap();
    assert!(d.tags.is_none(), "never tagged: no Tags member");
    let tag = Tag::builder().key("tag1").value("value1").build();
    c.tag_resource()
        .secret_id("tagged")
        .tags(tag)
        .send()
        .await
        .unwrap();
    let untag = c.untag_resource().secret_id("tagged").tag_keys("tag1");
    untag.send().await.unwrap();
    // as recorded (test_secret_tags): "Tags": [] in DescribeSecret, and in a ListSecrets entry
    let d = c
        .describe_secret()
        .secret_id("tagged")
        .send()
        .await
        .unwrap();
    assert_eq!(d.tags.as_deref(), Some(&[][..]), "all removed: Tags is []");
    assert_eq!(
        describe_raw(&emu, "tagged").await["Tags"],
        serde_json::json!([])
    );
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
    let d = c
        .describe_secret()
        .secret_id("nodesc")
        .send()
        .await
        .unwrap();
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
async fn deprecated_versions_have_no_version_stages_and_all_list_oldest_first() {
    let emu = emulator().await;
    let c = client(&emu);
    // as recorded (test_deprecated_secret_version_stage): four values, the first two deprecated
    let mut ids = vec![create(&c, "dep", "v1").await];
    for v in ["v2", "v3", "v4"] {
        ids.push(put(&c, "dep", v, &[]).await);
    }
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
    emu.shutdown().await;
}

#[tokio::test]
async fn versions_created_back_to_back_list_in_creation_order_across_pages() {
    let emu = emulator().await;
    let c = client(&emu);
    let mut ids = vec![create(&c, "fast", "0").await];
    // back to back, most of them in the same millisecond; custom labels keep them all listed
    for i in 1..8 {
        ids.push(put(&c, "fast", &i.to_string(), &[&format!("L{i}")]).await);
    }
    let mut listed = Vec::new();
    let mut token = None;
    loop {
        let l = c.list_secret_version_ids().secret_id("fast").max_results(3);
        let r = l.set_next_token(token).send().await.unwrap();
        listed.extend(
            r.versions()
                .iter()
                .map(|v| v.version_id().unwrap().to_string()),
        );
        token = r.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
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
    let (code, msg) = failure(c.rotate_secret().secret_id("rot").send().await);
    assert_eq!(
        (code.as_str(), msg.as_str()),
        (
            "InvalidRequestException",
            "No Lambda rotation function ARN is associated with this secret."
        )
    );
    // as recorded (test_rotate_secret_invalid_lambda_arn): AWS's message, no emulator hint in it
    let (code, msg) = failure(
        c.rotate_secret()
            .secret_id("rot")
            .rotation_lambda_arn(USER_FN)
            .send()
            .await,
    );
    assert_eq!(
        (code.as_str(), msg.as_str()),
        ("AccessDeniedException", LAMBDA_DENIED)
    );
    let r = aws_call(
        emu.addr(),
        "secretsmanager.RotateSecret",
        &format!(
            r#"{{"SecretId":"rot","RotationLambdaARN":"{USER_FN}","ClientRequestToken":"{}"}}"#,
            "b".repeat(36)
        ),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(body_keys(&r.json()), ["Message", "__type"]);
    // the refused calls changed nothing (as recorded: no rotation members, one version)
    let d = c.describe_secret().secret_id("rot").send().await.unwrap();
    assert!(d.rotation_enabled.is_none() && d.rotation_lambda_arn.is_none());
    assert_eq!(d.version_ids_to_stages().unwrap().len(), 1);
    emu.shutdown().await;
}

#[tokio::test]
async fn moto_compatible_rotation_is_a_flag() {
    let settings = RotationSettings::default();
    settings.set_moto(true);
    let emu = Emulator::builder()
        .in_memory()
        .rotation(settings)
        .start()
        .await
        .unwrap();
    let c = client(&emu);
    create(&c, "rot", "keep").await;
    let out = c.rotate_secret().secret_id("rot").send().await.unwrap();
    let g = c.get_secret_value().secret_id("rot").send().await.unwrap();
    assert_eq!(
        (g.secret_string(), g.version_id()),
        (Some("keep"), out.version_id())
    );
    c.rotate_secret()
        .secret_id("rot")
        .rotation_lambda_arn(USER_FN)
        .send()
        .await
        .expect("an unmapped function is promoted too");
    emu.shutdown().await;
}

#[tokio::test]
async fn get_random_password_limits_and_character_sets() {
    let emu = emulator().await;
    let c = client(&emu);
    for (len, bound) in [
        (0, "greater than or equal to 1"),
        (4097, "less than or equal to 4096"),
    ] {
        let (code, msg) = failure(c.get_random_password().password_length(len).send().await);
        assert_eq!(code, "ValidationException");
        assert_eq!(
            msg,
            format!("1 validation error detected: Value '{len}' at 'passwordLength' failed to satisfy constraint: Member must have value {bound}")
        );
    }
    for len in [1, 4096] {
        let p = c
            .get_random_password()
            .password_length(len)
            .require_each_included_type(false)
            .send()
            .await
            .unwrap();
        assert_eq!(p.random_password().unwrap().chars().count(), len as usize);
    }
    let (code, msg) = failure(
        c.get_random_password()
            .exclude_lowercase(true)
            .exclude_uppercase(true)
            .exclude_numbers(true)
            .exclude_punctuation(true)
            .send()
            .await,
    );
    assert_eq!(
        (code.as_str(), msg.as_str()),
        (
            "InvalidParameterException",
            "All characters have been excluded from selection."
        )
    );
    // IncludeSpace adds the space to the choices (never a required type)
    let p = c
        .get_random_password()
        .exclude_lowercase(true)
        .exclude_uppercase(true)
        .exclude_numbers(true)
        .exclude_punctuation(true)
        .include_space(true)
        .password_length(12)
        .send()
        .await
        .unwrap();
    assert_eq!(p.random_password(), Some("            "));
    let (code, _) = failure(c.get_random_password().password_length(3).send().await);
    assert_eq!(
        code, "InvalidParameterException",
        "4 required types, 3 places"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn list_secrets_names_the_filter_keys_of_the_model() {
    let emu = emulator().await;
    let c = client(&emu);
    let (code, msg) = failure(
        c.list_secrets()
            .filters(
                Filter::builder()
                    .key(FilterNameStringType::from("invalid"))
                    .values("foo")
                    .build(),
            )
            .send()
            .await,
    );
    assert_eq!(code, "ValidationException");
    // the enumeration in the order of the model's FilterNameStringType
    assert_eq!(
        msg,
        "1 validation error detected: Value 'invalid' at 'filters.1.member.key' failed to satisfy constraint: Member must satisfy enum value set: [description, name, tag-key, tag-value, primary-region, owning-service, all]"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn replication_conflicts_answer_codes_of_the_model() {
    let emu = emulator().await;
    let c = client(&emu);
    create(&c, "rep", "v").await;
    let eu = ReplicaRegionType::builder().region("eu-west-1").build();
    c.replicate_secret_to_regions()
        .secret_id("rep")
        .add_replica_regions(eu.clone())
        .send()
        .await
        .unwrap();
    // ReplicateSecretToRegions and RemoveRegionsFromReplication declare ResourceNotFound,
    // InvalidRequest, InvalidParameter and InternalServiceError only
    let (code, _) = failure(
        c.replicate_secret_to_regions()
            .secret_id("rep")
            .add_replica_regions(eu)
            .send()
            .await,
    );
    assert_eq!(code, "InvalidParameterException");
    let (code, _) = failure(
        c.replicate_secret_to_regions()
            .secret_id("rep")
            .add_replica_regions(ReplicaRegionType::builder().region("us-east-1").build())
            .send()
            .await,
    );
    assert_eq!(code, "InvalidParameterException", "its own region");
    let (code, _) = failure(
        c.remove_regions_from_replication()
            .secret_id("rep")
            .remove_replica_regions("ap-south-1")
            .send()
            .await,
    );
    assert_eq!(code, "InvalidParameterException");
    emu.shutdown().await;
}
