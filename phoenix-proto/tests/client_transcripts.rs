//! The state machine replayed against recorded transcripts: the real
//! server's frames are fed in the recorded order, and the frames the client
//! sends and the events it reports are checked.
//!
//! * `phoenix-1.7.21-live/*.jsonl` were recorded by a raw client that built
//!   every frame by hand. The socket is driven with commands so that it sends
//!   the recorded client frames; they are compared byte for byte. Where the
//!   raw client did something our client never does (a stale join_ref, a
//!   push on an unjoined topic, a hand-picked ref), the test says so, skips
//!   or re-numbers that frame, and keeps the server's frames as recorded:
//!   only their `join_ref`/`ref` tokens are ever renumbered to the refs our
//!   client really used.
//! * `phoenix-1.8-modules/js_client.txt` is what the official JS client did;
//!   the same sequences are replayed and every deliberate difference from
//!   phoenix.js is noted where it shows.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use phoenix_proto::client::{
    ChannelCloseReason, ChannelErrorReason, ChannelId, ChannelState, Config, ConnectFailure,
    DisconnectReason, Event, JoinError, LeaveError, PushError, PushFailure, PushId, PushOutcome,
};
use phoenix_proto::codec::{Payload, V1Serializer, WireRef};
use serde_json::Value;
use serde_json::value::RawValue;
use support::{Sim, Wire};

const LIVE_DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/transcripts/phoenix-1.7.21-live"
);
const JS_CLIENT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/transcripts/phoenix-1.8-modules/js_client.txt"
);

// ---------------------------------------------------------------------------
// Recorded frames.

/// One frame as it was on the wire.
#[derive(Debug, Clone, PartialEq)]
enum Frame {
    Text(String),
    Binary(Vec<u8>),
}

impl Frame {
    fn text(&self) -> &str {
        match self {
            Frame::Text(t) => t,
            Frame::Binary(_) => panic!("expected a text frame, got {self:?}"),
        }
    }
}

/// What a replay steps through, in recorded order.
#[derive(Debug, Clone, PartialEq)]
enum Rec {
    /// The client opened a connection to this URL.
    Connect(String),
    /// The WebSocket opened.
    Open,
    /// Client to server.
    Out(Frame),
    /// Server to client.
    In(Frame),
    /// The connection closed with this code.
    Close(Option<u16>),
    /// The client closed the connection with this code.
    ClientClose(u16),
}

fn hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    assert!(digits.len() % 2 == 0, "odd hex {text}");
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

/// The records of one connection of a live transcript.
fn live(name: &str, conn: &str) -> Vec<Rec> {
    let path = format!("{LIVE_DIR}/{name}.jsonl");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut recs = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).unwrap();
        if v["conn"].as_str() != Some(conn) {
            continue;
        }
        let frame = || match v["type"].as_str() {
            Some("text") => Frame::Text(v["frame"].as_str().unwrap().to_owned()),
            Some("binary") => Frame::Binary(hex(v["frame"].as_str().unwrap())),
            other => panic!("frame type {other:?} in {name}"),
        };
        let code = || v["code"].as_u64().map(|c| u16::try_from(c).unwrap());
        match (v["dir"].as_str().unwrap(), v["event"].as_str()) {
            ("out", _) => recs.push(Rec::Out(frame())),
            ("in", _) => recs.push(Rec::In(frame())),
            ("meta", Some("connect")) => {
                recs.push(Rec::Connect(v["url"].as_str().unwrap().to_owned()));
            }
            ("meta", Some("open")) => recs.push(Rec::Open),
            ("meta", Some("close")) => recs.push(Rec::Close(code())),
            ("meta", Some("client_close")) => recs.push(Rec::ClientClose(code().unwrap())),
            _ => {}
        }
    }
    assert!(!recs.is_empty(), "no records for {conn} in {name}");
    recs
}

/// The frames of one `### section` of `js_client.txt`, in order.
fn js_section(section: &str) -> Vec<Rec> {
    let text = std::fs::read_to_string(JS_CLIENT).unwrap();
    let mut recs = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("### ") {
            inside = name.trim() == section;
            continue;
        }
        if !inside {
            continue;
        }
        // "<ms> C->S <frame>" / "<ms> S->C <frame>" / "<ms> C->S binary 00 01 .."
        let rest = line
            .trim_start()
            .trim_start_matches(|c: char| c.is_ascii_digit());
        let rest = rest.trim_start();
        let (out, body) = if let Some(body) = rest.strip_prefix("C->S ") {
            (true, body)
        } else if let Some(body) = rest.strip_prefix("S->C ") {
            (false, body)
        } else {
            continue;
        };
        let frame = match body.strip_prefix("binary ") {
            Some(bytes) => Frame::Binary(hex(bytes)),
            None => Frame::Text(body.to_owned()),
        };
        recs.push(if out { Rec::Out(frame) } else { Rec::In(frame) });
    }
    assert!(!recs.is_empty(), "no section {section}");
    recs
}

/// How to renumber one of the first two elements of a v2 text frame.
#[derive(Debug, Clone, Copy)]
enum T {
    /// Leave it as recorded.
    Keep,
    /// Make it `null`.
    Null,
    /// Make it this ref (a JSON string).
    R(&'static str),
}

/// `frame` with its join_ref and ref tokens replaced; everything after them
/// (topic, event, payload) is kept byte for byte.
fn renumber(frame: &str, jr: T, r: T) -> String {
    let body = frame.strip_prefix('[').expect("a v2 array frame");
    let (first, rest) = body.split_once(',').unwrap();
    let (second, rest) = rest.split_once(',').unwrap();
    let token = |old: &str, t: T| match t {
        T::Keep => old.to_owned(),
        T::Null => "null".to_owned(),
        T::R(r) => format!("\"{r}\""),
    };
    format!("[{},{},{rest}", token(first, jr), token(second, r))
}

/// The raw JSON of element 4 of a v2 text frame (the payload), as sent.
fn raw_payload(frame: &str) -> String {
    let elements: Vec<Box<RawValue>> = serde_json::from_str(frame).unwrap();
    elements[4].get().to_owned()
}

/// The raw `response` of a v2 text reply, as sent.
fn raw_response(frame: &str) -> String {
    let payload = raw_payload(frame);
    let members: HashMap<String, Box<RawValue>> = serde_json::from_str(&payload).unwrap();
    members["response"].get().to_owned()
}

/// Same URL, query parameters in any order.
fn same_url(a: &str, b: &str) -> bool {
    let split = |u: &str| {
        let (base, query) = u.split_once('?').unwrap_or((u, ""));
        let mut pairs: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
        pairs.sort_unstable();
        (base.to_owned(), pairs.join("&"))
    };
    split(a) == split(b)
}

// ---------------------------------------------------------------------------
// Events.

fn json(text: &str) -> Payload<'static> {
    Payload::raw_json(text).unwrap()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn joined(channel: ChannelId, topic: &str, response: &str, rejoin: bool) -> Event {
    Event::Joined {
        channel,
        topic: topic.into(),
        response: json(response),
        rejoin,
    }
}

fn refused(channel: ChannelId, topic: &str, response: &str, will_retry: bool) -> Event {
    Event::JoinRefused {
        channel,
        topic: topic.into(),
        status: "error".into(),
        response: json(response),
        will_retry,
    }
}

fn closed(channel: ChannelId, topic: &str, reason: ChannelCloseReason) -> Event {
    Event::ChannelClosed {
        channel,
        topic: topic.into(),
        reason,
    }
}

fn errored(channel: ChannelId, topic: &str, reason: ChannelErrorReason) -> Event {
    Event::ChannelErrored {
        channel,
        topic: topic.into(),
        reason,
    }
}

fn lost(channel: ChannelId, topic: &str) -> Event {
    errored(channel, topic, ChannelErrorReason::ConnectionLost)
}

fn crashed(channel: ChannelId, topic: &str, payload: &str) -> Event {
    errored(
        channel,
        topic,
        ChannelErrorReason::Crashed {
            payload: json(payload),
        },
    )
}

fn message(channel: ChannelId, topic: &str, event: &str, payload: Payload<'static>) -> Event {
    Event::Message {
        channel,
        topic: topic.into(),
        event: event.into(),
        payload,
    }
}

fn done(push: PushId, channel: ChannelId, outcome: PushOutcome) -> Event {
    Event::PushDone {
        push,
        channel,
        outcome,
    }
}

fn replied(push: PushId, channel: ChannelId, status: &str, response: Payload<'static>) -> Event {
    done(
        push,
        channel,
        PushOutcome::Reply {
            status: status.into(),
            response,
        },
    )
}

fn failed(push: PushId, channel: ChannelId, failure: PushFailure) -> Event {
    done(push, channel, PushOutcome::Failed(failure))
}

fn requested() -> Event {
    Event::Disconnected {
        reason: DisconnectReason::Requested,
        reconnect_in: None,
    }
}

fn server_closed(code: u16, reconnect_in: Duration) -> Event {
    Event::Disconnected {
        reason: DisconnectReason::Closed {
            code: Some(code),
            reason: String::new(),
        },
        reconnect_in: Some(reconnect_in),
    }
}

/// A config whose heartbeats only come when a test says so: the recorder's
/// raw client sent heartbeats by hand, so most replays turn ours off.
fn quiet_config() -> Config {
    let mut config = Sim::config();
    config.heartbeat_interval = None;
    config
}

// ---------------------------------------------------------------------------
// The replay driver.

struct Replay {
    sim: Sim,
    recs: Vec<Rec>,
    pos: usize,
}

impl Replay {
    fn new(recs: Vec<Rec>, config: Config) -> Self {
        Replay {
            sim: Sim::new(config),
            recs,
            pos: 0,
        }
    }

