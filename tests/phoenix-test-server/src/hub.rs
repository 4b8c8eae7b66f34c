//! Server-wide shared state: pubsub subscriptions, presence, the connection
//! registry, counters and the refusal switch.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};

use crate::ServerConfig;
use crate::codec::{Frame, Payload, Serializer, ServerFrame, encode};
use crate::control::{ConnectionId, ConnectionInfo, ServerStats};
use crate::presence::{self, Presence};

/// What a connection's writer is asked to do.
#[derive(Debug)]
pub(crate) enum Out {
    /// Write a data frame.
    Frame(Frame),
    /// Close the connection with this code and reason (after the frames queued before it).
    Close(u16, String),
}

/// One queued output with the time it was queued (used by the delay fault).
#[derive(Debug)]
pub(crate) struct OutItem {
    pub(crate) at: Instant,
    pub(crate) out: Out,
}

/// The sending side of a connection's output queue. Every producer (the
/// connection itself, its channels, broadcasts from other connections, the
/// control API) goes through it, so frames keep the order they were produced in.
#[derive(Debug, Clone)]
pub(crate) struct Outbox {
    tx: mpsc::UnboundedSender<OutItem>,
}

impl Outbox {
    pub(crate) fn new() -> (Outbox, mpsc::UnboundedReceiver<OutItem>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Outbox { tx }, rx)
    }

    pub(crate) fn frame(&self, frame: Frame) {
        // A send error only means the connection is already gone.
        let _ = self.tx.send(OutItem {
            at: Instant::now(),
            out: Out::Frame(frame),
        });
    }

    pub(crate) fn close(&self, code: u16, reason: &str) {
        let _ = self.tx.send(OutItem {
            at: Instant::now(),
            out: Out::Close(code, reason.to_owned()),
        });
    }
}

/// Out-of-band commands for a connection task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConnCtl {
    /// Drop the TCP connection at once, without a close frame.
    Drop,
    /// Stop reading and writing, keep the TCP connection open.
    HalfOpen,
}

/// A registered connection.
#[derive(Debug)]
pub(crate) struct ConnEntry {
    pub(crate) info: ConnectionInfo,
    pub(crate) outbox: Outbox,
    pub(crate) ctl: mpsc::UnboundedSender<ConnCtl>,
    /// Per-connection outgoing delay in ms; `u64::MAX` = use the server-wide one.
    pub(crate) delay_ms: Arc<AtomicU64>,
}

