//! Errors of the state machine's commands. Losing the connection is not an
//! error: it is an [`Event`](super::Event).

use std::fmt;

use super::ids::ChannelId;
use crate::codec::EncodeError;

/// Why [`Socket::join`](super::Socket::join) refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JoinError {
    /// The topic already has a live channel on this socket.
    AlreadyJoined {
        /// The live channel.
        channel: ChannelId,
    },
    /// The topic is empty or reserved (`phoenix`).
    InvalidTopic,
    /// Join payloads must be JSON.
    BinaryPayload,
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::AlreadyJoined { channel } => {
                write!(f, "the topic already has a live channel ({channel})")
            }
            JoinError::InvalidTopic => f.write_str("the topic is empty or reserved"),
            JoinError::BinaryPayload => f.write_str("a join payload must be JSON, not bytes"),
        }
    }
}

impl std::error::Error for JoinError {}

/// Why [`Socket::push`](super::Socket::push) refused at once. Nothing was
/// sent and no [`Event::PushDone`](super::Event::PushDone) will follow.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PushError {
    /// The channel is closed, or the id never named a channel.
    ChannelClosed,
    /// The channel is leaving.
    ChannelLeaving,
    /// The message could not be encoded.
    Encode(EncodeError),
    /// The event name is reserved for the protocol (`phx_join`, `phx_leave`, ...).
    ReservedEvent,
    /// [`Config::max_pending_pushes`](super::Config::max_pending_pushes)
    /// pushes already await an outcome.
    TooManyPending {
        /// The limit.
        limit: usize,
    },
}

impl fmt::Display for PushError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PushError::ChannelClosed => f.write_str("the channel is closed"),
            PushError::ChannelLeaving => f.write_str("the channel is leaving"),
            PushError::Encode(e) => write!(f, "the push could not be encoded: {e}"),
            PushError::ReservedEvent => f.write_str("the event name is reserved for the protocol"),
            PushError::TooManyPending { limit } => {
                write!(f, "{limit} pushes already await an outcome")
            }
        }
    }
}

impl std::error::Error for PushError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PushError::Encode(e) => Some(e),
            _ => None,
        }
    }
}

/// Why [`Socket::leave`](super::Socket::leave) refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LeaveError {
    /// The channel is already closed, or the id never named a channel.
    ChannelClosed,
    /// A leave is already under way.
    AlreadyLeaving,
}

impl fmt::Display for LeaveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LeaveError::ChannelClosed => f.write_str("the channel is closed"),
            LeaveError::AlreadyLeaving => f.write_str("the channel is already leaving"),
        }
    }
}

impl std::error::Error for LeaveError {}

/// Why [`Socket::ping`](super::Socket::ping) refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PingError {
    /// No connection is open.
    NotConnected,
}

impl fmt::Display for PingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PingError::NotConnected => f.write_str("no connection is open"),
        }
    }
}

impl std::error::Error for PingError {}
