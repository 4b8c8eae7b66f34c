//! # phoenix-bench-probe
//!
//! What every Rust client process of `phoenix-bench` shares: the command
//! line it is given, its CPU and memory readings, and the one JSON line it
//! prints. The Node client (`tests/js/bench-client.mjs`) speaks the same
//! protocol.
//!
//! A client process is started as
//!
//! ```text
//! bench-<kind> --url ws://127.0.0.1:PORT/socket --workload seq|pipe|recv|flood|idle
//!              [--count N] [--warmup N] [--inflight K] [--sockets S]
//!              [--settle-ms MS] [--pause-every K] [--pause-us US] [--mode MODE]
//!              [--hold-ms MS [--heartbeat-ms MS]]
//! ```
//!
//! does the workload against a server that serves the project's fixture
//! (`echo:*` topics: `echo` replies with its payload, `many` pushes `n`
//! `item` messages), and prints one line of JSON, a [`Report`], on stdout.
//! CPU time is the operating system's accounting of the whole process
//! (`getrusage(RUSAGE_SELF)`, user + system, every thread), read when the
//! measured part of the workload starts and when it ends, so connecting,
//! joining and warming up are not counted.
//!
//! `--hold-ms` (idle only, our clients only; see [`Hold`]) keeps the idle
//! sockets open with heartbeats every `--heartbeat-ms` after the memory is
//! read, then checks that every one of them is still connected and joined
//! and had its heartbeats answered, and reads the memory again. The other
//! clients are never given it.
//!
//! Kept apart from `phoenix-bench` so that a client with awkward
//! dependencies (`phoenix_channels_client` turns on tokio's `test-util`)
//! can live in a package of its own and still share this.
#![forbid(unsafe_code)]

use std::fmt;
use std::io::Write;
use std::time::{Duration, Instant};

use nix::sys::resource::{Resource, UsageWho, getrlimit, getrusage, setrlimit};
use nix::sys::time::TimeVal;
use serde::{Deserialize, Serialize};

/// Any error of a client process; it is printed on stderr and the process
/// exits with status 1.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// The topic of the single-socket workloads.
pub const TOPIC: &str = "echo:bench";
/// The event every push sends; the fixture replies `ok` with the payload.
pub const ECHO_EVENT: &str = "echo";
/// The payload of every push, as JSON.
pub const BODY_JSON: &str = r#"{"body":"hello"}"#;
/// The event that asks the server to push `n` messages (`{"n": n}`).
pub const MANY_EVENT: &str = "many";
/// The event of the messages the server pushes for [`MANY_EVENT`].
pub const ITEM_EVENT: &str = "item";

/// The payload of every push, for clients that serialize a value.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Body {
    /// Always `"hello"`.
    pub body: &'static str,
}

/// [`BODY_JSON`] as a value.
pub const BODY: Body = Body { body: "hello" };

/// The topic of idle socket number `index`.
pub fn idle_topic(index: usize) -> String {
    format!("echo:idle{index}")
}

/// The WebSocket URL of a socket endpoint (`ws://host:port/socket`), for
/// clients that want the full URL with `vsn`.
pub fn websocket_url(endpoint: &str) -> String {
    format!("{}/websocket?vsn=2.0.0", endpoint.trim_end_matches('/'))
}

/// What a client process does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// `warmup` pushes, then `count` pushes one after the other, each
    /// waiting for its reply; the latency of each is recorded.
    Seq {
        /// Measured pushes.
        count: u64,
        /// Unmeasured pushes first.
        warmup: u64,
    },
    /// `count` pushes with up to `inflight` awaiting their replies.
    Pipe {
        /// Pushes.
        count: u64,
        /// Pushes in flight at most.
        inflight: u64,
    },
    /// One `many` push; the server pushes `count` messages back.
    Recv {
        /// Messages received.
        count: u64,
    },
    /// A flood into a slow reader: one `many` push, the server pushes
    /// `count` messages, and the client sleeps `pause` after every
    /// `pause_every` messages it reads, so the server is faster than the
    /// reader all along. The client checks that every message arrived, in
    /// order (`i` = 1, 2, ...), and reports its memory before the flood and
    /// its peak: the driver's back-pressure (stop reading while a channel's
    /// queue is full) must keep memory bounded without dropping anything.
    Flood {
        /// Messages received.
        count: u64,
        /// Messages read between pauses.
        pause_every: u64,
        /// Each pause.
        pause: Duration,
    },
    /// `sockets` sockets, each joined to its own topic, then idle for
    /// `settle` before the resident memory is read.
    Idle {
        /// Sockets in this process.
        sockets: u64,
        /// Wait after the last join.
        settle: Duration,
    },
}

