//! The `phx` example as a user runs it: stdin lines in, one JSON object per
//! line out.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use phoenix_test_server::{ServerConfig, TestServer};
use serde_json::{Value, json};

/// `cargo test` builds the examples next to the test binaries' folder.
fn phx_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let target = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let path = target.join("examples").join("phx");
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo test` (which builds examples)",
        path.display()
    );
    path
}

#[test]
fn phx_joins_pushes_stdin_lines_and_prints_json() {
    let server = TestServer::start_blocking(ServerConfig::default()).unwrap();
    let mut child = Command::new(phx_binary())
        .arg(server.socket_url())
        .args(["--topic", "echo:cli", "--topic", "echo:other"])
        .args(["--param", "user_id=7", "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let stdin = child.stdin.as_mut().unwrap();
        writeln!(stdin, r#"echo {{"a":1}}"#).unwrap();
        writeln!(stdin, r#"@echo:other error {{"why":"x"}}"#).unwrap();
        writeln!(stdin, "broadcast").unwrap();
        writeln!(stdin, "not json here {{").unwrap();
    }
    drop(child.stdin.take());
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{output:?}");
    let lines: Vec<Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?} is not JSON: {e}")))
        .collect();
    let has = |wanted: &Value| lines.iter().any(|l| l == wanted);
    for wanted in [
        json!({"type":"reply","topic":"echo:cli","event":"phx_join","status":"ok","response":{"joined":"echo:cli"}}),
        json!({"type":"reply","topic":"echo:other","event":"phx_join","status":"ok","response":{"joined":"echo:other"}}),
        json!({"type":"reply","topic":"echo:cli","event":"echo","status":"ok","response":{"a":1}}),
        json!({"type":"reply","topic":"echo:other","event":"error","status":"error","response":{"why":"x"}}),
        json!({"type":"message","topic":"echo:cli","event":"broadcasted","payload":{}}),
        json!({"type":"reply","topic":"echo:cli","event":"broadcast","status":"ok","response":{}}),
    ] {
        assert!(has(&wanted), "missing {wanted} in {lines:#?}");
    }
    assert!(
        lines.iter().any(
            |l| l["type"] == "error" && l["message"].as_str().unwrap().contains("cannot parse")
        ),
        "a bad line is reported: {lines:#?}"
    );
}
