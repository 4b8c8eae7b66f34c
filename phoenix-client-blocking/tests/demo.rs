//! `cargo run -p phoenix-client-blocking --example blocking_demo` tells its whole
//! story against the embedded server, end to end.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command;

/// The example binary `cargo test` built next to this test's directory.
fn demo_binary() -> PathBuf {
    let test = std::env::current_exe().unwrap();
    let profile = test.parent().and_then(|deps| deps.parent()).unwrap();
    profile
        .join("examples")
        .join(format!("blocking_demo{}", std::env::consts::EXE_SUFFIX))
}

#[test]
fn the_demo_tells_the_whole_story() {
    let demo = demo_binary();
    assert!(
        demo.exists(),
        "{} is missing: `cargo test` builds the examples",
        demo.display()
    );
    let run = Command::new(&demo).output().unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stdout}\n{stderr}");
    let steps = [
        "started the embedded test server",
        "the `phoenix-socket` reactor thread",
        "reply: {\"hello\":\"world\"}",
        "refused: {\"reason\":\"unauthorized\"}",
        "bob received `broadcasted`",
        "server push `pushed`",
        "binary server push",
        "disconnected:",
        "reconnected",
        "echo:demo rejoined",
        "Done: every step worked.",
    ];
    let mut rest = stdout.as_ref();
    for step in steps {
        let at = rest
            .find(step)
            .unwrap_or_else(|| panic!("missing {step:?} (or out of order) in:\n{stdout}"));
        rest = &rest[at + step.len()..];
    }
}
