//! The names every driver crate re-exports (`pub use
//! phoenix_proto::api::prelude::*;`), so that each offers the same API:
//! only `Client`, `Builder`, its runtime type and its `Connector` are its own.

pub use super::{
    Channel, ChannelEvent, ChannelEvents, ConnectTarget, DEFAULT_CHANNEL_CAPACITY,
    DEFAULT_COMMAND_CAPACITY, DEFAULT_READ_BUFFER, HandlerHandle, HandlerSocket, JoinError,
    LeaveError, PendingJoin, PendingPush, PingError, PresenceEvent, PresenceEvents, PresenceHandle,
    PushError, Reply, SocketEvent, SocketEvents, SocketGone, Status, StatusWatch, TlsSettings,
};
pub use crate::client::handler::{Action, Context, Handler, ReplyTo, Stopped};
pub use crate::client::{
    Backoff, ChannelCloseReason, ChannelErrorReason, ChannelId, DisconnectReason, Name,
    PushFailure, PushId, PushOutcome,
};
pub use crate::codec::Payload;
pub use crate::no_mailbox;
pub use crate::presence;
