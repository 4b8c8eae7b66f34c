//! The blocking API: [`Client`], [`Channel`] and [`ChannelEvents`], thin
//! wrappers that wait for the shared async handles on the calling thread.
//! The socket itself runs on the shared reactor thread (see [`Blocking`]).

use std::future::Future;
use std::sync::mpsc::{RecvTimeoutError, TryRecvError};
use std::time::{Duration, Instant};

use phoenix_proto::api::{
    self, ChannelEvent, JoinError, LeaveError, PingError, PresenceEvent, PresenceHandle, PushError,
    Reply, SocketEvent, SocketGone, Status, StatusWatch,
};
use phoenix_proto::codec::{EncodeError, Payload};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::block_on::{block_on, block_on_until};
use crate::{Blocking, Builder};

/// A Phoenix socket with the blocking API. Cheap to clone; every clone
/// talks to the same connection. `Send + Sync`.
///
/// The connection runs on the reactor thread (`phoenix-socket`, see [`Blocking`])
/// until [`shutdown`](Self::shutdown) or until the last clone, the last
/// [`Channel`] and the last [`ChannelEvents`] are dropped. Every method
/// blocks the calling thread for the time its documentation says, never
/// the reactor's; none may be called from inside a `Handler` callback.
#[derive(Debug, Clone)]
pub struct Client(api::Client<Blocking>);

impl From<api::Client<Blocking>> for Client {
    /// The blocking API over a client from [`Builder::connect`](api::Builder::connect).
    fn from(client: api::Client<Blocking>) -> Self {
        Client(client)
    }
}

impl Client {
    /// Starts a socket for `endpoint` with the defaults, on a new thread
    /// that begins connecting; returns at once. See [`connected`](Self::connected).
    pub fn connect(endpoint: impl Into<String>) -> Client {
        Client(api::Client::connect(endpoint))
    }

    /// A [`Builder`] for `endpoint`; finish with
    /// `Client::from(builder.connect())`.
    pub fn builder(endpoint: impl Into<String>) -> Builder {
        Builder::new(endpoint)
    }

    /// The shared async client, for code that wants futures.
    pub fn as_async(&self) -> &api::Client<Blocking> {
        &self.0
    }

    /// Watches the socket's status: [`StatusWatch::current`] reads it,
    /// [`StatusWatch::changed_blocking`] waits for a change.
    pub fn status(&self) -> StatusWatch {
        self.0.status()
    }

    /// Blocks until the connection is open, across reconnects, without a
    /// limit (see [`connected_timeout`](Self::connected_timeout)).
    ///
    /// # Errors
    /// [`SocketGone`] when the socket stops first.
    pub fn connected(&self) -> Result<(), SocketGone> {
        block_on(self.0.connected())
    }

    /// Blocks until the connection is open (`Ok(true)`) or `limit` has
    /// passed (`Ok(false)`).
    ///
    /// # Errors
    /// [`SocketGone`] when the socket stops first.
    pub fn connected_timeout(&self, limit: Duration) -> Result<bool, SocketGone> {
        let deadline = Instant::now().checked_add(limit);
        let mut status = self.status();
        loop {
            match &*status.borrow_and_update() {
                Status::Connected => return Ok(true),
                Status::Stopped => return Err(SocketGone),
                _ => {}
            }
            let left = match deadline {
                Some(at) => at.saturating_duration_since(Instant::now()),
                None => limit,
            };
            if left.is_zero() {
                return Ok(false);
            }
            status.changed_blocking(left)?;
        }
    }

    /// A channel for `topic`, to be joined with `params` (any `Serialize`).
    /// Does not block.
    pub fn channel<T: Serialize + ?Sized>(&self, topic: impl Into<String>, params: &T) -> Channel {
        Channel(self.0.channel(topic, params))
    }

    /// A channel whose join payload is already a [`Payload`].
    pub fn channel_raw(
        &self,
        topic: impl Into<String>,
        params: Result<Payload<'static>, EncodeError>,
    ) -> Channel {
        Channel(self.0.channel_raw(topic, params))
    }

    /// Reconnects if disconnected (also after [`disconnect`](Self::disconnect)).
    /// Blocks only while the socket's command queue is full.
    ///
    /// # Errors
    /// [`SocketGone`] when the socket has stopped.
    pub fn reconnect(&self) -> Result<(), SocketGone> {
        block_on(self.0.reconnect())
    }

