//! The `secretsmanagerplugin.SecretsManager` gRPC service: each RPC converts the request into
//! domain types (rejecting bad keys and values with a `userFriendlyError`), makes exactly one
//! store call and converts the answer back. GetSecret, SetSecret, DeleteSecret, ListSecrets and
//! RenameSecret always answer gRPC OK, with failures in `userFriendlyError` (Grafana crashes on a
//! non-OK GetSecret). GetAllSecrets answers a non-OK status when the store fails (its only
//! caller, Grafana's from-plugin migration, ignores `userFriendlyError`). At trace level each
//! call is logged with its method, key, duration and outcome, never its value.

use std::sync::Arc;
use std::time::Instant;

use tonic::{Request, Response, Status};

use super::errors::{self, Operation};
use super::proto::secretsmanager as pb;
use super::proto::secretsmanager::secrets_manager_server::SecretsManager;
use crate::backends::SecretStore;
use crate::domain::{InvalidInput, ListFilter, Rename, SecretKey, SecretValue};

/// The gRPC service over one store.
#[derive(Debug, Clone)]
pub struct SecretsService {
    store: Arc<dyn SecretStore>,
}

impl SecretsService {
    /// Serves `store`.
    pub fn new(store: Arc<dyn SecretStore>) -> Self {
        Self { store }
    }
}

/// The key as the request spelled it, for messages about keys that failed validation.
fn describe(k: &pb::Key) -> String {
    format!(
        "org {}, namespace {:?}, type {:?}",
        k.org_id, k.namespace, k.r#type
    )
}

