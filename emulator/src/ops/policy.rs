//! The resource-policy operations: PutResourcePolicy, GetResourcePolicy, DeleteResourcePolicy (idempotent),
//! ListResourcePolicies (`default` first, then alphabetical; opaque NextToken) and ValidateResourcePolicy.

use serde::Serialize;
use serde_json::Value;

use crate::ctx::Ctx;
use crate::error::ApiError;
use crate::ops::{live, paging, writable, ArnName};
use crate::policy::{
    is_public, malformed_message, validate, CHECK_PUBLIC, CHECK_SYNTAX, DEFAULT_POLICY_NAME,
    PUBLIC_POLICY_MESSAGE,
};
use crate::protocol::shapes::{
    DeleteResourcePolicyRequest, GetResourcePolicyRequest, ListResourcePoliciesRequest,
    PutResourcePolicyRequest, ValidateResourcePolicyRequest,
};

/// PutResourcePolicy's and DeleteResourcePolicy's answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PolicyNamed {
    #[serde(flatten)]
    secret: ArnName,
    policy_name: String,
}

/// GetResourcePolicy's answer (no policy members when the default policy is not set).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetResourcePolicyResponse {
    #[serde(flatten)]
    secret: ArnName,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource_policy: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    policy_name: Option<String>,
}

/// One entry of ListResourcePolicies' `ResourcePolicies`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PolicySummary {
    policy_name: String,
}

/// ListResourcePolicies' answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListResourcePoliciesResponse {
    resource_policies: Vec<PolicySummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

/// One entry of ValidateResourcePolicy's `ValidationErrors`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ValidationEntry {
    check_name: &'static str,
    error_message: String,
}

/// ValidateResourcePolicy's answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ValidateResourcePolicyResponse {
    policy_validation_passed: bool,
    validation_errors: Vec<ValidationEntry>,
}

fn only_default(name: Option<&str>, verb: &str) -> Result<String, ApiError> {
    match name {
        None | Some(DEFAULT_POLICY_NAME) => Ok(DEFAULT_POLICY_NAME.to_string()),
        Some(other) => Err(ApiError::invalid_parameter(format!(
            "You can only {verb} the {DEFAULT_POLICY_NAME} resource policy, not '{other}'."
        ))),
    }
}

fn malformed(errors: &[String]) -> ApiError {
    ApiError::new(
        400,
        "MalformedPolicyDocumentException",
        malformed_message(errors),
    )
}

/// PutResourcePolicy.
pub fn put_resource_policy(
    ctx: &Ctx,
    req: PutResourcePolicyRequest<'_>,
) -> Result<PolicyNamed, ApiError> {
    let id = req.secret_id;
    let text = req.resource_policy.to_string();
    let block_public = req.block_public_policy.unwrap_or(false);
    let name = only_default(req.policy_name, "attach")?;
    let doc = validate(&text).map_err(|e| malformed(&e))?;
    if block_public && is_public(&doc) {
        return Err(ApiError::new(
            400,
            "PublicPolicyException",
            PUBLIC_POLICY_MESSAGE,
        ));
    }
    ctx.write(|region| {
        let mut s = writable(ctx, region, id)?;
        s.policies.insert(name.clone(), text);
        s.last_changed = ctx.now;
        Ok(PolicyNamed {
            secret: ArnName::of(&s),
            policy_name: name,
        })
    })
}

/// GetResourcePolicy (no `ResourcePolicy` member when the default policy is not set).
pub fn get_resource_policy(
    ctx: &Ctx,
    req: GetResourcePolicyRequest<'_>,
) -> Result<GetResourcePolicyResponse, ApiError> {
    let name = req.policy_name.unwrap_or(DEFAULT_POLICY_NAME);
    ctx.read(|region| {
        let region = region.ok_or_else(ApiError::secret_not_found)?;
        let s = live(ctx, region, req.secret_id)?;
        let mut out = GetResourcePolicyResponse {
            secret: ArnName::of(s),
            resource_policy: None,
            policy_name: None,
        };
        match s.policies.get(name) {
            Some(text) => {
                out.resource_policy = Some(text.clone());
                out.policy_name = Some(name.to_string());
            }
            None if name == DEFAULT_POLICY_NAME => {}
            None => {
                return Err(ApiError::not_found(format!(
                    "Secrets Manager can't find the resource policy {name} for secret {}.",
                    s.name
                )))
            }
        }
        Ok(out)
    })
}

