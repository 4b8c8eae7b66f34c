//! A channel's events and the bounded queue that carries them from the
//! router to the application, which tells the loop when it makes room.

use crate::client::Name;
use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::TryRecvError;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context as TaskContext, Poll};

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
        event: Name,
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
        status: Name,
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
///
/// Unlike a channel that wakes its reader on every send, the router's side
/// only notes that it queued something, and [`EventSender::flush`] wakes the
/// reader once, when the loop has handled everything it read in one go: a
/// reader on another thread (async-std's executor, the blocking API) was
/// woken once per message, and the thread switches cost more than the
/// messages.
pub(crate) fn event_queue(capacity: usize, room: Arc<AtomicWaker>) -> (EventSender, EventReceiver) {
    let shared = Arc::new(Shared {
        // Grows with use, so an idle channel pays for no slots; the
        // capacity is enforced by `try_send`, and only the last event of a
        // socket that stops (`Closed(SocketStopped)`) may go beyond it.
        queue: Mutex::new(VecDeque::new()),
        closed: AtomicBool::new(false),
        reader: AtomicWaker::new(),
    });
    (
        EventSender {
            shared: shared.clone(),
            capacity: capacity.max(1),
            unwoken: AtomicBool::new(false),
        },
        EventReceiver { shared, room },
    )
}

/// A queue left with more slots than this after a burst gives them back
/// once it is empty.
const KEEP_SLOTS: usize = 16;

struct Shared {
    queue: Mutex<VecDeque<ChannelEvent>>,
    /// Set by either side: the router closed the stream, or the reader is
    /// gone.
    closed: AtomicBool,
    reader: AtomicWaker,
}

impl Shared {
    fn queue(&self) -> MutexGuard<'_, VecDeque<ChannelEvent>> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn pop(&self) -> Option<ChannelEvent> {
        let mut queue = self.queue();
        let event = queue.pop_front();
        if queue.is_empty() && queue.capacity() > KEEP_SLOTS {
            queue.shrink_to(KEEP_SLOTS);
        }
        event
    }

    fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.reader.wake();
    }
}

/// The router's side of a channel's queue.
pub(crate) struct EventSender {
    shared: Arc<Shared>,
    capacity: usize,
    /// Something was queued since the reader was last woken.
    unwoken: AtomicBool,
}

impl fmt::Debug for EventSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventSender")
            .field("queued", &self.shared.queue().len())
            .field("capacity", &self.capacity)
            .finish()
    }
}

/// Why an event did not go into the queue.
pub(crate) enum Refused {
    Full(ChannelEvent),
    Closed,
}

impl EventSender {
    /// Queues an event; the reader is woken by the next
    /// [`flush`](Self::flush).
    pub(crate) fn try_send(&self, event: ChannelEvent) -> Result<(), Refused> {
        if self.is_closed() {
            return Err(Refused::Closed);
        }
        let mut queue = self.shared.queue();
        if queue.len() >= self.capacity {
            return Err(Refused::Full(event));
        }
        queue.push_back(event);
        drop(queue);
        self.unwoken.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Wakes the reader if anything was queued since the last wake-up.
    pub(crate) fn flush(&self) {
        if self.unwoken.swap(false, Ordering::Relaxed) {
            self.shared.reader.wake();
        }
    }

    /// The last event of all, even into a full queue; the stream ends
    /// after it.
    pub(crate) fn send_last(&self, event: ChannelEvent) {
        if !self.is_closed() {
            self.shared.queue().push_back(event);
        }
        self.close();
    }

    /// How many more events fit now.
    pub(crate) fn room(&self) -> usize {
        self.capacity.saturating_sub(self.shared.queue().len())
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
    }

    /// Ends the stream once what is queued has been read.
    pub(crate) fn close(&self) {
        self.unwoken.store(false, Ordering::Relaxed);
        self.shared.close();
    }
}

impl Drop for EventSender {
    fn drop(&mut self) {
        self.close();
    }
}

/// The application's side of a channel's queue.
pub(crate) struct EventReceiver {
    shared: Arc<Shared>,
    room: Arc<AtomicWaker>,
}

impl fmt::Debug for EventReceiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventReceiver")
            .field("queued", &self.len())
            .finish()
    }
}

impl EventReceiver {
    pub(crate) fn len(&self) -> usize {
        self.shared.queue().len()
    }

