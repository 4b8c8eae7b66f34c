//! What the state machine tells the application.

use super::name::Name;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::codec::{DecodeError, EncodeError, Payload};
use crate::presence::PresenceChange;

use super::ids::{ChannelId, PushId};

/// Something the application should know, taken from
/// [`Socket::poll_event`](super::Socket::poll_event).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// A connection attempt started (an [`Instruction::Connect`](super::Instruction::Connect)
    /// was issued).
    Connecting {
        /// Attempts since the last stable connection, 1 for the first.
        attempt: u32,
    },
    /// The connection is open.
    Connected,
    /// The connection is gone, or could not be opened.
    Disconnected {
        /// Why.
        reason: DisconnectReason,
        /// When the next attempt is due, if one is scheduled.
        reconnect_in: Option<Duration>,
    },
    /// A join (or rejoin) succeeded.
    Joined {
        /// The channel.
        channel: ChannelId,
        /// Its topic.
        topic: Arc<str>,
        /// The server's join response.
        response: Payload<'static>,
        /// Whether this was a rejoin after an error or a reconnect.
        rejoin: bool,
    },
    /// The server refused a join (any status but `ok`).
    JoinRefused {
        /// The channel.
        channel: ChannelId,
        /// Its topic.
        topic: Arc<str>,
        /// The reply status (usually `error`).
        status: Name,
        /// The server's response, e.g. `{"reason":"unauthorized"}`.
        response: Payload<'static>,
        /// Whether the channel will try again ([`Config::rejoin_after_refusal`](super::Config::rejoin_after_refusal));
        /// if not, a [`Event::ChannelClosed`] follows.
        will_retry: bool,
    },
    /// The channel lost its server side and will rejoin when it can.
    ChannelErrored {
        /// The channel.
        channel: ChannelId,
        /// Its topic.
        topic: Arc<str>,
        /// Why.
        reason: ChannelErrorReason,
    },
    /// The channel is closed for good; its id is now unknown.
    ChannelClosed {
        /// The channel.
        channel: ChannelId,
        /// Its topic.
        topic: Arc<str>,
        /// Why.
        reason: ChannelCloseReason,
    },
    /// A push or broadcast from the server.
    Message {
        /// The channel it was routed to.
        channel: ChannelId,
        /// Its topic.
        topic: Arc<str>,
        /// The event name.
        event: Name,
        /// The payload (JSON or bytes).
        payload: Payload<'static>,
    },
    /// The one outcome of a push.
    PushDone {
        /// The push.
        push: PushId,
        /// Its channel.
        channel: ChannelId,
        /// What happened.
        outcome: PushOutcome,
    },
    /// The server sent something that could not be decoded. It was dropped;
    /// the connection stays up.
    MalformedFrame {
        /// What was wrong with it.
        error: DecodeError,
    },
    /// The presence list the socket keeps for a channel (see
    /// [`Socket::track_presence`](super::Socket::track_presence)) changed;
    /// the list is current ([`Socket::presence`](super::Socket::presence)).
    /// The `presence_state` or `presence_diff` message follows as a
    /// [`Event::Message`].
    PresenceChanged {
        /// The channel.
        channel: ChannelId,
        /// Its topic.
        topic: Arc<str>,
        /// Joins and leaves, in the order applied.
        changes: Vec<PresenceChange>,
    },
    /// A heartbeat was answered: the round trip it took.
    Pong {
        /// From sending the heartbeat to reading its reply.
        rtt: Duration,
        /// Whether it was a [`Socket::ping`](super::Socket::ping) rather
        /// than a periodic heartbeat.
        requested: bool,
    },
}

/// Why the connection is gone.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// [`Socket::disconnect`](super::Socket::disconnect) was called.
    Requested,
    /// The server refused the upgrade with this HTTP status (403 when the
    /// app's `connect/3` said no; 429/503 when overloaded).
    Refused {
        /// The HTTP status.
        status: u16,
        /// The server's `Retry-After`, when it sent one.
        retry_after: Option<Duration>,
    },
    /// The connection closed. With a close frame, its code (1005, "no
    /// status", for a close frame without one); without a close frame (the
    /// TCP connection just ended), 1006, "abnormal closure", as RFC 6455
    /// section 7.1.5 names them.
    Closed {
        /// WebSocket close code (`None` only from a driver that cannot tell).
        code: Option<u16>,
        /// Close reason text.
        reason: String,
    },
    /// No heartbeat reply arrived before the next heartbeat was due.
    HeartbeatTimeout,
    /// The server sent a message the client refused (too large, invalid
    /// UTF-8, a WebSocket protocol violation); the client closed the
    /// connection with the matching code.
    BadMessage {
        /// What was wrong.
        kind: BadMessage,
        /// The close code the client sent (1009, 1007 or 1002).
        code: u16,
    },
    /// The transport failed (DNS, TCP, TLS, WebSocket protocol error).
    TransportError {
        /// The driver's description.
        message: String,
    },
    /// The socket switched to a new URL or new parameters.
    Reconfigured,
}

