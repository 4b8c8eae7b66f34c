//! The v2 text format: JSON arrays `[join_ref, ref, topic, event, payload]`.
//!
//! Both directions are here: the client encodes [`Message`]s and decodes
//! [`ServerFrame`]s; a server (our test server, or a fuzz round trip) does
//! the opposite.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::error::{DecodeError, EncodeError, Field};
use super::frame::{Message, PHX_REPLY, Payload, Reply, ServerFrame};
use super::json::{
    json_kind, object_members, push_json_opt, push_json_str, ref_field, string_field,
};

/// The first five elements of a JSON array, borrowed; later ones are skipped.
struct Elements<'a> {
    items: [Option<&'a RawValue>; 5],
    count: usize,
}

impl<'de> Deserialize<'de> for Elements<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Elements<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON array")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut items = [None; 5];
                let mut count = 0;
                for slot in &mut items {
                    match seq.next_element::<&'de RawValue>()? {
                        Some(raw) => {
                            *slot = Some(raw);
                            count += 1;
                        }
                        None => return Ok(Elements { items, count }),
                    }
                }
                // Extra elements are allowed and ignored, as the server does.
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Elements { items, count })
            }
        }
        deserializer.deserialize_seq(V)
    }
}

/// The five fields of a v2 array, still raw.
struct RawFields<'a> {
    join_ref: &'a RawValue,
    msg_ref: &'a RawValue,
    topic: &'a RawValue,
    event: &'a RawValue,
    payload: &'a RawValue,
}

fn split_array(text: &str) -> Result<RawFields<'_>, DecodeError> {
    let kind = json_kind(text);
    if kind != "an array" {
        // Still report syntax errors as such: "[" is the only way in.
        return Err(match serde_json::from_str::<IgnoredAny>(text) {
            Err(e) => DecodeError::from_json(&e),
            Ok(_) => DecodeError::NotAnArray { found: kind },
        });
    }
    let elements: Elements<'_> =
        serde_json::from_str(text).map_err(|e| DecodeError::from_json(&e))?;
    match elements.items {
        [
            Some(join_ref),
            Some(msg_ref),
            Some(topic),
            Some(event),
            Some(payload),
        ] => Ok(RawFields {
            join_ref,
            msg_ref,
            topic,
            event,
            payload,
        }),
        _ => Err(DecodeError::TooFewElements {
            found: elements.count,
        }),
    }
}

fn decode_message_fields(fields: RawFields<'_>) -> Result<Message<'_>, DecodeError> {
    Ok(Message {
        join_ref: ref_field(fields.join_ref, Field::JoinRef)?,
        msg_ref: ref_field(fields.msg_ref, Field::Ref)?,
        topic: string_field(fields.topic, Field::Topic)?,
        event: string_field(fields.event, Field::Event)?,
        payload: Payload::Json(Cow::Borrowed(fields.payload)),
    })
}

/// Splits a reply payload into its status and raw response.
pub(crate) fn decode_reply_body(
    payload: &RawValue,
) -> Result<(Cow<'_, str>, Payload<'_>), DecodeError> {
    if json_kind(payload.get()) != "an object" {
        return Err(DecodeError::InvalidField {
            field: Field::Payload,
            expected: "an object with `status` and `response` (a reply)",
        });
    }
    // The payload is `{"status": .., "response": ..}` in any key order.
    let [status, response] = object_members(payload.get(), ["status", "response"])
        .map_err(|e| DecodeError::from_json(&e))?;
    let status = status.ok_or(DecodeError::MissingField {
        field: Field::Status,
    })?;
    let status = string_field(status, Field::Status)?;
    let response = response.ok_or(DecodeError::MissingField {
        field: Field::Response,
    })?;
    Ok((status, Payload::Json(Cow::Borrowed(response))))
}

/// Decodes a v2 text frame sent by a server.
///
/// # Errors
/// A [`DecodeError`] naming what is wrong: invalid JSON, not an array, fewer
/// than five elements, a field of the wrong type, or a `phx_reply` whose
/// payload lacks `status` or `response`.
pub fn decode_server_text(text: &str) -> Result<ServerFrame<'_>, DecodeError> {
    let message = decode_message_fields(split_array(text)?)?;
    if message.event != PHX_REPLY {
        return Ok(ServerFrame::Message(message));
    }
    let Payload::Json(Cow::Borrowed(raw)) = message.payload else {
        // decode_message_fields always borrows the payload.
        return Err(DecodeError::PayloadNotJson);
    };
    let (status, response) = decode_reply_body(raw)?;
    Ok(ServerFrame::Reply(Reply {
        join_ref: message.join_ref,
        msg_ref: message.msg_ref,
        topic: message.topic,
        status,
        response,
    }))
}

