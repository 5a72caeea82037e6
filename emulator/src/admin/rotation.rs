//! The rotation part of the admin endpoint:
//!
//! - `GET  /_emulator/rotation/hooks` -> `{"<lambda arn>": "<url>", ...}`
//! - `POST /_emulator/rotation/hooks` with `{"<lambda arn>": "<http url>" | null, ...}` maps (or, with null,
//!   unmaps) rotation functions to local endpoints
//! - `POST /_emulator/rotation/strict` with `{"strict": true|false}` or `{"moto": true|false}` switches
//!   between AWS's rotation errors (strict, the default) and moto-compatible promotion
//! - `POST /_emulator/rotation/run-due` runs every scheduled rotation due on the emulator clock -> `{"started": n}`

use std::sync::Arc;

use hyper::Method;
use serde_json::{json, Value};

use crate::http::{json_response, Resp};
use crate::Shared;

fn answer(status: u16, v: Value) -> Resp {
    json_response(
        status,
        serde_json::to_vec(&v).unwrap_or_default(),
        "application/json",
    )
}

/// Handles `/_emulator/rotation/*`; `body` is the parsed JSON body (or the error response for a bad one).
pub async fn handle(
    shared: &Arc<Shared>,
    method: &Method,
    path: &str,
    body: Result<Value, Box<Resp>>,
) -> Resp {
    let settings = &shared.config.rotation;
    match (method, path) {
        (&Method::GET, "/_emulator/rotation/hooks") => answer(200, json!(settings.hooks())),
        (&Method::POST, "/_emulator/rotation/hooks") => {
            let v = match body {
                Ok(v) => v,
                Err(r) => return *r,
            };
            let Some(map) = v.as_object() else {
                return answer(
                    400,
                    json!({"error": "expected {\"<lambda arn>\": \"http://host:port/path\" | null}"}),
                );
            };
            for (arn, url) in map {
                if !(url.is_string() || url.is_null()) {
                    return answer(
                        400,
                        json!({"error": format!("the value for {arn} must be a URL string or null")}),
                    );
                }
                if let Some(u) = url.as_str() {
                    if let Err(e) = crate::ops::rotation::hook::parse_mapping(&format!("{arn}={u}"))
                    {
                        return answer(400, json!({"error": e}));
                    }
                }
            }
            for (arn, url) in map {
                match url.as_str() {
                    Some(u) => {
                        if let Err(e) = settings.set_hook(arn.clone(), u) {
                            return answer(400, json!({"error": e}));
                        }
                    }
                    None => {
                        settings.remove_hook(arn);
                    }
                }
            }
            tracing::info!(hooks = settings.hooks().len(), "rotation hooks updated");
            answer(200, json!(settings.hooks()))
        }
        (&Method::POST, "/_emulator/rotation/strict") => {
            let v = match body {
                Ok(v) => v,
                Err(r) => return *r,
            };
            let strict = match (
                v.get("strict").and_then(Value::as_bool),
                v.get("moto").and_then(Value::as_bool),
            ) {
                (Some(strict), None) => strict,
                (None, Some(moto)) => !moto,
                _ => {
                    return answer(
                        400,
                        json!({"error": "expected {\"strict\": true|false} or {\"moto\": true|false}"}),
                    )
                }
            };
            settings.set_strict(strict);
            answer(200, json!({"strict": strict, "moto": !strict}))
        }
        (&Method::POST, "/_emulator/rotation/run-due") => answer(
            200,
            json!({"started": crate::ops::rotation::run_due(shared).await}),
        ),
        (
            _,
            "/_emulator/rotation/hooks"
            | "/_emulator/rotation/strict"
            | "/_emulator/rotation/run-due",
        ) => answer(
            405,
            json!({"error": format!("method not allowed on {path}")}),
        ),
        _ => answer(404, json!({"error": format!("no admin endpoint {path}")})),
    }
}
