//! # phoenix-bench
//!
//! (crate docs are written below, once the orchestrator exists)

pub mod mock;
pub mod ours;
