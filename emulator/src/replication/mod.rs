//! Replication: read-only replicas of a secret in other regions of the same emulator (AddReplicaRegions on
//! CreateSecret, ReplicateSecretToRegions, RemoveRegionsFromReplication, StopReplicationToReplica), the
//! propagation of every write on a primary to its replicas, and cross-account replica association.
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

use std::collections::HashMap;

use serde::Serialize;
use serde_json::{json, Value};

use crate::ctx::{Ctx, Region};
use crate::error::ApiError;
use crate::kms;
use crate::model::{arn_prefix, Secret};
use crate::ops::{live, ArnOnly};
use crate::protocol::shapes::{
    RemoveRegionsFromReplicationRequest, ReplicateSecretToRegionsRequest,
    StopReplicationToReplicaRequest, REGION_TYPE,
};
use crate::store::Tx;

/// ReplicateSecretToRegions' and RemoveRegionsFromReplication's answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReplicationResponse {
    #[serde(rename = "ARN")]
    arn: String,
    replication_status: Vec<Value>,
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

fn replica_arn(primary_arn: &str, primary_region: &str, region: &str) -> String {
    primary_arn.replacen(
        &format!(":secretsmanager:{primary_region}:"),
        &format!(":secretsmanager:{region}:"),
        1,
    )
}

/// Where the values of `s` (seen from the caller's account and region) are stored: a regional
/// replica reads its primary's region, a cross-account replica in sync its primary's account.
pub fn value_home(ctx: &Ctx, s: &Secret) -> (String, String) {
    if let Some(p) = s
        .primary_region
        .as_ref()
        .filter(|_| s.is_replica_in(&ctx.region))
    {
        return (ctx.account.clone(), p.clone());
    }
    match cross_account::values_account(s) {
        Some(account) => (account, ctx.region.clone()),
        None => (ctx.account.clone(), ctx.region.clone()),
    }
}

/// Copies the values of `s`'s versions from the records of `from` (account, region) into those of
/// `to` (an account, in the caller's region): a replica keeps them when replication stops.
pub(crate) fn copy_values(
    ctx: &Ctx,
    tx: &mut Tx,
    s: &Secret,
    from: (&str, &str),
    to: &str,
) -> Result<(), ApiError> {
    for v in s.versions.iter().filter(|v| v.has_value()) {
        if let Some(data) = ctx.value_at(from.0, from.1, v.rec)? {
            tx.put_value(to, &ctx.region, v.rec, &data);
        }
    }
    Ok(())
}

/// The replica record for `region`, built from the primary.
fn build_replica(ctx: &Ctx, primary: &Secret, region: &str, kms_key: Option<String>) -> Secret {
    let mut r = primary.clone();
    r.arn = replica_arn(&primary.arn, &ctx.region, region);
    r.primary_region = Some(ctx.region.clone());
    r.replication = Vec::new();
    r.kms_key_id = kms_key;
    r.deleted = None;
    r.purge_at = None;
    r
}

fn entry_region(e: &Value) -> Option<&str> {
    e.get("Region").and_then(Value::as_str)
}

fn is_our_replica(ctx: &Ctx, primary: &Secret, candidate: &Secret, region: &str) -> bool {
    candidate.primary_region.as_deref() == Some(ctx.region.as_str())
        && candidate.arn == replica_arn(&primary.arn, &ctx.region, region)
}

/// Writes the replica of `primary` into `region` (records only; values stay in the primary's region).
fn write_replica(
    ctx: &Ctx,
    regions: &mut HashMap<String, Region>,
    tx: &mut Tx,
    replica: Secret,
    region: &str,
) {
    let target = regions.entry(region.to_string()).or_default();
    let old = target.get(&replica.name);
    if let Some(old) = old {
        for v in old
            .versions
            .iter()
            .filter(|v| replica.version(&v.id).is_none())
        {
            tx.del_version(&ctx.account, region, v.rec);
        }
    }
    tx.put_secret(&ctx.account, region, &replica);
    for v in &replica.versions {
        // the replica's version records are its region's own
        v.mark_stored_as(old.and_then(|o| o.version(&v.id)));
        tx.put_version(&ctx.account, region, &replica.name, v);
    }
    target.insert(replica.name.clone(), Box::new(replica));
}

