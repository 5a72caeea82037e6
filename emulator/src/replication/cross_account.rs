//! Cross-account replicas, end to end inside one emulator (it keeps every account it has seen):
//! CreateSecret's `CrossAccountPrimaryARN` (an empty replica, status Pending, with the managed
//! resource policy `cross-account-replication`), AssociateCrossAccountReplica (from the primary's
//! account: the replica gets the primary's versions and labels, both sides InSync), the
//! propagation of every later change of the primary's versions, DisassociateCrossAccountReplica
//! (the replica keeps its values, Detached) and StopReplicationToReplica on the replica (a
//! standalone secret; the primary's entry turns Detached).
//!
//! State lives in the secrets' `extra` members under their wire names: `CrossAccountPrimary` on a
//! replica, `CrossAccountReplicas` (at most one entry) on a primary. While a replica is InSync its
//! values are read from the primary's account, as a regional replica reads its primary's region;
//! when replication stops they are copied into the replica's account.

use serde_json::{json, Value};

use crate::ctx::{Accounts, Ctx};
use crate::error::ApiError;
use crate::kms;
use crate::model::Secret;
use serde::Serialize;

use crate::ops::{live, ArnName, ArnOnly};
use crate::protocol::shapes::{
    AssociateCrossAccountReplicaRequest, DisassociateCrossAccountReplicaRequest,
};
use crate::store::Tx;

/// AssociateCrossAccountReplica's answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AssociateCrossAccountReplicaResponse {
    #[serde(rename = "ARN")]
    arn: String,
    #[serde(rename = "CrossAccountReplicaARN")]
    cross_account_replica_arn: String,
    replication_status: &'static str,
}

/// DisassociateCrossAccountReplica's answer.
#[derive(Debug, Serialize)]
pub struct DisassociateCrossAccountReplicaResponse {
    #[serde(flatten)]
    secret: ArnName,
    #[serde(rename = "CrossAccountReplicaARN")]
    cross_account_replica_arn: String,
}

/// A replica's link to its primary (`extra` member, wire name).
const PRIMARY: &str = "CrossAccountPrimary";
/// A primary's list of cross-account replicas (`extra` member, wire name).
const REPLICAS: &str = "CrossAccountReplicas";
/// The resource policy Secrets Manager attaches to a new cross-account replica.
pub const MANAGED_POLICY: &str = "cross-account-replication";

const IN_SYNC: &str = "InSync";
const DETACHED: &str = "Detached";

/// The parts of a secret ARN: (partition, region, account, name with suffix).
fn parse_secret_arn(arn: &str) -> Option<(&str, &str, &str, &str)> {
    let parts: Vec<&str> = arn.splitn(7, ':').collect();
    (parts.len() == 7
        && parts[0] == "arn"
        && parts[2] == "secretsmanager"
        && parts[5] == "secret"
        && !parts[4].is_empty()
        && !parts[6].is_empty())
    .then(|| (parts[1], parts[3], parts[4], parts[6]))
}

/// The replica's link: (primary ARN, replication status).
fn link(s: &Secret) -> Option<(&str, &str)> {
    let p = s.extra.get(PRIMARY)?;
    Some((
        p.get("PrimarySecretARN")?.as_str()?,
        p.get("ReplicationStatus")
            .and_then(Value::as_str)
            .unwrap_or(""),
    ))
}

fn set_link_status(s: &mut Secret, status: &str) {
    if let Some(p) = s.extra.get_mut(PRIMARY) {
        p["ReplicationStatus"] = json!(status);
    }
}

/// The primary's replica entry (at most one).
fn entry(s: &Secret) -> Option<&Value> {
    s.extra.get(REPLICAS)?.as_array()?.first()
}

/// Whether `s` is a cross-account replica (until StopReplicationToReplica makes it standalone).
pub fn is_replica(s: &Secret) -> bool {
    s.extra.contains_key(PRIMARY)
}

/// The account holding the values of `s` when it is a cross-account replica in sync.
pub fn values_account(s: &Secret) -> Option<String> {
    let (arn, status) = link(s)?;
    (status == IN_SYNC).then(|| parse_secret_arn(arn).map(|(_, _, a, _)| a.to_string()))?
}

/// InvalidRequestException for a value change on a cross-account replica.
pub fn refuse_value_write(s: &Secret) -> Result<(), ApiError> {
    match link(s) {
        Some((arn, _)) => Err(ApiError::invalid_request(format!(
            "Operation not permitted on a cross-account replica secret: its values come from the primary secret {arn}. Call StopReplicationToReplica to make it a standalone secret."
        ))),
        None => Ok(()),
    }
}

