//! The write limit on an async runtime: [`WriteProgress`] with a timer
//! that wakes the loop at its deadline.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use super::runtime::{Runtime, Timer};
use super::write_progress::WriteProgress;

/// [`WriteProgress`] and its timer. The timer is made only when a write
/// has to wait, so writes that all fit in the socket's buffers cost no
/// clock read and no timer.
pub(crate) struct WriteStall {
    progress: WriteProgress,
    /// Set to the progress's deadline.
    timer: Option<Pin<Box<dyn Timer>>>,
}

impl WriteStall {
    /// No write waits yet.
    pub(crate) fn new(limit: Duration) -> Self {
        WriteStall {
            progress: WriteProgress::new(limit),
            timer: None,
        }
    }

    /// A write has to wait, with `flushed` bytes of the current writes gone
    /// out: `Ready` once the limit has passed without progress; otherwise
    /// `cx` is woken at the deadline.
    pub(crate) fn poll_expired<R: Runtime>(
        &mut self,
        runtime: &R,
        flushed: usize,
        cx: &mut Context<'_>,
    ) -> Poll<()> {
        let before = self.progress.deadline();
        let deadline = self.progress.waiting(runtime.now(), flushed);
        let timer = match &mut self.timer {
            Some(timer) => {
                if before != Some(deadline) {
                    timer.as_mut().reset(deadline);
                }
                timer
            }
            None => self.timer.insert(runtime.timer(deadline)),
        };
        timer.as_mut().poll_fire(cx)
    }

    /// Why the writes failed once [`poll_expired`](Self::poll_expired) was
    /// `Ready`.
    pub(crate) fn error(&self) -> String {
        self.progress.timed_out()
    }
}
