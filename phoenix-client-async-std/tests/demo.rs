//! `cargo run -p phoenix-client-async-std --example async_std_demo` runs its whole
//! narrated session against the embedded server, on async-std and on smol.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

fn run_demo(args: &[&str]) -> String {
    let exe = std::env::current_exe().unwrap();
    let target = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let demo = target.join("examples").join("async_std_demo");
    assert!(
        demo.exists(),
        "{} is missing: run the tests with `cargo test` (which builds examples)",
        demo.display()
    );
    let output = Command::new(demo).args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for step in [
        "started the embedded test server",
        "reply: {\"hello\":\"world\"}",
        "refused: {\"reason\":\"unauthorized\"}",
        "bob received `broadcasted`",
        "server push `pushed`",
        "binary server push: bytes [4, 5, 6]",
        "disconnected:",
        "reconnected",
        "echo:demo rejoined",
        "Done: every step worked.",
    ] {
        assert!(stdout.contains(step), "missing {step:?} in:\n{stdout}");
    }
    stdout
}

#[test]
fn the_demo_runs_every_step_on_async_std() {
    let stdout = run_demo(&[]);
    assert!(stdout.contains("Running on async-std"), "{stdout}");
}

#[test]
fn the_demo_runs_every_step_on_smol() {
    let stdout = run_demo(&["--smol"]);
    assert!(stdout.contains("Running on smol"), "{stdout}");
}