impl Workload {
    /// The name on the command line and in the reports.
    pub fn name(&self) -> &'static str {
        match self {
            Workload::Seq { .. } => "seq",
            Workload::Pipe { .. } => "pipe",
            Workload::Recv { .. } => "recv",
            Workload::Flood { .. } => "flood",
            Workload::Idle { .. } => "idle",
        }
    }
}

/// A client process's command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    /// The socket endpoint, e.g. `ws://127.0.0.1:4000/socket` (no `/websocket`).
    pub url: String,
    /// What to do.
    pub workload: Workload,
    /// A client-specific variant, e.g. `async` or `callback`.
    pub mode: Option<String>,
    /// The idle workload's hold phase (`--hold-ms`), if any.
    pub hold: Option<Hold>,
}

/// The hold phase of the idle workload: every socket is built with a
/// heartbeat every `heartbeat`; after the joins, the settling time and the
/// memory reading, the process keeps every socket for `hold`, then checks
/// that each one is still connected and joined and that its heartbeats were
/// answered ([`Report::heartbeats`]), and reads the memory again
/// ([`Report::rss_held_kib`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hold {
    /// How long the sockets are kept (`--hold-ms`, more than 0).
    pub hold: Duration,
    /// Each socket's heartbeat interval (`--heartbeat-ms`, default 1000,
    /// at most `hold`, so that every socket has a heartbeat to answer).
    pub heartbeat: Duration,
}

impl Hold {
    /// The default heartbeat interval of a hold, in ms.
    pub const DEFAULT_HEARTBEAT_MS: u64 = 1_000;

    /// Checks what a hold saw: `answered` heartbeats over all sockets,
    /// `sockets_answered` sockets with at least one, out of `sockets`, and
    /// the problems found (a socket disconnected, a channel errored, ...),
    /// of which the first few are shown.
    ///
    /// # Errors
    /// When any socket had a problem or no heartbeat answered.
    pub fn check(
        &self,
        sockets: u64,
        sockets_answered: u64,
        answered: u64,
        problems: &[String],
    ) -> Result<(), Error> {
        let hold_ms = self.hold.as_millis();
        let heartbeat_ms = self.heartbeat.as_millis();
        if !problems.is_empty() {
            let shown: Vec<&str> = problems.iter().take(3).map(String::as_str).collect();
            return Err(format!(
                "hold: {} problem(s) while holding {sockets} sockets for {hold_ms} ms (heartbeat every {heartbeat_ms} ms): {}",
                problems.len(),
                shown.join("; ")
            )
            .into());
        }
        if sockets_answered < sockets {
            return Err(format!(
                "hold: {} of {sockets} sockets had no heartbeat answered in {hold_ms} ms (heartbeat every {heartbeat_ms} ms; {answered} answered in all)",
                sockets - sockets_answered
            )
            .into());
        }
        Ok(())
    }
}

/// A command line that could not be understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (usage: --url URL --workload seq|pipe|recv|flood|idle [--count N] [--warmup N] [--inflight K] [--sockets S] [--settle-ms MS] [--pause-every K] [--pause-us US] [--mode M] [--hold-ms MS [--heartbeat-ms MS]])",
            self.0
        )
    }
}

impl std::error::Error for UsageError {}

impl Args {
    /// Reads the process's own command line.
    ///
    /// # Errors
    /// [`UsageError`] for an unknown option, a missing value or a bad number.
    pub fn from_env() -> Result<Args, UsageError> {
        Args::parse(std::env::args().skip(1))
    }