/// A channel subscribed to a topic.
#[derive(Debug, Clone)]
pub(crate) struct Subscriber {
    pub(crate) chan_id: u64,
    pub(crate) serializer: Serializer,
    pub(crate) outbox: Outbox,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Refusal {
    pub(crate) status: u16,
    pub(crate) until: Option<Instant>,
    pub(crate) retry_after: Option<Duration>,
}

#[derive(Debug, Default)]
struct HubState {
    subs: HashMap<String, Vec<Subscriber>>,
    presence: Presence,
    conns: BTreeMap<u64, ConnEntry>,
    refusal: Option<Refusal>,
    opened: u64,
    closed: u64,
    refused: u64,
}

/// Shared state of one server.
#[derive(Debug)]
pub(crate) struct Hub {
    pub(crate) config: ServerConfig,
    state: Mutex<HubState>,
    next_id: AtomicU64,
    pub(crate) frames_received: AtomicU64,
    pub(crate) frames_sent: AtomicU64,
    pub(crate) closes_answered: AtomicU64,
    /// Server-wide outgoing delay in ms.
    pub(crate) global_delay_ms: AtomicU64,
    changes: watch::Sender<u64>,
    /// Long-poll sessions by token.
    pub(crate) longpoll: crate::longpoll::Registry,
}

impl Hub {
    pub(crate) fn new(config: ServerConfig) -> Hub {
        Hub {
            config,
            state: Mutex::new(HubState::default()),
            next_id: AtomicU64::new(1),
            frames_received: AtomicU64::new(0),
            frames_sent: AtomicU64::new(0),
            closes_answered: AtomicU64::new(0),
            global_delay_ms: AtomicU64::new(0),
            changes: watch::channel(0).0,
            longpoll: crate::longpoll::Registry::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HubState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A fresh id for a connection or a channel.
    pub(crate) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    fn bump(&self) {
        self.changes.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// A receiver that is notified on every connection open/close.
    pub(crate) fn subscribe_changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    // ----- connections -------------------------------------------------

    pub(crate) fn register(&self, entry: ConnEntry) {
        {
            let mut st = self.lock();
            st.opened += 1;
            st.conns.insert(entry.info.id.0, entry);
        }
        self.bump();
    }

    pub(crate) fn unregister(&self, id: ConnectionId) {
        {
            let mut st = self.lock();
            if st.conns.remove(&id.0).is_some() {
                st.closed += 1;
            }
        }
        self.bump();
    }

    pub(crate) fn connections(&self) -> Vec<ConnectionInfo> {
        self.lock().conns.values().map(|c| c.info.clone()).collect()
    }

    pub(crate) fn with_conn<R>(
        &self,
        id: ConnectionId,
        f: impl FnOnce(&ConnEntry) -> R,
    ) -> Option<R> {
        self.lock().conns.get(&id.0).map(f)
    }

    pub(crate) fn for_each_conn(&self, mut f: impl FnMut(&ConnEntry)) {
        for c in self.lock().conns.values() {
            f(c);
        }
    }

    pub(crate) fn note_frame_received(&self, id: ConnectionId) {
        self.frames_received.fetch_add(1, Ordering::Relaxed);
        if let Some(c) = self.lock().conns.get_mut(&id.0) {
            c.info.frames_received += 1;
        }
    }

    pub(crate) fn note_close_answered(&self) {
        self.closes_answered.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn note_frame_sent(&self) {
        self.frames_sent.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn stats(&self) -> ServerStats {
        let st = self.lock();
        ServerStats {
            connections_opened: st.opened,
            connections_closed: st.closed,
            connections_open: st.conns.len(),
            connections_refused: st.refused,
            frames_received: self.frames_received.load(Ordering::Relaxed),
            frames_sent: self.frames_sent.load(Ordering::Relaxed),
            closes_answered: self.closes_answered.load(Ordering::Relaxed),
        }
    }

    /// Closes (code 1001, no frames) every connection whose socket id is `id`:
    /// the socket-id "disconnect" broadcast. Returns how many were found.
    pub(crate) fn disconnect_socket_id(&self, id: &str) -> usize {
        let st = self.lock();
        let mut n = 0;
        for c in st.conns.values() {
            if c.info.socket_id.as_deref() == Some(id) {
                c.outbox.close(1001, "");
                n += 1;
            }
        }
        n
    }

    // ----- refusal -----------------------------------------------------

    pub(crate) fn set_refusal(&self, refusal: Option<Refusal>) {
        self.lock().refusal = refusal;
    }

    /// If new connections are being refused, counts the refusal and returns the
    /// HTTP status and `Retry-After` seconds to answer with.
    pub(crate) fn check_refusal(&self) -> Option<(u16, Option<u64>)> {
        let mut st = self.lock();
        let r = st.refusal?;
        let now = Instant::now();
        if let Some(until) = r.until {
            if now >= until {
                st.refusal = None;
                return None;
            }
        }
        st.refused += 1;
        let retry = r
            .retry_after
            .or_else(|| r.until.map(|u| u.saturating_duration_since(now)));
        let secs = retry.map(|d| {
            let s = d.as_secs() + u64::from(d.subsec_nanos() > 0);
            s.max(1)
        });
        Some((r.status, secs))
    }

    /// Counts a connection refused by `connect` (403).
    pub(crate) fn note_refused(&self) {
        self.lock().refused += 1;
    }

    // ----- pubsub -------------------------------------------------------

    /// Subscribes a channel to its topic and, in the same critical section,
    /// queues its join reply, so that no broadcast can overtake the reply.
    pub(crate) fn subscribe_with_reply(&self, topic: &str, sub: Subscriber, reply: Frame) {
        let mut st = self.lock();
        sub.outbox.frame(reply);
        st.subs.entry(topic.to_owned()).or_default().push(sub);
    }

    pub(crate) fn unsubscribe(&self, topic: &str, chan_id: u64) {
        let mut st = self.lock();
        if let Some(v) = st.subs.get_mut(topic) {
            v.retain(|s| s.chan_id != chan_id);
            if v.is_empty() {
                st.subs.remove(topic);
            }
        }
    }

    /// Broadcasts to every subscriber of `topic` ("fastlane": encoded once per
    /// serializer). Subscribers that cannot carry the payload (binary to V1)
    /// are skipped. Returns the number of subscribers reached.
    pub(crate) fn broadcast(&self, topic: &str, event: &str, payload: Payload) -> usize {
        let st = self.lock();
        broadcast_locked(&st, topic, event, payload)
    }

    /// Forgets all subscriptions and presences (used by restart once every
    /// connection is gone).
    pub(crate) fn reset_channels(&self) {
        let mut st = self.lock();
        st.subs.clear();
        st.presence = Presence::default();
    }

    // ----- presence -----------------------------------------------------

    /// Tracks `key` on `topic` for channel `chan_id`, broadcasts the join diff
    /// and returns the topic's presence state (which includes the new entry).
    pub(crate) fn presence_track(&self, topic: &str, key: &str, chan_id: u64) -> Value {
        let mut st = self.lock();
        let meta =
            json!({ "online_at": presence::unix_seconds(), "phx_ref": presence::new_phx_ref() });
        st.presence.track(topic, key, chan_id, meta.clone());
        let diff = presence::diff(Some((key, &meta)), None);
        broadcast_locked(&st, topic, "presence_diff", Payload::Json(diff));
        st.presence.state(topic)
    }

    /// Updates the metas of `key` on `topic` and broadcasts the diffs (a
    /// join of the new meta with a leave of the old, as Phoenix does).
    pub(crate) fn presence_update(&self, topic: &str, key: &str, fields: &Value) -> usize {
        let mut st = self.lock();
        let changed = st.presence.update(topic, key, fields);
        for (old, new) in &changed {
            let diff = presence::diff(Some((key, new)), Some((key, old)));
            broadcast_locked(&st, topic, "presence_diff", Payload::Json(diff));
        }
        changed.len()
    }

    /// Removes every presence of channel `chan_id` and broadcasts leave diffs.
    pub(crate) fn presence_untrack(&self, chan_id: u64) {
        let mut st = self.lock();
        let gone = st.presence.untrack(chan_id);
        for e in gone {
            let diff = presence::diff(None, Some((&e.key, &e.meta)));
            broadcast_locked(&st, &e.topic, "presence_diff", Payload::Json(diff));
        }
    }
}

fn broadcast_locked(st: &HubState, topic: &str, event: &str, payload: Payload) -> usize {
    let Some(subs) = st.subs.get(topic) else {
        return 0;
    };
    let frame = ServerFrame::Broadcast {
        topic: topic.to_owned(),
        event: event.to_owned(),
        payload,
    };
    let v1 = encode(Serializer::V1, &frame).ok();
    let v2 = encode(Serializer::V2, &frame).ok();
    let mut n = 0;
    for s in subs {
        let encoded = match s.serializer {
            Serializer::V1 => v1.clone(),
            Serializer::V2 => v2.clone(),
        };
        if let Some(f) = encoded {
            s.outbox.frame(f);
            n += 1;
        }
    }
    n
}
