//! The driver under async-std: every scenario of `common` in
//! `async_std::task::block_on`, with sockets on the default executor (the
//! global executor async-std's own `task::spawn` uses).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use phoenix_client_async_std::{AsyncIo, ChannelEvent, Client};
use serde_json::{Value, json};

every_scenario!(async_std::task::block_on, AsyncIo::default());

#[test]
fn handles_are_send_sync_and_clone() {
    common::handles_are_send_sync_and_clone();
}

#[test]
fn a_socket_keeps_running_while_nothing_polls_its_handles() {
    let server = common::start_server();
    let client = Client::connect(server.socket_url());
    let room = client.channel("echo:idle", &json!({}));
    let mut events = room.events().unwrap();
    async_std::task::block_on(common::within("join", room.join())).unwrap();
    // No executor runs on this thread from here on, yet the socket reads
    // the broadcast on its own threads and queues it.
    server.broadcast("echo:idle", "news", json!({"n": 1}));
    let deadline = Instant::now() + common::PROMPT;
    let event = loop {
        match events.try_recv() {
            Ok(event) => break event,
            Err(std::sync::mpsc::TryRecvError::Empty) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(e) => panic!("no event: {e:?}"),
        }
    };
    assert!(
        matches!(&event, ChannelEvent::Message { event, .. } if event == "news"),
        "{event:?}"
    );
    // Any block_on will do for the handles: here futures-lite's.
    let reply: Value =
        futures_lite::future::block_on(room.push("echo", &json!({"still": "here"}))).unwrap();
    assert_eq!(reply, json!({"still": "here"}));
    futures_lite::future::block_on(client.shutdown());
}
