//! The results as text: the table printed at the end of a run, and the
//! generated section of BENCHMARKS.md.

use std::fmt::Write;

use crate::results::{BenchFile, ClientEntry, Metric, Stat};

/// The markers around the generated section of BENCHMARKS.md; the text
/// outside them is kept as it is when the section is regenerated.
pub const BEGIN: &str = "<!-- phoenix-bench: generated section; regenerate, do not edit -->";
/// See [`BEGIN`].
pub const END: &str = "<!-- phoenix-bench: end of generated section -->";

/// The goals of the issue, measured against the floor's medians.
pub const PIPE_GOAL_CALLBACK: f64 = 2.0;
/// Pipelined CPU per message of the async and blocking APIs.
pub const PIPE_GOAL_API: f64 = 3.0;
/// Receive CPU per message.
pub const RECV_GOAL: f64 = 1.5;
/// Sequential latency p50.
pub const SEQ_GOAL: f64 = 1.10;
/// Resident memory per idle joined socket, KiB.
pub const RSS_GOAL_KIB: f64 = 8.0;

fn rate(value: f64) -> String {
    if value >= 1e6 {
        format!("{:.2}M", value / 1e6)
    } else if value >= 1e3 {
        format!("{:.0}k", value / 1e3)
    } else {
        format!("{value:.0}")
    }
}

fn fixed(decimals: usize) -> impl Fn(f64) -> String {
    move |v| format!("{v:.decimals$}")
}

/// How a metric is printed.
fn formatter(metric: Metric) -> Box<dyn Fn(f64) -> String> {
    match metric {
        Metric::CpuPer100k => Box::new(fixed(3)),
        Metric::Rate => Box::new(rate),
        Metric::P50 | Metric::P99 => Box::new(fixed(1)),
        Metric::PeakRssMib => Box::new(fixed(1)),
        Metric::RssPerSocketKib => Box::new(fixed(1)),
        Metric::ConnectS => Box::new(fixed(2)),
        Metric::Heartbeats => Box::new(fixed(0)),
        Metric::RssHeldPerSocketKib => Box::new(fixed(1)),
    }
}

/// A column of the tables.
struct Column {
    head: String,
    cell: String,
    metric: Metric,
}

fn columns(file: &BenchFile) -> Vec<Column> {
    let column = |head: &str, cell: &str, metric| Column {
        head: head.to_owned(),
        cell: cell.to_owned(),
        metric,
    };
    let mut columns = vec![
        column("seq p50 µs", "seq", Metric::P50),
        column("seq p99 µs", "seq", Metric::P99),
        column("pipelined msg/s", "pipe", Metric::Rate),
        column("pipelined CPU s/100k", "pipe", Metric::CpuPer100k),
        column("receive msg/s", "recv", Metric::Rate),
        column("receive CPU s/100k", "recv", Metric::CpuPer100k),
        column("peak RSS MiB (pipelined)", "pipe", Metric::PeakRssMib),
    ];
    if file.samples.iter().any(|s| s.cell == "flood") {
        columns.push(column("flood msg/s", "flood", Metric::Rate));
        columns.push(column("flood peak RSS MiB", "flood", Metric::PeakRssMib));
    }
    for sockets in &file.params.idle_sockets {
        let cell = BenchFile::idle_cell(*sockets);
        columns.push(column(
            &format!("KiB/idle socket @{sockets}"),
            &cell,
            Metric::RssPerSocketKib,
        ));
        columns.push(column(
            &format!("connect+join {sockets} s"),
            &cell,
            Metric::ConnectS,
        ));
        if held(file).as_deref() == Some(cell.as_str()) {
            columns.push(column(
                &format!("heartbeats @{sockets}"),
                &cell,
                Metric::Heartbeats,
            ));
            columns.push(column(
                &format!("KiB/socket after hold @{sockets}"),
                &cell,
                Metric::RssHeldPerSocketKib,
            ));
        }
    }
    columns
}

