//! The server side of the Phoenix Channels frame codec.
//!
//! This is an independent implementation (it deliberately does not share code
//! with the client codec of the workspace) so that the two can cross-check
//! each other:
//!
//! * client → server: V2 text arrays ([`decode_v2_text`]), V2 binary pushes of
//!   kind 0 *with* a ref field ([`decode_v2_binary`]) and V1 objects
//!   ([`decode_v1_text`]);
//! * server → client: [`encode`] a [`ServerFrame`] as a V2 text array, a V2
//!   binary frame of kind 0 (push, **no** ref field), 1 (reply) or 2
//!   (broadcast), or a V1 object.
//!
//! JSON values come from `serde_json`; refs and join_refs are kept as opaque
//! [`Value`]s because the server compares them with strict equality and
//! echoes them back unchanged (integer refs are legal on the wire).

use std::fmt;

use serde_json::{Map, Value};

/// Which serializer a connection negotiated through its `vsn` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Serializer {
    /// `vsn` absent or `1.0.x`: JSON objects, no join_ref on the wire, text only.
    V1,
    /// `vsn` `2.0.x`: JSON arrays `[join_ref, ref, topic, event, payload]` plus binary frames.
    V2,
}

impl Serializer {
    /// Negotiates the serializer from the raw `vsn` query parameter, like
    /// Phoenix does (`~> 1.0.0` → V1, `~> 2.0.0` → V2, absent → V1).
    ///
    /// Returns `None` for anything else (`2.1.0`, `3.0.0`, `garbage`, …), which
    /// the server answers with HTTP 403.
    pub fn negotiate(vsn: Option<&str>) -> Option<Serializer> {
        let Some(vsn) = vsn else {
            return Some(Serializer::V1);
        };
        let (major, minor) = parse_semver(vsn)?;
        match (major, minor) {
            (1, 0) => Some(Serializer::V1),
            (2, 0) => Some(Serializer::V2),
            _ => None,
        }
    }
}

/// Parses `MAJOR.MINOR.PATCH[-pre][+build]` and returns `(major, minor)`.
fn parse_semver(s: &str) -> Option<(u64, u64)> {
    let core = s.split(['-', '+']).next()?;
    let mut parts = core.split('.');
    let major = parse_component(parts.next()?)?;
    let minor = parse_component(parts.next()?)?;
    parse_component(parts.next()?)?;
    if parts.next().is_some() {
        return None;
    }
    Some((major, minor))
}

fn parse_component(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

/// A message payload: JSON, or raw bytes (`{:binary, data}` in Phoenix terms).
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// Any JSON value (a V2 text frame may carry a non-object payload).
    Json(Value),
    /// Raw bytes from or for a binary frame.
    Binary(Vec<u8>),
}

impl Payload {
    /// Returns the JSON object if the payload is one.
    pub fn as_object(&self) -> Option<&Map<String, Value>> {
        match self {
            Payload::Json(Value::Object(m)) => Some(m),
            _ => None,
        }
    }
}

/// A decoded client → server message.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientMessage {
    /// The join_ref (null when absent; `""` for a binary frame with an empty field).
    pub join_ref: Value,
    /// The message ref (null when absent).
    pub msg_ref: Value,
    /// The topic.
    pub topic: String,
    /// The event name.
    pub event: String,
    /// The payload.
    pub payload: Payload,
}

