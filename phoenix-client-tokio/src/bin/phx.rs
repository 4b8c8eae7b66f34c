//! `phx`: a command-line Phoenix Channels client, in the spirit of websocat.
//!
//! Built with the `cli` feature, so that the library gains no dependency by
//! default:
//!
//! ```text
//! cargo install --path phoenix-client-tokio --features cli
//! phx ws://localhost:4000/socket --topic room:lobby [--topic other:1] \
//!     [--param user_id=7] [--token T] [--header 'x-api-key: K'] \
//!     [--join-payload '{"k":1}'] [--json] [--count N] [--timeout SECS]
//! ```
//!
//! It connects, joins every topic, then pushes every stdin line `event
//! {json}` to the first topic (`@topic event {json}` picks another; the JSON
//! may be omitted for `{}`). Every incoming message, reply and status change
//! is printed: readable by default, one JSON object per line with `--json`.
//! `phx --help` lists the options, when a session ends and the exit codes.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::fmt;
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use futures_util::future::BoxFuture;
use futures_util::stream::{BoxStream, FuturesUnordered, SelectAll};
use futures_util::{FutureExt, StreamExt};
use phoenix_client_tokio::{
    Channel, ChannelEvent, Client, DEFAULT_CHANNEL_CAPACITY, DisconnectReason, JoinError, Payload,
    PushError, Reply, Status,
};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

const AFTER_HELP: &str = "\
STDIN:
  Each line `EVENT [JSON]` is pushed to the first topic, `@TOPIC EVENT [JSON]`
  to another one (JSON defaults to {}). Lines are read once every join has
  succeeded.

WHEN IT ENDS:
  With --count N: after the N-th message from the server (pushes and
  broadcasts, on any topic; replies do not count). The end of stdin does not
  end the session then.
  Without --count: once stdin has ended and every push has its reply (or its
  error).
  --timeout SECS bounds the whole session, connecting and joining included:
  when it passes before the session ends as above, phx exits with 5 (with or
  without --count).
  After the first connection, lost connections are retried and the topics
  rejoined, as the library does.

EXIT CODES:
  0  done (see above)
  1  any other error (stdin unreadable, the socket stopped, every channel
     closed)
  2  usage error
  3  could not connect: the server refused the WebSocket upgrade (HTTP status,
     e.g. 403) or the first connection attempt failed (DNS, TCP, TLS)
  4  a join failed: refused by the server (e.g. unauthorized, or join
     crashed), timed out, or the channel closed
  5  --timeout passed first

Errors that end the session go to stderr, prefixed with `phx: `. Errors that
do not (an unparsable line, a failed push) are printed with the output.";

/// A command-line Phoenix Channels client: joins topics, pushes stdin lines,
/// prints what the server sends.
#[derive(Debug, Parser)]
#[command(name = "phx", version, after_help = AFTER_HELP)]
struct Args {
    /// The socket URL, e.g. ws://localhost:4000/socket (wss:// for TLS).
    url: String,

    /// A topic to join; repeat for several. Stdin lines go to the first one.
    #[arg(short = 't', long = "topic", value_name = "TOPIC", required = true)]
    topics: Vec<String>,

    /// A connection parameter (the socket's `connect/3` params); repeatable.
    #[arg(short = 'p', long = "param", value_name = "KEY=VALUE", value_parser = key_value)]
    params: Vec<(String, String)>,

    /// The Phoenix 1.8 auth token (sent in the WebSocket subprotocol).
    #[arg(long, value_name = "TOKEN")]
    token: Option<String>,

    /// An HTTP header for the upgrade request; repeatable.
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE", value_parser = header)]
    headers: Vec<(String, String)>,

    /// The join payload of every topic (default {}).
    #[arg(long, value_name = "JSON", value_parser = json_text)]
    join_payload: Option<String>,

    /// Print one JSON object per line instead of readable lines.
    #[arg(long)]
    json: bool,

    /// Exit with 0 after N messages from the server, across topics.
    #[arg(short = 'n', long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,

