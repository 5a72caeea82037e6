//! GetSecretValue, PutSecretValue and UpdateSecret: version selection, idempotent version
//! creation, label moves, pruning, LastAccessedDate (to the day) and LastChangedDate.

use serde_json::{json, Value};

use crate::clock::day_floor;
use crate::ctx::Ctx;
use crate::error::ApiError;
use crate::kms;
use crate::model::{LabelError, SecretData, AWSCURRENT, AWSPENDING, MAX_LABELS_PER_VERSION};
use crate::ops::create::token_in_use;
use crate::ops::replication::cross_account;
use crate::ops::{
    arn_name, live, one_value, read_value, request_token, secret_id, token_required, ts, writable,
};
use crate::protocol::{b64, Input};
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
            s.add_version(token.to_string(), ctx.now, Some(digest), kms)
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

/// GetSecretValue.
pub fn get_secret_value(ctx: &Ctx, mut inp: Input) -> Result<Value, ApiError> {
    let id = secret_id(&mut inp)?;
    let version_id = inp.string("VersionId", 32, 64)?;
    let stage = inp.string("VersionStage", 1, 256)?;
    inp.finish()?;
    let today = day_floor(ctx.now);
    let (name, vid, rec, mut out, touch, src) = ctx.read(|region| {
        let region = region.ok_or_else(ApiError::secret_not_found)?;
        let s = live(ctx, region, &id)?;
        let v = match (&version_id, &stage) {
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
                let label = st.as_deref().unwrap_or(AWSCURRENT);
                let i = s.holder(label).ok_or_else(|| {
                    ApiError::not_found(format!(
                        "Secrets Manager can't find the specified secret value for staging label: {label}"
                    ))
                })?;
                &s.versions[i]
            }
        };
        if !v.has_value() {
            return Err(match &version_id {
                Some(vid) => ApiError::not_found(format!(
                    "Secrets Manager can't find the specified secret value for VersionId: {vid}"
                )),
                None => ApiError::not_found(format!(
                    "Secrets Manager can't find the specified secret value for staging label: {}",
                    stage.as_deref().unwrap_or(AWSCURRENT)
                )),
            });
        }
        let mut out = arn_name(s);
        out.insert("VersionId".into(), json!(v.id));
        out.insert("VersionStages".into(), json!(v.stages));
        out.insert("CreatedDate".into(), ts(v.created));
        let touch = s.last_accessed != Some(today) || v.last_accessed != Some(today);
        let src = crate::ops::replication::value_home(ctx, s);
        Ok((s.name.clone(), v.id.clone(), v.rec, out, touch, src))
    })?;
    let data = ctx.value_at(&src.0, &src.1, rec)?.ok_or_else(|| {
        ApiError::not_found(format!(
            "Secrets Manager can't find the specified secret value for VersionId: {vid}"
        ))
    })?;
    match data {
        SecretData::String(s) => out.insert("SecretString".into(), json!(s)),
        SecretData::Binary(b) => out.insert("SecretBinary".into(), json!(b64(&b))),
    };
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
    Ok(Value::Object(out))
}

/// PutSecretValue.
pub fn put_secret_value(ctx: &Ctx, mut inp: Input) -> Result<Value, ApiError> {
    let id = secret_id(&mut inp)?;
    let token = request_token(&mut inp)?;
    let value = read_value(&mut inp)?;
    let stages = inp.string_list("VersionStages", 1, 20, 1, 256)?;
    let rotation_token = inp.string("RotationToken", 36, 256)?;
    inp.finish()?;
    if let Some(rt) = &rotation_token {
        if !rt.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(ApiError::validation(format!(
                "1 validation error detected: Value at 'rotationToken' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9\\-]+$ (length {})",
                rt.len()
            )));
        }
    }
    let Some(data) = one_value(value)? else {
        return Err(ApiError::invalid_parameter(
            "You must provide either SecretString or SecretBinary.",
        ));
    };
    let Some(token) = token else {
        return Err(token_required());
    };
    ctx.write(|region| {
        let mut s = writable(ctx, region, &id)?;
        cross_account::refuse_value_write(&s)?;
        let i = put_version(ctx, &mut s, &token, &data, stages.as_deref())?;
        let mut out = arn_name(&s);
        out.insert("VersionId".into(), json!(token));
        out.insert("VersionStages".into(), json!(s.versions[i].stages));
        Ok(Value::Object(out))
    })
}

/// UpdateSecret.
pub fn update_secret(ctx: &Ctx, mut inp: Input) -> Result<Value, ApiError> {
    let id = secret_id(&mut inp)?;
    let token = request_token(&mut inp)?;
    let description = inp.string("Description", 0, 2048)?;
    let kms_key = inp.string("KmsKeyId", 0, 2048)?;
    let value = read_value(&mut inp)?;
    let secret_type = inp.string("Type", 0, 256)?;
    inp.finish()?;
    let data = one_value(value)?;
    if data.is_some() && token.is_none() {
        return Err(token_required());
    }
    if let Some(k) = kms_key.as_deref().filter(|k| !k.is_empty()) {
        kms::check_key(&ctx.shared.config.kms_keys, &ctx.region, &ctx.account, k)?;
    }
    ctx.write(|region| {
        let mut s = writable(ctx, region, &id)?;
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
        let mut out = arn_name(&s);
        if let Some(v) = version_id {
            out.insert("VersionId".into(), json!(v));
        }
        Ok(Value::Object(out))
    })
}
