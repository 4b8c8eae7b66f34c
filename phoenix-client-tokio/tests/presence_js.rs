//! Our presence handle and phoenix.js's `Presence` watch the same topic on
//! the test server while clients join and leave; both end with the same
//! list (keys and `phx_ref`s). Needs Node.js and npm (`tests/js`); it fails
//! saying what to install when they are missing, and runs `npm ci` there
//! when the packages are.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use phoenix_client_tokio::{Builder, PresenceHandle};
use phoenix_test_server::TestServer;
use serde_json::json;

const JS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/js");

fn ensure_node_packages() {
    let js = Path::new(JS_DIR);
    let node = Command::new("node").arg("--version").output();
    assert!(
        matches!(node, Ok(ref o) if o.status.success()),
        "`node` was not found: install Node.js 20+ to run the phoenix.js presence cross-check"
    );
    let installed = |p: &str| {
        js.join("node_modules")
            .join(p)
            .join("package.json")
            .exists()
    };
    if !installed("phoenix") || !installed("ws") {
        let npm = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(js)
            .status();
        assert!(
            matches!(npm, Ok(s) if s.success()),
            "`npm ci` in tests/js failed ({npm:?}): install npm and make its registry reachable"
        );
    }
}

/// Our list in the script's terms: key -> sorted phx_refs.
fn ours(presence: &PresenceHandle) -> BTreeMap<String, Vec<String>> {
    presence
        .list()
        .into_iter()
        .map(|(key, entry)| {
            let mut refs: Vec<String> = entry
                .metas
                .iter()
                .filter_map(|m| m.get("phx_ref")?.as_str().map(str::to_owned))
                .collect();
            refs.sort();
            (key, refs)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_presence_handle_and_phoenix_js_agree() {
    ensure_node_packages();
    let server = TestServer::start().await.unwrap();
    let topic = "presence:crosscheck";
    let mut node = Command::new("node")
        .arg("presence-watch.mjs")
        .arg(server.socket_url())
        .arg(topic)
        .current_dir(JS_DIR)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn node");
    let mut to_js = node.stdin.take().unwrap();
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    let stdout = node.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if lines_tx.send(line.unwrap_or_default()).is_err() {
                break;
            }
        }
    });
    let next_line = || {
        lines_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("a line from presence-watch.mjs")
    };
    assert_eq!(next_line(), "ready");

    let alice = Builder::new(server.socket_url())
        .param("user_id", "alice")
        .connect();
    let watched = alice.channel(topic, &json!({}));
    let presence = watched.presence();
    watched.join().await.unwrap();
    let mut others = Vec::new();
    for user in ["bob", "carol", "bob"] {
        let client = Builder::new(server.socket_url())
            .param("user_id", user)
            .connect();
        let channel = client.channel(topic, &json!({}));
        channel.join().await.unwrap();
        others.push((client, channel));
    }
    // carol leaves, one of bob's two sockets goes away.
    others[1].1.leave().await.unwrap();
    others[0].0.shutdown().await;

    // Both watchers settle on the same list: ask until they agree.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        writeln!(to_js, "dump").unwrap();
        let theirs: BTreeMap<String, Vec<String>> = serde_json::from_str(&next_line()).unwrap();
        let ours = ours(&presence);
        if theirs == ours && ours.keys().eq(["alice", "bob", "js"]) && ours["bob"].len() == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the lists differ: ours {ours:?}, phoenix.js {theirs:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(to_js);
    let _ = node.wait();
    alice.shutdown().await;
    server.shutdown().await;
}
