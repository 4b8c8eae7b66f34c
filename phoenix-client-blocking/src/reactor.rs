//! The reactor: one thread driving many sockets ([`Drive`]) over one
//! poller.
//!
//! Each socket has a key: its connection is registered with the poller
//! under it, and its [`Waker`] (handed to its inbox and handler) pushes it
//! on the [`Wakeups`] list and notifies the poller. A socket runs a turn
//! when its connection is ready, its waker fired, its deadline passed or
//! its last turn said it has more ([`Turn::Again`]); sockets with work take
//! turns in rounds, so none starves the others. Deadlines wait in a heap
//! that holds, per socket, at most one entry that is still wanted: a later
//! deadline is left to the earlier entry, whose (then early) turn registers
//! it.
//!
//! While sockets have work the poller is still asked, without waiting,
//! every [`POLL_EVERY`] turns, so the readiness of the others is not left
//! behind a busy one.
//!
//! A handler that panics ends its own socket (its waiters learn that the
//! socket is gone); the others go on.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Wake, Waker};
use std::time::{Duration, Instant};

use phoenix_proto::client::ConnectFailure;
use phoenix_proto::client::handler::Stopped;
use polling::{Events, Poller};
use tracing::{error, warn};

use crate::connect::Ws;
use crate::drive::{Drive, Turn};

/// Turns run between two looks at the poller while sockets have work.
const POLL_EVERY: usize = 64;

/// A socket the reactor drives.
pub(crate) type Boxed = Box<dyn Drive + Send>;

/// A finished connection attempt on its way to its socket.
struct Connected {
    key: usize,
    attempt: u64,
    opened: Result<Ws, ConnectFailure>,
}

/// What other threads hand the reactor.
#[derive(Default)]
struct Inbound {
    /// Keys of sockets whose waker fired.
    woken: Vec<usize>,
    connected: Vec<Connected>,
    /// New sockets.
    launched: Vec<Boxed>,
}

/// The reactor's poller and what other threads have for it: wakers,
/// the I/O pool's finished connection attempts, new sockets.
pub(crate) struct Wakeups {
    pub(crate) poller: Arc<Poller>,
    inbound: Mutex<Inbound>,
    /// Whether `inbound` may hold something: the reactor looks without
    /// taking the lock.
    pending: AtomicBool,
}

impl Wakeups {
    /// Wakeups for a new poller.
    pub(crate) fn new() -> io::Result<Wakeups> {
        Ok(Wakeups {
            poller: Arc::new(Poller::new()?),
            inbound: Mutex::new(Inbound::default()),
            pending: AtomicBool::new(false),
        })
    }

    /// The lists, even after a panic while they were held (every change
    /// to them is a single push or take).
    fn inbound(&self) -> MutexGuard<'_, Inbound> {
        self.inbound.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn hand_over(&self, add: impl FnOnce(&mut Inbound)) {
        add(&mut self.inbound());
        self.pending.store(true, Ordering::Release);
        // A failed notify leaves the reactor to its next deadline; there is
        // nothing better to do with the error here.
        let _ = self.poller.notify();
    }

    /// The I/O pool finished a connection attempt for the socket at `key`.
    pub(crate) fn connected(&self, key: usize, attempt: u64, opened: Result<Ws, ConnectFailure>) {
        self.hand_over(|inbound| {
            inbound.connected.push(Connected {
                key,
                attempt,
                opened,
            });
        });
    }

    /// A new socket for the reactor.
    pub(crate) fn launch(&self, socket: Boxed) {
        self.hand_over(|inbound| inbound.launched.push(socket));
    }

    /// Whether no new socket waits; for a reactor about to end (see
    /// [`Reactor::run`]).
    pub(crate) fn no_launches(&self) -> bool {
        self.inbound().launched.is_empty()
    }
}

/// A socket's waker: puts its key on the wakeups list, once until the
/// reactor has taken it.
struct SocketWaker {
    key: usize,
    queued: AtomicBool,
    wakeups: Arc<Wakeups>,
}

impl Wake for SocketWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.queued.swap(true, Ordering::AcqRel) {
            self.wakeups
                .hand_over(|inbound| inbound.woken.push(self.key));
        }
    }
}

struct Slot {
    socket: Boxed,
    waker: Arc<SocketWaker>,
    /// In the ready queue.
    queued: bool,
    /// Its entry in the deadline heap that is still wanted.
    timer: Option<Instant>,
}

