//! Rotation through the real SDK: a rotation function mapped to a local HTTP endpoint (a hyper server in
//! this test that receives the four step events and calls back into the emulator with the SDK, as a
//! rotation Lambda does), the built-in rotation function, the AWS (default) and moto-compatible modes without a
//! function, RotateImmediately=false, schedules on the emulator's clock, CancelRotateSecret, and errors.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_secretsmanager::operation::cancel_rotate_secret::builders::CancelRotateSecretFluentBuilder;
use aws_sdk_secretsmanager::operation::rotate_secret::builders::RotateSecretFluentBuilder;
use aws_sdk_secretsmanager::types::RotationRulesType;
use aws_sdk_secretsmanager::Client;
use common::{
    assert_case, assert_code, assert_err, client, client_in, create, current, delete, describe,
    get, get_at, put_request, start, REGION,
};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use secretsmanager_emulator::{rotation, Emulator};
use serde_json::Value;

const BUILTIN: &str = "arn:aws:lambda:us-east-1:123456789012:function:emulator-builtin-rotation";
const USER_FN: &str = "arn:aws:lambda:us-east-1:123456789012:function:my-rotator";

type Events = Arc<Mutex<Vec<Value>>>;

/// What the user's rotation function does for one step (the logic of AWS's rotation templates).
async fn lambda_step(sm: &Client, event: &Value) -> Result<(), String> {
    let step = event["Step"].as_str().unwrap_or_default();
    let arn = event["SecretId"].as_str().unwrap_or_default();
    let token = event["ClientRequestToken"].as_str().unwrap_or_default();
    match step {
        "createSecret" => {
            let cur = get(sm, arn).await.map_err(|e| format!("{e:?}"))?;
            let next = format!("{}+rotated", cur.secret_string().unwrap_or_default());
            put_request(sm, arn, next)
                .client_request_token(token)
                .version_stages("AWSPENDING")
                .send()
                .await
                .map_err(|e| format!("{e:?}"))?;
        }
        "setSecret" => {}
        "testSecret" => {
            sm.get_secret_value()
                .secret_id(arn)
                .version_id(token)
                .version_stage("AWSPENDING")
                .send()
                .await
                .map_err(|e| format!("{e:?}"))?;
        }
        "finishSecret" => {
            let d = describe(sm, arn).await.map_err(|e| format!("{e:?}"))?;
            let current = d
                .version_ids_to_stages()
                .and_then(|m| {
                    m.iter()
                        .find(|(_, st)| st.iter().any(|s| s == "AWSCURRENT"))
                        .map(|(k, _)| k.clone())
                })
                .ok_or("no AWSCURRENT")?;
            sm.update_secret_version_stage()
                .secret_id(arn)
                .version_stage("AWSCURRENT")
                .move_to_version_id(token)
                .remove_from_version_id(current)
                .send()
                .await
                .map_err(|e| format!("{e:?}"))?;
        }
        other => return Err(format!("unknown step {other}")),
    }
    Ok(())
}

