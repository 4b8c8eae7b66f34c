//! One channel's bookkeeping inside the socket.

use std::sync::Arc;

use crate::presence::Presence;
use std::time::{Duration, Instant};

use crate::codec::Payload;

use super::ids::{JoinRef, PushId, Ref};

/// Where a channel is in its life (phoenix-proto/PROTOCOL.md 7.4). A closed channel is
/// removed from the socket, so there is no `Closed` state here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelState {
    /// A join is in flight, or waits for the connection to open.
    Joining,
    /// The server accepted the join.
    Joined,
    /// A leave is in flight.
    Leaving,
    /// The server side is gone (crash, lost connection, join timeout); a
    /// rejoin is scheduled or waits for the connection.
    Errored,
}

#[derive(Debug)]
pub(crate) struct Channel {
    pub(crate) topic: Arc<str>,
    pub(crate) state: ChannelState,
    pub(crate) join_payload: Payload<'static>,
    /// The join in flight or accepted; `None` while waiting to send one.
    pub(crate) join_ref: Option<JoinRef>,
    pub(crate) timeout: Duration,
    pub(crate) rejoin_attempts: u32,
    pub(crate) joined_once: bool,
    /// Pushes waiting for the join to succeed, in order (only ever
    /// appended to, filtered, or taken whole).
    pub(crate) held: Vec<PushId>,
    pub(crate) rejoin_deadline: Option<Instant>,
    /// Deadline of the join or leave in flight.
    pub(crate) reply_deadline: Option<Instant>,
    /// Ref of the leave in flight, forgotten with the channel.
    pub(crate) leave_ref: Option<Ref>,
    /// The presence list, when the application asked the socket to keep it.
    pub(crate) presence: Option<Box<Presence>>,
}

impl Channel {
    pub(crate) fn new(topic: Arc<str>, join_payload: Payload<'static>, timeout: Duration) -> Self {
        Channel {
            topic,
            state: ChannelState::Joining,
            join_payload,
            join_ref: None,
            timeout,
            rejoin_attempts: 0,
            joined_once: false,
            held: Vec::new(),
            rejoin_deadline: None,
            reply_deadline: None,
            presence: None,
            leave_ref: None,
        }
    }

    /// Whether a frame carrying `join_ref` belongs to this channel's current
    /// join: a null join_ref always does (broadcasts, v1 servers); any other
    /// must match exactly (phoenix-proto/PROTOCOL.md 11.6).
    pub(crate) fn accepts(&self, join_ref: Option<&str>) -> bool {
        match join_ref {
            None => true,
            Some(jr) => self.join_ref.is_some() && JoinRef::parse(jr) == self.join_ref,
        }
    }

    /// Whether a join has been sent on the current connection.
    pub(crate) fn join_sent(&self) -> bool {
        self.join_ref.is_some()
    }
}
