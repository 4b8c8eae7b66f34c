//! Server-side conformance: replays every transcript recorded from a live
//! Phoenix 1.7.21 server (`tests/transcripts/phoenix-1.7.21-live/*.jsonl`)
//! against the test server and compares the answers frame by frame.
//!
//! Normalised: presence `phx_ref`s and long-poll tokens (compared as a
//! consistent one-to-one renaming), `online_at` (any integer near now).
//! Timing: recorded silences are checked with a short window; the idle
//! timeout scenario runs with a 300 ms idle timeout instead of 60 s.
//!
//! Where Phoenix 1.8.12 differs from 1.7.21, the recorded expectation is
//! rewritten into the 1.8 behaviour by [`apply_1_8_exceptions`], which asserts
//! that each rewrite applied exactly where expected.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Client, Received, connect, hex, http};
use phoenix_test_server::{ServerConfig, TestServer};
use serde_json::{Value, json};

const LIVE_DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../transcripts/phoenix-1.7.21-live"
);
const SILENCE_MS: u64 = 150;

fn load(name: &str) -> Vec<Value> {
    let path = format!("{LIVE_DIR}/{name}.jsonl");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("jsonl line"))
        .collect()
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("")
}

// ----- 1.8 exceptions ---------------------------------------------------------

/// The payload of a text frame (V2 array or V1 object) and its event.
fn frame_event_payload(frame: &mut Value) -> Option<(String, &mut Value)> {
    if frame.is_array() {
        let event = frame[3].as_str()?.to_owned();
        Some((event, &mut frame[4]))
    } else if frame.is_object() {
        let event = frame["event"].as_str()?.to_owned();
        Some((event, &mut frame["payload"]))
    } else {
        None
    }
}

/// Replaces the recorded reply (ref `msg_ref`) on `conn` by an expectation of
/// silence: Phoenix 1.8 drops messages with a stale join_ref.
fn drop_reply(lines: &mut [Value], conn: &str, msg_ref: &str) -> bool {
    for line in lines.iter_mut() {
        if s(line, "dir") == "in" && s(line, "conn") == conn && s(line, "type") == "text" {
            let frame: Value = serde_json::from_str(s(line, "frame")).unwrap();
            if frame[1] == json!(msg_ref) && frame[3] == json!("phx_reply") {
                *line = json!({"dir": "meta", "conn": conn, "event": "expect_silence", "ms": 300});
                return true;
            }
        }
    }
    false
}

/// Rewrites the 1.7.21 recording into the Phoenix 1.8.12 behaviour this server
/// implements, asserting every rewrite:
///
/// * `phx_error` payload `{}` → `{"reason":"channel_crash"}` (1.8.10);
/// * socket-id disconnect close code 1011 (Bandit 1.5.7) → 1001 (1.8.8);
/// * a push with a stale join_ref gets no reply (1.8.3).
fn apply_1_8_exceptions(name: &str, lines: &mut [Value]) {
    let mut phx_errors = 0;
    for line in lines.iter_mut() {
        if s(line, "dir") != "in" || s(line, "type") != "text" {
            continue;
        }
        let mut frame: Value = serde_json::from_str(s(line, "frame")).unwrap();
        if let Some((event, payload)) = frame_event_payload(&mut frame) {
            if event == "phx_error" && *payload == json!({}) {
                *payload = json!({"reason": "channel_crash"});
                phx_errors += 1;
                line["frame"] = Value::String(frame.to_string());
            }
        }
    }
    let expected_phx_errors = match name {
        "channel_crash" => 2,
        "v1_connect" => 1,
        _ => 0,
    };
    assert_eq!(
        phx_errors, expected_phx_errors,
        "{name}: phx_error payload rewrites"
    );

    match name {
        "server_disconnect" => {
            let close = lines
                .iter_mut()
                .find(|l| s(l, "event") == "close" && s(l, "conn") == "A")
                .expect("close line of A");
            assert_eq!(
                close["code"],
                json!(1011),
                "recorded 1.7.21/Bandit close code"
            );
            close["code"] = json!(1001);
        }
        "stale_join_ref" => {
            // ["1","4",...] (old join_ref) and ["bogus","5",...] are dropped; [null,"6",...] passes.
            assert!(drop_reply(lines, "A", "4"), "stale join_ref '1' reply");
            assert!(drop_reply(lines, "A", "5"), "bogus join_ref reply");
        }
        "duplicate_join" => {
            // The push with the OLD join_ref '1' after the duplicate join is dropped.
            assert!(drop_reply(lines, "A", "3"), "old join_ref reply");
        }
        _ => {}
    }
}

