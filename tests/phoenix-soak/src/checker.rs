//! The invariant checker: the soak's sockets report what they do and what
//! they see, and the checker decides, continuously, whether the client
//! kept its promises.
//!
//! It is plain data with the time passed in, so it can be driven by a fake
//! (see the tests) as well as by the real run:
//!
//! - **Every push ends in exactly one outcome within its timeout plus a
//!   margin.** [`Checker::push_started`] registers a push under a
//!   [`PushKey`] (a socket and a number that grows); [`Checker::push_finished`]
//!   takes its outcome. A push still without an outcome `timeout + margin`
//!   after it was made is reported by [`Checker::tick`] ([`Violation::PushHung`]);
//!   a second outcome for a push that already had one is
//!   [`Violation::PushTwice`]; a timeout before the timeout is
//!   [`Violation::EarlyTimeout`]; a reply that does not belong to the push
//!   (another push's payload, a reply to a push the server never answers)
//!   is [`Violation::WrongReply`].
//! - **Every channel that was joined is joined again once its connection
//!   is back.** Channels go down on `Errored` and up on `Rejoined`; a
//!   channel still down [`Limits::stuck_after`] after both its going down
//!   and its socket's last connect is [`Violation::ChannelStuck`]. A channel
//!   that closes, or whose rejoin is refused, is a violation too (the
//!   `echo:*` topics never refuse). At the end, [`Checker::not_rejoined`]
//!   and the final pushes ([`PushInfo::final_check`]) check that every
//!   channel is joined and answers.
//! - **Server messages reach the channel they were sent to** (each payload
//!   names its channel): [`Violation::Misrouted`].
//! - **No panic** ([`Checker::panicked`]) and **flat memory**
//!   ([`Checker::memory`], see [`crate::memory`]).

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use phoenix_client_tokio::Payload;

use crate::memory::MemoryVerdict;

/// How much slack the checks allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Added to each push's timeout before a push without an outcome is
    /// reported as hung.
    pub margin: Duration,
    /// A channel down this long while its socket is connected (counted from
    /// the later of the two) is stuck.
    pub stuck_after: Duration,
    /// How much earlier than its timeout a `Timeout` outcome may come
    /// (clock reads; never more in a correct client).
    pub early_slack: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            margin: Duration::from_secs(3),
            stuck_after: Duration::from_secs(15),
            early_slack: Duration::from_millis(5),
        }
    }
}

/// Names one push: the socket that made it and its number there (the
/// application's counter for the async API, the core's `PushId` for the
/// callback model). Numbers of one socket only grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PushKey {
    /// The socket's index.
    pub source: u32,
    /// The push's number on that socket.
    pub seq: u64,
}

impl fmt::Display for PushKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "socket {} push {}", self.source, self.seq)
    }
}

/// What the reply to a push must be, if one comes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// `echo`: status `ok` and the payload sent (`{"ch": channel, "n": n, ..}`).
    Echo {
        /// The channel's index.
        channel: u32,
        /// The push's nonce.
        n: u64,
    },
    /// `error`: status `error` and the payload sent.
    ErrorEcho {
        /// The channel's index.
        channel: u32,
        /// The push's nonce.
        n: u64,
    },
    /// Status `ok`, any response.
    Ok,
    /// Status `ok` with these bytes.
    Bytes(&'static [u8]),
    /// The server never replies (`crash`): any reply is wrong.
    NoReply,
}

/// A push as the application made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushInfo {
    /// The channel's index.
    pub channel: u32,
    /// The event.
    pub event: &'static str,
    /// What a reply must be.
    pub expect: Expect,
    /// The push's own timeout.
    pub timeout: Duration,
    /// One of the final pushes after the faults stopped: it must get the
    /// right `ok` reply.
    pub final_check: bool,
}

/// How a push ended, as the application saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The server replied.
    Reply {
        /// The status.
        status: String,
        /// The response.
        response: Payload<'static>,
    },
    /// The push timed out.
    Timeout,
    /// The push failed, saying why (`connection lost`, `channel crashed`,
    /// `channel closed`, ...).
    Failed(String),
    /// The push was refused at once, saying why (`rejected: ...`,
    /// `socket gone`, `not joined`).
    Refused(String),
    /// The soak's own guard stopped waiting: the client gave no outcome at all.
    Abandoned,
}

impl Outcome {
    /// A short label, for the counts.
    pub fn label(&self) -> String {
        match self {
            Outcome::Reply { status, .. } => format!("reply {status}"),
            Outcome::Timeout => "timeout".to_owned(),
            Outcome::Failed(why) => format!("failed: {why}"),
            Outcome::Refused(why) => format!("refused at once: {why}"),
            Outcome::Abandoned => "no outcome (abandoned)".to_owned(),
        }
    }

