//! The state machine's deadlines, ordered by time.
//!
//! Push deadlines (and channels' join, leave and rejoin deadlines, which
//! behave alike) are kept apart from the socket-wide ones: every push arms
//! one and almost every push cancels it soon after (its reply came), and an
//! ordered set paid a tree insert and a tree remove for each. They go into
//! a queue sorted by deadline instead, where a push's deadline almost always lands
//! at the back (pushes are made in time order, most with the same timeout)
//! and a cancel only marks the entry; marked entries leave from the front,
//! or all at once when they outnumber the live ones. A deadline that would
//! land far from the back (a much shorter timeout than the pushes before
//! it) goes into the ordered set, so no insert moves many entries.
//!
//! The socket-wide deadlines (heartbeat, reconnect, stable uptime) have a
//! slot each: an idle connected socket arms only those, and an ordered set
//! allocated a B-tree leaf (room for eleven deadlines) for them. The
//! ordered set frees its leaf when its last deadline leaves.

use std::collections::{BTreeSet, VecDeque};
use std::time::Instant;

use super::ids::{ChannelId, PushId};
use super::outbox::shrink_deque;

/// What a deadline is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Timer {
    Heartbeat,
    Reconnect,
    /// The connection has stayed up long enough to count as healthy.
    Stable,
    Rejoin(ChannelId),
    /// The join in flight, or the leave in flight, took too long.
    ChannelReply(ChannelId),
    Push(PushId),
}

/// How far from the back of the push queue an insert may land before the
/// deadline goes into the ordered set instead.
const NEAR_BACK: usize = 32;

/// Cancelled entries the push queue keeps before it sweeps them out (and
/// only while they outnumber the live ones).
const SWEEP_AFTER: usize = 64;

#[derive(Debug, Clone, Copy)]
struct Entry {
    at: Instant,
    timer: Timer,
    live: bool,
}

/// The timers of which there is at most one, in the order of their slots
/// in [`Timers::socket_wide`].
const SOCKET_WIDE: [Timer; 3] = [Timer::Heartbeat, Timer::Reconnect, Timer::Stable];

/// Every armed deadline. Each owner keeps its own `Option<Instant>` slot so
/// a deadline can be found again to move or cancel it.
#[derive(Debug, Default)]
pub(crate) struct Timers {
    /// The deadlines of [`SOCKET_WIDE`], by position.
    socket_wide: [Option<Instant>; 3],
    /// Deadlines that would land far from the queue's back.
    armed: BTreeSet<(Instant, Timer)>,
    /// Push and channel deadlines sorted by `(at, timer)`, cancelled ones
    /// marked. Channel deadlines go here too: a B-tree leaf for a socket's
    /// one join deadline cost 368 bytes per joining socket.
    pushes: VecDeque<Entry>,
    /// How many entries of `pushes` are cancelled.
    cancelled: usize,
}

impl Timers {
    pub(crate) fn set(&mut self, slot: &mut Option<Instant>, timer: Timer, at: Instant) {
        self.cancel(slot, timer);
        *slot = Some(at);
        if let Some(socket_wide) = self.socket_wide_slot(timer) {
            *socket_wide = Some(at);
            return;
        }
        if self.queue(at, timer) {
            return;
        }
        self.armed.insert((at, timer));
    }

    pub(crate) fn cancel(&mut self, slot: &mut Option<Instant>, timer: Timer) {
        if let Some(at) = slot.take() {
            self.remove(at, timer);
        }
    }

