//! A simulation harness for the state machine: a virtual clock, a record of
//! everything the client did on the wire, and helpers to play the server.
//!
//! Time only moves when a test says so, and `advance` jumps straight from
//! one deadline to the next, so half an hour of protocol time costs
//! microseconds.
#![allow(dead_code, unreachable_pub, clippy::panic, clippy::expect_used)]

use std::time::{Duration, Instant, SystemTime};

use phoenix_proto::client::{Config, ConnectFailure, ConnectRequest, Event, Instruction, Socket};
use phoenix_proto::codec::{
    Message, WireMessage, WireRef, decode_client_binary, decode_client_text,
};

/// One thing the client did on the wire.
#[derive(Debug, Clone, PartialEq)]
pub enum Wire {
    /// Opened (or asked to open) a connection.
    Connect(ConnectRequest),
    /// Sent a text frame.
    Text(String),
    /// Sent a binary frame.
    Binary(Vec<u8>),
    /// Closed the connection.
    Close(u16, String),
}

/// The client under test, with its clock and its records.
pub struct Sim {
    pub socket: Socket,
    pub start: Instant,
    pub now: Instant,
    /// Everything the client did, oldest first; `take_wire` empties it.
    pub wire: Vec<Wire>,
    /// Every event, oldest first; `take_events` empties it.
    pub events: Vec<Event>,
    /// (time since start, what) for every connection attempt, never emptied.
    pub connect_log: Vec<(Duration, ConnectRequest)>,
    /// The attempt number of every `Event::Connecting`, never emptied.
    pub attempts: Vec<u32>,
    /// Every `Event::Pong` (round trip, requested), never emptied.
    pub pongs: Vec<(Duration, bool)>,
}

impl Sim {
    pub fn new(config: Config) -> Self {
        let start = Instant::now();
        Sim {
            socket: Socket::new(config),
            start,
            now: start,
            wire: Vec::new(),
            events: Vec::new(),
            connect_log: Vec::new(),
            attempts: Vec::new(),
            pongs: Vec::new(),
        }
    }

    /// A config for `ws://127.0.0.1:4000/socket` with the defaults, but
    /// the reconnect schedule without jitter (phoenix.js's exact delays),
    /// so that tests can name each delay; jitter has tests of its own.
    pub fn config() -> Config {
        let mut config = Config::new("ws://127.0.0.1:4000/socket");
        config.reconnect = phoenix_proto::client::Backoff::reconnect_default();
        config
    }

    /// A socket that is connected, with the wire and events records empty.
    pub fn connected(config: Config) -> Self {
        let mut sim = Sim::new(config);
        sim.socket.connect(sim.now);
        sim.drain();
        sim.open();
        sim.wire.clear();
        sim.events.clear();
        sim
    }

    /// Drains instructions, then events, as a driver must after every input.
    pub fn drain(&mut self) {
        while let Some(t) = self.socket.poll_instruction() {
            match t {
                Instruction::Connect(req) => {
                    self.connect_log.push((self.now - self.start, req.clone()));
                    self.wire.push(Wire::Connect(req));
                }
                Instruction::Send(WireMessage::Text(text)) => self.wire.push(Wire::Text(text)),
                Instruction::Send(WireMessage::Binary(bytes)) => {
                    self.wire.push(Wire::Binary(bytes))
                }
                Instruction::Close { code, reason } => self.wire.push(Wire::Close(code, reason)),
            }
        }
        while let Some(e) = self.socket.poll_event() {
            match e {
                // Every attempt and every answered heartbeat: recorded
                // apart so the event lists of the tests stay about what
                // they test (their own tests check them).
                Event::Connecting { attempt } => self.attempts.push(attempt),
                Event::Pong { rtt, requested } => self.pongs.push((rtt, requested)),
                e => self.events.push(e),
            }
        }
        if let Some(deadline) = self.socket.poll_timeout() {
            assert!(
                deadline > self.now,
                "poll_timeout returned {:?}, not after now",
                deadline - self.start
            );
        }
    }

    /// The driver opened the connection.
    pub fn open(&mut self) {
        self.socket.handle_connected(self.now);
        self.drain();
    }

    /// The server refused the upgrade with HTTP `status` and this raw
    /// `Retry-After` header, if any.
    pub fn refuse(&mut self, status: u16, retry_after: Option<&str>) {
        self.connect_failed(ConnectFailure::http(
            status,
            retry_after,
            None,
            SystemTime::now(),
        ));
    }