/// Adds replicas of `primary` (not yet necessarily inserted in its region) for the `AddReplicaRegions`
/// list, filling `primary.replication` and `primary.primary_region`. Everything is validated first.
pub fn add_replicas(
    ctx: &Ctx,
    regions: &mut HashMap<String, Region>,
    tx: &mut Tx,
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
        if primary
            .replication
            .iter()
            .any(|e| entry_region(e) == Some(region.as_str()))
        {
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
                    is_our_replica(ctx, primary, existing, &region),
                )
            });
        let mut status = json!({"Region": region, "Status": "InSync"});
        if let Some(k) = &key {
            status["KmsKeyId"] = json!(k);
        }
        match clash {
            Some((existing, false)) if !force_overwrite => {
                status["Status"] = json!("Failed");
                status["StatusMessage"] = json!(format!(
                    "Replication failed: a secret named {} already exists in {region}. Use ForceOverwriteReplicaSecret to overwrite it.",
                    existing.name
                ));
                primary.replication.push(status);
                continue;
            }
            Some((existing, _)) => {
                tx.del_secret(&ctx.account, &region, &existing);
                if let Some(r) = regions.get_mut(&region) {
                    r.remove(&existing.name);
                }
            }
            None => {}
        }
        let replica = build_replica(ctx, primary, &region, key);
        write_replica(ctx, regions, tx, replica, &region);
        primary.replication.push(status);
    }
    primary.primary_region = Some(ctx.region.clone());
    Ok(())
}

/// A replica deleted in its own region (DeleteSecret on a replica) leaves its primary's ReplicationStatus.
fn forget_removed_replicas(ctx: &Ctx, regions: &mut HashMap<String, Region>, tx: &mut Tx) {
    let removed: Vec<String> = tx.removed(&ctx.region).map(str::to_string).collect();
    for name in removed {
        if regions
            .get(&ctx.region)
            .is_some_and(|r| r.contains_key(&name))
        {
            continue;
        }
        for (other, secrets) in regions.iter_mut().filter(|(r, _)| **r != ctx.region) {
            let Some(p) = secrets.get_mut(&name) else {
                continue;
            };
            let listed = p
                .replication
                .iter()
                .any(|e| entry_region(e) == Some(ctx.region.as_str()));
            if p.primary_region.as_deref() == Some(other.as_str()) && listed {
                p.replication
                    .retain(|e| entry_region(e) != Some(ctx.region.as_str()));
                if p.replication.is_empty() {
                    p.primary_region = None;
                }
                p.last_changed = ctx.now;
                tx.put_secret(&ctx.account, other, p);
            }
        }
    }
}

/// Called after every successful [`Ctx::write`]: mirrors the secrets of the caller's region that were
/// written in `tx` and have replicas into their replica regions.
pub fn propagate(ctx: &Ctx, regions: &mut HashMap<String, Region>, tx: &mut Tx) {
    forget_removed_replicas(ctx, regions, tx);
    let names: Vec<String> = tx.touched(&ctx.region).map(str::to_string).collect();
    for name in names {
        let Some(primary) = regions.get(&ctx.region).and_then(|r| r.get(&name)) else {
            continue;
        };
        if primary.replication.is_empty() || primary.is_replica_in(&ctx.region) {
            continue;
        }
        let primary = primary.clone();
        for entry in &primary.replication {
            let (Some(region), Some("InSync")) = (
                entry_region(entry),
                entry.get("Status").and_then(Value::as_str),
            ) else {
                continue;
            };
            let existing = regions.get(region).and_then(|r| r.get(&name));
            if !existing.is_some_and(|e| is_our_replica(ctx, &primary, e, region)) {
                continue;
            }
            let key = existing.and_then(|e| e.kms_key_id.clone());
            let replica = build_replica(ctx, &primary, region, key);
            write_replica(ctx, regions, tx, replica, region);
        }
    }
}

/// The caller's secret `id`, cloned for a change to its replication; a replica refuses (read-only).
fn primary_to_change(
    ctx: &Ctx,
    regions: &mut HashMap<String, Region>,
    id: &str,
) -> Result<Secret, ApiError> {
    let region = regions.entry(ctx.region.clone()).or_default();
    let primary = live(ctx, region, id)?.clone();
    if primary.is_replica_in(&ctx.region) {
        return Err(ApiError::replica_read_only());
    }
    Ok(primary)
}

