//! The `Authorization: AWS4-HMAC-SHA256 ...` header: its parsed form and the parser, which takes
//! the request's region from the credential scope.

use super::{incomplete, invalid_sig};
use crate::error::ApiError;

/// The parsed `Authorization: AWS4-HMAC-SHA256 ...` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// Access key id.
    pub access_key: String,
    /// Scope date (yyyymmdd).
    pub date: String,
    /// Scope region.
    pub region: String,
    /// Scope service.
    pub service: String,
    /// Signed header names (lower case, as listed).
    pub signed_headers: Vec<String>,
    /// Hex signature.
    pub signature: String,
}

/// Parses the Authorization header value.
pub fn parse_authorization(value: &str) -> Result<Authorization, ApiError> {
    let Some(rest) = value.strip_prefix("AWS4-HMAC-SHA256") else {
        return Err(incomplete(format!(
            "Authorization header requires the AWS4-HMAC-SHA256 algorithm. Authorization={}",
            value.split_whitespace().next().unwrap_or("")
        )));
    };
    let (mut cred, mut signed, mut sig) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("Credential=") {
            cred = Some(v);
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            sig = Some(v);
        }
    }
    let mut missing = Vec::new();
    if cred.is_none() {
        missing.push("Authorization header requires 'Credential' parameter.");
    }
    if signed.is_none() {
        missing.push("Authorization header requires 'SignedHeaders' parameter.");
    }
    if sig.is_none() {
        missing.push("Authorization header requires 'Signature' parameter.");
    }
    let (Some(cred), Some(signed), Some(sig)) = (cred, signed, sig) else {
        return Err(incomplete(missing.join(" ")));
    };
    let parts: Vec<&str> = cred.split('/').collect();
    if parts.len() != 5 || parts[4] != "aws4_request" || parts[0].is_empty() {
        return Err(incomplete(format!(
            "Credential should be of the form <AccessKeyId>/<yyyymmdd>/<region>/<service>/aws4_request; got '{cred}'"
        )));
    }
    let region = parts[2];
    if region.is_empty()
        || !region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(invalid_sig(
            "Credential should be scoped to a valid region.",
        ));
    }
    Ok(Authorization {
        access_key: parts[0].to_string(),
        date: parts[1].to_string(),
        region: region.to_string(),
        service: parts[3].to_string(),
        signed_headers: signed
            .split(';')
            .map(|s| s.trim().to_ascii_lowercase())
            .collect(),
        signature: sig.trim().to_string(),
    })
}
