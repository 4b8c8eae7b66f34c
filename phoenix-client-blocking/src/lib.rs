//! # phoenix-client-blocking
//!
//! A [Phoenix Channels](https://hexdocs.pm/phoenix/channels.html) client for
//! plain threads: no async runtime anywhere, the same names as
//! `phoenix-client-tokio`. The protocol lives in the sans-IO crate
//! [`phoenix_proto`], and so do the handles and the router that every
//! driver shares ([`phoenix_proto::api`]); this crate adds the synchronous
//! loop that owns the core, the WebSocket (tungstenite over `std::net`, TLS
//! by rustls) and the clock: one reactor thread that drives every socket
//! over one `polling` poller, or your thread driving one socket.
//!
//! ## Which threads exist
//!
//! - [`Client::connect`], `Builder::connect` and `Builder::spawn_handler`
//!   (through [`Blocking`]) and [`Runner::spawn`] hand the socket to **the
//!   process's reactor thread**, named `phoenix-socket`, which drives all
//!   of them: it starts with the first socket and ends when the last one
//!   stops. Opening a connection (DNS, TCP, TLS, the upgrade) and the
//!   polite close at the end block, so they run on helper threads named
//!   `phoenix-io`: up to 8, which stay for 10 s after their last step, and
//!   up to 64 once a step has waited a second for a thread (attempts stuck
//!   on hosts that never answer, for up to the connect timeout per step,
//!   or a burst of thousands of connects); those end as soon as nothing
//!   waits. The reactor never waits for the network. An idle joined
//!   socket costs about 4–5 KiB
//!   and one file descriptor; 10,000 of them in one process hold their
//!   heartbeats (BENCHMARKS.md).
//! - [`BuilderExt::run`] and [`Runner::run`] start **none**: that socket's
//!   loop, its connects and every callback run on the calling thread until
//!   it stops.
//! - The blocking calls ([`Channel::join`], [`Channel::push`],
//!   [`HandlerHandle::call`], ...) wait on the thread that makes them,
//!   parked until the socket's thread answers; they start nothing either.
//!   Never make them from inside a [`Handler`] callback: the loop would
//!   wait for itself (on the reactor, so would every other socket).
//!
//! The callbacks of every socket on the reactor run on its one thread, one
//! at a time, as on a single-threaded async runtime: keep them short, or
//! give a socket whose callbacks block a thread of its own with
//! `std::thread::spawn(move || runner.run())`. A callback that panics ends
//! its own socket (its handles see it gone); the others go on.
//!
//! ## The blocking API
//!
//! ```no_run
//! use phoenix_client_blocking::{ChannelEvent, Client};
//! use serde_json::{json, Value};
//! use std::time::Duration;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let client = Client::from(
//!     Client::builder("ws://localhost:4000/socket")
//!         .param("token", "abc")
//!         .connect(),
//! );
//! let lobby = client.channel("room:lobby", &json!({"nick": "ferris"}));
//! let events = lobby.events().expect("first call");
//! lobby.join()?; // blocks until the server answers or the join times out
//! let reply: Value = lobby.push("shout", &json!({"body": "hi"}))?;
//! println!("reply: {reply}");
//! // Messages from the server, from another thread:
//! let reader = std::thread::spawn(move || {
//!     for event in events {
//!         if let ChannelEvent::Message { event, payload } = event {
//!             println!("{event}: {:?}", payload.as_json());
//!         }
//!     }
//! });
//! # let _ = reader;
//! if !client.connected_timeout(Duration::from_secs(5))? {
//!     println!("not connected yet");
//! }
//! client.shutdown(); // blocks until the socket has stopped
//! # Ok(()) }
//! ```
//!
//! Many pushes in flight from one thread: [`Channel::start_push`] hands a
//! push to the socket without blocking and returns a [`PendingPush`];
//! [`wait`](PendingPush::wait) for each later. Every one ends in exactly
//! one outcome.
//!
//! ```no_run
//! # fn run(lobby: phoenix_client_blocking::Channel) -> Result<(), Box<dyn std::error::Error>> {
//! use std::collections::VecDeque;
//! use phoenix_client_blocking::{Payload, PendingPush};
//! let mut in_flight: VecDeque<PendingPush> = VecDeque::new();
//! for i in 0..10_000 {
//!     if in_flight.len() == 1_000 {
//!         if let Some(oldest) = in_flight.pop_front() {
//!             let _reply = oldest.wait()?;
//!         }
//!     }
//!     let payload = Payload::json(&serde_json::json!({"i": i}))?;
//!     in_flight.push_back(lobby.start_push("item", payload, None));
//! }
//! for pending in in_flight {
//!     pending.wait()?;
//! }
//! # Ok(()) }
//! ```
//!
//! ## The callback model on your thread
//!
//! Implement [`Handler`] and [`run`](BuilderExt::run) it: the loop runs on
//! the calling thread and hands every event to your callbacks there, one at
//! a time, until a callback returns [`Action::Stop`]. This one really runs
//! (nothing listens on port 1, so the first connection attempt fails and
//! the handler stops the socket):
//!
//! ```
//! use phoenix_client_blocking::{
//!     Action, Backoff, Builder, BuilderExt, Context, DisconnectReason, Handler,
//! };
//! use std::time::Duration;
//!
//! struct GiveUp;
//!
//! impl Handler for GiveUp {
//!     // No messages or calls from other threads.
//!     phoenix_client_blocking::no_mailbox!();
//!
//!     fn handle_disconnected(
//!         &mut self,
//!         _ctx: &mut Context<'_>,
//!         reason: DisconnectReason,
//!         _reconnect_in: Option<Duration>,
//!     ) -> Action {
//!         Action::Stop { reason: format!("no server: {reason}") }
//!     }
//! }
//!
//! let stopped = Builder::new("ws://127.0.0.1:1/socket")
//!     .reconnect(Backoff::never())
//!     .run(GiveUp);
//! assert!(stopped.reason.starts_with("no server"), "{}", stopped.reason);
//! ```
//!
//! To talk to it from other threads, take [`handle`](Runner::handle)s from
//! a [`Runner`] before running it; [`Runner::spawn`] runs it on a thread of
//! its own instead, with a blocking [`HandlerSocket`]:
//!
//! ```no_run
//! use phoenix_client_blocking::{Action, Builder, BuilderExt, Context, Handler, Payload, ReplyTo};
//!
//! /// Joins the lobby once connected; shouts what it is told; counts calls.
//! struct Shouter {
//!     calls: u64,
//! }
//!
//! impl Handler for Shouter {
//!     type Info = String;
//!     type Call = ();
//!     type Reply = u64;
//!
//!     // Every connect: joining again returns the channel (it rejoins itself).
//!     fn handle_connected(&mut self, ctx: &mut Context<'_>) -> Action {
//!         let _ = ctx.join("room:lobby", Payload::empty());
//!         Action::Continue
//!     }
//!
//!     fn handle_info(&mut self, ctx: &mut Context<'_>, text: String) -> Action {
//!         let lobby = ctx.socket().channel_for_topic("room:lobby");
//!         if let (Some(lobby), Ok(body)) = (lobby, Payload::json(&serde_json::json!({"body": text}))) {
//!             let _ = ctx.push(lobby, "shout", body);
//!         }
//!         Action::Continue
//!     }
//!
//!     fn handle_call(&mut self, _ctx: &mut Context<'_>, _: (), reply: ReplyTo<u64>) -> Action {
//!         self.calls += 1;
//!         reply.send(self.calls);
//!         Action::Continue
//!     }
//! }
//!
//! let runner = Builder::new("ws://localhost:4000/socket").runner(Shouter { calls: 0 });
//! let handle = runner.handle();
//! std::thread::spawn(move || {
//!     handle.info("hello".to_owned()).ok();
//!     let calls = handle.call(()); // answered by the loop on the main thread
//!     println!("{calls:?}");
//!     handle.stop(); // makes `run` below return
//! });
//! let stopped = runner.run(); // the main thread is the socket's thread
//! println!("stopped: {}", stopped.reason);
//! ```
//!
//! ## What a socket does each turn
//!
//! It takes one input: a batch of messages from the handles, up to the
//! handler's budget of WebSocket messages (fewer when a channel's event
//! queue is nearly full), a socket that can take more bytes, or a
//! deadline. Then it drains the core: every instruction is carried out
//! (frames are written and flushed once per turn), then every event goes
//! to the handler, whose commands are drained in the same turn. Inputs are
//! looked at in rotating order so that none starves the others.
//!
//! With nothing to do, the socket waits: its connection is registered with
//! the poller, and its inbox is polled with a waker that wakes the poller
//! (`Poller::notify`), so a command from any thread wakes it at once, even
//! when its next deadline is a heartbeat thirty seconds away. The reactor
//! sleeps in `Poller::wait` until a socket's connection is ready, a waker
//! fires or the earliest deadline (the core's, or a blocked write's time
//! limit) passes; sockets with work take turns in rounds.
//!
//! The socket is non-blocking while open: a write the kernel cannot take
//! waits for the socket to become writable, and fails the connection (the
//! core reconnects) once no byte has gone out for the write timeout
//! ([`Builder::write_timeout`](phoenix_proto::api::Builder::write_timeout)).
//!
//! **Connecting blocks** a `phoenix-io` thread (or, with
//! [`Runner::run`], the calling thread): DNS, then TCP, TLS and the
//! WebSocket upgrade, each limited by the connect timeout
//! ([`Builder::connect_timeout`](phoenix_proto::api::Builder::connect_timeout),
//! 10 s by default). Meanwhile the socket goes on taking commands, as the
//! core allows while connecting; an attempt the core gives up (a stop, a
//! `disconnect`) is dropped when it ends.
//!
//! **Stopping** carries out the core's instructions up to its close (frames
//! accepted before the stop still go out), sends the close frame and waits
//! at most two seconds for the server's answer, on a `phoenix-io` thread
//! (or the calling thread of [`Runner::run`]); the socket's waiters learn
//! that it stopped at once. A close the core decides while running (a
//! heartbeat timeout, `disconnect`) sends the close frame only if the
//! socket takes it at once, and drops the connection.
//!
//! ## Slow readers
//!
//! Each channel's events go to a bounded queue
//! ([`Builder::channel_capacity`](phoenix_proto::api::Builder::channel_capacity)).
//! When one is full the loop reads nothing from the network until the
//! application takes an event (which wakes it): TCP back-pressure, nothing
//! dropped. An application that stops reading for longer than the
//! heartbeat interval loses the connection (the socket reconnects and
//! rejoins).
#![deny(unsafe_code)]

mod block_on;
mod client;
mod conn;
mod connect;
mod drive;
mod driven;
mod handler_socket;
mod hub;
mod io_pool;
mod launch;
mod reactor;

pub use client::{
    Channel, ChannelEvents, Client, EventStream, Events, PendingJoin, PendingPush, PresenceEvents,
    SocketEvents,
};
pub use handler_socket::{HandlerHandle, HandlerSocket};
pub use launch::{Blocking, BuilderExt, Runner};

/// Configures and starts a socket whose loop runs without an async runtime.
/// See [`phoenix_proto::api::Builder`]; [`BuilderExt`] adds
/// [`run`](BuilderExt::run) and [`runner`](BuilderExt::runner).
pub type Builder = phoenix_proto::api::Builder<Blocking>;

// The shared names; the blocking crate's own `Channel`, `Client`, events
// and handler handles above take precedence over the async ones.
pub use phoenix_proto;
pub use phoenix_proto::api::prelude::*;
pub use phoenix_proto::client::BadMessage;
