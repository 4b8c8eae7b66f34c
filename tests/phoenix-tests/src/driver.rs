//! What a driver must offer the scenarios. Each driver crate gets a small
//! adapter implementing these traits.
//!
//! # Adding a driver
//!
//! Say the crate is `phoenix-client-async-std`. Everything happens inside
//! `tests/phoenix-tests`: one adapter file, one test file of one line, and a
//! line each in `Cargo.toml` and `src/lib.rs`.
//!
//! 1. **The dependency**, in `tests/phoenix-tests/Cargo.toml`:
//!    `phoenix-client-async-std.workspace = true` (the crate's entry in the
//!    root's `[workspace.dependencies]` comes with adding it to the
//!    workspace), plus whatever the adapter itself uses.
//! 2. **The adapter**, `src/async_std_driver.rs`, declared in `src/lib.rs`
//!    with `pub mod async_std_driver;`. It holds a unit struct implementing
//!    [`Driver`] (`const NAME: &str = "async_std";`, the same word as the
//!    test module below) and the impls of [`TestClient`] and [`TestChannel`]
//!    for the driver's client and for a channel wrapper that owns the
//!    channel's event stream. `src/tokio_driver.rs` is the model: it maps
//!    the driver's errors and events to [`JoinFailure`], [`PushFailure`] and
//!    [`Ev`] one to one.
//! 3. **The tests**, `tests/async_std.rs`, one line (plus a `//!` line for
//!    the `missing_docs` lint):
//!
//!    ```text
//!    phoenix_tests::all_scenarios!(async_std, phoenix_tests::async_std_driver::AsyncStdDriver);
//!    ```
//!
//!    That generates the module `async_std` with one test per scenario:
//!    `async_std::join_and_echo`, and so on.
//!
//! Then `cargo test -p phoenix-tests -- async_std::` runs the new driver
//! alone. Nothing else changes: the scenarios and their list are shared.
//!
//! # The contract, method by method
//!
//! - The harness polls every future below from a tokio runtime
//!   ([`block_on`](crate::harness::block_on)), for the embedded server's
//!   sake. An adapter must not rely on that: it runs its own runtime or
//!   threads as its driver's users would, and uses no tokio type unless it
//!   is the tokio adapter (whose `tokio::sync::Mutex` and
//!   `tokio::time::timeout` are its own business). For timeouts,
//!   [`crate::time::timeout`] works under any executor.
//! - The futures must be `Send`, and the `&self` methods may run
//!   concurrently: scenarios `join` a push with a join or with another push
//!   on the same channel and expect them to overlap. A **blocking** driver
//!   therefore runs each blocking call on a thread of its own inside the
//!   async method, e.g. with [`unblock`] (runtime-neutral, below) or
//!   `tokio::task::spawn_blocking`, its handles shared through an `Arc`;
//!   calling the blocking function directly in the `async fn` would
//!   serialise the two branches and deadlock those scenarios.
//! - [`Driver::connect`] returns at once (it runs inside the async harness):
//!   connecting happens in the background, as `Client::builder(..).connect()`
//!   does. Every field of [`Options`] is applied; `heartbeat: None` turns
//!   heartbeats off, `ca_der` is an extra root certificate (DER),
//!   `danger_accept_invalid_certs` and `client_certificate` go to the
//!   builder's setters of those names.
//! - [`TestClient::wait_connected`] / [`TestClient::wait_disconnected`]
//!   look at the current status first, then wait at most `within`.
//! - [`TestClient::channel`] subscribes to the channel's events before it
//!   returns, so no event is missed.
//! - [`TestClient::shutdown`] is idempotent and finishes promptly (within
//!   [`CLEANUP_LIMIT`](crate::harness::CLEANUP_LIMIT)): the harness calls it
//!   for every client a scenario made, also for those the scenario already
//!   shut down.
//! - [`TestChannel::next_event`] returns `None` when nothing came within
//!   `within` (or the stream ended).
//! - [`TestChannel::start_push`] is a plain function that returns at once,
//!   blocking drivers included: it calls the driver's own `start_push`,
//!   which queues the push before it returns (in call order, past the
//!   command queue's capacity), and boxes what waits for the outcome. A
//!   blocking driver's box waits on a thread of its own ([`unblock`]) when
//!   it is polled, not in `start_push`.

