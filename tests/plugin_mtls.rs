//! AutoMTLS as go-plugin hosts use it: the host passes its client certificate in
//! `PLUGIN_CLIENT_CERT`, the plugin announces its own certificate in the handshake line's 6th
//! field, and only a client presenting the host's certificate gets an answer.
//!
//! go-plugin's host certificate is ECDSA P-521 (self-signed with SHA-512, a CA, for localhost,
//! client and server auth). The P-521 tests make one the same way with the `openssl` command and
//! connect with a TLS client that signs with that P-521 key and, like Go's, sends no certificate
//! at all when the server asks for no signature scheme its key can make.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod plugin_support;

use std::path::PathBuf;
use std::time::Duration;

use plugin_support::*;
use secrets_broker::server::proto::secretsmanager::secrets_manager_client::SecretsManagerClient;
use tonic::transport::Endpoint;

use secrets_broker::server::proto::secretsmanager as pb_get;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_accepts_the_host_certificate_only() {
    let (host_pem, host_der, host_key) = go_plugin_style_cert("HashiCorp");
    let mut plugin = launch_fresh(&[("PLUGIN_CLIENT_CERT", &host_pem)]);
    let (good, other, none) =
        assert_only_the_host_certificate_answers(&plugin, (host_der, host_key)).await;
    eprintln!("without certificate: {none}");
    eprintln!("with another certificate: {other}");

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

/// A self-signed certificate for `localhost` made by the openssl CLI with go-plugin's subject,
/// SAN and CA constraint plus `args` (key type, digest, validity, extensions), written as
/// `<name>.pem` and `<name>.key` in `dir`. Returns (certificate PEM, certificate DER, key PEM).
fn openssl_self_signed(
    dir: &std::path::Path,
    name: &str,
    args: &[&str],
) -> (String, Vec<u8>, String) {
    let cert = dir.join(format!("{name}.pem"));
    let key = dir.join(format!("{name}.key"));
    let out = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-nodes",
            "-subj",
            "/O=HashiCorp/CN=localhost",
        ])
        .args(["-addext", "subjectAltName=DNS:localhost"])
        .args(["-addext", "basicConstraints=critical,CA:TRUE"])
        .args(args)
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("the openssl command (Debian package openssl) makes the certificate");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pem = std::fs::read_to_string(&cert).unwrap();
    let der = rustls_pemfile::certs(&mut pem.as_bytes())
        .next()
        .unwrap()
        .unwrap()
        .to_vec();
    (pem, der, std::fs::read_to_string(&key).unwrap())
}

/// A certificate and key made as go-plugin's `generateCert` makes them: P-521 key, self-signed
/// with ECDSA-SHA512, O=HashiCorp CN=localhost, SAN localhost, a CA, key usages digital
/// signature, key encipherment, key agreement and certificate signing, extended key usages
/// client and server auth. Returns (PEM, DER, signing key).
fn go_plugin_p521_cert(
    dir: &std::path::Path,
    name: &str,
) -> (String, Vec<u8>, p521::ecdsa::SigningKey) {
    use p521::pkcs8::DecodePrivateKey;
    let (pem, der, key_pem) = openssl_self_signed(
        dir,
        name,
        &[
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-521",
            "-sha512",
            "-days",
            "10950",
            "-addext",
            "keyUsage=critical,digitalSignature,keyEncipherment,keyAgreement,keyCertSign",
            "-addext",
            "extendedKeyUsage=clientAuth,serverAuth",
        ],
    );
    let secret = p521::SecretKey::from_pkcs8_pem(&key_pem).expect("a P-521 PKCS#8 key");
    let signing = p521::ecdsa::SigningKey::from_bytes(&secret.to_bytes()).unwrap();
    (pem, der, signing)
}

/// A P-521 client key for rustls, choosing its signature scheme as Go's TLS client does: in
/// TLS 1.3 only `ecdsa_secp521r1_sha512`; in TLS 1.2 the first ECDSA scheme in the server's list
/// (there the scheme names only the hash). No acceptable scheme: no certificate is sent.
#[derive(Clone)]
struct P521ClientKey {
    key: p521::ecdsa::SigningKey,
    tls13: bool,
}

