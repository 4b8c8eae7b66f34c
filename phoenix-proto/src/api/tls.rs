//! TLS for `wss:` URLs: rustls with the webpki (and optionally native)
//! roots and any extra CA you add, or native-tls behind a feature.
//!
//! Server certificates are verified by default: the chain must lead to a
//! trusted root and name the host of the URL. The one way to turn that off
//! is the explicitly named
//! [`danger_accept_invalid_certs`](TlsSettings::danger_accept_invalid_certs),
//! which logs a warning on every connection attempt.

use std::fmt;
use std::sync::Arc;

use crate::client::ConnectFailure;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

/// Which roots and which TLS library to use, and the client's own
/// certificate for mutual TLS.
#[derive(Clone, Default)]
pub struct TlsSettings {
    extra_roots: Vec<CertificateDer<'static>>,
    native_roots: bool,
    no_builtin_roots: bool,
    use_native_tls: bool,
    accept_invalid_certs: bool,
    client_cert: Option<ClientCert>,
    custom: Option<Arc<rustls::ClientConfig>>,
}

/// A client certificate chain and its private key (PKCS#8). The key's
/// bytes never reach `Debug`.
struct ClientCert {
    chain: Vec<CertificateDer<'static>>,
    key: PrivatePkcs8KeyDer<'static>,
}

impl Clone for ClientCert {
    fn clone(&self) -> Self {
        ClientCert {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

impl fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSettings")
            .field("extra_roots", &self.extra_roots.len())
            .field("native_roots", &self.native_roots)
            .field("no_builtin_roots", &self.no_builtin_roots)
            .field("use_native_tls", &self.use_native_tls)
            .field("accept_invalid_certs", &self.accept_invalid_certs)
            .field(
                "client_certificate",
                &self
                    .client_cert
                    .as_ref()
                    .map(|c| format!("{} certificate(s), key ***", c.chain.len())),
            )
            .field("custom_config", &self.custom.is_some())
            .finish()
    }
}

impl TlsSettings {
    /// Trusts an extra CA certificate (DER), e.g. a test server's.
    pub fn add_root_certificate(&mut self, der: Vec<u8>) {
        self.extra_roots.push(CertificateDer::from(der));
    }

    /// Also trusts the operating system's roots (feature `native-roots`).
    pub fn use_native_roots(&mut self, yes: bool) {
        self.native_roots = yes;
    }

    /// Trusts only the certificates added with [`add_root_certificate`](Self::add_root_certificate).
    pub fn only_added_roots(&mut self, yes: bool) {
        self.no_builtin_roots = yes;
    }

    /// Uses the platform TLS library (feature `native-tls`).
    pub fn use_native_tls(&mut self, yes: bool) {
        self.use_native_tls = yes;
    }

    /// Uses a rustls configuration you built yourself. It replaces every
    /// other rustls setting here (roots, client certificate,
    /// [`danger_accept_invalid_certs`](Self::danger_accept_invalid_certs)).
    pub fn rustls_config(&mut self, config: Arc<rustls::ClientConfig>) {
        self.custom = Some(config);
    }

    /// **Dangerous**: accepts any server certificate, whoever signed it and
    /// whatever host it names. The connection is still encrypted, but to
    /// whoever answers: anyone on the network path can pose as the server
    /// and read or change everything, tokens included. For tests and
    /// development against self-signed servers only; trusting the server's
    /// CA with [`add_root_certificate`](Self::add_root_certificate) is
    /// almost always the better fix. Every connection attempt with it logs
    /// a warning. With rustls the handshake signature is still checked
    /// against the certificate the server sent (so the server must hold its
    /// key), with native-tls the platform library's own switch is used.
    pub fn danger_accept_invalid_certs(&mut self, yes: bool) {
        self.accept_invalid_certs = yes;
    }

    /// Presents this certificate chain (DER, the client's own certificate
    /// first) and its private key (PKCS#8 DER) to servers that ask for one
    /// (mutual TLS). The key never shows in `Debug` output or logs.
    pub fn client_certificate(&mut self, chain_der: Vec<Vec<u8>>, key_der: Vec<u8>) {
        self.client_cert = Some(ClientCert {
            chain: chain_der.into_iter().map(CertificateDer::from).collect(),
            key: PrivatePkcs8KeyDer::from(key_der),
        });
    }

