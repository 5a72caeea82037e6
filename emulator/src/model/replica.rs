//! What a secret records about its replicas: the regional replica of a primary (same name and ARN
//! suffix, its own region, `PrimaryRegion` set, the primary's versions and labels) and the
//! cross-account link kept in `extra` under the wire names `CrossAccountPrimary` (on a replica)
//! and `CrossAccountReplicas` (on a primary, at most one entry).

use serde_json::{json, Value};

use super::Secret;

/// A replica's link to its primary (`extra` member, wire name).
pub const PRIMARY: &str = "CrossAccountPrimary";
/// A primary's list of cross-account replicas (`extra` member, wire name).
pub const REPLICAS: &str = "CrossAccountReplicas";
/// Replication status of a replica that follows its primary.
pub const IN_SYNC: &str = "InSync";
/// Replication status of a replica that no longer follows its primary.
pub const DETACHED: &str = "Detached";

/// The ARN of the replica in `region` of the primary `primary_arn` in `primary_region`.
pub fn replica_arn(primary_arn: &str, primary_region: &str, region: &str) -> String {
    primary_arn.replacen(
        &format!(":secretsmanager:{primary_region}:"),
        &format!(":secretsmanager:{region}:"),
        1,
    )
}

/// The replica record for `region` of `primary` (whose region is `primary_region`).
pub fn build_replica(
    primary: &Secret,
    primary_region: &str,
    region: &str,
    kms_key: Option<String>,
) -> Secret {
    let mut r = primary.clone();
    r.arn = replica_arn(&primary.arn, primary_region, region);
    r.primary_region = Some(primary_region.to_string());
    r.replication = Vec::new();
    r.kms_key_id = kms_key;
    r.deleted = None;
    r.purge_at = None;
    r
}

/// The region of a primary's ReplicationStatus entry.
pub fn entry_region(e: &Value) -> Option<&str> {
    e.get("Region").and_then(Value::as_str)
}

/// Whether `candidate` (in `region`) is the replica of `primary` (in `primary_region`).
pub fn is_our_replica(
    primary_region: &str,
    primary: &Secret,
    candidate: &Secret,
    region: &str,
) -> bool {
    candidate.primary_region.as_deref() == Some(primary_region)
        && candidate.arn == replica_arn(&primary.arn, primary_region, region)
}

/// The parts of a secret ARN: (partition, region, account, name with suffix).
pub fn parse_secret_arn(arn: &str) -> Option<(&str, &str, &str, &str)> {
    let parts: Vec<&str> = arn.splitn(7, ':').collect();
    (parts.len() == 7
        && parts[0] == "arn"
        && parts[2] == "secretsmanager"
        && parts[5] == "secret"
        && !parts[4].is_empty()
        && !parts[6].is_empty())
    .then(|| (parts[1], parts[3], parts[4], parts[6]))
}

/// A cross-account replica's link: (primary ARN, replication status).
pub fn link(s: &Secret) -> Option<(&str, &str)> {
    let p = s.extra.get(PRIMARY)?;
    Some((
        p.get("PrimarySecretARN")?.as_str()?,
        p.get("ReplicationStatus")
            .and_then(Value::as_str)
            .unwrap_or(""),
    ))
}

/// Sets the replication status of a cross-account replica's link.
pub fn set_link_status(s: &mut Secret, status: &str) {
    if let Some(p) = s.extra.get_mut(PRIMARY) {
        p["ReplicationStatus"] = json!(status);
    }
}

/// A primary's cross-account replica entry (at most one).
pub fn entry(s: &Secret) -> Option<&Value> {
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

/// Where the values of `s`, seen from `account` and `region`, are stored: a regional replica
/// reads its primary's region, a cross-account replica in sync its primary's account.
pub fn value_home(account: &str, region: &str, s: &Secret) -> (String, String) {
    if let Some(p) = s
        .primary_region
        .as_ref()
        .filter(|_| s.is_replica_in(region))
    {
        return (account.to_string(), p.clone());
    }
    match values_account(s) {
        Some(a) => (a, region.to_string()),
        None => (account.to_string(), region.to_string()),
    }
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

    #[test]
    fn replica_arns() {
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
