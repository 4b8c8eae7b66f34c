//! Running a [`Handler`]: the original library's model, on tokio.

use std::fmt;

use phoenix_proto::client::handler::{Handler, Stopped};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::driver::Inbox;
use crate::error::SocketGone;

/// A socket run by a [`Handler`], from [`Builder::spawn_handler`](crate::Builder::spawn_handler).
///
/// Dropping it does not stop the socket while [`HandlerHandle`]s exist; the
/// socket stops when the handler returns `Action::Stop`, on
/// [`stop`](Self::stop), or when the last handle is dropped.
pub struct HandlerSocket<H: Handler> {
    handle: HandlerHandle<H>,
    task: JoinHandle<Stopped>,
}

/// A cheap, cloneable way to talk to a handler's socket from any task.
pub struct HandlerHandle<H: Handler> {
    tx: mpsc::Sender<Inbox<H>>,
}

impl<H: Handler> Clone for HandlerHandle<H> {
    fn clone(&self) -> Self {
        HandlerHandle {
            tx: self.tx.clone(),
        }
    }
}

impl<H: Handler> fmt::Debug for HandlerHandle<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandlerHandle")
            .field("closed", &self.tx.is_closed())
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
        self.tx
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
        self.tx
            .send(Inbox::Call(call, tx))
            .await
            .map_err(|_| SocketGone)?;
        rx.await.map_err(|_| SocketGone)
    }

    /// Stops the socket: closes the connection and ends the driver task.
    pub async fn stop(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Inbox::Stop(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

impl<H: Handler> HandlerSocket<H> {
    pub(crate) fn new(tx: mpsc::Sender<Inbox<H>>, task: JoinHandle<Stopped>) -> Self {
        HandlerSocket {
            handle: HandlerHandle { tx },
            task,
        }
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

    /// Stops the socket and waits for the driver to end.
    pub async fn stop(self) -> Stopped {
        self.handle.stop().await;
        self.wait().await
    }

    /// Waits until the socket stops by itself (the handler returned
    /// `Action::Stop`) and returns why.
    pub async fn wait(self) -> Stopped {
        // The handle stays alive while waiting, so the socket does not stop
        // for lack of handles.
        let HandlerSocket { handle, task } = self;
        let stopped = match task.await {
            Ok(stopped) => stopped,
            Err(e) => Stopped {
                reason: format!("the driver task failed: {e}"),
            },
        };
        drop(handle);
        stopped
    }
}
