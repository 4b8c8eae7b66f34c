//! Optional TLS (`wss://`, `https://`) with a certificate generated at start-up.
//!
//! A throw-away CA is created, and a server certificate for `localhost` and
//! `127.0.0.1` is signed by it. Clients trust [`TlsMaterial::ca_der`] (or
//! [`TlsMaterial::ca_pem`]). The rustls `ring` provider is used.

use std::io;
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The certificates of a TLS-enabled [`TestServer`](crate::TestServer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsMaterial {
    /// The CA certificate (DER). Add it to the client's root store.
    pub ca_der: Vec<u8>,
    /// The CA certificate (PEM).
    pub ca_pem: String,
    /// The server's certificate (DER), valid for `localhost` and `127.0.0.1`.
    pub cert_der: Vec<u8>,
    /// The server's certificate (PEM).
    pub cert_pem: String,
}

fn other(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

/// Generates a CA and a server certificate, and the rustls server config.
pub(crate) fn generate() -> io::Result<(TlsMaterial, Arc<rustls::ServerConfig>)> {
    let ca_key = KeyPair::generate().map_err(other)?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(other)?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "phoenix-test-server CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params.self_signed(&ca_key).map_err(other)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let key = KeyPair::generate().map_err(other)?;
    let mut params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .map_err(other)?;
    params
        .distinguished_name
        .push(DnType::CommonName, "phoenix-test-server");
    let cert = params.signed_by(&key, &issuer).map_err(other)?;

    let material = TlsMaterial {
        ca_der: ca_cert.der().to_vec(),
        ca_pem: ca_cert.pem(),
        cert_der: cert.der().to_vec(),
        cert_pem: cert.pem(),
    };
    let chain = vec![
        CertificateDer::from(material.cert_der.clone()),
        CertificateDer::from(material.ca_der.clone()),
    ];
    let private = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(other)?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(other)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((material, Arc::new(config)))
}