    fn live(name: &str, conn: &str, config: Config) -> Self {
        Replay::new(live(name, conn), config)
    }

    fn next(&mut self) -> Rec {
        let rec = self
            .recs
            .get(self.pos)
            .cloned()
            .unwrap_or_else(|| panic!("replay ran past the end of the recording"));
        self.pos += 1;
        rec
    }

    fn next_out(&mut self) -> Frame {
        match self.next() {
            Rec::Out(f) => f,
            other => panic!(
                "record {}: expected a client frame, got {other:?}",
                self.pos
            ),
        }
    }

    fn next_in(&mut self) -> Frame {
        match self.next() {
            Rec::In(f) => f,
            other => panic!(
                "record {}: expected a server frame, got {other:?}",
                self.pos
            ),
        }
    }

    /// Connects and opens; the URL must be the recorded one (query
    /// parameters in any order).
    fn open(&mut self) {
        self.open_checking(|ours, recorded| {
            assert!(same_url(ours, recorded), "url {ours} != {recorded}");
        });
    }

    fn open_checking(&mut self, check: impl FnOnce(&str, &str)) {
        let Rec::Connect(url) = self.next() else {
            panic!("expected a connect record")
        };
        self.sim.socket.connect(self.sim.now);
        self.sim.drain();
        let Some(Wire::Connect(request)) = self.sent_any() else {
            panic!("connect() issued no Connect")
        };
        check(&request.url, &url);
        assert_eq!(self.next(), Rec::Open);
        self.sim.open();
        assert_eq!(self.events(), [Event::Connected]);
    }

    fn sent_any(&mut self) -> Option<Wire> {
        (!self.sim.wire.is_empty()).then(|| self.sim.wire.remove(0))
    }

    /// The client's next frame on the wire.
    fn sent(&mut self) -> Frame {
        match self.sent_any() {
            Some(Wire::Text(t)) => Frame::Text(t),
            Some(Wire::Binary(b)) => Frame::Binary(b),
            other => panic!("expected the client to send a frame, got {other:?}"),
        }
    }

    /// The client sent exactly the recorded frame.
    fn out(&mut self) {
        let recorded = self.next_out();
        assert_eq!(self.sent(), recorded);
    }

    /// The client sent the recorded frame with its refs renumbered.
    fn out_refs(&mut self, jr: T, r: T) {
        let recorded = self.next_out();
        let expected = renumber(recorded.text(), jr, r);
        assert_eq!(self.sent(), Frame::Text(expected));
    }

    /// The client sent `ours` where the recording has a different frame
    /// (a deliberate difference, explained at the call).
    fn out_as(&mut self, ours: &str) -> Frame {
        let recorded = self.next_out();
        assert_eq!(self.sent(), Frame::Text(ours.to_owned()));
        recorded
    }

    /// A v1 client frame: ours also carries `join_ref` (optional in v1, and
    /// what lets the server tell joins apart), otherwise byte for byte.
    fn out_v1(&mut self, join_ref: &str) {
        let recorded = self.next_out();
        let text = recorded.text();
        let expected = format!(
            "{},\"join_ref\":\"{join_ref}\"}}",
            text.strip_suffix('}').unwrap()
        );
        assert_eq!(self.sent(), Frame::Text(expected));
    }

    /// A frame of the raw recorder that our client does not send.
    fn skip_out(&mut self) -> Frame {
        assert!(self.sim.wire.is_empty(), "unexpected {:?}", self.sim.wire);
        self.next_out()
    }

    fn deliver(&mut self, frame: &Frame) {
        match frame {
            Frame::Text(t) => self.sim.recv(t),
            Frame::Binary(b) => self.sim.recv_binary(b),
        }
    }

    /// Feeds the next server frame as recorded; returns it.
    fn feed(&mut self) -> Frame {
        let frame = self.next_in();
        self.deliver(&frame);
        frame
    }

    /// Feeds the next server frame with its refs renumbered to ours.
    fn feed_refs(&mut self, jr: T, r: T) -> Frame {
        let recorded = self.next_in();
        let frame = Frame::Text(renumber(recorded.text(), jr, r));
        self.deliver(&frame);
        frame
    }

    /// The server closed the connection as recorded.
    fn server_close(&mut self) {
        let Rec::Close(code) = self.next() else {
            panic!("expected a close record")
        };
        self.sim.server_close(code);
    }

    /// The client closed the connection as recorded: `disconnect()`.
    fn client_close(&mut self) {
        let Rec::ClientClose(code) = self.next() else {
            panic!("expected a client_close record")
        };
        self.sim.socket.disconnect(self.sim.now);
        self.sim.drain();
        assert_eq!(
            self.sent_any(),
            Some(Wire::Close(code, "client disconnect".into()))
        );
        assert!(matches!(self.next(), Rec::Close(_)));
    }

    fn events(&mut self) -> Vec<Event> {
        self.sim.take_events()
    }

    /// Nothing happened: no event, nothing sent.
    fn quiet(&mut self) {
        assert_eq!(self.events(), []);
        assert_eq!(self.sim.wire, []);
    }

    fn finish(&mut self) {
        assert_eq!(self.pos, self.recs.len(), "records left over");
        assert_eq!(self.sim.wire, [], "frames sent but not checked");
        assert_eq!(self.events(), [], "events not checked");
    }

    fn join(&mut self, topic: &str, payload: &str) -> ChannelId {
        let ch = self.sim.socket.join(self.sim.now, topic, json(payload));
        self.sim.drain();
        ch.unwrap()
    }

    fn push(&mut self, ch: ChannelId, event: &str, payload: Payload<'static>) -> PushId {
        let id = self.sim.socket.push(self.sim.now, ch, event, payload);
        self.sim.drain();
        id.unwrap()
    }

    fn push_timeout(&mut self, ch: ChannelId, event: &str, payload: &str, t: Duration) -> PushId {
        let id = self
            .sim
            .socket
            .push_with_timeout(self.sim.now, ch, event, json(payload), t);
        self.sim.drain();
        id.unwrap()
    }

    fn leave(&mut self, ch: ChannelId) {
        self.sim.socket.leave(self.sim.now, ch).unwrap();
        self.sim.drain();
    }