/// Why a client frame could not be decoded. The server answers any of these by
/// closing the connection with code 1011, like Phoenix (the connection process
/// crashes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The text was not JSON.
    NotJson,
    /// V2 expected a JSON array.
    NotAnArray,
    /// V2 array with fewer than five elements.
    TooShort,
    /// V1 expected a JSON object.
    NotAnObject,
    /// A V1 object without one of the required keys.
    MissingKey(&'static str),
    /// Topic or event was not a string.
    NotAString(&'static str),
    /// A binary frame of a kind other than 0 (push).
    BadBinaryKind(u8),
    /// A binary frame whose header or fields are cut short.
    Truncated,
    /// A binary field that is not UTF-8.
    BadUtf8,
    /// A binary frame on a V1 connection.
    BinaryOnV1,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::NotJson => f.write_str("frame is not JSON"),
            DecodeError::NotAnArray => f.write_str("V2 frame is not a JSON array"),
            DecodeError::TooShort => f.write_str("V2 array has fewer than 5 elements"),
            DecodeError::NotAnObject => f.write_str("V1 frame is not a JSON object"),
            DecodeError::MissingKey(k) => write!(f, "V1 frame misses key {k:?}"),
            DecodeError::NotAString(k) => write!(f, "{k} is not a string"),
            DecodeError::BadBinaryKind(k) => {
                write!(f, "binary frame kind {k} is not accepted from a client")
            }
            DecodeError::Truncated => f.write_str("binary frame is truncated"),
            DecodeError::BadUtf8 => f.write_str("binary frame field is not UTF-8"),
            DecodeError::BinaryOnV1 => f.write_str("binary frame on a V1 connection"),
        }
    }
}

impl std::error::Error for DecodeError {}

fn string_field(v: Value, name: &'static str) -> Result<String, DecodeError> {
    match v {
        Value::String(s) => Ok(s),
        _ => Err(DecodeError::NotAString(name)),
    }
}

/// Decodes a V2 text frame `[join_ref, ref, topic, event, payload, ...]`.
/// Extra elements are ignored; the payload may be any JSON value.
pub fn decode_v2_text(text: &str) -> Result<ClientMessage, DecodeError> {
    let value: Value = serde_json::from_str(text).map_err(|_| DecodeError::NotJson)?;
    let Value::Array(items) = value else {
        return Err(DecodeError::NotAnArray);
    };
    if items.len() < 5 {
        return Err(DecodeError::TooShort);
    }
    let mut it = items.into_iter();
    let mut next = || it.next().unwrap_or(Value::Null);
    let join_ref = next();
    let msg_ref = next();
    let topic = string_field(next(), "topic")?;
    let event = string_field(next(), "event")?;
    let payload = Payload::Json(next());
    Ok(ClientMessage {
        join_ref,
        msg_ref,
        topic,
        event,
        payload,
    })
}

/// Decodes a V1 text frame: an object with `topic`, `event`, `payload` and `ref`
/// (all required, `ref` may be null) and an optional `join_ref`.
pub fn decode_v1_text(text: &str) -> Result<ClientMessage, DecodeError> {
    let value: Value = serde_json::from_str(text).map_err(|_| DecodeError::NotJson)?;
    let Value::Object(mut map) = value else {
        return Err(DecodeError::NotAnObject);
    };
    let mut take = |k: &'static str| map.remove(k).ok_or(DecodeError::MissingKey(k));
    let topic = string_field(take("topic")?, "topic")?;
    let event = string_field(take("event")?, "event")?;
    let payload = Payload::Json(take("payload")?);
    let msg_ref = take("ref")?;
    let join_ref = take("join_ref").unwrap_or(Value::Null);
    Ok(ClientMessage {
        join_ref,
        msg_ref,
        topic,
        event,
        payload,
    })
}

/// Decodes a V2 binary client push:
/// `0x00, len(join_ref), len(ref), len(topic), len(event), join_ref, ref, topic, event, payload`.
///
/// An empty join_ref or ref field decodes to the empty string `""`, not null.
pub fn decode_v2_binary(bytes: &[u8]) -> Result<ClientMessage, DecodeError> {
    let (&kind, rest) = bytes.split_first().ok_or(DecodeError::Truncated)?;
    if kind != 0 {
        return Err(DecodeError::BadBinaryKind(kind));
    }
    let lens = rest.get(..4).ok_or(DecodeError::Truncated)?;
    let mut body = rest.get(4..).ok_or(DecodeError::Truncated)?;
    let mut fields: Vec<String> = Vec::with_capacity(4);
    for &len in lens {
        let len = usize::from(len);
        let field = body.get(..len).ok_or(DecodeError::Truncated)?;
        body = body.get(len..).ok_or(DecodeError::Truncated)?;
        fields.push(String::from_utf8(field.to_vec()).map_err(|_| DecodeError::BadUtf8)?);
    }
    let mut it = fields.into_iter();
    let mut next = || it.next().unwrap_or_default();
    let join_ref = Value::String(next());
    let msg_ref = Value::String(next());
    let topic = next();
    let event = next();
    Ok(ClientMessage {
        join_ref,
        msg_ref,
        topic,
        event,
        payload: Payload::Binary(body.to_vec()),
    })
}

