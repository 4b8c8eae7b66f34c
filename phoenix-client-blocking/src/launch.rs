//! Where a socket runs: on the shared reactor thread ([`Blocking`], the
//! [`Launch`] behind `Builder::connect` and `Builder::spawn_handler`,
//! and [`Runner::spawn`]), or on the calling thread ([`Runner::run`]).

use std::io;

use phoenix_proto::api::{Launch, SocketTask};
use phoenix_proto::client::handler::{Handler, Stopped};
use tracing::warn;

use crate::Builder;
use crate::driven;
use crate::handler_socket::{HandlerHandle, HandlerSocket};
use crate::hub;

/// Runs sockets on the process's reactor thread, named `phoenix-socket`,
/// which drives every socket started this way: the [`Launch`] that makes
/// [`Builder::connect`](phoenix_proto::api::Builder::connect) and
/// [`Builder::spawn_handler`](phoenix_proto::api::Builder::spawn_handler)
/// work without an async runtime. The thread starts with the first socket
/// and ends when the last one stops; the blocking steps of connecting and
/// closing run on a few helper threads (`phoenix-io`) meanwhile.
///
/// All of these sockets' [`Handler`] callbacks run on that one thread, one
/// at a time: a callback that blocks holds up every socket. A socket that
/// needs a thread of its own runs [`Runner::run`] on one.
#[derive(Debug, Clone, Copy, Default)]
pub struct Blocking;

impl Launch for Blocking {
    fn launch<H>(&self, task: SocketTask<H>)
    where
        H: Handler + Send + 'static,
        H::Info: Send + 'static,
        H::Call: Send + 'static,
        H::Reply: Send + 'static,
    {
        // Without a reactor the task is dropped: every handle sees the
        // socket gone.
        if let Err(e) = hub::launch(task) {
            warn!(error = %e, "could not start the socket reactor");
        }
    }
}

/// A socket with a [`Handler`], ready to run: on this thread with
/// [`run`](Self::run), or on a thread of its own with [`spawn`](Self::spawn).
/// Take [`handle`](Self::handle)s first to talk to it from other threads.
///
/// Made by [`BuilderExt::runner`].
pub struct Runner<H: Handler> {
    task: SocketTask<H>,
    socket: HandlerSocket<H>,
}

impl<H: Handler> std::fmt::Debug for Runner<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("task", &self.task)
            .finish_non_exhaustive()
    }
}

impl<H: Handler> Runner<H> {
    /// A handle for other threads (clone it freely). Its calls wait for the
    /// loop, so make them from other threads, never from a callback.
    pub fn handle(&self) -> HandlerHandle<H> {
        self.socket.handle()
    }

    /// Runs the socket on the calling thread, starting no thread, until the
    /// handler returns [`Action::Stop`](phoenix_proto::client::handler::Action::Stop)
    /// or a handle calls [`stop`](HandlerHandle::stop); returns why. Dropping
    /// every handle does not stop it.
    ///
    /// Every callback runs here, one at a time. The thread blocks in the
    /// loop: sleeping until the network, a deadline or a handle has news,
    /// and opening connections (up to the connect timeout for each of TCP,
    /// TLS and the upgrade).
    pub fn run(self) -> Stopped {
        let Runner { task, socket } = self;
        let stopped = driven::run_here(task);
        drop(socket);
        stopped
    }

    /// Runs the socket on the shared reactor thread (see [`Blocking`]),
    /// like [`Builder::spawn_handler`](phoenix_proto::api::Builder::spawn_handler)
    /// but with a blocking [`HandlerSocket`]. The socket also stops once the
    /// `HandlerSocket` and every handle are dropped.
    ///
    /// # Errors
    /// The reactor could not be started (no poller, or no thread).
    pub fn spawn(self) -> io::Result<HandlerSocket<H>>
    where
        H: Send + 'static,
        H::Info: Send + 'static,
        H::Call: Send + 'static,
        H::Reply: Send + 'static,
    {
        let Runner { task, socket } = self;
        hub::launch(task)?;
        Ok(socket)
    }
}

/// The callback model without a spawned thread, for the shared
/// [`Builder`]: implemented for `Builder` only.
///
/// ```no_run
/// use phoenix_client_blocking::{Action, Builder, BuilderExt, Context, Handler};
///
/// struct StopAtOnce;
/// impl Handler for StopAtOnce {
///     phoenix_client_blocking::no_mailbox!();
///     fn handle_connected(&mut self, _ctx: &mut Context<'_>) -> Action {
///         Action::Stop { reason: "seen it".into() }
///     }
/// }
///
/// let stopped = Builder::new("ws://localhost:4000/socket").run(StopAtOnce);
/// assert_eq!(stopped.reason, "seen it");
/// ```
pub trait BuilderExt {
    /// The socket with `handler`, ready to [`run`](Runner::run) here or be
    /// [`spawn`](Runner::spawn)ed; its [`handle`](Runner::handle) works
    /// before either. `handler` need not be `Send` to run here.
    ///
    /// The queue of handle messages has the builder's command capacity.
    fn runner<H: Handler>(self, handler: H) -> Runner<H>;

    /// Runs the socket on the calling thread until the handler stops or a
    /// handle stops it: `self.runner(handler).run()`. See [`Runner::run`].
    fn run<H: Handler>(self, handler: H) -> Stopped
    where
        Self: Sized,
    {
        self.runner(handler).run()
    }
}

impl BuilderExt for Builder {
    fn runner<H: Handler>(self, handler: H) -> Runner<H> {
        let (task, socket, Blocking) = self.handler_task(handler);
        Runner {
            task,
            socket: socket.into(),
        }
    }
}
