//! Property tests of the wire codec: encode-then-decode round trips in both
//! directions and all three formats, field-length limits of the binary
//! format, and "decoding never panics" on arbitrary and mutated input.

// Test code: strategies and helpers unwrap and index freely.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

use std::borrow::Cow;

use phoenix_proto::codec::{
    DecodeError, EncodeError, Field, Message, PHX_REPLY, Payload, Reply, Serializer, ServerFrame,
    V1Serializer, V2Serializer, WireMessage, WireRefs, decode_client_binary, decode_client_text,
    decode_client_v1, decode_server_binary, decode_server_text, decode_server_v1,
    encode_client_binary, encode_client_v1, encode_message_text, encode_reply_text,
    encode_server_binary, encode_server_frame, encode_server_v1,
};
use proptest::prelude::*;
use serde_json::{Map, Number, Value};

// ---------------------------------------------------------------------------
// Strategies

/// Characters that stress JSON escaping and UTF-8 handling, mixed with any
/// Unicode scalar.
fn tricky_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => prop::sample::select(vec![
            '"', '\\', '/', '\n', '\r', '\t', '\u{0}', '\u{1}', '\u{8}', '\u{c}', '\u{1f}',
            '\u{7f}', '\u{80}', '\u{2028}', '\u{2029}', '\u{feff}', '\u{fffd}', 'é', '✓', '😀',
            '[', ']', '{', '}', ',', ':', 'u', ' ',
        ]),
        3 => prop::char::range('a', 'z'),
        2 => any::<char>(),
    ]
}

/// A string of up to `max` characters (so up to 4 * `max` bytes).
fn tricky_string(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(tricky_char(), 0..=max).prop_map(|cs| cs.into_iter().collect())
}

/// A string short enough for a binary frame field most of the time, and
/// sometimes (around and beyond 255 bytes) too long.
fn field_string() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => tricky_string(24),
        1 => (250usize..=258).prop_map(|n| "x".repeat(n)),
        1 => (60usize..=70).prop_map(|n| "é✓😀".repeat(n)),
    ]
}

fn non_empty_field() -> impl Strategy<Value = String> {
    field_string().prop_filter("binary refs are non-empty", |s| !s.is_empty())
}

/// `None` or `Some(non-empty)`: binary frames cannot tell `""` from null.
fn binary_ref() -> impl Strategy<Value = Option<String>> {
    prop::option::of(non_empty_field())
}

fn json_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter_map("finite", Number::from_f64)
            .prop_map(Value::Number),
    ]
}

/// Arbitrary JSON trees.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        json_number(),
        tricky_string(12).prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((tricky_string(8), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn json_payload() -> impl Strategy<Value = Payload<'static>> {
    json_value().prop_map(|v| Payload::json(&v).unwrap())
}

fn binary_payload() -> impl Strategy<Value = Payload<'static>> {
    prop::collection::vec(any::<u8>(), 0..600).prop_map(Payload::binary)
}

fn owned(s: String) -> Cow<'static, str> {
    Cow::Owned(s)
}

/// A client message with a JSON payload (text formats: any strings).
fn json_message() -> impl Strategy<Value = Message<'static>> {
    (
        prop::option::of(tricky_string(24)),
        prop::option::of(tricky_string(24)),
        tricky_string(40),
        tricky_string(24),
        json_payload(),
    )
        .prop_map(|(join_ref, msg_ref, topic, event, payload)| Message {
            join_ref: join_ref.map(owned),
            msg_ref: msg_ref.map(owned),
            topic: owned(topic),
            event: owned(event),
            payload,
        })
}

/// A client message with a binary payload; fields may be too long.
fn binary_message() -> impl Strategy<Value = Message<'static>> {
    (
        binary_ref(),
        binary_ref(),
        field_string(),
        field_string(),
        binary_payload(),
    )
        .prop_map(|(join_ref, msg_ref, topic, event, payload)| Message {
            join_ref: join_ref.map(owned),
            msg_ref: msg_ref.map(owned),
            topic: owned(topic),
            event: owned(event),
            payload,
        })
}

/// A server text frame: a reply, or a message whose event is not `phx_reply`.
fn server_text_frame() -> impl Strategy<Value = ServerFrame<'static>> {
    prop_oneof![
        json_message()
            .prop_filter("a phx_reply message is a reply", |m| m.event != PHX_REPLY)
            .prop_map(ServerFrame::Message),
        (
            prop::option::of(tricky_string(24)),
            prop::option::of(tricky_string(24)),
            tricky_string(40),
            tricky_string(12),
            json_payload(),
        )
            .prop_map(|(join_ref, msg_ref, topic, status, response)| {
                ServerFrame::Reply(Reply {
                    join_ref: join_ref.map(owned),
                    msg_ref: msg_ref.map(owned),
                    topic: owned(topic),
                    status: owned(status),
                    response,
                })
            }),
    ]
}

