//! The admin endpoint under `/_emulator/` (never collides with the AWS API, which is `POST /`):
//!
//! - `GET  /_emulator/health` -> `{"status":"ok"}`
//! - `GET  /_emulator/metrics` and `GET /metrics` -> the Prometheus metrics (see `metrics`), under
//!   the same access rules as `/_emulator/stats`
//! - `GET  /_emulator/stats` -> per-operation call counts, throttled and injected totals;
//!   `POST /_emulator/stats/reset` zeroes them
//! - `GET  /_emulator/faults` -> current [`FaultSettings`]; `POST /_emulator/faults` replaces them
//!   (`{}` clears every fault); `POST /_emulator/faults/aws-quotas` installs AWS's request quotas
//! - `POST /_emulator/reset` wipes every secret (all accounts and regions), the counters and the
//!   request log, and puts the clock back at the system time
//! - `GET  /_emulator/clock` -> `{"now": epoch_seconds, "offset_seconds": n}`;
//!   `POST /_emulator/clock/advance` with `{"seconds": n}` moves the clock forward
//! - `/_emulator/rotation/*`: rotation hooks, strict mode, due rotations (see `rotation`)
//! - `/_emulator/ui`, `/_emulator/state*`, `/_emulator/requests`, `/_emulator/rates`: the web
//!   console and what it reads (see `console`)
//!
//! Access control ([`authorize`]): admin requests that change state (every method but GET/HEAD)
//! must name a loopback host, an IP literal, a single-label name or a configured host in `Host`, and a browser's
//! `Origin` must be that same host (no cross-site request or DNS-rebinding page can reset or read
//! values). When the emulator verifies SigV4 (`credentials`) or has an admin token, every admin
//! request but `GET /_emulator/health` and the console's static page must be SigV4-signed with a
//! configured credential or carry the token in `X-Emulator-Admin-Token`; others get a 403 with an
//! AWS-shaped body and change nothing.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use serde_json::{json, Value};

use crate::clock::Clock as _;
use crate::error::ApiError;
use crate::faults::FaultSettings;
use crate::http::{error_response, json_response, Resp, BODY_TIMEOUT};
use crate::{sigv4, Shared};

mod rotation;

/// The header carrying the admin token (`--admin-token`).
pub const ADMIN_TOKEN_HEADER: &str = "x-emulator-admin-token";

fn ok(v: Value) -> Resp {
    json_response(
        200,
        serde_json::to_vec(&v).unwrap_or_default(),
        "application/json",
    )
}

fn err(status: u16, msg: impl Into<String>) -> Resp {
    json_response(
        status,
        serde_json::to_vec(&json!({"error": msg.into()})).unwrap_or_default(),
        "application/json",
    )
}

fn forbidden(code: &'static str, msg: impl Into<String>) -> ApiError {
    ApiError::new(403, code, msg)
}

/// The host part of a `Host` header value or of an origin's authority (`[::1]:80` -> `::1`).
fn host_name(authority: &str) -> &str {
    let a = authority.trim();
    if let Some(rest) = a.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("");
    }
    match a.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => a,
    }
}

/// Whether `host` (no port) may address the admin endpoint: a loopback name, an IP literal or a
/// single-label name such as a container's service name (a DNS-rebinding page needs a public,
/// dotted name it controls), or one of the configured names.
fn host_allowed(host: &str, configured: &[String]) -> bool {
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    h == "localhost"
        || h.ends_with(".localhost")
        || h.parse::<std::net::IpAddr>().is_ok()
        || (!h.is_empty() && !h.contains('.') && !h.contains(':'))
        || configured.iter().any(|c| c.eq_ignore_ascii_case(&h))
}

