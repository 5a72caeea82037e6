//! Maps every AWS SDK error, by its typed variant, onto [`backends::Error`](crate::backends::Error)
//! with a message that says what to do (which IAM action is missing, which setting to check).
//!
//! Service errors are classified by the operation's own error enum (for example
//! `GetSecretValueError::ResourceNotFoundException`); errors the model does not declare (throttling,
//! access denied, bad credentials) arrive as the `Unhandled` variant and are classified by
//! [`ProvideErrorMetadata::code`]. Transport outcomes come from [`SdkError`]'s own variants. No
//! message string is ever parsed, and no message contains a secret value.

use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_secretsmanager::operation::{
    batch_get_secret_value::BatchGetSecretValueError, create_secret::CreateSecretError,
    delete_secret::DeleteSecretError, describe_secret::DescribeSecretError,
    get_secret_value::GetSecretValueError, list_secrets::ListSecretsError,
    put_secret_value::PutSecretValueError, restore_secret::RestoreSecretError,
};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_types::error::display::DisplayErrorContext;

use crate::backends::Error;

/// The API operations the backend calls; each names its IAM action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// GetSecretValue.
    Get,
    /// CreateSecret.
    Create,
    /// PutSecretValue.
    Put,
    /// DeleteSecret.
    Delete,
    /// DescribeSecret.
    Describe,
    /// RestoreSecret.
    Restore,
    /// ListSecrets.
    List,
    /// BatchGetSecretValue.
    BatchGet,
}

impl Op {
    /// The IAM action the broker's role needs for this operation.
    pub fn action(self) -> &'static str {
        match self {
            Op::Get => "secretsmanager:GetSecretValue",
            Op::Create => "secretsmanager:CreateSecret (and secretsmanager:TagResource)",
            Op::Put => "secretsmanager:PutSecretValue",
            Op::Delete => "secretsmanager:DeleteSecret",
            Op::Describe => "secretsmanager:DescribeSecret",
            Op::Restore => "secretsmanager:RestoreSecret",
            Op::List => "secretsmanager:ListSecrets",
            Op::BatchGet => {
                "secretsmanager:BatchGetSecretValue (and secretsmanager:GetSecretValue)"
            }
        }
    }
}

/// What the service said, by the typed variant of the operation's error enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Svc {
    /// ResourceNotFoundException.
    NotFound,
    /// ResourceExistsException.
    Exists,
    /// InvalidRequestException (for our calls: the secret is scheduled for deletion).
    InvalidRequest,
    /// InvalidParameterException, or a malformed policy.
    InvalidParameter,
    /// EncryptionFailure (KMS could not encrypt).
    Encryption,
    /// DecryptionFailure (KMS could not decrypt).
    Decryption,
    /// LimitExceededException.
    Limit,
    /// InternalServiceError.
    Internal,
    /// InvalidNextTokenException.
    BadToken,
    /// PreconditionNotMetException.
    Precondition,
    /// An error the model does not declare: classified by its code.
    Undeclared,
}

/// Classification of one operation's error enum.
pub trait Classify: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static {
    /// The typed variant.
    fn svc(&self) -> Svc;
}

/// What each error variant the service model declares means, the same in every operation
/// (a malformed policy counts as an invalid parameter).
macro_rules! svc_of {
    (ResourceNotFoundException) => {
        Svc::NotFound
    };
    (ResourceExistsException) => {
        Svc::Exists
    };
    (InvalidRequestException) => {
        Svc::InvalidRequest
    };
    (InvalidParameterException) => {
        Svc::InvalidParameter
    };
    (MalformedPolicyDocumentException) => {
        Svc::InvalidParameter
    };
    (EncryptionFailure) => {
        Svc::Encryption
    };
    (DecryptionFailure) => {
        Svc::Decryption
    };
    (LimitExceededException) => {
        Svc::Limit
    };
    (InternalServiceError) => {
        Svc::Internal
    };
    (InvalidNextTokenException) => {
        Svc::BadToken
    };
    (PreconditionNotMetException) => {
        Svc::Precondition
    };
}

/// Classifies an operation's error enum by the variants it declares (each per [`svc_of`]).
macro_rules! classify {
    ($ty:ident: $($variant:ident)|+) => {
        impl Classify for $ty {
            fn svc(&self) -> Svc {
                match self {
                    $($ty::$variant(_) => svc_of!($variant),)+
                    _ => Svc::Undeclared,
                }
            }
        }
    };
}

