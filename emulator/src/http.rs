//! HTTP answers shared by the API server, the admin endpoint and the console: the response type,
//! JSON and AWS error responses, and the body timeout.

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};

use crate::error::ApiError;

/// How long a client may take to send a request's body once its headers arrived.
pub const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// Response type of the server.
pub type Resp = Response<Full<Bytes>>;

/// Builds a JSON response.
pub fn json_response(status: u16, body: Vec<u8>, content_type: &'static str) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// The content type of AWS JSON 1.1 answers.
pub const AMZ_JSON: &str = "application/x-amz-json-1.1";

/// `r` with the `x-amzn-RequestId` header.
pub fn with_request_id(mut r: Resp, request_id: &str) -> Resp {
    if let Ok(v) = HeaderValue::from_str(request_id) {
        r.headers_mut().insert("x-amzn-RequestId", v);
    }
    r
}

/// The AWS error response for `e`.
pub fn error_response(e: &ApiError, request_id: &str) -> Resp {
    let mut r = json_response(e.status, e.body(), AMZ_JSON);
    if let Ok(v) = HeaderValue::from_str(e.code) {
        r.headers_mut().insert("X-Amzn-ErrorType", v);
    }
    with_request_id(r, request_id)
}
