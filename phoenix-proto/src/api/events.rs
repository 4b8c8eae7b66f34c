//! A channel's events and the bounded queue that carries them from the
//! router to the application, which tells the loop when it makes room.

use crate::client::Name;
use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
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

/// A new event queue holding `capacity` events; `room` is woken as the
/// application takes them (every [`ROOM_EVERY`] events and at the end of
/// each batch it took).
///
/// Unlike a channel that wakes its reader on every send, the router's side
/// stages what it queues, and [`EventSender::flush`] hands it over and
/// wakes the reader once, when the loop has handled everything it read in
/// one go: a reader on another thread (async-std's executor, the blocking
/// API) was woken once per message, and the thread switches cost more than
/// the messages.
pub(crate) fn event_queue(capacity: usize, room: Arc<AtomicWaker>) -> (EventSender, EventReceiver) {
    let shared = Arc::new(Shared {
        // Grows with use, so an idle channel pays for no slots; the
        // capacity is enforced by `try_send`, and only the last event of a
        // socket that stops (`Closed(SocketStopped)`) may go beyond it.
        queue: Mutex::new(VecDeque::new()),
        held: AtomicUsize::new(0),
        closed: AtomicBool::new(false),
        reader: AtomicWaker::new(),
    });
    (
        EventSender {
            shared: shared.clone(),
            staged: Vec::new(),
            capacity: u32::try_from(capacity.max(1)).unwrap_or(u32::MAX),
            known_room: 0,
        },
        EventReceiver {
            shared,
            batch: VecDeque::new(),
            room,
        },
    )
}

/// A queue left with more slots than this after a burst gives them back
/// once it is empty.
const KEEP_SLOTS: usize = 16;

/// How many events the reader takes from its batch between two wake-ups
/// of the loop waiting for room.
const ROOM_EVERY: usize = 32;

struct Shared {
    queue: Mutex<VecDeque<ChannelEvent>>,
    /// How many events the reader took out in its last batch and has not
    /// handed to the application yet: they still count against the
    /// capacity. Written by the reader only.
    held: AtomicUsize,
    /// Set by either side: the router closed the stream, or the reader is
    /// gone.
    closed: AtomicBool,
    reader: AtomicWaker,
}

impl Shared {
    fn queue(&self) -> MutexGuard<'_, VecDeque<ChannelEvent>> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.reader.wake();
    }
}

/// The router's side of a channel's queue.
///
/// Events are staged here, with no lock, and go into the shared queue
/// together at [`flush`](Self::flush), when the loop has handled what it
/// read: one lock and one wake-up per batch instead of a lock per event.
pub(crate) struct EventSender {
    shared: Arc<Shared>,
    /// Events not handed to the shared queue yet.
    staged: Vec<ChannelEvent>,
    capacity: u32,
    /// Room known to be free without looking: never more than there is
    /// (the reader only ever makes more), looked up again when it runs out.
    known_room: u32,
}

impl fmt::Debug for EventSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventSender")
            .field("queued", &(self.shared.queue().len() + self.staged.len()))
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
    /// Queues an event; the reader sees it, and is woken, at the next
    /// [`flush`](Self::flush).
    #[inline]
    pub(crate) fn try_send(&mut self, event: ChannelEvent) -> Result<(), Refused> {
        if self.is_closed() {
            return Err(Refused::Closed);
        }
        if self.known_room == 0 {
            // `room()` is at most `capacity`, a `u32`.
            self.known_room = u32::try_from(self.room()).unwrap_or(0);
            if self.known_room == 0 {
                return Err(Refused::Full(event));
            }
        }
        self.known_room -= 1;
        self.staged.push(event);
        Ok(())
    }

    /// Hands what was staged to the reader and wakes it.
    pub(crate) fn flush(&mut self) {
        if self.staged.is_empty() {
            return;
        }
        if self.is_closed() {
            // Nobody reads any more.
            self.staged.clear();
        } else {
            let mut queue = self.shared.queue();
            if queue.is_empty() {
                // The reader has caught up: the staged buffer becomes the
                // queue and the queue's (empty) buffer the next staging
                // one, with no copy.
                let staged = VecDeque::from(std::mem::take(&mut self.staged));
                self.staged = Vec::from(std::mem::replace(&mut *queue, staged));
            } else {
                queue.extend(self.staged.drain(..));
            }
        }
        if self.staged.capacity() > KEEP_SLOTS {
            self.staged.shrink_to(KEEP_SLOTS);
        }
        self.shared.reader.wake();
    }

    /// The last event of all, even into a full queue; the stream ends
    /// after it.
    pub(crate) fn send_last(&mut self, event: ChannelEvent) {
        if !self.is_closed() {
            self.staged.push(event);
        }
        self.close();
    }

    /// How many more events fit now.
    pub(crate) fn room(&self) -> usize {
        let queued = self.shared.queue().len() + self.staged.len();
        usize::try_from(self.capacity)
            .unwrap_or(usize::MAX)
            .saturating_sub(queued + self.shared.held.load(Ordering::Acquire))
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
    }

    /// Ends the stream once what is queued (and staged) has been read.
    pub(crate) fn close(&mut self) {
        self.flush();
        self.shared.close();
    }
}

