//! `bench-tokio`: phoenix-bench's client process for `phoenix-client-tokio`
//! on a current-thread runtime; `--mode async` (the default) uses the async
//! API from the `block_on` future, as a `main` would, `--mode callback` the
//! callback model. `--mode async-spawned` runs the async API's workload in a
//! task of its own (`tokio::spawn`), which a reply wakes through the run
//! queue (BENCHMARKS.md item 30; not one of the full run's clients). See
//! `phoenix_bench_probe` for the command line and the report,
//! `phoenix_bench::ours` for the workloads.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use phoenix_bench::ours;
use phoenix_client_tokio::Tokio;

fn sleep(duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(tokio::time::sleep(duration))
}

fn main() {
    phoenix_bench_probe::main("bench-tokio", |args| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async {
            match args.mode.as_deref() {
                None | Some("async") => ours::async_api::<Tokio>(&args, sleep).await,
                Some("async-spawned") => {
                    match tokio::spawn(ours::owned_async_api::<Tokio>(&args, sleep)).await {
                        Ok(report) => report,
                        Err(e) => Err(format!("the workload's task failed: {e}").into()),
                    }
                }
                Some("callback") => ours::callback::<Tokio>(&args, sleep).await,
                Some(other) => {
                    Err(format!("unknown mode {other} (async, async-spawned or callback)").into())
                }
            }
        })
    })
}