impl std::fmt::Debug for P521ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("P521ClientKey")
    }
}

#[derive(Debug)]
struct P521Signer {
    key: P521ClientKey,
    scheme: rustls::SignatureScheme,
}

impl rustls::sign::SigningKey for P521ClientKey {
    fn choose_scheme(
        &self,
        offered: &[rustls::SignatureScheme],
    ) -> Option<Box<dyn rustls::sign::Signer>> {
        use rustls::SignatureScheme as S;
        let usable: &[S] = if self.tls13 {
            &[S::ECDSA_NISTP521_SHA512]
        } else {
            &[
                S::ECDSA_NISTP256_SHA256,
                S::ECDSA_NISTP384_SHA384,
                S::ECDSA_NISTP521_SHA512,
            ]
        };
        let scheme = *offered.iter().find(|s| usable.contains(s))?;
        Some(Box::new(P521Signer {
            key: self.clone(),
            scheme,
        }))
    }

    fn algorithm(&self) -> rustls::SignatureAlgorithm {
        rustls::SignatureAlgorithm::ECDSA
    }
}

impl rustls::sign::Signer for P521Signer {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, rustls::Error> {
        use p521::ecdsa::signature::hazmat::PrehashSigner;
        use rustls::SignatureScheme as S;
        use sha2::Digest;
        let digest = match self.scheme {
            S::ECDSA_NISTP256_SHA256 => sha2::Sha256::digest(message).to_vec(),
            S::ECDSA_NISTP384_SHA384 => sha2::Sha384::digest(message).to_vec(),
            _ => sha2::Sha512::digest(message).to_vec(),
        };
        // The digest as an integer, left-padded to the field's 66 bytes (what Go signs).
        let mut padded = vec![0u8; 66 - digest.len()];
        padded.extend_from_slice(&digest);
        let signature: p521::ecdsa::Signature = self
            .key
            .key
            .sign_prehash(&padded)
            .map_err(|e| rustls::Error::General(e.to_string()))?;
        Ok(signature.to_der().as_bytes().to_vec())
    }

    fn scheme(&self) -> rustls::SignatureScheme {
        self.scheme
    }
}

/// Client configuration presenting `cert` with the P-521 `key`, trusting only `server_cert`.
fn p521_client(
    server_cert: &[u8],
    cert: Vec<u8>,
    key: p521::ecdsa::SigningKey,
    tls13: bool,
) -> rustls::ClientConfig {
    use rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(server_cert.to_vec()))
        .unwrap();
    let version: &[&rustls::SupportedProtocolVersion] = if tls13 {
        &[&rustls::version::TLS13]
    } else {
        &[&rustls::version::TLS12]
    };
    let certified = rustls::sign::CertifiedKey::new(
        vec![CertificateDer::from(cert)],
        std::sync::Arc::new(P521ClientKey { key, tls13 }),
    );
    rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(version)
    .unwrap()
    .with_root_certificates(roots)
    .with_client_cert_resolver(std::sync::Arc::new(OneClientCert(std::sync::Arc::new(
        certified,
    ))))
}

/// Offers its one certificate whenever the server asks; rustls then sends it only if the key
/// can make one of the server's signature schemes.
#[derive(Debug)]
struct OneClientCert(std::sync::Arc<rustls::sign::CertifiedKey>);

