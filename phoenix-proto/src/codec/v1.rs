//! The v1 object format (`vsn=1.0.0`), for servers older than Phoenix 1.4
//! or configured without the v2 serializer (phoenix-proto/PROTOCOL.md 3.3).
//!
//! Client to server: `{"topic","event","payload","ref"}` plus `"join_ref"`
//! when there is one. Server to client: `{"event","payload","ref","topic"}`,
//! never a join_ref. Text only.

use serde_json::value::RawValue;

use super::error::{DecodeError, EncodeError, Field};
use super::frame::{Message, PHX_REPLY, Payload, Reply, ServerFrame};
use super::json::{
    json_kind, object_members, push_json_opt, push_json_str, ref_field, string_field,
};
use super::raw_json::RawJson;
use super::text::decode_reply_body;

fn required(raw: Option<&RawValue>, field: Field) -> Result<&RawValue, DecodeError> {
    raw.ok_or(DecodeError::MissingField { field })
}

/// The message, and its payload as serde_json read it.
fn decode_object(text: &str) -> Result<(Message<'_>, &RawValue), DecodeError> {
    let kind = json_kind(text);
    if kind != "an object" {
        return Err(match serde_json::from_str::<serde::de::IgnoredAny>(text) {
            Err(e) => DecodeError::from_json(&e),
            Ok(_) => DecodeError::NotAnObject { found: kind },
        });
    }
    // `ref` must be present (null allowed), as the server requires.
    let [topic, event, payload, msg_ref, join_ref] =
        object_members(text, ["topic", "event", "payload", "ref", "join_ref"])
            .map_err(|e| DecodeError::from_json(&e))?;
    let join_ref = match join_ref {
        Some(raw) => ref_field(raw, Field::JoinRef)?,
        None => None,
    };
    let payload = required(payload, Field::Payload)?;
    let message = Message {
        join_ref,
        msg_ref: ref_field(required(msg_ref, Field::Ref)?, Field::Ref)?,
        topic: string_field(required(topic, Field::Topic)?, Field::Topic)?,
        event: string_field(required(event, Field::Event)?, Field::Event)?,
        payload: Payload::Json(RawJson::from(payload)),
    };
    Ok((message, payload))
}

/// Decodes a v1 object sent by a server.
///
/// # Errors
/// Invalid JSON, not an object, a missing or mistyped field, or a reply
/// without `status`/`response`.
pub fn decode_server_v1(text: &str) -> Result<ServerFrame<'_>, DecodeError> {
    let (message, raw) = decode_object(text)?;
    if message.event != PHX_REPLY {
        return Ok(ServerFrame::Message(message));
    }
    let (status, response) = decode_reply_body(raw.get())?;
    Ok(ServerFrame::Reply(Reply {
        join_ref: message.join_ref,
        msg_ref: message.msg_ref,
        topic: message.topic,
        status,
        response,
    }))
}

/// Decodes a v1 object sent by a client, as a server does.
///
/// # Errors
/// As [`decode_server_v1`].
pub fn decode_client_v1(text: &str) -> Result<Message<'_>, DecodeError> {
    decode_object(text).map(|(message, _)| message)
}

/// Encodes a client message as a v1 object.
///
/// # Errors
/// [`EncodeError::BinaryNotSupported`] for a binary payload.
pub fn encode_client_v1(message: &Message<'_>) -> Result<String, EncodeError> {
    let payload = message
        .payload
        .as_json()
        .ok_or(EncodeError::BinaryNotSupported)?;
    let mut out = String::with_capacity(payload.len() + message.topic.len() + 64);
    out.push_str("{\"topic\":");
    push_json_str(&mut out, &message.topic);
    out.push_str(",\"event\":");
    push_json_str(&mut out, &message.event);
    out.push_str(",\"payload\":");
    out.push_str(payload);
    out.push_str(",\"ref\":");
    push_json_opt(&mut out, message.msg_ref.as_deref());
    if let Some(join_ref) = message.join_ref.as_deref() {
        out.push_str(",\"join_ref\":");
        push_json_str(&mut out, join_ref);
    }
    out.push('}');
    Ok(out)
}

/// Encodes a server frame as a v1 object, as Phoenix prints it (keys in
/// alphabetical order, no join_ref).
///
/// # Errors
/// [`EncodeError::BinaryNotSupported`] for a binary payload.
pub fn encode_server_v1(frame: &ServerFrame<'_>) -> Result<String, EncodeError> {
    let mut out = String::with_capacity(128);
    out.push_str("{\"event\":");
    push_json_str(&mut out, frame.event());
    out.push_str(",\"payload\":");
    match frame {
        ServerFrame::Reply(r) => {
            let response = r
                .response
                .as_json()
                .ok_or(EncodeError::BinaryNotSupported)?;
            out.push_str("{\"response\":");
            out.push_str(response);
            out.push_str(",\"status\":");
            push_json_str(&mut out, &r.status);
            out.push('}');
        }
        ServerFrame::Message(m) => {
            out.push_str(m.payload.as_json().ok_or(EncodeError::BinaryNotSupported)?);
        }
    }
    out.push_str(",\"ref\":");
    push_json_opt(&mut out, frame.msg_ref());
    out.push_str(",\"topic\":");
    push_json_str(&mut out, frame.topic());
    out.push('}');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_round_trip_and_recorded_shapes() {
        let m = Message {
            join_ref: None,
            msg_ref: Some("1".into()),
            topic: "echo:1".into(),
            event: "phx_join".into(),
            payload: Payload::empty(),
        };
        let text = encode_client_v1(&m).unwrap();
        assert_eq!(
            text,
            r#"{"topic":"echo:1","event":"phx_join","payload":{},"ref":"1"}"#
        );
        assert_eq!(decode_client_v1(&text).unwrap(), m);

        let recorded = r#"{"event":"phx_reply","payload":{"response":{"joined":"echo:1"},"status":"ok"},"ref":"1","topic":"echo:1"}"#;
        let frame = decode_server_v1(recorded).unwrap();
        assert_eq!(encode_server_v1(&frame).unwrap(), recorded);
    }

    #[test]
    fn v1_errors_are_typed() {
        assert_eq!(
            decode_server_v1(r#"{"topic":"t","event":"e","payload":{}}"#),
            Err(DecodeError::MissingField { field: Field::Ref })
        );
        assert_eq!(
            decode_server_v1(r#"["t"]"#),
            Err(DecodeError::NotAnObject { found: "an array" })
        );
    }
}
