//! A simulator of the client state machine, shared by the property tests
//! (`phoenix-proto/tests/client_props.rs`, where proptest picks the
//! operations) and the fuzz target (`fuzz/fuzz_targets/state_machine.rs`,
//! where libFuzzer's bytes pick them through [`Op::decode`]). Both include
//! this file with `#[path = ...] mod sim;`, so it uses nothing but
//! `phoenix_proto` and `std`.
//!
//! A [`Harness`] plays the driver and the server around one [`Socket`]:
//! it runs arbitrary sequences of [`Op`]s (commands, connection events,
//! server frames well-formed, stale and malformed, time jumps) and checks
//! after every step, against a small reference model:
//! * nothing panics;
//! * every `PushId` that `push()` returned gets exactly one `PushDone`, on
//!   the channel it was pushed on, never for an id that was not returned; a
//!   timeout fires exactly at the deadline fixed when the push was made, and
//!   no other outcome comes after it;
//! * frames are only sent on an open connection, and nothing follows a
//!   `Close` but a new `Connect`; refs never repeat within the socket's
//!   lifetime; a join's join_ref is its ref and every later frame of the
//!   topic carries it;
//! * a frame with a stale join_ref (marked `{"stale":true}`) changes
//!   nothing: no event, no instruction; so does an input the driver reports
//!   out of turn (a close with no connection open, say);
//! * after `handle_timeout(now)`, `poll_timeout()` is never at or before
//!   `now`, and the driver's clock never goes backwards;
//! * every connection attempt calls the credential providers once and
//!   carries what they returned;
//! * channels: a closed channel id is unknown, at most one live channel per
//!   topic, `join` on a live topic says `AlreadyJoined` (one that is leaving is
//!   superseded), `push`/`leave`
//!   answer as the model says.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use phoenix_proto::client::{
    Backoff, ChannelId, ChannelState, Config, ConnectFailure, ConnectionState, Event, Instruction,
    JoinError, LeaveError, PushError, PushId, PushOutcome, Socket,
};
use phoenix_proto::codec::{
    Message, Payload, V1Serializer, WireMessage, WireRef, decode_client_binary, decode_client_text,
    decode_client_v1,
};
use phoenix_proto::url::auth_token_protocols;

/// The topics the operations pick from.
pub const TOPICS: [&str; 3] = ["t:0", "t:1", "t:2"];
/// Marks the payload of stale frames, which must never reach the application.
const STALE: &str = "stale";

/// How the socket under test is configured.
#[derive(Debug, Clone)]
pub struct Setup {
    /// The v1 (JSON object) format instead of v2.
    pub v1: bool,
    /// Heartbeat interval in ms, or none.
    pub heartbeat: Option<u64>,
    /// Default timeout in ms.
    pub default_timeout: u64,
    pub rejoin_after_refusal: bool,
    /// Short reconnect and rejoin schedules, with jitter and limits.
    pub short_backoff: bool,
    /// Params and auth token come from providers called per attempt.
    pub providers: bool,
    pub rng_seed: u64,
}

impl Setup {
    /// The defaults of the client, heartbeats off.
    pub fn plain() -> Self {
        Setup {
            v1: false,
            heartbeat: None,
            default_timeout: 10_000,
            rejoin_after_refusal: false,
            short_backoff: false,
            providers: false,
            rng_seed: 0,
        }
    }

    /// A setup from one byte of fuzz input.
    pub fn decode(flags: u8) -> Self {
        Setup {
            v1: flags & 1 != 0,
            heartbeat: match (flags >> 1) & 3 {
                0 => None,
                1 => Some(500),
                2 => Some(1_000),
                _ => Some(30_000),
            },
            default_timeout: if flags & 8 == 0 { 10_000 } else { 300 },
            rejoin_after_refusal: flags & 16 != 0,
            short_backoff: flags & 32 != 0,
            providers: flags & 64 != 0,
            rng_seed: u64::from(flags),
        }
    }
}

