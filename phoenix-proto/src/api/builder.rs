//! Building a socket: where to connect, credentials, TLS, timers, buffers.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures_channel::oneshot;
use futures_util::task::AtomicWaker;

use super::client::{Client, Shared};
use super::handler_socket::HandlerSocket;
use super::launch::{Launch, SocketTask};
use super::message::{Flow, inbox};
use super::options::{DEFAULT_CHANNEL_CAPACITY, DEFAULT_COMMAND_CAPACITY, TransportOptions};
use super::router::Router;
use super::socket_events::SocketNews;
use super::status::status_cell;
use crate::client::handler::Handler;
use crate::client::{Backoff, Config, Secret, Socket};
use crate::codec::Serializer;

/// Configures and starts a socket on the runtime `R`. Each driver crate
/// names it for its runtime (`phoenix_client_tokio::Builder`, ...).
///
/// ```no_run
/// # #[cfg(feature = "async-driver")]
/// # fn demo<R: phoenix_proto::api::Launch + Default>() {
/// use std::time::Duration;
/// let client = phoenix_proto::api::Builder::<R>::new("wss://example.com/socket")
///     .param("token", "abc")
///     .heartbeat_interval(Some(Duration::from_secs(15)))
///     .connect();
/// # }
/// ```
pub struct Builder<R> {
    config: Config,
    transport: TransportOptions,
    channel_capacity: usize,
    command_capacity: usize,
    runtime: R,
}

/// A seed of its own for every socket, so that the jitter of many clients
/// (or many sockets of one) spreads their reconnects instead of repeating
/// the same delays: std's per-process random hash keys, mixed with a count.
fn fresh_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNT.fetch_add(1, Ordering::Relaxed));
    hasher.finish()
}

impl<R> fmt::Debug for Builder<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("config", &self.config)
            .field("transport", &self.transport)
            .field("channel_capacity", &self.channel_capacity)
            .field("command_capacity", &self.command_capacity)
            .finish_non_exhaustive()
    }
}

impl<R: Launch + Default> Client<R> {
    /// Connects to `endpoint` with the defaults (see [`Builder`]); returns
    /// at once. With an async runtime, call it inside that runtime.
    pub fn connect(endpoint: impl Into<String>) -> Client<R> {
        Builder::new(endpoint).connect()
    }

    /// A [`Builder`] for `endpoint`.
    pub fn builder(endpoint: impl Into<String>) -> Builder<R> {
        Builder::new(endpoint)
    }
}

impl<R: Launch + Default> Builder<R> {
    /// A builder for the socket mounted at `endpoint`, e.g.
    /// `ws://localhost:4000/socket` (`/websocket` and `vsn=2.0.0` are added).
    pub fn new(endpoint: impl Into<String>) -> Self {
        Builder::with_runtime(endpoint, R::default())
    }
}

