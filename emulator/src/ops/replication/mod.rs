//! Replication: read-only replicas of a secret in other regions of the same emulator (AddReplicaRegions on
//! CreateSecret, ReplicateSecretToRegions, RemoveRegionsFromReplication, StopReplicationToReplica) and
//! cross-account replica association. Every later write on a primary reaches its replicas as part of
//! the write's transaction (`state`).
//!
//! A replica is a copy of the primary's record (same name and ARN suffix, its own region in the ARN,
//! `PrimaryRegion` set, its own KmsKeyId) with the primary's versions and labels; its values are read from the
//! primary's region, so a replica is always in sync. StopReplicationToReplica copies the values into the
//! replica's region and makes it a standalone secret.
//!
//! Cross-account replicas (CreateSecret's CrossAccountPrimaryARN, Associate/DisassociateCrossAccountReplica
//! and StopReplicationToReplica on such a replica) live in [`cross_account`]: the emulator keeps every
//! account it has seen (the account comes from the SigV4 access key), so replication between accounts
//! runs for real.

pub mod cross_account;

pub use cross_account::{associate_cross_account_replica, disassociate_cross_account_replica};

use serde::Serialize;
use serde_json::Value;

use crate::ctx::Ctx;
use crate::error::ApiError;
use crate::kms;
use crate::model::replica::{
    build_replica, is_our_replica, replicates_to, RegionStatus, FAILED, IN_SYNC,
};
use crate::model::{arn_prefix, Secret};
use crate::ops::{live, ArnOnly};
use crate::protocol::shapes::{
    RemoveRegionsFromReplicationRequest, ReplicateSecretToRegionsRequest,
    StopReplicationToReplicaRequest, REGION_TYPE,
};
use crate::state::{write_replica, AccountWrite, SecretMut};

/// ReplicateSecretToRegions' and RemoveRegionsFromReplication's answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReplicationResponse {
    #[serde(rename = "ARN")]
    arn: String,
    replication_status: Vec<RegionStatus>,
}

/// Checks a region name against the model's pattern `^([a-z]+-)+\d+$` (1–128 characters).
pub fn valid_region(r: &str) -> bool {
    if r.is_empty() || r.len() > 128 {
        return false;
    }
    let Some((head, digits)) = r.rsplit_once('-') else {
        return false;
    };
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && head
            .split('-')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
}

/// Where the values of `s` (seen from the caller's account and region) are stored: a regional
/// replica reads its primary's region, a cross-account replica in sync its primary's account.
pub fn value_home(ctx: &Ctx, s: &Secret) -> (String, String) {
    crate::model::replica::value_home(&ctx.account, &ctx.region, s)
}

/// Copies the values of `s`'s versions from the records of `from` (account, region) into its own:
/// a replica keeps them when replication stops.
pub(crate) fn copy_values(
    ctx: &Ctx,
    s: &mut SecretMut<'_>,
    from: (&str, &str),
) -> Result<(), ApiError> {
    let recs: Vec<u64> = s
        .versions
        .iter()
        .filter(|v| v.has_value())
        .map(|v| v.rec)
        .collect();
    for rec in recs {
        if let Some(data) = ctx.value_at(from.0, from.1, rec)? {
            s.set_value(rec, &data);
        }
    }
    Ok(())
}

/// Adds replicas of `primary` (not yet necessarily inserted in its region) for the `AddReplicaRegions`
/// list, filling `primary.replication` and `primary.primary_region`. Everything is validated first.
pub fn add_replicas(
    ctx: &Ctx,
    regions: &mut AccountWrite<'_>,
    primary: &mut Secret,
    list: &Value,
    force_overwrite: bool,
) -> Result<(), ApiError> {
    let items = list
        .as_array()
        .ok_or_else(|| ApiError::serialization("AddReplicaRegions must be a list"))?;
    if items.is_empty() {
        return Err(ApiError::validation(
            "1 validation error detected: Value '[]' at 'addReplicaRegions' failed to satisfy constraint: Member must have length greater than or equal to 1",
        ));
    }
    let mut wanted: Vec<(String, Option<String>)> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let region = item
            .get("Region")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if !valid_region(&region) {
            return Err(ApiError::validation(format!(
                "1 validation error detected: Value '{region}' at 'addReplicaRegions.{}.member.region' failed to satisfy constraint: Member must satisfy regular expression pattern: ^([a-z]+-)+\\d+$",
                i + 1
            )));
        }
        if region == ctx.region {
            return Err(ApiError::invalid_parameter("Invalid replica region."));
        }
        if wanted.iter().any(|(r, _)| *r == region) {
            return Err(ApiError::invalid_parameter(format!(
                "Duplicate replica region {region} in AddReplicaRegions."
            )));
        }
        if replicates_to(primary, &region) {
            return Err(ApiError::invalid_parameter(format!(
                "The secret is already replicated to {region}."
            )));
        }
        let key = item
            .get("KmsKeyId")
            .and_then(Value::as_str)
            .filter(|k| !k.is_empty())
            .map(str::to_string);
        if let Some(k) = &key {
            kms::check_key(&ctx.shared.config.kms_keys, &region, &ctx.account, k)?;
        }
        wanted.push((region, key));
    }
    for (region, key) in wanted {
        let clash = regions
            .get(&region)
            .and_then(|r| r.get(&primary.name))
            .map(|existing| {
                (
                    existing.clone(),
                    is_our_replica(&ctx.region, primary, existing, &region),
                )
            });
        let mut status = RegionStatus {
            kms_key_id: key.clone(),
            region: region.clone(),
            status: IN_SYNC.into(),
            status_message: None,
        };
        match clash {
            Some((existing, false)) if !force_overwrite => {
                status.status = FAILED.into();
                status.status_message = Some(format!(
                    "Replication failed: a secret named {} already exists in {region}. Use ForceOverwriteReplicaSecret to overwrite it.",
                    existing.name
                ));
                primary.replication.push(status);
                continue;
            }
            Some((existing, _)) => {
                regions.region(&region).remove(&existing.name);
            }
            None => {}
        }
        let replica = build_replica(primary, &ctx.region, &region, key);
        write_replica(regions, replica, &region);
        primary.replication.push(status);
    }
    primary.primary_region = Some(ctx.region.clone());
    Ok(())
}

