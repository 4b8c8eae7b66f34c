//! The client state machine: connection, channels, pushes, heartbeats,
//! reconnects and rejoins, driven entirely by its inputs and `now`.
//!
//! Start with [`Socket`]: its documentation explains the run loop. The
//! [`handler`] module puts the original library's callback model on top.

mod channel;
mod config;
mod counter_map;
mod error;
mod event;
pub mod handler;
mod ids;
mod instruction;
mod name;
mod outbox;
mod retry_after;
mod rng;
mod socket;
mod timers;
mod vec_map;

pub use channel::ChannelState;
pub use config::{Backoff, Config, ParamsFn, Secret, TokenFn};
#[cfg(feature = "api")]
#[cfg(feature = "api")]
pub(crate) use counter_map::CounterMap;
pub use error::{JoinError, LeaveError, PingError, PushError};
pub use event::{
    BadMessage, ChannelCloseReason, ChannelErrorReason, DisconnectReason, Event, PushFailure,
    PushOutcome,
};
pub use ids::{ChannelId, PushId};
pub use instruction::{ConnectRequest, Instruction, redact_query};
pub use name::Name;
pub use socket::{ConnectFailure, ConnectionState, Socket};
#[cfg(feature = "api")]
pub(crate) use vec_map::VecMap;
