//! Phoenix Presence on the client: who is on a topic, kept in sync from the
//! server's `presence_state` and `presence_diff` messages (phoenix-proto/PROTOCOL.md 7.11
//! and 8).
//!
//! Feed every message of a presence channel to [`Presence::handle_message`].
//! Diffs that arrive before the first state (the server usually sends the
//! joiner's own diff first) are held and applied right after it. After a
//! rejoin, call [`Presence::reset`]: diffs wait again for the new state.
//!
//! Metas are told apart by their `phx_ref`. Within a diff, joins apply
//! before leaves, so a meta update (a join with a new `phx_ref` plus a leave
//! of the old one) keeps the presence.
//!
//! ```
//! use phoenix_proto::codec::Payload;
//! use phoenix_proto::presence::{Presence, PresenceChange};
//!
//! let mut presence = Presence::new();
//! let diff = Payload::raw_json(r#"{"joins":{"bob":{"metas":[{"phx_ref":"b1"}]}},"leaves":{}}"#)?;
//! // A diff before the state is held back.
//! assert_eq!(presence.handle_message("presence_diff", &diff)?, Some(vec![]));
//! let state = Payload::raw_json(r#"{"alice":{"metas":[{"phx_ref":"a1"}]}}"#)?;
//! let changes = presence.handle_message("presence_state", &state)?.unwrap_or_default();
//! assert_eq!(changes.len(), 2); // alice from the state, then bob from the held diff
//! assert!(matches!(&changes[1], PresenceChange::Join { key, .. } if key == "bob"));
//! assert_eq!(presence.keys().collect::<Vec<_>>(), ["alice", "bob"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::codec::{DecodeError, Payload};

/// The event that carries the whole presence state.
pub const PRESENCE_STATE: &str = "presence_state";
/// The event that carries joins and leaves.
pub const PRESENCE_DIFF: &str = "presence_diff";

/// One key's presence: its metas (one per connection or device) and any
/// other fields the app's `fetch/2` added.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct Entry {
    /// The metas, each a JSON object with a `phx_ref`.
    #[serde(default)]
    pub metas: Vec<Value>,
    /// Fields next to `metas`.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Entry {
    fn refs(&self) -> Vec<&str> {
        self.metas.iter().filter_map(phx_ref).collect()
    }
}

fn phx_ref(meta: &Value) -> Option<&str> {
    meta.get("phx_ref").and_then(Value::as_str)
}

/// What changed, in the order it was applied.
#[derive(Debug, Clone, PartialEq)]
pub enum PresenceChange {
    /// Metas joined `key`.
    Join {
        /// The key (usually a user id).
        key: String,
        /// The presence before the join, if the key was present.
        before: Option<Entry>,
        /// The joined metas.
        joined: Entry,
    },
    /// Metas left `key`.
    Leave {
        /// The key.
        key: String,
        /// The presence after the leave (no metas: the key is gone).
        after: Entry,
        /// The metas that left.
        left: Entry,
    },
}

#[derive(Debug, Deserialize)]
struct Diff {
    #[serde(default)]
    joins: BTreeMap<String, Entry>,
    #[serde(default)]
    leaves: BTreeMap<String, Entry>,
}

/// The presence list of one channel.
#[derive(Debug, Clone, Default)]
pub struct Presence {
    state: BTreeMap<String, Entry>,
    synced: bool,
    pending: Vec<(BTreeMap<String, Entry>, BTreeMap<String, Entry>)>,
}

impl Presence {
    /// An empty list, waiting for its first state.
    pub fn new() -> Self {
        Presence::default()
    }

