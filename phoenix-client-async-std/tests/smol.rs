//! The driver under smol: every scenario of `common` in `smol::block_on`,
//! with sockets spawned on smol's executor through `AsyncIo::with_spawner`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};

use phoenix_client_async_std::{AsyncIo, Builder};
use serde_json::json;

fn on_smol() -> AsyncIo {
    AsyncIo::with_spawner(|task| smol::spawn(task).detach())
}

every_scenario!(smol::block_on, on_smol());

#[test]
fn handles_are_send_sync_and_clone() {
    common::handles_are_send_sync_and_clone();
}

#[test]
fn every_socket_task_runs_on_smol_s_executor() {
    let server = common::start_server();
    let threads = Arc::new(Mutex::new(Vec::new()));
    let seen = threads.clone();
    let runtime = AsyncIo::with_spawner(move |task| {
        let seen = seen.clone();
        smol::spawn(async move {
            let name = std::thread::current().name().map(str::to_owned);
            seen.lock().unwrap().push(name.unwrap_or_default());
            task.await;
        })
        .detach();
    });
    smol::block_on(async {
        let client = Builder::with_runtime(server.socket_url(), runtime).connect();
        let room = client.channel("echo:smol", &json!({}));
        common::within("join", room.join()).await.unwrap();
        client.shutdown().await;
    });
    let threads = threads.lock().unwrap().clone();
    assert!(!threads.is_empty(), "the spawner was not used");
    assert!(
        threads.iter().all(|name| name.starts_with("smol")),
        "tasks ran on {threads:?}"
    );
}
