//! Review tests of the state machine, on the simulation harness.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::sync::Arc;

use phoenix_proto::client::{ChannelState, Event};
use phoenix_proto::codec::{Payload, V1Serializer};
use support::Sim;

/// With the v1 format, frames carry no join_ref, but `phx_close` and
/// `phx_error` carry the join's ref as their `ref` (PROTOCOL.md 3.3). The
/// `phx_close` of a join that was left must not close the topic's next
/// channel, which is joining when it arrives.
#[test]
fn v1_stale_phx_close_does_not_close_the_next_channel_on_the_topic() {
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
