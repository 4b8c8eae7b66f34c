//! Test vectors from the recorded transcripts in `tests/transcripts/`.
//!
//! * Every server-to-client frame decodes, and decodes to what an
//!   independent `serde_json::Value` parse (text) or the recorder's
//!   `decoded` view / a reference parser (binary) says.
//! * Every valid client-to-server frame decodes the same way and is
//!   reproduced byte for byte by the encoder from its decoded parts.
//! * Every server frame recorded from a real Phoenix server is reproduced
//!   byte for byte by the server-side encoder.
//! * The deliberately invalid client frames give the typed error a server
//!   would act on.
//!
//! Frames are counted and the counts asserted non-zero, so a parser that
//! silently finds nothing fails the test.

// Test code: helpers panic on malformed transcripts and index freely.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use phoenix_proto::codec::{
    DecodeError, Field, Message, PHX_REPLY, Payload, ServerFrame, WireMessage,
    decode_client_binary, decode_client_text, decode_client_v1, decode_server_binary,
    decode_server_text, decode_server_v1, encode_client_binary, encode_client_v1,
    encode_message_text, encode_server_frame, encode_server_v1,
};
use serde_json::Value;

const LIVE_DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/transcripts/phoenix-1.7.21-live"
);
const MODULES_DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/transcripts/phoenix-1.8-modules"
);

// ---------------------------------------------------------------------------
// An independent view of a frame, to compare the codec against.

#[derive(Debug, Clone, PartialEq)]
enum Body {
    Json(Value),
    Binary(Vec<u8>),
    Reply { status: String, response: Box<Body> },
}

#[derive(Debug, Clone, PartialEq)]
struct View {
    join_ref: Option<String>,
    msg_ref: Option<String>,
    topic: String,
    event: String,
    body: Body,
}

fn payload_body(payload: &Payload<'_>) -> Body {
    match payload {
        Payload::Json(_) => Body::Json(
            payload
                .deserialize::<Value>()
                .expect("a decoded JSON payload deserializes into a Value"),
        ),
        Payload::Binary(bytes) => Body::Binary(bytes.to_vec()),
    }
}

fn message_view(m: &Message<'_>) -> View {
    View {
        join_ref: m.join_ref.as_deref().map(str::to_owned),
        msg_ref: m.msg_ref.as_deref().map(str::to_owned),
        topic: m.topic.to_string(),
        event: m.event.to_string(),
        body: payload_body(&m.payload),
    }
}

fn server_view(frame: &ServerFrame<'_>) -> View {
    match frame {
        ServerFrame::Message(m) => {
            assert_ne!(m.event, PHX_REPLY, "a phx_reply decoded as a message");
            message_view(m)
        }
        ServerFrame::Reply(r) => View {
            join_ref: r.join_ref.as_deref().map(str::to_owned),
            msg_ref: r.msg_ref.as_deref().map(str::to_owned),
            topic: r.topic.to_string(),
            event: PHX_REPLY.to_owned(),
            body: Body::Reply {
                status: r.status.to_string(),
                response: Box::new(payload_body(&r.response)),
            },
        },
    }
}

/// A ref as the server sees it: null, a string, or an integer (kept as its
/// decimal text).
fn value_ref(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        other => panic!("not a ref: {other}"),
    }
}

fn value_str(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .to_owned()
}

/// For server frames, a `phx_reply` payload is split into status and response.
fn value_body(event: &str, payload: &Value, server: bool) -> Body {
    if server && event == PHX_REPLY {
        Body::Reply {
            status: value_str(&payload["status"]),
            response: Box::new(Body::Json(payload["response"].clone())),
        }
    } else {
        Body::Json(payload.clone())
    }
}

/// The view of a v2 text frame, from a plain `serde_json::Value` parse.
fn v2_value_view(text: &str, server: bool) -> View {
    let v: Value = serde_json::from_str(text).expect("transcript frame is JSON");
    let items = v.as_array().expect("a v2 frame is an array");
    assert!(items.len() >= 5, "a v2 frame has five elements: {text}");
    let event = value_str(&items[3]);
    View {
        join_ref: value_ref(&items[0]),
        msg_ref: value_ref(&items[1]),
        topic: value_str(&items[2]),
        body: value_body(&event, &items[4], server),
        event,
    }
}