/// DeleteSecret's check: each side must first stop replication from its own side.
pub fn check_deletable(s: &Secret) -> Result<(), ApiError> {
    if is_replica(s) {
        return Err(ApiError::invalid_request(format!(
            "You can't delete the cross-account replica secret {} before you call StopReplicationToReplica on it.",
            s.name
        )));
    }
    if let Some(e) = entry(s) {
        return Err(ApiError::invalid_request(format!(
            "You can't delete secret {} while it has the cross-account replica {}. Call DisassociateCrossAccountReplica first.",
            s.name,
            e["ReplicaSecretARN"].as_str().unwrap_or("")
        )));
    }
    Ok(())
}

/// CreateSecret with `CrossAccountPrimaryARN`: checks the request and makes `s` an empty replica
/// of that primary (status Pending) with the managed resource policy. `others` names the request
/// members the replica must not have.
pub fn make_replica(
    ctx: &Ctx,
    s: &mut Secret,
    primary_arn: &str,
    others: &[(&str, bool)],
) -> Result<(), ApiError> {
    if let Some((member, _)) = others.iter().find(|(_, given)| *given) {
        return Err(ApiError::invalid_parameter(format!(
            "You can't include {member} when you create a cross-account replica secret with CrossAccountPrimaryARN."
        )));
    }
    let Some((partition, region, account, _)) = parse_secret_arn(primary_arn) else {
        return Err(ApiError::invalid_parameter(format!(
            "CrossAccountPrimaryARN {primary_arn} is not a valid secret ARN."
        )));
    };
    if region != ctx.region || partition != crate::model::partition(&ctx.region) {
        return Err(ApiError::invalid_parameter(
            "The primary secret must be in the same Region and partition as the replica secret.",
        ));
    }
    if account == ctx.account {
        return Err(ApiError::invalid_parameter(
            "The primary secret of a cross-account replica must be in a different AWS account.",
        ));
    }
    match s.kms_key_id.as_deref() {
        Some(k) if !kms::is_default(k) => {}
        _ => {
            return Err(ApiError::invalid_parameter(
                "A cross-account replica secret must be encrypted with a customer managed KMS key: specify KmsKeyId (the AWS managed key aws/secretsmanager does not support cross-account access).",
            ))
        }
    }
    s.extra.insert(
        PRIMARY.into(),
        json!({"PrimarySecretARN": primary_arn, "ReplicationStatus": "Pending"}),
    );
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "CrossAccountReplication",
            "Effect": "Allow",
            "Principal": {"AWS": format!("arn:{partition}:iam::{account}:root")},
            "Action": "secretsmanager:AcceptCrossAccountReplication",
            "Resource": "*",
            "Condition": {"StringEquals": {"secretsmanager:PrimarySecretArn": primary_arn}}
        }]
    });
    s.policies.insert(MANAGED_POLICY.into(), policy.to_string());
    Ok(())
}

/// The replica secret `arn` in its account (live or not).
fn find<'a>(accounts: &'a mut Accounts, arn: &str) -> Option<&'a mut Secret> {
    let (_, region, account, _) = parse_secret_arn(arn)?;
    accounts
        .get_mut(account)?
        .get_mut(region)?
        .values_mut()
        .find(|s| s.arn == arn)
        .map(|b| &mut **b)
}

/// Makes `replica`'s versions and labels those of its primary (`versions`), writing what changed
/// into its account. Returns whether anything changed.
fn mirror(
    ctx: &Ctx,
    tx: &mut Tx,
    account: &str,
    replica: &mut Secret,
    versions: &[crate::model::Version],
) -> bool {
    let same = replica.versions.len() == versions.len()
        && replica
            .versions
            .iter()
            .zip(versions)
            .all(|(a, b)| a.same_record(b) && a.stages == b.stages);
    if same {
        return false;
    }
    for old in &replica.versions {
        if !versions.iter().any(|v| v.id == old.id) {
            tx.del_version(account, &ctx.region, old.rec);
        }
    }
    let mut copy = versions.to_vec();
    for v in &mut copy {
        // the replica's records are its account's own
        v.mark_stored_as(replica.version(&v.id));
        v.last_accessed = replica.version(&v.id).and_then(|o| o.last_accessed);
    }
    replica.versions = copy;
    replica.last_changed = ctx.now;
    for v in &replica.versions {
        tx.put_version(account, &ctx.region, &replica.name, v);
    }
    tx.put_secret(account, &ctx.region, replica);
    true
}

