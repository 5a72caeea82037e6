//! The `secretsmanagerplugin.SecretsManager` gRPC service: each RPC converts the request into
//! domain types (rejecting bad keys and values with a `userFriendlyError`), makes exactly one
//! store call and converts the answer back. GetSecret, SetSecret, DeleteSecret, ListSecrets and
//! RenameSecret always answer gRPC OK, with failures in `userFriendlyError` (Grafana crashes on a
//! non-OK GetSecret). GetAllSecrets answers a non-OK status when the store fails (its only
//! caller, Grafana's from-plugin migration, ignores `userFriendlyError`). At trace level each
//! call is logged with its method, key, duration and outcome, never its value; with an audit log
//! every call also gets its audit line before it answers (a call whose line cannot be written
//! fails).

use std::fmt::Display;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tonic::{Request, Response, Status};

use super::audit::{AuditLog, Entry};
use super::errors::{self, Operation};
use super::proto::secretsmanager as pb;
use super::proto::secretsmanager::secrets_manager_server::SecretsManager;
use crate::backends::{self, SecretStore};
use crate::domain::{InvalidInput, ListFilter, Rename, SecretKey, SecretValue};

/// The gRPC service over one store.
#[derive(Debug, Clone)]
pub struct SecretsService {
    store: Arc<dyn SecretStore>,
    audit: Option<Arc<AuditLog>>,
}

impl SecretsService {
    /// Serves `store`.
    pub fn new(store: Arc<dyn SecretStore>) -> Self {
        Self { store, audit: None }
    }

    /// Serves `store`, writing an audit line for every call to `audit`.
    pub fn with_audit(store: Arc<dyn SecretStore>, audit: Option<Arc<AuditLog>>) -> Self {
        Self { store, audit }
    }

    /// Starts a call of `op`; its caller is read from the request only when it will be audited.
    fn call<T>(&self, op: Operation, request: &Request<T>) -> Call {
        let caller = self.audit.as_ref().map(|_| caller_of(request));
        Call {
            op,
            started: Instant::now(),
            audit: caller.map(|caller| {
                Mutex::new(Entry {
                    operation: op.rpc(),
                    caller,
                    ..Entry::default()
                })
            }),
        }
    }

    /// Writes `call`'s audit line (when there is an audit log), for an answer that succeeded
    /// (`ok`) or not. `Err` is the text of the failure the caller must get instead of its answer.
    async fn audited(&self, call: Call, ok: bool) -> Result<(), String> {
        let (Some(log), Some(entry)) = (&self.audit, call.audit) else {
            return Ok(());
        };
        let mut entry = entry.into_inner().unwrap_or_else(|p| p.into_inner());
        if entry.outcome.is_empty() {
            entry.outcome = if ok { "ok" } else { "rejected" }.to_string();
            if !ok {
                entry.error = Some("invalid_input");
            }
        }
        entry.latency_us = call.started.elapsed().as_micros() as u64;
        let written = if call.op.writes() {
            let log = Arc::clone(log);
            tokio::task::spawn_blocking(move || log.record(&entry, true))
                .await
                .unwrap_or_else(|e| {
                    Err(super::audit::AuditError::Io {
                        path: "<audit task>".into(),
                        action: "writing a line",
                        source: std::io::Error::other(e.to_string()),
                    })
                })
        } else {
            log.record(&entry, false)
        };
        written.map_err(|e| {
            tracing::error!(method = call.op.rpc(), error = %e, "audit line not written; failing the call");
            format!(
                "{}: the audit log could not be written, so the call is reported as failed ({e})",
                call.op.rpc()
            )
        })
    }

    /// Audits `call` and answers an in-band RPC.
    async fn answer<R: InBand>(
        &self,
        call: Call,
        answer: Result<R, String>,
    ) -> Result<Response<R>, Status> {
        match self.audited(call, answer.is_ok()).await {
            Ok(()) => in_band(answer),
            Err(text) => in_band(Err(text)),
        }
    }
}