    /// Whether the platform TLS library was asked for instead of rustls.
    pub fn wants_native_tls(&self) -> bool {
        self.use_native_tls
    }

    /// The extra roots added with [`add_root_certificate`](Self::add_root_certificate), in DER.
    pub fn added_roots(&self) -> impl Iterator<Item = &[u8]> {
        self.extra_roots.iter().map(|c| c.as_ref())
    }

    /// Whether only the added roots are trusted (see
    /// [`only_added_roots`](Self::only_added_roots)).
    pub fn trusts_only_added_roots(&self) -> bool {
        self.no_builtin_roots
    }

    /// Whether [`danger_accept_invalid_certs`](Self::danger_accept_invalid_certs)
    /// was asked for.
    pub fn accepts_invalid_certs(&self) -> bool {
        self.accept_invalid_certs
    }

    /// Whether connections made with these settings skip verifying the
    /// server's certificate: [`danger_accept_invalid_certs`](Self::danger_accept_invalid_certs)
    /// was asked for, and no custom rustls configuration overrides it.
    pub fn skips_verification(&self) -> bool {
        self.accept_invalid_certs && (self.use_native_tls || self.custom.is_none())
    }

    /// Logs the warning every connection attempt makes when
    /// [`skips_verification`](Self::skips_verification): drivers call it
    /// once per attempt, before the TLS handshake with `host`.
    pub fn warn_if_unverified(&self, host: &str) {
        if self.skips_verification() {
            tracing::warn!(
                host,
                "TLS certificate verification is OFF (danger_accept_invalid_certs): \
                 any server can pose as this one and read the session"
            );
        }
    }

    /// The client certificate for the platform TLS library: the chain and
    /// the PKCS#8 key, both PEM (what `native_tls::Identity::from_pkcs8`
    /// takes). Do not log the key.
    pub fn client_identity_pem(&self) -> Option<(String, String)> {
        let cert = self.client_cert.as_ref()?;
        let chain = cert
            .chain
            .iter()
            .map(|c| pem("CERTIFICATE", c.as_ref()))
            .collect();
        Some((chain, pem("PRIVATE KEY", cert.key.secret_pkcs8_der())))
    }

    /// The rustls configuration for `wss:` connections: yours, or one built
    /// from the roots, client certificate and verification asked for.
    ///
    /// # Errors
    /// An added root certificate or the client certificate or key is
    /// invalid, or rustls refuses the setup.
    pub fn rustls_client_config(&self) -> Result<Arc<rustls::ClientConfig>, ConnectFailure> {
        if let Some(config) = &self.custom {
            return Ok(config.clone());
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_failure(format!("TLS setup failed: {e}")))?;
        let builder = if self.accept_invalid_certs {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyServerCert(provider)))
        } else {
            builder.with_root_certificates(self.root_store()?)
        };
        let config = match &self.client_cert {
            None => builder.with_no_client_auth(),
            Some(cert) => builder
                .with_client_auth_cert(
                    cert.chain.clone(),
                    PrivateKeyDer::Pkcs8(cert.key.clone_key()),
                )
                .map_err(|e| tls_failure(format!("invalid TLS client certificate or key: {e}")))?,
        };
        Ok(Arc::new(config))
    }

    /// The roots asked for.
    fn root_store(&self) -> Result<rustls::RootCertStore, ConnectFailure> {
        let mut roots = rustls::RootCertStore::empty();
        if !self.no_builtin_roots {
            #[cfg(feature = "webpki-roots")]
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        #[cfg(feature = "native-roots")]
        if self.native_roots {
            for cert in rustls_native_certs::load_native_certs().certs {
                // A broken system certificate is skipped, not fatal.
                let _ = roots.add(cert);
            }
        }
        for cert in &self.extra_roots {
            roots
                .add(cert.clone())
                .map_err(|e| tls_failure(format!("invalid TLS root certificate: {e}")))?;
        }
        Ok(roots)
    }
}

/// The verifier behind [`TlsSettings::danger_accept_invalid_certs`]: any
/// certificate chain and any name pass, but the handshake signatures are
/// still verified with the provider's algorithms, so the peer must hold
/// the key of the certificate it sent.
#[derive(Debug)]
struct AcceptAnyServerCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The TLS server name for `host` (a DNS name or an IP address).
///
/// # Errors
/// `host` is neither.
pub fn server_name(host: &str) -> Result<ServerName<'static>, ConnectFailure> {
    ServerName::try_from(host.to_owned())
        .map_err(|_| tls_failure(format!("invalid TLS server name {host:?}")))
}

