//! The JSON file of a run (every sample, as the client processes reported
//! them) and the figures derived from it: each cell's median, min and max.

use serde::{Deserialize, Serialize};

pub use phoenix_bench_probe::Report;

/// Version of the file format.
pub const FORMAT: u32 = 1;

/// Everything one run measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchFile {
    /// [`FORMAT`].
    pub format: u32,
    /// `full` or `quick`.
    pub mode: String,
    /// The command that produced the file.
    pub command: String,
    /// The machine, the toolchains and the versions measured.
    pub machine: Machine,
    /// Message counts and socket counts.
    pub params: Params,
    /// Every client, in table order, with why it did not run if it did not.
    pub clients: Vec<ClientEntry>,
    /// One per client process that finished its workload.
    pub samples: Vec<Sample>,
    /// One per client process that failed.
    pub failures: Vec<Failure>,
    /// The codec benches, when they ran in this run.
    #[serde(default)]
    pub codec: Option<Vec<CodecCase>>,
    /// Wall-clock time of the whole run.
    pub duration_s: f64,
}

/// The machine and what ran on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Machine {
    /// UTC date of the run, `YYYY-MM-DD`.
    pub date: String,
    /// Cores (`nproc`).
    pub cores: usize,
    /// `model name` from /proc/cpuinfo.
    pub cpu: String,
    /// Total memory in GiB.
    pub memory_gib: f64,
    /// Kernel release.
    pub kernel: String,
    /// /proc/loadavg's 1/5/15-minute averages when the run started.
    pub load_start: String,
    /// The same when it ended.
    pub load_end: String,
    /// `rustc --version`.
    pub rustc: String,
    /// The cargo profile of the Rust clients (`release` or `dev`).
    pub profile: String,
    /// `node --version`.
    pub node: String,
    /// Versions of the libraries measured (`name` → version).
    pub versions: Vec<(String, String)>,
}

/// The sizes of the workloads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Params {
    /// Runs of each cell.
    pub runs: u32,
    /// Sequential pushes measured (after `seq_warmup`).
    pub seq_count: u64,
    /// Sequential pushes before the measurement.
    pub seq_warmup: u64,
    /// Pipelined pushes.
    pub pipe_count: u64,
    /// Pipelined pushes in flight.
    pub inflight: u64,
    /// Server pushes received.
    pub recv_count: u64,
    /// Server pushes of the flood into a slow reader (our clients only).
    #[serde(default)]
    pub flood_count: u64,
    /// The flood's reader pauses after this many messages ...
    #[serde(default)]
    pub flood_pause_every: u64,
    /// ... for this long, in µs.
    #[serde(default)]
    pub flood_pause_us: u64,
    /// Idle socket counts, one cell each.
    pub idle_sockets: Vec<u64>,
    /// Wait after the last join before memory is read, in ms.
    pub settle_ms: u64,
    /// How long our clients keep the sockets of the largest idle cell
    /// after the memory is read, with heartbeats, before they check them
    /// and read it again, in ms (0, or absent in older files: no hold).
    #[serde(default)]
    pub hold_ms: u64,
    /// The heartbeat interval of the held sockets, in ms.
    #[serde(default)]
    pub heartbeat_ms: u64,
    /// The server: `mock` or the URL given.
    pub server: String,
}

impl Params {
    /// The idle cell whose sockets our clients hold: the one with the most
    /// sockets, when there is a hold.
    pub fn held_cell(&self) -> Option<String> {
        if self.hold_ms == 0 || self.heartbeat_ms == 0 {
            return None;
        }
        self.idle_sockets
            .iter()
            .max()
            .map(|sockets| BenchFile::idle_cell(*sockets))
    }
}

/// A client and whether it ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientEntry {
    /// Short id, e.g. `tokio-callback`.
    pub id: String,
    /// Name in tables.
    pub label: String,
    /// `floor`, `ours-callback`, `ours-api` or `peer`.
    pub role: String,
    /// What it is and how it is used.
    pub about: String,
    /// Why it did not run (`did not build: ...`), or `None`.
    pub status: Option<String>,
}

/// One client process's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// [`ClientEntry::id`].
    pub client: String,
    /// The cell: `seq`, `pipe`, `recv`, `idle1000`, ...
    pub cell: String,
    /// 1-based run number.
    pub run: u32,
    /// What the client reported.
    pub report: Report,
    /// CPU time of the whole process (setup included), from the
    /// operating system's accounting of the children the harness waited for.
    pub process_cpu_s: f64,
    /// Wall-clock time of the whole process.
    pub process_wall_s: f64,
}

/// A client process that failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    /// [`ClientEntry::id`].
    pub client: String,
    /// The cell.
    pub cell: String,
    /// 1-based run number.
    pub run: u32,
    /// What went wrong (the end of its stderr, a timeout, ...).
    pub error: String,
}

/// One codec bench: ours against the naive baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CodecCase {
    /// Criterion's group, e.g. `decode/reply_small`.
    pub case: String,
    /// Frame bytes.
    pub bytes: u64,
    /// Median time of ours, ns.
    pub ours_ns: f64,
    /// Median time of the naive baseline, ns.
    pub naive_ns: f64,
}

/// Median, min and max of a cell's runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stat {
    /// Median (the mean of the middle two for an even count).
    pub median: f64,
    /// Smallest.
    pub min: f64,
    /// Largest.
    pub max: f64,
    /// Runs.
    pub n: usize,
}

