//! Running a plan: build what needs building, start the mock server, run
//! every client process in turn, interleaved, and collect what each one
//! reports with what the operating system says it used.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use phoenix_bench_probe::{CpuTime, Error, Report};

use crate::clients::{ClientSpec, Launcher, Role};
use crate::results::{ClientEntry, Failure, Params, Sample};

/// Where things are.
#[derive(Debug, Clone)]
pub struct Paths {
    /// The workspace root.
    pub root: PathBuf,
    /// Where this binary and the other binaries of this package are.
    pub bin_dir: PathBuf,
    /// The cargo target directory.
    pub target_dir: PathBuf,
    /// Whether this is a release build (the peers are built alike).
    pub release: bool,
}

impl Paths {
    /// The paths of this build of the harness.
    ///
    /// # Errors
    /// When the executable's own path is unknown.
    pub fn discover() -> Result<Paths, Error> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let root = root.canonicalize().unwrap_or(root);
        let exe = std::env::current_exe()?;
        let bin_dir = exe
            .parent()
            .ok_or("the executable has no directory")?
            .to_path_buf();
        let target_dir = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .map(|dir| {
                if dir.is_absolute() {
                    dir
                } else {
                    root.join(dir)
                }
            })
            .unwrap_or_else(|| root.join("target"));
        Ok(Paths {
            root,
            bin_dir,
            target_dir,
            release: !cfg!(debug_assertions),
        })
    }

    /// The cargo profile name.
    pub fn profile(&self) -> &'static str {
        if self.release { "release" } else { "dev" }
    }

    fn peers_target(&self) -> PathBuf {
        self.target_dir.join("peers")
    }

    fn peer_binary(&self, package: &str) -> PathBuf {
        let profile_dir = if self.release { "release" } else { "debug" };
        self.peers_target().join(profile_dir).join(package)
    }
}

/// One workload size, run by every client (or by ours alone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    /// Its name in the results (`seq`, `pipe`, `recv`, `flood`, `idle1000`).
    pub name: String,
    /// The workload's arguments.
    pub args: Vec<String>,
    /// Run by our clients only (the flood, which checks our drivers'
    /// back-pressure policy; the other clients do not implement it).
    pub ours_only: bool,
    /// Arguments only our clients get, after `args`: the hold of the
    /// largest idle cell (`--hold-ms`, `--heartbeat-ms`), which the other
    /// clients do not implement.
    pub ours_args: Vec<String>,
}

fn is_ours(client: &ClientSpec) -> bool {
    matches!(client.role, Role::OursCallback | Role::OursApi)
}

impl Cell {
    /// Whether `client` runs this cell.
    pub fn runs(&self, client: &ClientSpec) -> bool {
        !self.ours_only || is_ours(client)
    }

    /// The workload's arguments for `client`.
    pub fn args_for(&self, client: &ClientSpec) -> Vec<String> {
        let mut args = self.args.clone();
        if is_ours(client) {
            args.extend(self.ours_args.iter().cloned());
        }
        args
    }
}

impl Cell {
    /// The cells of `params`, in order.
    pub fn all(params: &Params) -> Vec<Cell> {
        let cell = |name: String, args: &[&str]| Cell {
            name,
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            ours_only: false,
            ours_args: Vec::new(),
        };
        let mut cells = vec![
            cell(
                "seq".into(),
                &[
                    "--workload",
                    "seq",
                    "--count",
                    &params.seq_count.to_string(),
                    "--warmup",
                    &params.seq_warmup.to_string(),
                ],
            ),
            cell(
                "pipe".into(),
                &[
                    "--workload",
                    "pipe",
                    "--count",
                    &params.pipe_count.to_string(),
                    "--inflight",
                    &params.inflight.to_string(),
                ],
            ),
            cell(
                "recv".into(),
                &[
                    "--workload",
                    "recv",
                    "--count",
                    &params.recv_count.to_string(),
                ],
            ),
        ];
        if params.flood_count > 0 {
            cells.push(Cell {
                ours_only: true,
                ..cell(
                    "flood".into(),
                    &[
                        "--workload",
                        "flood",
                        "--count",
                        &params.flood_count.to_string(),
                        "--pause-every",
                        &params.flood_pause_every.to_string(),
                        "--pause-us",
                        &params.flood_pause_us.to_string(),
                    ],
                )
            });
        }
        for sockets in &params.idle_sockets {
            let mut idle = cell(
                crate::results::BenchFile::idle_cell(*sockets),
                &[
                    "--workload",
                    "idle",
                    "--sockets",
                    &sockets.to_string(),
                    "--settle-ms",
                    &params.settle_ms.to_string(),
                ],
            );
            if params.held_cell() == Some(idle.name.clone()) {
                idle.ours_args = [
                    "--hold-ms".to_owned(),
                    params.hold_ms.to_string(),
                    "--heartbeat-ms".to_owned(),
                    params.heartbeat_ms.to_string(),
                ]
                .into();
            }
            cells.push(idle);
        }
        cells
    }
}