/// The view of a v1 object frame, from a plain `serde_json::Value` parse.
fn v1_value_view(text: &str, server: bool) -> View {
    let v: Value = serde_json::from_str(text).expect("transcript frame is JSON");
    let obj = v.as_object().expect("a v1 frame is an object");
    let event = value_str(&obj["event"]);
    View {
        join_ref: obj.get("join_ref").and_then(value_ref),
        msg_ref: value_ref(&obj["ref"]),
        topic: value_str(&obj["topic"]),
        body: value_body(&event, &obj["payload"], server),
        event,
    }
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

/// The view of a binary frame from the recorder's `decoded` field.
fn decoded_view(decoded: &Value) -> View {
    let kind = decoded["kind"].as_str().expect("decoded.kind");
    let s = |k: &str| decoded[k].as_str().unwrap_or("").to_owned();
    let payload = hex(&s("payload_hex"));
    if kind.starts_with("reply(1)") {
        View {
            join_ref: non_empty(&s("join_ref")),
            msg_ref: non_empty(&s("ref")),
            topic: s("topic"),
            event: PHX_REPLY.to_owned(),
            body: Body::Reply {
                status: s("status"),
                response: Box::new(Body::Binary(payload)),
            },
        }
    } else if kind.starts_with("push(0) client") {
        View {
            join_ref: non_empty(&s("join_ref")),
            msg_ref: non_empty(&s("ref")),
            topic: s("topic"),
            event: s("event"),
            body: Body::Binary(payload),
        }
    } else if kind.starts_with("push(0) server") {
        View {
            join_ref: non_empty(&s("join_ref")),
            msg_ref: None,
            topic: s("topic"),
            event: s("event"),
            body: Body::Binary(payload),
        }
    } else if kind.starts_with("broadcast(2)") {
        View {
            join_ref: None,
            msg_ref: None,
            topic: s("topic"),
            event: s("event"),
            body: Body::Binary(payload),
        }
    } else {
        panic!("unknown decoded kind {kind}")
    }
}

/// A deliberately plain reference reader for binary frames (phoenix-proto/PROTOCOL.md 4.1),
/// used where the transcript has no `decoded` view.
fn reference_binary_view(bytes: &[u8], client: bool) -> View {
    let kind = bytes[0];
    let n = match (kind, client) {
        (0, true) | (1, false) => 4,
        (0, false) => 3,
        (2, false) => 2,
        _ => panic!("no layout for kind {kind} (client: {client})"),
    };
    let mut fields = Vec::new();
    let mut at = 1 + n;
    for i in 0..n {
        let len = usize::from(bytes[1 + i]);
        fields.push(String::from_utf8(bytes[at..at + len].to_vec()).unwrap());
        at += len;
    }
    let payload = bytes[at..].to_vec();
    match (kind, client) {
        (0, true) => View {
            join_ref: non_empty(&fields[0]),
            msg_ref: non_empty(&fields[1]),
            topic: fields[2].clone(),
            event: fields[3].clone(),
            body: Body::Binary(payload),
        },
        (0, false) => View {
            join_ref: non_empty(&fields[0]),
            msg_ref: None,
            topic: fields[1].clone(),
            event: fields[2].clone(),
            body: Body::Binary(payload),
        },
        (1, false) => View {
            join_ref: non_empty(&fields[0]),
            msg_ref: non_empty(&fields[1]),
            topic: fields[2].clone(),
            event: PHX_REPLY.to_owned(),
            body: Body::Reply {
                status: fields[3].clone(),
                response: Box::new(Body::Binary(payload)),
            },
        },
        _ => View {
            join_ref: None,
            msg_ref: None,
            topic: fields[0].clone(),
            event: fields[1].clone(),
            body: Body::Binary(payload),
        },
    }
}

fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    assert!(digits.len() % 2 == 0, "odd hex length: {s}");
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

// ---------------------------------------------------------------------------
// Expectations for the frames that are not plain valid frames.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Vsn {
    V1,
    V2,
}