impl Stat {
    /// The statistics of `values`; `None` when empty.
    pub fn of(mut values: Vec<f64>) -> Option<Stat> {
        values.retain(|v| v.is_finite());
        values.sort_by(f64::total_cmp);
        let n = values.len();
        let (min, max) = (*values.first()?, *values.last()?);
        let middle = |i: usize| values.get(i).copied().unwrap_or(f64::NAN);
        let median = if n % 2 == 1 {
            middle(n / 2)
        } else {
            (middle(n / 2 - 1) + middle(n / 2)) / 2.0
        };
        Some(Stat {
            median,
            min,
            max,
            n,
        })
    }
}

/// A figure the tables show, computed from one sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// CPU seconds per 100,000 messages.
    CpuPer100k,
    /// Messages per second.
    Rate,
    /// Sequential latency p50, µs.
    P50,
    /// Sequential latency p99, µs.
    P99,
    /// Peak resident memory, MiB.
    PeakRssMib,
    /// Resident memory per idle joined socket, KiB.
    RssPerSocketKib,
    /// Time to connect and join every socket, s.
    ConnectS,
    /// Heartbeats answered over all sockets during the hold.
    Heartbeats,
    /// Resident memory per socket at the end of the hold, KiB.
    RssHeldPerSocketKib,
}

impl Metric {
    /// The value of this metric in `report`, if it has one.
    pub fn of(self, report: &Report) -> Option<f64> {
        let count = report.count as f64;
        match self {
            Metric::CpuPer100k => (count > 0.0).then(|| report.cpu_s / count * 1e5),
            Metric::Rate => (report.wall_s > 0.0).then(|| count / report.wall_s),
            Metric::P50 => report.latency_us.map(|l| l.p50),
            Metric::P99 => report.latency_us.map(|l| l.p99),
            Metric::PeakRssMib => Some(report.peak_rss_kib as f64 / 1024.0),
            Metric::RssPerSocketKib => match (report.rss_before_kib, report.rss_after_kib) {
                (Some(before), Some(after)) if count > 0.0 => {
                    Some((after as f64 - before as f64) / count)
                }
                _ => None,
            },
            Metric::ConnectS => report.rss_after_kib.map(|_| report.wall_s),
            Metric::Heartbeats => report.heartbeats.map(|h| h as f64),
            Metric::RssHeldPerSocketKib => match (report.rss_before_kib, report.rss_held_kib) {
                (Some(before), Some(held)) if count > 0.0 => {
                    Some((held as f64 - before as f64) / count)
                }
                _ => None,
            },
        }
    }
}

impl BenchFile {
    /// The statistics of `metric` over the runs of `client` in `cell`.
    pub fn stat(&self, client: &str, cell: &str, metric: Metric) -> Option<Stat> {
        let values = self
            .samples
            .iter()
            .filter(|s| s.client == client && s.cell == cell)
            .filter_map(|s| metric.of(&s.report))
            .collect();
        Stat::of(values)
    }

    /// Why `client` has no figure in `cell`: it did not run, or it failed.
    pub fn missing(&self, client: &str, cell: &str) -> Option<String> {
        if let Some(status) = self
            .clients
            .iter()
            .find(|c| c.id == client)
            .and_then(|c| c.status.clone())
        {
            return Some(status);
        }
        self.failures
            .iter()
            .find(|f| f.client == client && f.cell == cell)
            .map(|f| format!("failed: {}", f.error))
    }

    /// The name of the idle cell for `sockets`.
    pub fn idle_cell(sockets: u64) -> String {
        format!("idle{sockets}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_min_max() {
        let stat = Stat::of(vec![3.0, 1.0, 2.0]).unwrap();
        assert_eq!(
            (stat.median, stat.min, stat.max, stat.n),
            (2.0, 1.0, 3.0, 3)
        );
        assert_eq!(Stat::of(vec![1.0, 4.0]).unwrap().median, 2.5);
        assert_eq!(Stat::of(vec![]), None);
    }

    #[test]
    fn metrics_from_a_report() {
        let report = Report {
            workload: "idle".into(),
            count: 1000,
            wall_s: 2.0,
            cpu_s: 0.5,
            rss_before_kib: Some(1000),
            rss_after_kib: Some(21_000),
            peak_rss_kib: 2048,
            ..Report::default()
        };
        assert_eq!(Metric::RssPerSocketKib.of(&report), Some(20.0));
        assert_eq!(Metric::ConnectS.of(&report), Some(2.0));
        assert_eq!(Metric::CpuPer100k.of(&report), Some(50.0));
        assert_eq!(Metric::Rate.of(&report), Some(500.0));
        assert_eq!(Metric::PeakRssMib.of(&report), Some(2.0));
        assert_eq!(Metric::P50.of(&report), None);
        assert_eq!(Metric::Heartbeats.of(&report), None);
        assert_eq!(Metric::RssHeldPerSocketKib.of(&report), None);
        let held = Report {
            rss_held_kib: Some(22_000),
            heartbeats: Some(5_000),
            ..report
        };
        assert_eq!(Metric::Heartbeats.of(&held), Some(5000.0));
        assert_eq!(Metric::RssHeldPerSocketKib.of(&held), Some(21.0));
    }
}