    /// Closes the connection and stops reconnecting; channels rejoin after
    /// [`reconnect`](Self::reconnect). Blocks only while the socket's
    /// command queue is full.
    ///
    /// # Errors
    /// [`SocketGone`] when the socket has stopped.
    pub fn disconnect(&self) -> Result<(), SocketGone> {
        block_on(self.0.disconnect())
    }

    /// Stops the socket and blocks until its loop has ended: frames
    /// already accepted go out first (each within the write timeout), then
    /// the close frame, then at most two seconds' wait for the server's
    /// answer. A connection attempt under way is finished first (up to the
    /// connect timeout for each of TCP, TLS and the upgrade).
    pub fn shutdown(&self) {
        block_on(self.0.shutdown());
    }

    /// Every event of the socket's life from now on (attempts, connected,
    /// disconnected with the reason, malformed frames, heartbeat round
    /// trips, the stop); loses no transition. Unbounded: read it or drop it.
    pub fn socket_events(&self) -> SocketEvents {
        Events(self.0.socket_events())
    }

    /// Sends a heartbeat now and blocks until its round trip is known.
    ///
    /// # Errors
    /// [`PingError`]: not connected, connection lost, socket gone.
    pub fn ping(&self) -> Result<Duration, PingError> {
        block_on(self.0.ping())
    }

    /// The round trip of the last answered heartbeat or ping.
    pub fn last_rtt(&self) -> Option<Duration> {
        self.0.last_rtt()
    }
}

/// A push handed to the socket by [`Channel::start_push`]: its outcome, once
/// the server answers or the push's timeout passes. Dropping it does not
/// withdraw the push; its outcome is then discarded.
#[derive(Debug)]
#[must_use = "the push is sent either way; the PendingPush is its outcome"]
pub struct PendingPush(api::PendingPush);

impl PendingPush {
    /// Blocks until the push's outcome: the reply (any status), or why
    /// there is none.
    ///
    /// # Errors
    /// [`PushError`]: timed out, failed (with the reason), refused by the
    /// socket, or the socket stopped.
    pub fn wait(self) -> Result<Reply, PushError> {
        block_on(self.0)
    }

    /// The outcome if it is known now, without blocking; otherwise the
    /// pending push back.
    ///
    /// # Errors
    /// `Err(self)` while the outcome is not known yet.
    pub fn try_wait(mut self) -> Result<Result<Reply, PushError>, PendingPush> {
        // A deadline already passed: one poll, no wait.
        match block_on_until(&mut self.0, Instant::now()) {
            Some(outcome) => Ok(outcome),
            None => Err(self),
        }
    }
}

/// A join handed to the socket by [`Channel::start_join`]: the server's
/// response, or why the join failed, once known.
#[derive(Debug)]
#[must_use = "the join is sent either way; the PendingJoin is its outcome"]
pub struct PendingJoin(api::PendingJoin);

impl PendingJoin {
    /// Blocks until the join's outcome, as [`Channel::join`] does.
    ///
    /// # Errors
    /// As [`Channel::join`].
    pub fn wait(self) -> Result<Payload<'static>, JoinError> {
        block_on(self.0)
    }

    /// The outcome if it is known now, without blocking; otherwise the
    /// pending join back.
    ///
    /// # Errors
    /// `Err(self)` while the outcome is not known yet.
    pub fn try_wait(mut self) -> Result<Result<Payload<'static>, JoinError>, PendingJoin> {
        match block_on_until(&mut self.0, Instant::now()) {
            Some(outcome) => Ok(outcome),
            None => Err(self),
        }
    }
}

/// One topic on a [`Client`]. Cheap to clone; `Send + Sync`. The channel is
/// left when the last clone and its [`ChannelEvents`] are dropped.
///
/// [`join`](Self::join), the pushes and [`leave`](Self::leave) block until
/// the server answers or their timeout (the socket's default, 10 s unless
/// set) passes; a join waits for the connection first, across reconnects.
#[derive(Debug, Clone)]
pub struct Channel(api::Channel);

impl Channel {
    /// The topic.
    pub fn topic(&self) -> &str {
        self.0.topic()
    }