/// A client ready to run: how to start its process, or why it cannot.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The client.
    pub spec: &'static ClientSpec,
    /// The program and its leading arguments, or why there is none.
    pub command: Result<(PathBuf, Vec<String>), String>,
}

impl Prepared {
    /// The client's entry in the results.
    pub fn entry(&self) -> ClientEntry {
        ClientEntry {
            id: self.spec.id.to_owned(),
            label: self.spec.label.to_owned(),
            role: self.spec.role.name().to_owned(),
            about: self.spec.about.to_owned(),
            status: self.command.as_ref().err().cloned(),
        }
    }
}

/// The last few non-empty lines of `text`.
fn tail(text: &str, lines: usize) -> String {
    let kept: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    kept.get(kept.len().saturating_sub(lines)..)
        .unwrap_or_default()
        .join(" | ")
}

/// Builds a peer's binary (in a cargo invocation of its own, so that its
/// dependencies' features stay its own) and returns its path.
fn build_peer(paths: &Paths, package: &str) -> Result<PathBuf, String> {
    let manifest = paths.root.join("tests/phoenix-bench-peers/Cargo.toml");
    let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo
        .arg("build")
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--target-dir")
        .arg(paths.peers_target())
        .args(["-p", package]);
    if paths.release {
        cargo.arg("--release");
    }
    eprintln!(
        "phoenix-bench: building {package} ({} profile)",
        paths.profile()
    );
    let out = cargo
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("did not build: cargo: {e}"))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let error = stderr
            .lines()
            .find(|l| l.starts_with("error"))
            .map_or_else(|| tail(&stderr, 3), str::to_owned);
        return Err(format!("did not build: {error}"));
    }
    Ok(paths.peer_binary(package))
}

/// Builds this package's client binaries, so that a run never measures a
/// stale build of our drivers (`cargo run` builds only the harness itself).
fn build_own_bins(paths: &Paths) -> Result<(), String> {
    let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo
        .current_dir(&paths.root)
        .args(["build", "-p", "phoenix-bench", "--bins"]);
    if paths.release {
        cargo.arg("--release");
    }
    eprintln!(
        "phoenix-bench: building our client binaries ({} profile)",
        paths.profile()
    );
    let out = cargo
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("did not build: cargo: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "did not build: {}",
            tail(&String::from_utf8_lossy(&out.stderr), 3)
        ))
    }
}