/// The error a server's decoder must give for a deliberately invalid frame.
enum Invalid {
    /// Any JSON syntax error.
    Json,
    /// Exactly this error.
    Is(DecodeError),
}

/// The deliberately invalid client text frames, by protocol version and text.
fn invalid_text(vsn: Vsn, frame: &str) -> Option<Invalid> {
    Some(match (vsn, frame) {
        (_, "this is not json" | "not json") => Invalid::Json,
        (Vsn::V2, r#"{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"1"}"#)
        | (Vsn::V2, r#"{"topic":"x"}"#) => {
            Invalid::Is(DecodeError::NotAnArray { found: "an object" })
        }
        (Vsn::V2, r#"[null,"1","phoenix","heartbeat"]"#) => {
            Invalid::Is(DecodeError::TooFewElements { found: 4 })
        }
        (Vsn::V2, r#"["1","2","t"]"#) => Invalid::Is(DecodeError::TooFewElements { found: 3 }),
        (Vsn::V1, r#"["1","1","echo:1","phx_join",{}]"#) => {
            Invalid::Is(DecodeError::NotAnObject { found: "an array" })
        }
        (Vsn::V1, r#"{"topic":"room:v1","event":"ping","payload":{}}"#) => {
            Invalid::Is(DecodeError::MissingField { field: Field::Ref })
        }
        _ => return None,
    })
}

/// The deliberately invalid client binary frames, by hex (no spaces, lower case).
fn invalid_binary(hex_frame: &str) -> Option<DecodeError> {
    match hex_frame {
        "00050505" => Some(DecodeError::TruncatedBinary {
            kind: 0,
            needed: 5,
            available: 4,
        }),
        "07010203" => Some(DecodeError::UnknownBinaryKind { kind: 7 }),
        "0100000000" => Some(DecodeError::UnknownBinaryKind { kind: 1 }),
        _ => None,
    }
}

/// Valid frames the encoder cannot reproduce byte for byte because they
/// carry something the typed model normalizes (integer refs, extra array
/// elements); the value is what the encoder must write instead.
fn canonical_form(frame: &str) -> Option<&'static str> {
    match frame {
        r#"[1,1,"echo:1","phx_join",{}]"# => Some(r#"["1","1","echo:1","phx_join",{}]"#),
        r#"[1,1,"echo:1","phx_reply",{"response":{"joined":"echo:1"},"status":"ok"}]"# => {
            Some(r#"["1","1","echo:1","phx_reply",{"response":{"joined":"echo:1"},"status":"ok"}]"#)
        }
        r#"[null,"1","phoenix","heartbeat",{},"extra",6]"# => {
            Some(r#"[null,"1","phoenix","heartbeat",{}]"#)
        }
        r#"["3","3","room:x","phx_join",{},"extra"]"# => {
            Some(r#"["3","3","room:x","phx_join",{}]"#)
        }
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// The checks, collecting failures instead of stopping at the first.

#[derive(Debug, Default)]
struct Counts {
    server_text_v2: usize,
    server_text_v1: usize,
    server_binary: usize,
    server_reencoded_exactly: usize,
    client_text_v2: usize,
    client_text_v1: usize,
    client_binary: usize,
    canonicalized: usize,
    invalid: usize,
    longpoll_server: usize,
    longpoll_client: usize,
}

#[derive(Default)]
struct Checker {
    counts: Counts,
    failures: Vec<String>,
    canonical_seen: Vec<String>,
}

impl Checker {
    fn fail(&mut self, at: &str, what: String) {
        self.failures.push(format!("{at}: {what}"));
    }

    fn compare(&mut self, at: &str, actual: &View, expected: &View) {
        if actual != expected {
            self.fail(
                at,
                format!("decoded {actual:?}\n     but transcript says {expected:?}"),
            );
        }
    }

    /// A server text frame. `exact` asks for a byte-exact re-encoding (the
    /// frame was printed by a real Phoenix serializer).
    fn server_text(&mut self, at: &str, vsn: Vsn, frame: &str, exact: bool) {
        let decoded = match vsn {
            Vsn::V2 => decode_server_text(frame),
            Vsn::V1 => decode_server_v1(frame),
        };
        let decoded = match decoded {
            Ok(d) => d,
            Err(e) => return self.fail(at, format!("server frame did not decode: {e} ({frame})")),
        };
        let expected = match vsn {
            Vsn::V2 => v2_value_view(frame, true),
            Vsn::V1 => v1_value_view(frame, true),
        };
        self.compare(at, &server_view(&decoded), &expected);
        let reencoded = match vsn {
            Vsn::V2 => encode_server_frame(&decoded).map(|w| match w {
                WireMessage::Text(t) => t,
                WireMessage::Binary(_) => String::from("<binary>"),
            }),
            Vsn::V1 => encode_server_v1(&decoded),
        };
        match reencoded {
            Ok(text) => {
                let again = match vsn {
                    Vsn::V2 => decode_server_text(&text),
                    Vsn::V1 => decode_server_v1(&text),
                };
                if again.as_ref().ok() != Some(&decoded) {
                    self.fail(at, format!("re-encoded {text} decodes to {again:?}"));
                }
                if exact {
                    let want = canonical_form(frame).unwrap_or(frame);
                    if want != frame {
                        self.canonical_seen.push(frame.to_owned());
                    }
                    if text == want {
                        self.counts.server_reencoded_exactly += 1;
                    } else {
                        self.fail(at, format!("re-encoded\n     {text}\n  != {want}"));
                    }
                }
            }
            Err(e) => self.fail(at, format!("re-encoding failed: {e}")),
        }
        match vsn {
            Vsn::V2 => self.counts.server_text_v2 += 1,
            Vsn::V1 => self.counts.server_text_v1 += 1,
        }
    }

    fn server_binary(&mut self, at: &str, bytes: &[u8], expected: &View) {
        let decoded = match decode_server_binary(bytes) {
            Ok(d) => d,
            Err(e) => return self.fail(at, format!("server binary did not decode: {e}")),
        };
        self.compare(at, &server_view(&decoded), expected);
        match encode_server_frame(&decoded) {
            Ok(WireMessage::Binary(b)) if b == bytes => self.counts.server_reencoded_exactly += 1,
            other => self.fail(at, format!("re-encoded binary differs: {other:?}")),
        }
        self.counts.server_binary += 1;
    }

    fn client_text(&mut self, at: &str, vsn: Vsn, frame: &str) {
        if let Some(invalid) = invalid_text(vsn, frame) {
            let result = match vsn {
                Vsn::V2 => decode_client_text(frame).map(|_| ()),
                Vsn::V1 => decode_client_v1(frame).map(|_| ()),
            };
            let ok = match (&invalid, &result) {
                (Invalid::Json, Err(DecodeError::Json { .. })) => true,
                (Invalid::Is(want), Err(got)) => want == got,
                _ => false,
            };
            if !ok {
                self.fail(at, format!("invalid frame {frame} gave {result:?}"));
            }
            self.counts.invalid += 1;
            return;
        }
        let (decoded, expected) = match vsn {
            Vsn::V2 => (decode_client_text(frame), v2_value_view(frame, false)),
            Vsn::V1 => (decode_client_v1(frame), v1_value_view(frame, false)),
        };
        let message = match decoded {
            Ok(m) => m,
            Err(e) => return self.fail(at, format!("client frame did not decode: {e} ({frame})")),
        };
        self.compare(at, &message_view(&message), &expected);
        let encoded = match vsn {
            Vsn::V2 => encode_message_text(&message),
            Vsn::V1 => encode_client_v1(&message),
        };
        let want = canonical_form(frame).unwrap_or(frame);
        if want != frame {
            self.canonical_seen.push(frame.to_owned());
            self.counts.canonicalized += 1;
        }
        match encoded {
            Ok(text) if text == want => {}
            other => self.fail(at, format!("encoded {other:?}\n  expected {want}")),
        }
        match vsn {
            Vsn::V2 => self.counts.client_text_v2 += 1,
            Vsn::V1 => self.counts.client_text_v1 += 1,
        }
    }

    /// A client binary frame; `expected` is `None` where the transcript has
    /// no decoded view (the reference reader is used then).
    fn client_binary(&mut self, at: &str, bytes: &[u8], expected: Option<View>) {
        let hex_frame: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        if let Some(want) = invalid_binary(&hex_frame) {
            let got = decode_client_binary(bytes);
            if got.as_ref().err() != Some(&want) {
                self.fail(at, format!("invalid binary {hex_frame} gave {got:?}"));
            }
            self.counts.invalid += 1;
            return;
        }
        let message = match decode_client_binary(bytes) {
            Ok(m) => m,
            Err(e) => return self.fail(at, format!("client binary did not decode: {e}")),
        };
        let expected = expected.unwrap_or_else(|| reference_binary_view(bytes, true));
        self.compare(at, &message_view(&message), &expected);
        match encode_client_binary(&message) {
            Ok(b) if b == bytes => {}
            other => self.fail(at, format!("encoded binary differs: {other:?}")),
        }
        self.counts.client_binary += 1;
    }
}

fn sorted_files(dir: &str, ext: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {dir}: {e}"))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    files.sort();
    files
}

fn file_name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

/// The serializer a connection URL selects: `vsn` absent or 1.x -> V1.
fn vsn_of_url(url: &str) -> Vsn {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    let vsn = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("vsn="))
        .unwrap_or("1.0.0");
    if vsn.starts_with("1.") {
        Vsn::V1
    } else {
        Vsn::V2
    }
}

fn check_live_file(checker: &mut Checker, path: &Path) {
    let name = file_name(path);
    let text = fs::read_to_string(path).unwrap();
    let mut vsn_by_conn: HashMap<String, Vsn> = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = format!("{name}:{}", i + 1);
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{at}: not JSON: {e}"));
        let dir = v["dir"].as_str().unwrap_or_else(|| panic!("{at}: no dir"));
        let conn = v["conn"].as_str().unwrap_or("").to_owned();
        if dir == "meta" {
            if v["event"] == "connect" {
                let url = v["url"].as_str().unwrap();
                vsn_by_conn.insert(conn, vsn_of_url(url));
            }
            continue;
        }
        let vsn = vsn_by_conn.get(&conn).copied().unwrap_or(Vsn::V2);
        let ty = v["type"]
            .as_str()
            .unwrap_or_else(|| panic!("{at}: no type"));
        match (dir, ty) {
            ("in", "text") => checker.server_text(&at, vsn, v["frame"].as_str().unwrap(), true),
            ("out", "text") => checker.client_text(&at, vsn, v["frame"].as_str().unwrap()),
            ("in", "binary") => {
                let bytes = hex(v["frame"].as_str().unwrap());
                checker.server_binary(&at, &bytes, &decoded_view(&v["decoded"]));
            }
            ("out", "binary") => {
                let bytes = hex(v["frame"].as_str().unwrap());
                let hex_frame = v["frame"].as_str().unwrap();
                // The recorder's view of an invalid frame is meaningless.
                let expected = invalid_binary(hex_frame)
                    .is_none()
                    .then(|| decoded_view(&v["decoded"]));
                checker.client_binary(&at, &bytes, expected);
            }
            ("in", "http") => {
                let Some(body) = v["frame"].as_str() else {
                    continue;
                };
                let body: Value = serde_json::from_str(body).unwrap();
                if let Some(messages) = body.get("messages").and_then(Value::as_array) {
                    for m in messages {
                        checker.server_text(&at, Vsn::V2, m.as_str().unwrap(), true);
                        checker.counts.longpoll_server += 1;
                    }
                }
            }
            ("out", "http") => {
                let Some(body) = v["frame"].as_str() else {
                    continue;
                };
                // A POST body is one frame, or newline-delimited frames.
                for frame in body.lines() {
                    checker.client_text(&at, Vsn::V2, frame);
                    checker.counts.longpoll_client += 1;
                }
            }
            _ => panic!("{at}: unknown line kind {dir}/{ty}"),
        }
    }
}

/// One frame line of a `.txt` transcript.
struct TxtFrame<'a> {
    to_server: bool,
    binary: bool,
    content: &'a str,
}

