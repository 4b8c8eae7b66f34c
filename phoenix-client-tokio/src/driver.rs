//! The driver: one task per socket that owns the WebSocket and the clock,
//! feeds the core whole messages and hands its events to a handler. It
//! makes no protocol decisions.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use futures_util::future::FutureExt;
use futures_util::{SinkExt, StreamExt};
use phoenix_proto::client::handler::{self, Handler, Stopped};
use phoenix_proto::client::{ConnectFailure, Socket, Transmit};
use phoenix_proto::codec::{WireMessage, WireRef};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tracing::{debug, info, warn};

use crate::credentials::Credentials;
use crate::transport::{self, TransportOptions, WsStream};

/// The most incoming messages handled in one wake-up.
pub(crate) const MAX_BATCH: usize = 64;

/// A future the driver can wait on.
pub(crate) type Wait = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Flow control between the driver and its handler: how many incoming
/// messages the handler can take now, and a way to wait until it can take
/// more.
pub(crate) struct Flow<H> {
    pub(crate) budget: fn(&mut H) -> usize,
    pub(crate) wait_for_room: fn(&mut H) -> Option<Wait>,
}

impl<H> Flow<H> {
    /// For handlers that take every message at once (plain callbacks).
    pub(crate) fn unbounded() -> Self {
        Flow {
            budget: |_| MAX_BATCH,
            wait_for_room: |_| None,
        }
    }
}

/// What the handles send to the driver task.
pub(crate) enum Inbox<H: Handler> {
    Info(H::Info),
    Call(H::Call, oneshot::Sender<H::Reply>),
    Stop(oneshot::Sender<()>),
}

/// Everything the driver needs besides the core and the handler.
pub(crate) struct DriverParts {
    pub(crate) transport: TransportOptions,
    pub(crate) credentials: Credentials,
}

type Connecting = Pin<Box<dyn Future<Output = Result<WsStream, ConnectFailure>> + Send>>;

fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

fn to_ws(message: WireMessage) -> WsMessage {
    match message {
        WireMessage::Text(text) => WsMessage::text(text),
        WireMessage::Binary(bytes) => WsMessage::binary(bytes),
    }
}

/// Closes a connection politely in the background, without waiting for it.
fn close_in_background(mut ws: WsStream, code: u16, reason: String) {
    tokio::spawn(async move {
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: reason.into(),
        };
        let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(Some(frame))).await;
    });
}

/// What one incoming WebSocket item means to the core.
enum Incoming {
    Handled,
    Gone,
}

fn feed_incoming(
    core: &mut Socket,
    item: Option<Result<WsMessage, tokio_tungstenite::tungstenite::Error>>,
) -> Incoming {
    let now = now();
    match item {
        Some(Ok(WsMessage::Text(text))) => {
            core.handle_message(now, WireRef::Text(text.as_str()));
            Incoming::Handled
        }
        Some(Ok(WsMessage::Binary(bytes))) => {
            core.handle_message(now, WireRef::Binary(&bytes));
            Incoming::Handled
        }
        // Pings are answered by tungstenite on the next flush.
        Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_) | WsMessage::Frame(_))) => {
            Incoming::Handled
        }
        Some(Ok(WsMessage::Close(frame))) => {
            let (code, reason) = match &frame {
                Some(f) => (Some(u16::from(f.code)), f.reason.as_str()),
                None => (None, ""),
            };
            info!(code, reason, "server closed the connection");
            core.handle_closed(now, code, reason);
            Incoming::Gone
        }
        None => {
            info!("connection ended without a close frame");
            core.handle_closed(now, None, "");
            Incoming::Gone
        }
        Some(Err(e)) => {
            warn!(error = %e, "connection failed");
            core.handle_transport_error(now, &e.to_string());
            Incoming::Gone
        }
    }
}

