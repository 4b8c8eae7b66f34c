//! The tokio backend of the shared driver: timers, spawn and TCP.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use phoenix_proto::api::{BoxIo, ConnectFuture, Runtime, Task, Timer};
use tokio::net::TcpStream;
use tokio_util::compat::TokioAsyncReadCompatExt;

/// The tokio runtime, as the shared driver sees it. Sockets are spawned on
/// the runtime the [`Builder`](crate::Builder) is used in.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tokio;

#[derive(Debug)]
struct Sleep(Pin<Box<tokio::time::Sleep>>);

impl Timer for Sleep {
    fn reset(mut self: Pin<&mut Self>, at: Instant) {
        self.0.as_mut().reset(tokio::time::Instant::from_std(at));
    }

    fn poll_fire(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.0.as_mut().poll(cx)
    }
}

impl Runtime for Tokio {
    fn timer(&self, at: Instant) -> Pin<Box<dyn Timer>> {
        let sleep = tokio::time::sleep_until(tokio::time::Instant::from_std(at));
        Box::pin(Sleep(Box::pin(sleep)))
    }

    fn spawn(&self, task: Task) {
        tokio::spawn(task);
    }

    fn connect_tcp(&self, host: String, port: u16) -> ConnectFuture {
        Box::pin(async move {
            let tcp = TcpStream::connect((host.as_str(), port)).await?;
            tcp.set_nodelay(true)?;
            Ok(Box::new(tcp.compat()) as BoxIo)
        })
    }

    #[cfg(feature = "native-tls")]
    fn native_tls(
        &self,
        host: String,
        tls: &phoenix_proto::api::TlsSettings,
        io: BoxIo,
    ) -> phoenix_proto::api::TlsFuture {
        native::handshake(host, tls, io)
    }

    /// tokio's clock, so that tests with paused time drive the core too.
    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }
}

#[cfg(feature = "native-tls")]
mod native {
    use phoenix_proto::api::{BoxIo, TlsFuture, TlsSettings};
    use phoenix_proto::client::ConnectFailure;
    use tokio_native_tls::native_tls;
    use tokio_util::compat::{FuturesAsyncReadCompatExt, TokioAsyncReadCompatExt};

    fn failure(what: &str, e: native_tls::Error) -> ConnectFailure {
        ConnectFailure::new(format!("{what}: {e}"))
    }

    /// The platform TLS library's connector for `tls`: its added roots,
    /// its client certificate, and no verification only when asked by name.
    fn connector(tls: &TlsSettings) -> Result<native_tls::TlsConnector, ConnectFailure> {
        let mut builder = native_tls::TlsConnector::builder();
        for der in tls.added_roots() {
            let cert = native_tls::Certificate::from_der(der)
                .map_err(|e| failure("invalid TLS root certificate", e))?;
            builder.add_root_certificate(cert);
        }
        builder.disable_built_in_roots(tls.trusts_only_added_roots());
        if let Some((chain, key)) = tls.client_identity_pem() {
            let identity = native_tls::Identity::from_pkcs8(chain.as_bytes(), key.as_bytes())
                .map_err(|e| failure("invalid TLS client certificate or key", e))?;
            builder.identity(identity);
        }
        if tls.accepts_invalid_certs() {
            builder
                .danger_accept_invalid_certs(true)
                .danger_accept_invalid_hostnames(true);
        }
        builder
            .build()
            .map_err(|e| failure("native TLS setup failed", e))
    }

    /// The platform TLS library over the shared driver's stream (adapted to
    /// tokio's I/O traits for tokio-native-tls, and back).
    pub(super) fn handshake(host: String, tls: &TlsSettings, io: BoxIo) -> TlsFuture {
        let connector = connector(tls);
        Box::pin(async move {
            let stream = tokio_native_tls::TlsConnector::from(connector?)
                .connect(&host, io.compat())
                .await
                .map_err(|e| failure("TLS handshake failed", e))?;
            Ok(Box::new(stream.compat()) as BoxIo)
        })
    }
}