    /// Parses options (without the program name).
    ///
    /// # Errors
    /// As [`from_env`](Self::from_env).
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Args, UsageError> {
        let mut url = None;
        let mut workload = None;
        let mut mode = None;
        let (mut count, mut warmup, mut inflight, mut sockets, mut settle_ms) =
            (None, None, None, None, None);
        let (mut pause_every, mut pause_us) = (None, None);
        let (mut hold_ms, mut heartbeat_ms) = (None, None);
        let mut args = args.into_iter();
        while let Some(flag) = args.next() {
            let mut value = || {
                args.next()
                    .ok_or_else(|| UsageError(format!("{flag} needs a value")))
            };
            let number = |text: String| {
                text.parse::<u64>()
                    .map_err(|_| UsageError(format!("not a number: {text}")))
            };
            match flag.as_str() {
                "--url" => url = Some(value()?),
                "--workload" => workload = Some(value()?),
                "--mode" => mode = Some(value()?),
                "--count" => count = Some(number(value()?)?),
                "--warmup" => warmup = Some(number(value()?)?),
                "--inflight" => inflight = Some(number(value()?)?),
                "--sockets" => sockets = Some(number(value()?)?),
                "--settle-ms" => settle_ms = Some(number(value()?)?),
                "--pause-every" => pause_every = Some(number(value()?)?),
                "--pause-us" => pause_us = Some(number(value()?)?),
                "--hold-ms" => hold_ms = Some(number(value()?)?),
                "--heartbeat-ms" => heartbeat_ms = Some(number(value()?)?),
                other => return Err(UsageError(format!("unknown option {other}"))),
            }
        }
        let url = url.ok_or_else(|| UsageError("--url is required".into()))?;
        let workload = match workload.as_deref() {
            Some("seq") => Workload::Seq {
                count: count.unwrap_or(10_000),
                warmup: warmup.unwrap_or(100),
            },
            Some("pipe") => Workload::Pipe {
                count: count.unwrap_or(100_000),
                inflight: inflight.unwrap_or(1_000).max(1),
            },
            Some("recv") => Workload::Recv {
                count: count.unwrap_or(100_000),
            },
            Some("flood") => Workload::Flood {
                count: count.unwrap_or(1_000_000),
                pause_every: pause_every.unwrap_or(1_000),
                pause: Duration::from_micros(pause_us.unwrap_or(1_000)),
            },
            Some("idle") => Workload::Idle {
                sockets: sockets.unwrap_or(1_000),
                settle: Duration::from_millis(settle_ms.unwrap_or(500)),
            },
            Some(other) => return Err(UsageError(format!("unknown workload {other}"))),
            None => return Err(UsageError("--workload is required".into())),
        };
        let hold = match (hold_ms, heartbeat_ms) {
            (None | Some(0), None) => None,
            (None | Some(0), Some(_)) => {
                return Err(UsageError("--heartbeat-ms needs --hold-ms".into()));
            }
            (Some(hold_ms), heartbeat_ms) => {
                if !matches!(workload, Workload::Idle { .. }) {
                    return Err(UsageError("--hold-ms is for the idle workload".into()));
                }
                let heartbeat_ms = heartbeat_ms.unwrap_or(Hold::DEFAULT_HEARTBEAT_MS);
                if heartbeat_ms == 0 || heartbeat_ms > hold_ms {
                    return Err(UsageError(format!(
                        "--heartbeat-ms {heartbeat_ms} must be between 1 and --hold-ms {hold_ms}"
                    )));
                }
                Some(Hold {
                    hold: Duration::from_millis(hold_ms),
                    heartbeat: Duration::from_millis(heartbeat_ms),
                })
            }
        };
        Ok(Args {
            url,
            workload,
            mode,
            hold,
        })
    }
}

/// How much a flood may raise a client's resident memory above what it
/// held before the flood: 16 MiB. The back-pressure policy keeps at most a
/// channel's queue of events (256 by default) and the transport's buffers
/// in the client, well under 1 MiB; a client that queued the flood instead
/// would hold all of it, over 100 MiB for 1,000,000 messages (each a
/// `ChannelEvent` with its event name and payload).
pub const FLOOD_GROWTH_LIMIT_KIB: u64 = 16 * 1024;

