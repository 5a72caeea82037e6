//! `serve`'s bearer-token authentication through the real binary: calls without the token or with
//! another one end with UNAUTHENTICATED and neither read nor change anything (no store call is
//! traced, the stored value stays); the right token works; a token file its group or others can
//! read stops start-up with a message naming the file and the fix; a generated token file is 0600
//! in a 0700 directory and its token never reaches stdout or stderr.
#![cfg(unix)]
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use secrets_broker::server::auth::{BearerAuth, BearerToken};
use secrets_broker::server::proto::controller::grpc_controller_client::GrpcControllerClient;
use secrets_broker::server::proto::secretsmanager as pb;
use secrets_broker::server::proto::secretsmanager::secrets_manager_client::SecretsManagerClient;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

const BIN: &str = env!("CARGO_BIN_EXE_secrets-broker");

/// A running `serve --backend memory --log-level trace`, with what it printed.
struct Serve {
    child: Child,
    addr: String,
    token_file: PathBuf,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn command(dir: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("GF_") || k.starts_with("PLUGIN_") || k == "grafana_plugin_type" {
            cmd.env_remove(k);
        }
    }
    cmd.env("TMPDIR", dir)
        .env_remove("XDG_RUNTIME_DIR")
        .args(["--backend", "memory", "--log-level", "trace", "serve"])
        .args(["--listen", "127.0.0.1:0"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn collect(r: impl std::io::Read + Send + 'static) -> Arc<Mutex<Vec<String>>> {
    let sink = Arc::new(Mutex::new(Vec::new()));
    let lines = sink.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines() {
            let Ok(line) = line else { break };
            lines.lock().unwrap().push(line);
        }
    });
    sink
}

/// Starts serve and waits (at most 30 s) for its two stdout lines.
fn start(dir: &Path, extra: &[&str]) -> Serve {
    let mut child = command(dir, extra).spawn().unwrap();
    let stdout = collect(child.stdout.take().unwrap());
    let stderr = collect(child.stderr.take().unwrap());
    let deadline = Instant::now() + Duration::from_secs(30);
    while stdout.lock().unwrap().len() < 2 {
        assert!(
            Instant::now() < deadline,
            "serve did not announce itself; stderr: {:?}",
            stderr.lock().unwrap()
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "serve exited; stderr: {:?}",
            stderr.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let lines = stdout.lock().unwrap().clone();
    let addr = lines[0].strip_prefix("listening on ").unwrap().to_string();
    let token_file = PathBuf::from(lines[1].strip_prefix("token file ").unwrap());
    Serve {
        child,
        addr,
        token_file,
        stdout,
        stderr,
    }
}

impl Serve {
    async fn channel(&self) -> Channel {
        tonic::transport::Endpoint::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    /// How many store calls were traced so far (one `rpc` trace line per call that ran).
    fn traced_calls(&self) -> usize {
        std::thread::sleep(Duration::from_millis(100));
        self.stderr
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains("\"@message\":\"rpc\""))
            .count()
    }
}

fn key(ns: &str) -> Option<pb::Key> {
    Some(pb::Key {
        org_id: 1,
        namespace: ns.into(),
        r#type: "datasource".into(),
    })
}

fn get_request(ns: &str) -> pb::GetSecretRequest {
    pb::GetSecretRequest {
        key_descriptor: key(ns),
    }
}

fn set_request(ns: &str, value: &str) -> pb::SetSecretRequest {
    pb::SetSecretRequest {
        key_descriptor: key(ns),
        value: value.into(),
    }
}

/// `message` with `authorization: header` (none when `None`).
fn request<T>(header: Option<&str>, message: T) -> tonic::Request<T> {
    let mut r = tonic::Request::new(message);
    if let Some(h) = header {
        r.metadata_mut().insert("authorization", h.parse().unwrap());
    }
    r
}

/// Every RPC of the secrets service, and Shutdown, with `authorization` set to `header` (or no
/// header): each must end with UNAUTHENTICATED.
async fn assert_every_call_refused(serve: &Serve, header: Option<&str>) {
    let mut c = SecretsManagerClient::new(serve.channel().await);
    let codes = [
        c.get_secret(request(header, get_request("db")))
            .await
            .map(drop),
        c.set_secret(request(header, set_request("db", "intruder")))
            .await
            .map(drop),
        c.delete_secret(request(
            header,
            pb::DeleteSecretRequest {
                key_descriptor: key("db"),
            },
        ))
        .await
        .map(drop),
        c.list_secrets(request(
            header,
            pb::ListSecretsRequest {
                key_descriptor: key("db"),
                all_organizations: true,
            },
        ))
        .await
        .map(drop),
        c.rename_secret(request(
            header,
            pb::RenameSecretRequest {
                key_descriptor: key("db"),
                new_namespace: "stolen".into(),
            },
        ))
        .await
        .map(drop),
        c.get_all_secrets(request(header, pb::GetAllSecretsRequest {}))
            .await
            .map(drop),
        GrpcControllerClient::new(serve.channel().await)
            .shutdown(request(
                header,
                secrets_broker::server::proto::controller::Empty {},
            ))
            .await
            .map(drop),
    ];
    for (i, result) in codes.into_iter().enumerate() {
        let status = result.expect_err(&format!("call {i} with {header:?} was answered"));
        assert_eq!(
            status.code(),
            tonic::Code::Unauthenticated,
            "call {i}: {status:?}"
        );
    }
}

/// Asserts that `db` holds `v1`, read with an authenticated client.
async fn assert_holds_v1(
    client: &mut SecretsManagerClient<InterceptedService<Channel, BearerAuth>>,
) {
    let r = client
        .get_secret(get_request("db"))
        .await
        .unwrap()
        .into_inner();
    assert!(r.exists && r.decrypted_value == "v1", "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_without_the_right_token_are_refused_and_touch_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut serve = start(dir.path(), &[]);

    // The generated token file: 0600 in a 0700 directory under $TMPDIR.
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert!(
        serve.token_file.starts_with(dir.path()),
        "{:?}",
        serve.token_file
    );
    assert_eq!(mode(&serve.token_file), 0o600);
    assert_eq!(mode(serve.token_file.parent().unwrap()), 0o700);
    let token = BearerToken::load(&serve.token_file).unwrap();
    let raw = std::fs::read_to_string(&serve.token_file).unwrap();

    // The right token works.
    let mut authed =
        SecretsManagerClient::with_interceptor(serve.channel().await, BearerAuth::new(&token));
    let r = authed.set_secret(set_request("db", "v1")).await.unwrap();
    assert_eq!(r.into_inner().user_friendly_error, "");
    assert_holds_v1(&mut authed).await;
    let traced = serve.traced_calls();
    assert_eq!(traced, 2, "{:?}", serve.stderr.lock().unwrap());

    // No token, another token, the token under another scheme, a prefix of it: all refused,
    // before any store call.
    let wrong = format!("Bearer {}", "f".repeat(64));
    let basic = format!("Basic {}", raw.trim());
    let prefix = format!("Bearer {}", &raw.trim()[..32]);
    for header in [
        None,
        Some(wrong.as_str()),
        Some(basic.as_str()),
        Some(prefix.as_str()),
    ] {
        assert_every_call_refused(&serve, header).await;
    }
    assert_eq!(
        serve.traced_calls(),
        traced,
        "a refused call reached the store"
    );
    assert!(
        serve.child.try_wait().unwrap().is_none(),
        "an unauthenticated Shutdown stopped serve"
    );

    // Nothing was changed: the value, its key and no renamed copy.
    assert_holds_v1(&mut authed).await;
    let all = authed
        .get_all_secrets(pb::GetAllSecretsRequest {})
        .await
        .unwrap();
    let names: Vec<String> = all
        .into_inner()
        .items
        .into_iter()
        .map(|item| item.key.unwrap().namespace)
        .collect();
    assert_eq!(names, ["db"]);

    // The token was printed nowhere; the file and its directory go away with the process.
    assert!(Command::new("kill")
        .args(["-TERM", &serve.child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let status = serve.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    std::thread::sleep(Duration::from_millis(100));
    for line in serve
        .stdout
        .lock()
        .unwrap()
        .iter()
        .chain(serve.stderr.lock().unwrap().iter())
    {
        assert!(!line.contains(raw.trim()), "the token was printed: {line}");
    }
    assert!(!serve.token_file.parent().unwrap().exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_given_token_file_is_used() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("serve.token");
    std::fs::write(&file, "given-token-0123456789abcdef\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let serve = start(dir.path(), &["--token-file", file.to_str().unwrap()]);
    assert_eq!(serve.token_file, file);
    let token = BearerToken::load(&file).unwrap();
    let mut c =
        SecretsManagerClient::with_interceptor(serve.channel().await, BearerAuth::new(&token));
    let r = c.set_secret(set_request("db", "v")).await.unwrap();
    assert_eq!(r.into_inner().user_friendly_error, "");
    assert_every_call_refused(&serve, Some("Bearer given-token-0123456789abcdeX")).await;
    drop(serve);
    assert!(
        file.exists(),
        "a given token file is the operator's: never removed"
    );
}

#[test]
fn a_token_file_others_can_read_stops_start_up_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("serve.token");
    std::fs::write(&file, "readable-token-0123456789abcdef\n").unwrap();
    for mode in [0o644, 0o640, 0o604] {
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
        let out = command(dir.path(), &["--token-file", file.to_str().unwrap()])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "mode {mode:o}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(file.to_str().unwrap()) && stderr.contains("chmod 600"),
            "mode {mode:o}: {stderr}"
        );
        assert!(!stderr.contains("readable-token"), "{stderr}");
        assert!(
            !String::from_utf8_lossy(&out.stdout).contains("listening on"),
            "it listened"
        );
    }
}
