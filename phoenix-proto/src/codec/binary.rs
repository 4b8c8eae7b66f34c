//! The v2 binary format (phoenix-proto/PROTOCOL.md section 4).
//!
//! Every frame starts with a kind byte, then one length byte per string
//! field, then the fields, then the raw payload. The layout of kind 0 depends
//! on the direction:
//!
//! | kind | direction | header after the kind byte |
//! | --- | --- | --- |
//! | 0 push | client to server | join_ref, ref, topic, event lengths |
//! | 0 push | server to client | join_ref, topic, event lengths (no ref) |
//! | 1 reply | server to client | join_ref, ref, topic, status lengths |
//! | 2 broadcast | server to client | topic, event lengths |
//!
//! Binary frames cannot say "null": an absent ref is a zero-length string.
//! Decoding maps zero-length refs to `None`.

use std::borrow::Cow;

use super::error::{DecodeError, EncodeError, Field};
use super::frame::{Message, Payload, Reply, ServerFrame};

const KIND_PUSH: u8 = 0;
const KIND_REPLY: u8 = 1;
const KIND_BROADCAST: u8 = 2;

/// Reads the header of `frame` (kind byte plus `N` length bytes) and slices
/// out the `N` string fields; returns them with the remaining payload.
fn split<const N: usize>(
    frame: &[u8],
    fields: [Field; N],
) -> Result<([&str; N], &[u8]), DecodeError> {
    let kind = frame.first().copied().ok_or(DecodeError::EmptyBinary)?;
    // Errors are built only when needed (`ok_or_else`): they are not free.
    let header = frame
        .get(1..=N)
        .ok_or_else(|| DecodeError::TruncatedBinary {
            kind,
            needed: N + 1,
            available: frame.len(),
        })?;
    let total: usize = N + 1 + header.iter().map(|&l| usize::from(l)).sum::<usize>();
    let truncated = || DecodeError::TruncatedBinary {
        kind,
        needed: total,
        available: frame.len(),
    };
    // The fields are contiguous: validate them as one string, then check
    // that every field boundary falls between characters. That is exactly
    // "every field is UTF-8"; when it fails, find the field to blame.
    let strings = frame.get(N + 1..total).ok_or_else(truncated)?;
    let whole = std::str::from_utf8(strings).ok();
    let mut out = [""; N];
    let mut at = 0;
    for ((slot, &len), field) in out.iter_mut().zip(header).zip(fields) {
        let end = at + usize::from(len);
        *slot = match whole.and_then(|w| w.get(at..end)) {
            Some(s) => s,
            None => strings.get(at..end).ok_or_else(truncated).and_then(|b| {
                std::str::from_utf8(b).map_err(|_| DecodeError::InvalidUtf8 { field })
            })?,
        };
        at = end;
    }
    Ok((out, frame.get(total..).unwrap_or_default()))
}

fn optional(s: &str) -> Option<Cow<'_, str>> {
    (!s.is_empty()).then_some(Cow::Borrowed(s))
}

/// Decodes a v2 binary frame sent by a server (kinds 0, 1 and 2).
///
/// # Errors
/// [`DecodeError::EmptyBinary`], [`DecodeError::UnknownBinaryKind`],
/// [`DecodeError::TruncatedBinary`] or [`DecodeError::InvalidUtf8`].
pub fn decode_server_binary(frame: &[u8]) -> Result<ServerFrame<'_>, DecodeError> {
    match frame.first().copied() {
        None => Err(DecodeError::EmptyBinary),
        Some(KIND_PUSH) => {
            let ([join_ref, topic, event], payload) =
                split(frame, [Field::JoinRef, Field::Topic, Field::Event])?;
            Ok(ServerFrame::Message(Message {
                join_ref: optional(join_ref),
                msg_ref: None,
                topic: Cow::Borrowed(topic),
                event: Cow::Borrowed(event),
                payload: Payload::Binary(Cow::Borrowed(payload)),
            }))
        }
        Some(KIND_REPLY) => {
            let ([join_ref, msg_ref, topic, status], payload) = split(
                frame,
                [Field::JoinRef, Field::Ref, Field::Topic, Field::Status],
            )?;
            Ok(ServerFrame::Reply(Reply {
                join_ref: optional(join_ref),
                msg_ref: optional(msg_ref),
                topic: Cow::Borrowed(topic),
                status: Cow::Borrowed(status),
                response: Payload::Binary(Cow::Borrowed(payload)),
            }))
        }
        Some(KIND_BROADCAST) => {
            let ([topic, event], payload) = split(frame, [Field::Topic, Field::Event])?;
            Ok(ServerFrame::Message(Message {
                join_ref: None,
                msg_ref: None,
                topic: Cow::Borrowed(topic),
                event: Cow::Borrowed(event),
                payload: Payload::Binary(Cow::Borrowed(payload)),
            }))
        }
        Some(kind) => Err(DecodeError::UnknownBinaryKind { kind }),
    }
}