/// Checks a flood's messages as the client reads them (see
/// [`Workload::Flood`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FloodCheck {
    next: u64,
    count: u64,
    pause_every: u64,
}

impl FloodCheck {
    /// A check of a flood of `count` messages with a pause after every
    /// `pause_every` of them.
    pub fn new(count: u64, pause_every: u64) -> FloodCheck {
        FloodCheck {
            next: 1,
            count,
            pause_every,
        }
    }

    /// Takes the JSON payload of the next `item` message (`{"i": N}`).
    /// Returns whether the reader pauses now.
    ///
    /// # Errors
    /// When `N` is not the next number (a message lost, repeated or out of
    /// order) or the payload is not an item.
    pub fn item(&mut self, payload: &str) -> Result<bool, Error> {
        #[derive(Deserialize)]
        struct Item {
            i: u64,
        }
        let item: Item = serde_json::from_str(payload)
            .map_err(|e| format!("flood: not an item: {payload:?}: {e}"))?;
        if item.i != self.next {
            return Err(format!(
                "flood: message {} arrived where {} was due (lost, repeated or out of order)",
                item.i, self.next
            )
            .into());
        }
        self.next += 1;
        Ok(self.pause_every > 0 && item.i % self.pause_every == 0)
    }

    /// Whether every message has arrived.
    pub fn done(&self) -> bool {
        self.next > self.count
    }

    /// Checks the memory a flood left: its growth over `before_kib` up to
    /// the process's peak so far must stay under [`FLOOD_GROWTH_LIMIT_KIB`].
    ///
    /// # Errors
    /// When it grew more, or the memory cannot be read.
    pub fn check_memory(before_kib: u64) -> Result<(), Error> {
        let peak = peak_rss_kib()?;
        let grew = peak.saturating_sub(before_kib);
        if grew > FLOOD_GROWTH_LIMIT_KIB {
            return Err(format!(
                "flood: the peak resident memory ({peak} KiB) is {grew} KiB above the {before_kib} KiB before the flood (limit {FLOOD_GROWTH_LIMIT_KIB} KiB): the reader's messages were not held back"
            )
            .into());
        }
        Ok(())
    }
}

/// User and system CPU time of this process so far (every thread, live or
/// ended), from `getrusage(RUSAGE_SELF)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CpuTime {
    /// Time in user mode.
    pub user: Duration,
    /// Time in the kernel on the process's behalf.
    pub sys: Duration,
}

fn duration(tv: TimeVal) -> Duration {
    let secs = u64::try_from(tv.tv_sec()).unwrap_or(0);
    let micros = u64::try_from(tv.tv_usec()).unwrap_or(0);
    Duration::from_secs(secs) + Duration::from_micros(micros)
}

impl CpuTime {
    /// This process's CPU time now.
    ///
    /// # Errors
    /// When `getrusage` fails (it does not on Linux).
    pub fn now() -> Result<CpuTime, Error> {
        CpuTime::of(UsageWho::RUSAGE_SELF)
    }

    /// The CPU time of the children this process has waited for.
    ///
    /// # Errors
    /// When `getrusage` fails.
    pub fn children() -> Result<CpuTime, Error> {
        CpuTime::of(UsageWho::RUSAGE_CHILDREN)
    }

    fn of(who: UsageWho) -> Result<CpuTime, Error> {
        let usage = getrusage(who)?;
        Ok(CpuTime {
            user: duration(usage.user_time()),
            sys: duration(usage.system_time()),
        })
    }

    /// User + system.
    pub fn total(&self) -> Duration {
        self.user + self.sys
    }

    /// The time spent since `earlier`.
    pub fn since(&self, earlier: CpuTime) -> CpuTime {
        CpuTime {
            user: self.user.saturating_sub(earlier.user),
            sys: self.sys.saturating_sub(earlier.sys),
        }
    }
}

