//! Resource policies through the real SDK: Put/Get/Delete/List/ValidateResourcePolicy, success paths and
//! each declared error (MalformedPolicyDocument, PublicPolicy, InvalidParameter, ResourceNotFound,
//! InvalidRequest, InvalidNextToken).

mod common;

use aws_sdk_secretsmanager::operation::delete_resource_policy::{
    DeleteResourcePolicyError, DeleteResourcePolicyOutput,
};
use aws_sdk_secretsmanager::operation::get_resource_policy::{
    GetResourcePolicyError, GetResourcePolicyOutput,
};
use aws_sdk_secretsmanager::operation::put_resource_policy::{
    PutResourcePolicyError, PutResourcePolicyOutput,
};
use aws_sdk_secretsmanager::operation::validate_resource_policy::{
    ValidateResourcePolicyError, ValidateResourcePolicyOutput,
};
use aws_sdk_secretsmanager::Client;
use common::{all_pages, assert_code, assert_err, create, delete, raw_call, start, Sdk, REGION};
use serde_json::{json, Value};

/// PolicyName and ListResourcePolicies are newer than the pinned Rust SDK: raw JSON 1.1 calls.
async fn raw(emu: &secretsmanager_emulator::Emulator, op: &str, body: Value) -> (u16, Value) {
    raw_call(emu.addr(), "AKIDEXAMPLE", REGION, op, body).await
}

const GOOD: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
  "Principal":{"AWS":"arn:aws:iam::123456789012:role/app"},"Action":"secretsmanager:GetSecretValue","Resource":"*"}]}"#;
const PUBLIC: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*",
  "Action":"secretsmanager:GetSecretValue","Resource":"*"}}"#;

/// A raw call that must fail with error type `want`; returns the error body.
async fn raw_error(
    emu: &secretsmanager_emulator::Emulator,
    op: &str,
    body: Value,
    want: &str,
) -> Value {
    let (_, e) = raw(emu, op, body).await;
    assert_eq!(e["__type"], json!(want), "{op}: {e}");
    e
}

/// PutResourcePolicy of `policy` on `id`, with BlockPublicPolicy when `block_public`.
async fn put_policy(
    c: &Client,
    id: &str,
    policy: &str,
    block_public: bool,
) -> Sdk<PutResourcePolicyOutput, PutResourcePolicyError> {
    c.put_resource_policy()
        .secret_id(id)
        .resource_policy(policy)
        .set_block_public_policy(block_public.then_some(true))
        .send()
        .await
}

/// GetResourcePolicy of `id`.
async fn get_policy(c: &Client, id: &str) -> Sdk<GetResourcePolicyOutput, GetResourcePolicyError> {
    c.get_resource_policy().secret_id(id).send().await
}

/// The resource policy of `id` (GetResourcePolicy).
async fn policy_of(c: &Client, id: &str) -> Option<String> {
    let out = get_policy(c, id).await.expect("get");
    out.resource_policy().map(str::to_string)
}

/// DeleteResourcePolicy of `id`.
async fn delete_policy(
    c: &Client,
    id: &str,
) -> Sdk<DeleteResourcePolicyOutput, DeleteResourcePolicyError> {
    c.delete_resource_policy().secret_id(id).send().await
}

/// ValidateResourcePolicy of `policy`, for secret `id` if given.
async fn validate(
    c: &Client,
    id: Option<&str>,
    policy: &str,
) -> Sdk<ValidateResourcePolicyOutput, ValidateResourcePolicyError> {
    c.validate_resource_policy()
        .set_secret_id(id.map(str::to_string))
        .resource_policy(policy)
        .send()
        .await
}