impl Drop for EventSender {
    fn drop(&mut self) {
        self.close();
    }
}

/// The application's side of a channel's queue.
///
/// It takes everything queued in one go (one lock instead of one per
/// event) and hands the batch out from `batch`; what is left of the batch
/// counts against the capacity.
pub(crate) struct EventReceiver {
    shared: Arc<Shared>,
    batch: VecDeque<ChannelEvent>,
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
        self.shared.queue().len() + self.batch.len()
    }

    /// The next event, `None` when none is queued; `closed` says whether
    /// none will come.
    fn take(&mut self) -> (Option<ChannelEvent>, bool) {
        if let Some(event) = self.next_in_batch() {
            return (Some(event), false);
        }
        // Read before the queue: what was queued before a close (the last
        // event goes in first) is then still found and delivered.
        let closed = self.shared.closed.load(Ordering::Acquire);
        if self.refill() {
            return (self.next_in_batch(), false);
        }
        (None, closed)
    }

    /// The next event of the batch taken last. What is left of the batch
    /// still counts against the capacity; the loop is told of the room
    /// made every [`ROOM_EVERY`] events and when the batch is done, so
    /// that a reader on another thread and the loop refilling the queue go
    /// on side by side instead of taking turns a whole batch at a time.
    #[inline]
    fn next_in_batch(&mut self) -> Option<ChannelEvent> {
        let event = self.batch.pop_front()?;
        let left = self.batch.len();
        self.shared.held.store(left, Ordering::Release);
        if left % ROOM_EVERY == 0 {
            self.room.wake();
        }
        Some(event)
    }

    /// Takes everything queued into the (empty) batch; `false` when nothing
    /// was, and then both buffers give back what a burst left them.
    fn refill(&mut self) -> bool {
        let mut queue = self.shared.queue();
        if queue.is_empty() {
            if queue.capacity() > KEEP_SLOTS {
                queue.shrink_to(KEEP_SLOTS);
            }
            drop(queue);
            if self.batch.capacity() > KEEP_SLOTS {
                self.batch.shrink_to(KEEP_SLOTS);
            }
            return false;
        }
        self.shared.held.store(queue.len(), Ordering::Release);
        // The batch is empty: the queue carries on in its buffer.
        std::mem::swap(&mut *queue, &mut self.batch);
        true
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
        let (mut tx, mut rx) = queue(3);
        for n in 0..3 {
            assert!(tx.try_send(message(n)).is_ok());
        }
        assert_eq!(tx.room(), 0);
        assert!(matches!(tx.try_send(message(3)), Err(Refused::Full(_))));
        tx.flush();
        assert_eq!(tx.room(), 0);
        for n in 0..3 {
            assert_eq!(rx.try_recv(), Ok(message(n)));
        }
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        assert_eq!(tx.room(), 3);
    }

    #[test]
    fn staged_events_are_seen_at_the_flush_and_the_reader_woken_once() {
        let (mut tx, mut rx) = queue(100);
        let (wakes, waker) = counting_waker();
        let mut cx = TaskContext::from_waker(&waker);
        assert_eq!(rx.poll_recv(&mut cx), Poll::Pending);
        for n in 0..50 {
            assert!(tx.try_send(message(n)).is_ok());
        }
        assert_eq!(wakes.get(), 0);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        tx.flush();
        tx.flush();
        assert_eq!(wakes.get(), 1);
        for n in 0..50 {
            assert_eq!(rx.poll_recv(&mut cx), Poll::Ready(Some(message(n))));
        }
        assert_eq!(rx.poll_recv(&mut cx), Poll::Pending);
    }

    #[test]
    fn the_room_known_without_a_lock_is_looked_up_again_when_it_runs_out() {
        let (mut tx, mut rx) = queue(2);
        assert!(tx.try_send(message(0)).is_ok());
        assert!(tx.try_send(message(1)).is_ok());
        tx.flush();
        assert!(matches!(tx.try_send(message(2)), Err(Refused::Full(_))));
        assert_eq!(rx.try_recv(), Ok(message(0)));
        assert_eq!(rx.try_recv(), Ok(message(1)));
        // The reader made room since the sender last looked.
        assert!(tx.try_send(message(2)).is_ok());
        assert!(tx.try_send(message(3)).is_ok());
        assert!(matches!(tx.try_send(message(4)), Err(Refused::Full(_))));
        tx.flush();
        assert_eq!(rx.try_recv(), Ok(message(2)));
        assert_eq!(rx.try_recv(), Ok(message(3)));
    }

    #[test]
    fn what_is_left_of_a_taken_batch_counts_against_the_capacity() {
        let room = Arc::new(AtomicWaker::new());
        let (mut tx, mut rx) = event_queue(3, room.clone());
        let (wakes, waker) = counting_waker();
        room.register(&waker);
        for n in 0..3 {
            assert!(tx.try_send(message(n)).is_ok());
        }
        tx.flush();
        // The reader takes all three in one go and hands out the first:
        // the other two are still the application's to take.
        assert_eq!(rx.try_recv(), Ok(message(0)));
        assert_eq!(tx.room(), 1);
        assert!(tx.try_send(message(3)).is_ok());
        assert!(matches!(tx.try_send(message(9)), Err(Refused::Full(_))));
        assert_eq!(wakes.get(), 0);
        assert_eq!(rx.try_recv(), Ok(message(1)));
        assert_eq!(tx.room(), 1);
        // The batch's last event frees its slots and wakes the loop.
        assert_eq!(rx.try_recv(), Ok(message(2)));
        assert_eq!(tx.room(), 2);
        assert_eq!(wakes.get(), 1);
        tx.flush();
        assert_eq!(rx.try_recv(), Ok(message(3)));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    }

    #[test]
    fn the_loop_is_woken_every_room_every_events_of_a_long_batch() {
        let room = Arc::new(AtomicWaker::new());
        let (mut tx, mut rx) = event_queue(1_000, room.clone());
        let (wakes, waker) = counting_waker();
        for n in 0..100 {
            assert!(tx.try_send(message(n)).is_ok());
        }
        tx.flush();
        // The loop waits for room: registered, as after each wake-up.
        room.register(&waker);
        let mut woken_with_left = Vec::new();
        for n in 0..100 {
            assert_eq!(rx.try_recv(), Ok(message(n)));
            if wakes.get() > woken_with_left.len() {
                woken_with_left.push(rx.len());
                room.register(&waker);
            }
        }
        assert_eq!(woken_with_left, [96, 64, 32, 0]);
        assert_eq!(tx.room(), 1_000);
    }

    #[test]
    fn events_queued_while_a_batch_is_read_come_after_it() {
        let (mut tx, mut rx) = queue(5);
        assert!(tx.try_send(message(0)).is_ok());
        assert!(tx.try_send(message(1)).is_ok());
        tx.flush();
        assert_eq!(rx.try_recv(), Ok(message(0)));
        assert_eq!(rx.len(), 1);
        // Four slots are free: the batch's event not taken yet counts.
        assert_eq!(tx.room(), 4);
        assert!(tx.try_send(message(2)).is_ok());
        tx.flush();
        assert!(tx.try_send(message(3)).is_ok());
        assert!(tx.try_send(message(4)).is_ok());
        assert!(tx.try_send(message(5)).is_ok());
        assert!(matches!(tx.try_send(message(9)), Err(Refused::Full(_))));
        // Closing flushes what was staged and still delivers the batch's
        // rest, the queue and the last event, in order.
        tx.send_last(message(6));
        assert_eq!(rx.len(), 6);
        for n in 1..=5 {
            assert_eq!(rx.try_recv(), Ok(message(n)));
        }
        assert_eq!(rx.try_recv(), Ok(message(6)));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    }

    #[test]
    fn what_was_queued_before_the_close_is_still_read() {
        let (mut tx, mut rx) = queue(1);
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
        let (mut tx, mut rx) = queue(4);
        assert!(tx.try_send(message(1)).is_ok());
        // Staged and never flushed: dropping the sender still hands it over.
        drop(tx);
        assert_eq!(rx.try_recv(), Ok(message(1)));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));

        let (mut tx, rx) = queue(4);
        assert!(!tx.is_closed());
        assert!(tx.try_send(message(1)).is_ok());
        drop(rx);
        assert!(tx.is_closed());
        assert!(matches!(tx.try_send(message(2)), Err(Refused::Closed)));
        // What was staged for a reader that left is dropped, not queued.
        tx.flush();
        assert!(tx.staged.is_empty());
        assert!(tx.shared.queue().is_empty());
    }

    #[test]
    fn a_queue_gives_its_slots_back_after_a_burst() {
        let (mut tx, mut rx) = queue(2_000);
        for n in 0..1_000 {
            assert!(tx.try_send(message(n)).is_ok());
        }
        tx.flush();
        assert!(tx.staged.capacity() <= KEEP_SLOTS);
        // A second burst before the first is read: appended, not swapped.
        for n in 1_000..1_500 {
            assert!(tx.try_send(message(n)).is_ok());
        }
        tx.flush();
        assert!(tx.staged.capacity() <= KEEP_SLOTS);
        for n in 0..1_500 {
            assert_eq!(rx.try_recv(), Ok(message(n)));
        }
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        assert!(rx.shared.queue().capacity() <= KEEP_SLOTS);
        assert!(rx.batch.capacity() <= KEEP_SLOTS);
    }
}
