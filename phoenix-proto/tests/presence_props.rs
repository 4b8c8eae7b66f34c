//! Presence as a property: whatever the server does (keys joining with one
//! or more metas, metas updated by a join of the new `phx_ref` with a leave
//! of the old one, metas and keys leaving), a client that receives it as a
//! state followed by diffs ends with the same list as a client that only
//! receives the final state; and diffs that arrive before the state are
//! held and give the same result.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use std::collections::BTreeMap;

use phoenix_proto::codec::Payload;
use phoenix_proto::presence::Presence;
use proptest::prelude::*;
use serde_json::{Value, json};

/// What the server does, one step at a time.
#[derive(Debug, Clone)]
enum Op {
    /// A new meta (a new connection or device) for a key.
    Join { key: u8 },
    /// The key's meta number `meta` is updated (new phx_ref, new value).
    Update { key: u8, meta: u8 },
    /// The key's meta number `meta` leaves.
    Leave { key: u8, meta: u8 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..4).prop_map(|key| Op::Join { key }),
        (0u8..4, 0u8..3).prop_map(|(key, meta)| Op::Update { key, meta }),
        (0u8..4, 0u8..3).prop_map(|(key, meta)| Op::Leave { key, meta }),
    ]
}

/// The server's view: key -> metas, and the diffs it sends.
#[derive(Default)]
struct Server {
    state: BTreeMap<String, Vec<Value>>,
    next_ref: u32,
}

impl Server {
    fn meta(&mut self, value: u32) -> Value {
        self.next_ref += 1;
        json!({"phx_ref": format!("r{}", self.next_ref), "v": value})
    }

    /// Applies `op` and returns the diff it sends, if any.
    fn apply(&mut self, op: &Op) -> Option<Value> {
        match *op {
            Op::Join { key } => {
                let key = format!("k{key}");
                let meta = self.meta(0);
                self.state
                    .entry(key.clone())
                    .or_default()
                    .push(meta.clone());
                Some(json!({"joins": {key: {"metas": [meta]}}, "leaves": {}}))
            }
            Op::Update { key, meta } => {
                let key = format!("k{key}");
                let count = self.state.get(&key).map_or(0, Vec::len);
                if count == 0 {
                    return None;
                }
                let index = usize::from(meta) % count;
                let new = self.meta(u32::from(meta) + 1);
                let metas = self.state.get_mut(&key).unwrap();
                let old = std::mem::replace(&mut metas[index], new.clone());
                Some(json!({
                    "joins": {key.clone(): {"metas": [new]}},
                    "leaves": {key: {"metas": [old]}}
                }))
            }
            Op::Leave { key, meta } => {
                let key = format!("k{key}");
                let count = self.state.get(&key).map_or(0, Vec::len);
                if count == 0 {
                    return None;
                }
                let index = usize::from(meta) % count;
                let metas = self.state.get_mut(&key).unwrap();
                let old = metas.remove(index);
                if metas.is_empty() {
                    self.state.remove(&key);
                }
                Some(json!({"joins": {}, "leaves": {key: {"metas": [old]}}}))
            }
        }
    }

    fn state_payload(&self) -> Payload<'static> {
        let state: BTreeMap<&String, Value> = self
            .state
            .iter()
            .map(|(k, metas)| (k, json!({"metas": metas})))
            .collect();
        Payload::json(&state).unwrap()
    }
}

/// A list as key -> phx_refs, sorted, to compare.
fn refs(presence: &Presence) -> BTreeMap<String, Vec<String>> {
    presence
        .list()
        .map(|(key, entry)| {
            let mut refs: Vec<String> = entry
                .metas
                .iter()
                .map(|m| m["phx_ref"].as_str().unwrap().to_owned())
                .collect();
            refs.sort();
            (key.to_owned(), refs)
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn diffs_after_a_state_end_where_the_final_state_is(
        before in prop::collection::vec(op(), 0..12),
        after in prop::collection::vec(op(), 0..24),
        early in 0usize..4,
    ) {
        let mut server = Server::default();
        for op in &before {
            server.apply(op);
        }
        let first_state = server.state_payload();
        let diffs: Vec<Value> = after.iter().filter_map(|op| server.apply(op)).collect();

        // One client gets the state then every diff; another gets the
        // first few diffs before the state (they must be held).
        let mut in_order = Presence::new();
        in_order.handle_message("presence_state", &first_state).unwrap();
        let mut held = Presence::new();
        let early = early.min(diffs.len());
        for diff in &diffs[..early] {
            let payload = Payload::json(diff).unwrap();
            held.handle_message("presence_diff", &payload).unwrap();
        }
        // The early diffs were sent after this state, so a state from
        // before them plus those diffs is what the server had.
        held.handle_message("presence_state", &first_state).unwrap();
        for (i, diff) in diffs.iter().enumerate() {
            let payload = Payload::json(diff).unwrap();
            in_order.handle_message("presence_diff", &payload).unwrap();
            if i >= early {
                held.handle_message("presence_diff", &payload).unwrap();
            }
        }

        let mut fresh = Presence::new();
        fresh.handle_message("presence_state", &server.state_payload()).unwrap();
        prop_assert_eq!(refs(&in_order), refs(&fresh));
        prop_assert_eq!(refs(&held), refs(&fresh));
    }
}

/// The Phoenix 1.8 modules recording (S19): what connection A receives,
/// applied to a presence list, follows bob joining, updating his meta (a
/// join of the new `phx_ref` with a leave of the old), leaving, rejoining
/// and being disconnected.
#[test]
fn the_phoenix_1_8_presence_recording_through_the_list() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/transcripts/phoenix-1.8-modules/server_presence_v1.txt"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let section = text
        .split("=== ")
        .find(|s| s.starts_with("S19"))
        .expect("section S19");
    let mut presence = Presence::new();
    let mut seen = Vec::new();
    for line in section.lines() {
        let Some(frame) = line.strip_prefix("A S->C ") else {
            continue;
        };
        let frame: Value = serde_json::from_str(frame).unwrap();
        let event = frame[3].as_str().unwrap();
        let payload = Payload::json(&frame[4]).unwrap();
        if presence.handle_message(event, &payload).unwrap().is_some() && presence.is_synced() {
            let list: Vec<(String, Vec<String>)> = presence
                .list()
                .map(|(key, entry)| {
                    let statuses = entry
                        .metas
                        .iter()
                        .map(|m| m["status"].as_str().unwrap().to_owned())
                        .collect();
                    (key.to_owned(), statuses)
                })
                .collect();
            seen.push(list);
        }
    }
    let alice = || ("alice".to_owned(), vec!["online".to_owned()]);
    let bob = |status: &str| ("bob".to_owned(), vec![status.to_owned()]);
    assert_eq!(
        seen,
        [
            vec![alice()],                // the state (the own diff was held)
            vec![alice(), bob("online")], // bob joins
            vec![alice(), bob("away")],   // bob's meta update: one meta
            vec![alice()],                // bob leaves
            vec![alice(), bob("online")], // bob rejoins
            vec![alice()],                // bob's socket is disconnected
        ]
    );
}