/// Makes each client ready: our binaries and the peers are built, Node and
/// its packages checked.
pub fn prepare(paths: &Paths, specs: &[&'static ClientSpec]) -> Vec<Prepared> {
    let own = if specs
        .iter()
        .any(|spec| matches!(spec.launcher, Launcher::Bin { .. }))
    {
        build_own_bins(paths)
    } else {
        Ok(())
    };
    specs
        .iter()
        .map(|&spec| {
            let command = match spec.launcher {
                Launcher::Bin { name, args } => {
                    let path = paths.bin_dir.join(name);
                    if let Err(e) = &own {
                        Err(e.clone())
                    } else if path.exists() {
                        Ok((path, args.iter().map(|a| (*a).to_owned()).collect()))
                    } else {
                        Err(format!("not built: {} (cargo build -p phoenix-bench)", path.display()))
                    }
                }
                Launcher::Peer { package } => build_peer(paths, package).map(|p| (p, Vec::new())),
                Launcher::Node { script } => {
                    let js = paths.root.join("tests/js");
                    if crate::machine::command_line("node", &["--version"]) == "unknown" {
                        Err("did not run: `node` is not installed (Node.js 20+)".into())
                    } else if !js.join("node_modules/phoenix").exists()
                        || !js.join("node_modules/ws").exists()
                    {
                        Err("did not run: tests/js/node_modules is missing (run `npm ci` in tests/js)".into())
                    } else {
                        Ok((PathBuf::from("node"), vec![js.join(script).display().to_string()]))
                    }
                }
                Launcher::Missing { why } => Err(why.to_owned()),
            };
            Prepared { spec, command }
        })
        .collect()
}

/// The mock server's process; it is killed when dropped.
#[derive(Debug)]
pub struct MockServer {
    child: Child,
    /// The socket endpoint it serves.
    pub url: String,
}

impl MockServer {
    /// Starts `bench-mock-server` and waits for its address.
    ///
    /// # Errors
    /// When it cannot be started or does not say where it listens.
    pub fn start(paths: &Paths) -> Result<MockServer, Error> {
        let mut child = Command::new(paths.bin_dir.join("bench-mock-server"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let url = line.trim().to_owned();
        if !url.starts_with("ws://") {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("bench-mock-server said {url:?}").into());
        }
        Ok(MockServer { child, url })
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_all(pipe: Option<impl Read + Send + 'static>) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_string(&mut text);
        }
        text
    })
}

/// What one client process did.
#[derive(Debug)]
pub struct Outcome {
    /// Its report.
    pub report: Report,
    /// CPU time of the whole process, from `getrusage(RUSAGE_CHILDREN)`.
    pub process_cpu: CpuTime,
    /// Its lifetime.
    pub process_wall: Duration,
}

/// Runs one client process to the end (or kills it at `timeout`).
///
/// # Errors
/// A process that could not start, failed, timed out or printed no report.
pub fn run_process(
    program: &Path,
    args: &[String],
    url: &str,
    cell_args: &[String],
    timeout: Duration,
) -> Result<Outcome, String> {
    let before = CpuTime::children().map_err(|e| e.to_string())?;
    let started = Instant::now();
    let mut child = Command::new(program)
        .args(args)
        .args(["--url", url])
        .args(cell_args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{}: {e}", program.display()))?;
    let stdout = read_all(child.stdout.take());
    let stderr = read_all(child.stderr.take());
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) if started.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                break Err(format!("timed out after {} s", timeout.as_secs()));
            }
            Ok(None) => thread::sleep(Duration::from_millis(10)),
            Err(error) => break Err(error.to_string()),
        }
    };
    let process_wall = started.elapsed();
    let process_cpu = CpuTime::children()
        .map_err(|e| e.to_string())?
        .since(before);
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    let status = status.map_err(|e| format!("{e}; stderr: {}", tail(&stderr, 3)))?;
    if !status.success() {
        return Err(format!("{status}: {}", tail(&stderr, 3)));
    }
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .ok_or_else(|| format!("no report on stdout; stderr: {}", tail(&stderr, 3)))?;
    let report: Report =
        serde_json::from_str(line).map_err(|e| format!("bad report {line:?}: {e}"))?;
    Ok(Outcome {
        report,
        process_cpu,
        process_wall,
    })
}

/// Every sample and failure of a run.
#[derive(Debug, Default)]
pub struct Collected {
    /// The samples.
    pub samples: Vec<Sample>,
    /// The failures.
    pub failures: Vec<Failure>,
}

