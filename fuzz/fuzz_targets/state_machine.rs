//! Drives the client state machine with an operation sequence decoded from
//! the input: commands, connection events, server frames (well-formed ones
//! built from the refs the client really sent, and raw fuzz bytes as text
//! or binary frames) and time jumps.
//!
//! Checked: nothing panics; every push id `push()` returned is resolved at
//! most once while running and exactly once after a final disconnect and
//! running the clock out; no outcome for an id that was never returned;
//! `poll_timeout()` after `handle_timeout(now)` is never at or before `now`.
#![no_main]

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use phoenix_proto::client::{
    Backoff, ChannelId, Config, ConnectFailure, Event, PushId, Socket, Transmit,
};
use phoenix_proto::codec::{
    Message, Payload, V1Serializer, WireMessage, WireRef, decode_client_binary, decode_client_text,
    decode_client_v1,
};

const TOPICS: [&str; 3] = ["t:0", "t:1", "t:2"];

/// Reads the input a byte at a time; zeros once it runs out.
struct Input<'a> {
    data: &'a [u8],
}

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    fn bytes(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.data.len());
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        head
    }

    fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

struct Sent {
    join_ref: Option<String>,
    msg_ref: String,
    topic: String,
}

struct Driver {
    socket: Socket,
    v1: bool,
    now: Instant,
    sent: Vec<Sent>,
    joins: HashMap<String, Vec<String>>,
    channels: Vec<ChannelId>,
    returned: HashSet<PushId>,
    resolved: HashSet<PushId>,
    counter: u64,
}

