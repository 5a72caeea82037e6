//! GetSecretValue, PutSecretValue and UpdateSecret: version selection, idempotent version
//! creation, label moves, pruning, LastAccessedDate (to the day) and LastChangedDate.

use serde::Serialize;

use crate::clock::day_floor;
use crate::ctx::Ctx;
use crate::error::ApiError;
use crate::kms;
use crate::model::{
    LabelError, Secret, SecretData, Version, AWSCURRENT, AWSPENDING, MAX_LABELS_PER_VERSION,
};
use crate::ops::create::token_in_use;
use crate::ops::replication::cross_account;
use crate::ops::{live, one_value, token_required, writable, ArnName, Timestamp};
use crate::protocol::b64;
use crate::protocol::shapes::{
    GetSecretValueRequest, PutSecretValueRequest, UpdateSecretRequest, ROTATION_TOKEN_TYPE,
};
use crate::state::SecretMut;

/// Puts `data` as version `token` of `s` (idempotent): an existing version with the same value is
/// a no-op, with another value a ResourceExistsException; an existing version without a value
/// (an AWSPENDING placeholder) receives it. `stages` None means "move AWSCURRENT here". The first
/// version of a secret always gets AWSCURRENT. Returns the version's index. Everything is checked
/// before anything changes.
pub fn put_version(
    ctx: &Ctx,
    s: &mut SecretMut<'_>,
    token: &str,
    data: &SecretData,
    stages: Option<&[String]>,
) -> Result<usize, ApiError> {
    let digest = data.digest();
    let default_stages = [AWSCURRENT.to_string()];
    let mut wanted: Vec<String> = Vec::new();
    for l in stages.unwrap_or(&default_stages) {
        if !wanted.contains(l) {
            wanted.push(l.clone());
        }
    }
    if s.holder(AWSCURRENT).is_none() && !wanted.iter().any(|l| l == AWSCURRENT) {
        wanted.push(AWSCURRENT.to_string());
    }
    let idx = match s.version_index(token) {
        Some(i) => {
            match &s.versions[i].digest {
                Some(d) if *d == digest => return Ok(i),
                Some(_) => return Err(token_in_use(token, &s.arn)),
                None => {}
            }
            let extra = wanted.iter().filter(|l| !s.versions[i].has(l)).count();
            if s.versions[i].stages.len() + extra > MAX_LABELS_PER_VERSION {
                return Err(too_many_labels(token));
            }
            s.versions[i].digest = Some(digest);
            s.versions[i].stored.reset();
            if stages.is_none() && s.holder(AWSCURRENT).is_some() {
                // filling a placeholder keeps its labels unless stages were given
                wanted.clear();
            }
            i
        }
        None => {
            if wanted.len() > MAX_LABELS_PER_VERSION {
                return Err(too_many_labels(token));
            }
            let kms = s.kms_key_id.clone();
            s.add_version(
                ctx.store().new_record_number(),
                token.to_string(),
                ctx.now,
                Some(digest),
                kms,
            )
        }
    };
    if wanted.iter().any(|l| l == AWSCURRENT) {
        // AWS takes AWSPENDING off a version that loses AWSCURRENT to a new value: it is left
        // with AWSPREVIOUS only
        if let Some(h) = s.holder(AWSCURRENT).filter(|h| *h != idx) {
            if s.versions[h].has(AWSPENDING) {
                s.detach_label(AWSPENDING, h);
            }
        }
    }
    for label in &wanted {
        s.attach_label(label, idx)
            .map_err(|LabelError::TooManyLabels(v)| too_many_labels(&v))?;
    }
    s.last_changed = ctx.now;
    let rec = s.versions[idx].rec;
    s.set_value(rec, data);
    s.prune_versions(ctx.now);
    s.version_index(token)
        .ok_or_else(|| ApiError::internal("version vanished"))
}

fn too_many_labels(vid: &str) -> ApiError {
    ApiError::limit_exceeded(format!(
        "A version of a secret can have at most {MAX_LABELS_PER_VERSION} staging labels; version {vid} would exceed it."
    ))
}