    /// Exit with 5 when the session has not ended after SECS seconds
    /// (decimals allowed).
    #[arg(long, value_name = "SECS", value_parser = seconds)]
    timeout: Option<Duration>,
}

fn key_value(text: &str) -> Result<(String, String), String> {
    let (k, v) = text.split_once('=').ok_or("expected KEY=VALUE")?;
    Ok((k.to_owned(), v.to_owned()))
}

fn header(text: &str) -> Result<(String, String), String> {
    let (k, v) = text.split_once(':').ok_or("expected 'NAME: VALUE'")?;
    Ok((k.trim().to_owned(), v.trim().to_owned()))
}

fn json_text(text: &str) -> Result<String, String> {
    Payload::raw_json(text.to_owned()).map_err(|e| e.to_string())?;
    Ok(text.to_owned())
}

fn seconds(text: &str) -> Result<Duration, String> {
    let secs: f64 = text.parse().map_err(|_| "expected a number of seconds")?;
    match Duration::try_from_secs_f64(secs) {
        Ok(d) if !d.is_zero() => Ok(d),
        _ => Err("expected a positive number of seconds".to_owned()),
    }
}

/// The exit codes (see `AFTER_HELP`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Code {
    Other = 1,
    Refused = 3,
    Join = 4,
    Timeout = 5,
}

/// Why the session ended early: an exit code and a message for stderr.
#[derive(Debug)]
struct Fatal {
    code: Code,
    message: String,
}

impl Fatal {
    fn new(code: Code, message: impl fmt::Display) -> Self {
        Fatal {
            code,
            message: message.to_string(),
        }
    }
}

/// Prints lines, readable or as JSON.
#[derive(Debug, Clone, Copy)]
struct Printer {
    json: bool,
}

fn payload_json(payload: &Payload<'_>) -> Value {
    match payload.as_bytes() {
        Some(bytes) => {
            json!({ "binary_hex": bytes.iter().map(|b| format!("{b:02x}")).collect::<String>() })
        }
        None => payload.deserialize().unwrap_or(Value::Null),
    }
}

impl Printer {
    fn emit(self, record: Value, human: String) {
        let mut out = std::io::stdout().lock();
        let line = if self.json { record.to_string() } else { human };
        // A closed stdout (e.g. `| head`) ends the output, not the program.
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }

    fn event(self, topic: &str, event: &ChannelEvent) {
        match event {
            ChannelEvent::Message { event, payload } => {
                let p = payload_json(payload);
                self.emit(
                    json!({"type": "message", "topic": topic, "event": event, "payload": p}),
                    format!("< {topic} {event} {p}"),
                );
            }
            other => {
                let text = format!("{other:?}");
                self.emit(
                    json!({"type": "channel", "topic": topic, "state": text}),
                    format!("* {topic} {text}"),
                );
            }
        }
    }

    fn reply(self, topic: &str, event: &str, status: &str, response: &Payload<'_>) {
        let r = payload_json(response);
        self.emit(
            json!({"type": "reply", "topic": topic, "event": event, "status": status, "response": r}),
            format!("> {topic} {event} -> {status} {r}"),
        );
    }

    fn note(self, kind: &str, text: String) {
        self.emit(json!({"type": kind, "message": text}), format!("* {text}"));
    }
}

type ParsedLine<'a> = (&'a str, &'a str, Payload<'static>);

fn parse_line<'a>(line: &'a str, default_topic: &'a str) -> Result<ParsedLine<'a>, String> {
    let line = line.trim();
    let (topic, rest) = match line.strip_prefix('@') {
        Some(rest) => rest
            .split_once(char::is_whitespace)
            .ok_or("expected `@topic event {json}`")?,
        None => (default_topic, line),
    };
    let rest = rest.trim();
    let (event, body) = match rest.split_once(char::is_whitespace) {
        Some((event, body)) => (event, body.trim()),
        None => (rest, "{}"),
    };
    if event.is_empty() {
        return Err("empty event".to_owned());
    }
    let payload = Payload::raw_json(body.to_owned()).map_err(|e| e.to_string())?;
    Ok((topic, event, payload))
}

