//! The shared async driver: one future per socket that owns the WebSocket,
//! feeds the core whole messages and hands its events to a handler, on any
//! [`Runtime`]. It makes no protocol decisions: every rule (what to send,
//! when to reconnect, what a close means) is the core's.
//!
//! Each turn it reads the clock once, hands the core whatever happened (a
//! command from a handle, up to [`MAX_BATCH`] WebSocket messages that are
//! already buffered, a finished connection attempt, or a deadline), then
//! drains the core: every frame to send is written, with one flush per
//! turn, and every event goes to the handler (whose commands are drained in
//! the same turn). The events of WebSocket messages go to the handler as
//! each message is fed ([`Batch`]), and the batch ends once, after the
//! turn's last events. Then it waits for the next input, polling its
//! sources in turn so that none can starve the others.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use futures_util::future::FutureExt;
use futures_util::{SinkExt, StreamExt};
use tracing::{Instrument, debug, info, warn};
use tungstenite::Message as WsMessage;
use tungstenite::protocol::CloseFrame;
use tungstenite::protocol::frame::coding::CloseCode;

use super::connect::{self, WsStream};
use super::feed::{Batch, Fed, feed};
use super::launch::{Launch, SocketTask};
use super::message::{Flow, InboxReceiver, MAX_BATCH, Received, Stop, deliver_received};
use super::options::TransportOptions;
use super::runtime::{Runtime, Timer, timeout};
use super::write_progress::timed_out;
use super::write_stall::WriteStall;
use crate::client::handler::{self, Handler, Stopped};
use crate::client::{ConnectFailure, Instruction, Socket};
use crate::codec::WireMessage;

impl<R: Runtime> Launch for R {
    fn launch<H>(&self, task: SocketTask<H>)
    where
        H: Handler + Send + 'static,
        H::Info: Send + 'static,
        H::Call: Send + 'static,
        H::Reply: Send + 'static,
    {
        let span = task.span.clone();
        self.spawn(Box::pin(run(self.clone(), task).instrument(span)));
    }
}

type Connecting = Pin<Box<dyn Future<Output = Result<WsStream, ConnectFailure>> + Send>>;

/// Runs one socket until its handler stops, it is told to stop, or every
/// handle is gone; then reports why.
///
/// A plain function returning the loop's future (not an `async fn`): the
/// task is taken apart before the future is built, so the future holds each
/// part once instead of the whole task beside its parts (5.0 KiB per socket
/// became about 2 KiB; see BENCHMARKS.md).
pub fn run<R: Runtime, H: Handler>(runtime: R, task: SocketTask<H>) -> impl Future<Output = ()> {
    let SocketTask {
        mut core,
        mut handler,
        flow,
        mut inbox,
        transport,
        stopped,
        ..
    } = task;
    let mut driver = Driver {
        runtime,
        transport,
        conn: None,
        connecting: None,
        timer: None,
        turn: 0,
        batch: Batch::default(),
    };
    async move {
        let (reason, done) = driver.run(&mut core, &mut handler, &flow, &mut inbox).await;
        // Nothing more is accepted; handles waiting on the socket learn it is gone.
        inbox.close();
        drop(handler);
        drop(done);
        if let Some(stopped) = stopped {
            let _ = stopped.send(reason);
        }
    }
}

struct Driver<R: Runtime> {
    runtime: R,
    transport: TransportOptions,
    /// Boxed: while a socket connects (all of them at once, at start) the
    /// loop's future does not carry room for the connection it has not got.
    conn: Option<Box<WsStream>>,
    connecting: Option<Connecting>,
    timer: Option<Pin<Box<dyn Timer>>>,
    /// Which input is polled first, rotating for fairness.
    turn: usize,
    /// Events handed to the handler as messages are read.
    batch: Batch,
}

/// What woke the driver.
enum Wake<H: Handler> {
    Inbox(Received<H>),
    Connected(Result<Box<WsStream>, ConnectFailure>),
    Incoming(Option<Result<WsMessage, tungstenite::Error>>),
    Room,
    Deadline,
}

/// What one turn's writes keep between polls.
struct WriteTurn {
    /// A frame the connection had no room for yet.
    held: Option<WireMessage>,
    /// The turn's first error.
    failed: Option<String>,
    stall: WriteStall,
}

