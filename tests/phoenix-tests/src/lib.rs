//! The integration suite: one list of [`scenarios`], written once against
//! the [`Driver`] traits and run against every driver (tokio today; the
//! async-std and blocking drivers join when they land).
//!
//! By default each scenario starts the embedded test server on loopback.
//! With `PHOENIX_URL=ws://host:port/socket/websocket` the scenarios run
//! against that server instead (it must serve the fixture of
//! `tests/transcripts/FIXTURE.md`); scenarios that need fault controls or a
//! special server configuration are left out and say why. Assertions stick
//! to what Phoenix 1.7 and 1.8 both guarantee.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

pub mod driver;
pub mod env;
pub mod scenarios;
pub mod tokio_driver;

pub use driver::{Driver, Ev, JoinFailure, Options, PushFailure, TestChannel, TestClient};
pub use env::{Env, Outcome};
