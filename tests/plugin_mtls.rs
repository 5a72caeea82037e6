//! AutoMTLS as go-plugin hosts use it: the host passes its client certificate in
//! `PLUGIN_CLIENT_CERT`, the plugin announces its own certificate in the handshake line's 6th
//! field, and only a client presenting the host's certificate gets an answer.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod plugin_support;

use std::path::PathBuf;
use std::time::Duration;

use plugin_support::*;
use secrets_broker::server::proto::secretsmanager::secrets_manager_client::SecretsManagerClient;
use tonic::transport::Endpoint;

/// A client certificate shaped like go-plugin's: self-signed, marked as a CA, for localhost,
/// usable for client and server auth. Returns (PEM, DER, PKCS#8 key DER).
fn go_plugin_style_cert() -> (String, Vec<u8>, Vec<u8>) {
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "HashiCorp");
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

async fn try_get(connector: TlsUnixConnector) -> Result<pb_get::GetSecretResponse, String> {
    let channel = Endpoint::from_static("http://plugin.invalid")
        .connect_timeout(Duration::from_secs(5))
        .connect_with_connector(connector)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let mut c = SecretsManagerClient::new(channel);
    let answer = tokio::time::timeout(
        Duration::from_secs(10),
        c.get_secret(pb_get::GetSecretRequest {
            key_descriptor: key(1, "ds", "datasource"),
        }),
    )
    .await
    .map_err(|_| "call timed out".to_string())?;
    answer
        .map(|r| r.into_inner())
        .map_err(|e| format!("call: {e}"))
}

use secrets_broker::server::proto::secretsmanager as pb_get;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_accepts_the_host_certificate_only() {
    let data = tempfile::tempdir().unwrap();
    let sockets = tempfile::tempdir().unwrap();
    let (host_pem, host_der, host_key) = go_plugin_style_cert();
    let mut cmd = grafana_command(data.path(), sockets.path(), &[]);
    cmd.env("PLUGIN_CLIENT_CERT", &host_pem);
    let mut plugin = launch(cmd);
    let server_cert = plugin
        .handshake
        .server_cert
        .clone()
        .expect("6th field under AutoMTLS");
    let path = PathBuf::from(&plugin.handshake.address);

    // The server certificate is for localhost and parses as DER.
    assert!(server_cert.len() > 100);

    // The host's certificate: works.
    let good = TlsUnixConnector::new(
        path.clone(),
        &server_cert,
        Some((host_der.clone(), host_key.clone())),
    );
    let r = try_get(good.clone()).await.expect("mTLS call succeeds");
    assert!(!r.exists && r.user_friendly_error.is_empty());

    // No client certificate: refused.
    let none = TlsUnixConnector::new(path.clone(), &server_cert, None);
    let err = try_get(none)
        .await
        .expect_err("client without certificate refused");
    eprintln!("without certificate: {err}");

    // Another self-signed certificate: refused.
    let (_, other_der, other_key) = go_plugin_style_cert();
    let other = TlsUnixConnector::new(path.clone(), &server_cert, Some((other_der, other_key)));
    let err = try_get(other)
        .await
        .expect_err("client with another certificate refused");
    eprintln!("with another certificate: {err}");

    // Plain gRPC without TLS: refused.
    assert!(
        tokio::time::timeout(Duration::from_secs(10), async {
            let channel = plugin.try_channel().await.map_err(|e| e.to_string())?;
            SecretsManagerClient::new(channel)
                .get_secret(pb_get::GetSecretRequest {
                    key_descriptor: key(1, "ds", "datasource"),
                })
                .await
                .map_err(|e| e.to_string())
        })
        .await
        .map_or(true, |r| r.is_err()),
        "plaintext client must not get an answer"
    );

    // Still serving the right client after the refusals; Shutdown over mTLS stops it.
    let channel = Endpoint::from_static("http://plugin.invalid")
        .connect_with_connector(good)
        .await
        .unwrap();
    let (took, status) = plugin.shutdown(channel).await;
    assert!(
        status.success() && took < Duration::from_secs(2),
        "{took:?} {status:?}"
    );
    assert_hclog(&plugin.stderr_lines());
}