/// Who sent `request`: its TCP peer, or the process credentials of a Unix-socket peer (Grafana,
/// in plugin mode), or `plugin host` when the transport tells neither.
fn caller_of<T>(request: &Request<T>) -> String {
    if let Some(addr) = request.remote_addr() {
        return addr.to_string();
    }
    #[cfg(unix)]
    if let Some(info) = request
        .extensions()
        .get::<tonic::transport::server::UdsConnectInfo>()
    {
        if let Some(cred) = &info.peer_cred {
            return match cred.pid() {
                Some(pid) => format!("pid {pid} uid {}", cred.uid()),
                None => format!("uid {}", cred.uid()),
            };
        }
    }
    "plugin host".to_string()
}

/// The audit name of a store error's kind.
fn error_kind(e: &backends::Error) -> &'static str {
    use backends::Error as E;
    match e {
        E::InvalidInput(_) => "invalid_input",
        E::Config(_) => "config",
        E::PermissionDenied(_) => "permission_denied",
        E::Throttled(_) => "throttled",
        E::Unavailable(_) => "unavailable",
        E::Conflict(_) => "conflict",
        E::NotOwned(_) => "not_owned",
        E::Crypto(_) => "crypto",
        E::Corrupt(_) => "corrupt",
        E::Storage(_) => "storage",
    }
}

/// The key as the request spelled it, for messages about keys that failed validation.
fn describe(k: &pb::Key) -> String {
    format!(
        "org {}, namespace {:?}, type {:?}",
        k.org_id, k.namespace, k.r#type
    )
}

/// The `userFriendlyError` text for a request without a key descriptor.
fn missing_key(op: Operation) -> String {
    format!(
        "{}: the request has no keyDescriptor; send orgId, namespace and type",
        op.rpc()
    )
}

