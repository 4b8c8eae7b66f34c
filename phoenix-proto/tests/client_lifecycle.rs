//! What the socket tells about its own life and what joins promise: the
//! attempt number of every connection attempt, heartbeat round trips and
//! explicit pings, join timeouts that count from the call, a join that
//! supersedes a channel still leaving its topic, and the idempotent join of
//! the callback model's `Context`.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

mod support;

use std::time::Duration;

use phoenix_proto::client::handler::Context;
use phoenix_proto::client::{
    ChannelCloseReason, ChannelErrorReason, ChannelState, Event, JoinError, PingError,
};
use phoenix_proto::codec::Payload;
use support::{Sim, Wire, echo_server};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn every_connection_attempt_is_reported_with_its_number() {
    let mut sim = Sim::new(Sim::config());
    sim.socket.connect(sim.now);
    sim.drain();
    for _ in 0..3 {
        sim.unreachable();
        sim.step();
    }
    sim.open();
    assert_eq!(sim.attempts, [1, 2, 3, 4]);
    // The next attempt after a drop counts on, since the connection did
    // not stay up long enough to count as stable.
    sim.server_close(Some(1011));
    sim.step();
    assert_eq!(sim.attempts.last(), Some(&5));
}

#[test]
fn heartbeats_and_pings_report_their_round_trip() {
    let mut sim = Sim::connected(Sim::config());
    assert_eq!(sim.socket.last_rtt(), None);
    // The periodic heartbeat, answered 7 ms later.
    sim.advance(Duration::from_secs(30));
    sim.advance(ms(7));
    sim.serve(&mut echo_server);
    assert_eq!(sim.pongs, [(ms(7), false)]);
    // An explicit ping, answered 3 ms later.
    sim.socket.ping(sim.now).unwrap();
    sim.drain();
    let wire = sim.take_wire();
    assert!(
        matches!(&wire[..], [Wire::Text(t)] if t.contains("\"heartbeat\"")),
        "{wire:?}"
    );
    sim.wire = wire;
    sim.advance(ms(3));
    sim.serve(&mut echo_server);
    assert_eq!(sim.pongs, [(ms(7), false), (ms(3), true)]);
    assert_eq!(sim.socket.last_rtt(), Some(ms(3)));
    // No connection, no ping.
    sim.socket.disconnect(sim.now);
    assert_eq!(sim.socket.ping(sim.now), Err(PingError::NotConnected));
}

#[test]
fn a_join_times_out_from_the_call_even_without_a_connection() {
    let mut sim = Sim::new(Sim::config());
    sim.socket.connect(sim.now);
    sim.drain();
    let ch = sim
        .socket
        .join_with_timeout(sim.now, "room:1", Payload::empty(), ms(500))
        .unwrap();
    // The server is unreachable the whole time.
    while sim.elapsed() < ms(500) {
        sim.unreachable();
        sim.step();
    }
    let errored: Vec<_> = sim
        .take_events()
        .into_iter()
        .filter(|e| matches!(e, Event::ChannelErrored { .. }))
        .collect();
    assert_eq!(
        errored,
        [Event::ChannelErrored {
            channel: ch,
            topic: "room:1".into(),
            reason: ChannelErrorReason::JoinTimeout
        }]
    );
    // The channel keeps waiting and joins once the connection opens.
    assert_eq!(sim.socket.channel_state(ch), Some(ChannelState::Errored));
    while sim.socket.connection_state() != phoenix_proto::client::ConnectionState::Connecting {
        sim.step();
    }
    sim.open();
    sim.serve(&mut echo_server);
    assert_eq!(sim.socket.channel_state(ch), Some(ChannelState::Joined));
}

