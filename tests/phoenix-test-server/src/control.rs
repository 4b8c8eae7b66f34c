//! The control API of a running [`TestServer`]: inspect connections, inject
//! faults, broadcast from the server, and wait for connections.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::TestServer;
use crate::codec::{Frame, Payload, Serializer};
use crate::hub::{ConnCtl, Refusal};

/// Identifies one connection (a WebSocket or a long-poll session) of a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnectionId(pub u64);

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn#{}", self.0)
    }
}

/// The transport of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// `/socket/websocket`.
    WebSocket,
    /// `/socket/longpoll`.
    LongPoll,
}

/// What the server knows about an open connection.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionInfo {
    /// The connection's id, used by the fault-control methods.
    pub id: ConnectionId,
    /// WebSocket or long-poll.
    pub transport: Transport,
    /// The negotiated serializer.
    pub serializer: Serializer,
    /// The query parameters of the connect request (`vsn` included), percent-decoded.
    pub params: BTreeMap<String, String>,
    /// The socket id (`user_socket:<user_id>`), if a `user_id` param was given.
    pub socket_id: Option<String>,
    /// The Phoenix 1.8 auth token the client presented, if any.
    pub auth_token: Option<String>,
    /// The request headers of the connect request, names in lower case
    /// (repeated headers joined with `, `), so tests can check what a
    /// client sent.
    pub headers: BTreeMap<String, String>,
    /// The peer's address.
    pub peer: SocketAddr,
    /// Data frames received from this client so far.
    pub frames_received: u64,
}

/// Counters of a server since it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ServerStats {
    /// Connections accepted (WebSocket upgrades and long-poll sessions).
    pub connections_opened: u64,
    /// Connections that have ended.
    pub connections_closed: u64,
    /// Connections open right now.
    pub connections_open: usize,
    /// Connection attempts refused (403 from `connect`, or the refusal switch).
    pub connections_refused: u64,
    /// Data frames received from clients (long-poll: frames in POST bodies).
    pub frames_received: u64,
    /// Data frames written to WebSocket clients.
    pub frames_sent: u64,
    /// Close frames of this server that a client answered with its own.
    pub closes_answered: u64,
}

/// The text sent by [`TestServer::send_malformed`]: not a JSON array, so a
/// client must treat it as garbage.
pub const MALFORMED_FRAME: &str = "\u{1}this is not a phoenix frame";

impl TestServer {
    /// Every open connection.
    pub fn connections(&self) -> Vec<ConnectionInfo> {
        self.hub.connections()
    }

    /// One connection, if it is still open.
    pub fn connection(&self, id: ConnectionId) -> Option<ConnectionInfo> {
        self.hub.with_conn(id, |c| c.info.clone())
    }

    /// Counters (connections opened/closed/refused, frames received/sent).
    pub fn stats(&self) -> ServerStats {
        self.hub.stats()
    }

    /// Closes a connection with a WebSocket close frame carrying `code` and
    /// `reason` (after the frames already queued for it). For a long-poll
    /// session the session ends (later requests get status 410). Returns
    /// `false` if there is no such connection.
    pub fn close_connection(&self, id: ConnectionId, code: u16, reason: &str) -> bool {
        self.hub
            .with_conn(id, |c| c.outbox.close(code, reason))
            .is_some()
    }

    /// Updates the presence metas of `key` on `topic` with `fields` (like
    /// `Presence.update/4`: new `phx_ref`, `phx_ref_prev`) and broadcasts the
    /// diffs; returns how many metas changed. A control, not a fixture event.
    pub fn update_presence(&self, topic: &str, key: &str, fields: serde_json::Value) -> usize {
        self.hub.presence_update(topic, key, &fields)
    }

    /// [`close_connection`](Self::close_connection) for every connection; returns how many.
    pub fn close_all(&self, code: u16, reason: &str) -> usize {
        let mut n = 0;
        self.hub.for_each_conn(|c| {
            c.outbox.close(code, reason);
            n += 1;
        });
        n
    }

    /// Drops the TCP connection at once, without a close frame (the client
    /// sees an abnormal closure, 1006). Long-poll: ends the session.
    pub fn drop_connection(&self, id: ConnectionId) -> bool {
        self.hub
            .with_conn(id, |c| c.ctl.send(ConnCtl::Drop).is_ok())
            .unwrap_or(false)
    }

    /// [`drop_connection`](Self::drop_connection) for every connection.
    pub fn drop_all(&self) -> usize {
        let mut n = 0;
        self.hub.for_each_conn(|c| {
            if c.ctl.send(ConnCtl::Drop).is_ok() {
                n += 1;
            }
        });
        n
    }

    /// Makes a WebSocket connection half-open: the server stops reading from
    /// and writing to it (no replies, no pongs, no idle timeout) but keeps the
    /// TCP connection and its channels until it is closed, dropped, restarted
    /// or shut down. Frames queued meanwhile are discarded. No effect on
    /// long-poll sessions.
    pub fn half_open(&self, id: ConnectionId) -> bool {
        self.hub
            .with_conn(id, |c| c.ctl.send(ConnCtl::HalfOpen).is_ok())
            .unwrap_or(false)
    }

    /// [`half_open`](Self::half_open) for every connection.
    pub fn half_open_all(&self) -> usize {
        let mut n = 0;
        self.hub.for_each_conn(|c| {
            if c.ctl.send(ConnCtl::HalfOpen).is_ok() {
                n += 1;
            }
        });
        n
    }

