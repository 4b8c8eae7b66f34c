//! One socket as a loop drives it: the core, the handler, the handles'
//! inbox and the connection, advanced one turn at a time. It owns no
//! thread and never sleeps; whoever drives it (the shared reactor,
//! [`crate::reactor`], or the loop on the caller's thread, [`run_here`])
//! sleeps for it, and makes no protocol decisions.
//!
//! A turn drains the core first: each instruction is carried out (frames
//! are written, with one flush per turn), then every event goes to the
//! handler, whose commands are drained in the same turn. Then it looks at
//! its inputs without blocking, starting with a different one each turn so
//! that none starves the others: the handles' inbox (up to [`MAX_BATCH`]
//! messages), the WebSocket (up to the handler's budget of messages, the
//! events of each handed over as it is read: [`Batch`]), a socket that
//! can take more bytes, a deadline. It handles one, drains again and
//! returns [`Turn::Again`]; with nothing to do it registers for what can
//! wake it (the connection's readiness; the inbox and the handler's
//! `poll_room` with its [`Waker`]) and returns [`Turn::Idle`] with its
//! next deadline.

use std::io;
use std::mem;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Instant;

use futures_channel::oneshot;
use phoenix_proto::api::{
    Batch, Fed, Flow, InboxReceiver, MAX_BATCH, Received, SocketTask, Stop, TransportOptions,
    deliver_received, feed,
};
use phoenix_proto::client::handler::{self, Handler, Stopped};
use phoenix_proto::client::{ConnectFailure, ConnectRequest, Instruction, Socket};
use polling::{Events, Poller};
use tracing::{Span, debug, info, warn};

use crate::conn::Conn;
use crate::connect::{self, Ws};
use crate::drive::{Drive, Turn};
use crate::io_pool;
use crate::reactor::Wakeups;

/// Where the blocking steps of a socket (opening a connection, the
/// polite close at the end) run.
pub(crate) enum BlockingSteps {
    /// On the thread that drives it: nothing else waits for that thread.
    Here,
    /// On the I/O pool ([`io_pool`]), which reports finished connection
    /// attempts to the reactor through these wakeups: the reactor's thread
    /// drives other sockets meanwhile.
    Pool(Arc<Wakeups>),
}

/// Numbers connection attempts across every socket of the process, so a
/// late answer can never be taken for a newer attempt's.
static ATTEMPTS: AtomicU64 = AtomicU64::new(0);

/// One socket and everything its turns need.
pub(crate) struct Driven<H: Handler> {
    core: Socket,
    handler: H,
    flow: Flow<H>,
    inbox: InboxReceiver<H>,
    transport: TransportOptions,
    span: Span,
    report: Option<oneshot::Sender<Stopped>>,
    poller: Arc<Poller>,
    blocking: BlockingSteps,
    key: usize,
    waker: Waker,
    conn: Option<Conn>,
    /// A connection to open once the core is drained.
    connect_to: Option<ConnectRequest>,
    /// The attempt the I/O pool is making for this socket.
    connecting: Option<u64>,
    /// Whether the handler's `init` has run.
    started: bool,
    /// Which input is looked at first, rotating for fairness.
    turn: usize,
    /// Events handed to the handler as messages are read.
    batch: Batch,
}

/// What a turn found to do.
enum Woken<H: Handler> {
    Inbox(Received<H>),
    Incoming,
    Writable,
    WriteTimedOut,
    Room,
    Deadline,
}

fn stopped(reason: impl Into<String>) -> Stopped {
    Stopped {
        reason: reason.into(),
    }
}

impl<H: Handler> Driven<H> {
    /// The socket of `task`, registering its connections with `poller`.
    /// It needs [`attach`](Drive::attach) before its first turn.
    pub(crate) fn new(task: SocketTask<H>, poller: Arc<Poller>, blocking: BlockingSteps) -> Self {
        let SocketTask {
            core,
            handler,
            flow,
            inbox,
            transport,
            span,
            stopped,
            ..
        } = task;
        Driven {
            core,
            handler,
            flow,
            inbox,
            transport,
            span,
            report: stopped,
            poller,
            blocking,
            key: 0,
            waker: Waker::noop().clone(),
            conn: None,
            connect_to: None,
            connecting: None,
            started: false,
            turn: 0,
            batch: Batch::default(),
        }
    }

