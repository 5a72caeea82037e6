//! Cross-account replicas, end to end inside one emulator (it keeps every account it has seen):
//! CreateSecret's `CrossAccountPrimaryARN` (an empty replica, status Pending, with the managed
//! resource policy `cross-account-replication`), AssociateCrossAccountReplica (from the primary's
//! account: the replica gets the primary's versions and labels, both sides InSync),
//! DisassociateCrossAccountReplica (the replica keeps its values, Detached) and
//! StopReplicationToReplica on the replica (a standalone secret; the primary's entry turns
//! Detached). Later changes of the primary's versions reach the replica in the same transaction
//! (`state`).
//!
//! The link lives in the secrets' cross-account links (`model::replica`). While a replica is InSync its
//! values are read from the primary's account, as a regional replica reads its primary's region;
//! when replication stops they are copied into the replica's account.

use serde::Serialize;

use crate::ctx::Ctx;
use crate::error::ApiError;
use crate::kms;
use crate::model::replica::{
    change_links, entry, link, parse_secret_arn, set_link_status, PrimaryLink, ReplicaLink,
    DETACHED, IN_SYNC,
};
pub use crate::model::replica::{is_replica, values_account};
use crate::model::Secret;

use crate::ops::{live, ArnName, ArnOnly};
use crate::protocol::shapes::{
    AssociateCrossAccountReplicaRequest, DisassociateCrossAccountReplicaRequest,
};
use crate::state::{mirror, secret_by_arn, SecretMut, Writer};

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

/// The resource policy Secrets Manager attaches to a new cross-account replica.
pub const MANAGED_POLICY: &str = "cross-account-replication";
/// A new cross-account replica's status until its primary associates it.
const PENDING: &str = "Pending";

/// The managed policy's document: the primary's account may replicate `primary_arn` into it.
/// Members are in the order IAM documents write them (Version first; Sid, Effect, Principal,
/// Action, Resource, Condition).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ManagedPolicy<'a> {
    version: &'static str,
    statement: [PolicyStatement<'a>; 1],
}

/// The managed policy's one statement.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct PolicyStatement<'a> {
    sid: &'static str,
    effect: &'static str,
    principal: PolicyPrincipal,
    action: &'static str,
    resource: &'static str,
    condition: PolicyCondition<'a>,
}

/// `{"StringEquals": {"secretsmanager:PrimarySecretArn": ...}}`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct PolicyCondition<'a> {
    string_equals: PrimaryArnCondition<'a>,
}

/// The condition key naming the primary.
#[derive(Serialize)]
struct PrimaryArnCondition<'a> {
    #[serde(rename = "secretsmanager:PrimarySecretArn")]
    primary_secret_arn: &'a str,
}

/// `{"AWS": <the primary account's root>}`.
#[derive(Serialize)]
struct PolicyPrincipal {
    #[serde(rename = "AWS")]
    aws: String,
}

/// The text of the managed resource policy of a replica of `primary_arn` (in `account`).
fn managed_policy(partition: &str, account: &str, primary_arn: &str) -> String {
    let doc = ManagedPolicy {
        statement: [PolicyStatement {
            action: "secretsmanager:AcceptCrossAccountReplication",
            condition: PolicyCondition {
                string_equals: PrimaryArnCondition {
                    primary_secret_arn: primary_arn,
                },
            },
            effect: "Allow",
            principal: PolicyPrincipal {
                aws: format!("arn:{partition}:iam::{account}:root"),
            },
            resource: "*",
            sid: "CrossAccountReplication",
        }],
        version: "2012-10-17",
    };
    serde_json::to_string(&doc).unwrap_or_default()
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
            s.name, e.replica_secret_arn
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
    change_links(s, |links| {
        links.primary = Some(PrimaryLink {
            primary_secret_arn: primary_arn.to_string(),
            replication_status: PENDING.into(),
        })
    });
    s.policies.insert(
        MANAGED_POLICY.into(),
        managed_policy(partition, account, primary_arn),
    );
    Ok(())
}