    /// Applies a channel message if it is a presence event.
    ///
    /// Returns `Ok(None)` for other events, `Ok(Some(changes))` for
    /// presence events (empty while a diff waits for the state).
    ///
    /// # Errors
    /// [`DecodeError`] when a presence payload has the wrong shape.
    pub fn handle_message(
        &mut self,
        event: &str,
        payload: &Payload<'_>,
    ) -> Result<Option<Vec<PresenceChange>>, DecodeError> {
        match event {
            PRESENCE_STATE => {
                let state: BTreeMap<String, Entry> = payload.deserialize()?;
                Ok(Some(self.sync_state(state)))
            }
            PRESENCE_DIFF => {
                let diff: Diff = payload.deserialize()?;
                if !self.synced {
                    self.pending.push((diff.joins, diff.leaves));
                    return Ok(Some(Vec::new()));
                }
                let mut changes = Vec::new();
                self.sync_diff(diff.joins, diff.leaves, &mut changes);
                Ok(Some(changes))
            }
            _ => Ok(None),
        }
    }

    /// Forgets whether a state was received, so diffs wait for the next
    /// one. Call it when the channel rejoins.
    pub fn reset(&mut self) {
        self.synced = false;
        self.pending.clear();
    }

    /// Whether a state has been received since the last reset.
    pub fn is_synced(&self) -> bool {
        self.synced
    }