impl WriteTurn {
    /// A write on `ws` has to wait: `true` while the write limit allows
    /// it (`cx` is woken at its deadline); otherwise the turn has failed.
    fn keeps_waiting<R: Runtime>(
        &mut self,
        runtime: &R,
        ws: &WsStream,
        cx: &mut TaskContext<'_>,
    ) -> bool {
        let flushed = ws.get_ref().flushed_bytes();
        if self.stall.poll_expired(runtime, flushed, cx).is_pending() {
            return true;
        }
        self.failed = Some(self.stall.error());
        false
    }
}

impl<R: Runtime> Driver<R> {
    async fn run<H: Handler>(
        &mut self,
        core: &mut Socket,
        handler: &mut H,
        flow: &Flow<H>,
        inbox: &mut InboxReceiver<H>,
    ) -> Stop {
        if let Some(stopped) = handler::init(handler, core, self.runtime.now()) {
            self.finish_boxed(core).await;
            return (stopped, None);
        }
        loop {
            if let Some(stopped) = self.drain(core, handler).await {
                self.finish_boxed(core).await;
                return (stopped, None);
            }
            let deadline = core.poll_timeout();
            let budget = (flow.budget)(handler);
            match self.wait(inbox, handler, flow, deadline, budget).await {
                Wake::Inbox(first) => {
                    let mut next = Some(first);
                    let mut handled = 0;
                    let now = self.runtime.now();
                    while let Some(message) = next.take() {
                        if let Some(stop) = deliver_received(handler, core, now, message) {
                            self.finish_boxed(core).await;
                            return stop;
                        }
                        handled += 1;
                        if handled < MAX_BATCH {
                            next = inbox.try_recv();
                        }
                    }
                }
                Wake::Connected(result) => {
                    self.connecting = None;
                    let now = self.runtime.now();
                    match result {
                        Ok(ws) => {
                            info!("connected");
                            self.conn = Some(ws);
                            core.handle_connected(now);
                        }
                        Err(failure) => {
                            warn!(status = failure.status, message = %failure.message, "connect failed");
                            core.handle_connect_failed(now, failure);
                        }
                    }
                }
                Wake::Incoming(item) => {
                    let mut handled = 1;
                    // One clock read for what is already buffered.
                    let now = self.runtime.now();
                    let mut outcome = feed(core, now, item);
                    // Take what else is already buffered, up to the budget,
                    // handing each message's events over as it is fed (the
                    // batch ends once, in `drain`).
                    loop {
                        if let Err(stopped) = self.batch.deliver(handler, core, now) {
                            self.finish_boxed(core).await;
                            return (stopped, None);
                        }
                        if outcome != Fed::Handled || handled >= budget {
                            break;
                        }
                        if self.conn.is_none() || !core.is_connected() {
                            break;
                        }
                        let Some(ws) = self.conn.as_mut() else { break };
                        let Some(item) = ws.next().now_or_never() else {
                            break;
                        };
                        handled += 1;
                        outcome = feed(core, now, item);
                    }
                    match outcome {
                        Fed::Handled => {}
                        Fed::PeerClosed => {
                            // RFC 6455 5.5.1: answer the close (tungstenite
                            // queued the reply; closing flushes it).
                            if let Some(ws) = self.conn.take() {
                                self.answer_close_in_background(ws);
                            }
                        }
                        Fed::Gone => self.conn = None,
                    }
                }
                Wake::Room => {}
                Wake::Deadline => core.handle_timeout(self.runtime.now()),
            }
        }
    }