classify!(GetSecretValueError: ResourceNotFoundException | InvalidRequestException
    | InvalidParameterException | DecryptionFailure | InternalServiceError);
classify!(CreateSecretError: ResourceExistsException | ResourceNotFoundException
    | InvalidRequestException | InvalidParameterException | MalformedPolicyDocumentException
    | EncryptionFailure | DecryptionFailure | LimitExceededException | InternalServiceError
    | PreconditionNotMetException);
classify!(PutSecretValueError: ResourceNotFoundException | ResourceExistsException
    | InvalidRequestException | InvalidParameterException | EncryptionFailure
    | DecryptionFailure | LimitExceededException | InternalServiceError);
classify!(DeleteSecretError: ResourceNotFoundException | InvalidRequestException
    | InvalidParameterException | InternalServiceError);
classify!(DescribeSecretError: ResourceNotFoundException | InvalidParameterException
    | InternalServiceError);
classify!(RestoreSecretError: ResourceNotFoundException | InvalidRequestException
    | InvalidParameterException | InternalServiceError);
classify!(ListSecretsError: InvalidNextTokenException | InvalidRequestException
    | InvalidParameterException | InternalServiceError);
classify!(BatchGetSecretValueError: ResourceNotFoundException | InvalidRequestException
    | InvalidParameterException | DecryptionFailure | InvalidNextTokenException
    | InternalServiceError);

/// A failed call, split into the outcomes the store reacts to and everything else.
#[derive(Debug)]
pub enum Failure {
    /// ResourceNotFoundException.
    NotFound,
    /// ResourceExistsException.
    Exists,
    /// InvalidRequestException: for our calls, the secret is scheduled for deletion.
    InvalidRequest(Error),
    /// Anything else, already mapped.
    Other(Error),
}

impl Failure {
    /// The mapped error, for outcomes the caller does not handle specially.
    pub fn into_error(self, op: Op, name: &str) -> Error {
        match self {
            Failure::NotFound => Error::Storage(format!(
                "{} on secret {name:?}: the secret does not exist (deleted concurrently?)",
                op.action()
            )),
            Failure::Exists => Error::Conflict(format!(
                "{} on secret {name:?}: the secret or version already exists",
                op.action()
            )),
            Failure::InvalidRequest(e) | Failure::Other(e) => e,
        }
    }
}

/// Context for messages: the secret and the KMS key in use.
#[derive(Debug, Clone, Copy)]
pub struct Ctx<'a> {
    /// Secret name (or a description such as `names under prefix "grafana/"`).
    pub name: &'a str,
    /// The configured KMS key, if any.
    pub kms_key_id: Option<&'a str>,
    /// The region the client talks to.
    pub region: &'a str,
}

/// Classifies `err` from `op`.
pub fn classify<E: Classify>(op: Op, ctx: Ctx<'_>, err: SdkError<E, HttpResponse>) -> Failure {
    let name = ctx.name;
    let action = op.action();
    if let SdkError::ServiceError(se) = err {
        let status = se.raw().status().as_u16();
        let e = se.into_err();
        return service(op, ctx, &e, status);
    }
    let detail = DisplayErrorContext(&err);
    match &err {
        SdkError::TimeoutError(_) => Failure::Other(Error::Unavailable(format!(
            "{action} on {name:?} timed out (after the configured retries); check network access \
             to Secrets Manager in region {}, or raise aws_operation_timeout_ms",
            ctx.region
        ))),
        SdkError::DispatchFailure(f) if f.is_io() || f.is_timeout() => {
            Failure::Other(Error::Unavailable(format!(
                "{action} on {name:?}: could not reach Secrets Manager in region {} \
                 (check aws_region, aws_endpoint_url and network access): {detail}",
                ctx.region
            )))
        }
        SdkError::DispatchFailure(_) => Failure::Other(Error::Config(format!(
            "{action} on {name:?} could not be sent (check the AWS credentials, aws_region \
             and aws_endpoint_url): {detail}"
        ))),
        SdkError::ResponseError(_) => Failure::Other(Error::Unavailable(format!(
            "{action} on {name:?}: unreadable answer from Secrets Manager: {detail}"
        ))),
        SdkError::ConstructionFailure(_) => Failure::Other(Error::Config(format!(
            "{action} on {name:?}: request could not be built: {detail}"
        ))),
        _ => Failure::Other(Error::Unavailable(format!(
            "{action} on {name:?} failed: {detail}"
        ))),
    }
}