/// Parses `[<ms>] [<conn>] C->S|S->C [text|binary] <frame>`; other lines
/// (notes, section headers, callbacks) give `None`.
fn parse_txt_line(line: &str) -> Option<TxtFrame<'_>> {
    let mut rest = line.trim_start();
    let first_token = |s: &str| s.split_whitespace().next().unwrap_or("").len();
    // Optional timestamp (js_client.txt).
    let tok = &rest[..first_token(rest)];
    if !tok.is_empty() && tok.bytes().all(|b| b.is_ascii_digit()) {
        rest = rest[tok.len()..].trim_start();
    }
    // Optional connection letter (presence transcript).
    let tok = &rest[..first_token(rest)];
    if tok.len() == 1 && tok.bytes().all(|b| b.is_ascii_uppercase()) {
        rest = rest[tok.len()..].trim_start();
    }
    let to_server = if let Some(r) = rest.strip_prefix("C->S ") {
        rest = r;
        true
    } else if let Some(r) = rest.strip_prefix("S->C ") {
        rest = r;
        false
    } else {
        return None;
    };
    let rest = rest.trim_start();
    if let Some(hex_part) = rest.strip_prefix("binary ") {
        return Some(TxtFrame {
            to_server,
            binary: true,
            content: hex_part.trim(),
        });
    }
    let content = rest.strip_prefix("text").map_or(rest, str::trim_start);
    Some(TxtFrame {
        to_server,
        binary: false,
        content: content.trim_end_matches(['\r', '\n']),
    })
}

