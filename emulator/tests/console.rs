//! The web console (`/_emulator/ui`) and its admin endpoints: the JSON endpoints over HTTP (no
//! values in the snapshot or the request log, a value only on reveal), and the page itself in a
//! real headless Chromium driven over WebDriver (chromedriver) against the `sm-emulator` binary:
//! secrets created through the SDK appear, a value is revealed on click, a throttle rate set on
//! the page throttles SDK calls that then show in the log, and advancing the clock on the page
//! removes a secret whose recovery window it passes.
//!
//! The browser test prints a skip reason when `/usr/bin/chromium` or `/usr/bin/chromedriver` is
//! missing (Debian: `apt-get install chromium chromium-driver`). With
//! `SM_CONSOLE_SCREENSHOTS=<dir>` it saves its screenshots there (the README's come from
//! `SM_CONSOLE_SCREENSHOTS=emulator/docs/img`).

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aws_sdk_secretsmanager::primitives::Blob;
use aws_sdk_secretsmanager::types::{ReplicaRegionType, RotationRulesType, Tag};
use aws_sdk_secretsmanager::Client;
use base64::Engine as _;
use common::{
    client_for, create, create_request, delete, describe, get, put, raw, AKID, SECRET_KEY,
};
use serde_json::{json, Value};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

type Res<T> = Result<T, String>;

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        let holds: bool = $cond;
        if !holds {
            return Err(format!($($msg)+));
        }
    };
}

async fn admin_get(addr: SocketAddr, path: &str) -> Value {
    let r = raw(addr, "GET", path, &[], b"").await;
    r.assert_status(200, &format!("GET {path}"));
    r.json()
}

async fn admin_post(addr: SocketAddr, path: &str, body: &Value) -> common::RawResponse {
    raw(
        addr,
        "POST",
        path,
        &[("content-type", "application/json")],
        body.to_string().as_bytes(),
    )
    .await
}

fn tag(k: &str, v: &str) -> Tag {
    Tag::builder().key(k).value(v).build()
}

// ---------------------------------------------------------------- the JSON endpoints