/// A local "Lambda": records each event, runs [`lambda_step`], answers 500 for `fail_step`.
async fn hook_server(endpoint: String, fail_step: Option<&'static str>) -> (String, Events) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind hook");
    let url = format!("http://{}/rotate", listener.local_addr().expect("addr"));
    let events: Events = Arc::default();
    let sm = Arc::new(client_in(&endpoint, REGION));
    let ev = events.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (sm, ev) = (sm.clone(), ev.clone());
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let (sm, ev) = (sm.clone(), ev.clone());
                    async move {
                        let body = req
                            .into_body()
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let event: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                        ev.lock().expect("events").push(event.clone());
                        let failed = fail_step.is_some_and(|s| event["Step"] == s);
                        let status = match lambda_step(&sm, &event).await {
                            Ok(()) if !failed => 200,
                            _ => 500,
                        };
                        let mut r = Response::new(Full::new(Bytes::from_static(b"{}")));
                        *r.status_mut() = hyper::StatusCode::from_u16(status).expect("status");
                        Ok::<_, std::convert::Infallible>(r)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (url, events)
}

fn steps(events: &Events) -> Vec<String> {
    events
        .lock()
        .expect("events")
        .iter()
        .map(|e| e["Step"].as_str().unwrap_or("?").to_string())
        .collect()
}

async fn stages(c: &Client, id: &str) -> std::collections::HashMap<String, Vec<String>> {
    describe(c, id)
        .await
        .expect("describe")
        .version_ids_to_stages
        .unwrap_or_default()
}

fn days(n: i64) -> RotationRulesType {
    RotationRulesType::builder()
        .automatically_after_days(n)
        .build()
}

/// Maps [`USER_FN`] to a fresh local "Lambda" (failing `fail_step`) and creates the secret `name`
/// holding `pw0`: the events the "Lambda" records, and the secret's ARN.
async fn hooked_secret(
    emu: &Emulator,
    fail_step: Option<&'static str>,
    name: &str,
) -> (Events, String) {
    let (url, events) = hook_server(emu.endpoint(), fail_step).await;
    emu.rotation().set_hook(USER_FN, &url).expect("map hook");
    let arn = create(&client(emu), name, "pw0").await;
    (events, arn)
}

/// Sends the rotation `request`; the id of the version it creates.
async fn new_version(request: RotateSecretFluentBuilder) -> String {
    let out = request.send().await.expect("rotate");
    out.version_id().expect("version id").to_string()
}

/// Turns on rotation of `id` by `lambda` every `every` days without rotating it now.
async fn schedule_only(c: &Client, id: &str, lambda: &str, every: i64) {
    rotate_request(c, id, lambda)
        .rotation_rules(days(every))
        .rotate_immediately(false)
        .send()
        .await
        .expect("configure");
}

/// A CancelRotateSecret of `id`, ready to send.
fn cancel_request(c: &Client, id: &str) -> CancelRotateSecretFluentBuilder {
    c.cancel_rotate_secret().secret_id(id)
}

/// A RotateSecret of `id` with the rotation function `lambda`, ready for more members or to send.
fn rotate_request(c: &Client, id: &str, lambda: &str) -> RotateSecretFluentBuilder {
    c.rotate_secret().secret_id(id).rotation_lambda_arn(lambda)
}

#[tokio::test]
async fn mapped_http_rotation_function_gets_four_steps_and_calls_back() {
    let (emu, c) = start().await;
    let (events, arn) = hooked_secret(&emu, None, "rot/hook").await;
    let token = new_version(rotate_request(&c, "rot/hook", USER_FN).rotation_rules(days(30))).await;
    assert_eq!(
        steps(&events),
        ["createSecret", "setSecret", "testSecret", "finishSecret"]
    );
    let first = events.lock().expect("events")[0].clone();
    assert_eq!(first["SecretId"], Value::from(arn.as_str()));
    assert_eq!(first["ClientRequestToken"], Value::from(token.as_str()));
    let v = get(&c, "rot/hook").await.expect("get");
    assert_eq!(
        (v.secret_string(), v.version_id()),
        (Some("pw0+rotated"), Some(token.as_str()))
    );
    let st = stages(&c, "rot/hook").await;
    assert_eq!(st[&token], ["AWSCURRENT"]);
    assert!(st.values().any(|s| s == &["AWSPREVIOUS"]));
    let d = describe(&c, "rot/hook").await.expect("describe");
    assert_eq!(d.rotation_enabled(), Some(true));
    assert_eq!(d.rotation_lambda_arn(), Some(USER_FN));
    let (last, next) = (
        d.last_rotated_date().expect("last"),
        d.next_rotation_date().expect("next"),
    );
    assert_eq!(next.secs() - last.secs(), 30 * 86_400);
    // The same token again is a no-op returning the same answer.
    let again = c
        .rotate_secret()
        .secret_id("rot/hook")
        .client_request_token(&token)
        .send()
        .await
        .expect("retry");
    assert_eq!(again.version_id(), Some(token.as_str()));
    assert_eq!(steps(&events).len(), 4);
    emu.shutdown().await;
}

#[tokio::test]
async fn failed_step_leaves_pending_and_blocks_the_next_rotation() {
    let (emu, c) = start().await;
    let (events, _) = hooked_secret(&emu, Some("setSecret"), "rot/fail").await;
    let token = new_version(rotate_request(&c, "rot/fail", USER_FN)).await;
    assert_eq!(
        steps(&events),
        ["createSecret", "setSecret"],
        "steps stop at the failure"
    );
    assert_eq!(stages(&c, "rot/fail").await[&token], ["AWSPENDING"]);
    assert_eq!(current(&c, "rot/fail").await.as_deref(), Some("pw0"));
    assert_err(
        c.rotate_secret().secret_id("rot/fail").send().await,
        "InvalidRequestException",
        "Previous rotation request is still in progress.",
    );
    // CancelRotateSecret turns rotation off, reports the pending version and leaves the labels alone.
    let cancel = cancel_request(&c, "rot/fail").send().await.expect("cancel");
    assert_eq!(cancel.version_id(), Some(token.as_str()));
    let d = describe(&c, "rot/fail").await.expect("describe");
    assert_eq!(
        (d.rotation_enabled(), d.rotation_lambda_arn()),
        (Some(false), Some(USER_FN))
    );
    assert_eq!(stages(&c, "rot/fail").await[&token], ["AWSPENDING"]);
    emu.shutdown().await;
}

#[tokio::test]
async fn builtin_rotation_function_sets_a_new_password() {
    let (emu, c) = start().await;
    create(
        &c,
        "rot/json",
        r#"{"username":"app","password":"old","host":"db"}"#,
    )
    .await;
    let out = rotate_request(&c, "rot/json", BUILTIN)
        .rotation_rules(
            RotationRulesType::builder()
                .schedule_expression("rate(10 days)")
                .build(),
        )
        .send()
        .await
        .expect("rotate");
    let v: Value =
        serde_json::from_str(current(&c, "rot/json").await.as_deref().expect("s")).expect("json");
    assert_eq!(
        (v["username"].as_str(), v["host"].as_str()),
        (Some("app"), Some("db"))
    );
    let pw = v["password"].as_str().expect("password");
    assert!(pw != "old" && pw.len() == 32, "{}", pw.len());
    assert_eq!(
        stages(&c, "rot/json").await[out.version_id().expect("vid")],
        ["AWSCURRENT"]
    );
    let prev = get_at(&c, "rot/json", Some("AWSPREVIOUS"))
        .await
        .expect("previous");
    assert!(prev.secret_string().expect("prev").contains("\"old\""));

    create(&c, "rot/plain", "plain-token").await;
    rotate_request(&c, "rot/plain", BUILTIN)
        .send()
        .await
        .expect("rotate plain");
    let now = current(&c, "rot/plain").await;
    assert!(now
        .as_deref()
        .is_some_and(|p| p != "plain-token" && p.len() == 32));
    emu.shutdown().await;
}

#[tokio::test]
async fn rotate_immediately_false_runs_only_test_secret() {
    let (emu, c) = start().await;
    let (events, _) = hooked_secret(&emu, None, "rot/later").await;
    let before = stages(&c, "rot/later").await;
    schedule_only(&c, "rot/later", USER_FN, 7).await;
    assert_eq!(steps(&events), ["testSecret"]);
    assert_eq!(
        stages(&c, "rot/later").await,
        before,
        "no version is left behind"
    );
    let d = describe(&c, "rot/later").await.expect("describe");
    assert_eq!(d.rotation_enabled(), Some(true));
    assert!(d.last_rotated_date().is_none());
    let next = d.next_rotation_date().expect("next").secs() as f64;
    assert!((next - (emu.clock().now() + 7.0 * 86_400.0)).abs() < 5.0);
    emu.shutdown().await;
}

#[tokio::test]
async fn schedules_run_on_the_emulator_clock() {
    let (emu, c) = start().await;
    create(&c, "rot/sched", r#"{"password":"p"}"#).await;
    schedule_only(&c, "rot/sched", BUILTIN, 2).await;
    let v0 = get(&c, "rot/sched")
        .await
        .expect("get")
        .version_id()
        .map(str::to_string);
    assert_eq!(
        rotation::run_due(emu.shared()).await,
        0,
        "nothing is due yet"
    );
    emu.clock().advance(Duration::from_secs(86_400));
    assert_eq!(
        rotation::run_due(emu.shared()).await,
        0,
        "one day is not two"
    );
    emu.clock().advance(Duration::from_secs(86_400 + 60));
    assert_eq!(rotation::run_due(emu.shared()).await, 1);
    let v1 = get(&c, "rot/sched").await.expect("get");
    assert_ne!(v1.version_id().map(str::to_string), v0);
    let d = describe(&c, "rot/sched").await.expect("describe");
    let (last, next) = (
        d.last_rotated_date().expect("last").secs(),
        d.next_rotation_date().expect("next").secs(),
    );
    assert_eq!(next - last, 2 * 86_400);
    // The background ticker picks up the next due rotation without any call.
    emu.clock().advance(Duration::from_secs(2 * 86_400 + 60));
    let mut rotated = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let d = describe(&c, "rot/sched").await.expect("describe");
        if d.last_rotated_date().expect("last").secs() > last {
            rotated = true;
            break;
        }
    }
    assert!(rotated, "the ticker rotated the secret");
    // Cancelled rotation is not scheduled any more.
    cancel_request(&c, "rot/sched")
        .send()
        .await
        .expect("cancel");
    emu.clock().advance(Duration::from_secs(10 * 86_400));
    assert_eq!(rotation::run_due(emu.shared()).await, 0);
    emu.shutdown().await;
}

#[tokio::test]
async fn without_a_function_moto_compatible_on_request_and_aws_by_default() {
    let (emu, c) = start().await;
    emu.rotation().set_moto(true);
    create(&c, "rot/none", "keep-me").await;
    let out = c
        .rotate_secret()
        .secret_id("rot/none")
        .send()
        .await
        .expect("moto-compatible rotation");
    let v = get(&c, "rot/none").await.expect("get");
    assert_eq!(
        (v.secret_string(), v.version_id()),
        (Some("keep-me"), out.version_id())
    );
    assert_eq!(
        stages(&c, "rot/none").await.len(),
        2,
        "AWSCURRENT and AWSPREVIOUS"
    );
    // An ARN that is neither mapped nor built-in behaves the same in moto-compatible mode.
    rotate_request(&c, "rot/none", USER_FN)
        .send()
        .await
        .expect("unmapped");

    emu.rotation().set_moto(false);
    assert!(emu.rotation().strict());
    create(&c, "rot/strict", "v").await;
    assert_err(
        c.rotate_secret().secret_id("rot/strict").send().await,
        "InvalidRequestException",
        "No Lambda rotation function ARN is associated with this secret.",
    );
    assert_err(
        rotate_request(&c, "rot/strict", USER_FN).send().await,
        "AccessDeniedException",
        "cannot invoke",
    );
    rotate_request(&c, "rot/strict", BUILTIN)
        .send()
        .await
        .expect("built-in works");
    emu.shutdown().await;
}

#[tokio::test]
async fn rotation_errors() {
    let (emu, c) = start().await;
    create(&c, "rot/err", "v").await;
    let rotate = |id: &str| c.rotate_secret().secret_id(id);
    let both = RotationRulesType::builder()
        .automatically_after_days(3)
        .schedule_expression("rate(4 hours)")
        .build();
    let bad = RotationRulesType::builder()
        .schedule_expression("cron(0 8 * * * *)")
        .build();
    // (case, request, expected error code, text its message contains)
    let refusals = [
        (
            "zero days",
            rotate("rot/err").rotation_rules(days(0)),
            "InvalidParameterException",
            "AutomaticallyAfterDays must be within 1-1000.",
        ),
        (
            "days and a schedule",
            rotate("rot/err").rotation_rules(both),
            "InvalidParameterException",
            "both",
        ),
        (
            "a six-field cron",
            rotate("rot/err").rotation_rules(bad),
            "InvalidParameterException",
            "ScheduleExpression",
        ),
        (
            "a short token",
            rotate("rot/err").client_request_token("short"),
            "ValidationException",
            "clientRequestToken",
        ),
        (
            "an unknown secret",
            rotate("rot/missing"),
            "ResourceNotFoundException",
            "",
        ),
    ];
    for (case, request, want, needle) in refusals {
        assert_case(case, request.send().await, want, needle);
    }
    assert_code(
        cancel_request(&c, "rot/missing").send().await,
        "ResourceNotFoundException",
    );
    assert_err(
        cancel_request(&c, "rot/err").send().await,
        "InvalidRequestException",
        "doesn't already have a Lambda function ARN configured",
    );
    delete(&c, "rot/err", Some(7)).await.expect("delete");
    let deleted = "marked for deletion";
    assert_err(
        rotate("rot/err").send().await,
        "InvalidRequestException",
        deleted,
    );
    assert_err(
        cancel_request(&c, "rot/err").send().await,
        "InvalidRequestException",
        deleted,
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn admin_endpoint_maps_rotation_hooks() {
    let emu = Emulator::builder()
        .in_memory()
        .start()
        .await
        .expect("start");
    let (status, body) = post(
        &emu,
        "/_emulator/rotation/hooks",
        &format!(r#"{{"{USER_FN}":"http://127.0.0.1:9/x"}}"#),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        emu.rotation().hook(USER_FN).as_deref(),
        Some("http://127.0.0.1:9/x")
    );
    let (status, body) = post(&emu, "/_emulator/rotation/hooks", r#"{"a":"ftp://x"}"#).await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = post(&emu, "/_emulator/rotation/strict", r#"{"strict":true}"#).await;
    assert_eq!(status, 200);
    assert!(emu.rotation().strict());
    emu.shutdown().await;
}

async fn post(emu: &Emulator, path: &str, body: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(emu.addr())
        .await
        .expect("connect");
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("read");
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, out)
}
