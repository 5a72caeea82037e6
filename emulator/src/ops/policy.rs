//! The resource-policy operations: PutResourcePolicy, GetResourcePolicy, DeleteResourcePolicy (idempotent),
//! ListResourcePolicies (`default` first, then alphabetical; opaque NextToken) and ValidateResourcePolicy.

use serde_json::{json, Map, Value};

use crate::ctx::Ctx;
use crate::error::ApiError;
use crate::ops::{arn_name, check_secret_id, live, paging, secret_id, writable};
use crate::policy::{
    is_public, malformed_message, valid_policy_name, validate, CHECK_PUBLIC, CHECK_SYNTAX,
    DEFAULT_POLICY_NAME, MAX_POLICY_LEN, PUBLIC_POLICY_MESSAGE,
};
use crate::protocol::Input;

fn policy_name(inp: &mut Input) -> Result<Option<String>, ApiError> {
    let name = inp.string("PolicyName", 1, 64)?;
    if let Some(n) = &name {
        if !valid_policy_name(n) && !n.is_empty() && n.chars().count() <= 64 {
            inp.violation(
                "policyName",
                Some(n),
                "Member must satisfy regular expression pattern: [0-9A-Za-z\\-\\_]+",
            );
        }
    }
    Ok(name)
}

fn only_default(name: &Option<String>, verb: &str) -> Result<String, ApiError> {
    match name.as_deref() {
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
pub fn put_resource_policy(ctx: &Ctx, mut inp: Input) -> Result<Value, ApiError> {
    let id = secret_id(&mut inp)?;
    let text = inp.required_string("ResourcePolicy", 1, MAX_POLICY_LEN)?;
    let name = policy_name(&mut inp)?;
    let block_public = inp.bool("BlockPublicPolicy")?.unwrap_or(false);
    inp.finish()?;
    let name = only_default(&name, "attach")?;
    let doc = validate(&text).map_err(|e| malformed(&e))?;
    if block_public && is_public(&doc) {
        return Err(ApiError::new(
            400,
            "PublicPolicyException",
            PUBLIC_POLICY_MESSAGE,
        ));
    }
    ctx.write(|region| {
        let mut s = writable(ctx, region, &id)?;
        s.policies.insert(name.clone(), text);
        s.last_changed = ctx.now;
        let mut out = arn_name(&s);
        out.insert("PolicyName".into(), json!(name));
        Ok(Value::Object(out))
    })
}

/// GetResourcePolicy (no `ResourcePolicy` member when the default policy is not set).
pub fn get_resource_policy(ctx: &Ctx, mut inp: Input) -> Result<Value, ApiError> {
    let id = secret_id(&mut inp)?;
    let name = policy_name(&mut inp)?.unwrap_or_else(|| DEFAULT_POLICY_NAME.to_string());
    inp.finish()?;
    ctx.read(|region| {
        let region = region.ok_or_else(ApiError::secret_not_found)?;
        let s = live(ctx, region, &id)?;
        let mut out = arn_name(s);
        match s.policies.get(&name) {
            Some(text) => {
                out.insert("ResourcePolicy".into(), json!(text));
                out.insert("PolicyName".into(), json!(name));
            }
            None if name == DEFAULT_POLICY_NAME => {}
            None => {
                return Err(ApiError::not_found(format!(
                    "Secrets Manager can't find the resource policy {name} for secret {}.",
                    s.name
                )))
            }
        }
        Ok(Value::Object(out))
    })
}

/// DeleteResourcePolicy (idempotent: deleting an absent policy succeeds).
pub fn delete_resource_policy(ctx: &Ctx, mut inp: Input) -> Result<Value, ApiError> {
    let id = secret_id(&mut inp)?;
    let name = policy_name(&mut inp)?;
    inp.finish()?;
    let name = only_default(&name, "delete")?;
    ctx.write(|region| {
        let mut s = writable(ctx, region, &id)?;
        if s.policies.contains_key(&name) {
            s.policies.remove(&name);
            s.last_changed = ctx.now;
        }
        let mut out = arn_name(&s);
        out.insert("PolicyName".into(), json!(name));
        Ok(Value::Object(out))
    })
}

/// ListResourcePolicies: the names only, `default` first and the others alphabetically.
pub fn list_resource_policies(ctx: &Ctx, mut inp: Input) -> Result<Value, ApiError> {
    let id = secret_id(&mut inp)?;
    let max = inp.int("MaxResults", Some(1), Some(100))?.unwrap_or(100) as usize;
    let token = inp.string("NextToken", 1, 4096)?;
    inp.finish()?;
    ctx.read(|region| {
        let region = region.ok_or_else(ApiError::secret_not_found)?;
        let s = live(ctx, region, &id)?;
        let query = paging::query_digest(&json!({"op": "ListResourcePolicies", "arn": s.arn}));
        // Sort key: (0, "default") before (1, name) for every other name.
        let mut names: Vec<(u8, &String)> = s
            .policies
            .keys()
            .map(|n| (u8::from(n != DEFAULT_POLICY_NAME), n))
            .collect();
        names.sort();
        let start = match &token {
            Some(t) => {
                let cursor = paging::decode(t, &query)?;
                let (Some(rank), Some(after)) = (
                    cursor.get(0).and_then(Value::as_u64),
                    cursor.get(1).and_then(Value::as_str),
                ) else {
                    return Err(ApiError::invalid_next_token());
                };
                names.partition_point(|(r, n)| (u64::from(*r), n.as_str()) <= (rank, after))
            }
            None => 0,
        };
        let page: Vec<&(u8, &String)> = names.iter().skip(start).take(max).collect();
        let mut out = Map::new();
        out.insert(
            "ResourcePolicies".into(),
            Value::Array(page.iter().map(|(_, n)| json!({"PolicyName": n})).collect()),
        );
        if start + page.len() < names.len() {
            if let Some((rank, last)) = page.last() {
                out.insert(
                    "NextToken".into(),
                    json!(paging::encode(&json!([rank, last]), &query)),
                );
            }
        }
        Ok(Value::Object(out))
    })
}

/// ValidateResourcePolicy: PolicyValidationPassed plus ValidationErrors (syntax problems and broad access).
/// Text that is not a JSON object at all answers MalformedPolicyDocumentException.
pub fn validate_resource_policy(ctx: &Ctx, mut inp: Input) -> Result<Value, ApiError> {
    let id = inp.string("SecretId", 1, 2048)?;
    if let Some(id) = &id {
        check_secret_id(&mut inp, id);
    }
    let text = inp.required_string("ResourcePolicy", 1, MAX_POLICY_LEN)?;
    inp.finish()?;
    if let Some(id) = &id {
        ctx.read(|region| {
            let region = region.ok_or_else(ApiError::secret_not_found)?;
            ctx.find(region, id).map(|_| ())
        })?;
    }
    if !serde_json::from_str::<Value>(&text).is_ok_and(|v| v.is_object()) {
        let errors = validate(&text).err().unwrap_or_default();
        return Err(malformed(&errors));
    }
    let mut entries = Vec::new();
    match validate(&text) {
        Err(errors) => {
            entries.extend(
                errors
                    .into_iter()
                    .map(|e| json!({"CheckName": CHECK_SYNTAX, "ErrorMessage": e})),
            );
        }
        Ok(doc) if is_public(&doc) => {
            entries.push(json!({"CheckName": CHECK_PUBLIC, "ErrorMessage": PUBLIC_POLICY_MESSAGE}));
        }
        Ok(_) => {}
    }
    Ok(json!({"PolicyValidationPassed": entries.is_empty(), "ValidationErrors": entries}))
}