    fn describe(&self) -> String {
        match self {
            Outcome::Reply { status, response } => format!(
                "reply {status} {}",
                response
                    .as_json()
                    .map_or_else(|| format!("{:?}", response.as_bytes()), str::to_owned)
            ),
            other => other.label(),
        }
    }
}

/// A broken promise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// A push had no outcome within its timeout plus the margin.
    PushHung {
        /// The push.
        key: PushKey,
        /// Its channel's topic.
        topic: String,
        /// Its event.
        event: &'static str,
        /// Its timeout plus the margin.
        allowed: Duration,
        /// How long it had waited when reported.
        waited: Duration,
    },
    /// A push got a second outcome.
    PushTwice {
        /// The push.
        key: PushKey,
        /// The second outcome.
        outcome: String,
    },
    /// An outcome for a push that was never made.
    PushUnknown {
        /// The key it came with.
        key: PushKey,
        /// The outcome.
        outcome: String,
    },
    /// A reply that does not belong to its push.
    WrongReply {
        /// The push.
        key: PushKey,
        /// Its channel's topic.
        topic: String,
        /// Its event.
        event: &'static str,
        /// What was expected.
        expected: String,
        /// What came.
        got: String,
    },
    /// A `Timeout` outcome before the push's timeout.
    EarlyTimeout {
        /// The push.
        key: PushKey,
        /// When it came, after the push was made.
        after: Duration,
        /// The push's timeout.
        timeout: Duration,
    },
    /// A channel closed during the run.
    ChannelClosed {
        /// Its topic.
        topic: String,
        /// Why, as the client said.
        reason: String,
    },
    /// The server refused a join (the `echo:*` topics never do).
    JoinRefused {
        /// The topic.
        topic: String,
        /// The server's response.
        response: String,
    },
    /// The first join failed.
    InitialJoinFailed {
        /// The topic.
        topic: String,
        /// Why.
        error: String,
    },
    /// A channel stayed down while its socket was connected.
    ChannelStuck {
        /// The topic.
        topic: String,
        /// Since it went down.
        down_for: Duration,
        /// Since its socket last connected.
        connected_for: Duration,
    },
    /// A server message reached a channel it was not sent to.
    Misrouted {
        /// The channel that got it.
        topic: String,
        /// The event.
        event: String,
        /// The channel index its payload names.
        meant_for: u64,
    },
    /// Channels not joined again once the faults stopped and the recovery
    /// time passed.
    NotRejoined {
        /// How many.
        count: usize,
        /// The first few topics.
        topics: Vec<String>,
    },
    /// A final push (after the faults) did not get its `ok` reply.
    FinalPushFailed {
        /// The topic.
        topic: String,
        /// What it got.
        outcome: String,
    },
    /// A socket stopped by itself.
    SocketStopped {
        /// The socket's index.
        socket: u32,
    },
    /// A thread panicked.
    Panic {
        /// The panic's message and place.
        message: String,
    },
    /// The resident memory grew past the tolerance.
    MemoryGrowth {
        /// The verdict.
        verdict: MemoryVerdict,
    },
}

impl Violation {
    /// The invariant it breaks, for the counts.
    pub fn kind(&self) -> &'static str {
        match self {
            Violation::PushHung { .. } => "push without an outcome in time",
            Violation::PushTwice { .. } => "push with two outcomes",
            Violation::PushUnknown { .. } => "outcome of an unknown push",
            Violation::WrongReply { .. } => "reply that does not belong to its push",
            Violation::EarlyTimeout { .. } => "timeout before the timeout",
            Violation::ChannelClosed { .. } => "channel closed",
            Violation::JoinRefused { .. } => "join refused",
            Violation::InitialJoinFailed { .. } => "first join failed",
            Violation::ChannelStuck { .. } => "channel not rejoined while connected",
            Violation::Misrouted { .. } => "message on the wrong channel",
            Violation::NotRejoined { .. } => "channels not rejoined after the faults",
            Violation::FinalPushFailed { .. } => "final push failed",
            Violation::SocketStopped { .. } => "socket stopped",
            Violation::Panic { .. } => "panic",
            Violation::MemoryGrowth { .. } => "memory growth",
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::PushHung {
                key,
                topic,
                event,
                allowed,
                waited,
            } => write!(
                f,
                "{key} ({event} on {topic}) had no outcome after {waited:.1?} (allowed: timeout + margin = {allowed:.1?})"
            ),
            Violation::PushTwice { key, outcome } => {
                write!(f, "{key} got a second outcome: {outcome}")
            }
            Violation::PushUnknown { key, outcome } => {
                write!(f, "{key} was never made but got an outcome: {outcome}")
            }
            Violation::WrongReply {
                key,
                topic,
                event,
                expected,
                got,
            } => write!(
                f,
                "{key} ({event} on {topic}) expected {expected}, got {got}"
            ),
            Violation::EarlyTimeout {
                key,
                after,
                timeout,
            } => write!(
                f,
                "{key} timed out after {after:.3?}, before its timeout of {timeout:.3?}"
            ),
            Violation::ChannelClosed { topic, reason } => {
                write!(f, "channel {topic} closed during the run: {reason}")
            }
            Violation::JoinRefused { topic, response } => {
                write!(f, "the server refused a join of {topic}: {response}")
            }
            Violation::InitialJoinFailed { topic, error } => {
                write!(f, "the first join of {topic} failed: {error}")
            }
            Violation::ChannelStuck {
                topic,
                down_for,
                connected_for,
            } => write!(
                f,
                "channel {topic} down for {down_for:.1?} while its socket has been connected for {connected_for:.1?}"
            ),
            Violation::Misrouted {
                topic,
                event,
                meant_for,
            } => write!(
                f,
                "channel {topic} got {event} meant for channel {meant_for}"
            ),
            Violation::NotRejoined { count, topics } => write!(
                f,
                "{count} channel(s) not joined again after the faults stopped: {}{}",
                topics.join(", "),
                if *count > topics.len() { ", ..." } else { "" }
            ),
            Violation::FinalPushFailed { topic, outcome } => {
                write!(f, "the final push on {topic} got {outcome}")
            }
            Violation::SocketStopped { socket } => write!(f, "socket {socket} stopped by itself"),
            Violation::Panic { message } => write!(f, "panic: {message}"),
            Violation::MemoryGrowth { verdict } => write!(f, "memory grew: {verdict}"),
        }
    }
}

