//! The HTTP server (hyper 1, HTTP/1.1 keep-alive): routes `/_emulator/*` and `GET /metrics` to
//! admin.rs and every other request to the AWS JSON 1.1 API: body limit, X-Amz-Target, SigV4,
//! faults, dispatch with panic isolation, durability wait, and AWS-shaped responses. Every API
//! request is recorded in the console's request log (operation, scope, secret id, status, error
//! type, timings; no value) and counted in the metrics.

use std::convert::Infallible;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::console::RequestNote;
use crate::ctx::Ctx;
use crate::error::ApiError;
use crate::http::{error_response, json_response, with_request_id, Resp, AMZ_JSON, BODY_TIMEOUT};
use crate::metrics::FaultKind;
use crate::ops::{self, Handler};
use crate::protocol::Input;
use crate::{admin, sigv4, Shared};

/// How long a client may take to send a request's headers.
const HEADER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// Accepts connections until `stop` turns true, then closes every connection.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            acc = listener.accept() => match acc {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    let shared = shared.clone();
                    conns.spawn(async move {
                        let svc = service_fn(move |req| handle(shared.clone(), req));
                        // A client that trickles its headers is dropped after HEADER_TIMEOUT
                        // (its body is bounded by BODY_TIMEOUT in `aws`), so slow clients cannot
                        // pin connections forever.
                        let conn = hyper::server::conn::http1::Builder::new()
                            .timer(hyper_util::rt::TokioTimer::new())
                            .header_read_timeout(HEADER_TIMEOUT)
                            .keep_alive(true)
                            .serve_connection(TokioIo::new(stream), svc);
                        if let Err(e) = conn.await {
                            tracing::debug!(error = %e, "connection ended with an error");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    conns.abort_all();
    while conns.join_next().await.is_some() {}
}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Result<Resp, Infallible> {
    // The AWS API is `POST /`, so `GET /metrics` (Prometheus' default path) cannot collide.
    let metrics = req.method() == hyper::Method::GET && req.uri().path() == "/metrics";
    if metrics || req.uri().path().starts_with("/_emulator/") {
        return Ok(admin::handle(shared, req).await);
    }
    let started = Instant::now();
    let mut note = RequestNote::default();
    let resp = aws(shared.clone(), req, &mut note).await;
    let elapsed = started.elapsed();
    let micros = elapsed.as_micros() as u64;
    let status = resp.status().as_u16();
    tracing::debug!(status, micros, "request");
    let error = (status >= 400)
        .then(|| resp.headers().get("x-amzn-errortype"))
        .flatten()
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    shared.metrics.request(note.op, elapsed, error.as_deref());
    shared.requests.record(note, status, error, micros);
    Ok(resp)
}

fn too_large(max: usize) -> ApiError {
    ApiError::new(
        413,
        "RequestEntityTooLargeException",
        format!("The request body is larger than the limit of {max} bytes."),
    )
}

/// Answers one AWS API request, noting in `note` what the request log shows of it.
async fn aws(shared: Arc<Shared>, req: Request<Incoming>, note: &mut RequestNote) -> Resp {
    let request_id = crate::model::random_uuid();
    let fail = |e: ApiError| error_response(&e, &request_id);
    let max = shared.config.max_body;
    let declared = req
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return fail(too_large(max));
    }
    let (parts, body) = req.into_parts();
    let body = match tokio::time::timeout(BODY_TIMEOUT, Limited::new(body, max).collect()).await {
        Err(_) => {
            return fail(ApiError::serialization(
                "The request body was not received in time.",
            ))
        }
        Ok(Ok(b)) => b.to_bytes(),
        Ok(Err(e)) => {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                return fail(too_large(max));
            }
            return fail(ApiError::serialization(
                "The request body could not be read.",
            ));
        }
    };
    if parts.method != hyper::Method::POST {
        return fail(ApiError::unknown_operation());
    }
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Some((op_name, handler)) = target.strip_prefix("secretsmanager.").and_then(ops::lookup)
    else {
        return fail(ApiError::unknown_operation());
    };
    note.op = Some(op_name);

    // Authentication: region and account from the credential scope.
    let Some(auth_header) = parts.headers.get(hyper::header::AUTHORIZATION) else {
        return fail(sigv4::missing_token());
    };
    let auth = match auth_header
        .to_str()
        .map_err(|_| sigv4::missing_token())
        .and_then(sigv4::parse_authorization)
    {
        Ok(a) => a,
        Err(e) => return fail(e),
    };
    if !shared.config.credentials.is_empty() {
        if let Err(e) = sigv4::verify_configured(
            &shared.config.credentials,
            &auth,
            &parts,
            &body,
            chrono::Utc::now(),
        ) {
            return fail(e);
        }
    }
    let account =
        if auth.access_key.len() == 12 && auth.access_key.bytes().all(|b| b.is_ascii_digit()) {
            auth.access_key.clone()
        } else {
            shared.config.account_id.clone()
        };
    note.account = Some(account.clone());
    note.region = Some(auth.region.clone());

    let decision = shared.faults.on_request(op_name);
    if !decision.latency.is_zero() {
        shared.metrics.fault(op_name, FaultKind::Latency);
        tokio::time::sleep(decision.latency).await;
    }
    if let Some(e) = decision.error {
        let kind = if e.code == "ThrottlingException" {
            FaultKind::Throttle
        } else {
            FaultKind::Error
        };
        shared.metrics.fault(op_name, kind);
        // the body is not parsed for an injected fault; the log still names the secret
        let body: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
        note.note_secret(
            body.as_ref()
                .and_then(|v| v.get("SecretId").or_else(|| v.get("Name")))
                .and_then(serde_json::Value::as_str),
        );
        return fail(e);
    }

    let input = match Input::parse(&body) {
        Ok(i) => i,
        Err(e) => return fail(e),
    };
    note.note_secret(
        input
            .raw("SecretId")
            .or_else(|| input.raw("Name"))
            .and_then(serde_json::Value::as_str),
    );
    let ctx = Arc::new(Ctx::with_request_id(
        shared.clone(),
        account,
        auth.region,
        request_id.clone(),
    ));
    let result = match handler {
        Handler::Sync(f) => match std::panic::catch_unwind(AssertUnwindSafe(|| f(&ctx, input))) {
            Ok(r) => r,
            Err(_) => Err(panic_error(op_name)),
        },
        Handler::Async(f) => match tokio::spawn(f(ctx.clone(), input)).await {
            Ok(r) => r,
            Err(_) => Err(panic_error(op_name)),
        },
    };
    let seq = ctx.durable_seq();
    if seq > 0 {
        let waited = Instant::now();
        let durable = shared.store.wait_durable(seq).await;
        let waited = waited.elapsed();
        shared.metrics.durable_wait(waited);
        note.sync_micros = Some(waited.as_micros() as u64);
        if let Err(e) = durable {
            tracing::error!(error = %e, op = op_name, "write not durable");
            return fail(ApiError::internal(
                "The service failed to persist the change.",
            ));
        }
    }
    match result {
        Ok(body) => with_request_id(json_response(200, body, AMZ_JSON), &ctx.request_id),
        Err(e) => {
            if e.status >= 500 {
                tracing::warn!(op = op_name, code = e.code, "request failed");
            } else {
                tracing::debug!(op = op_name, code = e.code, "client error");
            }
            error_response(&e, &ctx.request_id)
        }
    }
}

fn panic_error(op: &str) -> ApiError {
    tracing::error!(op, "operation panicked");
    ApiError::internal("An internal error occurred while processing the request.")
}
