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
//! * `api` (feature `api`, off by default): the client API every driver
//!   shares: async handles (`Client`, `Channel`, event streams, a status
//!   watch), the router between them and the core, the callback model's
//!   socket handle, the builder, TLS settings and the WebSocket upgrade.
//!   Runtime-neutral: it pulls no async runtime. With the feature
//!   `async-driver`, the whole async run loop too, generic over a small
//!   `api::Runtime` trait (timers, spawn, TCP), so a runtime's driver crate
//!   is its backend and nothing else. Someone embedding the core in a
//!   custom transport implements `api::Launch` and gets the whole API by
//!   writing only the loop (see the `api` module's example).
//!
//! With default features this crate is the pure state machine and codec:
//! `cargo tree -p phoenix-proto -e normal` shows serde, serde_json and
//! base64 only.
//!
//! The protocol facts the code relies on, with their sources, are written
//! down in this crate's `PROTOCOL.md`; code comments cite its sections.
//!
//! ## The run loop
//!
//! The library never reads the clock: every input carries `now`, and time
//! only moves when the driver says so. After **every** input (a command
//! from the application, the connection opening or closing, a whole
//! WebSocket message, a deadline passing) the driver drains the outputs in
//! this order: the instructions for the wire
//! ([`Socket::poll_instruction`](client::Socket::poll_instruction)), then the
//! events for the application ([`Socket::poll_event`](client::Socket::poll_event)),
//! and finally it asks when to wake up next
//! ([`Socket::poll_timeout`](client::Socket::poll_timeout)) and sleeps until
//! then or until new input arrives.
//!
//! Here is a whole driver, with a scripted server standing in for the
//! network and a virtual clock that jumps from deadline to deadline. A real
//! driver has the same shape, with a WebSocket and a timer:
//!
//! ```
//! use std::collections::VecDeque;
//! use std::time::{Duration, Instant};
//!
//! use phoenix_proto::client::{Config, Event, Instruction, PushOutcome, Socket};
//! use phoenix_proto::codec::{decode_client_text, Payload, WireMessage, WireRef};
//!
//! /// A pretend server: answers every join and push with an ok reply.
//! fn answer(frame: &str) -> Option<String> {
//!     let m = decode_client_text(frame).ok()?;
//!     let (jr, r) = (m.join_ref.as_deref()?, m.msg_ref.as_deref()?);
//!     let response = m.payload.as_json().unwrap_or("{}");
//!     Some(format!(
//!         r#"["{jr}","{r}","{}","phx_reply",{{"response":{response},"status":"ok"}}]"#,
//!         m.topic
//!     ))
//! }
//!
//! let mut now = Instant::now();
//! let mut socket = Socket::new(Config::new("ws://example.invalid/socket"));
//! let mut inbox: VecDeque<String> = VecDeque::new(); // frames from the "server"
//! let mut log = Vec::new();
//!
//! socket.connect(now);
//! let lobby = socket.join(now, "room:lobby", Payload::empty())?;
//! let push = socket.push(now, lobby, "hello", Payload::raw_json(r#"{"n":1}"#)?)?;
//!
//! for _turn in 0..10 {
//!     // 1. Carry out every instruction for the wire.
//!     while let Some(instruction) = socket.poll_instruction() {
//!         match instruction {
//!             // Open the WebSocket; here it opens at once.
//!             Instruction::Connect(_request) => socket.handle_connected(now),
//!             Instruction::Send(WireMessage::Text(frame)) => inbox.extend(answer(&frame)),
//!             Instruction::Send(WireMessage::Binary(_)) | Instruction::Close { .. } => {}
//!             _ => {}
//!         }
//!     }
//!     // 2. Hand every event to the application.
//!     while let Some(event) = socket.poll_event() {
//!         log.push(event);
//!     }
//!     // 3. Feed what arrived, or sleep until the next deadline.
//!     if let Some(frame) = inbox.pop_front() {
//!         socket.handle_message(now, WireRef::Text(&frame));
//!     } else if let Some(deadline) = socket.poll_timeout() {
//!         now = deadline; // a real driver sleeps until then
//!         socket.handle_timeout(now);
//!     }
//! }
//!
//! assert_eq!(log[0], Event::Connecting { attempt: 1 });
//! assert_eq!(log[1], Event::Connected);
//! assert!(matches!(log[2], Event::Joined { channel, .. } if channel == lobby));
//! assert!(log.iter().any(|e| matches!(
//!     e,
//!     Event::PushDone { push: p, outcome: PushOutcome::Reply { status, .. }, .. }
//!         if *p == push && status == "ok"
//! )));
//! // The clock moved only when nothing else was left to do: to the heartbeats.
//! assert!(now >= Instant::now() + Duration::from_secs(29));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "api")]
#[cfg_attr(docsrs, doc(cfg(feature = "api")))]
pub mod api;
pub mod client;
pub mod codec;
pub mod presence;
pub mod url;