/// The idle cell our clients held, when some sample of it reports a hold
/// (files from before the hold have none).
fn held(file: &BenchFile) -> Option<String> {
    let cell = file.params.held_cell()?;
    file.samples
        .iter()
        .any(|s| s.cell == cell && s.report.heartbeats.is_some())
        .then_some(cell)
}

/// The table of the held idle cell: our clients' heartbeats and memory
/// after the hold, next to their memory before it.
fn hold_table(out: &mut String, file: &BenchFile) {
    let Some(cell) = held(file) else { return };
    let p = &file.params;
    let sockets = cell.trim_start_matches("idle");
    let _ = writeln!(
        out,
        "
### Holding {sockets} sockets with heartbeats (our clients)

After the memory reading above, our clients keep every socket for {hold} ms more with a
heartbeat every {heartbeat} ms (so about {per} per socket), then check that every socket is
still connected and joined and had its heartbeats answered (the process fails otherwise),
and read the memory again. The async and blocking APIs count heartbeats with
`Client::socket_events()` (subscribed after the first reading, so the second one includes
those streams), the callback model with `Handler::handle_pong`.
",
        hold = p.hold_ms,
        heartbeat = p.heartbeat_ms,
        per = p.hold_ms / p.heartbeat_ms.max(1),
    );
    let rows: Vec<Vec<String>> = file
        .clients
        .iter()
        .filter(|c| c.role.starts_with("ours"))
        .map(|client| {
            let stat = |metric| file.stat(&client.id, &cell, metric);
            vec![
                client.label.clone(),
                with_range(stat(Metric::Heartbeats), Metric::Heartbeats),
                with_range(stat(Metric::RssPerSocketKib), Metric::RssPerSocketKib),
                with_range(
                    stat(Metric::RssHeldPerSocketKib),
                    Metric::RssHeldPerSocketKib,
                ),
            ]
        })
        .collect();
    let head = [
        "client".to_owned(),
        "heartbeats answered".to_owned(),
        format!("KiB per socket after {} ms", p.settle_ms),
        format!("KiB per socket after the {} ms hold", p.hold_ms),
    ];
    let head: Vec<&str> = head.iter().map(String::as_str).collect();
    md_table(out, &head, &rows);
}

fn median(stat: Option<Stat>, metric: Metric) -> String {
    stat.map_or_else(|| "—".into(), |s| formatter(metric)(s.median))
}

fn with_range(stat: Option<Stat>, metric: Metric) -> String {
    let f = formatter(metric);
    match stat {
        Some(s) if s.n > 1 => format!("{} ({}–{})", f(s.median), f(s.min), f(s.max)),
        Some(s) => f(s.median),
        None => "—".into(),
    }
}

/// The table printed at the end of a run: medians.
pub fn table(file: &BenchFile) -> String {
    let columns = columns(file);
    let mut rows = vec![
        std::iter::once("client".to_owned())
            .chain(columns.iter().map(|c| c.head.clone()))
            .collect::<Vec<_>>(),
    ];
    for client in &file.clients {
        rows.push(
            std::iter::once(client.label.clone())
                .chain(
                    columns
                        .iter()
                        .map(|c| median(file.stat(&client.id, &c.cell, c.metric), c.metric)),
                )
                .collect(),
        );
    }
    let widths: Vec<usize> = (0..=columns.len())
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i).map(|s| s.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in &rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (text, width))| {
                if i == 0 {
                    format!("{text:<width$}")
                } else {
                    format!("{text:>width$}")
                }
            })
            .collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    }
    let notes = missing_notes(file);
    if !notes.is_empty() {
        let _ = writeln!(out, "\n{notes}");
    }
    out
}

/// "— " explained: the clients that did not run and the cells that failed.
fn missing_notes(file: &BenchFile) -> String {
    let mut out = String::new();
    for client in &file.clients {
        if let Some(status) = &client.status {
            let _ = writeln!(out, "- {}: {status}", client.label);
        }
    }
    for failure in &file.failures {
        let label = file
            .clients
            .iter()
            .find(|c| c.id == failure.client)
            .map_or(failure.client.as_str(), |c| c.label.as_str());
        let _ = writeln!(
            out,
            "- {label}, {} run {}: failed: {}",
            failure.cell, failure.run, failure.error
        );
    }
    out
}

