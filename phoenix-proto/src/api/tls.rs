//! TLS for `wss:` URLs: rustls with the webpki (and optionally native)
//! roots and any extra CA you add, or native-tls behind a feature.

use std::fmt;
use std::sync::Arc;

use crate::client::ConnectFailure;
use rustls::pki_types::{CertificateDer, ServerName};

/// Which roots and which TLS library to use.
#[derive(Clone, Default)]
pub struct TlsSettings {
    extra_roots: Vec<CertificateDer<'static>>,
    native_roots: bool,
    no_builtin_roots: bool,
    use_native_tls: bool,
    custom: Option<Arc<rustls::ClientConfig>>,
}

impl fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSettings")
            .field("extra_roots", &self.extra_roots.len())
            .field("native_roots", &self.native_roots)
            .field("no_builtin_roots", &self.no_builtin_roots)
            .field("use_native_tls", &self.use_native_tls)
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

    /// Uses a rustls configuration you built yourself.
    pub fn rustls_config(&mut self, config: Arc<rustls::ClientConfig>) {
        self.custom = Some(config);
    }

    /// Whether the platform TLS library was asked for instead of rustls.
    pub fn wants_native_tls(&self) -> bool {
        self.use_native_tls
    }

    /// The extra roots added with [`add_root_certificate`](Self::add_root_certificate), in DER.
    pub fn added_roots(&self) -> impl Iterator<Item = &[u8]> {
        self.extra_roots.iter().map(|c| c.as_ref())
    }

    /// The rustls configuration for `wss:` connections: yours, or one built
    /// from the roots asked for.
    ///
    /// # Errors
    /// An added root certificate is invalid, or rustls refuses the setup.
    pub fn rustls_client_config(&self) -> Result<Arc<rustls::ClientConfig>, ConnectFailure> {
        if let Some(config) = &self.custom {
            return Ok(config.clone());
        }
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
                .map_err(|e| tls_failure(format!("invalid root certificate: {e}")))?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_failure(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Arc::new(config))
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

fn tls_failure(message: String) -> ConnectFailure {
    ConnectFailure::new(message)
}
