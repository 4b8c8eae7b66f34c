//! The `phx` binary (feature `cli`) as a user runs it: stdin lines in, one
//! JSON object per line out, and the exit codes scripts rely on.
//!
//! Run with `cargo test -p phoenix-client-tokio --features cli --test phx_cli`
//! (the target needs the feature, so cargo builds the binary for it).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use phoenix_test_server::{ServerConfig, TestServer};
use serde_json::{Value, json};

/// The exit codes `phx --help` documents.
const REFUSED: i32 = 3;
const JOIN_FAILED: i32 = 4;
const TIMED_OUT: i32 = 5;

/// What a finished `phx` run left.
#[derive(Debug)]
struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

impl Run {
    fn code(&self) -> i32 {
        self.status.code().expect("exited, not killed")
    }

    /// Every stdout line as JSON (for `--json` runs).
    fn records(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?} is not JSON: {e}")))
            .collect()
    }
}

fn phx(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_phx"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Runs `phx` with `lines` on stdin; closes stdin afterwards unless
/// `keep_stdin_open`. Kills it and fails after 30 s.
fn run(args: &[&str], lines: &[&str], keep_stdin_open: bool) -> Run {
    let started = Instant::now();
    let mut child = phx(args);
    let mut stdin = child.stdin.take().unwrap();
    for line in lines {
        writeln!(stdin, "{line}").unwrap();
    }
    let stdin = if keep_stdin_open {
        Some(stdin)
    } else {
        drop(stdin);
        None
    };
    // Read the pipes on threads so that a chatty child never blocks.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out = thread::spawn(move || {
        let mut s = String::new();
        out.read_to_string(&mut s).unwrap();
        s
    });
    let err = thread::spawn(move || {
        let mut s = String::new();
        err.read_to_string(&mut s).unwrap();
        s
    });
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(30) {
            child.kill().unwrap();
            let _ = child.wait();
            panic!(
                "phx {args:?} still running after 30 s; stdout: {}",
                out.join().unwrap()
            );
        }
        thread::sleep(Duration::from_millis(20));
    };
    let elapsed = started.elapsed();
    drop(stdin);
    Run {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
        elapsed,
    }
}

