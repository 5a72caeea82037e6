//! Rotation through the real SDK: a rotation function mapped to a local HTTP endpoint (a hyper server in
//! this test that receives the four step events and calls back into the emulator with the SDK, as a
//! rotation Lambda does), the built-in rotation function, the AWS (default) and moto-compatible modes without a
//! function, RotateImmediately=false, schedules on the emulator's clock, CancelRotateSecret, and errors.

mod extra_support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_secretsmanager::types::RotationRulesType;
use aws_sdk_secretsmanager::Client;
use extra_support::{assert_err, client, create, start, REGION};
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
            let cur = sm
                .get_secret_value()
                .secret_id(arn)
                .send()
                .await
                .map_err(|e| format!("{e:?}"))?;
            let next = format!("{}+rotated", cur.secret_string().unwrap_or_default());
            sm.put_secret_value()
                .secret_id(arn)
                .client_request_token(token)
                .secret_string(next)
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
            let d = sm
                .describe_secret()
                .secret_id(arn)
                .send()
                .await
                .map_err(|e| format!("{e:?}"))?;
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
    let sm = Arc::new(client(&endpoint, REGION));
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
    c.describe_secret()
        .secret_id(id)
        .send()
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

#[tokio::test]
async fn mapped_http_rotation_function_gets_four_steps_and_calls_back() {
    let (emu, c) = start().await;
    let (url, events) = hook_server(emu.endpoint(), None).await;
    emu.rotation().set_hook(USER_FN, &url).expect("map hook");
    let arn = create(&c, "rot/hook", "pw0").await;
    let out = c
        .rotate_secret()
        .secret_id("rot/hook")
        .rotation_lambda_arn(USER_FN)
        .rotation_rules(days(30))
        .send()
        .await
        .expect("rotate");
    let token = out.version_id().expect("version id").to_string();
    assert_eq!(
        steps(&events),
        ["createSecret", "setSecret", "testSecret", "finishSecret"]
    );
    let first = events.lock().expect("events")[0].clone();
    assert_eq!(first["SecretId"], Value::from(arn.as_str()));
    assert_eq!(first["ClientRequestToken"], Value::from(token.as_str()));
    let v = c
        .get_secret_value()
        .secret_id("rot/hook")
        .send()
        .await
        .expect("get");
    assert_eq!(
        (v.secret_string(), v.version_id()),
        (Some("pw0+rotated"), Some(token.as_str()))
    );
    let st = stages(&c, "rot/hook").await;
    assert_eq!(st[&token], ["AWSCURRENT"]);
    assert!(st.values().any(|s| s == &["AWSPREVIOUS"]));
    let d = c
        .describe_secret()
        .secret_id("rot/hook")
        .send()
        .await
        .expect("describe");
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
    let (url, events) = hook_server(emu.endpoint(), Some("setSecret")).await;
    emu.rotation().set_hook(USER_FN, &url).expect("map hook");
    create(&c, "rot/fail", "pw0").await;
    let out = c
        .rotate_secret()
        .secret_id("rot/fail")
        .rotation_lambda_arn(USER_FN)
        .send()
        .await
        .expect("rotate");
    let token = out.version_id().expect("token").to_string();
    assert_eq!(
        steps(&events),
        ["createSecret", "setSecret"],
        "steps stop at the failure"
    );
    assert_eq!(stages(&c, "rot/fail").await[&token], ["AWSPENDING"]);
    assert_eq!(
        c.get_secret_value()
            .secret_id("rot/fail")
            .send()
            .await
            .expect("get")
            .secret_string(),
        Some("pw0")
    );
    assert_err(
        c.rotate_secret().secret_id("rot/fail").send().await,
        "InvalidRequestException",
        "Previous rotation request is still in progress.",
    );
    // CancelRotateSecret turns rotation off, reports the pending version and leaves the labels alone.
    let cancel = c
        .cancel_rotate_secret()
        .secret_id("rot/fail")
        .send()
        .await
        .expect("cancel");
    assert_eq!(cancel.version_id(), Some(token.as_str()));
    let d = c
        .describe_secret()
        .secret_id("rot/fail")
        .send()
        .await
        .expect("describe");
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
    let out = c
        .rotate_secret()
        .secret_id("rot/json")
        .rotation_lambda_arn(BUILTIN)
        .rotation_rules(
            RotationRulesType::builder()
                .schedule_expression("rate(10 days)")
                .build(),
        )
        .send()
        .await
        .expect("rotate");
    let v: Value = serde_json::from_str(
        c.get_secret_value()
            .secret_id("rot/json")
            .send()
            .await
            .expect("get")
            .secret_string()
            .expect("s"),
    )
    .expect("json");
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
    let prev = c
        .get_secret_value()
        .secret_id("rot/json")
        .version_stage("AWSPREVIOUS")
        .send()
        .await
        .expect("previous");
    assert!(prev.secret_string().expect("prev").contains("\"old\""));

    create(&c, "rot/plain", "plain-token").await;
    c.rotate_secret()
        .secret_id("rot/plain")
        .rotation_lambda_arn(BUILTIN)
        .send()
        .await
        .expect("rotate plain");
    let now = c
        .get_secret_value()
        .secret_id("rot/plain")
        .send()
        .await
        .expect("get")
        .secret_string()
        .map(str::to_string);
    assert!(now
        .as_deref()
        .is_some_and(|p| p != "plain-token" && p.len() == 32));
    emu.shutdown().await;
}

