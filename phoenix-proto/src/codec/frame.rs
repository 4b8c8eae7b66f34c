//! The typed values the codec turns wire messages into and back.

use std::borrow::Cow;
use std::cell::RefCell;

use serde::{Deserialize, Serialize};

use super::error::{DecodeError, EncodeError};
use super::raw_json::RawJson;

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
/// text the server sent (borrowed from the input where possible), checked
/// to be one JSON value, and turned into your own type only when you call
/// [`Payload::deserialize`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload<'a> {
    /// A JSON value, as raw text.
    Json(RawJson<'a>),
    /// Raw bytes (binary frames).
    Binary(Cow<'a, [u8]>),
}

impl Payload<'static> {
    /// The empty JSON object `{}`, the payload of joins without parameters,
    /// heartbeats and leaves.
    pub fn empty() -> Self {
        Payload::Json(RawJson::trusted(Cow::Borrowed("{}")))
    }

    /// Serializes `value` to JSON.
    ///
    /// # Errors
    /// [`EncodeError::Json`] when serde_json cannot serialize the value
    /// (for example a map with non-string keys).
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<Self, EncodeError> {
        // serde_json writes one JSON value with no whitespace around it.
        write_json(value)
            .map(|text| Payload::Json(RawJson::trusted(Cow::Owned(text))))
            .map_err(|e| EncodeError::Json {
                message: e.to_string(),
            })
    }

    /// Takes JSON text as it is, after checking that it is valid JSON
    /// (whitespace around the value is dropped).
    ///
    /// # Errors
    /// [`EncodeError::Json`] when the text is not one valid JSON value.
    pub fn raw_json(text: impl Into<String>) -> Result<Self, EncodeError> {
        RawJson::from_string(text.into())
            .map(Payload::Json)
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

    /// The same payload borrowing from this one (no copy).
    pub fn borrowed(&self) -> Payload<'_> {
        match self {
            Payload::Json(raw) => Payload::Json(raw.borrowed()),
            Payload::Binary(bytes) => Payload::Binary(Cow::Borrowed(bytes)),
        }
    }

    /// Copies borrowed data so the payload outlives its input.
    pub fn into_owned(self) -> Payload<'static> {
        match self {
            Payload::Json(raw) => Payload::Json(raw.into_owned()),
            Payload::Binary(bytes) => Payload::Binary(Cow::Owned(bytes.into_owned())),
        }
    }
}

thread_local! {
    /// Where [`Payload::json`] serializes before it copies the text into a
    /// `String` of exactly its length. Serializing into a fresh `String`
    /// starts at 128 bytes: shrinking that was a `realloc` per push, and
    /// keeping the spare room made glibc's allocator take its slow path
    /// (a callgrind run of the pipelined callback benchmark spent about 450
    /// more instructions per push, in `_int_malloc` and `malloc_consolidate`;
    /// BENCHMARKS.md item 22).
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The most a thread's scratch buffer keeps between calls.
const SCRATCH_KEPT: usize = 64 * 1024;

/// `value` as JSON text, in a `String` with no spare room.
fn write_json<T: Serialize + ?Sized>(value: &T) -> Result<String, serde_json::Error> {
    SCRATCH.with(|scratch| {
        // Busy when a `Serialize` impl itself calls `Payload::json`.
        let Ok(mut buf) = scratch.try_borrow_mut() else {
            return serde_json::to_string(value).map(|text| text.into_boxed_str().into_string());
        };
        buf.clear();
        let written = serde_json::to_writer(&mut *buf, value).map(|()| {
            // serde_json writes UTF-8; the check is the price of no
            // `unsafe`. `from_utf8` checks ASCII a word at a time, where
            // `from_utf8_lossy` went through it in chunks (about 170
            // instructions for a 16-byte payload; callgrind, BENCHMARKS.md
            // item 28).
            std::str::from_utf8(&buf).map_or_else(
                |_| String::from_utf8_lossy(&buf).into_owned(),
                str::to_owned,
            )
        });
        if buf.capacity() > SCRATCH_KEPT {
            *buf = Vec::new();
        }
        written
    })
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

/// The refs of a frame the socket sends, as the numbers it counts: the
/// socket writes them in decimal (`"12"`), and a [`Serializer`] can write
/// the digits straight into the frame
/// ([`Serializer::encode_counted`](super::Serializer::encode_counted)).
///
/// [`Serializer`]: super::Serializer
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WireRefs {
    /// The channel's join ref; `None` for the socket's own frames
    /// (heartbeats).
    pub join_ref: Option<u64>,
    /// The frame's own ref.
    pub msg_ref: u64,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Serializes by calling `Payload::json` itself, as a `Serialize` impl
    /// of a user's type might.
    struct Nested;

    impl Serialize for Nested {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let inner = Payload::json(&[1, 2]).map_err(serde::ser::Error::custom)?;
            s.serialize_str(inner.as_json().unwrap_or_default())
        }
    }

    #[test]
    fn json_payloads_are_serde_json_text() {
        let value = serde_json::json!({"a": [1, "two", null], "b": {"c": 1.5}});
        let payload = Payload::json(&value).unwrap();
        assert_eq!(
            payload.as_json().unwrap(),
            serde_json::to_string(&value).unwrap()
        );
        // A serializer that calls Payload::json inside gets its own buffer.
        let nested = Payload::json(&Nested).unwrap();
        assert_eq!(nested.as_json().unwrap(), r#""[1,2]""#);
        // A large value, then a small one: the scratch buffer is not kept
        // at the large size, and nothing of the large value leaks into the next.
        let big = "x".repeat(100_000);
        assert_eq!(
            Payload::json(&big).unwrap().as_json().unwrap().len(),
            100_002
        );
        assert_eq!(Payload::json(&7).unwrap().as_json().unwrap(), "7");
        assert!(SCRATCH.with(|s| s.borrow().capacity()) <= SCRATCH_KEPT);
        // Failures are errors, not panics.
        let bad: std::collections::HashMap<(u8, u8), u8> = [((1, 2), 3)].into();
        assert!(matches!(Payload::json(&bad), Err(EncodeError::Json { .. })));
        assert_eq!(Payload::json(&1).unwrap().as_json().unwrap(), "1");
    }

    #[test]
    fn raw_json_is_checked_and_trimmed() {
        assert_eq!(Payload::raw_json(" [1] ").unwrap().as_json(), Some("[1]"));
        assert!(matches!(
            Payload::raw_json("[1"),
            Err(EncodeError::Json { .. })
        ));
        assert_eq!(Payload::empty().as_json(), Some("{}"));
        let payload = Payload::raw_json("{\"k\":1}").unwrap();
        assert_eq!(payload.borrowed(), payload);
        assert_eq!(payload.clone().into_owned(), payload);
    }
}
