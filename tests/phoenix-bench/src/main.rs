//! `phoenix-bench`: the orchestrator (being written).

fn main() {}
