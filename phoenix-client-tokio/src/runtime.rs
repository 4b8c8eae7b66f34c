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
        roots: Vec<Vec<u8>>,
        io: BoxIo,
    ) -> phoenix_proto::api::TlsFuture {
        native::handshake(host, roots, io)
    }

    /// tokio's clock, so that tests with paused time drive the core too.
    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }
}

#[cfg(feature = "native-tls")]
mod native {
    use phoenix_proto::api::{BoxIo, TlsFuture};
    use phoenix_proto::client::ConnectFailure;
    use tokio_native_tls::native_tls;
    use tokio_util::compat::{FuturesAsyncReadCompatExt, TokioAsyncReadCompatExt};

    /// The platform TLS library over the shared driver's stream (adapted to
    /// tokio's I/O traits for tokio-native-tls, and back).
    pub(super) fn handshake(host: String, roots: Vec<Vec<u8>>, io: BoxIo) -> TlsFuture {
        Box::pin(async move {
            let failure =
                |what: &str, e: native_tls::Error| ConnectFailure::new(format!("{what}: {e}"));
            let mut builder = native_tls::TlsConnector::builder();
            for der in &roots {
                let cert = native_tls::Certificate::from_der(der)
                    .map_err(|e| failure("invalid root certificate", e))?;
                builder.add_root_certificate(cert);
            }
            let connector = builder
                .build()
                .map_err(|e| failure("native TLS setup failed", e))?;
            let stream = tokio_native_tls::TlsConnector::from(connector)
                .connect(&host, io.compat())
                .await
                .map_err(|e| failure("TLS handshake failed", e))?;
            Ok(Box::new(stream.compat()) as BoxIo)
        })
    }
}