    /// The present keys, in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.state.keys().map(String::as_str)
    }

    /// Every key with its presence.
    pub fn list(&self) -> impl Iterator<Item = (&str, &Entry)> {
        self.state.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// One key's presence.
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.state.get(key)
    }

    fn sync_state(&mut self, new_state: BTreeMap<String, Entry>) -> Vec<PresenceChange> {
        let mut joins = BTreeMap::new();
        let mut leaves = BTreeMap::new();
        for (key, current) in &self.state {
            if !new_state.contains_key(key) {
                leaves.insert(key.clone(), current.clone());
            }
        }
        for (key, new) in new_state {
            match self.state.get(&key) {
                Some(current) => {
                    let new_refs = new.refs();
                    let current_refs = current.refs();
                    let joined: Vec<Value> = new
                        .metas
                        .iter()
                        .filter(|m| phx_ref(m).is_none_or(|r| !current_refs.contains(&r)))
                        .cloned()
                        .collect();
                    let left: Vec<Value> = current
                        .metas
                        .iter()
                        .filter(|m| phx_ref(m).is_none_or(|r| !new_refs.contains(&r)))
                        .cloned()
                        .collect();
                    if !joined.is_empty() {
                        joins.insert(
                            key.clone(),
                            Entry {
                                metas: joined,
                                extra: new.extra.clone(),
                            },
                        );
                    }
                    if !left.is_empty() {
                        leaves.insert(
                            key,
                            Entry {
                                metas: left,
                                extra: current.extra.clone(),
                            },
                        );
                    }
                }
                None => {
                    joins.insert(key, new);
                }
            }
        }
        let mut changes = Vec::new();
        self.sync_diff(joins, leaves, &mut changes);
        self.synced = true;
        for (joins, leaves) in std::mem::take(&mut self.pending) {
            self.sync_diff(joins, leaves, &mut changes);
        }
        changes
    }

    fn sync_diff(
        &mut self,
        joins: BTreeMap<String, Entry>,
        leaves: BTreeMap<String, Entry>,
        changes: &mut Vec<PresenceChange>,
    ) {
        for (key, joined) in joins {
            let before = self.state.get(&key).cloned();
            let mut entry = joined.clone();
            if let Some(current) = &before {
                let joined_refs = joined.refs();
                let kept: Vec<Value> = current
                    .metas
                    .iter()
                    .filter(|m| phx_ref(m).is_none_or(|r| !joined_refs.contains(&r)))
                    .cloned()
                    .collect();
                // Metas that stay come first, as the official client keeps them.
                entry.metas = kept.into_iter().chain(entry.metas).collect();
            }
            self.state.insert(key.clone(), entry);
            changes.push(PresenceChange::Join {
                key,
                before,
                joined,
            });
        }
        for (key, left) in leaves {
            let Some(current) = self.state.get_mut(&key) else {
                continue;
            };
            let gone = left.refs();
            current
                .metas
                .retain(|m| phx_ref(m).is_none_or(|r| !gone.contains(&r)));
            let after = current.clone();
            if after.metas.is_empty() {
                self.state.remove(&key);
            }
            changes.push(PresenceChange::Leave { key, after, left });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(json: &str) -> Payload<'static> {
        Payload::raw_json(json.to_owned()).unwrap()
    }

    #[test]
    fn recorded_two_user_story() {
        // The order of the live presence transcript: alice's own diff, her
        // state, bob joins, bob updates his meta, bob leaves.
        let mut pr = Presence::new();
        pr.handle_message(
            "presence_diff",
            &p(r#"{"joins":{"alice":{"metas":[{"phx_ref":"A1","status":"online"}]}},"leaves":{}}"#),
        )
        .unwrap();
        assert!(pr.keys().next().is_none());
        pr.handle_message(
            "presence_state",
            &p(r#"{"alice":{"metas":[{"phx_ref":"A1","status":"online"}]}}"#),
        )
        .unwrap();
        assert_eq!(pr.keys().collect::<Vec<_>>(), ["alice"]);
        assert_eq!(pr.get("alice").unwrap().metas.len(), 1, "no duplicate meta");
        pr.handle_message(
            "presence_diff",
            &p(r#"{"joins":{"bob":{"metas":[{"phx_ref":"B1","status":"online"}]}},"leaves":{}}"#),
        )
        .unwrap();
        let changes = pr
            .handle_message(
                "presence_diff",
                &p(r#"{"joins":{"bob":{"metas":[{"phx_ref":"B2","phx_ref_prev":"B1","status":"away"}]}},"leaves":{"bob":{"metas":[{"phx_ref":"B1","status":"online"}]}}}"#),
            )
            .unwrap()
            .unwrap();
        assert_eq!(changes.len(), 2, "an update is a join and a leave");
        let bob = pr.get("bob").unwrap();
        assert_eq!(bob.metas.len(), 1);
        assert_eq!(bob.metas[0]["status"], "away");
        pr.handle_message(
            "presence_diff",
            &p(r#"{"joins":{},"leaves":{"bob":{"metas":[{"phx_ref":"B2"}]}}}"#),
        )
        .unwrap();
        assert_eq!(pr.keys().collect::<Vec<_>>(), ["alice"]);
        assert_eq!(pr.handle_message("other", &p("{}")).unwrap(), None);
    }

    #[test]
    fn a_new_state_yields_the_difference_and_reset_buffers_again() {
        let mut pr = Presence::new();
        pr.handle_message(
            "presence_state",
            &p(r#"{"a":{"metas":[{"phx_ref":"1"}]},"b":{"metas":[{"phx_ref":"2"}]}}"#),
        )
        .unwrap();
        pr.reset();
        let held = pr
            .handle_message(
                "presence_diff",
                &p(r#"{"joins":{"c":{"metas":[{"phx_ref":"4"}]}},"leaves":{}}"#),
            )
            .unwrap()
            .unwrap();
        assert!(held.is_empty());
        let changes = pr
            .handle_message("presence_state", &p(r#"{"b":{"metas":[{"phx_ref":"3"}]}}"#))
            .unwrap()
            .unwrap();
        // b gets a new meta and loses the old one, a leaves, c joins from the held diff.
        assert_eq!(pr.keys().collect::<Vec<_>>(), ["b", "c"]);
        assert_eq!(pr.get("b").unwrap().refs(), ["3"]);
        assert_eq!(changes.len(), 4);
    }

    #[test]
    fn malformed_presence_payloads_are_errors() {
        let mut pr = Presence::new();
        assert!(pr.handle_message("presence_state", &p("[1]")).is_err());
        assert!(
            pr.handle_message("presence_diff", &p(r#"{"joins":5}"#))
                .is_err()
        );
        assert!(
            pr.handle_message("presence_state", &Payload::binary([1u8]))
                .is_err()
        );
    }
}
