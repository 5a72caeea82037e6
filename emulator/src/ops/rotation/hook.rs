//! Rotation functions offline: the settings that map rotation Lambda ARNs to local HTTP endpoints (each
//! receives the four step events a rotation Lambda gets, as a JSON POST), the HTTP/1.1 call itself, and the
//! reserved ARN of the built-in rotation function.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Function name of the built-in rotation function: `arn:aws:lambda:<region>:<account>:function:` + this
/// (any region and account) sets a new random password and finishes the rotation with nothing else running.
pub const BUILTIN_FUNCTION_NAME: &str = "emulator-builtin-rotation";

/// How long one rotation step may take before the rotation counts as failed.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(30);

/// Whether `arn` names the built-in rotation function.
pub fn is_builtin(arn: &str) -> bool {
    let parts: Vec<&str> = arn.split(':').collect();
    parts.len() == 7
        && parts[0] == "arn"
        && parts[2] == "lambda"
        && parts[5] == "function"
        && parts[6] == BUILTIN_FUNCTION_NAME
}

/// Rotation settings shared by all requests (changeable at run time through the admin endpoint).
#[derive(Debug, Clone, Default)]
pub struct RotationSettings {
    hooks: Arc<RwLock<HashMap<String, String>>>,
    /// moto-compatible promotion instead of AWS's errors when no usable function is configured.
    moto: Arc<AtomicBool>,
    /// Set after a scan found no scheduled rotation; cleared whenever a NextRotationDate is set. The ticker
    /// skips its scan while this is set, so an emulator without schedules never walks its secrets.
    idle: Arc<AtomicBool>,
}

impl RotationSettings {
    /// Maps a rotation function ARN to an `http://host:port/path` endpoint (replacing any previous mapping).
    pub fn set_hook(
        &self,
        lambda_arn: impl Into<String>,
        url: impl Into<String>,
    ) -> Result<(), String> {
        let url = url.into();
        parse_url(&url)?;
        self.hooks
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(lambda_arn.into(), url);
        Ok(())
    }
    /// Removes a mapping; true if it existed.
    pub fn remove_hook(&self, lambda_arn: &str) -> bool {
        self.hooks
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(lambda_arn)
            .is_some()
    }
    /// The endpoint mapped to `lambda_arn`.
    pub fn hook(&self, lambda_arn: &str) -> Option<String> {
        self.hooks
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(lambda_arn)
            .cloned()
    }
    /// Every mapping.
    pub fn hooks(&self) -> HashMap<String, String> {
        self.hooks.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
    /// moto-compatible rotation: RotateSecret without a usable function (no Lambda ARN, or one that
    /// is neither mapped nor built-in) copies the current value into a new version that becomes
    /// AWSCURRENT. Off by default: AWS's errors.
    pub fn set_moto(&self, moto: bool) {
        self.moto.store(moto, Ordering::SeqCst);
    }
    /// Strict AWS mode, the opposite of [`RotationSettings::set_moto`] (the admin endpoint
    /// `/_emulator/rotation/strict` and older callers speak of it).
    pub fn set_strict(&self, strict: bool) {
        self.set_moto(!strict);
    }
    /// Records that some secret now has a NextRotationDate (the ticker scans again).
    pub fn note_scheduled(&self) {
        self.idle.store(false, Ordering::SeqCst);
    }
    /// Records whether the last scan found no scheduled rotation at all.
    pub fn set_idle(&self, idle: bool) {
        self.idle.store(idle, Ordering::SeqCst);
    }
    /// Whether the ticker may skip its scan.
    pub fn idle(&self) -> bool {
        self.idle.load(Ordering::SeqCst)
    }
    /// Whether moto-compatible rotation is on.
    pub fn moto(&self) -> bool {
        self.moto.load(Ordering::SeqCst)
    }
    /// Whether AWS's rotation errors are answered (the default).
    pub fn strict(&self) -> bool {
        !self.moto()
    }
}

/// Parses `ARN=URL` (the `--rotation-hook` flag).
pub fn parse_mapping(s: &str) -> Result<(String, String), String> {
    // The ARN contains ':' but never '='; split at the first '='.
    let (arn, url) = s
        .split_once('=')
        .ok_or_else(|| format!("expected ARN=URL, got '{s}'"))?;
    parse_url(url)?;
    Ok((arn.to_string(), url.to_string()))
}

/// (host:port, path and query) of an `http://host[:port][/path][?query]` URL, parsed by
/// `http::Uri`: no user info, fragment, whitespace or control characters (CR/LF), so nothing can
/// reach the hand-written request line or `Host` header but a host, a port and a path.
fn parse_url(url: &str) -> Result<(String, String), String> {
    let bad = |why: &str| format!("rotation hook URL '{}' {why}", url.escape_debug());
    if url
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || c == '#')
    {
        return Err(bad(
            "must not contain whitespace, control characters or a fragment",
        ));
    }
    let uri: hyper::Uri = url
        .parse()
        .map_err(|e| bad(&format!("is not a URL ({e})")))?;
    if uri.scheme_str() != Some("http") {
        return Err(bad("must start with http:// (local endpoints only)"));
    }
    let Some(authority) = uri.authority() else {
        return Err(bad("has no host"));
    };
    if authority.as_str().contains('@') {
        return Err(bad("must not contain user information"));
    }
    let host = authority.host();
    if host.is_empty() {
        return Err(bad("has no host"));
    }
    let port = match authority.as_str().get(host.len()..) {
        None | Some("") => 80,
        Some(p) => match p.strip_prefix(':').and_then(|p| p.parse::<u16>().ok()) {
            Some(0) | None => return Err(bad("has no valid port (1-65535)")),
            Some(p) => p,
        },
    };
    let path = uri
        .path_and_query()
        .map(|p| p.as_str())
        .filter(|p| p.starts_with('/'))
        .unwrap_or("/");
    Ok((format!("{host}:{port}"), path.to_string()))
}

