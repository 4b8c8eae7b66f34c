//! The driver with its sockets on an executor that the waiting thread runs
//! (the crate docs' "Latency" layout): every scenario of `common` inside
//! `smol::block_on(executor.run(..))`, each test with an executor of its
//! own, and a check that the socket's task runs on that thread.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::thread::{self, ThreadId};

use phoenix_client_async_std::{AsyncIo, Builder};
use serde_json::{Value, json};
use smol::Executor;

thread_local! {
    /// This test thread's executor. Leaked so that the spawner, which must
    /// be `'static`, can hold it: one small executor per test thread.
    static HERE: &'static Executor<'static> = Box::leak(Box::new(Executor::new()));
}

fn here() -> &'static Executor<'static> {
    HERE.with(|executor| *executor)
}

/// Runs `future` in this thread's executor, which also runs the sockets.
fn block_on_here<T>(future: impl Future<Output = T>) -> T {
    smol::block_on(here().run(future))
}

/// Sockets spawned on this thread's executor.
fn on_this_thread() -> AsyncIo {
    let executor = here();
    AsyncIo::with_spawner(move |task| executor.spawn(task).detach())
}

every_scenario!(block_on_here, on_this_thread());

#[test]
fn the_socket_task_runs_on_the_thread_that_waits() {
    let server = common::start_server();
    let executor = here();
    let ran_on: Arc<Mutex<Vec<ThreadId>>> = Arc::default();
    let seen = ran_on.clone();
    let runtime = AsyncIo::with_spawner(move |task| {
        let seen = seen.clone();
        executor
            .spawn(async move {
                seen.lock().unwrap().push(thread::current().id());
                task.await;
            })
            .detach();
    });
    let reply: Value = block_on_here(async {
        let client = Builder::with_runtime(server.socket_url(), runtime).connect();
        let room = client.channel("echo:here", &json!({}));
        common::within("join", room.join()).await.unwrap();
        let reply = common::within("push", room.push("echo", &json!({"n": 7}))).await;
        client.shutdown().await;
        reply.unwrap()
    });
    assert_eq!(reply, json!({"n": 7}));
    let ran_on = ran_on.lock().unwrap().clone();
    assert!(!ran_on.is_empty(), "the spawner was not used");
    assert!(
        ran_on.iter().all(|id| *id == thread::current().id()),
        "socket tasks ran on {ran_on:?}, not on the test's thread {:?}",
        thread::current().id()
    );
}