/// Validates the request's key; `Err` is the finished `userFriendlyError` text.
fn to_key(op: Operation, k: Option<&pb::Key>) -> Result<SecretKey, String> {
    let k = k.ok_or_else(|| missing_key(op))?;
    SecretKey::new(k.org_id, k.namespace.clone(), k.r#type.clone())
        .map_err(|e| rejected(op, &describe(k), &e))
}

fn rejected(op: Operation, what: &str, problem: &InvalidInput) -> String {
    tracing::warn!(method = op.rpc(), key = what, error = %problem, "request rejected");
    errors::invalid_request(op, what, problem)
}

fn from_key(key: &SecretKey) -> pb::Key {
    pb::Key {
        org_id: key.org_id(),
        namespace: key.namespace().to_string(),
        r#type: key.kind().to_string(),
    }
}

/// Trace line for one finished call (never the value).
fn traced(op: Operation, key: &dyn Display, started: Instant, outcome: &str) {
    tracing::trace!(
        method = op.rpc(),
        key = %key,
        duration_us = started.elapsed().as_micros() as u64,
        outcome,
        "rpc"
    );
}

/// A failed store call, already logged by [`errors::report`]: its `userFriendlyError` text and
/// the gRPC status code [`errors::grpc_code`] gives it (used only by GetAllSecrets).
struct Reported {
    text: String,
    code: tonic::Code,
}

impl From<Reported> for String {
    fn from(reported: Reported) -> String {
        reported.text
    }
}

/// One RPC in progress: which RPC, when its request arrived (for the trace line's duration) and,
/// when the service has an audit log, the audit entry it fills in.
struct Call {
    op: Operation,
    started: Instant,
    audit: Option<Mutex<Entry>>,
}

impl Call {
    /// Fills in the audit entry (no-op without an audit log).
    fn note(&self, fill: impl FnOnce(&mut Entry)) {
        if let Some(entry) = &self.audit {
            fill(&mut entry.lock().unwrap_or_else(|p| p.into_inner()));
        }
    }

    /// Records the key as the request sent it (before validation, so that rejected calls name it).
    fn about(&self, k: Option<&pb::Key>) {
        if let Some(k) = k {
            self.note(|e| {
                e.org_id = Some(k.org_id);
                e.namespace = Some(k.namespace.clone());
                e.kind = Some(k.r#type.clone());
            });
        }
    }

    /// Awaits the call's one store call and traces it under `subject` (outcome from `outcome` on
    /// success, "error" on failure; never a value). A failure is logged at its severity and mapped
    /// to its text and code by the table in `errors`; `key` is the key the message names.
    async fn store<T>(
        &self,
        subject: &(impl Display + Sync),
        key: Option<&SecretKey>,
        store_call: impl Future<Output = backends::Result<T>>,
        outcome: impl FnOnce(&T) -> String,
    ) -> Result<T, Reported> {
        // Only an audited call asks the decorators what they saw.
        let result = if self.audit.is_some() {
            let (result, cache) = backends::call_notes::observe(store_call).await;
            self.note(|e| e.cache = cache.map(|c| c.as_str()));
            result
        } else {
            store_call.await
        };
        match result {
            Ok(answer) => {
                let outcome = outcome(&answer);
                traced(self.op, subject, self.started, &outcome);
                self.note(|e| e.outcome = outcome);
                Ok(answer)
            }
            Err(e) => {
                traced(self.op, subject, self.started, "error");
                self.note(|entry| {
                    entry.outcome = "error".to_string();
                    entry.error = Some(error_kind(&e));
                });
                Err(Reported {
                    text: errors::report(self.op, key, &e),
                    code: errors::grpc_code(&e),
                })
            }
        }
    }

    /// [`Call::store`] for a store call on `key` that answers nothing (outcome "ok"); `Err` is
    /// the `userFriendlyError` text.
    async fn store_key_op(
        &self,
        key: &SecretKey,
        store_call: impl Future<Output = backends::Result<()>>,
    ) -> Result<(), String> {
        self.store(key, Some(key), store_call, |()| "ok".to_string())
            .await
            .map_err(String::from)
    }
}

/// A response that reports failures in-band, in its `userFriendlyError`, under gRPC OK.
trait InBand: Default {
    /// The response for a failed call: only `userFriendlyError`, set to `text`.
    fn failed(text: String) -> Self;
}

macro_rules! in_band_responses {
    ($($response:ty),+) => {$(
        impl InBand for $response {
            #[allow(clippy::needless_update)]
            fn failed(user_friendly_error: String) -> Self {
                Self {
                    user_friendly_error,
                    ..Default::default()
                }
            }
        }

        /// A call that succeeded with nothing to return: the empty answer.
        impl From<()> for $response {
            fn from((): ()) -> Self {
                Self::default()
            }
        }
    )+};
}

in_band_responses!(
    pb::GetSecretResponse,
    pb::SetSecretResponse,
    pb::DeleteSecretResponse,
    pb::ListSecretsResponse,
    pb::RenameSecretResponse
);

/// Answers an in-band RPC: always gRPC OK, a failure's text in `userFriendlyError`.
fn in_band<R: InBand>(answer: Result<R, String>) -> Result<Response<R>, Status> {
    Ok(Response::new(answer.unwrap_or_else(R::failed)))
}

/// The handlers' bodies: request to domain types, the one store call, answer to response.
impl SecretsService {
    async fn get(
        &self,
        call: &Call,
        req: pb::GetSecretRequest,
    ) -> Result<pb::GetSecretResponse, String> {
        let key = to_key(call.op, req.key_descriptor.as_ref())?;
        let found = call
            .store(&key, Some(&key), self.store.get(&key), |found| {
                if found.is_some() { "found" } else { "absent" }.to_string()
            })
            .await?;
        Ok(match found {
            Some(value) => pb::GetSecretResponse {
                user_friendly_error: String::new(),
                decrypted_value: value.expose().to_string(),
                exists: true,
            },
            None => pb::GetSecretResponse::default(),
        })
    }

    async fn set(&self, call: &Call, req: pb::SetSecretRequest) -> Result<(), String> {
        let key = to_key(call.op, req.key_descriptor.as_ref())?;
        let size = req.value.len();
        let value = SecretValue::new(req.value).map_err(|e| {
            tracing::trace!(value_bytes = size, "value rejected");
            rejected(call.op, &key.to_string(), &e)
        })?;
        call.store(&key, Some(&key), self.store.set(&key, &value), |()| {
            tracing::trace!(value_bytes = value.len(), "stored");
            "ok".to_string()
        })
        .await
        .map_err(String::from)
    }

    async fn delete(&self, call: &Call, req: pb::DeleteSecretRequest) -> Result<(), String> {
        let key = to_key(call.op, req.key_descriptor.as_ref())?;
        call.store_key_op(&key, self.store.delete(&key)).await
    }

    async fn list(
        &self,
        call: &Call,
        req: pb::ListSecretsRequest,
    ) -> Result<pb::ListSecretsResponse, String> {
        let k = req
            .key_descriptor
            .as_ref()
            .ok_or_else(|| missing_key(call.op))?;
        // With allOrganizations the org id is ignored, so only namespace and type must be valid.
        let org_id = (!req.all_organizations).then_some(k.org_id);
        call.note(|e| {
            e.org_id = org_id;
            e.all_organizations = Some(req.all_organizations);
        });
        let filter = ListFilter::new(org_id, k.namespace.as_str(), k.r#type.as_str())
            .map_err(|e| rejected(call.op, &describe(k), &e))?;
        let what = format!(
            "{}, namespace {:?}, type {:?}",
            filter
                .org_id()
                .map_or("all orgs".to_string(), |o| format!("org {o}")),
            filter.namespace(),
            filter.kind()
        );
        let keys = call
            .store(&what, None, self.store.list(&filter), |keys| {
                format!("{} keys", keys.len())
            })
            .await?;
        Ok(pb::ListSecretsResponse {
            user_friendly_error: String::new(),
            keys: keys.iter().map(from_key).collect(),
        })
    }

    async fn rename(&self, call: &Call, req: pb::RenameSecretRequest) -> Result<(), String> {
        let key = to_key(call.op, req.key_descriptor.as_ref())?;
        call.note(|e| e.new_namespace = Some(req.new_namespace.clone()));
        let rename = Rename::new(key.clone(), req.new_namespace.as_str()).map_err(|e| {
            let described = format!("{key} to new namespace {:?}", req.new_namespace);
            rejected(call.op, &described, &e)
        })?;
        call.store_key_op(&key, self.store.rename_key(&rename))
            .await
    }
}

/// The gRPC trait's methods: each `in_band` RPC (`method(Request) -> Response = Operation via
/// handler`) starts its call (timing, and the audit entry with the key as sent), hands the
/// request to its handler, and answers OK with the handler's response (the empty response for a
/// handler that returns `()`) or its `userFriendlyError` once the call is audited; `others` are
/// the methods written out.
macro_rules! secrets_manager_rpcs {
    (
        in_band { $($rpc:ident($request:ty) -> $response:ty = $op:ident via $handler:ident;)+ }
        others { $($others:tt)* }
    ) => {
        #[tonic::async_trait]
        impl SecretsManager for SecretsService {
            $(
                async fn $rpc(
                    &self,
                    request: Request<$request>,
                ) -> Result<Response<$response>, Status> {
                    let call = self.call(Operation::$op, &request);
                    let req = request.into_inner();
                    call.about(req.key_descriptor.as_ref());
                    let answer = self.$handler(&call, req).await.map(<$response>::from);
                    self.answer(call, answer).await
                }
            )+
            $($others)*
        }
    };
}

secrets_manager_rpcs! {
    in_band {
        get_secret(pb::GetSecretRequest) -> pb::GetSecretResponse = Get via get;
        set_secret(pb::SetSecretRequest) -> pb::SetSecretResponse = Set via set;
        delete_secret(pb::DeleteSecretRequest) -> pb::DeleteSecretResponse = Delete via delete;
        list_secrets(pb::ListSecretsRequest) -> pb::ListSecretsResponse = List via list;
        rename_secret(pb::RenameSecretRequest) -> pb::RenameSecretResponse = Rename via rename;
    }
    others {
        async fn get_all_secrets(
            &self,
            request: Request<pb::GetAllSecretsRequest>,
        ) -> Result<Response<pb::GetAllSecretsResponse>, Status> {
            let call = self.call(Operation::GetAll, &request);
            // Grafana's from-plugin migration checks only the gRPC error of this call: an OK
            // answer without items would make it copy nothing and then drop its "plugin required"
            // flag. So this RPC, unlike the others, fails with a non-OK status.
            let items = call
                .store(&"all", None, self.store.get_all(), |items| {
                    format!("{} items", items.len())
                })
                .await
                .map_err(|failed| Status::new(failed.code, failed.text));
            let audited = self.audited(call, items.is_ok()).await;
            let items = items?;
            audited.map_err(Status::unavailable)?;
            Ok(Response::new(pb::GetAllSecretsResponse {
                user_friendly_error: String::new(),
                items: items
                    .iter()
                    .map(|i| pb::Item {
                        key: Some(from_key(&i.key)),
                        value: i.value.expose().to_string(),
                    })
                    .collect(),
            }))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "service_tests.rs"]
mod tests;
