//! The operations: dispatch from each `X-Amz-Target` operation name to its handler, the helpers
//! the operations share (SecretId / token / value parsing, tag rules, response pieces), and the
//! operation modules: GetRandomPassword (password.rs); the resource-policy operations
//! (`policy`); RotateSecret (async: it may call a rotation endpoint), CancelRotateSecret and
//! scheduled rotations (`rotation`); the replication operations and CreateSecret's
//! AddReplicaRegions (`replication`); and the purge sweep (`purge`).

pub mod background;
pub mod batch;
pub mod create;
pub mod delete;
pub mod describe;
pub mod list;
pub mod paging;
pub mod policy;
pub mod purge;
pub mod replication;
pub mod rotation;
pub mod tags;
pub mod value;
pub mod versions;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::ctx::{Ctx, Region};
use crate::error::ApiError;
use crate::model::{Secret, SecretData, MAX_TAGS};
use crate::protocol::Input;
use crate::state::{AccountWrite, RegionWrite, SecretMut};

/// A synchronous operation.
pub type SyncOp = fn(&Ctx, Input) -> Result<Value, ApiError>;
/// Future returned by an asynchronous operation.
pub type OpFuture = Pin<Box<dyn Future<Output = Result<Value, ApiError>> + Send + 'static>>;
/// An asynchronous operation (for operations that must await, e.g. calling a rotation hook).
pub type AsyncOp = fn(Arc<Ctx>, Input) -> OpFuture;

/// How an operation runs.
#[derive(Clone, Copy)]
pub enum Handler {
    /// Runs on the request task (panics are caught).
    Sync(SyncOp),
    /// Spawned as its own task (panics are caught).
    Async(AsyncOp),
}

impl std::fmt::Debug for Handler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Handler::Sync(_) => "Handler::Sync",
            Handler::Async(_) => "Handler::Async",
        })
    }
}

/// All 26 operations of the Secrets Manager model.
pub const OPERATIONS: [&str; 26] = [
    "AssociateCrossAccountReplica",
    "BatchGetSecretValue",
    "CancelRotateSecret",
    "CreateSecret",
    "DeleteResourcePolicy",
    "DeleteSecret",
    "DescribeSecret",
    "DisassociateCrossAccountReplica",
    "GetRandomPassword",
    "GetResourcePolicy",
    "GetSecretValue",
    "ListResourcePolicies",
    "ListSecretVersionIds",
    "ListSecrets",
    "PutResourcePolicy",
    "PutSecretValue",
    "RemoveRegionsFromReplication",
    "ReplicateSecretToRegions",
    "RestoreSecret",
    "RotateSecret",
    "StopReplicationToReplica",
    "TagResource",
    "UntagResource",
    "UpdateSecret",
    "UpdateSecretVersionStage",
    "ValidateResourcePolicy",
];

