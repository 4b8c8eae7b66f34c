//! The threads that run the blocking steps of the reactor's sockets:
//! opening connections (DNS, TCP, TLS, the WebSocket upgrade, each up to
//! the connect timeout) and the polite close at the end (the last frames,
//! the close frame, up to two seconds for the server's answer). The
//! reactor's thread never waits for the network.
//!
//! Threads, named `phoenix-io`, start as jobs arrive and none is idle, up
//! to [`KEPT_THREADS`]. Once a job has waited [`STUCK`] for one (the
//! threads are held by attempts against hosts that never answer, or by a
//! burst of thousands of connects), threads start for every waiting job,
//! up to [`MAX_THREADS`]: a [`standby`] thread watches the oldest waiting
//! job meanwhile. When the queue is empty, threads beyond
//! [`KEPT_THREADS`] end at once; those wait [`IDLE_LIMIT`] for work first.
//! Extra threads only when they are needed: each one that has run keeps
//! some memory (its cached stack, its allocator arena) after it ends
//! (about 800 KiB for 56 of them).

use std::collections::VecDeque;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use tracing::warn;

/// The most threads the pool runs at once; more jobs wait their turn.
pub(crate) const MAX_THREADS: usize = 64;

/// How many threads stay, idle, for the next jobs.
pub(crate) const KEPT_THREADS: usize = 8;

/// How long the oldest waiting job waits before more threads than
/// [`KEPT_THREADS`] start.
pub(crate) const STUCK: Duration = Duration::from_secs(1);

/// How long a kept thread waits for work before it ends.
const IDLE_LIMIT: Duration = Duration::from_secs(10);

type Job = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct Queue {
    /// Waiting jobs, with when they were handed over.
    jobs: VecDeque<(Instant, Job)>,
    threads: usize,
    idle: usize,
    /// A thread is watching the oldest waiting job (see [`standby`]).
    standby: bool,
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
        standby: false,
    }),
    work: Condvar::new(),
};

/// The queue, even after a panic while it was held (jobs run outside it).
fn queue() -> MutexGuard<'static, Queue> {
    POOL.queue.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs `job` on a pool thread, starting threads as the module docs say.
/// Without any thread (none could be started), it runs here.
pub(crate) fn run(job: impl FnOnce() + Send + 'static) {
    let mut queue = queue();
    queue.jobs.push_back((Instant::now(), Box::new(job)));
    if queue.idle > 0 {
        POOL.work.notify_one();
    }
    let waiting = queue.jobs.len().saturating_sub(queue.idle);
    if waiting == 0 {
        return;
    }
    if queue.threads < KEPT_THREADS {
        if !start(&mut queue, work) && queue.threads == 0 {
            // No thread at all: the job runs here rather than never.
            let job = queue.jobs.pop_back();
            drop(queue);
            if let Some((_, job)) = job {
                job();
            }
        }
        return;
    }
    if stuck(&queue) {
        start_for_waiting(&mut queue, 0);
    } else if !queue.standby && start(&mut queue, standby) {
        queue.standby = true;
    }
}

/// Whether the oldest waiting job has waited [`STUCK`].
fn stuck(queue: &Queue) -> bool {
    queue
        .jobs
        .front()
        .is_some_and(|(since, _)| since.elapsed() >= STUCK)
}

/// Starts a thread for every job no idle thread (nor the `taking`
/// threads about to work) will take, up to [`MAX_THREADS`].
fn start_for_waiting(queue: &mut Queue, taking: usize) {
    let waiting = queue.jobs.len().saturating_sub(queue.idle + taking);
    for _ in 0..waiting {
        if queue.threads >= MAX_THREADS || !start(queue, work) {
            return;
        }
    }
}

/// Starts a thread running `entry`; `false` if none could be started.
fn start(queue: &mut Queue, entry: fn()) -> bool {
    match thread::Builder::new()
        .name("phoenix-io".into())
        .spawn(entry)
    {
        Ok(_) => {
            queue.threads += 1;
            true
        }
        Err(e) => {
            // The running threads will get to the jobs.
            warn!(error = %e, "could not start an I/O thread");
            false
        }
    }
}

/// Watches the oldest waiting job while every thread is busy: once it
/// has waited [`STUCK`], starts threads for the waiting jobs and works
/// with them; ends if the queue empties first. Without it, jobs handed
/// over while the threads were held would wait for one of them, up to a
/// connect timeout, unless another job came after [`STUCK`].
fn standby() {
    let mut queue = queue();
    loop {
        let Some(waited) = queue.jobs.front().map(|(since, _)| since.elapsed()) else {
            queue.standby = false;
            queue.threads -= 1;
            return;
        };
        let Some(left) = STUCK.checked_sub(waited).filter(|left| !left.is_zero()) else {
            break;
        };
        drop(queue);
        // A sleep, not the condition variable: a notify meant for an idle
        // thread must not wake this one instead.
        thread::sleep(left);
        queue = self::queue();
    }
    queue.standby = false;
    // This thread takes one job itself.
    start_for_waiting(&mut queue, 1);
    drop(queue);
    work();
}

/// A pool thread: runs jobs until the queue is empty and it is one too
/// many, or until none comes for [`IDLE_LIMIT`].
fn work() {
    let mut queue = queue();
    loop {
        if let Some((_, job)) = queue.jobs.pop_front() {
            drop(queue);
            // A job that panics (a bug) must not take the thread's count with it.
            if panic::catch_unwind(AssertUnwindSafe(job)).is_err() {
                warn!("an I/O job panicked");
            }
            queue = self::queue();
            continue;
        }
        if queue.threads > KEPT_THREADS {
            queue.threads -= 1;
            return;
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