    /// Waits for the next input.
    async fn wait<H: Handler>(
        &mut self,
        inbox: &mut InboxReceiver<H>,
        handler: &mut H,
        flow: &Flow<H>,
        deadline: Option<std::time::Instant>,
        budget: usize,
    ) -> Wake<H> {
        if let Some(at) = deadline {
            match self.timer.as_mut() {
                Some(timer) => timer.as_mut().reset(at),
                None => self.timer = Some(self.runtime.timer(at)),
            }
        }
        self.turn = self.turn.wrapping_add(1);
        let first = self.turn;
        let Driver {
            conn,
            connecting,
            timer,
            ..
        } = self;
        std::future::poll_fn(|cx| {
            for source in 0..4 {
                match (first + source) % 4 {
                    0 => {
                        if let Poll::Ready(received) = inbox.poll_recv(cx) {
                            return Poll::Ready(Wake::Inbox(received));
                        }
                    }
                    1 => {
                        if let Some(pending) = connecting.as_mut() {
                            if let Poll::Ready(result) = pending.as_mut().poll(cx) {
                                return Poll::Ready(Wake::Connected(result.map(Box::new)));
                            }
                        }
                    }
                    // The handler has no room: read nothing until it has.
                    2 if budget == 0 => {
                        if (flow.poll_room)(handler, cx).is_ready() {
                            return Poll::Ready(Wake::Room);
                        }
                    }
                    2 => {
                        if let Some(ws) = conn.as_mut() {
                            if let Poll::Ready(item) = ws.poll_next_unpin(cx) {
                                return Poll::Ready(Wake::Incoming(item));
                            }
                        }
                    }
                    _ => {
                        if let (Some(timer), Some(_)) = (timer.as_mut(), deadline) {
                            if timer.as_mut().poll_fire(cx).is_ready() {
                                return Poll::Ready(Wake::Deadline);
                            }
                        }
                    }
                }
            }
            Poll::Pending
        })
        .await
    }

    /// Carries out the core's instructions up to the next frame to send,
    /// and returns it; `None` once the core has no more. Apart from
    /// [`write_turn`](Self::write_turn) so that only the frame, not the
    /// instruction, is held while it waits to be written.
    fn next_frame(&mut self, core: &mut Socket) -> Option<WireMessage> {
        loop {
            match core.poll_instruction()? {
                Instruction::Send(message) => return Some(message),
                Instruction::Connect(request) => {
                    // The core considers any previous connection gone.
                    self.conn = None;
                    info!(url = %request.redacted_url(), attempt = request.attempt, "connecting");
                    self.connecting = Some(Box::pin(connect::open(
                        self.runtime.clone(),
                        request,
                        self.transport.clone(),
                    )));
                }
                Instruction::Close { code, reason } => {
                    // The core considers the connection gone, including one
                    // still being opened: abandon that attempt, or it would
                    // open behind the core's back and stay open.
                    self.connecting = None;
                    if let Some(ws) = self.conn.take() {
                        debug!(code, reason = %reason, "closing the connection");
                        self.close_in_background(ws, code, reason);
                    }
                }
            }
        }
    }

    /// Carries out the core's instructions and hands its events to the
    /// handler until both are quiet; `Some` when the handler stopped.
    async fn drain<H: Handler>(&mut self, core: &mut Socket, handler: &mut H) -> Option<Stopped> {
        loop {
            if let Some(message) = self.write_turn(core).await {
                warn!(error = %message, "write failed");
                self.conn = None;
                core.handle_transport_error(self.runtime.now(), &message);
                continue;
            }
            if let Some(stopped) = self.batch.end(handler, core, self.runtime.now()) {
                return Some(stopped);
            }
            // Callbacks may have issued commands: drain again until quiet.
            if !core.has_output() {
                return None;
            }
        }
    }

