//! `bench-async-std`: phoenix-bench's client process for
//! `phoenix-client-async-std`. The sockets run on the global executor (the
//! one behind `async_std::task::spawn`); the workload runs in
//! `async_global_executor::block_on` on the main thread, as an async-std
//! application's `main` does. `--mode async` (the default) uses the async
//! API, `--mode callback` the callback model. `--mode async-spawned` runs
//! the async API's workload in a task of its own on the global executor
//! (BENCHMARKS.md item 30; not one of the full run's clients).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use phoenix_bench::ours;
use phoenix_client_async_std::AsyncIo;

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
                    let args = args.clone();
                    let task = async_global_executor::spawn(async move {
                        let report = ours::async_api::<AsyncIo>(&args, sleep).await;
                        report.map_err(|e| e.to_string())
                    });
                    task.await.map_err(Into::into)
                }
                Some("callback") => ours::callback::<AsyncIo>(&args, sleep).await,
                Some(other) => {
                    Err(format!("unknown mode {other} (async, async-spawned or callback)").into())
                }
            }
        })
    })
}
