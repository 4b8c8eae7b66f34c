//! A queue from many senders to one reader that holds no memory while it is
//! empty and the reader waits: a socket's inbox.
//!
//! A lock-free channel (async-channel, as the inbox used before) keeps its
//! current block of 31 slots allocated for as long as the channel lives,
//! even when nothing is queued: about 4 KiB per idle socket with the async
//! API's commands, plus 768 bytes of cache-padded counters. This queue is a
//! `VecDeque` behind a mutex that gives its slots back when the reader
//! finds it empty and goes to wait, so an idle socket pays for none of them;
//! a busy one keeps its slots between batches. Uncontended, a lock costs
//! about what a lock-free push costs; the reader takes a whole batch at a
//! time.
//!
//! When the slots go back: a few (up to [`KEPT_SLOTS`]) at the first wait,
//! more only after [`QUIET_WAITS`] waits in a row with nothing taken in
//! between. Giving a pipelining socket's thousand slots back at every wait
//! made it grow them again (ten reallocations) for every batch, and the
//! free of the large block sent glibc into `malloc_consolidate`: about 4%
//! of the async API's instructions per push (callgrind, BENCHMARKS.md
//! item 23).

use std::collections::VecDeque;
use std::fmt;
use std::sync::mpsc::TryRecvError;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context as TaskContext, Poll};

use futures_util::task::AtomicWaker;

/// Slots an empty queue gives back at the reader's first wait.
const KEPT_SLOTS: usize = 16;
/// Waits in a row with nothing taken after which an empty queue gives back
/// any number of slots.
const QUIET_WAITS: u8 = 4;

struct State<T> {
    items: VecDeque<T>,
    /// Items taken since the reader last found the queue empty.
    taken: usize,
    /// The reader's waits in a row with nothing taken in between.
    quiet: u8,
    /// Live senders; the reader learns when the last one is gone.
    senders: usize,
    /// The reader closed the queue: sends fail.
    closed: bool,
}

struct Shared<T> {
    state: Mutex<State<T>>,
    reader: AtomicWaker,
}

impl<T> Shared<T> {
    fn state(&self) -> MutexGuard<'_, State<T>> {
        // A panic while the lock was held left the queue itself intact
        // (every operation on it is one call): keep using it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A new empty queue.
pub(crate) fn queue<T>() -> (QueueSender<T>, QueueReceiver<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            items: VecDeque::new(),
            taken: 0,
            quiet: 0,
            senders: 1,
            closed: false,
        }),
        reader: AtomicWaker::new(),
    });
    (
        QueueSender {
            shared: shared.clone(),
        },
        QueueReceiver { shared },
    )
}

/// A sending side; clone it for more senders.
pub(crate) struct QueueSender<T> {
    shared: Arc<Shared<T>>,
}

impl<T> QueueSender<T> {
    /// Queues `item` and wakes the reader.
    ///
    /// # Errors
    /// Gives `item` back when the reader has closed the queue.
    pub(crate) fn send(&self, item: T) -> Result<(), T> {
        let mut state = self.shared.state();
        if state.closed {
            return Err(item);
        }
        state.items.push_back(item);
        drop(state);
        self.shared.reader.wake();
        Ok(())
    }

    /// How many items are queued.
    pub(crate) fn len(&self) -> usize {
        self.shared.state().items.len()
    }

    /// Whether the reader has closed the queue.
    pub(crate) fn is_closed(&self) -> bool {
        self.shared.state().closed
    }
}

impl<T> Clone for QueueSender<T> {
    fn clone(&self) -> Self {
        self.shared.state().senders += 1;
        QueueSender {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for QueueSender<T> {
    fn drop(&mut self) {
        let mut state = self.shared.state();
        state.senders -= 1;
        let last = state.senders == 0;
        drop(state);
        if last {
            self.shared.reader.wake();
        }
    }
}

impl<T> fmt::Debug for QueueSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.state();
        f.debug_struct("QueueSender")
            .field("queued", &state.items.len())
            .field("closed", &state.closed)
            .finish()
    }
}

/// What the reader found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Taken<T> {
    /// The next item.
    Item(T),
    /// Nothing now.
    Empty,
    /// Nothing, and every sender is gone: nothing will come.
    Ended,
}

/// The reading side.
pub(crate) struct QueueReceiver<T> {
    shared: Arc<Shared<T>>,
}

impl<T> QueueReceiver<T> {
    /// The next item if one is queued now.
    pub(crate) fn try_recv(&self) -> Taken<T> {
        let mut state = self.shared.state();
        match state.items.pop_front() {
            Some(item) => {
                state.taken += 1;
                Taken::Item(item)
            }
            None if state.senders == 0 => Taken::Ended,
            None => Taken::Empty,
        }
    }