impl Driver {
    fn decode(&self, wire: &WireMessage) -> Option<Message<'static>> {
        let message = match wire {
            WireMessage::Text(t) if self.v1 => decode_client_v1(t).ok()?,
            WireMessage::Text(t) => decode_client_text(t).ok()?,
            WireMessage::Binary(b) => decode_client_binary(b).ok()?,
        };
        Some(message.into_owned())
    }

    fn drain(&mut self) {
        while let Some(transmit) = self.socket.poll_transmit() {
            match transmit {
                Transmit::Connect(_) | Transmit::Close { .. } => self.sent.clear(),
                Transmit::Send(wire) => {
                    let message = self
                        .decode(&wire)
                        .expect("the client sends frames its own format decodes");
                    let msg_ref = message.msg_ref.expect("client frames have a ref");
                    if message.event == "phx_join" {
                        self.joins
                            .entry(message.topic.to_string())
                            .or_default()
                            .push(msg_ref.to_string());
                    }
                    self.sent.push(Sent {
                        join_ref: message.join_ref.map(|j| j.into_owned()),
                        msg_ref: msg_ref.into_owned(),
                        topic: message.topic.into_owned(),
                    });
                }
                _ => {}
            }
        }
        while let Some(event) = self.socket.poll_event() {
            if let Event::PushDone { push, .. } = event {
                assert!(self.returned.contains(&push), "outcome for unknown {push}");
                assert!(self.resolved.insert(push), "second outcome for {push}");
            }
        }
    }

    fn timeout(&mut self) {
        self.socket.handle_timeout(self.now);
        self.drain();
        if let Some(deadline) = self.socket.poll_timeout() {
            assert!(deadline > self.now, "poll_timeout at or before now");
        }
    }

    fn settle(&mut self) {
        self.drain();
        if self.socket.poll_timeout().is_some_and(|d| d <= self.now) {
            self.timeout();
        }
    }

    fn advance(&mut self, by: Duration, late: bool) {
        let target = self.now + by;
        if !late {
            let mut steps = 0u32;
            while let Some(deadline) = self.socket.poll_timeout() {
                if deadline > target || steps > 10_000 {
                    break;
                }
                self.now = self.now.max(deadline);
                self.timeout();
                steps += 1;
            }
        }
        self.now = target;
        self.timeout();
    }

    fn token(value: Option<&str>) -> String {
        value.map_or("null".to_owned(), |v| format!("\"{v}\""))
    }

    fn frame(
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

    fn feed(&mut self, text: &str) {
        self.socket.handle_message(self.now, WireRef::Text(text));
    }

    fn channel(&self, pick: u8) -> Option<ChannelId> {
        let topic = TOPICS[usize::from(pick) % TOPICS.len()];
        self.socket.channel_for_topic(topic)
    }

    fn step(&mut self, input: &mut Input<'_>) {
        let now = self.now;
        match input.byte() % 16 {
            0 => self.socket.connect(now),
            1 => self.socket.disconnect(now),
            2 => self.socket.handle_connected(now),
            3 => {
                let status = input.byte();
                let retry = input.byte();
                self.socket.handle_connect_failed(
                    now,
                    ConnectFailure {
                        status: (status % 2 == 1).then_some(400 + u16::from(status)),
                        retry_after: (retry % 2 == 1)
                            .then(|| Duration::from_millis(u64::from(retry) * 100)),
                        message: "failed".into(),
                    },
                );
            }
            4 => {
                let code = input.byte();
                let code = (code % 4 != 0).then_some(1000 + u16::from(code % 16));
                self.socket.handle_closed(now, code, "");
            }
            5 => self.socket.handle_transport_error(now, "reset"),
            6 => {
                let topic = TOPICS[usize::from(input.byte()) % TOPICS.len()];
                if let Ok(id) = self.socket.join(now, topic, Payload::empty()) {
                    self.channels.push(id);
                }
            }
            7 => {
                if let Some(id) = self.channel(input.byte()) {
                    let _ = self.socket.leave(now, id);
                }
            }
            8 => {
                let pick = input.byte();
                let timeout = Duration::from_millis(u64::from(input.byte()) * 20);
                let binary = input.byte() % 4 == 0;
                if let Some(id) = self.channel(pick) {
                    self.counter += 1;
                    let payload = if binary {
                        Payload::binary(self.counter.to_be_bytes())
                    } else {
                        Payload::json(&self.counter).unwrap_or_else(|_| Payload::empty())
                    };
                    if let Ok(push) = self
                        .socket
                        .push_with_timeout(now, id, "e", payload, timeout)
                    {
                        assert!(self.returned.insert(push), "{push} returned twice");
                    }
                }
            }
            9 => {
                // A reply to a frame the client sent on this connection.
                let pick = usize::from(input.byte());
                let status = ["ok", "error", "x"][usize::from(input.byte()) % 3];
                let null_jr = input.byte() % 5 == 0;
                if let Some(sent) = self.sent.get(pick % self.sent.len().max(1)) {
                    let jr = if null_jr { None } else { sent.join_ref.clone() };
                    let payload = format!(r#"{{"response":{{}},"status":"{status}"}}"#);
                    let frame = self.frame(
                        jr.as_deref(),
                        Some(&sent.msg_ref),
                        &sent.topic,
                        "phx_reply",
                        &payload,
                    );
                    self.feed(&frame);
                }
            }
            10 => {
                // A push, broadcast, close or error with a current, old or null join_ref.
                let topic = TOPICS[usize::from(input.byte()) % TOPICS.len()];
                let event = ["msg", "phx_close", "phx_error", "presence_diff"]
                    [usize::from(input.byte()) % 4];
                let which = usize::from(input.byte());
                let joins = self.joins.get(topic).cloned().unwrap_or_default();
                let jr = if which % 3 == 0 || joins.is_empty() {
                    None
                } else {
                    joins.get(which % joins.len()).cloned()
                };
                let frame = self.frame(jr.as_deref(), jr.as_deref(), topic, event, "{}");
                self.feed(&frame);
            }
            11 => {
                let n = usize::from(input.byte());
                let text = String::from_utf8_lossy(input.bytes(n)).into_owned();
                self.feed(&text);
            }
            12 => {
                let n = usize::from(input.byte());
                let bytes = input.bytes(n).to_vec();
                self.socket.handle_message(now, WireRef::Binary(&bytes));
            }
            13 => {
                let ms = u64::from(u16::from_le_bytes([input.byte(), input.byte()]));
                let late = input.byte() % 4 == 0;
                self.advance(Duration::from_millis(ms), late);
            }
            14 => {
                let ms = u64::from(input.byte());
                self.advance(Duration::from_millis(ms), false);
            }
            _ => {
                // Commands on any channel id ever handed out, closed or not.
                if !self.channels.is_empty() {
                    let id = self.channels[usize::from(input.byte()) % self.channels.len()];
                    if input.byte() % 2 == 0 {
                        let _ = self.socket.leave(now, id);
                    } else if let Ok(push) = self.socket.push(now, id, "e", Payload::empty()) {
                        assert!(self.returned.insert(push), "{push} returned twice");
                    }
                }
            }
        }
        self.settle();
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input { data };
    let flags = input.byte();
    let v1 = flags & 1 == 1;
    let mut config = Config::new("ws://127.0.0.1:4000/socket");
    if v1 {
        config.serializer = Arc::new(V1Serializer);
    }
    config.heartbeat_interval = match (flags >> 1) & 3 {
        0 => None,
        1 => Some(Duration::from_millis(500)),
        _ => Some(Duration::from_secs(30)),
    };
    config.default_timeout = if flags & 8 == 0 {
        Duration::from_secs(10)
    } else {
        Duration::from_millis(300)
    };
    config.rejoin_after_refusal = flags & 16 != 0;
    if flags & 32 != 0 {
        config.reconnect = Backoff::from_millis(&[5, 50])
            .with_jitter(1.0)
            .with_max_attempts(4);
        config.rejoin = Backoff::from_millis(&[20]).with_max_attempts(2);
    }
    config.rng_seed = u64::from(flags);
    let mut driver = Driver {
        socket: Socket::new(config),
        v1,
        now: Instant::now(),
        sent: Vec::new(),
        joins: HashMap::new(),
        channels: Vec::new(),
        returned: HashSet::new(),
        resolved: HashSet::new(),
        counter: 0,
    };
    let mut ops = 0;
    while !input.is_empty() && ops < 2_000 {
        driver.step(&mut input);
        ops += 1;
    }
    // Settle everything: after a disconnect only push timers are left, and
    // each push ends exactly once.
    driver.socket.disconnect(driver.now);
    driver.drain();
    let mut steps = 0u32;
    while let Some(deadline) = driver.socket.poll_timeout() {
        assert!(steps < 100_000, "timers never settle after a disconnect");
        driver.now = driver.now.max(deadline);
        driver.timeout();
        steps += 1;
    }
    assert_eq!(driver.socket.pending_pushes(), 0);
    assert_eq!(
        driver.resolved, driver.returned,
        "a push was never resolved"
    );
});
