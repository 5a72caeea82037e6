//! AWS-shaped API errors: the `__type` code, the message and the HTTP status of every error the emulator answers.

use std::fmt;

/// One error as AWS Secrets Manager answers it: HTTP status, `__type` code and message.
///
/// The message never contains a secret value (callers only ever put names, ids and limits in it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status (400 for client errors, 500 for InternalServiceError, 503 for ServiceUnavailable).
    pub status: u16,
    /// The error code sent as `__type` and `X-Amzn-ErrorType` (e.g. `ResourceNotFoundException`).
    pub code: &'static str,
    /// Human-readable message sent as `Message`.
    pub message: String,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

impl ApiError {
    /// An error with an explicit status and code.
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }
    /// 400 ResourceNotFoundException.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(400, "ResourceNotFoundException", message)
    }
    /// The standard "can't find the specified secret" error.
    pub fn secret_not_found() -> Self {
        Self::not_found("Secrets Manager can't find the specified secret.")
    }
    /// 400 InvalidParameterException.
    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        Self::new(400, "InvalidParameterException", message)
    }
    /// 400 InvalidRequestException.
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(400, "InvalidRequestException", message)
    }
    /// The InvalidRequestException AWS answers for a secret scheduled for deletion.
    pub fn marked_for_deletion() -> Self {
        Self::invalid_request(
            "You can't perform this operation on the secret because it was marked for deletion.",
        )
    }
    /// The InvalidRequestException for writes on a replica secret.
    pub fn replica_read_only() -> Self {
        Self::invalid_request(
            "Operation not permitted on a replica secret. Call must be made in primary secret's region.",
        )
    }
    /// 400 ResourceExistsException.
    pub fn exists(message: impl Into<String>) -> Self {
        Self::new(400, "ResourceExistsException", message)
    }
    /// 400 LimitExceededException.
    pub fn limit_exceeded(message: impl Into<String>) -> Self {
        Self::new(400, "LimitExceededException", message)
    }
    /// 400 InvalidNextTokenException.
    pub fn invalid_next_token() -> Self {
        Self::new(
            400,
            "InvalidNextTokenException",
            "The NextToken value is invalid.",
        )
    }
    /// 400 ValidationException (front-end constraint failures).
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(400, "ValidationException", message)
    }
    /// 400 SerializationException (body that is not the expected JSON).
    pub fn serialization(message: impl Into<String>) -> Self {
        Self::new(400, "SerializationException", message)
    }
    /// 400 UnknownOperationException (bad or missing X-Amz-Target).
    pub fn unknown_operation() -> Self {
        Self::new(400, "UnknownOperationException", "")
    }
    /// 500 InternalServiceError.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "InternalServiceError", message)
    }
    /// 503 ServiceUnavailable.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(503, "ServiceUnavailable", message)
    }
    /// 400 AccessDeniedException.
    pub fn access_denied(message: impl Into<String>) -> Self {
        Self::new(400, "AccessDeniedException", message)
    }
    /// The refusal of more than `model::MAX_TAGS` tags on a secret.
    pub fn too_many_tags() -> Self {
        Self::invalid_parameter(format!(
            "Number of tags exceeds the limit of {} tags per secret.",
            crate::model::MAX_TAGS
        ))
    }
    /// The ValidationException for a secret name (or a SecretId that is not an ARN) with
    /// characters outside `A-Za-z0-9/_+=.@-`, in AWS's words (the `!` ends the sentence).
    pub fn invalid_name() -> Self {
        Self::validation(
            "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!",
        )
    }
    /// 400 ThrottlingException "Rate exceeded".
    pub fn throttled() -> Self {
        Self::new(400, "ThrottlingException", "Rate exceeded")
    }
    /// The JSON body AWS sends: `__type` and `Message`, nothing else.
    pub fn body(&self) -> Vec<u8> {
        let v = serde_json::json!({
            "__type": self.code,
            "Message": self.message,
        });
        serde_json::to_vec(&v).unwrap_or_default()
    }
}
