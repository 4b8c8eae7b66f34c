//! `bench-async-std`: phoenix-bench's client process for
//! `phoenix-client-async-std`. The sockets run on the global executor (the
//! one behind `async_std::task::spawn`); the workload runs in
//! `async_global_executor::block_on` on the main thread, as an async-std
//! application's `main` does. `--mode async` (the default) uses the async
//! API, `--mode callback` the callback model. Not among the full run's
//! clients: `--mode async-spawned` runs the async API's workload in a task
//! of its own on the global executor (BENCHMARKS.md item 30), and
//! `--mode callback-local`, `async-local` and `async-local-spawned` run the
//! sockets on an executor that the main thread runs (`Executor::run` in its
//! `block_on`), the layout of the crate docs' "Latency" section, with the
//! async API's workload in that `run` or spawned on the same executor (item
//! 31).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use phoenix_bench::ours;
use phoenix_client_async_std::AsyncIo;
use phoenix_proto::api::{ConnectFuture, Runtime, Task, Timer};

/// The executor of the `*-local` modes, run by the main thread's
/// `block_on`.
static LOCAL: async_executor::Executor<'static> = async_executor::Executor::new();

/// [`AsyncIo`] spawning every socket's task on [`LOCAL`] (the benchmark's
/// workloads build their runtime with `Default`, so the executor is a
/// static rather than a value given to `AsyncIo::with_spawner`).
#[derive(Debug, Clone, Default)]
struct Local(AsyncIo);

impl Runtime for Local {
    fn timer(&self, at: std::time::Instant) -> Pin<Box<dyn Timer>> {
        self.0.timer(at)
    }

    fn spawn(&self, task: Task) {
        LOCAL.spawn(task).detach();
    }

    fn connect_tcp(&self, host: String, port: u16) -> ConnectFuture {
        self.0.connect_tcp(host, port)
    }
}

fn sleep(duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        async_io::Timer::after(duration).await;
    })
}

fn main() {
    phoenix_bench_probe::main("bench-async-std", |args| {
        async_global_executor::block_on(async {
            match args.mode.as_deref() {
                None | Some("async") => ours::async_api::<AsyncIo>(&args, sleep).await,
                Some("async-spawned") => {
                    async_global_executor::spawn(ours::owned_async_api::<AsyncIo>(&args, sleep))
                        .await
                }
                Some("callback") => ours::callback::<AsyncIo>(&args, sleep).await,
                Some("async-local") => LOCAL.run(ours::async_api::<Local>(&args, sleep)).await,
                Some("async-local-spawned") => {
                    LOCAL
                        .run(LOCAL.spawn(ours::owned_async_api::<Local>(&args, sleep)))
                        .await
                }
                Some("callback-local") => LOCAL.run(ours::callback::<Local>(&args, sleep)).await,
                Some(other) => Err(format!(
                    "unknown mode {other} (async, async-spawned, callback, callback-local, \
                     async-local or async-local-spawned)"
                )
                .into()),
            }
        })
    })
}
