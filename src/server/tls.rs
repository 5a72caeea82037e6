//! go-plugin's AutoMTLS, server side: when the host sets `PLUGIN_CLIENT_CERT` (PEM), we make a
//! self-signed certificate (CN and SAN `localhost`), announce it in the handshake line, and accept
//! only TLS (1.2 or 1.3) connections whose client presents exactly the host's certificate.
//!
//! The client certificate is pinned (compared byte for byte) rather than chain-verified: go-plugin
//! hosts send a self-signed certificate marked as a CA and present that same certificate, which
//! a WebPKI verifier rejects as "CA used as end entity"; pinning accepts exactly that certificate
//! and nothing else, and the handshake signature is still verified against its key.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_stream::{Stream, StreamExt};

/// How long a client may take to complete the TLS handshake.
pub const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Why AutoMTLS could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// `PLUGIN_CLIENT_CERT` held no PEM certificate.
    #[error("PLUGIN_CLIENT_CERT does not contain a PEM certificate")]
    NoClientCert,
    /// Generating the server certificate failed.
    #[error("cannot generate the server certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// rustls refused the configuration.
    #[error("cannot configure TLS: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The server's TLS configuration and the certificate to announce.
#[derive(Debug)]
pub struct AutoMtls {
    /// rustls configuration (client certificate required, ALPN h2).
    pub config: Arc<rustls::ServerConfig>,
    /// The server certificate, DER (the handshake line's 6th field).
    pub server_cert: CertificateDer<'static>,
}

/// A fresh self-signed certificate for `localhost` and its PKCS#8 key.
pub fn self_signed_localhost() -> Result<(CertificateDer<'static>, PrivateKeyDer<'static>), TlsError>
{
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()])?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "localhost");
    params.distinguished_name.push(
        rcgen::DnType::OrganizationName,
        "secrets-broker plugin (AutoMTLS)",
    );
    let key = rcgen::KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    Ok((cert.der().clone(), key_der))
}

/// The first certificate in a PEM text.
pub fn parse_pem_cert(pem: &str) -> Result<CertificateDer<'static>, TlsError> {
    let mut reader = std::io::BufReader::new(pem.as_bytes());
    let first = rustls_pemfile::certs(&mut reader).next();
    first.and_then(Result::ok).ok_or(TlsError::NoClientCert)
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Accepts exactly one client certificate.
#[derive(Debug)]
struct PinnedClientCert {
    cert: CertificateDer<'static>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for PinnedClientCert {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.cert.as_ref() {
            Ok(ClientCertVerified::assertion())
        } else {
            tracing::warn!("refused a TLS client whose certificate is not the host's");
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

impl AutoMtls {
    /// Sets up AutoMTLS for the host certificate in `client_cert_pem`.
    pub fn new(client_cert_pem: &str) -> Result<Self, TlsError> {
        let client_cert = parse_pem_cert(client_cert_pem)?;
        let (server_cert, key) = self_signed_localhost()?;
        let provider = provider();
        let verifier = PinnedClientCert {
            cert: client_cert,
            algorithms: provider.signature_verification_algorithms,
        };
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS12, &rustls::version::TLS13])?
            .with_client_cert_verifier(Arc::new(verifier))
            .with_single_cert(vec![server_cert.clone()], key)?;
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Self {
            config: Arc::new(config),
            server_cert,
        })
    }

    /// Wraps a stream of accepted connections: each is TLS-handshaken in its own task (so a slow
    /// or refused client never blocks others), and only completed handshakes come out.
    pub fn incoming<S, IO, E>(
        &self,
        mut accepted: S,
    ) -> impl Stream<Item = Result<tokio_rustls::server::TlsStream<IO>, std::io::Error>>
    where
        S: Stream<Item = Result<IO, E>> + Unpin + Send + 'static,
        E: std::fmt::Display + Send + 'static,
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let acceptor = tokio_rustls::TlsAcceptor::from(self.config.clone());
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        tokio::spawn(async move {
            loop {
                let next = tokio::select! {
                    () = tx.closed() => break,
                    next = accepted.next() => next,
                };
                let conn = match next {
                    None => break,
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "accept failed");
                        continue;
                    }
                    Some(Ok(conn)) => conn,
                };
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(conn)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send(Ok(tls)).await;
                        }
                        Ok(Err(e)) => tracing::warn!(error = %e, "TLS handshake refused"),
                        Err(_) => tracing::warn!("TLS handshake timed out"),
                    }
                });
            }
        });
        tokio_stream::wrappers::ReceiverStream::new(rx)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn server_cert_and_pem_parsing() {
        let (cert, _key) = self_signed_localhost().unwrap();
        assert!(cert.len() > 100);
        assert!(matches!(
            parse_pem_cert("nothing"),
            Err(TlsError::NoClientCert)
        ));
        let c = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let parsed = parse_pem_cert(&c.cert.pem()).unwrap();
        assert_eq!(parsed.as_ref(), c.cert.der().as_ref());
        assert!(AutoMtls::new(&c.cert.pem()).is_ok());
    }
}
