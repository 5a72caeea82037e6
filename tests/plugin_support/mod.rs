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

impl Handshake {
    /// Asserts the fields Grafana checks: core protocol 1, app protocol 2, a Unix socket, gRPC.
    pub fn assert_grafana_grpc_over_unix(&self, label: &str) {
        assert_eq!(
            (
                self.core.as_str(),
                self.app.as_str(),
                self.network.as_str(),
                self.protocol.as_str()
            ),
            ("1", "2", "unix", "grpc"),
            "{label}: handshake {self:?}"
        );
    }
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

/// The byte stream a connector hands to tonic: the Unix socket, plain or inside TLS.
pub trait SocketIo: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> SocketIo for T {}

/// Connector over the announced Unix socket: plain, or with TLS (server verified against the
/// handshake's certificate, client certificate optional).
#[derive(Clone)]
pub struct UnixConnector {
    path: PathBuf,
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl UnixConnector {
    /// A plain connector.
    pub fn plain(path: PathBuf) -> Self {
        Self { path, tls: None }
    }

    /// A TLS connector trusting `server_cert`, presenting `client` (certificate DER, PKCS#8 key
    /// DER) when given.
    pub fn tls(path: PathBuf, server_cert: &[u8], client: Option<(Vec<u8>, Vec<u8>)>) -> Self {
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
        let config = match client {
            Some((cert, key)) => builder
                .with_client_auth_cert(
                    vec![CertificateDer::from(cert)],
                    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)),
                )
                .unwrap(),
            None => builder.with_no_client_auth(),
        };
        Self::from_config(path, config)
    }

    /// A TLS connector with a ready client configuration (ALPN h2 is set here).
    pub fn from_config(path: PathBuf, mut config: rustls::ClientConfig) -> Self {
        config.alpn_protocols = vec![b"h2".to_vec()];
        Self {
            path,
            tls: Some(Arc::new(config)),
        }
    }
}

impl tonic::codegen::Service<Uri> for UnixConnector {
    type Response = TokioIo<Box<dyn SocketIo>>;
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
        let tls = self.tls.clone();
        Box::pin(async move {
            let stream = tokio::net::UnixStream::connect(path).await?;
            let io: Box<dyn SocketIo> = match tls {
                None => Box::new(stream),
                Some(config) => {
                    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
                    let connector = tokio_rustls::TlsConnector::from(config);
                    Box::new(connector.connect(name, stream).await?)
                }
            };
            Ok(TokioIo::new(io))
        })
    }
}

/// Under AutoMTLS: a client presenting the host's certificate (`host`: certificate DER, PKCS#8
/// key DER) gets an answer; one presenting another certificate of the same subject, and one
/// presenting none, are refused. Returns the host's connector and the two refusals' errors
/// (another certificate, none).
pub async fn assert_only_the_host_certificate_answers(
    plugin: &Plugin,
    host: (Vec<u8>, Vec<u8>),
) -> (UnixConnector, String, String) {
    let server_cert = plugin
        .handshake
        .server_cert
        .clone()
        .expect("6th field under AutoMTLS");
    // The server certificate parses as DER.
    assert!(server_cert.len() > 100);
    let path = PathBuf::from(&plugin.handshake.address);
    let good = UnixConnector::tls(path.clone(), &server_cert, Some(host));
    let r = try_get_over(good.clone())
        .await
        .expect("the host's certificate gets an answer");
    assert!(!r.exists && r.user_friendly_error.is_empty());
    let (_, other_der, other_key) = go_plugin_style_cert("HashiCorp");
    let other = UnixConnector::tls(path.clone(), &server_cert, Some((other_der, other_key)));
    let other = try_get_over(other)
        .await
        .expect_err("a client with another certificate is refused");
    let none = try_get_over(UnixConnector::tls(path, &server_cert, None))
        .await
        .expect_err("a client without a certificate is refused");
    (good, other, none)
}

