//! Races and edge cases of the async API and the shared driver on tokio:
//! a disconnect while connecting, a join that succeeds after timing out, a
//! dropped join future, a peer that stops reading, a cast just before
//! shutdown, a disconnect during backoff, a shutdown that waits for the
//! loop to end.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Duration;

use futures_util::FutureExt;
use phoenix_client_tokio::{
    Backoff, Builder, Channel, ChannelErrorReason, ChannelEvent, Client, Connector,
    DisconnectReason, JoinError, Payload, Status,
};
use phoenix_test_server::TestServer;
use serde_json::{Value, json};
use tokio::net::TcpStream;

/// Generous bound for things that must happen.
const PROMPT: Duration = Duration::from_secs(10);

/// The channel of `topic` (no join parameters), joined within [`PROMPT`].
async fn joined(client: &Client, topic: &str) -> Channel {
    let channel = client.channel(topic, &json!({}));
    tokio::time::timeout(PROMPT, channel.join())
        .await
        .unwrap()
        .unwrap();
    channel
}

/// `disconnect()` while a connection attempt is in flight must cancel the
/// attempt: the socket is "disconnected, not reconnecting", so no
/// connection may be left open behind its back.
#[tokio::test]
async fn disconnect_while_connecting_opens_no_connection() {
    let server = TestServer::start().await.unwrap();
    let addr = server.addr();
    // A slow network: the TCP connect starts 300 ms after it is asked for.
    let client = Builder::new(server.socket_url())
        .connector(Connector::new(move |_target| async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            TcpStream::connect(addr).await
        }))
        .connect();
    client.disconnect().await.unwrap();
    let mut status = client.status();
    tokio::time::timeout(
        PROMPT,
        status.wait_for(|s| matches!(s, Status::Disconnected { .. })),
    )
    .await
    .unwrap()
    .unwrap();
    // Well past the moment the attempt would have completed.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(
        server.stats().connections_opened,
        0,
        "a connection was opened after disconnect(): {:?}",
        server.connections()
    );
    assert!(matches!(
        &*client.status().borrow(),
        Status::Disconnected {
            reason: DisconnectReason::Requested,
            reconnect_in: None
        }
    ));
    // reconnect() still works afterwards.
    client.reconnect().await.unwrap();
    tokio::time::timeout(PROMPT, client.connected())
        .await
        .unwrap()
        .unwrap();
    let _channel = joined(&client, "echo:after").await;
    client.shutdown().await;
    server.shutdown().await;
}

/// A join that timed out keeps retrying (documented on `JoinError::Timeout`);
/// when a retry succeeds the application must hear about it, not only the
/// `Errored(JoinTimeout)` that came before.
#[tokio::test]
async fn a_join_that_succeeds_after_timing_out_is_reported() {
    let server = TestServer::start().await.unwrap();
    let client = Builder::new(server.socket_url())
        .rejoin(Backoff::from_millis(&[1500]))
        .connect();
    tokio::time::timeout(PROMPT, client.connected())
        .await
        .unwrap()
        .unwrap();
    let conn = server.connections().pop().unwrap();
    // Every frame from the server now takes 1 s: the first join times out.
    server.set_delay(conn.id, Duration::from_secs(1));
    let channel = client.channel("echo:late", &json!({}));
    let mut events = channel.events().unwrap();
    let first = channel.join_with_timeout(Duration::from_millis(300)).await;
    assert_eq!(first, Err(JoinError::Timeout));
    // The server is fast again before the rejoin (1.5 s later) is sent.
    server.set_delay(conn.id, Duration::ZERO);
    let deadline = tokio::time::Instant::now() + PROMPT;
    let mut seen = Vec::new();
    loop {
        let event = tokio::time::timeout_at(deadline, events.recv())
            .await
            .unwrap_or_else(|_| panic!("no event saying the channel joined; saw {seen:?}"))
            .unwrap();
        if matches!(event, ChannelEvent::Rejoined { .. }) {
            break;
        }
        seen.push(event);
    }
    assert_eq!(
        seen,
        [ChannelEvent::Errored(ChannelErrorReason::JoinTimeout)]
    );
    let reply: Value = channel.push("echo", &json!({"x": 1})).await.unwrap();
    assert_eq!(reply, json!({"x": 1}));
    client.shutdown().await;
    server.shutdown().await;
}

