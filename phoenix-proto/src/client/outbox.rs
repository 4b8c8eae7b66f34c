//! Queues that give their memory back.
//!
//! A queue keeps the buffer of its largest burst for ever: after a flood
//! of messages, an idle socket still held room for the whole flood. So at
//! the moments that usually precede a quiet spell (a join's reply, a
//! heartbeat's reply: rare, so freeing and reallocating costs nothing that
//! shows), the socket asks its queues to free their buffer, which an
//! [`Outbox`] does as soon as it is empty. Nothing shrinks on the busy
//! path: shrinking a queue at the end of every drain made a pipelining
//! socket reallocate its queues on every batch (`malloc_consolidate` and
//! `VecDeque::grow` in profiles).

use std::collections::VecDeque;

/// The smallest buffer [`shrink_deque`] leaves (std's own first
/// allocation).
const MIN_KEPT: usize = 4;

/// Halves `queue`'s buffer when it is at most a quarter full, down to
/// [`MIN_KEPT`] slots. Call it after removing entries.
pub(crate) fn shrink_deque<T>(queue: &mut VecDeque<T>) {
    let capacity = queue.capacity();
    if capacity > MIN_KEPT && queue.len() <= capacity / 4 {
        queue.shrink_to((queue.len() * 2).max(MIN_KEPT));
    }
}

/// A FIFO of the socket's outputs (instructions, events).
#[derive(Debug)]
pub(crate) struct Outbox<T> {
    items: VecDeque<T>,
    /// Free the buffer the next time the queue empties.
    release_when_empty: bool,
}

impl<T> Default for Outbox<T> {
    fn default() -> Self {
        Outbox {
            items: VecDeque::new(),
            release_when_empty: false,
        }
    }
}

impl<T> Outbox<T> {
    /// Queues `item` last.
    #[inline]
    pub(crate) fn push_back(&mut self, item: T) {
        if self.items.capacity() == 0 {
            // One slot first (std would take four): a quiet socket queues
            // one output at a time; a busy one grows by doubling as usual.
            self.items.reserve_exact(1);
        }
        self.items.push_back(item);
    }

    /// Takes the first item. The call that finds the queue empty (the end
    /// of every drain) frees the buffer when asked to, or shrinks it after
    /// a burst.
    #[inline]
    pub(crate) fn pop_front(&mut self) -> Option<T> {
        if self.items.is_empty() {
            if self.release_when_empty {
                self.release();
            }
            return None;
        }
        self.items.pop_front()
    }

    /// Whether nothing is queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Frees the buffer now if the queue is empty, else once it empties.
    pub(crate) fn release_when_empty(&mut self) {
        if self.items.is_empty() {
            self.release();
        } else {
            self.release_when_empty = true;
        }
    }

    fn release(&mut self) {
        self.items = VecDeque::new();
        self.release_when_empty = false;
    }

    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.items.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_come_out_in_order() {
        let mut queue = Outbox::default();
        assert!(queue.is_empty());
        for n in 0..10 {
            queue.push_back(n);
        }
        assert!(!queue.is_empty());
        let out: Vec<i32> = std::iter::from_fn(|| queue.pop_front()).collect();
        assert_eq!(out, (0..10).collect::<Vec<_>>());
        assert_eq!(queue.pop_front(), None);
    }

    #[test]
    fn a_burst_keeps_its_buffer_between_drains_until_released() {
        let mut queue = Outbox::default();
        for round in 0..3 {
            for n in 0..10_000 {
                queue.push_back(n);
            }
            for n in 0..10_000 {
                assert_eq!(queue.pop_front(), Some(n));
            }
            // The call that finds the queue empty ends the drain.
            assert_eq!(queue.pop_front(), None);
            assert!(queue.capacity() >= 10_000, "round {round}: no regrowing");
        }
        queue.release_when_empty();
        assert_eq!(queue.capacity(), 0);
    }

    #[test]
    fn shrink_deque_halves_a_mostly_empty_buffer() {
        let mut queue: VecDeque<u32> = (0..1_000).collect();
        shrink_deque(&mut queue);
        let full = queue.capacity();
        assert!(full >= 1_000);
        queue.truncate(10);
        shrink_deque(&mut queue);
        assert_eq!(queue.capacity(), 20);
        assert_eq!(
            queue.iter().copied().collect::<Vec<_>>(),
            (0..10).collect::<Vec<_>>()
        );
        queue.clear();
        shrink_deque(&mut queue);
        assert_eq!(queue.capacity(), MIN_KEPT);
    }

    #[test]
    fn release_frees_an_empty_queue_at_once_and_a_busy_one_once_drained() {
        let mut queue = Outbox::default();
        queue.push_back(1);
        assert_eq!(queue.pop_front(), Some(1));
        assert_eq!(queue.pop_front(), None);
        assert!(queue.capacity() > 0);
        queue.release_when_empty();
        assert_eq!(queue.capacity(), 0);

        queue.push_back(2);
        queue.push_back(3);
        queue.release_when_empty();
        assert_eq!(queue.pop_front(), Some(2));
        assert_eq!(queue.pop_front(), Some(3));
        assert!(queue.capacity() > 0);
        assert_eq!(queue.pop_front(), None);
        assert_eq!(queue.capacity(), 0);
        // Released once: the next use keeps its buffer until asked again.
        queue.push_back(4);
        assert_eq!(queue.pop_front(), Some(4));
        assert_eq!(queue.pop_front(), None);
        assert!(queue.capacity() > 0);
        // The queue still works after a release.
        queue.push_back(5);
        assert_eq!(queue.pop_front(), Some(5));
    }
}
