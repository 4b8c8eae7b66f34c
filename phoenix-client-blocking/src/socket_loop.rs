//! The synchronous loop: one per socket, on whichever thread runs it. It
//! owns the core, the WebSocket and the clock, and makes no protocol
//! decisions.
//!
//! After every input (a batch of handle messages, up to the handler's
//! budget of WebSocket messages, a writable socket, a deadline, a finished
//! connection attempt) it drains the core: each instruction is carried out
//! (frames are written, with one flush per turn), then every event goes to
//! the handler, whose commands are drained in the same turn (the events of
//! WebSocket messages go to the handler as each message is read, and the
//! batch ends once: [`Batch`]). Then it
//! sleeps in [`Poller::wait`] until the socket is ready, the core's next
//! deadline or a pending write's time limit passes, or the waker fires: the
//! inbox and the handler's `poll_room` are polled with a [`Waker`] that
//! calls [`Poller::notify`], so a command from any thread wakes the loop at
//! once.

use std::io;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Instant;

use phoenix_proto::api::{
    Batch, Fed, Flow, InboxReceiver, MAX_BATCH, Received, SocketTask, Stop, TransportOptions,
    deliver_received, feed,
};
use phoenix_proto::client::handler::{self, Handler, Stopped};
use phoenix_proto::client::{ConnectFailure, ConnectRequest, Instruction, Socket};
use polling::{Events, Poller};
use tracing::{debug, info, warn};

use crate::conn::{Conn, SOCKET};
use crate::connect;

/// Runs one socket, in its span, until its handler stops, a handle stops
/// it, or every handle is gone; reports why to the task's waiters and
/// returns it.
pub(crate) fn run<H: Handler>(task: SocketTask<H>) -> Stopped {
    let SocketTask {
        mut core,
        mut handler,
        flow,
        mut inbox,
        transport,
        span,
        stopped: report,
        ..
    } = task;
    let _entered = span.enter();
    let (stopped, done) = match Poller::new() {
        Ok(poller) => Loop::new(transport, poller).run(&mut core, &mut handler, &flow, &mut inbox),
        Err(e) => (
            stopped(format!("could not create the socket's poller: {e}")),
            None,
        ),
    };
    // Nothing more is accepted; handles waiting on the socket learn it is gone.
    inbox.close();
    drop(handler);
    drop(done);
    let _ = report.send(stopped.clone());
    stopped
}

fn stopped(reason: impl Into<String>) -> Stopped {
    Stopped {
        reason: reason.into(),
    }
}

/// Wakes the loop's [`Poller::wait`] from any thread.
struct NotifyPoller(Arc<Poller>);

impl Wake for NotifyPoller {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let _ = self.0.notify();
    }
}

/// What woke the loop.
enum Woken<H: Handler> {
    Inbox(Received<H>),
    Incoming,
    Writable,
    WriteTimedOut,
    Room,
    Deadline,
    PollFailed(io::Error),
}

struct Loop {
    transport: TransportOptions,
    poller: Arc<Poller>,
    waker: Waker,
    events: Events,
    conn: Option<Conn>,
    /// A connection to open once the core is drained.
    connect_to: Option<ConnectRequest>,
    /// Which input is looked at first, rotating for fairness.
    turn: usize,
    /// Events handed to the handler as messages are read.
    batch: Batch,
}

impl Loop {
    fn new(transport: TransportOptions, poller: Poller) -> Self {
        let poller = Arc::new(poller);
        Loop {
            transport,
            waker: Waker::from(Arc::new(NotifyPoller(poller.clone()))),
            poller,
            events: Events::new(),
            conn: None,
            connect_to: None,
            turn: 0,
            batch: Batch::default(),
        }
    }

