//! The state machine's deadlines, ordered by time.

use std::collections::BTreeSet;
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

/// Every armed deadline. Each owner keeps its own `Option<Instant>` slot so
/// a deadline can be found again to move or cancel it.
#[derive(Debug, Default)]
pub(crate) struct Timers {
    armed: BTreeSet<(Instant, Timer)>,
}

impl Timers {
    pub(crate) fn set(&mut self, slot: &mut Option<Instant>, timer: Timer, at: Instant) {
        self.cancel(slot, timer);
        self.armed.insert((at, timer));
        *slot = Some(at);
    }

    pub(crate) fn cancel(&mut self, slot: &mut Option<Instant>, timer: Timer) {
        if let Some(at) = slot.take() {
            self.armed.remove(&(at, timer));
        }
    }

    /// The earliest deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.armed.first().map(|(at, _)| *at)
    }

    /// Removes and returns the earliest deadline at or before `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<Timer> {
        let (at, _) = self.armed.first()?;
        if *at > now {
            return None;
        }
        self.armed.pop_first().map(|(_, timer)| timer)
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.armed.len()
    }
}
