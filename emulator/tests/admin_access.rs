//! Access control of the admin endpoint (`/_emulator/*`): with `credentials` configured, admin
//! calls must be SigV4-signed with one of them (or carry the admin token), unsigned ones are
//! refused with an AWS-shaped 403 and change nothing; state-changing admin calls naming a foreign
//! `Host` or coming from a foreign `Origin` are refused in every mode.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;

use common::{admin_post, aws_call, raw, RawResponse, AKID, SECRET_KEY};
use secretsmanager_emulator::{sigv4, Emulator, EmulatorBuilder};

const CREATE: &str = r#"{"Name":"kept","SecretString":"v1","ClientRequestToken":"00000000-0000-4000-8000-000000000001"}"#;

/// Creates the secret `kept`.
async fn create_kept(a: SocketAddr) {
    let r = aws_call(a, "secretsmanager.CreateSecret", CREATE).await;
    r.assert_status(200, "");
}

/// The emulator `builder` configures, started, with the secret `kept` created; and its address.
async fn with_kept(builder: EmulatorBuilder) -> (Emulator, SocketAddr) {
    let emu = builder.start().await.unwrap();
    let a = emu.addr();
    create_kept(a).await;
    (emu, a)
}

/// Whether the secret `kept` still answers GetSecretValue.
async fn secret_kept(a: SocketAddr) -> bool {
    aws_call(a, "secretsmanager.GetSecretValue", r#"{"SecretId":"kept"}"#)
        .await
        .status
        == 200
}

/// An unsigned `POST /_emulator/reset` with `headers`.
async fn reset(a: SocketAddr, headers: &[(&str, &str)]) -> RawResponse {
    raw(a, "POST", "/_emulator/reset", headers, b"").await
}

/// An admin request SigV4-signed (host and x-amz-date) with `secret`.
async fn signed_admin(
    a: SocketAddr,
    method: &str,
    path_and_query: &str,
    body: &[u8],
    secret: &str,
) -> RawResponse {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let amz_date = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
    let headers = vec![
        ("host".to_string(), a.to_string()),
        ("x-amz-date".to_string(), amz_date.clone()),
    ];
    let signed: Vec<String> = headers.iter().map(|(n, _)| n.clone()).collect();
    let payload_hash = sigv4::sha256_hex(body);
    let canonical = sigv4::canonical_request(method, path, query, &headers, &signed, &payload_hash);
    let sig = sigv4::signature(secret, &amz_date, "us-east-1", "secretsmanager", &canonical);
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential={AKID}/{}/us-east-1/secretsmanager/aws4_request, SignedHeaders=host;x-amz-date, Signature={sig}",
        &amz_date[..8]
    );
    raw(
        a,
        method,
        path_and_query,
        &[("x-amz-date", &amz_date), ("authorization", &auth)],
        body,
    )
    .await
}

fn assert_refused(r: &RawResponse, what: &str) {
    r.assert_status(403, what);
    let j = r.json();
    assert!(
        j["__type"].as_str().is_some_and(|t| !t.is_empty()),
        "{what}: {j}"
    );
    assert!(
        j["Message"].as_str().is_some_and(|m| !m.is_empty()),
        "{what}: {j}"
    );
}

