//! AWS Signature Version 4 (header form) for requests whose canonical query string is empty.
//!
//! The signing key depends only on the date, region and service, so [`Signer`] caches it per day.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// Hex SHA-256 of a payload, as used in the canonical request.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Long-lived credentials plus the scope they sign for.
#[derive(Clone)]
pub struct Signer {
    access_key: String,
    secret_key: String,
    region: String,
    service: String,
    cached: Option<(String, Vec<u8>)>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("access_key", &self.access_key)
            .field("region", &self.region)
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// A signer for `service` in `region` with the given key pair.
    pub fn new(access_key: &str, secret_key: &str, region: &str, service: &str) -> Self {
        Self {
            access_key: access_key.to_owned(),
            secret_key: secret_key.to_owned(),
            region: region.to_owned(),
            service: service.to_owned(),
            cached: None,
        }
    }

    fn signing_key(&mut self, date: &str) -> Vec<u8> {
        if let Some((d, k)) = &self.cached {
            if d == date {
                return k.clone();
            }
        }
        let k_date = hmac(
            format!("AWS4{}", self.secret_key).as_bytes(),
            date.as_bytes(),
        );
        let k_region = hmac(&k_date, self.region.as_bytes());
        let k_service = hmac(&k_region, self.service.as_bytes());
        let key = hmac(&k_service, b"aws4_request");
        self.cached = Some((date.to_owned(), key.clone()));
        key
    }

    /// The `Authorization` header value for a request.
    ///
    /// `headers` are (lower-case name, trimmed value) pairs and must include `host` and `x-amz-date`;
    /// `amz_date` is the `x-amz-date` value (`YYYYMMDDTHHMMSSZ`); `payload_hash` is [`sha256_hex`] of the body.
    pub fn authorization(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        amz_date: &str,
        payload_hash: &str,
    ) -> String {
        let mut sorted: Vec<&(&str, &str)> = headers.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(b.0));
        let mut canonical = format!("{method}\n{path}\n\n");
        for (name, value) in &sorted {
            canonical.push_str(name);
            canonical.push(':');
            canonical.push_str(value.trim());
            canonical.push('\n');
        }
        let signed: Vec<&str> = sorted.iter().map(|(n, _)| *n).collect();
        let signed = signed.join(";");
        canonical.push('\n');
        canonical.push_str(&signed);
        canonical.push('\n');
        canonical.push_str(payload_hash);

        let date = &amz_date[..8.min(amz_date.len())];
        let scope = format!("{date}/{}/{}/aws4_request", self.region, self.service);
        let to_sign = format!(
            "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
            sha256_hex(canonical.as_bytes())
        );
        let key = self.signing_key(date);
        let signature = hex::encode(hmac(&key, to_sign.as_bytes()));
        format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed}, Signature={signature}",
            self.access_key
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of AWS's S3 SigV4 documentation ("GET Object", header-based auth).
    #[test]
    fn matches_aws_documented_example() {
        let mut s = Signer::new(
            "AKIAIOSFODNN7EXAMPLE",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "us-east-1",
            "s3",
        );
        let empty = sha256_hex(b"");
        let auth = s.authorization(
            "GET",
            "/test.txt",
            &[
                ("host", "examplebucket.s3.amazonaws.com"),
                ("range", "bytes=0-9"),
                ("x-amz-content-sha256", &empty),
                ("x-amz-date", "20130524T000000Z"),
            ],
            "20130524T000000Z",
            &empty,
        );
        assert_eq!(
            auth,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
             SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, \
             Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }

    #[test]
    fn signing_key_cache_is_per_day() {
        let mut s = Signer::new("AK", "SK", "eu-west-1", "secretsmanager");
        let h = sha256_hex(b"{}");
        let mut sign_at = |date: &str| {
            s.authorization(
                "POST",
                "/",
                &[("host", "h"), ("x-amz-date", date)],
                date,
                &h,
            )
        };
        let a = sign_at("20240101T000000Z");
        let b = sign_at("20240102T000000Z");
        assert!(a.contains("/20240101/eu-west-1/secretsmanager/aws4_request"));
        assert!(b.contains("/20240102/eu-west-1/secretsmanager/aws4_request"));
        assert_ne!(a, b);
    }
}