// ----- comparison with normalisation ------------------------------------------

/// Consistent renaming of values that differ from run to run.
#[derive(Default)]
struct Renames {
    forward: BTreeMap<String, String>,
    backward: BTreeMap<String, String>,
}

impl Renames {
    fn check(&mut self, expected: &str, actual: &str) -> Result<(), String> {
        match (self.forward.get(expected), self.backward.get(actual)) {
            (None, None) => {
                self.forward.insert(expected.to_owned(), actual.to_owned());
                self.backward.insert(actual.to_owned(), expected.to_owned());
                Ok(())
            }
            (Some(a), Some(e)) if a == actual && e == expected => Ok(()),
            _ => Err(format!("inconsistent renaming {expected:?} -> {actual:?}")),
        }
    }
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn compare(
    expected: &Value,
    actual: &Value,
    renames: &mut Renames,
    path: &str,
) -> Result<(), String> {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            let mut ek: Vec<&String> = e.keys().collect();
            let mut ak: Vec<&String> = a.keys().collect();
            ek.sort();
            ak.sort();
            if ek != ak {
                return Err(format!("{path}: keys {ek:?} != {ak:?}"));
            }
            for (k, ev) in e {
                let av = &a[k];
                let p = format!("{path}.{k}");
                match k.as_str() {
                    "phx_ref" | "phx_ref_prev" | "token" => match (ev.as_str(), av.as_str()) {
                        (Some(x), Some(y)) => {
                            renames.check(x, y).map_err(|m| format!("{p}: {m}"))?
                        }
                        _ => return Err(format!("{p}: expected strings, got {ev} / {av}")),
                    },
                    "online_at" => {
                        let v = av
                            .as_i64()
                            .ok_or_else(|| format!("{p}: not an integer: {av}"))?;
                        if (v - now_secs()).abs() > 120 {
                            return Err(format!("{p}: {v} is not close to now"));
                        }
                    }
                    _ => compare(ev, av, renames, &p)?,
                }
            }
            Ok(())
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                return Err(format!("{path}: array length {} != {}", e.len(), a.len()));
            }
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                compare(ev, av, renames, &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        _ if expected == actual => Ok(()),
        _ => Err(format!("{path}: expected {expected}, got {actual}")),
    }
}

/// A long-poll body with each `messages` string parsed as JSON.
fn lp_body(body: &str) -> Value {
    let mut v: Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("long-poll body {body:?}: {e}"));
    if let Some(Value::Array(msgs)) = v.get_mut("messages") {
        for m in msgs.iter_mut() {
            *m = serde_json::from_str(m.as_str().expect("message string")).expect("message JSON");
        }
    }
    v
}

// ----- the replayer -------------------------------------------------------------

struct Replay {
    name: String,
    server: TestServer,
    recorded_addr: &'static str,
    pending_url: BTreeMap<String, String>,
    clients: BTreeMap<String, Client>,
    client_closed: BTreeMap<String, bool>,
    renames: Renames,
    /// Long-poll: the response of the last request, waiting for its `in` line.
    lp_last: Option<(String, String, common::HttpResponse)>,
}

impl Replay {
    fn url(&self, recorded: &str) -> String {
        let mut url = recorded.replace(self.recorded_addr, &self.server.addr().to_string());
        for (e, a) in &self.renames.forward {
            url = url.replace(e.as_str(), a);
        }
        url
    }

    fn target(url: &str) -> String {
        let after_scheme = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
        after_scheme
            .find('/')
            .map(|i| after_scheme[i..].to_owned())
            .unwrap_or_else(|| "/".to_owned())
    }

    fn client(&mut self, conn: &str) -> &mut Client {
        let name = self.name.clone();
        self.clients
            .get_mut(conn)
            .unwrap_or_else(|| panic!("{name}: no open connection {conn}"))
    }