/// A join or a push that has finished.
enum Done {
    Joined {
        topic: Arc<str>,
        result: Result<Payload<'static>, JoinError>,
    },
    Replied {
        topic: Arc<str>,
        event: String,
        result: Result<Reply, PushError>,
    },
}

fn main() -> ExitCode {
    // clap prints --help and --version and exits 0, or exits 2 on a usage error.
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("phx: cannot start the tokio runtime: {e}");
            return ExitCode::from(Code::Other as u8);
        }
    };
    let code = runtime.block_on(run(args));
    // Exit at once: dropping the runtime would wait for the thread blocked
    // reading stdin, which cannot be cancelled.
    std::process::exit(code)
}

async fn run(args: Args) -> i32 {
    let mut builder = Client::builder(args.url.clone());
    for (k, v) in &args.params {
        builder = builder.param(k, v);
    }
    for (k, v) in &args.headers {
        builder = builder.header(k, v);
    }
    if let Some(token) = &args.token {
        builder = builder.auth_token(token);
    }
    let client = builder.connect();
    let code = match session(&client, &args).await {
        Ok(()) => 0,
        Err(fatal) => {
            eprintln!("phx: {}", fatal.message);
            fatal.code as i32
        }
    };
    // Close politely, without hanging on a server that does not answer.
    let _ = tokio::time::timeout(Duration::from_secs(2), client.shutdown()).await;
    code
}

/// Whether the socket has reached the server yet, and if it never will.
fn check_status(status: &Status, connected: &mut bool) -> Result<(), Fatal> {
    match status {
        Status::Connected => *connected = true,
        Status::Disconnected { reason, .. } if !*connected => match reason {
            DisconnectReason::Refused { .. } | DisconnectReason::TransportError { .. } => {
                return Err(Fatal::new(
                    Code::Refused,
                    format!("cannot connect: {reason}"),
                ));
            }
            // Closed or timed out: it was connected (a watch can skip a
            // status), and the socket reconnects by itself.
            _ => *connected = true,
        },
        Status::Stopped => return Err(Fatal::new(Code::Other, "the socket stopped")),
        _ => {}
    }
    Ok(())
}

