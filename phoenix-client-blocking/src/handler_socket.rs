//! The callback model's handles, blocking: talk to a [`Handler`]'s socket
//! from any thread.

use std::fmt;
use std::thread::JoinHandle;

use futures_channel::oneshot;
use phoenix_proto::api::{Inbox, InboxSender, SocketGone};
use phoenix_proto::client::handler::{Handler, Stopped};

use crate::block_on::block_on;

/// A cheap, cloneable way to talk to a handler's socket from other
/// threads. `Send + Sync` when the handler's messages are `Send`.
///
/// Each call blocks the calling thread: [`info`](Self::info) only while
/// the socket's queue of messages is full, [`call`](Self::call) until the
/// callback has answered, [`stop`](Self::stop) until the socket has closed
/// its connection. Never call them from a callback: the socket would wait
/// for itself.
pub struct HandlerHandle<H: Handler> {
    inbox: InboxSender<H>,
}

impl<H: Handler> Clone for HandlerHandle<H> {
    fn clone(&self) -> Self {
        HandlerHandle {
            inbox: self.inbox.clone(),
        }
    }
}

impl<H: Handler> fmt::Debug for HandlerHandle<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandlerHandle")
            .field("closed", &self.inbox.is_closed())
            .finish()
    }
}

impl<H: Handler> HandlerHandle<H> {
    pub(crate) fn new(inbox: InboxSender<H>) -> Self {
        HandlerHandle { inbox }
    }

    /// Sends a message to [`Handler::handle_info`].
    ///
    /// # Errors
    /// [`SocketGone`] when the socket has stopped.
    pub fn info(&self, info: H::Info) -> Result<(), SocketGone> {
        block_on(self.inbox.send(Inbox::Info(info))).map_err(|_| SocketGone)
    }

    /// Asks [`Handler::handle_call`] and waits for its answer.
    ///
    /// # Errors
    /// [`SocketGone`] when the socket has stopped.
    pub fn call(&self, call: H::Call) -> Result<H::Reply, SocketGone> {
        let (tx, rx) = oneshot::channel();
        block_on(self.inbox.send(Inbox::Call(call, tx))).map_err(|_| SocketGone)?;
        block_on(rx).map_err(|_| SocketGone)
    }

    /// Stops the socket and waits until it has closed its connection
    /// (bounded by the write timeout and a two-second wait for the
    /// server's answer to the close frame).
    pub fn stop(&self) {
        let (tx, rx) = oneshot::channel();
        if block_on(self.inbox.send(Inbox::Stop(tx))).is_ok() {
            let _ = block_on(rx);
        }
    }
}

/// A handler's socket running on a thread of its own, from
/// [`Runner::spawn`](crate::Runner::spawn): its [`HandlerHandle`] plus the
/// thread, to wait for.
///
/// Dropping it does not stop the socket while [`HandlerHandle`]s exist; the
/// socket stops when the handler returns `Action::Stop`, on
/// [`stop`](Self::stop), or when the last handle is dropped.
pub struct HandlerSocket<H: Handler> {
    handle: HandlerHandle<H>,
    thread: JoinHandle<Stopped>,
}

impl<H: Handler> fmt::Debug for HandlerSocket<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandlerSocket")
            .field("handle", &self.handle)
            .field("finished", &self.thread.is_finished())
            .finish()
    }
}

impl<H: Handler> HandlerSocket<H> {
    pub(crate) fn new(handle: HandlerHandle<H>, thread: JoinHandle<Stopped>) -> Self {
        HandlerSocket { handle, thread }
    }

    /// A cloneable handle for other threads.
    pub fn handle(&self) -> HandlerHandle<H> {
        self.handle.clone()
    }

    /// See [`HandlerHandle::info`].
    ///
    /// # Errors
    /// [`SocketGone`] when the socket has stopped.
    pub fn info(&self, info: H::Info) -> Result<(), SocketGone> {
        self.handle.info(info)
    }

    /// See [`HandlerHandle::call`].
    ///
    /// # Errors
    /// [`SocketGone`] when the socket has stopped.
    pub fn call(&self, call: H::Call) -> Result<H::Reply, SocketGone> {
        self.handle.call(call)
    }

    /// Stops the socket, waits for its thread to end and returns why it
    /// stopped.
    pub fn stop(self) -> Stopped {
        self.handle.stop();
        self.wait()
    }

    /// Blocks until the socket stops by itself (the handler returned
    /// `Action::Stop`) and its thread has ended; returns why.
    pub fn wait(self) -> Stopped {
        // The handle stays alive while waiting, so the socket does not stop
        // for lack of handles.
        let HandlerSocket { handle, thread } = self;
        let stopped = thread.join().unwrap_or_else(|_| Stopped {
            reason: "the socket's thread panicked".into(),
        });
        drop(handle);
        stopped
    }
}