/// Decodes a v2 binary frame sent by a client (kind 0 with a ref), as a
/// server does.
///
/// # Errors
/// As [`decode_server_binary`]; kinds other than 0 are unknown in this direction.
pub fn decode_client_binary(frame: &[u8]) -> Result<Message<'_>, DecodeError> {
    match frame.first().copied() {
        None => Err(DecodeError::EmptyBinary),
        Some(KIND_PUSH) => {
            let ([join_ref, msg_ref, topic, event], payload) = split(
                frame,
                [Field::JoinRef, Field::Ref, Field::Topic, Field::Event],
            )?;
            Ok(Message {
                join_ref: optional(join_ref),
                msg_ref: optional(msg_ref),
                topic: Cow::Borrowed(topic),
                event: Cow::Borrowed(event),
                payload: Payload::Binary(Cow::Borrowed(payload)),
            })
        }
        Some(kind) => Err(DecodeError::UnknownBinaryKind { kind }),
    }
}

fn length(field: Field, value: &str) -> Result<u8, EncodeError> {
    u8::try_from(value.len()).map_err(|_| EncodeError::FieldTooLong {
        field,
        len: value.len(),
    })
}

/// Writes `kind`, the length bytes and the fields, then `payload`.
fn assemble<const N: usize>(
    kind: u8,
    fields: [(Field, &str); N],
    payload: &[u8],
) -> Result<Vec<u8>, EncodeError> {
    let mut lengths = [0u8; N];
    for (slot, (field, value)) in lengths.iter_mut().zip(fields) {
        *slot = length(field, value)?;
    }
    let size = 1 + N + fields.iter().map(|(_, v)| v.len()).sum::<usize>() + payload.len();
    let mut out = Vec::with_capacity(size);
    out.push(kind);
    out.extend_from_slice(&lengths);
    for (_, value) in fields {
        out.extend_from_slice(value.as_bytes());
    }
    out.extend_from_slice(payload);
    Ok(out)
}

fn binary_payload<'p>(payload: &'p Payload<'_>) -> Result<&'p [u8], EncodeError> {
    // A JSON payload cannot travel in a binary frame: the server would hand
    // the application bytes, not JSON.
    payload.as_bytes().ok_or(EncodeError::Json {
        message: "a binary frame needs a binary payload".to_owned(),
    })
}

/// Encodes a client push with a binary payload (kind 0 with a ref field).
///
/// # Errors
/// [`EncodeError::FieldTooLong`] when a field exceeds 255 bytes (never
/// truncated); [`EncodeError::Json`] when the payload is JSON, not bytes.
pub fn encode_client_binary(message: &Message<'_>) -> Result<Vec<u8>, EncodeError> {
    assemble(
        KIND_PUSH,
        [
            (Field::JoinRef, message.join_ref.as_deref().unwrap_or("")),
            (Field::Ref, message.msg_ref.as_deref().unwrap_or("")),
            (Field::Topic, &message.topic),
            (Field::Event, &message.event),
        ],
        binary_payload(&message.payload)?,
    )
}