/// Runs every cell `runs` times for every runnable client, interleaved:
/// each run goes through the cells in order and, within a cell, through
/// every client (starting one client later each run), so that slow drifts
/// of the machine spread over all clients.
pub fn run_all(
    prepared: &[Prepared],
    cells: &[Cell],
    runs: u32,
    url: &str,
    timeout: Duration,
) -> Collected {
    let runnable: Vec<(&'static ClientSpec, &PathBuf, &Vec<String>)> = prepared
        .iter()
        .filter_map(|p| {
            p.command
                .as_ref()
                .ok()
                .map(|(program, args)| (p.spec, program, args))
        })
        .collect();
    let mut collected = Collected::default();
    for run in 1..=runs {
        for cell in cells {
            for i in 0..runnable.len() {
                let offset = usize::try_from(run - 1).unwrap_or(0);
                let Some(&(spec, program, args)) = runnable.get((i + offset) % runnable.len())
                else {
                    continue;
                };
                if !cell.runs(spec) {
                    continue;
                }
                match run_process(program, args, url, &cell.args_for(spec), timeout) {
                    Ok(outcome) => {
                        eprintln!(
                            "[run {run}/{runs}] {:<9} {:<20} {}",
                            cell.name,
                            spec.id,
                            summary(&outcome.report)
                        );
                        collected.samples.push(Sample {
                            client: spec.id.to_owned(),
                            cell: cell.name.clone(),
                            run,
                            report: outcome.report,
                            process_cpu_s: outcome.process_cpu.total().as_secs_f64(),
                            process_wall_s: outcome.process_wall.as_secs_f64(),
                        });
                    }
                    Err(error) => {
                        eprintln!(
                            "[run {run}/{runs}] {:<9} {:<20} FAILED: {error}",
                            cell.name, spec.id
                        );
                        collected.failures.push(Failure {
                            client: spec.id.to_owned(),
                            cell: cell.name.clone(),
                            run,
                            error,
                        });
                    }
                }
            }
        }
    }
    collected
}

/// One line about a report, for the progress log.
fn summary(report: &Report) -> String {
    let count = report.count as f64;
    if report.workload == "flood" {
        return format!(
            "{} messages in order in {:.2} s ({:.0} msg/s), RSS {:.1} MiB before, peak {:.1} MiB",
            report.count,
            report.wall_s,
            count / report.wall_s,
            report.rss_before_kib.unwrap_or(0) as f64 / 1024.0,
            report.peak_rss_kib as f64 / 1024.0
        );
    }
    match (
        report.latency_us,
        report.rss_after_kib,
        report.rss_before_kib,
    ) {
        (Some(latency), _, _) => format!(
            "p50 {:.1} µs, p99 {:.1} µs, {:.3} s CPU/100k",
            latency.p50,
            latency.p99,
            report.cpu_s / count * 1e5
        ),
        (None, Some(after), Some(before)) => {
            let mut line = format!(
                "{:.1} KiB/socket, connected and joined in {:.2} s",
                (after as f64 - before as f64) / count,
                report.wall_s
            );
            if let (Some(held), Some(heartbeats)) = (report.rss_held_kib, report.heartbeats) {
                line.push_str(&format!(
                    "; held: {heartbeats} heartbeats answered, {:.1} KiB/socket after",
                    (held as f64 - before as f64) / count
                ));
            }
            line
        }
        _ => format!(
            "{:.3} s CPU/100k, {:.0} msg/s",
            report.cpu_s / count * 1e5,
            count / report.wall_s
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_follow_the_params() {
        let params = Params {
            runs: 1,
            seq_count: 10,
            seq_warmup: 2,
            pipe_count: 20,
            inflight: 5,
            recv_count: 30,
            flood_count: 40,
            flood_pause_every: 10,
            flood_pause_us: 100,
            idle_sockets: vec![7, 9],
            settle_ms: 1,
            hold_ms: 300,
            heartbeat_ms: 100,
            server: "mock".into(),
        };
        let cells = Cell::all(&params);
        let names: Vec<&str> = cells.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["seq", "pipe", "recv", "flood", "idle7", "idle9"]);
        let flood = cells.iter().find(|c| c.name == "flood").unwrap();
        assert!(flood.ours_only && flood.args.contains(&"--pause-every".to_owned()));
        let floor = crate::clients::find("floor").unwrap();
        let ours = crate::clients::find("tokio-async").unwrap();
        assert!(!flood.runs(floor) && flood.runs(ours));
        assert!(
            cells
                .iter()
                .filter(|c| c.name != "flood")
                .all(|c| c.runs(floor))
        );
        // The largest idle cell holds its sockets, for our clients only.
        let idle7 = cells.iter().find(|c| c.name == "idle7").unwrap();
        let idle9 = cells.iter().find(|c| c.name == "idle9").unwrap();
        assert!(idle7.ours_args.is_empty() && idle7.args_for(ours) == idle7.args);
        assert_eq!(idle9.args_for(floor), idle9.args);
        let held = idle9.args_for(ours);
        assert_eq!(
            held.get(idle9.args.len()..).unwrap(),
            ["--hold-ms", "300", "--heartbeat-ms", "100"]
        );
        let peer = crate::clients::find("pcc").unwrap();
        assert_eq!(idle9.args_for(peer), idle9.args);
        assert!(
            Cell::all(&Params {
                hold_ms: 0,
                ..params
            })
            .iter()
            .all(|c| c.ours_args.is_empty())
        );
        assert_eq!(tail("a\n\nb\nc\n", 2), "b | c");
    }
}
