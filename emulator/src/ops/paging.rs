//! Opaque NextToken values: a cursor (the last item's sort key) plus a digest of the query it
//! belongs to and a checksum, base64url-encoded. Garbage or a token from another query gives
//! InvalidNextTokenException. Cursors (not offsets) keep paging stable while items are inserted.

use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::ApiError;

const KEY: &[u8] = b"secretsmanager-emulator/next-token/v1";

fn checksum(cursor: &str, query: &str) -> String {
    let mut h = Sha256::new();
    h.update(KEY);
    h.update(cursor.as_bytes());
    h.update([0]);
    h.update(query.as_bytes());
    hex::encode(&h.finalize()[..12])
}

/// What a token carries: the cursor's JSON, the query digest and the checksum of both.
#[derive(Debug, Serialize, Deserialize)]
struct Token<S> {
    c: S,
    q: S,
    h: S,
}

/// A digest of everything that defines a query (filters, sort, flags), for binding tokens.
pub fn query_digest<T: Serialize>(parts: &T) -> String {
    let s = serde_json::to_string(parts).unwrap_or_default();
    hex::encode(&Sha256::digest(s.as_bytes())[..12])
}

/// Encodes a token for `cursor` within `query`.
pub fn encode<T: Serialize>(cursor: &T, query: &str) -> String {
    let c = serde_json::to_string(cursor).unwrap_or_default();
    let h = checksum(&c, query);
    let body = Token {
        c: c.as_str(),
        q: query,
        h: h.as_str(),
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&body).unwrap_or_default())
}

/// Decodes a token and checks it belongs to `query`.
pub fn decode<T: DeserializeOwned>(token: &str, query: &str) -> Result<T, ApiError> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.as_bytes())
        .map_err(|_| ApiError::invalid_next_token())?;
    let Token::<String> { c, q, h } =
        serde_json::from_slice(&raw).map_err(|_| ApiError::invalid_next_token())?;
    if q != query || h != checksum(&c, &q) {
        return Err(ApiError::invalid_next_token());
    }
    serde_json::from_str(&c).map_err(|_| ApiError::invalid_next_token())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_rejects() {
        let t = encode(&(1.5, "a"), "q1");
        assert_eq!(
            decode::<(f64, String)>(&t, "q1").unwrap(),
            (1.5, "a".into())
        );
        assert!(decode::<(f64, String)>(&t, "q2").is_err());
        assert!(decode::<(f64, String)>("garbage", "q1").is_err());
        let mut bad = t.clone();
        bad.insert(3, 'x');
        assert!(decode::<(f64, String)>(&bad, "q1").is_err());
    }
}