/// GetSecretValue's answer (and one entry of BatchGetSecretValue's `SecretValues`). Its Debug
/// output leaves the value out.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SecretValue {
    /// The secret's ARN.
    #[serde(rename = "ARN")]
    pub arn: String,
    /// The secret's name.
    pub name: String,
    /// The version's id.
    pub version_id: String,
    /// The binary value, base64.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_binary: Option<String>,
    /// The string value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_string: Option<String>,
    /// The version's labels.
    pub version_stages: Vec<String>,
    /// When the version was created.
    pub created_date: Timestamp,
}

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretValue")
            .field("arn", &self.arn)
            .field("version_id", &self.version_id)
            .finish_non_exhaustive()
    }
}

impl SecretValue {
    /// The answer for version `v` of `s` holding `data`.
    pub fn new(s: &Secret, v: &Version, data: Option<SecretData>) -> SecretValue {
        let mut out = SecretValue {
            arn: s.arn.clone(),
            name: s.name.clone(),
            version_id: v.id.clone(),
            secret_binary: None,
            secret_string: None,
            version_stages: v.stages.clone(),
            created_date: Timestamp(v.created),
        };
        out.set(data);
        out
    }

    /// Sets the value members from `data`.
    pub fn set(&mut self, data: Option<SecretData>) {
        match data {
            Some(SecretData::String(s)) => self.secret_string = Some(s),
            Some(SecretData::Binary(b)) => self.secret_binary = Some(b64(&b)),
            None => {}
        }
    }
}

/// GetSecretValue.
pub fn get_secret_value(
    ctx: &Ctx,
    req: GetSecretValueRequest<'_>,
) -> Result<SecretValue, ApiError> {
    let id = req.secret_id;
    let version_id = req.version_id;
    let stage = req.version_stage;
    let today = day_floor(ctx.now);
    let (name, vid, rec, mut out, touch, src) = ctx.read(|region| {
        let region = region.ok_or_else(ApiError::secret_not_found)?;
        let s = live(ctx, region, id)?;
        let v = match (version_id, stage) {
            (Some(vid), st) => {
                let v = s.version(vid).ok_or_else(|| {
                    ApiError::not_found(format!(
                        "Secrets Manager can't find the specified secret value for VersionId: {vid}"
                    ))
                })?;
                if let Some(st) = st {
                    if !v.has(st) {
                        return Err(ApiError::invalid_request(
                            "You provided a VersionStage that is not associated to the provided VersionId.",
                        ));
                    }
                }
                v
            }
            (None, st) => {
                let label = st.unwrap_or(AWSCURRENT);
                let i = s.holder(label).ok_or_else(|| {
                    ApiError::not_found(format!(
                        "Secrets Manager can't find the specified secret value for staging label: {label}"
                    ))
                })?;
                &s.versions[i]
            }
        };
        if !v.has_value() {
            return Err(match version_id {
                Some(vid) => ApiError::not_found(format!(
                    "Secrets Manager can't find the specified secret value for VersionId: {vid}"
                )),
                None => ApiError::not_found(format!(
                    "Secrets Manager can't find the specified secret value for staging label: {}",
                    stage.unwrap_or(AWSCURRENT)
                )),
            });
        }
        let out = SecretValue::new(s, v, None);
        let touch = s.last_accessed != Some(today) || v.last_accessed != Some(today);
        let src = crate::ops::replication::value_home(ctx, s);
        Ok((s.name.clone(), v.id.clone(), v.rec, out, touch, src))
    })?;
    let data = ctx.value_at(&src.0, &src.1, rec)?.ok_or_else(|| {
        ApiError::not_found(format!(
            "Secrets Manager can't find the specified secret value for VersionId: {vid}"
        ))
    })?;
    out.set(Some(data));
    if touch {
        ctx.touch(|region| {
            if let Some(mut s) = region.secret_mut(&name) {
                s.last_accessed = Some(today);
                if let Some(i) = s.version_index(&vid) {
                    s.versions[i].last_accessed = Some(today);
                }
            }
        });
    }
    Ok(out)
}