/// Decodes a v2 text frame sent by a client (what a server does).
///
/// # Errors
/// As [`decode_server_text`], except that `phx_reply` is not special.
pub fn decode_client_text(text: &str) -> Result<Message<'_>, DecodeError> {
    decode_message_fields(split_array(text)?)
}

fn json_payload<'p>(payload: &'p Payload<'_>) -> Result<&'p str, EncodeError> {
    payload.as_json().ok_or(EncodeError::BinaryNotSupported)
}

/// Encodes a message as a v2 text frame, exactly as the official client
/// writes it (no spaces; the payload's JSON text is copied as it is).
///
/// # Errors
/// [`EncodeError::BinaryNotSupported`] when the payload is binary (use
/// [`encode_client_binary`](super::encode_client_binary)).
pub fn encode_message_text(message: &Message<'_>) -> Result<String, EncodeError> {
    let payload = json_payload(&message.payload)?;
    let mut out =
        String::with_capacity(payload.len() + message.topic.len() + message.event.len() + 32);
    out.push('[');
    push_json_opt(&mut out, message.join_ref.as_deref());
    out.push(',');
    push_json_opt(&mut out, message.msg_ref.as_deref());
    out.push(',');
    push_json_str(&mut out, &message.topic);
    out.push(',');
    push_json_str(&mut out, &message.event);
    out.push(',');
    out.push_str(payload);
    out.push(']');
    Ok(out)
}

/// Encodes a reply as a v2 text frame, the way Phoenix's serializer prints
/// it (`{"response":..,"status":..}`).
///
/// # Errors
/// [`EncodeError::BinaryNotSupported`] when the response is binary.
pub fn encode_reply_text(reply: &Reply<'_>) -> Result<String, EncodeError> {
    let response = json_payload(&reply.response)?;
    let mut out = String::with_capacity(response.len() + reply.topic.len() + 64);
    out.push('[');
    push_json_opt(&mut out, reply.join_ref.as_deref());
    out.push(',');
    push_json_opt(&mut out, reply.msg_ref.as_deref());
    out.push(',');
    push_json_str(&mut out, &reply.topic);
    out.push_str(",\"phx_reply\",{\"response\":");
    out.push_str(response);
    out.push_str(",\"status\":");
    push_json_str(&mut out, &reply.status);
    out.push_str("}]");
    Ok(out)
}

