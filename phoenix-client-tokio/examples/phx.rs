//! `phx`: a command-line Phoenix Channels client, in the spirit of websocat.
//!
//! ```text
//! cargo run -p phoenix-client-tokio --example phx -- ws://localhost:4000/socket \
//!     --topic room:lobby [--topic other:1] [--param user_id=7] [--token T] \
//!     [--header 'x-api-key: K'] [--join-payload '{"k":1}'] [--json]
//! ```
//!
//! Every stdin line `event {json}` is pushed to the first topic; `@topic
//! event {json}` picks another. The JSON may be omitted (`{}`). Every
//! incoming message, reply and status change is printed: readable by
//! default, one JSON object per line with `--json`.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::error::Error;
use std::io::Write;
use std::sync::Arc;

use phoenix_client_tokio::{Channel, ChannelEvent, Client, Payload};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

type Result<T> = std::result::Result<T, Box<dyn Error + Send + Sync>>;

#[derive(Debug, Default)]
struct Args {
    url: String,
    topics: Vec<String>,
    params: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    token: Option<String>,
    join_payload: Option<String>,
    json: bool,
}

const USAGE: &str = "usage: phx URL --topic TOPIC [--topic TOPIC]... [--param K=V]... \
[--token TOKEN] [--header 'NAME: VALUE']... [--join-payload JSON] [--json]";

fn parse_args() -> Result<Args> {
    let mut args = Args::default();
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--topic" | "-t" => args.topics.push(value("--topic")?),
            "--param" | "-p" => {
                let kv = value("--param")?;
                let (k, v) = kv.split_once('=').ok_or("--param takes KEY=VALUE")?;
                args.params.push((k.to_owned(), v.to_owned()));
            }
            "--header" | "-H" => {
                let kv = value("--header")?;
                let (k, v) = kv.split_once(':').ok_or("--header takes 'NAME: VALUE'")?;
                args.headers
                    .push((k.trim().to_owned(), v.trim().to_owned()));
            }
            "--token" => args.token = Some(value("--token")?),
            "--join-payload" => args.join_payload = Some(value("--join-payload")?),
            "--json" => args.json = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            url if args.url.is_empty() && !url.starts_with('-') => args.url = url.to_owned(),
            other => return Err(format!("unexpected argument {other}\n{USAGE}").into()),
        }
    }
    if args.url.is_empty() || args.topics.is_empty() {
        return Err(USAGE.into());
    }
    Ok(args)
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

    fn event(self, topic: &str, event: ChannelEvent) {
        match event {
            ChannelEvent::Message { event, payload } => {
                let p = payload_json(&payload);
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

fn parse_line<'a>(
    line: &'a str,
    default_topic: &'a str,
) -> Result<(&'a str, &'a str, Payload<'static>)> {
    let line = line.trim();
    let (topic, rest) = match line.strip_prefix('@') {
        Some(rest) => rest
            .split_once(char::is_whitespace)
            .ok_or("`@topic event {json}`")?,
        None => (default_topic, line),
    };
    let rest = rest.trim();
    let (event, body) = match rest.split_once(char::is_whitespace) {
        Some((event, body)) => (event, body.trim()),
        None => (rest, "{}"),
    };
    if event.is_empty() {
        return Err("empty event".into());
    }
    Ok((topic, event, Payload::raw_json(body.to_owned())?))
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let printer = Printer { json: args.json };
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

    let mut status = client.status();
    tokio::spawn(async move {
        loop {
            let text = format!("{:?}", *status.borrow_and_update());
            printer.note("status", text);
            if status.changed().await.is_err() {
                return;
            }
        }
    });

    let join_payload = match &args.join_payload {
        Some(text) => Payload::raw_json(text.clone())?,
        None => Payload::empty(),
    };
    let mut channels: Vec<(String, Channel)> = Vec::new();
    for topic in &args.topics {
        let channel = client.channel_raw(topic.clone(), Ok(join_payload.clone()));
        let mut events = channel.events().ok_or("events taken")?;
        let name = topic.clone();
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                printer.event(&name, event);
            }
        });
        match channel.join().await {
            Ok(response) => printer.reply(topic, "phx_join", "ok", &response),
            Err(e) => printer.note("error", format!("join {topic}: {e}")),
        }
        channels.push((topic.clone(), channel));
    }
    let channels = Arc::new(channels);
    let default_topic = args.topics.first().cloned().unwrap_or_default();

    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut pending = Vec::new();
    while let Some(line) = lines.next_line().await? {
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
        let Some((_, channel)) = channels.iter().find(|(t, _)| t == topic) else {
            printer.note("error", format!("not joined to {topic}"));
            continue;
        };
        let (channel, topic, event) = (channel.clone(), topic.to_owned(), event.to_owned());
        pending.push(tokio::spawn(async move {
            match channel.push_raw(&event, payload).await {
                Ok(reply) => printer.reply(&topic, &event, &reply.status, &reply.response),
                Err(e) => printer.note("error", format!("{topic} {event}: {e}")),
            }
        }));
    }
    // stdin is done: wait for the outstanding replies, then leave.
    for task in pending {
        let _ = task.await;
    }
    client.shutdown().await;
    Ok(())
}
