//! What an async runtime provides to the shared driver: timers, spawning,
//! TCP connections and the clock. Each async driver crate implements
//! [`Runtime`] in a few dozen lines; everything else is shared.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant, SystemTime};

use super::connect::{BoxIo, ConnectFuture};
use super::tls::TlsSettings;
use crate::client::ConnectFailure;

/// The future of a TLS handshake.
pub type TlsFuture = Pin<Box<dyn Future<Output = Result<BoxIo, ConnectFailure>> + Send>>;

/// A timer that fires once at an instant and can be moved to another.
pub trait Timer: Send + fmt::Debug {
    /// Moves the timer to fire at `at` (earlier or later).
    fn reset(self: Pin<&mut Self>, at: Instant);
    /// Ready once the instant has passed.
    fn poll_fire(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()>;
}

/// A boxed future the runtime runs to completion.
pub type Task = Pin<Box<dyn Future<Output = ()> + Send>>;

/// An async runtime, as the shared driver needs it.
pub trait Runtime: Clone + Send + Sync + fmt::Debug + 'static {
    /// A timer firing at `at`.
    fn timer(&self, at: Instant) -> Pin<Box<dyn Timer>>;
    /// Runs `task` in the background.
    fn spawn(&self, task: Task);
    /// Opens a TCP connection to `host:port` (with `TCP_NODELAY`).
    fn connect_tcp(&self, host: String, port: u16) -> ConnectFuture;
    /// Runs a TLS handshake for `host` over `io` with the platform TLS
    /// library, for sockets built with `native_tls()`, as `tls` says: the
    /// [added roots](TlsSettings::added_roots) besides the system's,
    /// [no verification](TlsSettings::accepts_invalid_certs) only when asked
    /// by that name, and the [client certificate](TlsSettings::client_identity_pem)
    /// if any. The default says it is not available.
    fn native_tls(&self, host: String, tls: &TlsSettings, io: BoxIo) -> TlsFuture {
        let _ = (host, tls, io);
        Box::pin(async {
            Err(ConnectFailure::new(
                "native TLS was requested but this driver was built without it",
            ))
        })
    }
    /// The monotonic clock the core is driven by.
    fn now(&self) -> Instant {
        Instant::now()
    }
    /// The wall clock, for `Retry-After` dates.
    fn wall_clock(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// Runs `future` for at most `limit`; `None` when time ran out first.
///
/// The timer is made only when the future has to wait: most writes go into
/// the socket's buffer at once, and a timer per write (a clock read, an
/// allocation, a timer registration) was a measurable part of a push.
pub(crate) fn timeout<R: Runtime, F: Future>(
    runtime: &R,
    limit: Duration,
    future: F,
) -> Timeout<'_, R, F> {
    Timeout {
        runtime,
        limit,
        timer: None,
        future,
    }
}

pin_project_lite::pin_project! {
    /// The future of [`timeout`]: a struct rather than an `async fn`, which
    /// would hold `future` twice (as its argument and pinned in its body),
    /// and inside every socket's loop future.
    pub(crate) struct Timeout<'a, R, F> {
        runtime: &'a R,
        limit: Duration,
        timer: Option<Pin<Box<dyn Timer>>>,
        #[pin]
        future: F,
    }
}

impl<R: Runtime, F: Future> Future for Timeout<'_, R, F> {
    type Output = Option<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(output) = this.future.poll(cx) {
            return Poll::Ready(Some(output));
        }
        let (runtime, limit) = (*this.runtime, *this.limit);
        let timer = this
            .timer
            .get_or_insert_with(|| runtime.timer(runtime.now() + limit));
        timer.as_mut().poll_fire(cx).map(|()| None)
    }
}