#[tokio::test]
async fn unsigned_admin_calls_are_refused_when_credentials_are_configured() {
    let (emu, a) = with_kept(Emulator::builder().credentials(AKID, SECRET_KEY)).await;
    let offset_before = emu.shared().clock.offset();

    let r = reset(a, &[]).await;
    assert_refused(&r, "unsigned reset");
    assert!(secret_kept(a).await, "an unsigned reset wiped the emulator");
    let r = admin_post(a, "/_emulator/clock/advance", br#"{"seconds":86400}"#).await;
    assert_refused(&r, "unsigned clock advance");
    assert_eq!(emu.shared().clock.offset(), offset_before);
    let r = admin_post(a, "/_emulator/faults", br#"{"rules":[{"error_rate":1.0}]}"#).await;
    assert_refused(&r, "unsigned faults");
    assert!(secret_kept(a).await, "an unsigned fault rule was installed");
    let r = admin_post(
        a,
        "/_emulator/rotation/hooks",
        br#"{"arn:aws:lambda:us-east-1:123456789012:function:f":"http://127.0.0.1:1/x"}"#,
    )
    .await;
    assert_refused(&r, "unsigned rotation hooks");
    assert!(emu.rotation().hooks().is_empty());
    let reveal = br#"{"account":"123456789012","region":"us-east-1","name":"kept"}"#;
    let r = admin_post(a, "/_emulator/state/reveal", reveal).await;
    assert_refused(&r, "unsigned reveal");
    assert!(!String::from_utf8_lossy(&r.body).contains("v1"));
    for path in [
        "/_emulator/state",
        "/_emulator/requests",
        "/_emulator/rates",
        "/_emulator/stats",
        "/_emulator/faults",
        "/_emulator/clock",
        "/_emulator/rotation/hooks",
    ] {
        assert_refused(&raw(a, "GET", path, &[], b"").await, path);
    }
    // signed with an unknown key or the wrong secret: refused as well
    assert_refused(
        &signed_admin(a, "POST", "/_emulator/reset", b"", "not-the-secret").await,
        "wrongly signed reset",
    );
    assert!(secret_kept(a).await);
    // health and the console's static page stay open (they hold no state)
    assert_eq!(
        raw(a, "GET", "/_emulator/health", &[], b"").await.status,
        200
    );
    assert_eq!(raw(a, "GET", "/_emulator/ui", &[], b"").await.status, 200);

    // signed with the configured credentials: accepted
    let r = signed_admin(a, "GET", "/_emulator/state?limit=10", b"", SECRET_KEY).await;
    r.assert_status(200, "");
    let r = signed_admin(
        a,
        "POST",
        "/_emulator/clock/advance",
        br#"{"seconds":60}"#,
        SECRET_KEY,
    )
    .await;
    r.assert_status(200, "");
    assert_eq!(emu.shared().clock.offset().as_secs(), 60);
    let r = signed_admin(a, "POST", "/_emulator/reset", b"", SECRET_KEY).await;
    r.assert_status(200, "");
    assert!(!secret_kept(a).await, "the signed reset did not reset");
    emu.shutdown().await;
}

#[tokio::test]
async fn cross_site_admin_posts_are_refused() {
    let (emu, a) = with_kept(Emulator::builder()).await;
    let own_origin = format!("http://{a}");
    // A page of another site (CSRF): the browser sends its Origin.
    let r = reset(a, &[("origin", "http://evil.example")]).await;
    assert_refused(&r, "foreign Origin");
    assert!(secret_kept(a).await);
    let r = reset(a, &[("origin", "null")]).await;
    assert_refused(&r, "opaque Origin");
    assert!(secret_kept(a).await);
    // DNS rebinding: the page's own origin, but a name resolving to the emulator.
    let mut s = tokio::net::TcpStream::connect(a).await.unwrap();
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    s.write_all(b"POST /_emulator/reset HTTP/1.1\r\nhost: rebind.evil.example:4566\r\norigin: http://rebind.evil.example:4566\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").await.unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    assert!(secret_kept(a).await, "a rebinding page reset the emulator");
    // the console's own requests: same origin, loopback host
    let r = reset(a, &[("origin", &own_origin)]).await;
    r.assert_status(200, "");
    assert!(!secret_kept(a).await);
    emu.shutdown().await;
}

#[tokio::test]
async fn the_admin_token_authorizes_admin_calls() {
    let signed = Emulator::builder().credentials(AKID, SECRET_KEY);
    let (emu, a) = with_kept(signed.admin_token("tok-0123456789")).await;
    let r = reset(a, &[("x-emulator-admin-token", "wrong")]).await;
    assert_refused(&r, "wrong token");
    assert!(secret_kept(a).await);
    let token = [("x-emulator-admin-token", "tok-0123456789")];
    assert_eq!(
        raw(a, "GET", "/_emulator/state", &token, b"").await.status,
        200
    );
    let r = reset(a, &token).await;
    r.assert_status(200, "");
    assert!(!secret_kept(a).await);
    emu.shutdown().await;
}

#[tokio::test]
async fn without_credentials_admin_calls_need_no_signature() {
    let (emu, a) = with_kept(Emulator::builder()).await;
    assert_eq!(
        raw(a, "GET", "/_emulator/state", &[], b"").await.status,
        200
    );
    assert_eq!(reset(a, &[]).await.status, 200);
    assert!(!secret_kept(a).await);
    emu.shutdown().await;
}

#[tokio::test]
async fn bad_clock_advances_are_refused_naming_the_field() {
    let emu = Emulator::builder().start().await.unwrap();
    let a = emu.addr();
    for body in [
        r#"{"seconds": 1e20}"#,
        r#"{"seconds": 1e300}"#,
        r#"{"seconds": -1}"#,
        r#"{"seconds": -1e20}"#,
        r#"{"seconds": "86400"}"#,
        r#"{"seconds": null}"#,
        r#"{"seconds": [1]}"#,
        r#"{"secs": 1}"#,
        r#"{"seconds": 9223372036854.775807}"#,
    ] {
        let r = admin_post(a, "/_emulator/clock/advance", body.as_bytes()).await;
        r.assert_status(400, body);
        let msg = r.json()["error"].as_str().unwrap_or("").to_string();
        assert!(msg.contains("'seconds'"), "{body}: {msg}");
        assert_eq!(
            emu.shared().clock.offset().as_secs(),
            0,
            "{body} moved the clock"
        );
    }
    // a large but allowed step, then one that would overflow the offset: refused, clock kept
    let r = admin_post(
        a,
        "/_emulator/clock/advance",
        br#"{"seconds": 31536000000}"#,
    )
    .await;
    r.assert_status(200, "");
    let r = admin_post(a, "/_emulator/clock/advance", br#"{"seconds": 1}"#).await;
    r.assert_status(400, "");
    assert_eq!(emu.shared().clock.offset().as_secs(), 31_536_000_000);
    // the emulator still answers
    assert_eq!(
        raw(a, "GET", "/_emulator/clock", &[], b"").await.status,
        200
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn rotation_hook_urls_cannot_inject_into_the_hook_request() {
    let emu = Emulator::builder().start().await.unwrap();
    let a = emu.addr();
    let f = "arn:aws:lambda:us-east-1:123456789012:function:f";
    for url in [
        "http://127.0.0.1:9/x\r\nX-Injected: 1",
        "http://127.0.0.1:9/x HTTP/1.1\r\nHost: other",
        "http://user:pw@127.0.0.1:9/x",
        "http://127.0.0.1:99999/x",
        "http://127.0.0.1:9/x#frag",
    ] {
        let body = serde_json::json!({ f: url }).to_string();
        let r = admin_post(a, "/_emulator/rotation/hooks", body.as_bytes()).await;
        r.assert_status(400, &format!("{url:?}"));
        assert!(emu.rotation().hooks().is_empty(), "{url:?} was accepted");
    }
    emu.shutdown().await;
}

#[tokio::test]
async fn an_admin_body_that_never_arrives_times_out() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let emu = Emulator::builder().start().await.unwrap();
    let mut s = tokio::net::TcpStream::connect(emu.addr()).await.unwrap();
    let head = format!(
        "POST /_emulator/reset HTTP/1.1\r\nhost: {}\r\ncontent-length: 100\r\n\r\n",
        emu.addr()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let started = std::time::Instant::now();
    let mut answer = vec![0u8; 512];
    let n = tokio::time::timeout(std::time::Duration::from_secs(40), s.read(&mut answer))
        .await
        .expect("no answer 40 s after the admin request's headers")
        .unwrap();
    let text = String::from_utf8_lossy(&answer[..n]).to_string();
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    emu.shutdown().await;
}