    fn run<H: Handler>(
        &mut self,
        core: &mut Socket,
        handler: &mut H,
        flow: &Flow<H>,
        inbox: &mut InboxReceiver<H>,
    ) -> Stop {
        if let Some(stopped) = handler::init(handler, core, Instant::now()) {
            self.finish(core);
            return (stopped, None);
        }
        loop {
            if let Some(stopped) = self.drain(core, handler) {
                self.finish(core);
                return (stopped, None);
            }
            if let Some(request) = self.connect_to.take() {
                self.connect(core, request);
                continue;
            }
            let deadline = core.poll_timeout();
            let budget = (flow.budget)(handler);
            match self.wait(inbox, handler, flow, deadline, budget) {
                Woken::Inbox(first) => {
                    let mut next = Some(first);
                    let mut handled = 0;
                    let now = Instant::now();
                    while let Some(message) = next.take() {
                        if let Some(stop) = deliver_received(handler, core, now, message) {
                            self.finish(core);
                            return stop;
                        }
                        handled += 1;
                        if handled < MAX_BATCH {
                            next = inbox.try_recv();
                        }
                    }
                }
                Woken::Incoming => {
                    if let Some(stopped) = self.read(core, handler, budget) {
                        self.finish(core);
                        return (stopped, None);
                    }
                }
                Woken::Writable => {
                    if let Some(conn) = self.conn.as_mut() {
                        if let Err(e) = conn.flush(self.transport.write_timeout) {
                            self.fail(core, e);
                        }
                    }
                }
                Woken::WriteTimedOut => {
                    let limit = self.transport.write_timeout;
                    self.fail(
                        core,
                        format!("write timed out after {limit:?}: the peer is not reading"),
                    );
                }
                Woken::Room => {}
                Woken::Deadline => core.handle_timeout(Instant::now()),
                Woken::PollFailed(e) => {
                    self.finish(core);
                    return (stopped(format!("waiting for the socket failed: {e}")), None);
                }
            }
        }
    }

    /// Waits for the next input: looks at every source without blocking,
    /// starting with a different one each turn, then sleeps until the
    /// socket, a deadline or the waker has news.
    fn wait<H: Handler>(
        &mut self,
        inbox: &mut InboxReceiver<H>,
        handler: &mut H,
        flow: &Flow<H>,
        deadline: Option<Instant>,
        budget: usize,
    ) -> Woken<H> {
        let waker = self.waker.clone();
        let mut cx = Context::from_waker(&waker);
        loop {
            self.turn = self.turn.wrapping_add(1);
            let now = Instant::now();
            for source in 0..4 {
                match (self.turn + source) % 4 {
                    0 => {
                        if let Poll::Ready(received) = inbox.poll_recv(&mut cx) {
                            return Woken::Inbox(received);
                        }
                    }
                    1 => {
                        if budget == 0 {
                            // The handler has no room: read nothing until it has.
                            if (flow.poll_room)(handler, &mut cx).is_ready() {
                                return Woken::Room;
                            }
                        } else if self.conn.as_ref().is_some_and(|c| c.readable) {
                            return Woken::Incoming;
                        }
                    }
                    2 => {
                        if deadline.is_some_and(|at| at <= now) {
                            return Woken::Deadline;
                        }
                    }
                    _ => {
                        // A flush waits for the socket: can it go on, or is it too late?
                        let pending = self
                            .conn
                            .as_ref()
                            .and_then(|c| Some((c.writable, c.write_deadline?)));
                        match pending {
                            Some((true, _)) => return Woken::Writable,
                            Some((false, limit)) if limit <= now => return Woken::WriteTimedOut,
                            _ => {}
                        }
                    }
                }
            }
            let mut wake_at = deadline;
            if let Some(conn) = &self.conn {
                if let Err(e) = conn.arm(budget > 0) {
                    return Woken::PollFailed(e);
                }
                wake_at = earliest(wake_at, conn.write_deadline);
            }
            self.events.clear();
            let timeout = wake_at.map(|at| at.saturating_duration_since(now));
            if let Err(e) = self.poller.wait(&mut self.events, timeout) {
                return Woken::PollFailed(e);
            }
            if let Some(conn) = self.conn.as_mut() {
                for event in self.events.iter().filter(|e| e.key == SOCKET) {
                    conn.readable |= event.readable;
                    conn.writable |= event.writable;
                }
            }
        }
    }