    /// Writes every frame the core has for this turn, then flushes once:
    /// one future for the turn, not one per frame (with its own time
    /// limit) and one for the flush, which were about 190 instructions a
    /// push (callgrind, BENCHMARKS.md item 32). `Some` with the error of
    /// the first write that failed, or of writes that waited
    /// [`write_timeout`] without a byte going out ([`WriteProgress`]); the
    /// rest of the turn's frames are then dropped, the connection being
    /// done for.
    ///
    /// [`write_timeout`]: super::Builder::write_timeout
    /// [`WriteProgress`]: super::WriteProgress
    fn write_turn<'a>(
        &'a mut self,
        core: &'a mut Socket,
    ) -> impl Future<Output = Option<String>> + 'a {
        let mut turn = WriteTurn {
            held: None,
            failed: None,
            stall: WriteStall::new(self.transport.write_timeout),
        };
        std::future::poll_fn(move |cx| self.poll_write_turn(core, cx, &mut turn))
    }

    /// One poll of [`write_turn`](Self::write_turn).
    fn poll_write_turn(
        &mut self,
        core: &mut Socket,
        cx: &mut TaskContext<'_>,
        turn: &mut WriteTurn,
    ) -> Poll<Option<String>> {
        loop {
            let frame = match turn.held.take() {
                Some(frame) => frame,
                None => match self.next_frame(core) {
                    Some(frame) => frame,
                    None => break,
                },
            };
            let (Some(ws), None) = (self.conn.as_mut(), &turn.failed) else {
                // No connection, or its write failed: the frame is dropped
                // (the core's instructions are still carried out).
                continue;
            };
            match ws.poll_ready_unpin(cx) {
                Poll::Ready(Ok(())) => {
                    if let Err(e) = ws.start_send_unpin(to_ws(frame)) {
                        turn.failed = Some(e.to_string());
                    }
                }
                Poll::Ready(Err(e)) => turn.failed = Some(e.to_string()),
                Poll::Pending => {
                    if turn.keeps_waiting(&self.runtime, ws, cx) {
                        turn.held = Some(frame);
                        return Poll::Pending;
                    }
                }
            }
        }
        if let (Some(ws), None) = (self.conn.as_mut(), &turn.failed) {
            match ws.poll_flush_unpin(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => turn.failed = Some(e.to_string()),
                Poll::Pending => {
                    if turn.keeps_waiting(&self.runtime, ws, cx) {
                        return Poll::Pending;
                    }
                }
            }
        }
        Poll::Ready(turn.failed.take())
    }

    /// [`finish`](Self::finish) in a box of its own: it runs once, at the
    /// end, and inline its state would make every idle socket's loop future
    /// about 1 KiB larger.
    fn finish_boxed<'a>(
        &'a mut self,
        core: &'a mut Socket,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        Box::pin(self.finish(core))
    }

    /// Stops: the core disconnects, and its instructions are carried out up
    /// to its `Close` (frames it accepted before the stop still go out, in
    /// order); nothing after that.
    async fn finish(&mut self, core: &mut Socket) {
        core.disconnect(self.runtime.now());
        self.connecting = None;
        let limit = self.transport.write_timeout;
        while let Some(instruction) = core.poll_instruction() {
            match instruction {
                Instruction::Send(message) => {
                    if let Some(ws) = self.conn.as_mut() {
                        if write_bounded(&self.runtime, limit, ws.feed(to_ws(message)))
                            .await
                            .is_err()
                        {
                            self.conn = None;
                        }
                    }
                }
                Instruction::Close { code, reason } => {
                    if let Some(mut ws) = self.conn.take() {
                        if write_bounded(&self.runtime, limit, ws.flush())
                            .await
                            .is_ok()
                        {
                            self.close_in_background(ws, code, reason);
                        }
                    }
                    break;
                }
                Instruction::Connect(_) => break,
            }
        }
        self.conn = None;
    }

    /// Closes a connection politely in the background, without waiting for it.
    fn close_in_background(&self, mut ws: Box<WsStream>, code: u16, reason: String) {
        let runtime = self.runtime.clone();
        self.runtime.spawn(Box::pin(async move {
            let frame = CloseFrame {
                code: CloseCode::from(code),
                reason: reason.into(),
            };
            let _ = timeout(&runtime, Duration::from_secs(2), (*ws).close(Some(frame))).await;
        }));
    }

    /// Answers the server's close frame in the background: tungstenite
    /// queued the answer when it read the close; the sink's close sends it
    /// and completes the handshake (sending a new close frame would be
    /// refused in that state).
    fn answer_close_in_background(&self, mut ws: Box<WsStream>) {
        let runtime = self.runtime.clone();
        self.runtime.spawn(Box::pin(async move {
            let _ = timeout(&runtime, Duration::from_secs(2), SinkExt::close(&mut *ws)).await;
        }));
    }
}

fn to_ws(message: WireMessage) -> WsMessage {
    match message {
        WireMessage::Text(text) => WsMessage::text(text),
        WireMessage::Binary(bytes) => WsMessage::binary(bytes),
    }
}

/// Runs one write with a time limit. A peer that stops reading (a half-open
/// connection, a stuck server) would otherwise block the write, and with it
/// the whole socket: no timers (so no heartbeat timeout), no commands, no
/// shutdown. A write that times out is reported like a failed one.
fn write_bounded<R: Runtime>(
    runtime: &R,
    limit: Duration,
    write: impl Future<Output = Result<(), tungstenite::Error>>,
) -> impl Future<Output = Result<(), String>> {
    // A combinator, not an `async fn`: that would hold `write` twice.
    timeout(runtime, limit, write).map(move |outcome| match outcome {
        Some(Ok(())) => Ok(()),
        Some(Err(e)) => Err(e.to_string()),
        None => Err(timed_out(limit)),
    })
}