    /// The TCP connect failed.
    pub fn unreachable(&mut self) {
        self.connect_failed(ConnectFailure::new("connection refused"));
    }

    /// The driver could not open the connection.
    pub fn connect_failed(&mut self, failure: ConnectFailure) {
        self.socket.handle_connect_failed(self.now, failure);
        self.drain();
    }

    /// The server closed the connection.
    pub fn server_close(&mut self, code: Option<u16>) {
        self.socket.handle_closed(self.now, code, "");
        self.drain();
    }

    /// A text frame from the server.
    pub fn recv(&mut self, text: &str) {
        self.socket.handle_message(self.now, WireRef::Text(text));
        self.drain();
    }

    /// A binary frame from the server.
    pub fn recv_binary(&mut self, bytes: &[u8]) {
        self.socket.handle_message(self.now, WireRef::Binary(bytes));
        self.drain();
    }

    /// Moves the clock forward by `by`, running every deadline on the way
    /// at its own instant.
    pub fn advance(&mut self, by: Duration) {
        let target = self.now + by;
        while let Some(deadline) = self.socket.poll_timeout() {
            if deadline > target {
                break;
            }
            assert!(deadline >= self.now, "deadline in the past");
            self.now = deadline;
            self.socket.handle_timeout(self.now);
            self.drain();
        }
        self.now = target;
    }

    /// Moves the clock to the next deadline and runs it; returns how far it moved.
    pub fn step(&mut self) -> Option<Duration> {
        let deadline = self.socket.poll_timeout()?;
        let moved = deadline - self.now;
        self.now = deadline;
        self.socket.handle_timeout(self.now);
        self.drain();
        Some(moved)
    }

    /// Time since the start.
    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    pub fn take_wire(&mut self) -> Vec<Wire> {
        std::mem::take(&mut self.wire)
    }

    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// The text frames sent since the last take, decoded.
    pub fn take_sent(&mut self) -> Vec<Message<'static>> {
        self.take_wire()
            .into_iter()
            .filter_map(|w| match w {
                Wire::Text(t) => Some(
                    decode_client_text(&t)
                        .expect("client sent valid v2 text")
                        .into_owned(),
                ),
                Wire::Binary(b) => Some(
                    decode_client_binary(&b)
                        .expect("client sent valid v2 binary")
                        .into_owned(),
                ),
                _ => None,
            })
            .collect()
    }

    /// The raw text frames sent since the last take.
    pub fn take_texts(&mut self) -> Vec<String> {
        self.take_wire()
            .into_iter()
            .filter_map(|w| match w {
                Wire::Text(t) => Some(t),
                _ => None,
            })
            .collect()
    }

    /// Plays a scripted server: every frame the client has sent (and sends
    /// while being answered) goes to `server`, whose answers are fed back,
    /// until the client has nothing more to say.
    pub fn serve(&mut self, server: &mut dyn FnMut(&Message<'_>) -> Vec<String>) {
        loop {
            let sent = self.take_sent();
            if sent.is_empty() {
                return;
            }
            for message in &sent {
                for answer in server(message) {
                    self.recv(&answer);
                }
            }
        }
    }
}

/// A scripted server that answers like the fixture's `echo:*` channels:
/// joins ok with `{}`, heartbeats ok, every push echoed back as an ok reply,
/// leaves ok then `phx_close`.
pub fn echo_server(message: &Message<'_>) -> Vec<String> {
    let jr = |m: &Message<'_>| {
        m.join_ref
            .as_deref()
            .map_or("null".to_owned(), |j| format!("\"{j}\""))
    };
    let r = message.msg_ref.as_deref().unwrap_or("");
    let t = &message.topic;
    match &*message.event {
        "heartbeat" => vec![format!(
            r#"[null,"{r}","phoenix","phx_reply",{{"response":{{}},"status":"ok"}}]"#
        )],
        "phx_join" => vec![format!(
            r#"[{},"{r}","{t}","phx_reply",{{"response":{{}},"status":"ok"}}]"#,
            jr(message)
        )],
        "phx_leave" => vec![
            format!(
                r#"[{},"{r}","{t}","phx_reply",{{"response":{{}},"status":"ok"}}]"#,
                jr(message)
            ),
            format!(r#"[{0},{0},"{t}","phx_close",{{}}]"#, jr(message)),
        ],
        _ => {
            let payload = message.payload.as_json().unwrap_or("{}");
            vec![format!(
                r#"[{},"{r}","{t}","phx_reply",{{"response":{payload},"status":"ok"}}]"#,
                jr(message)
            )]
        }
    }
}
