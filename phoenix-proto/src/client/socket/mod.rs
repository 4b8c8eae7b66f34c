//! The client state machine.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::codec::Payload;
use crate::url::{Transport, auth_token_protocols, connection_url};

use super::channel::{Channel, ChannelState};
use super::config::{Config, Secret};
use super::event::Event;
use super::ids::{ChannelId, PushId};
use super::rng::Rng;
use super::timers::Timers;
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