    /// This channel's events. The first call takes them; later calls
    /// return `None`. Take them before [`join`](Self::join) to see every
    /// message; while nobody has (or after they are dropped) the channel's
    /// events are not queued.
    pub fn events(&self) -> Option<ChannelEvents> {
        self.0.events().map(Events)
    }

    /// Joins and returns the server's response. Blocks until the server
    /// answers or the join times out (the timeout runs from the moment the
    /// join is sent: while disconnected it waits for the connection).
    ///
    /// # Errors
    /// [`JoinError`]: refused (with the server's response), timed out,
    /// closed, or rejected by the socket.
    pub fn join(&self) -> Result<Payload<'static>, JoinError> {
        block_on(self.0.join())
    }

    /// [`join`](Self::join) with its own timeout (also used for this
    /// channel's rejoins and leave).
    ///
    /// # Errors
    /// As [`join`](Self::join).
    pub fn join_with_timeout(&self, timeout: Duration) -> Result<Payload<'static>, JoinError> {
        block_on(self.0.join_with_timeout(timeout))
    }

    /// Hands the join to the socket without blocking and returns its
    /// [`PendingJoin`]; [`wait`](PendingJoin::wait) for the response later.
    /// The way to join many channels, of one socket or of many, from one
    /// thread: start every join, then wait for each. `timeout` `None` is
    /// the socket's default.
    ///
    /// ```no_run
    /// # fn run(clients: &[phoenix_client_blocking::Client]) -> Result<(), phoenix_client_blocking::JoinError> {
    /// let channels: Vec<_> = clients
    ///     .iter()
    ///     .map(|client| client.channel("room:lobby", &serde_json::json!({})))
    ///     .collect();
    /// let joins: Vec<_> = channels.iter().map(|c| c.start_join(None)).collect();
    /// for join in joins {
    ///     join.wait()?;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn start_join(&self, timeout: Option<Duration>) -> PendingJoin {
        PendingJoin(self.0.start_join(timeout))
    }

    /// Pushes `event` with a JSON payload and returns the `ok` response
    /// deserialized into `R` (`serde_json::Value` takes anything). Blocks
    /// until the reply or the timeout.
    ///
    /// # Errors
    /// [`PushError::Status`] for any other status; timeouts, failures,
    /// encoding and decoding errors.
    pub fn push<T, R>(&self, event: &str, payload: &T) -> Result<R, PushError>
    where
        T: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        block_on(self.0.push(event, payload))
    }

    /// Pushes a raw payload (JSON or bytes) and returns the reply, whatever
    /// its status. Blocks until the reply or the timeout.
    ///
    /// # Errors
    /// Timeouts, failures and rejections as [`PushError`].
    pub fn push_raw(&self, event: &str, payload: Payload<'static>) -> Result<Reply, PushError> {
        block_on(self.0.push_raw(event, payload))
    }

    /// Pushes bytes (a binary frame) and returns the reply.
    ///
    /// # Errors
    /// As [`push_raw`](Self::push_raw).
    pub fn push_binary(&self, event: &str, bytes: impl Into<Vec<u8>>) -> Result<Reply, PushError> {
        block_on(self.0.push_binary(event, bytes))
    }

    /// [`push_raw`](Self::push_raw) with its own timeout (`None`: the
    /// socket's default).
    ///
    /// # Errors
    /// As [`push_raw`](Self::push_raw).
    pub fn push_with_timeout(
        &self,
        event: &str,
        payload: Payload<'static>,
        timeout: Option<Duration>,
    ) -> Result<Reply, PushError> {
        block_on(self.0.push_with_timeout(event, payload, timeout))
    }

    /// Hands a push to the socket without blocking and returns its
    /// [`PendingPush`]; [`wait`](PendingPush::wait) for the reply later.
    /// The way to keep many pushes in flight from one thread: start them,
    /// then wait for each (replies may arrive in any order; every pending
    /// push gets exactly one outcome). The push is queued before this
    /// returns, in order, past the socket's command queue's capacity (the
    /// socket refuses pushes beyond `max_pending_pushes` with
    /// [`PushError::Rejected`]`(TooManyPending)`). `timeout` `None` is the socket's
    /// default.
    pub fn start_push(
        &self,
        event: &str,
        payload: Payload<'static>,
        timeout: Option<Duration>,
    ) -> PendingPush {
        PendingPush(self.0.start_push(event, payload, timeout))
    }

    /// Sends a push without waiting for its outcome (blocks only while the
    /// socket's command queue is full), for events the server does not
    /// answer.
    ///
    /// # Errors
    /// [`PushError::NotJoined`] or [`PushError::SocketGone`].
    pub fn cast(&self, event: &str, payload: Payload<'static>) -> Result<(), PushError> {
        block_on(self.0.cast(event, payload))
    }

    /// Leaves the channel and blocks until it is closed.
    ///
    /// # Errors
    /// [`LeaveError`] when the channel never joined, is already closed, or
    /// the socket has stopped.
    pub fn leave(&self) -> Result<(), LeaveError> {
        block_on(self.0.leave())
    }

    /// This channel's presence list, kept in sync by the socket (ask before
    /// [`join`](Self::join)); its changes: `PresenceEvents::from(presence.events())`.
    pub fn presence(&self) -> PresenceHandle {
        self.0.presence()
    }
}

