//! The async API: a [`Client`] with [`Channel`]s whose joins and pushes are
//! futures and whose server messages are a [`Stream`].
//!
//! Underneath, it is a [`Handler`] (the router) run by the same driver as
//! the callback model.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use futures_util::Stream;
use phoenix_proto::client::handler::{Action, Context, Handler, Stopped};
use phoenix_proto::client::{
    ChannelCloseReason, ChannelErrorReason, ChannelId, ConnectionState, DisconnectReason, PushId,
    PushOutcome,
};
use phoenix_proto::codec::{EncodeError, Payload};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use crate::builder::Builder;
use crate::driver::{Inbox, MAX_BATCH, Wait};
use crate::error::{JoinError, LeaveError, PushError, SocketGone};

/// Where the socket is, as seen through [`Client::status`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Status {
    /// The first connection attempt is under way. (Later attempts show as
    /// `Disconnected` with `reconnect_in` until they succeed.)
    Connecting,
    /// The connection is open.
    Connected,
    /// No connection; `reconnect_in` tells when the next attempt is due.
    Disconnected {
        /// Why.
        reason: DisconnectReason,
        /// When the next attempt is due, if one is scheduled.
        reconnect_in: Option<Duration>,
    },
    /// The socket has stopped for good.
    Stopped,
}

/// Something that happened on a channel, from [`Channel::events`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChannelEvent {
    /// A push or broadcast from the server.
    Message {
        /// The event name.
        event: String,
        /// The payload: JSON (deserialize it with [`Payload::deserialize`]) or bytes.
        payload: Payload<'static>,
    },
    /// The channel lost its server side and will rejoin by itself.
    Errored(ChannelErrorReason),
    /// The channel joined again after an error or a reconnect.
    Rejoined {
        /// The server's join response.
        response: Payload<'static>,
    },
    /// The server refused a rejoin.
    JoinRefused {
        /// The status.
        status: String,
        /// The response.
        response: Payload<'static>,
    },
    /// The channel is closed for good; the stream ends after this.
    Closed(ChannelCloseReason),
}

/// A reply to a push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Any status; usually `ok` or `error`.
    pub status: String,
    /// Any JSON value, or bytes.
    pub response: Payload<'static>,
}

/// Requests from handles to the router.
pub(crate) enum Command {
    Join {
        topic: String,
        payload: Payload<'static>,
        timeout: Option<Duration>,
        events: mpsc::Sender<ChannelEvent>,
        subscribed: Arc<AtomicBool>,
        /// Set by the router as soon as the socket accepts the join, so the
        /// handle knows its channel even if the `join()` future is dropped.
        id: Arc<OnceLock<ChannelId>>,
        done: oneshot::Sender<Result<Payload<'static>, JoinError>>,
    },
    Push {
        channel: ChannelId,
        event: String,
        payload: Payload<'static>,
        timeout: Option<Duration>,
        done: oneshot::Sender<Result<PushOutcome, PushError>>,
    },
    Leave {
        channel: ChannelId,
        done: oneshot::Sender<Result<(), LeaveError>>,
    },
    Connect,
    Disconnect,
}

struct Route {
    events: mpsc::Sender<ChannelEvent>,
    subscribed: Arc<AtomicBool>,
    /// Events that did not fit in the queue; delivered before anything new,
    /// and while any wait here the driver reads nothing from the network.
    overflow: VecDeque<ChannelEvent>,
    join_waiter: Option<oneshot::Sender<Result<Payload<'static>, JoinError>>>,
    leave_waiter: Option<oneshot::Sender<Result<(), LeaveError>>>,
}

impl Route {
    fn listening(&self) -> bool {
        self.subscribed.load(Ordering::Acquire) && !self.events.is_closed()
    }

    fn deliver(&mut self, event: ChannelEvent) {
        if !self.listening() {
            debug!("event for a channel nobody listens to, dropped by choice");
            return;
        }
        if !self.overflow.is_empty() {
            self.overflow.push_back(event);
            return;
        }
        match self.events.try_send(event) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(event)) => self.overflow.push_back(event),
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    fn flush_overflow(&mut self) {
        while let Some(event) = self.overflow.pop_front() {
            match self.events.try_send(event) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(event)) => {
                    self.overflow.push_front(event);
                    return;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    self.overflow.clear();
                    return;
                }
            }
        }
    }
}

