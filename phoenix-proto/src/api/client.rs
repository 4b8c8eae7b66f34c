//! The async API's socket handle: a [`Client`] gives [`Channel`]s and
//! reports the connection's [`Status`].

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use futures_channel::oneshot;
use futures_util::task::AtomicWaker;
use serde::Serialize;

use super::channel::Channel;
use super::error::{PingError, SocketGone};
use super::message::{Command, Inbox, InboxSender, Request};
use super::router::Router;
use super::socket_events::{SocketEvents, SocketNews};
use super::status::{Status, StatusWatch};
use crate::codec::{EncodeError, Payload};

/// What every handle of one socket shares.
pub(crate) struct Shared {
    pub(crate) inbox: InboxSender<Router>,
    pub(crate) channel_capacity: usize,
    pub(crate) status: StatusWatch,
    /// Woken when the application takes an event (see [`Router::poll_room`]).
    pub(crate) room: Arc<AtomicWaker>,
    /// Socket events and the last round trip, from the router.
    pub(crate) news: SocketNews,
}

impl Shared {
    pub(crate) async fn send(&self, request: Request) -> Result<(), SocketGone> {
        self.inbox
            .send(Inbox::Info(Command(request)))
            .await
            .map_err(|_| SocketGone)
    }

    /// Queues a request at once, past the inbox's capacity (see
    /// [`InboxSender::send_now`]).
    pub(crate) fn send_now(&self, request: Request) -> Result<(), SocketGone> {
        self.inbox
            .send_now(Inbox::Info(Command(request)))
            .map_err(|_| SocketGone)
    }
}

/// A Phoenix socket with the async API. Cheap to clone; every clone talks
/// to the same connection. `Send + Sync`.
///
/// `R` is the runtime the socket's loop runs on; each driver crate names
/// this type for its runtime (`phoenix_client_tokio::Client`, ...), so
/// application code never spells it.
///
/// The socket runs until [`shutdown`](Self::shutdown) or until the last
/// clone (and the last [`Channel`]) is dropped.
pub struct Client<R> {
    pub(crate) shared: Arc<Shared>,
    runtime: PhantomData<fn() -> R>,
}

impl<R> Clone for Client<R> {
    fn clone(&self) -> Self {
        Client {
            shared: self.shared.clone(),
            runtime: PhantomData,
        }
    }
}

impl<R> fmt::Debug for Client<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("status", &*self.shared.status.borrow())
            .finish()
    }
}

impl<R> Client<R> {
    pub(crate) fn from_shared(shared: Shared) -> Self {
        Client {
            shared: Arc::new(shared),
            runtime: PhantomData,
        }
    }

    /// Watches the socket's status. Do not hold a `borrow()` of it across
    /// an `.await`: the socket waits for the borrow to end before it can
    /// publish a new status.
    pub fn status(&self) -> StatusWatch {
        self.shared.status.clone()
    }

    /// Every event of the socket's life from now on: each connection
    /// attempt (with its number), connected, disconnected (with the reason:
    /// refused with its HTTP status and `Retry-After`, closed with its code,
    /// heartbeat timeout, ...) and when the next attempt is due, malformed
    /// frames the server sent, heartbeat round trips, and the stop. Unlike
    /// [`status`](Self::status) it loses no transition. Unbounded: read it
    /// or drop it.
    pub fn socket_events(&self) -> SocketEvents {
        self.shared.news.subscribe()
    }

    /// The round trip of the last answered heartbeat or ping.
    pub fn last_rtt(&self) -> Option<Duration> {
        self.shared.news.last_rtt()
    }

    /// Sends a heartbeat now and returns its round trip (phoenix.js's
    /// `socket.ping`).
    ///
    /// # Errors
    /// [`PingError`]: not connected, the connection was lost before the
    /// reply, or the socket has stopped.
    pub async fn ping(&self) -> Result<Duration, PingError> {
        let (tx, rx) = oneshot::channel();
        self.shared
            .send(Request::Ping { done: tx })
            .await
            .map_err(|_| PingError::SocketGone)?;
        rx.await.map_err(|_| PingError::SocketGone)?
    }

    /// Waits until the connection is open.
    ///
    /// # Errors
    /// [`SocketGone`] when the socket stops first.
    pub async fn connected(&self) -> Result<(), SocketGone> {
        let mut status = self.status();
        match status
            .wait_for(|s| matches!(s, Status::Connected | Status::Stopped))
            .await?
        {
            Status::Connected => Ok(()),
            _ => Err(SocketGone),
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
        Channel::new(self.shared.clone(), topic.into(), params)
    }

    /// Reconnects if disconnected (also after [`disconnect`](Self::disconnect)).
    ///
    /// # Errors
    /// [`SocketGone`] when the socket has stopped.
    pub async fn reconnect(&self) -> Result<(), SocketGone> {
        self.shared.send(Request::Connect).await
    }

    /// Closes the connection and stops reconnecting; channels rejoin after
    /// [`reconnect`](Self::reconnect).
    ///
    /// # Errors
    /// [`SocketGone`] when the socket has stopped.
    pub async fn disconnect(&self) -> Result<(), SocketGone> {
        self.shared.send(Request::Disconnect).await
    }

    /// Closes the connection (frames already accepted go out first) and
    /// stops the socket; returns once its loop has ended.
    pub async fn shutdown(&self) {
        let (tx, rx) = oneshot::channel();
        if self.shared.inbox.send(Inbox::Stop(tx)).await.is_ok() {
            let _ = rx.await;
        }
        // The loop drops the router (and with it the status's sender, which
        // closes the status) as it ends.
        let mut status = self.shared.status.clone();
        let _ = status.wait_for(|_| false).await;
    }
}