/// Validates the request's key; `Err` is the finished `userFriendlyError` text.
fn to_key(op: Operation, k: Option<&pb::Key>) -> Result<SecretKey, String> {
    let k = k.ok_or_else(|| {
        format!(
            "{}: the request has no keyDescriptor; send orgId, namespace and type",
            op.rpc()
        )
    })?;
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
fn traced(op: Operation, key: &dyn std::fmt::Display, started: Instant, outcome: &str) {
    tracing::trace!(
        method = op.rpc(),
        key = %key,
        duration_us = started.elapsed().as_micros() as u64,
        outcome,
        "rpc"
    );
}

#[tonic::async_trait]
impl SecretsManager for SecretsService {
    async fn get_secret(
        &self,
        request: Request<pb::GetSecretRequest>,
    ) -> Result<Response<pb::GetSecretResponse>, Status> {
        let started = Instant::now();
        let op = Operation::Get;
        let req = request.into_inner();
        let key = match to_key(op, req.key_descriptor.as_ref()) {
            Ok(k) => k,
            Err(text) => {
                return Ok(Response::new(pb::GetSecretResponse {
                    user_friendly_error: text,
                    ..Default::default()
                }))
            }
        };
        let reply = match self.store.get(&key).await {
            Ok(Some(value)) => {
                traced(op, &key, started, "found");
                pb::GetSecretResponse {
                    user_friendly_error: String::new(),
                    decrypted_value: value.expose().to_string(),
                    exists: true,
                }
            }
            Ok(None) => {
                traced(op, &key, started, "absent");
                pb::GetSecretResponse::default()
            }
            Err(e) => {
                traced(op, &key, started, "error");
                pb::GetSecretResponse {
                    user_friendly_error: errors::report(op, Some(&key), &e),
                    ..Default::default()
                }
            }
        };
        Ok(Response::new(reply))
    }

    async fn set_secret(
        &self,
        request: Request<pb::SetSecretRequest>,
    ) -> Result<Response<pb::SetSecretResponse>, Status> {
        let started = Instant::now();
        let op = Operation::Set;
        let req = request.into_inner();
        let checked = to_key(op, req.key_descriptor.as_ref()).and_then(|key| {
            let size = req.value.len();
            SecretValue::new(req.value)
                .map(|v| (key.clone(), v))
                .map_err(|e| {
                    tracing::trace!(value_bytes = size, "value rejected");
                    rejected(op, &key.to_string(), &e)
                })
        });
        let (key, value) = match checked {
            Ok(kv) => kv,
            Err(text) => {
                return Ok(Response::new(pb::SetSecretResponse {
                    user_friendly_error: text,
                }))
            }
        };
        let user_friendly_error = match self.store.set(&key, &value).await {
            Ok(()) => {
                tracing::trace!(value_bytes = value.len(), "stored");
                traced(op, &key, started, "ok");
                String::new()
            }
            Err(e) => {
                traced(op, &key, started, "error");
                errors::report(op, Some(&key), &e)
            }
        };
        Ok(Response::new(pb::SetSecretResponse {
            user_friendly_error,
        }))
    }

    async fn delete_secret(
        &self,
        request: Request<pb::DeleteSecretRequest>,
    ) -> Result<Response<pb::DeleteSecretResponse>, Status> {
        let started = Instant::now();
        let op = Operation::Delete;
        let req = request.into_inner();
        let user_friendly_error = match to_key(op, req.key_descriptor.as_ref()) {
            Err(text) => text,
            Ok(key) => match self.store.delete(&key).await {
                Ok(()) => {
                    traced(op, &key, started, "ok");
                    String::new()
                }
                Err(e) => {
                    traced(op, &key, started, "error");
                    errors::report(op, Some(&key), &e)
                }
            },
        };
        Ok(Response::new(pb::DeleteSecretResponse {
            user_friendly_error,
        }))
    }

    async fn list_secrets(
        &self,
        request: Request<pb::ListSecretsRequest>,
    ) -> Result<Response<pb::ListSecretsResponse>, Status> {
        let started = Instant::now();
        let op = Operation::List;
        let req = request.into_inner();
        let Some(k) = req.key_descriptor.as_ref() else {
            return Ok(Response::new(pb::ListSecretsResponse {
                user_friendly_error: to_key(op, None).err().unwrap_or_default(),
                keys: Vec::new(),
            }));
        };
        // With allOrganizations the org id is ignored, so only namespace and type must be valid.
        let org_id = (!req.all_organizations).then_some(k.org_id);
        let filter = match ListFilter::new(org_id, k.namespace.as_str(), k.r#type.as_str()) {
            Ok(filter) => filter,
            Err(e) => {
                return Ok(Response::new(pb::ListSecretsResponse {
                    user_friendly_error: rejected(op, &describe(k), &e),
                    keys: Vec::new(),
                }))
            }
        };
        let what = format!(
            "{}, namespace {:?}, type {:?}",
            filter
                .org_id()
                .map_or("all orgs".to_string(), |o| format!("org {o}")),
            filter.namespace(),
            filter.kind()
        );
        let reply = match self.store.list(&filter).await {
            Ok(keys) => {
                traced(op, &what, started, &format!("{} keys", keys.len()));
                pb::ListSecretsResponse {
                    user_friendly_error: String::new(),
                    keys: keys.iter().map(from_key).collect(),
                }
            }
            Err(e) => {
                traced(op, &what, started, "error");
                pb::ListSecretsResponse {
                    user_friendly_error: errors::report(op, None, &e),
                    keys: Vec::new(),
                }
            }
        };
        Ok(Response::new(reply))
    }

    async fn rename_secret(
        &self,
        request: Request<pb::RenameSecretRequest>,
    ) -> Result<Response<pb::RenameSecretResponse>, Status> {
        let started = Instant::now();
        let op = Operation::Rename;
        let req = request.into_inner();
        let checked = to_key(op, req.key_descriptor.as_ref()).and_then(|key| {
            Rename::new(key.clone(), req.new_namespace.as_str()).map_err(|e| {
                let described = format!("{key} to new namespace {:?}", req.new_namespace);
                rejected(op, &described, &e)
            })
        });
        let user_friendly_error = match checked {
            Err(text) => text,
            Ok(rename) => {
                let key = rename.source();
                match self.store.rename_key(&rename).await {
                    Ok(()) => {
                        traced(op, key, started, "ok");
                        String::new()
                    }
                    Err(e) => {
                        traced(op, key, started, "error");
                        errors::report(op, Some(key), &e)
                    }
                }
            }
        };
        Ok(Response::new(pb::RenameSecretResponse {
            user_friendly_error,
        }))
    }

    async fn get_all_secrets(
        &self,
        _request: Request<pb::GetAllSecretsRequest>,
    ) -> Result<Response<pb::GetAllSecretsResponse>, Status> {
        let started = Instant::now();
        let op = Operation::GetAll;
        let reply = match self.store.get_all().await {
            Ok(items) => {
                traced(op, &"all", started, &format!("{} items", items.len()));
                pb::GetAllSecretsResponse {
                    user_friendly_error: String::new(),
                    items: items
                        .iter()
                        .map(|i| pb::Item {
                            key: Some(from_key(&i.key)),
                            value: i.value.expose().to_string(),
                        })
                        .collect(),
                }
            }
            Err(e) => {
                traced(op, &"all", started, "error");
                // Grafana's from-plugin migration checks only the gRPC error of this call: an OK
                // answer without items would make it copy nothing and then drop its "plugin
                // required" flag. So this RPC, unlike the others, fails with a non-OK status.
                let code = errors::grpc_code(&e);
                return Err(Status::new(code, errors::report(op, None, &e)));
            }
        };
        Ok(Response::new(reply))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "service_tests.rs"]
mod tests;
