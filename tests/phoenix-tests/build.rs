//! Turns `PHOENIX_URL` into `cfg(phoenix_url)`, for every target of
//! phoenix-tests (the lib and each driver's `tests/*.rs`), so that the
//! scenarios marked in `all_scenarios!` as needing the embedded test server
//! are compiled with `#[ignore]` when the suite runs against a real server.
//! Cargo reruns this, and rebuilds the tests, whenever the variable changes.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(phoenix_url)");
    println!("cargo::rerun-if-env-changed=PHOENIX_URL");
    if std::env::var_os("PHOENIX_URL").is_some() {
        println!("cargo::rustc-cfg=phoenix_url");
    }
}