use std::future::{Future, poll_fn};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Poll, Waker};
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
    /// Accept any server certificate (`danger_accept_invalid_certs`).
    pub danger_accept_invalid_certs: bool,
    /// A client certificate chain and its PKCS#8 key (DER), for mutual TLS.
    pub client_certificate: Option<(Vec<Vec<u8>>, Vec<u8>)>,
    /// Largest message accepted from the server (`None`: the driver's default).
    pub max_message_size: Option<usize>,
    /// Most pushes awaiting an outcome at once, the core
    /// `Config::max_pending_pushes` (`None`: the default).
    pub max_pending_pushes: Option<usize>,
    /// How long writes may wait without progress (`None`: the default).
    pub write_timeout: Option<Duration>,
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
            danger_accept_invalid_certs: false,
            client_certificate: None,
            max_message_size: None,
            max_pending_pushes: None,
            write_timeout: None,
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
    /// This handle's channel has already closed, for this reason.
    Closed(phoenix_proto::client::ChannelCloseReason),
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
    /// The socket refused the push at once: `limit` pushes already await
    /// an outcome (`max_pending_pushes`).
    TooManyPending {
        /// The limit.
        limit: usize,
    },
    /// The channel handle has not joined.
    NotJoined,
    /// The socket has stopped.
    SocketGone,
    /// Anything else.
    Other(String),
}

/// What became of one push: the reply (status, response) or why none came.
pub type PushResult = Result<(String, Payload<'static>), PushFailure>;

/// A push handed to the socket by [`TestChannel::start_push`]: awaiting it
/// gives the push's outcome.
pub type StartedPush = Pin<Box<dyn Future<Output = PushResult> + Send>>;

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
    /// Stops the client. Idempotent: the harness shuts every client down
    /// after its scenario, also those the scenario shut down itself.
    fn shutdown(&self) -> impl Future<Output = ()> + Send;
    /// The socket's events from now on (the shared API's stream; the
    /// blocking driver's is a thin wrapper over the same one).
    fn socket_events(&self) -> phoenix_proto::api::SocketEvents;
    /// A heartbeat's round trip, sent now.
    fn ping(&self) -> impl Future<Output = Result<Duration, String>> + Send;
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
    /// Hands a push to the socket at once with the driver's `start_push`
    /// (no waiting for its reply, nor for room in the command queue) and
    /// returns its outcome to await later. Errors known at once (not
    /// joined, socket gone) come out of the returned future too.
    fn start_push(
        &self,
        event: &str,
        payload: Payload<'static>,
        timeout: Option<Duration>,
    ) -> StartedPush;
    /// Pushes without waiting.
    fn cast(&self, event: &str, payload: Payload<'static>) -> impl Future<Output = ()> + Send;
    /// The next event within `within`, or `None`.
    fn next_event(&mut self, within: Duration) -> impl Future<Output = Option<Ev>> + Send;
    /// Leaves and waits until closed.
    fn leave(&self) -> impl Future<Output = Result<(), String>> + Send;
    /// The channel's presence list, kept in sync by the socket.
    fn presence(&self) -> phoenix_proto::api::PresenceHandle;
}

/// Runs the blocking `f` on a thread of its own and waits for its result
/// without blocking the executor that polls this future (any executor: it
/// needs no runtime). A panic in `f` resumes in the caller. Dropping the
/// future does not stop `f`; its result is then discarded.
///
/// For blocking drivers' adapters: `unblock(move || channel.join())`.
pub async fn unblock<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    type Slot<T> = (Option<std::thread::Result<T>>, Option<Waker>);
    let shared: Arc<Mutex<Slot<T>>> = Arc::new(Mutex::new((None, None)));
    let theirs = shared.clone();
    std::thread::spawn(move || {
        let result = catch_unwind(AssertUnwindSafe(f));
        let waker = {
            let mut slot = theirs.lock().unwrap_or_else(PoisonError::into_inner);
            slot.0 = Some(result);
            slot.1.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    });
    let result = poll_fn(|cx| {
        let mut slot = shared.lock().unwrap_or_else(PoisonError::into_inner);
        match slot.0.take() {
            Some(result) => Poll::Ready(result),
            None => {
                slot.1 = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    })
    .await;
    result.unwrap_or_else(|panic| resume_unwind(panic))
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::unblock;

    #[test]
    fn unblock_runs_blocking_calls_side_by_side_under_any_executor() {
        let started = Instant::now();
        let nap = || {
            std::thread::sleep(Duration::from_millis(200));
            7
        };
        // A plain block_on: no runtime at all.
        let (a, b) = async_io::block_on(futures_util::future::join(unblock(nap), unblock(nap)));
        assert_eq!((a, b), (7, 7));
        assert!(
            started.elapsed() < Duration::from_millis(390),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn unblock_passes_a_panic_on() {
        let caught =
            std::panic::catch_unwind(|| async_io::block_on(unblock(|| -> u8 { panic!("inside") })));
        assert!(caught.is_err());
    }
}
