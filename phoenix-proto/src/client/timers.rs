//! The state machine's deadlines, ordered by time.
//!
//! Push deadlines are kept apart from the others: every push arms one and
//! almost every push cancels it soon after (its reply came), and an ordered
//! set paid a tree insert and a tree remove for each. They go into a queue
//! sorted by deadline instead, where a push's deadline almost always lands
//! at the back (pushes are made in time order, most with the same timeout)
//! and a cancel only marks the entry; marked entries leave from the front,
//! or all at once when they outnumber the live ones. A deadline that would
//! land far from the back (a much shorter timeout than the pushes before
//! it) goes into the ordered set, so no insert moves many entries.

use std::collections::{BTreeSet, VecDeque};
use std::time::Instant;

use super::ids::{ChannelId, PushId};

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
    push: PushId,
    live: bool,
}

/// Every armed deadline. Each owner keeps its own `Option<Instant>` slot so
/// a deadline can be found again to move or cancel it.
#[derive(Debug, Default)]
pub(crate) struct Timers {
    armed: BTreeSet<(Instant, Timer)>,
    /// Push deadlines sorted by `(at, push)`, cancelled ones marked.
    pushes: VecDeque<Entry>,
    /// How many entries of `pushes` are cancelled.
    cancelled: usize,
}

impl Timers {
    pub(crate) fn set(&mut self, slot: &mut Option<Instant>, timer: Timer, at: Instant) {
        self.cancel(slot, timer);
        *slot = Some(at);
        if let Timer::Push(push) = timer {
            if self.queue_push(at, push) {
                return;
            }
        }
        self.armed.insert((at, timer));
    }

    pub(crate) fn cancel(&mut self, slot: &mut Option<Instant>, timer: Timer) {
        let Some(at) = slot.take() else {
            return;
        };
        if let Timer::Push(push) = timer {
            if self.unqueue_push(at, push) {
                return;
            }
        }
        self.armed.remove(&(at, timer));
    }

    /// The earliest deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        let queued = self.pushes.front().map(|entry| entry.at);
        let armed = self.armed.first().map(|(at, _)| *at);
        match (queued, armed) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Removes and returns the earliest deadline at or before `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<Timer> {
        let queued = self
            .pushes
            .front()
            .map(|entry| (entry.at, Timer::Push(entry.push)));
        let armed = self.armed.first().copied();
        let take_queued = match (queued, armed) {
            (Some(q), Some(a)) => q <= a,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if take_queued {
            let entry = self.pushes.front().copied()?;
            if entry.at > now {
                return None;
            }
            self.pushes.pop_front();
            self.drop_cancelled_front();
            return Some(Timer::Push(entry.push));
        }
        let (at, _) = self.armed.first()?;
        if *at > now {
            return None;
        }
        self.armed.pop_first().map(|(_, timer)| timer)
    }

    /// Queues a push deadline; `false` when it belongs in the ordered set.
    fn queue_push(&mut self, at: Instant, push: PushId) -> bool {
        let key = (at, push);
        // The usual case: later than everything queued.
        if self
            .pushes
            .back()
            .is_none_or(|last| (last.at, last.push) < key)
        {
            self.pushes.push_back(Entry {
                at,
                push,
                live: true,
            });
            return true;
        }
        let index = self
            .pushes
            .partition_point(|entry| (entry.at, entry.push) < key);
        if self.pushes.len() - index > NEAR_BACK {
            return false;
        }
        self.pushes.insert(
            index,
            Entry {
                at,
                push,
                live: true,
            },
        );
        true
    }

    /// Cancels a queued push deadline; `false` when it is not queued.
    fn unqueue_push(&mut self, at: Instant, push: PushId) -> bool {
        let key = (at, push);
        // The usual case: replies come in about the order of the pushes, so
        // the deadline is at the front.
        let at_front = self
            .pushes
            .front()
            .is_some_and(|first| (first.at, first.push) == key);
        let index = if at_front {
            0
        } else {
            self.pushes
                .partition_point(|entry| (entry.at, entry.push) < key)
        };
        match self.pushes.get_mut(index) {
            Some(entry) if entry.at == at && entry.push == push && entry.live => {
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
        self.armed.len() + self.pushes.len() - self.cancelled
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
}
