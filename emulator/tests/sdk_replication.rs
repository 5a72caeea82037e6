//! Replication through the real SDK: AddReplicaRegions on CreateSecret, ReplicateSecretToRegions,
//! RemoveRegionsFromReplication, StopReplicationToReplica, propagation of writes, read-only replicas,
//! name clashes, and cross-account association.

mod extra_support;

use aws_sdk_secretsmanager::types::{ReplicaRegionType, StatusType};
use extra_support::{assert_err, client, raw_call, start};
use serde_json::json;

fn region(r: &str) -> ReplicaRegionType {
    ReplicaRegionType::builder().region(r).build()
}

#[tokio::test]
async fn replicas_are_read_only_copies_kept_in_sync() {
    let (emu, c) = start().await;
    let eu = client(&emu.endpoint(), "eu-west-1");
    let ap = client(&emu.endpoint(), "ap-south-1");
    let out = c
        .create_secret()
        .name("rep/a")
        .secret_string("v1")
        .add_replica_regions(region("eu-west-1"))
        .send()
        .await
        .expect("create with replica");
    let arn = out.arn().expect("arn").to_string();
    let status = out.replication_status();
    assert_eq!(status.len(), 1);
    assert_eq!(
        (status[0].region(), status[0].status()),
        (Some("eu-west-1"), Some(&StatusType::InSync))
    );

    let rep = eu
        .describe_secret()
        .secret_id("rep/a")
        .send()
        .await
        .expect("replica exists");
    assert_eq!(
        rep.arn(),
        Some(arn.replace(":us-east-1:", ":eu-west-1:").as_str()),
        "same name and suffix"
    );
    assert_eq!(rep.primary_region(), Some("us-east-1"));
    assert_eq!(
        eu.get_secret_value()
            .secret_id("rep/a")
            .send()
            .await
            .expect("read replica")
            .secret_string(),
        Some("v1")
    );
    let primary = c
        .describe_secret()
        .secret_id("rep/a")
        .send()
        .await
        .expect("primary");
    assert_eq!(primary.primary_region(), Some("us-east-1"));
    assert_eq!(primary.replication_status().len(), 1);

    // Writes on the primary reach the replica; writes on the replica are refused.
    c.put_secret_value()
        .secret_id("rep/a")
        .secret_string("v2")
        .send()
        .await
        .expect("put on primary");
    c.tag_resource()
        .secret_id("rep/a")
        .tags(
            aws_sdk_secretsmanager::types::Tag::builder()
                .key("k")
                .value("v")
                .build(),
        )
        .send()
        .await
        .expect("tag");
    assert_eq!(
        eu.get_secret_value()
            .secret_id("rep/a")
            .send()
            .await
            .expect("read")
            .secret_string(),
        Some("v2")
    );
    let prev = eu
        .get_secret_value()
        .secret_id("rep/a")
        .version_stage("AWSPREVIOUS")
        .send()
        .await
        .expect("prev");
    assert_eq!(prev.secret_string(), Some("v1"));
    assert_eq!(
        eu.describe_secret()
            .secret_id("rep/a")
            .send()
            .await
            .expect("d")
            .tags()
            .len(),
        1
    );
    let ro = "Operation not permitted on a replica secret";
    assert_err(
        eu.put_secret_value()
            .secret_id("rep/a")
            .secret_string("x")
            .send()
            .await,
        "InvalidRequestException",
        ro,
    );
    assert_err(
        eu.update_secret()
            .secret_id("rep/a")
            .description("x")
            .send()
            .await,
        "InvalidRequestException",
        ro,
    );
    assert_err(
        eu.rotate_secret().secret_id("rep/a").send().await,
        "InvalidRequestException",
        ro,
    );
    assert_err(
        eu.replicate_secret_to_regions()
            .secret_id("rep/a")
            .add_replica_regions(region("ap-south-1"))
            .send()
            .await,
        "InvalidRequestException",
        ro,
    );

    // A primary with replicas cannot be deleted.
    assert_err(
        c.delete_secret().secret_id("rep/a").send().await,
        "InvalidParameterException",
        "replica regions [eu-west-1]",
    );

    // More regions later; the primary's own region is refused.
    let more = c
        .replicate_secret_to_regions()
        .secret_id("rep/a")
        .add_replica_regions(region("ap-south-1"))
        .send()
        .await
        .expect("replicate");
    assert_eq!(more.replication_status().len(), 2);
    assert_eq!(
        ap.get_secret_value()
            .secret_id("rep/a")
            .send()
            .await
            .expect("ap")
            .secret_string(),
        Some("v2")
    );
    assert_err(
        c.replicate_secret_to_regions()
            .secret_id("rep/a")
            .add_replica_regions(region("us-east-1"))
            .send()
            .await,
        "InvalidParameterException",
        "Invalid replica region.",
    );
    assert_err(
        c.replicate_secret_to_regions()
            .secret_id("rep/a")
            .add_replica_regions(region("Mars"))
            .send()
            .await,
        "ValidationException",
        "regular expression",
    );
    assert_err(
        c.replicate_secret_to_regions()
            .secret_id("rep/none")
            .add_replica_regions(region("eu-west-2"))
            .send()
            .await,
        "ResourceNotFoundException",
        "",
    );

    // RemoveRegionsFromReplication deletes the replica.
    let removed = c
        .remove_regions_from_replication()
        .secret_id("rep/a")
        .remove_replica_regions("ap-south-1")
        .send()
        .await
        .expect("remove");
    assert_eq!(removed.replication_status().len(), 1);
    assert_err(
        ap.describe_secret().secret_id("rep/a").send().await,
        "ResourceNotFoundException",
        "",
    );
    assert_err(
        c.remove_regions_from_replication()
            .secret_id("rep/a")
            .remove_replica_regions("ap-south-1")
            .send()
            .await,
        "InvalidParameterException",
        "not replicated",
    );
    assert_err(
        c.remove_regions_from_replication()
            .secret_id("rep/none")
            .remove_replica_regions("eu-west-1")
            .send()
            .await,
        "ResourceNotFoundException",
        "",
    );

    // StopReplicationToReplica (in the replica's region) promotes the replica.
    let stopped = eu
        .stop_replication_to_replica()
        .secret_id("rep/a")
        .send()
        .await
        .expect("stop");
    assert!(stopped.arn().is_some_and(|a| a.contains(":eu-west-1:")));
    let standalone = eu
        .describe_secret()
        .secret_id("rep/a")
        .send()
        .await
        .expect("standalone");
    assert_eq!(standalone.primary_region(), None);
    eu.put_secret_value()
        .secret_id("rep/a")
        .secret_string("eu-only")
        .send()
        .await
        .expect("writable now");
    assert_eq!(
        c.get_secret_value()
            .secret_id("rep/a")
            .send()
            .await
            .expect("primary")
            .secret_string(),
        Some("v2")
    );
    assert!(c
        .describe_secret()
        .secret_id("rep/a")
        .send()
        .await
        .expect("primary")
        .replication_status()
        .is_empty());
    c.delete_secret()
        .secret_id("rep/a")
        .force_delete_without_recovery(true)
        .send()
        .await
        .expect("deletable now");
    assert_eq!(
        eu.get_secret_value()
            .secret_id("rep/a")
            .version_stage("AWSPREVIOUS")
            .send()
            .await
            .expect("copied")
            .secret_string(),
        Some("v2"),
        "promotion copied the values"
    );
    assert_err(
        eu.stop_replication_to_replica()
            .secret_id("rep/a")
            .send()
            .await,
        "InvalidRequestException",
        "not a replica",
    );
    assert_err(
        eu.stop_replication_to_replica()
            .secret_id("rep/none")
            .send()
            .await,
        "ResourceNotFoundException",
        "",
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn deleting_a_replica_removes_it_from_the_primary() {
    let (emu, c) = start().await;
    let eu = client(&emu.endpoint(), "eu-west-1");
    c.create_secret()
        .name("rep/del")
        .secret_string("v")
        .add_replica_regions(region("eu-west-1"))
        .send()
        .await
        .expect("create");
    eu.delete_secret()
        .secret_id("rep/del")
        .send()
        .await
        .expect("delete the replica");
    assert_err(
        eu.describe_secret().secret_id("rep/del").send().await,
        "ResourceNotFoundException",
        "",
    );
    let d = c
        .describe_secret()
        .secret_id("rep/del")
        .send()
        .await
        .expect("primary");
    assert!(
        d.replication_status().is_empty(),
        "{:?}",
        d.replication_status()
    );
    assert_eq!(d.primary_region(), None);
    c.put_secret_value()
        .secret_id("rep/del")
        .secret_string("v2")
        .send()
        .await
        .expect("put");
    assert_err(
        eu.describe_secret().secret_id("rep/del").send().await,
        "ResourceNotFoundException",
        "",
    );
    c.delete_secret()
        .secret_id("rep/del")
        .force_delete_without_recovery(true)
        .send()
        .await
        .expect("primary deletable");
    emu.shutdown().await;
}

#[tokio::test]
async fn name_clash_fails_unless_forced() {
    let (emu, c) = start().await;
    let eu = client(&emu.endpoint(), "eu-west-1");
    eu.create_secret()
        .name("rep/clash")
        .secret_string("eu-own")
        .send()
        .await
        .expect("eu secret");
    let out = c
        .create_secret()
        .name("rep/clash")
        .secret_string("primary")
        .add_replica_regions(region("eu-west-1"))
        .send()
        .await
        .expect("create");
    let st = &out.replication_status()[0];
    assert_eq!(st.status(), Some(&StatusType::Failed));
    assert!(st
        .status_message()
        .is_some_and(|m| m.contains("already exists")));
    assert_eq!(
        eu.get_secret_value()
            .secret_id("rep/clash")
            .send()
            .await
            .expect("eu")
            .secret_string(),
        Some("eu-own")
    );
    c.put_secret_value()
        .secret_id("rep/clash")
        .secret_string("p2")
        .send()
        .await
        .expect("put");
    assert_eq!(
        eu.get_secret_value()
            .secret_id("rep/clash")
            .send()
            .await
            .expect("eu")
            .secret_string(),
        Some("eu-own")
    );

    c.create_secret()
        .name("rep/force")
        .secret_string("primary")
        .send()
        .await
        .expect("create");
    eu.create_secret()
        .name("rep/force")
        .secret_string("eu-own")
        .send()
        .await
        .expect("eu secret");
    let out = c
        .replicate_secret_to_regions()
        .secret_id("rep/force")
        .add_replica_regions(region("eu-west-1"))
        .force_overwrite_replica_secret(true)
        .send()
        .await
        .expect("forced");
    assert_eq!(
        out.replication_status()[0].status(),
        Some(&StatusType::InSync)
    );
    assert_eq!(
        eu.get_secret_value()
            .secret_id("rep/force")
            .send()
            .await
            .expect("eu")
            .secret_string(),
        Some("primary")
    );
    emu.shutdown().await;
}

/// The replica account of the cross-account tests, and its customer managed KMS key.
const OTHER: &str = "111122223333";
const REPLICA_KEY: &str = "alias/replica-key";

async fn start_with_replica_key(
    dir: Option<&std::path::Path>,
) -> secretsmanager_emulator::Emulator {
    let b = secretsmanager_emulator::Emulator::builder().kms_key(REPLICA_KEY);
    let b = match dir {
        Some(d) => b.data_dir(d),
        None => b.in_memory(),
    };
    b.start().await.expect("emulator starts")
}

/// A raw call as the primary's account (`AKIDEXAMPLE`) or the replica's (`OTHER`), in us-east-1.
async fn xa(
    emu: &secretsmanager_emulator::Emulator,
    account: &str,
    op: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    raw_call(emu.addr(), account, "us-east-1", op, body).await
}

#[track_caller]
fn assert_type(got: &(u16, serde_json::Value), want: &str) {
    assert_eq!((got.0, &got.1["__type"]), (400, &json!(want)), "{}", got.1);
}

#[tokio::test]
async fn cross_account_replication_from_creation_to_standalone() {
    // The pinned Rust SDK predates the cross-account operations: they are sent as raw JSON 1.1 calls.
    let emu = start_with_replica_key(None).await;
    let me = "AKIDEXAMPLE";
    let (_, p) = xa(
        &emu,
        me,
        "CreateSecret",
        json!({"Name": "xa/p", "SecretString": "v1", "ClientRequestToken": "t".repeat(32)}),
    )
    .await;
    let primary_arn = p["ARN"].as_str().expect("primary ARN").to_string();

    // The replica account creates an empty replica that names the primary.
    let create = |extra: serde_json::Value| {
        let mut body =
            json!({"Name": "xa/r", "CrossAccountPrimaryARN": primary_arn, "KmsKeyId": REPLICA_KEY});
        for (k, v) in extra.as_object().expect("object") {
            body[k] = v.clone();
        }
        body
    };
    for bad in [
        json!({"KmsKeyId": null}),
        json!({"KmsKeyId": "alias/aws/secretsmanager"}),
        json!({"SecretString": "x", "ClientRequestToken": "u".repeat(32)}),
        json!({"Description": "d"}),
        json!({"CrossAccountPrimaryARN": primary_arn.replace("us-east-1", "eu-west-1")}),
        json!({"CrossAccountPrimaryARN": primary_arn.replace("123456789012", OTHER)}),
        json!({"CrossAccountPrimaryARN": "arn:aws:lambda:us-east-1:123456789012:function:f"}),
    ] {
        let mut body = create(bad.clone());
        if bad.get("KmsKeyId") == Some(&serde_json::Value::Null) {
            body.as_object_mut().expect("object").remove("KmsKeyId");
        }
        assert_type(
            &xa(&emu, OTHER, "CreateSecret", body).await,
            "InvalidParameterException",
        );
    }
    let (status, r) = xa(&emu, OTHER, "CreateSecret", create(json!({}))).await;
    assert_eq!(status, 200, "{r}");
    let replica_arn = r["ARN"].as_str().expect("replica ARN").to_string();
    assert!(r.get("VersionId").is_none(), "{r}");
    let (_, rd) = xa(&emu, OTHER, "DescribeSecret", json!({"SecretId": "xa/r"})).await;
    assert_eq!(
        rd["CrossAccountPrimary"],
        json!({"PrimarySecretARN": primary_arn, "ReplicationStatus": "Pending"})
    );
    let (_, pol) = xa(
        &emu,
        OTHER,
        "ListResourcePolicies",
        json!({"SecretId": "xa/r"}),
    )
    .await;
    assert!(
        pol.to_string().contains("cross-account-replication"),
        "{pol}"
    );
    assert_type(
        &xa(&emu, OTHER, "GetSecretValue", json!({"SecretId": "xa/r"})).await,
        "ResourceNotFoundException",
    );

    // Association from the primary's account starts replication.
    let assoc = json!({"SecretId": "xa/p", "CrossAccountReplicaARN": replica_arn});
    assert_type(
        &xa(&emu, me, "AssociateCrossAccountReplica", json!({"SecretId": "xa/p", "CrossAccountReplicaARN": replica_arn.replace("xa/r", "xa/none")})).await,
        "ResourceNotFoundException",
    );
    let (_, plain) = xa(
        &emu,
        OTHER,
        "CreateSecret",
        json!({"Name": "xa/plain", "SecretString": "p", "ClientRequestToken": "w".repeat(32)}),
    )
    .await;
    assert_type(
        &xa(
            &emu,
            me,
            "AssociateCrossAccountReplica",
            json!({"SecretId": "xa/p", "CrossAccountReplicaARN": plain["ARN"]}),
        )
        .await,
        "InvalidRequestException",
    );
    assert_type(
        &xa(&emu, me, "AssociateCrossAccountReplica", json!({"SecretId": "xa/p", "CrossAccountReplicaARN": replica_arn.replace("us-east-1", "eu-west-1")})).await,
        "InvalidParameterException",
    );
    assert_type(
        &xa(
            &emu,
            me,
            "AssociateCrossAccountReplica",
            json!({"SecretId": "xa/p"}),
        )
        .await,
        "ValidationException",
    );
    let (status, out) = xa(&emu, me, "AssociateCrossAccountReplica", assoc.clone()).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(
        out,
        json!({"ARN": primary_arn, "CrossAccountReplicaARN": replica_arn, "ReplicationStatus": "InSync"})
    );
    assert_eq!(
        xa(&emu, me, "AssociateCrossAccountReplica", assoc.clone())
            .await
            .0,
        200,
        "idempotent"
    );
    assert_type(
        &xa(
            &emu,
            me,
            "AssociateCrossAccountReplica",
            json!({"SecretId": "xa/p", "CrossAccountReplicaARN": plain["ARN"]}),
        )
        .await,
        "LimitExceededException",
    );
    let value = |stage: &'static str| {
        let emu = &emu;
        async move {
            let (_, v) = xa(
                emu,
                OTHER,
                "GetSecretValue",
                json!({"SecretId": "xa/r", "VersionStage": stage}),
            )
            .await;
            v["SecretString"].clone()
        }
    };
    assert_eq!(value("AWSCURRENT").await, json!("v1"));
    let (_, pd) = xa(&emu, me, "DescribeSecret", json!({"SecretId": "xa/p"})).await;
    let (_, rd) = xa(&emu, OTHER, "DescribeSecret", json!({"SecretId": "xa/r"})).await;
    assert_eq!(
        pd["CrossAccountReplicas"][0]["ReplicationStatus"],
        json!("InSync"),
        "{pd}"
    );
    assert_eq!(
        rd["CrossAccountPrimary"]["ReplicationStatus"],
        json!("InSync"),
        "{rd}"
    );
    assert_eq!(rd["VersionIdsToStages"], pd["VersionIdsToStages"]);

    // Every later value reaches the replica; the replica's own values cannot be written.
    let (status, _) = xa(
        &emu,
        me,
        "PutSecretValue",
        json!({"SecretId": "xa/p", "SecretString": "v2", "ClientRequestToken": "x".repeat(32)}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(value("AWSCURRENT").await, json!("v2"));
    assert_eq!(value("AWSPREVIOUS").await, json!("v1"));
    let put_on_replica =
        json!({"SecretId": "xa/r", "SecretString": "mine", "ClientRequestToken": "y".repeat(32)});
    assert_type(
        &xa(&emu, OTHER, "PutSecretValue", put_on_replica.clone()).await,
        "InvalidRequestException",
    );
    let (status, _) = xa(
        &emu,
        OTHER,
        "TagResource",
        json!({"SecretId": "xa/r", "Tags": [{"Key": "team", "Value": "b"}]}),
    )
    .await;
    assert_eq!(status, 200, "a replica's tags are its own");
    // Neither side can be deleted before it stops replication from its own side.
    assert_type(
        &xa(&emu, me, "DeleteSecret", json!({"SecretId": "xa/p"})).await,
        "InvalidRequestException",
    );
    assert_type(
        &xa(
            &emu,
            OTHER,
            "DeleteSecret",
            json!({"SecretId": "xa/r", "ForceDeleteWithoutRecovery": true}),
        )
        .await,
        "InvalidRequestException",
    );

    // Disassociation: the replica keeps its values, Detached, still read-only.
    let (status, dis) = xa(&emu, me, "DisassociateCrossAccountReplica", assoc.clone()).await;
    assert_eq!(status, 200, "{dis}");
    assert_eq!(dis["CrossAccountReplicaARN"], json!(replica_arn));
    assert_type(
        &xa(&emu, me, "DisassociateCrossAccountReplica", assoc.clone()).await,
        "InvalidRequestException",
    );
    let (_, pd) = xa(&emu, me, "DescribeSecret", json!({"SecretId": "xa/p"})).await;
    assert!(pd.get("CrossAccountReplicas").is_none(), "{pd}");
    xa(
        &emu,
        me,
        "PutSecretValue",
        json!({"SecretId": "xa/p", "SecretString": "v3", "ClientRequestToken": "z".repeat(32)}),
    )
    .await;
    assert_eq!(
        value("AWSCURRENT").await,
        json!("v2"),
        "no updates after disassociation"
    );
    let (_, rd) = xa(&emu, OTHER, "DescribeSecret", json!({"SecretId": "xa/r"})).await;
    assert_eq!(
        rd["CrossAccountPrimary"]["ReplicationStatus"],
        json!("Detached")
    );
    assert_type(
        &xa(&emu, OTHER, "PutSecretValue", put_on_replica.clone()).await,
        "InvalidRequestException",
    );

    // StopReplicationToReplica in the replica's account makes it standalone.
    let (status, out) = xa(
        &emu,
        OTHER,
        "StopReplicationToReplica",
        json!({"SecretId": "xa/r"}),
    )
    .await;
    assert_eq!((status, &out["ARN"]), (200, &json!(replica_arn)), "{out}");
    let (_, rd) = xa(&emu, OTHER, "DescribeSecret", json!({"SecretId": "xa/r"})).await;
    assert!(rd.get("CrossAccountPrimary").is_none(), "{rd}");
    let (_, pol) = xa(
        &emu,
        OTHER,
        "ListResourcePolicies",
        json!({"SecretId": "xa/r"}),
    )
    .await;
    assert!(
        !pol.to_string().contains("cross-account-replication"),
        "{pol}"
    );
    assert_eq!(value("AWSCURRENT").await, json!("v2"));
    assert_eq!(
        xa(&emu, OTHER, "PutSecretValue", put_on_replica).await.0,
        200
    );
    assert_eq!(value("AWSCURRENT").await, json!("mine"));
    assert_eq!(
        xa(&emu, me, "DeleteSecret", json!({"SecretId": "xa/p"}))
            .await
            .0,
        200
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn a_cross_account_replica_stays_in_sync_across_a_restart_and_stops_from_its_side() {
    let dir = tempfile::tempdir().expect("tempdir");
    let me = "AKIDEXAMPLE";
    let emu = start_with_replica_key(Some(dir.path())).await;
    let (_, p) = xa(
        &emu,
        me,
        "CreateSecret",
        json!({"Name": "xr/p", "SecretString": "one", "ClientRequestToken": "a".repeat(32)}),
    )
    .await;
    let primary_arn = p["ARN"].as_str().expect("ARN").to_string();
    let (_, r) = xa(
        &emu,
        OTHER,
        "CreateSecret",
        json!({"Name": "xr/r", "CrossAccountPrimaryARN": primary_arn, "KmsKeyId": REPLICA_KEY}),
    )
    .await;
    let replica_arn = r["ARN"].as_str().expect("ARN").to_string();
    let assoc = json!({"SecretId": "xr/p", "CrossAccountReplicaARN": replica_arn});
    assert_eq!(
        xa(&emu, me, "AssociateCrossAccountReplica", assoc.clone())
            .await
            .0,
        200
    );
    xa(
        &emu,
        me,
        "PutSecretValue",
        json!({"SecretId": "xr/p", "SecretString": "two", "ClientRequestToken": "b".repeat(32)}),
    )
    .await;
    emu.shutdown().await;

    let emu = start_with_replica_key(Some(dir.path())).await;
    let current = |emu: &secretsmanager_emulator::Emulator| {
        let addr = emu.addr();
        async move {
            let (_, v) = raw_call(
                addr,
                OTHER,
                "us-east-1",
                "GetSecretValue",
                json!({"SecretId": "xr/r"}),
            )
            .await;
            v["SecretString"].clone()
        }
    };
    assert_eq!(current(&emu).await, json!("two"));
    xa(
        &emu,
        me,
        "PutSecretValue",
        json!({"SecretId": "xr/p", "SecretString": "three", "ClientRequestToken": "c".repeat(32)}),
    )
    .await;
    assert_eq!(
        current(&emu).await,
        json!("three"),
        "replication goes on after the restart"
    );
    // Stopping from the replica's side copies the values in and marks the primary's entry Detached.
    assert_eq!(
        xa(
            &emu,
            OTHER,
            "StopReplicationToReplica",
            json!({"SecretId": "xr/r"})
        )
        .await
        .0,
        200
    );
    let (_, pd) = xa(&emu, me, "DescribeSecret", json!({"SecretId": "xr/p"})).await;
    assert_eq!(
        pd["CrossAccountReplicas"][0]["ReplicationStatus"],
        json!("Detached"),
        "{pd}"
    );
    assert_type(
        &xa(&emu, me, "DeleteSecret", json!({"SecretId": "xr/p"})).await,
        "InvalidRequestException",
    );
    assert_eq!(
        xa(&emu, me, "DisassociateCrossAccountReplica", assoc)
            .await
            .0,
        200
    );
    assert_eq!(
        xa(
            &emu,
            me,
            "DeleteSecret",
            json!({"SecretId": "xr/p", "ForceDeleteWithoutRecovery": true})
        )
        .await
        .0,
        200
    );
    assert_eq!(
        current(&emu).await,
        json!("three"),
        "the standalone replica keeps its values"
    );
    emu.shutdown().await;
    let emu = start_with_replica_key(Some(dir.path())).await;
    assert_eq!(
        current(&emu).await,
        json!("three"),
        "and they are its own on disk"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn replicas_and_their_versions_survive_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let emu = start_with_replica_key(Some(dir.path())).await;
    let c = client(&emu.endpoint(), "us-east-1");
    c.create_secret()
        .name("rep/persist")
        .secret_string("v1")
        .add_replica_regions(region("eu-west-1"))
        .send()
        .await
        .expect("create with replica");
    c.put_secret_value()
        .secret_id("rep/persist")
        .secret_string("v2")
        .send()
        .await
        .expect("put on primary");
    c.replicate_secret_to_regions()
        .secret_id("rep/persist")
        .add_replica_regions(region("ap-south-1"))
        .send()
        .await
        .expect("replicate to a second region");
    emu.shutdown().await;

    let emu = start_with_replica_key(Some(dir.path())).await;
    for r in ["eu-west-1", "ap-south-1"] {
        let rc = client(&emu.endpoint(), r);
        let got = rc
            .get_secret_value()
            .secret_id("rep/persist")
            .send()
            .await
            .unwrap_or_else(|e| panic!("replica in {r} after restart: {e:?}"));
        assert_eq!(got.secret_string(), Some("v2"), "{r}");
        let prev = rc
            .get_secret_value()
            .secret_id("rep/persist")
            .version_stage("AWSPREVIOUS")
            .send()
            .await
            .unwrap_or_else(|e| panic!("AWSPREVIOUS in {r} after restart: {e:?}"));
        assert_eq!(prev.secret_string(), Some("v1"), "{r}");
        let d = rc
            .describe_secret()
            .secret_id("rep/persist")
            .send()
            .await
            .expect("describe replica");
        assert_eq!(d.version_ids_to_stages().map(|m| m.len()), Some(2), "{r}");
    }
    emu.shutdown().await;
}