/// Refuses (with the 403 to answer) admin requests from other sites (Host / Origin, for
/// state-changing methods) and, when the emulator is protected, requests without a valid SigV4
/// signature or admin token.
pub fn authorize(
    shared: &Shared,
    parts: &hyper::http::request::Parts,
    body: &[u8],
) -> Result<(), ApiError> {
    let header = |n: &str| parts.headers.get(n).and_then(|v| v.to_str().ok());
    let path = parts.uri.path();
    if parts.method != Method::GET && parts.method != Method::HEAD {
        let host = header("host").unwrap_or("");
        if !host_allowed(host_name(host), &shared.config.allowed_hosts) {
            return Err(forbidden(
                "AccessDeniedException",
                format!("Admin requests must address the emulator by a loopback name, an IP address, a single-label name or an --allowed-host; Host '{host}' is not one."),
            ));
        }
        if let Some(origin) = parts.headers.get("origin") {
            let origin = origin.to_str().unwrap_or("null");
            let authority = origin
                .strip_prefix("http://")
                .or_else(|| origin.strip_prefix("https://"));
            if authority.is_none_or(|a| !a.eq_ignore_ascii_case(host)) {
                return Err(forbidden(
                    "AccessDeniedException",
                    format!("Cross-origin admin request refused: Origin '{origin}' is not this emulator ('{host}')."),
                ));
            }
        }
    }
    let config = &shared.config;
    if config.credentials.is_empty() && config.admin_token.is_none() {
        return Ok(());
    }
    let public = parts.method == Method::GET
        && (path == "/_emulator/health" || crate::console::is_static_asset(path));
    if public {
        return Ok(());
    }
    if let (Some(want), Some(got)) = (config.admin_token.as_deref(), header(ADMIN_TOKEN_HEADER)) {
        if sigv4::constant_time_eq(want.as_bytes(), got.as_bytes()) {
            return Ok(());
        }
        return Err(forbidden(
            "AccessDeniedException",
            "The admin token is not valid.",
        ));
    }
    let Some(value) = header("authorization") else {
        return Err(forbidden(
            "MissingAuthenticationTokenException",
            "Admin requests to this emulator must be SigV4-signed with one of its --credentials or carry X-Emulator-Admin-Token.",
        ));
    };
    let refuse = |e: ApiError| forbidden(e.code, e.message);
    let auth = sigv4::parse_authorization(value).map_err(refuse)?;
    sigv4::verify_configured(&config.credentials, &auth, parts, body, chrono::Utc::now())
        .map_err(refuse)
}

/// The `seconds` member of a clock advance: a finite, non-negative JSON number of at most
/// [`crate::clock::MAX_OFFSET`] seconds. The error names the member and what was wrong.
fn advance_seconds(v: &Value) -> Result<Duration, String> {
    let max = crate::clock::MAX_OFFSET.as_secs();
    let expected = format!("expected {{\"seconds\": <number from 0 to {max}>}}");
    let Some(field) = v.get("seconds") else {
        return Err(format!("'seconds' is missing: {expected}"));
    };
    let Some(secs) = field.as_f64() else {
        return Err(format!(
            "'seconds' must be a number, got {field}: {expected}"
        ));
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!(
            "'seconds' must not be negative, got {field}: {expected}"
        ));
    }
    if secs > max as f64 {
        return Err(format!("'seconds' is too large, got {field}: {expected}"));
    }
    Duration::try_from_secs_f64(secs).map_err(|e| format!("'seconds' {e}: {expected}"))
}

/// Largest admin request body.
const ADMIN_MAX_BODY: usize = 1 << 20;

