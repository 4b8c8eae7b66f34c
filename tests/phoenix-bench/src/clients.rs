//! The clients measured, in table order, and how each one's process is
//! started. Adding a client is adding an entry here (and its binary).

/// What a client is for the goals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The transport floor every goal is measured against.
    Floor,
    /// One of our drivers, callback model.
    OursCallback,
    /// One of our drivers, async or blocking API.
    OursApi,
    /// Another Phoenix client, for comparison.
    Peer,
}

impl Role {
    /// The name in the JSON file.
    pub fn name(self) -> &'static str {
        match self {
            Role::Floor => "floor",
            Role::OursCallback => "ours-callback",
            Role::OursApi => "ours-api",
            Role::Peer => "peer",
        }
    }
}

/// How a client's process is started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Launcher {
    /// A binary of this package, with extra arguments.
    Bin {
        /// Binary name.
        name: &'static str,
        /// Arguments before the workload's.
        args: &'static [&'static str],
    },
    /// A binary of the peers workspace (`tests/phoenix-bench-peers`),
    /// built by the harness in a cargo invocation of its own.
    Peer {
        /// Package and binary name.
        package: &'static str,
    },
    /// A script under `tests/js`, run by `node`.
    Node {
        /// Path relative to `tests/js`.
        script: &'static str,
    },
    /// Not available yet; the reason is shown in its column.
    Missing {
        /// Why.
        why: &'static str,
    },
}

/// One client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientSpec {
    /// Short id, used on the command line (`--clients`) and in the JSON.
    pub id: &'static str,
    /// Name in tables.
    pub label: &'static str,
    /// What it is and how the workloads use it.
    pub about: &'static str,
    /// Its part in the goals.
    pub role: Role,
    /// How to start it.
    pub launcher: Launcher,
}

/// Every client, in table order.
pub const CLIENTS: &[ClientSpec] = &[
    ClientSpec {
        id: "floor",
        label: "floor (tokio-tungstenite)",
        about: "tokio-tungstenite alone: frames encoded before the clock starts, replies found by scanning the text for the ref, no JSON parsing, no channel state; pipelined pushes written and flushed in batches; 4 KiB read buffer (`bench-floor`)",
        role: Role::Floor,
        launcher: Launcher::Bin {
            name: "bench-floor",
            args: &[],
        },
    },
    ClientSpec {
        id: "tokio-callback",
        label: "ours tokio, callback",
        about: "phoenix-client-tokio's callback model: one `Handler` pushes from its callbacks (`Context::push`) and counts replies and messages in `handle_reply`/`handle_message` (`bench-tokio --mode callback`)",
        role: Role::OursCallback,
        launcher: Launcher::Bin {
            name: "bench-tokio",
            args: &["--mode", "callback"],
        },
    },
    ClientSpec {
        id: "tokio-async",
        label: "ours tokio, async API",
        about: "phoenix-client-tokio's async API: `Channel::push::<_, serde_json::Value>` futures (pipelined with `buffer_unordered(1000)`), server pushes from the channel's `ChannelEvents` stream (`bench-tokio --mode async`)",
        role: Role::OursApi,
        launcher: Launcher::Bin {
            name: "bench-tokio",
            args: &["--mode", "async"],
        },
    },
    ClientSpec {
        id: "async-std-callback",
        label: "ours async-std, callback",
        about: "phoenix-client-async-std's callback model, the same handler; sockets on the global executor (`bench-async-std --mode callback`)",
        role: Role::OursCallback,
        launcher: Launcher::Bin {
            name: "bench-async-std",
            args: &["--mode", "callback"],
        },
    },
    ClientSpec {
        id: "async-std-async",
        label: "ours async-std, async API",
        about: "phoenix-client-async-std's async API, the same code as tokio's; sockets on the global executor, the workload in `async_global_executor::block_on` (`bench-async-std --mode async`)",
        role: Role::OursApi,
        launcher: Launcher::Bin {
            name: "bench-async-std",
            args: &["--mode", "async"],
        },
    },
    ClientSpec {
        id: "blocking-callback",
        label: "ours blocking, callback",
        about: "phoenix-client-blocking's callback model, the same handler, on the crate's reactor thread (`Builder::spawn_handler`); the main thread only starts each job and waits (`bench-blocking --mode callback`)",
        role: Role::OursCallback,
        launcher: Launcher::Bin {
            name: "bench-blocking",
            args: &["--mode", "callback"],
        },
    },
    ClientSpec {
        id: "blocking-api",
        label: "ours blocking API",
        about: "phoenix-client-blocking's blocking API from the main thread: `Channel::push::<_, serde_json::Value>` (pipelined from the same one thread with `Channel::start_push`: 1,000 `PendingPush`es outstanding, the oldest `wait`ed for before the next starts), server pushes from `ChannelEvents::recv`; every socket on the crate's reactor thread (`bench-blocking --mode api`)",
        role: Role::OursApi,
        launcher: Launcher::Bin {
            name: "bench-blocking",
            args: &["--mode", "api"],
        },
    },
    ClientSpec {
        id: "phoenix-chan",
        label: "phoenix-chan 0.4.6",
        about: "phoenix-chan 0.4.6: `send` then `recv::<serde_json::Value>` (replies matched by ref in the workload); pipelined with a writer and a reader side by side and a semaphore of 1,000; each idle socket has a task calling `recv` (which also sends heartbeats) (`tests/phoenix-bench-peers/phoenix-chan`)",
        role: Role::Peer,
        launcher: Launcher::Peer {
            package: "bench-phoenix-chan",
        },
    },
    ClientSpec {
        id: "pcc",
        label: "phoenix_channels_client 0.1.2",
        about: "phoenix_channels_client 0.1.2: `Channel::send` futures (pipelined with `buffer_unordered(1000)`), `Channel::on` for server pushes; built in a package of its own because it turns on tokio's `test-util` (`tests/phoenix-bench-peers/pcc`)",
        role: Role::Peer,
        launcher: Launcher::Peer {
            package: "bench-pcc",
        },
    },
    ClientSpec {
        id: "phoenix-js",
        label: "phoenix.js 1.8 (Node)",
        about: "the official JavaScript client (npm `phoenix` 1.8.x over `ws` 8.x) on Node: `channel.push(...).receive(\"ok\", ...)`, `channel.on(\"item\", ...)` (`tests/js/bench-client.mjs`)",
        role: Role::Peer,
        launcher: Launcher::Node {
            script: "bench-client.mjs",
        },
    },
];

/// The client with id `id`.
pub fn find(id: &str) -> Option<&'static ClientSpec> {
    CLIENTS.iter().find(|c| c.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_there_is_one_floor() {
        for (i, a) in CLIENTS.iter().enumerate() {
            assert!(CLIENTS.iter().skip(i + 1).all(|b| b.id != a.id), "{}", a.id);
        }
        assert_eq!(CLIENTS.iter().filter(|c| c.role == Role::Floor).count(), 1);
        assert_eq!(find("pcc").map(|c| c.role), Some(Role::Peer));
    }
}
