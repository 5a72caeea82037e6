//! Replicas follow their primary as part of the change that changed it: the regional replicas of
//! a primary changed in the caller's region are rewritten from it, a replica removed there leaves
//! its primary's ReplicationStatus, and a cross-account replica in sync takes its primary's
//! versions and labels.

use crate::model::replica::{
    build_replica, entry, is_our_replica, link, parse_secret_arn, replicates_to, IN_SYNC,
};
use crate::model::{Secret, Version};

use super::{AccountWrite, Origin, SecretMut, Writer};

/// Writes `replica` into `region` of the account, in place of the copy there: versions it shares
/// with that copy keep their records, the others are written, and the copy's other versions are
/// deleted (values stay in the primary's region).
pub fn write_replica(regions: &mut AccountWrite<'_>, replica: Secret, region: &str) {
    let mut target = regions.region(region);
    let old = target.get(&replica.name);
    for v in &replica.versions {
        // the replica's version records are its region's own
        v.mark_stored_as(old.and_then(|o| o.version(&v.id)));
    }
    target.insert(replica);
}

/// A replica deleted in its own region (DeleteSecret on a replica) leaves its primary's
/// ReplicationStatus.
fn forget_removed_replicas(regions: &mut AccountWrite<'_>, o: Origin<'_>) {
    let removed = regions.changes().removed_in(o.account, o.region);
    for name in removed {
        if regions.get(o.region).is_some_and(|r| r.contains_key(&name)) {
            continue;
        }
        let others: Vec<String> = regions
            .iter()
            .filter(|(r, secrets)| {
                *r != o.region
                    && secrets.get(&name).is_some_and(|p| {
                        p.primary_region.as_deref() == Some(r.as_str())
                            && replicates_to(p, o.region)
                    })
            })
            .map(|(r, _)| r.clone())
            .collect();
        for other in others {
            if let Some(mut p) = regions.secret_mut(&other, &name) {
                p.replication.retain(|e| e.region != o.region);
                if p.replication.is_empty() {
                    p.primary_region = None;
                }
                p.last_changed = o.now;
            }
        }
    }
}

/// Mirrors the secrets of the origin's region changed so far that have replicas into their
/// replica regions, after forgetting replicas removed there.
pub(super) fn propagate(regions: &mut AccountWrite<'_>, o: Origin<'_>) {
    forget_removed_replicas(regions, o);
    for name in regions.changes().dirty_in(o.account, o.region) {
        let Some(primary) = regions.get(o.region).and_then(|r| r.get(&name)) else {
            continue;
        };
        if primary.replication.is_empty() || primary.is_replica_in(o.region) {
            continue;
        }
        let primary: Secret = (**primary).clone();
        for e in primary.replication.iter().filter(|e| e.status == IN_SYNC) {
            let region = e.region.as_str();
            let existing = regions.get(region).and_then(|r| r.get(&name));
            if !existing.is_some_and(|x| is_our_replica(o.region, &primary, x, region)) {
                continue;
            }
            let key = existing.and_then(|x| x.kms_key_id.clone());
            let replica = build_replica(&primary, o.region, region, key);
            write_replica(regions, replica, region);
        }
    }
}

/// The secret `arn` (live or not).
pub fn secret_by_arn<'w>(w: &'w mut Writer<'_>, arn: &'w str) -> Option<SecretMut<'w>> {
    let (_, region, account, _) = parse_secret_arn(arn)?;
    let name = w
        .get(account)?
        .get(region)?
        .values()
        .find(|s| s.arn == arn)?
        .name
        .clone();
    w.secret_mut(account, region, &name)
}

/// Makes `replica`'s versions and labels those of its primary (`versions`), keeping each shared
/// version's LastAccessedDate. Returns whether anything changed.
pub fn mirror(replica: &mut SecretMut<'_>, versions: &[Version], now: f64) -> bool {
    let same = replica.versions.len() == versions.len()
        && replica
            .versions
            .iter()
            .zip(versions)
            .all(|(a, b)| a.same_record(b) && a.stages == b.stages);
    if same {
        return false;
    }
    let mut copy = versions.to_vec();
    for v in &mut copy {
        let held = replica.version(&v.id);
        // the replica's records are its account's own
        v.mark_stored_as(held);
        v.last_accessed = held.and_then(|o| o.last_accessed);
    }
    replica.versions = copy;
    replica.last_changed = now;
    true
}

/// The primaries of the origin's region changed so far that have an in-sync cross-account
/// replica pass their versions on to it.
pub(super) fn propagate_cross_account(w: &mut Writer<'_>, o: Origin<'_>) {
    let Some(region) = w.get(o.account).and_then(|a| a.get(o.region)) else {
        return;
    };
    let targets: Vec<(String, String, Vec<Version>)> = w
        .changes
        .dirty_in(o.account, o.region)
        .iter()
        .filter_map(|name| {
            let p = region.get(name)?;
            let e = entry(p)?;
            (e.replication_status == IN_SYNC).then(|| {
                (
                    p.arn.clone(),
                    e.replica_secret_arn.clone(),
                    p.versions.clone(),
                )
            })
        })
        .collect();
    for (primary_arn, replica_arn, versions) in targets {
        let Some(mut rep) = secret_by_arn(w, &replica_arn) else {
            continue;
        };
        if link(&rep) == Some((primary_arn.as_str(), IN_SYNC)) {
            mirror(&mut rep, &versions, o.now);
        }
    }
}
