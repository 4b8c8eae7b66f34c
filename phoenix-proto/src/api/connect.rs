//! Opening WebSocket connections on any async runtime: the byte stream
//! (TCP from the runtime, or a stream you provide), TLS (rustls), and the
//! upgrade the core described (written and read by [`super::upgrade`]).

use std::fmt;
use std::future::{Future, poll_fn};
use std::io;
use std::pin::Pin;
use std::sync::Arc;

use async_tungstenite::WebSocketStream;
use futures_io::{AsyncRead, AsyncWrite};
use tungstenite::protocol::Role;

use super::elastic::ElasticIo;
use super::handshake::{ConnectTarget, websocket_config};
use super::options::TransportOptions;
use super::runtime::{Runtime, timeout};
use super::tls::server_name;
use super::upgrade::{Progress, Upgrade, io_failure};
use crate::client::{ConnectFailure, ConnectRequest};

/// A byte stream a WebSocket can run over (the `futures-io` traits).
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for T {}

/// A boxed [`Io`].
pub type BoxIo = Box<dyn Io>;

/// The future a [`Connector`] (or [`Runtime::connect_tcp`]) returns.
pub type ConnectFuture = Pin<Box<dyn Future<Output = io::Result<BoxIo>> + Send>>;

/// The WebSocket type the shared driver runs.
pub type WsStream = WebSocketStream<ElasticIo<BoxIo>>;

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
///
/// Not an `async fn`, which would keep its arguments twice: the future
/// holds the runtime and the options once, and of the request only the
/// [`Upgrade`] built from it.
pub(crate) fn open<R: Runtime>(
    runtime: R,
    request: ConnectRequest,
    options: TransportOptions,
) -> impl Future<Output = Result<WsStream, ConnectFailure>> {
    let mut prepared = ConnectTarget::for_url(&request.url)
        .and_then(|target| Ok((target, Upgrade::new(&request)?)));
    drop(request);
    async move {
        // Used in place: moving them out would keep them twice.
        let (target, upgrade) = match &mut prepared {
            Ok((target, upgrade)) => (&*target, upgrade),
            Err(failure) => return Err(failure.clone()),
        };
        let stream = match &options.connector {
            Some(connector) => (connector.0)(target.clone()),
            None => runtime.connect_tcp(target.host.clone(), target.port),
        };
        let io = timeout(&runtime, options.connect_timeout, stream)
            .await
            .ok_or_else(|| ConnectFailure::new("timed out opening the connection"))?
            .map_err(|e| ConnectFailure::new(format!("could not open the connection: {e}")))?;
        let mut io = if target.tls {
            // Boxed: a plain `ws:` connection does not carry the TLS
            // handshake's state in this future.
            let handshake = Box::pin(wrap_tls(&runtime, &options, &target.host, io));
            timeout(&runtime, options.connect_timeout, handshake)
                .await
                .ok_or_else(|| ConnectFailure::new("timed out during the TLS handshake"))??
        } else {
            io
        };
        // The upgrade runs on borrows, so that the timeout's future holds no
        // second copy of them.
        let leftover = timeout(
            &runtime,
            options.connect_timeout,
            run_upgrade(&runtime, upgrade, &mut io),
        )
        .await
        .ok_or_else(|| ConnectFailure::new("timed out during the WebSocket upgrade"))??;
        let config = Some(websocket_config(&options));
        let io = ElasticIo::new(io, options.read_buffer_size);
        // With nothing left over this is `from_raw_socket`. Boxed: it
        // finishes in one poll, and inline it made every connecting
        // socket's future 400 bytes larger.
        let ws = Box::pin(WebSocketStream::from_partially_read(
            io,
            leftover,
            Role::Client,
            config,
        ));
        Ok(ws.await)
    }
}

/// Writes the upgrade request over `io` and reads the answer: the bytes
/// read after the response head.
async fn run_upgrade<R: Runtime>(
    runtime: &R,
    upgrade: &mut Upgrade,
    io: &mut BoxIo,
) -> Result<Vec<u8>, ConnectFailure> {
    let mut sent = 0;
    while let Some(rest) = upgrade.request().get(sent..).filter(|r| !r.is_empty()) {
        match poll_fn(|cx| Pin::new(&mut *io).poll_write(cx, rest)).await {
            Ok(0) => return Err(io_failure(io::ErrorKind::WriteZero.into())),
            Ok(n) => sent += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_failure(e)),
        }
    }
    upgrade.request_sent();
    poll_fn(|cx| Pin::new(&mut *io).poll_flush(cx))
        .await
        .map_err(io_failure)?;
    loop {
        match poll_fn(|cx| Pin::new(&mut *io).poll_read(cx, upgrade.read_space())).await {
            Ok(n) => {
                if let Progress::Done(leftover) = upgrade.filled(n, runtime.wall_clock())? {
                    return Ok(leftover);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_failure(e)),
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