/// The sockets of one reactor thread.
pub(crate) struct Reactor {
    wakeups: Arc<Wakeups>,
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    live: usize,
    ready: VecDeque<usize>,
    timers: BinaryHeap<Reverse<(Instant, usize)>>,
    events: Events,
}

impl Reactor {
    pub(crate) fn new(wakeups: Arc<Wakeups>) -> Reactor {
        Reactor {
            wakeups,
            slots: Vec::new(),
            free: Vec::new(),
            live: 0,
            ready: VecDeque::new(),
            timers: BinaryHeap::new(),
            events: Events::new(),
        }
    }

    /// Drives sockets until none is left and `may_end` agrees (it is asked
    /// each time the last one has gone, and should check
    /// [`Wakeups::no_launches`] under whatever lock new launches take).
    pub(crate) fn run(&mut self, mut may_end: impl FnMut() -> bool) {
        let mut since_poll = 0;
        loop {
            self.take_inbound();
            if self.live == 0 && self.ready.is_empty() && may_end() {
                return;
            }
            self.expire_timers(Instant::now());
            if self.ready.is_empty() {
                let timeout = self
                    .timers
                    .peek()
                    .map(|Reverse((at, _))| at.saturating_duration_since(Instant::now()));
                self.poll(timeout);
                since_poll = 0;
                continue;
            }
            for _ in 0..self.ready.len() {
                if let Some(key) = self.ready.pop_front() {
                    self.run_turn(key);
                    since_poll += 1;
                }
            }
            if since_poll >= POLL_EVERY {
                self.poll(Some(Duration::ZERO));
                since_poll = 0;
            }
        }
    }

    fn slot(&mut self, key: usize) -> Option<&mut Slot> {
        self.slots.get_mut(key).and_then(Option::as_mut)
    }

    fn enqueue(&mut self, key: usize) {
        if let Some(slot) = self.slot(key).filter(|slot| !slot.queued) {
            slot.queued = true;
            self.ready.push_back(key);
        }
    }

    /// Takes what other threads handed over: new sockets, fired wakers,
    /// finished connection attempts.
    fn take_inbound(&mut self) {
        if !self.wakeups.pending.swap(false, Ordering::AcqRel) {
            return;
        }
        let Inbound {
            woken,
            connected,
            launched,
        } = std::mem::take(&mut *self.wakeups.inbound());
        for socket in launched {
            self.insert(socket);
        }
        for key in woken {
            if let Some(slot) = self.slot(key) {
                // Before its turn: a wake during the turn queues it again.
                slot.waker.queued.store(false, Ordering::Release);
                self.enqueue(key);
            }
        }
        for Connected {
            key,
            attempt,
            opened,
        } in connected
        {
            if let Some(slot) = self.slot(key) {
                slot.socket.connected(attempt, opened);
                self.enqueue(key);
            }
        }
    }

    fn insert(&mut self, mut socket: Boxed) {
        let key = self.free.pop().unwrap_or(self.slots.len());
        let waker = Arc::new(SocketWaker {
            key,
            queued: AtomicBool::new(false),
            wakeups: self.wakeups.clone(),
        });
        socket.attach(key, Waker::from(waker.clone()));
        let slot = Slot {
            socket,
            waker,
            queued: false,
            timer: None,
        };
        match self.slots.get_mut(key) {
            Some(free) => *free = Some(slot),
            None => self.slots.push(Some(slot)),
        }
        self.live += 1;
        self.enqueue(key);
    }

    fn remove(&mut self, key: usize) -> Option<Slot> {
        let slot = self.slots.get_mut(key)?.take()?;
        self.free.push(key);
        self.live -= 1;
        Some(slot)
    }

    fn expire_timers(&mut self, now: Instant) {
        while let Some(&Reverse((at, key))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            // Only the entry the socket still wants; others are left over.
            if let Some(slot) = self.slot(key).filter(|slot| slot.timer == Some(at)) {
                slot.timer = None;
                self.enqueue(key);
            }
        }
    }