/// A server binary frame: push (join_ref, no ref), broadcast (no refs) or
/// reply; fields may be too long.
fn server_binary_frame() -> impl Strategy<Value = ServerFrame<'static>> {
    prop_oneof![
        (
            binary_ref(),
            field_string(),
            field_string(),
            binary_payload()
        )
            .prop_map(|(join_ref, topic, event, payload)| {
                ServerFrame::Message(Message {
                    join_ref: join_ref.map(owned),
                    msg_ref: None,
                    topic: owned(topic),
                    event: owned(event),
                    payload,
                })
            }),
        (
            binary_ref(),
            binary_ref(),
            field_string(),
            field_string(),
            binary_payload(),
        )
            .prop_map(|(join_ref, msg_ref, topic, status, response)| {
                ServerFrame::Reply(Reply {
                    join_ref: join_ref.map(owned),
                    msg_ref: msg_ref.map(owned),
                    topic: owned(topic),
                    status: owned(status),
                    response,
                })
            }),
    ]
}

// ---------------------------------------------------------------------------
// Helpers

/// The first field over 255 bytes, in header order, as the encoder must report it.
fn first_too_long(fields: &[(Field, Option<&str>)]) -> Option<EncodeError> {
    fields.iter().find_map(|(field, value)| {
        let len = value.map_or(0, str::len);
        (len > 255).then_some(EncodeError::FieldTooLong { field: *field, len })
    })
}

fn server_binary_fields<'f>(frame: &'f ServerFrame<'_>) -> Vec<(Field, Option<&'f str>)> {
    match frame {
        ServerFrame::Reply(r) => vec![
            (Field::JoinRef, r.join_ref.as_deref()),
            (Field::Ref, r.msg_ref.as_deref()),
            (Field::Topic, Some(&r.topic)),
            (Field::Status, Some(&r.status)),
        ],
        ServerFrame::Message(m) if m.join_ref.is_some() => vec![
            (Field::JoinRef, m.join_ref.as_deref()),
            (Field::Topic, Some(&m.topic)),
            (Field::Event, Some(&m.event)),
        ],
        ServerFrame::Message(m) => vec![
            (Field::Topic, Some(&m.topic)),
            (Field::Event, Some(&m.event)),
        ],
    }
}

fn check_payload(payload: &Payload<'_>) {
    if payload.as_json().is_some() {
        // Must not panic; deeply nested JSON may legitimately fail.
        let _ = payload.deserialize::<Value>();
    } else {
        assert_eq!(
            payload.deserialize::<Value>(),
            Err(DecodeError::PayloadNotJson)
        );
    }
}

fn check_server_frame(frame: &ServerFrame<'_>) {
    match frame {
        ServerFrame::Reply(r) => check_payload(&r.response),
        ServerFrame::Message(m) => check_payload(&m.payload),
    }
}

/// Feeds `text` to every text decoder; on success, payloads deserialize
/// without panicking and the frame re-encodes to something that decodes
/// to the same frame.
fn decode_text_everywhere(text: &str) {
    if let Ok(frame) = decode_server_text(text) {
        check_server_frame(&frame);
        // Binary-looking frames never come out of a text decoder.
        let WireMessage::Text(again) = encode_server_frame(&frame).unwrap() else {
            panic!("a text frame re-encoded as binary")
        };
        assert_eq!(decode_server_text(&again).unwrap(), frame);
    }
    if let Ok(m) = decode_client_text(text) {
        check_payload(&m.payload);
        let again = encode_message_text(&m).unwrap();
        assert_eq!(decode_client_text(&again).unwrap(), m);
    }
    if let Ok(frame) = decode_server_v1(text) {
        check_server_frame(&frame);
        let again = encode_server_v1(&frame).unwrap();
        // v1 server frames cannot carry a join_ref.
        let want = match frame {
            ServerFrame::Reply(r) => ServerFrame::Reply(Reply {
                join_ref: None,
                ..r
            }),
            ServerFrame::Message(m) => ServerFrame::Message(Message {
                join_ref: None,
                ..m
            }),
        };
        assert_eq!(decode_server_v1(&again).unwrap(), want);
    }
    if let Ok(m) = decode_client_v1(text) {
        check_payload(&m.payload);
        let again = encode_client_v1(&m).unwrap();
        assert_eq!(decode_client_v1(&again).unwrap(), m);
    }
}

