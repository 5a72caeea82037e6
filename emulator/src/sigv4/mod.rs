//! AWS Signature Version 4: parsing the Authorization header (the region and account of a request
//! come from its credential scope, `authorization.rs`), exact verification against configured
//! credentials (`verify.rs`: canonical request, signed headers, payload hash, 15-minute clock
//! skew), and signing (`signing.rs`, also used by tests and tools); and the errors they answer.

mod authorization;
mod signing;
mod verify;

#[cfg(test)]
mod tests;

use crate::error::ApiError;

pub use authorization::{parse_authorization, Authorization};
pub use signing::{
    canonical_request, percent_decode, sha256_hex, sign_post, signature, signing_key,
    string_to_sign,
};
pub use verify::{constant_time_eq, parse_amz_date, verify, verify_configured, RequestParts};

/// An IncompleteSignatureException (the header is malformed or lacks a part).
fn incomplete(msg: impl Into<String>) -> ApiError {
    ApiError::new(400, "IncompleteSignatureException", msg)
}

/// An InvalidSignatureException (the signature, its scope or its date is wrong).
fn invalid_sig(msg: impl Into<String>) -> ApiError {
    ApiError::new(400, "InvalidSignatureException", msg)
}

/// The error for a request without any Authorization header.
pub fn missing_token() -> ApiError {
    ApiError::new(
        400,
        "MissingAuthenticationTokenException",
        "Request is missing Authentication Token",
    )
}

/// The error for an access key the emulator does not know (when credentials are configured).
pub fn unknown_key() -> ApiError {
    ApiError::new(
        400,
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
    )
}
