//! The socket's life as a stream of events that loses no transition
//! (phoenix.js's `onOpen`, `onClose`, `onError`, and more), and the round
//! trip of its heartbeats.

use std::fmt;
use std::pin::Pin;
use std::sync::mpsc::TryRecvError;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use futures_util::Stream;

use super::queue::{QueueReceiver, QueueSender, queue};
use crate::client::DisconnectReason;
use crate::codec::DecodeError;

/// Something that happened to the socket, from
/// [`Client::socket_events`](super::Client::socket_events).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SocketEvent {
    /// A connection attempt started (1 for the first since the last stable
    /// connection).
    Connecting {
        /// The attempt's number.
        attempt: u32,
    },
    /// The connection is open.
    Connected,
    /// The connection is gone or could not be opened: refused (with the
    /// HTTP status and `Retry-After`), closed (with its code), timed out,
    /// failed. `reconnect_in` tells when the next attempt is due, if any.
    Disconnected {
        /// Why.
        reason: DisconnectReason,
        /// When the next attempt is due.
        reconnect_in: Option<Duration>,
    },
    /// The server sent a frame that could not be decoded; it was dropped
    /// and the connection stays up.
    MalformedFrame {
        /// What was wrong with it.
        error: DecodeError,
    },
    /// A heartbeat was answered after `rtt`.
    Heartbeat {
        /// The round trip.
        rtt: Duration,
    },
    /// The socket stopped for good; the stream ends after this.
    Stopped,
}

struct Inner {
    listeners: Vec<QueueSender<SocketEvent>>,
    last_rtt: Option<Duration>,
    stopped: bool,
}

/// What the router tells and the client reads: the listeners of socket
/// events and the last round trip.
#[derive(Clone)]
pub(crate) struct SocketNews(Arc<Mutex<Inner>>);

impl SocketNews {
    pub(crate) fn new() -> Self {
        SocketNews(Arc::new(Mutex::new(Inner {
            listeners: Vec::new(),
            last_rtt: None,
            stopped: false,
        })))
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every update leaves the state whole.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn publish(&self, event: SocketEvent) {
        let mut inner = self.lock();
        if let SocketEvent::Heartbeat { rtt } = &event {
            inner.last_rtt = Some(*rtt);
        }
        inner
            .listeners
            .retain(|listener| listener.send(event.clone()).is_ok());
    }

    pub(crate) fn last_rtt(&self) -> Option<Duration> {
        self.lock().last_rtt
    }

    pub(crate) fn subscribe(&self) -> SocketEvents {
        let (tx, rx) = queue();
        let mut inner = self.lock();
        if inner.stopped {
            // Too late for anything but the end.
            let _ = tx.send(SocketEvent::Stopped);
        } else {
            inner.listeners.push(tx);
        }
        SocketEvents { rx }
    }

    /// The socket stopped: the last event, then every stream ends.
    pub(crate) fn stop(&self) {
        self.publish(SocketEvent::Stopped);
        let mut inner = self.lock();
        inner.stopped = true;
        inner.listeners.clear();
    }
}

/// The socket's events from the moment of subscribing, every one of them:
/// unbounded, so read it (or drop it).
pub struct SocketEvents {
    rx: QueueReceiver<SocketEvent>,
}

impl fmt::Debug for SocketEvents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SocketEvents")
            .field("queued", &self.rx.len())
            .finish()
    }
}

impl SocketEvents {
    /// The next event, or `None` once the socket has stopped.
    pub async fn recv(&mut self) -> Option<SocketEvent> {
        self.rx.recv().await
    }

    /// The next event if one is queued now.
    ///
    /// # Errors
    /// [`TryRecvError::Empty`] when nothing is queued yet,
    /// [`TryRecvError::Disconnected`] once the stream has ended.
    pub fn try_recv(&mut self) -> Result<SocketEvent, TryRecvError> {
        self.rx.try_recv_std()
    }
}

impl Stream for SocketEvents {
    type Item = SocketEvent;

    fn poll_next(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<SocketEvent>> {
        self.rx.poll_recv(cx)
    }
}
