//! The client state machine.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::codec::Payload;
use crate::presence::Presence;
use crate::url::{Transport, auth_token_protocols, connection_url};

use super::channel::{Channel, ChannelState};
use super::config::{Config, Secret};
use super::counter_map::CounterMap;
use super::event::Event;
use super::ids::{ChannelId, JoinRef, PushId, Ref};
use super::instruction::{ConnectRequest, Instruction};
use super::name::Names;
use super::outbox::Outbox;
use super::retry_after::parse_retry_after;
use super::rng::Rng;
use super::timers::Timers;
use super::vec_map::VecMap;

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
    /// An [`Instruction::Connect`] was issued; waiting for the driver's report.
    Connecting,
    /// The connection is open.
    Connected,
}

/// Why the driver could not open a connection, for
/// [`Socket::handle_connect_failed`]. Build it with [`ConnectFailure::new`]
/// (no HTTP answer) or [`ConnectFailure::http`] (the server answered the
/// upgrade with a status).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectFailure {
    /// The HTTP status when the server answered the upgrade with one.
    pub status: Option<u16>,
    /// How long the server asked us to wait (its `Retry-After`), when it
    /// sent one that parses.
    pub retry_after: Option<Duration>,
    /// A description for people.
    pub message: String,
}

impl ConnectFailure {
    /// A failure without an HTTP answer: DNS, TCP, TLS, a timeout, a
    /// broken upgrade response.
    pub fn new(message: impl Into<String>) -> Self {
        ConnectFailure {
            status: None,
            retry_after: None,
            message: message.into(),
        }
    }

    /// The server answered the upgrade with HTTP `status` (403 when the
    /// app's `connect/3` said no, 429 or 503 when overloaded).
    ///
    /// `retry_after` and `date` are the raw values of the response's
    /// `Retry-After` and `Date` headers, when present; `now` is the
    /// driver's wall clock. `Retry-After` is read as RFC 9110 section
    /// 10.2.3 says: either a number of seconds, or an HTTP-date, which is
    /// measured from the server's `Date` when that parses (so a skewed
    /// client clock does not matter) and from `now` otherwise. A date in
    /// the past means no wait; a value that does not parse is ignored.
    /// Waits are capped at 2^31 seconds (about 68 years).
    pub fn http(
        status: u16,
        retry_after: Option<&str>,
        date: Option<&str>,
        now: SystemTime,
    ) -> Self {
        ConnectFailure {
            status: Some(status),
            retry_after: retry_after.and_then(|value| parse_retry_after(value, date, now)),
            message: format!("the server answered the upgrade with HTTP {status}"),
        }
    }
}

/// The longest delay a timer is armed with (about 68 years), so that
/// `now + delay` cannot overflow whatever a schedule or a server says.
const MAX_DELAY: Duration = Duration::from_secs(1 << 31);

/// The instant `delay` after `now`, at least a millisecond later: a timer
/// never fires in the same `handle_timeout` call that set it, so a zero
/// timeout or a zero backoff step cannot make the machine spin.
fn after(now: Instant, delay: Duration) -> Instant {
    let delay = delay.clamp(Duration::from_millis(1), MAX_DELAY);
    now.checked_add(delay)
        .unwrap_or_else(|| now + Duration::from_millis(1))
}

/// What a ref in flight stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RefTarget {
    Heartbeat,
    /// An explicit ping, sent at this instant.
    Ping(Instant),
    Join(ChannelId),
    Leave(ChannelId),
    Push(PushId),
    /// A leave sent after a join timeout: its reply means nothing.
    Ignore,
}

#[derive(Debug)]
struct Push {
    channel: ChannelId,
    /// Kept until the push is sent (empty once sent).
    event: String,
    /// Kept until the push is sent.
    payload: Option<Payload<'static>>,
    deadline: Option<Instant>,
    /// How it went out, once sent.
    sent: Option<SentWith>,
}

