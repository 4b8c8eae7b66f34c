//! The client state machine.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::codec::{
    EncodeError, HEARTBEAT, Message, PHOENIX_TOPIC, PHX_CLOSE, PHX_ERROR, PHX_JOIN, PHX_LEAVE,
    PHX_REPLY, Payload, Reply, ServerFrame, WireRef,
};
use crate::url::{Transport, auth_token_protocols, connection_url};

use super::channel::{Channel, ChannelState};
use super::config::{Config, Secret};
use super::error::{JoinError, LeaveError, PushError};
use super::event::{
    ChannelCloseReason, ChannelErrorReason, DisconnectReason, Event, PushFailure, PushOutcome,
};
use super::ids::{ChannelId, PushId};
use super::rng::Rng;
use super::timers::{Timer, Timers};
use super::transmit::{ConnectRequest, Transmit};

/// Where the connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionState {
    /// No connection. `reconnecting` says whether an attempt is scheduled
    /// or will be (false after [`Socket::disconnect`] or when the schedule
    /// gave up).
    Disconnected {
        /// Whether the socket will try again by itself.
        reconnecting: bool,
    },
    /// A [`Transmit::Connect`] was issued; waiting for the driver's report.
    Connecting,
    /// The connection is open.
    Connected,
}

/// Why the driver could not open a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectFailure {
    /// The HTTP status when the server answered the upgrade with one.
    pub status: Option<u16>,
    /// The server's `Retry-After`, parsed, when present.
    pub retry_after: Option<Duration>,
    /// A description for people.
    pub message: String,
}

/// The instant `delay` after `now`, at least a millisecond later: a timer
/// never fires in the same `handle_timeout` call that set it, so a zero
/// timeout or a zero backoff step cannot make the machine spin.
fn after(now: Instant, delay: Duration) -> Instant {
    now + delay.max(Duration::from_millis(1))
}

/// What a ref in flight stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RefTarget {
    Heartbeat,
    Join(ChannelId),
    Leave(ChannelId),
    Push(PushId),
    /// A leave sent after a join timeout: its reply means nothing.
    Ignore,
}

#[derive(Debug)]
struct Push {
    channel: ChannelId,
    event: String,
    /// Kept until the push is sent.
    payload: Option<Payload<'static>>,
    deadline: Option<Instant>,
    /// The ref and join_ref it went out with.
    sent: Option<(u64, u64)>,
}

/// The Phoenix Channels client as a deterministic state machine.
///
/// It never reads a clock, sleeps, spawns or touches a socket: every input
/// carries `now`, and every effect is an output the driver drains.
///
/// # Methods
/// * **Commands** from the application: [`connect`](Self::connect),
///   [`disconnect`](Self::disconnect), [`join`](Self::join),
///   [`leave`](Self::leave), [`push`](Self::push),
///   [`reconnect_with`](Self::reconnect_with).
/// * **Inputs** from the driver: [`handle_connected`](Self::handle_connected),
///   [`handle_message`](Self::handle_message),
///   [`handle_closed`](Self::handle_closed),
///   [`handle_connect_failed`](Self::handle_connect_failed),
///   [`handle_timeout`](Self::handle_timeout).
/// * **Outputs**: [`poll_transmit`](Self::poll_transmit) (what to do on the
///   wire), [`poll_event`](Self::poll_event) (what to tell the application),
///   [`poll_timeout`](Self::poll_timeout) (when to call `handle_timeout`).
///
/// # Drain order
/// After **every** command or input, the driver drains, in this order:
/// 1. `poll_transmit` until `None`, carrying out each instruction in order
///    (a `Connect` replaces the connection; a `Close` ends it);
/// 2. `poll_event` until `None`, handing each event to the application
///    (which may issue commands: drain again after them);
/// 3. `poll_timeout`, then waits until that instant, a message from the
///    connection, or a command, whichever comes first, and on a deadline calls
///    `handle_timeout` with the current time.
///
/// ```
/// use std::time::{Duration, Instant};
/// use phoenix_proto::client::{Config, Event, Socket, Transmit};
/// use phoenix_proto::codec::{Payload, WireMessage, WireRef};
///
/// let mut socket = Socket::new(Config::new("ws://127.0.0.1:4000/socket"));
/// let start = Instant::now();
/// socket.connect(start);
/// let Some(Transmit::Connect(request)) = socket.poll_transmit() else { unreachable!() };
/// assert_eq!(request.url, "ws://127.0.0.1:4000/socket/websocket?vsn=2.0.0");
///
/// // The driver opened the WebSocket.
/// socket.handle_connected(start);
/// let lobby = socket.join(start, "room:lobby", Payload::empty())?;
/// let Some(Transmit::Send(WireMessage::Text(join))) = socket.poll_transmit() else { unreachable!() };
/// assert_eq!(join, r#"["1","1","room:lobby","phx_join",{}]"#);
///
/// // The server answered.
/// let reply = r#"["1","1","room:lobby","phx_reply",{"response":{},"status":"ok"}]"#;
/// socket.handle_message(start, WireRef::Text(reply));
/// assert_eq!(socket.poll_event(), Some(Event::Connected));
/// assert!(matches!(socket.poll_event(), Some(Event::Joined { channel, .. }) if channel == lobby));
///
/// // Nothing else to do until the heartbeat is due.
/// assert_eq!(socket.poll_timeout(), Some(start + Duration::from_secs(30)));
/// # Ok::<(), phoenix_proto::client::JoinError>(())
/// ```
#[derive(Debug)]
pub struct Socket {
    config: Config,
    state: ConnectionState,
    next_ref: u64,
    next_channel: u64,
    next_push: u64,
    channels: BTreeMap<ChannelId, Channel>,
    topics: BTreeMap<Arc<str>, ChannelId>,
    pushes: BTreeMap<PushId, Push>,
    refs: HashMap<u64, RefTarget>,
    heartbeat_pending: Option<u64>,
    heartbeat_deadline: Option<Instant>,
    reconnect_deadline: Option<Instant>,
    reconnect_attempts: u32,
    timers: Timers,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    rng: Rng,
}