/// A failure of the TLS session hidden in a WebSocket error: after a TLS
/// 1.3 handshake the server may still refuse the session (a missing or
/// rejected client certificate), and the client only learns it from the
/// alert it reads during the upgrade. Says so, instead of a bare I/O error.
pub fn tls_failure_in(error: &tungstenite::Error) -> Option<ConnectFailure> {
    let tungstenite::Error::Io(io) = error else {
        return None;
    };
    let tls = io.get_ref()?.downcast_ref::<rustls::Error>()?;
    let hint = match tls {
        rustls::Error::AlertReceived(rustls::AlertDescription::CertificateRequired) => {
            " (the server requires a client certificate)"
        }
        rustls::Error::AlertReceived(
            rustls::AlertDescription::BadCertificate
            | rustls::AlertDescription::UnknownCA
            | rustls::AlertDescription::CertificateUnknown
            | rustls::AlertDescription::CertificateExpired
            | rustls::AlertDescription::CertificateRevoked
            | rustls::AlertDescription::UnsupportedCertificate
            | rustls::AlertDescription::AccessDenied,
        ) => " (the server refused the client certificate)",
        _ => "",
    };
    Some(tls_failure(format!("TLS session failed: {tls}{hint}")))
}

/// `der` as a PEM block with `label`.
fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn tls_failure(message: String) -> ConnectFailure {
    ConnectFailure::new(message)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn the_client_key_never_shows_in_debug() {
        let mut settings = TlsSettings::default();
        settings.client_certificate(vec![b"CERTBYTES".to_vec()], b"KEY-SECRET-BYTES".to_vec());
        let shown = format!("{settings:?}");
        assert!(shown.contains("key ***"), "{shown}");
        assert!(!shown.contains("KEY-SECRET"), "{shown}");
        assert!(!shown.contains("75, 69, 89"), "{shown}");
    }

    #[test]
    fn verification_is_on_unless_asked_off_by_name() {
        let mut settings = TlsSettings::default();
        assert!(!settings.skips_verification());
        settings.danger_accept_invalid_certs(true);
        assert!(settings.skips_verification());
        let custom = settings.rustls_client_config().unwrap();
        // A configuration of your own wins, and then nothing is skipped.
        settings.rustls_config(custom);
        assert!(!settings.skips_verification());
        settings.use_native_tls(true);
        assert!(settings.skips_verification());
    }

    #[test]
    fn a_bad_client_key_fails_the_setup_saying_tls() {
        let mut settings = TlsSettings::default();
        settings.client_certificate(vec![b"not a cert".to_vec()], b"not a key".to_vec());
        let failure = settings.rustls_client_config().unwrap_err();
        assert!(
            failure.message.contains("TLS client certificate"),
            "{}",
            failure.message
        );
    }

    #[test]
    fn an_alert_during_the_upgrade_is_told_as_tls() {
        let alert = |what| {
            let error = rustls::Error::AlertReceived(what);
            tungstenite::Error::Io(std::io::Error::new(std::io::ErrorKind::InvalidData, error))
        };
        let required = tls_failure_in(&alert(rustls::AlertDescription::CertificateRequired));
        assert_eq!(
            required.unwrap().message,
            "TLS session failed: received fatal alert: CertificateRequired \
             (the server requires a client certificate)"
        );
        let refused = tls_failure_in(&alert(rustls::AlertDescription::UnknownCA)).unwrap();
        assert!(
            refused
                .message
                .ends_with("(the server refused the client certificate)"),
            "{}",
            refused.message
        );
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert!(tls_failure_in(&tungstenite::Error::Io(reset)).is_none());
        assert!(tls_failure_in(&tungstenite::Error::ConnectionClosed).is_none());
    }

    #[test]
    fn pem_wraps_at_64_columns() {
        let text = pem("CERTIFICATE", &[7u8; 100]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.first(), Some(&"-----BEGIN CERTIFICATE-----"));
        assert_eq!(lines.last(), Some(&"-----END CERTIFICATE-----"));
        assert!(lines.iter().all(|l| l.len() <= 64));
        assert_eq!(lines.len(), 5);
    }
}