    /// Delays every outgoing frame of one WebSocket connection by `delay`
    /// (measured from when the frame was produced; order is kept).
    /// `Duration::ZERO` removes the delay. Overrides [`set_delay_all`](Self::set_delay_all).
    pub fn set_delay(&self, id: ConnectionId, delay: Duration) -> bool {
        let ms = u64::try_from(delay.as_millis())
            .unwrap_or(u64::MAX - 1)
            .min(u64::MAX - 1);
        self.hub
            .with_conn(id, |c| c.delay_ms.store(ms, Ordering::Relaxed))
            .is_some()
    }

    /// Delays the outgoing frames of every WebSocket connection, present and
    /// future, that has no per-connection delay.
    pub fn set_delay_all(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis())
            .unwrap_or(u64::MAX - 1)
            .min(u64::MAX - 1);
        self.hub.global_delay_ms.store(ms, Ordering::Relaxed);
    }

    /// Sends [`MALFORMED_FRAME`] (a text frame that is not JSON) to a client.
    pub fn send_malformed(&self, id: ConnectionId) -> bool {
        self.send_raw_text(id, MALFORMED_FRAME)
    }

    /// Sends an arbitrary text frame to a client, e.g. a stale or forged
    /// Phoenix message. Long-poll: appended to the next poll's `messages`.
    pub fn send_raw_text(&self, id: ConnectionId, text: &str) -> bool {
        self.hub
            .with_conn(id, |c| c.outbox.frame(Frame::Text(text.to_owned())))
            .is_some()
    }

    /// Sends an arbitrary binary frame to a WebSocket client.
    pub fn send_raw_binary(&self, id: ConnectionId, bytes: &[u8]) -> bool {
        self.hub
            .with_conn(id, |c| c.outbox.frame(Frame::Binary(bytes.to_vec())))
            .is_some()
    }

    /// Refuses new connections (WebSocket upgrades and new long-poll
    /// sessions) for `duration` with HTTP 503 and a `Retry-After` header
    /// (whole seconds, rounded up). Open connections are not affected.
    pub fn refuse_connections(&self, duration: Duration) {
        self.refuse_connections_with(503, Some(duration), None);
    }

    /// Refuses new connections with HTTP `status` (e.g. 429 or 503), for
    /// `duration` (`None`: until [`accept_connections`](Self::accept_connections)).
    /// `retry_after` sets the `Retry-After` header; by default it is the
    /// remaining refusal time, and absent when refusing indefinitely.
    pub fn refuse_connections_with(
        &self,
        status: u16,
        duration: Option<Duration>,
        retry_after: Option<Duration>,
    ) {
        let until = duration.map(|d| Instant::now() + d);
        self.hub.set_refusal(Some(Refusal {
            status,
            until,
            retry_after,
        }));
    }

    /// Stops refusing new connections.
    pub fn accept_connections(&self) {
        self.hub.set_refusal(None);
    }

    /// An "endpoint broadcast": sends `[null,null,topic,event,payload]` to
    /// every channel subscribed to `topic`. Event `"disconnect"` on a socket id
    /// topic (`user_socket:<id>`) also closes those connections with 1001, as
    /// in Phoenix. Returns the number of subscribers reached.
    pub fn broadcast(&self, topic: &str, event: &str, payload: Value) -> usize {
        if event == "disconnect" {
            self.hub.disconnect_socket_id(topic);
        }
        self.hub.broadcast(topic, event, Payload::Json(payload))
    }

    /// A binary endpoint broadcast (binary frame kind 2; V1 clients are skipped).
    pub fn broadcast_binary(&self, topic: &str, event: &str, payload: &[u8]) -> usize {
        self.hub
            .broadcast(topic, event, Payload::Binary(payload.to_vec()))
    }

    /// The socket-id "disconnect": closes every connection whose socket id is
    /// `socket_id` with code 1001, no frames. Returns how many.
    pub fn disconnect_socket_id(&self, socket_id: &str) -> usize {
        self.hub.disconnect_socket_id(socket_id)
    }

    /// Waits until at least `n` connections are open at the same time.
    pub async fn wait_for_connections(&self, n: usize) {
        self.wait_until(|s| s.connections_open >= n).await;
    }

    /// Waits until at least `n` connections have been opened since the server started.
    pub async fn wait_for_opened(&self, n: u64) {
        self.wait_until(|s| s.connections_opened >= n).await;
    }

    /// Waits until at most `n` connections are open.
    pub async fn wait_for_at_most(&self, n: usize) {
        self.wait_until(|s| s.connections_open <= n).await;
    }

    /// Waits until a connection is opened after this call, then returns the
    /// newest open connection (normally that one).
    pub async fn next_connection(&self) -> ConnectionInfo {
        let before = self.stats().connections_opened;
        let mut rx = self.hub.subscribe_changes();
        loop {
            if self.stats().connections_opened > before {
                if let Some(c) = self.connections().into_iter().max_by_key(|c| c.id) {
                    return c;
                }
            }
            if rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    async fn wait_until(&self, cond: impl Fn(&ServerStats) -> bool) {
        let mut rx = self.hub.subscribe_changes();
        loop {
            if cond(&self.stats()) {
                return;
            }
            if rx.changed().await.is_err() {
                // The hub lives as long as `self`; this cannot happen.
                std::future::pending::<()>().await;
            }
        }
    }
}