/// The caller's secret `id`, cloned for a change to its replication; a replica refuses (read-only).
fn primary_to_change(
    ctx: &Ctx,
    regions: &mut AccountWrite<'_>,
    id: &str,
) -> Result<Secret, ApiError> {
    let region = regions.region(&ctx.region);
    let primary = live(ctx, &region, id)?.clone();
    if primary.is_replica_in(&ctx.region) {
        return Err(ApiError::replica_read_only());
    }
    Ok(primary)
}

/// Puts the changed primary (changed now) back in the caller's region; answers its ARN and
/// replication status.
fn save_primary(
    ctx: &Ctx,
    regions: &mut AccountWrite<'_>,
    mut primary: Secret,
) -> ReplicationResponse {
    primary.last_changed = ctx.now;
    let out = ReplicationResponse {
        arn: primary.arn.clone(),
        replication_status: primary.replication.clone(),
    };
    regions.region(&ctx.region).insert(primary);
    out
}

/// ReplicateSecretToRegions.
pub fn replicate_secret_to_regions(
    ctx: &Ctx,
    req: ReplicateSecretToRegionsRequest<'_>,
) -> Result<ReplicationResponse, ApiError> {
    let id = req.secret_id;
    let force = req.force_overwrite_replica_secret.unwrap_or(false);
    let add = Value::Array(req.add_replica_regions.to_vec());
    ctx.write_account(|regions| {
        let mut primary = primary_to_change(ctx, regions, id)?;
        add_replicas(ctx, regions, &mut primary, &add, force)?;
        Ok(save_primary(ctx, regions, primary))
    })
}

/// RemoveRegionsFromReplication: deletes the replicas in the given regions.
pub fn remove_regions_from_replication(
    ctx: &Ctx,
    req: RemoveRegionsFromReplicationRequest<'_>,
) -> Result<ReplicationResponse, ApiError> {
    let id = req.secret_id;
    let remove: Vec<String> = req
        .remove_replica_regions
        .iter()
        .map(|r| r.to_string())
        .collect();
    for r in &remove {
        if !valid_region(r) {
            let pattern = REGION_TYPE.pattern.unwrap_or_default();
            return Err(ApiError::validation(format!(
                "1 validation error detected: Value '{r}' at 'removeReplicaRegions' failed to satisfy constraint: Member must satisfy regular expression pattern: {pattern}"
            )));
        }
    }
    ctx.write_account(|regions| {
        let mut primary = primary_to_change(ctx, regions, id)?;
        for r in &remove {
            if !replicates_to(&primary, r) {
                return Err(ApiError::invalid_parameter(format!(
                    "The secret is not replicated to region {r}."
                )));
            }
        }
        for r in &remove {
            primary.replication.retain(|e| e.region != *r);
            let ours = regions
                .get(r)
                .and_then(|reg| reg.get(&primary.name))
                .is_some_and(|rep| is_our_replica(&ctx.region, &primary, rep, r));
            if ours {
                regions.region(r).remove(&primary.name);
            }
        }
        if primary.replication.is_empty() {
            primary.primary_region = None;
        }
        Ok(save_primary(ctx, regions, primary))
    })
}

/// StopReplicationToReplica (called in the replica's region): promotes the replica to a standalone secret.
pub fn stop_replication_to_replica(
    ctx: &Ctx,
    req: StopReplicationToReplicaRequest<'_>,
) -> Result<ArnOnly, ApiError> {
    let id = req.secret_id;
    ctx.write_all(|accounts| {
        let mut regions = accounts.account(&ctx.account);
        let (name, primary_region, cross) = {
            let region = regions.region(&ctx.region);
            let r = live(ctx, &region, id)?;
            (
                r.name.clone(),
                r.primary_region.clone().filter(|p| *p != ctx.region),
                cross_account::is_replica(r),
            )
        };
        let Some(primary_region) = primary_region else {
            if cross {
                return cross_account::stop_replica(ctx, accounts, &name);
            }
            return Err(ApiError::invalid_request(format!(
                "The secret {id} is not a replica secret."
            )));
        };
        let mut replica = regions
            .secret_mut(&ctx.region, &name)
            .ok_or_else(ApiError::secret_not_found)?;
        // Copy the values from the primary's region: the promoted secret stands alone.
        copy_values(ctx, &mut replica, (&ctx.account, &primary_region))?;
        replica.primary_region = None;
        replica.last_changed = ctx.now;
        let out = ArnOnly {
            arn: replica.arn.clone(),
        };
        let prefix = arn_prefix(&primary_region, &ctx.account);
        if let Some(mut primary) = regions.secret_mut(&primary_region, &name) {
            if primary.arn.starts_with(&prefix) {
                primary.replication.retain(|e| e.region != ctx.region);
                if primary.replication.is_empty() {
                    primary.primary_region = None;
                }
                primary.last_changed = ctx.now;
            }
        }
        Ok(out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_pattern() {
        assert!(
            valid_region("us-east-1")
                && valid_region("eu-central-2")
                && valid_region("us-gov-west-1")
        );
        assert!(
            !valid_region("")
                && !valid_region("us-east")
                && !valid_region("US-east-1")
                && !valid_region("-1")
        );
    }
}
