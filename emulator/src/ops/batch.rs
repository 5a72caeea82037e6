//! BatchGetSecretValue: by SecretIdList (per-secret errors in `Errors`) or by Filters (paged).

use serde::Serialize;

use crate::ctx::{Ctx, Region};
use crate::error::ApiError;
use crate::model::{Secret, AWSCURRENT};
use crate::ops::list::{page, Cursor};
use crate::ops::paging;
use crate::ops::value::SecretValue;
use crate::protocol::shapes::BatchGetSecretValueRequest;

/// One entry of `Errors`: the id and why it failed.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SecretError<'a> {
    secret_id: &'a str,
    error_code: &'static str,
    message: String,
}

/// BatchGetSecretValue's answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct BatchGetSecretValueResponse<'a> {
    secret_values: Vec<SecretValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
    errors: Vec<SecretError<'a>>,
}

fn current_value(ctx: &Ctx, s: &Secret) -> Result<SecretValue, ApiError> {
    let not_found = || {
        ApiError::not_found(
            "Secrets Manager can't find the specified secret value for staging label: AWSCURRENT",
        )
    };
    let v = s
        .holder(AWSCURRENT)
        .map(|i| &s.versions[i])
        .filter(|v| v.has_value())
        .ok_or_else(not_found)?;
    let (account, region) = crate::ops::replication::value_home(ctx, s);
    let data = ctx
        .value_at(&account, &region, v.rec)?
        .ok_or_else(not_found)?;
    Ok(SecretValue::new(s, v, Some(data)))
}

fn by_id(ctx: &Ctx, region: Option<&Region>, id: &str) -> Result<SecretValue, ApiError> {
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
pub fn batch_get_secret_value<'a>(
    ctx: &Ctx,
    req: BatchGetSecretValueRequest<'a>,
) -> Result<BatchGetSecretValueResponse<'a>, ApiError> {
    let ids = req.secret_id_list;
    let has_filters = req.filters.is_some();
    let filters = req.filters.unwrap_or_default();
    let max = req.max_results;
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
        let mut out = BatchGetSecretValueResponse {
            secret_values: Vec::new(),
            next_token: None,
            errors: Vec::new(),
        };
        if let Some(ids) = &ids {
            for &id in ids {
                match by_id(ctx, region, id) {
                    Ok(v) => out.secret_values.push(v),
                    Err(e) if e.status >= 500 => return Err(e),
                    Err(e) => out.errors.push(SecretError {
                        secret_id: id,
                        error_code: e.code,
                        message: e.message,
                    }),
                }
            }
        } else {
            let keys: Vec<(&str, &[&str])> =
                filters.iter().map(|f| (f.key, &f.values[..])).collect();
            let query = paging::query_digest(&("BatchGetSecretValue", keys));
            let after = match req.next_token {
                Some(t) => Some(paging::decode::<Cursor>(t, &query)?),
                None => None,
            };
            if let Some(region) = region {
                let max = max.unwrap_or(20) as usize;
                let (items, cursor) = page(
                    ctx,
                    region,
                    &filters,
                    false,
                    "created-date",
                    false,
                    after,
                    max,
                );
                for s in items {
                    out.secret_values.push(current_value(ctx, s)?);
                }
                out.next_token = cursor.map(|c| paging::encode(&c, &query));
            }
        }
        Ok(out)
    })
}