#[tokio::test]
async fn rotate_immediately_false_runs_only_test_secret() {
    let (emu, c) = start().await;
    let (url, events) = hook_server(emu.endpoint(), None).await;
    emu.rotation().set_hook(USER_FN, &url).expect("map hook");
    create(&c, "rot/later", "pw0").await;
    let before = stages(&c, "rot/later").await;
    c.rotate_secret()
        .secret_id("rot/later")
        .rotation_lambda_arn(USER_FN)
        .rotation_rules(days(7))
        .rotate_immediately(false)
        .send()
        .await
        .expect("configure");
    assert_eq!(steps(&events), ["testSecret"]);
    assert_eq!(
        stages(&c, "rot/later").await,
        before,
        "no version is left behind"
    );
    let d = c
        .describe_secret()
        .secret_id("rot/later")
        .send()
        .await
        .expect("describe");
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
    c.rotate_secret()
        .secret_id("rot/sched")
        .rotation_lambda_arn(BUILTIN)
        .rotation_rules(days(2))
        .rotate_immediately(false)
        .send()
        .await
        .expect("configure");
    let v0 = c
        .get_secret_value()
        .secret_id("rot/sched")
        .send()
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
    let v1 = c
        .get_secret_value()
        .secret_id("rot/sched")
        .send()
        .await
        .expect("get");
    assert_ne!(v1.version_id().map(str::to_string), v0);
    let d = c
        .describe_secret()
        .secret_id("rot/sched")
        .send()
        .await
        .expect("describe");
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
        let d = c
            .describe_secret()
            .secret_id("rot/sched")
            .send()
            .await
            .expect("describe");
        if d.last_rotated_date().expect("last").secs() > last {
            rotated = true;
            break;
        }
    }
    assert!(rotated, "the ticker rotated the secret");
    // Cancelled rotation is not scheduled any more.
    c.cancel_rotate_secret()
        .secret_id("rot/sched")
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
    let v = c
        .get_secret_value()
        .secret_id("rot/none")
        .send()
        .await
        .expect("get");
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
    c.rotate_secret()
        .secret_id("rot/none")
        .rotation_lambda_arn(USER_FN)
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
        c.rotate_secret()
            .secret_id("rot/strict")
            .rotation_lambda_arn(USER_FN)
            .send()
            .await,
        "AccessDeniedException",
        "cannot invoke",
    );
    c.rotate_secret()
        .secret_id("rot/strict")
        .rotation_lambda_arn(BUILTIN)
        .send()
        .await
        .expect("built-in works");
    emu.shutdown().await;
}

#[tokio::test]
async fn rotation_errors() {
    let (emu, c) = start().await;
    create(&c, "rot/err", "v").await;
    assert_err(
        c.rotate_secret()
            .secret_id("rot/err")
            .rotation_rules(days(0))
            .send()
            .await,
        "InvalidParameterException",
        "AutomaticallyAfterDays must be within 1-1000.",
    );
    let both = RotationRulesType::builder()
        .automatically_after_days(3)
        .schedule_expression("rate(4 hours)")
        .build();
    assert_err(
        c.rotate_secret()
            .secret_id("rot/err")
            .rotation_rules(both)
            .send()
            .await,
        "InvalidParameterException",
        "both",
    );
    let bad = RotationRulesType::builder()
        .schedule_expression("cron(0 8 * * * *)")
        .build();
    assert_err(
        c.rotate_secret()
            .secret_id("rot/err")
            .rotation_rules(bad)
            .send()
            .await,
        "InvalidParameterException",
        "ScheduleExpression",
    );
    assert_err(
        c.rotate_secret()
            .secret_id("rot/err")
            .client_request_token("short")
            .send()
            .await,
        "ValidationException",
        "clientRequestToken",
    );
    assert_err(
        c.rotate_secret().secret_id("rot/missing").send().await,
        "ResourceNotFoundException",
        "",
    );
    assert_err(
        c.cancel_rotate_secret()
            .secret_id("rot/missing")
            .send()
            .await,
        "ResourceNotFoundException",
        "",
    );
    assert_err(
        c.cancel_rotate_secret().secret_id("rot/err").send().await,
        "InvalidRequestException",
        "doesn't already have a Lambda function ARN configured",
    );
    c.delete_secret()
        .secret_id("rot/err")
        .recovery_window_in_days(7)
        .send()
        .await
        .expect("delete");
    assert_err(
        c.rotate_secret().secret_id("rot/err").send().await,
        "InvalidRequestException",
        "marked for deletion",
    );
    assert_err(
        c.cancel_rotate_secret().secret_id("rot/err").send().await,
        "InvalidRequestException",
        "marked for deletion",
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