#[derive(Debug)]
struct Pending {
    info: PushInfo,
    started: Instant,
    reported: bool,
}

#[derive(Debug)]
struct Chan {
    socket: u32,
    topic: String,
    up: bool,
    ever_joined: bool,
    down_since: Instant,
    stuck_reported: bool,
}

#[derive(Debug, Default)]
struct Sock {
    connected_since: Option<Instant>,
    connects: u64,
}

/// Counts for the summary.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counts {
    /// Faults injected, by kind.
    pub faults: BTreeMap<String, u64>,
    /// Pushes made (with an outcome expected).
    pub pushes: u64,
    /// Outcomes, by label.
    pub outcomes: BTreeMap<String, u64>,
    /// Outcomes that came after the push had been reported hung.
    pub late_outcomes: u64,
    /// The latest outcome past its push's timeout.
    pub max_past_timeout: Duration,
    /// Casts (pushes without an awaited outcome), by result.
    pub casts: BTreeMap<String, u64>,
    /// Server messages, by event.
    pub messages: BTreeMap<String, u64>,
    /// `Errored` events, by reason.
    pub errored: BTreeMap<String, u64>,
    /// `Rejoined` events.
    pub rejoined: u64,
    /// The longest a channel was down before it rejoined.
    pub max_down: Duration,
    /// The longest a channel was down while its socket was connected (the
    /// time [`Limits::stuck_after`] bounds), among those that rejoined.
    pub max_down_connected: Duration,
    /// Connections opened (the first of each socket included).
    pub connects: u64,
    /// Connections opened again after the first.
    pub reconnects: u64,
    /// Disconnects, by reason.
    pub disconnects: BTreeMap<String, u64>,
    /// Malformed frames the sockets reported.
    pub malformed: u64,
}

/// Keeps at most this many violations in full (all are counted).
const KEEP: usize = 200;

/// The invariant checker. See the [module docs](self).
#[derive(Debug)]
pub struct Checker {
    limits: Limits,
    pending: BTreeMap<PushKey, Pending>,
    issued: BTreeMap<u32, u64>,
    channels: Vec<Chan>,
    sockets: Vec<Sock>,
    violations: Vec<Violation>,
    violation_counts: BTreeMap<&'static str, u64>,
    counts: Counts,
}

fn bump(map: &mut BTreeMap<String, u64>, key: impl Into<String>) {
    *map.entry(key.into()).or_default() += 1;
}

impl Checker {
    /// A checker with these limits and nothing registered.
    pub fn new(limits: Limits) -> Checker {
        Checker {
            limits,
            pending: BTreeMap::new(),
            issued: BTreeMap::new(),
            channels: Vec::new(),
            sockets: Vec::new(),
            violations: Vec::new(),
            violation_counts: BTreeMap::new(),
            counts: Counts::default(),
        }
    }

