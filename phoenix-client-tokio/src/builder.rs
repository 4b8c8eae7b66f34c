//! Building a socket: where to connect, credentials, TLS, timers, buffers.

use std::sync::Arc;
use std::time::Duration;

use phoenix_proto::client::handler::Handler;
use phoenix_proto::client::{Backoff, Config, Secret, Socket};
use phoenix_proto::codec::Serializer;
use tokio::sync::mpsc;
use tracing::Instrument;

use crate::client::Client;
use crate::credentials::Credentials;
use crate::driver::{self, DriverParts, Flow};
use crate::handler_socket::HandlerSocket;
use crate::router::Router;
use crate::tls::TlsSettings;
use crate::transport::{Connector, TransportOptions};

/// Default size of the WebSocket read buffer: small, since Phoenix frames
/// are usually small (tungstenite's own default is 128 KiB per socket).
pub const DEFAULT_READ_BUFFER: usize = 8 * 1024;
/// Default capacity of each channel's event queue.
pub const DEFAULT_CHANNEL_CAPACITY: usize = 256;
/// Default capacity of the queue of commands from handles to the driver.
pub const DEFAULT_COMMAND_CAPACITY: usize = 256;

/// Configures and starts a socket.
///
/// ```no_run
/// # async fn demo() {
/// use std::time::Duration;
/// let client = phoenix_client_tokio::Builder::new("wss://example.com/socket")
///     .param("token", "abc")
///     .heartbeat_interval(Some(Duration::from_secs(15)))
///     .connect();
/// # }
/// ```
#[derive(Debug)]
pub struct Builder {
    config: Config,
    transport: TransportOptions,
    credentials: Credentials,
    channel_capacity: usize,
    command_capacity: usize,
}

impl Builder {
    /// A builder for the socket mounted at `endpoint`, e.g.
    /// `ws://localhost:4000/socket` (`/websocket` and `vsn=2.0.0` are added).
    pub fn new(endpoint: impl Into<String>) -> Self {
        Builder {
            config: Config::new(endpoint),
            transport: TransportOptions {
                tls: TlsSettings::default(),
                connector: None,
                connect_timeout: Duration::from_secs(10),
                write_timeout: Duration::from_secs(10),
                read_buffer_size: DEFAULT_READ_BUFFER,
                max_message_size: Some(64 << 20),
            },
            credentials: Credentials::default(),
            channel_capacity: DEFAULT_CHANNEL_CAPACITY,
            command_capacity: DEFAULT_COMMAND_CAPACITY,
        }
    }

    /// Adds a query parameter for the app's `connect/3`.
    pub fn param(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.config
            .params
            .push((key.into(), Secret::new(value.into())));
        self
    }

    /// Computes the query parameters again before every connection attempt
    /// (token refresh); replaces [`param`](Self::param)s.
    pub fn params_fn(
        mut self,
        params: impl Fn() -> Vec<(String, String)> + Send + Sync + 'static,
    ) -> Self {
        self.credentials.params = Some(Arc::new(params));
        self
    }

    /// Sends a Phoenix 1.8 auth token in `Sec-WebSocket-Protocol`.
    pub fn auth_token(mut self, token: impl Into<String>) -> Self {
        self.config.auth_token = Some(Secret::new(token.into()));
        self
    }

    /// Computes the auth token again before every connection attempt.
    pub fn auth_token_fn(
        mut self,
        token: impl Fn() -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.credentials.token = Some(Arc::new(token));
        self
    }