/// Copies the values of an in-sync `replica` from its primary's account into its own `account`
/// (when replication stops, so the replica keeps them whatever the primary does next).
fn copy_values(ctx: &Ctx, tx: &mut Tx, account: &str, replica: &Secret) -> Result<(), ApiError> {
    match values_account(replica) {
        Some(from) => super::copy_values(ctx, tx, replica, (&from, &ctx.region), account),
        None => Ok(()),
    }
}

/// Called after every successful write transaction: the primaries of the caller's region that
/// `tx` wrote and that have an in-sync cross-account replica pass their versions on to it.
pub fn propagate(ctx: &Ctx, accounts: &mut Accounts, tx: &mut Tx) {
    let Some(region) = accounts.get(&ctx.account).and_then(|a| a.get(&ctx.region)) else {
        return;
    };
    let targets: Vec<(String, String, Vec<crate::model::Version>)> = tx
        .touched(&ctx.region)
        .filter_map(|name| {
            let p = region.get(name)?;
            let e = entry(p)?;
            (e["ReplicationStatus"] == json!(IN_SYNC)).then(|| {
                (
                    p.arn.clone(),
                    e["ReplicaSecretARN"].as_str().unwrap_or("").to_string(),
                    p.versions.clone(),
                )
            })
        })
        .collect();
    for (primary_arn, replica_arn, versions) in targets {
        let Some((_, _, r_account, _)) = parse_secret_arn(&replica_arn) else {
            continue;
        };
        let r_account = r_account.to_string();
        let Some(rep) = find(accounts, &replica_arn) else {
            continue;
        };
        if link(rep) == Some((primary_arn.as_str(), IN_SYNC)) {
            mirror(ctx, tx, &r_account, rep, &versions);
        }
    }
}

/// AssociateCrossAccountReplica: links the primary to a replica secret created for it in another
/// account (same region) and starts replication. A failed association changes nothing.
pub fn associate_cross_account_replica(
    ctx: &Ctx,
    req: AssociateCrossAccountReplicaRequest<'_>,
) -> Result<AssociateCrossAccountReplicaResponse, ApiError> {
    let id = req.secret_id;
    let replica_arn = req.cross_account_replica_arn.to_string();
    let role = req.replication_role_arn;
    let Some((_, r_region, r_account, _)) = parse_secret_arn(&replica_arn) else {
        return Err(ApiError::invalid_parameter(format!(
            "{replica_arn} is not a valid secret ARN."
        )));
    };
    if r_region != ctx.region {
        return Err(ApiError::invalid_parameter(
            "The primary and replica secrets must be in the same Region and partition.",
        ));
    }
    if r_account == ctx.account {
        return Err(ApiError::invalid_parameter(
            "The replica secret must be in a different AWS account.",
        ));
    }
    let r_account = r_account.to_string();
    ctx.write_all(|accounts, tx| {
        let region = accounts
            .get(&ctx.account)
            .and_then(|a| a.get(&ctx.region))
            .ok_or_else(ApiError::secret_not_found)?;
        let p = live(ctx, region, id)?;
        if p.is_replica_in(&ctx.region) {
            return Err(ApiError::replica_read_only());
        }
        refuse_value_write(p)?;
        if entry(p).is_some_and(|e| e["ReplicaSecretARN"] != json!(replica_arn)) {
            return Err(ApiError::limit_exceeded(
                "A primary secret can have at most one cross-account replica.",
            ));
        }
        let (name, primary_arn, versions) = (p.name.clone(), p.arn.clone(), p.versions.clone());
        let rep = find(accounts, &replica_arn)
            .filter(|s| s.deleted.is_none())
            .ok_or_else(|| {
                ApiError::not_found(format!(
                    "Secrets Manager can't find the replica secret {replica_arn}."
                ))
            })?;
        match link(rep) {
            Some((arn, _)) if arn == primary_arn => {}
            _ => {
                return Err(ApiError::invalid_request(format!(
                    "The secret {replica_arn} was not created as a cross-account replica of {primary_arn} (CreateSecret with CrossAccountPrimaryARN)."
                )))
            }
        }
        set_link_status(rep, IN_SYNC);
        if !mirror(ctx, tx, &r_account, rep, &versions) {
            tx.put_secret(&r_account, &ctx.region, rep);
        }
        let mut e = json!({"ReplicaSecretARN": replica_arn, "ReplicationStatus": IN_SYNC});
        if let Some(r) = role {
            e["ReplicationRoleARN"] = json!(r);
        }
        let p = accounts
            .get_mut(&ctx.account)
            .and_then(|a| a.get_mut(&ctx.region))
            .and_then(|r| r.get_mut(&name))
            .ok_or_else(ApiError::secret_not_found)?;
        p.extra.insert(REPLICAS.into(), json!([e]));
        p.last_changed = ctx.now;
        tx.put_secret(&ctx.account, &ctx.region, p);
        Ok(AssociateCrossAccountReplicaResponse {
            arn: p.arn.clone(),
            cross_account_replica_arn: replica_arn.clone(),
            replication_status: IN_SYNC,
        })
    })
}

