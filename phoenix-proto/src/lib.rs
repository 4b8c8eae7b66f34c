//! # phoenix-proto
//!
//! The Phoenix Channels protocol as plain data, with no I/O, no clock and no
//! async runtime. Drivers (tokio, async-std, blocking) own the sockets and
//! the clock; this crate decides everything else.
//!
//! * [`codec`]: protocol v2 frames (JSON arrays and the binary format) and
//!   the v1 object format, as typed values, both directions.
//! * [`url`]: connection URLs and the Phoenix 1.8 auth-token subprotocol.
//! * [`client`]: the state machine ([`client::Socket`]) and the callback
//!   model ([`client::handler`]).
//! * [`presence`]: the presence list kept in sync from `presence_state` and
//!   `presence_diff`.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod client;
pub mod codec;
pub mod presence;
pub mod url;
