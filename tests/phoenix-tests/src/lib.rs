//! The integration suite: one list of [`scenarios`], written once against
//! the [`Driver`] traits and run against every driver: each has an adapter
//! module here and a one-line test file in `tests/` (how to add one:
//! [`driver`]).
//!
//! # Running it
//!
//! `cargo test -p phoenix-tests` runs every scenario against every driver;
//! each starts the embedded test server on loopback. Tests are named
//! `DRIVER::SCENARIO` (`tokio::join_and_echo`), so
//! `cargo test -p phoenix-tests -- tokio::` picks one driver and
//! `cargo test -p phoenix-tests -- ::presence` one scenario.
//!
//! With `PHOENIX_URL=ws://host:port/socket/websocket` the scenarios run
//! against that server instead (it must serve the fixture of
//! `tests/transcripts/FIXTURE.md`; `cargo run -p phoenix-test-server --
//! --port 4000` serves one). Assertions stick to what Phoenix 1.7 and 1.8
//! both guarantee.
//!
//! # What keeps the suite honest
//!
//! - **One list.** [`all_scenarios!`] holds the list of scenarios; each
//!   driver's test file expands it once, so no driver can miss a scenario.
//!   The functions in [`scenarios`] and that list are two places, and the
//!   unit test `scenarios::tests::the_list_names_every_scenario` reads
//!   `src/scenarios.rs` and fails when a `pub async fn NAME<D: Driver>(scope:
//!   &Scope<D>) -> Scenario` is missing from the list or the list names one
//!   that does not exist. (Defining the functions inside one big macro would
//!   need no check, but rustfmt and the compiler's messages would stop
//!   helping inside it; a check that runs with every `cargo test` costs
//!   nothing.) The test also insists that the scenarios that leave
//!   themselves out against a real server are exactly the marked ones.
//! - **Ignored, not passed.** A scenario that needs the embedded server's
//!   fault controls or configuration is marked in the list with the reason.
//!   The build script turns `PHOENIX_URL` into `cfg(phoenix_url)`, and a
//!   marked scenario's test then carries `#[ignore = "<reason>"]`: libtest
//!   reports it as ignored. The scenario's own run-time check stays as a
//!   fallback, and a scenario that reports [`Outcome::LeftOut`] at run time
//!   fails its test, saying it should have been marked.
//! - **Cleanup always runs.** A scenario gets its servers and clients from
//!   its [`Scope`]; [`Scope::run`](harness::Scope::run) shuts every client
//!   down and stops every server after the scenario, whether it passed,
//!   returned early with `?`, panicked or timed out.
//! - **Runtime-neutral scenarios.** Scenario bodies use [`time`] (async-io
//!   timers), [`std::time::Instant`] and `futures_util` combinators, never a
//!   runtime's API, so the client under test may run on any runtime or none.
//!   The test functions themselves run on a tokio runtime
//!   ([`harness::block_on`]) because the embedded test server's async
//!   controls need one.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

pub mod api_driver;
pub mod async_std_driver;
pub mod blocking_driver;
pub mod driver;
pub mod env;
pub mod harness;
pub mod scenarios;
pub mod time;
pub mod tokio_driver;

pub use driver::{Driver, Ev, JoinFailure, Options, PushFailure, TestChannel, TestClient};
pub use env::{Env, Outcome};
pub use harness::Scope;