/// DisassociateCrossAccountReplica: stops replication from the primary's side. The replica keeps
/// its versions and values (copied into its account) with status Detached.
pub fn disassociate_cross_account_replica(
    ctx: &Ctx,
    req: DisassociateCrossAccountReplicaRequest<'_>,
) -> Result<DisassociateCrossAccountReplicaResponse, ApiError> {
    let id = req.secret_id;
    let replica_arn = req.cross_account_replica_arn.to_string();
    ctx.write_all(|accounts, tx| {
        let region = accounts
            .get_mut(&ctx.account)
            .and_then(|a| a.get_mut(&ctx.region))
            .ok_or_else(ApiError::secret_not_found)?;
        let name = live(ctx, region, id)?.name.clone();
        let p = region
            .get_mut(&name)
            .ok_or_else(ApiError::secret_not_found)?;
        if !entry(p).is_some_and(|e| e["ReplicaSecretARN"] == json!(replica_arn)) {
            return Err(ApiError::invalid_request(format!(
                "The secret {name} has no cross-account replica {replica_arn}."
            )));
        }
        p.extra.remove(REPLICAS);
        p.last_changed = ctx.now;
        tx.put_secret(&ctx.account, &ctx.region, p);
        let out = DisassociateCrossAccountReplicaResponse {
            secret: ArnName::of(p),
            cross_account_replica_arn: replica_arn.clone(),
        };
        let primary_arn = p.arn.clone();
        if let Some((_, _, r_account, _)) = parse_secret_arn(&replica_arn) {
            let r_account = r_account.to_string();
            if let Some(rep) = find(accounts, &replica_arn) {
                if link(rep).is_some_and(|(arn, _)| arn == primary_arn) {
                    copy_values(ctx, tx, &r_account, rep)?;
                    set_link_status(rep, DETACHED);
                    tx.put_secret(&r_account, &ctx.region, rep);
                }
            }
        }
        Ok(out)
    })
}

/// StopReplicationToReplica on a cross-account replica (in its own account): copies its values
/// in if it was in sync, removes its link and the managed policy, and marks the primary's entry
/// Detached.
pub fn stop_replica(
    ctx: &Ctx,
    accounts: &mut Accounts,
    tx: &mut Tx,
    name: &str,
) -> Result<ArnOnly, ApiError> {
    let rep = accounts
        .get_mut(&ctx.account)
        .and_then(|a| a.get_mut(&ctx.region))
        .and_then(|r| r.get_mut(name))
        .ok_or_else(ApiError::secret_not_found)?;
    let primary_arn = link(rep)
        .map(|(arn, _)| arn.to_string())
        .unwrap_or_default();
    copy_values(ctx, tx, &ctx.account, rep)?;
    rep.extra.remove(PRIMARY);
    rep.policies.remove(MANAGED_POLICY);
    rep.last_changed = ctx.now;
    tx.put_secret(&ctx.account, &ctx.region, rep);
    let out = ArnOnly {
        arn: rep.arn.clone(),
    };
    let replica_arn = rep.arn.clone();
    if let Some((_, _, p_account, _)) = parse_secret_arn(&primary_arn) {
        let p_account = p_account.to_string();
        if let Some(p) = find(accounts, &primary_arn) {
            if let Some(Value::Array(list)) = p.extra.get_mut(REPLICAS) {
                for e in list
                    .iter_mut()
                    .filter(|e| e["ReplicaSecretARN"] == json!(replica_arn))
                {
                    e["ReplicationStatus"] = json!(DETACHED);
                }
                tx.put_secret(&p_account, &ctx.region, p);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_arns() {
        assert_eq!(
            parse_secret_arn("arn:aws:secretsmanager:us-east-1:111:secret:x:y-AbCdEf"),
            Some(("aws", "us-east-1", "111", "x:y-AbCdEf"))
        );
        assert_eq!(
            parse_secret_arn("arn:aws:lambda:us-east-1:1:function:f"),
            None
        );
        assert_eq!(
            parse_secret_arn("arn:aws:secretsmanager:us-east-1::secret:x"),
            None
        );
    }
}