impl Socket {
    /// A socket that is not connected yet; call [`connect`](Self::connect).
    pub fn new(config: Config) -> Self {
        let rng = Rng::new(config.rng_seed);
        Socket {
            config,
            state: ConnectionState::Disconnected {
                reconnecting: false,
            },
            next_ref: 0,
            next_channel: 0,
            next_push: 0,
            channels: BTreeMap::new(),
            topics: BTreeMap::new(),
            pushes: BTreeMap::new(),
            refs: HashMap::new(),
            heartbeat_pending: None,
            heartbeat_deadline: None,
            reconnect_deadline: None,
            reconnect_attempts: 0,
            timers: Timers::default(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            rng,
        }
    }

    // ----- getters -------------------------------------------------------

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Where the connection is.
    pub fn connection_state(&self) -> ConnectionState {
        self.state
    }

    /// Whether the connection is open.
    pub fn is_connected(&self) -> bool {
        self.state == ConnectionState::Connected
    }

    /// A channel's state, or `None` once it is closed.
    pub fn channel_state(&self, channel: ChannelId) -> Option<ChannelState> {
        self.channels.get(&channel).map(|c| c.state)
    }

    /// A channel's topic, or `None` once it is closed.
    pub fn channel_topic(&self, channel: ChannelId) -> Option<&Arc<str>> {
        self.channels.get(&channel).map(|c| &c.topic)
    }

    /// The live channel on `topic`, if any.
    pub fn channel_for_topic(&self, topic: &str) -> Option<ChannelId> {
        self.topics.get(topic).copied()
    }

    /// How many pushes await an outcome.
    pub fn pending_pushes(&self) -> usize {
        self.pushes.len()
    }

    /// The request the next connection attempt will use (built from the
    /// current endpoint, params and auth token).
    pub fn connect_request(&self) -> ConnectRequest {
        let params: Vec<(&str, &str)> = self
            .config
            .params
            .iter()
            .map(|(k, v)| (k.as_str(), v.expose()))
            .collect();
        let url = connection_url(
            &self.config.endpoint,
            &params,
            self.config.serializer.vsn(),
            Transport::WebSocket,
        )
        // An endpoint that cannot make a URL is passed through as it is;
        // the driver's connect fails and reports it like any bad address.
        .unwrap_or_else(|_| self.config.endpoint.clone());
        let subprotocols = match &self.config.auth_token {
            Some(token) => auth_token_protocols(token.expose())
                .into_iter()
                .map(Secret::new)
                .collect(),
            None => Vec::new(),
        };
        ConnectRequest {
            url,
            headers: self.config.headers.clone(),
            subprotocols,
            attempt: self.reconnect_attempts + 1,
        }
    }

    // ----- outputs -------------------------------------------------------

    /// Whether transmits or events are waiting to be polled.
    pub fn has_output(&self) -> bool {
        !self.transmits.is_empty() || !self.events.is_empty()
    }

    /// The next thing to do on the wire.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next.
    /// After `handle_timeout(now)` this is never at or before `now`.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    // ----- commands ------------------------------------------------------

    /// Starts connecting, unless a connection is open or being opened.
    /// Cancels a scheduled reconnect and re-enables reconnecting after
    /// [`disconnect`](Self::disconnect).
    pub fn connect(&mut self, _now: Instant) {
        if let ConnectionState::Disconnected { .. } = self.state {
            self.timers
                .cancel(&mut self.reconnect_deadline, Timer::Reconnect);
            self.start_connect();
        }
    }

    /// Closes the connection and stops reconnecting. Channels stay and
    /// rejoin on the next [`connect`](Self::connect); pushes waiting for a
    /// join keep their timeouts.
    pub fn disconnect(&mut self, now: Instant) {
        match self.state {
            ConnectionState::Connected | ConnectionState::Connecting => {
                self.transmits.push_back(Transmit::Close {
                    code: 1000,
                    reason: "client disconnect".to_owned(),
                });
                self.connection_lost(now, DisconnectReason::Requested);
            }
            ConnectionState::Disconnected { .. } => {
                self.timers
                    .cancel(&mut self.reconnect_deadline, Timer::Reconnect);
                self.state = ConnectionState::Disconnected {
                    reconnecting: false,
                };
            }
        }
    }

    /// Changes the endpoint and/or the query parameters (a refreshed token,
    /// say) and reconnects with them now: the original library's
    /// `{:connect, url, params, state}`.
    pub fn reconnect_with(
        &mut self,
        now: Instant,
        endpoint: Option<String>,
        params: Option<Vec<(String, Secret)>>,
    ) {
        if let Some(endpoint) = endpoint {
            self.config.endpoint = endpoint;
        }
        if let Some(params) = params {
            self.config.params = params;
        }
        if !matches!(self.state, ConnectionState::Disconnected { .. }) {
            self.transmits.push_back(Transmit::Close {
                code: 1000,
                reason: "reconnecting".to_owned(),
            });
            self.connection_lost(now, DisconnectReason::Reconfigured);
        }
        self.timers
            .cancel(&mut self.reconnect_deadline, Timer::Reconnect);
        self.start_connect();
    }

    /// Replaces the query parameters used from the next connection attempt on.
    pub fn set_params(&mut self, params: Vec<(String, Secret)>) {
        self.config.params = params;
    }

    /// Replaces the auth token used from the next connection attempt on.
    pub fn set_auth_token(&mut self, token: Option<Secret>) {
        self.config.auth_token = token;
    }

    /// Joins `topic` with the default timeout. The join is sent now if the
    /// connection is open, else as soon as it opens. Its outcome arrives as
    /// [`Event::Joined`] or [`Event::JoinRefused`].
    ///
    /// # Errors
    /// [`JoinError::AlreadyJoined`] when the topic has a live channel on this
    /// socket; [`JoinError::InvalidTopic`] for an empty or reserved topic;
    /// [`JoinError::BinaryPayload`] for a binary join payload.
    pub fn join(
        &mut self,
        now: Instant,
        topic: &str,
        payload: Payload<'static>,
    ) -> Result<ChannelId, JoinError> {
        let timeout = self.config.default_timeout;
        self.join_with_timeout(now, topic, payload, timeout)
    }

    /// [`join`](Self::join) with a timeout for this channel's joins and leaves.
    ///
    /// # Errors
    /// As [`join`](Self::join).
    pub fn join_with_timeout(
        &mut self,
        now: Instant,
        topic: &str,
        payload: Payload<'static>,
        timeout: Duration,
    ) -> Result<ChannelId, JoinError> {
        if topic.is_empty() || topic == PHOENIX_TOPIC {
            return Err(JoinError::InvalidTopic);
        }
        if payload.is_binary() {
            return Err(JoinError::BinaryPayload);
        }
        if let Some(&channel) = self.topics.get(topic) {
            return Err(JoinError::AlreadyJoined { channel });
        }
        self.next_channel += 1;
        let id = ChannelId(self.next_channel);
        let topic: Arc<str> = Arc::from(topic);
        self.topics.insert(topic.clone(), id);
        self.channels
            .insert(id, Channel::new(topic, payload, timeout));
        if self.is_connected() {
            self.send_join(now, id);
        }
        Ok(id)
    }

    /// Leaves a channel. When the connection is open and the server knows
    /// the channel, a `phx_leave` is sent and [`Event::ChannelClosed`]
    /// follows its reply (or the channel's timeout); otherwise the channel
    /// closes at once. Pushes still waiting for the join fail.
    ///
    /// # Errors
    /// [`LeaveError::ChannelClosed`] for an unknown channel,
    /// [`LeaveError::AlreadyLeaving`] when a leave is under way.
    pub fn leave(&mut self, now: Instant, channel: ChannelId) -> Result<(), LeaveError> {
        let connected = self.is_connected();
        let Some(ch) = self.channels.get(&channel) else {
            return Err(LeaveError::ChannelClosed);
        };
        if ch.state == ChannelState::Leaving {
            return Err(LeaveError::AlreadyLeaving);
        }
        let server_knows = connected
            && ch.join_sent()
            && matches!(ch.state, ChannelState::Joining | ChannelState::Joined);
        if !server_knows {
            self.close_channel(
                channel,
                ChannelCloseReason::Left,
                PushFailure::ChannelClosed,
            );
            return Ok(());
        }
        let Some(ch) = self.channels.get_mut(&channel) else {
            return Err(LeaveError::ChannelClosed);
        };
        ch.state = ChannelState::Leaving;
        let held: Vec<PushId> = ch.held.drain(..).collect();
        let join_ref = ch.join_ref;
        let topic = ch.topic.clone();
        let timeout = ch.timeout;
        self.timers
            .cancel(&mut ch.rejoin_deadline, Timer::Rejoin(channel));
        self.timers.set(
            &mut ch.reply_deadline,
            Timer::ChannelReply(channel),
            after(now, timeout),
        );
        for push in held {
            self.finish_push(push, PushOutcome::Failed(PushFailure::ChannelClosed));
        }
        let msg_ref = self.take_ref(RefTarget::Leave(channel));
        if let Some(ch) = self.channels.get_mut(&channel) {
            ch.leave_ref = Some(msg_ref);
        }
        // A leave's payload is always `{}`, which every format encodes.
        let _ = self.send(join_ref, msg_ref, &topic, PHX_LEAVE, &Payload::empty());
        Ok(())
    }

    /// Pushes `event` with `payload` on a channel, with the default timeout.
    /// Sent now if the channel is joined and the connection open; otherwise
    /// held until the join succeeds. The outcome arrives exactly once as
    /// [`Event::PushDone`].
    ///
    /// # Errors
    /// [`PushError`] when the push is refused at once (closed or leaving
    /// channel, reserved event, encoding failure); no event follows then.
    pub fn push(
        &mut self,
        now: Instant,
        channel: ChannelId,
        event: &str,
        payload: Payload<'static>,
    ) -> Result<PushId, PushError> {
        let timeout = self.config.default_timeout;
        self.push_with_timeout(now, channel, event, payload, timeout)
    }

    /// [`push`](Self::push) with its own timeout, which bounds the whole
    /// wait: time held for a join plus time waiting for the reply.
    ///
    /// # Errors
    /// As [`push`](Self::push).
    pub fn push_with_timeout(
        &mut self,
        now: Instant,
        channel: ChannelId,
        event: &str,
        payload: Payload<'static>,
        timeout: Duration,
    ) -> Result<PushId, PushError> {
        if [PHX_JOIN, PHX_LEAVE, PHX_REPLY, PHX_CLOSE, PHX_ERROR].contains(&event) {
            return Err(PushError::ReservedEvent);
        }
        let connected = self.is_connected();
        let Some(ch) = self.channels.get_mut(&channel) else {
            return Err(PushError::ChannelClosed);
        };
        if ch.state == ChannelState::Leaving {
            return Err(PushError::ChannelLeaving);
        }
        if self.pushes.len() >= self.config.max_pending_pushes {
            return Err(PushError::TooManyPending {
                limit: self.config.max_pending_pushes,
            });
        }
        self.next_push += 1;
        let id = PushId(self.next_push);
        let send_now = connected && ch.state == ChannelState::Joined;
        if !send_now {
            ch.held.push_back(id);
        }
        let mut push = Push {
            channel,
            event: event.to_owned(),
            payload: Some(payload),
            deadline: None,
            sent: None,
        };
        self.timers
            .set(&mut push.deadline, Timer::Push(id), after(now, timeout));
        self.pushes.insert(id, push);
        if send_now {
            if let Err(e) = self.send_push(id) {
                if let Some(mut push) = self.pushes.remove(&id) {
                    self.timers.cancel(&mut push.deadline, Timer::Push(id));
                }
                return Err(PushError::Encode(e));
            }
        }
        Ok(id)
    }

    // ----- inputs --------------------------------------------------------

    /// The driver opened the connection requested by the last
    /// [`Transmit::Connect`].
    pub fn handle_connected(&mut self, now: Instant) {
        if self.state != ConnectionState::Connecting {
            return;
        }
        self.state = ConnectionState::Connected;
        self.events.push_back(Event::Connected);
        if let Some(interval) = self.config.heartbeat_interval {
            self.timers.set(
                &mut self.heartbeat_deadline,
                Timer::Heartbeat,
                after(now, interval),
            );
        }
        let waiting: Vec<ChannelId> = self
            .channels
            .iter()
            .filter(|(_, c)| matches!(c.state, ChannelState::Joining | ChannelState::Errored))
            .map(|(id, _)| *id)
            .collect();
        for id in waiting {
            if let Some(ch) = self.channels.get_mut(&id) {
                ch.rejoin_attempts = 0;
            }
            self.send_join(now, id);
        }
    }

    /// The connection failed to open: refused upgrade (with the HTTP
    /// status), DNS, TCP or TLS failure.
    pub fn handle_connect_failed(&mut self, now: Instant, failure: ConnectFailure) {
        if self.state != ConnectionState::Connecting {
            return;
        }
        let reason = match failure.status {
            Some(status) => DisconnectReason::Refused {
                status,
                retry_after: failure.retry_after,
            },
            None => DisconnectReason::TransportError {
                message: failure.message,
            },
        };
        self.connection_lost(now, reason);
    }

    /// The open connection closed: with a close frame (`code`), or without
    /// one (`code: None`, the TCP connection ended).
    pub fn handle_closed(&mut self, now: Instant, code: Option<u16>, reason: &str) {
        if self.state == ConnectionState::Connected {
            self.connection_lost(
                now,
                DisconnectReason::Closed {
                    code,
                    reason: reason.to_owned(),
                },
            );
        }
    }

    /// The open connection failed (read or write error, protocol violation).
    pub fn handle_transport_error(&mut self, now: Instant, message: &str) {
        if self.state == ConnectionState::Connected {
            self.connection_lost(
                now,
                DisconnectReason::TransportError {
                    message: message.to_owned(),
                },
            );
        }
    }

    /// A whole WebSocket message arrived on the open connection.
    pub fn handle_message(&mut self, now: Instant, message: WireRef<'_>) {
        if self.state != ConnectionState::Connected {
            return;
        }
        let serializer = self.config.serializer.clone();
        match serializer.decode(message) {
            Ok(ServerFrame::Reply(reply)) => self.on_reply(now, reply),
            Ok(ServerFrame::Message(message)) => self.on_message(now, message),
            Err(error) => self.events.push_back(Event::MalformedFrame { error }),
        }
    }

    /// Runs every deadline at or before `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(timer) = self.timers.pop_due(now) {
            match timer {
                Timer::Heartbeat => {
                    self.heartbeat_deadline = None;
                    self.on_heartbeat_due(now);
                }
                Timer::Reconnect => {
                    self.reconnect_deadline = None;
                    if self.state == (ConnectionState::Disconnected { reconnecting: true }) {
                        self.start_connect();
                    }
                }
                Timer::Rejoin(id) => {
                    let Some(ch) = self.channels.get_mut(&id) else {
                        continue;
                    };
                    ch.rejoin_deadline = None;
                    if ch.state == ChannelState::Errored && self.state == ConnectionState::Connected
                    {
                        self.send_join(now, id);
                    }
                }
                Timer::ChannelReply(id) => self.on_channel_reply_timeout(now, id),
                Timer::Push(id) => {
                    if let Some(push) = self.pushes.get_mut(&id) {
                        push.deadline = None;
                    }
                    self.finish_push(id, PushOutcome::Timeout);
                }
            }
        }
    }

    // ----- internals -----------------------------------------------------

    fn take_ref(&mut self, target: RefTarget) -> u64 {
        self.next_ref += 1;
        self.refs.insert(self.next_ref, target);
        self.next_ref
    }

    fn send(
        &mut self,
        join_ref: Option<u64>,
        msg_ref: u64,
        topic: &str,
        event: &str,
        payload: &Payload<'_>,
    ) -> Result<(), EncodeError> {
        let message = Message {
            join_ref: join_ref.map(|r| r.to_string().into()),
            msg_ref: Some(msg_ref.to_string().into()),
            topic: topic.into(),
            event: event.into(),
            payload: match payload {
                Payload::Json(raw) => Payload::Json(std::borrow::Cow::Borrowed(raw)),
                Payload::Binary(bytes) => Payload::Binary(std::borrow::Cow::Borrowed(bytes)),
            },
        };
        let wire = self.config.serializer.encode(&message)?;
        self.transmits.push_back(Transmit::Send(wire));
        Ok(())
    }

    fn start_connect(&mut self) {
        self.state = ConnectionState::Connecting;
        let request = self.connect_request();
        self.transmits.push_back(Transmit::Connect(request));
    }

    fn send_join(&mut self, now: Instant, id: ChannelId) {
        let msg_ref = self.take_ref(RefTarget::Join(id));
        let Some(ch) = self.channels.get_mut(&id) else {
            return;
        };
        if let Some(old) = ch.join_ref.take() {
            self.refs.remove(&old);
        }
        ch.set_join_ref(Some(msg_ref));
        ch.state = ChannelState::Joining;
        self.timers
            .cancel(&mut ch.rejoin_deadline, Timer::Rejoin(id));
        self.timers.set(
            &mut ch.reply_deadline,
            Timer::ChannelReply(id),
            after(now, ch.timeout),
        );
        let topic = ch.topic.clone();
        let payload = ch.join_payload.clone();
        // join() refuses binary payloads, and JSON always encodes.
        let _ = self.send(Some(msg_ref), msg_ref, &topic, PHX_JOIN, &payload);
    }

    fn send_push(&mut self, id: PushId) -> Result<(), EncodeError> {
        let Some(push) = self.pushes.get(&id) else {
            return Ok(());
        };
        let Some(ch) = self.channels.get(&push.channel) else {
            return Ok(());
        };
        let Some(join_ref) = ch.join_ref else {
            return Ok(());
        };
        let topic = ch.topic.clone();
        let event = push.event.clone();
        let payload = push.payload.clone().unwrap_or_else(Payload::empty);
        let msg_ref = self.take_ref(RefTarget::Push(id));
        match self.send(Some(join_ref), msg_ref, &topic, &event, &payload) {
            Ok(()) => {
                if let Some(push) = self.pushes.get_mut(&id) {
                    push.payload = None;
                    push.sent = Some((msg_ref, join_ref));
                }
                Ok(())
            }
            Err(e) => {
                self.refs.remove(&msg_ref);
                Err(e)
            }
        }
    }

    /// Ends a push with `outcome`, once: removes it from every index.
    fn finish_push(&mut self, id: PushId, outcome: PushOutcome) {
        let Some(mut push) = self.pushes.remove(&id) else {
            return;
        };
        self.timers.cancel(&mut push.deadline, Timer::Push(id));
        if let Some((msg_ref, _)) = push.sent {
            self.refs.remove(&msg_ref);
        } else if let Some(ch) = self.channels.get_mut(&push.channel) {
            ch.held.retain(|held| *held != id);
        }
        self.events.push_back(Event::PushDone {
            push: id,
            channel: push.channel,
            outcome,
        });
    }

    /// Fails every push of `channel` that was sent and not answered.
    fn fail_sent_pushes(&mut self, channel: Option<ChannelId>, failure: &PushFailure) {
        let sent: Vec<PushId> = self
            .pushes
            .iter()
            .filter(|(_, p)| p.sent.is_some() && channel.is_none_or(|c| p.channel == c))
            .map(|(id, _)| *id)
            .collect();
        for id in sent {
            self.finish_push(id, PushOutcome::Failed(failure.clone()));
        }
    }

    fn close_channel(&mut self, id: ChannelId, reason: ChannelCloseReason, failure: PushFailure) {
        let Some(mut ch) = self.channels.remove(&id) else {
            return;
        };
        self.topics.remove(&ch.topic);
        self.timers
            .cancel(&mut ch.rejoin_deadline, Timer::Rejoin(id));
        self.timers
            .cancel(&mut ch.reply_deadline, Timer::ChannelReply(id));
        for msg_ref in [ch.join_ref, ch.leave_ref].into_iter().flatten() {
            self.refs.remove(&msg_ref);
        }
        let held: Vec<PushId> = ch.held.drain(..).collect();
        // The channel is gone from the map, so finish_push will not look for it.
        for push in held {
            self.finish_push(push, PushOutcome::Failed(failure.clone()));
        }
        self.fail_sent_pushes(Some(id), &failure);
        self.events.push_back(Event::ChannelClosed {
            channel: id,
            topic: ch.topic,
            reason,
        });
    }

    /// Puts a channel in `Errored` and schedules its rejoin when connected.
    fn error_channel(&mut self, now: Instant, id: ChannelId, reason: ChannelErrorReason) {
        let Some(ch) = self.channels.get_mut(&id) else {
            return;
        };
        ch.state = ChannelState::Errored;
        if let Some(join_ref) = ch.join_ref {
            self.refs.remove(&join_ref);
        }
        ch.set_join_ref(None);
        self.timers
            .cancel(&mut ch.reply_deadline, Timer::ChannelReply(id));
        let topic = ch.topic.clone();
        self.events.push_back(Event::ChannelErrored {
            channel: id,
            topic,
            reason,
        });
        if self.is_connected() {
            self.schedule_rejoin(now, id);
        }
    }

    fn schedule_rejoin(&mut self, now: Instant, id: ChannelId) {
        let random = self.rng.next_f64();
        let Some(ch) = self.channels.get_mut(&id) else {
            return;
        };
        ch.rejoin_attempts = ch.rejoin_attempts.saturating_add(1);
        match self.config.rejoin.delay(ch.rejoin_attempts, random) {
            Some(delay) => {
                self.timers.set(
                    &mut ch.rejoin_deadline,
                    Timer::Rejoin(id),
                    after(now, delay),
                );
            }
            None => {
                self.close_channel(id, ChannelCloseReason::GaveUp, PushFailure::ChannelClosed);
            }
        }
    }

    fn connection_lost(&mut self, now: Instant, reason: DisconnectReason) {
        let requested = reason == DisconnectReason::Requested;
        self.timers
            .cancel(&mut self.heartbeat_deadline, Timer::Heartbeat);
        self.heartbeat_pending = None;
        self.refs.clear();
        // reconnect_with connects again at once: not a failed attempt, no timer.
        let reconfigured = reason == DisconnectReason::Reconfigured;
        let mut reconnect_in = reconfigured.then_some(Duration::ZERO);
        if !requested && !reconfigured {
            self.reconnect_attempts = self.reconnect_attempts.saturating_add(1);
            let random = self.rng.next_f64();
            let retry_after = match &reason {
                DisconnectReason::Refused { retry_after, .. } => *retry_after,
                _ => None,
            };
            reconnect_in = self
                .config
                .reconnect
                .delay(self.reconnect_attempts, random)
                .map(|delay| retry_after.map_or(delay, |ra| delay.max(ra)));
        }
        self.state = ConnectionState::Disconnected {
            reconnecting: reconnect_in.is_some(),
        };
        if let Some(delay) = reconnect_in.filter(|_| !reconfigured) {
            self.timers.set(
                &mut self.reconnect_deadline,
                Timer::Reconnect,
                after(now, delay),
            );
        }
        self.events.push_back(Event::Disconnected {
            reason,
            reconnect_in,
        });
        self.fail_sent_pushes(None, &PushFailure::ConnectionLost);
        let ids: Vec<ChannelId> = self.channels.keys().copied().collect();
        for id in ids {
            let Some(ch) = self.channels.get_mut(&id) else {
                continue;
            };
            match ch.state {
                ChannelState::Leaving => {
                    // The server channel dies with the connection.
                    self.close_channel(id, ChannelCloseReason::Left, PushFailure::ChannelClosed);
                }
                ChannelState::Joined => {
                    self.error_channel(now, id, ChannelErrorReason::ConnectionLost);
                }
                ChannelState::Joining if ch.join_sent() => {
                    self.error_channel(now, id, ChannelErrorReason::ConnectionLost);
                }
                ChannelState::Joining | ChannelState::Errored => {
                    self.timers
                        .cancel(&mut ch.rejoin_deadline, Timer::Rejoin(id));
                }
            }
        }
    }

    fn on_heartbeat_due(&mut self, now: Instant) {
        if self.state != ConnectionState::Connected {
            return;
        }
        if self.heartbeat_pending.is_some() {
            self.transmits.push_back(Transmit::Close {
                code: 1000,
                reason: "heartbeat timeout".to_owned(),
            });
            self.connection_lost(now, DisconnectReason::HeartbeatTimeout);
            return;
        }
        let msg_ref = self.take_ref(RefTarget::Heartbeat);
        self.heartbeat_pending = Some(msg_ref);
        // `{}` always encodes.
        let _ = self.send(None, msg_ref, PHOENIX_TOPIC, HEARTBEAT, &Payload::empty());
        if let Some(interval) = self.config.heartbeat_interval {
            self.timers.set(
                &mut self.heartbeat_deadline,
                Timer::Heartbeat,
                after(now, interval),
            );
        }
    }

    fn on_channel_reply_timeout(&mut self, now: Instant, id: ChannelId) {
        let Some(ch) = self.channels.get_mut(&id) else {
            return;
        };
        ch.reply_deadline = None;
        match ch.state {
            ChannelState::Leaving => {
                self.close_channel(id, ChannelCloseReason::Left, PushFailure::ChannelClosed);
            }
            ChannelState::Joining => {
                // Tell the server to drop the join if it ever completes, as
                // the official client does, then retry on the rejoin schedule.
                let join_ref = ch.join_ref;
                let topic = ch.topic.clone();
                self.error_channel(now, id, ChannelErrorReason::JoinTimeout);
                if self.is_connected() {
                    let msg_ref = self.take_ref(RefTarget::Ignore);
                    let _ = self.send(join_ref, msg_ref, &topic, PHX_LEAVE, &Payload::empty());
                }
            }
            ChannelState::Joined | ChannelState::Errored => {}
        }
    }

    fn on_reply(&mut self, now: Instant, reply: Reply<'_>) {
        let Some(msg_ref) = reply.msg_ref.as_deref().and_then(|r| r.parse::<u64>().ok()) else {
            return;
        };
        let Some(target) = self.refs.get(&msg_ref).copied() else {
            // A late reply to something that already timed out or failed.
            return;
        };
        match target {
            RefTarget::Heartbeat => {
                if reply.topic == PHOENIX_TOPIC && self.heartbeat_pending == Some(msg_ref) {
                    self.refs.remove(&msg_ref);
                    self.heartbeat_pending = None;
                    self.reconnect_attempts = 0;
                }
            }
            RefTarget::Ignore => {
                self.refs.remove(&msg_ref);
            }
            RefTarget::Join(id) => self.on_join_reply(now, id, msg_ref, reply),
            RefTarget::Leave(id) => {
                let accepted = self.channels.get(&id).is_some_and(|c| {
                    *c.topic == *reply.topic && c.accepts(reply.join_ref.as_deref())
                });
                if accepted {
                    self.refs.remove(&msg_ref);
                    self.close_channel(id, ChannelCloseReason::Left, PushFailure::ChannelClosed);
                } else if !self.channels.contains_key(&id) {
                    // A late answer to the leave of a channel already gone.
                    self.refs.remove(&msg_ref);
                }
            }
            RefTarget::Push(id) => {
                let Some(push) = self.pushes.get(&id) else {
                    return;
                };
                let current = self.channels.get(&push.channel).is_some_and(|c| {
                    *c.topic == *reply.topic
                        && match reply.join_ref.as_deref() {
                            None => true,
                            Some(jr) => push
                                .sent
                                .is_some_and(|(_, sent_jr)| jr.parse::<u64>() == Ok(sent_jr)),
                        }
                });
                if current {
                    self.finish_push(
                        id,
                        PushOutcome::Reply {
                            status: reply.status.into_owned(),
                            response: reply.response.into_owned(),
                        },
                    );
                }
            }
        }
    }

    fn on_join_reply(&mut self, now: Instant, id: ChannelId, msg_ref: u64, reply: Reply<'_>) {
        let Some(ch) = self.channels.get_mut(&id) else {
            return;
        };
        if ch.state != ChannelState::Joining
            || ch.join_ref != Some(msg_ref)
            || *ch.topic != *reply.topic
            || !ch.accepts(reply.join_ref.as_deref())
        {
            return;
        }
        self.refs.remove(&msg_ref);
        self.timers
            .cancel(&mut ch.reply_deadline, Timer::ChannelReply(id));
        let topic = ch.topic.clone();
        if reply.is_ok() {
            ch.state = ChannelState::Joined;
            ch.rejoin_attempts = 0;
            let rejoin = ch.joined_once;
            ch.joined_once = true;
            let held: Vec<PushId> = ch.held.drain(..).collect();
            self.reconnect_attempts = 0;
            self.events.push_back(Event::Joined {
                channel: id,
                topic,
                response: reply.response.into_owned(),
                rejoin,
            });
            for push in held {
                if let Err(e) = self.send_push(push) {
                    self.finish_push(push, PushOutcome::Failed(PushFailure::Encode(e)));
                }
            }
            return;
        }
        let will_retry = self.config.rejoin_after_refusal;
        self.events.push_back(Event::JoinRefused {
            channel: id,
            topic: topic.clone(),
            status: reply.status.into_owned(),
            response: reply.response.into_owned(),
            will_retry,
        });
        if will_retry {
            ch.state = ChannelState::Errored;
            ch.set_join_ref(None);
            self.schedule_rejoin(now, id);
        } else {
            self.close_channel(
                id,
                ChannelCloseReason::JoinRefused,
                PushFailure::ChannelClosed,
            );
        }
    }

    fn on_message(&mut self, now: Instant, message: Message<'_>) {
        let Some(&id) = self.topics.get(&*message.topic) else {
            return;
        };
        let Some(ch) = self.channels.get(&id) else {
            return;
        };
        // `phx_close` and `phx_error` carry the join's ref as their `ref`
        // (PROTOCOL.md 3.2, 3.3). v1 frames have no join_ref, so that ref is
        // the only way to tell a stale close (of a join already left) from
        // the current one's.
        let join_ref = match (&message.join_ref, &*message.event) {
            (None, PHX_CLOSE | PHX_ERROR) => message.msg_ref.as_deref(),
            (join_ref, _) => join_ref.as_deref(),
        };
        if !ch.join_sent() || !ch.accepts(join_ref) {
            // Stale: a frame of an earlier join of this topic.
            return;
        }
        let state = ch.state;
        match &*message.event {
            PHX_CLOSE => {
                let reason = if state == ChannelState::Leaving {
                    ChannelCloseReason::Left
                } else {
                    ChannelCloseReason::ServerClosed
                };
                self.close_channel(id, reason, PushFailure::ChannelClosed);
            }
            PHX_ERROR => match state {
                ChannelState::Leaving => {
                    self.close_channel(id, ChannelCloseReason::Left, PushFailure::ChannelCrashed);
                }
                ChannelState::Joined | ChannelState::Joining => {
                    self.fail_sent_pushes(Some(id), &PushFailure::ChannelCrashed);
                    self.error_channel(
                        now,
                        id,
                        ChannelErrorReason::Crashed {
                            payload: message.payload.into_owned(),
                        },
                    );
                }
                ChannelState::Errored => {}
            },
            _ => {
                if state != ChannelState::Errored {
                    self.events.push_back(Event::Message {
                        channel: id,
                        topic: ch.topic.clone(),
                        event: message.event.into_owned(),
                        payload: message.payload.into_owned(),
                    });
                }
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn armed_timers(&self) -> usize {
        self.timers.len()
    }

    #[cfg(test)]
    pub(crate) fn refs_in_flight(&self) -> usize {
        self.refs.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::WireRef;

    #[test]
    fn a_leave_ref_is_forgotten_with_its_channel() {
        let now = Instant::now();
        let mut socket = Socket::new(Config::new("ws://h/socket"));
        socket.connect(now);
        socket.handle_connected(now);
        let ch = socket.join(now, "t:1", Payload::empty()).unwrap();
        let ok = r#"["1","1","t:1","phx_reply",{"response":{},"status":"ok"}]"#;
        socket.handle_message(now, WireRef::Text(ok));
        socket.leave(now, ch).unwrap();
        assert_eq!(socket.refs_in_flight(), 1);
        // The server closes the channel before answering the leave.
        socket.handle_message(now, WireRef::Text(r#"["1","1","t:1","phx_close",{}]"#));
        assert_eq!(socket.channel_state(ch), None);
        assert_eq!(socket.refs_in_flight(), 0);
    }

    #[test]
    fn zero_timeouts_and_zero_backoff_do_not_spin() {
        let now = Instant::now();
        let mut config = Config::new("ws://h/socket");
        config.default_timeout = Duration::ZERO;
        config.rejoin = super::super::Backoff::from_millis(&[0]);
        config.reconnect = super::super::Backoff::from_millis(&[0]);
        let mut socket = Socket::new(config);
        socket.connect(now);
        socket.handle_connected(now);
        socket.join(now, "t:1", Payload::empty()).unwrap();
        // Each call runs what is due and arms the next timer at least 1 ms on.
        for ms in 0..100u64 {
            socket.handle_timeout(now + Duration::from_millis(ms));
            assert!(socket.poll_timeout().unwrap() > now + Duration::from_millis(ms));
        }
        let mut frames = 0;
        while socket.poll_transmit().is_some() {
            frames += 1;
        }
        // Join, leave-after-timeout and rejoin cycles, a few per millisecond at most.
        assert!(frames < 400, "{frames} frames in 100 ms");
    }

    #[test]
    fn no_timer_outlives_what_it_was_for() {
        let now = Instant::now();
        let mut socket = Socket::new(Config::new("ws://h/socket"));
        socket.connect(now);
        socket.handle_connected(now);
        let ch = socket.join(now, "t:1", Payload::empty()).unwrap();
        let reply = r#"["1","1","t:1","phx_reply",{"response":{},"status":"ok"}]"#;
        socket.handle_message(now, WireRef::Text(reply));
        socket.push(now, ch, "e", Payload::empty()).unwrap();
        // heartbeat + push timeout
        assert_eq!(socket.armed_timers(), 2);
        socket.leave(now, ch).unwrap();
        let leave = r#"["1","3","t:1","phx_reply",{"response":{},"status":"ok"}]"#;
        socket.handle_message(now, WireRef::Text(leave));
        assert_eq!(socket.channel_state(ch), None);
        assert_eq!(socket.pending_pushes(), 0);
        // only the heartbeat is left
        assert_eq!(socket.armed_timers(), 1);
        socket.disconnect(now);
        assert_eq!(socket.armed_timers(), 0);
        assert_eq!(socket.poll_timeout(), None);
    }
}
