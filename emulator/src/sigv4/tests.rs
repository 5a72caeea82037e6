//! Tests of SigV4: AWS's documented signing example, percent-decoding, and a sign / parse /
//! verify round trip with its failures.
#![allow(clippy::unwrap_used)]

use chrono::Utc;

use super::*;

// The worked example of AWS's SigV4 documentation (IAM ListUsers, 2015-08-30).
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

fn example_headers() -> Vec<(String, String)> {
    vec![
        (
            "content-type".into(),
            "application/x-www-form-urlencoded; charset=utf-8".into(),
        ),
        ("host".into(), "iam.amazonaws.com".into()),
        ("x-amz-date".into(), "20150830T123600Z".into()),
    ]
}

#[test]
fn percent_decode_decodes_only_two_hex_digit_escapes() {
    assert_eq!(percent_decode("a%2Fb+c%3d"), "a/b+c=");
    assert_eq!(percent_decode("%zz%+41%4"), "%zz%+41%4");
}

#[test]
fn aws_documentation_vector() {
    let headers = example_headers();
    let signed: Vec<String> = vec!["content-type".into(), "host".into(), "x-amz-date".into()];
    let canonical = canonical_request(
        "GET",
        "/",
        "Action=ListUsers&Version=2010-05-08",
        &headers,
        &signed,
        &sha256_hex(b""),
    );
    assert_eq!(
        sha256_hex(canonical.as_bytes()),
        "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
    );
    assert_eq!(
        hex::encode(signing_key(SECRET, "20150830", "us-east-1", "iam")),
        "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
    );
    let sig = signature(SECRET, "20150830T123600Z", "us-east-1", "iam", &canonical);
    assert_eq!(
        sig,
        "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
    );
}

#[test]
fn parse_and_verify_roundtrip() {
    let now = Utc::now();
    let body = br#"{"SecretId":"x"}"#;
    let (auth, date) = sign_post(
        "AKID",
        "s3cr3t",
        "eu-west-1",
        "127.0.0.1:4566",
        "secretsmanager.GetSecretValue",
        body,
        now,
    );
    let a = parse_authorization(&auth).unwrap();
    assert_eq!(a.region, "eu-west-1");
    let headers = vec![
        (
            "content-type".to_string(),
            "application/x-amz-json-1.1".to_string(),
        ),
        ("host".to_string(), "127.0.0.1:4566".to_string()),
        ("x-amz-date".to_string(), date),
        (
            "x-amz-target".to_string(),
            "secretsmanager.GetSecretValue".to_string(),
        ),
    ];
    let req = RequestParts {
        method: "POST",
        path: "/",
        query: "",
        headers: &headers,
        body,
    };
    verify(&a, &req, "s3cr3t", now).unwrap();
    assert_eq!(
        verify(&a, &req, "wrong", now).unwrap_err().code,
        "InvalidSignatureException"
    );
    let tampered = RequestParts {
        body: br#"{"SecretId":"y"}"#,
        ..req
    };
    assert_eq!(
        verify(&a, &tampered, "s3cr3t", now).unwrap_err().code,
        "InvalidSignatureException"
    );
    let late = now + chrono::Duration::minutes(16);
    let e = verify(&a, &RequestParts { body, ..tampered }, "s3cr3t", late).unwrap_err();
    assert!(e.message.starts_with("Signature expired"), "{}", e.message);
    assert_eq!(
        parse_authorization("AWS4-HMAC-SHA256 Signature=abc")
            .unwrap_err()
            .code,
        "IncompleteSignatureException"
    );
}
