//! Replication through the real SDK: AddReplicaRegions on CreateSecret, ReplicateSecretToRegions,
//! RemoveRegionsFromReplication, StopReplicationToReplica, propagation of writes, read-only replicas,
//! name clashes, and cross-account association.

mod common;

use aws_sdk_secretsmanager::operation::create_secret::CreateSecretOutput;
use aws_sdk_secretsmanager::operation::remove_regions_from_replication::{
    RemoveRegionsFromReplicationError, RemoveRegionsFromReplicationOutput,
};
use aws_sdk_secretsmanager::operation::replicate_secret_to_regions::{
    ReplicateSecretToRegionsError, ReplicateSecretToRegionsOutput,
};
use aws_sdk_secretsmanager::operation::stop_replication_to_replica::{
    StopReplicationToReplicaError, StopReplicationToReplicaOutput,
};
use aws_sdk_secretsmanager::types::{ReplicaRegionType, StatusType};
use aws_sdk_secretsmanager::Client;
use common::{
    assert_case, assert_code, assert_err, client_in, create, create_request, current, delete,
    describe, get, get_at, put, raw_call, start, value_at, Sdk,
};
use serde_json::json;

fn region(r: &str) -> ReplicaRegionType {
    ReplicaRegionType::builder().region(r).build()
}

/// CreateSecret of `name` with string `value` and a replica in `replica_region`.
async fn create_replicated(
    c: &Client,
    name: &str,
    value: &str,
    replica_region: &str,
) -> CreateSecretOutput {
    create_request(c, name, value)
        .add_replica_regions(region(replica_region))
        .send()
        .await
        .expect("create with replica")
}

/// ReplicateSecretToRegions of `id` to region `to`.
async fn replicate(
    c: &Client,
    id: &str,
    to: &str,
) -> Sdk<ReplicateSecretToRegionsOutput, ReplicateSecretToRegionsError> {
    c.replicate_secret_to_regions()
        .secret_id(id)
        .add_replica_regions(region(to))
        .send()
        .await
}

/// RemoveRegionsFromReplication of region `from` for `id`.
async fn unreplicate(
    c: &Client,
    id: &str,
    from: &str,
) -> Sdk<RemoveRegionsFromReplicationOutput, RemoveRegionsFromReplicationError> {
    c.remove_regions_from_replication()
        .secret_id(id)
        .remove_replica_regions(from)
        .send()
        .await
}

/// StopReplicationToReplica of `id` (sent in the replica's region).
async fn stop_replication(
    c: &Client,
    id: &str,
) -> Sdk<StopReplicationToReplicaOutput, StopReplicationToReplicaError> {
    c.stop_replication_to_replica().secret_id(id).send().await
}

