//! The client API every driver shares (feature `api`): the async handles
//! ([`Client`], [`Channel`], [`ChannelEvents`], [`StatusWatch`]), the
//! [`Router`] that connects them to the core, the callback model's
//! [`HandlerSocket`], the [`Builder`], TLS settings and the WebSocket
//! upgrade. Nothing here touches a runtime: the handles talk to the
//! socket's loop through runtime-neutral queues (async-channel,
//! futures-channel), so they work on any executor and, through a
//! `block_on`, on plain threads.
//!
//! A driver provides the loop and starts it through [`Launch`]. With the
//! feature `async-driver`, the loop itself is shared too ([`driver`]): an
//! async runtime crate implements [`Runtime`] (timers, spawn, TCP) and is
//! done. The blocking driver implements [`Launch`] with a thread running
//! its own synchronous loop over the same [`Router`].
//!
//! # Writing only the loop
//!
//! Someone who embeds the core in a custom transport (a browser WebSocket,
//! an embedded runtime, a test harness) implements [`Launch`]: take the
//! [`SocketTask`], feed its core, and drain it through the handler. The
//! whole async API then works on top. Here the "transport" is a scripted
//! server answering every join and push on a thread, and a ten-line
//! `block_on` stands in for an executor:
//!
//! ```
//! use std::sync::Arc;
//! use std::task::{Context, Poll, Wake, Waker};
//! use std::thread::{self, Thread};
//! use std::time::Instant;
//!
//! use phoenix_proto::api::{Builder, Client, Launch, Received, SocketTask};
//! use phoenix_proto::client::handler::{self, Handler};
//! use phoenix_proto::client::Instruction;
//! use phoenix_proto::codec::{decode_client_text, WireMessage, WireRef};
//! use phoenix_proto::api::Inbox;
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
//! /// Runs each socket on a thread of its own, against the pretend server.
//! #[derive(Default)]
//! struct Scripted;
//!
//! impl Launch for Scripted {
//!     fn launch<H>(&self, task: SocketTask<H>)
//!     where
//!         H: Handler + Send + 'static,
//!         H::Info: Send + 'static,
//!         H::Call: Send + 'static,
//!         H::Reply: Send + 'static,
//!     {
//!         thread::spawn(move || {
//!             let (mut core, mut handler, mut inbox) = (task.core, task.handler, task.inbox);
//!             let _ = handler::init(&mut handler, &mut core, Instant::now());
//!             loop {
//!                 // Carry out the core's instructions; the server answers at once.
//!                 while let Some(instruction) = core.poll_instruction() {
//!                     match instruction {
//!                         Instruction::Connect(_) => core.handle_connected(Instant::now()),
//!                         Instruction::Send(WireMessage::Text(frame)) => {
//!                             if let Some(reply) = answer(&frame) {
//!                                 core.handle_message(Instant::now(), WireRef::Text(&reply));
//!                             }
//!                         }
//!                         _ => {}
//!                     }
//!                 }
//!                 let _ = handler::deliver_events(&mut handler, &mut core, Instant::now());
//!                 if core.has_output() {
//!                     continue;
//!                 }
//!                 // Wait for the handles (a real loop also waits for the
//!                 // network and core.poll_timeout()).
//!                 match block_on(std::future::poll_fn(|cx| inbox.poll_recv(cx))) {
//!                     Received::Message(Inbox::Info(info)) => {
//!                         let _ = handler::deliver_info(&mut handler, &mut core, Instant::now(), info);
//!                     }
//!                     _ => return, // stop asked, or every handle gone
//!                 }
//!             }
//!         });
//!     }
//! }
//!
//! struct Unpark(Thread);
//! impl Wake for Unpark {
//!     fn wake(self: Arc<Self>) {
//!         self.0.unpark();
//!     }
//! }
//!
//! fn block_on<F: std::future::Future>(future: F) -> F::Output {
//!     let mut future = std::pin::pin!(future);
//!     let waker = Waker::from(Arc::new(Unpark(thread::current())));
//!     loop {
//!         if let Poll::Ready(out) = future.as_mut().poll(&mut Context::from_waker(&waker)) {
//!             return out;
//!         }
//!         thread::park();
//!     }
//! }
//!
//! let client: Client<Scripted> = Builder::new("ws://example.invalid/socket").connect();
//! let lobby = client.channel("room:lobby", &serde_json::json!({}));
//! block_on(async {
//!     lobby.join().await.expect("joined");
//!     let reply: serde_json::Value = lobby.push("hello", &serde_json::json!({"n": 1})).await.expect("reply");
//!     assert_eq!(reply, serde_json::json!({"n": 1}));
//! });
//! ```

mod builder;
mod channel;
mod client;
mod elastic;
mod error;
mod event_text;
mod events;
mod feed;
mod handler_socket;
mod handshake;
mod launch;
mod message;
mod options;
pub mod prelude;
mod presence;
mod queue;
mod router;
mod socket_events;
mod status;
mod tls;
pub mod upgrade;
mod write_progress;

#[cfg(feature = "async-driver")]
mod connect;
#[cfg(feature = "async-driver")]
pub mod driver;
#[cfg(feature = "async-driver")]
mod runtime;
#[cfg(feature = "async-driver")]
mod write_stall;

pub use builder::Builder;
pub use channel::{Channel, ChannelEvents, PendingJoin, PendingPush, Reply};
pub use client::Client;
pub use elastic::{ElasticIo, WS_READ_BUFFER};
pub use error::{JoinError, LeaveError, PingError, PushError, SocketGone};
pub use events::ChannelEvent;
pub use feed::{Batch, Fed, feed};
pub use handler_socket::{HandlerHandle, HandlerSocket};
pub use handshake::{ConnectTarget, websocket_config};
pub use launch::{Launch, SocketTask};
pub use message::{
    Command, Flow, Inbox, InboxReceiver, InboxSender, MAX_BATCH, Received, Stop, deliver_received,
    inbox,
};
pub use options::{
    DEFAULT_CHANNEL_CAPACITY, DEFAULT_COMMAND_CAPACITY, DEFAULT_MAX_MESSAGE_SIZE,
    DEFAULT_READ_BUFFER, TransportOptions,
};
pub use presence::{PresenceEvent, PresenceEvents, PresenceHandle, metas_as};
pub use router::Router;
pub use socket_events::{SocketEvent, SocketEvents};
pub use status::{Status, StatusRef, StatusWatch};
pub use tls::{TlsSettings, server_name, tls_failure_in};
pub use write_progress::WriteProgress;

#[cfg(feature = "async-driver")]
pub use connect::{BoxIo, ConnectFuture, Connector, Io, WsStream};
#[cfg(feature = "async-driver")]
pub use runtime::{Runtime, Task, Timer, TlsFuture};

/// The WebSocket library the drivers share (one version for all of them).
pub use tungstenite;