/// A Markdown table; columns after the first are right-aligned numbers.
fn md_table(out: &mut String, head: &[&str], rows: &[Vec<String>]) {
    md_table_aligned(out, head, rows, true);
}

fn md_table_aligned(out: &mut String, head: &[&str], rows: &[Vec<String>], numeric: bool) {
    let _ = writeln!(out, "| {} |", head.join(" | "));
    let aligns: Vec<&str> = head
        .iter()
        .enumerate()
        .map(|(i, _)| if i == 0 || !numeric { "---" } else { "---:" })
        .collect();
    let _ = writeln!(out, "| {} |", aligns.join(" | "));
    for row in rows {
        let _ = writeln!(out, "| {} |", row.join(" | "));
    }
}

fn client_rows(
    file: &BenchFile,
    cells: &[(&str, Metric)],
    show: impl Fn(Option<Stat>, Metric) -> String,
) -> Vec<Vec<String>> {
    file.clients
        .iter()
        .map(|client| {
            std::iter::once(client.label.clone())
                .chain(
                    cells
                        .iter()
                        .map(|(cell, metric)| show(file.stat(&client.id, cell, *metric), *metric)),
                )
                .collect()
        })
        .collect()
}

fn floor(file: &BenchFile) -> Option<&ClientEntry> {
    file.clients.iter().find(|c| c.role == "floor")
}

/// One goal's verdict: the ratio to the floor (or the value) and whether
/// it is met.
fn verdict(value: Option<f64>, base: Option<f64>, limit: f64, ratio: bool) -> String {
    match (value, base) {
        (Some(v), Some(b)) if ratio && b > 0.0 => {
            let r = v / b;
            format!("{r:.2}x {}", if r <= limit { "met" } else { "**missed**" })
        }
        (Some(v), _) if !ratio => {
            format!(
                "{v:.1} KiB {}",
                if v <= limit { "met" } else { "**missed**" }
            )
        }
        _ => "—".into(),
    }
}

fn goals(out: &mut String, file: &BenchFile) {
    let Some(floor) = floor(file) else { return };
    let base = |cell: &str, metric| file.stat(&floor.id, cell, metric).map(|s| s.median);
    let mut head = vec![
        "client".to_owned(),
        "pipelined CPU/msg vs floor (goal ≤ 2x callback, ≤ 3x API)".to_owned(),
        format!("receive CPU/msg vs floor (goal ≤ {RECV_GOAL}x)"),
        "seq p50 vs floor (goal ≤ 1.10x)".to_owned(),
    ];
    for sockets in &file.params.idle_sockets {
        head.push(format!(
            "RSS/idle socket @{sockets} (goal ≤ {RSS_GOAL_KIB} KiB)"
        ));
    }
    let mut rows = Vec::new();
    for client in file.clients.iter().filter(|c| c.role.starts_with("ours")) {
        let value = |cell: &str, metric| file.stat(&client.id, cell, metric).map(|s| s.median);
        let pipe_goal = if client.role == "ours-callback" {
            PIPE_GOAL_CALLBACK
        } else {
            PIPE_GOAL_API
        };
        let mut row = vec![
            client.label.clone(),
            verdict(
                value("pipe", Metric::CpuPer100k),
                base("pipe", Metric::CpuPer100k),
                pipe_goal,
                true,
            ),
            verdict(
                value("recv", Metric::CpuPer100k),
                base("recv", Metric::CpuPer100k),
                RECV_GOAL,
                true,
            ),
            verdict(
                value("seq", Metric::P50),
                base("seq", Metric::P50),
                SEQ_GOAL,
                true,
            ),
        ];
        for sockets in &file.params.idle_sockets {
            let cell = BenchFile::idle_cell(*sockets);
            row.push(verdict(
                value(&cell, Metric::RssPerSocketKib),
                None,
                RSS_GOAL_KIB,
                false,
            ));
        }
        rows.push(row);
    }
    let head: Vec<&str> = head.iter().map(String::as_str).collect();
    md_table(out, &head, &rows);
}