#[test]
fn a_join_on_a_topic_still_leaving_supersedes_the_old_channel() {
    let mut sim = Sim::connected(Sim::config());
    let old = sim
        .socket
        .join(sim.now, "room:1", Payload::empty())
        .unwrap();
    sim.drain();
    sim.serve(&mut echo_server);
    sim.socket.leave(sim.now, old).unwrap();
    // Before the server answers the leave, a new join of the same topic.
    let new = sim
        .socket
        .join(sim.now, "room:1", Payload::empty())
        .unwrap();
    assert_ne!(old, new);
    sim.drain();
    let events = sim.take_events();
    assert!(events.contains(&Event::ChannelClosed {
        channel: old,
        topic: "room:1".into(),
        reason: ChannelCloseReason::Left
    }));
    // The leave goes out before the new join; the server answers both (and
    // closes the old channel): the new one ends up joined, the old one's
    // late replies change nothing.
    let wire = sim.take_wire();
    let texts: Vec<&str> = wire
        .iter()
        .filter_map(|w| match w {
            Wire::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    assert!(
        texts[0].contains("phx_leave") && texts[1].contains("phx_join"),
        "{texts:?}"
    );
    sim.wire = wire;
    sim.serve(&mut echo_server);
    assert_eq!(sim.socket.channel_state(new), Some(ChannelState::Joined));
    assert_eq!(sim.socket.channel_for_topic("room:1"), Some(new));
    assert!(
        !sim.take_events()
            .iter()
            .any(|e| matches!(e, Event::ChannelClosed { channel, .. } if *channel == new))
    );
}

#[test]
fn a_live_channel_still_refuses_a_second_strict_join() {
    let mut sim = Sim::connected(Sim::config());
    let ch = sim
        .socket
        .join(sim.now, "room:1", Payload::empty())
        .unwrap();
    assert_eq!(
        sim.socket.join(sim.now, "room:1", Payload::empty()),
        Err(JoinError::AlreadyJoined { channel: ch })
    );
}

#[test]
fn the_context_join_returns_the_channel_already_on_the_topic() {
    let mut sim = Sim::connected(Sim::config());
    let now = sim.now;
    let mut ctx = Context::new(&mut sim.socket, now);
    let first = ctx.join("room:1", Payload::empty()).unwrap();
    let again = ctx.join("room:1", Payload::empty()).unwrap();
    assert_eq!(first, again);
    assert_eq!(ctx.join("", Payload::empty()), Err(JoinError::InvalidTopic));
    // Only one join went out.
    sim.drain();
    let joins = sim
        .take_wire()
        .iter()
        .filter(|w| matches!(w, Wire::Text(t) if t.contains("phx_join")))
        .count();
    assert_eq!(joins, 1);
}

#[test]
fn the_socket_keeps_a_tracked_channels_presence_across_rejoins() {
    let mut sim = Sim::connected(Sim::config());
    let ch = sim
        .socket
        .join(sim.now, "presence:1", Payload::empty())
        .unwrap();
    assert!(sim.socket.track_presence(ch));
    sim.drain();
    sim.recv(r#"["1","1","presence:1","phx_reply",{"response":{},"status":"ok"}]"#);
    // The joiner's own diff comes before the state: held, no change yet.
    sim.recv(r#"["1",null,"presence:1","presence_diff",{"joins":{"bob":{"metas":[{"phx_ref":"b1"}]}},"leaves":{}}]"#);
    let changed = |events: &[Event]| {
        events
            .iter()
            .filter(|e| matches!(e, Event::PresenceChanged { .. }))
            .count()
    };
    assert_eq!(changed(&sim.take_events()), 0);
    sim.recv(r#"["1",null,"presence:1","presence_state",{"alice":{"metas":[{"phx_ref":"a1"}]}}]"#);
    let events = sim.take_events();
    assert_eq!(changed(&events), 1, "{events:?}");
    let keys: Vec<&str> = sim.socket.presence(ch).unwrap().keys().collect();
    assert_eq!(keys, ["alice", "bob"]);
    // The connection drops; after the rejoin the new state replaces the list.
    sim.take_wire();
    sim.server_close(Some(1011));
    sim.step();
    sim.open();
    let join_ref = sim
        .take_wire()
        .iter()
        .find_map(|w| match w {
            Wire::Text(t) if t.contains("phx_join") => {
                let m = phoenix_proto::codec::decode_client_text(t).unwrap();
                Some(m.join_ref.unwrap().into_owned())
            }
            _ => None,
        })
        .expect("a rejoin");
    sim.recv(&format!(
        r#"["{join_ref}","{join_ref}","presence:1","phx_reply",{{"response":{{}},"status":"ok"}}]"#
    ));
    sim.recv(&format!(
        r#"["{join_ref}",null,"presence:1","presence_state",{{"carol":{{"metas":[{{"phx_ref":"c1"}}]}}}}]"#
    ));
    let events = sim.take_events();
    let keys: Vec<&str> = sim.socket.presence(ch).unwrap().keys().collect();
    assert_eq!(keys, ["carol"], "{join_ref} {events:?}");
    // A channel that does not track presence keeps nothing.
    let other = sim
        .socket
        .join(sim.now, "presence:2", Payload::empty())
        .unwrap();
    assert!(sim.socket.presence(other).is_none());
}