#[tokio::test]
async fn endpoints_show_metadata_and_log_requests_without_values() {
    let emu = common::emulator().await;
    let addr = emu.addr();
    let c = common::client(&emu);
    let value = "endpoint-test-value-7f3a";
    let binary = b"\x00\x01binary-value-9c2e";
    c.create_secret()
        .name("svc/db")
        .description("database login")
        .secret_string(value)
        .tags(tag("team", "payments"))
        .send()
        .await
        .unwrap();
    c.create_secret()
        .name("svc/cert")
        .secret_binary(Blob::new(binary.to_vec()))
        .send()
        .await
        .unwrap();
    get(&c, "svc/db").await.unwrap();
    let missing = get(&c, "svc/none").await;
    assert_eq!(
        common::code(&missing.unwrap_err().into_service_error()),
        "ResourceNotFoundException"
    );

    // the snapshot: scopes and the secrets of the first, without values
    let state = admin_get(addr, "/_emulator/state").await;
    assert_eq!(
        state["scopes"],
        json!([{"account": "123456789012", "region": "us-east-1", "secrets": 2}])
    );
    let names: Vec<&str> = state["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["svc/cert", "svc/db"]);
    let filtered = admin_get(
        addr,
        "/_emulator/state?account=123456789012&region=us-east-1&filter=DB",
    )
    .await;
    assert_eq!(filtered["secrets"].as_array().unwrap().len(), 1);
    assert_eq!(filtered["matched"], 1);

    let detail = admin_get(
        addr,
        "/_emulator/state/secret?account=123456789012&region=us-east-1&name=svc%2Fdb",
    )
    .await;
    assert_eq!(detail["summary"]["description"], "database login");
    assert_eq!(
        detail["tags"],
        json!([{"key": "team", "value": "payments"}])
    );
    let versions = detail["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0]["stages"], json!(["AWSCURRENT"]));
    assert_eq!(versions[0]["has_value"], true);
    let vid = versions[0]["id"].as_str().unwrap().to_string();

    // the request log: one record per API request, with operation, status and error type
    let log = admin_get(addr, "/_emulator/requests").await;
    let records = log["records"].as_array().unwrap();
    let ops: Vec<&str> = records.iter().map(|r| r["op"].as_str().unwrap()).collect();
    assert_eq!(
        ops,
        [
            "CreateSecret",
            "CreateSecret",
            "GetSecretValue",
            "GetSecretValue"
        ]
    );
    assert_eq!(records[0]["secret"], "svc/db");
    assert_eq!(records[0]["region"], "us-east-1");
    assert_eq!(records[0]["status"], 200);
    assert!(
        records[0]["sync_micros"].is_u64(),
        "a write notes its sync wait"
    );
    assert!(
        records[2]["sync_micros"].is_null(),
        "a read waits for no sync"
    );
    assert_eq!(records[3]["status"], 400);
    assert_eq!(records[3]["error"], "ResourceNotFoundException");
    let after = records[1]["seq"].as_u64().unwrap();
    let tail = admin_get(addr, &format!("/_emulator/requests?after={after}")).await;
    assert_eq!(tail["records"].as_array().unwrap().len(), 2);
    let rates = admin_get(addr, "/_emulator/rates").await;
    let sum = |k: &str| -> u64 {
        rates[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .sum()
    };
    assert_eq!((sum("requests"), sum("errors"), sum("writes")), (4, 1, 2));
    assert_eq!(rates["durable"], false);

    // no value anywhere but in the reveal answer
    let b64 = base64::engine::general_purpose::STANDARD.encode(binary);
    for path in [
        "/_emulator/state",
        "/_emulator/state/secret?account=123456789012&region=us-east-1&name=svc/db",
        "/_emulator/state/secret?account=123456789012&region=us-east-1&name=svc/cert",
        "/_emulator/requests",
    ] {
        let body = String::from_utf8(raw(addr, "GET", path, &[], b"").await.body).unwrap();
        assert!(
            !body.contains(value) && !body.contains(&b64),
            "{path} shows a value: {body}"
        );
    }
    let r = admin_post(
        addr,
        "/_emulator/state/reveal",
        &json!({"account": "123456789012", "region": "us-east-1", "name": "svc/db", "version_id": vid}),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!({"kind": "string", "value": value}));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let cert = admin_get(
        addr,
        "/_emulator/state/secret?account=123456789012&region=us-east-1&name=svc/cert",
    )
    .await;
    let cert_vid = cert["versions"][0]["id"].as_str().unwrap();
    let r = admin_post(
        addr,
        "/_emulator/state/reveal",
        &json!({"account": "123456789012", "region": "us-east-1", "name": "svc/cert", "version_id": cert_vid}),
    )
    .await;
    assert_eq!(
        r.json(),
        json!({"kind": "binary", "base64": b64, "bytes": binary.len()})
    );
    // revealing is not an access: LastAccessedDate stays as GetSecretValue left it (unset here)
    let d = describe(&c, "svc/cert").await.unwrap();
    assert_eq!(d.last_accessed_date(), None);

    // bad requests name what was wrong
    let r = admin_post(addr, "/_emulator/state/reveal", &json!({"name": "svc/db"})).await;
    assert_eq!(r.status, 400);
    assert!(r.json()["error"].as_str().unwrap().contains("version_id"));
    let r = admin_post(
        addr,
        "/_emulator/state/reveal",
        &json!({"account": "123456789012", "region": "us-east-1", "name": "svc/db", "version_id": "nope"}),
    )
    .await;
    assert_eq!(r.status, 404);
    assert!(r.json()["error"].as_str().unwrap().contains("nope"));
    let r = raw(addr, "GET", "/_emulator/requests?after=x", &[], b"").await;
    assert_eq!(r.status, 400);
    assert!(r.json()["error"].as_str().unwrap().contains("after"));
    let r = raw(addr, "GET", "/_emulator/state/secret?account=1", &[], b"").await;
    assert_eq!(r.status, 400);
    let r = raw(addr, "GET", "/_emulator/state/reveal", &[], b"").await;
    assert_eq!(r.status, 405);

    // the page and its assets, served by the emulator itself
    let page = raw(addr, "GET", "/_emulator/ui", &[], b"").await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(page
        .header("content-security-policy")
        .unwrap()
        .contains("default-src 'none'"));
    let html = String::from_utf8(page.body).unwrap();
    assert!(
        html.contains("/_emulator/ui/console.js") && html.contains("/_emulator/ui/console.css")
    );
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "the page loads nothing from elsewhere"
    );
    for (path, ct) in [
        ("/_emulator/ui/console.js", "text/javascript; charset=utf-8"),
        ("/_emulator/ui/console.css", "text/css; charset=utf-8"),
    ] {
        let r = raw(addr, "GET", path, &[], b"").await;
        assert_eq!(
            (r.status, r.header("content-type")),
            (200, Some(ct)),
            "{path}"
        );
        assert!(r.body.len() > 1000);
    }

    // a fault-injected answer is logged with its error type and the secret it was about
    emu.faults().set(secretsmanager_emulator::FaultSettings {
        seed: Some(1),
        rules: vec![secretsmanager_emulator::FaultRule {
            operations: vec!["DescribeSecret".into()],
            throttle_rate: Some(1.0),
            ..Default::default()
        }],
    });
    let throttled = describe(&c, "svc/db").await;
    assert_eq!(
        common::code(&throttled.unwrap_err().into_service_error()),
        "ThrottlingException"
    );
    emu.faults()
        .set(secretsmanager_emulator::FaultSettings::default());
    let log = admin_get(addr, "/_emulator/requests").await;
    let last = log["records"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (
            &last["op"],
            &last["secret"],
            &last["status"],
            &last["error"]
        ),
        (
            &json!("DescribeSecret"),
            &json!("svc/db"),
            &json!(400),
            &json!("ThrottlingException")
        )
    );

    // reset empties the log
    assert_eq!(
        admin_post(addr, "/_emulator/reset", &json!({}))
            .await
            .status,
        200
    );
    let log = admin_get(addr, "/_emulator/requests").await;
    assert_eq!(log["records"], json!([]));
    emu.shutdown().await;
}

#[tokio::test]
async fn deleted_secrets_leave_the_snapshot_when_their_window_ends() {
    let emu = common::emulator().await;
    let addr = emu.addr();
    let c = common::client(&emu);
    create(&c, "gone/soon", "v").await;
    delete(&c, "gone/soon", Some(7)).await.unwrap();
    let state = admin_get(addr, "/_emulator/state").await;
    assert!(state["secrets"][0]["deleted"].is_f64());
    assert!(state["secrets"][0]["purge_at"].is_f64());
    emu.clock().advance(Duration::from_secs(8 * 86_400));
    let state = admin_get(addr, "/_emulator/state").await;
    assert_eq!(state["secrets"], json!([]));
    assert_eq!(state["scopes"], json!([]));
    let r = raw(
        addr,
        "GET",
        "/_emulator/state/secret?account=123456789012&region=us-east-1&name=gone/soon",
        &[],
        b"",
    )
    .await;
    assert_eq!(r.status, 404);
    emu.shutdown().await;
}

// ---------------------------------------------------------------- a minimal WebDriver client

/// A chromedriver process (its own process group, so Chromium goes with it) and one session.
struct Browser {
    driver: SocketAddr,
    session: String,
    child: std::process::Child,
}

fn wd_error(v: &Value) -> Option<String> {
    let e = v.get("value")?.get("error")?.as_str()?;
    let msg = v["value"]["message"].as_str().unwrap_or("");
    Some(format!("{e}: {}", msg.lines().next().unwrap_or("")))
}

/// One WebDriver call: an HTTP/1.1 request and its answer, read up to its Content-Length
/// (chromedriver announces `Connection: close` but keeps the socket open). At most 120 s.
async fn wd(addr: SocketAddr, method: &str, path: &str, body: Option<&Value>) -> Res<Value> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let text = body.map(|b| b.to_string()).unwrap_or_default();
    let exchange = async {
        let mut s = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| e.to_string())?;
        let head = format!(
            "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: {}\r\n\r\n",
            text.len()
        );
        s.write_all(head.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        s.write_all(text.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        let mut chunk = vec![0u8; 65536];
        loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_string();
                let status: u16 = head
                    .split(' ')
                    .nth(1)
                    .and_then(|c| c.parse().ok())
                    .ok_or_else(|| format!("bad status line in {head:?}"))?;
                let len = head
                    .split("\r\n")
                    .filter_map(|l| l.split_once(':'))
                    .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
                    .and_then(|(_, v)| v.trim().parse::<usize>().ok())
                    .ok_or_else(|| format!("no content-length in {head:?}"))?;
                if buf.len() >= end + 4 + len {
                    return Ok::<_, String>((status, buf[end + 4..end + 4 + len].to_vec()));
                }
            }
            let n = s.read(&mut chunk).await.map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("connection closed before the whole answer".to_string());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    };
    let (status, body) = tokio::time::timeout(Duration::from_secs(120), exchange)
        .await
        .map_err(|_| format!("{method} {path}: no answer in 120 s"))?
        .map_err(|e| format!("{method} {path}: {e}"))?;
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if let Some(e) = wd_error(&v) {
        return Err(format!("{method} {path}: {e}"));
    }
    if status != 200 {
        return Err(format!("{method} {path}: HTTP {status}"));
    }
    Ok(v["value"].clone())
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session (1440x900).
    async fn start(profile: &Path) -> Res<Browser> {
        use std::os::unix::process::CommandExt as _;
        let port = common::free_port();
        let child = std::process::Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot start {CHROMEDRIVER}: {e}"))?;
        let driver: SocketAddr = ([127, 0, 0, 1], port).into();
        let mut b = Browser {
            driver,
            session: String::new(),
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if tokio::net::TcpStream::connect(driver).await.is_ok() {
                if let Ok(v) = wd(driver, "GET", "/status", None).await {
                    if v["ready"] == true {
                        break;
                    }
                }
            }
            ensure!(
                Instant::now() < deadline,
                "chromedriver did not become ready in 30 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--window-size=1440,900", "--hide-scrollbars", "--force-device-scale-factor=1",
                    "--no-first-run", "--disable-extensions", "--disable-background-networking",
                    format!("--user-data-dir={}", profile.display()),
                ],
            },
        }}});
        let v = wd(driver, "POST", "/session", Some(&caps)).await?;
        b.session = v["sessionId"]
            .as_str()
            .ok_or("new session: no sessionId")?
            .to_string();
        Ok(b)
    }

    async fn cmd(&self, method: &str, rest: &str, body: Option<&Value>) -> Res<Value> {
        wd(
            self.driver,
            method,
            &format!("/session/{}{rest}", self.session),
            body,
        )
        .await
    }

    async fn goto(&self, url: &str) -> Res<()> {
        self.cmd("POST", "/url", Some(&json!({ "url": url })))
            .await
            .map(drop)
    }

    /// Runs `script` (a function body; `return` its result) in the page.
    async fn js(&self, script: &str) -> Res<Value> {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(&json!({"script": script, "args": []})),
        )
        .await
    }

    async fn find(&self, css: &str) -> Res<String> {
        let v = self
            .cmd(
                "POST",
                "/element",
                Some(&json!({"using": "css selector", "value": css})),
            )
            .await?;
        v.as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| format!("find {css}: no element id in {v}"))
    }

    /// Finds `css` and clicks it like a user, retrying for up to 10 s while it is missing or
    /// being re-rendered by the page's polling.
    async fn click(&self, css: &str) -> Res<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let tried = async {
                let id = self.find(css).await?;
                self.cmd("POST", &format!("/element/{id}/click"), Some(&json!({})))
                    .await
            }
            .await;
            match tried {
                Ok(_) => return Ok(()),
                Err(e) if Instant::now() >= deadline => return Err(format!("click {css}: {e}")),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Replaces the text of the input `css` with `text`, typed as keystrokes.
    async fn type_into(&self, css: &str, text: &str) -> Res<()> {
        let id = self.find(css).await?;
        self.cmd("POST", &format!("/element/{id}/clear"), Some(&json!({})))
            .await?;
        self.cmd(
            "POST",
            &format!("/element/{id}/value"),
            Some(&json!({ "text": text })),
        )
        .await
        .map(drop)
    }

    /// Polls `expr` (a JavaScript expression) until it is truthy; returns its value. Bounded by
    /// `secs`.
    async fn wait(&self, what: &str, expr: &str, secs: u64) -> Res<Value> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let script = format!("try {{ return ({expr}); }} catch (e) {{ return null; }}");
        loop {
            let v = self.js(&script).await?;
            let truthy = match &v {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64() != Some(0.0),
                Value::String(s) => !s.is_empty(),
                _ => true,
            };
            if truthy {
                return Ok(v);
            }
            ensure!(
                Instant::now() < deadline,
                "waited {secs} s for {what} ({expr}); last value {v}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Takes a PNG screenshot; saves it as `dir/name` when a directory is given.
    async fn screenshot(&self, dir: Option<&Path>, name: &str) -> Res<()> {
        let v = self.cmd("GET", "/screenshot", None).await?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().ok_or("screenshot: not a string")?)
            .map_err(|e| format!("screenshot: {e}"))?;
        ensure!(
            png.starts_with(b"\x89PNG\r\n\x1a\n"),
            "screenshot {name} is not a PNG"
        );
        if let Some(dir) = dir {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            std::fs::write(dir.join(name), &png).map_err(|e| format!("{name}: {e}"))?;
            eprintln!("saved {} ({} bytes)", dir.join(name).display(), png.len());
        }
        Ok(())
    }

    /// Ends the session (Chromium exits), then chromedriver (on drop).
    async fn close(self) {
        if !self.session.is_empty() {
            let _ = wd(
                self.driver,
                "DELETE",
                &format!("/session/{}", self.session),
                None,
            )
            .await;
        }
    }
}

impl Drop for Browser {
    /// Ends chromedriver's process group (a Chromium left behind by a failed test goes with it).
    fn drop(&mut self) {
        // `--` before the negative id: Debian bookworm's kill (procps-ng 4.0.2) reads
        // `kill -TERM -PGID` wrongly and signalled another target (seen: every process, -1)
        let _ = std::process::Command::new("kill")
            .args(["-s", "TERM", "--"])
            .arg(format!("-{}", self.child.id()))
            .status();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------- the page in a browser

/// Secrets that make the views worth looking at; returns the value of the secret revealed later.
async fn seed(addr: SocketAddr, us: &Client, eu: &Client) -> Res<String> {
    let sdk = |e: &dyn std::fmt::Debug| format!("SDK call failed: {e:?}");
    let advance = |days: u64| async move {
        let r = admin_post(
            addr,
            "/_emulator/clock/advance",
            &json!({"seconds": days * 86_400}),
        )
        .await;
        ensure!(r.status == 200, "clock advance answered {}", r.status);
        Ok(())
    };
    us.create_secret()
        .name("prod/payments/db-credentials")
        .description("PostgreSQL login of the payments service")
        .secret_string(r#"{"username":"payments_app","password":"Tq8#vL2pW9zR"}"#)
        .tags(tag("team", "payments"))
        .tags(tag("env", "prod"))
        .tags(tag("cost-center", "cc-4021"))
        .send()
        .await
        .map_err(|e| sdk(&e))?;
    for (name, value, team) in [
        (
            "prod/payments/stripe-api-key",
            "sk_live_51NzQ8kExampleKey",
            "payments",
        ),
        ("prod/search/opensearch-admin", "os-admin-4f1c9e", "search"),
        (
            "staging/payments/db-credentials",
            "staging-pw-1b7d",
            "payments",
        ),
        ("ci/github-deploy-token", "ghp_exampleToken0042", "platform"),
    ] {
        create_request(us, name, value)
            .tags(tag("team", team))
            .send()
            .await
            .map_err(|e| sdk(&e))?;
    }
    us.create_secret()
        .name("shared/tls/internal-ca-key")
        .description("Signing key of the internal CA (DER)")
        .secret_binary(Blob::new(vec![0x30, 0x82, 0x04, 0xa4, 0x02, 0x01, 0x00]))
        .send()
        .await
        .map_err(|e| sdk(&e))?;
    create_request(eu, "prod/analytics/warehouse-login", "eu-warehouse-pw")
        .send()
        .await
        .map_err(|e| sdk(&e))?;
    advance(21).await?;
    put(
        us,
        "prod/payments/db-credentials",
        r#"{"username":"payments_app","password":"Hm4!xK7rQ2nB"}"#,
    )
    .await
    .map_err(|e| sdk(&e))?;
    advance(14).await?;
    us.put_resource_policy()
        .secret_id("prod/payments/db-credentials")
        .resource_policy(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/payments-api"},"Action":"secretsmanager:GetSecretValue","Resource":"*"}]}"#,
        )
        .send()
        .await
        .map_err(|e| sdk(&e))?;
    us.replicate_secret_to_regions()
        .secret_id("prod/payments/db-credentials")
        .add_replica_regions(ReplicaRegionType::builder().region("eu-west-1").build())
        .send()
        .await
        .map_err(|e| sdk(&e))?;
    let current = r#"{"username":"payments_app","password":"Zc5$eN8uJ3wY"}"#;
    put(us, "prod/payments/db-credentials", current)
        .await
        .map_err(|e| sdk(&e))?;
    advance(6).await?;
    // configures rotation (no hook mapped: in moto-compatible mode the emulator promotes a copy of
    // the current value; its default is AWS's AccessDeniedException)
    let moto = admin_post(addr, "/_emulator/rotation/strict", &json!({"moto": true})).await;
    ensure!(
        moto.status == 200,
        "moto-compatible rotation: {}",
        moto.status
    );
    us.rotate_secret()
        .secret_id("prod/payments/db-credentials")
        .rotation_lambda_arn("arn:aws:lambda:us-east-1:123456789012:function:rotate-payments-db")
        .rotation_rules(
            RotationRulesType::builder()
                .automatically_after_days(30)
                .build(),
        )
        .send()
        .await
        .map_err(|e| sdk(&e))?;
    Ok(current.to_string())
}

/// Background traffic for the charts: reads, a few writes and the odd miss, until `stop`.
fn traffic(c: Client, stop: tokio::sync::watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut i = 0u64;
        while !*stop.borrow() {
            i += 1;
            let _ = get(&c, "prod/payments/stripe-api-key").await;
            let _ = describe(&c, "prod/search/opensearch-admin").await;
            if i % 4 == 0 {
                let _ = put(
                    &c,
                    "ci/github-deploy-token",
                    format!("ghp_exampleToken{i:04}"),
                )
                .await;
            }
            if i % 25 == 0 {
                let _ = get(&c, "prod/legacy/ftp").await;
            }
            tokio::time::sleep(Duration::from_millis(60)).await;
        }
    })
}

/// Whether Chromium and its driver are installed; prints the skip reason for `test` when not.
fn browser_installed(test: &str) -> bool {
    for bin in [CHROMIUM, CHROMEDRIVER] {
        if !Path::new(bin).exists() {
            eprintln!(
                "SKIP {test}: {bin} is missing (Debian: apt-get install chromium chromium-driver)"
            );
            return false;
        }
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_in_a_headless_browser() {
    if !browser_installed("console_in_a_headless_browser") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let mut emulator = common::spawn_binary(&dir.path().join("data"), port).await;
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let shots: Option<PathBuf> = std::env::var_os("SM_CONSOLE_SCREENSHOTS").map(|d| {
        let d = PathBuf::from(d);
        // a relative directory is taken from the workspace root (cargo runs tests in the crate's)
        if d.is_relative() {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(d)
        } else {
            d
        }
    });
    let browser = match Browser::start(&dir.path().join("profile")).await {
        Ok(b) => b,
        Err(e) => panic!("starting headless Chromium failed: {e}"),
    };
    // boxed: the scenario's future is too large for the test thread's stack in a debug build
    let outcome = Box::pin(scenario(&browser, addr, shots.as_deref())).await;
    if outcome.is_err() {
        let _ = browser.screenshot(Some(dir.path()), "failure.png").await;
        let html = browser
            .js("return document.body.innerText")
            .await
            .unwrap_or_default();
        eprintln!("page text at failure:\n{}", html.as_str().unwrap_or(""));
    }
    browser.close().await;
    let _ = emulator.kill().await;
    if let Err(e) = outcome {
        panic!("{e}");
    }
}

/// An emulator that guards its admin endpoints with a token: the console opened without it says
/// how to open it and shows nothing; opened as `/_emulator/ui#token=…` it keeps the token in the
/// tab's sessionStorage, takes it out of the address bar and shows the secrets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_takes_the_admin_token_from_the_address_fragment() {
    const TEST: &str = "console_takes_the_admin_token_from_the_address_fragment";
    const TOKEN: &str = "console-admin-token-7f3a";
    if !browser_installed(TEST) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let mut emulator =
        common::spawn_binary_with(&dir.path().join("data"), port, &["--admin-token", TOKEN]).await;
    let endpoint = format!("http://127.0.0.1:{port}");
    let us = client_for(&endpoint, "us-east-1", AKID, SECRET_KEY);
    create(&us, "team/guarded", "guarded-value").await;
    let browser = match Browser::start(&dir.path().join("profile")).await {
        Ok(b) => b,
        Err(e) => panic!("starting headless Chromium failed: {e}"),
    };
    let ui = format!("{endpoint}/_emulator/ui");
    let listed = r#"document.querySelector('#secret-list [data-secret="team/guarded"]') !== null"#;
    let outcome: Res<()> = async {
        browser.goto(&ui).await?;
        browser
            .wait(
                "the refusal with the hint to pass the token",
                "document.getElementById('conn').title.includes('#token=<admin token>')",
                20,
            )
            .await?;
        ensure!(
            browser.js(&format!("return {listed}")).await? == false,
            "a secret was listed without the admin token"
        );
        // a page of its own first: a fragment change alone would not load the console again
        browser.goto("about:blank").await?;
        browser.goto(&format!("{ui}#token={TOKEN}")).await?;
        browser
            .wait("the secret listed with the token", listed, 20)
            .await?;
        // the console then keeps its own view in the fragment (`#secrets`), never the token
        let href = browser.js("return window.location.href").await?;
        ensure!(
            href.as_str()
                .is_some_and(|h| h.starts_with(&ui) && !h.contains("token") && !h.contains(TOKEN)),
            "the address bar still holds the token: {href}"
        );
        let kept = browser
            .js("return sessionStorage.getItem('sm-emulator-admin-token')")
            .await?;
        ensure!(kept == TOKEN, "sessionStorage holds {kept}");
        Ok(())
    }
    .await;
    if outcome.is_err() {
        let text = browser
            .js("return document.body.innerText")
            .await
            .unwrap_or_default();
        eprintln!("page text at failure:\n{}", text.as_str().unwrap_or(""));
    }
    browser.close().await;
    let _ = emulator.kill().await;
    if let Err(e) = outcome {
        panic!("{e}");
    }
}

async fn scenario(b: &Browser, addr: SocketAddr, shots: Option<&Path>) -> Res<()> {
    let endpoint = format!("http://{addr}");
    let us = client_for(&endpoint, "us-east-1", AKID, SECRET_KEY);
    let eu = client_for(&endpoint, "eu-west-1", AKID, SECRET_KEY);

    // the page loads and polls, with no secret yet
    b.goto(&format!("{endpoint}/_emulator/ui")).await?;
    b.wait(
        "the first poll",
        "document.body.dataset.ready === 'true'",
        20,
    )
    .await?;
    let title = b.js("return document.title").await?;
    ensure!(
        title
            .as_str()
            .is_some_and(|t| t.contains("Secrets Manager")),
        "title {title}"
    );
    let store = b
        .js("return document.getElementById('store-indicator').textContent")
        .await?;
    ensure!(store == "Durable store", "store indicator shows {store}");

    // secrets created through the SDK appear
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let current = Box::pin(seed(addr, &us, &eu)).await?;
    b.wait(
        "the seeded secret in the list",
        r#"document.querySelector('#secret-list [data-secret="prod/payments/db-credentials"]')"#,
        10,
    )
    .await?;
    let load = traffic(us.clone(), stop_rx);
    b.click(r#"#secret-list [data-secret="prod/payments/db-credentials"]"#)
        .await?;
    b.wait(
        "the detail with its versions",
        "document.getElementById('detail-name')?.textContent === 'prod/payments/db-credentials' && document.querySelectorAll('#versions tbody tr').length",
        10,
    )
    .await?;
    let versions = b
        .js("return [...document.querySelectorAll('#versions tbody tr')].map(r => r.dataset.stages)")
        .await?;
    // three puts and a rotation: 4 versions, the rotation's copy current
    ensure!(
        versions == json!(["AWSCURRENT", "AWSPREVIOUS", "", ""]),
        "versions newest first with their labels: {versions}"
    );
    let cards = b
        .js("return ['tags-card','rotation-card','replication-card','policy-card'].map(id => document.getElementById(id).innerText)")
        .await?;
    let cards: Vec<&str> = cards
        .as_array()
        .ok_or("cards")?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    ensure!(
        cards[0].contains("cost-center") && cards[0].contains("cc-4021"),
        "tags card: {}",
        cards[0]
    );
    ensure!(
        cards[1].contains("rotate-payments-db") && cards[1].contains("every 30 days"),
        "rotation card: {}",
        cards[1]
    );
    ensure!(
        cards[2].contains("eu-west-1") && cards[2].contains("InSync"),
        "replication card: {}",
        cards[2]
    );
    ensure!(
        cards[3].contains("payments-api"),
        "policy card: {}",
        cards[3]
    );

    // the value is neither in the page nor fetched before the click
    let html = b.js("return document.documentElement.outerHTML").await?;
    ensure!(
        !html.as_str().unwrap_or("").contains("Zc5$eN8uJ3wY"),
        "a value is in the page before reveal"
    );
    let fetched = b
        .js("return performance.getEntriesByType('resource').some(e => e.name.includes('/state/reveal'))")
        .await?;
    ensure!(fetched == false, "a value was fetched before the click");
    b.screenshot(shots, "console-secrets.png").await?;

    // reveal the current value
    b.click(r#"#versions tr[data-stages~="AWSCURRENT"] button.reveal"#)
        .await?;
    let shown = b
        .wait(
            "the revealed value",
            r#"document.querySelector('#versions tr[data-stages~="AWSCURRENT"] .revealed')?.textContent"#,
            10,
        )
        .await?;
    ensure!(
        shown == json!(current),
        "revealed {shown}, expected the current value"
    );
    let masked = b
        .js(r#"return document.querySelectorAll('#versions tr:not([data-stages~="AWSCURRENT"]) .masked').length"#)
        .await?;
    ensure!(
        masked == json!(3),
        "the other versions stay masked: {masked}"
    );
    b.js("document.getElementById('versions-card').scrollIntoView(); return true")
        .await?;
    b.screenshot(shots, "console-secret-detail.png").await?;
    b.click(r#"#versions tr[data-stages~="AWSCURRENT"] button.hide"#)
        .await?;
    b.wait(
        "the value masked again",
        r#"!document.querySelector('#versions .revealed') && !document.documentElement.outerHTML.includes('Zc5$eN8uJ3wY')"#,
        10,
    )
    .await?;

    if shots.is_some() {
        // screenshots for the README only: let the background traffic fill the charts a while
        tokio::time::sleep(Duration::from_secs(40)).await;
    }

    // a throttle rate set on the page throttles SDK calls, which the log shows
    b.click("#tab-controls").await?;
    b.type_into("#fault-ops", "GetSecretValue").await?;
    b.type_into("#fault-throttle", "50").await?;
    b.type_into("#fault-seed", "7").await?;
    b.click("#fault-apply").await?;
    b.wait(
        "the applied fault rule",
        "document.getElementById('fault-status').textContent === 'Applied.' && document.getElementById('fault-rules-table')",
        10,
    )
    .await?;
    let r = raw(addr, "GET", "/_emulator/faults", &[], b"").await;
    let rule = &r.json()["rules"][0];
    ensure!(
        rule["operations"] == json!(["GetSecretValue"]) && rule["throttle_rate"] == json!(0.5),
        "the emulator holds {}",
        r.json()
    );
    let mut throttled = 0;
    for _ in 0..40 {
        match get(&us, "prod/payments/db-credentials").await {
            Ok(_) => {}
            Err(e) => {
                let code = common::code(&e.into_service_error());
                ensure!(code == "ThrottlingException", "unexpected error {code}");
                throttled += 1;
            }
        }
    }
    ensure!(
        (1..40).contains(&throttled),
        "{throttled} of 40 calls throttled at 50 %"
    );
    b.click("#tab-activity").await?;
    // the log filtered to failures on the page: exactly the throttled calls the SDK saw
    b.click("#log-errors").await?;
    b.wait(
        "the SDK's throttled requests in the log",
        &format!(
            r#"document.querySelectorAll('#log-body tr[data-error="ThrottlingException"][data-op="GetSecretValue"][data-secret="prod/payments/db-credentials"]').length === {throttled}"#
        ),
        10,
    )
    .await?;
    let only_errors = b
        .js("return [...document.querySelectorAll('#log-body tr')].every(r => Number(r.dataset.status) >= 400)")
        .await?;
    ensure!(only_errors == true, "the errors-only log shows a success");
    b.click("#log-errors").await?;
    b.wait(
        "throttled requests in the chart",
        &format!("JSON.parse(document.querySelector('#chart-requests svg').dataset.totals).throttled >= {throttled}"),
        10,
    )
    .await?;
    b.wait(
        "durable writes in the sync chart",
        "JSON.parse(document.querySelector('#chart-writes svg').dataset.totals).writes > 0",
        10,
    )
    .await?;
    let text = b
        .js("return document.getElementById('view-activity').innerText")
        .await?;
    let text = text.as_str().unwrap_or("");
    ensure!(
        !text.contains("Zc5$eN8uJ3wY") && !text.contains("payments_app"),
        "a value shows in the activity view"
    );
    b.screenshot(shots, "console-activity.png").await?;
    b.click("#tab-controls").await?;
    b.screenshot(shots, "console-controls.png").await?;
    b.click("#fault-clear").await?;
    b.wait(
        "faults cleared",
        "!document.getElementById('fault-rules-table') && document.getElementById('fault-indicator').hidden",
        10,
    )
    .await?;
    ensure!(
        raw(addr, "GET", "/_emulator/faults", &[], b"").await.json()["rules"] == json!([]),
        "faults still set after clearing them on the page"
    );
    let _ = stop_tx.send(true);
    let _ = load.await;

    // a secret deleted with a recovery window disappears when the page advances the clock past it
    create_request(&us, "tmp/old-api-key", "to-be-deleted")
        .send()
        .await
        .map_err(|e| format!("{e:?}"))?;
    delete(&us, "tmp/old-api-key", Some(7))
        .await
        .map_err(|e| format!("{e:?}"))?;
    b.click("#tab-secrets").await?;
    b.wait(
        "the deleted secret marked in the list",
        r#"document.querySelector('#secret-list [data-secret="tmp/old-api-key"][data-deleted="true"]')"#,
        10,
    )
    .await?;
    let before = raw(addr, "GET", "/_emulator/clock", &[], b"").await.json()["offset_seconds"]
        .as_f64()
        .unwrap_or(-1.0);
    b.click("#tab-controls").await?;
    b.type_into("#clock-amount", "8").await?;
    b.click("#clock-advance").await?;
    b.wait(
        "the clock advanced",
        "document.getElementById('clock-status').textContent.startsWith('Advanced')",
        10,
    )
    .await?;
    let after = raw(addr, "GET", "/_emulator/clock", &[], b"").await.json()["offset_seconds"]
        .as_f64()
        .unwrap_or(-1.0);
    ensure!(
        (after - before - 8.0 * 86_400.0).abs() < 1.0,
        "the page moved the clock by {} s",
        after - before
    );
    b.click("#tab-secrets").await?;
    b.wait(
        "the deleted secret gone from the list",
        r#"document.querySelector('#secret-list [data-secret="prod/payments/db-credentials"]') && !document.querySelector('#secret-list [data-secret="tmp/old-api-key"]')"#,
        10,
    )
    .await?;
    let gone = describe(&us, "tmp/old-api-key")
        .await
        .map(|_| ())
        .map_err(|e| common::code(&e.into_service_error()));
    ensure!(
        gone == Err("ResourceNotFoundException".to_string()),
        "after the page's clock advance, DescribeSecret answers {gone:?}"
    );
    Ok(())
}