/// Runs a socket until the handler stops or every handle is gone.
pub(crate) async fn run<H: Handler>(
    mut core: Socket,
    mut handler: H,
    flow: Flow<H>,
    mut inbox: mpsc::Receiver<Inbox<H>>,
    parts: DriverParts,
) -> Stopped {
    let mut conn: Option<WsStream> = None;
    let mut connecting: Option<Connecting> = None;
    let write_limit = parts.transport.write_timeout;
    if let Some(stopped) = handler::init(&mut handler, &mut core, now()) {
        return stopped;
    }
    loop {
        // Drain outputs until the core and the handler are both quiet.
        loop {
            let mut write_failed = None;
            while let Some(transmit) = core.poll_transmit() {
                match transmit {
                    Transmit::Connect(request) => {
                        // The core considers any previous connection gone.
                        conn = None;
                        let request = parts.credentials.refresh(&mut core, request);
                        info!(url = %request.redacted_url(), attempt = request.attempt, "connecting");
                        connecting = Some(Box::pin(transport::connect(
                            request,
                            parts.transport.clone(),
                        )));
                    }
                    Transmit::Send(message) => {
                        // After a failed write the connection is done for:
                        // skip the rest of this turn's frames rather than
                        // wait on it again.
                        if let (Some(ws), None) = (conn.as_mut(), &write_failed) {
                            if let Err(e) =
                                write_bounded(write_limit, ws.feed(to_ws(message))).await
                            {
                                write_failed = Some(e);
                            }
                        }
                    }
                    Transmit::Close { code, reason } => {
                        // The core considers the connection gone, including
                        // one still being opened (disconnect() while
                        // connecting): abandon that attempt, or it would
                        // open behind the core's back and stay open.
                        connecting = None;
                        if let Some(ws) = conn.take() {
                            debug!(code, reason = %reason, "closing the connection");
                            close_in_background(ws, code, reason);
                        }
                    }
                    // Transmit is non_exhaustive: say so rather than guess.
                    other => warn!(?other, "this driver does not know that instruction"),
                }
            }
            if let (Some(ws), None) = (conn.as_mut(), &write_failed) {
                if let Err(e) = write_bounded(write_limit, ws.flush()).await {
                    write_failed = Some(e);
                }
            }
            if let Some(message) = write_failed {
                warn!(error = %message, "write failed");
                conn = None;
                core.handle_transport_error(now(), &message);
                continue;
            }
            if let Some(stopped) = handler::deliver_events(&mut handler, &mut core, now()) {
                finish(&mut core, conn.take(), write_limit).await;
                return stopped;
            }
            // Callbacks may have issued commands: drain again until quiet.
            if !core.has_output() {
                break;
            }
        }

        let deadline = core.poll_timeout();
        let budget = (flow.budget)(&mut handler);
        let room = if budget == 0 {
            (flow.wait_for_room)(&mut handler)
        } else {
            None
        };
        tokio::select! {
            // No bias: a steady stream of commands must not starve the
            // connection, nor a chatty server the commands.
            message = inbox.recv() => {
                let mut next = message;
                let mut handled = 0;
                // Take the commands already queued, up to a batch, in one turn.
                loop {
                    match handle_inbox(&mut handler, &mut core, next) {
                        InboxOutcome::Continue => {}
                        InboxOutcome::Stop(stopped, done) => {
                            finish(&mut core, conn.take(), write_limit).await;
                            if let Some(done) = done {
                                let _ = done.send(());
                            }
                            return stopped;
                        }
                    }
                    handled += 1;
                    if handled >= MAX_BATCH {
                        break;
                    }
                    match inbox.try_recv() {
                        Ok(message) => next = Some(message),
                        Err(_) => break,
                    }
                }
            }
            result = async {
                match connecting.as_mut() {
                    Some(pending) => pending.as_mut().await,
                    None => std::future::pending().await,
                }
            }, if connecting.is_some() => {
                connecting = None;
                match result {
                    Ok(ws) => {
                        info!("connected");
                        conn = Some(ws);
                        core.handle_connected(now());
                    }
                    Err(failure) => {
                        warn!(status = failure.status, message = %failure.message, "connect failed");
                        core.handle_connect_failed(now(), failure);
                    }
                }
            }
            item = async { match conn.as_mut() { Some(ws) => ws.next().await, None => None } }, if conn.is_some() && budget > 0 => {
                let mut handled = 1;
                let mut outcome = feed_incoming(&mut core, item);
                // Take what else is already buffered, up to the budget, in this wake-up.
                while let (Incoming::Handled, true) = (&outcome, handled < budget) {
                    let Some(ws) = conn.as_mut() else { break };
                    let Some(item) = ws.next().now_or_never() else { break };
                    handled += 1;
                    outcome = feed_incoming(&mut core, item);
                }
                if let Incoming::Gone = outcome {
                    conn = None;
                }
            }
            () = async { if let Some(room) = room { room.await } }, if budget == 0 => {}
            () = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
                    None => std::future::pending().await,
                }
            }, if deadline.is_some() => {
                core.handle_timeout(now());
            }
        }
    }
}