/// The handler behind the async API.
pub(crate) struct Router {
    status: watch::Sender<Status>,
    routes: BTreeMap<ChannelId, Route>,
    pushes: HashMap<PushId, oneshot::Sender<Result<PushOutcome, PushError>>>,
    /// Routes closed while events still wait in their overflow.
    draining: Vec<Route>,
}

impl Router {
    pub(crate) fn new() -> (Self, watch::Receiver<Status>) {
        let (status, rx) = watch::channel(Status::Connecting);
        (
            Router {
                status,
                routes: BTreeMap::new(),
                pushes: HashMap::new(),
                draining: Vec::new(),
            },
            rx,
        )
    }

    /// How many network messages may be read now: no more than the free
    /// room in any listening channel's queue (one message makes at most one
    /// event per channel), and none while overflow waits.
    pub(crate) fn budget(&mut self) -> usize {
        let mut budget = MAX_BATCH;
        self.draining.retain_mut(|route| {
            route.flush_overflow();
            !route.overflow.is_empty()
        });
        if !self.draining.is_empty() {
            return 0;
        }
        for route in self.routes.values_mut() {
            route.flush_overflow();
            if !route.overflow.is_empty() {
                return 0;
            }
            if route.listening() {
                budget = budget.min(route.events.capacity());
            }
        }
        budget
    }

    /// A future that resolves when a full queue has room again.
    pub(crate) fn wait_for_room(&mut self) -> Option<Wait> {
        let full = self
            .draining
            .iter()
            .chain(self.routes.values())
            .find(|r| r.listening() && (r.events.capacity() == 0 || !r.overflow.is_empty()))?;
        let tx = full.events.clone();
        Some(Box::pin(async move {
            if let Ok(permit) = tx.reserve().await {
                drop(permit);
            }
        }))
    }

    fn set_status(&self, status: Status) {
        self.status.send_replace(status);
    }

    fn close_route(&mut self, channel: ChannelId, reason: ChannelCloseReason) {
        let Some(mut route) = self.routes.remove(&channel) else {
            return;
        };
        if let Some(waiter) = route.join_waiter.take() {
            let _ = waiter.send(Err(JoinError::Closed(reason.clone())));
        }
        if let Some(waiter) = route.leave_waiter.take() {
            let _ = waiter.send(Ok(()));
        }
        route.deliver(ChannelEvent::Closed(reason));
        if !route.overflow.is_empty() {
            self.draining.push(route);
        }
    }
}

impl Drop for Router {
    fn drop(&mut self) {
        self.status.send_replace(Status::Stopped);
    }
}

impl Handler for Router {
    type Info = Command;
    type Call = ();
    type Reply = ();

    fn init(&mut self, _ctx: &mut Context<'_>) -> Action {
        Action::Connect
    }

    fn handle_connected(&mut self, _ctx: &mut Context<'_>) -> Action {
        self.set_status(Status::Connected);
        Action::Continue
    }

    fn handle_disconnected(
        &mut self,
        _ctx: &mut Context<'_>,
        reason: DisconnectReason,
        reconnect_in: Option<Duration>,
    ) -> Action {
        self.set_status(Status::Disconnected {
            reason,
            reconnect_in,
        });
        Action::Continue
    }

    fn handle_joined(
        &mut self,
        _ctx: &mut Context<'_>,
        channel: ChannelId,
        _topic: Arc<str>,
        response: Payload<'static>,
        _rejoin: bool,
    ) -> Action {
        if let Some(route) = self.routes.get_mut(&channel) {
            match route.join_waiter.take() {
                Some(waiter) => {
                    let _ = waiter.send(Ok(response));
                }
                // Nobody waits: a rejoin, or a retry that succeeded after
                // `join()` already returned `Timeout` (or `Refused`, with
                // rejoin_after_refusal). The stream saw the error, so it
                // must see the channel come back too.
                None => route.deliver(ChannelEvent::Rejoined { response }),
            }
        }
        Action::Continue
    }

    fn handle_join_error(
        &mut self,
        _ctx: &mut Context<'_>,
        channel: ChannelId,
        _topic: Arc<str>,
        status: String,
        response: Payload<'static>,
    ) -> Action {
        if let Some(route) = self.routes.get_mut(&channel) {
            match route.join_waiter.take() {
                Some(waiter) => {
                    let _ = waiter.send(Err(JoinError::Refused { status, response }));
                }
                None => route.deliver(ChannelEvent::JoinRefused { status, response }),
            }
        }
        Action::Continue
    }

