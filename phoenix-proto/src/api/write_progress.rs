//! The write limit of an open connection, the same on every driver: how
//! long its writes may wait for the peer without a byte going out.

use std::time::{Duration, Instant};

/// Whether a connection's writes still get through to the peer, for
/// [`Builder::write_timeout`](super::Builder::write_timeout).
///
/// A write that has to wait (the socket's buffers are full) starts the
/// limit. The limit starts again whenever the peer has taken more bytes
/// since the last look, and no longer applies once everything is written.
/// So a peer that stopped reading fails the connection after the limit,
/// and a slow but steady one never does, however long a burst takes to go
/// out at its pace. (Timing each flush as a whole, as the drivers did
/// before, failed a working slow link as soon as one burst needed longer
/// than the limit to drain.)
///
/// The driver reports what it sees, with the time passed in: how many
/// bytes of the current writes have gone out
/// ([`ElasticIo::flushed_bytes`](super::ElasticIo::flushed_bytes)) each
/// time they have to wait, and when everything is written.
///
/// ```
/// use std::time::{Duration, Instant};
/// use phoenix_proto::api::WriteProgress;
///
/// let start = Instant::now();
/// let second = Duration::from_secs(1);
/// let mut writes = WriteProgress::new(10 * second);
/// // A flush waits with 64 bytes out: the peer has 10 s to take more.
/// assert_eq!(writes.waiting(start, 64), start + 10 * second);
/// // 8 s later it has taken more: 10 s again from then.
/// assert_eq!(writes.waiting(start + 8 * second, 4096), start + 18 * second);
/// // Nothing more 5 s later: the deadline stays.
/// assert_eq!(writes.waiting(start + 13 * second, 4096), start + 18 * second);
/// assert!(!writes.expired(start + 17 * second));
/// assert!(writes.expired(start + 18 * second));
/// // Everything went out: no limit until the next wait.
/// writes.written();
/// assert_eq!(writes.deadline(), None);
/// ```
#[derive(Debug, Clone)]
pub struct WriteProgress {
    limit: Duration,
    /// While writes wait: the deadline, and the bytes that had gone out
    /// when the peer last took some.
    waiting: Option<(Instant, usize)>,
}

impl WriteProgress {
    /// Writes are not waiting; each wait may last up to `limit` without
    /// progress.
    pub fn new(limit: Duration) -> Self {
        WriteProgress {
            limit,
            waiting: None,
        }
    }

    /// The writes wait for the peer at `now`, with `flushed` bytes of them
    /// gone out so far: the instant by which the peer must take more. It
    /// moves to `now + limit` when `flushed` grew since the last call (or
    /// on the first call of a wait), and stays otherwise.
    pub fn waiting(&mut self, now: Instant, flushed: usize) -> Instant {
        let deadline = match self.waiting {
            Some((deadline, before)) if flushed <= before => deadline,
            _ => now + self.limit,
        };
        self.waiting = Some((deadline, flushed));
        deadline
    }

    /// Everything was written: the next wait gets the whole limit again.
    pub fn written(&mut self) {
        self.waiting = None;
    }

    /// The deadline of the current wait; `None` when writes do not wait.
    pub fn deadline(&self) -> Option<Instant> {
        self.waiting.map(|(deadline, _)| deadline)
    }

    /// The writes have waited the whole limit without progress at `now`.
    pub fn expired(&self, now: Instant) -> bool {
        self.deadline().is_some_and(|deadline| deadline <= now)
    }

    /// Why the connection failed when [`expired`](Self::expired).
    pub fn timed_out(&self) -> String {
        timed_out(self.limit)
    }
}

/// The error of writes that waited `limit` without progress.
pub(crate) fn timed_out(limit: Duration) -> String {
    format!("write timed out after {limit:?}: the peer is not reading")
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn progress_moves_the_deadline_and_silence_does_not() {
        let t0 = Instant::now();
        let mut writes = WriteProgress::new(100 * MS);
        assert_eq!(writes.deadline(), None);
        assert!(!writes.expired(t0 + 1000 * MS));
        assert_eq!(writes.waiting(t0, 0), t0 + 100 * MS);
        // No byte out, however often asked: the first deadline holds.
        assert_eq!(writes.waiting(t0 + 50 * MS, 0), t0 + 100 * MS);
        assert_eq!(writes.waiting(t0 + 99 * MS, 0), t0 + 100 * MS);
        assert!(!writes.expired(t0 + 99 * MS));
        // One byte one millisecond before the end: the limit starts again.
        assert_eq!(writes.waiting(t0 + 99 * MS, 1), t0 + 199 * MS);
        assert!(writes.expired(t0 + 199 * MS));
    }

    #[test]
    fn a_new_wait_after_everything_was_written_gets_the_whole_limit() {
        let t0 = Instant::now();
        let mut writes = WriteProgress::new(100 * MS);
        writes.waiting(t0, 5000);
        writes.written();
        // The next writes start from zero bytes out: still a fresh limit,
        // although fewer bytes are out than in the last wait.
        assert_eq!(writes.waiting(t0 + 90 * MS, 0), t0 + 190 * MS);
        assert_eq!(writes.waiting(t0 + 150 * MS, 0), t0 + 190 * MS);
    }

    #[test]
    fn the_error_names_the_limit() {
        let writes = WriteProgress::new(1500 * MS);
        assert_eq!(
            writes.timed_out(),
            "write timed out after 1.5s: the peer is not reading"
        );
    }
}
