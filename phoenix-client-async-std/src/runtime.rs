//! The async-io backend of the shared driver: async-io's timers, async-net's
//! TCP, and a spawn function (the global executor unless you give another).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use phoenix_proto::api::{BoxIo, ConnectFuture, Runtime, Task, Timer};

type Spawn = Arc<dyn Fn(Task) + Send + Sync>;

/// The async-io world (async-std, smol), as the shared driver sees it:
/// [`async_io::Timer`]s, [`async_net::TcpStream`]s, and an executor to run
/// each socket's loop on.
///
/// [`AsyncIo::default()`] (what [`Client::connect`](crate::Client::connect)
/// and [`Builder::new`](crate::Builder::new) use) spawns on the
/// `async-global-executor` crate's executor, the one `async_std::task::spawn`
/// uses: it runs on threads of its own, so sockets work whatever the
/// application blocks on (`async_std::task::block_on`, `smol::block_on`,
/// `futures_lite::future::block_on`) and keep working between its calls.
/// [`AsyncIo::with_spawner`] spawns on another executor, e.g. smol's.
#[derive(Clone, Default)]
pub struct AsyncIo {
    spawner: Option<Spawn>,
}

impl AsyncIo {
    /// Spawns each socket's loop (and each polite close) with `spawn`, which
    /// must run the [`Task`] to completion in the background:
    ///
    /// ```no_run
    /// use phoenix_client_async_std::{AsyncIo, Builder};
    ///
    /// let on_smol = AsyncIo::with_spawner(|task| smol::spawn(task).detach());
    /// let client = Builder::with_runtime("ws://localhost:4000/socket", on_smol).connect();
    /// ```
    ///
    /// A task must not be dropped unfinished: dropping a socket's loop
    /// stops that socket (its handles then report
    /// [`SocketGone`](crate::SocketGone)).
    pub fn with_spawner(spawn: impl Fn(Task) + Send + Sync + 'static) -> Self {
        AsyncIo {
            spawner: Some(Arc::new(spawn)),
        }
    }
}

impl fmt::Debug for AsyncIo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let executor = match self.spawner {
            Some(_) => "custom spawner",
            None => "async-global-executor",
        };
        f.debug_tuple("AsyncIo").field(&executor).finish()
    }
}

#[derive(Debug)]
struct At(async_io::Timer);

impl Timer for At {
    fn reset(mut self: Pin<&mut Self>, at: Instant) {
        self.0.set_at(at);
    }

    fn poll_fire(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx).map(drop)
    }
}

impl Runtime for AsyncIo {
    fn timer(&self, at: Instant) -> Pin<Box<dyn Timer>> {
        Box::pin(At(async_io::Timer::at(at)))
    }

    fn spawn(&self, task: Task) {
        match &self.spawner {
            Some(spawn) => spawn(task),
            None => async_global_executor::spawn(task).detach(),
        }
    }

    fn connect_tcp(&self, host: String, port: u16) -> ConnectFuture {
        Box::pin(async move {
            let tcp = async_net::TcpStream::connect((host.as_str(), port)).await?;
            tcp.set_nodelay(true)?;
            Ok(Box::new(tcp) as BoxIo)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_timer_moved_earlier_fires_then() {
        let started = Instant::now();
        let mut timer = AsyncIo::default().timer(started + Duration::from_secs(60));
        timer.as_mut().reset(started + Duration::from_millis(20));
        async_io::block_on(std::future::poll_fn(|cx| timer.as_mut().poll_fire(cx)));
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
