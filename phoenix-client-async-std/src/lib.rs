//! # phoenix-client-async-std
//!
//! A [Phoenix Channels](https://hexdocs.pm/phoenix/channels.html) client for
//! async-std and smol. The protocol lives in the sans-IO crate
//! [`phoenix_proto`], and so do the API and the driver loop that every
//! runtime shares ([`phoenix_proto::api`]); this crate is their backend on
//! the pieces async-std and smol are both built from: async-io (the reactor
//! and timers), async-net (TCP) and a global executor. The names are those
//! of `phoenix-client-tokio`, so code moves between the two by changing the
//! crate name.
//!
//! One crate serves both runtimes because they are the same machinery:
//! async-std is discontinued upstream and smol is its successor. Nothing
//! here depends on async-std itself.
//!
//! ## Where the socket runs
//!
//! Each socket is one task that owns the WebSocket (async-tungstenite), TLS
//! (rustls) and the timers, feeds the core whole messages and hands its
//! events to your code. [`Client::connect`] and [`Builder::new`] spawn that
//! task on the global executor of the `async-global-executor` crate, the
//! very executor behind `async_std::task::spawn`. It runs on threads of its
//! own, and async-io's reactor needs no runtime either, so a socket keeps
//! running whichever `block_on` the application uses, and between its
//! calls. To run sockets on another executor, such as smol's, build with
//! [`AsyncIo::with_spawner`] and [`Builder::with_runtime`]. The handles
//! ([`Client`], [`Channel`], [`ChannelEvents`], [`HandlerSocket`]) are plain
//! futures over runtime-neutral queues: await them anywhere.
//!
//! ## The async API under async-std
//!
//! A [`Client`] gives [`Channel`]s; joins and pushes are futures, and server
//! messages arrive on the channel's [`ChannelEvents`]:
//!
//! ```no_run
//! use phoenix_client_async_std::{ChannelEvent, Client};
//! use serde_json::{json, Value};
//!
//! async_std::task::block_on(async {
//!     let client = Client::builder("ws://localhost:4000/socket")
//!         .param("user_id", "ferris")
//!         .connect();
//!     let room = client.channel("room:lobby", &json!({}));
//!     let mut events = room.events().expect("taken once");
//!     room.join().await?;
//!     let reply: Value = room.push("shout", &json!({"body": "hi"})).await?;
//!     println!("reply: {reply}");
//!     while let Some(event) = events.recv().await {
//!         if let ChannelEvent::Message { event, payload } = event {
//!             println!("{event}: {:?}", payload.as_json());
//!         }
//!     }
//!     client.shutdown().await;
//!     Ok::<_, Box<dyn std::error::Error>>(())
//! })?;
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! ```
//!
//! ## The same under smol
//!
//! The code is the same; only the `block_on` differs. With
//! [`AsyncIo::with_spawner`] the socket's task runs on smol's executor too
//! (leave it out and it runs on the global executor, which works as well):
//!
//! ```no_run
//! use phoenix_client_async_std::{AsyncIo, Builder};
//! use serde_json::{json, Value};
//!
//! smol::block_on(async {
//!     let on_smol = AsyncIo::with_spawner(|task| smol::spawn(task).detach());
//!     let client = Builder::with_runtime("ws://localhost:4000/socket", on_smol).connect();
//!     let room = client.channel("room:lobby", &json!({}));
//!     room.join().await?;
//!     let reply: Value = room.push("shout", &json!({"body": "hi"})).await?;
//!     println!("reply: {reply}");
//!     client.shutdown().await;
//!     Ok::<_, Box<dyn std::error::Error>>(())
//! })?;
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Latency: the sockets on the thread that waits
//!
//! On the global executor a socket's task runs on one of its threads while
//! the application waits in `block_on` on another, and async-io's reactor
//! is held by whichever thread got it: a reply typically reaches the
//! application through one or two thread wake-ups. When round-trip
//! latency matters more than having sockets run by themselves, run them
//! on an executor that the waiting thread drives, like a tokio
//! current-thread runtime does: give the executor to
//! [`AsyncIo::with_spawner`] and wait in its `run`. The sockets then make
//! progress only while some thread is inside `run` (heartbeats included),
//! so keep the application's whole life in it:
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use phoenix_client_async_std::{AsyncIo, Builder};
//! use serde_json::{json, Value};
//!
//! let executor = Arc::new(smol::Executor::new());
//! let spawner = executor.clone();
//! let here = AsyncIo::with_spawner(move |task| spawner.spawn(task).detach());
//! smol::block_on(executor.run(async {
//!     let client = Builder::with_runtime("ws://localhost:4000/socket", here).connect();
//!     let room = client.channel("room:lobby", &json!({}));
//!     room.join().await?;
//!     let reply: Value = room.push("shout", &json!({"body": "hi"})).await?;
//!     println!("reply: {reply}");
//!     client.shutdown().await;
//!     Ok::<_, Box<dyn std::error::Error>>(())
//! }))?;
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! ```
//!
//! Against a local mock server (BENCHMARKS.md item 31) this took the
//! median sequential round trip of the callback model from about 68 to
//! 48–54 µs (a fifth to a third less CPU) and that of the async API from
//! about 110 to 64–70 µs (about half the CPU), and a pipelined async API
//! used a third less CPU. async-io's own thread still takes the reactor
//! some of the time, so some wake-ups remain.
//!
//! ## The callback model
//!
//! The style of the Elixir library phoenix_gen_socket_client: implement
//! [`Handler`] and start it with [`Builder::spawn_handler`]. The callbacks
//! run one at a time on the socket's task (on the executor chosen as
//! above) and act through a [`Context`]; heartbeats, reconnects and rejoins
//! happen by themselves. The [`HandlerSocket`] talks to the handler with
//! `info` (no answer) and `call` (an answer), from async-std, smol or any
//! other executor:
//!
//! ```no_run
//! use phoenix_client_async_std::{
//!     Action, Builder, ChannelId, Context, Handler, Payload, PushId, PushOutcome, ReplyTo,
//! };
//!
//! /// Joins `room:lobby` once connected, pushes what it is told to, and
//! /// counts the ok replies.
//! #[derive(Default)]
//! struct Shouter {
//!     lobby: Option<ChannelId>,
//!     ok_replies: usize,
//! }
//!
//! impl Handler for Shouter {
//!     type Info = String; // something to shout
//!     type Call = (); // "how many got through?"
//!     type Reply = usize;
//!
//!     fn handle_connected(&mut self, ctx: &mut Context<'_>) -> Action {
//!         // Channels rejoin by themselves after a reconnect: join once.
//!         if self.lobby.is_none() {
//!             self.lobby = ctx.join("room:lobby", Payload::empty()).ok();
//!         }
//!         Action::Continue
//!     }
//!
//!     fn handle_info(&mut self, ctx: &mut Context<'_>, body: String) -> Action {
//!         if let (Some(lobby), Ok(payload)) = (self.lobby, Payload::json(&body)) {
//!             let _ = ctx.push(lobby, "shout", payload);
//!         }
//!         Action::Continue
//!     }
//!
//!     fn handle_reply(&mut self, _: &mut Context<'_>, _: ChannelId, _: PushId, outcome: PushOutcome) -> Action {
//!         if matches!(outcome, PushOutcome::Reply { ref status, .. } if status == "ok") {
//!             self.ok_replies += 1;
//!         }
//!         Action::Continue
//!     }
//!
//!     fn handle_call(&mut self, _: &mut Context<'_>, _: (), reply: ReplyTo<usize>) -> Action {
//!         reply.send(self.ok_replies);
//!         Action::Continue
//!     }
//! }
//!
//! async_std::task::block_on(async {
//!     let socket = Builder::new("ws://localhost:4000/socket").spawn_handler(Shouter::default());
//!     socket.info("hello".to_owned()).await?;
//!     println!("{} shouts got through", socket.call(()).await?);
//!     println!("stopped: {}", socket.stop().await.reason);
//!     Ok::<_, phoenix_client_async_std::SocketGone>(())
//! })?;
//! # Ok::<_, phoenix_client_async_std::SocketGone>(())
//! ```
//!
//! ## TLS and custom streams
//!
//! `wss:` uses rustls, trusting the Mozilla roots (feature
//! `rustls-webpki-roots`, on by default) and, with the feature
//! `rustls-native-roots` and [`Builder::native_roots`], the operating
//! system's. The platform TLS library ([`Builder::native_tls`]) is only
//! available in `phoenix-client-tokio` for now: here the connection attempt
//! fails with a message saying so. [`Builder::connector`] takes a
//! [`Connector`] that opens any `futures-io` byte stream (an
//! `async_net::TcpStream` through a proxy, a Unix socket, ...) for TLS and
//! the WebSocket upgrade to run on.
//!
//! ## Slow readers and logs
//!
//! Each channel's events wait in a bounded queue
//! ([`Builder::channel_capacity`]); while one is full the socket stops
//! reading from the network until the application takes an event, so
//! memory stays bounded and nothing is dropped. How the loop takes turns is
//! described in [`phoenix_proto::api::driver`]. Connects, joins and pushes
//! are logged with `tracing`, without query values, tokens or headers.
#![forbid(unsafe_code)]

mod runtime;

pub use runtime::AsyncIo;

/// A Phoenix socket with the async API, on async-io. See [`phoenix_proto::api::Client`].
pub type Client = phoenix_proto::api::Client<AsyncIo>;
/// Configures and starts a socket on async-io. See [`phoenix_proto::api::Builder`].
pub type Builder = phoenix_proto::api::Builder<AsyncIo>;

pub use phoenix_proto;
pub use phoenix_proto::api::Connector;
pub use phoenix_proto::api::prelude::*;