/// Encodes a server frame with a binary payload: a push (kind 0, no ref
/// field) when it has a join_ref, a broadcast (kind 2) when it has none, or
/// a reply (kind 1).
///
/// # Errors
/// As [`encode_client_binary`].
pub fn encode_server_binary(frame: &ServerFrame<'_>) -> Result<Vec<u8>, EncodeError> {
    match frame {
        ServerFrame::Reply(r) => assemble(
            KIND_REPLY,
            [
                (Field::JoinRef, r.join_ref.as_deref().unwrap_or("")),
                (Field::Ref, r.msg_ref.as_deref().unwrap_or("")),
                (Field::Topic, &r.topic),
                (Field::Status, &r.status),
            ],
            binary_payload(&r.response)?,
        ),
        ServerFrame::Message(m) => match m.join_ref.as_deref() {
            Some(join_ref) => assemble(
                KIND_PUSH,
                [
                    (Field::JoinRef, join_ref),
                    (Field::Topic, &m.topic),
                    (Field::Event, &m.event),
                ],
                binary_payload(&m.payload)?,
            ),
            None => assemble(
                KIND_BROADCAST,
                [(Field::Topic, &m.topic), (Field::Event, &m.event)],
                binary_payload(&m.payload)?,
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn worked_example_from_the_protocol() {
        let push = Message {
            join_ref: Some("31".into()),
            msg_ref: Some("32".into()),
            topic: "room:bin".into(),
            event: "bin".into(),
            payload: Payload::binary([1u8, 2]),
        };
        let bytes = hex("00 02 02 08 03 33 31 33 32 72 6F 6F 6D 3A 62 69 6E 62 69 6E 01 02");
        assert_eq!(encode_client_binary(&push).unwrap(), bytes);
        assert_eq!(decode_client_binary(&bytes).unwrap(), push);

        let server_push =
            hex("00 02 08 08 33 31 72 6F 6F 6D 3A 62 69 6E 62 69 6E 5F 70 75 73 68 DE AD");
        let frame = decode_server_binary(&server_push).unwrap();
        assert_eq!(frame.join_ref(), Some("31"));
        assert_eq!(frame.msg_ref(), None);
        assert_eq!(frame.event(), "bin_push");
        assert_eq!(encode_server_binary(&frame).unwrap(), server_push);

        let reply = hex("01 02 02 08 02 33 31 33 32 72 6F 6F 6D 3A 62 69 6E 6F 6B 01 02 FF");
        let ServerFrame::Reply(r) = decode_server_binary(&reply).unwrap() else {
            panic!("not a reply")
        };
        assert_eq!(r.status, "ok");
        assert_eq!(r.response.as_bytes(), Some(&[1u8, 2, 0xff][..]));

        let bcast = hex("02 08 09 72 6F 6F 6D 3A 62 69 6E 62 69 6E 5F 62 63 61 73 74 01 02 03");
        let frame = decode_server_binary(&bcast).unwrap();
        assert_eq!(frame.join_ref(), None);
        assert_eq!(frame.event(), "bin_bcast");
        assert_eq!(encode_server_binary(&frame).unwrap(), bcast);
    }

    #[test]
    fn malformed_binary_gives_typed_errors() {
        assert_eq!(decode_server_binary(&[]), Err(DecodeError::EmptyBinary));
        assert_eq!(
            decode_server_binary(&[7, 0, 0]),
            Err(DecodeError::UnknownBinaryKind { kind: 7 })
        );
        assert_eq!(
            decode_server_binary(&[0, 5, 5, 5]),
            Err(DecodeError::TruncatedBinary {
                kind: 0,
                needed: 19,
                available: 4
            })
        );
        assert_eq!(
            decode_server_binary(&[1, 0]),
            Err(DecodeError::TruncatedBinary {
                kind: 1,
                needed: 5,
                available: 2
            })
        );
        assert_eq!(
            decode_server_binary(&[2, 1, 0, 0xff]),
            Err(DecodeError::InvalidUtf8 {
                field: Field::Topic
            })
        );
        assert_eq!(
            decode_client_binary(&[1, 0, 0, 0, 0]),
            Err(DecodeError::UnknownBinaryKind { kind: 1 })
        );
    }

    #[test]
    fn long_fields_are_refused_not_truncated() {
        let push = Message {
            join_ref: Some("1".into()),
            msg_ref: Some("2".into()),
            topic: "t".repeat(256).into(),
            event: "e".into(),
            payload: Payload::binary(vec![]),
        };
        assert_eq!(
            encode_client_binary(&push),
            Err(EncodeError::FieldTooLong {
                field: Field::Topic,
                len: 256
            })
        );
        let ok = Message {
            topic: "t".repeat(255).into(),
            ..push
        };
        assert_eq!(
            encode_client_binary(&ok).unwrap().len(),
            5 + 1 + 1 + 255 + 1
        );
    }
}
