//! Drives the client state machine with an operation sequence decoded from
//! the input: the first byte picks the configuration, the rest commands,
//! connection events (in and out of turn), server frames (well-formed ones
//! built from the refs the client really sent, stale ones, and raw fuzz
//! bytes as text or binary frames) and time jumps.
//!
//! The simulator, its reference model and every invariant it checks are
//! shared with the property tests: see `phoenix-proto/tests/support/sim.rs`.
#![no_main]

#[path = "../../phoenix-proto/tests/support/sim.rs"]
mod sim;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| sim::run_bytes(data));