/// Dropping a `join()` future (a `select!`, a `timeout`) after the join was
/// handed to the socket must not orphan the channel: the handle can still
/// leave it, and the topic does not stay blocked for good.
#[tokio::test]
async fn a_dropped_join_future_does_not_orphan_the_channel() {
    let server = TestServer::start().await.unwrap();
    let client = Builder::new(server.socket_url()).connect();
    tokio::time::timeout(PROMPT, client.connected())
        .await
        .unwrap()
        .unwrap();
    let channel = client.channel("echo:orphan", &json!({}));
    // One poll hands the join to the socket's queue; then the future is dropped.
    assert!(channel.join().now_or_never().is_none());
    // The join goes on in the background; the handle can leave the channel.
    let deadline = tokio::time::Instant::now() + PROMPT;
    loop {
        match channel.leave().await {
            Ok(()) => break,
            Err(e) => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the handle could never leave: {e:?}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    // The topic is free again.
    let again = client.channel("echo:orphan", &json!({}));
    tokio::time::timeout(PROMPT, again.join())
        .await
        .unwrap()
        .unwrap();
    client.shutdown().await;
    server.shutdown().await;
}

/// A peer that stops reading (a half-open connection) must not freeze the
/// socket's task in a write: timers, commands and shutdown keep working.
#[tokio::test]
async fn a_peer_that_stops_reading_does_not_freeze_the_socket() {
    let server = TestServer::start().await.unwrap();
    let client = Builder::new(server.socket_url())
        .write_timeout(Duration::from_secs(1))
        .connect();
    let channel = joined(&client, "echo:stuck").await;
    server.half_open_all();
    // Far more than the kernel buffers of a loopback connection hold.
    let big = Payload::json(&json!({"b": "x".repeat(1 << 20)})).unwrap();
    for _ in 0..48 {
        tokio::time::timeout(PROMPT, channel.cast("echo", big.clone()))
            .await
            .expect("the command queue is not stuck")
            .unwrap();
    }
    // Let the socket's task write (and get stuck, if it does).
    tokio::time::sleep(Duration::from_millis(500)).await;
    tokio::time::timeout(PROMPT, client.shutdown())
        .await
        .expect("shutdown finished although the peer does not read");
    server.shutdown().await;
}

/// A cast accepted before `shutdown()` is written before the connection
/// closes, not silently discarded.
#[tokio::test]
async fn a_cast_before_shutdown_is_sent() {
    let server = TestServer::start().await.unwrap();
    let client = Builder::new(server.socket_url()).connect();
    let channel = joined(&client, "echo:last").await;
    let conn = server.connections().pop().unwrap();
    let before = server.connection(conn.id).unwrap().frames_received;
    channel
        .cast("noreply", Payload::json(&json!({"last": true})).unwrap())
        .await
        .unwrap();
    client.shutdown().await;
    server.wait_for_at_most(0).await;
    let received = server.stats().frames_received;
    assert!(
        received > before,
        "the cast never reached the server ({before} frames before, {received} in all)"
    );
    server.shutdown().await;
}

/// `disconnect()` while waiting to reconnect cancels the attempt; the
/// status must stop announcing one.
#[tokio::test]
async fn disconnect_during_backoff_updates_the_status() {
    let server = TestServer::start().await.unwrap();
    server.refuse_connections_with(503, None, Some(Duration::from_secs(60)));
    let client = Builder::new(server.socket_url()).connect();
    let mut status = client.status();
    tokio::time::timeout(
        PROMPT,
        status.wait_for(|s| {
            matches!(
                s,
                Status::Disconnected {
                    reconnect_in: Some(_),
                    ..
                }
            )
        }),
    )
    .await
    .unwrap()
    .unwrap();
    client.disconnect().await.unwrap();
    let settled = tokio::time::timeout(
        PROMPT,
        status.wait_for(|s| {
            matches!(
                s,
                Status::Disconnected {
                    reconnect_in: None,
                    ..
                }
            )
        }),
    )
    .await
    // Do not hold the watch's read guard: the socket's task writes the status.
    .is_ok();
    assert!(
        settled,
        "the status still promises a reconnect: {:?}",
        *client.status().borrow()
    );
    client.shutdown().await;
    server.shutdown().await;
}

/// `shutdown()` returns once the socket's loop has ended, which the status
/// shows as `Stopped` (the loop drops the status's sender as it ends); a
/// second `shutdown()`, from a clone of the client, returns at once.
#[tokio::test]
async fn shutdown_returns_once_the_status_is_stopped() {
    let server = TestServer::start().await.unwrap();
    let client = Builder::new(server.socket_url()).connect();
    let _channel = joined(&client, "echo:stopping").await;
    assert_eq!(client.status().current(), Status::Connected);
    tokio::time::timeout(PROMPT, client.shutdown())
        .await
        .expect("shutdown finished");
    assert_eq!(client.status().current(), Status::Stopped);
    let again = client.clone();
    tokio::time::timeout(PROMPT, again.shutdown())
        .await
        .expect("a second shutdown returns at once");
    server.shutdown().await;
}
