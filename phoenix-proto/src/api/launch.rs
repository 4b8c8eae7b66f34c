//! How a driver starts a socket's loop: the [`Launch`] trait and the
//! [`SocketTask`] it runs.

use std::fmt;

use futures_channel::oneshot;

use super::message::{Flow, InboxReceiver};
use super::options::TransportOptions;
use crate::client::Socket;
use crate::client::handler::{Handler, Stopped};

/// Everything one socket's loop needs: the core, the handler that receives
/// its events (the async API's router or the application's own), the inbox
/// of messages from the handles, and the transport settings.
#[non_exhaustive]
pub struct SocketTask<H: Handler> {
    /// The state machine.
    pub core: Socket,
    /// Receives the core's events.
    pub handler: H,
    /// How many messages the handler can take.
    pub flow: Flow<H>,
    /// Messages from the handles.
    pub inbox: InboxReceiver<H>,
    /// How to open connections.
    pub transport: TransportOptions,
    /// The span the loop's logs go in (no secrets in it).
    pub span: tracing::Span,
    /// Where the loop reports why it stopped, as it ends. `None` for the
    /// async API's sockets, whose handles learn it from their
    /// [`Status`](super::Status) instead (it turns `Stopped` for good when
    /// the loop drops the router): a oneshot per socket was about 120 bytes
    /// of every idle socket.
    pub stopped: Option<oneshot::Sender<Stopped>>,
}

impl<H: Handler> fmt::Debug for SocketTask<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SocketTask")
            .field("core", &self.core)
            .field("transport", &self.transport)
            .finish_non_exhaustive()
    }
}

/// Starts socket loops: on an async runtime's executor (every
/// [`Runtime`](super::Runtime) is a `Launch`), or on a thread of its own.
pub trait Launch {
    /// Runs `task` until the socket stops, without blocking the caller.
    fn launch<H>(&self, task: SocketTask<H>)
    where
        H: Handler + Send + 'static,
        H::Info: Send + 'static,
        H::Call: Send + 'static,
        H::Reply: Send + 'static;
}
