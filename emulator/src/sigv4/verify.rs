//! Verification of a signed request: scope service, X-Amz-Date and its 15-minute skew, the
//! signed headers, the payload hash and the signature, against one secret or the configured
//! credentials.

use chrono::{DateTime, NaiveDateTime, Utc};

use super::{
    canonical_request, incomplete, invalid_sig, sha256_hex, signature, unknown_key, Authorization,
};
use crate::error::ApiError;

/// Parses an `X-Amz-Date` value (yyyymmddThhmmssZ).
pub fn parse_amz_date(v: &str) -> Option<DateTime<Utc>> {
    NaiveDateTime::parse_from_str(v, "%Y%m%dT%H%M%SZ")
        .ok()
        .map(|n| n.and_utc())
}

/// Everything about a request that verification needs.
#[derive(Debug)]
pub struct RequestParts<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// Path (as sent).
    pub path: &'a str,
    /// Raw query string.
    pub query: &'a str,
    /// (lower-case name, value) of every header.
    pub headers: &'a [(String, String)],
    /// The body.
    pub body: &'a [u8],
}

/// Verifies a request's signature with `secret` at real time `now`: scope service, X-Amz-Date
/// presence and 15-minute skew, signed headers and the signature itself.
pub fn verify(
    auth: &Authorization,
    req: &RequestParts<'_>,
    secret: &str,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    if auth.service != "secretsmanager" {
        return Err(invalid_sig(format!(
            "Credential should be scoped to correct service: 'secretsmanager'. Found '{}'",
            auth.service
        )));
    }
    let header = |n: &str| {
        req.headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.as_str())
    };
    let Some(amz_date) = header("x-amz-date") else {
        return Err(incomplete(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
        ));
    };
    let Some(at) = parse_amz_date(amz_date) else {
        return Err(incomplete(format!(
            "Date must be in ISO-8601 'basic format'. Got '{amz_date}'."
        )));
    };
    let skew = chrono::Duration::minutes(15);
    let fmt = |t: DateTime<Utc>| t.format("%Y%m%dT%H%M%SZ").to_string();
    if at < now - skew {
        return Err(invalid_sig(format!(
            "Signature expired: {} is now earlier than {} ({} - 15 min.)",
            amz_date,
            fmt(now - skew),
            fmt(now)
        )));
    }
    if at > now + skew {
        return Err(invalid_sig(format!(
            "Signature not yet current: {} is still later than {} ({} + 15 min.)",
            amz_date,
            fmt(now + skew),
            fmt(now)
        )));
    }
    if auth.date != amz_date[..8] {
        return Err(invalid_sig(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}', from '{amz_date}'.",
            auth.date,
            &amz_date[..8]
        )));
    }
    if !auth.signed_headers.iter().any(|h| h == "host") {
        return Err(invalid_sig(
            "'Host' must be a 'SignedHeader' in the AWS Authorization.",
        ));
    }
    let payload_hash = match header("x-amz-content-sha256") {
        Some(h) if h != "UNSIGNED-PAYLOAD" => h.to_string(),
        _ => sha256_hex(req.body),
    };
    let canonical = canonical_request(
        req.method,
        req.path,
        req.query,
        req.headers,
        &auth.signed_headers,
        &payload_hash,
    );
    let expected = signature(secret, amz_date, &auth.region, &auth.service, &canonical);
    let body_ok = header("x-amz-content-sha256")
        .is_none_or(|h| h == "UNSIGNED-PAYLOAD" || h == sha256_hex(req.body));
    if !constant_time_eq(expected.as_bytes(), auth.signature.as_bytes()) || !body_ok {
        return Err(invalid_sig(
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
        ));
    }
    Ok(())
}

/// Compares two byte strings in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Verifies a request against the configured `credentials` (access key id -> secret) at real
/// time `now`: an unknown key is UnrecognizedClientException, then [`verify`].
pub fn verify_configured(
    credentials: &std::collections::HashMap<String, String>,
    auth: &Authorization,
    parts: &hyper::http::request::Parts,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let Some(secret) = credentials.get(&auth.access_key) else {
        return Err(unknown_key());
    };
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let rp = RequestParts {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        headers: &headers,
        body,
    };
    verify(auth, &rp, secret, now)
}
