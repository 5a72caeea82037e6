//! CreateSecret: name rules, idempotent retries with ClientRequestToken, names scheduled for
//! deletion, KMS key check, tags, and the replication seam.

use serde::Serialize;
use serde_json::Value;

use crate::ctx::Ctx;
use crate::error::ApiError;
use crate::kms;
use crate::model::replica::RegionStatus;
use crate::model::{self, Secret, AWSCURRENT};
use crate::ops::{check_tags, one_value, replicate_on_create, token_required, ArnName};
use crate::protocol::shapes::CreateSecretRequest;

/// CreateSecret's answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateSecretResponse {
    #[serde(flatten)]
    secret: ArnName,
    #[serde(skip_serializing_if = "Option::is_none")]
    version_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    replication_status: Option<Vec<RegionStatus>>,
}

/// CreateSecret.
pub fn create_secret(
    ctx: &Ctx,
    req: CreateSecretRequest<'_>,
) -> Result<CreateSecretResponse, ApiError> {
    let name = req.name.to_string();
    let token = req.client_request_token.map(str::to_string);
    let description = req.description.map(str::to_string);
    let kms_key = req.kms_key_id.map(str::to_string);
    let tags = crate::ops::owned_tags(req.tags);
    let secret_type = req.type_.map(str::to_string);
    let replicas = req.add_replica_regions.map(|r| Value::Array(r.to_vec()));
    let force_overwrite = req.force_overwrite_replica_secret.unwrap_or(false);
    let cross_primary = req.cross_account_primary_arn;
    if !model::valid_name(&name) {
        return Err(ApiError::invalid_name());
    }
    let value = one_value(req.secret_string, req.secret_binary)?;
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
                            return Ok(CreateSecretResponse {
                                secret: ArnName::of(existing),
                                version_id: Some(tok.clone()),
                                replication_status: None,
                            });
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
            created_order: ctx.store().new_record_number(),
            last_changed: now,
            ..Secret::default()
        };
        if let Some(p) = cross_primary {
            crate::ops::replication::cross_account::make_replica(ctx, &mut s, p, &not_for_replica)?;
        }
        let mut version_id = None;
        let mut value_rec = None;
        if let (Some(tok), Some(v)) = (&token, &value) {
            let i = s.add_version(ctx.store().new_record_number(), tok.clone(), now, Some(v.digest()), kms_key.clone());
            s.attach_label(AWSCURRENT, i).map_err(|_| ApiError::internal("label limit on a new version"))?;
            value_rec = Some(s.versions[i].rec);
            version_id = Some(tok.clone());
        }
        if let Some(r) = &replicas {
            replicate_on_create(ctx, regions, &mut s, r, force_overwrite)?;
        }
        let out = CreateSecretResponse {
            secret: ArnName::of(&s),
            version_id,
            replication_status: (!s.replication.is_empty()).then(|| s.replication.clone()),
        };
        let mut region = regions.region(&ctx.region);
        let mut s = region.insert(s);
        if let (Some(rec), Some(v)) = (value_rec, &value) {
            s.set_value(rec, v);
        }
        Ok(out)
    })
}

/// ResourceExistsException for a token already used with another value.
pub fn token_in_use(token: &str, arn: &str) -> ApiError {
    ApiError::exists(format!(
        "You can't use ClientRequestToken {token} because that value is already in use for a version of secret {arn}."
    ))
}
