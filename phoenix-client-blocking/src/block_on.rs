//! Waiting for the shared async handles on a plain thread: the future is
//! polled with a waker that unparks the waiting thread. No executor, no
//! extra thread; a spurious unpark only costs one more poll.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::Instant;

struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs `future` to completion on this thread.
pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        thread::park();
    }
}

/// Runs `future` on this thread until it completes (`Some`) or `deadline`
/// passes (`None`; the future is dropped).
pub(crate) fn block_on_until<F: Future>(future: F, deadline: Instant) -> Option<F::Output> {
    let mut future = pin!(future);
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return Some(output);
        }
        let left = deadline.checked_duration_since(Instant::now())?;
        thread::park_timeout(left);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_wake_from_another_thread_ends_the_wait() {
        let (tx, rx) = futures_channel::oneshot::channel();
        let sender = thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            tx.send(7)
        });
        assert_eq!(block_on(rx), Ok(7));
        assert_eq!(sender.join().ok(), Some(Ok(())));
    }

    #[test]
    fn the_deadline_ends_a_wait_nobody_answers() {
        let (_tx, rx) = futures_channel::oneshot::channel::<u8>();
        let start = Instant::now();
        let limit = Duration::from_millis(50);
        assert_eq!(block_on_until(rx, start + limit), None);
        assert!(start.elapsed() >= limit);
    }
}
