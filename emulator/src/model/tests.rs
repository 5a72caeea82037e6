//! Tests of the model: label moves, pruning, the stored record of a secret, names.

#![allow(clippy::unwrap_used)]

use super::*;
use serde_json::Value;

fn secret_with(n: usize) -> Secret {
    let mut s = Secret::default();
    for i in 0..n {
        let d = SecretData::String("d".into()).digest();
        s.add_version(i as u64 + 1, format!("v{i}"), i as f64, Some(d), None);
    }
    s
}

#[test]
fn current_move_shifts_previous() {
    let mut s = secret_with(3);
    s.attach_label(AWSCURRENT, 0).unwrap();
    s.attach_label(AWSCURRENT, 1).unwrap();
    assert_eq!(s.versions[0].stages, vec![AWSPREVIOUS]);
    s.attach_label(AWSCURRENT, 2).unwrap();
    assert!(s.versions[0].stages.is_empty());
    assert_eq!(s.versions[1].stages, vec![AWSPREVIOUS]);
    assert_eq!(s.versions[2].stages, vec![AWSCURRENT]);
}

#[test]
fn worked_example_keeps_pending() {
    let mut s = secret_with(2);
    s.attach_label(AWSCURRENT, 0).unwrap();
    s.attach_label(AWSPENDING, 1).unwrap();
    s.attach_label(AWSCURRENT, 1).unwrap();
    assert_eq!(s.versions[1].stages, vec![AWSPENDING, AWSCURRENT]);
    assert_eq!(s.versions[0].stages, vec![AWSPREVIOUS]);
}

#[test]
fn prune_only_old_unlabelled() {
    let mut s = secret_with(105);
    s.attach_label(AWSCURRENT, 104).unwrap();
    // versions 0..=2 are old, the rest young
    let now = 2.0 + PRUNE_MIN_AGE_SECS;
    let removed: Vec<String> = s
        .prune_versions(now)
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(removed, vec!["v0", "v1", "v2"]);
    assert_eq!(s.versions.len(), 102);
}

#[test]
fn stored_record_leaves_out_unset_fields_and_round_trips() {
    let mut s = Secret {
        name: "n".into(),
        arn: "a".into(),
        created: 1.0,
        last_changed: 2.0,
        ..Default::default()
    };
    let bare = serde_json::to_value(&s).unwrap();
    let mut keys: Vec<&str> = bare
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["arn", "created", "last_changed", "name", "next_seq"]);
    s.description = Some("d".into());
    s.kms_key_id = Some("alias/k".into());
    s.secret_type = Some("t".into());
    s.tags = vec![("k".into(), "v".into())];
    s.last_accessed = Some(3.0);
    s.deleted = Some(4.0);
    s.purge_at = Some(5.0);
    s.next_seq = 7;
    s.rotation = Rotation {
        enabled: Some(false),
        lambda_arn: Some("arn:l".into()),
        rules: Some(serde_json::json!({"AutomaticallyAfterDays": 1})),
        last_rotated: Some(6.0),
        next_rotation: Some(8.0),
        external_metadata: Some(serde_json::json!([{"Key": "a", "Value": "b"}])),
        external_role_arn: Some("arn:r".into()),
    };
    s.primary_region = Some("eu-west-1".into());
    s.replication = vec![replica::RegionStatus {
        kms_key_id: None,
        region: "eu-west-1".into(),
        status: replica::IN_SYNC.into(),
        status_message: None,
    }];
    s.policies.insert("default".into(), "{}".into());
    s.owning_service = Some("svc".into());
    s.cross_account = Some(Box::new(replica::CrossAccountLinks {
        primary: None,
        replicas: vec![replica::ReplicaLink {
            replica_secret_arn: "arn:r".into(),
            replication_role_arn: None,
            replication_status: replica::IN_SYNC.into(),
        }],
    }));
    let full = serde_json::to_value(&s).unwrap();
    let back: Secret = serde_json::from_value(full.clone()).unwrap();
    assert_eq!(serde_json::to_value(&back).unwrap(), full);
    assert_eq!(back.rotation, s.rotation);
    // a record written before unset fields were left out reads the same
    let mut old = bare.as_object().unwrap().clone();
    for k in [
        "description",
        "kms_key_id",
        "deleted",
        "purge_at",
        "owning_service",
    ] {
        old.insert(k.into(), Value::Null);
    }
    old.insert("tags".into(), serde_json::json!([]));
    old.insert(
        "rotation".into(),
        serde_json::json!({"enabled": null, "rules": null}),
    );
    let back: Secret = serde_json::from_value(Value::Object(old)).unwrap();
    assert_eq!(serde_json::to_value(&back).unwrap(), bare);
}

/// A record written while the replication entries were untyped JSON objects loads into the
/// typed entries and is written back the same, byte for byte in the entries.
#[test]
fn replication_entries_of_earlier_records_round_trip() {
    let old = serde_json::json!({
        "name": "n",
        "arn": "arn:aws:secretsmanager:us-east-1:111:secret:n-AbCdEf",
        "created": 1.0,
        "last_changed": 2.0,
        "next_seq": 1,
        "primary_region": "us-east-1",
        "replication": [
            {"Region": "eu-west-1", "Status": "InSync"},
            {"KmsKeyId": "alias/k", "Region": "eu-west-2", "Status": "InSync"},
            {"Region": "eu-west-3", "Status": "Failed", "StatusMessage": "Replication failed: exists."}
        ],
        "extra": {
            "CrossAccountPrimary": {"PrimarySecretARN": "arn:p", "ReplicationStatus": "Pending"},
            "CrossAccountReplicas": [
                {"ReplicaSecretARN": "arn:r", "ReplicationRoleARN": "arn:role", "ReplicationStatus": "InSync"}
            ]
        }
    });
    let back: Secret = serde_json::from_value(old.clone()).unwrap();
    assert_eq!(back.replication.len(), 3);
    assert_eq!(
        back.replication[2].status_message.as_deref(),
        Some("Replication failed: exists.")
    );
    assert_eq!(replica::link(&back), Some(("arn:p", "Pending")));
    assert_eq!(
        replica::entry(&back).map(|e| e.replica_secret_arn.as_str()),
        Some("arn:r")
    );
    assert_eq!(serde_json::to_value(&back).unwrap(), old);
    // the entries serialized straight from the structs keep the members' order
    assert_eq!(
        serde_json::to_string(&back.replication).unwrap(),
        serde_json::to_string(&old["replication"]).unwrap()
    );
    assert_eq!(
        serde_json::to_string(&back.cross_account).unwrap(),
        serde_json::to_string(&old["extra"]).unwrap()
    );
}

#[test]
fn names() {
    assert!(valid_name("a/b_c+d=e.f@g-h"));
    assert!(!valid_name("a b"));
    assert!(!valid_name(""));
    assert!(!valid_name(&"x".repeat(513)));
    assert_eq!(random_suffix().len(), 6);
}
