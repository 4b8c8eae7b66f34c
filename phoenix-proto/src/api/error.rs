//! Errors of the async API.

use crate::client::Name;
use std::fmt;

use crate::client::{ChannelCloseReason, PushFailure};
use crate::codec::{DecodeError, EncodeError, Payload};

/// The socket's driver task has stopped; nothing more can be done with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketGone;

impl fmt::Display for SocketGone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the socket has stopped")
    }
}

impl std::error::Error for SocketGone {}

/// Why [`Channel::join`](super::Channel::join) failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JoinError {
    /// The server refused the join.
    Refused {
        /// The reply status (usually `error`).
        status: Name,
        /// The server's response, e.g. `{"reason":"unauthorized"}`.
        response: Payload<'static>,
    },
    /// The join was not answered in time (the channel keeps retrying on the
    /// rejoin schedule until you leave it).
    Timeout,
    /// The channel closed before the join completed.
    Closed(ChannelCloseReason),
    /// This channel handle already joined; make a new one with [`Client::channel`](super::Client::channel).
    AlreadyJoined,
    /// This handle's channel has closed (left, closed by the server, given
    /// up, or the socket stopped): a handle joins once. Make a new one with
    /// [`Client::channel`](super::Client::channel).
    ChannelClosed(ChannelCloseReason),
    /// The socket refused the join (duplicate topic, reserved topic, binary payload).
    Rejected(crate::client::JoinError),
    /// The join payload could not be serialized.
    Encode(EncodeError),
    /// The socket has stopped.
    SocketGone,
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::Refused { status, response } => write!(
                f,
                "the server refused the join ({status}: {})",
                response.as_json().unwrap_or("<binary>")
            ),
            JoinError::Timeout => f.write_str("the join timed out"),
            JoinError::Closed(reason) => write!(f, "the channel closed while joining ({reason:?})"),
            JoinError::AlreadyJoined => f.write_str("this channel handle already joined"),
            JoinError::ChannelClosed(reason) => write!(
                f,
                "this handle's channel has closed ({reason:?}); make a new one with Client::channel"
            ),
            JoinError::Rejected(e) => write!(f, "join rejected: {e}"),
            JoinError::Encode(e) => write!(f, "join payload: {e}"),
            JoinError::SocketGone => SocketGone.fmt(f),
        }
    }
}

impl std::error::Error for JoinError {}

/// Why a push did not produce the value asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PushError {
    /// The server replied with a status other than `ok` (only from the
    /// typed [`Channel::push`](super::Channel::push); the raw form returns every reply).
    Status {
        /// The status, e.g. `error`.
        status: Name,
        /// The response.
        response: Payload<'static>,
    },
    /// No reply within the push's timeout.
    Timeout,
    /// The push could not complete.
    Failed(PushFailure),
    /// The socket refused the push at once (closed channel, reserved event).
    Rejected(crate::client::PushError),
    /// The channel handle has not joined.
    NotJoined,
    /// The payload could not be serialized.
    Encode(EncodeError),
    /// The reply did not deserialize into the requested type.
    Decode(DecodeError),
    /// The socket has stopped.
    SocketGone,
}

impl fmt::Display for PushError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PushError::Status { status, response } => write!(
                f,
                "the server replied {status}: {}",
                response.as_json().unwrap_or("<binary>")
            ),
            PushError::Timeout => f.write_str("the push timed out"),
            PushError::Failed(failure) => failure.fmt(f),
            PushError::Rejected(e) => write!(f, "push rejected: {e}"),
            PushError::NotJoined => f.write_str("the channel has not joined"),
            PushError::Encode(e) => write!(f, "push payload: {e}"),
            PushError::Decode(e) => write!(f, "reply: {e}"),
            PushError::SocketGone => SocketGone.fmt(f),
        }
    }
}

impl std::error::Error for PushError {}

/// Why [`Channel::leave`](super::Channel::leave) failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LeaveError {
    /// The channel handle has not joined.
    NotJoined,
    /// The socket refused (already closed or leaving).
    Rejected(crate::client::LeaveError),
    /// The socket has stopped.
    SocketGone,
}

impl fmt::Display for LeaveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LeaveError::NotJoined => f.write_str("the channel has not joined"),
            LeaveError::Rejected(e) => write!(f, "leave rejected: {e}"),
            LeaveError::SocketGone => SocketGone.fmt(f),
        }
    }
}

impl std::error::Error for LeaveError {}

/// Why [`Client::ping`](super::Client::ping) got no round trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PingError {
    /// No connection is open.
    NotConnected,
    /// The connection was lost before the reply.
    ConnectionLost,
    /// The socket has stopped.
    SocketGone,
}

impl fmt::Display for PingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PingError::NotConnected => f.write_str("no connection is open"),
            PingError::ConnectionLost => f.write_str("the connection was lost before the reply"),
            PingError::SocketGone => SocketGone.fmt(f),
        }
    }
}

impl std::error::Error for PingError {}
