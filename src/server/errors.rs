//! The one place that turns a store error into the `userFriendlyError` text Grafana shows its
//! users (also the status message of a failed GetAllSecrets, with its gRPC code), and picks the
//! level it is logged at. Texts are actionable, name the key and never
//! contain a secret value (backend errors never carry one; we add only the key and the call).

use crate::backends::Error;
use crate::domain::{InvalidInput, SecretKey};

/// Log level of a failed call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The caller's mistake (bad key or value): nothing is wrong with the broker.
    Warn,
    /// The backend failed: an operator should look.
    Error,
}

/// Which call failed, for the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// GetSecret.
    Get,
    /// SetSecret.
    Set,
    /// DeleteSecret.
    Delete,
    /// ListSecrets.
    List,
    /// RenameSecret.
    Rename,
    /// GetAllSecrets.
    GetAll,
}

impl Operation {
    /// The RPC name (for logs).
    pub fn rpc(self) -> &'static str {
        match self {
            Operation::Get => "GetSecret",
            Operation::Set => "SetSecret",
            Operation::Delete => "DeleteSecret",
            Operation::List => "ListSecrets",
            Operation::Rename => "RenameSecret",
            Operation::GetAll => "GetAllSecrets",
        }
    }

    /// Whether the RPC changes stored secrets (its audit line is synced before it answers).
    pub fn writes(self) -> bool {
        matches!(self, Operation::Set | Operation::Delete | Operation::Rename)
    }

    fn verb(self) -> &'static str {
        match self {
            Operation::Get => "could not read the secret",
            Operation::Set => "could not store the secret",
            Operation::Delete => "could not delete the secret",
            Operation::List => "could not list secrets",
            Operation::Rename => "could not rename the secret",
            Operation::GetAll => "could not read all secrets",
        }
    }
}

/// The gRPC status code of a failed GetAllSecrets (the one RPC that fails with a non-OK status):
/// `UNAVAILABLE` when retrying later may succeed (throttled, unreachable), `FAILED_PRECONDITION`
/// when an operator must change settings, permissions, keys or the backend's contents first,
/// `DATA_LOSS` for stored data that cannot be read back, `ABORTED` for a concurrent change and
/// `INTERNAL` for any other storage failure.
pub fn grpc_code(err: &Error) -> tonic::Code {
    match err {
        Error::Throttled(_) | Error::Unavailable(_) => tonic::Code::Unavailable,
        Error::Config(_) | Error::PermissionDenied(_) | Error::NotOwned(_) | Error::Crypto(_) => {
            tonic::Code::FailedPrecondition
        }
        Error::Corrupt(_) => tonic::Code::DataLoss,
        Error::Conflict(_) => tonic::Code::Aborted,
        _ => tonic::Code::Internal,
    }
}

/// How bad `err` is.
pub fn severity(err: &Error) -> Severity {
    match err {
        Error::InvalidInput(_) | Error::NotOwned(_) | Error::Conflict(_) => Severity::Warn,
        _ => Severity::Error,
    }
}

/// What the operator (or user) can do about `err`.
fn advice(err: &Error) -> &'static str {
    match err {
        Error::InvalidInput(_) => "change the request and try again",
        Error::Config(_) => "fix the plugin's settings in [plugin.secretsbroker-secretsmanager] and restart Grafana",
        Error::PermissionDenied(_) => "grant the plugin access to its backend (file permissions, IAM policy or database grants)",
        Error::Throttled(_) | Error::Unavailable(_) => "this is temporary; try again shortly",
        Error::Conflict(_) => "another change to the same secret is in progress or blocks this one; try again",
        Error::NotOwned(_) => "the backend holds a secret of that name that this plugin did not create; rename or remove it there",
        Error::Crypto(_) => "check the plugin's encryption key (or KMS key) settings",
        Error::Corrupt(_) => "the stored data is damaged; restore the secret from a backup or set it again",
        _ => "check the plugin's logs for details",
    }
}

/// The `userFriendlyError` text for a failed call on `key` (or on no single key).
pub fn user_message(op: Operation, key: Option<&SecretKey>, err: &Error) -> String {
    match key {
        Some(key) => format!("{} ({key}): {err}; {}", op.verb(), advice(err)),
        None => format!("{}: {err}; {}", op.verb(), advice(err)),
    }
}

/// The text for a request rejected before any store call (key or value invalid). `what` describes
/// the key as the request gave it (it may not form a valid [`SecretKey`]).
pub fn invalid_request(op: Operation, what: &str, problem: &InvalidInput) -> String {
    format!(
        "{} ({what}): {problem}; change the request and try again",
        op.verb()
    )
}

/// Logs a failed call at its severity (key and error only, never a value) and returns the text
/// for `userFriendlyError`.
pub fn report(op: Operation, key: Option<&SecretKey>, err: &Error) -> String {
    let text = user_message(op, key, err);
    let key = key.map(ToString::to_string).unwrap_or_default();
    match severity(err) {
        Severity::Warn => tracing::warn!(method = op.rpc(), key, error = %err, "call failed"),
        Severity::Error => {
            tracing::error!(method = op.rpc(), key, error = %err, transient = err.is_transient(), "call failed")
        }
    }
    text
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn message_names_key_and_advice() {
        let key = SecretKey::new(3, "prod db", "datasource").unwrap();
        let text = user_message(
            Operation::Set,
            Some(&key),
            &Error::Unavailable("connection refused".into()),
        );
        assert!(text.contains("could not store the secret"), "{text}");
        assert!(
            text.contains("\"prod db\"") && text.contains("org 3"),
            "{text}"
        );
        assert!(text.contains("try again"), "{text}");
        assert_eq!(
            severity(&Error::Unavailable(String::new())),
            Severity::Error
        );
        assert_eq!(
            severity(&Error::InvalidInput(InvalidInput::Empty("type"))),
            Severity::Warn
        );
    }

    #[test]
    fn invalid_request_names_problem() {
        let text = invalid_request(
            Operation::Get,
            "org -1, namespace \"a\", type \"b\"",
            &InvalidInput::NegativeOrgId(-1),
        );
        assert!(
            text.contains("negative") && text.contains("org -1"),
            "{text}"
        );
    }
}