    /// A turn, in the socket's `span` (taken out of `self` meanwhile).
    fn step(&mut self, span: &Span) -> Turn {
        if !self.started {
            self.started = true;
            if let Some(stopped) = handler::init(&mut self.handler, &mut self.core, Instant::now())
            {
                return Turn::Stopped(self.wind_up((stopped, None)));
            }
        }
        let mut handled = false;
        loop {
            if let Some(stopped) = self.drain() {
                return Turn::Stopped(self.wind_up((stopped, None)));
            }
            if let Some(request) = self.connect_to.take() {
                if self.start_connect(request, span) {
                    // Opened (or failed) on this thread: drain what it caused.
                    continue;
                }
            }
            if handled {
                return Turn::Again;
            }
            let deadline = self.core.poll_timeout();
            let budget = (self.flow.budget)(&mut self.handler);
            let Some(woken) = self.look(deadline, budget) else {
                if let Some(conn) = &self.conn {
                    if let Err(e) = conn.arm(budget > 0) {
                        let reason = format!("waiting for the socket failed: {e}");
                        return Turn::Stopped(self.wind_up((stopped(reason), None)));
                    }
                }
                let write_deadline = self.conn.as_ref().and_then(|c| c.writes.deadline());
                return Turn::Idle(earliest(deadline, write_deadline));
            };
            if let Some(stop) = self.handle(woken, budget) {
                return Turn::Stopped(self.wind_up(stop));
            }
            handled = true;
        }
    }

    /// Looks at every input without blocking, starting with a different
    /// one each turn; `None` when none has anything.
    fn look(&mut self, deadline: Option<Instant>, budget: usize) -> Option<Woken<H>> {
        let mut cx = Context::from_waker(&self.waker);
        self.turn = self.turn.wrapping_add(1);
        let now = Instant::now();
        for source in 0..4 {
            match (self.turn + source) % 4 {
                0 => {
                    if let Poll::Ready(received) = self.inbox.poll_recv(&mut cx) {
                        return Some(Woken::Inbox(received));
                    }
                }
                1 => {
                    if budget == 0 {
                        // The handler has no room: read nothing until it has.
                        if (self.flow.poll_room)(&mut self.handler, &mut cx).is_ready() {
                            return Some(Woken::Room);
                        }
                    } else if self.conn.as_ref().is_some_and(|c| c.readable) {
                        return Some(Woken::Incoming);
                    }
                }
                2 => {
                    if deadline.is_some_and(|at| at <= now) {
                        return Some(Woken::Deadline);
                    }
                }
                _ => {
                    // A flush waits for the socket: can it go on, or is it too late?
                    let pending = self
                        .conn
                        .as_ref()
                        .filter(|c| c.writes.deadline().is_some())
                        .map(|c| (c.writable, c.writes.expired(now)));
                    match pending {
                        Some((true, _)) => return Some(Woken::Writable),
                        Some((false, true)) => return Some(Woken::WriteTimedOut),
                        _ => {}
                    }
                }
            }
        }
        None
    }

    /// Handles one input; `Some` when the socket must stop.
    fn handle(&mut self, woken: Woken<H>, budget: usize) -> Option<Stop> {
        match woken {
            Woken::Inbox(first) => {
                let mut next = Some(first);
                let mut handled = 0;
                let now = Instant::now();
                while let Some(message) = next.take() {
                    if let Some(stop) =
                        deliver_received(&mut self.handler, &mut self.core, now, message)
                    {
                        return Some(stop);
                    }
                    handled += 1;
                    if handled < MAX_BATCH {
                        next = self.inbox.try_recv();
                    }
                }
            }
            Woken::Incoming => return self.read(budget).map(|stopped| (stopped, None)),
            Woken::Writable => {
                if let Some(conn) = self.conn.as_mut() {
                    if let Err(e) = conn.flush() {
                        self.fail(e);
                    }
                }
            }
            Woken::WriteTimedOut => {
                if let Some(conn) = &self.conn {
                    let error = conn.writes.timed_out();
                    self.fail(error);
                }
            }
            Woken::Room => {}
            Woken::Deadline => self.core.handle_timeout(Instant::now()),
        }
        None
    }