    /// The next item, or `Ended`; registers `cx` to be woken otherwise.
    /// An empty queue gives its slots back here (see the module's docs for
    /// when): the reader is about to wait, so they would sit unused.
    pub(crate) fn poll_recv(&self, cx: &mut TaskContext<'_>) -> Poll<Option<T>> {
        match self.try_recv() {
            Taken::Item(item) => return Poll::Ready(Some(item)),
            Taken::Ended => return Poll::Ready(None),
            Taken::Empty => {}
        }
        self.shared.reader.register(cx.waker());
        // Look again: a send between the first look and the registration
        // woke the previous waker, not this one.
        let mut state = self.shared.state();
        match state.items.pop_front() {
            Some(item) => {
                state.taken += 1;
                Poll::Ready(Some(item))
            }
            None if state.senders == 0 => Poll::Ready(None),
            None => {
                state.quiet = if state.taken > 0 {
                    0
                } else {
                    state.quiet.saturating_add(1)
                };
                state.taken = 0;
                let capacity = state.items.capacity();
                if capacity > 0 && (capacity <= KEPT_SLOTS || state.quiet >= QUIET_WAITS) {
                    state.items = VecDeque::new();
                }
                Poll::Pending
            }
        }
    }

    /// Waits for the next item; `None` once every sender is gone.
    pub(crate) async fn recv(&self) -> Option<T> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// [`try_recv`](Self::try_recv) in the terms of std's channels, for
    /// the public streams' `try_recv`.
    pub(crate) fn try_recv_std(&self) -> Result<T, TryRecvError> {
        match self.try_recv() {
            Taken::Item(item) => Ok(item),
            Taken::Empty => Err(TryRecvError::Empty),
            Taken::Ended => Err(TryRecvError::Disconnected),
        }
    }

    /// How many items are queued.
    pub(crate) fn len(&self) -> usize {
        self.shared.state().items.len()
    }

    /// Refuses every later send; what is queued can still be taken.
    pub(crate) fn close(&self) {
        self.shared.state().closed = true;
    }
}

impl<T> Drop for QueueReceiver<T> {
    fn drop(&mut self) {
        let mut state = self.shared.state();
        state.closed = true;
        // Queued items go now (with any reply channel in them, so whoever
        // waits on one learns the socket is gone), not when the last sender
        // goes.
        let items = std::mem::take(&mut state.items);
        drop(state);
        drop(items);
    }
}

impl<T> fmt::Debug for QueueReceiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueReceiver")
            .field("queued", &self.len())
            .finish()
    }
}

/// A waker that counts its wake-ups, for the tests of the API's queues.
#[cfg(test)]
pub(crate) mod counting {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Wake, Waker};

    /// How many times the waker was woken.
    pub(crate) struct Count(AtomicUsize);

    impl Count {
        pub(crate) fn get(&self) -> usize {
            self.0.load(Ordering::SeqCst)
        }
    }

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A waker and its count.
    pub(crate) fn counting_waker() -> (Arc<Count>, Waker) {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        (count.clone(), Waker::from(count))
    }
}

#[cfg(test)]
mod tests {
    use super::counting::counting_waker;
    use super::*;

    #[test]
    fn items_come_out_in_order() {
        let (tx, rx) = queue();
        for i in 0..100 {
            tx.send(i).unwrap();
        }
        assert_eq!(rx.len(), 100);
        for i in 0..100 {
            assert_eq!(rx.try_recv(), Taken::Item(i));
        }
        assert_eq!(rx.try_recv(), Taken::Empty);
    }

    #[test]
    fn a_send_wakes_a_waiting_reader() {
        let (tx, rx) = queue();
        let (count, waker) = counting_waker();
        let mut cx = TaskContext::from_waker(&waker);
        assert_eq!(rx.poll_recv(&mut cx), Poll::Pending);
        tx.send(7).unwrap();
        assert_eq!(count.get(), 1);
        assert_eq!(rx.poll_recv(&mut cx), Poll::Ready(Some(7)));
    }

