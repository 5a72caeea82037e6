//! DescribeSecret and the secret-metadata JSON shared with ListSecrets (only members with a value).

use serde_json::{json, Map, Value};

use crate::ctx::Ctx;
use crate::error::ApiError;
use crate::model::Secret;
use crate::ops::{arn_name, secret_id, ts};
use crate::protocol::Input;

/// Which response the metadata is for (the version map and replication differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// DescribeSecret: `VersionIdsToStages`, `ReplicationStatus`.
    Describe,
    /// A ListSecrets entry: `SecretVersionsToStages`, no replication status.
    ListEntry,
}

/// The metadata of a secret as DescribeSecret / ListSecrets answer it.
pub fn metadata(s: &Secret, shape: Shape) -> Map<String, Value> {
    let mut m = arn_name(s);
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            m.insert(k.to_string(), v);
        }
    };
    put("Type", s.secret_type.clone().map(Value::from));
    // an empty Description is left out, as AWS does
    put(
        "Description",
        s.description
            .clone()
            .filter(|d| !d.is_empty())
            .map(Value::from),
    );
    put("KmsKeyId", s.kms_key_id.clone().map(Value::from));
    let r = &s.rotation;
    put("RotationEnabled", r.enabled.map(Value::from));
    put("RotationLambdaARN", r.lambda_arn.clone().map(Value::from));
    put("RotationRules", r.rules.clone());
    put(
        "ExternalSecretRotationMetadata",
        r.external_metadata.clone(),
    );
    put(
        "ExternalSecretRotationRoleArn",
        r.external_role_arn.clone().map(Value::from),
    );
    put("LastRotatedDate", r.last_rotated.map(ts));
    put("LastChangedDate", Some(ts(s.last_changed)));
    put("LastAccessedDate", s.last_accessed.map(ts));
    put("DeletedDate", s.deleted.map(ts));
    put("NextRotationDate", r.next_rotation.map(ts));
    // `Tags` is left out until the secret is first tagged; once all tags are removed it is `[]`
    put(
        "Tags",
        (s.tagged || !s.tags.is_empty()).then(|| s.tags_json()),
    );
    let key = match shape {
        Shape::Describe => "VersionIdsToStages",
        Shape::ListEntry => "SecretVersionsToStages",
    };
    put(key, s.version_stages_map());
    put("OwningService", s.owning_service.clone().map(Value::from));
    put("CreatedDate", Some(ts(s.created)));
    put("PrimaryRegion", s.primary_region.clone().map(Value::from));
    if shape == Shape::Describe && !s.replication.is_empty() {
        put(
            "ReplicationStatus",
            Some(Value::Array(s.replication.clone())),
        );
    }
    // members other modules keep under their wire names (e.g. CrossAccountPrimary)
    for (k, v) in &s.extra {
        if k.starts_with(|c: char| c.is_ascii_uppercase()) && !v.is_null() {
            m.insert(k.clone(), v.clone());
        }
    }
    m
}

/// DescribeSecret (works on secrets scheduled for deletion, showing DeletedDate).
pub fn describe_secret(ctx: &Ctx, mut inp: Input) -> Result<Value, ApiError> {
    let id = secret_id(&mut inp)?;
    inp.finish()?;
    ctx.read(|region| {
        let region = region.ok_or_else(ApiError::secret_not_found)?;
        let name = ctx.find(region, &id)?;
        let s = region.get(&name).ok_or_else(ApiError::secret_not_found)?;
        Ok(Value::Object(metadata(s, Shape::Describe)))
    })
}

/// `{ARN, Name}` for an id that may not exist (ForceDeleteWithoutRecovery on a missing secret).
pub fn arn_for_missing(ctx: &Ctx, id: &str) -> Value {
    if id.starts_with("arn:") {
        let name = id.rsplit(":secret:").next().unwrap_or(id);
        json!({"ARN": id, "Name": name})
    } else {
        json!({"ARN": format!("{}{}", ctx.arn_prefix(), id), "Name": id})
    }
}
