//! go-plugin's AutoMTLS, server side: when the host sets `PLUGIN_CLIENT_CERT` (PEM), we make a
//! self-signed certificate (CN and SAN `localhost`), announce it in the handshake line, and accept
//! only TLS (1.2 or 1.3) connections whose client presents exactly the host's certificate.
//!
//! The client certificate is pinned (compared byte for byte) rather than chain-verified: go-plugin
//! hosts send a self-signed certificate marked as a CA and present that same certificate, which
//! a WebPKI verifier rejects as "CA used as end entity"; pinning accepts exactly that certificate
//! and nothing else, and the handshake signature is still verified against its key.
//!
//! go-plugin's host certificate has an ECDSA P-521 key, which *ring* cannot verify: a TLS client
//! whose key matches none of the signature schemes the server asks for sends no certificate at
//! all. The verifier therefore adds P-521 (with SHA-256, SHA-384 or SHA-512 in TLS 1.2, SHA-512
//! in TLS 1.3, as `ecdsa_secp521r1_sha512`), checked with the RustCrypto `p521` crate, to
//! *ring*'s P-256, P-384, Ed25519 and RSA algorithms.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{
    alg_id, AlgorithmIdentifier, CertificateDer, InvalidSignature, PrivateKeyDer,
    PrivatePkcs8KeyDer, SignatureVerificationAlgorithm, UnixTime,
};
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

/// The hash an ECDSA P-521 signature is made over.
#[derive(Debug, Clone, Copy)]
enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

/// Size of a P-521 field element in bytes.
const P521_FIELD_BYTES: usize = 66;

/// ECDSA on P-521 with one hash, verified by the `p521` crate.
#[derive(Debug)]
struct EcdsaP521 {
    hash: Hash,
}

/// P-521 with SHA-256 (TLS 1.2 only: there the scheme does not fix the curve).
static ECDSA_P521_SHA256: EcdsaP521 = EcdsaP521 { hash: Hash::Sha256 };
/// P-521 with SHA-384 (TLS 1.2 only).
static ECDSA_P521_SHA384: EcdsaP521 = EcdsaP521 { hash: Hash::Sha384 };
/// P-521 with SHA-512: `ecdsa_secp521r1_sha512`, what go-plugin's host key signs with in TLS 1.3.
static ECDSA_P521_SHA512: EcdsaP521 = EcdsaP521 { hash: Hash::Sha512 };

impl SignatureVerificationAlgorithm for EcdsaP521 {
    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        use p521::ecdsa::signature::hazmat::PrehashVerifier;
        use sha2::Digest;
        let key =
            p521::ecdsa::VerifyingKey::from_sec1_bytes(public_key).map_err(|_| InvalidSignature)?;
        let signature =
            p521::ecdsa::Signature::from_der(signature).map_err(|_| InvalidSignature)?;
        let digest = match self.hash {
            Hash::Sha256 => sha2::Sha256::digest(message).to_vec(),
            Hash::Sha384 => sha2::Sha384::digest(message).to_vec(),
            Hash::Sha512 => sha2::Sha512::digest(message).to_vec(),
        };
        // ECDSA takes a hash shorter than the curve order as an integer, unchanged. The `ecdsa`
        // crate refuses one shorter than half the field (SHA-256 here), so it gets the same
        // integer left-padded with zero bytes to the field's 66 bytes.
        let mut padded = [0u8; P521_FIELD_BYTES];
        padded[P521_FIELD_BYTES - digest.len()..].copy_from_slice(&digest);
        key.verify_prehash(&padded, &signature)
            .map_err(|_| InvalidSignature)
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::ECDSA_P521
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        match self.hash {
            Hash::Sha256 => alg_id::ECDSA_SHA256,
            Hash::Sha384 => alg_id::ECDSA_SHA384,
            Hash::Sha512 => alg_id::ECDSA_SHA512,
        }
    }
}