    #[test]
    fn the_reader_learns_when_the_last_sender_is_gone_after_the_queued_items() {
        let (tx, rx) = queue();
        let second = tx.clone();
        let (count, waker) = counting_waker();
        let mut cx = TaskContext::from_waker(&waker);
        tx.send(1).unwrap();
        drop(tx);
        assert_eq!(rx.try_recv(), Taken::Item(1));
        assert_eq!(rx.poll_recv(&mut cx), Poll::Pending);
        second.send(2).unwrap();
        drop(second);
        assert!(count.get() >= 1);
        assert_eq!(rx.poll_recv(&mut cx), Poll::Ready(Some(2)));
        assert_eq!(rx.poll_recv(&mut cx), Poll::Ready(None));
        assert_eq!(rx.try_recv(), Taken::Ended);
    }

    #[test]
    fn the_last_sender_going_wakes_the_reader() {
        let (tx, rx) = queue::<u8>();
        let (count, waker) = counting_waker();
        let mut cx = TaskContext::from_waker(&waker);
        assert_eq!(rx.poll_recv(&mut cx), Poll::Pending);
        let clone = tx.clone();
        drop(tx);
        assert_eq!(count.get(), 0, "one sender is left");
        drop(clone);
        assert_eq!(count.get(), 1);
    }

    #[test]
    fn a_closed_queue_refuses_sends_and_keeps_what_was_queued() {
        let (tx, rx) = queue();
        tx.send(1).unwrap();
        rx.close();
        assert!(tx.is_closed());
        assert_eq!(tx.send(2), Err(2));
        assert_eq!(rx.try_recv(), Taken::Item(1));
        assert_eq!(rx.try_recv(), Taken::Empty);
    }

    #[test]
    fn a_dropped_receiver_drops_what_was_queued_and_refuses_sends() {
        let (tx, rx) = queue();
        let item = Arc::new(());
        tx.send(item.clone()).unwrap();
        assert_eq!(Arc::strong_count(&item), 2);
        drop(rx);
        assert_eq!(Arc::strong_count(&item), 1, "the queued copy is gone");
        assert!(tx.send(item.clone()).is_err());
        assert!(tx.is_closed());
    }

    #[test]
    fn a_burst_keeps_its_slots_until_the_reader_has_waited_quietly() {
        let (tx, rx) = queue();
        let (_, waker) = counting_waker();
        let mut cx = TaskContext::from_waker(&waker);
        let capacity = |rx: &QueueReceiver<i32>| rx.shared.state().items.capacity();
        for burst in 0..3 {
            for i in 0..1000 {
                tx.send(i).unwrap();
            }
            while let Taken::Item(_) = rx.try_recv() {}
            // The wait right after a burst, and one more with nothing
            // between (the reader woken by something else): kept.
            assert_eq!(rx.poll_recv(&mut cx), Poll::Pending);
            assert_eq!(rx.poll_recv(&mut cx), Poll::Pending);
            assert!(capacity(&rx) >= 1000, "burst {burst}: kept between batches");
        }
        // Quiet: QUIET_WAITS waits in a row with nothing taken (the second
        // wait above was the first of them).
        for _ in 2..QUIET_WAITS {
            assert_eq!(rx.poll_recv(&mut cx), Poll::Pending);
        }
        assert!(capacity(&rx) >= 1000, "one quiet wait short");
        assert_eq!(rx.poll_recv(&mut cx), Poll::Pending);
        assert_eq!(capacity(&rx), 0, "given back");
        tx.send(1).unwrap();
        assert_eq!(rx.try_recv(), Taken::Item(1));
    }

    #[test]
    fn a_few_slots_go_back_at_the_first_wait() {
        let (tx, rx) = queue();
        let (_, waker) = counting_waker();
        let mut cx = TaskContext::from_waker(&waker);
        for i in 0..KEPT_SLOTS {
            tx.send(i).unwrap();
        }
        while let Taken::Item(_) = rx.try_recv() {}
        assert!(rx.shared.state().items.capacity() > 0);
        assert_eq!(rx.poll_recv(&mut cx), Poll::Pending);
        assert_eq!(
            rx.shared.state().items.capacity(),
            0,
            "an idle socket keeps none"
        );
    }

    #[test]
    fn senders_on_other_threads_lose_nothing() {
        let (tx, rx) = queue();
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let tx = tx.clone();
                std::thread::spawn(move || {
                    for i in 0..10_000 {
                        tx.send((t, i)).unwrap();
                    }
                })
            })
            .collect();
        drop(tx);
        let mut next = [0; 4];
        let mut taken = 0;
        loop {
            match rx.try_recv() {
                Taken::Item((t, i)) => {
                    assert_eq!(next[t], i, "in order per sender");
                    next[t] += 1;
                    taken += 1;
                }
                Taken::Empty => std::thread::yield_now(),
                Taken::Ended => break,
            }
        }
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(taken, 40_000);
    }
}
