//! The typed values the codec turns wire messages into and back.

use std::borrow::Cow;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::error::{DecodeError, EncodeError};

/// The event name of replies.
pub const PHX_REPLY: &str = "phx_reply";
/// The event name of joins.
pub const PHX_JOIN: &str = "phx_join";
/// The event name of leaves.
pub const PHX_LEAVE: &str = "phx_leave";
/// The event the server sends when a channel stops normally.
pub const PHX_CLOSE: &str = "phx_close";
/// The event the server sends when a channel crashed.
pub const PHX_ERROR: &str = "phx_error";
/// The topic heartbeats go to.
pub const PHOENIX_TOPIC: &str = "phoenix";
/// The heartbeat event.
pub const HEARTBEAT: &str = "heartbeat";

/// The payload of a message: raw JSON text, or bytes.
///
/// Decoding never builds a JSON tree: a JSON payload is kept as the exact
/// text the server sent (borrowed from the input where possible), and turned
/// into your own type only when you call [`Payload::deserialize`].
#[derive(Debug, Clone)]
pub enum Payload<'a> {
    /// A JSON value, as raw text.
    Json(Cow<'a, RawValue>),
    /// Raw bytes (binary frames).
    Binary(Cow<'a, [u8]>),
}

impl PartialEq for Payload<'_> {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Payload::Json(a), Payload::Json(b)) => a.get() == b.get(),
            (Payload::Binary(a), Payload::Binary(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for Payload<'_> {}

impl Payload<'static> {
    /// The empty JSON object `{}`, the payload of joins without parameters,
    /// heartbeats and leaves.
    pub fn empty() -> Self {
        // One `{}` for the whole process: making it anew (a validation and
        // an allocation) showed up in profiles of sending pushes.
        static EMPTY: OnceLock<Box<RawValue>> = OnceLock::new();
        Payload::Json(Cow::Borrowed(EMPTY.get_or_init(empty_object)))
    }

    /// Serializes `value` to JSON.
    ///
    /// # Errors
    /// [`EncodeError::Json`] when serde_json cannot serialize the value
    /// (for example a map with non-string keys).
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<Self, EncodeError> {
        serde_json::value::to_raw_value(value)
            .map(|raw| Payload::Json(Cow::Owned(raw)))
            .map_err(|e| EncodeError::Json {
                message: e.to_string(),
            })
    }

    /// Takes JSON text as it is, after checking that it is valid JSON.
    ///
    /// # Errors
    /// [`EncodeError::Json`] when the text is not one valid JSON value.
    pub fn raw_json(text: impl Into<String>) -> Result<Self, EncodeError> {
        RawValue::from_string(text.into())
            .map(|raw| Payload::Json(Cow::Owned(raw)))
            .map_err(|e| EncodeError::Json {
                message: e.to_string(),
            })
    }

    /// Binary bytes.
    pub fn binary(bytes: impl Into<Vec<u8>>) -> Self {
        Payload::Binary(Cow::Owned(bytes.into()))
    }
}

impl<'a> Payload<'a> {
    /// The raw JSON text, if this is a JSON payload.
    pub fn as_json(&self) -> Option<&str> {
        match self {
            Payload::Json(raw) => Some(raw.get()),
            Payload::Binary(_) => None,
        }
    }

    /// The bytes, if this is a binary payload.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Payload::Json(_) => None,
            Payload::Binary(bytes) => Some(bytes),
        }
    }

    /// Whether this is a binary payload.
    pub fn is_binary(&self) -> bool {
        matches!(self, Payload::Binary(_))
    }

    /// Deserializes a JSON payload into `T`.
    ///
    /// # Errors
    /// [`DecodeError::PayloadNotJson`] for a binary payload,
    /// [`DecodeError::Deserialize`] when the JSON does not fit `T`.
    pub fn deserialize<'de, T: Deserialize<'de>>(&'de self) -> Result<T, DecodeError> {
        match self {
            Payload::Json(raw) => {
                serde_json::from_str(raw.get()).map_err(|e| DecodeError::Deserialize {
                    message: e.to_string(),
                })
            }
            Payload::Binary(_) => Err(DecodeError::PayloadNotJson),
        }
    }

    /// Copies borrowed data so the payload outlives its input.
    pub fn into_owned(self) -> Payload<'static> {
        match self {
            Payload::Json(raw) => Payload::Json(Cow::Owned(raw.into_owned())),
            Payload::Binary(bytes) => Payload::Binary(Cow::Owned(bytes.into_owned())),
        }
    }
}

pub(crate) fn empty_object() -> Box<RawValue> {
    // "{}" is valid JSON, so this conversion cannot fail; the fallback keeps
    // the function total anyway.
    RawValue::from_string("{}".to_owned()).unwrap_or_else(|_| RawValue::NULL.to_owned())
}

