//! The WebSocket transport: one task per connection that reads client frames,
//! feeds them to the [`Session`], and writes the connection's output queue
//! (honouring the delay fault), plus the idle timeout and the close codes.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until, timeout};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::error::Error as WsError;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::codec::{self, ClientMessage, DecodeError, Frame, Serializer};
use crate::control::{ConnectionId, ConnectionInfo};
use crate::hub::{ConnCtl, ConnEntry, Hub, Out, OutItem, Outbox};
use crate::session::{Session, SocketAssigns};

/// How the main loop ended.
enum End {
    /// The close handshake was started by us (a close frame was sent).
    Closed,
    /// The peer went away (close handshake finished or the stream failed).
    Gone,
    /// Drop the TCP connection without a close frame.
    Dropped,
    /// Stop reading and writing but keep the connection.
    HalfOpen,
}

struct Conn<S> {
    hub: Arc<Hub>,
    ws: WebSocketStream<S>,
    pending: VecDeque<OutItem>,
    delay_ms: Arc<AtomicU64>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    fn delay(&self) -> Duration {
        let own = self.delay_ms.load(Ordering::Relaxed);
        let ms = if own == u64::MAX {
            self.hub.global_delay_ms.load(Ordering::Relaxed)
        } else {
            own
        };
        Duration::from_millis(ms)
    }

    /// Writes every queued item that is due (all of them if `force`).
    /// Returns `Some(end)` when the connection is finished.
    async fn flush(&mut self, force: bool) -> Option<End> {
        let delay = self.delay();
        let now = std::time::Instant::now();
        while let Some(item) = self.pending.front() {
            if !force && item.at + delay > now {
                return None;
            }
            let item = self.pending.pop_front()?;
            match item.out {
                Out::Frame(Frame::Text(t)) => {
                    self.hub.note_frame_sent();
                    if self.ws.send(Message::text(t)).await.is_err() {
                        return Some(End::Gone);
                    }
                }
                Out::Frame(Frame::Binary(b)) => {
                    self.hub.note_frame_sent();
                    if self.ws.send(Message::binary(b)).await.is_err() {
                        return Some(End::Gone);
                    }
                }
                Out::Close(code, reason) => {
                    return Some(self.close(code, &reason).await);
                }
            }
        }
        None
    }

    /// The deadline of the first queued item.
    fn next_due(&self) -> Option<Instant> {
        let delay = self.delay();
        self.pending
            .front()
            .map(|i| Instant::from_std(i.at + delay))
    }

    async fn close(&mut self, code: u16, reason: &str) -> End {
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: reason.to_owned().into(),
        };
        match self.ws.close(Some(frame)).await {
            Ok(()) => End::Closed,
            Err(_) => End::Gone,
        }
    }

    /// Flushes what the client should still see, then closes with `code`.
    async fn crash(&mut self, code: u16) -> End {
        if let Some(end) = self.flush(true).await {
            return end;
        }
        self.close(code, "").await
    }
}

fn decode(serializer: Serializer, msg: &Message) -> Option<Result<ClientMessage, DecodeError>> {
    match (serializer, msg) {
        (Serializer::V2, Message::Text(t)) => Some(codec::decode_v2_text(t.as_str())),
        (Serializer::V1, Message::Text(t)) => Some(codec::decode_v1_text(t.as_str())),
        (Serializer::V2, Message::Binary(b)) => Some(codec::decode_v2_binary(b)),
        // V1 feeds binary frames to the JSON parser.
        (Serializer::V1, Message::Binary(b)) => Some(match std::str::from_utf8(b) {
            Ok(t) => codec::decode_v1_text(t),
            Err(_) => Err(DecodeError::BinaryOnV1),
        }),
        _ => None,
    }
}

/// A connection registered with the hub before its upgrade completes, so
/// that it is listed as soon as the client sees `101 Switching Protocols`.
pub(crate) struct Registered {
    id: ConnectionId,
    outbox: Outbox,
    out_rx: mpsc::UnboundedReceiver<OutItem>,
    ctl_rx: mpsc::UnboundedReceiver<ConnCtl>,
    delay_ms: Arc<AtomicU64>,
}