    fn run_turn(&mut self, key: usize) {
        let Some(slot) = self.slot(key) else {
            return;
        };
        slot.queued = false;
        let turn = panic::catch_unwind(AssertUnwindSafe(|| slot.socket.turn()));
        match turn {
            Ok(Turn::Again) => self.enqueue(key),
            Ok(Turn::Idle(Some(at))) => {
                if slot.timer.is_none_or(|timer| at < timer) {
                    slot.timer = Some(at);
                    self.timers.push(Reverse((at, key)));
                }
            }
            Ok(Turn::Idle(None)) => {}
            Ok(Turn::Stopped(stop)) => {
                if let Some(slot) = self.remove(key) {
                    let ended = panic::catch_unwind(AssertUnwindSafe(|| slot.socket.end(stop)));
                    if ended.is_err() {
                        error!("a handler panicked while its socket ended");
                    }
                }
            }
            Err(_) => {
                error!("a handler panicked: its socket stopped, the others go on");
                if let Some(slot) = self.remove(key) {
                    // Its handles see the socket gone.
                    let dropped = panic::catch_unwind(AssertUnwindSafe(|| drop(slot)));
                    if dropped.is_err() {
                        error!("a handler panicked again while its socket was dropped");
                    }
                }
            }
        }
    }

    /// Waits for readiness up to `timeout` and queues the sockets it
    /// concerns.
    fn poll(&mut self, timeout: Option<Duration>) {
        self.events.clear();
        if let Err(e) = self.wakeups.poller.wait(&mut self.events, timeout) {
            if e.kind() != io::ErrorKind::Interrupted {
                self.fail_all(&e);
            }
            return;
        }
        for event in self.events.iter() {
            if let Some(Some(slot)) = self.slots.get_mut(event.key) {
                slot.socket.ready(event.readable, event.writable);
                if !slot.queued {
                    slot.queued = true;
                    self.ready.push_back(event.key);
                }
            }
        }
    }