    /// The limits.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    fn violate(&mut self, violation: Violation) {
        *self.violation_counts.entry(violation.kind()).or_default() += 1;
        if self.violations.len() < KEEP {
            self.violations.push(violation);
        }
    }

    // ----- setup ------------------------------------------------------------

    /// Registers socket `socket` (indices from 0, in order).
    pub fn add_socket(&mut self, socket: u32) {
        let needed = usize::try_from(socket)
            .unwrap_or(usize::MAX)
            .saturating_add(1);
        if self.sockets.len() < needed {
            self.sockets.resize_with(needed, Sock::default);
        }
    }

    /// Registers the next channel (its index is the number of channels
    /// registered before), on `socket`, not joined yet.
    pub fn add_channel(&mut self, socket: u32, topic: String, now: Instant) -> u32 {
        self.add_socket(socket);
        self.channels.push(Chan {
            socket,
            topic,
            up: false,
            ever_joined: false,
            down_since: now,
            stuck_reported: false,
        });
        u32::try_from(self.channels.len() - 1).unwrap_or(u32::MAX)
    }

    fn topic(&self, channel: u32) -> String {
        self.channels
            .get(channel as usize)
            .map_or_else(|| format!("channel #{channel}"), |c| c.topic.clone())
    }

    // ----- pushes -------------------------------------------------------------

    /// A push was made.
    pub fn push_started(&mut self, key: PushKey, info: PushInfo, now: Instant) {
        self.counts.pushes += 1;
        let issued = self.issued.entry(key.source).or_default();
        *issued = (*issued).max(key.seq);
        self.pending.insert(
            key,
            Pending {
                info,
                started: now,
                reported: false,
            },
        );
    }

    /// A push ended with `outcome`.
    pub fn push_finished(&mut self, key: PushKey, outcome: &Outcome, now: Instant) {
        let label = outcome.label();
        let Some(pending) = self.pending.remove(&key) else {
            let issued = self.issued.get(&key.source).copied().unwrap_or(0);
            let outcome = outcome.describe();
            self.violate(if key.seq <= issued && key.seq > 0 {
                Violation::PushTwice { key, outcome }
            } else {
                Violation::PushUnknown { key, outcome }
            });
            return;
        };
        bump(&mut self.counts.outcomes, label);
        let elapsed = now.saturating_duration_since(pending.started);
        let info = &pending.info;
        let allowed = info.timeout + self.limits.margin;
        let past = elapsed.saturating_sub(info.timeout);
        self.counts.max_past_timeout = self.counts.max_past_timeout.max(past);
        let topic = self.topic(info.channel);
        if pending.reported {
            self.counts.late_outcomes += 1;
        } else if elapsed > allowed || *outcome == Outcome::Abandoned {
            self.violate(Violation::PushHung {
                key,
                topic: topic.clone(),
                event: info.event,
                allowed,
                waited: elapsed,
            });
        }
        if *outcome == Outcome::Timeout && elapsed + self.limits.early_slack < info.timeout {
            self.violate(Violation::EarlyTimeout {
                key,
                after: elapsed,
                timeout: info.timeout,
            });
        }
        let right = match outcome {
            Outcome::Reply { status, response } => match reply_fits(&info.expect, status, response)
            {
                Ok(()) => true,
                Err(expected) => {
                    self.violate(Violation::WrongReply {
                        key,
                        topic: topic.clone(),
                        event: info.event,
                        expected,
                        got: outcome.describe(),
                    });
                    false
                }
            },
            _ => false,
        };
        if info.final_check && !right {
            self.violate(Violation::FinalPushFailed {
                topic,
                outcome: outcome.describe(),
            });
        }
    }

    /// A push the client refused at once (`why`), without an id: an
    /// outcome of its own (an error saying why).
    pub fn refused_at_once(&mut self, channel: u32, why: &str, final_check: bool) {
        self.counts.pushes += 1;
        let outcome = Outcome::Refused(why.to_owned());
        bump(&mut self.counts.outcomes, outcome.label());
        if final_check {
            let topic = self.topic(channel);
            self.violate(Violation::FinalPushFailed {
                topic,
                outcome: outcome.label(),
            });
        }
    }

    /// Pushes still waiting for their outcome.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// A cast was sent (or refused, with `result` saying why).
    pub fn cast(&mut self, result: &str) {
        bump(&mut self.counts.casts, result);
    }

    // ----- channels -------------------------------------------------------------

    /// The first join of `channel` succeeded.
    pub fn joined(&mut self, channel: u32, now: Instant) {
        self.up(channel, now, false);
    }

    /// `channel` joined again (`Rejoined`).
    pub fn rejoined(&mut self, channel: u32, now: Instant) {
        self.up(channel, now, true);
    }

    fn up(&mut self, channel: u32, now: Instant, rejoin: bool) {
        let Some(chan) = self.channels.get_mut(channel as usize) else {
            return;
        };
        if rejoin {
            self.counts.rejoined += 1;
            if !chan.up {
                let down = now.saturating_duration_since(chan.down_since);
                self.counts.max_down = self.counts.max_down.max(down);
                let connected = self
                    .sockets
                    .get(chan.socket as usize)
                    .and_then(|s| s.connected_since);
                if let Some(connected) = connected {
                    let since = connected.max(chan.down_since);
                    let stuck = now.saturating_duration_since(since);
                    self.counts.max_down_connected = self.counts.max_down_connected.max(stuck);
                }
            }
        }
        chan.up = true;
        chan.ever_joined = true;
        chan.stuck_reported = false;
    }

    /// `channel` errored (`Errored`), for `reason`.
    pub fn errored(&mut self, channel: u32, reason: &str, now: Instant) {
        bump(&mut self.counts.errored, reason);
        if let Some(chan) = self.channels.get_mut(channel as usize) {
            if chan.up {
                chan.up = false;
                chan.down_since = now;
            }
        }
    }

    /// `channel` closed (`Closed`).
    pub fn closed(&mut self, channel: u32, reason: String) {
        let topic = self.topic(channel);
        if let Some(chan) = self.channels.get_mut(channel as usize) {
            chan.up = false;
        }
        self.violate(Violation::ChannelClosed { topic, reason });
    }

    /// The server refused a join or rejoin of `channel`.
    pub fn join_refused(&mut self, channel: u32, response: String) {
        let topic = self.topic(channel);
        self.violate(Violation::JoinRefused { topic, response });
    }

    /// The first join of `channel` failed.
    pub fn initial_join_failed(&mut self, channel: u32, error: String) {
        let topic = self.topic(channel);
        self.violate(Violation::InitialJoinFailed { topic, error });
    }

    /// `channel` got a server message whose payload names channel
    /// `meant_for` (`None`: it names none).
    pub fn message(&mut self, channel: u32, event: &str, meant_for: Option<u64>) {
        bump(&mut self.counts.messages, event);
        if let Some(meant_for) = meant_for {
            if meant_for != u64::from(channel) {
                let topic = self.topic(channel);
                self.violate(Violation::Misrouted {
                    topic,
                    event: event.to_owned(),
                    meant_for,
                });
            }
        }
    }

    /// Reports every channel whose first join has not succeeded (at the
    /// end of the setup).
    pub fn never_joined(&mut self) {
        let never: Vec<String> = self
            .channels
            .iter()
            .filter(|c| !c.ever_joined)
            .map(|c| c.topic.clone())
            .collect();
        for topic in never {
            self.violate(Violation::InitialJoinFailed {
                topic,
                error: "not joined in time".to_owned(),
            });
        }
    }

    /// Channels joined now, of all.
    pub fn joined_count(&self) -> (usize, usize) {
        (
            self.channels.iter().filter(|c| c.up).count(),
            self.channels.len(),
        )
    }

    /// Reports the channels not joined now (at the end of the recovery time).
    pub fn not_rejoined(&mut self) {
        let down: Vec<String> = self
            .channels
            .iter()
            .filter(|c| !c.up)
            .map(|c| c.topic.clone())
            .collect();
        if !down.is_empty() {
            self.violate(Violation::NotRejoined {
                count: down.len(),
                topics: down.into_iter().take(5).collect(),
            });
        }
    }

    // ----- sockets ----------------------------------------------------------------

    /// `socket` connected. A second report without a disconnect between
    /// (the status read when the watcher starts, then the event) counts once.
    pub fn connected(&mut self, socket: u32, now: Instant) {
        self.add_socket(socket);
        if let Some(sock) = self.sockets.get_mut(socket as usize) {
            if sock.connected_since.is_some() {
                return;
            }
            self.counts.connects += 1;
            sock.connects += 1;
            if sock.connects > 1 {
                self.counts.reconnects += 1;
            }
            sock.connected_since = Some(now);
        }
    }

    /// `socket` lost its connection (or failed to open one), for `reason`.
    pub fn disconnected(&mut self, socket: u32, reason: &str) {
        bump(&mut self.counts.disconnects, reason);
        if let Some(sock) = self.sockets.get_mut(socket as usize) {
            sock.connected_since = None;
        }
    }

    /// `socket` reported a malformed frame.
    pub fn malformed(&mut self) {
        self.counts.malformed += 1;
    }

    /// `socket` stopped by itself.
    pub fn socket_stopped(&mut self, socket: u32) {
        self.violate(Violation::SocketStopped { socket });
    }

    // ----- the rest -------------------------------------------------------------------

    /// A fault of `kind` was injected.
    pub fn fault(&mut self, kind: &str) {
        bump(&mut self.counts.faults, kind);
    }

    /// A thread panicked.
    pub fn panicked(&mut self, message: String) {
        self.violate(Violation::Panic { message });
    }

    /// The memory verdict; a failed one is a violation.
    pub fn memory(&mut self, verdict: &MemoryVerdict) {
        if !verdict.ok {
            self.violate(Violation::MemoryGrowth {
                verdict: verdict.clone(),
            });
        }
    }

    /// The continuous checks at `now`: pushes past their timeout plus the
    /// margin, channels down too long while connected.
    pub fn tick(&mut self, now: Instant) {
        let margin = self.limits.margin;
        let mut hung = Vec::new();
        for (key, pending) in &mut self.pending {
            let allowed = pending.info.timeout + margin;
            let waited = now.saturating_duration_since(pending.started);
            if !pending.reported && waited > allowed {
                pending.reported = true;
                hung.push((
                    *key,
                    pending.info.channel,
                    pending.info.event,
                    allowed,
                    waited,
                ));
            }
        }
        for (key, channel, event, allowed, waited) in hung {
            let topic = self.topic(channel);
            self.violate(Violation::PushHung {
                key,
                topic,
                event,
                allowed,
                waited,
            });
        }
        let stuck_after = self.limits.stuck_after;
        let mut stuck = Vec::new();
        for chan in &mut self.channels {
            if chan.up || !chan.ever_joined || chan.stuck_reported {
                continue;
            }
            let Some(connected) = self
                .sockets
                .get(chan.socket as usize)
                .and_then(|s| s.connected_since)
            else {
                continue;
            };
            let since = connected.max(chan.down_since);
            if now.saturating_duration_since(since) >= stuck_after {
                chan.stuck_reported = true;
                stuck.push(Violation::ChannelStuck {
                    topic: chan.topic.clone(),
                    down_for: now.saturating_duration_since(chan.down_since),
                    connected_for: now.saturating_duration_since(connected),
                });
            }
        }
        for violation in stuck {
            self.violate(violation);
        }
    }

    /// The counts so far.
    pub fn counts(&self) -> &Counts {
        &self.counts
    }

    /// The violations kept (the first 200).
    pub fn violations(&self) -> &[Violation] {
        &self.violations
    }

    /// Every violation, counted by kind.
    pub fn violation_counts(&self) -> &BTreeMap<&'static str, u64> {
        &self.violation_counts
    }

    /// Whether every invariant held so far.
    pub fn ok(&self) -> bool {
        self.violation_counts.is_empty()
    }
}

