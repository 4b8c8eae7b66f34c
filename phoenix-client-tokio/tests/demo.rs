//! The project's main job, `cargo run -p phoenix-client-tokio --example
//! demo`, runs its whole narrated session against the embedded server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

#[test]
fn the_demo_runs_every_step() {
    let exe = std::env::current_exe().unwrap();
    let target = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let demo = target.join("examples").join("demo");
    assert!(
        demo.exists(),
        "{} is missing: run the tests with `cargo test` (which builds examples)",
        demo.display()
    );
    let output = Command::new(demo).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for step in [
        "started the embedded test server",
        "refused: {\"reason\":\"unauthorized\"}",
        "bob received `broadcasted`",
        "binary server push",
        "disconnected:",
        "reconnected",
        "echo:demo rejoined",
        "Done: every step worked.",
    ] {
        assert!(stdout.contains(step), "missing {step:?} in:\n{stdout}");
    }
}