    /// The poller failed: no socket can wait for anything any more.
    fn fail_all(&mut self, e: &io::Error) {
        warn!(error = %e, "waiting for the sockets failed: stopping them all");
        for key in 0..self.slots.len() {
            if let Some(slot) = self.remove(key) {
                let stop = Stopped {
                    reason: format!("waiting for the socket failed: {e}"),
                };
                let _ = panic::catch_unwind(AssertUnwindSafe(|| slot.socket.end((stop, None))));
            }
        }
        self.ready.clear();
        self.timers.clear();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use std::collections::VecDeque;
    use std::sync::Mutex;
    use std::sync::atomic::AtomicUsize;
    use std::thread;

    use super::*;

    /// What a fake socket does on each turn.
    type Script = Box<dyn FnMut(&Waker) -> Turn + Send>;

    /// A socket that follows a script, and tells when it ended or was
    /// dropped.
    struct Fake {
        script: Script,
        waker: Option<Waker>,
        ended: Arc<AtomicBool>,
        dropped: Arc<AtomicBool>,
    }

    impl Fake {
        fn boxed(script: impl FnMut(&Waker) -> Turn + Send + 'static) -> (Boxed, Flags) {
            let flags = Flags::default();
            let fake = Fake {
                script: Box::new(script),
                waker: None,
                ended: flags.ended.clone(),
                dropped: flags.dropped.clone(),
            };
            (Box::new(fake), flags)
        }
    }

    #[derive(Default)]
    struct Flags {
        ended: Arc<AtomicBool>,
        dropped: Arc<AtomicBool>,
    }

    impl Drop for Fake {
        fn drop(&mut self) {
            self.dropped.store(true, Ordering::SeqCst);
        }
    }

    impl Drive for Fake {
        fn attach(&mut self, _key: usize, waker: Waker) {
            self.waker = Some(waker);
        }

        fn turn(&mut self) -> Turn {
            let waker = self.waker.clone().unwrap();
            (self.script)(&waker)
        }

        fn ready(&mut self, _readable: bool, _writable: bool) {}

        fn connected(&mut self, _attempt: u64, _opened: Result<Ws, ConnectFailure>) {}

        fn end(self: Box<Self>, (stopped, _): phoenix_proto::api::Stop) -> Stopped {
            self.ended.store(true, Ordering::SeqCst);
            stopped
        }
    }

    fn stop() -> Turn {
        Turn::Stopped((
            Stopped {
                reason: "done".into(),
            },
            None,
        ))
    }

    fn run(sockets: Vec<Boxed>) {
        let wakeups = Arc::new(Wakeups::new().unwrap());
        for socket in sockets {
            wakeups.launch(socket);
        }
        Reactor::new(wakeups.clone()).run(|| wakeups.no_launches());
    }

    /// A socket that waits for each of `deadlines` in turn, records when
    /// each was seen passed, and stops after the last.
    fn sleeper(deadlines: Vec<Instant>, seen: Arc<Mutex<Vec<(Instant, Instant)>>>) -> Script {
        let mut left = VecDeque::from(deadlines);
        Box::new(move |_| {
            let now = Instant::now();
            while let Some(&next) = left.front() {
                if next > now {
                    return Turn::Idle(Some(next));
                }
                seen.lock().unwrap().push((next, now));
                left.pop_front();
            }
            stop()
        })
    }

    #[test]
    fn every_deadline_is_kept_earlier_and_later_ones_alike() {
        let start = Instant::now();
        let ms = |n| start + Duration::from_millis(n);
        // Later than the pending entry, then earlier, then far later.
        let plans = [
            vec![ms(30), ms(60), ms(61), ms(150)],
            vec![ms(50), ms(10), ms(20)],
            vec![ms(5), ms(100)],
        ];
        let mut sockets = Vec::new();
        let mut records = Vec::new();
        let mut flags = Vec::new();
        for plan in &plans {
            let seen = Arc::new(Mutex::new(Vec::new()));
            let (socket, flag) = Fake::boxed(sleeper(plan.clone(), seen.clone()));
            sockets.push(socket);
            records.push(seen);
            flags.push(flag);
        }
        run(sockets);
        for ((plan, seen), flag) in plans.iter().zip(&records).zip(&flags) {
            let seen = seen.lock().unwrap();
            let wanted: Vec<Instant> = seen.iter().map(|(at, _)| *at).collect();
            assert_eq!(&wanted, plan, "every deadline, in order");
            for (at, when) in seen.iter() {
                assert!(when >= at, "a deadline was taken before it passed");
            }
            assert!(flag.ended.load(Ordering::SeqCst));
        }
    }

    #[test]
    fn a_busy_socket_does_not_starve_a_woken_one() {
        let woken_turns = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(AtomicBool::new(false));
        let busy_turns = Arc::new(AtomicUsize::new(0));
        // Never idle until the other socket has run again; gives up after
        // a million turns, which the test then reports.
        let (busy, busy_flags) = Fake::boxed({
            let (done, busy_turns) = (done.clone(), busy_turns.clone());
            move |_| {
                let turns = busy_turns.fetch_add(1, Ordering::SeqCst);
                if done.load(Ordering::SeqCst) || turns > 1_000_000 {
                    stop()
                } else {
                    Turn::Again
                }
            }
        });
        // Hands its waker to another thread, which wakes it; stops the
        // busy one on the turn that wake gives it.
        let (waiter, _) = Fake::boxed({
            let (done, woken_turns) = (done.clone(), woken_turns.clone());
            move |waker| match woken_turns.fetch_add(1, Ordering::SeqCst) {
                0 => {
                    let waker = waker.clone();
                    thread::spawn(move || {
                        thread::sleep(Duration::from_millis(20));
                        waker.wake();
                    });
                    Turn::Idle(None)
                }
                _ => {
                    done.store(true, Ordering::SeqCst);
                    stop()
                }
            }
        });
        run(vec![busy, waiter]);
        assert!(busy_flags.ended.load(Ordering::SeqCst));
        assert!(
            busy_turns.load(Ordering::SeqCst) <= 1_000_000,
            "the woken socket never got its turn"
        );
        assert_eq!(woken_turns.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_panicking_socket_ends_alone() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let soon = Instant::now() + Duration::from_millis(30);
        let (other, other_flags) = Fake::boxed(sleeper(vec![soon], seen.clone()));
        let (panicker, panicker_flags) = Fake::boxed(|_| panic!("a handler's bug"));
        run(vec![panicker, other]);
        assert!(panicker_flags.dropped.load(Ordering::SeqCst));
        assert!(!panicker_flags.ended.load(Ordering::SeqCst));
        assert!(other_flags.ended.load(Ordering::SeqCst));
        assert_eq!(seen.lock().unwrap().len(), 1);
    }

    #[test]
    fn a_wake_during_a_turn_gives_another_turn() {
        let turns = Arc::new(AtomicUsize::new(0));
        let (socket, flags) = Fake::boxed({
            let turns = turns.clone();
            move |waker| {
                // Wakes itself on its first two turns, then stops.
                match turns.fetch_add(1, Ordering::SeqCst) {
                    0 | 1 => {
                        waker.wake_by_ref();
                        Turn::Idle(None)
                    }
                    _ => stop(),
                }
            }
        });
        run(vec![socket]);
        assert_eq!(turns.load(Ordering::SeqCst), 3);
        assert!(flags.ended.load(Ordering::SeqCst));
    }
}