/// Wall-clock and CPU time from a starting point.
#[derive(Debug, Clone, Copy)]
pub struct Meter {
    wall: Instant,
    cpu: CpuTime,
}

/// What a [`Meter`] measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Measured {
    /// Elapsed real time.
    pub wall: Duration,
    /// CPU time of the process in that time.
    pub cpu: CpuTime,
}

impl Meter {
    /// Starts measuring now.
    ///
    /// # Errors
    /// As [`CpuTime::now`].
    pub fn start() -> Result<Meter, Error> {
        let cpu = CpuTime::now()?;
        Ok(Meter {
            wall: Instant::now(),
            cpu,
        })
    }

    /// The time since [`start`](Self::start).
    ///
    /// # Errors
    /// As [`CpuTime::now`].
    pub fn stop(&self) -> Result<Measured, Error> {
        let wall = self.wall.elapsed();
        let cpu = CpuTime::now()?.since(self.cpu);
        Ok(Measured { wall, cpu })
    }
}

/// The resident set size of this process now, in KiB (`VmRSS`).
///
/// # Errors
/// When `/proc/self/status` cannot be read.
pub fn rss_kib() -> Result<u64, Error> {
    status_field("VmRSS:")
}

/// The largest resident set size of this process so far, in KiB (`VmHWM`).
///
/// # Errors
/// When `/proc/self/status` cannot be read.
pub fn peak_rss_kib() -> Result<u64, Error> {
    status_field("VmHWM:")
}

fn status_field(name: &str) -> Result<u64, Error> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find(|line| line.starts_with(name))
        .ok_or_else(|| format!("no {name} in /proc/self/status"))?;
    let kib = line
        .trim_start_matches(name)
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse::<u64>()?;
    Ok(kib)
}

/// Raises this process's limit on open files to its hard limit (children
/// inherit it), so that ten thousand sockets fit. Returns the new limit.
///
/// # Errors
/// When the limit cannot be read or set.
pub fn raise_fd_limit() -> Result<u64, Error> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard)?;
    }
    Ok(hard)
}

/// Percentiles of the sequential latencies, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Slowest.
    pub max: f64,
    /// Mean.
    pub mean: f64,
}

impl Latency {
    /// Summarizes `samples` (sorted here); `None` when there are none.
    pub fn of(samples: &mut [Duration]) -> Option<Latency> {
        samples.sort_unstable();
        let n = samples.len();
        let micros = |d: &Duration| d.as_secs_f64() * 1e6;
        // Nearest rank: the smallest sample with at least p of them at or below it.
        let rank = |p: f64| {
            let index = ((p * n as f64).ceil() as usize).clamp(1, n) - 1;
            samples.get(index).map(micros).unwrap_or(0.0)
        };
        let max = samples.last().map(micros)?;
        let mean = samples.iter().map(micros).sum::<f64>() / n as f64;
        Some(Latency {
            p50: rank(0.50),
            p90: rank(0.90),
            p99: rank(0.99),
            p999: rank(0.999),
            max,
            mean,
        })
    }
}

/// The JSON line a client process prints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Report {
    /// `seq`, `pipe`, `recv`, `flood` or `idle`.
    pub workload: String,
    /// Messages (pushes answered, or pushes received), or sockets for `idle`.
    pub count: u64,
    /// Wall-clock time of the measured part (for `idle`: connecting and
    /// joining every socket).
    pub wall_s: f64,
    /// User + system CPU time of the process during the measured part.
    pub cpu_s: f64,
    /// User CPU time.
    pub user_s: f64,
    /// System CPU time.
    pub sys_s: f64,
    /// Sequential latencies (`seq` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_us: Option<Latency>,
    /// Resident memory before the first socket was opened (`idle`), or
    /// with the socket joined, before the flood (`flood`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rss_before_kib: Option<u64>,
    /// Resident memory with every socket joined and idle (`idle`), or
    /// after the flood (`flood`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rss_after_kib: Option<u64>,
    /// Resident memory at the end of the hold (`idle` with `--hold-ms`):
    /// every socket still joined, after its heartbeats.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rss_held_kib: Option<u64>,
    /// Heartbeats answered during the hold, over all sockets (`idle` with
    /// `--hold-ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeats: Option<u64>,
    /// Peak resident memory of the process, read at the end.
    pub peak_rss_kib: u64,
}

