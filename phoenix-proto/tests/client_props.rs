//! Property tests of the state machine: arbitrary sequences of commands,
//! connection events, server frames (well-formed, stale and malformed) and
//! time jumps, checked after every step against a small reference model.
//!
//! The simulator (operations, model, invariants) lives in
//! `tests/support/sim.rs`, shared with the fuzz target
//! `fuzz/fuzz_targets/state_machine.rs`; here proptest picks the operations.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "support/sim.rs"]
mod sim;

use std::time::Duration;

use phoenix_proto::client::{ChannelState, ConnectionState};
use proptest::prelude::*;
use sim::{Harness, Op, PIECES, Setup, TOPICS};

fn setup() -> impl Strategy<Value = Setup> {
    (
        prop::bool::weighted(0.15),
        prop_oneof![Just(None), Just(Some(30_000)), Just(Some(1_000))],
        prop_oneof![Just(10_000u64), Just(500u64)],
        any::<bool>(),
        any::<bool>(),
        prop::bool::weighted(0.25),
        any::<u64>(),
    )
        .prop_map(
            |(
                v1,
                heartbeat,
                default_timeout,
                rejoin_after_refusal,
                short_backoff,
                providers,
                rng_seed,
            )| {
                Setup {
                    v1,
                    heartbeat,
                    default_timeout,
                    rejoin_after_refusal,
                    short_backoff,
                    providers,
                    rng_seed,
                }
            },
        )
}

fn op() -> impl Strategy<Value = Op> {
    let topic = 0..TOPICS.len();
    prop_oneof![
        3 => Just(Op::Connect),
        1 => Just(Op::Disconnect),
        5 => Just(Op::Open),
        1 => (
            prop::option::of(prop_oneof![Just(403u16), Just(429), Just(503)]),
            prop::option::of(0u64..20)
        )
            .prop_map(|(status, retry_after)| Op::ConnectFailed { status, retry_after }),
        1 => prop::option::of(prop_oneof![Just(1000u16), Just(1001), Just(1002), Just(1011)])
            .prop_map(|code| Op::ServerClose { code }),
        1 => Just(Op::TransportError),
        5 => topic.clone().prop_map(|topic| Op::Join { topic }),
        2 => topic.clone().prop_map(|topic| Op::Leave { topic }),
        1 => (any::<usize>(), any::<bool>()).prop_map(|(pick, push)| Op::UseClosed { pick, push }),
        6 => (
            topic.clone(),
            prop_oneof![Just(0u64), Just(1), Just(5), Just(50), Just(300), Just(2_000), Just(10_000)],
            prop::bool::weighted(0.2),
            prop::bool::weighted(0.05)
        )
            .prop_map(|(topic, timeout, binary, reserved)| Op::Push {
                topic,
                timeout,
                binary,
                reserved
            }),
        16 => (any::<usize>(), 0usize..6, prop::bool::weighted(0.15), any::<bool>()).prop_map(
            |(pick, status, null_join_ref, close_after)| Op::Reply {
                pick,
                status,
                null_join_ref,
                close_after
            }
        ),
        4 => (topic.clone(), 0usize..5, prop::bool::weighted(0.3)).prop_map(
            |(topic, kind, null_join_ref)| Op::Server { topic, kind, null_join_ref }
        ),
        4 => (topic, 0usize..4, any::<usize>())
            .prop_map(|(topic, kind, pick)| Op::Stale { topic, kind, pick }),
        1 => (prop::collection::vec(any::<u8>(), 0..40), any::<bool>())
            .prop_map(|(bytes, binary)| Op::Garbage { bytes, binary }),
        1 => prop::collection::vec(0usize..PIECES.len(), 0..7)
            .prop_map(|tokens| Op::Pieces { tokens }),
        5 => (
            prop_oneof![
                3 => Just(0u64),
                3 => 0u64..20,
                3 => 0u64..600,
                1 => Just(1_000),
                1 => Just(10_000),
                1 => 0u64..40_000
            ],
            prop::bool::weighted(0.2)
        )
            .prop_map(|(ms, late)| Op::Advance { ms, late }),
        1 => any::<usize>().prop_map(|kind| Op::OutOfTurn { kind }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        ..ProptestConfig::default()
    })]

    #[test]
    fn state_machine_invariants(
        setup in setup(),
        connected in any::<bool>(),
        ops in prop::collection::vec(op(), 0..60),
    ) {
        let mut h = Harness::new(&setup);
        if connected {
            h.run(&Op::Connect);
            h.run(&Op::Open);
        }
        for op in &ops {
            h.run(op);
        }
        h.finish();
    }
}