#[tokio::test]
async fn replicas_are_read_only_copies_kept_in_sync() {
    let (emu, c) = start().await;
    let eu = client_in(&emu.endpoint(), "eu-west-1");
    let ap = client_in(&emu.endpoint(), "ap-south-1");
    let out = create_replicated(&c, "rep/a", "v1", "eu-west-1").await;
    let arn = out.arn().expect("arn").to_string();
    let status = out.replication_status();
    assert_eq!(status.len(), 1);
    assert_eq!(
        (status[0].region(), status[0].status()),
        (Some("eu-west-1"), Some(&StatusType::InSync))
    );

    let rep = describe(&eu, "rep/a").await.expect("replica exists");
    assert_eq!(
        rep.arn(),
        Some(arn.replace(":us-east-1:", ":eu-west-1:").as_str()),
        "same name and suffix"
    );
    assert_eq!(rep.primary_region(), Some("us-east-1"));
    assert_eq!(current(&eu, "rep/a").await.as_deref(), Some("v1"));
    let primary = describe(&c, "rep/a").await.expect("primary");
    assert_eq!(primary.primary_region(), Some("us-east-1"));
    assert_eq!(primary.replication_status().len(), 1);

    // Writes on the primary reach the replica; writes on the replica are refused.
    put(&c, "rep/a", "v2").await.expect("put on primary");
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
    assert_eq!(current(&eu, "rep/a").await.as_deref(), Some("v2"));
    let prev = get_at(&eu, "rep/a", Some("AWSPREVIOUS"))
        .await
        .expect("prev");
    assert_eq!(prev.secret_string(), Some("v1"));
    assert_eq!(describe(&eu, "rep/a").await.expect("d").tags().len(), 1);
    let ro = "Operation not permitted on a replica secret";
    assert_err(put(&eu, "rep/a", "x").await, "InvalidRequestException", ro);
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
        replicate(&eu, "rep/a", "ap-south-1").await,
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
    let more = replicate(&c, "rep/a", "ap-south-1")
        .await
        .expect("replicate");
    assert_eq!(more.replication_status().len(), 2);
    assert_eq!(current(&ap, "rep/a").await.as_deref(), Some("v2"));
    // (case, secret, region, expected error code, text its message contains)
    for (case, id, to, want, needle) in [
        (
            "the primary's own region",
            "rep/a",
            "us-east-1",
            "InvalidParameterException",
            "Invalid replica region.",
        ),
        (
            "a malformed region",
            "rep/a",
            "Mars",
            "ValidationException",
            "regular expression",
        ),
        (
            "an unknown secret",
            "rep/none",
            "eu-west-2",
            "ResourceNotFoundException",
            "",
        ),
    ] {
        assert_case(case, replicate(&c, id, to).await, want, needle);
    }

    // RemoveRegionsFromReplication deletes the replica.
    let removed = unreplicate(&c, "rep/a", "ap-south-1")
        .await
        .expect("remove");
    assert_eq!(removed.replication_status().len(), 1);
    assert_code(describe(&ap, "rep/a").await, "ResourceNotFoundException");
    for (case, id, from, want, needle) in [
        (
            "a region not replicated to",
            "rep/a",
            "ap-south-1",
            "InvalidParameterException",
            "not replicated",
        ),
        (
            "an unknown secret",
            "rep/none",
            "eu-west-1",
            "ResourceNotFoundException",
            "",
        ),
    ] {
        assert_case(case, unreplicate(&c, id, from).await, want, needle);
    }

    // StopReplicationToReplica (in the replica's region) promotes the replica.
    let stopped = stop_replication(&eu, "rep/a").await.expect("stop");
    assert!(stopped.arn().is_some_and(|a| a.contains(":eu-west-1:")));
    let standalone = describe(&eu, "rep/a").await.expect("standalone");
    assert_eq!(standalone.primary_region(), None);
    put(&eu, "rep/a", "eu-only").await.expect("writable now");
    assert_eq!(current(&c, "rep/a").await.as_deref(), Some("v2"));
    assert!(describe(&c, "rep/a")
        .await
        .expect("primary")
        .replication_status()
        .is_empty());
    delete(&c, "rep/a", None).await.expect("deletable now");
    assert_eq!(
        value_at(&eu, "rep/a", Some("AWSPREVIOUS")).await.as_deref(),
        Some("v2"),
        "promotion copied the values"
    );
    for (case, id, want, needle) in [
        (
            "no longer a replica",
            "rep/a",
            "InvalidRequestException",
            "not a replica",
        ),
        (
            "an unknown secret",
            "rep/none",
            "ResourceNotFoundException",
            "",
        ),
    ] {
        assert_case(case, stop_replication(&eu, id).await, want, needle);
    }
    emu.shutdown().await;
}

#[tokio::test]
async fn deleting_a_replica_removes_it_from_the_primary() {
    let (emu, c) = start().await;
    let eu = client_in(&emu.endpoint(), "eu-west-1");
    create_replicated(&c, "rep/del", "v", "eu-west-1").await;
    eu.delete_secret()
        .secret_id("rep/del")
        .send()
        .await
        .expect("delete the replica");
    assert_code(describe(&eu, "rep/del").await, "ResourceNotFoundException");
    let d = describe(&c, "rep/del").await.expect("primary");
    assert!(
        d.replication_status().is_empty(),
        "{:?}",
        d.replication_status()
    );
    assert_eq!(d.primary_region(), None);
    put(&c, "rep/del", "v2").await.expect("put");
    assert_code(describe(&eu, "rep/del").await, "ResourceNotFoundException");
    delete(&c, "rep/del", None)
        .await
        .expect("primary deletable");
    emu.shutdown().await;
}