/// The generated section of BENCHMARKS.md, between [`BEGIN`] and [`END`].
/// `json` and `svg` are the paths of the results and the chart, relative
/// to the workspace root.
pub fn markdown(file: &BenchFile, json: &str, svg: &str) -> String {
    let m = &file.machine;
    let p = &file.params;
    let mut out = String::new();
    let _ = writeln!(out, "{BEGIN}");
    let _ = writeln!(
        out,
        "# Client benchmarks

What a Phoenix client costs: CPU per message, latency, memory per socket. Our drivers, a bare
WebSocket floor and the other Phoenix clients, each in its own process against one fast mock
server, measured in one run by `phoenix-bench` (`tests/phoenix-bench`):

```sh
{command}
```

The run took {minutes:.1} minutes. This section is generated from the run's JSON (every sample,
`{json}`); regenerate it with `cargo run -p phoenix-bench -- report {json}`. Text outside
the generated section is kept.

- Date: {date}. Machine: {cores} cores, `{cpu}`, {mem:.0} GiB, Linux {kernel}. Load average
  (1/5/15 min) {load_start} at the start, {load_end} at the end; other work shared the machine.
- Toolchain: {rustc}, `{profile}` profile for every Rust client; Node.js {node}.
- Versions: {versions}.
- Each cell ran {runs} time(s); tables show the median and (min–max).",
        command = file.command,
        minutes = file.duration_s / 60.0,
        date = m.date,
        cores = m.cores,
        cpu = m.cpu,
        mem = m.memory_gib,
        kernel = m.kernel,
        load_start = m.load_start,
        load_end = m.load_end,
        rustc = m.rustc,
        profile = m.profile,
        node = m.node,
        versions = m
            .versions
            .iter()
            .map(|(name, version)| format!("{name} {version}"))
            .collect::<Vec<_>>()
            .join(", "),
        runs = p.runs,
    );
    let _ = writeln!(
        out,
        "
## How it measures

- Server: {server}, one thread (tokio current-thread runtime, tokio-tungstenite): it answers
  joins, echoes pushes, answers heartbeats and pushes `n` `item` messages on `many`, reading
  every frame that has arrived before flushing its answers once.
- Each client is a process of its own, started once per cell and run; the processes run one at a
  time, interleaved: every run goes through the cells, and within a cell through every client,
  starting one client later each run.
- CPU: the operating system's accounting of the client process (user + system time of every
  thread, `getrusage(RUSAGE_SELF)`; `process.cpuUsage()` on Node), read by the client when the
  measured part starts and when it ends: connecting, joining and warming up are not counted. The
  JSON also has each process's total from `getrusage(RUSAGE_CHILDREN)`.
- Every tokio-based client (floor, ours, phoenix-chan, phoenix_channels_client) runs on a
  current-thread runtime; the async-std driver runs its sockets on the global executor.