impl rustls::client::ResolvesClientCert for OneClientCert {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[rustls::SignatureScheme],
    ) -> Option<std::sync::Arc<rustls::sign::CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_plugin_p521_host_certificate_is_accepted_in_tls_1_3_and_1_2() {
    let data = tempfile::tempdir().unwrap();
    let sockets = tempfile::tempdir().unwrap();
    let (host_pem, host_der, host_key) = go_plugin_p521_cert(data.path(), "host");
    let mut cmd = grafana_command(data.path(), sockets.path(), &[]);
    cmd.env("PLUGIN_CLIENT_CERT", &host_pem);
    let mut plugin = launch(cmd);
    let server_cert = plugin.handshake.server_cert.clone().expect("6th field");
    let path = PathBuf::from(&plugin.handshake.address);

    for tls13 in [true, false] {
        let config = p521_client(&server_cert, host_der.clone(), host_key.clone(), tls13);
        let r = try_get_over(UnixConnector::from_config(path.clone(), config))
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "P-521 host certificate over TLS 1.{}: {e}; plugin stderr: {:?}",
                    if tls13 { 3 } else { 2 },
                    plugin.stderr_lines()
                )
            });
        assert!(!r.exists && r.user_friendly_error.is_empty());
    }

    // Another P-521 certificate, made the same way: refused in both versions.
    let (_, other_der, other_key) = go_plugin_p521_cert(data.path(), "other");
    for tls13 in [true, false] {
        let config = p521_client(&server_cert, other_der.clone(), other_key.clone(), tls13);
        let err = try_get_over(UnixConnector::from_config(path.clone(), config))
            .await
            .expect_err("another P-521 certificate is refused");
        eprintln!("another P-521 certificate: {err}");
    }

    // The host certificate with another key (the signature does not verify): refused.
    let (_, _, wrong_key) = go_plugin_p521_cert(data.path(), "wrong-key");
    let config = p521_client(&server_cert, host_der.clone(), wrong_key, true);
    try_get_over(UnixConnector::from_config(path.clone(), config))
        .await
        .expect_err("a handshake signed with another key is refused");

    let config = p521_client(&server_cert, host_der, host_key, true);
    let channel = Endpoint::from_static("http://plugin.invalid")
        .connect_with_connector(UnixConnector::from_config(path, config))
        .await
        .unwrap();
    let (_, status) = plugin.shutdown(channel).await;
    assert!(status.success(), "{status:?}");
    let logs = plugin.stderr_lines().join("\n");
    assert!(!logs.contains("peer sent no certificates"), "{logs}");
}

/// A go-plugin-shaped host certificate with an RSA-2048 key (openssl), as (PEM, DER, PKCS#8 DER).
fn rsa_host_cert(dir: &std::path::Path) -> (String, Vec<u8>, Vec<u8>) {
    let (pem, der, key_pem) = openssl_self_signed(
        dir,
        "rsa",
        &["-newkey", "rsa:2048", "-sha256", "-days", "30"],
    );
    let key_der = match rustls_pemfile::private_key(&mut key_pem.as_bytes()).unwrap() {
        Some(rustls::pki_types::PrivateKeyDer::Pkcs8(k)) => k.secret_pkcs8_der().to_vec(),
        other => panic!("expected a PKCS#8 key, got {other:?}"),
    };
    (pem, der, key_der)
}

/// A host certificate like go-plugin's but with `alg`'s key type (rcgen).
fn rcgen_host_cert(alg: &'static rcgen::SignatureAlgorithm) -> (String, Vec<u8>, Vec<u8>) {
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "localhost");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let key = rcgen::KeyPair::generate_for(alg).unwrap();
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), cert.der().to_vec(), key.serialize_der())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p384_ed25519_and_rsa_host_certificates_are_accepted() {
    let data = tempfile::tempdir().unwrap();
    let sockets = tempfile::tempdir().unwrap();
    let hosts = [
        ("P-384", rcgen_host_cert(&rcgen::PKCS_ECDSA_P384_SHA384)),
        ("Ed25519", rcgen_host_cert(&rcgen::PKCS_ED25519)),
        ("RSA-2048", rsa_host_cert(data.path())),
    ];
    for (name, (pem, der, key_der)) in hosts {
        let mut cmd = grafana_command(data.path(), sockets.path(), &[]);
        cmd.env("PLUGIN_CLIENT_CERT", &pem);
        let mut plugin = launch(cmd);
        let server_cert = plugin.handshake.server_cert.clone().expect("6th field");
        let path = PathBuf::from(&plugin.handshake.address);
        let good = UnixConnector::tls(path, &server_cert, Some((der, key_der)));
        let r = try_get_over(good.clone())
            .await
            .unwrap_or_else(|e| panic!("{name} host certificate: {e}"));
        assert!(!r.exists && r.user_friendly_error.is_empty(), "{name}");
        let channel = Endpoint::from_static("http://plugin.invalid")
            .connect_with_connector(good)
            .await
            .unwrap();
        let (_, status) = plugin.shutdown(channel).await;
        assert!(status.success(), "{name}: {status:?}");
    }
}
