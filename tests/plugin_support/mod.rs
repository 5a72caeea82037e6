//! Shared helpers of the plugin tests: launch the built binary as Grafana does (magic cookie,
//! `PLUGIN_PROTOCOL_VERSIONS=2`, port range, `GF_PLUGIN_*` settings), read and parse the handshake
//! line, connect a tonic client over the announced Unix socket (optionally with mutual TLS) and
//! collect stderr.
#![allow(clippy::unwrap_used)]
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use hyper_util::rt::TokioIo;
use secrets_broker::server::proto::controller::grpc_controller_client::GrpcControllerClient;
use secrets_broker::server::proto::secretsmanager as pb;
use secrets_broker::server::proto::secretsmanager::secrets_manager_client::SecretsManagerClient;
use tonic::transport::{Channel, Endpoint, Uri};

pub const BIN: &str = env!("CARGO_BIN_EXE_secrets-broker");

/// A command with Grafana's launch environment and nothing of ours leaking in.
pub fn grafana_command(data_dir: &Path, socket_dir: &Path, settings: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("GF_") || k.starts_with("PLUGIN_") || k == "grafana_plugin_type" {
            cmd.env_remove(k);
        }
    }
    cmd.env("grafana_plugin_type", "datasource")
        .env("PLUGIN_PROTOCOL_VERSIONS", "2")
        .env("PLUGIN_MIN_PORT", "10000")
        .env("PLUGIN_MAX_PORT", "25000")
        .env("PLUGIN_UNIX_SOCKET_DIR", socket_dir)
        .env("GF_VERSION", "10.4.1")
        .env("GF_PLUGIN_DATA_DIR", data_dir);
    for (k, v) in settings {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// The parsed handshake line.
#[derive(Debug, Clone)]
pub struct Handshake {
    pub core: String,
    pub app: String,
    pub network: String,
    pub address: String,
    pub protocol: String,
    pub server_cert: Option<Vec<u8>>,
}

pub fn parse_handshake(line: &str) -> Handshake {
    let parts: Vec<&str> = line.trim_end_matches('\n').split('|').collect();
    assert!(
        parts.len() == 5 || parts.len() == 6,
        "handshake line has {} fields: {line:?}",
        parts.len()
    );
    Handshake {
        core: parts[0].into(),
        app: parts[1].into(),
        network: parts[2].into(),
        address: parts[3].into(),
        protocol: parts[4].into(),
        server_cert: parts.get(5).map(|c| {
            base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(c)
                .expect("6th field is base64 without padding")
        }),
    }
}

/// A running plugin process.
pub struct Plugin {
    pub child: Child,
    pub handshake: Handshake,
    /// Everything on stdout after the handshake line (must stay empty).
    pub extra_stdout: Arc<Mutex<Vec<String>>>,
    pub stderr: Arc<Mutex<Vec<String>>>,
}

fn collect<R: std::io::Read + Send + 'static>(r: R, sink: Arc<Mutex<Vec<String>>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines() {
            let Ok(line) = line else { break };
            sink.lock().unwrap().push(line);
        }
    });
}

/// Starts the plugin and waits (at most 30 s) for its handshake line.
pub fn launch(mut cmd: Command) -> Plugin {
    let mut child = cmd.spawn().expect("spawn plugin");
    let stdout = child.stdout.take().unwrap();
    let stderr = Arc::new(Mutex::new(Vec::new()));
    collect(child.stderr.take().unwrap(), stderr.clone());
    let (tx, rx) = mpsc::channel();
    let extra_stdout = Arc::new(Mutex::new(Vec::new()));
    let extra = extra_stdout.clone();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut first = String::new();
        let _ = reader.read_line(&mut first);
        let _ = tx.send(first);
        for line in reader.lines() {
            let Ok(line) = line else { break };
            extra.lock().unwrap().push(line);
        }
    });
    let line = match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(l) if !l.is_empty() => l,
        other => {
            let _ = child.kill();
            let _ = child.wait();
            std::thread::sleep(Duration::from_millis(100));
            panic!(
                "no handshake line ({other:?}); stderr: {:?}",
                stderr.lock().unwrap()
            );
        }
    };
    Plugin {
        child,
        handshake: parse_handshake(&line),
        extra_stdout,
        stderr,
    }
}

/// Connector over the announced Unix socket, plain.
#[derive(Clone)]
struct UnixConnector(PathBuf);

impl tonic::codegen::Service<Uri> for UnixConnector {
    type Response = TokioIo<tokio::net::UnixStream>;
    type Error = std::io::Error;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>,
    >;
    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn call(&mut self, _: Uri) -> Self::Future {
        let path = self.0.clone();
        Box::pin(async move { Ok(TokioIo::new(tokio::net::UnixStream::connect(path).await?)) })
    }
}

/// Connector over the Unix socket with TLS (server verified against `server_cert`, client
/// certificate optional).
#[derive(Clone)]
pub struct TlsUnixConnector {
    path: PathBuf,
    config: Arc<rustls::ClientConfig>,
}

impl TlsUnixConnector {
    pub fn new(path: PathBuf, server_cert: &[u8], client: Option<(Vec<u8>, Vec<u8>)>) -> Self {
        use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from(server_cert.to_vec()))
            .expect("server cert usable as root");
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
        let mut config = match client {
            Some((cert, key)) => builder
                .with_client_auth_cert(
                    vec![CertificateDer::from(cert)],
                    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)),
                )
                .unwrap(),
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = vec![b"h2".to_vec()];
        Self {
            path,
            config: Arc::new(config),
        }
    }
}

