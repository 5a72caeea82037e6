//! The admin endpoint under `/_emulator/` (never collides with the AWS API, which is `POST /`):
//!
//! - `GET  /_emulator/health` -> `{"status":"ok"}`
//! - `GET  /_emulator/stats` -> per-operation call counts, throttled and injected totals;
//!   `POST /_emulator/stats/reset` zeroes them
//! - `GET  /_emulator/faults` -> current [`FaultSettings`]; `POST /_emulator/faults` replaces them
//!   (`{}` clears every fault); `POST /_emulator/faults/aws-quotas` installs AWS's request quotas
//! - `POST /_emulator/reset` wipes every secret (all accounts and regions), the counters and the
//!   request log, and puts the clock back at the system time
//! - `GET  /_emulator/clock` -> `{"now": epoch_seconds, "offset_seconds": n}`;
//!   `POST /_emulator/clock/advance` with `{"seconds": n}` moves the clock forward
//! - `/_emulator/rotation/*`: rotation hooks, strict mode, due rotations (see `rotation::admin`)
//! - `/_emulator/ui`, `/_emulator/state*`, `/_emulator/requests`, `/_emulator/rates`: the web
//!   console and what it reads (see `console`)

use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request};
use serde_json::{json, Value};

use crate::clock::Clock as _;
use crate::faults::FaultSettings;
use crate::server::{json_response, Resp};
use crate::Shared;

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

/// Handles one admin request.
pub async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Resp {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let body = match Limited::new(req.into_body(), 1 << 20).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return err(413, "admin request body too large (limit 1 MiB)"),
    };
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
            crate::rotation::admin::handle(&shared, &m, p, json_body()).await
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
            let Some(secs) = v
                .get("seconds")
                .and_then(Value::as_f64)
                .filter(|s| *s >= 0.0 && s.is_finite())
            else {
                return err(400, "expected {\"seconds\": <non-negative number>}");
            };
            shared.clock.advance(Duration::from_secs_f64(secs));
            ok(
                json!({"now": shared.clock.now(), "offset_seconds": shared.clock.offset().as_secs_f64()}),
            )
        }
        (_, p)
            if matches!(
                p,
                "/_emulator/health"
                    | "/_emulator/stats"
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
