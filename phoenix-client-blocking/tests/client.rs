//! The blocking API against the embedded test server (its own tokio
//! runtime on its own threads; these tests start no runtime).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::mpsc::RecvTimeoutError;
use std::thread;
use std::time::{Duration, Instant};

use phoenix_client_blocking::{
    Backoff, BadMessage, Builder, Channel, ChannelErrorReason, ChannelEvent, ChannelEvents, Client,
    DisconnectReason, HandlerHandle, HandlerSocket, JoinError, Name, Payload, PushError, Status,
};
use phoenix_test_server::{ServerConfig, TestServer};
use serde_json::{Value, json};

fn server() -> TestServer {
    TestServer::start_blocking(ServerConfig::default()).unwrap()
}

fn start(builder: Builder) -> Client {
    Client::from(
        builder
            .timeout(Duration::from_secs(5))
            .reconnect(Backoff::from_millis(&[20, 50, 100]))
            .rejoin(Backoff::from_millis(&[50, 100]))
            .connect(),
    )
}

fn joined(client: &Client, topic: &str) -> (Channel, ChannelEvents) {
    let channel = client.channel(topic, &json!({}));
    let events = channel.events().unwrap();
    let response: Value = channel.join().unwrap().deserialize().unwrap();
    assert_eq!(response, json!({ "joined": topic }));
    (channel, events)
}

/// The next message, skipping other events, within 5 s.
fn next_message(events: &mut ChannelEvents) -> (Name, Payload<'static>) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Ok(ChannelEvent::Message { event, payload }) => return (event, payload),
            Ok(_) => {}
            Err(e) => panic!("no message: {e:?}"),
        }
    }
}