/// One of the shared API's event streams, read on a thread by [`Events`].
pub trait EventStream {
    /// What it yields.
    type Item;
    /// The next item, or `None` once the stream has ended.
    fn recv(&mut self) -> impl Future<Output = Option<Self::Item>>;
    /// The next item if one is queued now.
    ///
    /// # Errors
    /// Nothing queued yet, or the stream has ended.
    fn try_recv(&mut self) -> Result<Self::Item, TryRecvError>;
}

macro_rules! event_stream {
    ($($stream:ty => $item:ty),* $(,)?) => {$(
        impl EventStream for $stream {
            type Item = $item;
            fn recv(&mut self) -> impl Future<Output = Option<$item>> {
                <$stream>::recv(self)
            }
            fn try_recv(&mut self) -> Result<$item, TryRecvError> {
                <$stream>::try_recv(self)
            }
        }
    )*};
}

event_stream! {
    api::ChannelEvents => ChannelEvent,
    api::SocketEvents => SocketEvent,
    api::PresenceEvents => PresenceEvent,
}

/// A stream of the shared API read on the calling thread: [`recv`](Self::recv)
/// blocks, [`recv_timeout`](Self::recv_timeout) blocks at most so long,
/// [`try_recv`](Self::try_recv) never; and an [`Iterator`] whose `next` is
/// `recv`. `Send`.
#[derive(Debug)]
pub struct Events<S>(S);

/// A channel's events, in order; ends after [`ChannelEvent::Closed`]. The
/// socket stops reading from the network while this queue is full (see
/// `Builder::channel_capacity`): read it promptly.
pub type ChannelEvents = Events<api::ChannelEvents>;
/// The socket's events, from [`Client::socket_events`].
pub type SocketEvents = Events<api::SocketEvents>;
/// Presence changes: `PresenceEvents::from(channel.presence().events())`.
pub type PresenceEvents = Events<api::PresenceEvents>;

impl<S: EventStream> From<S> for Events<S> {
    fn from(stream: S) -> Self {
        Events(stream)
    }
}

impl<S: EventStream> Events<S> {
    /// Blocks until the next item; `None` once the stream has ended.
    pub fn recv(&mut self) -> Option<S::Item> {
        block_on(self.0.recv())
    }

    /// Blocks for the next item at most `limit`.
    ///
    /// # Errors
    /// [`RecvTimeoutError::Timeout`] when nothing came in time,
    /// [`RecvTimeoutError::Disconnected`] once the stream has ended.
    pub fn recv_timeout(&mut self, limit: Duration) -> Result<S::Item, RecvTimeoutError> {
        let Some(deadline) = Instant::now().checked_add(limit) else {
            return self.recv().ok_or(RecvTimeoutError::Disconnected);
        };
        match block_on_until(self.0.recv(), deadline) {
            Some(Some(item)) => Ok(item),
            Some(None) => Err(RecvTimeoutError::Disconnected),
            None => Err(RecvTimeoutError::Timeout),
        }
    }

    /// The next item if one is queued now; never blocks.
    ///
    /// # Errors
    /// [`TryRecvError::Empty`] or [`TryRecvError::Disconnected`].
    pub fn try_recv(&mut self) -> Result<S::Item, TryRecvError> {
        self.0.try_recv()
    }
}

impl<S: EventStream> Iterator for Events<S> {
    type Item = S::Item;

    fn next(&mut self) -> Option<S::Item> {
        self.recv()
    }
}
