//! Replication through the real SDK: AddReplicaRegions on CreateSecret, ReplicateSecretToRegions,
//! RemoveRegionsFromReplication, StopReplicationToReplica, propagation of writes, read-only replicas,
//! name clashes, and cross-account association.

mod extra_support;

use aws_sdk_secretsmanager::types::{ReplicaRegionType, StatusType};
use extra_support::{assert_err, client, client_as, raw_call, start};
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

#[tokio::test]
async fn cross_account_association() {
    // The pinned Rust SDK predates the cross-account operations: they are sent as raw JSON 1.1 calls.
    let (emu, c) = start().await;
    let other = client_as(&emu.endpoint(), "us-east-1", "111122223333");
    let call = |op: &'static str, body: serde_json::Value| {
        raw_call(emu.addr(), "AKIDEXAMPLE", "us-east-1", op, body)
    };
    let primary = c
        .create_secret()
        .name("xa/p")
        .secret_string("v")
        .send()
        .await
        .expect("primary");
    let primary_arn = primary.arn().expect("arn").to_string();
    let replica = other
        .create_secret()
        .name("xa/r")
        .secret_string("r")
        .send()
        .await
        .expect("replica secret");
    let replica_arn = replica.arn().expect("arn").to_string();
    assert!(replica_arn.contains(":111122223333:"));
    let assoc = json!({"SecretId": "xa/p", "CrossAccountReplicaARN": replica_arn});
    let (status, out) = call("AssociateCrossAccountReplica", assoc.clone()).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["ARN"], json!(primary_arn));
    assert_eq!(out["ReplicationStatus"], json!("InSync"));
    let (_, d) = call("DescribeSecret", json!({"SecretId": "xa/p"})).await;
    assert_eq!(
        d["CrossAccountReplicas"][0]["ReplicaSecretARN"],
        json!(replica_arn)
    );
    let (_, rd) = raw_call(
        emu.addr(),
        "111122223333",
        "us-east-1",
        "DescribeSecret",
        json!({"SecretId": "xa/r"}),
    )
    .await;
    assert_eq!(
        rd["CrossAccountPrimary"]["PrimarySecretARN"],
        json!(primary_arn)
    );
    // Idempotent; a second, different replica exceeds the limit of one.
    assert_eq!(
        call("AssociateCrossAccountReplica", assoc.clone()).await.0,
        200
    );
    let second = replica_arn.replace("xa/r", "xa/q");
    let (status, e) = call(
        "AssociateCrossAccountReplica",
        json!({"SecretId": "xa/p", "CrossAccountReplicaARN": second}),
    )
    .await;
    assert_eq!(
        (status, &e["__type"]),
        (400, &json!("LimitExceededException")),
        "{e}"
    );
    let elsewhere = replica_arn.replace("us-east-1", "eu-west-1");
    let (_, e) = call(
        "AssociateCrossAccountReplica",
        json!({"SecretId": "xa/p", "CrossAccountReplicaARN": elsewhere}),
    )
    .await;
    assert_eq!(e["__type"], json!("InvalidParameterException"), "{e}");
    let (_, e) = call(
        "AssociateCrossAccountReplica",
        json!({"SecretId": "xa/none", "CrossAccountReplicaARN": replica_arn}),
    )
    .await;
    assert_eq!(e["__type"], json!("ResourceNotFoundException"), "{e}");
    let (_, e) = call("AssociateCrossAccountReplica", json!({"SecretId": "xa/p"})).await;
    assert_eq!(e["__type"], json!("ValidationException"), "{e}");

    let (status, dis) = call("DisassociateCrossAccountReplica", assoc.clone()).await;
    assert_eq!(status, 200, "{dis}");
    assert_eq!(dis["CrossAccountReplicaARN"], json!(replica_arn));
    let (_, rd) = raw_call(
        emu.addr(),
        "111122223333",
        "us-east-1",
        "DescribeSecret",
        json!({"SecretId": "xa/r"}),
    )
    .await;
    assert_eq!(
        rd["CrossAccountPrimary"]["ReplicationStatus"],
        json!("Detached")
    );
    let (_, d) = call("DescribeSecret", json!({"SecretId": "xa/p"})).await;
    assert!(d.get("CrossAccountReplicas").is_none(), "{d}");
    let (_, e) = call("DisassociateCrossAccountReplica", assoc.clone()).await;
    assert_eq!(e["__type"], json!("InvalidRequestException"), "{e}");
    // The detached replica becomes standalone with StopReplicationToReplica in its account.
    other
        .stop_replication_to_replica()
        .secret_id("xa/r")
        .send()
        .await
        .expect("stop detached replica");
    let (_, rd) = raw_call(
        emu.addr(),
        "111122223333",
        "us-east-1",
        "DescribeSecret",
        json!({"SecretId": "xa/r"}),
    )
    .await;
    assert!(rd.get("CrossAccountPrimary").is_none(), "{rd}");
    // A replica the emulator does not hold is recorded as Failed.
    let ghost = "arn:aws:secretsmanager:us-east-1:444455556666:secret:ghost-AbCdEf";
    let (_, out) = call(
        "AssociateCrossAccountReplica",
        json!({"SecretId": "xa/p", "CrossAccountReplicaARN": ghost}),
    )
    .await;
    assert_eq!(out["ReplicationStatus"], json!("Failed"), "{out}");
    emu.shutdown().await;
}

#[tokio::test]
async fn replicas_and_their_versions_survive_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let start_at = |dir: std::path::PathBuf| async move {
        secretsmanager_emulator::Emulator::builder()
            .data_dir(dir)
            .start()
            .await
            .expect("emulator starts")
    };
    let emu = start_at(dir.path().to_path_buf()).await;
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

    let emu = start_at(dir.path().to_path_buf()).await;
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