    fn handle_channel_closed(
        &mut self,
        _ctx: &mut Context<'_>,
        channel: ChannelId,
        _topic: Arc<str>,
        reason: ChannelCloseReason,
    ) -> Action {
        self.close_route(channel, reason);
        Action::Continue
    }

    fn handle_channel_errored(
        &mut self,
        _ctx: &mut Context<'_>,
        channel: ChannelId,
        _topic: Arc<str>,
        reason: ChannelErrorReason,
    ) -> Action {
        if let Some(route) = self.routes.get_mut(&channel) {
            if reason == ChannelErrorReason::JoinTimeout {
                if let Some(waiter) = route.join_waiter.take() {
                    let _ = waiter.send(Err(JoinError::Timeout));
                }
            }
            route.deliver(ChannelEvent::Errored(reason));
        }
        Action::Continue
    }

    fn handle_message(
        &mut self,
        _ctx: &mut Context<'_>,
        channel: ChannelId,
        _topic: Arc<str>,
        event: String,
        payload: Payload<'static>,
    ) -> Action {
        if let Some(route) = self.routes.get_mut(&channel) {
            route.deliver(ChannelEvent::Message { event, payload });
        }
        Action::Continue
    }

    fn handle_reply(
        &mut self,
        _ctx: &mut Context<'_>,
        _channel: ChannelId,
        push: PushId,
        outcome: PushOutcome,
    ) -> Action {
        match &outcome {
            PushOutcome::Reply { status, .. } => debug!(%push, status = %status, "reply"),
            other => debug!(%push, outcome = ?other, "push ended without a reply"),
        }
        if let Some(waiter) = self.pushes.remove(&push) {
            let _ = waiter.send(Ok(outcome));
        }
        Action::Continue
    }

    fn handle_malformed_frame(
        &mut self,
        _ctx: &mut Context<'_>,
        error: phoenix_proto::codec::DecodeError,
    ) -> Action {
        warn!(%error, "dropped a frame the server sent that could not be decoded");
        Action::Continue
    }

    fn handle_info(&mut self, ctx: &mut Context<'_>, command: Command) -> Action {
        match command {
            Command::Join {
                topic,
                payload,
                timeout,
                events,
                subscribed,
                id,
                done,
            } => {
                let joined = match timeout {
                    Some(t) => {
                        let now = ctx.now();
                        ctx.socket().join_with_timeout(now, &topic, payload, t)
                    }
                    None => ctx.join(&topic, payload),
                };
                match joined {
                    Ok(channel) => {
                        debug!(topic = %topic, %channel, "join");
                        let _ = id.set(channel);
                        self.routes.insert(
                            channel,
                            Route {
                                events,
                                subscribed,
                                overflow: VecDeque::new(),
                                join_waiter: Some(done),
                                leave_waiter: None,
                            },
                        );
                    }
                    Err(e) => {
                        let _ = done.send(Err(JoinError::Rejected(e)));
                    }
                }
            }
            Command::Push {
                channel,
                event,
                payload,
                timeout,
                done,
            } => {
                let pushed = match timeout {
                    Some(t) => ctx.push_with_timeout(channel, &event, payload, t),
                    None => ctx.push(channel, &event, payload),
                };
                match pushed {
                    Ok(push) => {
                        debug!(%channel, event = %event, %push, "push");
                        self.pushes.insert(push, done);
                    }
                    Err(e) => {
                        let _ = done.send(Err(PushError::Rejected(e)));
                    }
                }
            }
            Command::Leave { channel, done } => match ctx.leave(channel) {
                Ok(()) => {
                    if let Some(route) = self.routes.get_mut(&channel) {
                        route.leave_waiter = Some(done);
                    } else {
                        let _ = done.send(Ok(()));
                    }
                }
                Err(e) => {
                    let _ = done.send(Err(LeaveError::Rejected(e)));
                }
            },
            Command::Connect => return Action::Connect,
            Command::Disconnect => {
                ctx.disconnect();
                // While waiting to reconnect the core just cancels the
                // attempt, without an event: stop announcing it in the status.
                if ctx.socket().connection_state()
                    == (ConnectionState::Disconnected {
                        reconnecting: false,
                    })
                {
                    self.status.send_if_modified(|status| match status {
                        Status::Disconnected { reconnect_in, .. } if reconnect_in.is_some() => {
                            *reconnect_in = None;
                            true
                        }
                        _ => false,
                    });
                }
            }
        }
        Action::Continue
    }

    fn handle_call(&mut self, _ctx: &mut Context<'_>, _call: ()) -> ((), Action) {
        ((), Action::Continue)
    }
}

