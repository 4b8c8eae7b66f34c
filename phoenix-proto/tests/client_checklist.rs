//! The state machine against phoenix-proto/PROTOCOL.md section 11, item by item, on a
//! virtual clock.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use phoenix_proto::client::{
    Backoff, BadMessage, ChannelCloseReason, ChannelErrorReason, ChannelState, Config,
    ConnectFailure, DisconnectReason, Event, Instruction, JoinError, PushError, PushFailure,
    PushId, PushOutcome,
};
use phoenix_proto::codec::{Payload, V1Serializer, WireMessage};
use support::{Sim, Wire, echo_server};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn json(text: &str) -> Payload<'static> {
    Payload::raw_json(text).unwrap()
}

#[test]
fn item1_url_params_vsn_and_refused_connect() {
    let mut sim = Sim::new(Sim::config().param("token", "a b"));
    sim.socket.connect(sim.now);
    sim.drain();
    let [Wire::Connect(req)] = &sim.take_wire()[..] else {
        panic!("expected one connect")
    };
    assert_eq!(
        req.url,
        "ws://127.0.0.1:4000/socket/websocket?token=a%20b&vsn=2.0.0"
    );
    assert!(
        !format!("{req:?}").contains("a%20b"),
        "token leaked into Debug"
    );
    sim.refuse(403, None);
    let events = sim.take_events();
    assert_eq!(
        events,
        vec![Event::Disconnected {
            reason: DisconnectReason::Refused {
                status: 403,
                retry_after: None
            },
            reconnect_in: Some(ms(10)),
        }]
    );
}

#[test]
fn item2_auth_token_subprotocols() {
    let mut sim = Sim::new(Sim::config().auth_token("s3cr3t"));
    sim.socket.connect(sim.now);
    sim.drain();
    let [Wire::Connect(req)] = &sim.take_wire()[..] else {
        panic!("expected one connect")
    };
    let protocols: Vec<&str> = req.subprotocols.iter().map(|s| s.expose()).collect();
    assert_eq!(protocols, ["phoenix", "base64url.bearer.phx.czNjcjN0"]);
    assert!(!format!("{req:?}").contains("czNjcjN0"));
}

/// Params and token providers run inside the core, once per connection
/// attempt, so every `Connect` carries fresh credentials.
#[test]
fn item2_providers_refresh_params_and_token_before_every_attempt() {
    let calls = Arc::new(AtomicU64::new(0));
    let counter = calls.clone();
    let config = Sim::config()
        .param("token", "fixed")
        .params_fn(move || {
            let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
            vec![("token".to_owned(), format!("t{n}"))]
        })
        .auth_token_fn({
            let calls = calls.clone();
            move || Some(format!("secret{}", calls.load(Ordering::SeqCst)))
        });
    let mut sim = Sim::new(config);
    // Building the config or the socket calls nothing.
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    let attempt = |sim: &mut Sim| -> (String, Vec<String>) {
        let wire = sim.take_wire();
        let [Wire::Connect(req)] = &wire[..] else {
            panic!("expected one connect: {wire:?}")
        };
        let protocols = req.subprotocols.iter().map(|p| p.expose().to_owned());
        (req.url.clone(), protocols.collect())
    };
    let expect = |n: u64| {
        let encoded = phoenix_proto::url::auth_token_protocols(&format!("secret{n}"));
        (
            format!("ws://127.0.0.1:4000/socket/websocket?token=t{n}&vsn=2.0.0"),
            encoded.to_vec(),
        )
    };
    // First connect.
    sim.socket.connect(sim.now);
    sim.drain();
    assert_eq!(attempt(&mut sim), expect(1));
    // A reconnect after a refusal.
    sim.refuse(503, None);
    sim.step();
    assert_eq!(attempt(&mut sim), expect(2));
    // A reconnect after a healthy connection closed.
    sim.open();
    sim.server_close(Some(1011));
    sim.step();
    assert_eq!(attempt(&mut sim), expect(3));
    // reconnect_with: the provider wins over the params it was given, and
    // over set_params.
    sim.open();
    sim.socket
        .set_params(vec![("token".into(), "manual".into())]);
    sim.socket
        .reconnect_with(sim.now, None, Some(vec![("token".into(), "given".into())]));
    sim.drain();
    let wire = sim.take_wire();
    assert!(matches!(wire[0], Wire::Close(1000, _)), "{wire:?}");
    sim.wire = wire[1..].to_vec();
    assert_eq!(attempt(&mut sim), expect(4));
    // The getter shows what the last attempt used and calls nothing.
    let shown = sim.socket.connect_request();
    assert_eq!((shown.url, calls.load(Ordering::SeqCst)), (expect(4).0, 4));
}

