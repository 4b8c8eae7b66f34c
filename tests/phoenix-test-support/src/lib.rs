//! What the driver crates' tests share, written once: no async runtime,
//! so the tokio, async-std / smol and blocking drivers' tests all use it
//! as a dev-dependency.
//!
//! - [`logs`]: capturing what a test logs, and checking that no secret
//!   (nor a piece of a private key) shows in it.
//! - [`handlers`]: handlers of the callback model that several drivers'
//!   tests run.
//! - [`wait_until`]: polling a condition from a plain thread.

use std::time::{Duration, Instant};

pub mod handlers;
pub mod logs;

/// Waits at most 5 s for `done` to hold, checking every 10 ms; panics
/// naming `what` if it does not.
pub fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within 5 s");
        std::thread::sleep(Duration::from_millis(10));
    }
}