/// Whether a reply with `status` and `response` is the one `expect` asks
/// for; if not, what was expected.
fn reply_fits(expect: &Expect, status: &str, response: &Payload<'static>) -> Result<(), String> {
    let echoes = |channel: u32, n: u64| {
        response
            .deserialize::<serde_json::Value>()
            .ok()
            .is_some_and(|v| {
                v.get("ch").and_then(serde_json::Value::as_u64) == Some(u64::from(channel))
                    && v.get("n").and_then(serde_json::Value::as_u64) == Some(n)
            })
    };
    match expect {
        Expect::Echo { channel, n } if status == "ok" && echoes(*channel, *n) => Ok(()),
        Expect::Echo { channel, n } => Err(format!("reply ok with ch {channel}, n {n}")),
        Expect::ErrorEcho { channel, n } if status == "error" && echoes(*channel, *n) => Ok(()),
        Expect::ErrorEcho { channel, n } => Err(format!("reply error with ch {channel}, n {n}")),
        Expect::Ok if status == "ok" => Ok(()),
        Expect::Ok => Err("reply ok".to_owned()),
        Expect::Bytes(bytes) if status == "ok" && response.as_bytes() == Some(bytes) => Ok(()),
        Expect::Bytes(bytes) => Err(format!("reply ok with bytes {bytes:?}")),
        Expect::NoReply => Err("no reply (the server never answers this event)".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    //! The checker against fakes that break each invariant: each must be
    //! caught, and a clean run must pass.

    use super::*;
    use crate::memory::{Tolerance, judge};

    const TIMEOUT: Duration = Duration::from_secs(2);

    /// A fake client: one socket with two channels, driving the checker
    /// the way the soak's sockets do, on a clock it moves by hand.
    struct Fake {
        checker: Checker,
        t0: Instant,
        now: Instant,
        next: u64,
    }

    impl Fake {
        fn new() -> Fake {
            let t0 = Instant::now();
            let mut checker = Checker::new(Limits::default());
            for c in 0..2 {
                let ch = checker.add_channel(0, format!("echo:s0c{c}"), t0);
                checker.joined(ch, t0);
            }
            checker.connected(0, t0);
            Fake {
                checker,
                t0,
                now: t0,
                next: 0,
            }
        }

        fn at(&mut self, secs: f64) {
            self.now = self.t0 + Duration::from_secs_f64(secs);
            self.checker.tick(self.now);
        }

        fn push(&mut self, channel: u32, expect: Expect, final_check: bool) -> PushKey {
            self.next += 1;
            let key = PushKey {
                source: 0,
                seq: self.next,
            };
            let info = PushInfo {
                channel,
                event: "echo",
                expect,
                timeout: TIMEOUT,
                final_check,
            };
            self.checker.push_started(key, info, self.now);
            key
        }

        fn echo(&mut self, channel: u32) -> (PushKey, u64) {
            let n = self.next + 1000;
            (self.push(channel, Expect::Echo { channel, n }, false), n)
        }

        fn finish(&mut self, key: PushKey, outcome: Outcome) {
            self.checker.push_finished(key, &outcome, self.now);
        }

        fn kinds(&self) -> Vec<&'static str> {
            self.checker.violation_counts().keys().copied().collect()
        }
    }

    fn reply(status: &str, json: serde_json::Value) -> Outcome {
        Outcome::Reply {
            status: status.to_owned(),
            response: Payload::json(&json).unwrap(),
        }
    }

    fn echo_reply(channel: u32, n: u64) -> Outcome {
        reply(
            "ok",
            serde_json::json!({"ch": channel, "n": n, "pad": "xyz"}),
        )
    }

    #[test]
    fn a_clean_run_passes() {
        let mut fake = Fake::new();
        let (a, n) = fake.echo(0);
        let b = fake.push(1, Expect::Ok, false);
        let c = fake.push(1, Expect::NoReply, false);
        fake.at(0.5);
        fake.finish(a, echo_reply(0, n));
        fake.finish(b, reply("ok", serde_json::json!({})));
        fake.at(2.1);
        fake.finish(c, Outcome::Timeout);
        // A disconnect: the channels go down, then rejoin.
        fake.checker.disconnected(0, "heartbeat timeout");
        fake.checker.errored(0, "connection lost", fake.now);
        fake.checker.errored(1, "connection lost", fake.now);
        fake.at(30.0); // long down, but never connected meanwhile: not stuck
        fake.checker.connected(0, fake.now);
        fake.at(31.0);
        fake.checker.rejoined(0, fake.now);
        fake.checker.rejoined(1, fake.now);
        fake.checker.message(1, "pushed", Some(1));
        let (d, n) = fake.echo(0);
        fake.at(32.0);
        fake.finish(d, echo_reply(0, n));
        fake.checker.not_rejoined();
        assert!(fake.checker.ok(), "{:?}", fake.checker.violations());
        let counts = fake.checker.counts();
        assert_eq!(counts.pushes, 4);
        assert_eq!(counts.reconnects, 1);
        assert_eq!(counts.rejoined, 2);
        assert_eq!(counts.outcomes["reply ok"], 3);
        assert!((counts.max_down.as_secs_f64() - 28.9).abs() < 1e-6);
        assert_eq!(counts.max_down_connected, Duration::from_secs(1));
    }

    #[test]
    fn a_push_that_never_ends_is_caught() {
        let mut fake = Fake::new();
        let (key, _) = fake.echo(0);
        fake.at(4.9); // timeout 2 s + margin 3 s: not yet
        assert!(fake.checker.ok());
        fake.at(5.1);
        assert_eq!(fake.kinds(), ["push without an outcome in time"]);
        // A late outcome is counted, not reported again.
        fake.finish(key, Outcome::Timeout);
        assert_eq!(
            fake.checker.violation_counts()["push without an outcome in time"],
            1
        );
        assert_eq!(fake.checker.counts().late_outcomes, 1);
    }

    #[test]
    fn an_outcome_past_the_margin_is_caught_even_between_ticks() {
        let mut fake = Fake::new();
        let (key, _) = fake.echo(0);
        fake.now = fake.t0 + Duration::from_secs(6);
        fake.finish(key, Outcome::Failed("connection lost".into()));
        assert_eq!(fake.kinds(), ["push without an outcome in time"]);
    }

    #[test]
    fn an_abandoned_push_is_caught() {
        let mut fake = Fake::new();
        let (key, _) = fake.echo(0);
        fake.at(1.0);
        fake.finish(key, Outcome::Abandoned);
        assert_eq!(fake.kinds(), ["push without an outcome in time"]);
    }

    #[test]
    fn a_second_outcome_is_caught() {
        let mut fake = Fake::new();
        let (key, n) = fake.echo(0);
        fake.finish(key, echo_reply(0, n));
        assert!(fake.checker.ok());
        fake.finish(key, Outcome::Timeout);
        assert_eq!(fake.kinds(), ["push with two outcomes"]);
    }

    #[test]
    fn an_outcome_for_a_push_never_made_is_caught() {
        let mut fake = Fake::new();
        let key = PushKey { source: 0, seq: 99 };
        fake.finish(key, Outcome::Timeout);
        assert_eq!(fake.kinds(), ["outcome of an unknown push"]);
    }

    #[test]
    fn a_reply_meant_for_another_push_is_caught() {
        let mut fake = Fake::new();
        let (a, n) = fake.echo(0);
        fake.finish(a, echo_reply(0, n + 1));
        let b = fake.push(0, Expect::NoReply, false);
        fake.finish(b, reply("ok", serde_json::json!({})));
        let c = fake.push(0, Expect::Bytes(&[1, 2, 3]), false);
        fake.finish(c, reply("ok", serde_json::json!({})));
        assert_eq!(fake.kinds(), ["reply that does not belong to its push"]);
        assert_eq!(fake.checker.violations().len(), 3);
        // The right ones pass.
        let mut fake = Fake::new();
        let c = fake.push(0, Expect::Bytes(&[1, 2, 3]), false);
        fake.finish(
            c,
            Outcome::Reply {
                status: "ok".into(),
                response: Payload::binary(vec![1, 2, 3]),
            },
        );
        let d = fake.push(0, Expect::ErrorEcho { channel: 0, n: 5 }, false);
        fake.finish(d, reply("error", serde_json::json!({"ch": 0, "n": 5})));
        assert!(fake.checker.ok(), "{:?}", fake.checker.violations());
    }

    #[test]
    fn an_early_timeout_is_caught() {
        let mut fake = Fake::new();
        let (key, _) = fake.echo(0);
        fake.at(1.0);
        fake.finish(key, Outcome::Timeout);
        assert_eq!(fake.kinds(), ["timeout before the timeout"]);
    }

    #[test]
    fn a_channel_that_does_not_rejoin_while_connected_is_caught() {
        let mut fake = Fake::new();
        fake.checker.errored(1, "channel crashed", fake.now);
        fake.at(14.0);
        assert!(fake.checker.ok());
        fake.at(15.5);
        assert_eq!(fake.kinds(), ["channel not rejoined while connected"]);
        // Reported once per time down.
        fake.at(40.0);
        assert_eq!(fake.checker.violations().len(), 1);
    }

    #[test]
    fn the_stuck_clock_starts_at_the_later_of_down_and_connect() {
        let mut fake = Fake::new();
        fake.checker.disconnected(0, "closed");
        fake.checker.errored(0, "connection lost", fake.now);
        fake.at(100.0);
        fake.checker.connected(0, fake.now);
        fake.at(110.0);
        assert!(fake.checker.ok());
        fake.at(115.1);
        assert_eq!(fake.kinds(), ["channel not rejoined while connected"]);
    }

    #[test]
    fn closed_channels_refused_joins_and_failed_first_joins_are_caught() {
        let mut fake = Fake::new();
        fake.checker.closed(0, "ServerClosed".into());
        fake.checker.join_refused(1, "{\"reason\":\"no\"}".into());
        fake.checker.initial_join_failed(1, "timeout".into());
        assert_eq!(
            fake.kinds(),
            ["channel closed", "first join failed", "join refused"]
        );
    }

    #[test]
    fn a_message_on_the_wrong_channel_is_caught() {
        let mut fake = Fake::new();
        fake.checker.message(0, "pushed", Some(0));
        fake.checker.message(0, "item", None);
        assert!(fake.checker.ok());
        fake.checker.message(0, "pushed", Some(1));
        assert_eq!(fake.kinds(), ["message on the wrong channel"]);
    }

    #[test]
    fn channels_down_at_the_end_are_caught() {
        let mut fake = Fake::new();
        fake.checker.errored(1, "connection lost", fake.now);
        fake.checker.not_rejoined();
        assert_eq!(fake.kinds(), ["channels not rejoined after the faults"]);
        assert_eq!(fake.checker.joined_count(), (1, 2));
    }

    #[test]
    fn a_failed_final_push_is_caught() {
        let mut fake = Fake::new();
        let key = fake.push(0, Expect::Echo { channel: 0, n: 1 }, true);
        fake.at(2.5);
        fake.finish(key, Outcome::Timeout);
        assert_eq!(fake.kinds(), ["final push failed"]);
        fake.checker
            .refused_at_once(1, "rejected: the channel is closed", true);
        assert_eq!(fake.checker.violation_counts()["final push failed"], 2);
        let mut fake = Fake::new();
        let key = fake.push(0, Expect::Echo { channel: 0, n: 1 }, true);
        fake.finish(key, echo_reply(0, 1));
        assert!(fake.checker.ok());
    }

    #[test]
    fn a_socket_that_stops_and_a_panic_are_caught() {
        let mut fake = Fake::new();
        fake.checker.socket_stopped(0);
        fake.checker.panicked("boom at src/x.rs:1".into());
        assert_eq!(fake.kinds(), ["panic", "socket stopped"]);
    }

    #[test]
    fn growing_memory_is_caught_and_flat_memory_passes() {
        let tolerance = Tolerance::default();
        let mut fake = Fake::new();
        let flat: Vec<u64> = (0..100).map(|i| 50_000 + (i % 7) * 100).collect();
        fake.checker.memory(&judge(&flat, tolerance).unwrap());
        assert!(fake.checker.ok());
        // 50 MiB growing by 200 KiB a second: the 20%–40% median is about
        // 55.8 MiB, the last 20%'s 67.5 MiB > 55.8 × 1.1 + 2 = 63.3 MiB.
        let leaking: Vec<u64> = (0..100).map(|i| 51_200 + i * 200).collect();
        fake.checker.memory(&judge(&leaking, tolerance).unwrap());
        assert_eq!(fake.kinds(), ["memory growth"]);
    }
}