/// One step of a run.
#[derive(Debug, Clone)]
pub enum Op {
    Connect,
    Disconnect,
    Open,
    /// The pending connection attempt failed: with an HTTP status and a
    /// `Retry-After` in seconds, or without an answer.
    ConnectFailed {
        status: Option<u16>,
        retry_after: Option<u64>,
    },
    ServerClose {
        code: Option<u16>,
    },
    TransportError,
    Join {
        topic: usize,
    },
    Leave {
        topic: usize,
    },
    /// Leave or push on a channel id that is already closed.
    UseClosed {
        pick: usize,
        push: bool,
    },
    Push {
        topic: usize,
        timeout: u64,
        binary: bool,
        reserved: bool,
    },
    /// Answer an outstanding client frame.
    Reply {
        pick: usize,
        status: usize,
        null_join_ref: bool,
        close_after: bool,
    },
    /// A push, broadcast, phx_close or phx_error with the current or a null join_ref.
    Server {
        topic: usize,
        kind: usize,
        null_join_ref: bool,
    },
    /// A frame with a stale join_ref.
    Stale {
        topic: usize,
        kind: usize,
        pick: usize,
    },
    Garbage {
        bytes: Vec<u8>,
        binary: bool,
    },
    /// A frame built from plausible pieces, often valid.
    Pieces {
        tokens: Vec<usize>,
    },
    /// Time passes; a late driver runs every deadline at once at the end.
    Advance {
        ms: u64,
        late: bool,
    },
    /// The driver reports an input that does not fit the connection's
    /// state (a late report of a connection the socket already dropped):
    /// it must change nothing.
    OutOfTurn {
        kind: usize,
    },
}

/// Reads fuzz input a byte at a time; zeros once it runs out.
#[derive(Debug)]
pub struct Bytes<'a> {
    data: &'a [u8],
}

impl<'a> Bytes<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Bytes { data }
    }

    pub fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    fn index(&mut self) -> usize {
        usize::from(self.byte())
    }

    fn flag(&mut self) -> bool {
        self.byte() % 2 == 1
    }

    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        head
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

impl Op {
    /// The next operation from fuzz input. Replies get the weight they
    /// have in the property tests, since most frames need one.
    pub fn decode(input: &mut Bytes<'_>) -> Op {
        let topic = |input: &mut Bytes<'_>| input.index() % TOPICS.len();
        match input.byte() % 20 {
            0 => Op::Connect,
            1 => Op::Disconnect,
            2 => Op::Open,
            3 => {
                let status = [None, Some(403), Some(429), Some(503)][input.index() % 4];
                let retry = input.byte();
                Op::ConnectFailed {
                    status,
                    retry_after: (retry % 2 == 1).then_some(u64::from(retry / 8)),
                }
            }
            4 => {
                let code = input.byte();
                Op::ServerClose {
                    code: (code % 4 != 0).then_some(1000 + u16::from(code % 16)),
                }
            }
            5 => Op::TransportError,
            6 => Op::Join {
                topic: topic(input),
            },
            7 => Op::Leave {
                topic: topic(input),
            },
            8 => Op::UseClosed {
                pick: input.index(),
                push: input.flag(),
            },
            9 => Op::Push {
                topic: topic(input),
                timeout: u64::from(input.byte()) * 20,
                binary: input.byte() % 4 == 0,
                reserved: input.byte() % 32 == 0,
            },
            10..=12 => Op::Reply {
                pick: input.index(),
                status: input.index() % 6,
                null_join_ref: input.byte() % 8 == 0,
                close_after: input.flag(),
            },
            13 => Op::Server {
                topic: topic(input),
                kind: input.index() % 5,
                null_join_ref: input.byte() % 4 == 0,
            },
            14 => Op::Stale {
                topic: topic(input),
                kind: input.index() % 4,
                pick: input.index(),
            },
            15 => {
                let n = input.index() % 64;
                Op::Garbage {
                    binary: input.flag(),
                    bytes: input.bytes(n).to_vec(),
                }
            }
            16 => {
                let n = input.index() % 8;
                Op::Pieces {
                    tokens: input
                        .bytes(n)
                        .iter()
                        .map(|&t| usize::from(t) % PIECES.len())
                        .collect(),
                }
            }
            17 => Op::Advance {
                ms: u64::from(u16::from_le_bytes([input.byte(), input.byte()])),
                late: input.byte() % 4 == 0,
            },
            18 => Op::Advance {
                ms: u64::from(input.byte()),
                late: false,
            },
            _ => Op::OutOfTurn {
                kind: input.index(),
            },
        }
    }
}

/// Pieces for frames that are often well-formed but say random things.
pub const PIECES: [&str; 16] = [
    "null",
    r#""1""#,
    r#""2""#,
    r#""3""#,
    "1",
    r#""phoenix""#,
    r#""t:0""#,
    r#""t:1""#,
    r#""phx_reply""#,
    r#""phx_close""#,
    r#""phx_error""#,
    r#""msg""#,
    "{}",
    r#"{"status":"ok","response":{}}"#,
    r#"{"status":"error"}"#,
    "[]",
];

