//! ListSecretVersionIds (paging by version sequence, IncludeDeprecated) and
//! UpdateSecretVersionStage (explicit label moves with AWS's RemoveFromVersionId rule).

use serde_json::{json, Value};

use crate::ctx::Ctx;
use crate::error::ApiError;
use crate::model::{LabelError, MAX_LABELS_PER_VERSION};
use crate::ops::{arn_name, paging, secret_id, ts, writable};
use crate::protocol::Input;

/// ListSecretVersionIds (allowed on secrets scheduled for deletion). Versions in creation order,
/// oldest first, as AWS lists them; the order is the version sequence, so versions created in the
/// same millisecond keep it too.
pub fn list_secret_version_ids(ctx: &Ctx, mut inp: Input) -> Result<Value, ApiError> {
    let id = secret_id(&mut inp)?;
    let max = inp.int("MaxResults", Some(1), Some(100))?.unwrap_or(100) as usize;
    let token = inp.string("NextToken", 1, 4096)?;
    let include_deprecated = inp.bool("IncludeDeprecated")?.unwrap_or(false);
    inp.finish()?;
    ctx.read(|region| {
        let region = region.ok_or_else(ApiError::secret_not_found)?;
        let name = ctx.find(region, &id)?;
        let s = region.get(&name).ok_or_else(ApiError::secret_not_found)?;
        let query =
            paging::query_digest(&json!(["ListSecretVersionIds", s.arn, include_deprecated]));
        let after = match &token {
            Some(t) => Some(
                paging::decode(t, &query)?
                    .as_u64()
                    .ok_or_else(ApiError::invalid_next_token)?,
            ),
            None => None,
        };
        let mut picked = Vec::new();
        let mut more = false;
        for v in &s.versions {
            if after.is_some_and(|a| v.seq <= a) {
                continue;
            }
            if !include_deprecated && v.stages.is_empty() {
                continue;
            }
            if picked.len() == max {
                more = true;
                break;
            }
            picked.push(v);
        }
        let versions: Vec<Value> = picked
            .iter()
            .map(|v| {
                let mut m = serde_json::Map::new();
                m.insert("VersionId".into(), json!(v.id));
                if !v.stages.is_empty() {
                    // a deprecated version has no VersionStages member at all
                    m.insert("VersionStages".into(), json!(v.stages));
                }
                if let Some(la) = v.last_accessed {
                    m.insert("LastAccessedDate".into(), ts(la));
                }
                m.insert("CreatedDate".into(), ts(v.created));
                let kms = v
                    .kms_key_id
                    .clone()
                    .unwrap_or_else(|| "DefaultEncryptionKey".into());
                m.insert("KmsKeyIds".into(), json!([kms]));
                Value::Object(m)
            })
            .collect();
        let mut out = arn_name(s);
        out.insert("Versions".into(), Value::Array(versions));
        if more {
            if let Some(last) = picked.last() {
                out.insert(
                    "NextToken".into(),
                    json!(paging::encode(&json!(last.seq), &query)),
                );
            }
        }
        Ok(Value::Object(out))
    })
}

/// UpdateSecretVersionStage.
pub fn update_secret_version_stage(ctx: &Ctx, mut inp: Input) -> Result<Value, ApiError> {
    let id = secret_id(&mut inp)?;
    let label = inp.required_string("VersionStage", 1, 256)?;
    let remove_from = inp.string("RemoveFromVersionId", 32, 64)?;
    let move_to = inp.string("MoveToVersionId", 32, 64)?;
    inp.finish()?;
    if remove_from.is_none() && move_to.is_none() {
        return Err(ApiError::invalid_parameter(
            "You must specify MoveToVersionId, RemoveFromVersionId or both.",
        ));
    }
    ctx.write(|region| {
        let mut s = writable(ctx, region, &id)?;
        crate::ops::replication::cross_account::refuse_value_write(&s)?;
        let not_valid = |v: &str| ApiError::invalid_parameter(format!("Not a valid version: {v}"));
        let to = match &move_to {
            Some(v) => Some(s.version_index(v).ok_or_else(|| not_valid(v))?),
            None => None,
        };
        let from = match &remove_from {
            Some(v) => Some(s.version_index(v).ok_or_else(|| not_valid(v))?),
            None => None,
        };
        let holder = s.holder(&label);
        if let Some(h) = holder {
            let moving_elsewhere = to.is_some_and(|t| t != h);
            if moving_elsewhere && from != Some(h) {
                let hid = s.versions[h].id.clone();
                return Err(match &remove_from {
                    None => ApiError::invalid_parameter(format!(
                        "The parameter RemoveFromVersionId can't be empty. Staging label {label} is currently attached to version {hid}, so you must explicitly reference that version in RemoveFromVersionId."
                    )),
                    Some(r) => ApiError::invalid_parameter(format!(
                        "The staging label {label} is currently attached to version {hid}, not to version {r} given in RemoveFromVersionId."
                    )),
                });
            }
        }
        if let Some(f) = from {
            if holder != Some(f) {
                return Err(ApiError::invalid_parameter(format!(
                    "The staging label {label} is not attached to version {}.",
                    s.versions[f].id
                )));
            }
        }
        if let Some(t) = to {
            if !s.versions[t].has(&label) && s.versions[t].stages.len() >= MAX_LABELS_PER_VERSION {
                return Err(ApiError::limit_exceeded(format!(
                    "Version {} already has {MAX_LABELS_PER_VERSION} staging labels.",
                    s.versions[t].id
                )));
            }
        }
        match to {
            Some(t) => {
                s.attach_label(&label, t)
                    .map_err(|LabelError::TooManyLabels(v)| ApiError::limit_exceeded(format!("Version {v} has too many staging labels.")))?;
            }
            None => {
                if let Some(f) = from {
                    s.detach_label(&label, f);
                }
            }
        }
        s.last_changed = ctx.now;
        Ok(json!(arn_name(&s)))
    })
}