impl Report {
    /// A report of `count` messages or sockets measured by `measured`.
    pub fn new(workload: &Workload, count: u64, measured: Measured) -> Report {
        Report {
            workload: workload.name().to_owned(),
            count,
            wall_s: measured.wall.as_secs_f64(),
            cpu_s: measured.cpu.total().as_secs_f64(),
            user_s: measured.cpu.user.as_secs_f64(),
            sys_s: measured.cpu.sys.as_secs_f64(),
            ..Report::default()
        }
    }
}

/// The `main` of a client process: reads the command line, raises the fd
/// limit, runs `workload`, prints its [`Report`] (with the peak memory
/// filled in) and exits at once, without tearing sockets down politely
/// (ten thousand closes would only slow the run). Errors go to stderr with
/// exit status 1.
pub fn main<F>(client: &str, workload: F) -> !
where
    F: FnOnce(Args) -> Result<Report, Error>,
{
    let outcome = Args::from_env()
        .map_err(Error::from)
        .and_then(|args| {
            raise_fd_limit()?;
            workload(args)
        })
        .and_then(|mut report| {
            report.peak_rss_kib = peak_rss_kib()?;
            let line = serde_json::to_string(&report)?;
            let mut out = std::io::stdout().lock();
            writeln!(out, "{line}")?;
            out.flush()?;
            Ok(())
        });
    match outcome {
        Ok(()) => std::process::exit(0),
        Err(error) => {
            eprintln!("{client}: {error}");
            let _ = std::io::stderr().flush();
            std::process::exit(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Args, UsageError> {
        Args::parse(line.split_whitespace().map(str::to_owned))
    }

    #[test]
    fn parses_each_workload_with_defaults() {
        let args = parse("--url ws://h/socket --workload pipe --count 5 --mode async");
        assert_eq!(
            args,
            Ok(Args {
                url: "ws://h/socket".into(),
                workload: Workload::Pipe {
                    count: 5,
                    inflight: 1000
                },
                mode: Some("async".into()),
                hold: None,
            })
        );
        let idle = parse("--url u --workload idle --sockets 3 --settle-ms 7").map(|a| a.workload);
        assert_eq!(
            idle,
            Ok(Workload::Idle {
                sockets: 3,
                settle: Duration::from_millis(7)
            })
        );
        let flood = parse("--url u --workload flood --count 9 --pause-every 3 --pause-us 50");
        assert_eq!(
            flood.map(|a| a.workload),
            Ok(Workload::Flood {
                count: 9,
                pause_every: 3,
                pause: Duration::from_micros(50)
            })
        );
        assert_eq!(
            parse("--url u --workload flood").map(|a| a.workload),
            Ok(Workload::Flood {
                count: 1_000_000,
                pause_every: 1_000,
                pause: Duration::from_millis(1)
            })
        );
        assert!(parse("--url u").is_err());
        assert!(parse("--url u --workload seq --count x").is_err());
        assert!(parse("--workload seq").is_err());
        assert!(parse("--url u --workload seq --bogus 1").is_err());
    }

    #[test]
    fn parses_the_hold_of_the_idle_workload() {
        let hold = |line: &str| parse(line).map(|a| a.hold);
        assert_eq!(
            hold("--url u --workload idle --hold-ms 5000 --heartbeat-ms 1000"),
            Ok(Some(Hold {
                hold: Duration::from_secs(5),
                heartbeat: Duration::from_secs(1),
            }))
        );
        assert_eq!(
            hold("--url u --workload idle --hold-ms 1500"),
            Ok(Some(Hold {
                hold: Duration::from_millis(1500),
                heartbeat: Duration::from_millis(Hold::DEFAULT_HEARTBEAT_MS),
            }))
        );
        assert_eq!(hold("--url u --workload idle"), Ok(None));
        assert_eq!(hold("--url u --workload idle --hold-ms 0"), Ok(None));
        // A heartbeat that would never come, or no hold to have it in.
        assert!(hold("--url u --workload idle --hold-ms 500 --heartbeat-ms 1000").is_err());
        assert!(hold("--url u --workload idle --hold-ms 500 --heartbeat-ms 0").is_err());
        assert!(hold("--url u --workload idle --heartbeat-ms 100").is_err());
        assert!(hold("--url u --workload seq --hold-ms 1000").is_err());
        assert!(hold("--url u --workload idle --hold-ms x").is_err());
    }

    #[test]
    fn the_hold_check_wants_every_socket_answered_and_no_problem() {
        let hold = Hold {
            hold: Duration::from_secs(5),
            heartbeat: Duration::from_secs(1),
        };
        assert!(hold.check(3, 3, 15, &[]).is_ok());
        let silent = hold.check(3, 2, 10, &[]).unwrap_err().to_string();
        assert!(
            silent.contains("1 of 3 sockets had no heartbeat"),
            "{silent}"
        );
        let problems = ["socket 1: disconnected".to_owned()];
        let lost = hold.check(3, 3, 15, &problems).unwrap_err().to_string();
        assert!(lost.contains("socket 1: disconnected"), "{lost}");
    }

    #[test]
    fn reports_without_the_hold_fields_still_parse() {
        let old = r#"{"workload":"idle","count":2,"wall_s":1.0,"cpu_s":0.1,"user_s":0.1,"sys_s":0.0,"rss_before_kib":1,"rss_after_kib":3,"peak_rss_kib":4}"#;
        let report: Report = serde_json::from_str(old).unwrap();
        assert_eq!((report.rss_held_kib, report.heartbeats), (None, None));
        let line = serde_json::to_string(&report).unwrap();
        assert!(!line.contains("rss_held_kib") && !line.contains("heartbeats"));
    }

    #[test]
    fn the_flood_check_wants_every_message_in_order() {
        let mut check = FloodCheck::new(4, 2);
        assert!(!check.item(r#"{"i":1}"#).unwrap());
        assert!(check.item(r#"{"i":2}"#).unwrap());
        assert!(check.item(r#"{"i":4}"#).is_err());
        assert!(!check.done());
        let mut check = FloodCheck::new(2, 0);
        assert!(!check.item(r#"{"i":1}"#).unwrap());
        assert!(check.item(r#"{"i":1}"#).is_err());
        assert!(check.item(r#"{"x":2}"#).is_err());
        assert!(!check.item(r#"{"i":2}"#).unwrap());
        assert!(check.done());
        assert!(FloodCheck::check_memory(peak_rss_kib().unwrap()).is_ok());
    }

    #[test]
    fn latency_percentiles_use_the_nearest_rank() {
        let mut samples: Vec<Duration> = (1..=100).rev().map(Duration::from_micros).collect();
        let summary = Latency::of(&mut samples).unwrap();
        assert_eq!(summary.p50, 50.0);
        assert_eq!(summary.p99, 99.0);
        assert_eq!(summary.max, 100.0);
        assert!((summary.mean - 50.5).abs() < 1e-9);
        assert_eq!(Latency::of(&mut []), None);
    }

    #[test]
    fn reads_its_own_memory_and_cpu() {
        // The current size first, then the high-water mark: other tests'
        // threads allocate meanwhile, and the mark read later covers the
        // size read earlier (the other order failed once in CI).
        let rss = rss_kib().unwrap();
        assert!(rss > 0);
        assert!(peak_rss_kib().unwrap() >= rss);
        let meter = Meter::start().unwrap();
        let spin = (0..200_000u64).fold(0u64, |a, b| a.wrapping_add(b * b));
        assert!(spin > 0);
        assert!(meter.stop().unwrap().wall > Duration::ZERO);
    }

    #[test]
    fn websocket_url_adds_the_path_and_version() {
        assert_eq!(
            websocket_url("ws://h:1/socket/"),
            "ws://h:1/socket/websocket?vsn=2.0.0"
        );
    }
}
