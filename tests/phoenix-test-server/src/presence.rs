//! Presence tracking for the `presence:*` fixture topics (a single-node
//! stand-in for `Phoenix.Presence`/`Phoenix.Tracker`).

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

/// One tracked presence.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) topic: String,
    pub(crate) key: String,
    pub(crate) chan_id: u64,
    /// The meta, including its `phx_ref`.
    pub(crate) meta: Value,
}

/// All presences of a server, in tracking order.
#[derive(Debug, Default)]
pub(crate) struct Presence {
    entries: Vec<Entry>,
}

impl Presence {
    pub(crate) fn track(&mut self, topic: &str, key: &str, chan_id: u64, meta: Value) {
        self.entries.push(Entry {
            topic: topic.to_owned(),
            key: key.to_owned(),
            chan_id,
            meta,
        });
    }

    /// Removes and returns every entry of a channel.
    pub(crate) fn untrack(&mut self, chan_id: u64) -> Vec<Entry> {
        let (gone, kept): (Vec<Entry>, Vec<Entry>) = std::mem::take(&mut self.entries)
            .into_iter()
            .partition(|e| e.chan_id == chan_id);
        self.entries = kept;
        gone
    }

    /// `Presence.update/4`: every meta of `key` on `topic` gets the fields
    /// of `fields`, a new `phx_ref` and `phx_ref_prev`; returns each meta's
    /// (old, new).
    pub(crate) fn update(&mut self, topic: &str, key: &str, fields: &Value) -> Vec<(Value, Value)> {
        let mut changed = Vec::new();
        for e in self
            .entries
            .iter_mut()
            .filter(|e| e.topic == topic && e.key == key)
        {
            let old = e.meta.clone();
            let mut new = old.clone();
            if let (Some(new), Some(fields)) = (new.as_object_mut(), fields.as_object()) {
                for (k, v) in fields {
                    new.insert(k.clone(), v.clone());
                }
                let prev = old.get("phx_ref").cloned().unwrap_or(Value::Null);
                new.insert("phx_ref_prev".into(), prev);
                new.insert("phx_ref".into(), Value::String(new_phx_ref()));
            }
            e.meta = new.clone();
            changed.push((old, new));
        }
        changed
    }

    /// `Presence.list/1`: `{key: {"metas": [meta, …]}, …}` for a topic.
    pub(crate) fn state(&self, topic: &str) -> Value {
        let mut out = Map::new();
        for e in self.entries.iter().filter(|e| e.topic == topic) {
            let slot = out
                .entry(e.key.clone())
                .or_insert_with(|| json!({ "metas": [] }));
            if let Some(Value::Array(metas)) = slot.get_mut("metas") {
                metas.push(e.meta.clone());
            }
        }
        Value::Object(out)
    }
}

/// A `presence_diff` payload with at most one join and one leave.
pub(crate) fn diff(join: Option<(&str, &Value)>, leave: Option<(&str, &Value)>) -> Value {
    let side = |x: Option<(&str, &Value)>| {
        let mut m = Map::new();
        if let Some((key, meta)) = x {
            m.insert(key.to_owned(), json!({ "metas": [meta] }));
        }
        Value::Object(m)
    };
    json!({ "joins": side(join), "leaves": side(leave) })
}

/// Seconds since the Unix epoch (the fixture's `online_at`).
pub(crate) fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

static PHX_REF_COUNTER: AtomicU32 = AtomicU32::new(0);

/// A unique `phx_ref`: URL-safe base64 (no padding) of 12 bytes — 8 bytes of
/// nanosecond clock and a 4-byte process-wide counter — so 16 characters, the
/// shape Phoenix uses.
pub(crate) fn new_phx_ref() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let nanos = u64::try_from(nanos).unwrap_or(u64::MAX);
    let n = PHX_REF_COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut bytes = [0u8; 12];
    let (a, b) = bytes.split_at_mut(8);
    a.copy_from_slice(&nanos.to_be_bytes());
    b.copy_from_slice(&n.to_be_bytes());
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phx_refs_are_16_url_safe_chars_and_unique() {
        let a = new_phx_ref();
        let b = new_phx_ref();
        assert_eq!(a.len(), 16);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert_ne!(a, b);
    }

    #[test]
    fn state_groups_by_key_and_untrack_removes() {
        let mut p = Presence::default();
        p.track("presence:1", "alice", 1, json!({"phx_ref": "a"}));
        p.track("presence:1", "bob", 2, json!({"phx_ref": "b"}));
        p.track("presence:1", "alice", 3, json!({"phx_ref": "c"}));
        p.track("presence:2", "carol", 4, json!({"phx_ref": "d"}));
        assert_eq!(
            p.state("presence:1"),
            json!({"alice": {"metas": [{"phx_ref": "a"}, {"phx_ref": "c"}]}, "bob": {"metas": [{"phx_ref": "b"}]}})
        );
        let gone = p.untrack(3);
        assert_eq!(gone.len(), 1);
        assert_eq!(
            p.state("presence:1")["alice"]["metas"]
                .as_array()
                .map(Vec::len),
            Some(1)
        );
        assert_eq!(
            diff(None, Some(("bob", &json!({"phx_ref": "b"})))),
            json!({"joins": {}, "leaves": {"bob": {"metas": [{"phx_ref": "b"}]}}})
        );
    }
}