/// PutSecretValue's answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutSecretValueResponse {
    #[serde(flatten)]
    secret: ArnName,
    version_id: String,
    version_stages: Vec<String>,
}

/// PutSecretValue.
pub fn put_secret_value(
    ctx: &Ctx,
    req: PutSecretValueRequest<'_>,
) -> Result<PutSecretValueResponse, ApiError> {
    let id = req.secret_id;
    let token = req.client_request_token.map(str::to_string);
    let stages: Option<Vec<String>> = req
        .version_stages
        .map(|v| v.iter().map(|s| s.to_string()).collect());
    if let Some(rt) = req.rotation_token {
        // the pattern is answered after the other constraints, with the token's length
        if let Some(p) = ROTATION_TOKEN_TYPE
            .pattern
            .filter(|p| !crate::protocol::pattern::full_match(p, rt))
        {
            return Err(ApiError::validation(format!(
                "1 validation error detected: Value at 'rotationToken' failed to satisfy constraint: Member must satisfy regular expression pattern: {p} (length {})",
                rt.len()
            )));
        }
    }
    let Some(data) = one_value(req.secret_string, req.secret_binary)? else {
        return Err(ApiError::invalid_parameter(
            "You must provide either SecretString or SecretBinary.",
        ));
    };
    let Some(token) = token else {
        return Err(token_required());
    };
    ctx.write(|region| {
        let mut s = writable(ctx, region, id)?;
        cross_account::refuse_value_write(&s)?;
        let i = put_version(ctx, &mut s, &token, &data, stages.as_deref())?;
        Ok(PutSecretValueResponse {
            secret: ArnName::of(&s),
            version_id: token.clone(),
            version_stages: s.versions[i].stages.clone(),
        })
    })
}

/// UpdateSecret's answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateSecretResponse {
    #[serde(flatten)]
    secret: ArnName,
    #[serde(skip_serializing_if = "Option::is_none")]
    version_id: Option<String>,
}

/// UpdateSecret.
pub fn update_secret(
    ctx: &Ctx,
    req: UpdateSecretRequest<'_>,
) -> Result<UpdateSecretResponse, ApiError> {
    let id = req.secret_id;
    let token = req.client_request_token.map(str::to_string);
    let description = req.description.map(str::to_string);
    let kms_key = req.kms_key_id.map(str::to_string);
    let secret_type = req.type_.map(str::to_string);
    let data = one_value(req.secret_string, req.secret_binary)?;
    if data.is_some() && token.is_none() {
        return Err(token_required());
    }
    if let Some(k) = kms_key.as_deref().filter(|k| !k.is_empty()) {
        kms::check_key(&ctx.shared.config.kms_keys, &ctx.region, &ctx.account, k)?;
    }
    ctx.write(|region| {
        let mut s = writable(ctx, region, id)?;
        if data.is_some() {
            cross_account::refuse_value_write(&s)?;
        }
        let mut version_id = None;
        if let (Some(d), Some(tok)) = (&data, &token) {
            // check idempotency before touching metadata
            if let Some(v) = s.version(tok) {
                if v.digest.is_some_and(|dg| dg != d.digest()) {
                    return Err(token_in_use(tok, &s.arn));
                }
            }
        }
        if let Some(d) = description {
            s.description = Some(d);
        }
        if let Some(k) = kms_key {
            s.kms_key_id = if k.is_empty() { None } else { Some(k) };
        }
        if let Some(t) = secret_type {
            s.secret_type = Some(t);
        }
        s.last_changed = ctx.now;
        if let (Some(d), Some(tok)) = (&data, &token) {
            put_version(ctx, &mut s, tok, d, None)?;
            version_id = Some(tok.clone());
        }
        Ok(UpdateSecretResponse {
            secret: ArnName::of(&s),
            version_id,
        })
    })
}
