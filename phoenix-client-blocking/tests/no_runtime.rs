//! The crate's promise: no async runtime anywhere in its dependency tree.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

#[test]
fn no_async_runtime_in_the_dependency_tree() {
    let output = Command::new(env!("CARGO"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["tree", "-p", "phoenix-client-blocking", "-e", "normal"])
        .args(["--prefix", "none", "--format", "{p}", "--offline"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "cargo tree failed: {stderr}");
    let tree = String::from_utf8_lossy(&output.stdout);
    let crates: Vec<&str> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(crates.contains(&"polling"), "{tree}");
    for runtime in [
        "tokio",
        "async-std",
        "smol",
        "async-io",
        "async-executor",
        "async-global-executor",
    ] {
        assert!(
            !crates.contains(&runtime),
            "{runtime} is in the tree:\n{tree}"
        );
    }
}