impl TlsUnixConnector {
    /// A connector with a ready client configuration (ALPN h2 is set here).
    pub fn from_config(path: PathBuf, mut config: rustls::ClientConfig) -> Self {
        config.alpn_protocols = vec![b"h2".to_vec()];
        Self {
            path,
            config: Arc::new(config),
        }
    }
}

impl tonic::codegen::Service<Uri> for TlsUnixConnector {
    type Response = TokioIo<tokio_rustls::client::TlsStream<tokio::net::UnixStream>>;
    type Error = std::io::Error;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>,
    >;
    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn call(&mut self, _: Uri) -> Self::Future {
        let path = self.path.clone();
        let connector = tokio_rustls::TlsConnector::from(self.config.clone());
        Box::pin(async move {
            let stream = tokio::net::UnixStream::connect(path).await?;
            let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
            Ok(TokioIo::new(connector.connect(name, stream).await?))
        })
    }
}

impl Plugin {
    /// A plain channel over the announced socket.
    pub async fn channel(&self) -> Channel {
        self.try_channel()
            .await
            .expect("connect over the Unix socket")
    }

    /// A plain channel, or the connection error.
    pub async fn try_channel(&self) -> Result<Channel, tonic::transport::Error> {
        assert_eq!(self.handshake.network, "unix");
        Endpoint::from_static("http://plugin.invalid")
            .connect_timeout(Duration::from_secs(5))
            .connect_with_connector(UnixConnector(PathBuf::from(&self.handshake.address)))
            .await
    }

    /// The secrets client (message size limits raised, like Grafana's).
    pub async fn client(&self) -> SecretsManagerClient<Channel> {
        SecretsManagerClient::new(self.channel().await)
            .max_decoding_message_size(usize::MAX)
            .max_encoding_message_size(usize::MAX)
    }

    /// Calls `GRPCController/Shutdown` and returns how long the process took to exit.
    pub async fn shutdown(&mut self, channel: Channel) -> (Duration, ExitStatus) {
        let started = Instant::now();
        GrpcControllerClient::new(channel)
            .shutdown(secrets_broker::server::proto::controller::Empty {})
            .await
            .expect("Shutdown RPC answers");
        let status = self.wait_exit(Duration::from_secs(5));
        (started.elapsed(), status)
    }

    /// Waits for the process to exit (kills it after `limit`).
    pub fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("plugin did not exit within {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// stderr lines so far (after the process exited, all of them: give the reader a moment).
    pub fn stderr_lines(&self) -> Vec<String> {
        std::thread::sleep(Duration::from_millis(100));
        self.stderr.lock().unwrap().clone()
    }
}

impl Drop for Plugin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn key(org: i64, namespace: &str, kind: &str) -> Option<pb::Key> {
    Some(pb::Key {
        org_id: org,
        namespace: namespace.into(),
        r#type: kind.into(),
    })
}

pub async fn set(c: &mut SecretsManagerClient<Channel>, org: i64, ns: &str, value: &str) -> String {
    c.set_secret(pb::SetSecretRequest {
        key_descriptor: key(org, ns, "datasource"),
        value: value.into(),
    })
    .await
    .expect("SetSecret answers OK")
    .into_inner()
    .user_friendly_error
}

pub async fn get(
    c: &mut SecretsManagerClient<Channel>,
    org: i64,
    ns: &str,
) -> pb::GetSecretResponse {
    c.get_secret(pb::GetSecretRequest {
        key_descriptor: key(org, ns, "datasource"),
    })
    .await
    .expect("GetSecret answers OK")
    .into_inner()
}

/// Checks every stderr line is hclog JSON with a valid level and the exact timestamp form;
/// returns the parsed lines.
pub fn assert_hclog(lines: &[String]) -> Vec<serde_json::Value> {
    lines
        .iter()
        .map(|l| {
            let v: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
            let level = v["@level"]
                .as_str()
                .unwrap_or_else(|| panic!("no @level: {l}"));
            assert!(
                ["trace", "debug", "info", "warn", "error"].contains(&level),
                "bad level: {l}"
            );
            assert!(v["@message"].is_string(), "no @message: {l}");
            assert!(v["@module"].is_string(), "no @module: {l}");
            let ts = v["@timestamp"]
                .as_str()
                .unwrap_or_else(|| panic!("no @timestamp: {l}"));
            assert!(is_hclog_timestamp(ts), "bad timestamp {ts}");
            v
        })
        .collect()
}

/// `2021-10-08T08:15:56.112151+00:00`: six fractional digits, then `Z` or `±hh:mm`.
pub fn is_hclog_timestamp(ts: &str) -> bool {
    let b = ts.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| r.clone().all(|i| b.get(i).is_some_and(u8::is_ascii_digit));
    if b.len() < 26 {
        return false;
    }
    let tail = &ts[26..];
    let tz_ok = tail == "Z"
        || (tail.len() == 6
            && (tail.starts_with('+') || tail.starts_with('-'))
            && tail.as_bytes()[3] == b':'
            && tail[1..3].bytes().all(|c| c.is_ascii_digit())
            && tail[4..6].bytes().all(|c| c.is_ascii_digit()));
    digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && b[19] == b'.'
        && digits(20..26)
        && tz_ok
}