/// The handler of an operation name (case as in the model), with the name as a static string.
pub fn lookup(op: &str) -> Option<(&'static str, Handler)> {
    let name = *OPERATIONS.iter().find(|o| **o == op)?;
    let h = match name {
        "CreateSecret" => Handler::Sync(create::create_secret),
        "GetSecretValue" => Handler::Sync(value::get_secret_value),
        "PutSecretValue" => Handler::Sync(value::put_secret_value),
        "UpdateSecret" => Handler::Sync(value::update_secret),
        "DescribeSecret" => Handler::Sync(describe::describe_secret),
        "DeleteSecret" => Handler::Sync(delete::delete_secret),
        "RestoreSecret" => Handler::Sync(delete::restore_secret),
        "ListSecrets" => Handler::Sync(list::list_secrets),
        "ListSecretVersionIds" => Handler::Sync(versions::list_secret_version_ids),
        "UpdateSecretVersionStage" => Handler::Sync(versions::update_secret_version_stage),
        "BatchGetSecretValue" => Handler::Sync(batch::batch_get_secret_value),
        "TagResource" => Handler::Sync(tags::tag_resource),
        "UntagResource" => Handler::Sync(tags::untag_resource),
        "GetRandomPassword" => Handler::Sync(crate::password::get_random_password),
        "PutResourcePolicy" => Handler::Sync(crate::ops::policy::put_resource_policy),
        "GetResourcePolicy" => Handler::Sync(crate::ops::policy::get_resource_policy),
        "DeleteResourcePolicy" => Handler::Sync(crate::ops::policy::delete_resource_policy),
        "ListResourcePolicies" => Handler::Sync(crate::ops::policy::list_resource_policies),
        "ValidateResourcePolicy" => Handler::Sync(crate::ops::policy::validate_resource_policy),
        "RotateSecret" => Handler::Async(crate::ops::rotation::rotate_secret),
        "CancelRotateSecret" => Handler::Sync(crate::ops::rotation::cancel_rotate_secret),
        "ReplicateSecretToRegions" => {
            Handler::Sync(crate::ops::replication::replicate_secret_to_regions)
        }
        "RemoveRegionsFromReplication" => {
            Handler::Sync(crate::ops::replication::remove_regions_from_replication)
        }
        "StopReplicationToReplica" => {
            Handler::Sync(crate::ops::replication::stop_replication_to_replica)
        }
        "AssociateCrossAccountReplica" => {
            Handler::Sync(crate::ops::replication::associate_cross_account_replica)
        }
        "DisassociateCrossAccountReplica" => {
            Handler::Sync(crate::ops::replication::disassociate_cross_account_replica)
        }
        _ => Handler::Sync(not_yet_available),
    };
    Some((name, h))
}

fn not_yet_available(_ctx: &Ctx, _input: Input) -> Result<Value, ApiError> {
    Err(ApiError::invalid_request(
        "This operation is not available in this build of the emulator yet.",
    ))
}

/// Seam for replication: called by CreateSecret inside its write lock when `AddReplicaRegions`
/// is given, before the primary is inserted. It may create replicas in other regions of
/// `regions` and must fill `primary.replication` / `primary.primary_region` (replication.rs does).
pub fn replicate_on_create(
    ctx: &Ctx,
    regions: &mut AccountWrite<'_>,
    primary: &mut Secret,
    add_replica_regions: &Value,
    force_overwrite: bool,
) -> Result<(), ApiError> {
    crate::ops::replication::add_replicas(
        ctx,
        regions,
        primary,
        add_replica_regions,
        force_overwrite,
    )
}

/// The required `SecretId` member (1-2048 characters). An id that is not an ARN must be a valid
/// secret name: AWS refuses anything else on every operation, before looking the secret up
/// ([`Input::finish`] answers the refusal).
pub fn secret_id(inp: &mut Input) -> Result<String, ApiError> {
    let id = inp.required_string("SecretId", 1, 2048)?;
    check_secret_id(inp, &id);
    Ok(id)
}

/// Records AWS's refusal of a secret id that is neither an ARN nor a valid name (answered by
/// [`Input::finish`]).
pub fn check_secret_id(inp: &mut Input, id: &str) {
    if !id.is_empty() && !id.starts_with("arn:") && !crate::model::valid_name_chars(id) {
        inp.refuse(ApiError::invalid_name());
    }
}

/// The optional `ClientRequestToken` (32-64 characters).
pub fn request_token(inp: &mut Input) -> Result<Option<String>, ApiError> {
    inp.string("ClientRequestToken", 32, 64)
}

/// `SecretString` / `SecretBinary` (1-65,536 each); call [`one_value`] after `finish`.
pub fn read_value(inp: &mut Input) -> Result<(Option<String>, Option<Vec<u8>>), ApiError> {
    let s = inp.secret_string("SecretString", 1, 65_536)?;
    let b = inp.blob("SecretBinary", 1, 65_536)?;
    Ok((s, b))
}

/// At most one of SecretString / SecretBinary.
pub fn one_value(v: (Option<String>, Option<Vec<u8>>)) -> Result<Option<SecretData>, ApiError> {
    match v {
        (Some(_), Some(_)) => Err(ApiError::invalid_parameter(
            "You can't specify both a binary secret value and a string secret value in the same secret.",
        )),
        (Some(s), None) => Ok(Some(SecretData::String(s))),
        (None, Some(b)) => Ok(Some(SecretData::Binary(b))),
        (None, None) => Ok(None),
    }
}