#[test]
fn phx_joins_pushes_stdin_lines_and_prints_json() {
    let server = TestServer::start_blocking(ServerConfig::default()).unwrap();
    let url = server.socket_url();
    let result = run(
        &[
            &url,
            "--topic",
            "echo:cli",
            "--topic",
            "echo:other",
            "--param",
            "user_id=7",
            "--header",
            "x-api-key: K",
            "--json",
        ],
        &[
            r#"echo {"a":1}"#,
            r#"@echo:other error {"why":"x"}"#,
            "broadcast",
            "not json here {",
        ],
        false,
    );
    assert_eq!(result.code(), 0, "{result:?}");
    let lines = result.records();
    let has = |wanted: &Value| lines.iter().any(|l| l == wanted);
    for wanted in [
        json!({"type":"reply","topic":"echo:cli","event":"phx_join","status":"ok","response":{"joined":"echo:cli"}}),
        json!({"type":"reply","topic":"echo:other","event":"phx_join","status":"ok","response":{"joined":"echo:other"}}),
        json!({"type":"reply","topic":"echo:cli","event":"echo","status":"ok","response":{"a":1}}),
        json!({"type":"reply","topic":"echo:other","event":"error","status":"error","response":{"why":"x"}}),
        json!({"type":"message","topic":"echo:cli","event":"broadcasted","payload":{}}),
        json!({"type":"reply","topic":"echo:cli","event":"broadcast","status":"ok","response":{}}),
        json!({"type":"status","message":"Connected"}),
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

#[test]
fn phx_prints_readable_lines_without_json() {
    let server = TestServer::start_blocking(ServerConfig::default()).unwrap();
    let url = server.socket_url();
    let result = run(
        &[&url, "-t", "echo:human"],
        &[r#"echo {"a":1}"#, "broadcast"],
        false,
    );
    assert_eq!(result.code(), 0, "{result:?}");
    for wanted in [
        r#"> echo:human phx_join -> ok {"joined":"echo:human"}"#,
        r#"> echo:human echo -> ok {"a":1}"#,
        "< echo:human broadcasted {}",
        "* Connected",
    ] {
        assert!(
            result.stdout.lines().any(|l| l == wanted),
            "missing {wanted:?} in:\n{}",
            result.stdout
        );
    }
}

#[test]
fn phx_count_exits_0_after_n_messages_even_with_stdin_open() {
    let server = TestServer::start_blocking(ServerConfig::default()).unwrap();
    let url = server.socket_url();
    let result = run(
        &[
            &url,
            "--topic",
            "echo:count",
            "--json",
            "--count",
            "3",
            "--timeout",
            "20",
        ],
        &[r#"many {"n":5}"#],
        true,
    );
    assert_eq!(result.code(), 0, "{result:?}");
    let items: Vec<Value> = result
        .records()
        .into_iter()
        .filter(|l| l["type"] == "message")
        .collect();
    assert_eq!(
        items,
        (1..=3)
            .map(
                |i| json!({"type":"message","topic":"echo:count","event":"item","payload":{"i":i}})
            )
            .collect::<Vec<_>>(),
        "exactly 3 messages, then exit: {result:?}"
    );
}

#[test]
fn phx_count_adds_up_messages_across_topics() {
    let server = TestServer::start_blocking(ServerConfig::default()).unwrap();
    let url = server.socket_url();
    let result = run(
        &[
            &url,
            "-t",
            "echo:a",
            "-t",
            "echo:b",
            "--json",
            "-n",
            "2",
            "--timeout",
            "20",
        ],
        &["push_me", "@echo:b push_me"],
        false,
    );
    assert_eq!(result.code(), 0, "{result:?}");
    let topics: Vec<Value> = result
        .records()
        .into_iter()
        .filter(|l| l["type"] == "message")
        .map(|l| l["topic"].clone())
        .collect();
    assert_eq!(topics.len(), 2, "{result:?}");
    assert!(topics.contains(&json!("echo:a")) && topics.contains(&json!("echo:b")));
}

#[test]
fn phx_refused_upgrade_exits_3_with_the_http_status() {
    let server = TestServer::start_blocking(ServerConfig {
        auth_token: Some("secret".to_owned()),
        ..ServerConfig::default()
    })
    .unwrap();
    let url = server.socket_url();
    let refused = run(&[&url, "--topic", "echo:x", "--timeout", "20"], &[], true);
    assert_eq!(refused.code(), REFUSED, "{refused:?}");
    assert!(refused.stderr.contains("HTTP 403"), "{refused:?}");

    // The same server with the token: the join goes through.
    let accepted = run(
        &[&url, "--topic", "echo:x", "--token", "secret", "--json"],
        &[],
        false,
    );
    assert_eq!(accepted.code(), 0, "{accepted:?}");
    assert!(
        accepted.stdout.contains(r#""joined":"echo:x""#),
        "{accepted:?}"
    );
}

#[test]
fn phx_unreachable_server_exits_3() {
    // A port nobody listens on any more.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("ws://127.0.0.1:{port}/socket");
    let result = run(&[&url, "--topic", "echo:x", "--timeout", "20"], &[], true);
    assert_eq!(result.code(), REFUSED, "{result:?}");
    assert!(
        result.stderr.starts_with("phx: cannot connect"),
        "{result:?}"
    );
}

#[test]
fn phx_refused_join_exits_4_with_the_reason() {
    let server = TestServer::start_blocking(ServerConfig::default()).unwrap();
    let url = server.socket_url();
    let result = run(
        &[&url, "--topic", "echo:ok", "--topic", "auth:x", "--json"],
        &[],
        true,
    );
    assert_eq!(result.code(), JOIN_FAILED, "{result:?}");
    assert!(
        result.records().contains(
            &json!({"type":"reply","topic":"auth:x","event":"phx_join","status":"error","response":{"reason":"unauthorized"}})
        ),
        "{result:?}"
    );
    assert!(
        result.stderr.contains("join auth:x") && result.stderr.contains("unauthorized"),
        "{result:?}"
    );

    let crashed = run(&[&url, "--topic", "crash_join:x"], &[], true);
    assert_eq!(crashed.code(), JOIN_FAILED, "{crashed:?}");
    assert!(crashed.stderr.contains("join crashed"), "{crashed:?}");

    // With the join payload the fixture asks for, the same topic joins.
    let joined = run(
        &[
            &url,
            "--topic",
            "auth:x",
            "--join-payload",
            r#"{"token":"secret"}"#,
        ],
        &[],
        false,
    );
    assert_eq!(joined.code(), 0, "{joined:?}");
}

#[test]
fn phx_timeout_exits_5_when_count_is_not_reached() {
    let server = TestServer::start_blocking(ServerConfig::default()).unwrap();
    let url = server.socket_url();
    let result = run(
        &[
            &url,
            "--topic",
            "echo:quiet",
            "--count",
            "1",
            "--timeout",
            "0.5",
        ],
        &[],
        false,
    );
    assert_eq!(result.code(), TIMED_OUT, "{result:?}");
    assert!(
        result
            .stderr
            .contains("timed out after 0.5s: 0 of 1 message(s)"),
        "{result:?}"
    );
    assert!(result.elapsed < Duration::from_secs(10), "{result:?}");
}

#[test]
fn phx_timeout_without_count_exits_5_while_stdin_is_open() {
    let server = TestServer::start_blocking(ServerConfig::default()).unwrap();
    let url = server.socket_url();
    let result = run(
        &[&url, "--topic", "echo:quiet", "--timeout", "0.5"],
        &[],
        true,
    );
    assert_eq!(result.code(), TIMED_OUT, "{result:?}");
    assert!(result.stderr.contains("stdin still open"), "{result:?}");

    // Ending before the deadline is a plain success.
    let quick = run(
        &[&url, "--topic", "echo:quiet", "--timeout", "20"],
        &[],
        false,
    );
    assert_eq!(quick.code(), 0, "{quick:?}");
}

#[test]
fn phx_help_and_usage_errors() {
    let help = run(&["--help"], &[], false);
    assert_eq!(help.code(), 0, "{help:?}");
    for wanted in [
        "--topic",
        "--param",
        "--token",
        "--header",
        "--join-payload",
        "--json",
        "--count",
        "--timeout",
        "EXIT CODES",
    ] {
        assert!(help.stdout.contains(wanted), "{wanted} in {}", help.stdout);
    }
    for args in [
        &["ws://localhost:1/socket"][..],
        &["ws://localhost:1/socket", "-t", "x", "--param", "novalue"],
        &["ws://localhost:1/socket", "-t", "x", "--count", "0"],
        &["ws://localhost:1/socket", "-t", "x", "--timeout", "soon"],
        &["ws://localhost:1/socket", "-t", "x", "--join-payload", "{"],
    ] {
        let usage = run(args, &[], false);
        assert_eq!(usage.code(), 2, "{usage:?}");
        assert!(usage.stderr.contains("error:"), "{usage:?}");
    }
}
