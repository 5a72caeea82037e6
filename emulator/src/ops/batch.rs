//! BatchGetSecretValue: by SecretIdList (per-secret errors in `Errors`) or by Filters (paged).

use serde_json::{json, Value};

use crate::ctx::{Ctx, Region};
use crate::error::ApiError;
use crate::model::{Secret, SecretData, AWSCURRENT};
use crate::ops::list::{page, parse_cursor, parse_filters};
use crate::ops::{paging, ts};
use crate::protocol::{b64, Input};

fn current_value(ctx: &Ctx, s: &Secret) -> Result<Value, ApiError> {
    let v = s
        .holder(AWSCURRENT)
        .map(|i| &s.versions[i])
        .filter(|v| v.has_value())
        .ok_or_else(|| {
            ApiError::not_found("Secrets Manager can't find the specified secret value for staging label: AWSCURRENT")
        })?;
    let (account, region) = crate::ops::replication::value_home(ctx, s);
    let data = ctx.value_at(&account, &region, v.rec)?.ok_or_else(|| {
        ApiError::not_found(
            "Secrets Manager can't find the specified secret value for staging label: AWSCURRENT",
        )
    })?;
    let mut m = serde_json::Map::new();
    m.insert("ARN".into(), json!(s.arn));
    m.insert("Name".into(), json!(s.name));
    m.insert("VersionId".into(), json!(v.id));
    match data {
        SecretData::String(x) => m.insert("SecretString".into(), json!(x)),
        SecretData::Binary(b) => m.insert("SecretBinary".into(), json!(b64(&b))),
    };
    m.insert("VersionStages".into(), json!(v.stages));
    m.insert("CreatedDate".into(), ts(v.created));
    Ok(Value::Object(m))
}

fn by_id(ctx: &Ctx, region: Option<&Region>, id: &str) -> Result<Value, ApiError> {
    // the name rule of every other operation, answered for this id alone
    if !id.starts_with("arn:") && !crate::model::valid_name_chars(id) {
        return Err(ApiError::invalid_name());
    }
    let region = region.ok_or_else(ApiError::secret_not_found)?;
    let name = ctx.find(region, id)?;
    let s = region.get(&name).ok_or_else(ApiError::secret_not_found)?;
    if s.deleted.is_some() {
        return Err(ApiError::invalid_request(
            "You tried to perform the operation on a secret that's currently marked deleted.",
        ));
    }
    current_value(ctx, s)
}

/// BatchGetSecretValue.
pub fn batch_get_secret_value(ctx: &Ctx, mut inp: Input) -> Result<Value, ApiError> {
    let ids = inp.string_list("SecretIdList", 1, 20, 1, 2048)?;
    let has_filters = inp.raw("Filters").is_some();
    let filters = parse_filters(&mut inp)?;
    let max = inp.int("MaxResults", Some(1), Some(20))?;
    let token = inp.string("NextToken", 1, 4096)?;
    inp.finish()?;
    if ids.is_some() == has_filters {
        return Err(ApiError::invalid_parameter(
            "Either 'SecretIdList' or 'Filters' must be provided, but not both.",
        ));
    }
    if max.is_some() && !has_filters {
        return Err(ApiError::invalid_parameter(
            "'Filters' not specified. 'Filters' must also be specified when 'MaxResults' is provided.",
        ));
    }
    ctx.read(|region| {
        let mut values = Vec::new();
        let mut errors = Vec::new();
        let mut out = serde_json::Map::new();
        if let Some(ids) = &ids {
            for id in ids {
                match by_id(ctx, region, id) {
                    Ok(v) => values.push(v),
                    Err(e) if e.status >= 500 => return Err(e),
                    Err(e) => errors
                        .push(json!({"SecretId": id, "ErrorCode": e.code, "Message": e.message})),
                }
            }
        } else {
            let query = paging::query_digest(&json!([
                "BatchGetSecretValue",
                filters
                    .iter()
                    .map(|f| json!([f.key, f.values]))
                    .collect::<Vec<_>>()
            ]));
            let after = match &token {
                Some(t) => Some(parse_cursor(&paging::decode(t, &query)?)?),
                None => None,
            };
            if let Some(region) = region {
                let (items, cursor) = page(
                    ctx,
                    region,
                    &filters,
                    false,
                    "created-date",
                    false,
                    after,
                    max.unwrap_or(20) as usize,
                );
                for s in items {
                    values.push(current_value(ctx, s)?);
                }
                if let Some(c) = cursor {
                    out.insert("NextToken".into(), json!(paging::encode(&c, &query)));
                }
            }
        }
        out.insert("SecretValues".into(), Value::Array(values));
        out.insert("Errors".into(), Value::Array(errors));
        Ok(Value::Object(out))
    })
}