/// Registers a new connection.
pub(crate) fn register(hub: &Hub, info: ConnectionInfo) -> Registered {
    let id = info.id;
    let (outbox, out_rx) = Outbox::new();
    let (ctl_tx, ctl_rx) = mpsc::unbounded_channel();
    let delay_ms = Arc::new(AtomicU64::new(u64::MAX));
    hub.register(ConnEntry {
        info,
        outbox: outbox.clone(),
        ctl: ctl_tx,
        delay_ms: delay_ms.clone(),
    });
    Registered {
        id,
        outbox,
        out_rx,
        ctl_rx,
        delay_ms,
    }
}

/// Serves one upgraded WebSocket connection until it ends.
pub(crate) async fn serve<S>(
    hub: Arc<Hub>,
    ws: WebSocketStream<S>,
    reg: Registered,
    assigns: SocketAssigns,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let Registered {
        id,
        outbox,
        mut out_rx,
        mut ctl_rx,
        delay_ms,
    } = reg;
    let (events_tx, mut events_rx) = mpsc::unbounded_channel();
    let mut session = Session::new(hub.clone(), assigns, outbox, events_tx);
    let mut conn = Conn {
        hub: hub.clone(),
        ws,
        pending: VecDeque::new(),
        delay_ms,
    };
    let idle = hub.config.idle_timeout;
    let mut idle_deadline = Instant::now() + idle;

    let end = loop {
        let due = conn.next_due();
        tokio::select! {
            biased;
            ctl = ctl_rx.recv() => match ctl {
                Some(ConnCtl::Drop) => break End::Dropped,
                Some(ConnCtl::HalfOpen) => break End::HalfOpen,
                None => {}
            },
            Some(ev) = events_rx.recv() => session.on_event(ev),
            Some(item) = out_rx.recv() => {
                conn.pending.push_back(item);
                if let Some(end) = conn.flush(false).await {
                    break end;
                }
            }
            () = sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {
                if let Some(end) = conn.flush(false).await {
                    break end;
                }
            }
            () = sleep_until(idle_deadline) => {
                // Bandit closes an idle WebSocket with 1002, without Phoenix frames.
                break conn.close(1002, "").await;
            }
            msg = conn.ws.next() => {
                idle_deadline = Instant::now() + idle;
                match msg {
                    None => break End::Gone,
                    Some(Err(WsError::Capacity(_))) => break conn.crash(1009).await,
                    Some(Err(WsError::Utf8(_))) => break conn.crash(1007).await,
                    Some(Err(WsError::Protocol(_))) => break conn.crash(1002).await,
                    Some(Err(_)) => break End::Gone,
                    Some(Ok(m)) => {
                        let Some(decoded) = decode(session.serializer(), &m) else {
                            continue; // ping, pong, close, raw frame: handled by tungstenite
                        };
                        hub.note_frame_received(id);
                        match decoded {
                            Ok(cm) => session.handle(cm).await,
                            // The connection process crashes: close 1011, no Phoenix frames.
                            Err(_) => break conn.crash(1011).await,
                        }
                    }
                }
            }
        }
    };

    match end {
        End::Closed => {
            session.terminate().await;
            // Let the client answer the close handshake (bounded), and
            // count the clients that do (RFC 6455 5.5.1).
            let _ = timeout(Duration::from_secs(1), async {
                while let Some(item) = conn.ws.next().await {
                    if let Ok(Message::Close(_)) = item {
                        hub.note_close_answered();
                    }
                }
            })
            .await;
        }
        End::Gone | End::Dropped => session.terminate().await,
        End::HalfOpen => {
            // Neither read nor write; wait for a close/drop request.
            loop {
                tokio::select! {
                    ctl = ctl_rx.recv() => match ctl {
                        Some(ConnCtl::Drop) | None => break,
                        Some(ConnCtl::HalfOpen) => {}
                    },
                    item = out_rx.recv() => match item {
                        Some(OutItem { out: Out::Close(code, reason), .. }) => {
                            let _ = timeout(Duration::from_secs(1), conn.close(code, &reason)).await;
                            break;
                        }
                        Some(_) => {}
                        None => break,
                    },
                    Some(ev) = events_rx.recv() => session.on_event(ev),
                }
            }
            session.terminate().await;
        }
    }
    hub.unregister(id);
    drop(conn);
}