- Workloads, on topic `echo:bench` with payload `{{\"body\":\"hello\"}}`:
  - **seq**: {seq_warmup} pushes to warm up, then {seq} pushes one after the other, each waiting
    for its reply; p50 and p99 of their latencies.
  - **pipelined**: {pipe} pushes with {inflight} in flight; msgs/s and CPU per 100,000.
  - **receive**: one `many` push; the server pushes {recv} messages; msgs/s and CPU per 100,000
    from the push until the last message is in.
  - **idle**: {idle} sockets in one process, each joined to its own topic; RSS per socket is
    (RSS {settle} ms after the last join − RSS before the first connect) / sockets; connect+join is
    the time to open and join them all, all started at once. The harness raises the open-file
    limit to the hard limit first.{hold}
  - **peak RSS**: the process's high-water mark (`VmHWM`, `maxRSS` on Node) in the pipelined cell.",
        server = if p.server == "mock" {
            "`bench-mock-server` (`phoenix_bench::mock`), a process of its own".to_owned()
        } else {
            format!("`{}`", p.server)
        },
        seq_warmup = p.seq_warmup,
        seq = p.seq_count,
        pipe = p.pipe_count,
        inflight = p.inflight,
        recv = p.recv_count,
        idle = p
            .idle_sockets
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(" and "),
        settle = p.settle_ms,
        hold = match held(file) {
            Some(cell) => format!(
                " In `{cell}` our clients then hold their sockets for {} ms with a heartbeat every\n    {} ms, check them and read the memory again (below).",
                p.hold_ms, p.heartbeat_ms
            ),
            None => String::new(),
        },
    );

    let _ = writeln!(out, "\n## CPU per message\n");
    md_table(
        &mut out,
        &[
            "client",
            "pipelined CPU s/100k",
            "pipelined msg/s",
            "receive CPU s/100k",
            "receive msg/s",
        ],
        &client_rows(
            file,
            &[
                ("pipe", Metric::CpuPer100k),
                ("pipe", Metric::Rate),
                ("recv", Metric::CpuPer100k),
                ("recv", Metric::Rate),
            ],
            with_range,
        ),
    );
    let _ = writeln!(out, "\n![CPU per message, every client]({svg})\n");

    let _ = writeln!(out, "## Sequential latency\n");
    md_table(
        &mut out,
        &["client", "p50 µs", "p99 µs", "CPU s/100k pushes"],
        &client_rows(
            file,
            &[
                ("seq", Metric::P50),
                ("seq", Metric::P99),
                ("seq", Metric::CpuPer100k),
            ],
            with_range,
        ),
    );

    let _ = writeln!(out, "\n## Memory and connecting\n");
    let mut head = vec!["client".to_owned(), "peak RSS MiB (pipelined)".to_owned()];
    let mut cells: Vec<(String, Metric)> = vec![("pipe".into(), Metric::PeakRssMib)];
    for sockets in &p.idle_sockets {
        let cell = BenchFile::idle_cell(*sockets);
        head.push(format!("KiB per idle joined socket @{sockets}"));
        cells.push((cell.clone(), Metric::RssPerSocketKib));
        head.push(format!("connect+join {sockets} s"));
        cells.push((cell, Metric::ConnectS));
    }
    let cells: Vec<(&str, Metric)> = cells.iter().map(|(c, m)| (c.as_str(), *m)).collect();
    let head: Vec<&str> = head.iter().map(String::as_str).collect();
    md_table(&mut out, &head, &client_rows(file, &cells, with_range));
    hold_table(&mut out, file);

    let notes = missing_notes(file);
    if !notes.is_empty() {
        let _ = writeln!(out, "\nWhy a cell is empty:\n\n{notes}");
    }

    let _ = writeln!(out, "\n## Goals\n");
    let _ = writeln!(
        out,
        "Medians against the floor's medians (the issue's goals; \"missed\" rows need a profile and a\nfix, or the reason there is none, below the generated section).\n"
    );
    goals(&mut out, file);

    let _ = writeln!(out, "\n## The clients\n");
    let rows: Vec<Vec<String>> = file
        .clients
        .iter()
        .map(|c| vec![c.label.clone(), c.about.clone()])
        .collect();
    md_table_aligned(&mut out, &["client", "what runs"], &rows, false);

    if let Some(codec) = &file.codec {
        let _ = writeln!(
            out,
            "\n## Codec benches (this run)\n\n`cargo bench -p phoenix-proto --bench codec` (criterion medians; the cases are described in\n\"Codec benchmarks\" below).\n"
        );
        let rows: Vec<Vec<String>> = codec
            .iter()
            .map(|c| {
                vec![
                    format!("`{}`", c.case),
                    c.bytes.to_string(),
                    format!("{:.0} ns", c.ours_ns),
                    format!("{:.0} ns", c.naive_ns),
                    format!("**{:.2}x**", c.naive_ns / c.ours_ns),
                ]
            })
            .collect();
        md_table(
            &mut out,
            &["case", "frame bytes", "ours", "naive baseline", "speed-up"],
            &rows,
        );
    }
    let _ = writeln!(out, "\n{END}");
    out
}

