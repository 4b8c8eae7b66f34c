//! `phoenix-bench`: runs the client benchmarks and writes the results. See
//! the crate docs of `phoenix_bench` and `--help`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use phoenix_bench::clients::{self, CLIENTS, ClientSpec, Launcher};
use phoenix_bench::results::{BenchFile, FORMAT, Params};
use phoenix_bench::run::{self, Cell, MockServer, Paths};
use phoenix_bench::{codec, machine, report, svg};
use phoenix_bench_probe::Error;

const HELP: &str = "\
phoenix-bench: CPU per message, latency and memory per socket of Phoenix clients

USAGE:
    cargo run --release -p phoenix-bench -- [OPTIONS]
    cargo run -p phoenix-bench -- report BENCH.json [--markdown PATH] [--svg PATH]

OPTIONS:
    --quick              tiny counts, one run, 50 idle sockets, no codec benches,
                         no BENCHMARKS.md; exits 1 if any client fails (CI)
    --runs N             runs of each cell (default 3; quick 1)
    --json PATH          where to write every sample (default target/phoenix-bench/<mode>.json)
    --url URL            measure against this server (it must serve the fixture's
                         echo:* topics) instead of starting the mock server
    --clients A,B        only these clients (floor, tokio-callback, tokio-async,
                         async-std-callback, async-std-async, blocking-callback,
                         blocking-api, phoenix-chan, pcc, phoenix-js)
    --cells A,B          only these workloads (seq, pipe, recv, flood, idle)
    --sockets N,M        idle socket counts (default 1000,10000)
    --hold-ms MS         our clients keep the sockets of the largest idle cell this long after
                         the memory reading, with heartbeats, then check that every socket is
                         still joined and had its heartbeats answered, and read the memory
                         again (default 5000; quick 1500; 0: no hold)
    --heartbeat-ms MS    the heartbeat interval of the held sockets (default 1000; quick 500)
    --seq N              sequential pushes (default 10000, after 100 to warm up)
    --pipe N             pipelined pushes (default 100000)
    --inflight N         pipelined pushes in flight (default 1000)
    --recv N             server pushes received (default 100000)
    --flood N            server pushes of the flood into a slow reader, run by our
                         clients only; the reader sleeps 1 ms every 1,000 messages and
                         checks their order (default 1000000; quick 10000; 0: no flood)
    --timeout SECONDS    limit of one client process (default 300; quick 60)
    --no-codec           skip `cargo bench -p phoenix-proto --bench codec`
    --markdown PATH      write the generated section of this file (default BENCHMARKS.md,
                         on full runs of every client and cell only)
    --no-markdown        write no BENCHMARKS.md and no chart
    --svg PATH           the chart (default tests/phoenix-bench/cpu-per-message.svg)
";

const DEFAULT_SVG: &str = "tests/phoenix-bench/cpu-per-message.svg";

#[derive(Debug)]
struct Options {
    quick: bool,
    runs: Option<u32>,
    json: Option<PathBuf>,
    url: Option<String>,
    clients: Option<Vec<String>>,
    cells: Option<Vec<String>>,
    sockets: Option<Vec<u64>>,
    hold_ms: Option<u64>,
    heartbeat_ms: Option<u64>,
    seq: Option<u64>,
    pipe: Option<u64>,
    inflight: Option<u64>,
    recv: Option<u64>,
    flood: Option<u64>,
    timeout: Option<u64>,
    codec: bool,
    markdown: Option<PathBuf>,
    no_markdown: bool,
    svg: Option<PathBuf>,
}

fn list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn parse(args: &[String]) -> Result<Options, Error> {
    let mut o = Options {
        quick: false,
        runs: None,
        json: None,
        url: None,
        clients: None,
        cells: None,
        sockets: None,
        hold_ms: None,
        heartbeat_ms: None,
        seq: None,
        pipe: None,
        inflight: None,
        recv: None,
        flood: None,
        timeout: None,
        codec: true,
        markdown: None,
        no_markdown: false,
        svg: None,
    };
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--quick" => o.quick = true,
            "--no-codec" => o.codec = false,
            "--no-markdown" => o.no_markdown = true,
            "--runs" => o.runs = Some(value()?.parse()?),
            "--json" => o.json = Some(value()?.into()),
            "--url" => o.url = Some(value()?),
            "--clients" => o.clients = Some(list(&value()?)),
            "--cells" => o.cells = Some(list(&value()?)),
            "--sockets" => {
                o.sockets = Some(
                    list(&value()?)
                        .iter()
                        .map(|s| s.parse())
                        .collect::<Result<_, _>>()?,
                );
            }
            "--hold-ms" => o.hold_ms = Some(value()?.parse()?),
            "--heartbeat-ms" => o.heartbeat_ms = Some(value()?.parse()?),
            "--seq" => o.seq = Some(value()?.parse()?),
            "--pipe" => o.pipe = Some(value()?.parse()?),
            "--inflight" => o.inflight = Some(value()?.parse()?),
            "--recv" => o.recv = Some(value()?.parse()?),
            "--flood" => o.flood = Some(value()?.parse()?),
            "--timeout" => o.timeout = Some(value()?.parse()?),
            "--markdown" => o.markdown = Some(value()?.into()),
            "--svg" => o.svg = Some(value()?.into()),
            other => return Err(format!("unknown option {other}; see --help").into()),
        }
    }
    Ok(o)
}