    async fn step(&mut self, i: usize, line: &Value) {
        let name = self.name.clone();
        let conn = s(line, "conn").to_owned();
        let ctx = format!("{name} line {}", i + 1);
        match (s(line, "dir"), s(line, "event"), s(line, "type")) {
            ("meta", "connect", _) => {
                let url = self.url(s(line, "url"));
                self.pending_url.insert(conn, url);
            }
            ("meta", "http_response", _) => self.http_response(&ctx, &conn, line).await,
            ("meta", "client_close", _) => {
                let mut c = self
                    .clients
                    .remove(&conn)
                    .unwrap_or_else(|| panic!("{ctx}: no client {conn}"));
                match c.close().await {
                    Received::Close(code) => assert_eq!(code, Some(1000), "{ctx}: close reply"),
                    other => panic!("{ctx}: expected the close reply, got {other:?}"),
                }
                self.client_closed.insert(conn, true);
            }
            ("meta", "close", _) => {
                if self.client_closed.get(&conn).copied().unwrap_or(false) {
                    return; // already checked with client_close
                }
                let code = line["code"].as_u64().unwrap() as u16;
                let mut c = self
                    .clients
                    .remove(&conn)
                    .unwrap_or_else(|| panic!("{ctx}: no client {conn}"));
                match c.recv().await {
                    Received::Close(got) => assert_eq!(got, Some(code), "{ctx}: close code"),
                    other => panic!("{ctx}: expected close {code}, got {other:?}"),
                }
                let _ = c.recv_within(Duration::from_millis(500)).await;
            }
            ("meta", "silence", _) => {
                for (_, c) in self.clients.iter_mut() {
                    match c.recv_within(Duration::from_millis(SILENCE_MS)).await {
                        Received::Timeout => {}
                        other => panic!("{ctx}: expected silence, got {other:?}"),
                    }
                }
            }
            ("meta", "wait_timeout" | "expect_silence", _) => {
                let ms = line["ms"].as_u64().unwrap_or(300).min(300);
                match self
                    .client(&conn)
                    .recv_within(Duration::from_millis(ms))
                    .await
                {
                    Received::Timeout => {}
                    other => panic!("{ctx}: expected silence, got {other:?}"),
                }
            }
            ("meta", _, _) => {} // scenario, open, note
            ("out", _, "text") => {
                let f = s(line, "frame").to_owned();
                self.client(&conn).send_text(&f).await;
            }
            ("out", _, "binary") => {
                let f = hex(s(line, "frame"));
                self.client(&conn).send_binary(&f).await;
            }
            ("in", _, "text") => {
                let expected: Value = serde_json::from_str(s(line, "frame")).unwrap();
                let got = self.client(&conn).recv().await;
                let Received::Text(t) = got else {
                    panic!("{ctx}: expected text {expected}, got {got:?}");
                };
                let actual: Value =
                    serde_json::from_str(&t).unwrap_or_else(|e| panic!("{ctx}: bad JSON {t}: {e}"));
                if let Err(m) = compare(&expected, &actual, &mut self.renames, "frame") {
                    panic!("{ctx}: {m}\n expected {expected}\n actual   {actual}");
                }
            }
            ("in", _, "binary") => {
                let expected = hex(s(line, "frame"));
                let got = self.client(&conn).recv().await;
                assert_eq!(got, Received::Binary(expected), "{ctx}");
            }
            ("out", _, "http") => self.lp_request(line).await,
            ("in", _, "http") => self.lp_response(&ctx, line).await,
            other => panic!("{ctx}: unknown line kind {other:?}"),
        }
    }

    async fn http_response(&mut self, ctx: &str, conn: &str, line: &Value) {
        let status = line["status"].as_u64().unwrap() as u16;
        if let Some(url) = self.pending_url.remove(conn) {
            match connect(&url).await {
                Ok(client) => {
                    assert_eq!(
                        status, 101,
                        "{ctx}: connected but the recording got {status}"
                    );
                    self.clients.insert(conn.to_owned(), client);
                }
                Err(got) => assert_eq!(got, status, "{ctx}: upgrade status"),
            }
            return;
        }
        // A plain HTTP probe described by its note, e.g.
        // "GET /socket/longpoll?vsn=2.0.0&reject=true" or
        // "plain GET (no Upgrade) /socket/websocket?vsn=2.0.0".
        let note = s(line, "note");
        let target = note
            .split(' ')
            .find(|w| w.starts_with('/'))
            .unwrap_or_else(|| panic!("{ctx}: no path in {note:?}"));
        let resp = http(self.server.addr(), "GET", target, &[], b"").await;
        assert_eq!(resp.status, status, "{ctx}: HTTP status of {note}");
        let body = s(line, "body");
        if body.starts_with('{') {
            let expected: Value = serde_json::from_str(body).unwrap();
            compare(&expected, &resp.json(), &mut self.renames, "body")
                .unwrap_or_else(|m| panic!("{ctx}: {m}"));
        }
    }