    /// The next event, `None` when none is queued; `closed` says whether
    /// none will come.
    fn take(&mut self) -> (Option<ChannelEvent>, bool) {
        if let Some(event) = self.shared.pop() {
            self.room.wake();
            return (Some(event), false);
        }
        if !self.shared.closed.load(Ordering::Acquire) {
            return (None, false);
        }
        // Closed: what was queued before the close is still delivered.
        let event = self.shared.pop();
        let closed = event.is_none();
        (event, closed)
    }

    pub(crate) fn try_recv(&mut self) -> Result<ChannelEvent, TryRecvError> {
        match self.take() {
            (Some(event), _) => Ok(event),
            (None, true) => Err(TryRecvError::Disconnected),
            (None, false) => Err(TryRecvError::Empty),
        }
    }

    pub(crate) fn poll_recv(&mut self, cx: &mut TaskContext<'_>) -> Poll<Option<ChannelEvent>> {
        if let (Some(event), _) = self.take() {
            return Poll::Ready(Some(event));
        }
        // Register, then look again, so no wake-up slips between.
        self.shared.reader.register(cx.waker());
        match self.take() {
            (Some(event), _) => Poll::Ready(Some(event)),
            (None, true) => Poll::Ready(None),
            (None, false) => Poll::Pending,
        }
    }
}

impl Drop for EventReceiver {
    /// Nobody reads any more: the router stops queueing.
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::Release);
        self.shared.queue().clear();
    }
}

#[cfg(test)]
mod tests {
    use std::task::Waker;

    use super::super::queue::counting::counting_waker;
    use super::*;

    fn message(n: u32) -> ChannelEvent {
        ChannelEvent::Message {
            event: n.to_string().into(),
            payload: Payload::empty(),
        }
    }

    fn queue(capacity: usize) -> (EventSender, EventReceiver) {
        event_queue(capacity, Arc::new(AtomicWaker::new()))
    }

    #[test]
    fn events_come_in_order_up_to_the_capacity() {
        let (tx, mut rx) = queue(3);
        for n in 0..3 {
            assert!(tx.try_send(message(n)).is_ok());
        }
        assert_eq!(tx.room(), 0);
        assert!(matches!(tx.try_send(message(3)), Err(Refused::Full(_))));
        for n in 0..3 {
            assert_eq!(rx.try_recv(), Ok(message(n)));
        }
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        assert_eq!(tx.room(), 3);
    }

    #[test]
    fn the_reader_is_woken_once_per_flush_not_per_event() {
        let (tx, mut rx) = queue(100);
        let (wakes, waker) = counting_waker();
        let mut cx = TaskContext::from_waker(&waker);
        assert_eq!(rx.poll_recv(&mut cx), Poll::Pending);
        for n in 0..50 {
            assert!(tx.try_send(message(n)).is_ok());
        }
        assert_eq!(wakes.get(), 0);
        tx.flush();
        tx.flush();
        assert_eq!(wakes.get(), 1);
        for n in 0..50 {
            assert_eq!(rx.poll_recv(&mut cx), Poll::Ready(Some(message(n))));
        }
        assert_eq!(rx.poll_recv(&mut cx), Poll::Pending);
    }

    #[test]
    fn what_was_queued_before_the_close_is_still_read() {
        let (tx, mut rx) = queue(1);
        assert!(tx.try_send(message(1)).is_ok());
        // The last event goes in even past the capacity.
        tx.send_last(message(2));
        assert!(tx.is_closed());
        assert!(matches!(tx.try_send(message(3)), Err(Refused::Closed)));
        assert_eq!(rx.try_recv(), Ok(message(1)));
        assert_eq!(rx.try_recv(), Ok(message(2)));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
        let waker = Waker::noop();
        assert_eq!(
            rx.poll_recv(&mut TaskContext::from_waker(waker)),
            Poll::Ready(None)
        );
    }

    #[test]
    fn a_dropped_sender_ends_the_stream_and_a_dropped_reader_stops_the_sender() {
        let (tx, mut rx) = queue(4);
        assert!(tx.try_send(message(1)).is_ok());
        drop(tx);
        assert_eq!(rx.try_recv(), Ok(message(1)));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));

        let (tx, rx) = queue(4);
        assert!(!tx.is_closed());
        drop(rx);
        assert!(tx.is_closed());
        assert!(matches!(tx.try_send(message(1)), Err(Refused::Closed)));
    }

    #[test]
    fn a_queue_gives_its_slots_back_after_a_burst() {
        let (tx, mut rx) = queue(1_000);
        for n in 0..1_000 {
            assert!(tx.try_send(message(n)).is_ok());
        }
        while rx.try_recv().is_ok() {}
        assert!(rx.shared.queue().capacity() <= KEEP_SLOTS);
    }
}