fn check_txt_file(checker: &mut Checker, path: &Path) {
    let name = file_name(path);
    // The JS client transcript's server frames were written by a test
    // script (keys in another order), not by Phoenix: decode them, but do
    // not expect Phoenix's byte layout back.
    let from_phoenix = name != "js_client.txt";
    let text = fs::read_to_string(path).unwrap();
    let mut vsn = Vsn::V2;
    for (i, line) in text.lines().enumerate() {
        let at = format!("{name}:{}", i + 1);
        if line.contains("[connect ok: serializer Phoenix.Socket.V1.") {
            vsn = Vsn::V1;
        } else if line.contains("[connect ok: serializer Phoenix.Socket.V2.") {
            vsn = Vsn::V2;
        }
        let Some(frame) = parse_txt_line(line) else {
            continue;
        };
        match (frame.to_server, frame.binary) {
            (false, false) => checker.server_text(&at, vsn, frame.content, from_phoenix),
            (true, false) => checker.client_text(&at, vsn, frame.content),
            (false, true) => {
                let bytes = hex(frame.content);
                let expected = reference_binary_view(&bytes, false);
                checker.server_binary(&at, &bytes, &expected);
            }
            (true, true) => checker.client_binary(&at, &hex(frame.content), None),
        }
    }
}

