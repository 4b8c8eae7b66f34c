//! Many sockets, one thread: every socket started without a thread of its
//! own runs on the one `phoenix-socket` reactor thread, which ends with
//! the last of them and comes back with the next. Alone in its test
//! binary, since it counts the process's threads.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::thread;
use std::time::{Duration, Instant};

use phoenix_client_blocking::{Builder, Client, Payload};
use phoenix_test_server::{ServerConfig, TestServer};
use serde_json::{Value, json};

/// How many of this process's threads have this name.
fn threads_named(name: &str) -> usize {
    fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.trim_end() == name)
        .count()
}

fn client(server: &TestServer) -> Client {
    Client::from(
        Builder::new(server.socket_url())
            .timeout(Duration::from_secs(10))
            .connect(),
    )
}

#[test]
fn two_hundred_sockets_share_one_thread_which_ends_with_the_last() {
    let server = TestServer::start_blocking(ServerConfig::default()).unwrap();
    let clients: Vec<Client> = (0..200).map(|_| client(&server)).collect();
    let channels: Vec<_> = clients
        .iter()
        .enumerate()
        .map(|(i, client)| client.channel(format!("echo:{i}"), &json!({})))
        .collect();
    for channel in &channels {
        channel.join().unwrap();
    }
    let pending: Vec<_> = channels
        .iter()
        .enumerate()
        .map(|(i, channel)| {
            let payload = Payload::json(&json!({ "i": i })).unwrap();
            channel.start_push("echo", payload, None)
        })
        .collect();
    for (i, push) in pending.into_iter().enumerate() {
        let reply = push.wait().unwrap();
        assert_eq!(reply.status, "ok");
        let reply: Value = reply.response.deserialize().unwrap();
        assert_eq!(reply, json!({ "i": i }));
    }
    assert_eq!(server.stats().connections_open, 200);
    assert_eq!(threads_named("phoenix-socket"), 1);
    // The I/O threads beyond the 8 that stay end once the connects are done.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let io_threads = threads_named("phoenix-io");
        assert!(io_threads <= 64, "{io_threads} I/O threads");
        if (1..=8).contains(&io_threads) {
            break;
        }
        assert!(Instant::now() < deadline, "{io_threads} I/O threads stayed");
        thread::sleep(Duration::from_millis(10));
    }

    for client in &clients {
        client.shutdown();
    }
    drop((channels, clients));
    let deadline = Instant::now() + Duration::from_secs(10);
    while threads_named("phoenix-socket") > 0 {
        assert!(
            Instant::now() < deadline,
            "the reactor thread outlived its sockets"
        );
        thread::sleep(Duration::from_millis(10));
    }

    // The next socket starts a new one.
    let again = client(&server);
    let echo = again.channel("echo:again", &json!({}));
    echo.join().unwrap();
    let reply: Value = echo.push("echo", &json!({"back": true})).unwrap();
    assert_eq!(reply, json!({"back": true}));
    assert_eq!(threads_named("phoenix-socket"), 1);
    again.shutdown();
}
