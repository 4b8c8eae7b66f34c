//! Runs the official phoenix.js client (`tests/js/check.mjs`) against the test
//! server. Needs Node.js and npm; when `tests/js/node_modules` is missing the
//! test runs `npm ci` there itself (from the committed lock file). It fails
//! (never skips) when Node.js, npm or the packages cannot be had.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use phoenix_test_server::{ServerConfig, TestServer};

const JS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../js");
const TIMEOUT: Duration = Duration::from_secs(90);

#[test]
fn official_js_client_passes_every_check() {
    let js_dir = Path::new(JS_DIR);
    let node_ok = Command::new("node")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        node_ok,
        "`node` was not found: install Node.js (>= 18) to run tests/js/check.mjs"
    );
    let installed = |package: &str| {
        js_dir
            .join("node_modules")
            .join(package)
            .join("package.json")
            .exists()
    };
    if !installed("phoenix") || !installed("ws") {
        let npm = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(js_dir)
            .status();
        assert!(
            matches!(npm, Ok(status) if status.success()),
            "`npm ci` in tests/js failed ({npm:?}): install Node.js and npm, and make the npm registry reachable"
        );
    }
    for package in ["phoenix", "ws"] {
        assert!(
            js_dir
                .join("node_modules")
                .join(package)
                .join("package.json")
                .exists(),
            "tests/js/node_modules/{package} is missing: run `npm ci` in tests/js"
        );
    }

    let server = TestServer::start_blocking(ServerConfig::default()).expect("start server");
    let mut child = Command::new("node")
        .arg("check.mjs")
        .arg(server.socket_url())
        .current_dir(js_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn node");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for node") {
            break status;
        }
        if started.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("node check.mjs did not finish within {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        status.success(),
        "check.mjs failed ({status}):\n{stdout}\n{stderr}"
    );
    let last = stdout.lines().last().unwrap_or("");
    assert!(
        last.starts_with("js client: ") && last.ends_with(" passed, 0 failed"),
        "summary line: {last}"
    );
    assert!(!last.starts_with("js client: 0 passed"), "no check ran");
    // The reconnect check really reconnected: more connections were opened than sockets used.
    assert!(
        server.stats().connections_opened >= 6,
        "{:?}",
        server.stats()
    );
}
