//! Running a [`Handler`]: the original library's model, on any driver.

use std::fmt;

use futures_channel::oneshot;

use super::error::SocketGone;
use super::message::{Inbox, InboxSender};
use crate::client::handler::{Handler, Stopped};

/// A socket run by a [`Handler`], from a driver's `Builder::spawn_handler`.
///
/// Dropping it does not stop the socket while [`HandlerHandle`]s exist; the
/// socket stops when the handler returns `Action::Stop`, on
/// [`stop`](Self::stop), or when the last handle is dropped.
pub struct HandlerSocket<H: Handler> {
    handle: HandlerHandle<H>,
    stopped: oneshot::Receiver<Stopped>,
}

/// A cheap, cloneable way to talk to a handler's socket from any task or
/// thread.
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

impl<H: Handler> fmt::Debug for HandlerSocket<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandlerSocket")
            .field("handle", &self.handle)
            .finish_non_exhaustive()
    }
}

impl<H: Handler> HandlerHandle<H> {
    /// Sends a message to [`Handler::handle_info`].
    ///
    /// # Errors
    /// [`SocketGone`] when the socket has stopped.
    pub async fn info(&self, info: H::Info) -> Result<(), SocketGone> {
        self.inbox
            .send(Inbox::Info(info))
            .await
            .map_err(|_| SocketGone)
    }

    /// Asks [`Handler::handle_call`] and waits for its answer.
    ///
    /// # Errors
    /// [`SocketGone`] when the socket has stopped.
    pub async fn call(&self, call: H::Call) -> Result<H::Reply, SocketGone> {
        let (tx, rx) = oneshot::channel();
        self.inbox
            .send(Inbox::Call(call, tx))
            .await
            .map_err(|_| SocketGone)?;
        rx.await.map_err(|_| SocketGone)
    }

    /// Stops the socket: closes the connection and ends its loop.
    pub async fn stop(&self) {
        let (tx, rx) = oneshot::channel();
        if self.inbox.send(Inbox::Stop(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

impl<H: Handler> HandlerSocket<H> {
    pub(crate) fn new(inbox: InboxSender<H>, stopped: oneshot::Receiver<Stopped>) -> Self {
        HandlerSocket {
            handle: HandlerHandle { inbox },
            stopped,
        }
    }

    /// Takes it apart: the handle and what resolves once the loop has
    /// stopped (for drivers that wrap it in a blocking API).
    pub fn into_parts(self) -> (HandlerHandle<H>, oneshot::Receiver<Stopped>) {
        (self.handle, self.stopped)
    }

    /// A cloneable handle.
    pub fn handle(&self) -> HandlerHandle<H> {
        self.handle.clone()
    }

    /// See [`HandlerHandle::info`].
    ///
    /// # Errors
    /// [`SocketGone`] when the socket has stopped.
    pub async fn info(&self, info: H::Info) -> Result<(), SocketGone> {
        self.handle.info(info).await
    }

    /// See [`HandlerHandle::call`].
    ///
    /// # Errors
    /// [`SocketGone`] when the socket has stopped.
    pub async fn call(&self, call: H::Call) -> Result<H::Reply, SocketGone> {
        self.handle.call(call).await
    }

    /// Stops the socket and waits for its loop to end.
    pub async fn stop(self) -> Stopped {
        self.handle.stop().await;
        self.wait().await
    }

    /// Waits until the socket stops by itself (the handler returned
    /// `Action::Stop`) and returns why.
    pub async fn wait(self) -> Stopped {
        // The handle stays alive while waiting, so the socket does not stop
        // for lack of handles.
        let HandlerSocket { handle, stopped } = self;
        let stopped = stopped.await.unwrap_or_else(|_| Stopped {
            reason: "the socket's loop ended without saying why (it panicked?)".into(),
        });
        drop(handle);
        stopped
    }
}