struct ClientInner {
    tx: mpsc::Sender<Inbox<Router>>,
    channel_capacity: usize,
    status: watch::Receiver<Status>,
    task: Mutex<Option<JoinHandle<Stopped>>>,
}

/// A Phoenix socket with the async API. Cheap to clone; every clone talks
/// to the same connection. `Send + Sync`.
///
/// The socket runs until [`shutdown`](Self::shutdown) or until the last
/// clone (and the last [`Channel`]) is dropped.
#[derive(Clone)]
pub struct Client {
    inner: Arc<ClientInner>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("status", &*self.inner.status.borrow())
            .finish()
    }
}

impl Client {
    pub(crate) fn new(
        tx: mpsc::Sender<Inbox<Router>>,
        status: watch::Receiver<Status>,
        task: JoinHandle<Stopped>,
        channel_capacity: usize,
    ) -> Self {
        Client {
            inner: Arc::new(ClientInner {
                tx,
                channel_capacity,
                status,
                task: Mutex::new(Some(task)),
            }),
        }
    }

    /// Connects to `endpoint` with the defaults (see [`Builder`]). Must be
    /// called inside a tokio runtime; returns at once.
    pub fn connect(endpoint: impl Into<String>) -> Client {
        Builder::new(endpoint).connect()
    }

    /// A [`Builder`] for `endpoint`.
    pub fn builder(endpoint: impl Into<String>) -> Builder {
        Builder::new(endpoint)
    }

    async fn send(&self, command: Command) -> Result<(), SocketGone> {
        self.inner
            .tx
            .send(Inbox::Info(command))
            .await
            .map_err(|_| SocketGone)
    }

    /// Watches the socket's status. Do not hold a `borrow()` of it across
    /// an `.await`: the socket's task waits for the borrow to end before it
    /// can publish a new status.
    pub fn status(&self) -> watch::Receiver<Status> {
        self.inner.status.clone()
    }

    /// Waits until the connection is open.
    ///
    /// # Errors
    /// [`SocketGone`] when the socket stops first.
    pub async fn connected(&self) -> Result<(), SocketGone> {
        let mut status = self.status();
        loop {
            match &*status.borrow_and_update() {
                Status::Connected => return Ok(()),
                Status::Stopped => return Err(SocketGone),
                _ => {}
            }
            status.changed().await.map_err(|_| SocketGone)?;
        }
    }

    /// A channel for `topic`, to be joined with `params` (any `Serialize`).
    pub fn channel<T: Serialize + ?Sized>(&self, topic: impl Into<String>, params: &T) -> Channel {
        self.channel_raw(topic, Payload::json(params))
    }

    /// A channel whose join payload is already a [`Payload`].
    pub fn channel_raw(
        &self,
        topic: impl Into<String>,
        params: Result<Payload<'static>, EncodeError>,
    ) -> Channel {
        let (tx, rx) = mpsc::channel(self.inner.channel_capacity);
        Channel {
            client: self.clone(),
            topic: topic.into().into(),
            params,
            shared: Arc::new(ChannelShared {
                id: Arc::new(OnceLock::new()),
                tx: Mutex::new(Some(tx)),
                rx: Mutex::new(Some(rx)),
                subscribed: Arc::new(AtomicBool::new(false)),
                socket: self.inner.tx.clone(),
            }),
        }
    }

    /// Reconnects if disconnected (also after [`disconnect`](Self::disconnect)).
    ///
    /// # Errors
    /// [`SocketGone`] when the socket has stopped.
    pub async fn reconnect(&self) -> Result<(), SocketGone> {
        self.send(Command::Connect).await
    }

    /// Closes the connection and stops reconnecting; channels rejoin after
    /// [`reconnect`](Self::reconnect).
    ///
    /// # Errors
    /// [`SocketGone`] when the socket has stopped.
    pub async fn disconnect(&self) -> Result<(), SocketGone> {
        self.send(Command::Disconnect).await
    }

