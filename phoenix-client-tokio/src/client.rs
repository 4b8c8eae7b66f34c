//! The async API's socket handle: a [`Client`] gives [`Channel`]s and
//! reports the connection's [`Status`].

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use phoenix_proto::client::DisconnectReason;
use phoenix_proto::client::handler::Stopped;
use phoenix_proto::codec::{EncodeError, Payload};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::builder::Builder;
use crate::channel::Channel;
use crate::driver::Inbox;
use crate::error::SocketGone;
use crate::router::{Command, Router};

/// Where the socket is, as seen through [`Client::status`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Status {
    /// The first connection attempt is under way. (Later attempts show as
    /// `Disconnected` with `reconnect_in` until they succeed.)
    Connecting,
    /// The connection is open.
    Connected,
    /// No connection; `reconnect_in` tells when the next attempt is due.
    Disconnected {
        /// Why.
        reason: DisconnectReason,
        /// When the next attempt is due, if one is scheduled.
        reconnect_in: Option<Duration>,
    },
    /// The socket has stopped for good.
    Stopped,
}

struct ClientInner {
    tx: mpsc::Sender<Inbox<Router>>,
    channel_capacity: usize,
    status: watch::Receiver<Status>,
    task: Mutex<Option<JoinHandle<Stopped>>>,
}

/// A Phoenix socket with the async API. Cheap to clone; every clone talks
/// to the same connection. `Send + Sync`.
///
/// The socket runs until [`shutdown`](Self::shutdown) or until the last
/// clone (and the last [`Channel`]) is dropped.
#[derive(Clone)]
pub struct Client {
    inner: Arc<ClientInner>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("status", &*self.inner.status.borrow())
            .finish()
    }
}

impl Client {
    pub(crate) fn new(
        tx: mpsc::Sender<Inbox<Router>>,
        status: watch::Receiver<Status>,
        task: JoinHandle<Stopped>,
        channel_capacity: usize,
    ) -> Self {
        Client {
            inner: Arc::new(ClientInner {
                tx,
                channel_capacity,
                status,
                task: Mutex::new(Some(task)),
            }),
        }
    }

    /// Connects to `endpoint` with the defaults (see [`Builder`]). Must be
    /// called inside a tokio runtime; returns at once.
    pub fn connect(endpoint: impl Into<String>) -> Client {
        Builder::new(endpoint).connect()
    }

    /// A [`Builder`] for `endpoint`.
    pub fn builder(endpoint: impl Into<String>) -> Builder {
        Builder::new(endpoint)
    }

    pub(crate) async fn send(&self, command: Command) -> Result<(), SocketGone> {
        self.inner
            .tx
            .send(Inbox::Info(command))
            .await
            .map_err(|_| SocketGone)
    }

    /// Watches the socket's status. Do not hold a `borrow()` of it across
    /// an `.await`: the socket's task waits for the borrow to end before it
    /// can publish a new status.
    pub fn status(&self) -> watch::Receiver<Status> {
        self.inner.status.clone()
    }

    /// Waits until the connection is open.
    ///
    /// # Errors
    /// [`SocketGone`] when the socket stops first.
    pub async fn connected(&self) -> Result<(), SocketGone> {
        let mut status = self.status();
        loop {
            match &*status.borrow_and_update() {
                Status::Connected => return Ok(()),
                Status::Stopped => return Err(SocketGone),
                _ => {}
            }
            status.changed().await.map_err(|_| SocketGone)?;
        }
    }

    /// A channel for `topic`, to be joined with `params` (any `Serialize`).
    pub fn channel<T: Serialize + ?Sized>(&self, topic: impl Into<String>, params: &T) -> Channel {
        self.channel_raw(topic, Payload::json(params))
    }

    /// A channel whose join payload is already a [`Payload`].
    pub fn channel_raw(
        &self,
        topic: impl Into<String>,
        params: Result<Payload<'static>, EncodeError>,
    ) -> Channel {
        Channel::new(
            self.clone(),
            topic.into(),
            params,
            self.inner.channel_capacity,
        )
    }

    /// The driver's inbox.
    pub(crate) fn inbox(&self) -> &mpsc::Sender<Inbox<Router>> {
        &self.inner.tx
    }

    /// Reconnects if disconnected (also after [`disconnect`](Self::disconnect)).
    ///
    /// # Errors
    /// [`SocketGone`] when the socket has stopped.
    pub async fn reconnect(&self) -> Result<(), SocketGone> {
        self.send(Command::Connect).await
    }

    /// Closes the connection and stops reconnecting; channels rejoin after
    /// [`reconnect`](Self::reconnect).
    ///
    /// # Errors
    /// [`SocketGone`] when the socket has stopped.
    pub async fn disconnect(&self) -> Result<(), SocketGone> {
        self.send(Command::Disconnect).await
    }

    /// Closes the connection and stops the socket's task.
    pub async fn shutdown(&self) {
        let (tx, rx) = oneshot::channel();
        if self.inner.tx.send(Inbox::Stop(tx)).await.is_ok() {
            let _ = rx.await;
        }
        let task = self.inner.task.lock().ok().and_then(|mut t| t.take());
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}