async fn session(client: &Client, args: &Args) -> Result<(), Fatal> {
    let printer = Printer { json: args.json };
    let deadline = args.timeout.map(|t| tokio::time::Instant::now() + t);
    let sleep = tokio::time::sleep_until(deadline.unwrap_or_else(tokio::time::Instant::now));
    tokio::pin!(sleep);

    let mut status = client.status();
    let mut status_open = true;
    let mut connected = false;
    {
        let current = status.borrow_and_update().clone();
        printer.note("status", format!("{current:?}"));
        check_status(&current, &mut connected)?;
    }

    let join_payload = match &args.join_payload {
        Some(text) => Payload::raw_json(text.clone()),
        None => Ok(Payload::empty()),
    };
    let mut events: SelectAll<BoxStream<'static, (Arc<str>, ChannelEvent)>> = SelectAll::new();
    let mut tasks: FuturesUnordered<BoxFuture<'static, Done>> = FuturesUnordered::new();
    let mut channels: Vec<(Arc<str>, Channel)> = Vec::new();
    for topic in &args.topics {
        let topic: Arc<str> = Arc::from(topic.as_str());
        let channel = client.channel_raw(topic.to_string(), join_payload.clone());
        let stream = channel
            .events()
            .ok_or_else(|| Fatal::new(Code::Other, "the events stream was taken"))?;
        let name = topic.clone();
        events.push(stream.map(move |event| (name.clone(), event)).boxed());
        let (joining, name) = (channel.clone(), topic.clone());
        tasks.push(
            async move {
                let result = joining.join().await;
                Done::Joined {
                    topic: name,
                    result,
                }
            }
            .boxed(),
        );
        channels.push((topic, channel));
    }
    let default_topic = args.topics.first().cloned().unwrap_or_default();

    let mut joins_left = channels.len();
    let mut events_open = true;
    let mut received: u64 = 0;
    let mut pushes_left: usize = 0;
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut stdin_open = true;

    loop {
        if args.count.is_none() && joins_left == 0 && !stdin_open && pushes_left == 0 {
            // Print what arrived before the last reply (at most a full
            // queue per channel), then stop.
            let mut queued = DEFAULT_CHANNEL_CAPACITY.saturating_mul(channels.len());
            while queued > 0 {
                match events.next().now_or_never() {
                    Some(Some((topic, event))) => printer.event(&topic, &event),
                    _ => break,
                }
                queued -= 1;
            }
            return Ok(());
        }
        if !events_open && joins_left == 0 && pushes_left == 0 {
            // Every channel was closed for good (e.g. by the server), and
            // the replies that could still come have been printed.
            return Err(Fatal::new(Code::Other, "every channel has closed"));
        }
        tokio::select! {
            () = &mut sleep, if deadline.is_some() => {
                let secs = args.timeout.unwrap_or_default().as_secs_f64();
                let doing = if !connected {
                    "still connecting".to_owned()
                } else if joins_left > 0 {
                    format!("{joins_left} join(s) unanswered")
                } else if let Some(count) = args.count {
                    format!("{received} of {count} message(s) received")
                } else if stdin_open {
                    "stdin still open".to_owned()
                } else {
                    format!("{pushes_left} push(es) unanswered")
                };
                return Err(Fatal::new(Code::Timeout, format!("timed out after {secs}s: {doing}")));
            }
            changed = status.changed(), if status_open => {
                if changed.is_err() {
                    status_open = false;
                    continue;
                }
                let current = status.borrow_and_update().clone();
                printer.note("status", format!("{current:?}"));
                check_status(&current, &mut connected)?;
            }
            event = events.next(), if events_open => match event {
                Some((topic, event)) => {
                    printer.event(&topic, &event);
                    if matches!(event, ChannelEvent::Message { .. }) {
                        received += 1;
                        if args.count == Some(received) {
                            return Ok(());
                        }
                    }
                }
                None => events_open = false,
            },
            Some(done) = tasks.next(), if !tasks.is_empty() => match done {
                Done::Joined { topic, result } => match result {
                    Ok(response) => {
                        connected = true;
                        joins_left -= 1;
                        printer.reply(&topic, "phx_join", "ok", &response);
                    }
                    Err(e) => {
                        if let JoinError::Refused { status, response } = &e {
                            printer.reply(&topic, "phx_join", status, response);
                        }
                        let code = match e {
                            JoinError::SocketGone => Code::Other,
                            _ => Code::Join,
                        };
                        return Err(Fatal::new(code, format!("join {topic}: {e}")));
                    }
                },
                Done::Replied { topic, event, result } => {
                    pushes_left -= 1;
                    match result {
                        Ok(reply) => printer.reply(&topic, &event, &reply.status, &reply.response),
                        Err(e) => printer.note("error", format!("{topic} {event}: {e}")),
                    }
                }
            },
            line = lines.next_line(), if stdin_open && joins_left == 0 => {
                let line = match line {
                    Ok(Some(line)) => line,
                    Ok(None) => {
                        stdin_open = false;
                        continue;
                    }
                    Err(e) => return Err(Fatal::new(Code::Other, format!("reading stdin: {e}"))),
                };
                if line.trim().is_empty() {
                    continue;
                }
                let (topic, event, payload) = match parse_line(&line, &default_topic) {
                    Ok(parsed) => parsed,
                    Err(e) => {
                        printer.note("error", format!("cannot parse {line:?}: {e}"));
                        continue;
                    }
                };
                let Some((name, channel)) = channels.iter().find(|(t, _)| &**t == topic) else {
                    printer.note("error", format!("not joined to {topic}"));
                    continue;
                };
                let (channel, topic, event) = (channel.clone(), name.clone(), event.to_owned());
                pushes_left += 1;
                tasks.push(
                    async move {
                        let result = channel.push_raw(&event, payload).await;
                        Done::Replied { topic, event, result }
                    }
                    .boxed(),
                );
            }
        }
    }
}
