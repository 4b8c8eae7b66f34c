//! The [`Serializer`] abstraction: how messages become WebSocket messages.

use std::borrow::Cow;
use std::fmt;

use super::binary::{decode_server_binary, encode_client_binary};
use super::error::{DecodeError, EncodeError};
use super::frame::{Message, Payload, ServerFrame, WireMessage, WireRef, WireRefs};
use super::text::{decode_server_text, encode_counted_text, encode_message_text};
use super::v1::{decode_server_v1, encode_client_v1};

/// Turns client messages into WebSocket messages and server messages into
/// frames, as the original library's serializer behaviour did.
///
/// [`V2Serializer`] is the default; [`V1Serializer`] talks to servers that
/// only speak the old object format. Implement it yourself for a custom
/// server serializer (compressed JSON, say).
pub trait Serializer: fmt::Debug + Send + Sync + 'static {
    /// The `vsn` query parameter that selects this format on the server.
    fn vsn(&self) -> &str;

    /// Encodes a message the client sends.
    ///
    /// # Errors
    /// An [`EncodeError`] when the message cannot be expressed in this format.
    fn encode(&self, message: &Message<'_>) -> Result<WireMessage, EncodeError>;

    /// Encodes a message the socket sends with its own refs, given as
    /// numbers: every push, join, leave and heartbeat goes through here.
    /// The default writes the refs in decimal and calls
    /// [`encode`](Self::encode); [`V2Serializer`] writes the digits straight
    /// into the frame.
    ///
    /// # Errors
    /// An [`EncodeError`] when the message cannot be expressed in this format.
    fn encode_counted(
        &self,
        refs: WireRefs,
        topic: &str,
        event: &str,
        payload: &Payload<'_>,
    ) -> Result<WireMessage, EncodeError> {
        with_decimal_refs(refs, topic, event, payload, |message| self.encode(message))
    }

    /// Decodes a message the server sent.
    ///
    /// # Errors
    /// A [`DecodeError`] that says what is wrong with the input.
    fn decode<'a>(&self, wire: WireRef<'a>) -> Result<ServerFrame<'a>, DecodeError>;
}

/// Calls `encode` with the message `refs` (written in decimal on the
/// stack by `itoa`), `topic`, `event` and `payload` make.
fn with_decimal_refs<R>(
    refs: WireRefs,
    topic: &str,
    event: &str,
    payload: &Payload<'_>,
    encode: impl FnOnce(&Message<'_>) -> R,
) -> R {
    let (mut join_digits, mut msg_digits) = (itoa::Buffer::new(), itoa::Buffer::new());
    let join_ref = refs.join_ref.map(|n| join_digits.format(n));
    encode(&Message {
        join_ref: join_ref.map(Cow::Borrowed),
        msg_ref: Some(Cow::Borrowed(msg_digits.format(refs.msg_ref))),
        topic: Cow::Borrowed(topic),
        event: Cow::Borrowed(event),
        payload: payload.borrowed(),
    })
}

/// Protocol 2.0.0: JSON arrays for JSON payloads, binary frames for binary
/// payloads. The default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct V2Serializer;

impl Serializer for V2Serializer {
    fn vsn(&self) -> &str {
        "2.0.0"
    }

    fn encode(&self, message: &Message<'_>) -> Result<WireMessage, EncodeError> {
        if message.payload.is_binary() {
            encode_client_binary(message).map(WireMessage::Binary)
        } else {
            encode_message_text(message).map(WireMessage::Text)
        }
    }

    fn encode_counted(
        &self,
        refs: WireRefs,
        topic: &str,
        event: &str,
        payload: &Payload<'_>,
    ) -> Result<WireMessage, EncodeError> {
        if payload.is_binary() {
            with_decimal_refs(refs, topic, event, payload, encode_client_binary)
                .map(WireMessage::Binary)
        } else {
            encode_counted_text(refs, topic, event, payload).map(WireMessage::Text)
        }
    }

    fn decode<'a>(&self, wire: WireRef<'a>) -> Result<ServerFrame<'a>, DecodeError> {
        match wire {
            WireRef::Text(text) => decode_server_text(text),
            WireRef::Binary(bytes) => decode_server_binary(bytes),
        }
    }
}

/// Protocol 1.0.0: JSON objects, text only. Servers never send a join_ref
/// in this format, so stale frames cannot be told apart by join_ref.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct V1Serializer;

impl Serializer for V1Serializer {
    fn vsn(&self) -> &str {
        "1.0.0"
    }

    fn encode(&self, message: &Message<'_>) -> Result<WireMessage, EncodeError> {
        encode_client_v1(message).map(WireMessage::Text)
    }

    fn decode<'a>(&self, wire: WireRef<'a>) -> Result<ServerFrame<'a>, DecodeError> {
        match wire {
            WireRef::Text(text) => decode_server_v1(text),
            WireRef::Binary(_) => Err(DecodeError::BinaryNotSupported),
        }
    }
}