    fn state(&self, ch: ChannelId) -> Option<ChannelState> {
        self.sim.socket.channel_state(ch)
    }
}

// ---------------------------------------------------------------------------
// phoenix-1.7.21-live

#[test]
fn live_join_ok() {
    let mut r = Replay::live("join_ok", "A", quiet_config().param("user_id", "u1"));
    r.open();
    let ch = r.join("echo:1", r#"{"hello":"world"}"#);
    r.out();
    r.feed();
    assert_eq!(
        r.events(),
        [joined(ch, "echo:1", r#"{"joined":"echo:1"}"#, false)]
    );
    r.client_close();
    assert_eq!(r.events(), [requested(), lost(ch, "echo:1")]);
    r.finish();
}

#[test]
fn live_join_error() {
    let mut r = Replay::live("join_error", "A", quiet_config());
    r.open();
    let first = r.join("auth:1", r#"{"token":"wrong"}"#);
    r.out();
    r.feed();
    let unauthorized = r#"{"reason":"unauthorized"}"#;
    // A refused join is final by default (phoenix.js would retry it).
    assert_eq!(
        r.events(),
        [
            refused(first, "auth:1", unauthorized, false),
            closed(first, "auth:1", ChannelCloseReason::JoinRefused)
        ]
    );
    assert_eq!(r.state(first), None);
    let second = r.join("auth:1", "{}");
    r.out();
    r.feed();
    assert_eq!(
        r.events(),
        [
            refused(second, "auth:1", unauthorized, false),
            closed(second, "auth:1", ChannelCloseReason::JoinRefused)
        ]
    );
    // The recorder then pushed on the refused topic with the old join_ref.
    // Our channel is closed, so the push is refused and nothing is sent.
    assert_eq!(
        r.sim
            .socket
            .push(r.sim.now, second, "anything", Payload::empty()),
        Err(PushError::ChannelClosed)
    );
    r.skip_out();
    // The server's "unmatched topic" answer to it names a ref we never used.
    r.feed();
    r.quiet();
    let third = r.join("auth:1", r#"{"token":"secret"}"#);
    // Our third join takes ref 3 (the recorder's was 4).
    r.out_refs(T::R("3"), T::R("3"));
    r.feed_refs(T::R("3"), T::R("3"));
    assert_eq!(r.events(), [joined(third, "auth:1", "{}", false)]);
    r.client_close();
    assert_eq!(r.events(), [requested(), lost(third, "auth:1")]);
    r.finish();
}

#[test]
fn live_join_unmatched_topic() {
    let mut r = Replay::live("join_unmatched_topic", "A", Sim::config());
    r.open();
    let ch = r.join("nosuchtopic:1", "{}");
    r.out();
    // The error reply has a null join_ref: it still answers our join.
    r.feed();
    assert_eq!(
        r.events(),
        [
            refused(
                ch,
                "nosuchtopic:1",
                r#"{"reason":"unmatched topic"}"#,
                false
            ),
            closed(ch, "nosuchtopic:1", ChannelCloseReason::JoinRefused)
        ]
    );
    // The socket stays up: the next heartbeat goes out and is answered.
    r.sim.advance(Duration::from_secs(30));
    r.out();
    r.feed();
    r.quiet();
    assert!(r.sim.socket.is_connected());
    r.client_close();
    assert_eq!(r.events(), [requested()]);
    r.finish();
}

#[test]
fn live_push_ok() {
    let mut r = Replay::live("push_ok", "A", quiet_config());
    r.open();
    let ch = r.join("echo:1", "{}");
    r.out();
    r.feed();
    assert_eq!(
        r.events(),
        [joined(ch, "echo:1", r#"{"joined":"echo:1"}"#, false)]
    );
    let payload = r#"{"a":1,"nested":{"b":[1,2,"x"]},"s":"héllo ✓"}"#;
    let p1 = r.push(ch, "echo", json(payload));
    r.out();
    let reply = r.feed();
    assert_eq!(raw_response(reply.text()), payload);
    assert_eq!(r.events(), [replied(p1, ch, "ok", json(payload))]);
    let p2 = r.push(ch, "echo", Payload::empty());
    r.out();
    r.feed();
    assert_eq!(r.events(), [replied(p2, ch, "ok", json("{}"))]);
    r.client_close();
    assert_eq!(r.events(), [requested(), lost(ch, "echo:1")]);
    r.finish();
}

#[test]
fn live_push_error() {
    let mut r = Replay::live("push_error", "A", quiet_config());
    r.open();
    let ch = r.join("echo:1", "{}");
    r.out();
    r.feed();
    r.events();
    let p = r.push(ch, "error", json(r#"{"why":"because"}"#));
    r.out();
    r.feed();
    assert_eq!(
        r.events(),
        [replied(p, ch, "error", json(r#"{"why":"because"}"#))]
    );
    r.client_close();
    assert_eq!(r.events(), [requested(), lost(ch, "echo:1")]);
    r.finish();
}

#[test]
fn live_push_noreply_times_out() {
    let mut r = Replay::live("push_noreply", "A", quiet_config());
    r.open();
    let ch = r.join("echo:1", "{}");
    r.out();
    r.feed();
    r.events();
    // The recording waits 1 s in silence; our push's timeout is that second.
    let quiet = r.push_timeout(ch, "noreply", r#"{"x":1}"#, ms(1000));
    r.out();
    r.sim.advance(ms(999));
    r.quiet();
    r.sim.advance(ms(1));
    assert_eq!(r.events(), [done(quiet, ch, PushOutcome::Timeout)]);
    let p = r.push(ch, "echo", json(r#"{"after":"noreply"}"#));
    r.out();
    r.feed();
    assert_eq!(
        r.events(),
        [replied(p, ch, "ok", json(r#"{"after":"noreply"}"#))]
    );
    r.client_close();
    assert_eq!(r.events(), [requested(), lost(ch, "echo:1")]);
    r.finish();
}

#[test]
fn live_broadcast_reaches_both_sockets_before_the_reply() {
    let mut a = Replay::live("broadcast", "A", quiet_config());
    let mut b = Replay::live("broadcast", "B", quiet_config());
    a.open();
    b.open();
    let cha = a.join("echo:room", "{}");
    a.out();
    a.feed();
    assert_eq!(
        a.events(),
        [joined(cha, "echo:room", r#"{"joined":"echo:room"}"#, false)]
    );
    let chb = b.join("echo:room", "{}");
    // The recorder picked ref 7 for socket B; ours starts at 1.
    b.out_refs(T::R("1"), T::R("1"));
    b.feed_refs(T::R("1"), T::R("1"));
    assert_eq!(
        b.events(),
        [joined(chb, "echo:room", r#"{"joined":"echo:room"}"#, false)]
    );
    let p = a.push(cha, "broadcast", json(r#"{"msg":"hi all"}"#));
    a.out();
    a.feed();
    a.feed();
    let hi = json(r#"{"msg":"hi all"}"#);
    assert_eq!(
        a.events(),
        [
            message(cha, "echo:room", "broadcasted", hi.clone()),
            replied(p, cha, "ok", json("{}"))
        ]
    );
    b.feed();
    assert_eq!(b.events(), [message(chb, "echo:room", "broadcasted", hi)]);
    a.client_close();
    b.client_close();
    assert_eq!(a.events(), [requested(), lost(cha, "echo:room")]);
    assert_eq!(b.events(), [requested(), lost(chb, "echo:room")]);
    a.finish();
    b.finish();
}

#[test]
fn live_server_push_and_many() {
    let mut r = Replay::live("server_push", "A", quiet_config());
    r.open();
    let ch = r.join("echo:1", "{}");
    r.out();
    r.feed();
    r.events();
    let push_me = r.push(ch, "push_me", json(r#"{"x":42}"#));
    r.out();
    r.feed();
    assert_eq!(
        r.events(),
        [message(ch, "echo:1", "pushed", json(r#"{"x":42}"#))]
    );
    let many = r.push(ch, "many", json(r#"{"n":5}"#));
    r.out();
    for i in 1..=5 {
        r.feed();
        assert_eq!(
            r.events(),
            [message(
                ch,
                "echo:1",
                "item",
                json(&format!(r#"{{"i":{i}}}"#))
            )]
        );
    }
    r.feed();
    assert_eq!(r.events(), [replied(many, ch, "ok", json("{}"))]);
    // push_me never got a reply; closing the connection settles it.
    r.client_close();
    assert_eq!(
        r.events(),
        [
            requested(),
            failed(push_me, ch, PushFailure::ConnectionLost),
            lost(ch, "echo:1")
        ]
    );
    r.finish();
}

#[test]
fn live_heartbeat_in_the_clients_own_form() {
    let mut r = Replay::live("heartbeat", "A", Sim::config());
    r.open();
    r.sim.advance(Duration::from_secs(30));
    r.out();
    r.feed();
    r.quiet();
    // The recorder's second heartbeat carried join_ref "99"; the server
    // answers any heartbeat alike (phoenix-proto/PROTOCOL.md 5.1). Ours has null.
    r.sim.advance(Duration::from_secs(30));
    r.out_refs(T::Null, T::Keep);
    r.feed();
    r.quiet();
    // Its third one had a payload; ours is always `{}`.
    r.sim.advance(Duration::from_secs(30));
    r.out_as(r#"[null,"3","phoenix","heartbeat",{}]"#);
    r.feed();
    r.quiet();
    // "something_else" on topic phoenix: our client cannot send that.
    assert_eq!(
        r.sim.socket.join(r.sim.now, "phoenix", Payload::empty()),
        Err(JoinError::InvalidTopic)
    );
    r.skip_out();
    r.feed();
    r.quiet();
    // Every heartbeat was answered: the connection lives on.
    r.sim.advance(Duration::from_secs(30));
    assert_eq!(
        r.sent(),
        Frame::Text(r#"[null,"4","phoenix","heartbeat",{}]"#.into())
    );
    assert!(r.sim.socket.is_connected());
    r.client_close();
    assert_eq!(r.events(), [requested()]);
    r.finish();
}

#[test]
fn live_leave_waits_for_the_reply_and_drops_the_close() {
    let mut r = Replay::live("leave", "A", quiet_config());
    r.open();
    let ch = r.join("echo:1", "{}");
    r.out();
    r.feed();
    r.events();
    r.leave(ch);
    r.out();
    assert_eq!(r.state(ch), Some(ChannelState::Leaving));
    r.feed();
    assert_eq!(r.events(), [closed(ch, "echo:1", ChannelCloseReason::Left)]);
    // The phx_close of the left join: the channel is gone, nothing happens.
    r.feed();
    r.quiet();
    // Leaving again, and pushing on the left channel, are refused locally.
    assert_eq!(
        r.sim.socket.leave(r.sim.now, ch),
        Err(LeaveError::ChannelClosed)
    );
    r.skip_out();
    r.feed();
    r.quiet();
    assert_eq!(
        r.sim.socket.push(r.sim.now, ch, "echo", Payload::empty()),
        Err(PushError::ChannelClosed)
    );
    r.skip_out();
    r.feed();
    r.quiet();
    // A new join on the topic: our ref 3 is the recorder's 5.
    let again = r.join("echo:1", "{}");
    assert_ne!(again, ch);
    r.out_refs(T::R("3"), T::R("3"));
    r.feed_refs(T::R("3"), T::R("3"));
    assert_eq!(
        r.events(),
        [joined(again, "echo:1", r#"{"joined":"echo:1"}"#, false)]
    );
    r.client_close();
    assert_eq!(r.events(), [requested(), lost(again, "echo:1")]);
    r.finish();
}

#[test]
fn live_server_stop_closes_and_fails_the_push() {
    let mut r = Replay::live("server_stop", "A", quiet_config());
    r.open();
    let ch = r.join("echo:1", "{}");
    r.out();
    r.feed();
    r.events();
    let stop = r.push(ch, "stop", Payload::empty());
    r.out();
    r.feed();
    assert_eq!(
        r.events(),
        [
            failed(stop, ch, PushFailure::ChannelClosed),
            closed(ch, "echo:1", ChannelCloseReason::ServerClosed)
        ]
    );
    assert_eq!(
        r.sim.socket.push(r.sim.now, ch, "echo", Payload::empty()),
        Err(PushError::ChannelClosed)
    );
    r.skip_out();
    r.feed();
    r.quiet();
    r.client_close();
    assert_eq!(r.events(), [requested()]);
    r.finish();
}

#[test]
fn live_stop_reply_then_close() {
    let mut r = Replay::live("stop_reply", "A", quiet_config());
    r.open();
    let ch = r.join("echo:1", "{}");
    r.out();
    r.feed();
    r.events();
    let p = r.push(ch, "stop_reply", Payload::empty());
    r.out();
    r.feed();
    assert_eq!(r.events(), [replied(p, ch, "ok", json("{}"))]);
    r.feed();
    assert_eq!(
        r.events(),
        [closed(ch, "echo:1", ChannelCloseReason::ServerClosed)]
    );
    r.client_close();
    assert_eq!(r.events(), [requested()]);
    r.finish();
}

#[test]
fn live_channel_crash_errors_and_rejoins() {
    let mut config = Sim::config();
    // The first heartbeat falls after the second crash, as in the recording.
    config.heartbeat_interval = Some(ms(1500));
    let mut r = Replay::live("channel_crash", "A", config);
    r.open();
    let ch = r.join("echo:1", "{}");
    r.out();
    r.feed();
    r.events();
    let crash = r.push(ch, "crash", Payload::empty());
    r.out();
    r.feed();
    assert_eq!(
        r.events(),
        [
            failed(crash, ch, PushFailure::ChannelCrashed),
            crashed(ch, "echo:1", "{}")
        ]
    );
    assert_eq!(r.state(ch), Some(ChannelState::Errored));
    // The recorder pushed on the dead channel with the old join_ref. Our
    // client sends nothing on an errored channel; the server's "unmatched
    // topic" answer names a ref we never used and is ignored.
    r.skip_out();
    r.feed();
    r.quiet();
    // Our rejoin comes from the rejoin schedule (1 s), with ref 3.
    r.sim.advance(ms(1000));
    r.out_refs(T::R("3"), T::R("3"));
    r.feed_refs(T::R("3"), T::R("3"));
    assert_eq!(
        r.events(),
        [joined(ch, "echo:1", r#"{"joined":"echo:1"}"#, true)]
    );
    let unknown = r.push(ch, "no_such_event", Payload::empty());
    r.out_refs(T::R("3"), T::R("4"));
    r.feed_refs(T::R("3"), T::R("3"));
    assert_eq!(
        r.events(),
        [
            failed(unknown, ch, PushFailure::ChannelCrashed),
            crashed(ch, "echo:1", "{}")
        ]
    );
    // The socket survived: the heartbeat is answered.
    r.sim.advance(ms(500));
    r.out_refs(T::Keep, T::R("5"));
    r.feed_refs(T::Keep, T::R("5"));
    r.quiet();
    r.client_close();
    assert_eq!(r.events(), [requested()]);
    r.finish();
}

#[test]
fn live_crash_on_join_is_a_refusal() {
    let mut r = Replay::live("crash_on_join", "A", Sim::config());
    r.open();
    let ch = r.join("crash_join:1", "{}");
    r.out();
    r.feed();
    assert_eq!(
        r.events(),
        [
            refused(ch, "crash_join:1", r#"{"reason":"join crashed"}"#, false),
            closed(ch, "crash_join:1", ChannelCloseReason::JoinRefused)
        ]
    );
    r.sim.advance(Duration::from_secs(30));
    r.out();
    r.feed();
    r.quiet();
    r.client_close();
    assert_eq!(r.events(), [requested()]);
    r.finish();
}

#[test]
fn live_duplicate_join_old_close_is_dropped() {
    let mut r = Replay::live("duplicate_join", "A", quiet_config());
    r.open();
    let ch = r.join("echo:1", "{}");
    r.out();
    r.feed();
    r.events();
    // Our client refuses a second join on a live topic; it never sends a
    // duplicate phx_join itself.
    assert_eq!(
        r.sim.socket.join(r.sim.now, "echo:1", Payload::empty()),
        Err(JoinError::AlreadyJoined { channel: ch })
    );
    // It does send a second phx_join for the topic when the channel rejoins.
    // Make it rejoin with the crash frame Phoenix 1.7.21 recorded in
    // channel_crash.jsonl: the rejoin is then exactly the recorded
    // ["2","2","echo:1","phx_join",{}], and the server's frames that follow
    // it (new reply, then phx_close of the OLD join_ref) are what such a
    // client sees.
    let crash = live("channel_crash", "A")
        .into_iter()
        .find_map(|rec| match rec {
            Rec::In(Frame::Text(t)) if t.contains("phx_error") => Some(t),
            _ => None,
        })
        .unwrap();
    assert_eq!(crash, r#"["1","1","echo:1","phx_error",{}]"#);
    r.sim.recv(&crash);
    assert_eq!(r.events(), [crashed(ch, "echo:1", "{}")]);
    r.sim.advance(ms(1000));
    r.out();
    r.feed();
    assert_eq!(
        r.events(),
        [joined(ch, "echo:1", r#"{"joined":"echo:1"}"#, true)]
    );
    // phx_close for the old join_ref "1": dropped, the channel stays joined.
    r.feed();
    r.quiet();
    assert_eq!(r.state(ch), Some(ChannelState::Joined));
    // The recorder pushed with the old join_ref; ours always carries the
    // current one. The reply (current join_ref) reaches the push.
    let p = r.push(ch, "echo", json(r#"{"with":"old join_ref"}"#));
    r.out_refs(T::R("2"), T::Keep);
    r.feed();
    assert_eq!(
        r.events(),
        [replied(p, ch, "ok", json(r#"{"with":"old join_ref"}"#))]
    );
    // A duplicate join re-using join_ref "2": refused locally, not sent.
    assert_eq!(
        r.sim.socket.join(r.sim.now, "echo:1", Payload::empty()),
        Err(JoinError::AlreadyJoined { channel: ch })
    );
    r.skip_out();
    // Its reply answers a ref that is no longer outstanding: ignored.
    r.feed();
    r.quiet();
    // Its phx_close carries our CURRENT join_ref: the server did close this
    // join, so the channel closes.
    r.feed();
    assert_eq!(
        r.events(),
        [closed(ch, "echo:1", ChannelCloseReason::ServerClosed)]
    );
    r.client_close();
    assert_eq!(r.events(), [requested()]);
    r.finish();
}

#[test]
fn live_push_unjoined_replies_reach_the_push() {
    // Our client only pushes on a channel, and holds pushes until its join
    // succeeds, so it never sends on a topic the server does not know. What
    // it can see is the server's "unmatched topic" reply to a push when the
    // server lost the channel: it resolves that push, like phoenix.js.
    let mut r = Replay::live("push_unjoined", "A", quiet_config());
    r.open();
    let ch = r.join("echo:2", "{}");
    // The recording has no join for echo:2; the join and its reply are the
    // fixture's (FIXTURE.md: echo:* joins ok with {"joined": topic}).
    assert_eq!(
        r.sent(),
        Frame::Text(r#"["1","1","echo:2","phx_join",{}]"#.into())
    );
    r.sim
        .recv(r#"["1","1","echo:2","phx_reply",{"response":{"joined":"echo:2"},"status":"ok"}]"#);
    r.events();
    let unmatched = r#"{"reason":"unmatched topic"}"#;
    let p1 = r.push(ch, "echo", json(r#"{"x":1}"#));
    r.out_refs(T::Keep, T::R("2"));
    r.feed_refs(T::Keep, T::R("2"));
    assert_eq!(r.events(), [replied(p1, ch, "error", json(unmatched))]);
    assert_eq!(r.state(ch), Some(ChannelState::Joined));
    // The recorder's second push had a null join_ref; ours never does.
    let p2 = r.push(ch, "echo", json(r#"{"x":1}"#));
    r.out_refs(T::R("1"), T::R("3"));
    r.feed_refs(T::Keep, T::R("3"));
    assert_eq!(r.events(), [replied(p2, ch, "error", json(unmatched))]);
    // phx_leave on the unknown topic: ok reply, no phx_close.
    r.leave(ch);
    r.out_refs(T::Keep, T::R("4"));
    r.feed_refs(T::Keep, T::R("4"));
    assert_eq!(r.events(), [closed(ch, "echo:2", ChannelCloseReason::Left)]);
    r.client_close();
    assert_eq!(r.events(), [requested()]);
    r.finish();
}

#[test]
fn live_stale_join_ref_frames_are_filtered_by_the_client() {
    let mut r = Replay::live("stale_join_ref", "A", quiet_config());
    r.open();
    let first = r.join("echo:1", "{}");
    r.out();
    r.feed();
    r.events();
    r.leave(first);
    r.out();
    r.feed();
    assert_eq!(
        r.events(),
        [closed(first, "echo:1", ChannelCloseReason::Left)]
    );
    // phx_close of join "1" after the leave reply: dropped.
    r.feed();
    r.quiet();
    let ch = r.join("echo:1", "{}");
    r.out();
    r.feed();
    assert_eq!(
        r.events(),
        [joined(ch, "echo:1", r#"{"joined":"echo:1"}"#, false)]
    );
    // Phoenix 1.7.21 accepts pushes with a stale, bogus or null join_ref;
    // our client always sends the current one ("3"), so only that differs.
    for payload in [
        r#"{"stale":true}"#,
        r#"{"bogus_join_ref":true}"#,
        r#"{"null_join_ref":true}"#,
    ] {
        let p = r.push(ch, "echo", json(payload));
        r.out_refs(T::R("3"), T::Keep);
        r.feed();
        assert_eq!(r.events(), [replied(p, ch, "ok", json(payload))]);
    }
    // A phx_leave with a stale join_ref: our client cannot send one, and
    // leaving for real would end the channel the recording keeps using.
    r.skip_out();
    let p = r.push(ch, "echo", json(r#"{"still_joined":true}"#));
    r.out_refs(T::Keep, T::R("7"));
    r.feed_refs(T::Keep, T::R("7"));
    assert_eq!(
        r.events(),
        [replied(p, ch, "ok", json(r#"{"still_joined":true}"#))]
    );
    r.client_close();
    assert_eq!(r.events(), [requested(), lost(ch, "echo:1")]);
    r.finish();
}

#[test]
fn live_binary_frames_both_ways() {
    let mut r = Replay::live("binary", "A", Sim::config());
    r.open();
    let ch = r.join("echo:bin", "{}");
    r.out();
    r.feed();
    r.events();
    let p = r.push(ch, "binary", Payload::binary([9u8, 8, 7, 6, 5]));
    r.out();
    r.feed();
    assert_eq!(
        r.events(),
        [replied(p, ch, "ok", json(r#"{"byte_size":5}"#))]
    );
    let p = r.push(ch, "anything_else", Payload::binary(Vec::new()));
    r.out();
    r.feed();
    assert_eq!(
        r.events(),
        [replied(p, ch, "ok", json(r#"{"byte_size":0}"#))]
    );
    // JSON push, binary reply (kind 1).
    let p = r.push(ch, "binary", Payload::empty());
    r.out();
    r.feed();
    assert_eq!(
        r.events(),
        [replied(p, ch, "ok", Payload::binary([1u8, 2, 3]))]
    );
    // Server binary push (kind 0, no ref field), then the reply.
    let p = r.push(ch, "push_binary", Payload::empty());
    r.out();
    r.feed();
    r.feed();
    assert_eq!(
        r.events(),
        [
            message(
                ch,
                "echo:bin",
                "pushed_binary",
                Payload::binary([4u8, 5, 6])
            ),
            replied(p, ch, "ok", json("{}"))
        ]
    );
    // Binary broadcast (kind 2), then the reply.
    let p = r.push(ch, "broadcast_binary", Payload::empty());
    r.out();
    r.feed();
    r.feed();
    assert_eq!(
        r.events(),
        [
            message(
                ch,
                "echo:bin",
                "broadcasted_binary",
                Payload::binary([7u8, 8, 9])
            ),
            replied(p, ch, "ok", json("{}"))
        ]
    );
    // The recorder's heartbeat was a binary frame; ours is always text.
    r.sim.advance(Duration::from_secs(30));
    r.out_as(r#"[null,"7","phoenix","heartbeat",{}]"#);
    r.feed();
    r.quiet();
    // A binary push on an unjoined topic: our client cannot send one; the
    // answer names a ref we never used.
    r.skip_out();
    r.feed();
    r.quiet();
    r.client_close();
    assert_eq!(r.events(), [requested(), lost(ch, "echo:bin")]);
    r.finish();
}

#[test]
fn live_server_disconnect_close_code_and_reconnect() {
    let mut r = Replay::live(
        "server_disconnect",
        "A",
        quiet_config().param("user_id", "42"),
    );
    r.open();
    let ch = r.join("echo:1", "{}");
    r.out();
    r.feed();
    r.events();
    let p = r.push(ch, "disconnect_me", Payload::empty());
    r.out();
    // Bandit 1.5.7 closes with 1011; no reply, no phx_close first.
    r.server_close();
    assert_eq!(
        r.events(),
        [
            server_closed(1011, ms(10)),
            failed(p, ch, PushFailure::ConnectionLost),
            lost(ch, "echo:1")
        ]
    );
    r.sim.advance(ms(10));
    assert!(matches!(r.sent_any(), Some(Wire::Connect(_))));
    r.finish();

    // Socket B has no id: the server just replies.
    let mut r = Replay::live("server_disconnect", "B", quiet_config());
    r.open();
    let ch = r.join("echo:1", "{}");
    r.out();
    r.feed();
    r.events();
    let p = r.push(ch, "disconnect_me", Payload::empty());
    r.out();
    r.feed();
    assert_eq!(
        r.events(),
        [replied(p, ch, "ok", json(r#"{"socket_id":null}"#))]
    );
    r.client_close();
    assert_eq!(r.events(), [requested(), lost(ch, "echo:1")]);
    r.finish();
}

#[test]
fn live_idle_timeout_close_1002_reconnects_and_rejoins() {
    // The recorder sent nothing for 60 s. Ours would send heartbeats every
    // 30 s and never be idle; they are off here to replay the recording.
    let mut r = Replay::live("idle_timeout", "A", quiet_config());
    r.open();
    let ch = r.join("echo:1", "{}");
    r.out();
    r.feed();
    r.events();
    r.sim.advance(Duration::from_secs(60));
    r.server_close();
    assert_eq!(
        r.events(),
        [server_closed(1002, ms(10)), lost(ch, "echo:1")]
    );
    r.sim.advance(ms(10));
    assert!(matches!(r.sent_any(), Some(Wire::Connect(_))));
    r.sim.open();
    assert_eq!(r.events(), [Event::Connected]);
    assert_eq!(
        r.sent(),
        Frame::Text(r#"["2","2","echo:1","phx_join",{}]"#.into())
    );
    r.finish();
}

#[test]
fn live_sleep_timeout_push_times_out_before_the_late_reply() {
    let mut config = Sim::config();
    config.heartbeat_interval = Some(ms(1000));
    let mut r = Replay::live("sleep_timeout", "A", config);
    r.open();
    let ch = r.join("echo:1", "{}");
    r.out();
    r.feed();
    r.events();
    // The server sleeps 1.5 s; our push gives up after 1.2 s.
    let sleep = r.push_timeout(ch, "sleep", r#"{"ms":1500}"#, ms(1200));
    r.out();
    r.sim.advance(ms(50));
    let queued = r.push(ch, "echo", json(r#"{"queued":true}"#));
    r.out();
    // Our heartbeat is due 1 s after open (the recorder sent its one at
    // 50 ms); the socket-level reply comes at once.
    r.sim.advance(ms(950));
    r.out();
    r.feed();
    r.quiet();
    r.sim.advance(ms(200));
    assert_eq!(r.events(), [done(sleep, ch, PushOutcome::Timeout)]);
    r.sim.advance(ms(300));
    // The late reply to the timed-out push is dropped; the queued one lands.
    r.feed();
    r.quiet();
    r.feed();
    assert_eq!(
        r.events(),
        [replied(queued, ch, "ok", json(r#"{"queued":true}"#))]
    );
    r.client_close();
    assert_eq!(r.events(), [requested(), lost(ch, "echo:1")]);
    r.finish();
}

#[test]
fn live_presence_messages_are_delivered_in_order() {
    let topic = "presence:lobby";
    let mut a = Replay::live("presence", "A", quiet_config().param("user_id", "alice"));
    let mut b = Replay::live("presence", "B", quiet_config().param("user_id", "bob"));
    let msg = |ch, frame: &Frame, event: &str| {
        message(ch, topic, event, json(&raw_payload(frame.text())))
    };
    a.open();
    let cha = a.join(topic, "{}");
    a.out();
    a.feed();
    assert_eq!(a.events(), [joined(cha, topic, "{}", false)]);
    // The joiner's own diff arrives before its presence_state.
    let diff = a.feed();
    let state = a.feed();
    assert_eq!(
        a.events(),
        [
            msg(cha, &diff, "presence_diff"),
            msg(cha, &state, "presence_state")
        ]
    );
    b.open();
    let chb = b.join(topic, "{}");
    b.out();
    b.feed();
    assert_eq!(b.events(), [joined(chb, topic, "{}", false)]);
    let diff = a.feed();
    assert_eq!(a.events(), [msg(cha, &diff, "presence_diff")]);
    let diff = b.feed();
    let state = b.feed();
    assert_eq!(
        b.events(),
        [
            msg(chb, &diff, "presence_diff"),
            msg(chb, &state, "presence_state")
        ]
    );
    b.leave(chb);
    b.out();
    b.feed();
    assert_eq!(b.events(), [closed(chb, topic, ChannelCloseReason::Left)]);
    b.feed();
    b.quiet();
    let diff = a.feed();
    assert_eq!(a.events(), [msg(cha, &diff, "presence_diff")]);
    let chb = b.join(topic, "{}");
    b.out();
    b.feed();
    assert_eq!(b.events(), [joined(chb, topic, "{}", false)]);
    let diff = a.feed();
    assert_eq!(a.events(), [msg(cha, &diff, "presence_diff")]);
    let diff = b.feed();
    let state = b.feed();
    assert_eq!(
        b.events(),
        [
            msg(chb, &diff, "presence_diff"),
            msg(chb, &state, "presence_state")
        ]
    );
    // B goes away without leaving; A sees bob leave.
    let Rec::ClientClose(_) = b.next() else {
        panic!("expected B's client_close")
    };
    b.sim.socket.disconnect(b.sim.now);
    b.sim.drain();
    assert!(matches!(b.sent_any(), Some(Wire::Close(1000, _))));
    assert_eq!(b.events(), [requested(), lost(chb, topic)]);
    let diff = a.feed();
    assert_eq!(a.events(), [msg(cha, &diff, "presence_diff")]);
    assert!(matches!(b.next(), Rec::Close(Some(1000))));
    b.finish();
    a.client_close();
    assert_eq!(a.events(), [requested(), lost(cha, topic)]);
    a.finish();
}

/// The same recording seen through the presence list the socket keeps
/// (`track_presence`): alice's list follows bob joining, leaving, joining
/// again and going away, each change reported.
#[test]
fn live_presence_list_follows_the_recording() {
    let topic = "presence:lobby";
    let mut a = Replay::live("presence", "A", quiet_config().param("user_id", "alice"));
    a.open();
    let cha = a.join(topic, "{}");
    assert!(a.sim.socket.track_presence(cha));
    a.out();
    a.feed();
    let keys = |a: &Replay| -> Vec<String> {
        a.sim
            .socket
            .presence(cha)
            .map(|p| p.keys().map(str::to_owned).collect())
            .unwrap_or_default()
    };
    let changes = |a: &mut Replay| {
        a.events()
            .into_iter()
            .filter(|e| matches!(e, Event::PresenceChanged { .. }))
            .count()
    };
    // The own diff is held until the state; then one change.
    a.feed();
    assert_eq!(changes(&mut a), 0);
    assert!(keys(&a).is_empty());
    a.feed();
    assert_eq!(changes(&mut a), 1);
    assert_eq!(keys(&a), ["alice"]);
    // bob joins, leaves, joins again, goes away.
    for expected in [
        &["alice", "bob"][..],
        &["alice"],
        &["alice", "bob"],
        &["alice"],
    ] {
        a.feed();
        assert_eq!(changes(&mut a), 1);
        assert_eq!(keys(&a), expected);
    }
    a.client_close();
    a.events();
    a.finish();
}

#[test]
fn live_v1_connect() {
    let mut config = Sim::config();
    config.serializer = Arc::new(V1Serializer);
    let mut r = Replay::live("v1_connect", "A", config);
    // The recorder left vsn out (the server then picks V1); ours says
    // vsn=1.0.0, the URL of the recording's connection B.
    r.open_checking(|ours, recorded| {
        assert_eq!(ours, format!("{recorded}?vsn=1.0.0"));
    });
    let ch = r.join("echo:1", "{}");
    r.out_v1("1");
    r.feed();
    assert_eq!(
        r.events(),
        [joined(ch, "echo:1", r#"{"joined":"echo:1"}"#, false)]
    );
    let p = r.push(ch, "echo", json(r#"{"v":1}"#));
    r.out_v1("1");
    r.feed();
    assert_eq!(r.events(), [replied(p, ch, "ok", json(r#"{"v":1}"#))]);
    let push_me = r.push(ch, "push_me", json(r#"{"p":1}"#));
    r.out_v1("1");
    r.feed();
    assert_eq!(
        r.events(),
        [message(ch, "echo:1", "pushed", json(r#"{"p":1}"#))]
    );
    // Our heartbeat is due at 30 s; push_me, never answered, times out first.
    r.sim.advance(Duration::from_secs(30));
    assert_eq!(r.events(), [done(push_me, ch, PushOutcome::Timeout)]);
    r.out();
    r.feed();
    r.quiet();
    let p = r.push(ch, "binary", Payload::empty());
    r.out_v1("1");
    // V1 phx_error has no join_ref: it always applies.
    r.feed();
    assert_eq!(
        r.events(),
        [
            failed(p, ch, PushFailure::ChannelCrashed),
            crashed(ch, "echo:1", "{}")
        ]
    );
    // Leaving an errored channel closes it at once: the server has no
    // channel to leave, so no phx_leave goes out.
    r.leave(ch);
    assert_eq!(r.events(), [closed(ch, "echo:1", ChannelCloseReason::Left)]);
    r.skip_out();
    r.feed();
    r.quiet();
    r.client_close();
    assert_eq!(r.events(), [requested()]);
    r.finish();
    // Connection B sent a v2 array on a v1 socket: our V1 client cannot.
}

#[test]
fn live_connect_rejected() {
    let mut r = Replay::live(
        "connect_rejected",
        "A",
        Sim::config().param("reject", "true"),
    );
    let Rec::Connect(url) = r.next() else {
        panic!()
    };
    r.sim.socket.connect(r.sim.now);
    r.sim.drain();
    let Some(Wire::Connect(request)) = r.sent_any() else {
        panic!()
    };
    assert!(same_url(&request.url, &url));
    r.sim.refuse(403, None);
    assert_eq!(
        r.events(),
        [Event::Disconnected {
            reason: DisconnectReason::Refused {
                status: 403,
                retry_after: None
            },
            reconnect_in: Some(ms(10))
        }]
    );
    r.finish();
}

#[test]
fn live_malformed_frame_recording() {
    // M1-M3, M6, M7: the recorder sent frames our client never produces;
    // the server closed with 1011, and we reconnect.
    for conn in ["M1", "M2", "M3", "M6", "M7"] {
        let mut r = Replay::live("malformed_frame", conn, quiet_config());
        r.open();
        r.skip_out();
        r.server_close();
        assert_eq!(r.events(), [server_closed(1011, ms(10))]);
        r.finish();
    }

    // M4: a join payload that is not a map is still JSON; ours sends it as is.
    let mut r = Replay::live("malformed_frame", "M4", Sim::config());
    r.open();
    let ch = r.join("echo:1", r#""notamap""#);
    r.out();
    r.feed();
    assert_eq!(
        r.events(),
        [joined(ch, "echo:1", r#"{"joined":"echo:1"}"#, false)]
    );
    r.sim.advance(Duration::from_secs(30));
    // The recorder's heartbeat ref was "hb"; ours is "2".
    r.out_refs(T::Keep, T::R("2"));
    r.feed_refs(T::Keep, T::R("2"));
    r.quiet();
    r.client_close();
    assert_eq!(r.events(), [requested(), lost(ch, "echo:1")]);
    r.finish();

    // M5: integer refs. Ours are strings; the server echoes what it got.
    let mut r = Replay::live("malformed_frame", "M5", quiet_config());
    r.open();
    let ch = r.join("echo:1", "{}");
    r.out_refs(T::R("1"), T::R("1"));
    r.feed_refs(T::R("1"), T::R("1"));
    assert_eq!(
        r.events(),
        [joined(ch, "echo:1", r#"{"joined":"echo:1"}"#, false)]
    );
    // The heartbeat was sent by hand in the recording.
    r.skip_out();
    r.feed();
    r.quiet();
    r.client_close();
    assert_eq!(r.events(), [requested(), lost(ch, "echo:1")]);
    r.finish();

    // M8: extra array elements (theirs); our heartbeats are plain.
    let mut r = Replay::live("malformed_frame", "M8", Sim::config());
    r.open();
    r.sim.advance(Duration::from_secs(30));
    r.out_as(r#"[null,"1","phoenix","heartbeat",{}]"#);
    r.feed();
    r.sim.advance(Duration::from_secs(30));
    r.out_refs(T::Keep, T::R("2"));
    r.feed_refs(T::Keep, T::R("2"));
    r.quiet();
    r.client_close();
    assert_eq!(r.events(), [requested()]);
    r.finish();

    // M9: a string payload, echoed back as a string response.
    let mut r = Replay::live("malformed_frame", "M9", quiet_config());
    r.open();
    let ch = r.join("echo:1", "{}");
    r.out();
    r.feed();
    r.events();
    let p = r.push(ch, "echo", json(r#""a string""#));
    r.out();
    r.feed();
    assert_eq!(r.events(), [replied(p, ch, "ok", json(r#""a string""#))]);
    r.client_close();
    assert_eq!(r.events(), [requested(), lost(ch, "echo:1")]);
    r.finish();

    // M10: the recorder's join had a null join_ref (the server then uses
    // the ref); ours always sends join_ref = ref.
    let mut r = Replay::live("malformed_frame", "M10", quiet_config());
    r.open();
    let ch = r.join("echo:1", "{}");
    r.out_refs(T::R("1"), T::R("1"));
    r.feed_refs(T::Keep, T::R("1"));
    assert_eq!(
        r.events(),
        [joined(ch, "echo:1", r#"{"joined":"echo:1"}"#, false)]
    );
    let push_me = r.push(ch, "push_me", json(r#"{"a":1}"#));
    r.out_refs(T::R("1"), T::R("2"));
    r.feed_refs(T::R("1"), T::Keep);
    assert_eq!(
        r.events(),
        [message(ch, "echo:1", "pushed", json(r#"{"a":1}"#))]
    );
    let p = r.push(ch, "echo", json(r#"{"a":1}"#));
    r.out_refs(T::R("1"), T::R("3"));
    r.feed_refs(T::R("1"), T::R("3"));
    assert_eq!(r.events(), [replied(p, ch, "ok", json(r#"{"a":1}"#))]);
    r.client_close();
    assert_eq!(
        r.events(),
        [
            requested(),
            failed(push_me, ch, PushFailure::ConnectionLost),
            lost(ch, "echo:1")
        ]
    );
    r.finish();
}

#[test]
fn malformed_server_frames_are_reported_and_dropped() {
    let mut sim = Sim::connected(quiet_config());
    let ch = sim
        .socket
        .join(sim.now, "echo:1", Payload::empty())
        .unwrap();
    sim.drain();
    sim.recv(r#"["1","1","echo:1","phx_reply",{"response":{},"status":"ok"}]"#);
    let p = sim
        .socket
        .push(sim.now, ch, "echo", Payload::empty())
        .unwrap();
    sim.drain();
    sim.take_wire();
    sim.take_events();
    let texts = [
        "this is not json",
        "",
        "   ",
        r#"{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"1"}"#,
        r#"[null,"1","phoenix","heartbeat"]"#,
        "[]",
        "[null]",
        r#"["1","2","echo:1"]"#,
        r#"["1","2","echo:1","phx_reply",{"response":{}}]"#,
        r#"["1","2","echo:1","phx_reply","not an object"]"#,
        r#"["1","2",42,"msg",{}]"#,
        r#"["1","2","echo:1",null,{}]"#,
        r#"[true,"2","echo:1","msg",{}]"#,
        r#"["1","2","echo:1","msg",{"unterminated":"#,
        "\"a string\"",
        "42",
        "null",
        r#"["1","2","echo:1","phx_reply",{"status":"ok","response":{}}"#,
    ];
    for text in texts {
        sim.socket.handle_message(sim.now, WireRef::Text(text));
        sim.drain();
        let events = sim.take_events();
        assert!(
            matches!(&events[..], [Event::MalformedFrame { .. }]),
            "{text:?} gave {events:?}"
        );
    }
    let binaries: [&[u8]; 7] = [
        &[],
        &[0x00, 0x05, 0x05, 0x05],
        &[0x07, 0x01, 0x02, 0x03],
        &[0x01],
        &[0x01, 0x01, 0x01, 0x06, 0x02, b'1'],
        &[0x02, 0x09],
        &[0xff; 16],
    ];
    for bytes in binaries {
        sim.socket.handle_message(sim.now, WireRef::Binary(bytes));
        sim.drain();
        let events = sim.take_events();
        assert!(
            matches!(&events[..], [Event::MalformedFrame { .. }]),
            "{bytes:?} gave {events:?}"
        );
    }
    // Nothing was sent, nothing changed: the push still gets its reply.
    assert_eq!(sim.wire, []);
    assert!(sim.socket.is_connected());
    assert_eq!(sim.socket.channel_state(ch), Some(ChannelState::Joined));
    sim.recv(r#"["1","2","echo:1","phx_reply",{"response":{"ok":1},"status":"ok"}]"#);
    assert_eq!(
        sim.take_events(),
        [replied(p, ch, "ok", json(r#"{"ok":1}"#))]
    );

    // A V1 socket cannot take binary frames or arrays.
    let mut config = quiet_config();
    config.serializer = Arc::new(V1Serializer);
    let mut sim = Sim::connected(config);
    sim.recv_binary(&[0x02, 0x01, 0x01, b't', b'e']);
    sim.recv(r#"["1","1","echo:1","phx_reply",{"response":{},"status":"ok"}]"#);
    sim.recv(r#"{"event":"phx_reply","payload":{},"topic":"echo:1"}"#);
    let events = sim.take_events();
    assert_eq!(events.len(), 3, "{events:?}");
    assert!(
        events
            .iter()
            .all(|e| matches!(e, Event::MalformedFrame { .. }))
    );
    assert!(sim.socket.is_connected());
}

// ---------------------------------------------------------------------------
// phoenix-1.8-modules/js_client.txt: the official JS client.

fn js_binary_reply(join_ref: &str, r: &str, topic: &str, status: &str, body: &[u8]) -> Vec<u8> {
    let mut out = vec![1u8];
    for field in [join_ref, r, topic, status] {
        out.push(u8::try_from(field.len()).unwrap());
    }
    for field in [join_ref, r, topic, status] {
        out.extend_from_slice(field.as_bytes());
    }
    out.extend_from_slice(body);
    out
}

#[test]
fn js_basic_join_before_open_buffered_push_stale_filter_and_heartbeat_timeout() {
    let mut config = Config::new("ws://example.com/socket")
        .param("token", "abc")
        .param("n[a]", "1")
        .auth_token("s3cr3t");
    config.heartbeat_interval = Some(ms(200));
    // phoenix.js's schedule has no jitter; ours does by default.
    config.reconnect = phoenix_proto::client::Backoff::reconnect_default();
    let mut r = Replay::new(js_section("basic"), config);
    let topic = "room:lobby";
    // Join and push before the socket opens: held, nothing sent.
    let ch = r.join(topic, r#"{"p":1}"#);
    assert_eq!(r.state(ch), Some(ChannelState::Joining));
    let early = r.push(ch, "early", json(r#"{"a":1}"#));
    r.quiet();
    r.sim.socket.connect(r.sim.now);
    r.sim.drain();
    let Some(Wire::Connect(request)) = r.sent_any() else {
        panic!()
    };
    assert_eq!(
        request.url,
        "ws://example.com/socket/websocket?token=abc&n%5Ba%5D=1&vsn=2.0.0"
    );
    let protocols: Vec<&str> = request.subprotocols.iter().map(|s| s.expose()).collect();
    assert_eq!(protocols, ["phoenix", "base64url.bearer.phx.czNjcjN0"]);
    r.sim.open();
    assert_eq!(r.events(), [Event::Connected]);
    // phoenix.js numbers refs with a counter it also spends on callback
    // registrations (its first join is "6"); ours are 1, 2, 3, ...
    r.out_refs(T::R("1"), T::R("1"));
    r.feed_refs(T::R("1"), T::R("1"));
    assert_eq!(r.events(), [joined(ch, topic, r#"{"hi":1}"#, false)]);
    // The held push goes out right after the join succeeds.
    r.out_refs(T::R("1"), T::R("2"));
    r.feed_refs(T::R("1"), T::R("2"));
    assert_eq!(r.events(), [replied(early, ch, "ok", json("{}"))]);
    let ping = r.push(ch, "ping", json(r#"{"x":1}"#));
    r.out_refs(T::R("1"), T::R("3"));
    r.feed_refs(T::R("1"), T::R("3"));
    assert_eq!(
        r.events(),
        [replied(ping, ch, "error", json(r#"{"reason":"nope"}"#))]
    );
    // Broadcast delivered, stale "99" dropped, current join_ref delivered.
    r.feed();
    r.feed();
    r.feed_refs(T::R("1"), T::Keep);
    assert_eq!(
        r.events(),
        [
            message(ch, topic, "new_msg", json(r#"{"b":1}"#)),
            message(ch, topic, "new_msg", json(r#"{"push":1}"#))
        ]
    );
    // Binary push and binary reply.
    let bin = r.push(ch, "bin", Payload::binary([1u8, 2, 3]));
    let Rec::Out(Frame::Binary(theirs)) = r.next() else {
        panic!()
    };
    let mut ours = vec![0u8, 1, 1, 10, 3, b'1', b'4'];
    ours.extend_from_slice(b"room:lobbybin");
    ours.extend_from_slice(&[1, 2, 3]);
    assert_eq!(r.sent(), Frame::Binary(ours.clone()));
    // Same layout as theirs, with their refs "6"/"10".
    assert_eq!(theirs[..2], ours[..2]);
    assert_eq!(theirs[3..5], ours[3..5]);
    assert_eq!(theirs[theirs.len() - 16..], ours[ours.len() - 16..]);
    let Rec::In(Frame::Binary(reply)) = r.next() else {
        panic!()
    };
    assert_eq!(reply, js_binary_reply("6", "10", topic, "ok", &[0xff]));
    r.sim
        .recv_binary(&js_binary_reply("1", "4", topic, "ok", &[0xff]));
    assert_eq!(
        r.events(),
        [replied(bin, ch, "ok", Payload::binary([0xffu8]))]
    );
    // Heartbeats every 200 ms; the first is answered.
    r.sim.advance(ms(200));
    r.out_refs(T::Keep, T::R("5"));
    r.feed_refs(T::Keep, T::R("5"));
    r.quiet();
    // The second is not. phoenix.js schedules the next heartbeat from the
    // reply and times out 200 ms after sending; ours beats on a fixed
    // period and gives up when the next beat is due with one unanswered:
    // the same 200 ms here.
    r.sim.advance(ms(200));
    r.out_refs(T::Keep, T::R("6"));
    r.sim.advance(ms(200));
    assert_eq!(
        r.sent_any(),
        Some(Wire::Close(1000, "heartbeat timeout".into()))
    );
    // phoenix.js errors the channel with reason "heartbeat_timeout"; we
    // report that on the Disconnected event and error the channel as lost.
    assert_eq!(
        r.events(),
        [
            Event::Disconnected {
                reason: DisconnectReason::HeartbeatTimeout,
                reconnect_in: Some(ms(10))
            },
            lost(ch, topic)
        ]
    );
    r.sim.advance(ms(10));
    let Some(Wire::Connect(again)) = r.sent_any() else {
        panic!()
    };
    assert_eq!(again.url, request.url);
    assert_eq!(again.subprotocols, request.subprotocols);
    r.sim.open();
    assert_eq!(r.events(), [Event::Connected]);
    // Rejoin at once with a new join_ref (theirs "13").
    r.out_refs(T::R("7"), T::R("7"));
    assert_eq!(r.state(ch), Some(ChannelState::Joining));
    r.finish();
}

#[test]
fn js_errors_refusal_crash_stale_close_leave_duplicates_and_closes() {
    let mut config = Sim::config();
    config.endpoint = "ws://example.com/socket".into();
    // phoenix.js retries refused joins; we only do when asked to.
    config.rejoin_after_refusal = true;
    let mut r = Replay::new(js_section("errors"), config);
    r.sim.socket.connect(r.sim.now);
    r.sim.drain();
    let Some(Wire::Connect(request)) = r.sent_any() else {
        panic!()
    };
    assert_eq!(request.url, "ws://example.com/socket/websocket?vsn=2.0.0");
    r.sim.open();
    r.events();

    // Refused join, retried after 1 s (phoenix.js: 1010 - 8 ms).
    let ch = r.join("room:1", "{}");
    r.out_refs(T::R("1"), T::R("1"));
    r.feed_refs(T::R("1"), T::R("1"));
    assert_eq!(
        r.events(),
        [refused(ch, "room:1", r#"{"reason":"unauthorized"}"#, true)]
    );
    assert_eq!(r.state(ch), Some(ChannelState::Errored));
    r.sim.advance(ms(999));
    r.quiet();
    r.sim.advance(ms(1));
    r.out_refs(T::R("2"), T::R("2"));
    r.feed_refs(T::R("2"), T::R("2"));
    assert_eq!(r.events(), [joined(ch, "room:1", "{}", false)]);
    // Crash: errored, rejoin 1 s later (phoenix.js: 2110 - 1110 ms).
    r.feed_refs(T::R("2"), T::R("2"));
    assert_eq!(
        r.events(),
        [crashed(ch, "room:1", r#"{"reason":"channel_crash"}"#)]
    );
    r.sim.advance(ms(1000));
    r.out_refs(T::R("3"), T::R("3"));
    r.feed_refs(T::R("3"), T::R("3"));
    assert_eq!(r.events(), [joined(ch, "room:1", "{}", true)]);
    // phx_close of the previous join_ref is ignored; the current one closes.
    r.feed_refs(T::R("2"), T::R("2"));
    r.quiet();
    assert_eq!(r.state(ch), Some(ChannelState::Joined));
    r.feed_refs(T::R("3"), T::R("3"));
    assert_eq!(
        r.events(),
        [closed(ch, "room:1", ChannelCloseReason::ServerClosed)]
    );
    assert_eq!(r.state(ch), None);

    // Leave. phoenix.js closes the channel at once and ignores the server's
    // answer; ours waits for the reply (phoenix-proto/PROTOCOL.md 7.9, deliberate).
    let ch2 = r.join("room:2", "{}");
    r.out_refs(T::R("4"), T::R("4"));
    r.feed_refs(T::R("4"), T::R("4"));
    assert_eq!(r.events(), [joined(ch2, "room:2", "{}", false)]);
    r.leave(ch2);
    r.out_refs(T::R("4"), T::R("5"));
    assert_eq!(r.state(ch2), Some(ChannelState::Leaving));
    r.quiet();
    r.feed_refs(T::R("4"), T::R("5"));
    assert_eq!(
        r.events(),
        [closed(ch2, "room:2", ChannelCloseReason::Left)]
    );
    r.feed_refs(T::R("4"), T::R("4"));
    r.quiet();

    // Duplicate topic. phoenix.js leaves the first instance and joins the
    // second at once; ours refuses the second join while the first lives,
    // so the application leaves first and joins once the leave is done
    // (here by the leave's timeout: the JS script never answered it).
    let a = r.join("room:3", "{}");
    r.out_refs(T::R("6"), T::R("6"));
    r.feed_refs(T::R("6"), T::R("6"));
    assert_eq!(r.events(), [joined(a, "room:3", "{}", false)]);
    assert_eq!(
        r.sim.socket.join(r.sim.now, "room:3", Payload::empty()),
        Err(JoinError::AlreadyJoined { channel: a })
    );
    r.leave(a);
    r.out_refs(T::R("6"), T::R("7"));
    r.sim.advance(Duration::from_secs(10));
    assert_eq!(r.events(), [closed(a, "room:3", ChannelCloseReason::Left)]);
    let b = r.join("room:3", "{}");
    r.out_refs(T::R("8"), T::R("8"));
    r.feed_refs(T::R("8"), T::R("8"));
    assert_eq!(r.events(), [joined(b, "room:3", "{}", false)]);

    // Push timeout (50 ms); the late reply is ignored.
    let slow = r.push_timeout(b, "slow", "{}", ms(50));
    r.out_refs(T::R("8"), T::R("9"));
    r.sim.advance(ms(50));
    assert_eq!(r.events(), [done(slow, b, PushOutcome::Timeout)]);
    r.feed_refs(T::R("8"), T::R("9"));
    r.quiet();
    // "unmatched topic" reply (join_ref null) resolves the push; the
    // channel stays joined.
    let x = r.push(b, "x", Payload::empty());
    r.out_refs(T::R("8"), T::R("10"));
    r.feed_refs(T::Keep, T::R("10"));
    assert_eq!(
        r.events(),
        [replied(
            x,
            b,
            "error",
            json(r#"{"reason":"unmatched topic"}"#)
        )]
    );
    assert_eq!(r.state(b), Some(ChannelState::Joined));

    // Abnormal close 1006: reconnect after 10 ms; that attempt fails
    // before opening, the next comes 50 ms later and opens.
    r.sim.server_close(Some(1006));
    assert_eq!(r.events(), [server_closed(1006, ms(10)), lost(b, "room:3")]);
    assert_eq!(r.state(b), Some(ChannelState::Errored));
    r.sim.advance(ms(10));
    assert!(matches!(r.sent_any(), Some(Wire::Connect(_))));
    r.sim.unreachable();
    assert!(matches!(
        r.events()[..],
        [Event::Disconnected {
            reason: DisconnectReason::TransportError { .. },
            reconnect_in: Some(d)
        }] if d == ms(50)
    ));
    r.sim.advance(ms(50));
    assert!(matches!(r.sent_any(), Some(Wire::Connect(_))));
    r.sim.open();
    assert_eq!(r.events(), [Event::Connected]);
    r.out_refs(T::R("11"), T::R("11"));
    // Server close 1001: reconnect. phoenix.js resets its backoff on every
    // open (10 ms again); ours only after a join or heartbeat reply, and
    // this connection never answered one, so the third delay (100 ms).
    r.sim.server_close(Some(1001));
    assert_eq!(
        r.events(),
        [server_closed(1001, ms(100)), lost(b, "room:3")]
    );
    r.sim.advance(ms(100));
    assert!(matches!(r.sent_any(), Some(Wire::Connect(_))));
    r.sim.open();
    r.events();
    r.out_refs(T::R("12"), T::R("12"));
    // Server close 1000: this phoenix.js stops reconnecting; we reconnect
    // after any server close (phoenix-proto/PROTOCOL.md 11 item 4; npm 1.8.16 does too).
    r.sim.server_close(Some(1000));
    assert_eq!(
        r.events(),
        [server_closed(1000, ms(150)), lost(b, "room:3")]
    );
    r.sim.advance(ms(150));
    assert!(matches!(r.sent_any(), Some(Wire::Connect(_))));
    r.sim.open();
    r.events();
    // Rejoin on the new connection, then an explicit disconnect: no phx_leave,
    // no reconnect afterwards.
    r.out_refs(T::R("13"), T::R("13"));
    r.sim.socket.disconnect(r.sim.now);
    r.sim.drain();
    assert_eq!(
        r.sent_any(),
        Some(Wire::Close(1000, "client disconnect".into()))
    );
    assert_eq!(r.events(), [requested(), lost(b, "room:3")]);
    r.sim.advance(Duration::from_secs(60));
    assert_eq!(r.sim.socket.poll_timeout(), None);
    r.finish();
}

#[test]
fn js_join_timeout_before_open() {
    let mut config = Sim::config();
    config.endpoint = "ws://example.com/socket".into();
    let mut r = Replay::new(js_section("jointimeout"), config);
    let ch = r
        .sim
        .socket
        .join_with_timeout(r.sim.now, "room:t", Payload::empty(), ms(100))
        .unwrap();
    let push = r.push_timeout(ch, "buffered", "{}", ms(100));
    r.sim.socket.connect(r.sim.now);
    r.sim.drain();
    assert!(matches!(r.sent_any(), Some(Wire::Connect(_))));
    // The push's timeout counts the time it is held, and so does the
    // join's, as in phoenix.js: both time out before the socket opens,
    // and the channel will join when it can.
    r.sim.advance(ms(100));
    assert_eq!(
        r.events(),
        [
            errored(ch, "room:t", ChannelErrorReason::JoinTimeout),
            done(push, ch, PushOutcome::Timeout)
        ]
    );
    assert_eq!(r.state(ch), Some(ChannelState::Errored));
    // On open, phoenix.js sends the stale join, a leave and a fresh join;
    // ours sends one join (nothing was sent that needs a leave).
    r.sim.advance(ms(53));
    r.sim.open();
    assert_eq!(r.events(), [Event::Connected]);
    r.out_refs(T::R("1"), T::R("1"));
    r.skip_out();
    r.skip_out();
    // If that join is not answered in time, we do what phoenix.js does on
    // a join timeout: phx_leave with the join's join_ref, then a rejoin.
    r.sim.advance(ms(100));
    assert_eq!(
        r.sent(),
        Frame::Text(r#"["1","2","room:t","phx_leave",{}]"#.into())
    );
    assert_eq!(
        r.events(),
        [errored(ch, "room:t", ChannelErrorReason::JoinTimeout)]
    );
    r.sim.advance(ms(1000));
    assert_eq!(
        r.sent(),
        Frame::Text(r#"["3","3","room:t","phx_join",{}]"#.into())
    );
    r.finish();
}

#[test]
fn js_presence_messages_reach_the_application() {
    let mut r = Replay::new(js_section("presence"), quiet_config());
    let topic = "presence:lobby";
    r.sim.socket.connect(r.sim.now);
    r.sim.drain();
    r.sent_any();
    r.sim.open();
    r.events();
    let ch = r.join(topic, "{}");
    r.out_refs(T::R("1"), T::R("1"));
    r.feed_refs(T::R("1"), T::R("1"));
    assert_eq!(r.events(), [joined(ch, topic, "{}", false)]);
    // The state machine has no presence logic: diffs and states arrive as
    // messages in server order, for the application (or a presence helper)
    // to apply, including the diff that precedes the state.
    let mut expected = Vec::new();
    while r.pos < r.recs.len() {
        let Rec::In(Frame::Text(frame)) = r.recs[r.pos].clone() else {
            panic!()
        };
        let frame = if frame.starts_with("[\"3\"") {
            r.feed_refs(T::R("1"), T::Keep)
        } else {
            r.feed()
        };
        let text = frame.text();
        let event = if text.contains("presence_state") {
            "presence_state"
        } else {
            "presence_diff"
        };
        expected.push(message(ch, topic, event, json(&raw_payload(text))));
    }
    assert_eq!(expected.len(), 5);
    assert_eq!(r.events(), expected);
    r.finish();
}

#[test]
fn recorded_frames_are_all_accounted_for() {
    // The replays above must cover every live scenario a client meets.
    let covered = [
        "binary",
        "broadcast",
        "channel_crash",
        "connect_rejected",
        "crash_on_join",
        "duplicate_join",
        "heartbeat",
        "idle_timeout",
        "join_error",
        "join_ok",
        "join_unmatched_topic",
        "leave",
        "malformed_frame",
        "presence",
        "push_error",
        "push_noreply",
        "push_ok",
        "push_unjoined",
        "server_disconnect",
        "server_push",
        "server_stop",
        "sleep_timeout",
        "stale_join_ref",
        "stop_reply",
        "v1_connect",
    ];
    // longpoll.jsonl is the long-poll transport, which this socket does not speak.
    let mut files: Vec<String> = std::fs::read_dir(LIVE_DIR)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".jsonl").map(str::to_owned)
        })
        .filter(|n| n != "longpoll")
        .collect();
    files.sort();
    assert_eq!(files, covered);
    // And the socket refuses a v2 frame over a closed connection quietly.
    let mut sim = Sim::new(quiet_config());
    sim.socket
        .handle_connect_failed(sim.now, ConnectFailure::new("not connecting"));
    sim.recv(r#"["1","1","echo:1","phx_reply",{"response":{},"status":"ok"}]"#);
    assert_eq!(sim.take_events(), []);
}