/// `path` relative to `root` when it is inside it, for the docs.
fn relative(root: &Path, path: &Path) -> String {
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().map_or_else(|_| path.to_path_buf(), |d| d.join(path))
    };
    absolute
        .strip_prefix(root)
        .map_or_else(|_| path.display().to_string(), |p| p.display().to_string())
}

fn resolve(root: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        root.join(path)
    }
}

fn write_outputs(
    file: &BenchFile,
    root: &Path,
    json_rel: &str,
    markdown: &Path,
    svg_path: &Path,
) -> Result<(), Error> {
    let svg_rel = relative(root, svg_path);
    std::fs::write(svg_path, svg::chart(file))?;
    let existing = std::fs::read_to_string(markdown).unwrap_or_default();
    let section = report::markdown(file, json_rel, &svg_rel);
    std::fs::write(markdown, report::splice(&existing, &section))?;
    eprintln!(
        "phoenix-bench: wrote {} and {}",
        markdown.display(),
        svg_path.display()
    );
    Ok(())
}

fn report_command(args: &[String]) -> Result<ExitCode, Error> {
    let paths = Paths::discover()?;
    let json = args
        .first()
        .ok_or("usage: phoenix-bench report BENCH.json")?;
    let options = parse(args.get(1..).unwrap_or_default())?;
    let file: BenchFile = serde_json::from_str(&std::fs::read_to_string(json)?)?;
    print!("{}", report::table(&file));
    let markdown = options
        .markdown
        .unwrap_or_else(|| paths.root.join("BENCHMARKS.md"));
    let svg_path = resolve(
        &paths.root,
        options.svg.as_deref().unwrap_or(Path::new(DEFAULT_SVG)),
    );
    write_outputs(
        &file,
        &paths.root,
        &relative(&paths.root, Path::new(json)),
        &markdown,
        &svg_path,
    )?;
    Ok(ExitCode::SUCCESS)
}

fn selected_clients(options: &Options) -> Result<Vec<&'static ClientSpec>, Error> {
    match &options.clients {
        None => Ok(CLIENTS.iter().collect()),
        Some(ids) => ids
            .iter()
            .map(|id| clients::find(id).ok_or_else(|| format!("unknown client {id}").into()))
            .collect(),
    }
}

