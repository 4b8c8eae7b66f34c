//! The codec benches (`cargo bench -p phoenix-proto --bench codec`, criterion),
//! run as part of a full run and read back from criterion's JSON files.

use std::path::Path;
use std::process::{Command, Stdio};

use phoenix_bench_probe::Error;

use crate::results::CodecCase;

/// Criterion's groups, in the order of the bench file.
pub const CASES: &[&str] = &[
    "decode/reply_small",
    "decode/broadcast_1k",
    "decode/binary_push_1k",
    "decode_typed/broadcast_1k",
    "encode/push_small",
    "encode/push_1k",
    "encode/client_binary_1k",
];

/// Runs the codec benches and returns their medians.
///
/// # Errors
/// When cargo fails or a result file is missing.
pub fn run(root: &Path, target_dir: &Path) -> Result<Vec<CodecCase>, Error> {
    eprintln!("phoenix-bench: cargo bench -p phoenix-proto --bench codec (about a minute)");
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(root)
        .args(["bench", "-p", "phoenix-proto", "--bench", "codec"])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .status()?;
    if !status.success() {
        return Err(format!("cargo bench failed: {status}").into());
    }
    read(&target_dir.join("criterion"))
}

fn json(path: &Path) -> Result<serde_json::Value, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(serde_json::from_str(&text)?)
}

fn median_ns(dir: &Path) -> Result<f64, Error> {
    json(&dir.join("new/estimates.json"))?
        .pointer("/median/point_estimate")
        .and_then(serde_json::Value::as_f64)
        .ok_or_else(|| format!("no median in {}", dir.display()).into())
}

/// Reads the medians criterion saved under `criterion_dir`.
///
/// # Errors
/// When a result file is missing or malformed.
pub fn read(criterion_dir: &Path) -> Result<Vec<CodecCase>, Error> {
    CASES
        .iter()
        .map(|case| {
            let group = criterion_dir.join(case.replace('/', "_"));
            let bytes = json(&group.join("ours/new/benchmark.json"))?
                .pointer("/throughput/Bytes")
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(0);
            Ok(CodecCase {
                case: (*case).to_owned(),
                bytes,
                ours_ns: median_ns(&group.join("ours"))?,
                naive_ns: median_ns(&group.join("naive_value"))?,
            })
        })
        .collect()
}