    /// Carries out the core's instructions and hands its events to the
    /// handler until both are quiet; `Some` when the handler stopped.
    fn drain<H: Handler>(&mut self, core: &mut Socket, handler: &mut H) -> Option<Stopped> {
        let limit = self.transport.write_timeout;
        loop {
            let mut wrote = false;
            let mut write_failed = None;
            while let Some(instruction) = core.poll_instruction() {
                match instruction {
                    Instruction::Connect(request) => {
                        // The core considers any previous connection gone.
                        self.conn = None;
                        self.connect_to = Some(request);
                    }
                    Instruction::Send(message) => {
                        // After a failed write the connection is done for:
                        // skip the rest of this turn's frames.
                        if let (Some(conn), None) = (self.conn.as_mut(), &write_failed) {
                            wrote = true;
                            write_failed = conn.send(message, limit).err();
                        }
                    }
                    Instruction::Close { code, reason } => {
                        // The core gave the connection up, including one
                        // it asked for this turn: do not open that one.
                        self.connect_to = None;
                        if let Some(conn) = self.conn.take() {
                            debug!(code, reason = %reason, "closing the connection");
                            conn.close_now(code, reason);
                        }
                    }
                }
            }
            if let (Some(conn), None, true) = (self.conn.as_mut(), &write_failed, wrote) {
                write_failed = conn.flush(limit).err();
            }
            if let Some(message) = write_failed {
                self.fail(core, message);
                continue;
            }
            if let Some(stopped) = self.batch.end(handler, core, Instant::now()) {
                return Some(stopped);
            }
            // Callbacks may have issued commands: drain again until quiet.
            if !core.has_output() {
                return None;
            }
        }
    }

    /// Opens a connection, blocking this thread for up to three times the
    /// connect timeout (TCP, TLS, upgrade), and tells the core how it went.
    fn connect(&mut self, core: &mut Socket, request: ConnectRequest) {
        info!(url = %request.redacted_url(), attempt = request.attempt, "connecting");
        let opened = connect::open(&request, &self.transport).and_then(|ws| {
            Conn::register(ws, self.poller.clone())
                .map_err(|e| ConnectFailure::new(format!("could not watch the connection: {e}")))
        });
        let now = Instant::now();
        match opened {
            Ok(conn) => {
                info!("connected");
                self.conn = Some(conn);
                core.handle_connected(now);
            }
            Err(failure) => {
                warn!(status = failure.status, message = %failure.message, "connect failed");
                core.handle_connect_failed(now, failure);
            }
        }
    }

    /// Feeds the core what the socket has, up to `budget` messages, handing
    /// each one's events to the handler as it goes; `Some` when the
    /// handler stopped.
    fn read<H: Handler>(
        &mut self,
        core: &mut Socket,
        handler: &mut H,
        budget: usize,
    ) -> Option<Stopped> {
        // One clock read for what is already buffered.
        let now = Instant::now();
        for _ in 0..budget {
            // A bad message ends the connection in the core: read no more of it.
            let conn = self.conn.as_mut().filter(|_| core.is_connected())?;
            let item = conn.read()?;
            let fed = feed(core, now, Some(item));
            if let Err(stopped) = self.batch.deliver(handler, core, now) {
                return Some(stopped);
            }
            match fed {
                Fed::Handled => {}
                Fed::PeerClosed => {
                    // RFC 6455 5.5.1: answer the close (tungstenite queued
                    // the answer) if the socket takes it now, and drop.
                    if let Some(mut conn) = self.conn.take() {
                        let _ = conn.flush(self.transport.write_timeout);
                    }
                    return None;
                }
                Fed::Gone => {
                    self.conn = None;
                    return None;
                }
            }
        }
        None
    }

    /// The connection failed while writing.
    fn fail(&mut self, core: &mut Socket, message: String) {
        warn!(error = %message, "write failed");
        self.conn = None;
        core.handle_transport_error(Instant::now(), &message);
    }

    /// Stops: the core disconnects, and its instructions are carried out up
    /// to its `Close` (frames it accepted before the stop still go out, in
    /// order), on a blocking socket with the write time limit; then the
    /// close frame, and a short wait for the server's answer.
    fn finish(&mut self, core: &mut Socket) {
        core.disconnect(Instant::now());
        self.connect_to = None;
        let limit = self.transport.write_timeout;
        let Some(mut conn) = self.conn.take().and_then(|c| c.into_blocking(limit)) else {
            return;
        };
        while let Some(instruction) = core.poll_instruction() {
            match instruction {
                Instruction::Send(message) => {
                    if !conn.send_blocking(message) {
                        return;
                    }
                }
                Instruction::Close { code, reason } => return conn.close_blocking(code, reason),
                // Nothing is sent after the core's own close (or on a new connection).
                Instruction::Connect(_) => return,
            }
        }
    }
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