/// Feeds `bytes` to both binary decoders (and, if UTF-8, the text ones).
fn decode_bytes_everywhere(bytes: &[u8]) {
    if let Ok(frame) = decode_server_binary(bytes) {
        check_server_frame(&frame);
        // Field lengths came from one byte each, so re-encoding cannot fail.
        let again = encode_server_binary(&frame).unwrap();
        // (A push with an empty join_ref comes back as a broadcast, which
        // decodes to the same frame.)
        assert_eq!(decode_server_binary(&again).unwrap(), frame);
    }
    if let Ok(m) = decode_client_binary(bytes) {
        check_payload(&m.payload);
        let again = encode_client_binary(&m).unwrap();
        assert_eq!(again, bytes);
        assert_eq!(decode_client_binary(&again).unwrap(), m);
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        decode_text_everywhere(text);
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, u8),
    Remove(usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let interesting = prop::sample::select(vec![
        b'"', b'\\', b'[', b']', b'{', b'}', b',', b':', b'n', b'0', b'-', b'e', 0, 1, 2, 0xff,
        0xc3, 0x80,
    ]);
    let byte = prop_oneof![interesting, any::<u8>()];
    prop_oneof![
        (any::<usize>(), byte.clone()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (any::<usize>(), byte).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<usize>().prop_map(Mutation::Remove),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let len = bytes.len();
        match *m {
            Mutation::Flip(i, b) if len > 0 => bytes[i % len] = b,
            Mutation::Insert(i, b) => bytes.insert(i % (len + 1), b),
            Mutation::Remove(i) if len > 0 => {
                bytes.remove(i % len);
            }
            Mutation::Truncate(i) => bytes.truncate(i % (len + 1)),
            _ => {}
        }
    }
    bytes
}

/// Strings built from JSON tokens, to reach deep into the parser.
fn json_ish() -> impl Strategy<Value = String> {
    let token = prop::sample::select(vec![
        "[",
        "]",
        "{",
        "}",
        ",",
        ":",
        "null",
        "true",
        "1",
        "-0",
        "1e999",
        "\"",
        "\"a\"",
        "\\",
        "\"\\u00\"",
        "\"\\ud800\"",
        "\"phx_reply\"",
        "\"status\"",
        "\"response\"",
        "\"topic\"",
        "\"event\"",
        "\"payload\"",
        "\"ref\"",
        "\"join_ref\"",
        " ",
        "\n",
    ]);
    prop::collection::vec(token, 0..40).prop_map(|ts| ts.concat())
}

// ---------------------------------------------------------------------------
// Properties

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn client_text_round_trips(m in json_message()) {
        let text = encode_message_text(&m).unwrap();
        prop_assert_eq!(decode_client_text(&text).unwrap(), m.clone());
        // The payload is copied verbatim and still parses.
        let decoded = decode_client_text(&text).unwrap();
        prop_assert_eq!(decoded.payload.as_json(), m.payload.as_json());
        let v: Value = decoded.payload.deserialize().unwrap();
        let original: Value = serde_json::from_str(m.payload.as_json().unwrap()).unwrap();
        prop_assert_eq!(v, original);
    }

    #[test]
    fn counted_refs_encode_as_their_decimal_text(
        m in prop_oneof![json_message(), binary_message()],
        join_ref in proptest::option::of(any::<u64>()),
        msg_ref in any::<u64>(),
    ) {
        // What every push, join, leave and heartbeat goes through: the
        // frame must be the one `encode` writes for the refs' decimal text,
        // byte for byte, in every format, escapes and binary included.
        let refs = WireRefs { join_ref, msg_ref };
        let as_text = Message {
            join_ref: join_ref.map(|n| owned(n.to_string())),
            msg_ref: Some(owned(msg_ref.to_string())),
            ..m.clone()
        };
        for serializer in [&V2Serializer as &dyn Serializer, &V1Serializer] {
            let counted = serializer.encode_counted(refs, &m.topic, &m.event, &m.payload);
            prop_assert_eq!(counted, serializer.encode(&as_text));
        }
    }

    #[test]
    fn client_v1_round_trips(m in json_message()) {
        let text = encode_client_v1(&m).unwrap();
        prop_assert_eq!(decode_client_v1(&text).unwrap(), m);
    }

    #[test]
    fn client_binary_round_trips_or_refuses_long_fields(m in binary_message()) {
        let too_long = first_too_long(&[
            (Field::JoinRef, m.join_ref.as_deref()),
            (Field::Ref, m.msg_ref.as_deref()),
            (Field::Topic, Some(&m.topic)),
            (Field::Event, Some(&m.event)),
        ]);
        match (encode_client_binary(&m), too_long) {
            (Ok(bytes), None) => {
                prop_assert_eq!(decode_client_binary(&bytes).unwrap(), m);
            }
            (Err(e), Some(want)) => prop_assert_eq!(e, want),
            (got, want) => prop_assert!(false, "encode gave {:?}, expected {:?}", got, want),
        }
    }

    #[test]
    fn server_text_round_trips(frame in server_text_frame()) {
        let WireMessage::Text(text) = encode_server_frame(&frame).unwrap() else {
            panic!("a JSON frame encoded as binary")
        };
        prop_assert_eq!(decode_server_text(&text).unwrap(), frame.clone());
        if let ServerFrame::Reply(r) = &frame {
            prop_assert_eq!(encode_reply_text(r).unwrap(), text);
        }
    }

    #[test]
    fn server_v1_round_trips(frame in server_text_frame()) {
        // v1 server frames carry no join_ref.
        let frame = match frame {
            ServerFrame::Reply(r) => ServerFrame::Reply(Reply { join_ref: None, ..r }),
            ServerFrame::Message(m) => ServerFrame::Message(Message { join_ref: None, ..m }),
        };
        let text = encode_server_v1(&frame).unwrap();
        prop_assert_eq!(decode_server_v1(&text).unwrap(), frame);
    }

    #[test]
    fn server_binary_round_trips_or_refuses_long_fields(frame in server_binary_frame()) {
        let too_long = first_too_long(&server_binary_fields(&frame));
        match (encode_server_frame(&frame), too_long) {
            (Ok(WireMessage::Binary(bytes)), None) => {
                prop_assert_eq!(decode_server_binary(&bytes).unwrap(), frame);
            }
            (Err(e), Some(want)) => prop_assert_eq!(e, want),
            (got, want) => prop_assert!(false, "encode gave {:?}, expected {:?}", got, want),
        }
    }

    #[test]
    fn binary_payloads_are_refused_by_text_encoders(m in binary_message()) {
        prop_assert_eq!(encode_message_text(&m), Err(EncodeError::BinaryNotSupported));
        prop_assert_eq!(encode_client_v1(&m), Err(EncodeError::BinaryNotSupported));
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        decode_bytes_everywhere(&bytes);
    }

    #[test]
    fn decoding_arbitrary_binary_headers_never_panics(
        kind in 0u8..4,
        lens in prop::collection::vec(0u8..12, 0..6),
        tail in prop::collection::vec(any::<u8>(), 0..40),
    ) {
        let mut bytes = vec![kind];
        bytes.extend(lens);
        bytes.extend(tail);
        decode_bytes_everywhere(&bytes);
    }

    #[test]
    fn decoding_arbitrary_strings_never_panics(text in tricky_string(80)) {
        decode_text_everywhere(&text);
    }

    #[test]
    fn decoding_json_ish_strings_never_panics(text in json_ish()) {
        decode_text_everywhere(&text);
    }

    #[test]
    fn decoding_mutated_text_frames_never_panics(
        frame in server_text_frame(),
        v1 in any::<bool>(),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let text = if v1 {
            encode_server_v1(&frame).unwrap()
        } else {
            let WireMessage::Text(t) = encode_server_frame(&frame).unwrap() else {
                panic!("a JSON frame encoded as binary")
            };
            t
        };
        decode_bytes_everywhere(&mutate(text.into_bytes(), &mutations));
    }

    #[test]
    fn decoding_mutated_binary_frames_never_panics(
        m in binary_message(),
        frame in server_binary_frame(),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        if let Ok(bytes) = encode_client_binary(&m) {
            decode_bytes_everywhere(&mutate(bytes, &mutations));
        }
        if let Ok(bytes) = encode_server_binary(&frame) {
            decode_bytes_everywhere(&mutate(bytes, &mutations));
        }
    }
}

#[test]
fn deeply_nested_input_is_an_error_not_a_crash() {
    for depth in [127, 128, 129, 1_000, 100_000] {
        let open = "[".repeat(depth);
        decode_text_everywhere(&open);
        let frame = format!(
            "[null,null,\"t\",\"e\",{}{}]",
            "[".repeat(depth),
            "]".repeat(depth)
        );
        decode_text_everywhere(&frame);
        let object = format!(
            "{{\"topic\":\"t\",\"event\":\"e\",\"ref\":null,\"payload\":{}{}}}",
            "{\"a\":".repeat(depth),
            "}".repeat(depth)
        );
        decode_text_everywhere(&object);
    }
}

#[test]
fn fields_of_exactly_255_bytes_fit_and_256_do_not() {
    let make = |n: usize| Message {
        join_ref: Some("j".repeat(n).into()),
        msg_ref: Some("r".into()),
        topic: "t".into(),
        event: "e".into(),
        payload: Payload::binary(vec![1, 2, 3]),
    };
    let ok = make(255);
    let bytes = encode_client_binary(&ok).unwrap();
    assert_eq!(decode_client_binary(&bytes).unwrap(), ok);
    assert_eq!(
        encode_client_binary(&make(256)),
        Err(EncodeError::FieldTooLong {
            field: Field::JoinRef,
            len: 256
        })
    );
}
