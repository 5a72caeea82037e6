//! The wire protocol seen from raw HTTP: bad targets, bad JSON, missing tokens, status codes,
//! content types, `__type` + `X-Amzn-ErrorType`, body limits, admin endpoints, SigV4 verification
//! and fault injection (also through the SDK).
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{
    admin_post, assert_code, aws_call, aws_call_as, client, client_for, code, create, describe,
    emulator, get, post_signed, raw, sign, signed_emulator, start, AKID, SECRET_KEY,
};
use secretsmanager_emulator::{Emulator, FaultRule, FaultSettings};

#[tokio::test]
async fn protocol_errors_are_aws_shaped() {
    let emu = emulator().await;
    let a = emu.addr();
    // unknown and missing targets
    let r = aws_call(a, "secretsmanager.NoSuchOperation", "{}").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["__type"], "UnknownOperationException");
    assert_eq!(
        r.header("x-amzn-errortype"),
        Some("UnknownOperationException")
    );
    let r = aws_call(a, "kms.CreateSecret", "{}").await;
    assert_eq!(r.json()["__type"], "UnknownOperationException");
    // malformed JSON / not an object / wrong member types
    for body in ["{not json", "[1,2]", "\"str\"", r#"{"Name": 5}"#] {
        let r = aws_call(a, "secretsmanager.CreateSecret", body).await;
        assert_eq!(r.status, 400, "{body}");
        assert_eq!(r.json()["__type"], "SerializationException", "{body}");
    }
    // missing required member
    let r = aws_call(a, "secretsmanager.GetSecretValue", "{}").await;
    assert_eq!(r.json()["__type"], "ValidationException");
    assert_eq!(
        r.json()["Message"],
        "1 validation error detected: Value null at 'secretId' failed to satisfy constraint: Member must not be null"
    );
    let long = "n".repeat(513);
    let r = aws_call(
        a,
        "secretsmanager.CreateSecret",
        &format!(
            r#"{{"Name":"{long}","Description":"{}"}}"#,
            "d".repeat(2049)
        ),
    )
    .await;
    let m = r.json()["Message"].as_str().unwrap().to_string();
    assert!(m.starts_with("2 validation errors detected: "), "{m}");
    assert!(m.contains(&format!("Value '{long}' at 'name' failed to satisfy constraint: Member must have length less than or equal to 512")), "{m}");
    // raw CreateSecret with a value but no token
    let r = aws_call(
        a,
        "secretsmanager.CreateSecret",
        r#"{"Name":"raw","SecretString":"x"}"#,
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["__type"], "InvalidRequestException");
    assert_eq!(
        r.json()["Message"],
        "You must provide a ClientRequestToken value. We recommend a UUID-type value."
    );
    assert!(r.json().get("message").is_none(), "AWS sends Message only");
    // success: JSON 1.1 content type, request id, epoch-number timestamps
    let r = aws_call(a, "secretsmanager.CreateSecret", r#"{"Name":"raw","SecretString":"x","ClientRequestToken":"aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa"}"#).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/x-amz-json-1.1"));
    assert!(r.header("x-amzn-requestid").is_some_and(|v| v.len() == 36));
    let d = aws_call(
        a,
        "secretsmanager.DescribeSecret",
        r#"{"SecretId":"raw","Unknown":"ignored"}"#,
    )
    .await;
    assert!(d.json()["CreatedDate"].is_number());
    assert!(
        d.json().get("Tags").is_none(),
        "members without a value are left out"
    );
    // not found is 400, never 404
    let r = aws_call(
        a,
        "secretsmanager.GetSecretValue",
        r#"{"SecretId":"missing"}"#,
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.header("x-amzn-errortype"),
        Some("ResourceNotFoundException")
    );
    // binary is base64 on the wire, decoded exactly once
    let r = aws_call(a, "secretsmanager.CreateSecret", r#"{"Name":"bin","SecretBinary":"AAEC/w==","ClientRequestToken":"bbbbbbbb-aaaa-aaaa-aaaa-aaaaaaaaaaaa"}"#).await;
    assert_eq!(r.status, 200);
    let g = aws_call(a, "secretsmanager.GetSecretValue", r#"{"SecretId":"bin"}"#).await;
    assert_eq!(g.json()["SecretBinary"], "AAEC/w==");
    let r = aws_call(a, "secretsmanager.CreateSecret", r#"{"Name":"bin2","SecretBinary":"!!notbase64","ClientRequestToken":"cccccccc-aaaa-aaaa-aaaa-aaaaaaaaaaaa"}"#).await;
    assert_eq!(r.json()["__type"], "SerializationException");
    // operations of other modules are plugged in (GetRandomPassword: password.rs)
    let r = aws_call(a, "secretsmanager.GetRandomPassword", "{}").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["RandomPassword"].as_str().map(str::len), Some(32));
    // GET / and oversized bodies
    let r = raw(a, "GET", "/", &[], b"").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["__type"], "UnknownOperationException");
    let huge = vec![b' '; 3 * 1024 * 1024];
    let r = raw(
        a,
        "POST",
        "/",
        &[("x-amz-target", "secretsmanager.ListSecrets")],
        &huge,
    )
    .await;
    assert_eq!(r.status, 413);
    assert!(r.json()["__type"].is_string());
}

#[tokio::test]
async fn missing_or_malformed_authorization() {
    let emu = emulator().await;
    let a = emu.addr();
    let r = raw(
        a,
        "POST",
        "/",
        &[
            ("x-amz-target", "secretsmanager.ListSecrets"),
            ("content-type", "application/x-amz-json-1.1"),
        ],
        b"{}",
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["__type"], "MissingAuthenticationTokenException");
    let r = raw(
        a,
        "POST",
        "/",
        &[
            ("x-amz-target", "secretsmanager.ListSecrets"),
            ("authorization", "AWS4-HMAC-SHA256 Signature=abc"),
        ],
        b"{}",
    )
    .await;
    assert_eq!(r.json()["__type"], "IncompleteSignatureException");
    // without configured credentials, any well-formed signature is accepted
    let c = client_for(&emu.endpoint(), "us-east-1", "anything", "whatever");
    c.list_secrets().send().await.unwrap();
}

#[tokio::test]
async fn sigv4_verification_with_configured_credentials() {
    let emu = signed_emulator().await;
    let a = emu.addr();
    client(&emu)
        .create_secret()
        .name("signed")
        .secret_string("x")
        .send()
        .await
        .unwrap();
    assert_code(
        client_for(&emu.endpoint(), "us-east-1", AKID, "wrong-secret")
            .list_secrets()
            .send()
            .await,
        "InvalidSignatureException",
    );
    assert_code(
        client_for(&emu.endpoint(), "us-east-1", "AKIDUNKNOWN", SECRET_KEY)
            .list_secrets()
            .send()
            .await,
        "UnrecognizedClientException",
    );
    let r = aws_call_as(
        a,
        "secretsmanager.ListSecrets",
        "{}",
        AKID,
        SECRET_KEY,
        "us-east-1",
    )
    .await;
    assert_eq!(r.status, 200);
    // tampered body: sign one body, send another
    let target = "secretsmanager.GetSecretValue";
    let signed_body = br#"{"SecretId":"signed"}"#;
    let (auth, date) = sign(a, SECRET_KEY, target, signed_body, chrono::Utc::now());
    let ok = post_signed(a, target, signed_body, &auth, &date).await;
    assert_eq!(ok.status, 200, "{:?}", ok.json());
    let bad = post_signed(a, target, br#"{"SecretId":"other!"}"#, &auth, &date).await;
    assert_eq!(bad.json()["__type"], "InvalidSignatureException");
    // an X-Amz-Date older than 15 minutes
    let old = chrono::Utc::now() - chrono::Duration::minutes(20);
    let (auth, date) = sign(a, SECRET_KEY, "secretsmanager.ListSecrets", b"{}", old);
    let r = post_signed(a, "secretsmanager.ListSecrets", b"{}", &auth, &date).await;
    assert_eq!(r.json()["__type"], "InvalidSignatureException");
    assert!(r.json()["Message"]
        .as_str()
        .unwrap()
        .starts_with("Signature expired: "));
    // missing header
    let r = raw(
        a,
        "POST",
        "/",
        &[("x-amz-target", "secretsmanager.ListSecrets")],
        b"{}",
    )
    .await;
    assert_eq!(r.json()["__type"], "MissingAuthenticationTokenException");
}

#[tokio::test]
async fn fault_injection_throttling_errors_latency_and_stats() {
    let (emu, c) = start().await;
    create(&c, "f", "x").await;
    // throttle GetSecretValue: burst 3, negligible refill
    let rule = FaultRule {
        burst: Some(3.0),
        ..FaultRule::limiting(&["GetSecretValue"], 0.01)
    };
    emu.faults().set(FaultSettings::seeded(42, vec![rule]));
    for _ in 0..3 {
        get(&c, "f").await.unwrap();
    }
    let e = get(&c, "f").await.unwrap_err();
    assert_eq!(code(&e), "ThrottlingException");
    assert_eq!(e.raw_response().unwrap().status().as_u16(), 400);
    describe(&c, "f").await.unwrap();
    // error rates through the admin endpoint
    let body = r#"{"seed":1,"rules":[{"operations":["DescribeSecret"],"error_rate":1.0}]}"#;
    let r = raw(
        emu.addr(),
        "POST",
        "/_emulator/faults",
        &[("content-type", "application/json")],
        body.as_bytes(),
    )
    .await;
    assert_eq!(r.status, 200);
    let e = describe(&c, "f").await.unwrap_err();
    assert_eq!(code(&e), "InternalServiceError");
    assert_eq!(e.raw_response().unwrap().status().as_u16(), 500);
    let body = r#"{"rules":[{"unavailable_rate":1.0}]}"#;
    admin_post(emu.addr(), "/_emulator/faults", body.as_bytes()).await;
    let e = c.list_secrets().send().await.unwrap_err();
    assert_eq!(e.raw_response().unwrap().status().as_u16(), 503);
    // latency
    admin_post(
        emu.addr(),
        "/_emulator/faults",
        br#"{"rules":[{"latency_ms":150}]}"#,
    )
    .await;
    let t = Instant::now();
    c.list_secrets().send().await.unwrap();
    assert!(t.elapsed() >= Duration::from_millis(150));
    // bad settings are refused
    let r = admin_post(
        emu.addr(),
        "/_emulator/faults",
        br#"{"rules":[{"error_rate":2}]}"#,
    )
    .await;
    assert_eq!(r.status, 400);
    admin_post(emu.addr(), "/_emulator/faults", b"{}").await;
    // stats count calls per operation
    let s = raw(emu.addr(), "GET", "/_emulator/stats", &[], b"")
        .await
        .json();
    assert_eq!(s["calls"]["GetSecretValue"], 4);
    assert!(s["throttled"].as_u64().unwrap() >= 1);
    // clock and reset
    let r = admin_post(
        emu.addr(),
        "/_emulator/clock/advance",
        br#"{"seconds": 86400}"#,
    )
    .await;
    assert!(r.json()["offset_seconds"].as_f64().unwrap() >= 86_400.0);
    let r = admin_post(emu.addr(), "/_emulator/reset", b"").await;
    assert_eq!(r.status, 200);
    // the reset also puts the clock back at the system time
    let clock = raw(emu.addr(), "GET", "/_emulator/clock", &[], b"")
        .await
        .json();
    assert_eq!(clock["offset_seconds"].as_f64(), Some(0.0));
    assert_eq!(
        code(&describe(&c, "f").await.unwrap_err()),
        "ResourceNotFoundException"
    );
    assert_eq!(
        raw(emu.addr(), "GET", "/_emulator/nope", &[], b"")
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn seeded_error_rate_is_deterministic_through_the_api() {
    let run = || async {
        let rule = FaultRule {
            error_rate: Some(0.5),
            ..Default::default()
        };
        let seeded = FaultSettings::seeded(9, vec![rule]);
        let emu = Emulator::builder().faults(seeded).start().await.unwrap();
        let c = client(&emu);
        let mut out = Vec::new();
        for _ in 0..20 {
            out.push(c.list_secrets().send().await.is_ok());
        }
        out
    };
    let a = run().await;
    assert_eq!(a, run().await);
    assert!(a.contains(&true) && a.contains(&false));
}
