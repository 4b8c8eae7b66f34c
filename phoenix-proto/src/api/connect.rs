//! Opening WebSocket connections on any async runtime: the byte stream
//! (TCP from the runtime, or a stream you provide), TLS (rustls), and the
//! upgrade the core described.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;

use async_tungstenite::WebSocketStream;
use futures_io::{AsyncRead, AsyncWrite};

use super::handshake::{ConnectTarget, upgrade_failure, upgrade_request, websocket_config};
use super::options::TransportOptions;
use super::runtime::{Runtime, timeout};
use super::tls::{server_name, tls_failure_in};
use crate::client::{ConnectFailure, ConnectRequest};

/// A byte stream a WebSocket can run over (the `futures-io` traits).
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for T {}

/// A boxed [`Io`].
pub type BoxIo = Box<dyn Io>;

/// The future a [`Connector`] (or [`Runtime::connect_tcp`]) returns.
pub type ConnectFuture = Pin<Box<dyn Future<Output = io::Result<BoxIo>> + Send>>;

/// The WebSocket type the shared driver runs.
pub type WsStream = WebSocketStream<BoxIo>;

/// Opens the byte stream for a connection instead of a plain TCP connect:
/// a proxy tunnel, a Unix socket, an in-memory pipe in tests. TLS (for
/// `wss:`) and the WebSocket upgrade still run on top of what it returns.
#[derive(Clone)]
pub struct Connector(Arc<dyn Fn(ConnectTarget) -> ConnectFuture + Send + Sync>);

impl Connector {
    /// Wraps a function that opens a stream for a target.
    pub fn new<F, Fut, S>(open: F) -> Self
    where
        F: Fn(ConnectTarget) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = io::Result<S>> + Send + 'static,
        S: Io,
    {
        Connector(Arc::new(move |target| {
            let fut = open(target);
            Box::pin(async move { fut.await.map(|s| Box::new(s) as BoxIo) })
        }))
    }
}

impl fmt::Debug for Connector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Connector(..)")
    }
}

/// Opens the connection `request` describes.
pub(crate) async fn open<R: Runtime>(
    runtime: R,
    request: ConnectRequest,
    options: TransportOptions,
) -> Result<WsStream, ConnectFailure> {
    let target = ConnectTarget::for_url(&request.url)?;
    let upgrade = upgrade_request(&request)?;
    let (host, tls) = (target.host.clone(), target.tls);
    let stream = match &options.connector {
        Some(connector) => (connector.0)(target),
        None => runtime.connect_tcp(target.host, target.port),
    };
    let io = timeout(&runtime, options.connect_timeout, stream)
        .await
        .ok_or_else(|| ConnectFailure::new("timed out opening the connection"))?
        .map_err(|e| ConnectFailure::new(format!("could not open the connection: {e}")))?;
    let io = if tls {
        let handshake = wrap_tls(&runtime, &options, &host, io);
        timeout(&runtime, options.connect_timeout, handshake)
            .await
            .ok_or_else(|| ConnectFailure::new("timed out during the TLS handshake"))??
    } else {
        io
    };
    let handshake =
        async_tungstenite::client_async_with_config(upgrade, io, Some(websocket_config(&options)));
    match timeout(&runtime, options.connect_timeout, handshake).await {
        None => Err(ConnectFailure::new(
            "timed out during the WebSocket upgrade",
        )),
        Some(Ok((ws, _response))) => Ok(ws),
        Some(Err(e)) => {
            Err(tls_failure_in(&e).unwrap_or_else(|| upgrade_failure(e, runtime.wall_clock())))
        }
    }
}

/// Runs the TLS handshake for `host` over `io` (warning first when
/// certificate verification is off).
async fn wrap_tls<R: Runtime>(
    runtime: &R,
    options: &TransportOptions,
    host: &str,
    io: BoxIo,
) -> Result<BoxIo, ConnectFailure> {
    options.tls.warn_if_unverified(host);
    if options.tls.wants_native_tls() {
        return runtime.native_tls(host.to_owned(), &options.tls, io).await;
    }
    let config = options.tls.rustls_client_config()?;
    let stream = futures_rustls::TlsConnector::from(config)
        .connect(server_name(host)?, io)
        .await
        .map_err(|e| ConnectFailure::new(format!("TLS handshake failed: {e}")))?;
    Ok(Box::new(stream))
}