#[tokio::test]
async fn put_get_delete_resource_policy() {
    let (emu, c) = start().await;
    let arn = create(&c, "pol/a", "v").await;
    let got = get_policy(&c, "pol/a").await.expect("get without policy");
    assert_eq!(got.arn(), Some(arn.as_str()));
    assert_eq!(got.resource_policy(), None);

    let put = put_policy(&c, &arn, GOOD, true).await;
    let put = put.expect("put");
    assert_eq!(put.name(), Some("pol/a"));
    assert_eq!(policy_of(&c, "pol/a").await.as_deref(), Some(GOOD));
    // A public policy is accepted without BlockPublicPolicy, refused with it.
    put_policy(&c, "pol/a", PUBLIC, false)
        .await
        .expect("public allowed");
    assert_err(
        put_policy(&c, "pol/a", PUBLIC, true).await,
        "PublicPolicyException",
        "public access",
    );
    assert_eq!(
        policy_of(&c, "pol/a").await.as_deref(),
        Some(PUBLIC),
        "a refused put leaves the stored policy alone"
    );
    for (document, needle) in [
        (r#"{"Statement":{"Effect":"Allow"}}"#, "missing Principal"),
        ("{not json", "not valid JSON"),
    ] {
        let r = put_policy(&c, "pol/a", document, false).await;
        assert_err(r, "MalformedPolicyDocumentException", needle);
    }
    let named =
        |name: &str| json!({"SecretId": "pol/a", "ResourcePolicy": GOOD, "PolicyName": name});
    let put = "PutResourcePolicy";
    raw_error(&emu, put, named("other"), "InvalidParameterException").await;
    let e = raw_error(&emu, put, named("bad name!"), "ValidationException").await;
    assert!(
        e["Message"]
            .as_str()
            .is_some_and(|m| m.contains("policyName")),
        "{e}"
    );
    let (status, out) = raw(&emu, put, named("default")).await;
    assert_eq!(
        (status, &out["PolicyName"]),
        (200, &json!("default")),
        "{out}"
    );
    assert_err(
        put_policy(&c, "pol/missing", GOOD, false).await,
        "ResourceNotFoundException",
        "can't find the specified secret",
    );
    let nope = json!({"SecretId": "pol/a", "PolicyName": "nope"});
    let e = raw_error(&emu, "GetResourcePolicy", nope, "ResourceNotFoundException").await;
    assert!(
        e["Message"].as_str().is_some_and(|m| m.contains("nope")),
        "{e}"
    );

    let del = delete_policy(&c, "pol/a").await.expect("delete");
    assert_eq!(del.name(), Some("pol/a"));
    assert_eq!(policy_of(&c, "pol/a").await, None);
    delete_policy(&c, "pol/a")
        .await
        .expect("delete is idempotent");
    let other = json!({"SecretId": "pol/a", "PolicyName": "other"});
    raw_error(
        &emu,
        "DeleteResourcePolicy",
        other,
        "InvalidParameterException",
    )
    .await;
    assert_code(
        delete_policy(&c, "pol/missing").await,
        "ResourceNotFoundException",
    );

    // On a secret scheduled for deletion: InvalidRequestException.
    delete(&c, "pol/a", Some(7))
        .await
        .expect("schedule deletion");
    let refused = "InvalidRequestException";
    let deleted = "marked for deletion";
    assert_err(put_policy(&c, "pol/a", GOOD, false).await, refused, deleted);
    assert_err(get_policy(&c, "pol/a").await, refused, "deletion");
    assert_err(delete_policy(&c, "pol/a").await, refused, "deletion");
    let list = json!({"SecretId": "pol/a"});
    raw_error(
        &emu,
        "ListResourcePolicies",
        list,
        "InvalidRequestException",
    )
    .await;
    emu.shutdown().await;
}

#[tokio::test]
async fn list_resource_policies_orders_and_pages() {
    let (emu, c) = start().await;
    create(&c, "pol/list", "v").await;
    let (_, empty) = raw(
        &emu,
        "ListResourcePolicies",
        json!({"SecretId": "pol/list"}),
    )
    .await;
    assert_eq!(empty, json!({"ResourcePolicies": []}));
    put_policy(&c, "pol/list", GOOD, false).await.expect("put");
    // Named policies other than `default` cannot be attached through the API; place two in the state.
    {
        let mut g = emu.shared().state.accounts.write().expect("lock");
        let s = g
            .get_mut("123456789012")
            .and_then(|a| a.get_mut(REGION))
            .and_then(|r| r.get_mut("pol/list"))
            .expect("secret in state");
        s.policies.insert("zeta".into(), GOOD.into());
        s.policies.insert("alpha".into(), GOOD.into());
    }
    let names: Vec<String> = all_pages(|token| {
        let emu = &emu;
        async move {
            let mut body = json!({"SecretId": "pol/list", "MaxResults": 1});
            if let Some(t) = &token {
                body["NextToken"] = json!(t);
            }
            let (status, page) = raw(emu, "ListResourcePolicies", body).await;
            assert_eq!(status, 200, "{page}");
            let list = page["ResourcePolicies"].as_array().expect("list");
            assert!(list.len() <= 1);
            let names = list
                .iter()
                .filter_map(|p| p["PolicyName"].as_str().map(str::to_string));
            (
                names.collect(),
                page["NextToken"].as_str().map(str::to_string),
            )
        }
    })
    .await;
    assert_eq!(names, ["default", "alpha", "zeta"]);
    let (_, alpha) = raw(
        &emu,
        "GetResourcePolicy",
        json!({"SecretId": "pol/list", "PolicyName": "alpha"}),
    )
    .await;
    assert_eq!(alpha["ResourcePolicy"], json!(GOOD));
    for (body, want) in [
        (
            json!({"SecretId": "pol/list", "NextToken": "garbage"}),
            "InvalidNextTokenException",
        ),
        (json!({"SecretId": "pol/none"}), "ResourceNotFoundException"),
        (
            json!({"SecretId": "pol/list", "MaxResults": 101}),
            "ValidationException",
        ),
    ] {
        raw_error(&emu, "ListResourcePolicies", body, want).await;
    }
    emu.shutdown().await;
}

#[tokio::test]
async fn validate_resource_policy() {
    let (emu, c) = start().await;
    let ok = validate(&c, None, GOOD).await.expect("validate good");
    assert!(ok.policy_validation_passed());
    assert!(ok.validation_errors().is_empty());

    let public = validate(&c, None, PUBLIC).await.expect("validate public");
    assert!(!public.policy_validation_passed());
    assert_eq!(
        public.validation_errors()[0].check_name(),
        Some("PUBLIC_POLICY_CHECK")
    );

    let bad =
        r#"{"Statement":[{"Effect":"Sometimes","Principal":"*","Action":"x","Resource":"*"}]}"#;
    let syntax = validate(&c, None, bad).await.expect("validate bad grammar");
    assert!(!syntax.policy_validation_passed());
    let messages: Vec<&str> = syntax
        .validation_errors()
        .iter()
        .filter_map(|e| e.error_message())
        .collect();
    assert!(
        messages.iter().any(|m| m.contains("Effect")),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m.contains("invalid value 'x'")),
        "{messages:?}"
    );
    assert!(syntax
        .validation_errors()
        .iter()
        .all(|e| e.check_name() == Some("SYNTAX_CHECK")));

    assert_err(
        validate(&c, None, "[1,2]").await,
        "MalformedPolicyDocumentException",
        "JSON object",
    );
    create(&c, "pol/v", "v").await;
    validate(&c, Some("pol/v"), GOOD)
        .await
        .expect("with secret");
    assert_code(
        validate(&c, Some("pol/none"), GOOD).await,
        "ResourceNotFoundException",
    );
    emu.shutdown().await;
}