/// `existing` (the current BENCHMARKS.md) with its generated section
/// replaced by `section`; everything else is kept. Without markers the
/// section goes first and the old text follows.
pub fn splice(existing: &str, section: &str) -> String {
    match (existing.find(BEGIN), existing.find(END)) {
        (Some(begin), Some(end)) if begin < end => {
            let before = existing.get(..begin).unwrap_or_default();
            let after = existing.get(end + END.len()..).unwrap_or_default();
            format!("{before}{}{after}", section.trim_end())
        }
        _ => format!("{section}\n{existing}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splice_replaces_only_the_generated_section() {
        let section = format!("{BEGIN}\nnew\n{END}\n");
        let first = splice("# Codec\nold text\n", &section);
        assert!(first.starts_with(BEGIN));
        assert!(first.ends_with("# Codec\nold text\n"));
        let again = splice(
            &format!("intro\n{BEGIN}\nstale\n{END}\n# Codec\n"),
            &section,
        );
        assert_eq!(again, format!("intro\n{BEGIN}\nnew\n{END}\n# Codec\n"));
    }

    #[test]
    fn the_hold_table_shows_only_when_a_sample_held() {
        use crate::results::{Machine, Params, Report, Sample};
        let sample = |client: &str, held: bool| Sample {
            client: client.into(),
            cell: "idle10".into(),
            run: 1,
            report: Report {
                workload: "idle".into(),
                count: 10,
                wall_s: 0.5,
                rss_before_kib: Some(1000),
                rss_after_kib: Some(1200),
                rss_held_kib: held.then_some(1210),
                heartbeats: held.then_some(50),
                ..Report::default()
            },
            process_cpu_s: 0.1,
            process_wall_s: 1.0,
        };
        let entry = |id: &str, role: &str| ClientEntry {
            id: id.into(),
            label: id.into(),
            role: role.into(),
            about: String::new(),
            status: None,
        };
        let mut file = BenchFile {
            format: crate::results::FORMAT,
            mode: "quick".into(),
            command: "test".into(),
            machine: Machine::default(),
            params: Params {
                runs: 1,
                idle_sockets: vec![10],
                settle_ms: 100,
                hold_ms: 1500,
                heartbeat_ms: 500,
                ..Params::default()
            },
            clients: vec![entry("floor", "floor"), entry("ours", "ours-callback")],
            samples: vec![sample("floor", false), sample("ours", true)],
            failures: Vec::new(),
            codec: None,
            duration_s: 1.0,
        };
        let text = markdown(&file, "b.json", "c.svg");
        assert!(
            text.contains("Holding 10 sockets with heartbeats"),
            "{text}"
        );
        assert!(text.contains("| ours | 50 | 20.0 | 21.0 |"), "{text}");
        assert!(!text.contains("| floor | 50"), "{text}");
        assert!(table(&file).contains("heartbeats @10"));
        // A file from before the hold: no samples with heartbeats.
        file.samples = vec![sample("floor", false), sample("ours", false)];
        assert!(!markdown(&file, "b.json", "c.svg").contains("Holding"));
        assert!(!table(&file).contains("heartbeats"));
    }

    #[test]
    fn verdicts() {
        assert_eq!(verdict(Some(3.0), Some(2.0), 2.0, true), "1.50x met");
        assert_eq!(verdict(Some(5.0), Some(2.0), 2.0, true), "2.50x **missed**");
        assert_eq!(verdict(Some(9.0), None, 8.0, false), "9.0 KiB **missed**");
        assert_eq!(verdict(None, Some(1.0), 2.0, true), "—");
        assert_eq!(rate(1_234_567.0), "1.23M");
        assert_eq!(rate(45_600.0), "46k");
    }
}