/// Copies the values of an in-sync `replica` from its primary's account into its own (when
/// replication stops, so the replica keeps them whatever the primary does next).
fn copy_values(ctx: &Ctx, replica: &mut SecretMut<'_>) -> Result<(), ApiError> {
    match values_account(replica) {
        Some(from) => super::copy_values(ctx, replica, (&from, &ctx.region)),
        None => Ok(()),
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
    ctx.write_all(|accounts| {
        let region = accounts
            .get(&ctx.account)
            .and_then(|a| a.get(&ctx.region))
            .ok_or_else(ApiError::secret_not_found)?;
        let p = live(ctx, region, id)?;
        if p.is_replica_in(&ctx.region) {
            return Err(ApiError::replica_read_only());
        }
        refuse_value_write(p)?;
        if entry(p).is_some_and(|e| e.replica_secret_arn != replica_arn) {
            return Err(ApiError::limit_exceeded(
                "A primary secret can have at most one cross-account replica.",
            ));
        }
        let (name, primary_arn, versions) = (p.name.clone(), p.arn.clone(), p.versions.clone());
        let mut rep = secret_by_arn(accounts, &replica_arn)
            .filter(|s| s.deleted.is_none())
            .ok_or_else(|| {
                ApiError::not_found(format!(
                    "Secrets Manager can't find the replica secret {replica_arn}."
                ))
            })?;
        match link(&rep) {
            Some((arn, _)) if arn == primary_arn => {}
            _ => {
                return Err(ApiError::invalid_request(format!(
                    "The secret {replica_arn} was not created as a cross-account replica of {primary_arn} (CreateSecret with CrossAccountPrimaryARN)."
                )))
            }
        }
        set_link_status(&mut rep, IN_SYNC);
        mirror(&mut rep, &versions, ctx.now);
        let e = ReplicaLink {
            replica_secret_arn: replica_arn.clone(),
            replication_role_arn: role.map(str::to_string),
            replication_status: IN_SYNC.into(),
        };
        let mut p = accounts
            .secret_mut(&ctx.account, &ctx.region, &name)
            .ok_or_else(ApiError::secret_not_found)?;
        change_links(&mut p, |links| links.replicas = vec![e]);
        p.last_changed = ctx.now;
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
    ctx.write_all(|accounts| {
        let mut region = accounts.region(&ctx.account, &ctx.region);
        let name = live(ctx, &region, id)?.name.clone();
        let mut p = region
            .secret_mut(&name)
            .ok_or_else(ApiError::secret_not_found)?;
        if entry(&p).is_none_or(|e| e.replica_secret_arn != replica_arn) {
            return Err(ApiError::invalid_request(format!(
                "The secret {name} has no cross-account replica {replica_arn}."
            )));
        }
        change_links(&mut p, |links| links.replicas.clear());
        p.last_changed = ctx.now;
        let out = DisassociateCrossAccountReplicaResponse {
            secret: ArnName::of(&p),
            cross_account_replica_arn: replica_arn.clone(),
        };
        let primary_arn = p.arn.clone();
        if let Some(mut rep) = secret_by_arn(accounts, &replica_arn) {
            if link(&rep).is_some_and(|(arn, _)| arn == primary_arn) {
                copy_values(ctx, &mut rep)?;
                set_link_status(&mut rep, DETACHED);
            }
        }
        Ok(out)
    })
}

/// StopReplicationToReplica on a cross-account replica (in its own account): copies its values
/// in if it was in sync, removes its link and the managed policy, and marks the primary's entry
/// Detached.
pub fn stop_replica(ctx: &Ctx, accounts: &mut Writer<'_>, name: &str) -> Result<ArnOnly, ApiError> {
    let mut rep = accounts
        .secret_mut(&ctx.account, &ctx.region, name)
        .ok_or_else(ApiError::secret_not_found)?;
    let primary_arn = link(&rep)
        .map(|(arn, _)| arn.to_string())
        .unwrap_or_default();
    copy_values(ctx, &mut rep)?;
    change_links(&mut rep, |links| links.primary = None);
    rep.policies.remove(MANAGED_POLICY);
    rep.last_changed = ctx.now;
    let out = ArnOnly {
        arn: rep.arn.clone(),
    };
    let replica_arn = rep.arn.clone();
    if let Some(mut p) = secret_by_arn(accounts, &primary_arn) {
        if entry(&p).is_some() {
            change_links(&mut p, |links| {
                for e in links
                    .replicas
                    .iter_mut()
                    .filter(|e| e.replica_secret_arn == replica_arn)
                {
                    e.replication_status = DETACHED.into();
                }
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn managed_policy_text() {
        let arn = "arn:aws:secretsmanager:us-east-1:111:secret:p-AbCdEf";
        let expected = json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Sid": "CrossAccountReplication",
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::111:root"},
                "Action": "secretsmanager:AcceptCrossAccountReplication",
                "Resource": "*",
                "Condition": {"StringEquals": {"secretsmanager:PrimarySecretArn": arn}}
            }]
        });
        let text = managed_policy("aws", "111", arn);
        // the same document, and its members in the order written above (whatever order a
        // `serde_json::Map` keeps in this build)
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&text).ok(),
            Some(expected)
        );
        let at = |key: &str| text.find(key).expect(key);
        assert!(at("\"Version\"") < at("\"Statement\""), "{text}");
        assert!(
            at("\"Sid\"") < at("\"Effect\"") && at("\"Effect\"") < at("\"Principal\""),
            "{text}"
        );
        assert!(
            at("\"Action\"") < at("\"Resource\"") && at("\"Resource\"") < at("\"Condition\""),
            "{text}"
        );
    }
}
