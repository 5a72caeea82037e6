//! Operation dispatch: maps each `X-Amz-Target` operation name to its handler, plus helpers the
//! operations share (SecretId / token / value parsing, tag rules, response pieces).
//!
//! Operations owned by other modules and not yet plugged in answer an InvalidRequestException
//! naming the missing module: GetRandomPassword (password.rs); PutResourcePolicy,
//! GetResourcePolicy, DeleteResourcePolicy, ValidateResourcePolicy, ListResourcePolicies
//! (policy.rs); RotateSecret, CancelRotateSecret (rotation.rs); ReplicateSecretToRegions,
//! RemoveRegionsFromReplication, StopReplicationToReplica, AssociateCrossAccountReplica,
//! DisassociateCrossAccountReplica (replication.rs). To plug one in, replace its entry in
//! [`lookup`] with `Handler::Sync(module::function)` (or `Handler::Async`).

pub mod batch;
pub mod create;
pub mod delete;
pub mod describe;
pub mod list;
pub mod paging;
pub mod tags;
pub mod value;
pub mod versions;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::ctx::{Ctx, Region};
use crate::error::ApiError;
use crate::model::{Secret, SecretData, MAX_TAGS};
use crate::protocol::Input;
use crate::store::Tx;

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
/// `regions` (adding their records to `tx`) and must fill `primary.replication` /
/// `primary.primary_region`. Until replication.rs lands it refuses the request.
pub fn replicate_on_create(
    _ctx: &Ctx,
    _regions: &mut HashMap<String, Region>,
    _tx: &mut Tx,
    _primary: &mut Secret,
    _add_replica_regions: &Value,
    _force_overwrite: bool,
) -> Result<(), ApiError> {
    Err(ApiError::invalid_request(
        "AddReplicaRegions is not available in this build of the emulator yet.",
    ))
}

/// The required `SecretId` member (1-2048 characters).
pub fn secret_id(inp: &mut Input) -> Result<String, ApiError> {
    inp.required_string("SecretId", 1, 2048)
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

/// The error for a raw request that carries a value but no ClientRequestToken.
pub fn token_required() -> ApiError {
    ApiError::invalid_request(
        "You must provide a ClientRequestToken value. We recommend a UUID-type value.",
    )
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

/// Checks tags to add: no `aws:` prefix, no duplicate keys, at most 50 after merging.
pub fn check_tags(existing: &[(String, String)], new: &[(String, String)]) -> Result<(), ApiError> {
    for (i, (k, _)) in new.iter().enumerate() {
        if k.to_ascii_lowercase().starts_with("aws:") {
            return Err(ApiError::invalid_parameter(format!(
                "Invalid tag key {k}: tag keys starting with 'aws:' are reserved for AWS use."
            )));
        }
        if new[..i].iter().any(|(k2, _)| k2 == k) {
            return Err(ApiError::invalid_parameter(format!(
                "Duplicate tag key {k} in the request."
            )));
        }
    }
    let added = new
        .iter()
        .filter(|(k, _)| !existing.iter().any(|(e, _)| e == k))
        .count();
    if existing.len() + added > MAX_TAGS {
        return Err(ApiError::invalid_parameter(format!(
            "Number of tags exceeds the limit of {MAX_TAGS} tags per secret."
        )));
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

/// Persists a secret's record and all its versions (for new secrets).
pub fn persist_all(ctx: &Ctx, tx: &mut Tx, s: &Secret) {
    tx.put_secret(&ctx.account, &ctx.region, s);
    for v in &s.versions {
        tx.put_version(&ctx.account, &ctx.region, &s.name, v);
    }
}

/// A timestamp as AWS sends it (epoch seconds, millisecond precision).
pub fn ts(t: f64) -> Value {
    json!(crate::clock::millis(t))
}