/// GetSecret of org 1's `ds` through `connector` (connect within 5 s, answer within 10 s); the
/// error says which step failed.
pub async fn try_get_over(connector: UnixConnector) -> Result<pb::GetSecretResponse, String> {
    let channel = Endpoint::from_static("http://plugin.invalid")
        .connect_timeout(Duration::from_secs(5))
        .connect_with_connector(connector)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let mut c = SecretsManagerClient::new(channel);
    let answer = tokio::time::timeout(
        Duration::from_secs(10),
        c.get_secret(pb::GetSecretRequest {
            key_descriptor: key(1, "ds", "datasource"),
        }),
    )
    .await
    .map_err(|_| "call timed out".to_string())?;
    answer
        .map(|r| r.into_inner())
        .map_err(|e| format!("call: {e}"))
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
            .connect_with_connector(UnixConnector::plain(PathBuf::from(&self.handshake.address)))
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

/// The secrets client the helpers below call.
pub type Client = SecretsManagerClient<Channel>;

/// SetSecret of a `datasource` key; returns its userFriendlyError.
pub async fn set(c: &mut Client, org: i64, ns: &str, value: &str) -> String {
    set_key(c, key(org, ns, "datasource"), value)
        .await
        .user_friendly_error
}

/// GetSecret of a `datasource` key.
pub async fn get(c: &mut Client, org: i64, ns: &str) -> pb::GetSecretResponse {
    get_key(c, key(org, ns, "datasource")).await
}

/// DeleteSecret of a `datasource` key.
pub async fn delete(c: &mut Client, org: i64, ns: &str) -> pb::DeleteSecretResponse {
    delete_key(c, key(org, ns, "datasource")).await
}

/// RenameSecret of a `datasource` key to `new_namespace`.
pub async fn rename(
    c: &mut Client,
    org: i64,
    ns: &str,
    new_namespace: &str,
) -> pb::RenameSecretResponse {
    rename_key(c, key(org, ns, "datasource"), new_namespace).await
}

/// ListSecrets matching a `datasource` key, in its org or in all of them.
pub async fn list(
    c: &mut Client,
    org: i64,
    ns: &str,
    all_organizations: bool,
) -> pb::ListSecretsResponse {
    let request = pb::ListSecretsRequest {
        key_descriptor: key(org, ns, "datasource"),
        all_organizations,
    };
    answered("ListSecrets", c.list_secrets(request).await)
}

/// The answer of an RPC that must answer gRPC OK (a status fails the test, naming `method`).
fn answered<T>(method: &str, answer: Result<tonic::Response<T>, tonic::Status>) -> T {
    answer
        .unwrap_or_else(|s| panic!("{method} answered a non-OK status: {s:?}"))
        .into_inner()
}

/// SetSecret of any key descriptor (an invalid or missing one too); the call must answer gRPC OK.
pub async fn set_key(c: &mut Client, k: Option<pb::Key>, value: &str) -> pb::SetSecretResponse {
    let request = pb::SetSecretRequest {
        key_descriptor: k,
        value: value.into(),
    };
    answered("SetSecret", c.set_secret(request).await)
}

/// GetSecret of any key descriptor; the call must answer gRPC OK.
pub async fn get_key(c: &mut Client, k: Option<pb::Key>) -> pb::GetSecretResponse {
    let request = pb::GetSecretRequest { key_descriptor: k };
    answered("GetSecret", c.get_secret(request).await)
}

/// DeleteSecret of any key descriptor; the call must answer gRPC OK.
pub async fn delete_key(c: &mut Client, k: Option<pb::Key>) -> pb::DeleteSecretResponse {
    let request = pb::DeleteSecretRequest { key_descriptor: k };
    answered("DeleteSecret", c.delete_secret(request).await)
}

/// RenameSecret of any key descriptor; the call must answer gRPC OK.
pub async fn rename_key(
    c: &mut Client,
    k: Option<pb::Key>,
    new_namespace: &str,
) -> pb::RenameSecretResponse {
    let request = pb::RenameSecretRequest {
        key_descriptor: k,
        new_namespace: new_namespace.into(),
    };
    answered("RenameSecret", c.rename_secret(request).await)
}

/// GetAllSecrets; the call must answer gRPC OK.
pub async fn get_all(c: &mut Client) -> pb::GetAllSecretsResponse {
    answered(
        "GetAllSecrets",
        c.get_all_secrets(pb::GetAllSecretsRequest {}).await,
    )
}

/// GetAllSecrets, which must succeed: every secret as (org, namespace, value), sorted.
pub async fn all_items(c: &mut Client) -> Vec<(i64, String, String)> {
    let all = get_all(c).await;
    assert_eq!(all.user_friendly_error, "");
    let mut items: Vec<(i64, String, String)> = all
        .items
        .into_iter()
        .map(|i| {
            let k = i.key.expect("an item has its key");
            (k.org_id, k.namespace, i.value)
        })
        .collect();
    items.sort();
    items
}

/// A plugin launched like Grafana (plus `settings`) with fresh temporary data and socket
/// folders; dropping it kills the process before the folders are removed.
pub struct FreshPlugin {
    pub plugin: Plugin,
    pub data: tempfile::TempDir,
    pub sockets: tempfile::TempDir,
}

impl std::ops::Deref for FreshPlugin {
    type Target = Plugin;
    fn deref(&self) -> &Plugin {
        &self.plugin
    }
}

impl std::ops::DerefMut for FreshPlugin {
    fn deref_mut(&mut self) -> &mut Plugin {
        &mut self.plugin
    }
}

/// Launches the plugin in fresh temporary folders (see [`FreshPlugin`]).
pub fn launch_fresh(settings: &[(&str, &str)]) -> FreshPlugin {
    let data = tempfile::tempdir().unwrap();
    let sockets = tempfile::tempdir().unwrap();
    let plugin = launch(grafana_command(data.path(), sockets.path(), settings));
    FreshPlugin {
        plugin,
        data,
        sockets,
    }
}

/// A client certificate shaped like go-plugin's host certificate: self-signed, marked as a CA,
/// for localhost, usable for client and server auth, of organization `org`. Returns (PEM, DER,
/// PKCS#8 key DER).
pub fn go_plugin_style_cert(org: &str) -> (String, Vec<u8>, Vec<u8>) {
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, org);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "localhost");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::DigitalSignature,
        rcgen::KeyUsagePurpose::KeyEncipherment,
        rcgen::KeyUsagePurpose::KeyCertSign,
    ];
    params.extended_key_usages = vec![
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
    ];
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), cert.der().to_vec(), key.serialize_der())
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
    // `0` stands for any digit, every other byte for itself.
    const DATE_TIME: &[u8] = b"0000-00-00T00:00:00.000000";
    const OFFSET: &[u8] = b"00:00";
    let fits = |text: &[u8], shape: &[u8]| {
        text.len() == shape.len()
            && text.iter().zip(shape).all(|(c, s)| match s {
                b'0' => c.is_ascii_digit(),
                _ => c == s,
            })
    };
    let b = ts.as_bytes();
    if b.len() < DATE_TIME.len() {
        return false;
    }
    let (date_time, zone) = b.split_at(DATE_TIME.len());
    let zone_ok = zone == b"Z"
        || matches!(zone.split_first(), Some((b'+' | b'-', rest)) if fits(rest, OFFSET));
    fits(date_time, DATE_TIME) && zone_ok
}