    /// Closes the connection and stops the socket's task.
    pub async fn shutdown(&self) {
        let (tx, rx) = oneshot::channel();
        if self.inner.tx.send(Inbox::Stop(tx)).await.is_ok() {
            let _ = rx.await;
        }
        let task = self.inner.task.lock().ok().and_then(|mut t| t.take());
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

struct ChannelShared {
    id: Arc<OnceLock<ChannelId>>,
    tx: Mutex<Option<mpsc::Sender<ChannelEvent>>>,
    rx: Mutex<Option<mpsc::Receiver<ChannelEvent>>>,
    subscribed: Arc<AtomicBool>,
    /// The socket's inbox, to leave the channel when the last handle goes.
    socket: mpsc::Sender<Inbox<Router>>,
}

impl Drop for ChannelShared {
    /// The last [`Channel`] handle (and its [`ChannelEvents`]) is gone:
    /// nobody can push, leave or read any more, so leave the channel
    /// rather than keep it joined, and free its topic.
    fn drop(&mut self) {
        let Some(&channel) = self.id.get() else {
            return;
        };
        let (done, _ignored) = oneshot::channel();
        let leave = Inbox::Info(Command::Leave { channel, done });
        match self.socket.try_send(leave) {
            Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {}
            Err(mpsc::error::TrySendError::Full(leave)) => {
                // The queue is full: wait for room on the runtime, if any.
                if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                    let socket = self.socket.clone();
                    runtime.spawn(async move {
                        let _ = socket.send(leave).await;
                    });
                }
            }
        }
    }
}

/// One topic on a [`Client`]. Cheap to clone; `Send + Sync`.
///
/// Make it with [`Client::channel`], optionally take its
/// [`events`](Self::events) stream, then [`join`](Self::join). When the
/// last clone and its events stream are dropped, the channel is left.
#[derive(Clone)]
pub struct Channel {
    client: Client,
    topic: Arc<str>,
    params: Result<Payload<'static>, EncodeError>,
    shared: Arc<ChannelShared>,
}

impl fmt::Debug for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Channel")
            .field("topic", &self.topic)
            .field("id", &self.shared.id.get())
            .finish()
    }
}

impl Channel {
    /// The topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The stream of this channel's events. The first call takes it; later
    /// calls return `None`. Take it before [`join`](Self::join) to see every
    /// message. While nobody has taken it (or after it is dropped) the
    /// channel's events are not queued.
    pub fn events(&self) -> Option<ChannelEvents> {
        let rx = self.shared.rx.lock().ok()?.take()?;
        self.shared.subscribed.store(true, Ordering::Release);
        Some(ChannelEvents {
            rx,
            _channel: self.shared.clone(),
        })
    }

