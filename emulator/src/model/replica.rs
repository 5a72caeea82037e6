//! What a secret records about its replicas: the regional replica of a primary (same name and ARN
//! suffix, its own region, `PrimaryRegion` set, the primary's versions and labels), the primary's
//! `ReplicationStatus` entries, and the cross-account links kept in the record member `extra` under
//! the wire names `CrossAccountPrimary` (on a replica) and `CrossAccountReplicas` (on a primary, at
//! most one entry).
//!
//! The members of each entry are declared in alphabetical order: that is the order of the JSON
//! objects the records and answers held when these entries were untyped maps.

use serde::{Deserialize, Serialize};

use super::Secret;

/// Replication status of a replica that follows its primary.
pub const IN_SYNC: &str = "InSync";
/// Replication status of a regional replica that could not be created.
pub const FAILED: &str = "Failed";
/// Replication status of a replica that no longer follows its primary.
pub const DETACHED: &str = "Detached";

/// One entry of a primary's `ReplicationStatus`: a replica region and the state of its replica.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RegionStatus {
    /// The replica's KmsKeyId when one was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
    /// The replica's region.
    pub region: String,
    /// `InSync` or `Failed`.
    pub status: String,
    /// Why the replica could not be created (with `Failed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
}

/// A cross-account replica's link to its primary (`CrossAccountPrimary`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrimaryLink {
    /// The primary's ARN.
    #[serde(rename = "PrimarySecretARN")]
    pub primary_secret_arn: String,
    /// `Pending` until the primary associates the replica, then `InSync` or `Detached`.
    #[serde(rename = "ReplicationStatus", default)]
    pub replication_status: String,
}

/// A primary's cross-account replica (the entry of `CrossAccountReplicas`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplicaLink {
    /// The replica's ARN.
    #[serde(rename = "ReplicaSecretARN")]
    pub replica_secret_arn: String,
    /// ReplicationRoleARN as given to AssociateCrossAccountReplica.
    #[serde(
        rename = "ReplicationRoleARN",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub replication_role_arn: Option<String>,
    /// `InSync` or `Detached`.
    #[serde(rename = "ReplicationStatus")]
    pub replication_status: String,
}

/// The cross-account links of a secret (record member `extra`; DescribeSecret answers its
/// members under their wire names).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CrossAccountLinks {
    /// Set on a cross-account replica.
    #[serde(
        rename = "CrossAccountPrimary",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub primary: Option<PrimaryLink>,
    /// Set on a primary with a cross-account replica.
    #[serde(
        rename = "CrossAccountReplicas",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub replicas: Vec<ReplicaLink>,
}

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

/// Whether a primary's ReplicationStatus entries name `region`.
pub fn replicates_to(s: &Secret, region: &str) -> bool {
    s.replication.iter().any(|e| e.region == region)
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
    let p = s.cross_account.as_ref()?.primary.as_ref()?;
    Some((&p.primary_secret_arn, &p.replication_status))
}

/// Sets the replication status of a cross-account replica's link.
pub fn set_link_status(s: &mut Secret, status: &str) {
    if let Some(p) = s.cross_account.as_mut().and_then(|c| c.primary.as_mut()) {
        p.replication_status = status.to_string();
    }
}

/// A primary's cross-account replica entry (at most one).
pub fn entry(s: &Secret) -> Option<&ReplicaLink> {
    s.cross_account.as_ref()?.replicas.first()
}

/// Whether `s` is a cross-account replica (until StopReplicationToReplica makes it standalone).
pub fn is_replica(s: &Secret) -> bool {
    link(s).is_some()
}

/// Changes the cross-account links of `s` with `f`, dropping them once none is left.
pub fn change_links<T>(s: &mut Secret, f: impl FnOnce(&mut CrossAccountLinks) -> T) -> T {
    let links = s.cross_account.get_or_insert_with(Box::default);
    let out = f(links);
    if links.primary.is_none() && links.replicas.is_empty() {
        s.cross_account = None;
    }
    out
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