fn service<E: Classify>(op: Op, ctx: Ctx<'_>, e: &E, status: u16) -> Failure {
    let name = ctx.name;
    let action = op.action();
    let code = e.code().unwrap_or("unknown");
    let said = e.message().unwrap_or("no message");
    let kms = ctx
        .kms_key_id
        .unwrap_or("aws/secretsmanager (the default key)");
    match e.svc() {
        Svc::NotFound => Failure::NotFound,
        Svc::Exists => Failure::Exists,
        Svc::InvalidRequest => Failure::InvalidRequest(Error::Conflict(format!(
            "{action} on secret {name:?} was refused in its current state (usually: it is \
             scheduled for deletion; see aws_deleted_name_policy): {said}"
        ))),
        Svc::Encryption => Failure::Other(Error::Crypto(format!(
            "KMS key {kms} could not encrypt secret {name:?}: check that the key exists in region \
             {}, is enabled, and that the broker's role may use kms:GenerateDataKey and \
             kms:Decrypt on it (AWS said: {said})",
            ctx.region
        ))),
        Svc::Decryption => Failure::Other(Error::Crypto(format!(
            "KMS could not decrypt secret {name:?}: the key that encrypted it must be enabled and \
             the broker's role needs kms:Decrypt on it (AWS said: {said})"
        ))),
        Svc::InvalidParameter | Svc::Precondition => Failure::Other(Error::Config(format!(
            "{action} on secret {name:?} was rejected as invalid: {said}"
        ))),
        Svc::Limit => Failure::Other(Error::Storage(format!(
            "{action} on secret {name:?}: an AWS quota was exceeded (secrets per account, \
             versions per secret): {said}"
        ))),
        Svc::Internal => Failure::Other(Error::Unavailable(format!(
            "{action} on secret {name:?}: Secrets Manager had an internal error; retry later \
             ({said})"
        ))),
        Svc::BadToken => Failure::Other(Error::Unavailable(format!(
            "{action}: the paging token expired; retry the call ({said})"
        ))),
        Svc::Undeclared => Failure::Other(by_code(op, ctx, code, said, status)),
    }
}

/// Whether an error code says the caller lacks an IAM permission.
pub fn is_access_denied_code(code: &str) -> bool {
    matches!(code, "AccessDeniedException" | "AccessDenied")
}

/// Whether an error code says AWS did not accept the credentials (unknown, expired, wrongly
/// signed: a wrong secret key or a clock far off).
pub fn is_credentials_code(code: &str) -> bool {
    matches!(
        code,
        "UnrecognizedClientException"
            | "InvalidSignatureException"
            | "IncompleteSignature"
            | "IncompleteSignatureException"
            | "InvalidClientTokenId"
            | "MissingAuthenticationToken"
            | "MissingAuthenticationTokenException"
            | "SignatureDoesNotMatch"
            | "ExpiredToken"
            | "ExpiredTokenException"
    )
}

fn by_code(op: Op, ctx: Ctx<'_>, code: &str, said: &str, status: u16) -> Error {
    let name = ctx.name;
    let action = op.action();
    match code {
        "ThrottlingException"
        | "Throttling"
        | "TooManyRequestsException"
        | "RequestLimitExceeded" => Error::Throttled(format!(
            "{action} on {name:?} was throttled by AWS even after retrying with backoff; \
                 retry later or raise aws_max_attempts ({said})"
        )),
        _ if is_access_denied_code(code) => Error::PermissionDenied(format!(
            "AWS denied {action} on secret {name:?}: grant that IAM action to the broker's \
             identity (AWS said: {said})"
        )),
        _ if is_credentials_code(code) => Error::Config(format!(
            "AWS rejected the credentials for {action} ({code}): check aws_access_key_id / \
             aws_secret_access_key or the default credential chain, aws_role_arn, and that \
             aws_region ({}) is the secret's region (AWS said: {said})",
            ctx.region
        )),
        _ if status >= 500 => Error::Unavailable(format!(
            "{action} on {name:?}: Secrets Manager answered HTTP {status} ({code}); retry later"
        )),
        _ => Error::Storage(format!(
            "{action} on {name:?} failed with {code} (HTTP {status}): {said}"
        )),
    }
}
