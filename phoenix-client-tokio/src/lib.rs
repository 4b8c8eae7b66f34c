//! # phoenix-client-tokio
//!
//! A [Phoenix Channels](https://hexdocs.pm/phoenix/channels.html) client for
//! tokio. The protocol lives in the sans-IO crate [`phoenix_proto`], and
//! so do the API and the driver loop that every runtime shares
//! ([`phoenix_proto::api`]); this crate is their tokio backend: tokio's
//! TCP, timers and `spawn`. Each socket is one task that owns the
//! WebSocket (async-tungstenite), TLS (rustls) and the clock, feeds the
//! core whole messages, and hands its events to your code.
//!
//! The same client runs on async-std and smol (`phoenix-client-async-std`)
//! and on plain threads (`phoenix-client-blocking`), with the same names.
//!
//! ## Two ways to use it
//!
//! **The async API.** A [`Client`] gives [`Channel`]s; joins and pushes are
//! futures, server messages are a stream:
//!
//! ```no_run
//! use futures_util::StreamExt;
//! use phoenix_client_tokio::{ChannelEvent, Client};
//! use serde_json::{json, Value};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let client = Client::builder("ws://localhost:4000/socket")
//!     .param("token", "abc")
//!     .connect();
//! let lobby = client.channel("room:lobby", &json!({"nick": "ferris"}));
//! let mut events = lobby.events().expect("first call");
//! let welcome = lobby.join().await?;
//! println!("joined: {}", welcome.as_json().unwrap_or("<binary>"));
//! let reply: Value = lobby.push("shout", &json!({"body": "hi"})).await?;
//! println!("reply: {reply}");
//! while let Some(event) = events.next().await {
//!     if let ChannelEvent::Message { event, payload } = event {
//!         println!("{event}: {:?}", payload.as_json());
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! Many pushes in flight: [`Channel::start_push`] hands a push to the socket
//! at once (in order, without waiting for room in its queue) and returns a
//! [`PendingPush`], a future of its reply; every one ends in exactly one
//! outcome. Futures of [`Channel::push`] kept together (`join_all`,
//! `buffer_unordered`) cost the same.
//!
//! ```no_run
//! # async fn run(lobby: phoenix_client_tokio::Channel) -> Result<(), Box<dyn std::error::Error>> {
//! use phoenix_client_tokio::Payload;
//! let pending: Vec<_> = (0..1_000)
//!     .map(|i| Ok(lobby.start_push("item", Payload::json(&serde_json::json!({"i": i}))?, None)))
//!     .collect::<Result<_, phoenix_client_tokio::phoenix_proto::codec::EncodeError>>()?;
//! for reply in futures_util::future::join_all(pending).await {
//!     println!("{}", reply?.status);
//! }
//! # Ok(()) }
//! ```
//!
//! **The callback model** of the Elixir library phoenix_gen_socket_client:
//! implement [`Handler`] and start it with [`Builder::spawn_handler`]; the
//! callbacks run one at a time on the socket's task and act through a
//! [`Context`]. Rejoins, heartbeats and reconnects are automatic.
//!
//! ```no_run
//! use std::sync::Arc;
//! use phoenix_client_tokio::{Action, Builder, ChannelId, Context, Handler, Name, Payload, ReplyTo};
//!
//! /// Joins the lobby on every connect and counts the messages it sees.
//! struct Counter {
//!     seen: u64,
//! }
//!
//! impl Handler for Counter {
//!     type Info = String; // a message to shout
//!     type Call = (); // "how many?"
//!     type Reply = u64;
//!
//!     // Runs on every connect: joining again returns the channel that
//!     // rejoins by itself, so the natural code is right.
//!     fn handle_connected(&mut self, ctx: &mut Context<'_>) -> Action {
//!         let _ = ctx.join("room:lobby", Payload::empty());
//!         Action::Continue
//!     }
//!
//!     fn handle_message(
//!         &mut self,
//!         _ctx: &mut Context<'_>,
//!         _channel: ChannelId,
//!         _topic: Arc<str>,
//!         _event: Name,
//!         _payload: Payload<'static>,
//!     ) -> Action {
//!         self.seen += 1;
//!         Action::Continue
//!     }
//!
//!     fn handle_info(&mut self, ctx: &mut Context<'_>, text: String) -> Action {
//!         if let Some(lobby) = ctx.socket().channel_for_topic("room:lobby") {
//!             let body = Payload::json(&serde_json::json!({ "body": text }));
//!             if let Ok(body) = body {
//!                 let _ = ctx.push(lobby, "shout", body);
//!             }
//!         }
//!         Action::Continue
//!     }
//!
//!     // Answer now, or keep `reply` and answer from a later callback.
//!     fn handle_call(&mut self, _ctx: &mut Context<'_>, _: (), reply: ReplyTo<u64>) -> Action {
//!         reply.send(self.seen);
//!         Action::Continue
//!     }
//! }
//!
//! # async fn run() -> Result<(), phoenix_client_tokio::SocketGone> {
//! let socket = Builder::new("ws://localhost:4000/socket").spawn_handler(Counter { seen: 0 });
//! socket.info("hello".to_owned()).await?;
//! let seen = socket.call(()).await?;
//! println!("{seen} messages so far");
//! let stopped = socket.stop().await;
//! println!("stopped: {}", stopped.reason);
//! # Ok(()) }
//! ```
//!
//! ## What the driver does each turn
//!
//! It reads the clock once, hands the core whatever happened (up to
//! [`MAX_BATCH`](phoenix_proto::api::MAX_BATCH) commands from the handles or
//! WebSocket messages that are already buffered, fewer when a channel's
//! event queue is nearly full; a finished connection attempt; or a
//! deadline), then drains the core: every frame to send is written and
//! flushed once per turn, every event goes to the handler (which may issue
//! commands, drained in the same turn). Then it sleeps until the core's next
//! deadline or new input.
//!
//! ## Latency on a current-thread runtime
//!
//! A reply wakes the future that awaits it. When that future is the one
//! given to `Runtime::block_on` (code written directly in `main`), tokio's
//! current-thread scheduler polls its I/O driver once more, without
//! waiting, before it polls that future again: one more system call per
//! reply. A task started with `tokio::spawn` is woken through the run queue
//! instead and saves that call, as the callback model does. In the
//! benchmark's sequential pushes that was about 7% less CPU per round trip
//! and a few microseconds of median latency, inside the run-to-run spread
//! (`BENCHMARKS.md`, item 30); it matters most to code that awaits one
//! push at a time.
//!
//! ## Slow readers
//!
//! Each channel's events go to a bounded queue (see
//! [`Builder::channel_capacity`]). When a queue is full the driver stops
//! reading from the network (the server's frames wait in the kernel and then
//! in the server, which is TCP back-pressure) until the application makes
//! room; nothing is dropped and nothing grows without bound. Pushes,
//! replies and timers keep working meanwhile, but heartbeat replies are not
//! read either: an application that stops reading for longer than the
//! heartbeat interval loses the connection (the socket reconnects and
//! rejoins). A channel whose [`Channel::events`] stream was never taken, or
//! was dropped, does not queue events at all.
//!
//! ## Tracing
//!
//! Connects, disconnects, joins and pushes are logged with `tracing`.
//! Query values, tokens and headers never appear in logs or `Debug` output.
#![forbid(unsafe_code)]

mod connector;
mod runtime;

pub use connector::Connector;
pub use runtime::Tokio;

/// A Phoenix socket with the async API, on tokio. See [`phoenix_proto::api::Client`].
pub type Client = phoenix_proto::api::Client<Tokio>;
/// Configures and starts a socket on tokio. See [`phoenix_proto::api::Builder`].
pub type Builder = phoenix_proto::api::Builder<Tokio>;

pub use phoenix_proto;
pub use phoenix_proto::api::prelude::*;
