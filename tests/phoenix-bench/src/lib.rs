//! # phoenix-bench
//!
//! Measures what a Phoenix client costs (CPU per message, latency, memory
//! per socket) for our drivers, a bare-WebSocket floor and the other
//! Phoenix clients, in one run, and writes BENCHMARKS.md from the results.
//!
//! ```sh
//! # The full run (about ten minutes on 2 cores): every client, 3 runs of
//! # each cell, the codec benches; writes the JSON, BENCHMARKS.md and the chart.
//! cargo run --release -p phoenix-bench -- --json tests/phoenix-bench/bench.json
//!
//! # CI's smoke run: tiny counts, one run, fails if any client fails.
//! cargo run -p phoenix-bench -- --quick
//!
//! # BENCHMARKS.md and the chart again from a JSON file.
//! cargo run -p phoenix-bench -- report tests/phoenix-bench/bench.json
//! ```
//!
//! `--help` lists the options (`--url` to measure against any server that
//! serves the fixture, `--clients`, `--cells`, counts, runs).
//!
//! ## How it is put together
//!
//! - The `phoenix-bench` binary is the orchestrator ([`run`]): it builds
//!   the peer clients (in `tests/phoenix-bench-peers`, a workspace of its
//!   own so that their dependencies' features stay theirs), starts the
//!   mock server ([`mock`], binary `bench-mock-server`) in a process of its
//!   own, then runs every client process in turn, interleaved, each cell at
//!   least three times, and collects what each one reports.
//! - Each client kind is a binary that does one workload given on its
//!   command line and prints one JSON line with its own measurements,
//!   CPU time from the operating system's accounting of the process
//!   (`phoenix_bench_probe`): `bench-floor` (the transport floor),
//!   `bench-tokio` and `bench-async-std` (our drivers, async API or
//!   callback model, the workloads in [`ours`]), `bench-blocking` (the
//!   blocking API, and the callback model on a socket thread),
//!   `bench-phoenix-chan` and `bench-pcc` (the peers), and
//!   `tests/js/bench-client.mjs` (phoenix.js on Node). [`clients`] lists
//!   them; adding one is an entry there.
//! - [`results`] is the JSON file and the statistics, [`report`] the
//!   tables and BENCHMARKS.md, [`svg`] the chart, [`codec`] the criterion
//!   benches of the codec, [`machine`] what the run was on.
#![forbid(unsafe_code)]

pub mod clients;
pub mod codec;
pub mod machine;
pub mod mock;
pub mod ours;
pub mod report;
pub mod results;
pub mod run;
pub mod svg;