fn bench_command(args: &[String]) -> Result<ExitCode, Error> {
    let options = parse(args)?;
    let paths = Paths::discover()?;
    let started = Instant::now();
    let limit = phoenix_bench_probe::raise_fd_limit()?;
    let quick = options.quick;
    let params = Params {
        runs: options.runs.unwrap_or(if quick { 1 } else { 3 }).max(1),
        seq_count: options.seq.unwrap_or(if quick { 200 } else { 10_000 }),
        seq_warmup: if quick { 20 } else { 100 },
        pipe_count: options.pipe.unwrap_or(if quick { 2_000 } else { 100_000 }),
        inflight: options.inflight.unwrap_or(if quick { 100 } else { 1_000 }),
        recv_count: options.recv.unwrap_or(if quick { 2_000 } else { 100_000 }),
        flood_count: options
            .flood
            .unwrap_or(if quick { 10_000 } else { 1_000_000 }),
        flood_pause_every: 1_000,
        flood_pause_us: 1_000,
        idle_sockets: options
            .sockets
            .clone()
            .unwrap_or_else(|| if quick { vec![50] } else { vec![1_000, 10_000] }),
        settle_ms: if quick { 100 } else { 500 },
        hold_ms: options.hold_ms.unwrap_or(if quick { 1_500 } else { 5_000 }),
        heartbeat_ms: options
            .heartbeat_ms
            .unwrap_or(if quick { 500 } else { 1_000 }),
        server: options.url.clone().unwrap_or_else(|| "mock".into()),
    };
    if params.hold_ms > 0 && !(1..=params.hold_ms).contains(&params.heartbeat_ms) {
        return Err(format!(
            "--heartbeat-ms {} must be between 1 and --hold-ms {}",
            params.heartbeat_ms, params.hold_ms
        )
        .into());
    }
    if let Some(most) = params.idle_sockets.iter().max() {
        if *most + 64 > limit {
            eprintln!(
                "phoenix-bench: warning: the open-file limit is {limit}, fewer than {most} sockets need"
            );
        }
    }
    let mut cells = Cell::all(&params);
    if let Some(only) = &options.cells {
        cells.retain(|c| {
            only.iter()
                .any(|o| c.name == *o || (o == "idle" && c.name.starts_with("idle")))
        });
    }
    let specs = selected_clients(&options)?;
    let partial = options.clients.is_some() || options.cells.is_some() || options.url.is_some();
    let mut machine = machine::describe(&paths.root, if paths.release { "release" } else { "dev" });

    let prepared = run::prepare(&paths, &specs);
    let server = match &options.url {
        Some(_) => None,
        None => Some(MockServer::start(&paths)?),
    };
    let url = match (&options.url, &server) {
        (Some(url), _) => url.clone(),
        (None, Some(server)) => server.url.clone(),
        (None, None) => return Err("no server".into()),
    };
    eprintln!(
        "phoenix-bench: {} run(s) of {} cell(s) for {} client(s) against {url}",
        params.runs,
        cells.len(),
        prepared.iter().filter(|p| p.command.is_ok()).count()
    );
    let timeout = Duration::from_secs(options.timeout.unwrap_or(if quick { 60 } else { 300 }));
    let collected = run::run_all(&prepared, &cells, params.runs, &url, timeout);
    drop(server);

    let codec = if options.codec && !quick && !partial {
        match codec::run(&paths.root, &paths.target_dir) {
            Ok(cases) => Some(cases),
            Err(error) => {
                eprintln!("phoenix-bench: codec benches failed: {error}");
                None
            }
        }
    } else {
        None
    };
    machine.load_end = machine::load();
    let profile_flag = if paths.release { " --release" } else { "" };
    let file = BenchFile {
        format: FORMAT,
        mode: if quick { "quick" } else { "full" }.into(),
        command: format!(
            "cargo run{profile_flag} -p phoenix-bench --{}",
            args.iter().map(|a| format!(" {a}")).collect::<String>()
        ),
        machine,
        params,
        clients: prepared.iter().map(run::Prepared::entry).collect(),
        samples: collected.samples,
        failures: collected.failures,
        codec,
        duration_s: started.elapsed().as_secs_f64(),
    };

    print!("{}", report::table(&file));
    let json_path = resolve(
        &paths.root,
        &options
            .json
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("target/phoenix-bench/{}.json", file.mode))),
    );
    if let Some(dir) = json_path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&json_path, serde_json::to_string_pretty(&file)? + "\n")?;
    eprintln!("phoenix-bench: wrote {}", json_path.display());
    let markdown = match (&options.markdown, options.no_markdown || quick || partial) {
        (_, true) if options.no_markdown => None,
        (Some(path), _) => Some(path.clone()),
        (None, true) => None,
        (None, false) => Some(paths.root.join("BENCHMARKS.md")),
    };
    if let Some(markdown) = markdown {
        let svg_path = resolve(
            &paths.root,
            options.svg.as_deref().unwrap_or(Path::new(DEFAULT_SVG)),
        );
        write_outputs(
            &file,
            &paths.root,
            &relative(&paths.root, &json_path),
            &markdown,
            &svg_path,
        )?;
    }
    eprintln!(
        "phoenix-bench: done in {:.0} s",
        started.elapsed().as_secs_f64()
    );

    // Clients that are not written yet are expected; anything else that
    // did not run or failed is an error.
    let unavailable = prepared
        .iter()
        .filter(|p| p.command.is_err() && !matches!(p.spec.launcher, Launcher::Missing { .. }))
        .count();
    if unavailable > 0 || !file.failures.is_empty() {
        eprintln!(
            "phoenix-bench: {} client(s) could not run, {} process(es) failed",
            unavailable,
            file.failures.len()
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match args.first().map(String::as_str) {
        Some("--help" | "-h" | "help") => {
            print!("{HELP}");
            Ok(ExitCode::SUCCESS)
        }
        Some("report") => report_command(args.get(1..).unwrap_or_default()),
        _ => bench_command(&args),
    };
    outcome.unwrap_or_else(|error| {
        eprintln!("phoenix-bench: {error}");
        ExitCode::FAILURE
    })
}
