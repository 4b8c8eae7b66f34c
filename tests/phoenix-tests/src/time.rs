//! Runtime-neutral time: sleeping and timeouts that work under any
//! executor (tokio, async-std, smol, a plain `block_on`).
//!
//! Scenarios and shared helpers use these and [`std::time::Instant`], never
//! a runtime's own clock, so that a scenario body assumes nothing about the
//! runtime of the client under test. The timers are [`async_io::Timer`]s:
//! async-io drives them from its own thread when nothing else does, and wakes
//! whichever executor polls them. Adapters may use them too (or their
//! runtime's own timers: that is their business).

use std::future::Future;
use std::pin::pin;
use std::time::Duration;

use futures_util::future::{Either, select};

/// A [`timeout`] ran out first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

impl std::fmt::Display for Elapsed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("timed out")
    }
}

impl std::error::Error for Elapsed {}

/// Waits for `duration`.
pub async fn sleep(duration: Duration) {
    async_io::Timer::after(duration).await;
}

/// Runs `future` for at most `duration`. When both are ready at once the
/// future's output wins.
///
/// # Errors
/// [`Elapsed`] when `duration` passed first; `future` is dropped then.
pub async fn timeout<F: Future>(duration: Duration, future: F) -> Result<F::Output, Elapsed> {
    let future = pin!(future);
    match select(future, async_io::Timer::after(duration)).await {
        Either::Left((output, _)) => Ok(output),
        Either::Right(_) => Err(Elapsed),
    }
}