#[tokio::test]
async fn name_clash_fails_unless_forced() {
    let (emu, c) = start().await;
    let eu = client_in(&emu.endpoint(), "eu-west-1");
    create(&eu, "rep/clash", "eu-own").await;
    let out = create_replicated(&c, "rep/clash", "primary", "eu-west-1").await;
    let st = &out.replication_status()[0];
    assert_eq!(st.status(), Some(&StatusType::Failed));
    assert!(st
        .status_message()
        .is_some_and(|m| m.contains("already exists")));
    assert_eq!(current(&eu, "rep/clash").await.as_deref(), Some("eu-own"));
    put(&c, "rep/clash", "p2").await.expect("put");
    assert_eq!(current(&eu, "rep/clash").await.as_deref(), Some("eu-own"));

    create(&c, "rep/force", "primary").await;
    create(&eu, "rep/force", "eu-own").await;
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
    assert_eq!(current(&eu, "rep/force").await.as_deref(), Some("primary"));
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

/// The body of a PutSecretValue of `value` to `id`, its ClientRequestToken 32 times `token`.
fn put_value(id: &str, value: &str, token: char) -> serde_json::Value {
    json!({"SecretId": id, "SecretString": value, "ClientRequestToken": token.to_string().repeat(32)})
}

#[track_caller]
fn assert_type(got: &(u16, serde_json::Value), want: &str) {
    assert_eq!((got.0, &got.1["__type"]), (400, &json!(want)), "{}", got.1);
}

#[tokio::test]
async fn cross_account_replication_from_creation_to_standalone() {
    // The pinned Rust SDK predates the cross-account operations: they are sent as raw JSON 1.1 calls.
    let emu = start_with_replica_key(None).await;
    let e = &emu;
    // raw calls as the primary's account and as the replica's
    let primary = move |op: &'static str, body: serde_json::Value| xa(e, "AKIDEXAMPLE", op, body);
    let replica = move |op: &'static str, body: serde_json::Value| xa(e, OTHER, op, body);
    let (_, p) = primary(
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
            &replica("CreateSecret", body).await,
            "InvalidParameterException",
        );
    }
    let (status, r) = replica("CreateSecret", create(json!({}))).await;
    assert_eq!(status, 200, "{r}");
    let replica_arn = r["ARN"].as_str().expect("replica ARN").to_string();
    assert!(r.get("VersionId").is_none(), "{r}");
    let (_, rd) = replica("DescribeSecret", json!({"SecretId": "xa/r"})).await;
    assert_eq!(
        rd["CrossAccountPrimary"],
        json!({"PrimarySecretARN": primary_arn, "ReplicationStatus": "Pending"})
    );
    let (_, pol) = replica("ListResourcePolicies", json!({"SecretId": "xa/r"})).await;
    assert!(
        pol.to_string().contains("cross-account-replication"),
        "{pol}"
    );
    assert_type(
        &replica("GetSecretValue", json!({"SecretId": "xa/r"})).await,
        "ResourceNotFoundException",
    );

    // Association from the primary's account starts replication.
    let assoc = json!({"SecretId": "xa/p", "CrossAccountReplicaARN": replica_arn});
    let (_, plain) = replica(
        "CreateSecret",
        json!({"Name": "xa/plain", "SecretString": "p", "ClientRequestToken": "w".repeat(32)}),
    )
    .await;
    let naming =
        |replica: serde_json::Value| json!({"SecretId": "xa/p", "CrossAccountReplicaARN": replica});
    for (case, body, want) in [
        (
            "unknown replica",
            naming(json!(replica_arn.replace("xa/r", "xa/none"))),
            "ResourceNotFoundException",
        ),
        (
            "not a replica",
            naming(plain["ARN"].clone()),
            "InvalidRequestException",
        ),
        (
            "replica in another region",
            naming(json!(replica_arn.replace("us-east-1", "eu-west-1"))),
            "InvalidParameterException",
        ),
        (
            "no replica named",
            json!({"SecretId": "xa/p"}),
            "ValidationException",
        ),
    ] {
        let got = primary("AssociateCrossAccountReplica", body).await;
        assert_eq!(
            (got.0, &got.1["__type"]),
            (400, &json!(want)),
            "{case}: {}",
            got.1
        );
    }
    let (status, out) = primary("AssociateCrossAccountReplica", assoc.clone()).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(
        out,
        json!({"ARN": primary_arn, "CrossAccountReplicaARN": replica_arn, "ReplicationStatus": "InSync"})
    );
    assert_eq!(
        primary("AssociateCrossAccountReplica", assoc.clone())
            .await
            .0,
        200,
        "idempotent"
    );
    assert_type(
        &primary("AssociateCrossAccountReplica", naming(plain["ARN"].clone())).await,
        "LimitExceededException",
    );
    let value = move |stage: &'static str| async move {
        let (_, v) = replica(
            "GetSecretValue",
            json!({"SecretId": "xa/r", "VersionStage": stage}),
        )
        .await;
        v["SecretString"].clone()
    };
    assert_eq!(value("AWSCURRENT").await, json!("v1"));
    let (_, pd) = primary("DescribeSecret", json!({"SecretId": "xa/p"})).await;
    let (_, rd) = replica("DescribeSecret", json!({"SecretId": "xa/r"})).await;
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
    let (status, _) = primary("PutSecretValue", put_value("xa/p", "v2", 'x')).await;
    assert_eq!(status, 200);
    assert_eq!(value("AWSCURRENT").await, json!("v2"));
    assert_eq!(value("AWSPREVIOUS").await, json!("v1"));
    let put_on_replica = put_value("xa/r", "mine", 'y');
    assert_type(
        &replica("PutSecretValue", put_on_replica.clone()).await,
        "InvalidRequestException",
    );
    let (status, _) = replica(
        "TagResource",
        json!({"SecretId": "xa/r", "Tags": [{"Key": "team", "Value": "b"}]}),
    )
    .await;
    assert_eq!(status, 200, "a replica's tags are its own");
    // Neither side can be deleted before it stops replication from its own side.
    assert_type(
        &primary("DeleteSecret", json!({"SecretId": "xa/p"})).await,
        "InvalidRequestException",
    );
    assert_type(
        &replica(
            "DeleteSecret",
            json!({"SecretId": "xa/r", "ForceDeleteWithoutRecovery": true}),
        )
        .await,
        "InvalidRequestException",
    );

    // Disassociation: the replica keeps its values, Detached, still read-only.
    let (status, dis) = primary("DisassociateCrossAccountReplica", assoc.clone()).await;
    assert_eq!(status, 200, "{dis}");
    assert_eq!(dis["CrossAccountReplicaARN"], json!(replica_arn));
    assert_type(
        &primary("DisassociateCrossAccountReplica", assoc.clone()).await,
        "InvalidRequestException",
    );
    let (_, pd) = primary("DescribeSecret", json!({"SecretId": "xa/p"})).await;
    assert!(pd.get("CrossAccountReplicas").is_none(), "{pd}");
    primary("PutSecretValue", put_value("xa/p", "v3", 'z')).await;
    assert_eq!(
        value("AWSCURRENT").await,
        json!("v2"),
        "no updates after disassociation"
    );
    let (_, rd) = replica("DescribeSecret", json!({"SecretId": "xa/r"})).await;
    assert_eq!(
        rd["CrossAccountPrimary"]["ReplicationStatus"],
        json!("Detached")
    );
    assert_type(
        &replica("PutSecretValue", put_on_replica.clone()).await,
        "InvalidRequestException",
    );

    // StopReplicationToReplica in the replica's account makes it standalone.
    let (status, out) = replica("StopReplicationToReplica", json!({"SecretId": "xa/r"})).await;
    assert_eq!((status, &out["ARN"]), (200, &json!(replica_arn)), "{out}");
    let (_, rd) = replica("DescribeSecret", json!({"SecretId": "xa/r"})).await;
    assert!(rd.get("CrossAccountPrimary").is_none(), "{rd}");
    let (_, pol) = replica("ListResourcePolicies", json!({"SecretId": "xa/r"})).await;
    assert!(
        !pol.to_string().contains("cross-account-replication"),
        "{pol}"
    );
    assert_eq!(value("AWSCURRENT").await, json!("v2"));
    assert_eq!(replica("PutSecretValue", put_on_replica).await.0, 200);
    assert_eq!(value("AWSCURRENT").await, json!("mine"));
    assert_eq!(
        primary("DeleteSecret", json!({"SecretId": "xa/p"})).await.0,
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
    xa(&emu, me, "PutSecretValue", put_value("xr/p", "two", 'b')).await;
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
    xa(&emu, me, "PutSecretValue", put_value("xr/p", "three", 'c')).await;
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
    let c = client_in(&emu.endpoint(), "us-east-1");
    create_replicated(&c, "rep/persist", "v1", "eu-west-1").await;
    put(&c, "rep/persist", "v2").await.expect("put on primary");
    replicate(&c, "rep/persist", "ap-south-1")
        .await
        .expect("replicate to a second region");
    emu.shutdown().await;

    let emu = start_with_replica_key(Some(dir.path())).await;
    for r in ["eu-west-1", "ap-south-1"] {
        let rc = client_in(&emu.endpoint(), r);
        let got = get(&rc, "rep/persist")
            .await
            .unwrap_or_else(|e| panic!("replica in {r} after restart: {e:?}"));
        assert_eq!(got.secret_string(), Some("v2"), "{r}");
        let prev = get_at(&rc, "rep/persist", Some("AWSPREVIOUS"))
            .await
            .unwrap_or_else(|e| panic!("AWSPREVIOUS in {r} after restart: {e:?}"));
        assert_eq!(prev.secret_string(), Some("v1"), "{r}");
        let d = describe(&rc, "rep/persist")
            .await
            .expect("describe replica");
        assert_eq!(d.version_ids_to_stages().map(|m| m.len()), Some(2), "{r}");
    }
    emu.shutdown().await;
}
