//! Opening WebSocket connections: TCP (or a stream you provide), TLS, and
//! the upgrade request the core described.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use phoenix_proto::client::{ConnectFailure, ConnectRequest};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue, Uri};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::tls::TlsSettings;

/// A byte stream a WebSocket can run over.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for T {}

/// A boxed [`Io`].
pub type BoxIo = Box<dyn Io>;

/// The WebSocket type the driver runs.
pub(crate) type WsStream = WebSocketStream<BoxIo>;

/// Where a connection goes, for a custom [`Connector`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectTarget {
    /// Host name or address from the URL.
    pub host: String,
    /// Port from the URL (default 80 or 443).
    pub port: u16,
    /// Whether TLS will run on top of the stream (`wss:`).
    pub tls: bool,
}

/// The future a [`Connector`] returns.
pub type ConnectFuture = Pin<Box<dyn Future<Output = io::Result<BoxIo>> + Send>>;

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

/// Transport settings.
#[derive(Debug, Clone)]
pub(crate) struct TransportOptions {
    pub(crate) tls: TlsSettings,
    pub(crate) connector: Option<Connector>,
    pub(crate) connect_timeout: Duration,
    /// Limit on each write and flush of an open connection.
    pub(crate) write_timeout: Duration,
    pub(crate) read_buffer_size: usize,
    pub(crate) max_message_size: Option<usize>,
}

fn failure(message: impl Into<String>) -> ConnectFailure {
    ConnectFailure {
        status: None,
        retry_after: None,
        message: message.into(),
    }
}

/// Opens the connection `request` describes.
pub(crate) async fn connect(
    request: ConnectRequest,
    options: TransportOptions,
) -> Result<WsStream, ConnectFailure> {
    let uri: Uri = request
        .url
        .parse()
        .map_err(|_| failure("the endpoint is not a valid URL"))?;
    let tls = match uri.scheme_str() {
        Some("wss") => true,
        Some("ws") => false,
        _ => return Err(failure("the URL scheme must be ws or wss")),
    };
    let host = uri
        .host()
        .ok_or_else(|| failure("the URL has no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let target = ConnectTarget {
        host: host.clone(),
        port,
        tls,
    };
    let open = async {
        match &options.connector {
            Some(connector) => (connector.0)(target).await,
            None => {
                let tcp = TcpStream::connect((host.as_str(), port)).await?;
                tcp.set_nodelay(true)?;
                Ok(Box::new(tcp) as BoxIo)
            }
        }
    };
    let io = tokio::time::timeout(options.connect_timeout, open)
        .await
        .map_err(|_| failure("timed out opening the connection"))?
        .map_err(|e| failure(format!("could not open the connection: {e}")))?;
    let io = if tls {
        options.tls.wrap(&host, io).await?
    } else {
        io
    };

    let mut upgrade = request
        .url
        .as_str()
        .into_client_request()
        .map_err(|_| failure("the endpoint is not a valid WebSocket URL"))?;
    let headers = upgrade.headers_mut();
    for (name, value) in &request.headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| failure(format!("invalid header name {name:?}")))?;
        let value = HeaderValue::from_str(value.expose())
            .map_err(|_| failure(format!("invalid value for header {name}")))?;
        headers.append(name, value);
    }
    if !request.subprotocols.is_empty() {
        let joined: Vec<&str> = request.subprotocols.iter().map(|p| p.expose()).collect();
        let value = HeaderValue::from_str(&joined.join(", "))
            .map_err(|_| failure("the auth token cannot go in a header"))?;
        headers.insert("sec-websocket-protocol", value);
    }
    let config = WebSocketConfig::default()
        .read_buffer_size(options.read_buffer_size)
        .max_message_size(options.max_message_size)
        .max_frame_size(options.max_message_size);
    let handshake = tokio_tungstenite::client_async_with_config(upgrade, io, Some(config));
    match tokio::time::timeout(options.connect_timeout, handshake).await {
        Err(_) => Err(failure("timed out during the WebSocket upgrade")),
        Ok(Ok((ws, _response))) => Ok(ws),
        Ok(Err(tokio_tungstenite::tungstenite::Error::Http(response))) => {
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let status = response.status().as_u16();
            Err(ConnectFailure {
                status: Some(status),
                retry_after,
                message: format!("the server answered the upgrade with HTTP {status}"),
            })
        }
        Ok(Err(e)) => Err(failure(format!("WebSocket upgrade failed: {e}"))),
    }
}
