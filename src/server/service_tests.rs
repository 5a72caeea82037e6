//! Unit tests of the service: one store call per valid request, none for an invalid one, store
//! failures reported in `userFriendlyError` with status OK, except GetAllSecrets (non-OK status).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use tonic::Request;

use super::pb;
use super::SecretsManager;
use super::SecretsService;
use crate::backends::memory::MemoryStore;
use crate::backends::{Error, Result, SecretStore};
use crate::domain::{Item, ListFilter, Rename, SecretKey, SecretValue};

/// Counts calls and either forwards them to a real store or fails them all.
#[derive(Debug)]
struct Probe {
    inner: Option<MemoryStore>,
    calls: AtomicUsize,
}

impl Probe {
    fn count(&self) -> Result<&MemoryStore> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner
            .as_ref()
            .ok_or_else(|| Error::Unavailable("backend unreachable".into()))
    }
}

#[async_trait]
impl SecretStore for Probe {
    fn name(&self) -> &'static str {
        "probe"
    }
    async fn get(&self, key: &SecretKey) -> Result<Option<SecretValue>> {
        self.count()?.get(key).await
    }
    async fn set(&self, key: &SecretKey, value: &SecretValue) -> Result<()> {
        self.count()?.set(key, value).await
    }
    async fn delete(&self, key: &SecretKey) -> Result<()> {
        self.count()?.delete(key).await
    }
    async fn list(&self, filter: &ListFilter) -> Result<Vec<SecretKey>> {
        self.count()?.list(filter).await
    }
    async fn rename_key(&self, rename: &Rename) -> Result<()> {
        self.count()?.rename_key(rename).await
    }
    async fn get_all(&self) -> Result<Vec<Item>> {
        self.count()?.get_all().await
    }
}

fn key(org: i64, ns: &str) -> Option<pb::Key> {
    Some(pb::Key {
        org_id: org,
        namespace: ns.into(),
        r#type: "datasource".into(),
    })
}

/// SetSecret through the service, which must answer gRPC OK.
async fn set(
    svc: &SecretsService,
    key_descriptor: Option<pb::Key>,
    value: &str,
) -> pb::SetSecretResponse {
    let request = pb::SetSecretRequest {
        key_descriptor,
        value: value.into(),
    };
    answered("SetSecret", svc.set_secret(Request::new(request)).await)
}

/// The answer of an RPC that must answer gRPC OK (a status fails the test, naming `method`).
fn answered<T>(method: &str, answer: std::result::Result<tonic::Response<T>, tonic::Status>) -> T {
    answer
        .unwrap_or_else(|s| panic!("{method} answered a non-OK status: {s:?}"))
        .into_inner()
}

#[tokio::test]
async fn one_store_call_per_valid_request_none_for_invalid() {
    let probe = Arc::new(Probe {
        inner: Some(MemoryStore::new()),
        calls: AtomicUsize::new(0),
    });
    let svc = SecretsService::new(probe.clone());
    let calls = || probe.calls.load(Ordering::SeqCst);

    let r = set(&svc, key(1, "a"), "v").await;
    assert_eq!((r.user_friendly_error.as_str(), calls()), ("", 1));
    let r = svc
        .get_secret(Request::new(pb::GetSecretRequest {
            key_descriptor: key(1, "a"),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (r.exists, r.decrypted_value.as_str(), calls()),
        (true, "v", 2)
    );
    svc.list_secrets(Request::new(pb::ListSecretsRequest {
        key_descriptor: key(1, "a"),
        all_organizations: false,
    }))
    .await
    .unwrap();
    let request = pb::RenameSecretRequest {
        key_descriptor: key(1, "a"),
        new_namespace: "b".into(),
    };
    answered(
        "RenameSecret",
        svc.rename_secret(Request::new(request)).await,
    );
    svc.get_all_secrets(Request::new(pb::GetAllSecretsRequest {}))
        .await
        .unwrap();
    svc.delete_secret(Request::new(pb::DeleteSecretRequest {
        key_descriptor: key(1, "b"),
    }))
    .await
    .unwrap();
    assert_eq!(calls(), 6);

    // Invalid requests never reach the store.
    let r = set(&svc, key(-1, "a"), "v").await;
    assert!(r.user_friendly_error.contains("negative"), "{r:?}");
    let r = set(&svc, key(1, "a"), &"x".repeat(65_537)).await;
    assert!(r.user_friendly_error.contains("65537 bytes"), "{r:?}");
    let request = pb::RenameSecretRequest {
        key_descriptor: key(1, "a"),
        new_namespace: "x\u{7}".into(),
    };
    let r = answered(
        "RenameSecret",
        svc.rename_secret(Request::new(request)).await,
    );
    assert!(r.user_friendly_error.contains("control character"), "{r:?}");
    assert_eq!(calls(), 6);
}

#[tokio::test]
async fn store_failures_are_ok_status_with_a_named_key_except_get_all() {
    let svc = SecretsService::new(Arc::new(Probe {
        inner: None,
        calls: AtomicUsize::new(0),
    }));
    let r = svc
        .get_secret(Request::new(pb::GetSecretRequest {
            key_descriptor: key(4, "prod"),
        }))
        .await
        .expect("GetSecret never answers a non-OK status")
        .into_inner();
    assert!(!r.exists && r.decrypted_value.is_empty());
    let e = r.user_friendly_error;
    assert!(
        e.contains("org 4") && e.contains("\"prod\"") && e.contains("try again"),
        "{e}"
    );
    let r = set(&svc, key(4, "prod"), "hunter2").await;
    assert!(r.user_friendly_error.contains("could not store"), "{r:?}");
    assert!(!r.user_friendly_error.contains("hunter2"));
    // GetAllSecrets is the exception: Grafana's from-plugin migration reads only the status.
    let status = svc
        .get_all_secrets(Request::new(pb::GetAllSecretsRequest {}))
        .await
        .expect_err("a failed GetAllSecrets must not answer OK");
    assert_eq!(status.code(), tonic::Code::Unavailable);
    assert!(
        status.message().contains("could not read all secrets")
            && status.message().contains("try again"),
        "{status:?}"
    );
    let r = svc
        .list_secrets(Request::new(pb::ListSecretsRequest {
            key_descriptor: key(4, "prod"),
            all_organizations: true,
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(!r.user_friendly_error.is_empty() && r.keys.is_empty());
}

#[test]
fn get_all_status_codes_follow_the_error_kind() {
    use super::errors::grpc_code;
    use tonic::Code;
    let cases = [
        (Error::Throttled("slow down".into()), Code::Unavailable),
        (
            Error::Unavailable("connection refused".into()),
            Code::Unavailable,
        ),
        (Error::Config("no region".into()), Code::FailedPrecondition),
        (
            Error::PermissionDenied("iam".into()),
            Code::FailedPrecondition,
        ),
        (
            Error::Crypto("kms key disabled".into()),
            Code::FailedPrecondition,
        ),
        (Error::Corrupt("bad envelope".into()), Code::DataLoss),
        (Error::Conflict("busy".into()), Code::Aborted),
        (Error::Storage("disk".into()), Code::Internal),
    ];
    for (err, code) in cases {
        assert_eq!(grpc_code(&err), code, "{err}");
    }
}