    /// Carries out the core's instructions and hands its events to the
    /// handler until both are quiet; `Some` when the handler stopped.
    fn drain(&mut self) -> Option<Stopped> {
        loop {
            let mut wrote = false;
            let mut write_failed = None;
            while let Some(instruction) = self.core.poll_instruction() {
                match instruction {
                    Instruction::Connect(request) => {
                        // The core considers any previous connection, or
                        // attempt, gone.
                        self.conn = None;
                        self.connecting = None;
                        self.connect_to = Some(request);
                    }
                    Instruction::Send(message) => {
                        // After a failed write the connection is done for:
                        // skip the rest of this turn's frames.
                        if let (Some(conn), None) = (self.conn.as_mut(), &write_failed) {
                            wrote = true;
                            write_failed = conn.send(message).err();
                        }
                    }
                    Instruction::Close { code, reason } => {
                        // The core gave the connection up, including one
                        // it asked for this turn or one being opened: its
                        // answer will be dropped.
                        self.connect_to = None;
                        self.connecting = None;
                        if let Some(conn) = self.conn.take() {
                            debug!(code, reason = %reason, "closing the connection");
                            conn.close_now(code, reason);
                        }
                    }
                }
            }
            if let (Some(conn), None, true) = (self.conn.as_mut(), &write_failed, wrote) {
                write_failed = conn.flush().err();
            }
            if let Some(message) = write_failed {
                self.fail(message);
                continue;
            }
            if let Some(stopped) = self
                .batch
                .end(&mut self.handler, &mut self.core, Instant::now())
            {
                return Some(stopped);
            }
            // Callbacks may have issued commands: drain again until quiet.
            if !self.core.has_output() {
                return None;
            }
        }
    }

    /// Opens a connection: on this thread, blocking it for up to three
    /// times the connect timeout (TCP, TLS, upgrade), and tells the core
    /// how it went (`true`); or on the I/O pool, which answers through
    /// [`Drive::connected`] (`false`).
    fn start_connect(&mut self, request: ConnectRequest, span: &Span) -> bool {
        info!(url = %request.redacted_url(), attempt = request.attempt, "connecting");
        match &self.blocking {
            BlockingSteps::Here => {
                let opened = connect::open(&request, &self.transport);
                self.opened(opened);
                true
            }
            BlockingSteps::Pool(wakeups) => {
                let attempt = ATTEMPTS.fetch_add(1, Ordering::Relaxed);
                self.connecting = Some(attempt);
                let (wakeups, key) = (wakeups.clone(), self.key);
                let transport = self.transport.clone();
                let span = span.clone();
                io_pool::run(move || {
                    let opened = span.in_scope(|| connect::open(&request, &transport));
                    wakeups.connected(key, attempt, opened);
                });
                false
            }
        }
    }

    /// Registers a connection that opened, and tells the core how the
    /// attempt went.
    fn opened(&mut self, opened: Result<Ws, ConnectFailure>) {
        let registered = opened.and_then(|ws| {
            Conn::register(
                ws,
                self.poller.clone(),
                self.key,
                self.transport.write_timeout,
            )
            .map_err(|e| ConnectFailure::new(format!("could not watch the connection: {e}")))
        });
        let now = Instant::now();
        match registered {
            Ok(conn) => {
                info!("connected");
                self.conn = Some(conn);
                self.core.handle_connected(now);
            }
            Err(failure) => {
                warn!(status = failure.status, message = %failure.message, "connect failed");
                self.core.handle_connect_failed(now, failure);
            }
        }
    }