/// A hand-written run through the stale paths, so they are known to be hit.
#[test]
fn stale_frames_after_a_rejoin_change_nothing() {
    let mut h = Harness::new(&Setup::plain());
    let ops = [
        Op::Join { topic: 0 },
        Op::Connect,
        Op::Open,
        // join reply ok
        Op::Reply {
            pick: 0,
            status: 0,
            null_join_ref: false,
            close_after: false,
        },
        Op::Server {
            topic: 0,
            kind: 3,
            null_join_ref: false,
        },
        Op::Advance {
            ms: 1_000,
            late: false,
        },
    ];
    for op in &ops {
        h.run(op);
    }
    assert_eq!(h.latest_join.get("t:0").map(String::as_str), Some("2"));
    assert_eq!(h.old_joins["t:0"], ["1"]);
    for kind in 0..4 {
        h.run(&Op::Stale {
            topic: 0,
            kind,
            pick: 0,
        });
    }
    h.run(&Op::Push {
        topic: 0,
        timeout: 50,
        binary: false,
        reserved: false,
    });
    for kind in 0..4 {
        h.run(&Op::Stale {
            topic: 0,
            kind,
            pick: 0,
        });
    }
    let id = h.topics["t:0"];
    assert_eq!(h.socket.channel_state(id), Some(ChannelState::Joining));
    h.finish();
    assert_eq!(h.pushes.len(), 1);
}

#[test]
fn retry_after_and_refusal_without_status_schedule_reconnects() {
    let setup = Setup {
        heartbeat: Some(1_000),
        default_timeout: 500,
        rejoin_after_refusal: true,
        ..Setup::plain()
    };
    let mut h = Harness::new(&setup);
    h.run(&Op::Connect);
    h.run(&Op::ConnectFailed {
        status: Some(503),
        retry_after: Some(7),
    });
    assert_eq!(
        h.socket.poll_timeout(),
        Some(h.now + Duration::from_secs(7))
    );
    h.run(&Op::Advance {
        ms: 7_000,
        late: false,
    });
    assert!(h.connect_pending);
    h.run(&Op::ConnectFailed {
        status: None,
        retry_after: None,
    });
    assert!(matches!(
        h.socket.connection_state(),
        ConnectionState::Disconnected { reconnecting: true }
    ));
    h.finish();
}

/// The fuzz target's byte decoding, run on its seeds and on pseudo-random
/// inputs, so that path is exercised without nightly or cargo-fuzz.
#[test]
fn byte_decoded_runs_hold_the_same_invariants() {
    let seeds = concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/seeds/state_machine");
    if let Ok(entries) = std::fs::read_dir(seeds) {
        for entry in entries {
            let path = entry.unwrap().path();
            sim::run_bytes(&std::fs::read(&path).unwrap());
        }
    }
    // xorshift64*: the same inputs on every run.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes()
    };
    for len in 0..200 {
        let data: Vec<u8> = (0..len * 3).flat_map(|_| next()).collect();
        sim::run_bytes(&data);
    }
}

#[test]
fn providers_feed_every_attempt() {
    let setup = Setup {
        providers: true,
        short_backoff: true,
        ..Setup::plain()
    };
    let mut h = Harness::new(&setup);
    // The harness checks each attempt's URL and token as it sees it.
    for op in [
        Op::Connect,
        Op::ConnectFailed {
            status: Some(503),
            retry_after: None,
        },
        Op::Advance {
            ms: 1_000,
            late: false,
        },
        Op::Open,
        Op::ServerClose { code: Some(1011) },
        Op::Advance {
            ms: 1_000,
            late: false,
        },
        Op::Open,
    ] {
        h.run(&op);
    }
    assert_eq!(h.connects, 3);
    h.finish();
}