    /// Adds a header to the upgrade request.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.config
            .headers
            .push((name.into(), Secret::new(value.into())));
        self
    }

    /// Heartbeat interval; `None` turns heartbeats off. Default 30 s.
    pub fn heartbeat_interval(mut self, interval: Option<Duration>) -> Self {
        self.config.heartbeat_interval = interval;
        self
    }

    /// Default timeout of joins, pushes and leaves. Default 10 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.config.default_timeout = timeout;
        self
    }

    /// Reconnect schedule; [`Backoff::never`] turns reconnecting off.
    pub fn reconnect(mut self, backoff: Backoff) -> Self {
        self.config.reconnect = backoff;
        self
    }

    /// Rejoin schedule of errored channels.
    pub fn rejoin(mut self, backoff: Backoff) -> Self {
        self.config.rejoin = backoff;
        self
    }

    /// Whether refused joins are retried on the rejoin schedule. Default off.
    pub fn rejoin_after_refusal(mut self, yes: bool) -> Self {
        self.config.rejoin_after_refusal = yes;
        self
    }

    /// The wire format (default v2).
    pub fn serializer(mut self, serializer: Arc<dyn Serializer>) -> Self {
        self.config.serializer = serializer;
        self
    }

    /// Seed of the backoff jitter generator.
    pub fn rng_seed(mut self, seed: u64) -> Self {
        self.config.rng_seed = seed;
        self
    }

    /// Trusts an extra CA certificate (DER) for `wss:`.
    pub fn add_root_certificate(mut self, der: impl Into<Vec<u8>>) -> Self {
        self.transport.tls.add_root_certificate(der.into());
        self
    }

    /// Trusts only the certificates given to [`add_root_certificate`](Self::add_root_certificate).
    pub fn only_added_roots(mut self) -> Self {
        self.transport.tls.only_added_roots(true);
        self
    }

    /// Also trusts the operating system's roots (feature `rustls-native-roots`).
    pub fn native_roots(mut self) -> Self {
        self.transport.tls.use_native_roots(true);
        self
    }

    /// Uses the platform TLS library (feature `native-tls`).
    pub fn native_tls(mut self) -> Self {
        self.transport.tls.use_native_tls(true);
        self
    }

    /// Uses your own rustls configuration for `wss:`.
    pub fn rustls_config(mut self, config: Arc<rustls::ClientConfig>) -> Self {
        self.transport.tls.rustls_config(config);
        self
    }

    /// Opens connections through `connector` instead of plain TCP.
    pub fn connector(mut self, connector: Connector) -> Self {
        self.transport.connector = Some(connector);
        self
    }

    /// Time allowed for TCP, TLS and the upgrade, each. Default 10 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.transport.connect_timeout = timeout;
        self
    }

    /// Time allowed for each write to an open connection. A write that
    /// cannot finish in time (the peer stopped reading) counts as a failed
    /// connection: the socket reconnects. Default 10 s; raise it for very
    /// large messages on slow links.
    pub fn write_timeout(mut self, timeout: Duration) -> Self {
        self.transport.write_timeout = timeout;
        self
    }

    /// Size of the WebSocket read buffer. Default [`DEFAULT_READ_BUFFER`].
    pub fn read_buffer_size(mut self, bytes: usize) -> Self {
        self.transport.read_buffer_size = bytes.max(1024);
        self
    }

    /// Largest message accepted from the server. Default 64 MiB.
    pub fn max_message_size(mut self, bytes: Option<usize>) -> Self {
        self.transport.max_message_size = bytes;
        self
    }

    /// Capacity of each channel's event queue. Default [`DEFAULT_CHANNEL_CAPACITY`].
    pub fn channel_capacity(mut self, capacity: usize) -> Self {
        self.channel_capacity = capacity.max(1);
        self
    }

    /// The core configuration, for anything not covered above.
    pub fn config_mut(&mut self) -> &mut Config {
        &mut self.config
    }

    /// The span every log line of this socket's task is in (no secrets:
    /// query values are redacted).
    fn span(&self) -> tracing::Span {
        let endpoint = phoenix_proto::client::redact_query(&self.config.endpoint);
        tracing::info_span!("phoenix_socket", endpoint = %endpoint)
    }

    /// Starts the socket with the async API and begins connecting. Must be
    /// called inside a tokio runtime.
    pub fn connect(self) -> Client {
        let (tx, rx) = mpsc::channel(self.command_capacity);
        let (router, status) = Router::new();
        let span = self.span();
        let core = Socket::new(self.config);
        let parts = DriverParts {
            transport: self.transport,
            credentials: self.credentials,
        };
        let flow = Flow {
            budget: Router::budget,
            wait_for_room: Router::wait_for_room,
        };
        let task = tokio::spawn(driver::run(core, router, flow, rx, parts).instrument(span));
        Client::new(tx, status, task, self.channel_capacity)
    }

    /// Starts the socket with a [`Handler`] (the callback model). Must be
    /// called inside a tokio runtime.
    pub fn spawn_handler<H>(self, handler: H) -> HandlerSocket<H>
    where
        H: Handler + Send + 'static,
        H::Info: Send,
        H::Call: Send,
        H::Reply: Send,
    {
        let (tx, rx) = mpsc::channel(self.command_capacity);
        let span = self.span();
        let core = Socket::new(self.config);
        let parts = DriverParts {
            transport: self.transport,
            credentials: self.credentials,
        };
        let task =
            tokio::spawn(driver::run(core, handler, Flow::unbounded(), rx, parts).instrument(span));
        HandlerSocket::new(tx, task)
    }
}