/// A frame the client sent on the current connection.
#[derive(Debug, Clone)]
pub struct Sent {
    join_ref: Option<String>,
    msg_ref: String,
    topic: String,
    event: String,
}

/// The model of one push.
#[derive(Debug)]
pub struct PushRec {
    channel: ChannelId,
    deadline: Instant,
    done: bool,
}

/// The model of one live channel.
#[derive(Debug)]
pub struct LiveChannel {
    topic: &'static str,
    leaving: bool,
}

/// The driver, the server and the reference model around one socket.
pub struct Harness {
    pub socket: Socket,
    v1: bool,
    pub start: Instant,
    pub now: Instant,
    /// The driver's view of the transport.
    pub connect_pending: bool,
    pub transport_open: bool,
    /// Every ref the client ever sent.
    refs: HashSet<String>,
    /// Frames of the current connection the server may answer.
    outstanding: Vec<Sent>,
    /// The last join_ref sent per topic, and the ones before it.
    pub latest_join: HashMap<String, String>,
    pub old_joins: HashMap<String, Vec<String>>,
    /// How often each provider (params, token) ran, when the setup has them.
    provider_calls: Option<[Arc<AtomicU64>; 2]>,
    /// How many `Connect` instructions came.
    pub connects: u64,
    // The model.
    pub pushes: BTreeMap<PushId, PushRec>,
    live: BTreeMap<ChannelId, LiveChannel>,
    pub topics: HashMap<&'static str, ChannelId>,
    closed: Vec<ChannelId>,
    seen_channels: HashSet<ChannelId>,
    counter: u64,
    /// Whether the step in progress lets the driver be late with timers.
    late: bool,
    /// Whether the step in progress may report malformed frames.
    malformed_ok: bool,
}

impl Harness {
    pub fn new(setup: &Setup) -> Self {
        let mut config = Config::new("ws://127.0.0.1:4000/socket");
        if setup.v1 {
            config.serializer = Arc::new(V1Serializer);
        }
        config.heartbeat_interval = setup.heartbeat.map(Duration::from_millis);
        config.default_timeout = Duration::from_millis(setup.default_timeout);
        config.rejoin_after_refusal = setup.rejoin_after_refusal;
        if setup.short_backoff {
            config.reconnect = Backoff::from_millis(&[10, 100])
                .with_jitter(0.5)
                .with_max_attempts(3);
            config.rejoin = Backoff::from_millis(&[100, 300]).with_max_attempts(2);
        }
        config.rng_seed = setup.rng_seed;
        let provider_calls: Option<[Arc<AtomicU64>; 2]> =
            setup.providers.then(|| [Arc::default(), Arc::default()]);
        if let Some([params_calls, token_calls]) = provider_calls.clone() {
            // Attempt n gets `attempt=n`, and a token unless n is a multiple of 3.
            config = config
                .param("ignored", "replaced by the provider")
                .params_fn(move || {
                    let n = params_calls.fetch_add(1, Ordering::SeqCst) + 1;
                    vec![("attempt".to_owned(), n.to_string())]
                })
                .auth_token_fn(move || {
                    let n = token_calls.fetch_add(1, Ordering::SeqCst) + 1;
                    (n % 3 != 0).then(|| format!("token-{n}"))
                });
        }
        let start = Instant::now();
        Harness {
            socket: Socket::new(config),
            v1: setup.v1,
            start,
            now: start,
            connect_pending: false,
            transport_open: false,
            refs: HashSet::new(),
            outstanding: Vec::new(),
            latest_join: HashMap::new(),
            old_joins: HashMap::new(),
            provider_calls,
            connects: 0,
            pushes: BTreeMap::new(),
            live: BTreeMap::new(),
            topics: HashMap::new(),
            closed: Vec::new(),
            seen_channels: HashSet::new(),
            counter: 0,
            late: false,
            malformed_ok: false,
        }
    }

    fn next_n(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    // ----- draining and checking -----------------------------------------

    fn decode(&self, wire: &WireMessage) -> Message<'static> {
        match wire {
            WireMessage::Text(t) if self.v1 => decode_client_v1(t).unwrap().into_owned(),
            WireMessage::Text(t) => decode_client_text(t).unwrap().into_owned(),
            WireMessage::Binary(b) => {
                assert!(!self.v1, "a v1 socket sent a binary frame");
                decode_client_binary(b).unwrap().into_owned()
            }
        }
    }

