//! Grafana's `secretsmanagerplugin` wire messages (proto3, written out with prost's derive from the field
//! table in the protocol spec) and a client that launches the plugin binary the way Grafana does
//! (go-plugin handshake over stdout, gRPC over the announced Unix socket or TCP address).

use anyhow::{bail, Context};
use hyper_util::rt::TokioIo;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::{Channel, Endpoint, Uri};

/// `secretsmanagerplugin.Key`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Key {
    /// Organization id.
    #[prost(int64, tag = "1")]
    pub org_id: i64,
    /// Data source name in Grafana's use.
    #[prost(string, tag = "2")]
    pub namespace: String,
    /// `datasource` in Grafana's use.
    #[prost(string, tag = "3")]
    pub r#type: String,
}

/// `secretsmanagerplugin.Item`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Item {
    /// The key.
    #[prost(message, optional, tag = "1")]
    pub key: Option<Key>,
    /// The plaintext value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `GetSecretRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct GetSecretRequest {
    /// The key to read.
    #[prost(message, optional, tag = "1")]
    pub key_descriptor: Option<Key>,
}

/// `GetSecretResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct GetSecretResponse {
    /// Failure text, empty on success.
    #[prost(string, tag = "1")]
    pub user_friendly_error: String,
    /// The value when `exists`.
    #[prost(string, tag = "2")]
    pub decrypted_value: String,
    /// Whether the key exists.
    #[prost(bool, tag = "3")]
    pub exists: bool,
}

/// `SetSecretRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SetSecretRequest {
    /// The key to write.
    #[prost(message, optional, tag = "1")]
    pub key_descriptor: Option<Key>,
    /// The value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `SetSecretResponse` (also the shape of Delete/Rename responses).
#[derive(Clone, PartialEq, prost::Message)]
pub struct SetSecretResponse {
    /// Failure text, empty on success.
    #[prost(string, tag = "1")]
    pub user_friendly_error: String,
}

/// `GetAllSecretsRequest` (no fields); also go-plugin's `plugin.Empty`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Empty {}

/// `GetAllSecretsResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct GetAllSecretsResponse {
    /// Failure text, empty on success.
    #[prost(string, tag = "1")]
    pub user_friendly_error: String,
    /// Every secret.
    #[prost(message, repeated, tag = "2")]
    pub items: Vec<Item>,
}

/// A gRPC client for the plugin over one HTTP/2 connection (cheap to clone; clones share the connection).
#[derive(Debug, Clone)]
pub struct Client {
    grpc: tonic::client::Grpc<Channel>,
}