/// The refs a push went out with.
#[derive(Debug, Clone, Copy)]
struct SentWith {
    msg_ref: Ref,
    join_ref: JoinRef,
}

/// The Phoenix Channels client as a deterministic state machine.
///
/// It never reads a clock, sleeps, spawns or touches a socket: every input
/// carries `now`, and every effect is an output the driver drains.
///
/// # Methods
/// * **Getters**: [`config`](Self::config),
///   [`connection_state`](Self::connection_state),
///   [`is_connected`](Self::is_connected),
///   [`channel_state`](Self::channel_state),
///   [`channel_topic`](Self::channel_topic),
///   [`channel_for_topic`](Self::channel_for_topic),
///   [`pending_pushes`](Self::pending_pushes),
///   [`last_rtt`](Self::last_rtt), [`presence`](Self::presence),
///   [`connect_request`](Self::connect_request).
/// * **Commands** from the application: [`connect`](Self::connect),
///   [`disconnect`](Self::disconnect),
///   [`reconnect_with`](Self::reconnect_with),
///   [`set_params`](Self::set_params),
///   [`set_auth_token`](Self::set_auth_token), [`join`](Self::join),
///   [`join_with_timeout`](Self::join_with_timeout), [`leave`](Self::leave),
///   [`push`](Self::push), [`push_with_timeout`](Self::push_with_timeout),
///   [`ping`](Self::ping), [`track_presence`](Self::track_presence).
/// * **Inputs** from the driver: [`handle_connected`](Self::handle_connected),
///   [`handle_connect_failed`](Self::handle_connect_failed),
///   [`handle_message`](Self::handle_message),
///   [`handle_closed`](Self::handle_closed),
///   [`handle_transport_error`](Self::handle_transport_error),
///   [`handle_bad_message`](Self::handle_bad_message),
///   [`handle_timeout`](Self::handle_timeout).
/// * **Outputs**: [`poll_instruction`](Self::poll_instruction) (what to do
///   on the wire), [`poll_event`](Self::poll_event) (what to tell the
///   application), [`poll_timeout`](Self::poll_timeout) (when to call
///   `handle_timeout`), and [`has_output`](Self::has_output) (whether the
///   first two have anything).
///
/// # Drain order
/// After **every** command or input, the driver drains, in this order:
/// 1. `poll_instruction` until `None`, carrying out each instruction in order
///    (a `Connect` replaces the connection; a `Close` ends it). A driver
///    that is stopping carries out instructions up to and including the
///    `Close` that [`disconnect`](Self::disconnect) queued, then stops;
/// 2. `poll_event` until `None`, handing each event to the application
///    (which may issue commands: drain again after them);
/// 3. `poll_timeout`, then waits until that instant, a message from the
///    connection, or a command, whichever comes first, and on a deadline calls
///    `handle_timeout` with the current time.
///
/// ```
/// use std::time::{Duration, Instant};
/// use phoenix_proto::client::{Config, Event, Instruction, Socket};
/// use phoenix_proto::codec::{Payload, WireMessage, WireRef};
///
/// let mut socket = Socket::new(Config::new("ws://127.0.0.1:4000/socket"));
/// let start = Instant::now();
/// socket.connect(start);
/// let Some(Instruction::Connect(request)) = socket.poll_instruction() else { unreachable!() };
/// assert_eq!(request.url, "ws://127.0.0.1:4000/socket/websocket?vsn=2.0.0");
///
/// // The driver opened the WebSocket.
/// socket.handle_connected(start);
/// let lobby = socket.join(start, "room:lobby", Payload::empty())?;
/// let Some(Instruction::Send(WireMessage::Text(join))) = socket.poll_instruction() else { unreachable!() };
/// assert_eq!(join, r#"["1","1","room:lobby","phx_join",{}]"#);
///
/// // The server answered.
/// let reply = r#"["1","1","room:lobby","phx_reply",{"response":{},"status":"ok"}]"#;
/// socket.handle_message(start, WireRef::Text(reply));
/// assert_eq!(socket.poll_event(), Some(Event::Connecting { attempt: 1 }));
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
    last_ref: Ref,
    next_channel: u64,
    next_push: u64,
    /// Boxed, so the map's entries stay small to shift.
    channels: VecMap<ChannelId, Box<Channel>>,
    topics: VecMap<Arc<str>, ChannelId>,
    /// Iterated only where the order is restored (`fail_sent_pushes`).
    pushes: CounterMap<PushId, Push>,
    /// What each ref in flight stands for (looked up, never iterated).
    refs: CounterMap<Ref, RefTarget>,
    heartbeat_pending: Option<Ref>,
    heartbeat_deadline: Option<Instant>,
    reconnect_deadline: Option<Instant>,
    stable_deadline: Option<Instant>,
    /// When the heartbeat in flight was sent.
    heartbeat_sent_at: Option<Instant>,
    /// The round trip of the last answered heartbeat or ping.
    last_rtt: Option<Duration>,
    reconnect_attempts: u32,
    timers: Timers,
    instructions: Outbox<Instruction>,
    events: Outbox<Event>,
    /// Recent event names and reply statuses, handed out as clones.
    names: Names,
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
            last_ref: Ref::NONE_YET,
            next_channel: 0,
            next_push: 0,
            channels: VecMap::default(),
            topics: VecMap::default(),
            pushes: CounterMap::default(),
            refs: CounterMap::default(),
            heartbeat_pending: None,
            heartbeat_deadline: None,
            reconnect_deadline: None,
            stable_deadline: None,
            heartbeat_sent_at: None,
            last_rtt: None,
            reconnect_attempts: 0,
            timers: Timers::default(),
            instructions: Outbox::default(),
            events: Outbox::default(),
            names: Names::default(),
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

    /// The round trip of the last answered heartbeat or ping.
    pub fn last_rtt(&self) -> Option<Duration> {
        self.last_rtt
    }

    /// The presence list the socket keeps for `channel`, if asked to with
    /// [`track_presence`](Self::track_presence).
    pub fn presence(&self, channel: ChannelId) -> Option<&Presence> {
        self.channels.get(&channel)?.presence.as_deref()
    }

    /// Keeps `channel`'s presence list from now on: `presence_state` and
    /// `presence_diff` are applied as they arrive (diffs held until the
    /// state), the list is reset on every rejoin, and each change is told as
    /// [`Event::PresenceChanged`](super::Event::PresenceChanged). Ask before
    /// the join so the first state is not missed. `false` for a closed
    /// channel.
    pub fn track_presence(&mut self, channel: ChannelId) -> bool {
        match self.channels.get_mut(&channel) {
            Some(ch) => {
                ch.presence.get_or_insert_with(Box::default);
                true
            }
            None => false,
        }
    }

    /// How many pushes await an outcome.
    pub fn pending_pushes(&self) -> usize {
        self.pushes.len()
    }

    /// The request built from the current endpoint, params and auth token.
    /// Each connection attempt first calls the providers of
    /// [`Config::params_fn`] and [`Config::auth_token_fn`], when set, and
    /// stores what they return; this getter calls neither, so it shows what
    /// the last attempt used, or the next one when no provider is set.
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

    /// Whether instructions or events are waiting to be polled.
    pub fn has_output(&self) -> bool {
        !self.instructions.is_empty() || !self.events.is_empty()
    }

    /// The next thing to do on the wire, in the order the socket decided
    /// it: carry each out before taking the next.
    pub fn poll_instruction(&mut self) -> Option<Instruction> {
        self.instructions.pop_front()
    }

    /// The next event for the application.
    #[inline]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next.
    /// After `handle_timeout(now)` this is never at or before `now`.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
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

mod commands;
mod inputs;
mod lifecycle;
mod routing;
#[cfg(test)]
mod tests;
