//! Resource policies through the real SDK: Put/Get/Delete/List/ValidateResourcePolicy, success paths and
//! each declared error (MalformedPolicyDocument, PublicPolicy, InvalidParameter, ResourceNotFound,
//! InvalidRequest, InvalidNextToken).

mod extra_support;

use extra_support::{assert_err, create, raw_call, start, REGION};
use serde_json::{json, Value};

/// PolicyName and ListResourcePolicies are newer than the pinned Rust SDK: raw JSON 1.1 calls.
async fn raw(emu: &secretsmanager_emulator::Emulator, op: &str, body: Value) -> (u16, Value) {
    raw_call(emu.addr(), "AKIDEXAMPLE", REGION, op, body).await
}

const GOOD: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
  "Principal":{"AWS":"arn:aws:iam::123456789012:role/app"},"Action":"secretsmanager:GetSecretValue","Resource":"*"}]}"#;
const PUBLIC: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*",
  "Action":"secretsmanager:GetSecretValue","Resource":"*"}}"#;

#[tokio::test]
async fn put_get_delete_resource_policy() {
    let (emu, c) = start().await;
    let arn = create(&c, "pol/a", "v").await;
    let got = c
        .get_resource_policy()
        .secret_id("pol/a")
        .send()
        .await
        .expect("get without policy");
    assert_eq!(got.arn(), Some(arn.as_str()));
    assert_eq!(got.resource_policy(), None);

    let put = c
        .put_resource_policy()
        .secret_id(&arn)
        .resource_policy(GOOD)
        .block_public_policy(true)
        .send()
        .await;
    let put = put.expect("put");
    assert_eq!(put.name(), Some("pol/a"));
    let got = c
        .get_resource_policy()
        .secret_id("pol/a")
        .send()
        .await
        .expect("get");
    assert_eq!(got.resource_policy(), Some(GOOD));
    // A public policy is accepted without BlockPublicPolicy, refused with it.
    c.put_resource_policy()
        .secret_id("pol/a")
        .resource_policy(PUBLIC)
        .send()
        .await
        .expect("public allowed");
    assert_err(
        c.put_resource_policy()
            .secret_id("pol/a")
            .resource_policy(PUBLIC)
            .block_public_policy(true)
            .send()
            .await,
        "PublicPolicyException",
        "public access",
    );
    assert_eq!(
        c.get_resource_policy()
            .secret_id("pol/a")
            .send()
            .await
            .expect("get")
            .resource_policy(),
        Some(PUBLIC),
        "a refused put leaves the stored policy alone"
    );
    assert_err(
        c.put_resource_policy()
            .secret_id("pol/a")
            .resource_policy(r#"{"Statement":{"Effect":"Allow"}}"#)
            .send()
            .await,
        "MalformedPolicyDocumentException",
        "missing Principal",
    );
    assert_err(
        c.put_resource_policy()
            .secret_id("pol/a")
            .resource_policy("{not json")
            .send()
            .await,
        "MalformedPolicyDocumentException",
        "not valid JSON",
    );
    let (_, e) = raw(
        &emu,
        "PutResourcePolicy",
        json!({"SecretId": "pol/a", "ResourcePolicy": GOOD, "PolicyName": "other"}),
    )
    .await;
    assert_eq!(e["__type"], json!("InvalidParameterException"), "{e}");
    let (_, e) = raw(
        &emu,
        "PutResourcePolicy",
        json!({"SecretId": "pol/a", "ResourcePolicy": GOOD, "PolicyName": "bad name!"}),
    )
    .await;
    assert_eq!(e["__type"], json!("ValidationException"), "{e}");
    assert!(
        e["Message"]
            .as_str()
            .is_some_and(|m| m.contains("policyName")),
        "{e}"
    );
    let (status, out) = raw(
        &emu,
        "PutResourcePolicy",
        json!({"SecretId": "pol/a", "ResourcePolicy": GOOD, "PolicyName": "default"}),
    )
    .await;
    assert_eq!(
        (status, &out["PolicyName"]),
        (200, &json!("default")),
        "{out}"
    );
    assert_err(
        c.put_resource_policy()
            .secret_id("pol/missing")
            .resource_policy(GOOD)
            .send()
            .await,
        "ResourceNotFoundException",
        "can't find the specified secret",
    );
    let (_, e) = raw(
        &emu,
        "GetResourcePolicy",
        json!({"SecretId": "pol/a", "PolicyName": "nope"}),
    )
    .await;
    assert_eq!(e["__type"], json!("ResourceNotFoundException"), "{e}");
    assert!(
        e["Message"].as_str().is_some_and(|m| m.contains("nope")),
        "{e}"
    );

    let del = c
        .delete_resource_policy()
        .secret_id("pol/a")
        .send()
        .await
        .expect("delete");
    assert_eq!(del.name(), Some("pol/a"));
    assert_eq!(
        c.get_resource_policy()
            .secret_id("pol/a")
            .send()
            .await
            .expect("get")
            .resource_policy(),
        None
    );
    c.delete_resource_policy()
        .secret_id("pol/a")
        .send()
        .await
        .expect("delete is idempotent");
    let (_, e) = raw(
        &emu,
        "DeleteResourcePolicy",
        json!({"SecretId": "pol/a", "PolicyName": "other"}),
    )
    .await;
    assert_eq!(e["__type"], json!("InvalidParameterException"), "{e}");
    assert_err(
        c.delete_resource_policy()
            .secret_id("pol/missing")
            .send()
            .await,
        "ResourceNotFoundException",
        "",
    );

    // On a secret scheduled for deletion: InvalidRequestException.
    c.delete_secret()
        .secret_id("pol/a")
        .recovery_window_in_days(7)
        .send()
        .await
        .expect("schedule deletion");
    assert_err(
        c.put_resource_policy()
            .secret_id("pol/a")
            .resource_policy(GOOD)
            .send()
            .await,
        "InvalidRequestException",
        "marked for deletion",
    );
    assert_err(
        c.get_resource_policy().secret_id("pol/a").send().await,
        "InvalidRequestException",
        "deletion",
    );
    assert_err(
        c.delete_resource_policy().secret_id("pol/a").send().await,
        "InvalidRequestException",
        "deletion",
    );
    let (_, e) = raw(&emu, "ListResourcePolicies", json!({"SecretId": "pol/a"})).await;
    assert_eq!(e["__type"], json!("InvalidRequestException"), "{e}");
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
    c.put_resource_policy()
        .secret_id("pol/list")
        .resource_policy(GOOD)
        .send()
        .await
        .expect("put");
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
    let mut names = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut body = json!({"SecretId": "pol/list", "MaxResults": 1});
        if let Some(t) = &token {
            body["NextToken"] = json!(t);
        }
        let (status, page) = raw(&emu, "ListResourcePolicies", body).await;
        assert_eq!(status, 200, "{page}");
        let list = page["ResourcePolicies"].as_array().expect("list");
        assert!(list.len() <= 1);
        names.extend(
            list.iter()
                .filter_map(|p| p["PolicyName"].as_str().map(str::to_string)),
        );
        token = page["NextToken"].as_str().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(names, ["default", "alpha", "zeta"]);
    let (_, alpha) = raw(
        &emu,
        "GetResourcePolicy",
        json!({"SecretId": "pol/list", "PolicyName": "alpha"}),
    )
    .await;
    assert_eq!(alpha["ResourcePolicy"], json!(GOOD));
    let (_, e) = raw(
        &emu,
        "ListResourcePolicies",
        json!({"SecretId": "pol/list", "NextToken": "garbage"}),
    )
    .await;
    assert_eq!(e["__type"], json!("InvalidNextTokenException"), "{e}");
    let (_, e) = raw(
        &emu,
        "ListResourcePolicies",
        json!({"SecretId": "pol/none"}),
    )
    .await;
    assert_eq!(e["__type"], json!("ResourceNotFoundException"), "{e}");
    let (_, e) = raw(
        &emu,
        "ListResourcePolicies",
        json!({"SecretId": "pol/list", "MaxResults": 101}),
    )
    .await;
    assert_eq!(e["__type"], json!("ValidationException"), "{e}");
    emu.shutdown().await;
}

#[tokio::test]
async fn validate_resource_policy() {
    let (emu, c) = start().await;
    let ok = c
        .validate_resource_policy()
        .resource_policy(GOOD)
        .send()
        .await
        .expect("validate good");
    assert!(ok.policy_validation_passed());
    assert!(ok.validation_errors().is_empty());

    let public = c
        .validate_resource_policy()
        .resource_policy(PUBLIC)
        .send()
        .await
        .expect("validate public");
    assert!(!public.policy_validation_passed());
    assert_eq!(
        public.validation_errors()[0].check_name(),
        Some("PUBLIC_POLICY_CHECK")
    );

    let bad =
        r#"{"Statement":[{"Effect":"Sometimes","Principal":"*","Action":"x","Resource":"*"}]}"#;
    let syntax = c
        .validate_resource_policy()
        .resource_policy(bad)
        .send()
        .await
        .expect("validate bad grammar");
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
        c.validate_resource_policy()
            .resource_policy("[1,2]")
            .send()
            .await,
        "MalformedPolicyDocumentException",
        "JSON object",
    );
    create(&c, "pol/v", "v").await;
    c.validate_resource_policy()
        .secret_id("pol/v")
        .resource_policy(GOOD)
        .send()
        .await
        .expect("with secret");
    assert_err(
        c.validate_resource_policy()
            .secret_id("pol/none")
            .resource_policy(GOOD)
            .send()
            .await,
        "ResourceNotFoundException",
        "",
    );
    emu.shutdown().await;
}