    fn on_instruction(&mut self, instruction: Instruction) {
        match instruction {
            Instruction::Connect(request) => {
                self.connects += 1;
                if let Some(calls) = &self.provider_calls {
                    let n = self.connects;
                    // Attempts queued but not drained yet may have called them too.
                    for calls in calls {
                        let calls = calls.load(Ordering::SeqCst);
                        assert!(calls >= n, "attempt {n} did not call the providers");
                    }
                    assert!(
                        request.url.contains(&format!("?attempt={n}&vsn=")),
                        "attempt {n} went to {}",
                        request.url
                    );
                    let token: Vec<String> = if n % 3 == 0 {
                        Vec::new()
                    } else {
                        auth_token_protocols(&format!("token-{n}")).into()
                    };
                    let offered: Vec<&str> =
                        request.subprotocols.iter().map(|p| p.expose()).collect();
                    assert_eq!(offered, token, "attempt {n} offered a stale token");
                }
                self.connect_pending = true;
                self.transport_open = false;
                self.outstanding.clear();
            }
            Instruction::Close { .. } => {
                assert!(
                    self.connect_pending || self.transport_open,
                    "Close with no connection open or being opened"
                );
                self.connect_pending = false;
                self.transport_open = false;
                self.outstanding.clear();
            }
            Instruction::Send(wire) => {
                assert!(
                    self.transport_open,
                    "sent {wire:?} without an open connection"
                );
                let m = self.decode(&wire);
                let msg_ref = m.msg_ref.as_deref().expect("every client frame has a ref");
                assert!(
                    self.refs.insert(msg_ref.to_owned()),
                    "ref {msg_ref} sent twice"
                );
                let topic = m.topic.to_string();
                match &*m.event {
                    "phx_join" => {
                        assert_eq!(m.join_ref.as_deref(), Some(msg_ref), "join_ref != ref");
                        if let Some(old) = self.latest_join.insert(topic.clone(), msg_ref.into()) {
                            self.old_joins.entry(topic.clone()).or_default().push(old);
                        }
                    }
                    "heartbeat" => {
                        assert_eq!(topic, "phoenix");
                        assert_eq!(m.join_ref, None);
                    }
                    _ => {
                        assert_eq!(
                            m.join_ref.as_deref(),
                            self.latest_join.get(&topic).map(String::as_str),
                            "{} on {topic} without the current join_ref",
                            m.event
                        );
                    }
                }
                self.outstanding.push(Sent {
                    join_ref: m.join_ref.map(|j| j.into_owned()),
                    msg_ref: msg_ref.to_owned(),
                    topic,
                    event: m.event.into_owned(),
                });
            }
        }
    }