impl<R: Launch> Builder<R> {
    /// A builder whose socket runs on `runtime`.
    pub fn with_runtime(endpoint: impl Into<String>, runtime: R) -> Self {
        let mut config = Config::new(endpoint);
        config.rng_seed = fresh_seed();
        Builder {
            config,
            transport: TransportOptions::default(),
            channel_capacity: DEFAULT_CHANNEL_CAPACITY,
            command_capacity: DEFAULT_COMMAND_CAPACITY,
            runtime,
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
        self.config.params_fn = Some(Arc::new(params));
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
        self.config.auth_token_fn = Some(Arc::new(token));
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

    /// Also trusts the operating system's roots (feature `native-roots` of
    /// phoenix-proto, which every driver's `rustls-native-roots` turns on).
    pub fn native_roots(mut self) -> Self {
        self.transport.tls.use_native_roots(true);
        self
    }

    /// Uses the platform TLS library (a driver's `native-tls` feature).
    pub fn native_tls(mut self) -> Self {
        self.transport.tls.use_native_tls(true);
        self
    }

    /// Uses your own rustls configuration for `wss:`. It replaces the
    /// other rustls settings (roots, [`client_certificate`](Self::client_certificate),
    /// [`danger_accept_invalid_certs`](Self::danger_accept_invalid_certs)).
    pub fn rustls_config(mut self, config: Arc<rustls::ClientConfig>) -> Self {
        self.transport.tls.rustls_config(config);
        self
    }

    /// Presents a client certificate to servers that require one (mutual
    /// TLS): `chain_der` is the certificate chain in DER, the client's own
    /// certificate first, and `key_der` its private key, PKCS#8 DER (a PEM
    /// `-----BEGIN PRIVATE KEY-----` block, decoded). Works with rustls and
    /// with [`native_tls`](Self::native_tls). The key never shows in this
    /// builder's `Debug` output or in logs. A certificate or key that does
    /// not parse fails each connection attempt with a transport error that
    /// says so.
    pub fn client_certificate(mut self, chain_der: Vec<Vec<u8>>, key_der: Vec<u8>) -> Self {
        self.transport.tls.client_certificate(chain_der, key_der);
        self
    }

    /// **Dangerous: turns off the verification of the server's
    /// certificate.** Any certificate is accepted, self-signed, expired or
    /// issued for another host, so anyone who can intercept the connection
    /// can pose as the server and read or alter everything sent over it,
    /// the token and parameters included. Use it only against a test or
    /// development server, never in production; prefer trusting that
    /// server's CA with [`add_root_certificate`](Self::add_root_certificate)
    /// (and [`only_added_roots`](Self::only_added_roots)), which keeps the
    /// checks. Each connection attempt logs a `warn` saying verification is
    /// off. Verification is on unless this is called.
    pub fn danger_accept_invalid_certs(mut self) -> Self {
        self.transport.tls.danger_accept_invalid_certs(true);
        self
    }

    /// Opens connections through `connector` instead of plain TCP.
    #[cfg(feature = "async-driver")]
    pub fn connector(mut self, connector: impl Into<super::connect::Connector>) -> Self {
        self.transport.connector = Some(connector.into());
        self
    }

    /// Time allowed for TCP, TLS and the upgrade, each. Default 10 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.transport.connect_timeout = timeout;
        self
    }

    /// How long writes to an open connection may wait without a byte
    /// going out. Writes that wait that long (the peer stopped reading)
    /// count as a failed connection: the socket reconnects. A slow peer
    /// that keeps reading never trips it, however long a burst takes to
    /// drain ([`WriteProgress`](super::WriteProgress)). Default 10 s.
    pub fn write_timeout(mut self, timeout: Duration) -> Self {
        self.transport.write_timeout = timeout;
        self
    }

    /// The most bytes read from the socket at a time while data streams.
    /// Default [`DEFAULT_READ_BUFFER`](super::DEFAULT_READ_BUFFER). The
    /// buffer exists only while the socket has data to read: an idle socket
    /// holds none (see [`ElasticIo`](super::ElasticIo)).
    pub fn read_buffer_size(mut self, bytes: usize) -> Self {
        self.transport.read_buffer_size = bytes.max(1024);
        self
    }

    /// Largest message accepted from the server. Default
    /// [`DEFAULT_MAX_MESSAGE_SIZE`](super::DEFAULT_MAX_MESSAGE_SIZE) (10 MiB).
    pub fn max_message_size(mut self, bytes: Option<usize>) -> Self {
        self.transport.max_message_size = bytes;
        self
    }

    /// Capacity of each channel's event queue: how many events may wait for
    /// the application before the socket stops reading (and so stops
    /// every channel) until it takes some. Default
    /// [`DEFAULT_CHANNEL_CAPACITY`].
    pub fn channel_capacity(mut self, capacity: usize) -> Self {
        self.channel_capacity = capacity.max(1);
        self
    }

    /// Capacity of the queue of commands from the handles. Default
    /// [`DEFAULT_COMMAND_CAPACITY`].
    pub fn command_capacity(mut self, capacity: usize) -> Self {
        self.command_capacity = capacity.max(1);
        self
    }

    /// The core configuration, for anything not covered above.
    pub fn config_mut(&mut self) -> &mut Config {
        &mut self.config
    }

    /// The span every log line of this socket's loop is in (no secrets:
    /// query values are redacted).
    fn span(&self) -> tracing::Span {
        let endpoint = crate::client::redact_query(&self.config.endpoint);
        tracing::info_span!("phoenix_socket", endpoint = %endpoint)
    }

    /// Starts the socket with the async API and begins connecting.
    pub fn connect(self) -> Client<R> {
        let (inbox_tx, inbox_rx) = inbox(self.command_capacity);
        let (status_tx, status) = status_cell();
        let room = Arc::new(AtomicWaker::new());
        let news = SocketNews::new();
        let span = self.span();
        self.runtime.launch(SocketTask {
            core: Socket::new(self.config),
            handler: Router::new(status_tx, room.clone(), news.clone()),
            flow: Flow {
                budget: Router::budget,
                poll_room: Router::poll_room,
            },
            inbox: inbox_rx,
            transport: self.transport,
            span,
            stopped: None,
        });
        Client::from_shared(Shared {
            inbox: inbox_tx,
            channel_capacity: self.channel_capacity,
            status,
            room,
            news,
        })
    }

    /// Starts the socket with a [`Handler`] (the callback model).
    pub fn spawn_handler<H>(self, handler: H) -> HandlerSocket<H>
    where
        H: Handler + Send + 'static,
        H::Info: Send + 'static,
        H::Call: Send + 'static,
        H::Reply: Send + 'static,
    {
        let (task, socket, runtime) = self.handler_task(handler);
        runtime.launch(task);
        socket
    }

    /// The socket with a [`Handler`], not started, with its handle and the
    /// runtime: for a driver that runs the loop itself (the blocking
    /// driver's `run(handler)` on the calling thread).
    pub fn handler_task<H: Handler>(self, handler: H) -> (SocketTask<H>, HandlerSocket<H>, R) {
        let (inbox_tx, inbox_rx) = inbox(self.command_capacity);
        let (stopped_tx, stopped_rx) = oneshot::channel();
        let span = self.span();
        let task = SocketTask {
            core: Socket::new(self.config),
            handler,
            flow: Flow::unbounded(),
            inbox: inbox_rx,
            transport: self.transport,
            span,
            stopped: Some(stopped_tx),
        };
        (task, HandlerSocket::new(inbox_tx, stopped_rx), self.runtime)
    }
}