/// Decodes `text` and discards the result; used where only validity matters.
#[cfg(test)]
fn is_valid_server_text(text: &str) -> bool {
    decode_server_text(text).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_a_reply_borrowing_everything() {
        let text = r#"["1","2","room:lobby","phx_reply",{"response":{"x":1},"status":"ok"}]"#;
        let ServerFrame::Reply(reply) = decode_server_text(text).unwrap() else {
            panic!("not a reply")
        };
        assert!(matches!(reply.join_ref, Some(Cow::Borrowed("1"))));
        assert!(matches!(reply.topic, Cow::Borrowed("room:lobby")));
        assert_eq!(reply.status, "ok");
        assert_eq!(reply.response.as_json(), Some(r#"{"x":1}"#));
    }

    #[test]
    fn reply_keys_in_any_order_and_any_status() {
        let text = r#"[null,"9","t","phx_reply",{"status":"pending","response":[1,"a"]}]"#;
        let ServerFrame::Reply(reply) = decode_server_text(text).unwrap() else {
            panic!("not a reply")
        };
        assert_eq!(reply.join_ref, None);
        assert_eq!(reply.status, "pending");
        assert_eq!(reply.response.as_json(), Some(r#"[1,"a"]"#));
    }

    #[test]
    fn escaped_strings_are_unescaped() {
        let text = r#"[null,null,"room:\"q\"","ev\u0041",{}]"#;
        let ServerFrame::Message(m) = decode_server_text(text).unwrap() else {
            panic!("not a message")
        };
        assert_eq!(m.topic, "room:\"q\"");
        assert_eq!(m.event, "evA");
    }

    #[test]
    fn extra_elements_are_ignored_and_integer_refs_accepted() {
        let text = r#"[1,2,"t","e",{"a":[1,2]},"extra",{"more":true}]"#;
        let ServerFrame::Message(m) = decode_server_text(text).unwrap() else {
            panic!("not a message")
        };
        assert_eq!(m.join_ref.as_deref(), Some("1"));
        assert_eq!(m.msg_ref.as_deref(), Some("2"));
        assert_eq!(m.payload.as_json(), Some(r#"{"a":[1,2]}"#));
    }

    #[test]
    fn malformed_inputs_give_typed_errors() {
        assert!(matches!(
            decode_server_text("this is not json"),
            Err(DecodeError::Json { .. })
        ));
        assert_eq!(
            decode_server_text(r#"{"topic":"x"}"#),
            Err(DecodeError::NotAnArray { found: "an object" })
        );
        assert_eq!(
            decode_server_text(r#"[null,"1","phoenix","heartbeat"]"#),
            Err(DecodeError::TooFewElements { found: 4 })
        );
        assert_eq!(
            decode_server_text(r#"[null,null,5,"e",{}]"#),
            Err(DecodeError::InvalidField {
                field: Field::Topic,
                expected: "a string"
            })
        );
        assert_eq!(
            decode_server_text(r#"[null,"1","t","phx_reply",{"response":{}}]"#),
            Err(DecodeError::MissingField {
                field: Field::Status
            })
        );
        assert!(matches!(
            decode_server_text(r#"[null,"1","t","phx_reply","ok"]"#),
            Err(DecodeError::InvalidField {
                field: Field::Payload,
                ..
            })
        ));
        assert!(matches!(
            decode_server_text(r#"["1","1","t","e",{}"#),
            Err(DecodeError::Json { .. })
        ));
        assert!(matches!(
            decode_server_text(r#"["1","1","t","e",{}] trailing"#),
            Err(DecodeError::Json { .. })
        ));
        assert!(!is_valid_server_text(""));
    }

    #[test]
    fn encodes_like_the_official_client() {
        let m = Message {
            join_ref: Some("1".into()),
            msg_ref: Some("1".into()),
            topic: "echo:1".into(),
            event: "phx_join".into(),
            payload: Payload::empty(),
        };
        assert_eq!(
            encode_message_text(&m).unwrap(),
            r#"["1","1","echo:1","phx_join",{}]"#
        );
        let hb = Message {
            join_ref: None,
            msg_ref: Some("13".into()),
            topic: "phoenix".into(),
            event: "heartbeat".into(),
            payload: Payload::empty(),
        };
        assert_eq!(
            encode_message_text(&hb).unwrap(),
            r#"[null,"13","phoenix","heartbeat",{}]"#
        );
    }

    #[test]
    fn reply_encoding_round_trips() {
        let reply = Reply {
            join_ref: Some("17".into()),
            msg_ref: Some("20".into()),
            topic: "room:lobby".into(),
            status: "ok".into(),
            response: Payload::empty(),
        };
        let text = encode_reply_text(&reply).unwrap();
        assert_eq!(
            text,
            r#"["17","20","room:lobby","phx_reply",{"response":{},"status":"ok"}]"#
        );
        assert_eq!(
            decode_server_text(&text).unwrap(),
            ServerFrame::Reply(reply)
        );
    }
}
