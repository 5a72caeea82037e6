//! The operations: the one table of operations (each `X-Amz-Target` name and its handler), the
//! helpers the operations share (value and tag rules, lookups, answer pieces), and the operation
//! modules: GetRandomPassword (password.rs); the resource-policy operations (`policy`);
//! RotateSecret (async: it may call a rotation endpoint), CancelRotateSecret and scheduled
//! rotations (`rotation`); the replication operations and CreateSecret's AddReplicaRegions
//! (`replication`); and the purge sweep (`purge`).

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

use serde::{Serialize, Serializer};
use serde_json::Value;

use crate::ctx::{Ctx, Region};
use crate::error::ApiError;
use crate::model::{Secret, SecretData, MAX_TAGS};
use crate::protocol::{Input, Request};
use crate::state::{AccountWrite, RegionWrite, SecretMut};

/// An operation's answer: its JSON body.
pub type Reply = Vec<u8>;
/// A synchronous operation, from the request's members to the answer's body.
pub type SyncOp = fn(&Ctx, Input) -> Result<Reply, ApiError>;
/// Future returned by an asynchronous operation.
pub type OpFuture = Pin<Box<dyn Future<Output = Result<Reply, ApiError>> + Send + 'static>>;
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

/// Serializes an operation's answer.
pub fn reply<T: Serialize>(out: &T) -> Result<Reply, ApiError> {
    serde_json::to_vec(out).map_err(|_| ApiError::internal("The answer could not be serialized."))
}

/// The operation table: each operation's name and how it runs. `typed` operations take their
/// generated request struct and return a serializable answer; `spawned` ones read their request
/// themselves and run as their own task.
macro_rules! operations {
    ($($name:ident: $kind:ident $f:path;)*) => {
        /// Every operation of the model, in the table's order (metrics label them in it).
        pub const OPERATIONS: [&str; <[&str]>::len(&[$(stringify!($name)),*])] =
            [$(stringify!($name)),*];

        /// The handler of an operation name (case as in the model), with the name as a static string.
        pub fn lookup(op: &str) -> Option<(&'static str, Handler)> {
            match op {
                $(stringify!($name) => Some((stringify!($name), operations!(@handler $kind $f))),)*
                _ => None,
            }
        }
    };
    (@handler typed $f:path) => {
        Handler::Sync(|ctx, inp| reply(&$f(ctx, Request::read(&inp)?)?))
    };
    (@handler spawned $f:path) => {
        Handler::Async($f)
    };
}

operations! {
    AssociateCrossAccountReplica: typed replication::cross_account::associate_cross_account_replica;
    BatchGetSecretValue: typed batch::batch_get_secret_value;
    CancelRotateSecret: typed rotation::cancel_rotate_secret;
    CreateSecret: typed create::create_secret;
    DeleteResourcePolicy: typed policy::delete_resource_policy;
    DeleteSecret: typed delete::delete_secret;
    DescribeSecret: typed describe::describe_secret;
    DisassociateCrossAccountReplica: typed replication::cross_account::disassociate_cross_account_replica;
    GetRandomPassword: typed crate::password::get_random_password;
    GetResourcePolicy: typed policy::get_resource_policy;
    GetSecretValue: typed value::get_secret_value;
    ListResourcePolicies: typed policy::list_resource_policies;
    ListSecretVersionIds: typed versions::list_secret_version_ids;
    ListSecrets: typed list::list_secrets;
    PutResourcePolicy: typed policy::put_resource_policy;
    PutSecretValue: typed value::put_secret_value;
    RemoveRegionsFromReplication: typed replication::remove_regions_from_replication;
    ReplicateSecretToRegions: typed replication::replicate_secret_to_regions;
    RestoreSecret: typed delete::restore_secret;
    RotateSecret: spawned rotation::rotate_secret;
    StopReplicationToReplica: typed replication::stop_replication_to_replica;
    TagResource: typed tags::tag_resource;
    UntagResource: typed tags::untag_resource;
    UpdateSecret: typed value::update_secret;
    UpdateSecretVersionStage: typed versions::update_secret_version_stage;
    ValidateResourcePolicy: typed policy::validate_resource_policy;
}

/// A timestamp as AWS sends it: epoch seconds, millisecond precision.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timestamp(pub f64);

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(crate::clock::millis(self.0))
    }
}

/// An answer of `{ARN, Name}`.
#[derive(Debug, Serialize)]
pub struct ArnName {
    /// The secret's ARN.
    #[serde(rename = "ARN")]
    pub arn: String,
    /// The secret's name.
    #[serde(rename = "Name")]
    pub name: String,
}

impl ArnName {
    /// `{ARN, Name}` of `s`.
    pub fn of(s: &Secret) -> ArnName {
        ArnName {
            arn: s.arn.clone(),
            name: s.name.clone(),
        }
    }
}

/// An answer of `{ARN}` (StopReplicationToReplica's).
#[derive(Debug, Serialize)]
pub struct ArnOnly {
    /// The secret's ARN.
    #[serde(rename = "ARN")]
    pub arn: String,
}

/// An answer with no members (`{}`).
#[derive(Debug, Serialize)]
pub struct Empty {}

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

/// At most one of SecretString / SecretBinary.
pub fn one_value(s: Option<&str>, b: Option<Vec<u8>>) -> Result<Option<SecretData>, ApiError> {
    match (s, b) {
        (Some(_), Some(_)) => Err(ApiError::invalid_parameter(
            "You can't specify both a binary secret value and a string secret value in the same secret.",
        )),
        (Some(s), None) => Ok(Some(SecretData::String(s.to_string()))),
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

/// A request's tags as the model keeps them.
pub fn owned_tags(tags: Option<Vec<(&str, &str)>>) -> Vec<(String, String)> {
    tags.unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_holds_every_operation_of_the_model() {
        assert_eq!(OPERATIONS, crate::protocol::shapes::OPERATION_NAMES);
        for op in OPERATIONS {
            assert!(lookup(op).is_some_and(|(name, _)| name == op), "{op}");
        }
        assert!(lookup("GetSecretValueX").is_none());
    }
}