/// The event a rotation function receives for one step, members in the order of AWS's rotation
/// documentation (Step, SecretId, ClientRequestToken, RotationToken).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct StepEvent<'a> {
    step: &'a str,
    secret_id: &'a str,
    client_request_token: &'a str,
    rotation_token: &'a str,
}

/// Posts one step event `{"Step", "SecretId", "ClientRequestToken", "RotationToken"}` to `url`, as a Lambda
/// invocation would deliver it. A 2xx answer is success; anything else (status, connection error,
/// timeout) is the step's failure, described in the error.
pub async fn invoke(
    url: &str,
    step: &str,
    secret_arn: &str,
    token: &str,
    rotation_token: &str,
) -> Result<(), String> {
    let (authority, path) = parse_url(url)?;
    let body = serde_json::to_vec(&StepEvent {
        client_request_token: token,
        rotation_token,
        secret_id: secret_arn,
        step,
    })
    .map_err(|e| e.to_string())?;
    let call = async {
        let mut conn = TcpStream::connect(&authority)
            .await
            .map_err(|e| format!("cannot connect to {url}: {e}"))?;
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nX-Amz-Invocation-Type: RequestResponse\r\nConnection: close\r\n\r\n",
            body.len()
        );
        conn.write_all(head.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        conn.write_all(&body).await.map_err(|e| e.to_string())?;
        let mut answer = Vec::new();
        conn.read_to_end(&mut answer)
            .await
            .map_err(|e| format!("reading the answer of {url}: {e}"))?;
        let status_line = answer.split(|b| *b == b'\n').next().unwrap_or_default();
        let status: u16 = std::str::from_utf8(status_line)
            .ok()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("{url} did not answer HTTP"))?;
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(format!("{url} answered HTTP {status} to the {step} step"))
        }
    };
    tokio::time::timeout(STEP_TIMEOUT, call)
        .await
        .map_err(|_| {
            format!(
                "the {step} step at {url} took longer than {}s",
                STEP_TIMEOUT.as_secs()
            )
        })?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_event_text() {
        let event = StepEvent {
            client_request_token: "t",
            rotation_token: "r",
            secret_id: "arn:s",
            step: "createSecret",
        };
        let expected = serde_json::json!({
            "Step": "createSecret",
            "SecretId": "arn:s",
            "ClientRequestToken": "t",
            "RotationToken": "r",
        });
        // compared as JSON values: a `serde_json::Map` keeps insertion order only in builds with
        // serde_json's `preserve_order` feature; the struct writes its declaration order always
        let text = serde_json::to_string(&event).unwrap_or_default();
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&text).ok(),
            Some(expected)
        );
        assert!(
            text.starts_with("{\"Step\":\"createSecret\",\"SecretId\""),
            "{text}"
        );
    }

    #[test]
    fn builtin_arn_and_mappings() {
        assert!(is_builtin(
            "arn:aws:lambda:eu-west-1:111122223333:function:emulator-builtin-rotation"
        ));
        assert!(!is_builtin(
            "arn:aws:lambda:eu-west-1:111122223333:function:mine"
        ));
        assert!(!is_builtin("emulator-builtin-rotation"));
        let (arn, url) =
            parse_mapping("arn:aws:lambda:us-east-1:1:function:f=http://127.0.0.1:9/rotate")
                .expect("ok");
        assert_eq!(arn, "arn:aws:lambda:us-east-1:1:function:f");
        assert_eq!(
            parse_url(&url).expect("url"),
            ("127.0.0.1:9".into(), "/rotate".into())
        );
        assert!(parse_mapping("no-equals").is_err());
        assert!(parse_mapping("a=https://x").is_err());
        for url in [
            "http://127.0.0.1:9/x\r\nX-Injected: 1",
            "http://127.0.0.1:9/x HTTP/1.1",
            "http://h\nx:9/",
            "http://user:pw@127.0.0.1:9/x",
            "http://127.0.0.1:99999/x",
            "http://127.0.0.1:0/x",
            "http://127.0.0.1:/x",
            "http:///x",
            "http://127.0.0.1:9/x#frag",
            "file:///etc/passwd",
        ] {
            assert!(parse_mapping(&format!("a={url}")).is_err(), "{url:?}");
        }
        assert_eq!(
            parse_url("http://[::1]:8080/rotate?a=1").unwrap(),
            ("[::1]:8080".to_string(), "/rotate?a=1".to_string())
        );
        assert_eq!(
            parse_url("http://localhost").unwrap(),
            ("localhost:80".to_string(), "/".to_string())
        );
        let s = RotationSettings::default();
        assert!(s.set_hook("a", "ftp://x").is_err());
        s.set_hook("a", "http://localhost").expect("set");
        assert_eq!(s.hook("a").as_deref(), Some("http://localhost"));
        assert!(s.remove_hook("a") && s.hook("a").is_none());
    }

    #[tokio::test]
    async fn invoke_reports_connection_failures() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        drop(l);
        let e = invoke(
            &format!("http://127.0.0.1:{port}/"),
            "createSecret",
            "arn",
            "t",
            "r",
        )
        .await
        .expect_err("should fail");
        assert!(e.contains("cannot connect"), "{e}");
    }
}
