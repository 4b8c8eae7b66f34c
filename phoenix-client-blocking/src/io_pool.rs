//! The threads that run the blocking steps of the reactor's sockets:
//! opening connections (DNS, TCP, TLS, the WebSocket upgrade, each up to
//! the connect timeout) and the polite close at the end (the last frames,
//! the close frame, up to two seconds for the server's answer). The
//! reactor's thread never waits for the network.
//!
//! Threads, named `phoenix-io`, start as jobs arrive, up to [`MAX_THREADS`],
//! and end after [`IDLE_LIMIT`] without work.

use std::collections::VecDeque;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::Duration;

use tracing::warn;

/// The most threads the pool runs at once.
pub(crate) const MAX_THREADS: usize = 8;

/// How long a thread waits for work before it ends.
const IDLE_LIMIT: Duration = Duration::from_secs(10);

type Job = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    threads: usize,
    idle: usize,
}

struct Pool {
    queue: Mutex<Queue>,
    work: Condvar,
}

static POOL: Pool = Pool {
    queue: Mutex::new(Queue {
        jobs: VecDeque::new(),
        threads: 0,
        idle: 0,
    }),
    work: Condvar::new(),
};

/// The queue, even after a panic while it was held (jobs run outside it).
fn queue() -> MutexGuard<'static, Queue> {
    POOL.queue.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs `job` on a pool thread, starting one if the idle ones already have
/// a job each and there is room. Without any thread (none could be
/// started), it runs here.
pub(crate) fn run(job: impl FnOnce() + Send + 'static) {
    let mut queue = queue();
    queue.jobs.push_back(Box::new(job));
    if queue.idle > 0 {
        POOL.work.notify_one();
    }
    if queue.jobs.len() <= queue.idle || queue.threads >= MAX_THREADS {
        return;
    }
    let started = thread::Builder::new().name("phoenix-io".into()).spawn(work);
    match started {
        Ok(_) => queue.threads += 1,
        Err(e) if queue.threads == 0 => {
            warn!(error = %e, "could not start an I/O thread: running the job here");
            let job = queue.jobs.pop_back();
            drop(queue);
            if let Some(job) = job {
                job();
            }
        }
        // The running threads will get to it.
        Err(e) => warn!(error = %e, "could not start another I/O thread"),
    }
}

/// A pool thread: runs jobs until none comes for [`IDLE_LIMIT`].
fn work() {
    let mut queue = queue();
    loop {
        if let Some(job) = queue.jobs.pop_front() {
            drop(queue);
            // A job that panics (a bug) must not take the thread's count with it.
            if panic::catch_unwind(AssertUnwindSafe(job)).is_err() {
                warn!("an I/O job panicked");
            }
            queue = self::queue();
            continue;
        }
        queue.idle += 1;
        let (next, waited) = POOL
            .work
            .wait_timeout(queue, IDLE_LIMIT)
            .unwrap_or_else(PoisonError::into_inner);
        queue = next;
        queue.idle -= 1;
        if waited.timed_out() && queue.jobs.is_empty() {
            queue.threads -= 1;
            return;
        }
    }
}