fn report(checker: &Checker) {
    assert!(
        checker.failures.is_empty(),
        "{} transcript vector(s) failed:\n{}",
        checker.failures.len(),
        checker.failures.join("\n")
    );
}

#[test]
fn live_phoenix_1_7_21_transcripts() {
    let files = sorted_files(LIVE_DIR, "jsonl");
    assert!(files.len() >= 20, "found only {} transcripts", files.len());
    let mut checker = Checker::default();
    for file in &files {
        check_live_file(&mut checker, file);
    }
    report(&checker);
    let c = &checker.counts;
    eprintln!("live transcripts ({} files): {c:?}", files.len());
    // Every server frame recorded live, per kind (the counts of the files
    // as committed; more frames in the files only raise them).
    assert!(c.server_text_v2 >= 113, "{c:?}");
    assert!(c.server_text_v1 >= 6, "{c:?}");
    assert!(c.server_binary >= 3, "{c:?}");
    assert!(c.client_text_v2 >= 91, "{c:?}");
    assert!(c.client_text_v1 >= 6, "{c:?}");
    assert!(c.client_binary >= 4, "{c:?}");
    assert!(c.longpoll_server >= 4, "{c:?}");
    assert!(c.longpoll_client >= 5, "{c:?}");
    // Every live server frame was printed by Phoenix and is re-encoded exactly.
    assert_eq!(
        c.server_reencoded_exactly,
        c.server_text_v2 + c.server_text_v1 + c.server_binary,
        "{c:?}"
    );
    // M1, M2, M3, M6, M7 in malformed_frame.jsonl and conn B of v1_connect.jsonl.
    assert_eq!(c.invalid, 6, "{c:?}");
    // Integer refs (both directions) and extra array elements.
    assert_eq!(c.canonicalized, 2, "{c:?}");
    assert_eq!(
        checker.canonical_seen.len(),
        3,
        "{:?}",
        checker.canonical_seen
    );
}

