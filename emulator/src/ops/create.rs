//! CreateSecret: name rules, idempotent retries with ClientRequestToken, names scheduled for
//! deletion, KMS key check, tags, and the replication seam.

use serde_json::{json, Value};

use crate::ctx::Ctx;
use crate::error::ApiError;
use crate::kms;
use crate::model::{self, Secret, AWSCURRENT};
use crate::ops::{
    arn_name, check_tags, one_value, read_value, replicate_on_create, request_token, token_required,
};
use crate::protocol::{parse_tags, Input};

/// CreateSecret.
pub fn create_secret(ctx: &Ctx, mut inp: Input) -> Result<Value, ApiError> {
    let name = inp.required_string("Name", 1, 512)?;
    let token = request_token(&mut inp)?;
    let description = inp.string("Description", 0, 2048)?;
    let kms_key = inp.string("KmsKeyId", 0, 2048)?;
    let value = read_value(&mut inp)?;
    let tags = parse_tags(&mut inp, "Tags")?.unwrap_or_default();
    let secret_type = inp.string("Type", 0, 256)?;
    let replicas = inp
        .list("AddReplicaRegions", 1, usize::MAX)?
        .map(Value::Array);
    let force_overwrite = inp.bool("ForceOverwriteReplicaSecret")?.unwrap_or(false);
    let cross_primary = inp.string("CrossAccountPrimaryARN", 20, 2048)?;
    inp.finish()?;
    if !model::valid_name(&name) {
        return Err(ApiError::invalid_name());
    }
    let value = one_value(value)?;
    if value.is_some() && token.is_none() {
        return Err(token_required());
    }
    let kms_key = kms_key.filter(|k| !k.is_empty());
    if let Some(k) = &kms_key {
        kms::check_key(&ctx.shared.config.kms_keys, &ctx.region, &ctx.account, k)?;
    }
    check_tags(&[], &tags)?;
    // what a cross-account replica must not have (its values come from its primary)
    let not_for_replica = [
        ("SecretString or SecretBinary", value.is_some()),
        ("Description", description.is_some()),
        ("AddReplicaRegions", replicas.is_some()),
        ("Type", secret_type.is_some()),
    ];

    ctx.write_account(|regions| {
        let mut region = regions.region(&ctx.region);
        if let Some(existing) = region.get(&name) {
            if ctx.expired(existing) {
                region.remove(&name);
            } else if existing.deleted.is_some() {
                return Err(ApiError::invalid_request(
                    "You can't create this secret because a secret with this name is already scheduled for deletion.",
                ));
            } else {
                if let (Some(tok), Some(v)) = (&token, &value) {
                    if let Some(ver) = existing.version(tok) {
                        if ver.digest == Some(v.digest()) {
                            let mut out = arn_name(existing);
                            out.insert("VersionId".into(), json!(tok));
                            return Ok(Value::Object(out));
                        }
                        return Err(token_in_use(tok, &existing.arn));
                    }
                }
                return Err(ApiError::exists(format!(
                    "The operation failed because the secret {name} already exists."
                )));
            }
        }
        let now = ctx.now;
        let mut s = Secret {
            arn: format!("{}{}-{}", ctx.arn_prefix(), name, model::random_suffix()),
            name: name.clone(),
            description,
            kms_key_id: kms_key.clone(),
            secret_type,
            tagged: !tags.is_empty(),
            tags,
            created: now,
            created_order: model::new_record_number(),
            last_changed: now,
            ..Secret::default()
        };
        if let Some(p) = &cross_primary {
            crate::ops::replication::cross_account::make_replica(ctx, &mut s, p, &not_for_replica)?;
        }
        let mut version_id = None;
        let mut value_rec = None;
        if let (Some(tok), Some(v)) = (&token, &value) {
            let i = s.add_version(tok.clone(), now, Some(v.digest()), kms_key.clone());
            s.attach_label(AWSCURRENT, i).map_err(|_| ApiError::internal("label limit on a new version"))?;
            value_rec = Some(s.versions[i].rec);
            version_id = Some(tok.clone());
        }
        if let Some(r) = &replicas {
            replicate_on_create(ctx, regions, &mut s, r, force_overwrite)?;
        }
        let mut out = arn_name(&s);
        if let Some(v) = version_id {
            out.insert("VersionId".into(), json!(v));
        }
        if !s.replication.is_empty() {
            out.insert("ReplicationStatus".into(), Value::Array(s.replication.clone()));
        }
        let mut region = regions.region(&ctx.region);
        let mut s = region.insert(s);
        if let (Some(rec), Some(v)) = (value_rec, &value) {
            s.set_value(rec, v);
        }
        Ok(Value::Object(out))
    })
}

/// ResourceExistsException for a token already used with another value.
pub fn token_in_use(token: &str, arn: &str) -> ApiError {
    ApiError::exists(format!(
        "You can't use ClientRequestToken {token} because that value is already in use for a version of secret {arn}."
    ))
}