    /// Joins with the socket's default timeout and returns the server's
    /// response.
    ///
    /// The timeout runs from the moment the join is sent: while the socket
    /// is not connected the join waits for the connection (across
    /// reconnects), so bound the whole wait with `tokio::time::timeout` if
    /// the server may be unreachable. Dropping this future does not cancel
    /// the join: the handle keeps its channel and can still push or leave.
    ///
    /// # Errors
    /// [`JoinError`]: refused (with the server's response), timed out,
    /// closed, or rejected by the socket.
    pub async fn join(&self) -> Result<Payload<'static>, JoinError> {
        self.join_inner(None).await
    }

    /// [`join`](Self::join) with its own timeout (also used for this
    /// channel's rejoins and leave).
    ///
    /// # Errors
    /// As [`join`](Self::join).
    pub async fn join_with_timeout(
        &self,
        timeout: Duration,
    ) -> Result<Payload<'static>, JoinError> {
        self.join_inner(Some(timeout)).await
    }

    async fn join_inner(&self, timeout: Option<Duration>) -> Result<Payload<'static>, JoinError> {
        let payload = self.params.clone().map_err(JoinError::Encode)?;
        // Room in the queue first: if this future is dropped while waiting
        // for it, the handle has given nothing away and can still join.
        let Ok(permit) = self.client.inner.tx.reserve().await else {
            // The socket is gone: end this channel's events stream as well.
            drop(self.shared.tx.lock().ok().and_then(|mut tx| tx.take()));
            return Err(JoinError::SocketGone);
        };
        let events = self
            .shared
            .tx
            .lock()
            .ok()
            .and_then(|mut tx| tx.take())
            .ok_or(JoinError::AlreadyJoined)?;
        let (done_tx, done_rx) = oneshot::channel();
        permit.send(Inbox::Info(Command::Join {
            topic: self.topic.to_string(),
            payload,
            timeout,
            events,
            subscribed: self.shared.subscribed.clone(),
            id: self.shared.id.clone(),
            done: done_tx,
        }));
        done_rx.await.map_err(|_| JoinError::SocketGone)?
    }

    fn id(&self) -> Option<ChannelId> {
        self.shared.id.get().copied()
    }

    /// Pushes `event` with a JSON payload and returns the `ok` response
    /// deserialized into `R` (use `serde_json::Value` for anything).
    ///
    /// # Errors
    /// [`PushError::Status`] for any other status; timeouts, failures,
    /// encoding and decoding errors.
    pub async fn push<T, R>(&self, event: &str, payload: &T) -> Result<R, PushError>
    where
        T: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        let payload = Payload::json(payload).map_err(PushError::Encode)?;
        let reply = self.push_raw(event, payload).await?;
        if reply.status != "ok" {
            return Err(PushError::Status {
                status: reply.status,
                response: reply.response,
            });
        }
        reply.response.deserialize().map_err(PushError::Decode)
    }

    /// Pushes a raw payload (JSON or bytes) and returns the reply, whatever
    /// its status.
    ///
    /// # Errors
    /// Timeouts, failures and rejections as [`PushError`].
    pub async fn push_raw(
        &self,
        event: &str,
        payload: Payload<'static>,
    ) -> Result<Reply, PushError> {
        self.push_with_timeout(event, payload, None).await
    }

    /// Pushes bytes (a binary frame) and returns the reply.
    ///
    /// # Errors
    /// As [`push_raw`](Self::push_raw).
    pub async fn push_binary(
        &self,
        event: &str,
        bytes: impl Into<Vec<u8>>,
    ) -> Result<Reply, PushError> {
        self.push_raw(event, Payload::binary(bytes)).await
    }

    /// [`push_raw`](Self::push_raw) with its own timeout (`None`: the socket's default).
    ///
    /// # Errors
    /// As [`push_raw`](Self::push_raw).
    pub async fn push_with_timeout(
        &self,
        event: &str,
        payload: Payload<'static>,
        timeout: Option<Duration>,
    ) -> Result<Reply, PushError> {
        let channel = self.id().ok_or(PushError::NotJoined)?;
        let (tx, rx) = oneshot::channel();
        self.client
            .send(Command::Push {
                channel,
                event: event.to_owned(),
                payload,
                timeout,
                done: tx,
            })
            .await
            .map_err(|_| PushError::SocketGone)?;
        match rx.await.map_err(|_| PushError::SocketGone)?? {
            PushOutcome::Reply { status, response } => Ok(Reply { status, response }),
            PushOutcome::Timeout => Err(PushError::Timeout),
            PushOutcome::Failed(failure) => Err(PushError::Failed(failure)),
            _ => Err(PushError::Timeout),
        }
    }

    /// Sends a push without waiting for its outcome, for events the server
    /// does not answer. The push still times out inside the socket; its
    /// outcome is discarded.
    ///
    /// # Errors
    /// [`PushError::NotJoined`] or [`PushError::SocketGone`].
    pub async fn cast(&self, event: &str, payload: Payload<'static>) -> Result<(), PushError> {
        let channel = self.id().ok_or(PushError::NotJoined)?;
        let (tx, _discarded) = oneshot::channel();
        self.client
            .send(Command::Push {
                channel,
                event: event.to_owned(),
                payload,
                timeout: None,
                done: tx,
            })
            .await
            .map_err(|_| PushError::SocketGone)
    }

    /// Leaves the channel and waits until it is closed.
    ///
    /// # Errors
    /// [`LeaveError`] when the channel never joined, is already closed, or
    /// the socket has stopped.
    pub async fn leave(&self) -> Result<(), LeaveError> {
        let channel = self.id().ok_or(LeaveError::NotJoined)?;
        let (tx, rx) = oneshot::channel();
        self.client
            .send(Command::Leave { channel, done: tx })
            .await
            .map_err(|_| LeaveError::SocketGone)?;
        rx.await.map_err(|_| LeaveError::SocketGone)?
    }
}

/// A channel's events, in order. Ends after [`ChannelEvent::Closed`].
///
/// It keeps the channel alive like a [`Channel`] handle does: the channel
/// is left when the last handle and its stream are dropped.
pub struct ChannelEvents {
    rx: mpsc::Receiver<ChannelEvent>,
    _channel: Arc<ChannelShared>,
}

impl fmt::Debug for ChannelEvents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChannelEvents")
            .field("queued", &self.rx.len())
            .finish_non_exhaustive()
    }
}

impl ChannelEvents {
    /// The next event, or `None` once the channel is closed.
    pub async fn recv(&mut self) -> Option<ChannelEvent> {
        self.rx.recv().await
    }
}

impl Stream for ChannelEvents {
    type Item = ChannelEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}