/// A message frame: what the client sends, and the pushes and broadcasts
/// the server sends. In v2 text form it is
/// `[join_ref, ref, topic, event, payload]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message<'a> {
    /// The join this message belongs to; `None` for heartbeats and broadcasts.
    pub join_ref: Option<Cow<'a, str>>,
    /// The message's own reference; `None` for server pushes and broadcasts.
    pub msg_ref: Option<Cow<'a, str>>,
    /// The topic.
    pub topic: Cow<'a, str>,
    /// The event name.
    pub event: Cow<'a, str>,
    /// The payload.
    pub payload: Payload<'a>,
}

impl Message<'_> {
    /// Copies borrowed data so the message outlives its input.
    pub fn into_owned(self) -> Message<'static> {
        Message {
            join_ref: self.join_ref.map(|s| Cow::Owned(s.into_owned())),
            msg_ref: self.msg_ref.map(|s| Cow::Owned(s.into_owned())),
            topic: Cow::Owned(self.topic.into_owned()),
            event: Cow::Owned(self.event.into_owned()),
            payload: self.payload.into_owned(),
        }
    }
}

/// A reply (`phx_reply`) to a message the client sent.
///
/// In text form its payload is `{"status": .., "response": ..}`; in binary
/// form (kind 1) the status is in the header and the response is bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply<'a> {
    /// The join the reply belongs to (`None` for heartbeat and
    /// "unmatched topic" replies).
    pub join_ref: Option<Cow<'a, str>>,
    /// The reference of the message this answers.
    pub msg_ref: Option<Cow<'a, str>>,
    /// The topic.
    pub topic: Cow<'a, str>,
    /// Any status string; usually `"ok"` or `"error"`.
    pub status: Cow<'a, str>,
    /// Any JSON value, or bytes for a binary reply.
    pub response: Payload<'a>,
}

impl Reply<'_> {
    /// Whether the status is `"ok"`.
    pub fn is_ok(&self) -> bool {
        self.status == "ok"
    }

    /// Copies borrowed data so the reply outlives its input.
    pub fn into_owned(self) -> Reply<'static> {
        Reply {
            join_ref: self.join_ref.map(|s| Cow::Owned(s.into_owned())),
            msg_ref: self.msg_ref.map(|s| Cow::Owned(s.into_owned())),
            topic: Cow::Owned(self.topic.into_owned()),
            status: Cow::Owned(self.status.into_owned()),
            response: self.response.into_owned(),
        }
    }
}

/// Anything a server sends: a reply, or a message (push, broadcast,
/// `phx_close`, `phx_error`, presence events).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerFrame<'a> {
    /// A `phx_reply`.
    Reply(Reply<'a>),
    /// Every other event.
    Message(Message<'a>),
}

impl<'a> ServerFrame<'a> {
    /// The frame's topic.
    pub fn topic(&self) -> &str {
        match self {
            ServerFrame::Reply(r) => &r.topic,
            ServerFrame::Message(m) => &m.topic,
        }
    }

    /// The frame's join reference.
    pub fn join_ref(&self) -> Option<&str> {
        match self {
            ServerFrame::Reply(r) => r.join_ref.as_deref(),
            ServerFrame::Message(m) => m.join_ref.as_deref(),
        }
    }

    /// The frame's message reference.
    pub fn msg_ref(&self) -> Option<&str> {
        match self {
            ServerFrame::Reply(r) => r.msg_ref.as_deref(),
            ServerFrame::Message(m) => m.msg_ref.as_deref(),
        }
    }

    /// The event name (`phx_reply` for replies).
    pub fn event(&self) -> &str {
        match self {
            ServerFrame::Reply(_) => PHX_REPLY,
            ServerFrame::Message(m) => &m.event,
        }
    }

    /// Copies borrowed data so the frame outlives its input.
    pub fn into_owned(self) -> ServerFrame<'static> {
        match self {
            ServerFrame::Reply(r) => ServerFrame::Reply(r.into_owned()),
            ServerFrame::Message(m) => ServerFrame::Message(m.into_owned()),
        }
    }
}

/// A whole WebSocket message the codec produced, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireMessage {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
}

impl WireMessage {
    /// Borrows the message.
    pub fn as_ref(&self) -> WireRef<'_> {
        match self {
            WireMessage::Text(t) => WireRef::Text(t),
            WireMessage::Binary(b) => WireRef::Binary(b),
        }
    }

    /// Its length in bytes.
    pub fn len(&self) -> usize {
        match self {
            WireMessage::Text(t) => t.len(),
            WireMessage::Binary(b) => b.len(),
        }
    }

    /// Whether it has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A whole WebSocket message that arrived, borrowed from the driver's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireRef<'a> {
    /// A text message.
    Text(&'a str),
    /// A binary message.
    Binary(&'a [u8]),
}
