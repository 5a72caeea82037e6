//! Resource policies through the real SDK: Put/Get/Delete/List/ValidateResourcePolicy, success paths and
//! each declared error (MalformedPolicyDocument, PublicPolicy, InvalidParameter, ResourceNotFound,
//! InvalidRequest, InvalidNextToken).

mod extra_support;

use extra_support::{assert_err, create, start, REGION};

const GOOD: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
  "Principal":{"AWS":"arn:aws:iam::123456789012:role/app"},"Action":"secretsmanager:GetSecretValue","Resource":"*"}]}"#;
const PUBLIC: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*",
  "Action":"secretsmanager:GetSecretValue","Resource":"*"}}"#;

#[tokio::test]
async fn put_get_delete_resource_policy() {
    let (emu, c) = start().await;
    let arn = create(&c, "pol/a", "v").await;
    let got = c.get_resource_policy().secret_id("pol/a").send().await.expect("get without policy");
    assert_eq!(got.arn(), Some(arn.as_str()));
    assert_eq!(got.resource_policy(), None);

    let put = c.put_resource_policy().secret_id(&arn).resource_policy(GOOD).block_public_policy(true).send().await;
    let put = put.expect("put");
    assert_eq!((put.name(), put.policy_name()), (Some("pol/a"), Some("default")));
    let got = c.get_resource_policy().secret_id("pol/a").send().await.expect("get");
    assert_eq!(got.resource_policy(), Some(GOOD));
    // A public policy is accepted without BlockPublicPolicy, refused with it.
    c.put_resource_policy().secret_id("pol/a").resource_policy(PUBLIC).send().await.expect("public allowed");
    assert_err(
        c.put_resource_policy().secret_id("pol/a").resource_policy(PUBLIC).block_public_policy(true).send().await,
        "PublicPolicyException",
        "public access",
    );
    assert_eq!(
        c.get_resource_policy().secret_id("pol/a").send().await.expect("get").resource_policy(),
        Some(PUBLIC),
        "a refused put leaves the stored policy alone"
    );
    assert_err(
        c.put_resource_policy().secret_id("pol/a").resource_policy(r#"{"Statement":{"Effect":"Allow"}}"#).send().await,
        "MalformedPolicyDocumentException",
        "missing Principal",
    );
    assert_err(
        c.put_resource_policy().secret_id("pol/a").resource_policy("{not json").send().await,
        "MalformedPolicyDocumentException",
        "not valid JSON",
    );
    assert_err(
        c.put_resource_policy().secret_id("pol/a").resource_policy(GOOD).policy_name("other").send().await,
        "InvalidParameterException",
        "default",
    );
    assert_err(
        c.put_resource_policy().secret_id("pol/a").resource_policy(GOOD).policy_name("bad name!").send().await,
        "ValidationException",
        "policyName",
    );
    assert_err(
        c.put_resource_policy().secret_id("pol/missing").resource_policy(GOOD).send().await,
        "ResourceNotFoundException",
        "can't find the specified secret",
    );
    assert_err(
        c.get_resource_policy().secret_id("pol/a").policy_name("nope").send().await,
        "ResourceNotFoundException",
        "nope",
    );

    let del = c.delete_resource_policy().secret_id("pol/a").send().await.expect("delete");
    assert_eq!(del.policy_name(), Some("default"));
    assert_eq!(c.get_resource_policy().secret_id("pol/a").send().await.expect("get").resource_policy(), None);
    c.delete_resource_policy().secret_id("pol/a").send().await.expect("delete is idempotent");
    assert_err(
        c.delete_resource_policy().secret_id("pol/a").policy_name("other").send().await,
        "InvalidParameterException",
        "default",
    );
    assert_err(c.delete_resource_policy().secret_id("pol/missing").send().await, "ResourceNotFoundException", "");

    // On a secret scheduled for deletion: InvalidRequestException.
    c.delete_secret().secret_id("pol/a").recovery_window_in_days(7).send().await.expect("schedule deletion");
    assert_err(
        c.put_resource_policy().secret_id("pol/a").resource_policy(GOOD).send().await,
        "InvalidRequestException",
        "marked for deletion",
    );
    assert_err(c.get_resource_policy().secret_id("pol/a").send().await, "InvalidRequestException", "deletion");
    assert_err(c.delete_resource_policy().secret_id("pol/a").send().await, "InvalidRequestException", "deletion");
    assert_err(c.list_resource_policies().secret_id("pol/a").send().await, "InvalidRequestException", "deletion");
    emu.shutdown().await;
}

#[tokio::test]
async fn list_resource_policies_orders_and_pages() {
    let (emu, c) = start().await;
    create(&c, "pol/list", "v").await;
    let empty = c.list_resource_policies().secret_id("pol/list").send().await.expect("list empty");
    assert!(empty.resource_policies().is_empty() && empty.next_token().is_none());
    c.put_resource_policy().secret_id("pol/list").resource_policy(GOOD).send().await.expect("put");
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
    let mut token = None;
    loop {
        let page = c
            .list_resource_policies()
            .secret_id("pol/list")
            .max_results(1)
            .set_next_token(token.clone())
            .send()
            .await
            .expect("page");
        assert!(page.resource_policies().len() <= 1);
        names.extend(page.resource_policies().iter().filter_map(|p| p.policy_name().map(str::to_string)));
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(names, ["default", "alpha", "zeta"]);
    let alpha = c.get_resource_policy().secret_id("pol/list").policy_name("alpha").send().await.expect("named get");
    assert_eq!(alpha.resource_policy(), Some(GOOD));
    assert_err(
        c.list_resource_policies().secret_id("pol/list").next_token("garbage").send().await,
        "InvalidNextTokenException",
        "",
    );
    assert_err(c.list_resource_policies().secret_id("pol/none").send().await, "ResourceNotFoundException", "");
    assert_err(
        c.list_resource_policies().secret_id("pol/list").max_results(101).send().await,
        "ValidationException",
        "100",
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn validate_resource_policy() {
    let (emu, c) = start().await;
    let ok = c.validate_resource_policy().resource_policy(GOOD).send().await.expect("validate good");
    assert!(ok.policy_validation_passed());
    assert!(ok.validation_errors().is_empty());

    let public = c.validate_resource_policy().resource_policy(PUBLIC).send().await.expect("validate public");
    assert!(!public.policy_validation_passed());
    assert_eq!(public.validation_errors()[0].check_name(), Some("PUBLIC_POLICY_CHECK"));

    let bad = r#"{"Statement":[{"Effect":"Sometimes","Principal":"*","Action":"x","Resource":"*"}]}"#;
    let syntax = c.validate_resource_policy().resource_policy(bad).send().await.expect("validate bad grammar");
    assert!(!syntax.policy_validation_passed());
    let messages: Vec<&str> = syntax.validation_errors().iter().filter_map(|e| e.error_message()).collect();
    assert!(messages.iter().any(|m| m.contains("Effect")), "{messages:?}");
    assert!(messages.iter().any(|m| m.contains("invalid value 'x'")), "{messages:?}");
    assert!(syntax.validation_errors().iter().all(|e| e.check_name() == Some("SYNTAX_CHECK")));

    assert_err(
        c.validate_resource_policy().resource_policy("[1,2]").send().await,
        "MalformedPolicyDocumentException",
        "JSON object",
    );
    create(&c, "pol/v", "v").await;
    c.validate_resource_policy().secret_id("pol/v").resource_policy(GOOD).send().await.expect("with secret");
    assert_err(
        c.validate_resource_policy().secret_id("pol/none").resource_policy(GOOD).send().await,
        "ResourceNotFoundException",
        "",
    );
    emu.shutdown().await;
}