/// A server → client message before serialization.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerFrame {
    /// `push/3`: `[join_ref, null, topic, event, payload]`; binary kind 0 (no ref field).
    Push {
        /// The channel's join_ref.
        join_ref: Value,
        /// Topic.
        topic: String,
        /// Event.
        event: String,
        /// Payload.
        payload: Payload,
    },
    /// A reply: event `phx_reply`, payload `{"status", "response"}`; binary kind 1.
    Reply {
        /// The channel's join_ref (null for heartbeat and "unmatched topic" replies).
        join_ref: Value,
        /// The ref of the message being answered.
        msg_ref: Value,
        /// Topic.
        topic: String,
        /// Status (`ok`, `error`, …).
        status: String,
        /// Response (any JSON value, or bytes).
        response: Payload,
    },
    /// A broadcast: `[null, null, topic, event, payload]`; binary kind 2.
    Broadcast {
        /// Topic.
        topic: String,
        /// Event.
        event: String,
        /// Payload.
        payload: Payload,
    },
    /// Any other text message with explicit refs (`phx_close`, `phx_error`).
    Message {
        /// join_ref.
        join_ref: Value,
        /// ref.
        msg_ref: Value,
        /// Topic.
        topic: String,
        /// Event.
        event: String,
        /// JSON payload.
        payload: Value,
    },
}

/// A WebSocket data frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A text frame.
    Text(String),
    /// A binary frame.
    Binary(Vec<u8>),
}

/// Why a [`ServerFrame`] could not be encoded (Phoenix raises in these cases).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncodeError {
    /// A binary header field is longer than 255 bytes.
    FieldTooLong(&'static str),
    /// The V1 serializer cannot carry binary payloads.
    BinaryOnV1,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::FieldTooLong(k) => write!(f, "binary field {k} is longer than 255 bytes"),
            EncodeError::BinaryOnV1 => {
                f.write_str("the V1 serializer cannot encode binary payloads")
            }
        }
    }
}

impl std::error::Error for EncodeError {}

/// How a ref is written into a binary header (`to_string/1` in Elixir:
/// null becomes the empty string).
fn ref_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn len_byte(field: &str, name: &'static str) -> Result<u8, EncodeError> {
    u8::try_from(field.len()).map_err(|_| EncodeError::FieldTooLong(name))
}