    /// The earliest deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.earliest().map(|(at, _)| at)
    }

    /// Removes and returns the earliest deadline at or before `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<Timer> {
        let (at, timer) = self.earliest().filter(|(at, _)| *at <= now)?;
        self.remove(at, timer);
        Some(timer)
    }

    /// Frees the push queue's buffer if no push deadline is queued, or
    /// halves it if it is mostly empty (the ordered set frees its own as it
    /// empties). Called at quiet moments only: shrinking as replies came in
    /// made a pipelining socket regrow the queue on every batch.
    pub(crate) fn release_idle(&mut self) {
        if self.pushes.is_empty() {
            self.pushes = VecDeque::new();
        } else {
            shrink_deque(&mut self.pushes);
        }
    }

    /// The earliest deadline and its timer, ties in [`Timer`] order.
    fn earliest(&self) -> Option<(Instant, Timer)> {
        let socket_wide = SOCKET_WIDE
            .iter()
            .zip(&self.socket_wide)
            .filter_map(|(timer, at)| at.map(|at| (at, *timer)));
        let armed = self.armed.first().copied();
        // The queue's front is never a cancelled entry.
        let queued = self.pushes.front().map(|entry| (entry.at, entry.timer));
        socket_wide.chain(armed).chain(queued).min()
    }

    /// Removes an armed deadline from wherever it is kept.
    fn remove(&mut self, at: Instant, timer: Timer) {
        if let Some(socket_wide) = self.socket_wide_slot(timer) {
            *socket_wide = None;
            return;
        }
        if self.unqueue(at, timer) {
            return;
        }
        self.armed.remove(&(at, timer));
        if self.armed.is_empty() {
            // Frees the empty leaf that `remove` keeps.
            self.armed.clear();
        }
    }

    fn socket_wide_slot(&mut self, timer: Timer) -> Option<&mut Option<Instant>> {
        let index = match timer {
            Timer::Heartbeat => 0,
            Timer::Reconnect => 1,
            Timer::Stable => 2,
            Timer::Rejoin(_) | Timer::ChannelReply(_) | Timer::Push(_) => return None,
        };
        self.socket_wide.get_mut(index)
    }

    /// Queues a deadline; `false` when it belongs in the ordered set.
    fn queue(&mut self, at: Instant, timer: Timer) -> bool {
        let key = (at, timer);
        // The usual case: later than everything queued.
        if self
            .pushes
            .back()
            .is_none_or(|last| (last.at, last.timer) < key)
        {
            if self.pushes.capacity() == 0 {
                // One slot first: an idle socket queues one deadline at a
                // time (std would take four).
                self.pushes.reserve_exact(1);
            }
            self.pushes.push_back(Entry {
                at,
                timer,
                live: true,
            });
            return true;
        }
        let index = self
            .pushes
            .partition_point(|entry| (entry.at, entry.timer) < key);
        if self.pushes.len() - index > NEAR_BACK {
            return false;
        }
        self.pushes.insert(
            index,
            Entry {
                at,
                timer,
                live: true,
            },
        );
        true
    }

    /// Cancels a queued deadline; `false` when it is not queued.
    fn unqueue(&mut self, at: Instant, timer: Timer) -> bool {
        let key = (at, timer);
        // The usual case: replies come in about the order of the pushes, so
        // the deadline is at the front.
        let at_front = self
            .pushes
            .front()
            .is_some_and(|first| (first.at, first.timer) == key);
        let index = if at_front {
            0
        } else {
            self.pushes
                .partition_point(|entry| (entry.at, entry.timer) < key)
        };
        match self.pushes.get_mut(index) {
            Some(entry) if entry.at == at && entry.timer == timer && entry.live => {
                entry.live = false;
            }
            _ => return false,
        }
        self.cancelled += 1;
        self.drop_cancelled_front();
        let live = self.pushes.len() - self.cancelled;
        if self.cancelled > SWEEP_AFTER && self.cancelled > live {
            self.pushes.retain(|entry| entry.live);
            self.cancelled = 0;
        }
        true
    }

    fn drop_cancelled_front(&mut self) {
        while self.pushes.front().is_some_and(|entry| !entry.live) {
            self.pushes.pop_front();
            self.cancelled -= 1;
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        let socket_wide = self.socket_wide.iter().flatten().count();
        socket_wide + self.armed.len() + self.pushes.len() - self.cancelled
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn ms(base: Instant, n: u64) -> Instant {
        base + Duration::from_millis(n)
    }

    /// Arms `(at_ms, push)` deadlines, cancels some, and checks that they
    /// come out in the order of a plain sorted list.
    fn check(arms: &[(u64, u64)], cancels: &[u64]) {
        let base = Instant::now();
        let mut timers = Timers::default();
        let mut slots: Vec<Option<Instant>> = vec![None; arms.len()];
        for (slot, &(at, push)) in slots.iter_mut().zip(arms) {
            timers.set(slot, Timer::Push(PushId(push)), ms(base, at));
        }
        for &cancel in cancels {
            if let Some(i) = arms.iter().position(|&(_, push)| push == cancel) {
                timers.cancel(&mut slots[i], Timer::Push(PushId(cancel)));
            }
        }
        let mut expected: Vec<(u64, u64)> = arms
            .iter()
            .copied()
            .filter(|(_, push)| !cancels.contains(push))
            .collect();
        expected.sort();
        assert_eq!(timers.len(), expected.len());
        let mut got = Vec::new();
        while let Some(next) = timers.next() {
            let Some(Timer::Push(PushId(push))) = timers.pop_due(next) else {
                panic!("a deadline at {next:?} was not due at that instant");
            };
            got.push(((next - base).as_millis() as u64, push));
        }
        assert_eq!(got, expected);
        assert_eq!(timers.len(), 0);
    }

    #[test]
    fn push_deadlines_come_out_in_time_order() {
        // In order, out of order near the back, far out of order (the
        // ordered set), ties broken by push id.
        let mut arms: Vec<(u64, u64)> = (0..200).map(|i| (1_000 + i, i)).collect();
        arms.push((1_150, 500));
        arms.push((5, 501));
        arms.push((1_199, 502));
        arms.push((1_199, 503));
        arms.push((1_190, 504));
        check(&arms, &[]);
        let cancels: Vec<u64> = (0..200).filter(|i| i % 3 != 0).chain([501]).collect();
        check(&arms, &cancels);
    }

    #[test]
    fn cancelled_push_deadlines_do_not_pile_up() {
        let base = Instant::now();
        let mut timers = Timers::default();
        // One push that never finishes, then a million that finish at once:
        // the queue keeps no more than a sweep's worth of marked entries.
        let mut stuck = None;
        timers.set(&mut stuck, Timer::Push(PushId(0)), ms(base, 10_000));
        for i in 1..1_000_000u64 {
            let mut slot = None;
            timers.set(
                &mut slot,
                Timer::Push(PushId(i)),
                ms(base, 10_000 + i / 1_000),
            );
            timers.cancel(&mut slot, Timer::Push(PushId(i)));
            assert!(timers.pushes.len() <= 2 * SWEEP_AFTER + 2);
        }
        assert_eq!(timers.len(), 1);
        assert_eq!(timers.next(), Some(ms(base, 10_000)));
    }

    #[test]
    fn socket_wide_timers_stay_out_of_the_tree_and_ties_keep_timer_order() {
        let base = Instant::now();
        let mut timers = Timers::default();
        let (mut hb, mut stable, mut reconnect, mut rejoin, mut push) =
            (None, None, None, None, None);
        timers.set(&mut stable, Timer::Stable, ms(base, 10));
        timers.set(&mut hb, Timer::Heartbeat, ms(base, 10));
        assert!(timers.armed.is_empty());
        timers.set(&mut push, Timer::Push(PushId(1)), ms(base, 10));
        timers.set(&mut rejoin, Timer::Rejoin(ChannelId(1)), ms(base, 10));
        timers.set(&mut reconnect, Timer::Reconnect, ms(base, 10));
        // Moving one keeps a single deadline for it.
        timers.set(&mut hb, Timer::Heartbeat, ms(base, 5));
        timers.set(&mut hb, Timer::Heartbeat, ms(base, 10));
        assert_eq!(timers.len(), 5);
        let order: Vec<Timer> = std::iter::from_fn(|| timers.pop_due(ms(base, 10))).collect();
        assert_eq!(
            order,
            [
                Timer::Heartbeat,
                Timer::Reconnect,
                Timer::Stable,
                Timer::Rejoin(ChannelId(1)),
                Timer::Push(PushId(1)),
            ]
        );
        assert_eq!(timers.next(), None);
        // Cancelling after firing is a no-op; re-arming works.
        hb = None;
        timers.cancel(&mut hb, Timer::Heartbeat);
        timers.set(&mut hb, Timer::Heartbeat, ms(base, 20));
        assert_eq!(timers.next(), Some(ms(base, 20)));
        timers.cancel(&mut hb, Timer::Heartbeat);
        assert_eq!(timers.next(), None);
    }

    #[test]
    fn the_push_queue_is_kept_through_a_burst_and_freed_when_idle() {
        let base = Instant::now();
        let mut timers = Timers::default();
        let mut slots = vec![None; 10_000];
        for (i, slot) in slots.iter_mut().enumerate() {
            timers.set(
                slot,
                Timer::Push(PushId(i as u64)),
                ms(base, 1_000 + i as u64),
            );
        }
        assert!(timers.pushes.capacity() >= 10_000);
        for (i, slot) in slots.iter_mut().enumerate() {
            timers.cancel(slot, Timer::Push(PushId(i as u64)));
        }
        assert_eq!(timers.len(), 0);
        assert!(
            timers.pushes.capacity() >= 10_000,
            "kept until a quiet moment"
        );
        timers.release_idle();
        assert_eq!(timers.pushes.capacity(), 0);
        // Still works after the release.
        let mut slot = None;
        timers.set(&mut slot, Timer::Push(PushId(1)), ms(base, 1));
        assert_eq!(timers.pop_due(ms(base, 1)), Some(Timer::Push(PushId(1))));
    }

    #[test]
    fn other_timers_and_pushes_interleave() {
        let base = Instant::now();
        let mut timers = Timers::default();
        let (mut hb, mut p1, mut p2) = (None, None, None);
        timers.set(&mut p1, Timer::Push(PushId(1)), ms(base, 20));
        timers.set(&mut hb, Timer::Heartbeat, ms(base, 10));
        timers.set(&mut p2, Timer::Push(PushId(2)), ms(base, 30));
        assert_eq!(timers.pop_due(ms(base, 5)), None);
        assert_eq!(timers.pop_due(ms(base, 25)), Some(Timer::Heartbeat));
        assert_eq!(timers.pop_due(ms(base, 25)), Some(Timer::Push(PushId(1))));
        assert_eq!(timers.pop_due(ms(base, 25)), None);
        // Moving a push deadline earlier than the heartbeat's.
        timers.set(&mut p2, Timer::Push(PushId(2)), ms(base, 1));
        timers.set(&mut hb, Timer::Heartbeat, ms(base, 2));
        assert_eq!(timers.pop_due(ms(base, 3)), Some(Timer::Push(PushId(2))));
        assert_eq!(timers.pop_due(ms(base, 3)), Some(Timer::Heartbeat));
        assert_eq!(timers.len(), 0);
    }

    #[test]
    fn channel_deadlines_share_the_queue_with_pushes_in_time_then_timer_order() {
        let base = Instant::now();
        let mut timers = Timers::default();
        let (mut join, mut rejoin, mut push, mut late) = (None, None, None, None);
        timers.set(&mut join, Timer::ChannelReply(ChannelId(1)), ms(base, 10));
        timers.set(&mut push, Timer::Push(PushId(7)), ms(base, 10));
        timers.set(&mut rejoin, Timer::Rejoin(ChannelId(2)), ms(base, 10));
        timers.set(&mut late, Timer::ChannelReply(ChannelId(3)), ms(base, 40));
        assert!(
            timers.armed.is_empty(),
            "all in time order: none in the set"
        );
        assert_eq!(timers.pushes.capacity(), 4, "one slot first, then doubling");
        // A join answered in time: its deadline goes.
        timers.cancel(&mut join, Timer::ChannelReply(ChannelId(1)));
        let due: Vec<_> = std::iter::from_fn(|| timers.pop_due(ms(base, 10))).collect();
        assert_eq!(
            due,
            [Timer::Rejoin(ChannelId(2)), Timer::Push(PushId(7))],
            "ties in Timer order"
        );
        assert_eq!(timers.next(), Some(ms(base, 40)));
        timers.cancel(&mut late, Timer::ChannelReply(ChannelId(3)));
        assert_eq!(timers.len(), 0);
        timers.release_idle();
        assert_eq!(timers.pushes.capacity(), 0);
    }
}