    fn check_payload(payload: &Payload<'_>) {
        if let Some(text) = payload.as_json() {
            assert!(
                !text.contains(STALE),
                "a stale frame reached the app: {text}"
            );
        }
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::Connected | Event::Disconnected { .. } => {}
            Event::MalformedFrame { .. } => {
                assert!(self.malformed_ok, "malformed frame reported unprompted");
            }
            Event::Joined {
                channel,
                topic,
                response,
                ..
            } => {
                self.check_live(channel, &topic);
                Self::check_payload(&response);
            }
            Event::JoinRefused {
                channel,
                topic,
                response,
                ..
            } => {
                self.check_live(channel, &topic);
                Self::check_payload(&response);
            }
            Event::ChannelErrored { channel, topic, .. } => self.check_live(channel, &topic),
            Event::Message {
                channel,
                topic,
                payload,
                ..
            } => {
                self.check_live(channel, &topic);
                Self::check_payload(&payload);
            }
            Event::ChannelClosed { channel, topic, .. } => {
                self.check_live(channel, &topic);
                self.live.remove(&channel);
                if self.topics.get(&*topic) == Some(&channel) {
                    self.topics.remove(&*topic);
                }
                self.closed.push(channel);
            }
            Event::PushDone {
                push,
                channel,
                outcome,
            } => {
                let now = self.now;
                let late = self.late;
                let rec = self
                    .pushes
                    .get_mut(&push)
                    .unwrap_or_else(|| panic!("PushDone for {push}, never returned by push()"));
                assert!(!rec.done, "second PushDone for {push}");
                rec.done = true;
                assert_eq!(rec.channel, channel, "PushDone on the wrong channel");
                match &outcome {
                    PushOutcome::Timeout if late => assert!(now >= rec.deadline),
                    PushOutcome::Timeout => assert_eq!(now, rec.deadline, "timeout off time"),
                    // Another timer due at the same instant may settle it
                    // first; a late driver runs everything at `now`.
                    PushOutcome::Reply { response, .. } => {
                        Self::check_payload(response);
                        assert!(late || now <= rec.deadline, "outcome after the deadline");
                    }
                    _ => assert!(late || now <= rec.deadline, "outcome after the deadline"),
                }
            }
            Event::Connecting { attempt } => assert!(attempt >= 1, "attempt {attempt}"),
            Event::Pong { rtt, .. } => {
                assert!(
                    self.now - self.start >= rtt,
                    "a round trip longer than the run"
                );
            }
            other => panic!("unknown event {other:?}"),
        }
    }

    fn check_live(&self, channel: ChannelId, topic: &str) {
        let live = self
            .live
            .get(&channel)
            .unwrap_or_else(|| panic!("event for {channel}, which is not live"));
        assert_eq!(live.topic, topic);
    }

    /// Drains like a driver; returns how many instructions and events there were.
    fn drain(&mut self) -> (usize, usize) {
        let (mut t, mut e) = (0, 0);
        while let Some(instruction) = self.socket.poll_instruction() {
            t += 1;
            self.on_instruction(instruction);
        }
        while let Some(event) = self.socket.poll_event() {
            e += 1;
            self.on_event(event);
        }
        (t, e)
    }

    /// After any input: run what is due now, as a driver would at once.
    fn settle(&mut self) {
        self.drain();
        if self.socket.poll_timeout().is_some_and(|d| d <= self.now) {
            self.socket.handle_timeout(self.now);
            self.drain();
        }
        self.check_timeout();
        self.check_model();
    }

    fn check_timeout(&self) {
        if let Some(deadline) = self.socket.poll_timeout() {
            assert!(
                deadline > self.now,
                "poll_timeout {:?} not after now {:?}",
                deadline - self.start,
                self.now - self.start
            );
        }
    }

    fn check_model(&self) {
        let s = &self.socket;
        for (&id, ch) in &self.live {
            assert!(s.channel_state(id).is_some(), "{id} should be live");
            assert_eq!(s.channel_topic(id).map(|t| &**t), Some(ch.topic));
            assert_eq!(s.channel_for_topic(ch.topic), Some(id));
            if ch.leaving {
                assert_eq!(s.channel_state(id), Some(ChannelState::Leaving));
            } else {
                assert_ne!(s.channel_state(id), Some(ChannelState::Leaving));
            }
        }
        for &id in &self.closed {
            assert_eq!(s.channel_state(id), None, "closed {id} still known");
            assert_eq!(s.channel_topic(id), None);
        }
        for topic in TOPICS {
            assert_eq!(s.channel_for_topic(topic), self.topics.get(topic).copied());
        }
        let pending = self.pushes.values().filter(|p| !p.done).count();
        assert_eq!(s.pending_pushes(), pending);
        match s.connection_state() {
            ConnectionState::Connected => assert!(self.transport_open),
            ConnectionState::Connecting => assert!(self.connect_pending),
            ConnectionState::Disconnected { .. } => {
                assert!(!self.transport_open && !self.connect_pending);
            }
        }
    }

    // ----- server frames -------------------------------------------------

    fn token(value: Option<&str>) -> String {
        value.map_or("null".to_owned(), |v| format!("\"{v}\""))
    }

    fn message_frame(
        &self,
        jr: Option<&str>,
        r: Option<&str>,
        topic: &str,
        event: &str,
        payload: &str,
    ) -> String {
        if self.v1 {
            format!(
                r#"{{"event":"{event}","payload":{payload},"ref":{},"topic":"{topic}"}}"#,
                Self::token(r)
            )
        } else {
            format!(
                r#"[{},{},"{topic}","{event}",{payload}]"#,
                Self::token(jr),
                Self::token(r)
            )
        }
    }

    fn reply_frame(
        &self,
        jr: Option<&str>,
        r: &str,
        topic: &str,
        status: &str,
        response: &str,
    ) -> String {
        self.message_frame(
            jr,
            Some(r),
            topic,
            "phx_reply",
            &format!(r#"{{"response":{response},"status":"{status}"}}"#),
        )
    }

    fn feed_text(&mut self, text: &str) {
        self.socket.handle_message(self.now, WireRef::Text(text));
    }

    // ----- ops -----------------------------------------------------------

    pub fn run(&mut self, op: &Op) {
        self.late = false;
        self.malformed_ok = false;
        match op {
            Op::Connect => {
                let before = self.socket.connection_state();
                self.socket.connect(self.now);
                let (t, _) = self.drain();
                if matches!(before, ConnectionState::Disconnected { .. }) {
                    assert_eq!(t, 1);
                    assert_eq!(self.socket.connection_state(), ConnectionState::Connecting);
                } else {
                    assert_eq!(t, 0);
                    assert_eq!(self.socket.connection_state(), before);
                }
            }
            Op::Disconnect => {
                self.socket.disconnect(self.now);
                self.drain();
                assert_eq!(
                    self.socket.connection_state(),
                    ConnectionState::Disconnected {
                        reconnecting: false
                    }
                );
            }
            Op::Open => {
                let connecting = self.socket.connection_state() == ConnectionState::Connecting;
                assert_eq!(connecting, self.connect_pending);
                if connecting {
                    self.connect_pending = false;
                    self.transport_open = true;
                }
                self.socket.handle_connected(self.now);
            }
            Op::ConnectFailed {
                status,
                retry_after,
            } => {
                if self.connect_pending {
                    self.connect_pending = false;
                    let failure = match status {
                        Some(status) => {
                            let header = retry_after.map(|s| s.to_string());
                            ConnectFailure::http(
                                *status,
                                header.as_deref(),
                                None,
                                SystemTime::now(),
                            )
                        }
                        None => ConnectFailure::new("connection refused"),
                    };
                    self.socket.handle_connect_failed(self.now, failure);
                    self.drain();
                    if let (Some(_), Some(ra)) = (status, retry_after) {
                        // A scheduled reconnect honours Retry-After.
                        if let Some(d) = self.socket.poll_timeout() {
                            if matches!(
                                self.socket.connection_state(),
                                ConnectionState::Disconnected { reconnecting: true }
                            ) && self.pushes.values().all(|p| p.done)
                                // A join's timeout runs while disconnected too.
                                && self.live.is_empty()
                            {
                                assert!(d >= self.now + Duration::from_secs(*ra));
                            }
                        }
                    }
                }
            }
            Op::OutOfTurn { kind } => {
                self.out_of_turn(*kind);
                return self.settle();
            }
            Op::ServerClose { code } => {
                if self.transport_open {
                    self.transport_open = false;
                    self.socket.handle_closed(self.now, *code, "");
                }
            }
            Op::TransportError => {
                if self.transport_open {
                    self.transport_open = false;
                    self.socket.handle_transport_error(self.now, "reset");
                }
            }
            Op::Join { topic } => {
                let topic = TOPICS[*topic];
                let result = self.socket.join(self.now, topic, Payload::empty());
                match self.topics.get(topic) {
                    // A leaving channel is superseded: closed at once (its
                    // ChannelClosed is checked as it comes) and the topic is
                    // the new channel's.
                    Some(&live) if !self.live[&live].leaving => {
                        assert_eq!(result, Err(JoinError::AlreadyJoined { channel: live }));
                    }
                    _ => {
                        let id = result.unwrap();
                        assert!(self.seen_channels.insert(id), "channel id {id} reused");
                        self.live.insert(
                            id,
                            LiveChannel {
                                topic,
                                leaving: false,
                            },
                        );
                        self.topics.insert(topic, id);
                    }
                }
            }
            Op::Leave { topic } => {
                let Some(&id) = self.topics.get(TOPICS[*topic]) else {
                    return self.settle();
                };
                let result = self.socket.leave(self.now, id);
                let ch = self.live.get_mut(&id).unwrap();
                if ch.leaving {
                    assert_eq!(result, Err(LeaveError::AlreadyLeaving));
                } else {
                    result.unwrap();
                    ch.leaving = true;
                }
            }
            Op::UseClosed { pick, push } => {
                if self.closed.is_empty() {
                    return self.settle();
                }
                let id = self.closed[pick % self.closed.len()];
                if *push {
                    assert_eq!(
                        self.socket.push(self.now, id, "e", Payload::empty()),
                        Err(PushError::ChannelClosed)
                    );
                } else {
                    assert_eq!(
                        self.socket.leave(self.now, id),
                        Err(LeaveError::ChannelClosed)
                    );
                }
            }
            Op::Push {
                topic,
                timeout,
                binary,
                reserved,
            } => {
                let Some(&id) = self.topics.get(TOPICS[*topic]) else {
                    return self.settle();
                };
                let n = self.next_n();
                let payload = if *binary {
                    Payload::binary(n.to_be_bytes())
                } else {
                    Payload::raw_json(format!(r#"{{"n":{n}}}"#)).unwrap()
                };
                let event = if *reserved { "phx_leave" } else { "e" };
                let timeout = Duration::from_millis(*timeout);
                let result = self
                    .socket
                    .push_with_timeout(self.now, id, event, payload, timeout);
                let leaving = self.live[&id].leaving;
                if *reserved {
                    assert_eq!(result, Err(PushError::ReservedEvent));
                } else if leaving {
                    assert_eq!(result, Err(PushError::ChannelLeaving));
                } else if self.v1 && *binary {
                    // Sent at once: refused; held: fails when it is sent.
                    let joined = self.socket.channel_state(id) == Some(ChannelState::Joined)
                        && self.socket.is_connected();
                    if joined {
                        assert!(matches!(result, Err(PushError::Encode(_))));
                    } else {
                        self.record_push(result.unwrap(), id, timeout);
                    }
                } else {
                    self.record_push(result.unwrap(), id, timeout);
                }
            }
            Op::Reply {
                pick,
                status,
                null_join_ref,
                close_after,
            } => {
                if self.outstanding.is_empty() || !self.transport_open {
                    return self.settle();
                }
                // Mostly answer one of the latest frames, and each once;
                // sometimes answer again (only the first reply counts).
                let len = self.outstanding.len();
                let index = len - 1 - pick % len.min(3);
                let sent = if pick % 4 == 0 {
                    self.outstanding[index].clone()
                } else {
                    self.outstanding.remove(index)
                };
                let status = ["ok", "ok", "ok", "ok", "error", "custom"][*status];
                let n = self.next_n();
                let jr = if *null_join_ref {
                    None
                } else {
                    sent.join_ref.as_deref()
                };
                let frame = self.reply_frame(
                    jr,
                    &sent.msg_ref,
                    &sent.topic,
                    status,
                    &format!(r#"{{"n":{n}}}"#),
                );
                self.feed_text(&frame);
                if *close_after && sent.event == "phx_leave" {
                    let jr = sent.join_ref.as_deref();
                    let close = self.message_frame(jr, jr, &sent.topic, "phx_close", "{}");
                    self.drain();
                    self.feed_text(&close);
                }
            }
            Op::Server {
                topic,
                kind,
                null_join_ref,
            } => {
                if !self.transport_open {
                    return self.settle();
                }
                let topic = TOPICS[*topic];
                let current = self.latest_join.get(topic).cloned();
                let jr = if *null_join_ref {
                    None
                } else {
                    current.as_deref()
                };
                let n = self.next_n();
                let payload = format!(r#"{{"n":{n}}}"#);
                let frame = match kind {
                    0 | 1 => self.message_frame(jr, None, topic, "news", &payload),
                    2 => self.message_frame(jr, jr, topic, "phx_close", "{}"),
                    3 => self.message_frame(jr, jr, topic, "phx_error", &payload),
                    _ => self.message_frame(None, None, topic, "presence_diff", &payload),
                };
                self.feed_text(&frame);
            }
            Op::Stale { topic, kind, pick } => {
                if !self.transport_open || self.v1 {
                    // v1 frames have no join_ref: nothing can be stale.
                    return self.settle();
                }
                self.stale(TOPICS[*topic], *kind, *pick);
                return self.settle();
            }
            Op::Garbage { bytes, binary } => {
                self.malformed_ok = true;
                if *binary {
                    self.socket.handle_message(self.now, WireRef::Binary(bytes));
                } else {
                    let text = String::from_utf8_lossy(bytes).into_owned();
                    self.feed_text(&text);
                }
            }
            Op::Pieces { tokens } => {
                self.malformed_ok = true;
                let items: Vec<&str> = tokens.iter().map(|&t| PIECES[t]).collect();
                let text = format!("[{}]", items.join(","));
                self.feed_text(&text);
            }
            Op::Advance { ms, late } => {
                let target = self.now + Duration::from_millis(*ms);
                if *late {
                    self.late = true;
                    self.now = target;
                    self.socket.handle_timeout(self.now);
                    self.drain();
                    self.check_timeout();
                } else {
                    self.advance_to(target);
                }
            }
        }
        self.settle();
    }

    fn record_push(&mut self, id: PushId, channel: ChannelId, timeout: Duration) {
        assert!(
            !self.pushes.contains_key(&id),
            "push id {id} returned twice"
        );
        self.pushes.insert(
            id,
            PushRec {
                channel,
                // The socket never arms a timer less than 1 ms ahead.
                deadline: self.now + timeout.max(Duration::from_millis(1)),
                done: false,
            },
        );
    }

    /// Steps through every deadline up to `target`, each at its own instant.
    fn advance_to(&mut self, target: Instant) {
        let mut steps = 0;
        while let Some(deadline) = self.socket.poll_timeout() {
            if deadline > target {
                break;
            }
            assert!(deadline >= self.now, "deadline in the past");
            self.now = deadline;
            self.socket.handle_timeout(self.now);
            self.drain();
            self.check_timeout();
            steps += 1;
            assert!(steps < 100_000, "timers never settle");
        }
        self.now = target;
    }

    /// Reports an input that does not fit the connection's state, when the
    /// state allows one, and checks it changed nothing.
    fn out_of_turn(&mut self, kind: usize) {
        let now = self.now;
        let (open, pending) = (self.transport_open, self.connect_pending);
        match kind % 5 {
            0 if !open => self.socket.handle_closed(now, Some(1000), "late"),
            1 if !open => self.socket.handle_transport_error(now, "late"),
            2 if !pending => self
                .socket
                .handle_connect_failed(now, ConnectFailure::new("late")),
            3 if !pending => self.socket.handle_connect_failed(
                now,
                ConnectFailure::http(503, Some("1"), None, SystemTime::now()),
            ),
            4 if !pending => self.socket.handle_connected(now),
            _ => return,
        }
        assert_eq!(self.drain(), (0, 0), "input {kind} out of turn had effects");
    }

    /// Feeds a frame whose join_ref is stale and checks it changed nothing.
    fn stale(&mut self, topic: &str, kind: usize, pick: usize) {
        let olds = self.old_joins.get(topic).cloned().unwrap_or_default();
        let jr = if olds.is_empty() {
            "999999".to_owned()
        } else {
            olds[pick % olds.len()].clone()
        };
        let payload = r#"{"stale":true}"#;
        let frame = match kind {
            0 => self.message_frame(Some(&jr), None, topic, "news", payload),
            1 => self.message_frame(Some(&jr), Some(&jr), topic, "phx_close", payload),
            2 => self.message_frame(Some(&jr), Some(&jr), topic, "phx_error", payload),
            _ => {
                // A reply to a real outstanding frame of the topic (not a
                // heartbeat), under a stale join_ref.
                let candidates: Vec<Sent> = self
                    .outstanding
                    .iter()
                    .filter(|s| s.topic == topic)
                    .cloned()
                    .collect();
                if candidates.is_empty() {
                    self.message_frame(Some(&jr), None, topic, "news", payload)
                } else {
                    let sent = &candidates[pick % candidates.len()];
                    self.reply_frame(Some(&jr), &sent.msg_ref, topic, "ok", payload)
                }
            }
        };
        self.feed_text(&frame);
        let (t, e) = self.drain();
        assert_eq!((t, e), (0, 0), "stale frame {frame} had effects");
    }

    /// Disconnects and runs the clock until nothing is left; every push
    /// must then be settled exactly once.
    pub fn finish(&mut self) {
        self.socket.disconnect(self.now);
        self.drain();
        let mut steps = 0;
        while let Some(deadline) = self.socket.poll_timeout() {
            assert!(deadline >= self.now);
            self.now = deadline;
            self.socket.handle_timeout(self.now);
            self.drain();
            self.check_timeout();
            steps += 1;
            assert!(steps < 100_000, "timers never settle");
        }
        self.check_model();
        for (id, rec) in &self.pushes {
            assert!(rec.done, "{id} never resolved");
        }
        assert_eq!(self.socket.pending_pushes(), 0);
        // Long after, still nothing.
        self.now += Duration::from_secs(3600);
        self.socket.handle_timeout(self.now);
        assert_eq!(self.drain(), (0, 0));
    }
}

/// One whole run from fuzz input: the first byte picks the [`Setup`], the
/// rest the operations (at most 2 000), then [`Harness::finish`] settles
/// every push.
pub fn run_bytes(data: &[u8]) {
    let mut input = Bytes::new(data);
    let mut harness = Harness::new(&Setup::decode(input.byte()));
    let mut ops = 0;
    while !input.is_empty() && ops < 2_000 {
        let op = Op::decode(&mut input);
        harness.run(&op);
        ops += 1;
    }
    harness.finish();
}