#[test]
fn item3_heartbeat_every_interval_and_timeout_closes_and_reconnects() {
    let mut sim = Sim::connected(Sim::config());
    sim.advance(Duration::from_secs(30));
    assert_eq!(sim.take_texts(), [r#"[null,"1","phoenix","heartbeat",{}]"#]);
    sim.recv(r#"[null,"1","phoenix","phx_reply",{"response":{},"status":"ok"}]"#);
    sim.advance(Duration::from_secs(30));
    assert_eq!(sim.take_texts(), [r#"[null,"2","phoenix","heartbeat",{}]"#]);
    // No reply before the next one is due: the connection is dead.
    sim.advance(Duration::from_secs(30));
    let wire = sim.take_wire();
    assert_eq!(wire, [Wire::Close(1000, "heartbeat timeout".into())]);
    assert_eq!(
        sim.take_events(),
        [Event::Disconnected {
            reason: DisconnectReason::HeartbeatTimeout,
            reconnect_in: Some(ms(10))
        }]
    );
    sim.advance(ms(10));
    assert!(matches!(&sim.take_wire()[..], [Wire::Connect(_)]));
}

#[test]
fn item3_heartbeats_can_be_turned_off() {
    let mut config = Sim::config();
    config.heartbeat_interval = None;
    let mut sim = Sim::connected(config);
    sim.advance(Duration::from_secs(3600));
    assert!(sim.take_wire().is_empty());
    assert_eq!(sim.socket.poll_timeout(), None);
}

#[test]
fn item4_reconnects_after_any_server_close_with_the_default_schedule() {
    let mut sim = Sim::connected(Sim::config());
    sim.server_close(Some(1000));
    let mut delays = Vec::new();
    for _ in 0..12 {
        let moved = sim.step().expect("a reconnect is scheduled");
        delays.push(moved.as_millis());
        sim.unreachable();
    }
    assert_eq!(
        delays,
        [
            10, 50, 100, 150, 200, 250, 500, 1000, 2000, 5000, 5000, 5000
        ]
    );
}

#[test]
fn item4_no_reconnect_after_explicit_disconnect() {
    let mut sim = Sim::connected(Sim::config());
    sim.socket.disconnect(sim.now);
    sim.drain();
    assert_eq!(
        sim.take_wire(),
        [Wire::Close(1000, "client disconnect".into())]
    );
    assert_eq!(
        sim.take_events(),
        [Event::Disconnected {
            reason: DisconnectReason::Requested,
            reconnect_in: None
        }]
    );
    sim.advance(Duration::from_secs(600));
    assert!(sim.take_wire().is_empty());
}

/// The shutdown rule: the `Close` that `disconnect` queues comes after
/// every frame already queued, and nothing comes after it, so a driver
/// that carries out instructions up to the `Close` and then stops loses
/// nothing the application was told was accepted.
#[test]
fn item4_disconnect_closes_after_the_frames_already_queued_and_nothing_follows() {
    let mut sim = Sim::connected(Sim::config());
    let lobby = sim.socket.join(sim.now, "t:1", Payload::empty()).unwrap();
    let other = sim.socket.join(sim.now, "t:2", Payload::empty()).unwrap();
    sim.drain();
    sim.recv(r#"["1","1","t:1","phx_reply",{"response":{},"status":"ok"}]"#);
    sim.recv(r#"["2","2","t:2","phx_reply",{"response":{},"status":"ok"}]"#);
    sim.take_wire();
    sim.take_events();
    // Without draining in between: two pushes, a leave, a disconnect.
    let first = sim
        .socket
        .push(sim.now, lobby, "a", json(r#"{"n":1}"#))
        .unwrap();
    let second = sim
        .socket
        .push(sim.now, lobby, "b", Payload::binary(vec![1, 2, 3]))
        .unwrap();
    sim.socket.leave(sim.now, other).unwrap();
    sim.socket.disconnect(sim.now);
    let mut instructions = Vec::new();
    while let Some(instruction) = sim.socket.poll_instruction() {
        instructions.push(instruction);
    }
    let [
        Instruction::Send(WireMessage::Text(a)),
        Instruction::Send(WireMessage::Binary(_)),
        Instruction::Send(WireMessage::Text(leave)),
        Instruction::Close { code: 1000, reason },
    ] = &instructions[..]
    else {
        panic!("expected three frames then the close: {instructions:?}")
    };
    assert_eq!(a, r#"["1","3","t:1","a",{"n":1}]"#);
    assert_eq!(leave, r#"["2","5","t:2","phx_leave",{}]"#);
    assert_eq!(reason, "client disconnect");
    // The sent pushes cannot be answered any more; nothing else is queued,
    // now or later.
    sim.drain();
    let failed: Vec<PushId> = sim
        .take_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::PushDone {
                push,
                outcome: PushOutcome::Failed(PushFailure::ConnectionLost),
                ..
            } => Some(push),
            _ => None,
        })
        .collect();
    assert_eq!(failed, [first, second]);
    sim.advance(Duration::from_secs(600));
    assert_eq!(sim.socket.poll_instruction(), None);
    assert!(sim.take_wire().is_empty());
}

#[test]
fn item4_accept_then_close_server_is_not_a_tight_loop() {
    let mut sim = Sim::new(Sim::config());
    sim.socket.connect(sim.now);
    sim.drain();
    // For ten minutes, every connection opens and is closed at once.
    while sim.elapsed() < Duration::from_secs(600) {
        sim.open();
        sim.server_close(Some(1000));
        sim.step();
    }
    let attempts = sim.connect_log.len();
    // The official client would reconnect about 80 times a second here.
    // With backoff kept across such connections: 9 quick tries, then one
    // every 5 s.
    assert!(attempts <= 130, "{attempts} attempts in 10 minutes");
    assert!(attempts >= 100, "{attempts}: should keep trying");
}

#[test]
fn item4_backoff_resets_only_after_a_healthy_connection() {
    let mut sim = Sim::connected(Sim::config());
    let _lobby = sim
        .socket
        .join(sim.now, "echo:1", Payload::empty())
        .unwrap();
    sim.drain();
    sim.serve(&mut echo_server);
    for _ in 0..5 {
        sim.server_close(None);
        sim.step();
        sim.open();
        // Every reconnect rejoins and the server answers: not enough.
        sim.serve(&mut echo_server);
    }
    // Five drops in a row, each after a successful rejoin: the next delay
    // is the sixth step (250 ms), not the first again.
    sim.take_wire();
    sim.server_close(None);
    assert_eq!(sim.step(), Some(ms(250)));
    // Now the connection stays up past `stable_after` (30 s, with
    // heartbeats answered): the schedule starts over.
    sim.open();
    sim.serve(&mut echo_server);
    let opened = sim.now;
    while sim.now - opened < Duration::from_secs(31) {
        sim.step();
        sim.serve(&mut echo_server);
    }
    sim.server_close(None);
    assert_eq!(sim.step(), Some(ms(10)));
}

#[test]
fn item4_accept_join_then_close_climbs_to_the_cap() {
    // The server accepts, answers the join, then closes: the storm the
    // official client makes (every cycle restarting at 10 ms) must not happen.
    let mut sim = Sim::new(Sim::config());
    let _lobby = sim
        .socket
        .join(sim.now, "echo:1", Payload::empty())
        .unwrap();
    sim.socket.connect(sim.now);
    sim.drain();
    let mut delays = Vec::new();
    for _ in 0..12 {
        sim.open();
        sim.serve(&mut echo_server);
        sim.server_close(Some(1000));
        delays.push(sim.step().expect("a reconnect is scheduled").as_millis());
    }
    assert_eq!(
        delays,
        [
            10, 50, 100, 150, 200, 250, 500, 1000, 2000, 5000, 5000, 5000
        ]
    );
}

#[test]
fn item4_the_default_schedule_has_jitter_that_differs_between_sockets() {
    let steps = [10u128, 50, 100, 150, 200, 250, 500, 1000, 2000, 5000];
    let mut runs = Vec::new();
    for seed in [1, 2] {
        let mut config = Config::new("ws://127.0.0.1:4000/socket");
        config.rng_seed = seed;
        let mut sim = Sim::connected(config);
        sim.server_close(Some(1000));
        let mut delays = Vec::new();
        for step in steps {
            let delay = sim.step().expect("a reconnect is scheduled").as_millis();
            // Jitter 0.5: each delay between half its step and the step.
            assert!(delay * 2 >= step && delay <= step, "{delay} for {step}");
            delays.push(delay);
            sim.unreachable();
        }
        runs.push(delays);
    }
    assert_ne!(runs[0], runs[1], "two seeds, two schedules");
}

#[test]
fn item4_close_codes_1012_and_1013_wait_as_the_server_asks() {
    for (code, low, high) in [(1012, 1000, 5000), (1013, 10_000, 30_000)] {
        let mut seen = Vec::new();
        for seed in 0..20 {
            let mut config = Sim::config();
            config.rng_seed = seed;
            let mut sim = Sim::connected(config);
            sim.server_close(Some(code));
            let waited = sim.step().expect("a reconnect is scheduled").as_millis();
            assert!((low..=high).contains(&waited), "{code}: {waited} ms");
            seen.push(waited);
        }
        seen.sort_unstable();
        seen.dedup();
        assert!(seen.len() > 10, "{code}: the waits spread out: {seen:?}");
    }
}

#[test]
fn item4_a_close_without_a_frame_is_1006_and_one_without_a_code_1005() {
    let mut sim = Sim::connected(Sim::config());
    sim.server_close(None);
    let events = sim.take_events();
    assert!(
        matches!(
            &events[0],
            Event::Disconnected {
                reason: DisconnectReason::Closed {
                    code: Some(1006),
                    ..
                },
                ..
            }
        ),
        "{events:?}"
    );
    sim.step();
    sim.open();
    sim.take_events();
    sim.socket.handle_closed(sim.now, Some(1005), "");
    sim.drain();
    assert!(matches!(
        &sim.take_events()[0],
        Event::Disconnected {
            reason: DisconnectReason::Closed {
                code: Some(1005),
                ..
            },
            ..
        }
    ));
}

#[test]
fn item4_a_bad_message_closes_with_its_code_and_reconnects() {
    for (kind, code) in [
        (BadMessage::TooLarge, 1009),
        (BadMessage::InvalidUtf8, 1007),
        (BadMessage::Protocol("bad opcode".into()), 1002),
    ] {
        let mut sim = Sim::connected(Sim::config());
        sim.socket.handle_bad_message(sim.now, kind.clone());
        sim.drain();
        let wire = sim.take_wire();
        assert!(
            matches!(&wire[..], [Wire::Close(c, _)] if *c == code),
            "{wire:?}"
        );
        assert_eq!(
            sim.take_events(),
            [Event::Disconnected {
                reason: DisconnectReason::BadMessage { kind, code },
                reconnect_in: Some(ms(10)),
            }]
        );
        sim.step();
        assert!(matches!(&sim.take_wire()[..], [Wire::Connect(_)]));
    }
}

#[test]
fn item4_retry_after_is_honoured_and_reported() {
    let mut sim = Sim::new(Sim::config());
    sim.socket.connect(sim.now);
    sim.drain();
    sim.refuse(503, Some("7"));
    assert_eq!(
        sim.take_events(),
        [Event::Disconnected {
            reason: DisconnectReason::Refused {
                status: 503,
                retry_after: Some(Duration::from_secs(7))
            },
            reconnect_in: Some(Duration::from_secs(7)),
        }]
    );
    assert_eq!(sim.step(), Some(Duration::from_secs(7)));
}

#[test]
fn item4_retry_after_as_a_date_counts_from_the_servers_date() {
    let mut sim = Sim::new(Sim::config());
    sim.socket.connect(sim.now);
    sim.drain();
    // The client's wall clock says 1970; only the server's headers count.
    let failure = ConnectFailure::http(
        429,
        Some("Wed, 21 Oct 2015 07:28:00 GMT"),
        Some("Wed, 21 Oct 2015 07:27:30 GMT"),
        SystemTime::UNIX_EPOCH,
    );
    assert_eq!(failure.status, Some(429));
    assert_eq!(failure.retry_after, Some(Duration::from_secs(30)));
    assert_eq!(
        failure.message,
        "the server answered the upgrade with HTTP 429"
    );
    sim.connect_failed(failure);
    assert_eq!(
        sim.take_events(),
        [Event::Disconnected {
            reason: DisconnectReason::Refused {
                status: 429,
                retry_after: Some(Duration::from_secs(30))
            },
            reconnect_in: Some(Duration::from_secs(30)),
        }]
    );
    assert_eq!(sim.step(), Some(Duration::from_secs(30)));
    // A Retry-After that does not parse is ignored: the schedule decides.
    sim.refuse(503, Some("in a while"));
    assert_eq!(
        sim.take_events(),
        [Event::Disconnected {
            reason: DisconnectReason::Refused {
                status: 503,
                retry_after: None
            },
            reconnect_in: Some(ms(50)),
        }]
    );
    // A failure without an HTTP answer is a transport error.
    assert_eq!(sim.step(), Some(ms(50)));
    sim.connect_failed(ConnectFailure::new("TLS handshake failed"));
    assert!(matches!(
        &sim.take_events()[..],
        [Event::Disconnected {
            reason: DisconnectReason::TransportError { message },
            ..
        }] if message == "TLS handshake failed"
    ));
}

#[test]
fn item4_max_attempts_and_jitter() {
    let mut config = Sim::config();
    config.reconnect = Backoff::from_millis(&[100])
        .with_jitter(0.5)
        .with_max_attempts(3);
    let mut sim = Sim::new(config);
    sim.socket.connect(sim.now);
    sim.drain();
    let mut delays = Vec::new();
    while let Some(step) = {
        sim.unreachable();
        sim.step()
    } {
        assert!(step >= ms(50) && step <= ms(100), "{step:?}");
        delays.push(step);
    }
    assert_eq!(delays.len(), 3);
    assert!(matches!(
        sim.take_events().last(),
        Some(Event::Disconnected {
            reconnect_in: None,
            ..
        })
    ));
}

#[test]
fn item5_join_ref_is_the_join_ref_and_goes_on_every_frame() {
    let mut sim = Sim::connected(Sim::config());
    let ch = sim
        .socket
        .join(sim.now, "echo:1", json(r#"{"p":1}"#))
        .unwrap();
    sim.drain();
    assert_eq!(
        sim.take_texts(),
        [r#"["1","1","echo:1","phx_join",{"p":1}]"#]
    );
    sim.recv(r#"["1","1","echo:1","phx_reply",{"response":{},"status":"ok"}]"#);
    sim.socket
        .push(sim.now, ch, "echo", json(r#"{"a":1}"#))
        .unwrap();
    sim.socket
        .push(sim.now, ch, "bin", Payload::binary([1u8, 2, 3]))
        .unwrap();
    sim.drain();
    let wire = sim.take_wire();
    assert_eq!(
        wire[0],
        Wire::Text(r#"["1","2","echo:1","echo",{"a":1}]"#.into())
    );
    // Binary push: kind 0, join_ref "1", ref "3", topic, event, payload.
    let mut expected = vec![0u8, 1, 1, 6, 3, b'1', b'3'];
    expected.extend_from_slice(b"echo:1bin");
    expected.extend_from_slice(&[1, 2, 3]);
    assert_eq!(wire[1], Wire::Binary(expected));
}

#[test]
fn item6_stale_frames_never_reach_the_application() {
    let mut sim = Sim::connected(Sim::config());
    let ch = sim
        .socket
        .join(sim.now, "echo:1", Payload::empty())
        .unwrap();
    sim.drain();
    sim.recv(r#"["1","1","echo:1","phx_reply",{"response":{},"status":"ok"}]"#);
    sim.take_events();
    // A frame of an older join, a bogus join_ref, and a stale close.
    sim.recv(r#"["99",null,"echo:1","new_msg",{"stale":1}]"#);
    sim.recv(r#"["0","0","echo:1","phx_close",{}]"#);
    sim.recv(r#"["7","7","echo:1","phx_error",{}]"#);
    assert!(sim.take_events().is_empty());
    assert_eq!(sim.socket.channel_state(ch), Some(ChannelState::Joined));
    // Broadcasts (null join_ref) and the current join_ref are delivered.
    sim.recv(r#"[null,null,"echo:1","news",{"n":1}]"#);
    sim.recv(r#"["1",null,"echo:1","pushed",{"n":2}]"#);
    let events = sim.take_events();
    assert_eq!(events.len(), 2);
    assert!(matches!(&events[0], Event::Message { event, .. } if event == "news"));
    assert!(matches!(&events[1], Event::Message { event, .. } if event == "pushed"));
}

/// With the v1 format, frames carry no join_ref, but `phx_close` and
/// `phx_error` carry the join's ref as their `ref` (phoenix-proto/PROTOCOL.md 3.3). The
/// `phx_close` of a join that was left must not close the topic's next
/// channel, which is joining when it arrives.
#[test]
fn item6_v1_stale_phx_close_does_not_close_the_next_channel_on_the_topic() {
    let mut config = Sim::config();
    config.serializer = Arc::new(V1Serializer);
    let mut sim = Sim::connected(config);
    let first = sim.socket.join(sim.now, "t:1", Payload::empty()).unwrap();
    sim.drain();
    let texts = sim.take_texts();
    assert_eq!(texts.len(), 1);
    assert!(texts[0].contains(r#""ref":"1""#), "{texts:?}");
    sim.recv(
        r#"{"event":"phx_reply","payload":{"response":{},"status":"ok"},"ref":"1","topic":"t:1"}"#,
    );
    sim.socket.leave(sim.now, first).unwrap();
    sim.drain();
    assert!(sim.take_texts()[0].contains(r#""ref":"2""#));
    // Server: leave reply, then the old join's phx_close (ref = its join_ref "1").
    sim.recv(
        r#"{"event":"phx_reply","payload":{"response":{},"status":"ok"},"ref":"2","topic":"t:1"}"#,
    );
    assert_eq!(sim.socket.channel_state(first), None);
    // The application joins the topic again at once.
    let second = sim.socket.join(sim.now, "t:1", Payload::empty()).unwrap();
    sim.drain();
    assert!(sim.take_texts()[0].contains(r#""ref":"3""#));
    sim.take_events();
    sim.recv(r#"{"event":"phx_close","payload":{},"ref":"1","topic":"t:1"}"#);
    assert_eq!(
        sim.socket.channel_state(second),
        Some(ChannelState::Joining),
        "the old join's phx_close closed the new channel: {:?}",
        sim.events
    );
    sim.recv(
        r#"{"event":"phx_reply","payload":{"response":{},"status":"ok"},"ref":"3","topic":"t:1"}"#,
    );
    assert_eq!(sim.socket.channel_state(second), Some(ChannelState::Joined));
    // The current join's own phx_close still closes it.
    sim.take_events();
    sim.recv(r#"{"event":"phx_close","payload":{},"ref":"3","topic":"t:1"}"#);
    assert_eq!(sim.socket.channel_state(second), None);
    assert!(
        sim.events
            .iter()
            .any(|e| matches!(e, Event::ChannelClosed { channel, .. } if *channel == second))
    );
}

#[test]
fn item6_terminate_push_after_close_is_dropped() {
    let mut sim = Sim::connected(Sim::config());
    let ch = sim
        .socket
        .join(sim.now, "icpt:1", Payload::empty())
        .unwrap();
    sim.drain();
    sim.recv(r#"["1","1","icpt:1","phx_reply",{"response":{},"status":"ok"}]"#);
    sim.take_wire();
    sim.socket.leave(sim.now, ch).unwrap();
    sim.drain();
    assert_eq!(sim.take_texts(), [r#"["1","2","icpt:1","phx_leave",{}]"#]);
    sim.take_events();
    sim.recv(r#"["1","2","icpt:1","phx_reply",{"response":{},"status":"ok"}]"#);
    sim.recv(r#"["1","1","icpt:1","phx_close",{}]"#);
    sim.recv(r#"["1",null,"icpt:1","goodbye",{}]"#);
    assert_eq!(
        sim.take_events(),
        [Event::ChannelClosed {
            channel: ch,
            topic: "icpt:1".into(),
            reason: ChannelCloseReason::Left
        }]
    );
}

#[test]
fn item7_close_and_error_are_not_replies() {
    let mut sim = Sim::connected(Sim::config());
    let ch = sim
        .socket
        .join(sim.now, "room:a", Payload::empty())
        .unwrap();
    sim.drain();
    // phx_error carries ref == join_ref; it must not be read as the join's reply.
    sim.recv(r#"["1","1","room:a","phx_error",{"reason":"channel_crash"}]"#);
    let events = sim.take_events();
    assert!(matches!(
        &events[..],
        [Event::ChannelErrored { channel, reason: ChannelErrorReason::Crashed { .. }, .. }] if *channel == ch
    ));
}

#[test]
fn item8_replies_by_ref_any_status_any_response_and_timeouts() {
    let mut sim = Sim::connected(Sim::config());
    let ch = sim
        .socket
        .join(sim.now, "echo:1", Payload::empty())
        .unwrap();
    sim.drain();
    sim.recv(r#"["1","1","echo:1","phx_reply",{"response":{},"status":"ok"}]"#);
    let a = sim
        .socket
        .push(sim.now, ch, "custom", Payload::empty())
        .unwrap();
    let b = sim
        .socket
        .push(sim.now, ch, "list", Payload::empty())
        .unwrap();
    let c = sim
        .socket
        .push(sim.now, ch, "noreply", Payload::empty())
        .unwrap();
    let d = sim
        .socket
        .push(sim.now, ch, "binary", Payload::empty())
        .unwrap();
    sim.drain();
    sim.take_events();
    // Out of order, with arbitrary statuses and responses.
    sim.recv(r#"["1","3","echo:1","phx_reply",{"response":[1,"x"],"status":"ok"}]"#);
    sim.recv(r#"["1","2","echo:1","phx_reply",{"response":{},"status":"pending"}]"#);
    sim.recv_binary(&[
        1, 1, 1, 6, 2, b'1', b'5', b'e', b'c', b'h', b'o', b':', b'1', b'o', b'k', 9,
    ]);
    sim.advance(Duration::from_secs(10));
    let events = sim.take_events();
    assert_eq!(
        events,
        [
            Event::PushDone {
                push: b,
                channel: ch,
                outcome: PushOutcome::Reply {
                    status: "ok".into(),
                    response: json(r#"[1,"x"]"#)
                }
            },
            Event::PushDone {
                push: a,
                channel: ch,
                outcome: PushOutcome::Reply {
                    status: "pending".into(),
                    response: Payload::empty()
                }
            },
            Event::PushDone {
                push: d,
                channel: ch,
                outcome: PushOutcome::Reply {
                    status: "ok".into(),
                    response: Payload::binary([9u8])
                }
            },
            Event::PushDone {
                push: c,
                channel: ch,
                outcome: PushOutcome::Timeout
            },
        ]
    );
    // A late reply after the timeout is ignored: still one outcome.
    sim.recv(r#"["1","4","echo:1","phx_reply",{"response":{},"status":"ok"}]"#);
    assert!(sim.take_events().is_empty());
}

#[test]
fn item10_lost_connection_errors_channels_and_rejoins_with_new_join_refs() {
    let mut sim = Sim::connected(Sim::config());
    let a = sim
        .socket
        .join(sim.now, "echo:a", Payload::empty())
        .unwrap();
    let b = sim
        .socket
        .join(sim.now, "echo:b", Payload::empty())
        .unwrap();
    sim.drain();
    sim.serve(&mut echo_server);
    let sent = sim
        .socket
        .push(sim.now, a, "noreply", Payload::empty())
        .unwrap();
    sim.drain();
    sim.take_wire();
    sim.take_events();
    sim.server_close(Some(1011));
    let events = sim.take_events();
    assert!(matches!(events[0], Event::Disconnected { .. }));
    assert!(events.contains(&Event::PushDone {
        push: sent,
        channel: a,
        outcome: PushOutcome::Failed(PushFailure::ConnectionLost)
    }));
    for ch in [a, b] {
        assert_eq!(sim.socket.channel_state(ch), Some(ChannelState::Errored));
    }
    sim.step();
    sim.open();
    let texts = sim.take_texts();
    assert_eq!(
        texts,
        [
            r#"["4","4","echo:a","phx_join",{}]"#,
            r#"["5","5","echo:b","phx_join",{}]"#
        ]
    );
}

#[test]
fn item12_refused_join_is_reported_and_not_retried_by_default() {
    let mut sim = Sim::connected(Sim::config());
    let ch = sim
        .socket
        .join(sim.now, "auth:1", Payload::empty())
        .unwrap();
    sim.drain();
    sim.take_wire();
    sim.recv(
        r#"["1","1","auth:1","phx_reply",{"response":{"reason":"unauthorized"},"status":"error"}]"#,
    );
    assert_eq!(
        sim.take_events(),
        [
            Event::JoinRefused {
                channel: ch,
                topic: "auth:1".into(),
                status: "error".into(),
                response: json(r#"{"reason":"unauthorized"}"#),
                will_retry: false
            },
            Event::ChannelClosed {
                channel: ch,
                topic: "auth:1".into(),
                reason: ChannelCloseReason::JoinRefused
            }
        ]
    );
    sim.advance(Duration::from_secs(60));
    assert!(sim.take_texts().iter().all(|t| !t.contains("phx_join")));
}

#[test]
fn item12_refused_join_retried_when_configured() {
    let mut config = Sim::config();
    config.rejoin_after_refusal = true;
    let mut sim = Sim::connected(config);
    let ch = sim
        .socket
        .join(sim.now, "auth:1", Payload::empty())
        .unwrap();
    sim.drain();
    sim.take_wire();
    sim.recv(r#"["1","1","auth:1","phx_reply",{"response":{},"status":"error"}]"#);
    assert_eq!(sim.socket.channel_state(ch), Some(ChannelState::Errored));
    assert_eq!(sim.step(), Some(Duration::from_secs(1)));
    assert_eq!(sim.take_texts(), [r#"["2","2","auth:1","phx_join",{}]"#]);
}

#[test]
fn item13_leave_waits_for_the_reply_and_the_close_is_ignored() {
    let mut sim = Sim::connected(Sim::config());
    let ch = sim
        .socket
        .join(sim.now, "echo:1", Payload::empty())
        .unwrap();
    sim.drain();
    sim.serve(&mut echo_server);
    sim.take_events();
    sim.socket.leave(sim.now, ch).unwrap();
    sim.drain();
    assert_eq!(sim.socket.channel_state(ch), Some(ChannelState::Leaving));
    assert_eq!(
        sim.socket.push(sim.now, ch, "x", Payload::empty()),
        Err(PushError::ChannelLeaving)
    );
    sim.serve(&mut echo_server);
    assert_eq!(
        sim.take_events(),
        [Event::ChannelClosed {
            channel: ch,
            topic: "echo:1".into(),
            reason: ChannelCloseReason::Left
        }]
    );
    assert_eq!(sim.socket.channel_state(ch), None);
    // The topic is free again.
    assert!(sim.socket.join(sim.now, "echo:1", Payload::empty()).is_ok());
}

#[test]
fn pushes_held_during_a_join_are_sent_after_it_with_the_join_ref() {
    let mut sim = Sim::new(Sim::config());
    let ch = sim
        .socket
        .join(sim.now, "echo:1", Payload::empty())
        .unwrap();
    let early = sim
        .socket
        .push(sim.now, ch, "early", json(r#"{"a":1}"#))
        .unwrap();
    let late = sim
        .socket
        .push_with_timeout(sim.now, ch, "late", Payload::empty(), ms(100))
        .unwrap();
    sim.socket.connect(sim.now);
    sim.drain();
    sim.take_wire();
    // The short push times out while waiting for the connection: never sent.
    sim.advance(ms(150));
    assert_eq!(
        sim.take_events(),
        [Event::PushDone {
            push: late,
            channel: ch,
            outcome: PushOutcome::Timeout
        }]
    );
    sim.open();
    assert_eq!(sim.take_texts(), [r#"["1","1","echo:1","phx_join",{}]"#]);
    sim.recv(r#"["1","1","echo:1","phx_reply",{"response":{},"status":"ok"}]"#);
    assert_eq!(sim.take_texts(), [r#"["1","2","echo:1","early",{"a":1}]"#]);
    sim.recv(r#"["1","2","echo:1","phx_reply",{"response":{},"status":"ok"}]"#);
    let events = sim.take_events();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::PushDone { push, .. } if *push == early))
    );
}

#[test]
fn pushes_on_closed_channels_fail_at_once_and_duplicate_topics_are_refused() {
    let mut sim = Sim::connected(Sim::config());
    let ch = sim
        .socket
        .join(sim.now, "echo:1", Payload::empty())
        .unwrap();
    assert_eq!(
        sim.socket.join(sim.now, "echo:1", Payload::empty()),
        Err(JoinError::AlreadyJoined { channel: ch })
    );
    assert_eq!(
        sim.socket.join(sim.now, "phoenix", Payload::empty()),
        Err(JoinError::InvalidTopic)
    );
    sim.drain();
    sim.recv(r#"["1","1","echo:1","phx_close",{}]"#);
    assert_eq!(
        sim.socket.push(sim.now, ch, "echo", Payload::empty()),
        Err(PushError::ChannelClosed)
    );
    assert_eq!(
        sim.socket.push(sim.now, ch, "phx_join", Payload::empty()),
        Err(PushError::ReservedEvent)
    );
}

#[test]
fn crashed_channels_rejoin_on_the_rejoin_schedule() {
    let mut sim = Sim::connected(Sim::config());
    let ch = sim
        .socket
        .join(sim.now, "echo:1", Payload::empty())
        .unwrap();
    sim.drain();
    sim.take_wire();
    let mut delays = Vec::new();
    let mut join_ref = 1;
    for _ in 0..5 {
        sim.recv(&format!(
            r#"["{join_ref}","{join_ref}","echo:1","phx_error",{{"reason":"channel_crash"}}]"#
        ));
        delays.push(sim.step().unwrap().as_secs());
        let texts = sim.take_texts();
        assert_eq!(texts.len(), 1, "{texts:?}");
        join_ref += 1;
        assert_eq!(
            texts[0],
            format!(r#"["{join_ref}","{join_ref}","echo:1","phx_join",{{}}]"#)
        );
    }
    assert_eq!(delays, [1, 2, 5, 10, 10]);
    // A successful join resets the schedule.
    sim.recv(&format!(
        r#"["{join_ref}","{join_ref}","echo:1","phx_reply",{{"response":{{}},"status":"ok"}}]"#
    ));
    assert_eq!(sim.socket.channel_state(ch), Some(ChannelState::Joined));
    sim.recv(&format!(
        r#"["{join_ref}","{join_ref}","echo:1","phx_error",{{}}]"#
    ));
    assert_eq!(sim.step().unwrap().as_secs(), 1);
}

#[test]
fn join_timeout_errors_sends_leave_and_rejoins() {
    let mut sim = Sim::connected(Sim::config());
    let ch = sim
        .socket
        .join(sim.now, "slow:1", Payload::empty())
        .unwrap();
    sim.drain();
    sim.take_wire();
    sim.advance(Duration::from_secs(10));
    assert_eq!(sim.take_texts(), [r#"["1","2","slow:1","phx_leave",{}]"#]);
    assert_eq!(
        sim.take_events(),
        [Event::ChannelErrored {
            channel: ch,
            topic: "slow:1".into(),
            reason: ChannelErrorReason::JoinTimeout
        }]
    );
    // The late reply of the timed-out join is ignored.
    sim.recv(r#"["1","1","slow:1","phx_reply",{"response":{},"status":"ok"}]"#);
    assert_eq!(sim.socket.channel_state(ch), Some(ChannelState::Errored));
    sim.advance(Duration::from_secs(1));
    assert_eq!(sim.take_texts(), [r#"["3","3","slow:1","phx_join",{}]"#]);
}

#[test]
fn a_thirty_minute_outage_story_runs_on_the_virtual_clock() {
    let mut sim = Sim::connected(Sim::config());
    let ch = sim
        .socket
        .join(sim.now, "echo:1", Payload::empty())
        .unwrap();
    sim.drain();
    sim.serve(&mut echo_server);
    sim.server_close(None);
    // The server is unreachable for thirty minutes.
    while sim.elapsed() < Duration::from_secs(30 * 60) {
        sim.step();
        sim.unreachable();
    }
    let attempts = sim.connect_log.len();
    // 9 quick attempts, then one every 5 s.
    assert!((360..=375).contains(&attempts), "{attempts}");
    sim.step();
    sim.open();
    sim.serve(&mut echo_server);
    assert_eq!(sim.socket.channel_state(ch), Some(ChannelState::Joined));
    let rejoined = sim
        .take_events()
        .into_iter()
        .any(|e| matches!(e, Event::Joined { rejoin: true, .. }));
    assert!(rejoined);
    // Heartbeats run again, answered by the server.
    sim.advance(Duration::from_secs(31));
    sim.serve(&mut echo_server);
    assert!(sim.socket.is_connected());
}

#[test]
fn pending_pushes_are_bounded() {
    let mut config = Sim::config();
    config.max_pending_pushes = 3;
    let mut sim = Sim::new(config);
    let ch = sim
        .socket
        .join(sim.now, "echo:1", Payload::empty())
        .unwrap();
    for _ in 0..3 {
        sim.socket.push(sim.now, ch, "e", Payload::empty()).unwrap();
    }
    assert_eq!(
        sim.socket.push(sim.now, ch, "e", Payload::empty()),
        Err(PushError::TooManyPending { limit: 3 })
    );
    // Once one ends, there is room again.
    sim.advance(Duration::from_secs(10));
    assert!(sim.socket.push(sim.now, ch, "e", Payload::empty()).is_ok());
}

#[test]
fn item9_binary_frames_by_direction() {
    let mut sim = Sim::connected(Sim::config());
    let ch = sim
        .socket
        .join(sim.now, "echo:bin", Payload::empty())
        .unwrap();
    sim.drain();
    sim.recv(r#"["1","1","echo:bin","phx_reply",{"response":{},"status":"ok"}]"#);
    sim.take_events();
    // Server to client kind 0 has no ref field: join_ref, topic, event.
    let mut push = vec![0u8, 1, 8, 6, b'1'];
    push.extend_from_slice(b"echo:binpushed");
    push.extend_from_slice(&[4, 5, 6]);
    sim.recv_binary(&push);
    // Kind 2 broadcast: topic, event.
    let mut bcast = vec![2u8, 8, 5];
    bcast.extend_from_slice(b"echo:binbcast");
    bcast.extend_from_slice(&[7, 8]);
    sim.recv_binary(&bcast);
    assert_eq!(
        sim.take_events(),
        [
            Event::Message {
                channel: ch,
                topic: "echo:bin".into(),
                event: "pushed".into(),
                payload: Payload::binary([4u8, 5, 6])
            },
            Event::Message {
                channel: ch,
                topic: "echo:bin".into(),
                event: "bcast".into(),
                payload: Payload::binary([7u8, 8])
            },
        ]
    );
    // A topic over 255 bytes cannot go in a binary frame: the push is
    // refused with a typed error, never truncated.
    let long = "t".repeat(300);
    let long_ch = sim.socket.join(sim.now, &long, Payload::empty()).unwrap();
    sim.drain();
    sim.recv(&format!(
        r#"["2","2","{long}","phx_reply",{{"response":{{}},"status":"ok"}}]"#
    ));
    assert!(matches!(
        sim.socket
            .push(sim.now, long_ch, "bin", Payload::binary([1u8])),
        Err(PushError::Encode(_))
    ));
}

#[test]
fn item11_a_slow_join_holds_later_pushes_without_killing_the_connection() {
    // The server processes a join before anything else on the connection,
    // so replies behind it arrive late; that is not a dead connection as
    // long as a heartbeat reply comes before the next heartbeat is due.
    let mut sim = Sim::connected(Sim::config());
    let ch = sim
        .socket
        .join(sim.now, "slow:1", Payload::empty())
        .unwrap();
    let held = sim
        .socket
        .push(sim.now, ch, "echo", Payload::empty())
        .unwrap();
    sim.drain();
    // Nine seconds without an answer: the push waits behind the join and
    // nothing else is sent (the heartbeat is not due before 30 s).
    sim.advance(Duration::from_secs(9));
    assert_eq!(sim.take_texts(), [r#"["1","1","slow:1","phx_join",{}]"#]);
    sim.recv(r#"["1","1","slow:1","phx_reply",{"response":{},"status":"ok"}]"#);
    assert_eq!(sim.take_texts(), [r#"["1","2","slow:1","echo",{}]"#]);
    sim.recv(r#"["1","2","slow:1","phx_reply",{"response":{},"status":"ok"}]"#);
    assert!(sim.take_events().iter().any(
        |e| matches!(e, Event::PushDone { push, outcome: PushOutcome::Reply { .. }, .. } if *push == held)
    ));
    assert!(sim.socket.is_connected());
}

#[test]
fn item14_presence_diffs_wait_for_the_state() {
    use phoenix_proto::presence::Presence;
    let mut sim = Sim::connected(Sim::config());
    let _ch = sim
        .socket
        .join(sim.now, "presence:lobby", json(r#"{"user":"alice"}"#))
        .unwrap();
    sim.drain();
    sim.recv(r#"["1","1","presence:lobby","phx_reply",{"response":{},"status":"ok"}]"#);
    // The recorded order: the joiner's own diff, then the state.
    sim.recv(r#"[null,null,"presence:lobby","presence_diff",{"joins":{"alice":{"metas":[{"phx_ref":"GOtZAlufOeFB_AFx","status":"online"}]}},"leaves":{}}]"#);
    sim.recv(r#"["1",null,"presence:lobby","presence_state",{"alice":{"metas":[{"phx_ref":"GOtZAlufOeFB_AFx","status":"online"}]}}]"#);
    let mut presence = Presence::new();
    for event in sim.take_events() {
        if let Event::Message { event, payload, .. } = event {
            presence.handle_message(&event, &payload).unwrap();
        }
    }
    assert!(presence.is_synced());
    assert_eq!(presence.keys().collect::<Vec<_>>(), ["alice"]);
    assert_eq!(presence.get("alice").unwrap().metas.len(), 1);
}

#[test]
fn item15_both_phx_error_payloads_and_the_1000_close_of_older_servers() {
    let mut sim = Sim::connected(Sim::config());
    let ch = sim
        .socket
        .join(sim.now, "echo:1", Payload::empty())
        .unwrap();
    sim.drain();
    sim.recv(r#"["1","1","echo:1","phx_reply",{"response":{},"status":"ok"}]"#);
    // Before 1.8.10 phx_error carried {}; after, a reason.
    sim.recv(r#"["1","1","echo:1","phx_error",{}]"#);
    sim.step();
    sim.recv(r#"["2","2","echo:1","phx_reply",{"response":{},"status":"ok"}]"#);
    sim.recv(r#"["2","2","echo:1","phx_error",{"reason":"channel_crash"}]"#);
    let errors = sim
        .take_events()
        .into_iter()
        .filter(|e| matches!(e, Event::ChannelErrored { channel, .. } if *channel == ch))
        .count();
    assert_eq!(errors, 2);
    // Before 1.8.8 a socket-id disconnect could close with 1000; Cowboy's
    // idle timeout does too. We reconnect anyway.
    sim.server_close(Some(1000));
    assert!(matches!(
        sim.take_events().first(),
        Some(Event::Disconnected {
            reconnect_in: Some(_),
            ..
        })
    ));
}

#[test]
fn reconnect_with_new_params_is_not_a_failed_attempt() {
    let mut sim = Sim::connected(Sim::config().param("token", "old"));
    sim.socket
        .reconnect_with(sim.now, None, Some(vec![("token".into(), "new".into())]));
    sim.drain();
    let wire = sim.take_wire();
    assert_eq!(wire[0], Wire::Close(1000, "reconnecting".into()));
    let Wire::Connect(req) = &wire[1] else {
        panic!("expected a connect, got {wire:?}")
    };
    assert!(req.url.contains("token=new"), "{}", req.redacted_url());
    assert_eq!(req.attempt, 1, "not counted as a failure");
    assert_eq!(
        sim.take_events(),
        [Event::Disconnected {
            reason: DisconnectReason::Reconfigured,
            reconnect_in: Some(Duration::ZERO)
        }]
    );
    // No second attempt is scheduled behind the immediate one.
    sim.open();
    assert!(sim.socket.is_connected());
    sim.server_close(None);
    assert_eq!(sim.step(), Some(ms(10)), "the backoff starts afresh");
}

#[test]
fn disconnect_during_backoff_takes_the_promised_reconnect_back() {
    let mut sim = Sim::connected(Sim::config());
    sim.server_close(None);
    sim.take_events();
    sim.socket.disconnect(sim.now);
    sim.drain();
    assert_eq!(
        sim.take_events(),
        [Event::Disconnected {
            reason: DisconnectReason::Requested,
            reconnect_in: None
        }]
    );
    sim.advance(Duration::from_secs(60));
    assert!(sim.take_wire().is_empty());
}
