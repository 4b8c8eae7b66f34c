//! A Phoenix-Channels-compatible test server.
//!
//! It speaks the Phoenix socket protocol (WebSocket at `/socket/websocket`,
//! long-poll at `/socket/longpoll`, V2 text and binary frames, V1 objects)
//! and serves the project's fixture application (`tests/transcripts/FIXTURE.md`:
//! `echo:*`, `auth:*`, `presence:*`, `crash_join:*`). It is checked against
//! transcripts recorded from a real Phoenix server, and adds fault injection
//! for client tests.
//!
//! # Starting it in a test
//!
//! [`TestServer::start`] binds `127.0.0.1` on a free port and runs the server
//! on its own runtime until [`TestServer::shutdown`] or drop:
//!
//! ```
//! use std::time::Duration;
//!
//! use futures_util::{SinkExt, StreamExt};
//! use phoenix_test_server::{ServerConfig, TestServer};
//! use tokio_tungstenite::tungstenite::Message;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = TestServer::start_with(ServerConfig {
//!     idle_timeout: Duration::from_secs(5),
//!     ..ServerConfig::default()
//! })
//! .await?;
//! let url = format!("{}?vsn=2.0.0&user_id=42", server.ws_url());
//! let (mut ws, _) = tokio_tungstenite::connect_async(url).await?;
//!
//! ws.send(Message::text(r#"["1","1","echo:1","phx_join",{}]"#)).await?;
//! let reply = ws.next().await.ok_or("closed")??;
//! assert_eq!(
//!     reply.to_text()?,
//!     r#"["1","1","echo:1","phx_reply",{"response":{"joined":"echo:1"},"status":"ok"}]"#
//! );
//!
//! // The control API sees the connection ...
//! let conn = server.connections().pop().ok_or("no connection")?;
//! assert_eq!(conn.socket_id.as_deref(), Some("user_socket:42"));
//!
//! // ... can push from the server ("endpoint broadcast") ...
//! server.broadcast("echo:1", "news", serde_json::json!({"n": 1}));
//! let news = ws.next().await.ok_or("closed")??;
//! assert_eq!(news.to_text()?, r#"[null,null,"echo:1","news",{"n":1}]"#);
//!
//! // ... and inject faults, here a close with a chosen code.
//! server.close_connection(conn.id, 4001, "go away");
//! match ws.next().await.ok_or("closed")?? {
//!     Message::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 4001),
//!     other => panic!("expected a close frame, got {other:?}"),
//! }
//! assert!(ws.next().await.is_none()); // completes the close handshake
//! server.wait_for_at_most(0).await;
//! assert_eq!(server.stats().connections_opened, 1);
//! server.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! # Fault controls
//!
//! All on [`TestServer`], per connection ([`ConnectionId`] from
//! [`TestServer::connections`] or [`TestServer::next_connection`]) or for all:
//!
//! | method | effect |
//! | --- | --- |
//! | [`close_connection`](TestServer::close_connection) / [`close_all`](TestServer::close_all) | close frame with a chosen code and reason |
//! | [`drop_connection`](TestServer::drop_connection) / [`drop_all`](TestServer::drop_all) | TCP closed without a close frame (client sees 1006) |
//! | [`half_open`](TestServer::half_open) / [`half_open_all`](TestServer::half_open_all) | stop reading and writing, keep the TCP connection |
//! | [`set_delay`](TestServer::set_delay) / [`set_delay_all`](TestServer::set_delay_all) | delay every outgoing frame |
//! | [`send_malformed`](TestServer::send_malformed), [`send_raw_text`](TestServer::send_raw_text), [`send_raw_binary`](TestServer::send_raw_binary) | inject garbage, stale or forged frames |
//! | [`refuse_connections`](TestServer::refuse_connections) / [`refuse_connections_with`](TestServer::refuse_connections_with) / [`accept_connections`](TestServer::accept_connections) | answer new connects with 503 (or e.g. 429) and `Retry-After` |
//! | [`restart`](TestServer::restart) | close everything (1012), forget channels, keep the port |
//! | [`broadcast`](TestServer::broadcast), [`broadcast_binary`](TestServer::broadcast_binary), [`disconnect_socket_id`](TestServer::disconnect_socket_id) | server-side pushes |
//! | [`proxy::FaultProxy`] (in front of the server) | TCP-level faults: cut, reset, stall (half-open), latency, bandwidth, truncate, raw bytes, refusals; counts connection attempts |
//! | [`stats`](TestServer::stats), [`wait_for_connections`](TestServer::wait_for_connections), [`wait_for_opened`](TestServer::wait_for_opened), [`wait_for_at_most`](TestServer::wait_for_at_most), [`next_connection`](TestServer::next_connection) | assertions and synchronisation |
//!
//! # Phoenix versions
//!
//! The transcripts were recorded from Phoenix 1.7.21 (Bandit 1.5.7). Where
//! Phoenix 1.8 differs, this server behaves like **1.8.12**:
//!
//! * **Stale join_ref**: a message whose join_ref is non-null and differs from
//!   the channel's current join_ref is dropped without a reply (1.8.3+);
//!   1.7.21 delivered it to the current channel. A null join_ref is always
//!   accepted (1.8.12; 1.8.3–1.8.11 dropped it). A `phx_leave` with a stale
//!   join_ref is ignored in both. This also affects pushes with the old
//!   join_ref after a duplicate join, and binary frames with an empty join_ref.
//! * **`phx_error` payload** is `{"reason":"channel_crash"}` (1.8.10+); 1.7.21
//!   sent `{}`.
//! * **Socket-id disconnect** closes the WebSocket with **1001** (1.8.8+);
//!   the 1.7.21 recording shows 1011 (Bandit 1.5.7).
//! * **Channel limit** `max_channels_per_transport` defaults to 100 (1.8.9+).
//! * **Auth token** subprotocol `base64url.bearer.phx.<token>` (1.8.0+) and
//!   the long-poll `X-Phoenix-AuthToken` header; the long-poll session token
//!   is read from the `X-Phoenix-Longpoll-Token` header or `?token=`.
//!
//! Other choices, where Phoenix leaves it to the web server or the app:
//!
//! * Idle timeout closes with **1002** (Bandit); shutdown closes with 1001 and
//!   [`TestServer::restart`] with 1012; an undecodable frame closes with 1011,
//!   an oversized one with 1009, invalid UTF-8 with 1007.
//! * `disconnect_me` with a socket id never replies (the recording's race is
//!   always won by the close).
//! * Server→client binary frames are not delivered over long-poll (Phoenix
//!   cannot either), and binary broadcasts skip V1 subscribers.
//! * Presence is single-node: `presence_diff` is broadcast at once, and a
//!   joiner sees its own join diff before its `presence_state`, as recorded.

mod channel;
pub mod codec;
mod config;
mod control;
mod fixture;
mod http;
mod hub;
mod longpoll;
mod presence;
pub mod proxy;
mod server;
mod session;
mod tls;
mod websocket;

pub use codec::{Frame, Payload, Serializer};
pub use config::ServerConfig;
pub use control::{ConnectionId, ConnectionInfo, MALFORMED_FRAME, ServerStats, Transport};
pub use server::TestServer;
pub use tls::{ClientCertificate, TlsMaterial};