fn binary_frame(
    kind: u8,
    fields: &[(&str, &'static str)],
    payload: &[u8],
) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::with_capacity(
        1 + fields.len() + fields.iter().map(|(f, _)| f.len()).sum::<usize>() + payload.len(),
    );
    out.push(kind);
    for (field, name) in fields {
        out.push(len_byte(field, name)?);
    }
    for (field, _) in fields {
        out.extend_from_slice(field.as_bytes());
    }
    out.extend_from_slice(payload);
    Ok(out)
}

fn reply_payload(status: &str, response: Value) -> Value {
    let mut m = Map::new();
    m.insert("response".to_owned(), response);
    m.insert("status".to_owned(), Value::String(status.to_owned()));
    Value::Object(m)
}

fn v2_array(join_ref: Value, msg_ref: Value, topic: &str, event: &str, payload: Value) -> String {
    Value::Array(vec![
        join_ref,
        msg_ref,
        Value::String(topic.to_owned()),
        Value::String(event.to_owned()),
        payload,
    ])
    .to_string()
}

fn v1_object(msg_ref: Value, topic: &str, event: &str, payload: Value) -> String {
    let mut m = Map::new();
    m.insert("event".to_owned(), Value::String(event.to_owned()));
    m.insert("payload".to_owned(), payload);
    m.insert("ref".to_owned(), msg_ref);
    m.insert("topic".to_owned(), Value::String(topic.to_owned()));
    Value::Object(m).to_string()
}

/// Encodes a server frame with the given serializer.
///
/// V2: a JSON payload gives a text array, a [`Payload::Binary`] a binary frame
/// of kind 0 (push), 1 (reply) or 2 (broadcast). V1: a JSON object without
/// join_ref; binary payloads are an error.
pub fn encode(serializer: Serializer, frame: &ServerFrame) -> Result<Frame, EncodeError> {
    match (serializer, frame) {
        (
            Serializer::V2,
            ServerFrame::Push {
                join_ref,
                topic,
                event,
                payload,
            },
        ) => match payload {
            Payload::Json(p) => Ok(Frame::Text(v2_array(
                join_ref.clone(),
                Value::Null,
                topic,
                event,
                p.clone(),
            ))),
            Payload::Binary(b) => {
                let jr = ref_text(join_ref);
                binary_frame(
                    0,
                    &[(&jr, "join_ref"), (topic, "topic"), (event, "event")],
                    b,
                )
                .map(Frame::Binary)
            }
        },
        (
            Serializer::V2,
            ServerFrame::Reply {
                join_ref,
                msg_ref,
                topic,
                status,
                response,
            },
        ) => match response {
            Payload::Json(r) => Ok(Frame::Text(v2_array(
                join_ref.clone(),
                msg_ref.clone(),
                topic,
                "phx_reply",
                reply_payload(status, r.clone()),
            ))),
            Payload::Binary(b) => {
                let jr = ref_text(join_ref);
                let r = ref_text(msg_ref);
                binary_frame(
                    1,
                    &[
                        (&jr, "join_ref"),
                        (&r, "ref"),
                        (topic, "topic"),
                        (status, "status"),
                    ],
                    b,
                )
                .map(Frame::Binary)
            }
        },
        (
            Serializer::V2,
            ServerFrame::Broadcast {
                topic,
                event,
                payload,
            },
        ) => match payload {
            Payload::Json(p) => Ok(Frame::Text(v2_array(
                Value::Null,
                Value::Null,
                topic,
                event,
                p.clone(),
            ))),
            Payload::Binary(b) => {
                binary_frame(2, &[(topic, "topic"), (event, "event")], b).map(Frame::Binary)
            }
        },
        (
            Serializer::V2,
            ServerFrame::Message {
                join_ref,
                msg_ref,
                topic,
                event,
                payload,
            },
        ) => Ok(Frame::Text(v2_array(
            join_ref.clone(),
            msg_ref.clone(),
            topic,
            event,
            payload.clone(),
        ))),
        (
            Serializer::V1,
            ServerFrame::Push {
                topic,
                event,
                payload,
                ..
            },
        )
        | (
            Serializer::V1,
            ServerFrame::Broadcast {
                topic,
                event,
                payload,
            },
        ) => match payload {
            Payload::Json(p) => Ok(Frame::Text(v1_object(Value::Null, topic, event, p.clone()))),
            Payload::Binary(_) => Err(EncodeError::BinaryOnV1),
        },
        (
            Serializer::V1,
            ServerFrame::Reply {
                msg_ref,
                topic,
                status,
                response,
                ..
            },
        ) => match response {
            Payload::Json(r) => Ok(Frame::Text(v1_object(
                msg_ref.clone(),
                topic,
                "phx_reply",
                reply_payload(status, r.clone()),
            ))),
            Payload::Binary(_) => Err(EncodeError::BinaryOnV1),
        },
        (
            Serializer::V1,
            ServerFrame::Message {
                msg_ref,
                topic,
                event,
                payload,
                ..
            },
        ) => Ok(Frame::Text(v1_object(
            msg_ref.clone(),
            topic,
            event,
            payload.clone(),
        ))),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn negotiates_versions() {
        assert_eq!(Serializer::negotiate(None), Some(Serializer::V1));
        assert_eq!(Serializer::negotiate(Some("1.0.0")), Some(Serializer::V1));
        assert_eq!(Serializer::negotiate(Some("2.0.0")), Some(Serializer::V2));
        assert_eq!(Serializer::negotiate(Some("2.0.9")), Some(Serializer::V2));
        assert_eq!(
            Serializer::negotiate(Some("2.0.0-rc.1")),
            Some(Serializer::V2)
        );
        for bad in [
            "2.1.0", "3.0.0", "garbage", "", "2.0", "2.0.0.0", "02.0.0", "1.1.0",
        ] {
            assert_eq!(Serializer::negotiate(Some(bad)), None, "{bad}");
        }
    }

    #[test]
    fn decodes_v2_text() {
        let m = decode_v2_text(r#"["1","2","room:1","ev",{"a":1}]"#).unwrap();
        assert_eq!(m.join_ref, json!("1"));
        assert_eq!(m.msg_ref, json!("2"));
        assert_eq!(m.topic, "room:1");
        assert_eq!(m.event, "ev");
        assert_eq!(m.payload, Payload::Json(json!({"a":1})));
        // integer refs, extra elements, non-map payload
        let m = decode_v2_text(r#"[1,1,"t","e","s","extra",6]"#).unwrap();
        assert_eq!(m.join_ref, json!(1));
        assert_eq!(m.payload, Payload::Json(json!("s")));
    }

    #[test]
    fn rejects_bad_v2_text() {
        assert_eq!(
            decode_v2_text("this is not json"),
            Err(DecodeError::NotJson)
        );
        assert_eq!(
            decode_v2_text(r#"{"topic":"x"}"#),
            Err(DecodeError::NotAnArray)
        );
        assert_eq!(
            decode_v2_text(r#"[null,"1","phoenix","heartbeat"]"#),
            Err(DecodeError::TooShort)
        );
        assert_eq!(
            decode_v2_text(r#"[null,"1",3,"heartbeat",{}]"#),
            Err(DecodeError::NotAString("topic"))
        );
    }

    #[test]
    fn decodes_v1_text() {
        let m = decode_v1_text(r#"{"topic":"echo:1","event":"phx_join","payload":{},"ref":"1"}"#)
            .unwrap();
        assert_eq!(m.join_ref, Value::Null);
        assert_eq!(m.msg_ref, json!("1"));
        assert_eq!(
            decode_v1_text(r#"{"topic":"echo:1","event":"phx_join","payload":{}}"#),
            Err(DecodeError::MissingKey("ref"))
        );
        assert_eq!(
            decode_v1_text(r#"["1","1","echo:1","phx_join",{}]"#),
            Err(DecodeError::NotAnObject)
        );
    }

    #[test]
    fn decodes_v2_binary_from_transcript() {
        let m =
            decode_v2_binary(&hex("000101080631326563686f3a62696e62696e6172790908070605")).unwrap();
        assert_eq!(m.join_ref, json!("1"));
        assert_eq!(m.msg_ref, json!("2"));
        assert_eq!(m.topic, "echo:bin");
        assert_eq!(m.event, "binary");
        assert_eq!(m.payload, Payload::Binary(vec![9, 8, 7, 6, 5]));
        let hb = decode_v2_binary(&hex("00000107093770686f656e6978686561727462656174")).unwrap();
        assert_eq!(hb.join_ref, json!(""));
        assert_eq!(hb.topic, "phoenix");
        assert_eq!(hb.payload, Payload::Binary(vec![]));
    }

    #[test]
    fn rejects_bad_binary() {
        assert_eq!(
            decode_v2_binary(&hex("00050505")),
            Err(DecodeError::Truncated)
        );
        assert_eq!(
            decode_v2_binary(&hex("07010203")),
            Err(DecodeError::BadBinaryKind(7))
        );
        assert_eq!(
            decode_v2_binary(&hex("0100000000")),
            Err(DecodeError::BadBinaryKind(1))
        );
        assert_eq!(
            decode_v2_binary(&hex("0000000005616263")),
            Err(DecodeError::Truncated)
        );
        assert_eq!(decode_v2_binary(&[]), Err(DecodeError::Truncated));
        assert_eq!(
            decode_v2_binary(&hex("0000000001ff")),
            Err(DecodeError::BadUtf8)
        );
    }

    #[test]
    fn encodes_binary_kinds_like_the_transcripts() {
        let push = ServerFrame::Push {
            join_ref: json!("1"),
            topic: "echo:bin".into(),
            event: "pushed_binary".into(),
            payload: Payload::Binary(vec![4, 5, 6]),
        };
        assert_eq!(
            encode(Serializer::V2, &push).unwrap(),
            Frame::Binary(hex(
                "0001080d316563686f3a62696e7075736865645f62696e617279040506"
            ))
        );
        let reply = ServerFrame::Reply {
            join_ref: json!("1"),
            msg_ref: json!("4"),
            topic: "echo:bin".into(),
            status: "ok".into(),
            response: Payload::Binary(vec![1, 2, 3]),
        };
        assert_eq!(
            encode(Serializer::V2, &reply).unwrap(),
            Frame::Binary(hex("010101080231346563686f3a62696e6f6b010203"))
        );
        let bcast = ServerFrame::Broadcast {
            topic: "echo:bin".into(),
            event: "broadcasted_binary".into(),
            payload: Payload::Binary(vec![7, 8, 9]),
        };
        assert_eq!(
            encode(Serializer::V2, &bcast).unwrap(),
            Frame::Binary(hex(
                "0208126563686f3a62696e62726f61646361737465645f62696e617279070809"
            ))
        );
        // integer and null refs become their text / the empty string
        let reply = ServerFrame::Reply {
            join_ref: json!(5),
            msg_ref: Value::Null,
            topic: "t".into(),
            status: "ok".into(),
            response: Payload::Binary(vec![]),
        };
        assert_eq!(
            encode(Serializer::V2, &reply).unwrap(),
            Frame::Binary(vec![1, 1, 0, 1, 2, b'5', b't', b'o', b'k'])
        );
    }

    #[test]
    fn encodes_text_frames() {
        let reply = ServerFrame::Reply {
            join_ref: Value::Null,
            msg_ref: json!("7"),
            topic: "phoenix".into(),
            status: "ok".into(),
            response: Payload::Json(json!({})),
        };
        assert_eq!(
            encode(Serializer::V2, &reply).unwrap(),
            Frame::Text(r#"[null,"7","phoenix","phx_reply",{"response":{},"status":"ok"}]"#.into())
        );
        assert_eq!(
            encode(Serializer::V1, &reply).unwrap(),
            Frame::Text(r#"{"event":"phx_reply","payload":{"response":{},"status":"ok"},"ref":"7","topic":"phoenix"}"#.into())
        );
        let push = ServerFrame::Push {
            join_ref: json!("1"),
            topic: "echo:1".into(),
            event: "pushed".into(),
            payload: Payload::Json(json!({"x":42})),
        };
        assert_eq!(
            encode(Serializer::V2, &push).unwrap(),
            Frame::Text(r#"["1",null,"echo:1","pushed",{"x":42}]"#.into())
        );
        assert_eq!(
            encode(Serializer::V1, &push).unwrap(),
            Frame::Text(
                r#"{"event":"pushed","payload":{"x":42},"ref":null,"topic":"echo:1"}"#.into()
            )
        );
        let close = ServerFrame::Message {
            join_ref: json!("1"),
            msg_ref: json!("1"),
            topic: "echo:1".into(),
            event: "phx_close".into(),
            payload: json!({}),
        };
        assert_eq!(
            encode(Serializer::V2, &close).unwrap(),
            Frame::Text(r#"["1","1","echo:1","phx_close",{}]"#.into())
        );
    }

    #[test]
    fn encode_errors() {
        let push = ServerFrame::Push {
            join_ref: json!("1"),
            topic: "t".repeat(256),
            event: "e".into(),
            payload: Payload::Binary(vec![]),
        };
        assert_eq!(
            encode(Serializer::V2, &push),
            Err(EncodeError::FieldTooLong("topic"))
        );
        let push = ServerFrame::Push {
            join_ref: json!("1"),
            topic: "t".into(),
            event: "e".into(),
            payload: Payload::Binary(vec![]),
        };
        assert_eq!(encode(Serializer::V1, &push), Err(EncodeError::BinaryOnV1));
    }
}