/// DeleteResourcePolicy (idempotent: deleting an absent policy succeeds).
pub fn delete_resource_policy(
    ctx: &Ctx,
    req: DeleteResourcePolicyRequest<'_>,
) -> Result<PolicyNamed, ApiError> {
    let id = req.secret_id;
    let name = only_default(req.policy_name, "delete")?;
    ctx.write(|region| {
        let mut s = writable(ctx, region, id)?;
        if s.policies.contains_key(&name) {
            s.policies.remove(&name);
            s.last_changed = ctx.now;
        }
        Ok(PolicyNamed {
            secret: ArnName::of(&s),
            policy_name: name,
        })
    })
}

/// ListResourcePolicies: the names only, `default` first and the others alphabetically.
pub fn list_resource_policies(
    ctx: &Ctx,
    req: ListResourcePoliciesRequest<'_>,
) -> Result<ListResourcePoliciesResponse, ApiError> {
    let max = req.max_results.unwrap_or(100) as usize;
    ctx.read(|region| {
        let region = region.ok_or_else(ApiError::secret_not_found)?;
        let s = live(ctx, region, req.secret_id)?;
        let query = paging::query_digest(&("ListResourcePolicies", &s.arn));
        // Sort key: (0, "default") before (1, name) for every other name.
        let mut names: Vec<(u8, &String)> = s
            .policies
            .keys()
            .map(|n| (u8::from(n != DEFAULT_POLICY_NAME), n))
            .collect();
        names.sort();
        let start = match req.next_token {
            Some(t) => {
                let (rank, after) = paging::decode::<(u64, String)>(t, &query)?;
                names
                    .partition_point(|(r, n)| (u64::from(*r), n.as_str()) <= (rank, after.as_str()))
            }
            None => 0,
        };
        let page = &names[start.min(names.len())..(start + max).min(names.len())];
        let next_token = match page.last() {
            Some((rank, last)) if start + page.len() < names.len() => {
                Some(paging::encode(&(rank, last), &query))
            }
            _ => None,
        };
        Ok(ListResourcePoliciesResponse {
            resource_policies: page
                .iter()
                .map(|(_, n)| PolicySummary {
                    policy_name: n.to_string(),
                })
                .collect(),
            next_token,
        })
    })
}

/// ValidateResourcePolicy: PolicyValidationPassed plus ValidationErrors (syntax problems and broad access).
/// Text that is not a JSON object at all answers MalformedPolicyDocumentException.
pub fn validate_resource_policy(
    ctx: &Ctx,
    req: ValidateResourcePolicyRequest<'_>,
) -> Result<ValidateResourcePolicyResponse, ApiError> {
    let text = req.resource_policy;
    if let Some(id) = req.secret_id {
        ctx.read(|region| {
            let region = region.ok_or_else(ApiError::secret_not_found)?;
            ctx.find(region, id).map(|_| ())
        })?;
    }
    if !serde_json::from_str::<Value>(text).is_ok_and(|v| v.is_object()) {
        let errors = validate(text).err().unwrap_or_default();
        return Err(malformed(&errors));
    }
    let entry = |check_name, error_message| ValidationEntry {
        check_name,
        error_message,
    };
    let validation_errors = match validate(text) {
        Err(errors) => errors.into_iter().map(|e| entry(CHECK_SYNTAX, e)).collect(),
        Ok(doc) if is_public(&doc) => vec![entry(CHECK_PUBLIC, PUBLIC_POLICY_MESSAGE.to_string())],
        Ok(_) => Vec::new(),
    };
    Ok(ValidateResourcePolicyResponse {
        policy_validation_passed: validation_errors.is_empty(),
        validation_errors,
    })
}