    async fn lp_request(&mut self, line: &Value) {
        let url = self.url(s(line, "url"));
        let target = Self::target(&url);
        let method = s(line, "method").to_owned();
        let body = line["frame"].as_str().unwrap_or("").to_owned();
        let ct = line["content_type"].as_str().map(str::to_owned);
        let mut headers = vec![];
        if let Some(ct) = &ct {
            headers.push(("Content-Type", ct.as_str()));
        }
        let resp = http(
            self.server.addr(),
            &method,
            &target,
            &headers,
            body.as_bytes(),
        )
        .await;
        self.lp_last = Some((method, target, resp));
    }

    async fn lp_response(&mut self, ctx: &str, line: &Value) {
        let (method, target, resp) = self
            .lp_last
            .take()
            .unwrap_or_else(|| panic!("{ctx}: no request"));
        assert_eq!(
            resp.status,
            line["status"].as_u64().unwrap() as u16,
            "{ctx}: HTTP status"
        );
        let expected = lp_body(s(line, "frame"));
        let mut actual = lp_body(&resp.body);
        // Messages may be spread over several polls: keep polling until the
        // recorded batch is complete.
        let want = expected["messages"].as_array().map_or(0, Vec::len);
        let mut tries = 0;
        while method == "GET"
            && actual["status"] == json!(200)
            && actual["messages"].as_array().map_or(0, Vec::len) < want
        {
            tries += 1;
            assert!(tries < 10, "{ctx}: messages never completed: {actual}");
            let more = lp_body(
                &http(self.server.addr(), "GET", &target, &[], b"")
                    .await
                    .body,
            );
            let extra = more["messages"].as_array().cloned().unwrap_or_default();
            actual["messages"].as_array_mut().unwrap().extend(extra);
        }
        if let Err(m) = compare(&expected, &actual, &mut self.renames, "body") {
            panic!("{ctx}: {m}\n expected {expected}\n actual   {actual}");
        }
    }
}

async fn replay(name: &str) {
    let mut lines = load(name);
    assert_eq!(s(&lines[0], "event"), "scenario", "{name}: first line");
    apply_1_8_exceptions(name, &mut lines);
    let mut config = ServerConfig::default();
    if name == "idle_timeout" {
        config.idle_timeout = Duration::from_millis(300);
    }
    let server = TestServer::start_with(config).await.expect("start");
    let mut r = Replay {
        name: name.to_owned(),
        server,
        recorded_addr: "127.0.0.1:4000",
        pending_url: BTreeMap::new(),
        clients: BTreeMap::new(),
        client_closed: BTreeMap::new(),
        renames: Renames::default(),
        lp_last: None,
    };
    for (i, line) in lines.iter().enumerate() {
        r.step(i, line).await;
    }
    // Nothing unexpected may follow on connections still open.
    for (conn, c) in r.clients.iter_mut() {
        match c.recv_within(Duration::from_millis(SILENCE_MS)).await {
            Received::Timeout => {}
            other => panic!("{name}: extra frame on {conn}: {other:?}"),
        }
    }
    r.server.shutdown().await;
}

macro_rules! transcripts {
    ($($name:ident),* $(,)?) => {
        const ALL: &[&str] = &[$(stringify!($name)),*];
        $(
            #[tokio::test]
            async fn $name() {
                replay(stringify!($name)).await;
            }
        )*
    };
}

transcripts!(
    binary,
    broadcast,
    channel_crash,
    connect_rejected,
    crash_on_join,
    duplicate_join,
    heartbeat,
    idle_timeout,
    join_error,
    join_ok,
    join_unmatched_topic,
    leave,
    longpoll,
    malformed_frame,
    presence,
    push_error,
    push_noreply,
    push_ok,
    push_unjoined,
    server_disconnect,
    server_push,
    server_stop,
    sleep_timeout,
    stale_join_ref,
    stop_reply,
    v1_connect,
);

/// Every recorded transcript has a test above.
#[test]
fn every_transcript_is_replayed() {
    let mut names: Vec<String> = std::fs::read_dir(LIVE_DIR)
        .expect("transcript dir")
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_suffix(".jsonl"))
                .map(str::to_owned)
        })
        .collect();
    names.sort();
    let mut all: Vec<String> = ALL.iter().map(|s| (*s).to_owned()).collect();
    all.sort();
    assert_eq!(names, all);
}
