//! The shared reactor thread against what could hold it up: a connection
//! attempt that never gets an answer, and a handler that panics.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use phoenix_client_blocking::{
    Action, Backoff, Builder, BuilderExt, Client, Context, Handler, Payload, ReplyTo, Status,
};
use phoenix_test_server::{ServerConfig, TestServer};
use serde_json::{Value, json};

fn server() -> TestServer {
    TestServer::start_blocking(ServerConfig::default()).unwrap()
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(10));
    }
}

/// A socket on `server` that joins and makes 50 push round trips, each
/// answered; returned connected.
fn fifty_round_trips(server: &TestServer) -> Client {
    let busy = Client::from(
        Builder::new(server.socket_url())
            .timeout(Duration::from_secs(5))
            .connect(),
    );
    let echo = busy.channel("echo:reactor", &json!({}));
    echo.join().unwrap();
    for i in 0..50 {
        let reply: Value = echo.push("echo", &json!({ "i": i })).unwrap();
        assert_eq!(reply, json!({ "i": i }));
    }
    busy
}

/// A server that accepts TCP connections and never says a word; returns
/// its address and how many it accepted.
fn silent_server() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
            count.fetch_add(1, Ordering::SeqCst);
        }
    });
    (address, accepted)
}

#[test]
fn a_connect_that_never_gets_an_answer_holds_up_no_other_socket() {
    let (silent, accepted) = silent_server();
    let stuck = Client::from(
        Builder::new(format!("ws://{silent}/socket"))
            .connect_timeout(Duration::from_secs(60))
            .connect(),
    );
    // Its attempt now waits for the upgrade's answer on an I/O thread.
    wait_until("the silent server's accept", || {
        accepted.load(Ordering::SeqCst) >= 1
    });

    let server = server();
    let busy = fifty_round_trips(&server);
    // All of that while the other socket was still waiting to connect.
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
    assert_ne!(stuck.status().current(), Status::Connected);

    // Stopping it does not wait for the attempt either.
    let (done, stopped) = mpsc::channel();
    thread::spawn(move || {
        stuck.shutdown();
        done.send(()).unwrap();
    });
    stopped
        .recv_timeout(Duration::from_secs(20))
        .expect("shutdown waited for the connection attempt");
    busy.shutdown();
}

#[test]
fn a_dozen_connects_that_never_get_an_answer_hold_up_no_other_socket() {
    let (silent, accepted) = silent_server();
    // More stuck attempts than the I/O threads that stay around.
    let stuck: Vec<Client> = (0..12)
        .map(|_| {
            Client::from(
                Builder::new(format!("ws://{silent}/socket"))
                    .connect_timeout(Duration::from_secs(60))
                    .connect(),
            )
        })
        .collect();
    // Eight of them hold the threads that stay; the pool starts more for
    // the other four once they have waited, with nothing else handed over.
    wait_until("every stuck attempt's accept", || {
        accepted.load(Ordering::SeqCst) >= 12
    });
    let server = server();
    let busy = fifty_round_trips(&server);
    assert!(
        stuck
            .iter()
            .all(|client| client.status().current() != Status::Connected)
    );
    busy.shutdown();
    for client in &stuck {
        client.shutdown();
    }
}

#[test]
fn a_peer_that_stops_reading_holds_up_no_other_socket() {
    let (stuck_server, busy_server) = (server(), server());
    let stuck = Client::from(
        Builder::new(stuck_server.socket_url())
            .heartbeat_interval(None)
            .write_timeout(Duration::from_secs(60))
            .connect(),
    );
    let stuck_echo = stuck.channel("echo:stuck", &json!({}));
    stuck_echo.join().unwrap();
    assert_eq!(stuck_server.half_open_all(), 1);
    // 16 MiB the peer never reads: more than the kernel's buffers hold, so
    // the socket's writes wait for room it will not get.
    let chunk = vec![7u8; 64 << 10];
    for _ in 0..256 {
        stuck_echo
            .cast("binary", Payload::binary(chunk.clone()))
            .unwrap();
    }

    let busy = fifty_round_trips(&busy_server);
    // The stuck socket still waits for its write, connected.
    assert_eq!(stuck.status().current(), Status::Connected);
    busy.shutdown();
    stuck.shutdown();
}

/// Answers `false` with "alive"; panics on `true`.
struct Fragile;

impl Handler for Fragile {
    type Info = ();
    type Call = bool;
    type Reply = &'static str;

    fn handle_call(
        &mut self,
        _ctx: &mut Context<'_>,
        explode: bool,
        reply: ReplyTo<&'static str>,
    ) -> Action {
        assert!(!explode, "the handler's own bug");
        reply.send("alive");
        Action::Continue
    }
}

#[test]
fn a_handler_that_panics_ends_only_its_own_socket() {
    let server = server();
    let builder = || Builder::new(server.socket_url()).reconnect(Backoff::from_millis(&[20, 50]));
    let fragile = builder().runner(Fragile).spawn().unwrap();
    let sturdy = builder().runner(Fragile).spawn().unwrap();
    assert_eq!(fragile.call(false).unwrap(), "alive");
    assert!(
        fragile.call(true).is_err(),
        "the call to the panicking socket"
    );
    // Its handles see it gone; the other socket, on the same thread, goes on.
    assert!(fragile.call(false).is_err());
    assert_eq!(sturdy.call(false).unwrap(), "alive");
    // And so does a socket started afterwards.
    let later = builder().runner(Fragile).spawn().unwrap();
    assert_eq!(later.call(false).unwrap(), "alive");
    assert_eq!(sturdy.stop().reason, "stopped by the application");
    later.stop();
}
