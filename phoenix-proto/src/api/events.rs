//! A channel's events and the bounded queue that carries them from the
//! router to the application, which tells the loop when it makes room.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::mpsc::TryRecvError;
use std::task::{Context as TaskContext, Poll};

use futures_util::Stream;
use futures_util::task::AtomicWaker;

use crate::client::{ChannelCloseReason, ChannelErrorReason};
use crate::codec::Payload;

/// Something that happened on a channel, from
/// [`Channel::events`](super::Channel::events).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChannelEvent {
    /// A push or broadcast from the server.
    Message {
        /// The event name.
        event: String,
        /// The payload: JSON (deserialize it with [`Payload::deserialize`]) or bytes.
        payload: Payload<'static>,
    },
    /// The channel lost its server side and will rejoin by itself.
    Errored(ChannelErrorReason),
    /// The channel joined again after an error or a reconnect.
    Rejoined {
        /// The server's join response.
        response: Payload<'static>,
    },
    /// The server refused a rejoin.
    JoinRefused {
        /// The status.
        status: String,
        /// The response.
        response: Payload<'static>,
        /// Whether the channel will try again; if not, `Closed` follows.
        will_retry: bool,
    },
    /// The channel is closed for good; the stream ends after this.
    Closed(ChannelCloseReason),
}

/// A new event queue holding `capacity` events; `room` is woken every time
/// the application takes one.
pub(crate) fn event_queue(capacity: usize, room: Arc<AtomicWaker>) -> (EventSender, EventReceiver) {
    let capacity = capacity.max(1);
    // Unbounded underneath, so an idle channel pays for no slots; the
    // capacity is enforced by `try_send`, and only the last event of a
    // socket that stops (`Closed(SocketStopped)`) may go beyond it.
    let (tx, rx) = async_channel::unbounded();
    (
        EventSender { tx, capacity },
        EventReceiver {
            rx: Box::pin(rx),
            room,
        },
    )
}

/// The router's side of a channel's queue.
#[derive(Debug)]
pub(crate) struct EventSender {
    tx: async_channel::Sender<ChannelEvent>,
    capacity: usize,
}

/// Why an event did not go into the queue.
pub(crate) enum Refused {
    Full(ChannelEvent),
    Closed,
}

impl EventSender {
    pub(crate) fn try_send(&self, event: ChannelEvent) -> Result<(), Refused> {
        if self.tx.len() >= self.capacity {
            return Err(if self.tx.is_closed() {
                Refused::Closed
            } else {
                Refused::Full(event)
            });
        }
        self.tx.try_send(event).map_err(|e| match e {
            async_channel::TrySendError::Full(event) => Refused::Full(event),
            async_channel::TrySendError::Closed(_) => Refused::Closed,
        })
    }

    /// The last event of all, even into a full queue; the stream ends
    /// after it.
    pub(crate) fn send_last(&self, event: ChannelEvent) {
        let _ = self.tx.try_send(event);
        self.tx.close();
    }

    /// How many more events fit now.
    pub(crate) fn room(&self) -> usize {
        self.capacity.saturating_sub(self.tx.len())
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Ends the stream once what is queued has been read.
    pub(crate) fn close(&self) {
        self.tx.close();
    }
}

/// The application's side of a channel's queue.
pub(crate) struct EventReceiver {
    // Boxed: async-channel's receivers are not `Unpin` while listening.
    rx: Pin<Box<async_channel::Receiver<ChannelEvent>>>,
    room: Arc<AtomicWaker>,
}

impl fmt::Debug for EventReceiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventReceiver")
            .field("queued", &self.rx.len())
            .finish()
    }
}

impl EventReceiver {
    pub(crate) fn len(&self) -> usize {
        self.rx.len()
    }

    pub(crate) fn try_recv(&mut self) -> Result<ChannelEvent, TryRecvError> {
        match self.rx.try_recv() {
            Ok(event) => {
                self.room.wake();
                Ok(event)
            }
            Err(async_channel::TryRecvError::Empty) => Err(TryRecvError::Empty),
            Err(async_channel::TryRecvError::Closed) => Err(TryRecvError::Disconnected),
        }
    }

    pub(crate) fn poll_recv(&mut self, cx: &mut TaskContext<'_>) -> Poll<Option<ChannelEvent>> {
        let polled = self.rx.as_mut().poll_next(cx);
        if let Poll::Ready(Some(_)) = &polled {
            self.room.wake();
        }
        polled
    }
}

/// `try_recv` of an async-channel receiver, in std's terms.
pub(crate) fn try_recv<T>(rx: &async_channel::Receiver<T>) -> Result<T, TryRecvError> {
    rx.try_recv().map_err(|e| match e {
        async_channel::TryRecvError::Empty => TryRecvError::Empty,
        async_channel::TryRecvError::Closed => TryRecvError::Disconnected,
    })
}
