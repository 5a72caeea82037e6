//! AWS Signature Version 4: parsing the Authorization header (the region and account of a request
//! come from its credential scope), exact verification against configured credentials (canonical
//! request, signed headers, payload hash, 15-minute clock skew), and signing (for tests and tools).

use chrono::{DateTime, NaiveDateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::error::ApiError;

type HmacSha256 = Hmac<Sha256>;

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

fn incomplete(msg: impl Into<String>) -> ApiError {
    ApiError::new(400, "IncompleteSignatureException", msg)
}

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

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length.
    let mut m = <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable_hmac());
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

#[allow(clippy::panic)]
fn unreachable_hmac() -> HmacSha256 {
    panic!("HMAC-SHA256 accepts keys of any length")
}

/// hex(sha256(data)).
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// The SigV4 signing key for a secret, date, region and service.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> Vec<u8> {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, b"aws4_request")
}

fn uri_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes (a `+` stays a `+`). An escape that is not two hex digits is kept as it
/// is; invalid UTF-8 is replaced.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(hi), Some(lo)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((hi * 16 + lo) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                uri_encode(&percent_decode(k), false),
                uri_encode(&percent_decode(v), false),
            )
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn trim_value(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The canonical request of SigV4. `headers` yields (lower-case name, value) pairs; only the
/// signed ones are used (values of repeated headers are joined with commas).
pub fn canonical_request(
    method: &str,
    path: &str,
    query: &str,
    headers: &[(String, String)],
    signed_headers: &[String],
    payload_hash: &str,
) -> String {
    let mut canon_headers = String::new();
    for name in signed_headers {
        let vals: Vec<String> = headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| trim_value(v))
            .collect();
        canon_headers.push_str(name);
        canon_headers.push(':');
        canon_headers.push_str(&vals.join(","));
        canon_headers.push('\n');
    }
    let path = if path.is_empty() { "/" } else { path };
    // Non-S3 services double-encode: encode the (already encoded) path once more.
    let canon_path = uri_encode(path, true);
    format!(
        "{method}\n{canon_path}\n{}\n{canon_headers}\n{}\n{payload_hash}",
        canonical_query(query),
        signed_headers.join(";")
    )
}

/// The string to sign for a canonical request.
pub fn string_to_sign(amz_date: &str, scope: &str, canonical: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical.as_bytes())
    )
}

/// The hex signature of the canonical request `canonical` (see [`canonical_request`]).
pub fn signature(
    secret: &str,
    amz_date: &str,
    region: &str,
    service: &str,
    canonical: &str,
) -> String {
    let date = amz_date.get(..8).unwrap_or("");
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let sts = string_to_sign(amz_date, &scope, canonical);
    hex::encode(hmac(
        &signing_key(secret, date, region, service),
        sts.as_bytes(),
    ))
}

/// Builds the Authorization header for a `POST /` JSON request (signs host, x-amz-date and
/// x-amz-target; returns (authorization, x-amz-date)). For tests and load generators.
pub fn sign_post(
    access_key: &str,
    secret: &str,
    region: &str,
    host: &str,
    target: &str,
    body: &[u8],
    at: DateTime<Utc>,
) -> (String, String) {
    let amz_date = at.format("%Y%m%dT%H%M%SZ").to_string();
    let headers = vec![
        (
            "content-type".to_string(),
            "application/x-amz-json-1.1".to_string(),
        ),
        ("host".to_string(), host.to_string()),
        ("x-amz-date".to_string(), amz_date.clone()),
        ("x-amz-target".to_string(), target.to_string()),
    ];
    let signed: Vec<String> = headers.iter().map(|(n, _)| n.clone()).collect();
    let canonical = canonical_request("POST", "/", "", &headers, &signed, &sha256_hex(body));
    let sig = signature(secret, &amz_date, region, "secretsmanager", &canonical);
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential={access_key}/{}/{region}/secretsmanager/aws4_request, SignedHeaders={}, Signature={sig}",
        &amz_date[..8],
        signed.join(";")
    );
    (auth, amz_date)
}

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

/// The error for an access key the emulator does not know (when credentials are configured).
pub fn unknown_key() -> ApiError {
    ApiError::new(
        400,
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    // The worked example of AWS's SigV4 documentation (IAM ListUsers, 2015-08-30).
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    fn example_headers() -> Vec<(String, String)> {
        vec![
            (
                "content-type".into(),
                "application/x-www-form-urlencoded; charset=utf-8".into(),
            ),
            ("host".into(), "iam.amazonaws.com".into()),
            ("x-amz-date".into(), "20150830T123600Z".into()),
        ]
    }

    #[test]
    fn percent_decode_decodes_only_two_hex_digit_escapes() {
        assert_eq!(percent_decode("a%2Fb+c%3d"), "a/b+c=");
        assert_eq!(percent_decode("%zz%+41%4"), "%zz%+41%4");
    }

    #[test]
    fn aws_documentation_vector() {
        let headers = example_headers();
        let signed: Vec<String> = vec!["content-type".into(), "host".into(), "x-amz-date".into()];
        let canonical = canonical_request(
            "GET",
            "/",
            "Action=ListUsers&Version=2010-05-08",
            &headers,
            &signed,
            &sha256_hex(b""),
        );
        assert_eq!(
            sha256_hex(canonical.as_bytes()),
            "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
        );
        assert_eq!(
            hex::encode(signing_key(SECRET, "20150830", "us-east-1", "iam")),
            "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
        );
        let sig = signature(SECRET, "20150830T123600Z", "us-east-1", "iam", &canonical);
        assert_eq!(
            sig,
            "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
        );
    }

    #[test]
    fn parse_and_verify_roundtrip() {
        let now = Utc::now();
        let body = br#"{"SecretId":"x"}"#;
        let (auth, date) = sign_post(
            "AKID",
            "s3cr3t",
            "eu-west-1",
            "127.0.0.1:4566",
            "secretsmanager.GetSecretValue",
            body,
            now,
        );
        let a = parse_authorization(&auth).unwrap();
        assert_eq!(a.region, "eu-west-1");
        let headers = vec![
            (
                "content-type".to_string(),
                "application/x-amz-json-1.1".to_string(),
            ),
            ("host".to_string(), "127.0.0.1:4566".to_string()),
            ("x-amz-date".to_string(), date),
            (
                "x-amz-target".to_string(),
                "secretsmanager.GetSecretValue".to_string(),
            ),
        ];
        let req = RequestParts {
            method: "POST",
            path: "/",
            query: "",
            headers: &headers,
            body,
        };
        verify(&a, &req, "s3cr3t", now).unwrap();
        assert_eq!(
            verify(&a, &req, "wrong", now).unwrap_err().code,
            "InvalidSignatureException"
        );
        let tampered = RequestParts {
            body: br#"{"SecretId":"y"}"#,
            ..req
        };
        assert_eq!(
            verify(&a, &tampered, "s3cr3t", now).unwrap_err().code,
            "InvalidSignatureException"
        );
        let late = now + chrono::Duration::minutes(16);
        let e = verify(&a, &RequestParts { body, ..tampered }, "s3cr3t", late).unwrap_err();
        assert!(e.message.starts_with("Signature expired"), "{}", e.message);
        assert_eq!(
            parse_authorization("AWS4-HMAC-SHA256 Signature=abc")
                .unwrap_err()
                .code,
            "IncompleteSignatureException"
        );
    }
}