    /// Feeds the core what the socket has, up to `budget` messages, handing
    /// each one's events to the handler as it goes; `Some` when the
    /// handler stopped.
    fn read(&mut self, budget: usize) -> Option<Stopped> {
        // One clock read for what is already buffered.
        let now = Instant::now();
        for _ in 0..budget {
            // A bad message ends the connection in the core: read no more of it.
            let conn = self.conn.as_mut().filter(|_| self.core.is_connected())?;
            let item = conn.read()?;
            let fed = feed(&mut self.core, now, Some(item));
            if let Err(stopped) = self.batch.deliver(&mut self.handler, &mut self.core, now) {
                return Some(stopped);
            }
            match fed {
                Fed::Handled => {}
                Fed::PeerClosed => {
                    // RFC 6455 5.5.1: answer the close (tungstenite queued
                    // the answer) if the socket takes it now, and drop.
                    if let Some(mut conn) = self.conn.take() {
                        let _ = conn.flush();
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
    fn fail(&mut self, message: String) {
        warn!(error = %message, "write failed");
        self.conn = None;
        self.core.handle_transport_error(Instant::now(), &message);
    }

    /// Stops: the core disconnects; its instructions up to its `Close`
    /// (frames it accepted before the stop still go out, in order), then
    /// the close frame and a short wait for the server's answer, are
    /// carried out on a blocking socket with the write time limit, where
    /// the socket's blocking steps run ([`BlockingSteps`]). Nothing more is
    /// accepted from the handles. Returns `stop`, for [`Drive::end`].
    fn wind_up(&mut self, stop: Stop) -> Stop {
        self.core.disconnect(Instant::now());
        self.connect_to = None;
        self.connecting = None;
        let limit = self.transport.write_timeout;
        if let Some(conn) = self.conn.take().and_then(|c| c.into_blocking(limit)) {
            let mut frames = Vec::new();
            let mut close = None;
            while let Some(instruction) = self.core.poll_instruction() {
                match instruction {
                    Instruction::Send(message) => frames.push(message),
                    Instruction::Close { code, reason } => {
                        close = Some((code, reason));
                        break;
                    }
                    // Nothing is sent after the core's own close (or on a new connection).
                    Instruction::Connect(_) => break,
                }
            }
            let goodbye = move || conn.say_goodbye(frames, close, limit);
            match &self.blocking {
                BlockingSteps::Here => goodbye(),
                BlockingSteps::Pool(_) => io_pool::run(goodbye),
            }
        }
        // Nothing more is accepted; handles waiting on the socket learn it is gone.
        self.inbox.close();
        stop
    }
}

impl<H: Handler> Drive for Driven<H> {
    fn attach(&mut self, key: usize, waker: Waker) {
        self.key = key;
        self.waker = waker;
    }

    fn turn(&mut self) -> Turn {
        let span = mem::replace(&mut self.span, Span::none());
        let turn = span.in_scope(|| self.step(&span));
        self.span = span;
        turn
    }

    fn ready(&mut self, readable: bool, writable: bool) {
        if let Some(conn) = self.conn.as_mut() {
            conn.readable |= readable;
            conn.writable |= writable;
        }
    }

    fn connected(&mut self, attempt: u64, opened: Result<Ws, ConnectFailure>) {
        // A late answer for an attempt the core gave up is dropped.
        if self.connecting == Some(attempt) {
            self.connecting = None;
            self.span.clone().in_scope(|| self.opened(opened));
        }
    }

    fn end(self: Box<Self>, (stopped, done): Stop) -> Stopped {
        let Driven {
            handler, report, ..
        } = *self;
        drop(handler);
        drop(done);
        if let Some(report) = report {
            let _ = report.send(stopped.clone());
        }
        stopped
    }
}

/// Wakes the caller's loop ([`run_here`]) from any thread.
struct NotifyPoller(Arc<Poller>);

impl Wake for NotifyPoller {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let _ = self.0.notify();
    }
}

/// Runs one socket on the calling thread, in its span, until its handler
/// stops, a handle stops it, or every handle is gone; its blocking steps
/// run here too. Reports why it stopped to the task's waiters and returns
/// it.
pub(crate) fn run_here<H: Handler>(task: SocketTask<H>) -> Stopped {
    let poller = match Poller::new() {
        Ok(poller) => Arc::new(poller),
        Err(e) => {
            let stopped = stopped(format!("could not create the socket's poller: {e}"));
            // Nothing more is accepted; handles waiting on the socket learn it is gone.
            task.inbox.close();
            if let Some(report) = task.stopped {
                let _ = report.send(stopped.clone());
            }
            return stopped;
        }
    };
    let mut socket = Box::new(Driven::new(task, poller.clone(), BlockingSteps::Here));
    socket.attach(0, Waker::from(Arc::new(NotifyPoller(poller.clone()))));
    let mut events = Events::new();
    loop {
        let wake_at = match socket.turn() {
            Turn::Again => continue,
            Turn::Idle(at) => at,
            Turn::Stopped(stop) => return socket.end(stop),
        };
        events.clear();
        let timeout = wake_at.map(|at| at.saturating_duration_since(Instant::now()));
        if let Err(e) = poller.wait(&mut events, timeout) {
            if e.kind() != io::ErrorKind::Interrupted {
                let reason = format!("waiting for the socket failed: {e}");
                let stop = socket.wind_up((stopped(reason), None));
                return socket.end(stop);
            }
        }
        for event in events.iter() {
            socket.ready(event.readable, event.writable);
        }
    }
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