#[test]
fn phoenix_1_8_module_and_js_client_transcripts() {
    let files = sorted_files(MODULES_DIR, "txt");
    assert!(files.len() >= 4, "found only {} transcripts", files.len());
    let mut checker = Checker::default();
    let mut per_file = Vec::new();
    for file in &files {
        let before = checker.counts.server_text_v2
            + checker.counts.server_text_v1
            + checker.counts.server_binary
            + checker.counts.client_text_v2
            + checker.counts.client_text_v1
            + checker.counts.client_binary
            + checker.counts.invalid;
        check_txt_file(&mut checker, file);
        let after = checker.counts.server_text_v2
            + checker.counts.server_text_v1
            + checker.counts.server_binary
            + checker.counts.client_text_v2
            + checker.counts.client_text_v1
            + checker.counts.client_binary
            + checker.counts.invalid;
        per_file.push((file_name(file), after - before));
    }
    report(&checker);
    let c = &checker.counts;
    eprintln!("1.8 module transcripts: {c:?}; per file: {per_file:?}");
    for (name, n) in &per_file {
        assert!(*n > 0, "no frames found in {name}");
    }
    assert!(c.server_text_v2 >= 101, "{c:?}");
    assert!(c.server_text_v1 >= 10, "{c:?}");
    assert!(c.server_binary >= 4, "{c:?}");
    assert!(c.server_reencoded_exactly >= 89, "{c:?}");
    assert!(c.client_text_v2 >= 81, "{c:?}");
    assert!(c.client_text_v1 >= 10, "{c:?}");
    assert!(c.client_binary >= 2, "{c:?}");
    // S18 (five frames) and the ref-less v1 frame of S22.
    assert_eq!(c.invalid, 6, "{c:?}");
    // S14's extra array element.
    assert_eq!(c.canonicalized, 1, "{c:?}");
}

#[test]
fn txt_line_parser_recognizes_every_layout() {
    let f = parse_txt_line(r#"C->S text   ["1","1","room:lobby","phx_join",{}]"#).unwrap();
    assert!(f.to_server && !f.binary);
    assert_eq!(f.content, r#"["1","1","room:lobby","phx_join",{}]"#);
    let f = parse_txt_line("S->C binary 02 08 09 72").unwrap();
    assert!(!f.to_server && f.binary);
    assert_eq!(f.content, "02 08 09 72");
    let f = parse_txt_line(r#"B S->C ["4","4","p","phx_reply",{}]"#).unwrap();
    assert!(!f.to_server && !f.binary);
    let f = parse_txt_line(r#"   77 C->S binary 00 01"#).unwrap();
    assert!(f.to_server && f.binary);
    let f = parse_txt_line(r#" 2308 S->C [null,"19","room:3","x",{}]"#).unwrap();
    assert_eq!(f.content, r#"[null,"19","room:3","x",{}]"#);
    assert!(parse_txt_line("   77 [bin ok] ArrayBuffer ff").is_none());
    assert!(parse_txt_line("=== S1 connect").is_none());
    assert!(parse_txt_line("B [socket stops {:shutdown, :disconnected}]").is_none());
}
