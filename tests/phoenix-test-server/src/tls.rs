//! Optional TLS (`wss://`, `https://`) with a certificate generated at start-up.
//!
//! A throw-away CA is created, and a server certificate signed by it for
//! the names of [`ServerConfig::tls_cert_names`](crate::ServerConfig::tls_cert_names)
//! (`localhost` and `127.0.0.1` by default). Clients trust
//! [`TlsMaterial::ca_der`] (or [`TlsMaterial::ca_pem`]). With
//! [`ServerConfig::tls_client_auth`](crate::ServerConfig::tls_client_auth)
//! the server also requires a client certificate signed by that CA (mutual
//! TLS); [`TlsMaterial::issue_client_certificate`] makes one. The rustls
//! `ring` provider is used.

use std::fmt;
use std::io;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;

use crate::ServerConfig;

/// The certificates of a TLS-enabled [`TestServer`](crate::TestServer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsMaterial {
    /// The CA certificate (DER). Add it to the client's root store.
    pub ca_der: Vec<u8>,
    /// The CA certificate (PEM).
    pub ca_pem: String,
    /// The server's certificate (DER), valid for the names of
    /// [`ServerConfig::tls_cert_names`](crate::ServerConfig::tls_cert_names)
    /// (`localhost` and `127.0.0.1` by default).
    pub cert_der: Vec<u8>,
    /// The server's certificate (PEM).
    pub cert_pem: String,
    /// The CA's key, to issue client certificates.
    ca: CaKey,
}

impl TlsMaterial {
    /// Issues a client certificate for `name` signed by the server's CA:
    /// what a server started with
    /// [`tls_client_auth`](crate::ServerConfig::tls_client_auth) accepts.
    ///
    /// # Errors
    /// rcgen failed to make the key or the certificate.
    pub fn issue_client_certificate(&self, name: &str) -> io::Result<ClientCertificate> {
        ClientCertificate::signed_by(name, &self.ca.0)
    }
}

/// The CA's issuer (its parameters and key), shared by the clones of a
/// [`TlsMaterial`]; its `Debug` shows no key.
#[derive(Clone)]
struct CaKey(Arc<Issuer<'static, KeyPair>>);

impl PartialEq for CaKey {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for CaKey {}

impl fmt::Debug for CaKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CaKey(***)")
    }
}

/// A client certificate and its private key, for mutual TLS. `Debug` shows
/// no key.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientCertificate {
    /// The certificate chain (DER), the client's certificate first: what a
    /// client's `client_certificate(chain_der, key_der)` takes.
    pub chain_der: Vec<Vec<u8>>,
    /// The private key, PKCS#8 DER.
    pub key_der: Vec<u8>,
    /// The client's certificate (PEM).
    pub cert_pem: String,
    /// The private key (PEM, PKCS#8).
    pub key_pem: String,
}

impl fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("chain_der", &self.chain_der.len())
            .field("key", &"***")
            .finish_non_exhaustive()
    }
}

impl ClientCertificate {
    /// A client certificate for `name` from a throw-away CA of its own,
    /// which no test server trusts: what a server started with
    /// [`tls_client_auth`](crate::ServerConfig::tls_client_auth) refuses.
    ///
    /// # Errors
    /// rcgen failed to make a key or a certificate.
    pub fn from_an_unknown_ca(name: &str) -> io::Result<ClientCertificate> {
        ClientCertificate::signed_by(name, &new_ca("an unknown CA")?.issuer)
    }

    fn signed_by(name: &str, issuer: &Issuer<'_, KeyPair>) -> io::Result<ClientCertificate> {
        let key = KeyPair::generate().map_err(other)?;
        let mut params = CertificateParams::new(vec![name.to_owned()]).map_err(other)?;
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let cert = params.signed_by(&key, issuer).map_err(other)?;
        Ok(ClientCertificate {
            chain_der: vec![cert.der().to_vec()],
            key_der: key.serialize_der(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

fn other(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

/// A self-signed CA: its certificate and the issuer that signs with its key.
struct Ca {
    der: Vec<u8>,
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

/// A new self-signed CA named `name`.
fn new_ca(name: &str) -> io::Result<Ca> {
    let ca_key = KeyPair::generate().map_err(other)?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(other)?;
    ca_params.distinguished_name.push(DnType::CommonName, name);
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params.self_signed(&ca_key).map_err(other)?;
    Ok(Ca {
        der: ca_cert.der().to_vec(),
        pem: ca_cert.pem(),
        issuer: Issuer::new(ca_params, ca_key),
    })
}

/// Generates a CA and a server certificate, and the rustls server config
/// (requiring client certificates signed by the CA with
/// [`ServerConfig::tls_client_auth`]).
pub(crate) fn generate(
    config: &ServerConfig,
) -> io::Result<(TlsMaterial, Arc<rustls::ServerConfig>)> {
    let Ca {
        der: ca_der,
        pem: ca_pem,
        issuer,
    } = new_ca("phoenix-test-server CA")?;

    let key = KeyPair::generate().map_err(other)?;
    let mut params = CertificateParams::new(config.tls_cert_names.clone()).map_err(other)?;
    params
        .distinguished_name
        .push(DnType::CommonName, "phoenix-test-server");
    let cert = params.signed_by(&key, &issuer).map_err(other)?;

    let material = TlsMaterial {
        ca_der,
        ca_pem,
        cert_der: cert.der().to_vec(),
        cert_pem: cert.pem(),
        ca: CaKey(Arc::new(issuer)),
    };
    let chain = vec![
        CertificateDer::from(material.cert_der.clone()),
        CertificateDer::from(material.ca_der.clone()),
    ];
    let private = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(other)?;
    let builder = if config.tls_client_auth {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from(material.ca_der.clone()))
            .map_err(other)?;
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(other)?;
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let mut server_config = builder.with_single_cert(chain, private).map_err(other)?;
    server_config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((material, Arc::new(server_config)))
}
