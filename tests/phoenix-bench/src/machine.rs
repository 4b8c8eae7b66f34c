//! What the run was on: the machine, its load, the toolchains and the
//! versions of the libraries measured.

use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::results::Machine;

/// The first line `command args` prints, or `unknown`.
pub fn command_line(command: &str, args: &[&str]) -> String {
    Command::new(command)
        .args(args)
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| {
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .next()
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "unknown".into())
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// The 1-, 5- and 15-minute load averages.
pub fn load() -> String {
    read("/proc/loadavg")
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Today's date (UTC), `YYYY-MM-DD`.
pub fn today() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (y, m, d) = civil_from_days(i64::try_from(secs / 86_400).unwrap_or(0));
    format!("{y:04}-{m:02}-{d:02}")
}

/// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// The version of `package` in a `Cargo.lock` (every version, joined, when
/// several are locked).
fn locked(lock: &str, package: &str) -> Option<String> {
    let needle = format!("name = \"{package}\"\nversion = \"");
    let versions: Vec<&str> = lock
        .match_indices(&needle)
        .filter_map(|(at, _)| {
            let rest = lock.get(at + needle.len()..)?;
            rest.get(..rest.find('"')?)
        })
        .collect();
    (!versions.is_empty()).then(|| versions.join(", "))
}

fn npm_version(root: &Path, package: &str) -> Option<String> {
    let path = root
        .join("tests/js/node_modules")
        .join(package)
        .join("package.json");
    let text = std::fs::read_to_string(path).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json.get("version")?.as_str().map(str::to_owned)
}

/// The machine as it is now, for the workspace at `root`.
pub fn describe(root: &Path, profile: &str) -> Machine {
    let cpuinfo = read("/proc/cpuinfo");
    let cpu = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map_or_else(|| "unknown".into(), |m| m.trim().to_owned());
    let memory_gib = read("/proc/meminfo")
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kib| kib.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0 / 1024.0);
    let root_lock = std::fs::read_to_string(root.join("Cargo.lock")).unwrap_or_default();
    let peers_lock = std::fs::read_to_string(root.join("tests/phoenix-bench-peers/Cargo.lock"))
        .unwrap_or_default();
    let mut versions = Vec::new();
    for (lock, package) in [
        (&root_lock, "tokio"),
        (&root_lock, "async-tungstenite"),
        (&root_lock, "tokio-tungstenite"),
        (&root_lock, "tungstenite"),
        (&root_lock, "async-io"),
        (&peers_lock, "phoenix-chan"),
        (&peers_lock, "phoenix_channels_client"),
    ] {
        if let Some(version) = locked(lock, package) {
            versions.push((package.to_owned(), version));
        }
    }
    for package in ["phoenix", "ws"] {
        if let Some(version) = npm_version(root, package) {
            versions.push((format!("npm {package}"), version));
        }
    }
    Machine {
        date: today(),
        cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu,
        memory_gib,
        kernel: read("/proc/sys/kernel/osrelease").trim().to_owned(),
        load_start: load(),
        load_end: String::new(),
        rustc: command_line("rustc", &["--version"]),
        profile: profile.to_owned(),
        node: command_line("node", &["--version"]),
        versions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_from_days() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(20_782), (2026, 11, 25));
    }

    #[test]
    fn versions_from_a_lock_file() {
        let lock = "[[package]]\nname = \"tokio\"\nversion = \"1.2.3\"\n\n[[package]]\nname = \"tungstenite\"\nversion = \"0.28.0\"\n[[package]]\nname = \"tungstenite\"\nversion = \"0.30.0\"\n";
        assert_eq!(locked(lock, "tokio").as_deref(), Some("1.2.3"));
        assert_eq!(
            locked(lock, "tungstenite").as_deref(),
            Some("0.28.0, 0.30.0")
        );
        assert_eq!(locked(lock, "nope"), None);
    }
}
