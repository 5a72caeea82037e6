//! Reliability suite, emulator part (see RELIABILITY.md): kill -9 of `sm-emulator --data-dir`
//! under a write load, once k writes of the trial were acknowledged (every trial proves the kill
//! landed mid-run: the process was running, died of SIGKILL and cut requests off; after restart
//! every acknowledged write is intact, nothing half-written), hostile input to the request path
//! and the SigV4 parser (seeded random-input loops over `tests/fixtures/corpus/`), oversized
//! bodies and slow clients, and the SigV4 mode's refusals (wrong key, tampered body, replay
//! outside the skew window, missing signature).
//!
//! Sizes: `RELIABILITY_TRIALS` (crash trials, default 5) and `RELIABILITY_FUZZ_ITERS` (default
//! small); `scripts/reliability.sh --long` runs the long form.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "../../tests/reliability_support/fuzz.rs"]
mod fuzz;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{
    assert_peak_rss_bounded, aws_call, aws_call_as, free_port, kill, kill_9_mid_load, peak_rss_kib,
    post_signed, raw, sign, signed_emulator, spawn_binary, spawn_fresh_binary, AKID, SECRET_KEY,
};
use secretsmanager_emulator::Emulator;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A signed AWS call that tolerates the server dying: the status, or `None` on any I/O error or
/// an incomplete answer.
async fn try_call(addr: SocketAddr, target: &str, body: &str) -> Option<u16> {
    let host = addr.to_string();
    let (auth, date) = sign(
        addr,
        SECRET_KEY,
        target,
        body.as_bytes(),
        chrono::Utc::now(),
    );
    let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
    let req = format!(
        "POST / HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\ncontent-type: application/x-amz-json-1.1\r\nx-amz-date: {date}\r\nx-amz-target: {target}\r\nauthorization: {auth}\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.ok()?;
    let text = String::from_utf8_lossy(&buf);
    let status = text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()?;
    // A 200 counts as acknowledged only when the whole answer arrived.
    (status != 200 || text.contains("\"VersionId\"")).then_some(status)
}

/// What a worker knows about one secret: the last acknowledged value and the value of a write
/// that was in flight when the process died (either may be the one on disk).
#[derive(Debug, Default, Clone)]
struct Known {
    acked: Option<String>,
    in_flight: Option<String>,
}

fn value_of(worker: usize, secret: usize, seq: usize) -> String {
    // Long and patterned, so a torn or truncated write cannot pass for a valid one.
    format!(
        "w{worker}-s{secret}-q{seq}:{}",
        "v".repeat(200 + (seq * 37) % 3000)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_write_load_loses_no_acknowledged_write() {
    let trials = fuzz::trials(5);
    let mut rng = fuzz::Rng::new(fuzz::seed());
    let dir = tempfile::tempdir().unwrap();
    let known: Arc<Mutex<HashMap<String, Known>>> = Arc::default();
    let mut tally = kill::MidRunTally::default();
    let mut checked_total = 0usize;
    let mut seq = 0usize;
    for trial in 0..trials {
        let port = free_port();
        let mut child = spawn_binary(dir.path(), port).await;
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let acked_in_trial = Arc::new(AtomicUsize::new(0));
        // Every write that was in flight in the previous trial has resolved one way or the
        // other; the state on disk was checked, so adopt it as acknowledged.
        let mut tasks = Vec::new();
        for w in 0..4 {
            let known = known.clone();
            let acked_in_trial = acked_in_trial.clone();
            let base = seq + w * 1_000_000;
            tasks.push(tokio::spawn(async move {
                let mut n = 0usize;
                loop {
                    let secret = (base + n) % 12;
                    let name = format!("crash/w{w}/s{secret}");
                    let value = value_of(w, secret, base + n);
                    let exists = known.lock().unwrap().get(&name).is_some_and(|k| k.acked.is_some());
                    known.lock().unwrap().entry(name.clone()).or_default().in_flight =
                        Some(value.clone());
                    let body = if exists {
                        serde_json::json!({"SecretId": name, "SecretString": value, "ClientRequestToken": uuid::Uuid::new_v4().to_string()})
                    } else {
                        serde_json::json!({"Name": name, "SecretString": value, "ClientRequestToken": uuid::Uuid::new_v4().to_string()})
                    };
                    let target = if exists {
                        "secretsmanager.PutSecretValue"
                    } else {
                        "secretsmanager.CreateSecret"
                    };
                    let sent = Instant::now();
                    let Some(status) = try_call(addr, target, &body.to_string()).await else {
                        // The server died mid-request: the write stays "in flight".
                        let failed = Instant::now();
                        return (n, kill::FailedRequest { sent, failed });
                    };
                    if status == 200 {
                        let mut g = known.lock().unwrap();
                        let k = g.get_mut(&name).unwrap();
                        k.acked = Some(value);
                        k.in_flight = None;
                        n += 1;
                        acked_in_trial.fetch_add(1, Ordering::SeqCst);
                    } else {
                        panic!("write answered {status}");
                    }
                }
            }));
        }
        // Kill on a progress signal: once this trial has k acknowledged writes (k chosen per
        // trial), while the four writers keep writing.
        let target = 1 + rng.below(300);
        let deadline = Instant::now() + Duration::from_secs(60);
        while acked_in_trial.load(Ordering::SeqCst) < target {
            assert!(
                child.try_wait().unwrap().is_none(),
                "trial {trial}: the emulator exited by itself under load"
            );
            assert!(
                Instant::now() < deadline,
                "trial {trial}: fewer than {target} writes acknowledged in 60 s"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let evidence = kill_9_mid_load(&mut child, &acked_in_trial, tasks, |(_, f)| f).await;
        assert!(
            tally.record(&evidence) && evidence.writing_at_kill == 4,
            "trial {trial}: the kill did not land mid-run with all 4 writers writing: {evidence:?}"
        );
        seq += 4_000_000;

        let port = free_port();
        let mut child = spawn_binary(dir.path(), port).await;
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let snapshot = known.lock().unwrap().clone();
        for (name, k) in &snapshot {
            let r = aws_call(
                addr,
                "secretsmanager.GetSecretValue",
                &serde_json::json!({"SecretId": name}).to_string(),
            )
            .await;
            let found =
                (r.status == 200).then(|| r.json()["SecretString"].as_str().unwrap().to_string());
            let ok = match (&found, &k.acked, &k.in_flight) {
                (Some(v), Some(a), _) if v == a => true,
                (Some(v), _, Some(f)) if v == f => true,
                (None, None, _) => r.json()["__type"] == "ResourceNotFoundException",
                _ => false,
            };
            assert!(
                ok,
                "trial {trial}: {name}: found {:?} (status {}), acknowledged {:?}, in flight {:?}",
                found.as_ref().map(|v| &v[..v.len().min(40)]),
                r.status,
                k.acked.as_ref().map(|v| &v[..40]),
                k.in_flight.as_ref().map(|v| &v[..40])
            );
            checked_total += 1;
            // Adopt what is on disk as the new acknowledged state.
            let mut g = known.lock().unwrap();
            let e = g.get_mut(name).unwrap();
            e.acked = found;
            e.in_flight = None;
        }
        child.start_kill().unwrap();
        child.wait().await.unwrap();
    }
    eprintln!(
        "FIGURES emulator_crash {} checks={checked_total} lost=0",
        tally.figures()
    );
    assert_eq!(tally.killed_mid_run, trials, "{}", tally.figures());
}

/// Checks an answer is AWS-shaped: 200 with a JSON body, or an error status with `__type`,
/// `Message` and a matching `X-Amzn-ErrorType`.
fn assert_aws_shaped(r: &common::RawResponse, what: &str) {
    let ct = r.header("content-type").unwrap_or("");
    assert!(ct.contains("json"), "{what}: content type {ct:?}");
    let v = r.json();
    assert!(
        v.is_object(),
        "{what}: body is not a JSON object: {:?}",
        String::from_utf8_lossy(&r.body)
    );
    if r.status != 200 {
        assert!(
            matches!(r.status, 400 | 413 | 500 | 503),
            "{what}: status {}",
            r.status
        );
        let t = v["__type"]
            .as_str()
            .unwrap_or_else(|| panic!("{what}: no __type: {v}"));
        assert!(
            v.get("Message").or(v.get("message")).is_some(),
            "{what}: no Message: {v}"
        );
        assert_eq!(r.header("x-amzn-errortype"), Some(t), "{what}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_get_aws_shaped_answers() {
    let emu = Emulator::builder().in_memory().start().await.unwrap();
    let addr = emu.addr();
    let seeds = fuzz::corpus("emulator");
    let mut rng = fuzz::Rng::new(fuzz::seed());
    let iters = fuzz::iterations(1500);
    let mut statuses: HashMap<u16, usize> = HashMap::new();
    // A real secret so lookups sometimes succeed.
    aws_call(addr, "secretsmanager.CreateSecret", r#"{"Name":"app/db","SecretString":"pw","ClientRequestToken":"00000000-0000-4000-8000-000000000001"}"#).await;
    for i in 0..iters {
        let input = fuzz::next_input(&mut rng, &seeds);
        let (op, body) = match input.iter().position(|&b| b == b'\n') {
            Some(p) => (
                String::from_utf8_lossy(&input[..p]).trim().to_string(),
                input[p + 1..].to_vec(),
            ),
            None => ("CreateSecret".to_string(), input.clone()),
        };
        let target: String = format!("secretsmanager.{op}")
            .chars()
            .filter(|c| c.is_ascii_graphic())
            .collect();
        let (auth, date) = sign(addr, SECRET_KEY, &target, &body, chrono::Utc::now());
        let r = post_signed(addr, &target, &body, &auth, &date).await;
        assert_aws_shaped(&r, &format!("input {i} ({op})"));
        *statuses.entry(r.status).or_default() += 1;
    }
    // The emulator still answers normally (the loop may have deleted app/db: use a new secret).
    let r = aws_call(addr, "secretsmanager.CreateSecret", r#"{"Name":"after/fuzz","SecretString":"still-works","ClientRequestToken":"00000000-0000-4000-8000-0000000000af"}"#).await;
    assert_eq!(r.status, 200, "{:?}", r.json());
    let r = aws_call(
        addr,
        "secretsmanager.GetSecretValue",
        r#"{"SecretId":"after/fuzz"}"#,
    )
    .await;
    assert_eq!(r.json()["SecretString"], "still-works");
    eprintln!("FIGURES emulator_request_fuzz executions={iters} statuses={statuses:?}");
    assert!(
        statuses.len() > 1,
        "every input got the same status: the mutator is not biting"
    );
    emu.shutdown().await;
}

#[test]
fn hostile_authorization_headers_parse_or_fail_cleanly() {
    let seeds = fuzz::corpus("sigv4");
    let mut rng = fuzz::Rng::new(fuzz::seed());
    let iters = fuzz::iterations(1500) * 40;
    let (mut ok, mut err) = (0usize, 0usize);
    let headers = vec![
        ("host".to_string(), "h".to_string()),
        ("x-amz-date".to_string(), "20260101T000000Z".to_string()),
    ];
    for _ in 0..iters {
        let input = fuzz::next_input(&mut rng, &seeds);
        let text = String::from_utf8_lossy(&input);
        match secretsmanager_emulator::sigv4::parse_authorization(&text) {
            Ok(a) => {
                ok += 1;
                // Verification of whatever parsed must fail cleanly, never panic.
                let parts = secretsmanager_emulator::sigv4::RequestParts {
                    method: "POST",
                    path: "/",
                    query: "",
                    headers: &headers,
                    body: b"{}",
                };
                let _ = secretsmanager_emulator::sigv4::verify(&a, &parts, "k", chrono::Utc::now());
            }
            Err(e) => {
                err += 1;
                assert!(!e.code.is_empty());
            }
        }
    }
    eprintln!("FIGURES sigv4_parse_fuzz executions={iters} parsed={ok} rejected={err}");
    assert!(ok > 0 && err > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_and_slow_clients_do_not_exhaust_the_emulator() {
    let (_dir, child, addr) = spawn_fresh_binary().await;
    let pid = child.id().unwrap();
    let before = peak_rss_kib(pid);

    // 1. A declared length far over the limit: refused before reading, AWS-shaped.
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("POST / HTTP/1.1\r\nhost: {addr}\r\nx-amz-target: secretsmanager.CreateSecret\r\ncontent-length: 10737418240\r\nconnection: close\r\n\r\n").as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf))
        .await
        .expect("answered")
        .unwrap();
    let text = String::from_utf8_lossy(&buf);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(text.contains("RequestEntityTooLargeException"), "{text}");

    // 2. Chunked bodies over the limit, 8 at once (no length declared): refused while reading.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        tasks.push(tokio::spawn(async move {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            s.write_all(format!("POST / HTTP/1.1\r\nhost: {addr}\r\nx-amz-target: secretsmanager.CreateSecret\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n").as_bytes()).await.unwrap();
            let chunk = vec![b'a'; 256 * 1024];
            for _ in 0..16 {
                // 4 MiB in all; the server may close early, so write errors are fine
                if s.write_all(format!("{:x}\r\n", chunk.len()).as_bytes()).await.is_err()
                    || s.write_all(&chunk).await.is_err()
                    || s.write_all(b"\r\n").await.is_err()
                {
                    break;
                }
            }
            let _ = s.write_all(b"0\r\n\r\n").await;
            let mut buf = Vec::new();
            let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf)).await;
            String::from_utf8_lossy(&buf).to_string()
        }));
    }
    for t in tasks {
        let text = t.await.unwrap();
        assert!(
            text.starts_with("HTTP/1.1 413"),
            "{}",
            &text[..text.len().min(300)]
        );
        assert!(text.contains("RequestEntityTooLargeException"));
    }

    // 3. 200 slow clients trickling headers: the emulator keeps answering others promptly.
    let mut slow = Vec::new();
    for _ in 0..200 {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"POST / HTTP/1.1\r\nhost: x\r\n")
            .await
            .unwrap();
        slow.push(s);
    }
    for round in 0..5 {
        for s in slow.iter_mut() {
            let _ = s.write_all(b"x-slow: 1\r\n").await;
        }
        let started = Instant::now();
        let r = aws_call(addr, "secretsmanager.ListSecrets", "{}").await;
        assert_eq!(r.status, 200, "round {round}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "a normal call waited {:?}",
            started.elapsed()
        );
    }
    // 4. A slow client whose (small, valid) body arrives byte by byte still gets a normal answer.
    let body = br#"{"Name":"slow/one","SecretString":"s","ClientRequestToken":"00000000-0000-4000-8000-000000000009"}"#;
    let host = addr.to_string();
    let (auth, date) = sign(
        addr,
        SECRET_KEY,
        "secretsmanager.CreateSecret",
        body,
        chrono::Utc::now(),
    );
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("POST / HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/x-amz-json-1.1\r\nx-amz-target: secretsmanager.CreateSecret\r\nx-amz-date: {date}\r\nauthorization: {auth}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", body.len()).as_bytes()).await.unwrap();
    for b in body.iter() {
        s.write_all(&[*b]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    drop(slow);

    assert_peak_rss_bounded(
        pid,
        before,
        "emulator_oversized",
        "the oversized/slow barrage",
    );
    drop(child);
}

#[tokio::test]
async fn sigv4_mode_refuses_wrong_key_tampering_replay_and_missing_signature() {
    let emu = signed_emulator().await;
    let a = emu.addr();
    let body: &[u8] = br#"{"Name":"guarded","SecretString":"top-secret-value-123","ClientRequestToken":"00000000-0000-4000-8000-000000000007"}"#;
    const CREATE: &str = "secretsmanager.CreateSecret";
    let now = chrono::Utc::now();
    let minutes = chrono::Duration::minutes;
    let evil: &[u8] = br#"{"Name":"guarded","SecretString":"evil"}"#;
    let mut refusals = Vec::new();
    // (case, signing key, signed target, signed at, body sent as CreateSecret): each is refused
    // with InvalidSignatureException
    let forgeries = [
        ("wrong key", "not-the-key", CREATE, now, body),
        ("tampered body", SECRET_KEY, CREATE, now, evil),
        // a signed header
        (
            "tampered target",
            SECRET_KEY,
            "secretsmanager.ListSecrets",
            now,
            body,
        ),
        // a request captured 16 minutes ago, replayed now (outside the 15-minute window)
        (
            "replay outside window",
            SECRET_KEY,
            CREATE,
            now - minutes(16),
            body,
        ),
        ("future date", SECRET_KEY, CREATE, now + minutes(16), body),
    ];
    for (what, secret, signed_target, at, sent) in forgeries {
        let (auth, date) = sign(a, secret, signed_target, body, at);
        let r = post_signed(a, CREATE, sent, &auth, &date).await;
        refusals.push((what, r, "InvalidSignatureException"));
    }
    // signature part missing
    let (auth, date) = sign(a, SECRET_KEY, CREATE, body, now);
    let cut = auth.split(", Signature=").next().unwrap().to_string();
    let r = post_signed(a, CREATE, body, &cut, &date).await;
    refusals.push(("missing Signature=", r, "IncompleteSignatureException"));
    // no Authorization header at all
    let r = raw(
        a,
        "POST",
        "/",
        &[
            ("x-amz-target", "secretsmanager.CreateSecret"),
            ("content-type", "application/x-amz-json-1.1"),
        ],
        body,
    )
    .await;
    refusals.push(("no Authorization", r, "MissingAuthenticationTokenException"));
    for (what, r, code) in &refusals {
        assert_aws_shaped(r, what);
        assert_eq!(r.status, 400, "{what}");
        assert_eq!(r.json()["__type"], *code, "{what}: {:?}", r.json());
        let text = String::from_utf8_lossy(&r.body);
        assert!(
            !text.contains(SECRET_KEY) && !text.contains("top-secret-value-123"),
            "{what} echoes a secret: {text}"
        );
    }
    // None of them created anything; the properly signed request (inside the window) does.
    let r = aws_call_as(
        a,
        "secretsmanager.DescribeSecret",
        r#"{"SecretId":"guarded"}"#,
        AKID,
        SECRET_KEY,
        "us-east-1",
    )
    .await;
    assert_eq!(r.json()["__type"], "ResourceNotFoundException");
    let (auth, date) = sign(a, SECRET_KEY, CREATE, body, now - minutes(14));
    let r = post_signed(a, CREATE, body, &auth, &date).await;
    assert_eq!(r.status, 200, "{:?}", r.json());
    eprintln!(
        "FIGURES sigv4_refusals cases={} accepted_forgeries=0",
        refusals.len()
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn the_emulator_binds_loopback_by_default() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sm-emulator"))
        .arg("--help")
        .env_remove("SM_EMULATOR_LISTEN")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("[default: 127.0.0.1:4566]"), "{help}");
    let emu = Emulator::builder().in_memory().start().await.unwrap();
    assert!(
        emu.addr().ip().is_loopback(),
        "library default {}",
        emu.addr()
    );
    emu.shutdown().await;
}