/// The client signature algorithms accepted: *ring*'s (as rustls's *ring* provider lists them)
/// plus P-521. For TLS 1.3 rustls uses the first algorithm of a scheme, which fixes the curve;
/// for TLS 1.2 it tries each in turn, skipping those whose key type does not match.
static CLIENT_SIGNATURE_ALGORITHMS: WebPkiSupportedAlgorithms = {
    use webpki::ring as r;
    WebPkiSupportedAlgorithms {
        all: &[
            r::ECDSA_P256_SHA256,
            r::ECDSA_P256_SHA384,
            r::ECDSA_P384_SHA256,
            r::ECDSA_P384_SHA384,
            &ECDSA_P521_SHA256,
            &ECDSA_P521_SHA384,
            &ECDSA_P521_SHA512,
            r::ED25519,
            r::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
            r::RSA_PSS_2048_8192_SHA384_LEGACY_KEY,
            r::RSA_PSS_2048_8192_SHA512_LEGACY_KEY,
            r::RSA_PKCS1_2048_8192_SHA256,
            r::RSA_PKCS1_2048_8192_SHA384,
            r::RSA_PKCS1_2048_8192_SHA512,
        ],
        mapping: &[
            (
                SignatureScheme::ECDSA_NISTP384_SHA384,
                &[
                    r::ECDSA_P384_SHA384,
                    r::ECDSA_P256_SHA384,
                    &ECDSA_P521_SHA384,
                ],
            ),
            (
                SignatureScheme::ECDSA_NISTP256_SHA256,
                &[
                    r::ECDSA_P256_SHA256,
                    r::ECDSA_P384_SHA256,
                    &ECDSA_P521_SHA256,
                ],
            ),
            (
                SignatureScheme::ECDSA_NISTP521_SHA512,
                &[&ECDSA_P521_SHA512],
            ),
            (SignatureScheme::ED25519, &[r::ED25519]),
            (
                SignatureScheme::RSA_PSS_SHA512,
                &[r::RSA_PSS_2048_8192_SHA512_LEGACY_KEY],
            ),
            (
                SignatureScheme::RSA_PSS_SHA384,
                &[r::RSA_PSS_2048_8192_SHA384_LEGACY_KEY],
            ),
            (
                SignatureScheme::RSA_PSS_SHA256,
                &[r::RSA_PSS_2048_8192_SHA256_LEGACY_KEY],
            ),
            (
                SignatureScheme::RSA_PKCS1_SHA512,
                &[r::RSA_PKCS1_2048_8192_SHA512],
            ),
            (
                SignatureScheme::RSA_PKCS1_SHA384,
                &[r::RSA_PKCS1_2048_8192_SHA384],
            ),
            (
                SignatureScheme::RSA_PKCS1_SHA256,
                &[r::RSA_PKCS1_2048_8192_SHA256],
            ),
        ],
    }
};

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
            algorithms: CLIENT_SIGNATURE_ALGORITHMS,
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

    #[test]
    fn p521_signatures_verify_with_each_hash_and_fail_on_another_message() {
        use p521::ecdsa::signature::hazmat::PrehashSigner;
        use sha2::Digest;
        let key = p521::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
        let public = p521::ecdsa::VerifyingKey::from(&key).to_encoded_point(false);
        let message = b"TLS 1.3, client CertificateVerify";
        let cases: [(&EcdsaP521, Vec<u8>); 3] = [
            (&ECDSA_P521_SHA256, sha2::Sha256::digest(message).to_vec()),
            (&ECDSA_P521_SHA384, sha2::Sha384::digest(message).to_vec()),
            (&ECDSA_P521_SHA512, sha2::Sha512::digest(message).to_vec()),
        ];
        for (alg, digest) in cases {
            let mut padded = [0u8; P521_FIELD_BYTES];
            padded[P521_FIELD_BYTES - digest.len()..].copy_from_slice(&digest);
            let sig: p521::ecdsa::Signature = key.sign_prehash(&padded).unwrap();
            let der = sig.to_der();
            assert!(
                alg.verify_signature(public.as_bytes(), message, der.as_bytes())
                    .is_ok(),
                "{alg:?}"
            );
            assert!(alg
                .verify_signature(public.as_bytes(), b"another message", der.as_bytes())
                .is_err());
        }
        // SHA-512 over the message is what the `p521` crate's own signer makes.
        use p521::ecdsa::signature::Signer;
        let sig: p521::ecdsa::Signature = key.sign(message);
        assert!(ECDSA_P521_SHA512
            .verify_signature(public.as_bytes(), message, sig.to_der().as_bytes())
            .is_ok());
        // The scheme go-plugin's host uses in TLS 1.3 is offered.
        assert!(CLIENT_SIGNATURE_ALGORITHMS
            .supported_schemes()
            .contains(&SignatureScheme::ECDSA_NISTP521_SHA512));
    }
}