impl Client {
    async fn unary<Req, Resp>(&mut self, path: &'static str, req: Req) -> anyhow::Result<Resp>
    where
        Req: prost::Message + Send + Sync + 'static,
        Resp: prost::Message + Default + Send + Sync + 'static,
    {
        self.grpc
            .ready()
            .await
            .context("plugin connection not ready")?;
        let codec = tonic_prost::ProstCodec::<Req, Resp>::default();
        let resp = self
            .grpc
            .unary(
                tonic::Request::new(req),
                PathAndQuery::from_static(path),
                codec,
            )
            .await
            .with_context(|| format!("{path} failed"))?;
        Ok(resp.into_inner())
    }

    /// SetSecret.
    pub async fn set(&mut self, key: Key, value: String) -> anyhow::Result<SetSecretResponse> {
        let req = SetSecretRequest {
            key_descriptor: Some(key),
            value,
        };
        self.unary("/secretsmanagerplugin.SecretsManager/SetSecret", req)
            .await
    }

    /// GetSecret.
    pub async fn get(&mut self, key: Key) -> anyhow::Result<GetSecretResponse> {
        let req = GetSecretRequest {
            key_descriptor: Some(key),
        };
        self.unary("/secretsmanagerplugin.SecretsManager/GetSecret", req)
            .await
    }

    /// GetAllSecrets.
    pub async fn get_all(&mut self) -> anyhow::Result<GetAllSecretsResponse> {
        self.unary(
            "/secretsmanagerplugin.SecretsManager/GetAllSecrets",
            Empty {},
        )
        .await
    }

    /// go-plugin's `plugin.GRPCController/Shutdown`.
    pub async fn shutdown(&mut self) -> anyhow::Result<()> {
        let _: Empty = self
            .unary("/plugin.GRPCController/Shutdown", Empty {})
            .await?;
        Ok(())
    }
}

/// The network and address of a go-plugin handshake line `1|2|<unix|tcp>|<address>|grpc`.
pub fn parse_handshake(line: &str) -> anyhow::Result<(String, String)> {
    let parts: Vec<&str> = line.trim().split('|').collect();
    if parts.len() < 5 {
        bail!(
            "handshake line has {} fields, expected at least 5: {line:?}",
            parts.len()
        );
    }
    if parts[0] != "1" || parts[1] != "2" || parts[4] != "grpc" {
        bail!("unexpected handshake (core 1, app protocol 2, grpc expected): {line:?}");
    }
    if parts[2] != "unix" && parts[2] != "tcp" {
        bail!("unknown network {:?} in handshake", parts[2]);
    }
    Ok((parts[2].to_owned(), parts[3].to_owned()))
}

/// A running plugin process and a client connected to it.
#[derive(Debug)]
pub struct Plugin {
    /// The process.
    pub child: Child,
    /// The connected client.
    pub client: Client,
}

impl Plugin {
    /// Launches `binary` as Grafana does: magic cookie, protocol version 2, port range and the given
    /// `GF_PLUGIN_*` settings (`(key, value)`, key without the prefix); stderr goes to `stderr`.
    pub async fn launch(
        binary: &str,
        settings: &[(String, String)],
        stderr: Stdio,
    ) -> anyhow::Result<Self> {
        let mut cmd = Command::new(binary);
        cmd.env("grafana_plugin_type", "datasource")
            .env("PLUGIN_PROTOCOL_VERSIONS", "2")
            .env("PLUGIN_MIN_PORT", "10000")
            .env("PLUGIN_MAX_PORT", "25000")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .kill_on_drop(true);
        for (k, v) in settings {
            cmd.env(format!("GF_PLUGIN_{}", k.to_uppercase()), v);
        }
        let mut child = cmd.spawn().with_context(|| format!("launching {binary}"))?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut line = String::new();
        let mut reader = BufReader::new(stdout);
        tokio::time::timeout(Duration::from_secs(60), reader.read_line(&mut line))
            .await
            .context("no handshake line within 60 s")?
            .context("reading the handshake line")?;
        if line.is_empty() {
            let status = child.wait().await?;
            bail!("plugin exited ({status}) without a handshake line");
        }
        let (network, address) = parse_handshake(&line)?;
        let channel = if network == "unix" {
            Endpoint::try_from("http://[::1]:50051")?
                .connect_with_connector(tower::service_fn(move |_: Uri| {
                    let path = address.clone();
                    async move {
                        Ok::<_, std::io::Error>(TokioIo::new(
                            tokio::net::UnixStream::connect(path).await?,
                        ))
                    }
                }))
                .await
                .context("connecting to the plugin's Unix socket")?
        } else {
            Endpoint::try_from(format!("http://{address}"))?
                .connect()
                .await
                .context("connecting to the plugin's TCP address")?
        };
        // Keep draining stdout so a chatty plugin never blocks on a full pipe.
        tokio::spawn(async move {
            let mut sink = String::new();
            while reader.read_line(&mut sink).await.unwrap_or(0) > 0 {
                sink.clear();
            }
        });
        Ok(Self {
            child,
            client: Client {
                grpc: tonic::client::Grpc::new(channel),
            },
        })
    }

    /// Peak resident set size of the plugin process so far (VmHWM), in KiB, when /proc has it.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let pid = self.child.id()?;
        peak_rss_kib(pid)
    }

    /// Asks the plugin to shut down; kills it if it has not exited after 5 s.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let _ = tokio::time::timeout(Duration::from_secs(5), self.client.shutdown()).await;
        match tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await {
            Ok(status) => {
                status?;
            }
            Err(_) => {
                self.child.kill().await?;
                bail!("plugin did not exit within 5 s of Shutdown; killed");
            }
        }
        Ok(())
    }
}

/// VmHWM of a process in KiB.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn handshake_lines_parse() {
        let (n, a) = parse_handshake("1|2|unix|/tmp/plugin123|grpc\n").expect("valid");
        assert_eq!((n.as_str(), a.as_str()), ("unix", "/tmp/plugin123"));
        assert!(parse_handshake("1|1|unix|/x|grpc").is_err());
        assert!(parse_handshake("1|2|unix|/x|netrpc").is_err());
        assert!(parse_handshake("hello").is_err());
    }

    #[test]
    fn key_encodes_with_the_spec_field_numbers() {
        let k = Key {
            org_id: 1,
            namespace: "a".into(),
            r#type: "b".into(),
        };
        // field 1 varint 1, field 2 len 1 "a", field 3 len 1 "b"
        assert_eq!(
            k.encode_to_vec(),
            vec![0x08, 1, 0x12, 1, b'a', 0x1a, 1, b'b']
        );
    }

    #[test]
    fn own_peak_rss_is_readable() {
        assert!(peak_rss_kib(std::process::id()).is_some_and(|k| k > 0));
    }
}