/// What was wrong with a message the server sent, as a driver's WebSocket
/// library reports it to [`Socket::handle_bad_message`](super::Socket::handle_bad_message).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BadMessage {
    /// Over the configured maximum message size.
    TooLarge,
    /// A text message that is not UTF-8.
    InvalidUtf8,
    /// Any other violation of the WebSocket protocol.
    Protocol(String),
}

impl BadMessage {
    /// The close code RFC 6455 section 7.4.1 gives it.
    pub fn close_code(&self) -> u16 {
        match self {
            BadMessage::TooLarge => 1009,
            BadMessage::InvalidUtf8 => 1007,
            BadMessage::Protocol(_) => 1002,
        }
    }
}

impl fmt::Display for BadMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BadMessage::TooLarge => f.write_str("a message over the size limit"),
            BadMessage::InvalidUtf8 => f.write_str("a text message that is not UTF-8"),
            BadMessage::Protocol(what) => write!(f, "a WebSocket protocol violation: {what}"),
        }
    }
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DisconnectReason::Requested => f.write_str("disconnect requested"),
            DisconnectReason::Refused { status, .. } => {
                write!(f, "the server refused the connection (HTTP {status})")
            }
            DisconnectReason::Closed {
                code: Some(1006) | None,
                ..
            } => f.write_str("the connection ended without a close frame"),
            DisconnectReason::Closed {
                code: Some(code),
                reason,
            } => write!(f, "closed by the server (code {code}{})", suffix(reason)),
            DisconnectReason::BadMessage { kind, code } => {
                write!(f, "the server sent {kind}; closed with {code}")
            }
            DisconnectReason::HeartbeatTimeout => f.write_str("heartbeat timeout"),
            DisconnectReason::TransportError { message } => {
                write!(f, "transport error: {message}")
            }
            DisconnectReason::Reconfigured => f.write_str("reconnecting with a new configuration"),
        }
    }
}

fn suffix(reason: &str) -> String {
    if reason.is_empty() {
        String::new()
    } else {
        format!(": {reason}")
    }
}

/// Why a channel errored (it will rejoin).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChannelErrorReason {
    /// The server channel crashed (`phx_error`), with the server's payload.
    Crashed {
        /// The `phx_error` payload (`{"reason":"channel_crash"}` on 1.8.10+).
        payload: Payload<'static>,
    },
    /// The join was not answered in time.
    JoinTimeout,
    /// The connection was lost.
    ConnectionLost,
}

/// Why a channel closed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChannelCloseReason {
    /// The application left it.
    Left,
    /// The server stopped the channel normally (`phx_close`).
    ServerClosed,
    /// The server refused the join and no retry is configured.
    JoinRefused,
    /// The rejoin schedule ran out of attempts.
    GaveUp,
    /// The socket itself stopped (shut down, or every handle dropped).
    /// The core never reports it; the drivers' API layer does, as the last
    /// event of every channel still open.
    SocketStopped,
}

/// The outcome of a push.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PushOutcome {
    /// The server replied.
    Reply {
        /// Any status string; usually `ok` or `error`.
        status: Name,
        /// Any JSON value, or bytes.
        response: Payload<'static>,
    },
    /// No reply arrived within the push's timeout.
    Timeout,
    /// The push was not sent, or its reply can no longer arrive.
    Failed(PushFailure),
}

/// Why a push could not complete.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PushFailure {
    /// The connection was lost after the push was sent; the server may or
    /// may not have handled it.
    ConnectionLost,
    /// The channel crashed (`phx_error`) before replying.
    ChannelCrashed,
    /// The channel closed (server `phx_close`, leave, or a refused join)
    /// before the push was answered or sent.
    ChannelClosed,
    /// The message could not be encoded when it was time to send it.
    Encode(EncodeError),
}

impl fmt::Display for PushFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PushFailure::ConnectionLost => {
                f.write_str("the connection was lost before the reply arrived")
            }
            PushFailure::ChannelCrashed => f.write_str("the channel crashed before replying"),
            PushFailure::ChannelClosed => f.write_str("the channel closed before replying"),
            PushFailure::Encode(e) => write!(f, "the push could not be encoded: {e}"),
        }
    }
}
