//! DescribeSecret and the secret metadata shared with ListSecrets (only members with a value).

use serde::Serialize;
use serde_json::Value;

use crate::ctx::Ctx;
use crate::error::ApiError;
use crate::model::replica::{CrossAccountLinks, RegionStatus};
use crate::model::Secret;
use crate::ops::{ArnName, Timestamp};
use crate::protocol::shapes::DescribeSecretRequest;

/// Which response the metadata is for (the version map and replication differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// DescribeSecret: `VersionIdsToStages`, `ReplicationStatus`.
    Describe,
    /// A ListSecrets entry: `SecretVersionsToStages`, no replication status.
    ListEntry,
}

/// The metadata of a secret as DescribeSecret / ListSecrets answer it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Metadata {
    #[serde(flatten)]
    secret: ArnName,
    #[serde(skip_serializing_if = "Option::is_none")]
    r#type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kms_key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rotation_enabled: Option<bool>,
    #[serde(rename = "RotationLambdaARN", skip_serializing_if = "Option::is_none")]
    rotation_lambda_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rotation_rules: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    external_secret_rotation_metadata: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    external_secret_rotation_role_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_rotated_date: Option<Timestamp>,
    last_changed_date: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_accessed_date: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    deleted_date: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_rotation_date: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tags: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    version_ids_to_stages: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret_versions_to_stages: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    owning_service: Option<String>,
    created_date: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    primary_region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    replication_status: Option<Vec<RegionStatus>>,
    /// `CrossAccountPrimary` / `CrossAccountReplicas`.
    #[serde(flatten)]
    cross_account: Option<CrossAccountLinks>,
}

/// The metadata of `s` for `shape`.
pub fn metadata(s: &Secret, shape: Shape) -> Metadata {
    let r = &s.rotation;
    let versions = s.version_stages_map();
    let describe = shape == Shape::Describe;
    Metadata {
        secret: ArnName::of(s),
        r#type: s.secret_type.clone(),
        // an empty Description is left out, as AWS does
        description: s.description.clone().filter(|d| !d.is_empty()),
        kms_key_id: s.kms_key_id.clone(),
        rotation_enabled: r.enabled,
        rotation_lambda_arn: r.lambda_arn.clone(),
        rotation_rules: r.rules.clone(),
        external_secret_rotation_metadata: r.external_metadata.clone(),
        external_secret_rotation_role_arn: r.external_role_arn.clone(),
        last_rotated_date: r.last_rotated.map(Timestamp),
        last_changed_date: Timestamp(s.last_changed),
        last_accessed_date: s.last_accessed.map(Timestamp),
        deleted_date: s.deleted.map(Timestamp),
        next_rotation_date: r.next_rotation.map(Timestamp),
        // `Tags` is left out until the secret is first tagged; once all tags are removed it is `[]`
        tags: (s.tagged || !s.tags.is_empty()).then(|| s.tags_json()),
        version_ids_to_stages: versions.clone().filter(|_| describe),
        secret_versions_to_stages: versions.filter(|_| !describe),
        owning_service: s.owning_service.clone(),
        created_date: Timestamp(s.created),
        primary_region: s.primary_region.clone(),
        replication_status: (describe && !s.replication.is_empty()).then(|| s.replication.clone()),
        cross_account: s.cross_account.as_deref().cloned(),
    }
}

/// DescribeSecret (works on secrets scheduled for deletion, showing DeletedDate).
pub fn describe_secret(ctx: &Ctx, req: DescribeSecretRequest<'_>) -> Result<Metadata, ApiError> {
    ctx.read(|region| {
        let region = region.ok_or_else(ApiError::secret_not_found)?;
        let name = ctx.find(region, req.secret_id)?;
        let s = region.get(&name).ok_or_else(ApiError::secret_not_found)?;
        Ok(metadata(s, Shape::Describe))
    })
}

/// `{ARN, Name}` for an id that may not exist (ForceDeleteWithoutRecovery on a missing secret).
pub fn arn_for_missing(ctx: &Ctx, id: &str) -> ArnName {
    if id.starts_with("arn:") {
        let name = id.rsplit(":secret:").next().unwrap_or(id);
        ArnName {
            arn: id.to_string(),
            name: name.to_string(),
        }
    } else {
        ArnName {
            arn: format!("{}{}", ctx.arn_prefix(), id),
            name: id.to_string(),
        }
    }
}