#[test]
fn connect_join_push_and_reply() {
    let server = server();
    let client = start(Builder::new(server.socket_url()));
    assert!(client.connected_timeout(Duration::from_secs(5)).unwrap());
    assert_eq!(client.status().current(), Status::Connected);
    let (echo, _events) = joined(&client, "echo:basics");

    let reply: Value = echo.push("echo", &json!({"hello": "world"})).unwrap();
    assert_eq!(reply, json!({"hello": "world"}));
    match echo.push::<_, Value>("error", &json!({"why": 1})) {
        Err(PushError::Status { status, .. }) => assert_eq!(status, "error"),
        other => panic!("expected an error status, got {other:?}"),
    }
    let reply = echo.push_binary("binary", vec![1u8, 2, 3]).unwrap();
    assert_eq!(
        reply.response.deserialize::<Value>().unwrap(),
        json!({"byte_size": 3})
    );
    let reply = echo
        .push_with_timeout(
            "noreply",
            Payload::empty(),
            Some(Duration::from_millis(100)),
        )
        .unwrap_err();
    assert_eq!(reply, PushError::Timeout);

    match client.channel("auth:x", &json!({"token": "wrong"})).join() {
        Err(JoinError::Refused { status, .. }) => assert_eq!(status, "error"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    echo.leave().unwrap();
    client.shutdown();
    assert_eq!(client.status().current(), Status::Stopped);
    assert_eq!(
        echo.push_raw("echo", Payload::empty()).unwrap_err(),
        PushError::SocketGone
    );
}

#[test]
fn server_pushes_and_broadcasts_arrive_as_events() {
    let server = server();
    let alice = start(Builder::new(server.socket_url()));
    let bob = start(Builder::new(server.socket_url()));
    let (room, mut alice_events) = joined(&alice, "echo:room");
    let (_bobs, mut bob_events) = joined(&bob, "echo:room");

    room.cast("push_me", Payload::json(&json!({"just": "you"})).unwrap())
        .unwrap();
    let (event, payload) = next_message(&mut alice_events);
    assert_eq!(event, "pushed");
    assert_eq!(
        payload.deserialize::<Value>().unwrap(),
        json!({"just": "you"})
    );

    let _: Value = room.push("broadcast", &json!({"n": 1})).unwrap();
    assert_eq!(next_message(&mut bob_events).0, "broadcasted");
    assert_eq!(next_message(&mut alice_events).0, "broadcasted");

    let _: Value = room.push("many", &json!({"n": 100})).unwrap();
    for i in 1..=100 {
        let (event, payload) = next_message(&mut alice_events);
        assert_eq!(
            (event.as_str(), payload.deserialize::<Value>().unwrap()),
            ("item", json!({"i": i}))
        );
    }
    assert_eq!(
        alice_events.try_recv(),
        Err(std::sync::mpsc::TryRecvError::Empty)
    );
    alice.shutdown();
    bob.shutdown();
}

/// The reason of the next disconnect, within 5 s.
fn disconnected(client: &Client) -> DisconnectReason {
    let mut status = client.status();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Status::Disconnected { reason, .. } = status.borrow_and_update().clone() {
            return reason;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(status.changed_blocking(left).unwrap(), "no disconnect");
    }
}

/// After a lost connection: the channel errors, the socket reconnects, the
/// channel rejoins and works.
fn comes_back(client: &Client, echo: &Channel, events: &mut ChannelEvents) {
    assert_eq!(
        events.recv_timeout(Duration::from_secs(5)).unwrap(),
        ChannelEvent::Errored(ChannelErrorReason::ConnectionLost)
    );
    assert!(client.connected_timeout(Duration::from_secs(5)).unwrap());
    match events.recv_timeout(Duration::from_secs(5)).unwrap() {
        ChannelEvent::Rejoined { .. } => {}
        other => panic!("expected a rejoin, got {other:?}"),
    }
    let reply: Value = echo.push("echo", &json!({"back": true})).unwrap();
    assert_eq!(reply, json!({"back": true}));
}

#[test]
fn reconnects_and_rejoins_after_the_server_drops_the_connection() {
    let server = server();
    let client = start(Builder::new(server.socket_url()));
    let (echo, mut events) = joined(&client, "echo:drop");
    assert_eq!(server.drop_all(), 1);
    // No close frame: 1006.
    let reason = disconnected(&client);
    assert_eq!(
        reason,
        DisconnectReason::Closed {
            code: Some(1006),
            reason: String::new()
        }
    );
    comes_back(&client, &echo, &mut events);

    assert_eq!(server.close_all(4001, "bye"), 1);
    let reason = disconnected(&client);
    assert_eq!(
        reason,
        DisconnectReason::Closed {
            code: Some(4001),
            reason: "bye".into()
        }
    );
    comes_back(&client, &echo, &mut events);
    client.shutdown();
}

#[test]
fn a_message_over_the_size_limit_closes_with_1009_and_reconnects() {
    let server = server();
    let client = start(Builder::new(server.socket_url()).max_message_size(Some(512)));
    let (echo, mut events) = joined(&client, "echo:big");
    let big = "x".repeat(1024);
    // The reply is too large: the push fails with the connection.
    assert!(
        echo.push::<_, Value>("echo", &json!({ "big": big }))
            .is_err()
    );
    match disconnected(&client) {
        DisconnectReason::BadMessage { kind, code } => {
            assert_eq!((kind, code), (BadMessage::TooLarge, 1009));
        }
        other => panic!("expected a bad message, got {other:?}"),
    }
    comes_back(&client, &echo, &mut events);
    client.shutdown();
}

#[test]
fn a_push_from_another_thread_wakes_a_loop_that_waits_for_its_heartbeat() {
    let server = server();
    let heartbeat = Duration::from_secs(30);
    let client = start(Builder::new(server.socket_url()).heartbeat_interval(Some(heartbeat)));
    let (echo, _events) = joined(&client, "echo:wake");
    // Let the loop go to sleep: its next deadline is the heartbeat.
    thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    let pusher = thread::spawn(move || echo.push::<_, Value>("echo", &json!({"woke": true})));
    let reply = pusher.join().unwrap().unwrap();
    let took = started.elapsed();
    assert_eq!(reply, json!({"woke": true}));
    // Answered by a wake-up, not by the heartbeat's deadline.
    assert!(took < heartbeat / 10, "the push took {took:?}");
    client.shutdown();
}

#[test]
fn a_full_event_queue_pauses_reading_until_the_application_takes_events() {
    let server = server();
    let client = start(Builder::new(server.socket_url()).channel_capacity(4));
    let (echo, mut events) = joined(&client, "echo:slow");
    // The reply comes after the 100 items: it can only be read once the
    // application has made room, which must wake the loop.
    let pusher = thread::spawn(move || echo.push::<_, Value>("many", &json!({"n": 100})));
    thread::sleep(Duration::from_millis(200));
    for i in 1..=100 {
        let (event, payload) = next_message(&mut events);
        assert_eq!(event, "item");
        assert_eq!(payload.deserialize::<Value>().unwrap(), json!({"i": i}));
    }
    assert_eq!(pusher.join().unwrap().unwrap(), json!({}));
    client.shutdown();
}

#[test]
fn a_peer_that_stops_reading_fails_the_connection_after_the_write_timeout() {
    let server = server();
    let limit = Duration::from_millis(300);
    let client = start(
        Builder::new(server.socket_url())
            .heartbeat_interval(None)
            .write_timeout(limit)
            .reconnect(Backoff::never()),
    );
    let (echo, _events) = joined(&client, "echo:stuck");
    assert_eq!(server.half_open_all(), 1);
    let status = client.status();
    let chunk = vec![7u8; 64 << 10];
    let started = Instant::now();
    // Casts return once queued; the loop writes until the kernel's buffers
    // are full, then gives the connection up once the write waited `limit`.
    let reason = loop {
        if let Status::Disconnected { reason, .. } = status.current() {
            break reason;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the write never timed out"
        );
        echo.cast("binary", Payload::binary(chunk.clone())).unwrap();
        thread::sleep(Duration::from_millis(1));
    };
    match reason {
        DisconnectReason::TransportError { message } => {
            assert!(message.contains("write timed out"), "{message}")
        }
        other => panic!("expected a write timeout, got {other:?}"),
    }
    client.shutdown();
}

#[test]
fn events_iterate_until_the_channel_closes() {
    let server = server();
    let client = start(Builder::new(server.socket_url()));
    let (echo, events) = joined(&client, "echo:iter");
    let reader = thread::spawn(move || events.collect::<Vec<_>>());
    let _: Value = echo.push("push_binary", &json!({})).unwrap();
    echo.leave().unwrap();
    let seen = reader.join().unwrap();
    assert!(
        matches!(seen.first(), Some(ChannelEvent::Message { event, .. }) if event == "pushed_binary")
    );
    assert!(
        matches!(seen.last(), Some(ChannelEvent::Closed(_))),
        "{seen:?}"
    );
    client.shutdown();
}

#[test]
fn a_refused_connection_is_reported_and_recv_times_out() {
    let server = server();
    let client = start(
        Builder::new(server.socket_url())
            .param("reject", "true")
            .reconnect(Backoff::never()),
    );
    let mut status = client.status();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Status::Disconnected { reason, .. } = status.current() {
            assert!(
                matches!(reason, DisconnectReason::Refused { status: 403, .. }),
                "{reason:?}"
            );
            break;
        }
        status
            .changed_blocking(deadline.saturating_duration_since(Instant::now()))
            .unwrap();
        assert!(Instant::now() < deadline, "no refusal");
    }
    assert!(!client.connected_timeout(Duration::from_millis(50)).unwrap());
    let channel = client.channel("echo:never", &json!({}));
    let mut events = channel.events().unwrap();
    assert_eq!(
        events.recv_timeout(Duration::from_millis(50)),
        Err(RecvTimeoutError::Timeout)
    );
    client.shutdown();
    assert!(client.connected().is_err());
}

#[test]
fn tls_with_the_servers_ca() {
    let server = TestServer::start_blocking(ServerConfig {
        tls: true,
        ..ServerConfig::default()
    })
    .unwrap();
    assert!(server.socket_url().starts_with("wss://"));
    let ca = server.tls().unwrap().ca_der.clone();
    let client = start(Builder::new(server.socket_url()).add_root_certificate(ca));
    let (echo, _events) = joined(&client, "echo:tls");
    let reply: Value = echo.push("echo", &json!({"secure": true})).unwrap();
    assert_eq!(reply, json!({"secure": true}));
    client.shutdown();

    let stranger = start(
        Builder::new(server.socket_url())
            .only_added_roots()
            .reconnect(Backoff::never()),
    );
    let mut status = stranger.status();
    let deadline = Instant::now() + Duration::from_secs(5);
    let reason = loop {
        if let Status::Disconnected { reason, .. } = status.current() {
            break reason;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(status.changed_blocking(left).unwrap(), "no TLS failure");
    };
    match reason {
        DisconnectReason::TransportError { message } => {
            assert!(message.contains("TLS"), "{message}")
        }
        other => panic!("expected a TLS failure, got {other:?}"),
    }
    stranger.shutdown();
}

#[test]
fn handles_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Client>();
    send_sync::<Channel>();
    send::<ChannelEvents>();
    send_sync::<HandlerHandle<phoenix_client_blocking::phoenix_proto::api::Router>>();
    send::<HandlerSocket<phoenix_client_blocking::phoenix_proto::api::Router>>();
    send_sync::<phoenix_client_blocking::StatusWatch>();
}

#[test]
fn start_join_joins_many_channels_of_many_sockets_from_one_thread() {
    let server = server();
    let clients: Vec<Client> = (0..3)
        .map(|_| start(Builder::new(server.socket_url())))
        .collect();
    let channels: Vec<Channel> = clients
        .iter()
        .flat_map(|client| {
            (0..10).map(move |i| client.channel(format!("echo:many{i}"), &json!({})))
        })
        .collect();
    // Every join is on its way before the first answer is waited for.
    let joins: Vec<_> = channels.iter().map(|c| c.start_join(None)).collect();
    for (channel, join) in channels.iter().zip(joins) {
        let response: Value = join.wait().unwrap().deserialize().unwrap();
        assert_eq!(response, json!({ "joined": channel.topic() }));
    }
    // Each outcome once, and the same errors as `join`: a second join of a
    // joined channel, a refusal, a socket that is gone.
    assert_eq!(
        channels[0].start_join(None).wait().unwrap_err(),
        JoinError::AlreadyJoined
    );
    let refused = clients[0].channel("auth:x", &json!({"token": "wrong"}));
    match refused.start_join(Some(Duration::from_secs(5))).wait() {
        Err(JoinError::Refused { status, response }) => {
            assert_eq!(status, "error");
            let response: Value = response.deserialize().unwrap();
            assert_eq!(response, json!({"reason": "unauthorized"}));
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let late = clients[1].channel("echo:late", &json!({}));
    clients[1].shutdown();
    assert_eq!(
        late.start_join(None).wait().unwrap_err(),
        JoinError::SocketGone
    );
    // try_wait does not block: it gives the join back until the answer
    // is in.
    let tried = clients[2].channel("echo:try", &json!({}));
    let mut pending = Some(tried.start_join(None));
    let deadline = Instant::now() + Duration::from_secs(5);
    while let Some(join) = pending.take() {
        match join.try_wait() {
            Ok(outcome) => {
                let response: Value = outcome.unwrap().deserialize().unwrap();
                assert_eq!(response, json!({ "joined": "echo:try" }));
            }
            Err(join) => {
                assert!(Instant::now() < deadline, "the join never ended");
                thread::sleep(Duration::from_millis(5));
                pending = Some(join);
            }
        }
    }
    for client in &clients {
        client.shutdown();
    }
}
