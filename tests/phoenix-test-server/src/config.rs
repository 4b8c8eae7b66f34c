//! Server configuration.

use std::time::Duration;

/// Configuration of a [`TestServer`](crate::TestServer).
///
/// Every field has a Phoenix-like default ([`ServerConfig::default`]); tests
/// usually shorten the timeouts, e.g.
///
/// ```
/// use std::time::Duration;
/// use phoenix_test_server::ServerConfig;
///
/// let config = ServerConfig {
///     idle_timeout: Duration::from_millis(300),
///     max_channels: 5,
///     ..ServerConfig::default()
/// };
/// assert_eq!(config.port, 0);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// TCP port on 127.0.0.1; `0` (the default) picks a free port.
    pub port: u16,
    /// Close a WebSocket with code 1002 (Bandit's behaviour) when no data was
    /// received for this long. Default 60 s.
    pub idle_timeout: Duration,
    /// Largest accepted WebSocket frame/message in bytes; larger ones close the
    /// connection with 1009. Default 10 000 000 (WebSockAdapter's default).
    pub max_frame_size: usize,
    /// `max_channels_per_transport`: joins beyond this get
    /// `{"reason":"too many channels joined"}`. Default 100.
    pub max_channels: usize,
    /// Long-poll window: how long a GET poll waits for messages before
    /// answering 204; a session with no poll for 1.5 × this is dropped.
    /// Default 10 s.
    pub longpoll_window: Duration,
    /// Serve `wss://`/`https://` with a self-signed certificate generated at
    /// start-up (see [`TestServer::tls`](crate::TestServer::tls)). Default off.
    pub tls: bool,
    /// The names (DNS names or IP addresses) the TLS server certificate is
    /// issued for. Default `localhost` and `127.0.0.1`; a test of a
    /// client's host name check issues it for another name (e.g.
    /// `not-this-host.invalid`) and connects to `127.0.0.1`.
    pub tls_cert_names: Vec<String>,
    /// With `tls`, require every client to present a certificate signed by
    /// the server's CA (mutual TLS): a connection without one, or with one
    /// from another CA, fails in TLS. Issue one with
    /// [`TlsMaterial::issue_client_certificate`](crate::TlsMaterial::issue_client_certificate).
    /// Default off.
    pub tls_client_auth: bool,
    /// Accept the Phoenix 1.8 auth token subprotocol
    /// (`Sec-WebSocket-Protocol: phoenix, base64url.bearer.phx.<token>`) and
    /// answer `Sec-WebSocket-Protocol: phoenix` (Phoenix's `auth_token: true`).
    /// Default on.
    pub auth_token_subprotocol: bool,
    /// When set, connections (WebSocket and long-poll) must present exactly this
    /// auth token, else they are refused with 403. Implies
    /// `auth_token_subprotocol`. Default `None`.
    pub auth_token: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            port: 0,
            idle_timeout: Duration::from_secs(60),
            max_frame_size: 10_000_000,
            max_channels: 100,
            longpoll_window: Duration::from_secs(10),
            tls: false,
            tls_cert_names: vec!["localhost".to_owned(), "127.0.0.1".to_owned()],
            tls_client_auth: false,
            auth_token_subprotocol: true,
            auth_token: None,
        }
    }
}
