//! ListSecretVersionIds (paging by version sequence, IncludeDeprecated) and
//! UpdateSecretVersionStage (explicit label moves with AWS's RemoveFromVersionId rule).

use serde::Serialize;

use crate::ctx::Ctx;
use crate::error::ApiError;
use crate::model::{LabelError, MAX_LABELS_PER_VERSION};
use crate::ops::{paging, writable, ArnName, Timestamp};
use crate::protocol::shapes::{ListSecretVersionIdsRequest, UpdateSecretVersionStageRequest};

/// One entry of ListSecretVersionIds' `Versions`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VersionEntry {
    version_id: String,
    /// A deprecated version has no VersionStages member at all.
    #[serde(skip_serializing_if = "Option::is_none")]
    version_stages: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_accessed_date: Option<Timestamp>,
    created_date: Timestamp,
    kms_key_ids: [String; 1],
}

/// ListSecretVersionIds' answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListSecretVersionIdsResponse {
    versions: Vec<VersionEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
    #[serde(flatten)]
    secret: ArnName,
}

/// ListSecretVersionIds (allowed on secrets scheduled for deletion). Versions in creation order,
/// oldest first, as AWS lists them; the order is the version sequence, so versions created in the
/// same millisecond keep it too.
pub fn list_secret_version_ids(
    ctx: &Ctx,
    req: ListSecretVersionIdsRequest<'_>,
) -> Result<ListSecretVersionIdsResponse, ApiError> {
    let max = req.max_results.unwrap_or(100) as usize;
    let include_deprecated = req.include_deprecated.unwrap_or(false);
    ctx.read(|region| {
        let region = region.ok_or_else(ApiError::secret_not_found)?;
        let name = ctx.find(region, req.secret_id)?;
        let s = region.get(&name).ok_or_else(ApiError::secret_not_found)?;
        let query = paging::query_digest(&("ListSecretVersionIds", &s.arn, include_deprecated));
        let after = match req.next_token {
            Some(t) => Some(paging::decode::<u64>(t, &query)?),
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
        let versions = picked
            .iter()
            .map(|v| VersionEntry {
                version_id: v.id.clone(),
                version_stages: (!v.stages.is_empty()).then(|| v.stages.clone()),
                last_accessed_date: v.last_accessed.map(Timestamp),
                created_date: Timestamp(v.created),
                kms_key_ids: [v
                    .kms_key_id
                    .clone()
                    .unwrap_or_else(|| "DefaultEncryptionKey".into())],
            })
            .collect();
        let next_token = match picked.last() {
            Some(last) if more => Some(paging::encode(&last.seq, &query)),
            _ => None,
        };
        Ok(ListSecretVersionIdsResponse {
            versions,
            next_token,
            secret: ArnName::of(s),
        })
    })
}

/// UpdateSecretVersionStage.
pub fn update_secret_version_stage(
    ctx: &Ctx,
    req: UpdateSecretVersionStageRequest<'_>,
) -> Result<ArnName, ApiError> {
    let id = req.secret_id;
    let label = req.version_stage.to_string();
    let remove_from = req.remove_from_version_id.map(str::to_string);
    let move_to = req.move_to_version_id.map(str::to_string);
    if remove_from.is_none() && move_to.is_none() {
        return Err(ApiError::invalid_parameter(
            "You must specify MoveToVersionId, RemoveFromVersionId or both.",
        ));
    }
    ctx.write(|region| {
        let mut s = writable(ctx, region, id)?;
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
        Ok(ArnName::of(&s))
    })
}
