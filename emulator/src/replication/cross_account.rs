//! Cross-account replicas: AssociateCrossAccountReplica and DisassociateCrossAccountReplica. The emulator
//! keeps every account it has seen, so the replica secret (in another account, same region) is marked with
//! `CrossAccountPrimary` when the emulator holds it; values are not copied across accounts.

use serde_json::{json, Value};

use crate::ctx::Ctx;
use crate::error::ApiError;
use crate::ops::{arn_name, live, secret_id};
use crate::protocol::Input;
use crate::store::Tx;

/// The parts of a secret ARN: (region, account, name with suffix).
fn parse_secret_arn(arn: &str) -> Option<(String, String, String)> {
    let parts: Vec<&str> = arn.splitn(7, ':').collect();
    (parts.len() == 7 && parts[0] == "arn" && parts[2] == "secretsmanager" && parts[5] == "secret")
        .then(|| {
            (
                parts[3].to_string(),
                parts[4].to_string(),
                parts[6].to_string(),
            )
        })
}

/// AssociateCrossAccountReplica: links the primary to a replica secret in another account (same region).
pub fn associate_cross_account_replica(ctx: &Ctx, mut inp: Input) -> Result<Value, ApiError> {
    let id = secret_id(&mut inp)?;
    let replica_arn = inp.required_string("CrossAccountReplicaARN", 20, 2048)?;
    let _restriction = inp.enum_string("ReplicaRestriction", &["SameOrg", "NoRestriction"])?;
    let role = inp.string("ReplicationRoleARN", 20, 2048)?;
    inp.finish()?;
    let (r_region, r_account, r_name_suffix) = parse_secret_arn(&replica_arn).ok_or_else(|| {
        ApiError::invalid_parameter(format!("{replica_arn} is not a valid secret ARN."))
    })?;
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
    let primary_arn = ctx.read(|region| -> Result<String, ApiError> {
        let region = region.ok_or_else(ApiError::secret_not_found)?;
        let s = live(ctx, region, &id)?;
        if s.is_replica_in(&ctx.region) {
            return Err(ApiError::replica_read_only());
        }
        let existing = s
            .extra
            .get("CrossAccountReplicas")
            .and_then(Value::as_array);
        if existing.is_some_and(|l| {
            l.iter()
                .any(|e| e["ReplicaSecretARN"] != json!(replica_arn))
        }) {
            return Err(ApiError::limit_exceeded(
                "A primary secret can have at most one cross-account replica.",
            ));
        }
        Ok(s.arn.clone())
    })?;
    // Mark the replica in its account when the emulator holds it.
    let found = {
        let mut g = ctx
            .shared
            .state
            .accounts
            .write()
            .unwrap_or_else(|e| e.into_inner());
        let rep = g
            .get_mut(&r_account)
            .and_then(|a| a.get_mut(&r_region))
            .and_then(|reg| {
                reg.values_mut()
                    .find(|s| s.arn == replica_arn && s.deleted.is_none())
            });
        match rep {
            Some(rep) => {
                rep.extra.insert(
                    "CrossAccountPrimary".into(),
                    json!({"PrimarySecretARN": primary_arn, "ReplicationStatus": "InSync"}),
                );
                let mut tx = Tx::default();
                tx.put_secret(&r_account, &r_region, rep);
                ctx.commit_lazy(tx);
                true
            }
            None => false,
        }
    };
    let _ = r_name_suffix;
    let mut entry = json!({"ReplicaSecretARN": replica_arn, "ReplicationStatus": if found { "InSync" } else { "Failed" }});
    if let Some(r) = &role {
        entry["ReplicationRoleARN"] = json!(r);
    }
    if !found {
        entry["StatusMessage"] = json!(format!(
            "The replica secret {replica_arn} does not exist in account {r_account} of this emulator."
        ));
    }
    let status = entry["ReplicationStatus"].clone();
    ctx.write(|region, tx| {
        let name = live(ctx, region, &id)?.name.clone();
        let s = region.get_mut(&name).ok_or_else(ApiError::secret_not_found)?;
        s.extra.insert("CrossAccountReplicas".into(), json!([entry]));
        s.last_changed = ctx.now;
        tx.put_secret(&ctx.account, &ctx.region, s);
        Ok(json!({"ARN": s.arn, "CrossAccountReplicaARN": replica_arn, "ReplicationStatus": status}))
    })
}

/// DisassociateCrossAccountReplica: stops replication; the replica stays, with status Detached.
pub fn disassociate_cross_account_replica(ctx: &Ctx, mut inp: Input) -> Result<Value, ApiError> {
    let id = secret_id(&mut inp)?;
    let replica_arn = inp.required_string("CrossAccountReplicaARN", 20, 2048)?;
    inp.finish()?;
    let out = ctx.write(|region, tx| {
        let name = live(ctx, region, &id)?.name.clone();
        let s = region
            .get_mut(&name)
            .ok_or_else(ApiError::secret_not_found)?;
        let linked = s
            .extra
            .get("CrossAccountReplicas")
            .and_then(Value::as_array)
            .is_some_and(|l| {
                l.iter()
                    .any(|e| e["ReplicaSecretARN"] == json!(replica_arn))
            });
        if !linked {
            return Err(ApiError::invalid_request(format!(
                "The secret {} has no cross-account replica {replica_arn}.",
                s.name
            )));
        }
        s.extra.remove("CrossAccountReplicas");
        s.last_changed = ctx.now;
        tx.put_secret(&ctx.account, &ctx.region, s);
        let mut out = arn_name(s);
        out.insert("CrossAccountReplicaARN".into(), json!(replica_arn));
        Ok(Value::Object(out))
    })?;
    if let Some((r_region, r_account, _)) = parse_secret_arn(&replica_arn) {
        let mut g = ctx
            .shared
            .state
            .accounts
            .write()
            .unwrap_or_else(|e| e.into_inner());
        let rep = g
            .get_mut(&r_account)
            .and_then(|a| a.get_mut(&r_region))
            .and_then(|reg| reg.values_mut().find(|s| s.arn == replica_arn));
        if let Some(rep) = rep {
            if let Some(cap) = rep.extra.get_mut("CrossAccountPrimary") {
                cap["ReplicationStatus"] = json!("Detached");
                let mut tx = Tx::default();
                tx.put_secret(&r_account, &r_region, rep);
                ctx.commit_lazy(tx);
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
            Some(("us-east-1".into(), "111".into(), "x:y-AbCdEf".into()))
        );
        assert_eq!(
            parse_secret_arn("arn:aws:lambda:us-east-1:1:function:f"),
            None
        );
    }
}