/// Records the changed primary (changed now) in `tx` and in the caller's region; answers its ARN and
/// replication status.
fn save_primary(
    ctx: &Ctx,
    regions: &mut HashMap<String, Region>,
    tx: &mut Tx,
    mut primary: Secret,
) -> ReplicationResponse {
    primary.last_changed = ctx.now;
    tx.put_secret(&ctx.account, &ctx.region, &primary);
    let out = ReplicationResponse {
        arn: primary.arn.clone(),
        replication_status: primary.replication.clone(),
    };
    regions
        .entry(ctx.region.clone())
        .or_default()
        .insert(primary.name.clone(), Box::new(primary));
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
    ctx.write_account(|regions, tx| {
        let mut primary = primary_to_change(ctx, regions, id)?;
        add_replicas(ctx, regions, tx, &mut primary, &add, force)?;
        Ok(save_primary(ctx, regions, tx, primary))
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
    ctx.write_account(|regions, tx| {
        let mut primary = primary_to_change(ctx, regions, id)?;
        for r in &remove {
            if !primary
                .replication
                .iter()
                .any(|e| entry_region(e) == Some(r.as_str()))
            {
                return Err(ApiError::invalid_parameter(format!(
                    "The secret is not replicated to region {r}."
                )));
            }
        }
        for r in &remove {
            primary
                .replication
                .retain(|e| entry_region(e) != Some(r.as_str()));
            let ours = regions
                .get(r)
                .and_then(|reg| reg.get(&primary.name))
                .filter(|rep| is_our_replica(ctx, &primary, rep, r))
                .cloned();
            if let Some(rep) = ours {
                tx.del_secret(&ctx.account, r, &rep);
                if let Some(reg) = regions.get_mut(r) {
                    reg.remove(&rep.name);
                }
            }
        }
        if primary.replication.is_empty() {
            primary.primary_region = None;
        }
        Ok(save_primary(ctx, regions, tx, primary))
    })
}

/// StopReplicationToReplica (called in the replica's region): promotes the replica to a standalone secret.
pub fn stop_replication_to_replica(
    ctx: &Ctx,
    req: StopReplicationToReplicaRequest<'_>,
) -> Result<ArnOnly, ApiError> {
    let id = req.secret_id;
    ctx.write_all(|accounts, tx| {
        let regions = accounts.entry(ctx.account.clone()).or_default();
        let region = regions.entry(ctx.region.clone()).or_default();
        let mut replica = live(ctx, region, id)?.clone();
        let Some(primary_region) = replica.primary_region.clone().filter(|p| *p != ctx.region)
        else {
            if cross_account::is_replica(&replica) {
                return cross_account::stop_replica(ctx, accounts, tx, &replica.name);
            }
            return Err(ApiError::invalid_request(format!(
                "The secret {id} is not a replica secret."
            )));
        };
        // Copy the values from the primary's region: the promoted secret stands alone.
        copy_values(
            ctx,
            tx,
            &replica,
            (&ctx.account, &primary_region),
            &ctx.account,
        )?;
        replica.primary_region = None;
        replica.last_changed = ctx.now;
        tx.put_secret(&ctx.account, &ctx.region, &replica);
        let prefix = arn_prefix(&primary_region, &ctx.account);
        if let Some(primary) = regions
            .get_mut(&primary_region)
            .and_then(|r| r.get_mut(&replica.name))
        {
            if primary.arn.starts_with(&prefix) {
                primary
                    .replication
                    .retain(|e| entry_region(e) != Some(ctx.region.as_str()));
                if primary.replication.is_empty() {
                    primary.primary_region = None;
                }
                primary.last_changed = ctx.now;
                tx.put_secret(&ctx.account, &primary_region, primary);
            }
        }
        let out = ArnOnly {
            arn: replica.arn.clone(),
        };
        regions
            .entry(ctx.region.clone())
            .or_default()
            .insert(replica.name.clone(), Box::new(replica));
        Ok(out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_pattern_and_arns() {
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
        assert_eq!(
            replica_arn(
                "arn:aws:secretsmanager:us-east-1:1:secret:a-AbCdEf",
                "us-east-1",
                "eu-west-1"
            ),
            "arn:aws:secretsmanager:eu-west-1:1:secret:a-AbCdEf"
        );
    }
}