/// What AWS answers a raw request without the ClientRequestToken it needs (SDKs fill it in).
const TOKEN_REQUIRED: &str =
    "You must provide a ClientRequestToken value. We recommend a UUID-type value.";

/// The error for a raw CreateSecret, PutSecretValue or UpdateSecret that carries a value but no
/// ClientRequestToken (an InvalidRequestException, as recorded from AWS).
pub fn token_required() -> ApiError {
    ApiError::invalid_request(TOKEN_REQUIRED)
}

/// The error for a raw RotateSecret without ClientRequestToken: the same message, but AWS
/// answers it as an InvalidParameterException.
pub fn rotation_token_required() -> ApiError {
    ApiError::invalid_parameter(TOKEN_REQUIRED)
}

/// Secret lookup for operations that refuse secrets scheduled for deletion.
pub fn live<'a>(ctx: &Ctx, region: &'a Region, id: &str) -> Result<&'a Secret, ApiError> {
    let name = ctx.find(region, id)?;
    let s = region.get(&name).ok_or_else(ApiError::secret_not_found)?;
    if s.deleted.is_some() {
        return Err(ApiError::marked_for_deletion());
    }
    Ok(s)
}

/// The secret `id` of `region` for a write: refused when it is scheduled for deletion, or when
/// it is a replica in this region (writes go to the primary's region).
pub fn writable<'a>(
    ctx: &Ctx,
    region: &'a mut RegionWrite<'_>,
    id: &str,
) -> Result<SecretMut<'a>, ApiError> {
    let name = live(ctx, region, id)?.name.clone();
    let s = region
        .secret_mut(&name)
        .ok_or_else(ApiError::secret_not_found)?;
    if s.is_replica_in(&ctx.region) {
        return Err(ApiError::replica_read_only());
    }
    Ok(s)
}

/// Checks tags to add: no `aws:` prefix, no duplicate keys, at most 50 after merging.
pub fn check_tags(existing: &[(String, String)], new: &[(String, String)]) -> Result<(), ApiError> {
    check_new_tags(new)?;
    check_tag_count(existing, new)
}

/// The refusal of more than [`MAX_TAGS`] tags on a secret.
pub fn too_many_tags() -> ApiError {
    ApiError::too_many_tags()
}

/// The checks of a request's tags alone (reserved `aws:` keys, duplicate keys, at most
/// [`MAX_TAGS`]): linear, and needing no lock.
pub fn check_new_tags(new: &[(String, String)]) -> Result<(), ApiError> {
    if new.len() > MAX_TAGS {
        return Err(too_many_tags());
    }
    let mut seen = std::collections::HashSet::with_capacity(new.len());
    for (k, _) in new {
        if k.to_ascii_lowercase().starts_with("aws:") {
            return Err(ApiError::invalid_parameter(format!(
                "Invalid tag key {k}: tag keys starting with 'aws:' are reserved for AWS use."
            )));
        }
        if !seen.insert(k.as_str()) {
            return Err(ApiError::invalid_parameter(format!(
                "Duplicate tag key {k} in the request."
            )));
        }
    }
    Ok(())
}

/// Whether a secret holding `existing` tags may take `new` ones (already checked by
/// [`check_new_tags`], so at most [`MAX_TAGS`] of them).
pub fn check_tag_count(
    existing: &[(String, String)],
    new: &[(String, String)],
) -> Result<(), ApiError> {
    let added = new
        .iter()
        .filter(|(k, _)| !existing.iter().any(|(e, _)| e == k))
        .count();
    if existing.len() + added > MAX_TAGS {
        return Err(too_many_tags());
    }
    Ok(())
}

/// `{ARN, Name}`.
pub fn arn_name(s: &Secret) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("ARN".into(), json!(s.arn));
    m.insert("Name".into(), json!(s.name));
    m
}

/// A timestamp as AWS sends it (epoch seconds, millisecond precision).
pub fn ts(t: f64) -> Value {
    json!(crate::clock::millis(t))
}
