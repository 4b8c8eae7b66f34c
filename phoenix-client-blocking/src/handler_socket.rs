//! The callback model's handles, blocking: the shared async handles,
//! waited for on the calling thread.

use std::fmt;

use phoenix_proto::api::{self, SocketGone};
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
pub struct HandlerHandle<H: Handler>(api::HandlerHandle<H>);

impl<H: Handler> Clone for HandlerHandle<H> {
    fn clone(&self) -> Self {
        HandlerHandle(self.0.clone())
    }
}

impl<H: Handler> fmt::Debug for HandlerHandle<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<H: Handler> HandlerHandle<H> {
    /// Sends a message to [`Handler::handle_info`].
    ///
    /// # Errors
    /// [`SocketGone`] when the socket has stopped.
    pub fn info(&self, info: H::Info) -> Result<(), SocketGone> {
        block_on(self.0.info(info))
    }

    /// Asks [`Handler::handle_call`] and waits for its answer.
    ///
    /// # Errors
    /// [`SocketGone`] when the socket has stopped.
    pub fn call(&self, call: H::Call) -> Result<H::Reply, SocketGone> {
        block_on(self.0.call(call))
    }

    /// Stops the socket and waits until it has closed its connection
    /// (bounded by the write timeout and a two-second wait for the
    /// server's answer to the close frame).
    pub fn stop(&self) {
        block_on(self.0.stop());
    }
}

/// A handler's socket, from [`Builder::spawn_handler`](phoenix_proto::api::Builder::spawn_handler)
/// (through [`Blocking`](crate::Blocking)) or [`Runner::spawn`](crate::Runner::spawn).
///
/// Dropping it does not stop the socket while [`HandlerHandle`]s exist; the
/// socket stops when the handler returns `Action::Stop`, on
/// [`stop`](Self::stop), or when the last handle is dropped.
pub struct HandlerSocket<H: Handler>(api::HandlerSocket<H>);

impl<H: Handler> fmt::Debug for HandlerSocket<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<H: Handler> From<api::HandlerSocket<H>> for HandlerSocket<H> {
    fn from(socket: api::HandlerSocket<H>) -> Self {
        HandlerSocket(socket)
    }
}

impl<H: Handler> HandlerSocket<H> {
    /// A cloneable handle for other threads.
    pub fn handle(&self) -> HandlerHandle<H> {
        HandlerHandle(self.0.handle())
    }

    /// See [`HandlerHandle::info`].
    ///
    /// # Errors
    /// [`SocketGone`] when the socket has stopped.
    pub fn info(&self, info: H::Info) -> Result<(), SocketGone> {
        block_on(self.0.info(info))
    }

    /// See [`HandlerHandle::call`].
    ///
    /// # Errors
    /// [`SocketGone`] when the socket has stopped.
    pub fn call(&self, call: H::Call) -> Result<H::Reply, SocketGone> {
        block_on(self.0.call(call))
    }

    /// Stops the socket, waits for its loop to end and returns why it
    /// stopped.
    pub fn stop(self) -> Stopped {
        block_on(self.0.stop())
    }

    /// Blocks until the socket stops by itself (the handler returned
    /// `Action::Stop`); returns why.
    pub fn wait(self) -> Stopped {
        block_on(self.0.wait())
    }
}