/// Handles one admin request.
pub async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Resp {
    let (parts, body) = req.into_parts();
    let body = match tokio::time::timeout(
        BODY_TIMEOUT,
        Limited::new(body, ADMIN_MAX_BODY).collect(),
    )
    .await
    {
        Err(_) => return err(408, "the admin request body was not received in time"),
        Ok(Ok(b)) => b.to_bytes(),
        Ok(Err(_)) => return err(413, "admin request body too large (limit 1 MiB)"),
    };
    if let Err(refused) = authorize(&shared, &parts, &body) {
        tracing::debug!(
            path = parts.uri.path(),
            code = refused.code,
            "admin request refused"
        );
        return error_response(&refused, &crate::model::random_uuid());
    }
    let method = parts.method.clone();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or("").to_string();
    let json_body = || -> Result<Value, Box<Resp>> {
        if body.iter().all(|b| b.is_ascii_whitespace()) {
            return Ok(json!({}));
        }
        serde_json::from_slice(&body)
            .map_err(|e| Box::new(err(400, format!("body is not valid JSON: {e}"))))
    };
    match (method, path.as_str()) {
        (Method::GET, "/_emulator/health") => ok(json!({"status": "ok"})),
        (Method::GET, "/_emulator/stats") => ok(shared.faults.stats()),
        (Method::GET, "/_emulator/metrics" | "/metrics") => {
            let mut r = Response::new(Full::new(Bytes::from(shared.metrics.render())));
            r.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static(prom_text::CONTENT_TYPE),
            );
            r
        }
        (Method::POST, "/_emulator/stats/reset") => {
            shared.faults.reset_stats();
            ok(json!({"reset": true}))
        }
        (Method::GET, "/_emulator/faults") => {
            ok(serde_json::to_value(shared.faults.settings()).unwrap_or_default())
        }
        (Method::POST, "/_emulator/faults") => {
            let v = match json_body() {
                Ok(v) => v,
                Err(r) => return *r,
            };
            let settings: FaultSettings = match serde_json::from_value(v) {
                Ok(s) => s,
                Err(e) => return err(400, format!("invalid fault settings: {e}")),
            };
            if let Err(e) = settings.validate() {
                return err(400, format!("invalid fault settings: {e}"));
            }
            tracing::info!(rules = settings.rules.len(), "fault settings replaced");
            shared.faults.set(settings.clone());
            ok(serde_json::to_value(settings).unwrap_or_default())
        }
        (Method::POST, "/_emulator/faults/aws-quotas") => {
            let s = FaultSettings::aws_quotas();
            shared.faults.set(s.clone());
            ok(serde_json::to_value(s).unwrap_or_default())
        }
        (Method::POST, "/_emulator/reset") => match shared.reset() {
            Ok(()) => {
                shared.faults.reset_stats();
                shared.requests.clear();
                tracing::info!("state reset");
                ok(json!({"reset": true}))
            }
            Err(e) => err(500, format!("reset failed: {e}")),
        },
        (m, p) if crate::console::owns(p) => {
            crate::console::handle(&shared, &m, p, &query, json_body())
        }
        (m, p) if p.starts_with("/_emulator/rotation/") => {
            rotation::handle(&shared, &m, p, json_body()).await
        }
        (Method::GET, "/_emulator/clock") => ok(json!({
            "now": shared.clock.now(),
            "offset_seconds": shared.clock.offset().as_secs_f64(),
        })),
        (Method::POST, "/_emulator/clock/advance") => {
            let v = match json_body() {
                Ok(v) => v,
                Err(r) => return *r,
            };
            let secs = match advance_seconds(&v) {
                Ok(s) => s,
                Err(msg) => return err(400, msg),
            };
            if let Err(e) = shared.clock.try_advance(secs) {
                return err(400, format!("'seconds': {e}"));
            }
            ok(
                json!({"now": shared.clock.now(), "offset_seconds": shared.clock.offset().as_secs_f64()}),
            )
        }
        (_, p)
            if matches!(
                p,
                "/_emulator/health"
                    | "/_emulator/stats"
                    | "/_emulator/metrics"
                    | "/_emulator/stats/reset"
                    | "/_emulator/faults"
                    | "/_emulator/faults/aws-quotas"
                    | "/_emulator/reset"
                    | "/_emulator/clock"
                    | "/_emulator/clock/advance"
            ) =>
        {
            err(405, format!("method not allowed on {p}"))
        }
        (_, p) => err(404, format!("no admin endpoint {p}")),
    }
}