enum InboxOutcome {
    Continue,
    Stop(Stopped, Option<oneshot::Sender<()>>),
}

/// Hands one message from the handles to the handler.
fn handle_inbox<H: Handler>(
    handler: &mut H,
    core: &mut Socket,
    message: Option<Inbox<H>>,
) -> InboxOutcome {
    let now = now();
    match message {
        Some(Inbox::Info(info)) => match handler::deliver_info(handler, core, now, info) {
            Some(stopped) => InboxOutcome::Stop(stopped, None),
            None => InboxOutcome::Continue,
        },
        Some(Inbox::Call(call, reply_to)) => {
            let (reply, stopped) = handler::deliver_call(handler, core, now, call);
            let _ = reply_to.send(reply);
            match stopped {
                Some(stopped) => InboxOutcome::Stop(stopped, None),
                None => InboxOutcome::Continue,
            }
        }
        Some(Inbox::Stop(done)) => InboxOutcome::Stop(
            Stopped {
                reason: "stopped by the application".into(),
            },
            Some(done),
        ),
        None => InboxOutcome::Stop(
            Stopped {
                reason: "every handle was dropped".into(),
            },
            None,
        ),
    }
}

/// Closes the connection as the socket stops.
async fn finish(core: &mut Socket, mut conn: Option<WsStream>, write_limit: Duration) {
    core.disconnect(now());
    // Frames the core accepted before the stop (a cast, a push, a leave
    // issued just before `shutdown()`) still go out, in order, before the
    // close: dropping them would lose them silently. Bounded like every write.
    while let Some(transmit) = core.poll_transmit() {
        match transmit {
            Transmit::Send(message) => {
                if let Some(ws) = conn.as_mut() {
                    if write_bounded(write_limit, ws.feed(to_ws(message)))
                        .await
                        .is_err()
                    {
                        conn = None;
                    }
                }
            }
            // Nothing is sent after the core's own close (or on a new connection).
            _ => break,
        }
    }
    while core.poll_transmit().is_some() {}
    if let Some(mut ws) = conn {
        if write_bounded(write_limit, ws.flush()).await.is_ok() {
            close_in_background(ws, 1000, "client stopped".into());
        }
    }
}

/// Runs one write with a time limit. A peer that stops reading (a half-open
/// connection, a stuck server) would otherwise block the write, and with it
/// the whole task: no timers (so no heartbeat timeout), no commands, no
/// shutdown. A write that times out is reported like a failed one.
async fn write_bounded(
    limit: Duration,
    write: impl Future<Output = Result<(), tokio_tungstenite::tungstenite::Error>>,
) -> Result<(), String> {
    match tokio::time::timeout(limit, write).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!(
            "write timed out after {limit:?}: the peer is not reading"
        )),
    }
}
