//! What a driver must offer the scenarios. Each driver crate gets a small
//! adapter implementing these traits.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use phoenix_proto::client::{Backoff, ChannelCloseReason, ChannelErrorReason, DisconnectReason};
use phoenix_proto::codec::Payload;
use serde_json::Value;

/// Produces query parameters for each connection attempt.
pub type ParamsFn = Arc<dyn Fn() -> Vec<(String, String)> + Send + Sync>;

/// How a scenario wants its client configured.
#[derive(Clone)]
#[allow(missing_debug_implementations)]
pub struct Options {
    /// The socket endpoint (`ws://host:port/socket`).
    pub endpoint: String,
    /// Query parameters.
    pub params: Vec<(String, String)>,
    /// Parameters computed again for every connection attempt.
    pub params_fn: Option<ParamsFn>,
    /// Phoenix 1.8 auth token.
    pub auth_token: Option<String>,
    /// Extra upgrade headers.
    pub headers: Vec<(String, String)>,
    /// Heartbeat interval.
    pub heartbeat: Option<Duration>,
    /// Default push/join timeout.
    pub timeout: Duration,
    /// Reconnect schedule.
    pub reconnect: Backoff,
    /// Rejoin schedule.
    pub rejoin: Backoff,
    /// An extra CA to trust (DER), for TLS scenarios.
    pub ca_der: Option<Vec<u8>>,
}

impl Options {
    /// Defaults tuned for tests: short timeouts and quick retries.
    pub fn new(endpoint: impl Into<String>) -> Self {
        Options {
            endpoint: endpoint.into(),
            params: Vec::new(),
            params_fn: None,
            auth_token: None,
            headers: Vec::new(),
            heartbeat: Some(Duration::from_secs(30)),
            timeout: Duration::from_secs(5),
            reconnect: Backoff::from_millis(&[20, 50, 100, 200]),
            rejoin: Backoff::from_millis(&[50, 100, 200]),
            ca_der: None,
        }
    }

    /// Adds a query parameter.
    pub fn param(mut self, key: &str, value: &str) -> Self {
        self.params.push((key.to_owned(), value.to_owned()));
        self
    }
}

/// A channel event, the same for every driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ev {
    /// A push or broadcast.
    Message {
        /// Event name.
        event: String,
        /// Payload.
        payload: Payload<'static>,
    },
    /// The channel errored.
    Errored(ChannelErrorReason),
    /// The channel rejoined.
    Rejoined,
    /// A rejoin was refused.
    JoinRefused,
    /// The channel closed.
    Closed(ChannelCloseReason),
}

impl Ev {
    /// The message's event name and JSON payload, if this is a JSON message.
    pub fn json_message(&self) -> Option<(&str, Value)> {
        match self {
            Ev::Message { event, payload } => Some((event, payload.deserialize().ok()?)),
            _ => None,
        }
    }
}

/// Why a join failed, the same for every driver.
#[derive(Debug, Clone, PartialEq)]
pub enum JoinFailure {
    /// The server refused with this status and response.
    Refused(String, Value),
    /// Timed out.
    Timeout,
    /// The client refused (duplicate topic and the like).
    Rejected(String),
    /// Anything else.
    Other(String),
}

/// Why a push produced no reply, the same for every driver.
#[derive(Debug, Clone, PartialEq)]
pub enum PushFailure {
    /// No reply in time.
    Timeout,
    /// The socket refused the push at once.
    Rejected(String),
    /// The push failed after it was accepted.
    Failed(phoenix_proto::client::PushFailure),
    /// Anything else.
    Other(String),
}

/// A driver under test.
pub trait Driver: Send + Sync + 'static {
    /// Its name, for messages.
    const NAME: &'static str;
    /// Its client type.
    type Client: TestClient;
    /// Starts a client that connects with `options`.
    fn connect(options: Options) -> Self::Client;
}

/// A connected (or connecting) client.
pub trait TestClient: Clone + Send + Sync + 'static {
    /// Its channel type.
    type Channel: TestChannel;
    /// Waits until the connection is open.
    fn wait_connected(&self, within: Duration) -> impl Future<Output = Result<(), String>> + Send;
    /// Waits until the connection is lost and returns why.
    fn wait_disconnected(
        &self,
        within: Duration,
    ) -> impl Future<Output = Result<DisconnectReason, String>> + Send;
    /// A channel for `topic` joined with `params`; its events are subscribed at once.
    fn channel(&self, topic: &str, params: Value) -> Self::Channel;
    /// Stops the client.
    fn shutdown(&self) -> impl Future<Output = ()> + Send;
}

/// A channel of a [`TestClient`].
pub trait TestChannel: Send + Sync + 'static {
    /// Joins; the server's response on success.
    fn join(&self) -> impl Future<Output = Result<Value, JoinFailure>> + Send;
    /// Pushes and waits for the reply (status, response).
    fn push(
        &self,
        event: &str,
        payload: Payload<'static>,
        timeout: Option<Duration>,
    ) -> impl Future<Output = Result<(String, Payload<'static>), PushFailure>> + Send;
    /// Pushes without waiting.
    fn cast(&self, event: &str, payload: Payload<'static>) -> impl Future<Output = ()> + Send;
    /// The next event within `within`, or `None`.
    fn next_event(&mut self, within: Duration) -> impl Future<Output = Option<Ev>> + Send;
    /// Leaves and waits until closed.
    fn leave(&self) -> impl Future<Output = Result<(), String>> + Send;
}
